/* batch-columnar.c - the columnar batch encoder (sync/batch_colenc.c) from
 * the command line, for tests/bench/bytes-bench.py and tools/train-dict.sh:
 *
 *   batch-columnar < batch.json > batch.skc     the columnar form
 *   batch-columnar -d < batch.skc > batch.json  back to JSON (cJSON's print)
 *
 * Exit status 1 when the input is not a batch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "batch.h"
#include "batch_col.h"
#include "strbuf.h"

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
    if (argc > 1 && strcmp(argv[1], "-d") == 0) {
        cJSON *doc = NULL;
        char *s;
        r = batch_col_parse(in.p, in.len, &doc, err, sizeof(err));
        if (r < 0) {
            fprintf(stderr, "batch-columnar: %s\n", err);
            return 1;
        }
        s = cJSON_PrintUnformatted(doc);
        fputs(s, stdout);
        cJSON_free(s);
        cJSON_Delete(doc);
    } else {
        r = batch_columnar(in.p, in.len, &out);
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
