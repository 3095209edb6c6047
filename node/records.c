/* records.c - field records: insert with provenance stamps, list, status. */
#include "records.h"

#include <assert.h>
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "outbox.h"

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

/* Stamps id, origin, hlc and times into parameters 1-4 of st. */
static int stamp(struct store *s, sqlite3_stmt *st, char id_out[UUID_STR_LEN], char now[32])
{
    uint64_t hlc = store_hlc_tick(s);
    int r = store_new_id(s, hlc, id_out);

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
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return log_errno(LOG_ERR, store_error(s, rc), "cannot store %s: %s", what,
                         sqlite3_errmsg(store_db(s)));
    return 0;
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
    char *signs = json_text(codes_json(in->signs, in->n_signs));
    char *ddx = json_text(codes_json(in->ddx, in->n_ddx));
    char *animals = json_text(animals_json(in->animals, in->n_animals));
    char now[32], kind[2] = { in->kind, 0 };
    uint64_t hlc;
    int r;

    if (!st) {
        r = -EIO;
        goto out;
    }
    if (!signs || !ddx || !animals) {
        r = -ENOMEM;
        goto out;
    }
    hlc = store_hlc_tick(s);
    r = store_new_id(s, hlc, id_out);
    if (r == 0)
        r = store_next_ref(s, ref_out);
    if (r < 0)
        goto out;
    store_now_iso(now);
    sqlite3_bind_text(st, 1, id_out, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, store_node_id(s), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)hlc);
    sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, ref_out, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, kind, 1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, in->village, -1, SQLITE_STATIC);
    if (in->kind == 'P')
        sqlite3_bind_text(st, 8, in->syndrome, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, signs, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, animals, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, ddx, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 12, in->event_date, -1, SQLITE_STATIC);
    bind_opt(st, 13, in->reporter);
    bind_opt(st, 14, in->note);
    if (in->has_point) {
        sqlite3_bind_double(st, 15, in->lon);
        sqlite3_bind_double(st, 16, in->lat);
    }
    r = step_done(s, st, "case report");
out:
    free(signs);
    free(ddx);
    free(animals);
    return r;
}

int officer_insert(struct store *s, const struct officer_in *in, char id_out[UUID_STR_LEN])
{
    sqlite3_stmt *st = store_stmt(s,
        "INSERT INTO officer (id, origin, hlc, created_at, updated_at, name, role, phone,"
        " district, village) VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?9)");
    char now[32];
    uint64_t hlc;
    int rc, r;

    if (!st)
        return -EIO;
    hlc = store_hlc_tick(s);
    r = store_new_id(s, hlc, id_out);
    if (r < 0)
        return r;
    store_now_iso(now);
    sqlite3_bind_text(st, 1, id_out, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, store_node_id(s), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)hlc);
    sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, in->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, in->role, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, in->phone, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, store_district(s), -1, SQLITE_STATIC);
    bind_opt(st, 9, in->village);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_error(s, rc);
    return 0;
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
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *col[17];
        for (int i = 0; i < 17; i++)
            col[i] = (const char *)sqlite3_column_text(st, i);
        if (json) {
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
            char *text = cJSON_PrintUnformatted(o);
            fprintf(fp, "%s%s", n ? ",\n" : "\n", text ? text : "null");
            free(text);
            cJSON_Delete(o);
        } else {
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
        n++;
    }
    if (json)
        fputs(n ? "\n]\n" : "]\n", fp);
    else if (n == 0)
        fputs("(no case reports yet)\n", fp);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store_error(s, rc);
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

static const char *const field_tables[] = { "case_report", "case_followup", "vaccination",
    "treatment", "movement_permit", "slaughter_report", "population_report" };

