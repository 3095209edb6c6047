/* uuid7.h - time-ordered ids (RFC 9562 UUIDv7) made where a row is born.
 * Time-ordered keys keep SQLite and PostgreSQL B-tree inserts local. */
#ifndef SIKHNAS_UUID7_H
#define SIKHNAS_UUID7_H

#include <stdint.h>

#define UUID_STR_LEN 37   /* 36 characters and the NUL */

struct uuid7_gen {
    uint64_t last_ms;
    uint16_t seq;         /* 12-bit counter within one millisecond (rand_a) */
    uint8_t pool[250];    /* randomness fetched ahead, used 10 bytes an id */
    uint16_t pool_left;
};

/* Writes a new lower-case UUIDv7 for time ms (from the HLC, so ids stay in
 * order when the wall clock is wrong) to out. Returns 0 or -errno when the
 * system has no randomness to give. */
int uuid7_make(struct uuid7_gen *g, uint64_t ms, char out[UUID_STR_LEN]);

/* 1 when s is a canonical lower- or upper-case UUID of any version. */
int uuid_valid(const char *s);

#endif
