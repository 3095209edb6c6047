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

/* The trusted wall clock in Unix milliseconds: the system clock, or, when
 * that is behind a time this process knows has passed (the floor, below),
 * the floor plus the time since it was learned (CLOCK_BOOTTIME, which a
 * board has even without a battery-backed clock). Never before the floor. */
uint64_t hlc_wall_ms(void);

/* A board's clock that is more than this behind the floor is wrong. */
#define HLC_CLOCK_SLACK_MS (10u * 60 * 1000)

/* Raises the floor to ms (a time known to have passed: the build date, the
 * newest time the store has handed out); a lower ms changes nothing. */
void hlc_floor_raise(uint64_t ms);
/* Sets the floor to ms, lower or higher: the hub's time, which is
 * authenticated and kept by NTP, outranks what this board believed. */
void hlc_floor_set(uint64_t ms);
/* How far the system clock is behind the trusted one, in ms, when by more
 * than HLC_CLOCK_SLACK_MS (the clock is wrong); 0 otherwise. */
uint64_t hlc_clock_behind_ms(void);
/* CLOCK_BOOTTIME in ms: time since this boot, suspend included. */
uint64_t hlc_boot_ms(void);

/* A new timestamp for a local event, strictly greater than any before it. */
uint64_t hlc_tick(struct hlc *c, uint64_t wall_ms);

/* Merges a timestamp received from a peer. Returns 0, or -ERANGE when
 * max_ahead_ms is non-zero and remote is further ahead of wall_ms than that
 * (the clock is then left unchanged: a peer must not drag ours into the future). */
int hlc_observe(struct hlc *c, uint64_t remote, uint64_t wall_ms, uint64_t max_ahead_ms);

#endif
