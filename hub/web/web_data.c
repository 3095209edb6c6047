/* web_data.c - the datasets behind the analysts' pages and the JSON API
 * (docs/analyst-guide.md, "API"): one SQL statement each over the report
 * schema (schema/central/010-011), with the same eleven text parameters:
 *   $1 area prefix (already within the caller's scope)   $2 from  $3 to
 *   $4 species ('' all)   $5 code ('' all)   $6 group length (epi)
 *   $7 case id   $8 open only ('1')   $9 row limit   $10 $11 a spot (lon, lat)
 * The area filter is a prefix of the area codes (province 2 digits,
 * district 4, village 10); a caller's scope is itself such a prefix, and
 * web_filter_parse() refuses an area outside it, so a province analyst's
 * query can never reach another province's rows.
 *
 * The map reads map_points_compact (the points' coordinates only, merged
 * by spot: a few hundred kB for 20,000 points where map_points' rows are
 * ~5 MB) and, when a point is clicked, map_at (the cases at that spot);
 * map_points stays the points' rows for scripts and the GeoJSON export. */
#include "webapp.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "log.h"

#define EXPORT_TIMEOUT "30min"

struct web_dataset {
    const char *name;
    const char *sql;
};

/* the area filter of a table with a district column */
#define IN_AREA(col) "left(" col ", least(length($1), 4)) = left($1, 4)"
#define WEEKS "week BETWEEN report.week($2::date) AND $3::date"
/* the level of the area asked for: its table of the week rows */
#define AT_NATION "$1 = ''"
#define AT_PROVINCE "length($1) = 2 AND province = $1"
#define AT_DISTRICT "length($1) >= 4 AND " IN_AREA("district")
/* all species and codes (a week table), or one of them (an epi table) */
#define ALL_CODES "$4 = '' AND $5 IN ('', '*')"
#define EPI_CODE "code = coalesce(nullif($5, ''), '*') AND ($4 = '' OR species = $4)" \
    " AND NOT (" ALL_CODES ")"
/* the points of the map (report.case_point c), and a point's spot. The
 * area's test is left out when there is none ($1 = '' folds to true): the
 * planner takes left(village, 0) = '' for rare, and the nation's newest
 * 20,000 points were then read by sorting the whole year (2.6 s at 2 M
 * reports) instead of backwards along the date index (0.15 s). */
#define MAP_POINTS "c.event_date BETWEEN $2::date AND $3::date" \
    " AND (length($1) < 4 OR left(c.village, 4) = left($1, 4))" \
    " AND ($1 = '' OR left(c.village, length($1)) = $1)" \
    " AND ($5 = '' OR c.syndrome = $5 OR c.signs LIKE '%\"' || $5 || '\"%')"
#define SPOT_X "round(ST_X(c.geom)::numeric, 5)::float8"
#define SPOT_Y "round(ST_Y(c.geom)::numeric, 5)::float8"
#define EPI_COLS "species, code, kind, reports, villages, sick, dead, sick_ar, dead_ar, at_risk"
/* the figures of a group of epi_week or district_week rows */
#define FIGURES "sum(reports)::bigint AS reports, sum(villages)::bigint AS villages," \
    " sum(sick)::bigint AS sick, sum(dead)::bigint AS dead, sum(at_risk)::bigint AS at_risk," \
    " round(100.0 * (sum(sick_ar) + sum(dead_ar)) / nullif(sum(at_risk), 0), 2) AS attack_rate_pct," \
    " round(100.0 * sum(dead) / nullif(sum(sick) + sum(dead), 0), 2) AS case_fatality_pct"

