/* test-store.c - the node store on real SQLite files: migrations, refusal
 * of foreign and newer stores, outbox capture, tombstones, the validator,
 * points in SpatiaLite's format without SpatiaLite, and their index. */
#include <cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "embed.h"
#include "geom.h"
#include "outbox.h"
#include "records.h"
#include "refdata.h"
#include "store.h"
#include "testlib.h"
#include "testtmp.h"
#include "validate.h"
#include "utf8.h"

static const char *dir;        /* test_tmp(): removed at exit */
static char path[256];

static int raw_exec(const char *p, const char *sql)
{
    sqlite3 *db;
    int rc = sqlite3_open(p, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

/* A connection of another program, with SpatiaLite loaded. */
static sqlite3 *raw_spatialite(const char *p)
{
    sqlite3 *db;
    char *msg = NULL;

    CHECK(sqlite3_open(p, &db) == SQLITE_OK);
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 1, NULL);
    if (sqlite3_load_extension(db, "mod_spatialite", NULL, &msg) != SQLITE_OK)
        printf("# mod_spatialite: %s\n", msg ? msg : "?");
    sqlite3_free(msg);
    return db;
}

static double dscalar(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    double v = -999;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* 1 when sql fails (to prepare or to run) on db */
static int sql_fails(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
    }
    return rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE;
}

static long long scalar(struct store *s, const char *sql)
{
    sqlite3_stmt *st;
    long long v = -1;
    if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static struct store *make_store(void)
{
    struct store_opts o = { .create = 1 };
    struct refdata_counts n = {0};
    struct store *s = NULL;
    char id[UUID_STR_LEN];
    const char *areas = getenv("SIKHNAS_TEST_AREAS");

    CHECK(store_open(path, &o, &s) == 0);
    if (!s)
        exit(t_done());
    CHECK(store_schema_version(s) == store_schema_latest());
    CHECK(store_begin(s) == 0);
    CHECK(refdata_load_lists(s, &n) == 0);
    CHECK(refdata_load_areas(s, areas, "3201", &n) == 0);
    CHECK(n.villages > 400 && n.subdistricts == 40 && n.districts == 1 && n.provinces == 1);
    CHECK_STR(n.district_name, "Kabupaten Bogor");
    CHECK(store_new_id(s, store_hlc_tick(s), id) == 0);
    CHECK(store_meta_set(s, "node_id", id) == 0);
    CHECK(store_meta_set(s, "district", "3201") == 0);
    CHECK(store_commit(s) == 0);
    return s;
}

static void test_migrations(void)
{
    struct store_opts o = {0};
    struct store *s = NULL;
    char sql[64];

    /* reopening applies nothing and keeps the version */
    CHECK(store_open(path, &o, &s) == 0);
    CHECK(store_schema_version(s) == store_schema_latest());
    CHECK(scalar(s, "SELECT count(*) FROM area WHERE level = 4") > 400);
    CHECK(scalar(s, "PRAGMA temp_store") == 2);         /* MEMORY: the command line */
    store_close(s);

    /* the daemon's connection spills temporary storage to files (issue 13) */
    struct store_opts ot = { .temp_file = 1 };
    CHECK(store_open(path, &ot, &s) == 0);
    CHECK(scalar(s, "PRAGMA temp_store") == 1);         /* FILE */
    store_close(s);

    /* a store from a newer build is refused, not touched */
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", store_schema_latest() + 1);
    CHECK(raw_exec(path, sql) == SQLITE_OK);
    s = NULL;
    CHECK(store_open(path, &o, &s) == -EPROTO);
    CHECK(s == NULL);
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", store_schema_latest());
    CHECK(raw_exec(path, sql) == SQLITE_OK);

    /* another application's SQLite file is refused */
    char other[300];
    snprintf(other, sizeof(other), "%s/other.db", dir);
    CHECK(raw_exec(other, "CREATE TABLE t (x)") == SQLITE_OK);
    struct store_opts oc = { .create = 1 };
    CHECK(store_open(other, &oc, &s) == -EUCLEAN);

    /* a file that is not SQLite at all */
    char junk[300];
    snprintf(junk, sizeof(junk), "%s/junk.db", dir);
    FILE *fp = fopen(junk, "w");
    fputs("this is not a database, just some text that is long enough......", fp);
    fclose(fp);
    CHECK(store_open(junk, &o, &s) == -EUCLEAN);

    /* a missing store is not created without init */
    char missing[300];
    snprintf(missing, sizeof(missing), "%s/missing.db", dir);
    CHECK(store_open(missing, &o, &s) == -ENOENT);
    CHECK(access(missing, F_OK) != 0);
}

static cJSON *report_json(const char *village, const char *extra)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "{\"kind\":\"U\",\"village\":\"%s\",\"signs\":[\"KBG\"],"
             "\"animals\":[{\"species\":\"SP\",\"sick\":2,\"dead\":0,\"at_risk\":10}],"
             "\"event_date\":\"2026-11-20\"%s}", village, extra);
    return cJSON_Parse(text);
}

