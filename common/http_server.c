/* http_server.c - the HTTP/1.1 server (see http_server.h): connections,
 * caps, timers, requests and answers. http_tls.c adds the TLS transport.
 *
 * Data path: uv_read -> c->in -> (TLS: mbedTLS) -> http_parser_execute; an
 * answer goes into c->out (TLS: through mbedTLS) and is handed to uv_write.
 * When a request is complete the parser is paused, the bytes after it wait
 * in c->pending, and reading stops until the request is answered. A
 * connection has two handles (TCP and a timer); its memory goes when both
 * are closed, its request is answered and nobody else holds a reference.
 * http_request.c parses the requests and refuses bad ones. */
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
    LIST_REMOVE(c, link);
    http_request_reset(c);              /* gives back the body and its count */
    if (c->ssl)
        http_tls_conn_free(c);
    free(c->in);
    free(c->out);
    free(c->pending);
    free(c->head);
    free(c->hdr);
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
    http_request_partial(c);            /* a body cut by the close */
    c->closing = 1;
    c->reading = 0;
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

void http_timer_arm(struct http_conn *c, uint64_t ms)
{
    if (!c->closing)
        uv_timer_start(&c->timer, timer_cb, ms, 0);
}

void http_read_stop(struct http_conn *c)
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
    if (c->writes == 0 && c->written) {      /* closing too: the next write fails */
        void (*fn)(void *) = c->written;
        c->written = NULL;
        fn(c->written_ud);
    }
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

/* ------------------------------------------------------------ timer */

/* A connection's one timer runs out: handshake_ms after accept (the TLS
 * handshake, or without TLS the first request's first byte), request_ms
 * after a request's first byte or its last read (stall_ms for a verified
 * client; at its deadline at the latest), idle_ms after an answer (see
 * idle_wait()). It is stopped while a request is with the handler. */
