/* hub_sql.h - statements built from compiled-in text, with every run-time
 * value as a parameter: the hub never pastes a value into SQL text. A list
 * of them goes to db_exec_params() as one pipeline.
 *
 *   struct sql_list l = { 0 };
 *   sql_begin(&l);
 *   sql_text(&l, "UPDATE node SET acked_seq = greatest(acked_seq, ");
 *   sql_int(&l, seq);                          -- appends "$1::bigint"
 *   sql_text(&l, ") WHERE node_id = ");
 *   sql_param(&l, node);                       -- appends "$2::text"
 *   sql_end(&l);
 *   db_exec_params(c, sql_queries(&l), l.n, cb, ud);   ... sql_list_free(&l);
 *
 * Text may name a parameter more than once with sql_text_p(), whose "@1@",
 * "@2@" ... stand for the values given to it. */
#ifndef SIKHNAS_HUB_SQL_H
#define SIKHNAS_HUB_SQL_H

#include <stdint.h>

#include "hub_db.h"
#include "strbuf.h"

#define SQL_MAX_PARAMS 16

struct sql_stmt {
    char       *sql;
    int         n;
    char       *values[SQL_MAX_PARAMS];
};

struct sql_list {
    struct sql_stmt *st;
    int              n, cap;
    struct strbuf    cur;          /* the statement being built */
    int              ncur;
    char            *vcur[SQL_MAX_PARAMS];
    int              err;          /* -ENOMEM or -E2BIG once anything failed */
    struct db_query *q;            /* made by sql_queries() */
};

void sql_begin(struct sql_list *l);
void sql_text(struct sql_list *l, const char *text);
void sql_fmt(struct sql_list *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A text parameter ("$k::text"), and an integer one ("$k::bigint"). */
void sql_param(struct sql_list *l, const char *value);
void sql_int(struct sql_list *l, int64_t value);
/* n integer parameters, separated by ", ". */
void sql_ints(struct sql_list *l, const int64_t *values, int n);
/* text with "@1@" .. "@9@" standing for values[0..nvalues): each is one
 * parameter, however often it appears. */
void sql_text_p(struct sql_list *l, const char *text, const char *const *values, int nvalues);
void sql_end(struct sql_list *l);
/* The statements as db_query entries (owned by l), or NULL when building
 * failed. */
const struct db_query *sql_queries(struct sql_list *l);
void sql_list_free(struct sql_list *l);

#endif
