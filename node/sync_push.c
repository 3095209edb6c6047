/* sync_push.c - the push half of the sync client: batches built from the
 * outbox (the current version of each queued row, several entries of one
 * row sent once with the highest seq, in the columns of sync/kinds.c,
 * compressed and digested by sync/batch.c), the probe that learns the
 * hub's high-water mark after a lost answer, and the acks applied in one
 * transaction: entries up to the acked seq dropped, refused ones kept with
 * the hub's reason (docs/protocol.md §4). */
#include "sync_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "hex.h"
#include "log.h"

/* ------------------------------------------------------------ building a batch */

static uint32_t hash_id(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

/* Appends the cells of the current row of kind k (st stepped to it) to b,
 * as the wire carries them (sync/batch.h). */
static int row_cells(struct strbuf *b, const struct record_kind *k, sqlite3_stmt *st)
{
    int r = 0;

    for (int i = 0; i < k->ncols && r == 0; i++) {
        const char *text;
        size_t n;

        /* the type before any conversion (sqlite3_column_type()'s rule),
         * and a number never made into text */
        if (sqlite3_column_type(st, i) == SQLITE_NULL) {
            r = batch_cell_null(b);
            continue;
        }
        switch (k->cols[i].type) {
        case COL_INT: case COL_BIT:
            r = batch_cell_int(b, (long long)sqlite3_column_int64(st, i));
            break;
        case COL_HLC:
            r = batch_cell_hlc(b, (unsigned long long)sqlite3_column_int64(st, i));
            break;
        case COL_LON: case COL_LAT:
            r = batch_cell_double(b, sqlite3_column_double(st, i));
            break;
        default:
            text = (const char *)sqlite3_column_text(st, i);
            n = (size_t)sqlite3_column_bytes(st, i);
            if (!text)
                return -ENOMEM;
            r = k->cols[i].type == COL_JSON ? batch_cell_json(b, text, n)
                                            : batch_cell_text(b, text, n);
            break;
        }
    }
    return r;
}

/* The queued entries after seq, up to c->seq_cap, counted up to most. */
static long long queued_after(struct sync_client *c, int64_t seq, int most)
{
    sqlite3_stmt *st = store_stmt(c->store,
        "SELECT count(*) FROM (SELECT 1 FROM outbox WHERE state = " OUTBOX_QUEUED_LIT
        " AND seq > ?1 AND seq <= ?2 LIMIT ?3)");
    long long n = -EIO;

    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int64(st, 2, c->seq_cap);
    sqlite3_bind_int(st, 3, most);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return n;
}

/* The batch in c->q, cut at its size, with a quarter of its rows or fewer
 * left (of the queue, or of the priority lane): 1 when the rest should come
 * along, a batch up to a quarter larger instead of a turnaround for a few
 * rows (on 2G the test's 174 P reports went as 171, then 3: 0.5 s for 3
 * rows); 0 when not; -errno. */
static int take_rest(struct sync_client *c, unsigned row_cap)
{
    long long rest;

    if ((unsigned)c->q->nrows >= row_cap)
        return 0;
    rest = queued_after(c, c->q->last_seq, c->q->nrows / 4 + 1);
    if (rest < 0)
        return (int)rest;
    return rest <= c->q->nrows / 4 && (unsigned)(c->q->nrows + rest) <= row_cap;
}

/* Reads queued outbox entries above the request's base_seq in seq order into
 * per-table row buffers until the plain size reaches plain_cap or row_cap
 * rows are in. */
static int collect_rows(struct sync_client *c, struct strbuf *tb, size_t plain_cap,
                        unsigned row_cap)
{
    sqlite3_stmt *st = store_stmt(c->store,
        "SELECT seq, tbl, row_id FROM outbox WHERE state = " OUTBOX_QUEUED_LIT
        " AND seq > ?2 AND seq <= ?3 ORDER BY seq LIMIT ?1");
    uint32_t hsize = 1, *hash = NULL;
    int rc, r = 0;

    if (!st)
        return -EIO;
    while (hsize < row_cap * 2)
        hsize <<= 1;
    hash = calloc(hsize, sizeof(*hash));
    if (!hash)
        return -ENOMEM;
    for (int t = 0; t < record_kinds_count; t++)
        tb[t].max = PLAIN_MAX;
    c->q->last_seq = 0;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)row_cap * 4);
    sqlite3_bind_int64(st, 2, c->q->base_seq);
    sqlite3_bind_int64(st, 3, c->seq_cap);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0);
        const char *tbl = (const char *)sqlite3_column_text(st, 1);
        const char *id = (const char *)sqlite3_column_text(st, 2);
        int t = tbl ? record_kind_index(tbl) : -1;
        uint32_t h;

        if ((unsigned)c->q->nrows >= row_cap || (c->q->nrows > 0 && c->q->plain_len >= plain_cap))
            break;
        c->q->last_seq = seq;      /* this entry is covered, whatever happens to it below */
        if (t < 0 || !KIND(t)->synced || !id || strlen(id) >= UUID_STR_LEN) {
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
        r = row_cells(&tb[t], KIND(t), sel);
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

static int emit_batch(struct sync_client *c, struct strbuf *tb, struct strbuf *out, uint64_t hlc)
{
    int first_tbl = 1;

    batch_write_head(out, store_node_id(c->store), c->q->last_seq, c->q->base_seq, hlc);
    for (int t = 0; t < record_kinds_count; t++) {
        int first_row = 1;

        if (!KIND(t)->synced || tb[t].len == 0)
            continue;
        batch_write_table(out, KIND(t), first_tbl);
        for (int k = 0; k < c->q->nrows; k++) {
            const struct prow *p = &c->q->rows[k];
            if (p->tbl != t)
                continue;
            batch_write_row(out, p->seq, tb[t].p + p->off, p->len, first_row);
            first_row = 0;
        }
        batch_write_table_end(out);
        first_tbl = 0;
    }
    return batch_write_end(out);
}

/* The first queued routine entry above ?1 (NULL: none), in seq order */
#define FIRST_ROUTINE "(SELECT b.seq FROM outbox b WHERE b.seq > ?1 AND b.state = " \
    OUTBOX_QUEUED_LIT " AND b.lane = 0 ORDER BY b.seq LIMIT 1)"

/* The priority lane (schema/node/006_priority_lane.sql): when a queued
 * entry of lane 1 (a P report, a follow-up of one) has routine entries
 * before it that have never been on the wire (seq above both sent_seq and
 * the batch in flight), the never-sent entries are renumbered among their
 * own numbers, lane 1 first and each lane in its order, so the next batch
 * carries them. Entries that may have reached the hub keep their numbers
 * (the hub's high-water mark covers them); the set of numbers and the
 * outbox's sequence stay the same. Returns 1 when it renumbered, 0 when
 * nothing had to move, or -errno. */
static int promote_priority(struct sync_client *c)
{
    /* Renumbered a window at a time (issue 13, the footprint): from the
     * last lane-1 entry down, the window's PROMOTE_WINDOW entries and the
     * lane-1 entries already carried to the head of the windows above it,
     * among their own numbers (?1 < seq <= ?2). The entries after the last
     * lane-1 one keep their numbers; SQLite's temporary tables, sorters and
     * statement journal hold one window, not the whole queue. */
    enum { PROMOTE_WINDOW = 4096 };
    static const char *const renumber[] = {
        "DELETE FROM temp.lane_map WHERE ?1 < ?2",
        "INSERT INTO temp.lane_map (old, new) SELECT o.seq, n.seq FROM "
        "(SELECT seq, row_number() OVER (ORDER BY lane DESC, seq) AS k FROM outbox "
        " WHERE state = " OUTBOX_QUEUED_LIT " AND seq > ?1 AND seq <= ?2) o JOIN "
        "(SELECT seq, row_number() OVER (ORDER BY seq) AS k FROM outbox "
        " WHERE state = " OUTBOX_QUEUED_LIT " AND seq > ?1 AND seq <= ?2) n ON n.k = o.k",
        /* two passes: a number is never taken twice on the way */
        "UPDATE outbox SET seq = -seq WHERE state = " OUTBOX_QUEUED_LIT
        " AND seq > ?1 AND seq <= ?2",
        "UPDATE outbox SET seq = (SELECT new FROM temp.lane_map WHERE old = -outbox.seq) "
        "WHERE seq < 0 AND ?1 < ?2",
        "DELETE FROM temp.lane_map WHERE ?1 < ?2",
    };
    /* the last lane-1 entry at or below ?2; the window's lowest bound below ?2 */
    static const char *const last_p =
        "SELECT max(seq) FROM outbox WHERE lane = 1 AND state = " OUTBOX_QUEUED_LIT
        " AND seq > ?1 AND seq <= ?2";
    static const char *const window_low =
        "SELECT seq FROM outbox WHERE state = " OUTBOX_QUEUED_LIT " AND seq > ?1 AND seq <= ?2"
        " ORDER BY seq DESC LIMIT 1 OFFSET ?3";
    int64_t lo = c->sent_seq > c->q->base_seq ? c->sent_seq : c->q->base_seq;
    int64_t hi = INT64_MAX, top, low;
    /* a lane-1 entry after the first routine one. Not as "a lane-1 entry
     * with a routine one before it": that looked at every entry before
     * each lane-1 one, and with 20,000 P reports at the head (an outbreak's
     * backlog) each batch took seconds, 75 s for the first 20,000 rows */
    sqlite3_stmt *st = store_stmt(c->store,
        "SELECT p.seq FROM outbox p WHERE p.lane = 1 AND p.state = " OUTBOX_QUEUED_LIT
        " AND p.seq > " FIRST_ROUTINE " LIMIT 1");
    int rc, r;

    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, lo);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return store_error(c->store, rc);
    r = store_begin_bg(c->store);
    if (r == 0)
        r = store_exec(c->store, "CREATE TEMP TABLE IF NOT EXISTS lane_map "
                       "(old INTEGER PRIMARY KEY, new INTEGER)");
    /* hi: the end of what the next window renumbers (the last lane-1 entry
     * not yet at the head); top: the window's top, low: its bottom */
    for (top = hi; r == 0;) {
        st = store_stmt(c->store, last_p);
        if (!st) {
            r = -EIO;
            break;
        }
        sqlite3_bind_int64(st, 1, lo);
        sqlite3_bind_int64(st, 2, hi);
        rc = sqlite3_step(st);
        hi = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_reset(st);
        if (rc != SQLITE_ROW) {
            r = store_error(c->store, rc);
            break;
        }
        if (hi <= lo)               /* no lane-1 entry left: done */
            break;
        if (top > hi)
            top = hi;
        st = store_stmt(c->store, window_low);
        if (!st) {
            r = -EIO;
            break;
        }
        sqlite3_bind_int64(st, 1, lo);
        sqlite3_bind_int64(st, 2, top);
        sqlite3_bind_int64(st, 3, PROMOTE_WINDOW);
        rc = sqlite3_step(st);
        low = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : lo;
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            r = store_error(c->store, rc);
            break;
        }
        for (size_t i = 0; r == 0 && i < sizeof(renumber) / sizeof(renumber[0]); i++) {
            st = store_stmt(c->store, renumber[i]);
            if (!st) {
                r = -EIO;
                break;
            }
            sqlite3_bind_int64(st, 1, low);
            sqlite3_bind_int64(st, 2, hi);
            r = store_step_done(c->store, st);
        }
        if (low <= lo)
            break;
        top = low;                  /* the next window: below this one */
    }
    r = store_end(c->store, r);
    if (r < 0)
        return log_errno(LOG_ERR, r, "sync: cannot move priority reports ahead of the queue");
    log_notice("sync: priority reports go ahead of the queued routine records");
    c->stats.promotions++;
    return 1;
}

