/* validate_record.c - the record kinds: the checks of the kinds other than
 * case reports (follow-up, vaccination, population, movement permit,
 * treatment, slaughter) on their C structs, as the SMS handler fills them
 * and as validate_json.c decodes them from JSON (codes known, counts in
 * range, no species twice, villages of the district, dates, the reporter an
 * officer); their JSON fields; and rec_kinds[], the one table of what the
 * node knows of each kind (validate.h). */
#include "validate.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "refdata.h"
#include "utf8.h"
#include "validate_int.h"

static int herd_check(struct validator *v, struct herd_count *a, int n, int n_counts,
                      struct verr *err)
{
    char name[48];

    if (n <= 0)
        return verr_fail(err, VERR_EMPTY, "animals", NULL);
    if (n > V_MAX_ANIMALS)
        return verr_fail(err, VERR_TOO_MANY, "animals", NULL);
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "animals[%d].species", i);
        if (validate_code_copy(a[i].species, a[i].species, sizeof(a[i].species)) < 0 ||
            !validator_has_code(v, "species", a[i].species))
            return verr_fail(err, VERR_UNKNOWN_CODE, name, a[i].species);
        for (int j = 0; j < i; j++)
            if (strcmp(a[j].species, a[i].species) == 0)
                return verr_fail(err, VERR_DUPLICATE, name, a[i].species);
        for (int k = 0; k < n_counts; k++) {
            if (a[i].n[k] < 0 || a[i].n[k] > V_COUNT_MAX) {
                snprintf(name, sizeof(name), "animals[%d]", i);
                return verr_fail(err, VERR_COUNT, name, NULL);
            }
        }
    }
    return 0;
}

static int date_check(const char *date, const char *field, struct verr *err)
{
    enum verr_code c = validate_date(date);
    return c == VERR_NONE ? 0 : verr_fail(err, c, field, date);
}

static int reporter_check(struct validator *v, char reporter[20], struct verr *err)
{
    char norm[20];

    if (!reporter[0])
        return 0;
    if (phone_normalize(reporter, norm) < 0)
        return verr_fail(err, VERR_PHONE, "reporter", reporter);
    memcpy(reporter, norm, sizeof(norm));
    if (!validator_has_officer(v, reporter))
        return verr_fail(err, VERR_NOT_OFFICER, "reporter", reporter);
    return 0;
}

static int village_check(struct validator *v, char village[11], struct verr *err)
{
    char tmp[16];
    enum verr_code c;

    if (!village[0])
        return verr_fail(err, VERR_REQUIRED, "village", NULL);
    snprintf(tmp, sizeof(tmp), "%s", village);
    c = validate_village(v, tmp, village);
    return c == VERR_NONE ? 0 : verr_fail(err, c, "village", tmp);
}

static int followup_check(struct validator *v, void *rec, struct verr *err)
{
    struct followup_in *in = rec;
    int r;

    memset(err, 0, sizeof(*err));
    if (!in->case_id[0])
        return verr_fail(err, VERR_REQUIRED, "case_id", NULL);
    if (in->outcome[0]) {
        if (validate_code_copy(in->outcome, in->outcome, sizeof(in->outcome)) < 0 ||
            !validator_has_code(v, "outcome", in->outcome))
            return verr_fail(err, VERR_UNKNOWN_CODE, "outcome", in->outcome);
    } else if (in->n_animals == 0) {
        return verr_fail(err, VERR_REQUIRED, "outcome", NULL);   /* neither PK nor LTL */
    }
    if (in->n_animals) {
        r = herd_check(v, in->animals, in->n_animals, 4, err);
        if (r < 0)
            return r;
    }
    for (int i = 0; i < in->n_animals; i++) {
        const int64_t *n = in->animals[i].n;        /* sick, dead, culled, at risk */
        char name[24];
        snprintf(name, sizeof(name), "animals[%d]", i);
        if (validate_counts_conflict(n[0] + n[1] + n[2], n[3], VERR_COUNT_OVER_FU, name, err))
            return -EINVAL;
    }
    if (in->escalate < -1 || in->escalate > 1)
        return verr_fail(err, VERR_TYPE, "escalate", NULL);
    r = date_check(in->event_date, "event_date", err);
    return r < 0 ? r : reporter_check(v, in->reporter, err);
}

/* A herd counted in a village on a date (n_counts of each n[]), by reporter. */
static int village_herd_check(struct validator *v, char village[11], struct herd_count *a,
                              int n, int n_counts, const char *date, char reporter[20],
                              struct verr *err)
{
    int r = village_check(v, village, err);

    if (r == 0)
        r = herd_check(v, a, n, n_counts, err);
    if (r == 0)
        r = date_check(date, "event_date", err);
    return r < 0 ? r : reporter_check(v, reporter, err);
}

static int vaccination_check(struct validator *v, void *rec, struct verr *err)
{
    struct vaccination_in *in = rec;
    memset(err, 0, sizeof(*err));
    if (!in->program[0])
        return verr_fail(err, VERR_REQUIRED, "program", NULL);
    if (!utf8_valid(in->program, strlen(in->program), UTF8_TEXT))
        return verr_fail(err, VERR_ENCODING, "program", NULL);
    return village_herd_check(v, in->village, in->animals, in->n_animals, 2, in->event_date,
                              in->reporter, err);
}

