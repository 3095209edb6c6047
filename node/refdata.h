/* refdata.h - reference data on the node: national code lists (compiled in
 * from schema/reference) and the administrative areas of this node's
 * district (from the idn-area CSVs). */
#ifndef SIKHNAS_REFDATA_H
#define SIKHNAS_REFDATA_H

#include "store.h"

struct refdata_counts {
    int codes;        /* code_list rows */
    int provinces, districts, subdistricts, villages;
    char district_name[128];
    char province_name[128];
};

/* Normalises a district code given as "32.01" or "3201" into 4 digits.
 * Returns 0 or -EINVAL. */
int refdata_district_code(const char *in, char out[5]);

/* Strips the dots of an area code ("32.01.01.2001" -> "3201012001") into
 * out (cap bytes). Returns the level (1-4) from the digit count, or -EINVAL. */
int refdata_area_code(const char *in, char *out, size_t cap);

/* Upserts every compiled-in code list. Call inside a transaction. */
int refdata_load_lists(struct store *s, struct refdata_counts *c);

/* Upserts the district's province, the district, its kecamatan and villages
 * from DIR/{provinces,regencies,districts,villages}.csv. Call inside a
 * transaction. -ENOENT (logged) when the district is not in the data. */
int refdata_load_areas(struct store *s, const char *dir, const char *district,
                       struct refdata_counts *c);

/* Finds the idn-area directory: dir when given, else $SIKHNAS_AREAS, else
 * the compiled-in default. Returns a static string or NULL (logged). */
const char *refdata_find_areas(const char *dir);

#endif
