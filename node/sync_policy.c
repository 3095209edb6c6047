/* sync_policy.c - see sync_policy.h. */
#include "sync_policy.h"

#include <stdio.h>
#include <stdlib.h>

unsigned sync_retry_delay_ms(unsigned failures, uint64_t outage_ms, unsigned retry_after_s,
                             unsigned max_ms)
{
    uint64_t d;

    if (failures == 0)
        return 0;
    if (outage_ms < SYNC_RIDE_OUT_MS)
        d = failures >= 4 ? 2000 : 250u << (failures - 1);
    else
        d = outage_ms / 4 > 4000 ? outage_ms / 4 : 4000;   /* grows with the outage */
    if (d > max_ms)
        d = max_ms;
    d = d - d / 4 + (uint64_t)rand() % (d / 4 + 1);
    if (retry_after_s > 0) {
        /* what the hub asked, and up to half of it again: the nodes it
         * refused together come back spread out, not in a wave */
        uint64_t ra = (uint64_t)(retry_after_s > SYNC_RETRY_AFTER_MAX ? SYNC_RETRY_AFTER_MAX
                                                                     : retry_after_s) * 1000;
        ra += (uint64_t)rand() % (ra / 2 + 1);
        if (ra > d)
            d = ra;
    }
    return (unsigned)d;
}

void sync_find_setting(struct store *s, const char *arg, const char *conf, const char *key,
                       char *out, size_t cap)
{
    if (arg)
        snprintf(out, cap, "%s", arg);
    else if (conf[0])
        snprintf(out, cap, "%s", conf);
    else if (store_meta_get(s, key, out, cap) < 0)
        out[0] = '\0';
}
