/* web_map.c - GET /api/v1/map: the district's case reports, newest first,
 * as a GeoJSON FeatureCollection (RFC 7946: coordinates are longitude,
 * latitude) for the pages' map, each with its reference, kind, syndrome,
 * date, village and where its point comes from ("placed"):
 * its own GPS point ("gps"), else its village's ("village": a gazetteer's
 * point, or the mean of the village's located reports; table area_point),
 * else its kecamatan's ("kecamatan"). Reports with none of these are
 * counted ("unplaced"). The kecamatan with a point come along ("areas")
 * as labels for a map without tiles. ?days= (1-3660, default 90) bounds
 * the event dates; the newest MAP_MAX are sent ("truncated" when there
 * were more: a page stays within a board's budget). The features are
 * written as text while the rows are read: no tree of them in memory. */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"
#include "store.h"
#include "strbuf.h"
#include "web_int.h"

#define MAP_MAX 1500
#define MAP_LIMIT_SQL "1501"        /* one more than MAP_MAX: were there more? */

/* The kecamatan of the district that have a point, as labels. */
static int add_areas(struct wreq *q, cJSON *fc)
{
    sqlite3_stmt *st = store_stmt(q->w->d->store,
        "SELECT a.code, a.name, coalesce(p.gaz_lat, p.lat_sum / p.n) AS lat,"
        " coalesce(p.gaz_lon, p.lon_sum / p.n) AS lon FROM area_point p JOIN area a"
        " ON a.code = p.code WHERE a.level = 3 AND (p.n > 0 OR p.gaz_lat IS NOT NULL)"
        " ORDER BY a.name");
    int rc;

    if (!st)
        return -EIO;
    cJSON_AddItemToObject(fc, "areas", web_rows_json(st, &rc));
    return rc == SQLITE_DONE ? 0 : -EIO;
}

/* A number as cJSON prints it: the shortest of %.15g and %.17g that reads
 * back exactly. */
static void add_num(struct strbuf *b, double v)
{
    char num[32];

    snprintf(num, sizeof(num), "%.15g", v);
    if (strtod(num, NULL) != v)
        snprintf(num, sizeof(num), "%.17g", v);
    strbuf_str(b, num);
}

/* A property "key": text column i of st, or nothing when it is NULL. */
static void add_prop(struct strbuf *b, sqlite3_stmt *st, const char *key, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return;
    strbuf_fmt(b, ",\"%s\":", key);
    strbuf_json(b, (const char *)sqlite3_column_text(st, i), (size_t)sqlite3_column_bytes(st, i));
}

/* The features, written as text while the rows are read (no tree of 1,500
 * objects in memory): 0 or the last sqlite3_step() code. */
static int add_features(sqlite3_stmt *st, struct strbuf *b, int *unplaced, int *truncated)
{
    int rc, rows = 0, first = 1;

    strbuf_str(b, "\"features\":[");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (++rows > MAP_MAX) {
            *truncated = 1;
            rc = SQLITE_DONE;               /* stopped at MAP_MAX */
            break;
        }
        if (sqlite3_column_type(st, 10) == SQLITE_NULL) {
            (*unplaced)++;
            continue;
        }
        strbuf_str(b, first ? "{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\","
                              "\"coordinates\":[" : ",{\"type\":\"Feature\",\"geometry\":"
                              "{\"type\":\"Point\",\"coordinates\":[");
        first = 0;
        add_num(b, sqlite3_column_double(st, 6));
        strbuf_str(b, ",");
        add_num(b, sqlite3_column_double(st, 7));
        strbuf_str(b, "]},\"properties\":{\"ref\":");
        strbuf_json_str(b, (const char *)sqlite3_column_text(st, 0));
        add_prop(b, st, "kind", 1);
        add_prop(b, st, "syndrome", 2);
        add_prop(b, st, "event_date", 3);
        add_prop(b, st, "village", 4);
        add_prop(b, st, "village_name", 5);
        add_prop(b, st, "placed", 10);
        strbuf_str(b, "}}");
    }
    sqlite3_reset(st);
    strbuf_str(b, "]");
    return rc;
}

/* GeoJSON of this district's case reports, placed, newest first. */
void web_api_map(struct wreq *q)
{
    sqlite3_stmt *st = store_stmt(q->w->d->store,
        "SELECT c.ref, c.kind, c.syndrome, c.event_date, c.village, a.name,"
        " coalesce(sk_x(c.geom), pv.gaz_lon, pv.lon_sum / pv.n, pk.gaz_lon, pk.lon_sum / pk.n),"
        " coalesce(sk_y(c.geom), pv.gaz_lat, pv.lat_sum / pv.n, pk.gaz_lat, pk.lat_sum / pk.n),"
        " NULL, NULL,"
        " CASE WHEN c.geom IS NOT NULL THEN 'gps'"
        " WHEN pv.gaz_lat IS NOT NULL OR pv.n > 0 THEN 'village'"
        " WHEN pk.gaz_lat IS NOT NULL OR pk.n > 0 THEN 'kecamatan' END"
        " FROM case_report c LEFT JOIN area a ON a.code = c.village"
        " LEFT JOIN area_point pv ON pv.code = c.village"
        " LEFT JOIN area_point pk ON pk.code = substr(c.village, 1, 6)"
        " WHERE c.deleted = 0 AND c.event_date >= date('now', ?1)"
        " ORDER BY c.hlc DESC LIMIT " MAP_LIMIT_SQL);
    struct strbuf b = { 0 };
    cJSON *areas = cJSON_CreateObject();
    char days[8], mod[24], *tail, *text = NULL;
    size_t len = 0;
    int rc, n = 90, unplaced = 0, truncated = 0;

    if (http_query_get(q->r->query, "days", days, sizeof(days)) > 0 && atoi(days) > 0)
        n = atoi(days) > 3660 ? 3660 : atoi(days);
    snprintf(mod, sizeof(mod), "-%d days", n);
    if (!st) {
        cJSON_Delete(areas);
        web_send_store_error(q, -EIO);
        return;
    }
    sqlite3_bind_text(st, 1, mod, -1, SQLITE_TRANSIENT);
    strbuf_str(&b, "{\"type\":\"FeatureCollection\",");
    rc = add_features(st, &b, &unplaced, &truncated);
    if (rc != SQLITE_DONE || add_areas(q, areas) < 0) {
        cJSON_Delete(areas);
        strbuf_free(&b);
        web_send_store_error(q, rc != SQLITE_DONE ? store_error(q->w->d->store, rc) : -EIO);
        return;
    }
    if (truncated)
        strbuf_str(&b, ",\"truncated\":true");
    strbuf_fmt(&b, ",\"unplaced\":%d,\"areas\":", unplaced);
    tail = cJSON_PrintUnformatted(cJSON_GetObjectItem(areas, "areas"));
    cJSON_Delete(areas);
    if (tail) {
        strbuf_str(&b, tail);
        strbuf_str(&b, "}");
        free(tail);
        len = b.len;
        text = strbuf_take(&b);         /* NULL when an append failed */
    }
    strbuf_free(&b);
    web_send_text(q, text ? 200 : 500, text, len, NULL);
}
