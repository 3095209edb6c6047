/* hub_resume.c - the prefixes of cut push batches, and their resumption
 * (hub_resume.h). A short list, searched from the start: it holds at most
 * RESUME_ENTRIES nodes, and is only looked at when a body was cut, when a
 * node asks what is held, and on a push. */
#include "hub.h"
#include "hub_resume.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#include "hub_ca.h"
#include "log.h"
#include "uuid7.h"

struct resume_entry {
    struct resume_entry *next;
    char     node[37];
    char     batch[HUB_HDR_DIGEST];     /* X-Sikhnas-Batch: the digest of the whole */
    size_t   total;                     /* the whole batch's bytes */
    size_t   len;                       /* held: its first len bytes */
    uint64_t at;                        /* uv_now() when stored or extended */
    char    *data;
};

struct hub_resume {
    struct resume_entry *head;          /* newest first */
    unsigned n;
    size_t   bytes;
};

int hub_resume_new(struct hub_resume **ret)
{
    *ret = calloc(1, sizeof(**ret));
    return *ret ? 0 : -ENOMEM;
}

static void entry_drop(struct hub_resume *r, struct resume_entry **slot)
{
    struct resume_entry *e = *slot;

    *slot = e->next;
    r->n--;
    r->bytes -= e->len;
    free(e->data);
    free(e);
}

void hub_resume_free(struct hub_resume *r)
{
    if (!r)
        return;
    while (r->head)
        entry_drop(r, &r->head);
    free(r);
}

void hub_resume_counts(const struct hub_resume *r, unsigned *n, size_t *bytes)
{
    *n = r ? r->n : 0;
    *bytes = r ? r->bytes : 0;
}

/* Drops the expired entries; returns the slot of node's entry (or of the
 * list's end, *slot NULL, when it has none). */
static struct resume_entry **entry_find(struct hub_resume *r, const char *node, uint64_t now)
{
    struct resume_entry **slot = &r->head, **found = NULL;

    while (*slot) {
        if (now - (*slot)->at > RESUME_TTL_MS) {
            entry_drop(r, slot);
            continue;
        }
        if (!found && strcmp((*slot)->node, node) == 0)
            found = slot;
        slot = &(*slot)->next;
    }
    return found ? found : slot;
}

/* Makes room for want more bytes (and an entry) by dropping the oldest. */
static int make_room(struct hub_resume *r, size_t want, const struct resume_entry *keep)
{
    while (r->head && (r->bytes + want > RESUME_BYTES_MAX || r->n >= RESUME_ENTRIES)) {
        struct resume_entry **slot = &r->head, **last = NULL;
        for (; *slot; slot = &(*slot)->next)
            if (*slot != keep)
                last = slot;
        if (!last)
            break;
        entry_drop(r, last);
    }
    return r->bytes + want > RESUME_BYTES_MAX || r->n >= RESUME_ENTRIES ? -ENOSPC : 0;
}

static int digits(const char **p, size_t *v)
{
    size_t x = 0;
    const char *s = *p;

    if (!isdigit((unsigned char)*s))
        return -EINVAL;
    for (; isdigit((unsigned char)*s); s++) {
        if (x > (SIZE_MAX - 9) / 10)
            return -EINVAL;
        x = x * 10 + (size_t)(*s - '0');
    }
    *p = s;
    *v = x;
    return 0;
}

int hub_resume_range(const char *v, size_t max, size_t *a, size_t *b, size_t *t)
{
    if (!v || strncmp(v, "bytes ", 6) != 0)
        return -EINVAL;
    v += 6;
    if (digits(&v, a) < 0 || *v++ != '-' || digits(&v, b) < 0 || *v++ != '/' ||
        digits(&v, t) < 0 || *v)
        return -EINVAL;
    return *a <= *b && *b < *t && *t <= max ? 0 : -EINVAL;
}

/* The node of c's client certificate, when it was verified in the
 * handshake and names one; else "". */
static void cert_node(struct http_conn *c, char node[37])
{
    const mbedtls_x509_crt *crt;
    uint32_t flags = 1;
    char cn[64];

    node[0] = '\0';
    crt = http_peer_cert(c, &flags);
    if (!crt || flags != 0 ||
        ca_subject_get(&crt->subject, MBEDTLS_OID_AT_CN, MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN),
                       cn, sizeof(cn)) < 0 || !uuid_valid(cn))
        return;
    for (int i = 0; i < 37; i++)
        node[i] = (char)tolower((unsigned char)cn[i]);
}

/* The batch a request names (X-Sikhnas-Batch), or NULL when it names none
 * or one too long to hold. */
static const char *batch_named(struct http_conn *c)
{
    const char *v = http_header(c, "X-Sikhnas-Batch");

    return v && v[0] && strlen(v) < HUB_HDR_DIGEST ? v : NULL;
}

/* Stores bytes [a, a + n) of batch (total bytes) for node: a new prefix
 * when a is 0, else an extension of the one held (a must be where it ends). */
