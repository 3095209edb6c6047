/* sync_client.h - the node's sync client (docs/protocol.md): builds push batches
 * from the outbox, applies the hub's acks, pulls and applies the change feed.
 * It only prepares and finishes HTTP transfers on a libcurl easy handle; who
 * runs the transfer (curl_easy_perform in `sikhnas-node sync`, a curl multi
 * handle on the daemon's libuv loop) is the caller's business.
 *
 * A round is: push until the outbox has nothing queued, then pull until the
 * hub says there is no more. Every step commits its effect in one SQLite
 * transaction, so a crash or a cut between any two steps loses nothing and,
 * with the hub's high-water mark, applies nothing twice. */
#ifndef SIKHNAS_SYNC_CLIENT_H
#define SIKHNAS_SYNC_CLIENT_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "sync_policy.h"

#define SYNC_BATCH_FLOOR     (4u << 10)    /* wire bytes: never smaller than this */
#define SYNC_BATCH_CEIL      (2u << 20)    /* half the hub's 4 MiB wire limit */
#define SYNC_BATCH_DEFAULT   (512u << 10)
#define SYNC_PUSH_MAX_ROWS   10000         /* the hub's PUSH_MAX_ROWS */
#define SYNC_PULL_LIMIT      2000

struct sync_client;

struct sync_client_opts {
    const char *hub_url;          /* "https://host:port", no path; required */
    const char *ca_file;          /* PEM file of CAs to trust for the hub; NULL: system */
    const char *cert_file;        /* the node's client certificate (nodecert.h); NULL: none */
    const char *key_file;         /* its key */
    unsigned batch_bytes;         /* initial wire budget of a push (0: SYNC_BATCH_DEFAULT) */
    unsigned timeout_s;           /* one request, end to end (0: 120) */
    unsigned max_rows;            /* rows per push (0: SYNC_PUSH_MAX_ROWS) */
    uint64_t daily_budget;        /* link bytes a day, up and down (0: no limit) */
    const char *tcp_congestion;   /* TCP_CONGESTION of the sockets (NULL, "": the system's) */
    const char *tls_session_file; /* the TLS session kept between runs (nodecert.h); NULL:
                                     none, each run makes a full handshake */
};

/* What a client has done since it was made (or since the counters were read). */
struct sync_stats {
    long long rows_sent;          /* rows in acknowledged batches */
    long long rows_refused;
    long long rows_found_acked;   /* rows an earlier, interrupted run had delivered: the
                                     hub's acked_seq covered them, so they were not re-sent */
    long long rows_pulled;        /* rows applied from the feed */
    long long batches;
    long long promotions;         /* times priority entries were moved ahead of a backlog */
    long long requests;
    long long bytes_up;           /* request line, headers and bodies */
    long long bytes_down;         /* status line, headers and bodies */
    long long bytes_lost;         /* bytes up of pushes that got no answer and were sent
                                     again (what the hub kept of a cut batch is not) */
    long long bytes_kept;         /* bytes of cut batches the hub kept: not sent again */
    long long resumes;            /* cut batches resumed within their body */
    long long push_bytes_up;      /* bytes up of the push requests (bytes_up's share) */
    long long push_ms;            /* the push phases: from the start of a round's first push
                                     request (its connection's handshakes included) to its
                                     last push answer, summed over the rounds */
    long long connects;           /* new connections (TCP and TLS handshakes) */
    long long connect_ms;         /* their time to the first request byte */
    long long tls_full;           /* TLS handshakes in full, with certificates */
    long long tls_resumed;        /* and resumed from the session kept (sync_tls.c) */
};

/* Makes a client for the open store s (which it borrows). The options are
 * copied. Returns 0 or -errno (-EINVAL: bad URL, logged). */
int  sync_client_new(struct store *s, const struct sync_client_opts *o, struct sync_client **ret);
void sync_client_free(struct sync_client *c);      /* NULL is a no-op */

/* One round at a time per store, across processes (the daemon and a
 * `sikhnas-node sync` by hand): an exclusive lock on DB-sync. With wait,
 * blocks until the other round ends (saying so once); without, returns
 * -EALREADY at once. A store whose directory is read-only is not locked.
 * Returns 0 or -errno. */
int  sync_client_lock(struct sync_client *c, int wait);
void sync_client_unlock(struct sync_client *c);

/* Starts a new round: push first, then pull. When two thirds of the client
 * certificate's lifetime have passed, the round first renews it (POST
 * /v1/renew over the current mutual-TLS channel); a failed renewal is logged
 * and the round goes on, so it is tried again next round. */
