/* test-batch-col.c - the columnar push batch (sync/batch_colenc.c,
 * batch_coldec.c) decodes to exactly what its JSON batch decodes to: for
 * every kind's columns, with NULLs, UTF-8, control characters, extreme
 * and malformed values (the hub refuses those rows the same way), in
 * written batches and in many random ones; and a damaged body (cut
 * short anywhere in its first 800 bytes and every 7th byte after, bytes
 * changed, a wrong version) is refused whole, with a reason, never half
 * read. All of it for version 1 and version 2 (columnar-2: no node in the
 * body, the hub's from the certificate; a head version 2 cannot carry
 * goes as version 1, as batch_encode() sends it). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "batch.h"
#include "batch_cell.h"
#include "batch_col.h"
#include "hex.h"
#include "strbuf.h"
#include "testlib.h"

#define NODE "0190f5c2-6c1e-7a3b-9b1e-1c2d3e4f5a6b"

static uint64_t rng = 88172645463325252ull;
static int ver = 1;             /* the version under test */
static int ver2_seen;           /* batches that went as version 2 */

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int decode(struct batch *b, const char *body, size_t len, int *status)
{
    char hex[65], digest[80];

    sha256_hex(body, len, hex);
    snprintf(digest, sizeof(digest), "sha256=%s", hex);
    return batch_decode(b, body, len, ENC_IDENTITY, digest, NODE, 0, status);
}

/* Both decodings of json: the same answer, head, tables and COPY lines. */
static int same_both_ways(const char *json, size_t len, int verbose)
{
    struct strbuf col = { 0 };
    struct batch a, b;
    int sa, sb, ra, rb, same;

    int r = batch_columnar_v(json, len, ver, &col);

    if (r == -EINVAL && ver == 2)
        r = batch_columnar_v(json, len, 1, &col);      /* as batch_encode() */
    if (r < 0)
        return 0;
    ver2_seen += col.p[3] == 2;
    ra = decode(&a, json, len, &sa);
    rb = decode(&b, col.p, col.len, &sb);
    same = ra == rb && sa == sb && strcmp(a.err_code, b.err_code) == 0 &&
           a.last_seq == b.last_seq && a.base_seq == b.base_seq && a.hlc == b.hlc &&
           a.min_seq == b.min_seq && a.nrows == b.nrows && a.ntables == b.ntables;
    for (int t = 0; same && t < a.ntables; t++) {
        const struct batch_table *x = &a.tables[t], *y = &b.tables[t];
        same = x->kind == y->kind && x->nrows == y->nrows && x->copy_len == y->copy_len &&
               (x->copy_len == 0 || memcmp(x->copy, y->copy, x->copy_len) == 0) &&
               (x->nrows == 0 || memcmp(x->seq, y->seq, (size_t)x->nrows * 8) == 0);
    }
    for (int t = 0; !same && verbose && t < a.ntables && t < b.ntables; t++) {
        const struct batch_table *x = &a.tables[t], *y = &b.tables[t];
        size_t i = 0, ls = 0;
        while (i < x->copy_len && i < y->copy_len && x->copy[i] == y->copy[i])
            if (x->copy[i++] == '\n')
                ls = i;
        if (i < x->copy_len || i < y->copy_len)
            printf("# table %d: json\n# %.300s\n# columnar\n# %.300s\n", t, x->copy + ls,
                   y->copy + ls);
    }
    if (!same && verbose)
        printf("# json %d %d %s / columnar %d %d %s (%s)\n# %.*s\n", ra, sa, a.err_code, rb, sb,
               b.err_code, b.err_msg, (int)(len > 600 ? 600 : len), json);
    batch_clear(&a);
    batch_clear(&b);
    strbuf_free(&col);
    return same;
}

/* ------------------------------------------------------------ cells */

/* Values for each column type: ordinary ones, edges, and bad ones (the
 * hub refuses their rows). "N" is a NULL; "R..." a raw JSON value. */
