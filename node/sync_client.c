/* sync_client.c - the node's sync client (docs/protocol.md, "Sync contract" in
 * ARCHITECTURE.md): the client and its rounds, the requests it sets up on
 * the caller's libcurl handles, the answers' status codes and headers, the
 * retry policy and the certificate renewal. The push half (batches from the
 * outbox, acks) is sync_push.c, the pull half (the change feed) sync_pull.c.
 *
 * Nothing here blocks on the network: the caller runs the transfer that
 * sync_client_next() set up and hands the result to sync_client_done(). */
#include "sync_client.h"
#include "sync_int.h"

#include <cJSON.h>
#include <ctype.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "clock.h"
#include "fileio.h"
#include "hlc.h"
#include "hex.h"
#include "kinds.h"
#include "log.h"
#include "nodecert.h"
#include "strbuf.h"

int set_error(struct sync_client *c, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int set_error(struct sync_client *c, int r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->error, sizeof(c->error), fmt, ap);
    va_end(ap);
    return r;
}

/* base (an https:// URL, perhaps with a path of its own) with path
 * appended to its path, checked and put together by libcurl; NULL when
 * base is not a URL. */
static char *join_url(const char *base, const char *path)
{
    CURLU *u = curl_url();
    char *have = NULL, *url = NULL, *p = NULL;
    size_t n;

    if (!u || curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &have, 0) != CURLUE_OK)
        goto out;
    n = strlen(have);
    while (n > 0 && have[n - 1] == '/')
        n--;
    if (asprintf(&p, "%.*s%s", (int)n, have, path) < 0) {
        p = NULL;
        goto out;
    }
    if (curl_url_set(u, CURLUPART_PATH, p, 0) == CURLUE_OK)
        (void) curl_url_get(u, CURLUPART_URL, &url, 0);
out:
    curl_free(have);
    free(p);
    curl_url_cleanup(u);
    return url;           /* the caller curl_free()s it */
}

static int prepare_selects(struct sync_client *c)
{
    for (int t = 0; t < record_kinds_count; t++) {
        const struct record_kind *ts = KIND(t);
        struct strbuf q = { .max = 4096 };
        int rc;

        if (!ts->synced)
            continue;
        strbuf_str(&q, "SELECT ");
        for (int i = 0; i < ts->ncols; i++) {
            if (i)
                strbuf_str(&q, ", ");
            if (ts->cols[i].type == COL_LON)
                strbuf_str(&q, "sk_x(geom)");
            else if (ts->cols[i].type == COL_LAT)
                strbuf_str(&q, "sk_y(geom)");
            else
                strbuf_str(&q, ts->cols[i].name);
        }
        strbuf_fmt(&q, " FROM %s WHERE id = ?1", ts->table);
        if (!q.p)
            return -ENOMEM;
        rc = sqlite3_prepare_v3(store_db(c->store), q.p, -1, SQLITE_PREPARE_PERSISTENT,
                                &c->select[t], NULL);
        strbuf_free(&q);
        if (rc != SQLITE_OK)
            return log_errno(LOG_ERR, store_error(c->store, rc), "sync: cannot prepare a read "
                             "of %s: %s", ts->table, sqlite3_errmsg(store_db(c->store)));
    }
    return 0;
}

