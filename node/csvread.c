/* csvread.c - a thin row-at-a-time layer over libcsv's push parser. */
#include "csvread.h"

#include <csv.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct csv_state {
    csv_row_fn fn;
    void *arg;
    int line;
    int nf;
    int result;
    char *f[CSV_MAX_FIELDS];
};

static void on_field(void *data, size_t len, void *arg)
{
    struct csv_state *st = arg;
    char *copy;

    if (st->result || st->nf >= CSV_MAX_FIELDS)
        return;
    copy = malloc(len + 1);
    if (!copy) {
        st->result = -ENOMEM;
        return;
    }
    memcpy(copy, data ? data : "", len);
    copy[len] = '\0';
    st->f[st->nf++] = copy;
}

static void on_row(int term, void *arg)
{
    struct csv_state *st = arg;

    st->line++;
    if (!st->result)
        st->result = st->fn(st->arg, st->line, st->nf, st->f);
    for (int i = 0; i < st->nf; i++)
        free(st->f[i]);
    st->nf = 0;
}

static int csv_run(struct csv_parser *p, struct csv_state *st, const char *buf, size_t n)
{
    if (csv_parse(p, buf, n, on_field, on_row, st) != n)
        return -EBADMSG;
    return st->result;
}

int csv_read_mem(const char *data, size_t len, csv_row_fn fn, void *arg)
{
    struct csv_parser p;
    struct csv_state st = { .fn = fn, .arg = arg };
    int r;

    if (csv_init(&p, CSV_APPEND_NULL) != 0)
        return -ENOMEM;
    r = csv_run(&p, &st, data, len);
    if (r == 0) {
        csv_fini(&p, on_field, on_row, &st);
        r = st.result;
    }
    for (int i = 0; i < st.nf; i++)
        free(st.f[i]);
    csv_free(&p);
    return r;
}

int csv_read_file(const char *path, csv_row_fn fn, void *arg)
{
    struct csv_parser p;
    struct csv_state st = { .fn = fn, .arg = arg };
    char buf[65536];
    FILE *fp;
    size_t n;
    int r = 0;

    fp = fopen(path, "r");
    if (!fp)
        return log_errno(LOG_ERR, -errno, "cannot read '%s'", path);
    if (csv_init(&p, CSV_APPEND_NULL) != 0) {
        fclose(fp);
        return -ENOMEM;
    }
    while (r == 0 && (n = fread(buf, 1, sizeof(buf), fp)) > 0)
        r = csv_run(&p, &st, buf, n);
    if (r == 0 && ferror(fp))
        r = log_errno(LOG_ERR, -EIO, "error reading '%s'", path);
    if (r == 0) {
        csv_fini(&p, on_field, on_row, &st);
        r = st.result;
    }
    if (r == -EBADMSG)
        log_error("'%s' line %d: malformed CSV (%s)", path, st.line + 1,
                  csv_strerror(csv_error(&p)));
    for (int i = 0; i < st.nf; i++)
        free(st.f[i]);
    csv_free(&p);
    fclose(fp);
    return r;
}
