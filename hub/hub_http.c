/* hub_http.c - TLS + HTTP/1.1 server on libuv (see hub_http.h).
 *
 * Data path: uv_read -> ciphertext buffer -> mbedTLS (custom BIO) ->
 * plaintext -> http_parser_execute. Output: mbedTLS writes records through
 * the send BIO into a pending buffer, which is handed to uv_write. A peer is
 * freed when its two handles are closed and no handler holds it. */
#include "hub_http.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/x509_crt.h>

#include "log.h"

#define IN_MAX   (256u << 10)     /* ciphertext waiting while a request is handled */
#define ADDR_BUCKETS 1024            /* the per-address table (a power of two) */
#define ADDR_MAX     16384           /* addresses tracked at once */
#define HTTP_DISCARD_MAX (64u << 20)  /* an oversize body up to this is read and dropped */
#define HTTP_BODIES_MAX  (256u << 20) /* request bodies held at once, all connections */
#define HTTP_HEAD_MS     30000        /* request line and headers must arrive within this */
#define HTTP_MIN_RATE    1024         /* and then the body at this many bytes/s on average */

/* What the server knows of one client address: the connections it holds
 * (capped) and the rate limit of its TLS failure reports. An entry lives
 * while the address has connections or a report is less than a minute old. */
struct addr_ent {
    struct addr_ent *next;
    int              conns;
    int              cap_logged;    /* the cap was hit and logged */
    unsigned         refused;       /* connections refused since that log */
    int              reported;      /* on_tls_fail ran at reported_at */
    uint64_t         reported_at;   /* uv_now() */
    unsigned         suppressed;    /* failures since, not reported */
    char             addr[48];
};

struct http_server {
    uv_loop_t               *loop;
    uv_tcp_t                 listener;
    int                      listening;
    int                      plain;     /* http_server_test_new(): no TLS, no listener */
    uv_timer_t               sweep;     /* reports suppressed failures, frees entries */
    int                      sweeping;
    struct addr_ent         *addrs[ADDR_BUCKETS];
    int                      naddrs;
    int                      admitted;  /* connections counted in the table */
    int                      table_full_logged;
    struct http_opts         o;
    int                      port;
    int                      nconns;
    int                      busy;
    size_t                   body_bytes; /* held by all peers; capped by HTTP_BODIES_MAX */
    int                      draining;
    void                   (*drained)(void *);
    void                    *drained_ud;
    struct peer             *peers;     /* list, for draining */
    mbedtls_entropy_context  entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ssl_config       conf;
    mbedtls_x509_crt         cert;
    mbedtls_x509_crt         client_ca;
    mbedtls_pk_context       key;
    mbedtls_ssl_cache_context cache;
};

struct peer {
    struct http_server *srv;
    struct addr_ent    *ent;            /* counts this connection, or NULL */
    struct peer        *next, *prev;
    uv_tcp_t            tcp;
    uv_timer_t          timer;
    int                 refs;
    int                 closing;
    int                 want_close;     /* close once the writes are out */
    int                 writes;         /* uv_write requests in flight */
    mbedtls_ssl_context ssl;
    int                 handshaken;
    char                addr[48];       /* the client's IP address */
    char               *in;             /* ciphertext from the socket */
    size_t              in_len, in_off, in_cap;
    char               *out;            /* ciphertext for the socket */
    size_t              out_len, out_cap;
    http_parser         parser;
    char               *plain;          /* parsed-ahead plaintext (pipelining) */
    size_t              plain_len;
    int                 reading;
    int                 processing;
    int                 in_handler;
    int                 in_request;     /* bytes of a request have arrived */
    uint64_t            deadline;       /* uv_now() by which the request must be complete */
    /* header capture */
    size_t              header_bytes;
    int                 nheaders;
    int                 last_was_value;
    char                hname[40];
    size_t              hname_len;
    char               *hval;           /* where the current value goes, or NULL */
    size_t              hval_cap, hval_len;
    int                 err_status;
    const char         *err_code;
    const char         *err_msg;
    int                 msg_done;
    int                 discard;        /* dropping an oversize body */
    size_t              body_cap;
    struct http_req     req;
};

struct wreq {
    uv_write_t   w;
    struct peer *p;
    char         data[];
};

static void peer_process(struct peer *p);
static void peer_close(struct peer *p);

/* ------------------------------------------------------------ lifetime */