int sync_client_new(struct store *s, const struct sync_client_opts *o, struct sync_client **ret)
{
    struct sync_client *c;
    int r;

    if (!o->hub_url || strncasecmp(o->hub_url, "https://", 8) != 0 || !o->hub_url[8]) {
        log_error("sync: the hub URL must be https://HOST[:PORT] (got '%s')",
                  o->hub_url ? o->hub_url : "");
        return -EINVAL;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->url_push = join_url(o->hub_url, "/v1/push");
    if (!c->url_push) {
        free(c);
        log_error("sync: the hub URL '%s' is not a URL", o->hub_url);
        return -EINVAL;
    }
    c->store = s;
    c->lock_fd = -1;
    c->closed_fd = CURL_SOCKET_BAD;
    for (int i = 0; i < SYNC_SOCKS; i++)
        c->socks[i] = CURL_SOCKET_BAD;
    c->round_seq = INT64_MAX;
    c->url_pull = join_url(o->hub_url, "/v1/pull");
    c->ca_file = o->ca_file ? strdup(o->ca_file) : NULL;
    c->url_renew = join_url(o->hub_url, "/v1/renew");
    c->url_health = join_url(o->hub_url, "/v1/node-health");
    c->cert_file = o->cert_file ? strdup(o->cert_file) : NULL;
    c->key_file = o->key_file ? strdup(o->key_file) : NULL;
    c->hub_url = strdup(o->hub_url);
    c->tls_file = o->tls_session_file ? strdup(o->tls_session_file) : NULL;
    c->timeout_s = o->timeout_s ? o->timeout_s : 120;
    c->max_rows = o->max_rows && o->max_rows < SYNC_PUSH_MAX_ROWS ? o->max_rows
                                                                  : SYNC_PUSH_MAX_ROWS;
    c->daily_budget = o->daily_budget;
    snprintf(c->tcp_cc, sizeof(c->tcp_cc), "%s", o->tcp_congestion ? o->tcp_congestion : "");
    c->budget = o->batch_bytes ? o->batch_bytes : SYNC_BATCH_DEFAULT;
    if (c->budget < SYNC_BATCH_FLOOR)
        c->budget = SYNC_BATCH_FLOOR;
    if (c->budget > SYNC_BATCH_CEIL)
        c->budget = SYNC_BATCH_CEIL;
    c->ratio = 6.0;
    c->ramp = RAMP_ROWS;
    c->phase = PH_DONE;
    c->health_sent = 1;         /* a round, begun, sends one */
    c->q = &c->req[0];
    for (int i = 0; i < 2; i++) {
        c->req[i].rows = calloc(c->max_rows, sizeof(*c->req[i].rows));
        c->req[i].row_ids = calloc(c->max_rows, sizeof(*c->req[i].row_ids));
        if (!c->req[i].rows || !c->req[i].row_ids) {
            r = -ENOMEM;
            goto out;
        }
    }
    if (!c->url_push || !c->url_pull || (o->ca_file && !c->ca_file) || !c->url_renew ||
        !c->url_health ||
        (o->cert_file && !c->cert_file) || (o->key_file && !c->key_file) || !c->hub_url ||
        (o->tls_session_file && !c->tls_file)) {
        r = -ENOMEM;
        goto out;
    }
    r = prepare_selects(c);
    if (r < 0)
        goto out;
    *ret = c;
    c = NULL;
out:
    sync_client_free(c);
    return r;
}

static void request_clear(struct sync_req *q)
{
    curl_slist_free_all(q->headers);
    q->headers = NULL;
    free(q->body);
    q->body = NULL;
    q->body_len = 0;
    q->base_seq = 0;
    q->probe = q->resumable = q->resume_query = q->resumed = 0;
    q->batch_id[0] = '\0';
    q->easy = NULL;
    strbuf_free(&q->resp);
    q->hdr_hlc[0] = q->hdr_enc[0] = q->hdr_retry[0] = '\0';
    q->hdr_resume[0] = q->hdr_range[0] = '\0';
}

/* Forgets every request in flight (the caller drops their transfers). */
static void requests_clear(struct sync_client *c)
{
    for (int i = 0; i < 2; i++)
        request_clear(&c->req[i]);
    c->head = c->nreq = 0;
    c->q = &c->req[0];
}

void push_buffers_free(struct sync_client *c)
{
    for (int t = 0; t < record_kinds_count; t++)
        strbuf_free(&c->tb[t]);
    strbuf_free(&c->plain);
}

void sync_client_free(struct sync_client *c)
{
    if (!c)
        return;
    requests_clear(c);
    push_buffers_free(c);
    resume_drop(c);
    for (int t = 0; t < record_kinds_count; t++)
        sqlite3_finalize(c->select[t]);
    for (int i = 0; i < 2; i++) {
        free(c->req[i].rows);
        free(c->req[i].row_ids);
    }
    curl_free(c->url_push);
    curl_free(c->url_pull);
    free(c->ca_file);
    free(c->cert_file);
    free(c->key_file);
    free(c->hub_url);
    free(c->tls_file);
    sync_tls_free(c);
    curl_free(c->url_renew);
    curl_free(c->url_health);
    if (c->lock_fd >= 0)
        close(c->lock_fd);
    free(c);
}

int sync_client_lock(struct sync_client *c, int wait)
{
    const char *db = sqlite3_db_filename(store_db(c->store), "main");
    char path[4096];

    if (c->lock_fd < 0 && db && db[0]) {
        snprintf(path, sizeof(path), "%s-sync", db);
        c->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (c->lock_fd < 0)
            log_debug("sync: cannot open '%s' (%s): rounds are not serialised", path,
                      strerror(errno));
    }
    if (c->lock_fd < 0 || flock(c->lock_fd, LOCK_EX | LOCK_NB) == 0)
        return 0;
    if (errno != EWOULDBLOCK)
        return -errno;
    if (!wait)
        return -EALREADY;
    log_notice("sync: another sync of this store is running; waiting for it to finish");
    return flock(c->lock_fd, LOCK_EX) == 0 ? 0 : -errno;
}

void sync_client_unlock(struct sync_client *c)
{
    if (c->lock_fd >= 0)
        (void) flock(c->lock_fd, LOCK_UN);
}

void sync_client_begin(struct sync_client *c)
{
    time_t not_after;
    char buf[32];

    c->cert_state = c->cert_file ? nodecert_due(c->cert_file, (time_t)(hlc_wall_ms() / 1000),
                                                &not_after) : 0;
    c->phase = c->cert_state == 1 ? PH_RENEW : PH_PUSH;
    /* a round starts with a small batch and doubles: the hub and its
     * database get work while the next, larger batches are built and
     * decoded, instead of waiting for a full one (with two in flight) */
    c->ramp = RAMP_ROWS;
    c->error[0] = '\0';
    c->retry_after = 0;
    c->probed = 0;
    c->health_sent = 0;
    c->sent_seq = 0;
    if (store_meta_get(c->store, "sync.sent_seq", buf, sizeof(buf)) == 0)
        c->sent_seq = strtoll(buf, NULL, 10);
    /* records saved during the round go in the next one: a round ends even
     * while officers keep saving */
    c->round_seq = INT64_MAX;
    c->round_ms = hlc_boot_ms();
    c->round_bytes = 0;
    c->rate_measured = 0;
    c->push_start_ms = 0;
    c->push_ms_before = c->stats.push_ms;
    if (store_meta_get(c->store, "link.rate", buf, sizeof(buf)) == 0)
        c->link_rate = strtod(buf, NULL);
    c->rate_stored = c->link_rate > 0;
    if (store_meta_get(c->store, "sync.hub_resume", buf, sizeof(buf)) == 0)
        c->resume_ok = strcmp(buf, "1") == 0;
    sqlite3_stmt *st = store_stmt(c->store, "SELECT max(seq) FROM outbox");
    if (st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        c->round_seq = sqlite3_column_int64(st, 0);
    if (st)
        sqlite3_reset(st);
}

const char *sync_client_error(const struct sync_client *c) { return c->error; }
unsigned sync_client_retry_after(const struct sync_client *c) { return c->retry_after; }
const struct sync_stats *sync_client_stats(const struct sync_client *c) { return &c->stats; }
unsigned sync_client_budget(const struct sync_client *c) { return c->budget; }
int sync_client_pulling(const struct sync_client *c) { return c->phase == PH_PULL; }

int sync_client_refdata_changed(struct sync_client *c)
{
    int v = c->refdata_changed;
    c->refdata_changed = 0;
    return v;
}

long long sync_client_queued(struct sync_client *c)
{
    sqlite3_stmt *st = store_stmt(c->store, OUTBOX_COUNT_QUEUED_SQL);
    long long n;
    int rc;

    if (!st)
        return -EIO;
    rc = sqlite3_step(st);
    n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : store_error(c->store, rc);
    sqlite3_reset(st);
    return n;
}

int add_header(struct sync_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int add_header(struct sync_client *c, const char *fmt, ...)
{
    char line[256];
    struct curl_slist *l;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    l = curl_slist_append(c->q->headers, line);
    if (!l)
        return -ENOMEM;
    c->q->headers = l;
    return 0;
}

int identity_headers(struct sync_client *c, uint64_t hlc)
{
    int r = add_header(c, "X-Sikhnas-Node: %s", store_node_id(c->store));
    if (r == 0)
        r = add_header(c, "X-Sikhnas-District: %s", store_district(c->store));
    if (r == 0)
        r = add_header(c, "X-Sikhnas-HLC: %llu", (unsigned long long)hlc);
    if (r == 0)
        r = add_header(c, "Content-Type: application/json");
    if (r == 0)
        r = add_header(c, "Expect:");           /* no 100-continue round trip */
    return r;
}

int set_body(struct sync_client *c, struct strbuf *b, int r)
{
    if (r < 0) {
        strbuf_free(b);
        return r;
    }
    c->q->body = b->p;
    c->q->body_len = b->len;
    return 1;
}

/* ------------------------------------------------------------ transfers */

static size_t on_body(char *ptr, size_t size, size_t n, void *arg)
{
    struct sync_req *q = arg;
    size_t k = size * n;

    if (strbuf_add(&q->resp, ptr, k) < 0)
        return 0;               /* over the cap: libcurl fails with CURLE_WRITE_ERROR */
    return k;
}

/* The value of response header name of easy's last answer into dst (""
 * when absent), trimmed and cut to HEADER_VALUE_MAX - 1 bytes. */
static void read_header(CURL *easy, const char *name, char dst[HEADER_VALUE_MAX])
{
    struct curl_header *h = NULL;

    dst[0] = '\0';
    if (curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &h) == CURLHE_OK && h && h->value)
        snprintf(dst, HEADER_VALUE_MAX, "%s", h->value);
}

/* The headers the client reads (libcurl parsed them), once a transfer ended. */
static void read_headers(struct sync_req *q, CURL *easy)
{
    read_header(easy, "X-Sikhnas-Hub-HLC", q->hdr_hlc);
    read_header(easy, "Content-Encoding", q->hdr_enc);
    read_header(easy, "Retry-After", q->hdr_retry);
    read_header(easy, "X-Sikhnas-Accept-Encoding", q->hdr_accept);
    read_header(easy, "X-Sikhnas-Resume", q->hdr_resume);
    read_header(easy, "Range", q->hdr_range);
}

/* ------------------------------------------------------------ a board without a clock */

/* The TLS records to send for client c (libcurl's CURLOPT_SSL_CTX_DATA;
 * NULL: enrolment): on a slow link, or one not measured yet, records of
 * SYNC_TLS_RECORD_SLOW bytes (the hub keeps whole records of a cut body;
 * each costs ~29 bytes), else SYNC_TLS_RECORD. */
static size_t tls_record(void *arg)
{
    const struct sync_client *c = arg;

    return c && c->link_rate < AHEAD_MIN_RATE ? SYNC_TLS_RECORD_SLOW : SYNC_TLS_RECORD;
}

/* While the clock is wrong, a certificate that is not yet valid at the
 * floor may well be valid now (the floor is only a lower bound of the
 * time); every other failure stands. */
static int tls_floor_verify(int ok, X509_STORE_CTX *x)
{
    if (!ok && X509_STORE_CTX_get_error(x) == X509_V_ERR_CERT_NOT_YET_VALID) {
        X509_STORE_CTX_set_error(x, X509_V_OK);
        return 1;
    }
    return ok;
}

/* libcurl's OpenSSL context, before the handshake: the certificates are
 * checked at the trusted clock's time (common/hlc.h), so one that expired
 * before the newest time this node has seen is refused, and one that only
 * begins after it is taken (docs/security.md, "A board without a clock"). */
static CURLcode tls_floor(CURL *e, void *ssl_ctx, void *arg)
{
    SSL_CTX *ctx = ssl_ctx;

    (void) e;
    SSL_CTX_set_max_send_fragment(ctx, tls_record(arg));
    X509_VERIFY_PARAM_set_time(SSL_CTX_get0_param(ctx), (time_t)(hlc_wall_ms() / 1000));
    SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), tls_floor_verify);
    if (arg)
        sync_tls_session(arg, ctx);
    return CURLE_OK;
}

