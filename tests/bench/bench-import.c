/* bench-import.c - the node's import path against raw SQLite inserts of the
 * same rows, measured in the same run with the same durability settings
 * (WAL, synchronous=FULL, the same rows per transaction).
 *
 *   bench-import SIKHNAS-NODE AREAS-DIR [N=100000] [CHUNK=1000]
 *
 * The node side runs the real `sikhnas-node import` on a JSON Lines file:
 * JSON parsing, validation against reference data, UUIDv7 + HLC, the
 * point (SpatiaLite's blob format) and its R*Tree index, and the outbox
 * trigger.
 *
 * The baseline (the ratio's denominator) is the same rows, already made
 * (ids, refs, HLC values, points), inserted with one reused prepared INSERT
 * into a store made by `sikhnas-node init`: the same schema, indexes, R*Tree
 * and outbox triggers, on a connection set up like the node's. That is SQLite
 * doing the storage work the node asks of it, so the ratio measures what the
 * node's own path (reading, parsing, validating, making ids) costs on top.
 * A plain table of the same columns with only its primary key and `ref`
 * index is printed as a second reference: it shows what the schema costs.
 * Prints records/s, the ratio, and the import's peak RSS. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "geom.h"
#include "testtmp.h"
#include "uuid7.h"

struct row {
    char id[UUID_STR_LEN];
    char ref[16];
    char kind;
    char village[11];
    char syndrome[4];
    char signs[40];
    char animals[160];
    char date[11];
    char note[40];
    double lat, lon;
};

static const char *const signs[] = { "KBG", "DMM", "DIA", "BTK", "NFM", "LMS", "PCG", "ILR" };
static const char *const species[] = { "SP", "KR", "KB", "DB", "AY", "IT", "BB", "AJ" };
static const char *const syndromes[] = { "MMU", "MMD", "GGK", "DPB", "KSB", "KBD", "PAL", "PLB" };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long long rng_state = 88172645463325252ull;
static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

/* the village codes of the district from the idn-area CSV */
static int load_villages(const char *areas, char (**ret)[11])
{
    char path[4096], line[512];
    char (*v)[11] = NULL;
    int n = 0, cap = 0;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/villages.csv", areas);
    fp = fopen(path, "r");
    if (!fp)
        return -errno;
    while (fgets(line, sizeof(line), fp)) {
        if (strncmp(line, "32.01.", 6) != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 512;
            v = realloc(v, (size_t)cap * sizeof(*v));
        }
        int k = 0;
        for (char *p = line; *p && *p != ',' && k < 10; p++)
            if (*p != '.')
                v[n][k++] = *p;
        v[n][k] = '\0';
        n++;
    }
    fclose(fp);
    *ret = v;
    return n;
}

static void make_rows(struct row *rows, int n, char (*vill)[11], int nvill)
{
    struct uuid7_gen g = {0};
    unsigned long long ms = 1790000000000ull;

    for (int i = 0; i < n; i++) {
        struct row *r = &rows[i];
        uuid7_make(&g, ms + (unsigned long long)i / 8, r->id);
        snprintf(r->ref, sizeof(r->ref), "3201-%06d", i + 1);
        snprintf(r->village, sizeof(r->village), "%s", vill[rnd((unsigned)nvill)]);
        r->kind = rnd(10) < 8 ? 'U' : 'P';
        if (r->kind == 'U') {
            snprintf(r->signs, sizeof(r->signs), "[\"%s\",\"%s\"]", signs[rnd(4)], signs[4 + rnd(4)]);
            r->syndrome[0] = '\0';
        } else {
            snprintf(r->signs, sizeof(r->signs), "[]");
            snprintf(r->syndrome, sizeof(r->syndrome), "%s", syndromes[rnd(8)]);
        }
        {
            /* counts that agree (docs/data-model.md, Counts): at risk >= sick + dead */
            unsigned sick = 1 + rnd(30), dead = rnd(5);
            snprintf(r->animals, sizeof(r->animals),
                     "[{\"species\":\"%s\",\"sick\":%u,\"dead\":%u,\"at_risk\":%u}]",
                     species[rnd(8)], sick, dead, sick + dead + rnd(200));
        }
        snprintf(r->date, sizeof(r->date), "2026-%02u-%02u", 1 + rnd(10), 1 + rnd(28));
        snprintf(r->note, sizeof(r->note), "laporan %d dari desa", i);
        r->lat = -6.4 - rnd(40000) / 100000.0;
        r->lon = 106.6 + rnd(50000) / 100000.0;
    }
}

