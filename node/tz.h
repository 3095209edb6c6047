/* tz.h - the district's time zone: Indonesia keeps three (WIB UTC+7,
 * WITA UTC+8, WIT UTC+9), none with daylight saving, and a district's is
 * its province's. Times are stored in UTC everywhere; these turn them into
 * the district's local time for what officers read (web pages, SMS). */
#ifndef SIKHNAS_TZ_H
#define SIKHNAS_TZ_H

#include <stddef.h>
#include <time.h>

struct tz_zone {
    const char *name;       /* "WIB", "WITA" or "WIT" */
    int offset_s;           /* seconds east of UTC */
};

/* The zone of a district, kecamatan or village code (its first two digits
 * name the province, Kemendagri numbering; dots allowed). An unknown or
 * empty code gets WIB, where most districts are. Never NULL. */
const struct tz_zone *tz_of_area(const char *code);

/* t as "YYYY-MM-DD HH:MM ZONE" in zone z, into out (cap >= 24 bytes).
 * Returns out. */
char *tz_format(const struct tz_zone *z, time_t t, char *out, size_t cap);

/* The date of t in zone z, "YYYY-MM-DD", into out. */
void tz_date(const struct tz_zone *z, time_t t, char out[11]);

/* An ISO 8601 UTC time ("2026-11-28T02:15:00Z", seconds and Z optional) as
 * "YYYY-MM-DD HH:MM ZONE" in zone z; 0, or -EINVAL when iso is not one
 * (out is then ""). */
int tz_format_iso(const struct tz_zone *z, const char *iso, char *out, size_t cap);

#endif
