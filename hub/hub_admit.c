/* hub_admit.c - admission control of push batches: see hub_admit.h. */
#include "hub_admit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRIO_BIT  (1ull << 62)      /* set on a batch without a priority report */
#define PROBE     32                /* ticket slots looked at for one node */
#define RATE_MIN  0.5               /* batches a second the schedule assumes at least */
#define ADMIT_GUESS_MS 500.0        /* a batch's time until one is measured */
#define ADMIT_LATE_MS  2000         /* a refused node's allowance beyond its jitter */

struct ticket {
    char     node[40];
    uint64_t since_ms;              /* first refused; 0: free */
    uint64_t expect_ms;             /* expected back by then (Retry-After and jitter) */
};

struct hub_admit {
    unsigned active, active_max, queue_max, nqueued;
    size_t   bytes, bytes_max;      /* of the admitted batches; 0: no bound */
    TAILQ_HEAD(admit_entry_q, admit_entry) queue;
    uint64_t refused;
    double   service_ms;            /* admission to end of a batch, smoothed */
    double   batch_bytes;           /* an admitted batch's bytes, smoothed */
    struct ticket *tickets;
};

int admit_new(unsigned active_max, unsigned queue_max, uint64_t now_ms, struct hub_admit **ret)
{
    struct hub_admit *a = calloc(1, sizeof(*a));

    if (!a || !(a->tickets = calloc(ADMIT_TICKETS, sizeof(*a->tickets)))) {
        free(a);
        return -ENOMEM;
    }
    a->active_max = active_max ? active_max : 1;
    a->queue_max = queue_max;
    a->service_ms = ADMIT_GUESS_MS;
    TAILQ_INIT(&a->queue);
    *ret = a;
    return 0;
}

void admit_free(struct hub_admit *a)
{
    if (!a)
        return;
    free(a->tickets);
    free(a);
}

void admit_bytes_max(struct hub_admit *a, size_t bytes_max)
{
    a->bytes_max = bytes_max;
}

size_t admit_bytes(const struct hub_admit *a)
{
    return a->bytes;
}

/* Whether e may be admitted now, by count and by bytes (one batch always
 * when none is admitted, so that a batch larger than the bound still goes). */
static int fits(const struct hub_admit *a, const struct admit_entry *e)
{
    if (a->active >= a->active_max)
        return 0;
    return a->active == 0 || !a->bytes_max || e->bytes <= a->bytes_max - a->bytes;
}

static void take(struct hub_admit *a, const struct admit_entry *e)
{
    a->active++;
    a->bytes += e->bytes;
    a->batch_bytes = a->batch_bytes > 0 ? 0.8 * a->batch_bytes + 0.2 * (double)e->bytes
                                        : (double)e->bytes;
}

/* ------------------------------------------------------------ tickets */

