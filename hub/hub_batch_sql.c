/* hub_batch_sql.c - the SQL of push and pull, made from the record kinds
 * (sync/kinds.h): the temporary tables a batch is COPYed into, the checks
 * run on them, the statements that apply a batch in one transaction, and
 * the pull feed's page. The statements are made of compiled-in text only;
 * every run-time value (node, district, seqs, clocks, names) is a
 * parameter (hub_sql.h). */
#include "hub_batch.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ checks */

/* A check run in SQL on the temporary table t: when cond holds, the row
 * is refused with code and the reason expression. @1@ stands for the
 * node's district and @C@ for the column. Checked in order; the first
 * that holds wins. Look-ups in area are scalar subqueries, one index probe
 * per row: as a NOT EXISTS the planner hashed all 83,762 villages for
 * every batch (up to 300 ms). */
struct rule {
    const char *code;
    const char *cond;
    const char *reason;
};

static const struct rule village_rules[] = {
    { "out_of_district", "t.@C@ IS NOT NULL AND left(t.@C@, 4) <> @1@",
      "'@C@ ' || t.@C@ || ' is not in district ' || @1@" },
    { "unknown_area", "t.@C@ IS NOT NULL AND (SELECT a.level FROM area a WHERE a.code = t.@C@) "
      "IS DISTINCT FROM 4", "'unknown village ' || t.@C@" }, { 0, 0, 0 } };
static const struct rule in_district_rules[] = {
    { "out_of_district", "t.@C@ <> @1@", "'@C@ ' || t.@C@ || ' is not ' || @1@" }, { 0, 0, 0 } };
static const struct rule area_here_rules[] = {
    { "out_of_district", "left(t.@C@, 4) <> @1@",
      "'@C@ ' || t.@C@ || ' is not in district ' || @1@" },
    { "unknown_area", "(SELECT a.level FROM area a WHERE a.code = t.@C@) IS NULL",
      "'unknown area ' || t.@C@" }, { 0, 0, 0 } };
static const struct rule area_rules[] = {
    { "unknown_area", "(SELECT a.level FROM area a WHERE a.code = t.@C@) IS NULL",
      "'unknown area ' || t.@C@" }, { 0, 0, 0 } };
static const struct rule code_rules[] = {
    { "unknown_code", "t.@C@ IS NOT NULL AND NOT EXISTS (SELECT 1 FROM code_list c "
      "WHERE c.list = '@L@' AND c.code = t.@C@)", "'unknown @L@ code ' || t.@C@" }, { 0, 0, 0 } };
/* Array cells of codes (always JSON arrays, the decoder sees to it): the
 * cell must be contained in the list's codes as one JSON array of strings,
 * built once per statement (an InitPlan), so an element that is a number,
 * an object or an array fails as well as an unknown code. Linear in the
 * batch whatever the planner guesses (an uncorrelated IN went quadratic
 * without statistics), and a third of the cost of expanding every cell
 * with jsonb_array_elements (measured). */
static const struct rule codes_rules[] = {
    { "unknown_code", "NOT (t.@C@ <@ (SELECT coalesce(jsonb_agg(c.code), '[]') "
      "FROM code_list c WHERE c.list = '@L@'))", "'unknown @L@ code in @C@ ' || t.@C@::text" },
    { 0, 0, 0 } };
static const struct rule herd_rules[] = {
    { "unknown_code", "EXISTS (SELECT 1 FROM jsonb_array_elements(t.@C@) e WHERE "
      "jsonb_typeof(e) <> 'object' OR NOT EXISTS (SELECT 1 FROM code_list c WHERE "
      "c.list = 'species' AND c.code = e ->> 'species'))",
      "'unknown species in @C@ ' || t.@C@::text" }, { 0, 0, 0 } };

