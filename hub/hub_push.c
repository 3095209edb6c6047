/* hub_push.c - POST /v1/push: exactly-once apply of one batch.
 *
 * Decoding (digest, inflate, JSON, cell checks) runs on a worker thread.
 * Then, on one connection and in one transaction: in one round trip, begin,
 * lock the node's registry row, read its high-water mark and the version
 * of the reference data, and probe which of the batch's ids are stored
 * already; reload the hub's copy of the reference data if it is older
 * (hub_refcache.h); COPY the new rows that certainly pass every check
 * straight into their tables and the others into temporary tables
 * (hub_direct.h); then, in one pipeline, check the temporary tables' rows
 * against the reference data, refuse the rows that would change another
 * district's row or relabel an origin, log conflicts, upsert
 * last-writer-wins, store refusals, move the high-water mark and write the
 * ledger row (push_batch) that the metrics count from; COMMIT; only then
 * answer 200. A failure before COMMIT rolls everything back; a lost COMMIT
 * answer is a 503, the re-sent batch is then acknowledged as a duplicate,
 * and hub_ledger.c finds out whether the lost attempt committed, to count
 * its rows once. A node that keeps two batches in flight has the second
 * decoded while the first is applied.
 *
 * A batch that names its predecessor (base_seq) waits, decoded, until the
 * batches of its node that arrived before it hold the node's lock (or are
 * finished): the node's batches then take the lock in the order they
 * arrived, instead of a 409 when the second one's decoding happens to
 * finish first. It waits without a database connection, so waiting batches
 * can never hold every connection while the batch they wait for needs one.
 *
 * Before any of that, a batch asks for admission (hub_admit.h): at most
 * --admit batches are decoded and applied at once, --admit-queue more wait
 * undecoded, the rest are answered 429 at once with a Retry-After. */
#include "hub.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hub_admit.h"
#include "hub_batch.h"
#include "hub_direct.h"
#include "hub_refcache.h"
#include "hub_resume.h"
#include "log.h"

/* The answers of a batch that was not applied */
#define LOST    "database connection lost; re-send the batch"
#define REFUSED "the database refused the batch; nothing applied"

struct push_job {
    struct hub         *h;
    const struct http_req *req;
    const char         *body;           /* the batch: req's body, or a resumed whole */
    size_t              body_len;
    char               *resumed;        /* the resumed whole (hub_resume.h), owned */
    char                digest[HUB_HDR_DIGEST];   /* X-Sikhnas-Digest, "" when absent */
    struct hub_identity id;
    uv_work_t           work;
    enum batch_enc      enc;
    struct batch        b;
    int                 rc;
    int                 status;
    struct db_conn     *c;
    int64_t             acked;
    int                 ndup;
    int                 nsent;
    int                 present[16];    /* the table has rows above acked */
    int                 next_table;
    int                 next_direct;    /* 1: next_table's direct rows are COPYed */
    struct direct_split split[16];      /* each table's rows: direct, or the SQL way */
    struct strset      *existing[16];   /* each table's ids stored already (NULL: none) */
    int                 ndirect;        /* rows applied by the direct path */
    int64_t             ref_version;    /* of the reference data, read in the transaction */
    int                 no_direct;      /* the direct COPY failed: every row the SQL way */
    int                 savepoint;      /* SAVEPOINT direct was sent (before the first COPY) */
    int                 copying_direct; /* the COPY in flight is a direct one */
    struct sql_list     sql;           /* the statements in flight */
    uint64_t            attempt;       /* the hub's HLC for the apply: push_batch.batch_hlc */
    int                 ledger;        /* the apply writes a push_batch row */
    int                 ledger_idx;
    int                 refusal_idx;
    uint64_t            t_decoded, t_locked, t_copied, split_ns;    /* uv_hrtime(), for the debug log */
    struct hub_failure  fail;          /* for a ROLLBACK path */
    int64_t             fail_acked;     /* for a 409 */
    LIST_ENTRY(push_job) link;          /* h->pushes */
    int                 parked;         /* decoded, waiting for an earlier batch */
    int                 locked;         /* holds (or held) its node's registry row */
    struct admit_entry  adm;            /* asking for admission (hub_admit.c) */
    int                 admitted;       /* in h->pushes, counted by h->admit */
    uint64_t            t_admitted;     /* uv_hrtime() */
    /* decoding while applying: the decoder tells on (batch.h) */
    struct batch_stream bs;
    uv_async_t          async;          /* the decoder's ready() and more() */
    int                 async_on;       /* async is set up: closed at the end */
    int                 ready;          /* under bs.lock: the decoder called ready() */
    int                 decoding;       /* the worker thread runs */
    int                 decoded;        /* it ended: rc, status and b's error are its result */
    int                 started;        /* on its way to the database */
    int                 freeing;        /* job_free() waits for the worker */
    int                 streaming;      /* the direct COPYs go as the lines come */
    int                 copy_open;      /* a streamed COPY waits for more lines */
    int                 aborting;       /* the streamed COPY was failed on purpose:
                                         * 1 for the decoder, 2 for the split */
    int                 wait_decoded;   /* split_rows() waits for the whole batch */
    size_t              split_off[16];  /* bytes of each table's lines split so far */
    /* the probe aside: on a second connection, beside the lock and the COPY */
    struct db_conn     *pc;             /* its connection while it runs */
    int                 aside;          /* the probe went aside, not after the lock */
    int                 probing;        /* its answer is to come */
    int                 probe_found;    /* it found ids stored already */
    int                 wait_probe;     /* split_rows() waits for its answer */
    int                 reprobed;       /* the direct COPYs were redone with its ids */
};

