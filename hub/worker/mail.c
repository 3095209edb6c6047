/* mail.c - email through libcurl's SMTP: smtp:// with STARTTLS (required
 * or opportunistic) or smtps://, optional authentication, the message made
 * with curl's MIME API (quoted-printable text, base64 attachments). The
 * Message-ID is a digest of the job's idempotency key, so a resend after a
 * crash carries the same one and a reader (or a filter) sees one message. */
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hex.h"
#include "log.h"
#include "worker.h"

void mail_message_id(const struct worker_config *c, const char *key, char *out, size_t n)
{
    char h[SHA256_HEX_LEN];

    sha256_hex(key, strlen(key), h);
    snprintf(out, n, "<%.32s.sikhnas@%s>", h, c->msgid_domain);
}

int mail_html(struct strbuf *b, const char *s)
{
    int r = 0;

    for (; *s && r == 0; s++) {
        switch (*s) {
        case '&': r = strbuf_str(b, "&amp;"); break;
        case '<': r = strbuf_str(b, "&lt;"); break;
        case '>': r = strbuf_str(b, "&gt;"); break;
        case '"': r = strbuf_str(b, "&quot;"); break;
        default:  r = strbuf_add(b, s, 1);
        }
    }
    return r;
}

/* RFC 2047 encoded-word (base64, UTF-8) of s when it is not plain ASCII. */
static int header_text(struct strbuf *b, const char *s)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s), i;
    int plain = 1, r;

    for (i = 0; i < n; i++)
        if (u[i] < 0x20 || u[i] > 0x7e)
            plain = 0;
    if (plain)
        return strbuf_str(b, s);
    r = strbuf_str(b, "=?UTF-8?B?");
    for (i = 0; i < n && r == 0; i += 3) {
        unsigned v = u[i] << 16 | (i + 1 < n ? u[i + 1] << 8 : 0) | (i + 2 < n ? u[i + 2] : 0);
        char q[4] = { t[v >> 18 & 63], t[v >> 12 & 63],
                      i + 1 < n ? t[v >> 6 & 63] : '=', i + 2 < n ? t[v & 63] : '=' };
        r = strbuf_add(b, q, 4);
    }
    return r ? r : strbuf_str(b, "?=");
}

