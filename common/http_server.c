/* http_server.c - the HTTP/1.1 server (see http_server.h): connections,
 * caps, timers, requests and answers. http_tls.c adds the TLS transport.
 *
 * Data path: uv_read -> c->in -> (TLS: mbedTLS) -> http_parser_execute; an
 * answer goes into c->out (TLS: through mbedTLS) and is handed to uv_write.
 * When a request is complete the parser is paused, the bytes after it wait
 * in c->pending, and reading stops until the request is answered. A
 * connection has two handles (TCP and a timer); its memory goes when both
 * are closed, its request is answered and nobody else holds a reference. */
#include "http_int.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

#define HTTP_READ_CHUNK      16384          /* one read; one TLS record */
#define HTTP_WRITE_QUEUE_MAX (1u << 20)     /* answer bytes a client may leave unread */
#define HTTP_BACKLOG         1024

static void conn_process(struct http_conn *c);
static void timer_cb(uv_timer_t *t);

const char *http_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default:  return "Unknown";
    }
}

/* ------------------------------------------------------------ lifetime */

/* Frees a draining server once its listener, timer and connections are gone. */
static void server_maybe_free(struct http_server *s)
{
    void (*done)(void *) = s->drained;
    void *ud = s->drained_ud;

    if (!s->draining || s->nconns > 0 || s->listening || s->sweeping)
        return;
    for (int i = 0; i < HTTP_ADDR_BUCKETS; i++)
        while (s->addrs[i]) {
            struct http_addr *e = s->addrs[i];
            s->addrs[i] = e->next;
            free(e);
        }
    if (s->tls)
        http_tls_free(s->tls);
    free(s);
    if (done)
        done(ud);
}

