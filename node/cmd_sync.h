/* cmd_sync.h - `sikhnas-node sync`: one blocking sync round with the hub,
 * and the settings both it and the daemon's uplink use to find the hub. */
#ifndef SIKHNAS_CMD_SYNC_H
#define SIKHNAS_CMD_SYNC_H

#include <stddef.h>

#include "nodeconf.h"
#include "store.h"

/* The `sync` command; argv[0] is "sync". Pushes until the outbox is empty
 * and pulls until caught up. Returns 0 when fully synced, or -errno after
 * logging a message that says what failed. */
int sync_cmd(struct node_config *cfg, int argc, char **argv);

/* The `enroll` command (cmd_enroll.c); argv[0] is "enroll". */
int enroll_cmd(struct node_config *cfg, int argc, char **argv);

/* Finds the hub URL and CA file: the arguments if given, else the config's
 * sync.hub_url / sync.ca_file, else what the last successful sync stored in
 * meta. url gets "" when none is known. */
void sync_find_hub(struct store *s, const struct node_config *cfg, const char *arg_url,
                   const char *arg_ca, char *url, size_t url_cap, char *ca, size_t ca_cap);

/* Remembers url and ca (absolute) in meta so that `run` needs no flags. */
int sync_remember_hub(struct store *s, const char *url, const char *ca);

#endif
