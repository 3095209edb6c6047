/* sync_tls.c - the node's TLS session, kept from one round to the next.
 *
 * Each round is a new process (sikhnas-node-uplink), and Debian 12's
 * libcurl (7.88) keeps TLS sessions in memory only: every round paid a
 * full handshake, on 2G (300 ms round trips) 1.35 s and 3-4 KB of
 * certificates before the first byte of a batch. The session of the last
 * full handshake is kept beside the store, in FILE.tls-session (mode 0600:
 * it holds the session's master secret, as FILE.key holds the key), and
 * offered in the next round's ClientHello. A hub that still holds it
 * (sikhnas-hub keeps a day of sessions, common/http_tls.c) resumes it in
 * one round trip without certificates; one that does not (restarted, or a
 * replica behind the same name) makes a full handshake, as before, whose
 * session is kept instead.
 *
 * The file is bound to the hub's URL and to the client certificate the
 * session was made with: a session carries the certificate of its first
 * handshake, so a renewed or new certificate starts a new session. A file
 * older than SESSION_MAX_S, from a clock that went back, or that does not
 * parse is not used. Nothing here is needed for a sync to succeed: every
 * failure is a full handshake.
 *
 * How, with libcurl's OpenSSL: libcurl sets its own new-session callback
 * (its in-memory cache) before it gives us the context (sync_client.c,
 * tls_floor() and tls_records()); ours calls it, then writes the session
 * down. A saved session goes into the connection when its handshake
 * starts (the info callback), before the ClientHello is made, unless
 * libcurl put one of its own there. */
#include "sync_int.h"

#include <errno.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fileio.h"
#include "hex.h"
#include "log.h"

#define SESSION_MAX_S    (20 * 3600)    /* the hub keeps a session for 24 h */
#define SESSION_FILE_MAX (16u << 10)
#define SESSION_MAGIC    "sikhnas-tls-session 1\n"

static int ctx_index = -1;              /* SSL_CTX ex_data: the sync_client */
static int (*libcurl_new_cb)(SSL *, SSL_SESSION *);

/* "URL SHA-256-of-the-certificate-file" into out; -1 when the certificate
 * cannot be read. */
static int binding(const struct sync_client *c, char *out, size_t cap)
{
    char hex[SHA256_HEX_LEN];
    FILE *f;
    char *buf;
    size_t n;

    if (!c->cert_file || !c->hub_url || !(f = fopen(c->cert_file, "rb")))
        return -1;
    buf = malloc(SESSION_FILE_MAX);         /* a PEM certificate is 1-2 KB */
    n = buf ? fread(buf, 1, SESSION_FILE_MAX, f) : 0;
    fclose(f);
    if (n > 0 && n < SESSION_FILE_MAX)
        sha256_hex(buf, n, hex);
    free(buf);
    if (n == 0 || n >= SESSION_FILE_MAX)
        return -1;
    return (size_t)snprintf(out, cap, "%s %s\n", c->hub_url, hex) < cap ? 0 : -1;
}

/* The saved session for this hub and certificate, or NULL. */
static SSL_SESSION *session_load(const struct sync_client *c)
{
    char bind[1200], *buf = NULL, *p, *end;
    const unsigned char *der;
    SSL_SESSION *sess = NULL;
    long long saved;
    time_t now = time(NULL);
    size_t n = 0;
    FILE *f;

    if (binding(c, bind, sizeof(bind)) < 0 || !(f = fopen(c->tls_file, "rb")))
        return NULL;
    buf = malloc(SESSION_FILE_MAX + 1);
    if (buf)
        n = fread(buf, 1, SESSION_FILE_MAX + 1, f);
    fclose(f);
    if (!buf || n > SESSION_FILE_MAX)
        goto out;
    buf[n] = '\0';                      /* for sscanf() below */
    end = buf + n;
    p = buf;
    if ((size_t)(end - p) < strlen(SESSION_MAGIC) + strlen(bind) ||
        memcmp(p, SESSION_MAGIC, strlen(SESSION_MAGIC)) != 0)
        goto out;
    p += strlen(SESSION_MAGIC);
    if (memcmp(p, bind, strlen(bind)) != 0) {
        log_debug("sync: the saved TLS session is for another hub or certificate");
        goto out;
    }
    p += strlen(bind);
    if (sscanf(p, "%lld\n", &saved) != 1 || !(p = memchr(p, '\n', (size_t)(end - p))))
        goto out;
    p++;
    if (saved > (long long)now || (long long)now - saved > SESSION_MAX_S) {
        log_debug("sync: the saved TLS session is out of date");
        goto out;
    }
    der = (const unsigned char *)p;
    sess = d2i_SSL_SESSION(NULL, &der, (long)(end - p));
    if (sess && (der != (const unsigned char *)end || !SSL_SESSION_is_resumable(sess))) {
        SSL_SESSION_free(sess);
        sess = NULL;
    }
out:
    free(buf);
    return sess;
}

