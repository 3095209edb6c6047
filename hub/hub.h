/* hub.h - the sikhnas-hub server: what its request handlers share. */
#ifndef SIKHNAS_HUB_H
#define SIKHNAS_HUB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <uv.h>

#include "hlc.h"
#include "hub_audit.h"
#include "http_server.h"
#include "strbuf.h"
#include "hub_db.h"
#include "hub_identity.h"
#include "hub_metrics.h"

/* The HTTPS front (common/http_server.h) as the hub configures it: the
 * limits of docs/protocol.md section 7. */
#define HUB_MAX_CONNS          2048
#define HUB_MAX_CONNS_PER_ADDR 64           /* default of --max-conns-per-addr */
#define HUB_HANDSHAKE_MS       5000         /* default of --handshake-timeout */
#define HUB_IDLE_MS            30000        /* default of --idle-timeout */
#define HUB_RETURN_MS          5000         /* after Retry-After and its jitter */
#define HUB_HEAD_MS            30000        /* request line and headers, from the first byte */
#define HUB_MIN_BODY_RATE      1024         /* then the body, bytes/s on average */
#define HUB_STALL_MS           75000        /* default of --stall-timeout: a node's request
                                             * may stall this long (a 2G outage of 30 s,
                                             * and TCP's backed-off retransmission after
                                             * it), and its connection idle */
#define HUB_HEAD_MAX           (8u << 10)   /* URL + header names and values */
#define HUB_URL_MAX            1023
#define HUB_HEADERS_MAX        64
#define HUB_BODY_MAX           (4u << 20)
#define HUB_DISCARD_MAX        (64u << 20)  /* an oversize body up to this is read, then 413 */
#define HUB_BODIES_MIB         256          /* request bodies held at once, MiB */
#define HUB_BODIES_MAX         ((size_t)HUB_BODIES_MIB << 20)
#define HUB_ADMIT_MIB          16           /* admitted batches' inflated bytes at once, MiB */
#define HUB_JOB_STATS_S        15           /* the job queue read for /metrics every N s */

/* The request headers the hub reads, and the room for each value (bytes,
 * with the NUL): hub_identity_check() refuses a longer one with 400. */
#define HUB_HDR_NODE            64      /* X-Sikhnas-Node */
#define HUB_HDR_DISTRICT        16      /* X-Sikhnas-District */
#define HUB_HDR_HLC             32      /* X-Sikhnas-HLC */
#define HUB_HDR_ENCODING        32      /* Content-Encoding */
#define HUB_HDR_DIGEST          96      /* X-Sikhnas-Digest */
#define HUB_HDR_ACCEPT_ENCODING 128     /* Accept-Encoding */

struct hub_opts {
    const char *conninfo;
    const char *host;
    int         port;
    const char *cert_file;
    const char *key_file;
    const char *client_ca;        /* the CA that signs node certificates */
    const char *ca_key;           /* its key */
    unsigned    cert_lifetime_s;  /* of the node certificates it signs */
    double      enroll_per_min;   /* enrolment attempts per client address */
    int         pg_conns;
    int         max_conns_per_addr; /* 0: HUB_MAX_CONNS_PER_ADDR */
    unsigned    handshake_ms;       /* 0: HUB_HANDSHAKE_MS */
    unsigned    idle_ms;            /* 0: HUB_IDLE_MS */
    unsigned    stall_ms;           /* 0: HUB_STALL_MS */
    int         admit;              /* push batches decoded/applied at once (hub_admit.h) */
    int         admit_queue;        /* more that may wait for that; -1: not given */
    int         admit_mib;          /* their inflated bytes at once, MiB; -1: not given, 0: no bound */
    int         body_mib;           /* request bodies held at once, MiB; 0: HUB_BODIES_MAX */
    int         resume;             /* --resume: keep cut batches for a resume (0: as an
                                     * older hub, which neither keeps nor advertises it) */
    int         job_stats_s;        /* read the job queue for /metrics every N s (0: never) */
};

struct hub_ca;
struct enrol_limits;
struct hub_ledger;
struct hub_admit;
struct refcache;
struct hub_resume;
struct hub_jobstats;

