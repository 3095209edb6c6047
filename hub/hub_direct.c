/* hub_direct.c - the direct path of a push (see hub_direct.h): which rows
 * of a decoded table block may go straight into their table, and their
 * COPY text.
 *
 * A line of the decoder (sync/batch.h) is COPY text for the temporary
 * table: seq, bad_code, bad_reason, then the kind's columns. The checks
 * below mirror those of hub_batch_sql.c (the rules there are the
 * reference; each function says which it stands for) and answer only
 * "certainly passes" or "not sure". */
#include "hub_direct.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIELDS (3 + 64)
#define HERD_MAX_KEYS 16

struct field {
    const char *p;
    size_t      n;
};

static int is_null(const struct field *f)
{
    return f->n == 2 && f->p[0] == '\\' && f->p[1] == 'N';
}

/* 1 when f is a value without any COPY escape (and not NULL): its bytes are
 * the value's. */
static int plain(const struct field *f)
{
    return !memchr(f->p, '\\', f->n);
}

static int eq(const struct field *f, const char *s)
{
    return f->n == strlen(s) && memcmp(f->p, s, f->n) == 0;
}

/* Splits the line at p (up to its '\n') into fields; returns their number
 * (0 when there are more than MAX_FIELDS) and the line's end in *next. */
static int split_line(const char *p, const char *end, struct field *f, const char **next)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    int n = 0;

    if (!nl)
        nl = end;
    *next = nl < end ? nl + 1 : end;
    for (;;) {
        const char *tab = memchr(p, '\t', (size_t)(nl - p));
        if (n == MAX_FIELDS)
            return 0;
        f[n].p = p;
        f[n].n = (size_t)((tab ? tab : nl) - p);
        n++;
        if (!tab)
            return n;
        p = tab + 1;
    }
}

/* ------------------------------------------------------------ place and codes */

/* village_rules, in_district_rules, area_here_rules, area_rules */
static int place_ok(const struct direct_ctx *x, enum col_check c, const struct field *f)
{
    int level;

    if (is_null(f))
        return c == CHECK_VILLAGE || c == CHECK_IN_DISTRICT;  /* NULL: those refuse nothing */
    if (!plain(f))
        return 0;
    if (c == CHECK_IN_DISTRICT)
        return eq(f, x->district);
    level = refcache_area(x->rc, f->p, f->n);   /* a known code is ASCII digits */
    if (c == CHECK_AREA)
        return level > 0;
    if (level == 0 || f->n < 4 || memcmp(f->p, x->district, 4) != 0 || strlen(x->district) != 4)
        return 0;
    return c == CHECK_AREA_HERE || level == 4;
}

/* code_rules: NULL or a code of the list */
static int code_ok(const struct direct_ctx *x, const char *list, const struct field *f)
{
    if (is_null(f))
        return 1;
    return plain(f) && refcache_code(x->rc, list, f->p, f->n);
}

/* A JSON string at *p (no escapes: the caller saw no backslash); its
 * contents in *s, *n. 0 when *p is not one. */
static int json_str(const char **p, const char *end, const char **s, size_t *n)
{
    const char *q;

    if (*p >= end || **p != '"')
        return 0;
    q = memchr(*p + 1, '"', (size_t)(end - *p - 1));
    if (!q)
        return 0;
    *s = *p + 1;
    *n = (size_t)(q - *s);
    *p = q + 1;
    return 1;
}

/* codes_rules: a JSON array of strings, each a code of the list */
static int codes_ok(const struct direct_ctx *x, const char *list, const struct field *f)
{
    const char *p = f->p, *end = f->p + f->n, *s;
    size_t n;

    if (is_null(f))
        return 1;
    if (!plain(f) || p == end || *p++ != '[')
        return 0;
    if (p < end && *p == ']')
        return p + 1 == end;
    for (;;) {
        if (!json_str(&p, end, &s, &n) || !refcache_code(x->rc, list, s, n))
            return 0;
        if (p < end && *p == ']')
            return p + 1 == end;
        if (p >= end || *p++ != ',')
            return 0;
    }
}

/* ------------------------------------------------------------ herds */

/* One element of a herd array, as far as the checks read it. */
struct herd_el {
    const char *species;
    size_t      species_n;     /* 0 with species NULL: absent, null or not a string */
    int64_t     count[4];      /* sick, dead, culled, at_risk: 0 when absent or null */
    int         bad;           /* a count that is not an integer >= 0 (BAD_COUNTS) */
};

static const char *const count_keys[4] = { "sick", "dead", "culled", "at_risk" };

