/* fuzz-hub-decode.c - the push batch decoder (sync/batch_decode.c) over
 * its whole path: digest, inflate (gzip, zstd) with its caps, JSON, cells,
 * COPY text. Byte 0 picks the mode; the rest is its material:
 *   0 identity, 1 gzip, 2 zstd: the rest is the batch; the target
 *     compresses it and digests what it sends, as a node does (zstd: with
 *     the batch dictionary when the rest has an odd length).
 *   3 gzip, 4 zstd: the rest is sent as the compressed body itself.
 *   5: a body whose digest does not match: always refused.
 *   In all of these any answer is fine, but a refusal says why with a
 *   status of 400, 413 or 503 (415 for a frame naming another dictionary,
 *   or a columnar batch of a later version), and an accepted batch is within the caps
 *   and has one COPY line, of as many fields as its others, per row kept.
 *   6, 7: the rest describes rows of case_report and treatment; the target
 *     encodes them as a node does (columnar JSON, columns in any order,
 *     zstd, gzip or none) and the batch must be accepted and decode to
 *     exactly the COPY lines the target expects, row by row.
 * Every input is decoded twice, the whole way (batch_decode()) and while
 * streaming (batch_decode_stream(), which scans a JSON batch's rows first
 * and parses them after ready()): both must give the same answer, the same
 * error and the same tables, byte for byte. */
#undef NDEBUG                   /* the checks below are the point */
#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

#include "strbuf.h"
#include "hex.h"
#include "batch.h"
#include "same_streamed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NODE "0190f5c2-6c1e-7a3b-9b1e-1c2d3e4f5a6b"

/* ------------------------------------------------------------ encoding */

static void encode(const char *in, size_t len, enum batch_enc enc, char **out,
                     size_t *out_len)
{
    if (enc == ENC_IDENTITY) {
        *out = malloc(len + 1);
        assert(*out);
        memcpy(*out, in, len);
        *out_len = len;
    } else if (enc == ENC_ZSTD && len % 2) {
        assert(batch_deflate(in, len, ENC_ZSTD_DICT, NULL, out, out_len) == 0);
        assert(batch_frame_dict(*out, *out_len) == BATCH_DICT_ID);
    } else if (enc == ENC_ZSTD) {
        static ZSTD_CCtx *cctx;         /* one context: making one per input is slow */
        size_t cap = ZSTD_compressBound(len);
        if (!cctx)
            cctx = ZSTD_createCCtx();
        *out = malloc(cap);
        assert(*out && cctx);
        *out_len = ZSTD_compressCCtx(cctx, *out, cap, in, len, 1);
        assert(!ZSTD_isError(*out_len));
    } else {
        z_stream z;
        memset(&z, 0, sizeof(z));
        assert(deflateInit2(&z, 1, Z_DEFLATED, 9 + 16, 1, Z_DEFAULT_STRATEGY) == Z_OK);
        *out = malloc(deflateBound(&z, len) + 32);
        assert(*out);
        z.next_in = (Bytef *)in;
        z.avail_in = (uInt)len;
        z.next_out = (Bytef *)*out;
        z.avail_out = (uInt)(deflateBound(&z, len) + 32);
        assert(deflate(&z, Z_FINISH) == Z_STREAM_END);
        *out_len = z.total_out;
        deflateEnd(&z);
    }
}

static int decode(struct batch *b, const char *body, size_t len, enum batch_enc enc,
                  int good_digest, int *status)
{
    char hex[65], digest[80];
    int r;

    sha256_hex(body, len, hex);
    if (!good_digest)
        hex[0] = hex[0] == '0' ? '1' : '0';
    snprintf(digest, sizeof(digest), "sha256=%s", hex);
    /* a hub clock far ahead: every row hlc is in its past (hlc_ahead has its own test) */
    r = batch_decode(b, body, len, enc, digest, NODE, (uint64_t)INT64_MAX >> 16, status);
    same_streamed(b, r, *status, body, len, enc, digest, NODE, (uint64_t)INT64_MAX >> 16);
    return r;
}

