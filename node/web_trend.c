/* web_trend.c - GET /api/v1/trends: what the dashboard draws and the
 * weekly summary prints (docs/api.md, "Trends"). Weeks run Monday to
 * Sunday in the district's zone (tz.h); the last 12 are counted: case
 * reports by species, by priority syndrome and by clinical sign (the epi
 * curves), by kecamatan (this week, the 4 weeks before, all 12), and the
 * villages that usually report (case reports in 3 or more of the 8 weeks
 * before this one) but have reported nothing this week, and this week's
 * priority cases with their response and outcome (the answer is kept until
 * the store changes, web_cache.c). Each list reads
 * the reports of the 12 weeks once, by the event_date index. */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store.h"
#include "tz.h"
#include "web_int.h"

#define TREND_WEEKS 12
#define SILENT_WINDOW_WEEKS 8
#define SILENT_MIN_WEEKS 3

/* The Monday of a date's week, as SQL of the date expression d. */
#define MONDAY(d) "date(" d ", '-6 days', 'weekday 1')"

static const struct {
    const char *key, *sql;
} curves[] = {
    { "by_species",
      "SELECT " MONDAY("c.event_date") " AS week, json_extract(j.value, '$.species') AS code,"
      " count(*) AS n FROM case_report c, json_each(c.animals) j"
      " WHERE c.deleted = 0 AND c.event_date >= ?1 GROUP BY 1, 2" },
    { "by_syndrome",
      "SELECT " MONDAY("c.event_date") " AS week, c.syndrome AS code, count(*) AS n"
      " FROM case_report c WHERE c.deleted = 0 AND c.kind = 'P' AND c.event_date >= ?1"
      " GROUP BY 1, 2" },
    { "by_sign",
      "SELECT " MONDAY("c.event_date") " AS week, j.value AS code, count(*) AS n"
      " FROM case_report c, json_each(c.signs) j"
      " WHERE c.deleted = 0 AND c.kind = 'U' AND c.event_date >= ?1 GROUP BY 1, 2" },
};

/* Adds under key one series per code, {code, counts: [TREND_WEEKS]}, from
 * sql's (week, code, n) rows; weeks[] are the Mondays, oldest first. */
static int add_curve(struct store *s, cJSON *o, const char *key, const char *sql,
                     char weeks[TREND_WEEKS][11])
{
    sqlite3_stmt *st = store_stmt(s, sql);
    cJSON *series = cJSON_AddArrayToObject(o, key), *one, *counts;
    int rc;

    if (!st)
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
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_error(s, rc);
}

/* Runs sql with ?1 = this week's Monday, ?2 = the first Monday counted,
 * and adds its rows under key. */
static int add_list(struct store *s, cJSON *o, const char *key, const char *sql,
                    const char *monday, const char *first)
{
    sqlite3_stmt *st = store_stmt(s, sql);
    int rc;

    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, monday, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, first, -1, SQLITE_TRANSIENT);
    cJSON_AddItemToObject(o, key, web_rows_json(st, &rc));
    return rc == SQLITE_DONE ? 0 : store_error(s, rc);
}

#define KECAMATAN_SQL \
    "SELECT k.code, k.name, t.this_week, t.prev4, t.weeks12 FROM" \
    " (SELECT substr(c.village, 1, 6) AS kec, sum(c.event_date >= ?1) AS this_week," \
    "  sum(c.event_date < ?1 AND c.event_date >= date(?1, '-28 days')) AS prev4," \
    "  count(*) AS weeks12 FROM case_report c WHERE c.deleted = 0 AND c.event_date >= ?2" \
    "  GROUP BY 1) t LEFT JOIN area k ON k.code = t.kec ORDER BY t.this_week DESC, t.weeks12 DESC"

#define SILENT_SQL \
    "SELECT t.village, a.name, k.name AS kecamatan_name, t.weeks_reported, t.last_report FROM" \
    " (SELECT c.village, count(DISTINCT CASE WHEN c.event_date < ?1 THEN " MONDAY("c.event_date") \
    "  END) AS weeks_reported, max(c.event_date) AS last_report," \
    "  sum(c.event_date >= ?1) AS this_week FROM case_report c" \
    "  WHERE c.deleted = 0 AND c.event_date >= date(?1, '-56 days') GROUP BY 1) t" \
    " LEFT JOIN area a ON a.code = t.village LEFT JOIN area k ON k.code = a.parent_code" \
    " WHERE t.this_week = 0 AND t.weeks_reported >= 3" \
    " ORDER BY t.weeks_reported DESC, t.last_report LIMIT 100"

