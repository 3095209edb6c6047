/* web_json.c - the API's JSON bodies of the record kinds other than case
 * reports, read into the validators' C structs (validate.h) by a table of
 * fields per kind. What is checked here is only what the struct needs: a
 * key must be known, of the right JSON type and fit its buffer; everything
 * else is the validator's job. */
#include "web_json.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "records.h"

enum jtype { J_STR, J_INT, J_YESNO, J_HERD, J_CASE_REF };

struct jspec {
    const char *name;
    enum jtype type;
    size_t off;                 /* the field in the struct */
    size_t cap;                 /* J_STR: buffer size; J_HERD: offset of the count */
    int required;               /* J_INT: must be given */
    const char *const *counts;  /* J_HERD: names of n[] */
    int n_counts;
};

static int jfail(struct verr *e, enum verr_code c, const char *field, const char *detail)
{
    e->code = c;
    snprintf(e->field, sizeof(e->field), "%s", field);
    snprintf(e->detail, sizeof(e->detail), "%s", detail ? detail : "");
    return -EINVAL;
}

static int herd_decode(const cJSON *arr, const struct jspec *sp, struct herd_count *out,
                       int *n_out, struct verr *e)
{
    const cJSON *it, *f;
    char name[48];
    int n = 0;

    if (!cJSON_IsArray(arr))
        return jfail(e, VERR_TYPE, sp->name, "array of {species, counts}");
    cJSON_ArrayForEach(it, arr) {
        if (n >= V_MAX_ANIMALS)
            return jfail(e, VERR_TOO_MANY, sp->name, NULL);
        snprintf(name, sizeof(name), "%s[%d]", sp->name, n);
        if (!cJSON_IsObject(it))
            return jfail(e, VERR_TYPE, name, "object");
        memset(&out[n], 0, sizeof(out[n]));
        cJSON_ArrayForEach(f, it) {
            int k;
            snprintf(name, sizeof(name), "%s[%d].%s", sp->name, n, f->string);
            if (strcmp(f->string, "species") == 0) {
                if (!cJSON_IsString(f))
                    return jfail(e, VERR_TYPE, name, "string");
                if (strlen(f->valuestring) >= sizeof(out[n].species))
                    return jfail(e, VERR_UNKNOWN_CODE, name, f->valuestring);
                memcpy(out[n].species, f->valuestring, strlen(f->valuestring) + 1);
                continue;
            }
            for (k = 0; k < sp->n_counts; k++)
                if (strcmp(f->string, sp->counts[k]) == 0)
                    break;
            if (k == sp->n_counts)
                return jfail(e, VERR_UNKNOWN_FIELD, name, NULL);
            if (!cJSON_IsNumber(f) || f->valuedouble < 0 || f->valuedouble > V_COUNT_MAX ||
                f->valuedouble != (double)(int64_t)f->valuedouble)
                return jfail(e, VERR_COUNT, name, NULL);
            out[n].n[k] = (int64_t)f->valuedouble;
        }
        if (!out[n].species[0]) {
            snprintf(name, sizeof(name), "%s[%d].species", sp->name, n);
            return jfail(e, VERR_REQUIRED, name, NULL);
        }
        n++;
    }
    *n_out = n;
    return 0;
}

/* Fills the struct at out from doc by spec. */
static int json_decode(struct store *s, const cJSON *doc, const struct jspec *spec, size_t n_spec,
                       void *out, struct verr *e)
{
    const cJSON *f;
    char *base = out;

    memset(e, 0, sizeof(*e));
    cJSON_ArrayForEach(f, doc) {
        size_t k;
        for (k = 0; k < n_spec; k++)
            if (strcmp(f->string, spec[k].name) == 0)
                break;
        if (k == n_spec)
            return jfail(e, VERR_UNKNOWN_FIELD, f->string, NULL);
    }
    for (size_t k = 0; k < n_spec; k++) {
        const struct jspec *sp = &spec[k];
        int r;
        f = cJSON_GetObjectItemCaseSensitive(doc, sp->name);
        switch (sp->type) {
        case J_STR:
        case J_CASE_REF:
            if (!f || cJSON_IsNull(f))
                break;
            if (!cJSON_IsString(f))
                return jfail(e, VERR_TYPE, sp->name, "string");
            if (sp->type == J_CASE_REF) {
                if (!f->valuestring[0])
                    break;
                r = case_report_by_ref(s, f->valuestring, base + sp->off);
                if (r == -ENOENT)
                    return jfail(e, VERR_UNKNOWN_CODE, sp->name, f->valuestring);
                if (r < 0)
                    return r;
                break;
            }
            if (strlen(f->valuestring) >= sp->cap)
                return jfail(e, VERR_TOO_LONG, sp->name, NULL);
            memcpy(base + sp->off, f->valuestring, strlen(f->valuestring) + 1);
            break;
        case J_INT:
            if (!f || cJSON_IsNull(f)) {
                if (sp->required)
                    return jfail(e, VERR_REQUIRED, sp->name, NULL);
                break;
            }
            if (!cJSON_IsNumber(f) || f->valuedouble < 0 || f->valuedouble > V_COUNT_MAX ||
                f->valuedouble != (double)(int64_t)f->valuedouble)
                return jfail(e, VERR_COUNT, sp->name, NULL);
            *(int64_t *)(void *)(base + sp->off) = (int64_t)f->valuedouble;
            break;
        case J_YESNO:
            *(int *)(void *)(base + sp->off) = -1;
            if (!f || cJSON_IsNull(f))
                break;
            if (!cJSON_IsBool(f))
                return jfail(e, VERR_TYPE, sp->name, "true or false");
            *(int *)(void *)(base + sp->off) = cJSON_IsTrue(f);
            break;
        case J_HERD:
            if (!f)
                break;      /* the validator says whether animals are required */
            r = herd_decode(f, sp, (struct herd_count *)(void *)(base + sp->off),
                            (int *)(void *)(base + sp->cap), e);
            if (r < 0)
                return r;
            break;
        }
    }
    return 0;
}

