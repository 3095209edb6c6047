/* web_cache.c - the answers of the counting reads (work queues, dashboard,
 * trends, map) kept until the store changes: a commit of this daemon
 * (sqlite3_total_changes64) or of another process, an SMS run or a sync
 * (PRAGMA data_version). Ten officers on the dashboard then cost one
 * count, and nobody sees an answer older than the store. At most
 * CACHE_MAX answers (one per path and query) and CACHE_BYTES in all, the
 * oldest dropped first: the cache stays within the board's memory budget
 * whatever queries are asked. */
#include <stdlib.h>
#include <string.h>

#include "http_server.h"
#include "log.h"
#include "store.h"
#include "web_int.h"

#define CACHE_MAX 16
#define CACHE_BYTES (768 * 1024)    /* all kept answers together, plain and gzip */

int web_cache_stamp(struct web *w, int64_t *dv, int64_t *ch)
{
    struct store *s = w->d->store;
    sqlite3_stmt *st = store_stmt(s, "PRAGMA data_version");
    int rc;

    if (!st)
        return -1;
    rc = sqlite3_step(st);
    *dv = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    *ch = sqlite3_total_changes64(store_db(s));
    return rc == SQLITE_ROW ? 0 : -1;
}

static void key_of(struct wreq *q, char *key, size_t cap)
{
    snprintf(key, cap, "%s?%s", q->r->path, q->r->query ? q->r->query : "");
}

static void entry_free(struct web_cached *e)
{
    free(e->json);
    free(e->gz);
    free(e);
}

int web_cache_send(struct wreq *q)
{
    struct web *w = q->w;
    struct web_cached *e;
    char key[sizeof(e->key)], headers[128];
    int64_t dv, ch;

    key_of(q, key, sizeof(key));
    q->keep = strlen(key) < sizeof(key) - 1;
    if (web_cache_stamp(w, &dv, &ch) < 0)
        return 0;
    for (e = w->cache; e; e = e->next) {
        if (strcmp(e->key, key) != 0)
            continue;
        if (e->data_version != dv || e->changes != ch)
            return 0;                       /* the store changed: count again */
        if (e->gz && web_takes_gzip(q)) {
            snprintf(headers, sizeof(headers), "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n");
            web_send_body(q, 200, "application/json; charset=utf-8", headers,
                          (const char *)e->gz, e->gz_len);
        } else if (e->json) {
            web_send_body(q, 200, "application/json; charset=utf-8", NULL, e->json, e->len);
        } else {
            return 0;                       /* kept compressed only: count for this client */
        }
        q->keep = 0;
        return 1;
    }
    return 0;
}

void web_cache_put(struct wreq *q, const char *text, size_t len, const unsigned char *gz,
                   size_t gz_len)
{
    struct web *w = q->w;
    struct web_cached *e, **pp;
    size_t bytes;
    int n = 0;

    q->keep = 0;
    if ((gz ? gz_len : len) > CACHE_BYTES / 2)
        return;                         /* too big to keep */
    e = calloc(1, sizeof(*e));
    if (!e)
        return;
    key_of(q, e->key, sizeof(e->key));
    /* an answer sent gzip-compressed is kept so only: a client that does not
     * take gzip (rare) has it counted again */
    if (web_cache_stamp(w, &e->data_version, &e->changes) < 0 ||
        (gz ? !(e->gz = malloc(gz_len)) : !(e->json = malloc(len + 1)))) {
        entry_free(e);
        return;
    }
    if (gz) {
        memcpy(e->gz, gz, gz_len);
        e->gz_len = gz_len;
    } else {
        memcpy(e->json, text, len + 1);
        e->len = len;
    }
    /* the same key's old answer goes; past CACHE_MAX or CACHE_BYTES the oldest */
    bytes = e->len + e->gz_len;
    for (pp = &w->cache; *pp;) {
        struct web_cached *x = *pp;
        if (strcmp(x->key, e->key) == 0 || n + 1 >= CACHE_MAX ||
            bytes + x->len + x->gz_len > CACHE_BYTES) {
            *pp = x->next;
            entry_free(x);
            continue;
        }
        n++;
        bytes += x->len + x->gz_len;
        pp = &x->next;
    }
    e->next = w->cache;
    w->cache = e;
}

void web_cache_free(struct web *w)
{
    while (w->cache) {
        struct web_cached *e = w->cache;
        w->cache = e->next;
        entry_free(e);
    }
}
