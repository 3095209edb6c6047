/* client.c - the node's sync client (docs/protocol.md, "Sync contract" in
 * ARCHITECTURE.md). Push: the queued outbox entries in seq order become one
 * columnar JSON batch holding the current version of each row (several
 * entries of one row are sent once, with the highest seq), compressed with
 * zstd (gzip when the hub will not take zstd) and signed with its SHA-256.
 * The ack is applied in one transaction: entries up to the acked seq are
 * dropped, refused ones kept with the hub's reason. Pull: pages of the hub's
 * change feed are applied with last-writer-wins by (hlc, origin) and the
 * cursor is stored in the same transaction, with a row in sync_apply so
 * that the capture triggers do not queue the pulled rows back up.
 *
 * Nothing here blocks on the network: the caller runs the transfer that
 * sync_client_next() set up and hands the result to sync_client_done(). */
#include "client.h"

#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <mbedtls/sha256.h>
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
#include <zlib.h>
#include <zstd.h>

#include "log.h"
#include "nodecert.h"

#define ACK_MAX_BODY     (8u << 20)    /* a push answer, refusals included */
#define PULL_MAX_WIRE    (32u << 20)   /* a pull answer as sent */
#define PULL_MAX_PLAIN   (32u << 20)   /* the hub's decompressed limit, both ways */
#define PLAIN_MAX        (24u << 20)   /* a batch before compression */
#define WIRE_MAX         (4u << 20)    /* the hub's Content-Length limit */
#define CURSOR_MAX       64
#define HEADER_VALUE_MAX 128
#define ZSTD_LEVEL       3
#define RAMP_ROWS        1000          /* rows in the first batch of a round */

/* ------------------------------------------------------------ buffers */

struct buf {
    char *p;
    size_t len, cap, max;       /* max: a cap on len; growing past it fails */
};

static int buf_reserve(struct buf *b, size_t more)
{
    size_t need = b->len + more + 1, cap;
    char *np;

    if (need > b->max + 1)
        return -EMSGSIZE;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap *= 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    np = realloc(b->p, cap);
    if (!np)
        return -ENOMEM;
    b->p = np;
    b->cap = cap;
    return 0;
}

