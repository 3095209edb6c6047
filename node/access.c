/* access.c - who may write what (see access.h). One table of roles: the
 * record kinds each may write, and whether it is a village reporter, who
 * writes only for the own village and only as themselves. A vet and a
 * clerk write every kind, a new one too; a village reporter only the kinds
 * listed. Where a record keeps its village and reporter is the kind's
 * (rec_kind(), validate.h). The board's operator is not in the table: the
 * command line is theirs. */
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
    const struct rec_kind_info *k = rec_kind(kind);
    /* a kind without a village (a follow-up: its case's) no village reporter writes */
    const char *field = k->village_field ? k->village_field : "village";
    const char *village = k->village_field ? (const char *)rec + k->village_off : NULL;
    char *reporter = (char *)rec + k->reporter_off;
    size_t i;

    assert(a && rec);
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
