/* batch_cell.c - one cell of a pushed row, checked and written as COPY
 * text (see batch_cell.h): the checks a value must pass before PostgreSQL
 * sees it (a value that would make COPY or a cast fail would abort the
 * whole batch's transaction; a bad cell must refuse its row alone). */
#include "batch_cell.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "batch.h"
#include "utf8.h"
#include "uuid7.h"

void batch_copy_esc(struct strbuf *b, const char *s, size_t n)
{
    size_t i, start = 0;

    for (i = 0; i < n; i++) {
        const char *e = NULL;
        switch (s[i]) {
        case '\\': e = "\\\\"; break;
        case '\n': e = "\\n"; break;
        case '\r': e = "\\r"; break;
        case '\t': e = "\\t"; break;
        default: continue;
        }
        strbuf_add(b, s + start, i - start);
        strbuf_add(b, e, 2);
        start = i + 1;
    }
    strbuf_add(b, s + start, n - start);
}

void batch_put_int(struct strbuf *b, int64_t v)
{
    char buf[24], *p = buf + sizeof(buf);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    strbuf_add(b, p, (size_t)(buf + sizeof(buf) - p));
}

void bcell_of_json(struct bcell *v, const cJSON *c)
{
    *v = (struct bcell){ .type = BC_NULL, .tree = c };
    if (!c || cJSON_IsNull(c))
        return;
    if (cJSON_IsNumber(c)) {
        v->type = BC_NUM;
        v->num = c->valuedouble;
    } else if (cJSON_IsString(c)) {
        v->type = BC_STR;
        v->s = c->valuestring;
        v->n = strlen(c->valuestring);
        v->z = 1;
    } else {
        v->type = BC_TREE;
    }
}

int bcell_int(const struct bcell *c, int allow_string, int64_t *out)
{
    if (c->type == BC_NUM) {
        double v = c->num;
        if (v != v || v < -9007199254740992.0 || v > 9007199254740992.0 ||
            v != (double)(int64_t)v)
            return 0;
        *out = (int64_t)v;
        return 1;
    }
    if (allow_string && c->type == BC_STR) {
        uint64_t v = 0;
        if (c->n == 0 || c->n > 19)
            return 0;
        for (size_t i = 0; i < c->n; i++) {
            if (c->s[i] < '0' || c->s[i] > '9')
                return 0;
            v = v * 10 + (uint64_t)(c->s[i] - '0');
        }
        if (v > (uint64_t)INT64_MAX)
            return 0;
        *out = (int64_t)v;
        return 1;
    }
    return 0;
}

int batch_int_of(const cJSON *c, int allow_string, int64_t *out)
{
    struct bcell v;

    bcell_of_json(&v, c);
    return bcell_int(&v, allow_string, out);
}

/* ------------------------------------------------------------ times */

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

static int date_ok(const char *s)
{
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y, m, d;

    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &m) || s[7] != '-' ||
        !digits(s + 8, 2, &d))
        return 0;
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return 0;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 0;
    return 1;
}

/* YYYY-MM-DD[T ]HH:MM:SS[.f{1,6}][Z|+HH:MM|-HH:MM|+HH|-HH] */
static int ts_ok(const char *s)
{
    int h, mi, sec, k;
    const char *p;

    if (strlen(s) < 19 || !date_ok(s) || (s[10] != 'T' && s[10] != ' '))
        return 0;
    if (!digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &sec) || h > 23 || mi > 59 || sec > 59)
        return 0;
    p = s + 19;
    if (*p == '.') {
        for (k = 0, p++; *p >= '0' && *p <= '9'; p++, k++)
            ;
        if (k < 1 || k > 6)
            return 0;
    }
    if (*p == 'Z')
        return p[1] == 0;
    if (*p == 0)
        return 1;
    if (*p == '+' || *p == '-') {
        if (!digits(p + 1, 2, &h) || h > 14)
            return 0;
        if (p[3] == 0)
            return 1;
        return p[3] == ':' && digits(p + 4, 2, &mi) && mi < 60 && p[6] == 0;
    }
    return 0;
}

/* c's string as a C string: itself when it ends in a NUL, else a copy in
 * buf (size > c->n). */
