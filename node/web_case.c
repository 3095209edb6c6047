/* web_case.c - the district office's workspace in the API (docs/api.md):
 * one case with everything that belongs to it (the report, its follow-ups
 * and outcome, every SMS about it, its sync state and the hub's
 * corrections), the work queues of the home page (priority cases waiting
 * for a response, cases without an outcome after 14 days, records the hub
 * refused) and sending a refused record again. Reads run on the loop
 * thread's store connection like web_read.c's; times stay UTC in the
 * answers and the pages show them in the district's zone (tz.h, the
 * session's "tz"). */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "access.h"
#include "http_server.h"
#include "log.h"
#include "outbox.h"
#include "records.h"
#include "store.h"
#include "tz.h"
#include "web_int.h"

#define QUEUE_ROWS 50           /* rows of each work queue on the home page */
#define QUEUE_COUNT_CAP 200     /* counts stop here ("200+"): a board's page stays fast */
#define NO_OUTCOME_DAYS 14

/* Runs st (bound) and adds its rows under key; 0 or -errno. */
static int add_rows(struct wreq *q, cJSON *o, const char *key, sqlite3_stmt *st)
{
    int rc;
    cJSON *arr = web_rows_json(st, &rc);

    cJSON_AddItemToObject(o, key, arr);
    return rc == SQLITE_DONE ? 0 : store_error(q->w->d->store, rc);
}

/* The case report of ref, with its place names, point, reporter's name and
 * sync state, as an object; NULL when there is none (*rc 0) or the store
 * failed (*rc -errno). id gets the report's id. */
static cJSON *case_report_json(struct wreq *q, const char *ref, char id[UUID_STR_LEN], int *rc)
{
    sqlite3_stmt *st = store_stmt(q->w->d->store,
        "SELECT c.id, c.origin, c.ref, c.kind, c.village, a.name AS village_name,"
        " k.code AS kecamatan, k.name AS kecamatan_name, c.syndrome, c.signs AS signs_json,"
        " c.animals AS animals_json, c.ddx AS ddx_json, c.event_date, c.reporter,"
        " (SELECT name FROM officer WHERE phone = c.reporter AND deleted = 0) AS reporter_name,"
        " c.note, sk_y(c.geom) AS lat, sk_x(c.geom) AS lon, c.created_at, c.updated_at, "
        OUTBOX_SYNC_STATE_SQL("c")
        " FROM case_report c LEFT JOIN area a ON a.code = c.village"
        " LEFT JOIN area k ON k.code = a.parent_code"
        " WHERE c.ref = ?1 AND c.deleted = 0");
    cJSON *arr, *o;
    int step;

    *rc = 0;
    if (!st) {
        *rc = -EIO;
        return NULL;
    }
    sqlite3_bind_text(st, 1, ref, -1, SQLITE_TRANSIENT);
    arr = web_rows_json(st, &step);
    if (step != SQLITE_DONE) {
        *rc = store_error(q->w->d->store, step);
        cJSON_Delete(arr);
        return NULL;
    }
    o = cJSON_DetachItemFromArray(arr, 0);
    cJSON_Delete(arr);
    if (o)
        snprintf(id, UUID_STR_LEN, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(o, "id")));
    return o;
}

void web_api_case(struct wreq *q)
{
    struct store *s = q->w->d->store;
    sqlite3_stmt *st;
    char ref[32], id[UUID_STR_LEN] = "";
    cJSON *o = NULL, *rep;
    int r;

    if (http_query_get(q->r->query, "ref", ref, sizeof(ref)) <= 0) {
        web_send_error(q, 400, "ref", "Sebutkan nomor laporan (ref).", "Give the case's ref.", NULL);
        return;
    }
    rep = case_report_json(q, ref, id, &r);
    if (!rep) {
        if (r < 0)
            web_send_store_error(q, r);
        else
            web_send_error(q, 404, "not_found", "Laporan kasus tidak ditemukan.",
                           "No such case report.", NULL);
        return;
    }
    o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "report", rep);
    st = store_stmt(s,
        "SELECT f.id, f.origin, f.outcome, f.animals AS animals_json, f.escalate, f.event_date,"
        " f.reporter, (SELECT name FROM officer WHERE phone = f.reporter AND deleted = 0)"
        " AS reporter_name, f.note, f.created_at, f.updated_at, " OUTBOX_SYNC_STATE_SQL("f")
        " FROM case_followup f WHERE f.case_id = ?1 AND f.deleted = 0"
        " ORDER BY f.event_date, f.hlc");
    r = st ? 0 : -EIO;
    if (r == 0) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        r = add_rows(q, o, "followups", st);
    }
    st = r == 0 ? store_stmt(s,
        "SELECT i.id, i.received_at, i.sender,"
        " (SELECT name FROM officer WHERE phone = i.sender AND deleted = 0) AS sender_name,"
        " i.text, i.code, i.status,"
        " (SELECT json_group_array(json_object('kind', x.kind, 'phone', x.phone,"
        "  'name', (SELECT name FROM officer WHERE phone = x.phone AND deleted = 0),"
        "  'text', x.text, 'written', x.written)) FROM sms_out x WHERE x.sms_in = i.id)"
        " AS replies_json"
        " FROM sms_in i WHERE i.ref = ?1 ORDER BY i.id LIMIT 200") : NULL;
    if (r == 0 && !st)
        r = -EIO;
    if (r == 0) {
        sqlite3_bind_text(st, 1, ref, -1, SQLITE_TRANSIENT);
        r = add_rows(q, o, "sms", st);
    }
    if (r < 0) {
        cJSON_Delete(o);
        web_send_store_error(q, r);
        return;
    }
    web_send_json(q, 200, o, NULL);
}

