/* area_points.h - a gazetteer's points of the district's villages and
 * kecamatan, for placing reports without GPS on the map (table area_point,
 * docs/data-model.md). */
#ifndef SIKHNAS_AREA_POINTS_H
#define SIKHNAS_AREA_POINTS_H

#include "store.h"

struct area_points_counts {
    long loaded, refused;
};

/* Reads a CSV of code,lat,lon (a header line is skipped; codes with or
 * without dots) and sets each known village's or kecamatan's gazetteer
 * point, in one transaction. A line that is not such a row (an area of
 * another district, a point outside Indonesia, a missing field) is refused
 * with its line and reason in the log and changes nothing. Returns 0, or
 * -errno (nothing loaded). */
int area_points_load(struct store *s, const char *path, struct area_points_counts *n);

#endif
