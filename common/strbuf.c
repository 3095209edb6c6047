/* strbuf.c - growable strings (see strbuf.h). */
#include "strbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(struct strbuf *b, int r)
{
    if (!b->err)
        b->err = r;
    return r;
}

int strbuf_reserve(struct strbuf *b, size_t n)
{
    size_t need, cap;
    char *p;

    if (b->err)
        return b->err;
    if (n > (size_t)-1 / 2 - b->len)
        return fail(b, -ENOMEM);
    need = b->len + n + 1;
    if (b->max && need > b->max + 1)
        return fail(b, -EMSGSIZE);
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 1024;
    while (cap < need)
        cap *= 2;
    if (b->max && cap > b->max + 1)
        cap = b->max + 1;
    p = realloc(b->p, cap);
    if (!p)
        return fail(b, -ENOMEM);
    b->p = p;
    b->cap = cap;
    return 0;
}

int strbuf_add(struct strbuf *b, const void *d, size_t n)
{
    int r = strbuf_reserve(b, n);

    if (r < 0)
        return r;
    if (n)
        memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int strbuf_str(struct strbuf *b, const char *s)
{
    return strbuf_add(b, s, strlen(s));
}

int strbuf_fmt(struct strbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n, r;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return fail(b, -EINVAL);
    r = strbuf_reserve(b, (size_t)n);
    if (r < 0)
        return r;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int strbuf_json(struct strbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int r = strbuf_reserve(b, n * 6 + 2);
    char *o;

    if (r < 0)
        return r;
    o = b->p + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20) {
            *o++ = '\\';
            switch (c) {
            case '\n': *o++ = 'n'; break;
            case '\t': *o++ = 't'; break;
            case '\r': *o++ = 'r'; break;
            default:
                *o++ = 'u'; *o++ = '0'; *o++ = '0';
                *o++ = hex[c >> 4]; *o++ = hex[c & 15];
            }
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
    b->p[b->len] = '\0';
    return 0;
}

int strbuf_json_str(struct strbuf *b, const char *s)
{
    return strbuf_json(b, s, strlen(s));
}

void strbuf_reset(struct strbuf *b)
{
    b->len = 0;
    b->err = 0;
    if (b->p)
        b->p[0] = '\0';
}

void strbuf_free(struct strbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->err = 0;
}

char *strbuf_take(struct strbuf *b)
{
    char *p = b->err ? NULL : b->p ? b->p : strdup("");

    if (b->err)
        free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->err = 0;
    return p;
}
