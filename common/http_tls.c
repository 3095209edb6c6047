/* http_tls.c - the TLS transport of the HTTP server (http_int.h): mbedTLS
 * 2.28 as a server, TLS 1.2 or later, ECDHE with AEAD suites only, a
 * session cache, and client certificates asked for but not required (the
 * application decides per request: http_peer_cert). mbedTLS reads the
 * connection's ciphertext buffer (c->in) and writes into c->out through
 * the BIO below; http_server.c moves both to and from the socket.
 *
 * Failed handshakes are logged and reported to the application (which
 * audits them) at most once a minute per client address; the failures in
 * between are counted into the next report, or into one of their own from
 * a once-a-minute sweep. */
#include "http_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/x509_crt.h>

#include "log.h"
#include "rng.h"

struct http_tls {
    struct rng                rng;
    mbedtls_ssl_config        conf;
    mbedtls_x509_crt          cert;
    mbedtls_x509_crt          client_ca;
    mbedtls_pk_context        key;
    mbedtls_ssl_cache_context cache;
};

static const int suites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    0
};

void http_tls_free(struct http_tls *t)
{
    if (!t)
        return;
    mbedtls_ssl_cache_free(&t->cache);
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_x509_crt_free(&t->cert);
    mbedtls_x509_crt_free(&t->client_ca);
    mbedtls_pk_free(&t->key);
    rng_close(&t->rng);
    free(t);
}

/* Loads the files of cfg into t; returns 0 or an mbedTLS error (logged). */
static int tls_load(struct http_tls *t, const struct http_config *cfg)
{
    int r;

    if ((r = mbedtls_x509_crt_parse_file(&t->cert, cfg->cert_file)) != 0)
        log_error("cannot load the TLS certificate '%s'", cfg->cert_file);
    else if ((r = mbedtls_pk_parse_keyfile(&t->key, cfg->key_file, NULL)) != 0)
        log_error("cannot load the TLS key '%s'", cfg->key_file);
    else if (cfg->client_ca_file &&
             (r = mbedtls_x509_crt_parse_file(&t->client_ca, cfg->client_ca_file)) != 0)
        log_error("cannot load the client CA '%s'", cfg->client_ca_file);
    if (r == 0)
        r = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_SERVER,
                                        MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (r != 0)
        return r;
    mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->rng.drbg);
    mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_ciphersuites(&t->conf, suites);
    /* Optional: the hub's /v1/enroll is reached without a certificate; every
     * other endpoint checks the verified certificate itself. */
    if (cfg->client_ca_file) {
        mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
        mbedtls_ssl_conf_ca_chain(&t->conf, &t->client_ca, NULL);
    }
    /* a session for each connection the server may hold (mbedTLS keeps 50),
     * each for a day: a node that syncs every few minutes over 2G resumes
     * its session in one round trip, without certificates (node/sync_tls.c);
     * ~1 KB each, the client's certificate included */
    mbedtls_ssl_cache_set_max_entries(&t->cache, (int)cfg->max_connections);
    mbedtls_ssl_conf_session_cache(&t->conf, &t->cache, mbedtls_ssl_cache_get,
                                   mbedtls_ssl_cache_set);
    return mbedtls_ssl_conf_own_cert(&t->conf, &t->cert, &t->key);
}

int http_tls_new(const struct http_config *cfg, struct http_tls **ret)
{
    struct http_tls *t = calloc(1, sizeof(*t));
    char e[160];
    int r;

    if (!t)
        return -ENOMEM;
    mbedtls_ssl_config_init(&t->conf);
    mbedtls_x509_crt_init(&t->cert);
    mbedtls_x509_crt_init(&t->client_ca);
    mbedtls_pk_init(&t->key);
    mbedtls_ssl_cache_init(&t->cache);
    if (rng_open(&t->rng, "sikhnas-http") < 0) {
        http_tls_free(t);
        return -EIO;
    }
    r = tls_load(t, cfg);
    if (r != 0) {
        mbedtls_strerror(r, e, sizeof(e));
        log_error("TLS set-up failed: %s", e);
        http_tls_free(t);
        return -EINVAL;
    }
    *ret = t;
    return 0;
}

