/* batch_col.h - private to sync/: what the columnar batch's encoder
 * (batch_colenc.c) and decoder (batch_coldec.c) share (docs/protocol.md
 * §4.8). The encoding carries the same JSON values as the JSON batch,
 * column by column: every cell is null, a value in its column's natural
 * form (a UUIDv7, an HLC, a time, a code, a count...) or, when it has no
 * such form, its JSON text. The decoder rebuilds the very cJSON tree the
 * JSON batch would have parsed to, so the rest of the decoding is one. */
#ifndef SIKHNAS_BATCH_COL_H
#define SIKHNAS_BATCH_COL_H

#include <stddef.h>
#include <stdint.h>

#include "kinds.h"

#define COL_MAGIC     "SKC"    /* then the version byte */
#define COL_VERSION   1
#define COL_VERSION2  2        /* columnar-2: a binary head, the node from the certificate */
/* Version 2's frame of a packed stream (batch_colenc.c put_frame2()). */
#define COL2_RADIX    0x7f     /* radix digits: the largest difference follows the minimum */
#define COL2_ZERO     0x7e     /* every value 0 (or, with COL2_SIGNED, sx(0)): nothing follows */
#define COL2_SIGNED   0x80     /* the minimum is zz_enc(sx(min)) */
#define COL_MAX_NAME  64       /* bytes of a table or column name */
#define COL_MAX_COLS  64       /* columns of a table block (as the JSON decoder) */
#define COL_MAX_TABLES 16
#define COL_JSON_NUMS 4        /* numbers of a JSON cell with a stream of their own */
#define COL_JSON_HOLE '\x01'   /* where a number was in a JSON cell's text */
#define COL_JSON_SHOLE '\x02'  /* version 2: where a string value (quotes and all) was */

/* A cell's tag. */
enum { TAG_VALUE = 0, TAG_NULL = 1, TAG_JSON = 2 };

/* How a column's values are coded, from its name and the kind's type. */
enum col_class {
    CC_SEQ,       /* "seq": an integer, as the delta from the row before */
    CC_INT,       /* an integer (COL_INT, COL_BIT) */
    CC_ID,        /* a lowercase UUIDv7: its time (from the row's clock) and 74 bits */
    CC_HLC,       /* a string of digits: ms from the row's clock, and the counter */
    CC_TS,        /* an ISO time of one of two shapes, from the row's clock */
    CC_DATE,      /* YYYY-MM-DD, in days from the row's clock */
    CC_COORD,     /* a number of at most 6 decimals, as micro-degrees */
    CC_STR,       /* a string, through a dictionary when it repeats */
    CC_JSONV,     /* an array or object: its text without numbers, and the numbers */
    CC_OTHER,     /* a column the kind does not have: every cell as JSON text */
    CC_ORIGIN,    /* version 2, COL_ORIGIN: a value is the batch's node; nothing is sent */
};

enum col_class col_class_of(const struct record_kind *k, const char *name);
/* The same for version v: 2 codes COL_ORIGIN columns as CC_ORIGIN. */
enum col_class col_class_v(const struct record_kind *k, const char *name, int v);
/* 1 when the n names are "seq" and the kind's columns, in order: version 2
 * then sends none (a column count of 0). */
int col_default_names(const struct record_kind *k, const char *const *names, int n);
/* Radix packing of values 0 .. span: the digits in a group (0: not worth
 * it), R^g in *pow and its bits in *gbits. */
unsigned col_radix(uint64_t span, uint64_t *pow, unsigned *gbits);
/* 1 for the classes that read or set the row's clock. */
int col_is_time(enum col_class cc);

/* A signed value (two's complement) as an unsigned one of the same order,
 * for packed streams (their frame of reference then spans the values as
 * they are), and back: the same function. */
static inline uint64_t sx(uint64_t d)
{
    return d ^ (1ull << 63);
}

/* The same for a varint: small magnitudes in few bytes (zigzag). */
static inline uint64_t zz_enc(uint64_t d)        /* d: a two's complement difference */
{
    return (d << 1) ^ (uint64_t)-(int64_t)(d >> 63);
}

static inline uint64_t zz_dec(uint64_t z)
{
    return (z >> 1) ^ (uint64_t)-(int64_t)(z & 1);
}

