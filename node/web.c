/* web.c - the officers' web pages and the JSON API (docs/api.md) on the
 * daemon's loop. Pages are static files compiled into the binary; they talk
 * to the API only. Every write goes through the one validator
 * (validate.h) and the records module, in a short transaction on the loop
 * thread's store connection; the slow password KDF runs on the thread pool.
 *
 * Security, in order of the checks: a session cookie (HttpOnly,
 * SameSite=Strict) names the officer; every request that changes anything
 * must carry the session's CSRF token in X-CSRF-Token, be JSON, and come
 * from our own origin when the browser says where it comes from; the role
 * decides what the officer may do (auth_role_may). */
#include "web.h"

#include <cJSON.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth.h"
#include "embed.h"
#include "http.h"
#include "log.h"
#include "records.h"

extern const struct embedded_file web_assets[];

struct kind_def;

/* A validated record waiting for the next group commit. */
struct pending {
    struct pending *next;
    struct http_conn *c;        /* holds a ref */
    const char *lang;
    const struct kind_def *kind;  /* NULL: a case report */
    void *in;                   /* the validated C struct; owned */
};

struct web {
    struct daemon *d;
    struct http_server *srv;
    uv_idle_t flush;            /* runs the group commit; active while queue is not empty */
    struct pending *queue, **tail;
    unsigned queued;
    int refs;                   /* the idle handle + logins on the thread pool */
    int kdf_jobs;               /* logins on the thread pool */
    int stopping;
    unsigned session_ttl;
};

struct route;

/* One request being answered. */
struct wreq {
    struct web *w;
    const struct route *rt;
    struct http_conn *c;
    const struct http_req *r;
    const char *lang;           /* "id" or "en" */
    int logged_in;
    char token[AUTH_TOKEN_LEN + 1];
    struct auth_who who;
};

/* ------------------------------------------------------------------ answers */

#define SEC_HEADERS \
    "Cache-Control: no-store\r\n" \
    "Referrer-Policy: no-referrer\r\n" \
    "X-Frame-Options: DENY\r\n"

static void send_body(struct wreq *q, int status, const char *ctype, const char *extra,
                      const char *body, size_t len)
{
    char headers[1024];

    snprintf(headers, sizeof(headers), SEC_HEADERS "%s", extra ? extra : "");
    http_respond(q->c, status, ctype, headers, body, len);
}

static void send_json(struct wreq *q, int status, cJSON *o, const char *extra)
{
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;

    cJSON_Delete(o);
    if (!text) {
        send_body(q, 500, "application/json", NULL, "{\"error\":{\"code\":\"nomem\"}}", 26);
        return;
    }
    send_body(q, status, "application/json; charset=utf-8", extra, text, strlen(text));
    free(text);
}

/* {"error": {"code", "message"}} in the officer's language. */
static void send_error(struct wreq *q, int status, const char *code, const char *msg_id,
                       const char *msg_en, const char *extra)
{
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");

    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", strcmp(q->lang, "en") == 0 ? msg_en : msg_id);
    send_json(q, status, o, extra);
}

static const char *const verr_names[] = {
    [VERR_NONE] = "ok", [VERR_REQUIRED] = "required", [VERR_TYPE] = "type",
    [VERR_UNKNOWN_FIELD] = "unknown_field", [VERR_TOO_LONG] = "too_long",
    [VERR_TOO_MANY] = "too_many", [VERR_EMPTY] = "empty", [VERR_UNKNOWN_CODE] = "unknown_code",
    [VERR_OUTSIDE_DISTRICT] = "outside_district", [VERR_COUNT] = "count",
    [VERR_DATE_FORMAT] = "date_format", [VERR_DATE_FUTURE] = "date_future",
    [VERR_DATE_OLD] = "date_old", [VERR_POINT] = "point", [VERR_PHONE] = "phone",
    [VERR_NOT_OFFICER] = "not_officer", [VERR_DUPLICATE] = "duplicate",
    [VERR_CONFLICT] = "conflict", [VERR_SYNTAX] = "syntax", [VERR_ENCODING] = "encoding",
};

/* 422 with the validator's refusal: the field, and why in the officer's
 * language, so the page can show it beside the field. */
static void send_verr(struct wreq *q, const struct verr *e)
{
    cJSON *o = cJSON_CreateObject(), *x = cJSON_AddObjectToObject(o, "error");
    const char *name = (size_t)e->code < sizeof(verr_names) / sizeof(verr_names[0]) &&
                       verr_names[e->code] ? verr_names[e->code] : "invalid";

    cJSON_AddStringToObject(x, "code", name);
    cJSON_AddStringToObject(x, "field", e->field);
    cJSON_AddStringToObject(x, "message", verr_reason(e, q->lang));
    if (e->detail[0])
        cJSON_AddStringToObject(x, "detail", e->detail);
    send_json(q, 422, o, NULL);
}

static void send_store_error(struct wreq *q, int r)
{
    if (r == -EBUSY)
        send_error(q, 503, "busy", "Penyimpanan sedang sibuk; coba lagi.",
                   "The store is busy; try again.", "Retry-After: 2\r\n");
    else
        send_error(q, 500, "store", "Gagal menyimpan; beri tahu dokter hewan kabupaten.",
                   "Could not save; tell the district vet.", NULL);
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
    return "application/octet-stream";
}

static int serve_asset(struct wreq *q)
{
    const char *name = q->r->path + 1;
    const struct embedded_file *f;

    if (strcmp(q->r->path, "/") == 0)
        name = "index.html";
    if (strchr(name, '/'))
        return 0;
    f = embedded_find(web_assets, name);
    if (!f)
        return 0;
    send_body(q, 200, content_type_of(f->name),
              "Content-Security-Policy: default-src 'self'; img-src 'self' data:; "
              "frame-ancestors 'none'; base-uri 'none'; form-action 'self'\r\n",
              f->data, f->len);
    return 1;
}

/* ------------------------------------------------------------------ sessions */

static void read_cookie(struct wreq *q)
{
    const char *cookie = http_header(q->c, "Cookie"), *p;
    size_t n = 0;

    q->token[0] = '\0';
    for (p = cookie; p && (p = strstr(p, "sid=")) != NULL; p += 4) {
        if (p != cookie && p[-1] != ' ' && p[-1] != ';')
            continue;
        p += 4;
        while (n < AUTH_TOKEN_LEN && ((p[n] >= 'A' && p[n] <= 'Z') ||
               (p[n] >= 'a' && p[n] <= 'z') || (p[n] >= '0' && p[n] <= '9') ||
               p[n] == '-' || p[n] == '_'))
            n++;
        if (n == AUTH_TOKEN_LEN && (p[n] == '\0' || p[n] == ';' || p[n] == ' ')) {
            memcpy(q->token, p, n);
            q->token[n] = '\0';
        }
        return;
    }
}

