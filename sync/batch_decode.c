/* batch_decode.c - reading a push batch (the hub's side of batch.h): the
 * digest, inflating with caps, the columnar JSON and every cell, checked
 * here before PostgreSQL sees it: a value that would make COPY or a cast
 * fail would abort the whole batch's transaction, and a bad row must refuse
 * that row alone (docs/protocol.md §4.4). */
#include "batch.h"
#include "batch_cell.h"
#include "batch_col.h"
#include "batch_rows.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "hex.h"
#include "hlc.h"
#include "strbuf.h"
#include "utf8.h"
#include "uuid7.h"

#define MAX_COLS 24             /* columns of the widest kind, and then some */

/* ------------------------------------------------------------ parse arena */

/* cJSON makes one malloc per value and per string: some 150,000 for a batch
 * of 5,000 rows, which glibc then frees one by one (measured: most of the
 * decode time went to malloc and page faults). While a worker thread decodes
 * a batch, cJSON allocates from a thread-local bump arena instead, and the
 * whole tree is dropped at once. Other threads (and other times) use malloc.
 * The arena's chunks go back to one spare pool shared by the worker threads:
 * a chunk faulted in by one thread serves the next batch on any other (with
 * a pool per thread, each of libuv's threads paid the page faults of a batch
 * once: 300-600 ms each, measured). */
#define ARENA_CHUNK (1u << 20)
#define ARENA_KEEP  (64u << 20)       /* spare bytes kept for the next batches */

struct chunk {
    struct chunk *next;
    size_t        size, used;
    max_align_t   data[];
};

static __thread struct chunk *arena_chunks;   /* this thread's batch, current first */
static __thread int           arena_on;
static pthread_mutex_t        spare_lock = PTHREAD_MUTEX_INITIALIZER;
static struct chunk          *spare;          /* chunks no batch uses */
static size_t                 spare_bytes;

static void *arena_malloc(size_t n)
{
    struct chunk *c = arena_chunks;

    if (!arena_on)
        return malloc(n);
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    if (!c || c->used + n > c->size) {
        pthread_mutex_lock(&spare_lock);
        c = spare;
        if (c && c->size >= n) {
            spare = c->next;
            spare_bytes -= c->size;
        } else {
            c = NULL;
        }
        pthread_mutex_unlock(&spare_lock);
        if (!c) {
            size_t size = n > ARENA_CHUNK ? n : ARENA_CHUNK;
            c = malloc(sizeof(*c) + size);
            if (!c)
                return NULL;
            c->size = size;
        }
        c->used = 0;
        c->next = arena_chunks;
        arena_chunks = c;
    }
    c->used += n;
    return (char *)c->data + c->used - n;
}

static void arena_free(void *p)
{
    if (!arena_on)
        free(p);
}

static void hooks_init(void)
{
    cJSON_Hooks h = { arena_malloc, arena_free };
    cJSON_InitHooks(&h);
}

void batch_global_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, hooks_init);
}

static void arena_begin(void)
{
    batch_global_init();
    arena_on = 1;
}

/* Drops everything allocated since arena_begin(); keeps up to ARENA_KEEP
 * spare (chunks of the usual size only, which any batch can use). */
static void arena_end(void)
{
    struct chunk *c = arena_chunks;

    arena_on = 0;
    arena_chunks = NULL;
    pthread_mutex_lock(&spare_lock);
    while (c) {
        struct chunk *next = c->next;
        if (c->size == ARENA_CHUNK && spare_bytes + c->size <= ARENA_KEEP) {
            c->next = spare;
            spare = c;
            spare_bytes += c->size;
        } else {
            free(c);
        }
        c = next;
    }
    pthread_mutex_unlock(&spare_lock);
}

/* ------------------------------------------------------------ decode */

