/* hub_db.c - asynchronous libpq on the libuv loop (see hub_db.h).
 *
 * While connecting, libpq may switch sockets (one per host it tries), so the
 * connect phase is driven by a 2 ms timer that asks poll(2), with a zero
 * timeout, whether the socket libpq currently wants is ready; only then is
 * PQconnectPoll called. Once connected, a uv_poll on the final socket drives
 * everything, and idle connections are watched too, so a server that goes
 * away is noticed before the next request needs it. */
#include "hub_db.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define DB_CONNECT_TIMEOUT_MS 5000   /* per attempt, unless connect_timeout says otherwise */
#define DB_BACKOFF_MIN_MS     100
#define DB_BACKOFF_MAX_MS     1000   /* a failover takes ~10 s: be back within a second of it */
#define DB_MAX_WAITERS        4096
#define DB_COPY_CHUNK         (256u << 10)

enum conn_state { CS_DOWN, CS_CONNECTING, CS_SETUP, CS_IDLE, CS_BUSY, CS_BROKEN };
enum op { OP_NONE, OP_EXEC, OP_COPY, OP_PIPELINE };

struct pgpoll {                 /* freed in its close callback */
    uv_poll_t     h;
    struct db_pool *pool;
    int           fd;           /* the socket it polls */
};

struct db_conn {
    struct db_pool *pool;
    int             idx;
    enum conn_state state;
    PGconn         *pg;
    struct pgpoll  *pp;
    int             poll_events;
    uv_timer_t      timer;      /* connect polling and backoff */
    PostgresPollingStatusType cstat;
    uint64_t        connect_start;
    unsigned        backoff_ms;
    unsigned        rotate;     /* hosts to rotate the list by: bumped when an attempt hangs */
    int             reserved;   /* handed to a caller (CS_BUSY or CS_BROKEN) */
    /* the operation in flight */
    enum op         op;
    const char     *copy_data;
    size_t          copy_len, copy_off;
    int             copy_phase; /* 0 not yet, 1 sending, 2 ended */
    int             copy_open;  /* 1: db_copy_more() may add data */
    const char     *copy_abort; /* ends the COPY with this error (NULL: ends it well) */
    PGresult       *res[DB_MAX_RESULTS];
    int             nres;
    int             failed;
    db_result_cb    cb;
    void           *ud;
};

struct waiter {
    db_acquire_cb  cb;
    void          *ud;
};

struct db_pool {
    uv_loop_t      *loop;
    char           *conninfo;
    PQconninfoOption *opts;     /* conninfo parsed, for rotating the host list */
    unsigned        connect_ms;
    char           *setup_sql;
    struct db_conn *conns;
    int             n;
    int             closing;
    int             open_handles;
    int             down_logged;
    void          (*done)(void *);
    void           *done_ud;
    struct waiter  *waiters;    /* ring */
    int             wq_head, wq_len;
};

static void conn_start(struct db_conn *c);
static void conn_poll_cb(uv_poll_t *h, int status, int events);
static void conn_setup_done(struct db_conn *c, PGresult **res, int nres, int err, void *ud);

static void pool_maybe_free(struct db_pool *p)
{
    if (!p->closing || p->open_handles > 0)
        return;
    free(p->waiters);
    free(p->conns);
    free(p->conninfo);
    PQconninfoFree(p->opts);
    free(p->setup_sql);
    if (p->done)
        p->done(p->done_ud);
    free(p);
}

static void pp_closed(uv_handle_t *h)
{
    struct pgpoll *pp = (struct pgpoll *)h;
    struct db_pool *p = pp->pool;

    free(pp);
    p->open_handles--;
    pool_maybe_free(p);
}

int db_pool_up(const struct db_pool *p)
{
    int up = 0;

    for (int i = 0; i < p->n; i++)
        up += p->conns[i].state == CS_IDLE || p->conns[i].state == CS_BUSY;
    return up;
}

/* Drops the libpq connection and its poll handle (the handle first: libuv
 * must stop watching the socket before PQfinish closes it). */
static void conn_teardown(struct db_conn *c)
{
    if (c->pp) {
        uv_close((uv_handle_t *)&c->pp->h, pp_closed);
        c->pp = NULL;
        c->poll_events = 0;
    }
    if (c->pg) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    for (int i = 0; i < c->nres; i++)
        PQclear(c->res[i]);
    c->nres = 0;
    c->op = OP_NONE;
    c->state = CS_DOWN;
}