static const struct web_dataset datasets[] = {
    { "weekly",
      "SELECT w.week::date AS week, coalesce(e.reports, 0) AS reports,"
      " coalesce(e.villages, 0) AS villages, coalesce(e.sick, 0) AS sick,"
      " coalesce(e.dead, 0) AS dead, coalesce(e.at_risk, 0) AS at_risk,"
      " e.attack_rate_pct, e.case_fatality_pct"
      " FROM generate_series(report.week($2::date), $3::date, interval '7 days') w(week)"
      /* one species or code: an epi table; all of them: a week table; each
       * at the level of the area (national, province, district) */
      " LEFT JOIN (SELECT week, " FIGURES " FROM report.epi_national"
      "  WHERE " WEEKS " AND " EPI_CODE " AND " AT_NATION " GROUP BY week"
      " UNION ALL SELECT week, " FIGURES " FROM report.epi_province"
      "  WHERE " WEEKS " AND " EPI_CODE " AND " AT_PROVINCE " GROUP BY week"
      " UNION ALL SELECT week, " FIGURES " FROM report.epi_week"
      "  WHERE " WEEKS " AND " EPI_CODE " AND " AT_DISTRICT " GROUP BY week"
      " UNION ALL SELECT week, " FIGURES " FROM report.national_week"
      "  WHERE " WEEKS " AND " ALL_CODES " AND " AT_NATION " GROUP BY week"
      " UNION ALL SELECT week, " FIGURES " FROM report.province_week"
      "  WHERE " WEEKS " AND " ALL_CODES " AND " AT_PROVINCE " GROUP BY week"
      " UNION ALL SELECT week, " FIGURES " FROM report.district_week"
      "  WHERE " WEEKS " AND " ALL_CODES " AND " AT_DISTRICT " GROUP BY week) e"
      " ON e.week = w.week::date ORDER BY 1" },
    { "epi",
      /* from the table of the level the rows are grouped at, or the area's
       * if finer: national, province or district */
      "SELECT e.week, e.area,"
      " CASE WHEN $6::int = 0 THEN 'Indonesia' ELSE min(a.name) END AS area_name,"
      " e.species, e.code, min(e.kind) AS kind, sum(e.reports)::bigint AS reports,"
      " sum(e.villages)::bigint AS villages, sum(e.sick)::bigint AS sick,"
      " sum(e.dead)::bigint AS dead, sum(e.at_risk)::bigint AS at_risk,"
      " round(100.0 * (sum(e.sick_ar) + sum(e.dead_ar)) / nullif(sum(e.at_risk), 0), 2) AS attack_rate_pct,"
      " round(100.0 * sum(e.dead) / nullif(sum(e.sick) + sum(e.dead), 0), 2) AS case_fatality_pct"
      " FROM (SELECT week, '' AS area, " EPI_COLS " FROM report.epi_national"
      "  WHERE " WEEKS " AND " AT_NATION " AND $6::int = 0"
      " UNION ALL SELECT week, left(province, $6::int), " EPI_COLS " FROM report.epi_province"
      "  WHERE " WEEKS " AND length($1) <= 2 AND $6::int <= 2 AND NOT ($1 = '' AND $6::int = 0)"
      "  AND left(province, length($1)) = $1"
      " UNION ALL SELECT week, left(district, $6::int), " EPI_COLS " FROM report.epi_week"
      "  WHERE " WEEKS " AND (length($1) >= 4 OR $6::int = 4) AND " IN_AREA("district") ") e"
      " LEFT JOIN area a ON a.code = e.area"
      " WHERE ($5 = '' OR e.code = $5) AND ($4 = '' OR e.species = $4)"
      " GROUP BY e.week, e.area, e.species, e.code ORDER BY e.week, e.area, e.species, e.code" },
    { "drill",
      "WITH k AS (SELECT province AS code, sum(reports)::bigint AS reports,"
      "  sum(villages)::bigint AS villages, sum(sick)::bigint AS sick, sum(dead)::bigint AS dead,"
      "  max(week) AS last_week FROM report.province_week"
      "  WHERE $1 = '' AND " WEEKS " GROUP BY 1"
      " UNION ALL SELECT district, sum(reports)::bigint, sum(villages)::bigint,"
      "  sum(sick)::bigint, sum(dead)::bigint, max(week) FROM report.district_week"
      "  WHERE length($1) = 2 AND " WEEKS " AND left(district, 2) = $1 GROUP BY 1"
      " UNION ALL SELECT village, sum(reports)::bigint, count(DISTINCT village)::bigint,"
      "  sum(sick)::bigint, sum(dead)::bigint, max(week) FROM report.village_week"
      "  WHERE length($1) >= 4 AND " WEEKS " AND left(village, length($1)) = $1 GROUP BY 1)"
      " SELECT k.code, a.name, k.reports, k.villages, k.sick, k.dead, k.last_week"
      " FROM k LEFT JOIN area a ON a.code = k.code ORDER BY k.reports DESC, k.code" },
    { "cases",
      /* in the order of the date index and without a join, so that the rows
       * stream from the first one on, however many there are */
      "SELECT c.id, c.ref, c.kind, c.village,"
      " (SELECT a.name FROM area a WHERE a.code = c.village) AS village_name, c.syndrome,"
      " c.signs, c.event_date, c.received_at, c.src_node, n.sick, n.dead, n.at_risk,"
      " ST_AsGeoJSON(c.geom, 6)::json AS geom"
      " FROM case_report c, LATERAL (SELECT sum(coalesce((x ->> 'sick')::bigint, 0)) AS sick,"
      "  sum(coalesce((x ->> 'dead')::bigint, 0)) AS dead,"
      "  sum(coalesce((x ->> 'at_risk')::bigint, 0)) AS at_risk"
      "  FROM jsonb_array_elements(c.animals) x) n"
      " WHERE c.deleted = 0 AND c.event_date BETWEEN $2::date AND $3::date"
      " AND (length($1) < 4 OR left(c.village, 4) = left($1, 4))"
      /* no area test without an area: PostgreSQL would guess that
       * left(village, 0) = '' keeps 0.5 % of the rows and plan for a few
       * thousand (a nested loop of a million at 20 M) */
      " AND ($1 = '' OR left(c.village, length($1)) = $1)"
      " AND ($5 = '' OR c.syndrome = $5 OR c.signs ? $5)"
      " AND ($4 = '' OR c.animals @> jsonb_build_array(jsonb_build_object('species', $4)))"
      " ORDER BY c.event_date DESC" },
    { "case",
      "SELECT c.id, c.ref, c.kind, c.village, a.name AS village_name, c.syndrome, c.signs,"
      " c.animals, c.ddx, c.event_date, c.reporter, c.note, c.origin, c.hlc::text AS hlc,"
      " c.created_at, c.updated_at, c.received_at, c.src_node, c.src_batch,"
      " c.src_hlc::text AS src_hlc, c.deleted, ST_AsGeoJSON(c.geom, 6)::json AS geom,"
      " (SELECT coalesce(json_agg(json_build_object('id', f.id, 'event_date', f.event_date,"
      "   'outcome', f.outcome, 'animals', f.animals, 'escalate', f.escalate, 'note', f.note,"
      "   'src_node', f.src_node, 'received_at', f.received_at) ORDER BY f.event_date, f.hlc), '[]')"
      "  FROM case_followup f WHERE f.case_id = c.id AND f.deleted = 0) AS followups,"
      " (SELECT coalesce(json_agg(json_build_object('logged_at', l.logged_at,"
      "   'winner_node', l.winner_node, 'winner_hlc', l.winner_hlc::text,"
      "   'loser_node', l.loser_node, 'loser_hlc', l.loser_hlc::text,"
      "   'winner', l.winner, 'loser', l.loser) ORDER BY l.id), '[]')"
      "  FROM conflict_log l WHERE l.tbl = 'case_report' AND l.row_id = c.id) AS conflicts,"
      /* the versions it replaced, oldest first (014_case_versions.sql) */
      " (SELECT coalesce(json_agg(json_build_object('replaced_at', v.replaced_at,"
      "   'origin', v.origin, 'hlc', v.hlc::text, 'src_node', v.src_node,"
      "   'received_at', v.received_at, 'version', v.version) ORDER BY v.id), '[]')"
      "  FROM report.case_version v WHERE v.case_id = c.id) AS versions"
      " FROM case_report c LEFT JOIN area a ON a.code = c.village"
      " WHERE c.id = $7 AND left(c.village, length($1)) = $1" },
    { "completeness",
      "WITH wk AS (SELECT report.week($3::date) AS w),"
      " h AS (SELECT district,"
      "  sum(reports) FILTER (WHERE week = (SELECT w FROM wk)) AS reports,"
      "  sum(villages) FILTER (WHERE week = (SELECT w FROM wk)) AS villages,"
      "  sum(reports) FILTER (WHERE week < (SELECT w FROM wk)) / 8.0 AS usual,"
      "  count(*) FILTER (WHERE week < (SELECT w FROM wk) AND reports > 0) AS weeks"
      "  FROM report.district_week WHERE week BETWEEN (SELECT w FROM wk) - 56 AND (SELECT w FROM wk)"
      "  AND " IN_AREA("district") " GROUP BY district),"
      " ds AS (SELECT code, name FROM area WHERE level = 2 AND " IN_AREA("code") ")"
      " SELECT (SELECT w FROM wk) AS week, coalesce(ds.code, h.district) AS district, ds.name,"
      " coalesce(h.reports, 0)::bigint AS reports, coalesce(h.villages, 0)::bigint AS villages,"
      " round(coalesce(h.usual, 0), 1) AS usual_reports,"
      " coalesce(h.weeks, 0)::int AS weeks_reported_of_8,"
      " (coalesce(h.reports, 0) = 0 AND coalesce(h.weeks, 0) >= 4) AS silent"
      " FROM ds FULL JOIN h ON h.district = ds.code"
      " ORDER BY 8 DESC, 2" },
    { "silent_villages",
      "WITH wk AS (SELECT report.week($3::date) AS w),"
      " v AS (SELECT village, count(*) FILTER (WHERE week < (SELECT w FROM wk)) AS weeks,"
      "  sum(reports) FILTER (WHERE week = (SELECT w FROM wk)) AS reports, max(week) AS last_week"
      "  FROM report.village_week WHERE week BETWEEN (SELECT w FROM wk) - 56 AND (SELECT w FROM wk)"
      "  AND left(village, length($1)) = $1 GROUP BY village)"
      " SELECT (SELECT w FROM wk) AS week, left(v.village, 4) AS district, v.village, a.name,"
      " v.weeks::int AS weeks_reported_of_8, v.last_week"
      " FROM v LEFT JOIN area a ON a.code = v.village"
      " WHERE coalesce(v.reports, 0) = 0 AND v.weeks >= 3 ORDER BY v.weeks DESC, v.village" },
    { "vaccination",
      /* a year's row when all its weeks lie in the period, else its weeks */
      "WITH y AS (SELECT *, (first_week >= report.week($2::date) AND last_week <= $3::date) AS inside"
      "  FROM report.vacc_year WHERE year BETWEEN extract(year FROM report.week($2::date))::int"
      "  AND extract(year FROM $3::date)::int AND " IN_AREA("district")
      "  AND ($4 = '' OR species = $4) AND ($5 = '' OR disease = $5)),"
      " v AS (SELECT district, species, disease, sum(records)::bigint AS records,"
      "  sum(vaccinated)::bigint AS vaccinated FROM"
      "  (SELECT district, species, disease, records, vaccinated FROM y WHERE inside"
      "   UNION ALL SELECT w.district, w.species, w.disease, w.records, w.vaccinated"
      "   FROM y JOIN report.vacc_week w ON w.district = y.district AND w.species = y.species"
      "   AND w.disease = y.disease AND w.week >= greatest(y.first_week, report.week($2::date))"
      "   AND w.week <= least(y.last_week, $3::date) WHERE NOT y.inside) u GROUP BY 1, 2, 3)"
      " SELECT v.district, a.name, v.species, v.disease, v.records, v.vaccinated,"
      " p.n AS population, p.as_of AS population_date,"
      " round(100.0 * v.vaccinated / nullif(p.n, 0), 1) AS coverage_pct"
      " FROM v LEFT JOIN report.population p ON p.district = v.district AND p.species = v.species"
      " LEFT JOIN area a ON a.code = v.district ORDER BY v.district, v.species, v.disease" },
    { "movements",
      "SELECT m.from_district, fa.name AS from_name, m.to_district, ta.name AS to_name,"
      " m.species, sum(m.permits)::bigint AS permits, sum(m.animals)::bigint AS animals"
      " FROM report.movement_week m LEFT JOIN area fa ON fa.code = m.from_district"
      " LEFT JOIN area ta ON ta.code = m.to_district"
      " WHERE m." WEEKS " AND (" IN_AREA("m.from_district") " OR " IN_AREA("m.to_district") ")"
      " AND ($4 = '' OR m.species = $4)"
      " GROUP BY 1, 2, 3, 4, 5 ORDER BY animals DESC, 1, 3" },
    { "slaughter",
      "SELECT s.district, a.name, s.species, sum(s.reports)::bigint AS reports,"
      " sum(s.animals)::bigint AS animals FROM report.slaughter_week s"
      " LEFT JOIN area a ON a.code = s.district"
      " WHERE s." WEEKS " AND " IN_AREA("s.district") " AND ($4 = '' OR s.species = $4)"
      " GROUP BY 1, 2, 3 ORDER BY 1, 3" },
    { "priority",
      "SELECT p.id, p.ref, p.district, p.village, a.name AS village_name, p.syndrome,"
      " p.event_date, p.received_at, p.sick, p.dead, p.first_response, p.days_to_response,"
      " p.followups, p.outcome, p.outcome_date, p.open, ST_AsGeoJSON(p.geom, 6)::json AS geom"
      " FROM report.priority_event p LEFT JOIN area a ON a.code = p.village"
      " WHERE p.event_date BETWEEN $2::date AND $3::date AND left(p.village, length($1)) = $1"
      " AND ($5 = '' OR p.syndrome = $5) AND ($8 = '' OR p.open)"
      " ORDER BY p.open DESC, p.event_date DESC LIMIT $9::int" },
    { "map_points",
      "SELECT c.id, c.ref, c.kind, c.village, c.syndrome, c.event_date, c.sick, c.dead,"
      " ST_AsGeoJSON(c.geom, 5)::json AS geom FROM report.case_point c"
      " WHERE " MAP_POINTS " ORDER BY c.event_date DESC LIMIT $9::int" },
    { "map_points_compact",
      /* the same points, rounded to 5 decimals (~1 m) and merged by spot:
       * one row, xyn = [lon, lat, cases, lon, lat, cases, ...] */
      "WITH p AS (SELECT " SPOT_X " AS x, " SPOT_Y " AS y FROM report.case_point c"
      "  WHERE " MAP_POINTS " ORDER BY c.event_date DESC LIMIT $9::int),"
      " s AS (SELECT x, y, count(*) AS n FROM p GROUP BY x, y)"
      " SELECT coalesce(sum(n), 0)::bigint AS points, count(*) AS spots,"
      " ('[' || coalesce(string_agg(x || ',' || y || ',' || n, ',' ORDER BY x, y), '') || ']')::json"
      " AS xyn FROM s" },
    { "map_at",
      /* the cases at one spot of map_points_compact (a clicked point) */
      "SELECT c.id, c.ref, c.kind, c.village, c.syndrome, c.event_date FROM case_report c"
      " WHERE c.geom && ST_MakeEnvelope(nullif($10, '')::float8 - 1e-5, nullif($11, '')::float8 - 1e-5,"
      "  nullif($10, '')::float8 + 1e-5, nullif($11, '')::float8 + 1e-5, 4326)"
      " AND " SPOT_X " = nullif($10, '')::float8 AND " SPOT_Y " = nullif($11, '')::float8"
      " AND c.deleted = 0 AND c.event_date BETWEEN $2::date AND $3::date"
      " AND left(c.village, length($1)) = $1 AND ($5 = '' OR c.syndrome = $5 OR c.signs ? $5)"
      " ORDER BY c.event_date DESC, c.id LIMIT $9::int" },
    { "map_districts",
      "WITH d AS (SELECT district, sum(reports)::bigint AS reports, sum(sick)::bigint AS sick,"
      "  sum(dead)::bigint AS dead, sum(pts) AS pts, sum(sx) AS sx, sum(sy) AS sy"
      "  FROM report.district_week WHERE " WEEKS " AND " IN_AREA("district") " GROUP BY 1)"
      " SELECT d.district, a.name, d.reports, d.sick, d.dead, (b.code IS NOT NULL) AS boundary,"
      " ST_AsGeoJSON(coalesce(b.geom, CASE WHEN d.pts > 0 THEN"
      "  ST_SetSRID(ST_MakePoint(d.sx / d.pts, d.sy / d.pts), 4326) END), 5)::json AS geom"
      " FROM d LEFT JOIN area a ON a.code = d.district"
      " LEFT JOIN report.area_boundary b ON b.code = d.district ORDER BY d.district" },
    { "status",
      "SELECT pg_is_in_recovery() AS replica,"
      " CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()"
      "  THEN 0 ELSE round(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::numeric, 1)"
      " END AS replica_lag_s,"
      " (SELECT count(*) FROM report.dirty) AS dirty_keys,"
      " round(coalesce(extract(epoch FROM now() - (SELECT min(marked_at) FROM report.dirty)), 0)::numeric, 1)"
      "  AS aggregates_lag_s, now() AS at" },
};

