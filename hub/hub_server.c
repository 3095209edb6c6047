/* hub_server.c - sikhnas-hub run: the loop, routing, common answer headers,
 * the hub's clock, and the graceful stop (SIGTERM: stop accepting, finish the
 * batches in flight, close idle connections, then the database pool). */
#include "hub.h"
#include "hub_health.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_admit.h"
#include "hub_audit.h"
#include "hub_batch.h"
#include "hub_ca.h"
#include "hub_jobstats.h"
#include "hub_refcache.h"
#include "hub_resume.h"
#include "log.h"
#include "strbuf.h"

#define HUB_STOP_GRACE_MS 30000

/* ------------------------------------------------------------ answers */

int hub_header(const struct http_req *req, const char *name, char *out, size_t cap)
{
    const char *v = http_header(req->conn, name);
    size_t n = v ? strlen(v) : 0;

    out[0] = '\0';
    if (n >= cap)
        return -E2BIG;
    memcpy(out, v ? v : "", n + 1);
    return 0;
}

void hub_stamp(struct hub *h, struct strbuf *s)
{
    uint64_t wall = hlc_wall_ms();

    strbuf_fmt(s, "\"hub_hlc\":\"%" PRIu64 "\",\"hub_time_ms\":%" PRIu64,
             hlc_tick(&h->clock, wall), wall);
}

/* hub_reply() with a Retry-After of retry_s seconds (0: 2 s on a 503, else none) */
static void reply(struct hub *h, const struct http_req *req, const char *endpoint, int status,
                  const char *ctype, const char *encoding, const char *body, size_t len,
                  unsigned retry_s)
{
    char headers[512], retry[40] = "";
    uint64_t wall = hlc_wall_ms();
    int n;

    if (retry_s || status == 503)
        snprintf(retry, sizeof(retry), "Retry-After: %u\r\n", retry_s ? retry_s : 2);
    /* a node told to come back (it adds up to half as jitter) finds its
     * connection open: no new TLS handshake, on a 2G link 1-2 s; in a
     * reconnect storm most of the hub's TLS work was such handshakes */
    if (retry_s)
        http_conn_keep_for(req->conn, retry_s * 1500u + HUB_RETURN_MS);
    n = snprintf(headers, sizeof(headers),
                 "X-Sikhnas-Hub-HLC: %" PRIu64 "\r\n"
                 "X-Sikhnas-Hub-Time: %" PRIu64 "\r\nX-Sikhnas-Accept-Encoding: zstd, gzip, "
                 BATCH_COLUMNAR_TOKEN ", " BATCH_COLUMNAR2_TOKEN "%s\r\n"
                 "%s%s%s%s%s",
                 hlc_tick(&h->clock, wall), wall,
                 batch_dict_ready() ? ", " BATCH_DICT_TOKEN ", " BATCH_COLDICT_TOKEN
                                      ", " BATCH_COLDICT2_TOKEN : "",
                 encoding ? "Content-Encoding: " : "", encoding ? encoding : "",
                 encoding ? "\r\n" : "", retry,
                 h->resume ? "X-Sikhnas-Resume: 1\r\n" : "");
    (void) n;
    metrics_request(h->metrics, endpoint, status);
    http_respond(req->conn, status, ctype, headers, body, len);
}

void hub_reply(struct hub *h, const struct http_req *req, const char *endpoint, int status,
               const char *ctype, const char *encoding, const char *body, size_t len)
{
    reply(h, req, endpoint, status, ctype, encoding, body, len, 0);
}

void hub_error(struct hub *h, const struct http_req *req, const char *endpoint, int status,
               const char *code, const char *message)
{
    hub_error_retry(h, req, endpoint, status, code, message, 0);
}

void hub_error_retry(struct hub *h, const struct http_req *req, const char *endpoint,
                     int status, const char *code, const char *message, unsigned retry_s)
{
    struct strbuf s = { 0 };

    strbuf_add(&s, "{\"error\":", 9);
    strbuf_json_str(&s, code);
    strbuf_add(&s, ",\"message\":", 11);
    strbuf_json_str(&s, message);
    strbuf_add(&s, ",", 1);
    hub_stamp(h, &s);
    strbuf_add(&s, "}", 1);
    if (status == 429)          /* many in a storm: the metrics count them */
        log_debug("%s %s: %d %s: %s", endpoint, req->peer, status, code, message);
    else
        log_info("%s %s: %d %s: %s", endpoint, req->peer, status, code, message);
    if (s.err)
        reply(h, req, endpoint, status, "application/json", NULL, "{}", 2, retry_s);
    else
        reply(h, req, endpoint, status, "application/json", NULL, s.p, s.len, retry_s);
    free(s.p);
}