static int check_report(struct validator *v, const char *village, const char *extra,
                        enum verr_code want, const char *field)
{
    struct case_report_in in;
    struct verr e;
    cJSON *doc = report_json(village, extra);
    int r = validate_case_report(v, doc, &in, &e);
    cJSON_Delete(doc);
    if (want == VERR_NONE)
        return r == 0;
    return r == -EINVAL && e.code == want && strcmp(e.field, field) == 0;
}

static void test_validator(struct store *s)
{
    struct validator *v = NULL;
    char phone[20], village[11];

    CHECK(validator_new(s, &v) == 0);
    CHECK(validator_has_code(v, "species", "SP"));
    CHECK(!validator_has_code(v, "species", "XX"));
    CHECK(validate_village(v, "32.01.01.1001", village) == VERR_NONE);
    CHECK_STR(village, "3201011001");
    CHECK(validate_village(v, "3202011001", village) == VERR_OUTSIDE_DISTRICT);
    CHECK(validate_village(v, "3201999999", village) == VERR_UNKNOWN_CODE);
    CHECK(validate_village(v, "320101", village) == VERR_UNKNOWN_CODE);

    CHECK(phone_normalize("0812-3456-7890", phone) == 0);
    CHECK_STR(phone, "+6281234567890");
    CHECK(phone_normalize("6281234567890", phone) == 0);
    CHECK_STR(phone, "+6281234567890");
    CHECK(phone_normalize("+62 812 3456 7890", phone) == 0);
    CHECK_STR(phone, "+6281234567890");
    CHECK(phone_normalize("+4915112345678", phone) == -EINVAL);
    CHECK(phone_normalize("12345", phone) == -EINVAL);
    CHECK(phone_normalize("0812abc", phone) == -EINVAL);
    CHECK(phone_normalize("+620812345678", phone) == -EINVAL);

    CHECK(validate_date("2026-02-28") == VERR_NONE);
    CHECK(validate_date("2026-02-30") == VERR_DATE_FORMAT);
    CHECK(validate_date("2026-2-3") == VERR_DATE_FORMAT);
    CHECK(validate_date("1999-12-31") == VERR_DATE_OLD);
    CHECK(validate_date("2999-01-01") == VERR_DATE_FUTURE);
    CHECK(validate_date("2026-11-20x") == VERR_DATE_FORMAT);

    CHECK(validate_point(-6.59, 106.8));
    CHECK(!validate_point(48.85, 2.35));
    CHECK(utf8_valid("Sapi di kandang Pak Budi — 3 ekor", 35, UTF8_TEXT));
    CHECK(!utf8_valid("\xc0\xaf", 2, UTF8_TEXT));
    CHECK(!utf8_valid("a\x01", 2, UTF8_TEXT));

    CHECK(check_report(v, "3201011001", "", VERR_NONE, NULL));
    CHECK(check_report(v, "3202011001", "", VERR_OUTSIDE_DISTRICT, "village"));
    CHECK(check_report(v, "3201011001", ",\"colour\":\"red\"", VERR_UNKNOWN_FIELD, "colour"));
    CHECK(check_report(v, "3201011001", ",\"lat\":-6.5", VERR_POINT, "lon"));
    CHECK(check_report(v, "3201011001", ",\"lat\":52.5,\"lon\":13.4", VERR_POINT, "lat"));
    CHECK(check_report(v, "3201011001", ",\"reporter\":\"081299999999\"", VERR_NOT_OFFICER,
                       "reporter"));
    CHECK(check_report(v, "3201011001", ",\"ddx\":[\"AI\",\"AI\"]", VERR_DUPLICATE, "ddx[1]"));
    CHECK(check_report(v, "3201011001", ",\"syndrome\":\"MMD\"", VERR_CONFLICT, "syndrome"));
    char longnote[1200] = ",\"note\":\"";
    memset(longnote + 9, 'a', 1010);
    strcpy(longnote + 1019, "\"");
    CHECK(check_report(v, "3201011001", longnote, VERR_TOO_LONG, "note"));

    struct case_report_in in;
    struct verr e;
    cJSON *doc = cJSON_Parse("{\"kind\":\"P\",\"village\":\"3201011001\",\"syndrome\":\"ggk\","
                             "\"animals\":[{\"species\":\"AJ\",\"sick\":1},{\"species\":\"aj\","
                             "\"dead\":1}],\"event_date\":\"2026-11-20\"}");
    CHECK(validate_case_report(v, doc, &in, &e) == -EINVAL && e.code == VERR_DUPLICATE);
    CHECK_STR(e.field, "animals[1].species");
    char msg[256];
    verr_format(&e, "id", msg, sizeof(msg));
    CHECK_STR(msg, "animals[1].species: disebut dua kali (AJ)");
    cJSON_Delete(doc);
    validator_free(v);
}

