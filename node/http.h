/* http.h - a small HTTP/1.1 server on a libuv loop, for the web UI and the
 * JSON API on the office LAN. Requests are parsed by http-parser; every
 * length from the wire has a cap (URL and headers, body, connections), idle
 * and slow requests time out, and keep-alive and pipelining work. One
 * request per connection is handled at a time: the handler is called with a
 * complete request and answers it with http_respond(), at once or later
 * (after work on the thread pool), exactly once. */
#ifndef SIKHNAS_HTTP_H
#define SIKHNAS_HTTP_H

#include <stddef.h>
#include <uv.h>

#define HTTP_HEAD_MAX    8192       /* request line + headers, bytes */
#define HTTP_HEADERS_MAX 48         /* header lines */

struct http_server;
struct http_conn;

struct http_limits {
    size_t body_max;                /* bytes; larger bodies get 413 */
    unsigned max_connections;       /* more are accepted and closed at once */
    unsigned max_per_addr;          /* ... and more than this from one client address */
    unsigned first_request_ms;      /* a new connection must start a request this soon */
    unsigned idle_timeout_ms;       /* between requests on a keep-alive connection */
    unsigned request_timeout_ms;    /* from a request's first byte to its last */
};

struct http_req {
    const char *method;             /* "GET", "POST", ... */
    int is_head;
    const char *path;               /* raw, without the query; starts with '/' */
    const char *query;              /* after '?', or "" */
    const char *body;               /* NUL-terminated; "" when none */
    size_t body_len;
    const char *peer;               /* the client's address, for logs */
};

/* Called for every complete request; answer it with http_respond(). */
typedef void (*http_handler_fn)(void *arg, struct http_conn *c, const struct http_req *req);

/* Binds host:port (port 0: any free port) and starts accepting. */
int http_server_start(uv_loop_t *loop, const char *host, int port,
                      const struct http_limits *lim, http_handler_fn fn, void *arg,
                      struct http_server **ret);
/* The port actually bound. */
int http_server_port(struct http_server *srv);
/* Connections open now. */
unsigned http_server_conns(const struct http_server *srv);
/* Stops accepting, closes idle connections, and lets busy ones finish their
 * current answer; the server's memory goes with its last handle. */
void http_server_stop(struct http_server *srv);

/* The value of request header name (case-insensitive), or NULL. Valid until
 * the answer is sent. */
const char *http_header(struct http_conn *c, const char *name);

/* Sends the answer: status, Content-Type, extra header lines (each ending
 * in "\r\n", or NULL) and the body (copied). Returns 0, or -errno when the
 * connection is already gone (the answer is dropped; nothing to do). */
int http_respond(struct http_conn *c, int status, const char *content_type,
                 const char *extra_headers, const void *body, size_t len);

/* Keeps c's memory alive across asynchronous work; every ref needs an unref. */
void http_conn_ref(struct http_conn *c);
void http_conn_unref(struct http_conn *c);

/* Test seam for the fuzz target (tests/fuzz/fuzz-node-http.c): makes a
 * connection of fd (a connected stream socket, e.g. one end of a
 * socketpair) as if it had been accepted from address, with the same
 * caps, timers, parser and answers. Returns 0 or -errno. */
int http_server_test_adopt(struct http_server *srv, uv_os_sock_t fd, const char *address);

/* Decodes %XX and '+' of a query or form value into out (cap bytes).
 * Returns the length, or -EINVAL for a bad escape or one that does not fit. */
int http_unescape(const char *in, size_t len, char *out, size_t cap);
/* Finds key in a query string "a=1&b=2" and decodes its value into out.
 * Returns the length, -ENOENT when absent, or -EINVAL. */
int http_query_get(const char *query, const char *key, char *out, size_t cap);

#endif
