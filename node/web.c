/* web.c - the officers' web pages and the JSON API (docs/api.md) on the
 * daemon's loop: the module, the route table and the security checks every
 * request passes before its handler runs. Pages are static files compiled
 * into the binary; they talk to the API only. The handlers live by concern
 * in the other web_*.c files (web_int.h lists them); every write goes
 * through the one validator (validate.h), access_check() (access.h) and
 * the group commit (web_commit.c).
 *
 * Security, in order of the checks: a session cookie (HttpOnly,
 * SameSite=Strict) names the officer; every request that changes anything
 * must carry the session's CSRF token in X-CSRF-Token, be JSON, and come
 * from our own origin when the browser says where it comes from; the role
 * decides which endpoints the officer may call (auth_role_may), and
 * access_check() what the record may say (its kind, village, reporter). */
#include "web.h"

#include <assert.h>
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "embed.h"
#include "hex.h"
#include "hostport.h"
#include "http_server.h"
#include "log.h"
#include "throttle.h"
#include "web_int.h"

extern const struct embedded_file web_assets[];

/* ------------------------------------------------------------------ routes */

static const struct route routes[] = {
    { R_POST,  "/api/v1/login",     -1,        NULL, web_api_login,  -1, 0 },
    { R_POST_EMPTY, "/api/v1/logout", PERM_READ, web_api_logout, NULL, -1, 0 },
    { R_GET,  "/api/v1/session",    PERM_READ, web_api_session,   NULL, -1, 0 },
    { R_GET,  "/api/v1/codes",      PERM_READ, web_api_codes,     NULL, -1, 1 },
    { R_GET,  "/api/v1/areas",      PERM_READ, web_api_areas,     NULL, -1, 0 },
    { R_GET,  "/api/v1/dashboard",  PERM_READ, web_api_dashboard, NULL, -1, 1 },
    { R_GET,  "/api/v1/map",        PERM_READ, web_api_map,       NULL, -1, 1 },
    { R_GET,  "/api/v1/case",       PERM_READ, web_api_case,      NULL, -1, 0 },
    { R_GET,  "/api/v1/queues",     PERM_READ, web_api_queues,    NULL, -1, 1 },
    { R_GET,  "/api/v1/trends",     PERM_READ, web_api_trends,    NULL, -1, 1 },
    { R_POST, "/api/v1/resend",     PERM_ENTRY, NULL, web_api_resend, -1, 0 },
    { R_POST, "/api/v1/correct",    PERM_ENTRY, NULL, web_api_correct, -1, 0 },
    { R_GET,  "/api/v1/officers",   PERM_ENTRY, web_api_officers, NULL, -1, 1 },
    { R_POST, "/api/v1/officers",   PERM_ENTRY, NULL, web_api_officer_add, -1, 0 },
    { R_POST, "/api/v1/officers/update", PERM_ENTRY, NULL, web_api_officer_update, -1, 0 },
    { R_POST, "/api/v1/officers/password", PERM_ENTRY, NULL, web_api_officer_password, -1, 0 },
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

/* The routes of the record kinds: GET and POST /api/v1/<collection> of
 * every kind that has a collection (rec_kind(), validate.h). A case report
 * is listed by its own handler (the search by ref, the village's name, the
 * point) and is PERM_CASE, which a village reporter has; every other kind
 * lists its table's rows and is PERM_ENTRY. Made once, by route_at(). */
static struct route kind_routes[2 * REC_KIND_COUNT];
static char kind_paths[REC_KIND_COUNT][48];
static size_t n_kind_routes;
static uv_once_t kind_routes_once = UV_ONCE_INIT;

static void kind_routes_make(void)
{
    for (int k = 0; k < REC_KIND_COUNT; k++) {
        const char *coll = rec_kind((enum rec_kind)k)->collection;
        int is_case = k == REC_CASE;
        int n;

        if (!coll)
            continue;
        n = snprintf(kind_paths[k], sizeof(kind_paths[k]), "/api/v1/%s", coll);
        assert(n > 0 && (size_t)n < sizeof(kind_paths[k]));
        for (size_t i = 0; i < N_ROUTES; i++)
            assert(strcmp(routes[i].path, kind_paths[k]) != 0);
        (void) n;
        kind_routes[n_kind_routes++] = (struct route){ R_GET, kind_paths[k], PERM_READ,
            is_case ? web_api_reports : web_api_kind_list, NULL, k, is_case };
        kind_routes[n_kind_routes++] = (struct route){ R_POST, kind_paths[k],
            is_case ? PERM_CASE : PERM_ENTRY, NULL, web_api_record_add, k, 0 };
    }
}

/* The i-th route of the fixed routes and then the kinds'; NULL past the last. */
static const struct route *route_at(size_t i)
{
    uv_once(&kind_routes_once, kind_routes_make);
    if (i < N_ROUTES)
        return &routes[i];
    i -= N_ROUTES;
    return i < n_kind_routes ? &kind_routes[i] : NULL;
}

int web_route_record(const char *path)
{
    const struct route *rt;

    for (size_t i = 0; (rt = route_at(i)); i++)
        if (rt->kind == R_POST && rt->rec >= 0 && strcmp(rt->path, path) == 0)
            return rt->rec;
    return -1;
}

/* ------------------------------------------------------------------ static files */

static const char *content_type_of(const char *name)
{
    const char *dot = strrchr(name, '.');

    if (!dot) return "application/octet-stream";
    if (strcmp(dot, ".html") == 0) return "text/html; charset=utf-8";
    if (strcmp(dot, ".js") == 0) return "text/javascript; charset=utf-8";
    if (strcmp(dot, ".css") == 0) return "text/css; charset=utf-8";
    if (strcmp(dot, ".svg") == 0) return "image/svg+xml";
    if (strcmp(dot, ".json") == 0) return "application/json";
    if (strcmp(dot, ".webmanifest") == 0) return "application/manifest+json";
    return "application/octet-stream";
}

/* The entity tag of an embedded asset: its SHA-256, cut; made once each. */
static const char *asset_etag(const struct embedded_file *f)
{
    static char tags[64][20];
    size_t i = (size_t)(f - web_assets);
    char hex[SHA256_HEX_LEN];

    if (i >= sizeof(tags) / sizeof(tags[0]))
        return NULL;
    if (!tags[i][0]) {
        sha256_hex(f->data, f->len, hex);
        snprintf(tags[i], sizeof(tags[i]), "\"%.16s\"", hex);
    }
    return tags[i];
}

/* A page or library compiled into the binary: gzip-compressed to browsers
 * that take it, revalidated by its entity tag (a 304 sends nothing again),
 * with the CSP every page runs under. Files in subfolders are not ours. */
static int serve_asset(struct wreq *q)
{
    const char *name = q->r->path + 1, *etag, *inm;
    const struct embedded_file *f, *body;
    char gzname[80], headers[768];
    int gz = 0;

    if (strcmp(q->r->path, "/") == 0)
        name = "index.html";
    if (strchr(name, '/') || strlen(name) > 64)
        return 0;
    f = embedded_find(web_assets, name);
    if (!f)
        return 0;
    body = f;
    snprintf(gzname, sizeof(gzname), "%s.gz", name);
    if (web_takes_gzip(q) && (body = embedded_find(web_assets, gzname)) != NULL)
        gz = 1;
    else
        body = f;
    etag = asset_etag(f);
    snprintf(headers, sizeof(headers),
             "Cache-Control: no-cache\r\nVary: Accept-Encoding\r\n%s%s%s%s"
             "Referrer-Policy: no-referrer\r\nX-Frame-Options: DENY\r\n"
             "Content-Security-Policy: default-src 'self'; img-src 'self' data:; "
             "frame-ancestors 'none'; base-uri 'none'; form-action 'self'\r\n",
             etag ? "ETag: " : "", etag ? etag : "", etag ? "\r\n" : "",
             gz ? "Content-Encoding: gzip\r\n" : "");
    inm = http_header(q->c, "If-None-Match");
    if (etag && inm && strstr(inm, etag)) {
        http_respond(q->c, 304, NULL, headers, "", 0);
        return 1;
    }
    http_respond(q->c, 200, content_type_of(f->name), headers, body->data, body->len);
    return 1;
}

/* ------------------------------------------------------------------ requests */

/* Same origin: when the browser names an Origin, it must be this host. */
static int same_origin(struct wreq *q)
{
    const char *origin = http_header(q->c, "Origin");
    const char *host = http_header(q->c, "Host");

    if (!origin)
        return 1;
    if (!host || strncmp(origin, "http://", 7) != 0)
        return 0;
    return strcmp(origin + 7, host) == 0;
}

static int is_json(struct wreq *q)
{
    const char *ct = http_header(q->c, "Content-Type");

    return ct && strncasecmp(ct, "application/json", 16) == 0 &&
           (ct[16] == '\0' || ct[16] == ';' || ct[16] == ' ');
}

/* The route of path for this method into *ret; 0, or -ENOENT when the
 * path is unknown, -EPERM when it is known but not for this method. */
static int find_route(const struct http_req *r, int get, int post, const struct route **ret)
{
    const struct route *rt;
    int path_known = 0;

    *ret = NULL;
    for (size_t i = 0; (rt = route_at(i)); i++) {
        if (strcmp(rt->path, r->path) != 0)
            continue;
        path_known = 1;
        if ((rt->kind == R_GET && get) || (rt->kind != R_GET && post))
            *ret = rt;
    }
    return *ret ? 0 : path_known ? -EPERM : -ENOENT;
}

/* The checks before any handler runs, in order: a session when the route
 * needs one, our own origin and the session's CSRF token for a POST, the
 * role's permission. 1 when the request may go on; else it was answered. */
static int request_allowed(struct wreq *q, int post)
{
    const struct route *rt = q->rt;
    const struct http_req *r = q->r;

    web_session_load(q);
    if (rt->perm >= 0 && !q->logged_in) {
        web_send_error(q, 401, "login_required", "Silakan masuk dulu.", "Please log in first.",
                       NULL);
        return 0;
    }
    if (post) {
        if (!same_origin(q)) {
            web_send_error(q, 403, "origin", "Permintaan dari situs lain ditolak.",
                           "Requests from another site are refused.", NULL);
            return 0;
        }
        if (rt->perm >= 0) {
            const char *t = http_header(q->c, "X-CSRF-Token");
            if (!t || !auth_equal(t, q->who.csrf)) {
                log_info("web: %s: %s %s without a valid CSRF token", r->peer, r->method, r->path);
                web_send_error(q, 403, "csrf", "Token formulir tidak sah; muat ulang halaman.",
                               "The form's token is not valid; reload the page.", NULL);
                return 0;
            }
        }
    }
    if (rt->perm >= 0 && !auth_role_may(q->who.role, (enum auth_perm)rt->perm)) {
        web_send_error(q, 403, "forbidden", "Peran Anda tidak boleh melakukan ini.",
                       "Your role may not do this.", NULL);
        return 0;
    }
    return 1;
}

/* The body of a JSON POST as an object into *doc (the caller frees it);
 * 0, or -1 when the request was answered with the refusal. */
static int read_body(struct wreq *q, cJSON **doc)
{
    struct verr e;
    int rc;

    *doc = NULL;
    if (!is_json(q)) {
        web_send_error(q, 415, "content_type", "Kirim JSON (application/json).",
                       "Send JSON (application/json).", NULL);
        return -1;
    }
    rc = validate_json_parse(q->r->body, q->r->body_len, doc, &e);
    if (rc == 0 && !cJSON_IsObject(*doc)) {
        e = (struct verr){ .code = VERR_SYNTAX, .field = "body" };
        rc = -EINVAL;
    }
    if (rc < 0) {
        cJSON_Delete(*doc);
        *doc = NULL;
        if (rc == -EINVAL)
            web_send_verr(q, &e);
        else
            web_send_store_error(q, rc);
        return -1;
    }
    return 0;
}

static void dispatch(struct wreq *q)
{
    const struct http_req *r = q->r;
    int get = strcmp(r->method, "GET") == 0 || r->is_head;
    int post = strcmp(r->method, "POST") == 0;
    cJSON *doc;
    int rc = find_route(r, get, post, &q->rt);

    if (rc == -EPERM) {
        web_send_error(q, 405, "method", "Metode tidak diizinkan.", "Method not allowed.", NULL);
        return;
    }
    if (rc < 0) {
        if (!(get && strncmp(r->path, "/api/", 5) != 0 && serve_asset(q)))
            web_send_error(q, 404, "not_found", "Tidak ditemukan.", "Not found.", NULL);
        return;
    }
    if (!request_allowed(q, post))
        return;
    if (q->rt->kind != R_POST) {
        if (!(q->rt->cached && web_cache_send(q)))
            q->rt->get(q);
        return;
    }
    if (read_body(q, &doc) < 0)
        return;
    q->rt->post(q, doc);
    cJSON_Delete(doc);
}

static void on_request(void *arg, struct http_conn *c, const struct http_req *r)
{
    struct wreq q = { .w = arg, .c = c, .r = r, .lang = "id" };
    const char *al = http_header(c, "Accept-Language");
    char lang[8];

    if (http_query_get(r->query, "lang", lang, sizeof(lang)) >= 0)
        q.lang = strcmp(lang, "en") == 0 ? "en" : "id";
    else if (al && strncasecmp(al, "en", 2) == 0)
        q.lang = "en";
    dispatch(&q);
}

/* ------------------------------------------------------------------ module */

void web_free(struct web *w)
{
    if (w->d && w->d->web == w)
        w->d->web = NULL;
    throttle_free(w->throttle);
    web_cache_free(w);
    free(w);
}

int web_kdf_start(struct web *w, struct http_conn *c, uv_work_t *req, uv_work_cb work,
                  uv_after_work_cb done)
{
    if (uv_queue_work(w->d->loop, req, work, done) < 0)
        return -EIO;
    w->kdf_jobs++;
    w->refs++;
    http_conn_ref(c);
    return 0;
}

void web_kdf_done(struct web *w)
{
    w->kdf_jobs--;
    w->refs--;
}

void web_job_end(struct web *w, struct http_conn *c, void *job)
{
    if (c)
        http_conn_unref(c);
    free(job);
    if (w->refs == 0)
        web_free(w);
}

static int web_start(struct daemon *d)
{
    const struct node_config *cfg = d->cfg;
    struct http_config hc = {
        .body_max = WEB_BODY_MAX,
        .head_max = WEB_HEAD_MAX,
        .headers_max = WEB_HEADERS_MAX,
        .max_connections = cfg->web_max_connections,
        .max_per_addr = cfg->web_max_conns_per_addr,
        /* a connection that never sends a request goes no later than an idle one */
        .handshake_ms = (cfg->web_first_request_s < cfg->web_idle_timeout_s
                         ? cfg->web_first_request_s : cfg->web_idle_timeout_s) * 1000,
        .request_ms = WEB_REQUEST_MS,
        .idle_ms = cfg->web_idle_timeout_s * 1000,
        .log_name = "web",
        .max_connections_name = "web.max_connections",
        .max_per_addr_name = "web.max_conns_per_addr",
        .handler = on_request,
    };
    struct web *w;
    char host[64];
    int port, r;

    if (!d->listen)
        return 0;
    if (hostport_parse(d->listen, host, sizeof(host), &port) < 0)
        return log_errno(LOG_ERR, -EINVAL, "web: --listen '%s': give HOST:PORT, e.g. "
                         "127.0.0.1:8080 or 0.0.0.0:80", d->listen);
    if (!cfg->web_tls_cert_file[0] != !cfg->web_tls_key_file[0])
        return log_errno(LOG_ERR, -EINVAL, "web: HTTPS needs both web.tls_cert_file and "
                         "web.tls_key_file");
    w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->d = d;
    w->session_ttl = d->cfg->web_session_ttl_s;
    hc.host = host;
    hc.port = port;
    if (cfg->web_tls_cert_file[0]) {
        hc.cert_file = cfg->web_tls_cert_file;
        hc.key_file = cfg->web_tls_key_file;
        w->secure = 1;
    }
    hc.arg = w;
    r = throttle_new(&w->throttle);
    if (r == 0)
        r = http_server_start(d->loop, &hc, &w->srv);
    if (r < 0) {
        throttle_free(w->throttle);
        free(w);
        return r;
    }
    web_commit_start(w);
    w->refs = 1;
    d->web = w;
    log_notice("listening on %s://%s%s%s:%d", w->secure ? "https" : "http",
               strchr(host, ':') ? "[" : "", host,
               strchr(host, ':') ? "]" : "", http_server_port(w->srv));
    return 0;
}

static void web_stop(struct daemon *d)
{
    struct web *w = d->web;

    if (!w)
        return;
    web_commit_flush(w);        /* what was validated is saved and answered */
    http_server_drain(w->srv, NULL, NULL);
    w->srv = NULL;
    w->stopping = 1;
    d->web = NULL;
    web_commit_close(w);
}

const struct daemon_module web_module = { "web", web_start, web_stop };
