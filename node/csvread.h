/* csvread.h - RFC 4180 CSV rows through libcsv, from memory or a file,
 * one callback per row with its fields NUL-terminated. */
#ifndef SIKHNAS_CSVREAD_H
#define SIKHNAS_CSVREAD_H

#include <stddef.h>

#define CSV_MAX_FIELDS 16

/* Called once per row (the header too); line counts from 1. A non-zero
 * return stops the reading and is passed back to the caller. */
typedef int (*csv_row_fn)(void *arg, int line, int nf, char **f);

int csv_read_mem(const char *data, size_t len, csv_row_fn fn, void *arg);
/* Returns 0, fn's non-zero result, or -errno (the file is named in the log). */
int csv_read_file(const char *path, csv_row_fn fn, void *arg);

#endif
