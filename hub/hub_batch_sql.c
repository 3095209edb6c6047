/* hub_batch_sql.c - the tables a node may push and the SQL of push and
 * pull: the column specs the decoder checks cells against (hub_batch.c),
 * the validation rules run in SQL on the temporary tables, the statements
 * that apply a batch in one transaction, and the pull feed's page. */
#include "hub_batch.h"
#include "hub_batch_int.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

/* ------------------------------------------------------------ table specs */

#define R 1   /* required: present in cols and not null */

#define COMMON_COLS \
    { "id", T_ID, R }, { "origin", T_ORIGIN, R }, { "hlc", T_HLC, R }, \
    { "deleted", T_BIT, R }, { "created_at", T_TS, R }, { "updated_at", T_TS, R }

static const struct col_spec officer_cols[] = { COMMON_COLS,
    { "name", T_TEXT, R }, { "role", T_TEXT, R }, { "phone", T_TEXT, R },
    { "district", T_TEXT, R }, { "village", T_TEXT, 0 }, { 0, 0, 0 } };
static const struct col_spec case_report_cols[] = { COMMON_COLS,
    { "ref", T_TEXT, R }, { "kind", T_TEXT, R }, { "village", T_TEXT, R },
    { "syndrome", T_TEXT, 0 }, { "signs", T_JSON, 0 }, { "animals", T_JSON, R },
    { "ddx", T_JSON, 0 }, { "event_date", T_DATE, R }, { "reporter", T_TEXT, 0 },
    { "note", T_TEXT, 0 }, { "lon", T_LON, 0 }, { "lat", T_LAT, 0 }, { 0, 0, 0 } };
static const struct col_spec case_followup_cols[] = { COMMON_COLS,
    { "case_id", T_TEXT, R }, { "outcome", T_TEXT, 0 }, { "animals", T_JSON, 0 },
    { "escalate", T_BIT, 0 }, { "event_date", T_DATE, R }, { "reporter", T_TEXT, 0 },
    { "note", T_TEXT, 0 }, { 0, 0, 0 } };
static const struct col_spec vaccination_cols[] = { COMMON_COLS,
    { "program", T_TEXT, R }, { "disease", T_TEXT, 0 }, { "village", T_TEXT, R },
    { "animals", T_JSON, R }, { "event_date", T_DATE, R }, { "reporter", T_TEXT, 0 },
    { "note", T_TEXT, 0 }, { 0, 0, 0 } };
static const struct col_spec treatment_cols[] = { COMMON_COLS,
    { "case_id", T_TEXT, 0 }, { "village", T_TEXT, R }, { "species", T_TEXT, R },
    { "drug", T_TEXT, R }, { "n_animals", T_INT, R }, { "event_date", T_DATE, R },
    { "reporter", T_TEXT, 0 }, { "note", T_TEXT, 0 }, { 0, 0, 0 } };
static const struct col_spec movement_permit_cols[] = { COMMON_COLS,
    { "permit_no", T_TEXT, R }, { "owner_id", T_TEXT, R }, { "owner_phone", T_TEXT, 0 },
    { "from_area", T_TEXT, R }, { "to_area", T_TEXT, R }, { "animals", T_JSON, R },
    { "issue_date", T_DATE, R }, { "reporter", T_TEXT, 0 }, { "note", T_TEXT, 0 },
    { 0, 0, 0 } };
static const struct col_spec slaughter_report_cols[] = { COMMON_COLS,
    { "abattoir", T_TEXT, 0 }, { "village", T_TEXT, R }, { "species", T_TEXT, R },
    { "n_animals", T_INT, R }, { "event_date", T_DATE, R }, { "reporter", T_TEXT, 0 },
    { "note", T_TEXT, 0 }, { 0, 0, 0 } };
static const struct col_spec population_report_cols[] = { COMMON_COLS,
    { "village", T_TEXT, R }, { "animals", T_JSON, R }, { "event_date", T_DATE, R },
    { "reporter", T_TEXT, 0 }, { "note", T_TEXT, 0 }, { 0, 0, 0 } };