#define TOTALS_SQL \
    "SELECT sum(c.event_date >= ?1) AS this_week," \
    " sum(c.event_date < ?1 AND c.event_date >= date(?1, '-7 days')) AS last_week," \
    " round(sum(c.event_date < ?1 AND c.event_date >= date(?1, '-28 days')) / 4.0, 1)" \
    " AS avg_prev4, sum(c.event_date >= ?1 AND c.kind = 'P') AS p_this_week," \
    " count(*) AS weeks12 FROM case_report c WHERE c.deleted = 0 AND c.event_date >= ?2"

#define P_CASES_SQL \
    "SELECT c.ref, c.syndrome, c.village, a.name AS village_name, c.event_date," \
    " (SELECT f.outcome FROM case_followup f WHERE f.case_id = c.id AND f.deleted = 0" \
    "  AND f.outcome IS NOT NULL ORDER BY f.hlc DESC LIMIT 1) AS outcome," \
    " EXISTS (SELECT 1 FROM case_followup f WHERE f.case_id = c.id AND f.deleted = 0)" \
    " AS responded FROM case_report c LEFT JOIN area a ON a.code = c.village" \
    " WHERE c.deleted = 0 AND c.kind = 'P' AND c.event_date >= ?1 AND ?2 IS NOT NULL" \
    " ORDER BY c.event_date, c.ref LIMIT 50"

/* The answer of GET /api/v1/trends, or NULL when it was answered with an error. */
static cJSON *trends_make(struct wreq *q)
{
    struct store *s = q->w->d->store;
    const struct tz_zone *z = tz_of_area(store_district(s));
    char weeks[TREND_WEEKS][11], today[11];
    const struct store_col col = { weeks[TREND_WEEKS - 1], 11 };
    cJSON *o = cJSON_CreateObject(), *arr, *totals;
    int r;

    tz_date(z, time(NULL), today);
    r = store_get(s, "SELECT " MONDAY("?1"), today, &col, 1);
    for (int i = TREND_WEEKS - 2; r == 0 && i >= 0; i--) {
        const struct store_col prev = { weeks[i], 11 };
        r = store_get(s, "SELECT date(?1, '-7 days')", weeks[i + 1], &prev, 1);
    }
    arr = cJSON_AddArrayToObject(o, "weeks");
    for (int i = 0; r == 0 && i < TREND_WEEKS; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(weeks[i]));
    cJSON_AddStringToObject(o, "today", today);
    cJSON_AddStringToObject(o, "tz", z->name);
    cJSON_AddNumberToObject(o, "silent_min_weeks", SILENT_MIN_WEEKS);
    cJSON_AddNumberToObject(o, "silent_window_weeks", SILENT_WINDOW_WEEKS);
    for (size_t i = 0; r == 0 && i < sizeof(curves) / sizeof(curves[0]); i++)
        r = add_curve(s, o, curves[i].key, curves[i].sql, weeks);
    if (r == 0)
        r = add_list(s, o, "by_kecamatan", KECAMATAN_SQL, weeks[TREND_WEEKS - 1], weeks[0]);
    if (r == 0)
        r = add_list(s, o, "silent", SILENT_SQL, weeks[TREND_WEEKS - 1], weeks[0]);
    if (r == 0)
        r = add_list(s, o, "p_cases", P_CASES_SQL, weeks[TREND_WEEKS - 1], weeks[0]);
    if (r == 0) {
        char name[128] = "";
        const struct store_col nc = { name, sizeof(name) };
        (void) store_get(s, "SELECT name FROM area WHERE code = ?1", store_district(s), &nc, 1);
        cJSON_AddStringToObject(o, "district", store_district(s));
        cJSON_AddStringToObject(o, "district_name", name);
        r = add_list(s, o, "totals", TOTALS_SQL, weeks[TREND_WEEKS - 1], weeks[0]);
        totals = cJSON_DetachItemFromObject(o, "totals");
        cJSON_AddItemToObject(o, "totals", cJSON_DetachItemFromArray(totals, 0));
        cJSON_Delete(totals);
    }
    if (r < 0) {
        cJSON_Delete(o);
        web_send_store_error(q, r);
        return NULL;
    }
    return o;
}

void web_api_trends(struct wreq *q)
{
    cJSON *o = trends_make(q);

    if (o)
        web_send_json(q, 200, o, NULL);
}
