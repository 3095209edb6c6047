/* validate.h - the one validator for field records, whatever their way in
 * (CLI, JSON import, web form, SMS). It checks a record against this node's
 * reference data and turns it into a normalised C struct; on a refusal it
 * names the field and the reason, in Bahasa Indonesia and in English. */
#ifndef SIKHNAS_VALIDATE_H
#define SIKHNAS_VALIDATE_H

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define V_MAX_ANIMALS  16
#define V_MAX_CODES    16
#define V_MAX_DDX      8
#define V_NOTE_MAX     1000    /* bytes of UTF-8 */
#define V_COUNT_MAX    10000000
#define V_NAME_MAX     100

enum verr_code {
    VERR_NONE = 0,
    VERR_REQUIRED,        /* a field that must be given is missing */
    VERR_TYPE,            /* wrong JSON type */
    VERR_UNKNOWN_FIELD,
    VERR_TOO_LONG,
    VERR_TOO_MANY,
    VERR_EMPTY,
    VERR_UNKNOWN_CODE,
    VERR_OUTSIDE_DISTRICT,
    VERR_COUNT,           /* not a non-negative integer in range */
    VERR_DATE_FORMAT,
    VERR_DATE_FUTURE,
    VERR_DATE_OLD,
    VERR_POINT,           /* outside Indonesia, or only one of lat/lon */
    VERR_PHONE,
    VERR_NOT_OFFICER,
    VERR_DUPLICATE,
    VERR_CONFLICT,        /* fields that exclude each other */
    VERR_SYNTAX,          /* not JSON at all */
    VERR_ENCODING,        /* not UTF-8, a control character or a NUL */
    /* counts of one species that contradict each other (docs/data-model.md,
     * "Counts"); the API calls all three "count_conflict" */
    VERR_COUNT_NONE,      /* a case report: sick + dead < 1 */
    VERR_COUNT_OVER,      /* a case report: sick + dead > at_risk (at_risk > 0) */
    VERR_COUNT_OVER_FU,   /* a follow-up: sick + dead + culled > at_risk (at_risk > 0) */
    /* who may write what (access.h), not the record's shape */
    VERR_FORBIDDEN,       /* the role may not write this kind */
    VERR_NOT_OWN_VILLAGE, /* a village reporter, for another village */
    VERR_NOT_SELF,        /* a village reporter, as another officer */
};

struct verr {
    enum verr_code code;
    char field[48];       /* "animals[1].sick", "village", ... */
    char detail[96];      /* the offending value, shortened */
};

/* The reason, without the field, in "id" (default) or "en". */
const char *verr_reason(const struct verr *e, const char *lang);
/* "field: reason (detail)" into buf. */
void verr_format(const struct verr *e, const char *lang, char *buf, size_t cap);

struct animal_count {
    char species[8];
    int64_t sick, dead, at_risk;
};

struct case_report_in {
    char kind;                         /* 'U' or 'P' */
    char village[11];
    char syndrome[8];
    char signs[V_MAX_CODES][8];
    int n_signs;
    struct animal_count animals[V_MAX_ANIMALS];
    int n_animals;
    char ddx[V_MAX_DDX][8];
    int n_ddx;
    char event_date[11];               /* YYYY-MM-DD */
    char reporter[20];                 /* +62..., or "" */
    char note[V_NOTE_MAX + 1];
    int has_point;
    double lat, lon;
};

struct validator;

/* A validator caches this node's villages and the code lists; it belongs to
 * one store. validator_reload() after reference data changed. */
int  validator_new(struct store *s, struct validator **ret);
void validator_free(struct validator *v);
int  validator_reload(struct validator *v);

/* Parses the JSON text of a record (len bytes; NUL-terminated or not). A NUL
 * byte or a "\u0000" escape anywhere in it is refused as VERR_ENCODING,
 * naming the top-level field it is in ("body" outside any): cJSON would cut
 * the string there, and "SP\u0000X" would pass as "SP". Text that is not
 * JSON is VERR_SYNTAX on "body". Returns 0 with *doc set (the caller frees
 * it), or -EINVAL with *err set; -ENOMEM. Every way in that takes JSON text
 * (web, report add, import) parses through here. */
