/* test-admit.c - admission control of push batches (hub/hub_admit.c) with
 * its own clock: the caps on batches admitted and waiting, 429 with a
 * Retry-After that spreads the refused, priority first, a refused node's
 * place kept (tickets), a node's batches kept in order, and a simulated
 * reconnect storm in which no node is starved. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_admit.h"
#include "testlib.h"

#define T0 1000000ull

struct ent {
    struct admit_entry e;
    int started, refused;
    unsigned retry;
};

static void on_start(struct admit_entry *e) { ((struct ent *)e)->started++; }
static void on_refuse(struct admit_entry *e, unsigned retry_s)
{
    ((struct ent *)e)->refused++;
    ((struct ent *)e)->retry = retry_s;
}

static struct ent *ent_new(void)
{
    struct ent *x = calloc(1, sizeof(*x));
    x->e.start = on_start;
    x->e.refuse = on_refuse;
    return x;
}

/* A hub_admit of active_max and queue_max at T0, and n entries in x. */
static struct hub_admit *setup(unsigned active_max, unsigned queue_max, struct ent **x, int n)
{
    struct hub_admit *a = NULL;

    CHECK(admit_new(active_max, queue_max, T0, &a) == 0);
    for (int i = 0; i < n; i++)
        x[i] = ent_new();
    return a;
}

static void teardown(struct hub_admit *a, struct ent **x, int n)
{
    admit_free(a);
    for (int i = 0; i < n; i++)
        free(x[i]);
}

static int enter(struct hub_admit *a, struct ent *x, const char *node, int prio, uint64_t now)
{
    return admit_enter(a, &x->e, node, prio, now, &x->retry);
}

static void caps_and_order(void)
{
    struct ent *x[8];
    struct hub_admit *a = setup(2, 2, x, 8);
    unsigned active, queued;
    uint64_t refused;
    double rate;
    CHECK(enter(a, x[0], "n0", 0, T0) == 1);
    CHECK(enter(a, x[1], "n1", 0, T0) == 1);
    CHECK(enter(a, x[2], "n2", 0, T0 + 1) == 0);
    CHECK(enter(a, x[3], "n3", 0, T0 + 2) == 0);
    /* full: the newest routine batch is refused at once, with a Retry-After */
    CHECK(enter(a, x[4], "n4", 0, T0 + 3) == -EBUSY && x[4]->retry >= 1);
    admit_counts(a, &active, &queued, &refused, &rate);
    CHECK(active == 2 && queued == 2 && refused == 1);
    /* a priority batch pushes the newest routine one out of the queue */
    CHECK(enter(a, x[5], "n5", 1, T0 + 4) == 0);
    CHECK(x[3]->refused == 1 && x[3]->retry >= 1 && !x[2]->refused);
    /* a slot frees: the priority batch goes first, then the oldest */
    admit_leave(a, 0, 100, T0 + 10);
    CHECK(x[5]->started == 1 && !x[2]->started);
    admit_leave(a, 0, 100, T0 + 20);
    CHECK(x[2]->started == 1);
    /* n3 was refused (pushed out) before n6 came: it goes before n6 */
    CHECK(enter(a, x[6], "n6", 0, T0 + 30) == 0);
    CHECK(enter(a, x[7], "n3", 0, T0 + 40) == 0);
    admit_leave(a, 0, 100, T0 + 50);
    CHECK(x[7]->started == 1 && !x[6]->started);
    teardown(a, x, 8);
}

/* a node's second batch never overtakes its first, even with priority */
static void node_order(void)
{
    struct ent *x[4];
    struct hub_admit *a = setup(1, 4, x, 4);
    CHECK(enter(a, x[0], "busy", 0, T0) == 1);
    CHECK(enter(a, x[1], "a", 0, T0 + 1) == 0);
    CHECK(enter(a, x[2], "b", 0, T0 + 2) == 0);
    CHECK(enter(a, x[3], "a", 1, T0 + 3) == 0);     /* a's next, now with a P report */
    admit_leave(a, 0, 100, T0 + 4);
    CHECK(x[1]->started == 1);
    admit_leave(a, 0, 100, T0 + 5);
    CHECK(x[3]->started == 1 && !x[2]->started);    /* then a's P batch, before b */
    teardown(a, x, 4);
}

