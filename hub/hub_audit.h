/* hub_audit.h - a limiter for the security_audit rows of events a peer can
 * repeat at will (a push whose body does not match its digest): at most one
 * row per key (event kind, node, address) per minute, the events left out
 * counted in the key's next row, and at most AUDIT_MAX_PER_MIN such rows a
 * minute in all, so that a flood (from many addresses) cannot fill the
 * table. Keys are kept in a fixed table: the least recently seen is
 * forgotten first, its count carried over to the next row written. Loop
 * thread only. */
#ifndef SIKHNAS_HUB_AUDIT_H
#define SIKHNAS_HUB_AUDIT_H

#include <stdint.h>

#define AUDIT_WINDOW_MS    60000     /* one row per key per window */
#define AUDIT_MAX_PER_MIN  60        /* rows of limited events a minute, all keys */
#define AUDIT_KEYS         256       /* keys remembered */
#define AUDIT_KEY_MAX      128       /* bytes of a key, with the NUL; longer ones are cut */

/* A fixed table, kept by value (struct hub): all zeros is an empty
 * limiter, and it needs no freeing. Its fields are hub_audit.c's. */
struct audit_key {
    char     key[AUDIT_KEY_MAX];      /* "" when free */
    uint64_t last_row;                /* when its last row was written */
    uint64_t seen;                    /* when it was last seen, for forgetting */
    uint64_t left_out;                /* events since its last row */
};

struct audit_limiter {
    struct audit_key keys[AUDIT_KEYS];
    uint64_t window_start;            /* the minute AUDIT_MAX_PER_MIN counts in */
    unsigned rows;                    /* rows written in it */
    uint64_t others;                  /* left-out events not reported with their key */
};

/* An event of key at now_ms (a monotonic clock). Returns 1 when it gets a
 * row: *same is the number of events of this key left out since its last
 * row, *others that of other keys whose count could not be reported with
 * their own row (forgotten, or over the cap); both are then reset. Returns
 * 0 when it is only counted. */
int audit_limit(struct audit_limiter *l, const char *key, uint64_t now_ms, uint64_t *same,
                uint64_t *others);

#endif
