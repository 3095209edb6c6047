/* heap.c - glibc's malloc set for a small board (see heap.h).
 *
 * Both programs allocate blocks of up to a few MiB and free them: the
 * daemon for the web's answers and an SMS burst, the uplink program for
 * each push batch (its rows, the batch, its columnar form, the frame).
 * glibc's defaults would keep them: its mmap threshold rises to the largest
 * block freed, so later big blocks come from the heap and stay resident,
 * and each thread (libuv's pool) may get an arena of its own. A fixed
 * threshold and two arenas bound both. In the uplink program it pays once
 * a batch's buffers are freed as soon as they are read (sync_push.c);
 * alone it changed the footprint little (docs/performance.md, "Lead,
 * 2026-12-03 (third session): footprint"). */
#include "heap.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

void heap_setup(void)
{
#ifdef __GLIBC__
    (void) mallopt(M_ARENA_MAX, 2);
    (void) mallopt(M_MMAP_THRESHOLD, HEAP_MMAP_MIN);
    (void) mallopt(M_TRIM_THRESHOLD, HEAP_MMAP_MIN);
#endif
}