/* enum outbox_state (outbox.h) and the view outbox_named (migration 005)
 * name the same numbers, and a record's sync state, read through the view,
 * still finds its outbox rows by the row_id index. */
static void test_outbox_names(struct store *s)
{
    static const struct {
        enum outbox_state state;
        const char *name;
    } names[] = { { OUTBOX_QUEUED, "queued" }, { OUTBOX_REFUSED, "refused" } };
    sqlite3_stmt *st;
    char sql[160], plan[4096] = "";
    size_t len = 0;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(sql, sizeof(sql), "UPDATE outbox SET state = %d WHERE seq = "
                 "(SELECT max(seq) FROM outbox)", (int)names[i].state);
        CHECK(store_exec(s, sql) == 0);
        CHECK(sqlite3_prepare_v2(store_db(s), "SELECT state_name FROM outbox_named "
                                 "WHERE seq = (SELECT max(seq) FROM outbox)", -1, &st,
                                 NULL) == SQLITE_OK);
        CHECK(sqlite3_step(st) == SQLITE_ROW);
        CHECK_STR((const char *)sqlite3_column_text(st, 0), names[i].name);
        sqlite3_finalize(st);
    }
    CHECK(scalar(s, OUTBOX_COUNT_QUEUED_SQL) == scalar(s, "SELECT count(*) FROM outbox") - 1);
    CHECK(scalar(s, OUTBOX_COUNT_REFUSED_SQL) == 1);
    CHECK(scalar(s, "SELECT count(*) FROM (SELECT " OUTBOX_SYNC_STATE_SQL("c")
                    " FROM case_report c) WHERE sync = 'rejected'") == 1);
    CHECK(sqlite3_prepare_v2(store_db(s), "EXPLAIN QUERY PLAN SELECT "
                             OUTBOX_SYNC_STATE_SQL("c") " FROM case_report c", -1, &st,
                             NULL) == SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW && len < sizeof(plan) - 200)
        len += (size_t)snprintf(plan + len, sizeof(plan) - len, "%s\n",
                                (const char *)sqlite3_column_text(st, 3));
    sqlite3_finalize(st);
    CHECK(strstr(plan, "SCAN o") == NULL);             /* no full scan of the outbox */
    CHECK(strstr(plan, "INDEX outbox_row (row_id=?)") != NULL);
    snprintf(sql, sizeof(sql), "UPDATE outbox SET state = %d", (int)OUTBOX_QUEUED);
    CHECK(store_exec(s, sql) == 0);
}

/* Text of the first column of sql's first row, copied into buf. */
static const char *text_of(struct store *s, const char *sql, char *buf, size_t cap)
{
    sqlite3_stmt *st;

    snprintf(buf, cap, "(none)");
    if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return buf;
}

/* The JSON text each record kind stores (signs, ddx, animals), byte for
 * byte as readers (the web, `report list`, the dashboard's json_each, the
 * hub) have always had it: compact, keys in this order, whole numbers. */
