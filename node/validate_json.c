/* validate_json.c - every record kind from its JSON object, whatever the
 * channel (web API, `report add`, import, SMS for case reports): the one
 * place where a record's JSON is decoded. A case report is decoded and
 * checked field by field here; the other kinds are decoded into their C
 * structs by one table of fields per kind (only what the struct needs: a
 * known key, of the right JSON type, that fits; validate_record.c has the
 * tables) and then checked by validate_record.c, as the SMS handler's
 * structs are. */
#include "validate.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "records.h"
#include "utf8.h"
#include "validate_int.h"

static int get_count(const cJSON *item, int64_t *out)
{
    if (!cJSON_IsNumber(item))
        return -1;
    double d = item->valuedouble;
    if (!(d >= 0 && d <= V_COUNT_MAX) || floor(d) != d)
        return -1;
    *out = (int64_t)d;
    return 0;
}

/* Reads a JSON array of codes from list into out[max][8]. */
static int code_array(struct validator *v, const cJSON *arr, const char *field, const char *list,
                      char out[][8], int max, int *n, struct verr *err)
{
    const cJSON *it;
    char f[48];
    int i = 0;

    if (!cJSON_IsArray(arr))
        return verr_fail(err, VERR_TYPE, field, "array of codes");
    cJSON_ArrayForEach(it, arr) {
        snprintf(f, sizeof(f), "%s[%d]", field, i);
        if (i >= max)
            return verr_fail(err, VERR_TOO_MANY, field, NULL);
        if (!cJSON_IsString(it))
            return verr_fail(err, VERR_TYPE, f, "string");
        if (validate_code_copy(it->valuestring, out[i], 8) < 0 || !validator_has_code(v, list, out[i]))
            return verr_fail(err, VERR_UNKNOWN_CODE, f, it->valuestring);
        for (int j = 0; j < i; j++)
            if (strcmp(out[j], out[i]) == 0)
                return verr_fail(err, VERR_DUPLICATE, f, out[i]);
        i++;
    }
    *n = i;
    return 0;
}

static int animals_array(struct validator *v, const cJSON *arr, struct case_report_in *out,
                         struct verr *err)
{
    const cJSON *it, *f;
    char name[48];
    int i = 0;

    if (!cJSON_IsArray(arr))
        return verr_fail(err, VERR_TYPE, "animals", "array of {species, sick, dead, at_risk}");
    cJSON_ArrayForEach(it, arr) {
        struct animal_count *a = &out->animals[i];
        if (i >= V_MAX_ANIMALS)
            return verr_fail(err, VERR_TOO_MANY, "animals", NULL);
        snprintf(name, sizeof(name), "animals[%d]", i);
        if (!cJSON_IsObject(it))
            return verr_fail(err, VERR_TYPE, name, "object");
        memset(a, 0, sizeof(*a));
        cJSON_ArrayForEach(f, it) {
            snprintf(name, sizeof(name), "animals[%d].%s", i, f->string);
            if (strcmp(f->string, "species") == 0) {
                if (!cJSON_IsString(f))
                    return verr_fail(err, VERR_TYPE, name, "string");
                if (validate_code_copy(f->valuestring, a->species, sizeof(a->species)) < 0 ||
                    !validator_has_code(v, "species", a->species))
                    return verr_fail(err, VERR_UNKNOWN_CODE, name, f->valuestring);
            } else if (strcmp(f->string, "sick") == 0 || strcmp(f->string, "dead") == 0 ||
                       strcmp(f->string, "at_risk") == 0) {
                int64_t *dst = f->string[0] == 's' ? &a->sick : f->string[0] == 'd' ? &a->dead
                                                                                    : &a->at_risk;
                if (get_count(f, dst) < 0)
                    return verr_fail(err, VERR_COUNT, name, NULL);
            } else {
                return verr_fail(err, VERR_UNKNOWN_FIELD, name, NULL);
            }
        }
        snprintf(name, sizeof(name), "animals[%d].species", i);
        if (!a->species[0])
            return verr_fail(err, VERR_REQUIRED, name, NULL);
        for (int j = 0; j < i; j++)
            if (strcmp(out->animals[j].species, a->species) == 0)
                return verr_fail(err, VERR_DUPLICATE, name, a->species);
        snprintf(name, sizeof(name), "animals[%d]", i);
        if (validate_counts_conflict(a->sick + a->dead, a->at_risk, VERR_COUNT_OVER, name, err))
            return -EINVAL;
        i++;
    }
    if (i == 0)
        return verr_fail(err, VERR_EMPTY, "animals", NULL);
    out->n_animals = i;
    return 0;
}

