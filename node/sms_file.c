/* sms_file.c - the bytes of one SMS gateway spool file to sender, modem
 * timestamp and UTF-8 text. Pure (no I/O but the C library's iconv, whose
 * UTF-16 and ISO-8859-1 converters are built into glibc) so that it can be
 * fuzzed; the formats are described in docs/sms.md. */
#include "sms_file.h"

#include <assert.h>
#include <ctype.h>
#include <iconv.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sms.h"
#include "utf8.h"

/* len bytes in charset from ("UTF-16BE", "UTF-16LE" or "ISO-8859-1") to
 * UTF-8 by iconv(3), into a malloc'd buffer (*out_len bytes, NUL-ended).
 * A unit iconv refuses (an unpaired surrogate: the high one when no low
 * one follows, a low one alone) becomes U+FFFD; so does a high surrogate
 * cut off at the end, and a last odd byte is dropped. Returns NULL with
 * errno set when out of memory or the C library lacks the charset. */
static char *to_utf8(const char *from, size_t unit, const unsigned char *p, size_t len,
                     size_t *out_len)
{
    iconv_t cd = iconv_open("UTF-8", from);
    size_t cap = len * 2 + 4;           /* UTF-16: 3 bytes per unit at most; Latin-1: 2 */
    char *out = NULL, *in = (char *)(uintptr_t)p, *o;
    size_t in_left = len, o_left;

    if (cd == (iconv_t)-1)
        return NULL;
    out = malloc(cap);
    if (!out)
        goto out;
    o = out;
    o_left = cap - 1;
    while (iconv(cd, &in, &in_left, &o, &o_left) == (size_t)-1) {
        if (errno == E2BIG || o_left < 3) {
            assert(!"to_utf8: cap holds 3 bytes per unit; it cannot run out");
            free(out);
            out = NULL;
            errno = ENOMEM;
            break;
        }
        if (in_left < unit)
            break;                      /* an odd byte at the end */
        memcpy(o, "\xef\xbf\xbd", 3);    /* U+FFFD for the unit refused or cut off */
        o += 3;
        o_left -= 3;
        in += unit;
        in_left -= unit;
    }
    *o = '\0';
    *out_len = (size_t)(o - out);
out:
    iconv_close(cd);
    return out;
}

/* Decodes a body into m->text as valid UTF-8. enc: 0 UTF-8, 1 UTF-16BE
 * (UCS2), 2 by BOM (gammu), 3 UTF-8 or else ISO-8859-1 (smstools3 "Alphabet:
 * ISO" or "GSM" without incoming_utf8). */
static int decode_body(struct sms_file *m, const unsigned char *p, size_t len, int enc,
                       const char **why)
{
    char *raw = NULL;
    size_t n = 0;

    if (enc == 2 && len >= 2 && ((p[0] == 0xff && p[1] == 0xfe) || (p[0] == 0xfe && p[1] == 0xff))) {
        raw = to_utf8(p[0] == 0xfe ? "UTF-16BE" : "UTF-16LE", 2, p + 2, len - 2, &n);
    } else if (enc == 1) {
        if (len % 2) {
            *why = "UCS2 text of an odd number of bytes";
            return -EBADMSG;
        }
        raw = to_utf8("UTF-16BE", 2, p, len, &n);
    } else if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
        raw = malloc(len - 2);
        if (raw) {
            memcpy(raw, p + 3, len - 3);
            n = len - 3;
        }
    } else if (enc == 3 && !utf8_valid((const char *)p, len, 0)) {
        raw = to_utf8("ISO-8859-1", 1, p, len, &n);
    } else {
        raw = malloc(len + 1);          /* UTF-8; utf8_clean() replaces what is not */
        if (raw) {
            memcpy(raw, p, len);
            n = len;
        }
    }
    if (!raw)
        return -ENOMEM;
    /* gammu-smsd (InboxFormat = unicode) ends the text with zero code
     * units; they are not part of the message */
    while (enc == 2 && n && raw[n - 1] == '\0')
        n--;
    /* the text handed on is valid UTF-8 without NUL; invalid bytes are U+FFFD */
    m->text = malloc(n * 3 + 1);
    if (!m->text) {
        free(raw);
        return -ENOMEM;
    }
    m->len = utf8_clean(raw, n, m->text, n * 3 + 1);
    free(raw);
    return 0;
}

/* gammu: IN20261128_100102_00_+6281234567890_00.txt */
static int gammu_name(const char *name, struct sms_file *m)
{
    const char *p = name + 2, *sender, *end;
    size_t n;

    if (strncmp(name, "IN", 2) != 0 || strlen(name) < 25)
        return 0;
    if (strspn(p, "0123456789") != 8 || p[8] != '_' || strspn(p + 9, "0123456789") != 6 ||
        p[15] != '_' || strspn(p + 16, "0123456789") != 2 || p[18] != '_')
        return 0;
    sender = p + 19;
    end = strrchr(sender, '_');
    n = strlen(name);
    if (!end || n < 4 || strcmp(name + n - 4, ".txt") != 0)
        return 0;
    if ((size_t)(end - sender) >= sizeof(m->sender) || end == sender)
        return 0;
    memcpy(m->sender, sender, (size_t)(end - sender));
    m->sender[end - sender] = '\0';
    snprintf(m->sent, sizeof(m->sent), "%.15s", p);      /* 20261128_100102 */
    m->gammu = 1;
    return 1;
}