static void waiters_fail_if_down(struct db_pool *p)
{
    /* nobody can serve them soon: tell the waiters now instead of hanging */
    if (db_pool_up(p) > 0)
        return;
    while (p->wq_len > 0) {
        struct waiter w = p->waiters[p->wq_head];
        p->wq_head = (p->wq_head + 1) % DB_MAX_WAITERS;
        p->wq_len--;
        w.cb(NULL, w.ud);
    }
}

static void retry_cb(uv_timer_t *t)
{
    conn_start(t->data);
}

/* Copies libpq's (multi-line) message why into out as one line. */
static void one_line(const char *why, char *out, size_t size)
{
    size_t n = 0;

    for (; why && *why && n + 1 < size; why++) {
        char ch = *why == '\n' || *why == '\t' ? ' ' : *why;
        if (ch == ' ' && (n == 0 || out[n - 1] == ' '))
            continue;
        out[n++] = ch;
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = 0;
}

/* Drops c and starts its next attempt after a backoff. why may point into
 * c's libpq connection (PQerrorMessage): it is copied before the teardown
 * frees that. */
static void conn_retry_later(struct db_conn *c, const char *why)
{
    struct db_pool *p = c->pool;
    char text[256];

    one_line(why, text, sizeof(text));
    why = text;
    conn_teardown(c);
    if (p->closing)
        return;
    if (!p->down_logged) {
        log_warning("database unavailable (%s); retrying with backoff", why);
        p->down_logged = 1;
    } else {
        log_debug("db conn %d: %s", c->idx, why);
    }
    c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : DB_BACKOFF_MIN_MS;
    if (c->backoff_ms > DB_BACKOFF_MAX_MS)
        c->backoff_ms = DB_BACKOFF_MAX_MS;
    uv_timer_stop(&c->timer);
    uv_timer_start(&c->timer, retry_cb, c->backoff_ms, 0);
    waiters_fail_if_down(p);
}

static void conn_lost(struct db_conn *c);

/* The loss conn_watch() found, told from the loop (see there). */
static void lost_later(uv_timer_t *t)
{
    struct db_conn *c = t->data;

    if (c->pp && (c->state == CS_SETUP || c->state == CS_IDLE || c->state == CS_BUSY))
        conn_lost(c);
}

static int conn_watch(struct db_conn *c, int events)
{
    if (!c->pp)
        return -EINVAL;
    if (PQsocket(c->pg) != c->pp->fd) {
        /* libpq closes the socket itself when it finds the connection lost
         * (a read at EOF, a failed send): polling that descriptor again
         * makes libuv abort (epoll_ctl: EBADF), and once a new connection
         * has reused the number, stopping the handle later would take it
         * from the new one. Stop now; the owner hears of the loss from the
         * loop (the timer is idle while connected; conn_start() replaces it). */
        uv_poll_stop(&c->pp->h);
        c->poll_events = 0;
        uv_timer_start(&c->timer, lost_later, 0, 0);
        return -ECONNRESET;
    }
    if (events == c->poll_events)
        return 0;
    c->poll_events = events;
    return uv_poll_start(&c->pp->h, events, conn_poll_cb);
}

static void connect_tick(uv_timer_t *t)
{
    struct db_conn *c = t->data;
    struct pollfd pfd;
    int fd;

    if (uv_now(c->pool->loop) - c->connect_start > c->pool->connect_ms) {
        /* libpq enforces no connect_timeout on an asynchronous connection and
         * cannot be told to skip a host that hangs: start the next attempt
         * from the next host of the list instead */
        uv_timer_stop(&c->timer);
        c->rotate++;
        conn_retry_later(c, "connect timed out");
        return;
    }
    fd = PQsocket(c->pg);
    if (fd < 0) {
        uv_timer_stop(&c->timer);
        conn_retry_later(c, PQerrorMessage(c->pg));
        return;
    }
    pfd.fd = fd;
    pfd.events = c->cstat == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    pfd.revents = 0;
    if (poll(&pfd, 1, 0) <= 0)
        return;                                 /* not ready: next tick */
    c->cstat = PQconnectPoll(c->pg);
    if (c->cstat == PGRES_POLLING_FAILED) {
        uv_timer_stop(&c->timer);
        conn_retry_later(c, PQerrorMessage(c->pg));
        return;
    }
    if (c->cstat != PGRES_POLLING_OK)
        return;
    uv_timer_stop(&c->timer);
    if (PQsetnonblocking(c->pg, 1) != 0) {
        conn_retry_later(c, "cannot make the connection non-blocking");
        return;
    }
    c->pp = calloc(1, sizeof(*c->pp));
    if (!c->pp) {
        conn_retry_later(c, "out of memory");
        return;
    }
    c->pp->pool = c->pool;
    c->pp->fd = PQsocket(c->pg);
    if (uv_poll_init(c->pool->loop, &c->pp->h, c->pp->fd) < 0) {
        free(c->pp);
        c->pp = NULL;
        conn_retry_later(c, "uv_poll_init failed");
        return;
    }
    c->pp->h.data = c;
    c->pool->open_handles++;
    c->state = CS_SETUP;
    if (db_exec(c, c->pool->setup_sql, conn_setup_done, NULL) < 0)
        conn_retry_later(c, "cannot send the session set-up");
}

/* Rotates a comma-separated list by k entries into out; lists of one entry
 * (a port shared by every host) stay as they are. */
static void rotate_list(const char *in, unsigned k, char *out, size_t size)
{
    const char *items[64];
    size_t lens[64], n = 0, used = 0;
    const char *p = in;

    while (n < 64) {
        const char *comma = strchr(p, ',');
        items[n] = p;
        lens[n] = comma ? (size_t)(comma - p) : strlen(p);
        n++;
        if (!comma)
            break;
        p = comma + 1;
    }
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = (i + k) % n;
        if (used + lens[j] + 2 > size)
            break;
        if (i)
            out[used++] = ',';
        memcpy(out + used, items[j], lens[j]);
        used += lens[j];
        out[used] = 0;
    }
}

