/* batch_colenc.c - the columnar push batch, written (docs/protocol.md
 * §4.8): the node's JSON batch, read a row at a time, re-coded column by
 * column so that zstd sees like with like and every value costs about its
 * information: ids as their time and random bits, times from the row's
 * clock, codes through a dictionary, counts and coordinates as integers
 * packed in as few bits as the batch needs (frame of reference), texts
 * together at the end. A cell without such a form goes as its JSON text:
 * the hub decodes to the same values whatever the node sent. */
#include "batch.h"
#include "batch_cell.h"
#include "batch_col.h"

#include <errno.h>
#include <math.h>             /* signbit(), a macro */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* ------------------------------------------------------------ shared */

enum col_class col_class_of(const struct record_kind *k, const char *name)
{
    const struct kind_col *c = strcmp(name, "seq") == 0 ? NULL : kind_col_find(k, name);

    if (!c)
        return strcmp(name, "seq") == 0 ? CC_SEQ : CC_OTHER;
    switch (c->type) {
    case COL_ID:     return CC_ID;
    case COL_HLC:    return CC_HLC;
    case COL_TS:     return CC_TS;
    case COL_DATE:   return CC_DATE;
    case COL_BIT:
    case COL_INT:    return CC_INT;
    case COL_LON:
    case COL_LAT:    return CC_COORD;
    case COL_JSON:   return CC_JSONV;
    case COL_ORIGIN:
    case COL_TEXT:   return CC_STR;
    }
    return CC_OTHER;
}

enum col_class col_class_v(const struct record_kind *k, const char *name, int v)
{
    const struct kind_col *c = v >= 2 ? kind_col_find(k, name) : NULL;

    return c && c->type == COL_ORIGIN ? CC_ORIGIN : col_class_of(k, name);
}

int col_default_names(const struct record_kind *k, const char *const *names, int n)
{
    if (n != k->ncols + 1 || strcmp(names[0], "seq") != 0)
        return 0;
    for (int i = 0; i < k->ncols; i++)
        if (strcmp(names[i + 1], k->cols[i].name) != 0)
            return 0;
    return 1;
}

unsigned col_radix(uint64_t span, uint64_t *pow, unsigned *gbits)
{
    uint64_t p = 1;
    unsigned g = 0;

    if (span < 2 || span >= (1u << 24) || !(span & (span + 1)))
        return 0;               /* a power of two wide: plain bits are as good */
    while (p <= UINT64_MAX / (span + 1)) {
        p *= span + 1;
        g++;
    }
    *pow = p;
    for (*gbits = 0; *gbits < 64 && ((p - 1) >> *gbits); (*gbits)++)
        ;
    return g;
}

int col_is_time(enum col_class cc)
{
    return cc == CC_ID || cc == CC_HLC || cc == CC_TS || cc == CC_DATE;
}

