/* uuid7.c - RFC 9562 UUIDv7 with the "fixed bit-length dedicated counter"
 * method: ids made by one generator in the same millisecond still sort. */
#include "uuid7.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

int uuid7_make(struct uuid7_gen *g, uint64_t ms, char out[UUID_STR_LEN])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[16];

    if (g->pool_left < 10) {                 /* one getrandom() per 25 ids */
        if (getrandom(g->pool, sizeof(g->pool), 0) != (ssize_t)sizeof(g->pool))
            return errno ? -errno : -EIO;
        g->pool_left = sizeof(g->pool);
    }
    memcpy(b + 6, g->pool + sizeof(g->pool) - g->pool_left, 10);
    g->pool_left -= 10;
    if (ms > g->last_ms) {
        g->last_ms = ms;
        g->seq = (uint16_t)(((b[6] << 8) | b[7]) & 0x3ff);  /* random start, room to count */
    } else {
        ms = g->last_ms;               /* never go backwards */
        if (++g->seq > 0xfff) {        /* counter spent: borrow the next millisecond */
            g->last_ms = ++ms;
            g->seq = 0;
        }
    }
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (40 - 8 * i));
    b[6] = (uint8_t)(0x70 | (g->seq >> 8));
    b[7] = (uint8_t)(g->seq & 0xff);
    b[8] = (uint8_t)(0x80 | (b[8] & 0x3f));
    for (int i = 0, k = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[k++] = '-';
        out[k++] = hex[b[i] >> 4];
        out[k++] = hex[b[i] & 15];
    }
    out[36] = '\0';
    return 0;
}

int uuid_valid(const char *s)
{
    if (!s || strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        char ch = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (ch != '-')
                return 0;
        } else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
                     (ch >= 'A' && ch <= 'F'))) {
            return 0;
        }
    }
    return 1;
}
