/* records.c - field records: insert with provenance stamps, list, status. */
#include "records.h"

#include <assert.h>
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hlc.h"
#include "log.h"
#include "outbox.h"
#include "sms_gateway.h"
#include "strbuf.h"

/* Binds text, or leaves the parameter NULL when it is empty (store_stmt()
 * hands out statements with their bindings cleared). */
static void bind_opt(sqlite3_stmt *st, int idx, const char *text)
{
    if (text[0])
        sqlite3_bind_text(st, idx, text, -1, SQLITE_STATIC);
}

/* The JSON text of v as every reader has it (compact, keys in the order
 * added, whole numbers without a fraction); v is consumed. The caller frees
 * the text; NULL when out of memory (v may be NULL after a failed build). */
static char *json_text(cJSON *v)
{
    char *text = v ? cJSON_PrintUnformatted(v) : NULL;

    cJSON_Delete(v);
    return text;
}

/* ["KBG","DMM"]: a JSON array of codes; NULL when out of memory. */
static cJSON *codes_json(const char (*codes)[8], int n)
{
    cJSON *a = cJSON_CreateArray();

    for (int i = 0; a && i < n; i++) {
        if (!cJSON_AddItemToArray(a, cJSON_CreateString(codes[i]))) {
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

/* Adds {"species": ..., names[0]: n[0], ...} to arr; 0 or -ENOMEM. */
static int add_counts(cJSON *arr, const char *species, const char *const *names,
                      const int64_t *n, int n_names)
{
    cJSON *o = cJSON_CreateObject();

    if (!o || !cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        return -ENOMEM;
    }
    if (!cJSON_AddStringToObject(o, "species", species))
        return -ENOMEM;
    for (int k = 0; k < n_names; k++)
        if (!cJSON_AddNumberToObject(o, names[k], (double)n[k]))
            return -ENOMEM;
    return 0;
}

/* [{"species","sick","dead","at_risk"}, ...] of a case report. */
static cJSON *animals_json(const struct animal_count *a, int n)
{
    static const char *const names[] = { "sick", "dead", "at_risk" };
    cJSON *arr = cJSON_CreateArray();

    for (int i = 0; arr && i < n; i++) {
        const int64_t counts[] = { a[i].sick, a[i].dead, a[i].at_risk };
        if (add_counts(arr, a[i].species, names, counts, 3) < 0) {
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

/* animals of herd counts, one key per count in names (the record kind's). */
static cJSON *herd_json(const struct herd_count *a, int n, const char *const *names,
                        int n_names)
{
    cJSON *arr = cJSON_CreateArray();

    for (int i = 0; arr && i < n; i++) {
        if (add_counts(arr, a[i].species, names, a[i].n, n_names) < 0) {
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

/* Stamps id, origin, hlc and times into parameters 1-4 of st, an insert
 * into tbl; a record saved while the clock is wrong is listed for
 * correction (node/clock.h). */
static int stamp(struct store *s, const char *tbl, sqlite3_stmt *st, char id_out[UUID_STR_LEN],
                 char now[32])
{
    uint64_t hlc = store_hlc_tick(s);
    int r = store_new_id(s, hlc, id_out);

    if (r == 0)
        r = clock_flag(s, tbl, id_out);

    if (r < 0)
        return r;
    store_now_iso(now);
    sqlite3_bind_text(st, 1, id_out, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, store_node_id(s), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)hlc);
    sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
    return 0;
}

static int step_done(struct store *s, sqlite3_stmt *st, const char *what)
{
    int r = store_step_done(s, st);

    if (r < 0)
        return log_errno(LOG_ERR, r, "cannot store %s: %s", what, sqlite3_errmsg(store_db(s)));
    return 0;
}

/* What a case report's entry sets, kind through event_date, as one run of
 * parameters: the JSON texts made once for the insert and the correction. */
struct case_cols {
    char *signs, *ddx, *animals;
    char kind[2];
};

static int case_cols_make(struct case_cols *c, const struct case_report_in *in)
{
    c->signs = json_text(codes_json(in->signs, in->n_signs));
    c->ddx = json_text(codes_json(in->ddx, in->n_ddx));
    c->animals = json_text(animals_json(in->animals, in->n_animals));
    c->kind[0] = in->kind;
    c->kind[1] = 0;
    return c->signs && c->ddx && c->animals ? 0 : -ENOMEM;
}

static void case_cols_free(struct case_cols *c)
{
    free(c->signs);
    free(c->ddx);
    free(c->animals);
}

/* Binds kind, village, syndrome, signs, animals, ddx and event_date to
 * parameters base .. base + 6; the point's lon and lat to pt, pt + 1. */
static void case_cols_bind(sqlite3_stmt *st, int base, int pt, const struct case_report_in *in,
                           const struct case_cols *c)
{
    sqlite3_bind_text(st, base, c->kind, 1, SQLITE_STATIC);
    sqlite3_bind_text(st, base + 1, in->village, -1, SQLITE_STATIC);
    if (in->kind == 'P')
        sqlite3_bind_text(st, base + 2, in->syndrome, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, base + 3, c->signs, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, base + 4, c->animals, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, base + 5, c->ddx, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, base + 6, in->event_date, -1, SQLITE_STATIC);
    if (in->has_point) {
        sqlite3_bind_double(st, pt, in->lon);
        sqlite3_bind_double(st, pt + 1, in->lat);
    }
}

int case_report_insert(struct store *s, const struct case_report_in *in,
                       char id_out[UUID_STR_LEN], char ref_out[16])
{
    static const char sql[] =
        "INSERT INTO case_report (id, origin, hlc, created_at, updated_at, ref, kind, village,"
        " syndrome, signs, animals, ddx, event_date, reporter, note, geom)"
        " VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
        " CASE WHEN ?15 IS NULL THEN NULL ELSE sk_point(?15, ?16) END)";
    sqlite3_stmt *st = store_stmt(s, sql);
    struct case_cols c;
    char now[32];
    int r = case_cols_make(&c, in);

    if (!st)
        r = -EIO;
    if (r < 0)
        goto out;
    r = stamp(s, "case_report", st, id_out, now);
    if (r == 0)
        r = store_next_ref(s, ref_out);
    if (r < 0)
        goto out;
    sqlite3_bind_text(st, 5, ref_out, -1, SQLITE_STATIC);
    case_cols_bind(st, 6, 15, in, &c);
    bind_opt(st, 13, in->reporter);
    bind_opt(st, 14, in->note);
    r = step_done(s, st, "case report");
out:
    case_cols_free(&c);
    return r;
}

int case_report_correct(struct store *s, const char *id, const struct case_report_in *in)
{
    static const char sql[] =
        "UPDATE case_report SET hlc = ?2, updated_at = ?3, kind = ?4, village = ?5,"
        " syndrome = ?6, signs = ?7, animals = ?8, ddx = ?9, event_date = ?10, note = ?11,"
        " geom = CASE WHEN ?12 IS NULL THEN NULL ELSE sk_point(?12, ?13) END"
        " WHERE id = ?1 AND deleted = 0";
    sqlite3_stmt *st = store_stmt(s, sql);
    struct case_cols c;
    char now[32];
    int r = case_cols_make(&c, in);

    if (!st)
        r = -EIO;
    if (r < 0)
        goto out;
    r = clock_flag(s, "case_report", id);
    if (r < 0)
        goto out;
    store_now_iso(now);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)store_hlc_tick(s));
    sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
    case_cols_bind(st, 4, 12, in, &c);
    bind_opt(st, 11, in->note);
    r = step_done(s, st, "case report");
    if (r == 0 && sqlite3_changes(store_db(s)) == 0)
        r = -ENOENT;
out:
    case_cols_free(&c);
    return r;
}

int officer_insert(struct store *s, const struct officer_in *in, char id_out[UUID_STR_LEN])
{
    sqlite3_stmt *st = store_stmt(s,
        "INSERT INTO officer (id, origin, hlc, created_at, updated_at, name, role, phone,"
        " district, village) VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?9)");
    char now[32];
    int r;

    if (!st)
        return -EIO;
    r = stamp(s, "officer", st, id_out, now);
    if (r < 0)
        return r;
    sqlite3_bind_text(st, 5, in->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, in->role, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, in->phone, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, store_district(s), -1, SQLITE_STATIC);
    bind_opt(st, 9, in->village);
    return store_step_done(s, st);
}

int officer_update(struct store *s, const char *id, const struct officer_in *in, int active)
{
    sqlite3_stmt *st = store_stmt(s,
        "UPDATE officer SET name = ?2, role = ?3, phone = ?4, village = ?5, deleted = ?6,"
        " hlc = ?7, updated_at = ?8 WHERE id = ?1");
    char now[32];
    int r;

    if (!st)
        return -EIO;
    store_now_iso(now);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, in->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, in->role, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, in->phone, -1, SQLITE_STATIC);
    bind_opt(st, 5, in->village);
    sqlite3_bind_int(st, 6, !active);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)store_hlc_tick(s));
    sqlite3_bind_text(st, 8, now, -1, SQLITE_STATIC);
    r = store_step_done(s, st);
    if (r == 0 && sqlite3_changes(store_db(s)) == 0)
        r = -ENOENT;
    return r;
}

/* The columns of st's current row as text (NULL for a NULL value). */
static void row_text(sqlite3_stmt *st, const char **col, int n)
{
    for (int i = 0; i < n; i++)
        col[i] = (const char *)sqlite3_column_text(st, i);
}

/* Writes o (consumed) as element n (from 0) of the JSON array on fp. */
static void print_item(FILE *fp, cJSON *o, int n)
{
    char *text = cJSON_PrintUnformatted(o);

    fprintf(fp, "%s%s", n ? ",\n" : "\n", text ? text : "null");
    free(text);
    cJSON_Delete(o);
}

/* A row of case_report_list()'s query as its JSON object. */
static cJSON *report_json(sqlite3_stmt *st, const char *const *col)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "id", col[0]);
    cJSON_AddStringToObject(o, "ref", col[1]);
    cJSON_AddStringToObject(o, "kind", col[2]);
    cJSON_AddStringToObject(o, "village", col[3]);
    cJSON_AddStringToObject(o, "village_name", col[4] ? col[4] : "");
    if (col[5])
        cJSON_AddStringToObject(o, "syndrome", col[5]);
    cJSON_AddItemToObject(o, "signs", cJSON_Parse(col[6]));
    cJSON_AddItemToObject(o, "animals", cJSON_Parse(col[7]));
    cJSON_AddItemToObject(o, "ddx", cJSON_Parse(col[8]));
    cJSON_AddStringToObject(o, "event_date", col[9]);
    if (col[10])
        cJSON_AddStringToObject(o, "reporter", col[10]);
    if (col[11])
        cJSON_AddStringToObject(o, "note", col[11]);
    if (col[12]) {
        cJSON_AddNumberToObject(o, "lat", sqlite3_column_double(st, 12));
        cJSON_AddNumberToObject(o, "lon", sqlite3_column_double(st, 13));
    }
    cJSON_AddStringToObject(o, "created_at", col[14]);
    cJSON_AddStringToObject(o, "sync", col[15]);
    if (col[16])
        cJSON_AddStringToObject(o, "sync_error", col[16]);
    return o;
}

/* The same row as a line of the table for people. */
static void report_line(FILE *fp, const char *const *col)
{
    char animals[64] = "";
    cJSON *arr = cJSON_Parse(col[7]), *a;
    size_t len = 0;

    cJSON_ArrayForEach(a, arr) {
        int k = snprintf(animals + len, sizeof(animals) - len, "%s%s %d/%d/%d",
                         len ? ", " : "",
                         cJSON_GetStringValue(cJSON_GetObjectItem(a, "species")),
                         (int)cJSON_GetNumberValue(cJSON_GetObjectItem(a, "sick")),
                         (int)cJSON_GetNumberValue(cJSON_GetObjectItem(a, "dead")),
                         (int)cJSON_GetNumberValue(cJSON_GetObjectItem(a, "at_risk")));
        if (k < 0 || (size_t)k >= sizeof(animals) - len)
            break;
        len += (size_t)k;
    }
    cJSON_Delete(arr);
    fprintf(fp, "%-12s %-4s %-10s %-24.24s %-30.30s %s%s%s\n", col[1], col[2], col[9],
            col[4] ? col[4] : col[3], animals, col[15], col[16] ? ": " : "",
            col[16] ? col[16] : "");
}

int case_report_list(struct store *s, FILE *fp, int json, int limit)
{
    static const char sql[] =
        "SELECT c.id, c.ref, c.kind, c.village, a.name, c.syndrome, c.signs, c.animals, c.ddx,"
        " c.event_date, c.reporter, c.note, sk_y(c.geom), sk_x(c.geom), c.created_at, "
        OUTBOX_SYNC_STATE_SQL("c")
        " FROM case_report c LEFT JOIN area a ON a.code = c.village"
        " WHERE c.deleted = 0 ORDER BY c.hlc DESC LIMIT ?1";
    sqlite3_stmt *st;
    const char *col[17];
    int rc, n = 0;

    rc = sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return log_errno(LOG_ERR, store_error(s, rc), "cannot list reports: %s",
                         sqlite3_errmsg(store_db(s)));
    sqlite3_bind_int(st, 1, limit > 0 ? limit : -1);
    if (json)
        fputs("[", fp);
    else
        fprintf(fp, "%-12s %-4s %-10s %-24s %-30s %-8s\n", "REF", "KIND", "DATE", "VILLAGE",
                "ANIMALS (sick/dead/at risk)", "SYNC");
    for (; (rc = sqlite3_step(st)) == SQLITE_ROW; n++) {
        row_text(st, col, 17);
        if (json)
            print_item(fp, report_json(st, col), n);
        else
            report_line(fp, col);
    }
    if (json)
        fputs(n ? "\n]\n" : "]\n", fp);
    else if (n == 0)
        fputs("(no case reports yet)\n", fp);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store_error(s, rc);
}

/* An officer row of officer_list()'s query as its JSON object. */
static cJSON *officer_json(const char *const *col)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "id", col[0]);
    cJSON_AddStringToObject(o, "name", col[1]);
    cJSON_AddStringToObject(o, "role", col[2]);
    cJSON_AddStringToObject(o, "phone", col[3]);
    cJSON_AddStringToObject(o, "district", col[4]);
    if (col[5])
        cJSON_AddStringToObject(o, "village", col[5]);
    return o;
}

