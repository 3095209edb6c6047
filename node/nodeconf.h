/* nodeconf.h - the node's settings: one table (nodeconf.c) read by the INI
 * parser, `sikhnas-node --help-config` and, later, SIGHUP reload. */
#ifndef SIKHNAS_NODECONF_H
#define SIKHNAS_NODECONF_H

#include <stdio.h>

#include "sms_gateway.h"
#include "store.h"

struct node_config {
    char db_path[1024];
    enum store_sync_mode synchronous;
    unsigned busy_timeout_ms;
    unsigned cache_kib;           /* SQLite page cache per connection */
    unsigned run_cache_kib;       /* ... of the daemon's connection */
    unsigned import_chunk;        /* rows per import transaction */
    char areas_dir[1024];
    int log_level;
    unsigned web_max_connections; /* web: open connections at once */
    unsigned web_idle_timeout_s;  /* web: keep-alive idle time */
    unsigned web_max_conns_per_addr; /* web: open connections of one client address */
    unsigned web_first_request_s; /* web: a new connection's wait for its first request */
    unsigned web_session_ttl_s;   /* web: how long a login lasts */
    unsigned web_response_target_h; /* web: hours to answer a P case (work queue) */
    char web_tls_cert_file[1024]; /* web: HTTPS certificate chain (PEM); "": plain HTTP */
    char web_tls_key_file[1024];  /* web: its private key (PEM) */
    char sync_hub_url[512];       /* https://HOST:PORT of sikhnas-hub */
    char sync_ca_file[1024];      /* CAs that sign the hub's certificate */
    unsigned sync_interval_s;     /* the daemon's sync period */
    unsigned sync_batch_kib;      /* first push batch size on the wire */
    unsigned sync_timeout_s;      /* one sync request, end to end */
    unsigned sync_daily_kib;      /* bytes a day on the link (0: no limit); P reports exempt */
    enum sms_gateway sms_gateway; /* the daemon that reads the SMS spool (unset: none) */
};

/* The store settings of c as options for store_open(). */
struct store_opts config_store_opts(const struct node_config *c, int create);

/* Opens c's store for a command (store_open() with the options above). A
 * store that has no district yet is refused, unless create (init), with
 * -ENOENT and a message that says to run init. Returns 0 or -errno. */
int config_open_store(const struct node_config *c, int create, struct store **ret);

/* Sets every field to its default from the table. */
void config_defaults(struct node_config *c);
/* Reads an INI file over c; unknown keys and bad values are refused with
 * the file, line and reason logged. Returns 0 or -errno. */
int config_load(struct node_config *c, const char *path);
/* Sets one "section.key" from a string (used by the INI parser and the command line). */
int config_set(struct node_config *c, const char *name, const char *value);
/* Prints every setting with its default and meaning. */
void config_help(FILE *fp);

#endif