static void keep(struct hub *h, const char *node, const char *batch, size_t total, size_t a,
                 const char *data, size_t n)
{
    struct hub_resume *r = h->resume;
    uint64_t now = uv_now(h->loop);
    struct resume_entry **slot = entry_find(r, node, now), *e = *slot;
    char *d;

    if (a > 0 && (!e || strcmp(e->batch, batch) != 0 || e->total != total || e->len != a))
        return;                         /* not the end of what is held: nothing to extend */
    if (a == 0 && e) {
        entry_drop(r, slot);
        e = NULL;
    }
    if (make_room(r, n, e) < 0) {
        log_info("push %s: no room to keep %zu bytes of a cut batch (%u held, %zu bytes)",
                 node, n, r->n, r->bytes);
        return;
    }
    if (!e) {
        e = calloc(1, sizeof(*e));
        if (!e)
            return;
        snprintf(e->node, sizeof(e->node), "%s", node);
        snprintf(e->batch, sizeof(e->batch), "%s", batch);
        e->total = total;
        e->next = r->head;
        r->head = e;
        r->n++;
    }
    d = realloc(e->data, e->len + n);
    if (!d)
        return;                         /* the entry keeps what it had */
    memcpy(d + e->len, data, n);
    e->data = d;
    e->len += n;
    r->bytes += n;
    e->at = now;
    log_info("push %s: the connection ended %zu of %zu bytes into a batch; kept for a resume",
             node, e->len, total);
}

void hub_resume_partial(struct hub *h, struct http_conn *c, const struct http_req *req)
{
    const char *batch, *range, *clen;
    char node[37];
    size_t a = 0, b, total = 0;

    if (!h->resume || h->stopping || strcmp(req->path, "/v1/push") != 0 ||
        strcmp(req->method, "POST") != 0 || !(batch = batch_named(c)))
        return;
    cert_node(c, node);
    if (!node[0])
        return;
    range = http_header(c, "Content-Range");
    if (range) {
        if (hub_resume_range(range, HUB_BODY_MAX, &a, &b, &total) < 0 || b != total - 1)
            return;
    } else {
        clen = http_header(c, "Content-Length");
        const char *p = clen;
        if (!p || digits(&p, &total) < 0 || *p || total > HUB_BODY_MAX)
            return;
    }
    if (req->body_len > total - a)
        return;
    keep(h, node, batch, total, a, req->body, req->body_len);
}

struct same_batch {
    struct http_conn *self;
    const char *node, *batch;
};

/* 1 when c carries the same node's POST of the same batch. */
static int same_batch(void *ud, struct http_conn *c)
{
    const struct same_batch *m = ud;
    const char *b = c == m->self ? NULL : batch_named(c);
    char node[37];

    if (!b || strcmp(b, m->batch) != 0)
        return 0;
    cert_node(c, node);
    return strcmp(node, m->node) == 0;
}

void hub_resume_query(struct hub *h, const struct http_req *req, const struct hub_identity *id)
{
    const char *batch = batch_named(req->conn);
    struct resume_entry *e = NULL;
    char headers[96] = "X-Sikhnas-Resume: 1\r\n";

    if (h->resume && batch) {
        /* the node's old connection may not be known dead yet (its close
         * lost on the broken link): it is now, and its body kept */
        struct same_batch m = { req->conn, id->node, batch };
        if (http_server_cut_partial(h->http, same_batch, &m) > 0)
            log_info("push %s: a new request for a batch still coming on another connection; "
                     "that one is closed", id->node);
        e = *entry_find(h->resume, id->node, uv_now(h->loop));
        if (e && strcmp(e->batch, batch) != 0)
            e = NULL;
    }
    if (e)
        snprintf(headers, sizeof(headers), "X-Sikhnas-Resume: 1\r\nRange: bytes=0-%zu\r\n",
                 e->len - 1);
    log_debug("push %s: asked for a cut batch: %zu bytes held", id->node, e ? e->len : 0);
    metrics_request(h->metrics, "push", 200);
    http_respond(req->conn, 200, NULL, headers, "", 0);
}

static void refuse(struct hub *h, const struct http_req *req, const char *node,
                   const char *why)
{
    char msg[160];

    snprintf(msg, sizeof(msg), "cannot resume the batch (%s); send it whole", why);
    log_info("push %s: %s", node, msg);
    hub_error(h, req, "push", 416, "resume_mismatch", msg);
}

int hub_resume_body(struct hub *h, const struct http_req *req, const struct hub_identity *id,
                    char **body, size_t *len)
{
    const char *range = http_header(req->conn, "Content-Range");
    const char *batch = batch_named(req->conn), *digest;
    struct resume_entry **slot, *e;
    size_t a, b, total;
    char *whole;

    *body = NULL;
    *len = 0;
    slot = h->resume ? entry_find(h->resume, id->node, uv_now(h->loop)) : NULL;
    if (!range) {
        if (slot && *slot)
            entry_drop(h->resume, slot);   /* the node sends a batch whole: it moved on */
        return 0;
    }
    if (!slot || !*slot) {
        refuse(h, req, id->node, "nothing of it is held");
        return -1;
    }
    e = *slot;
    digest = http_header(req->conn, "X-Sikhnas-Digest");
    if (hub_resume_range(range, HUB_BODY_MAX, &a, &b, &total) < 0 || b != total - 1) {
        refuse(h, req, id->node, "Content-Range is not bytes A-B/T ending at T-1");
    } else if (!batch || strcmp(batch, e->batch) != 0 || !digest || strcmp(digest, batch) != 0) {
        refuse(h, req, id->node, "another batch is held");
    } else if (a != e->len || total != e->total || req->body_len != total - a) {
        refuse(h, req, id->node, "the range is not the rest of what is held");
    } else {
        whole = malloc(total + 1);
        if (!whole) {
            hub_error(h, req, "push", 503, "unavailable", "out of memory");
            return -1;
        }
        memcpy(whole, e->data, e->len);
        memcpy(whole + e->len, req->body, req->body_len);
        whole[total] = '\0';
        log_info("push %s: resumed a batch at byte %zu of %zu", id->node, a, total);
        entry_drop(h->resume, slot);
        *body = whole;
        *len = total;
        return 1;
    }
    entry_drop(h->resume, slot);
    return -1;
}