#define JS(st, name, field) { name, J_STR, offsetof(struct st, field), \
                              sizeof(((struct st *)0)->field), 0, NULL, 0 }
#define JI(st, name, field) { name, J_INT, offsetof(struct st, field), 0, 1, NULL, 0 }
#define JH(st, names) { "animals", J_HERD, offsetof(struct st, animals), \
                        offsetof(struct st, n_animals), 0, names, \
                        (int)(sizeof(names) / sizeof(names[0])) }

static const char *const fu_counts[] = { "sick", "dead", "culled", "at_risk" };
static const char *const vac_counts[] = { "primary", "booster" };
static const char *const n_counts[] = { "n" };

static const struct jspec followup_spec[] = {
    { "case_ref", J_CASE_REF, offsetof(struct followup_in, case_id), 0, 0, NULL, 0 },
    JS(followup_in, "outcome", outcome), JH(followup_in, fu_counts),
    { "escalate", J_YESNO, offsetof(struct followup_in, escalate), 0, 0, NULL, 0 },
    JS(followup_in, "event_date", event_date), JS(followup_in, "reporter", reporter),
};
static const struct jspec vaccination_spec[] = {
    JS(vaccination_in, "program", program), JS(vaccination_in, "village", village),
    JH(vaccination_in, vac_counts), JS(vaccination_in, "event_date", event_date),
    JS(vaccination_in, "reporter", reporter),
};
static const struct jspec population_spec[] = {
    JS(population_in, "village", village), JH(population_in, n_counts),
    JS(population_in, "event_date", event_date), JS(population_in, "reporter", reporter),
};
static const struct jspec permit_spec[] = {
    JS(permit_in, "owner_id", owner_id), JS(permit_in, "owner_phone", owner_phone),
    JS(permit_in, "from_area", from_area), JS(permit_in, "to_area", to_area),
    JH(permit_in, n_counts), JS(permit_in, "issue_date", issue_date),
    JS(permit_in, "reporter", reporter),
};
static const struct jspec treatment_spec[] = {
    { "case_ref", J_CASE_REF, offsetof(struct treatment_in, case_id), 0, 0, NULL, 0 },
    JS(treatment_in, "village", village), JS(treatment_in, "species", species),
    JS(treatment_in, "drug", drug), JI(treatment_in, "n_animals", n_animals),
    JS(treatment_in, "event_date", event_date), JS(treatment_in, "reporter", reporter),
    JS(treatment_in, "note", note),
};
static const struct jspec slaughter_spec[] = {
    JS(slaughter_in, "abattoir", abattoir), JS(slaughter_in, "village", village),
    JS(slaughter_in, "species", species), JI(slaughter_in, "n_animals", n_animals),
    JS(slaughter_in, "event_date", event_date), JS(slaughter_in, "reporter", reporter),
    JS(slaughter_in, "note", note),
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

const struct web_form web_form_followup = { followup_spec, N_OF(followup_spec) };
const struct web_form web_form_vaccination = { vaccination_spec, N_OF(vaccination_spec) };
const struct web_form web_form_population = { population_spec, N_OF(population_spec) };
const struct web_form web_form_permit = { permit_spec, N_OF(permit_spec) };
const struct web_form web_form_treatment = { treatment_spec, N_OF(treatment_spec) };
const struct web_form web_form_slaughter = { slaughter_spec, N_OF(slaughter_spec) };

int web_json_decode(struct store *s, const cJSON *doc, const struct web_form *f, void *out,
                    struct verr *e)
{
    return json_decode(s, doc, f->spec, f->n, out, e);
}
