/* uplink_round.c - `sikhnas-node-uplink round`: one sync round for the
 * daemon, in a process of its own (issue 13, the footprint). The daemon
 * does not link libcurl: libcurl, OpenSSL and the rest of libcurl's chain
 * (GnuTLS, Kerberos, LDAP, ...) are mapped only while this process runs
 * (uplink.c starts it, reads what it writes, and waits for it).
 *
 * The round is the one the daemon ran on its loop before: push until the
 * outbox is empty, then pull until caught up, one request at a time on one
 * easy handle, rows per batch capped at UPLINK_MAX_ROWS. It records its
 * result in the store itself (last sync, last error, the hub's URL: what
 * `status` shows) and tells the daemon on --result-fd, one line per step
 * (the daemon's watchdog) and one at the end:
 *
 *     step
 *     done <r> <retry_after_s> <refdata_changed> <budget_bytes> <failures>
 *          <outage_ms> <message>
 *
 * r is 0 or -errno as sync_client_done() returns it (-EALREADY: another
 * round holds the store); failures and outage_ms: the transient failures
 * in a row the round rode out before it gave up, and for how long (run()). SIGTERM ends the transfer in flight (libcurl's
 * progress callback) and the round after the step in progress: every step
 * commits on its own, so nothing is lost or applied twice. */
#include "uplink_round.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd_sync.h"
#include "cmdopts.h"
#include "log.h"
#include "nodecert.h"
#include "sync_client.h"

#define UPLINK_MAX_ROWS 2000     /* rows per batch, as the daemon always sent */
/* The round's SQLite page cache, at most (run.cache_kib is the daemon's,
 * sized for the web pages): the round reads the outbox in order and deletes
 * what the hub took, so the B-trees' upper pages are all it re-reads. At
 * 20,000 records 512 KiB took the child's heap at its peak from 4.7 to 3.1
 * MiB with no slower a sync (docs/performance.md, "Morning (2026-12-03):
 * footprint"); 256 KiB 0.1-0.2 MB less again at 100,000, within the runs'
 * spread, and no slower ("Lead, 2026-12-03 (third session): footprint").
 * SQLite's sorters are bounded by it too. */
#define UPLINK_CACHE_KIB 256
#define RIDE_OUT_MS     SYNC_RIDE_OUT_MS   /* an outage ridden out in the round */
#define RIDE_OUT_WAIT_MS 5000    /* longer waits (a busy hub's Retry-After): the daemon's */

static volatile sig_atomic_t stop_asked;

static void on_term(int sig)
{
    (void) sig;
    stop_asked = 1;
}

static int on_xfer(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void) arg; (void) dt; (void) dn; (void) ut; (void) un;
    return stop_asked ? 1 : 0;       /* 1: CURLE_ABORTED_BY_CALLBACK */
}