/* Frees a draining server once the listener and every peer are closed. */
static void server_maybe_free(struct http_server *s)
{
    void (*done)(void *) = s->drained;
    void *ud = s->drained_ud;

    if (!s->draining || s->nconns > 0 || s->listening || s->sweeping || !done)
        return;
    for (int i = 0; i < ADDR_BUCKETS; i++)
        while (s->addrs[i]) {
            struct addr_ent *e = s->addrs[i];
            s->addrs[i] = e->next;
            free(e);
        }
    if (!s->plain) {
        mbedtls_ssl_cache_free(&s->cache);
        mbedtls_ssl_config_free(&s->conf);
        mbedtls_x509_crt_free(&s->cert);
        mbedtls_x509_crt_free(&s->client_ca);
        mbedtls_pk_free(&s->key);
        mbedtls_ctr_drbg_free(&s->drbg);
        mbedtls_entropy_free(&s->entropy);
    }
    free(s);
    done(ud);
}

/* ------------------------------------------------------------ client addresses */

static struct addr_ent **addr_slot(struct http_server *s, const char *addr)
{
    uint32_t h = 2166136261u;
    struct addr_ent **pe;

    for (const char *c = addr; *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    pe = &s->addrs[h & (ADDR_BUCKETS - 1)];
    while (*pe && strcmp((*pe)->addr, addr) != 0)
        pe = &(*pe)->next;
    return pe;
}

/* The entry of addr, made when absent; NULL when the table is full. */
static struct addr_ent *addr_get(struct http_server *s, const char *addr)
{
    struct addr_ent **pe = addr_slot(s, addr);

