/* uplink.h - the daemon's sync module: runs sync rounds (node/sync_client.h) on
 * the daemon's libuv loop through a curl multi handle, every
 * sync.interval_s seconds and a few seconds after a local change, with
 * exponential backoff and jitter after a failed round. */
#ifndef SIKHNAS_UPLINK_H
#define SIKHNAS_UPLINK_H

#include "daemon.h"

extern const struct daemon_module uplink_module;

/* A record was saved: sync soon (unless a failed round is backing off; its
 * retry is already scheduled). */
void uplink_changed(struct daemon *d);

#endif
