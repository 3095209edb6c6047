/* batch_rows.c - the rows of a JSON batch found without parsing them (see
 * batch_rows.h): a scanner that knows strings, brackets and commas, and
 * gives up (-EINVAL) on anything out of the ordinary, which the caller then
 * decodes the whole way. It never decides that a body is bad: cJSON, which
 * parses the skeleton and then each row, does. */
#include "batch_rows.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"

static const char *ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at '"': past the closing quote, or NULL. */
static const char *skip_string(const char *p, const char *e)
{
    for (p++; p < e; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* p at a value: past it, or NULL. Arrays and objects by their brackets
 * only (cJSON checks what is inside). */
static const char *skip_value(const char *p, const char *e)
{
    const char *start = p;
    int depth = 0;

    if (p < e && *p == '"')
        return skip_string(p, e);
    if (p < e && (*p == '[' || *p == '{')) {
        while (p < e) {
            if (*p == '"') {
                p = skip_string(p, e);
                if (!p)
                    return NULL;
                continue;
            }
            if (*p == '[' || *p == '{')
                depth++;
            else if ((*p == ']' || *p == '}') && --depth == 0)
                return p + 1;
            p++;
        }
        return NULL;
    }
    while (p < e && *p != ',' && *p != ']' && *p != '}' && *p != ' ' && *p != '\t' &&
           *p != '\n' && *p != '\r' && *p != '"' && *p != '[' && *p != '{')
        p++;
    return p > start ? p : NULL;
}

/* A key at p ('"'): its bytes (no escapes, else NULL) and what follows the
 * ':' in *after. */
static const char *key_at(const char *p, const char *e, size_t *n, const char **after)
{
    const char *q = p < e && *p == '"' ? skip_string(p, e) : NULL;

    if (!q || memchr(p + 1, '\\', (size_t)(q - p - 2)))
        return NULL;
    *n = (size_t)(q - p - 2);
    q = ws(q, e);
    if (q >= e || *q != ':')
        return NULL;
    *after = ws(q + 1, e);
    return p + 1;
}

/* The rows array at p ('['): its rows into sk's table t; past it, or NULL. */
static const char *scan_rows(const char *p, const char *e, struct batch_skel *sk, int t)
{
    int cap = 0;

    sk->cut[t][0] = p + 1;
    p = ws(p + 1, e);
    while (p < e && *p != ']') {
        const char *q = skip_value(p, e);
        if (!q || sk->total >= BATCH_MAX_ROWS)
            return NULL;
        if (sk->nrows[t] == cap) {
            struct batch_span *n;
            cap = cap ? 2 * cap : 256;
            n = realloc(sk->rows[t], (size_t)cap * sizeof(*n));
            if (!n)
                return NULL;
            sk->rows[t] = n;
        }
        sk->rows[t][sk->nrows[t]++] = (struct batch_span){ p, (size_t)(q - p) };
        sk->total++;
        p = ws(q, e);
        if (p < e && *p == ',')
            p = ws(p + 1, e);
        else if (p >= e || *p != ']')
            return NULL;
    }
    if (p >= e)
        return NULL;
    sk->cut[t][1] = p;
    return p + 1;
}

/* An object at p ('{'): calls for each key; past it, or NULL. in_table:
 * a table block (its "rows" are scanned), else the batch. */
static const char *scan_object(const char *p, const char *e, struct batch_skel *sk, int in_table)
{
    int seen = 0;

    p = ws(p + 1, e);
    if (p < e && *p == '}')
        return p + 1;
    for (;;) {
        size_t kn;
        const char *v, *k = key_at(p, e, &kn, &v);
        if (!k || v >= e)
            return NULL;
        if (!in_table && kn == 6 && memcmp(k, "tables", 6) == 0 && *v == '[') {
            if (seen++)
                return NULL;
            p = ws(v + 1, e);
            while (p < e && *p != ']') {
                if (*p != '{' || sk->ntables == 16)
                    return NULL;
                sk->ntables++;
                p = scan_object(p, e, sk, 1);
                if (!p)
                    return NULL;
                p = ws(p, e);
                if (p < e && *p == ',')
                    p = ws(p + 1, e);
                else if (p >= e || *p != ']')
                    return NULL;
            }
            p = p < e ? p + 1 : NULL;
        } else if (in_table && kn == 4 && memcmp(k, "rows", 4) == 0 && *v == '[') {
            if (seen++)
                return NULL;
            p = scan_rows(v, e, sk, sk->ntables - 1);
        } else if ((!in_table && kn == 6 && memcmp(k, "tables", 6) == 0) ||
                   (in_table && kn == 4 && memcmp(k, "rows", 4) == 0)) {
            return NULL;                /* not an array: the whole way says why */
        } else {
            p = skip_value(v, e);
        }
        if (!p)
            return NULL;
        p = ws(p, e);
        if (p < e && *p == '}')
            return p + 1;
        if (p >= e || *p != ',')
            return NULL;
        p = ws(p + 1, e);
    }
}

int batch_skel_scan(const char *body, size_t len, struct batch_skel *sk)
{
    const char *e = body + len, *p = ws(body, e);
    char *out;

    memset(sk, 0, sizeof(*sk));
    if (p >= e || *p != '{' || !scan_object(p, e, sk, 0))
        return -EINVAL;
    for (int t = 0; t < sk->ntables; t++)
        if (!sk->cut[t][0])
            return -EINVAL;             /* a table block without rows */
    out = sk->text = malloc(len + 1);
    if (!out)
        return -ENOMEM;
    p = body;
    for (int t = 0; t < sk->ntables; t++) {
        memcpy(out, p, (size_t)(sk->cut[t][0] - p));
        out += sk->cut[t][0] - p;
        p = sk->cut[t][1];
    }
    memcpy(out, p, (size_t)(e - p));
    out += e - p;
    *out = 0;
    sk->len = (size_t)(out - sk->text);
    return 0;
}

void batch_skel_free(struct batch_skel *sk)
{
    free(sk->text);
    for (int t = 0; t < 16; t++)
        free(sk->rows[t]);
    memset(sk, 0, sizeof(*sk));
}

int batch_row_cells(struct batch_span row, int ncols, int seq_at, int id_at, int64_t *seq,
                    struct batch_span *id)
{
    const char *p = row.p, *e = row.p + row.n;
    int n = 0;

    *seq = -1;
    *id = (struct batch_span){ NULL, 0 };
    if (p >= e || *p != '[')
        return -EINVAL;
    p = ws(p + 1, e);
    while (p < e && *p != ']') {
        const char *q = skip_value(p, e);
        if (!q)
            return -EINVAL;
        if (n == seq_at) {
            int64_t v = 0;
            if (q - p > 15)
                return -EINVAL;
            for (const char *d = p; d < q; d++) {
                if (*d < '0' || *d > '9')
                    return -EINVAL;
                v = v * 10 + (*d - '0');
            }
            *seq = v;
        }
        if (n == id_at && *p == '"') {
            if (memchr(p, '\\', (size_t)(q - p)))
                return -EINVAL;
            *id = (struct batch_span){ p + 1, (size_t)(q - p - 2) };
        }
        n++;
        p = ws(q, e);
        if (p < e && *p == ',')
            p = ws(p + 1, e);
        else if (p >= e || *p != ']')
            return -EINVAL;
    }
    if (p >= e || p + 1 != e || n != ncols || *seq < 0)
        return -EINVAL;
    return 0;
}