/* What holds of any result. */
static void check_any(const struct batch *b, int r, int status)
{
    if (r < 0) {
        assert(b->err_code[0] && b->err_msg[0]);
        assert(status == 400 || status == 413 || status == 503 ||
               (status == 415 && (strcmp(b->err_code, "unsupported_dictionary") == 0 ||
                                  strcmp(b->err_code, "unsupported_version") == 0)));
        return;
    }
    assert(r == 0 && status == 200);
    assert(b->plain_len <= BATCH_MAX_PLAIN && b->nrows <= BATCH_MAX_ROWS);
    assert(b->ntables <= 16);
    for (int i = 0; i < b->ntables; i++) {
        const struct batch_table *t = &b->tables[i];
        const char *line = t->copy;
        int kept = 0, lines = 0, fields = -1;
        for (int k = 0; k < t->nrows; k++)
            kept += t->seq[k] > 0;
        while (line && line < t->copy + t->copy_len) {
            const char *end = memchr(line, '\n', (size_t)(t->copy + t->copy_len - line));
            int nf = 1;
            assert(end);                        /* every line ends */
            for (const char *c = line; c < end; c++)
                nf += *c == '\t';
            assert(fields < 0 || nf == fields); /* no cell spills into another */
            fields = nf;
            lines++;
            line = end + 1;
        }
        assert(lines == kept);
    }
}

/* ------------------------------------------------------------ the property mode */

enum ty { ID, ORIGIN, HLC, BIT, TS, TEXT, JSON, DATE, INT, LON, LAT };
struct col { const char *name; enum ty ty; int req; };

#define COMMON { "id", ID, 1 }, { "origin", ORIGIN, 1 }, { "hlc", HLC, 1 }, \
    { "deleted", BIT, 1 }, { "created_at", TS, 1 }, { "updated_at", TS, 1 }
/* The columns of hub/hub_batch.c, in its order (the COPY order). */
static const struct col case_report[] = { COMMON,
    { "ref", TEXT, 1 }, { "kind", TEXT, 1 }, { "village", TEXT, 1 }, { "syndrome", TEXT, 0 },
    { "signs", JSON, 0 }, { "animals", JSON, 1 }, { "ddx", JSON, 0 },
    { "event_date", DATE, 1 }, { "reporter", TEXT, 0 }, { "note", TEXT, 0 },
    { "lon", LON, 0 }, { "lat", LAT, 0 }, { 0, 0, 0 } };
static const struct col treatment[] = { COMMON,
    { "case_id", TEXT, 0 }, { "village", TEXT, 1 }, { "species", TEXT, 1 },
    { "drug", TEXT, 1 }, { "n_animals", INT, 1 }, { "event_date", DATE, 1 },
    { "reporter", TEXT, 0 }, { "note", TEXT, 0 }, { 0, 0, 0 } };

struct src {
    const uint8_t *p;
    size_t n;
};

static unsigned rd(struct src *s)
{
    if (s->n == 0)
        return 0;
    s->n--;
    return *s->p++;
}

static uint64_t rd64(struct src *s)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | rd(s);
    return v;
}

/* A JSON string of s (UTF-8, no NUL). */
static void json_str(struct strbuf *o, const char *s)
{
    strbuf_add(o, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            strbuf_fmt(o, "\\%c", c);
        else if (c < 0x20)
            strbuf_fmt(o, "\\u%04x", c);
        else
            strbuf_add(o, s, 1);
    }
    strbuf_add(o, "\"", 1);
}

/* COPY text of s, as the hub escapes it. */
static void copy_str(struct strbuf *o, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '\\': strbuf_add(o, "\\\\", 2); break;
        case '\n': strbuf_add(o, "\\n", 2); break;
        case '\r': strbuf_add(o, "\\r", 2); break;
        case '\t': strbuf_add(o, "\\t", 2); break;
        default: strbuf_add(o, s, 1);
        }
    }
}