/* Howard Hinnant's days_from_civil and civil_from_days. */
int64_t col_days(int y, int m, int d)
{
    int64_t yy = y - (m <= 2), era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400, doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;

    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

void col_civil(int64_t z, int *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

/* ------------------------------------------------------------ output */

struct out {
    struct strbuf num;      /* tags, integers, lengths */
    struct strbuf txt;      /* names and texts, in the order num needs them */
    int v;                  /* the version written: 1 or 2 */
    char node[40];          /* version 2: the head's node */
};

static void put_varint(struct strbuf *b, uint64_t v)
{
    unsigned char t[10];
    int n = 0;

    do {
        t[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    strbuf_add(b, t, (size_t)n);
}

struct bitw {
    struct strbuf *b;
    uint64_t acc;
    unsigned have;
};

/* The low width bits of x, LSB first (room reserved by the caller). */
static void put_bits(struct bitw *w, uint64_t x, unsigned width)
{
    while (width) {
        unsigned take = 8 - w->have < width ? 8 - w->have : width;
        w->acc |= (x & ((1ull << take) - 1)) << w->have;
        x >>= take;
        w->have += take;
        width -= take;
        if (w->have == 8) {
            w->b->p[w->b->len++] = (char)w->acc;
            w->acc = 0;
            w->have = 0;
        }
    }
}

static unsigned bits_of(uint64_t x)
{
    unsigned n = 0;

    while (n < 64 && (x >> n))
        n++;
    return n;
}

/* n values as a frame of reference: their minimum, then the differences
 * from it, packed LSB first, either in the width (in bits) of the largest
 * (a byte of the width), or (a byte 0x80 and the largest, when that is
 * fewer bits) in radix largest + 1, as many digits in a group as 64 bits
 * hold, each group in the bits of its largest value (col_radix()). n = 0
 * writes nothing. */
static unsigned varint_len(uint64_t v)
{
    unsigned n = 1;

    while (v > 0x7f) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Version 2's frame of a packed stream: a mode byte (the width 0-64, or
 * COL2_RADIX; COL2_ZERO: every value is the minimum 0 and nothing
 * follows; bit COL2_SIGNED: the minimum is written as the zigzag of its
 * signed view, for streams of differences), the minimum (not for
 * COL2_ZERO), then the largest difference for COL2_RADIX. */
static void put_frame2(struct strbuf *b, uint64_t lo, unsigned mode, uint64_t span)
{
    uint64_t z = zz_enc(sx(lo));
    unsigned sgn = varint_len(z) < varint_len(lo) ? COL2_SIGNED : 0;
    uint64_t m = sgn ? z : lo;

    if (mode == 0 && m == 0) {
        strbuf_add(b, &(unsigned char){ (unsigned char)(COL2_ZERO | sgn) }, 1);
        return;
    }
    strbuf_add(b, &(unsigned char){ (unsigned char)(mode | sgn) }, 1);
    put_varint(b, m);
    if (mode == COL2_RADIX)
        put_varint(b, span);
}

static void put_packed(struct out *o, const uint64_t *v, size_t n)
{
    struct strbuf *b = &o->num;
    struct bitw w = { b, 0, 0 };
    uint64_t lo = UINT64_MAX, span = 0, pow;
    unsigned width, g, gbits;

    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        lo = v[i] < lo ? v[i] : lo;
    for (size_t i = 0; i < n; i++)
        span = v[i] - lo > span ? v[i] - lo : span;
    width = bits_of(span);
    g = col_radix(span, &pow, &gbits);
    if (o->v == 1)
        put_varint(b, lo);
    if (g >= 2 && (double)gbits / g < width - 0.05) {
        if (o->v == 1) {
            strbuf_add(b, "\x80", 1);
            put_varint(b, span);
        } else {
            put_frame2(b, lo, COL2_RADIX, span);
        }
        if (strbuf_reserve(b, (n / g + 1) * 8 + 1) < 0)
            return;
        for (size_t i = 0; i < n; i += g) {
            size_t h = n - i < g ? n - i : g;
            uint64_t y = 0, top = 1;
            for (size_t j = h; j-- > 0;) {
                y = y * (span + 1) + (v[i + j] - lo);
                top *= span + 1;
            }
            put_bits(&w, y, bits_of(top - 1));
        }
    } else {
        if (o->v == 1)
            strbuf_add(b, &(unsigned char){ (unsigned char)width }, 1);
        else
            put_frame2(b, lo, width, 0);
        if (strbuf_reserve(b, (n * width + 7) / 8) < 0)
            return;
        for (size_t i = 0; i < n; i++)
            put_bits(&w, v[i] - lo, width);
    }
    if (w.have)
        b->p[b->len++] = (char)w.acc;
    b->p[b->len] = 0;
}

/* ------------------------------------------------------------ a column */

struct ecol {
    enum col_class cc;
    unsigned char *tag;
    /* the classes of numbers: a value and its second part (see cell_value();
     * CC_ID: the time in the low 48 bits of a, rand_a above, rand_b in b),
     * or for a JSON text, its offset in str and its length */
    uint64_t *a, *b;
    uint32_t *soff, *slen;      /* the classes of texts: a text or JSON text in str */
    struct strbuf str;
    uint64_t *jn[COL_JSON_NUMS + 1];   /* CC_JSONV: the k-th number of each cell */
    size_t jnn[COL_JSON_NUMS + 1], jcap[COL_JSON_NUMS + 1];
    int v;                      /* the version written */
    struct strbuf jtxt;         /* version 2, CC_JSONV: the string values taken out */
    uint64_t *jso;              /* their offsets and lengths in jtxt, in pairs */
    size_t jsn, jscap;          /* values in jso (twice the strings) */
    struct strbuf jp;           /* CC_JSONV: a cell printed (batch_json_print()) */
};

struct etable {
    const struct record_kind *k;
    const char *node;           /* version 2: the batch's node (CC_ORIGIN) */
    struct ecol col[COL_MAX_COLS];
    int ncols;
    size_t nrows, cap;
    uint64_t *scratch;          /* 3 cap values: put_strlist() */
};

static int push_num(struct ecol *c, int at, uint64_t v)
{
    if (c->jnn[at] == c->jcap[at]) {
        size_t ncap = c->jcap[at] ? c->jcap[at] * 2 : 64;
        uint64_t *p = realloc(c->jn[at], ncap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        c->jn[at] = p;
        c->jcap[at] = ncap;
    }
    c->jn[at][c->jnn[at]++] = v;
    return 0;
}

/* Version 2: the string value s[0..n) of a JSON cell, taken out. */
static int push_str(struct ecol *c, const char *s, size_t n)
{
    if (c->jsn + 2 > c->jscap) {
        size_t ncap = c->jscap ? c->jscap * 2 : 64;
        uint64_t *p = realloc(c->jso, ncap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        c->jso = p;
        c->jscap = ncap;
    }
    c->jso[c->jsn++] = c->jtxt.len;
    c->jso[c->jsn++] = n;
    return strbuf_add(&c->jtxt, s, n);
}

/* The end (its closing quote) of the JSON string that starts at s[i], or n. */
static size_t str_end(const char *s, size_t i, size_t n)
{
    for (i++; i < n && s[i] != '"'; i++)
        if (s[i] == '\\')
            i++;
    return i < n ? i : n;
}

static int hexval(int ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* A lowercase UUIDv7 (version 7, variant 10): its 48-bit time in *a, its
 * 62 bits of rand_b in *b and its 12 bits of rand_a in *x. */
static int uuid7_of(const char *s, uint64_t *a, uint64_t *b, uint32_t *x)
{
    uint64_t hi = 0, lo = 0;
    int n = 0;

    if (strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        int h;
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
            continue;
        }
        if ((h = hexval(s[i])) < 0)
            return 0;
        if (n < 16)
            hi = hi << 4 | (uint64_t)h;
        else
            lo = lo << 4 | (uint64_t)h;
        n++;
    }
    if (((hi >> 12) & 0xf) != 7 || (lo >> 62) != 2)
        return 0;
    *a = hi >> 16;
    *b = lo & ((1ull << 62) - 1);
    *x = (uint32_t)(hi & 0xfff);
    return 1;
}

/* A string of digits as "%llu" prints it: no leading zero. */
static int hlc_of(const char *s, uint64_t *a)
{
    uint64_t v = 0;
    size_t n = strlen(s);

    if (n < 1 || n > 20)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10)
            return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (n > 1 && s[0] == '0')
        return 0;
    *a = v;
    return 1;
}

/* The n digits at s as a number, or -1. */
static int fixed_digits(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* YYYY-MM-DDTHH:MM:SSZ (shape 0) or YYYY-MM-DDTHH:MM:SS.mmmZ (shape 1),
 * exactly as batch_col_ts() prints it back: ms since 1970 in *a. */
static int ts_of(const char *s, int dateonly, uint64_t *a, uint64_t *shape)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0;
    size_t len = strlen(s);
    char back[40];

    /* the digits where the shape has them, by hand (sscanf() was 5 % of
     * the node's CPU in a large sync); what takes a sign, a space or a
     * day past the month's end is still caught by the print-back below */
    if (len != (dateonly ? 10u : 20u) && (dateonly || len != 24))
        return 0;
    if (s[4] != '-' || s[7] != '-' || (y = fixed_digits(s, 4)) < 0 ||
        (mo = fixed_digits(s + 5, 2)) < 0 || (d = fixed_digits(s + 8, 2)) < 0)
        return 0;
    if (!dateonly) {
        if (s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[len - 1] != 'Z' ||
            (h = fixed_digits(s + 11, 2)) < 0 || (mi = fixed_digits(s + 14, 2)) < 0 ||
            (sec = fixed_digits(s + 17, 2)) < 0)
            return 0;
        *shape = len == 24;
        if (len == 24 && (s[19] != '.' || (ms = fixed_digits(s + 20, 3)) < 0))
            return 0;
    }
    if (y < 1 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        sec > 59 || h < 0 || mi < 0 || sec < 0 || ms < 0)
        return 0;
    {
        int64_t days = col_days(y, mo, d);
        int64_t v = dateonly ? days : ((days * 24 + h) * 60 + mi) * 60000 + sec * 1000 + ms;
        if (batch_col_print(dateonly ? 2 : (int)*shape, v, back, sizeof(back)) < 0 ||
            strcmp(back, s) != 0)
            return 0;           /* 31 February, a sign, a space: as text */
        *a = (uint64_t)v;
    }
    return 1;
}

/* Decides cell c's tag and value; a JSON text when it has no natural form. */
static int is_text(enum col_class cc)
{
    return cc == CC_STR || cc == CC_JSONV || cc == CC_OTHER || cc == CC_ORIGIN;
}

static int cell_value(struct ecol *col, size_t row, const cJSON *c, const char *node)
{
    char *text = NULL;
    const char *s = NULL;
    size_t n = 0, off = col->str.len;
    int r = 0, tag = TAG_VALUE;
    double v = cJSON_IsNumber(c) ? c->valuedouble : 0;
    uint64_t none[2], *a = is_text(col->cc) ? &none[0] : &col->a[row];
    uint64_t *b = is_text(col->cc) ? &none[1] : &col->b[row];
    uint32_t rand_a = 0;

    if (!c || cJSON_IsNull(c)) {
        col->tag[row] = TAG_NULL;
        return 0;
    }
    switch (col->cc) {
    case CC_SEQ: case CC_INT:
        if (!cJSON_IsNumber(c) || !(v >= -9007199254740992.0 && v <= 9007199254740992.0) ||
            v != (double)(int64_t)v)
            tag = TAG_JSON;
        else
            *a = (uint64_t)(int64_t)v;
        break;
    case CC_COORD: {
        int in = cJSON_IsNumber(c) && v >= -1000 && v <= 1000;
        double sc = in ? (double)(int64_t)(v * 1e6 + (v >= 0 ? 0.5 : -0.5)) : 0;
        if (!in || sc / 1e6 != v ||
            (v == 0 && signbit(v)))
            tag = TAG_JSON;
        else
            *a = (uint64_t)(int64_t)sc;
        break;
    }
    case CC_ID:
        tag = cJSON_IsString(c) && uuid7_of(c->valuestring, a, b, &rand_a) ? TAG_VALUE
                                                                            : TAG_JSON;
        *a |= (uint64_t)rand_a << 48;
        break;
    case CC_HLC:
        tag = cJSON_IsString(c) && hlc_of(c->valuestring, a) ? TAG_VALUE : TAG_JSON;
        break;
    case CC_TS: case CC_DATE:
        tag = cJSON_IsString(c) && ts_of(c->valuestring, col->cc == CC_DATE, a, b) ? TAG_VALUE
                                                                                   : TAG_JSON;
        break;
    case CC_STR:
        if (cJSON_IsString(c))
            s = c->valuestring;
        else
            tag = TAG_JSON;
        break;
    case CC_JSONV:
        if (!cJSON_IsArray(c) && !cJSON_IsObject(c))
            tag = TAG_JSON;
        break;
    case CC_ORIGIN:             /* the batch's node: nothing to send */
        if (!cJSON_IsString(c) || strcmp(c->valuestring, node) != 0)
            tag = TAG_JSON;
        break;
    case CC_OTHER:
        tag = TAG_JSON;
        break;
    }
    col->tag[row] = (unsigned char)tag;
    if (tag == TAG_VALUE && col->cc == CC_ORIGIN)
        return 0;
    if (tag == TAG_VALUE && col->cc == CC_JSONV) {
        r = batch_json_print(&col->jp, c);      /* by hand when it can */
        if (r < 0)
            return r;
        s = r > 0 ? col->jp.p : NULL;   /* NUL-terminated */
        r = 0;
    }
    if ((tag == TAG_JSON || col->cc == CC_JSONV) && !s) {
        text = cJSON_PrintUnformatted(c);
        if (!text)
            return -ENOMEM;
        s = text;
    }
    if (!s)
        return 0;
    n = strlen(s);
    if (tag == TAG_VALUE && col->cc == CC_JSONV) {
        /* the numbers out, a hole for each; a number of 1 to 15 digits
         * prints back the same (cJSON prints what it parsed that way) */
        int in_str = 0, k = 0;
        size_t i = 0;
        while (i < n && r == 0) {
            size_t j = i + (s[i] == '-'), e;
            if (col->v >= 2 && !in_str && s[i] == '"' && (e = str_end(s, i, n)) < n &&
                (e + 1 == n || s[e + 1] != ':')) {
                r = strbuf_add(&col->str, (char[]){ COL_JSON_SHOLE }, 1);  /* a value, */
                if (r == 0)                                                 /* not a key */
                    r = push_str(col, s + i + 1, e - i - 1);
                i = e + 1;
                continue;
            }
            if (in_str || s[i] == '"' || !((s[i] >= '0' && s[i] <= '9') || s[i] == '-')) {
                size_t step = in_str && s[i] == '\\' && i + 1 < n ? 2 : 1;
                if (s[i] == '"')
                    in_str = !in_str;
                r = strbuf_add(&col->str, s + i, step);
                i += step;
                continue;
            }
            for (e = j; e < n && s[e] >= '0' && s[e] <= '9'; e++)
                ;
            if (e - j < 1 || e - j > 15 || (s[j] == '0' && (e - j > 1 || j > i)) ||
                (e < n && (s[e] == '.' || s[e] == 'e' || s[e] == 'E'))) {
                while (e < n && strchr("0123456789.eE+-", s[e]))
                    e++;
                r = strbuf_add(&col->str, s + i, e - i);
            } else {
                int64_t x = strtoll(s + i, NULL, 10);
                r = strbuf_add(&col->str, (char[]){ COL_JSON_HOLE }, 1);
                if (r == 0)
                    r = push_num(col, k < COL_JSON_NUMS ? k : COL_JSON_NUMS,
                                 sx((uint64_t)x));
                k++;
            }
            i = e;
        }
    } else {
        r = strbuf_add(&col->str, s, n);
    }
    if (is_text(col->cc)) {
        col->soff[row] = (uint32_t)off;
        col->slen[row] = (uint32_t)(col->str.len - off);
    } else {
        *a = off;
        *b = col->str.len - off;
    }
    cJSON_free(text);
    return r < 0 ? r : col->str.err;
}

/* v (0 .. 10^n - 1) in n digits with leading zeros. */
static void put_dec(char *p, int v, int n)
{
    while (n-- > 0) {
        p[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

int batch_col_print(int shape, int64_t v, char *buf, size_t size)
{
    int64_t days = shape == 2 ? v : (v >= 0 ? v / 86400000 : -((-v + 86399999) / 86400000));
    int64_t ms = shape == 2 ? 0 : v - days * 86400000;
    int y, m, d;

    if (days < -719162 || days > 2932896)       /* 0001-01-01 .. 9999-12-31 */
        return -ERANGE;
    col_civil(days, &y, &m, &d);
    /* "%04d-%02d-%02d[T%02d:%02d:%02d[.%03d]Z]" by hand: the hub prints
     * one for every time cell it decodes */
    if (size < 25)
        return -ERANGE;
    put_dec(buf, y, 4);
    buf[4] = '-';
    put_dec(buf + 5, m, 2);
    buf[7] = '-';
    put_dec(buf + 8, d, 2);
    if (shape == 2) {
        buf[10] = 0;
        return 0;
    }
    buf[10] = 'T';
    put_dec(buf + 11, (int)(ms / 3600000), 2);
    buf[13] = ':';
    put_dec(buf + 14, (int)(ms / 60000 % 60), 2);
    buf[16] = ':';
    put_dec(buf + 17, (int)(ms / 1000 % 60), 2);
    if (shape == 1) {
        buf[19] = '.';
        put_dec(buf + 20, (int)(ms % 1000), 3);
        memcpy(buf + 23, "Z", 2);
    } else {
        memcpy(buf + 19, "Z", 2);
    }
    return 0;
}

/* ------------------------------------------------------------ a table */

static void etable_free(struct etable *t)
{
    for (int i = 0; i < t->ncols; i++) {
        struct ecol *c = &t->col[i];
        free(c->tag);
        free(c->a);
        free(c->b);
        free(c->soff);
        free(c->slen);
        strbuf_free(&c->str);
        for (int k = 0; k <= COL_JSON_NUMS; k++)
            free(c->jn[k]);
        strbuf_free(&c->jtxt);
        strbuf_free(&c->jp);
        free(c->jso);
    }
    free(t->scratch);
    memset(t, 0, sizeof(*t));
}

static int grow(void **p, size_t n, size_t size)
{
    void *q = realloc(*p, n * size);

    if (!q)
        return -ENOMEM;
    *p = q;
    return 0;
}

static int etable_grow(struct etable *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 64;

    for (int i = 0; i < t->ncols; i++) {
        struct ecol *c = &t->col[i];
        int r = grow((void **)&c->tag, ncap, 1);
        if (r == 0 && is_text(c->cc))
            r = grow((void **)&c->soff, ncap, 4) < 0 ? -ENOMEM : grow((void **)&c->slen, ncap, 4);
        else if (r == 0)
            r = grow((void **)&c->a, ncap, 8) < 0 ? -ENOMEM : grow((void **)&c->b, ncap, 8);
        if (r < 0)
            return r;
    }
    if (grow((void **)&t->scratch, ncap * 3, 8) < 0)
        return -ENOMEM;
    t->cap = ncap;
    return 0;
}

static int etable_row(struct etable *t, const cJSON *row)
{
    const cJSON *c = row->child;
    int r = 0;

    if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != t->ncols)
        return -EINVAL;        /* the JSON decoder would refuse the batch */
    if (t->nrows == t->cap && (r = etable_grow(t)) < 0)
        return r;
    for (int i = 0; i < t->ncols && r == 0; i++, c = c->next)
        r = cell_value(&t->col[i], t->nrows, c, t->node);
    t->nrows++;
    return r;
}

/* A value's ms on the row's clock. */
static int64_t clock_ms(const struct ecol *c, size_t i)
{
    switch (c->cc) {
    case CC_HLC:  return (int64_t)(c->a[i] >> 16);
    case CC_DATE: return (int64_t)c->a[i] * 86400000;
    case CC_ID:   return (int64_t)(c->a[i] & 0xffffffffffffull);
    default:      return (int64_t)c->a[i];
    }
}

/* Value i of a time column as the difference from the row's clock pred. */
static uint64_t time_delta(const struct ecol *c, size_t i, int64_t pred)
{
    switch (c->cc) {
    case CC_HLC:  return sx((uint64_t)((int64_t)(c->a[i] >> 16) - pred));
    case CC_DATE: return sx((uint64_t)((int64_t)c->a[i] - col_fdiv(pred, 86400000)));
    case CC_TS:
        if (c->b[i] == 0)
            return sx((uint64_t)((int64_t)c->a[i] / 1000 - col_fdiv(pred, 1000)));
        return sx((uint64_t)((int64_t)c->a[i] - pred));
    default:      return sx((c->a[i] & 0xffffffffffffull) - (uint64_t)pred);  /* CC_ID */
    }
}

struct sref {
    const char *p;
    size_t n;
};

/* The length of the run of digits s ends with (at most 18). */
static size_t tail_digits(const struct sref *s)
{
    size_t k = 0;

    while (k < s->n && k < 18 && s->p[s->n - 1 - k] >= '0' && s->p[s->n - 1 - k] <= '9')
        k++;
    return k;
}

#define STR_DEPTH 2    /* string lists in string lists: deeper ones are plain */

static int put_strlist(struct out *o, const struct sref *s, size_t m, uint64_t *v, int depth);

/* Strings that each end in digits (a reference, a permit number): what
 * comes before, the number of digits, and the numbers (the first, then
 * the differences). */
static int put_numbered(struct out *o, const struct sref *s, size_t m, uint64_t *v, int depth)
{
    struct sref *pre = malloc(m * sizeof(*pre));
    uint64_t last = 0;
    int r;

    if (!pre)
        return -ENOMEM;
    for (size_t i = 0; i < m; i++) {
        size_t k = tail_digits(&s[i]);
        pre[i] = (struct sref){ s[i].p, s[i].n - k };
        v[i] = k;
    }
    r = put_strlist(o, pre, m, v + m, depth + 1);
    put_packed(o, v, m);
    for (size_t i = 0; i < m; i++) {
        size_t k = (size_t)v[i];
        uint64_t x = 0;
        for (size_t j = s[i].n - k; j < s[i].n; j++)
            x = x * 10 + (uint64_t)(s[i].p[j] - '0');
        v[i] = i == 0 ? x : sx(x - last);
        last = x;
    }
    put_varint(&o->num, v[0]);
    put_packed(o, v + 1, m - 1);
    free(pre);
    return r;
}

struct ent {
    struct sref s;
    uint32_t at;                /* its index in first-use order */
};

static int by_len_bytes(const void *a, const void *b)
{
    const struct sref *x = &((const struct ent *)a)->s, *y = &((const struct ent *)b)->s;

    return x->n != y->n ? (x->n < y->n ? -1 : 1) : memcmp(x->p, y->p, x->n);
}

/* The dictionary of put_strlist(): each string's index, then the distinct
 * strings (first[] of them), sorted (numbers in order: small differences). */
static int put_dict(struct out *o, const struct sref *s, size_t m, uint64_t *v,
                    const uint32_t *first, size_t nd, int depth)
{
    uint32_t *rank = malloc(nd * sizeof(*rank));
    struct ent *e = malloc(nd * sizeof(*e));
    struct sref *sorted = malloc(nd * sizeof(*sorted));
    int r = -ENOMEM;

    if (rank && e && sorted) {
        for (size_t j = 0; j < nd; j++)
            e[j] = (struct ent){ s[first[j]], (uint32_t)j };
        qsort(e, nd, sizeof(*e), by_len_bytes);
        for (size_t j = 0; j < nd; j++) {
            rank[e[j].at] = (uint32_t)j;
            sorted[j] = e[j].s;
        }
        for (size_t i = 0; i < m; i++)
            v[i] = rank[v[i]];
        put_varint(&o->num, nd + 1);
        put_packed(o, v, m);
        r = put_strlist(o, sorted, nd, v, depth + 1);
    }
    free(rank);
    free(e);
    free(sorted);
    return r;
}

/* m strings: mode 0, plain (their lengths, then their bytes); 1, numbered
 * (put_numbered(), when every one ends in digits and none repeats); or,
 * when some repeat, mode 1 + the number of distinct ones (put_dict()).
 * Below STR_DEPTH lists in lists, plain only. v: room for 3 m values
 * (numbered strings whose prefixes are numbered: m each). */
static int put_strlist(struct out *o, const struct sref *s, size_t m, uint64_t *v, int depth)
{
    size_t nd = 0, hcap = 16, numbered = depth < STR_DEPTH;
    uint32_t *hash = NULL, *first = NULL;
    int r = 0;

    if (m == 0)
        return 0;
    while (hcap < m * 2)
        hcap *= 2;
    hash = calloc(hcap, sizeof(*hash));
    first = malloc(m * sizeof(*first));
    if (!hash || !first) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < m; i++) {
        uint32_t h = 2166136261u;
        for (size_t x = 0; x < s[i].n; x++)
            h = (h ^ (unsigned char)s[i].p[x]) * 16777619u;
        for (h &= (uint32_t)(hcap - 1); hash[h]; h = (h + 1) & (uint32_t)(hcap - 1)) {
            const struct sref *f = &s[first[hash[h] - 1]];
            if (f->n == s[i].n && memcmp(f->p, s[i].p, s[i].n) == 0)
                break;
        }
        if (!hash[h]) {
            first[nd] = (uint32_t)i;
            hash[h] = (uint32_t)++nd;
        }
        v[i] = hash[h] - 1;
        numbered = numbered && tail_digits(&s[i]) > 0;
    }
    if (nd < m && depth < STR_DEPTH) {
        r = put_dict(o, s, m, v, first, nd, depth);
    } else if (numbered) {
        put_varint(&o->num, 1);
        r = put_numbered(o, s, m, v, depth);
    } else {
        put_varint(&o->num, 0);
        for (size_t i = 0; i < m; i++) {
            v[i] = s[i].n;
            strbuf_add(&o->txt, s[i].p, s[i].n);
        }
        put_packed(o, v, m);
    }
out:
    free(hash);
    free(first);
    return r;
}

/* The strings of the rows whose tag is tag, in row order. */
static int put_strings(struct out *o, struct etable *t, struct ecol *c, int tag)
{
    struct sref *s = malloc((t->nrows + 1) * sizeof(*s));
    size_t m = 0;
    int r;

    if (!s)
        return -ENOMEM;
    for (size_t i = 0; i < t->nrows; i++)
        if (c->tag[i] == tag)
            s[m++] = is_text(c->cc) ? (struct sref){ c->str.p + c->soff[i], c->slen[i] }
                                    : (struct sref){ c->str.p + c->a[i], (size_t)c->b[i] };
    r = put_strlist(o, s, m, t->scratch, 0);
    free(s);
    return r;
}

/* Version 2: the string values taken out of a JSON column's cells, in
 * order, as one string list. */
static int put_jstrings(struct out *o, struct ecol *c)
{
    size_t m = c->jsn / 2;
    struct sref *s = malloc((m + 1) * sizeof(*s));
    uint64_t *v = malloc((3 * m + 1) * sizeof(*v));
    int r = s && v ? 0 : -ENOMEM;

    for (size_t i = 0; r == 0 && i < m; i++)
        s[i] = (struct sref){ c->jtxt.p + c->jso[2 * i], (size_t)c->jso[2 * i + 1] };
    if (r == 0)
        r = c->jtxt.err ? c->jtxt.err : put_strlist(o, s, m, v, 0);
    free(s);
    free(v);
    return r;
}

static int etable_emit(struct out *o, struct etable *t)
{
    const int64_t *anc;
    int64_t *anchor, prev = 0;
    int anchor_col = -1, r = 0;

    put_varint(&o->num, t->nrows);
    for (int i = 0; i < t->ncols && anchor_col < 0; i++)
        if (col_is_time(t->col[i].cc))
            anchor_col = i;
    /* the row's clock: its first time column's, or the last row's; the
     * first row's comes from the table's base, its first such value */
    for (size_t i = 0; anchor_col >= 0 && i < t->nrows; i++)
        if (t->col[anchor_col].tag[i] == TAG_VALUE) {
            prev = clock_ms(&t->col[anchor_col], i);
            break;
        }
    put_varint(&o->num, zz_enc((uint64_t)prev));
    anchor = malloc((t->nrows + 1) * sizeof(*anchor));
    if (!anchor)
        return -ENOMEM;
    anchor[0] = prev;
    anc = anchor + 1;           /* anc[-1]: the base */
    for (size_t i = 0; anchor_col >= 0 && i < t->nrows; i++) {
        if (t->col[anchor_col].tag[i] == TAG_VALUE)
            prev = clock_ms(&t->col[anchor_col], i);
        anchor[i + 1] = prev;
    }
    for (int k = 0; k < t->ncols && r == 0; k++) {
        struct ecol *c = &t->col[k];
        uint64_t *v = t->scratch, last = 0;
        size_t m = 0, seen = 0;

        for (size_t i = 0; i < t->nrows; i++)
            v[i] = c->tag[i];
        put_packed(o, v, t->nrows);
        r = put_strings(o, t, c, TAG_JSON);
        for (size_t i = 0; i < t->nrows && r == 0; i++) {
            if (c->tag[i] != TAG_VALUE)
                continue;
            if (c->cc == CC_SEQ && !seen++) {
                put_varint(&o->num, zz_enc(c->a[i]));    /* the first; then deltas */
                last = c->a[i];
            } else if (c->cc == CC_SEQ) {
                v[m++] = sx(c->a[i] - last);
                last = c->a[i];
            } else if (col_is_time(c->cc)) {
                v[m++] = time_delta(c, i, k == anchor_col ? anc[(ptrdiff_t)i - 1] : anc[i]);
            } else if (c->cc == CC_INT || c->cc == CC_COORD) {
                v[m++] = sx(c->a[i]);
            }
        }
        put_packed(o, v, m);
        if (c->cc == CC_ID || c->cc == CC_HLC || c->cc == CC_TS) {
            m = 0;              /* the second part: random bits, counter, shape */
            for (size_t i = 0; i < t->nrows; i++)
                if (c->tag[i] == TAG_VALUE)
                    v[m++] = c->cc == CC_HLC ? (c->a[i] & 0xffff) : c->b[i];
            put_packed(o, v, m);
        }
        if (c->cc == CC_ID) {
            m = 0;              /* the third: rand_a */
            for (size_t i = 0; i < t->nrows; i++)
                if (c->tag[i] == TAG_VALUE)
                    v[m++] = c->a[i] >> 48;
            put_packed(o, v, m);
        }
        if (r == 0 && (c->cc == CC_STR || c->cc == CC_JSONV))
            r = put_strings(o, t, c, TAG_VALUE);
        for (int j = 0; c->cc == CC_JSONV && j <= COL_JSON_NUMS; j++)
            put_packed(o, c->jn[j], c->jnn[j]);
        if (r == 0 && c->cc == CC_JSONV && o->v >= 2)
            r = put_jstrings(o, c);
    }
    free(anchor);
    return r;
}

/* ------------------------------------------------------------ the batch */

/* Parses the JSON value at *p (within end) into *ret; *p moves past it. */
static int parse_at(const char **p, const char *end, cJSON **ret)
{
    const char *stop = NULL;

    *ret = cJSON_ParseWithLengthOpts(*p, (size_t)(end - *p), &stop, 0);
    if (!*ret)
        return -EINVAL;
    *p = stop;
    return 0;
}

static int expect(const char **p, const char *end, const char *s)
{
    size_t n = strlen(s);

    if ((size_t)(end - *p) < n || memcmp(*p, s, n) != 0)
        return -EINVAL;
    *p += n;
    return 0;
}

/* One table block at *p: {"table":T,"cols":[...],"rows":[[...],...]} */
static int table_encode(struct out *o, const char **p, const char *end)
{
    struct etable *t = calloc(1, sizeof(*t));
    cJSON *name = NULL, *cols = NULL, *row = NULL;
    const cJSON *c;
    const char *names[COL_MAX_COLS];
    int r, dflt;

    if (!t)
        return -ENOMEM;
    r = expect(p, end, "{\"table\":");
    if (r == 0)
        r = parse_at(p, end, &name);
    if (r == 0)
        r = expect(p, end, ",\"cols\":");
    if (r == 0)
        r = parse_at(p, end, &cols);
    if (r == 0)
        r = expect(p, end, ",\"rows\":[");
    if (r < 0)
        goto out;
    t->k = cJSON_IsString(name) ? record_kind_find(name->valuestring) : NULL;
    t->ncols = cJSON_GetArraySize(cols);
    if (!t->k || !cJSON_IsArray(cols) || t->ncols < 1 || t->ncols > COL_MAX_COLS ||
        strlen(name->valuestring) > COL_MAX_NAME) {
        t->ncols = 0;           /* nothing of its columns to free */
        r = -EINVAL;
        goto out;
    }
    put_varint(&o->num, strlen(name->valuestring) + 1);
    strbuf_str(&o->txt, name->valuestring);
    t->node = o->node;
    c = cols->child;
    for (int i = 0; i < t->ncols; i++, c = c->next) {
        if (!cJSON_IsString(c) || strlen(c->valuestring) > COL_MAX_NAME) {
            r = -EINVAL;
            goto out;
        }
        names[i] = c->valuestring;
        t->col[i].cc = col_class_v(t->k, c->valuestring, o->v);
        t->col[i].v = o->v;
    }
    dflt = o->v >= 2 && col_default_names(t->k, names, t->ncols);
    put_varint(&o->num, dflt ? 0 : (uint64_t)t->ncols);     /* 0: the kind's own */
    for (int i = 0; i < t->ncols && !dflt; i++) {
        put_varint(&o->num, strlen(names[i]));
        strbuf_str(&o->txt, names[i]);
    }
    while (r == 0 && *p < end && **p != ']') {
        if (t->nrows > 0)
            r = expect(p, end, ",");
        if (r == 0)
            r = parse_at(p, end, &row);
        if (r == 0)
            r = etable_row(t, row);
        cJSON_Delete(row);
        row = NULL;
        if (r == 0 && t->nrows > BATCH_MAX_ROWS)
            r = -E2BIG;
    }
    if (r == 0)
        r = expect(p, end, "]}");
    if (r == 0)
        r = etable_emit(o, t);
out:
    cJSON_Delete(name);
    cJSON_Delete(cols);
    etable_free(t);
    free(t);
    return r;
}

/* A whole number of the head, 0 .. 2^53. */
static int head_int(const cJSON *x, uint64_t *v)
{
    if (!cJSON_IsNumber(x) || !(x->valuedouble >= 0 && x->valuedouble <= 9007199254740992.0) ||
        x->valuedouble != (double)(int64_t)x->valuedouble)
        return 0;
    *v = (uint64_t)x->valuedouble;
    return 1;
}

/* Version 2's head: last_seq, base_seq + 1 (0: none) and the hlc, from the
 * head h of batch_write_head() (its keys in its order; the node a
 * lowercase UUID, kept in o->node for CC_ORIGIN). -EINVAL for any other
 * head: the node then sends version 1, which carries it as it is. The
 * hub reads the node of a version 2 batch from the client certificate:
 * a node whose head names another node (which version 1 has refused)
 * cannot say so in version 2. */
static int head2(struct out *o, const cJSON *h)
{
    const char *keys[] = { "v", "node", "last_seq", "hlc", "base_seq" };
    const cJSON *x[5] = { 0 }, *c = h->child;
    uint64_t v, last, base = 0, hlc;

    for (int i = 0; i < 5 && c; i++)
        if (strcmp(c->string, keys[i]) == 0) {
            x[i] = c;
            c = c->next;
        }
    if (c || !x[0] || !x[1] || !x[2] || !x[3] || !head_int(x[0], &v) || v != 1 ||
        !cJSON_IsString(x[1]) || strlen(x[1]->valuestring) >= sizeof(o->node) ||
        !head_int(x[2], &last) || (x[4] && !head_int(x[4], &base)) ||
        !cJSON_IsString(x[3]) || !hlc_of(x[3]->valuestring, &hlc))
        return -EINVAL;
    for (int i = 0; i < 36; i++) {      /* a lowercase UUID, as the hub's from the certificate */
        char ch = x[1]->valuestring[i];
        if (i == 8 || i == 13 || i == 18 || i == 23 ? ch != '-' : hexval(ch) < 0)
            return -EINVAL;
    }
    if (x[1]->valuestring[36])
        return -EINVAL;
    strcpy(o->node, x[1]->valuestring);
    put_varint(&o->num, last);
    put_varint(&o->num, x[4] ? base + 1 : 0);
    put_varint(&o->num, hlc);
    return 0;
}

int batch_columnar(const char *json, size_t len, struct strbuf *ret)
{
    return batch_columnar_v(json, len, COL_VERSION, ret);
}

int batch_columnar_v(const char *json, size_t len, int v, struct strbuf *ret)
{
    static const char tables[] = "\"tables\":[";
    const char *end = json + len, *p, *at = NULL;
    struct out o = { { 0 }, { 0 }, v, "" };
    unsigned char head[4] = { 'S', 'K', 'C', (unsigned char)v };
    int r = 0;

    if (v != COL_VERSION && v != COL_VERSION2)
        return -EINVAL;

    for (p = json; p + sizeof(tables) - 1 <= end && !at; p++)
        if (memcmp(p, tables, sizeof(tables) - 1) == 0)
            at = p;
    if (!at || at == json || at[-1] != ',' || json[0] != '{')
        return -EINVAL;         /* not a batch of batch_write_head() */
    if (v == COL_VERSION)
        put_varint(&o.num, (uint64_t)(at - json));
    strbuf_add(&o.txt, json, (size_t)(at - json - 1));
    strbuf_add(&o.txt, "}", 1);
    if (!o.txt.err) {           /* the head alone must be a JSON object, as the hub reads it */
        const char *stop = NULL;
        cJSON *h = cJSON_ParseWithLengthOpts(o.txt.p, o.txt.len, &stop, 0);
        r = cJSON_IsObject(h) && !cJSON_GetObjectItemCaseSensitive(h, "tables") &&
            stop == o.txt.p + o.txt.len ? 0 : -EINVAL;
        if (r == 0 && v == COL_VERSION2) {
            r = head2(&o, h);
            strbuf_reset(&o.txt);     /* version 2: no head text */
        }
        cJSON_Delete(h);
    }

    p = at + sizeof(tables) - 1;
    while (r == 0 && p < end && *p != ']') {
        if (p != at + sizeof(tables) - 1)
            r = expect(&p, end, ",");
        if (r == 0)
            r = table_encode(&o, &p, end);
    }
    if (r == 0)
        r = expect(&p, end, "]}");
    if (r == 0 && p != end)
        r = -EINVAL;
    put_varint(&o.num, 0);
    if (r == 0)
        r = o.num.err ? o.num.err : o.txt.err;
    if (r == 0) {
        strbuf_add(ret, head, sizeof(head));
        put_varint(ret, o.num.len);
        strbuf_add(ret, o.num.p, o.num.len);
        strbuf_add(ret, o.txt.p, o.txt.len);
        r = ret->err;
    }
    strbuf_free(&o.num);
    strbuf_free(&o.txt);
    return r;
}

int batch_columnar_choice(const char *accept, int use_dict)
{
    if (strstr(accept, BATCH_COLUMNAR2_TOKEN) &&
        (!use_dict || strstr(accept, BATCH_COLDICT2_TOKEN)))
        return 2;
    if (strstr(accept, BATCH_COLUMNAR_TOKEN) && (!use_dict || strstr(accept, BATCH_COLDICT_TOKEN)))
        return 1;
    return 0;
}
