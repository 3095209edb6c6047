/* batch-columnar.c - the columnar batch encoder (sync/batch_colenc.c) from
 * the command line, for tests/bench/bytes-bench.py and tools/train-dict.sh:
 *
 *   batch-columnar < batch.json > batch.skc     the columnar form
 *   batch-columnar -2 < batch.json > batch.skc  the columnar form, version 2
 *   batch-columnar -d [NODE] < batch.skc > batch.json
 *                                               back to JSON (cJSON's print;
 *                                               version 2 takes the node)
 *   batch-columnar -e V < batch.json > body     the body a node sends (batch_encode():
 *                                               columnar version V, 0 for JSON, zstd -3
 *                                               with the dictionary of that form)
 *   batch-columnar -t NODE < batch.json         the hub's decode (batch_decode())
 *                                               of each form, ms (best of 5)
 *
 * Exit status 1 when the input is not a batch. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "batch.h"
#include "batch_col.h"
#include "hex.h"
#include "strbuf.h"

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The best of 5 decodes of body, ms. */
static double decode_ms(const char *body, size_t len, const char *node)
{
    char hex[65], digest[80];
    double best = 1e9;

    sha256_hex(body, len, hex);
    snprintf(digest, sizeof(digest), "sha256=%s", hex);
    for (int i = 0; i < 5; i++) {
        struct batch b;
        int status;
        double t = now_ms();
        if (batch_decode(&b, body, len, ENC_IDENTITY, digest, node, 0, &status) < 0)
            fprintf(stderr, "batch-columnar: %s: %s\n", b.err_code, b.err_msg);
        t = now_ms() - t;
        best = t < best ? t : best;
        batch_clear(&b);
    }
    return best;
}

int main(int argc, char **argv)
{
    struct strbuf in = { 0 }, out = { 0 };
    char buf[65536], err[160];
    size_t n;
    int r;

    while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
        strbuf_add(&in, buf, n);
    if (in.err || !in.p)
        return 1;
    if (argc > 2 && strcmp(argv[1], "-e") == 0) {
        char *body = NULL;
        size_t len = 0;
        r = batch_encode(in.p, in.len, atoi(argv[2]), ENC_ZSTD_DICT, NULL, &body, &len);
        if (r < 0)
            return 1;
        fwrite(body, 1, len, stdout);
        free(body);
    } else if (argc > 2 && strcmp(argv[1], "-t") == 0) {
        batch_global_init();
        r = batch_columnar(in.p, in.len, &out);
        if (r < 0)
            return 1;
        printf("json %.1f ms, columnar %.1f ms\n", decode_ms(in.p, in.len, argv[2]),
               decode_ms(out.p, out.len, argv[2]));
    } else if (argc > 1 && strcmp(argv[1], "-d") == 0) {
        cJSON *doc = NULL;
        char *s;
        r = batch_col_parse_node(in.p, in.len, argc > 2 ? argv[2] : NULL, &doc, err,
                                 sizeof(err));
        if (r < 0) {
            fprintf(stderr, "batch-columnar: %s\n", err);
            return 1;
        }
        s = cJSON_PrintUnformatted(doc);
        fputs(s, stdout);
        cJSON_free(s);
        cJSON_Delete(doc);
    } else {
        r = batch_columnar_v(in.p, in.len, argc > 1 && strcmp(argv[1], "-2") == 0 ? 2 : 1, &out);
        if (r < 0) {
            fprintf(stderr, "batch-columnar: not a batch (%d)\n", r);
            return 1;
        }
        fwrite(out.p, 1, out.len, stdout);
    }
    strbuf_free(&in);
    strbuf_free(&out);
    return 0;
}
