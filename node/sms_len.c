/* sms_len.c - the length of a text as one SMS (sms_len.h). */
#include "sms_len.h"

#include <string.h>

/* The GSM 03.38 default alphabet's characters beyond printable ASCII, and
 * the printable ASCII it lacks. */
static const unsigned gsm_extra[] = {
    0xA3, 0xA5, 0xE8, 0xE9, 0xF9, 0xEC, 0xF2, 0xC7, 0xD8, 0xF8, 0xC5, 0xE5, 0x394, 0x3A6,
    0x393, 0x39B, 0x3A9, 0x3A0, 0x3A8, 0x3A3, 0x398, 0x39E, 0xC6, 0xE6, 0xDF, 0xC9, 0xA4,
    0xA1, 0xC4, 0xD6, 0xD1, 0xDC, 0xA7, 0xBF, 0xE4, 0xF6, 0xF1, 0xFC, 0xE0,
};

/* 1 septet, 2 (escape + character), or 0 when c is not in GSM-7. */
static int gsm_septets(unsigned c)
{
    if (c == '\n' || c == '\r')
        return 1;
    if (c == '^' || c == '{' || c == '}' || c == '\\' || c == '[' || c == '~' || c == ']' ||
        c == '|' || c == 0x20AC || c == '\f')
        return 2;
    if (c >= 0x20 && c < 0x7F)
        return c == '`' ? 0 : 1;
    for (size_t i = 0; i < sizeof(gsm_extra) / sizeof(gsm_extra[0]); i++)
        if (gsm_extra[i] == c)
            return 1;
    return 0;
}

/* Decodes one UTF-8 character at s into *c; its length in bytes (1 for an
 * invalid byte, *c then 0xFFFD). */
static size_t utf8_next(const unsigned char *s, unsigned *c)
{
    size_t n = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3
             : (s[0] & 0xF8) == 0xF0 ? 4 : 0;

    if (n == 0) {
        *c = 0xFFFD;
        return 1;
    }
    *c = n == 1 ? s[0] : s[0] & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *c = 0xFFFD;
            return 1;
        }
        *c = (*c << 6) | (s[i] & 0x3F);
    }
    return n;
}

size_t sms_units(const char *s, int *ucs2)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t septets = 0, utf16 = 0;
    unsigned c;

    *ucs2 = 0;
    while (*p) {
        int k;
        p += utf8_next(p, &c);
        k = gsm_septets(c);
        if (k == 0)
            *ucs2 = 1;
        septets += (size_t)k;
        utf16 += c > 0xFFFF ? 2 : 1;
    }
    return *ucs2 ? utf16 : septets;
}

int sms_fits(const char *s)
{
    int ucs2;
    size_t n = sms_units(s, &ucs2);

    return n <= (ucs2 ? SMS_UCS2_MAX : SMS_GSM7_MAX);
}

void sms_fit_cut(char *s)
{
    size_t len = strlen(s);

    if (sms_fits(s))
        return;
    if (len > SMS_CUT_FROM) {          /* nothing longer fits: 160 two-byte characters */
        len = SMS_CUT_FROM + 1;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--;
        s[len] = '\0';
    }
    while (len > 0) {
        do
            len--;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80);
        while (len > 0 && s[len - 1] == ' ')
            len--;
        memcpy(s + len, "...", 4);
        if (sms_fits(s))
            return;
    }
}

void sms_clip(char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t chars = 0, len;
    unsigned c;

    if (max == 0)
        return;
    while (*p && chars < max) {
        p += utf8_next(p, &c);
        chars++;
    }
    len = (size_t)((const char *)p - s);
    if (*p && *p != ' ') {              /* inside a word: end at the last blank, if not too early */
        size_t cut = len;
        while (cut > 0 && s[cut - 1] != ' ')
            cut--;
        if (cut > len / 2)
            len = cut;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == ','))
        len--;
    s[len] = '\0';
}
