/* utf8.h - the one UTF-8 check, and the one clean-up for text that arrives
 * in whatever state (SMS, files): what every program means by "valid". */
#ifndef SIKHNAS_UTF8_H
#define SIKHNAS_UTF8_H

#include <stddef.h>

#define UTF8_TEXT 1u   /* also refuse control characters but tab, newline, return */

/* 1 when s[0..n) is valid UTF-8 (shortest forms only, no surrogates,
 * nothing above U+10FFFF) without a NUL, and with UTF8_TEXT without other
 * control characters; else 0. */
int utf8_valid(const char *s, size_t n, unsigned flags);

/* Copies in[0..n) into out (cap bytes, NUL-terminated) as valid UTF-8: each
 * byte that does not start a valid character becomes U+FFFD, a NUL becomes
 * a blank, and the copy is cut at a character boundary when out is full.
 * Returns the bytes written. */
size_t utf8_clean(const char *in, size_t n, char *out, size_t cap);

#endif