static void test_stored_json(struct store *s)
{
    struct case_report_in c = { .kind = 'U', .village = "3201011001", .n_signs = 2,
        .signs = { "KBG", "DMM" }, .n_animals = 2, .n_ddx = 0, .event_date = "2026-11-20",
        .animals = { { "SP", 3, 1, 40 }, { "KB", 10000000, 0, 0 } } };
    struct followup_in f = { .outcome = "SB", .n_animals = 1, .escalate = 1,
        .animals = { { "SP", { 1, 2, 3, 40 } } }, .event_date = "2026-11-21" };
    struct vaccination_in va = { .program = "PMK 2026", .village = "3201011001",
        .n_animals = 2, .animals = { { "SP", { 120, 0 } }, { "KR", { 0, 7 } } },
        .event_date = "2026-11-21" };
    struct population_in po = { .village = "3201011001", .n_animals = 1,
        .animals = { { "AY", { 5000 } } }, .event_date = "2026-11-21" };
    struct permit_in pe = { .owner_id = "3201234567890001", .from_area = "3201011001",
        .to_area = "5371", .n_animals = 1, .animals = { { "SP", { 10 } } },
        .issue_date = "2026-11-21" };
    char id[UUID_STR_LEN], ref[24], sql[200], buf[512];

    c.n_ddx = 1;
    snprintf(c.ddx[0], sizeof(c.ddx[0]), "AI");
    CHECK(store_begin(s) == 0);
    CHECK(case_report_insert(s, &c, id, ref) == 0);
    snprintf(sql, sizeof(sql), "SELECT signs || ' ' || ddx || ' ' || animals FROM case_report "
             "WHERE id = '%s'", id);
    CHECK_STR(text_of(s, sql, buf, sizeof(buf)), "[\"KBG\",\"DMM\"] [\"AI\"] "
              "[{\"species\":\"SP\",\"sick\":3,\"dead\":1,\"at_risk\":40},"
              "{\"species\":\"KB\",\"sick\":10000000,\"dead\":0,\"at_risk\":0}]");
    c.kind = 'P';
    c.n_signs = c.n_ddx = 0;
    snprintf(c.syndrome, sizeof(c.syndrome), "GGK");
    CHECK(case_report_insert(s, &c, id, ref) == 0);
    snprintf(sql, sizeof(sql), "SELECT signs || ' ' || ddx FROM case_report WHERE id = '%s'",
             id);
    CHECK_STR(text_of(s, sql, buf, sizeof(buf)), "[] []");
    snprintf(f.case_id, sizeof(f.case_id), "%s", id);
    CHECK(record_insert(s, REC_FOLLOWUP, &f, id, ref) == 0);
    snprintf(sql, sizeof(sql), "SELECT animals FROM case_followup WHERE id = '%s'", id);
    CHECK_STR(text_of(s, sql, buf, sizeof(buf)),
              "[{\"species\":\"SP\",\"sick\":1,\"dead\":2,\"culled\":3,\"at_risk\":40}]");
    CHECK(record_insert(s, REC_VACCINATION, &va, id, ref) == 0);
    snprintf(sql, sizeof(sql), "SELECT animals FROM vaccination WHERE id = '%s'", id);
    CHECK_STR(text_of(s, sql, buf, sizeof(buf)), "[{\"species\":\"SP\",\"primary\":120,"
              "\"booster\":0},{\"species\":\"KR\",\"primary\":0,\"booster\":7}]");
    CHECK(record_insert(s, REC_POPULATION, &po, id, ref) == 0);
    snprintf(sql, sizeof(sql), "SELECT animals FROM population_report WHERE id = '%s'", id);
    CHECK_STR(text_of(s, sql, buf, sizeof(buf)), "[{\"species\":\"AY\",\"n\":5000}]");
    CHECK(record_insert(s, REC_MOVEMENT, &pe, id, ref) == 0);
    snprintf(sql, sizeof(sql), "SELECT animals FROM movement_permit WHERE id = '%s'", id);
    CHECK_STR(text_of(s, sql, buf, sizeof(buf)), "[{\"species\":\"SP\",\"n\":10}]");
    store_rollback(s);
}

/* validate_record_json() on kind's JSON text: 0, or the refusal's code and
 * field as want/field say (and detail, when given). */
static int check_json(struct validator *v, enum rec_kind kind, const char *text,
                      enum verr_code want, const char *field, const char *detail)
{
    char *out = calloc(1, rec_kind(kind)->size);
    cJSON *doc = cJSON_Parse(text);
    struct verr e;
    int r = out && doc ? validate_record_json(v, kind, doc, out, &e) : -ENOMEM;

    free(out);
    cJSON_Delete(doc);
    if (want == VERR_NONE)
        return r == 0;
    if (r != -EINVAL || e.code != want || strcmp(e.field, field) != 0) {
        printf("# got %d code %d field '%s' detail '%s'\n", r, e.code, e.field, e.detail);
        return 0;
    }
    return !detail || strcmp(e.detail, detail) == 0;
}

/* Every kind's JSON is decoded by the validator (validate_record_json):
 * the same refusals, fields and details the API has always answered. */
