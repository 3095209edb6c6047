/* uplink.c - sync rounds for `sikhnas-node run`. Each round runs in a child
 * process, sikhnas-node-uplink round (uplink_round.c), so that the daemon
 * itself never maps libcurl, OpenSSL and their chain (issue 13: the idle
 * daemon's footprint; docs/node.md "Memory"). The child is started with
 * uv_spawn and watched from the loop: the web UI and SMS intake go on
 * while it syncs, and a slow 2G link never blocks them.
 *
 * The child records the round's result in the store (last sync, last
 * error: what `status` shows) and writes one line per step and a last one
 * with the result on a pipe; the daemon keeps the schedule. One round at a
 * time: the next child is started only after the last one has exited and
 * its pipe is closed. A child silent for longer than a request may take
 * (UPLINK_SILENT_MS) is ended, SIGTERM then SIGKILL. On SIGTERM the daemon
 * passes SIGTERM on and waits for the child: it ends its transfer at once
 * and nothing is lost (every step commits on its own).
 *
 * Scheduling: a round every sync.interval_s; UPLINK_SOON_MS after a local
 * change; after a failed round, a retry after sync_retry_delay_ms(): short
 * waits for the first minute of an outage (a failover at the centre is
 * ridden out), then waits that grow with the outage up to
 * UPLINK_BACKOFF_MAX_MS, with jitter, or the hub's Retry-After when longer.
 * A failed round is always retried: it never waits for the next local
 * write, and the daemon never gives up. */
#include "uplink.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "nodecert.h"
#include "sync_policy.h"
#include "uplink_exec.h"

#define UPLINK_FIRST_MS       2000
#define UPLINK_SOON_MS        3000
#define UPLINK_BUSY_MS        5000     /* another process holds the round */
#define UPLINK_BACKOFF_MAX_MS (15 * 60 * 1000)
#define UPLINK_KILL_MS        10000    /* SIGTERM, then SIGKILL after this */
#define UPLINK_LINE_MAX       1024
/* the longest a round may say nothing: a request takes at most
 * sync.timeout_s, and the round's prepare and apply steps far less */
#define UPLINK_SILENT_MS(cfg) (((cfg)->sync_timeout_s * 2u + 60u) * 1000u)

struct uplink {
    struct daemon *d;
    uv_timer_t round_timer;     /* the next round */
    uv_timer_t watch_timer;     /* the child's silence */
    uv_process_t proc;
    uv_pipe_t pipe;             /* the child's result lines (its fd 3) */
    uint64_t round_due;         /* uv_now() when round_timer fires; 0 when idle */
    int busy;                   /* a child runs, or its handles are not yet closed */
    int round_handles;          /* proc and pipe not yet closed */
    int open_handles;           /* the two timers not yet closed */
    int again;                  /* a change arrived during the round */
    int held;                   /* the day's budget is used up (said once) */
    int ended;                  /* 1: SIGTERM sent (silent), 2: SIGKILL sent */
    unsigned failures;          /* failed rounds in a row */
    uint64_t outage_start;      /* uv_now() of the first of them */
    unsigned budget;            /* the last round's push budget: the next one starts there */
    int64_t exit_status;
    int term_signal;
    char line[UPLINK_LINE_MAX];  /* the pipe's line in progress */
    size_t line_len;
    struct {
        int have, r, refdata;
        unsigned retry_after, budget, failures;
        unsigned long long outage_ms;
        char msg[UPLINK_LINE_MAX];
    } res;                      /* the child's "done" line */
    char url[512], ca[PATH_MAX], prog[PATH_MAX];
};

static void uplink_release(struct uplink *u)
{
    if (--u->open_handles > 0 || u->busy)
        return;
    free(u);
}

static void on_timer_closed(uv_handle_t *h)
{
    uplink_release(h->data);
}

static void on_round_timer(uv_timer_t *h);

static void arm(struct uplink *u, uint64_t ms)
{
    if (u->d->stopping)
        return;
    u->round_due = uv_now(u->d->loop) + ms;
    uv_timer_start(&u->round_timer, on_round_timer, ms, 0);
}

