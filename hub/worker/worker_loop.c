/* worker_loop.c - one worker thread: take ready jobs with FOR UPDATE SKIP
 * LOCKED, run them, mark them done or failed (exponential backoff with
 * jitter, dead after max_attempts), wait on LISTEN sikhnas_job when there
 * is nothing to do. Thread 0 of each process also reaps expired leases
 * (a killed worker's jobs) and queues the scheduled jobs; several
 * processes doing so at once is safe: every scheduled job has its key. */
#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "strbuf.h"
#include "worker_loop.h"

#define MAX_BATCH 1000

/* Takes up to $3 ready jobs for $1 with a lease of $2 ms, and in the same
 * statement (one round trip, one commit) marks done the jobs $4 that the
 * previous claim ran and that sent nothing outside the database. */
static const char claim_sql[] =
    "WITH fin AS ("
    "  UPDATE job SET state = 'done', finished_at = clock_timestamp(), locked_until = NULL, "
    "    last_error = NULL "
    "  WHERE id = ANY ($4::bigint[]) AND locked_by = $1 AND state IN ('running', 'failed') "
    "  RETURNING 1) "
    "UPDATE job j SET state = 'running', attempts = j.attempts + 1, locked_by = $1, "
    "  locked_until = clock_timestamp() + $2::bigint * interval '1 millisecond', "
    "  started_at = clock_timestamp() "
    "FROM (SELECT id FROM job WHERE state IN ('pending', 'failed') "
    "      AND run_at <= clock_timestamp() ORDER BY priority DESC, run_at "
    "      LIMIT $3 FOR UPDATE SKIP LOCKED) s "
    "WHERE j.id = s.id "
    "RETURNING j.id, j.kind, j.idem_key, j.payload, j.attempts, (SELECT count(*) FROM fin)";

/* locked_by stays after a lease is reaped, so that a worker that was slow,
 * not dead, can still record what it did (as long as no other took it). */
static const char done_sql[] =
    "UPDATE job SET state = 'done', finished_at = clock_timestamp(), locked_until = NULL, "
    "  last_error = NULL "
    "WHERE id = ANY ($1::bigint[]) AND locked_by = $2 AND state IN ('running', 'failed')";

static const char fail_sql[] =
    "UPDATE job SET state = CASE WHEN $4::boolean OR attempts >= max_attempts "
    "    THEN 'dead' ELSE 'failed' END, "
    "  finished_at = CASE WHEN $4::boolean OR attempts >= max_attempts "
    "    THEN clock_timestamp() END, "
    "  run_at = clock_timestamp() + $5::bigint * interval '1 millisecond', "
    "  last_error = $3, locked_until = NULL "
    "WHERE id = $1 AND locked_by = $2 AND state IN ('running', 'failed') "
    "RETURNING state";

static const char reap_sql[] =
    "UPDATE job SET state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'failed' END, "
    "  finished_at = CASE WHEN attempts >= max_attempts THEN clock_timestamp() END, "
    "  last_error = 'lease expired: ' || coalesce(locked_by, '?') "
    "    || ' did not finish it (stopped or killed)', "
    "  run_at = clock_timestamp(), locked_until = NULL "
    "WHERE state = 'running' AND locked_until < clock_timestamp()";

/* A thread connects between claims: whatever its id still holds as running
 * it is not running any more (its connection broke while it ran them, so
 * their end was never recorded). Failed, ready again at once, the attempt
 * counted (a mail may have gone: at least once, same Message-ID), instead
 * of waiting for the lease to expire. */
static const char takeback_sql[] =
    "UPDATE job SET state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'failed' END, "
    "  finished_at = CASE WHEN attempts >= max_attempts THEN clock_timestamp() END, "
    "  last_error = 'the connection to the database broke while ' || locked_by || ' ran it', "
    "  run_at = clock_timestamp(), locked_until = NULL "
    "WHERE locked_by = $1 AND state = 'running'";

static int exec_ok(PGconn *pg, const char *what, const char *sql, int n,
                   const char *const *p, PGresult **ret)
{
    return worker_exec(pg, what, sql, n, p, ret, NULL, 0);
}

