/* hub_refcache.h - the hub's copy of the reference data a push is checked
 * against: the codes of every code list and the level of every area.
 *
 * PostgreSQL keeps a version of that data (the number of rows of
 * refdata_change, one added by a trigger for every statement that writes
 * area or code_list, schema/central/030). A batch reads the version inside its own
 * transaction; when the copy is older, the batch reloads it (in the same
 * transaction, one statement, so the codes and the version come from one
 * snapshot) before any row is checked against it. Each hub instance keeps
 * its own copy; none is ever used at a version older than what the batch's
 * transaction has seen. Lives on the loop thread. */
#ifndef SIKHNAS_HUB_REFCACHE_H
#define SIKHNAS_HUB_REFCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

/* The version, one row of one bigint column. */
#define REFCACHE_VERSION_SQL "SELECT count(*) FROM refdata_change"
/* The copy: a first row (version, NULL, NULL), then (NULL, list, code) for
 * every code and (level, NULL, code) for every area. */
#define REFCACHE_LOAD_SQL \
    "SELECT count(*)::text, NULL, NULL FROM refdata_change UNION ALL " \
    "SELECT NULL, list, code FROM code_list UNION ALL " \
    "SELECT level::text, NULL, code FROM area"

struct refcache;

int  refcache_new(struct refcache **ret);
void refcache_free(struct refcache *rc);          /* NULL is a no-op */
/* The version of the copy; -1 before the first load. */
int64_t refcache_version(const struct refcache *rc);
/* Replaces the copy with the rows of REFCACHE_LOAD_SQL. 0, -EBADMSG when
 * res is not such a result (the copy is then empty, at version -1), or
 * -ENOMEM. */
int  refcache_load(struct refcache *rc, const PGresult *res);
/* 1 when code (n bytes) is a code of list, else 0. */
int  refcache_code(const struct refcache *rc, const char *list, const char *code, size_t n);
/* The level of area code (n bytes), 0 when there is no such area. */
int  refcache_area(const struct refcache *rc, const char *code, size_t n);

/* A set of strings (the ids a probe found), for hub_direct.c. */
struct strset;
/* The values of column col of every row of res; NULL when out of memory. */
struct strset *strset_of(const PGresult *res, int col);
int  strset_has(const struct strset *s, const char *p, size_t n);
void strset_free(struct strset *s);

#endif
