/* store.c - opening the node's store. SQLite in WAL mode with
 * synchronous=FULL by default: what the node acknowledged is on the card
 * before the officer sees "saved". Migrations are compiled in (schema/node)
 * and applied in order, one transaction each; PRAGMA user_version records
 * the version, and a store from a newer build is refused, never "upgraded". */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "embed.h"
#include "geom.h"
#include "kinds.h"
#include "log.h"
#include "strbuf.h"

#define STORE_APP_ID   0x534b4e53   /* "SKNS" in PRAGMA application_id */
#define STMT_CACHE_MAX 256

extern const struct embedded_file node_migrations[];

struct stmt_slot {
    const char *sql;
    sqlite3_stmt *stmt;
};

struct store {
    sqlite3 *db;
    int spatialite;                   /* 1: mod_spatialite is loaded on db */
    int busy_timeout_ms;
    int wait_fd;                      /* "DB-writers": writers waiting hold it shared */
    int background;                   /* 1 while a background writer waits to begin */
    struct timespec began;            /* when the write transaction began */
    int schema_version;
    struct hlc clock;
    uint64_t clock_saved;             /* the HLC value last written to meta */
    struct uuid7_gen ids;
    unsigned long long ref_seq;       /* the last case reference number handed out */
    unsigned long long ref_saved;     /* ... and the one in meta */
    char district[8];
    char node_id[UUID_STR_LEN];
    struct stmt_slot stmts[STMT_CACHE_MAX];
    int n_stmts;
};

int store_error(struct store *s, int rc)
{
    int ext = sqlite3_extended_errcode(s->db);

    log_debug("sqlite: %s (%d)", sqlite3_errmsg(s->db), ext);
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return -EBUSY;
    case SQLITE_CONSTRAINT: return -EEXIST;
    case SQLITE_NOMEM: return -ENOMEM;
    case SQLITE_FULL: return -ENOSPC;
    case SQLITE_READONLY: case SQLITE_PERM: case SQLITE_AUTH: return -EACCES;
    case SQLITE_CORRUPT: case SQLITE_NOTADB: return -EUCLEAN;
    case SQLITE_CANTOPEN: return -ENOENT;
    default: return -EIO;
    }
}

int store_exec(struct store *s, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);

    if (rc != SQLITE_OK) {
        log_error("store: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return store_error(s, rc);
    }
    return 0;
}

/* 1 while an interactive writer waits for the store (holds DB-writers shared). */
static int writer_waiting(struct store *s)
{
    if (s->wait_fd < 0 || flock(s->wait_fd, LOCK_EX | LOCK_NB) == 0) {
        if (s->wait_fd >= 0)
            (void) flock(s->wait_fd, LOCK_UN);
        return 0;
    }
    return 1;
}

/* SQLite's default busy handler sleeps up to 100 ms between tries, and a
 * bulk import that commits every few milliseconds could win every race.
 * Polling each millisecond lets a single officer's save slip in between two
 * chunks of an import. A background writer (sync, import) does not even try
 * while an officer's save waits: when the lock frees, the officer gets it. */
static int store_busy(void *arg, int count)
{
    struct store *s = arg;

    if (count >= s->busy_timeout_ms)
        return 0;
    usleep(1000);
    while (s->background && writer_waiting(s) && count++ < s->busy_timeout_ms)
        usleep(1000);
    return 1;
}

static int pragma_int(struct store *s, const char *sql, int *ret)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

    if (rc != SQLITE_OK)
        return store_error(s, rc);
    rc = sqlite3_step(st);
    *ret = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_error(s, rc);
}

int store_schema_latest(void)
{
    int n = 0;
    while (node_migrations[n].name)
        n++;
    return n;
}

int store_schema_version(struct store *s)
{
    return s->schema_version;
}

/* Applies the migrations after the store's version, each in one transaction
 * that also sets user_version, so a crash leaves a whole version or none. */
