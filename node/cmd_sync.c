/* cmd_sync.c - `sikhnas-node sync --hub URL [--ca FILE]`: one blocking sync
 * round on a single libcurl easy handle (so one kept-alive TLS connection
 * carries the whole round). Transient failures (a cut, a timeout, a hub
 * that is briefly unavailable) are retried a few times with backoff; what
 * is left after that is reported with a clear message and a non-zero exit. */
#include "cmd_sync.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "log.h"
#include "nodecert.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sync_find_hub(struct store *s, const struct node_config *cfg, const char *arg_url,
                   const char *arg_ca, char *url, size_t url_cap, char *ca, size_t ca_cap)
{
    url[0] = ca[0] = '\0';
    if (arg_url)
        snprintf(url, url_cap, "%s", arg_url);
    else if (cfg->sync_hub_url[0])
        snprintf(url, url_cap, "%s", cfg->sync_hub_url);
    else if (store_meta_get(s, "sync.hub_url", url, url_cap) < 0)
        url[0] = '\0';
    if (arg_ca)
        snprintf(ca, ca_cap, "%s", arg_ca);
    else if (cfg->sync_ca_file[0])
        snprintf(ca, ca_cap, "%s", cfg->sync_ca_file);
    else if (store_meta_get(s, "sync.ca_file", ca, ca_cap) < 0)
        ca[0] = '\0';
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
    if (r == 0)
        r = store_commit(s);
    if (r < 0)
        store_rollback(s);
    return r;
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

static int transient(int r)
{
    return r == -ETIMEDOUT || r == -EAGAIN || r == -EMSGSIZE || r == -ECONNRESET ||
           r == -ECONNREFUSED || r == -EIO || r == -EBUSY || r == -EPROTO;
}

int sync_cmd(struct node_config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "hub", required_argument, NULL, 'h' },
        { "ca", required_argument, NULL, 'c' },
        { "retries", required_argument, NULL, 'r' },
        { "batch-kib", required_argument, NULL, 'b' },
        { "no-progress", no_argument, NULL, 'n' },
        { 0, 0, 0, 0 } };
    struct store_opts so = config_store_opts(cfg, 0);
    const char *arg_url = NULL, *arg_ca = NULL;
    char url[512], ca[PATH_MAX];
    struct sync_client_opts co = {0};
    struct nodecert_paths paths;
    struct sync_client *c = NULL;
    struct store *s = NULL;
    CURL *easy = NULL;
    int opt, r, tty = isatty(STDERR_FILENO), retries = 3, tries = 0;
    unsigned batch_kib = cfg->sync_batch_kib;
    double t0 = now_s(), last_tick = 0;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h': arg_url = optarg; break;
        case 'c': arg_ca = optarg; break;
        case 'r': retries = atoi(optarg); break;
        case 'b': batch_kib = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'n': tty = 0; break;
        default: return -EDOM;
        }
    }
    if (optind != argc || retries < 0 || retries > 100)
        return -EDOM;
    r = store_open(cfg->db_path, &so, &s);
    if (r < 0)
        return r;
    if (!store_district(s)[0] || !store_node_id(s)[0]) {
        log_error("store '%s' has no district yet: run `sikhnas-node --db %s init "
                  "--district CODE`", cfg->db_path, cfg->db_path);
        r = -ENOENT;
        goto out;
    }
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
    co.batch_bytes = batch_kib * 1024u;
    co.timeout_s = cfg->sync_timeout_s;
    r = sync_client_new(s, &co, &c);
    if (r < 0)
        goto out;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(easy = curl_easy_init())) {
        r = -ENOMEM;
        goto out;
    }
    sync_client_begin(c);
    for (;;) {
        unsigned budget = sync_client_budget(c);
        r = sync_client_next(c, easy);
        if (r == 0)
            break;
        if (r > 0)
            r = sync_client_done(c, easy, curl_easy_perform(easy));
        if (r < 0) {
            sync_client_record_error(c);
            if ((r == -ETIMEDOUT || r == -EMSGSIZE) && sync_client_budget(c) < budget) {
                /* a slow link: the next batch is half the size; that is progress */
                log_notice("sync: %s; sending smaller batches (%u KiB)", sync_client_error(c),
                           sync_client_budget(c) / 1024);
                continue;
            }
            if (!transient(r) || tries >= retries)
                break;
            unsigned wait = 1u << tries;
            if (sync_client_retry_after(c) > wait)
                wait = sync_client_retry_after(c) > 30 ? 30 : sync_client_retry_after(c);
            tries++;
            log_warning("sync: %s; trying again in %u s (%d of %d)", sync_client_error(c),
                        wait, tries, retries);
            sleep(wait);
            continue;
        }
        tries = 0;
        if (tty && now_s() - last_tick > 0.2) {
            progress(c, t0, 0);
            last_tick = now_s();
        }
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
    sqlite3_stmt *q = store_stmt(s, "SELECT count(*) FROM outbox WHERE state = 2");
    if (q && sqlite3_step(q) == SQLITE_ROW)
        rejected = sqlite3_column_int64(q, 0);
    if (q)
        sqlite3_reset(q);
    printf("{\"pushed\":%lld,\"refused\":%lld,\"pulled\":%lld,\"batches\":%lld,"
           "\"requests\":%lld,\"bytes_up\":%lld,\"bytes_down\":%lld,\"seconds\":%.3f,"
           "\"queued\":%lld,\"rejected_total\":%lld}\n", st->rows_sent, st->rows_refused,
           st->rows_pulled, st->batches, st->requests, st->bytes_up, st->bytes_down,
           now_s() - t0, sync_client_queued(c), rejected);
    if (st->rows_refused)
        log_warning("the hub refused %lld record(s); see `sikhnas-node status` and "
                    "`report list`", st->rows_refused);
out:
    curl_easy_cleanup(easy);
    if (easy || c)
        curl_global_cleanup();
    sync_client_free(c);
    store_close(s);
    return r;
}