/* libcurl's OpenSSL context, the clock being right: records of at most
 * tls_record() bytes, so that the hub, which can only use a record
 * once it is whole, keeps all but the last few KB of a batch cut on the
 * wire (sync_resume.c). */
static CURLcode tls_records(CURL *e, void *ssl_ctx, void *arg)
{
    (void) e;
    SSL_CTX_set_max_send_fragment(ssl_ctx, tls_record(arg));
    if (arg)
        sync_tls_session(arg, ssl_ctx);
    return CURLE_OK;
}

/* 1 when libcurl's TLS is OpenSSL (whose context tls_floor() knows). */
static int tls_is_openssl(void)
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);

    return v && v->ssl_version && strncmp(v->ssl_version, "OpenSSL/", 8) == 0;
}

/* Sets easy's certificate checks to the trusted clock when the system
 * clock is wrong, else to the system's (libcurl's default). */
void sync_tls_clock(CURL *e)
{
    static int warned;
    uint64_t behind = hlc_clock_behind_ms();

    if (behind && tls_is_openssl()) {
        if (!warned++)
            log_notice("sync: the system clock is %llu s behind the newest time seen; the "
                       "hub's certificate is checked at that time",
                       (unsigned long long)behind / 1000);
        curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, tls_floor);
        return;
    }
    if (behind && !warned++)
        log_warning("sync: the system clock is wrong and libcurl's TLS (%s) cannot be told "
                    "the time: certificates are checked at the system's",
                    curl_version_info(CURLVERSION_NOW)->ssl_version);
    curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, tls_is_openssl() ? tls_records : NULL);
}