static cJSON *who_json(struct web *w, const struct auth_who *who)
{
    cJSON *o = cJSON_CreateObject(), *of = cJSON_AddObjectToObject(o, "officer");
    cJSON *may = cJSON_AddObjectToObject(o, "may");

    cJSON_AddStringToObject(of, "id", who->officer_id);
    cJSON_AddStringToObject(of, "name", who->name);
    cJSON_AddStringToObject(of, "role", who->role);
    cJSON_AddStringToObject(of, "phone", who->phone);
    if (who->village[0])
        cJSON_AddStringToObject(of, "village", who->village);
    cJSON_AddBoolToObject(may, "read", auth_role_may(who->role, PERM_READ));
    cJSON_AddBoolToObject(may, "case", auth_role_may(who->role, PERM_CASE));
    cJSON_AddBoolToObject(may, "entry", auth_role_may(who->role, PERM_ENTRY));
    cJSON_AddBoolToObject(may, "admin", auth_role_may(who->role, PERM_ADMIN));
    cJSON_AddStringToObject(o, "csrf", who->csrf);
    cJSON_AddStringToObject(o, "district", store_district(w->d->store));
    return o;
}

/* ------------------------------------------------------------------ login */

struct login_job {
    uv_work_t req;
    struct web *w;
    struct http_conn *c;
    const char *lang;
    int known;
    int r;
    struct auth_kdf k;
    char officer_id[UUID_STR_LEN];
    char password[AUTH_PASSWORD_MAX + 1];
    size_t len;
};

static void web_free(struct web *w);

static void login_work(uv_work_t *req)
{
    struct login_job *j = req->data;

    j->r = auth_kdf_derive(&j->k, j->password, j->len);
}

static void login_done(uv_work_t *req, int status)
{
    struct login_job *j = req->data;
    struct web *w = j->w;
    struct store *s = w->d->store;
    struct wreq q = { .w = w, .c = j->c, .lang = j->lang };
    char token[AUTH_TOKEN_LEN + 1], cookie[256];
    int ok = status == 0 && j->r == 0 && j->known && auth_kdf_match(&j->k);
    int r, locked = 0;

    memset(j->password, 0, sizeof(j->password));
    w->kdf_jobs--;
    w->refs--;
    if (ok) {
        r = store_begin(s);
        if (r == 0)
            r = auth_login_ok(s, j->officer_id, w->session_ttl, token);
        if (r == 0)
            r = store_commit(s);
        if (r < 0) {
            store_rollback(s);
            send_store_error(&q, r);
        } else if (auth_session_find(s, token, &q.who) < 0) {
            send_store_error(&q, -EIO);
        } else {
            log_info("web: %s logged in (%s)", q.who.phone, q.who.role);
            snprintf(cookie, sizeof(cookie), "Set-Cookie: sid=%s; Path=/; HttpOnly; "
                     "SameSite=Strict; Max-Age=%u\r\n", token, w->session_ttl);
            send_json(&q, 200, who_json(w, &q.who), cookie);
        }
        memset(token, 0, sizeof(token));
    } else {
        if (j->known) {
            r = store_begin(s);
            if (r == 0)
                locked = auth_login_failed(s, j->officer_id);
            if (r == 0 && locked >= 0)
                r = store_commit(s);
            if (r < 0 || locked < 0)
                store_rollback(s);
            if (locked > 0)
                log_notice("web: account %s locked for %d s after %d failed logins",
                           j->officer_id, AUTH_LOCK_SECONDS, AUTH_LOCK_FAILURES);
        }
        send_error(&q, 401, "login_failed",
                   "Nomor telepon atau kata sandi salah.",
                   "Wrong phone number or password.", NULL);
    }
    http_conn_unref(j->c);
    free(j);
    if (w->refs == 0)
        web_free(w);
}

static void api_login(struct wreq *q, cJSON *doc)
{
    struct web *w = q->w;
    const cJSON *ph = cJSON_GetObjectItemCaseSensitive(doc, "phone");
    const cJSON *pw = cJSON_GetObjectItemCaseSensitive(doc, "password");
    struct auth_account a;
    struct login_job *j;
    char phone[20];
    int r;

    if (!cJSON_IsString(ph) || !cJSON_IsString(pw) ||
        strlen(pw->valuestring) > AUTH_PASSWORD_MAX) {
        send_error(q, 400, "bad_request", "Isi nomor telepon dan kata sandi.",
                   "Give a phone number and a password.", NULL);
        return;
    }
    if (w->kdf_jobs >= WEB_KDF_JOBS_MAX) {
        send_error(q, 503, "busy", "Terlalu banyak login bersamaan; coba lagi.",
                   "Too many logins at once; try again.", "Retry-After: 1\r\n");
        return;
    }
    j = calloc(1, sizeof(*j));
    if (!j) {
        send_store_error(q, -ENOMEM);
        return;
    }
    j->w = w;
    j->c = q->c;
    j->lang = q->lang;
    r = phone_normalize(ph->valuestring, phone) == 0
        ? auth_account_get(w->d->store, phone, &a) : -ENOENT;
    if (r == 0 && auth_hash_parse(a.hash, &j->k) == 0) {
        if (a.locked_until > (int64_t)time(NULL)) {
            char retry[48];
            snprintf(retry, sizeof(retry), "Retry-After: %lld\r\n",
                     (long long)(a.locked_until - (int64_t)time(NULL)));
            free(j);
            send_error(q, 429, "locked",
                       "Akun dikunci sementara karena terlalu banyak percobaan gagal; "
                       "coba lagi nanti.",
                       "The account is locked for a while after too many failed "
                       "logins; try again later.", retry);
            return;
        }
        j->known = 1;
        memcpy(j->officer_id, a.officer_id, sizeof(j->officer_id));
    } else if (r < 0 && r != -ENOENT) {
        free(j);
        send_store_error(q, r);
        return;
    } else {
        auth_kdf_dummy(&j->k);      /* as slow as a real check: phones stay private */
    }
    j->len = strlen(pw->valuestring);
    memcpy(j->password, pw->valuestring, j->len);
    j->req.data = j;
    r = uv_queue_work(w->d->loop, &j->req, login_work, login_done);
    if (r < 0) {
        memset(j->password, 0, sizeof(j->password));
        free(j);
        send_store_error(q, -EIO);
        return;
    }
    w->kdf_jobs++;
    w->refs++;
    http_conn_ref(q->c);
}