static int buf_add(struct buf *b, const void *d, size_t n)
{
    int r = buf_reserve(b, n);
    if (r < 0)
        return r;
    memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int buf_str(struct buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

static int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int buf_printf(struct buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    int k;

    va_start(ap, fmt);
    k = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof(tmp))
        return -EOVERFLOW;
    return buf_add(b, tmp, (size_t)k);
}

/* A JSON string of the bytes s[0..n): quotes, backslashes and control
 * characters escaped; other bytes as they are (the hub refuses a row with
 * invalid UTF-8 by itself, which is better than altering it here). */
static int buf_json_str(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int r = buf_reserve(b, n * 6 + 2);
    char *o;

    if (r < 0)
        return r;
    o = b->p + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            *o++ = '\\';
            *o++ = (char)ch;
        } else if (ch < 0x20) {
            *o++ = '\\';
            switch (ch) {
            case '\n': *o++ = 'n'; break;
            case '\t': *o++ = 't'; break;
            case '\r': *o++ = 'r'; break;
            default:
                *o++ = 'u'; *o++ = '0'; *o++ = '0';
                *o++ = hex[ch >> 4]; *o++ = hex[ch & 15];
            }
        } else {
            *o++ = (char)ch;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
    b->p[b->len] = '\0';
    return 0;
}

static void buf_free(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ------------------------------------------------------------ tables */

enum ctype { C_TEXT, C_INT, C_HLC, C_JSON, C_LON, C_LAT };

struct colspec {
    const char *name;
    enum ctype type;
};

struct tblspec {
    const char *name;
    const struct colspec *cols;
    int ncols;
    int synced;                 /* 1: id/origin/hlc, LWW, pushed; 0: reference data */
    const char *pk;             /* ON CONFLICT target */
};

#define STAMP_COLS { "id", C_TEXT }, { "origin", C_TEXT }, { "hlc", C_HLC }, \
    { "deleted", C_INT }, { "created_at", C_TEXT }, { "updated_at", C_TEXT }

static const struct colspec officer_cols[] = { STAMP_COLS,
    { "name", C_TEXT }, { "role", C_TEXT }, { "phone", C_TEXT }, { "district", C_TEXT },
    { "village", C_TEXT } };
static const struct colspec case_report_cols[] = { STAMP_COLS,
    { "ref", C_TEXT }, { "kind", C_TEXT }, { "village", C_TEXT }, { "syndrome", C_TEXT },
    { "signs", C_JSON }, { "animals", C_JSON }, { "ddx", C_JSON }, { "event_date", C_TEXT },
    { "reporter", C_TEXT }, { "note", C_TEXT }, { "lon", C_LON }, { "lat", C_LAT } };
static const struct colspec case_followup_cols[] = { STAMP_COLS,
    { "case_id", C_TEXT }, { "outcome", C_TEXT }, { "animals", C_JSON },
    { "escalate", C_INT }, { "event_date", C_TEXT }, { "reporter", C_TEXT },
    { "note", C_TEXT } };
static const struct colspec vaccination_cols[] = { STAMP_COLS,
    { "program", C_TEXT }, { "disease", C_TEXT }, { "village", C_TEXT },
    { "animals", C_JSON }, { "event_date", C_TEXT }, { "reporter", C_TEXT },
    { "note", C_TEXT } };
static const struct colspec treatment_cols[] = { STAMP_COLS,
    { "case_id", C_TEXT }, { "village", C_TEXT }, { "species", C_TEXT }, { "drug", C_TEXT },
    { "n_animals", C_INT }, { "event_date", C_TEXT }, { "reporter", C_TEXT },
    { "note", C_TEXT } };
static const struct colspec movement_permit_cols[] = { STAMP_COLS,
    { "permit_no", C_TEXT }, { "owner_id", C_TEXT }, { "owner_phone", C_TEXT },
    { "from_area", C_TEXT }, { "to_area", C_TEXT }, { "animals", C_JSON },
    { "issue_date", C_TEXT }, { "reporter", C_TEXT }, { "note", C_TEXT } };
static const struct colspec slaughter_report_cols[] = { STAMP_COLS,
    { "abattoir", C_TEXT }, { "village", C_TEXT }, { "species", C_TEXT },
    { "n_animals", C_INT }, { "event_date", C_TEXT }, { "reporter", C_TEXT },
    { "note", C_TEXT } };
static const struct colspec population_report_cols[] = { STAMP_COLS,
    { "village", C_TEXT }, { "animals", C_JSON }, { "event_date", C_TEXT },
    { "reporter", C_TEXT }, { "note", C_TEXT } };
static const struct colspec area_cols[] = {
    { "code", C_TEXT }, { "level", C_INT }, { "parent_code", C_TEXT }, { "name", C_TEXT },
    { "hlc", C_HLC } };
static const struct colspec code_list_cols[] = {
    { "list", C_TEXT }, { "code", C_TEXT }, { "label_id", C_TEXT }, { "label_en", C_TEXT },
    { "parent", C_TEXT }, { "active", C_INT }, { "hlc", C_HLC } };

#define TBL(n, s, pk) { #n, n##_cols, (int)(sizeof(n##_cols) / sizeof(n##_cols[0])), s, pk }
static const struct tblspec tables[] = {
    TBL(officer, 1, "id"),
    TBL(case_report, 1, "id"),
    TBL(case_followup, 1, "id"),
    TBL(vaccination, 1, "id"),
    TBL(treatment, 1, "id"),
    TBL(movement_permit, 1, "id"),
    TBL(slaughter_report, 1, "id"),
    TBL(population_report, 1, "id"),
    TBL(area, 0, "code"),
    TBL(code_list, 0, "list, code"),
};
#define NTABLES ((int)(sizeof(tables) / sizeof(tables[0])))
#define AREA_TABLE 8

static int table_index(const char *name)
{
    for (int i = 0; i < NTABLES; i++)
        if (strcmp(tables[i].name, name) == 0)
            return i;
    return -1;
}

/* ------------------------------------------------------------ the client */

enum phase { PH_PUSH, PH_PULL, PH_DONE, PH_RENEW };

struct prow {                   /* one row of the batch being built */
    int tbl;
    int64_t seq;                /* the highest seq of its queued entries */
    size_t off, len;            /* its cells (",c1,c2...") in the table's buffer */
};

/* One request: set up by sync_client_next() or sync_client_next_ahead(), run
 * by the caller on its easy handle, answered in sync_client_done(). */
struct sync_req {
    enum phase phase;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    size_t body_len;
    int probe;                  /* push: an empty batch asking for the hub's acked_seq */
    int64_t base_seq;           /* push: the last_seq of the batch still in flight before it */
    int64_t last_seq;           /* push: the batch covers queued seq <= this */
    struct prow *rows;
    char (*row_ids)[UUID_STR_LEN];
    int nrows;
    size_t plain_len;
    struct buf resp;
    char hdr_hlc[HEADER_VALUE_MAX], hdr_enc[HEADER_VALUE_MAX];
    char hdr_accept[HEADER_VALUE_MAX], hdr_retry[HEADER_VALUE_MAX];
    char errbuf[CURL_ERROR_SIZE];
};

struct sync_client {
    struct store *store;
    char *url_push, *url_pull;
    char *ca_file;
    char *cert_file, *key_file, *url_renew;
    int cert_state;             /* nodecert_due() at the start of the round */
    unsigned timeout_s, max_rows, budget;
    unsigned ramp;              /* row cap of the round's next batch: doubles per batch */
    double ratio;               /* plain / wire of the last batch */
    int use_gzip;               /* the hub would not take zstd */
    enum phase phase;
    int refdata_changed;
    int64_t sent_seq;           /* meta sync.sent_seq: the highest last_seq ever sent */
    int64_t round_seq;          /* the round pushes what was queued when it began */
    int lock_fd;                /* DB-sync, or -1 */
    int probed;                 /* the hub's acked_seq was asked for since the last failure */
    sqlite3_stmt *select[NTABLES];  /* current row by id, synced tables */

    /* requests in flight: req[head] is the oldest, nreq of them (at most 2,
     * the second only a push following the first) */
    struct sync_req req[2];
    int head, nreq;
    struct sync_req *q;         /* the one being built or answered */

    /* building batches: kept from one batch to the next while pushing
     * (faulting in fresh buffers and zstd tables for every batch cost more
     * than filling them), dropped when the outbox is empty */
    struct buf tb[NTABLES];     /* each table's rows */
    struct buf plain;           /* the batch before compression */
    ZSTD_CCtx *zc;

    unsigned retry_after;
    char error[512];
    struct sync_stats stats;
};

static int set_error(struct sync_client *c, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int set_error(struct sync_client *c, int r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->error, sizeof(c->error), fmt, ap);
    va_end(ap);
    return r;
}

static char *join_url(const char *base, const char *path)
{
    size_t n = strlen(base);
    char *u;

    while (n > 0 && base[n - 1] == '/')
        n--;
    u = malloc(n + strlen(path) + 1);
    if (u) {
        memcpy(u, base, n);
        strcpy(u + n, path);
    }
    return u;
}

static int prepare_selects(struct sync_client *c)
{
    for (int t = 0; t < NTABLES; t++) {
        const struct tblspec *ts = &tables[t];
        struct buf q = { .max = 4096 };
        int rc;

        if (!ts->synced)
            continue;
        buf_str(&q, "SELECT ");
        for (int i = 0; i < ts->ncols; i++) {
            if (i)
                buf_str(&q, ", ");
            if (ts->cols[i].type == C_LON)
                buf_str(&q, "sk_x(geom)");
            else if (ts->cols[i].type == C_LAT)
                buf_str(&q, "sk_y(geom)");
            else
                buf_str(&q, ts->cols[i].name);
        }
        buf_printf(&q, " FROM %s WHERE id = ?1", ts->name);
        if (!q.p)
            return -ENOMEM;
        rc = sqlite3_prepare_v3(store_db(c->store), q.p, -1, SQLITE_PREPARE_PERSISTENT,
                                &c->select[t], NULL);
        buf_free(&q);
        if (rc != SQLITE_OK)
            return log_errno(LOG_ERR, store_error(c->store, rc), "sync: cannot prepare a read "
                             "of %s: %s", ts->name, sqlite3_errmsg(store_db(c->store)));
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
    c->store = s;
    c->lock_fd = -1;
    c->round_seq = INT64_MAX;
    c->url_push = join_url(o->hub_url, "/v1/push");
    c->url_pull = join_url(o->hub_url, "/v1/pull");
    c->ca_file = o->ca_file ? strdup(o->ca_file) : NULL;
    c->url_renew = join_url(o->hub_url, "/v1/renew");
    c->cert_file = o->cert_file ? strdup(o->cert_file) : NULL;
    c->key_file = o->key_file ? strdup(o->key_file) : NULL;
    c->timeout_s = o->timeout_s ? o->timeout_s : 120;
    c->max_rows = o->max_rows && o->max_rows < SYNC_PUSH_MAX_ROWS ? o->max_rows
                                                                  : SYNC_PUSH_MAX_ROWS;
    c->budget = o->batch_bytes ? o->batch_bytes : SYNC_BATCH_DEFAULT;
    if (c->budget < SYNC_BATCH_FLOOR)
        c->budget = SYNC_BATCH_FLOOR;
    if (c->budget > SYNC_BATCH_CEIL)
        c->budget = SYNC_BATCH_CEIL;
    c->ratio = 6.0;
    c->ramp = RAMP_ROWS;
    c->phase = PH_DONE;
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
        (o->cert_file && !c->cert_file) || (o->key_file && !c->key_file)) {
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
    q->probe = 0;
    q->easy = NULL;
    buf_free(&q->resp);
    q->hdr_hlc[0] = q->hdr_enc[0] = q->hdr_retry[0] = '\0';
}

/* Forgets every request in flight (the caller drops their transfers). */
static void requests_clear(struct sync_client *c)
{
    for (int i = 0; i < 2; i++)
        request_clear(&c->req[i]);
    c->head = c->nreq = 0;
    c->q = &c->req[0];
}

static void push_buffers_free(struct sync_client *c)
{
    for (int t = 0; t < NTABLES; t++)
        buf_free(&c->tb[t]);
    buf_free(&c->plain);
    ZSTD_freeCCtx(c->zc);
    c->zc = NULL;
}

void sync_client_free(struct sync_client *c)
{
    if (!c)
        return;
    requests_clear(c);
    push_buffers_free(c);
    for (int t = 0; t < NTABLES; t++)
        sqlite3_finalize(c->select[t]);
    for (int i = 0; i < 2; i++) {
        free(c->req[i].rows);
        free(c->req[i].row_ids);
    }
    free(c->url_push);
    free(c->url_pull);
    free(c->ca_file);
    free(c->cert_file);
    free(c->key_file);
    free(c->url_renew);
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

    c->cert_state = c->cert_file ? nodecert_due(c->cert_file, time(NULL), &not_after) : 0;
    c->phase = c->cert_state == 1 ? PH_RENEW : PH_PUSH;
    /* a round starts with a small batch and doubles: the hub and its
     * database get work while the next, larger batches are built and
     * decoded, instead of waiting for a full one (with two in flight) */
    c->ramp = RAMP_ROWS;
    c->error[0] = '\0';
    c->retry_after = 0;
    c->probed = 0;
    c->sent_seq = 0;
    if (store_meta_get(c->store, "sync.sent_seq", buf, sizeof(buf)) == 0)
        c->sent_seq = strtoll(buf, NULL, 10);
    /* records saved during the round go in the next one: a round ends even
     * while officers keep saving */
    c->round_seq = INT64_MAX;
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
    sqlite3_stmt *st = store_stmt(c->store, "SELECT count(*) FROM outbox WHERE state = 0");
    long long n;
    int rc;

    if (!st)
        return -EIO;
    rc = sqlite3_step(st);
    n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : store_error(c->store, rc);
    sqlite3_reset(st);
    return n;
}

/* ------------------------------------------------------------ building a batch */

static uint32_t hash_id(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

/* Appends the cells of the current row of table t (st stepped to it) to b. */
static int row_cells(struct buf *b, const struct tblspec *ts, sqlite3_stmt *st)
{
    int r = 0;

    for (int i = 0; i < ts->ncols && r == 0; i++) {
        int type = sqlite3_column_type(st, i);
        r = buf_add(b, ",", 1);
        if (r < 0)
            break;
        if (type == SQLITE_NULL) {
            r = buf_add(b, "null", 4);
            continue;
        }
        switch (ts->cols[i].type) {
        case C_TEXT:
            r = buf_json_str(b, (const char *)sqlite3_column_text(st, i),
                             (size_t)sqlite3_column_bytes(st, i));
            break;
        case C_INT:
            r = buf_printf(b, "%lld", (long long)sqlite3_column_int64(st, i));
            break;
        case C_HLC:
            r = buf_printf(b, "\"%llu\"", (unsigned long long)sqlite3_column_int64(st, i));
            break;
        case C_LON:
        case C_LAT:
            r = buf_printf(b, "%.15g", sqlite3_column_double(st, i));
            break;
        case C_JSON: {
            const char *text = (const char *)sqlite3_column_text(st, i);
            size_t n = (size_t)sqlite3_column_bytes(st, i);
            cJSON *j = cJSON_ParseWithLength(text, n);
            /* a JSON value as it is; anything else as a string, which the hub
             * refuses for this row alone instead of the whole batch */
            if (j && (cJSON_IsArray(j) || cJSON_IsObject(j)))
                r = buf_add(b, text, n);
            else
                r = buf_json_str(b, text, n);
            cJSON_Delete(j);
            break;
        }
        }
    }
    return r;
}

/* Reads queued outbox entries above the request's base_seq in seq order into
 * per-table row buffers until the plain size reaches plain_cap or row_cap
 * rows are in. */
static int collect_rows(struct sync_client *c, struct buf *tb, size_t plain_cap,
                        unsigned row_cap)
{
    sqlite3_stmt *st = store_stmt(c->store,
        "SELECT seq, tbl, row_id FROM outbox WHERE state = 0 AND seq > ?2 AND seq <= ?3 "
        "ORDER BY seq LIMIT ?1");
    uint32_t hsize = 1, *hash = NULL;
    int rc, r = 0;

    if (!st)
        return -EIO;
    while (hsize < row_cap * 2)
        hsize <<= 1;
    hash = calloc(hsize, sizeof(*hash));
    if (!hash)
        return -ENOMEM;
    for (int t = 0; t < NTABLES; t++)
        tb[t].max = PLAIN_MAX;
    c->q->last_seq = 0;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)row_cap * 4);
    sqlite3_bind_int64(st, 2, c->q->base_seq);
    sqlite3_bind_int64(st, 3, c->round_seq);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0);
        const char *tbl = (const char *)sqlite3_column_text(st, 1);
        const char *id = (const char *)sqlite3_column_text(st, 2);
        int t = tbl ? table_index(tbl) : -1;
        uint32_t h;

        if ((unsigned)c->q->nrows >= row_cap || (c->q->nrows > 0 && c->q->plain_len >= plain_cap))
            break;
        c->q->last_seq = seq;      /* this entry is covered, whatever happens to it below */
        if (t < 0 || !tables[t].synced || !id || strlen(id) >= UUID_STR_LEN) {
            log_warning("sync: outbox entry %lld names no row of a synced table; skipped",
                        (long long)seq);
            continue;
        }
        for (h = hash_id(id) & (hsize - 1); hash[h]; h = (h + 1) & (hsize - 1)) {
            struct prow *p = &c->q->rows[hash[h] - 1];
            if (p->tbl == t && strcmp(c->q->row_ids[hash[h] - 1], id) == 0)
                break;
        }
        if (hash[h]) {          /* a later change of a row already in: send it once */
            c->q->rows[hash[h] - 1].seq = seq;
            continue;
        }
        sqlite3_stmt *sel = c->select[t];
        sqlite3_reset(sel);
        sqlite3_bind_text(sel, 1, id, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(sel);
        if (rc == SQLITE_DONE) {
            log_warning("sync: outbox entry %lld: %s %s is gone; skipped", (long long)seq,
                        tbl, id);
            continue;
        }
        if (rc != SQLITE_ROW) {
            r = log_errno(LOG_ERR, store_error(c->store, rc), "sync: cannot read %s %s: %s",
                          tbl, id, sqlite3_errmsg(store_db(c->store)));
            sqlite3_reset(sel);
            break;
        }
        struct prow *p = &c->q->rows[c->q->nrows];
        p->tbl = t;
        p->seq = seq;
        p->off = tb[t].len;
        r = row_cells(&tb[t], &tables[t], sel);
        sqlite3_reset(sel);
        if (r < 0)
            break;
        p->len = tb[t].len - p->off;
        snprintf(c->q->row_ids[c->q->nrows], UUID_STR_LEN, "%s", id);
        c->q->plain_len += p->len + 24;
        c->q->nrows++;
        hash[h] = (uint32_t)c->q->nrows;
    }
    if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = store_error(c->store, rc);
    sqlite3_reset(st);
    free(hash);
    return r;
}

static int emit_batch(struct sync_client *c, struct buf *tb, struct buf *out, uint64_t hlc)
{
    int r, first_tbl = 1;

    r = buf_printf(out, "{\"v\":1,\"node\":\"%s\",\"last_seq\":%lld,\"hlc\":\"%llu\",",
                   store_node_id(c->store), (long long)c->q->last_seq, (unsigned long long)hlc);
    if (r == 0 && c->q->base_seq > 0)          /* the hub applies it after that batch */
        r = buf_printf(out, "\"base_seq\":%lld,", (long long)c->q->base_seq);
    if (r == 0)
        r = buf_str(out, "\"tables\":[");
    for (int t = 0; t < NTABLES && r == 0; t++) {
        const struct tblspec *ts = &tables[t];
        int first_row = 1;

        if (!ts->synced || tb[t].len == 0)
            continue;
        r = buf_printf(out, "%s{\"table\":\"%s\",\"cols\":[\"seq\"", first_tbl ? "" : ",",
                       ts->name);
        for (int i = 0; i < ts->ncols && r == 0; i++)
            r = buf_printf(out, ",\"%s\"", ts->cols[i].name);
        if (r == 0)
            r = buf_str(out, "],\"rows\":[");
        for (int k = 0; k < c->q->nrows && r == 0; k++) {
            const struct prow *p = &c->q->rows[k];
            if (p->tbl != t)
                continue;
            r = buf_printf(out, "%s[%lld", first_row ? "" : ",", (long long)p->seq);
            if (r == 0)
                r = buf_add(out, tb[t].p + p->off, p->len);
            if (r == 0)
                r = buf_add(out, "]", 1);
            first_row = 0;
        }
        if (r == 0)
            r = buf_str(out, "]}");
        first_tbl = 0;
    }
    if (r == 0)
        r = buf_str(out, "]}");
    return r;
}

static int compress_body(struct sync_client *c, const char *in, size_t len, int gzip,
                         char **ret, size_t *ret_len)
{
    char *out;
    size_t cap;

    if (!gzip) {
        if (!c->zc && !(c->zc = ZSTD_createCCtx()))
            return -ENOMEM;
        cap = ZSTD_compressBound(len);
        out = malloc(cap);
        if (!out)
            return -ENOMEM;
        size_t n = ZSTD_compressCCtx(c->zc, out, cap, in, len, ZSTD_LEVEL);
        if (ZSTD_isError(n)) {
            free(out);
            log_error("sync: zstd: %s", ZSTD_getErrorName(n));
            return -EIO;
        }
        *ret = out;
        *ret_len = n;
        return 0;
    }
    z_stream z = {0};
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    cap = deflateBound(&z, len);
    out = malloc(cap);
    if (!out) {
        deflateEnd(&z);
        return -ENOMEM;
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    int zr = deflate(&z, Z_FINISH);
    *ret_len = z.total_out;
    deflateEnd(&z);
    if (zr != Z_STREAM_END) {
        free(out);
        return -EIO;
    }
    *ret = out;
    return 0;
}

static void sha256_hex(const void *d, size_t n, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char sum[32];

    mbedtls_sha256_ret(d, n, sum, 0);
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[sum[i] >> 4];
        out[2 * i + 1] = hex[sum[i] & 15];
    }
    out[64] = '\0';
}

static int add_header(struct sync_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int add_header(struct sync_client *c, const char *fmt, ...)
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

static int identity_headers(struct sync_client *c, uint64_t hlc)
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

/* Builds the next push batch. Returns 1 when built, 0 when nothing is queued. */
static int push_prepare(struct sync_client *c)
{
    struct buf *tb = c->tb, *plain = &c->plain;
    unsigned row_cap = c->ramp < c->max_rows ? c->ramp : c->max_rows;
    char digest[65];
    uint64_t hlc = 0;
    int r;

    r = store_exec(c->store, "BEGIN");          /* one snapshot for the whole batch */
    if (r < 0)
        return r;
    for (;;) {
        double pc = (double)c->budget * c->ratio;
        size_t plain_cap = pc > PLAIN_MAX ? PLAIN_MAX : (size_t)pc;

        for (int t = 0; t < NTABLES; t++)
            tb[t].len = 0;
        plain->max = PLAIN_MAX + (1u << 20);
        plain->len = 0;
        c->q->nrows = 0;
        c->q->plain_len = 0;
        r = collect_rows(c, tb, plain_cap, row_cap);
        if (r < 0 || c->q->last_seq == 0)
            break;
        hlc = store_hlc_tick(c->store);
        r = emit_batch(c, tb, plain, hlc);
        if (r < 0)
            break;
        free(c->q->body);
        c->q->body = NULL;
        r = compress_body(c, plain->p, plain->len, c->use_gzip, &c->q->body, &c->q->body_len);
        if (r < 0)
            break;
        if (c->q->body_len <= WIRE_MAX || row_cap <= 1)
            break;
        row_cap = (unsigned)c->q->nrows / 2 ? (unsigned)c->q->nrows / 2 : 1;   /* too big: fewer */
    }
    store_exec(c->store, "COMMIT");
    if (r < 0)
        goto out;
    if (c->q->last_seq == 0) {
        push_buffers_free(c);                   /* the outbox is empty */
        return 0;
    }
    c->q->plain_len = plain->len;
    if (c->q->body_len > 0)
        c->ratio = (double)plain->len / (double)c->q->body_len;
    if (c->ratio < 1.0)
        c->ratio = 1.0;
    if (c->ratio > 20.0)
        c->ratio = 20.0;
    sha256_hex(c->q->body, c->q->body_len, digest);
    r = identity_headers(c, hlc);
    if (r == 0)
        r = add_header(c, "Content-Encoding: %s", c->use_gzip ? "gzip" : "zstd");
    if (r == 0)
        r = add_header(c, "X-Sikhnas-Digest: sha256=%s", digest);
    if (r == 0)
        r = 1;
    c->ramp = c->ramp < c->max_rows / 2 ? c->ramp * 2 : c->max_rows;
    log_debug("sync: batch of %d rows up to seq %lld: %zu bytes, %zu compressed",
              c->q->nrows, (long long)c->q->last_seq, plain->len, c->q->body_len);
    return r;
out:
    push_buffers_free(c);
    return r;
}

/* Records, before a batch goes on the wire, that it may reach the hub: if
 * its answer is then lost (a cut, kill -9, a power cut), the next run knows
 * that the hub may hold rows still queued here, and asks before re-sending
 * them (probe_prepare). */
static int sent_seq_mark(struct sync_client *c, int64_t last_seq)
{
    char v[24];
    int r;

    if (last_seq <= c->sent_seq)
        return 0;
    snprintf(v, sizeof(v), "%lld", (long long)last_seq);
    r = store_begin_bg(c->store);
    if (r == 0)
        r = store_meta_set(c->store, "sync.sent_seq", v);
    if (r == 0)
        r = store_commit(c->store);
    if (r < 0) {
        store_rollback(c->store);
        return r;
    }
    c->sent_seq = last_seq;
    return 0;
}

/* When queued entries were on the wire before (seq <= sent_seq) and their
 * answer never came back, the hub may have applied them: an empty batch
 * whose last_seq is just below the queue asks for the hub's acked_seq and
 * the refusals up to it (docs/protocol.md §4), and push_apply() drops what
 * the hub has. Nothing is sent twice, nothing renumbered. Returns 1 when a
 * probe is ready, 0 when none is needed, or -errno. */
static int probe_prepare(struct sync_client *c)
{
    sqlite3_stmt *st = store_stmt(c->store, "SELECT min(seq) FROM outbox WHERE state = 0");
    struct buf b = { .max = 1024 };
    char digest[65];
    int64_t minq = 0;
    uint64_t hlc;
    int rc, r;

    c->probed = 1;
    if (!st)
        return -EIO;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        minq = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return store_error(c->store, rc);
    if (minq <= 0 || minq > c->sent_seq)
        return 0;
    hlc = store_hlc_tick(c->store);
    c->q->probe = 1;
    c->q->last_seq = minq - 1;
    c->q->nrows = 0;
    r = buf_printf(&b, "{\"v\":1,\"node\":\"%s\",\"last_seq\":%lld,\"hlc\":\"%llu\","
                   "\"tables\":[]}", store_node_id(c->store), (long long)(minq - 1),
                   (unsigned long long)hlc);
    if (r == 0) {
        sha256_hex(b.p, b.len, digest);
        r = identity_headers(c, hlc);
    }
    if (r == 0)
        r = add_header(c, "X-Sikhnas-Digest: sha256=%s", digest);
    if (r < 0) {
        buf_free(&b);
        return r;
    }
    c->q->body = b.p;
    c->q->body_len = b.len;
    log_info("sync: queued entries from seq %lld may have reached the hub in an earlier "
             "run; asking for its high-water mark", (long long)minq);
    return 1;
}

static int pull_prepare(struct sync_client *c)
{
    char cursor[CURSOR_MAX + 1] = "";
    struct buf b = { .max = 1024 };
    uint64_t hlc = store_hlc_tick(c->store);
    int r;

    if (store_meta_get(c->store, "sync.pull_cursor", cursor, sizeof(cursor)) < 0)
        cursor[0] = '\0';
    r = buf_str(&b, "{\"v\":1,\"cursor\":");
    if (r == 0)
        r = buf_json_str(&b, cursor, strlen(cursor));
    if (r == 0)
        r = buf_printf(&b, ",\"limit\":%d}", SYNC_PULL_LIMIT);
    if (r == 0)
        r = identity_headers(c, hlc);
    if (r == 0)
        r = add_header(c, "Accept-Encoding: zstd, gzip");
    if (r < 0) {
        buf_free(&b);
        return r;
    }
    c->q->body = b.p;
    c->q->body_len = b.len;
    return 1;
}

/* ------------------------------------------------------------ transfers */

static size_t on_body(char *ptr, size_t size, size_t n, void *arg)
{
    struct sync_req *q = arg;
    size_t k = size * n;

    if (buf_add(&q->resp, ptr, k) < 0)
        return 0;               /* over the cap: libcurl fails with CURLE_WRITE_ERROR */
    return k;
}

static void keep_header(char *dst, const char *v, size_t n)
{
    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
        n--;
    if (n >= HEADER_VALUE_MAX)
        n = HEADER_VALUE_MAX - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static size_t on_header(char *ptr, size_t size, size_t n, void *arg)
{
    struct sync_req *q = arg;
    size_t k = size * n;
    static const struct { const char *name; size_t off; } want[] = {
        { "x-sikhnas-hub-hlc:", offsetof(struct sync_req, hdr_hlc) },
        { "content-encoding:", offsetof(struct sync_req, hdr_enc) },
        { "retry-after:", offsetof(struct sync_req, hdr_retry) },
        { "x-sikhnas-accept-encoding:", offsetof(struct sync_req, hdr_accept) },
    };

    if (k >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {     /* a new response: forget the last */
        q->hdr_hlc[0] = q->hdr_enc[0] = q->hdr_retry[0] = '\0';
        return k;
    }
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        size_t ln = strlen(want[i].name);
        if (k > ln && strncasecmp(ptr, want[i].name, ln) == 0)
            keep_header((char *)q + want[i].off, ptr + ln, k - ln);
    }
    return k;
}

static void setup_easy(struct sync_client *c, CURL *e, const char *url, size_t resp_max)
{
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->q->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->q->body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->q->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c->q);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c->q);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->q->errbuf);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (c->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
    if (c->cert_file && c->key_file) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
        curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
    }
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 20L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)c->timeout_s);
    /* a link that moves fewer than 64 bytes/s for 30 s has timed out */
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 64L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 30L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)resp_max);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "sikhnas-node/" "1");
    c->q->resp.max = resp_max;
    c->q->errbuf[0] = '\0';
}

