/* sync_int.h - what the sync client's files share (sync_client.c: the
 * client, its requests and their answers; sync_push.c: batches and acks;
 * sync_pull.c: the change feed). Private to those three. */
#ifndef SIKHNAS_SYNC_INT_H
#define SIKHNAS_SYNC_INT_H

#include <cJSON.h>
#include <curl/curl.h>
#include <stdint.h>

#include "kinds.h"
#include "outbox.h"
#include "strbuf.h"
#include "sync_client.h"

#define ACK_MAX_BODY     (8u << 20)    /* a push answer, refusals included */
#define PULL_MAX_WIRE    (32u << 20)   /* a pull answer as sent */
#define PLAIN_MAX        (24u << 20)   /* a batch before compression */
#define PLAIN_BATCH      (1u << 20)    /* a batch's plain bytes, at most, but for one row over */
#define CURSOR_MAX       64
#define HEADER_VALUE_MAX 128
#define RAMP_ROWS        1000          /* rows in the first batch of a round */
#define BATCH_LINK_S     3             /* a batch is at most this long on a slow link */
#define AHEAD_MIN_RATE   (64u << 10)   /* bytes/s: slower, no batch is sent ahead */
#define RATIO_MIN_PLAIN  (64u << 10)   /* a batch this large (plain) measures the ratio */
#define RESIZE_MIN_PLAIN (16u << 10)   /* and one this large is built again at its own */
#define RESUME_MIN       (4u << 10)    /* a batch this large can be resumed within its body */
#define SYNC_TLS_RECORD  4096          /* TLS records sent: the hub keeps whole ones of a cut */
#define SYNC_TLS_RECORD_SLOW 2048      /* and on a slow link */
#define SYNC_NOTSENT_LOWAT 4096        /* a slow link: unsent bytes the kernel holds */
#define SYNC_SNDBUF_S    1.0           /* a slow link: the send buffer, seconds of it */
#define SYNC_STALL_S     90            /* a transfer with no progress this long has timed
                                        * out: beyond the hub's 75 s --stall-timeout, so
                                        * that a 30 s outage is ridden out by TCP and a
                                        * longer one ends at the hub, which keeps what
                                        * came of the batch */
#define SYNC_SOCKS       4             /* sockets of a client known at once */
#define RATE_STALL_MS    10000         /* a push that stalled this long measures no rate */
#define SYNC_SNDBUF_MIN  (4 << 10)     /* and at least this (the kernel doubles it) */

/* The record kinds (sync/kinds.h), by index. */
#define NKINDS_MAX 16
#define KIND(i) (&record_kinds[i])

enum phase { PH_PUSH, PH_PULL, PH_DONE, PH_RENEW, PH_HEALTH };

struct prow {                   /* one row of the batch being built */
    int tbl;
    int64_t seq;                /* the highest seq of its queued entries */
    size_t off, len;            /* its cells (",c1,c2...") in the table's buffer */
};

/* One request: set up by sync_client_next() or sync_client_next_ahead(), run
 * by the caller on its easy handle, answered in sync_client_done(). */
struct sync_req {
    enum phase phase;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    size_t body_len;
    int probe;                  /* push: an empty batch asking for the hub's acked_seq */
    int resumable;              /* push: sent with X-Sikhnas-Batch (batch_id) */
    int resume_query;           /* push: HEAD, what the hub holds of the cut batch */
    int resumed;                /* push: the rest of the cut batch (c->resume) */
    char batch_id[80];          /* "sha256=<hex>": the whole body's digest */
    int64_t base_seq;           /* push: the last_seq of the batch still in flight before it */
    int64_t last_seq;           /* push: the batch covers queued seq <= this */
    struct prow *rows;
    char (*row_ids)[UUID_STR_LEN];
    int nrows;
    size_t plain_len;
    long long ul_max;           /* the most body bytes libcurl reported sent (a failed
                                   transfer may report none at its end) */
    uint64_t ul_at_ms;          /* when ul_max last grew (CLOCK_BOOTTIME ms, 0: not yet) */
    uint64_t ul_stall_ms;       /* the longest wait between two such growths */
    struct sync_client *client; /* whose request it is (sync_on_prereq) */
    curl_socket_t sock;         /* its connection's socket, once the request began */
    long long sent0;            /* the bytes that socket had put on the link then, or -1 */
    struct strbuf resp;
    char hdr_hlc[HEADER_VALUE_MAX], hdr_enc[HEADER_VALUE_MAX];
    char hdr_accept[HEADER_VALUE_MAX], hdr_retry[HEADER_VALUE_MAX];
    char hdr_resume[HEADER_VALUE_MAX], hdr_range[HEADER_VALUE_MAX];
    char errbuf[CURL_ERROR_SIZE];
};

