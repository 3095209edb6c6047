/* test-web-filter.c - the filters of sikhnas-web (hub/web/web_filter.c):
 * the default period ends today where the area is (WIB, WITA or WIT), not
 * today in UTC; values and scope are checked. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../hub/web/webapp.h"

static int failures;

#define CHECK(cond) do { if (!(cond)) { \
        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        failures++; } } while (0)

static void today_is(const char *area, time_t now, const char *want)
{
    char got[11];

    web_filter_today(area, now, 0, got);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "area '%s': today %s, not %s\n", area, got, want);
        failures++;
    }
}

int main(void)
{
    const time_t t = 1796229000;    /* 2026-12-02 16:30 UTC */
    const time_t m = 1796182200;    /* 2026-12-02 03:30 UTC */
    struct web_filter f;
    const char *bad;
    char d[11];

    /* 23:30 WIB, 00:30 WITA, 01:30 WIT */
    today_is("", t, "2026-12-02");
    today_is("32", t, "2026-12-02");
    today_is("3201", t, "2026-12-02");
    today_is("51", t, "2026-12-03");
    today_is("5101011001", t, "2026-12-03");
    today_is("73", t, "2026-12-03");
    today_is("94", t, "2026-12-03");
    today_is("81", t, "2026-12-03");
    /* 10:30 WIB: the same day everywhere */
    today_is("", m, "2026-12-02");
    today_is("94", m, "2026-12-02");
    web_filter_today("94", t, 364, d);
    CHECK(strcmp(d, "2025-12-04") == 0);

    /* the parser's defaults come from the area asked for (or the scope) */
    CHECK(web_filter_parse("", "94", &f, &bad) == 0);
    web_filter_today("94", time(NULL), 0, d);
    CHECK(strcmp(f.to, d) == 0);
    CHECK(web_filter_parse("area=5101", "", &f, &bad) == 0);
    web_filter_today("51", time(NULL), 0, d);
    CHECK(strcmp(f.to, d) == 0);
    web_filter_today("51", time(NULL), 364, d);
    CHECK(strcmp(f.from, d) == 0);
    CHECK(web_filter_parse("to=2026-01-31", "", &f, &bad) == 0 &&
          strcmp(f.to, "2026-01-31") == 0);
    /* scope and shape */
    CHECK(web_filter_parse("area=51", "32", &f, &bad) == -EACCES);
    CHECK(web_filter_parse("to=2026-13-01", "", &f, &bad) == -EINVAL && strcmp(bad, "to") == 0);
    /* a spot of the map: degrees to 5 decimals, both or neither */
    CHECK(web_filter_parse("lon=106.82512&lat=-6.5", "", &f, &bad) == 0 &&
          strcmp(f.lon, "106.82512") == 0 && strcmp(f.lat, "-6.5") == 0);
    CHECK(web_filter_parse("lon=-180&lat=90", "", &f, &bad) == 0);
    CHECK(web_filter_parse("", "", &f, &bad) == 0 && !f.lon[0] && !f.lat[0]);
    CHECK(web_filter_parse("lon=106.8&lat=91", "", &f, &bad) == -EINVAL && strcmp(bad, "lat") == 0);
    CHECK(web_filter_parse("lon=180.5&lat=1", "", &f, &bad) == -EINVAL && strcmp(bad, "lon") == 0);
    CHECK(web_filter_parse("lon=106.123456&lat=1", "", &f, &bad) == -EINVAL);
    CHECK(web_filter_parse("lon=1e2&lat=1", "", &f, &bad) == -EINVAL);
    CHECK(web_filter_parse("lon=.5&lat=1", "", &f, &bad) == -EINVAL);
    CHECK(web_filter_parse("lon=5.&lat=1", "", &f, &bad) == -EINVAL);
    CHECK(web_filter_parse("lon=+5&lat=1", "", &f, &bad) == -EINVAL);
    CHECK(web_filter_parse("lon=nan&lat=1", "", &f, &bad) == -EINVAL);
    CHECK(web_filter_parse("lon=106.8", "", &f, &bad) == -EINVAL);
    if (failures == 0)
        printf("ok\n");
    return failures ? 1 : 0;
}