static int renew_prepare(struct sync_client *c);
static int renew_done(struct sync_client *c, CURLcode res, long status);

int sync_client_next(struct sync_client *c, CURL *easy)
{
    int r;

    requests_clear(c);
    c->error[0] = '\0';
    c->retry_after = 0;
    if (c->cert_state == -EKEYEXPIRED)
        return set_error(c, -EACCES, "the node's certificate '%s' has expired; enrol the node "
                         "again (sikhnas-node enroll) with a new token", c->cert_file);
    if (c->phase == PH_RENEW) {
        r = renew_prepare(c);
        if (r > 0) {
            c->q->phase = PH_RENEW;
            c->q->easy = easy;
            c->nreq = 1;
            setup_easy(c, easy, c->url_renew, 64u << 10);
            return 1;
        }
        log_warning("sync: cannot prepare the certificate renewal: %s", strerror(-r));
        request_clear(c->q);
        c->phase = PH_PUSH;
    }
    if (c->phase == PH_PUSH) {
        r = c->probed ? 0 : probe_prepare(c);
        if (r == 0)
            r = push_prepare(c);
        if (r > 0 && !c->q->probe)
            r = sent_seq_mark(c, c->q->last_seq) < 0 ? -EBUSY : 1;
        if (r < 0)
            return set_error(c, r, "cannot build a batch from the outbox: %s", strerror(-r));
        if (r > 0) {
            c->q->phase = PH_PUSH;
            c->q->easy = easy;
            c->nreq = 1;
            setup_easy(c, easy, c->url_push, ACK_MAX_BODY);
            return 1;
        }
        c->phase = PH_PULL;
    }
    if (c->phase == PH_PULL) {
        r = pull_prepare(c);
        if (r < 0)
            return set_error(c, r, "cannot build a pull request: %s", strerror(-r));
        c->q->phase = PH_PULL;
        c->q->easy = easy;
        c->nreq = 1;
        setup_easy(c, easy, c->url_pull, PULL_MAX_WIRE);
        return 1;
    }
    return 0;
}