/* Look-ups in area are scalar subqueries, one index probe per row: as a
 * NOT EXISTS the planner hashed all 83,762 villages for every batch (up to
 * 300 ms), and the conflict check in batch_apply_sql() is an OFFSET 0
 * lateral for the same reason (never a scan of the whole field table). */
/* A validation run in SQL on the temporary table t: when cond holds, the
 * row is refused with code and the reason expression. @D@ is the node's
 * district (4 digits). Checked in order; the first that holds wins. */
struct rule {
    const char *code;
    const char *cond;
    const char *reason;
};

#define VILLAGE_RULES(col) \
    { "out_of_district", "left(t." col ", 4) <> '@D@'", \
      "'" col " ' || t." col " || ' is not in district @D@'" }, \
    { "unknown_area", "(SELECT a.level FROM area a WHERE a.code = t." col ") " \
      "IS DISTINCT FROM 4", "'unknown village ' || t." col }
#define CODE_RULE(col, list) \
    { "unknown_code", "t." col " IS NOT NULL AND NOT EXISTS (SELECT 1 FROM code_list c " \
      "WHERE c.list = '" list "' AND c.code = t." col ")", \
      "'unknown " list " code ' || t." col }
/* Array cells of codes (always JSON arrays, the decoder sees to it): the
 * cell must be contained in the list's codes as one JSON array of strings,
 * built once per statement (an InitPlan), so an element that is a number,
 * an object or an array fails as well as an unknown code. Linear in the
 * batch whatever the planner guesses (an uncorrelated IN went quadratic
 * without statistics), and a third of the cost of expanding every cell
 * with jsonb_array_elements (measured). */
#define ARRAY_RULE(col, list) \
    { "unknown_code", "NOT (t." col " <@ (SELECT coalesce(jsonb_agg(c.code), '[]') " \
      "FROM code_list c WHERE c.list = '" list "'))", \
      "'unknown " list " code in " col " ' || t." col "::text" }
#define ANIMALS_RULE(col) \
    { "unknown_code", "EXISTS (SELECT 1 FROM jsonb_array_elements(t." col ") e WHERE " \
      "jsonb_typeof(e) <> 'object' OR NOT EXISTS (SELECT 1 FROM code_list c WHERE " \
      "c.list = 'species' AND c.code = e ->> 'species'))", \
      "'unknown species in " col " ' || t." col "::text" }

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

static const struct rule officer_rules[] = {
    { "out_of_district", "t.district <> '@D@'",
      "'district ' || t.district || ' is not @D@'" },
    { "out_of_district", "t.village IS NOT NULL AND left(t.village, 4) <> '@D@'",
      "'village ' || t.village || ' is not in district @D@'" },
    { "unknown_area", "t.village IS NOT NULL AND (SELECT a.level FROM area a "
      "WHERE a.code = t.village) IS DISTINCT FROM 4", "'unknown village ' || t.village" },
    CODE_RULE("role", "role"), { 0, 0, 0 } };
static const struct rule case_report_rules[] = {
    VILLAGE_RULES("village"),
    { "bad_value", "t.kind NOT IN ('U', 'P') OR (t.kind = 'U') <> (t.syndrome IS NULL)",
      "'kind ' || t.kind || ' with syndrome ' || coalesce(t.syndrome, 'none')" },
    CODE_RULE("syndrome", "syndrome"), ARRAY_RULE("signs", "sign"),
    ARRAY_RULE("ddx", "disease"), ANIMALS_RULE("animals"),
    HERD_RULE(CR_MAYBE, "(" BAD_COUNTS ") OR (" CR_OVER ") OR (" CR_NONE ")",
              COUNTS_WHY "WHEN " CR_OVER " THEN " SUMS("") " ELSE ' has no sick or dead "
              "animal (sick ' || " N("sick") " || ', dead ' || " N("dead") " || ')' END"),
    { 0, 0, 0 } };
static const struct rule case_followup_rules[] = {
    CODE_RULE("outcome", "outcome"), ANIMALS_RULE("animals"),
    HERD_RULE(FU_MAYBE, "(" BAD_COUNTS ") OR (" FU_OVER ")",
              COUNTS_WHY "ELSE " SUMS(" || ' + culled ' || " N("culled")) " END"),
    { 0, 0, 0 } };