static const char *cstr(const struct bcell *c, char *buf)
{
    if (c->z)
        return c->s;
    memcpy(buf, c->s, c->n);
    buf[c->n] = 0;
    return buf;
}

/* ------------------------------------------------------------ numbers */

/* A coordinate as "%.9g" prints it (batch_micro_text(), else snprintf). */
static void put_coord(struct strbuf *b, double v)
{
    char buf[32];
    size_t n = batch_micro_text(v, buf);

    if (n == 0)
        n = (size_t)snprintf(buf, sizeof(buf), "%.9g", v);
    strbuf_add(b, buf, n);
}

/* ------------------------------------------------------------ JSON text */

/* A value of the canonical form at *p (see batch_json_canonical()). */
static int canon_value(const char **p, const char *e, int depth);

static int canon_string(const char **p, const char *e)
{
    const char *q = *p;

    if (q >= e || *q != '"')
        return 0;
    for (q++; q < e && *q != '"'; q++)
        if ((unsigned char)*q < 0x20 || *q == '\\')
            return 0;
    if (q >= e)
        return 0;
    *p = q + 1;
    return 1;
}

static int canon_value(const char **p, const char *e, int depth)
{
    const char *q = *p;

    if (q >= e)
        return 0;
    if (*q == '"')
        return canon_string(p, e);
    if (*q == '[' || *q == '{') {
        char close = *q == '[' ? ']' : '}';
        int obj = *q == '{';
        if (depth >= 32)
            return 0;
        q++;
        if (q < e && *q == close) {
            *p = q + 1;
            return 1;
        }
        for (;;) {
            if (obj && (!canon_string(&q, e) || q >= e || *q++ != ':'))
                return 0;
            if (!canon_value(&q, e, depth + 1) || q >= e)
                return 0;
            if (*q == close) {
                *p = q + 1;
                return 1;
            }
            if (*q++ != ',')
                return 0;
        }
    }
    if (e - q >= 4 && (memcmp(q, "true", 4) == 0 || memcmp(q, "null", 4) == 0)) {
        *p = q + 4;
        return 1;
    }
    if (e - q >= 5 && memcmp(q, "false", 5) == 0) {
        *p = q + 5;
        return 1;
    }
    /* an integer cJSON prints with %d as written: 0, or no leading zero,
     * at most 9 digits (within int), not -0 */
    {
        const char *d = q + (*q == '-');
        int n = 0;
        while (d + n < e && d[n] >= '0' && d[n] <= '9')
            n++;
        if (n == 0 || n > 9 || (d[0] == '0' && (n > 1 || d != q)))
            return 0;
        if (d + n < e && (d[n] == '.' || d[n] == 'e' || d[n] == 'E' || d[n] == '+' ||
                          d[n] == '-'))
            return 0;
        *p = d + n;
        return 1;
    }
}

int batch_json_canonical(const char *s, size_t n)
{
    const char *p = s, *e = s + n;

    if (n == 0 || (*s != '[' && *s != '{') || !canon_value(&p, e, 0))
        return 0;
    return p == e;
}

/* A string as cJSON prints it, when that is its bytes between quotes. */
static int jprint_str(struct strbuf *b, const char *s)
{
    size_t n = strlen(s);

    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == '"' || s[i] == '\\')
            return 0;
    strbuf_add(b, "\"", 1);
    strbuf_add(b, s, n);
    strbuf_add(b, "\"", 1);
    return 1;
}

static int jprint(struct strbuf *b, const cJSON *c, int depth)
{
    if (cJSON_IsString(c))
        return c->valuestring && jprint_str(b, c->valuestring);
    if (cJSON_IsNumber(c)) {
        double d = c->valuedouble;
        if (!(d > -1e9 && d < 1e9) || d != (double)(int64_t)d || (d == 0 && signbit(d)))
            return 0;           /* %1.15g and perhaps %1.17g */
        batch_put_int(b, (int64_t)d);
        return b->err == 0;
    }
    if (cJSON_IsTrue(c) || cJSON_IsFalse(c) || cJSON_IsNull(c))
        return strbuf_str(b, cJSON_IsTrue(c) ? "true" : cJSON_IsFalse(c) ? "false" : "null") == 0;
    if ((!cJSON_IsArray(c) && !cJSON_IsObject(c)) || depth >= 32)
        return 0;
    strbuf_add(b, cJSON_IsArray(c) ? "[" : "{", 1);
    for (const cJSON *e = c->child; e; e = e->next) {
        if (e != c->child)
            strbuf_add(b, ",", 1);
        if (cJSON_IsObject(c) && (!e->string || !jprint_str(b, e->string) ||
                                  strbuf_add(b, ":", 1) < 0))
            return 0;
        if (!jprint(b, e, depth + 1))
            return 0;
    }
    return strbuf_add(b, cJSON_IsArray(c) ? "]" : "}", 1) == 0;
}