    if (*pe)
        return *pe;
    if (s->naddrs >= ADDR_MAX || !(*pe = calloc(1, sizeof(**pe)))) {
        if (!s->table_full_logged)
            log_warning("http: %d client addresses tracked; refusing connections from new "
                        "ones until some close", s->naddrs);
        s->table_full_logged = 1;
        return NULL;
    }
    s->table_full_logged = 0;
    snprintf((*pe)->addr, sizeof((*pe)->addr), "%s", addr);
    s->naddrs++;
    return *pe;
}

/* Frees e when nothing needs it any more. */
static void addr_put(struct http_server *s, struct addr_ent *e, uint64_t now)
{
    struct addr_ent **pe;

    if (e->conns > 0 || e->suppressed > 0 ||
        (e->reported && now - e->reported_at < HTTP_AUDIT_EVERY_MS))
        return;
    pe = addr_slot(s, e->addr);
    assert(*pe == e);
    *pe = e->next;
    free(e);
    s->naddrs--;
}

/* Reports a failure of e's address now, or counts it for a later report. */
static void addr_report(struct http_server *s, struct addr_ent *e, const char *why)
{
    uint64_t now = uv_now(s->loop);
    char reason[256];

    if (e->reported && now - e->reported_at < HTTP_AUDIT_EVERY_MS && why) {
        e->suppressed++;
        return;
    }
    if (!why && e->suppressed == 0)
        return;
    if (why && e->suppressed)
        snprintf(reason, sizeof(reason), "%s (and %u more handshake failures in the minute "
                 "before)", why, e->suppressed);
    else if (why)
        snprintf(reason, sizeof(reason), "%s", why);
    else
        snprintf(reason, sizeof(reason), "%u more handshake failures in the minute after "
                 "the last report", e->suppressed);
    log_info("http: %s: TLS handshake failed: %s", e->addr, reason);
    if (s->o.on_tls_fail)
        s->o.on_tls_fail(e->addr, reason, s->o.ud);
    e->suppressed = 0;
    e->reported = 1;
    e->reported_at = now;
}

/* Once a minute: the failures counted and not yet reported, and entries
 * whose minute is over. */
static void sweep_cb(uv_timer_t *t)
{
    struct http_server *s = t->data;
    uint64_t now = uv_now(s->loop);

    for (int i = 0; i < ADDR_BUCKETS; i++) {
        struct addr_ent *e = s->addrs[i], *next;
        for (; e; e = next) {
            next = e->next;
            if (e->suppressed && now - e->reported_at >= HTTP_AUDIT_EVERY_MS)
                addr_report(s, e, NULL);
            addr_put(s, e, now);
        }
    }
}

static void peer_unref(struct peer *p)
{
    struct http_server *s = p->srv;

    if (--p->refs > 0)
        return;
    if (p->ent) {
        s->admitted--;
        p->ent->conns--;
        if (p->ent->conns * 2 < s->o.max_conns_per_addr)
            p->ent->cap_logged = 0;
        addr_put(s, p->ent, uv_now(s->loop));
    }
    if (p->prev)
        p->prev->next = p->next;
    else
        s->peers = p->next;
    if (p->next)
        p->next->prev = p->prev;
    s->body_bytes -= p->body_cap;
    mbedtls_ssl_free(&p->ssl);
    free(p->in);
    free(p->out);
    free(p->plain);
    free(p->req.body);
    free(p);
    s->nconns--;
    server_maybe_free(s);
}

static void peer_closed(uv_handle_t *h)
{
    peer_unref(h->data);
}

static void peer_close(struct peer *p)
{
    if (p->closing)
        return;
    p->closing = 1;
    uv_close((uv_handle_t *)&p->tcp, peer_closed);
    uv_close((uv_handle_t *)&p->timer, peer_closed);
}

/* ------------------------------------------------------------ output */

static void write_done(uv_write_t *w, int status)
{
    struct wreq *wr = (struct wreq *)w;
    struct peer *p = wr->p;

    p->writes--;
    free(wr);
    if (status < 0 && !p->closing)
        peer_close(p);
    else if (p->want_close && p->writes == 0 && !p->closing)
        peer_close(p);
    peer_unref(p);
}

static void flush_out(struct peer *p)
{
    struct wreq *wr;
    uv_buf_t b;

    if (p->out_len == 0 || p->closing)
        return;
    wr = malloc(sizeof(*wr) + p->out_len);
    if (!wr) {
        peer_close(p);
        return;
    }
    wr->p = p;
    memcpy(wr->data, p->out, p->out_len);
    b = uv_buf_init(wr->data, (unsigned)p->out_len);
    p->out_len = 0;
    if (uv_write(&wr->w, (uv_stream_t *)&p->tcp, &b, 1, write_done) < 0) {
        free(wr);
        peer_close(p);
        return;
    }
    p->writes++;
    p->refs++;
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    struct peer *p = ctx;

    if (p->out_len + len > p->out_cap) {
        size_t cap = p->out_cap ? p->out_cap : 16384;
        char *n;
        while (cap < p->out_len + len)
            cap *= 2;
        n = realloc(p->out, cap);
        if (!n)
            return MBEDTLS_ERR_SSL_ALLOC_FAILED;
        p->out = n;
        p->out_cap = cap;
    }
    memcpy(p->out + p->out_len, buf, len);
    p->out_len += len;
    return (int)len;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    struct peer *p = ctx;
    size_t avail = p->in_len - p->in_off;

    if (avail == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    if (len > avail)
        len = avail;
    memcpy(buf, p->in + p->in_off, len);
    p->in_off += len;
    if (p->in_off == p->in_len)
        p->in_off = p->in_len = 0;
    return (int)len;
}

static void tls_write_all(struct peer *p, const void *data, size_t len)
{
    const unsigned char *d = data;

    while (len > 0) {
        int n = p->srv->plain ? bio_send(p, d, len) : mbedtls_ssl_write(&p->ssl, d, len);
        if (n <= 0) {
            log_debug("http: tls write failed (%d)", n);
            p->want_close = 1;
            return;
        }
        d += n;
        len -= (size_t)n;
    }
}

static const char *reason_of(int status)
{
    switch (status) {
    case 200: return "OK";
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
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

static void reset_request(struct peer *p)
{
    p->srv->body_bytes -= p->body_cap;
    free(p->req.body);
    memset(&p->req, 0, sizeof(p->req));
    p->req.peer = p;
    p->header_bytes = 0;
    p->nheaders = 0;
    p->last_was_value = 0;
    p->hname_len = 0;
    p->hval = NULL;
    p->err_status = 0;
    p->msg_done = 0;
    p->discard = 0;
    p->body_cap = 0;
    p->in_request = 0;
}

void http_respond(struct http_req *req, int status, const char *headers,
                  const void *body, size_t len)
{
    struct peer *p = req->peer;
    struct http_server *s = p->srv;
    char head[512];
    int keep, n;

    assert(p->in_handler);
    p->in_handler = 0;
    s->busy--;
    if (!p->closing) {
        /* errors that leave the stream in an unknown state close it */
        keep = 0;
        if (!(status == 400 || status == 408 || status == 411 || status == 413 ||
              status == 431) && !s->draining && !p->want_close)
            keep = http_should_keep_alive(&p->parser);
        n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n"
                     "Connection: %s\r\n", status, reason_of(status), len,
                     keep ? "keep-alive" : "close");
        tls_write_all(p, head, (size_t)n);
        if (headers)
            tls_write_all(p, headers, strlen(headers));
        tls_write_all(p, "\r\n", 2);
        if (len)
            tls_write_all(p, body, len);
        if (!keep)
            p->want_close = 1;
        flush_out(p);
        reset_request(p);
        if (p->want_close) {
            uv_read_stop((uv_stream_t *)&p->tcp);
            if (p->writes == 0)
                peer_close(p);
        } else {
            uv_timer_again(&p->timer);
            http_parser_pause(&p->parser, 0);
            if (!p->processing)
                peer_process(p);
        }
    }
    peer_unref(p);
}

/* Answers an error found by this layer, through the application's hook. */
static void fail_request(struct peer *p, int status, const char *code, const char *msg)
{
    p->want_close = 1;
    p->in_handler = 1;
    p->srv->busy++;
    p->refs++;
    if (p->srv->o.error)
        p->srv->o.error(&p->req, status, code, msg, p->srv->o.ud);
    else
        http_respond(&p->req, status, NULL, NULL, 0);
}

/* ------------------------------------------------------------ parser callbacks */

static int count_header_bytes(struct peer *p, size_t n)
{
    p->header_bytes += n;
    if (p->header_bytes > HTTP_MAX_HEADER_BYTES || p->nheaders > HTTP_MAX_HEADERS) {
        p->err_status = 431;
        p->err_code = "headers_too_large";
        p->err_msg = "request line and headers exceed 8192 bytes or 64 headers";
        return -1;
    }
    return 0;
}

static int on_message_begin(http_parser *hp)
{
    struct peer *p = hp->data;

    p->in_request = 1;
    p->deadline = uv_now(p->srv->loop) + HTTP_HEAD_MS;
    return 0;
}

static int on_url(http_parser *hp, const char *at, size_t n)
{
    struct peer *p = hp->data;
    size_t have = strlen(p->req.url);

    if (count_header_bytes(p, n) < 0)
        return -1;
    if (have + n >= sizeof(p->req.url)) {
        p->err_status = 431;
        p->err_code = "headers_too_large";
        p->err_msg = "URL too long";
        return -1;
    }
    memcpy(p->req.url + have, at, n);
    p->req.url[have + n] = 0;
    return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t n)
{
    struct peer *p = hp->data;

    if (count_header_bytes(p, n) < 0)
        return -1;
    if (p->last_was_value || p->nheaders == 0) {
        p->nheaders++;
        p->hname_len = 0;
        p->last_was_value = 0;
        p->hval = NULL;
    }
    if (p->hname_len + n < sizeof(p->hname)) {
        memcpy(p->hname + p->hname_len, at, n);
        p->hname_len += n;
    } else {
        p->hname_len = sizeof(p->hname);      /* too long to be one we read */
    }
    return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t n)
{
    struct peer *p = hp->data;
    struct http_req *r = &p->req;

    if (count_header_bytes(p, n) < 0)
        return -1;
    if (!p->last_was_value) {
        static const struct { const char *name; size_t off, cap; } wanted[] = {
            { "x-sikhnas-node", offsetof(struct http_req, node), sizeof(r->node) },
            { "x-sikhnas-district", offsetof(struct http_req, district), sizeof(r->district) },
            { "x-sikhnas-hlc", offsetof(struct http_req, hlc), sizeof(r->hlc) },
            { "content-encoding", offsetof(struct http_req, encoding), sizeof(r->encoding) },
            { "x-sikhnas-digest", offsetof(struct http_req, digest), sizeof(r->digest) },
            { "accept-encoding", offsetof(struct http_req, accept_encoding),
              sizeof(r->accept_encoding) },
        };
        p->last_was_value = 1;
        p->hval = NULL;
        if (p->hname_len < sizeof(p->hname)) {
            p->hname[p->hname_len] = 0;
            for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
                if (strcasecmp(p->hname, wanted[i].name) == 0) {
                    p->hval = (char *)r + wanted[i].off;
                    p->hval_cap = wanted[i].cap;
                    p->hval_len = strlen(p->hval);   /* a repeated header appends */
                }
        }
    }
    if (p->hval) {
        if (p->hval_len + n >= p->hval_cap) {
            r->bad_header = 1;
        } else {
            memcpy(p->hval + p->hval_len, at, n);
            p->hval_len += n;
            p->hval[p->hval_len] = 0;
        }
    }
    return 0;
}

static int on_headers_complete(http_parser *hp)
{
    struct peer *p = hp->data;

    if (hp->flags & F_CHUNKED) {
        p->err_status = 411;
        p->err_code = "length_required";
        p->err_msg = "chunked bodies are not accepted; send Content-Length";
    } else if (hp->method == HTTP_POST && !(hp->flags & F_CONTENTLENGTH)) {
        p->err_status = 411;
        p->err_code = "length_required";
        p->err_msg = "Content-Length is required";
    } else if ((hp->flags & F_CONTENTLENGTH) && hp->content_length > HTTP_MAX_BODY) {
        p->err_status = 413;
        p->err_code = "payload_too_large";
        p->err_msg = "body exceeds 4194304 bytes";
        /* read and drop a moderately larger body, so the client sees the answer */
        if (hp->content_length <= HTTP_DISCARD_MAX) {
            p->discard = 1;
            return 0;
        }
    }
    if (p->err_status) {
        http_parser_pause(hp, 1);
        return 0;
    }
    if ((hp->flags & F_CONTENTLENGTH) && hp->content_length > 0) {
        if (p->srv->body_bytes + hp->content_length > HTTP_BODIES_MAX) {
            p->err_status = 503;
            p->err_code = "unavailable";
            p->err_msg = "the hub is busy; retry later";
            http_parser_pause(hp, 1);
            return 0;
        }
        p->deadline = uv_now(p->srv->loop) + HTTP_HEAD_MS +
                      hp->content_length * 1000 / HTTP_MIN_RATE;
        p->srv->body_bytes += (size_t)hp->content_length;
        p->body_cap = (size_t)hp->content_length;
        p->req.body = malloc(p->body_cap + 1);
        if (!p->req.body) {
            p->err_status = 503;
            p->err_code = "unavailable";
            p->err_msg = "out of memory";
            http_parser_pause(hp, 1);
            return 0;
        }
        p->req.body[0] = 0;
    }
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t n)
{
    struct peer *p = hp->data;

    if (p->discard)
        return 0;
    if (!p->req.body || p->req.body_len + n > p->body_cap)
        return -1;                 /* cannot happen with Content-Length; refuse anyway */
    memcpy(p->req.body + p->req.body_len, at, n);
    p->req.body_len += n;
    p->req.body[p->req.body_len] = 0;
    return 0;
}

static int on_message_complete(http_parser *hp)
{
    struct peer *p = hp->data;

    p->msg_done = 1;
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ------------------------------------------------------------ processing */

static void dispatch(struct peer *p)
{
    struct http_req *r = &p->req;
    char *q;

    r->peer = p;
    r->method = p->parser.method;
    q = strchr(r->url, '?');
    if (q) {
        *q = 0;
        r->query = q + 1;
    } else {
        r->query = "";
    }
    r->path = r->url;
    r->start_ns = uv_hrtime();
    if (!r->body) {
        r->body = calloc(1, 1);
        if (!r->body) {
            fail_request(p, 503, "unavailable", "out of memory");
            return;
        }
    }
    uv_timer_stop(&p->timer);
    p->in_handler = 1;
    p->srv->busy++;
    p->refs++;
    p->srv->o.handler(r, p->srv->o.ud);
}

/* Feeds plaintext to the parser; keeps what follows a complete request. */
static void feed(struct peer *p, const char *data, size_t len)
{
    size_t used = http_parser_execute(&p->parser, &settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&p->parser);

    if (p->err_status && (!p->discard || p->msg_done)) {
        fail_request(p, p->err_status, p->err_code, p->err_msg);
        return;
    }
    if (e != HPE_OK && e != HPE_PAUSED) {
        fail_request(p, 400, "bad_request", http_errno_description(e));
        return;
    }
    if (used < len) {
        char *n = realloc(p->plain, p->plain_len + (len - used));
        if (!n) {
            peer_close(p);
            return;
        }
        memcpy(n + p->plain_len, data + used, len - used);
        p->plain = n;
        p->plain_len += len - used;
    }
    if (p->msg_done)
        dispatch(p);
}

static void peer_process(struct peer *p)
{
    unsigned char buf[16384];

    p->processing = 1;
    while (!p->closing && !p->in_handler && !p->want_close) {
        int n;
        if (!p->handshaken) {
            n = mbedtls_ssl_handshake(&p->ssl);
            flush_out(p);
            if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
                break;
            if (n != 0) {
                char e[128];
                mbedtls_strerror(n, e, sizeof(e));
                if (p->ent)
                    addr_report(p->srv, p->ent, e);
                peer_close(p);
                break;
            }
            p->handshaken = 1;
            uv_timer_again(&p->timer);
            continue;
        }
        if (p->plain_len > 0) {                      /* pipelined bytes first */
            char *d = p->plain;
            size_t l = p->plain_len;
            p->plain = NULL;
            p->plain_len = 0;
            feed(p, d, l);
            free(d);
            continue;
        }
        if (p->srv->plain)                           /* http_server_test_adopt() */
            n = bio_recv(p, buf, sizeof(buf));
        else
            n = mbedtls_ssl_read(&p->ssl, buf, sizeof(buf));
        flush_out(p);
        if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
            break;
        if (n <= 0) {
            if (n != MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY && n != 0)
                log_debug("http: TLS read ended (%d)", n);
            peer_close(p);
            break;
        }
        feed(p, (const char *)buf, (size_t)n);
    }
    p->processing = 0;
    /* resume reading when the pile of waiting ciphertext is small again */
    if (!p->closing && !p->want_close && !p->reading && p->in_len - p->in_off < IN_MAX / 2)
        p->reading = uv_read_start((uv_stream_t *)&p->tcp, NULL, NULL) == 0;
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct peer *p = h->data;
    size_t want = 16384;        /* one TLS record; an idle peer holds little */

    if (p->in_off > 0 && p->in_off == p->in_len)
        p->in_off = p->in_len = 0;
    if (p->in_cap - p->in_len < want) {
        char *n;
        if (p->in_off > 0) {             /* compact first */
            memmove(p->in, p->in + p->in_off, p->in_len - p->in_off);
            p->in_len -= p->in_off;
            p->in_off = 0;
        }
        if (p->in_cap - p->in_len < want) {
            n = realloc(p->in, p->in_len + want);
            if (!n) {
                *b = uv_buf_init(NULL, 0);
                return;
            }
            p->in = n;
            p->in_cap = p->in_len + want;
        }
    }
    *b = uv_buf_init(p->in + p->in_len, (unsigned)(p->in_cap - p->in_len));
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct peer *p = st->data;

    if (n < 0) {
        peer_close(p);
        return;
    }
    if (n == 0)
        return;
    p->in_len += (size_t)n;
    if (p->in_request && !p->in_handler && uv_now(p->srv->loop) > p->deadline) {
        /* a trickle that keeps the idle timer alive must still finish in time */
        fail_request(p, 408, "timeout", "the request is arriving too slowly");
        return;
    }
    if (!p->in_handler && p->handshaken)  /* the handshake has a deadline of its own */
        uv_timer_again(&p->timer);
    if (p->in_handler && p->in_len - p->in_off > IN_MAX) {
        uv_read_stop(st);                /* back-pressure while the answer is pending */
        p->reading = 0;
        return;
    }
    if (!p->processing)
        peer_process(p);
}

static void idle_cb(uv_timer_t *t)
{
    struct peer *p = t->data;

    if (p->in_handler || p->closing)
        return;
    if (!p->handshaken) {
        log_debug("http: %s: no TLS handshake within %u ms; closing", p->addr,
                  p->srv->o.handshake_ms);
        peer_close(p);
        return;
    }
    if (p->in_request) {
        fail_request(p, 408, "timeout", "the request was not complete within 30 s");
        return;
    }
    peer_close(p);
}

static void peer_address(struct peer *p)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);

    snprintf(p->addr, sizeof(p->addr), "?");
    if (uv_tcp_getpeername(&p->tcp, (struct sockaddr *)&ss, &len) < 0)
        return;
    if (ss.ss_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)&ss, p->addr, sizeof(p->addr));
    else
        uv_ip4_name((struct sockaddr_in *)&ss, p->addr, sizeof(p->addr));
}

const mbedtls_x509_crt *http_req_peer_cert(const struct http_req *req, uint32_t *flags)
{
    const mbedtls_x509_crt *crt = mbedtls_ssl_get_peer_cert(&req->peer->ssl);

    *flags = mbedtls_ssl_get_verify_result(&req->peer->ssl);
    return crt;
}

const char *http_req_address(const struct http_req *req)
{
    return req->peer->addr;
}

static struct peer *peer_new(struct http_server *s)
{
    struct peer *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->srv = s;
    uv_tcp_init(s->loop, &p->tcp);
    uv_timer_init(s->loop, &p->timer);
    p->tcp.data = p;
    p->timer.data = p;
    p->refs = 2;
    s->nconns++;
    p->next = s->peers;
    if (s->peers)
        s->peers->prev = p;
    s->peers = p;
    reset_request(p);
    mbedtls_ssl_init(&p->ssl);
    http_parser_init(&p->parser, HTTP_REQUEST);
    p->parser.data = p;
    return p;
}

/* Counts p against its address, or refuses it (the caller closes it). */
static int peer_admit(struct http_server *s, struct peer *p)
{
    struct addr_ent *e;

    /* (refused ones are not counted: they go in this loop iteration) */
    if (s->admitted >= HTTP_MAX_CONNS || s->draining || !(e = addr_get(s, p->addr)))
        return -EBUSY;
    if (e->conns >= s->o.max_conns_per_addr) {
        e->refused++;
        if (!e->cap_logged)
            log_warning("http: %s holds %d connections (the cap per address, "
                        "--max-conns-per-addr); refusing more from it (%u so far)",
                        e->addr, e->conns, e->refused);
        e->cap_logged = 1;
        addr_put(s, e, uv_now(s->loop));
        return -EBUSY;
    }
    e->conns++;
    s->admitted++;
    p->ent = e;
    return 0;
}

/* Starts the handshake (or, without TLS, the first request) and reading. */
static void peer_start(struct http_server *s, struct peer *p)
{
    if (peer_admit(s, p) < 0 || (!s->plain && mbedtls_ssl_setup(&p->ssl, &s->conf) != 0)) {
        peer_close(p);
        return;
    }
    uv_tcp_nodelay(&p->tcp, 1);
    if (s->plain) {
        p->handshaken = 1;
        uv_timer_start(&p->timer, idle_cb, HTTP_IDLE_MS, HTTP_IDLE_MS);
    } else {
        mbedtls_ssl_set_bio(&p->ssl, p, bio_send, bio_recv, NULL);
        uv_timer_start(&p->timer, idle_cb, s->o.handshake_ms, HTTP_IDLE_MS);
    }
    p->reading = uv_read_start((uv_stream_t *)&p->tcp, alloc_cb, read_cb) == 0;
}

static void on_connection(uv_stream_t *ls, int status)
{
    struct http_server *s = ls->data;
    struct peer *p;

    if (status < 0)
        return;
    p = peer_new(s);
    if (!p)
        return;
    if (uv_accept(ls, (uv_stream_t *)&p->tcp) < 0) {
        peer_close(p);
        return;
    }
    peer_address(p);
    peer_start(s, p);
}

int http_server_test_adopt(struct http_server *s, uv_os_sock_t fd, const char *address)
{
    struct peer *p;
    int r;

    if (!s->plain)
        return -EINVAL;
    p = peer_new(s);
    if (!p)
        return -ENOMEM;
    r = uv_tcp_open(&p->tcp, fd);
    if (r < 0) {
        peer_close(p);
        return r;
    }
    snprintf(p->addr, sizeof(p->addr), "%s", address);
    peer_start(s, p);
    return 0;
}

/* ------------------------------------------------------------ server */

static const int suites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    0
};

