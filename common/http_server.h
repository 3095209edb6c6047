/* http_server.h - the one HTTP/1.1 server of Sikhnas Edge: the node's web UI
 * and JSON API (plain HTTP on the office LAN) and the hub's HTTPS front
 * (mbedTLS: TLS 1.2 or later, ECDHE with AEAD suites, optional client
 * certificates, a session cache). libuv does the sockets, http-parser the
 * requests.
 *
 * Every length that comes off the wire has a cap, and so do the connections
 * (in all and per client address) and the time a connection may take for
 * its handshake or first request, for one request, and idle between
 * requests (struct http_config). One request per connection is with the
 * handler at a time: reading stops until it is answered, and pipelined
 * bytes wait. The handler answers with http_respond(), at once or later,
 * exactly once; the request and its connection stay valid until then. What
 * the server refuses by itself (400, 408, 411, 413, 431, 503) it answers
 * through the error hook, or as plain text without one, and then closes
 * the connection. */
#ifndef SIKHNAS_HTTP_SERVER_H
#define SIKHNAS_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct http_server;
struct http_conn;
struct mbedtls_x509_crt;

/* One complete request. The strings live as long as the request. */
struct http_req {
    struct http_conn *conn;         /* the connection it came on */
    const char *method;             /* "GET", "POST", ...; "" in the error hook */
    int         is_head;            /* HEAD: the answer goes without its body */
    const char *path;               /* raw, without the query; starts with '/' */
    const char *query;              /* after '?', or "" */
    const char *body;               /* NUL-terminated; "" when none */
    size_t      body_len;
    const char *peer;               /* the client's IP address */
    uint64_t    start_ns;           /* uv_hrtime() when the request was complete */
};

/* Called for every complete request; answer it with http_respond(). */
typedef void (*http_handler_fn)(void *arg, struct http_conn *c, const struct http_req *req);
/* Formats a refusal the server makes by itself: status is 400, 408, 411,
 * 413, 431 or 503, code a short token ("bad_request", "timeout",
 * "length_required", "payload_too_large", "headers_too_large",
 * "unavailable") and message a sentence. It must call http_respond() once
 * (the connection closes after that answer) and logs the refusal. */
typedef void (*http_error_fn)(void *arg, struct http_conn *c, const struct http_req *req,
                              int status, const char *code, const char *message);
/* A TLS handshake failed (not a timeout, not a close by the client). Called
 * at most once a minute per client address; reason says why and how many
 * failures of that address were not reported since the previous call. */
typedef void (*http_tls_fail_fn)(void *arg, const char *address, const char *reason);
/* A connection ended in the middle of a request's body (the client went
 * away, the link broke, or the request ran out of time): req is the request
 * as far as it came, body and body_len the bytes received (req->body is not
 * NUL-terminated); its headers are there through http_header(c, ...) and the
 * client's certificate through http_peer_cert(c). Called at most once per
 * request, only when some body came; nothing can be answered, and req and
 * its bytes are gone after the call (copy what is kept). */
typedef void (*http_partial_fn)(void *arg, struct http_conn *c, const struct http_req *req);

/* What the caller fills; a zero field takes the default in brackets. */
struct http_config {
    const char *host;               /* an IP address to listen on */
    int         port;               /* 0: any free port (see http_server_port) */
    /* TLS: NULL cert_file serves plain HTTP */
    const char *cert_file, *key_file;
    const char *client_ca_file;     /* NULL: no client certificates; else asked for and
                                     * verified (optional: see http_peer_cert) */
    /* caps on what a client sends */
    size_t      body_max;           /* [1 MiB] body bytes; more: 413 */
    size_t      head_max;           /* [8 KiB] request target + header names and values; 431 */
    size_t      url_max;            /* [head_max] request target; more: 431 */
    unsigned    headers_max;        /* [64] header lines; more: 431 */
    size_t      bodies_max;         /* [256 MiB] bodies held at once, all connections: 503 */
    size_t      discard_max;        /* [0] a body over body_max but up to this is read and
                                     * dropped before the 413, so the client sees it */
    unsigned    max_connections;    /* [256] open at once; more are accepted and closed */
    unsigned    max_per_addr;       /* [max_connections] from one client address */
    /* time */
    unsigned    handshake_ms;       /* [idle_ms] from accept to the end of the TLS handshake
                                     * (with TLS) or to the first request's first byte */
    unsigned    request_ms;         /* [30 s] from a request's first byte to the end of its
                                     * head, and the longest silence within a request: 408 */
    unsigned    min_body_rate;      /* [0: none] bytes/s: a body of n bytes gets n/rate s
                                     * more than request_ms */
    unsigned    stall_ms;           /* [request_ms] the longest silence within a request
                                     * (head or body) of a client whose certificate was
                                     * verified, and as much more time for the whole
                                     * request: a slow link's outage is ridden out (TCP's
                                     * retransmissions back off to twice the outage)
                                     * rather than cut */
    unsigned    idle_ms;            /* [30 s] between requests on a keep-alive connection */
    /* rules */
    int         length_required;    /* 411 for chunked bodies and a POST without a length */
    int         close_on_error;     /* answers 400, 408, 411, 413 and 431 close the
                                     * connection, the handler's too */
    /* log lines */
    const char *log_name;           /* ["http"] their prefix */
    const char *max_connections_name, *max_per_addr_name;   /* the settings they name */
    /* hooks; arg goes to each */
    http_handler_fn  handler;       /* required */
    http_error_fn    error;         /* NULL: text/plain status text */
    http_tls_fail_fn tls_fail;      /* NULL: only logged */
    http_partial_fn  partial;       /* NULL: a cut body is dropped */
    void            *arg;
};

