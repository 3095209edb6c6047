/* http.c - the HTTP/1.1 server under the web UI and API. http-parser does
 * the parsing; this file owns connections, caps and timeouts. A connection
 * handles one request at a time: when a request is complete the parser is
 * paused, bytes that came after it (pipelining) wait in `pending`, and
 * reading stops until the answer is queued. Each connection has two handles
 * (TCP and a timer); its memory goes when both are closed and nobody else
 * holds a reference (an answer computed on the thread pool). */
#include "http.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "log.h"

#define HTTP_READ_BUF      (64 * 1024)
#define HTTP_WRITE_QUEUE_MAX (1u << 20)  /* bytes a slow reader may leave unread */

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    struct http_limits lim;
    http_handler_fn fn;
    void *arg;
    int port;
    int refs;                   /* the listener + one per connection */
    int stopping;
    unsigned n_conns;
    struct http_conn *conns;    /* every open connection */
    char readbuf[HTTP_READ_BUF];  /* reads are parsed before the next read */
    int readbuf_busy;
    char refused_addr[64];      /* the last address refused for its cap, and when */
    uint64_t refused_at;
    unsigned refused;           /* connections refused since the last log line */
};

struct http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    struct http_server *srv;
    struct http_conn *prev, *next;
    http_parser parser;
    int refs;                   /* handles still open + holders */
    int closing;
    int busy;                   /* a request is with the handler */
    int in_parse;               /* inside conn_parse(): it will resume by itself */
    int in_request;             /* the first byte of a request has come */
    int keep_alive;
    int refuse;                 /* a status to refuse the request with */
    int in_value;               /* the last header callback was a value */
    char head[HTTP_HEAD_MAX];   /* URL '\0' name '\0' value '\0' ... */
    size_t head_len;
    size_t url_end;
    int n_hdr;
    struct { unsigned name, value; } hdr[HTTP_HEADERS_MAX];
    char *body;
    size_t body_len, body_cap;
    char *pending;              /* unparsed bytes after a paused request */
    size_t pending_len;
    char path[HTTP_HEAD_MAX];
    char peer[64];
    struct http_req req;
};

struct write_req {
    uv_write_t req;
    struct http_conn *c;
    int close_after;
    char data[];
};

static const char *status_text(int status)
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

static void server_unref(struct http_server *srv)
{
    if (--srv->refs == 0)
        free(srv);
}

void http_conn_ref(struct http_conn *c)
{
    c->refs++;
}

void http_conn_unref(struct http_conn *c)
{
    assert(c->refs > 0);
    if (--c->refs > 0)
        return;
    free(c->body);
    free(c->pending);
    server_unref(c->srv);
    free(c);
}

static void conn_handle_closed(uv_handle_t *h)
{
    http_conn_unref(h->data);
}

