/* web.c - the officers' web pages and the JSON API (docs/api.md) on the
 * daemon's loop. Pages are static files compiled into the binary; they talk
 * to the API only. Every write goes through the one validator
 * (validate.h), access_check() (access.h) and the records module, in a
 * short transaction on the loop thread's store connection; logins are in
 * web_login.c (the slow password KDF runs on the thread pool).
 *
 * Security, in order of the checks: a session cookie (HttpOnly,
 * SameSite=Strict) names the officer; every request that changes anything
 * must carry the session's CSRF token in X-CSRF-Token, be JSON, and come
 * from our own origin when the browser says where it comes from; the role
 * decides which endpoints the officer may call (auth_role_may), and
 * access_check() what the record may say (its kind, village, reporter). */
#include "web.h"

#include <cJSON.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "access.h"
#include "auth.h"
#include "embed.h"
#include "http_server.h"
#include "log.h"
#include "records.h"
#include "throttle.h"
#include "web_int.h"
#include "web_json.h"

extern const struct embedded_file web_assets[];

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

void web_send_json(struct wreq *q, int status, cJSON *o, const char *extra)
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
void web_send_error(struct wreq *q, int status, const char *code, const char *msg_id,
                    const char *msg_en, const char *extra)
{
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");

    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", strcmp(q->lang, "en") == 0 ? msg_en : msg_id);
    web_send_json(q, status, o, extra);
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
    [VERR_COUNT_NONE] = "count_conflict", [VERR_COUNT_OVER] = "count_conflict",
    [VERR_COUNT_OVER_FU] = "count_conflict", [VERR_FORBIDDEN] = "forbidden",
    [VERR_NOT_OWN_VILLAGE] = "not_own_village", [VERR_NOT_SELF] = "forbidden",
};

/* The validator's refusal (422) or access_check()'s (403): the field, and
 * why in the officer's language, so the page can show it beside the field. */
static void send_verr(struct wreq *q, const struct verr *e)
{
    int access = e->code == VERR_FORBIDDEN || e->code == VERR_NOT_OWN_VILLAGE ||
                 e->code == VERR_NOT_SELF;
    cJSON *o = cJSON_CreateObject(), *x = cJSON_AddObjectToObject(o, "error");
    const char *name = (size_t)e->code < sizeof(verr_names) / sizeof(verr_names[0]) &&
                       verr_names[e->code] ? verr_names[e->code] : "invalid";

    cJSON_AddStringToObject(x, "code", name);
    if (e->field[0])
        cJSON_AddStringToObject(x, "field", e->field);
    cJSON_AddStringToObject(x, "message", verr_reason(e, q->lang));
    if (e->detail[0])
        cJSON_AddStringToObject(x, "detail", e->detail);
    web_send_json(q, access ? 403 : 422, o, NULL);
}

void web_send_store_error(struct wreq *q, int r)
{
    if (r == -EBUSY)
        web_send_error(q, 503, "busy", "Penyimpanan sedang sibuk; coba lagi.",
                       "The store is busy; try again.", "Retry-After: 2\r\n");
    else
        web_send_error(q, 500, "store", "Gagal menyimpan; beri tahu dokter hewan kabupaten.",
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

cJSON *web_who_json(struct web *w, const struct auth_who *who)
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

/* ------------------------------------------------------------------ logout */

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
        web_send_store_error(q, store_error(q->w->d->store, rc));
        return;
    }
    web_send_json(q, 200, arr, NULL);
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
        web_send_store_error(q, -EIO);
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
    web_send_json(q, 200, o, NULL);
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
        web_send_store_error(q, -EIO);
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
        web_send_store_error(q, -EIO);
        return;
    }
    if (http_query_get(q->r->query, "q", ref, sizeof(ref)) > 0)
        sqlite3_bind_text(st, 1, ref, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, query_limit(q, 50, 500));
    send_rows(q, st);
}

/* ------------------------------------------------------------------ writes */

static void enqueue(struct wreq *q, const struct kind_def *kind, const void *in, size_t size);

static void api_reports_add(struct wreq *q, cJSON *doc)
{
    struct daemon *d = q->w->d;
    struct case_report_in in;
    struct actor a;
    struct verr e;

    actor_officer(&a, q->who.role, q->who.phone, q->who.village);
    if (validate_case_report(d->validator, doc, &in, &e) < 0 ||
        access_check(&a, REC_CASE, &in, &e) < 0) {
        send_verr(q, &e);
        return;
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
    web_send_json(q, 200, o, NULL);
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
        web_send_store_error(q, -EIO);
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
    web_send_json(q, 200, fc, NULL);
}

/* ------------------------------------------------------------------ other record kinds */

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
    const struct web_form *form;
    size_t size;                /* of the C struct */
    enum rec_kind rec;          /* for access_check() */
    int (*save)(struct daemon *d, void *in, struct verr *e, char id[UUID_STR_LEN],
                char ref[24], int phase);  /* phase 0 validates, 1 inserts */
};

#define KIND(st, table, form, rec, fn) { LIST_SQL(table), &form, sizeof(struct st), rec, fn }

static const struct kind_def k_followup =
    KIND(followup_in, "case_followup", web_form_followup, REC_FOLLOWUP, followup_save);
static const struct kind_def k_vaccination =
    KIND(vaccination_in, "vaccination", web_form_vaccination, REC_VACCINATION, vaccination_save);
