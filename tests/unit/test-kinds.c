/* test-kinds.c - the node's table of record kinds (rec_kind(), validate.h)
 * against the table both ends speak (sync/kinds.c) and a fresh store: each
 * kind's table is a synced kind there and a table here; each field of its
 * JSON is a column of both (the one exception: case_ref, the JSON's name
 * for the column case_id); its village, reporter and number are columns;
 * every required column is filled by a field; its struct has a size; its
 * API collection is unique. A typo in a new kind's entry fails here, not
 * in the field. */
#include <stdlib.h>
#include <string.h>

#include "kinds.h"
#include "store.h"
#include "testlib.h"
#include "testtmp.h"
#include "validate.h"

static struct store *store;

/* 1 when table has a column named col in the fresh store. */
static int store_has_column(const char *table, const char *col)
{
    char sql[160];
    sqlite3_stmt *st;
    int found = 0;

    snprintf(sql, sizeof(sql), "SELECT 1 FROM pragma_table_info('%s') WHERE name = ?1", table);
    if (sqlite3_prepare_v2(store_db(store), sql, -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, col, -1, SQLITE_STATIC);
    found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

/* 1 when col is a column of kind k in sync/kinds.c and of its table here. */
static int is_column(const struct record_kind *k, const char *col)
{
    if (!kind_col_find(k, col)) {
        printf("# %s.%s: not a column in sync/kinds.c\n", k->table, col);
        return 0;
    }
    if (!store_has_column(k->table, col)) {
        printf("# %s.%s: not a column of the node's store\n", k->table, col);
        return 0;
    }
    return 1;
}

/* The column a field fills: its name, but case_id for a case_ref. */
static const char *field_column(const struct rec_field *f)
{
    return f->type == J_CASE_REF ? "case_id" : f->name;
}

/* 1 when f fills col. */
static int filled(const struct rec_kind_info *rk, const char *col)
{
    for (size_t i = 0; i < rk->n_fields; i++)
        if (strcmp(field_column(&rk->fields[i]), col) == 0)
            return 1;
    return rk->number_col && strcmp(rk->number_col, col) == 0;
}

/* The stamps every synced row has, which records.c fills itself. */
static int is_stamp(const char *col)
{
    static const char *const stamps[] = { "id", "origin", "hlc", "deleted", "created_at",
                                          "updated_at" };

    for (size_t i = 0; i < sizeof(stamps) / sizeof(stamps[0]); i++)
        if (strcmp(stamps[i], col) == 0)
            return 1;
    return 0;
}

static void test_kind(enum rec_kind kind)
{
    const struct rec_kind_info *rk = rec_kind(kind);
    const struct record_kind *k = rk->table ? record_kind_find(rk->table) : NULL;

    printf("# kind %d: %s\n", kind, rk->table ? rk->table : "(no table)");
    CHECK(k != NULL && k->synced);
    if (!k)
        return;
    CHECK(store_has_column(rk->table, "id"));
    CHECK(rk->size > 0);
    /* a case report alone has its own decoder and checks */
    CHECK(kind == REC_CASE ? !rk->fields && !rk->check : rk->fields && rk->check &&
                             rk->n_fields > 0);
    for (size_t i = 0; i < rk->n_fields; i++) {
        const struct rec_field *f = &rk->fields[i];
        CHECK(is_column(k, field_column(f)));
        CHECK(f->type != J_CASE_REF || strcmp(f->name, "case_ref") == 0);
        CHECK(f->off < rk->size && (f->type != J_HERD || f->cap < rk->size));
    }
    for (int i = 0; rk->fields && i < k->ncols; i++) {
        const struct kind_col *c = &k->cols[i];
        /* the hub fills a district it takes from the sender */
        if (!(c->flags & COL_REQUIRED) || is_stamp(c->name) ||
            (k->sender_district && strcmp(c->name, k->district_col) == 0))
            continue;
        if (!filled(rk, c->name))
            printf("# %s.%s: required, and no field fills it\n", k->table, c->name);
        CHECK(filled(rk, c->name));
    }
    CHECK(rk->reporter_off + 20 <= rk->size && is_column(k, "reporter"));
    if (rk->village_field)
        CHECK(rk->village_off + 11 <= rk->size && is_column(k, rk->village_field));
    if (rk->number_col)
        CHECK(is_column(k, rk->number_col) && rk->number_meta && rk->number_infix);
    if (rk->collection) {
        CHECK(rk->collection[0] && strspn(rk->collection, "abcdefghijklmnopqrstuvwxyz_") ==
                                   strlen(rk->collection) && strlen(rk->collection) < 32);
        for (int j = 0; j < (int)kind; j++)
            CHECK(!rec_kind((enum rec_kind)j)->collection ||
                  strcmp(rec_kind((enum rec_kind)j)->collection, rk->collection) != 0);
    }
    for (int j = 0; j < (int)kind; j++)
        CHECK(strcmp(rec_kind((enum rec_kind)j)->table, rk->table) != 0);
}

int main(void)
{
    struct store_opts o = { .create = 1 };
    char path[160];

    snprintf(path, sizeof(path), "%s/node.db", test_tmp("test-kinds"));
    CHECK(store_open(path, &o, &store) == 0);
    if (!store)
        return t_done();
    for (int k = 0; k < REC_KIND_COUNT; k++)
        test_kind((enum rec_kind)k);
    store_close(store);
    return t_done();
}