static const struct rule vaccination_rules[] = {
    VILLAGE_RULES("village"), CODE_RULE("disease", "disease"), ANIMALS_RULE("animals"),
    { 0, 0, 0 } };
static const struct rule treatment_rules[] = {
    VILLAGE_RULES("village"), CODE_RULE("species", "species"), { 0, 0, 0 } };
static const struct rule movement_permit_rules[] = {
    { "out_of_district", "left(t.from_area, 4) <> '@D@'",
      "'from_area ' || t.from_area || ' is not in district @D@'" },
    { "unknown_area", "(SELECT a.level FROM area a WHERE a.code = t.from_area) IS NULL",
      "'unknown area ' || t.from_area" },
    { "unknown_area", "(SELECT a.level FROM area a WHERE a.code = t.to_area) IS NULL",
      "'unknown area ' || t.to_area" },
    ANIMALS_RULE("animals"), { 0, 0, 0 } };
static const struct rule slaughter_report_rules[] = {
    VILLAGE_RULES("village"), CODE_RULE("species", "species"), { 0, 0, 0 } };
static const struct rule population_report_rules[] = {
    VILLAGE_RULES("village"), ANIMALS_RULE("animals"), { 0, 0, 0 } };

/* owner: the district of a stored row c, as the change feed scopes it
 * (sikhnas_feed_log() in schema/central/001_init.sql) */
#define VILLAGE_OWNER "left(c.village, 4)"
const struct table_spec batch_specs[] = {
    { "officer", officer_cols, officer_rules, "c.district" },
    { "case_report", case_report_cols, case_report_rules, VILLAGE_OWNER },
    { "case_followup", case_followup_cols, case_followup_rules, "c.district" },
    { "vaccination", vaccination_cols, vaccination_rules, VILLAGE_OWNER },
    { "treatment", treatment_cols, treatment_rules, VILLAGE_OWNER },
    { "movement_permit", movement_permit_cols, movement_permit_rules, "left(c.from_area, 4)" },
    { "slaughter_report", slaughter_report_cols, slaughter_report_rules, VILLAGE_OWNER },
    { "population_report", population_report_cols, population_report_rules, VILLAGE_OWNER },
};
const int batch_nspecs = (int)(sizeof(batch_specs) / sizeof(batch_specs[0]));

const char *batch_table_name(int spec)
{
    assert(spec >= 0 && spec < batch_nspecs);
    return batch_specs[spec].name;
}

int batch_spec_find(const char *name)
{
    for (int i = 0; i < batch_nspecs; i++)
        if (strcmp(batch_specs[i].name, name) == 0)
            return i;
    return -1;
}

static const char *pg_type(enum col_type t)
{
    switch (t) {
    case T_SEQ: case T_HLC: return "bigint";
    case T_INT: return "integer";
    case T_BIT: return "smallint";
    case T_JSON: return "jsonb";
    case T_TS: return "timestamptz";
    case T_DATE: return "date";
    case T_LON: case T_LAT: return "double precision";
    default: return "text";
    }
}

/* ------------------------------------------------------------ growable text */

/* Appends text with every "@D@" replaced by d and "@T@" by tmp_<tbl>. */
static void sql_subst(struct strbuf *b, const char *text, const char *d, const char *tbl)
{
    const char *at;

    while ((at = strchr(text, '@')) && (at[1] == 'D' || at[1] == 'T') && at[2] == '@') {
        strbuf_add(b, text, (size_t)(at - text));
        if (at[1] == 'D') {
            strbuf_str(b, d);
        } else {
            strbuf_str(b, "tmp_");
            strbuf_str(b, tbl);
        }
        text = at + 3;
    }
    strbuf_str(b, text);
}


/* ------------------------------------------------------------ SQL */

