/* hub_batch.h - the push batch codec of the hub (docs/protocol.md §4): checks
 * the digest, inflates with caps, parses the columnar JSON, checks every cell
 * and turns each table block into COPY text for a temporary table; and the
 * SQL that applies such a batch or reads a page of the pull feed. */
#ifndef SIKHNAS_HUB_BATCH_H
#define SIKHNAS_HUB_BATCH_H

#include <stddef.h>
#include <stdint.h>

#define BATCH_MAX_WIRE   (4u << 20)    /* compressed body bytes a node may send */
#define BATCH_MAX_PLAIN  (8u << 20)    /* after inflating; enforced while inflating */
#define BATCH_MAX_ITEMS  1000000       /* JSON values in a batch, counted before parsing */
#define BATCH_MAX_ROWS   10000         /* rows in one push */
#define BATCH_MAX_CELL   4096          /* bytes of one string cell */
/* How far a node's HLC may be ahead of the hub's wall clock: the hub merges
 * a node's clock only within it, and refuses rows further ahead (hlc_ahead). */
#define BATCH_MAX_AHEAD_MS (5u * 60 * 1000)

enum batch_enc { ENC_IDENTITY, ENC_GZIP, ENC_ZSTD };

/* One table block: rows as COPY text lines, with each line's seq. */
struct batch_table {
    int      spec;          /* index into the table specs */
    char    *copy;          /* all lines, in arrival order */
    size_t   copy_len;
    int64_t *seq;
    int      nrows;
};

struct batch {
    char     node[40];
    int64_t  last_seq;
    int64_t  base_seq;      /* the predecessor's last_seq, or -1 when not given */
    int64_t  min_seq;       /* smallest seq in the batch (last_seq when empty) */
    int64_t  hlc;
    int      nrows;
    size_t   plain_len;     /* bytes after inflating */
    uint64_t hub_ms;        /* the hub's clock when decoding, Unix ms (0: not checked) */
    struct batch_table tables[16];
    int      ntables;
    char     err_code[32];  /* set when decoding fails */
    char     err_msg[160];
};

/* Installs the cJSON allocation hooks the decoder uses; call once before
 * any thread decodes (idempotent). */
void batch_global_init(void);

/* Decodes body (as sent) into *b. digest is the X-Sikhnas-Digest header value
 * (NULL: missing). hub_ms is the hub's wall clock (Unix ms): rows whose hlc
 * is more than BATCH_MAX_AHEAD_MS ahead of it are refused (0: not checked).
 * Returns 0, or a negative errno with b->err_code/err_msg set and the HTTP
 * status to answer in *http_status. Runs on a worker thread. */
int batch_decode(struct batch *b, const char *body, size_t len, enum batch_enc enc,
                 const char *digest, const char *node_id, uint64_t hub_ms, int *http_status);
void batch_clear(struct batch *b);

/* Inflates in (gzip or zstd) into a malloc'd buffer of at most cap bytes.
 * Returns 0, -EMSGSIZE over the cap, or -EBADMSG when it does not inflate. */
int batch_inflate(const char *in, size_t len, enum batch_enc enc, size_t cap,
                  char **ret, size_t *ret_len);
/* Compresses for a response: malloc'd output; returns 0 or -errno. */
int batch_deflate(const char *in, size_t len, enum batch_enc enc, char **ret, size_t *ret_len);

/* Statements run on every new database connection (temporary tables);
 * malloc'd, the caller frees. */
char *batch_setup_sql(void);
const char *batch_table_name(int spec);
/* The COPY statement for table block t; malloc'd, NULL when out of memory. */
char *batch_copy_sql(const struct batch_table *t);
/* The statements that check the rows COPYed into the temporary tables
 * against the reference data and the node's district, marking the refused
 * ones (they read no table a batch writes, so they may run before the node
 * is locked). district has been checked (digits) by the caller. malloc'd
 * ("" when the batch has no rows), NULL when out of memory. */
char *batch_check_sql(const struct batch *b, const char *district);

/* What the apply transaction needs besides the batch. */
struct batch_apply {
    int64_t     acked;        /* the node's acked_seq, read under its lock */
    const char *node;         /* the certificate's node id (a checked UUID) */
    const char *district;     /* its district (4 checked digits) */
    const char *audit_who;    /* security_audit's name, node_id, district, serial and
                                 address as SQL literals, comma-separated */
    uint64_t    attempt;      /* the hub's HLC for this attempt: push_batch.batch_hlc */
    int         ledger;       /* write this attempt's push_batch row */
    int         duplicate;    /* rows at or below acked, for the ledger */
};
/* The statements that drop the rows up to a->acked (applied before), refuse
 * the rows that would change another district's row or relabel an origin
 * (against the stored rows: run after the node's lock), log conflicts,
 * upsert the tables present[], store the refusals (and audit the rogue
 * ones), write the ledger row (a->ledger), move the node's high-water mark,
 * select the refusals from the batch's min_seq up to max(last_seq, acked)
 * and COMMIT. malloc'd, NULL when out of memory. *ledger_idx gets the
 * result index of the ledger's (applied, refused, conflicts) or -1,
 * *refusal_idx that of the refusals (seq, tbl, id, code, reason). */
char *batch_apply_sql(const struct batch *b, const int *present, const struct batch_apply *a,
                      int *ledger_idx, int *refusal_idx);
/* One statement that reads a page of the feed: rows of (tbl, json) with a
 * first row ('meta', [count, last "xid.pos", xmin, registered district]). */
char *batch_pull_sql(const char *node, const char *cursor_xid, int64_t cursor_pos, int limit);
/* JSON array of the column names of table tbl on the pull side, or NULL. */
const char *batch_pull_cols(const char *tbl);

#endif