struct hub {
    uv_loop_t          *loop;
    struct hlc          clock;
    struct db_pool     *db;
    struct http_server *http;
    struct hub_metrics *metrics;
    struct hub_ca      *ca;
    struct enrol_limits *limits;
    unsigned            cert_lifetime_s;
    uv_signal_t         sig_term, sig_int;
    uv_timer_t          force_timer;
    int                 stopping;
    LIST_HEAD(, push_job) pushes;      /* hub_push.c: batches being handled, newest first */
    struct hub_ledger  *ledger;        /* hub_ledger.c */
    struct hub_admit   *admit;         /* hub_admit.c: which push batches go now */
    struct refcache    *refcache;      /* hub_refcache.c: the code lists and areas */
    struct audit_limiter audit;        /* hub_audit.c: for hub_audit_limited() */
    struct hub_resume  *resume;        /* hub_resume.c: prefixes of cut batches; NULL: off */
    struct hub_jobstats *jobstats;     /* hub_jobstats.c: the job queue's gauges; NULL: off */
};

/* Runs the server until SIGTERM/SIGINT and a graceful drain. Returns 0 or -errno. */
int hub_run(const struct hub_opts *o);


/* `"hub_hlc":"…","hub_time_ms":…` for a JSON body. */
void hub_stamp(struct hub *h, struct strbuf *s);
/* Copies the value of request header name into out (cap bytes): "" when
 * it is absent. Returns 0, or -E2BIG (out "") when it does not fit. */
int hub_header(const struct http_req *req, const char *name, char *out, size_t cap);
/* Sends a JSON (or other) answer with the hub's headers. encoding: NULL or
 * the Content-Encoding of body. endpoint names the metrics label. */
void hub_reply(struct hub *h, const struct http_req *req, const char *endpoint, int status,
               const char *ctype, const char *encoding, const char *body, size_t len);
void hub_error(struct hub *h, const struct http_req *req, const char *endpoint, int status,
               const char *code, const char *message);
/* hub_error() with a Retry-After header of retry_s seconds (0: as hub_error) */
void hub_error_retry(struct hub *h, const struct http_req *req, const char *endpoint,
                     int status, const char *code, const char *message, unsigned retry_s);

/* A job's memory of size bytes, zeroed; NULL after answering 503 when
 * there is none. */
void *hub_job_new(struct hub *h, const struct http_req *req, const char *endpoint, size_t size);

/* How a job that failed inside its transaction is answered, once ROLLBACK
 * has ended: answer(job, status, code, msg), with what hub_rollback() got. */
struct hub_failure {
    void      (*answer)(void *job, int status, const char *code, const char *msg);
    void       *job;
    int         status;
    const char *code;
    char        msg[200];
};
/* Sends ROLLBACK on c and then calls f->answer; at once when ROLLBACK
 * cannot be sent. msg is copied (cut to fit). */
void hub_rollback(struct db_conn *c, struct hub_failure *f, int status, const char *code,
                  const char *msg);

void hub_push(struct hub *h, const struct http_req *req, const struct hub_identity *id);
void hub_pull(struct hub *h, const struct http_req *req, const struct hub_identity *id);
void hub_renew(struct hub *h, const struct http_req *req, const struct hub_identity *id);
void hub_enroll(struct hub *h, const struct http_req *req);

/* The push ledger (hub_ledger.c). ledger_start() sets h->ledger and starts
 * pruning push_batch (rows older than 30 days, hourly); returns 0 or
 * -ENOMEM. ledger_verify() finds out, later and on another connection,
 * whether the attempt of node (of district) whose COMMIT answer was lost
 * committed, and
 * then counts its rows in the metrics (duplicate: its rows at or below the
 * mark). ledger_stop() ends pruning and the checks waiting for their next
 * try (the hub is stopping); ledger_free() after the loop has ended. */
int  ledger_start(struct hub *h);
void ledger_verify(struct hub *h, const char *node, const char *district, uint64_t attempt,
                   int duplicate);
void ledger_stop(struct hub *h);
void ledger_free(struct hub_ledger *l);

/* The enrolment rate limiter (hub_enroll.c). */
int  enrol_limits_new(double per_min, struct enrol_limits **ret);
void enrol_limits_free(struct enrol_limits *l);

#endif
