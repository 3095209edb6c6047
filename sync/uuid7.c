/* uuid7.c - RFC 9562 UUIDv7 with the "fixed bit-length dedicated counter"
 * method: ids made by one generator in the same millisecond still sort. */
#include "uuid7.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

int uuid7_make(struct uuid7_gen *g, uint64_t ms, char out[UUID_STR_LEN])
{
    uint8_t b[16];

    if (getrandom(b + 6, 10, 0) != 10)
        return -errno ? -errno : -EIO;
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
    snprintf(out, UUID_STR_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
             b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
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
