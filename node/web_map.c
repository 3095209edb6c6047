/* web_map.c - GET /api/v1/map: the district's case reports with a point,
 * newest first, as a GeoJSON FeatureCollection (RFC 7946: coordinates are
 * longitude, latitude) for the pages' map, each with its reference, kind,
 * syndrome, date, village and sync state. ?days= (1-3660, default 90)
 * bounds the event dates; at most 5000 features. */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "http_server.h"
#include "outbox.h"
#include "store.h"
#include "web_int.h"

/* GeoJSON of this district's case reports with a point, newest first. */
void web_api_map(struct wreq *q)
{
    sqlite3_stmt *st = store_stmt(q->w->d->store,
        "SELECT c.ref, c.kind, c.syndrome, c.event_date, c.village, a.name,"
        " sk_x(c.geom), sk_y(c.geom), " OUTBOX_SYNC_STATE_SQL("c")
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
