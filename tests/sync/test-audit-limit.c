/* test-audit-limit.c - the security_audit limiter (hub/hub_audit.c): one row
 * per key a minute with the left-out count in the next one, the cap on all
 * keys, and forgetting the least recently seen key when the table is full. */
#include <stdio.h>

#include "hub_audit.h"
#include "testlib.h"

#define T0 1000000000ull               /* any monotonic start */

int main(void)
{
    static struct audit_limiter limiter;       /* zeros: empty */
    struct audit_limiter *l = &limiter;
    uint64_t same = 99, others = 99;
    char key[64];
    int rows;

    /* one key: the first event gets a row, the next ones in the minute not */
    CHECK(audit_limit(l, "digest|n1|10.0.0.1", T0, &same, &others) == 1);
    CHECK(same == 0 && others == 0);
    for (int i = 1; i <= 5; i++)
        CHECK(audit_limit(l, "digest|n1|10.0.0.1", T0 + (uint64_t)i * 1000, &same, &others)
              == 0);
    /* another address of the same node is another key */
    CHECK(audit_limit(l, "digest|n1|10.0.0.2", T0 + 6000, &same, &others) == 1);
    CHECK(audit_limit(l, "digest|n1|10.0.0.1", T0 + AUDIT_WINDOW_MS - 1, &same, &others) == 0);
    /* a minute after its last row: a row again, saying how many were left out */
    CHECK(audit_limit(l, "digest|n1|10.0.0.1", T0 + AUDIT_WINDOW_MS, &same, &others) == 1);
    CHECK(same == 6 && others == 0);
    CHECK(audit_limit(l, "digest|n1|10.0.0.1", T0 + 2 * AUDIT_WINDOW_MS, &same, &others) == 1);
    CHECK(same == 0);

    /* a flood from many addresses: at most AUDIT_MAX_PER_MIN rows a minute */
    rows = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "digest|n2|10.1.%d.%d", i / 250, i % 250);
        rows += audit_limit(l, key, T0 + 10 * AUDIT_WINDOW_MS + (uint64_t)i, &same, &others);
    }
    CHECK(rows == AUDIT_MAX_PER_MIN);
    /* the next row after the minute reports what the cap and forgetting left out */
    CHECK(audit_limit(l, "digest|n3|10.2.0.1", T0 + 12 * AUDIT_WINDOW_MS, &same, &others) == 1);
    CHECK(same == 0 && others == 1000 - AUDIT_MAX_PER_MIN);
    CHECK(audit_limit(l, "digest|n3|10.2.0.2", T0 + 12 * AUDIT_WINDOW_MS + 1, &same, &others)
          == 1);
    CHECK(others == 0);

    /* more keys than the table holds: each new one still gets its row */
    rows = 0;
    for (int i = 0; i < AUDIT_KEYS + 10; i++) {
        snprintf(key, sizeof(key), "digest|n4|10.3.%d.%d", i / 250, i % 250);
        rows += audit_limit(l, key, T0 + (20 + (uint64_t)i) * AUDIT_WINDOW_MS, &same, &others);
    }
    CHECK(rows == AUDIT_KEYS + 10);
    return t_done();
}
