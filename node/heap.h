/* heap.h - glibc's malloc set for a small board (issue 13, docs/node.md
 * "Memory"), in the daemon and in the uplink program alike. */
#ifndef SIKHNAS_HEAP_H
#define SIKHNAS_HEAP_H

/* Call before the program's first large allocation. Blocks of
 * HEAP_MMAP_MIN bytes or more go to mmap, so a freed one goes back to the
 * kernel, and a block that grows is moved by mremap, not copied; at most
 * two arenas. Nothing on other C libraries. */
#define HEAP_MMAP_MIN (256u << 10)
void heap_setup(void);

#endif
