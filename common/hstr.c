/* hstr.c - growable strings (see hstr.h). */
#include "hstr.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Makes room for n more bytes and the NUL; 0, or -1 with oom set. */
static int hstr_room(struct hstr *s, size_t n)
{
    size_t cap;
    char *p;

    if (s->oom)
        return -1;
    if (s->len + n + 1 <= s->cap)
        return 0;
    cap = s->cap ? s->cap : 1024;
    while (cap < s->len + n + 1)
        cap *= 2;
    p = realloc(s->p, cap);
    if (!p) {
        s->oom = 1;
        return -1;
    }
    s->p = p;
    s->cap = cap;
    return 0;
}

void hstr_add(struct hstr *s, const char *d, size_t n)
{
    if (hstr_room(s, n) < 0)
        return;
    memcpy(s->p + s->len, d, n);
    s->len += n;
    s->p[s->len] = 0;
}

void hstr_str(struct hstr *s, const char *str)
{
    hstr_add(s, str, strlen(str));
}

void hstr_fmt(struct hstr *s, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        s->oom = 1;
        return;
    }
    if (hstr_room(s, (size_t)n) < 0)
        return;
    va_start(ap, fmt);
    vsnprintf(s->p + s->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->len += (size_t)n;
}

void hstr_json(struct hstr *s, const char *str)
{
    hstr_add(s, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)str; *c; c++) {
        char esc[8];
        if (*c == '"' || *c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*c;
            hstr_add(s, esc, 2);
        } else if (*c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", *c);
            hstr_add(s, esc, 6);
        } else {
            hstr_add(s, (const char *)c, 1);
        }
    }
    hstr_add(s, "\"", 1);
}
