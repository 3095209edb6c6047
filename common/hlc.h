/* hlc.h - hybrid logical clock: 48 bits of Unix milliseconds, then a 16-bit
 * counter. Orders every change on every node even when a board without a
 * battery clock boots in 1970: receiving a later time (the hub's) pulls the
 * clock forward, and it never runs backwards. */
#ifndef SIKHNAS_HLC_H
#define SIKHNAS_HLC_H

#include <stdint.h>

#define HLC_MS(h)        ((uint64_t)(h) >> 16)
#define HLC_MAKE(ms, c)  (((uint64_t)(ms) << 16) | ((uint64_t)(c) & 0xffff))

struct hlc {
    uint64_t last;      /* the largest value handed out or seen */
};

/* The wall clock in Unix milliseconds. */
uint64_t hlc_wall_ms(void);

/* A new timestamp for a local event, strictly greater than any before it. */
uint64_t hlc_tick(struct hlc *c, uint64_t wall_ms);

/* Merges a timestamp received from a peer. Returns 0, or -ERANGE when
 * max_ahead_ms is non-zero and remote is further ahead of wall_ms than that
 * (the clock is then left unchanged: a peer must not drag ours into the future). */
int hlc_observe(struct hlc *c, uint64_t remote, uint64_t wall_ms, uint64_t max_ahead_ms);

#endif