static struct curl_slist *add_header(struct curl_slist *l, int *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static struct curl_slist *add_header(struct curl_slist *l, int *err, const char *fmt, ...)
{
    char line[1024];
    struct curl_slist *n;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    n = curl_slist_append(l, line);
    if (!n) {
        *err = -ENOMEM;
        return l;
    }
    return n;
}

static struct curl_slist *headers(const struct worker_config *c, const struct mail *m, int *err)
{
    struct curl_slist *l = NULL;
    struct strbuf subj = { 0 }, to = { 0 };
    char id[160], date[64];
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    for (int i = 0; i < m->nto && *err == 0; i++)
        *err = strbuf_fmt(&to, "%s%s", i ? ", " : "", m->to[i]);
    if (*err == 0)
        *err = header_text(&subj, m->subject);
    if (*err == 0) {
        mail_message_id(c, m->key, id, sizeof(id));
        l = add_header(l, err, "Date: %s", date);
        l = add_header(l, err, "From: \"%s\" <%s>", c->mail_from_name, c->mail_from);
        l = add_header(l, err, "To: %s", to.p);
        l = add_header(l, err, "Subject: %s", subj.p);
        l = add_header(l, err, "Message-ID: %s", id);
        l = add_header(l, err, "Auto-Submitted: auto-generated");
        l = add_header(l, err, "X-Sikhnas-Job: %s", m->key);
        if (m->in_reply_to) {
            mail_message_id(c, m->in_reply_to, id, sizeof(id));
            l = add_header(l, err, "In-Reply-To: %s", id);
            l = add_header(l, err, "References: %s", id);
        }
    }
    strbuf_free(&subj);
    strbuf_free(&to);
    return l;
}

static int add_part(curl_mime *mime, const char *type, const char *data, size_t len,
                    const char *filename)
{
    curl_mimepart *p = curl_mime_addpart(mime);

    if (!p || curl_mime_data(p, data, len) != CURLE_OK || curl_mime_type(p, type) != CURLE_OK)
        return -ENOMEM;
    if (filename) {
        if (curl_mime_filename(p, filename) != CURLE_OK ||
            curl_mime_encoder(p, "base64") != CURLE_OK)
            return -ENOMEM;
    } else if (curl_mime_encoder(p, "quoted-printable") != CURLE_OK) {
        return -ENOMEM;
    }
    return 0;
}

/* multipart/mixed { text | multipart/alternative { text, html }, attachment } */
static int build_mime(CURL *curl, const struct mail *m, curl_mime **ret)
{
    curl_mime *top = curl_mime_init(curl), *alt = NULL;
    curl_mimepart *p;
    int r = top ? 0 : -ENOMEM;

    if (r == 0 && m->html) {
        alt = curl_mime_init(curl);
        r = alt ? 0 : -ENOMEM;
        if (r == 0)
            r = add_part(alt, "text/plain; charset=UTF-8", m->text, strlen(m->text), NULL);
        if (r == 0)
            r = add_part(alt, "text/html; charset=UTF-8", m->html, strlen(m->html), NULL);
        p = r == 0 ? curl_mime_addpart(top) : NULL;
        if (r == 0 && (!p || curl_mime_subparts(p, alt) != CURLE_OK ||
                       curl_mime_type(p, "multipart/alternative") != CURLE_OK))
            r = -ENOMEM;
        if (r == 0)
            alt = NULL;             /* owned by top now */
    } else if (r == 0) {
        r = add_part(top, "text/plain; charset=UTF-8", m->text, strlen(m->text), NULL);
    }
    if (r == 0 && m->attach)
        r = add_part(top, m->attach->type, m->attach->data, m->attach->len,
                     m->attach->filename);
    curl_mime_free(alt);
    if (r < 0) {
        curl_mime_free(top);
        return r;
    }
    *ret = top;
    return 0;
}

static void set_transport(CURL *curl, const struct worker_config *c)
{
    long tmo = c->smtp_timeout;
    /* a send must end well before the lease does, or another worker would
     * take the job while this one still sends it */
    long lease_s = worker_ms(c, c->lease) / 1000 / 2;

    if (lease_s >= 1 && lease_s < tmo)
        tmo = lease_s;
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, c->smtp_url);
    curl_easy_setopt(curl, CURLOPT_USE_SSL,
                     !strcmp(c->smtp_starttls, "required") ? (long)CURLUSESSL_ALL
                     : !strcmp(c->smtp_starttls, "try") ? (long)CURLUSESSL_TRY
                     : (long)CURLUSESSL_NONE);
    if (c->smtp_ca_file)
        curl_easy_setopt(curl, CURLOPT_CAINFO, c->smtp_ca_file);
    if (c->smtp_user) {
        curl_easy_setopt(curl, CURLOPT_USERNAME, c->smtp_user);
        curl_easy_setopt(curl, CURLOPT_PASSWORD, c->smtp_password ? c->smtp_password : "");
    }
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, c->mail_from);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, tmo < 10 ? tmo : 10L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, tmo);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
}

int mail_send(struct job_ctx *ctx, const struct mail *m)
{
    CURL *curl = ctx->curl;
    struct curl_slist *rcpt = NULL, *hdr = NULL;
    curl_mime *mime = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    long code = 0;
    CURLcode cr;
    int r = 0;

    for (int i = 0; i < m->nto && r == 0; i++) {
        struct curl_slist *n = curl_slist_append(rcpt, m->to[i]);
        if (!n)
            r = -ENOMEM;
        else
            rcpt = n;
    }
    if (r == 0)
        hdr = headers(ctx->cfg, m, &r);
    if (r == 0)
        r = build_mime(curl, m, &mime);
    if (r < 0) {
        job_fail(ctx, r, 0, "cannot build the message: out of memory");
        goto out;
    }
    set_transport(curl, ctx->cfg);
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    cr = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    if (cr != CURLE_OK) {
        /* a 5xx answer is the server refusing the message for good */
        int permanent = code >= 500 && code < 600 && cr != CURLE_LOGIN_DENIED;
        r = job_fail(ctx, permanent ? -EINVAL : -EIO, permanent, "SMTP %s: %s (%ld)",
                     ctx->cfg->smtp_url, errbuf[0] ? errbuf : curl_easy_strerror(cr), code);
    }
out:
    curl_easy_setopt(curl, CURLOPT_MIMEPOST, NULL);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, NULL);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
    curl_mime_free(mime);
    curl_slist_free_all(hdr);
    curl_slist_free_all(rcpt);
    return r;
}
