/* hub_direct.h - the direct path of a push: the rows that are new and
 * certainly pass every check go into their table with one COPY; the others
 * (refused by the decoder, already stored, of another origin, or that any
 * check might refuse) go through the temporary table and the SQL checks and
 * upsert of hub_batch_sql.c, which give every refusal its exact code and
 * reason.
 *
 * "Certainly pass" is decided in the hub against its copy of the reference
 * data (hub_refcache.h): a row goes direct only when the SQL checks would
 * refuse nothing of it; whatever this code cannot be sure of (an escaped
 * character, a number that is not a plain integer, a repeated key) sends
 * the row the SQL way, never the other way round. "New" is what a probe
 * of the row's id found, after the node's lock: another node cannot hold a
 * row of this node's origin that the hub never stored, and should one
 * appear meanwhile (a central insert in a transaction still open, a forged
 * id), the COPY fails on the primary key: the push then rolls back to a
 * savepoint taken before its first COPY and sends every row the SQL way,
 * which refuses such a row exactly as before. */
#ifndef SIKHNAS_HUB_DIRECT_H
#define SIKHNAS_HUB_DIRECT_H

#include <libpq-fe.h>

#include "batch.h"
#include "hub_refcache.h"
#include "strbuf.h"

/* The ids of the rows of t the decoder kept, as a text[] literal, for
 * direct_probe_sql(); malloc'd, NULL when out of memory. */
char *direct_probe_ids(const struct batch_table *t);
/* The probe: SELECT id FROM <t's table> WHERE id = ANY($1::text[]), of
 * the ids up to node $2's max_id (the others are its new records);
 * malloc'd or NULL. */
char *direct_probe_sql(const struct batch_table *t);
/* COPY <table> (columns..., geom, src_node, src_batch, src_hlc[, district])
 * FROM STDIN: the direct path's statement; malloc'd or NULL. */
char *direct_copy_sql(const struct batch_table *t);

/* A table block split between the two paths. */
struct direct_split {
    struct strbuf direct;   /* COPY text for direct_copy_sql() */
    int           ndirect;
    struct strbuf tmp;      /* COPY text for the temporary table (batch_copy_sql()) */
    int           ntmp;
};

/* What the split needs to know of the batch's push. */
struct direct_ctx {
    const struct refcache *rc;      /* at least as new as the transaction's version */
    const char *node;               /* the certificate's node id */
    const char *district;           /* its district */
    int64_t     acked;              /* rows at or below it were applied before: dropped */
    int64_t     src_batch, src_hlc; /* the batch's last_seq and hlc */
    int         no_direct;          /* 1: every row the SQL way */
};

/* Splits the rows of t above x->acked: existing holds the ids the probe
 * found (NULL: none). 0 or -ENOMEM. The caller frees s with
 * direct_split_clear(). */
int  direct_split(const struct direct_ctx *x, const struct batch_table *t,
                  const struct strset *existing, struct direct_split *s);
void direct_split_clear(struct direct_split *s);

#endif
