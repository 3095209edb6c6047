/* web_cache.c - the answers of the counting reads (work queues, dashboard,
 * trends, map) kept until the store changes: a commit of this daemon
 * (sqlite3_total_changes64) or of another process, an SMS run or a sync
 * (PRAGMA data_version). Ten officers on the dashboard then cost one
 * count, and nobody sees an answer older than the store. At most
 * CACHE_MAX answers (one per path and query), the oldest dropped first. */
#include <stdlib.h>
#include <string.h>

#include "http_server.h"
#include "log.h"
#include "store.h"
#include "web_int.h"

#define CACHE_MAX 16

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
        } else {
            web_send_body(q, 200, "application/json; charset=utf-8", NULL, e->json, e->len);
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
    int n = 0;

    q->keep = 0;
    e = calloc(1, sizeof(*e));
    if (!e)
        return;
    key_of(q, e->key, sizeof(e->key));
    if (web_cache_stamp(w, &e->data_version, &e->changes) < 0 || !(e->json = malloc(len + 1))) {
        entry_free(e);
        return;
    }
    memcpy(e->json, text, len + 1);
    e->len = len;
    if (gz && (e->gz = malloc(gz_len)) != NULL) {
        memcpy(e->gz, gz, gz_len);
        e->gz_len = gz_len;
    }
    /* the same key's old answer goes; past CACHE_MAX the oldest */
    for (pp = &w->cache; *pp;) {
        struct web_cached *x = *pp;
        if (strcmp(x->key, e->key) == 0 || ++n >= CACHE_MAX) {
            *pp = x->next;
            entry_free(x);
            continue;
        }
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
