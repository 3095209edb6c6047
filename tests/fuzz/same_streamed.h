/* same_streamed.h - for the decoder fuzz targets: the streamed decoding
 * (batch_decode_stream(): a batch's seqs and ids first, then its rows in
 * steps) of a body must give what the whole decoding gave: the answer, the
 * error, the seqs, the ids and the COPY text. Included by one target each
 * (static functions). */
#ifndef SIKHNAS_FUZZ_SAME_STREAMED_H
#define SIKHNAS_FUZZ_SAME_STREAMED_H

#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"

static int same_streamed_ready;

static void same_streamed_on_ready(struct batch_stream *s)
{
    (void) s;
    same_streamed_ready++;
}

static void same_streamed_on_more(struct batch_stream *s)
{
    (void) s;
}

/* b, r and status are what batch_decode() gave for body (with enc, digest,
 * node and now as given here); aborts when the streamed way differs. */
static void same_streamed(const struct batch *b, int r, int status, const char *body,
                          size_t len, enum batch_enc enc, const char *digest,
                          const char *node, uint64_t now)
{
    struct batch_stream bs = { .ready = same_streamed_on_ready,
                               .more = same_streamed_on_more };
    struct batch c;
    int st, rc;

    pthread_mutex_init(&bs.lock, NULL);
    same_streamed_ready = 0;
    rc = batch_decode_stream(&c, body, len, enc, digest, node, now, &st, &bs);
    pthread_mutex_destroy(&bs.lock);
    if (rc != r || st != status || strcmp(c.err_code, b->err_code) ||
        strcmp(c.err_msg, b->err_msg)) {
        fprintf(stderr, "whole: %d %d %s %s; streamed: %d %d %s %s\n", r, status,
                b->err_code, b->err_msg, rc, st, c.err_code, c.err_msg);
        abort();
    }
    assert(same_streamed_ready <= 1 && (rc < 0 || same_streamed_ready == 1));
    for (int i = 0; rc == 0 && i < b->ntables; i++) {
        const struct batch_table *x = &b->tables[i], *y = &c.tables[i];
        assert(x->kind == y->kind && x->nrows == y->nrows && y->done);
        assert(x->nrows == 0 ||
               memcmp(x->seq, y->seq, sizeof(int64_t) * (size_t)x->nrows) == 0);
        assert(x->copy_len == y->copy_len && (x->copy_len == 0 ||
               memcmp(x->copy, y->copy, x->copy_len) == 0));
        assert(strcmp(x->ids, y->ids) == 0);
    }
    assert(rc < 0 || (c.ntables == b->ntables && c.last_seq == b->last_seq &&
                      c.base_seq == b->base_seq && c.hlc == b->hlc &&
                      c.min_seq == b->min_seq && c.nrows == b->nrows));
    batch_clear(&c);
}

#endif