static int store_migrate(struct store *s)
{
    int latest = store_schema_latest();
    int r;

    if (s->schema_version > latest) {
        log_error("store is at schema version %d, written by a newer sikhnas-node; "
                  "this one knows versions up to %d: install the newer sikhnas-node",
                  s->schema_version, latest);
        return -EPROTO;
    }
    /* the first migration creates SpatiaLite's metadata and index; later
     * ones may use its SQL too, and only init and upgrades pay for it */
    if (s->schema_version < latest) {
        r = store_spatial(s);
        if (r < 0)
            return r;
    }
    for (int v = s->schema_version + 1; v <= latest; v++) {
        const struct embedded_file *m = &node_migrations[v - 1];
        char sql[96];

        log_info("store: applying migration %s", m->name);
        r = store_begin(s);
        if (r < 0)
            return r;
        r = store_exec(s, m->data);
        if (r == 0) {
            snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v);
            r = store_exec(s, sql);
        }
        r = store_end(s, r);
        if (r < 0) {
            log_error("store: migration %s failed; the store is left at version %d",
                      m->name, v - 1);
            return r;
        }
        s->schema_version = v;
    }
    return 0;
}

/* The capture triggers of every synced kind (sync/kinds.h): an insert or an
 * update of a row queues it in the outbox in the same transaction (not when
 * the change came down from the hub: sync_apply then holds a row), and a
 * row is never deleted (a tombstone instead). Made from the kinds table
 * rather than in each migration, so a new kind needs only its CREATE TABLE;
 * checked at every open (a read), made when one is missing. */
static int ensure_triggers(struct store *s)
{
    struct strbuf q = { 0 };
    int want = 0, have = 0, r;

    for (int i = 0; i < record_kinds_count; i++)
        want += record_kinds[i].synced ? 3 : 0;
    r = pragma_int(s, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND "
                      "(name LIKE '%\\_outbox\\_insert' ESCAPE '\\' OR "
                      "name LIKE '%\\_outbox\\_update' ESCAPE '\\' OR "
                      "name LIKE '%\\_no\\_delete' ESCAPE '\\')", &have);
    if (r < 0 || have >= want)
        return r;
    for (int i = 0; i < record_kinds_count; i++) {
        const char *t = record_kinds[i].table;
        if (!record_kinds[i].synced)
            continue;
        for (int upd = 0; upd < 2; upd++)
            strbuf_fmt(&q, "CREATE TRIGGER IF NOT EXISTS %s_outbox_%s AFTER %s ON %s "
                           "WHEN NOT EXISTS (SELECT 1 FROM sync_apply) BEGIN "
                           "INSERT INTO outbox (tbl, row_id, hlc) VALUES ('%s', NEW.id, NEW.hlc); "
                           "END;", t, upd ? "update" : "insert", upd ? "UPDATE" : "INSERT", t, t);
        strbuf_fmt(&q, "CREATE TRIGGER IF NOT EXISTS %s_no_delete BEFORE DELETE ON %s BEGIN "
                       "SELECT RAISE(ABORT, 'rows of %s are never deleted: set deleted = 1 "
                       "(a tombstone)'); END;", t, t, t);
    }
    if (q.err)
        return q.err;
    r = store_begin(s);
    if (r == 0)
        r = store_exec(s, q.p);
    r = store_end(s, r);
    strbuf_free(&q);
    return r;
}

static void store_load_facts(struct store *s)
{
    char buf[64];

    if (store_meta_get(s, "district", s->district, sizeof(s->district)) < 0)
        s->district[0] = '\0';
    if (store_meta_get(s, "node_id", s->node_id, sizeof(s->node_id)) < 0)
        s->node_id[0] = '\0';
    if (store_meta_get(s, "hlc", buf, sizeof(buf)) == 0)
        s->clock.last = strtoull(buf, NULL, 10);
    s->clock_saved = s->clock.last;
    clock_load_floor(s);
    s->ref_seq = 0;
    if (store_meta_get(s, "ref_seq", buf, sizeof(buf)) == 0)
        s->ref_seq = strtoull(buf, NULL, 10);
    s->ref_saved = s->ref_seq;
}

/* SpatiaLite and what it loads (PROJ, GEOS, librttopo, libxml2 with ICU,
 * libstdc++, PROJ's libcurl with its TLS stack) are about 13 MB of every
 * process that maps them: more than the node needs for everything else. The
 * node's own writes and reads use geom.c, so SpatiaLite is loaded as the
 * extension mod_spatialite only where its SQL is needed: migrations that
 * create spatial metadata, and spatial queries (store_spatial()). Extension
 * loading is enabled for that one call only, so SQL cannot load anything. */