/* Binds cfg->host:cfg->port, loads the TLS files when given, and starts
 * accepting. Returns 0 and *ret, or -errno (logged; nothing to free). */
int http_server_start(uv_loop_t *loop, const struct http_config *cfg,
                      struct http_server **ret);
/* The port actually bound. */
int http_server_port(const struct http_server *s);
/* Connections open now, and requests with the handler (or its error hook). */
unsigned http_server_conns(const struct http_server *s);
unsigned http_server_busy(const struct http_server *s);
/* Stops accepting, closes idle connections, and closes every busy one after
 * its answer (Connection: close). The server frees itself when the last
 * connection is gone and then calls done(ud) (done may be NULL): until
 * then s may still be asked for its counts. Call once. */
void http_server_drain(struct http_server *s, void (*done)(void *), void *ud);

/* Closes every connection in the middle of a request's body (not yet
 * complete, not with the handler) for which match(ud, c) returns 1: its
 * body so far goes to the partial hook first. For a client that comes
 * back on a new connection before the old one is known to be dead (its
 * close lost on a broken link). Returns how many were closed. */
unsigned http_server_cut_partial(struct http_server *s,
                                 int (*match)(void *ud, struct http_conn *c), void *ud);

/* The value of request header name (case-insensitive; the first of
 * repeated ones), or NULL. Valid until the answer is sent. */
const char *http_header(struct http_conn *c, const char *name);

/* Sends the answer: status, Content-Type (NULL: none), extra header lines
 * (each ending in "\r\n", or NULL) and the body (copied); the server adds
 * Content-Length, Connection and X-Content-Type-Options. Returns 0, or
 * -errno when the connection is already gone (the answer is dropped). The
 * request is invalid afterwards. */
int http_respond(struct http_conn *c, int status, const char *content_type,
                 const char *extra_headers, const void *body, size_t len);

/* Before http_respond(): after this answer, wait up to ms (instead of
 * idle_ms) for the client's next request on c, once. For a client told
 * to come back later (Retry-After), which then comes back on the same
 * connection instead of a new one and its TLS handshake. Only while the
 * server and c's address hold under 7/8 of their caps of connections:
 * near a cap, idle_ms as usual, so that waiting clients do not keep new
 * ones out. */
void http_conn_keep_for(struct http_conn *c, unsigned ms);

/* A streamed answer, for bodies of unknown size (exports): instead of
 * http_respond(), http_stream_start() sends the head (chunked transfer
 * coding; the connection closes after the answer), http_stream_write()
 * each piece, and http_stream_end() the end, exactly once. The server
 * holds at most what one write gave it: written(ud) runs (on the loop,
 * possibly before http_stream_write returns) once those bytes are with
 * the kernel, and the caller sends the next piece only then, so memory
 * stays flat whatever the size. A client that reads nothing for
 * request_ms is disconnected. The start and writes return 0, or
 * -ECONNRESET (-errno) when the connection is gone: the caller stops
 * producing and still calls http_stream_end(c, 0). With complete 0 the
 * answer ends without its last chunk, so the client sees it cut. */
int  http_stream_start(struct http_conn *c, int status, const char *content_type,
                       const char *extra_headers);
int  http_stream_write(struct http_conn *c, const void *data, size_t len,
                       void (*written)(void *), void *ud);
void http_stream_end(struct http_conn *c, int complete);

/* Keeps c's memory alive beyond its answer; every ref needs an unref. */
void http_conn_ref(struct http_conn *c);
void http_conn_unref(struct http_conn *c);

/* The client certificate of c as verified in the handshake, or NULL when
 * the client sent none (or without TLS). *flags gets the verification
 * result (0: chains to the client CA and was within its validity then;
 * MBEDTLS_X509_BADCERT_* bits otherwise). Lives as long as c. */
const struct mbedtls_x509_crt *http_peer_cert(struct http_conn *c, uint32_t *flags);

/* The reason phrase of status ("Not Found"), "Unknown" for others. */
const char *http_status_text(int status);

/* Test seam for the fuzz target (tests/fuzz/fuzz-http.c): makes a
 * connection of fd (a connected stream socket, e.g. one end of a
 * socketpair) as if it had been accepted from address, with the same caps,
 * timers, parser and answers (and TLS, when the server has it). Returns 0
 * or -errno. */
int http_server_test_adopt(struct http_server *s, uv_os_sock_t fd, const char *address);

/* Decodes %XX and '+' of a query or form value into out (cap bytes).
 * Returns the length, or -EINVAL for a bad escape or one that does not fit. */
int http_unescape(const char *in, size_t len, char *out, size_t cap);
/* Finds key in a query string "a=1&b=2" and decodes its value into out.
 * Returns the length, -ENOENT when absent, or -EINVAL. */
int http_query_get(const char *query, const char *key, char *out, size_t cap);

#endif