char *batch_setup_sql(void)
{
    struct strbuf s = { 0 };

    /* no JIT: every statement handles one batch (at most 10,000 rows), and
     * compiling the validation pass alone took 160 ms, longer than running it */
    strbuf_str(&s, "SET application_name = 'sikhnas-hub'; SET TimeZone = 'UTC';"
                "SET client_min_messages = warning; SET statement_timeout = '120s';"
                "SET idle_in_transaction_session_timeout = '120s'; SET jit = off;");
    for (int i = 0; i < batch_nspecs; i++) {
        strbuf_fmt(&s, "CREATE TEMP TABLE IF NOT EXISTS tmp_%s (seq bigint, bad_code text, "
                    "bad_reason text", batch_specs[i].name);
        for (const struct col_spec *c = batch_specs[i].cols; c->name; c++)
            strbuf_fmt(&s, ", %s %s", c->name, pg_type(c->type));
        /* not COPYed: the upsert wrote the row; the row met another writer's */
        strbuf_str(&s, ", written boolean, conflict boolean) ON COMMIT DELETE ROWS;");
    }
    if (s.err) {
        free(s.p);
        return NULL;
    }
    return s.p;
}

char *batch_copy_sql(const struct batch_table *t)
{
    const struct table_spec *sp = &batch_specs[t->spec];
    struct strbuf s = { 0 };

    strbuf_fmt(&s, "COPY tmp_%s (seq, bad_code, bad_reason", sp->name);
    for (const struct col_spec *c = sp->cols; c->name; c++)
        strbuf_fmt(&s, ", %s", c->name);
    strbuf_str(&s, ") FROM STDIN");
    if (s.err) {
        free(s.p);
        return NULL;
    }
    return s.p;
}

/* The target column list and the SELECT list that fills it from tmp. */
static void upsert_cols(struct strbuf *s, const struct table_spec *sp, int select)
{
    int first = 1;

    for (const struct col_spec *c = sp->cols; c->name; c++) {
        if (c->type == T_LAT)
            continue;
        if (!first)
            strbuf_str(s, ", ");
        first = 0;
        if (c->type == T_LON)
            strbuf_str(s, select ? "CASE WHEN t.lon IS NOT NULL AND t.lat IS NOT NULL THEN "
                                "ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326) END" : "geom");
        else
            strbuf_fmt(s, select ? "t.%s" : "%s", c->name);
    }
}

char *batch_check_sql(const struct batch *b, const char *district)
{
    struct strbuf s = { 0 };

    for (int i = 0; i < b->ntables; i++) {
        const struct table_spec *sp = &batch_specs[b->tables[i].spec];
        if (b->tables[i].copy_len == 0)
            continue;
        for (const struct rule *ru = sp->rules; ru->code; ru++) {
            strbuf_fmt(&s, "UPDATE tmp_%s t SET bad_code = '%s', bad_reason = ", sp->name, ru->code);
            sql_subst(&s, ru->reason, district, sp->name);
            strbuf_str(&s, " WHERE t.bad_code IS NULL AND (");
            sql_subst(&s, ru->cond, district, sp->name);
            strbuf_str(&s, ");\n");
        }
    }
    if (s.err) {
        free(s.p);
        return NULL;
    }
    return s.p ? s.p : strdup("");
}

/* Refuses, in tmp_<table>, the rows that would change a stored row of
 * another district (foreign_row) or relabel a row's origin (bad_origin): the
 * STORED row's district is authoritative (sp->owner), a row that exists
 * keeps its origin, and a new row's origin is the node's id. Runs after the
 * node's lock; after_upsert limits it to the rows the upsert did not write
 * (a version another transaction committed meanwhile, which the upsert's
 * guard kept out: refused here instead of silently dropped). One index
 * probe per row; the SET expressions run for refused rows only. */
static void owner_check(struct strbuf *s, const struct table_spec *sp, const char *node,
                        const char *district, int after_upsert)
{
    const char *o = sp->owner;

    strbuf_fmt(s, "UPDATE tmp_%s t SET bad_code = coalesce((SELECT CASE WHEN %s IS DISTINCT FROM "
                "'%s' THEN 'foreign_row' ELSE 'bad_origin' END FROM %s c WHERE c.id = t.id), "
                "'bad_origin'), ", sp->name, o, district, sp->name);
    strbuf_fmt(s, "bad_reason = coalesce((SELECT CASE WHEN %s IS DISTINCT FROM '%s' THEN "
                "'the stored row belongs to district ' || coalesce(%s, '?') || ', not %s' "
                "ELSE 'origin ' || t.origin || ' is not the stored row''s origin ' || c.origin "
                "END FROM %s c WHERE c.id = t.id), 'origin ' || t.origin || ' of a new row is "
                "not this node (%s)') ", o, district, o, district, sp->name, node);
    strbuf_fmt(s, "WHERE t.bad_code IS NULL%s AND coalesce((SELECT %s IS DISTINCT FROM '%s' OR "
                "c.origin <> t.origin FROM %s c WHERE c.id = t.id), t.origin <> '%s');\n",
             after_upsert ? " AND t.written IS NOT TRUE" : "", o, district, sp->name, node);
}

