/* test-store.c - the node store on real SQLite files: migrations, refusal
 * of foreign and newer stores, outbox capture, tombstones, the validator. */
#include <cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "records.h"
#include "refdata.h"
#include "store.h"
#include "testlib.h"
#include "validate.h"

static char dir[] = "/tmp/sikhnas-test-store-XXXXXX";
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
    CHECK(utf8_text_ok("Sapi di kandang Pak Budi — 3 ekor"));
    CHECK(!utf8_text_ok("\xc0\xaf"));
    CHECK(!utf8_text_ok("a\x01"));

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
             "SELECT count(*) FROM case_report WHERE id = '%s' AND ST_X(geom) = 106.8 "
             "AND ST_Y(geom) = -6.59 AND origin = (SELECT value FROM meta WHERE key='node_id')",
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

    /* the clock survives a reopen: the next value is above the last one */
    long long last = scalar(s, "SELECT max(hlc) FROM case_report");
    validator_free(v);
    store_close(s);
    struct store_opts o = {0};
    CHECK(store_open(path, &o, &s) == 0);
    CHECK((long long)store_hlc_tick(s) > last);
    store_close(s);
}

/* SpatiaLite is loaded with its metadata, and although store_open() closes
 * PROJ's proj.db, a transformation still works: PROJ opens it again. */
static void test_spatial(struct store *s)
{
    CHECK(scalar(s, "SELECT CheckSpatialMetaData()") == 3);    /* 3: current layout */
    CHECK(scalar(s, "SELECT count(*) FROM geometry_columns"
                    " WHERE f_table_name = 'case_report' AND srid = 4326") == 1);
    /* UTM zone 48S (central meridian 105 E): 106.8 E, 6.6 S lies about
     * 1.8 degrees = 199 km east of it, easting 500 km + that */
    long long e = scalar(s, "SELECT CAST(ST_X(ST_Transform(MakePoint(106.8, -6.6, 4326),"
                            " 32748)) AS INTEGER)");
    CHECK(e > 698000 && e < 700000);
}

int main(void)
{
    struct store *s;

    if (!getenv("SIKHNAS_TEST_AREAS") || !mkdtemp(dir)) {
        printf("Bail out! SIKHNAS_TEST_AREAS not set or no temp dir\n");
        return 1;
    }
    snprintf(path, sizeof(path), "%s/node.db", dir);
    s = make_store();
    test_validator(s);
    test_spatial(s);
    test_outbox(s);            /* closes s */
    test_migrations();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
    return t_done();
}