const struct web_dataset *web_dataset_find(const char *name)
{
    for (size_t i = 0; i < sizeof(datasets) / sizeof(datasets[0]); i++)
        if (strcmp(datasets[i].name, name) == 0)
            return &datasets[i];
    return NULL;
}

const char *web_dataset_name(const struct web_dataset *d)
{
    return d->name;
}

/* ------------------------------------------------------------ answers kept
 * The pages' JSON answers (up to CACHE_BODY_MAX bytes) are kept for
 * --cache-seconds, keyed by the dataset and every filter value (the area
 * already within the caller's scope, so a key never crosses scopes): 20
 * analysts opening the same national page cost one query. The aggregates
 * change at most once a second; the header's lag shows the rest.
 *
 * Single flight: the first request that misses a key marks its slot as
 * being filled and queries; the requests for the same key that come
 * meanwhile wait for it (up to CACHE_WAIT_MS) and take its answer instead
 * of all querying at once. When it has none to give (an error, an answer
 * too big to keep) they query themselves, one of them filling again.
 * While a key that has an answer is filled again (its ttl has passed),
 * the others get that answer (up to CACHE_STALE_MS older than ttl) rather
 * than wait: only the request that refreshes a page waits for its query.
 *
 * Answers are kept gzipped (level 1, once per fill): a client that accepts
 * gzip gets the kept bytes as they are (a year's epi table by province,
 * 16 MB of JSON, is about 1 MB so, and the loop's TLS writes that), any
 * other the answer inflated again. */