void *hub_job_new(struct hub *h, const struct http_req *req, const char *endpoint, size_t size)
{
    void *j = calloc(1, size);

    if (!j)
        hub_error(h, req, endpoint, 503, "unavailable", "out of memory");
    return j;
}

static void rolled_back(struct db_conn *c, PGresult **res, int nres, int err, void *ud)
{
    struct hub_failure *f = ud;

    f->answer(f->job, f->status, f->code, f->msg);
}

void hub_rollback(struct db_conn *c, struct hub_failure *f, int status, const char *code,
                  const char *msg)
{
    f->status = status;
    f->code = code;
    snprintf(f->msg, sizeof(f->msg), "%s", msg);
    if (db_exec(c, "ROLLBACK", rolled_back, f) < 0)
        f->answer(f->job, status, code, f->msg);
}

/* ------------------------------------------------------------ routing */

static void observe_node_clock(struct hub *h, const struct http_req *req)
{
    char hlc[HUB_HDR_HLC], *end;
    unsigned long long v;

    if (hub_header(req, "X-Sikhnas-HLC", hlc, sizeof(hlc)) < 0 || !hlc[0])
        return;
    errno = 0;
    v = strtoull(hlc, &end, 10);
    if (errno || *end)
        return;
    (void) hlc_observe(&h->clock, v, hlc_wall_ms(), BATCH_MAX_AHEAD_MS);
}

static void serve_metrics(struct hub *h, const struct http_req *req)
{
    char *text = NULL;
    size_t len = 0;
    unsigned active, queued;
    uint64_t refused;
    double rate;

    admit_counts(h->admit, &active, &queued, &refused, &rate);
    metrics_admission(h->metrics, active, queued, refused, rate);
    if (metrics_render(h->metrics, db_pool_up(h->db), http_server_conns(h->http),
                       http_server_busy(h->http), &text, &len) < 0) {
        hub_error(h, req, "metrics", 503, "unavailable", "out of memory");
        return;
    }
    struct strbuf o = { .p = text, .len = len, .cap = len };
    jobstats_render(h->jobstats, uv_now(h->loop), &o);
    if (o.err) {
        free(o.p);
        hub_error(h, req, "metrics", 503, "unavailable", "out of memory");
        return;
    }
    hub_reply(h, req, "metrics", 200, "text/plain; version=0.0.4", NULL, o.p, o.len);
    free(o.p);
}

static void serve_health(struct hub *h, const struct http_req *req)
{
    struct strbuf s = { 0 };
    int up = db_pool_up(h->db) > 0;

    strbuf_fmt(&s, "{\"status\":\"%s\",\"db\":\"%s\",", up ? "ok" : "degraded", up ? "up" : "down");
    hub_stamp(h, &s);
    strbuf_add(&s, "}", 1);
    hub_reply(h, req, "health", up ? 200 : 503, "application/json", NULL,
              s.err ? "{}" : s.p, s.err ? 2 : s.len);
    free(s.p);
}

static void identified(struct hub *h, const struct http_req *req, const struct hub_identity *id)
{
    metrics_contact(h->metrics, id->node, id->district, (double)hlc_wall_ms() / 1000.0);
    if (strcmp(req->path, "/v1/push") == 0 && req->is_head)
        hub_resume_query(h, req, id);
    else if (strcmp(req->path, "/v1/push") == 0)
        hub_push(h, req, id);
    else if (strcmp(req->path, "/v1/pull") == 0)
        hub_pull(h, req, id);
    else if (strcmp(req->path, "/v1/node-health") == 0)
        hub_node_health(h, req, id);
    else
        hub_renew(h, req, id);
}

