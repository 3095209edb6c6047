/* hub_migrate.c - `sikhnas-hub migrate` and `sikhnas-hub refdata load`.
 * Migrations are compiled into the binary (tools/embed.py), numbered by the
 * prefix of their file name, and applied once each, in order. */
#include "hub_migrate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "embed.h"
#include "kinds.h"
#include "log.h"
#include "strbuf.h"

extern const struct embedded_file central_migrations[];
extern const struct embedded_file reference_lists[];

#define MIGRATE_LOCK_KEY 73217301   /* pg_advisory_lock key shared by every hub */
#define AREA_CSV         "FROM STDIN WITH (FORMAT csv, HEADER true)"

int hub_admin_exec(PGconn *pg, const char *what, const char *sql, int n,
                   const char *const *params, PGresult **ret)
{
    PGresult *res = n > 0 ? PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0)
                          : PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(res);

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        log_error("%s: %s", what, PQerrorMessage(pg));
        PQclear(res);
        return -EIO;
    }
    if (ret)
        *ret = res;
    else
        PQclear(res);
    return 0;
}

int hub_admin_end(PGconn *pg, int r, const char *what)
{
    if (r == 0)
        return hub_admin_exec(pg, what, "COMMIT", 0, NULL, NULL);
    if (PQtransactionStatus(pg) != PQTRANS_IDLE)
        (void) hub_admin_exec(pg, what, "ROLLBACK", 0, NULL, NULL);
    return r;
}

int hub_admin_transaction(const char *conninfo, const char *what,
                          int (*body)(PGconn *pg, void *ud), void *ud)
{
    PGconn *pg = NULL;
    int r;

    r = hub_admin_connect(conninfo, &pg);
    if (r < 0)
        return r;
    r = hub_admin_exec(pg, what, "BEGIN", 0, NULL, NULL);
    if (r == 0)
        r = body(pg, ud);
    r = hub_admin_end(pg, r, what);
    PQfinish(pg);
    return r;
}

/* Runs sql (one or more statements); returns 0 or -EIO after logging the error. */
static int exec_ok(PGconn *pg, const char *sql, const char *what)
{
    return hub_admin_exec(pg, what, sql, 0, NULL, NULL);
}

/* Runs one statement with text parameters; returns the number of rows it
 * returned or touched, or -EIO after logging the error. */
static long exec_params(PGconn *pg, const char *sql, int n, const char *const *params,
                        const char *what)
{
    PGresult *res;
    long r;

    if (hub_admin_exec(pg, what, sql, n, params, &res) < 0)
        return -EIO;
    r = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : atol(PQcmdTuples(res));
    PQclear(res);
    return r;
}