int sync_client_next_ahead(struct sync_client *c, CURL *easy)
{
    struct sync_req *prev = &c->req[c->head];
    int r;

    if (c->nreq != 1 || prev->phase != PH_PUSH || prev->probe || c->phase != PH_PUSH)
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

static int parse_u64(const char *s, uint64_t *ret)
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
static int json_hlc(const cJSON *j, uint64_t *ret)
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

static int json_int(const cJSON *j, int64_t *ret)
{
    /* the range first: casting a double out of int64_t's range is undefined */
    if (!cJSON_IsNumber(j) || !(j->valuedouble >= -9007199254740992.0 &&
                                j->valuedouble <= 9007199254740992.0) ||
        j->valuedouble != (double)(int64_t)j->valuedouble)
        return -EINVAL;
    *ret = (int64_t)j->valuedouble;
    return 0;
}

static void observe_hub_clock(struct sync_client *c, const cJSON *doc)
{
    uint64_t h;

    if (doc && json_hlc(cJSON_GetObjectItemCaseSensitive(doc, "hub_hlc"), &h) == 0)
        store_hlc_observe(c->store, h);
    else if (c->q->hdr_hlc[0] && parse_u64(c->q->hdr_hlc, &h) == 0)
        store_hlc_observe(c->store, h);
}

static void now_iso(char buf[32])
{
    store_now_iso(buf);
}

/* The hub has seen seqs beyond this batch: the store was restored from a
 * backup (or an earlier, larger batch's ack was lost). The hub skips every
 * seq up to acked as already applied, so rows of this batch may not have
 * been applied. Give every queued entry a new seq above acked, in order,
 * and send them again: re-applying a row the hub has is harmless (same
 * version, same writer), losing one is not. */
static int renumber_queue(struct sync_client *c, int64_t acked)
{
    char sql[512];
    int r;

    log_warning("sync: the hub has acknowledged up to seq %lld, beyond this batch (%lld): "
                "was this store restored from a backup? Sending the queue again with new "
                "numbers", (long long)acked, (long long)c->q->last_seq);
    r = store_begin_bg(c->store);
    if (r < 0)
        return set_error(c, r, "the store is busy; the batch will be sent again");
    snprintf(sql, sizeof(sql),
             "UPDATE sqlite_sequence SET seq = max(seq, %lld) WHERE name = 'outbox';"
             "CREATE TEMP TABLE sync_renumber AS SELECT seq, tbl, row_id, hlc FROM outbox"
             " WHERE state = 0 AND seq <= %lld;"
             "DELETE FROM outbox WHERE state = 0 AND seq <= %lld;"
             "INSERT INTO outbox (tbl, row_id, hlc) SELECT tbl, row_id, hlc"
             " FROM sync_renumber ORDER BY seq;"
             "DROP TABLE sync_renumber;", (long long)acked, (long long)acked,
             (long long)acked);
    r = store_exec(c->store, sql);
    if (r == 0)
        r = store_commit(c->store);
    if (r < 0) {
        store_rollback(c->store);
        return set_error(c, r, "cannot renumber the outbox: %s", strerror(-r));
    }
    c->round_seq = INT64_MAX;           /* the renumbered entries belong to this round */
    return 0;
}

/* Deletes the queued entries up to hi that the answer did not refuse
 * (refused ones were marked first), and the refusals of rows now accepted. */
static int drop_acked(struct sync_client *c, int64_t hi)
{
    static const char *const sql[] = {
        /* a row that is now accepted clears the refusals of its older versions */
        "DELETE FROM outbox WHERE state = 2 AND seq < ?1 AND row_id IN "
        "(SELECT row_id FROM outbox WHERE seq <= ?1 AND state = 0)",
        "DELETE FROM outbox WHERE seq <= ?1 AND state = 0",
    };
    for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
        sqlite3_stmt *st = store_stmt(c->store, sql[i]);
        int rc;
        if (!st)
            return -EIO;
        sqlite3_bind_int64(st, 1, hi);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return store_error(c->store, rc);
    }
    return 0;
}

