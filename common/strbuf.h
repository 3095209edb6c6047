/* strbuf.h - a growable string, for answers, SQL, COPY data, batches and
 * anything else built piece by piece. Every append returns 0 or -errno, and
 * the first failure is also remembered in err (the string is then left as
 * it was), so a builder may append freely and check once, at the end. An
 * optional cap (max) turns growth past it into -EMSGSIZE: data from a peer
 * never grows a buffer without bound. */
#ifndef SIKHNAS_STRBUF_H
#define SIKHNAS_STRBUF_H

#include <stddef.h>

struct strbuf {
    char  *p;           /* NUL-terminated once anything was added; NULL before */
    size_t len, cap;
    size_t max;         /* the largest len allowed; 0: no cap */
    int    err;         /* the first failure: -ENOMEM or -EMSGSIZE; 0 while fine */
};

/* Make room for n more bytes (and the NUL). */
int  strbuf_reserve(struct strbuf *b, size_t n);
int  strbuf_add(struct strbuf *b, const void *d, size_t n);
int  strbuf_str(struct strbuf *b, const char *s);
int  strbuf_fmt(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A quoted JSON string of the bytes s[0..n): '"', '\\' and control
 * characters escaped, other bytes as they are. */
int  strbuf_json(struct strbuf *b, const char *s, size_t n);
int  strbuf_json_str(struct strbuf *b, const char *s);      /* of a C string */
/* Empties b, keeping its memory (and its cap); err is cleared. */
void strbuf_reset(struct strbuf *b);
/* Frees the memory; b is empty (max kept). */
void strbuf_free(struct strbuf *b);
/* Hands the string to the caller (malloc'd; "" when empty), or NULL when
 * b failed or memory ran out; b is empty afterwards. */
char *strbuf_take(struct strbuf *b);

#endif
