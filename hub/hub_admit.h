/* hub_admit.h - admission control of push batches (docs/protocol.md §4.6).
 *
 * The hub decodes and applies at most `active_max` batches at once; up to
 * `queue_max` more wait, undecoded (their compressed body only), in order
 * of (priority, since): a batch whose node holds a priority report
 * (X-Sikhnas-Priority: 1) first, then the node refused longest ago, then
 * arrival. Any other batch is refused at once with 429 and a Retry-After
 * that spreads the refused nodes over the time the hub needs for the
 * batches ahead of them (waiting, and refused nodes with older tickets) at
 * its measured rate of batches a second. A refused node keeps its place: the hub remembers when it was
 * first refused (a ticket, ADMIT_TICKETS of them at most), so on its return
 * it goes before nodes that were refused later or never; a queued batch
 * that a better one pushes out of a full queue, or that has waited
 * ADMIT_WAIT_MS (a node should not hold its connection long), is refused
 * the same way, keeping its place. The
 * rate is the number of slots over a batch's time from admission to its
 * end, smoothed (ADMIT_GUESS_MS until the first one ends). A
 * node's batches never overtake each other in the queue. Memory: decoded
 * batches are bounded by active_max and by bytes_max (admit_bytes_max():
 * the inflated bytes of the batches admitted at once; one batch is always
 * admitted when none is, however large: BATCH_MAX_PLAIN bounds it), waiting
 * ones by queue_max (and the HTTP front's cap on bodies held), the tickets
 * by ADMIT_TICKETS; not by the number of nodes connected.
 *
 * Loop thread only; every function takes the loop's clock in ms. */
#ifndef SIKHNAS_HUB_ADMIT_H
#define SIKHNAS_HUB_ADMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#define ADMIT_TICKETS    8192       /* refused nodes remembered */
#define ADMIT_TICKET_MS  600000     /* a ticket older than this is forgotten */
#define ADMIT_RETRY_MAX  60         /* the longest Retry-After, seconds */
#define ADMIT_WAIT_MS    2000       /* the longest a batch waits; then 429 */

struct hub_admit;

/* One batch asking to be admitted; embedded in its job. */
struct admit_entry {
    TAILQ_ENTRY(admit_entry) link;  /* the wait queue */
    char     node[40];
    uint64_t key;                   /* lower goes first: priority bit, then since ms */
    uint64_t queued_ms;
    size_t   bytes;                 /* set by the caller: its inflated size */
    int      queued;
    /* called when a queued entry is admitted (start) or pushed out of the
     * queue by a better one (refuse, with the Retry-After in seconds) */
    void   (*start)(struct admit_entry *e);
    void   (*refuse)(struct admit_entry *e, unsigned retry_s);
};

/* active_max >= 1, queue_max >= 0. Returns 0 and *ret, or -ENOMEM. */
int  admit_new(unsigned active_max, unsigned queue_max, uint64_t now_ms,
               struct hub_admit **ret);
void admit_free(struct hub_admit *a);
/* Bounds the sum of the admitted entries' bytes (0: no bound, the start). */
void admit_bytes_max(struct hub_admit *a, size_t bytes_max);

/* Asks admission for e (its node and whether it holds a priority report).
 * Returns 1: admitted now (the caller starts it; admit_leave() when it
 * ends); 0: queued (e->start or e->refuse is called later; the callbacks
 * may be called from admit_enter() itself for another entry pushed out);
 * or -EBUSY: refused, *retry_s says when to come back. */
int  admit_enter(struct hub_admit *a, struct admit_entry *e, const char *node, int priority,
                 uint64_t now_ms, unsigned *retry_s);
/* An admitted batch of bytes (its entry's) has ended (answered, whatever
 * the answer) after service_ms since its admission (< 0: not to be
 * measured): admits the next ones waiting that fit, if any (calls their
 * start). */
void admit_leave(struct hub_admit *a, size_t bytes, double service_ms, uint64_t now_ms);

/* For the metrics: batches admitted now, waiting, refused in all, and the
 * batches a second the hub finishes (the schedule's estimate). */
size_t admit_bytes(const struct hub_admit *a);     /* the admitted batches' bytes */
void admit_counts(const struct hub_admit *a, unsigned *active, unsigned *queued,
                  uint64_t *refused, double *rate);

#endif
