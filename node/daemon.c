/* daemon.c - the node daemon's loop, signals and module table. Nothing here
 * blocks: modules use libuv handles, and slow work goes to uv_queue_work. */
#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmdopts.h"
#include "heap.h"
#include "log.h"
#include "sdnotify.h"
#include "sms_spool.h"
#include "uplink.h"
#include "web.h"

/* One line per module; start order is this order, stop order the reverse. */
static const struct daemon_module *const modules[] = {
    &web_module,
    &uplink_module,
    &sms_module,
    NULL,
};

static uv_signal_t sig_term, sig_int;
static uv_timer_t watchdog;

/* systemd's watchdog (WatchdogSec= in the unit): pinged from the loop, so
 * a loop stuck for the whole interval gets the daemon restarted. */
static void on_watchdog(uv_timer_t *h)
{
    (void) h;
    (void) sd_notify_send("WATCHDOG=1");
}

void daemon_changed(struct daemon *d)
{
    uplink_changed(d);
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;
    size_t n = sizeof(modules) / sizeof(modules[0]);

    if (d->stopping)
        return;
    d->stopping = 1;
    log_notice("stopping (%s): finishing work in progress", strsignal(signum));
    for (size_t i = n; i-- > 0;)
        if (modules[i] && modules[i]->stop)
            modules[i]->stop(d);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
    uv_close((uv_handle_t *)&watchdog, NULL);
    (void) sd_notify_send("STOPPING=1");
}

int daemon_main(struct node_config *cfg, const char *config_file, int verbose, int argc,
                char **argv)
{
    struct store_opts so = config_store_opts(cfg, 0);
    struct daemon d = { .cfg = cfg, .config_file = config_file, .verbose = verbose };
    const char *gateway = NULL;
    const struct cmdopt opts[] = {
        { "listen", CMDOPT_TEXT, &d.listen }, { "sms-spool", CMDOPT_TEXT, &d.sms_spool },
        { "sms-gateway", CMDOPT_TEXT, &gateway },
        { "hub", CMDOPT_TEXT, &d.hub_url }, { "ca", CMDOPT_TEXT, &d.ca_file } };
    /* web forms and SMS add rows at the ends of the B-trees, and a smaller
     * cache keeps the long-running process small (docs/performance.md) */
    so.cache_kib = (int)cfg->run_cache_kib;
    /* a sync round renumbers and deletes up to the whole outbox in one
     * statement: its statement journal and the priority lane's temporary
     * table spill to files instead of the heap (docs/performance.md) */
    so.temp_file = 1;
    uv_loop_t loop;
    int r;

    r = cmdopts_parse(argc, argv, opts, CMDOPTS_N(opts));
    if (r != argc)
        return -EDOM;
    if (gateway && config_set(cfg, "sms.gateway", gateway) < 0) {
        log_error("--sms-gateway: '%s' is not gammu or smstools", gateway);
        return -EDOM;
    }
    log_setup("sikhnas-node", 1);
    heap_setup();
    r = store_open(cfg->db_path, &so, &d.store);
    if (r < 0)
        return r;
    r = validator_new(d.store, &d.validator);
    if (r < 0)
        goto out;
    uv_loop_init(&loop);
    d.loop = &loop;
    uv_signal_init(&loop, &sig_term);
    uv_signal_init(&loop, &sig_int);
    sig_term.data = sig_int.data = &d;
    uv_signal_start(&sig_term, on_stop_signal, SIGTERM);
    uv_signal_start(&sig_int, on_stop_signal, SIGINT);
    signal(SIGPIPE, SIG_IGN);
    uv_timer_init(&loop, &watchdog);
    if (sd_watchdog_ms())
        uv_timer_start(&watchdog, on_watchdog, 0, sd_watchdog_ms() / 2);

    for (size_t i = 0; i < sizeof(modules) / sizeof(modules[0]); i++) {
        if (!modules[i])
            continue;
        r = modules[i]->start(&d);
        if (r < 0) {
            log_errno(LOG_ERR, r, "cannot start %s", modules[i]->name);
            uv_signal_t *h = &sig_term;
            on_stop_signal(h, SIGTERM);
            break;
        }
    }
    if (r == 0) {
        char status[160];
        log_notice("running: district %s, store %s", store_district(d.store), cfg->db_path);
        snprintf(status, sizeof(status), "READY=1\nSTATUS=running: district %s",
                 store_district(d.store));
        (void) sd_notify_send(status);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (r == 0)
        log_notice("stopped");
out:
    validator_free(d.validator);
    store_close(d.store);
    return r;
}
