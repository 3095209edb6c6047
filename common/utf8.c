/* utf8.c - UTF-8 checks (see utf8.h), after RFC 3629 §4. */
#include "utf8.h"

#include <string.h>

/* The length of the valid character at p (n bytes left), or 0. */
static size_t char_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t k;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        k = 2;
    else if (c >= 0xe0 && c <= 0xef)
        k = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        k = 4;
    else
        return 0;
    if (k > n)
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    /* overlong 3- and 4-byte forms, surrogates, beyond U+10FFFF */
    if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) ||
        (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
        return 0;
    return k;
}

int utf8_valid(const char *s, size_t n, unsigned flags)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        size_t k = char_len(p + i, n - i);
        if (k == 0 || p[i] == 0)
            return 0;
        if ((flags & UTF8_TEXT) && p[i] < 0x20 && p[i] != '\t' &&
            p[i] != '\n' && p[i] != '\r')
            return 0;
        i += k;
    }
    return 1;
}

size_t utf8_clean(const char *in, size_t n, char *out, size_t cap)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t i = 0, o = 0;

    if (cap == 0)
        return 0;
    while (i < n) {
        size_t k = char_len(p + i, n - i);
        if (k == 0) {
            if (o + 3 >= cap)
                break;
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
            continue;
        }
        if (o + k >= cap)
            break;
        if (p[i] == 0)
            out[o] = ' ';
        else
            memcpy(out + o, p + i, k);
        o += k;
        i += k;
    }
    out[o] = '\0';
    return o;
}