static int population_check(struct validator *v, void *rec, struct verr *err)
{
    struct population_in *in = rec;
    memset(err, 0, sizeof(*err));
    return village_herd_check(v, in->village, in->animals, in->n_animals, 1, in->event_date,
                              in->reporter, err);
}

static int permit_check(struct validator *v, void *rec, struct verr *err)
{
    struct permit_in *in = rec;
    char tmp[16], norm[20];
    int r, lvl;

    memset(err, 0, sizeof(*err));
    if (!in->owner_id[0])
        return verr_fail(err, VERR_REQUIRED, "owner_id", NULL);
    if (!utf8_valid(in->owner_id, strlen(in->owner_id), UTF8_TEXT))
        return verr_fail(err, VERR_ENCODING, "owner_id", NULL);
    if (in->owner_phone[0]) {
        if (phone_normalize(in->owner_phone, norm) < 0)
            return verr_fail(err, VERR_PHONE, "owner_phone", in->owner_phone);
        memcpy(in->owner_phone, norm, sizeof(norm));
    }
    r = village_check(v, in->from_area, err);
    if (r < 0) {
        snprintf(err->field, sizeof(err->field), "from_area");
        return r;
    }
    snprintf(tmp, sizeof(tmp), "%s", in->to_area);
    lvl = refdata_area_code(tmp, in->to_area, sizeof(in->to_area));
    if (lvl < 2)
        return verr_fail(err, VERR_UNKNOWN_CODE, "to_area", tmp);
    if (strncmp(in->to_area, in->from_area, strlen(in->to_area)) == 0)
        return verr_fail(err, VERR_CONFLICT, "to_area", "the same area as from_area");
    r = herd_check(v, in->animals, in->n_animals, 1, err);
    if (r == 0)
        r = date_check(in->issue_date, "issue_date", err);
    return r < 0 ? r : reporter_check(v, in->reporter, err);
}

/* One species code and a head count, as treatment and slaughter carry them. */
static int species_count_check(struct validator *v, char species[8], int64_t n,
                               struct verr *err)
{
    if (!species[0])
        return verr_fail(err, VERR_REQUIRED, "species", NULL);
    if (validate_code_copy(species, species, 8) < 0 || !validator_has_code(v, "species", species))
        return verr_fail(err, VERR_UNKNOWN_CODE, "species", species);
    if (n < 0 || n > V_COUNT_MAX)
        return verr_fail(err, VERR_COUNT, "n_animals", NULL);
    return 0;
}

static int note_check(const char *note, struct verr *err)
{
    if (strlen(note) > V_NOTE_MAX)
        return verr_fail(err, VERR_TOO_LONG, "note", NULL);
    return utf8_valid(note, strlen(note), UTF8_TEXT) ? 0 : verr_fail(err, VERR_ENCODING, "note", NULL);
}

static int treatment_check(struct validator *v, void *rec, struct verr *err)
{
    struct treatment_in *in = rec;
    int r;

    memset(err, 0, sizeof(*err));
    r = village_check(v, in->village, err);
    if (r == 0)
        r = species_count_check(v, in->species, in->n_animals, err);
    if (r < 0)
        return r;
    if (!in->drug[0])
        return verr_fail(err, VERR_REQUIRED, "drug", NULL);
    if (!utf8_valid(in->drug, strlen(in->drug), UTF8_TEXT) || strchr(in->drug, '\n'))
        return verr_fail(err, VERR_ENCODING, "drug", NULL);
    r = date_check(in->event_date, "event_date", err);
    if (r == 0)
        r = note_check(in->note, err);
    return r < 0 ? r : reporter_check(v, in->reporter, err);
}

static int slaughter_check(struct validator *v, void *rec, struct verr *err)
{
    struct slaughter_in *in = rec;
    int r;

    memset(err, 0, sizeof(*err));
    if (in->abattoir[0] && (!utf8_valid(in->abattoir, strlen(in->abattoir), UTF8_TEXT) || strchr(in->abattoir, '\n')))
        return verr_fail(err, VERR_ENCODING, "abattoir", NULL);
    r = village_check(v, in->village, err);
    if (r == 0)
        r = species_count_check(v, in->species, in->n_animals, err);
    if (r == 0)
        r = date_check(in->event_date, "event_date", err);
    if (r == 0)
        r = note_check(in->note, err);
    return r < 0 ? r : reporter_check(v, in->reporter, err);
}

/* ------------------------------------------------------------ the table of kinds */

#define JS(st, name, field) { name, J_STR, offsetof(struct st, field), \
                              sizeof(((struct st *)0)->field), 0, NULL, 0 }
#define JI(st, name, field) { name, J_INT, offsetof(struct st, field), 0, 1, NULL, 0 }
#define JH(st, names) { "animals", J_HERD, offsetof(struct st, animals), \
                        offsetof(struct st, n_animals), 0, names, \
                        (int)(sizeof(names) / sizeof(names[0])) }

