/* uplink_round.h - the `round` command of sikhnas-node-uplink: one sync
 * round for the daemon (uplink.c), in a process of its own. */
#ifndef SIKHNAS_UPLINK_ROUND_H
#define SIKHNAS_UPLINK_ROUND_H

#include "nodeconf.h"

/* argv[0] is "round"; options --hub URL (required), --ca FILE, --batch-bytes
 * N (the push budget to start from; 0: sync.batch_kib), --result-fd FD
 * (where the "step" and "done" lines go; uplink_round.c). Records the
 * round's result in the store. Returns 0 or -errno (-EDOM: usage). */
int uplink_round_cmd(struct node_config *cfg, int argc, char **argv);

#endif