/* ------------------------------------------------------------------ queues */

/* Adds {"rows": [...], "count": N} under key: the first QUEUE_ROWS rows of
 * list_sql and the count of count_sql (capped at QUEUE_COUNT_CAP), both
 * with ?1 = arg; 0 or -errno. */
static int add_queue(struct wreq *q, cJSON *o, const char *key, const char *list_sql,
                     const char *count_sql, const char *arg)
{
    struct store *s = q->w->d->store;
    sqlite3_stmt *st = store_stmt(s, list_sql);
    cJSON *qo = cJSON_AddObjectToObject(o, key);
    int r, rc;

    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, QUEUE_ROWS);
    r = add_rows(q, qo, "rows", st);
    if (r < 0)
        return r;
    st = store_stmt(s, count_sql);
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, QUEUE_COUNT_CAP);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        cJSON_AddNumberToObject(qo, "count", sqlite3_column_int(st, 0));
    sqlite3_reset(st);
    cJSON_AddBoolToObject(qo, "capped", rc == SQLITE_ROW && sqlite3_column_int(st, 0) >= QUEUE_COUNT_CAP);
    return rc == SQLITE_ROW ? 0 : store_error(s, rc);
}

/* P cases that nobody answered yet (no follow-up at all), oldest first. */
#define AWAITING_WHERE \
    " FROM case_report c WHERE c.kind = 'P' AND c.deleted = 0 AND ?1 IS NOT NULL" \
    " AND NOT EXISTS (SELECT 1 FROM case_followup f WHERE f.case_id = c.id AND f.deleted = 0)"

/* Cases of ?1 or earlier (14 days ago) without an outcome, newest first. */
#define NO_OUTCOME_WHERE \
    " FROM case_report c WHERE c.deleted = 0 AND c.event_date <= ?1" \
    " AND NOT EXISTS (SELECT 1 FROM case_followup f WHERE f.case_id = c.id" \
    " AND f.deleted = 0 AND f.outcome IS NOT NULL)"

/* Outbox entries the hub refused, with the case they belong to. */
#define REFUSED_WHERE \
    " FROM outbox o WHERE o.state = " OUTBOX_REFUSED_LIT " AND ?1 IS NOT NULL"

void web_api_queues(struct wreq *q)
{
    const struct tz_zone *z = tz_of_area(store_district(q->w->d->store));
    cJSON *o = cJSON_CreateObject();
    char cut[11], one[2] = "1";
    int r;

    tz_date(z, time(NULL) - NO_OUTCOME_DAYS * 86400, cut);
    cJSON_AddNumberToObject(o, "target_h", q->w->d->cfg->web_response_target_h);
    cJSON_AddNumberToObject(o, "no_outcome_days", NO_OUTCOME_DAYS);
    r = add_queue(q, o, "awaiting",
        "SELECT c.ref, c.village, (SELECT name FROM area WHERE code = c.village) AS village_name,"
        " c.syndrome, c.animals AS animals_json, c.event_date, c.created_at,"
        " CAST((julianday('now') - julianday(c.created_at)) * 24 AS INTEGER) AS age_h"
        AWAITING_WHERE " ORDER BY c.created_at LIMIT ?2",
        "SELECT count(*) FROM (SELECT 1" AWAITING_WHERE " LIMIT ?2)", one);
    if (r == 0)
        r = add_queue(q, o, "no_outcome",
            "SELECT c.ref, c.kind, c.village,"
            " (SELECT name FROM area WHERE code = c.village) AS village_name, c.syndrome,"
            " c.signs AS signs_json, c.event_date,"
            " CAST(julianday(?1) - julianday(c.event_date) AS INTEGER) + 14 AS age_d"
            NO_OUTCOME_WHERE " ORDER BY c.event_date DESC LIMIT ?2",
            "SELECT count(*) FROM (SELECT 1" NO_OUTCOME_WHERE " LIMIT ?2)", cut);
    if (r == 0)
        r = add_queue(q, o, "rejected",
            "SELECT o.seq, o.tbl, o.row_id, o.error,"
            " CASE o.tbl WHEN 'case_report' THEN (SELECT ref FROM case_report WHERE id = o.row_id)"
            " WHEN 'case_followup' THEN (SELECT c.ref FROM case_followup f JOIN case_report c"
            " ON c.id = f.case_id WHERE f.id = o.row_id) END AS ref"
            REFUSED_WHERE " ORDER BY o.seq DESC LIMIT ?2",
            "SELECT count(*) FROM (SELECT 1" REFUSED_WHERE " LIMIT ?2)", one);
    if (r < 0) {
        cJSON_Delete(o);
        web_send_store_error(q, r);
        return;
    }
    web_send_json(q, 200, o, NULL);
}