static int fail(struct batch *b, int *status, int http, const char *code, const char *msg)
{
    *status = http;
    snprintf(b->err_code, sizeof(b->err_code), "%s", code);
    snprintf(b->err_msg, sizeof(b->err_msg), "%s", msg);
    return -EBADMSG;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The refusal code of a row whose hlc (a valid cell c) is further ahead of
 * the hub's clock hub_ms than BATCH_MAX_AHEAD_MS, with the reason; NULL
 * when it is not (or hub_ms is 0). The hub's own HLC never runs more than
 * that ahead of its clock (hlc_observe() refuses to follow a node further),
 * so a node that merged the hub's HLC cannot legitimately be further ahead:
 * such a row would win last-writer-wins against every later correction. */
static const char *hlc_ahead(const struct bcell *c, uint64_t hub_ms, char *reason, size_t size)
{
    int64_t v;
    uint64_t ms;
    double ahead;
    size_t n;

    if (!hub_ms || !bcell_int(c, 1, &v))
        return NULL;
    ms = HLC_MS(v);
    if (ms <= hub_ms + BATCH_MAX_AHEAD_MS)
        return NULL;
    ahead = (double)(ms - hub_ms) / 60000.0;
    if (ahead >= 2 * 24 * 60)
        snprintf(reason, size, "hlc is %.1f days ahead", ahead / (24 * 60));
    else if (ahead >= 120)
        snprintf(reason, size, "hlc is %.1f hours ahead", ahead / 60);
    else
        snprintf(reason, size, "hlc is %.1f minutes ahead", ahead);
    n = strlen(reason);
    snprintf(reason + n, size - n, " of the hub's clock (at most %u minutes); check the node's "
             "clock", BATCH_MAX_AHEAD_MS / 60000);
    return "hlc_ahead";
}

/* A table block being decoded: where the kind's columns are in the node's
 * cols, and which row of each id wins. */
struct block {
    const struct record_kind *k;
    int map[MAX_COLS];          /* the kind's column -> index in the node's cols, or -1 */
    int ncols, seq_at, id_at, hlc_k;
    const char **ids;           /* open-addressing set: id -> row, for coalescing */
    int *id_row;
    size_t id_cap;
};

/* Maps the node's cols onto the kind's; -EBADMSG when they do not fit. */
static int block_cols(struct batch *b, struct block *bk, const cJSON *cols, int *status)
{
    const struct record_kind *sp = bk->k;
    int i = 0;

    bk->ncols = cJSON_GetArraySize(cols);
    if (bk->ncols < 1 || bk->ncols > 64)
        return fail(b, status, 400, "bad_batch", "cols must have 1 to 64 names");
    assert(sp->ncols <= MAX_COLS);
    bk->seq_at = bk->id_at = bk->hlc_k = -1;
    for (int k = 0; k < sp->ncols; k++)
        bk->map[k] = -1;
    for (const cJSON *c = cols->child; c; c = c->next, i++) {
        if (!cJSON_IsString(c))
            return fail(b, status, 400, "bad_batch", "column names must be strings");
        if (strcmp(c->valuestring, "seq") == 0) {
            bk->seq_at = i;
            continue;
        }
        for (int k = 0; k < sp->ncols; k++)
            if (strcmp(sp->cols[k].name, c->valuestring) == 0) {
                if (bk->map[k] >= 0)
                    return fail(b, status, 400, "bad_batch", "a column is named twice");
                bk->map[k] = i;
            }
    }
    if (bk->seq_at < 0)
        return fail(b, status, 400, "bad_batch", "cols lacks seq");
    for (int k = 0; k < sp->ncols; k++) {
        if ((sp->cols[k].flags & COL_REQUIRED) && bk->map[k] < 0) {
            char msg[128];
            snprintf(msg, sizeof(msg), "%s: cols lacks %s", sp->table, sp->cols[k].name);
            return fail(b, status, 400, "bad_batch", msg);
        }
        if (strcmp(sp->cols[k].name, "id") == 0)
            bk->id_at = bk->map[k];
        if (strcmp(sp->cols[k].name, "hlc") == 0)
            bk->hlc_k = k;
    }
    return 0;
}

/* The slot of id in bk's set (its own, or the empty one it would take). */
static size_t id_slot(const struct block *bk, const char *id)
{
    size_t h = fnv1a(id) & (bk->id_cap - 1);

    while (bk->ids[h] && strcmp(bk->ids[h], id) != 0)
        h = (h + 1) & (bk->id_cap - 1);
    return h;
}

/* Row i's seq, and its id (NULL: none) in bk's set: the row with the lower
 * seq of an id is superseded (its seq negative: no line). id must live as
 * long as bk. */
static void block_key(struct batch *b, struct batch_table *t, struct block *bk, int i,
                      int64_t seq, const char *id)
{
    size_t h;

    t->seq[i] = seq;
    if (seq < b->min_seq)
        b->min_seq = seq;
    if (!id)
        return;
    h = id_slot(bk, id);
    if (!bk->ids[h] || t->seq[bk->id_row[h]] < seq) {
        if (bk->ids[h])
            t->seq[bk->id_row[h]] = -t->seq[bk->id_row[h]];
        bk->ids[h] = id;
        bk->id_row[h] = i;
    } else {
        t->seq[i] = -seq;
    }
}

/* First pass: every row's seq, and the row of each id with the highest
 * seq (the others were coalesced into it). -EBADMSG on a structural error. */
static int block_coalesce(struct batch *b, struct batch_table *t, struct block *bk,
                          const cJSON *rows, int *status)
{
    int i = 0;

    for (const cJSON *row = rows->child; row; row = row->next, i++) {
        const cJSON *ic;
        int64_t seq;
        if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != bk->ncols)
            return fail(b, status, 400, "bad_batch", "a row is not an array as long as cols");
        if (!batch_int_of(cJSON_GetArrayItem(row, bk->seq_at), 0, &seq) || seq <= 0 ||
            seq > b->last_seq)
            return fail(b, status, 400, "bad_batch", "a row's seq is not in 1 .. last_seq");
        ic = cJSON_GetArrayItem(row, bk->id_at);
        block_key(b, t, bk, i, seq, cJSON_IsString(ic) ? ic->valuestring : NULL);
    }
    return 0;
}