/* libcurl's progress: the body bytes sent so far, kept (request_done). */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct sync_req *q = arg;

    (void) dltotal;
    (void) dlnow;
    (void) ultotal;
    if (ulnow > q->ul_max) {
        uint64_t now = hlc_boot_ms();
        if (q->ul_at_ms && now - q->ul_at_ms > q->ul_stall_ms)
            q->ul_stall_ms = now - q->ul_at_ms;
        q->ul_max = (long long)ulnow;
        q->ul_at_ms = now;
    }
    return 0;
}

static void setup_easy(struct sync_client *c, CURL *e, const char *url, size_t resp_max)
{
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_NOBODY, 0L);        /* a resume's HEAD may have used it */
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->q->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->q->body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->q->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c->q);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->q->errbuf);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    sync_tls_clock(e);
    curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, c);
    if (c->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
    if (c->cert_file && c->key_file) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
        curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
    }
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 20L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)c->timeout_s);
    /* a link that moves fewer than 64 bytes/s for SYNC_STALL_S has timed out */
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 64L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)SYNC_STALL_S);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, sync_on_sockopt);
    curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, c);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, sync_on_close);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, c);
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, sync_on_prereq);
    curl_easy_setopt(e, CURLOPT_PREREQDATA, c->q);
    c->q->client = c;
    c->q->sock = CURL_SOCKET_BAD;
    c->q->sent0 = -1;
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)resp_max);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "sikhnas-node/" "1");
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, c->q);
    c->q->ul_max = 0;
    c->q->ul_at_ms = 0;
    c->q->ul_stall_ms = 0;
    c->q->resp.max = resp_max;
    c->q->errbuf[0] = '\0';
}

static int renew_prepare(struct sync_client *c);
static int renew_done(struct sync_client *c, CURLcode res, long status);

/* c->q, built, becomes the one request in flight, on easy. Returns 1. */
static int request_start(struct sync_client *c, CURL *easy, enum phase phase, const char *url,
                         size_t resp_max)
{
    c->q->phase = phase;
    c->q->easy = easy;
    c->nreq = 1;
    setup_easy(c, easy, url, resp_max);
    return 1;
}

int sync_client_next(struct sync_client *c, CURL *easy)
{
    int r;

    requests_clear(c);
    c->error[0] = '\0';
    c->retry_after = 0;
    c->over_budget = c->daily_budget && (uint64_t)store_link_today(c->store) >= c->daily_budget;
    if (c->cert_state == -EKEYEXPIRED)
        return set_error(c, -EACCES, "the node's certificate '%s' has expired; enrol the node "
                         "again (sikhnas-node enroll) with a new token", c->cert_file);
    if (c->phase == PH_RENEW) {
        r = renew_prepare(c);
        if (r > 0)
            return request_start(c, easy, PH_RENEW, c->url_renew, 64u << 10);
        log_warning("sync: cannot prepare the certificate renewal: %s", strerror(-r));
        request_clear(c->q);
        c->phase = PH_PUSH;
    }
    if (c->phase == PH_PUSH && c->resume.body) {
        /* a batch cut on the wire: its rest (re-sent, it answers for itself
         * as the probe would) before any new batch */
        r = resume_prepare(c);
        if (r < 0)
            return set_error(c, r, "cannot resume the cut batch: %s", strerror(-r));
        if (r > 0) {
            c->probed = 1;
            r = request_start(c, easy, PH_PUSH, c->url_push, ACK_MAX_BODY);
            resume_easy(c, easy);
            return r;
        }
        request_clear(c->q);
    }
    if (c->phase == PH_PUSH) {
        r = c->probed ? 0 : probe_prepare(c);
        if (r == 0)
            r = push_prepare(c);
        if (r > 0 && !c->q->probe)
            r = sent_seq_mark(c, c->q->last_seq) < 0 ? -EBUSY : 1;
        if (r < 0)
            return set_error(c, r, "cannot build a batch from the outbox: %s", strerror(-r));
        if (r > 0)
            return request_start(c, easy, PH_PUSH, c->url_push, ACK_MAX_BODY);
        if (c->over_budget)
            return set_error(c, -EDQUOT, "the link's daily budget is used up (%lld of %llu "
                             "KiB today): routine records wait for tomorrow, P reports still "
                             "go up", store_link_today(c->store) / 1024,
                             (unsigned long long)c->daily_budget / 1024);
        c->phase = PH_PULL;
    }
    if (c->phase == PH_PULL) {
        r = pull_prepare(c);
        if (r < 0)
            return set_error(c, r, "cannot build a pull request: %s", strerror(-r));
        return request_start(c, easy, PH_PULL, c->url_pull, PULL_MAX_WIRE);
    }
    if (c->phase == PH_DONE && !c->health_sent && health_prepare(c) > 0) {
        c->health_sent = 1;
        return request_start(c, easy, PH_HEALTH, c->url_health, 4096);
    }
    return 0;
}

