/* test-clock.c - the hybrid logical clock and UUIDv7 ids. */
#include <errno.h>

#include "hlc.h"
#include "testlib.h"
#include "uuid7.h"

static void test_hlc(void)
{
    struct hlc c = {0};
    uint64_t a, b, d;

    a = hlc_tick(&c, 1000);
    CHECK(HLC_MS(a) == 1000 && (a & 0xffff) == 0);
    b = hlc_tick(&c, 1000);                  /* same millisecond: counter */
    CHECK(b == a + 1);
    d = hlc_tick(&c, 999);                   /* wall clock went back: still forward */
    CHECK(d > b);
    CHECK(hlc_tick(&c, 2000) == HLC_MAKE(2000, 0));

    /* a board that booted in 1970 takes the hub's time and keeps ordering */
    struct hlc board = {0};
    uint64_t before = hlc_tick(&board, 5);
    CHECK(hlc_observe(&board, HLC_MAKE(1790000000000ull, 7), 6, 0) == 0);
    uint64_t after = hlc_tick(&board, 7);
    CHECK(after > HLC_MAKE(1790000000000ull, 7) && after > before);

    /* the hub refuses to be dragged into the future */
    struct hlc hub = {0};
    hlc_tick(&hub, 1000000);
    CHECK(hlc_observe(&hub, HLC_MAKE(1000000 + 600000, 0), 1000000, 300000) == -ERANGE);
    CHECK(HLC_MS(hub.last) == 1000000);
    CHECK(hlc_observe(&hub, HLC_MAKE(1000000 + 1000, 3), 1000000, 300000) == 0);
    CHECK(hub.last == HLC_MAKE(1001000, 3));

    /* counter overflow still moves forward */
    struct hlc o = { .last = HLC_MAKE(50, 0xffff) };
    CHECK(hlc_tick(&o, 50) == HLC_MAKE(51, 0));
}

static void test_uuid(void)
{
    struct uuid7_gen g = {0};
    char a[UUID_STR_LEN], b[UUID_STR_LEN], prev[UUID_STR_LEN];
    int ordered = 1;

    CHECK(uuid7_make(&g, 1790000000000ull, a) == 0);
    CHECK(uuid_valid(a));
    CHECK(a[14] == '7');                              /* version 7 */
    CHECK(strchr("89ab", a[19]) != NULL);             /* RFC 9562 variant */
    CHECK(strncmp(a, "01a0c450-6c00", 13) == 0);     /* 1790000000000 ms = 0x01a0c4506c00 */
    /* many ids in one millisecond, then a clock step back: still sorted */
    memcpy(prev, a, sizeof(prev));
    for (int i = 0; i < 10000; i++) {
        uuid7_make(&g, i == 5000 ? 1789999999000ull : 1790000000000ull, b);
        if (strcmp(b, prev) <= 0)
            ordered = 0;
        memcpy(prev, b, sizeof(prev));
    }
    CHECK(ordered);
    CHECK(!uuid_valid("01a0c5-not-a-uuid"));
    CHECK(!uuid_valid("01a0c5c2-6c1e-7a3b-9b1e-1c2d3e4f5a6g"));
    CHECK(uuid_valid("01A0C5C2-6C1E-7A3B-9B1E-1C2D3E4F5A6B"));
}

int main(void)
{
    test_hlc();
    test_uuid();
    return t_done();
}
