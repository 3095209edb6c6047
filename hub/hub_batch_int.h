/* hub_batch_int.h - what the batch decoder (hub_batch.c) and the batch SQL
 * (hub_batch_sql.c) share: the tables a node may push and their columns.
 * Private to those two files. */
#ifndef SIKHNAS_HUB_BATCH_INT_H
#define SIKHNAS_HUB_BATCH_INT_H

enum col_type { T_SEQ, T_ID, T_ORIGIN, T_HLC, T_TEXT, T_INT, T_BIT, T_JSON, T_TS, T_DATE,
                T_LON, T_LAT };

struct col_spec {
    const char   *name;
    enum col_type type;
    int           required;     /* present in cols and not null */
};

struct rule;                    /* hub_batch_sql.c: a validation run in SQL */

struct table_spec {
    const char            *name;
    const struct col_spec *cols;        /* ends with a NULL name */
    const struct rule     *rules;       /* run before the node is locked */
    const char            *owner;       /* SQL: the district of a stored row c */
};

extern const struct table_spec batch_specs[];
extern const int batch_nspecs;

#define MAX_COLS 24             /* columns of the widest spec, and then some */

/* The index of the spec of table name, or -1. */
int batch_spec_find(const char *name);

#endif