static void on_conn(struct db_conn *c, void *ud);

/* 1 while a batch of j's node that arrived before j has not locked the node. */
static int earlier_pending(const struct push_job *j)
{
    for (const struct push_job *x = LIST_NEXT(j, link); x; x = LIST_NEXT(x, link))
        if (!x->locked && strcmp(x->id.node, j->id.node) == 0)
            return 1;
    return 0;
}

/* Starts the parked batches of node that no longer wait for an earlier one. */
static void wake_node(struct hub *h, const char *node)
{
    struct push_job *k;

again:
    LIST_FOREACH(k, &h->pushes, link)
        if (k->parked && strcmp(k->id.node, node) == 0 && !earlier_pending(k)) {
            k->parked = 0;
            db_acquire(h->db, on_conn, k);     /* may finish k at once: look again */
            goto again;
        }
}

static void job_closed(uv_handle_t *hd)
{
    struct push_job *j = hd->data;

    pthread_mutex_destroy(&j->bs.lock);
    free(j);
}

static void job_free(struct push_job *j)
{
    struct hub *h = j->h;
    char node[sizeof(j->id.node)];

    if (j->decoding || j->probing) {    /* the worker still writes into j->b, or the
                                         * probe aside is to answer: */
        pthread_mutex_lock(&j->bs.lock);     /* stop it, free j when both end */
        j->bs.cancel = 1;
        pthread_mutex_unlock(&j->bs.lock);
        j->freeing = 1;
        return;
    }

    int admitted = j->admitted;
    size_t bytes = j->adm.bytes;
    /* a batch that failed early says nothing of the database's pace */
    double service_ms = j->t_locked ? (double)(uv_hrtime() - j->t_admitted) / 1e6 : -1;

    if (admitted)
        LIST_REMOVE(j, link);
    snprintf(node, sizeof(node), "%s", j->id.node);
    batch_clear(&j->b);
    sql_list_free(&j->sql);
    free(j->resumed);
    for (int i = 0; i < 16; i++) {
        direct_split_clear(&j->split[i]);
        strset_free(j->existing[i]);
    }
    if (j->async_on)
        uv_close((uv_handle_t *)&j->async, job_closed);
    else
        free(j);
    if (!admitted)
        return;
    wake_node(h, node);
    admit_leave(h->admit, bytes, service_ms, uv_now(h->loop));  /* may start waiting ones */
}

static void job_fail(struct push_job *j, int status, const char *code, const char *msg)
{
    if (j->c) {
        db_release(j->c);
        j->c = NULL;
    }
    if (status == 409) {
        struct strbuf s = { 0 };
        strbuf_fmt(&s, "{\"error\":\"%s\",\"message\":", code);
        strbuf_json_str(&s, msg);
        strbuf_fmt(&s, ",\"acked_seq\":%" PRId64 ",", j->fail_acked);
        hub_stamp(j->h, &s);
        strbuf_add(&s, "}", 1);
        log_info("push %s: 409 %s (acked_seq %" PRId64 ", base_seq %" PRId64 ")", j->id.node,
                 code, j->fail_acked, j->b.base_seq);
        hub_reply(j->h, j->req, "push", 409, "application/json", NULL,
                  s.err ? "{}" : s.p, s.err ? 2 : s.len);
        free(s.p);
    } else {
        hub_error(j->h, j->req, "push", status, code, msg);
    }
    job_free(j);
}

/* job_fail() for hub_rollback() */
static void answer_failure(void *job, int status, const char *code, const char *msg)
{
    job_fail(job, status, code, msg);
}

/* Ends the transaction without effect, then answers the error. */
static void job_rollback(struct push_job *j, int status, const char *code, const char *msg)
{
    hub_rollback(j->c, &j->fail, status, code, msg);
}

/* The answer's JSON: the high-water mark, the counts and the refusals rr. */
static void ack_json(struct push_job *j, struct strbuf *s, PGresult *rr, long applied,
                     long conflicts)
{
    int nref = rr ? PQntuples(rr) : 0;

    strbuf_fmt(s, "{\"v\":1,\"acked_seq\":%" PRId64 ",", j->acked > j->b.last_seq ?
             j->acked : j->b.last_seq);
    strbuf_fmt(s, "\"applied\":%ld,\"duplicate\":%d,\"conflicts\":%ld,\"refused\":[",
             applied, j->ndup, conflicts);
    for (int i = 0; i < nref; i++) {
        strbuf_fmt(s, "%s{\"seq\":%s,\"table\":", i ? "," : "", PQgetvalue(rr, i, 0));
        strbuf_json_str(s, PQgetvalue(rr, i, 1));
        strbuf_add(s, ",\"id\":", 6);
        strbuf_json_str(s, PQgetvalue(rr, i, 2));
        strbuf_add(s, ",\"code\":", 8);
        strbuf_json_str(s, PQgetvalue(rr, i, 3));
        strbuf_add(s, ",\"reason\":", 10);
        strbuf_json_str(s, PQgetvalue(rr, i, 4));
        strbuf_add(s, "}", 1);
    }
    strbuf_add(s, "],", 2);
    hub_stamp(j->h, s);
    strbuf_add(s, "}", 1);
}