void sync_client_begin(struct sync_client *c);

/* Sets up the next request of the round on easy (which the caller owns and
 * may reuse, keeping the connection); requests still in flight are
 * forgotten. A round's first batch has 1,000 rows, each next one twice as
 * many, up to max_rows. Returns 1 when a transfer is ready to run, 0 when
 * the round is complete (everything pushed, the feed caught up), or -errno
 * (the message is in sync_client_error()). */
int  sync_client_next(struct sync_client *c, CURL *easy);

/* While the push that sync_client_next() set up is in flight, sets up the
 * batch that follows it on another easy handle: it names the first one's
 * last_seq as its base_seq, and the hub applies it only after the first, so
 * the hub decodes one batch while the database applies the other. Start it
 * once the first request is sent (the hub orders batches as they arrive).
 * Returns 1 when a transfer is ready to run, 0 when there is nothing to send
 * ahead (not pushing, nothing queued beyond the first, two in flight), or
 * -errno. Not on a link slower than 512 kbit/s (as measured): there one
 * batch at a time is faster. */
int  sync_client_next_ahead(struct sync_client *c, CURL *easy);

/* Finishes a transfer that sync_client_next() or sync_client_next_ahead()
 * set up, oldest first, given its libcurl result: checks and applies the
 * answer in one transaction. When it fails, a request still in flight is
 * forgotten (its answer must not be applied; the caller drops its transfer)
 * and its rows are sent again. Returns 0, or -errno with sync_client_error()
 * set and recorded in the store's meta:
 *   -ETIMEDOUT   the request timed out (the push budget has been halved)
 *   -EAGAIN      the hub is busy (429) or unavailable (503); see
 *                sync_client_retry_after()
 *   -EMSGSIZE    the hub found the batch too large (budget halved)
 *   -ECONNREFUSED, -ECONNRESET, -EHOSTUNREACH, -EIO  transport failures
 *   -EPROTO      the hub's answer broke the protocol
 *   -EACCES      the hub refused our identity (401/403) or TLS verification failed
 *   -EBADMSG     the hub refused the request as malformed (400)
 *   -ESTALE      a batch sent ahead reached the hub before the one it follows
 *   -EDQUOT      (from sync_client_next) the daily budget is used up and no
 *                priority entry is queued: not a failure, the round waits
 *   -EINVAL      easy is not the oldest request in flight
 * Every failure is safe to retry: nothing was changed locally. */
int  sync_client_done(struct sync_client *c, CURL *easy, CURLcode res);

/* sync_retry_delay_ms() and sync_find_setting(): sync_policy.h (the daemon
 * uses them too). */

/* Sets easy's certificate checks to the trusted clock (common/hlc.h) while
 * the system clock is wrong (OpenSSL's libcurl: a certificate that expired
 * before that time is refused, one that begins after it taken), else to
 * the system's. Every TLS connection to the hub is set up with it. */
void sync_tls_clock(CURL *easy);

/* Records a completed round (meta last_sync_ok) in its own transaction; the
 * last error, if any, becomes the previous one (previous_error, _at). */
int  sync_client_round_ok(struct sync_client *c);

/* Writes the last error to meta (last_error, last_error_at). */
void sync_client_record_error(struct sync_client *c);

const char *sync_client_error(const struct sync_client *c);
/* Seconds the hub asked us to wait (Retry-After on a 429 or 503), or 0. */
unsigned sync_client_retry_after(const struct sync_client *c);
/* Queued outbox entries (state 0) left, or -errno. */
long long sync_client_queued(struct sync_client *c);
const struct sync_stats *sync_client_stats(const struct sync_client *c);
/* The current push budget in wire bytes. */
unsigned sync_client_budget(const struct sync_client *c);
/* 1 while the round is in its pull phase. */
int sync_client_pulling(const struct sync_client *c);
/* 1 when the last pull applied reference data (areas, code lists). */
int sync_client_refdata_changed(struct sync_client *c);

/* For tests and fuzzing: applies body as the hub's 200 answer to a push of
 * a batch up to last_seq (pull = 0) or to a pull (pull = 1), as sent with
 * Content-Encoding enc (NULL: identity). Returns what sync_client_done()
 * would for such an answer. */
int sync_client_apply_answer(struct sync_client *c, int pull, const void *body, size_t len,
                             const char *enc, int64_t last_seq);

#endif
