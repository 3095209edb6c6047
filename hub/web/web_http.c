/* web_http.c - the requests of sikhnas-web: the routes, the pages and
 * their static files (embedded, or from --assets-dir), login, logout and
 * sessions, CSRF, roles and scope, and the data API. The loop thread only
 * routes and serves static files; whatever needs the database runs on a
 * worker (web_out_run) and streams its answer.
 *
 * Who may do what: the data of the report schema is for the roles
 * national, province and district, each within its scope (the area
 * prefix of its account: web_filter_parse() refuses an area outside it
 * with 403); the /api/v1/ops/ pages are for the operator role and, when
 * a client CA is configured, also need a client certificate that chains
 * to it (the fleet and queue pages of the workers will live there). */
#include "webapp.h"
#include "web_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "embed.h"
#include "log.h"
#include "strbuf.h"
#include "throttle.h"

extern const struct embedded_file web_app_assets[];

#define COOKIE "sikhnas_web"
#define SECURITY_HEADERS \
    "X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n" \
    "Cache-Control: no-store\r\n"

enum route_kind { R_PAGE, R_STATIC, R_LOGIN, R_LOGOUT, R_ME, R_DATA, R_OPS };
enum { NEED_NONE = 0, NEED_SESSION = 1, NEED_CSRF = 2, NEED_DATA_ROLE = 4,
       NEED_OPERATOR = 8 };

static const struct route {
    const char     *method;
    const char     *path;           /* a trailing '/' matches a prefix */
    enum route_kind kind;
    int             need;
} routes[] = {
    { "GET", "/", R_PAGE, NEED_NONE },
    { "GET", "/static/", R_STATIC, NEED_NONE },
    { "POST", "/api/login", R_LOGIN, NEED_NONE },
    { "POST", "/api/logout", R_LOGOUT, NEED_SESSION | NEED_CSRF },
    { "GET", "/api/me", R_ME, NEED_SESSION },
    { "GET", "/api/v1/data/", R_DATA, NEED_SESSION | NEED_DATA_ROLE },
    { "GET", "/api/v1/ops/", R_OPS, NEED_SESSION | NEED_OPERATOR },
    { "POST", "/api/v1/ops/", R_OPS, NEED_SESSION | NEED_CSRF | NEED_OPERATOR },
};

/* One request that goes to a worker. */
struct job {
    struct web_app    *app;
    const struct route *route;
    char              *path, *query, *body;
    char               token[AUTH_TOKEN_LEN + 1];
    char               csrf[AUTH_CSRF_LEN + 1];
    char               peer[48];
    int                gzip_ok;         /* Accept-Encoding names gzip */
    struct web_who     who;
};

char *web_error_json(const char *code, const char *message)
{
    struct strbuf b = { 0 };

    strbuf_str(&b, "{\"error\":");
    strbuf_json_str(&b, code);
    strbuf_str(&b, ",\"message\":");
    strbuf_json_str(&b, message);
    strbuf_str(&b, "}");
    if (b.err) {
        strbuf_free(&b);
        return NULL;
    }
    return strbuf_take(&b);
}

void web_reply_error(struct http_conn *c, int status, const char *code, const char *message)
{
    char *body = web_error_json(code, message);

    http_respond(c, status, "application/json; charset=utf-8", SECURITY_HEADERS,
                 body ? body : "{}", body ? strlen(body) : 2);
    free(body);
}

/* ------------------------------------------------------------ static files */