int officer_list(struct store *s, FILE *fp, int json)
{
    sqlite3_stmt *st;
    const char *col[6];
    int rc, n = 0;

    rc = sqlite3_prepare_v2(store_db(s),
        "SELECT id, name, role, phone, district, village FROM officer WHERE deleted = 0 "
        "ORDER BY name", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_error(s, rc);
    if (json)
        fputs("[", fp);
    else
        fprintf(fp, "%-28s %-9s %-16s %s\n", "NAME", "ROLE", "PHONE", "VILLAGE");
    for (; sqlite3_step(st) == SQLITE_ROW; n++) {
        row_text(st, col, 6);
        if (json)
            print_item(fp, officer_json(col), n);
        else
            fprintf(fp, "%-28s %-9s %-16s %s\n", col[1], col[2], col[3], col[5] ? col[5] : "-");
    }
    if (json)
        fputs(n ? "\n]\n" : "]\n", fp);
    sqlite3_finalize(st);
    return 0;
}

static long long count_of(struct store *s, const char *sql)
{
    sqlite3_stmt *st;
    long long n = -1;

    if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* The link's use today and its daily budget (a metered link; the sync
 * client counts): {"date", "bytes", "budget"} with budget 0 for none. */
static void status_link(struct store *s, cJSON *o)
{
    char day[16], buf[24];
    cJSON *l = cJSON_AddObjectToObject(o, "link_today");

    store_local_day(day);
    cJSON_AddStringToObject(l, "date", day);
    cJSON_AddNumberToObject(l, "bytes", (double)store_link_today(s));
    cJSON_AddNumberToObject(l, "budget", store_meta_get(s, "link.budget", buf, sizeof(buf)) == 0
                            ? strtod(buf, NULL) : 0);
}

/* A board without a clock (node/clock.h): how far the system clock is
 * behind the trusted one, and the records saved while it was wrong. */
static void status_clock(struct store *s, cJSON *o)
{
    cJSON *c = cJSON_AddObjectToObject(o, "clock");
    long long flagged, corrected, uncertain;

    clock_counts(s, &flagged, &corrected, &uncertain);
    cJSON_AddNumberToObject(c, "behind_s", (double)(hlc_clock_behind_ms() / 1000));
    cJSON_AddNumberToObject(c, "records_flagged", (double)flagged);
    cJSON_AddNumberToObject(c, "records_corrected", (double)corrected);
    cJSON_AddNumberToObject(c, "records_uncertain", (double)uncertain);
}

static void status_clock_text(FILE *fp, const cJSON *o)
{
    const cJSON *c = cJSON_GetObjectItem(o, "clock");
    double behind = cJSON_GetNumberValue(cJSON_GetObjectItem(c, "behind_s"));
    double flagged = cJSON_GetNumberValue(cJSON_GetObjectItem(c, "records_flagged"));

    if (behind > 0)
        fprintf(fp, "clock:           WRONG, %.0f s behind the newest time seen (using that "
                "until a sync brings the hub's)\n", behind);
    if (flagged > 0)
        fprintf(fp, "wrong-clock records: %.0f (%.0f corrected from the hub's time, %.0f of an "
                "earlier boot not correctable)\n", flagged,
                cJSON_GetNumberValue(cJSON_GetObjectItem(c, "records_corrected")),
                cJSON_GetNumberValue(cJSON_GetObjectItem(c, "records_uncertain")));
}

static void status_link_text(FILE *fp, const cJSON *o)
{
    const cJSON *l = cJSON_GetObjectItem(o, "link_today");
    const cJSON *p = cJSON_GetObjectItem(o, "previous_error");
    double used = cJSON_GetNumberValue(cJSON_GetObjectItem(l, "bytes"));
    double budget = cJSON_GetNumberValue(cJSON_GetObjectItem(l, "budget"));

    if (budget > 0)
        fprintf(fp, "link today:      %.0f KiB of a %.0f KiB budget%s\n", used / 1024,
                budget / 1024, used >= budget ? " (used up: P reports only)" : "");
    else
        fprintf(fp, "link today:      %.0f KiB\n", used / 1024);
    if (p && !cJSON_IsString(cJSON_GetObjectItem(o, "last_error")))
        fprintf(fp, "previous error:  %s (at %s; synced since)\n",
                cJSON_GetStringValue(cJSON_GetObjectItem(p, "error")),
                cJSON_GetStringValue(cJSON_GetObjectItem(p, "at")));
}

int node_status(struct store *s, FILE *fp, int json)
{
    cJSON *o = cJSON_CreateObject(), *by = cJSON_CreateObject();
    char name[160] = "", sql[160], buf[64];
    const struct store_col name_col = { name, sizeof(name) };
    char sync_err[512];
    long long total = 0, n;

    if (!o || !by) {
        cJSON_Delete(o);
        cJSON_Delete(by);
        return -ENOMEM;
    }
    (void) store_get(s, "SELECT name FROM area WHERE code = ?1", store_district(s), &name_col, 1);
    for (int k = 0; k < REC_KIND_COUNT; k++) {
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE deleted = 0",
                 rec_kind(k)->table);
        n = count_of(s, sql);
        cJSON_AddNumberToObject(by, rec_kind(k)->table, (double)n);
        total += n;
    }
    cJSON_AddStringToObject(o, "district", store_district(s));
    cJSON_AddStringToObject(o, "district_name", name);
    cJSON_AddStringToObject(o, "node_id", store_node_id(s));
    cJSON_AddNumberToObject(o, "records", (double)total);
    cJSON_AddItemToObject(o, "records_by_table", by);
    cJSON_AddNumberToObject(o, "outbox", (double)count_of(s,
                            OUTBOX_COUNT_QUEUED_SQL));
    cJSON_AddNumberToObject(o, "rejected", (double)count_of(s,
                            OUTBOX_COUNT_REFUSED_SQL));
    cJSON_AddNumberToObject(o, "officers", (double)count_of(s,
                            "SELECT count(*) FROM officer WHERE deleted = 0"));
    cJSON_AddNumberToObject(o, "villages", (double)count_of(s,   /* of this district */
                            "SELECT count(*) FROM area WHERE level = 4 AND substr(code, 1, 4) = "
                            "(SELECT value FROM meta WHERE key = 'district')"));
    cJSON_AddNumberToObject(o, "schema_version", store_schema_version(s));
    if (store_meta_get(s, "last_sync_ok", buf, sizeof(buf)) == 0)
        cJSON_AddStringToObject(o, "last_sync", buf);
    else
        cJSON_AddNullToObject(o, "last_sync");
    /* sync health: the last failure, and how long the oldest queued change has waited */
    if (store_meta_get(s, "last_error", sync_err, sizeof(sync_err)) == 0 && sync_err[0])
        cJSON_AddStringToObject(o, "last_error", sync_err);
    else
        cJSON_AddNullToObject(o, "last_error");
    if (store_meta_get(s, "last_error_at", buf, sizeof(buf)) == 0)
        cJSON_AddStringToObject(o, "last_error_at", buf);
    else
        cJSON_AddNullToObject(o, "last_error_at");
    /* a sync that succeeded since cleared it: the history keeps the previous one */
    if (store_meta_get(s, "previous_error", buf, sizeof(buf)) == 0) {
        char at[40] = "";
        (void) store_meta_get(s, "previous_error_at", at, sizeof(at));
        cJSON *p = cJSON_AddObjectToObject(o, "previous_error");
        cJSON_AddStringToObject(p, "error", buf);
        cJSON_AddStringToObject(p, "at", at);
    }
    status_link(s, o);
    status_clock(s, o);
    n = count_of(s, "SELECT hlc FROM outbox_named WHERE state_name = 'queued' ORDER BY seq LIMIT 1");
    if (n > 0) {
        long long age = ((long long)hlc_wall_ms() - (long long)HLC_MS(n)) / 1000;
        cJSON_AddNumberToObject(o, "oldest_unsent_age_s", (double)(age > 0 ? age : 0));
    } else {
        cJSON_AddNullToObject(o, "oldest_unsent_age_s");
    }
    (void) sms_status_add(s, o);             /* the SMS spool: replies not picked up */

    if (json) {
        char *text = cJSON_Print(o);
        fprintf(fp, "%s\n", text ? text : "{}");
        free(text);
    } else {
        fprintf(fp, "district:        %s %s\n", store_district(s), name);
        fprintf(fp, "node id:         %s\n", store_node_id(s));
        fprintf(fp, "records:         %lld\n", total);
        fprintf(fp, "outbox (queued): %.0f\n", cJSON_GetNumberValue(cJSON_GetObjectItem(o, "outbox")));
        fprintf(fp, "rejected by hub: %.0f\n", cJSON_GetNumberValue(cJSON_GetObjectItem(o, "rejected")));
        fprintf(fp, "officers:        %.0f\n", cJSON_GetNumberValue(cJSON_GetObjectItem(o, "officers")));
        fprintf(fp, "villages:        %.0f\n", cJSON_GetNumberValue(cJSON_GetObjectItem(o, "villages")));
        fprintf(fp, "last sync:       %s\n", cJSON_IsString(cJSON_GetObjectItem(o, "last_sync"))
                ? cJSON_GetObjectItem(o, "last_sync")->valuestring : "never");
        if (cJSON_IsString(cJSON_GetObjectItem(o, "last_error")))
            fprintf(fp, "last sync error: %s (at %s)\n", sync_err,
                    cJSON_IsString(cJSON_GetObjectItem(o, "last_error_at"))
                    ? cJSON_GetObjectItem(o, "last_error_at")->valuestring : "?");
        status_link_text(fp, o);
        status_clock_text(fp, o);
        if (cJSON_IsNumber(cJSON_GetObjectItem(o, "oldest_unsent_age_s")))
            fprintf(fp, "oldest unsent:   %.0f s old\n",
                    cJSON_GetNumberValue(cJSON_GetObjectItem(o, "oldest_unsent_age_s")));
        fprintf(fp, "schema version:  %d\n", store_schema_version(s));
        sms_status_print(o, fp);
    }
    cJSON_Delete(o);
    return 0;
}