static PGconn *start_rotated(struct db_pool *p, unsigned rotate)
{
    const char *keys[64], *vals[64];
    char rotated[3][1024];
    int n = 0, r = 0;

    if (!p->opts)
        return PQconnectStart(p->conninfo);
    for (PQconninfoOption *o = p->opts; o->keyword && n < 63; o++) {
        if (!o->val)
            continue;
        keys[n] = o->keyword;
        vals[n] = o->val;
        if (r < 3 && rotate && (strcmp(o->keyword, "host") == 0 ||
                                   strcmp(o->keyword, "hostaddr") == 0 ||
                                   strcmp(o->keyword, "port") == 0) && strchr(o->val, ',')) {
            rotate_list(o->val, rotate, rotated[r], sizeof(rotated[r]));
            vals[n] = rotated[r++];
        }
        n++;
    }
    keys[n] = NULL;
    vals[n] = NULL;
    return PQconnectStartParams(keys, vals, 0);
}

static void conn_start(struct db_conn *c)
{
    c->pg = start_rotated(c->pool, c->rotate);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        conn_retry_later(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
        return;
    }
    c->state = CS_CONNECTING;
    c->cstat = PGRES_POLLING_WRITING;
    c->connect_start = uv_now(c->pool->loop);
    uv_timer_start(&c->timer, connect_tick, 0, 2);
}

static void serve_waiters(struct db_pool *p);

static void conn_setup_done(struct db_conn *c, PGresult **res, int nres, int err, void *ud)
{
    struct db_pool *p = c->pool;

    if (err < 0) {
        conn_retry_later(c, err == -EIO && nres > 0 ? PQresultErrorMessage(res[nres - 1])
                                                    : "connection lost during set-up");
        return;
    }
    c->state = CS_IDLE;
    c->backoff_ms = 0;
    if (p->down_logged) {
        log_notice("database connection re-established (%s:%s)", PQhost(c->pg), PQport(c->pg));
        p->down_logged = 0;
    } else {
        log_info("db conn %d: connected to %s:%s", c->idx, PQhost(c->pg), PQport(c->pg));
    }
    conn_watch(c, UV_READABLE);
    serve_waiters(p);
}

/* Finishes the operation in flight: hands the results to the callback. */
static void op_finish(struct db_conn *c, int err)
{
    PGresult *res[DB_MAX_RESULTS];
    int nres = c->nres;
    db_result_cb cb = c->cb;
    void *ud = c->ud;

    memcpy(res, c->res, sizeof(res[0]) * (size_t)nres);
    c->nres = 0;
    c->op = OP_NONE;
    if (err == 0 && c->failed)
        err = -EIO;
    c->failed = 0;
    if (c->pp && c->state != CS_BROKEN)
        conn_watch(c, UV_READABLE);
    cb(c, res, nres, err, ud);
    for (int i = 0; i < nres; i++)
        PQclear(res[i]);
}

