/* clock.c - a board without a clock: the floor of the trusted clock kept in
 * the store, the records saved while the system clock was wrong, and their
 * correction once the hub's time is known (clock.h, docs/security.md). */
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "hlc.h"
#include "kinds.h"
#include "log.h"

#ifndef SIKHNAS_BUILD_EPOCH
#define SIKHNAS_BUILD_EPOCH 0LL
#endif

void clock_load_floor(struct store *s)
{
    char buf[32];
    uint64_t f = 0;

    hlc_floor_raise((uint64_t)SIKHNAS_BUILD_EPOCH * 1000u);
    if (store_meta_get(s, "clock.floor", buf, sizeof(buf)) == 0)
        f = strtoull(buf, NULL, 10);
    else if (store_meta_get(s, "hlc", buf, sizeof(buf)) == 0)
        f = HLC_MS(strtoull(buf, NULL, 10));      /* a store from before the floor */
    hlc_floor_raise(f);
    if (hlc_clock_behind_ms())
        log_warning("clock: the system clock is %llu s behind the newest time this node has "
                    "seen; using that time until a sync brings the hub's",
                    (unsigned long long)hlc_clock_behind_ms() / 1000);
}

uint64_t clock_floor_to_save(uint64_t hlc_last)
{
    uint64_t now = hlc_wall_ms(), ms = HLC_MS(hlc_last);

    return ms < now ? ms : now;
}

/* This boot's id (the kernel's), or "" when it cannot be read. */
static const char *boot_id(void)
{
    static char id[40];
    int fd;
    ssize_t n;

    if (id[0])
        return id;
    fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return "";
    n = read(fd, id, sizeof(id) - 1);
    close(fd);
    while (n > 0 && (id[n - 1] == '\n' || id[n - 1] == ' '))
        n--;
    id[n > 0 ? n : 0] = '\0';
    return id;
}

int clock_flag(struct store *s, const char *tbl, const char *id)
{
    sqlite3_stmt *st;
    char now[32];

    if (!hlc_clock_behind_ms())
        return 0;
    st = store_stmt(s, "INSERT OR REPLACE INTO clock_suspect (tbl, row_id, boot_id, boot_ms, "
                       "saved_at) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!st)
        return -EIO;
    store_iso_ms(hlc_wall_ms(), now);
    sqlite3_bind_text(st, 1, tbl, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, boot_id(), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)hlc_boot_ms());
    sqlite3_bind_text(st, 5, now, -1, SQLITE_TRANSIENT);
    return store_step_done(s, st);
}

/* Corrects one record: created_at and updated_at that still hold the time
 * it was given become the real one, with a new HLC (a new version, so it
 * goes up again and wins at the hub). */
static int correct_one(struct store *s, const char *tbl, const char *id, const char *saved,
                       const char *real)
{
    const struct record_kind *k = record_kind_find(tbl);
    char sql[320];
    sqlite3_stmt *st;
    int rc;

    if (!k || !k->synced)
        return 0;                   /* not a table of ours: nothing to correct */
    snprintf(sql, sizeof(sql), "UPDATE %s SET hlc = ?1, "
             "created_at = CASE WHEN created_at = ?3 THEN ?4 ELSE created_at END, "
             "updated_at = CASE WHEN updated_at = ?3 THEN ?4 ELSE updated_at END "
             "WHERE id = ?2", k->table);
    if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) != SQLITE_OK)
        return store_error(s, sqlite3_errcode(store_db(s)));
    sqlite3_bind_int64(st, 1, (sqlite3_int64)store_hlc_tick(s));
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, saved, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, real, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store_error(s, rc);
}

/* One at a time, each marked as it is done: the statement that finds the
 * next never reads a table that is being changed under it. */
static int correct_all(struct store *s, uint64_t hub_ms)
{
    sqlite3_stmt *sel = store_stmt(s, "SELECT tbl, row_id, boot_ms, saved_at FROM "
                                      "clock_suspect WHERE corrected IS NULL AND boot_id = ?1 "
                                      "AND boot_ms <= ?2 LIMIT 1");
    sqlite3_stmt *up = store_stmt(s, "UPDATE clock_suspect SET corrected = ?3 "
                                     "WHERE tbl = ?1 AND row_id = ?2");
    uint64_t boot_now = hlc_boot_ms();
    int rc, r = 0, n = 0;

    if (!sel || !up)
        return -EIO;
    for (;;) {
        char tbl[64], id[UUID_STR_LEN], saved[40], real[32];
        uint64_t then;

        sqlite3_bind_text(sel, 1, boot_id(), -1, SQLITE_STATIC);
        sqlite3_bind_int64(sel, 2, (sqlite3_int64)boot_now);
        rc = sqlite3_step(sel);
        if (rc != SQLITE_ROW) {
            sqlite3_reset(sel);
            break;
        }
        snprintf(tbl, sizeof(tbl), "%s", (const char *)sqlite3_column_text(sel, 0));
        snprintf(id, sizeof(id), "%s", (const char *)sqlite3_column_text(sel, 1));
        then = (uint64_t)sqlite3_column_int64(sel, 2);
        snprintf(saved, sizeof(saved), "%s", (const char *)sqlite3_column_text(sel, 3));
        sqlite3_reset(sel);
        store_iso_ms(hub_ms - (boot_now - then), real);
        r = correct_one(s, tbl, id, saved, real);
        if (r < 0)
            return r;
        sqlite3_bind_text(up, 1, tbl, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(up, 2, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(up, 3, real, -1, SQLITE_TRANSIENT);
        r = store_step_done(s, up);
        if (r < 0)
            return r;
        n++;
    }
    return rc == SQLITE_DONE ? n : store_error(s, rc);
}

int clock_hub_time(struct store *s, uint64_t hub_hlc, int in_txn)
{
    uint64_t hub_ms = HLC_MS(hub_hlc), behind = hlc_clock_behind_ms(), now = hlc_wall_ms();
    int n;

    store_hlc_observe(s, hub_hlc);
    if (hub_ms > now || now - hub_ms > HLC_CLOCK_SLACK_MS)
        hlc_floor_set(hub_ms);
    if (behind && !hlc_clock_behind_ms())
        log_notice("clock: the hub's time is known again; the system clock is still wrong");
    if (!in_txn)
        return 0;
    n = correct_all(s, hub_ms);
    if (n > 0)
        log_notice("clock: corrected the times of %d record(s) saved while the clock was "
                   "wrong, from the hub's time", n);
    return n;
}

void clock_counts(struct store *s, long long *flagged, long long *corrected,
                  long long *uncertain)
{
    sqlite3_stmt *st = store_stmt(s, "SELECT count(*), count(corrected), "
                                     "count(*) FILTER (WHERE corrected IS NULL AND boot_id <> ?1) "
                                     "FROM clock_suspect WHERE ?1 IS NOT NULL");

    *flagged = *corrected = *uncertain = 0;
    if (!st)
        return;
    sqlite3_bind_text(st, 1, boot_id(), -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *flagged = sqlite3_column_int64(st, 0);
        *corrected = sqlite3_column_int64(st, 1);
        *uncertain = sqlite3_column_int64(st, 2);
    }
    sqlite3_reset(st);
}