static void api_logout(struct wreq *q)
{
    if (q->logged_in)
        (void) auth_session_end(q->w->d->store, q->token);
    send_body(q, 204, "text/plain", "Set-Cookie: sid=; Path=/; HttpOnly; SameSite=Strict; "
              "Max-Age=0\r\n", "", 0);
}

/* ------------------------------------------------------------------ reads */

/* Runs a prepared statement and returns its rows as an array of objects,
 * one key per column name; JSON text columns named "*_json" are parsed. */
static cJSON *rows_json(sqlite3_stmt *st, int *rc_out)
{
    cJSON *arr = cJSON_CreateArray();
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            const char *name = sqlite3_column_name(st, i);
            size_t nl = strlen(name);
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_NULL:
                break;
            case SQLITE_INTEGER:
            case SQLITE_FLOAT:
                cJSON_AddNumberToObject(o, name, sqlite3_column_double(st, i));
                break;
            default:
                if ((nl > 5 && strcmp(name + nl - 5, "_json") == 0) ||
                    strcmp(name, "animals") == 0) {
                    char key[64];
                    snprintf(key, sizeof(key), "%.*s", (int)(nl > 5 && name[nl - 5] == '_'
                             ? nl - 5 : nl), name);
                    cJSON *v = cJSON_Parse((const char *)sqlite3_column_text(st, i));
                    if (v)
                        cJSON_AddItemToObject(o, key, v);
                } else {
                    cJSON_AddStringToObject(o, name, (const char *)sqlite3_column_text(st, i));
                }
            }
        }
        cJSON_AddItemToArray(arr, o);
    }
    sqlite3_reset(st);
    *rc_out = rc;
    return arr;
}

static void send_rows(struct wreq *q, sqlite3_stmt *st)
{
    int rc;
    cJSON *arr = rows_json(st, &rc);

    if (rc != SQLITE_DONE) {
        cJSON_Delete(arr);
        send_store_error(q, store_error(q->w->d->store, rc));
        return;
    }
    send_json(q, 200, arr, NULL);
}

static void api_codes(struct wreq *q)
{
    sqlite3_stmt *st = store_stmt(q->w->d->store,
        "SELECT list, code, label_id, label_en, parent FROM code_list WHERE active = 1"
        " ORDER BY list, code");
    cJSON *o = cJSON_CreateObject();
    int rc;

    if (!st) {
        cJSON_Delete(o);
        send_store_error(q, -EIO);
        return;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *list = (const char *)sqlite3_column_text(st, 0);
        cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, list), *e = cJSON_CreateObject();
        if (!arr)
            arr = cJSON_AddArrayToObject(o, list);
        cJSON_AddStringToObject(e, "code", (const char *)sqlite3_column_text(st, 1));
        cJSON_AddStringToObject(e, "id", (const char *)sqlite3_column_text(st, 2));
        cJSON_AddStringToObject(e, "en", (const char *)sqlite3_column_text(st, 3));
        if (sqlite3_column_type(st, 4) != SQLITE_NULL)
            cJSON_AddStringToObject(e, "parent", (const char *)sqlite3_column_text(st, 4));
        cJSON_AddItemToArray(arr, e);
    }
    sqlite3_reset(st);
    send_json(q, 200, o, NULL);
}

static void api_areas(struct wreq *q)
{
    sqlite3_stmt *st = store_stmt(q->w->d->store,
        "SELECT code, name FROM area WHERE parent_code = ?1 AND substr(code, 1, 4) = ?2"
        " ORDER BY name");
    char parent[16];

    if (http_query_get(q->r->query, "parent", parent, sizeof(parent)) < 0)
        snprintf(parent, sizeof(parent), "%s", store_district(q->w->d->store));
    if (!st) {
        send_store_error(q, -EIO);
        return;
    }
    sqlite3_bind_text(st, 1, parent, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, store_district(q->w->d->store), -1, SQLITE_STATIC);
    send_rows(q, st);
}

/* A record's sync state, from the outbox: a refused change means
 * "rejected", a queued one "queued", none "synced". */
#define SYNC_STATE(t) \
    "CASE WHEN EXISTS (SELECT 1 FROM outbox o WHERE o.row_id = " t ".id AND o.state = 2)" \
    " THEN 'rejected' WHEN EXISTS (SELECT 1 FROM outbox o WHERE o.row_id = " t ".id" \
    " AND o.state = 0) THEN 'queued' ELSE 'synced' END AS sync," \
    " (SELECT o.error FROM outbox o WHERE o.row_id = " t ".id AND o.state = 2" \
    " ORDER BY o.seq DESC LIMIT 1) AS sync_error"

static int query_limit(struct wreq *q, int def, int max)
{
    char buf[16];
    int n = def;

    if (http_query_get(q->r->query, "limit", buf, sizeof(buf)) > 0)
        n = atoi(buf);
    return n < 1 ? def : n > max ? max : n;
}

static void api_reports_list(struct wreq *q)
{
    sqlite3_stmt *st = store_stmt(q->w->d->store,
        "SELECT c.id, c.ref, c.kind, c.village, a.name AS village_name, c.syndrome,"
        " c.signs AS signs_json, c.animals AS animals_json, c.ddx AS ddx_json, c.event_date,"
        " c.reporter, c.note, sk_y(c.geom) AS lat, sk_x(c.geom) AS lon, c.created_at, "
        SYNC_STATE("c")
        " FROM case_report c LEFT JOIN area a ON a.code = c.village"
        " WHERE c.deleted = 0 AND (?1 IS NULL OR instr(c.ref, ?1) > 0)"
        " ORDER BY c.hlc DESC LIMIT ?2");
    char ref[32];

    if (!st) {
        send_store_error(q, -EIO);
        return;
    }
    if (http_query_get(q->r->query, "q", ref, sizeof(ref)) > 0)
        sqlite3_bind_text(st, 1, ref, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, query_limit(q, 50, 500));
    send_rows(q, st);
}

/* ------------------------------------------------------------------ writes */

static const char *msg(struct wreq *q, const char *id, const char *en)
{
    return strcmp(q->lang, "en") == 0 ? en : id;
}

static void enqueue(struct wreq *q, const struct kind_def *kind, const void *in, size_t size);

static void api_reports_add(struct wreq *q, cJSON *doc)
{
    struct daemon *d = q->w->d;
    struct case_report_in in;
    struct verr e;

    if (validate_case_report(d->validator, doc, &in, &e) < 0) {
        send_verr(q, &e);
        return;
    }
    if (strcmp(q->who.role, "reporter") == 0) {
        if (strcmp(in.village, q->who.village) != 0) {
            cJSON *x = cJSON_CreateObject(), *err = cJSON_AddObjectToObject(x, "error");
            cJSON_AddStringToObject(err, "code", "not_own_village");
            cJSON_AddStringToObject(err, "field", "village");
            cJSON_AddStringToObject(err, "message",
                msg(q, "pelapor desa hanya boleh melapor untuk desanya sendiri",
                    "a village reporter may report only for their own village"));
            send_json(q, 403, x, NULL);
            return;
        }
        snprintf(in.reporter, sizeof(in.reporter), "%s", q->who.phone);
    } else if (!in.reporter[0]) {
        snprintf(in.reporter, sizeof(in.reporter), "%s", q->who.phone);
    }
    enqueue(q, NULL, &in, sizeof(in));
}