/* A push batch cut on the wire, kept to be resumed within its body
 * (sync_resume.c, docs/protocol.md "Resuming within a batch"). */
struct sync_resume {
    char *body;                 /* the whole batch as first sent; NULL: none held */
    size_t body_len;
    struct curl_slist *headers; /* its headers as first sent */
    char batch_id[80];
    int64_t last_seq, base_seq;
    int nrows;
    size_t from;                /* the cut attempt sent the body from this byte */
    long long sent;             /* and handed this many bytes of it to the link */
    size_t held;                /* the hub holds the first held bytes (its HEAD answer) */
    int asked;                  /* that answer came */
    long long lost;             /* bytes the cut attempt added to bytes_lost */
};

struct sync_client {
    struct store *store;
    char *url_push, *url_pull;
    char *ca_file;
    char *cert_file, *key_file, *url_renew;
    char *hub_url;              /* as given: the TLS session's binding */
    char *tls_file;             /* the TLS session kept between rounds (sync_tls.c), or NULL */
    struct ssl_session_st *tls_sess;    /* the one read from it, offered at each handshake */
    int cert_state;             /* nodecert_due() at the start of the round */
    unsigned timeout_s, max_rows, budget;
    unsigned ramp;              /* row cap of the round's next batch: doubles per batch */
    double ratio;               /* plain / wire of the last batch */
    int use_gzip;               /* the hub would not take zstd */
    int use_dict;               /* the hub reads the batch dictionary (BATCH_DICT_TOKEN) */
    int use_columnar;           /* the columnar version the hub reads (BATCH_COLUMNAR_TOKEN: 1,
                                 * BATCH_COLUMNAR2_TOKEN: 2), 0: JSON */
    int resume_ok;              /* the hub keeps cut batches (X-Sikhnas-Resume: 1) */
    struct sync_resume resume;
    int64_t unanswered_seq;     /* a batch the hub had whole (its answer lost): the probe */
    long long unanswered_bytes; /* finds it applied, and its bytes were not lost */
    enum phase phase;
    int refdata_changed;
    int64_t sent_seq;           /* meta sync.sent_seq: the highest last_seq ever sent */
    int64_t round_seq;          /* the round pushes what was queued when it began */
    int lock_fd;                /* DB-sync, or -1 */
    int probed;                 /* the hub's acked_seq was asked for since the last failure */
    char *url_health;           /* sync_health.c: POST /v1/node-health once a round */
    int health_sent;
    sqlite3_stmt *select[NKINDS_MAX];  /* current row by id, synced tables */

    /* requests in flight: req[head] is the oldest, nreq of them (at most 2,
     * the second only a push following the first) */
    struct sync_req req[2];
    int head, nreq;
    struct sync_req *q;         /* the one being built or answered */

    /* building a batch: each freed once the next step has read it
     * (push_prepare()), so that the rows, the batch, its columnar form and
     * zstd's context are not all held at once (issue 13, the uplink
     * program's peak); with the heap of heap.h a freed buffer goes back
     * to the kernel and the next batch's comes fresh */
    struct strbuf tb[NKINDS_MAX];     /* each table's rows */
    struct strbuf plain;           /* the batch before compression */

    uint64_t daily_budget;      /* link bytes a day (0: no limit) */
    int64_t seq_cap;            /* push_prepare: entries up to this seq */
    int over_budget;            /* the day's link budget is used up */
    double link_rate;           /* bytes/s the link carried (meta link.rate), 0: unknown */
    uint64_t round_ms;          /* when the round began (CLOCK_BOOTTIME ms) */
    long long round_bytes;      /* bytes up and down since */
    int rate_measured;          /* a push of this round measured link_rate */
    int rate_stored;            /* link_rate came from meta link.rate (a push measured it) */
    curl_socket_t socks[SYNC_SOCKS];   /* its open sockets (sync_on_sockopt) */
    curl_socket_t closed_fd;    /* the socket closed last (sync_on_close) */
    long long closed_sent;      /* and the bytes it had put on the link, or -1 */
    uint64_t push_start_ms;     /* the round's first push request began (0: none yet) */
    long long push_ms_before;   /* stats.push_ms of the rounds before this one */
    char tcp_cc[16];            /* TCP_CONGESTION to ask for, "": none */
    unsigned retry_after;
    char error[512];
    struct sync_stats stats;
};


