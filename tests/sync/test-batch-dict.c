/* test-batch-dict.c - the zstd dictionary of push batches (sync/batch.c):
 * compiled in with its id, a batch made with it names it and comes back
 * byte for byte, it makes a small batch smaller than plain zstd, a frame
 * made without it (an old node) still inflates, and a frame naming a
 * dictionary this build lacks is refused as -ENOENT, not misread; a
 * columnar batch goes with the dictionary of columnar batches; the size a
 * body says it inflates to (batch_plain_size, for admission). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "testlib.h"

/* A small batch as a node writes it: n case reports with a note. */
static void sample(struct strbuf *b, int n)
{
    const struct record_kind *k = &record_kinds[record_kind_index("case_report")];
    char row[1024];

    batch_write_head(b, "0192f5c2-6c1e-7a3b-9b1e-1c2d3e4f5a6b", n, 0, 113249877409382400ull);
    batch_write_table(b, k, 1);
    for (int i = 1; i <= n; i++) {
        snprintf(row, sizeof(row),
                 ",\"0192f5c3-%04x-7%03x-8c1e-%012x\",\"0192f5c2-6c1e-7a3b-9b1e-1c2d3e4f5a6b\","
                 "\"%llu\",0,\"2026-11-28T10:%02d:02Z\",\"2026-11-28T10:%02d:02Z\","
                 "\"3201-%06d\",\"U\",\"3201%03d%03d\",null,[\"KBG\",\"DMM\"],"
                 "[{\"species\":\"AY\",\"sick\":%d,\"dead\":%d,\"at_risk\":%d}],[],"
                 "\"2026-11-27\",\"+62812%07d\",\"Pak Slamet di dusun Sukamaju: %d ekor ayam "
                 "kampung lemas dan tidak mau makan sejak %d hari. Sudah diberi vitamin.\","
                 "106.%06d,-6.%06d", i * 7919 % 65536, i * 31 % 4096, i * 104729,
                 113249877409382400ull + (unsigned long long)i * 65536 * 997, i % 60, i % 60, i,
                 10 + i % 30, 1 + i % 18, 3 + i % 11, i % 3, 20 + i % 50, i * 37 % 10000000,
                 3 + i % 11, 1 + i % 6, i * 7331 % 1000000, i * 4211 % 1000000);
        batch_write_row(b, i, row, strlen(row), i == 1);
    }
    batch_write_table_end(b);
    batch_write_end(b);
}

