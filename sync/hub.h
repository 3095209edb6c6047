/* hub.h - the sikhnas-hub server: what its request handlers share. */
#ifndef SIKHNAS_HUB_H
#define SIKHNAS_HUB_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "hlc.h"
#include "hstr.h"
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
};

/* Runs the server until SIGTERM/SIGINT and a graceful drain. Returns 0 or -errno. */
int hub_run(const struct hub_opts *o);


/* `"hub_hlc":"…","hub_time_ms":…` for a JSON body. */
void hub_stamp(struct hub *h, struct hstr *s);
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

/* The enrolment rate limiter (hub_enroll.c). */
int  enrol_limits_new(double per_min, struct enrol_limits **ret);
void enrol_limits_free(struct enrol_limits *l);

#endif