static int connect_db(struct worker *w)
{
    const char *p[1];
    PGresult *res;

    PQfinish(w->pg);
    w->pg = PQconnectdb(w->cfg->conninfo);
    if (PQstatus(w->pg) != CONNECTION_OK) {
        char e[512];
        log_warning("%s: cannot connect to PostgreSQL: %s", w->id, worker_pg_error(w->pg, e, sizeof(e)));
        PQfinish(w->pg);
        w->pg = NULL;
        return -ECONNREFUSED;
    }
    res = PQexec(w->pg, "SET client_encoding = 'UTF8'; SET application_name = 'sikhnas-worker'; "
                        "SET client_min_messages = warning; LISTEN sikhnas_job");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        char e[512];
        log_error("%s: LISTEN: %s", w->id, worker_pg_error(w->pg, e, sizeof(e)));
        PQclear(res);
        PQfinish(w->pg);    /* connect again, and LISTEN, on the next turn */
        w->pg = NULL;
        return -EIO;
    }
    PQclear(res);
    res = NULL;
    p[0] = w->id;
    if (exec_ok(w->pg, "take back", takeback_sql, 1, p, &res) == 0 &&
        atoi(PQcmdTuples(res)) > 0)  /* else their lease expires, as before */
        log_warning("%s: %s job(s) it held when its connection broke taken back", w->id,
                    PQcmdTuples(res));
    PQclear(res);
    log_info("%s: connected", w->id);
    return 0;
}

/* Waits until a NOTIFY arrives, ms pass or the process is told to stop. */
static void wait_notify(struct worker *w, long ms)
{
    struct pollfd pfd = { .fd = PQsocket(w->pg), .events = POLLIN };
    PGnotify *n;

    if (ms > 500)
        ms = 500;           /* look at the stop flag twice a second */
    if (pfd.fd >= 0 && poll(&pfd, 1, (int)ms) > 0)
        PQconsumeInput(w->pg);
    while ((n = PQnotifies(w->pg)) != NULL)
        PQfreemem(n);
}

/* Equal jitter: half the exponential delay, plus up to as much again. */
static long backoff_ms(struct worker *w, int attempts)
{
    double d = w->cfg->backoff_base;

    for (int i = 1; i < attempts && d < w->cfg->backoff_max; i++)
        d *= 2;
    if (d > w->cfg->backoff_max)
        d = w->cfg->backoff_max;
    d = d / 2 + d / 2 * ((double)rand_r(&w->seed) / RAND_MAX);
    return worker_ms(w->cfg, d);
}

static int finish_done(struct worker *w, struct strbuf *ids)
{
    const char *p[2];
    int r;

    if (!ids->len)
        return 0;
    if (strbuf_str(ids, "}") < 0)
        return -ENOMEM;
    p[0] = ids->p;
    p[1] = w->id;
    r = exec_ok(w->pg, "done", done_sql, 2, p, NULL);
    strbuf_reset(ids);
    return r;
}

static int finish_failed(struct worker *w, const struct job *j, struct job_ctx *ctx)
{
    char id[24], delay[24];
    const char *p[5] = { id, w->id, ctx->err, ctx->permanent ? "true" : "false", delay };
    PGresult *res = NULL;
    int r;

    snprintf(id, sizeof(id), "%lld", j->id);
    snprintf(delay, sizeof(delay), "%ld", backoff_ms(w, j->attempts));
    r = exec_ok(w->pg, "failed", fail_sql, 5, p, &res);
    if (r == 0 && PQntuples(res) == 1)
        log_warning("%s: job %lld %s (%s) attempt %d failed%s: %s", w->id, j->id, j->kind,
                    j->key, j->attempts,
                    !strcmp(PQgetvalue(res, 0, 0), "dead") ? ", now dead" : "", ctx->err);
    PQclear(res);
    return r;
}

/* Gives back the jobs of a claim from the i-th on, not started because the
 * process is stopping: ready again at once, their attempt not counted. */
static int release(struct worker *w, PGresult *res, int i)
{
    struct strbuf ids = { 0 };
    const char *p[2];
    int r;

    for (; i < PQntuples(res); i++)
        strbuf_fmt(&ids, "%s%s", ids.len ? "," : "{", PQgetvalue(res, i, 0));
    if (strbuf_str(&ids, "}") < 0)
        return -ENOMEM;
    p[0] = ids.p;
    p[1] = w->id;
    r = exec_ok(w->pg, "release", "UPDATE job SET state = 'pending', attempts = attempts - 1, "
                "locked_until = NULL, run_at = clock_timestamp() "
                "WHERE id = ANY ($1::bigint[]) AND locked_by = $2 AND state = 'running'",
                2, p, NULL);
    strbuf_free(&ids);
    return r;
}

/* Runs the jobs of one claim. The jobs that sent something are marked
 * done at once; the others are left in w->pending, for the next claim to
 * mark. Returns 0 or -EIO when the database broke. */