static void conn_lost(struct db_conn *c)
{
    if (c->reserved) {
        /* the owner learns it from its callback, or from the next db_exec() */
        c->state = CS_BROKEN;
        if (c->pp) {
            uv_poll_stop(&c->pp->h);
            c->poll_events = 0;
        }
        if (c->op != OP_NONE)
            op_finish(c, -ECONNRESET);
        return;
    }
    if (c->op != OP_NONE) {
        op_finish(c, -ECONNRESET);   /* the set-up: its callback retries */
        return;
    }
    conn_retry_later(c, "connection lost");
}

/* Pushes COPY data as far as the socket takes it. */
static int copy_push(struct db_conn *c)
{
    while (c->copy_phase == 1 && c->copy_off < c->copy_len) {
        size_t n = c->copy_len - c->copy_off;
        int r;
        if (n > DB_COPY_CHUNK)
            n = DB_COPY_CHUNK;
        r = PQputCopyData(c->pg, c->copy_data + c->copy_off, (int)n);
        if (r < 0 && PQstatus(c->pg) == CONNECTION_OK) {
            c->copy_phase = 2;          /* the server ended the COPY (an error): */
            break;                      /* its result follows */
        }
        if (r < 0)
            return -ECONNRESET;
        if (r == 0)
            return conn_watch(c, UV_READABLE | UV_WRITABLE);
        c->copy_off += n;
    }
    if (c->copy_phase == 1 && !c->copy_open) {
        int r = PQputCopyEnd(c->pg, c->copy_abort);
        if (r < 0)
            return -ECONNRESET;
        if (r == 0)
            return conn_watch(c, UV_READABLE | UV_WRITABLE);
        c->copy_phase = 2;
    }
    switch (PQflush(c->pg)) {
    case 0: return conn_watch(c, UV_READABLE);
    case 1: return conn_watch(c, UV_READABLE | UV_WRITABLE);
    default: return -ECONNRESET;
    }
}

/* Collects results while libpq has them; finishes the op at the end. */
static void drain(struct db_conn *c)
{
    while (c->op != OP_NONE && !PQisBusy(c->pg)) {
        PGresult *r = PQgetResult(c->pg);
        ExecStatusType st;
        if (!r) {
            if (c->op == OP_PIPELINE)
                continue;                        /* the end of one query's results */
            op_finish(c, 0);
            return;
        }
        st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            if (PQexitPipelineMode(c->pg) != 1) {
                conn_lost(c);
                return;
            }
            op_finish(c, 0);
            return;
        }
        if (st == PGRES_COPY_IN) {
            PQclear(r);
            if (c->op != OP_COPY || c->copy_phase != 0) {
                /* a COPY we did not ask for: refuse it */
                PQputCopyEnd(c->pg, "unexpected COPY");
                c->failed = 1;
                continue;
            }
            c->copy_phase = 1;
            if (copy_push(c) < 0) {
                conn_lost(c);
                return;
            }
            if (c->copy_phase != 2)
                return;                          /* wait until writable */
            continue;
        }
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY)
            c->failed = 1;
        if (c->nres < DB_MAX_RESULTS)
            c->res[c->nres++] = r;
        else
            PQclear(r);
        if (PQstatus(c->pg) == CONNECTION_BAD) {
            conn_lost(c);
            return;
        }
    }
}

static void conn_poll_cb(uv_poll_t *h, int status, int events)
{
    struct db_conn *c = h->data;

    if (status < 0) {
        conn_lost(c);
        return;
    }
    if (events & UV_WRITABLE) {
        int r;
        if (c->op == OP_COPY && c->copy_phase == 1)
            r = copy_push(c);
        else {
            int f = PQflush(c->pg);
            r = f < 0 ? -ECONNRESET : conn_watch(c, UV_READABLE | (f == 1 ? UV_WRITABLE : 0));
        }
        if (r < 0) {
            conn_lost(c);
            return;
        }
    }
    if (events & UV_READABLE) {
        if (!PQconsumeInput(c->pg)) {
            conn_lost(c);
            return;
        }
        if (c->op == OP_NONE) {
            PGnotify *n;
            while ((n = PQnotifies(c->pg)))
                PQfreemem(n);
            if (PQstatus(c->pg) == CONNECTION_BAD)
                conn_lost(c);
            return;
        }
        drain(c);
    }
}