/* Herd counts: each element of an animals array (an object with a known
 * species, ANIMALS_RULE) has counts sick, dead, culled and at_risk, each
 * absent, null or an integer >= 0; at_risk 0 means "not counted". N() reads
 * one as a number (0 when absent) without a cast that could fail: a failed
 * cast would abort the whole batch's transaction. A herd rule refuses the
 * row when one of its element predicates holds for any element, and names
 * the first such element and its numbers.
 *
 * The exact predicates cost some 100 ms per 5,000 rows (each expands every
 * cell and reads each count several times), so a jsonpath first picks the
 * rows that might break them (@? never raises: errors are "unknown"); it
 * flags a superset: every element whose required counts are not plain
 * integers >= 0 and every one that breaks the sums, so the exact check
 * runs on those rows only (checked against the exact predicates on 20,000
 * random cells). */
#define N(k) "(CASE WHEN jsonb_typeof(e -> '" k "') = 'number' THEN (e ->> '" k "')::numeric " \
             "ELSE 0 END)"
#define NOT_COUNT(k) "(CASE WHEN jsonb_typeof(e -> '" k "') = 'number' THEN " \
    "(e ->> '" k "')::numeric < 0 OR (e ->> '" k "')::numeric <> trunc((e ->> '" k "')::numeric) " \
    "ELSE coalesce(jsonb_typeof(e -> '" k "'), 'null') <> 'null' END)"
#define BAD_COUNTS NOT_COUNT("sick") " OR " NOT_COUNT("dead") " OR " NOT_COUNT("culled") " OR " \
                   NOT_COUNT("at_risk")
#define P_COUNT(k) "(@." k ".type() == \"number\" && @." k " >= 0 && @." k " == @." k ".floor())"
#define P_OPT(k)   "(!exists(@." k ") || " P_COUNT(k) ")"
/* case_report.animals: every element sick + dead >= 1, and <= at_risk when counted */
#define CR_OVER N("at_risk") " > 0 AND " N("sick") " + " N("dead") " > " N("at_risk")
#define CR_NONE N("sick") " + " N("dead") " < 1"
#define CR_MAYBE "$[*] ? (!(" P_COUNT("sick") " && " P_COUNT("dead") " && " P_OPT("at_risk") \
    " && " P_OPT("culled") " && @.sick + @.dead >= 1 && (!(@.at_risk > 0) || " \
    "@.sick + @.dead <= @.at_risk)))"
/* case_followup.animals: sick + dead + culled <= at_risk when counted */
#define FU_OVER N("at_risk") " > 0 AND " N("sick") " + " N("dead") " + " N("culled") " > " \
                N("at_risk")
#define FU_MAYBE "$[*] ? (!(" P_OPT("sick") " && " P_OPT("dead") " && " P_OPT("culled") " && " \
    P_OPT("at_risk") " && (!(@.at_risk > 0) || (" P_COUNT("sick") " && " P_COUNT("dead") \
    " && " P_COUNT("culled") " && @.sick + @.dead + @.culled <= @.at_risk))))"
#define HERD_RULE(maybe, any, why) \
    { "bad_value", "t.animals @? '" maybe "' AND EXISTS (SELECT 1 FROM " \
      "jsonb_array_elements(t.animals) e WHERE " any ")", \
      "(SELECT 'animals: ' || coalesce(e ->> 'species', '?') || " why " FROM " \
      "jsonb_array_elements(t.animals) e WHERE " any " LIMIT 1)" }
#define COUNTS_WHY "CASE WHEN " BAD_COUNTS " THEN ' has a count that is not an integer >= 0: ' " \
                   "|| e::text "
#define SUMS(with_culled) "' sick ' || " N("sick") " || ' + dead ' || " N("dead") \
    with_culled " || ' exceeds at_risk ' || " N("at_risk")

static const struct rule case_kind_rules[] = {
    { "bad_value", "t.kind NOT IN ('U', 'P') OR (t.kind = 'U') <> (t.syndrome IS NULL)",
      "'kind ' || t.kind || ' with syndrome ' || coalesce(t.syndrome, 'none')" }, { 0, 0, 0 } };
