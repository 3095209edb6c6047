/* fuzz-hub-direct.c - the hub's split of a decoded table block between the
 * direct COPY and the SQL way (hub/hub_direct.c, direct_split()), which
 * parses COPY lines and the JSON of code and herd cells. The first byte
 * picks the record kind, the rest is the block's COPY text (as the decoder
 * would write it, or anything else). Any input is fine, but every line
 * above the mark (seq > 0 here) lands on exactly one side, a direct line has the table's
 * column count, and the probe's id list is a well-formed text[] literal. */
#undef NDEBUG                   /* the checks below are the point */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "hub_direct.h"
#include "hub_refcache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct refcache *rc;

/* A copy of the reference data: a few codes of each list and the areas of
 * one village, made as a result of REFCACHE_LOAD_SQL would be. */
static void cache_init(void)
{
    static const char *const rows[][3] = {
        { "1", NULL, NULL }, { NULL, "species", "SP" }, { NULL, "species", "KB" },
        { NULL, "sign", "DMM" }, { NULL, "syndrome", "MMD" }, { NULL, "disease", "AI" },
        { NULL, "outcome", "SEMBUH" }, { NULL, "role", "vet" }, { "2", NULL, "3201" },
        { "3", NULL, "3201011" }, { "4", NULL, "3201011001" }, { "4", NULL, "3202011001" } };
    PGresAttDesc attrs[3];
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);

    memset(attrs, 0, sizeof(attrs));
    for (int i = 0; i < 3; i++) {
        attrs[i].name = (char *)"c";
        attrs[i].format = 0;
        attrs[i].typid = 25;
        attrs[i].typlen = -1;
        attrs[i].atttypmod = -1;
    }
    assert(res && PQsetResultAttrs(res, 3, attrs));
    for (int i = 0; i < (int)(sizeof(rows) / sizeof(rows[0])); i++)
        for (int c = 0; c < 3; c++)
            assert(PQsetvalue(res, i, c, (char *)rows[i][c],
                              rows[i][c] ? (int)strlen(rows[i][c]) : -1));
    assert(refcache_new(&rc) == 0 && refcache_load(rc, res) == 0 && refcache_version(rc) == 1);
    PQclear(res);
}

/* The lines of the block above the mark (their seq, as strtoll() reads it). */
static int lines_above(const char *p, size_t n, int64_t acked)
{
    int lines = 0;

    for (const char *q = p, *end = p + n; q < end;) {
        const char *nl = memchr(q, '\n', (size_t)(end - q));
        lines += strtoll(q, NULL, 10) > acked;
        q = nl ? nl + 1 : end;
    }
    return lines;
}

static int count_lines(const char *p, size_t n)
{
    int lines = 0;

    for (size_t i = 0; i < n; i++)
        lines += p[i] == '\n';
    return lines;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct direct_ctx x = { .node = "01a236ea-7b0c-7968-9815-b55adb028c65", .district = "3201",
                            .acked = 0, .src_batch = 7, .src_hlc = 9 };
    struct batch_table t = { 0 };
    struct direct_split s = { 0 };
    char *ids;
    int synced = 0, lines;

    if (!rc)
        cache_init();
    x.rc = rc;
    if (size < 1)
        return 0;
    for (int i = 0; i < record_kinds_count; i++)
        synced += record_kinds[i].synced;
    t.kind = data[0] % synced;
    t.copy = malloc(size);
    assert(t.copy);
    memcpy(t.copy, data + 1, size - 1);
    t.copy_len = size - 1;
    t.copy[t.copy_len] = 0;            /* the decoder's COPY text is NUL-terminated */
    t.nrows = count_lines(t.copy, t.copy_len) + 1;
    assert(direct_split(&x, &t, NULL, &s) == 0);
    /* every line above the mark goes one way or the other */
    lines = lines_above(t.copy, t.copy_len, x.acked);
    assert(s.ndirect + s.ntmp == lines);
    assert(count_lines(s.direct.p ? s.direct.p : "", s.direct.len) == s.ndirect);
    assert(s.tmp.len <= t.copy_len + 1);
    ids = direct_probe_ids(&t);
    assert(ids && ids[0] == '{' && ids[strlen(ids) - 1] == '}');
    free(ids);
    direct_split_clear(&s);
    free(t.copy);
    return 0;
}
