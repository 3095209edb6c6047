/* area_points.c - loading a gazetteer's points (area_points.h). */
#include "area_points.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "csvread.h"
#include "log.h"
#include "refdata.h"
#include "validate.h"

struct load {
    struct store *s;
    sqlite3_stmt *st;
    struct area_points_counts *n;
};

static int refuse(struct load *l, int line, const char *why, const char *what)
{
    log_warning("points: line %d: %s%s%s; skipped", line, why, what ? ": " : "", what ? what : "");
    l->n->refused++;
    return 0;
}

static int on_row(void *arg, int line, int nf, char **f)
{
    struct load *l = arg;
    char code[16], *end;
    double lat, lon;
    int lvl, r;

    if (line == 1 && nf >= 1 && strcmp(f[0], "code") == 0)
        return 0;                                   /* the header */
    if (nf < 3)
        return refuse(l, line, "want code,lat,lon", NULL);
    lvl = refdata_area_code(f[0], code, sizeof(code));
    if ((lvl != 3 && lvl != 4) || strncmp(code, store_district(l->s), 4) != 0)
        return refuse(l, line, "not a kecamatan or village of this district", f[0]);
    lat = strtod(f[1], &end);
    if (end == f[1] || *end)
        return refuse(l, line, "latitude is not a number", f[1]);
    lon = strtod(f[2], &end);
    if (end == f[2] || *end)
        return refuse(l, line, "longitude is not a number", f[2]);
    if (!validate_point(lat, lon))
        return refuse(l, line, "the point is not in Indonesia", f[1]);
    sqlite3_bind_text(l->st, 1, code, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(l->st, 2, lat);
    sqlite3_bind_double(l->st, 3, lon);
    r = store_step_done(l->s, l->st);
    if (r < 0)
        return r;
    if (sqlite3_changes(store_db(l->s)) == 0)
        return refuse(l, line, "no such area in this store", code);
    l->n->loaded++;
    return 0;
}

int area_points_load(struct store *s, const char *path, struct area_points_counts *n)
{
    struct load l = { .s = s, .n = n };
    int r;

    memset(n, 0, sizeof(*n));
    r = store_begin(s);
    if (r < 0)
        return r;
    l.st = store_stmt(s, "INSERT INTO area_point (code, gaz_lat, gaz_lon)"
                         " SELECT code, ?2, ?3 FROM area WHERE code = ?1"
                         " ON CONFLICT (code) DO UPDATE SET gaz_lat = excluded.gaz_lat,"
                         " gaz_lon = excluded.gaz_lon");
    r = l.st ? csv_read_file(path, on_row, &l) : -EIO;
    if (r > 0)
        r = -EIO;
    return store_end(s, r);
}