static void test_record_json(struct store *s)
{
    struct validator *v = NULL;
    struct vaccination_in vac;
    struct verr e;
    cJSON *doc;

    CHECK(validator_new(s, &v) == 0);
    CHECK(rec_kind(REC_CASE)->size == sizeof(struct case_report_in));
    CHECK(rec_kind(REC_MOVEMENT)->size == sizeof(struct permit_in));
    CHECK(check_json(v, REC_CASE, "{\"kind\":\"U\",\"village\":\"3201011001\","
                     "\"signs\":[\"KBG\"],\"animals\":[{\"species\":\"SP\",\"sick\":1}],"
                     "\"event_date\":\"2026-11-20\"}", VERR_NONE, NULL, NULL));
    CHECK(check_json(v, REC_CASE, "{\"kind\":\"U\",\"kind\":\"P\"}", VERR_DUPLICATE,
                     "kind", NULL));
    /* a follow-up names its case by reference, and so does a refusal */
    CHECK(check_json(v, REC_FOLLOWUP, "{\"outcome\":\"SB\",\"event_date\":\"2026-01-03\"}",
                     VERR_REQUIRED, "case_ref", NULL));
    CHECK(check_json(v, REC_FOLLOWUP, "{\"case_ref\":\"3201-999999\",\"outcome\":\"SB\","
                     "\"event_date\":\"2026-01-03\"}", VERR_UNKNOWN_CODE, "case_ref",
                     "3201-999999"));
    CHECK(check_json(v, REC_FOLLOWUP, "{\"case_ref\":7}", VERR_TYPE, "case_ref", "string"));
    CHECK(check_json(v, REC_FOLLOWUP, "{\"escalate\":\"Y\"}", VERR_TYPE, "escalate",
                     "true or false"));
    CHECK(check_json(v, REC_VACCINATION, "{\"colour\":1}", VERR_UNKNOWN_FIELD, "colour", ""));
    CHECK(check_json(v, REC_VACCINATION, "{\"program\":\"PMK\",\"village\":\"3201011001\","
                     "\"animals\":[{\"species\":\"SP\",\"primary\":-1}],"
                     "\"event_date\":\"2026-01-03\"}", VERR_COUNT, "animals[0].primary", ""));
    CHECK(check_json(v, REC_VACCINATION, "{\"program\":\"PMK\",\"village\":\"3201011001\","
                     "\"animals\":[{\"species\":\"SPECIESLONG\"}],"
                     "\"event_date\":\"2026-01-03\"}", VERR_UNKNOWN_CODE, "animals[0].species",
                     "SPECIESLONG"));
    CHECK(check_json(v, REC_POPULATION, "{\"village\":\"3201011001\",\"animals\":[],"
                     "\"event_date\":\"2026-01-03\"}", VERR_EMPTY, "animals", NULL));
    CHECK(check_json(v, REC_TREATMENT, "{\"village\":\"3201011001\",\"species\":\"SP\","
                     "\"drug\":\"Ivermectin\",\"event_date\":\"2026-01-03\"}", VERR_REQUIRED,
                     "n_animals", NULL));
    CHECK(check_json(v, REC_SLAUGHTER, "{\"village\":\"3201011001\",\"species\":\"SP\","
                     "\"n_animals\":2.5}", VERR_COUNT, "n_animals", NULL));
    CHECK(check_json(v, REC_MOVEMENT, "{\"owner_id\":\"1\",\"from_area\":\"3201011001\","
                     "\"to_area\":\"3201011001\",\"animals\":[{\"species\":\"SP\",\"n\":2}],"
                     "\"issue_date\":\"2026-01-03\"}", VERR_CONFLICT, "to_area", NULL));
    CHECK(check_json(v, REC_SLAUGHTER, "[1]", VERR_TYPE, "record", NULL));
    /* what passes comes out normalised, as the SMS handler's structs do */
    doc = cJSON_Parse("{\"program\":\"PMK\",\"village\":\"3201011001\",\"animals\":"
                      "[{\"species\":\"sp\",\"primary\":3,\"booster\":4}],"
                      "\"event_date\":\"2026-01-03\",\"reporter\":null}");
    CHECK(validate_record_json(v, REC_VACCINATION, doc, &vac, &e) == 0);
    CHECK_STR(vac.village, "3201011001");
    CHECK_STR(vac.animals[0].species, "SP");
    CHECK(vac.n_animals == 1 && vac.animals[0].n[0] == 3 && vac.animals[0].n[1] == 4);
    cJSON_Delete(doc);
    validator_free(v);
}