int sync_client_next_ahead(struct sync_client *c, CURL *easy)
{
    struct sync_req *prev = &c->req[c->head];
    int r;

    if (c->nreq != 1 || prev->phase != PH_PUSH || prev->probe || c->phase != PH_PUSH ||
        prev->resume_query || c->resume.body)
        return 0;
    /* a slow link: one batch at a time. A second one would share the link
     * with the first (its answer, and a priority report after it, later),
     * and on a lossy link often reach the hub before the first's last
     * packet is retransmitted (409: both again) */
    if (c->link_rate > 0 && c->link_rate < AHEAD_MIN_RATE)
        return 0;
    c->q = &c->req[(c->head + 1) % 2];
    request_clear(c->q);
    c->q->base_seq = prev->last_seq;
    r = push_prepare(c);
    if (r > 0 && sent_seq_mark(c, c->q->last_seq) < 0)
        r = -EBUSY;
    if (r <= 0) {
        request_clear(c->q);
        c->q = prev;
        return r < 0 ? set_error(c, r, "cannot build a batch from the outbox: %s",
                                 strerror(-r)) : 0;
    }
    c->q->phase = PH_PUSH;
    c->q->easy = easy;
    c->nreq = 2;
    setup_easy(c, easy, c->url_push, ACK_MAX_BODY);
    return 1;
}

/* ------------------------------------------------------------ answers */

int parse_u64(const char *s, uint64_t *ret)
{
    char *end;

    if (!s || !isdigit((unsigned char)s[0]) || strlen(s) > 20)
        return -EINVAL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -EINVAL;
    *ret = v;
    return 0;
}

/* An HLC cell: a string of digits or an integer below 2^53. */
int json_hlc(const cJSON *j, uint64_t *ret)
{
    if (cJSON_IsString(j))
        return parse_u64(j->valuestring, ret);
    if (cJSON_IsNumber(j) && j->valuedouble >= 0 && j->valuedouble < 9007199254740992.0 &&
        j->valuedouble == (double)(int64_t)j->valuedouble) {
        *ret = (uint64_t)j->valuedouble;
        return 0;
    }
    return -EINVAL;
}

int json_int(const cJSON *j, int64_t *ret)
{
    /* the range first: casting a double out of int64_t's range is undefined */
    if (!cJSON_IsNumber(j) || !(j->valuedouble >= -9007199254740992.0 &&
                                j->valuedouble <= 9007199254740992.0) ||
        j->valuedouble != (double)(int64_t)j->valuedouble)
        return -EINVAL;
    *ret = (int64_t)j->valuedouble;
    return 0;
}

void observe_hub_clock(struct sync_client *c, const cJSON *doc)
{
    uint64_t h;

    if ((doc && json_hlc(cJSON_GetObjectItemCaseSensitive(doc, "hub_hlc"), &h) == 0) ||
        (c->q->hdr_hlc[0] && parse_u64(c->q->hdr_hlc, &h) == 0)) {
        /* an answer over mutual TLS: the hub's time outranks this board's */
        if (clock_hub_time(c->store, h, 1) < 0)
            log_warning("sync: cannot correct the times of records saved while the clock "
                        "was wrong; trying again next round");
    }
}

int sync_client_apply_answer(struct sync_client *c, int pull, const void *body, size_t len,
                             const char *enc, int64_t last_seq)
{
    requests_clear(c);
    c->error[0] = '\0';
    c->q->resp.max = PULL_MAX_WIRE;
    if (len > 0 && strbuf_add(&c->q->resp, body, len) < 0)
        return -EMSGSIZE;
    snprintf(c->q->hdr_enc, sizeof(c->q->hdr_enc), "%s", enc ? enc : "");
    c->q->last_seq = last_seq;
    c->q->nrows = 0;
    c->phase = pull ? PH_PULL : PH_PUSH;
    c->q->phase = c->phase;
    return pull ? pull_apply(c) : push_apply(c);
}

static int curl_errno(CURLcode res)
{
    switch (res) {
    case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
    case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_RESOLVE_PROXY: return -EHOSTUNREACH;
    case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM: case CURLE_SSL_ISSUER_ERROR: return -EACCES;
    case CURLE_SEND_ERROR: case CURLE_RECV_ERROR: case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE: case CURLE_SSL_CONNECT_ERROR: return -ECONNRESET;
    case CURLE_WRITE_ERROR: case CURLE_FILESIZE_EXCEEDED: return -EPROTO;
    case CURLE_OUT_OF_MEMORY: return -ENOMEM;
    default: return -EIO;
    }
}

static int request_done(struct sync_client *c, CURL *easy, CURLcode res);

/* Adds n bytes to today's count of the link (meta link.day, link.bytes),
 * in its own transaction: a failure is logged and costs only the count. */
