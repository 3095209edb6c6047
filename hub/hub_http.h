/* hub_http.h - the hub's HTTPS front: libuv TCP, an mbedTLS 2.28 server
 * (TLS 1.2, ECDHE with AEAD suites only, session cache), and HTTP/1.1 with
 * keep-alive parsed by http-parser. Every wire length has a cap: header
 * bytes, header count, body size; idle and incomplete requests time out. One
 * request per connection is handled at a time; the next one is parsed after
 * the answer (pipelined bytes wait, and reading stops when they pile up). */
#ifndef SIKHNAS_HUB_HTTP_H
#define SIKHNAS_HUB_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include <mbedtls/x509_crt.h>

#define HTTP_MAX_HEADER_BYTES (8u << 10)
#define HTTP_MAX_HEADERS      64
#define HTTP_MAX_BODY         (4u << 20)
#define HTTP_IDLE_MS          30000
#define HTTP_MAX_CONNS        2048
#define HTTP_MAX_CONNS_PER_ADDR 64    /* default of http_opts.max_conns_per_addr */
#define HTTP_HANDSHAKE_MS     5000    /* default of http_opts.handshake_ms */
#define HTTP_AUDIT_EVERY_MS   60000   /* on_tls_fail: once a minute per address */

struct http_server;
struct peer;

struct http_req {
    struct peer *peer;
    int          method;              /* enum http_method */
    char         url[1024];
    const char  *path;                /* url up to '?' (url is split in place) */
    const char  *query;               /* after '?', or "" */
    /* the headers the hub reads; empty when absent */
    char         node[64];
    char         district[16];
    char         hlc[32];
    char         encoding[32];
    char         digest[96];
    char         accept_encoding[128];
    int          bad_header;          /* one of them was too long */
    char        *body;                /* NUL-terminated, body_len bytes */
    size_t       body_len;
    uint64_t     start_ns;            /* uv_hrtime() when the request was complete */
};

/* Runs for every complete request; it must call http_respond() once, now or
 * later. The request stays valid until then. */
typedef void (*http_handler_fn)(struct http_req *req, void *ud);
/* Lets the application add headers and a JSON error body to an error the
 * HTTP layer answers by itself (400, 408, 411, 413, 431, 503). */
typedef void (*http_error_fn)(struct http_req *req, int status, const char *code,
                              const char *message, void *ud);
/* A TLS handshake failed (not a timeout, not a close by the client). Called
 * at most once a minute per client address; reason says why and how many
 * failures of that address were not reported since the previous call. */
typedef void (*http_tls_fail_fn)(const char *address, const char *reason, void *ud);

struct http_opts {
    const char     *host;
    int             port;             /* 0: any free port (see http_server_port) */
    const char     *cert_file;
    const char     *key_file;
    const char     *client_ca_file;   /* client certificates must chain to these */
    http_handler_fn handler;
    http_error_fn   error;
    http_tls_fail_fn on_tls_fail;     /* NULL: only logged */
    void           *ud;
    /* Connections one client address may hold open; more are accepted and
     * closed at once (0: HTTP_MAX_CONNS_PER_ADDR). */
    int             max_conns_per_addr;
    /* A connection must finish its TLS handshake this soon after it was
     * accepted, however it trickles bytes (0: HTTP_HANDSHAKE_MS). */
    unsigned        handshake_ms;
};

int http_server_new(uv_loop_t *loop, const struct http_opts *o, struct http_server **ret);
int http_server_port(const struct http_server *s);
/* Connections open, and requests being handled. */
int http_server_conns(const struct http_server *s);
int http_server_busy(const struct http_server *s);
/* Stops accepting, closes idle connections, and closes every other one after
 * its answer; done(ud) runs when the last connection and the listener are
 * closed. The server is freed then. */
void http_server_drain(struct http_server *s, void (*done)(void *), void *ud);
int http_server_draining(const struct http_server *s);

/* The client certificate of req's connection as verified in the handshake,
 * or NULL when the client sent none. *flags gets the verification result
 * (0: chains to the client CA and was within its validity then; see
 * MBEDTLS_X509_BADCERT_*). The certificate lives as long as the request. */
const mbedtls_x509_crt *http_req_peer_cert(const struct http_req *req, uint32_t *flags);
/* The client's IP address as text. */
const char *http_req_address(const struct http_req *req);

/* Sends the answer: status, extra header lines ("Name: value\r\n"...), body.
 * Copies what it needs; req is invalid afterwards. */
void http_respond(struct http_req *req, int status, const char *headers,
                  const void *body, size_t len);

/* Test seam for the fuzz targets (tests/fuzz/fuzz-hub-http.c): a server
 * without a listener and without TLS. http_server_test_adopt() makes a
 * connection of fd (a connected stream socket, e.g. one end of a
 * socketpair) as if it had been accepted from address: the same reads,
 * parser, caps, timers, dispatch and writes, with the TLS layer left out.
 * Never used by sikhnas-hub. Both return 0 or -errno. */
int http_server_test_new(uv_loop_t *loop, const struct http_opts *o, struct http_server **ret);
int http_server_test_adopt(struct http_server *s, uv_os_sock_t fd, const char *address);

#endif