int64_t push_priority_head(struct sync_client *c)
{
    int64_t lo = c->sent_seq > c->q->base_seq ? c->sent_seq : c->q->base_seq, h = 0;
    /* the last lane-1 entry before the first routine one (as above) */
    sqlite3_stmt *st = store_stmt(c->store,
        "SELECT max(p.seq) FROM outbox p WHERE p.lane = 1 AND p.state = " OUTBOX_QUEUED_LIT
        " AND p.seq > ?1 AND p.seq < coalesce(" FIRST_ROUTINE ", 9223372036854775807)");
    int rc;

    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, lo);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        h = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? h : store_error(c->store, rc);
}

/* Builds the next push batch. Returns 1 when built, 0 when nothing is queued. */
int push_prepare(struct sync_client *c)
{
    struct strbuf *tb = c->tb, *plain = &c->plain;
    unsigned row_cap = c->ramp < c->max_rows ? c->ramp : c->max_rows;
    char digest[65];
    uint64_t hlc = 0;
    size_t plain_len = 0;
    int64_t prio;
    int r = promote_priority(c);

    if (r < 0)
        return r;
    /* priority entries at the head of the queue go alone, in a small batch
     * that the hub admits first (X-Sikhnas-Priority) and the link carries
     * in one round trip; on a metered link over its budget, only they go */
    c->seq_cap = c->round_seq;
    prio = push_priority_head(c);
    if (prio < 0)
        return (int)prio;
    if (prio > 0)
        c->seq_cap = prio;
    else if (c->over_budget)
        return 0;
    r = store_exec(c->store, "BEGIN");          /* one snapshot for the whole batch */
    if (r < 0)
        return r;
    for (int resized = 0, tail = 0;;) {
        double wire = c->budget;
        /* a slow link: a batch of at most BATCH_LINK_S seconds, so that a
         * cut costs little and a P report waits little. Not longer when
         * the hub resumes: a cut costs then what was in flight beyond the
         * first lost segment, and each batch fewer is a turnaround fewer,
         * but a cut the hub keeps nothing of still sends the batch again:
         * with 5 s (1,000 reports on 2G in 2 batches instead of 4) a CI run
         * re-sent 60 % of the push, and batches of 10 s once 57 % */
        double secs = BATCH_LINK_S;
        if (c->link_rate > 0 && c->link_rate * secs < wire)
            wire = c->link_rate * secs < SYNC_BATCH_FLOOR ? SYNC_BATCH_FLOOR
                                                          : c->link_rate * secs;
        /* the plain batch is held up to three times at once while it is
         * built (the rows by table and the batch; then the batch and its
         * columnar form, twice as that is put together): its bound is the
         * uplink program's heap bound (issue 13). Without
         * it a backlog's batch grew to max_rows, 10,000 reports (3 MB,
         * more with long notes); 1 MiB is some 3,500 reports, 80-90 KB
         * on the wire */
        double pc = wire * c->ratio;
        /* (with the queue's small rest: take_rest()) */
        size_t plain_cap = tail || pc > PLAIN_BATCH ? PLAIN_BATCH : (size_t)pc;

        for (int t = 0; t < record_kinds_count; t++)
            strbuf_reset(&tb[t]);
        plain->max = PLAIN_MAX + (1u << 20);
        strbuf_reset(plain);
        c->q->nrows = 0;
        c->q->plain_len = 0;
        r = collect_rows(c, tb, plain_cap, row_cap);
        if (r < 0 || c->q->last_seq == 0)
            break;
        if (!tail && c->q->plain_len >= plain_cap && (tail = take_rest(c, row_cap)) != 0) {
            if (tail < 0) {
                r = tail;
                break;
            }
            continue;
        }
        hlc = store_hlc_tick(c->store);
        r = emit_batch(c, tb, plain, hlc);
        /* from here on each step frees what it read: the rows once in the
         * batch, the batch once in its columnar form, before zstd's
         * context (1.3 MB at level 3) is made for this batch alone: the
         * uplink program's peak (issue 13) */
        for (int t = 0; t < record_kinds_count; t++)
            strbuf_free(&tb[t]);
        if (r < 0)
            break;
        free(c->q->body);
        c->q->body = NULL;
        plain_len = plain->len;
        r = batch_encode_consume(plain, c->use_columnar,
                                 c->use_gzip ? ENC_GZIP : c->use_dict ? ENC_ZSTD_DICT : ENC_ZSTD,
                                 &c->q->body, &c->q->body_len);
        if (r < 0)
            break;
        /* cut at the plain size the ratio guessed, and well short of the
         * link's share: the round's first batch, with the ratio not yet
         * measured (6 against 11-14 for reports), went at half the
         * seconds, one more turnaround on a slow link (the test's 174 P
         * reports in two batches, 173 rows and 1). Measured on this batch,
         * built again once: larger, it compresses at least as well, so
         * even a ratio from a batch under RATIO_MIN_PLAIN does not make
         * it overshoot. A batch cut at PLAIN_BATCH, not at the link's
         * share, would be built the same again */
        if (!resized && pc < PLAIN_BATCH && c->q->plain_len >= plain_cap &&
            plain_len >= RESIZE_MIN_PLAIN &&
            (unsigned)c->q->nrows < row_cap && c->q->body_len * 4 < wire * 3) {
            c->ratio = (double)plain_len / (double)c->q->body_len;
            c->ratio = c->ratio > 20.0 ? 20.0 : c->ratio;
            resized = 1;
            continue;
        }
        if (c->q->body_len <= BATCH_MAX_WIRE || row_cap <= 1)
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
    c->q->plain_len = plain_len;
    /* the ratio sizes the next batches: a small one (a priority batch, the
     * queue's tail) compresses less and would make them small too (on the
     * 2G link a batch of 4 KB after a P report's batch of one row) */
    if (c->q->body_len > 0 && plain_len >= RATIO_MIN_PLAIN)
        c->ratio = (double)plain_len / (double)c->q->body_len;
    if (c->ratio < 1.0)
        c->ratio = 1.0;
    if (c->ratio > 20.0)
        c->ratio = 20.0;
    sha256_hex(c->q->body, c->q->body_len, digest);
    r = identity_headers(c, hlc);
    if (r == 0)
        r = add_header(c, "Content-Encoding: %s", c->use_gzip ? "gzip" : "zstd");
    if (r == 0 && c->use_columnar)
        r = add_header(c, "%s", c->use_columnar == 2 ? BATCH_COLUMNAR2_HEADER
                                                     : BATCH_COLUMNAR_HEADER);
    if (r == 0)
        r = add_header(c, "X-Sikhnas-Digest: sha256=%s", digest);
    /* a hub that keeps cut batches gets the larger ones named, to resume */
    if (r == 0 && c->resume_ok && c->q->body_len >= RESUME_MIN) {
        snprintf(c->q->batch_id, sizeof(c->q->batch_id), "sha256=%s", digest);
        c->q->resumable = 1;
        r = add_header(c, "X-Sikhnas-Batch: %s", c->q->batch_id);
    }
    if (r == 0 && prio > 0)
        r = add_header(c, "X-Sikhnas-Priority: 1");
    if (r == 0)
        r = 1;
    c->ramp = c->ramp < c->max_rows / 2 ? c->ramp * 2 : c->max_rows;
    log_debug("sync: batch of %d rows up to seq %lld: %zu bytes, %zu compressed (link %.0f "
              "bytes/s, ratio %.1f)", c->q->nrows, (long long)c->q->last_seq, plain_len,
              c->q->body_len, c->link_rate, c->ratio);
    return r;
out:
    push_buffers_free(c);
    return r;
}

/* Records, before a batch goes on the wire, that it may reach the hub: if
 * its answer is then lost (a cut, kill -9, a power cut), the next run knows
 * that the hub may hold rows still queued here, and asks before re-sending
 * them (probe_prepare). */
int sent_seq_mark(struct sync_client *c, int64_t last_seq)
{
    char v[24];
    int r;

    if (last_seq <= c->sent_seq)
        return 0;
    snprintf(v, sizeof(v), "%lld", (long long)last_seq);
    r = store_begin_bg(c->store);
    if (r == 0)
        r = store_meta_set(c->store, "sync.sent_seq", v);
    r = store_end(c->store, r);
    if (r < 0)
        return r;
    c->sent_seq = last_seq;
    return 0;
}

/* When queued entries were on the wire before (seq <= sent_seq) and their
 * answer never came back, the hub may have applied them: an empty batch
 * whose last_seq is just below the queue asks for the hub's acked_seq and
 * the refusals up to it (docs/protocol.md §4), and push_apply() drops what
 * the hub has. Nothing is sent twice, nothing renumbered. Returns 1 when a
 * probe is ready, 0 when none is needed, or -errno. */
int probe_prepare(struct sync_client *c)
{
    sqlite3_stmt *st = store_stmt(c->store,
        "SELECT min(seq) FROM outbox WHERE state = " OUTBOX_QUEUED_LIT);
    struct strbuf b = { .max = 1024 };
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
    r = strbuf_fmt(&b, "{\"v\":1,\"node\":\"%s\",\"last_seq\":%lld,\"hlc\":\"%llu\","
                   "\"tables\":[]}", store_node_id(c->store), (long long)(minq - 1),
                   (unsigned long long)hlc);
    if (r == 0) {
        sha256_hex(b.p, b.len, digest);
        r = identity_headers(c, hlc);
    }
    if (r == 0)
        r = add_header(c, "X-Sikhnas-Digest: sha256=%s", digest);
    r = set_body(c, &b, r);
    if (r > 0)
        log_info("sync: queued entries from seq %lld may have reached the hub in an earlier "
                 "run; asking for its high-water mark", (long long)minq);
    return r;
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
             " WHERE state = " OUTBOX_QUEUED_LIT " AND seq <= %lld;"
             "DELETE FROM outbox WHERE state = " OUTBOX_QUEUED_LIT " AND seq <= %lld;"
             "INSERT INTO outbox (tbl, row_id, hlc) SELECT tbl, row_id, hlc"
             " FROM sync_renumber ORDER BY seq;"
             "DROP TABLE sync_renumber;", (long long)acked, (long long)acked,
             (long long)acked);
    r = store_exec(c->store, sql);
    r = store_end(c->store, r);
    if (r < 0)
        return set_error(c, r, "cannot renumber the outbox: %s", strerror(-r));
    c->round_seq = INT64_MAX;           /* the renumbered entries belong to this round */
    return 0;
}

