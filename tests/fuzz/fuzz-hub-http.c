/* fuzz-hub-http.c - the hub's HTTP/1.1 layer (hub/hub_http.c) as the
 * internet reaches it, after TLS: request line, headers, bodies, caps,
 * keep-alive and pipelining, fed through a socketpair into a connection of
 * the real server (http_server_test_adopt: the same code but the TLS
 * records). Byte 0 picks the mode and how the bytes are cut:
 *   bit 0 clear: the rest is sent as is. Any answer is fine; but every
 *     request handed to the handler is within the caps, an error closes the
 *     connection after at most one answer, nothing is answered that was not
 *     asked, and the connection goes away when the client leaves.
 *   bit 0 set: the rest describes one valid request (method, path, query,
 *     headers, body), which must reach the handler exactly once, unchanged,
 *     and be answered 200 exactly once.
 *   bits 1-3: chunk size of the writes (0: all at once); bits 4-7: which
 *     requests the handler answers later rather than at once. */
#undef NDEBUG                   /* the checks below are the point */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "feed.h"
#include "hub_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HELD 64

static uv_loop_t loop;
static struct http_server *srv;
static struct http_req *held[MAX_HELD];
static int nheld;
static unsigned defer_bits;
static int dispatched, errors;
static struct {                 /* the first request dispatched */
    int method;
    char path[1024], query[1024], node[64];
    char *body;
    size_t body_len;
} got;

static void check_req(const struct http_req *r)
{
    assert(r->body && r->body[r->body_len] == 0 && r->body_len <= HTTP_MAX_BODY);
    assert(strnlen(r->url, sizeof(r->url)) < sizeof(r->url));
    assert(r->path == r->url && !strchr(r->path, '?'));
    assert(r->query && (r->query[0] == 0 ||
                        (r->query > r->url && r->query < r->url + sizeof(r->url))));
    assert(strnlen(r->node, sizeof(r->node)) < sizeof(r->node));
    assert(strnlen(r->district, sizeof(r->district)) < sizeof(r->district));
    assert(strnlen(r->hlc, sizeof(r->hlc)) < sizeof(r->hlc));
    assert(strnlen(r->encoding, sizeof(r->encoding)) < sizeof(r->encoding));
    assert(strnlen(r->digest, sizeof(r->digest)) < sizeof(r->digest));
    assert(strnlen(r->accept_encoding, sizeof(r->accept_encoding)) <
           sizeof(r->accept_encoding));
}

static void handler(struct http_req *req, void *ud)
{
    (void) ud;
    check_req(req);
    if (dispatched++ == 0) {
        got.method = req->method;
        snprintf(got.path, sizeof(got.path), "%s", req->path);
        snprintf(got.query, sizeof(got.query), "%s", req->query);
        snprintf(got.node, sizeof(got.node), "%s", req->node);
        got.body = malloc(req->body_len + 1);
        assert(got.body);
        memcpy(got.body, req->body, req->body_len + 1);
        got.body_len = req->body_len;
    }
    if (((defer_bits >> (dispatched % 4)) & 1) && nheld < MAX_HELD) {
        held[nheld++] = req;            /* answered by tick(), after more bytes came */
        return;
    }
    http_respond(req, 200, "X-Fuzz: 1\r\n", "ok", 2);
}

static void on_error(struct http_req *req, int status, const char *code, const char *msg,
                     void *ud)
{
    (void) ud;
    assert(status == 400 || status == 408 || status == 411 || status == 413 ||
           status == 431 || status == 503);
    assert(code && msg);
    errors++;
    http_respond(req, status, NULL, "err", 3);
}

static void tick(void)
{
    while (nheld > 0)
        http_respond(held[--nheld], 200, NULL, "ok", 2);
}

static int all_closed(void)
{
    return http_server_conns(srv) == 0;
}

static void setup(void)
{
    struct http_opts o = { .handler = handler, .error = on_error };

    if (uv_loop_init(&loop) < 0 || http_server_test_new(&loop, &o, &srv) < 0)
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
    char path[80], query[80], node[48], name[24], value[48];
    char *req = malloc(16384 + 4096);
    int post = rd(s) & 1, nh;
    size_t len, body_len = 0;
    const uint8_t *body;

    assert(req);
    pick(s, TOKEN "/", rd(s) % 64, path);
    pick(s, TOKEN "=&", rd(s) % 2 ? rd(s) % 64 : 0, query);
    pick(s, TOKEN, rd(s) % 40, node);
    len = (size_t)sprintf(req, "%s /%s%s%s HTTP/1.1\r\nHost: hub\r\nX-Sikhnas-Node: %s\r\n",
                          post ? "POST" : "GET", path, query[0] ? "?" : "", query, node);
    nh = (int)(rd(s) % 8);
    for (int i = 0; i < nh; i++) {
        pick(s, TOKEN, 1 + rd(s) % 16, name);
        pick(s, TOKEN, rd(s) % 40, value);
        len += (size_t)sprintf(req + len, "X-F%s: %s\r\n", name, value);
    }
    if (post) {
        body_len = (rd(s) << 8 | rd(s)) % 4096;
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
    assert(dispatched == 1 && errors == 0);
    assert(got.method == (post ? HTTP_POST : HTTP_GET));
    assert(got.path[0] == '/' && strcmp(got.path + 1, path) == 0);
    assert(strcmp(got.query, query) == 0 && strcmp(got.node, node) == 0);
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
    dispatched = errors = nheld = 0;
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
    assert(http_server_conns(srv) == 0 && http_server_busy(srv) == 0 && nheld == 0);
    assert(errors <= 1);                /* an error closes the connection */
    assert(feed_count(&f, "HTTP/1.1 ") <= (size_t)(dispatched + errors));
    free(got.body);
    memset(&got, 0, sizeof(got));
    feed_free(&f);
    return 0;
}
