/* kinds.h - the record kinds the node and the hub exchange, declared once.
 *
 * Every synced table (a kind of field record that flows up, and comes back
 * down when corrected centrally) and every reference table (flows down
 * only) is one entry of record_kinds[], with its columns in the order of
 * the wire, their types and what the hub checks of them. From this one
 * table come: the node's batch encoder and its pull apply
 * (node/sync_client.c), the node's outbox triggers (node/store.c), the
 * hub's batch decoder (sync/batch_decode.c), its temporary tables, upserts
 * and pull feed (hub/hub_batch_sql.c) and its central feed and stamp
 * triggers (hub/hub_migrate.c). Adding a kind: docs/hacking.md. */
#ifndef SIKHNAS_KINDS_H
#define SIKHNAS_KINDS_H

#include <stddef.h>

enum col_type {
    COL_ID,        /* a UUID */
    COL_ORIGIN,    /* a UUID (the node a row was born on) or "central" */
    COL_HLC,       /* 64-bit hybrid logical clock, sent as a string of digits */
    COL_BIT,       /* 0 or 1 */
    COL_INT,       /* integer, 0 to 2^31 - 1 */
    COL_TEXT,      /* UTF-8 text */
    COL_TS,        /* ISO-8601 time, UTC, as text */
    COL_DATE,      /* YYYY-MM-DD */
    COL_JSON,      /* a JSON array */
    COL_LON,       /* longitude of the row's point (geom), degrees */
    COL_LAT,       /* latitude of the row's point */
};

/* What the hub checks of a column, besides its type (hub/hub_batch_sql.c
 * has the SQL of each); the node's validator has its own rules. */
enum col_check {
    CHECK_NONE,
    CHECK_VILLAGE,     /* a village (level 4) of the node's district */
    CHECK_IN_DISTRICT, /* the node's district itself (4 digits) */
    CHECK_AREA_HERE,   /* a known area in the node's district */
    CHECK_AREA,        /* any known area */
    CHECK_CODE,        /* a code of list `list` (or NULL) */
    CHECK_CODES,       /* a JSON array of codes of list `list` */
    CHECK_HERD,        /* a JSON array of {species, counts...} with known species */
};

#define COL_REQUIRED 1u    /* present in every row, and never null */

struct kind_col {
    const char     *name;
    enum col_type   type;
    unsigned        flags;
    enum col_check  check;
    const char     *list;  /* CHECK_CODE, CHECK_CODES: the code list */
};

/* Rules that span columns, each named here and written once in the hub. */
enum kind_rule {
    RULE_NONE = 0,
    RULE_CASE_KIND = 1u << 0,       /* kind U has signs and no syndrome, P a syndrome */
    RULE_CASE_COUNTS = 1u << 1,     /* sick + dead >= 1, <= at_risk when counted */
    RULE_FOLLOWUP_COUNTS = 1u << 2, /* sick + dead + culled <= at_risk when counted */
};

struct record_kind {
    const char            *table;
    const struct kind_col *cols;       /* the wire's order */
    int                    ncols;
    int                    synced;     /* 1: flows up and down (id, origin, hlc, deleted);
                                          0: reference data, flows down only */
    const char            *key;        /* the node's ON CONFLICT target */
    const char            *feed_key;   /* SQL over alias r: the change_log key (hub) */
    /* synced kinds: the column whose first four characters are the
     * district a row belongs to (the feed's scope, and its owner: the
     * stored row's district decides who may change it) */
    const char            *district_col;
    int                    sender_district;  /* 1: district_col is not sent; the hub
                                                stores the sending node's district */
    unsigned               rules;            /* enum kind_rule bits */
};

extern const struct record_kind record_kinds[];
extern const int record_kinds_count;

/* The kind of table name, or NULL. */
const struct record_kind *record_kind_find(const char *table);
/* Its index in record_kinds[], or -1. */
int record_kind_index(const char *table);
/* The column named name of kind k, or NULL. */
const struct kind_col *kind_col_find(const struct record_kind *k, const char *name);

#endif
