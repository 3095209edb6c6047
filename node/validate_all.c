/* validate_all.c - every refusal of a record at once, for forms: the one
 * validator (validate_record_json) stops at the first field it refuses;
 * here, each refused field is set aside (replaced by a value the validator
 * is known to take, or left out) and the record is checked again, until
 * it passes or a field is refused twice. So each refusal still comes from
 * the validator's own rule, in its order, and a form can mark all its
 * fields in one round (docs/api.md, "Errors"). */
#include "validate.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store.h"
#include "tz.h"
#include "validate_int.h"

/* The top-level JSON key a refusal names ("animals[1].sick" -> "animals"). */
static void top_field(const char *field, char *out, size_t cap)
{
    size_t n = strcspn(field, "[.");

    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), field);
}

/* The first active code of list into out, or "". */
static void first_code(struct store *s, const char *list, char *out, size_t cap)
{
    const struct store_col col = { out, cap };

    out[0] = '\0';
    (void) store_get(s, "SELECT code FROM code_list WHERE list = ?1 AND active = 1"
                        " ORDER BY code LIMIT 1", list, &col, 1);
}

/* A herd the validator takes: one of the first species, the first count 1. */
static cJSON *herd_stand_in(struct store *s, const struct rec_field *sp)
{
    cJSON *arr = cJSON_CreateArray(), *a = cJSON_CreateObject();
    char species[16];

    first_code(s, "species", species, sizeof(species));
    cJSON_AddStringToObject(a, "species", species);
    cJSON_AddNumberToObject(a, sp ? sp->counts[0] : "sick", 1);
    cJSON_AddItemToArray(arr, a);
    return arr;
}

/* A value of field that the validator takes, or NULL (leave it out). */
static cJSON *stand_in(struct store *s, const struct rec_field *spec, size_t n_spec,
                       const char *field)
{
    char buf[16];
    const struct store_col col = { buf, sizeof(buf) };

    for (size_t i = 0; i < n_spec; i++)
        if (spec[i].type == J_HERD && strcmp(spec[i].name, field) == 0)
            return herd_stand_in(s, &spec[i]);
    if (strcmp(field, "animals") == 0)
        return herd_stand_in(s, NULL);
    if (strcmp(field, "village") == 0 || strcmp(field, "from_area") == 0) {
        if (store_get(s, "SELECT code FROM area WHERE level = 4 AND substr(code, 1, 4) = ?1"
                         " ORDER BY code LIMIT 1", store_district(s), &col, 1) < 0)
            return NULL;
        return cJSON_CreateString(buf);
    }
    if (strcmp(field, "event_date") == 0 || strcmp(field, "issue_date") == 0) {
        /* two days ago in the district: neither in the future nor too old */
        tz_date(tz_of_area(store_district(s)), time(NULL) - 2 * 86400, buf);
        return cJSON_CreateString(buf);
    }
    if (strcmp(field, "species") == 0 || strcmp(field, "syndrome") == 0 ||
        strcmp(field, "outcome") == 0) {
        first_code(s, strcmp(field, "syndrome") == 0 ? "syndrome" : field, buf, sizeof(buf));
        return buf[0] ? cJSON_CreateString(buf) : NULL;
    }
    if (strcmp(field, "signs") == 0) {
        first_code(s, "sign", buf, sizeof(buf));
        return buf[0] ? cJSON_CreateStringArray((const char *const[]){ buf }, 1) : NULL;
    }
    if (strcmp(field, "n_animals") == 0)
        return cJSON_CreateNumber(1);
    return NULL;
}

int validate_record_json_all(struct validator *v, enum rec_kind kind, const cJSON *doc, void *out,
                             struct verr *errs, int max)
{
    const struct rec_kind_info *k = rec_kind(kind);
    struct store *s = validator_store(v);
    char seen[VERR_ALL_MAX][48], top[48];
    cJSON *copy;
    int n = 0, r;

    r = validate_record_json(v, kind, doc, out, &errs[0]);
    if (r != -EINVAL)
        return r;                   /* passed (the usual case: no copy), or the store failed */
    copy = cJSON_Duplicate(doc, 1);
    if (!copy)
        return 1;                   /* the first refusal at least */
    if (max > VERR_ALL_MAX)
        max = VERR_ALL_MAX;
    for (;;) {
        r = validate_record_json(v, kind, copy, out, &errs[n]);
        if (r != -EINVAL)
            break;
        top_field(errs[n].field, top, sizeof(top));
        for (int i = 0; i < n; i++)
            if (strcmp(seen[i], top) == 0)
                goto out;           /* set aside and still refused: the rest depends on it */
        memcpy(seen[n], top, sizeof(top));
        n++;
        /* a kind, a body that is not an object or an unknown case decide the rest */
        if (n == max || !top[0] || strcmp(top, "kind") == 0 || strcmp(top, "record") == 0 ||
            strcmp(top, "report") == 0 || errs[n - 1].code == VERR_UNKNOWN_FIELD ||
            errs[n - 1].code == VERR_DUPLICATE || !cJSON_IsObject(copy))
            break;
        {
            cJSON *good = errs[n - 1].code == VERR_CONFLICT ? NULL       /* it should not be there */
                        : stand_in(s, k->fields, k->n_fields, top);
            if (strcmp(top, "lat") == 0 || strcmp(top, "lon") == 0) {
                cJSON_DeleteItemFromObjectCaseSensitive(copy, "lat");
                cJSON_DeleteItemFromObjectCaseSensitive(copy, "lon");
            }
            if (good && !cJSON_ReplaceItemInObjectCaseSensitive(copy, top, good))
                cJSON_AddItemToObject(copy, top, good);
            else if (!good)
                cJSON_DeleteItemFromObjectCaseSensitive(copy, top);
        }
    }
out:
    cJSON_Delete(copy);
    return n ? n : r;
}