/* Logs the version that loses against a stored version of another writer,
 * and marks the row (tmp.conflict) for the ledger. */
static void conflict_sql(struct strbuf *s, const struct table_spec *sp, const char *node)
{
    strbuf_fmt(s, "WITH ins AS (INSERT INTO conflict_log (tbl, row_id, winner_node, winner_hlc, "
                "loser_node, loser_hlc, winner, loser) "
                "SELECT '%s', t.id, "
                "CASE WHEN x.w THEN '%s' ELSE c.src_node END, "
                "CASE WHEN x.w THEN t.hlc ELSE c.hlc END, "
                "CASE WHEN x.w THEN c.src_node ELSE '%s' END, "
                "CASE WHEN x.w THEN c.hlc ELSE t.hlc END, "
                "CASE WHEN x.w THEN x.inc ELSE to_jsonb(c) END, "
                "CASE WHEN x.w THEN to_jsonb(c) ELSE x.inc END ",
             sp->name, node, node);
    strbuf_fmt(s, "FROM tmp_%s t JOIN LATERAL (SELECT * FROM %s c WHERE c.id = t.id "
                "OFFSET 0) c ON true "
                "CROSS JOIN LATERAL (SELECT (t.hlc, '%s'::text) > (c.hlc, c.src_node) AS w, "
                "to_jsonb(t) - '{seq,bad_code,bad_reason,written,conflict}'::text[] "
                "|| jsonb_build_object('src_node', '%s') AS inc) x "
                "WHERE t.bad_code IS NULL AND c.src_node <> '%s' RETURNING row_id) "
                "UPDATE tmp_%s t SET conflict = true FROM ins WHERE t.id = ins.row_id;\n",
             sp->name, sp->name, node, node, node, sp->name);
}

/* Last-writer-wins upsert of the rows not refused; marks those it wrote.
 * The DO UPDATE is guarded by the stored row's district and origin too, so
 * a row another transaction inserted after owner_check() looked cannot be
 * overwritten. */
static void upsert_sql(struct strbuf *s, const struct table_spec *sp, const struct batch *b,
                       const char *node, const char *district)
{
    int followup = strcmp(sp->name, "case_followup") == 0;

    strbuf_fmt(s, "WITH up AS (INSERT INTO %s AS c (", sp->name);
    upsert_cols(s, sp, 0);
    strbuf_str(s, ", src_node, src_batch, src_hlc, received_at");
    if (followup)
        strbuf_str(s, ", district");
    strbuf_str(s, ") SELECT ");
    upsert_cols(s, sp, 1);
    strbuf_fmt(s, ", '%s', %lld, %lld, now()", node, (long long)b->last_seq, (long long)b->hlc);
    if (followup)
        strbuf_fmt(s, ", '%s'", district);
    strbuf_fmt(s, " FROM tmp_%s t WHERE t.bad_code IS NULL ON CONFLICT (id) DO UPDATE SET ",
             sp->name);
    for (const struct col_spec *c = sp->cols; c->name; c++) {
        if (c->type == T_LAT || strcmp(c->name, "id") == 0)
            continue;
        if (c->type == T_LON)
            strbuf_str(s, "geom = EXCLUDED.geom, ");
        else
            strbuf_fmt(s, "%s = EXCLUDED.%s, ", c->name, c->name);
    }
    strbuf_fmt(s, "src_node = EXCLUDED.src_node, src_batch = EXCLUDED.src_batch, "
                "src_hlc = EXCLUDED.src_hlc, received_at = EXCLUDED.received_at "
                "WHERE (EXCLUDED.hlc, EXCLUDED.src_node) > (c.hlc, c.src_node) "
                "AND %s = '%s' AND c.origin = EXCLUDED.origin RETURNING c.id) "
                "UPDATE tmp_%s t SET written = true FROM up WHERE t.id = up.id;\n",
             sp->owner, district, sp->name);
}