/* ------------------------------------------------------------------ resend */

/* POST /api/v1/resend {"row_id": ID}: the record's refused change goes to
 * the back of the queue under a new number (the hub skips numbers it has
 * seen), for the next sync; its refusal is dropped. 200 {"queued": 1}, 404
 * when the record has no refused change. */
void web_api_resend(struct wreq *q, cJSON *doc)
{
    static const char *const sql[] = {
        "INSERT INTO outbox (tbl, row_id, hlc) SELECT tbl, row_id, hlc FROM outbox"
        " WHERE row_id = ?1 AND state = " OUTBOX_REFUSED_LIT " ORDER BY seq DESC LIMIT 1",
        "DELETE FROM outbox WHERE row_id = ?1 AND state = " OUTBOX_REFUSED_LIT,
    };
    struct store *s = q->w->d->store;
    const char *row = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "row_id"));
    cJSON *o;
    int r, n = 0;

    if (!row || !row[0] || strlen(row) >= UUID_STR_LEN) {
        web_send_error(q, 422, "required", "row_id wajib diisi.", "row_id is required.", NULL);
        return;
    }
    r = store_begin(s);
    if (r == 0) {
        for (size_t i = 0; r == 0 && i < sizeof(sql) / sizeof(sql[0]); i++) {
            r = store_run_text(s, sql[i], row);
            if (i == 0 && r == 0)
                n = sqlite3_changes(store_db(s));
        }
        if (r == 0 && n == 0)
            r = -ENOENT;
        r = store_end(s, r);
    }
    if (r == -ENOENT) {
        web_send_error(q, 404, "not_found", "Tidak ada data yang ditolak untuk dikirim ulang.",
                       "Nothing refused to send again.", NULL);
        return;
    }
    if (r < 0) {
        web_send_store_error(q, r);
        return;
    }
    log_notice("web: %s sent %s again after the hub refused it", q->who.phone, row);
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "queued", n);
    web_send_json(q, 200, o, NULL);
}

/* ------------------------------------------------------------------ correct */

/* POST /api/v1/correct {"row_id": ID, "record": {...}}: a case report the
 * hub refused, corrected. The record goes through the validator and
 * access_check() as a new one would (every refusal at once, 422 or 403),
 * then, in one transaction, becomes the report's new version (records.h
 * case_report_correct: the capture trigger queues it) and the refusal is
 * dropped. 200 {"queued": 1, "ref"}; 404 when the record has no refused
 * change or is not a case report. */
void web_api_correct(struct wreq *q, cJSON *doc)
{
    struct store *s = q->w->d->store;
    const char *row = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "row_id"));
    cJSON *rec = cJSON_GetObjectItem(doc, "record"), *o;
    struct case_report_in in;
    struct verr e, errs[VERR_ALL_MAX];
    struct actor a;
    char ref[16] = "";
    const struct store_col col = { ref, sizeof(ref) };
    int r;

    if (!row || !row[0] || strlen(row) >= UUID_STR_LEN || !cJSON_IsObject(rec)) {
        web_send_error(q, 422, "required", "row_id dan record wajib diisi.",
                       "row_id and record are required.", NULL);
        return;
    }
    r = store_get(s, "SELECT c.ref FROM outbox o JOIN case_report c ON c.id = o.row_id"
                     " WHERE o.row_id = ?1 AND o.tbl = 'case_report' AND o.state = "
                     OUTBOX_REFUSED_LIT " AND c.deleted = 0 LIMIT 1", row, &col, 1);
    if (r == -ENOENT) {
        web_send_error(q, 404, "not_found", "Tidak ada laporan kasus yang ditolak untuk diperbaiki.",
                       "No refused case report to correct.", NULL);
        return;
    }
    memset(&in, 0, sizeof(in));
    actor_officer(&a, q->who.role, q->who.phone, q->who.village);
    if (r == 0)
        r = validate_record_json_all(q->w->d->validator, REC_CASE, rec, &in, errs, VERR_ALL_MAX);
    if (r > 0) {
        web_send_verrs(q, errs, r);
        return;
    }
    if (r == 0)
        r = access_check(&a, REC_CASE, &in, &e);
    if (r == -EACCES) {
        web_send_verr(q, &e);
        return;
    }
    if (r == 0) {
        r = store_begin(s);
        if (r == 0) {
            r = case_report_correct(s, row, &in);
            if (r == 0)
                r = store_run_text(s, "DELETE FROM outbox WHERE row_id = ?1 AND state = "
                                      OUTBOX_REFUSED_LIT, row);
            r = store_end(s, r);
        }
    }
    if (r < 0) {
        web_send_store_error(q, r);
        return;
    }
    log_notice("web: %s corrected %s (%s) after the hub refused it", q->who.phone, ref, row);
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "queued", 1);
    cJSON_AddStringToObject(o, "ref", ref);
    web_send_json(q, 200, o, NULL);
}