/* 1 when the string cell c (36 bytes) is a UUID. */
static int id_valid(const struct bcell *c)
{
    char buf[37];

    if (c->z)
        return uuid_valid(c->s);
    memcpy(buf, c->s, 36);
    buf[36] = 0;
    return uuid_valid(buf);
}

/* Appends row i's COPY line to out: seq, bad_code, bad_reason, columns; a
 * row refused here has its id and NULLs. cells are the row's cells in the
 * node's column order (JSON rows: block_line(); columnar ones: straight
 * from the columns, batch_col_cells()); line is scratch space. */
static void block_line_cells(struct batch *b, struct batch_table *t, const struct block *bk,
                             const struct bcell *cells, int i, struct strbuf *out,
                             struct strbuf *line)
{
    const struct record_kind *sp = bk->k;
    const char *why = NULL, *bad_col = NULL, *code = NULL;
    const struct bcell *ic = bk->id_at >= 0 ? &cells[bk->id_at] : NULL;
    char reason[160];

    strbuf_reset(line);
    for (int k = 0; k < sp->ncols && !why; k++) {
        strbuf_add(line, "\t", 1);
        why = cell_add(line, &sp->cols[k], bk->map[k] >= 0 ? &cells[bk->map[k]] : NULL);
        if (why)
            bad_col = sp->cols[k].name;
    }
    if (!why)
        code = hlc_ahead(&cells[bk->map[bk->hlc_k]], b->hub_ms, reason, sizeof(reason));
    else
        snprintf(reason, sizeof(reason), "%s: %s", bad_col, why);
    batch_put_int(out, t->seq[i]);
    strbuf_add(out, "\t", 1);
    if (why || code) {
        strbuf_str(out, code ? code : "bad_value");
        strbuf_add(out, "\t", 1);
        batch_copy_esc(out, reason, strlen(reason));
        if (ic && ic->type == BC_STR && ic->n == 36 && id_valid(ic)) {
            strbuf_add(out, "\t", 1);
            strbuf_add(out, ic->s, ic->n);
        } else {
            strbuf_str(out, "\t\\N");
        }
        for (int k = 1; k < sp->ncols; k++)
            strbuf_str(out, "\t\\N");
    } else {
        strbuf_str(out, "\\N\t\\N");
        if (line->p)
            strbuf_add(out, line->p, line->len);
    }
    strbuf_add(out, "\n", 1);
}

/* The same for a row as cJSON parsed it (an array of bk->ncols cells). */
static void block_line(struct batch *b, struct batch_table *t, const struct block *bk,
                       const cJSON *row, int i, struct strbuf *out, struct strbuf *line)
{
    struct bcell cells[64];
    int n = 0;

    for (const cJSON *c = row->child; c && n < 64; c = c->next)
        bcell_of_json(&cells[n++], c);
    block_line_cells(b, t, bk, cells, i, out, line);
}

/* t->ids: the ids of the rows kept, as a text[] literal (a UUID needs no
 * quoting inside it); t->max_id the greatest. */
static int block_ids(struct batch_table *t, const struct block *bk)
{
    struct strbuf b = { 0 };
    int first = 1;

    strbuf_reserve(&b, (size_t)t->nrows * 39 + 3);
    strbuf_add(&b, "{", 1);
    for (size_t h = 0; h < bk->id_cap; h++) {
        if (!bk->ids[h] || !uuid_valid(bk->ids[h]))
            continue;
        if (strcmp(bk->ids[h], t->max_id) > 0)
            snprintf(t->max_id, sizeof(t->max_id), "%s", bk->ids[h]);
        if (!first)
            strbuf_add(&b, ",", 1);
        first = 0;
        strbuf_add(&b, "\"", 1);
        strbuf_str(&b, bk->ids[h]);
        strbuf_add(&b, "\"", 1);
    }
    strbuf_add(&b, "}", 1);
    if (b.err) {
        strbuf_free(&b);
        return -ENOMEM;
    }
    t->ids = strbuf_take(&b);
    return 0;
}

/* A table block between its two passes: the block, its rows, its lines. */
struct table_job {
    struct block   bk;
    const cJSON   *rows;
    struct strbuf  out;
    char         (*keys)[BATCH_COL_ID];     /* a streamed columnar block's ids */
};

static void table_job_free(struct table_job *tj)
{
    free(tj->keys);
    free(tj->bk.ids);
    free(tj->bk.id_row);
    strbuf_free(&tj->out);
}

/* A table block's arrays for its t->nrows rows: seqs, the id hash, and
 * its COPY text (about as long as the rows' JSON: one allocation, not a
 * dozen reallocations with copies; 120 bytes a row is a floor). */
