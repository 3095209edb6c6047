/* web_out.c - a query's rows as JSON (an array of objects), CSV (UTF-8
 * with a byte-order mark and CRLF, as Excel and LibreOffice open it),
 * XLSX (libxlsxwriter in constant-memory mode, into a temporary file that
 * is then streamed) or GeoJSON (a FeatureCollection), read from libpq's
 * single-row mode and handed on in pieces of WEB_CHUNK bytes: the memory
 * does not grow with the number of rows. */
#include "webapp.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xlsxwriter.h>

#include "log.h"
#include "strbuf.h"

#define XLSX_ROWS_MAX 1048575           /* a worksheet's rows, less the header */

/* PostgreSQL type oids (pg_type.h is not for clients) */
enum { OID_BOOL = 16, OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23, OID_JSON = 114,
       OID_FLOAT4 = 700, OID_FLOAT8 = 701, OID_NUMERIC = 1700, OID_JSONB = 3802 };

enum col_kind { COL_TEXT, COL_NUMBER, COL_BOOL, COL_JSON };

struct writer {
    struct web_out *o;
    enum web_format fmt;
    int             geom_col;
    int             ncols;
    enum col_kind   kinds[64];
    struct strbuf   buf;
    long            rows;
    int             err;
    /* xlsx */
    lxw_workbook   *wb;
    lxw_worksheet  *ws;
    char            xpath[64];
};

static enum col_kind col_kind(Oid t)
{
    switch (t) {
    case OID_INT2: case OID_INT4: case OID_INT8: case OID_FLOAT4: case OID_FLOAT8:
    case OID_NUMERIC:
        return COL_NUMBER;
    case OID_BOOL:
        return COL_BOOL;
    case OID_JSON: case OID_JSONB:
        return COL_JSON;
    default:
        return COL_TEXT;
    }
}

static int flush_if(struct writer *w, size_t at)
{
    int r;

    if (w->buf.err)
        return -ENOMEM;
    if (w->buf.len < at)
        return 0;
    r = web_out_put(w->o, w->buf.p, w->buf.len);
    strbuf_reset(&w->buf);
    return r;
}

/* A number as PostgreSQL prints it, or null for NaN and the infinities. */
static void json_number(struct strbuf *b, const char *v)
{
    if (strcmp(v, "NaN") == 0 || strstr(v, "Infinity"))
        strbuf_str(b, "null");
    else
        strbuf_str(b, v);
}

static void json_value(struct writer *w, PGresult *r, int col)
{
    const char *v = PQgetvalue(r, 0, col);

    if (PQgetisnull(r, 0, col))
        strbuf_str(&w->buf, "null");
    else if (w->kinds[col] == COL_NUMBER)
        json_number(&w->buf, v);
    else if (w->kinds[col] == COL_BOOL)
        strbuf_str(&w->buf, v[0] == 't' ? "true" : "false");
    else if (w->kinds[col] == COL_JSON)
        strbuf_str(&w->buf, v);
    else
        strbuf_json_str(&w->buf, v);
}

static void json_props(struct writer *w, PGresult *r)
{
    int first = 1;

    strbuf_str(&w->buf, "{");
    for (int i = 0; i < w->ncols; i++) {
        if (i == w->geom_col)
            continue;
        if (!first)
            strbuf_str(&w->buf, ",");
        first = 0;
        strbuf_json_str(&w->buf, PQfname(r, i));
        strbuf_str(&w->buf, ":");
        json_value(w, r, i);
    }
    strbuf_str(&w->buf, "}");
}

/* A CSV field: quoted when it holds a separator, quote or line break; a
 * text that a spreadsheet would take for a formula gets a leading quote. */
static void csv_field(struct writer *w, const char *v, enum col_kind k)
{
    int quote = strpbrk(v, ",\"\r\n;") != NULL;

    if (quote)
        strbuf_str(&w->buf, "\"");
    if (k == COL_TEXT && strchr("=+-@\t\r", v[0]) && v[0])
        strbuf_str(&w->buf, "'");
    for (const char *p = v; *p; p++) {
        if (*p == '"')
            strbuf_str(&w->buf, "\"\"");
        else
            strbuf_add(&w->buf, p, 1);
    }
    if (quote)
        strbuf_str(&w->buf, "\"");
}