static void link_count(struct sync_client *c, long long n)
{
    char day[16], v[24], b[24], rate[32];
    uint64_t ms = hlc_boot_ms() - c->round_ms;
    int r;

    /* until a push has measured the link, the round's bytes over its time
     * stand for its rate (handshakes and pulls included: on the low side, a
     * third of it on a 256 kbit/s link), unless an earlier push measured it */
    c->round_bytes += n;
    if (!c->rate_measured && !c->rate_stored && ms >= 1000 && c->round_bytes >= 8192)
        c->link_rate = (double)c->round_bytes * 1000.0 / (double)ms;
    snprintf(rate, sizeof(rate), "%.0f", c->link_rate);

    store_local_day(day);
    snprintf(v, sizeof(v), "%lld", store_link_today(c->store) + n);
    snprintf(b, sizeof(b), "%llu", (unsigned long long)c->daily_budget);
    r = store_begin_bg(c->store);
    if (r < 0)
        return;
    r = store_meta_set(c->store, "link.day", day);
    if (r == 0)
        r = store_meta_set(c->store, "link.bytes", v);
    if (r == 0)
        r = store_meta_set(c->store, "link.budget", b);
    if (r == 0 && c->link_rate > 0)
        r = store_meta_set(c->store, "link.rate", rate);
    if (store_end(c->store, r) < 0)
        log_info("sync: cannot count today's link bytes");
}

/* The link's rate from an answered push: its body over the time from the
 * connection being ready to the answer (the hub's work and one round trip
 * included, and another push sharing the link: on the low side, so the
 * round keeps the highest it has seen). It sizes the batches of a slow
 * link (push_prepare) for the rest of the round and the next one. */
static void push_rate(struct sync_client *c, CURL *easy, curl_off_t up)
{
    curl_off_t total = 0, pre = 0;
    uint64_t now = hlc_boot_ms(), stall = c->q->ul_stall_ms;
    double rate;

    curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total);
    curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
    if (up < 4096 || total - pre < 100000)          /* too small to tell (us) */
        return;
    /* a push that rode out a cut (TCP's retransmissions, tens of seconds
     * without a byte through, in its body or its answer) says nothing of
     * the link's rate: measured, it made the rest of the round and the
     * next one go in batches of 4 KiB (14 instead of 4 on the 2G link) */
    if (c->q->ul_at_ms && now - c->q->ul_at_ms > stall)
        stall = now - c->q->ul_at_ms;
    if (stall > RATE_STALL_MS)
        return;
    rate = (double)up * 1e6 / (double)(total - pre);
    if (!c->rate_measured || rate > c->link_rate)
        c->link_rate = rate;
    c->rate_measured = 1;
}

/* The round's connections and its push phase (c->q, ended now, sent up
 * bytes): what the goodput of a push is measured over (sync's summary,
 * tests/field/test_link.py). */
static void request_times(struct sync_client *c, CURL *easy, long long up)
{
    curl_off_t total = 0, pre = 0;
    uint64_t now = hlc_boot_ms(), start;
    long conns = 0;

    curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total);
    curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
    curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &conns);
    c->stats.connects += conns;
    if (conns > 0)
        c->stats.connect_ms += (long long)(pre / 1000);
    if (c->q->phase != PH_PUSH)
        return;
    start = (uint64_t)(total / 1000) < now ? now - (uint64_t)(total / 1000) : 0;
    if (!c->push_start_ms || start < c->push_start_ms)
        c->push_start_ms = start;
    c->stats.push_ms = c->push_ms_before + (long long)(now - c->push_start_ms);
    c->stats.push_bytes_up += up;
}

static void halve_budget(struct sync_client *c)
{
    c->budget = c->budget / 2 < SYNC_BATCH_FLOOR ? SYNC_BATCH_FLOOR : c->budget / 2;
}

int sync_client_done(struct sync_client *c, CURL *easy, CURLcode res)
{
    int r;

    if (c->nreq == 0 || c->req[c->head].easy != easy)
        return set_error(c, -EINVAL, "sync: an answer for a request not in flight, or "
                         "not the oldest");
    c->q = &c->req[c->head];
    r = request_done(c, easy, res);
    if (r < 0)
        c->probed = 0;          /* an answer may be lost: ask the hub before re-sending */
    c->q->easy = NULL;
    c->head = (c->head + 1) % 2;
    c->nreq--;
    if (r < 0 && c->nreq > 0) {
        /* the batch after this one may not be applied, or applied without
         * telling us its refusals: send it again from the outbox */
        request_clear(&c->req[c->head]);
        c->nreq = 0;
    }
    return r;
}

/* Counts the bytes of c->q, ended on easy (res, status): the day's link
 * bytes, the round's times, the stats. Returns the bytes it sent up, and
 * in *ret_body those of its body as libcurl counted them. */
