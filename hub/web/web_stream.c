/* web_stream.c - a worker thread's answer, handed piece by piece to the
 * loop that writes it (see webapp.h). One piece waits at a time: the worker
 * blocks until the loop took it, and the loop takes the next only when
 * the previous one is with the kernel, so an export of any size holds
 * about two pieces of memory. */
#include "webapp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "strbuf.h"

struct web_out {
    uv_work_t          work;
    uv_async_t         async;
    struct http_conn  *conn;
    void             (*fn)(struct web_out *, void *);
    void             (*free_ud)(void *);
    void              *ud;
    pthread_mutex_t    mu;
    pthread_cond_t     cv;
    /* shared, under mu */
    char              *ready;           /* a piece the loop has not taken yet */
    size_t             ready_len;
    int                dead;            /* the client went away */
    /* the worker's */
    int                status;
    char               ctype[64];
    char              *extra;
    char              *err_body;        /* an error before the first piece */
    int                failed;
    uint64_t           bytes;
    struct strbuf      cap;             /* a copy of what was put (web_out_capture) */
    size_t             cap_max;
    int                capturing;
    /* the loop's */
    int                started, inflight, finished, ended;
};

void web_out_head(struct web_out *o, int status, const char *ctype, const char *extra)
{
    o->status = status;
    snprintf(o->ctype, sizeof(o->ctype), "%s", ctype);
    free(o->extra);
    o->extra = extra ? strdup(extra) : NULL;
}

int web_out_put(struct web_out *o, const void *data, size_t len)
{
    char *copy;

    if (len == 0)
        return 0;
    copy = malloc(len);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, data, len);
    pthread_mutex_lock(&o->mu);
    while (o->ready && !o->dead)
        pthread_cond_wait(&o->cv, &o->mu);
    if (o->dead) {
        pthread_mutex_unlock(&o->mu);
        free(copy);
        return -ECONNRESET;
    }
    o->ready = copy;
    o->ready_len = len;
    pthread_mutex_unlock(&o->mu);
    o->bytes += len;
    uv_async_send(&o->async);
    if (o->capturing && (o->cap.len + len > o->cap_max || strbuf_add(&o->cap, data, len) < 0)) {
        o->capturing = 0;           /* too big to keep: not cached */
        strbuf_free(&o->cap);
    }
    return 0;
}

void web_out_capture(struct web_out *o, size_t max)
{
    o->capturing = 1;
    o->cap_max = max;
}

char *web_out_captured(struct web_out *o, size_t *len)
{
    char *p;

    if (!o->capturing || o->failed || o->err_body)
        return NULL;
    *len = o->cap.len;
    p = o->cap.p ? strbuf_take(&o->cap) : strdup("");
    o->capturing = 0;
    return p;
}

void web_out_error(struct web_out *o, int status, const char *code, const char *message)
{
    free(o->err_body);
    o->err_body = web_error_json(code, message);
    o->status = status;
}

void web_out_fail(struct web_out *o)
{
    o->failed = 1;
}

uint64_t web_out_bytes(const struct web_out *o)
{
    return o->bytes;
}

static void out_pump(struct web_out *o);

static void out_written(void *arg)
{
    struct web_out *o = arg;

    o->inflight = 0;
    out_pump(o);
}

static void out_closed(uv_handle_t *h)
{
    struct web_out *o = h->data;

    if (o->free_ud)
        o->free_ud(o->ud);
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->cv);
    free(o->ready);
    free(o->extra);
    free(o->err_body);
    strbuf_free(&o->cap);
    free(o);
}

static void out_end(struct web_out *o)
{
    o->ended = 1;
    if (!o->started) {
        if (o->err_body)
            http_respond(o->conn, o->status, "application/json; charset=utf-8", NULL,
                         o->err_body, strlen(o->err_body));
        else if (o->failed || o->dead)
            web_reply_error(o->conn, 500, "internal", "the answer could not be made");
        else    /* nothing at all: an empty answer of the type */
            http_respond(o->conn, o->status, o->ctype, o->extra, "", 0);
    } else {
        http_stream_end(o->conn, !o->failed && !o->dead);
    }
    uv_close((uv_handle_t *)&o->async, out_closed);
}

/* On the loop: writes the waiting piece, or ends the answer when the
 * worker is done and nothing waits. */
static void out_pump(struct web_out *o)
{
    char *piece;
    size_t len;
    int r;

    if (o->inflight || o->ended)
        return;
    pthread_mutex_lock(&o->mu);
    piece = o->ready;
    len = o->ready_len;
    o->ready = NULL;
    pthread_cond_signal(&o->cv);
    pthread_mutex_unlock(&o->mu);
    if (!piece) {
        if (o->finished)
            out_end(o);
        return;
    }
    r = 0;
    if (!o->started) {
        r = http_stream_start(o->conn, o->status, o->ctype, o->extra);
        o->started = 1;
    }
    o->inflight = 1;
    if (r == 0)
        r = http_stream_write(o->conn, piece, len, out_written, o);
    free(piece);
    if (r < 0) {
        pthread_mutex_lock(&o->mu);
        o->dead = 1;
        pthread_cond_signal(&o->cv);
        pthread_mutex_unlock(&o->mu);
        o->inflight = 0;
        if (o->finished)
            out_end(o);
    }
}

static void out_async(uv_async_t *a)
{
    out_pump(a->data);
}

static void out_work(uv_work_t *w)
{
    struct web_out *o = w->data;

    o->fn(o, o->ud);
}

static void out_after(uv_work_t *w, int status)
{
    struct web_out *o = w->data;

    o->finished = 1;
    out_pump(o);
}

int web_out_run(uv_loop_t *loop, struct http_conn *c, void (*work)(struct web_out *, void *),
                void (*free_ud)(void *), void *ud)
{
    struct web_out *o = calloc(1, sizeof(*o));
    int r;

    if (!o)
        return -ENOMEM;
    o->conn = c;
    o->fn = work;
    o->free_ud = free_ud;
    o->ud = ud;
    o->status = 200;
    snprintf(o->ctype, sizeof(o->ctype), "application/json; charset=utf-8");
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->cv, NULL);
    r = uv_async_init(loop, &o->async, out_async);
    if (r < 0) {
        free(o);
        return r;
    }
    o->async.data = o;
    o->work.data = o;
    r = uv_queue_work(loop, &o->work, out_work, out_after);
    if (r < 0) {
        o->free_ud = NULL;          /* the caller still owns ud */
        uv_close((uv_handle_t *)&o->async, out_closed);
        return r;
    }
    return 0;
}