static const struct kind_def k_treatment =
    KIND(treatment_in, "treatment", web_form_treatment, REC_TREATMENT, treatment_save);
static const struct kind_def k_movement =
    KIND(permit_in, "movement_permit", web_form_permit, REC_MOVEMENT, permit_save);
static const struct kind_def k_slaughter =
    KIND(slaughter_in, "slaughter_report", web_form_slaughter, REC_SLAUGHTER, slaughter_save);
static const struct kind_def k_population =
    KIND(population_in, "population_report", web_form_population, REC_POPULATION,
         population_save);

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
    web_send_json(q, 200, web_who_json(q->w, &q->who), NULL);
}

static const struct route routes[] = {
    { R_POST, "/api/v1/login",     -1,         NULL,             web_api_login, NULL },
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
        web_send_store_error(q, -EIO);
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
    struct actor a;
    struct verr e;
    void *in = calloc(1, k->size);
    int r;

    if (!in) {
        web_send_store_error(q, -ENOMEM);
        return;
    }
    actor_officer(&a, q->who.role, q->who.phone, q->who.village);
    r = web_json_decode(d->store, doc, k->form, in, &e);
    if (r == 0)
        r = k->save(d, in, &e, id, ref, 0);
    if (r == 0)
        r = access_check(&a, k->rec, in, &e);
    api_field_name(&e);
    if (r == -EINVAL || r == -EACCES)
        send_verr(q, &e);
    else if (r < 0)
        web_send_store_error(q, r);
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
    r = validate_json_parse(body, len, &doc, e);
    if (r < 0)
        return r;
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        e->code = VERR_SYNTAX;
        snprintf(e->field, sizeof(e->field), "body");
        return -EINVAL;
    }
    if (rt->rec) {
        char id[UUID_STR_LEN], ref[24];
        void *in = calloc(1, rt->rec->size);
        r = in ? web_json_decode(d->store, doc, rt->rec->form, in, e) : -ENOMEM;
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
            web_send_error(q, 405, "method", "Metode tidak diizinkan.", "Method not allowed.",
                           NULL);
        else if (!(get && strncmp(r->path, "/api/", 5) != 0 && serve_asset(q)))
            web_send_error(q, 404, "not_found", "Tidak ditemukan.", "Not found.", NULL);
        return;
    }
    read_cookie(q);
    if (q->token[0] && auth_session_find(q->w->d->store, q->token, &q->who) == 0)
        q->logged_in = 1;
    if (rt->perm >= 0 && !q->logged_in) {
        web_send_error(q, 401, "login_required", "Silakan masuk dulu.", "Please log in first.",
                       NULL);
        return;
    }
    if (post) {
        if (!same_origin(q)) {
            web_send_error(q, 403, "origin", "Permintaan dari situs lain ditolak.",
                           "Requests from another site are refused.", NULL);
            return;
        }
        if (rt->perm >= 0) {
            const char *t = http_header(q->c, "X-CSRF-Token");
            if (!t || !auth_equal(t, q->who.csrf)) {
                log_info("web: %s: %s %s without a valid CSRF token", r->peer, r->method, r->path);
                web_send_error(q, 403, "csrf", "Token formulir tidak sah; muat ulang halaman.",
                               "The form's token is not valid; reload the page.", NULL);
                return;
            }
        }
    }
    if (rt->perm >= 0 && !auth_role_may(q->who.role, (enum auth_perm)rt->perm)) {
        web_send_error(q, 403, "forbidden", "Peran Anda tidak boleh melakukan ini.",
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
        web_send_error(q, 415, "content_type", "Kirim JSON (application/json).",
                       "Send JSON (application/json).", NULL);
        return;
    }
    {
        struct verr e;
        int rc = validate_json_parse(r->body, r->body_len, &doc, &e);
        if (rc == 0 && !cJSON_IsObject(doc)) {
            e = (struct verr){ .code = VERR_SYNTAX, .field = "body" };
            rc = -EINVAL;
        }
        if (rc < 0) {
            cJSON_Delete(doc);
            if (rc == -EINVAL)
                send_verr(q, &e);
            else
                web_send_store_error(q, rc);
            return;
        }
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
        web_send_store_error(q, -ENOMEM);
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
            web_send_json(&q, 201, p->in, NULL);
        else {
            if (!p->lang)
                cJSON_Delete(p->in);
            else
                free(p->in);
            web_send_store_error(&q, r < 0 ? r : -EIO);
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

void web_free(struct web *w)
{
    if (w->d && w->d->web == w)
        w->d->web = NULL;
    throttle_free(w->throttle);
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
    if (web_parse_listen(d->listen, host, sizeof(host), &port) < 0)
        return log_errno(LOG_ERR, -EINVAL, "web: --listen '%s': give HOST:PORT, e.g. "
                         "127.0.0.1:8080 or 0.0.0.0:80", d->listen);
    w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->d = d;
    w->session_ttl = d->cfg->web_session_ttl_s;
    w->tail = &w->queue;
    hc.host = host;
    hc.port = port;
    hc.arg = w;
    r = throttle_new(&w->throttle);
    if (r == 0)
        r = http_server_start(d->loop, &hc, &w->srv);
    if (r < 0) {
        throttle_free(w->throttle);
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
    http_server_drain(w->srv, NULL, NULL);
    w->srv = NULL;
    w->stopping = 1;
    d->web = NULL;
    uv_close((uv_handle_t *)&w->flush, flush_closed);
}

const struct daemon_module web_module = { "web", web_start, web_stop };