static const char *content_type(const char *name)
{
    static const struct { const char *ext, *type; } types[] = {
        { ".html", "text/html; charset=utf-8" }, { ".js", "text/javascript; charset=utf-8" },
        { ".css", "text/css; charset=utf-8" }, { ".png", "image/png" },
        { ".svg", "image/svg+xml" },
    };
    const char *dot = strrchr(name, '.');

    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

/* The whole of a file of at most cap bytes; 0 or -errno. */
static int read_file(const char *path, size_t cap, char **ret, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *p = NULL;
    ssize_t n = 0;
    off_t size;

    if (fd < 0)
        return -errno;
    size = lseek(fd, 0, SEEK_END);
    if (size >= 0 && (size_t)size <= cap && lseek(fd, 0, SEEK_SET) == 0 &&
        (p = malloc((size_t)size + 1)) != NULL)
        n = read(fd, p, (size_t)size);
    close(fd);
    if (!p || n != size) {
        free(p);
        return -EIO;
    }
    *ret = p;
    *len = (size_t)size;
    return 0;
}

static void serve_static(struct web_app *app, struct http_conn *c, const char *name)
{
    static const char csp[] =
        "Content-Security-Policy: default-src 'self'; img-src 'self' data: %s; "
        "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'\r\n"
        "X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n"
        "Cache-Control: no-cache\r\n";
    const struct embedded_file *f;
    char extra[sizeof(csp) + 256], tiles[200] = "";

    if (strncmp(name, "images/", 7) == 0)     /* leaflet.css's url(images/...) */
        name += 7;
    if (strstr(name, "..") || strchr(name, '/')) {
        web_reply_error(c, 404, "not_found", "no such file");
        return;
    }
    if (app->tile_url[0]) {         /* the tile server's origin may serve images */
        const char *p = strstr(app->tile_url, "://");
        const char *end = p ? strchr(p + 3, '/') : NULL;
        int n = end ? (int)(end - app->tile_url) : (int)strlen(app->tile_url);
        snprintf(tiles, sizeof(tiles), "%.*s", n < 190 ? n : 0, app->tile_url);
        for (char *q = tiles; *q; q++)
            if (*q == ';' || *q == '\r' || *q == '\n' || *q == '\'')
                *q = ' ';
    }
    snprintf(extra, sizeof(extra), csp, tiles);
    if (app->assets_dir) {
        char path[512];
        char *data = NULL;
        size_t len = 0;
        snprintf(path, sizeof(path), "%s/%s", app->assets_dir, name);
        if (read_file(path, 8 << 20, &data, &len) == 0) {
            http_respond(c, 200, content_type(name), extra, data, len);
            free(data);
            return;
        }
    }
    f = embedded_find(web_app_assets, name);
    if (!f) {
        web_reply_error(c, 404, "not_found", "no such file");
        return;
    }
    http_respond(c, 200, content_type(name), extra, f->data, f->len);
}

/* ------------------------------------------------------------ workers */

static void job_free(void *arg)
{
    struct job *j = arg;

    free(j->path);
    free(j->query);
    free(j->body);
    free(j);
}

static void put_json(struct web_out *o, int status, const char *extra, cJSON *obj)
{
    char *s = cJSON_PrintUnformatted(obj);

    if (!s) {
        web_out_error(o, 500, "internal", "out of memory");
        return;
    }
    web_out_head(o, status, "application/json; charset=utf-8", extra);
    (void) web_out_put(o, s, strlen(s));
    free(s);
}

static cJSON *who_json(const struct web_who *w)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "login", w->login);
    cJSON_AddStringToObject(o, "name", w->name);
    cJSON_AddStringToObject(o, "role", w->role);
    cJSON_AddStringToObject(o, "scope", w->scope);
    cJSON_AddStringToObject(o, "csrf", w->csrf);
    return o;
}

/* The account of a login attempt: its hash and who it is. -ENOENT when
 * unknown or disabled. */
static int account_get(PGconn *pg, const char *login, char hash[AUTH_HASH_MAX],
                       struct web_who *who)
{
    const char *p[] = { login };
    PGresult *r = web_exec(pg, "web: login", "SELECT pw_hash, name, role, scope FROM"
                           " analyst.account WHERE login = $1 AND disabled_at IS NULL", 1, p);
    int found;

    if (!r)
        return -EIO;
    found = PQntuples(r) == 1;
    if (found) {
        snprintf(hash, AUTH_HASH_MAX, "%s", PQgetvalue(r, 0, 0));
        snprintf(who->login, sizeof(who->login), "%s", login);
        snprintf(who->name, sizeof(who->name), "%s", PQgetvalue(r, 0, 1));
        snprintf(who->role, sizeof(who->role), "%s", PQgetvalue(r, 0, 2));
        snprintf(who->scope, sizeof(who->scope), "%s", PQgetvalue(r, 0, 3));
    }
    PQclear(r);
    return found ? 0 : -ENOENT;
}