int validate_case_report(struct validator *v, const cJSON *doc, struct case_report_in *out,
                         struct verr *err)
{
    const cJSON *f, *kind = NULL, *village = NULL, *signs = NULL, *syndrome = NULL,
                *animals = NULL, *date = NULL, *lat = NULL, *lon = NULL, *note = NULL,
                *reporter = NULL, *ddx = NULL;
    static const char *const known[] = { "kind", "village", "signs", "syndrome", "animals",
        "event_date", "lat", "lon", "note", "reporter", "ddx" };
    const cJSON **slot[] = { &kind, &village, &signs, &syndrome, &animals, &date, &lat, &lon,
                             &note, &reporter, &ddx };
    enum verr_code c;
    int r;

    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
    if (!cJSON_IsObject(doc))
        return verr_fail(err, VERR_TYPE, "report", "a JSON object");
    cJSON_ArrayForEach(f, doc) {
        size_t k;
        for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
            if (strcmp(f->string, known[k]) == 0)
                break;
        if (k == sizeof(known) / sizeof(known[0]))
            return verr_fail(err, VERR_UNKNOWN_FIELD, f->string, NULL);
        if (*slot[k])
            return verr_fail(err, VERR_DUPLICATE, f->string, NULL);
        *slot[k] = f;
    }

    if (!kind)
        return verr_fail(err, VERR_REQUIRED, "kind", NULL);
    if (!cJSON_IsString(kind) || (strcasecmp(kind->valuestring, "U") != 0 &&
                                  strcasecmp(kind->valuestring, "P") != 0))
        return verr_fail(err, VERR_UNKNOWN_CODE, "kind", "U or P");
    out->kind = (char)toupper((unsigned char)kind->valuestring[0]);

    if (!village)
        return verr_fail(err, VERR_REQUIRED, "village", NULL);
    if (!cJSON_IsString(village))
        return verr_fail(err, VERR_TYPE, "village", "string");
    c = validate_village(v, village->valuestring, out->village);
    if (c != VERR_NONE)
        return verr_fail(err, c, "village", village->valuestring);

    if (out->kind == 'U') {
        if (syndrome)
            return verr_fail(err, VERR_CONFLICT, "syndrome", "kind U takes signs");
        if (!signs)
            return verr_fail(err, VERR_REQUIRED, "signs", NULL);
        r = code_array(v, signs, "signs", "sign", out->signs, V_MAX_CODES, &out->n_signs, err);
        if (r < 0)
            return r;
        if (out->n_signs == 0)
            return verr_fail(err, VERR_EMPTY, "signs", NULL);
    } else {
        if (signs)
            return verr_fail(err, VERR_CONFLICT, "signs", "kind P takes a syndrome");
        if (!syndrome)
            return verr_fail(err, VERR_REQUIRED, "syndrome", NULL);
        if (!cJSON_IsString(syndrome))
            return verr_fail(err, VERR_TYPE, "syndrome", "string");
        if (validate_code_copy(syndrome->valuestring, out->syndrome, sizeof(out->syndrome)) < 0 ||
            !validator_has_code(v, "syndrome", out->syndrome))
            return verr_fail(err, VERR_UNKNOWN_CODE, "syndrome", syndrome->valuestring);
    }

    if (!animals)
        return verr_fail(err, VERR_REQUIRED, "animals", NULL);
    r = animals_array(v, animals, out, err);
    if (r < 0)
        return r;