static int table_alloc(const struct batch *b, struct batch_table *t, struct table_job *tj)
{
    struct block *bk = &tj->bk;

    t->seq = calloc((size_t)t->nrows + 1, sizeof(int64_t));
    bk->id_cap = 16;
    while (bk->id_cap < (size_t)t->nrows * 2)
        bk->id_cap *= 2;
    bk->ids = calloc(bk->id_cap, sizeof(*bk->ids));
    bk->id_row = calloc(bk->id_cap, sizeof(*bk->id_row));
    strbuf_reserve(&tj->out, (size_t)t->nrows * 120 + b->plain_len / 2 + 4096);
    if (!t->seq || !bk->ids || !bk->id_row || tj->out.err)
        return -ENOMEM;
    return 0;
}

/* The first pass over one table block: its columns, every row's seq, the
 * row of each id, the ids; -EBADMSG on a structural error. */
static int table_prep(struct batch *b, struct batch_table *t, const cJSON *blk,
                      struct table_job *tj, int *status)
{
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(blk, "cols");
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(blk, "rows");
    struct block *bk = &tj->bk;
    int r;

    bk->k = &record_kinds[t->kind];
    if (!cJSON_IsArray(cols) || !cJSON_IsArray(rows))
        return fail(b, status, 400, "bad_batch", "a table block needs cols and rows arrays");
    r = block_cols(b, bk, cols, status);
    if (r < 0)
        return r;
    tj->rows = rows;
    t->nrows = cJSON_GetArraySize(rows);
    if (t->nrows + b->nrows > BATCH_MAX_ROWS)
        return fail(b, status, 400, "bad_batch", "more than 10000 rows in one batch");
    b->nrows += t->nrows;
    r = table_alloc(b, t, tj);
    if (r < 0)
        return r;
    r = block_coalesce(b, t, bk, rows, status);
    if (r < 0)
        return r;
    return block_ids(t, bk);
}

/* Publishes what tj->out holds as t's lines (under s->lock when streaming). */
static int table_publish(struct batch_table *t, struct table_job *tj, struct strbuf *step,
                         struct batch_stream *s, int done)
{
    int r = 0;

    if (!s) {
        t->copy = tj->out.p;
        t->copy_len = tj->out.len;
        t->done = done;
        return 0;
    }
    pthread_mutex_lock(&s->lock);
    if (s->cancel) {
        r = -ECANCELED;
    } else if (step->len > 0 && strbuf_add(&tj->out, step->p, step->len) < 0) {
        r = -ENOMEM;
    } else {
        t->copy = tj->out.p;
        t->copy_len = tj->out.len;
        t->done = done;
    }
    pthread_mutex_unlock(&s->lock);
    strbuf_reset(step);
    if (r == 0)
        s->more(s);
    return r;
}

/* The end of a table's second pass (r: how it went): the last step
 * published and the table done, the scratch freed, tj->out handed over to
 * t->copy. */
static int table_stream_end(struct batch_table *t, struct table_job *tj, struct strbuf *step,
                            struct strbuf *line, struct batch_stream *s, int r)
{
    if (r == 0)
        r = table_publish(t, tj, step, s, 1);
    strbuf_free(line);
    strbuf_free(step);
    if (t->copy == tj->out.p)
        tj->out.p = NULL;               /* t->copy owns it now, whole or not */
    return r;
}

/* The second pass: the lines of the rows that were not superseded, appended
 * to tj->out (while streaming, BATCH_STREAM_ROWS at a time through a step
 * buffer, so that a reader never sees tj->out move outside the lock). */
static int table_lines(struct batch *b, struct batch_table *t, struct table_job *tj,
                       struct batch_stream *s)
{
    struct strbuf line = { 0 }, step = { 0 };
    struct strbuf *out = s ? &step : &tj->out;
    int i = 0, r = 0, n = 0;

    for (const cJSON *row = tj->rows->child; row && r == 0; row = row->next, i++) {
        if (t->seq[i] < 0)
            continue;                   /* superseded in this batch: no line */
        block_line(b, t, &tj->bk, row, i, out, &line);
        if (out->err || line.err)
            r = -ENOMEM;
        else if (s && ++n == BATCH_STREAM_ROWS) {
            n = 0;
            r = table_publish(t, tj, &step, s, 0);
        }
    }
    return table_stream_end(t, tj, &step, &line, s, r);
}

/* Bounds the parse tree of a JSON body: every value but the first follows
 * a ',', '[' or ':'. */
static int json_items(struct batch *b, const char *body, size_t len, int *status)
{
    size_t items = 0;

    for (size_t i = 0; i < len; i++)
        items += body[i] == ',' || body[i] == '[' || body[i] == ':';
    if (items > BATCH_MAX_ITEMS)
        return fail(b, status, 413, "payload_too_large", "more than 1000000 JSON values");
    return 0;
}