/* ------------------------------------------------------------ failure reports */

/* Reports a failure of e's address now, or counts it for a later report
 * (why NULL: the sweep reports what was counted). */
static void report(struct http_server *s, struct http_addr *e, const char *why)
{
    uint64_t now = uv_now(s->loop);
    char reason[256];

    if (why && e->reported && now - e->reported_at < HTTP_NOTICE_MS) {
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
    log_info("%s: %s: TLS handshake failed: %s", s->cfg.log_name, e->addr, reason);
    if (s->cfg.tls_fail)
        s->cfg.tls_fail(s->cfg.arg, e->addr, reason);
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

    for (int i = 0; i < HTTP_ADDR_BUCKETS; i++) {
        struct http_addr *e = s->addrs[i], *next;
        for (; e; e = next) {
            next = e->next;
            if (e->suppressed && now - e->reported_at >= HTTP_NOTICE_MS)
                report(s, e, NULL);
            http_addr_put(s, e, now);
        }
    }
}

void http_tls_sweep_start(struct http_server *s)
{
    uv_timer_init(s->loop, &s->sweep);
    s->sweep.data = s;
    s->sweeping = 1;
    uv_timer_start(&s->sweep, sweep_cb, HTTP_NOTICE_MS, HTTP_NOTICE_MS);
    uv_unref((uv_handle_t *)&s->sweep);
}

/* ------------------------------------------------------------ connections */

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    if (http_out_append(ctx, buf, len) < 0)
        return MBEDTLS_ERR_SSL_ALLOC_FAILED;
    return (int)len;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    struct http_conn *c = ctx;
    size_t avail = c->in_len - c->in_off;

    if (avail == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    if (len > avail)
        len = avail;
    memcpy(buf, c->in + c->in_off, len);
    c->in_off += len;
    return (int)len;
}

int http_tls_conn_start(struct http_conn *c)
{
    c->ssl = malloc(sizeof(*c->ssl));
    if (!c->ssl)
        return -ENOMEM;
    mbedtls_ssl_init(c->ssl);
    if (mbedtls_ssl_setup(c->ssl, &c->srv->tls->conf) != 0) {
        http_tls_conn_free(c);
        return -ENOMEM;
    }
    mbedtls_ssl_set_bio(c->ssl, c, bio_send, bio_recv, NULL);
    return 0;
}

void http_tls_conn_free(struct http_conn *c)
{
    mbedtls_ssl_free(c->ssl);
    free(c->ssl);
    c->ssl = NULL;
}

int http_tls_handshake(struct http_conn *c)
{
    int r = mbedtls_ssl_handshake(c->ssl);
    char e[128];

    if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
        return 0;
    if (r == 0)
        return 1;
    mbedtls_strerror(r, e, sizeof(e));
    if (c->ent)
        report(c->srv, c->ent, e);
    return -1;
}

int http_tls_read(struct http_conn *c, char *buf, size_t cap)
{
    int n = mbedtls_ssl_read(c->ssl, (unsigned char *)buf, cap);

    if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
        return 0;
    if (n > 0)
        return n;
    if (n != MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY && n != 0)
        log_debug("%s: %s: TLS read ended (%d)", c->srv->cfg.log_name, c->peer, n);
    return -1;
}

int http_tls_write(struct http_conn *c, const void *data, size_t len)
{
    const unsigned char *d = data;

    while (len > 0) {
        int n = mbedtls_ssl_write(c->ssl, d, len);
        if (n <= 0) {
            log_debug("%s: %s: TLS write failed (%d)", c->srv->cfg.log_name, c->peer, n);
            return -1;
        }
        d += n;
        len -= (size_t)n;
    }
    return 0;
}

const struct mbedtls_x509_crt *http_peer_cert(struct http_conn *c, uint32_t *flags)
{
    if (!c->ssl) {
        *flags = UINT32_MAX;
        return NULL;
    }
    *flags = mbedtls_ssl_get_verify_result(c->ssl);
    return mbedtls_ssl_get_peer_cert(c->ssl);
}
