/* web_json.h - the API's JSON bodies of the other record kinds (follow-up,
 * vaccination, treatment, movement, slaughter, population) read into the
 * validators' C structs, one table of fields per kind (docs/api.md). */
#ifndef SIKHNAS_WEB_JSON_H
#define SIKHNAS_WEB_JSON_H

#include <cJSON.h>
#include <stddef.h>

#include "store.h"
#include "validate.h"

struct jspec;

/* The fields of one kind's body. */
struct web_form {
    const struct jspec *spec;
    size_t n;
};

extern const struct web_form web_form_followup;      /* struct followup_in */
extern const struct web_form web_form_vaccination;   /* struct vaccination_in */
extern const struct web_form web_form_population;    /* struct population_in */
extern const struct web_form web_form_permit;        /* struct permit_in */
extern const struct web_form web_form_treatment;     /* struct treatment_in */
extern const struct web_form web_form_slaughter;     /* struct slaughter_in */

/* Fills out (the kind's struct, zeroed by the caller) from doc, a JSON
 * object, by f; a case_ref is looked up in s. Returns 0, -EINVAL with *e
 * naming the field, or -errno from the store. */
int web_json_decode(struct store *s, const cJSON *doc, const struct web_form *f, void *out,
                    struct verr *e);

#endif
