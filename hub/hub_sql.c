/* hub_sql.c - statements with parameters (see hub_sql.h). */
#include "hub_sql.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(struct sql_list *l, int r)
{
    if (!l->err)
        l->err = r;
}

void sql_begin(struct sql_list *l)
{
    strbuf_reset(&l->cur);
    l->ncur = 0;
}

void sql_text(struct sql_list *l, const char *text)
{
    if (strbuf_str(&l->cur, text) < 0)
        fail(l, -ENOMEM);
}

void sql_fmt(struct sql_list *l, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fail(l, -ENOMEM);
        return;
    }
    sql_text(l, s);
    free(s);
}

/* Adds value as the next parameter; its number, or 0. */
static int add_value(struct sql_list *l, const char *value)
{
    char *v;

    if (l->ncur >= SQL_MAX_PARAMS) {
        fail(l, -E2BIG);
        return 0;
    }
    v = value ? strdup(value) : NULL;
    if (value && !v) {
        fail(l, -ENOMEM);
        return 0;
    }
    l->vcur[l->ncur++] = v;
    return l->ncur;
}

void sql_param(struct sql_list *l, const char *value)
{
    int k = add_value(l, value);

    if (k)
        sql_fmt(l, "$%d::text", k);
}

void sql_int(struct sql_list *l, int64_t value)
{
    char v[24];
    int k;

    snprintf(v, sizeof(v), "%" PRId64, value);
    k = add_value(l, v);
    if (k)
        sql_fmt(l, "$%d::bigint", k);
}

void sql_ints(struct sql_list *l, const int64_t *values, int n)
{
    for (int i = 0; i < n; i++) {
        if (i > 0)
            sql_text(l, ", ");
        sql_int(l, values[i]);
    }
}

void sql_text_p(struct sql_list *l, const char *text, const char *const *values, int nvalues)
{
    int num[10] = { 0 };
    const char *at = text;

    while ((at = strchr(at, '@'))) {
        int i = at[1] - '1';
        if (at[1] < '1' || at[1] > '9' || at[2] != '@') {
            at++;                       /* not ours: an operator or a jsonpath's @ */
            continue;
        }
        if (strbuf_add(&l->cur, text, (size_t)(at - text)) < 0)
            fail(l, -ENOMEM);
        if (i >= nvalues) {
            fail(l, -EINVAL);
            return;
        }
        if (!num[i])
            num[i] = add_value(l, values[i]);
        if (num[i])
            sql_fmt(l, "$%d::text", num[i]);
        text = at += 3;
    }
    sql_text(l, text);
}

void sql_end(struct sql_list *l)
{
    struct sql_stmt *s;

    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        struct sql_stmt *p = realloc(l->st, (size_t)cap * sizeof(*p));
        if (!p) {
            fail(l, -ENOMEM);
            goto drop;
        }
        l->st = p;
        l->cap = cap;
    }
    s = &l->st[l->n];
    s->sql = l->cur.err ? NULL : strdup(l->cur.p ? l->cur.p : "");
    if (!s->sql) {
        fail(l, -ENOMEM);
        goto drop;
    }
    s->n = l->ncur;
    memcpy(s->values, l->vcur, sizeof(l->vcur[0]) * (size_t)l->ncur);
    l->n++;
    l->ncur = 0;
    strbuf_reset(&l->cur);
    return;
drop:
    for (int i = 0; i < l->ncur; i++)
        free(l->vcur[i]);
    l->ncur = 0;
}

const struct db_query *sql_queries(struct sql_list *l)
{
    if (l->err || l->n == 0)
        return NULL;
    free(l->q);
    l->q = calloc((size_t)l->n, sizeof(*l->q));
    if (!l->q)
        return NULL;
    for (int i = 0; i < l->n; i++) {
        l->q[i].sql = l->st[i].sql;
        l->q[i].nparams = l->st[i].n;
        l->q[i].params = (const char *const *)l->st[i].values;
    }
    return l->q;
}

void sql_list_free(struct sql_list *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->st[i].sql);
        for (int k = 0; k < l->st[i].n; k++)
            free(l->st[i].values[k]);
    }
    for (int i = 0; i < l->ncur; i++)
        free(l->vcur[i]);
    free(l->st);
    free(l->q);
    strbuf_free(&l->cur);
    memset(l, 0, sizeof(*l));
}
