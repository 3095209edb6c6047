/* hub_db.h - a small pool of asynchronous libpq connections on the libuv loop.
 * Connections are made with PQconnectStart and driven with PQconnectPoll;
 * queries with PQsendQuery, statements with parameters in pipeline mode
 * (PQsendQueryParams) and COPY with PQputCopyData in non-blocking mode,
 * all from uv_poll events on the socket: nothing here blocks the loop. A
 * connection that breaks is dropped and made again with backoff; the
 * multi-host conninfo (target_session_attrs=read-write) then finds the new
 * primary after a failover. */
#ifndef SIKHNAS_HUB_DB_H
#define SIKHNAS_HUB_DB_H

#include <stddef.h>
#include <libpq-fe.h>
#include <uv.h>

#define DB_MAX_RESULTS 160

struct db_pool;
struct db_conn;

/* c is a connection reserved for the caller, who must db_release() it. */
typedef void (*db_acquire_cb)(struct db_conn *c, void *ud);
/* res[0..nres) are the results of every statement, in order; they are freed
 * after the callback returns. err: 0; -EIO when a statement failed (the
 * connection is fine: send ROLLBACK if a transaction was open); -ECONNRESET
 * when the connection was lost (nothing more can be sent on it). */
typedef void (*db_result_cb)(struct db_conn *c, PGresult **res, int nres, int err, void *ud);

/* Makes a pool of n connections to conninfo; setup_sql runs on each new
 * connection. The pool keeps a copy of both strings. Returns 0 or -errno. */
int db_pool_new(uv_loop_t *loop, const char *conninfo, int n, const char *setup_sql,
                struct db_pool **ret);
/* Closes every connection; done(ud) runs once all handles are closed and the
 * pool is freed. Waiting acquirers are called back with NULL first. */
void db_pool_close(struct db_pool *p, void (*done)(void *), void *ud);
/* Number of connections ready (idle or busy). */
int db_pool_up(const struct db_pool *p);

/* Reserves a connection: cb runs when one is free (possibly before this
 * returns), or with c == NULL when the database is down or the wait queue is
 * full. */
void db_acquire(struct db_pool *p, db_acquire_cb cb, void *ud);
/* A connection at once when one is idle and nobody waits for one, else
 * NULL: for work that may as well be done on the connection already held. */
struct db_conn *db_try_acquire(struct db_pool *p);
/* Returns c to the pool (or drops it when it broke). */
void db_release(struct db_conn *c);

/* Sends sql (one or more statements). Returns 0 and calls cb once, or
 * returns -errno (the callback is then never called). */
int db_exec(struct db_conn *c, const char *sql, db_result_cb cb, void *ud);
/* One statement and its parameters, as text (NULL: SQL NULL). Values never
 * go into SQL text: the statements are fixed, the values travel apart. */
struct db_query {
    const char         *sql;
    int                 nparams;
    const char *const  *params;
};

/* Sends the n statements of q in libpq's pipeline mode: one round trip, run
 * in order (inside the connection's open transaction, if any; after a
 * failure PostgreSQL skips the rest, which then come back
 * PGRES_PIPELINE_ABORTED). cb gets one result per statement, res[i] for
 * q[i]; err as for db_exec(). Returns 0 and calls cb once, or -errno
 * (the callback is then never called, and the connection is dropped when
 * released). */
int db_exec_params(struct db_conn *c, const struct db_query *q, int n, db_result_cb cb,
                   void *ud);

/* The error message of the first statement that failed among res[0..nres)
 * (in a pipeline, those after it come back PGRES_PIPELINE_ABORTED, with no
 * message of their own), or "" when none did. */
const char *db_error(PGresult *const *res, int nres);

/* Sends sql, which must be a COPY ... FROM STDIN, then data. data must stay
 * valid until cb runs. */
int db_copy(struct db_conn *c, const char *sql, const char *data, size_t len,
            db_result_cb cb, void *ud);
/* The same, with the data to come: db_copy_more() gives the data so far,
 * data[0..len) (it may have moved since the last call; the first bytes, up
 * to the last call's len, are not sent again), and ends the COPY when end
 * is 1, or fails it when end is -1 (cb then gets -EIO). cb runs once, after
 * the end. A lost connection is reported to cb, as for db_copy(). */
int  db_copy_stream(struct db_conn *c, const char *sql, db_result_cb cb, void *ud);
void db_copy_more(struct db_conn *c, const char *data, size_t len, int end);

#endif
