/* testlib.h - a few macros for unit tests that speak TAP to `meson test`
 * (protocol: 'tap'): every CHECK is one numbered test point, and a failed
 * one prints the expression, the file and the line. */
#ifndef SIKHNAS_TESTLIB_H
#define SIKHNAS_TESTLIB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_count, t_failed;

#define CHECK(expr) do { \
    t_count++; \
    if (expr) { \
        printf("ok %d - %s\n", t_count, #expr); \
    } else { \
        t_failed++; \
        printf("not ok %d - %s (%s:%d)\n", t_count, #expr, __FILE__, __LINE__); \
    } \
} while (0)

#define CHECK_STR(a, b) do { \
    const char *a_ = (a), *b_ = (b); \
    t_count++; \
    if (a_ && b_ && strcmp(a_, b_) == 0) { \
        printf("ok %d - %s == \"%s\"\n", t_count, #a, b_); \
    } else { \
        t_failed++; \
        printf("not ok %d - %s: got \"%s\", want \"%s\" (%s:%d)\n", t_count, #a, \
               a_ ? a_ : "(null)", b_ ? b_ : "(null)", __FILE__, __LINE__); \
    } \
} while (0)

static inline int t_done(void)
{
    printf("1..%d\n", t_count);
    return t_failed ? 1 : 0;
}

#endif
