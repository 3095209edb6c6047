/* clock.h - a board without a clock (docs/security.md, "A board without a
 * clock"). The process's trusted clock is common/hlc.h's hlc_wall_ms(); this
 * keeps its floor in the store (meta clock.floor), flags the records saved
 * while the system clock is wrong (table clock_suspect) and corrects their
 * times once the hub's time is known. */
#ifndef SIKHNAS_CLOCK_H
#define SIKHNAS_CLOCK_H

#include <stdint.h>

#include "store.h"

/* Raises the process's floor from the build date and the store's meta
 * clock.floor (else its HLC). Called when the store is opened. */
void clock_load_floor(struct store *s);

/* The floor to keep in meta clock.floor at a commit: the newest time handed
 * out, never ahead of the trusted clock. */
uint64_t clock_floor_to_save(uint64_t hlc_last);

/* When the system clock is wrong, lists row id of table tbl (just saved,
 * in the open transaction) in clock_suspect. Returns 0 or -errno. */
int clock_flag(struct store *s, const char *tbl, const char *id);

/* The hub's clock hub_hlc, from an authenticated answer: it becomes the
 * floor (lower or higher: it outranks this board's belief), and when
 * in_txn (a write transaction is open), the records saved during this
 * boot while the clock was wrong get their times corrected and are queued
 * again. Returns the number corrected, or -errno. */
int clock_hub_time(struct store *s, uint64_t hub_hlc, int in_txn);

/* Counts for status: records saved with a wrong clock, corrected, and not
 * correctable (an earlier boot). */
void clock_counts(struct store *s, long long *flagged, long long *corrected,
                  long long *uncertain);

#endif
