/* fuzz-http.c - the HTTP server of common/ (http_server.c) as a client
 * reaches it after TLS: request line, headers, bodies, caps, keep-alive and
 * pipelining, fed through a socketpair into a connection of the real server
 * (http_server_test_adopt). Every input goes to two servers: one configured
 * like the node's web port (chunked bodies, plain-text refusals, keep-alive
 * after the handler's errors) and one like the hub (411 for chunked
 * bodies, a JSON-style error hook, a URL cap, oversize bodies read and
 * dropped, a cap on the bodies held, close after any 4xx of the layer).
 * Byte 0 picks the mode and how the bytes are cut:
 *   bit 0 clear: the rest is sent as is. Any answer is fine; but every
 *     request handed to the handler is within the caps with a path that
 *     starts with '/', what the server writes is a sequence of whole
 *     answers whose Content-Length matches the body, at most one says
 *     "Connection: close" (the last), nothing is answered that was not
 *     asked, and the connection goes away when the client leaves.
 *   bit 0 set: the rest describes one valid request, which must reach the
 *     handler exactly once, unchanged, and be answered 200 exactly once.
 *   bits 1-3: chunk size of the writes (0: all at once); bits 4-7: which
 *     requests the handler answers later (as the node and the hub do after
 *     work on the thread pool or the database) rather than at once. */
#undef NDEBUG                   /* the checks below are the point */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"
#include "http_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HELD  64
#define BODY_MAX  8192
#define HEAD_MAX  8192
#define URL_MAX   1023          /* the hub-like server */
#define BODIES    6144          /* the hub-like server: bodies held at once */

struct target {
    struct http_config cfg;
    struct http_server *srv;
};

static uv_loop_t loop;
static struct target node_like, hub_like;
static struct target *cur;
static struct http_conn *held[MAX_HELD];
static int nheld;
static unsigned defer_bits;
static int dispatched, errors, partials;
static unsigned char heads[MAX_HELD * 4];   /* HEAD or not, per answer in order */
static struct {                 /* the first request dispatched */
    char method[16], path[HEAD_MAX], query[HEAD_MAX], hdr[64];
    char *body;
    size_t body_len;
} got;

static void note_answer(int is_head)
{
    int n = dispatched + errors - 1;

    if (n >= 0 && (size_t)n < sizeof(heads))
        heads[n] = (unsigned char)is_head;
}