/* 1 when c can take a query. */
static int conn_usable(const struct db_conn *c)
{
    return c->pg && c->pp && c->state != CS_BROKEN && c->state != CS_DOWN;
}

/* After the query (or pipeline) of op is sent: its callback waits for the
 * results, and the loop for the socket. 0 or -ECONNRESET. */
static int op_started(struct db_conn *c, enum op op, db_result_cb cb, void *ud)
{
    int r;

    c->op = op;
    c->cb = cb;
    c->ud = ud;
    c->nres = 0;
    c->failed = 0;
    r = PQflush(c->pg);
    if (r < 0) {
        c->op = OP_NONE;
        return -ECONNRESET;
    }
    return conn_watch(c, UV_READABLE | (r == 1 ? UV_WRITABLE : 0));
}

static int send_op(struct db_conn *c, enum op op, const char *sql, db_result_cb cb, void *ud)
{
    assert(c->op == OP_NONE);
    if (!conn_usable(c))
        return -ECONNRESET;
    if (!PQsendQuery(c->pg, sql)) {
        log_debug("db conn %d: send failed: %s", c->idx, PQerrorMessage(c->pg));
        return -ECONNRESET;
    }
    return op_started(c, op, cb, ud);
}

int db_exec_params(struct db_conn *c, const struct db_query *q, int n, db_result_cb cb,
                   void *ud)
{
    assert(c->op == OP_NONE && n > 0 && n <= DB_MAX_RESULTS);
    if (!conn_usable(c))
        return -ECONNRESET;
    if (PQenterPipelineMode(c->pg) != 1)
        return -ECONNRESET;
    for (int i = 0; i < n; i++) {
        if (!PQsendQueryParams(c->pg, q[i].sql, q[i].nparams, NULL, q[i].params, NULL, NULL, 0)) {
            log_debug("db conn %d: send failed: %s", c->idx, PQerrorMessage(c->pg));
            return -ECONNRESET;        /* the connection is dropped on release */
        }
    }
    if (PQpipelineSync(c->pg) != 1)
        return -ECONNRESET;
    return op_started(c, OP_PIPELINE, cb, ud);
}

const char *db_error(PGresult *const *res, int nres)
{
    for (int i = 0; i < nres; i++) {
        const char *m = PQresultErrorMessage(res[i]);
        if (m && m[0])
            return m;
    }
    return "";
}

int db_exec(struct db_conn *c, const char *sql, db_result_cb cb, void *ud)
{
    return send_op(c, OP_EXEC, sql, cb, ud);
}

int db_copy(struct db_conn *c, const char *sql, const char *data, size_t len,
            db_result_cb cb, void *ud)
{
    c->copy_data = data;
    c->copy_len = len;
    c->copy_off = 0;
    c->copy_phase = 0;
    c->copy_open = 0;
    c->copy_abort = NULL;
    return send_op(c, OP_COPY, sql, cb, ud);
}

int db_copy_stream(struct db_conn *c, const char *sql, db_result_cb cb, void *ud)
{
    int r = db_copy(c, sql, NULL, 0, cb, ud);

    c->copy_open = r == 0;
    return r;
}

void db_copy_more(struct db_conn *c, const char *data, size_t len, int end)
{
    assert(c->op == OP_COPY && c->copy_open && len >= c->copy_off);
    c->copy_data = data;
    c->copy_len = len;
    if (end) {
        c->copy_open = 0;
        c->copy_abort = end < 0 ? "the batch could not be decoded" : NULL;
    }
    /* before PostgreSQL's COPY_IN, drain() pushes it all; a failure is
     * noticed on the socket, where the loop drops the connection */
    if (c->copy_phase == 1 && copy_push(c) < 0)
        (void) conn_watch(c, UV_READABLE | UV_WRITABLE);
    else if (c->copy_phase == 2)
        drain(c);                       /* may have its result: may call back */
}

static struct db_conn *idle_conn(struct db_pool *p)
{
    for (int i = 0; i < p->n; i++)
        if (p->conns[i].state == CS_IDLE)
            return &p->conns[i];
    return NULL;
}