/* Any valid UTF-8 text up to 48 code points, without NUL. */
static void text(struct src *s, char *out)
{
    size_t n = rd(s) % 49, k = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned c = rd(s);
        if (c >= 1 && c < 0x80) {
            out[k++] = (char)c;
        } else if (c < 0xc0) {                      /* U+0080 .. U+07FF */
            unsigned cp = 0x80 + (c << 3) % 0x780;
            out[k++] = (char)(0xc0 | cp >> 6);
            out[k++] = (char)(0x80 | (cp & 0x3f));
        } else if (c < 0xf0) {                      /* U+0800 .. U+FFFF, no surrogates */
            unsigned cp = 0x800 + (c * 977u + rd(s)) % 0xd000;
            out[k++] = (char)(0xe0 | cp >> 12);
            out[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
            out[k++] = (char)(0x80 | (cp & 0x3f));
        } else {                                    /* U+10000 .. U+10FFFF */
            unsigned cp = 0x10000 + (c * 65537u + rd(s) * 257u + rd(s)) % 0x100000;
            out[k++] = (char)(0xf0 | cp >> 18);
            out[k++] = (char)(0x80 | ((cp >> 12) & 0x3f));
            out[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
            out[k++] = (char)(0x80 | (cp & 0x3f));
        }
    }
    out[k] = 0;
}

static void uuid(struct src *s, char *out)
{
    uint8_t b[16];
    for (int i = 0; i < 16; i++)
        b[i] = (uint8_t)rd(s);
    sprintf(out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
            b[12], b[13], b[14], b[15]);
}

/* One cell: its JSON in js, its COPY text in cp. */
static void cell(struct src *s, const struct col *c, struct strbuf *js, struct strbuf *cp)
{
    char buf[256];

    switch (c->ty) {
    case ID: case ORIGIN:
        if (c->ty == ORIGIN && rd(s) % 4 == 0)
            strcpy(buf, "central");
        else
            uuid(s, buf);
        json_str(js, buf);
        strbuf_str(cp, buf);
        return;
    case HLC: {
        uint64_t v = rd64(s) % ((uint64_t)INT64_MAX + 1);
        if (rd(s) & 1) {
            snprintf(buf, sizeof(buf), "\"%llu\"", (unsigned long long)v);
        } else {
            v %= 9007199254740993ull;           /* exact as a JSON number */
            snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
        }
        strbuf_str(js, buf);
        strbuf_fmt(cp, "%llu", (unsigned long long)v);
        return;
    }
    case BIT: case INT: {
        unsigned v = c->ty == BIT ? rd(s) & 1 : (unsigned)(rd64(s) % 2147483648u);
        strbuf_fmt(js, "%u", v);
        strbuf_fmt(cp, "%u", v);
        return;
    }
    case TS: case DATE: {
        int n = snprintf(buf, sizeof(buf), "%04u-%02u-%02u", 1 + rd(s) * 37 % 9999,
                         1 + rd(s) % 12, 1 + rd(s) % 28);
        if (c->ty == TS) {
            static const char *const zones[] = { "Z", "", "+07:00", "-03", "+14:00" };
            unsigned frac = rd(s) % 7;
            n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%c%02u:%02u:%02u",
                          rd(s) & 1 ? 'T' : ' ', rd(s) % 24, rd(s) % 60, rd(s) % 60);
            if (frac)
                n += snprintf(buf + n, sizeof(buf) - (size_t)n, ".%.*s", (int)frac,
                              "123456");
            snprintf(buf + n, sizeof(buf) - (size_t)n, "%s", zones[rd(s) % 5]);
        }
        json_str(js, buf);
        strbuf_str(cp, buf);
        return;
    }
    case TEXT:
        text(s, buf);
        json_str(js, buf);
        copy_str(cp, buf);
        return;
    case JSON: {
        unsigned n = rd(s) % 4, k;
        struct strbuf a = { 0 };
        strbuf_add(&a, "[", 1);
        for (k = 0; k < n; k++) {
            if (k)
                strbuf_add(&a, ",", 1);
            if (rd(s) & 1)
                strbuf_fmt(&a, "{\"species\":\"%c%c\",\"sick\":%u}", 'A' + rd(s) % 26,
                         'A' + rd(s) % 26, rd(s));
            else
                strbuf_fmt(&a, "\"%c%u\"", 'A' + rd(s) % 26, rd(s));
        }
        strbuf_add(&a, "]", 1);
        assert(!a.err);
        strbuf_add(js, a.p, a.len);
        strbuf_add(cp, a.p, a.len);
        free(a.p);
        return;
    }
    case LON: case LAT: {
        double lim = c->ty == LON ? 180 : 90;
        double v = (double)(int)(rd64(s) % (uint64_t)(2 * lim * 1000 + 1)) / 1000.0 - lim;
        strbuf_fmt(js, "%.17g", v);
        strbuf_fmt(cp, "%.9g", v);
        return;
    }
    }
}

#define MAX_ROWS 24
#define MAX_COLS 20

struct table_in {
    const char *name;
    const struct col *cols;
    int ncols;
    int nrows;
    struct strbuf copy;           /* the COPY text the hub must make */
    int64_t seq[MAX_ROWS];      /* and its seq array */
};

