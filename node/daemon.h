/* daemon.h - `sikhnas-node run`: one libuv loop on one thread carries the
 * web UI/API, the SMS spool watcher and the sync timer. Each is a module
 * with start/stop functions listed in daemon.c; a module keeps its state in
 * its own struct and reaches the store and validator through struct daemon. */
#ifndef SIKHNAS_DAEMON_H
#define SIKHNAS_DAEMON_H

#include <uv.h>

#include "nodeconf.h"
#include "store.h"
#include "validate.h"

struct daemon {
    uv_loop_t *loop;
    struct store *store;          /* the loop thread's connection */
    struct validator *validator;
    struct node_config *cfg;
    const char *listen;           /* --listen HOST:PORT, or NULL */
    const char *sms_spool;        /* --sms-spool DIR, or NULL */
    const char *hub_url;          /* --hub URL (or from the store), or NULL */
    const char *ca_file;          /* --ca FILE, or NULL */
    const char *config_file;      /* --config FILE, or NULL: for the uplink's rounds */
    int verbose;                  /* -v minus -q, likewise */
    int stopping;                 /* set on SIGTERM/SIGINT: finish, accept nothing new */
    void *web, *sms, *uplink;     /* module state, owned by each module */
};

struct daemon_module {
    const char *name;
    /* Returns 0 (running, or not configured and so not started) or -errno. */
    int (*start)(struct daemon *d);
    /* Stops accepting work and closes its handles; the loop then drains. */
    void (*stop)(struct daemon *d);
};

/* Tells the modules that local data changed (a record was saved), so that
 * the uplink can schedule a sync soon. */
void daemon_changed(struct daemon *d);

/* The `run` command; argv[0] is "run". config_file and verbose are the
 * global options, which the uplink's rounds (another program) are given. */
int daemon_main(struct node_config *cfg, const char *config_file, int verbose, int argc,
                char **argv);

#endif