static int run_claimed(struct worker *w, PGresult *res)
{
    struct job_ctx ctx = { .cfg = w->cfg, .pg = w->pg, .curl = w->curl };
    struct strbuf one = { 0 };
    int r = 0;

    int i = 0;

    for (; i < PQntuples(res) && r == 0 && !*w->stop; i++) {
        struct job j = { .id = atoll(PQgetvalue(res, i, 0)), .kind = PQgetvalue(res, i, 1),
                         .key = PQgetvalue(res, i, 2), .payload = PQgetvalue(res, i, 3),
                         .attempts = atoi(PQgetvalue(res, i, 4)) };
        struct timespec t0, t1;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (job_run(&ctx, &j) < 0) {
            w->failed++;
            r = finish_failed(w, &j, &ctx);
            continue;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        w->done++;
        if (strcmp(j.kind, "noop"))
            log_info("%s: job %lld %s (%s) done, attempt %d, %.0f ms", w->id, j.id, j.kind,
                     j.key, j.attempts,
                     (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
        /* what left the building is recorded at once: a crash then resends
         * as little as possible (with the same Message-ID) */
        if (job_sends(j.kind)) {
            r = strbuf_fmt(&one, "{%lld", j.id) < 0 ? -ENOMEM : finish_done(w, &one);
            continue;
        }
        r = strbuf_fmt(&w->pending, "%s%lld", w->pending.len ? "," : "{", j.id) < 0
            ? -ENOMEM : 0;
    }
    strbuf_free(&one);
    if (r == 0 && i < PQntuples(res))
        r = release(w, res, i);
    return r;
}

static void tick(struct worker *w, long tick_ms)
{
    char now[64], bucket[32];
    time_t t = time(NULL) + w->cfg->now_offset;
    struct tm tm;
    const char *p[1];
    PGresult *res = NULL;

    if (exec_ok(w->pg, "reap", reap_sql, 0, NULL, &res) == 0 && atoi(PQcmdTuples(res)) > 0)
        log_warning("%s: %s job(s) taken back: their worker's lease expired", w->id,
                    PQcmdTuples(res));
    PQclear(res);
    gmtime_r(&t, &tm);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
    p[0] = now;
    exec_ok(w->pg, "schedule", "SELECT sikhnas_schedule_summaries($1::timestamptz)", 1, p,
            NULL);
    snprintf(bucket, sizeof(bucket), "%lld",
             (long long)(time(NULL) * 1000LL / worker_ms(w->cfg, w->cfg->fleet_interval)));
    p[0] = bucket;
    exec_ok(w->pg, "schedule", "SELECT sikhnas_job_enqueue('fleet_watch', "
            "'fleet_watch:' || $1, '{}', 5::smallint)", 1, p, NULL);
    exec_ok(w->pg, "schedule", "SELECT sikhnas_job_enqueue('upkeep', "
            "'upkeep:' || current_date, '{}')", 0, NULL, NULL);
    /* the reporting schema's aggregates, once a tick */
    snprintf(bucket, sizeof(bucket), "%lld", (long long)(time(NULL) * 1000LL / tick_ms));
    exec_ok(w->pg, "schedule", "SELECT sikhnas_job_enqueue('aggregates', "
            "'aggregates:' || $1, '{}', 1::smallint)", 1, p, NULL);
}

static double mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void *worker_thread(void *arg)
{
    struct worker *w = arg;
    long tick_ms = worker_ms(w->cfg, w->cfg->lease / 4.0 < 60 ? w->cfg->lease / 4.0 : 60);
    long retry_ms = 500;
    double next_tick = 0;
    char lease[24], batch[24];
    const char *p[4] = { w->id, lease, batch, NULL };
    int r;

    snprintf(lease, sizeof(lease), "%ld", worker_ms(w->cfg, w->cfg->lease));
    snprintf(batch, sizeof(batch), "%d", w->cfg->batch);
    w->curl = curl_easy_init();
    while (!*w->stop && w->curl) {
        PGresult *res = NULL;

        if (!w->pg || PQstatus(w->pg) != CONNECTION_OK) {
            if (connect_db(w) < 0) {
                struct timespec d = { retry_ms / 1000, retry_ms % 1000 * 1000000L };
                nanosleep(&d, NULL);
                retry_ms = retry_ms < 10000 ? retry_ms * 2 : 10000;
                continue;
            }
            retry_ms = 500;
        }
        if (w->index == 0 && mono_ms() >= next_tick) {
            tick(w, tick_ms);
            next_tick = mono_ms() + tick_ms;
        }
        if (strbuf_str(&w->pending, w->pending.len ? "}" : "{}") < 0)
            break;
        p[3] = w->pending.p;
        r = exec_ok(w->pg, "claim", claim_sql, 4, p, &res);
        strbuf_reset(&w->pending);  /* marked, or lost with the connection: their
                                       lease expires and they run again */
        if (r < 0)
            continue;       /* the status check above reconnects when it broke */
        if (PQntuples(res) > 0)
            run_claimed(w, res);
        else
            wait_notify(w, w->index == 0 ? tick_ms : 1000);
        PQclear(res);
    }
    if (w->pg && w->pending.len)
        finish_done(w, &w->pending);
    strbuf_free(&w->pending);
    PQfinish(w->pg);
    w->pg = NULL;
    curl_easy_cleanup(w->curl);
    w->curl = NULL;
    return NULL;
}