#define CACHE_SLOTS    64
#define CACHE_RAW_MAX  (64u << 20)      /* an answer longer than this is not kept */
#define CACHE_BODY_MAX (16u << 20)      /* nor one longer than this gzipped */
#define CACHE_TOTAL    (64u << 20)      /* the kept answers, gzipped, together */
#define CACHE_WAIT_MS  30000
#define CACHE_STALE_MS 30000            /* how long past ttl an answer may stand in */

static struct cache_ent {
    char     key[200];
    char    *body;
    size_t   len;
    uint64_t at;                    /* uv_hrtime() / 1e6 when stored */
    int      filling;               /* a request is querying for this key */
    int      big;                   /* its answer was too big to keep: nobody waits */
} cache[CACHE_SLOTS];
static size_t cache_bytes;         /* the bodies' lengths, under cache_mu */
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cache_cv = PTHREAD_COND_INITIALIZER;

static void cache_key(const struct web_dataset *d, const struct web_filter *f, char *key,
                      size_t cap)
{
    snprintf(key, cap, "%s|%s|%s|%s|%s|%s|%s|%s|%d|%d|%s|%s", d->name, f->area, f->from, f->to,
             f->species, f->code, f->by, f->id, f->open_only, f->limit, f->lon, f->lat);
}

static struct cache_ent *cache_find(const char *key)
{
    for (int i = 0; i < CACHE_SLOTS; i++)
        if ((cache[i].body || cache[i].filling || cache[i].big) && strcmp(cache[i].key, key) == 0)
            return &cache[i];
    return NULL;
}