/* A batch that has waited ADMIT_WAIT_MS is refused, and keeps its place. */
static void wait_cap(void)
{
    struct ent *x[4];
    struct hub_admit *a = setup(1, 4, x, 4);
    CHECK(enter(a, x[0], "busy", 0, T0) == 1);
    CHECK(enter(a, x[1], "old", 0, T0) == 0);
    CHECK(enter(a, x[2], "new", 0, T0 + ADMIT_WAIT_MS) == 0);
    CHECK(!x[1]->refused);
    CHECK(enter(a, x[3], "other", 0, T0 + ADMIT_WAIT_MS + 1) == 0);
    CHECK(x[1]->refused == 1 && x[1]->retry >= 1);     /* waited too long */
    CHECK(!x[2]->refused);
    CHECK(enter(a, x[1], "old", 0, T0 + ADMIT_WAIT_MS + 500) == 0);   /* back */
    admit_leave(a, 0, 100, T0 + ADMIT_WAIT_MS + 600);
    CHECK(x[1]->started == 1 && !x[2]->started);       /* its place kept */
    teardown(a, x, 4);
}

/* Admission by bytes as well as by count (admit_bytes_max): with 8 slots
 * and a bound of 10 MiB, batches of 4 MiB go two at a time; a third waits,
 * those beyond the queue are refused with a Retry-After; each one that
 * ends lets in as many as fit again, in order. One batch larger than the
 * bound goes alone. */
static void bytes_cap(void)
{
    struct ent *x[6];
    struct hub_admit *a = setup(8, 1, x, 6);
    const size_t MiB = 1u << 20;
    unsigned active, queued;
    uint64_t refused;
    double rate;

    admit_bytes_max(a, 10 * MiB);
    for (int i = 0; i < 6; i++)
        x[i]->e.bytes = 4 * MiB;
    x[5]->e.bytes = 12 * MiB;
    CHECK(enter(a, x[0], "n0", 0, T0) == 1);
    CHECK(enter(a, x[1], "n1", 0, T0) == 1);
    CHECK(admit_bytes(a) == 8 * MiB);
    CHECK(enter(a, x[2], "n2", 0, T0 + 1) == 0);                 /* 12 > 10: waits */
    CHECK(enter(a, x[3], "n3", 0, T0 + 2) == -EBUSY && x[3]->retry >= 1);
    admit_counts(a, &active, &queued, &refused, &rate);
    CHECK(active == 2 && queued == 1 && refused == 1);
    /* the schedule counts the slots the bytes leave (2.5), not the 8 */
    CHECK(rate < 2.5 * 1000 / 500 + 0.01);
    admit_leave(a, 4 * MiB, 100, T0 + 10);
    CHECK(x[2]->started == 1 && admit_bytes(a) == 8 * MiB);
    /* admitted again after: the refused one comes back, waits, then goes */
    CHECK(enter(a, x[3], "n3", 0, T0 + 20) == 0);
    admit_leave(a, 4 * MiB, 100, T0 + 30);
    CHECK(x[3]->started == 1 && admit_bytes(a) == 8 * MiB);
    /* larger than the bound: waits until nothing else is admitted, then alone */
    CHECK(enter(a, x[5], "big", 0, T0 + 40) == 0);
    admit_leave(a, 4 * MiB, 100, T0 + 50);
    CHECK(!x[5]->started);
    CHECK(enter(a, x[4], "n4", 0, T0 + 51) == -EBUSY);      /* behind it, queue full */
    admit_leave(a, 4 * MiB, 100, T0 + 60);
    CHECK(x[5]->started == 1 && admit_bytes(a) == 12 * MiB);
    admit_counts(a, &active, &queued, &refused, &rate);
    CHECK(active == 1 && queued == 0);
    admit_leave(a, 12 * MiB, 100, T0 + 70);
    CHECK(admit_bytes(a) == 0);
    teardown(a, x, 6);
}

/* Refusals one after another get later and later return times, about one
 * rate-interval apart, never beyond ADMIT_RETRY_MAX. */
static void spread(void)
{
    struct hub_admit *a;
    struct ent *x = ent_new();
    unsigned first = 0, last = 0, prev = 0;
    int mono = 1;
    char node[16];

    CHECK(admit_new(4, 0, T0, &a) == 0);   /* rate guessed: 4 slots of ADMIT_GUESS_MS, 8 a second */
    for (int i = 0; i < 4; i++)
        CHECK(enter(a, x, "busy", 0, T0) == 1);
    for (int i = 0; i < 800; i++) {
        snprintf(node, sizeof(node), "r%d", i);
        CHECK(enter(a, x, node, 0, T0) == -EBUSY);
        if (i == 0)
            first = x->retry;
        mono &= x->retry >= prev;
        prev = last = x->retry;
    }
    CHECK(mono);
    CHECK(first <= 2);
    CHECK(last == ADMIT_RETRY_MAX);                   /* 800 at 8/s: capped at 60 s */
    admit_free(a);
    free(x);
}

