/* http_int.h - what the HTTP server's files share (http_server.c: sockets,
 * connection caps, timers and answers; http_request.c: parsing requests and
 * refusing bad ones; http_tls.c: the mbedTLS transport and the reports of
 * failed handshakes). Not for other modules: they use http_server.h. */
#ifndef SIKHNAS_HTTP_INT_H
#define SIKHNAS_HTTP_INT_H

#include <sys/queue.h>

#include <http_parser.h>
#include <mbedtls/ssl.h>

#include "http_server.h"

#define HTTP_ADDR_BUCKETS 1024          /* the per-address table (a power of two) */
#define HTTP_ADDR_MAX     16384         /* addresses tracked at once */
#define HTTP_NOTICE_MS    60000         /* refusals and TLS failures: one line a minute */

/* What the server knows of one client address: the connections it holds,
 * when their cap was last logged, and the rate limit of its TLS failure
 * reports. An entry lives while the address has connections or a report
 * or notice is less than a minute old (http_addr_put). */
struct http_addr {
    struct http_addr *next;
    unsigned          conns;
    unsigned          refused;          /* connections refused since the last notice */
    int               noticed;          /* the cap was logged at noticed_at */
    uint64_t          noticed_at;       /* uv_now() */
    int               reported;         /* tls_fail ran at reported_at */
    uint64_t          reported_at;
    unsigned          suppressed;       /* failures since, not reported */
    char              addr[48];
};

struct http_tls;

struct http_server {
    uv_loop_t          *loop;
    struct http_config  cfg;            /* with the defaults filled in */
    uv_tcp_t            listener;
    int                 listening;      /* the listener handle is open */
    int                 port;
    struct http_tls    *tls;            /* NULL: plain HTTP */
    uv_timer_t          sweep;          /* TLS: reports suppressed failures once a minute */
    int                 sweeping;
    struct http_addr   *addrs[HTTP_ADDR_BUCKETS];
    unsigned            naddrs;
    int                 table_full_logged;
    unsigned            admitted;       /* connections counted in the table */
    unsigned            refused;        /* refused for the total cap since the last notice */
    int                 noticed;
    uint64_t            noticed_at;
    unsigned            nconns;         /* allocated, not yet freed */
    unsigned            busy;
    size_t              body_bytes;     /* held by all connections; capped by bodies_max */
    LIST_HEAD(, http_conn) conns;       /* every connection, for draining */
    int                 draining;
    void              (*drained)(void *);
    void               *drained_ud;
};

struct http_conn {
    struct http_server *srv;
    struct http_addr   *ent;            /* counts this connection, or NULL */
    LIST_ENTRY(http_conn) link;         /* srv->conns */
    uv_tcp_t            tcp;
    uv_timer_t          timer;
    int                 refs;           /* open handles, the busy request, holders */
    int                 closing;        /* uv_close() was called */
    int                 want_close;     /* close once the writes are out */
    int                 writes;         /* uv_write requests in flight */
    int                 reading;
    int                 processing;     /* inside conn_process(): it goes on by itself */
    int                 busy;           /* a request is with the handler or error hook */
    int                 handshaken;     /* TLS done, or plain HTTP */
    unsigned            keep_ms;        /* the idle wait after the next answer
                                         * (http_conn_keep_for); 0: idle_ms */
    mbedtls_ssl_context *ssl;           /* TLS only */
    char               *in;             /* bytes from the socket (ciphertext with TLS) */
    size_t              in_len, in_off, in_cap;
    char               *out;            /* bytes for the socket */
    size_t              out_len, out_cap;
    http_parser         parser;
    char               *pending;        /* parsed-ahead plaintext after a request */
    size_t              pending_len;
    /* the request being read */
    int                 in_request;     /* its first byte has come */
    uint64_t            deadline;       /* uv_now() by which it must be complete */
    unsigned            silence_ms;     /* the longest silence it may have: request_ms,
                                         * or stall_ms for a verified client */
    char               *head;           /* URL '\0' name '\0' value '\0' ... */
    size_t              head_len, head_cap;
    size_t              head_bytes;     /* URL, names and values: capped by head_max */
    size_t              url_end;
    unsigned            n_hdr;
    struct { unsigned name, value; } *hdr;
    int                 in_value;       /* the last header callback was a value */
    char               *body;
    size_t              body_len, body_cap;   /* body_cap is counted in body_bytes */
    int                 msg_done;
    int                 discard;        /* dropping an oversize body before the 413 */
    int                 partial_given;  /* the partial hook has seen this request */
    int                 err_status;     /* a refusal found while parsing */
    const char         *err_code, *err_msg;
    char                err_buf[96];
    struct http_req     req;
    char                peer[48];
    /* a streamed answer (http_stream_start): busy until http_stream_end */
    int                 streaming;
    void              (*written)(void *);   /* called when the writes in flight are out */
    void               *written_ud;
};

/* http_server.c */
/* Closes c's handles (once); its memory goes with the last reference. */
void http_conn_close(struct http_conn *c);
/* (Re)starts c's one timer: ms from now; stops reading from c. */
void http_timer_arm(struct http_conn *c, uint64_t ms);
void http_read_stop(struct http_conn *c);
/* Appends bytes for the socket to c->out (the BIO of http_tls.c). */
int  http_out_append(struct http_conn *c, const void *data, size_t len);
/* Frees e when nothing needs it any more (now: uv_now()). */
void http_addr_put(struct http_server *s, struct http_addr *e, uint64_t now);

/* http_request.c */
/* Forgets the request read or answered last (its body is freed). */
void http_request_reset(struct http_conn *c);
/* Feeds plaintext to the parser: a complete request goes to the handler, a
 * bad one to http_fail(); what follows a complete request waits in
 * c->pending. */
void http_feed(struct http_conn *c, const char *data, size_t len);
/* Answers a request this layer refuses, through the error hook (or as
 * plain text), and closes the connection after the answer. */
void http_fail(struct http_conn *c, int status, const char *code, const char *msg);
/* Gives the body of a request cut in the middle to the partial hook (once;
 * nothing when there is no hook, no body or the request is complete). */
void http_request_partial(struct http_conn *c);

/* http_tls.c: every function is called only when s->tls is set. */
/* Loads the certificate, key and client CA and configures mbedTLS. */
int  http_tls_new(const struct http_config *cfg, struct http_tls **ret);
void http_tls_free(struct http_tls *t);
/* Starts the once-a-minute report of suppressed handshake failures. */
void http_tls_sweep_start(struct http_server *s);
/* Makes c's TLS context. Returns 0 or -ENOMEM. */
int  http_tls_conn_start(struct http_conn *c);
void http_tls_conn_free(struct http_conn *c);
/* Goes on with the handshake: 1 done, 0 waiting for bytes, -1 failed (the
 * failure is reported; the caller closes c). */
int  http_tls_handshake(struct http_conn *c);
/* Plaintext into buf: > 0 bytes, 0 waiting for bytes, -1 the stream ended. */
int  http_tls_read(struct http_conn *c, char *buf, size_t cap);
/* Encrypts data into c->out. Returns 0 or -1. */
int  http_tls_write(struct http_conn *c, const void *data, size_t len);

#endif