/* Marks the outbox entry seq (<= hi) refused with the hub's reason; its
 * row's older queued entries were coalesced into it and go. Returns 1 when
 * marked, 0 when it was not queued, or -errno. */
static int mark_refused(struct sync_client *c, int64_t seq, int64_t hi, const char *msg)
{
    sqlite3_stmt *st = store_stmt(c->store,
        "UPDATE outbox SET state = 2, error = ?2 WHERE seq = ?1 AND state = 0");
    int rc;

    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_text(st, 2, msg, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_error(c->store, rc);
    if (sqlite3_changes(store_db(c->store)) == 0)
        return 0;
    st = store_stmt(c->store,
        "DELETE FROM outbox WHERE state = 0 AND seq <= ?2 AND row_id = "
        "(SELECT row_id FROM outbox WHERE seq = ?1)");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int64(st, 2, hi);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 1 : store_error(c->store, rc);
}

/* Rows with queued entries in (lo, hi]: what an earlier run delivered. */
static long long count_rows_between(struct sync_client *c, int64_t lo, int64_t hi)
{
    sqlite3_stmt *st = store_stmt(c->store, "SELECT count(DISTINCT row_id) FROM outbox "
                                            "WHERE state = 0 AND seq > ?1 AND seq <= ?2");
    long long n = 0;

    if (!st)
        return 0;
    sqlite3_bind_int64(st, 1, lo);
    sqlite3_bind_int64(st, 2, hi);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return n;
}

/* Applies a push answer in one transaction. The hub's acked_seq is normally
 * the batch's last_seq. It is higher when an earlier answer was lost after
 * the hub committed (the hub then lists the refusals up to acked_seq too):
 * when this store did send that far (sent_seq), those entries are dropped
 * as delivered; when it never did, the store was restored from a backup and
 * renumber_queue() makes sure its newer records still go up. */
static int push_apply(struct sync_client *c)
{
    cJSON *doc = cJSON_ParseWithLength(c->q->resp.p ? c->q->resp.p : "", c->q->resp.len);
    const cJSON *refused, *item;
    int64_t acked = -1, hi;
    long nref = 0;
    long long found = 0;
    char now[32];
    int r;

    if (!doc || json_int(cJSON_GetObjectItemCaseSensitive(doc, "acked_seq"), &acked) < 0 ||
        acked < 0) {
        r = set_error(c, -EPROTO, "the hub's ack is not valid (no acked_seq)");
        goto out;
    }
    refused = cJSON_GetObjectItemCaseSensitive(doc, "refused");
    if (refused && !cJSON_IsArray(refused)) {
        r = set_error(c, -EPROTO, "the hub's ack is not valid (refused is not a list)");
        goto out;
    }
    if (acked < c->q->last_seq) {
        r = set_error(c, -EPROTO, "the hub acknowledged seq %lld for a batch up to %lld",
                      (long long)acked, (long long)c->q->last_seq);
        goto out;
    }
    if (acked > c->q->last_seq && acked > c->sent_seq) {
        r = renumber_queue(c, acked);
        goto out;
    }
    hi = acked;
    r = store_begin_bg(c->store);
    if (r < 0) {
        set_error(c, r, "the store is busy; the batch will be sent again");
        goto out;
    }
    observe_hub_clock(c, doc);
    cJSON_ArrayForEach(item, refused) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(item, "code");
        const cJSON *reason = cJSON_GetObjectItemCaseSensitive(item, "reason");
        int64_t seq;
        char msg[600];

        if (json_int(cJSON_GetObjectItemCaseSensitive(item, "seq"), &seq) < 0 || seq < 0 ||
            seq > hi)
            continue;           /* not ours to mark */
        snprintf(msg, sizeof(msg), "%.64s: %.500s",
                 cJSON_IsString(code) ? code->valuestring : "refused",
                 cJSON_IsString(reason) ? reason->valuestring : "no reason given");
        r = mark_refused(c, seq, hi, msg);
        if (r < 0)
            break;
        if (r == 0)
            continue;
        r = 0;
        nref++;
        log_notice("sync: the hub refused outbox entry %lld: %s", (long long)seq, msg);
    }
    if (r == 0 && hi > c->q->last_seq)
        found = count_rows_between(c, c->q->last_seq, hi);
    if (r == 0)
        r = drop_acked(c, hi);
    now_iso(now);
    if (r == 0)
        r = store_meta_set(c->store, "sync.last_push_ok", now);
    if (r == 0)
        r = store_commit(c->store);
    if (r < 0) {
        store_rollback(c->store);
        set_error(c, r, "cannot record the hub's ack: %s (the batch will be sent again)",
                  strerror(-r));
        goto out;
    }
    if (found)
        log_notice("sync: the hub already had %lld row(s) up to seq %lld from an earlier, "
                   "interrupted run; not sending them again", found, (long long)hi);
    c->stats.rows_found_acked += found;
    c->stats.rows_sent += c->q->nrows - (c->q->probe ? 0 : nref);
    c->stats.rows_refused += nref;
    if (c->q->probe)
        goto out;
    c->stats.batches++;
    /* grow slowly after a success, up to the ceiling */
    c->budget = c->budget + c->budget / 4 > SYNC_BATCH_CEIL ? SYNC_BATCH_CEIL
                                                            : c->budget + c->budget / 4;
out:
    cJSON_Delete(doc);
    return r;
}