/* A plain integer of up to 15 digits at *p, ended by ',' or '}'. */
static int json_int(const char **p, const char *end, int64_t *v)
{
    const char *q = *p;
    int neg = 0, digits = 0;

    if (q < end && *q == '-') {
        neg = 1;
        q++;
    }
    for (*v = 0; q < end && *q >= '0' && *q <= '9' && digits < 16; q++, digits++)
        *v = *v * 10 + (*q - '0');
    if (digits == 0 || digits > 15 || q >= end || (*q != ',' && *q != '}'))
        return 0;
    if (neg)
        *v = -*v;
    *p = q;
    return 1;
}

/* Reads one object {"key":value,...} at *p into e: values are strings,
 * plain integers or null; anything else (and a key twice) is "not sure". */
static int herd_object(const char **p, const char *end, struct herd_el *e)
{
    const char *keys[HERD_MAX_KEYS];
    size_t klen[HERD_MAX_KEYS];
    int nkeys = 0;

    memset(e, 0, sizeof(*e));
    if (*p >= end || *(*p)++ != '{')
        return 0;
    if (*p < end && **p == '}') {
        (*p)++;
        return 1;
    }
    for (;;) {
        const char *k, *s;
        size_t kn, sn;
        int64_t v;
        int ci = -1;
        if (nkeys == HERD_MAX_KEYS || !json_str(p, end, &k, &kn) || *p >= end || *(*p)++ != ':')
            return 0;
        for (int i = 0; i < nkeys; i++)
            if (klen[i] == kn && memcmp(keys[i], k, kn) == 0)
                return 0;
        keys[nkeys] = k;
        klen[nkeys++] = kn;
        for (int i = 0; i < 4; i++)
            if (kn == strlen(count_keys[i]) && memcmp(k, count_keys[i], kn) == 0)
                ci = i;
        if (*p < end && **p == '"') {
            if (!json_str(p, end, &s, &sn))
                return 0;
            if (ci >= 0)
                e->bad = 1;             /* a count that is a string */
            if (kn == 7 && memcmp(k, "species", 7) == 0) {
                e->species = s;
                e->species_n = sn;
            }
        } else if (end - *p >= 4 && memcmp(*p, "null", 4) == 0) {
            *p += 4;
        } else if (json_int(p, end, &v)) {
            if (ci >= 0) {
                e->count[ci] = v;
                e->bad |= v < 0;
            }
        } else {
            return 0;
        }
        if (*p < end && **p == '}') {
            (*p)++;
            return 1;
        }
        if (*p >= end || *(*p)++ != ',')
            return 0;
    }
}

/* herd_rules (every element an object with a known species) and, for the
 * animals column of a kind with RULE_CASE_COUNTS or RULE_FOLLOWUP_COUNTS,
 * the exact predicates of those rules (CR_OVER, CR_NONE, FU_OVER, BAD_COUNTS)
 * false for every element. */
static int herd_ok(const struct direct_ctx *x, unsigned rules, const struct field *f)
{
    const char *p = f->p, *end = f->p + f->n;
    struct herd_el e;

    if (is_null(f))
        return 1;
    if (!plain(f) || p == end || *p++ != '[')
        return 0;
    if (p < end && *p == ']')
        return p + 1 == end;
    for (;;) {
        int64_t sick, dead, culled, at_risk;
        if (!herd_object(&p, end, &e) || !e.species ||
            !refcache_code(x->rc, "species", e.species, e.species_n))
            return 0;
        sick = e.count[0], dead = e.count[1], culled = e.count[2], at_risk = e.count[3];
        if ((rules & (RULE_CASE_COUNTS | RULE_FOLLOWUP_COUNTS)) && e.bad)
            return 0;
        if ((rules & RULE_CASE_COUNTS) &&
            ((at_risk > 0 && sick + dead > at_risk) || sick + dead < 1))
            return 0;
        if ((rules & RULE_FOLLOWUP_COUNTS) && at_risk > 0 && sick + dead + culled > at_risk)
            return 0;
        if (p < end && *p == ']')
            return p + 1 == end;
        if (p >= end || *p++ != ',')
            return 0;
    }
}

/* 1 when no check of hub_batch_sql.c (kind_checks()) would refuse the row
 * whose kind's columns are f[0..k->ncols). */