static const char *const ids[] = {
    "0190f5c2-6c1e-7a3b-9b1e-1c2d3e4f5a6b", "0190f5c2-6c1e-7a3b-ab1e-1c2d3e4f5a6c",
    "00000000-0000-7000-8000-000000000000", "ffffffff-ffff-7fff-bfff-ffffffffffff",
    "0190F5C2-6C1E-7A3B-9B1E-1C2D3E4F5A6B", "6f1c8a2e-3b4d-4e5f-8a6b-7c8d9e0f1a2b",
    "not-a-uuid", "N", "R17", "central", "",
};
static const char *const hlcs[] = {
    "R\"117711276829704195\"", "R\"117711276829704196\"", "R\"0\"", "R\"007\"",
    "R\"18446744073709551615\"", "R\"9223372036854775807\"", "R\"12a\"", "R1234", "N",
    "R\"\"", "R\"99999999999999999999\"",
};
static const char *const ints[] = {
    "R0", "R1", "R2", "R39", "R2147483647", "R2147483648", "R-1", "R9007199254740992",
    "R9007199254740993", "R1e300", "R1.5", "R-0", "R\"3\"", "N", "Rtrue", "R[1]",
};
static const char *const tss[] = {
    "R\"2026-12-01T13:25:43Z\"", "R\"2026-12-01T13:25:43.123Z\"", "R\"1970-01-01T00:00:00Z\"",
    "R\"0001-01-01T00:00:00.000Z\"", "R\"9999-12-31T23:59:59.999Z\"", "R\"1969-12-31T23:59:59Z\"",
    "R\"2024-02-29T12:00:00Z\"", "R\"2023-02-29T12:00:00Z\"", "R\"2026-12-01 13:25:43\"",
    "R\"2026-12-01T13:25:43+07:00\"", "R\"2026-12-01T13:25:43.1234567Z\"", "N", "R5",
    "R\"2026-12-01T13:25:43z\"", "R\"2026-12-01T24:00:00Z\"", "R\"2026-12-01T13:60:00Z\"",
    "R\"2026-12-01T13:25: 3Z\"", "R\"2026-12-01 13:25:43Z\"", "R\"2026-12-01T13:25:43,123Z\"",
    "R\"2026-12-01T13:25:43.12 Z\"", "R\"2026-12-01T13:25:43.-12Z\"",
};
static const char *const dates[] = {
    "R\"2026-12-01\"", "R\"2026-11-30\"", "R\"0001-01-01\"", "R\"9999-12-31\"",
    "R\"2023-02-29\"", "R\"2024-02-29\"", "R\"2026-1-1\"", "R\"+2026-01-01\"", "N", "R0",
    /* ten characters that are not the shape: each goes as text */
    "R\" 026-01-01\"", "R\"-026-01-01\"", "R\"+026-01-01\"", "R\"2026-01-0a\"",
    "R\"2026/01/01\"", "R\"2026-13-01\"", "R\"2026-00-10\"", "R\"0000-01-01\"",
    "R\"2026-04-31\"", "R\"2026-01- 1\"",
};
static const char *const coords[] = {
    "R106.518643", "R-6.563137", "R180", "R-180", "R90", "R-90", "R0", "R-0", "R-0.0",
    "R1e-7", "R106.1234567", "R181", "R1000.000001", "R1e300", "R0.000001", "N", "R\"1\"",
};
static const char *const texts[] = {
    "3201021015", "3201021016", "3201-000001", "3201-000002", "P-0001", "P-0002", "",
    "Pak Slamet di dusun Cibeureum: 12 ekor ayam kampung lemas dan batuk sejak 3 hari.",
    "sapi \"perah\" \\ tab\there\nnewline", "emoji \xf0\x9f\x90\x84 and \xe5\x85\xbd",
    "bad utf-8 \xc3\x28 \xff", "0000000000000000000000123", "123", "007", "R12", "N",
    "R[\"a\"]", "\x01\x02 control", "000000000000000001", "999999999999999999",
};
static const char *const jsons[] = {
    "R[]", "R[\"DMM\",\"DIA\"]", "R[{\"species\":\"AY\",\"sick\":12,\"dead\":3,\"at_risk\":120}]",
    "R[{\"species\":\"KD\",\"sick\":30,\"dead\":19,\"at_risk\":210,\"culled\":0,\"x\":-5}]",
    "R[1.5,-0,1e5,-12,9007199254740993,123456789012345678,0.1,\"-1\",[2,[3]]]",
    "R{\"a\":1}", "R[\"\\u0001 \\\" \\\\ \xe2\x82\xac\"]", "R\"not an array\"", "R7", "N",
    "R[-9223372036854775808,18446744073709551616]", "R[00]", "Rnull",
};

#define PICK(a) a[rnd() % (sizeof(a) / sizeof(a[0]))]

static void cell(struct strbuf *b, const char *v)
{
    if (strcmp(v, "N") == 0)
        batch_cell_null(b);
    else if (v[0] == 'R')
        strbuf_fmt(b, ",%s", v + 1);
    else
        batch_cell_text(b, v, strlen(v));
}