/* ------------------------------------------------------------------ dashboard and map */

static void add_count(struct wreq *q, cJSON *o, const char *key, const char *sql)
{
    sqlite3_stmt *st = store_stmt(q->w->d->store, sql);
    double n = -1;

    if (st && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_double(st, 0);
    if (st)
        sqlite3_reset(st);
    cJSON_AddNumberToObject(o, key, n);
}

static void api_dashboard(struct wreq *q)
{
    struct store *s = q->w->d->store;
    cJSON *o = cJSON_CreateObject();
    sqlite3_stmt *st;
    char monday[16] = "", ok[40] = "", err_at[40] = "", err[200] = "";
    int rc;

    /* the week runs Monday to Sunday in WIB (UTC+7), where most districts are */
    st = store_stmt(s, "SELECT date('now', '+7 hours', '-6 days', 'weekday 1')");
    if (st && sqlite3_step(st) == SQLITE_ROW)
        snprintf(monday, sizeof(monday), "%s", (const char *)sqlite3_column_text(st, 0));
    if (st)
        sqlite3_reset(st);
    cJSON_AddStringToObject(o, "week_start", monday);

    st = store_stmt(s,
        "SELECT coalesce(c.syndrome, '') AS code, count(*) AS reports,"
        " l.label_id, l.label_en FROM case_report c"
        " LEFT JOIN code_list l ON l.list = 'syndrome' AND l.code = c.syndrome"
        " WHERE c.deleted = 0 AND c.event_date >= ?1 GROUP BY 1 ORDER BY 2 DESC");
    if (st) {
        sqlite3_bind_text(st, 1, monday, -1, SQLITE_TRANSIENT);
        cJSON_AddItemToObject(o, "by_syndrome", rows_json(st, &rc));
    }
    st = store_stmt(s,
        "SELECT json_extract(j.value, '$.species') AS code, count(*) AS reports,"
        " sum(json_extract(j.value, '$.sick')) AS sick,"
        " sum(json_extract(j.value, '$.dead')) AS dead, l.label_id, l.label_en"
        " FROM case_report c, json_each(c.animals) j"
        " LEFT JOIN code_list l ON l.list = 'species' AND l.code = json_extract(j.value, '$.species')"
        " WHERE c.deleted = 0 AND c.event_date >= ?1 GROUP BY 1 ORDER BY 2 DESC");
    if (st) {
        sqlite3_bind_text(st, 1, monday, -1, SQLITE_TRANSIENT);
        cJSON_AddItemToObject(o, "by_species", rows_json(st, &rc));
    }
    add_count(q, o, "outbox", "SELECT count(*) FROM outbox WHERE state = 0");
    add_count(q, o, "rejected", "SELECT count(*) FROM outbox WHERE state = 2");
    add_count(q, o, "reports_total", "SELECT count(*) FROM case_report WHERE deleted = 0");
    (void) store_meta_get(s, "last_sync_ok", ok, sizeof(ok));
    (void) store_meta_get(s, "last_error_at", err_at, sizeof(err_at));
    (void) store_meta_get(s, "last_error", err, sizeof(err));
    if (ok[0])
        cJSON_AddStringToObject(o, "last_sync", ok);
    else
        cJSON_AddNullToObject(o, "last_sync");
    /* the link: up when the last round went through after the last error */
    if (!ok[0] && !err_at[0])
        cJSON_AddStringToObject(o, "link", "never");
    else if (err_at[0] && strcmp(err_at, ok) > 0)
        cJSON_AddStringToObject(o, "link", "down");
    else
        cJSON_AddStringToObject(o, "link", "up");
    if (err_at[0] && strcmp(err_at, ok) > 0)
        cJSON_AddStringToObject(o, "last_error", err);
    send_json(q, 200, o, NULL);
}

/* GeoJSON of this district's case reports with a point, newest first. */
static void api_map(struct wreq *q)
{
    sqlite3_stmt *st = store_stmt(q->w->d->store,
        "SELECT c.ref, c.kind, c.syndrome, c.event_date, c.village, a.name,"
        " sk_x(c.geom), sk_y(c.geom), " SYNC_STATE("c")
        " FROM case_report c LEFT JOIN area a ON a.code = c.village"
        " WHERE c.deleted = 0 AND c.geom IS NOT NULL AND c.event_date >= date('now', ?1)"
        " ORDER BY c.hlc DESC LIMIT 5000");
    cJSON *fc = cJSON_CreateObject(), *feats;
    char days[8], mod[24];
    int rc, n = 90;

    if (http_query_get(q->r->query, "days", days, sizeof(days)) > 0 && atoi(days) > 0)
        n = atoi(days) > 3660 ? 3660 : atoi(days);
    snprintf(mod, sizeof(mod), "-%d days", n);
    cJSON_AddStringToObject(fc, "type", "FeatureCollection");
    feats = cJSON_AddArrayToObject(fc, "features");
    if (!st) {
        cJSON_Delete(fc);
        send_store_error(q, -EIO);
        return;
    }
    sqlite3_bind_text(st, 1, mod, -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *f = cJSON_CreateObject(), *g, *p;
        double xy[2] = { sqlite3_column_double(st, 6), sqlite3_column_double(st, 7) };
        cJSON_AddStringToObject(f, "type", "Feature");
        g = cJSON_AddObjectToObject(f, "geometry");
        cJSON_AddStringToObject(g, "type", "Point");
        cJSON_AddItemToObject(g, "coordinates", cJSON_CreateDoubleArray(xy, 2));
        p = cJSON_AddObjectToObject(f, "properties");
        cJSON_AddStringToObject(p, "ref", (const char *)sqlite3_column_text(st, 0));
        cJSON_AddStringToObject(p, "kind", (const char *)sqlite3_column_text(st, 1));
        if (sqlite3_column_type(st, 2) != SQLITE_NULL)
            cJSON_AddStringToObject(p, "syndrome", (const char *)sqlite3_column_text(st, 2));
        cJSON_AddStringToObject(p, "event_date", (const char *)sqlite3_column_text(st, 3));
        cJSON_AddStringToObject(p, "village", (const char *)sqlite3_column_text(st, 4));
        if (sqlite3_column_type(st, 5) != SQLITE_NULL)
            cJSON_AddStringToObject(p, "village_name", (const char *)sqlite3_column_text(st, 5));
        cJSON_AddStringToObject(p, "sync", (const char *)sqlite3_column_text(st, 8));
        cJSON_AddItemToArray(feats, f);
    }
    sqlite3_reset(st);
    send_json(q, 200, fc, NULL);
}

/* ------------------------------------------------------------------ other record kinds */

/* The API's JSON for the other kinds is read into the validators' C
 * structs (validate.h), field by field: a key must be known, of the right
 * JSON type and fit its buffer; everything else is the validator's job. */
enum jtype { J_STR, J_INT, J_YESNO, J_HERD, J_CASE_REF };

struct jspec {
    const char *name;
    enum jtype type;
    size_t off;                 /* the field in the struct */
    size_t cap;                 /* J_STR: buffer size; J_HERD: offset of the count */
    int required;               /* J_INT: must be given */
    const char *const *counts;  /* J_HERD: names of n[] */
    int n_counts;
};

static int jfail(struct verr *e, enum verr_code c, const char *field, const char *detail)
{
    e->code = c;
    snprintf(e->field, sizeof(e->field), "%s", field);
    snprintf(e->detail, sizeof(e->detail), "%s", detail ? detail : "");
    return -EINVAL;
}

static int herd_decode(const cJSON *arr, const struct jspec *sp, struct herd_count *out,
                       int *n_out, struct verr *e)
{
    const cJSON *it, *f;
    char name[48];
    int n = 0;

    if (!cJSON_IsArray(arr))
        return jfail(e, VERR_TYPE, sp->name, "array of {species, counts}");
    cJSON_ArrayForEach(it, arr) {
        if (n >= V_MAX_ANIMALS)
            return jfail(e, VERR_TOO_MANY, sp->name, NULL);
        snprintf(name, sizeof(name), "%s[%d]", sp->name, n);
        if (!cJSON_IsObject(it))
            return jfail(e, VERR_TYPE, name, "object");
        memset(&out[n], 0, sizeof(out[n]));
        cJSON_ArrayForEach(f, it) {
            int k;
            snprintf(name, sizeof(name), "%s[%d].%s", sp->name, n, f->string);
            if (strcmp(f->string, "species") == 0) {
                if (!cJSON_IsString(f))
                    return jfail(e, VERR_TYPE, name, "string");
                if (strlen(f->valuestring) >= sizeof(out[n].species))
                    return jfail(e, VERR_UNKNOWN_CODE, name, f->valuestring);
                memcpy(out[n].species, f->valuestring, strlen(f->valuestring) + 1);
                continue;
            }
            for (k = 0; k < sp->n_counts; k++)
                if (strcmp(f->string, sp->counts[k]) == 0)
                    break;
            if (k == sp->n_counts)
                return jfail(e, VERR_UNKNOWN_FIELD, name, NULL);
            if (!cJSON_IsNumber(f) || f->valuedouble < 0 || f->valuedouble > V_COUNT_MAX ||
                f->valuedouble != (double)(int64_t)f->valuedouble)
                return jfail(e, VERR_COUNT, name, NULL);
            out[n].n[k] = (int64_t)f->valuedouble;
        }
        if (!out[n].species[0]) {
            snprintf(name, sizeof(name), "%s[%d].species", sp->name, n);
            return jfail(e, VERR_REQUIRED, name, NULL);
        }
        n++;
    }
    *n_out = n;
    return 0;
}

/* Fills the struct at out from doc by spec. */
static int json_decode(struct store *s, const cJSON *doc, const struct jspec *spec, size_t n_spec,
                       void *out, struct verr *e)
{
    const cJSON *f;
    char *base = out;

    memset(e, 0, sizeof(*e));
    cJSON_ArrayForEach(f, doc) {
        size_t k;
        for (k = 0; k < n_spec; k++)
            if (strcmp(f->string, spec[k].name) == 0)
                break;
        if (k == n_spec)
            return jfail(e, VERR_UNKNOWN_FIELD, f->string, NULL);
    }
    for (size_t k = 0; k < n_spec; k++) {
        const struct jspec *sp = &spec[k];
        int r;
        f = cJSON_GetObjectItemCaseSensitive(doc, sp->name);
        switch (sp->type) {
        case J_STR:
        case J_CASE_REF:
            if (!f || cJSON_IsNull(f))
                break;
            if (!cJSON_IsString(f))
                return jfail(e, VERR_TYPE, sp->name, "string");
            if (sp->type == J_CASE_REF) {
                if (!f->valuestring[0])
                    break;
                r = case_report_by_ref(s, f->valuestring, base + sp->off);
                if (r == -ENOENT)
                    return jfail(e, VERR_UNKNOWN_CODE, sp->name, f->valuestring);
                if (r < 0)
                    return r;
                break;
            }
            if (strlen(f->valuestring) >= sp->cap)
                return jfail(e, VERR_TOO_LONG, sp->name, NULL);
            memcpy(base + sp->off, f->valuestring, strlen(f->valuestring) + 1);
            break;
        case J_INT:
            if (!f || cJSON_IsNull(f)) {
                if (sp->required)
                    return jfail(e, VERR_REQUIRED, sp->name, NULL);
                break;
            }
            if (!cJSON_IsNumber(f) || f->valuedouble < 0 || f->valuedouble > V_COUNT_MAX ||
                f->valuedouble != (double)(int64_t)f->valuedouble)
                return jfail(e, VERR_COUNT, sp->name, NULL);
            *(int64_t *)(void *)(base + sp->off) = (int64_t)f->valuedouble;
            break;
        case J_YESNO:
            *(int *)(void *)(base + sp->off) = -1;
            if (!f || cJSON_IsNull(f))
                break;
            if (!cJSON_IsBool(f))
                return jfail(e, VERR_TYPE, sp->name, "true or false");
            *(int *)(void *)(base + sp->off) = cJSON_IsTrue(f);
            break;
        case J_HERD:
            if (!f)
                break;      /* the validator says whether animals are required */
            r = herd_decode(f, sp, (struct herd_count *)(void *)(base + sp->off),
                            (int *)(void *)(base + sp->cap), e);
            if (r < 0)
                return r;
            break;
        }
    }
    return 0;
}

#define JS(st, name, field) { name, J_STR, offsetof(struct st, field), \
                              sizeof(((struct st *)0)->field), 0, NULL, 0 }