static int session_open(PGconn *pg, const char *login, char token[AUTH_TOKEN_LEN + 1])
{
    unsigned char raw[32], h[32];
    char hex[65], ttl[16];
    const char *p[3] = { hex, login, ttl };
    PGresult *r;

    if (auth_random(raw, sizeof(raw)) < 0)
        return -EIO;
    auth_b64url(raw, sizeof(raw), token, AUTH_TOKEN_LEN + 1);
    if (auth_sha256(token, strlen(token), h) < 0)
        return -EIO;
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    snprintf(ttl, sizeof(ttl), "%d", WEB_SESSION_TTL);
    r = web_exec(pg, "web: session", "WITH gone AS (DELETE FROM analyst.session"
                 " WHERE expires_at < now()) INSERT INTO analyst.session"
                 " (token_hash, login, expires_at) VALUES (decode($1, 'hex'), $2,"
                 " now() + make_interval(secs => $3::int))", 3, p);
    PQclear(r);
    return r ? 0 : -EIO;
}

/* POST /api/login {"login": ..., "password": ...} */
static void do_login(struct web_out *o, struct job *j)
{
    struct web_app *app = j->app;
    cJSON *in = cJSON_Parse(j->body), *out;
    const cJSON *jl = cJSON_GetObjectItemCaseSensitive(in, "login");
    const cJSON *jp = cJSON_GetObjectItemCaseSensitive(in, "password");
    char hash[AUTH_HASH_MAX], token[AUTH_TOKEN_LEN + 1], cookie[320];
    struct auth_kdf k;
    struct web_who who = { 0 };
    PGconn *pg = NULL;
    int64_t wait;
    int r, ok;

    if (!cJSON_IsString(jl) || !cJSON_IsString(jp) || strlen(jl->valuestring) > WEB_LOGIN_MAX ||
        strlen(jp->valuestring) > AUTH_PASSWORD_MAX) {
        web_out_error(o, 400, "bad_request", "login and password are required");
        goto out;
    }
    pthread_mutex_lock(&app->throttle_mu);
    wait = throttle_wait(app->throttle, jl->valuestring, j->peer, (int64_t)time(NULL));
    pthread_mutex_unlock(&app->throttle_mu);
    if (wait > 0) {
        char msg[120];
        snprintf(msg, sizeof(msg), "too many failed logins; try again in %lld minutes",
                 (long long)(wait + 59) / 60);
        web_out_error(o, 429, "locked_out", msg);
        goto out;
    }
    pg = web_pool_get(app->primary, 10000);
    if (!pg) {
        web_out_error(o, 503, "unavailable", "the accounts database is not reachable");
        goto out;
    }
    r = account_get(pg, jl->valuestring, hash, &who);
    if (r == -EIO) {
        web_out_error(o, 503, "unavailable", "the accounts database is not reachable");
        goto out;
    }
    if (r < 0 || auth_hash_parse(hash, &k) < 0)
        auth_kdf_dummy(&k);         /* the same time for an unknown login */
    ok = auth_kdf_derive(&k, jp->valuestring, strlen(jp->valuestring)) == 0 &&
         auth_kdf_match(&k) && r == 0;
    pthread_mutex_lock(&app->throttle_mu);
    if (ok)
        throttle_ok(app->throttle, jl->valuestring, j->peer);
    else if (throttle_failed(app->throttle, jl->valuestring, j->peer, (int64_t)time(NULL)))
        log_warning("web: login: %s: paused after repeated failures (login '%.64s')",
                    j->peer, jl->valuestring);
    pthread_mutex_unlock(&app->throttle_mu);
    (void) web_audit(pg, jl->valuestring, ok ? "login" : "login_failed", j->peer, NULL);
    if (!ok) {
        web_out_error(o, 401, "bad_login", "wrong login or password");
        goto out;
    }
    if (session_open(pg, who.login, token) < 0 || web_csrf_of(token, who.csrf) < 0) {
        web_out_error(o, 503, "unavailable", "the session could not be opened");
        goto out;
    }
    snprintf(cookie, sizeof(cookie), "Set-Cookie: " COOKIE "=%s; Path=/; HttpOnly;%s"
             " SameSite=Strict; Max-Age=%d\r\n" SECURITY_HEADERS, token,
             app->secure_cookie ? " Secure;" : "", WEB_SESSION_TTL);
    out = who_json(&who);
    put_json(o, 200, cookie, out);
    cJSON_Delete(out);
    log_info("web: login: %s (%s %s) from %s", who.login, who.role, who.scope, j->peer);
out:
    memset(hash, 0, sizeof(hash));
    if (pg)
        web_pool_put(app->primary, pg);
    cJSON_Delete(in);
}