/* Deletes the queued entries up to hi that the answer did not refuse
 * (refused ones were marked first), and the refusals of rows now accepted. */
static int drop_acked(struct sync_client *c, int64_t hi)
{
    static const char *const sql[] = {
        /* a row that is now accepted clears the refusals of its older
         * versions; from the refused entries (outbox_refused, mostly none),
         * not from the batch's ("row_id IN (SELECT ...)" was planned as a
         * look-up per row sent) */
        "DELETE FROM outbox WHERE state = " OUTBOX_REFUSED_LIT " AND seq < ?1 AND EXISTS "
        "(SELECT 1 FROM outbox AS o WHERE o.row_id = outbox.row_id AND o.seq <= ?1"
        " AND o.state = " OUTBOX_QUEUED_LIT ")",
        "DELETE FROM outbox WHERE seq <= ?1 AND state = " OUTBOX_QUEUED_LIT,
    };
    int r = 0;

    for (size_t i = 0; r == 0 && i < sizeof(sql) / sizeof(sql[0]); i++)
        r = store_run_int(c->store, sql[i], hi);
    return r;
}

/* Marks the outbox entry seq (<= hi) refused with the hub's reason; its
 * row's older queued entries were coalesced into it and go. Returns 1 when
 * marked, 0 when it was not queued, or -errno. */
