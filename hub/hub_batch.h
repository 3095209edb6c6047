/* hub_batch.h - the SQL of push and pull (hub_batch_sql.c), made from the
 * record kinds (sync/kinds.h) around a batch the codec decoded
 * (sync/batch.h): statements of compiled-in text, every value a parameter. */
#ifndef SIKHNAS_HUB_BATCH_H
#define SIKHNAS_HUB_BATCH_H

#include <stdint.h>

#include "batch.h"
#include "hub_sql.h"

/* Statements run on every new database connection (temporary tables);
 * malloc'd, the caller frees. */
char *batch_setup_sql(void);
/* The COPY statement for table block t; malloc'd, NULL when out of memory. */
char *batch_copy_sql(const struct batch_table *t);
/* Adds to l the statements that check the rows COPYed into the temporary
 * tables present[] (indexed like b->tables) against the reference data and
 * the node's district, marking the refused ones; none when no table is
 * present. 0 or -errno. */
int batch_check_sql(struct sql_list *l, const struct batch *b, const int *present,
                    const char *district);

/* What the apply transaction needs besides the batch. */
struct batch_apply {
    int64_t     acked;        /* the node's acked_seq, read under its lock */
    const char *node;         /* the certificate's node id */
    const char *district;     /* its district */
    const char *who_name;     /* for security_audit: the registration's name, */
    const char *who_serial;   /* the certificate's serial and */
    const char *who_address;  /* the client's address (NULL: unknown) */
    uint64_t    attempt;      /* the hub's HLC for this attempt: push_batch.batch_hlc */
    int         ledger;       /* write this attempt's push_batch row */
    int         duplicate;    /* rows at or below acked, for the ledger */
    int         direct;       /* rows applied by the direct path (hub_direct.h), for
                                 the ledger; not in the temporary tables */
};
/* Adds to l the statements that, for the rows in the temporary tables
 * present[], drop the rows up to a->acked (applied before), refuse the
 * rows that would change another district's row or relabel an origin
 * (against the stored rows: run after the node's lock), log conflicts,
 * upsert, store the refusals (and audit the rogue ones); then write the
 * ledger row (a->ledger), move the node's high-water mark, select the
 * refusals from the batch's min_seq up to max(last_seq, acked) and COMMIT.
 * *ledger_idx gets the index of the ledger's statement (applied, refused,
 * conflicts) or -1, *refusal_idx that of the refusals (seq, tbl, id, code,
 * reason). 0 or -errno. */
int batch_apply_sql(struct sql_list *l, const struct batch *b, const int *present,
                    const struct batch_apply *a, int *ledger_idx, int *refusal_idx);
/* Adds the one statement that reads a page of the feed: rows of (tbl, json)
 * with a first row ('meta', [count, last "xid.pos", xmin, registered
 * district]). cursor_xid is digits. 0 or -errno. */
int batch_pull_sql(struct sql_list *l, const char *node, const char *cursor_xid,
                   int64_t cursor_pos, int limit);
/* Appends the JSON array of k's column names, as the feed lists them. */
void batch_pull_cols(struct strbuf *s, const struct record_kind *k);

#endif