int case_report_by_ref(struct store *s, const char *ref, char id_out[UUID_STR_LEN])
{
    const struct store_col id = { id_out, UUID_STR_LEN };

    return store_get(s, "SELECT id FROM case_report WHERE ref = ?1 AND deleted = 0", ref, &id, 1);
}

/* The INSERT of kind: the stamps, a column per field of its validated
 * struct (validate.h) and its own number, if any. Made once per process:
 * store_stmt() keeps the text. */
static const char *insert_sql(enum rec_kind kind)
{
    static char *sql[REC_KIND_COUNT];
    const struct rec_kind_info *rk = rec_kind(kind);
    const struct rec_field *f = rk->fields;
    struct strbuf q = { 0 };
    int k = 5;

    if (sql[kind])
        return sql[kind];
    strbuf_fmt(&q, "INSERT INTO %s (id, origin, hlc, created_at, updated_at", rk->table);
    for (size_t i = 0; i < rk->n_fields; i++)
        strbuf_fmt(&q, ", %s", f[i].type == J_CASE_REF ? "case_id" : f[i].name);
    if (rk->number_col)
        strbuf_fmt(&q, ", %s", rk->number_col);
    strbuf_str(&q, ") VALUES (?1, ?2, ?3, ?4, ?4");
    for (size_t i = 0; i < rk->n_fields + (rk->number_col ? 1 : 0); i++)
        strbuf_fmt(&q, ", ?%d", k++);
    strbuf_str(&q, ")");
    sql[kind] = strbuf_take(&q);
    return sql[kind];
}

