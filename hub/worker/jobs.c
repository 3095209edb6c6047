/* jobs.c - what each kind of job does, and what the handlers share. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker.h"

int job_fail(struct job_ctx *ctx, int err, int permanent, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(ctx->err, sizeof(ctx->err), fmt, ap);
    va_end(ap);
    ctx->permanent = permanent;
    return err;
}

/* libpq's last error on one line. */
const char *worker_pg_error(PGconn *pg, char *buf, size_t n)
{
    snprintf(buf, n, "%s", PQerrorMessage(pg));
    for (char *q = buf; *q; q++)
        if (*q == '\n' || *q == '\t')
            *q = ' ';
    for (size_t len = strlen(buf); len && buf[len - 1] == ' '; )
        buf[--len] = 0;
    return buf;
}

int worker_exec(PGconn *pg, const char *what, const char *sql, int n, const char *const *p,
                PGresult **ret, char *err, size_t errlen)
{
    PGresult *res = PQexecParams(pg, sql, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    char e[512];

    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        if (err)
            snprintf(err, errlen, "%s: %s", what, worker_pg_error(pg, e, sizeof(e)));
        else
            log_error("%s: %s", what, worker_pg_error(pg, e, sizeof(e)));
        PQclear(res);
        return -EIO;
    }
    if (ret)
        *ret = res;
    else
        PQclear(res);
    return 0;
}

int job_query(struct job_ctx *ctx, const char *sql, int n, const char *const *params,
              PGresult **ret)
{
    ctx->permanent = 0;
    return worker_exec(ctx->pg, "database", sql, n, params, ret, ctx->err, sizeof(ctx->err));
}

void job_recipients_free(char **r, int n)
{
    for (int i = 0; i < n; i++)
        free(r[i]);
    free(r);
}

int job_recipients(struct job_ctx *ctx, const char *roles, const char *province, int national,
                   char ***ret, int *nret)
{
    const char *p[] = { roles, province, national ? "t" : "f" };
    PGresult *res = NULL;
    char **to = NULL;
    int r, n = 0;

    r = job_query(ctx, "SELECT DISTINCT email FROM recipient WHERE active "
                       "AND role = ANY (string_to_array($1, ',')) "
                       "AND (province = $2 OR ($3::boolean AND province IS NULL)) ORDER BY email",
                  3, p, &res);
    if (r < 0)
        return r;
    if (PQntuples(res) == 0) {
        r = job_fail(ctx, -ENOENT, 1, "no active recipient (%s) for province %s%s", roles, province,
                     national ? " nor national" : "");
        goto out;
    }
    to = calloc((size_t)PQntuples(res), sizeof(*to));
    for (n = 0; to && n < PQntuples(res); n++)
        if (!(to[n] = strdup(PQgetvalue(res, n, 0))))
            break;
    if (!to || n < PQntuples(res)) {
        job_recipients_free(to, n);
        r = job_fail(ctx, -ENOMEM, 0, "out of memory");
        goto out;
    }
    *ret = to;
    *nret = n;
out:
    PQclear(res);
    return r;
}

/* A database-only job: one SQL function. */
static int job_sql(struct job_ctx *ctx, const char *sql)
{
    return job_query(ctx, sql, 0, NULL, NULL);
}

int job_sends(const char *kind)
{
    return !strcmp(kind, "alert") || !strcmp(kind, "summary") || !strcmp(kind, "fleet_alert");
}

int job_run(struct job_ctx *ctx, const struct job *j)
{
    ctx->err[0] = 0;
    ctx->permanent = 0;
    if (!strcmp(j->kind, "noop"))
        return 0;
    if (!strcmp(j->kind, "alert"))
        return job_alert(ctx, j);
    if (!strcmp(j->kind, "summary"))
        return job_summary(ctx, j);
    if (!strcmp(j->kind, "fleet_alert"))
        return job_fleet_alert(ctx, j);
    if (!strcmp(j->kind, "fleet_watch"))
        return job_sql(ctx, "SELECT sikhnas_fleet_watch()");
    if (!strcmp(j->kind, "upkeep"))
        return job_sql(ctx, "SELECT sikhnas_upkeep()");
    if (!strcmp(j->kind, "aggregates"))
        return job_sql(ctx, "SELECT sikhnas_aggregate_upkeep()");
    return job_fail(ctx, -EINVAL, 1, "unknown job kind '%s'", j->kind);
}