static void on_applied(struct db_conn *c, PGresult **res, int nres, int err, void *ud)
{
    struct push_job *j = ud;
    struct hub *h = j->h;
    struct strbuf s = { 0 };
    PGresult *rr, *lr;
    long applied = 0, refused = 0, conflicts = 0;
    double secs;

    if (err == -ECONNRESET) {
        log_warning("push %s: database connection lost during the batch (seq <= %" PRId64
                    "); the node will re-send it", j->id.node, j->b.last_seq);
        if (j->ledger)                  /* it may have committed: find out, count it then */
            ledger_verify(h, j->id.node, j->id.district, j->attempt, j->ndup);
        job_fail(j, 503, "unavailable", LOST);
        return;
    }
    if (err < 0) {
        const char *msg = nres > 0 ? PQresultErrorMessage(res[nres - 1]) : "?";
        log_error("push %s: batch up to seq %" PRId64 " failed: %s", j->id.node,
                  j->b.last_seq, msg);
        job_rollback(j, 503, "unavailable", REFUSED);
        return;
    }
    /* the counts are what the ledger row committed, whatever the answer's fate */
    lr = j->ledger_idx >= 0 && j->ledger_idx < nres ? res[j->ledger_idx] : NULL;
    if (lr && PQntuples(lr) == 1) {
        applied = atol(PQgetvalue(lr, 0, 0));
        refused = atol(PQgetvalue(lr, 0, 1));
        conflicts = atol(PQgetvalue(lr, 0, 2));
    }
    rr = j->refusal_idx < nres ? res[j->refusal_idx] : NULL;
    db_release(j->c);
    j->c = NULL;
    ack_json(j, &s, rr, applied, conflicts);
    secs = (double)(uv_hrtime() - j->req->start_ns) / 1e9;
    metrics_batch(h->metrics, (uint64_t)applied, (uint64_t)j->ndup, (uint64_t)refused,
                  (uint64_t)conflicts, secs);
    metrics_admitted(h->metrics, (double)(j->t_admitted - j->req->start_ns) / 1e9,
                     (double)(uv_hrtime() - j->t_admitted) / 1e9);
    log_debug("push %s: seq <= %" PRId64 ": %ld applied (%d directly), %d duplicate, %ld "
              "refused, %ld conflicts, %.1f ms (decode %.1f, lock %.1f, copy %.1f, apply %.1f; "
              "split %.1f)",
              j->id.node, j->b.last_seq, applied, j->ndirect, j->ndup, refused,
              conflicts, secs * 1000, (double)(j->t_decoded - j->req->start_ns) / 1e6,
              (double)(j->t_locked - j->t_decoded) / 1e6,
              (double)(j->t_copied - j->t_locked) / 1e6,
              (double)(uv_hrtime() - j->t_copied) / 1e6, (double)j->split_ns / 1e6);
    if (s.err)
        hub_error(h, j->req, "push", 503, "unavailable", "out of memory after commit");
    else
        hub_reply(h, j->req, "push", 200, "application/json", NULL, s.p, s.len);
    free(s.p);
    job_free(j);
}

/* Keeps the rows above the high-water mark: counts them and marks the
 * tables that have any. Rows superseded inside the batch (a coalesced row)
 * have a negative seq and no line. */
static void count_rows(struct push_job *j)
{
    for (int i = 0; i < j->b.ntables; i++) {
        const struct batch_table *t = &j->b.tables[i];
        int keep = 0, dup = 0;
        for (int k = 0; k < t->nrows; k++) {
            if (t->seq[k] > j->acked)
                keep++;
            else if (t->seq[k] > 0)
                dup++;
        }
        j->nsent += keep;
        j->ndup += dup;
        j->present[i] = keep > 0;
    }
}

/* Adds the statements of j's temporary tables (the checks, batch_check_sql())
 * and of the apply (batch_apply_sql()) to j->sql. */
static int apply_sql(struct push_job *j)
{
    struct batch_apply a = { .acked = j->acked, .node = j->id.node,
                             .district = j->id.district, .duplicate = j->ndup,
                             .direct = j->ndirect,
                             .who_name = j->id.name[0] ? j->id.name : NULL,
                             .who_serial = j->id.serial[0] ? j->id.serial : NULL,
                             .who_address = j->req->peer };

    /* a ledger row when the batch changes anything: rows above the mark,
     * or the mark itself (a probe below the mark writes nothing) */
    j->ledger = a.ledger = j->nsent > 0 || j->b.last_seq > j->acked;
    j->attempt = a.attempt = hlc_tick(&j->h->clock, hlc_wall_ms());
    if (batch_check_sql(&j->sql, &j->b, j->present, j->id.district) < 0)
        return -ENOMEM;
    return batch_apply_sql(&j->sql, &j->b, j->present, &a, &j->ledger_idx, &j->refusal_idx);
}