#define JI(st, name, field) { name, J_INT, offsetof(struct st, field), 0, 1, NULL, 0 }
#define JH(st, names) { "animals", J_HERD, offsetof(struct st, animals), \
                        offsetof(struct st, n_animals), 0, names, \
                        (int)(sizeof(names) / sizeof(names[0])) }

static const char *const fu_counts[] = { "sick", "dead", "culled", "at_risk" };
static const char *const vac_counts[] = { "primary", "booster" };
static const char *const n_counts[] = { "n" };

static const struct jspec followup_spec[] = {
    { "case_ref", J_CASE_REF, offsetof(struct followup_in, case_id), 0, 0, NULL, 0 },
    JS(followup_in, "outcome", outcome), JH(followup_in, fu_counts),
    { "escalate", J_YESNO, offsetof(struct followup_in, escalate), 0, 0, NULL, 0 },
    JS(followup_in, "event_date", event_date), JS(followup_in, "reporter", reporter),
};
static const struct jspec vaccination_spec[] = {
    JS(vaccination_in, "program", program), JS(vaccination_in, "village", village),
    JH(vaccination_in, vac_counts), JS(vaccination_in, "event_date", event_date),
    JS(vaccination_in, "reporter", reporter),
};
static const struct jspec population_spec[] = {
    JS(population_in, "village", village), JH(population_in, n_counts),
    JS(population_in, "event_date", event_date), JS(population_in, "reporter", reporter),
};
static const struct jspec permit_spec[] = {
    JS(permit_in, "owner_id", owner_id), JS(permit_in, "owner_phone", owner_phone),
    JS(permit_in, "from_area", from_area), JS(permit_in, "to_area", to_area),
    JH(permit_in, n_counts), JS(permit_in, "issue_date", issue_date),
    JS(permit_in, "reporter", reporter),
};
static const struct jspec treatment_spec[] = {
    { "case_ref", J_CASE_REF, offsetof(struct treatment_in, case_id), 0, 0, NULL, 0 },
    JS(treatment_in, "village", village), JS(treatment_in, "species", species),
    JS(treatment_in, "drug", drug), JI(treatment_in, "n_animals", n_animals),
    JS(treatment_in, "event_date", event_date), JS(treatment_in, "reporter", reporter),
    JS(treatment_in, "note", note),
};
static const struct jspec slaughter_spec[] = {
    JS(slaughter_in, "abattoir", abattoir), JS(slaughter_in, "village", village),
    JS(slaughter_in, "species", species), JI(slaughter_in, "n_animals", n_animals),
    JS(slaughter_in, "event_date", event_date), JS(slaughter_in, "reporter", reporter),
    JS(slaughter_in, "note", note),
};