static const struct rule case_counts_rules[] = {
    HERD_RULE(CR_MAYBE, "(" BAD_COUNTS ") OR (" CR_OVER ") OR (" CR_NONE ")",
              COUNTS_WHY "WHEN " CR_OVER " THEN " SUMS("") " ELSE ' has no sick or dead "
              "animal (sick ' || " N("sick") " || ', dead ' || " N("dead") " || ')' END"),
    { 0, 0, 0 } };
static const struct rule followup_counts_rules[] = {
    HERD_RULE(FU_MAYBE, "(" BAD_COUNTS ") OR (" FU_OVER ")",
              COUNTS_WHY "ELSE " SUMS(" || ' + culled ' || " N("culled")) " END"),
    { 0, 0, 0 } };

/* Appends text with @C@ replaced by col and @L@ by list (both compiled-in
 * names); @1@ stays for sql_text_p(). */
static void subst(struct strbuf *b, const char *text, const char *col, const char *list)
{
    const char *at = text;

    while ((at = strchr(at, '@'))) {
        if ((at[1] != 'C' && at[1] != 'L') || at[2] != '@') {
            at++;                       /* an operator (<@, @?) or a jsonpath's @ */
            continue;
        }
        strbuf_add(b, text, (size_t)(at - text));
        strbuf_str(b, at[1] == 'C' ? col : list ? list : "");
        text = at += 3;
    }
    strbuf_str(b, text);
}

/* One UPDATE per rule of rules on tmp_<table>, for column col. */
static void add_rules(struct sql_list *l, const char *table, const struct rule *rules,
                      const char *col, const char *list, const char *district)
{
    const char *const p[] = { district };
    struct strbuf t = { 0 };

    for (const struct rule *ru = rules; ru->code; ru++) {
        strbuf_reset(&t);
        strbuf_fmt(&t, "UPDATE tmp_%s t SET bad_code = '%s', bad_reason = ", table, ru->code);
        subst(&t, ru->reason, col, list);
        strbuf_str(&t, " WHERE t.bad_code IS NULL AND (");
        subst(&t, ru->cond, col, list);
        strbuf_str(&t, ")");
        sql_begin(l);
        if (t.err)
            l->err = t.err;
        else
            sql_text_p(l, t.p, p, 1);
        sql_end(l);
    }
    strbuf_free(&t);
}

static const struct rule *place_rules(enum col_check c)
{
    switch (c) {
    case CHECK_VILLAGE: return village_rules;
    case CHECK_IN_DISTRICT: return in_district_rules;
    case CHECK_AREA_HERE: return area_here_rules;
    case CHECK_AREA: return area_rules;
    default: return NULL;
    }
}

static const struct rule *code_check_rules(enum col_check c)
{
    switch (c) {
    case CHECK_CODE: return code_rules;
    case CHECK_CODES: return codes_rules;
    case CHECK_HERD: return herd_rules;
    default: return NULL;
    }
}

/* The checks of kind k, in the order they refuse: where the row is, the
 * kind's own shape, its codes, its counts. */
static void kind_checks(struct sql_list *l, const struct record_kind *k, const char *district)
{
    for (int i = 0; i < k->ncols; i++)
        if (place_rules(k->cols[i].check))
            add_rules(l, k->table, place_rules(k->cols[i].check), k->cols[i].name, NULL,
                      district);
    if (k->rules & RULE_CASE_KIND)
        add_rules(l, k->table, case_kind_rules, "", NULL, district);
    for (int i = 0; i < k->ncols; i++)
        if (code_check_rules(k->cols[i].check))
            add_rules(l, k->table, code_check_rules(k->cols[i].check), k->cols[i].name,
                      k->cols[i].list, district);
    if (k->rules & RULE_CASE_COUNTS)
        add_rules(l, k->table, case_counts_rules, "", NULL, district);
    if (k->rules & RULE_FOLLOWUP_COUNTS)
        add_rules(l, k->table, followup_counts_rules, "", NULL, district);
}