static void test_outbox(struct store *s)
{
    struct validator *v = NULL;
    struct case_report_in in;
    struct verr e;
    char id[UUID_STR_LEN], id2[UUID_STR_LEN], ref[16], sql[256];
    cJSON *doc = report_json("3201011001", ",\"lat\":-6.59,\"lon\":106.8");

    CHECK(validator_new(s, &v) == 0);
    CHECK(validate_case_report(v, doc, &in, &e) == 0);
    cJSON_Delete(doc);

    long long before = scalar(s, "SELECT count(*) FROM outbox");
    CHECK(store_begin(s) == 0);
    CHECK(case_report_insert(s, &in, id, ref) == 0);
    CHECK(case_report_insert(s, &in, id2, ref) == 0);
    CHECK(store_commit(s) == 0);
    CHECK_STR(ref, "3201-000002");
    CHECK(strcmp(id, id2) < 0);                        /* time-ordered ids */
    CHECK(scalar(s, "SELECT count(*) FROM outbox") == before + 2);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM case_report WHERE id = '%s' AND sk_x(geom) = 106.8 "
             "AND sk_y(geom) = -6.59 AND origin = (SELECT value FROM meta WHERE key='node_id')",
             id);
    CHECK(scalar(s, sql) == 1);
    CHECK(scalar(s, "SELECT count(*) FROM case_report WHERE ROWID IN (SELECT ROWID FROM "
                    "SpatialIndex WHERE f_table_name = 'case_report' AND search_frame = "
                    "BuildMbr(106, -7, 107, -6))") == 2);

    /* a rolled-back write leaves no outbox row */
    long long n = scalar(s, "SELECT count(*) FROM outbox");
    CHECK(store_begin(s) == 0);
    CHECK(case_report_insert(s, &in, id2, ref) == 0);
    store_rollback(s);
    CHECK(scalar(s, "SELECT count(*) FROM outbox") == n);

    /* an update (here a tombstone) is captured; a hard delete is refused */
    long long maxseq = scalar(s, "SELECT max(seq) FROM outbox");
    snprintf(sql, sizeof(sql), "UPDATE case_report SET deleted = 1, hlc = hlc + 1 WHERE id = '%s'", id);
    CHECK(store_exec(s, sql) == 0);
    CHECK(scalar(s, "SELECT max(seq) FROM outbox") == maxseq + 1);
    snprintf(sql, sizeof(sql), "DELETE FROM case_report WHERE id = '%s'", id);
    CHECK(store_exec(s, sql) < 0);

    /* seq is never reused, even when every row was uploaded and dropped */
    maxseq = scalar(s, "SELECT max(seq) FROM outbox");
    CHECK(store_exec(s, "DELETE FROM outbox") == 0);
    CHECK(store_begin(s) == 0);
    CHECK(case_report_insert(s, &in, id2, ref) == 0);
    CHECK(store_commit(s) == 0);
    CHECK(scalar(s, "SELECT min(seq) FROM outbox") == maxseq + 1);

    /* rows applied from the hub (sync_apply marker) are not queued back */
    n = scalar(s, "SELECT count(*) FROM outbox");
    CHECK(store_begin(s) == 0);
    CHECK(store_exec(s, "INSERT INTO sync_apply VALUES (1)") == 0);
    CHECK(store_exec(s, "UPDATE case_report SET note = 'from central', hlc = hlc + 5") == 0);
    CHECK(store_exec(s, "DELETE FROM sync_apply") == 0);
    CHECK(store_commit(s) == 0);
    CHECK(scalar(s, "SELECT count(*) FROM outbox") == n);

    test_outbox_names(s);

    /* the clock survives a reopen: the next value is above the last one */
    long long last = scalar(s, "SELECT max(hlc) FROM case_report");
    validator_free(v);
    /* the capture triggers come from the kinds table (sync/kinds.c): one
     * that is missing is made again when the store opens */
    CHECK(store_exec(s, "DROP TRIGGER vaccination_outbox_insert") == 0);
    CHECK(scalar(s, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND "
                    "name = 'vaccination_outbox_insert'") == 0);
    store_close(s);
    struct store_opts o = {0};
    CHECK(store_open(path, &o, &s) == 0);
    CHECK((long long)store_hlc_tick(s) > last);
    CHECK(scalar(s, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN "
                    "('vaccination_outbox_insert', 'vaccination_outbox_update', "
                    "'vaccination_no_delete')") == 3);
    n = scalar(s, "SELECT count(*) FROM outbox");
    CHECK(store_exec(s, "INSERT INTO vaccination (id, origin, hlc, created_at, updated_at, "
                        "program, village, animals, event_date) VALUES ('v1', 'x', 1, 't', 't', "
                        "'P', '3201011001', '[]', '2026-01-01')") == 0);
    CHECK(scalar(s, "SELECT count(*) FROM outbox WHERE tbl = 'vaccination' AND "
                    "row_id = 'v1'") == 1 && scalar(s, "SELECT count(*) FROM outbox") == n + 1);
    store_close(s);
}