/* The tree of a JSON body, its size bounded first. */
static int json_doc(struct batch *b, const char *body, size_t len, cJSON **doc, int *status)
{
    int r = json_items(b, body, len, status);

    if (r < 0)
        return r;
    *doc = cJSON_ParseWithLength(body, len);
    if (!*doc)
        return fail(b, status, 400, "bad_json", "the body is not JSON");
    return 0;
}

/* The answer to the columnar reader's error r (batch_col.h), why. */
static int col_fail(struct batch *b, int *status, int r, const char *why)
{
    if (r == -E2BIG)
        return fail(b, status, 413, "payload_too_large", why);
    if (r == -EPROTONOSUPPORT)
        return fail(b, status, 415, "unsupported_version", why);
    if (r == -ENOMEM)
        return fail(b, status, 503, "unavailable", "out of memory");
    return r < 0 ? fail(b, status, 400, "bad_batch", why) : 0;
}

/* The tree of a columnar body (batch_coldec.c): the same as its JSON's. */
static int col_doc(struct batch *b, const char *body, size_t len, const char *node_id,
                   cJSON **doc, int *status)
{
    char why[160];
    int r = batch_col_parse_node(body, len, node_id, doc, why, sizeof(why));

    return col_fail(b, status, r, why);
}

/* The batch's head: version, node, last_seq, base_seq, hlc; its tables. */
static int head_decode(struct batch *b, const cJSON *doc, const char *node_id,
                       const cJSON **tables_ret, int *http_status)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "v");
    const cJSON *node = cJSON_GetObjectItemCaseSensitive(doc, "node");
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(doc, "last_seq");
    const cJSON *hlc = cJSON_GetObjectItemCaseSensitive(doc, "hlc");
    const cJSON *tables = cJSON_GetObjectItemCaseSensitive(doc, "tables");
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(doc, "base_seq");

    if (!cJSON_IsNumber(v) || v->valuedouble != 1)
        return fail(b, http_status, 400, "unsupported_version", "this hub speaks version 1");
    if (!cJSON_IsString(node) || strcasecmp(node->valuestring, node_id) != 0)
        return fail(b, http_status, 400, "bad_batch",
                    "the batch names another node than the client certificate");
    snprintf(b->node, sizeof(b->node), "%s", node_id);
    if (!batch_int_of(last, 0, &b->last_seq) || b->last_seq < 0)
        return fail(b, http_status, 400, "bad_batch", "last_seq must be an integer >= 0");
    b->base_seq = -1;
    if (base && (!batch_int_of(base, 0, &b->base_seq) || b->base_seq < 0 ||
                 b->base_seq > b->last_seq))
        return fail(b, http_status, 400, "bad_batch", "base_seq must be 0 .. last_seq");
    if (hlc && !batch_int_of(hlc, 1, &b->hlc))
        return fail(b, http_status, 400, "bad_batch", "hlc must be a string of digits");
    if (!cJSON_IsArray(tables))
        return fail(b, http_status, 400, "bad_batch", "tables must be an array");
    *tables_ret = tables;
    return 0;
}

/* ------------------------------------------------------------ streamed JSON */

/* The kind of table block blk: its index in record_kinds, -1 when it is not
 * a synced kind, -2 when the batch has that table already. */
static int table_kind(const struct batch *b, const cJSON *blk)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(blk, "table");
    int sp = cJSON_IsString(name) ? record_kind_index(name->valuestring) : -1;

    if (sp < 0 || !record_kinds[sp].synced)
        return -1;
    for (int k = 0; k < b->ntables; k++)
        if (b->tables[k].kind == sp)
            return -2;
    return sp;
}

/* The first pass over one table block of a scanned body: as table_prep(),
 * with every row's seq and id read by the scanner (batch_rows.h), the rows
 * themselves not parsed yet. -EINVAL when the scanner cannot read a row:
 * the caller then decodes the batch the whole way. */
static int table_prep_rows(struct batch *b, struct batch_table *t, const cJSON *blk,
                           struct table_job *tj, const struct batch_span *rows, int nrows,
                           int *status)
{
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(blk, "cols");
    struct block *bk = &tj->bk;
    int r;

    bk->k = &record_kinds[t->kind];
    if (!cJSON_IsArray(cols) || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(blk, "rows")))
        return -EINVAL;
    r = block_cols(b, bk, cols, status);
    if (r < 0)
        return r;
    t->nrows = nrows;
    if (t->nrows + b->nrows > BATCH_MAX_ROWS)
        return -EINVAL;
    b->nrows += t->nrows;
    r = table_alloc(b, t, tj);
    if (r < 0)
        return r;
    for (int i = 0; i < nrows; i++) {
        struct batch_span id;
        int64_t seq;
        char *s;
        if (batch_row_cells(rows[i], bk->ncols, bk->seq_at, bk->id_at, &seq, &id) < 0 ||
            seq <= 0 || seq > b->last_seq)
            return -EINVAL;             /* the whole way says why */
        s = NULL;
        if (id.p && !(s = arena_malloc(id.n + 1)))     /* as cJSON would have it */
            return -ENOMEM;
        if (s) {
            memcpy(s, id.p, id.n);
            s[id.n] = 0;
        }
        block_key(b, t, bk, i, seq, s);
    }
    return block_ids(t, bk);
}