/* Sets c's error message; returns r. */
int set_error(struct sync_client *c, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends a request header to the request being built (c->q). 0 or -ENOMEM. */
int add_header(struct sync_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The headers every request carries: node, district, HLC, JSON, no 100-continue. */
int identity_headers(struct sync_client *c, uint64_t hlc);
/* Ends building a JSON request in b: when r is 0, b's text becomes the
 * body of the request being built (c->q owns it now) and this returns 1 (a
 * request is ready); otherwise b is freed and r returned. */
int set_body(struct sync_client *c, struct strbuf *b, int r);

/* Numbers of the protocol: a decimal string; an HLC cell (a string of
 * digits or an integer below 2^53); an integer below 2^53. 0 or -EINVAL. */
int parse_u64(const char *s, uint64_t *ret);
int json_hlc(const cJSON *j, uint64_t *ret);
int json_int(const cJSON *j, int64_t *ret);
/* Merges the hub's clock from an answer (body or header) into the store's,
 * and corrects records saved with a wrong clock (node/clock.h); inside the
 * answer's write transaction. */
void observe_hub_clock(struct sync_client *c, const cJSON *doc);

/* sync_push.c: 1 when a batch (or a probe) is built in c->q, 0 when none is
 * needed, or -errno; the ack of c->q applied in one transaction. */
int  probe_prepare(struct sync_client *c);
int  push_prepare(struct sync_client *c);
/* The last seq of the priority entries at the head of the never-sent queue
 * (after promotion), 0 when none, or -errno. */
int64_t push_priority_head(struct sync_client *c);
int  sent_seq_mark(struct sync_client *c, int64_t last_seq);
int  push_apply(struct sync_client *c);
void push_buffers_free(struct sync_client *c);

/* sync_resume.c: a push cut by a transport failure (c->q, sent bytes of its
 * body handed to the link, lost of them counted in bytes_lost) kept to be
 * resumed; what was held dropped. */
void resume_keep(struct sync_client *c, long long sent, long long lost);
/* An answer's X-Sikhnas-Resume (value: "" when absent): whether the hub
 * keeps cut batches, remembered in meta sync.hub_resume for the next run. */
void resume_hub_says(struct sync_client *c, const char *value);
void resume_drop(struct sync_client *c);
/* With a cut batch held: 1 when c->q is its next request (a HEAD asking
 * what the hub holds, or the rest of the body), 0 when there is none (the
 * hub had it all: dropped), or -errno. resume_easy() then sets what
 * setup_easy() does not (HEAD, or the body from the held offset). */
int  resume_prepare(struct sync_client *c);
void resume_easy(struct sync_client *c, CURL *easy);
/* The HEAD's answer (status): records what the hub holds. Returns 0. */
int  resume_answered(struct sync_client *c, long status);

/* sync_socket.c: libcurl's callbacks for the sockets of c (SOCKOPT, CLOSESOCKET:
 * arg is c) and for a request beginning on its connection (PREREQ: arg is the
 * request); the bytes c->q, run on easy, put on the link once (TLS records
 * included; -1 when the kernel does not say). */
int  sync_on_sockopt(void *arg, curl_socket_t fd, curlsocktype purpose);
int  sync_on_close(void *arg, curl_socket_t fd);
int  sync_on_prereq(void *arg, char *ip, char *local_ip, int port, int local_port);
long long sync_req_wire(struct sync_client *c, CURL *easy);

/* sync_health.c: the health block of the round in c->q (1, or -errno); its
 * answer, which never fails the round (0). */
int  health_prepare(struct sync_client *c);
int  health_done(struct sync_client *c, CURLcode res, long status);

/* sync_tls.c: the TLS session of c kept between rounds, in libcurl's OpenSSL
 * context ctx before a handshake (a no-op without c->tls_file); freed. */
struct ssl_ctx_st;
void sync_tls_session(struct sync_client *c, struct ssl_ctx_st *ctx);
void sync_tls_free(struct sync_client *c);

/* sync_pull.c: the pull request in c->q (returns 1), and its answer applied. */
int pull_prepare(struct sync_client *c);
int pull_apply(struct sync_client *c);

#endif
