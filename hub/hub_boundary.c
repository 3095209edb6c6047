/* hub_boundary.c - `sikhnas-hub refdata load --boundaries FILE`: area
 * boundaries for the analysts' choropleth (report.area_boundary,
 * schema/central/011_report_views.sql). FILE is a GeoJSON FeatureCollection
 * of (Multi)Polygons whose property "code" (or "kode", "district_code")
 * is the area's official code, with or without dots ("32.01" or "3201");
 * "name" is kept when present. PostgreSQL parses it (jsonb and
 * ST_GeomFromGeoJSON), in one transaction: a bad file changes nothing. */
#include "hub_boundary.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub_migrate.h"
#include "log.h"

#define BOUNDARY_FILE_MAX (512L << 20)   /* bytes; a country's districts are ~100 MB */

static int read_all(const char *path, char **ret)
{
    struct stat st;
    char *p = NULL;
    ssize_t n = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return log_errno(LOG_ERR, -errno, "boundaries: %s", path);
    if (fstat(fd, &st) == 0 && st.st_size <= BOUNDARY_FILE_MAX &&
        (p = malloc((size_t)st.st_size + 1)) != NULL)
        n = read(fd, p, (size_t)st.st_size);
    close(fd);
    if (n != st.st_size) {
        free(p);
        log_error("boundaries: %s: cannot read it (more than %ld MiB?)", path,
                  BOUNDARY_FILE_MAX >> 20);
        return -EIO;
    }
    p[n] = '\0';
    *ret = p;
    return 0;
}

int hub_boundaries_load(const char *conninfo, const char *path)
{
    static const char sql[] =
        "WITH f AS (SELECT jsonb_array_elements($1::jsonb -> 'features') AS f),"
        " g AS (SELECT replace(coalesce(f -> 'properties' ->> 'code', f -> 'properties' ->> 'kode',"
        "   f -> 'properties' ->> 'district_code'), '.', '') AS code,"
        "   f -> 'properties' ->> 'name' AS name,"
        "   ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON(f ->> 'geometry'), 4326)) AS geom FROM f)"
        " INSERT INTO report.area_boundary (code, name, geom)"
        " SELECT code, name, geom FROM g WHERE code ~ '^[0-9]{2,10}$'"
        " ON CONFLICT (code) DO UPDATE SET name = excluded.name, geom = excluded.geom";
    const char *params[1];
    char *data = NULL;
    PGresult *res = NULL;
    PGconn *pg = NULL;
    int r;

    r = read_all(path, &data);
    if (r == 0)
        r = hub_admin_connect(conninfo, &pg);
    if (r == 0)
        r = hub_admin_exec(pg, "boundaries: begin", "BEGIN", 0, NULL, NULL);
    params[0] = data;
    if (r == 0)
        r = hub_admin_exec(pg, "boundaries", sql, 1, params, &res);
    if (r == 0)
        log_notice("boundaries: %s area boundaries loaded from %s", PQcmdTuples(res), path);
    PQclear(res);
    if (pg)
        r = hub_admin_end(pg, r, "boundaries");
    PQfinish(pg);
    free(data);
    return r;
}