int main(void)
{
    struct strbuf b = { 0 };
    char *plain = NULL, *dict = NULL, *back = NULL;
    size_t plain_len = 0, dict_len = 0, back_len = 0;
    void *zc = NULL;
    unsigned char *p;

    CHECK(batch_dict_ready() == 1);
    sample(&b, 20);
    CHECK(!b.err);
    CHECK(batch_deflate(b.p, b.len, ENC_ZSTD, &zc, &plain, &plain_len) == 0);
    CHECK(batch_deflate(b.p, b.len, ENC_ZSTD_DICT, &zc, &dict, &dict_len) == 0);
    CHECK(batch_frame_dict(plain, plain_len) == 0);
    CHECK(batch_frame_dict(dict, dict_len) == BATCH_DICT_ID);
    /* the size admission counts, read from the frame without inflating */
    CHECK(batch_plain_size(plain, plain_len, ENC_ZSTD) == b.len);
    CHECK(batch_plain_size(dict, dict_len, ENC_ZSTD) == b.len);
    CHECK(batch_plain_size(plain, 3, ENC_ZSTD) == BATCH_MAX_PLAIN);      /* cut: unknown */
    CHECK(batch_plain_size(b.p, b.len, ENC_IDENTITY) == b.len);
    {
        char *gz = NULL;
        size_t gz_len = 0;
        CHECK(batch_deflate(b.p, b.len, ENC_GZIP, &zc, &gz, &gz_len) == 0);
        CHECK(batch_plain_size(gz, gz_len, ENC_GZIP) == b.len);
        CHECK(batch_plain_size(gz, 10, ENC_GZIP) == BATCH_MAX_PLAIN);
        if (gz_len >= 4)
            memset(gz + gz_len - 4, 0xff, 4);                   /* ISIZE says 4 GiB */
        CHECK(batch_plain_size(gz, gz_len, ENC_GZIP) == BATCH_MAX_PLAIN);
        free(gz);
    }
    printf("# 20 case reports with notes: %zu bytes plain, %zu zstd, %zu zstd with the "
           "dictionary\n", b.len, plain_len, dict_len);
    CHECK(dict_len * 10 < plain_len * 9);                  /* at least a tenth smaller */
    CHECK_STR(batch_enc_name(ENC_ZSTD_DICT), "zstd");      /* the same Content-Encoding */
    /* both frames come back byte for byte through the one zstd decoder */
    CHECK(batch_inflate(dict, dict_len, ENC_ZSTD, BATCH_MAX_PLAIN, &back, &back_len) == 0);
    CHECK(back && back_len == b.len && memcmp(back, b.p, b.len) == 0);
    free(back);
    back = NULL;
    CHECK(batch_inflate(plain, plain_len, ENC_ZSTD, BATCH_MAX_PLAIN, &back, &back_len) == 0);
    CHECK(back && back_len == b.len && memcmp(back, b.p, b.len) == 0);
    free(back);
    back = NULL;
    /* a frame naming another dictionary (its id changed in the frame header) */
    p = memchr(dict, 0x01, 12);            /* BATCH_DICT_ID, little-endian: 01 00 48 53 */
    CHECK(p && memcmp(p, "\x01\x00\x48\x53", 4) == 0);
    if (p) {
        p[0] = 0x04;            /* 2 and 3 are the columnar batches' (below) */
        CHECK(batch_frame_dict(dict, dict_len) == BATCH_DICT_ID + 3);
        CHECK(batch_inflate(dict, dict_len, ENC_ZSTD, BATCH_MAX_PLAIN, &back, &back_len) ==
              -ENOENT);
    }
    free(plain);
    free(dict);
    /* a columnar batch goes with the dictionary of columnar batches */
    CHECK(batch_encode(b.p, b.len, 1, ENC_ZSTD, &zc, &plain, &plain_len) == 0);
    CHECK(batch_encode(b.p, b.len, 1, ENC_ZSTD_DICT, &zc, &dict, &dict_len) == 0);
    CHECK(batch_frame_dict(dict, dict_len) == BATCH_COLDICT_ID);
    printf("# the same, columnar: %zu zstd, %zu zstd with its dictionary\n", plain_len,
           dict_len);
    CHECK(dict_len * 10 < plain_len * 9);
    CHECK(batch_inflate(dict, dict_len, ENC_ZSTD, BATCH_MAX_PLAIN, &back, &back_len) == 0);
    CHECK(back && batch_is_columnar(back, back_len));
    free(back);
    back = NULL;
    free(plain);
    free(dict);
    /* columnar-2 with its own (version 3), smaller again */
    CHECK(batch_encode(b.p, b.len, 2, ENC_ZSTD_DICT, &zc, &dict, &plain_len) == 0);
    CHECK(batch_frame_dict(dict, plain_len) == BATCH_COLDICT2_ID);
    printf("# columnar-2: %zu zstd with its dictionary\n", plain_len);
    CHECK(plain_len < dict_len);
    CHECK(batch_inflate(dict, plain_len, ENC_ZSTD, BATCH_MAX_PLAIN, &back, &back_len) == 0);
    CHECK(back && batch_is_columnar(back, back_len) && back[3] == 2);
    free(back);
    free(dict);
    /* batch_encode_consume() (the node's push): the same body, and the
     * batch's storage freed, whether it succeeds or not */
    for (int v = 0; v <= 2; v++) {
        struct strbuf j = { 0 };
        char *body = NULL;
        size_t body_len = 0;

        strbuf_add(&j, b.p, b.len);
        CHECK(batch_encode(b.p, b.len, v, ENC_ZSTD_DICT, NULL, &dict, &dict_len) == 0);
        CHECK(batch_encode_consume(&j, v, ENC_ZSTD_DICT, &body, &body_len) == 0);
        CHECK(j.p == NULL && j.len == 0);
        CHECK(body && body_len == dict_len && memcmp(body, dict, body_len) == 0);
        free(body);
        free(dict);
        strbuf_add(&j, "{\"node\":1}", 10);
        CHECK(batch_encode_consume(&j, v ? v : 1, ENC_ZSTD_DICT, &body, &body_len) ==
              -EINVAL && j.p == NULL);
    }
    free(b.p);
    /* what a node sends: a new hub, an old one (columnar-1 only), older */
    CHECK(batch_columnar_choice("zstd, gzip, columnar-1, columnar-2, zstd-dict-1, zstd-dict-2, "
                                "zstd-dict-3", 1) == 2);
    CHECK(batch_columnar_choice("zstd, gzip, columnar-1, zstd-dict-1, zstd-dict-2", 1) == 1);
    CHECK(batch_columnar_choice("zstd, gzip, columnar-1, zstd-dict-1, zstd-dict-2", 0) == 1);
    CHECK(batch_columnar_choice("zstd, gzip, columnar-1, columnar-2, zstd-dict-1, zstd-dict-2",
                                1) == 1);     /* no dictionary 3: version 1 with 2 */
    CHECK(batch_columnar_choice("zstd, gzip, columnar-1, columnar-2", 0) == 2);
    CHECK(batch_columnar_choice("zstd, gzip, zstd-dict-1", 1) == 0);
    batch_zstd_free(zc);
    return t_done();
}