/* The round's result, as the daemon ran it in its own process before. */
static void round_finished(struct uplink *u, int r, const char *msg, unsigned retry_after)
{
    if (r == 0) {
        u->held = 0;
        if (u->failures)
            log_notice("uplink: synced with %s again after %u failed round(s)", u->url,
                       u->failures);
        u->failures = 0;
        if (u->res.refdata && u->d->validator)
            (void) validator_reload(u->d->validator);
        arm(u, u->again ? UPLINK_SOON_MS : (uint64_t)u->d->cfg->sync_interval_s * 1000);
        u->again = 0;
        return;
    }
    if (r == -EALREADY) {
        log_info("uplink: a sync of this store is running elsewhere; trying again in %d s",
                 UPLINK_BUSY_MS / 1000);
        arm(u, UPLINK_BUSY_MS);
        return;
    }
    if (r == -EDQUOT) {                 /* a metered link: not a failure; wait */
        if (!u->held)
            log_notice("uplink: %s", msg);
        u->held = 1;
        u->failures = 0;
        arm(u, u->again ? UPLINK_SOON_MS : (uint64_t)u->d->cfg->sync_interval_s * 1000);
        u->again = 0;
        return;
    }
    /* the child rode out the outage's start itself (uplink_round.c run()):
     * the backoff goes on from there */
    if (u->failures == 0) {
        uint64_t now = uv_now(u->d->loop), rode = u->res.outage_ms;
        u->outage_start = rode < now ? now - rode : 0;
    }
    u->failures = u->res.failures > u->failures ? u->res.failures : u->failures + 1;
    uint64_t delay = sync_retry_delay_ms(u->failures, uv_now(u->d->loop) - u->outage_start,
                                         retry_after, UPLINK_BACKOFF_MAX_MS);
    if (u->failures == 1)
        log_warning("uplink: %s; retrying in %.1f s", msg, (double)delay / 1000);
    else
        log_info("uplink: still failing (%u): %s; retrying in %.1f s", u->failures, msg,
                 (double)delay / 1000);
    u->again = 0;
    arm(u, delay);
}

/* Both the child and its pipe are closed: the round is over. */
static void round_closed(uv_handle_t *h)
{
    struct uplink *u = h->data;
    char why[PATH_MAX + 160];

    if (--u->round_handles > 0)
        return;
    u->busy = 0;
    if (!u->d->uplink) {                /* the daemon stopped meanwhile */
        if (u->open_handles == 0)
            free(u);
        return;
    }
    uv_timer_stop(&u->watch_timer);
    if (u->res.have && !u->ended) {
        if (u->res.budget)
            u->budget = u->res.budget;
        round_finished(u, u->res.r, u->res.msg, u->res.retry_after);
        return;
    }
    if (u->ended)
        snprintf(why, sizeof(why), "the round said nothing for %u s and was ended",
                 UPLINK_SILENT_MS(u->d->cfg) / 1000);
    else if (u->term_signal)
        snprintf(why, sizeof(why), "the sync program (%s) was killed by signal %d", u->prog,
                 u->term_signal);
    else
        snprintf(why, sizeof(why), "the sync program (%s) ended without a result (exit "
                 "status %lld)", u->prog, (long long)u->exit_status);
    round_finished(u, u->ended ? -ETIMEDOUT : -EIO, why, 0);
}

/* "done R RETRY_AFTER REFDATA BUDGET FAILURES OUTAGE_MS MESSAGE"
 * (uplink_round.c). */
static void take_line(struct uplink *u, char *line)
{
    int n = 0;

    if (strcmp(line, "step") == 0)
        return;
    if (sscanf(line, "done %d %u %d %u %u %llu %n", &u->res.r, &u->res.retry_after,
               &u->res.refdata, &u->res.budget, &u->res.failures, &u->res.outage_ms, &n) >= 6 &&
        n > 0) {
        snprintf(u->res.msg, sizeof(u->res.msg), "%s", line + n);
        u->res.have = 1;
        return;
    }
    log_warning("uplink: the sync program said '%.80s', which is not its protocol", line);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct uplink *u = h->data;

    (void) hint;
    buf->base = u->line + u->line_len;
    buf->len = sizeof(u->line) - 1 - u->line_len;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct uplink *u = s->data;
    char *nl;

    (void) buf;
    if (n < 0) {
        uv_close((uv_handle_t *)s, round_closed);
        return;
    }
    u->line_len += (size_t)n;
    u->line[u->line_len] = '\0';
    if (!u->ended)          /* it is alive: restart the watch */
        uv_timer_again(&u->watch_timer);
    while ((nl = memchr(u->line, '\n', u->line_len))) {
        *nl = '\0';
        take_line(u, u->line);
        u->line_len -= (size_t)(nl + 1 - u->line);
        memmove(u->line, nl + 1, u->line_len);
    }
    if (u->line_len == sizeof(u->line) - 1)   /* no line is this long */
        u->line_len = 0;
}