/* Adds one table block to the batch js, its rows numbered from *seq + 1,
 * and fills in what the decoder must make of it. */
static void table(struct src *s, struct table_in *t, struct strbuf *js, int64_t *seq)
{
    static struct strbuf jc[MAX_ROWS][MAX_COLS], cc[MAX_ROWS][MAX_COLS];
    int order[MAX_COLS + 1], n = 0, bad[MAX_ROWS];
    char ids[MAX_ROWS][40];

    for (t->ncols = 0; t->cols[t->ncols].name; t->ncols++)
        ;
    assert(t->ncols <= MAX_COLS);
    /* the node's cols: seq (-1) and every column it sends, in any order */
    order[n++] = -1;
    for (int k = 0; k < t->ncols; k++)
        if (t->cols[k].req || rd(s) % 4 != 0)
            order[n++] = k;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rd(s) % (unsigned)(i + 1)), x = order[i];
        order[i] = order[j];
        order[j] = x;
    }
    t->nrows = 1 + (int)(rd(s) % MAX_ROWS);
    for (int r = 0; r < t->nrows; r++) {
        int sent[MAX_COLS] = { 0 };
        for (int i = 0; i < n; i++)
            if (order[i] >= 0)
                sent[order[i]] = 1;
        uuid(s, ids[r]);
        if (r > 0 && rd(s) % 4 == 0)     /* an id again: only its last row counts */
            memcpy(ids[r], ids[rd(s) % (unsigned)r], sizeof(ids[r]));
        bad[r] = -1;
        if (rd(s) % 8 == 0) {            /* a required text left null: the row is refused */
            int k = 6 + (int)(rd(s) % (unsigned)(t->ncols - 6));
            if (t->cols[k].req && t->cols[k].ty == TEXT)
                bad[r] = k;
        }
        for (int k = 0; k < t->ncols; k++) {
            jc[r][k].len = cc[r][k].len = 0;
            if (k == 0) {
                json_str(&jc[r][k], ids[r]);
                strbuf_str(&cc[r][k], ids[r]);
            } else if (!sent[k] || k == bad[r] || (!t->cols[k].req && rd(s) % 4 == 0)) {
                strbuf_str(&jc[r][k], "null");
                strbuf_str(&cc[r][k], t->cols[k].ty == JSON ? "[]" : "\\N");
            } else {
                cell(s, &t->cols[k], &jc[r][k], &cc[r][k]);
            }
        }
    }
    /* the block's JSON */
    strbuf_fmt(js, "{\"table\":\"%s\",\"cols\":[", t->name);
    for (int i = 0; i < n; i++)
        strbuf_fmt(js, "%s\"%s\"", i ? "," : "", order[i] < 0 ? "seq" : t->cols[order[i]].name);
    strbuf_str(js, "],\"rows\":[");
    for (int r = 0; r < t->nrows; r++) {
        strbuf_str(js, r ? ",[" : "[");
        for (int i = 0; i < n; i++) {
            if (i)
                strbuf_add(js, ",", 1);
            if (order[i] < 0)
                strbuf_fmt(js, "%lld", (long long)(*seq + r + 1));
            else
                strbuf_add(js, jc[r][order[i]].p, jc[r][order[i]].len);
        }
        strbuf_add(js, "]", 1);
    }
    strbuf_str(js, "]}");
    /* what the decoder must make of it */
    memset(&t->copy, 0, sizeof(t->copy));
    for (int r = 0; r < t->nrows; r++) {
        int later = 0;
        t->seq[r] = *seq + r + 1;
        for (int q = r + 1; q < t->nrows; q++)
            later |= strcmp(ids[q], ids[r]) == 0;
        if (later) {
            t->seq[r] = -t->seq[r];
            continue;
        }
        strbuf_fmt(&t->copy, "%lld\t", (long long)t->seq[r]);
        if (bad[r] >= 0) {
            strbuf_fmt(&t->copy, "bad_value\t%s: missing value\t%s", t->cols[bad[r]].name,
                     ids[r]);
            for (int k = 1; k < t->ncols; k++)
                strbuf_str(&t->copy, "\t\\N");
        } else {
            strbuf_str(&t->copy, "\\N\t\\N");
            for (int k = 0; k < t->ncols; k++) {
                strbuf_add(&t->copy, "\t", 1);
                if (cc[r][k].len)           /* an empty text has no buffer */
                    strbuf_add(&t->copy, cc[r][k].p, cc[r][k].len);
            }
        }
        strbuf_add(&t->copy, "\n", 1);
    }
    *seq += t->nrows;
}

