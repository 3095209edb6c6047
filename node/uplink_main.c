/* uplink_main.c - sikhnas-node-uplink: everything of the node that talks to
 * the hub, in a program of its own so that the daemon (sikhnas-node run)
 * does not map libcurl, OpenSSL and their chain while it waits (issue 13,
 * docs/node.md "Memory"). Installed in /usr/libexec/sikhnas/; not run by
 * hand: `sikhnas-node sync` and `sikhnas-node enroll` exec it with their
 * own arguments (so their output and exit status are this program's), and
 * the daemon starts it for each sync round (`round`, uplink_round.c).
 *
 * The global options are sikhnas-node's (main.c). Exit status as
 * sikhnas-node's: 0 done, 1 failed, 2 usage, 65 bad input, 75 busy. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_sync.h"
#include "heap.h"
#include "log.h"
#include "node_usage.h"
#include "nodeconf.h"
#include "uplink_round.h"

#define EXIT_USAGE    2
#define EXIT_DATAERR  65
#define EXIT_TEMPFAIL 75

static int exit_for(int r)
{
    if (r >= 0)
        return 0;
    if (r == -EINVAL)
        return EXIT_DATAERR;
    if (r == -EBUSY)
        return EXIT_TEMPFAIL;
    return 1;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "db", required_argument, NULL, 'd' },
        { "config", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { "verbose", no_argument, NULL, 'v' },
        { "quiet", no_argument, NULL, 'q' },
        { 0, 0, 0, 0 } };
    struct node_config cfg;
    const char *db = NULL, *config = NULL, *cmd;
    int opt, verbose = 0, r;

    heap_setup();
    log_setup("sikhnas-node", 0);
    config_defaults(&cfg);
    if (getenv("SIKHNAS_DB"))
        snprintf(cfg.db_path, sizeof(cfg.db_path), "%s", getenv("SIKHNAS_DB"));
    while ((opt = getopt_long(argc, argv, "+hvq", longopts, NULL)) != -1) {
        switch (opt) {
        case 'd': db = optarg; break;
        case 'c': config = optarg; break;
        case 'h': node_usage(stdout); return 0;
        case 'v': verbose++; break;
        case 'q': verbose--; break;
        default: node_usage(stderr); return EXIT_USAGE;
        }
    }
    if (config && config_load(&cfg, config) < 0)
        return 1;
    if (db)
        snprintf(cfg.db_path, sizeof(cfg.db_path), "%s", db);
    log_level = cfg.log_level + verbose;
    if (optind >= argc) {
        node_usage(stderr);
        return EXIT_USAGE;
    }
    cmd = argv[optind];
    if (strcmp(cmd, "sync") == 0) {
        r = sync_cmd(&cfg, argc - optind, argv + optind);
    } else if (strcmp(cmd, "enroll") == 0) {
        r = enroll_cmd(&cfg, argc - optind, argv + optind);
    } else if (strcmp(cmd, "round") == 0) {
        log_setup("sikhnas-node", 1);   /* the daemon's child: its log, as the daemon's */
        r = uplink_round_cmd(&cfg, argc - optind, argv + optind);
    } else {
        log_error("unknown command '%s'", cmd);
        node_usage(stderr);
        return EXIT_USAGE;
    }
    if (r == -EDOM) {
        node_usage(stderr);
        return EXIT_USAGE;
    }
    return exit_for(r);
}
