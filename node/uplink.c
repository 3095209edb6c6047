/* uplink.c - sync rounds inside `sikhnas-node run`. libcurl's multi
 * interface is driven by the loop (CURLMOPT_SOCKETFUNCTION starts uv_poll
 * handles, CURLMOPT_TIMERFUNCTION a uv_timer), so a slow 2G link never
 * blocks the web UI or SMS intake. One transfer at a time, on one easy
 * handle that keeps its connection between rounds.
 *
 * Scheduling: a round every sync.interval_s; UPLINK_SOON_MS after a local
 * change; after a failed round, a retry after sync_retry_delay_ms(): short
 * waits for the first minute of an outage (a failover at the centre is
 * ridden out), then waits that grow with the outage up to
 * UPLINK_BACKOFF_MAX_MS, with jitter, or the hub's Retry-After when longer.
 * A failed round is always retried: it never waits for the next local
 * write, and the daemon never gives up. */
#include "uplink.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "sync_client.h"
#include "cmd_sync.h"
#include "log.h"
#include "nodecert.h"

#define UPLINK_FIRST_MS       2000
#define UPLINK_SOON_MS        3000
#define UPLINK_BUSY_MS        5000     /* another process holds the round */
#define UPLINK_BACKOFF_MAX_MS (15 * 60 * 1000)
#define UPLINK_MAX_ROWS       2000     /* rows per batch: bounds the loop's work per step */

struct uplink {
    struct daemon *d;
    struct sync_client *client;
    CURLM *multi;
    CURL *easy;
    uv_timer_t round_timer;     /* the next round */
    uv_timer_t curl_timer;      /* libcurl's timeout */
    uint64_t round_due;         /* uv_now() when round_timer fires; 0 when idle */
    int busy;                   /* a round is in progress */
    int in_flight;              /* easy is in multi */
    int again;                  /* a change arrived during the round */
    int held;                   /* the day's budget is used up (said once) */
    unsigned failures;          /* failed rounds in a row */
    uint64_t outage_start;      /* uv_now() of the first of them */
    int open_handles;           /* timers and polls not yet closed */
    char url[512], ca[PATH_MAX];
    struct nodecert_paths certs;
};

struct usock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct uplink *u;
};

static void uplink_step(struct uplink *u);

static void uplink_release(struct uplink *u)
{
    if (--u->open_handles > 0)
        return;
    curl_easy_cleanup(u->easy);
    sync_client_free(u->client);
    curl_global_cleanup();
    free(u);
}

static void on_handle_closed(uv_handle_t *h)
{
    uplink_release(h->data);
}

static void on_sock_closed(uv_handle_t *h)
{
    struct usock *s = h->data;
    struct uplink *u = s->u;

    free(s);
    uplink_release(u);
}

static void round_finished(struct uplink *u, int r);

static void check_done(struct uplink *u)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(u->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURLcode res = m->data.result;
        curl_multi_remove_handle(u->multi, u->easy);
        u->in_flight = 0;
        int r = sync_client_done(u->client, u->easy, res);
        if (r < 0)
            round_finished(u, r);
        else
            uplink_step(u);
        return;             /* one transfer at a time */
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct usock *s = h->data;
    int flags = 0, running;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(s->u->multi, s->fd, flags, &running);
    check_done(s->u);
}

