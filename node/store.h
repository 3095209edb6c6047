/* store.h - the node's SQLite + SpatiaLite store: opening, migrations,
 * transactions, node facts (meta), the node's clock and id generator.
 * Every other module reaches the database through a struct store. */
#ifndef SIKHNAS_STORE_H
#define SIKHNAS_STORE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "hlc.h"
#include "uuid7.h"

struct store;

enum store_sync_mode { STORE_SYNC_FULL = 0, STORE_SYNC_NORMAL, STORE_SYNC_EXTRA };

struct store_opts {
    enum store_sync_mode sync;   /* PRAGMA synchronous; FULL unless the operator says */
    int busy_timeout_ms;         /* how long a writer waits for another (0: 5000) */
    int cache_kib;               /* SQLite page cache of this connection (0: 4096) */
    int create;                  /* 1: create the file if missing (init) */
    int temp_file;               /* 1: temporary tables, sorts and statement
                                  * journals spill to files (the daemon);
                                  * 0: kept in memory, however large */
};

/* Opens (and with opts->create, creates) the store at path, registers the
 * node's point functions (geom.h: sk_point, sk_x, sk_y) and applies pending
 * migrations, each in its own transaction, with SpatiaLite loaded for them.
 * Refuses a store written by a newer version (-EPROTO, logged). */
int  store_open(const char *path, const struct store_opts *opts, struct store **ret);
void store_close(struct store *s);           /* NULL is a no-op */
sqlite3 *store_db(struct store *s);

/* Loads SpatiaLite (mod_spatialite) on the store's connection, once, for
 * SQL that needs its functions (spatial queries, SpatialIndex). Routine
 * reads and writes do not. 0, or -ENOENT (logged) if it cannot be loaded. */
int store_spatial(struct store *s);

/* Schema version of the open store, and the newest this binary knows. */
int store_schema_version(struct store *s);
int store_schema_latest(void);

/* BEGIN IMMEDIATE (waits for other writers up to the busy timeout), COMMIT,
 * ROLLBACK. Return 0 or -errno (-EBUSY when the wait ran out). store_begin
 * is for what a person waits on (a form, an SMS, a command); store_begin_bg
 * for work nobody waits on (sync, import): it lets every waiting
 * store_begin go first, so an officer waits for one such transaction at most. */
int store_begin(struct store *s);
int store_begin_bg(struct store *s);
int store_commit(struct store *s);
void store_rollback(struct store *s);
/* Ends the open transaction as r says: commits it when r is 0, and rolls
 * it back otherwise or when the commit fails. Returns r or the commit's
 * failure. */
int store_end(struct store *s, int r);

/* Waits (a second at most) while interactive writers are waiting for the
 * store, so they go first; store_begin_bg() calls it. */
void store_yield(struct store *s);

/* Runs sql (no results wanted). Returns 0 or -EIO, logging the SQLite error. */
int store_exec(struct store *s, const char *sql);

/* Translates a failed SQLite call into -errno and logs the message at debug level. */
int store_error(struct store *s, int rc);

/* Node facts. meta_get copies into buf (cap bytes); -ENOENT when unset. */
int store_meta_get(struct store *s, const char *key, char *buf, size_t cap);
int store_meta_set(struct store *s, const char *key, const char *value);

/* Today's date on the board, YYYY-MM-DD in local time, by the trusted clock
 * (common/hlc.h: never before the newest time the store has seen). */
void store_local_day(char day[16]);
/* The sync link's bytes (up and down) counted today, from meta link.day and
 * link.bytes (the sync client counts them); 0 on a new day. */
long long store_link_today(struct store *s);

/* The node's district code (4 digits) and node id; "" before init. */
const char *store_district(struct store *s);
const char *store_node_id(struct store *s);

/* A new HLC value for a local change, and a new UUIDv7 made at that time.
 * The HLC's high-water mark is persisted by store_commit(). */
uint64_t store_hlc_tick(struct store *s);
int store_new_id(struct store *s, uint64_t hlc, char out[UUID_STR_LEN]);
/* Merges a peer's HLC (the hub's); persisted with the next commit. */
void store_hlc_observe(struct store *s, uint64_t remote);

/* Reserves the next case reference "DDDD-NNNNNN" inside the open transaction. */
int store_next_ref(struct store *s, char out[16]);

/* Fills buf with the current UTC time as "YYYY-MM-DDTHH:MM:SS.mmmZ", by
 * the trusted clock (common/hlc.h); store_iso_ms() with a given time. */
void store_now_iso(char buf[32]);
void store_iso_ms(uint64_t ms, char buf[32]);

/* Prepares sql once per store and caches it; the statement is reset before
 * it is returned. NULL on error (logged). Do not finalize the result. */
sqlite3_stmt *store_stmt(struct store *s, const char *sql);

/* Where store_get() copies a text column: buf of cap bytes (cut to fit; a
 * NULL value as ""). */
struct store_col {
    char *buf;
    size_t cap;
};

/* Runs sql (cached by store_stmt(), so a string that lives as long as the
 * store) with ?1 = arg (text; NULL binds nothing) and copies the first n
 * columns of its first row into col[0..n). Returns 0, -ENOENT when there is
 * no row (col untouched), or -errno. */
int store_get(struct store *s, const char *sql, const char *arg, const struct store_col *col,
              int n);

/* Steps st (from store_stmt(), its parameters bound), a statement that
 * returns no rows, once and resets it. Returns 0 or -errno. */
int store_step_done(struct store *s, sqlite3_stmt *st);

/* Runs sql (cached, as above), which returns no rows, with ?1 = the text
 * arg or the integer n. Return 0 or -errno. */
int store_run_text(struct store *s, const char *sql, const char *arg);
int store_run_int(struct store *s, const char *sql, int64_t n);

#endif