static int xlsx_open(struct writer *w)
{
    lxw_workbook_options opt = { .constant_memory = LXW_TRUE, .tmpdir = NULL };
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
    int fd;

    snprintf(w->xpath, sizeof(w->xpath), "%.40s/sikhnas-web-XXXXXX", dir);
    fd = mkstemp(w->xpath);
    if (fd < 0)
        return log_errno(LOG_ERR, -errno, "web: export: temporary file in %s", dir);
    close(fd);
    opt.tmpdir = (char *)dir;
    w->wb = workbook_new_opt(w->xpath, &opt);
    w->ws = w->wb ? workbook_add_worksheet(w->wb, NULL) : NULL;
    if (!w->ws) {
        unlink(w->xpath);
        return -EIO;
    }
    return 0;
}

static void xlsx_row(struct writer *w, PGresult *r, lxw_row_t row)
{
    for (int i = 0; i < w->ncols; i++) {
        const char *v = PQgetvalue(r, 0, i);
        if (row == 0)
            worksheet_write_string(w->ws, 0, (lxw_col_t)i, PQfname(r, i), NULL);
        else if (PQgetisnull(r, 0, i))
            continue;
        else if (w->kinds[i] == COL_NUMBER && isfinite(strtod(v, NULL)))
            worksheet_write_number(w->ws, row, (lxw_col_t)i, strtod(v, NULL), NULL);
        else
            worksheet_write_string(w->ws, row, (lxw_col_t)i, v, NULL);
    }
}

/* Closes the workbook and streams its file. */
static int xlsx_send(struct writer *w)
{
    char piece[WEB_CHUNK];
    ssize_t n;
    int fd, r = 0;

    if (workbook_close(w->wb) != LXW_NO_ERROR) {
        w->wb = NULL;
        unlink(w->xpath);
        return -EIO;
    }
    w->wb = NULL;
    fd = open(w->xpath, O_RDONLY | O_CLOEXEC);
    unlink(w->xpath);
    if (fd < 0)
        return -errno;
    while (r == 0 && (n = read(fd, piece, sizeof(piece))) > 0)
        r = web_out_put(w->o, piece, (size_t)n);
    close(fd);
    return r;
}

static const char *const ctypes[] = {
    [FMT_JSON] = "application/json; charset=utf-8",
    [FMT_CSV] = "text/csv; charset=utf-8",
    [FMT_XLSX] = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    [FMT_GEOJSON] = "application/geo+json",
};
static const char *const exts[] = { "json", "csv", "xlsx", "geojson" };

/* The first result told the columns: the head and what comes before the rows. */
static int begin(struct writer *w, PGresult *r, const char *name)
{
    char extra[160];

    w->ncols = PQnfields(r);
    if (w->ncols > (int)(sizeof(w->kinds) / sizeof(w->kinds[0])))
        return -E2BIG;
    for (int i = 0; i < w->ncols; i++)
        w->kinds[i] = col_kind(PQftype(r, i));
    if (w->fmt == FMT_GEOJSON)
        w->geom_col = PQfnumber(r, "geom");     /* the geometry, as GeoJSON text or json */
    snprintf(extra, sizeof(extra), "Cache-Control: no-store\r\n%s%s%s%s",
             w->fmt == FMT_JSON ? "" : "Content-Disposition: attachment; filename=\"sikhnas-",
             w->fmt == FMT_JSON ? "" : name, w->fmt == FMT_JSON ? "" : ".",
             w->fmt == FMT_JSON ? "" : exts[w->fmt]);
    if (w->fmt != FMT_JSON)
        strcat(extra, "\"\r\n");
    web_out_head(w->o, 200, ctypes[w->fmt], extra);
    switch (w->fmt) {
    case FMT_JSON:
        strbuf_str(&w->buf, "[");
        break;
    case FMT_GEOJSON:
        strbuf_str(&w->buf, "{\"type\":\"FeatureCollection\",\"features\":[");
        break;
    case FMT_CSV:
        strbuf_str(&w->buf, "\xEF\xBB\xBF");
        for (int i = 0; i < w->ncols; i++) {
            if (i)
                strbuf_str(&w->buf, ",");
            csv_field(w, PQfname(r, i), COL_NUMBER);
        }
        strbuf_str(&w->buf, "\r\n");
        break;
    case FMT_XLSX:
        if (xlsx_open(w) < 0)
            return -EIO;
        xlsx_row(w, r, 0);
        break;
    }
    return 0;
}

