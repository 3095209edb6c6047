/* tz.c - the district's time zone from its province (tz.h). The table is
 * the provinces' Kemendagri codes; new provinces (Papua's, 2022) are in. */
#include "tz.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct tz_zone zones[] = {
    { "WIB", 7 * 3600 }, { "WITA", 8 * 3600 }, { "WIT", 9 * 3600 },
};

/* Provinces outside WIB: Bali, Nusa Tenggara, South/East/North Kalimantan
 * and Sulawesi keep WITA; Maluku and Papua keep WIT. Sumatra, Java, West
 * and Central Kalimantan keep WIB. */
static const struct { int province; int zone; } outside_wib[] = {
    { 51, 1 }, { 52, 1 }, { 53, 1 }, { 63, 1 }, { 64, 1 }, { 65, 1 },
    { 71, 1 }, { 72, 1 }, { 73, 1 }, { 74, 1 }, { 75, 1 }, { 76, 1 },
    { 81, 2 }, { 82, 2 }, { 91, 2 }, { 92, 2 }, { 93, 2 }, { 94, 2 }, { 95, 2 }, { 96, 2 },
};

const struct tz_zone *tz_of_area(const char *code)
{
    int p;

    if (!code || code[0] < '0' || code[0] > '9' || code[1] < '0' || code[1] > '9')
        return &zones[0];
    p = (code[0] - '0') * 10 + (code[1] - '0');
    for (size_t i = 0; i < sizeof(outside_wib) / sizeof(outside_wib[0]); i++)
        if (outside_wib[i].province == p)
            return &zones[outside_wib[i].zone];
    return &zones[0];
}

char *tz_format(const struct tz_zone *z, time_t t, char *out, size_t cap)
{
    time_t local = t + z->offset_s;
    struct tm tm;
    char when[20];

    gmtime_r(&local, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
    snprintf(out, cap, "%s %s", when, z->name);
    return out;
}

void tz_date(const struct tz_zone *z, time_t t, char out[11])
{
    time_t local = t + z->offset_s;
    struct tm tm;

    gmtime_r(&local, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

int tz_format_iso(const struct tz_zone *z, const char *iso, char *out, size_t cap)
{
    struct tm tm = { 0 };
    int n = 0;

    out[0] = '\0';
    if (!iso || sscanf(iso, "%4d-%2d-%2d%*1[T ]%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                       &tm.tm_hour, &tm.tm_min, &n) != 5 || n != 16)
        return -EINVAL;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59)
        return -EINVAL;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tz_format(z, timegm(&tm), out, cap);
    return 0;
}