static void handler(void *arg, struct http_conn *c, const struct http_req *req)
{
    struct target *t = arg;
    const char *h;

    assert(t == cur && req->conn == c);
    assert(req->method && req->method[0] && req->path && req->query && req->body);
    assert(req->peer && strcmp(req->peer, "192.0.2.1") == 0);
    assert(req->path[0] == '/' && !strchr(req->path, '?'));
    assert(req->body_len <= t->cfg.body_max && req->body[req->body_len] == 0);
    assert(!t->cfg.bodies_max || req->body_len <= t->cfg.bodies_max);
    assert(strlen(req->path) + strlen(req->query) <= (t->cfg.url_max ? t->cfg.url_max
                                                                     : HEAD_MAX));
    h = http_header(c, "x-fuzz");
    assert(!h || strlen(h) < HEAD_MAX);
    dispatched++;
    note_answer(req->is_head);
    if (dispatched == 1) {
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

static void on_error(void *arg, struct http_conn *c, const struct http_req *req, int status,
                     const char *code, const char *msg)
{
    assert(arg == cur && cur == &hub_like && req->conn == c);
    assert(status == 400 || status == 408 || status == 411 || status == 413 ||
           status == 431 || status == 503);
    assert(code && code[0] && msg && msg[0]);
    errors++;
    note_answer(0);
    http_respond(c, status, "application/json", NULL, "{\"error\":1}", 11);
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
    return http_server_conns(cur->srv) == 0;
}

static void start(struct target *t)
{
    t->cfg.host = "127.0.0.1";
    t->cfg.body_max = BODY_MAX;
    t->cfg.head_max = HEAD_MAX;
    t->cfg.max_connections = 8;
    t->cfg.max_per_addr = 4;
    t->cfg.idle_ms = 30000;
    t->cfg.handler = handler;
    t->cfg.arg = t;
    if (http_server_start(&loop, &t->cfg, &t->srv) < 0)
        abort();
}

/* A body cut by the close (the hub keeps a push batch's prefix from it):
 * never a complete request, never an empty body, within the caps. */
static void on_partial(void *arg, struct http_conn *c, const struct http_req *req)
{
    struct target *t = arg;

    assert(t == cur && req->conn == c && req->body && req->body_len > 0);
    assert(req->body_len <= t->cfg.body_max);
    assert(req->path[0] == '/' && !strchr(req->path, '?') && req->method[0]);
    (void) http_header(c, "content-length");
    partials++;
}

static void setup(void)
{
    if (uv_loop_init(&loop) < 0)
        abort();
    node_like.cfg = (struct http_config){ .headers_max = 48, .request_ms = 15000,
                                          .handshake_ms = 10000, .log_name = "web" };
    hub_like.cfg = (struct http_config){ .headers_max = 64, .url_max = URL_MAX,
                                         .bodies_max = BODIES, .discard_max = 2 * BODY_MAX,
                                         .request_ms = 30000, .min_body_rate = 1024,
                                         .handshake_ms = 5000, .length_required = 1,
                                         .close_on_error = 1, .error = on_error,
                                         .partial = on_partial };
    start(&node_like);
    start(&hub_like);
}

/* What the server wrote must be whole answers, each with as many body
 * bytes as its Content-Length says (none after HEAD), and only the last
 * one may close the connection. Returns how many there are. */
static int check_answers(const struct feed *f)
{
    const char *p = f->out, *end = p ? p + f->out_len : NULL;
    int n = 0;

    while (p && p < end) {
        const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4), *cl;
        size_t len;
        assert(end - p > 9 && memcmp(p, "HTTP/1.1 ", 9) == 0 && hend);
        cl = memmem(p, (size_t)(hend - p), "\r\nContent-Length: ", 18);
        assert(cl);
        len = strtoul(cl + 18, NULL, 10);
        if ((size_t)n < sizeof(heads) && heads[n])
            len = 0;
        assert(hend + 4 + len <= end);
        if (memmem(p, (size_t)(hend - p), "\r\nConnection: close\r\n", 21))
            assert(hend + 4 + len == end);
        p = hend + 4 + len;
        n++;
    }
    return n;
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
        body_len = (rd(s) << 8 | rd(s)) % 4096;     /* within both servers' caps */
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
    assert(strcmp(got.method, post ? "POST" : "GET") == 0);
    assert(got.path[0] == '/' && strcmp(got.path + 1, path) == 0);
    assert(strcmp(got.query, query) == 0);
    assert(strcmp(got.hdr, hdr) == 0);
    assert(got.body_len == body_len && memcmp(got.body, body, body_len) == 0);
    assert(feed_count(f, "HTTP/1.1 200 OK\r\n") == 1);
    free(req);
}

static void run(struct target *t, const uint8_t *data, size_t size)
{
    static const size_t chunks[] = { 0, 1, 2, 3, 7, 16, 64, 512 };
    struct feed f;
    struct src s = { data + 1, size - 1 };
    int fd, answers;

    cur = t;
    dispatched = errors = nheld = 0;
    memset(heads, 0, sizeof(heads));
    defer_bits = data[0] >> 4;
    feed_open(&f, &loop, tick, &fd);
    if (http_server_test_adopt(t->srv, fd, "192.0.2.1") < 0)
        abort();
    if (data[0] & 1) {
        valid_request(&s, &f, chunks[(data[0] >> 1) & 7]);
    } else {
        feed_send(&f, data + 1, size - 1, chunks[(data[0] >> 1) & 7]);
        feed_settle(&f);
    }
    tick();
    feed_close(&f, all_closed);
    assert(http_server_conns(t->srv) == 0 && http_server_busy(t->srv) == 0 && nheld == 0);
    answers = check_answers(&f);
    if (t->cfg.error) {
        /* an error closes the connection: one at most, and every request is answered */
        assert(errors <= 1 && answers == dispatched + errors);
    } else {
        /* every answer but a refusal (one, then the connection closes) was asked for */
        assert(answers <= dispatched + 1 && answers >= dispatched);
    }
    free(got.body);
    memset(&got, 0, sizeof(got));
    feed_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!node_like.srv)
        setup();
    if (size < 1)
        return 0;
    run(&node_like, data, size);
    run(&hub_like, data, size);
    return 0;
}