/* init loads SpatiaLite for the first migration: its metadata exists. */
static void test_spatial(struct store *s)
{
    CHECK(scalar(s, "SELECT CheckSpatialMetaData()") == 3);    /* 3: current layout */
    CHECK(scalar(s, "SELECT count(*) FROM geometry_columns"
                    " WHERE f_table_name = 'case_report' AND srid = 4326") == 1);
}

static int bbox_count(struct store *s, double x0, double y0, double x1, double y1)
{
    char sql[320];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM case_report WHERE ROWID IN (SELECT ROWID "
             "FROM SpatialIndex WHERE f_table_name = 'case_report' AND search_frame = "
             "BuildMbr(%g, %g, %g, %g))", x0, y0, x1, y1);
    return (int)scalar(s, sql);
}

/* The node's points without SpatiaLite: a reopened store has none of its
 * functions, yet writes points that SpatiaLite reads and indexes, and reads
 * SpatiaLite's. */
static void test_points(void)
{
    struct store_opts o = {0};
    struct store *s = NULL;
    struct validator *v = NULL;
    struct case_report_in in;
    struct verr e;
    char id[UUID_STR_LEN], ref[16], sql[256];
    cJSON *doc = report_json("3201011001", ",\"lat\":-6.25,\"lon\":106.5");

    CHECK(store_open(path, &o, &s) == 0);
    if (!s)
        return;
    sqlite3 *db = store_db(s);
    CHECK(sql_fails(db, "SELECT MakePoint(1, 2, 4326)"));     /* not loaded */
    CHECK(validator_new(s, &v) == 0);
    CHECK(validate_case_report(v, doc, &in, &e) == 0);
    cJSON_Delete(doc);
    validator_free(v);
    CHECK(store_begin(s) == 0);
    CHECK(case_report_insert(s, &in, id, ref) == 0);
    CHECK(store_commit(s) == 0);
    snprintf(sql, sizeof(sql), "SELECT sk_x(geom) FROM case_report WHERE id = '%s'", id);
    CHECK(dscalar(db, sql) == 106.5);
    snprintf(sql, sizeof(sql), "SELECT sk_y(geom) FROM case_report WHERE id = '%s'", id);
    CHECK(dscalar(db, sql) == -6.25);
    CHECK(scalar(s, "SELECT length(sk_point(106.5, -6.25))") == GEOM_POINT_SIZE);
    CHECK(scalar(s, "SELECT sk_point(NULL, 1) IS NULL AND sk_x(NULL) IS NULL") == 1);

    /* malformed input is an error, never a number */
    CHECK(sql_fails(db, "SELECT sk_x(X'00')"));
    CHECK(sql_fails(db, "SELECT sk_y('POINT(1 2)')"));
    CHECK(sql_fails(db, "SELECT sk_x(zeroblob(60))"));
    CHECK(sql_fails(db, "SELECT sk_point('east', 1)"));
    CHECK(sql_fails(db, "SELECT sk_point(1e999, 1)"));
    CHECK(sql_fails(db, "SELECT sk_x(substr(sk_point(1, 2), 1, 59))"));
    /* a damaged MBR or another geometry class */
    CHECK(sql_fails(db, "SELECT sk_x(substr(sk_point(1, 2), 1, 6) || zeroblob(8)"
                        " || substr(sk_point(1, 2), 15))"));
    CHECK(sql_fails(db, "SELECT sk_x(substr(sk_point(1, 2), 1, 39) || X'02000000'"
                        " || substr(sk_point(1, 2), 44))"));

    /* the same point in big-endian order (SpatiaLite on such a machine) */
    unsigned char le[GEOM_POINT_SIZE], be[GEOM_POINT_SIZE];
    static const struct { int off, len; } fields[] = {
        { 2, 4 }, { 6, 8 }, { 14, 8 }, { 22, 8 }, { 30, 8 }, { 39, 4 }, { 43, 8 }, { 51, 8 } };
    double x = 0, y = 0;
    int srid = 0;
    geom_point_write(le, 4326, 106.5, -6.25);
    memcpy(be, le, sizeof(be));
    be[1] = 0x00;
    for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
        for (int i = 0; i < fields[f].len; i++)
            be[fields[f].off + i] = le[fields[f].off + fields[f].len - 1 - i];
    CHECK(geom_point_read(be, sizeof(be), &srid, &x, &y) == 0);
    CHECK(srid == 4326 && x == 106.5 && y == -6.25);

    /* an update of the point moves its index entry (giu trigger) */
    snprintf(sql, sizeof(sql), "UPDATE case_report SET geom = sk_point(107.25, -6.75)"
             " WHERE id = '%s'", id);
    CHECK(store_exec(s, sql) == 0);

    /* SpatiaLite reads the node's blob, and its index finds the record */
    CHECK(store_spatial(s) == 0);
    CHECK(store_spatial(s) == 0);                              /* once is enough */
    snprintf(sql, sizeof(sql), "SELECT GeometryType(geom) = 'POINT' AND ST_SRID(geom) = 4326"
             " AND ST_IsValid(geom) = 1 AND ST_X(geom) = 107.25 AND ST_Y(geom) = -6.75"
             " FROM case_report WHERE id = '%s'", id);
    CHECK(scalar(s, sql) == 1);
    CHECK(bbox_count(s, 107.2, -6.8, 107.3, -6.7) == 1);
    CHECK(bbox_count(s, 106.4, -6.3, 106.6, -6.2) == 0);     /* the old place */
    CHECK(dscalar(db, "SELECT sk_x(MakePoint(106.8, -6.59, 4326))") == 106.8);
    CHECK(dscalar(db, "SELECT sk_y(MakePoint(106.8, -6.59, 4326))") == -6.59);
    CHECK(scalar(s, "SELECT sk_point(106.8, -6.59) = MakePoint(106.8, -6.59, 4326)") == 1);
    CHECK(sql_fails(db, "SELECT sk_x(GeomFromText('LINESTRING(0 0, 1 1)', 4326))"));
    store_close(s);
}