int batch_check_sql(struct sql_list *l, const struct batch *b, const int *present,
                    const char *district)
{
    for (int i = 0; i < b->ntables; i++)
        if (present[i])
            kind_checks(l, &record_kinds[b->tables[i].kind], district);
    return l->err;
}

/* ------------------------------------------------------------ temporary tables */

static const char *pg_type(enum col_type t)
{
    switch (t) {
    case COL_HLC: return "bigint";
    case COL_INT: return "integer";
    case COL_BIT: return "smallint";
    case COL_JSON: return "jsonb";
    case COL_TS: return "timestamptz";
    case COL_DATE: return "date";
    case COL_LON: case COL_LAT: return "double precision";
    default: return "text";
    }
}

char *batch_setup_sql(void)
{
    struct strbuf s = { 0 };

    /* no JIT: every statement handles one batch (at most 10,000 rows), and
     * compiling the validation pass alone took 160 ms, longer than running it */
    strbuf_str(&s, "SET application_name = 'sikhnas-hub'; SET TimeZone = 'UTC';"
                "SET client_min_messages = warning; SET statement_timeout = '120s';"
                "SET idle_in_transaction_session_timeout = '120s'; SET jit = off;");
    for (int i = 0; i < record_kinds_count; i++) {
        const struct record_kind *k = &record_kinds[i];
        if (!k->synced)
            continue;
        strbuf_fmt(&s, "CREATE TEMP TABLE IF NOT EXISTS tmp_%s (seq bigint, bad_code text, "
                    "bad_reason text", k->table);
        for (int c = 0; c < k->ncols; c++)
            strbuf_fmt(&s, ", %s %s", k->cols[c].name, pg_type(k->cols[c].type));
        /* not COPYed: the upsert wrote the row; the row met another writer's */
        strbuf_str(&s, ", written boolean, conflict boolean) ON COMMIT DELETE ROWS;");
    }
    return strbuf_take(&s);
}

char *batch_copy_sql(const struct batch_table *t)
{
    const struct record_kind *k = &record_kinds[t->kind];
    struct strbuf s = { 0 };

    strbuf_fmt(&s, "COPY tmp_%s (seq, bad_code, bad_reason", k->table);
    for (int c = 0; c < k->ncols; c++)
        strbuf_fmt(&s, ", %s", k->cols[c].name);
    strbuf_str(&s, ") FROM STDIN");
    return strbuf_take(&s);
}

/* ------------------------------------------------------------ applying */

/* The district of a stored row c of k: who owns it (the feed's scope too). */
static void owner(struct sql_list *l, const struct record_kind *k)
{
    sql_fmt(l, "left(c.%s, 4)", k->district_col);
}

/* Refuses, in tmp_<table>, the rows that would change a stored row of
 * another district (foreign_row) or relabel a row's origin (bad_origin): the
 * STORED row's district is authoritative, a row that exists keeps its
 * origin, and a new row's origin is the node's id. Runs after the node's
 * lock; after_upsert limits it to the rows the upsert did not write (a
 * version another transaction committed meanwhile, which the upsert's guard
 * kept out: refused here instead of silently dropped). One index probe per
 * row; the SET expressions run for refused rows only. */
