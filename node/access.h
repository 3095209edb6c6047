/* access.h - who may write what, decided in one place for every way a
 * record comes in: the web API, SMS and the command line (report add,
 * import). The validator (validate.h) decides whether a record is well
 * formed; access_check() decides whether the one sending it may write it.
 * The channels keep only their own coarse filters (the SMS codes a role may
 * send, the web endpoints a role may call), which must never allow more
 * than this does. The rules are in docs/security.md, "Node: who may write
 * what". */
#ifndef SIKHNAS_ACCESS_H
#define SIKHNAS_ACCESS_H

#include "validate.h"

enum actor_kind {
    ACTOR_OPERATOR,             /* the board's operator at the command line */
    ACTOR_OFFICER,              /* an officer, by web session or SMS phone */
};

/* The one acting. An officer's fields are as the officer table has them. */
struct actor {
    enum actor_kind kind;
    char role[16];              /* officer: vet, clerk, reporter or viewer */
    char phone[20];             /* officer: normalised "+62..." */
    char village[11];           /* officer: the own village, "" when none */
};

/* The operator at the board: trusted (see docs/security.md). */
void actor_operator(struct actor *a);
/* An officer as the web session or the SMS sender look-up found them;
 * strings are copied (and cut to fit). */
void actor_officer(struct actor *a, const char *role, const char *phone, const char *village);

/* Decides whether a may write rec, a record of kind that the validator
 * accepted (so its village is one of this district and its reporter, if
 * any, a registered officer). On success an officer's record without a
 * reporter gets the officer's phone. Returns 0, or -EACCES with *err set:
 *   VERR_FORBIDDEN        the role may not write this kind (field ""), or
 *                         a village reporter writes as someone else
 *                         (field "reporter");
 *   VERR_NOT_OWN_VILLAGE  a village reporter writes for another village,
 *                         or has none registered (field "village", or
 *                         "from_area" for a movement; detail: the own
 *                         village, or "none"). */
int access_check(const struct actor *a, enum rec_kind kind, void *rec, struct verr *err);

#endif