int store_spatial(struct store *s)
{
    char *msg = NULL;
    int rc;

    if (s->spatialite)
        return 0;
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 1, NULL);
    rc = sqlite3_load_extension(s->db, "mod_spatialite", NULL, &msg);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    if (rc != SQLITE_OK) {
        log_error("store: cannot load SpatiaLite (mod_spatialite): %s; "
                  "install it with `apt-get install libsqlite3-mod-spatialite`",
                  msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return -ENOENT;
    }
    s->spatialite = 1;
    return 0;
}

int store_open(const char *path, const struct store_opts *opts, struct store **ret)
{
    static const char *const sync_pragma[] = {
        [STORE_SYNC_FULL] = "PRAGMA synchronous = FULL",
        [STORE_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
        [STORE_SYNC_EXTRA] = "PRAGMA synchronous = EXTRA",
    };
    struct store *s;
    struct stat st;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    int app_id = 0, n_objects = 0, fresh, rc, r;
    char mode[16] = "";

    if (!opts->create && stat(path, &st) < 0) {
        log_error("no store at '%s': create one with `sikhnas-node --db %s init --district CODE`",
                  path, path);
        return -ENOENT;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->wait_fd = -1;
    s->busy_timeout_ms = opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000;
    if (opts->create)
        flags |= SQLITE_OPEN_CREATE;
    rc = sqlite3_open_v2(path, &s->db, flags, NULL);
    if (rc != SQLITE_OK) {
        r = log_errno(LOG_ERR, s->db ? store_error(s, rc) : -ENOMEM,
                      "cannot open store '%s'", path);
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_handler(s->db, store_busy, s);
    {
        char wpath[4096];
        snprintf(wpath, sizeof(wpath), "%s-writers", path);
        s->wait_fd = open(wpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        /* without it (read-only directory) writers are merely less fair */
    }

    r = pragma_int(s, "PRAGMA application_id", &app_id);
    if (r < 0) {
        log_error("'%s' is not a SQLite database", path);
        r = -EUCLEAN;
        goto fail;
    }
    r = pragma_int(s, "PRAGMA user_version", &s->schema_version);
    if (r < 0)
        goto fail;
    r = pragma_int(s, "SELECT count(*) FROM sqlite_master", &n_objects);
    if (r < 0)
        goto fail;
    fresh = app_id == 0 && s->schema_version == 0 && n_objects == 0;
    if (!fresh && app_id != STORE_APP_ID) {
        log_error("'%s' is a SQLite database but not a sikhnas-node store", path);
        r = -EUCLEAN;
        goto fail;
    }

    /* WAL: readers never block the writer, and one fsync per commit. */
    {
        sqlite3_stmt *stm;
        rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &stm, NULL);
        if (rc == SQLITE_OK && sqlite3_step(stm) == SQLITE_ROW)
            snprintf(mode, sizeof(mode), "%s", (const char *)sqlite3_column_text(stm, 0));
        sqlite3_finalize(stm);
        if (strcmp(mode, "wal") != 0) {
            log_error("store '%s': cannot switch to WAL mode (%s)", path,
                      mode[0] ? mode : sqlite3_errmsg(s->db));
            r = -EIO;
            goto fail;
        }
    }
    r = store_exec(s, sync_pragma[opts->sync]);
    if (r == 0)
        r = store_exec(s, opts->temp_file ? "PRAGMA temp_store = FILE"
                                          : "PRAGMA temp_store = MEMORY");
    if (r == 0)
        r = store_exec(s, "PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 1000");
    if (r == 0) {
        char sql[48];
        snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d",
                 opts->cache_kib > 0 ? opts->cache_kib : 4096);
        r = store_exec(s, sql);
    }
    if (r < 0)
        goto fail;

    rc = geom_register(s->db);
    if (rc != SQLITE_OK) {
        r = store_error(s, rc);
        goto fail;
    }

    if (fresh) {
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA application_id = %d", STORE_APP_ID);
        r = store_exec(s, sql);
        if (r < 0)
            goto fail;
    }
    r = store_migrate(s);
    if (r == 0)
        r = ensure_triggers(s);
    if (r < 0)
        goto fail;
    store_load_facts(s);
    *ret = s;
    return 0;
fail:
    store_close(s);
    return r;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_stmts; i++)
        sqlite3_finalize(s->stmts[i].stmt);
    if (s->db)
        sqlite3_close(s->db);
    if (s->wait_fd >= 0)
        close(s->wait_fd);
    free(s);
}

sqlite3 *store_db(struct store *s)
{
    return s->db;
}

/* Writers are not served in order by SQLite: a sync or an import that
 * commits and begins again at once can starve an officer's save. So an
 * interactive writer (store_begin) holds a shared lock on DB-writers while
 * it waits for the write lock, and a background writer (store_begin_bg)
 * waits while anyone holds that lock, before it asks and while it asks. An
 * officer's save then waits for one background transaction at most. */
static int begin(struct store *s, int background)
{
    char buf[32];
    int rc;

    if (background) {
        store_yield(s);
        s->background = 1;
    } else if (s->wait_fd >= 0) {
        (void) flock(s->wait_fd, LOCK_SH);
    }
    rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (background)
        s->background = 0;
    else if (s->wait_fd >= 0)
        (void) flock(s->wait_fd, LOCK_UN);
    clock_gettime(CLOCK_MONOTONIC, &s->began);

    if (rc != SQLITE_OK) {
        int r = store_error(s, rc);
        if (r == -EBUSY)
            log_error("store is busy: another writer held it for more than %d ms",
                      s->busy_timeout_ms);
        else
            log_error("store: cannot begin a transaction: %s", sqlite3_errmsg(s->db));
        return r;
    }
    /* another process may have written since: take its counters */
    if (s->schema_version == 0)
        return 0;                       /* the first migration: no meta yet */
    if (store_meta_get(s, "ref_seq", buf, sizeof(buf)) == 0)
        s->ref_seq = s->ref_saved = strtoull(buf, NULL, 10);
    if (store_meta_get(s, "hlc", buf, sizeof(buf)) == 0) {
        uint64_t h = strtoull(buf, NULL, 10);
        if (h > s->clock.last)
            s->clock.last = h;
        s->clock_saved = h;
    }
    return 0;
}

int store_begin(struct store *s)
{
    return begin(s, 0);
}

int store_begin_bg(struct store *s)
{
    return begin(s, 1);
}

int store_commit(struct store *s)
{
    int rc;

    char buf[24];
    int r;

    /* counters handed out in this transaction are saved in it */
    if (s->clock.last != s->clock_saved) {
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)s->clock.last);
        r = store_meta_set(s, "hlc", buf);
        if (r == 0) {
            snprintf(buf, sizeof(buf), "%llu",
                     (unsigned long long)clock_floor_to_save(s->clock.last));
            r = store_meta_set(s, "clock.floor", buf);
        }
        if (r < 0)
            return r;
    }
    if (s->ref_seq != s->ref_saved) {
        snprintf(buf, sizeof(buf), "%llu", s->ref_seq);
        r = store_meta_set(s, "ref_seq", buf);
        if (r < 0)
            return r;
    }
    rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        log_error("store: commit failed: %s", sqlite3_errmsg(s->db));
        return store_error(s, rc);
    }
    if (log_level >= LOG_DEBUG) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double ms = (double)(now.tv_sec - s->began.tv_sec) * 1e3 +
                    (double)(now.tv_nsec - s->began.tv_nsec) / 1e6;
        if (ms > 100)
            log_debug("store: a write transaction held the store for %.0f ms", ms);
    }
    s->clock_saved = s->clock.last;
    s->ref_saved = s->ref_seq;
    return 0;
}

