/* hub_jobstats.c - the central job queue (schema/central/020_jobs.sql) as
 * gauges on the hub's /metrics, for the operators' alerts: jobs by kind and
 * state, how long the oldest ready job has waited past its time and how
 * long the longest running one has run. The workers (sikhnas-worker) have
 * no listener of their own; the queue is a table, so whoever reads the
 * database can say how it stands.
 *
 * Read every --job-stats-s seconds on a connection of the pool, so that a
 * scrape never waits on the database; /metrics renders the last reading
 * with its age, and sikhnas_jobs_stats_up 0 when the last read failed (the
 * database down, or a database without the job table). */
#include "hub.h"
#include "hub_jobstats.h"
#include "log.h"
#include "strbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define JOBSTATS_ROWS 256       /* kinds x states shown; more are left out, and said */

struct hub_jobstats {
    struct hub *h;
    uv_timer_t  timer;
    unsigned    every_ms;
    int         stopping;
    int         up;             /* the last read worked */
    uint64_t    read_at;        /* uv_now() of the last good read; 0: none yet */
    struct strbuf lines;        /* the gauges of the last good read */
};

static const char query[] =
    "SELECT kind, state, count(*),"
    " coalesce(extract(epoch FROM clock_timestamp() - CASE WHEN state = 'running'"
    "   THEN min(started_at) ELSE min(run_at) FILTER (WHERE run_at <= clock_timestamp())"
    "   END), 0)::float8"
    " FROM job WHERE state IN ('pending', 'running', 'failed', 'dead')"
    " GROUP BY kind, state ORDER BY kind, state";

/* A label value in the exposition format: \, " and newline escaped. */
static void label(struct strbuf *o, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            strbuf_fmt(o, "\\%c", *v);
        else if (*v == '\n')
            strbuf_str(o, "\\n");
        else
            strbuf_add(o, v, 1);
    }
}

static void run(uv_timer_t *t);

static void schedule(struct hub_jobstats *j)
{
    if (!j->stopping)
        uv_timer_start(&j->timer, run, j->every_ms, 0);
}

/* The gauges of one reading, res: kind, state, count, seconds. */
static int render_rows(struct hub_jobstats *j, PGresult *res)
{
    int n = PQntuples(res);
    struct strbuf *o = &j->lines;

    strbuf_reset(o);
    strbuf_str(o, "# HELP sikhnas_jobs Jobs in the central queue by kind and state "
                  "(done and cancelled ones not counted).\n# TYPE sikhnas_jobs gauge\n");
    for (int i = 0; i < n && i < JOBSTATS_ROWS; i++) {
        strbuf_str(o, "sikhnas_jobs{kind=\"");
        label(o, PQgetvalue(res, i, 0));
        strbuf_fmt(o, "\",state=\"%s\"} %s\n", PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
    }
    strbuf_str(o, "# HELP sikhnas_jobs_oldest_seconds Pending and failed: how long the oldest "
                  "job ready to run has waited past its time; running: how long the longest "
                  "has run.\n# TYPE sikhnas_jobs_oldest_seconds gauge\n");
    for (int i = 0; i < n && i < JOBSTATS_ROWS; i++) {
        if (strcmp(PQgetvalue(res, i, 1), "dead") == 0)
            continue;
        strbuf_str(o, "sikhnas_jobs_oldest_seconds{kind=\"");
        label(o, PQgetvalue(res, i, 0));
        strbuf_fmt(o, "\",state=\"%s\"} %.3f\n", PQgetvalue(res, i, 1),
                   strtod(PQgetvalue(res, i, 3), NULL));
    }
    if (n > JOBSTATS_ROWS)
        log_warning("job stats: %d kinds and states, the first %d shown", n, JOBSTATS_ROWS);
    return o->err ? -ENOMEM : 0;
}

static void on_rows(struct db_conn *c, PGresult **res, int nres, int err, void *ud)
{
    struct hub_jobstats *j = ud;

    if (err < 0 || nres != 1) {
        if (j->up)
            log_warning("job stats: cannot read the job queue: %s",
                        nres > 0 ? db_error(res, nres) : "connection lost");
        j->up = 0;
    } else if (render_rows(j, res[0]) < 0) {
        j->up = 0;
    } else {
        j->up = 1;
        j->read_at = uv_now(j->h->loop);
    }
    db_release(c);
    schedule(j);
}

static void on_conn(struct db_conn *c, void *ud)
{
    struct hub_jobstats *j = ud;

    if (!c || j->stopping) {
        if (c)
            db_release(c);
        j->up = 0;
        schedule(j);
        return;
    }
    if (db_exec(c, query, on_rows, j) < 0) {
        db_release(c);
        j->up = 0;
        schedule(j);
    }
}

static void run(uv_timer_t *t)
{
    struct hub_jobstats *j = t->data;

    db_acquire(j->h->db, on_conn, j);
}

int jobstats_start(struct hub *h, unsigned every_s)
{
    struct hub_jobstats *j;

    if (!every_s)
        return 0;
    j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    j->h = h;
    j->every_ms = every_s * 1000u;
    uv_timer_init(h->loop, &j->timer);
    j->timer.data = j;
    uv_timer_start(&j->timer, run, 0, 0);
    h->jobstats = j;
    return 0;
}

void jobstats_render(const struct hub_jobstats *j, uint64_t now_ms, struct strbuf *o)
{
    if (!j)
        return;
    strbuf_fmt(o, "# HELP sikhnas_jobs_stats_up 1 when the hub's last read of the job queue "
                  "worked.\n# TYPE sikhnas_jobs_stats_up gauge\nsikhnas_jobs_stats_up %d\n",
               j->up);
    if (!j->read_at)
        return;
    strbuf_fmt(o, "# HELP sikhnas_jobs_stats_age_seconds Age of the job gauges below.\n"
                  "# TYPE sikhnas_jobs_stats_age_seconds gauge\n"
                  "sikhnas_jobs_stats_age_seconds %.3f\n",
               (double)(now_ms - j->read_at) / 1000.0);
    strbuf_add(o, j->lines.p, j->lines.len);
}

static void noop_closed(uv_handle_t *hd) { (void) hd; }

void jobstats_stop(struct hub *h)
{
    struct hub_jobstats *j = h->jobstats;

    if (!j || j->stopping)
        return;
    j->stopping = 1;
    uv_close((uv_handle_t *)&j->timer, noop_closed);
}

void jobstats_free(struct hub_jobstats *j)
{
    if (!j)
        return;
    strbuf_free(&j->lines);
    free(j);
}