/* Sends the statements of j->sql; cb gets their results, or j fails here. */
static void send_sql(struct push_job *j, db_result_cb cb)
{
    const struct db_query *q = sql_queries(&j->sql);

    if (!q)
        job_rollback(j, 503, "unavailable", "out of memory");
    else if (db_exec_params(j->c, q, j->sql.n, cb, j) < 0)
        job_fail(j, 503, "unavailable", LOST);
}

/* For the callback of a step: 0 when it went through, else 1 once j has
 * failed: on a lost connection at once, with lost for an answer; on an
 * error (logged as "push NODE: failed: ERROR") after ROLLBACK, with
 * refused. */
static int step_failed(struct push_job *j, PGresult **res, int nres, int err, const char *failed,
                       const char *lost, const char *refused)
{
    if (err == -ECONNRESET) {
        job_fail(j, 503, "unavailable", lost);
        return 1;
    }
    if (err < 0) {
        log_error("push %s: %s: %s", j->id.node, failed, db_error(res, nres));
        job_rollback(j, 503, "unavailable", refused);
        return 1;
    }
    return 0;
}

static void copy_next(struct push_job *j);

static void split_rows(struct push_job *j);

static void on_undone(struct db_conn *c, PGresult **res, int nres, int err, void *ud)
{
    struct push_job *j = ud;

    if (step_failed(j, res, nres, err, "ROLLBACK TO SAVEPOINT failed", LOST, REFUSED))
        return;
    if (j->probing)
        j->wait_probe = 1;              /* on_probed() splits them again */
    else
        split_rows(j);
}

static void on_copied(struct db_conn *c, PGresult **res, int nres, int err, void *ud)
{
    struct push_job *j = ud;

    j->copy_open = 0;
    if (j->aborting == 3) {             /* the probe aside found stored ids */
        j->aborting = 0;
        if (err == -ECONNRESET) {
            job_fail(j, 503, "unavailable", LOST);
            return;
        }
        log_info("push %s: ids stored already: the direct COPY again without them",
                 j->id.node);
        if (db_exec(j->c, "ROLLBACK TO SAVEPOINT direct", on_undone, j) < 0)
            job_fail(j, 503, "unavailable", LOST);
        return;
    }
    if (j->aborting) {                  /* the decoder (1) or the split (2) failed */
        if (err == -ECONNRESET)
            job_fail(j, 503, "unavailable", LOST);
        else if (j->aborting == 2)
            job_rollback(j, 503, "unavailable", "out of memory");
        else
            job_rollback(j, j->status, j->b.err_code, j->b.err_msg);
        return;
    }
    if (err == -EIO && j->copying_direct && !j->no_direct) {
        /* a row stored meanwhile (see hub_direct.h): undo every COPY, then
         * split them again with the ids the probe aside found (once), or
         * send every row the SQL way */
        if (j->aside && !j->reprobed && (j->probing || j->probe_found)) {
            log_info("push %s: the direct COPY failed (%s); again without the ids stored "
                     "already", j->id.node, db_error(res, nres));
            j->reprobed = 1;
        } else {
            log_info("push %s: the direct COPY failed (%s); every row the SQL way",
                     j->id.node, db_error(res, nres));
            j->no_direct = 1;
        }
        if (db_exec(j->c, "ROLLBACK TO SAVEPOINT direct", on_undone, j) < 0)
            job_fail(j, 503, "unavailable", LOST);
        return;
    }
    if (!step_failed(j, res, nres, err, "COPY failed", LOST, REFUSED))
        copy_next(j);
}

/* The COPY statement of table t, direct or into its temporary table; the
 * first of a batch with direct rows (or that streams them: it cannot know
 * yet) takes the savepoint on_copied() may come back to. malloc'd or NULL. */
static char *copy_sql(struct push_job *j, const struct batch_table *t, int direct)
{
    char *sql = direct ? direct_copy_sql(t) : batch_copy_sql(t);
    struct strbuf s = { 0 };

    if (!sql || j->savepoint || (j->ndirect == 0 && !j->streaming))
        return sql;
    j->savepoint = 1;
    strbuf_fmt(&s, "SAVEPOINT direct; %s", sql);
    free(sql);
    return strbuf_take(&s);
}

/* What the split needs of j. */
static struct direct_ctx split_ctx(const struct push_job *j)
{
    return (struct direct_ctx){ .rc = j->h->refcache, .node = j->id.node,
                                .district = j->id.district, .acked = j->acked,
                                .src_batch = j->b.last_seq, .src_hlc = j->b.hlc,
                                .no_direct = j->no_direct };
}

/* 1 when t has rows above the high-water mark (its seqs are known from
 * the decoder's ready() on). */
static int rows_above(const struct push_job *j, const struct batch_table *t)
{
    for (int k = 0; k < t->nrows; k++)
        if (t->seq[k] > j->acked)
            return 1;
    return 0;
}

