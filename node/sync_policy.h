/* sync_policy.h - what the daemon and the uplink program (sikhnas-node-uplink)
 * both decide about a sync: where the hub is, and how long to wait after a
 * failed attempt. In the node library, so that the daemon, which does not
 * link the sync client (libcurl), uses the same rules. */
#ifndef SIKHNAS_SYNC_POLICY_H
#define SIKHNAS_SYNC_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* The milliseconds to wait before the next attempt after failures failed
 * ones in a row, outage_ms after the first; retry_after_s is the hub's
 * Retry-After (0: nothing asked). For the first SYNC_RIDE_OUT_MS of an
 * outage the wait stays short (250 ms doubling to 2 s), so a primary
 * failover at the centre (about 10 s) costs at most 2 s more than it
 * lasts; after that it is a quarter of the outage so far, at least 4 s and
 * at most max_ms. A quarter of it is random, so nodes that failed together
 * do not come back together. When the hub sent a Retry-After (429 busy,
 * 503), the wait is at least that (at most SYNC_RETRY_AFTER_MAX s) plus a
 * random part of up to half of it. */
#define SYNC_RIDE_OUT_MS  60000
#define SYNC_RETRY_AFTER_MAX 120
unsigned sync_retry_delay_ms(unsigned failures, uint64_t outage_ms, unsigned retry_after_s,
                             unsigned max_ms);

/* Into out (cap bytes): arg if given, else the config's setting conf if
 * set, else what the last successful sync stored in meta under key, else "". */
void sync_find_setting(struct store *s, const char *arg, const char *conf, const char *key,
                       char *out, size_t cap);

#endif
