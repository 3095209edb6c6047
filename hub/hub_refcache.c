/* hub_refcache.c - the hub's copy of the code lists and areas (see
 * hub_refcache.h): two open-addressing hash sets of byte strings, one of
 * "list\tcode" and one of area codes with their level. About 92,000 areas:
 * some 4 MiB, loaded once per change of the reference data. */
#include "hub_refcache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct strset {
    char   **keys;          /* NUL-terminated; key i's length in lens[i] */
    size_t  *lens;
    int     *vals;
    size_t   cap, n;        /* cap a power of two, at least twice n */
};

struct refcache {
    int64_t        version;
    struct strset *codes;   /* "list\tcode" */
    struct strset *areas;   /* code -> level */
};

static uint64_t hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;

    while (n--)
        h = (h ^ (unsigned char)*p++) * 1099511628211ull;
    return h;
}

static struct strset *set_new(size_t n)
{
    struct strset *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->cap = 16;
    while (s->cap < n * 2 + 1)
        s->cap *= 2;
    s->keys = calloc(s->cap, sizeof(*s->keys));
    s->lens = calloc(s->cap, sizeof(*s->lens));
    s->vals = calloc(s->cap, sizeof(*s->vals));
    if (!s->keys || !s->lens || !s->vals) {
        strset_free(s);
        return NULL;
    }
    return s;
}

void strset_free(struct strset *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->keys && i < s->cap; i++)
        free(s->keys[i]);
    free(s->keys);
    free(s->lens);
    free(s->vals);
    free(s);
}

static size_t slot(const struct strset *s, const char *p, size_t n)
{
    size_t h = hash(p, n) & (s->cap - 1);

    while (s->keys[h] && (s->lens[h] != n || memcmp(s->keys[h], p, n) != 0))
        h = (h + 1) & (s->cap - 1);
    return h;
}

/* Adds (or updates) key p (n bytes) with val. The set never grows: it was
 * made for the number of keys it gets. 0 or -ENOMEM. */
static int set_put(struct strset *s, const char *p, size_t n, int val)
{
    size_t h = slot(s, p, n);

    if (!s->keys[h]) {
        if (s->n * 2 + 2 > s->cap)
            return -ENOMEM;
        s->keys[h] = malloc(n + 1);
        if (!s->keys[h])
            return -ENOMEM;
        memcpy(s->keys[h], p, n);
        s->keys[h][n] = 0;
        s->lens[h] = n;
        s->n++;
    }
    s->vals[h] = val;
    return 0;
}

/* The value of key p, or 0 when it is absent. */
static int set_get(const struct strset *s, const char *p, size_t n)
{
    size_t h;

    if (!s)
        return 0;
    h = slot(s, p, n);
    return s->keys[h] ? s->vals[h] : 0;
}

int strset_has(const struct strset *s, const char *p, size_t n)
{
    return set_get(s, p, n) != 0;
}

struct strset *strset_of(const PGresult *res, int col)
{
    int rows = PQntuples(res);
    struct strset *s = set_new((size_t)rows);

    for (int i = 0; s && i < rows; i++)
        if (!PQgetisnull(res, i, col) &&
            set_put(s, PQgetvalue(res, i, col), (size_t)PQgetlength(res, i, col), 1) < 0) {
            strset_free(s);
            s = NULL;
        }
    return s;
}

int refcache_new(struct refcache **ret)
{
    struct refcache *rc = calloc(1, sizeof(*rc));

    if (!rc)
        return -ENOMEM;
    rc->version = -1;
    *ret = rc;
    return 0;
}

void refcache_free(struct refcache *rc)
{
    if (!rc)
        return;
    strset_free(rc->codes);
    strset_free(rc->areas);
    free(rc);
}

int64_t refcache_version(const struct refcache *rc)
{
    return rc->version;
}

static void clear(struct refcache *rc)
{
    strset_free(rc->codes);
    strset_free(rc->areas);
    rc->codes = rc->areas = NULL;
    rc->version = -1;
}

int refcache_load(struct refcache *rc, const PGresult *res)
{
    int rows = PQntuples(res), ncodes = 0, r = 0;
    char key[512];

    clear(rc);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 3 || rows < 1 ||
        PQgetisnull(res, 0, 0) || !PQgetisnull(res, 0, 1))
        return -EBADMSG;
    for (int i = 1; i < rows; i++)
        ncodes += !PQgetisnull(res, i, 1);
    rc->codes = set_new((size_t)ncodes);
    rc->areas = set_new((size_t)(rows - 1 - ncodes));
    if (!rc->codes || !rc->areas) {
        clear(rc);
        return -ENOMEM;
    }
    for (int i = 1; i < rows && r == 0; i++) {
        const char *code = PQgetvalue(res, i, 2);
        size_t n = (size_t)PQgetlength(res, i, 2);
        if (!PQgetisnull(res, i, 1)) {
            size_t ln = (size_t)PQgetlength(res, i, 1);
            if (ln + 1 + n > sizeof(key))
                continue;           /* longer than any cell a batch may carry: never matched */
            memcpy(key, PQgetvalue(res, i, 1), ln);
            key[ln] = '\t';
            memcpy(key + ln + 1, code, n);
            r = set_put(rc->codes, key, ln + 1 + n, 1);
        } else {
            int level = atoi(PQgetvalue(res, i, 0));
            r = set_put(rc->areas, code, n, level > 0 ? level : -1);
        }
    }
    if (r < 0) {
        clear(rc);
        return r;
    }
    rc->version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    return 0;
}

int refcache_code(const struct refcache *rc, const char *list, const char *code, size_t n)
{
    char key[512];
    size_t ln = strlen(list);

    if (ln + 1 + n > sizeof(key))
        return 0;
    memcpy(key, list, ln);
    key[ln] = '\t';
    memcpy(key + ln + 1, code, n);
    return set_get(rc->codes, key, ln + 1 + n);
}

int refcache_area(const struct refcache *rc, const char *code, size_t n)
{
    int v = set_get(rc->areas, code, n);

    return v > 0 ? v : 0;
}