static void on_request(void *ud, struct http_conn *c, const struct http_req *req)
{
    struct hub *h = ud;
    const char *endpoint;
    int is_pull = strcmp(req->path, "/v1/pull") == 0;

    observe_node_clock(h, req);
    if (strcmp(req->path, "/metrics") == 0 || strcmp(req->path, "/v1/health") == 0) {
        if (strcmp(req->method, "GET") != 0) {
            hub_error(h, req, "other", 405, "method_not_allowed", "use GET");
            return;
        }
        if (req->path[1] == 'm')
            serve_metrics(h, req);
        else
            serve_health(h, req);
        return;
    }
    if (strcmp(req->path, "/v1/push") == 0)
        endpoint = "push";
    else if (is_pull)
        endpoint = "pull";
    else if (strcmp(req->path, "/v1/renew") == 0)
        endpoint = "renew";
    else if (strcmp(req->path, "/v1/enroll") == 0)
        endpoint = "enroll";
    else if (strcmp(req->path, "/v1/node-health") == 0)
        endpoint = "node-health";
    else {
        hub_error(h, req, "other", 404, "not_found", "no such endpoint");
        return;
    }
    if (strcmp(req->method, "POST") != 0 && !(is_pull && strcmp(req->method, "GET") == 0) &&
        !(strcmp(endpoint, "push") == 0 && req->is_head && h->resume)) {   /* HEAD /v1/push: a resume */
        hub_error(h, req, endpoint, 405, "method_not_allowed",
                  is_pull ? "use GET or POST" : "use POST");
        return;
    }
    if (h->stopping) {
        hub_error(h, req, endpoint, 503, "shutting_down", "the hub is stopping; retry later");
        return;
    }
    if (endpoint[0] == 'e')
        hub_enroll(h, req);          /* the token authenticates it, not a certificate */
    else
        hub_identity_check(h, req, endpoint, identified);
}

/* The refusals of the HTTP layer (400, 408, 411, 413, 431, 503), as JSON. */
static void on_http_error(void *ud, struct http_conn *c, const struct http_req *req,
                          int status, const char *code, const char *message)
{
    hub_error(ud, req, "other", status, code, message);
}

/* A body cut in the middle: a push batch's prefix may be kept. */
static void on_partial(void *ud, struct http_conn *c, const struct http_req *req)
{
    hub_resume_partial(ud, c, req);
}

/* The HTTP layer calls this at most once a minute per address. */
static void on_tls_fail(void *ud, const char *address, const char *reason)
{
    hub_audit(ud, "refuse", NULL, address, "tls", reason);
}

/* The HTTPS front's configuration: the hub's limits and hooks. */
static void hub_http_config(const struct hub_opts *o, struct http_config *ret)
{
    *ret = (struct http_config){
        .host = o->host,
        .port = o->port,
        .cert_file = o->cert_file,
        .key_file = o->key_file,
        .client_ca_file = o->client_ca,
        .body_max = HUB_BODY_MAX,
        .head_max = HUB_HEAD_MAX,
        .url_max = HUB_URL_MAX,
        .headers_max = HUB_HEADERS_MAX,
        .bodies_max = o->body_mib > 0 ? (size_t)o->body_mib << 20 : HUB_BODIES_MAX,
        .discard_max = HUB_DISCARD_MAX,
        .max_connections = HUB_MAX_CONNS,
        .max_per_addr = o->max_conns_per_addr > 0 ? (unsigned)o->max_conns_per_addr
                                                  : HUB_MAX_CONNS_PER_ADDR,
        .handshake_ms = o->handshake_ms ? o->handshake_ms : HUB_HANDSHAKE_MS,
        .request_ms = HUB_HEAD_MS,
        .min_body_rate = HUB_MIN_BODY_RATE,
        .stall_ms = o->stall_ms ? o->stall_ms : HUB_STALL_MS,
        .idle_ms = o->idle_ms ? o->idle_ms : HUB_IDLE_MS,
        .length_required = 1,
        .close_on_error = 1,
        .log_name = "http",
        .max_per_addr_name = "--max-conns-per-addr",
        .handler = on_request,
        .error = on_http_error,
        .tls_fail = on_tls_fail,
        .partial = on_partial,
    };
}

/* ------------------------------------------------------------ stop */

static void close_handle_noop(uv_handle_t *hd) { (void) hd; }

static void db_closed(void *ud)
{
    struct hub *h = ud;

    uv_close((uv_handle_t *)&h->force_timer, close_handle_noop);
    log_notice("stopped");
}