/* A row of kind k: ordinary values, or (odd) any value of its type. */
static void row_cells(struct strbuf *b, const struct record_kind *k, int i, int odd)
{
    char id[40], ts[32], hlc[32];

    snprintf(id, sizeof(id), "0190f5c2-%04x-7a3b-9b1e-%012llx", (unsigned)i & 0xffff,
             (unsigned long long)(rnd() & 0xffffffffffffull));
    snprintf(ts, sizeof(ts), "R\"2026-12-01T13:%02d:%02dZ\"", i / 60 % 60, i % 60);
    snprintf(hlc, sizeof(hlc), "R\"%llu\"", (117711276829704195ull + (uint64_t)i * 65536));
    for (int c = 0; c < k->ncols; c++) {
        const struct kind_col *kc = &k->cols[c];
        switch (kc->type) {
        case COL_ID: case COL_ORIGIN:
            cell(b, odd ? PICK(ids) : kc->type == COL_ID ? id : NODE);
            break;
        case COL_HLC: cell(b, odd ? PICK(hlcs) : hlc); break;
        case COL_BIT: case COL_INT: cell(b, odd ? PICK(ints) : ints[rnd() % 4]); break;
        case COL_TS: cell(b, odd ? PICK(tss) : ts); break;
        case COL_DATE: cell(b, odd ? PICK(dates) : dates[rnd() % 2]); break;
        case COL_LON: case COL_LAT: cell(b, odd ? PICK(coords) : coords[rnd() % 2]); break;
        case COL_JSON: cell(b, odd ? PICK(jsons) : jsons[rnd() % 4]); break;
        case COL_TEXT: cell(b, odd ? PICK(texts) : texts[rnd() % 8]); break;
        }
    }
}

/* A batch of every synced kind, nrows rows each, odd_pct percent odd. */
static void make_batch(struct strbuf *out, int nrows, int odd_pct)
{
    struct strbuf cells = { 0 };
    int first = 1, seq = 1;

    strbuf_reset(out);
    batch_write_head(out, NODE, 100000, 7, 117711276829704195ull);
    for (int t = 0; t < record_kinds_count; t++) {
        const struct record_kind *k = &record_kinds[t];
        if (!k->synced)
            continue;
        batch_write_table(out, k, first);
        first = 0;
        for (int i = 0; i < nrows; i++) {
            strbuf_reset(&cells);
            row_cells(&cells, k, i, (int)(rnd() % 100) < odd_pct);
            batch_write_row(out, seq++ + (int)(rnd() % 3), cells.p, cells.len, i == 0);
        }
        batch_write_table_end(out);
    }
    batch_write_end(out);
    strbuf_free(&cells);
}

/* ------------------------------------------------------------ tests */

