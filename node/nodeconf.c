/* nodeconf.c - the node's settings table. Every setting is one row here;
 * the INI loader (libinih), the command line and the help text read it. */
#include "nodeconf.h"

#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "log.h"

enum cfg_type { CFG_UINT, CFG_PATH, CFG_SYNC, CFG_LEVEL, CFG_GATEWAY };

struct cfg_opt {
    const char *name;
    enum cfg_type type;
    size_t offset;
    size_t size;
    const char *def;
    unsigned long min, max;
    const char *help;
};

#define CFG_AT(f) offsetof(struct node_config, f), sizeof(((struct node_config *)0)->f)

static const struct cfg_opt cfg_opts[] = {
    /* name                    type       field                    default  min  max */
    { "store.path",            CFG_PATH,  CFG_AT(db_path),         "/var/lib/sikhnas/node.db", 0, 0,
      "the SQLite store (--db overrides)" },
    { "store.synchronous",     CFG_SYNC,  CFG_AT(synchronous),     "full",  0, 0,
      "full (durable on power loss), extra, or normal (may lose the last commits)" },
    { "store.busy_timeout_ms", CFG_UINT,  CFG_AT(busy_timeout_ms), "5000",  10, 600000,
      "how long a writer waits for another writer" },
    { "store.cache_kib",       CFG_UINT,  CFG_AT(cache_kib),       "4096",  256, 1048576,
      "SQLite page cache per connection; more is faster for large stores, costs memory" },
    { "run.cache_kib",         CFG_UINT,  CFG_AT(run_cache_kib),   "2048",  256, 1048576,
      "the daemon's (run) SQLite page cache: its writes touch the ends of the B-trees" },
    { "import.chunk",          CFG_UINT,  CFG_AT(import_chunk),    "1000",  1, 100000,
      "rows per import transaction; smaller lets other writers in sooner" },
    { "areas.dir",             CFG_PATH,  CFG_AT(areas_dir),       "",      0, 0,
      "idn-area data/ folder for init (--areas overrides)" },
    { "log.level",             CFG_LEVEL, CFG_AT(log_level),       "notice", 0, 0,
      "error, warning, notice, info or debug" },
    { "web.max_connections",   CFG_UINT,  CFG_AT(web_max_connections), "256", 4, 4096,
      "web: connections open at once; more are closed at once" },
    { "web.idle_timeout_s",    CFG_UINT,  CFG_AT(web_idle_timeout_s), "30", 1, 3600,
      "web: a keep-alive connection idle this long is closed" },
    { "web.max_conns_per_addr", CFG_UINT, CFG_AT(web_max_conns_per_addr), "32", 1, 4096,
      "web: connections one client address may hold open; more are closed at once" },
    { "web.first_request_s",   CFG_UINT,  CFG_AT(web_first_request_s), "10", 1, 3600,
      "web: a new connection that sends no request this long is closed" },
    { "web.session_ttl_s",     CFG_UINT,  CFG_AT(web_session_ttl_s), "43200", 300, 2592000,
      "web: how long a login lasts (seconds)" },
    { "web.response_target_h", CFG_UINT,  CFG_AT(web_response_target_h), "24", 1, 720,
      "web: the district's target for answering a priority (P) case, in hours; older ones show red" },
    { "web.tls_cert_file",     CFG_PATH,  CFG_AT(web_tls_cert_file), "", 0, 0,
      "web: PEM certificate chain to serve the pages over HTTPS (a tablet's offline app needs "
      "it); empty: plain HTTP. Read at start" },
    { "web.tls_key_file",      CFG_PATH,  CFG_AT(web_tls_key_file), "", 0, 0,
      "web: the PEM private key of web.tls_cert_file" },
    { "sync.hub_url",          CFG_PATH,  CFG_AT(sync_hub_url),    "",      0, 0,
      "https://HOST:PORT of sikhnas-hub (--hub overrides; else the last one used)" },
    { "sync.ca_file",          CFG_PATH,  CFG_AT(sync_ca_file),    "",      0, 0,
      "PEM file of the CAs that sign the hub's certificate (--ca overrides)" },
    { "sync.interval_s",       CFG_UINT,  CFG_AT(sync_interval_s), "60",    5, 86400,
      "the daemon syncs this often, and a few seconds after each new record" },
    { "sync.batch_kib",        CFG_UINT,  CFG_AT(sync_batch_kib),  "512",   4, 2048,
      "first push batch size on the wire; halves after a timeout, grows after successes" },
    { "sync.timeout_s",        CFG_UINT,  CFG_AT(sync_timeout_s),  "120",   2, 3600,
      "one sync request may take this long; a timeout halves the next batch" },
    { "sync.daily_budget_kib", CFG_UINT,  CFG_AT(sync_daily_kib),  "0",     0, 4194304,
      "a metered link: KiB a day up and down (0: no limit); when used up, only P reports "
      "and their follow-ups go up until midnight" },
    { "sms.gateway",           CFG_GATEWAY, CFG_AT(sms_gateway),   "",      0, 0,
      "gammu or smstools: the daemon that reads the SMS spool (--sms-gateway overrides)" },
};