int node_status(struct store *s, FILE *fp, int json)
{
    cJSON *o = cJSON_CreateObject(), *by = cJSON_CreateObject();
    char name[160] = "", sql[160], buf[64];
    char sync_err[512];
    long long total = 0, n;
    sqlite3_stmt *st;

    if (!o || !by) {
        cJSON_Delete(o);
        cJSON_Delete(by);
        return -ENOMEM;
    }
    if (sqlite3_prepare_v2(store_db(s), "SELECT name FROM area WHERE code = ?1", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, store_district(s), -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            snprintf(name, sizeof(name), "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    for (size_t i = 0; i < sizeof(field_tables) / sizeof(field_tables[0]); i++) {
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE deleted = 0", field_tables[i]);
        n = count_of(s, sql);
        cJSON_AddNumberToObject(by, field_tables[i], (double)n);
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
    n = count_of(s, "SELECT hlc FROM outbox_named WHERE state_name = 'queued' ORDER BY seq LIMIT 1");
    if (n > 0) {
        long long age = ((long long)hlc_wall_ms() - (long long)HLC_MS(n)) / 1000;
        cJSON_AddNumberToObject(o, "oldest_unsent_age_s", (double)(age > 0 ? age : 0));
    } else {
        cJSON_AddNullToObject(o, "oldest_unsent_age_s");
    }

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
        if (cJSON_IsNumber(cJSON_GetObjectItem(o, "oldest_unsent_age_s")))
            fprintf(fp, "oldest unsent:   %.0f s old\n",
                    cJSON_GetNumberValue(cJSON_GetObjectItem(o, "oldest_unsent_age_s")));
        fprintf(fp, "schema version:  %d\n", store_schema_version(s));
    }
    cJSON_Delete(o);
    return 0;
}

int case_report_by_ref(struct store *s, const char *ref, char id_out[UUID_STR_LEN])
{
    sqlite3_stmt *st = store_stmt(s, "SELECT id FROM case_report WHERE ref = ?1 AND deleted = 0");
    int rc;

    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(id_out, UUID_STR_LEN, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? -ENOENT : store_error(s, rc);
}

int followup_insert(struct store *s, const struct followup_in *in, char id_out[UUID_STR_LEN])
{
    static const char *const names[] = { "sick", "dead", "culled", "at_risk" };
    sqlite3_stmt *st = store_stmt(s,
        "INSERT INTO case_followup (id, origin, hlc, created_at, updated_at, case_id, outcome,"
        " animals, escalate, event_date, reporter) VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8,"
        " ?9, ?10)");
    char *animals = json_text(herd_json(in->animals, in->n_animals, names, 4)), now[32];
    int r = !st ? -EIO : !animals ? -ENOMEM : stamp(s, st, id_out, now);

    if (r < 0)
        goto out;
    sqlite3_bind_text(st, 5, in->case_id, -1, SQLITE_STATIC);
    bind_opt(st, 6, in->outcome);
    sqlite3_bind_text(st, 7, animals, -1, SQLITE_STATIC);
    if (in->escalate >= 0)
        sqlite3_bind_int(st, 8, in->escalate);
    sqlite3_bind_text(st, 9, in->event_date, -1, SQLITE_STATIC);
    bind_opt(st, 10, in->reporter);
    r = step_done(s, st, "case follow-up");
out:
    free(animals);
    return r;
}

int vaccination_insert(struct store *s, const struct vaccination_in *in,
                       char id_out[UUID_STR_LEN])
{
    static const char *const names[] = { "primary", "booster" };
    sqlite3_stmt *st = store_stmt(s,
        "INSERT INTO vaccination (id, origin, hlc, created_at, updated_at, program, village,"
        " animals, event_date, reporter) VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?9)");
    char *animals = json_text(herd_json(in->animals, in->n_animals, names, 2)), now[32];
    int r = !st ? -EIO : !animals ? -ENOMEM : stamp(s, st, id_out, now);

    if (r < 0)
        goto out;
    sqlite3_bind_text(st, 5, in->program, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, in->village, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, animals, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, in->event_date, -1, SQLITE_STATIC);
    bind_opt(st, 9, in->reporter);
    r = step_done(s, st, "vaccination");
out:
    free(animals);
    return r;
}

int population_insert(struct store *s, const struct population_in *in,
                      char id_out[UUID_STR_LEN])
{
    static const char *const names[] = { "n" };
    sqlite3_stmt *st = store_stmt(s,
        "INSERT INTO population_report (id, origin, hlc, created_at, updated_at, village,"
        " animals, event_date, reporter) VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8)");
    char *animals = json_text(herd_json(in->animals, in->n_animals, names, 1)), now[32];
    int r = !st ? -EIO : !animals ? -ENOMEM : stamp(s, st, id_out, now);

    if (r < 0)
        goto out;
    sqlite3_bind_text(st, 5, in->village, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, animals, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, in->event_date, -1, SQLITE_STATIC);
    bind_opt(st, 8, in->reporter);
    r = step_done(s, st, "population report");
out:
    free(animals);
    return r;
}

int permit_insert(struct store *s, const struct permit_in *in, char id_out[UUID_STR_LEN],
                  char permit_out[24])
{
    static const char *const names[] = { "n" };
    sqlite3_stmt *st = store_stmt(s,
        "INSERT INTO movement_permit (id, origin, hlc, created_at, updated_at, permit_no,"
        " owner_id, owner_phone, from_area, to_area, animals, issue_date, reporter)"
        " VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
    char *animals = json_text(herd_json(in->animals, in->n_animals, names, 1));
    char now[32], buf[24];
    unsigned long long n = 0;
    int r = !st ? -EIO : !animals ? -ENOMEM : 0;

    if (r < 0)
        goto out;
    if (store_meta_get(s, "permit_seq", buf, sizeof(buf)) == 0)
        n = strtoull(buf, NULL, 10);
    snprintf(buf, sizeof(buf), "%llu", ++n);
    r = store_meta_set(s, "permit_seq", buf);
    if (r < 0)
        goto out;
    snprintf(permit_out, 24, "%s-SK-%06llu", store_district(s), n);
    r = stamp(s, st, id_out, now);
    if (r < 0)
        goto out;
    sqlite3_bind_text(st, 5, permit_out, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, in->owner_id, -1, SQLITE_STATIC);
    bind_opt(st, 7, in->owner_phone);
    sqlite3_bind_text(st, 8, in->from_area, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, in->to_area, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, animals, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, in->issue_date, -1, SQLITE_STATIC);
    bind_opt(st, 12, in->reporter);
    r = step_done(s, st, "movement permit");
out:
    free(animals);
    return r;
}

int treatment_insert(struct store *s, const struct treatment_in *in,
                     char id_out[UUID_STR_LEN])
{
    sqlite3_stmt *st = store_stmt(s,
        "INSERT INTO treatment (id, origin, hlc, created_at, updated_at, case_id, village,"
        " species, drug, n_animals, event_date, reporter, note)"
        " VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
    char now[32];
    int r;

    if (!st)
        return -EIO;
    r = stamp(s, st, id_out, now);
    if (r < 0)
        return r;
    bind_opt(st, 5, in->case_id);
    sqlite3_bind_text(st, 6, in->village, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, in->species, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, in->drug, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, in->n_animals);
    sqlite3_bind_text(st, 10, in->event_date, -1, SQLITE_STATIC);
    bind_opt(st, 11, in->reporter);
    bind_opt(st, 12, in->note);
    return step_done(s, st, "treatment");
}

int slaughter_insert(struct store *s, const struct slaughter_in *in,
                     char id_out[UUID_STR_LEN])
{
    sqlite3_stmt *st = store_stmt(s,
        "INSERT INTO slaughter_report (id, origin, hlc, created_at, updated_at, abattoir,"
        " village, species, n_animals, event_date, reporter, note)"
        " VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    char now[32];
    int r;

    if (!st)
        return -EIO;
    r = stamp(s, st, id_out, now);
    if (r < 0)
        return r;
    bind_opt(st, 5, in->abattoir);
    sqlite3_bind_text(st, 6, in->village, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, in->species, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, in->n_animals);
    sqlite3_bind_text(st, 9, in->event_date, -1, SQLITE_STATIC);
    bind_opt(st, 10, in->reporter);
    bind_opt(st, 11, in->note);
    return step_done(s, st, "slaughter report");
}

int record_insert(struct store *s, enum rec_kind kind, const void *in,
                  char id_out[UUID_STR_LEN], char ref_out[24])
{
    ref_out[0] = '\0';
    switch (kind) {
    case REC_CASE:        return case_report_insert(s, in, id_out, ref_out);
    case REC_FOLLOWUP:    return followup_insert(s, in, id_out);
    case REC_VACCINATION: return vaccination_insert(s, in, id_out);
    case REC_TREATMENT:   return treatment_insert(s, in, id_out);
    case REC_MOVEMENT:    return permit_insert(s, in, id_out, ref_out);
    case REC_SLAUGHTER:   return slaughter_insert(s, in, id_out);
    case REC_POPULATION:  return population_insert(s, in, id_out);
    case REC_KIND_COUNT:  break;
    }
    assert(!"record_insert: no such kind");
    return -EINVAL;
}