static long long request_bytes(struct sync_client *c, CURL *easy, CURLcode res, long status,
                               const char *what, curl_off_t *ret_body)
{
    curl_off_t up = 0, down = 0, body_up;
    long req_hdr = 0, resp_hdr = 0;

    curl_easy_getinfo(easy, CURLINFO_SIZE_UPLOAD_T, &up);
    curl_easy_getinfo(easy, CURLINFO_SIZE_DOWNLOAD_T, &down);
    curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &req_hdr);
    curl_easy_getinfo(easy, CURLINFO_HEADER_SIZE, &resp_hdr);
    /* a small body goes out in the headers' buffer, and libcurl counts it
     * in both REQUEST_SIZE and SIZE_UPLOAD (measured on the link: twice the
     * bytes) */
    body_up = up;
    if (req_hdr > up)
        up = 0;
    if (res != CURLE_OK && c->q->ul_max > (long long)body_up) {
        /* a failed transfer may report nothing sent at its end (seen on the
         * 2G link: 0 bytes of a batch the hub kept 3.6 KB of): what its
         * progress saw go, the headers not known */
        body_up = (curl_off_t)c->q->ul_max;
        if (body_up > up + req_hdr) {
            up = body_up;
            req_hdr = 0;
        }
    }
    if (c->q->phase == PH_PUSH && (res != CURLE_OK || status == 408)) {
        /* a cut push: what the kernel put on the link for it (TLS records
         * and all), when it says. libcurl counts what it handed over, at
         * times nothing at all; what was still in the kernel at the cut
         * never went */
        long long wire = sync_req_wire(c, easy);
        if (wire >= 0) {
            up = (curl_off_t)wire;
            req_hdr = 0;
        }
    }
    c->stats.bytes_up += (long long)up + req_hdr;
    c->stats.bytes_down += (long long)down + resp_hdr;
    link_count(c, (long long)up + req_hdr + (long long)down + resp_hdr);
    request_times(c, easy, (long long)up + req_hdr);
    if (log_level >= LOG_DEBUG) {
        curl_off_t total = 0, pre = 0;
        curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total);
        curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
        log_debug("sync: %s answered %ld (%d): %lld bytes up, %lld down in %.2f s, %.2f s "
                  "to connect", what, status, (int)res, (long long)up + req_hdr,
                  (long long)down + resp_hdr, (double)total / 1e6, (double)pre / 1e6);
    }
    *ret_body = body_up;
    return (long long)up + req_hdr;
}

static int request_done(struct sync_client *c, CURL *easy, CURLcode res)
{
    curl_off_t body_up;
    long status = 0;
    long long sent;
    const char *what = c->q->phase == PH_PUSH ? "push" : c->q->phase == PH_HEALTH ? "health" :
                       c->q->phase == PH_RENEW ? "renewal" : "pull";
    int r;

    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    c->stats.requests++;
    sent = request_bytes(c, easy, res, status, what, &body_up);
    read_headers(c->q, easy);
    if (status > 0)
        resume_hub_says(c, c->q->hdr_resume);
    if (c->q->phase == PH_RENEW)
        return renew_done(c, res, status);
    if (c->q->phase == PH_HEALTH)
        return health_done(c, res, status);

    if (res != CURLE_OK) {
        r = curl_errno(res);
        if (c->q->phase == PH_PUSH)
            c->stats.bytes_lost += sent;
        /* a batch cut on the wire: keep it to send only the rest (one sent
         * after it, if any, is built again: sync_client_done) */
        if (c->q->phase == PH_PUSH && c->q->resumable && c->resume_ok) {
            resume_keep(c, (long long)body_up, sent);
        } else if (c->q->resumed) {
            resume_drop(c);
        } else if (c->q->phase == PH_PUSH && !c->q->probe) {
            /* the cut may have taken only the answer: when the probe finds
             * the batch applied, its bytes were not lost (push_apply) */
            c->unanswered_seq = c->q->last_seq;
            c->unanswered_bytes = sent;
        }
        if (r == -ETIMEDOUT && c->q->phase == PH_PUSH)
            halve_budget(c);
        if (r == -EACCES)
            return set_error(c, r, "%s: the hub's TLS certificate was not accepted (%s); "
                             "check --ca", what,
                             c->q->errbuf[0] ? c->q->errbuf : curl_easy_strerror(res));
        return set_error(c, r, "%s to the hub failed: %s", what,
                         c->q->errbuf[0] ? c->q->errbuf : curl_easy_strerror(res));
    }
    if (c->q->hdr_accept[0] && !strstr(c->q->hdr_accept, "zstd"))
        c->use_gzip = 1;
    if (c->q->hdr_accept[0]) {  /* an older hub does not list them: JSON, no dictionary */
        c->use_dict = strstr(c->q->hdr_accept, BATCH_DICT_TOKEN) != NULL;
        c->use_columnar = batch_columnar_choice(c->q->hdr_accept, c->use_dict);
    }
    if (c->q->resume_query) {
        if (status != 200)      /* not answered as asked: the batch goes whole */
            resume_drop(c);
        return status == 200 ? resume_answered(c, status) : 0;
    }
    if (c->q->resumed && status != 408) {   /* answered: the kept batch is done with */
        if (status == 200)
            c->stats.resumes++;
        resume_drop(c);
    }
    if (status == 200 && c->q->phase == PH_PUSH) {
        push_rate(c, easy, body_up);     /* the body, however libcurl counted it */
        return push_apply(c);
    }
    if (status == 200)
        return pull_apply(c);

    /* an error answer: {"error": code, "message": text}; the clock still counts */
    cJSON *doc = cJSON_ParseWithLength(c->q->resp.p ? c->q->resp.p : "", c->q->resp.len);
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(doc, "error");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(doc, "message");
    char detail[300];
    uint64_t h;

    snprintf(detail, sizeof(detail), "%.60s%s%.200s",
             cJSON_IsString(code) ? code->valuestring : "no error code",
             cJSON_IsString(msg) ? ": " : "", cJSON_IsString(msg) ? msg->valuestring : "");
    if (c->q->hdr_hlc[0] && parse_u64(c->q->hdr_hlc, &h) == 0)
        (void) clock_hub_time(c->store, h, 0);    /* persisted with the next commit */
    if (c->q->phase == PH_PUSH && !c->q->probe)
        c->stats.bytes_lost += sent;     /* refused: its rows go again */
    cJSON_Delete(doc);
    switch (status) {
    case 429:                   /* the hub is busy (admission control): not an outage */
    case 503:
        c->retry_after = (unsigned)strtoul(c->q->hdr_retry, NULL, 10);
        if (c->retry_after > 3600)
            c->retry_after = 3600;
        r = -EAGAIN;
        break;
    case 408:                   /* the hub ran out of time for the body: a cut */
        if (c->q->phase == PH_PUSH)
            halve_budget(c);
        if (c->q->phase == PH_PUSH && c->q->resumable && c->resume_ok)
            resume_keep(c, (long long)body_up, sent);
        r = -ETIMEDOUT;
        break;
    case 413:
        halve_budget(c);
        c->ratio = c->ratio > 2 ? c->ratio / 2 : 1;
        r = -EMSGSIZE;
        break;
    case 415:
        if (c->use_dict)        /* unsupported_dictionary: plain zstd first */
            c->use_dict = 0;
        else
            c->use_gzip = 1;
        r = -EPROTO;
        break;
    case 400:
        r = cJSON_IsString(code) && (strstr(code->valuestring, "digest") ||
                                     strstr(code->valuestring, "encoding")) ? -EIO : -EBADMSG;
        break;
    case 401:
    case 403:
        r = -EACCES;
        break;
    case 409:                   /* it arrived before the batch it follows */
    case 416:                   /* the hub cannot resume the cut batch: it goes whole */
        r = -ESTALE;
        break;
    default:
        r = -EPROTO;
    }
    return set_error(c, r, "%s: the hub answered %ld (%s)", what, status, detail);
}