/* floor(a / b), b > 0 */
static inline int64_t col_fdiv(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* Days since 1970-01-01 of a valid civil date, and back. */
int64_t col_days(int y, int m, int d);
void    col_civil(int64_t days, int *y, int *m, int *d);
/* Prints a time of shape 0 (YYYY-MM-DDTHH:MM:SSZ, v in ms), 1
 * (YYYY-MM-DDTHH:MM:SS.mmmZ, v in ms) or 2 (YYYY-MM-DD, v in days).
 * -ERANGE outside years 1 to 9999. */
int     batch_col_print(int shape, int64_t v, char *buf, size_t size);

/* Parses the columnar batch in[0..len) into *ret, the cJSON tree of the
 * JSON batch it codes. 0, or -EBADMSG (a bad body), -EPROTONOSUPPORT (an
 * unknown version), -E2BIG (beyond the caps) or -ENOMEM, with the reason
 * in err. */
struct cJSON;
int batch_col_parse(const char *in, size_t len, struct cJSON **ret, char *err, size_t err_size);
/* The same for a batch of any version; node is the sending node's id (the
 * hub's, from its client certificate, lowercase), which version 2 does not
 * carry (NULL: a version 2 batch is refused). */
int batch_col_parse_node(const char *in, size_t len, const char *node, struct cJSON **ret,
                         char *err, size_t err_size);

/* ------------------------------------------------ version 2 (batch_coldec2.c) */

/* The frame of a packed stream at *p (within end): the minimum in *lo, the
 * width (0-64) or COL2_RADIX in *mode, the largest difference for radix in
 * *span. 0, or -EBADMSG with the reason in *why. */
int col2_frame(const unsigned char **p, const unsigned char *end, uint64_t *lo,
               unsigned *mode, uint64_t *span, const char **why);
/* The binary head at *p (within end) as the JSON head of version 1, with
 * node for its "node": a new object in *ret. 0, -EBADMSG (*why) or -ENOMEM. */
int col2_head(const unsigned char **p, const unsigned char *end, const char *node,
              struct cJSON **ret, const char **why);
/* Table k's column names of col_default_names() into names (room for
 * COL_MAX_COLS): their count, or -EBADMSG when the kind has too many. */
int col2_names(const struct record_kind *k, const char **names);

/* The same in steps, for decoding while streaming (batch_decode.c): every
 * column's streams are read and checked first, then the rows are made
 * BATCH_STREAM_ROWS at a time (batch_col_parse() makes them in the same
 * steps, so both meet the same first bad cell). batch_col_open() reads
 * in[0..len) (which must outlive the reader) and gives the tree with each
 * table's "rows" still empty; errors as batch_col_parse_node(), err kept by
 * the reader for batch_col_rows(); node as there (it too must outlive the
 * reader: version 2's origin columns are made from it). */
struct batch_col;
#define BATCH_COL_ID 40         /* a UUID and its NUL, with room */
int    batch_col_open(const char *in, size_t len, const char *node, struct batch_col **ret,
                      struct cJSON **doc, char *err, size_t err_size);
size_t batch_col_nrows(const struct batch_col *bc, int t);
/* Every row's seq and id (the columns at seq_col and id_col, id_col -1:
 * none) of table block t, when they are plain values the whole way reads
 * the same: else -EAGAIN (the whole way then decodes the batch). */
int    batch_col_keys(struct batch_col *bc, int t, int seq_col, int id_col, int64_t *seq,
                      char (*id)[BATCH_COL_ID]);
/* Makes table block t's next n rows, appended to its "rows"; the first of
 * them in *first (may be NULL). 0, or an error as batch_col_parse(). */
int    batch_col_rows(struct batch_col *bc, int t, size_t n, const struct cJSON **first);
/* The same without the tree: the next n rows' cells as values (see
 * batch_cell.h) into cells, row by row (n * the block's column count), for
 * the decoder to write their COPY lines straight away. Their bytes stay
 * until the next call or batch_col_close(). Same errors, in the same order,
 * as batch_col_rows(). */
struct bcell;
int    batch_col_cells(struct batch_col *bc, int t, size_t n, struct bcell *cells);
void   batch_col_close(struct batch_col *bc);
/* Tests: 1 makes the streamed decoding (batch_decode.c) build each
 * columnar row's tree, as before batch_col_cells(), to compare the two. */
extern int batch_col_tree;

#endif
