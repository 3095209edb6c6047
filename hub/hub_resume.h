/* hub_resume.h - resuming a push batch within its body (docs/protocol.md,
 * "Resuming within a batch").
 *
 * A node that saw X-Sikhnas-Resume: 1 on an answer sends a larger batch
 * with X-Sikhnas-Batch (the digest of the whole body, as X-Sikhnas-Digest).
 * When its connection ends in the middle of that body, the HTTP layer hands
 * the bytes received to hub_resume_partial(), which keeps them: per node at
 * most one prefix, for RESUME_TTL_MS, and RESUME_BYTES_MAX over all nodes
 * (the oldest go first). HEAD /v1/push with the same X-Sikhnas-Batch
 * answers how much is held (Range: bytes=0-K); the node then POSTs the rest
 * with Content-Range: bytes K+1-(T-1)/T, and hub_resume_body() puts the
 * whole together for the push path, which checks its digest before it
 * decodes anything. A prefix is only ever used by the node whose
 * certificate sent it, for the batch it was cut from, at the offset where
 * it ends; anything else is refused (416) and the node sends the batch
 * whole. Loop thread only. */
#ifndef SIKHNAS_HUB_RESUME_H
#define SIKHNAS_HUB_RESUME_H

#include <stddef.h>
#include <stdint.h>

#include "http_server.h"

#define RESUME_TTL_MS     (10 * 60 * 1000)   /* a prefix is kept this long */
#define RESUME_BYTES_MAX  (64u << 20)        /* prefixes held, all nodes together */
#define RESUME_ENTRIES    4096               /* nodes with a prefix held */

struct hub;
struct hub_identity;
struct hub_resume;

/* A store of prefixes; NULL after -ENOMEM. */
int  hub_resume_new(struct hub_resume **ret);
void hub_resume_free(struct hub_resume *r);
/* Prefixes held now, and their bytes (for tests and the log). */
void hub_resume_counts(const struct hub_resume *r, unsigned *n, size_t *bytes);

/* The HTTP layer's partial hook: keeps the prefix of a cut POST /v1/push
 * that carried X-Sikhnas-Batch and came with a verified node certificate. */
void hub_resume_partial(struct hub *h, struct http_conn *c, const struct http_req *req);
/* HEAD /v1/push: answers with what is held of the node's batch. */
void hub_resume_query(struct hub *h, const struct http_req *req, const struct hub_identity *id);
/* For POST /v1/push: 0 when the body is the whole batch (a prefix the node
 * had held is dropped: it moved on); 1 when the request resumes a held
 * prefix and *body (malloc'd, NUL-terminated, the caller frees it) and *len
 * are the whole batch; -1 when the request was answered (refused). */
int  hub_resume_body(struct hub *h, const struct http_req *req, const struct hub_identity *id,
                     char **body, size_t *len);
/* Parses "bytes A-B/T" (Content-Range): 0, or -EINVAL unless
 * A <= B < T <= max, all decimal digits. */
int  hub_resume_range(const char *v, size_t max, size_t *a, size_t *b, size_t *t);

#endif