/* One security_audit row per refusal code of a rogue node's kind in this
 * batch (foreign_row, bad_origin), naming the count and the first rows;
 * committed with the refusals. who: SQL literals of name, node_id,
 * district, serial, address. */
static void audit_sql(struct strbuf *s, const struct batch *b, const int *present,
                      const char *who)
{
    int first = 1;

    strbuf_fmt(s, "INSERT INTO security_audit (event, name, node_id, district, serial, address, "
                "endpoint, reason) SELECT 'refuse', %s, 'push', r.code || ': ' || count(*) || "
                "CASE r.code WHEN 'foreign_row' THEN ' row(s) of another district' ELSE "
                "' row(s) with another origin' END || ' refused; first: ' || array_to_string(("
                "array_agg(r.tbl || ' ' || coalesce(r.id, '?') ORDER BY r.seq))[1:5], ', ') "
                "FROM (", who);
    for (int i = 0; i < b->ntables; i++) {
        const char *name = batch_specs[b->tables[i].spec].name;
        if (!present[i])
            continue;
        strbuf_fmt(s, "%sSELECT '%s' AS tbl, seq, id, bad_code AS code FROM tmp_%s "
                    "WHERE bad_code IN ('foreign_row', 'bad_origin')",
                 first ? "" : " UNION ALL ", name, name);
        first = 0;
    }
    strbuf_str(s, ") r GROUP BY r.code;\n");
}

/* The push_batch row of this attempt, counted from the temporary tables;
 * it returns (applied, refused, conflicts). */
static void ledger_sql(struct strbuf *s, const struct batch *b, const int *present,
                       const struct batch_apply *a)
{
    strbuf_fmt(s, "INSERT INTO push_batch (node_id, batch_hlc, node_hlc, min_seq, last_seq, "
                "applied, refused, conflicts, duplicate) SELECT '%s', %lld, %lld, %lld, %lld, "
                "sum(n_ok)::int, sum(n_bad)::int, sum(n_conflict)::int, %d FROM (SELECT "
                "0::bigint AS n_ok, 0::bigint AS n_bad, 0::bigint AS n_conflict",
             a->node, (long long)a->attempt, (long long)b->hlc, (long long)b->min_seq,
             (long long)b->last_seq, a->duplicate);
    for (int i = 0; i < b->ntables; i++)
        if (present[i])
            strbuf_fmt(s, " UNION ALL SELECT count(*) FILTER (WHERE bad_code IS NULL), "
                        "count(*) FILTER (WHERE bad_code IS NOT NULL), "
                        "count(*) FILTER (WHERE conflict) FROM tmp_%s",
                     batch_specs[b->tables[i].spec].name);
    strbuf_str(s, ") x RETURNING applied, refused, conflicts;\n");
}

