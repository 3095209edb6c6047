/* cmd_sync.c - `sikhnas-node sync --hub URL [--ca FILE]`: one blocking sync
 * round on a libcurl multi handle with two easy handles (two kept-alive TLS
 * connections): while the hub applies one batch, the next is sent ahead of
 * it (sync_client_next_ahead), so the hub decodes it and this process builds
 * the one after in the meantime. Transient failures (a cut, a timeout, a hub
 * or its database briefly unavailable, as in a failover) are retried with
 * short waits for --retry-for seconds (60 by default); what is left after
 * that is reported with a clear message and a non-zero exit. */
#include "cmd_sync.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmdopts.h"
#include "sync_client.h"
#include "log.h"
#include "nodecert.h"
#include "outbox.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sync_find_hub(struct store *s, const struct node_config *cfg, const char *arg_url,
                   const char *arg_ca, char *url, size_t url_cap, char *ca, size_t ca_cap)
{
    sync_find_setting(s, arg_url, cfg->sync_hub_url, "sync.hub_url", url, url_cap);
    sync_find_setting(s, arg_ca, cfg->sync_ca_file, "sync.ca_file", ca, ca_cap);
}

int sync_remember_hub(struct store *s, const char *url, const char *ca)
{
    char abs[PATH_MAX], have_url[512] = "", have_ca[PATH_MAX] = "";
    int r;

    if (ca && ca[0] && realpath(ca, abs))
        ca = abs;
    (void) store_meta_get(s, "sync.hub_url", have_url, sizeof(have_url));
    (void) store_meta_get(s, "sync.ca_file", have_ca, sizeof(have_ca));
    if (strcmp(have_url, url) == 0 && strcmp(have_ca, ca ? ca : "") == 0)
        return 0;
    r = store_begin(s);
    if (r < 0)
        return r;
    r = store_meta_set(s, "sync.hub_url", url);
    if (r == 0)
        r = store_meta_set(s, "sync.ca_file", ca ? ca : "");
    return store_end(s, r);
}

static void progress(struct sync_client *c, double t0, int final)
{
    const struct sync_stats *st = sync_client_stats(c);
    long long left = sync_client_queued(c);

    fprintf(stderr, "\r\033[Ksync: %s %lld rows sent, %lld left, %lld refused, %lld pulled, "
            "%.1f s%s", final ? "done;" : sync_client_pulling(c) ? "pulling;" : "pushing;", st->rows_sent,
            left < 0 ? 0 : left, st->rows_refused, st->rows_pulled, now_s() - t0,
            final ? "\n" : "");
}

/* The round's transfers: easy[head] is the oldest of n in flight. */
struct xfers {
    CURLM *multi;
    CURL *easy[2];
    CURLcode res[2];
    int done[2];
    int head, n;
    int ahead_tried;            /* sync_client_next_ahead() was asked for this oldest one */
};

static void xfer_start(struct xfers *x, int i)
{
    x->done[i] = 0;
    curl_multi_add_handle(x->multi, x->easy[i]);
    x->n++;
}

/* 1 once easy has handed its whole request body to the connection. */
static int body_sent(CURL *easy)
{
    curl_off_t up = 0, len = -1;

    curl_easy_getinfo(easy, CURLINFO_SIZE_UPLOAD_T, &up);
    curl_easy_getinfo(easy, CURLINFO_CONTENT_LENGTH_UPLOAD_T, &len);
    return len >= 0 && up >= len;
}

/* Starts the next request if none is in flight, sends a push ahead of the
 * oldest once that one is on its way, waits for the oldest and applies its
 * answer. Returns 1 after an answer, 0 when the round is complete, or -errno
 * (then nothing is in flight). */