/* A store made before the node wrote its own points (schema version 3, the
 * index triggers calling SpatiaLite's MbrMinX ...) upgrades in place: its
 * points are read and its index is kept up to date without SpatiaLite. */
static void test_upgrade(void)
{
    extern const struct embedded_file node_migrations[];
    struct store_opts o = {0};
    struct store *s = NULL;
    char old[300];
    sqlite3 *db;

    snprintf(old, sizeof(old), "%s/v3.db", dir);
    db = raw_spatialite(old);
    CHECK(sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA application_id = 1397444179;"
                           "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    for (int i = 0; i < 3; i++)
        CHECK(sqlite3_exec(db, node_migrations[i].data, NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_exec(db,
        "INSERT INTO meta (key, value) VALUES ('district', '3201'), ('node_id', 'n1');"
        "INSERT INTO case_report (id, origin, hlc, created_at, updated_at, ref, kind, village,"
        " signs, animals, event_date, geom) VALUES ('a', 'n1', 1, 'now', 'now', '3201-000001',"
        " 'U', '3201011001', '[\"KBG\"]', '[]', '2026-11-20', MakePoint(106.1, -6.1, 4326));"
        "PRAGMA user_version = 3; COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);

    CHECK(store_open(old, &o, &s) == 0);
    if (!s)
        return;
    CHECK(store_schema_version(s) == store_schema_latest());
    store_close(s);
    s = NULL;
    CHECK(store_open(old, &o, &s) == 0);                     /* no SpatiaLite now */
    if (!s)
        return;
    CHECK(sql_fails(store_db(s), "SELECT MakePoint(1, 2, 4326)"));
    CHECK(dscalar(store_db(s), "SELECT sk_x(geom) FROM case_report WHERE id = 'a'") == 106.1);
    CHECK(store_exec(s, "UPDATE case_report SET geom = sk_point(106.9, -6.9) WHERE id = 'a'")
          == 0);
    CHECK(store_spatial(s) == 0);
    CHECK(bbox_count(s, 106.8, -7.0, 107.0, -6.8) == 1);
    CHECK(bbox_count(s, 106.0, -6.2, 106.2, -6.0) == 0);
    store_close(s);
}

int main(void)
{
    struct store *s;

    if (!getenv("SIKHNAS_TEST_AREAS")) {
        printf("Bail out! SIKHNAS_TEST_AREAS not set\n");
        return 1;
    }
    dir = test_tmp("test-store");
    snprintf(path, sizeof(path), "%s/node.db", dir);
    s = make_store();
    test_validator(s);
    test_spatial(s);
    test_stored_json(s);
    test_record_json(s);
    test_outbox(s);            /* closes s */
    test_points();
    test_upgrade();
    test_migrations();
    return t_done();
}