/* A copy of the answer kept under key when younger than ttl ms, or NULL;
 * then *fill says whether the caller is to query and cache_put() or
 * cache_abandon() the key (it is the one filling it). Waits while another
 * request fills the key. */
static char *cache_get(const char *key, unsigned ttl, size_t *len, int *fill)
{
    struct timespec until;
    struct cache_ent *e, *old = NULL;
    char *p = NULL;

    *fill = 0;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += CACHE_WAIT_MS / 1000;
    pthread_mutex_lock(&cache_mu);
    for (;;) {
        uint64_t now = uv_hrtime() / 1000000;
        e = cache_find(key);
        if (e && e->big && now - e->at < ttl)
            goto out;               /* query, as each of the others does */
        if (e && e->body && (now - e->at < ttl ||
                             (e->filling && now - e->at < ttl + CACHE_STALE_MS))) {
            p = malloc(e->len + 1);
            if (p) {
                memcpy(p, e->body, e->len);
                *len = e->len;
            }
            goto out;
        }
        if (!e || !e->filling)
            break;                  /* nobody fills it: this request does */
        if (pthread_cond_timedwait(&cache_cv, &cache_mu, &until) == ETIMEDOUT)
            goto out;               /* query without filling */
    }
    /* a miss that nobody is filling: this request fills, in the key's slot,
     * an empty one or the oldest not being filled */
    if (!e) {
        for (int i = 0; i < CACHE_SLOTS && !e; i++) {
            if (!cache[i].body && !cache[i].filling && !cache[i].big)
                e = &cache[i];
            else if (!cache[i].filling && (!old || cache[i].at < old->at))
                old = &cache[i];
        }
        e = e ? e : old;
    }
    if (e) {
        if (strcmp(e->key, key) != 0) {     /* another key's slot: its answer goes */
            cache_bytes -= e->body ? e->len : 0;
            free(e->body);
            e->body = NULL;
            snprintf(e->key, sizeof(e->key), "%s", key);
        }
        e->big = 0;
        e->filling = 1;
        *fill = 1;
    }
out:
    pthread_mutex_unlock(&cache_mu);
    return p;
}