static int step(struct sync_client *c, struct xfers *x)
{
    CURLMsg *m;
    CURL *e;
    int r, left, running;

    if (x->n == 0) {
        r = sync_client_next(c, x->easy[x->head]);
        if (r <= 0)
            return r;
        xfer_start(x, x->head);
        x->ahead_tried = 0;
    }
    for (;;) {
        if (curl_multi_perform(x->multi, &running) != CURLM_OK)
            return -ENOMEM;
        while ((m = curl_multi_info_read(x->multi, &left)))
            if (m->msg == CURLMSG_DONE) {
                int i = m->easy_handle == x->easy[0] ? 0 : 1;
                x->res[i] = m->data.result;
                x->done[i] = 1;
            }
        if (x->n == 1 && !x->ahead_tried && (x->done[x->head] || body_sent(x->easy[x->head]))) {
            int i = (x->head + 1) % 2;
            x->ahead_tried = 1;
            r = sync_client_next_ahead(c, x->easy[i]);
            if (r < 0) {
                curl_multi_remove_handle(x->multi, x->easy[x->head]);
                x->n = 0;
                return r;
            }
            if (r > 0)
                xfer_start(x, i);
            continue;
        }
        if (x->done[x->head])
            break;
        if (curl_multi_poll(x->multi, NULL, 0, 1000, NULL) != CURLM_OK)
            return -ENOMEM;
    }
    e = x->easy[x->head];
    curl_multi_remove_handle(x->multi, e);
    r = sync_client_done(c, e, x->res[x->head]);
    x->head = (x->head + 1) % 2;
    x->n--;
    x->ahead_tried = 0;
    if (r < 0 && x->n > 0) {            /* the client forgot it: drop the transfer */
        curl_multi_remove_handle(x->multi, x->easy[x->head]);
        x->n = 0;
    }
    return r < 0 ? r : 1;
}

static int transient(int r)
{
    return r == -ETIMEDOUT || r == -EAGAIN || r == -EMSGSIZE || r == -ECONNRESET ||
           r == -ECONNREFUSED || r == -EIO || r == -EBUSY || r == -EPROTO || r == -ESTALE;
}

/* Runs the round to its end, riding out transient failures (a cut, a
 * timeout, a hub or database briefly away, as in a failover at the centre)
 * for retry_for seconds of outage and at most max_tries attempts in a row
 * (-1: no limit). Returns 0 or the last failure. */
static int run_round(struct sync_client *c, struct xfers *x, double retry_for, int max_tries,
                     int tty)
{
    double t0 = now_s(), last_tick = 0, outage = 0;
    unsigned failures = 0;
    int r;

    sync_client_begin(c);
    for (;;) {
        unsigned budget = sync_client_budget(c);
        r = step(c, x);
        if (r == 0)
            return 0;
        if (r > 0) {
            failures = 0;
            if (tty && now_s() - last_tick > 0.2) {
                progress(c, t0, 0);
                last_tick = now_s();
            }
            continue;
        }
        sync_client_record_error(c);
        if ((r == -ETIMEDOUT || r == -EMSGSIZE) && sync_client_budget(c) < budget) {
            /* a slow link: the next batch is half the size; that is progress */
            log_notice("sync: %s; sending smaller batches (%u KiB)", sync_client_error(c),
                       sync_client_budget(c) / 1024);
            continue;
        }
        if (!transient(r))
            return r;
        if (failures++ == 0)
            outage = now_s();
        if ((max_tries >= 0 && (int)failures > max_tries) || now_s() - outage >= retry_for)
            return r;
        if (r == -ESTALE) {             /* sent ahead too early: send it again, now */
            log_info("sync: %s; sending again", sync_client_error(c));
            continue;
        }
        unsigned wait = sync_retry_delay_ms(failures, (uint64_t)((now_s() - outage) * 1000),
                                            sync_client_retry_after(c), 30000);
        log_warning("sync: %s; trying again in %.1f s (still trying for %.0f s)",
                    sync_client_error(c), wait / 1000.0, retry_for - (now_s() - outage));
        usleep(wait * 1000u);
    }
}