/* A full handshake's new session: libcurl's cache first, then the file. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct sync_client *c = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_index);
    int kept = libcurl_new_cb ? libcurl_new_cb(ssl, sess) : 0;
    char bind[1200], head[1300];
    unsigned char *der = NULL, *buf;
    int der_len, head_len, r;

    if (!c || !c->tls_file || binding(c, bind, sizeof(bind)) < 0)
        return kept;
    der_len = i2d_SSL_SESSION(sess, &der);
    head_len = snprintf(head, sizeof(head), "%s%s%lld\n", SESSION_MAGIC, bind,
                        (long long)time(NULL));
    if (der_len <= 0 || head_len <= 0 || (size_t)head_len >= sizeof(head) ||
        (size_t)(head_len + der_len) > SESSION_FILE_MAX ||
        !(buf = malloc((size_t)(head_len + der_len)))) {
        OPENSSL_free(der);
        return kept;
    }
    memcpy(buf, head, (size_t)head_len);
    memcpy(buf + head_len, der, (size_t)der_len);
    OPENSSL_free(der);
    r = file_write_atomic(c->tls_file, NULL, buf, (size_t)(head_len + der_len), 0600, 0);
    free(buf);
    if (r < 0)
        log_debug("sync: cannot keep the TLS session in '%s' (%s)", c->tls_file, strerror(-r));
    return kept;
}

/* The handshake starts: the saved session goes in, unless libcurl has one;
 * it ends: counted as full or resumed. */
static void on_info(const SSL *ssl, int where, int ret)
{
    struct sync_client *c = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_index);

    (void) ret;
    if (!c)
        return;
    if ((where & SSL_CB_HANDSHAKE_START) && c->tls_sess && !SSL_get_session(ssl)) {
        if (SSL_set_session((SSL *)ssl, c->tls_sess) != 1)
            log_debug("sync: the saved TLS session was not taken");
    }
    if (where & SSL_CB_HANDSHAKE_DONE) {
        if (SSL_session_reused((SSL *)ssl)) {
            c->stats.tls_resumed++;
            log_debug("sync: TLS handshake: the session kept was resumed");
        } else {
            c->stats.tls_full++;
            log_debug("sync: TLS handshake in full%s", c->tls_sess ? " (the hub did not "
                      "resume the session kept)" : "");
        }
    }
}

void sync_tls_session(struct sync_client *c, SSL_CTX *ctx)
{
    if (!c->tls_file)
        return;
    if (ctx_index < 0)
        ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    if (ctx_index < 0 || !SSL_CTX_set_ex_data(ctx, ctx_index, c))
        return;
    if (SSL_CTX_sess_get_new_cb(ctx) != on_new_session) {
        libcurl_new_cb = SSL_CTX_sess_get_new_cb(ctx);
        SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    }
    /* libcurl asks for client-side caching itself; without it no new
     * session would be reported */
    SSL_CTX_set_session_cache_mode(ctx, SSL_CTX_get_session_cache_mode(ctx) |
                                            SSL_SESS_CACHE_CLIENT);
    SSL_CTX_set_info_callback(ctx, on_info);
    if (!c->tls_sess)
        c->tls_sess = session_load(c);
}

void sync_tls_free(struct sync_client *c)
{
    SSL_SESSION_free(c->tls_sess);
    c->tls_sess = NULL;
}
