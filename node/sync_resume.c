/* sync_resume.c - a push batch cut on the wire, resumed within its body
 * (docs/protocol.md, "Resuming within a batch"). A hub that keeps the
 * received prefix of a cut batch says X-Sikhnas-Resume: 1 on its answers;
 * then a batch of RESUME_MIN bytes or more goes with X-Sikhnas-Batch (its
 * digest). When a transport failure cuts it (the only one in flight), its
 * body and headers are kept here instead of being built again; the next
 * push request asks the hub (HEAD /v1/push) how much it holds and sends the
 * rest with Content-Range. The hub checks the digest of the whole before it
 * decodes it; any refusal of the rest (416, a digest mismatch) drops what
 * is kept here and the rows go again in a batch built afresh, whole. */
#include "sync_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

void resume_drop(struct sync_client *c)
{
    struct sync_resume *k = &c->resume;

    free(k->body);
    curl_slist_free_all(k->headers);
    memset(k, 0, sizeof(*k));
}

void resume_hub_says(struct sync_client *c, const char *value)
{
    int ok = strcmp(value, "1") == 0, r;

    if (ok == c->resume_ok)
        return;
    c->resume_ok = ok;
    r = store_begin_bg(c->store);
    if (r == 0)
        r = store_meta_set(c->store, "sync.hub_resume", ok ? "1" : "0");
    if (store_end(c->store, r) < 0)
        log_debug("sync: cannot remember whether the hub resumes cut batches");
}

void resume_keep(struct sync_client *c, long long sent, long long lost)
{
    struct sync_req *q = c->q;
    struct sync_resume *k = &c->resume;

    if (q->resumed && !k->body)
        return;
    if (!q->resumed) {                  /* the first cut: take its body and headers */
        resume_drop(c);
        k->body = q->body;
        k->body_len = q->body_len;
        k->headers = q->headers;
        q->body = NULL;
        q->body_len = 0;
        q->headers = NULL;
        snprintf(k->batch_id, sizeof(k->batch_id), "%s", q->batch_id);
        k->last_seq = q->last_seq;
        k->base_seq = q->base_seq;
        k->nrows = q->nrows;
        k->held = 0;
    }
    c->unanswered_bytes = 0;            /* what the hub kept answers for the cut */
    k->from = k->held;
    k->sent = sent;
    k->asked = 0;
    k->lost = lost;
    log_info("sync: the batch up to seq %lld was cut %lld bytes into its %zu (from byte %zu); "
             "asking the hub what it kept", (long long)k->last_seq, sent, k->body_len, k->from);
}

/* 1 while entries the kept batch carried are still queued. */
static int still_queued(struct sync_client *c)
{
    sqlite3_stmt *st = store_stmt(c->store, "SELECT EXISTS (SELECT 1 FROM outbox WHERE state = "
                                  OUTBOX_QUEUED_LIT " AND seq > ?1 AND seq <= ?2)");
    int rc, v = 0;

    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, c->resume.base_seq);
    sqlite3_bind_int64(st, 2, c->resume.last_seq);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? v : store_error(c->store, rc);
}

int resume_prepare(struct sync_client *c)
{
    struct sync_resume *k = &c->resume;
    struct sync_req *q = c->q;
    int r;

    if (!k->body)
        return 0;
    r = still_queued(c);
    if (r <= 0 || !c->resume_ok) {      /* acknowledged meanwhile, or the hub changed */
        resume_drop(c);
        return r;
    }
    q->last_seq = k->last_seq;
    q->base_seq = k->base_seq;
    q->nrows = k->nrows;
    snprintf(q->batch_id, sizeof(q->batch_id), "%s", k->batch_id);
    if (!k->asked) {
        q->resume_query = 1;
        r = identity_headers(c, store_hlc_tick(c->store));
        if (r == 0)
            r = add_header(c, "X-Sikhnas-Batch: %s", k->batch_id);
        return r < 0 ? r : 1;
    }
    q->resumed = 1;
    q->resumable = 1;
    for (const struct curl_slist *h = k->headers; h; h = h->next)
        if (add_header(c, "%s", h->data) < 0)
            return -ENOMEM;
    if (k->held > 0 && add_header(c, "Content-Range: bytes %zu-%zu/%zu", k->held,
                                  k->body_len - 1, k->body_len) < 0)
        return -ENOMEM;
    log_info("sync: sending the rest of the cut batch: %zu of its %zu bytes",
             k->body_len - k->held, k->body_len);
    return 1;
}

void resume_easy(struct sync_client *c, CURL *easy)
{
    const struct sync_resume *k = &c->resume;

    if (c->q->resume_query) {
        curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
        return;
    }
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, k->body + k->held);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(k->body_len - k->held));
}

int resume_answered(struct sync_client *c, long status)
{
    struct sync_resume *k = &c->resume;
    const char *v = c->q->hdr_range;
    unsigned long long a, b;
    size_t kept;
    char end;

    k->held = 0;
    k->asked = 1;
    if (status == 200 && sscanf(v, "bytes=%llu-%llu%c", &a, &b, &end) == 2 && a == 0 &&
        b + 1 < k->body_len)
        k->held = (size_t)b + 1;
    /* what the hub kept of the bytes the cut attempt sent is not sent
     * again (libcurl may have counted none of them: a send that failed) */
    kept = k->held > k->from ? k->held - k->from : 0;
    c->stats.bytes_lost -= (long long)kept < k->lost ? (long long)kept : k->lost;
    c->stats.bytes_kept += (long long)kept;
    log_info("sync: the hub kept %zu of the cut batch's %zu bytes", k->held, k->body_len);
    if (k->held == 0) {
        /* nothing held: the body may have come whole and the answer been
         * lost. The probe (a few hundred bytes) asks, instead of the batch
         * going again; if the hub has it, this attempt cost nothing again */
        c->unanswered_seq = k->last_seq;
        c->unanswered_bytes = k->from == 0 ? k->lost : 0;
        c->probed = 0;
        resume_drop(c);
    }
    return 0;
}
