/* test-tz.c - the district's time zone (node/tz.c): each of the three
 * zones from a province, local dates across midnight, ISO times shown in
 * local time with their label, and refusals of what is not a time. */
#include <string.h>

#include "testlib.h"
#include "tz.h"

int main(void)
{
    char out[40], d[11];
    /* 2026-11-28 17:30 UTC: still the 28th in WIB, the 29th in WITA and WIT */
    time_t t = 1795887000;

    CHECK_STR(tz_of_area("3201")->name, "WIB");             /* Jawa Barat */
    CHECK_STR(tz_of_area("11.01")->name, "WIB");            /* Aceh */
    CHECK_STR(tz_of_area("6171")->name, "WIB");             /* Kalimantan Barat */
    CHECK_STR(tz_of_area("5171")->name, "WITA");            /* Bali */
    CHECK_STR(tz_of_area("5371010001")->name, "WITA");      /* NTT, a village code */
    CHECK_STR(tz_of_area("6472")->name, "WITA");            /* Kalimantan Timur */
    CHECK_STR(tz_of_area("7371")->name, "WITA");            /* Sulawesi Selatan */
    CHECK_STR(tz_of_area("8171")->name, "WIT");             /* Maluku */
    CHECK_STR(tz_of_area("9471")->name, "WIT");             /* Papua Tengah (2022) */
    CHECK_STR(tz_of_area("")->name, "WIB");
    CHECK_STR(tz_of_area(NULL)->name, "WIB");
    CHECK_STR(tz_of_area("x1")->name, "WIB");
    CHECK(tz_of_area("9101")->offset_s == 9 * 3600);

    CHECK_STR(tz_format(tz_of_area("3201"), t, out, sizeof(out)), "2026-11-29 00:30 WIB");
    CHECK_STR(tz_format(tz_of_area("5171"), t, out, sizeof(out)), "2026-11-29 01:30 WITA");
    tz_date(tz_of_area("3201"), t - 3600, d);
    CHECK_STR(d, "2026-11-28");
    tz_date(tz_of_area("5171"), t - 3600, d);
    CHECK_STR(d, "2026-11-29");
    tz_date(tz_of_area("9101"), t - 3600, d);
    CHECK_STR(d, "2026-11-29");

    /* "Sinkron terakhir 02:15" at 09:15 WIB: the stored UTC time, shown local */
    CHECK(tz_format_iso(tz_of_area("3201"), "2026-11-28T02:15:07Z", out, sizeof(out)) == 0);
    CHECK_STR(out, "2026-11-28 09:15 WIB");
    CHECK(tz_format_iso(tz_of_area("8171"), "2026-12-31 20:00", out, sizeof(out)) == 0);
    CHECK_STR(out, "2027-01-01 05:00 WIT");
    CHECK(tz_format_iso(tz_of_area("3201"), "2026-11-28", out, sizeof(out)) < 0);
    CHECK_STR(out, "");
    CHECK(tz_format_iso(tz_of_area("3201"), "2026-13-28T02:15", out, sizeof(out)) < 0);
    CHECK(tz_format_iso(tz_of_area("3201"), "2026-11-28T25:15", out, sizeof(out)) < 0);
    CHECK(tz_format_iso(tz_of_area("3201"), NULL, out, sizeof(out)) < 0);
    return t_done();
}