/* The second pass of a scanned table block: each row parsed (a superseded
 * one too: the whole way would have refused the body for it), its line
 * made as table_lines() makes it. */
static int table_lines_rows(struct batch *b, struct batch_table *t, struct table_job *tj,
                            const struct batch_span *rows, struct batch_stream *s, int *status)
{
    struct strbuf line = { 0 }, step = { 0 };
    int r = 0, n = 0;

    for (int i = 0; i < t->nrows && r == 0; i++) {
        const char *end = NULL;
        cJSON *row = cJSON_ParseWithLengthOpts(rows[i].p, rows[i].n, &end, 0);
        if (!row || end != rows[i].p + rows[i].n) {
            r = fail(b, status, 400, "bad_json", "the body is not JSON");
            break;
        }
        if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != tj->bk.ncols) {
            r = fail(b, status, 400, "bad_batch", "a row is not an array as long as cols");
            break;
        }
        if (t->seq[i] < 0)
            continue;                   /* superseded in this batch: no line */
        block_line(b, t, &tj->bk, row, i, &step, &line);
        if (step.err || line.err)
            r = -ENOMEM;
        else if (++n == BATCH_STREAM_ROWS) {
            n = 0;
            r = table_publish(t, tj, &step, s, 0);
        }
    }
    return table_stream_end(t, tj, &step, &line, s, r);
}

/* Forgets what a streamed attempt decoded, for the whole way. */
static void batch_reset(struct batch *b, struct table_job *tj, int *status)
{
    uint64_t hub_ms = b->hub_ms;
    size_t plain_len = b->plain_len;
    int columnar = b->columnar;

    batch_clear(b);
    memset(b, 0, sizeof(*b));
    b->hub_ms = hub_ms;
    b->plain_len = plain_len;
    b->columnar = columnar;
    for (int i = 0; i < 16; i++) {
        table_job_free(&tj[i]);
        memset(&tj[i], 0, sizeof(tj[i]));
    }
    *status = 200;
}

/* Decodes a JSON body while streaming: the skeleton (the body without its
 * rows) and every row's seq and id first, then ready(), then the rows.
 * -EAGAIN (with b and tj as they were) when the body is not of the shape
 * batch_rows.h reads or fails before ready(): the whole way then decodes it
 * and gives the error its code. */
static int json_stream(struct batch *b, const char *body, size_t len, const char *node_id,
                       struct table_job *tj, struct batch_stream *s, int *status)
{
    struct batch_skel sk;
    const cJSON *tables, *blk;
    cJSON *doc = NULL;
    int r = batch_skel_scan(body, len, &sk), i = 0;

    if (r == 0) {
        doc = cJSON_ParseWithLength(sk.text, sk.len);
        r = doc ? head_decode(b, doc, node_id, &tables, status) : -EINVAL;
    }
    if (r == 0 && cJSON_GetArraySize(tables) != sk.ntables)
        r = -EINVAL;
    b->min_seq = b->last_seq;
    for (blk = r == 0 ? tables->child : NULL; blk && r == 0; blk = blk->next, i++) {
        int sp = table_kind(b, blk);
        if (sp < 0) {
            r = -EINVAL;
            break;
        }
        b->tables[b->ntables].kind = sp;
        r = table_prep_rows(b, &b->tables[b->ntables], blk, &tj[b->ntables], sk.rows[i],
                            sk.nrows[i], status);
        b->ntables++;
    }
    if (r < 0) {
        batch_skel_free(&sk);
        batch_reset(b, tj, status);
        return -EAGAIN;
    }
    s->ready(s);
    for (i = 0; i < b->ntables && r == 0; i++)
        r = table_lines_rows(b, &b->tables[i], &tj[i], sk.rows[i], s, status);
    batch_skel_free(&sk);
    return r;
}

/* ------------------------------------------------------------ streamed columnar */

/* The first pass over table block ti of a columnar body: as table_prep(),
 * with every row's seq and id from their columns (batch_col_keys()), the
 * rows not made yet. -EAGAIN or -EINVAL when they are not plain values:
 * the caller then decodes the batch the whole way. */
static int table_prep_col(struct batch *b, struct batch_table *t, const cJSON *blk,
                          struct table_job *tj, struct batch_col *bc, int ti, int *status)
{
    struct block *bk = &tj->bk;
    int r;

