/* batch_coldec.c - the columnar push batch, read (docs/protocol.md §4.8):
 * back into the cJSON tree its JSON batch parses to, which the JSON
 * decoder (batch_decode.c) then checks cell by cell as always. Strict:
 * every count and length is checked against the caps and against the
 * bytes left before anything is allocated, both sections must be used to
 * their last byte, and a body that fails any of it is refused whole. */
#include "batch.h"
#include "batch_cell.h"
#include "batch_col.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

struct rd {
    const unsigned char *p, *end;
};

/* Blocks that hold the bytes of numbered strings (freed with their
 * column) or of a step's cells. */
struct own {
    struct own *next;
    char        data[];
};

struct dec {
    struct rd num, txt;
    char *err;                  /* the reason for a refusal */
    size_t err_size;
    size_t items;               /* cells and numbers so far: BATCH_MAX_ITEMS */
    int rows;                   /* rows so far: BATCH_MAX_ROWS */
    char *tmp;                  /* a NUL-terminated copy of one text */
    size_t tmp_size;
    int v;                      /* the version (2: batch_coldec2.c) */
    const char *node;           /* version 2: the sending node (CC_ORIGIN) */
    struct own *store;          /* the bytes of a step's cells (batch_col_cells()) */
    size_t store_used, store_cap;
};

struct sref {
    const char *p;
    size_t n;
};

static int bad(struct dec *d, int r, const char *why)
{
    if (!d->err[0])
        snprintf(d->err, d->err_size, "columnar batch: %s", why);
    return r;
}