static void trim_copy(char *out, size_t cap, const char *s, size_t len)
{
    while (len && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
        len--;
    if (len >= cap)
        len = cap - 1;
    memcpy(out, s, len);
    out[len] = '\0';
}

/* 1 when text opens with header lines ("Name: value", Name without blanks)
 * and one of them is From:, as if an smstools3 file had been given a gammu
 * name: the name and the header would each name a sender. */
static int has_from_header(const char *text, size_t len)
{
    size_t i = 0;

    while (i < len && text[i] != '\n' && text[i] != '\r') {
        size_t k = i;
        while (k < len && (isalnum((unsigned char)text[k]) || text[k] == '_' || text[k] == '-'))
            k++;
        if (k == i || k >= len || text[k] != ':')
            return 0;                   /* not a header line: the text begins */
        if (k - i == 4 && strncasecmp(text + i, "From", 4) == 0)
            return 1;
        while (k < len && text[k] != '\n')
            k++;
        i = k + 1;
    }
    return 0;
}

/* The headers that decide who sent what, when and how it is encoded; each
 * may appear once. A second one makes the file ambiguous (which From: is
 * the sender?), so it is refused rather than guessed at. */
static const struct {
    const char *name, *twice;
} key_headers[] = {
    { "From", "From: given twice (which one is the sender?)" },
    { "Sent", "Sent: given twice" },
    { "Received", "Received: given twice" },
    { "Alphabet", "Alphabet: given twice" },
};

int sms_file_parse(const char *name, const unsigned char *buf, size_t len, struct sms_file *m,
                   const char **why)
{
    char received[64] = "";
    unsigned seen = 0;
    int r = 0, enc = 0;

    memset(m, 0, sizeof(*m));
    if (gammu_name(name, m)) {
        r = decode_body(m, buf, len, 2, why);
        if (r == 0 && has_from_header(m->text, m->len)) {
            *why = "a gammu file (sender in its name) with a From: header inside: two senders";
            r = -EBADMSG;
        }
        goto out;
    }

    /* smstools3: header lines "Name: value", a blank line, the text */
    size_t i = 0;
    int blank = 0;
    while (i < len) {
        size_t e = i;
        while (e < len && buf[e] != '\n')
            e++;
        size_t l = e - i;
        if (l > 0 && buf[i + l - 1] == '\r')
            l--;
        if (l == 0) {
            blank = 1;
            i = e < len ? e + 1 : e;
            break;
        }
        const char *line = (const char *)buf + i;
        const char *colon = memchr(line, ':', l);
        if (!colon) {
            *why = "a header line without ':' before the blank line";
            r = -EBADMSG;
            goto out;
        }
        size_t kl = (size_t)(colon - line);
        const char *val = colon + 1;
        size_t vl = l - kl - 1;
        for (size_t k = 0; k < sizeof(key_headers) / sizeof(key_headers[0]); k++) {
            if (kl != strlen(key_headers[k].name) || strncasecmp(line, key_headers[k].name, kl))
                continue;
            if (seen & (1u << k)) {
                *why = key_headers[k].twice;
                r = -EBADMSG;
                goto out;
            }
            seen |= 1u << k;
        }
        if (kl == 4 && strncasecmp(line, "From", 4) == 0)
            trim_copy(m->sender, sizeof(m->sender), val, vl);
        else if (kl == 4 && strncasecmp(line, "Sent", 4) == 0)
            trim_copy(m->sent, sizeof(m->sent), val, vl);
        else if (kl == 8 && strncasecmp(line, "Received", 8) == 0)
            trim_copy(received, sizeof(received), val, vl);
        else if (kl == 8 && strncasecmp(line, "Alphabet", 8) == 0) {
            char a[16];
            trim_copy(a, sizeof(a), val, vl);
            if (strncasecmp(a, "UCS", 3) == 0 || strcasecmp(a, "Unicode") == 0)
                enc = 1;
            else if (strncasecmp(a, "ISO", 3) == 0 || strcasecmp(a, "GSM") == 0)
                enc = 3;                /* "ISO", as smsd writes it, or "ISO8859-15" */
        }
        i = e + 1;
    }
    if (!blank) {
        *why = "no blank line between the headers and the text";
        r = -EBADMSG;
        goto out;
    }
    if (!m->sender[0]) {
        *why = "no From: header";
        r = -EBADMSG;
        goto out;
    }
    if (!m->sent[0])
        snprintf(m->sent, sizeof(m->sent), "%s", received);
    r = decode_body(m, buf + i, len - i, enc, why);
out:
    if (r < 0)
        sms_file_clear(m);
    return r;
}

void sms_file_clear(struct sms_file *m)
{
    free(m->text);
    m->text = NULL;
    m->len = 0;
}