/* The filler's answer: keeps body (taking it; NULL: none to keep) under
 * key and wakes the requests waiting for it. big: the answer was too big
 * to keep (the key's requests query at once until ttl has passed). */
static void cache_put(const char *key, char *body, size_t len, int big)
{
    struct cache_ent *e;

    pthread_mutex_lock(&cache_mu);
    e = cache_find(key);
    if (e && e->filling) {
        e->filling = 0;
        cache_bytes -= e->body ? e->len : 0;
        free(e->body);                  /* the answer it replaces */
        e->body = NULL;
        /* within the total: the oldest others go first */
        while (body && cache_bytes + len > CACHE_TOTAL) {
            struct cache_ent *old = NULL;
            for (int i = 0; i < CACHE_SLOTS; i++)
                if (cache[i].body && &cache[i] != e && (!old || cache[i].at < old->at))
                    old = &cache[i];
            if (!old)
                break;
            cache_bytes -= old->len;
            free(old->body);
            old->body = NULL;
        }
        if (body && cache_bytes + len > CACHE_TOTAL) {
            free(body);
            body = NULL;
        }
        e->big = !body && big;
        e->body = body;
        e->len = len;
        e->at = uv_hrtime() / 1000000;
        cache_bytes += body ? len : 0;
        body = NULL;
    }
    pthread_cond_broadcast(&cache_cv);
    pthread_mutex_unlock(&cache_mu);
    free(body);
}

