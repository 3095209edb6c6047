/* web_filter.c - the filters of a data request (see webapp.h): read from the
 * query string, each value checked against what it may be (codes of
 * digits or capitals, ISO dates, known words), and the area held within
 * the caller's scope. The default period is the year up to today where
 * the area is (WIB, WITA or WIT). Nothing that fails here reaches SQL (where every
 * value is a parameter anyway). Fuzzed by tests/fuzz/fuzz-web-filter.c. */
#include "webapp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int all_of(const char *s, const char *set, size_t min, size_t max)
{
    size_t n = strlen(s);

    if (n < min || n > max)
        return 0;
    return strspn(s, set) == n;
}

static int date_ok(const char *s)
{
    struct tm tm = { 0 };
    const char *end;

    if (strlen(s) != 10)
        return 0;
    end = strptime(s, "%Y-%m-%d", &tm);
    return end && !*end && tm.tm_year >= 0 && tm.tm_year < 200;
}

static void day_str(time_t t, char out[11])
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

/* Hours east of UTC where area is (Indonesia has no summer time): WITA and
 * WIT by province, as report.province_tz (schema/central/010_report.sql);
 * everything else, and the nation as a whole, WIB. */
static int tz_hours(const char *area)
{
    static const char wita[] = " 51 52 53 63 64 65 71 72 73 74 75 76 ";
    static const char wit[] = " 81 82 91 92 93 94 95 96 ";
    char p[5];

    if (strlen(area) < 2)
        return 7;
    snprintf(p, sizeof(p), " %.2s ", area);
    return strstr(wita, p) ? 8 : strstr(wit, p) ? 9 : 7;
}

void web_filter_today(const char *area, time_t now, int days_back, char out[11])
{
    day_str(now + (time_t)tz_hours(area) * 3600 - (time_t)days_back * 86400, out);
}

/* Reads key into out (cap bytes); absent: "". -EINVAL when too long or
 * badly escaped. */
static int get(const char *query, const char *key, char *out, size_t cap)
{
    int n = http_query_get(query, key, out, cap);

    if (n == -ENOENT) {
        out[0] = '\0';
        return 0;
    }
    return n < 0 ? -EINVAL : 0;
}

/* A coordinate as the map sends it back: [-]D[.DDDDD], |v| <= max. */
static int degrees_ok(const char *s, double max)
{
    const char *p = s + (s[0] == '-');
    size_t whole = strspn(p, "0123456789");
    char *end;
    double v;

    if (whole < 1 || whole > 3)
        return 0;
    if (p[whole] == '.' && !all_of(p + whole + 1, "0123456789", 1, 5))
        return 0;
    if (p[whole] != '.' && p[whole] != '\0')
        return 0;
    v = strtod(s, &end);
    return *end == '\0' && v >= -max && v <= max;
}

#define DIGITS "0123456789"
#define CODE_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"

int web_filter_parse(const char *query, const char *scope, struct web_filter *f,
                     const char **bad)
{
    char limit[12], open[4];
    size_t ns = strlen(scope);
    time_t now = time(NULL);

    memset(f, 0, sizeof(*f));
#define GET(key, field) do { *bad = key; \
        if (get(query, key, field, sizeof(field)) < 0) return -EINVAL; } while (0)
    GET("area", f->area);
    GET("from", f->from);
    GET("to", f->to);
    GET("species", f->species);
    GET("code", f->code);
    GET("by", f->by);
    GET("id", f->id);
    GET("limit", limit);
    GET("open", open);
    GET("lon", f->lon);
    GET("lat", f->lat);
#undef GET
    *bad = "area";
    if (!all_of(f->area, DIGITS, 0, WEB_AREA_MAX) || (strlen(f->area) % 2 && f->area[0]))
        return -EINVAL;
    if (!f->area[0])
        snprintf(f->area, sizeof(f->area), "%s", scope);
    if (strncmp(f->area, scope, ns) != 0)
        return -EACCES;
    *bad = "from";
    if (!f->from[0])
        web_filter_today(f->area, now, 364, f->from);
    if (!date_ok(f->from))
        return -EINVAL;
    *bad = "to";
    if (!f->to[0])
        web_filter_today(f->area, now, 0, f->to);
    if (!date_ok(f->to))
        return -EINVAL;
    *bad = "species";
    if (!all_of(f->species, CODE_CHARS, 0, 8))
        return -EINVAL;
    *bad = "code";
    if (!all_of(f->code, CODE_CHARS "*-", 0, 8))
        return -EINVAL;
    *bad = "by";
    if (!f->by[0])
        snprintf(f->by, sizeof(f->by), "%s", ns == 4 ? "district" : ns == 2 ? "province"
                                                                           : "national");
    if (strcmp(f->by, "national") && strcmp(f->by, "province") && strcmp(f->by, "district"))
        return -EINVAL;
    *bad = "id";
    if (!all_of(f->id, DIGITS "abcdefABCDEF-", 0, 40))
        return -EINVAL;
    *bad = "limit";
    f->limit = limit[0] ? atoi(limit) : 20000;
    f->limit_given = limit[0] != '\0';
    if (!all_of(limit, DIGITS, 0, 6) || f->limit < 1 || f->limit > 100000)
        return -EINVAL;
    f->open_only = open[0] == '1';
    *bad = "lon";
    if (f->lon[0] && !degrees_ok(f->lon, 180))
        return -EINVAL;
    *bad = "lat";
    if (f->lat[0] && !degrees_ok(f->lat, 90))
        return -EINVAL;
    if (!f->lon[0] != !f->lat[0])
        return -EINVAL;             /* both or neither */
    *bad = NULL;
    return 0;
}