/* One wrapper pair per kind: the validator and the insert of that kind. */
static int followup_save(struct daemon *d, void *in, struct verr *e, char id[UUID_STR_LEN],
                         char ref[24], int phase)
{
    (void) ref;
    return phase == 0 ? validate_followup(d->validator, in, e) : followup_insert(d->store, in, id);
}
static int vaccination_save(struct daemon *d, void *in, struct verr *e, char id[UUID_STR_LEN],
                            char ref[24], int phase)
{
    (void) ref;
    return phase == 0 ? validate_vaccination(d->validator, in, e)
                      : vaccination_insert(d->store, in, id);
}
static int population_save(struct daemon *d, void *in, struct verr *e, char id[UUID_STR_LEN],
                           char ref[24], int phase)
{
    (void) ref;
    return phase == 0 ? validate_population(d->validator, in, e)
                      : population_insert(d->store, in, id);
}
static int permit_save(struct daemon *d, void *in, struct verr *e, char id[UUID_STR_LEN],
                       char ref[24], int phase)
{
    return phase == 0 ? validate_permit(d->validator, in, e) : permit_insert(d->store, in, id, ref);
}
static int treatment_save(struct daemon *d, void *in, struct verr *e, char id[UUID_STR_LEN],
                          char ref[24], int phase)
{
    (void) ref;
    return phase == 0 ? validate_treatment(d->validator, in, e)
                      : treatment_insert(d->store, in, id);
}
static int slaughter_save(struct daemon *d, void *in, struct verr *e, char id[UUID_STR_LEN],
                          char ref[24], int phase)
{
    (void) ref;
    return phase == 0 ? validate_slaughter(d->validator, in, e)
                      : slaughter_insert(d->store, in, id);
}

#define LIST_SQL(t) "SELECT t.*, " SYNC_STATE("t") " FROM " t " t WHERE t.deleted = 0" \
                    " ORDER BY t.hlc DESC LIMIT ?1"

struct kind_def {
    const char *list_sql;
    const struct jspec *spec;
    size_t n_spec;
    size_t size;                /* of the C struct */
    size_t reporter_off;        /* char[20] */
    int (*save)(struct daemon *d, void *in, struct verr *e, char id[UUID_STR_LEN],
                char ref[24], int phase);  /* phase 0 validates, 1 inserts */
};

#define KIND(st, table, spec, fn) { LIST_SQL(table), spec, sizeof(spec) / sizeof(spec[0]), \
    sizeof(struct st), offsetof(struct st, reporter), fn }

static const struct kind_def k_followup =
    KIND(followup_in, "case_followup", followup_spec, followup_save);
static const struct kind_def k_vaccination =
    KIND(vaccination_in, "vaccination", vaccination_spec, vaccination_save);
static const struct kind_def k_treatment =
    KIND(treatment_in, "treatment", treatment_spec, treatment_save);
static const struct kind_def k_movement =
    KIND(permit_in, "movement_permit", permit_spec, permit_save);
static const struct kind_def k_slaughter =
    KIND(slaughter_in, "slaughter_report", slaughter_spec, slaughter_save);
static const struct kind_def k_population =
    KIND(population_in, "population_report", population_spec, population_save);

static void api_kind_list(struct wreq *q);
static void api_kind_add(struct wreq *q, cJSON *doc);

/* ------------------------------------------------------------------ routing */

enum route_kind { R_GET, R_POST };

struct route {
    enum route_kind kind;
    const char *path;
    int perm;                   /* -1: no session needed */
    void (*get)(struct wreq *q);
    void (*post)(struct wreq *q, cJSON *doc);
    const struct kind_def *rec; /* the other record kinds */
};

static void api_session(struct wreq *q)
{
    send_json(q, 200, who_json(q->w, &q->who), NULL);
}