static void serve_waiters(struct db_pool *p)
{
    struct db_conn *c;

    while (p->wq_len > 0 && (c = idle_conn(p))) {
        struct waiter w = p->waiters[p->wq_head];
        p->wq_head = (p->wq_head + 1) % DB_MAX_WAITERS;
        p->wq_len--;
        c->state = CS_BUSY;
        c->reserved = 1;
        w.cb(c, w.ud);
    }
}

void db_acquire(struct db_pool *p, db_acquire_cb cb, void *ud)
{
    struct db_conn *c;

    if (p->closing || db_pool_up(p) == 0 || p->wq_len >= DB_MAX_WAITERS) {
        cb(NULL, ud);
        return;
    }
    c = p->wq_len == 0 ? idle_conn(p) : NULL;
    if (c) {
        c->state = CS_BUSY;
        c->reserved = 1;
        cb(c, ud);
        return;
    }
    p->waiters[(p->wq_head + p->wq_len) % DB_MAX_WAITERS] = (struct waiter){ cb, ud };
    p->wq_len++;
}

struct db_conn *db_try_acquire(struct db_pool *p)
{
    struct db_conn *c;

    if (p->closing || p->wq_len > 0 || !(c = idle_conn(p)))
        return NULL;
    c->state = CS_BUSY;
    c->reserved = 1;
    return c;
}

void db_release(struct db_conn *c)
{
    struct db_pool *p = c->pool;

    c->reserved = 0;
    if (c->state == CS_BROKEN || !c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        conn_retry_later(c, "connection lost");
        return;
    }
    if (c->op != OP_NONE || PQtransactionStatus(c->pg) != PQTRANS_IDLE ||
        PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF) {
        /* never hand on a connection with an open or unknown transaction */
        conn_teardown(c);
        if (!p->closing)
            conn_start(c);
        return;
    }
    c->state = CS_IDLE;
    if (p->closing) {
        conn_teardown(c);
        return;
    }
    serve_waiters(p);
}

int db_pool_new(uv_loop_t *loop, const char *conninfo, int n, const char *setup_sql,
                struct db_pool **ret)
{
    struct db_pool *p;

    assert(n > 0 && n <= 64);
    p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->loop = loop;
    p->n = n;
    p->conninfo = strdup(conninfo);
    p->opts = PQconninfoParse(conninfo, NULL);
    p->connect_ms = DB_CONNECT_TIMEOUT_MS;
    for (PQconninfoOption *o = p->opts; o && o->keyword; o++)
        if (strcmp(o->keyword, "connect_timeout") == 0 && o->val && atoi(o->val) > 0)
            p->connect_ms = (unsigned)(atoi(o->val) < 2 ? 2 : atoi(o->val)) * 1000u;
    p->setup_sql = strdup(setup_sql);
    p->conns = calloc((size_t)n, sizeof(*p->conns));
    p->waiters = calloc(DB_MAX_WAITERS, sizeof(*p->waiters));
    if (!p->conninfo || !p->setup_sql || !p->conns || !p->waiters) {
        free(p->conninfo);
        free(p->setup_sql);
        free(p->conns);
        free(p->waiters);
        free(p);
        return -ENOMEM;
    }
    for (int i = 0; i < n; i++) {
        struct db_conn *c = &p->conns[i];
        c->pool = p;
        c->idx = i;
        uv_timer_init(loop, &c->timer);
        c->timer.data = c;
        p->open_handles++;
        conn_start(c);
    }
    *ret = p;
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    struct db_conn *c = h->data;
    struct db_pool *p = c->pool;

    p->open_handles--;
    pool_maybe_free(p);
}

void db_pool_close(struct db_pool *p, void (*done)(void *), void *ud)
{
    if (!p)
        return;
    p->closing = 1;
    p->done = done;
    p->done_ud = ud;
    while (p->wq_len > 0) {
        struct waiter w = p->waiters[p->wq_head];
        p->wq_head = (p->wq_head + 1) % DB_MAX_WAITERS;
        p->wq_len--;
        w.cb(NULL, w.ud);
    }
    p->open_handles++;            /* hold the pool while closing */
    for (int i = 0; i < p->n; i++) {
        struct db_conn *c = &p->conns[i];
        uv_timer_stop(&c->timer);
        if (c->op == OP_NONE && !c->reserved)
            conn_teardown(c);
        uv_close((uv_handle_t *)&c->timer, timer_closed);
    }
    p->open_handles--;
    pool_maybe_free(p);
}