/* Splits the lines of the streamed table that came since the last call,
 * and gives the COPY the direct ones; ends the COPY after the table's last
 * line, fails it when the decoder failed. The COPY's callback may run
 * before this returns. */
static void stream_pump(struct push_job *j)
{
    int i = j->next_table, done, r = 0, before;
    const struct batch_table *t = &j->b.tables[i];
    struct direct_split *s = &j->split[i];
    struct direct_ctx x = split_ctx(j);

    if (!j->copy_open)
        return;
    before = s->ndirect;
    pthread_mutex_lock(&j->bs.lock);
    done = t->done;
    if (t->copy_len > j->split_off[i]) {
        struct batch_table v = *t;      /* the new lines only */
        v.copy = t->copy + j->split_off[i];
        v.copy_len = t->copy_len - j->split_off[i];
        v.nrows = 0;
        r = direct_split(&x, &v, j->existing[i], s);
        j->split_off[i] = t->copy_len;
    }
    pthread_mutex_unlock(&j->bs.lock);
    if (r < 0 || (j->decoded && j->rc < 0 && !done)) {
        j->aborting = r < 0 ? 2 : 1;
        j->copy_open = 0;               /* ended here: no more for it */
        db_copy_more(j->c, s->direct.p, s->direct.len, -1);
        return;
    }
    j->ndirect += s->ndirect - before;
    if (done) {
        j->present[i] = s->ntmp > 0;    /* the SQL way: the temporary table's rows */
        j->copy_open = 0;               /* ended here: the decoder's last more() */
    }                                   /* finds nothing to do */
    db_copy_more(j->c, s->direct.p, s->direct.len, done);
}

/* Opens the streamed direct COPY of the next table, and gives it what is
 * decoded of it so far. */
static void stream_open(struct push_job *j)
{
    char *sql = copy_sql(j, &j->b.tables[j->next_table], 1);
    int r;

    if (!sql) {
        job_rollback(j, 503, "unavailable", "out of memory");
        return;
    }
    j->copying_direct = 1;
    j->next_direct = 1;                 /* then its other rows */
    r = db_copy_stream(j->c, sql, on_copied, j);
    free(sql);
    if (r < 0) {
        job_fail(j, 503, "unavailable", LOST);
        return;
    }
    j->copy_open = 1;
    stream_pump(j);
}

/* COPYs the next block: a table's direct rows into the table (streamed
 * while the decoder still makes them, or whole), then its other rows into
 * its temporary table; then checks and applies them all in one pipeline. */
static void copy_next(struct push_job *j)
{
    while (j->next_table < j->b.ntables) {
        const struct batch_table *t = &j->b.tables[j->next_table];
        struct direct_split *s = &j->split[j->next_table];
        int direct, r;
        char *sql;
        if (j->streaming && j->next_direct == 0) {
            if (rows_above(j, t)) {
                stream_open(j);
                return;
            }
            j->next_table++;
            continue;
        }
        if (j->next_direct == 0 && s->ndirect > 0) {
            direct = 1;
        } else if (s->ntmp > 0) {
            direct = 0;
        } else {
            j->next_table++;
            j->next_direct = 0;
            continue;
        }
        sql = copy_sql(j, t, direct);
        j->copying_direct = direct;
        if (!sql) {
            job_rollback(j, 503, "unavailable", "out of memory");
            return;
        }
        if (direct) {
            j->next_direct = 1;
            r = db_copy(j->c, sql, s->direct.p, s->direct.len, on_copied, j);
        } else {
            j->next_table++;
            j->next_direct = 0;
            r = db_copy(j->c, sql, s->tmp.p, s->tmp.len, on_copied, j);
        }
        free(sql);                      /* libpq has sent or buffered it */
        if (r < 0)
            job_fail(j, 503, "unavailable", LOST);
        return;
    }
    j->t_copied = uv_hrtime();
    sql_list_free(&j->sql);
    if (apply_sql(j) < 0) {
        job_rollback(j, 503, "unavailable", "out of memory");
        return;
    }
    send_sql(j, on_applied);
}

/* Splits every table block between the direct path and the temporary
 * table (hub_direct.h), against the reference data of h->refcache, then
 * COPYs them. */
static void split_rows(struct push_job *j)
{
    struct direct_ctx x = split_ctx(j);
    uint64_t t0 = uv_hrtime();

    if (j->decoded && j->rc < 0) {      /* the decoder failed after ready() */
        job_rollback(j, j->status, j->b.err_code, j->b.err_msg);
        return;
    }
    j->ndirect = 0;
    j->streaming = !j->decoded && !j->no_direct;
    if (!j->decoded && !j->streaming) {
        j->wait_decoded = 1;            /* decode_done() comes back */
        return;
    }
    for (int i = 0; i < j->b.ntables && j->streaming; i++) {
        direct_split_clear(&j->split[i]);
        j->split_off[i] = 0;
        j->present[i] = 0;
    }
    for (int i = 0; i < j->b.ntables && !j->streaming; i++) {
        struct direct_split *s = &j->split[i];
        const struct batch_table *t = &j->b.tables[i];
        int above = 0;
        direct_split_clear(s);
        for (int k = 0; k < t->nrows && !above; k++)
            above = t->seq[k] > j->acked;
        j->present[i] = 0;
        if (!above)
            continue;
        if (direct_split(&x, t, j->existing[i], s) < 0) {
            job_rollback(j, 503, "unavailable", "out of memory");
            return;
        }
        j->ndirect += s->ndirect;
        j->present[i] = s->ntmp > 0;    /* the SQL way: the temporary table's rows */
    }
    j->split_ns += uv_hrtime() - t0;
    j->next_table = 0;
    j->next_direct = 0;
    copy_next(j);
}

