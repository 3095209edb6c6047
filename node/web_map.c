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
 * were more: a page stays within a board's budget). */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "http_server.h"
#include "store.h"
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
    cJSON *fc = cJSON_CreateObject(), *feats;
    char days[8], mod[24];
    int rc, n = 90, unplaced = 0, rows = 0;

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
        cJSON *f, *g, *p;
        if (++rows > MAP_MAX) {
            cJSON_AddTrueToObject(fc, "truncated");
            break;
        }
        if (sqlite3_column_type(st, 10) == SQLITE_NULL) {
            unplaced++;
            continue;
        }
        f = cJSON_CreateObject();
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
        cJSON_AddStringToObject(p, "placed", (const char *)sqlite3_column_text(st, 10));
        cJSON_AddItemToArray(feats, f);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        rc = SQLITE_DONE;                   /* stopped at MAP_MAX */
    cJSON_AddNumberToObject(fc, "unplaced", unplaced);
    if (rc != SQLITE_DONE || add_areas(q, fc) < 0) {
        cJSON_Delete(fc);
        web_send_store_error(q, rc != SQLITE_DONE ? store_error(q->w->d->store, rc) : -EIO);
        return;
    }
    web_send_json(q, 200, fc, NULL);
}
