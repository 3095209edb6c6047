/* hstr.h - a growable string for building answers, SQL and COPY data in
 * the hub. An allocation failure is remembered in oom (the string is then
 * left as it was) so that builders check once, at the end. */
#ifndef SIKHNAS_HSTR_H
#define SIKHNAS_HSTR_H

#include <stddef.h>

struct hstr {
    char  *p;           /* NUL-terminated once anything was added */
    size_t len, cap;
    int    oom;
};

void hstr_add(struct hstr *s, const char *d, size_t n);
void hstr_str(struct hstr *s, const char *str);
void hstr_fmt(struct hstr *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hstr_json(struct hstr *s, const char *str);     /* a quoted, escaped JSON string */

#endif