/* Encodes a batch of case_report and/or treatment rows and checks that it
 * decodes to exactly the expected COPY lines. */
static void roundtrip(struct src *s)
{
    static const enum batch_enc encs[] = { ENC_ZSTD, ENC_ZSTD, ENC_GZIP, ENC_IDENTITY };
    struct table_in t[2] = { { .name = "case_report", .cols = case_report },
                             { .name = "treatment", .cols = treatment } };
    unsigned which = 1 + rd(s) % 3;            /* 1, 2 or both */
    enum batch_enc enc = encs[rd(s) % 4];
    struct strbuf js = { 0 };
    int64_t seq = 0, extra = rd(s) % 3;
    int nt = 0, status, r;
    struct batch b;
    char *body;
    size_t len;

    strbuf_str(&js, "{\"tables\":[");
    for (int i = 0; i < 2; i++) {
        if (!(which & (1u << i)))
            continue;
        if (nt++)
            strbuf_add(&js, ",", 1);
        table(s, &t[i], &js, &seq);
    }
    /* the header after the tables: the node is free to order keys */
    strbuf_fmt(&js, "],\"v\":1,\"node\":\"%s\",\"last_seq\":%lld,\"hlc\":\"%u\"}", NODE,
             (long long)(seq + extra), rd(s));
    assert(!js.err);
    encode(js.p, js.len, enc, &body, &len);
    r = decode(&b, body, len, enc, 1, &status);
    if (r != 0)
        fprintf(stderr, "refused: %s: %s\n%.*s\n", b.err_code, b.err_msg, (int)js.len, js.p);
    assert(r == 0 && status == 200);
    check_any(&b, r, status);
    assert(b.last_seq == seq + extra && b.ntables == nt);
    for (int i = 0, k = 0; i < 2; i++) {
        const struct batch_table *bt;
        if (!(which & (1u << i)))
            continue;
        bt = &b.tables[k++];
        assert(strcmp(record_kinds[bt->kind].table, t[i].name) == 0);
        assert(bt->nrows == t[i].nrows);
        assert(memcmp(bt->seq, t[i].seq, sizeof(int64_t) * (size_t)t[i].nrows) == 0);
        if (bt->copy_len != t[i].copy.len || memcmp(bt->copy, t[i].copy.p, bt->copy_len)) {
            fprintf(stderr, "COPY text differs:\n--- decoded\n%.*s--- expected\n%.*s",
                    (int)bt->copy_len, bt->copy, (int)t[i].copy.len, t[i].copy.p);
            abort();
        }
        free(t[i].copy.p);
    }
    batch_clear(&b);
    free(body);
    free(js.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum batch_enc encs[] = { ENC_IDENTITY, ENC_GZIP, ENC_ZSTD, ENC_GZIP,
                                           ENC_ZSTD, ENC_IDENTITY };
    struct src s = { data + 1, size ? size - 1 : 0 };
    struct batch b;
    int status, r, mode;
    char *body;
    size_t len;

    batch_global_init();
    if (size < 1)
        return 0;
    mode = data[0] % 8;
    if (mode >= 6) {
        roundtrip(&s);
        return 0;
    }
    if (mode == 1 || mode == 2) {
        encode((const char *)data + 1, size - 1, encs[mode], &body, &len);
    } else {
        body = malloc(size);
        assert(body);
        memcpy(body, data + 1, size - 1);
        len = size - 1;
    }
    /* what admission reads of the body (hub_admit.c): never more than the cap,
     * and for a body that inflates, what it did inflate to (mode 1, 2) */
    assert(batch_plain_size(body, len, encs[mode]) <= BATCH_MAX_PLAIN);
    r = decode(&b, body, len, encs[mode], mode != 5, &status);
    check_any(&b, r, status);
    if (r == 0 && (mode == 1 || mode == 2))
        assert(batch_plain_size(body, len, encs[mode]) == b.plain_len);
    if (mode == 5)
        assert(r < 0 && strcmp(b.err_code, "digest_mismatch") == 0);
    batch_clear(&b);
    free(body);
    return 0;
}