int sync_client_round_ok(struct sync_client *c)
{
    static const char *const clear[] = {
        /* the error is history now: status shows it as the previous one */
        "INSERT OR REPLACE INTO meta (key, value) SELECT 'previous_' || substr(key, 6), value "
        "FROM meta WHERE key IN ('last_error', 'last_error_at') AND ?1 IS NOT NULL",
        "DELETE FROM meta WHERE key IN ('last_error', 'last_error_at') AND ?1 IS NOT NULL",
    };
    char now[32];
    int r;

    store_now_iso(now);
    r = store_begin_bg(c->store);
    if (r < 0)
        return r;
    r = store_meta_set(c->store, "last_sync_ok", now);
    for (size_t i = 0; r == 0 && i < sizeof(clear) / sizeof(clear[0]); i++)
        r = store_run_text(c->store, clear[i], now);
    return store_end(c->store, r);
}

void sync_client_record_error(struct sync_client *c)
{
    char now[32];

    if (!c->error[0])
        return;
    store_now_iso(now);
    if (store_begin_bg(c->store) < 0)
        return;
    if (store_meta_set(c->store, "last_error", c->error) < 0 ||
        store_meta_set(c->store, "last_error_at", now) < 0 ||
        store_commit(c->store) < 0)
        store_rollback(c->store);
}

/* ------------------------------------------------------------ renewal */

/* A CSR for the node's current key, to renew its certificate. Returns 1. */
static int renew_prepare(struct sync_client *c)
{
    struct strbuf b = { .max = 16u << 10 };
    mbedtls_pk_context key;
    char *csr = NULL;
    int r;

    mbedtls_pk_init(&key);
    r = nodecert_load_key(c->key_file, &key);
    if (r == 0)
        r = nodecert_csr(&key, store_node_id(c->store), &csr);
    mbedtls_pk_free(&key);
    if (r == 0)
        r = strbuf_str(&b, "{\"v\":1,\"csr\":");
    if (r == 0)
        r = strbuf_json(&b, csr, strlen(csr));
    if (r == 0)
        r = strbuf_str(&b, "}");
    if (r == 0)
        r = identity_headers(c, store_hlc_tick(c->store));
    free(csr);
    return set_body(c, &b, r);
}

/* Stores the renewed certificate. A failure is logged, not returned: the
 * current certificate still works, and the next round tries again. */
static int renew_done(struct sync_client *c, CURLcode res, long status)
{
    cJSON *doc = NULL;
    const cJSON *pem;
    mbedtls_pk_context key;
    const char *why = NULL;
    int r = 0;

    c->phase = PH_PUSH;
    mbedtls_pk_init(&key);
    if (res != CURLE_OK) {
        why = c->q->errbuf[0] ? c->q->errbuf : curl_easy_strerror(res);
    } else if (status != 200) {
        why = "the hub refused the renewal";
    } else {
        doc = cJSON_ParseWithLength(c->q->resp.p ? c->q->resp.p : "", c->q->resp.len);
        pem = cJSON_GetObjectItemCaseSensitive(doc, "certificate");
        if (!cJSON_IsString(pem))
            why = "the hub's answer holds no certificate";
        else if (nodecert_load_key(c->key_file, &key) < 0)
            why = "cannot read the node's key";
        else if (nodecert_check(pem->valuestring, &key, store_node_id(c->store),
                                store_district(c->store), &why) == 0 &&
                 (r = file_write_atomic(c->cert_file, NULL, pem->valuestring,
                                        strlen(pem->valuestring), 0644, 0)) < 0)
            why = strerror(-r);
    }
    if (why)
        log_warning("sync: renewing the node certificate failed (HTTP %ld): %s%s%.200s; "
                    "trying again next round", status, why, c->q->resp.len ? ": " : "",
                    c->q->resp.p ? c->q->resp.p : "");
    else
        log_notice("sync: renewed the node certificate '%s'", c->cert_file);
    cJSON_Delete(doc);
    mbedtls_pk_free(&key);
    return 0;
}

