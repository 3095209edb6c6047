/* web_read.c - the API's reads on the loop thread's store connection:
 * the code lists, the areas of the district, the newest records of each
 * kind (rec_kind(), validate.h) with their sync state (outbox.h), and the
 * dashboard's counts of the week. Rows become JSON objects by their column
 * names (web_rows_json), so a list answers with what its SELECT names. */
#include <assert.h>
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_server.h"
#include "outbox.h"
#include "sms_gateway.h"
#include "store.h"
#include "strbuf.h"
#include "tz.h"
#include "web_int.h"

/* Runs a prepared statement and returns its rows as an array of objects,
 * one key per column name; JSON text columns named "*_json" are parsed. */
cJSON *web_rows_json(sqlite3_stmt *st, int *rc_out)
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
            case SQLITE_INTEGER: {
                /* Exact: a double holds integers to 2^53 only, and an hlc
                 * is larger. */
                char num[24];
                snprintf(num, sizeof(num), "%lld", (long long)sqlite3_column_int64(st, i));
                cJSON_AddRawToObject(o, name, num);
                break;
            }
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

void web_send_rows(struct wreq *q, sqlite3_stmt *st)
{
    int rc;
    cJSON *arr = web_rows_json(st, &rc);

    if (rc != SQLITE_DONE) {
        cJSON_Delete(arr);
        web_send_store_error(q, store_error(q->w->d->store, rc));
        return;
    }
    web_send_json(q, 200, arr, NULL);
}

void web_api_codes(struct wreq *q)
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

void web_api_areas(struct wreq *q)
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
    web_send_rows(q, st);
}

static int query_limit(struct wreq *q, int def, int max)
{
    char buf[16];
    int n = def;

    if (http_query_get(q->r->query, "limit", buf, sizeof(buf)) > 0)
        n = atoi(buf);
    return n < 1 ? def : n > max ? max : n;
}

void web_api_reports(struct wreq *q)
{
    sqlite3_stmt *st = store_stmt(q->w->d->store,
        "SELECT c.id, c.ref, c.kind, c.village, a.name AS village_name, c.syndrome,"
        " c.signs AS signs_json, c.animals AS animals_json, c.ddx AS ddx_json, c.event_date,"
        " c.reporter, c.note, sk_y(c.geom) AS lat, sk_x(c.geom) AS lon, c.created_at, "
        OUTBOX_SYNC_STATE_SQL("c")
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
    web_send_rows(q, st);
}

/* The list of a record kind other than case reports: every column of its
 * table (rec_kind(), validate.h), and the sync state. Made once per kind:
 * store_stmt() keeps the text. NULL when out of memory. */
static const char *list_sql(enum rec_kind kind)
{
    static char *sql[REC_KIND_COUNT];
    struct strbuf q = { 0 };

    if (sql[kind])
        return sql[kind];
    const struct rec_kind_info *rk = rec_kind(kind);
    int case_col = 0;

    for (size_t i = 0; i < rk->n_fields; i++)
        case_col |= rk->fields[i].type == J_CASE_REF;
    /* a record about a case names the case's reference: the page links to it */
    strbuf_fmt(&q, "SELECT t.*, %s" OUTBOX_SYNC_STATE_SQL("t") " FROM %s t"
                   " WHERE t.deleted = 0 ORDER BY t.hlc DESC LIMIT ?1",
               case_col ? "(SELECT ref FROM case_report WHERE id = t.case_id) AS case_ref, " : "",
               rk->table);
    sql[kind] = strbuf_take(&q);
    return sql[kind];
}

void web_api_kind_list(struct wreq *q)
{
    const char *sql;
    sqlite3_stmt *st;

    assert(q->rt->rec > REC_CASE && q->rt->rec < REC_KIND_COUNT);
    sql = list_sql((enum rec_kind)q->rt->rec);
    st = sql ? store_stmt(q->w->d->store, sql) : NULL;
    if (!st) {
        web_send_store_error(q, sql ? -EIO : -ENOMEM);
        return;
    }
    sqlite3_bind_int(st, 1, query_limit(q, 50, 500));
    web_send_rows(q, st);
}

/* ------------------------------------------------------------------ dashboard */

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

/* This week's case reports by syndrome and by species, and the week's
 * first day. The week runs Monday to Sunday in the district's zone (tz.h). */
static void add_week(struct store *s, cJSON *o)
{
    static const struct {
        const char *key, *sql;
    } lists[] = {
        { "by_syndrome",
          "SELECT coalesce(c.syndrome, '') AS code, count(*) AS reports,"
          " l.label_id, l.label_en FROM case_report c"
          " LEFT JOIN code_list l ON l.list = 'syndrome' AND l.code = c.syndrome"
          " WHERE c.deleted = 0 AND c.event_date >= ?1 GROUP BY 1 ORDER BY 2 DESC" },
        { "by_species",
          "SELECT json_extract(j.value, '$.species') AS code, count(*) AS reports,"
          " sum(json_extract(j.value, '$.sick')) AS sick,"
          " sum(json_extract(j.value, '$.dead')) AS dead, l.label_id, l.label_en"
          " FROM case_report c, json_each(c.animals) j"
          " LEFT JOIN code_list l ON l.list = 'species'"
          " AND l.code = json_extract(j.value, '$.species')"
          " WHERE c.deleted = 0 AND c.event_date >= ?1 GROUP BY 1 ORDER BY 2 DESC" },
    };
    char monday[16] = "", today[11];
    const struct store_col week = { monday, sizeof(monday) };
    sqlite3_stmt *st;
    int rc;

    tz_date(tz_of_area(store_district(s)), time(NULL), today);
    (void) store_get(s, "SELECT date(?1, '-6 days', 'weekday 1')", today, &week, 1);
    cJSON_AddStringToObject(o, "week_start", monday);
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        st = store_stmt(s, lists[i].sql);
        if (!st)
            continue;
        sqlite3_bind_text(st, 1, monday, -1, SQLITE_TRANSIENT);
        cJSON_AddItemToObject(o, lists[i].key, web_rows_json(st, &rc));
    }
}

void web_api_dashboard(struct wreq *q)
{
    struct store *s = q->w->d->store;
    cJSON *o = cJSON_CreateObject();
    char ok[40] = "", err_at[40] = "", err[200] = "";

    add_week(s, o);
    add_count(q, o, "outbox", OUTBOX_COUNT_QUEUED_SQL);
    add_count(q, o, "rejected", OUTBOX_COUNT_REFUSED_SQL);
    /* the live reports, from the counts kept per week (schema/node/009) */
    add_count(q, o, "reports_total",
              "SELECT coalesce(sum(n), 0) FROM case_week WHERE dim = 'kind'");
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
    (void) sms_status_add(s, o);        /* "sms": the spool's health, with its warning */
    web_send_json(q, 200, o, NULL);
}
