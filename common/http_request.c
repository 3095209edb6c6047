/* http_request.c - one request of the HTTP server (http_int.h): http-parser's
 * callbacks store the request line and headers in one buffer capped by
 * head_max (URL '\0' name '\0' value '\0' ...), the body in a buffer capped
 * by body_max and, over all connections, bodies_max; a complete request is
 * handed to the handler, a refusal (400, 408, 411, 413, 431, 503) to the
 * error hook. Also the status texts and the query-string helpers. */
#include "http_int.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

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
    case 416: return "Range Not Satisfiable";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default:  return "Unknown";
    }
}

/* ------------------------------------------------------------ requests */

void http_request_reset(struct http_conn *c)
{
    struct http_server *s = c->srv;

    s->body_bytes -= c->body_cap;
    free(c->body);
    c->body = NULL;
    c->body_len = c->body_cap = 0;
    c->head_len = c->head_bytes = c->url_end = 0;
    c->n_hdr = 0;
    c->in_value = 0;
    c->msg_done = c->discard = c->partial_given = 0;
    c->err_status = 0;
    c->in_request = 0;
    c->req = (struct http_req){ .conn = c, .method = "", .path = "", .query = "",
                                .body = "", .peer = c->peer };
}

void http_fail(struct http_conn *c, int status, const char *code, const char *msg)
{
    struct http_server *s = c->srv;

    assert(!c->busy);
    if (status == 408)
        http_request_partial(c);        /* the body so far, before it is dropped */
    if (s->cfg.error)
        log_debug("%s: %s: %d %s: %s", s->cfg.log_name, c->peer, status, code, msg);
    else
        log_info("%s: %s: %d %s: %s", s->cfg.log_name, c->peer, status, code, msg);
    c->want_close = 1;
    c->busy = 1;
    s->busy++;
    http_conn_ref(c);
    uv_timer_stop(&c->timer);
    http_read_stop(c);
    c->req.is_head = 0;
    if (s->cfg.error) {
        s->cfg.error(s->cfg.arg, c, &c->req, status, code, msg);
    } else {
        const char *text = http_status_text(status);
        http_respond(c, status, "text/plain; charset=utf-8", NULL, text, strlen(text));
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

/* c's client presented a certificate that the handshake verified. */
static int verified(struct http_conn *c)
{
    uint32_t flags;

    return c->srv->cfg.client_ca_file && http_peer_cert(c, &flags) && flags == 0;
}

static int on_message_begin(http_parser *p)
{
    struct http_conn *c = p->data;
    const struct http_config *cfg = &c->srv->cfg;

    c->in_request = 1;
    c->deadline = uv_now(c->srv->loop) + cfg->request_ms;
    c->silence_ms = cfg->request_ms;
    if (cfg->stall_ms > cfg->request_ms && verified(c)) {
        c->silence_ms = cfg->stall_ms;
        c->deadline += cfg->stall_ms - cfg->request_ms;
    }
    http_timer_arm(c, c->silence_ms);
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
    http_read_stop(c);
    c->busy = 1;
    s->busy++;
    http_conn_ref(c);
    s->cfg.handler(s->cfg.arg, c, r);
}

void http_request_partial(struct http_conn *c)
{
    struct http_server *s = c->srv;
    struct http_req r = c->req;
    char *q;

    if (!s->cfg.partial || !c->in_request || c->msg_done || c->busy || c->discard ||
        c->err_status || c->partial_given || c->body_len == 0 || c->url_end == 0)
        return;
    c->partial_given = 1;
    q = memchr(c->head, '?', c->url_end);
    if (q)
        *q = '\0';
    r.method = http_method_str(c->parser.method);
    r.path = c->head;
    r.query = q ? q + 1 : "";
    r.body = c->body;
    r.body_len = c->body_len;
    r.start_ns = uv_hrtime();
    s->cfg.partial(s->cfg.arg, c, &r);
}

void http_feed(struct http_conn *c, const char *data, size_t len)
{
    size_t used = http_parser_execute(&c->parser, &parser_settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);

    if (c->err_status && (!c->discard || c->msg_done)) {
        http_fail(c, c->err_status, c->err_code, c->err_msg);
        return;
    }
    if (e != HPE_OK && e != HPE_PAUSED) {
        http_fail(c, 400, "bad_request", http_errno_description(e));
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