static void test_same(void)
{
    static const char *const fixed[] = {
        "{\"v\":1,\"node\":\"" NODE "\",\"last_seq\":0,\"hlc\":\"1\",\"tables\":[]}",
        "{\"v\":1,\"node\":\"" NODE "\",\"last_seq\":5,\"hlc\":\"1\",\"tables\":[{\"table\":"
        "\"treatment\",\"cols\":[\"seq\",\"id\",\"extra\"],\"rows\":[[1,\"x\",2],[2,null,[]]]}]}",
        "{\"v\":2,\"node\":\"" NODE "\",\"last_seq\":5,\"hlc\":\"1\",\"tables\":[]}",
        "{\"v\":1,\"node\":\"0190f5c2-6c1e-7a3b-9b1e-000000000000\",\"last_seq\":5,"
        "\"tables\":[]}",
        "{\"v\":1,\"node\":\"" NODE "\",\"last_seq\":5,\"base_seq\":9,\"tables\":[]}",
        "{\"v\":1,\"node\":\"" NODE "\",\"last_seq\":5,\"hlc\":\"1\",\"tables\":[{\"table\":"
        "\"vaccination\",\"cols\":[\"seq\"],\"rows\":[]}]}",
        /* numbered strings whose prefixes are numbered again (over 18 digits) */
        "{\"v\":1,\"node\":\"" NODE "\",\"last_seq\":5,\"hlc\":\"1\",\"tables\":[{\"table\":"
        "\"treatment\",\"cols\":[\"seq\",\"drug\",\"owner_id\"],\"rows\":[[1,"
        "\"0000000000000000000000123\",\"x\"],[2,\"1000000000000000000000124\",\"x\"],[3,"
        "\"2000000000000000000000125\",\"y\"],[4,\"3000000000000000000000126\",null]]}]}",
        "{\"v\":1,\"node\":\"" NODE "\",\"last_seq\":5,\"tables\":[{\"table\":\"officer\","
        "\"cols\":[\"hlc\",\"seq\",\"id\",\"origin\",\"deleted\",\"created_at\",\"updated_at\","
        "\"name\",\"role\",\"phone\",\"district\",\"village\"],\"rows\":[[\"5\",9,null,\"central\""
        ",0,\"2026-12-01T00:00:00Z\",\"2026-12-01T00:00:00Z\",\"A\",\"r\",\"1\",\"3201\",null]]}]}",
    };
    struct strbuf b = { 0 };
    int all = 1;

    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        CHECK(same_both_ways(fixed[i], strlen(fixed[i]), 1));
    /* 200 rows whose texts are 25 digits: numbered twice over, every row */
    strbuf_reset(&b);
    strbuf_str(&b, "{\"v\":1,\"node\":\"" NODE "\",\"last_seq\":300,\"tables\":[{\"table\":"
               "\"treatment\",\"cols\":[\"seq\",\"drug\",\"owner_id\"],\"rows\":[");
    for (int i = 0; i < 200; i++)
        strbuf_fmt(&b, "%s[%d,\"%07d000000000000%06d\",\"%07d0000000000000000%02d\"]",
                   i ? "," : "", i + 1, i * 7, i, i, i % 100);
    strbuf_str(&b, "]}]}");
    CHECK(same_both_ways(b.p, b.len, 1));
    make_batch(&b, 3, 0);
    CHECK(same_both_ways(b.p, b.len, 1));
    make_batch(&b, 400, 0);
    CHECK(same_both_ways(b.p, b.len, 1));
    make_batch(&b, 50, 100);
    CHECK(same_both_ways(b.p, b.len, 1));
    for (int i = 0; i < 60 && all; i++) {
        make_batch(&b, 1 + (int)(rnd() % 40), (int)(rnd() % 101));
        all = same_both_ways(b.p, b.len, 1);
    }
    CHECK(all);                 /* 60 random batches, every kind */
    strbuf_free(&b);
}

static void test_refused(void)
{
    struct strbuf b = { 0 }, col = { 0 };
    struct batch x;
    int status, all = 1, r;
    char *c;

    make_batch(&b, 20, 20);
    CHECK(batch_columnar_v(b.p, b.len, ver, &col) == 0);
    CHECK(batch_is_columnar(col.p, col.len) && col.p[3] == ver);
    CHECK(col.len < b.len / 2);
    for (size_t n = 4; n < col.len && all; n += n < 800 ? 1 : 7) {   /* truncations */
        r = decode(&x, col.p, n, &status);
        all = r < 0 && status == 400 && strcmp(x.err_code, "bad_batch") == 0;
        if (!all)
            printf("# truncated at %zu of %zu: %d %d %s\n", n, col.len, r, status, x.err_code);
        batch_clear(&x);
    }
    CHECK(all);
    c = malloc(col.len);
    memcpy(c, col.p, col.len);
    c[3] = 3;                   /* a version this hub does not read */
    CHECK(decode(&x, c, col.len, &status) < 0 && status == 415);
    batch_clear(&x);
    for (int i = 0; i < 1000; i++) {   /* bytes changed: read or refused, never half */
        size_t at = 4 + rnd() % (col.len - 4);
        char was = c[at];
        c[3] = (char)ver;
        c[at] = (char)rnd();
        r = decode(&x, c, col.len, &status);
        if (r < 0 && (status != 400 && status != 413))
            all = 0;
        batch_clear(&x);
        c[at] = was;
    }
    CHECK(all);
    free(c);
    /* not a batch of batch_write_*(): the encoder says so */
    CHECK(batch_columnar("{\"v\":1}", 7, &col) == -EINVAL);
    {
        static const char nope[] = "{\"v\":1,\"tables\":[{\"table\":\"nope\",\"cols\":"
                                   "[\"seq\"],\"rows\":[]}]}";
        CHECK(batch_columnar(nope, sizeof(nope) - 1, &col) == -EINVAL);
    }
    strbuf_free(&b);
    strbuf_free(&col);
}