static int row(struct writer *w, PGresult *r)
{
    switch (w->fmt) {
    case FMT_JSON:
        if (w->rows > 0)
            strbuf_str(&w->buf, ",");
        json_props(w, r);
        break;
    case FMT_GEOJSON:
        if (w->rows > 0)
            strbuf_str(&w->buf, ",");
        strbuf_str(&w->buf, "\n{\"type\":\"Feature\",\"geometry\":");
        strbuf_str(&w->buf, w->geom_col < 0 || PQgetisnull(r, 0, w->geom_col) ? "null"
                            : PQgetvalue(r, 0, w->geom_col));
        strbuf_str(&w->buf, ",\"properties\":");
        json_props(w, r);
        strbuf_str(&w->buf, "}");
        break;
    case FMT_CSV:
        for (int i = 0; i < w->ncols; i++) {
            if (i)
                strbuf_str(&w->buf, ",");
            if (!PQgetisnull(r, 0, i))
                csv_field(w, PQgetvalue(r, 0, i), w->kinds[i]);
        }
        strbuf_str(&w->buf, "\r\n");
        break;
    case FMT_XLSX:
        if (w->rows >= XLSX_ROWS_MAX)
            return -EFBIG;
        xlsx_row(w, r, (lxw_row_t)w->rows + 1);
        w->rows++;
        return 0;
    }
    w->rows++;
    return flush_if(w, WEB_CHUNK);
}

static int finish(struct writer *w)
{
    int r;

    if (w->fmt == FMT_JSON)
        strbuf_str(&w->buf, "]\n");
    else if (w->fmt == FMT_GEOJSON)
        strbuf_str(&w->buf, "]}\n");
    else if (w->fmt == FMT_XLSX)
        return xlsx_send(w);
    r = flush_if(w, 1);
    return r;
}

/* The error of a failed query as the answer (before the first piece). */
static void query_error(struct writer *w, PGresult *r, const char *name)
{
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

    if (state && strcmp(state, "57014") == 0) {
        log_warning("web: %s: statement timeout", name);
        web_out_error(w->o, 503, "timeout", "the query took too long; narrow the filter");
    } else {
        log_error("web: %s: %s", name, PQresultErrorMessage(r));
        web_out_error(w->o, 500, "query_failed", "the database could not answer");
    }
}

long web_out_rows(PGconn *pg, struct web_out *o, enum web_format fmt, const char *name)
{
    struct writer w = { .o = o, .fmt = fmt, .geom_col = -1, .buf = { 0 } };
    PGresult *r;
    int started = 0, err = 0;

    while ((r = PQgetResult(pg)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (err == 0 && (st == PGRES_SINGLE_TUPLE || st == PGRES_TUPLES_OK)) {
            if (!started) {
                err = begin(&w, r, name);
                started = 1;
            }
            if (err == 0 && st == PGRES_SINGLE_TUPLE)
                err = row(&w, r);
        } else if (err == 0 && st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK) {
            if (started)
                log_error("web: %s: %s", name, PQresultErrorMessage(r));
            else
                query_error(&w, r, name);
            err = -EIO;
        }
        PQclear(r);
        if (err == -ECONNRESET)
            break;                  /* web_pool_put() cancels the rest */
    }
    if (err == 0 && started)
        err = finish(&w);
    if (w.wb) {
        workbook_close(w.wb);
        unlink(w.xpath);
    }
    if (err < 0 && started && err != -ECONNRESET)
        web_out_fail(o);
    if (err == -EFBIG)
        log_warning("web: %s: more rows than a worksheet holds; export CSV instead", name);
    strbuf_free(&w.buf);
    return err < 0 ? err : w.rows;
}