static const struct route routes[] = {
    { R_POST, "/api/v1/login",     -1,         NULL,             api_login, NULL },
    { R_POST, "/api/v1/logout",    PERM_READ,  NULL,             NULL, NULL },
    { R_GET,  "/api/v1/session",   PERM_READ,  api_session,      NULL, NULL },
    { R_GET,  "/api/v1/codes",     PERM_READ,  api_codes,        NULL, NULL },
    { R_GET,  "/api/v1/areas",     PERM_READ,  api_areas,        NULL, NULL },
    { R_GET,  "/api/v1/reports",   PERM_READ,  api_reports_list, NULL, NULL },
    { R_POST, "/api/v1/reports",   PERM_CASE,  NULL,             api_reports_add, NULL },
    { R_GET,  "/api/v1/dashboard", PERM_READ,  api_dashboard,    NULL, NULL },
    { R_GET,  "/api/v1/map",       PERM_READ,  api_map,          NULL, NULL },
    { R_GET,  "/api/v1/followups",    PERM_READ,  api_kind_list, NULL, &k_followup },
    { R_POST, "/api/v1/followups",    PERM_ENTRY, NULL, api_kind_add,  &k_followup },
    { R_GET,  "/api/v1/vaccinations", PERM_READ,  api_kind_list, NULL, &k_vaccination },
    { R_POST, "/api/v1/vaccinations", PERM_ENTRY, NULL, api_kind_add,  &k_vaccination },
    { R_GET,  "/api/v1/treatments",   PERM_READ,  api_kind_list, NULL, &k_treatment },
    { R_POST, "/api/v1/treatments",   PERM_ENTRY, NULL, api_kind_add,  &k_treatment },
    { R_GET,  "/api/v1/movements",    PERM_READ,  api_kind_list, NULL, &k_movement },
    { R_POST, "/api/v1/movements",    PERM_ENTRY, NULL, api_kind_add,  &k_movement },
    { R_GET,  "/api/v1/slaughters",   PERM_READ,  api_kind_list, NULL, &k_slaughter },
    { R_POST, "/api/v1/slaughters",   PERM_ENTRY, NULL, api_kind_add,  &k_slaughter },
    { R_GET,  "/api/v1/populations",  PERM_READ,  api_kind_list, NULL, &k_population },
    { R_POST, "/api/v1/populations",  PERM_ENTRY, NULL, api_kind_add,  &k_population },
};

/* The validators name the record's columns; the API takes a case by its
 * reference, so a refusal of case_id is one of case_ref. */
static void api_field_name(struct verr *e)
{
    if (strcmp(e->field, "case_id") == 0)
        snprintf(e->field, sizeof(e->field), "case_ref");
}

static void api_kind_list(struct wreq *q)
{
    sqlite3_stmt *st = store_stmt(q->w->d->store, q->rt->rec->list_sql);

    if (!st) {
        send_store_error(q, -EIO);
        return;
    }
    sqlite3_bind_int(st, 1, query_limit(q, 50, 500));
    send_rows(q, st);
}

static void api_kind_add(struct wreq *q, cJSON *doc)
{
    const struct kind_def *k = q->rt->rec;
    struct daemon *d = q->w->d;
    char id[UUID_STR_LEN], ref[24] = "";
    struct verr e;
    void *in = calloc(1, k->size);
    char *reporter;
    int r;

    if (!in) {
        send_store_error(q, -ENOMEM);
        return;
    }
    r = json_decode(d->store, doc, k->spec, k->n_spec, in, &e);
    if (r == 0) {
        reporter = (char *)in + k->reporter_off;
        if (!reporter[0])
            snprintf(reporter, 20, "%s", q->who.phone);
        r = k->save(d, in, &e, id, ref, 0);
        api_field_name(&e);
    }
    if (r == -EINVAL)
        send_verr(q, &e);
    else if (r < 0)
        send_store_error(q, r);
    else
        enqueue(q, k, in, k->size);
    free(in);
}

int web_record_check(struct daemon *d, const char *path, const char *body, size_t len,
                     struct verr *e)
{
    const struct route *rt = NULL;
    cJSON *doc;
    int r;

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (routes[i].kind == R_POST && strcmp(routes[i].path, path) == 0 &&
            (routes[i].rec || routes[i].post == api_reports_add))
            rt = &routes[i];
    if (!rt)
        return -ENOENT;
    memset(e, 0, sizeof(*e));
    doc = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        e->code = VERR_SYNTAX;
        snprintf(e->field, sizeof(e->field), "body");
        return -EINVAL;
    }
    if (rt->rec) {
        char id[UUID_STR_LEN], ref[24];
        void *in = calloc(1, rt->rec->size);
        r = in ? json_decode(d->store, doc, rt->rec->spec, rt->rec->n_spec, in, e) : -ENOMEM;
        if (r == 0)
            r = rt->rec->save(d, in, e, id, ref, 0);
        api_field_name(e);
        free(in);
    } else {
        struct case_report_in *in = malloc(sizeof(*in));
        r = in ? validate_case_report(d->validator, doc, in, e) : -ENOMEM;
        free(in);
    }
    cJSON_Delete(doc);
    return r;
}

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

static void dispatch(struct wreq *q)
{
    const struct http_req *r = q->r;
    int get = strcmp(r->method, "GET") == 0 || r->is_head;
    int post = strcmp(r->method, "POST") == 0;
    const struct route *rt = NULL;
    int path_known = 0;
    cJSON *doc = NULL;

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(routes[i].path, r->path) != 0)
            continue;
        path_known = 1;
        if ((routes[i].kind == R_GET && get) || (routes[i].kind == R_POST && post))
            rt = &routes[i];
    }
    q->rt = rt;
    if (!rt) {
        if (path_known)
            send_error(q, 405, "method", "Metode tidak diizinkan.", "Method not allowed.", NULL);
        else if (!(get && strncmp(r->path, "/api/", 5) != 0 && serve_asset(q)))
            send_error(q, 404, "not_found", "Tidak ditemukan.", "Not found.", NULL);
        return;
    }
    read_cookie(q);
    if (q->token[0] && auth_session_find(q->w->d->store, q->token, &q->who) == 0)
        q->logged_in = 1;
    if (rt->perm >= 0 && !q->logged_in) {
        send_error(q, 401, "login_required", "Silakan masuk dulu.", "Please log in first.", NULL);
        return;
    }
    if (post) {
        if (!same_origin(q)) {
            send_error(q, 403, "origin", "Permintaan dari situs lain ditolak.",
                       "Requests from another site are refused.", NULL);
            return;
        }
        if (rt->perm >= 0) {
            const char *t = http_header(q->c, "X-CSRF-Token");
            if (!t || !auth_equal(t, q->who.csrf)) {
                log_info("web: %s: %s %s without a valid CSRF token", r->peer, r->method, r->path);
                send_error(q, 403, "csrf", "Token formulir tidak sah; muat ulang halaman.",
                           "The form's token is not valid; reload the page.", NULL);
                return;
            }
        }
    }
    if (rt->perm >= 0 && !auth_role_may(q->who.role, (enum auth_perm)rt->perm)) {
        send_error(q, 403, "forbidden", "Peran Anda tidak boleh melakukan ini.",
                   "Your role may not do this.", NULL);
        return;
    }
    if (!rt->post && !rt->get) {        /* logout */
        api_logout(q);
        return;
    }
    if (rt->kind == R_GET) {
        rt->get(q);
        return;
    }
    if (!is_json(q)) {
        send_error(q, 415, "content_type", "Kirim JSON (application/json).",
                   "Send JSON (application/json).", NULL);
        return;
    }
    doc = cJSON_ParseWithLength(r->body, r->body_len);
    if (!doc || !cJSON_IsObject(doc)) {
        struct verr e = { .code = VERR_SYNTAX };
        snprintf(e.field, sizeof(e.field), "body");
        cJSON_Delete(doc);
        send_verr(q, &e);
        return;
    }
    rt->post(q, doc);
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

