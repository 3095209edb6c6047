/* sync_health.c - the node's health block (docs/protocol.md, "Node
 * health"): after a round has pushed and pulled, one POST /v1/node-health
 * with what only the node knows, for the operators' fleet view. It is best
 * effort: an answer other than 200 (an older hub answers 404) or a
 * transport failure is logged and the round still counts as done. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "nodecert.h"
#include "sync_int.h"

#define HEALTH_V 1

static void iso_utc(time_t t, char out[32])
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* One row of integers (NULL: -1) from sql. */
static void query_ints(struct sync_client *c, const char *sql, long long *v, int n)
{
    sqlite3_stmt *st = NULL;

    for (int i = 0; i < n; i++)
        v[i] = -1;
    if (sqlite3_prepare_v2(store_db(c->store), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        for (int i = 0; i < n; i++)
            if (sqlite3_column_type(st, i) != SQLITE_NULL)
                v[i] = sqlite3_column_int64(st, i);
    sqlite3_finalize(st);
}

/* The text of one cell, or "" (NULL, error). */
static void query_text(struct sync_client *c, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;

    out[0] = 0;
    if (sqlite3_prepare_v2(store_db(c->store), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

static int add_time(struct strbuf *b, const char *key, const char *iso)
{
    /* the node's SMS times are ISO-8601 UTC already; only a well-formed one goes */
    if (strlen(iso) < 20 || iso[10] != 'T' || iso[strlen(iso) - 1] != 'Z')
        return 0;
    return strbuf_fmt(b, ",\"%s\":\"%.19sZ\"", key, iso);
}

int health_prepare(struct sync_client *c)
{
    struct strbuf b = { .max = 2048 };
    long long box[3], rejected;
    char now[32], t[64];
    time_t not_after = 0;
    struct statvfs vfs;
    const char *db = sqlite3_db_filename(store_db(c->store), "main");
    int r;

    query_ints(c, "SELECT count(*), min(hlc) FROM outbox WHERE state = 0", box, 2);
    query_ints(c, "SELECT count(*) FROM outbox WHERE state = 2", &rejected, 1);
    iso_utc(time(NULL), now);
    r = strbuf_fmt(&b, "{\"v\":%d,\"version\":\"%s\",\"clock\":\"%s\"", HEALTH_V,
                   SIKHNAS_VERSION, now);
    if (r == 0 && box[0] >= 0)
        r = strbuf_fmt(&b, ",\"outbox_depth\":%lld,\"outbox_oldest_s\":%lld", box[0],
                       box[1] > 0 ? (long long)time(NULL) - (box[1] >> 16) / 1000 > 0
                                    ? (long long)time(NULL) - (box[1] >> 16) / 1000 : 0
                                  : 0);
    if (r == 0 && rejected >= 0)
        r = strbuf_fmt(&b, ",\"rows_rejected\":%lld", rejected);
    if (r == 0)
        r = strbuf_fmt(&b, ",\"bytes_up\":%lld,\"bytes_down\":%lld", c->stats.bytes_up,
                       c->stats.bytes_down);
    if (r == 0 && c->cert_file && nodecert_due(c->cert_file, time(NULL), &not_after) >= 0 &&
        not_after > 0) {
        iso_utc(not_after, t);
        r = strbuf_fmt(&b, ",\"cert_not_after\":\"%s\"", t);
    }
    query_text(c, "SELECT max(received_at) FROM sms_in", t, sizeof(t));
    if (r == 0)
        r = add_time(&b, "last_sms_in", t);
    query_text(c, "SELECT max(i.received_at) FROM sms_out o JOIN sms_in i ON i.id = o.sms_in "
                  "WHERE o.written = 1", t, sizeof(t));
    if (r == 0)
        r = add_time(&b, "last_sms_out", t);
    if (r == 0 && db && db[0] && statvfs(db, &vfs) == 0)
        r = strbuf_fmt(&b, ",\"disk_free\":%llu,\"disk_total\":%llu",
                       (unsigned long long)vfs.f_bavail * vfs.f_frsize,
                       (unsigned long long)vfs.f_blocks * vfs.f_frsize);
    if (r == 0)
        r = strbuf_str(&b, "}");
    if (r == 0)
        r = identity_headers(c, store_hlc_tick(c->store));
    return set_body(c, &b, r);
}

int health_done(struct sync_client *c, CURLcode res, long status)
{
    if (res != CURLE_OK)
        log_info("sync: the health block was not delivered: %s", curl_easy_strerror(res));
    else if (status == 404)
        log_debug("sync: the hub takes no health block (an older hub)");
    else if (status != 200)
        log_info("sync: the hub answered %ld to the health block", status);
    c->health_sent = 1;
    return 0;
}