static void owner_check(struct sql_list *l, const struct record_kind *k, const char *node,
                        const char *district, int after_upsert)
{
    const char *const p[] = { district, node };
    struct strbuf o = { 0 }, t = { 0 };

    strbuf_fmt(&o, "left(c.%s, 4)", k->district_col);
    strbuf_fmt(&t, "UPDATE tmp_%s t SET bad_code = coalesce((SELECT CASE WHEN %s IS DISTINCT "
               "FROM @1@ THEN 'foreign_row' ELSE 'bad_origin' END FROM %s c WHERE c.id = t.id), "
               "'bad_origin'), ", k->table, o.p, k->table);
    strbuf_fmt(&t, "bad_reason = coalesce((SELECT CASE WHEN %s IS DISTINCT FROM @1@ THEN "
               "'the stored row belongs to district ' || coalesce(%s, '?') || ', not ' || @1@ "
               "ELSE 'origin ' || t.origin || ' is not the stored row''s origin ' || c.origin "
               "END FROM %s c WHERE c.id = t.id), 'origin ' || t.origin || ' of a new row is "
               "not this node (' || @2@ || ')') ", o.p, o.p, k->table);
    strbuf_fmt(&t, "WHERE t.bad_code IS NULL%s AND coalesce((SELECT %s IS DISTINCT FROM @1@ OR "
               "c.origin <> t.origin FROM %s c WHERE c.id = t.id), t.origin <> @2@)",
               after_upsert ? " AND t.written IS NOT TRUE" : "", o.p, k->table);
    sql_begin(l);
    if (t.err || o.err)
        l->err = -ENOMEM;
    else
        sql_text_p(l, t.p, p, 2);
    sql_end(l);
    strbuf_free(&o);
    strbuf_free(&t);
}

/* Logs the version that loses against a stored version of another writer,
 * and marks the row (tmp.conflict) for the ledger. The conflict check is
 * an OFFSET 0 lateral: one index probe per row, never a scan of the whole
 * field table. */
static void conflict_sql(struct sql_list *l, const struct record_kind *k, const char *node)
{
    const char *const p[] = { node };
    struct strbuf t = { 0 };

    strbuf_fmt(&t, "WITH ins AS (INSERT INTO conflict_log (tbl, row_id, winner_node, winner_hlc, "
               "loser_node, loser_hlc, winner, loser) SELECT '%s', t.id, "
               "CASE WHEN x.w THEN @1@ ELSE c.src_node END, "
               "CASE WHEN x.w THEN t.hlc ELSE c.hlc END, "
               "CASE WHEN x.w THEN c.src_node ELSE @1@ END, "
               "CASE WHEN x.w THEN c.hlc ELSE t.hlc END, "
               "CASE WHEN x.w THEN x.inc ELSE to_jsonb(c) END, "
               "CASE WHEN x.w THEN to_jsonb(c) ELSE x.inc END ", k->table);
    strbuf_fmt(&t, "FROM tmp_%s t JOIN LATERAL (SELECT * FROM %s c WHERE c.id = t.id "
               "OFFSET 0) c ON true CROSS JOIN LATERAL (SELECT (t.hlc, @1@) > "
               "(c.hlc, c.src_node) AS w, to_jsonb(t) - "
               "'{seq,bad_code,bad_reason,written,conflict}'::text[] "
               "|| jsonb_build_object('src_node', @1@) AS inc) x "
               "WHERE t.bad_code IS NULL AND c.src_node <> @1@ RETURNING row_id) "
               "UPDATE tmp_%s t SET conflict = true FROM ins WHERE t.id = ins.row_id",
               k->table, k->table, k->table);
    sql_begin(l);
    if (t.err)
        l->err = -ENOMEM;
    else
        sql_text_p(l, t.p, p, 1);
    sql_end(l);
    strbuf_free(&t);
}

/* The target column list and the SELECT list that fills it from tmp. */
static void upsert_cols(struct sql_list *l, const struct record_kind *k, int select)
{
    for (int i = 0, first = 1; i < k->ncols; i++) {
        const struct kind_col *c = &k->cols[i];
        if (c->type == COL_LAT)
            continue;
        sql_text(l, first ? "" : ", ");
        first = 0;
        if (c->type == COL_LON)
            sql_text(l, select ? "CASE WHEN t.lon IS NOT NULL AND t.lat IS NOT NULL THEN "
                                 "ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326) END" : "geom");
        else
            sql_fmt(l, select ? "t.%s" : "%s", c->name);
    }
}