static const char *const fu_counts[] = { "sick", "dead", "culled", "at_risk" };
static const char *const vac_counts[] = { "primary", "booster" };
static const char *const n_counts[] = { "n" };

static const struct rec_field followup_spec[] = {
    { "case_ref", J_CASE_REF, offsetof(struct followup_in, case_id), 0, 0, NULL, 0 },
    JS(followup_in, "outcome", outcome), JH(followup_in, fu_counts),
    { "escalate", J_YESNO, offsetof(struct followup_in, escalate), 0, 0, NULL, 0 },
    JS(followup_in, "event_date", event_date), JS(followup_in, "reporter", reporter),
};
static const struct rec_field vaccination_spec[] = {
    JS(vaccination_in, "program", program), JS(vaccination_in, "village", village),
    JH(vaccination_in, vac_counts), JS(vaccination_in, "event_date", event_date),
    JS(vaccination_in, "reporter", reporter),
};
static const struct rec_field population_spec[] = {
    JS(population_in, "village", village), JH(population_in, n_counts),
    JS(population_in, "event_date", event_date), JS(population_in, "reporter", reporter),
};
static const struct rec_field permit_spec[] = {
    JS(permit_in, "owner_id", owner_id), JS(permit_in, "owner_phone", owner_phone),
    JS(permit_in, "from_area", from_area), JS(permit_in, "to_area", to_area),
    JH(permit_in, n_counts), JS(permit_in, "issue_date", issue_date),
    JS(permit_in, "reporter", reporter),
};
static const struct rec_field treatment_spec[] = {
    { "case_ref", J_CASE_REF, offsetof(struct treatment_in, case_id), 0, 0, NULL, 0 },
    JS(treatment_in, "village", village), JS(treatment_in, "species", species),
    JS(treatment_in, "drug", drug), JI(treatment_in, "n_animals", n_animals),
    JS(treatment_in, "event_date", event_date), JS(treatment_in, "reporter", reporter),
    JS(treatment_in, "note", note),
};
static const struct rec_field slaughter_spec[] = {
    JS(slaughter_in, "abattoir", abattoir), JS(slaughter_in, "village", village),
    JS(slaughter_in, "species", species), JI(slaughter_in, "n_animals", n_animals),
    JS(slaughter_in, "event_date", event_date), JS(slaughter_in, "reporter", reporter),
    JS(slaughter_in, "note", note),
};

/* A kind: its table and collection, struct, fields, check, and where its
 * village is (vil: the field, or none); the reporter is `reporter` in every
 * struct. NUMBERED() adds the numbering of a kind that numbers its rows. */
#define KIND(tbl, coll, st, spec, chk, vil) \
    .table = tbl, .collection = coll, .size = sizeof(struct st), .fields = spec, \
    .n_fields = sizeof(spec) / sizeof((spec)[0]), .check = chk, .village_field = #vil, \
    .village_off = offsetof(struct st, vil), .reporter_off = offsetof(struct st, reporter)
#define NUMBERED(col, meta, infix) .number_col = col, .number_meta = meta, .number_infix = infix

static const struct rec_kind_info rec_kinds[REC_KIND_COUNT] = {
    /* its own decoder (validate_case_report()) and insert (case_report_insert()) */
    [REC_CASE] = { .table = "case_report", .collection = "reports",
                   .size = sizeof(struct case_report_in), .village_field = "village",
                   .village_off = offsetof(struct case_report_in, village),
                   .reporter_off = offsetof(struct case_report_in, reporter) },
    /* no village of its own: its case's */
    [REC_FOLLOWUP] = { .table = "case_followup", .collection = "followups",
                       .size = sizeof(struct followup_in), .fields = followup_spec,
                       .n_fields = sizeof(followup_spec) / sizeof(followup_spec[0]),
                       .check = followup_check,
                       .reporter_off = offsetof(struct followup_in, reporter) },
    [REC_VACCINATION] = { KIND("vaccination", "vaccinations", vaccination_in, vaccination_spec,
                               vaccination_check, village) },
    [REC_TREATMENT] = { KIND("treatment", "treatments", treatment_in, treatment_spec,
                             treatment_check, village) },
    [REC_MOVEMENT] = { KIND("movement_permit", "movements", permit_in, permit_spec,
                            permit_check, from_area),
                       NUMBERED("permit_no", "permit_seq", "SK") },
    [REC_SLAUGHTER] = { KIND("slaughter_report", "slaughters", slaughter_in, slaughter_spec,
                             slaughter_check, village) },
    [REC_POPULATION] = { KIND("population_report", "populations", population_in,
                              population_spec, population_check, village) },
};

const struct rec_kind_info *rec_kind(enum rec_kind kind)
{
    assert((unsigned)kind < REC_KIND_COUNT && rec_kinds[kind].table);
    return &rec_kinds[kind];
}

int validate_record(struct validator *v, enum rec_kind kind, void *in, struct verr *err)
{
    const struct rec_kind_info *k = rec_kind(kind);

    if (!k->check) {
        assert(!"validate_record: a case report is validate_case_report()'s");
        return -EINVAL;
    }
    return k->check(v, in, err);
}