    if (ddx) {
        r = code_array(v, ddx, "ddx", "disease", out->ddx, V_MAX_DDX, &out->n_ddx, err);
        if (r < 0)
            return r;
    }

    if (!date)
        return verr_fail(err, VERR_REQUIRED, "event_date", NULL);
    if (!cJSON_IsString(date))
        return verr_fail(err, VERR_TYPE, "event_date", "string");
    c = validate_date(date->valuestring);
    if (c != VERR_NONE)
        return verr_fail(err, c, "event_date", date->valuestring);
    memcpy(out->event_date, date->valuestring, 11);

    if (lat || lon) {
        if (!lat || !lon)
            return verr_fail(err, VERR_POINT, lat ? "lon" : "lat", NULL);
        if (!cJSON_IsNumber(lat) || !cJSON_IsNumber(lon))
            return verr_fail(err, VERR_TYPE, cJSON_IsNumber(lat) ? "lon" : "lat", "number");
        if (!validate_point(lat->valuedouble, lon->valuedouble))
            return verr_fail(err, VERR_POINT, "lat", NULL);
        out->has_point = 1;
        out->lat = lat->valuedouble;
        out->lon = lon->valuedouble;
    }

    if (note && !cJSON_IsNull(note)) {
        if (!cJSON_IsString(note))
            return verr_fail(err, VERR_TYPE, "note", "string");
        if (strlen(note->valuestring) > V_NOTE_MAX)
            return verr_fail(err, VERR_TOO_LONG, "note", NULL);
        if (!utf8_valid(note->valuestring, strlen(note->valuestring), UTF8_TEXT))
            return verr_fail(err, VERR_ENCODING, "note", NULL);
        memcpy(out->note, note->valuestring, strlen(note->valuestring) + 1);
    }

    if (reporter && !cJSON_IsNull(reporter)) {
        if (!cJSON_IsString(reporter))
            return verr_fail(err, VERR_TYPE, "reporter", "string");
        if (phone_normalize(reporter->valuestring, out->reporter) < 0)
            return verr_fail(err, VERR_PHONE, "reporter", reporter->valuestring);
        if (!validator_has_officer(v, out->reporter))
            return verr_fail(err, VERR_NOT_OFFICER, "reporter", out->reporter);
    }
    return 0;
}

/* ------------------------------------------------------------ the other kinds */


/* A refusal of the table-driven decoder. Unlike verr_fail() it cuts a long
 * detail without "...": the API has always answered these details so. */
static int jfail(struct verr *e, enum verr_code c, const char *field, const char *detail)
{
    e->code = c;
    snprintf(e->field, sizeof(e->field), "%s", field);
    snprintf(e->detail, sizeof(e->detail), "%s", detail ? detail : "");
    return -EINVAL;
}

static int herd_decode(const cJSON *arr, const struct rec_field *sp, struct herd_count *out,
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
static int json_decode(struct store *s, const cJSON *doc, const struct rec_field *spec, size_t n_spec,
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
        const struct rec_field *sp = &spec[k];
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

int validate_record_json(struct validator *v, enum rec_kind kind, const cJSON *doc, void *out,
                         struct verr *err)
{
    const struct rec_kind_info *k = rec_kind(kind);
    int r;

    assert(out);
    if (!k->fields)
        return validate_case_report(v, doc, out, err);
    memset(out, 0, k->size);
    memset(err, 0, sizeof(*err));
    if (!cJSON_IsObject(doc))
        return jfail(err, VERR_TYPE, "record", "a JSON object");
    r = json_decode(validator_store(v), doc, k->fields, k->n_fields, out, err);
    if (r == 0)
        r = validate_record(v, kind, out, err);
    /* the checks name the record's column; the JSON takes a case by its reference */
    if (r == -EINVAL && strcmp(err->field, "case_id") == 0)
        snprintf(err->field, sizeof(err->field), "case_ref");
    return r;
}
