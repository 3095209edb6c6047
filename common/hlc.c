/* hlc.c - hybrid logical clock (Kulkarni et al., "Logical Physical Clocks"). */
#include "hlc.h"

#include <errno.h>
#include <stdint.h>
#include <time.h>

/* The floor as an offset from CLOCK_BOOTTIME (one word, so threads that
 * read the clock while the loop sets it see one value or the other);
 * INT64_MIN: no floor. */
static int64_t floor_off = INT64_MIN;

static uint64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    if (ts.tv_sec < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t hlc_boot_ms(void)
{
    return clock_ms(CLOCK_BOOTTIME);
}

/* The floor as it stands now (0: none). */
static uint64_t floor_now(void)
{
    int64_t off = __atomic_load_n(&floor_off, __ATOMIC_RELAXED);
    int64_t f;

    if (off == INT64_MIN)
        return 0;
    f = (int64_t)hlc_boot_ms() + off;
    return f > 0 ? (uint64_t)f : 0;
}

uint64_t hlc_wall_ms(void)
{
    uint64_t real = clock_ms(CLOCK_REALTIME), f = floor_now();

    return real >= f ? real : f;
}

void hlc_floor_raise(uint64_t ms)
{
    if (ms > floor_now())
        hlc_floor_set(ms);
}

void hlc_floor_set(uint64_t ms)
{
    __atomic_store_n(&floor_off, (int64_t)ms - (int64_t)hlc_boot_ms(), __ATOMIC_RELAXED);
}

uint64_t hlc_clock_behind_ms(void)
{
    uint64_t real = clock_ms(CLOCK_REALTIME), f = floor_now();

    return f > real + HLC_CLOCK_SLACK_MS ? f - real : 0;
}

uint64_t hlc_tick(struct hlc *c, uint64_t wall_ms)
{
    uint64_t now = HLC_MAKE(wall_ms, 0);
    /* the counter overflowing into the millisecond field is still monotonic */
    c->last = now > c->last ? now : c->last + 1;
    return c->last;
}

int hlc_observe(struct hlc *c, uint64_t remote, uint64_t wall_ms, uint64_t max_ahead_ms)
{
    if (max_ahead_ms && HLC_MS(remote) > wall_ms + max_ahead_ms)
        return -ERANGE;
    if (remote > c->last)
        c->last = remote;
    return 0;
}