char *batch_apply_sql(const struct batch *b, const int *present, const struct batch_apply *a,
                      int *ledger_idx, int *refusal_idx)
{
    struct strbuf s = { 0 };
    int nstmt = 0, any = 0;

    for (int i = 0; i < b->ntables; i++) {
        const struct table_spec *sp = &batch_specs[b->tables[i].spec];
        if (!present[i])
            continue;
        any = 1;
        if (a->acked >= b->min_seq) {      /* rows applied before: not again */
            strbuf_fmt(&s, "DELETE FROM tmp_%s WHERE seq <= %lld;\n", sp->name,
                     (long long)a->acked);
            nstmt++;
        }
        owner_check(&s, sp, a->node, a->district, 0);
        conflict_sql(&s, sp, a->node);
        upsert_sql(&s, sp, b, a->node, a->district);
        owner_check(&s, sp, a->node, a->district, 1);
        strbuf_fmt(&s, "INSERT INTO push_refusal (node_id, seq, tbl, row_id, code, reason) "
                    "SELECT '%s', t.seq, '%s', t.id, t.bad_code, coalesce(t.bad_reason, '?') "
                    "FROM tmp_%s t WHERE t.bad_code IS NOT NULL ON CONFLICT DO NOTHING;\n",
                 a->node, sp->name, sp->name);
        nstmt += 5;
    }
    if (any) {
        audit_sql(&s, b, present, a->audit_who);
        nstmt++;
    }
    *ledger_idx = -1;
    if (a->ledger) {
        ledger_sql(&s, b, present, a);
        *ledger_idx = nstmt++;
    }
    strbuf_fmt(&s, "UPDATE node SET acked_seq = greatest(acked_seq, %lld), last_contact = now(), "
                "last_hlc = greatest(last_hlc, %lld) WHERE node_id = '%s';\n",
             (long long)b->last_seq, (long long)b->hlc, a->node);
    nstmt++;
    /* up to the mark the answer carries: a node that lost an earlier answer
     * learns the refusals of rows it never heard back about (protocol §4.3) */
    strbuf_fmt(&s, "SELECT seq, tbl, coalesce(row_id, ''), code, reason FROM push_refusal "
                "WHERE node_id = '%s' AND seq BETWEEN %lld AND %lld ORDER BY seq;\n",
             a->node, (long long)b->min_seq,
             (long long)(a->acked > b->last_seq ? a->acked : b->last_seq));
    *refusal_idx = nstmt++;
    strbuf_str(&s, "COMMIT");
    if (s.err) {
        free(s.p);
        return NULL;
    }
    return s.p;
}

/* ------------------------------------------------------------ pull */

static const struct {
    const char *tbl;
    const char *cols;       /* JSON array of names, as sent */
    const char *expr;       /* json_build_array(...) over alias r */
    const char *key;        /* the change_log key of r */
} pull_tables[] = {
    { "area", "[\"code\",\"level\",\"parent_code\",\"name\",\"hlc\"]",
      "json_build_array(r.code, r.level, r.parent_code, r.name, r.hlc::text)", "r.code" },
    { "code_list", "[\"list\",\"code\",\"label_id\",\"label_en\",\"parent\",\"active\",\"hlc\"]",
      "json_build_array(r.list, r.code, r.label_id, r.label_en, r.parent, r.active, r.hlc::text)",
      "r.list || '/' || r.code" },
};

#define FIELD_HEAD "r.id, r.origin, r.hlc::text, r.deleted, sikhnas_ts(r.created_at), " \
                   "sikhnas_ts(r.updated_at)"
#define FIELD_COLS "\"id\",\"origin\",\"hlc\",\"deleted\",\"created_at\",\"updated_at\""
#define D(c) "to_char(r." c ", 'YYYY-MM-DD')"

static const struct {
    const char *tbl;
    const char *cols;
    const char *expr;
} pull_fields[] = {
    { "officer", "[" FIELD_COLS ",\"name\",\"role\",\"phone\",\"district\",\"village\"]",
      "json_build_array(" FIELD_HEAD ", r.name, r.role, r.phone, r.district, r.village)" },
    { "case_report", "[" FIELD_COLS ",\"ref\",\"kind\",\"village\",\"syndrome\",\"signs\","
      "\"animals\",\"ddx\",\"event_date\",\"reporter\",\"note\",\"lon\",\"lat\"]",
      "json_build_array(" FIELD_HEAD ", r.ref, r.kind, r.village, r.syndrome, r.signs, "
      "r.animals, r.ddx, " D("event_date") ", r.reporter, r.note, ST_X(r.geom), ST_Y(r.geom))" },
    { "case_followup", "[" FIELD_COLS ",\"case_id\",\"outcome\",\"animals\",\"escalate\","
      "\"event_date\",\"reporter\",\"note\"]",
      "json_build_array(" FIELD_HEAD ", r.case_id, r.outcome, r.animals, r.escalate, "
      D("event_date") ", r.reporter, r.note)" },
    { "vaccination", "[" FIELD_COLS ",\"program\",\"disease\",\"village\",\"animals\","
      "\"event_date\",\"reporter\",\"note\"]",
      "json_build_array(" FIELD_HEAD ", r.program, r.disease, r.village, r.animals, "
      D("event_date") ", r.reporter, r.note)" },
    { "treatment", "[" FIELD_COLS ",\"case_id\",\"village\",\"species\",\"drug\",\"n_animals\","
      "\"event_date\",\"reporter\",\"note\"]",
      "json_build_array(" FIELD_HEAD ", r.case_id, r.village, r.species, r.drug, r.n_animals, "
      D("event_date") ", r.reporter, r.note)" },
    { "movement_permit", "[" FIELD_COLS ",\"permit_no\",\"owner_id\",\"owner_phone\","
      "\"from_area\",\"to_area\",\"animals\",\"issue_date\",\"reporter\",\"note\"]",
      "json_build_array(" FIELD_HEAD ", r.permit_no, r.owner_id, r.owner_phone, r.from_area, "
      "r.to_area, r.animals, " D("issue_date") ", r.reporter, r.note)" },
    { "slaughter_report", "[" FIELD_COLS ",\"abattoir\",\"village\",\"species\",\"n_animals\","
      "\"event_date\",\"reporter\",\"note\"]",
      "json_build_array(" FIELD_HEAD ", r.abattoir, r.village, r.species, r.n_animals, "
      D("event_date") ", r.reporter, r.note)" },
    { "population_report", "[" FIELD_COLS ",\"village\",\"animals\",\"event_date\","
      "\"reporter\",\"note\"]",
      "json_build_array(" FIELD_HEAD ", r.village, r.animals, " D("event_date")
      ", r.reporter, r.note)" },
};