void web_cache_free(void)
{
    pthread_mutex_lock(&cache_mu);
    for (int i = 0; i < CACHE_SLOTS; i++) {
        free(cache[i].body);
        cache[i].body = NULL;
        cache[i].filling = cache[i].big = 0;
    }
    cache_bytes = 0;
    pthread_mutex_unlock(&cache_mu);
}

/* raw gzipped (level 1), or NULL when that is longer than max or fails */
static char *gzip_of(const char *raw, size_t n, size_t max, size_t *len)
{
    z_stream z = { 0 };
    char *out = NULL;
    uLong cap;

    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    cap = deflateBound(&z, (uLong)n);
    if (cap > max)
        cap = (uLong)max;
    out = malloc(cap ? cap : 1);
    z.next_in = (Bytef *)raw;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    if (!out || deflate(&z, Z_FINISH) != Z_STREAM_END) {
        free(out);
        out = NULL;
    } else {
        *len = z.total_out;
    }
    deflateEnd(&z);
    return out;
}

/* A kept answer (gzipped) to o: as it is when the client takes gzip, else
 * inflated piece by piece. */
static void serve_kept(struct web_out *o, const char *gz, size_t len, int gzip_ok)
{
    static const char type[] = "application/json; charset=utf-8";
    char piece[WEB_CHUNK];
    z_stream z = { 0 };
    int r = 0, zr = Z_OK;

    if (gzip_ok) {
        web_out_head(o, 200, type, "Cache-Control: no-store\r\nContent-Encoding: gzip\r\n"
                                   "Vary: Accept-Encoding\r\n");
        for (size_t at = 0; at < len && r == 0; at += WEB_CHUNK)
            r = web_out_put(o, gz + at, len - at < WEB_CHUNK ? len - at : WEB_CHUNK);
        return;
    }
    web_out_head(o, 200, type, "Cache-Control: no-store\r\nVary: Accept-Encoding\r\n");
    if (inflateInit2(&z, 15 + 16) != Z_OK) {
        web_out_error(o, 500, "internal", "out of memory");
        return;
    }
    z.next_in = (Bytef *)gz;
    z.avail_in = (uInt)len;
    while (r == 0 && zr == Z_OK) {
        z.next_out = (Bytef *)piece;
        z.avail_out = sizeof(piece);
        zr = inflate(&z, Z_NO_FLUSH);
        if (zr == Z_OK || zr == Z_STREAM_END)
            r = web_out_put(o, piece, sizeof(piece) - z.avail_out);
    }
    if (zr != Z_STREAM_END && r == 0)
        web_out_fail(o);            /* our own bytes: cannot happen */
    inflateEnd(&z);
}