/* Last-writer-wins upsert of the rows not refused; marks those it wrote.
 * The DO UPDATE is guarded by the stored row's district and origin too, so
 * a row another transaction inserted after owner_check() looked cannot be
 * overwritten. */
static void upsert_sql(struct sql_list *l, const struct record_kind *k, const struct batch *b,
                       const char *node, const char *district)
{
    sql_begin(l);
    sql_fmt(l, "WITH up AS (INSERT INTO %s AS c (", k->table);
    upsert_cols(l, k, 0);
    sql_text(l, ", src_node, src_batch, src_hlc, received_at");
    if (k->sender_district)
        sql_fmt(l, ", %s", k->district_col);
    sql_text(l, ") SELECT ");
    upsert_cols(l, k, 1);
    sql_text(l, ", ");
    sql_param(l, node);
    sql_text(l, ", ");
    sql_ints(l, (const int64_t[]){ b->last_seq, b->hlc }, 2);
    sql_text(l, ", now()");
    if (k->sender_district) {
        sql_text(l, ", ");
        sql_param(l, district);
    }
    sql_fmt(l, " FROM tmp_%s t WHERE t.bad_code IS NULL ON CONFLICT (id) DO UPDATE SET ", k->table);
    for (int i = 0; i < k->ncols; i++) {
        const struct kind_col *c = &k->cols[i];
        if (c->type == COL_LAT || strcmp(c->name, "id") == 0)
            continue;
        if (c->type == COL_LON)
            sql_text(l, "geom = EXCLUDED.geom, ");
        else
            sql_fmt(l, "%s = EXCLUDED.%s, ", c->name, c->name);
    }
    sql_text(l, "src_node = EXCLUDED.src_node, src_batch = EXCLUDED.src_batch, "
                "src_hlc = EXCLUDED.src_hlc, received_at = EXCLUDED.received_at "
                "WHERE (EXCLUDED.hlc, EXCLUDED.src_node) > (c.hlc, c.src_node) AND ");
    owner(l, k);
    sql_text(l, " = ");
    sql_param(l, district);
    sql_fmt(l, " AND c.origin = EXCLUDED.origin RETURNING c.id) "
               "UPDATE tmp_%s t SET written = true FROM up WHERE t.id = up.id", k->table);
    sql_end(l);
}

/* One security_audit row per refusal code of a rogue node's kind in this
 * batch (foreign_row, bad_origin), naming the count and the first rows;
 * committed with the refusals. */
static void audit_sql(struct sql_list *l, const struct batch *b, const int *present,
                      const struct batch_apply *a)
{
    const char *const who[] = { a->who_name, a->node, a->district, a->who_serial,
                                a->who_address };
    int first = 1;

    sql_begin(l);
    sql_text_p(l, "INSERT INTO security_audit (event, name, node_id, district, serial, address, "
                  "endpoint, reason) SELECT 'refuse', @1@, @2@, @3@, @4@, @5@, 'push', "
                  "r.code || ': ' || count(*) || CASE r.code WHEN 'foreign_row' THEN "
                  "' row(s) of another district' ELSE ' row(s) with another origin' END || "
                  "' refused; first: ' || array_to_string((array_agg(r.tbl || ' ' || "
                  "coalesce(r.id, '?') ORDER BY r.seq))[1:5], ', ') FROM (", who, 5);
    for (int i = 0; i < b->ntables; i++) {
        const char *name = record_kinds[b->tables[i].kind].table;
        if (!present[i])
            continue;
        sql_fmt(l, "%sSELECT '%s' AS tbl, seq, id, bad_code AS code FROM tmp_%s "
                   "WHERE bad_code IN ('foreign_row', 'bad_origin')",
                first ? "" : " UNION ALL ", name, name);
        first = 0;
    }
    sql_text(l, ") r GROUP BY r.code");
    sql_end(l);
}

