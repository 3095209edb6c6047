/* web_trend.c - GET /api/v1/trends: what the dashboard draws and the
 * weekly summary prints (docs/api.md, "Trends"). Weeks run Monday to
 * Sunday in the district's zone (tz.h); the last 12 are counted: case
 * reports by species, by priority syndrome and by clinical sign (the epi
 * curves), by kecamatan (this week, the 4 weeks before, all 12), and the
 * villages that usually report (case reports in 3 or more of the 8 weeks
 * before this one) but have reported nothing this week, and this week's
 * priority cases with their response and outcome; the answer is kept until
 * the store changes (web_cache.c). The counts come from case_week (schema/
 * node/009_case_week.sql), kept by triggers as reports are written, so
 * the answer costs a few thousand small rows however large the store. */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_server.h"
#include "store.h"
#include "tz.h"
#include "web_int.h"

#define TREND_WEEKS 12
#define SILENT_WINDOW_WEEKS 8
#define SILENT_MIN_WEEKS 3

/* The Monday of a date's week, as SQL of the date expression d. */
#define MONDAY(d) "date(" d ", '-6 days', 'weekday 1')"

/* The epi curves: (week, code, n) rows of case_week (schema/node/009). */
#define CURVE_SQL(dim) \
    "SELECT week, code, n FROM case_week WHERE dim = '" dim "' AND week >= ?1 AND n > 0"

static const struct {
    const char *key, *sql;
} curves[] = {
    { "by_species", CURVE_SQL("species") },
    { "by_syndrome", CURVE_SQL("syndrome") },
    { "by_sign", CURVE_SQL("sign") },
};

/* Adds under key one series per code, {code, counts: [TREND_WEEKS]}, from
 * sql's (week, code, n) rows; weeks[] are the Mondays, oldest first. */
static int add_curve(sqlite3 *db, cJSON *o, const char *key, const char *sql,
                     char weeks[TREND_WEEKS][11])
{
    sqlite3_stmt *st = NULL;
    cJSON *series = cJSON_AddArrayToObject(o, key), *one, *counts;
    int rc;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, weeks[0], -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *week = (const char *)sqlite3_column_text(st, 0);
        const char *code = (const char *)sqlite3_column_text(st, 1);
        int w = -1;

        for (int i = 0; i < TREND_WEEKS; i++)
            if (week && strcmp(week, weeks[i]) == 0)
                w = i;
        if (w < 0 || !code)
            continue;
        one = NULL;
        cJSON_ArrayForEach(one, series)
            if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(one, "code")), code) == 0)
                break;
        if (!one) {
            one = cJSON_CreateObject();
            cJSON_AddStringToObject(one, "code", code);
            counts = cJSON_AddArrayToObject(one, "counts");
            for (int i = 0; i < TREND_WEEKS; i++)
                cJSON_AddItemToArray(counts, cJSON_CreateNumber(0));
            cJSON_AddItemToArray(series, one);
        }
        counts = cJSON_GetObjectItem(one, "counts");
        cJSON_SetNumberValue(cJSON_GetArrayItem(counts, w), sqlite3_column_int(st, 2));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : rc == SQLITE_BUSY ? -EBUSY : -EIO;
}

/* Runs sql with ?1 = this week's Monday, ?2 = the first Monday counted,
 * and adds its rows under key. */
static int add_list(sqlite3 *db, cJSON *o, const char *key, const char *sql,
                    const char *monday, const char *first)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, monday, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, first, -1, SQLITE_TRANSIENT);
    cJSON_AddItemToObject(o, key, web_rows_json(st, &rc));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : rc == SQLITE_BUSY ? -EBUSY : -EIO;
}