static void on_reloaded(struct db_conn *c, PGresult **res, int nres, int err, void *ud)
{
    struct push_job *j = ud;
    int r;

    if (step_failed(j, res, nres, err, "reading the reference data failed", LOST, REFUSED))
        return;
    r = nres == 1 ? refcache_load(j->h->refcache, res[0]) : -EBADMSG;
    if (r < 0 || refcache_version(j->h->refcache) < j->ref_version) {
        log_error("push %s: cannot load the reference data (%s)", j->id.node,
                  r < 0 ? strerror(-r) : "older than the version read");
        job_rollback(j, 503, "unavailable", "the database is not ready");
        return;
    }
    log_info("reference data: version %" PRId64 " loaded", refcache_version(j->h->refcache));
    split_rows(j);
}

/* Keeps the ids that the probes of the batch's tables found (the results
 * after the lock's, in the order of the tables with rows). 0 or -ENOMEM. */
static int keep_probes(struct push_job *j, PGresult **res, int nres, int first)
{
    for (int i = 0, k = first; i < j->b.ntables; i++) {
        if (j->b.tables[i].nrows == 0)
            continue;
        if (k >= nres)
            return -EBADMSG;
        if (PQntuples(res[k]) > 0 && !(j->existing[i] = strset_of(res[k], 0)))
            return -ENOMEM;
        k++;
    }
    return 0;
}

/* Results of lock_node(): BEGIN, SET, INSERT node, the lock, the version,
 * then one probe per table with rows. */
#define LOCK_AT 3

static void on_locked(struct db_conn *c, PGresult **res, int nres, int err, void *ud)
{
    struct push_job *j = ud;
    PGresult *lr = nres > LOCK_AT ? res[LOCK_AT] : NULL;
    int r;

    if (err == -ECONNRESET) {
        job_fail(j, 503, "unavailable", LOST);
        return;
    }
    if (err < 0 || !lr || PQntuples(lr) != 1 || nres <= LOCK_AT + 1 ||
        PQntuples(res[LOCK_AT + 1]) != 1) {
        log_error("push %s: cannot lock the node: %s", j->id.node,
                  err < 0 ? db_error(res, nres) : "no result");
        job_rollback(j, 503, "unavailable", "the database is not ready");
        return;
    }
    j->locked = 1;
    wake_node(j->h, j->id.node);        /* the node's next batch may queue for the lock */
    if (strcmp(PQgetvalue(lr, 0, 0), j->id.district) != 0) {
        job_rollback(j, 403, "district_mismatch",
                     "this node id is registered with another district");
        return;
    }
    j->acked = strtoll(PQgetvalue(lr, 0, 1), NULL, 10);
    j->ref_version = strtoll(PQgetvalue(res[LOCK_AT + 1], 0, 0), NULL, 10);
    j->t_locked = uv_hrtime();
    if (j->b.base_seq > j->acked) {
        /* its predecessor is not applied (yet, or it failed): applying this
         * one would move the mark past rows that never arrived */
        j->fail_acked = j->acked;
        job_rollback(j, 409, "out_of_order",
                     "the batch before this one (base_seq) is not applied; re-send from "
                     "acked_seq");
        return;
    }
    count_rows(j);
    r = j->aside ? 0 : keep_probes(j, res, nres, LOCK_AT + 2);
    if (r < 0) {
        job_rollback(j, 503, "unavailable", r == -ENOMEM ? "out of memory" :
                     "the database is not ready");
        return;
    }
    if (refcache_version(j->h->refcache) >= j->ref_version) {
        split_rows(j);
        return;
    }
    /* the reference data moved since the copy was made: reload it in this
     * transaction, before any row is checked against it */
    if (db_exec(j->c, REFCACHE_LOAD_SQL, on_reloaded, j) < 0)
        job_fail(j, 503, "unavailable", LOST);
}

/* The answer of the probe aside: the ids stored already, for the split
 * (the direct COPY does not wait for it: the primary key refuses a stored
 * id anyway, and on_copied() then splits again). When it found any while
 * the streamed direct COPY runs, that COPY is failed at once and redone
 * without them. */