int hub_admin_connect(const char *conninfo, PGconn **ret)
{
    PGconn *pg = PQconnectdb(conninfo);

    if (PQstatus(pg) != CONNECTION_OK) {
        log_error("cannot connect to PostgreSQL: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return -ECONNREFUSED;
    }
    PQsetClientEncoding(pg, "UTF8");
    *ret = pg;
    return 0;
}

/* Puts the central stamp and the change feed's trigger on every synced
 * table of the kinds table (sync/kinds.c), in one transaction: a new kind
 * needs only its CREATE TABLE in a migration. Idempotent. */
static int kind_triggers(PGconn *pg)
{
    struct strbuf s = { 0 };
    int r;

    for (int i = 0; i < record_kinds_count; i++) {
        const struct record_kind *k = &record_kinds[i];
        if (!k->synced)
            continue;
        strbuf_fmt(&s, "CREATE OR REPLACE TRIGGER %s_central_stamp BEFORE INSERT OR UPDATE ON %s "
                       "FOR EACH ROW WHEN (current_setting('sikhnas.writer', true) IS DISTINCT "
                       "FROM 'hub') EXECUTE FUNCTION sikhnas_central_stamp();", k->table, k->table);
        strbuf_fmt(&s, "CREATE OR REPLACE TRIGGER %s_feed_log AFTER INSERT OR UPDATE ON %s "
                       "FOR EACH ROW WHEN (current_setting('sikhnas.writer', true) IS DISTINCT "
                       "FROM 'hub') EXECUTE FUNCTION sikhnas_feed_log_kind('%s');", k->table,
                   k->table, k->district_col);
    }
    r = exec_ok(pg, "BEGIN", "migrate: begin");
    if (r == 0)
        r = s.err ? s.err : exec_ok(pg, s.p, "migrate: triggers of the record kinds");
    r = hub_admin_end(pg, r, "migrate: triggers of the record kinds");
    strbuf_free(&s);
    return r;
}

int hub_migrate(const char *conninfo)
{
    PGconn *pg = NULL;
    const struct embedded_file *f;
    int r, applied = 0;

    r = hub_admin_connect(conninfo, &pg);
    if (r < 0)
        return r;
    r = exec_ok(pg, "SET client_min_messages = warning;"
                    "SELECT pg_advisory_lock(" "73217301" ");"
                    "CREATE TABLE IF NOT EXISTS schema_migration ("
                    " version integer PRIMARY KEY, name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())", "migrate: prepare");
    if (r < 0)
        goto out;
    for (f = central_migrations; f->name; f++) {
        int version = atoi(f->name);
        char v[16];
        const char *const p[] = { v, f->name };
        long n;

        if (version <= 0) {
            log_error("migrate: '%s' has no version prefix", f->name);
            r = -EINVAL;
            goto out;
        }
        snprintf(v, sizeof(v), "%d", version);
        n = exec_params(pg, "SELECT 1 FROM schema_migration WHERE version = $1", 1, p,
                        "migrate");
        if (n < 0) {
            r = -EIO;
            goto out;
        }
        if (n > 0)
            continue;
        r = exec_ok(pg, "BEGIN", "migrate: begin");
        if (r == 0)
            r = exec_ok(pg, f->data, f->name);
        if (r == 0 && exec_params(pg, "INSERT INTO schema_migration (version, name) "
                                      "VALUES ($1, $2)", 2, p, "migrate: record") < 0)
            r = -EIO;
        r = hub_admin_end(pg, r, f->name);
        if (r < 0)
            goto out;
        log_notice("migrate: applied %s", f->name);
        applied++;
    }
    r = kind_triggers(pg);
    if (r < 0)
        goto out;
    log_notice("migrate: schema is current (%d migration%s applied now)", applied,
               applied == 1 ? "" : "s");
out:
    if (pg && PQstatus(pg) == CONNECTION_OK)
        (void) exec_ok(pg, "SELECT pg_advisory_unlock(" "73217301" ")", "migrate: unlock");
    PQfinish(pg);
    return r;
}

/* Streams len bytes into an open COPY ... FROM STDIN; returns 0 or -EIO. */
static int copy_in(PGconn *pg, const char *sql, const char *data, size_t len, const char *what)
{
    PGresult *res = PQexec(pg, sql);
    int r = 0;

    if (PQresultStatus(res) != PGRES_COPY_IN) {
        log_error("%s: %s", what, PQerrorMessage(pg));
        PQclear(res);
        return -EIO;
    }
    PQclear(res);
    while (len > 0) {
        size_t n = len > (1u << 20) ? (1u << 20) : len;
        if (PQputCopyData(pg, data, (int)n) != 1) {
            r = -EIO;
            break;
        }
        data += n;
        len -= n;
    }
    if (PQputCopyEnd(pg, r < 0 ? "aborted" : NULL) != 1)
        r = -EIO;
    while ((res = PQgetResult(pg))) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            r = -EIO;
        PQclear(res);
    }
    if (r < 0)
        log_error("%s: %s", what, PQerrorMessage(pg));
    return r;
}

static int read_file(const char *path, char **ret, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    int r = 0;

    if (!f)
        return log_errno(LOG_ERR, -errno, "cannot open '%s'", path);
    if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
        r = log_errno(LOG_ERR, -errno, "cannot read '%s'", path);
        goto out;
    }
    if (n > (256L << 20)) {
        log_error("'%s' is larger than 256 MiB", path);
        r = -EFBIG;
        goto out;
    }
    buf = malloc((size_t)n + 1);
    if (!buf) {
        r = -ENOMEM;
        goto out;
    }
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        r = log_errno(LOG_ERR, -EIO, "short read on '%s'", path);
        goto out;
    }
    buf[n] = 0;
    *ret = buf;
    *ret_len = (size_t)n;
    buf = NULL;
out:
    free(buf);
    fclose(f);
    return r;
}