void store_yield(struct store *s)
{
    /* bounded: a writer stuck while holding the lock must not stop an import */
    for (int i = 0; i < 2000 && writer_waiting(s); i++)
        usleep(500);
}

void store_rollback(struct store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    /* references of the dead transaction are handed out again (its rows are
     * gone); HLC values are simply skipped */
    s->ref_seq = s->ref_saved;
}

int store_end(struct store *s, int r)
{
    if (r == 0)
        r = store_commit(s);
    if (r < 0)
        store_rollback(s);
    return r;
}

sqlite3_stmt *store_stmt(struct store *s, const char *sql)
{
    sqlite3_stmt *st;
    int rc;

    for (int i = 0; i < s->n_stmts; i++) {
        if (s->stmts[i].sql == sql || strcmp(s->stmts[i].sql, sql) == 0) {
            sqlite3_reset(s->stmts[i].stmt);
            sqlite3_clear_bindings(s->stmts[i].stmt);
            return s->stmts[i].stmt;
        }
    }
    rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK) {
        log_error("store: cannot prepare statement: %s", sqlite3_errmsg(s->db));
        return NULL;
    }
    if (s->n_stmts < STMT_CACHE_MAX) {
        s->stmts[s->n_stmts].sql = sql;
        s->stmts[s->n_stmts].stmt = st;
        s->n_stmts++;
    } else {
        log_error("store: statement cache full (%d); raise STMT_CACHE_MAX", STMT_CACHE_MAX);
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

int store_get(struct store *s, const char *sql, const char *arg, const struct store_col *col,
              int n)
{
    sqlite3_stmt *st = store_stmt(s, sql);
    int rc;

    if (!st)
        return -EIO;
    if (arg)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    for (int i = 0; rc == SQLITE_ROW && i < n; i++) {
        const unsigned char *v = sqlite3_column_text(st, i);
        snprintf(col[i].buf, col[i].cap, "%s", v ? (const char *)v : "");
    }
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? -ENOENT : store_error(s, rc);
}

int store_step_done(struct store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_error(s, rc);
}

int store_run_text(struct store *s, const char *sql, const char *arg)
{
    sqlite3_stmt *st = store_stmt(s, sql);

    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    return store_step_done(s, st);
}

int store_run_int(struct store *s, const char *sql, int64_t n)
{
    sqlite3_stmt *st = store_stmt(s, sql);

    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, n);
    return store_step_done(s, st);
}