/* Reserves the kind's next number into out (24 bytes) inside the open
 * transaction. */
static int next_number(struct store *s, const struct rec_kind_info *rk, char out[24])
{
    char buf[24];
    unsigned long long n = 0;
    int r;

    if (store_meta_get(s, rk->number_meta, buf, sizeof(buf)) == 0)
        n = strtoull(buf, NULL, 10);
    snprintf(buf, sizeof(buf), "%llu", ++n);
    r = store_meta_set(s, rk->number_meta, buf);
    if (r == 0)
        snprintf(out, 24, "%s-%s-%06llu", store_district(s), rk->number_infix, n);
    return r;
}

/* Inserts a validated record of any kind but a case report, field by field
 * (validate.h's rec_field): text (empty: NULL), counts, yes/no (not given:
 * NULL), the herd as JSON. Call inside a transaction. */
static int fields_insert(struct store *s, enum rec_kind kind, const void *in,
                         char id_out[UUID_STR_LEN], char ref_out[24])
{
    const struct rec_kind_info *rk = rec_kind(kind);
    const char *base = in, *sql = insert_sql(kind);
    sqlite3_stmt *st = sql ? store_stmt(s, sql) : NULL;
    const struct rec_field *f = rk->fields;
    char now[32];
    int r, k = 5;

    if (!st)
        return -EIO;
    r = rk->number_col ? next_number(s, rk, ref_out) : 0;
    if (r == 0)
        r = stamp(s, rk->table, st, id_out, now);
    for (size_t i = 0; i < rk->n_fields && r == 0; i++, k++) {
        const void *v = base + f[i].off;
        switch (f[i].type) {
        case J_STR: case J_CASE_REF:
            bind_opt(st, k, v);
            break;
        case J_INT:
            sqlite3_bind_int64(st, k, *(const int64_t *)v);
            break;
        case J_YESNO:
            if (*(const int *)v >= 0)
                sqlite3_bind_int(st, k, *(const int *)v);
            break;
        case J_HERD: {
            char *json = json_text(herd_json(v, *(const int *)(const void *)(base + f[i].cap),
                                             f[i].counts, f[i].n_counts));
            if (!json)
                r = -ENOMEM;
            else
                sqlite3_bind_text(st, k, json, -1, free);
            break;
        }
        }
    }
    if (r == 0 && rk->number_col)
        sqlite3_bind_text(st, k, ref_out, -1, SQLITE_STATIC);
    if (r < 0) {
        sqlite3_reset(st);
        return r;
    }
    return step_done(s, st, rk->table);
}