/* ------------------------------------------------------------------ group commit */

/* Validated records wait here; the idle handle runs once per loop turn,
 * after the turn's reads were handled, and commits them all in one
 * transaction (synchronous=FULL: one fsync for the lot). Each record is
 * answered only after that commit, so "saved" still means on disk. A
 * record that fails alone is rolled back to its savepoint and refused. */
static void on_flush(uv_idle_t *h);

static void enqueue(struct wreq *q, const struct kind_def *kind, const void *in, size_t size)
{
    struct web *w = q->w;
    struct pending *p = calloc(1, sizeof(*p));

    if (p)
        p->in = malloc(size);
    if (!p || !p->in) {
        free(p);
        send_store_error(q, -ENOMEM);
        return;
    }
    memcpy(p->in, in, size);
    p->c = q->c;
    p->lang = q->lang;
    p->kind = kind;
    http_conn_ref(q->c);
    *w->tail = p;
    w->tail = &p->next;
    if (w->queued++ == 0)
        uv_idle_start(&w->flush, on_flush);
}

static void flush_queue(struct web *w)
{
    struct daemon *d = w->d;
    struct store *s = d->store;
    struct pending *list = w->queue, *p, *next;
    sqlite3 *db = store_db(s);
    int r, saved = 0;

    w->queue = NULL;
    w->tail = &w->queue;
    w->queued = 0;
    uv_idle_stop(&w->flush);
    if (!list)
        return;
    r = store_begin(s);
    for (p = list; p && r == 0; p = p->next) {
        char id[UUID_STR_LEN], ref[24] = "";
        struct verr e;
        int rr;

        if (sqlite3_exec(db, "SAVEPOINT rec", NULL, NULL, NULL) != SQLITE_OK) {
            r = -EIO;
            break;
        }
        rr = p->kind ? p->kind->save(d, p->in, &e, id, ref, 1)
                     : case_report_insert(s, p->in, id, ref);
        if (rr < 0) {
            sqlite3_exec(db, "ROLLBACK TO rec", NULL, NULL, NULL);
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "id", id);
            if (ref[0])
                cJSON_AddStringToObject(o, "ref", ref);
            cJSON_AddStringToObject(o, "sync", "queued");
            free(p->in);
            p->in = o;          /* now the answer */
            p->lang = NULL;     /* marks success */
            saved++;
        }
        sqlite3_exec(db, "RELEASE rec", NULL, NULL, NULL);
    }
    if (r == 0)
        r = store_commit(s);
    if (r < 0)
        store_rollback(s);
    for (p = list; p; p = next) {
        struct wreq q = { .w = w, .c = p->c, .lang = p->lang ? p->lang : "id" };
        next = p->next;
        if (!p->lang && r == 0)
            send_json(&q, 201, p->in, NULL);
        else {
            if (!p->lang)
                cJSON_Delete(p->in);
            else
                free(p->in);
            send_store_error(&q, r < 0 ? r : -EIO);
        }
        http_conn_unref(p->c);
        free(p);
    }
    if (r == 0 && saved)
        daemon_changed(d);
}

static void on_flush(uv_idle_t *h)
{
    flush_queue(h->data);
}

/* ------------------------------------------------------------------ module */

int web_parse_listen(const char *s, char *host, size_t cap, int *port)
{
    const char *colon = strrchr(s, ':'), *h = s;
    size_t hl;
    char *end;
    long p;

    if (!colon)
        return -EINVAL;
    hl = (size_t)(colon - s);
    if (s[0] == '[') {
        if (hl < 2 || s[hl - 1] != ']')
            return -EINVAL;
        h = s + 1;
        hl -= 2;
    }
    if (hl == 0 || hl >= cap)
        return -EINVAL;
    p = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || p < 0 || p > 65535)
        return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

static void web_free(struct web *w)
{
    if (w->d && w->d->web == w)
        w->d->web = NULL;
    free(w);
}

static void flush_closed(uv_handle_t *h)
{
    struct web *w = h->data;

    if (--w->refs == 0)
        web_free(w);
}

static int web_start(struct daemon *d)
{
    struct http_limits lim = {
        .body_max = WEB_BODY_MAX,
        .max_connections = d->cfg->web_max_connections,
        .idle_timeout_ms = d->cfg->web_idle_timeout_s * 1000,
        .max_per_addr = d->cfg->web_max_conns_per_addr,
        .first_request_ms = d->cfg->web_first_request_s * 1000,
        .request_timeout_ms = 15000,
    };
    struct web *w;
    char host[64];
    int port, r;

    if (!d->listen)
        return 0;
    if (web_parse_listen(d->listen, host, sizeof(host), &port) < 0)
        return log_errno(LOG_ERR, -EINVAL, "web: --listen '%s': give HOST:PORT, e.g. "
                         "127.0.0.1:8080 or 0.0.0.0:80", d->listen);
    w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->d = d;
    w->session_ttl = d->cfg->web_session_ttl_s;
    w->tail = &w->queue;
    r = http_server_start(d->loop, host, port, &lim, on_request, w, &w->srv);
    if (r < 0) {
        free(w);
        return r;
    }
    uv_idle_init(d->loop, &w->flush);
    w->flush.data = w;
    w->refs = 1;
    d->web = w;
    log_notice("listening on http://%s%s%s:%d", strchr(host, ':') ? "[" : "", host,
               strchr(host, ':') ? "]" : "", http_server_port(w->srv));
    return 0;
}

static void web_stop(struct daemon *d)
{
    struct web *w = d->web;

    if (!w)
        return;
    flush_queue(w);             /* what was validated is saved and answered */
    http_server_stop(w->srv);
    w->srv = NULL;
    w->stopping = 1;
    d->web = NULL;
    uv_close((uv_handle_t *)&w->flush, flush_closed);
}

const struct daemon_module web_module = { "web", web_start, web_stop };