static void on_probed(struct db_conn *c, PGresult **res, int nres, int err, void *ud)
{
    struct push_job *j = ud;

    j->probing = 0;
    if (err == 0 && keep_probes(j, res, nres, 0) < 0)
        err = -ENOMEM;
    if (err < 0)                        /* no answer: the COPY's own check stands */
        log_warning("push %s: the probe failed: %s", j->id.node,
                    err == -ENOMEM ? "out of memory" : db_error(res, nres));
    db_release(c);
    j->pc = NULL;
    if (j->freeing) {                   /* answered meanwhile */
        j->freeing = 0;
        job_free(j);
        return;
    }
    for (int i = 0; i < j->b.ntables; i++)
        j->probe_found |= j->existing[i] != NULL;
    if (j->wait_probe) {
        j->wait_probe = 0;
        split_rows(j);
    } else if (j->probe_found && j->copy_open && j->copying_direct && !j->aborting &&
               !j->reprobed) {
        struct direct_split *s = &j->split[j->next_table];
        j->reprobed = 1;
        j->aborting = 3;
        j->copy_open = 0;
        db_copy_more(j->c, s->direct.p, s->direct.len, -1);     /* may call back */
    }
}

/* Begins the batch's transaction, makes the node's registry row on first
 * contact, locks it and reads its high-water mark (waiting there while the
 * node's previous batch commits), reads the version of the reference data
 * and finds which of the batch's ids are stored already: one round trip.
 * When a second connection is free, the ids are probed on it instead, at
 * the same time, and the COPY does not wait for them (on_probed()). */
static void lock_node(struct push_job *j)
{
    const char *const p[] = { j->id.node, j->id.district };
    const char *pp[16][2];
    struct db_query q[5 + 16], pq[16];
    char *probe[16] = { 0 };
    int n = 0, np = 0, r = -ENOMEM;

    q[n++] = (struct db_query){ "BEGIN", 0, NULL };
    q[n++] = (struct db_query){ "SET LOCAL sikhnas.writer = 'hub'", 0, NULL };
    q[n++] = (struct db_query){ "INSERT INTO node (node_id, district) VALUES ($1, $2) "
                                "ON CONFLICT (node_id) DO NOTHING", 2, p };
    q[n++] = (struct db_query){ "SELECT district, acked_seq FROM node WHERE node_id = $1 "
                                "FOR UPDATE", 1, p };
    q[n++] = (struct db_query){ REFCACHE_VERSION_SQL, 0, NULL };
    for (int i = 0; i < j->b.ntables; i++) {
        if (j->b.tables[i].nrows == 0)
            continue;
        probe[i] = direct_probe_sql(&j->b.tables[i]);
        if (!probe[i])
            goto out;
        pp[np][0] = j->b.tables[i].ids;
        pp[np][1] = j->id.node;
        pq[np] = (struct db_query){ probe[i], 2, pp[np] };
        np++;
    }
    if (np > 0 && (j->pc = db_try_acquire(j->h->db))) {
        if (db_exec_params(j->pc, pq, np, on_probed, j) == 0) {
            j->aside = j->probing = 1;
        } else {
            db_release(j->pc);
            j->pc = NULL;
        }
    }
    for (int i = 0; i < np && !j->aside; i++)
        q[n++] = pq[i];
    r = db_exec_params(j->c, q, n, on_locked, j);
out:
    for (int i = 0; i < 16; i++)
        free(probe[i]);                 /* libpq has sent or buffered them */
    if (r == -ENOMEM)
        job_rollback(j, 503, "unavailable", "out of memory");
    else if (r < 0)
        job_fail(j, 503, "unavailable", LOST);
}

static void on_conn(struct db_conn *c, void *ud)
{
    struct push_job *j = ud;

    if (!c) {
        job_fail(j, 503, "unavailable", "the database is unavailable; retry later");
        return;
    }
    j->c = c;
    lock_node(j);
}

/* The decoder's ready() and more(), on its thread: wake the loop. */
static void on_ready(struct batch_stream *bs)
{
    struct push_job *j = (struct push_job *)((char *)bs - offsetof(struct push_job, bs));

    pthread_mutex_lock(&bs->lock);
    j->ready = 1;
    pthread_mutex_unlock(&bs->lock);
    uv_async_send(&j->async);
}

static void on_more(struct batch_stream *bs)
{
    uv_async_send(&((struct push_job *)((char *)bs - offsetof(struct push_job, bs)))->async);
}

static void decode_work(uv_work_t *w)
{
    struct push_job *j = w->data;

    j->rc = batch_decode_stream(&j->b, j->body, j->body_len, j->enc,
                                j->digest[0] ? j->digest : NULL, j->id.node, hlc_wall_ms(),
                                &j->status, &j->bs);
}

/* The head, the seqs and the ids are decoded (the lines are coming, or
 * there): on to the database. */
static void head_decoded(struct push_job *j)
{
    unsigned dict;

    j->started = 1;
    j->t_decoded = uv_hrtime();
    metrics_bytes(j->h->metrics, "in", j->body_len, j->b.plain_len);
    dict = j->enc == ENC_ZSTD ? batch_frame_dict(j->body, j->body_len) : 0;
    metrics_push_encoding(j->h->metrics, dict == BATCH_DICT_ID ? 3 :
                                         dict == BATCH_COLDICT_ID ? 5 :
                                         dict == BATCH_COLDICT2_ID ? 7 : (int)j->enc);
    if (j->b.columnar)
        metrics_push_encoding(j->h->metrics, j->b.columnar == 2 ? 6 : 4);
    if (j->b.base_seq >= 0 && earlier_pending(j)) {
        j->parked = 1;                  /* the earlier one wakes it: locked, or ended */
        return;
    }
    db_acquire(j->h->db, on_conn, j);
}

