/* batch_cell.h - private to sync/: one cell of a pushed row as the hub's
 * decoder checks it and writes it as COPY text (batch_cell.c). A cell is
 * what cJSON would hold for it (null, a number, a string, or a tree), so
 * that a JSON row (its cJSON items) and a columnar row (its values straight
 * from the columns, batch_coldec.c, no tree) go through the one check and
 * give the same bytes: cell_add() is the only place a cell is judged. */
#ifndef SIKHNAS_BATCH_CELL_H
#define SIKHNAS_BATCH_CELL_H

#include <stddef.h>
#include <stdint.h>

#include "kinds.h"
#include "strbuf.h"

struct cJSON;

enum bcell_type {
    BC_NULL,        /* absent, or JSON null */
    BC_NUM,         /* a number: num, as cJSON's valuedouble */
    BC_STR,         /* a string: s[0..n), no NUL inside (z: s[n] is a NUL) */
    BC_TREE,        /* an array, object or boolean: tree */
    BC_JSON,        /* an array or object given as the text cJSON would print
                     * for it (s[0..n), no NUL inside): never parsed */
};

struct bcell {
    int                  type;
    int                  z;
    double               num;
    const char          *s;
    size_t               n;
    const struct cJSON  *tree;   /* BC_TREE; or the item the value came from */
};

/* c as a cell (NULL: BC_NULL). */
void bcell_of_json(struct bcell *v, const struct cJSON *c);
/* An integer cell: a number that is integral and exact, or (allow_string:
 * an HLC) a string of up to 19 digits. 1 and *out, or 0. */
int  bcell_int(const struct bcell *c, int allow_string, int64_t *out);
/* The same of a cJSON item (NULL: 0). */
int  batch_int_of(const struct cJSON *c, int allow_string, int64_t *out);
/* Appends one cell (NULL: absent) of column cs to line, or returns a reason
 * why the row is refused. */
const char *cell_add(struct strbuf *line, const struct kind_col *cs, const struct bcell *c);
/* Appends s[0..n) escaped for COPY text format. */
void batch_copy_esc(struct strbuf *b, const char *s, size_t n);
/* Appends v in decimal ("%lld"). */
void batch_put_int(struct strbuf *b, int64_t v);
/* 1 when s[0..n) is the text cJSON_PrintUnformatted() gives for what
 * cJSON parses it to, and that is an array or object (a conservative
 * test: 0 when unsure). */
int  batch_json_canonical(const char *s, size_t n);
/* Writes c into b (emptied first) as cJSON_PrintUnformatted() prints it,
 * by hand, when c is of the canonical form (strings without escapes,
 * integers within +-10^9; cJSON prints every number with "%1.15g" and reads
 * it back with sscanf()): 1 when written, 0 when c is not of that form (b
 * empty), or an error < 0. */
int  batch_json_print(struct strbuf *b, const struct cJSON *c);

#endif