static void http_drained(void *ud)
{
    struct hub *h = ud;

    h->http = NULL;
    log_notice("all connections closed; closing the database connections");
    ledger_stop(h);
    jobstats_stop(h);
    db_pool_close(h->db, db_closed, h);
}

static void force_stop(uv_timer_t *t)
{
    log_warning("graceful stop took longer than %d s; exiting", HUB_STOP_GRACE_MS / 1000);
    exit(1);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct hub *h = s->data;

    if (h->stopping)
        return;
    h->stopping = 1;
    log_notice("%s: stopping: no new connections, finishing %u request(s) in flight",
               signum == SIGTERM ? "SIGTERM" : "SIGINT", http_server_busy(h->http));
    uv_close((uv_handle_t *)&h->sig_term, close_handle_noop);
    uv_close((uv_handle_t *)&h->sig_int, close_handle_noop);
    uv_timer_start(&h->force_timer, force_stop, HUB_STOP_GRACE_MS, 0);
    uv_unref((uv_handle_t *)&h->force_timer);
    http_server_drain(h->http, http_drained, h);
}

int hub_run(const struct hub_opts *o)
{
    struct hub h;
    struct http_config hc;
    char *setup = NULL;
    int r;

    memset(&h, 0, sizeof(h));
    batch_global_init();
    h.loop = uv_default_loop();
    hlc_tick(&h.clock, hlc_wall_ms());
    r = metrics_new(&h.metrics);
    if (r < 0)
        return r;
    setup = batch_setup_sql();
    if (!setup) {
        r = -ENOMEM;
        goto out;
    }
    r = hub_ca_load(o->client_ca, o->ca_key, &h.ca);
    if (r < 0)
        goto out;
    r = enrol_limits_new(o->enroll_per_min, &h.limits);
    if (r < 0)
        goto out;
    r = admit_new((unsigned)o->admit, (unsigned)o->admit_queue, uv_now(h.loop), &h.admit);
    if (r == 0)
        admit_bytes_max(h.admit, (size_t)o->admit_mib << 20);
    if (r < 0)
        goto out;
    r = refcache_new(&h.refcache);
    if (r < 0)
        goto out;
    if (o->resume && (r = hub_resume_new(&h.resume)) < 0)
        goto out;
    h.cert_lifetime_s = o->cert_lifetime_s;
    r = db_pool_new(h.loop, o->conninfo, o->pg_conns, setup, &h.db);
    if (r < 0)
        goto out;
    r = ledger_start(&h);
    if (r < 0)
        goto out;
    r = jobstats_start(&h, (unsigned)o->job_stats_s);
    if (r < 0)
        goto out;
    hub_http_config(o, &hc);
    hc.arg = &h;
    r = http_server_start(h.loop, &hc, &h.http);
    if (r < 0)
        goto out;
    uv_signal_init(h.loop, &h.sig_term);
    uv_signal_init(h.loop, &h.sig_int);
    uv_timer_init(h.loop, &h.force_timer);
    h.sig_term.data = h.sig_int.data = &h;
    uv_signal_start(&h.sig_term, on_signal, SIGTERM);
    uv_signal_start(&h.sig_int, on_signal, SIGINT);
    signal(SIGPIPE, SIG_IGN);
    log_notice("listening on %s:%d (TLS 1.2+, client certificates from '%s', %d database "
               "connection%s; %d push batch%s at once, of %d MiB inflated, %d waiting)",
               o->host, http_server_port(h.http), o->client_ca, o->pg_conns,
               o->pg_conns == 1 ? "" : "s", o->admit, o->admit == 1 ? "" : "es",
               o->admit_mib, o->admit_queue);
    printf("listening %s:%d\n", o->host, http_server_port(h.http));
    fflush(stdout);
    r = uv_run(h.loop, UV_RUN_DEFAULT);
    r = 0;
out:
    free(setup);
    ledger_free(h.ledger);
    jobstats_free(h.jobstats);
    metrics_free(h.metrics);
    hub_ca_free(h.ca);
    enrol_limits_free(h.limits);
    admit_free(h.admit);
    refcache_free(h.refcache);
    hub_resume_free(h.resume);
    if (r < 0)
        return r;           /* start-up failed: nothing ran; the process exits */
    uv_loop_close(h.loop);
    return 0;
}
