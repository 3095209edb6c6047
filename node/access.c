/* access.c - who may write what (see access.h). One table of roles: the
 * record kinds each may write, and whether it is a village reporter, who
 * writes only for the own village and only as themselves. The board's
 * operator is not in the table: the command line is theirs. */
#include "access.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define KIND_BIT(k) (1u << (k))
#define ALL_KINDS   (KIND_BIT(REC_KIND_COUNT) - 1)

static const struct {
    const char *role;
    unsigned kinds;             /* KIND_BIT(rec_kind) of what it may write */
    int village_reporter;       /* 1: own village only, as themselves only */
} roles[] = {
    { "vet",      ALL_KINDS, 0 },
    { "clerk",    ALL_KINDS, 0 },
    { "reporter", KIND_BIT(REC_CASE) | KIND_BIT(REC_POPULATION), 1 },
    { "viewer",   0, 0 },
};

void actor_operator(struct actor *a)
{
    memset(a, 0, sizeof(*a));
    a->kind = ACTOR_OPERATOR;
}

void actor_officer(struct actor *a, const char *role, const char *phone, const char *village)
{
    memset(a, 0, sizeof(*a));
    a->kind = ACTOR_OFFICER;
    snprintf(a->role, sizeof(a->role), "%s", role ? role : "");
    snprintf(a->phone, sizeof(a->phone), "%s", phone ? phone : "");
    snprintf(a->village, sizeof(a->village), "%s", village ? village : "");
}

/* Where a record of kind keeps its village (field: the name a refusal
 * gives) and its reporter (char[20] in every kind). A follow-up has no
 * village of its own (it is the case's), and no village reporter writes one. */
#define PLACE(st, v) { #v, 1, offsetof(struct st, v), offsetof(struct st, reporter) }
static const struct {
    const char *field;
    int has_village;
    size_t village, reporter;
} places[REC_KIND_COUNT] = {
    [REC_CASE] = PLACE(case_report_in, village),
    [REC_FOLLOWUP] = { "village", 0, 0, offsetof(struct followup_in, reporter) },
    [REC_VACCINATION] = PLACE(vaccination_in, village),
    [REC_TREATMENT] = PLACE(treatment_in, village),
    [REC_MOVEMENT] = PLACE(permit_in, from_area),
    [REC_SLAUGHTER] = PLACE(slaughter_in, village),
    [REC_POPULATION] = PLACE(population_in, village),
};

static int refuse(struct verr *err, enum verr_code code, const char *field, const char *detail)
{
    memset(err, 0, sizeof(*err));
    err->code = code;
    snprintf(err->field, sizeof(err->field), "%s", field);
    snprintf(err->detail, sizeof(err->detail), "%s", detail);
    return -EACCES;
}

int access_check(const struct actor *a, enum rec_kind kind, void *rec, struct verr *err)
{
    const char *village, *field;
    char *reporter;
    size_t i;

    assert(a && rec && (unsigned)kind < REC_KIND_COUNT);
    field = places[kind].field;
    village = places[kind].has_village ? (const char *)rec + places[kind].village : NULL;
    reporter = (char *)rec + places[kind].reporter;
    if (a->kind == ACTOR_OPERATOR)
        return 0;               /* the board's own command line; see access.h */
    for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
        if (strcmp(a->role, roles[i].role) == 0)
            break;
    if (i == sizeof(roles) / sizeof(roles[0]) || !(roles[i].kinds & KIND_BIT(kind)))
        return refuse(err, VERR_FORBIDDEN, "", a->role);
    if (roles[i].village_reporter) {
        if (!a->village[0] || !village || strcmp(village, a->village) != 0)
            return refuse(err, VERR_NOT_OWN_VILLAGE, field, a->village[0] ? a->village : "none");
        if (reporter[0] && strcmp(reporter, a->phone) != 0)
            return refuse(err, VERR_NOT_SELF, "reporter", reporter);
    }
    if (!reporter[0])
        snprintf(reporter, 20, "%s", a->phone);     /* every reporter field is char[20] */
    return 0;
}