/* Version 2: fewer bytes; the node from the hub; heads it cannot carry. */
static void test_v2(void)
{
    struct strbuf b = { 0 }, c1 = { 0 }, c2 = { 0 };
    cJSON *doc = NULL;
    char err[160];
    const cJSON *node;

    make_batch(&b, 10, 0);
    CHECK(batch_columnar_v(b.p, b.len, 1, &c1) == 0 && batch_columnar_v(b.p, b.len, 2, &c2) == 0);
    CHECK(c2.len + 200 < c1.len);   /* the head, the names, the frames: more than 200 B */
    if (c2.len + 200 >= c1.len)
        printf("# version 1 %zu B, version 2 %zu B\n", c1.len, c2.len);
    /* the node is the one the hub names (its certificate's), origin too */
    CHECK(batch_col_parse_node(c2.p, c2.len, "0190f5c2-0000-7000-8000-000000000001", &doc, err,
                               sizeof(err)) == 0);
    node = cJSON_GetObjectItemCaseSensitive(doc, "node");
    CHECK(cJSON_IsString(node) &&
          strcmp(node->valuestring, "0190f5c2-0000-7000-8000-000000000001") == 0);
    cJSON_Delete(doc);
    doc = NULL;
    /* without a node (batch_col_parse()): refused, with the reason */
    CHECK(batch_col_parse(c2.p, c2.len, &doc, err, sizeof(err)) == -EBADMSG && !doc &&
          strstr(err, "certificate"));
    /* heads version 2 cannot carry: an uppercase node, a key more, no hlc */
    {
        static const char *const heads[] = {
            "{\"v\":1,\"node\":\"0190F5C2-6C1E-7A3B-9B1E-1C2D3E4F5A6B\",\"last_seq\":5,"
            "\"hlc\":\"1\",\"tables\":[]}",
            "{\"v\":1,\"node\":\"" NODE "\",\"last_seq\":5,\"hlc\":\"1\",\"x\":1,\"tables\":[]}",
            "{\"v\":1,\"node\":\"" NODE "\",\"last_seq\":5,\"tables\":[]}",
            "{\"v\":1,\"node\":\"" NODE "\",\"last_seq\":5.5,\"hlc\":\"1\",\"tables\":[]}",
            "{\"v\":1,\"node\":\"" NODE "\",\"last_seq\":5,\"hlc\":\"01\",\"tables\":[]}",
        };
        for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
            strbuf_reset(&c2);
            CHECK(batch_columnar_v(heads[i], strlen(heads[i]), 2, &c2) == -EINVAL);
        }
    }
    strbuf_free(&b);
    strbuf_free(&c1);
    strbuf_free(&c2);
}

/* batch_micro_text(): what %.9g and %.15g print, for every coordinate it
 * takes; 0 for what it does not (those go to snprintf). */
static void test_micro_text(void)
{
    static const double fixed[] = { 106.812345, -6.4, -6.40001, 0.0001, -0.0001, 0.000123,
                                    999.999999, -999.999999, 1, -1, 100, 0.5, 1e-7 };
    static const double not[] = { 0, -0.0, 0.00009, 1000, -1000, 1e300, 106.8123451,
                                  0.1 + 0.2, 1.0 / 3 };
    char buf[BATCH_MICRO_TEXT], want[64];
    size_t n;
    int all = 1;

    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]) + 20000; i++) {
        double v;
        if (i < sizeof(fixed) / sizeof(fixed[0]))
            v = fixed[i];
        else {
            static const long long coarse[] = { 1, 10, 100, 1000, 10000, 100000, 1000000 };
            long long u = (long long)(rnd() % 2000000000ull) - 1000000000ll, q = PICK(coarse);
            v = (double)(u / q * q) / 1e6;          /* 6 decimals, or fewer */
            if (v == 0)
                continue;
        }
        n = batch_micro_text(v, buf);
        snprintf(want, sizeof(want), "%.9g", v);
        if (fabs(v) < 1e-4 && n == 0)
            continue;
        all &= n > 0 && n == strlen(want) && memcmp(buf, want, n) == 0;
        snprintf(want, sizeof(want), "%.15g", v);
        all &= n == strlen(want) && memcmp(buf, want, n) == 0;
        if (!all) {
            printf("# batch_micro_text(%.17g): '%.*s', want '%s'\n", v, (int)n, buf, want);
            break;
        }
    }
    CHECK(all);
    for (size_t i = 0; i < sizeof(not) / sizeof(not[0]); i++)
        CHECK(batch_micro_text(not[i], buf) == 0);
    CHECK(batch_micro_text(NAN, buf) == 0 && batch_micro_text(INFINITY, buf) == 0);
}

/* The node's cells and rows (written by hand, not by vfprintf): what
 * "%lld", "\"%llu\"" and "%.15g" print, and a JSON cell as it is when it
 * is an array or object, as text otherwise. */