static int inflate_body(struct sync_client *c, char **ret, size_t *ret_len)
{
    const char *in = c->q->resp.p ? c->q->resp.p : "";
    size_t len = c->q->resp.len;
    struct buf out = { .max = PULL_MAX_PLAIN };
    char chunk[16384];
    int r = 0;

    if (!c->q->hdr_enc[0] || strcasecmp(c->q->hdr_enc, "identity") == 0) {
        r = buf_add(&out, in, len);
    } else if (strcasecmp(c->q->hdr_enc, "zstd") == 0) {
        ZSTD_DStream *z = ZSTD_createDStream();
        ZSTD_inBuffer ib = { in, len, 0 };
        size_t zr = 1;
        if (!z)
            return -ENOMEM;
        ZSTD_initDStream(z);
        while (r == 0 && (ib.pos < ib.size || zr != 0)) {
            ZSTD_outBuffer ob = { chunk, sizeof(chunk), 0 };
            zr = ZSTD_decompressStream(z, &ob, &ib);
            if (ZSTD_isError(zr)) {
                r = -EBADMSG;
                break;
            }
            r = buf_add(&out, chunk, ob.pos);
            if (ob.pos == 0 && ib.pos == ib.size && zr != 0) {
                r = -EBADMSG;           /* truncated frame */
                break;
            }
        }
        ZSTD_freeDStream(z);
    } else if (strcasecmp(c->q->hdr_enc, "gzip") == 0) {
        z_stream z = {0};
        int zr = Z_OK;
        if (inflateInit2(&z, 15 + 16) != Z_OK)
            return -ENOMEM;
        z.next_in = (Bytef *)(uintptr_t)in;
        z.avail_in = (uInt)len;
        while (r == 0 && zr != Z_STREAM_END) {
            z.next_out = (Bytef *)chunk;
            z.avail_out = sizeof(chunk);
            zr = inflate(&z, Z_NO_FLUSH);
            if (zr != Z_OK && zr != Z_STREAM_END) {
                r = -EBADMSG;
                break;
            }
            r = buf_add(&out, chunk, sizeof(chunk) - z.avail_out);
            if (zr == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
                r = -EBADMSG;
                break;
            }
        }
        inflateEnd(&z);
    } else {
        r = -EPROTO;
    }
    if (r < 0) {
        buf_free(&out);
        return r;
    }
    *ret = out.p ? out.p : strdup("");
    *ret_len = out.len;
    return *ret ? 0 : -ENOMEM;
}

/* Binds one pulled cell to parameter idx; -EINVAL when it has the wrong type. */
static int bind_cell(sqlite3_stmt *st, int idx, enum ctype type, const cJSON *v)
{
    if (!v || cJSON_IsNull(v))
        return sqlite3_bind_null(st, idx) == SQLITE_OK ? 0 : -EIO;
    switch (type) {
    case C_TEXT:
        if (!cJSON_IsString(v) || strlen(v->valuestring) > 65536)
            return -EINVAL;
        sqlite3_bind_text(st, idx, v->valuestring, -1, SQLITE_TRANSIENT);
        return 0;
    case C_INT: {
        int64_t n;
        if (json_int(v, &n) < 0)
            return -EINVAL;
        sqlite3_bind_int64(st, idx, n);
        return 0;
    }
    case C_HLC: {
        uint64_t h;
        if (json_hlc(v, &h) < 0 || h > INT64_MAX)
            return -EINVAL;
        sqlite3_bind_int64(st, idx, (sqlite3_int64)h);
        return 0;
    }
    case C_JSON: {
        if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
            return -EINVAL;
        char *t = cJSON_PrintUnformatted(v);
        if (!t)
            return -ENOMEM;
        sqlite3_bind_text(st, idx, t, -1, free);
        return 0;
    }
    case C_LON:
    case C_LAT:
        if (!cJSON_IsNumber(v))
            return -EINVAL;
        sqlite3_bind_double(st, idx, v->valuedouble);
        return 0;
    }
    return -EINVAL;
}