/* Writes the whole line to fd (a pipe to the daemon; -1: none). */
static void tell(int fd, const char *line)
{
    size_t n = strlen(line), off = 0;

    while (fd >= 0 && off < n) {
        ssize_t k = write(fd, line + off, n - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return;
        off += (size_t)k;
    }
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int transient(int r)
{
    return r == -ETIMEDOUT || r == -EAGAIN || r == -EMSGSIZE || r == -ECONNRESET ||
           r == -ECONNREFUSED || r == -EIO || r == -EBUSY || r == -EPROTO || r == -ESTALE;
}

/* The round. A transient failure (a cut, a timeout, a hub briefly away) is
 * ridden out here for the first RIDE_OUT_MS of the outage, with waits of at
 * most RIDE_OUT_WAIT_MS: the client keeps what it holds (a cut batch's body
 * is resumed, not sent again), as when the daemon ran the round itself.
 * Longer, the round ends and the daemon waits with no child. *failures and
 * *outage_ms: the failures in a row and how long they have lasted, on entry
 * as the daemon counted them (0: none), on return as they are. */
static int run(struct sync_client *c, CURL *easy, int fd, unsigned *failures,
               uint64_t *outage_ms)
{
    uint64_t outage0 = now_ms() - *outage_ms;     /* an outage the daemon saw began */
    int r;

    sync_client_begin(c);
    for (;;) {
        unsigned budget = sync_client_budget(c);

        if (stop_asked)
            return -EINTR;
        r = sync_client_next(c, easy);
        if (r == 0)
            return 0;
        if (r > 0) {
            curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
            curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, on_xfer);
            r = sync_client_done(c, easy, curl_easy_perform(easy));
            if (stop_asked)
                return -EINTR;
            tell(fd, "step\n");
            if (r == 0) {
                *failures = 0;
                continue;
            }
        }
        if (!transient(r))
            return r;
        sync_client_record_error(c);
        if ((r == -ETIMEDOUT || r == -EMSGSIZE) && sync_client_budget(c) < budget) {
            /* a slow link: the next batch is half the size; that is progress */
            log_notice("uplink: %s; sending smaller batches (%u KiB)", sync_client_error(c),
                       sync_client_budget(c) / 1024);
            continue;
        }
        if ((*failures)++ == 0)
            outage0 = now_ms();
        *outage_ms = now_ms() - outage0;
        if (r == -ESTALE)               /* sent ahead too early: send it again, now */
            continue;
        unsigned wait = sync_retry_delay_ms(*failures, *outage_ms, sync_client_retry_after(c),
                                            RIDE_OUT_MS);
        if (*outage_ms + wait >= RIDE_OUT_MS || wait > RIDE_OUT_WAIT_MS)
            return r;
        if (*failures == 1)
            log_warning("uplink: %s; retrying in %.1f s", sync_client_error(c),
                        (double)wait / 1000);
        else
            log_info("uplink: still failing (%u): %s; retrying in %.1f s", *failures,
                     sync_client_error(c), (double)wait / 1000);
        struct timespec ts = { (time_t)(wait / 1000), (long)(wait % 1000) * 1000000L };
        while (!stop_asked && nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
    }
}

/* The store, the client and its easy handle for the round; 0 or -errno
 * (the message in err). */
static int round_with(struct sync_client_opts *co, int fd,
                      struct store *s, char *err, size_t cap, unsigned *budget,
                      unsigned *retry_after, int *refdata, unsigned *failures,
                      uint64_t *outage_ms)
{
    struct sync_client *c = NULL;
    CURL *easy = NULL;
    int r;

    r = sync_client_new(s, co, &c);
    if (r < 0) {
        snprintf(err, cap, "cannot set up the sync client (%s)", strerror(-r));
        return r;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(easy = curl_easy_init())) {
        snprintf(err, cap, "cannot set up libcurl");
        r = -ENOMEM;
        goto out;
    }
    r = sync_client_lock(c, 0);
    if (r < 0) {
        snprintf(err, cap, "a sync of this store is running elsewhere");
        r = -EALREADY;
        goto out;
    }
    r = run(c, easy, fd, failures, outage_ms);
    sync_client_unlock(c);
    snprintf(err, cap, "%s", r == -EINTR ? "stopped" : r < 0 ? sync_client_error(c) : "");
    if (r == 0) {
        (void) sync_client_round_ok(c);
        (void) sync_remember_hub(s, co->hub_url, co->ca_file);
    } else if (r != -EDQUOT && r != -EINTR) {
        sync_client_record_error(c);
    }
    *budget = sync_client_budget(c);
    *retry_after = sync_client_retry_after(c);
    *refdata = sync_client_refdata_changed(c);
out:
    curl_easy_cleanup(easy);
    if (easy || c)
        curl_global_cleanup();
    sync_client_free(c);
    return r;
}

int uplink_round_cmd(struct node_config *cfg, int argc, char **argv)
{
    const char *url = NULL, *ca = NULL;
    int fd = -1, batch_bytes = 0, refdata = 0, failed = 0, failed_s = 0, r;
    const struct cmdopt opts[] = {
        { "hub", CMDOPT_TEXT, &url }, { "ca", CMDOPT_TEXT, &ca },
        { "batch-bytes", CMDOPT_INT, &batch_bytes }, { "result-fd", CMDOPT_INT, &fd },
        { "failures", CMDOPT_INT, &failed }, { "outage-s", CMDOPT_INT, &failed_s } };
    struct store_opts so = config_store_opts(cfg, 0);
    struct sync_client_opts co = {0};
    struct nodecert_paths certs;
    struct sigaction sa = { .sa_handler = on_term };
    struct store *s = NULL;
    unsigned budget = 0, retry_after = 0, failures = 0;
    uint64_t outage_ms = 0;
    char err[512] = "", line[700];

    r = cmdopts_parse(argc, argv, opts, CMDOPTS_N(opts));
    if (r != argc || !url || batch_bytes < 0 || fd < -1 || failed < 0 || failed_s < 0) {
        log_error("round needs --hub URL [--ca FILE] [--batch-bytes N] [--result-fd FD] "
                  "[--failures N --outage-s S]");
        return -EDOM;
    }
    failures = (unsigned)failed;
    outage_ms = failed ? (uint64_t)failed_s * 1000 : 0;
    sigemptyset(&sa.sa_mask);
    (void) sigaction(SIGTERM, &sa, NULL);
    (void) sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* as the daemon's own connection (daemon.c), the round's renumbering
     * and deletes spill to files, not the heap; its cache is smaller still */
    so.cache_kib = cfg->run_cache_kib < UPLINK_CACHE_KIB ? (int)cfg->run_cache_kib
                                                         : UPLINK_CACHE_KIB;
    so.temp_file = 1;
    r = store_open(cfg->db_path, &so, &s);
    if (r < 0) {
        snprintf(err, sizeof(err), "cannot open the store '%.300s' (%s)", cfg->db_path,
                 strerror(-r));
        goto out;
    }
    r = nodecert_paths(cfg->db_path, &certs);
    if (r < 0) {
        snprintf(err, sizeof(err), "no certificate paths for '%.300s'", cfg->db_path);
        goto out;
    }
    co.hub_url = url;
    co.ca_file = ca && ca[0] ? ca : NULL;
    co.cert_file = certs.crt;
    co.key_file = certs.key;
    co.tls_session_file = certs.tls_session;
    co.batch_bytes = batch_bytes ? (unsigned)batch_bytes : cfg->sync_batch_kib * 1024u;
    co.timeout_s = cfg->sync_timeout_s;
    co.max_rows = UPLINK_MAX_ROWS;
    co.daily_budget = (uint64_t)cfg->sync_daily_kib * 1024u;
    co.tcp_congestion = cfg->sync_tcp_congestion;
    r = round_with(&co, fd, s, err, sizeof(err), &budget, &retry_after, &refdata, &failures,
                   &outage_ms);
out:
    store_close(s);
    for (char *p = err; *p; p++)        /* one line */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    snprintf(line, sizeof(line), "done %d %u %d %u %u %llu %s\n", r, retry_after, refdata, budget,
             failures, (unsigned long long)outage_ms, err);
    tell(fd, line);
    return r;
}
