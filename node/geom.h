/* geom.h - POINT geometries in SpatiaLite's BLOB-Geometry format, written
 * and read by the node itself so that its routine paths (inserts, lists,
 * sync, the map) need none of SpatiaLite's functions and none of the
 * libraries it loads. The format is SpatiaLite's documented one, so
 * SpatiaLite (mod_spatialite, the spatialite shell) reads these blobs and
 * the node reads SpatiaLite's. */
#ifndef SIKHNAS_GEOM_H
#define SIKHNAS_GEOM_H

#include <sqlite3.h>

#define GEOM_POINT_SIZE 60   /* bytes of a POINT (XY) blob */
#define GEOM_SRID_WGS84 4326

/* Writes the POINT (x, y) with srid into out. x and y must be finite. */
void geom_point_write(unsigned char out[GEOM_POINT_SIZE], int srid, double x, double y);

/* Reads a POINT blob of n bytes. Returns 0, or -EINVAL when blob is not a
 * well-formed SpatiaLite POINT (XY); srid may be NULL. */
int geom_point_read(const void *blob, int n, int *srid, double *x, double *y);

/* Registers on db: sk_point(lon, lat) -> POINT blob with SRID 4326,
 * sk_x(blob), sk_y(blob) -> REAL. NULL in, NULL out; anything else that is
 * not a number or a POINT blob is an SQL error. Returns an SQLite code. */
int geom_register(sqlite3 *db);

#endif