static void do_logout(struct web_out *o, struct job *j, PGconn *pg)
{
    unsigned char h[32];
    char hex[65];
    const char *p[] = { hex };
    PGresult *r;

    if (auth_sha256(j->token, strlen(j->token), h) == 0) {
        for (int i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", h[i]);
        r = web_exec(pg, "web: logout", "DELETE FROM analyst.session"
                     " WHERE token_hash = decode($1, 'hex')", 1, p);
        PQclear(r);
    }
    (void) web_audit(pg, j->who.login, "logout", j->peer, NULL);
    web_out_head(o, 200, "application/json; charset=utf-8",
                 "Set-Cookie: " COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0\r\n");
    (void) web_out_put(o, "{\"ok\":true}", 11);
}

static void do_data(struct web_out *o, struct job *j)
{
    const char *name = j->path + strlen("/api/v1/data/"), *bad = NULL;
    const struct web_dataset *d = web_dataset_find(name);
    struct web_filter f;
    char fmt[12] = "";
    enum web_format ff = FMT_JSON;
    int r;

    if (!d) {
        web_out_error(o, 404, "not_found", "no such dataset");
        return;
    }
    (void) http_query_get(j->query, "format", fmt, sizeof(fmt));
    if (!fmt[0] || strcmp(fmt, "json") == 0)
        ff = FMT_JSON;
    else if (strcmp(fmt, "csv") == 0)
        ff = FMT_CSV;
    else if (strcmp(fmt, "xlsx") == 0)
        ff = FMT_XLSX;
    else if (strcmp(fmt, "geojson") == 0)
        ff = FMT_GEOJSON;
    else {
        web_out_error(o, 400, "bad_format", "format must be json, csv, xlsx or geojson");
        return;
    }
    r = web_filter_parse(j->query, j->who.scope, &f, &bad);
    if (r == -EACCES) {
        PGconn *pg = web_pool_get(j->app->primary, 2000);
        if (pg) {
            (void) web_audit(pg, j->who.login, "refuse", j->peer, j->query);
            web_pool_put(j->app->primary, pg);
        }
        log_notice("web: %s (scope '%s') asked for area outside it: %s", j->who.login,
                   j->who.scope, name);
        web_out_error(o, 403, "outside_scope", "that area is outside your account's scope");
        return;
    }
    if (r < 0) {
        char msg[80];
        snprintf(msg, sizeof(msg), "bad value of '%s'", bad ? bad : "?");
        web_out_error(o, 400, "bad_filter", msg);
        return;
    }
    web_dataset_run(j->app, d, &f, ff, j->gzip_ok, o);
}

static void do_ops(struct web_out *o, struct job *j)
{
    /* the fleet, queue and recipients pages (web_ops.c) */
    if (web_ops(j->app, strcmp(j->route->method, "POST") == 0, j->path + strlen("/api/v1/ops/"),
                j->query, j->body, &j->who, j->peer, o))
        return;
    if (strcmp(j->path, "/api/v1/ops/status") != 0) {
        web_out_error(o, 404, "not_found", "no such page");
        return;
    }
    {
        struct web_filter f;
        const char *bad;
        if (web_filter_parse("", "", &f, &bad) == 0)
            web_dataset_run(j->app, web_dataset_find("status"), &f, FMT_JSON, 0, o);
    }
}

/* Checks the session, role and CSRF token the route needs. 0, or the
 * refusal has been answered. */
static int job_authorise(struct web_out *o, struct job *j, PGconn *pg)
{
    int need = j->route->need;
    const char *role;

    if (!(need & NEED_SESSION))
        return 0;
    if (!j->token[0] || web_session_find(pg, j->token, &j->who) < 0) {
        web_out_error(o, 401, "login_required", "log in first");
        return -EACCES;
    }
    if ((need & NEED_CSRF) && !auth_equal(j->csrf, j->who.csrf)) {
        web_out_error(o, 403, "bad_csrf", "the page is stale; reload it");
        return -EACCES;
    }
    role = j->who.role;
    if (((need & NEED_DATA_ROLE) && strcmp(role, "operator") == 0) ||
        ((need & NEED_OPERATOR) && strcmp(role, "operator") != 0)) {
        web_out_error(o, 403, "forbidden", "your role may not see this page");
        return -EACCES;
    }
    return 0;
}

static void job_work(struct web_out *o, void *arg)
{
    struct job *j = arg;
    PGconn *pg;

    if (j->route->kind == R_LOGIN) {
        do_login(o, j);
        return;
    }
    pg = web_pool_get(j->app->primary, 10000);
    if (!pg) {
        web_out_error(o, 503, "unavailable", "the accounts database is not reachable");
        return;
    }
    if (job_authorise(o, j, pg) < 0) {
        web_pool_put(j->app->primary, pg);
        return;
    }
    if (j->route->kind == R_LOGOUT) {
        do_logout(o, j, pg);
        web_pool_put(j->app->primary, pg);
        return;
    }
    web_pool_put(j->app->primary, pg);
    if (j->route->kind == R_ME) {
        cJSON *w = who_json(&j->who);
        cJSON_AddStringToObject(w, "tile_url", j->app->tile_url);
        put_json(o, 200, SECURITY_HEADERS, w);
        cJSON_Delete(w);
    } else if (j->route->kind == R_DATA) {
        do_data(o, j);
    } else {
        do_ops(o, j);
    }
}

/* ------------------------------------------------------------ routing */

static const struct route *route_find(const struct http_req *req, int *wrong_method)
{
    *wrong_method = 0;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const struct route *r = &routes[i];
        size_t n = strlen(r->path);
        int match = r->path[n - 1] == '/' && n > 1 ? strncmp(req->path, r->path, n) == 0
                                                   : strcmp(req->path, r->path) == 0;
        if (!match)
            continue;
        if (strcmp(req->method, r->method) == 0 ||
            (req->is_head && strcmp(r->method, "GET") == 0))
            return r;
        *wrong_method = 1;
    }
    return NULL;
}

/* The value of cookie name in the Cookie header, or "". */
static void cookie_get(struct http_conn *c, const char *name, char *out, size_t cap)
{
    const char *h = http_header(c, "Cookie");
    size_t n = strlen(name);

    out[0] = '\0';
    for (const char *p = h; p && *p; ) {
        while (*p == ' ' || *p == ';')
            p++;
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            size_t len = strcspn(p + n + 1, ";");
            if (len < cap)
                snprintf(out, cap, "%.*s", (int)len, p + n + 1);
            return;
        }
        p += strcspn(p, ";");
    }
}