static int get_varint(struct dec *d, struct rd *r, uint64_t *v)
{
    uint64_t x = 0;

    for (int shift = 0; shift < 64; shift += 7) {
        unsigned b;
        if (r->p >= r->end)
            return bad(d, -EBADMSG, "truncated");
        b = *r->p++;
        if (shift == 63 && b > 1)
            return bad(d, -EBADMSG, "a number over 64 bits");
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return bad(d, -EBADMSG, "a number over 64 bits");
}

/* A count from the wire, at most cap. */
static int get_count(struct dec *d, uint64_t cap, size_t *n)
{
    uint64_t v;
    int r = get_varint(d, &d->num, &v);

    if (r < 0)
        return r;
    if (v > cap)
        return bad(d, -EBADMSG, "a count beyond its cap");
    *n = (size_t)v;
    return 0;
}

/* n values packed by put_packed() into a malloc'd *ret (NULL when n = 0). */
struct bitr {
    struct rd *r;
    uint64_t acc;
    unsigned have;
};

/* width bits, LSB first (the caller checked that the bytes are there). */
static uint64_t get_bits(struct bitr *br, unsigned width)
{
    uint64_t x = 0;
    unsigned got = 0;

    while (got < width) {
        unsigned take;
        if (br->have == 0) {
            br->acc = *br->r->p++;
            br->have = 8;
        }
        take = br->have < width - got ? br->have : width - got;
        x |= (br->acc & ((1ull << take) - 1)) << got;
        br->acc >>= take;
        br->have -= take;
        got += take;
    }
    return x;
}

static unsigned bits_of(uint64_t x)
{
    unsigned n = 0;

    while (n < 64 && (x >> n))
        n++;
    return n;
}

/* Radix digits of put_packed() into v: n values 0 .. span. */
static int get_radix(struct dec *d, struct bitr *br, size_t n, uint64_t span, uint64_t *v)
{
    uint64_t pow, top = 1;
    unsigned gbits, g = col_radix(span, &pow, &gbits), hbits = 0;
    size_t h;

    if (g < 2)
        return bad(d, -EBADMSG, "a radix a node does not use");
    h = n % g;
    for (size_t j = 0; j < h; j++)
        top *= span + 1;
    hbits = h ? bits_of(top - 1) : 0;
    if ((n / g) > ((size_t)(d->num.end - d->num.p) * 8) / gbits ||
        (n / g) * gbits + hbits > (size_t)(d->num.end - d->num.p) * 8)
        return bad(d, -EBADMSG, "truncated");
    for (size_t i = 0; i < n; i += g) {
        int full = n - i >= g;
        uint64_t y = get_bits(br, full ? gbits : hbits);
        if (!full && y >= top)
            return bad(d, -EBADMSG, "a digit group beyond its radix");
        if (full && y > pow - 1)
            return bad(d, -EBADMSG, "a digit group beyond its radix");
        for (size_t j = 0; j < (full ? g : h); j++) {
            v[i + j] = y % (span + 1);
            y /= span + 1;
        }
    }
    return 0;
}

/* n values packed by put_packed() into a malloc'd *ret (NULL when n = 0). */
static int get_packed(struct dec *d, size_t n, uint64_t **ret)
{
    struct bitr br = { &d->num, 0, 0 };
    uint64_t lo, span = 0, *v;
    unsigned width;
    int r = 0;

    *ret = NULL;
    if (n == 0)
        return 0;
    if (d->v == COL_VERSION2) {
        const char *why = "";
        if ((r = col2_frame(&d->num.p, d->num.end, &lo, &width, &span, &why)) < 0)
            return bad(d, r, why);
        width = width == COL2_RADIX ? 0x80 : width;
    } else if ((r = get_varint(d, &d->num, &lo)) < 0) {
        return r;
    } else if (d->num.p >= d->num.end) {
        return bad(d, -EBADMSG, "truncated");
    } else if ((width = *d->num.p++) == 0x80 && (r = get_varint(d, &d->num, &span)) < 0) {
        return r;
    }
    if (width > 64 && width != 0x80)
        return bad(d, -EBADMSG, "a width over 64 bits");
    if (width <= 64 && (n * width + 7) / 8 > (size_t)(d->num.end - d->num.p))
        return bad(d, -EBADMSG, "truncated");
    v = malloc(n * sizeof(*v));
    if (!v)
        return -ENOMEM;
    if (width == 0x80)
        r = get_radix(d, &br, n, span, v);
    for (size_t i = 0; width <= 64 && i < n; i++)
        v[i] = get_bits(&br, width);
    for (size_t i = 0; i < n; i++)
        v[i] += lo;
    if (r == 0 && br.have && br.acc)    /* stray bits: not what a node writes */
        r = bad(d, -EBADMSG, "stray bits");
    if (r < 0)
        free(v);
    else
        *ret = v;
    return r;
}

static int get_text(struct dec *d, size_t n, struct sref *s)
{
    if (n > (size_t)(d->txt.end - d->txt.p))
        return bad(d, -EBADMSG, "a text beyond the body");
    s->p = (const char *)d->txt.p;
    s->n = n;
    d->txt.p += n;
    return 0;
}

#define STR_DEPTH 2             /* as batch_colenc.c */

static int get_strlist(struct dec *d, size_t m, struct sref **ret, int depth, struct own **own);

/* put_numbered()'s m strings, made in a block added to *own. */
static int get_numbered(struct dec *d, size_t m, struct sref *s, int depth, struct own **own)
{
    uint64_t *w = NULL, *dx = NULL, first, x = 0;
    struct sref *pre = NULL;
    struct own *blk;
    size_t size = 0;
    char *p;
    int r;

    if ((r = get_strlist(d, m, &pre, depth + 1, own)) < 0 || (r = get_packed(d, m, &w)) < 0 ||
        (r = get_varint(d, &d->num, &first)) < 0 || (r = get_packed(d, m - 1, &dx)) < 0)
        goto out;
    for (size_t i = 0; i < m; i++) {
        if (w[i] < 1 || w[i] > 18) {
            r = bad(d, -EBADMSG, "a number of 0 or over 18 digits");
            goto out;
        }
        size += pre[i].n + (size_t)w[i];
    }
    if (size > BATCH_MAX_PLAIN) {
        r = bad(d, -E2BIG, "texts beyond 8388608 bytes");
        goto out;
    }
    blk = malloc(sizeof(*blk) + size + 1);
    if (!blk) {
        r = -ENOMEM;
        goto out;
    }
    blk->next = *own;
    *own = blk;
    p = blk->data;
    for (size_t i = 0; i < m; i++) {
        char num[24];
        x = i == 0 ? first : x + sx(dx[i - 1]);
        snprintf(num, sizeof(num), "%0*llu", (int)w[i], (unsigned long long)x);
        if (strlen(num) != w[i]) {
            r = bad(d, -EBADMSG, "a number longer than its digits");
            goto out;
        }
        memcpy(p, pre[i].p, pre[i].n);
        memcpy(p + pre[i].n, num, w[i]);
        s[i] = (struct sref){ p, pre[i].n + (size_t)w[i] };
        p += s[i].n;
    }
out:
    free(pre);
    free(w);
    free(dx);
    return r;
}

/* The m strings of put_strlist() into *ret (malloc'd; NULL when m = 0);
 * the bytes of numbered ones are in blocks added to *own. */
static int get_strlist(struct dec *d, size_t m, struct sref **ret, int depth, struct own **own)
{
    uint64_t *idx = NULL, *len = NULL;
    struct sref *dict = NULL, *s = NULL;
    size_t mode, nd;
    int r;

    *ret = NULL;
    if (m == 0)
        return 0;
    if ((r = get_count(d, m + 1, &mode)) < 0)
        return r;
    s = calloc(m, sizeof(*s));
    if (!s)
        return -ENOMEM;
    if (mode > 0 && depth >= STR_DEPTH) {
        r = bad(d, -EBADMSG, "string lists nested too deep");
        goto out;
    }
    if (mode == 1) {
        r = get_numbered(d, m, s, depth, own);
        goto out;
    }
    if (mode > 1) {             /* a dictionary */
        nd = mode - 1;
        if ((r = get_packed(d, m, &idx)) < 0 || (r = get_strlist(d, nd, &dict, depth + 1, own)) < 0)
            goto out;
        for (size_t i = 0; i < m; i++) {
            if (idx[i] >= nd) {
                r = bad(d, -EBADMSG, "an index beyond its dictionary");
                goto out;
            }
            s[i] = dict[idx[i]];
        }
        goto out;
    }
    if ((r = get_packed(d, m, &len)) < 0)
        goto out;
    for (size_t i = 0; r == 0 && i < m; i++)
        r = len[i] > (uint64_t)(d->txt.end - d->txt.p) ? bad(d, -EBADMSG, "a text beyond the body")
                                                        : get_text(d, (size_t)len[i], &s[i]);
out:
    free(idx);
    free(len);
    free(dict);
    if (r < 0)
        free(s);
    else
        *ret = s;
    return r;
}

/* A NUL-terminated copy of s in d->tmp; -EBADMSG when s holds a NUL. */
static int text_of(struct dec *d, const struct sref *s, const char **ret)
{
    if (memchr(s->p, 0, s->n))
        return bad(d, -EBADMSG, "a text with a NUL byte");
    if (s->n + 1 > d->tmp_size) {
        char *p = realloc(d->tmp, s->n + 1);
        if (!p)
            return -ENOMEM;
        d->tmp = p;
        d->tmp_size = s->n + 1;
    }
    memcpy(d->tmp, s->p, s->n);
    d->tmp[s->n] = 0;
    *ret = d->tmp;
    return 0;
}

static int json_of(struct dec *d, const char *s, size_t n, cJSON **ret)
{
    const char *end = NULL;

    *ret = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    if (*ret && end != s + n) {
        cJSON_Delete(*ret);
        *ret = NULL;
    }
    return *ret ? 0 : bad(d, -EBADMSG, "a cell that is not JSON");
}

/* ------------------------------------------------------------ a column */

/* One column's streams, as put by etable_emit(). */
struct dcol {
    enum col_class cc;
    size_t n, m;                /* rows; rows of TAG_VALUE */
    uint64_t first;             /* CC_SEQ: the first value (the others are deltas) */
    uint64_t *tag, *v1, *v2, *v3;
    struct sref *esc, *str;
    struct own *own;            /* the bytes of numbered strings */
    uint64_t *jn[COL_JSON_NUMS + 1];
    size_t jnn[COL_JSON_NUMS + 1], jat[COL_JSON_NUMS + 1];
    struct sref *js;            /* version 2: the string values of COL_JSON_SHOLE */
    size_t jsn, jsat;
    /* where dcol_cells() is: the next value and escaped cell, the last
     * seq, the clock of the anchor column */
    size_t j, e;
    uint64_t last;
    int64_t clock;
};

static void dcol_free(struct dcol *c)
{
    free(c->tag);
    free(c->v1);
    free(c->v2);
    free(c->v3);
    free(c->esc);
    free(c->str);
    while (c->own) {
        struct own *next = c->own->next;
        free(c->own);
        c->own = next;
    }
    for (int k = 0; k <= COL_JSON_NUMS; k++)
        free(c->jn[k]);
    free(c->js);
}

static int dcol_read(struct dec *d, struct dcol *c)
{
    size_t nesc = 0;
    int r;

    if ((r = get_packed(d, c->n, &c->tag)) < 0)
        return r;
    for (size_t i = 0; i < c->n; i++) {
        if (c->tag[i] > TAG_JSON || (c->tag[i] == TAG_VALUE && c->cc == CC_OTHER))
            return bad(d, -EBADMSG, "a bad cell tag");
        nesc += c->tag[i] == TAG_JSON;
        c->m += c->tag[i] == TAG_VALUE;
    }
    if ((r = get_strlist(d, nesc, &c->esc, 0, &c->own)) < 0)
        return r;
    if (c->cc == CC_SEQ && c->m > 0 && (r = get_varint(d, &d->num, &c->first)) < 0)
        return r;
    if (c->cc != CC_STR && c->cc != CC_JSONV && c->cc != CC_OTHER && c->cc != CC_ORIGIN &&
        (r = get_packed(d, c->m - (c->cc == CC_SEQ && c->m > 0), &c->v1)) < 0)
        return r;
    if ((c->cc == CC_ID || c->cc == CC_HLC || c->cc == CC_TS) &&
        (r = get_packed(d, c->m, &c->v2)) < 0)
        return r;
    if (c->cc == CC_ID && (r = get_packed(d, c->m, &c->v3)) < 0)
        return r;
    if ((c->cc == CC_STR || c->cc == CC_JSONV) &&
        (r = get_strlist(d, c->m, &c->str, 0, &c->own)) < 0)
        return r;
    if (c->cc != CC_JSONV)
        return 0;
    for (size_t i = 0; i < c->m; i++) {
        size_t k = 0;
        for (size_t x = 0; x < c->str[i].n; x++)
            if (c->str[i].p[x] == COL_JSON_HOLE)
                c->jnn[k < COL_JSON_NUMS ? k++ : COL_JSON_NUMS]++;
    }
    for (int k = 0; k <= COL_JSON_NUMS; k++) {
        d->items += c->jnn[k];
        if (d->items > BATCH_MAX_ITEMS)
            return bad(d, -E2BIG, "more than 1000000 values");
        if ((r = get_packed(d, c->jnn[k], &c->jn[k])) < 0)
            return r;
    }
    for (size_t i = 0; d->v == COL_VERSION2 && i < c->m; i++)    /* version 2: strings */
        for (size_t x = 0; x < c->str[i].n; x++)
            c->jsn += c->str[i].p[x] == COL_JSON_SHOLE;
    if ((d->items += c->jsn) > BATCH_MAX_ITEMS)
        return bad(d, -E2BIG, "more than 1000000 values");
    return get_strlist(d, c->jsn, &c->js, 0, &c->own);
}


/* v in decimal ("%llu") into buf (room for 21 bytes). */
static void put_u64(char *buf, uint64_t v)
{
    char tmp[24], *p = tmp + sizeof(tmp);
    size_t n;

    *--p = 0;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    n = (size_t)(tmp + sizeof(tmp) - p);
    memcpy(buf, p, n);
}

/* The UUID of the 128 bits hi:lo, lowercase ("%08llx-%04llx-...") into buf
 * (room for 37 bytes). */
static void put_uuid(char *buf, uint64_t hi, uint64_t lo)
{
    static const char hex[] = "0123456789abcdef";
    char *p = buf;

    for (int i = 0; i < 32; i++) {
        uint64_t w = i < 16 ? hi : lo;
        if (i == 8 || i == 12 || i == 16 || i == 20)
            *p++ = '-';
        *p++ = hex[(w >> (60 - 4 * (i % 16))) & 15];
    }
    *p = 0;
}

#define MAX_MS 253402300800000ll   /* 10000-01-01 */

/* The value at i (the j-th of TAG_VALUE) of a time column, printed into
 * buf, with its ms on the row's clock; pred is the clock it is coded from. */
static int time_cell(struct dec *d, const struct dcol *c, size_t j, int64_t pred, char *buf,
                     size_t size, int64_t *ms)
{
    int64_t delta = (int64_t)sx(c->v1[j]);

    if (delta < -2 * MAX_MS || delta > 2 * MAX_MS)
        return bad(d, -EBADMSG, "a time beyond its range");
    switch (c->cc) {
    case CC_ID: case CC_HLC: {
        int64_t t = pred + delta;
        if (t < 0 || t >= (1ll << 48) || (c->cc == CC_HLC && c->v2[j] > 0xffff) ||
            (c->cc == CC_ID && (c->v2[j] >> 62 || c->v3[j] > 0xfff)))
            return bad(d, -EBADMSG, "an id or hlc beyond its range");
        *ms = t;
        if (c->cc == CC_HLC)
            put_u64(buf, (uint64_t)t << 16 | c->v2[j]);
        else
            put_uuid(buf, (uint64_t)t << 16 | 0x7000 | c->v3[j], 2ull << 62 | c->v2[j]);
        return 0;
    }
    case CC_TS:
        if (c->v2[j] > 1)
            return bad(d, -EBADMSG, "a time of an unknown shape");
        *ms = c->v2[j] == 0 ? (col_fdiv(pred, 1000) + delta) * 1000 : pred + delta;
        break;
    default:                    /* CC_DATE */
        if (delta < -4000000 || delta > 4000000)
            return bad(d, -EBADMSG, "a date beyond its range");
        *ms = (col_fdiv(pred, 86400000) + delta) * 86400000;
        break;
    }
    if (*ms < -62135596800000ll || *ms >= MAX_MS)
        return bad(d, -EBADMSG, "a time beyond its range");
    return batch_col_print(c->cc == CC_DATE ? 2 : (int)c->v2[j],
                           c->cc == CC_DATE ? *ms / 86400000 : *ms, buf, size) < 0
        ? bad(d, -EBADMSG, "a time beyond its range") : 0;
}

/* A JSON cell's text with the holes filled, into b. */
static int jsonv_text(struct dcol *c, const struct sref *s, struct strbuf *b)
{
    size_t k = 0, start = 0;

    for (size_t x = 0; x < s->n; x++) {
        size_t at = k < COL_JSON_NUMS ? k : COL_JSON_NUMS;
        if (s->p[x] != COL_JSON_HOLE && (s->p[x] != COL_JSON_SHOLE || !c->js))
            continue;
        strbuf_add(b, s->p + start, x - start);
        start = x + 1;
        if (s->p[x] == COL_JSON_SHOLE) {        /* version 2 */
            const struct sref *v = &c->js[c->jsat++];
            strbuf_add(b, "\"", 1);
            strbuf_add(b, v->p, v->n);
            strbuf_add(b, "\"", 1);
            continue;
        }
        k++;
        batch_put_int(b, (int64_t)sx(c->jn[at][c->jat[at]++]));
    }
    strbuf_add(b, s->p + start, s->n - start);
    return b->err;
}

/* A JSON cell's filled text parsed: an array or object, else the batch is
 * refused. */
static int jsonv_parse(struct dec *d, const struct strbuf *b, cJSON **ret)
{
    int r = json_of(d, b->p ? b->p : "", b->len, ret);

    if (r == 0 && !cJSON_IsArray(*ret) && !cJSON_IsObject(*ret)) {
        cJSON_Delete(*ret);
        *ret = NULL;
        r = bad(d, -EBADMSG, "a JSON cell that is not an array or object");
    }
    return r;
}

/* Bytes that the cells of a step point to (batch_col_cells()): blocks
 * freed at the next step. */
#define STORE_BLOCK (64u << 10)

static const char *store_dup(struct dec *d, const char *p, size_t n)
{
    struct own *o = d->store;
    char *q;

    if (!o || d->store_used + n + 1 > d->store_cap) {
        size_t cap = n + 1 > STORE_BLOCK ? n + 1 : STORE_BLOCK;
        o = malloc(sizeof(*o) + cap);
        if (!o)
            return NULL;
        o->next = d->store;
        d->store = o;
        d->store_used = 0;
        d->store_cap = cap;
    }
    q = o->data + d->store_used;
    memcpy(q, p, n);
    q[n] = 0;
    d->store_used += n + 1;
    return q;
}

static void store_free(struct dec *d)
{
    while (d->store) {
        struct own *next = d->store->next;
        free(d->store);
        d->store = next;
    }
    d->store_used = d->store_cap = 0;
}

/* Cell i of column c, the next from where its last call stopped: its
 * cJSON item in *item (tree: the rows' trees), else its value in *v, the
 * bytes it points to kept until the next step (store_dup()). anchor holds
 * each row's clock, which the table's first time column (is_anchor) sets.
 * Both ways read the same streams in the same order: the same first error. */
static int dcol_cell(struct dec *d, struct dcol *c, size_t i, int64_t *anchor, int is_anchor,
                     int tree, cJSON **item, struct bcell *v)
{
    int64_t ms = 0;
    char buf[48];
    const char *s;
    int r = 0;

    *item = NULL;
    *v = (struct bcell){ .type = BC_NULL };
    if (c->tag[i] == TAG_NULL) {
        if (tree)
            *item = cJSON_CreateNull();
    } else if (c->tag[i] == TAG_JSON) {
        r = json_of(d, c->esc[c->e].p, c->esc[c->e].n, item);
        c->e++;
        if (r == 0 && !tree)
            bcell_of_json(v, *item);
    } else {
        size_t j = c->j;
        double num = 0;
        int is_num = 0;
        switch (c->cc) {
        case CC_SEQ:
            c->last = j == 0 ? zz_dec(c->first) : c->last + sx(c->v1[j - 1]);
            num = (double)(int64_t)c->last;
            is_num = 1;
            break;
        case CC_INT:
            num = (double)(int64_t)sx(c->v1[j]);
            is_num = 1;
            break;
        case CC_COORD: {
            int64_t n = (int64_t)sx(c->v1[j]);
            if (n < -1000000000 || n > 1000000000)
                r = bad(d, -EBADMSG, "a coordinate beyond its range");
            num = (double)n / 1e6;
            is_num = r == 0;
            break;
        }
        case CC_ID: case CC_HLC: case CC_TS: case CC_DATE:
            r = time_cell(d, c, j, is_anchor ? c->clock : anchor[i], buf, sizeof(buf), &ms);
            if (r == 0 && tree)
                *item = cJSON_CreateString(buf);
            else if (r == 0 && !(s = store_dup(d, buf, strlen(buf))))
                r = -ENOMEM;
            else if (r == 0)
                *v = (struct bcell){ .type = BC_STR, .s = s, .n = strlen(s), .z = 1 };
            if (is_anchor)
                c->clock = ms;
            break;
        case CC_STR:
            if (tree) {
                r = text_of(d, &c->str[j], &s);
                if (r == 0)
                    *item = cJSON_CreateString(s);
            } else if (memchr(c->str[j].p, 0, c->str[j].n)) {
                r = bad(d, -EBADMSG, "a text with a NUL byte");
            } else {
                *v = (struct bcell){ .type = BC_STR, .s = c->str[j].p, .n = c->str[j].n };
            }
            break;
        case CC_JSONV: {
            struct strbuf b = { 0 };
            r = jsonv_text(c, &c->str[j], &b);
            if (r == 0 && !tree && batch_json_canonical(b.p, b.len)) {
                /* cJSON would print it as it is: no tree */
                if (!(s = store_dup(d, b.p, b.len)))
                    r = -ENOMEM;
                else
                    *v = (struct bcell){ .type = BC_JSON, .s = s, .n = b.len, .z = 1 };
            } else if (r == 0 && (r = jsonv_parse(d, &b, item)) == 0 && !tree) {
                bcell_of_json(v, *item);
            }
            strbuf_free(&b);
            break;
        }
        case CC_ORIGIN:
            if (tree)
                *item = cJSON_CreateString(d->node);
            else
                *v = (struct bcell){ .type = BC_STR, .s = d->node, .n = strlen(d->node), .z = 1 };
            break;
        case CC_OTHER:
            r = -ENOMEM;                /* dcol_read() refused a value here */
            break;
        }
        if (is_num && tree)
            *item = cJSON_CreateNumber(num);
        else if (is_num)
            *v = (struct bcell){ .type = BC_NUM, .num = num };
        c->j++;
    }
    if (is_anchor)
        anchor[i] = c->clock;
    if (r == 0 && tree && !*item)
        r = -ENOMEM;
    return r;
}

/* Appends the cells of rows from .. to - 1 of column c to row[0 ..], from
 * where the column's last call stopped (see dcol_cell()). */
static int dcol_cells(struct dec *d, struct dcol *c, cJSON **row, int64_t *anchor,
                      size_t from, size_t to, int is_anchor)
{
    struct bcell v;
    int r = 0;

    for (size_t i = from; i < to && r == 0; i++) {
        cJSON *item;
        r = dcol_cell(d, c, i, anchor, is_anchor, 1, &item, &v);
        if (r == 0)
            cJSON_AddItemToArray(row[i - from], item);
        else
            cJSON_Delete(item);
    }
    return r;
}

/* The same as values: row k's cell into cells[k * stride]. */
static int dcol_values(struct dec *d, struct dcol *c, struct bcell *cells, size_t stride,
                       int64_t *anchor, size_t from, size_t to, int is_anchor)
{
    int r = 0;

    for (size_t i = from; i < to && r == 0; i++) {
        cJSON *item;
        r = dcol_cell(d, c, i, anchor, is_anchor, 0, &item, &cells[(i - from) * stride]);
    }
    return r;
}

/* A text of at most COL_MAX_NAME bytes from the wire, as a C string. */
static int name_of(struct dec *d, size_t n, const char **ret)
{
    struct sref s;
    int r = get_text(d, n, &s);

    return r < 0 ? r : text_of(d, &s, ret);
}

/* A table block as read: its columns' streams, and the rows made so far. */
struct ctab {
    size_t ncols, nrows, done;
    int anchor_col;
    struct dcol col[COL_MAX_COLS];
    int64_t *anchor;            /* nrows + 1: the table's base clock, then each row's */
    cJSON *rows;                /* the block's "rows" in the tree */
};

struct batch_col {
    struct dec d;
    int ntables;
    struct ctab t[COL_MAX_TABLES];
};

/* One table block (its name's length already read) into tables, its
 * columns' streams into ct; its rows are made later (batch_col_rows()). */
static int table_read(struct dec *d, size_t name_len, cJSON *tables, struct ctab *ct)
{
    cJSON *t = cJSON_CreateObject(), *cols = cJSON_CreateArray(), *rows = cJSON_CreateArray();
    const char *dn[COL_MAX_COLS];
    const struct record_kind *k;
    const char *s;
    size_t ncols, nrows;
    uint64_t base;
    int r, dflt = 0;

    cJSON_AddItemToArray(tables, t);
    if (!t || !cols || !rows) {
        cJSON_Delete(cols);
        cJSON_Delete(rows);
        return -ENOMEM;
    }
    cJSON_AddItemToObject(t, "cols", cols);
    cJSON_AddItemToObject(t, "rows", rows);
    ct->rows = rows;
    ct->anchor_col = -1;
    if ((r = name_of(d, name_len, &s)) < 0)
        return r;
    if (!(k = record_kind_find(s)))
        return bad(d, -EBADMSG, "unknown table");
    if (!cJSON_AddStringToObject(t, "table", s) || (r = get_count(d, COL_MAX_COLS, &ncols)) < 0)
        return r < 0 ? r : -ENOMEM;
    if (ncols == 0 && d->v == COL_VERSION2 && (r = col2_names(k, dn)) > 0) {
        ncols = (size_t)r;      /* the kind's own */
        dflt = 1;
    }
    if (ncols < 1)
        return bad(d, -EBADMSG, "a table of no columns");
    for (size_t i = 0; i < ncols; i++) {
        size_t n;
        if (dflt)
            s = dn[i];
        else if ((r = get_count(d, COL_MAX_NAME, &n)) < 0 || (r = name_of(d, n, &s)) < 0)
            return r;
        ct->col[i].cc = col_class_v(k, s, d->v);
        if (ct->anchor_col < 0 && col_is_time(ct->col[i].cc))
            ct->anchor_col = (int)i;
        if (!cJSON_AddItemToArray(cols, cJSON_CreateString(s)))
            return -ENOMEM;
    }
    if ((r = get_count(d, (uint64_t)(BATCH_MAX_ROWS - d->rows), &nrows)) < 0)
        return bad(d, -E2BIG, "more than 10000 rows in one batch");
    d->rows += (int)nrows;
    d->items += nrows * (ncols + 1);
    if (d->items > BATCH_MAX_ITEMS)
        return bad(d, -E2BIG, "more than 1000000 values");
    if ((r = get_varint(d, &d->num, &base)) < 0)
        return r;
    if ((int64_t)zz_dec(base) < -MAX_MS || (int64_t)zz_dec(base) > 2 * MAX_MS)
        return bad(d, -EBADMSG, "a time beyond its range");
    ct->anchor = calloc(nrows + 1, sizeof(*ct->anchor));
    if (!ct->anchor)
        return -ENOMEM;
    ct->anchor[0] = (int64_t)zz_dec(base);     /* anchor[-1] of dcol_cells() */
    ct->nrows = nrows;
    for (size_t i = 0; i < ncols; i++) {
        ct->ncols = i + 1;                      /* freed from here on */
        ct->col[i].n = nrows;
        ct->col[i].clock = ct->anchor[0];
        if ((r = dcol_read(d, &ct->col[i])) < 0)
            return r;
    }
    return 0;
}

/* The head: a JSON object of its own (version 1), or binary (version 2,
 * batch_coldec2.c, with the node of the certificate). */
static int head_read(struct dec *d, const char *node, cJSON **doc)
{
    const char *stop = NULL, *why = "";
    uint64_t head_len;
    int r;

    if (d->v == COL_VERSION2)
        return (r = col2_head(&d->num.p, d->num.end, node, doc, &why)) < 0 ? bad(d, r, why) : 0;
    if ((r = get_varint(d, &d->num, &head_len)) < 0)
        return r;
    if (head_len > (uint64_t)(d->txt.end - d->txt.p))
        return bad(d, -EBADMSG, "a head beyond the body");
    *doc = cJSON_ParseWithLengthOpts((const char *)d->txt.p, (size_t)head_len, &stop, 0);
    d->txt.p += head_len;
    if (!cJSON_IsObject(*doc) || stop != (const char *)d->txt.p ||
        cJSON_GetObjectItemCaseSensitive(*doc, "tables"))
        return bad(d, -EBADMSG, "a head that is not a JSON object of its own");
    return 0;
}

int batch_is_columnar(const char *plain, size_t len)
{
    return len >= 4 && memcmp(plain, COL_MAGIC, 3) == 0;
}

void batch_col_close(struct batch_col *bc)
{
    if (!bc)
        return;
    for (int t = 0; t < bc->ntables; t++) {
        for (size_t i = 0; i < bc->t[t].ncols; i++)
            dcol_free(&bc->t[t].col[i]);
        free(bc->t[t].anchor);
    }
    free(bc->d.tmp);
    store_free(&bc->d);
    free(bc);
}

int batch_col_open(const char *in, size_t len, const char *node, struct batch_col **ret,
                   cJSON **doc_ret, char *err, size_t err_size)
{
    struct batch_col *bc = calloc(1, sizeof(*bc));
    struct dec *d;
    cJSON *doc = NULL, *tables;
    uint64_t numlen, x;
    int r;

    err[0] = 0;
    *ret = NULL;
    *doc_ret = NULL;
    if (!bc)
        return -ENOMEM;
    d = &bc->d;
    *d = (struct dec){ .err = err, .err_size = err_size, .node = node };
    if (!batch_is_columnar(in, len)) {
        r = bad(d, -EBADMSG, "no SKC header");
        goto out;
    }
    d->v = (unsigned char)in[3];
    if (d->v != COL_VERSION && d->v != COL_VERSION2) {
        r = bad(d, -EPROTONOSUPPORT, "this hub reads versions 1 and 2");
        goto out;
    }
    d->num = (struct rd){ (const unsigned char *)in + 4, (const unsigned char *)in + len };
    if ((r = get_varint(d, &d->num, &numlen)) < 0)
        goto out;
    if (numlen > (uint64_t)(d->num.end - d->num.p)) {
        r = bad(d, -EBADMSG, "truncated");
        goto out;
    }
    d->txt = (struct rd){ d->num.p + numlen, d->num.end };
    d->num.end = d->txt.p;
    if ((r = head_read(d, node, &doc)) < 0)
        goto out;
    tables = cJSON_AddArrayToObject(doc, "tables");
    r = tables ? 0 : -ENOMEM;
    while (r == 0 && (r = get_varint(d, &d->num, &x)) == 0 && x != 0) {
        if (bc->ntables == COL_MAX_TABLES || x - 1 > COL_MAX_NAME)
            r = bad(d, -EBADMSG, "too many tables, or too long a name");
        else
            r = table_read(d, (size_t)(x - 1), tables, &bc->t[bc->ntables++]);
    }
    if (r == 0 && (d->num.p != d->num.end || d->txt.p != d->txt.end))
        r = bad(d, -EBADMSG, "bytes left over");
out:
    if (r < 0) {
        if (r == -ENOMEM)
            bad(d, r, "out of memory");
        cJSON_Delete(doc);
        batch_col_close(bc);
        return r;
    }
    *ret = bc;
    *doc_ret = doc;
    return 0;
}

size_t batch_col_nrows(const struct batch_col *bc, int t)
{
    return bc->t[t].nrows;
}

int batch_col_rows(struct batch_col *bc, int t, size_t n, const cJSON **first)
{
    struct ctab *ct = &bc->t[t];
    size_t from = ct->done, to = from + n;
    cJSON **row;
    int r = 0;

    assert(to <= ct->nrows);
    if (first)
        *first = NULL;
    if (n == 0)
        return 0;
    row = malloc(n * sizeof(*row));
    if (!row)
        return -ENOMEM;
    for (size_t i = 0; i < n && r == 0; i++)
        if (!(row[i] = cJSON_CreateArray()) || !cJSON_AddItemToArray(ct->rows, row[i]))
            r = -ENOMEM;
    for (size_t i = 0; i < ct->ncols && r == 0; i++)
        r = dcol_cells(&bc->d, &ct->col[i], row, ct->anchor + 1, from, to,
                       (int)i == ct->anchor_col);
    if (r == 0 && first)
        *first = row[0];
    ct->done = to;
    free(row);
    return r;
}

int batch_col_cells(struct batch_col *bc, int t, size_t n, struct bcell *cells)
{
    struct ctab *ct = &bc->t[t];
    size_t from = ct->done, to = from + n;
    int r = 0;

    assert(to <= ct->nrows);
    store_free(&bc->d);                 /* the previous step's bytes */
    for (size_t i = 0; i < ct->ncols && r == 0; i++)
        r = dcol_values(&bc->d, &ct->col[i], cells + i, ct->ncols, ct->anchor + 1, from, to,
                        (int)i == ct->anchor_col);
    ct->done = to;
    return r;
}

int batch_col_keys(struct batch_col *bc, int t, int seq_col, int id_col, int64_t *seq,
                   char (*id)[BATCH_COL_ID])
{
    const struct ctab *ct = &bc->t[t];
    const struct dcol *s, *c;
    int64_t clock, ms;
    uint64_t last = 0;

    if (seq_col < 0 || (size_t)seq_col >= ct->ncols || id_col >= (int)ct->ncols)
        return -EAGAIN;
    s = &ct->col[seq_col];
    if (s->cc != CC_SEQ || s->m != ct->nrows)
        return -EAGAIN;                 /* a null or escaped seq: the whole way */
    for (size_t i = 0; i < ct->nrows; i++) {
        last = i == 0 ? zz_dec(s->first) : last + sx(s->v1[i - 1]);
        if ((int64_t)last <= 0 || (int64_t)last >= (1ll << 53))
            return -EAGAIN;             /* as a double it may not read back */
        seq[i] = (int64_t)last;
    }
    if (id_col < 0)
        return 0;
    c = &ct->col[id_col];
    if (c->cc != CC_ID || c->m != ct->nrows || id_col != ct->anchor_col)
        return -EAGAIN;
    clock = ct->anchor[0];
    for (size_t i = 0; i < ct->nrows; i++) {
        if (time_cell(&bc->d, c, i, clock, id[i], BATCH_COL_ID, &ms) < 0) {
            bc->d.err[0] = 0;           /* the whole way says why */
            return -EAGAIN;
        }
        clock = ms;
    }
    return 0;
}

int batch_col_parse(const char *in, size_t len, cJSON **ret, char *err, size_t err_size)
{
    return batch_col_parse_node(in, len, NULL, ret, err, err_size);
}

int batch_col_parse_node(const char *in, size_t len, const char *node, cJSON **ret, char *err,
                         size_t err_size)
{
    struct batch_col *bc;
    cJSON *doc;
    int r = batch_col_open(in, len, node, &bc, &doc, err, err_size);

    *ret = NULL;
    if (r < 0)
        return r;
    /* in the steps of the streamed decoding: the same first error */
    for (int t = 0; t < bc->ntables && r == 0; t++)
        while (r == 0 && bc->t[t].done < bc->t[t].nrows) {
            size_t n = bc->t[t].nrows - bc->t[t].done;
            r = batch_col_rows(bc, t, n < BATCH_STREAM_ROWS ? n : BATCH_STREAM_ROWS, NULL);
        }
    if (r == -ENOMEM)
        bad(&bc->d, r, "out of memory");
    batch_col_close(bc);
    if (r < 0) {
        cJSON_Delete(doc);
        return r;
    }
    *ret = doc;
    return 0;
}
