/* hub_ledger.c - the push ledger (push_batch, schema/central/003_push_ledger.sql)
 * on the hub's side.
 *
 * Every push transaction that changes something writes its push_batch row,
 * keyed by (node, the hub's HLC for that attempt), and the metrics count
 * the rows that row says were committed. When the answer to the COMMIT is
 * lost with its connection, the hub cannot tell whether the attempt
 * committed; ledger_verify() finds out on a fresh connection and counts its
 * rows then (the node's re-send is a duplicate, and is counted as one). The
 * lost transaction may still be running (its backend can outlive the
 * connection the hub saw die), so the look-up first waits for it: it holds
 * the node's registry row locked until it ends, and when that row is new
 * (the node's first batch) an insert of the same row waits for it too. The
 * answer is then final. The look-up is retried with backoff while the
 * database is away, a bounded number of times, and logged.
 *
 * The ledger is also pruned here: rows older than 30 days, once an hour. */
#include "hub.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/queue.h>
#include <string.h>

#include "log.h"

#define VERIFY_FIRST_MS  100
#define VERIFY_MAX_MS    30000
#define VERIFY_TRIES     24          /* some ten minutes in all */
#define PRUNE_FIRST_MS   2000
#define PRUNE_EVERY_MS   (60u * 60 * 1000)
#define PRUNE_RETRY_MS   60000
#define LEDGER_DAYS      30
#define STR_(x)          #x
#define STR(x)           STR_(x)

struct verify {
    struct hub_ledger *l;
    LIST_ENTRY(verify) link;            /* l->pending */
    uv_timer_t         timer;           /* the memory is freed in its close callback */
    char               node[37];
    char               district[5];
    uint64_t           attempt;
    int                duplicate;
    unsigned           tries, delay_ms;
    int                in_db;           /* waiting for a connection or an answer */
};

struct hub_ledger {
    struct hub    *h;
    uv_timer_t     prune;
    LIST_HEAD(, verify) pending;
    int            stopping;
};

static void verify_run(uv_timer_t *t);

static void verify_closed(uv_handle_t *hd)
{
    free(hd->data);
}

/* Forgets v (unlinks it; its memory goes with its timer's close). */
static void verify_end(struct verify *v)
{
    LIST_REMOVE(v, link);
    uv_close((uv_handle_t *)&v->timer, verify_closed);
}

static void verify_retry(struct verify *v, const char *why)
{
    v->in_db = 0;
    if (v->l->stopping || v->tries >= VERIFY_TRIES) {
        log_warning("push %s: whether the batch whose answer was lost (attempt %" PRIu64
                    ") committed is not known (%s, %u tries); its rows are not in the "
                    "metrics: see push_batch", v->node, v->attempt, why, v->tries);
        verify_end(v);
        return;
    }
    log_debug("push %s: ledger check of attempt %" PRIu64 ": %s; again in %u ms", v->node,
              v->attempt, why, v->delay_ms);
    uv_timer_start(&v->timer, verify_run, v->delay_ms, 0);
    v->delay_ms = v->delay_ms * 2 > VERIFY_MAX_MS ? VERIFY_MAX_MS : v->delay_ms * 2;
}

static void verify_rolled_back(struct db_conn *c, PGresult **res, int nres, int err, void *ud)
{
    db_release(c);
    verify_retry(ud, "the look-up failed");
}

static void verify_done(struct db_conn *c, PGresult **res, int nres, int err, void *ud)
{
    struct verify *v = ud;
    struct hub *h = v->l->h;
    PGresult *r = nres == 6 ? res[4] : NULL;    /* BEGIN, SET, INSERT, FOR SHARE, ledger */

    if (err == -EIO) {                          /* e.g. lock_timeout: the transaction is open */
        log_debug("push %s: ledger look-up: %s", v->node, nres > 0 ? db_error(res, nres) : "?");
        if (db_exec(c, "ROLLBACK", verify_rolled_back, v) == 0)
            return;
    }
    /* (the look-up ends with ROLLBACK: the node row it may have inserted goes) */
    db_release(c);
    if (err < 0 || !r) {
        verify_retry(v, err == -ECONNRESET ? "connection lost" : "the look-up failed");
        return;
    }
    if (PQntuples(r) == 1) {
        long applied = atol(PQgetvalue(r, 0, 0)), refused = atol(PQgetvalue(r, 0, 1));
        long conflicts = atol(PQgetvalue(r, 0, 2));
        metrics_batch(h->metrics, (uint64_t)applied, (uint64_t)v->duplicate,
                      (uint64_t)refused, (uint64_t)conflicts, -1);
        log_notice("push %s: the batch whose answer was lost (attempt %" PRIu64 ") had "
                   "committed: %ld applied, %ld refused; counted now", v->node, v->attempt,
                   applied, refused);
    } else {
        log_info("push %s: the batch whose answer was lost (attempt %" PRIu64 ") did not "
                 "commit", v->node, v->attempt);
    }
    verify_end(v);
}

