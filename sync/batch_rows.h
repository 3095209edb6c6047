/* batch_rows.h - the rows of a JSON batch found without parsing them, so
 * that the hub's decoder (batch_decode.c) can read every row's seq and id
 * first (for the probe of which ids are stored), then parse and check the
 * rows one by one while their lines already go into COPY.
 *
 * The scanner reads only the usual shape of a batch (keys without escapes,
 * "tables" and "rows" once each, JSON whitespace, a seq of plain digits, an
 * id without escapes); for anything else it answers -EINVAL and the caller
 * decodes the batch the whole way, which gives every error its code. */
#ifndef SIKHNAS_BATCH_ROWS_H
#define SIKHNAS_BATCH_ROWS_H

#include <stddef.h>
#include <stdint.h>

struct batch_span {
    const char *p;
    size_t      n;
};

struct batch_skel {
    char              *text;        /* the body with each rows array emptied: "[]" */
    size_t             len;
    int                ntables;     /* elements of "tables", in order */
    struct batch_span *rows[16];    /* each table's rows, as they are in the body */
    int                nrows[16];
    int                total;
    const char        *cut[16][2];  /* each rows array's inside, in the body */
};

/* Scans body[0..len) into sk. 0, -EINVAL (not of the usual shape, or more
 * than BATCH_MAX_ROWS rows) or -ENOMEM. Free sk with batch_skel_free() in
 * every case. */
int  batch_skel_scan(const char *body, size_t len, struct batch_skel *sk);
void batch_skel_free(struct batch_skel *sk);

/* The row's seq (cell seq_at: plain digits) and id (cell id_at: a string's
 * bytes, or p NULL when not a string); -EINVAL when the row is not an array
 * of ncols cells of that shape. */
int batch_row_cells(struct batch_span row, int ncols, int seq_at, int id_at, int64_t *seq,
                    struct batch_span *id);

#endif