static void test_cells(void)
{
    static const long long some[] = { 0, 1, -1, 9, 10, -10, 123456789, LLONG_MAX, LLONG_MIN };
    static const struct { const char *in, *out; } json[] = {
        { "[1,2]", ",[1,2]" }, { "[1, 2]", ",[1, 2]" }, { "{\"a\":[\"b\\n\"]}", ",{\"a\":[\"b\\n\"]}" },
        { "[]", ",[]" }, { "7", ",\"7\"" }, { "\"s\"", ",\"\\\"s\\\"\"" }, { "[1,", ",\"[1,\"" },
        { "[1]x", ",\"[1]x\"" }, { "", ",\"\"" }, { "[1] ", ",[1] " }, { "[1] x", ",\"[1] x\"" },
    };
    struct strbuf b = { 0 };
    char want[64];
    int all = 1;

    for (size_t i = 0; i < sizeof(some) / sizeof(some[0]) + 2000; i++) {
        long long v = i < sizeof(some) / sizeof(some[0]) ? some[i] : (long long)rnd();
        strbuf_reset(&b);
        batch_cell_int(&b, v);
        snprintf(want, sizeof(want), ",%lld", v);
        all &= b.len == strlen(want) && memcmp(b.p, want, b.len) == 0;
        strbuf_reset(&b);
        batch_cell_hlc(&b, (unsigned long long)v);
        snprintf(want, sizeof(want), ",\"%llu\"", (unsigned long long)v);
        all &= b.len == strlen(want) && memcmp(b.p, want, b.len) == 0;
        strbuf_reset(&b);
        batch_write_row(&b, v, ",1", 2, (int)(i & 1));
        snprintf(want, sizeof(want), "%s[%lld,1]", i & 1 ? "" : ",", v);
        all &= b.len == strlen(want) && memcmp(b.p, want, b.len) == 0;
        strbuf_reset(&b);
        batch_cell_double(&b, (double)v / 1e6);
        snprintf(want, sizeof(want), ",%.15g", (double)v / 1e6);
        all &= b.len == strlen(want) && memcmp(b.p, want, b.len) == 0;
        if (!all) {
            printf("# %lld: '%.*s' against '%s'\n", v, (int)b.len, b.p, want);
            break;
        }
    }
    CHECK(all);
    for (size_t i = 0; i < sizeof(json) / sizeof(json[0]); i++) {
        strbuf_reset(&b);
        batch_cell_json(&b, json[i].in, strlen(json[i].in));
        CHECK_STR(b.p, json[i].out);
    }
    strbuf_free(&b);
}

/* batch_json_print(): what cJSON_PrintUnformatted() gives whenever it
 * writes (always for the canonical form); nothing otherwise. */
static void test_json_print(void)
{
    static const struct { const char *in; int hand; } js[] = {
        { "[{\"species\":\"KD\",\"sick\":30,\"dead\":0,\"at_risk\":-210}]", 1 },
        { "[\"DMM\",\"DIA\"]", 1 }, { "[]", 1 }, { "{}", 1 }, { "[[[]],{\"a\":{}}]", 1 },
        { "[true,false,null,999999999,-999999999]", 1 }, { "[\"\xe2\x82\xac \x7f\"]", 1 },
        { "[1000000000]", 0 }, { "[1.5]", 0 }, { "[-0]", 0 }, { "[1e5]", 1 }, { "[0.1]", 0 },
        { "[\"a\\nb\"]", 0 }, { "[\"q\\\"\"]", 0 }, { "{\"k\\t\":1}", 0 },
        { "[9007199254740993]", 0 },
    };
    struct strbuf b = { 0 };

    for (size_t i = 0; i < sizeof(js) / sizeof(js[0]); i++) {
        cJSON *j = cJSON_Parse(js[i].in);
        char *want = cJSON_PrintUnformatted(j);
        int r = batch_json_print(&b, j);
        CHECK(r == js[i].hand);
        if (r > 0)
            CHECK_STR(b.p, want);
        else
            CHECK(b.len == 0);
        cJSON_free(want);
        cJSON_Delete(j);
    }
    strbuf_free(&b);
}

int main(void)
{
    batch_global_init();
    test_json_print();
    test_micro_text();
    test_cells();
    test_same();
    test_refused();
    ver = 2;
    test_same();
    CHECK(ver2_seen >= 60);         /* most went as version 2 */
    test_refused();
    test_v2();
    return t_done();
}
