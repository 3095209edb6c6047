/* webapp.h - sikhnas-web, the central analysts' web app: what its files share.
 *
 * One libuv loop runs the HTTPS server of common/ (http_server.h); every
 * request that needs the database runs on libuv's thread pool with
 * blocking libpq on a connection of one of two small pools: the primary
 * (accounts, sessions, the audit, the aggregates' upkeep) and the read
 * replica (everything the pages show; a statement timeout on each
 * connection). Answers with data are streamed (http_stream_*), row by row
 * from libpq's single-row mode, so memory stays flat whatever their size.
 *
 *   web_main.c     command line, the server's start and stop
 *   web_db.c       the blocking connection pools
 *   web_http.c     routes, static files, sessions, CSRF, login, scope
 *   web_data.c     the datasets (SQL) behind pages and API
 *   web_filter.c   their filters, from the query string, within the scope
 *   web_out.c      writing a query's rows as JSON, CSV, XLSX or GeoJSON
 *   web_stream.c   handing a worker thread's output to the loop
 *   web_account.c  `sikhnas-web account ...` and `sikhnas-web upkeep` */
#ifndef SIKHNAS_WEB_APP_H
#define SIKHNAS_WEB_APP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <libpq-fe.h>
#include <uv.h>

#include "http_server.h"
#include "password.h"

#define WEB_LOGIN_MAX    64
#define WEB_SESSION_TTL  (8 * 3600)      /* seconds */
#define WEB_CHUNK        (64 * 1024)     /* bytes a worker hands the loop at once */
#define WEB_AREA_MAX     10              /* a village code */

/* ------------------------------------------------------------ web_db.c */
struct web_pool;

/* Opens n connections to conninfo, each running setup_sql (may be NULL).
 * Returns 0 and *ret, or -ECONNREFUSED (logged). */
int  web_pool_new(const char *conninfo, int n, const char *setup_sql, const char *name,
                  struct web_pool **ret);
void web_pool_free(struct web_pool *p);
/* Takes a connection, waiting up to wait_ms; NULL when none became free
 * or the database is unreachable. Reconnects a broken one first. */
PGconn *web_pool_get(struct web_pool *p, unsigned wait_ms);
/* Gives c back; a connection left inside a transaction or broken is
 * reset first. */
void web_pool_put(struct web_pool *p, PGconn *c);

/* Runs one statement with text parameters; returns its result (caller
 * PQclear()s) or NULL after logging "what: error". */
PGresult *web_exec(PGconn *c, const char *what, const char *sql, int n,
                   const char *const *params);

/* ------------------------------------------------------------ web_stream.c */
/* The output of one request made on a worker thread and written by the
 * loop: the worker calls web_out_put() with each piece (it blocks while
 * the previous piece is not yet with the kernel) and finishes with
 * web_out_error() or nothing; the loop starts the answer at the first
 * piece and ends it when the worker is done. */
struct web_out;

/* On the worker: sets the answer's status, type and extra headers (before
 * the first piece). */
void web_out_head(struct web_out *o, int status, const char *ctype, const char *extra);
/* On the worker: hands data (copied) to the loop. Returns 0, or
 * -ECONNRESET when the client went away (stop producing). */
int  web_out_put(struct web_out *o, const void *data, size_t len);
/* On the worker, before any piece: the answer is this error instead. */
void web_out_error(struct web_out *o, int status, const char *code, const char *message);
/* On the worker: the answer failed after its start (cut short). */
void web_out_fail(struct web_out *o);
/* On the worker: keeps a copy of what is put from now on, up to max
 * bytes; web_out_captured() takes it (NULL when it grew past max or the
 * answer failed). */
void web_out_capture(struct web_out *o, size_t max);
char *web_out_captured(struct web_out *o, size_t *len);
/* Bytes handed over so far. */
uint64_t web_out_bytes(const struct web_out *o);

/* Runs work(o, ud) on the thread pool for the request on c and streams
 * what it produces; free_ud(ud) afterwards on the loop. */
int web_out_run(uv_loop_t *loop, struct http_conn *c, void (*work)(struct web_out *, void *),
                void (*free_ud)(void *), void *ud);

/* ------------------------------------------------------------ app */
/* Who is logged in. scope: '' national, 2 digits a province, 4 a district. */
struct web_who {
    char login[WEB_LOGIN_MAX + 1];
    char name[101];
    char role[16];
    char scope[8];
    char csrf[AUTH_CSRF_LEN + 1];
};