static void conn_free(struct http_conn *c)
{
    struct http_server *s = c->srv;

    if (c->ent) {
        s->admitted--;
        c->ent->conns--;
        http_addr_put(s, c->ent, uv_now(s->loop));
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->body_bytes -= c->body_cap;
    if (c->ssl)
        http_tls_conn_free(c);
    free(c->in);
    free(c->out);
    free(c->pending);
    free(c->head);
    free(c->hdr);
    free(c->body);
    free(c);
    s->nconns--;
    server_maybe_free(s);
}

void http_conn_ref(struct http_conn *c)
{
    c->refs++;
}

void http_conn_unref(struct http_conn *c)
{
    assert(c->refs > 0);
    if (--c->refs == 0)
        conn_free(c);
}

static void conn_handle_closed(uv_handle_t *h)
{
    http_conn_unref(h->data);
}

void http_conn_close(struct http_conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->reading = 0;
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void timer_arm(struct http_conn *c, uint64_t ms)
{
    if (!c->closing)
        uv_timer_start(&c->timer, timer_cb, ms, 0);
}

static void read_stop(struct http_conn *c)
{
    if (c->reading && !c->closing)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
}

/* ------------------------------------------------------------ client addresses */

static struct http_addr **addr_slot(struct http_server *s, const char *addr)
{
    uint32_t h = 2166136261u;
    struct http_addr **pe;

    for (const char *p = addr; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    pe = &s->addrs[h & (HTTP_ADDR_BUCKETS - 1)];
    while (*pe && strcmp((*pe)->addr, addr) != 0)
        pe = &(*pe)->next;
    return pe;
}

/* The entry of addr, made when absent; NULL when the table is full. */
static struct http_addr *addr_get(struct http_server *s, const char *addr)
{
    struct http_addr **pe = addr_slot(s, addr);

    if (*pe)
        return *pe;
    if (s->naddrs >= HTTP_ADDR_MAX || !(*pe = calloc(1, sizeof(**pe)))) {
        if (!s->table_full_logged)
            log_warning("%s: %u client addresses tracked; refusing connections from new "
                        "ones until some close", s->cfg.log_name, s->naddrs);
        s->table_full_logged = 1;
        return NULL;
    }
    s->table_full_logged = 0;
    snprintf((*pe)->addr, sizeof((*pe)->addr), "%s", addr);
    s->naddrs++;
    return *pe;
}

void http_addr_put(struct http_server *s, struct http_addr *e, uint64_t now)
{
    struct http_addr **pe;

    if (e->conns > 0 || e->suppressed > 0 ||
        (e->reported && now - e->reported_at < HTTP_NOTICE_MS))
        return;
    pe = addr_slot(s, e->addr);
    assert(*pe == e);
    *pe = e->next;
    free(e);
    s->naddrs--;
}

/* Logs a connection refused for a cap: once a minute per address (e) or,
 * for the total cap (e NULL), once a minute in all; never per connection. */
static void notice_refused(struct http_server *s, struct http_addr *e)
{
    uint64_t now = uv_now(s->loop);
    unsigned *refused = e ? &e->refused : &s->refused;
    int *noticed = e ? &e->noticed : &s->noticed;
    uint64_t *at = e ? &e->noticed_at : &s->noticed_at;
    const char *setting = e ? s->cfg.max_per_addr_name : s->cfg.max_connections_name;

    ++*refused;
    if (*noticed && now - *at < HTTP_NOTICE_MS)
        return;
    if (e)
        log_warning("%s: %s holds %u connections%s%s%s; refusing more from it (%u refused "
                    "since the last notice)", s->cfg.log_name, e->addr, e->conns,
                    setting ? " (" : "", setting ? setting : "", setting ? ")" : "", *refused);
    else
        log_warning("%s: all %u connections are open%s%s%s; refusing more (%u refused since "
                    "the last notice)", s->cfg.log_name, s->admitted, setting ? " (" : "",
                    setting ? setting : "", setting ? ")" : "", *refused);
    *noticed = 1;
    *at = now;
    *refused = 0;
}

/* Counts c against the caps, or refuses it (the caller closes it). */
static int conn_admit(struct http_conn *c)
{
    struct http_server *s = c->srv;
    struct http_addr *e;

    if (s->draining)
        return -EBUSY;
    if (s->admitted >= s->cfg.max_connections) {
        notice_refused(s, NULL);
        return -EBUSY;
    }
    e = addr_get(s, c->peer);
    if (!e)
        return -EBUSY;
    if (e->conns >= s->cfg.max_per_addr) {
        notice_refused(s, e);
        http_addr_put(s, e, uv_now(s->loop));
        return -EBUSY;
    }
    e->conns++;
    s->admitted++;
    c->ent = e;
    return 0;
}

/* ------------------------------------------------------------ output */

struct http_write {
    uv_write_t          req;
    struct http_conn   *c;
    char               *data;
};

int http_out_append(struct http_conn *c, const void *data, size_t len)
{
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 16384;
        char *n;
        while (cap < c->out_len + len)
            cap *= 2;
        n = realloc(c->out, cap);
        if (!n)
            return -ENOMEM;
        c->out = n;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return 0;
}

static int conn_send(struct http_conn *c, const void *data, size_t len)
{
    if (c->srv->tls)
        return http_tls_write(c, data, len) < 0 ? -EIO : 0;
    return http_out_append(c, data, len);
}

static void write_done(uv_write_t *req, int status)
{
    struct http_write *w = (struct http_write *)req;
    struct http_conn *c = w->c;

    c->writes--;
    free(w->data);
    free(w);
    if (status < 0 || (c->want_close && c->writes == 0 && !c->busy))
        http_conn_close(c);
    http_conn_unref(c);
}

/* Hands what c->out holds to the socket. */
static void flush_out(struct http_conn *c)
{
    struct http_write *w;
    uv_buf_t b;

    if (c->out_len == 0 || c->closing)
        return;
    w = malloc(sizeof(*w));
    if (!w) {
        http_conn_close(c);
        return;
    }
    w->c = c;
    w->data = c->out;
    b = uv_buf_init(c->out, (unsigned)c->out_len);
    c->out = NULL;
    c->out_len = c->out_cap = 0;
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_done) < 0) {
        free(w->data);
        free(w);
        http_conn_close(c);
        return;
    }
    c->writes++;
    http_conn_ref(c);
}

/* ------------------------------------------------------------ requests */

static void request_reset(struct http_conn *c)
{
    struct http_server *s = c->srv;

    s->body_bytes -= c->body_cap;
    free(c->body);
    c->body = NULL;
    c->body_len = c->body_cap = 0;
    c->head_len = c->head_bytes = c->url_end = 0;
    c->n_hdr = 0;
    c->in_value = 0;
    c->msg_done = c->discard = 0;
    c->err_status = 0;
    c->in_request = 0;
    c->req = (struct http_req){ .conn = c, .method = "", .path = "", .query = "",
                                .body = "", .peer = c->peer };
}

/* Answers a request this layer refuses, through the error hook, and closes
 * the connection after the answer. */
static void fail_request(struct http_conn *c, int status, const char *code, const char *msg)
{
    struct http_server *s = c->srv;

    assert(!c->busy);
    if (s->cfg.error)
        log_debug("%s: %s: %d %s: %s", s->cfg.log_name, c->peer, status, code, msg);
    else
        log_info("%s: %s: %d %s: %s", s->cfg.log_name, c->peer, status, code, msg);
    c->want_close = 1;
    c->busy = 1;
    s->busy++;
    http_conn_ref(c);
    uv_timer_stop(&c->timer);
    read_stop(c);
    c->req.is_head = 0;
    if (s->cfg.error) {
        s->cfg.error(s->cfg.arg, c, &c->req, status, code, msg);
    } else {
        const char *text = http_status_text(status);
        http_respond(c, status, "text/plain; charset=utf-8", NULL, text, strlen(text));
    }
}

static void timer_cb(uv_timer_t *t)
{
    struct http_conn *c = t->data;

    if (c->busy || c->closing)
        return;                 /* the answer arms the timer again */
    if (!c->handshaken) {
        log_debug("%s: %s: no TLS handshake within %u ms; closing", c->srv->cfg.log_name,
                  c->peer, c->srv->cfg.handshake_ms);
        http_conn_close(c);
    } else if (c->in_request) {
        fail_request(c, 408, "timeout", "the request was not complete in time");
    } else {
        http_conn_close(c);     /* idle, or no request came */
    }
}

/* A refusal found while parsing; the parser callback returns its value. */
static int refuse(struct http_conn *c, int status, const char *code, const char *msg)
{
    c->err_status = status;
    c->err_code = code;
    c->err_msg = msg;
    return -1;
}

static int refuse_head(struct http_conn *c)
{
    snprintf(c->err_buf, sizeof(c->err_buf), "request line and headers exceed %zu bytes "
             "or %u headers", c->srv->cfg.head_max, c->srv->cfg.headers_max);
    return refuse(c, 431, "headers_too_large", c->err_buf);
}

/* Stores bytes of the head: counted (counts) against head_max, or a NUL. */
static int head_append(struct http_conn *c, const char *at, size_t len, int counts)
{
    if (counts) {
        c->head_bytes += len;
        if (c->head_bytes > c->srv->cfg.head_max)
            return refuse_head(c);
    }
    assert(c->head_len + len < c->head_cap);    /* sized for the caps */
    memcpy(c->head + c->head_len, at, len);
    c->head_len += len;
    c->head[c->head_len] = '\0';       /* a value is a string even before the next NUL */
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct http_conn *c = p->data;
    const struct http_config *cfg = &c->srv->cfg;

    c->in_request = 1;
    c->deadline = uv_now(c->srv->loop) + cfg->request_ms;
    timer_arm(c, cfg->request_ms);
    if (!c->head) {
        /* the counted bytes, a NUL after the URL, each name and value, and one more */
        c->head_cap = cfg->head_max + 2 * (size_t)cfg->headers_max + 3;
        c->head = malloc(c->head_cap);
        c->hdr = calloc(cfg->headers_max, sizeof(*c->hdr));
        if (!c->head || !c->hdr) {
            free(c->head);
            free(c->hdr);
            c->head = NULL;
            c->hdr = NULL;
            return refuse(c, 503, "unavailable", "out of memory");
        }
    }
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;

    if (c->head_len + len > c->srv->cfg.url_max)
        return refuse(c, 431, "headers_too_large", "URL too long");
    if (head_append(c, at, len, 1) < 0)
        return -1;
    c->url_end = c->head_len;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;

    if (c->n_hdr == 0 || c->in_value) {
        /* a new header: end the URL or the previous value */
        if (c->n_hdr >= c->srv->cfg.headers_max)
            return refuse_head(c);
        head_append(c, "", 1, 0);
        c->hdr[c->n_hdr].name = (unsigned)c->head_len;
        c->hdr[c->n_hdr].value = 0;
        c->n_hdr++;
        c->in_value = 0;
    }
    return head_append(c, at, len, 1);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;

    if (!c->in_value) {
        head_append(c, "", 1, 0);
        c->hdr[c->n_hdr - 1].value = (unsigned)c->head_len;
        c->in_value = 1;
    }
    return head_append(c, at, len, 1);
}

/* Makes room for want body bytes, counted against bodies_max. */
static int body_reserve(struct http_conn *c, size_t want)
{
    struct http_server *s = c->srv;
    char *b;

    if (want <= c->body_cap)
        return 0;
    if (s->body_bytes - c->body_cap + want > s->cfg.bodies_max)
        return refuse(c, 503, "unavailable", "the server is busy; retry later");
    b = realloc(c->body, want + 1);
    if (!b)
        return refuse(c, 503, "unavailable", "out of memory");
    c->body = b;
    s->body_bytes += want - c->body_cap;
    c->body_cap = want;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct http_conn *c = p->data;
    const struct http_config *cfg = &c->srv->cfg;
    int chunked = (p->flags & F_CHUNKED) != 0;
    int has_len = (p->flags & F_CONTENTLENGTH) != 0;

    head_append(c, "", 1, 0);
    if (c->url_end == 0 || c->head[0] != '/')   /* origin-form only: no "*", no "http://" */
        return refuse(c, 400, "bad_request", "the request target must be a path");
    if (c->n_hdr > 0 && !c->in_value)
        return refuse(c, 400, "bad_request", "a header without a value");
    if (cfg->length_required && chunked)
        return refuse(c, 411, "length_required",
                      "chunked bodies are not accepted; send Content-Length");
    if (cfg->length_required && p->method == HTTP_POST && !has_len)
        return refuse(c, 411, "length_required", "Content-Length is required");
    if (has_len && p->content_length > cfg->body_max) {
        snprintf(c->err_buf, sizeof(c->err_buf), "body exceeds %zu bytes", cfg->body_max);
        refuse(c, 413, "payload_too_large", c->err_buf);
        /* read and drop a moderately larger body, so the client sees the answer */
        c->discard = p->content_length <= cfg->discard_max;
        return c->discard ? 0 : -1;
    }
    if (chunked)
        return body_reserve(c, cfg->body_max < 4096 ? cfg->body_max : 4096);
    if (has_len && p->content_length > 0) {
        if (cfg->min_body_rate)
            c->deadline += p->content_length * 1000 / cfg->min_body_rate;
        return body_reserve(c, (size_t)p->content_length);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
    size_t max = c->srv->cfg.body_max;

    if (c->discard)
        return 0;
    if (c->body_len + len > max) {
        snprintf(c->err_buf, sizeof(c->err_buf), "body exceeds %zu bytes", max);
        return refuse(c, 413, "payload_too_large", c->err_buf);
    }
    if (c->body_len + len > c->body_cap) {          /* chunked: grow */
        size_t cap = c->body_cap * 2;
        if (cap < c->body_len + len)
            cap = c->body_len + len;
        if (body_reserve(c, cap < max ? cap : max) < 0)
            return -1;
    }
    memcpy(c->body + c->body_len, at, len);
    c->body_len += len;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_conn *c = p->data;

    c->msg_done = 1;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

const char *http_header(struct http_conn *c, const char *name)
{
    for (unsigned i = 0; i < c->n_hdr; i++)
        if (c->hdr[i].value && strcasecmp(c->head + c->hdr[i].name, name) == 0)
            return c->head + c->hdr[i].value;
    return NULL;
}

/* ------------------------------------------------------------ processing */

/* Hands a complete request to the handler. */
static void dispatch(struct http_conn *c)
{
    struct http_server *s = c->srv;
    struct http_req *r = &c->req;
    char *q = memchr(c->head, '?', c->url_end);

    if (q)
        *q = '\0';
    r->method = http_method_str(c->parser.method);
    r->is_head = c->parser.method == HTTP_HEAD;
    r->path = c->head;
    r->query = q ? q + 1 : "";
    if (c->body) {
        c->body[c->body_len] = '\0';
        r->body = c->body;
    }
    r->body_len = c->body_len;
    r->start_ns = uv_hrtime();
    uv_timer_stop(&c->timer);
    read_stop(c);
    c->busy = 1;
    s->busy++;
    http_conn_ref(c);
    s->cfg.handler(s->cfg.arg, c, r);
}

/* Feeds plaintext to the parser; keeps what follows a complete request. */
static void feed(struct http_conn *c, const char *data, size_t len)
{
    size_t used = http_parser_execute(&c->parser, &parser_settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);

    if (c->err_status && (!c->discard || c->msg_done)) {
        fail_request(c, c->err_status, c->err_code, c->err_msg);
        return;
    }
    if (e != HPE_OK && e != HPE_PAUSED) {
        fail_request(c, 400, "bad_request", http_errno_description(e));
        return;
    }
    if (used < len) {
        char *n = realloc(c->pending, c->pending_len + (len - used));
        if (!n) {
            http_conn_close(c);
            return;
        }
        memcpy(n + c->pending_len, data + used, len - used);
        c->pending = n;
        c->pending_len += len - used;
    }
    if (c->msg_done)
        dispatch(c);
}

/* Plaintext bytes into buf: > 0, 0 when there are none yet, < 0 at the end. */
static int conn_read(struct http_conn *c, char *buf, size_t cap)
{
    size_t n = c->in_len - c->in_off;

    if (c->srv->tls)
        return http_tls_read(c, buf, cap);
    if (n == 0)
        return 0;
    if (n > cap)
        n = cap;
    memcpy(buf, c->in + c->in_off, n);
    c->in_off += n;
    return (int)n;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b);

/* Handshakes, parses and dispatches until the bytes are used up or a
 * request is with the handler; then reads on, unless it is. */
static void conn_process(struct http_conn *c)
{
    char buf[HTTP_READ_CHUNK];
    int n;

    c->processing = 1;
    http_conn_ref(c);
    while (!c->closing && !c->busy && !c->want_close) {
        if (!c->handshaken) {
            n = http_tls_handshake(c);
            flush_out(c);
            if (n < 0)
                http_conn_close(c);
            if (n <= 0)
                break;
            c->handshaken = 1;
            timer_arm(c, c->srv->cfg.idle_ms);
            continue;
        }
        if (c->pending_len > 0) {                   /* pipelined bytes first */
            char *d = c->pending;
            size_t l = c->pending_len;
            c->pending = NULL;
            c->pending_len = 0;
            feed(c, d, l);
            free(d);
            continue;
        }
        n = conn_read(c, buf, sizeof(buf));
        flush_out(c);
        if (n < 0)
            http_conn_close(c);
        if (n <= 0)
            break;
        feed(c, buf, (size_t)n);
    }
    c->processing = 0;
    if (!c->closing && !c->busy && !c->want_close && !c->reading)
        c->reading = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0;
    http_conn_unref(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct http_conn *c = h->data;

    (void) hint;
    if (c->in_off > 0 && c->in_off == c->in_len)
        c->in_off = c->in_len = 0;
    if (c->in_cap - c->in_len < HTTP_READ_CHUNK) {
        char *n;
        if (c->in_off > 0) {                        /* compact first */
            memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
            c->in_len -= c->in_off;
            c->in_off = 0;
        }
        if (c->in_cap - c->in_len < HTTP_READ_CHUNK) {
            n = realloc(c->in, c->in_len + HTTP_READ_CHUNK);
            if (!n) {
                *b = uv_buf_init(NULL, 0);          /* on_read gets UV_ENOBUFS */
                return;
            }
            c->in = n;
            c->in_cap = c->in_len + HTTP_READ_CHUNK;
        }
    }
    *b = uv_buf_init(c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct http_conn *c = st->data;
    uint64_t now = uv_now(c->srv->loop);

    (void) b;
    if (n < 0) {
        if (n != UV_EOF && n != UV_ECONNRESET)
            log_debug("%s: %s: read: %s", c->srv->cfg.log_name, c->peer, uv_strerror((int)n));
        http_conn_close(c);
        return;
    }
    if (n == 0)
        return;
    c->in_len += (size_t)n;
    if (c->in_request && !c->busy) {
        /* a trickle may not stretch a request beyond its deadline */
        if (now >= c->deadline) {
            fail_request(c, 408, "timeout", "the request was not complete in time");
            return;
        }
        timer_arm(c, c->deadline - now < c->srv->cfg.request_ms ? c->deadline - now
                                                                 : c->srv->cfg.request_ms);
    }
    if (!c->processing)
        conn_process(c);
}

/* ------------------------------------------------------------ answers */

static int closes_connection(int status)
{
    return status == 400 || status == 408 || status == 411 || status == 413 || status == 431;
}

static int send_answer(struct http_conn *c, int status, const char *ctype, const char *extra,
                       const void *body, size_t len, int keep)
{
    size_t cap = 256 + (ctype ? strlen(ctype) : 0) + (extra ? strlen(extra) : 0);
    char *head = malloc(cap);
    int n, r;

    if (!head)
        return -ENOMEM;
    n = snprintf(head, cap, "HTTP/1.1 %d %s\r\n%s%s%sContent-Length: %zu\r\n"
                 "Connection: %s\r\nX-Content-Type-Options: nosniff\r\n%s\r\n",
                 status, http_status_text(status), ctype ? "Content-Type: " : "",
                 ctype ? ctype : "", ctype ? "\r\n" : "", len, keep ? "keep-alive" : "close",
                 extra ? extra : "");
    assert(n > 0 && (size_t)n < cap);
    r = conn_send(c, head, (size_t)n);
    free(head);
    if (r == 0 && len > 0 && !c->req.is_head)
        r = conn_send(c, body, len);
    return r;
}

int http_respond(struct http_conn *c, int status, const char *content_type,
                 const char *extra_headers, const void *body, size_t len)
{
    struct http_server *s = c->srv;
    int keep, r = 0;

    assert(c->busy);
    c->busy = 0;
    s->busy--;
    if (c->closing) {
        r = -ECONNRESET;
        goto out;
    }
    if (c->tcp.write_queue_size > HTTP_WRITE_QUEUE_MAX) {
        log_info("%s: %s: the client does not read its answers; closing", s->cfg.log_name,
                 c->peer);
        http_conn_close(c);
        r = -ENOBUFS;
        goto out;
    }
    keep = !c->want_close && !s->draining && http_should_keep_alive(&c->parser) &&
           !(s->cfg.close_on_error && closes_connection(status));
    r = send_answer(c, status, content_type, extra_headers, body, len, keep);
    request_reset(c);
    if (r < 0 || !keep)
        c->want_close = 1;
    flush_out(c);
    timer_arm(c, s->cfg.idle_ms);       /* also for the last answer: a client must read it */
    if (c->want_close) {
        read_stop(c);
        if (c->writes == 0)
            http_conn_close(c);
    } else {
        http_parser_pause(&c->parser, 0);
        if (!c->processing)
            conn_process(c);
    }
out:
    http_conn_unref(c);                 /* the request's reference */
    return r;
}

/* ------------------------------------------------------------ accepting */

static struct http_conn *conn_new(struct http_server *s)
{
    struct http_conn *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->srv = s;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->refs = 2;                        /* the two handles */
    s->nconns++;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    snprintf(c->peer, sizeof(c->peer), "?");
    request_reset(c);
    return c;
}

/* Admits c (its peer set) and starts its handshake or first request. */
static void conn_start(struct http_conn *c)
{
    struct http_server *s = c->srv;

    if (conn_admit(c) < 0 || (s->tls && http_tls_conn_start(c) < 0)) {
        http_conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->handshaken = !s->tls;
    timer_arm(c, s->cfg.handshake_ms);
    c->reading = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0;
}

static void on_connection(uv_stream_t *l, int status)
{
    struct http_server *s = l->data;
    struct http_conn *c;
    struct sockaddr_storage ss;
    int sl = sizeof(ss);

    if (status < 0) {
        log_warning("%s: accept: %s", s->cfg.log_name, uv_strerror(status));
        return;
    }
    c = conn_new(s);
    if (!c)
        return;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0) {
        http_conn_close(c);
        return;
    }
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof(c->peer));
        else
            uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof(c->peer));
    }
    conn_start(c);
}

int http_server_test_adopt(struct http_server *s, uv_os_sock_t fd, const char *address)
{
    struct http_conn *c = conn_new(s);
    int r;

    if (!c)
        return -ENOMEM;
    r = uv_tcp_open(&c->tcp, fd);
    if (r < 0) {
        http_conn_close(c);
        return r;
    }
    snprintf(c->peer, sizeof(c->peer), "%s", address);
    conn_start(c);
    return 0;
}

/* ------------------------------------------------------------ server */

static void config_defaults(struct http_config *c)
{
    if (!c->body_max)
        c->body_max = 1u << 20;
    if (!c->head_max)
        c->head_max = 8192;
    if (!c->url_max || c->url_max > c->head_max)
        c->url_max = c->head_max;
    if (!c->headers_max)
        c->headers_max = 64;
    if (!c->bodies_max)
        c->bodies_max = (size_t)256 << 20;
    if (!c->max_connections)
        c->max_connections = 256;
    if (!c->max_per_addr)
        c->max_per_addr = c->max_connections;
    if (!c->idle_ms)
        c->idle_ms = 30000;
    if (!c->handshake_ms)
        c->handshake_ms = c->idle_ms;
    if (!c->request_ms)
        c->request_ms = 30000;
    if (!c->log_name)
        c->log_name = "http";
}

static void listener_closed(uv_handle_t *h)
{
    struct http_server *s = h->data;

    s->listening = 0;
    server_maybe_free(s);
}

static void sweep_closed(uv_handle_t *h)
{
    struct http_server *s = h->data;

    s->sweeping = 0;
    server_maybe_free(s);
}

/* Binds and listens; returns 0 or -errno (logged). */
static int server_listen(struct http_server *s)
{
    const struct http_config *cfg = &s->cfg;
    struct sockaddr_storage ss;
    int sl = sizeof(ss), r;

    if (uv_ip4_addr(cfg->host, cfg->port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(cfg->host, cfg->port, (struct sockaddr_in6 *)&ss) != 0)
        return log_errno(LOG_ERR, -EINVAL, "%s: '%s' is not an IP address", cfg->log_name,
                         cfg->host);
    uv_tcp_init(s->loop, &s->listener);
    s->listener.data = s;
    s->listening = 1;
    r = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&s->listener, HTTP_BACKLOG, on_connection);
    if (r == 0)
        r = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &sl);
    if (r < 0) {
        log_error("%s: cannot listen on %s:%d: %s", cfg->log_name, cfg->host, cfg->port,
                  uv_strerror(r));
        return r;
    }
    s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                              : ((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

int http_server_start(uv_loop_t *loop, const struct http_config *cfg,
                      struct http_server **ret)
{
    struct http_server *s;
    int r = 0;

    assert(cfg->host && cfg->handler);
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->loop = loop;
    s->cfg = *cfg;
    config_defaults(&s->cfg);
    if (cfg->cert_file)
        r = http_tls_new(&s->cfg, &s->tls);
    if (r == 0)
        r = server_listen(s);
    if (r < 0) {
        s->draining = 1;                /* freed when the listener is closed */
        if (s->listening)
            uv_close((uv_handle_t *)&s->listener, listener_closed);
        else
            server_maybe_free(s);
        return r;
    }
    if (s->tls)
        http_tls_sweep_start(s);
    *ret = s;
    return 0;
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}

unsigned http_server_conns(const struct http_server *s)
{
    return s->nconns;
}

unsigned http_server_busy(const struct http_server *s)
{
    return s->busy;
}

void http_server_drain(struct http_server *s, void (*done)(void *), void *ud)
{
    struct http_conn *c, *next;

    assert(!s->draining);
    s->draining = 1;
    s->drained = done;
    s->drained_ud = ud;
    for (c = s->conns; c; c = next) {
        next = c->next;
        if (c->busy)
            c->want_close = 1;          /* closed after its answer */
        else
            http_conn_close(c);
    }
    if (s->sweeping)
        uv_close((uv_handle_t *)&s->sweep, sweep_closed);
    if (s->listening)
        uv_close((uv_handle_t *)&s->listener, listener_closed);
    else
        server_maybe_free(s);
}

/* ------------------------------------------------------------ query strings */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

int http_unescape(const char *in, size_t len, char *out, size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        int ch = (unsigned char)in[i];
        if (ch == '+') {
            ch = ' ';
        } else if (ch == '%') {
            int hi = i + 1 < len ? hexval(in[i + 1]) : -1;
            int lo = i + 2 < len ? hexval(in[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -EINVAL;
            ch = hi * 16 + lo;
            if (ch == 0)
                return -EINVAL;
            i += 2;
        }
        if (n + 1 >= cap)
            return -EINVAL;
        out[n++] = (char)ch;
    }
    out[n] = '\0';
    return (int)n;
}

int http_query_get(const char *query, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    const char *p = query;

    while (p && *p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=')
            return http_unescape(p + klen + 1, len - klen - 1, out, cap);
        if (len == klen && strncmp(p, key, klen) == 0) {
            if (cap < 1)
                return -EINVAL;
            out[0] = '\0';
            return 0;
        }
        p = end ? end + 1 : NULL;
    }
    return -ENOENT;
}