static int mark_refused(struct sync_client *c, int64_t seq, int64_t hi, const char *msg)
{
    sqlite3_stmt *st = store_stmt(c->store,
        "UPDATE outbox SET state = " OUTBOX_REFUSED_LIT ", error = ?2 WHERE seq = ?1"
        " AND state = " OUTBOX_QUEUED_LIT);
    int r;

    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_text(st, 2, msg, -1, SQLITE_TRANSIENT);
    r = store_step_done(c->store, st);
    if (r < 0 || sqlite3_changes(store_db(c->store)) == 0)
        return r;
    st = store_stmt(c->store,
        "DELETE FROM outbox WHERE state = " OUTBOX_QUEUED_LIT " AND seq <= ?2 AND row_id = "
        "(SELECT row_id FROM outbox WHERE seq = ?1)");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int64(st, 2, hi);
    r = store_step_done(c->store, st);
    return r < 0 ? r : 1;
}

/* Rows with queued entries in (lo, hi]: what an earlier run delivered. */
static long long count_rows_between(struct sync_client *c, int64_t lo, int64_t hi)
{
    sqlite3_stmt *st = store_stmt(c->store, "SELECT count(DISTINCT row_id) FROM outbox "
        "WHERE state = " OUTBOX_QUEUED_LIT " AND seq > ?1 AND seq <= ?2");
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
int push_apply(struct sync_client *c)
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
    if (r == 0 && hi > c->q->last_seq) {
        /* rows of the batch sent after this one, still in flight, are that
         * batch's to count when its answer comes (the hub may have applied
         * it before answering this one) */
        int64_t lo = c->q->last_seq;
        const struct sync_req *next = &c->req[(c->head + 1) % 2];
        if (c->nreq == 2 && next->phase == PH_PUSH && next->last_seq > lo)
            lo = next->last_seq;
        if (hi > lo)
            found = count_rows_between(c, lo, hi);
    }
    if (r == 0)
        r = drop_acked(c, hi);
    store_now_iso(now);
    if (r == 0)
        r = store_meta_set(c->store, "sync.last_push_ok", now);
    r = store_end(c->store, r);
    if (r < 0) {
        set_error(c, r, "cannot record the hub's ack: %s (the batch will be sent again)",
                  strerror(-r));
        goto out;
    }
    if (found)
        log_notice("sync: the hub already had %lld row(s) up to seq %lld from an earlier, "
                   "interrupted run; not sending them again", found, (long long)hi);
    c->stats.rows_found_acked += found;
    if (c->q->probe && c->unanswered_bytes && hi >= c->unanswered_seq)
        c->stats.bytes_lost -= c->unanswered_bytes;   /* it came whole: not sent again */
    if (c->q->probe)
        c->unanswered_bytes = 0;
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