int store_meta_get(struct store *s, const char *key, char *buf, size_t cap)
{
    const struct store_col value = { buf, cap };

    return store_get(s, "SELECT value FROM meta WHERE key = ?1", key, &value, 1);
}

int store_meta_set(struct store *s, const char *key, const char *value)
{
    sqlite3_stmt *st = store_stmt(s,
        "INSERT INTO meta (key, value) VALUES (?1, ?2) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    int r;

    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    r = store_step_done(s, st);
    if (r < 0)
        return r;
    if (strcmp(key, "district") == 0)
        snprintf(s->district, sizeof(s->district), "%s", value);
    else if (strcmp(key, "node_id") == 0)
        snprintf(s->node_id, sizeof(s->node_id), "%s", value);
    return 0;
}

const char *store_district(struct store *s)
{
    return s->district;
}

const char *store_node_id(struct store *s)
{
    return s->node_id;
}

uint64_t store_hlc_tick(struct store *s)
{
    return hlc_tick(&s->clock, hlc_wall_ms());
}

void store_hlc_observe(struct store *s, uint64_t remote)
{
    (void) hlc_observe(&s->clock, remote, hlc_wall_ms(), 0);
}

int store_new_id(struct store *s, uint64_t hlc, char out[UUID_STR_LEN])
{
    return uuid7_make(&s->ids, HLC_MS(hlc), out);
}

int store_next_ref(struct store *s, char out[16])
{
    if (!s->district[0])
        return -ENOENT;
    s->ref_seq++;              /* past 999999 the number simply grows a digit */
    snprintf(out, 16, "%s-%06llu", s->district, s->ref_seq);
    return 0;
}

void store_local_day(char day[16])
{
    time_t t = (time_t)(hlc_wall_ms() / 1000);
    struct tm tm;

    localtime_r(&t, &tm);
    strftime(day, 16, "%Y-%m-%d", &tm);
}

long long store_link_today(struct store *s)
{
    char day[16], have[16], buf[24];

    store_local_day(day);
    if (store_meta_get(s, "link.day", have, sizeof(have)) < 0 || strcmp(have, day) != 0 ||
        store_meta_get(s, "link.bytes", buf, sizeof(buf)) < 0)
        return 0;
    return strtoll(buf, NULL, 10);
}

void store_now_iso(char buf[32])
{
    store_iso_ms(hlc_wall_ms(), buf);       /* the trusted clock (common/hlc.h) */
}

void store_iso_ms(uint64_t ms, char buf[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    size_t n;

    gmtime_r(&t, &tm);
    n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, 32 - n, ".%03uZ", (unsigned)(ms % 1000));
}