/* The first column of sql's row (?1 = arg) as text into out (11+ bytes). */
static int get_text(sqlite3 *db, const char *sql, const char *arg, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    int rc;

    out[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : rc == SQLITE_BUSY ? -EBUSY : -EIO;
}

/* A count of case_week's rows w of this week (?1), of the 4 weeks before */
#define THIS_WEEK "sum(CASE WHEN w.week >= ?1 THEN w.n ELSE 0 END)"
#define PREV4 "sum(CASE WHEN w.week < ?1 AND w.week >= date(?1, '-28 days') THEN w.n ELSE 0 END)"

#define KECAMATAN_SQL \
    "SELECT k.code, k.name, t.this_week, t.prev4, t.weeks12 FROM" \
    " (SELECT substr(w.code, 1, 6) AS kec, " THIS_WEEK " AS this_week, " PREV4 " AS prev4," \
    "  sum(w.n) AS weeks12 FROM case_week w WHERE w.dim = 'village' AND w.week >= ?2" \
    "  GROUP BY 1 HAVING weeks12 > 0) t" \
    " LEFT JOIN area k ON k.code = t.kec ORDER BY t.this_week DESC, t.weeks12 DESC"

/* the villages with reports in SILENT_MIN_WEEKS of the 8 weeks before this
 * one and none this week, with their last report */
#define SILENT_SQL \
    "SELECT t.village, a.name, k.name AS kecamatan_name, t.weeks_reported, t.last_report FROM" \
    " (SELECT w.code AS village, sum(w.week < ?1 AND w.n > 0) AS weeks_reported," \
    "  max(CASE WHEN w.n > 0 THEN w.last END) AS last_report, " THIS_WEEK " AS this_week" \
    "  FROM case_week w WHERE w.dim = 'village' AND w.week >= date(?1, '-56 days')" \
    "  GROUP BY 1) t" \
    " LEFT JOIN area a ON a.code = t.village LEFT JOIN area k ON k.code = a.parent_code" \
    " WHERE t.this_week = 0 AND t.weeks_reported >= 3" \
    " ORDER BY t.weeks_reported DESC, t.last_report LIMIT 100"

#define TOTALS_SQL \
    "SELECT " THIS_WEEK " AS this_week," \
    " sum(CASE WHEN w.week < ?1 AND w.week >= date(?1, '-7 days') THEN w.n ELSE 0 END)" \
    " AS last_week, round(" PREV4 " / 4.0, 1) AS avg_prev4," \
    " sum(CASE WHEN w.week >= ?1 AND w.code = 'P' THEN w.n ELSE 0 END) AS p_this_week," \
    " sum(w.n) AS weeks12 FROM case_week w WHERE w.dim = 'kind' AND w.week >= ?2"

#define P_CASES_SQL \
    "SELECT c.ref, c.syndrome, c.village, a.name AS village_name, c.event_date," \
    " (SELECT f.outcome FROM case_followup f WHERE f.case_id = c.id AND f.deleted = 0" \
    "  AND f.outcome IS NOT NULL ORDER BY f.hlc DESC LIMIT 1) AS outcome," \
    " EXISTS (SELECT 1 FROM case_followup f WHERE f.case_id = c.id AND f.deleted = 0)" \
    " AS responded FROM case_report c LEFT JOIN area a ON a.code = c.village" \
    " WHERE c.deleted = 0 AND c.kind = 'P' AND c.event_date >= ?1 AND ?2 IS NOT NULL" \
    " ORDER BY c.event_date, c.ref LIMIT 50"

/* The answer of GET /api/v1/trends from db, the store of district; NULL
 * with *r set when a read failed. */
static cJSON *trends_make(sqlite3 *db, const char *district, int *r_out)
{
    const struct tz_zone *z = tz_of_area(district);
    char weeks[TREND_WEEKS][11], today[11], name[128] = "";
    cJSON *o = cJSON_CreateObject(), *arr, *totals;
    int r;

    tz_date(z, time(NULL), today);
    r = get_text(db, "SELECT " MONDAY("?1"), today, weeks[TREND_WEEKS - 1], 11);
    for (int i = TREND_WEEKS - 2; r == 0 && i >= 0; i--)
        r = get_text(db, "SELECT date(?1, '-7 days')", weeks[i + 1], weeks[i], 11);
    arr = cJSON_AddArrayToObject(o, "weeks");
    for (int i = 0; r == 0 && i < TREND_WEEKS; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(weeks[i]));
    cJSON_AddStringToObject(o, "today", today);
    cJSON_AddStringToObject(o, "tz", z->name);
    cJSON_AddNumberToObject(o, "silent_min_weeks", SILENT_MIN_WEEKS);
    cJSON_AddNumberToObject(o, "silent_window_weeks", SILENT_WINDOW_WEEKS);
    for (size_t i = 0; r == 0 && i < sizeof(curves) / sizeof(curves[0]); i++)
        r = add_curve(db, o, curves[i].key, curves[i].sql, weeks);
    if (r == 0)
        r = add_list(db, o, "by_kecamatan", KECAMATAN_SQL, weeks[TREND_WEEKS - 1], weeks[0]);
    if (r == 0)
        r = add_list(db, o, "silent", SILENT_SQL, weeks[TREND_WEEKS - 1], weeks[0]);
    if (r == 0)
        r = add_list(db, o, "p_cases", P_CASES_SQL, weeks[TREND_WEEKS - 1], weeks[0]);
    if (r == 0)
        r = get_text(db, "SELECT name FROM area WHERE code = ?1", district, name, sizeof(name));
    if (r == 0) {
        cJSON_AddStringToObject(o, "district", district);
        cJSON_AddStringToObject(o, "district_name", name);
        r = add_list(db, o, "totals", TOTALS_SQL, weeks[TREND_WEEKS - 1], weeks[0]);
        totals = cJSON_DetachItemFromObject(o, "totals");
        cJSON_AddItemToObject(o, "totals", cJSON_DetachItemFromArray(totals, 0));
        cJSON_Delete(totals);
    }
    *r_out = r;
    if (r < 0) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Counted on the loop thread: the counts come from case_week (a few
 * thousand small rows) and this week's priority cases by the event_date
 * index, so it costs milliseconds at 100,000 records; the answer is then
 * kept until the store changes (web_cache.c). */
void web_api_trends(struct wreq *q)
{
    struct store *s = q->w->d->store;
    int r = 0;
    cJSON *o = trends_make(store_db(s), store_district(s), &r);

    if (!o) {
        web_send_store_error(q, r < 0 ? r : -ENOMEM);
        return;
    }
    web_send_json(q, 200, o, NULL);
}