/* 1 while the round's child has not exited (its pipe may be closed). */
static int child_running(struct uplink *u)
{
    uv_handle_t *h = (uv_handle_t *)&u->proc;

    return u->busy && !uv_is_closing(h) && uv_is_active(h);
}

static void on_exit_child(uv_process_t *p, int64_t status, int sig)
{
    struct uplink *u = p->data;

    u->exit_status = status;
    u->term_signal = sig;
    uv_close((uv_handle_t *)p, round_closed);
}

static void on_watch(uv_timer_t *h)
{
    struct uplink *u = h->data;

    if (!child_running(u))
        return;
    if (!u->ended)
        log_warning("uplink: the round (pid %d) said nothing for %u s: ending it",
                    u->proc.pid, UPLINK_SILENT_MS(u->d->cfg) / 1000);
    u->ended++;
    (void) uv_process_kill(&u->proc, u->ended == 1 ? SIGTERM : SIGKILL);
    if (u->ended == 1)
        uv_timer_start(&u->watch_timer, on_watch, UPLINK_KILL_MS, 0);
}

/* The child's command line in argv (argv ends with NULL). */
static void child_args(struct uplink *u, char **argv, size_t cap, char *budget, size_t bcap,
                       char *fail, size_t fcap, char *outage, size_t ocap)
{
    const struct daemon *d = u->d;
    size_t n = 0;

    argv[n++] = u->prog;
    if (d->config_file) {
        argv[n++] = "--config";
        argv[n++] = (char *)d->config_file;
    }
    argv[n++] = "--db";
    argv[n++] = d->cfg->db_path;
    for (int i = 0; i < abs(d->verbose) && i < 4; i++)
        argv[n++] = d->verbose > 0 ? "-v" : "-q";
    argv[n++] = "round";
    argv[n++] = "--hub";
    argv[n++] = u->url;
    if (u->ca[0]) {
        argv[n++] = "--ca";
        argv[n++] = u->ca;
    }
    snprintf(budget, bcap, "%u", u->budget);
    argv[n++] = "--batch-bytes";
    argv[n++] = budget;
    if (u->failures) {          /* an outage goes on: the child knows how long */
        snprintf(fail, fcap, "%u", u->failures);
        snprintf(outage, ocap, "%llu",
                 (unsigned long long)(uv_now(d->loop) - u->outage_start) / 1000);
        argv[n++] = "--failures";
        argv[n++] = fail;
        argv[n++] = "--outage-s";
        argv[n++] = outage;
    }
    argv[n++] = "--result-fd";
    argv[n++] = "3";
    argv[n] = NULL;
    (void) cap;
}

static int spawn_round(struct uplink *u)
{
    uv_loop_t *loop = u->d->loop;
    uv_stdio_container_t stdio[4];
    uv_process_options_t po = {0};
    char *argv[32], budget[16], fail[16], outage[24];
    int r;

    child_args(u, argv, sizeof(argv) / sizeof(argv[0]), budget, sizeof(budget), fail,
               sizeof(fail), outage, sizeof(outage));
    memset(&u->res, 0, sizeof(u->res));
    u->line_len = 0;
    u->ended = 0;
    u->exit_status = 0;
    u->term_signal = 0;
    uv_pipe_init(loop, &u->pipe, 0);
    u->pipe.data = u;
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = 1;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    stdio[3].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[3].data.stream = (uv_stream_t *)&u->pipe;
    po.file = u->prog;
    po.args = argv;
    po.exit_cb = on_exit_child;
    po.stdio = stdio;
    po.stdio_count = 4;
    u->proc.data = u;
    r = uv_spawn(loop, &u->proc, &po);
    if (r < 0) {
        /* libuv wants the handle closed even so; the pipe was never opened */
        uv_close((uv_handle_t *)&u->proc, NULL);
        uv_close((uv_handle_t *)&u->pipe, NULL);
        return r;
    }
    r = uv_read_start((uv_stream_t *)&u->pipe, on_alloc, on_read);
    if (r < 0)
        uv_close((uv_handle_t *)&u->pipe, round_closed);
    u->busy = 1;
    u->round_handles = 2;
    uv_timer_start(&u->watch_timer, on_watch, UPLINK_SILENT_MS(u->d->cfg),
                   UPLINK_SILENT_MS(u->d->cfg));
    return 0;
}