int sync_cmd(struct node_config *cfg, int argc, char **argv)
{
    const char *arg_url = NULL, *arg_ca = NULL, *arg_retry_for = NULL;
    int r, tty = isatty(STDERR_FILENO), retries = -1, batch_kib = (int)cfg->sync_batch_kib;
    const struct cmdopt opts[] = {
        { "hub", CMDOPT_TEXT, &arg_url }, { "ca", CMDOPT_TEXT, &arg_ca },
        { "retries", CMDOPT_INT, &retries }, { "retry-for", CMDOPT_TEXT, &arg_retry_for },
        { "batch-kib", CMDOPT_INT, &batch_kib }, { "no-progress", CMDOPT_CLEAR, &tty } };
    char url[512], ca[PATH_MAX];
    struct sync_client_opts co = {0};
    struct nodecert_paths paths;
    struct sync_client *c = NULL;
    struct store *s = NULL;
    struct xfers x = {0};
    double t0 = now_s(), retry_for = 60;
    char *end;

    r = cmdopts_parse(argc, argv, opts, CMDOPTS_N(opts));
    if (r != argc || retries < -1 || retries > 1000)
        return -EDOM;
    if (arg_retry_for) {
        retry_for = strtod(arg_retry_for, &end);
        if (*end || end == arg_retry_for || !(retry_for >= 0 && retry_for <= 86400))
            return -EDOM;
    }
    r = config_open_store(cfg, 0, &s);
    if (r < 0)
        return r;
    sync_find_hub(s, cfg, arg_url, arg_ca, url, sizeof(url), ca, sizeof(ca));
    if (!url[0]) {
        log_error("sync: no hub known: give --hub https://HOST:PORT (and --ca FILE), "
                  "or set sync.hub_url in the config");
        r = -EDOM;
        goto out;
    }
    if (ca[0] && access(ca, R_OK) < 0) {
        r = log_errno(LOG_ERR, -errno, "sync: cannot read the CA file '%s'", ca);
        goto out;
    }
    r = nodecert_paths(cfg->db_path, &paths);
    if (r == 0 && (access(paths.crt, R_OK) < 0 || access(paths.key, R_OK) < 0)) {
        log_error("sync: this node is not enrolled ('%s' is missing): run `sikhnas-node --db "
                  "%s enroll --hub URL --token TOKEN --ca FILE` first", paths.crt,
                  cfg->db_path);
        r = -EACCES;
    }
    if (r < 0)
        goto out;
    co.hub_url = url;
    co.ca_file = ca[0] ? ca : NULL;
    co.cert_file = paths.crt;
    co.key_file = paths.key;
    co.tls_session_file = paths.tls_session;
    co.batch_bytes = (unsigned)batch_kib * 1024u;
    co.timeout_s = cfg->sync_timeout_s;
    co.daily_budget = (uint64_t)cfg->sync_daily_kib * 1024u;
    co.tcp_congestion = cfg->sync_tcp_congestion;
    r = sync_client_new(s, &co, &c);
    if (r < 0)
        goto out;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(x.multi = curl_multi_init()) ||
        !(x.easy[0] = curl_easy_init()) || !(x.easy[1] = curl_easy_init())) {
        r = -ENOMEM;
        goto out;
    }
    r = sync_client_lock(c, 1);
    if (r == 0) {
        r = run_round(c, &x, retry_for, retries, tty);
        sync_client_unlock(c);
    }
    if (tty)
        progress(c, t0, 1);
    if (r < 0) {
        log_error("sync with %s failed: %s", url, sync_client_error(c));
        r = r == -EBUSY ? -EBUSY : -EIO;
        goto out;
    }
    r = sync_client_round_ok(c);
    if (r == 0)
        r = sync_remember_hub(s, url, ca[0] ? ca : NULL);
    if (r < 0)
        goto out;
    const struct sync_stats *st = sync_client_stats(c);
    long long rejected = 0;
    sqlite3_stmt *q = store_stmt(s, OUTBOX_COUNT_REFUSED_SQL);
    if (q && sqlite3_step(q) == SQLITE_ROW)
        rejected = sqlite3_column_int64(q, 0);
    if (q)
        sqlite3_reset(q);
    printf("{\"pushed\":%lld,\"refused\":%lld,\"pulled\":%lld,\"batches\":%lld,"
           "\"requests\":%lld,\"bytes_up\":%lld,\"bytes_down\":%lld,\"seconds\":%.3f,"
           "\"queued\":%lld,\"rejected_total\":%lld,\"found_acked\":%lld,\"bytes_lost\":%lld,"
           "\"bytes_kept\":%lld,\"resumes\":%lld,\"push_bytes_up\":%lld,\"push_s\":%.3f,"
           "\"connects\":%lld,\"connect_s\":%.3f,\"tls_full\":%lld,\"tls_resumed\":%lld}\n",
           st->rows_sent,
           st->rows_refused, st->rows_pulled, st->batches, st->requests, st->bytes_up, st->bytes_down,
           now_s() - t0, sync_client_queued(c), rejected, st->rows_found_acked, st->bytes_lost,
           st->bytes_kept, st->resumes, st->push_bytes_up, (double)st->push_ms / 1000.0,
           st->connects, (double)st->connect_ms / 1000.0, st->tls_full, st->tls_resumed);
    if (st->rows_refused)
        log_warning("the hub refused %lld record(s); see `sikhnas-node status` and "
                    "`report list`", st->rows_refused);
out:
    for (int i = 0; i < 2; i++) {
        if (x.multi && x.easy[i])
            curl_multi_remove_handle(x.multi, x.easy[i]);
        curl_easy_cleanup(x.easy[i]);
    }
    curl_multi_cleanup(x.multi);
    if (x.multi || c)
        curl_global_cleanup();
    sync_client_free(c);
    store_close(s);
    return r;
}