static int row_ok(const struct direct_ctx *x, const struct record_kind *k,
                  const struct field *f)
{
    const struct field *kind = NULL, *syndrome = NULL;

    for (int i = 0; i < k->ncols; i++) {
        const struct kind_col *c = &k->cols[i];
        unsigned counts = strcmp(c->name, "animals") == 0 ? k->rules : 0;
        switch (c->check) {
        case CHECK_VILLAGE: case CHECK_IN_DISTRICT: case CHECK_AREA_HERE: case CHECK_AREA:
            if (!place_ok(x, c->check, &f[i]))
                return 0;
            break;
        case CHECK_CODE:
            if (!code_ok(x, c->list, &f[i]))
                return 0;
            break;
        case CHECK_CODES:
            if (!codes_ok(x, c->list, &f[i]))
                return 0;
            break;
        case CHECK_HERD:
            if (!herd_ok(x, counts, &f[i]))
                return 0;
            break;
        default:
            break;
        }
        if (strcmp(c->name, "kind") == 0)
            kind = &f[i];
        if (strcmp(c->name, "syndrome") == 0)
            syndrome = &f[i];
    }
    /* case_kind_rules: kind U without a syndrome, P with one */
    if (k->rules & RULE_CASE_KIND)
        return kind && syndrome && (eq(kind, "U") ? is_null(syndrome) :
                                    eq(kind, "P") && !is_null(syndrome));
    /* the count rules read the animals column, checked above as a herd */
    if (k->rules & (RULE_CASE_COUNTS | RULE_FOLLOWUP_COUNTS)) {
        const struct kind_col *a = kind_col_find(k, "animals");
        return a && a->check == CHECK_HERD;
    }
    return 1;
}

/* ------------------------------------------------------------ COPY text */

/* Appends s as a COPY text value. */
static void copy_esc(struct strbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '\t' || *s == '\n' || *s == '\r') {
            char e[2] = { '\\', *s == '\\' ? '\\' : *s == '\t' ? 't' : *s == '\n' ? 'n' : 'r' };
            strbuf_add(b, e, 2);
        } else {
            strbuf_add(b, s, 1);
        }
    }
}

/* A coordinate field as a double; 0 when it is not a plain number. */
static int coord(const struct field *f, double *v)
{
    char buf[40], *endp;

    if (is_null(f) || f->n == 0 || f->n >= sizeof(buf))
        return 0;
    memcpy(buf, f->p, f->n);
    buf[f->n] = 0;
    *v = strtod(buf, &endp);
    return *endp == 0;
}

static void hex_double(struct strbuf *b, double v)
{
    static const char hex[] = "0123456789ABCDEF";
    uint64_t u;
    char out[16];

    memcpy(&u, &v, sizeof(u));
    for (int i = 0; i < 8; i++) {          /* little-endian, as the header says */
        out[2 * i] = hex[(u >> (8 * i + 4)) & 15];
        out[2 * i + 1] = hex[(u >> (8 * i)) & 15];
    }
    strbuf_add(b, out, 16);
}

/* The point of the row as the upsert makes it (ST_SetSRID(ST_MakePoint(lon,
 * lat), 4326) when both are given, else NULL), as hex EWKB: a little-endian
 * point with an SRID. 0 when a coordinate does not read as a number. */
static int geom(struct strbuf *b, const struct field *lon, const struct field *lat)
{
    double x, y;

    if (is_null(lon) || is_null(lat)) {
        strbuf_add(b, "\\N", 2);
        return 1;
    }
    if (!coord(lon, &x) || !coord(lat, &y))
        return 0;
    strbuf_str(b, "0101000020E6100000");
    hex_double(b, x);
    hex_double(b, y);
    return 1;
}

/* Appends the direct COPY line of the row; 0 when it cannot be written
 * (the row then goes the SQL way). */
static int direct_line(const struct direct_ctx *x, const struct record_kind *k,
                       const struct field *f, struct strbuf *b)
{
    size_t at = b->len;
    const struct field *lat = NULL;
    int first = 1;

    for (int i = 0; i < k->ncols; i++)
        if (k->cols[i].type == COL_LAT)
            lat = &f[i];
    for (int i = 0; i < k->ncols; i++) {
        const struct kind_col *c = &k->cols[i];
        if (c->type == COL_LAT)
            continue;
        if (!first)
            strbuf_add(b, "\t", 1);
        first = 0;
        if (c->type != COL_LON) {
            strbuf_add(b, f[i].p, f[i].n);
        } else if (!lat || !geom(b, &f[i], lat)) {
            b->len = at;
            if (b->p)
                b->p[at] = 0;
            return 0;
        }
    }
    strbuf_add(b, "\t", 1);
    copy_esc(b, x->node);
    strbuf_fmt(b, "\t%lld\t%lld", (long long)x->src_batch, (long long)x->src_hlc);
    if (k->sender_district) {
        strbuf_add(b, "\t", 1);
        copy_esc(b, x->district);
    }
    strbuf_add(b, "\n", 1);
    return 1;
}

