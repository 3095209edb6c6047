/* web_db.c - small pools of blocking libpq connections for the worker
 * threads of sikhnas-web (see webapp.h). A connection is used by one thread
 * at a time; a broken one is reset when it is taken again. */
#include "webapp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

struct web_pool {
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    char           *setup;
    char           *name;
    int             n, nfree;
    PGconn        **all;
    PGconn        **free;
};

static int conn_setup(PGconn *c, const char *setup, const char *name)
{
    PGresult *r;
    int ok;

    if (PQstatus(c) != CONNECTION_OK) {
        log_error("%s: cannot connect: %s", name, PQerrorMessage(c));
        return -ECONNREFUSED;
    }
    if (PQsetClientEncoding(c, "UTF8") != 0)
        return -EIO;
    if (!setup)
        return 0;
    r = PQexec(c, setup);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        log_error("%s: setting up a connection: %s", name, PQerrorMessage(c));
    PQclear(r);
    return ok ? 0 : -EIO;
}

int web_pool_new(const char *conninfo, int n, const char *setup_sql, const char *name,
                 struct web_pool **ret)
{
    struct web_pool *p = calloc(1, sizeof(*p));
    int r = 0;

    if (!p)
        return -ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->all = calloc((size_t)n, sizeof(PGconn *));
    p->free = calloc((size_t)n, sizeof(PGconn *));
    p->setup = setup_sql ? strdup(setup_sql) : NULL;
    p->name = strdup(name);
    if (!p->all || !p->free || (setup_sql && !p->setup) || !p->name) {
        r = -ENOMEM;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        p->all[i] = PQconnectdb(conninfo);
        p->n++;
        if (!p->all[i]) {
            r = -ENOMEM;
            goto out;
        }
        r = conn_setup(p->all[i], p->setup, p->name);
        if (r < 0)
            goto out;
        p->free[p->nfree++] = p->all[i];
    }
out:
    if (r < 0) {
        web_pool_free(p);
        return r;
    }
    *ret = p;
    return 0;
}

void web_pool_free(struct web_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++)
        PQfinish(p->all[i]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->all);
    free(p->free);
    free(p->setup);
    free(p->name);
    free(p);
}

PGconn *web_pool_get(struct web_pool *p, unsigned wait_ms)
{
    struct timespec until;
    PGconn *c = NULL;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    while (p->nfree == 0)
        if (pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT)
            break;
    if (p->nfree > 0)
        c = p->free[--p->nfree];
    pthread_mutex_unlock(&p->mu);
    if (!c) {
        log_warning("%s: no connection free within %u ms", p->name, wait_ms);
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        PQreset(c);
        if (conn_setup(c, p->setup, p->name) < 0) {
            web_pool_put(p, c);
            return NULL;
        }
    }
    return c;
}

void web_pool_put(struct web_pool *p, PGconn *c)
{
    if (PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE) {
        PGresult *r;
        if (PQtransactionStatus(c) == PQTRANS_ACTIVE) {  /* a query given up: cancel it */
            PGcancel *k = PQgetCancel(c);
            char err[128];
            if (k) {
                (void) PQcancel(k, err, sizeof(err));
                PQfreeCancel(k);
            }
        }
        while ((r = PQgetResult(c)) != NULL)
            PQclear(r);
        if (PQtransactionStatus(c) != PQTRANS_IDLE) {
            r = PQexec(c, "ROLLBACK");
            PQclear(r);
        }
    }
    pthread_mutex_lock(&p->mu);
    p->free[p->nfree++] = c;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

PGresult *web_exec(PGconn *c, const char *what, const char *sql, int n,
                   const char *const *params)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        log_error("%s: %s", what, PQerrorMessage(c));
        PQclear(r);
        return NULL;
    }
    return r;
}
