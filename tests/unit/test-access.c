/* test-access.c - who may write what (node/access.c) for every role and
 * record kind, and the JSON entry point of the validator
 * (validate_json_parse): NUL bytes and \u0000 escapes, with the field they
 * are in. No store: both are pure. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "testlib.h"

#define OWN   "3201011001"
#define OTHER "3201011002"
#define PHONE "+6281234567890"

/* One record of each kind, as record() made it and access_check() left it. */
static _Alignas(max_align_t) unsigned char recs[REC_KIND_COUNT][4096];

/* The record of kind k made anew for village (in its village field, when
 * it has one; rec_kind(), validate.h), reporter "". */
static void *record(enum rec_kind k, const char *village)
{
    const struct rec_kind_info *rk = rec_kind(k);

    if (rk->size > sizeof(recs[k])) {
        printf("Bail out! the struct of %s is larger than %zu bytes\n", rk->table,
               sizeof(recs[k]));
        exit(1);
    }
    memset(recs[k], 0, sizeof(recs[k]));
    if (rk->village_field)
        snprintf((char *)recs[k] + rk->village_off, 11, "%s", village);
    return recs[k];
}

static int may(const struct actor *a, enum rec_kind k, const char *village, struct verr *e)
{
    return access_check(a, k, record(k, village), e);
}

static void test_roles(void)
{
    struct actor a;
    struct verr e;

    for (int k = 0; k < REC_KIND_COUNT; k++) {
        actor_operator(&a);
        CHECK(may(&a, k, OTHER, &e) == 0);
        actor_officer(&a, "vet", PHONE, OWN);
        CHECK(may(&a, k, OTHER, &e) == 0);
        actor_officer(&a, "clerk", PHONE, "");
        CHECK(may(&a, k, OTHER, &e) == 0);
        actor_officer(&a, "viewer", PHONE, OWN);
        CHECK(may(&a, k, OWN, &e) == -EACCES && e.code == VERR_FORBIDDEN);
        actor_officer(&a, "boss", PHONE, OWN);                  /* an unknown role: nothing */
        CHECK(may(&a, k, OWN, &e) == -EACCES && e.code == VERR_FORBIDDEN);
        actor_officer(&a, "reporter", PHONE, OWN);
        if (k == REC_CASE || k == REC_POPULATION) {
            CHECK(may(&a, k, OWN, &e) == 0);
            CHECK(may(&a, k, OTHER, &e) == -EACCES && e.code == VERR_NOT_OWN_VILLAGE);
            CHECK_STR(e.field, "village");
            CHECK_STR(e.detail, OWN);
        } else {
            CHECK(may(&a, k, OWN, &e) == -EACCES && e.code == VERR_FORBIDDEN);
            CHECK_STR(e.field, "");
        }
    }
}

static void test_reporter_field(void)
{
    struct case_report_in *c;
    struct treatment_in *tr;
    struct actor a;
    struct verr e;

    actor_officer(&a, "reporter", PHONE, OWN);
    CHECK(may(&a, REC_CASE, OWN, &e) == 0);
    c = (struct case_report_in *)(void *)recs[REC_CASE];
    CHECK_STR(c->reporter, PHONE);                              /* filled in */
    c = record(REC_CASE, OWN);
    strcpy(c->reporter, "+6281111111111");
    CHECK(access_check(&a, REC_CASE, c, &e) == -EACCES && e.code == VERR_NOT_SELF);
    CHECK_STR(e.field, "reporter");
    strcpy(c->reporter, PHONE);
    CHECK(access_check(&a, REC_CASE, c, &e) == 0);

    actor_officer(&a, "clerk", "+6281222222222", "");
    c = record(REC_CASE, OTHER);
    strcpy(c->reporter, PHONE);                                 /* a clerk enters a form */
    CHECK(access_check(&a, REC_CASE, c, &e) == 0);
    CHECK_STR(c->reporter, PHONE);
    tr = record(REC_TREATMENT, OTHER);
    CHECK(access_check(&a, REC_TREATMENT, tr, &e) == 0);
    CHECK_STR(tr->reporter, "+6281222222222");

    actor_operator(&a);
    c = record(REC_CASE, OWN);
    CHECK(access_check(&a, REC_CASE, c, &e) == 0);
    CHECK_STR(c->reporter, "");                                 /* the operator has no phone */

    actor_officer(&a, "reporter", PHONE, "");                   /* no village registered */
    CHECK(may(&a, REC_CASE, OWN, &e) == -EACCES && e.code == VERR_NOT_OWN_VILLAGE);
    CHECK_STR(e.detail, "none");
    actor_officer(&a, "reporter", PHONE, OWN);
    CHECK(may(&a, REC_MOVEMENT, OWN, &e) == -EACCES);
}

/* Parses text; returns the verr code (VERR_NONE when parsed) and the field. */
static enum verr_code parse(const char *text, size_t len, char field[48])
{
    struct verr e;
    cJSON *doc = NULL;
    int r = validate_json_parse(text, len, &doc, &e);

    cJSON_Delete(doc);
    strcpy(field, e.field);
    if (r == 0 && doc == NULL)
        return VERR_TYPE;           /* cannot happen: 0 means a document */
    return r == 0 ? VERR_NONE : e.code;
}

#define P(s, f) parse(s, strlen(s), f)

static void test_json_nul(void)
{
    char f[48];

    CHECK(P("{\"note\":\"a\\u0000b\"}", f) == VERR_ENCODING);
    CHECK_STR(f, "note");
    CHECK(P("{\"kind\":\"U\",\"animals\":[{\"species\":\"SP\\u0000X\",\"sick\":1}]}", f) ==
          VERR_ENCODING);
    CHECK_STR(f, "animals");
    CHECK(P("{\"kind\":\"U\",\"no\\u0000te\":\"x\"}", f) == VERR_ENCODING);  /* in a key */
    CHECK_STR(f, "no");
    CHECK(P("{\"a\":{\"b\":\"\\u0000\"},\"c\":\"\\u0000\"}", f) == VERR_ENCODING);
    CHECK_STR(f, "a");
    CHECK(P("[\"\\u0000\"]", f) == VERR_ENCODING);
    CHECK_STR(f, "body");
    CHECK(parse("{\"note\":\"a\0b\"}", 13, f) == VERR_ENCODING);             /* a raw NUL */
    CHECK_STR(f, "note");
    CHECK(P("{\"note\":\"a\\\\u0000b\"}", f) == VERR_NONE);   /* an escaped backslash */
    CHECK(P("{\"note\":\"\\\"\\u0000\"}", f) == VERR_ENCODING);  /* after an escaped quote */
    CHECK(P("{\"note\":\"\\u00000\"}", f) == VERR_ENCODING);
    CHECK(P("{\"note\":\"\\u0001\"}", f) == VERR_NONE);        /* the validator's business */
    CHECK(P("{\"note\":\"\\u0000", f) == VERR_ENCODING);       /* cut short, still refused */
    CHECK(P("{\"note\": tru", f) == VERR_SYNTAX);
    CHECK_STR(f, "body");
    CHECK(P("", f) == VERR_SYNTAX);
}

int main(void)
{
    test_roles();
    test_reporter_field();
    test_json_nul();
    return t_done();
}
