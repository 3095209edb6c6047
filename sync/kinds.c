/* kinds.c - the table of record kinds (see kinds.h). The columns are those
 * of schema/node/ and schema/central/; a change here goes with a migration
 * on both sides (docs/hacking.md). */
#include "kinds.h"

#include <string.h>

#define REQ COL_REQUIRED
/* every synced row: docs/data-model.md, Conventions */
#define STAMP \
    { "id", COL_ID, REQ, CHECK_NONE, NULL }, { "origin", COL_ORIGIN, REQ, CHECK_NONE, NULL }, \
    { "hlc", COL_HLC, REQ, CHECK_NONE, NULL }, { "deleted", COL_BIT, REQ, CHECK_NONE, NULL }, \
    { "created_at", COL_TS, REQ, CHECK_NONE, NULL }, \
    { "updated_at", COL_TS, REQ, CHECK_NONE, NULL }
#define TEXT(name, flags) { name, COL_TEXT, flags, CHECK_NONE, NULL }
#define VILLAGE(name) { name, COL_TEXT, REQ, CHECK_VILLAGE, NULL }
#define CODE(name, flags, list) { name, COL_TEXT, flags, CHECK_CODE, list }
#define DATE(name) { name, COL_DATE, REQ, CHECK_NONE, NULL }
#define HERD(name, flags) { name, COL_JSON, flags, CHECK_HERD, NULL }
#define NOTES TEXT("reporter", 0), TEXT("note", 0)

static const struct kind_col officer[] = { STAMP,
    TEXT("name", REQ), CODE("role", REQ, "role"), TEXT("phone", REQ),
    { "district", COL_TEXT, REQ, CHECK_IN_DISTRICT, NULL },
    { "village", COL_TEXT, 0, CHECK_VILLAGE, NULL } };
static const struct kind_col case_report[] = { STAMP,
    TEXT("ref", REQ), TEXT("kind", REQ), VILLAGE("village"), CODE("syndrome", 0, "syndrome"),
    { "signs", COL_JSON, 0, CHECK_CODES, "sign" }, HERD("animals", REQ),
    { "ddx", COL_JSON, 0, CHECK_CODES, "disease" }, DATE("event_date"), NOTES,
    { "lon", COL_LON, 0, CHECK_NONE, NULL }, { "lat", COL_LAT, 0, CHECK_NONE, NULL } };
static const struct kind_col case_followup[] = { STAMP,
    TEXT("case_id", REQ), CODE("outcome", 0, "outcome"), HERD("animals", 0),
    { "escalate", COL_BIT, 0, CHECK_NONE, NULL }, DATE("event_date"), NOTES };
static const struct kind_col vaccination[] = { STAMP,
    TEXT("program", REQ), CODE("disease", 0, "disease"), VILLAGE("village"), HERD("animals", REQ),
    DATE("event_date"), NOTES };
static const struct kind_col treatment[] = { STAMP,
    TEXT("case_id", 0), VILLAGE("village"), CODE("species", REQ, "species"), TEXT("drug", REQ),
    { "n_animals", COL_INT, REQ, CHECK_NONE, NULL }, DATE("event_date"), NOTES };
static const struct kind_col movement_permit[] = { STAMP,
    TEXT("permit_no", REQ), TEXT("owner_id", REQ), TEXT("owner_phone", 0),
    { "from_area", COL_TEXT, REQ, CHECK_AREA_HERE, NULL },
    { "to_area", COL_TEXT, REQ, CHECK_AREA, NULL }, HERD("animals", REQ),
    DATE("issue_date"), NOTES };
static const struct kind_col slaughter_report[] = { STAMP,
    TEXT("abattoir", 0), VILLAGE("village"), CODE("species", REQ, "species"),
    { "n_animals", COL_INT, REQ, CHECK_NONE, NULL }, DATE("event_date"), NOTES };
static const struct kind_col population_report[] = { STAMP,
    VILLAGE("village"), HERD("animals", REQ), DATE("event_date"), NOTES };

static const struct kind_col area[] = {
    TEXT("code", REQ), { "level", COL_INT, REQ, CHECK_NONE, NULL }, TEXT("parent_code", 0),
    TEXT("name", REQ), { "hlc", COL_HLC, REQ, CHECK_NONE, NULL } };
static const struct kind_col code_list[] = {
    TEXT("list", REQ), TEXT("code", REQ), TEXT("label_id", REQ), TEXT("label_en", REQ),
    TEXT("parent", 0), { "active", COL_INT, REQ, CHECK_NONE, NULL },
    { "hlc", COL_HLC, REQ, CHECK_NONE, NULL } };

#define N(a) (int)(sizeof(a) / sizeof(a[0]))
#define SYNCED(t, dcol, sender, rules) \
    { #t, t, N(t), 1, "id", "r.id", dcol, sender, rules }

const struct record_kind record_kinds[] = {
    SYNCED(officer, "district", 0, 0),
    SYNCED(case_report, "village", 0, RULE_CASE_KIND | RULE_CASE_COUNTS),
    SYNCED(case_followup, "district", 1, RULE_FOLLOWUP_COUNTS),
    SYNCED(vaccination, "village", 0, 0),
    SYNCED(treatment, "village", 0, 0),
    SYNCED(movement_permit, "from_area", 0, 0),
    SYNCED(slaughter_report, "village", 0, 0),
    SYNCED(population_report, "village", 0, 0),
    { "area", area, N(area), 0, "code", "r.code", NULL, 0, 0 },
    { "code_list", code_list, N(code_list), 0, "list, code", "r.list || '/' || r.code", NULL, 0,
      0 },
};
const int record_kinds_count = N(record_kinds);

int record_kind_index(const char *table)
{
    for (int i = 0; i < record_kinds_count; i++)
        if (strcmp(record_kinds[i].table, table) == 0)
            return i;
    return -1;
}

const struct record_kind *record_kind_find(const char *table)
{
    int i = record_kind_index(table);

    return i < 0 ? NULL : &record_kinds[i];
}

const struct kind_col *kind_col_find(const struct record_kind *k, const char *name)
{
    for (int i = 0; i < k->ncols; i++)
        if (strcmp(k->cols[i].name, name) == 0)
            return &k->cols[i];
    return NULL;
}
