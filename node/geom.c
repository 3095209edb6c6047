/* geom.c - SpatiaLite's BLOB-Geometry for a POINT, as documented in
 * "BLOB-Geometry internal format" (SpatiaLite 4 and later):
 *
 *   offset  size  value
 *        0     1  0x00 START
 *        1     1  byte order: 0x01 little-endian, 0x00 big-endian
 *        2     4  SRID (int32)
 *        6    32  MBR: min x, min y, max x, max y (doubles)
 *       38     1  0x7C MBR_END
 *       39     4  class: 1 = POINT (XY)
 *       43    16  x, y (doubles)
 *       59     1  0xFE END
 *
 * The node writes little-endian blobs, as SpatiaLite does on the machines
 * it runs on, and reads either byte order. */
#include "geom.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define GEOM_START   0x00
#define GEOM_MBR_END 0x7c
#define GEOM_END     0xfe
#define GEOM_POINT   1

static void put_u32le(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_f64le(unsigned char *p, double d)
{
    uint64_t v;

    memcpy(&v, &d, sizeof(v));
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p, int le)
{
    uint32_t v = 0;

    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[le ? i : 3 - i] << (8 * i);
    return v;
}

static double get_f64(const unsigned char *p, int le)
{
    uint64_t v = 0;
    double d;

    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[le ? i : 7 - i] << (8 * i);
    memcpy(&d, &v, sizeof(d));
    return d;
}

void geom_point_write(unsigned char out[GEOM_POINT_SIZE], int srid, double x, double y)
{
    out[0] = GEOM_START;
    out[1] = 0x01;
    put_u32le(out + 2, (uint32_t)srid);
    put_f64le(out + 6, x);          /* a point's MBR is the point */
    put_f64le(out + 14, y);
    put_f64le(out + 22, x);
    put_f64le(out + 30, y);
    out[38] = GEOM_MBR_END;
    put_u32le(out + 39, GEOM_POINT);
    put_f64le(out + 43, x);
    put_f64le(out + 51, y);
    out[59] = GEOM_END;
}

int geom_point_read(const void *blob, int n, int *srid, double *x, double *y)
{
    const unsigned char *p = blob;
    double px, py;
    int le;

    if (!p || n != GEOM_POINT_SIZE || p[0] != GEOM_START || p[38] != GEOM_MBR_END ||
        p[59] != GEOM_END || (p[1] != 0x00 && p[1] != 0x01))
        return -EINVAL;
    le = p[1] == 0x01;
    if (get_u32(p + 39, le) != GEOM_POINT)
        return -EINVAL;
    px = get_f64(p + 43, le);
    py = get_f64(p + 51, le);
    /* the MBR must be the point itself, or the blob is damaged */
    if (!isfinite(px) || !isfinite(py) ||
        get_f64(p + 6, le) != px || get_f64(p + 22, le) != px ||
        get_f64(p + 14, le) != py || get_f64(p + 30, le) != py)
        return -EINVAL;
    if (srid)
        *srid = (int)(int32_t)get_u32(p + 2, le);
    *x = px;
    *y = py;
    return 0;
}

static int is_number(sqlite3_value *v)
{
    int t = sqlite3_value_numeric_type(v);
    return t == SQLITE_INTEGER || t == SQLITE_FLOAT;
}

static void sql_point(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    unsigned char blob[GEOM_POINT_SIZE];
    double x, y;

    (void) argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL)
        return;                                         /* NULL */
    if (!is_number(argv[0]) || !is_number(argv[1])) {
        sqlite3_result_error(ctx, "sk_point: lon and lat must be numbers", -1);
        return;
    }
    x = sqlite3_value_double(argv[0]);
    y = sqlite3_value_double(argv[1]);
    if (!isfinite(x) || !isfinite(y)) {
        sqlite3_result_error(ctx, "sk_point: lon and lat must be finite", -1);
        return;
    }
    geom_point_write(blob, GEOM_SRID_WGS84, x, y);
    sqlite3_result_blob(ctx, blob, sizeof(blob), SQLITE_TRANSIENT);
}

/* sk_x (user data 0) and sk_y (user data 1) */
static void sql_coord(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int want_y = sqlite3_user_data(ctx) != NULL;
    double x, y;

    (void) argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
        return;
    if (sqlite3_value_type(argv[0]) != SQLITE_BLOB ||
        geom_point_read(sqlite3_value_blob(argv[0]), sqlite3_value_bytes(argv[0]),
                        NULL, &x, &y) < 0) {
        sqlite3_result_error(ctx, want_y ? "sk_y: not a SpatiaLite POINT geometry"
                                         : "sk_x: not a SpatiaLite POINT geometry", -1);
        return;
    }
    sqlite3_result_double(ctx, want_y ? y : x);
}

int geom_register(sqlite3 *db)
{
    static int y_tag;
    const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
    int rc;

    rc = sqlite3_create_function(db, "sk_point", 2, flags, NULL, sql_point, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function(db, "sk_x", 1, flags, NULL, sql_coord, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function(db, "sk_y", 1, flags, &y_tag, sql_coord, NULL, NULL);
    return rc;
}