int batch_json_print(struct strbuf *b, const struct cJSON *c)
{
    strbuf_reset(b);
    if (!jprint(b, c, 0) || b->err) {
        int err = b->err;
        strbuf_reset(b);
        return err ? err : 0;
    }
    return 1;
}

/* ------------------------------------------------------------ a cell */

const char *cell_add(struct strbuf *line, const struct kind_col *cs, const struct bcell *c)
{
    char buf[BATCH_MAX_CELL + 1];
    int64_t v;

    if (!c || c->type == BC_NULL) {
        if ((cs->flags & COL_REQUIRED))
            return "missing value";
        if (cs->type == COL_JSON)
            strbuf_str(line, "[]");
        else
            strbuf_str(line, "\\N");
        return NULL;
    }
    switch (cs->type) {
    case COL_ID: case COL_ORIGIN:
        if (c->type != BC_STR || ((c->n != 36 || !uuid_valid(cstr(c, buf))) &&
            !(cs->type == COL_ORIGIN && c->n == 7 && memcmp(c->s, "central", 7) == 0)))
            return "not a UUID";
        strbuf_add(line, c->s, c->n);
        return NULL;
    case COL_HLC: case COL_INT: case COL_BIT:
        if (!bcell_int(c, cs->type == COL_HLC, &v))
            return "not an integer";
        if (v < 0)
            return "negative";
        if (cs->type == COL_BIT && v > 1)
            return "not 0 or 1";
        if (cs->type == COL_INT && v > 2147483647)
            return "too large";
        batch_put_int(line, v);
        return NULL;
    case COL_LON: case COL_LAT:
        if (c->type != BC_NUM || c->num != c->num)
            return "not a number";
        if ((cs->type == COL_LON && (c->num < -180 || c->num > 180)) ||
            (cs->type == COL_LAT && (c->num < -90 || c->num > 90)))
            return "coordinate out of range";
        put_coord(line, c->num);
        return NULL;
    case COL_JSON: {
        char *s;
        size_t n;
        if (c->type == BC_JSON) {           /* cJSON would print it as it is */
            if (c->s[0] != '[')
                return "not a JSON array";
            if (c->n > BATCH_MAX_CELL || !utf8_valid(c->s, c->n, 0))
                return "JSON value too long or not UTF-8";
            batch_copy_esc(line, c->s, c->n);
            return NULL;
        }
        if (c->type != BC_TREE || !cJSON_IsArray(c->tree))
            return "not a JSON array";
        s = cJSON_PrintUnformatted(c->tree);
        if (!s) {
            line->err = -ENOMEM;
            return NULL;
        }
        n = strlen(s);
        if (n > BATCH_MAX_CELL || !utf8_valid(s, n, 0)) {
            cJSON_free(s);
            return "JSON value too long or not UTF-8";
        }
        batch_copy_esc(line, s, n);
        cJSON_free(s);
        return NULL;
    }
    case COL_TS: case COL_DATE: case COL_TEXT: {
        if (c->type != BC_STR)
            return "not a string";
        if (c->n > BATCH_MAX_CELL)
            return "string longer than 4096 bytes";
        if (!utf8_valid(c->s, c->n, 0))
            return "not UTF-8";
        if (cs->type == COL_TS && !ts_ok(cstr(c, buf)))
            return "not an ISO-8601 time";
        if (cs->type == COL_DATE && (c->n != 10 || !date_ok(cstr(c, buf))))
            return "not a YYYY-MM-DD date";
        batch_copy_esc(line, c->s, c->n);
        return NULL;
    }
    }
    return "unknown column type";
}