/* The push_batch row of this attempt, counted from the temporary tables;
 * it returns (applied, refused, conflicts). */
static void ledger_sql(struct sql_list *l, const struct batch *b, const int *present,
                       const struct batch_apply *a)
{
    sql_begin(l);
    sql_text(l, "INSERT INTO push_batch (node_id, batch_hlc, node_hlc, min_seq, last_seq, "
                "applied, refused, conflicts, duplicate) SELECT ");
    sql_param(l, a->node);
    sql_text(l, ", ");
    sql_ints(l, (const int64_t[]){ (int64_t)a->attempt, b->hlc, b->min_seq, b->last_seq }, 4);
    sql_text(l, ", sum(n_ok)::int + ");
    sql_int(l, a->direct);
    sql_text(l, ", sum(n_bad)::int, sum(n_conflict)::int, ");
    sql_int(l, a->duplicate);
    sql_text(l, "::int FROM (SELECT 0::bigint AS n_ok, 0::bigint AS n_bad, "
                "0::bigint AS n_conflict");
    for (int i = 0; i < b->ntables; i++)
        if (present[i])
            sql_fmt(l, " UNION ALL SELECT count(*) FILTER (WHERE bad_code IS NULL), "
                       "count(*) FILTER (WHERE bad_code IS NOT NULL), "
                       "count(*) FILTER (WHERE conflict) FROM tmp_%s",
                    record_kinds[b->tables[i].kind].table);
    sql_text(l, ") x RETURNING applied, refused, conflicts");
    sql_end(l);
}

int batch_apply_sql(struct sql_list *l, const struct batch *b, const int *present,
                    const struct batch_apply *a, int *ledger_idx, int *refusal_idx)
{
    const char *max_id = NULL;
    int any = 0;

    for (int i = 0; i < b->ntables; i++)
        if (b->tables[i].max_id[0] && (!max_id || strcmp(b->tables[i].max_id, max_id) > 0))
            max_id = b->tables[i].max_id;

    for (int i = 0; i < b->ntables; i++) {
        const struct record_kind *k = &record_kinds[b->tables[i].kind];
        if (!present[i])
            continue;
        any = 1;
        if (a->acked >= b->min_seq) {      /* rows applied before: not again */
            sql_begin(l);
            sql_fmt(l, "DELETE FROM tmp_%s WHERE seq <= ", k->table);
            sql_int(l, a->acked);
            sql_end(l);
        }
        owner_check(l, k, a->node, a->district, 0);
        conflict_sql(l, k, a->node);
        upsert_sql(l, k, b, a->node, a->district);
        owner_check(l, k, a->node, a->district, 1);
        sql_begin(l);
        sql_text(l, "INSERT INTO push_refusal (node_id, seq, tbl, row_id, code, reason) SELECT ");
        sql_param(l, a->node);
        sql_fmt(l, ", t.seq, '%s', t.id, t.bad_code, coalesce(t.bad_reason, '?') FROM tmp_%s t "
                   "WHERE t.bad_code IS NOT NULL ON CONFLICT DO NOTHING", k->table, k->table);
        sql_end(l);
    }
    if (any)
        audit_sql(l, b, present, a);
    *ledger_idx = -1;
    if (a->ledger) {
        ledger_sql(l, b, present, a);
        *ledger_idx = l->n - 1;
    }
    sql_begin(l);
    sql_text(l, "UPDATE node SET acked_seq = greatest(acked_seq, ");
    sql_int(l, b->last_seq);
    sql_text(l, "), last_contact = now(), last_hlc = greatest(last_hlc, ");
    sql_int(l, b->hlc);
    if (max_id) {                       /* what the next probes may skip (017) */
        sql_text(l, "), max_id = greatest(max_id, ");
        sql_param(l, max_id);
    }
    sql_text(l, ") WHERE node_id = ");
    sql_param(l, a->node);
    sql_end(l);
    /* up to the mark the answer carries: a node that lost an earlier answer
     * learns the refusals of rows it never heard back about (protocol §4.3) */
    sql_begin(l);
    sql_text(l, "SELECT seq, tbl, coalesce(row_id, ''), code, reason FROM push_refusal "
                "WHERE node_id = ");
    sql_param(l, a->node);
    sql_text(l, " AND seq BETWEEN ");
    sql_int(l, b->min_seq);
    sql_text(l, " AND ");
    sql_int(l, a->acked > b->last_seq ? a->acked : b->last_seq);
    sql_text(l, " ORDER BY seq");
    sql_end(l);
    *refusal_idx = l->n - 1;
    sql_begin(l);
    sql_text(l, "COMMIT");
    sql_end(l);
    return l->err;
}