/* 1 when col is one of the comma-separated key columns pk. */
static int in_key(const char *pk, const char *col)
{
    size_t n = strlen(col);

    for (const char *p = pk; (p = strstr(p, col)) != NULL; p += n)
        if ((p == pk || p[-1] == ' ' || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
            return 1;
    return 0;
}

/* Applies one table block of a pull page. Rows that cannot be stored are
 * logged and skipped: a bad row must not hold the feed back. */
static int apply_block(struct sync_client *c, const cJSON *blk, long *applied)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(blk, "table");
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(blk, "cols");
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(blk, "rows");
    int map[64], spec[64], ncols, t, lon = -1, lat = -1, has_id = 0, has_hlc = 0;
    int has_origin = 0, level_col = -1, parent_col = -1, ref_col = -1;
    unsigned long long max_ref = 0;
    struct buf q = { .max = 8192 };
    sqlite3_stmt *st = NULL;
    long skipped = 0;
    int r = 0, rc;

    if (!cJSON_IsString(name) || !cJSON_IsArray(cols) || !cJSON_IsArray(rows))
        return set_error(c, -EPROTO, "a pull page has a malformed table block");
    t = table_index(name->valuestring);
    if (t < 0) {
        log_info("sync: pull: table '%.40s' is unknown here; skipped", name->valuestring);
        return 0;
    }
    const struct tblspec *ts = &tables[t];
    ncols = cJSON_GetArraySize(cols);
    if (ncols <= 0 || ncols > 64)
        return set_error(c, -EPROTO, "a pull page's %s block has %d columns", ts->name, ncols);
    /* map each pulled column to ours: a parameter number, or 0 to ignore it */
    int nparam = 0;
    buf_printf(&q, "INSERT INTO %s (", ts->name);
    for (int i = 0; i < ncols; i++) {
        const cJSON *cn = cJSON_GetArrayItem(cols, i);
        map[i] = 0;
        spec[i] = -1;
        if (!cJSON_IsString(cn))
            continue;
        for (int k = 0; k < ts->ncols; k++) {
            if (strcmp(ts->cols[k].name, cn->valuestring) != 0)
                continue;
            spec[i] = k;
            map[i] = ++nparam;
            if (ts->cols[k].type == C_LON) {
                lon = nparam;
            } else if (ts->cols[k].type == C_LAT) {
                lat = nparam;
            } else {
                buf_printf(&q, "%s%s", q.p[q.len - 1] == '(' ? "" : ", ", ts->cols[k].name);
                has_id |= strcmp(cn->valuestring, "id") == 0;
                has_hlc |= strcmp(cn->valuestring, "hlc") == 0;
                has_origin |= strcmp(cn->valuestring, "origin") == 0;
                if (strcmp(cn->valuestring, "level") == 0)
                    level_col = i;
                if (strcmp(cn->valuestring, "parent_code") == 0)
                    parent_col = i;
                if (strcmp(cn->valuestring, "ref") == 0)
                    ref_col = i;
            }
        }
    }
    if (ts->synced && (!has_id || !has_hlc || !has_origin)) {
        buf_free(&q);
        return set_error(c, -EPROTO, "a pull page's %s block lacks id, origin or hlc",
                         ts->name);
    }
    int geom = lon > 0 && lat > 0;
    if (geom)
        buf_str(&q, ", geom");
    buf_str(&q, ") VALUES (");
    int first = 1;
    for (int i = 0; i < ncols; i++) {
        if (!map[i] || map[i] == lon || map[i] == lat)
            continue;
        buf_printf(&q, "%s?%d", first ? "" : ", ", map[i]);
        first = 0;
    }
    if (geom)
        buf_printf(&q, ", CASE WHEN ?%d IS NULL OR ?%d IS NULL THEN NULL "
                   "ELSE sk_point(?%d, ?%d) END", lon, lat, lon, lat);
    buf_printf(&q, ") ON CONFLICT (%s) DO UPDATE SET ", ts->pk);
    first = 1;
    for (int i = 0; i < ncols; i++) {
        if (!map[i] || map[i] == lon || map[i] == lat)
            continue;
        /* never the key itself: SQLite treats any SET of a parent key as a
         * change of it and checks every child table for orphans (area.code:
         * a scan of case_report per row, seconds per page, with the store
         * locked meanwhile) */
        if (in_key(ts->pk, ts->cols[spec[i]].name))
            continue;
        buf_printf(&q, "%s%s = excluded.%s", first ? "" : ", ", ts->cols[spec[i]].name,
                   ts->cols[spec[i]].name);
        first = 0;
    }
    if (geom)
        buf_str(&q, ", geom = excluded.geom");
    if (ts->synced)
        buf_printf(&q, " WHERE excluded.hlc > %s.hlc OR (excluded.hlc = %s.hlc AND "
                   "excluded.origin > %s.origin)", ts->name, ts->name, ts->name);
    if (!q.p || first) {
        buf_free(&q);
        return first ? 0 : -ENOMEM;
    }
    rc = sqlite3_prepare_v2(store_db(c->store), q.p, -1, &st, NULL);
    buf_free(&q);
    if (rc != SQLITE_OK)
        return set_error(c, store_error(c->store, rc), "cannot apply pulled %s rows: %s",
                         ts->name, sqlite3_errmsg(store_db(c->store)));
    /* areas go parents first: provinces, then districts, sub-districts, villages */
    int passes = t == AREA_TABLE && level_col >= 0 ? 4 : 1;
    for (int pass = 1; pass <= passes && r == 0; pass++) {
        const cJSON *row;
        cJSON_ArrayForEach(row, rows) {
            int bad = 0;
            if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != ncols) {
                r = set_error(c, -EPROTO, "a pulled %s row has the wrong length", ts->name);
                break;
            }
            if (passes > 1) {
                const cJSON *lv = cJSON_GetArrayItem(row, level_col);
                int level = cJSON_IsNumber(lv) ? (int)lv->valuedouble : 4;
                if (level < 1 || level > 4)
                    level = 4;
                if (level != pass)
                    continue;
            }
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            int i = 0;
            const cJSON *cell;
            cJSON_ArrayForEach(cell, row) {
                if (map[i] && bind_cell(st, map[i], ts->cols[spec[i]].type, cell) < 0)
                    bad = 1;
                i++;
            }
            if (bad) {
                skipped++;
                continue;
            }
            rc = sqlite3_step(st);
            if (rc != SQLITE_DONE && (rc & 0xff) == SQLITE_CONSTRAINT &&
                t == AREA_TABLE && parent_col >= 0) {
                /* a parent this node does not have: keep the area without it */
                sqlite3_reset(st);
                sqlite3_bind_null(st, map[parent_col]);
                rc = sqlite3_step(st);
            }
            if (rc == SQLITE_DONE) {
                (*applied)++;
                if (ref_col >= 0) {
                    /* a reference of this district ("DDDD-NNNNNN") made elsewhere,
                     * e.g. by this district's earlier node: never hand it out again */
                    const char *ref = cJSON_GetStringValue(cJSON_GetArrayItem(row, ref_col));
                    const char *d = store_district(c->store);
                    if (ref && strncmp(ref, d, strlen(d)) == 0 && ref[strlen(d)] == '-' &&
                        isdigit((unsigned char)ref[strlen(d) + 1])) {
                        unsigned long long k = strtoull(ref + strlen(d) + 1, NULL, 10);
                        if (k > max_ref)
                            max_ref = k;
                    }
                }
            } else if ((rc & 0xff) == SQLITE_CONSTRAINT) {
                if (skipped++ == 0)
                    log_warning("sync: pull: a %s row was not stored: %s", ts->name,
                                sqlite3_errmsg(store_db(c->store)));
            } else {
                r = set_error(c, store_error(c->store, rc), "cannot store a pulled %s row: %s",
                              ts->name, sqlite3_errmsg(store_db(c->store)));
                break;
            }
        }
    }
    sqlite3_finalize(st);
    if (r == 0 && max_ref > 0) {
        sqlite3_stmt *m = store_stmt(c->store,
            "INSERT INTO meta (key, value) VALUES ('ref_seq', ?1) ON CONFLICT (key) DO UPDATE"
            " SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))");
        if (!m)
            r = -EIO;
        else {
            sqlite3_bind_int64(m, 1, (sqlite3_int64)max_ref);
            rc = sqlite3_step(m);
            sqlite3_reset(m);
            if (rc != SQLITE_DONE)
                r = set_error(c, store_error(c->store, rc), "cannot keep the reference counter");
        }
    }
    if (skipped)
        log_warning("sync: pull: %ld %s row(s) skipped (bad cells or constraints)", skipped,
                    ts->name);
    if (!ts->synced && r == 0)
        c->refdata_changed = 1;
    return r;
}