static size_t ticket_hash(const char *node)
{
    size_t h = 5381;

    for (const char *s = node; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h;
}

/* node's ticket, or NULL; forgets expired ones on the way */
static struct ticket *ticket_find(struct hub_admit *a, const char *node, uint64_t now_ms)
{
    size_t h = ticket_hash(node);

    for (int i = 0; i < PROBE; i++) {
        struct ticket *t = &a->tickets[(h + (size_t)i) & (ADMIT_TICKETS - 1)];
        if (t->since_ms && now_ms - t->since_ms > ADMIT_TICKET_MS)
            t->since_ms = 0;
        if (t->since_ms && strcmp(t->node, node) == 0)
            return t;
    }
    return NULL;
}

/* Gives node a ticket from since_ms unless it has one (or every slot it
 * may use is taken). */
static void ticket_give(struct hub_admit *a, const char *node, uint64_t since_ms,
                        uint64_t now_ms)
{
    size_t h = ticket_hash(node);

    if (ticket_find(a, node, now_ms))
        return;
    for (int i = 0; i < PROBE; i++) {
        struct ticket *t = &a->tickets[(h + (size_t)i) & (ADMIT_TICKETS - 1)];
        if (!t->since_ms) {
            snprintf(t->node, sizeof(t->node), "%s", node);
            t->since_ms = since_ms ? since_ms : 1;
            return;
        }
    }
}

static void ticket_drop(struct hub_admit *a, const char *node, uint64_t now_ms)
{
    struct ticket *t = ticket_find(a, node, now_ms);

    if (t)
        t->since_ms = 0;
}

/* ------------------------------------------------------------ the schedule */

/* The batches a second the hub finishes when every slot is busy: as many
 * slots as the bound on bytes leaves for batches of the usual size. */
static double pace(const struct hub_admit *a)
{
    double slots = a->active_max;
    double r;

    if (a->bytes_max && a->batch_bytes > 0 && (double)a->bytes_max / a->batch_bytes < slots)
        slots = (double)a->bytes_max / a->batch_bytes;
    if (slots < 1)
        slots = 1;
    r = slots * 1000.0 / (a->service_ms > 1 ? a->service_ms : 1);

    return r > RATE_MIN ? r : RATE_MIN;
}

/* Refuses one batch of node, which has had its place since since_ms: a
 * ticket, and a return time after the batches waiting and the refused
 * nodes with older tickets that are still expected back (a node that did
 * not come back when told is not waited for), at the rate measured now
 * (so a wrong guess at the start corrects itself). The node adds up to
 * half of Retry-After as jitter, a quarter on average; the hub asks for a
 * third less, so that nodes come back a little early: a node early waits
 * in the queue (at most ADMIT_WAIT_MS) with its place, one late leaves the
 * database idle. */
static unsigned refuse(struct hub_admit *a, const char *node, uint64_t since_ms,
                       uint64_t now_ms)
{
    struct ticket *mine;
    unsigned ahead = a->nqueued, wait;
    double wait_s;

    a->refused++;
    ticket_give(a, node, since_ms, now_ms);
    mine = ticket_find(a, node, now_ms);
    for (size_t i = 0; i < ADMIT_TICKETS; i++) {
        const struct ticket *t = &a->tickets[i];
        if (t->since_ms && t != mine && now_ms <= t->expect_ms &&
            (!mine || t->since_ms <= mine->since_ms))
            ahead++;
    }
    wait_s = (ahead + 1) / pace(a) / 1.5;
    if (wait_s > ADMIT_RETRY_MAX)
        wait_s = ADMIT_RETRY_MAX;
    wait = wait_s < 1 ? 1 : (unsigned)(wait_s + 0.5);
    if (mine)
        mine->expect_ms = now_ms + wait * 1500ull + ADMIT_LATE_MS;
    return wait;
}

/* ------------------------------------------------------------ entering */

/* Refuses the batches that have waited longer than ADMIT_WAIT_MS: a node
 * should not hold its connection open for long; it keeps its place. */
static void expire(struct hub_admit *a, uint64_t now_ms)
{
    struct admit_entry *e, *next;

    for (e = TAILQ_FIRST(&a->queue); e; e = next) {
        next = TAILQ_NEXT(e, link);
        if (now_ms - e->queued_ms <= ADMIT_WAIT_MS)
            continue;
        TAILQ_REMOVE(&a->queue, e, link);
        e->queued = 0;
        a->nqueued--;
        e->refuse(e, refuse(a, e->node, e->key & ~PRIO_BIT, now_ms));
    }
}

/* Puts e in the queue by key, never before a batch of its own node. */
static void enqueue(struct hub_admit *a, struct admit_entry *e)
{
    struct admit_entry *x, *after = NULL;

    TAILQ_FOREACH(x, &a->queue, link)
        if (strcmp(x->node, e->node) == 0)
            after = x;
    x = after ? TAILQ_NEXT(after, link) : TAILQ_FIRST(&a->queue);
    while (x && x->key <= e->key)
        x = TAILQ_NEXT(x, link);
    if (x)
        TAILQ_INSERT_BEFORE(x, e, link);
    else
        TAILQ_INSERT_TAIL(&a->queue, e, link);
    e->queued = 1;
    a->nqueued++;
}

int admit_enter(struct hub_admit *a, struct admit_entry *e, const char *node, int priority,
                uint64_t now_ms, unsigned *retry_s)
{
    struct ticket *t;
    struct admit_entry *worst;

    expire(a, now_ms);
    snprintf(e->node, sizeof(e->node), "%s", node);
    t = ticket_find(a, node, now_ms);
    e->key = (priority ? 0 : PRIO_BIT) | (t ? t->since_ms : now_ms);
    e->queued_ms = now_ms;
    if (a->nqueued == 0 && fits(a, e)) {
        take(a, e);
        if (t)
            t->since_ms = 0;
        return 1;
    }
    enqueue(a, e);
    if (a->nqueued <= a->queue_max)
        return 0;
    worst = TAILQ_LAST(&a->queue, admit_entry_q);   /* the queue is full: one goes */
    TAILQ_REMOVE(&a->queue, worst, link);
    worst->queued = 0;
    a->nqueued--;
    if (worst == e) {
        *retry_s = refuse(a, node, e->key & ~PRIO_BIT, now_ms);
        return -EBUSY;
    }
    worst->refuse(worst, refuse(a, worst->node, worst->key & ~PRIO_BIT, now_ms));
    return 0;
}

void admit_leave(struct hub_admit *a, size_t bytes, double service_ms, uint64_t now_ms)
{
    struct admit_entry *e;

    if (a->active > 0)
        a->active--;
    a->bytes -= bytes < a->bytes ? bytes : a->bytes;
    if (service_ms >= 0)
        a->service_ms = 0.8 * a->service_ms + 0.2 * service_ms;
    while ((e = TAILQ_FIRST(&a->queue)) && fits(a, e)) {   /* in order: none overtakes */
        TAILQ_REMOVE(&a->queue, e, link);
        e->queued = 0;
        a->nqueued--;
        take(a, e);
        ticket_drop(a, e->node, now_ms);
        e->start(e);
    }
    expire(a, now_ms);
}

void admit_counts(const struct hub_admit *a, unsigned *active, unsigned *queued,
                  uint64_t *refused, double *rate)
{
    *active = a->active;
    *queued = a->nqueued;
    *refused = a->refused;
    *rate = pace(a);
}