/* ------------------------------------------------------------ running */

static const char *group_len(const char *by)
{
    return strcmp(by, "district") == 0 ? "4" : strcmp(by, "province") == 0 ? "2" : "0";
}

void web_dataset_run(struct web_app *app, const struct web_dataset *d,
                     const struct web_filter *f, enum web_format fmt, int gzip_ok,
                     struct web_out *o)
{
    static const Oid types[11] = { 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25 };
    char limit[12], key[200];
    const char *params[11];
    int cacheable, fill = 0;
    PGconn *pg;
    long n;

    /* a page gets at most limit rows; an export all of them unless asked */
    snprintf(limit, sizeof(limit), "%d", fmt != FMT_JSON && !f->limit_given ? INT_MAX : f->limit);
    params[0] = f->area;
    params[1] = f->from;
    params[2] = f->to;
    params[3] = f->species;
    params[4] = f->code;
    params[5] = group_len(f->by);
    params[6] = f->id;
    params[7] = f->open_only ? "1" : "";
    params[8] = limit;
    params[9] = f->lon;
    params[10] = f->lat;
    cacheable = fmt == FMT_JSON && app->cache_ms > 0 && strcmp(d->name, "status") != 0;
    if (cacheable) {
        size_t len = 0;
        char *body;
        cache_key(d, f, key, sizeof(key));
        body = cache_get(key, app->cache_ms, &len, &fill);
        if (body) {
            serve_kept(o, body, len, gzip_ok);
            free(body);
            return;
        }
        if (fill)
            web_out_capture(o, CACHE_RAW_MAX);
    }
    pg = web_pool_get(app->replica, 10000);
    if (!pg) {
        if (fill)
            cache_put(key, NULL, 0, 0);
        web_out_error(o, 503, "unavailable", "the reporting database is not reachable");
        return;
    }
    if (fmt != FMT_JSON) {      /* an export may take minutes; the pages may not */
        PQclear(web_exec(pg, "web: export", "BEGIN READ ONLY", 0, NULL));
        PQclear(web_exec(pg, "web: export",
                         "SET LOCAL statement_timeout = '" EXPORT_TIMEOUT "'", 0, NULL));
    }
    if (!PQsendQueryParams(pg, d->sql, 11, types, params, NULL, NULL, 0) ||
        !PQsetSingleRowMode(pg)) {
        log_error("web: %s: %s", d->name, PQerrorMessage(pg));
        web_out_error(o, 503, "unavailable", "the reporting database is not reachable");
        web_pool_put(app->replica, pg);
        if (fill)
            cache_put(key, NULL, 0, 0);
        return;
    }
    n = web_out_rows(pg, o, fmt, d->name);
    web_pool_put(app->replica, pg);
    if (fill) {
        size_t len = 0, zlen = 0;
        char *raw = n >= 0 ? web_out_captured(o, &len) : NULL;
        char *body = raw ? gzip_of(raw, len, CACHE_BODY_MAX, &zlen) : NULL;
        free(raw);
        len = zlen;
        cache_put(key, body, len, n >= 0);
    }
    if (n >= 0)
        log_debug("web: %s: %ld rows, %llu bytes", d->name, n,
                  (unsigned long long)web_out_bytes(o));
}
