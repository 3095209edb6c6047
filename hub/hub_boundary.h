/* hub_boundary.h - area boundaries for the analysts' maps (see
 * hub_boundary.c). */
#ifndef SIKHNAS_HUB_BOUNDARY_H
#define SIKHNAS_HUB_BOUNDARY_H

/* Loads the GeoJSON FeatureCollection at path into report.area_boundary
 * (replacing areas already there), in one transaction. Returns 0 or
 * -errno (logged; nothing changed). */
int hub_boundaries_load(const char *conninfo, const char *path);

#endif