/* The storm: N nodes with B batches each arrive at once; D slots, each
 * batch takes SERVICE ms; a refused node comes back after its Retry-After
 * plus up to half of it again (the node's jitter). Every node must finish
 * within 1.5 times the median node's time, and the counts stay capped. */
#define NMAX 514
static int N = 200, B = 5, D = 4, Q = 4, SERVICE = 50;

struct sim_node {
    struct ent x;
    int done, busy;
    uint64_t due, finish, end_at;
};

static struct sim_node sim[NMAX];
static struct hub_admit *sim_a;
static uint64_t sim_now;

static void sim_start(struct admit_entry *e)
{
    struct sim_node *s = (struct sim_node *)e;
    s->busy = 1;
    s->end_at = sim_now + SERVICE;
}

static void sim_refuse(struct admit_entry *e, unsigned retry_s)
{
    struct sim_node *s = (struct sim_node *)e;
    s->busy = 0;
    s->due = sim_now + retry_s * 1000ull + (uint64_t)(rand() % (retry_s * 500 + 1));
}

static int cmp_u64(const void *p, const void *q)
{
    uint64_t a = *(const uint64_t *)p, b = *(const uint64_t *)q;
    return a < b ? -1 : a > b;
}

static void storm(int n, int b, int d, int q, int service)
{
    uint64_t fin[NMAX];
    int left, max_queued = 0, max_active = 0;
    char name[16];

    CHECK(n <= NMAX);
    N = n, B = b, D = d, Q = q, SERVICE = service;
    left = N;
    memset(sim, 0, sizeof(sim));
    srand(7);
    CHECK(admit_new(D, Q, T0, &sim_a) == 0);
    for (int i = 0; i < N; i++) {
        sim[i].x.e.start = sim_start;
        sim[i].x.e.refuse = sim_refuse;
        sim[i].due = T0 + (uint64_t)(rand() % 1000);    /* all within a second */
    }
    for (sim_now = T0; left > 0 && sim_now < T0 + 3600000; sim_now++) {
        for (int i = 0; i < N; i++) {
            struct sim_node *s = &sim[i];
            unsigned active, queued;
            uint64_t refused;
            double rate;

            snprintf(name, sizeof(name), "node%d", i);
            if (s->busy && s->end_at == sim_now) {
                s->busy = 0;
                if (++s->done == B) {
                    s->finish = sim_now - T0;
                    left--;
                } else {
                    s->due = sim_now;
                }
                admit_leave(sim_a, 0, SERVICE, sim_now);
            }
            if (!s->busy && s->done < B && s->due == sim_now && !s->x.e.queued) {
                int r = admit_enter(sim_a, &s->x.e, name, 0, sim_now, &s->x.retry);
                if (r == 1)
                    sim_start(&s->x.e);
                else if (r < 0)
                    sim_refuse(&s->x.e, s->x.retry);
            }
            admit_counts(sim_a, &active, &queued, &refused, &rate);
            max_queued = (int)queued > max_queued ? (int)queued : max_queued;
            max_active = (int)active > max_active ? (int)active : max_active;
        }
    }
    CHECK(left == 0);
    CHECK(max_active <= D && max_queued <= Q);
    for (int i = 0; i < N; i++)
        fin[i] = sim[i].finish;
    qsort(fin, N, sizeof(fin[0]), cmp_u64);
    printf("# storm: %d nodes x %d batches, %d at once: median node %.1f s, slowest %.1f s "
           "(%.2fx)\n", N, B, D, fin[N / 2] / 1000.0, fin[N - 1] / 1000.0,
           (double)fin[N - 1] / (double)fin[N / 2]);
    CHECK(fin[N - 1] <= fin[N / 2] * 3 / 2);
    admit_free(sim_a);
}

int main(void)
{
    caps_and_order();
    node_order();
    wait_cap();
    bytes_cap();
    spread();
    storm(200, 5, 4, 4, 50);
    storm(514, 4, 8, 32, 360);      /* hub-bench's storm: the hub's defaults, 22 batches/s */
    return t_done();
}