static int client_cert_ok(struct http_conn *c)
{
    uint32_t flags = 0;

    return http_peer_cert(c, &flags) != NULL && flags == 0;
}

void web_on_request(void *arg, struct http_conn *c, const struct http_req *req)
{
    struct web_app *app = arg;
    const struct route *r;
    const char *csrf, *enc;
    struct job *j;
    int wrong;

    app->requests++;
    r = route_find(req, &wrong);
    if (!r) {
        if (wrong)
            web_reply_error(c, 405, "method_not_allowed", "method not allowed");
        else
            web_reply_error(c, 404, "not_found", "no such page");
        return;
    }
    if (r->kind == R_PAGE) {
        serve_static(app, c, "index.html");
        return;
    }
    if (r->kind == R_STATIC) {
        serve_static(app, c, req->path + strlen("/static/"));
        return;
    }
    if ((r->need & NEED_OPERATOR) && app->client_cert && !client_cert_ok(c)) {
        app->refused++;
        web_reply_error(c, 403, "client_certificate_required",
                        "this page needs a client certificate from the operators' CA");
        return;
    }
    if (r->kind == R_LOGIN) {
        const char *ct = http_header(c, "Content-Type");
        if (!ct || strncmp(ct, "application/json", 16) != 0) {  /* no cross-site form posts */
            web_reply_error(c, 415, "json_required", "send JSON");
            return;
        }
    }
    j = calloc(1, sizeof(*j));
    if (!j) {
        web_reply_error(c, 503, "unavailable", "out of memory");
        return;
    }
    j->app = app;
    j->route = r;
    j->path = strdup(req->path);
    j->query = strdup(req->query);
    j->body = strdup(req->body);
    snprintf(j->peer, sizeof(j->peer), "%s", req->peer);
    cookie_get(c, COOKIE, j->token, sizeof(j->token));
    csrf = http_header(c, "X-CSRF-Token");
    snprintf(j->csrf, sizeof(j->csrf), "%s", csrf ? csrf : "");
    enc = http_header(c, "Accept-Encoding");
    j->gzip_ok = enc && strstr(enc, "gzip") && !strstr(enc, "gzip;q=0");
    if (!j->path || !j->query || !j->body ||
        web_out_run(app->loop, c, job_work, job_free, j) < 0) {
        job_free(j);
        web_reply_error(c, 503, "unavailable", "out of memory");
        return;
    }
    if (r->kind == R_DATA && strstr(req->query, "format=") && !strstr(req->query, "format=json"))
        app->exports++;
}