/* ------------------------------------------------------------ the split */

int direct_split(const struct direct_ctx *x, const struct batch_table *t,
                 const struct strset *existing, struct direct_split *s)
{
    const struct record_kind *k = &record_kinds[t->kind];
    const char *p = t->copy, *end = t->copy + t->copy_len, *next;
    struct field f[MAX_FIELDS];
    int origin = -1, id = -1;

    for (int i = 0; i < k->ncols; i++) {
        if (k->cols[i].type == COL_ORIGIN)
            origin = i;
        if (k->cols[i].type == COL_ID)
            id = i;
    }
    strbuf_reserve(&s->direct, t->copy_len + (size_t)t->nrows * 128);
    for (; p < end; p = next) {
        int n = split_line(p, end, f, &next);
        const struct field *c = f + 3;
        if (strtoll(p, NULL, 10) <= x->acked)
            continue;                   /* applied before */
        if (!x->no_direct && n == 3 + k->ncols && origin >= 0 && id >= 0 && is_null(&f[1]) &&
            plain(&c[id]) && !strset_has(existing, c[id].p, c[id].n) &&
            eq(&c[origin], x->node) && row_ok(x, k, c) && direct_line(x, k, c, &s->direct)) {
            s->ndirect++;
            continue;
        }
        strbuf_add(&s->tmp, p, (size_t)(next - p));
        s->ntmp++;
    }
    return s->direct.err || s->tmp.err ? -ENOMEM : 0;
}

void direct_split_clear(struct direct_split *s)
{
    strbuf_free(&s->direct);
    strbuf_free(&s->tmp);
    s->ndirect = s->ntmp = 0;
}

char *direct_probe_ids(const struct batch_table *t)
{
    const char *p = t->copy, *end = t->copy + t->copy_len, *next;
    struct strbuf b = { 0 };
    struct field f[MAX_FIELDS];
    int first = 1;

    strbuf_reserve(&b, (size_t)t->nrows * 39 + 3);
    strbuf_add(&b, "{", 1);
    for (; p < end; p = next) {
        int n = split_line(p, end, f, &next);
        /* ids are UUIDs (the decoder checked them): no quoting needed */
        if (n > 3 && is_null(&f[1]) && plain(&f[3]) && !is_null(&f[3]) &&
            !memchr(f[3].p, '"', f[3].n) && !memchr(f[3].p, ',', f[3].n) &&
            !memchr(f[3].p, 0, f[3].n)) {
            if (!first)
                strbuf_add(&b, ",", 1);
            first = 0;
            strbuf_add(&b, "\"", 1);
            strbuf_add(&b, f[3].p, f[3].n);
            strbuf_add(&b, "\"", 1);
        }
    }
    strbuf_add(&b, "}", 1);
    if (b.err) {
        strbuf_free(&b);
        return NULL;
    }
    return strbuf_take(&b);
}

char *direct_probe_sql(const struct batch_table *t)
{
    struct strbuf s = { 0 };

    /* only the ids up to the greatest this node sent before: its new
     * records' ids are above it (017_node_max_id.sql) */
    strbuf_fmt(&s, "SELECT id FROM %s WHERE id = ANY(ARRAY(SELECT i FROM unnest($1::text[]) i "
               "WHERE i <= (SELECT max_id FROM node WHERE node_id = $2)))",
               record_kinds[t->kind].table);
    return strbuf_take(&s);
}

char *direct_copy_sql(const struct batch_table *t)
{
    const struct record_kind *k = &record_kinds[t->kind];
    struct strbuf s = { 0 };
    int first = 1;

    strbuf_fmt(&s, "COPY %s (", k->table);
    for (int i = 0; i < k->ncols; i++) {
        if (k->cols[i].type == COL_LAT)
            continue;
        strbuf_fmt(&s, "%s%s", first ? "" : ", ",
                   k->cols[i].type == COL_LON ? "geom" : k->cols[i].name);
        first = 0;
    }
    strbuf_str(&s, ", src_node, src_batch, src_hlc");
    if (k->sender_district)
        strbuf_fmt(&s, ", %s", k->district_col);
    strbuf_str(&s, ") FROM STDIN");
    return strbuf_take(&s);
}
