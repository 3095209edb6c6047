/* hub.h - the sikhnas-hub server: what its request handlers share. */
#ifndef SIKHNAS_HUB_H
#define SIKHNAS_HUB_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "hlc.h"
#include "strbuf.h"
#include "hub_db.h"
#include "hub_http.h"
#include "hub_identity.h"
#include "hub_metrics.h"

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
    int         max_conns_per_addr; /* 0: HTTP_MAX_CONNS_PER_ADDR */
    unsigned    handshake_ms;       /* 0: HTTP_HANDSHAKE_MS */
};

struct hub_ca;
struct enrol_limits;
struct hub_ledger;
struct audit_limiter;

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
    struct push_job    *pushes;        /* hub_push.c: batches being handled, newest first */
    struct hub_ledger  *ledger;        /* hub_ledger.c */
    struct audit_limiter *audit;       /* hub_audit.c: for hub_audit_limited() */
};

/* Runs the server until SIGTERM/SIGINT and a graceful drain. Returns 0 or -errno. */
int hub_run(const struct hub_opts *o);


/* `"hub_hlc":"…","hub_time_ms":…` for a JSON body. */
void hub_stamp(struct hub *h, struct strbuf *s);
/* Sends a JSON (or other) answer with the hub's headers. encoding: NULL or
 * the Content-Encoding of body. endpoint names the metrics label. */
void hub_reply(struct hub *h, struct http_req *req, const char *endpoint, int status,
               const char *ctype, const char *encoding, const char *body, size_t len);
void hub_error(struct hub *h, struct http_req *req, const char *endpoint, int status,
               const char *code, const char *message);

void hub_push(struct hub *h, struct http_req *req, const struct hub_identity *id);
void hub_pull(struct hub *h, struct http_req *req, const struct hub_identity *id);
void hub_renew(struct hub *h, struct http_req *req, const struct hub_identity *id);
void hub_enroll(struct hub *h, struct http_req *req);

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