static void on_round_timer(uv_timer_t *h)
{
    struct uplink *u = h->data;
    char why[PATH_MAX + 64];
    int r;

    u->round_due = 0;
    if (u->busy || u->d->stopping)
        return;
    u->again = 0;
    r = spawn_round(u);
    if (r < 0) {
        snprintf(why, sizeof(why), "cannot start the sync program '%s' (%s)", u->prog,
                 uv_strerror(r));
        round_finished(u, -EIO, why, 0);
    }
}

void uplink_changed(struct daemon *d)
{
    struct uplink *u = d->uplink;
    uint64_t now;

    if (!u || d->stopping)
        return;
    if (u->busy) {
        u->again = 1;
        return;
    }
    if (u->failures)
        return;             /* the backoff's retry is already scheduled */
    now = uv_now(d->loop);
    if (u->round_due && u->round_due <= now + UPLINK_SOON_MS)
        return;
    arm(u, UPLINK_SOON_MS);
}

static int uplink_start(struct daemon *d)
{
    struct nodecert_paths certs;
    struct uplink *u;
    int r;

    u = calloc(1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    sync_find_setting(d->store, d->hub_url, d->cfg->sync_hub_url, "sync.hub_url", u->url,
                 sizeof(u->url));
    sync_find_setting(d->store, d->ca_file, d->cfg->sync_ca_file, "sync.ca_file", u->ca,
                 sizeof(u->ca));
    if (!u->url[0]) {
        log_notice("uplink: no hub known (give --hub, set sync.hub_url, or run "
                   "`sikhnas-node sync --hub URL` once); not syncing");
        free(u);
        return 0;
    }
    if (nodecert_paths(d->cfg->db_path, &certs) < 0 || access(certs.crt, R_OK) < 0) {
        log_warning("uplink: this node is not enrolled (no '%s'): run `sikhnas-node enroll`; "
                    "not syncing", certs.crt);
        free(u);
        return 0;
    }
    uplink_environ();                   /* each round's child inherits it */
    r = uplink_program(u->prog, sizeof(u->prog));
    if (r == 0 && access(u->prog, X_OK) < 0)
        r = -errno;
    if (r < 0) {
        log_errno(LOG_ERR, r, "uplink: cannot run the sync program '%s' (install it, or set "
                  "SIKHNAS_UPLINK)", u->prog);
        free(u);
        return r;
    }
    uv_timer_init(d->loop, &u->round_timer);
    uv_timer_init(d->loop, &u->watch_timer);
    u->round_timer.data = u->watch_timer.data = u;
    u->open_handles = 2;
    u->d = d;
    d->uplink = u;
    srand((unsigned)uv_hrtime());
    arm(u, UPLINK_FIRST_MS);
    log_notice("uplink: syncing with %s every %u s (%s)", u->url, d->cfg->sync_interval_s,
               u->prog);
    return 0;
}

static void uplink_stop(struct daemon *d)
{
    struct uplink *u = d->uplink;

    if (!u)
        return;
    d->uplink = NULL;
    /* the child ends its transfer and exits; what it had not committed
     * stays queued, and the loop runs until its handles are closed */
    if (child_running(u))
        (void) uv_process_kill(&u->proc, SIGTERM);
    uv_timer_stop(&u->round_timer);
    uv_timer_stop(&u->watch_timer);
    uv_close((uv_handle_t *)&u->round_timer, on_timer_closed);
    uv_close((uv_handle_t *)&u->watch_timer, on_timer_closed);
}

const struct daemon_module uplink_module = {
    .name = "uplink",
    .start = uplink_start,
    .stop = uplink_stop,
};