int record_insert(struct store *s, enum rec_kind kind, const void *in,
                  char id_out[UUID_STR_LEN], char ref_out[24])
{
    ref_out[0] = '\0';
    assert((unsigned)kind < REC_KIND_COUNT);
    if (kind == REC_CASE)
        return case_report_insert(s, in, id_out, ref_out);
    return fields_insert(s, kind, in, id_out, ref_out);
}

const char *record_table(enum rec_kind kind)
{
    return rec_kind(kind)->table;
}

int record_insert_once(struct store *s, enum rec_kind kind, const void *in, const char *key,
                       char id_out[UUID_STR_LEN], char ref_out[24])
{
    char tbl[48] = "", ref[24] = "", now[32];
    const struct store_col col[] = { { tbl, sizeof(tbl) }, { id_out, UUID_STR_LEN },
                                     { ref, sizeof(ref) } };
    sqlite3_stmt *st;
    int r;

    if (!key || !key[0])
        return record_insert(s, kind, in, id_out, ref_out);
    r = store_get(s, "SELECT tbl, row_id, coalesce(ref, '') FROM write_key WHERE key = ?1", key,
                  col, 3);
    if (r == 0) {
        if (strcmp(tbl, record_table(kind)) != 0)
            return -EEXIST;
        snprintf(ref_out, 24, "%s", ref);
        return 1;
    }
    if (r != -ENOENT)
        return r;
    r = record_insert(s, kind, in, id_out, ref_out);
    if (r < 0)
        return r;
    st = store_stmt(s, "INSERT INTO write_key (key, tbl, row_id, ref, created_at)"
                       " VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!st)
        return -EIO;
    store_now_iso(now);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, record_table(kind), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, id_out, -1, SQLITE_STATIC);
    bind_opt(st, 4, ref_out);
    sqlite3_bind_text(st, 5, now, -1, SQLITE_STATIC);
    return store_step_done(s, st);
}
