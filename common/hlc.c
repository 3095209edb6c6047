/* hlc.c - hybrid logical clock (Kulkarni et al., "Logical Physical Clocks"). */
#include "hlc.h"

#include <errno.h>
#include <time.h>

uint64_t hlc_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
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
