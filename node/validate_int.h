/* validate_int.h - what the validator's files (validate.c, validate_json.c,
 * validate_record.c) share. Not for other modules: they use validate.h. */
#ifndef SIKHNAS_VALIDATE_INT_H
#define SIKHNAS_VALIDATE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "validate.h"

/* Sets *e (detail shortened with "..." when it does not fit); returns -EINVAL. */
int verr_fail(struct verr *e, enum verr_code code, const char *field, const char *detail);

/* Copies in upper-cased into out when it has 1..cap-1 characters; 0 or -1. */
int validate_code_copy(const char *in, char *out, size_t cap);

/* 1 when phone ("+62...") is a registered officer's, not deleted. */
int validator_has_officer(struct validator *v, const char *phone);

/* The store the validator reads (for look-ups of records by reference). */
struct store *validator_store(struct validator *v);

/* The counts rule (docs/data-model.md, "Counts"): with over VERR_COUNT_OVER
 * (a case report) ill must be at least 1; when at_risk > 0, ill must not
 * exceed it. 1 with *err set (naming field) when they conflict, else 0. */
int validate_counts_conflict(int64_t ill, int64_t at_risk, enum verr_code over,
                             const char *field, struct verr *err);

#endif