const char *batch_pull_cols(const char *tbl)
{
    for (size_t i = 0; i < sizeof(pull_tables) / sizeof(pull_tables[0]); i++)
        if (strcmp(pull_tables[i].tbl, tbl) == 0)
            return pull_tables[i].cols;
    for (size_t i = 0; i < sizeof(pull_fields) / sizeof(pull_fields[0]); i++)
        if (strcmp(pull_fields[i].tbl, tbl) == 0)
            return pull_fields[i].cols;
    return NULL;
}

char *batch_pull_sql(const char *node, const char *cursor_xid, int64_t cursor_pos, int limit)
{
    struct strbuf s = { 0 };

    /* one statement: one snapshot for the horizon, the page and the rows */
    strbuf_fmt(&s,
        "WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin), "
        "me AS (SELECT district FROM node WHERE node_id = '%s'), "
        "page AS (SELECT c.xid, c.pos, c.tbl, c.key FROM change_log c, h "
        "WHERE (c.xid, c.pos) > ('%s'::xid8, %lld) AND c.xid < h.xmin "
        "AND (c.district IS NULL OR c.district = (SELECT district FROM me)) "
        "ORDER BY c.xid, c.pos LIMIT %d), "
        "keys AS (SELECT tbl, key, min(pos) AS ord FROM page GROUP BY tbl, key) "
        "SELECT 'meta', json_build_array((SELECT count(*) FROM page), "
        "(SELECT xid::text || '.' || pos FROM page ORDER BY xid DESC, pos DESC LIMIT 1), "
        "(SELECT xmin::text FROM h), (SELECT district FROM me))::text",
        node, cursor_xid, (long long)cursor_pos, limit);
    for (size_t i = 0; i < sizeof(pull_tables) / sizeof(pull_tables[0]); i++)
        strbuf_fmt(&s, " UNION ALL SELECT '%s', json_agg(%s ORDER BY k.ord)::text FROM %s r "
                    "JOIN keys k ON k.tbl = '%s' AND k.key = %s HAVING count(*) > 0",
                pull_tables[i].tbl, pull_tables[i].expr, pull_tables[i].tbl,
                pull_tables[i].tbl, pull_tables[i].key);
    for (size_t i = 0; i < sizeof(pull_fields) / sizeof(pull_fields[0]); i++)
        strbuf_fmt(&s, " UNION ALL SELECT '%s', json_agg(%s ORDER BY k.ord)::text FROM %s r "
                    "JOIN keys k ON k.tbl = '%s' AND k.key = r.id WHERE r.src_node <> '%s' "
                    "HAVING count(*) > 0",
                pull_fields[i].tbl, pull_fields[i].expr, pull_fields[i].tbl,
                pull_fields[i].tbl, node);
    if (s.err) {
        free(s.p);
        return NULL;
    }
    return s.p;
}