static void conn_close(struct http_conn *c)
{
    struct http_server *srv = c->srv;

    if (c->closing)
        return;
    c->closing = 1;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    srv->n_conns--;
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void conn_refuse(struct http_conn *c, int status);

static void on_timeout(uv_timer_t *t)
{
    struct http_conn *c = t->data;

    if (c->busy)
        return;         /* the handler is working; its answer restarts the timer */
    if (c->in_request) {
        log_info("web: %s: request not complete in time; closing", c->peer);
        conn_refuse(c, 408);
        return;
    }
    conn_close(c);
}

/* Answers a request that cannot be handled and closes the connection. */
static void conn_refuse(struct http_conn *c, int status)
{
    const char *text = status_text(status);

    uv_read_stop((uv_stream_t *)&c->tcp);
    c->keep_alive = 0;
    c->busy = 1;
    c->req.is_head = 0;
    http_respond(c, status, "text/plain; charset=utf-8", NULL, text, strlen(text));
}

static void timer_arm(struct http_conn *c, unsigned ms)
{
    uv_timer_start(&c->timer, on_timeout, ms, 0);
}

/* ------------------------------------------------------------------ parser callbacks */

static int head_append(struct http_conn *c, const char *at, size_t len)
{
    if (c->head_len + len + 1 > sizeof(c->head)) {
        c->refuse = 431;
        return -1;
    }
    memcpy(c->head + c->head_len, at, len);
    c->head_len += len;
    return 0;
}

static void request_reset(struct http_conn *c)
{
    c->head_len = 0;
    c->url_end = 0;
    c->n_hdr = 0;
    c->in_value = 0;
    c->refuse = 0;
    c->body_len = 0;
    c->in_request = 0;
}

static int on_message_begin(http_parser *p)
{
    struct http_conn *c = p->data;

    request_reset(c);
    c->in_request = 1;
    timer_arm(c, c->srv->lim.request_timeout_ms);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;

    if (head_append(c, at, len) < 0)
        return -1;
    c->url_end = c->head_len;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;

    if (c->n_hdr == 0 || c->in_value) {
        /* a new header: end the URL or the previous value */
        if (c->n_hdr >= HTTP_HEADERS_MAX) {
            c->refuse = 431;
            return -1;
        }
        if (head_append(c, "", 1) < 0)
            return -1;
        c->hdr[c->n_hdr].name = (unsigned)c->head_len;
        c->hdr[c->n_hdr].value = 0;
        c->n_hdr++;
        c->in_value = 0;
    }
    return head_append(c, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;

    if (!c->in_value) {
        if (head_append(c, "", 1) < 0)
            return -1;
        c->hdr[c->n_hdr - 1].value = (unsigned)c->head_len;
        c->in_value = 1;
    }
    return head_append(c, at, len);
}

static int on_headers_complete(http_parser *p)
{
    struct http_conn *c = p->data;
    size_t want;

    if (head_append(c, "", 1) < 0)
        return -1;
    if (c->url_end == 0 || c->head[0] != '/') {
        c->refuse = 400;            /* only origin-form targets: no "*", no "http://..." */
        return -1;
    }
    if (c->n_hdr > 0 && !c->in_value) {
        c->refuse = 400;            /* a name without a value */
        return -1;
    }
    if (p->flags & F_CHUNKED) {
        want = 4096;
    } else if (p->content_length != ULLONG_MAX && p->content_length > 0) {
        if (p->content_length > c->srv->lim.body_max) {
            c->refuse = 413;
            return -1;
        }
        want = (size_t)p->content_length;
    } else {
        want = 0;
    }
    if (want + 1 > c->body_cap) {
        char *b = realloc(c->body, want + 1);
        if (!b) {
            c->refuse = 503;
            return -1;
        }
        c->body = b;
        c->body_cap = want + 1;
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;

    if (c->body_len + len > c->srv->lim.body_max) {
        c->refuse = 413;
        return -1;
    }
    if (c->body_len + len + 1 > c->body_cap) {
        size_t cap = c->body_cap * 2;
        if (cap < c->body_len + len + 1)
            cap = c->body_len + len + 1;
        if (cap > c->srv->lim.body_max + 1)
            cap = c->srv->lim.body_max + 1;
        char *b = realloc(c->body, cap);
        if (!b) {
            c->refuse = 503;
            return -1;
        }
        c->body = b;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, at, len);
    c->body_len += len;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_conn *c = p->data;
    const char *url = c->head, *q;
    size_t plen;

    c->keep_alive = http_should_keep_alive(p) && !c->srv->stopping;
    if (c->body)
        c->body[c->body_len] = '\0';
    c->head[c->url_end] = '\0';         /* headers begin after this NUL */
    q = memchr(url, '?', c->url_end);
    plen = q ? (size_t)(q - url) : c->url_end;
    memcpy(c->path, url, plen);
    c->path[plen] = '\0';
    c->req.method = http_method_str(p->method);
    c->req.is_head = p->method == HTTP_HEAD;
    c->req.path = c->path;
    c->req.query = q ? q + 1 : "";
    c->req.body = c->body ? c->body : "";
    c->req.body_len = c->body_len;
    c->req.peer = c->peer;
    c->busy = 1;
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
    for (int i = 0; i < c->n_hdr; i++)
        if (c->hdr[i].value && strcasecmp(c->head + c->hdr[i].name, name) == 0)
            return c->head + c->hdr[i].value;
    return NULL;
}

/* ------------------------------------------------------------------ reading */

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

/* Feeds data to the parser and hands complete requests to the handler,
 * until the data is used up or a request is with the handler. */
static void conn_parse(struct http_conn *c, const char *data, size_t len)
{
    struct http_server *srv = c->srv;
    char *own = NULL;               /* pending bytes being parsed now */

    c->in_parse = 1;
    http_conn_ref(c);
    while (!c->closing) {
        size_t n = http_parser_execute(&c->parser, &parser_settings, data, len);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);

        if (e == HPE_PAUSED) {
            data += n;
            len -= n;
            /* a complete request: keep what follows it for later */
            free(c->pending);
            c->pending = NULL;
            c->pending_len = 0;
            if (len > 0) {
                c->pending = malloc(len);
                if (!c->pending) {
                    conn_close(c);
                    break;
                }
                memcpy(c->pending, data, len);
                c->pending_len = len;
            }
            free(own);
            own = NULL;
            uv_read_stop((uv_stream_t *)&c->tcp);
            srv->fn(srv->arg, c, &c->req);
            if (c->closing || c->busy || !c->keep_alive)
                break;              /* answered later (http_respond() resumes), or done */
            /* answered at once: go on with what was pipelined */
            http_parser_pause(&c->parser, 0);
            own = c->pending;
            data = own;
            len = c->pending_len;
            c->pending = NULL;
            c->pending_len = 0;
            if (len == 0) {
                if (c->keep_alive && !c->closing)
                    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
                break;
            }
            continue;
        }
        if (e != HPE_OK) {
            int status = c->refuse ? c->refuse : 400;
            log_info("web: %s: bad request (%s)", c->peer,
                     c->refuse ? status_text(status) : http_errno_description(e));
            conn_refuse(c, status);
            break;
        }
        /* all used; wait for more. Reading stopped for the request before
         * (if any) and must go on: the rest of a pipelined one is to come. */
        if (!c->busy && c->keep_alive && !c->closing)
            uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        break;
    }
    free(own);
    c->in_parse = 0;
    http_conn_unref(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct http_conn *c = h->data;
    struct http_server *srv = c->srv;

    (void) suggested;
    if (srv->readbuf_busy) {        /* cannot happen: reads are parsed at once */
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    srv->readbuf_busy = 1;
    buf->base = srv->readbuf;
    buf->len = sizeof(srv->readbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct http_conn *c = s->data;

    if (buf->base == c->srv->readbuf)
        c->srv->readbuf_busy = 0;
    if (nread == 0)
        return;
    if (nread < 0) {
        if (nread != UV_EOF && nread != UV_ECONNRESET)
            log_debug("web: %s: read: %s", c->peer, uv_strerror((int)nread));
        if (!c->busy)
            conn_close(c);
        else
            uv_read_stop(s);    /* the handler's answer closes it (keep_alive off) */
        c->keep_alive = 0;
        return;
    }
    conn_parse(c, buf->base, (size_t)nread);
}

/* ------------------------------------------------------------------ writing */

static void on_written(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct http_conn *c = w->c;

    if (status < 0 || w->close_after)
        conn_close(c);
    http_conn_unref(c);
    free(w);
}

/* After an answer: read the next request, from what was pipelined first. */
static void conn_resume(struct http_conn *c)
{
    char *data;
    size_t len;

    if (c->closing || c->in_parse)
        return;             /* conn_parse() goes on by itself */
    http_parser_pause(&c->parser, 0);
    data = c->pending;
    len = c->pending_len;
    c->pending = NULL;
    c->pending_len = 0;
    if (len > 0)
        conn_parse(c, data, len);
    free(data);
    if (!c->closing && !c->busy && c->keep_alive)
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int http_respond(struct http_conn *c, int status, const char *content_type,
                 const char *extra_headers, const void *body, size_t len)
{
    struct write_req *w;
    size_t head_cap = 512 + (extra_headers ? strlen(extra_headers) : 0);
    int hl;
    uv_buf_t b;
    int r;

    assert(c->busy);
    c->busy = 0;
    c->in_request = 0;
    if (c->closing)
        return -ECONNRESET;
    w = malloc(sizeof(*w) + head_cap + len);
    if (!w) {
        conn_close(c);
        return -ENOMEM;
    }
    hl = snprintf(w->data, head_cap,
                  "HTTP/1.1 %d %s\r\n"
                  "Content-Type: %s\r\n"
                  "Content-Length: %zu\r\n"
                  "Connection: %s\r\n"
                  "X-Content-Type-Options: nosniff\r\n"
                  "%s"
                  "\r\n",
                  status, status_text(status), content_type ? content_type : "text/plain",
                  len, c->keep_alive ? "keep-alive" : "close",
                  extra_headers ? extra_headers : "");
    assert(hl > 0 && (size_t)hl < head_cap);
    if (!c->req.is_head && len)
        memcpy(w->data + hl, body, len);
    w->c = c;
    w->close_after = !c->keep_alive;
    b = uv_buf_init(w->data, (unsigned)hl + (c->req.is_head ? 0 : (unsigned)len));
    http_conn_ref(c);
    r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
    if (r < 0) {
        http_conn_unref(c);
        free(w);
        conn_close(c);
        return r;
    }
    if (c->tcp.write_queue_size > HTTP_WRITE_QUEUE_MAX) {
        log_info("web: %s: client does not read its answers; closing", c->peer);
        conn_close(c);
        return -ENOBUFS;
    }
    if (c->keep_alive) {
        timer_arm(c, c->srv->lim.idle_timeout_ms);
        conn_resume(c);
    }
    return 0;
}

/* ------------------------------------------------------------------ accepting */

static void refused_closed(uv_handle_t *h)
{
    free(h);
}

/* Logs a refused connection: once per key (an address, or "*" for the
 * total) and minute, not per connection. */
static void log_refused(struct http_server *srv, const char *key, const char *why)
{
    uint64_t now = uv_now(srv->loop);

    srv->refused++;
    if (strcmp(srv->refused_addr, key) == 0 && now - srv->refused_at < 60000)
        return;
    log_warning("web: %s (%u refused since the last notice)", why, srv->refused);
    snprintf(srv->refused_addr, sizeof(srv->refused_addr), "%s", key);
    srv->refused_at = now;
    srv->refused = 0;
}

/* Closes a connection that conn_start() did not take. */
static void conn_drop(struct http_conn *c)
{
    c->refs = 1;
    c->srv->refs++;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
}

/* Takes an accepted connection from address ip, or closes it when that
 * address holds its share of connections already (lim.max_per_addr). */
static void conn_start(struct http_conn *c, const char *ip)
{
    struct http_server *srv = c->srv;
    unsigned same = 0, first;
    char why[160];

    for (struct http_conn *o = srv->conns; o; o = o->next)
        same += strcmp(o->peer, ip) == 0;
    if (same >= srv->lim.max_per_addr) {
        snprintf(why, sizeof(why), "%s holds %u connections (web.max_conns_per_addr); "
                 "refusing more from it", ip, same);
        log_refused(srv, ip, why);
        conn_drop(c);
        return;
    }
    uv_timer_init(srv->loop, &c->timer);
    c->timer.data = c;
    c->refs = 2;                    /* the two handles */
    srv->refs++;
    srv->n_conns++;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    uv_tcp_nodelay(&c->tcp, 1);
    snprintf(c->peer, sizeof(c->peer), "%s", ip);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    /* a connection that never sends a request goes sooner than an idle one */
    first = srv->lim.first_request_ms;
    timer_arm(c, first < srv->lim.idle_timeout_ms ? first : srv->lim.idle_timeout_ms);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static struct http_conn *conn_new(struct http_server *srv)
{
    struct http_conn *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->srv = srv;
    uv_tcp_init(srv->loop, &c->tcp);
    c->tcp.data = c;
    return c;
}

static void on_connection(uv_stream_t *l, int status)
{
    struct http_server *srv = l->data;
    struct http_conn *c;
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    char ip[48] = "?";

    if (status < 0) {
        log_warning("web: accept: %s", uv_strerror(status));
        return;
    }
    if (srv->n_conns >= srv->lim.max_connections || srv->stopping) {
        uv_tcp_t *t = malloc(sizeof(*t));
        if (!t)
            return;
        uv_tcp_init(srv->loop, t);
        if (uv_accept(l, (uv_stream_t *)t) == 0 && !srv->stopping)
            log_refused(srv, "*", "all web.max_connections are open; refusing more");
        uv_close((uv_handle_t *)t, refused_closed);
        return;
    }
    c = conn_new(srv);
    if (!c)
        return;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0) {
        conn_drop(c);
        return;
    }
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
        else
            uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
    }
    conn_start(c, ip);
}

int http_server_test_adopt(struct http_server *srv, uv_os_sock_t fd, const char *address)
{
    struct http_conn *c = conn_new(srv);
    int r;

    if (!c)
        return -ENOMEM;
    r = uv_tcp_open(&c->tcp, fd);
    if (r < 0) {
        conn_drop(c);
        return r;
    }
    conn_start(c, address);
    return 0;
}

static void listener_closed(uv_handle_t *h)
{
    server_unref(h->data);
}

int http_server_start(uv_loop_t *loop, const char *host, int port,
                      const struct http_limits *lim, http_handler_fn fn, void *arg,
                      struct http_server **ret)
{
    struct http_server *srv;
    struct sockaddr_storage ss;
    int sl = sizeof(ss), r;

    srv = calloc(1, sizeof(*srv));
    if (!srv)
        return -ENOMEM;
    srv->loop = loop;
    srv->lim = *lim;
    if (srv->lim.max_per_addr == 0)
        srv->lim.max_per_addr = srv->lim.max_connections;
    if (srv->lim.first_request_ms == 0)
        srv->lim.first_request_ms = srv->lim.idle_timeout_ms;
    srv->fn = fn;
    srv->arg = arg;
    srv->refs = 1;
    r = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
    if (r < 0)
        r = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
    if (r < 0) {
        free(srv);
        return log_errno(LOG_ERR, -EINVAL, "web: '%s' is not an IP address", host);
    }
    uv_tcp_init(loop, &srv->listener);
    srv->listener.data = srv;
    r = uv_tcp_bind(&srv->listener, (struct sockaddr *)&ss, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&srv->listener, 128, on_connection);
    if (r == 0)
        r = uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&ss, &sl);
    if (r < 0) {
        log_error("web: cannot listen on %s:%d: %s", host, port, uv_strerror(r));
        uv_close((uv_handle_t *)&srv->listener, listener_closed);
        return r;
    }
    srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                : ((struct sockaddr_in *)&ss)->sin_port);
    *ret = srv;
    return 0;
}

int http_server_port(struct http_server *srv)
{
    return srv->port;
}

unsigned http_server_conns(const struct http_server *srv)
{
    return srv->n_conns;
}

void http_server_stop(struct http_server *srv)
{
    struct http_conn *c, *next;

    if (!srv || srv->stopping)
        return;
    srv->stopping = 1;
    for (c = srv->conns; c; c = next) {
        next = c->next;
        if (c->busy)
            c->keep_alive = 0;      /* closes after its answer */
        else
            conn_close(c);
    }
    uv_close((uv_handle_t *)&srv->listener, listener_closed);
}

/* ------------------------------------------------------------------ query strings */

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