static void timer_cb(uv_timer_t *t)
{
    struct http_conn *c = t->data;

    if (c->streaming && !c->closing) {
        log_info("%s: %s: the client does not read the streamed answer; closing",
                 c->srv->cfg.log_name, c->peer);
        http_conn_close(c);
        return;
    }
    if (c->busy || c->closing)
        return;                 /* the answer arms the timer again */
    if (!c->handshaken) {
        log_debug("%s: %s: no TLS handshake within %u ms; closing", c->srv->cfg.log_name,
                  c->peer, c->srv->cfg.handshake_ms);
        http_conn_close(c);
    } else if (c->in_request) {
        http_fail(c, 408, "timeout", "the request was not complete in time");
    } else {
        http_conn_close(c);     /* idle, or no request came */
    }
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
            http_timer_arm(c, c->srv->cfg.idle_ms);
            continue;
        }
        if (c->pending_len > 0) {                   /* pipelined bytes first */
            char *d = c->pending;
            size_t l = c->pending_len;
            c->pending = NULL;
            c->pending_len = 0;
            http_feed(c, d, l);
            free(d);
            continue;
        }
        n = conn_read(c, buf, sizeof(buf));
        flush_out(c);
        if (n < 0)
            http_conn_close(c);
        if (n <= 0)
            break;
        http_feed(c, buf, (size_t)n);
    }
    c->processing = 0;
    if (c->in_off == c->in_len) {       /* all used: an idle connection holds no buffer */
        free(c->in);
        c->in = NULL;
        c->in_len = c->in_off = c->in_cap = 0;
    }
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
        if (n == UV_EOF && c->writes > 0) {
            c->want_close = 1;          /* the client only stopped sending: answers go out */
            http_read_stop(c);
        } else {
            http_conn_close(c);
        }
        return;
    }
    if (n == 0)
        return;
    c->in_len += (size_t)n;
    if (c->in_request && !c->busy) {
        /* a trickle may not stretch a request beyond its deadline */
        uint64_t left = c->deadline > now ? c->deadline - now : 0;
        if (left == 0) {
            http_fail(c, 408, "timeout", "the request was not complete in time");
            return;
        }
        http_timer_arm(c, left < c->silence_ms ? left : c->silence_ms);
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

void http_conn_keep_for(struct http_conn *c, unsigned ms)
{
    c->keep_ms = ms;
}

/* Under 7/8 of cap: room to keep a connection longer than idle_ms. */
static int has_room(unsigned n, unsigned cap)
{
    return n < cap - cap / 8;
}

/* The wait for the next request after an answer on c: idle_ms, or what
 * http_conn_keep_for() asked for this answer, or for a verified client
 * stall_ms (its next request may be in an outage already), while there is
 * room. */
static uint64_t idle_wait(struct http_conn *c)
{
    const struct http_server *s = c->srv;
    unsigned ms = c->keep_ms;

    if (c->silence_ms > s->cfg.request_ms && c->silence_ms > ms)
        ms = c->silence_ms;             /* a verified client's stall_ms */
    c->keep_ms = 0;
    if (ms <= s->cfg.idle_ms || !has_room(s->nconns, s->cfg.max_connections) ||
        (c->ent && !has_room(c->ent->conns, s->cfg.max_per_addr)))
        return s->cfg.idle_ms;
    return ms;
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
    http_request_reset(c);
    if (r < 0 || !keep)
        c->want_close = 1;
    flush_out(c);
    /* also for the last answer: a client must read it */
    http_timer_arm(c, c->want_close ? s->cfg.idle_ms : idle_wait(c));
    if (c->want_close) {
        http_read_stop(c);
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

/* ------------------------------------------------------------ streamed answers */

int http_stream_start(struct http_conn *c, int status, const char *content_type,
                      const char *extra_headers)
{
    size_t cap = 256 + strlen(content_type) + (extra_headers ? strlen(extra_headers) : 0);
    char *head;
    int n, r;

    assert(c->busy && !c->streaming);
    if (c->closing)
        return -ECONNRESET;
    head = malloc(cap);
    if (!head)
        return -ENOMEM;
    n = snprintf(head, cap, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                 "Transfer-Encoding: chunked\r\nConnection: close\r\n"
                 "X-Content-Type-Options: nosniff\r\n%s\r\n", status,
                 http_status_text(status), content_type, extra_headers ? extra_headers : "");
    assert(n > 0 && (size_t)n < cap);
    r = conn_send(c, head, (size_t)n);
    free(head);
    if (r < 0)
        return r;
    c->streaming = 1;
    c->want_close = 1;
    http_read_stop(c);
    flush_out(c);
    http_timer_arm(c, c->srv->cfg.request_ms);
    return c->closing ? -ECONNRESET : 0;
}

int http_stream_write(struct http_conn *c, const void *data, size_t len,
                      void (*written)(void *), void *ud)
{
    char size[24];
    int r;

    assert(c->streaming && !c->written);
    if (c->closing)
        return -ECONNRESET;
    if (len > 0) {
        snprintf(size, sizeof(size), "%zx\r\n", len);
        r = conn_send(c, size, strlen(size));
        if (r == 0)
            r = conn_send(c, data, len);
        if (r == 0)
            r = conn_send(c, "\r\n", 2);
        if (r < 0) {
            http_conn_close(c);
            return r;
        }
    }
    c->written = written;
    c->written_ud = ud;
    flush_out(c);
    if (c->closing) {
        c->written = NULL;
        return -ECONNRESET;
    }
    http_timer_arm(c, c->srv->cfg.request_ms);
    if (c->writes == 0 && written) {        /* nothing was in flight */
        c->written = NULL;
        written(ud);
    }
    return 0;
}

void http_stream_end(struct http_conn *c, int complete)
{
    struct http_server *s = c->srv;

    assert(c->busy && c->streaming);
    c->busy = 0;
    s->busy--;
    c->streaming = 0;
    c->written = NULL;
    http_request_reset(c);
    if (!c->closing) {
        if (complete && conn_send(c, "0\r\n\r\n", 5) == 0)
            flush_out(c);
        /* an incomplete answer ends without its last chunk: the client sees it cut */
        if (!complete || c->writes == 0)
            http_conn_close(c);
        else
            http_timer_arm(c, s->cfg.idle_ms);
    }
    http_conn_unref(c);                 /* the request's reference */
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
    LIST_INSERT_HEAD(&s->conns, c, link);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    snprintf(c->peer, sizeof(c->peer), "?");
    http_request_reset(c);
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
    http_timer_arm(c, s->cfg.handshake_ms);
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
    if (c->stall_ms < c->request_ms)
        c->stall_ms = c->request_ms;
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

unsigned http_server_cut_partial(struct http_server *s,
                                 int (*match)(void *ud, struct http_conn *c), void *ud)
{
    struct http_conn *c, *next;
    unsigned n = 0;

    for (c = LIST_FIRST(&s->conns); c; c = next) {
        next = LIST_NEXT(c, link);
        if (c->closing || c->busy || !c->in_request || c->msg_done || c->body_len == 0 ||
            !match(ud, c))
            continue;
        http_conn_close(c);             /* the partial hook sees its body */
        n++;
    }
    return n;
}

void http_server_drain(struct http_server *s, void (*done)(void *), void *ud)
{
    struct http_conn *c, *next;

    assert(!s->draining);
    s->draining = 1;
    s->drained = done;
    s->drained_ud = ud;
    for (c = LIST_FIRST(&s->conns); c; c = next) {
        next = LIST_NEXT(c, link);
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