struct web_app {
    uv_loop_t          *loop;
    struct http_server *srv;
    struct web_pool    *primary;        /* accounts, sessions */
    struct web_pool    *replica;        /* the report schema (= primary without a replica) */
    struct throttle    *throttle;       /* failed logins (loop thread only) */
    pthread_mutex_t     throttle_mu;
    const char         *tile_url;       /* "" none */
    const char         *assets_dir;     /* NULL: the embedded files */
    int                 secure_cookie;  /* TLS: cookies get Secure */
    int                 client_cert;    /* a client CA is configured */
    unsigned            cache_ms;       /* pages' answers kept this long (0: none) */
    uint64_t            requests, exports, refused;
};

/* ------------------------------------------------------------ web_http.c */
/* The request handler of the HTTP server (arg: struct web_app). */
void web_on_request(void *arg, struct http_conn *c, const struct http_req *req);
/* {"error": code, "message": message} (malloc'd; NULL when out of memory). */
char *web_error_json(const char *code, const char *message);
/* Answers a refusal as JSON {"error": code, "message": ...}. */
void web_reply_error(struct http_conn *c, int status, const char *code, const char *message);

/* ------------------------------------------------------------ web_data.c */
/* The filters of a data request, from its query string, checked. */
struct web_filter {
    char area[WEB_AREA_MAX + 1];        /* the area prefix asked for (within the scope) */
    char from[11], to[11];              /* dates YYYY-MM-DD */
    char species[9];
    char code[9];
    char by[12];                        /* epi: national, province, district */
    char id[64];                        /* case: its id */
    char lon[12], lat[12];              /* map_at: a spot, degrees to 5 decimals ('' none) */
    int  open_only;
    int  limit;                         /* rows of a page ... */
    int  limit_given;                   /* ... or of an export, when asked for */
};

enum web_format { FMT_JSON, FMT_CSV, FMT_XLSX, FMT_GEOJSON };

/* Fills f from the query; the area must lie within scope (else -EACCES)
 * and every value must be well-formed (else -EINVAL; *bad names it). */
int web_filter_parse(const char *query, const char *scope, struct web_filter *f,
                     const char **bad);
/* The date days_back days before today (at now) where area is, in its
 * province's zone (WIB, WITA or WIT; the nation: WIB), as YYYY-MM-DD: the
 * default period of the filters. */
void web_filter_today(const char *area, time_t now, int days_back, char out[11]);
/* The dataset called name, or NULL. */
const struct web_dataset *web_dataset_find(const char *name);
/* Frees the answers kept for the pages (at exit). */
void web_cache_free(void);
/* Its name, for the file name of an export. */
const char *web_dataset_name(const struct web_dataset *d);
/* On a worker: runs dataset d with f on a replica connection and writes
 * its rows to o in format fmt. gzip_ok: the client accepts gzip (a page's
 * kept answer is then sent gzipped). */
void web_dataset_run(struct web_app *app, const struct web_dataset *d,
                     const struct web_filter *f, enum web_format fmt, int gzip_ok,
                     struct web_out *o);

/* ------------------------------------------------------------ web_out.c */
/* On a worker: sends every row of the query already sent on pg in
 * single-row mode to o as fmt. In GeoJSON the column "geom" (GeoJSON
 * text or json) is each feature's geometry and the others its
 * properties. Returns the number of rows, or -errno (the error is
 * answered or the answer cut). name names the file of a download. */
long web_out_rows(PGconn *pg, struct web_out *o, enum web_format fmt, const char *name);

/* ------------------------------------------------------------ web_account.c */
int web_cmd_account(const char *conninfo, int argc, char **argv);
int web_cmd_upkeep(const char *conninfo, int once, unsigned interval_ms);
/* Starts the upkeep loop on its own thread (serve --upkeep). */
int web_upkeep_thread(const char *conninfo, unsigned interval_ms);
/* Ends that thread (after its round under way) and waits for it; a no-op
 * without one. */
void web_upkeep_stop(void);
/* Session helpers (on a worker, on the primary). */
int web_session_find(PGconn *pg, const char *token, struct web_who *who);
int web_csrf_of(const char *token, char out[AUTH_CSRF_LEN + 1]);
int web_audit(PGconn *pg, const char *login, const char *event, const char *address,
              const char *detail);

#endif