/* ------------------------------------------------------------ pull */

/* The JSON value of column c of a central row r, as the feed carries it. */
static void feed_value(struct sql_list *l, const struct kind_col *c)
{
    switch (c->type) {
    case COL_HLC: sql_fmt(l, "r.%s::text", c->name); break;
    case COL_TS: sql_fmt(l, "sikhnas_ts(r.%s)", c->name); break;
    case COL_DATE: sql_fmt(l, "to_char(r.%s, 'YYYY-MM-DD')", c->name); break;
    case COL_LON: sql_text(l, "ST_X(r.geom)"); break;
    case COL_LAT: sql_text(l, "ST_Y(r.geom)"); break;
    default: sql_fmt(l, "r.%s", c->name); break;
    }
}

void batch_pull_cols(struct strbuf *s, const struct record_kind *k)
{
    strbuf_add(s, "[", 1);
    for (int i = 0; i < k->ncols; i++)
        strbuf_fmt(s, "%s\"%s\"", i ? "," : "", k->cols[i].name);
    strbuf_add(s, "]", 1);
}

int batch_pull_sql(struct sql_list *l, const char *node, const char *cursor_xid,
                   int64_t cursor_pos, int limit)
{
    const char *const p[] = { node, cursor_xid };

    /* one statement: one snapshot for the horizon, the page and the rows */
    sql_begin(l);
    sql_text_p(l, "WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin), "
                  "me AS (SELECT @1@ AS node_id, (SELECT district FROM node "
                  "WHERE node_id = @1@) AS district), "
                  "page AS (SELECT c.xid, c.pos, c.tbl, c.key FROM change_log c, h "
                  "WHERE (c.xid, c.pos) > (@2@::xid8, ", p, 2);
    sql_int(l, cursor_pos);
    sql_text(l, ") AND c.xid < h.xmin AND (c.district IS NULL OR c.district = "
                "(SELECT district FROM me)) ORDER BY c.xid, c.pos LIMIT ");
    sql_int(l, limit);
    sql_text(l, "), keys AS (SELECT tbl, key, min(pos) AS ord FROM page GROUP BY tbl, key) "
                "SELECT 'meta', json_build_array((SELECT count(*) FROM page), "
                "(SELECT xid::text || '.' || pos FROM page ORDER BY xid DESC, pos DESC LIMIT 1), "
                "(SELECT xmin::text FROM h), (SELECT district FROM me))::text");
    for (int i = 0; i < record_kinds_count; i++) {
        const struct record_kind *k = &record_kinds[i];
        sql_fmt(l, " UNION ALL SELECT '%s', json_agg(json_build_array(", k->table);
        for (int c = 0; c < k->ncols; c++) {
            sql_text(l, c ? ", " : "");
            feed_value(l, &k->cols[c]);
        }
        sql_fmt(l, ") ORDER BY k.ord)::text FROM %s r JOIN keys k ON k.tbl = '%s' AND "
                   "k.key = %s", k->table, k->table, k->feed_key);
        if (k->synced)
            sql_text(l, " WHERE r.src_node <> (SELECT node_id FROM me)");
        sql_text(l, " HAVING count(*) > 0");
    }
    sql_end(l);
    return l->err;
}