static void verify_conn(struct db_conn *c, void *ud)
{
    struct verify *v = ud;
    char attempt[24];
    const char *const p[] = { v->node, v->district };
    const char *const mark[] = { v->node, attempt };
    const struct db_query q[] = {
        { "BEGIN", 0, NULL },
        { "SET LOCAL lock_timeout = '5s'", 0, NULL },
        { "INSERT INTO node (node_id, district) VALUES ($1, $2) ON CONFLICT DO NOTHING", 2, p },
        { "SELECT 1 FROM node WHERE node_id = $1 FOR SHARE", 1, p },
        { "SELECT applied, refused, conflicts FROM push_batch WHERE node_id = $1 "
          "AND batch_hlc = $2::bigint", 2, mark },
        { "ROLLBACK", 0, NULL },
    };

    if (!c) {
        verify_retry(v, "the database is unavailable");
        return;
    }
    if (v->l->stopping) {
        db_release(c);
        verify_retry(v, "the hub is stopping");
        return;
    }
    snprintf(attempt, sizeof(attempt), "%lld", (long long)v->attempt);
    if (db_exec_params(c, q, 6, verify_done, v) < 0) {
        db_release(c);
        verify_retry(v, "connection lost");
    }
}

static void verify_run(uv_timer_t *t)
{
    struct verify *v = t->data;

    v->tries++;
    v->in_db = 1;
    db_acquire(v->l->h->db, verify_conn, v);
}

void ledger_verify(struct hub *h, const char *node, const char *district, uint64_t attempt,
                   int duplicate)
{
    struct hub_ledger *l = h->ledger;
    struct verify *v;

    if (!l || l->stopping || !(v = calloc(1, sizeof(*v)))) {
        log_warning("push %s: cannot check whether the batch whose answer was lost "
                    "(attempt %" PRIu64 ") committed; see push_batch", node, attempt);
        return;
    }
    v->l = l;
    snprintf(v->node, sizeof(v->node), "%s", node);
    snprintf(v->district, sizeof(v->district), "%s", district);
    v->attempt = attempt;
    v->duplicate = duplicate;
    v->delay_ms = VERIFY_FIRST_MS;
    uv_timer_init(h->loop, &v->timer);
    v->timer.data = v;
    LIST_INSERT_HEAD(&l->pending, v, link);
    verify_retry(v, "the answer to COMMIT was lost");
}

/* ------------------------------------------------------------ pruning */

static void prune_run(uv_timer_t *t);

static void prune_again(struct hub_ledger *l, unsigned ms)
{
    if (!l->stopping)
        uv_timer_start(&l->prune, prune_run, ms, 0);
}

static void prune_done(struct db_conn *c, PGresult **res, int nres, int err, void *ud)
{
    struct hub_ledger *l = ud;

    if (err < 0) {
        log_warning("ledger: pruning push_batch failed: %s",
                    nres > 0 ? PQresultErrorMessage(res[nres - 1]) : "connection lost");
        db_release(c);
        prune_again(l, PRUNE_RETRY_MS);
        return;
    }
    if (nres > 0 && atol(PQcmdTuples(res[nres - 1])) > 0)
        log_info("ledger: %s push_batch rows older than %d days removed",
                 PQcmdTuples(res[nres - 1]), LEDGER_DAYS);
    db_release(c);
    prune_again(l, PRUNE_EVERY_MS);
}

static void prune_conn(struct db_conn *c, void *ud)
{
    struct hub_ledger *l = ud;
    static const char days[] = STR(LEDGER_DAYS);
    const char *const p[] = { days };
    const struct db_query q = {
        "DELETE FROM push_batch WHERE at < now() - make_interval(days => $1::int)", 1, p };

    if (!c || l->stopping) {
        if (c)
            db_release(c);
        prune_again(l, PRUNE_RETRY_MS);
        return;
    }
    if (db_exec_params(c, &q, 1, prune_done, l) < 0) {
        db_release(c);
        prune_again(l, PRUNE_RETRY_MS);
    }
}

static void prune_run(uv_timer_t *t)
{
    struct hub_ledger *l = t->data;

    db_acquire(l->h->db, prune_conn, l);
}

int ledger_start(struct hub *h)
{
    struct hub_ledger *l = calloc(1, sizeof(*l));

    if (!l)
        return -ENOMEM;
    l->h = h;
    uv_timer_init(h->loop, &l->prune);
    l->prune.data = l;
    uv_timer_start(&l->prune, prune_run, PRUNE_FIRST_MS, 0);
    h->ledger = l;
    return 0;
}

static void noop_closed(uv_handle_t *hd) { (void) hd; }

void ledger_stop(struct hub *h)
{
    struct hub_ledger *l = h->ledger;
    struct verify *v, *next;

    if (!l || l->stopping)
        return;
    l->stopping = 1;
    uv_close((uv_handle_t *)&l->prune, noop_closed);
    for (v = LIST_FIRST(&l->pending); v; v = next) {
        next = LIST_NEXT(v, link);
        if (!v->in_db)                  /* the others end when their callback runs */
            verify_retry(v, "the hub is stopping");
    }
}

void ledger_free(struct hub_ledger *l)
{
    free(l);
}