static int write_jsonl(const char *path, const struct row *rows, int n)
{
    FILE *fp = fopen(path, "w");
    if (!fp)
        return -errno;
    for (int i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        fprintf(fp, "{\"kind\":\"%c\",\"village\":\"%s\",", r->kind, r->village);
        if (r->kind == 'U')
            fprintf(fp, "\"signs\":%s,", r->signs);
        else
            fprintf(fp, "\"syndrome\":\"%s\",", r->syndrome);
        fprintf(fp, "\"animals\":%s,\"event_date\":\"%s\",\"lat\":%.5f,\"lon\":%.5f,"
                "\"note\":\"%s\"}\n", r->animals, r->date, r->lat, r->lon, r->note);
    }
    return fclose(fp) == 0 ? 0 : -errno;
}

/* Runs argv; returns the exit status, wall seconds, peak RSS (VmHWM) and
 * the largest private (anonymous) RSS seen while sampling every 5 ms. */
static int run(char *const argv[], double *secs, long *hwm_kb, long *anon_kb)
{
    struct rusage ru;
    double t0 = now_s();
    int status = 0;
    pid_t pid = fork();

    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    /* ru_maxrss would count the pages this process had when it forked, so
     * read the child's own VmHWM and RssAnon from /proc once it has exec'd */
    *anon_kb = *hwm_kb = 0;
    for (;;) {
        pid_t w = wait4(pid, &status, WNOHANG, &ru);
        if (w == pid)
            break;
        char path[64], line[256], comm[64] = "";
        snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
        FILE *fp = fopen(path, "r");
        if (fp) {
            if (!fgets(comm, sizeof(comm), fp))
                comm[0] = '\0';
            fclose(fp);
        }
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        fp = strncmp(comm, "sikhnas-node", 12) == 0 ? fopen(path, "r") : NULL;
        while (fp && fgets(line, sizeof(line), fp)) {
            long kb;
            if (sscanf(line, "RssAnon: %ld", &kb) == 1 && kb > *anon_kb)
                *anon_kb = kb;
            if (sscanf(line, "VmHWM: %ld", &kb) == 1 && kb > *hwm_kb)
                *hwm_kb = kb;
        }
        if (fp)
            fclose(fp);
        usleep(5000);
    }
    *secs = now_s() - t0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static double cpu_s(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Inserts the rows through st (parameters ?1..?13 as below), chunk rows per
 * transaction, and times it. */
static int insert_rows(sqlite3 *db, sqlite3_stmt *st, const struct row *rows, int n, int chunk,
                       double *secs)
{
    double t0 = now_s();

    for (int i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        char kind[2] = { r->kind, 0 };
        if (i % chunk == 0)
            sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)(1790000000000ull << 16) + i);
        sqlite3_bind_text(st, 3, "2026-11-28T10:00:00.000Z", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, r->ref, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, kind, 1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, r->village, -1, SQLITE_STATIC);
        if (r->syndrome[0])
            sqlite3_bind_text(st, 7, r->syndrome, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 7);
        sqlite3_bind_text(st, 8, r->signs, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 9, r->animals, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 10, r->date, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 11, r->note, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 12, r->lon);
        sqlite3_bind_double(st, 13, r->lat);
        if (sqlite3_step(st) != SQLITE_DONE) {
            fprintf(stderr, "insert: %s\n", sqlite3_errmsg(db));
            return -1;
        }
        sqlite3_reset(st);
        if (i % chunk == chunk - 1 || i == n - 1)
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    *secs = now_s() - t0;
    return 0;
}

/* The reference: a plain table of the same columns (primary key and ref). */
static int raw_insert(const char *path, const struct row *rows, int n, int chunk, double *secs)
{
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    int r = -1;

    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                 "CREATE TABLE case_report (id TEXT PRIMARY KEY, origin TEXT NOT NULL,"
                 " hlc INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,"
                 " created_at TEXT NOT NULL, updated_at TEXT NOT NULL, ref TEXT NOT NULL UNIQUE,"
                 " kind TEXT NOT NULL, village TEXT NOT NULL, syndrome TEXT, signs TEXT NOT NULL,"
                 " animals TEXT NOT NULL, ddx TEXT NOT NULL, event_date TEXT NOT NULL,"
                 " reporter TEXT, note TEXT, lon REAL, lat REAL)", NULL, NULL, NULL);
    if (sqlite3_prepare_v2(db, "INSERT INTO case_report VALUES (?1, 'node', ?2, 0, ?3, ?3, ?4,"
                           " ?5, ?6, ?7, ?8, ?9, '[]', ?10, NULL, ?11, ?12, ?13)",
                           -1, &st, NULL) == SQLITE_OK)
        r = insert_rows(db, st, rows, n, chunk, secs);
    else
        fprintf(stderr, "raw insert: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return r;
}

/* The baseline: the same rows, already made, through the node's own INSERT
 * into a store made by `sikhnas-node init`: every index, the R*Tree and the
 * outbox trigger, but none of the node's parsing, validation or id making. */
static int schema_insert(const char *path, const struct row *rows, int n, int chunk,
                         double *secs)
{
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    int r = -1;

    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    /* the node's own connection settings (node/store.c store_open). Without
     * temp_store = MEMORY this baseline was slower than the node itself: an
     * INSERT whose triggers write other tables keeps a statement journal,
     * which SQLite spills to a temporary file after 64 KiB, so every row
     * cost a dozen 4 KiB pwrite()s */
    sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                 " PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;"
                 " PRAGMA wal_autocheckpoint = 1000; PRAGMA cache_size = -4096",
                 NULL, NULL, NULL);
    geom_register(db);     /* the node's sk_point, and sk_x/sk_y of the R*Tree triggers */
    if (sqlite3_prepare_v2(db,
            "INSERT INTO case_report (id, origin, hlc, created_at, updated_at, ref, kind, village,"
            " syndrome, signs, animals, ddx, event_date, reporter, note, geom)"
            " VALUES (?1, 'node', ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?8, ?9, '[]', ?10, NULL, ?11,"
            " sk_point(?12, ?13))", -1, &st, NULL) == SQLITE_OK)
        r = insert_rows(db, st, rows, n, chunk, secs);
    else
        fprintf(stderr, "schema insert: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return r;
}

int main(int argc, char **argv)
{
    char db[256], db2[256], raw[256], jsonl[256];
    char conf[256], (*vill)[11] = NULL;
    struct row *rows;
    double t_node, t_init, t_raw, t_schema;
    long hwm, anon, hwm0, anon0;
    int n, chunk, nvill, rc;

    if (argc < 3) {
        fprintf(stderr, "usage: bench-import SIKHNAS-NODE AREAS-DIR [N] [CHUNK]\n");
        return 2;
    }
    n = argc > 3 ? atoi(argv[3]) : 100000;
    chunk = argc > 4 ? atoi(argv[4]) : 1000;
    const char *dir = test_tmp("bench-import");   /* removed at exit, whatever happens */
    if ((nvill = load_villages(argv[2], &vill)) <= 0) {
        fprintf(stderr, "bench-import: no villages of 32.01 in %s\n", argv[2]);
        return 1;
    }
    snprintf(db, sizeof(db), "%s/node.db", dir);
    snprintf(raw, sizeof(raw), "%s/raw.db", dir);
    snprintf(db2, sizeof(db2), "%s/schema.db", dir);
    snprintf(jsonl, sizeof(jsonl), "%s/reports.jsonl", dir);
    snprintf(conf, sizeof(conf), "%s/node.conf", dir);
    rows = calloc((size_t)n, sizeof(*rows));
    make_rows(rows, n, vill, nvill);
    if (write_jsonl(jsonl, rows, n) < 0)
        return 1;

    char *init[] = { argv[1], "--db", db, "init", "--district", "3201", "--areas", argv[2], NULL };
    if ((rc = run(init, &t_init, &hwm0, &anon0)) != 0) {
        fprintf(stderr, "bench-import: init failed (%d)\n", rc);
        return 1;
    }
    char *init2[] = { argv[1], "--db", db2, "init", "--district", "3201", "--areas", argv[2], NULL };
    if ((rc = run(init2, &t_init, &hwm0, &anon0)) != 0) {
        fprintf(stderr, "bench-import: init failed (%d)\n", rc);
        return 1;
    }
    /* the raw baselines first, then the node: all on the same disk, same run */
    double c0 = cpu_s(RUSAGE_SELF);
    if (raw_insert(raw, rows, n, chunk, &t_raw) < 0)
        return 1;
    double cpu_raw = cpu_s(RUSAGE_SELF) - c0;
    c0 = cpu_s(RUSAGE_SELF);
    if (schema_insert(db2, rows, n, chunk, &t_schema) < 0)
        return 1;
    double cpu_schema = cpu_s(RUSAGE_SELF) - c0;
    double cc0 = cpu_s(RUSAGE_CHILDREN);
    free(rows);                 /* the child must not start with them (see run()) */
    rows = NULL;
    FILE *cf = fopen(conf, "w");
    if (!cf)
        return 1;
    fprintf(cf, "[import]\nchunk = %d\n", chunk);
    fclose(cf);
    char *imp[] = { argv[1], "--db", db, "--config", conf, "import", "--no-progress", jsonl, NULL };
    if ((rc = run(imp, &t_node, &hwm, &anon)) != 0) {
        fprintf(stderr, "bench-import: import failed (%d)\n", rc);
        return 1;
    }
    double cpu_node = cpu_s(RUSAGE_CHILDREN) - cc0;
    struct stat st;
    stat(jsonl, &st);
    printf("bench-import: %d case reports, %d per transaction, WAL + synchronous=FULL\n", n, chunk);
    printf("  raw inserts, node's schema (baseline): %8.0f records/s  (%.2f s; same store as"
           " `init` makes)\n", n / t_schema, t_schema);
    printf("  sikhnas-node import:                   %8.0f records/s  (%.2f s, input %.1f MB)\n",
           n / t_node, t_node, st.st_size / 1e6);
    printf("  ratio node/baseline:                   %8.2f   (target >= 0.5)\n",
           t_schema / t_node);
    printf("  raw inserts, plain table (reference):  %8.0f records/s  (%.2f s; primary key and"
           " ref index only)\n", n / t_raw, t_raw);
    printf("  ratio node/plain table:                %8.2f   (what the schema costs, too)\n",
           t_raw / t_node);
    printf("  CPU per record: baseline %.1f us, node %.1f us, plain table %.1f us\n",
           cpu_schema * 1e6 / n, cpu_node * 1e6 / n, cpu_raw * 1e6 / n);
    printf("  import peak RSS (VmHWM):               %8.1f MB (target <= 20 MB; %s)\n", hwm / 1024.0,
           hwm <= 20 * 1024 ? "met" : "not met");
    printf("  import peak private RSS:               %8.1f MB (RssAnon, sampled every 5 ms)\n",
           anon / 1024.0);
    printf("  init VmHWM:                            %8.1f MB (loads SpatiaLite for its migrations)\n",
           hwm0 / 1024.0);
    free(rows);
    free(vill);
    return 0;
}