static int load_areas(PGconn *pg, const char *dir)
{
    /* file, the COPY of its columns, level */
    static const struct {
        const char *file;
        const char *copy;
        const char *level;
    } files[] = {
        { "provinces.csv", "COPY stage_area (code, name) " AREA_CSV, "1" },
        { "regencies.csv", "COPY stage_area (code, parent, name) " AREA_CSV, "2" },
        { "districts.csv", "COPY stage_area (code, parent, name) " AREA_CSV, "3" },
        { "villages.csv", "COPY stage_area (code, parent, name) " AREA_CSV, "4" },
    };
    long changed = 0;
    int r = 0;

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[4096];
        char *data = NULL;
        size_t len = 0;
        long n;

        snprintf(path, sizeof(path), "%s/%s", dir, files[i].file);
        r = read_file(path, &data, &len);
        if (r < 0)
            return r;
        r = exec_ok(pg, "TRUNCATE stage_area", "refdata: stage");
        if (r == 0)
            r = copy_in(pg, files[i].copy, data, len, files[i].file);
        free(data);
        if (r < 0)
            return r;
        n = exec_params(pg, "INSERT INTO area (code, level, parent_code, name) "
                            "SELECT replace(code, '.', ''), $1::int, replace(parent, '.', ''), "
                            "name FROM stage_area "
                            "ON CONFLICT (code) DO UPDATE SET level = EXCLUDED.level, "
                            "parent_code = EXCLUDED.parent_code, name = EXCLUDED.name "
                            "WHERE (area.level, area.parent_code, area.name) IS DISTINCT FROM "
                            "(EXCLUDED.level, EXCLUDED.parent_code, EXCLUDED.name)",
                        1, &files[i].level, "refdata");
        if (n < 0)
            return -EIO;
        log_info("refdata: %s: %ld new or changed", files[i].file, n);
        changed += n;
    }
    log_notice("refdata: areas loaded from %s (%ld new or changed)", dir, changed);
    return 0;
}

static int load_code_lists(PGconn *pg)
{
    long changed = 0;

    for (const struct embedded_file *f = reference_lists; f->name; f++) {
        char list[64];
        const char *const p[] = { list };
        const char *dot = strrchr(f->name, '.');
        size_t n = dot ? (size_t)(dot - f->name) : strlen(f->name);
        long k;
        int r;

        if (n == 0 || n >= sizeof(list))
            continue;
        memcpy(list, f->name, n);
        list[n] = 0;
        for (size_t i = 0; i < n; i++)     /* the list name comes from our own file names */
            if (!((list[i] >= 'a' && list[i] <= 'z') || list[i] == '_'))
                return -EINVAL;
        r = exec_ok(pg, "TRUNCATE stage_code", "refdata: stage");
        if (r == 0)
            r = copy_in(pg, "COPY stage_code (code, label_id, label_en, parent) "
                            "FROM STDIN WITH (FORMAT csv, HEADER true)", f->data, f->len, f->name);
        if (r < 0)
            return r;
        k = exec_params(pg, "INSERT INTO code_list (list, code, label_id, label_en, parent, "
                            "active) SELECT $1, code, label_id, label_en, nullif(parent, ''), 1 "
                            "FROM stage_code "
                            "ON CONFLICT (list, code) DO UPDATE SET label_id = EXCLUDED.label_id, "
                            "label_en = EXCLUDED.label_en, parent = EXCLUDED.parent, active = 1 "
                            "WHERE (code_list.label_id, code_list.label_en, code_list.parent, "
                            "code_list.active) IS DISTINCT FROM (EXCLUDED.label_id, "
                            "EXCLUDED.label_en, EXCLUDED.parent, EXCLUDED.active)",
                        1, p, "refdata");
        if (k < 0)
            return -EIO;
        changed += k;
    }
    log_notice("refdata: code lists loaded (%ld new or changed)", changed);
    return 0;
}

int hub_refdata_load(const char *conninfo, const char *areas_dir)
{
    PGconn *pg = NULL;
    int r;

    r = hub_admin_connect(conninfo, &pg);
    if (r < 0)
        return r;
    r = exec_ok(pg, "SET client_min_messages = warning; BEGIN;"
                    "CREATE TEMP TABLE stage_area (code text, parent text, name text) "
                    "ON COMMIT DROP;"
                    "CREATE TEMP TABLE stage_code (code text, label_id text, label_en text, "
                    "parent text) ON COMMIT DROP", "refdata: begin");
    if (r < 0)
        goto out;
    if (areas_dir) {
        r = load_areas(pg, areas_dir);
        if (r < 0)
            goto out;
    }
    r = load_code_lists(pg);
out:
    r = hub_admin_end(pg, r, "refdata");
    if (r == 0)
        r = exec_ok(pg, "ANALYZE area; ANALYZE code_list", "refdata: analyze");
    PQfinish(pg);
    return r;
}
