/* web_commit.c - the group commit of the web's writes. Validated records
 * wait in a queue; an idle handle runs once per loop turn, after the turn's
 * reads were handled, and commits them all in one transaction
 * (synchronous=FULL: one fsync for the lot). Each record is answered only
 * after that commit, so "saved" still means on disk. A record that fails
 * alone is rolled back to its savepoint and refused (docs/performance.md). */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"
#include "records.h"
#include "web_int.h"

static void on_flush(uv_idle_t *h);

void web_commit_enqueue(struct wreq *q, enum rec_kind kind, const void *in, size_t size,
                        const char *key)
{
    struct web *w = q->w;
    struct pending *p = calloc(1, sizeof(*p));

    if (p)
        p->in = malloc(size);
    if (!p || !p->in) {
        free(p);
        web_send_store_error(q, -ENOMEM);
        return;
    }
    memcpy(p->in, in, size);
    p->c = q->c;
    p->lang = q->lang;
    p->kind = kind;
    snprintf(p->key, sizeof(p->key), "%s", key ? key : "");
    http_conn_ref(q->c);
    *w->tail = p;
    w->tail = &p->next;
    if (w->queued++ == 0)
        uv_idle_start(&w->flush, on_flush);
}

void web_commit_flush(struct web *w)
{
    struct daemon *d = w->d;
    struct store *s = d->store;
    struct pending *list = w->queue, *p, *next;
    sqlite3 *db = store_db(s);
    int r, saved = 0;


    w->queue = NULL;
    w->tail = &w->queue;
    w->queued = 0;
    uv_idle_stop(&w->flush);
    if (!list)
        return;
    r = store_begin(s);
    for (p = list; p && r == 0; p = p->next) {
        char id[UUID_STR_LEN], ref[24] = "";
        int rr;

        if (sqlite3_exec(db, "SAVEPOINT rec", NULL, NULL, NULL) != SQLITE_OK) {
            r = -EIO;
            break;
        }
        rr = record_insert_once(s, p->kind, p->in, p->key, id, ref);
        if (rr == -EEXIST) {            /* the key made a record of another kind */
            sqlite3_exec(db, "ROLLBACK TO rec", NULL, NULL, NULL);
            free(p->in);
            p->in = NULL;
            p->again = -1;
        } else if (rr < 0) {
            sqlite3_exec(db, "ROLLBACK TO rec", NULL, NULL, NULL);
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "id", id);
            if (ref[0])
                cJSON_AddStringToObject(o, "ref", ref);
            cJSON_AddStringToObject(o, "sync", "queued");
            if (rr == 1)
                cJSON_AddBoolToObject(o, "again", 1);   /* sent before: the same record */
            p->again = rr;
            free(p->in);
            p->in = o;          /* now the answer */
            p->lang = NULL;     /* marks success */
            saved++;
        }
        sqlite3_exec(db, "RELEASE rec", NULL, NULL, NULL);
    }
    r = store_end(s, r);
    for (p = list; p; p = next) {
        struct wreq q = { .w = w, .c = p->c, .lang = p->lang ? p->lang : "id" };
        next = p->next;
        if (p->again < 0)
            web_send_error(&q, 409, "key_reused", "Kunci draf ini sudah dipakai untuk data lain.",
                           "This draft's key was used for another record.", NULL);
        else if (!p->lang && r == 0)
            web_send_json(&q, p->again ? 200 : 201, p->in, NULL);
        else {
            if (!p->lang)
                cJSON_Delete(p->in);
            else
                free(p->in);
            web_send_store_error(&q, r < 0 ? r : -EIO);
        }
        http_conn_unref(p->c);
        free(p);
    }
    if (r == 0 && saved)
        daemon_changed(d);
}

static void on_flush(uv_idle_t *h)
{
    web_commit_flush(h->data);
}

void web_commit_start(struct web *w)
{
    w->tail = &w->queue;
    uv_idle_init(w->d->loop, &w->flush);
    w->flush.data = w;
}

static void flush_closed(uv_handle_t *h)
{
    struct web *w = h->data;

    if (--w->refs == 0)
        web_free(w);
}

void web_commit_close(struct web *w)
{
    uv_close((uv_handle_t *)&w->flush, flush_closed);
}