    bk->k = &record_kinds[t->kind];
    r = block_cols(b, bk, cJSON_GetObjectItemCaseSensitive(blk, "cols"), status);
    if (r < 0)
        return r;
    t->nrows = (int)batch_col_nrows(bc, ti);
    if (t->nrows + b->nrows > BATCH_MAX_ROWS)
        return -EINVAL;
    b->nrows += t->nrows;
    r = table_alloc(b, t, tj);
    if (r < 0)
        return r;
    tj->keys = malloc(((size_t)t->nrows + 1) * sizeof(*tj->keys));
    if (!tj->keys)
        return -ENOMEM;
    r = batch_col_keys(bc, ti, bk->seq_at, bk->id_at, t->seq, tj->keys);
    for (int i = 0; i < t->nrows && r == 0; i++) {
        if (t->seq[i] > b->last_seq)
            return -EINVAL;             /* the whole way says why */
        block_key(b, t, bk, i, t->seq[i], bk->id_at >= 0 ? tj->keys[i] : NULL);
    }
    return r < 0 ? r : block_ids(t, bk);
}

int batch_col_tree;

/* One step of a streamed columnar block: its next n rows from i, their
 * lines into step, straight from the columns (batch_col_cells(): no tree),
 * or (batch_col_tree) made as trees first, as table_lines() makes them. */
static int col_step(struct batch *b, struct batch_table *t, struct table_job *tj,
                    struct batch_col *bc, int ti, int i, int n, struct bcell *cells,
                    struct strbuf *step, struct strbuf *line)
{
    const cJSON *row;
    int r;

    if (batch_col_tree) {
        r = batch_col_rows(bc, ti, (size_t)n, &row);
        for (int k = 0; k < n && r == 0; k++, i++, row = row->next)
            if (t->seq[i] > 0)          /* superseded in this batch: no line */
                block_line(b, t, &tj->bk, row, i, step, line);
        return r;
    }
    r = batch_col_cells(bc, ti, (size_t)n, cells);
    for (int k = 0; k < n && r == 0; k++, i++)
        if (t->seq[i] > 0)
            block_line_cells(b, t, &tj->bk, cells + (size_t)k * (size_t)tj->bk.ncols, i, step,
                             line);
    return r;
}

/* The second pass of a streamed columnar block: its lines made
 * BATCH_STREAM_ROWS rows at a time (col_step()). */
static int table_lines_col(struct batch *b, struct batch_table *t, struct table_job *tj,
                           struct batch_col *bc, int ti, const char *why,
                           struct batch_stream *s, int *status)
{
    struct strbuf line = { 0 }, step = { 0 };
    struct bcell *cells = malloc(sizeof(*cells) * BATCH_STREAM_ROWS * (size_t)tj->bk.ncols);
    int i = 0, r = cells ? 0 : -ENOMEM;

    while (i < t->nrows && r == 0) {
        int n = t->nrows - i < BATCH_STREAM_ROWS ? t->nrows - i : BATCH_STREAM_ROWS;
        r = col_step(b, t, tj, bc, ti, i, n, cells, &step, &line);
        if (r < 0) {
            r = col_fail(b, status, r, why);
            break;
        }
        i += n;
        if (step.err || line.err)
            r = -ENOMEM;
        else if (i < t->nrows)
            r = table_publish(t, tj, &step, s, 0);
    }
    free(cells);
    return table_stream_end(t, tj, &step, &line, s, r);
}

/* Decodes a columnar body while streaming: every column read and checked,
 * the head and every row's seq and id first, then ready(), then the rows.
 * -EAGAIN (with b and tj as they were) when any of that fails or is not
 * plain: the whole way then decodes it and gives the error its code.
 * body must live until the end. */
static int col_stream(struct batch *b, const char *body, size_t len, const char *node_id,
                      struct table_job *tj, struct batch_stream *s, int *status)
{
    struct batch_col *bc = NULL;
    const cJSON *tables, *blk;
    cJSON *doc = NULL;
    char why[160];
    int r = batch_col_open(body, len, node_id, &bc, &doc, why, sizeof(why)), i = 0;

    if (r == 0)
        r = head_decode(b, doc, node_id, &tables, status);
    b->min_seq = b->last_seq;
    for (blk = r == 0 ? tables->child : NULL; blk && r == 0; blk = blk->next, i++) {
        int sp = table_kind(b, blk);
        if (sp < 0) {
            r = -EINVAL;
            break;
        }
        b->tables[b->ntables].kind = sp;
        r = table_prep_col(b, &b->tables[b->ntables], blk, &tj[b->ntables], bc, i, status);
        b->ntables++;
    }
    if (r < 0) {
        batch_col_close(bc);
        batch_reset(b, tj, status);
        return -EAGAIN;
    }
    s->ready(s);
    for (i = 0; i < b->ntables && r == 0; i++)
        r = table_lines_col(b, &b->tables[i], &tj[i], bc, i, why, s, status);
    batch_col_close(bc);
    return r;
}