static int set_opt(struct node_config *c, const struct cfg_opt *o, const char *value)
{
    char *dst = (char *)c + o->offset;
    char *end;

    switch (o->type) {
    case CFG_UINT: {
        errno = 0;
        unsigned long v = strtoul(value, &end, 10);
        if (errno || end == value || *end || v < o->min || v > o->max || value[0] == '-')
            return -ERANGE;
        *(unsigned *)(void *)dst = (unsigned)v;
        return 0;
    }
    case CFG_PATH:
        if (strlen(value) >= o->size)
            return -ENAMETOOLONG;
        memcpy(dst, value, strlen(value) + 1);
        return 0;
    case CFG_SYNC: {
        enum store_sync_mode m;
        if (strcasecmp(value, "full") == 0) m = STORE_SYNC_FULL;
        else if (strcasecmp(value, "normal") == 0) m = STORE_SYNC_NORMAL;
        else if (strcasecmp(value, "extra") == 0) m = STORE_SYNC_EXTRA;
        else return -EINVAL;
        *(enum store_sync_mode *)(void *)dst = m;
        return 0;
    }
    case CFG_LEVEL: {
        static const char *const names[] = { "error", "warning", "notice", "info", "debug" };
        static const int levels[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG };
        for (int i = 0; i < 5; i++) {
            if (strcasecmp(value, names[i]) == 0) {
                *(int *)(void *)dst = levels[i];
                return 0;
            }
        }
        return -EINVAL;
    }
    case CFG_GATEWAY:
        if (!value[0]) {
            *(enum sms_gateway *)(void *)dst = SMS_GATEWAY_UNSET;
            return 0;
        }
        return sms_gateway_parse(value, (enum sms_gateway *)(void *)dst);
    }
    return -EINVAL;
}

int config_set(struct node_config *c, const char *name, const char *value)
{
    for (size_t i = 0; i < sizeof(cfg_opts) / sizeof(cfg_opts[0]); i++)
        if (strcmp(cfg_opts[i].name, name) == 0)
            return set_opt(c, &cfg_opts[i], value);
    return -ENOENT;
}

struct store_opts config_store_opts(const struct node_config *c, int create)
{
    struct store_opts o = {
        .sync = c->synchronous,
        .busy_timeout_ms = (int)c->busy_timeout_ms,
        .cache_kib = (int)c->cache_kib,
        .create = create,
    };
    return o;
}

int config_open_store(const struct node_config *c, int create, struct store **ret)
{
    struct store_opts o = config_store_opts(c, create);
    int r = store_open(c->db_path, &o, ret);

    if (r == 0 && !create && (!store_district(*ret)[0] || !store_node_id(*ret)[0])) {
        log_error("store '%s' has no district yet: run `sikhnas-node --db %s init "
                  "--district CODE`", c->db_path, c->db_path);
        store_close(*ret);
        *ret = NULL;
        return -ENOENT;
    }
    return r;
}

void config_defaults(struct node_config *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < sizeof(cfg_opts) / sizeof(cfg_opts[0]); i++)
        if (set_opt(c, &cfg_opts[i], cfg_opts[i].def) < 0)
            abort();                /* a bad default is our bug */
}

struct ini_ctx {
    struct node_config *c;
    const char *path;
    int error;
};

static int on_ini(void *arg, const char *section, const char *key, const char *value)
{
    struct ini_ctx *x = arg;
    char name[128];
    int r;

    snprintf(name, sizeof(name), "%s.%s", section, key);
    r = config_set(x->c, name, value);
    if (r == -ENOENT)
        log_error("%s: unknown setting '%s'", x->path, name);
    else if (r < 0)
        log_error("%s: bad value '%s' for %s", x->path, value, name);
    if (r < 0 && !x->error)
        x->error = r;
    return r == 0;
}

int config_load(struct node_config *c, const char *path)
{
    struct ini_ctx x = { .c = c, .path = path };
    int line = ini_parse(path, on_ini, &x);

    if (line == -1)
        return log_errno(LOG_ERR, -errno ? -errno : -ENOENT, "cannot read config '%s'", path);
    if (line > 0 && !x.error) {
        log_error("%s:%d: malformed line", path, line);
        return -EINVAL;
    }
    return x.error;
}

void config_help(FILE *fp)
{
    fprintf(fp, "Settings (INI file given with --config; [section] then key = value):\n");
    for (size_t i = 0; i < sizeof(cfg_opts) / sizeof(cfg_opts[0]); i++)
        fprintf(fp, "  %-24s default %-28s %s\n", cfg_opts[i].name,
                cfg_opts[i].def[0] ? cfg_opts[i].def : "(none)", cfg_opts[i].help);
}