static int tls_setup(struct http_server *s)
{
    char e[160];
    int r;

    mbedtls_entropy_init(&s->entropy);
    mbedtls_ctr_drbg_init(&s->drbg);
    mbedtls_ssl_config_init(&s->conf);
    mbedtls_x509_crt_init(&s->cert);
    mbedtls_x509_crt_init(&s->client_ca);
    mbedtls_pk_init(&s->key);
    mbedtls_ssl_cache_init(&s->cache);
    r = mbedtls_ctr_drbg_seed(&s->drbg, mbedtls_entropy_func, &s->entropy,
                              (const unsigned char *)"sikhnas-hub", 11);
    if (r == 0 && (r = mbedtls_x509_crt_parse_file(&s->cert, s->o.cert_file)) != 0)
        log_error("cannot load the TLS certificate '%s'", s->o.cert_file);
    else if (r == 0 && (r = mbedtls_pk_parse_keyfile(&s->key, s->o.key_file, NULL)) != 0)
        log_error("cannot load the TLS key '%s'", s->o.key_file);
    else if (r == 0 && s->o.client_ca_file &&
             (r = mbedtls_x509_crt_parse_file(&s->client_ca, s->o.client_ca_file)) != 0)
        log_error("cannot load the client CA '%s'", s->o.client_ca_file);
    if (r == 0)
        r = mbedtls_ssl_config_defaults(&s->conf, MBEDTLS_SSL_IS_SERVER,
                                        MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (r == 0) {
        mbedtls_ssl_conf_rng(&s->conf, mbedtls_ctr_drbg_random, &s->drbg);
        mbedtls_ssl_conf_min_version(&s->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                     MBEDTLS_SSL_MINOR_VERSION_3);
        mbedtls_ssl_conf_ciphersuites(&s->conf, suites);
        /* Optional: /v1/enroll is reached without a certificate; every other
         * endpoint checks the verified certificate itself (hub_identity.c). */
        if (s->o.client_ca_file) {
            mbedtls_ssl_conf_authmode(&s->conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
            mbedtls_ssl_conf_ca_chain(&s->conf, &s->client_ca, NULL);
        }
        mbedtls_ssl_conf_session_cache(&s->conf, &s->cache, mbedtls_ssl_cache_get,
                                       mbedtls_ssl_cache_set);
        r = mbedtls_ssl_conf_own_cert(&s->conf, &s->cert, &s->key);
    }
    if (r != 0) {
        mbedtls_strerror(r, e, sizeof(e));
        log_error("TLS set-up failed: %s", e);
        mbedtls_ssl_cache_free(&s->cache);
        mbedtls_ssl_config_free(&s->conf);
        mbedtls_x509_crt_free(&s->cert);
        mbedtls_x509_crt_free(&s->client_ca);
        mbedtls_pk_free(&s->key);
        mbedtls_ctr_drbg_free(&s->drbg);
        mbedtls_entropy_free(&s->entropy);
        return -EINVAL;
    }
    return 0;
}

static struct http_server *server_alloc(uv_loop_t *loop, const struct http_opts *o)
{
    struct http_server *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->loop = loop;
    s->o = *o;
    if (s->o.max_conns_per_addr <= 0)
        s->o.max_conns_per_addr = HTTP_MAX_CONNS_PER_ADDR;
    if (s->o.handshake_ms == 0)
        s->o.handshake_ms = HTTP_HANDSHAKE_MS;
    return s;
}

/* Starts the once-a-minute sweep of the address table. */
static void sweep_start(struct http_server *s)
{
    uv_timer_init(s->loop, &s->sweep);
    s->sweep.data = s;
    s->sweeping = 1;
    uv_timer_start(&s->sweep, sweep_cb, HTTP_AUDIT_EVERY_MS, HTTP_AUDIT_EVERY_MS);
    uv_unref((uv_handle_t *)&s->sweep);
}

int http_server_test_new(uv_loop_t *loop, const struct http_opts *o, struct http_server **ret)
{
    struct http_server *s = server_alloc(loop, o);

    if (!s)
        return -ENOMEM;
    s->plain = 1;
    sweep_start(s);
    *ret = s;
    return 0;
}

int http_server_new(uv_loop_t *loop, const struct http_opts *o, struct http_server **ret)
{
    struct http_server *s;
    struct sockaddr_storage ss;
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    int r;

    s = server_alloc(loop, o);
    if (!s)
        return -ENOMEM;
    if (uv_ip4_addr(o->host, o->port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(o->host, o->port, (struct sockaddr_in6 *)&ss) != 0) {
        log_error("'%s' is not an IP address", o->host);
        free(s);
        return -EINVAL;
    }
    r = tls_setup(s);
    if (r < 0) {
        free(s);
        return r;
    }
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->listening = 1;
    r = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
    if (r < 0) {
        log_error("cannot listen on %s:%d: %s", o->host, o->port, uv_strerror(r));
        /* the listener handle is closed with the server; callers exit */
        return r;
    }
    sweep_start(s);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
    s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    *ret = s;
    return 0;
}

int http_server_port(const struct http_server *s) { return s->port; }
int http_server_conns(const struct http_server *s) { return s->nconns; }
int http_server_busy(const struct http_server *s) { return s->busy; }
int http_server_draining(const struct http_server *s) { return s->draining; }

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

void http_server_drain(struct http_server *s, void (*done)(void *), void *ud)
{
    s->draining = 1;
    s->drained = done;
    s->drained_ud = ud;
    for (struct peer *p = s->peers; p; p = p->next) {
        if (p->in_handler)
            p->want_close = 1;          /* closed after its answer */
        else
            peer_close(p);
    }
    if (s->sweeping)
        uv_close((uv_handle_t *)&s->sweep, sweep_closed);
    if (s->listening)
        uv_close((uv_handle_t *)&s->listener, listener_closed);
    else
        server_maybe_free(s);
}