int batch_decode_stream(struct batch *b, const char *body, size_t len, enum batch_enc enc,
                        const char *digest, const char *node_id, uint64_t hub_ms,
                        int *http_status, struct batch_stream *s)
{
    struct table_job *tj = NULL;
    char hex[65];
    char *plain = NULL;
    size_t plain_len = len;
    cJSON *doc = NULL;
    const cJSON *tables, *blk;
    int r = 0;

    memset(b, 0, sizeof(*b));
    b->hub_ms = hub_ms;
    *http_status = 200;
    if (!digest)
        return fail(b, http_status, 400, "digest_missing", "X-Sikhnas-Digest is required");
    sha256_hex(body, len, hex);
    if (strncmp(digest, "sha256=", 7) != 0 || strcasecmp(digest + 7, hex) != 0)
        return fail(b, http_status, 400, "digest_mismatch",
                    "the SHA-256 of the body does not match X-Sikhnas-Digest");
    if (enc != ENC_IDENTITY) {
        r = batch_inflate(body, len, enc, BATCH_MAX_PLAIN, &plain, &plain_len);
        if (r == -EMSGSIZE)
            return fail(b, http_status, 413, "payload_too_large",
                        "the body inflates beyond 8388608 bytes");
        if (r == -EBADMSG)
            return fail(b, http_status, 400, "bad_encoding", "the body does not decompress");
        if (r == -ENOENT)       /* a newer node: it may send without the dictionary */
            return fail(b, http_status, 415, "unsupported_dictionary",
                        "the body needs a zstd dictionary this hub does not have; see "
                        "X-Sikhnas-Accept-Encoding");
        if (r < 0)
            return fail(b, http_status, 503, "unavailable", "out of memory");
        body = plain;
        b->plain_len = plain_len;
    } else if (len > BATCH_MAX_PLAIN) {
        return fail(b, http_status, 413, "payload_too_large", "body too large");
    }
    if (enc == ENC_IDENTITY)
        b->plain_len = len;
    if (enc == ENC_IDENTITY && s) {
        /* the rows are read after ready(), when the reader may have let
         * the body go: read them from a copy */
        plain = malloc(len + 1);
        if (!plain)
            return fail(b, http_status, 503, "unavailable", "out of memory");
        memcpy(plain, body, len);
        plain[len] = 0;
        body = plain;
    }
    arena_begin();
    b->columnar = batch_is_columnar(body, plain_len) ? 1 + ((unsigned char)body[3] == 2) : 0;
    tj = calloc(16, sizeof(*tj));
    if (!tj) {
        r = -ENOMEM;
        goto out;
    }
    if (s && !b->columnar) {
        r = json_items(b, body, plain_len, http_status);
        if (r == 0)
            r = json_stream(b, body, plain_len, node_id, tj, s, http_status);
        if (r != -EAGAIN)
            goto out;
        r = 0;
    } else if (s) {
        r = col_stream(b, body, plain_len, node_id, tj, s, http_status);
        if (r != -EAGAIN)
            goto out;
        r = 0;
    }
    r = b->columnar ? col_doc(b, body, plain_len, node_id, &doc, http_status)
                                           : json_doc(b, body, plain_len, &doc, http_status);
    if (r < 0)
        goto out;
    r = head_decode(b, doc, node_id, &tables, http_status);
    if (r < 0)
        goto out;
    b->min_seq = b->last_seq;
    for (blk = tables->child; blk; blk = blk->next) {
        int sp = table_kind(b, blk);
        struct batch_table *t;
        if (sp < 0) {
            r = fail(b, http_status, 400, "bad_batch",
                     sp == -1 ? "unknown table" : "a table appears twice");
            goto out;
        }
        t = &b->tables[b->ntables++];       /* at most 16 kinds, each once */
        t->kind = sp;
        r = table_prep(b, t, blk, &tj[b->ntables - 1], http_status);
        if (r < 0)
            goto out;
    }
    /* the inflated body is no longer needed: the tree has its own strings */
    free(plain);
    plain = NULL;
    if (s)
        s->ready(s);
    for (int i = 0; i < b->ntables && r == 0; i++)
        r = table_lines(b, &b->tables[i], &tj[i], s);
out:
    if (r == -ENOMEM)
        fail(b, http_status, 503, "unavailable", "out of memory");
    else if (r == -ECANCELED)
        fail(b, http_status, 503, "unavailable", "cancelled");
    for (int i = 0; tj && i < 16; i++)
        table_job_free(&tj[i]);
    free(tj);
    (void) doc;          /* the tree lives in the arena: dropped whole */
    arena_end();
    free(plain);
    return r;
}

int batch_decode(struct batch *b, const char *body, size_t len, enum batch_enc enc,
                 const char *digest, const char *node_id, uint64_t hub_ms, int *http_status)
{
    return batch_decode_stream(b, body, len, enc, digest, node_id, hub_ms, http_status, NULL);
}



void batch_clear(struct batch *b)
{
    if (!b)
        return;
    for (int i = 0; i < b->ntables; i++) {
        free(b->tables[i].copy);
        free(b->tables[i].seq);
        free(b->tables[i].ids);
    }
    b->ntables = 0;
}