static int pull_apply(struct sync_client *c)
{
    char *plain = NULL;
    size_t plain_len = 0;
    cJSON *doc = NULL;
    const cJSON *cursor, *more, *tbls, *blk;
    long applied = 0;
    int r;

    r = inflate_body(c, &plain, &plain_len);
    if (r < 0) {
        set_error(c, r == -EMSGSIZE ? -EPROTO : r, "the hub's pull answer does not "
                  "decompress (%s)", c->q->hdr_enc);
        return r == -EMSGSIZE ? -EPROTO : -EIO;
    }
    doc = cJSON_ParseWithLength(plain, plain_len);
    free(plain);
    cursor = cJSON_GetObjectItemCaseSensitive(doc, "cursor");
    more = cJSON_GetObjectItemCaseSensitive(doc, "more");
    tbls = cJSON_GetObjectItemCaseSensitive(doc, "tables");
    if (!doc || !cJSON_IsString(cursor) || strlen(cursor->valuestring) > CURSOR_MAX ||
        (tbls && !cJSON_IsArray(tbls))) {
        r = set_error(c, -EPROTO, "the hub's pull answer is not valid");
        goto out;
    }
    for (const char *p = cursor->valuestring; *p; p++)
        if (!isgraph((unsigned char)*p)) {
            r = set_error(c, -EPROTO, "the hub's pull cursor is not printable");
            goto out;
        }
    r = store_begin_bg(c->store);
    if (r < 0) {
        set_error(c, r, "the store is busy; the page will be fetched again");
        goto out;
    }
    observe_hub_clock(c, doc);
    r = store_exec(c->store, "INSERT INTO sync_apply (active) VALUES (1)");
    cJSON_ArrayForEach(blk, tbls) {
        if (r < 0)
            break;
        r = apply_block(c, blk, &applied);
    }
    if (r == 0)
        r = store_exec(c->store, "DELETE FROM sync_apply");
    if (r == 0)
        r = store_meta_set(c->store, "sync.pull_cursor", cursor->valuestring);
    if (r == 0)
        r = store_commit(c->store);
    if (r < 0) {
        store_rollback(c->store);
        if (!c->error[0])
            set_error(c, r, "cannot apply a pulled page: %s", strerror(-r));
        goto out;
    }
    c->stats.rows_pulled += applied;
    if (!cJSON_IsTrue(more))
        c->phase = PH_DONE;
out:
    cJSON_Delete(doc);
    return r;
}

int sync_client_apply_answer(struct sync_client *c, int pull, const void *body, size_t len,
                             const char *enc, int64_t last_seq)
{
    requests_clear(c);
    c->error[0] = '\0';
    c->q->resp.max = PULL_MAX_WIRE;
    if (len > 0 && buf_add(&c->q->resp, body, len) < 0)
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

static int request_done(struct sync_client *c, CURL *easy, CURLcode res)
{
    curl_off_t up = 0, down = 0;
    long status = 0, req_hdr = 0, resp_hdr = 0;
    const char *what = c->q->phase == PH_PUSH ? "push" : "pull";
    int r;

    curl_easy_getinfo(easy, CURLINFO_SIZE_UPLOAD_T, &up);
    curl_easy_getinfo(easy, CURLINFO_SIZE_DOWNLOAD_T, &down);
    curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &req_hdr);
    curl_easy_getinfo(easy, CURLINFO_HEADER_SIZE, &resp_hdr);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    c->stats.requests++;
    c->stats.bytes_up += (long long)up + req_hdr;
    c->stats.bytes_down += (long long)down + resp_hdr;
    if (c->q->phase == PH_RENEW)
        return renew_done(c, res, status);

    if (res != CURLE_OK) {
        r = curl_errno(res);
        if (r == -ETIMEDOUT && c->q->phase == PH_PUSH)
            halve_budget(c);
        if (r == -EACCES)
            return set_error(c, r, "%s: the hub's TLS certificate was not accepted (%s); "
                             "check --ca", what, c->q->errbuf[0] ? c->q->errbuf : curl_easy_strerror(res));
        return set_error(c, r, "%s to the hub failed: %s", what,
                         c->q->errbuf[0] ? c->q->errbuf : curl_easy_strerror(res));
    }
    if (c->q->hdr_accept[0] && !strstr(c->q->hdr_accept, "zstd"))
        c->use_gzip = 1;
    if (status == 200)
        return c->q->phase == PH_PUSH ? push_apply(c) : pull_apply(c);

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
        store_hlc_observe(c->store, h);   /* persisted with the next commit */
    cJSON_Delete(doc);
    switch (status) {
    case 503:
        c->retry_after = (unsigned)strtoul(c->q->hdr_retry, NULL, 10);
        if (c->retry_after > 3600)
            c->retry_after = 3600;
        r = -EAGAIN;
        break;
    case 408:
        if (c->q->phase == PH_PUSH)
            halve_budget(c);
        r = -ETIMEDOUT;
        break;
    case 413:
        halve_budget(c);
        c->ratio = c->ratio > 2 ? c->ratio / 2 : 1;
        r = -EMSGSIZE;
        break;
    case 415:
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
        r = -ESTALE;
        break;
    default:
        r = -EPROTO;
    }
    return set_error(c, r, "%s: the hub answered %ld (%s)", what, status, detail);
}

unsigned sync_retry_delay_ms(unsigned failures, uint64_t outage_ms, unsigned retry_after_s,
                             unsigned max_ms)
{
    uint64_t d;

    if (failures == 0)
        return 0;
    if (outage_ms < SYNC_RIDE_OUT_MS)
        d = failures >= 4 ? 2000 : 250u << (failures - 1);
    else
        d = outage_ms / 4 > 4000 ? outage_ms / 4 : 4000;   /* grows with the outage */
    if (d > max_ms)
        d = max_ms;
    d = d - d / 4 + (uint64_t)rand() % (d / 4 + 1);
    if ((uint64_t)retry_after_s * 1000 > d)
        d = (uint64_t)(retry_after_s > 30 ? 30 : retry_after_s) * 1000;
    return (unsigned)d;
}

int sync_client_round_ok(struct sync_client *c)
{
    char now[32];
    int r;

    now_iso(now);
    r = store_begin_bg(c->store);
    if (r < 0)
        return r;
    r = store_meta_set(c->store, "last_sync_ok", now);
    if (r == 0)
        r = store_commit(c->store);
    if (r < 0)
        store_rollback(c->store);
    return r;
}

void sync_client_record_error(struct sync_client *c)
{
    char now[32];

    if (!c->error[0])
        return;
    now_iso(now);
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
    struct buf b = { .max = 16u << 10 };
    mbedtls_pk_context key;
    char *csr = NULL;
    int r;

    mbedtls_pk_init(&key);
    r = nodecert_load_key(c->key_file, &key);
    if (r == 0)
        r = nodecert_csr(&key, store_node_id(c->store), &csr);
    mbedtls_pk_free(&key);
    if (r == 0)
        r = buf_str(&b, "{\"v\":1,\"csr\":");
    if (r == 0)
        r = buf_json_str(&b, csr, strlen(csr));
    if (r == 0)
        r = buf_str(&b, "}");
    if (r == 0)
        r = identity_headers(c, store_hlc_tick(c->store));
    free(csr);
    if (r < 0) {
        buf_free(&b);
        return r;
    }
    c->q->body = b.p;
    c->q->body_len = b.len;
    return 1;
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
                 (r = nodecert_write(c->cert_file, pem->valuestring, strlen(pem->valuestring),
                                     0644)) < 0)
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