/* Acts on what the decoder has done since: its head, more lines, its end. */
static void poke(struct push_job *j)
{
    int ready;

    if (j->freeing)
        return;
    pthread_mutex_lock(&j->bs.lock);
    ready = j->ready;
    pthread_mutex_unlock(&j->bs.lock);
    if (ready && !j->started) {
        head_decoded(j);                /* may end j */
    } else if (j->copy_open) {
        stream_pump(j);                 /* may end j */
    } else if (j->wait_decoded && j->decoded) {
        j->wait_decoded = 0;
        split_rows(j);
    }
}

static void on_async(uv_async_t *a)
{
    poke(a->data);
}

static void decode_done(uv_work_t *w, int status)
{
    struct push_job *j = w->data;

    j->decoding = 0;
    j->decoded = 1;
    if (j->freeing) {                   /* answered meanwhile: only the freeing is left */
        j->freeing = 0;
        job_free(j);
        return;
    }
    if (j->rc < 0 && !j->started) {
        j->t_decoded = uv_hrtime();
        metrics_bytes(j->h->metrics, "in", j->body_len, j->b.plain_len);
        if (strcmp(j->b.err_code, "digest_mismatch") == 0)   /* tampering, or a bad link */
            hub_audit_limited(j->h, &j->id, j->req->peer, "push",
                              j->b.err_code, j->b.err_msg);
        job_fail(j, j->status, j->b.err_code, j->b.err_msg);
        return;
    }
    poke(j);
}

/* Admitted: decodes it on a worker thread, and goes on to the database as
 * soon as its head is decoded. */
static void start_decode(struct push_job *j)
{
    struct hub *h = j->h;

    j->admitted = 1;
    j->t_admitted = uv_hrtime();
    LIST_INSERT_HEAD(&h->pushes, j, link);
    j->bs.ready = on_ready;
    j->bs.more = on_more;
    if (pthread_mutex_init(&j->bs.lock, NULL) != 0)
        goto fail;
    if (uv_async_init(h->loop, &j->async, on_async) < 0) {
        pthread_mutex_destroy(&j->bs.lock);
        goto fail;
    }
    j->async.data = j;
    j->async_on = 1;
    j->decoding = 1;
    if (uv_queue_work(h->loop, &j->work, decode_work, decode_done) == 0)
        return;
    j->decoding = 0;
fail:
    hub_error(h, j->req, "push", 503, "unavailable", "cannot queue the batch");
    job_free(j);
}

static void admitted_later(struct admit_entry *e)
{
    start_decode((struct push_job *)((char *)e - offsetof(struct push_job, adm)));
}

/* The answer to a batch the hub has no room for now. */
static void busy(struct push_job *j, unsigned retry_s)
{
    char msg[96];

    snprintf(msg, sizeof(msg), "the hub is busy; send the batch again in %u s", retry_s);
    hub_error_retry(j->h, j->req, "push", 429, "busy", msg, retry_s);
    job_free(j);
}

static void pushed_out(struct admit_entry *e, unsigned retry_s)
{
    busy((struct push_job *)((char *)e - offsetof(struct push_job, adm)), retry_s);
}

void hub_push(struct hub *h, const struct http_req *req, const struct hub_identity *id)
{
    struct push_job *j;
    char e[HUB_HDR_ENCODING], prio[8];
    unsigned retry_s = 0;
    char *resumed;
    size_t len;
    int enc, r;

    if (hub_resume_body(h, req, id, &resumed, &len) < 0)
        return;                         /* a resume that does not fit: answered */
    j = hub_job_new(h, req, "push", sizeof(*j));
    if (!j) {
        free(resumed);
        return;
    }
    j->h = h;
    j->req = req;
    j->resumed = resumed;
    j->body = resumed ? resumed : req->body;
    j->body_len = resumed ? len : req->body_len;
    j->id = *id;
    j->fail = (struct hub_failure){ .answer = answer_failure, .job = j };
    /* hub_identity_check() refused values too long for these */
    (void) hub_header(req, "Content-Encoding", e, sizeof(e));
    (void) hub_header(req, "X-Sikhnas-Digest", j->digest, sizeof(j->digest));
    enc = batch_enc_parse(e);
    if (enc < 0) {
        free(j->resumed);
        free(j);
        hub_error(h, req, "push", 415, "unsupported_encoding", "use zstd, gzip or identity");
        return;
    }
    j->enc = (enum batch_enc)enc;
    j->work.data = j;
    j->adm.start = admitted_later;
    j->adm.refuse = pushed_out;
    j->adm.bytes = batch_plain_size(req->body, req->body_len, j->enc);
    /* a node that holds a priority report says so; anything else is routine */
    if (hub_header(req, "X-Sikhnas-Priority", prio, sizeof(prio)) < 0)
        prio[0] = '\0';
    r = admit_enter(h->admit, &j->adm, id->node, strcmp(prio, "1") == 0, uv_now(h->loop),
                    &retry_s);
    if (r == 1)
        start_decode(j);
    else if (r < 0)
        busy(j, retry_s);
}