static int on_curl_socket(CURL *e, curl_socket_t fd, int what, void *arg, void *sockp)
{
    struct uplink *u = arg;
    struct usock *s = sockp;
    int events = 0;

    (void) e;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, on_sock_closed);
            curl_multi_assign(u->multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return -1;
        s->fd = fd;
        s->u = u;
        if (uv_poll_init_socket(u->d->loop, &s->poll, fd) < 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        u->open_handles++;
        curl_multi_assign(u->multi, fd, s);
    }
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

static void on_curl_timeout(uv_timer_t *h)
{
    struct uplink *u = h->data;
    int running;

    curl_multi_socket_action(u->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(u);
}

static int on_curl_timer(CURLM *m, long timeout_ms, void *arg)
{
    struct uplink *u = arg;

    (void) m;
    if (timeout_ms < 0)
        uv_timer_stop(&u->curl_timer);
    else
        uv_timer_start(&u->curl_timer, on_curl_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

static void on_round_timer(uv_timer_t *h);

static void arm(struct uplink *u, uint64_t ms)
{
    if (u->d->stopping)
        return;
    u->round_due = uv_now(u->d->loop) + ms;
    uv_timer_start(&u->round_timer, on_round_timer, ms, 0);
}

static void round_finished(struct uplink *u, int r)
{
    u->busy = 0;
    sync_client_unlock(u->client);
#ifdef __GLIBC__
    (void) malloc_trim(0);      /* the round's buffers, back to the kernel (daemon.c) */
#endif
    if (r == 0) {
        u->held = 0;
        if (u->failures)
            log_notice("uplink: synced with %s again after %u failed round(s)", u->url,
                       u->failures);
        u->failures = 0;
        (void) sync_client_round_ok(u->client);
        (void) sync_remember_hub(u->d->store, u->url, u->ca[0] ? u->ca : NULL);
        if (sync_client_refdata_changed(u->client) && u->d->validator)
            (void) validator_reload(u->d->validator);
        arm(u, u->again ? UPLINK_SOON_MS : (uint64_t)u->d->cfg->sync_interval_s * 1000);
        u->again = 0;
        return;
    }
    if (r == -EDQUOT) {                 /* a metered link: not a failure; wait */
        if (!u->held)
            log_notice("uplink: %s", sync_client_error(u->client));
        u->held = 1;
        u->failures = 0;
        arm(u, u->again ? UPLINK_SOON_MS : (uint64_t)u->d->cfg->sync_interval_s * 1000);
        u->again = 0;
        return;
    }
    sync_client_record_error(u->client);
    if (u->failures++ == 0)
        u->outage_start = uv_now(u->d->loop);
    uint64_t delay = sync_retry_delay_ms(u->failures, uv_now(u->d->loop) - u->outage_start,
                                         sync_client_retry_after(u->client),
                                         UPLINK_BACKOFF_MAX_MS);
    if (u->failures == 1)
        log_warning("uplink: %s; retrying in %.1f s", sync_client_error(u->client),
                    (double)delay / 1000);
    else
        log_info("uplink: still failing (%u): %s; retrying in %.1f s", u->failures,
                 sync_client_error(u->client), (double)delay / 1000);
    u->again = 0;
    arm(u, delay);
}

static void uplink_step(struct uplink *u)
{
    int r;

    if (u->d->stopping) {
        u->busy = 0;
        sync_client_unlock(u->client);
        return;
    }
    r = sync_client_next(u->client, u->easy);
    if (r > 0) {
        if (curl_multi_add_handle(u->multi, u->easy) != CURLM_OK) {
            round_finished(u, -EIO);
            return;
        }
        u->in_flight = 1;
        return;
    }
    round_finished(u, r);
}

static void on_round_timer(uv_timer_t *h)
{
    struct uplink *u = h->data;

    u->round_due = 0;
    if (u->busy || u->d->stopping)
        return;
    if (sync_client_lock(u->client, 0) < 0) {
        log_info("uplink: a sync of this store is running elsewhere; trying again in %d s",
                 UPLINK_BUSY_MS / 1000);
        arm(u, UPLINK_BUSY_MS);
        return;
    }
    u->busy = 1;
    u->again = 0;
    sync_client_begin(u->client);
    uplink_step(u);
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
    struct sync_client_opts co = {0};
    struct uplink *u;
    int r;

    u = calloc(1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    sync_find_hub(d->store, d->cfg, d->hub_url, d->ca_file, u->url, sizeof(u->url), u->ca,
                  sizeof(u->ca));
    if (!u->url[0]) {
        log_notice("uplink: no hub known (give --hub, set sync.hub_url, or run "
                   "`sikhnas-node sync --hub URL` once); not syncing");
        free(u);
        return 0;
    }
    if (nodecert_paths(d->cfg->db_path, &u->certs) < 0 || access(u->certs.crt, R_OK) < 0) {
        log_warning("uplink: this node is not enrolled (no '%s'): run `sikhnas-node enroll`; "
                    "not syncing", u->certs.crt);
        free(u);
        return 0;
    }
    co.hub_url = u->url;
    co.ca_file = u->ca[0] ? u->ca : NULL;
    co.cert_file = u->certs.crt;
    co.key_file = u->certs.key;
    co.batch_bytes = d->cfg->sync_batch_kib * 1024u;
    co.timeout_s = d->cfg->sync_timeout_s;
    co.max_rows = UPLINK_MAX_ROWS;
    co.daily_budget = (uint64_t)d->cfg->sync_daily_kib * 1024u;
    co.tcp_congestion = d->cfg->sync_tcp_congestion;
    r = sync_client_new(d->store, &co, &u->client);
    if (r < 0) {
        free(u);
        return r;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        sync_client_free(u->client);
        free(u);
        return -ENOMEM;
    }
    u->multi = curl_multi_init();
    u->easy = curl_easy_init();
    if (!u->multi || !u->easy) {
        curl_multi_cleanup(u->multi);
        curl_easy_cleanup(u->easy);
        sync_client_free(u->client);
        curl_global_cleanup();
        free(u);
        return -ENOMEM;
    }
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
    uv_timer_init(d->loop, &u->round_timer);
    uv_timer_init(d->loop, &u->curl_timer);
    u->round_timer.data = u->curl_timer.data = u;
    u->open_handles = 2;
    u->d = d;
    d->uplink = u;
    srand((unsigned)uv_hrtime());
    arm(u, UPLINK_FIRST_MS);
    log_notice("uplink: syncing with %s every %u s", u->url, d->cfg->sync_interval_s);
    return 0;
}

static void uplink_stop(struct daemon *d)
{
    struct uplink *u = d->uplink;

    if (!u)
        return;
    d->uplink = NULL;
    /* a transfer cut off here changes nothing locally: its rows stay queued */
    if (u->in_flight)
        curl_multi_remove_handle(u->multi, u->easy);
    u->in_flight = 0;
    curl_multi_cleanup(u->multi);      /* removes its sockets through on_curl_socket */
    u->multi = NULL;
    uv_timer_stop(&u->round_timer);
    uv_timer_stop(&u->curl_timer);
    uv_close((uv_handle_t *)&u->round_timer, on_handle_closed);
    uv_close((uv_handle_t *)&u->curl_timer, on_handle_closed);
}

const struct daemon_module uplink_module = {
    .name = "uplink",
    .start = uplink_start,
    .stop = uplink_stop,
};
