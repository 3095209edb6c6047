/* test-throttle.c - the failed-login throttle (common/throttle.c) in TAP, on
 * a clock of our own: pauses per (phone, address) and per address, their
 * end, a success, and that the table stays bounded (a full table gives up
 * its stalest entries, paused ones last). */
#include <stdio.h>
#include <string.h>

#include "throttle.h"
#include "../unit/testlib.h"

#define VET "+6281211112222"
#define A   "127.0.0.2"
#define B   "127.0.0.3"

static void fail_n(struct throttle *t, const char *phone, const char *addr, int n, int64_t now)
{
    for (int i = 0; i < n; i++)
        throttle_failed(t, phone, addr, now);
}

static void test_pair_and_address(void)
{
    struct throttle *t = NULL;
    int64_t now = 1000;

    CHECK(throttle_new(&t) == 0);
    fail_n(t, VET, A, THROTTLE_PAIR_MAX - 1, now);
    CHECK(throttle_wait(t, VET, A, now) == 0);
    CHECK(throttle_failed(t, VET, A, now) == 1);                  /* this one paused it */
    CHECK(throttle_wait(t, VET, A, now) == THROTTLE_PAUSE_S);
    CHECK(throttle_wait(t, VET, A, now + 100) == THROTTLE_PAUSE_S - 100);
    CHECK(throttle_wait(t, VET, B, now) == 0);                    /* the vet elsewhere */
    CHECK(throttle_wait(t, "+6281233334444", A, now) == 0);       /* another phone at A */
    CHECK(throttle_wait(t, VET, A, now + THROTTLE_PAUSE_S) == 0); /* over */
    CHECK(throttle_failed(t, VET, A, now + THROTTLE_PAUSE_S) == 0);  /* counts afresh */

    /* failures spread beyond the window do not add up */
    fail_n(t, VET, B, THROTTLE_PAIR_MAX - 1, now);
    CHECK(throttle_failed(t, VET, B, now + THROTTLE_WINDOW_S) == 0);
    CHECK(throttle_wait(t, VET, B, now + THROTTLE_WINDOW_S) == 0);

    /* a success forgets the pair, not the address */
    fail_n(t, "0812", "10.0.0.9", THROTTLE_PAIR_MAX - 1, now);
    throttle_ok(t, "0812", "10.0.0.9");
    CHECK(throttle_failed(t, "0812", "10.0.0.9", now) == 0);

    /* many phones from one address pause the address */
    for (int i = 0; i < THROTTLE_ADDR_MAX - 1; i++) {
        char phone[24];
        snprintf(phone, sizeof(phone), "+62812%08d", i);
        CHECK(throttle_failed(t, phone, "10.0.0.7", now) == 0);
    }
    CHECK(throttle_failed(t, "+6289999", "10.0.0.7", now) == 1);
    CHECK(throttle_wait(t, VET, "10.0.0.7", now) == THROTTLE_PAUSE_S);
    throttle_ok(t, VET, "10.0.0.7");
    CHECK(throttle_wait(t, VET, "10.0.0.7", now) == THROTTLE_PAUSE_S);
    throttle_free(t);
}

static void test_long_phone_keeps_the_address(void)
{
    struct throttle *t = NULL;
    char phone[300];

    CHECK(throttle_new(&t) == 0);
    memset(phone, '9', sizeof(phone) - 1);
    phone[sizeof(phone) - 1] = '\0';
    fail_n(t, phone, A, THROTTLE_PAIR_MAX, 5);
    CHECK(throttle_wait(t, phone, A, 5) > 0);
    CHECK(throttle_wait(t, phone, B, 5) == 0);
    throttle_free(t);
}

static void test_bounded(void)
{
    struct throttle *t = NULL;
    char addr[32];
    int64_t now = 50;

    CHECK(throttle_new(&t) == 0);
    fail_n(t, VET, A, THROTTLE_PAIR_MAX, now);                    /* paused: kept longest */
    /* far more keys than slots, each from its own address (2 entries each) */
    for (int i = 0; i < 4 * THROTTLE_SLOTS; i++) {
        snprintf(addr, sizeof(addr), "10.1.%d.%d", i / 250, i % 250);
        throttle_failed(t, VET, addr, now + 1 + i / 100);
    }
    CHECK(throttle_wait(t, VET, A, now + 100) > 0);               /* not evicted */
    snprintf(addr, sizeof(addr), "10.1.%d.%d", (4 * THROTTLE_SLOTS - 1) / 250,
             (4 * THROTTLE_SLOTS - 1) % 250);
    fail_n(t, VET, addr, THROTTLE_PAIR_MAX - 1, now + 100);         /* the newest is there */
    CHECK(throttle_wait(t, VET, addr, now + 100) > 0);
    throttle_free(t);
    throttle_free(NULL);
}

int main(void)
{
    test_pair_and_address();
    test_long_phone_keeps_the_address();
    test_bounded();
    return t_done();
}