int validate_json_parse(const char *text, size_t len, cJSON **doc, struct verr *err);

/* Validates a case report given as JSON. Returns 0, or -EINVAL with *err set.
 * Besides each field, the counts of each species must agree: sick + dead
 * >= 1, and sick + dead <= at_risk when at_risk > 0 (0: not counted). */
int validate_case_report(struct validator *v, const cJSON *doc,
                         struct case_report_in *out, struct verr *err);

/* Checks one code against a list ("species", "sign", "syndrome", "disease",
 * "outcome", "role"); codes are upper-cased except roles. 1 if known. */
int validator_has_code(struct validator *v, const char *list, const char *code);
/* 1 if code (10 digits) is a village of this node's district. */
int validator_has_village(struct validator *v, const char *code);

/* Normalises +62…, 62… or 08… into "+62…" (9-13 digits after 62).
 * Returns 0 or -EINVAL. */
int phone_normalize(const char *in, char out[20]);

/* Checks "YYYY-MM-DD": a real date, not before 2000, not after today in
 * Indonesia's easternmost time zone (UTC+9). Returns VERR_NONE or the code. */
enum verr_code validate_date(const char *s);

/* 1 when lat/lon lie within Indonesia's bounding box. */
int validate_point(double lat, double lon);

/* Normalises a village code with or without dots; VERR_NONE, or the code. */
enum verr_code validate_village(struct validator *v, const char *in, char out[11]);


/* Counts of one species (or breed) in a follow-up, vaccination, population
 * or movement record; n[] in the order of the record kind (see each struct). */
struct herd_count {
    char species[8];
    int64_t n[4];
};

/* A case follow-up: PK (outcome) and/or LTL (counts per species: n[] = sick,
 * dead, culled, at risk; escalate 1 Y, 0 T, -1 not given). For each species
 * with at_risk > 0: sick + dead + culled <= at_risk. */
struct followup_in {
    char case_id[40];                  /* case_report.id, found by the caller */
    char outcome[3];                   /* "" or SB, MS, MT */
    struct herd_count animals[V_MAX_ANIMALS];
    int n_animals;
    int escalate;
    char event_date[11];
    char reporter[20];
};

/* A vaccination (VAK): n[] = primary, booster. */
struct vaccination_in {
    char program[24];
    char village[11];
    struct herd_count animals[V_MAX_ANIMALS];
    int n_animals;
    char event_date[11];
    char reporter[20];
};

/* A population report (POP): n[0] = head counted. */
struct population_in {
    char village[11];
    struct herd_count animals[V_MAX_ANIMALS];
    int n_animals;
    char event_date[11];
    char reporter[20];
};

/* A movement permit request (SK, SKKH): n[0] = head moved. */
struct permit_in {
    char owner_id[24];
    char owner_phone[20];              /* normalised, or "" */
    char from_area[11];                /* a village of this district */
    char to_area[11];                  /* a district, kecamatan or village code */
    struct herd_count animals[V_MAX_ANIMALS];
    int n_animals;
    char issue_date[11];
    char reporter[20];
};


/* A treatment (OBI): one species, a drug, how many head were treated;
 * case_id is "" or the case_report.id the caller found. */
struct treatment_in {
    char case_id[40];
    char village[11];
    char species[8];
    char drug[V_NAME_MAX + 1];
    int64_t n_animals;
    char event_date[11];
    char reporter[20];
    char note[V_NOTE_MAX + 1];
};

/* A slaughter report: the abattoir (RPH) id when known, one species. */
struct slaughter_in {
    char abattoir[24];
    char village[11];
    char species[8];
    int64_t n_animals;
    char event_date[11];
    char reporter[20];
    char note[V_NOTE_MAX + 1];
};

/* ------------------------------------------------------------ the record kinds
 *
 * What the validator knows of each kind of record, in one table
 * (validate_record.c, rec_kinds[]): the C struct above it is validated into,
 * its fields as the JSON names them, its check, the table that keeps it
 * (an entry of sync/kinds.c) and the API's collection. The node's other
 * parts read the kind from here: records.c inserts by its fields and
 * numbers, access.c finds its village and reporter, web.c routes
 * /api/v1/<collection> and web_read.c lists its table. Adding a kind:
 * docs/hacking.md. */

