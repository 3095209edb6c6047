/* test-access.c - who may write what (node/access.c) for every role and
 * record kind, and the JSON entry point of the validator
 * (validate_json_parse): NUL bytes and \u0000 escapes, with the field they
 * are in. No store: both are pure. */
#include <errno.h>
#include <string.h>

#include "access.h"
#include "testlib.h"

#define OWN   "3201011001"
#define OTHER "3201011002"
#define PHONE "+6281234567890"

static struct case_report_in c;
static struct followup_in fu;
static struct vaccination_in vac;
static struct treatment_in tr;
static struct permit_in pm;
static struct slaughter_in sl;
static struct population_in pop;

/* Every kind's record for village (or origin), reporter "". */
static void *record(enum rec_kind k, const char *village)
{
    switch (k) {
    case REC_CASE:        memset(&c, 0, sizeof(c)); strcpy(c.village, village); return &c;
    case REC_FOLLOWUP:    memset(&fu, 0, sizeof(fu)); return &fu;
    case REC_VACCINATION: memset(&vac, 0, sizeof(vac)); strcpy(vac.village, village); return &vac;
    case REC_TREATMENT:   memset(&tr, 0, sizeof(tr)); strcpy(tr.village, village); return &tr;
    case REC_MOVEMENT:    memset(&pm, 0, sizeof(pm)); strcpy(pm.from_area, village); return &pm;
    case REC_SLAUGHTER:   memset(&sl, 0, sizeof(sl)); strcpy(sl.village, village); return &sl;
    case REC_POPULATION:  memset(&pop, 0, sizeof(pop)); strcpy(pop.village, village); return &pop;
    default:              return NULL;
    }
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
    struct actor a;
    struct verr e;

    actor_officer(&a, "reporter", PHONE, OWN);
    CHECK(may(&a, REC_CASE, OWN, &e) == 0);
    CHECK_STR(c.reporter, PHONE);                               /* filled in */
    record(REC_CASE, OWN);
    strcpy(c.reporter, "+6281111111111");
    CHECK(access_check(&a, REC_CASE, &c, &e) == -EACCES && e.code == VERR_NOT_SELF);
    CHECK_STR(e.field, "reporter");
    strcpy(c.reporter, PHONE);
    CHECK(access_check(&a, REC_CASE, &c, &e) == 0);

    actor_officer(&a, "clerk", "+6281222222222", "");
    record(REC_CASE, OTHER);
    strcpy(c.reporter, PHONE);                                  /* a clerk enters a form */
    CHECK(access_check(&a, REC_CASE, &c, &e) == 0);
    CHECK_STR(c.reporter, PHONE);
    CHECK(may(&a, REC_TREATMENT, OTHER, &e) == 0);
    CHECK_STR(tr.reporter, "+6281222222222");

    actor_operator(&a);
    CHECK(may(&a, REC_CASE, OWN, &e) == 0);
    CHECK_STR(c.reporter, "");                                  /* the operator has no phone */

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
