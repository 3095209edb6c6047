/* fuzz-col-decode.c - the columnar push batch (sync/batch_coldec.c,
 * docs/protocol.md §4.8) through the hub's decoder, batch_decode(). Byte
 * 0 picks the mode; the rest is its material:
 *   0: the rest is a columnar body, as a node would send it uncompressed
 *      (the target digests it). Any answer is fine, but a refusal says why
 *      with a status of 400, 413, 415 or 503, and an accepted batch is
 *      within the caps.
 *   1: the rest is a JSON batch. When the node's encoder takes it
 *      (batch_columnar()), its columnar form must decode to exactly what
 *      it decodes to: the same answer, rows and COPY lines.
 *   2: as 0, but the first 4 bytes of the rest are replaced by the SKC
 *      header, so that the fuzzer spends its time past it.
 * Every columnar body is also decoded while streaming (its seqs and ids
 * first, then its rows in steps) twice: with each row's COPY line written
 * straight from the columns (batch_col_cells(), what the hub does) and with
 * each row made as a cJSON tree first (batch_col_tree, the path before it).
 * Both must give the very same answer, error message, seqs, ids and COPY
 * text, byte for byte, as the whole decoding (the tree path). */
#undef NDEBUG                   /* the checks below are the point */
#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "batch_col.h"
#include "same_streamed.h"
#include "hex.h"
#include "strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NODE "0190f5c2-6c1e-7a3b-9b1e-1c2d3e4f5a6b"

/* The whole way, checked against the streamed way. */
static int decode(struct batch *b, const char *body, size_t len, int *status)
{
    char hex[65], digest[80];
    int r;

    sha256_hex(body, len, hex);
    snprintf(digest, sizeof(digest), "sha256=%s", hex);
    r = batch_decode(b, body, len, ENC_IDENTITY, digest, NODE, 0, status);
    batch_col_tree = 1;
    same_streamed(b, r, *status, body, len, ENC_IDENTITY, digest, NODE, 0);
    batch_col_tree = 0;
    same_streamed(b, r, *status, body, len, ENC_IDENTITY, digest, NODE, 0);
    return r;
}

static void check_answer(const struct batch *b, int r, int status)
{
    if (r < 0) {
        assert(status == 400 || status == 413 || status == 415 || status == 503);
        assert(b->err_code[0] && b->err_msg[0]);
        return;
    }
    assert(status == 200 && b->nrows <= BATCH_MAX_ROWS && b->ntables <= 16);
    for (int t = 0; t < b->ntables; t++) {
        int lines = 0;
        for (size_t i = 0; i < b->tables[t].copy_len; i++)
            lines += b->tables[t].copy[i] == '\n';
        for (int i = 0; i < b->tables[t].nrows; i++)
            lines -= b->tables[t].seq[i] > 0;
        assert(lines == 0);     /* one line per row kept */
    }
}

static void both_ways(const char *json, size_t len)
{
    struct strbuf col = { 0 };
    struct batch a, b;
    int sa, sb, ra, rb;

    if (batch_columnar(json, len, &col) < 0) {
        strbuf_free(&col);
        return;
    }
    ra = decode(&a, json, len, &sa);
    rb = decode(&b, col.p, col.len, &sb);
    assert(ra == rb && sa == sb && strcmp(a.err_code, b.err_code) == 0);
    assert(a.nrows == b.nrows && a.ntables == b.ntables && a.last_seq == b.last_seq &&
           a.base_seq == b.base_seq && a.hlc == b.hlc);
    for (int t = 0; t < a.ntables; t++) {
        assert(a.tables[t].kind == b.tables[t].kind && a.tables[t].nrows == b.tables[t].nrows);
        assert(a.tables[t].copy_len == b.tables[t].copy_len);
        assert(a.tables[t].copy_len == 0 ||
               memcmp(a.tables[t].copy, b.tables[t].copy, a.tables[t].copy_len) == 0);
        assert(a.tables[t].nrows == 0 ||
               memcmp(a.tables[t].seq, b.tables[t].seq,
                      (size_t)a.tables[t].nrows * sizeof(int64_t)) == 0);
    }
    batch_clear(&a);
    batch_clear(&b);
    strbuf_free(&col);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct batch b;
    char *body;
    int status, r;

    batch_global_init();
    if (size < 1)
        return 0;
    body = malloc(size);
    assert(body);
    memcpy(body, data + 1, size - 1);
    if (data[0] % 3 == 1) {
        both_ways(body, size - 1);
    } else {
        if (data[0] % 3 == 2 && size - 1 >= 4)
            memcpy(body, "SKC\x01", 4);
        r = decode(&b, body, size - 1, &status);
        check_answer(&b, r, status);
        batch_clear(&b);
    }
    free(body);
    return 0;
}