enum rec_kind {
    REC_CASE,                   /* struct case_report_in */
    REC_FOLLOWUP,               /* struct followup_in */
    REC_VACCINATION,            /* struct vaccination_in */
    REC_TREATMENT,              /* struct treatment_in */
    REC_MOVEMENT,               /* struct permit_in */
    REC_SLAUGHTER,              /* struct slaughter_in */
    REC_POPULATION,             /* struct population_in */
    REC_KIND_COUNT
};

/* A field of a record kind's validated struct: its name in the JSON (the
 * column's name, but case_ref for the column case_id), how it is read, and
 * where it is. records.c inserts a record from the same table. */
enum jtype { J_STR, J_INT, J_YESNO, J_HERD, J_CASE_REF };

struct rec_field {
    const char *name;
    enum jtype type;
    size_t off;                 /* the field in the struct */
    size_t cap;                 /* J_STR: buffer size; J_HERD: offset of the count */
    int required;               /* J_INT: must be given */
    const char *const *counts;  /* J_HERD: names of n[] (the JSON keys of each element) */
    int n_counts;
};

struct rec_kind_info {
    const char *table;          /* its table in the store, and its entry in sync/kinds.c */
    const char *collection;     /* the API's GET and POST /api/v1/<collection>; NULL: none */
    size_t size;                /* of the validated struct */
    const struct rec_field *fields;     /* NULL: a case report (validate_case_report()) */
    size_t n_fields;
    /* the kind's checks on its struct (validate_record()); NULL: a case report */
    int (*check)(struct validator *v, void *rec, struct verr *err);
    /* where access_check() finds the place and the one who reports: the
     * village's field (its name in a refusal; NULL: the kind has none, as a
     * follow-up, which is its case's) and the reporter's (char[20]) */
    const char *village_field;
    size_t village_off, reporter_off;
    /* a kind that numbers its rows "DDDD-<infix>-NNNNNN": the column, and
     * the meta key that counts them (NULL: no number; a case report's ref
     * is store_next_ref()'s) */
    const char *number_col, *number_meta, *number_infix;
};

/* The description of kind (< REC_KIND_COUNT); never NULL. */
const struct rec_kind_info *rec_kind(enum rec_kind kind);

/* Decodes and validates a record of kind given as a JSON object (the API's
 * body, docs/api.md), whatever the channel: every record's JSON is decoded
 * here. out is the kind's struct (rec_kind(kind)->size bytes; this zeroes
 * it). A case report is validate_case_report(); the other kinds are decoded
 * field by field (a known key, of the right JSON type, that fits; a
 * case_ref is looked up among the live case reports) and then checked as
 * validate_record() checks them. A refusal names the field as the JSON does
 * (case_ref, not case_id). Returns 0, -EINVAL with *err set, or -errno from
 * the store (a case_ref look-up). */
int validate_record_json(struct validator *v, enum rec_kind kind, const cJSON *doc, void *out,
                         struct verr *err);

#define VERR_ALL_MAX 8

/* As validate_record_json(), but with every refusal of doc at once, up to
 * max (<= VERR_ALL_MAX) into errs[0..], in the validator's order: each
 * refused field is set aside and the rest checked again (validate_all.c).
 * Returns 0 when doc passes (out filled), the number of refusals (1..max;
 * errs[0] is what validate_record_json() says; out is then undefined), or
 * -errno from the store. */
int validate_record_json_all(struct validator *v, enum rec_kind kind, const cJSON *doc, void *out,
                             struct verr *errs, int max);

/* Validates a record of kind (any but REC_CASE) filled in C, by the SMS
 * handler or by validate_record_json(); in is the kind's struct above:
 * codes known (upper-cased in place), counts 0..V_COUNT_MAX, no species
 * twice, villages in the district, dates, the reporter a registered
 * officer, and each kind's own rules. Returns 0, or -EINVAL with *err set
 * (field as the struct names it: case_id, not case_ref). */
int validate_record(struct validator *v, enum rec_kind kind, void *in, struct verr *err);

#endif
