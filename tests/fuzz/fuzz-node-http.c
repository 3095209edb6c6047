/* fuzz-node-http.c - the node's web server (node/http.c) as the office LAN
 * reaches it: request line, headers, bodies, caps, keep-alive and
 * pipelining, fed through a socketpair into a connection of the real server
 * (http_server_test_adopt). Byte 0 picks the mode and how the bytes are cut:
 *   bit 0 clear: the rest is sent as is. Any answer is fine; but every
 *     request handed to the handler is within the caps with a path that
 *     starts with '/', nothing is answered that was not asked, and the
 *     connection goes away when the client leaves.
 *   bit 0 set: the rest describes one valid request, which must reach the
 *     handler exactly once, unchanged, and be answered 200 exactly once.
 *   bits 1-3: chunk size of the writes (0: all at once); bits 4-7: which
 *     requests the handler answers later (as web.c does after work on the
 *     thread pool) rather than at once. */
#undef NDEBUG                   /* the checks below are the point */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HELD 64
#define BODY_MAX 8192

static uv_loop_t loop;
static struct http_server *srv;
static struct http_conn *held[MAX_HELD];
static int nheld;
static unsigned defer_bits;
static int dispatched;
static struct {                 /* the first request dispatched */
    char method[16], path[HTTP_HEAD_MAX], query[HTTP_HEAD_MAX], hdr[64];
    char *body;
    size_t body_len;
} got;

static void handler(void *arg, struct http_conn *c, const struct http_req *req)
{
    const char *h;

    (void) arg;
    assert(req->method && req->path && req->query && req->body && req->peer);
    assert(req->path[0] == '/' && !strchr(req->path, '?'));
    assert(req->body_len <= BODY_MAX && req->body[req->body_len] == 0);
    assert(strlen(req->path) < HTTP_HEAD_MAX && strlen(req->query) < HTTP_HEAD_MAX);
    h = http_header(c, "x-fuzz");
    if (dispatched++ == 0) {
        snprintf(got.method, sizeof(got.method), "%s", req->method);
        snprintf(got.path, sizeof(got.path), "%s", req->path);
        snprintf(got.query, sizeof(got.query), "%s", req->query);
        snprintf(got.hdr, sizeof(got.hdr), "%s", h ? h : "(none)");
        got.body = malloc(req->body_len + 1);
        assert(got.body);
        memcpy(got.body, req->body, req->body_len + 1);
        got.body_len = req->body_len;
    }
    if (((defer_bits >> (dispatched % 4)) & 1) && nheld < MAX_HELD) {
        http_conn_ref(c);
        held[nheld++] = c;
        return;
    }
    http_respond(c, 200, "text/plain", NULL, "ok", 2);
}

static void tick(void)
{
    while (nheld > 0) {
        struct http_conn *c = held[--nheld];
        http_respond(c, 200, "text/plain", NULL, "ok", 2);
        http_conn_unref(c);
    }
}

static int all_closed(void)
{
    return http_server_conns(srv) == 0;
}

static void setup(void)
{
    struct http_limits lim = { .body_max = BODY_MAX, .max_connections = 8,
                               .max_per_addr = 4, .idle_timeout_ms = 30000,
                               .request_timeout_ms = 15000, .first_request_ms = 10000 };

    if (uv_loop_init(&loop) < 0 ||
        http_server_start(&loop, "127.0.0.1", 0, &lim, handler, NULL, &srv) < 0)
        abort();
}

/* ------------------------------------------------------------ a valid request */

struct src {
    const uint8_t *p;
    size_t n;
};

static unsigned rd(struct src *s)
{
    if (s->n == 0)
        return 0;
    s->n--;
    return *s->p++;
}

static void pick(struct src *s, const char *set, size_t len, char *out)
{
    size_t k = strlen(set);

    for (size_t i = 0; i < len; i++)
        out[i] = set[rd(s) % k];
    out[len] = 0;
}

#define TOKEN "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~-"

static void valid_request(struct src *s, struct feed *f, size_t chunk)
{
    char path[80], query[80], hdr[48], name[24], value[48];
    char *req = malloc(16384 + BODY_MAX);
    int post = rd(s) & 1, nh;
    size_t len, body_len = 0;
    const uint8_t *body;

    assert(req);
    pick(s, TOKEN "/", rd(s) % 64, path);
    pick(s, TOKEN "=&+%", rd(s) % 2 ? rd(s) % 64 : 0, query);
    pick(s, TOKEN, rd(s) % 40, hdr);
    len = (size_t)sprintf(req, "%s /%s%s%s HTTP/1.1\r\nHost: node\r\nX-Fuzz: %s\r\n",
                          post ? "POST" : "GET", path, query[0] ? "?" : "", query, hdr);
    nh = (int)(rd(s) % 8);
    for (int i = 0; i < nh; i++) {
        pick(s, TOKEN, 1 + rd(s) % 16, name);
        pick(s, TOKEN, rd(s) % 40, value);
        len += (size_t)sprintf(req + len, "X-F%s: %s\r\n", name, value);
    }
    if (post) {
        body_len = (rd(s) << 8 | rd(s)) % BODY_MAX;
        if (body_len > s->n)
            body_len = s->n;
        len += (size_t)sprintf(req + len, "Content-Length: %zu\r\n", body_len);
    }
    len += (size_t)sprintf(req + len, "\r\n");
    body = s->p;
    memcpy(req + len, body, body_len);
    len += body_len;
    feed_send(f, req, len, chunk);
    feed_settle(f);
    assert(dispatched == 1);
    assert(strcmp(got.method, post ? "POST" : "GET") == 0);
    assert(got.path[0] == '/' && strcmp(got.path + 1, path) == 0);
    assert(strcmp(got.query, query) == 0);
    assert(strcmp(got.hdr, hdr) == 0);
    assert(got.body_len == body_len && memcmp(got.body, body, body_len) == 0);
    assert(feed_count(f, "HTTP/1.1 200 OK\r\n") == 1);
    free(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t chunks[] = { 0, 1, 2, 3, 7, 16, 64, 512 };
    struct feed f;
    struct src s = { data + 1, size ? size - 1 : 0 };
    int fd;

    if (!srv)
        setup();
    if (size < 1)
        return 0;
    dispatched = nheld = 0;
    defer_bits = data[0] >> 4;
    feed_open(&f, &loop, tick, &fd);
    if (http_server_test_adopt(srv, fd, "192.0.2.1") < 0)
        abort();
    if (data[0] & 1) {
        valid_request(&s, &f, chunks[(data[0] >> 1) & 7]);
    } else {
        feed_send(&f, data + 1, size - 1, chunks[(data[0] >> 1) & 7]);
        feed_settle(&f);
    }
    tick();
    feed_close(&f, all_closed);
    assert(http_server_conns(srv) == 0 && nheld == 0);
    /* every answer but a refusal (one, then the connection closes) was asked for */
    assert(feed_count(&f, "HTTP/1.1 ") <= (size_t)dispatched + 1);
    free(got.body);
    memset(&got, 0, sizeof(got));
    feed_free(&f);
    return 0;
}
