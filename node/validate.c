/* validate.c - checks field records against this node's reference data.
 * The villages of the district and the code lists are cached in sorted
 * arrays (a district has a few hundred villages, the lists a few hundred
 * codes), so validating one record costs no SQL but the officer look-up. */
#include "validate.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "refdata.h"
#include "utf8.h"

#define CODE_KEY_MAX 48
#define VILLAGE_W    11

struct validator {
    struct store *store;
    char *villages;                   /* n_villages sorted keys of VILLAGE_W bytes */
    size_t n_villages;
    char *codes;                      /* "list\tcode", CODE_KEY_MAX bytes each */
    size_t n_codes;
};

static const struct {
    const char *id, *en;
} verr_text[] = {
    [VERR_NONE]             = { "benar", "ok" },
    [VERR_REQUIRED]         = { "wajib diisi", "is required" },
    [VERR_TYPE]             = { "jenis isian salah", "has the wrong type" },
    [VERR_UNKNOWN_FIELD]    = { "isian tidak dikenal", "is not a known field" },
    [VERR_TOO_LONG]         = { "terlalu panjang", "is too long" },
    [VERR_TOO_MANY]         = { "terlalu banyak isian", "has too many entries" },
    [VERR_EMPTY]            = { "tidak boleh kosong", "must not be empty" },
    [VERR_UNKNOWN_CODE]     = { "kode tidak dikenal", "is not a known code" },
    [VERR_OUTSIDE_DISTRICT] = { "desa bukan di kabupaten/kota ini",
                                "is not a village of this district" },
    [VERR_COUNT]            = { "harus bilangan bulat 0 atau lebih",
                                "must be a whole number, 0 or more" },
    [VERR_DATE_FORMAT]      = { "tanggal harus berbentuk TTTT-BB-HH",
                                "must be a date as YYYY-MM-DD" },
    [VERR_DATE_FUTURE]      = { "tanggal tidak boleh di masa depan",
                                "must not be in the future" },
    [VERR_DATE_OLD]         = { "tanggal tidak boleh sebelum tahun 2000",
                                "must not be before 2000" },
    [VERR_POINT]            = { "titik harus di wilayah Indonesia (lat dan lon)",
                                "must be a point within Indonesia (lat and lon)" },
    [VERR_PHONE]            = { "nomor telepon tidak sah", "is not a valid phone number" },
    [VERR_NOT_OFFICER]      = { "bukan petugas terdaftar", "is not a registered officer" },
    [VERR_DUPLICATE]        = { "disebut dua kali", "is given twice" },
    [VERR_CONFLICT]         = { "tidak boleh bersama isian lain",
                                "cannot be given together with another field" },
    [VERR_SYNTAX]           = { "bukan JSON yang sah", "is not valid JSON" },
    [VERR_ENCODING]         = { "teks tidak sah (harus UTF-8, tanpa NUL atau karakter kendali)",
                                "is not valid text (UTF-8 without NUL or control characters)" },
    [VERR_COUNT_NONE]       = { "sakit + mati harus 1 atau lebih",
                                "sick + dead must be 1 or more" },
    [VERR_COUNT_OVER]       = { "sakit + mati tidak boleh lebih dari jumlah berisiko",
                                "sick + dead must not be more than at risk" },
    [VERR_COUNT_OVER_FU]    = { "sakit + mati + dimusnahkan tidak boleh lebih dari jumlah "
                                "berisiko", "sick + dead + culled must not be more than at risk" },
    [VERR_FORBIDDEN]        = { "peran Anda tidak boleh menulis catatan ini",
                                "your role may not write this record" },
    [VERR_NOT_OWN_VILLAGE]  = { "pelapor desa hanya boleh melapor untuk desanya sendiri",
                                "a village reporter may report only for their own village" },
    [VERR_NOT_SELF]         = { "pelapor desa hanya boleh melapor atas namanya sendiri",
                                "a village reporter may report only as themselves" },
};

const char *verr_reason(const struct verr *e, const char *lang)
{
    int en = lang && strcmp(lang, "en") == 0;
    return en ? verr_text[e->code].en : verr_text[e->code].id;
}

void verr_format(const struct verr *e, const char *lang, char *buf, size_t cap)
{
    if (e->detail[0])
        snprintf(buf, cap, "%s: %s (%s)", e->field, verr_reason(e, lang), e->detail);
    else
        snprintf(buf, cap, "%s: %s", e->field, verr_reason(e, lang));
}

static int fail(struct verr *e, enum verr_code code, const char *field, const char *detail)
{
    e->code = code;
    snprintf(e->field, sizeof(e->field), "%s", field);
    e->detail[0] = '\0';
    if (detail) {
        size_t n = strlen(detail);
        if (n < sizeof(e->detail))
            memcpy(e->detail, detail, n + 1);
        else
            snprintf(e->detail, sizeof(e->detail), "%.*s...", (int)sizeof(e->detail) - 4, detail);
    }
    return -EINVAL;
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Reads the rows of sql (one or two text columns; ?1, if present, is this
 * node's district) as sorted keys of width bytes: "a", or "a<TAB>b". */
static int load_keys(struct validator *v, const char *sql, size_t width, char **ret, size_t *n)
{
    sqlite3_stmt *st = NULL;
    char *keys = NULL;
    size_t cap = 0;
    int rc, r = 0;

    *n = 0;
    rc = sqlite3_prepare_v2(store_db(v->store), sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_error(v->store, rc);
    if (sqlite3_bind_parameter_count(st) > 0)
        sqlite3_bind_text(st, 1, store_district(v->store), -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *a = (const char *)sqlite3_column_text(st, 0);
        const char *b = sqlite3_column_count(st) > 1 ? (const char *)sqlite3_column_text(st, 1)
                                                      : NULL;
        if (*n == cap) {
            char *more = realloc(keys, (cap ? cap * 2 : 256) * width);
            if (!more) {
                r = -ENOMEM;
                goto out;
            }
            keys = more;
            cap = cap ? cap * 2 : 256;
        }
        if (b)
            snprintf(keys + *n * width, width, "%s\t%s", a ? a : "", b);
        else
            snprintf(keys + *n * width, width, "%s", a ? a : "");
        (*n)++;
    }
    if (rc != SQLITE_DONE) {
        r = store_error(v->store, rc);
        goto out;
    }
    qsort(keys, *n, width, cmp_key);
    *ret = keys;
    keys = NULL;
out:
    sqlite3_finalize(st);
    free(keys);
    if (r < 0)
        *n = 0;
    return r;
}

int validator_reload(struct validator *v)
{
    int r;

    free(v->villages);
    free(v->codes);
    v->villages = v->codes = NULL;
    r = load_keys(v, "SELECT code FROM area WHERE level = 4 AND substr(code, 1, 4) = ?1",
                  VILLAGE_W, &v->villages, &v->n_villages);
    if (r == 0)
        r = load_keys(v, "SELECT list, code FROM code_list WHERE active = 1",
                      CODE_KEY_MAX, &v->codes, &v->n_codes);
    return r;
}

int validator_new(struct store *s, struct validator **ret)
{
    struct validator *v = calloc(1, sizeof(*v));
    int r;

    if (!v)
        return -ENOMEM;
    v->store = s;
    r = validator_reload(v);
    if (r < 0) {
        validator_free(v);
        return r;
    }
    *ret = v;
    return 0;
}

void validator_free(struct validator *v)
{
    if (!v)
        return;
    free(v->villages);
    free(v->codes);
    free(v);
}

int validator_has_code(struct validator *v, const char *list, const char *code)
{
    char key[CODE_KEY_MAX];
    int n = snprintf(key, sizeof(key), "%s\t%s", list, code);

    if (n < 0 || (size_t)n >= sizeof(key))
        return 0;
    return v->codes && bsearch(key, v->codes, v->n_codes, CODE_KEY_MAX, cmp_key) != NULL;
}

int validator_has_village(struct validator *v, const char *code)
{
    if (strlen(code) != 10)
        return 0;
    return v->villages && bsearch(code, v->villages, v->n_villages, VILLAGE_W, cmp_key) != NULL;
}

int phone_normalize(const char *in, char out[20])
{
    char digits[20];
    size_t n = 0;
    const char *p = in;

    if (*p == '+')
        p++;
    for (; *p; p++) {
        if (*p == ' ' || *p == '-')
            continue;
        if (!isdigit((unsigned char)*p) || n >= 16)
            return -EINVAL;
        digits[n++] = *p;
    }
    digits[n] = '\0';
    if (in[0] == '+' && strncmp(digits, "62", 2) != 0)
        return -EINVAL;                      /* a foreign number */
    if (digits[0] == '0')
        snprintf(out, 20, "+62%.15s", digits + 1);
    else if (strncmp(digits, "62", 2) == 0)
        snprintf(out, 20, "+%.16s", digits);
    else
        return -EINVAL;
    n = strlen(out) - 3;                     /* digits after +62 */
    if (n < 9 || n > 13 || out[3] == '0')
        return -EINVAL;
    return 0;
}

enum verr_code validate_date(const char *s)
{
    int y, m, d, len = 0;
    struct tm tm = {0}, now_tm;
    time_t t, now;
    char today[11];

    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &len) != 3 || len != 10 ||
        s[4] != '-' || s[7] != '-' || !isdigit((unsigned char)s[5]) || !isdigit((unsigned char)s[8]))
        return VERR_DATE_FORMAT;
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    t = timegm(&tm);
    gmtime_r(&t, &tm);                       /* 2026-02-30 comes back as March */
    if (m < 1 || m > 12 || tm.tm_mday != d || tm.tm_mon != m - 1)
        return VERR_DATE_FORMAT;
    if (y < 2000)
        return VERR_DATE_OLD;
    now = time(NULL) + 9 * 3600;             /* WIT, UTC+9: it is already "today" there */
    gmtime_r(&now, &now_tm);
    strftime(today, sizeof(today), "%Y-%m-%d", &now_tm);
    if (strcmp(s, today) > 0)
        return VERR_DATE_FUTURE;
    return VERR_NONE;
}

int validate_point(double lat, double lon)
{
    /* Indonesia from Sabang to Merauke, Miangas to Rote, with a margin */
    return isfinite(lat) && isfinite(lon) && lat >= -11.5 && lat <= 6.5 &&
           lon >= 94.5 && lon <= 141.5;
}

enum verr_code validate_village(struct validator *v, const char *in, char out[11])
{
    char code[16];
    int lvl = refdata_area_code(in, code, sizeof(code));

    if (lvl != 4)
        return VERR_UNKNOWN_CODE;
    memcpy(out, code, 11);
    if (!validator_has_village(v, code))
        return strncmp(code, store_district(v->store), 4) == 0 ? VERR_UNKNOWN_CODE
                                                               : VERR_OUTSIDE_DISTRICT;
    return VERR_NONE;
}


/* The top-level key of a string that starts at t[i] (after its quote),
 * copied up to its first escape, into key. */
static void copy_key(const char *t, size_t i, size_t end, char *key, size_t cap)
{
    size_t n = 0;

    while (i < end && t[i] != '\\' && n + 1 < cap)
        key[n++] = t[i++];
    key[n] = '\0';
}

/* Looks for a NUL byte or a \u0000 escape in JSON text, tracking the key of
 * the top-level object each string belongs to. Malformed text is left to
 * the parser. 0, or -EINVAL with *err naming the field. */
static int nul_scan(const char *t, size_t len, struct verr *err)
{
    char key[sizeof(err->field)] = "";
    int depth = 0, expect_key = 0;

    for (size_t i = 0; i < len; i++) {
        switch (t[i]) {
        case '\0':
            return fail(err, VERR_ENCODING, depth >= 1 && key[0] ? key : "body", "NUL");
        case '{':
            expect_key = ++depth == 1;
            break;
        case '[':
            depth++;
            break;
        case '}':
        case ']':
            depth--;
            break;
        case ',':
            expect_key = depth == 1;
            break;
        case '"': {
            size_t start = ++i;
            int nul = 0;
            for (; i < len && t[i] != '"'; i++) {
                if (t[i] == '\0')
                    nul = 1;
                if (t[i] == '\\' && i + 1 < len) {
                    if (t[i + 1] == 'u' && i + 5 < len && memcmp(t + i + 2, "0000", 4) == 0)
                        nul = 1;
                    i++;                /* the escaped character is not a quote */
                }
            }
            if (depth == 1 && expect_key) {
                copy_key(t, start, i, key, sizeof(key));
                expect_key = 0;
            }
            if (nul)
                return fail(err, VERR_ENCODING, depth >= 1 && key[0] ? key : "body",
                            "NUL (\\u0000)");
            break;
        }
        default:
            break;
        }
    }
    return 0;
}

int validate_json_parse(const char *text, size_t len, cJSON **doc, struct verr *err)
{
    const char *bad;
    char where[32];
    int r;

    memset(err, 0, sizeof(*err));
    *doc = NULL;
    r = nul_scan(text, len, err);
    if (r < 0)
        return r;
    *doc = cJSON_ParseWithLength(text, len);
    if (*doc)
        return 0;
    bad = cJSON_GetErrorPtr();
    if (!bad)
        return -ENOMEM;
    snprintf(where, sizeof(where), "near byte %ld", bad >= text && bad <= text + len
                                                    ? (long)(bad - text) : 0L);
    return fail(err, VERR_SYNTAX, "body", where);
}

/* Copies an upper-cased code of at most cap-1 characters; 0 or -1. */
static int code_copy(const char *in, char *out, size_t cap)
{
    size_t n = strlen(in);

    if (n == 0 || n >= cap)
        return -1;
    for (size_t i = 0; i <= n; i++)
        out[i] = (char)toupper((unsigned char)in[i]);
    return 0;
}

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
        return fail(err, VERR_TYPE, field, "array of codes");
    cJSON_ArrayForEach(it, arr) {
        snprintf(f, sizeof(f), "%s[%d]", field, i);
        if (i >= max)
            return fail(err, VERR_TOO_MANY, field, NULL);
        if (!cJSON_IsString(it))
            return fail(err, VERR_TYPE, f, "string");
        if (code_copy(it->valuestring, out[i], 8) < 0 || !validator_has_code(v, list, out[i]))
            return fail(err, VERR_UNKNOWN_CODE, f, it->valuestring);
        for (int j = 0; j < i; j++)
            if (strcmp(out[j], out[i]) == 0)
                return fail(err, VERR_DUPLICATE, f, out[i]);
        i++;
    }
    *n = i;
    return 0;
}

static int officer_exists(struct store *s, const char *phone)
{
    sqlite3_stmt *st = store_stmt(s, "SELECT 1 FROM officer WHERE phone = ?1 AND deleted = 0");
    int found;

    if (!st)
        return 0;
    sqlite3_bind_text(st, 1, phone, -1, SQLITE_STATIC);
    found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_reset(st);
    return found;
}

/* The counts rule (docs/data-model.md, "Counts"; the hub checks the same):
 * what is known ill (sick + dead, + culled in a follow-up) is at least one
 * animal in a case report, and never more than the animals at risk when
 * those were counted (at_risk > 0). 1 with *err set when they conflict. */
static int counts_conflict(int64_t ill, int64_t at_risk, enum verr_code over, const char *field,
                           struct verr *err)
{
    char d[48];

    if (over == VERR_COUNT_OVER && ill < 1) {
        snprintf(d, sizeof(d), "%lld < 1", (long long)ill);
        fail(err, VERR_COUNT_NONE, field, d);
        return 1;
    }
    if (at_risk > 0 && ill > at_risk) {
        snprintf(d, sizeof(d), "%lld > %lld", (long long)ill, (long long)at_risk);
        fail(err, over, field, d);
        return 1;
    }
    return 0;
}

static int animals_array(struct validator *v, const cJSON *arr, struct case_report_in *out,
                         struct verr *err)
{
    const cJSON *it, *f;
    char name[48];
    int i = 0;

    if (!cJSON_IsArray(arr))
        return fail(err, VERR_TYPE, "animals", "array of {species, sick, dead, at_risk}");
    cJSON_ArrayForEach(it, arr) {
        struct animal_count *a = &out->animals[i];
        if (i >= V_MAX_ANIMALS)
            return fail(err, VERR_TOO_MANY, "animals", NULL);
        snprintf(name, sizeof(name), "animals[%d]", i);
        if (!cJSON_IsObject(it))
            return fail(err, VERR_TYPE, name, "object");
        memset(a, 0, sizeof(*a));
        cJSON_ArrayForEach(f, it) {
            snprintf(name, sizeof(name), "animals[%d].%s", i, f->string);
            if (strcmp(f->string, "species") == 0) {
                if (!cJSON_IsString(f))
                    return fail(err, VERR_TYPE, name, "string");
                if (code_copy(f->valuestring, a->species, sizeof(a->species)) < 0 ||
                    !validator_has_code(v, "species", a->species))
                    return fail(err, VERR_UNKNOWN_CODE, name, f->valuestring);
            } else if (strcmp(f->string, "sick") == 0 || strcmp(f->string, "dead") == 0 ||
                       strcmp(f->string, "at_risk") == 0) {
                int64_t *dst = f->string[0] == 's' ? &a->sick : f->string[0] == 'd' ? &a->dead
                                                                                    : &a->at_risk;
                if (get_count(f, dst) < 0)
                    return fail(err, VERR_COUNT, name, NULL);
            } else {
                return fail(err, VERR_UNKNOWN_FIELD, name, NULL);
            }
        }
        snprintf(name, sizeof(name), "animals[%d].species", i);
        if (!a->species[0])
            return fail(err, VERR_REQUIRED, name, NULL);
        for (int j = 0; j < i; j++)
            if (strcmp(out->animals[j].species, a->species) == 0)
                return fail(err, VERR_DUPLICATE, name, a->species);
        snprintf(name, sizeof(name), "animals[%d]", i);
        if (counts_conflict(a->sick + a->dead, a->at_risk, VERR_COUNT_OVER, name, err))
            return -EINVAL;
        i++;
    }
    if (i == 0)
        return fail(err, VERR_EMPTY, "animals", NULL);
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
        return fail(err, VERR_TYPE, "report", "a JSON object");
    cJSON_ArrayForEach(f, doc) {
        size_t k;
        for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
            if (strcmp(f->string, known[k]) == 0)
                break;
        if (k == sizeof(known) / sizeof(known[0]))
            return fail(err, VERR_UNKNOWN_FIELD, f->string, NULL);
        if (*slot[k])
            return fail(err, VERR_DUPLICATE, f->string, NULL);
        *slot[k] = f;
    }

    if (!kind)
        return fail(err, VERR_REQUIRED, "kind", NULL);
    if (!cJSON_IsString(kind) || (strcasecmp(kind->valuestring, "U") != 0 &&
                                  strcasecmp(kind->valuestring, "P") != 0))
        return fail(err, VERR_UNKNOWN_CODE, "kind", "U or P");
    out->kind = (char)toupper((unsigned char)kind->valuestring[0]);

    if (!village)
        return fail(err, VERR_REQUIRED, "village", NULL);
    if (!cJSON_IsString(village))
        return fail(err, VERR_TYPE, "village", "string");
    c = validate_village(v, village->valuestring, out->village);
    if (c != VERR_NONE)
        return fail(err, c, "village", village->valuestring);

    if (out->kind == 'U') {
        if (syndrome)
            return fail(err, VERR_CONFLICT, "syndrome", "kind U takes signs");
        if (!signs)
            return fail(err, VERR_REQUIRED, "signs", NULL);
        r = code_array(v, signs, "signs", "sign", out->signs, V_MAX_CODES, &out->n_signs, err);
        if (r < 0)
            return r;
        if (out->n_signs == 0)
            return fail(err, VERR_EMPTY, "signs", NULL);
    } else {
        if (signs)
            return fail(err, VERR_CONFLICT, "signs", "kind P takes a syndrome");
        if (!syndrome)
            return fail(err, VERR_REQUIRED, "syndrome", NULL);
        if (!cJSON_IsString(syndrome))
            return fail(err, VERR_TYPE, "syndrome", "string");
        if (code_copy(syndrome->valuestring, out->syndrome, sizeof(out->syndrome)) < 0 ||
            !validator_has_code(v, "syndrome", out->syndrome))
            return fail(err, VERR_UNKNOWN_CODE, "syndrome", syndrome->valuestring);
    }

    if (!animals)
        return fail(err, VERR_REQUIRED, "animals", NULL);
    r = animals_array(v, animals, out, err);
    if (r < 0)
        return r;

    if (ddx) {
        r = code_array(v, ddx, "ddx", "disease", out->ddx, V_MAX_DDX, &out->n_ddx, err);
        if (r < 0)
            return r;
    }

    if (!date)
        return fail(err, VERR_REQUIRED, "event_date", NULL);
    if (!cJSON_IsString(date))
        return fail(err, VERR_TYPE, "event_date", "string");
    c = validate_date(date->valuestring);
    if (c != VERR_NONE)
        return fail(err, c, "event_date", date->valuestring);
    memcpy(out->event_date, date->valuestring, 11);

    if (lat || lon) {
        if (!lat || !lon)
            return fail(err, VERR_POINT, lat ? "lon" : "lat", NULL);
        if (!cJSON_IsNumber(lat) || !cJSON_IsNumber(lon))
            return fail(err, VERR_TYPE, cJSON_IsNumber(lat) ? "lon" : "lat", "number");
        if (!validate_point(lat->valuedouble, lon->valuedouble))
            return fail(err, VERR_POINT, "lat", NULL);
        out->has_point = 1;
        out->lat = lat->valuedouble;
        out->lon = lon->valuedouble;
    }

    if (note && !cJSON_IsNull(note)) {
        if (!cJSON_IsString(note))
            return fail(err, VERR_TYPE, "note", "string");
        if (strlen(note->valuestring) > V_NOTE_MAX)
            return fail(err, VERR_TOO_LONG, "note", NULL);
        if (!utf8_valid(note->valuestring, strlen(note->valuestring), UTF8_TEXT))
            return fail(err, VERR_ENCODING, "note", NULL);
        memcpy(out->note, note->valuestring, strlen(note->valuestring) + 1);
    }

    if (reporter && !cJSON_IsNull(reporter)) {
        if (!cJSON_IsString(reporter))
            return fail(err, VERR_TYPE, "reporter", "string");
        if (phone_normalize(reporter->valuestring, out->reporter) < 0)
            return fail(err, VERR_PHONE, "reporter", reporter->valuestring);
        if (!officer_exists(v->store, out->reporter))
            return fail(err, VERR_NOT_OFFICER, "reporter", out->reporter);
    }
    return 0;
}

/* The common checks of records filled in C (SMS; later web forms). */

static int herd_check(struct validator *v, struct herd_count *a, int n, int n_counts,
                      struct verr *err)
{
    char name[48];

    if (n <= 0)
        return fail(err, VERR_EMPTY, "animals", NULL);
    if (n > V_MAX_ANIMALS)
        return fail(err, VERR_TOO_MANY, "animals", NULL);
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "animals[%d].species", i);
        if (code_copy(a[i].species, a[i].species, sizeof(a[i].species)) < 0 ||
            !validator_has_code(v, "species", a[i].species))
            return fail(err, VERR_UNKNOWN_CODE, name, a[i].species);
        for (int j = 0; j < i; j++)
            if (strcmp(a[j].species, a[i].species) == 0)
                return fail(err, VERR_DUPLICATE, name, a[i].species);
        for (int k = 0; k < n_counts; k++) {
            if (a[i].n[k] < 0 || a[i].n[k] > V_COUNT_MAX) {
                snprintf(name, sizeof(name), "animals[%d]", i);
                return fail(err, VERR_COUNT, name, NULL);
            }
        }
    }
    return 0;
}

static int date_check(const char *date, const char *field, struct verr *err)
{
    enum verr_code c = validate_date(date);
    return c == VERR_NONE ? 0 : fail(err, c, field, date);
}

static int reporter_check(struct validator *v, char reporter[20], struct verr *err)
{
    char norm[20];

    if (!reporter[0])
        return 0;
    if (phone_normalize(reporter, norm) < 0)
        return fail(err, VERR_PHONE, "reporter", reporter);
    memcpy(reporter, norm, sizeof(norm));
    if (!officer_exists(v->store, reporter))
        return fail(err, VERR_NOT_OFFICER, "reporter", reporter);
    return 0;
}

static int village_check(struct validator *v, char village[11], struct verr *err)
{
    char tmp[16];
    enum verr_code c;

    if (!village[0])
        return fail(err, VERR_REQUIRED, "village", NULL);
    snprintf(tmp, sizeof(tmp), "%s", village);
    c = validate_village(v, tmp, village);
    return c == VERR_NONE ? 0 : fail(err, c, "village", tmp);
}

int validate_followup(struct validator *v, struct followup_in *in, struct verr *err)
{
    int r;

    memset(err, 0, sizeof(*err));
    if (!in->case_id[0])
        return fail(err, VERR_REQUIRED, "case_id", NULL);
    if (in->outcome[0]) {
        if (code_copy(in->outcome, in->outcome, sizeof(in->outcome)) < 0 ||
            !validator_has_code(v, "outcome", in->outcome))
            return fail(err, VERR_UNKNOWN_CODE, "outcome", in->outcome);
    } else if (in->n_animals == 0) {
        return fail(err, VERR_REQUIRED, "outcome", NULL);   /* neither PK nor LTL */
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
        if (counts_conflict(n[0] + n[1] + n[2], n[3], VERR_COUNT_OVER_FU, name, err))
            return -EINVAL;
    }
    if (in->escalate < -1 || in->escalate > 1)
        return fail(err, VERR_TYPE, "escalate", NULL);
    r = date_check(in->event_date, "event_date", err);
    return r < 0 ? r : reporter_check(v, in->reporter, err);
}

int validate_vaccination(struct validator *v, struct vaccination_in *in, struct verr *err)
{
    int r;

    memset(err, 0, sizeof(*err));
    if (!in->program[0])
        return fail(err, VERR_REQUIRED, "program", NULL);
    if (!utf8_valid(in->program, strlen(in->program), UTF8_TEXT))
        return fail(err, VERR_ENCODING, "program", NULL);
    r = village_check(v, in->village, err);
    if (r == 0)
        r = herd_check(v, in->animals, in->n_animals, 2, err);
    if (r == 0)
        r = date_check(in->event_date, "event_date", err);
    return r < 0 ? r : reporter_check(v, in->reporter, err);
}

int validate_population(struct validator *v, struct population_in *in, struct verr *err)
{
    int r;

    memset(err, 0, sizeof(*err));
    r = village_check(v, in->village, err);
    if (r == 0)
        r = herd_check(v, in->animals, in->n_animals, 1, err);
    if (r == 0)
        r = date_check(in->event_date, "event_date", err);
    return r < 0 ? r : reporter_check(v, in->reporter, err);
}

int validate_permit(struct validator *v, struct permit_in *in, struct verr *err)
{
    char tmp[16], norm[20];
    int r, lvl;

    memset(err, 0, sizeof(*err));
    if (!in->owner_id[0])
        return fail(err, VERR_REQUIRED, "owner_id", NULL);
    if (!utf8_valid(in->owner_id, strlen(in->owner_id), UTF8_TEXT))
        return fail(err, VERR_ENCODING, "owner_id", NULL);
    if (in->owner_phone[0]) {
        if (phone_normalize(in->owner_phone, norm) < 0)
            return fail(err, VERR_PHONE, "owner_phone", in->owner_phone);
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
        return fail(err, VERR_UNKNOWN_CODE, "to_area", tmp);
    if (strncmp(in->to_area, in->from_area, strlen(in->to_area)) == 0)
        return fail(err, VERR_CONFLICT, "to_area", "the same area as from_area");
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
        return fail(err, VERR_REQUIRED, "species", NULL);
    if (code_copy(species, species, 8) < 0 || !validator_has_code(v, "species", species))
        return fail(err, VERR_UNKNOWN_CODE, "species", species);
    if (n < 0 || n > V_COUNT_MAX)
        return fail(err, VERR_COUNT, "n_animals", NULL);
    return 0;
}

static int note_check(const char *note, struct verr *err)
{
    if (strlen(note) > V_NOTE_MAX)
        return fail(err, VERR_TOO_LONG, "note", NULL);
    return utf8_valid(note, strlen(note), UTF8_TEXT) ? 0 : fail(err, VERR_ENCODING, "note", NULL);
}

int validate_treatment(struct validator *v, struct treatment_in *in, struct verr *err)
{
    int r;

    memset(err, 0, sizeof(*err));
    r = village_check(v, in->village, err);
    if (r == 0)
        r = species_count_check(v, in->species, in->n_animals, err);
    if (r < 0)
        return r;
    if (!in->drug[0])
        return fail(err, VERR_REQUIRED, "drug", NULL);
    if (!utf8_valid(in->drug, strlen(in->drug), UTF8_TEXT) || strchr(in->drug, '\n'))
        return fail(err, VERR_ENCODING, "drug", NULL);
    r = date_check(in->event_date, "event_date", err);
    if (r == 0)
        r = note_check(in->note, err);
    return r < 0 ? r : reporter_check(v, in->reporter, err);
}

int validate_slaughter(struct validator *v, struct slaughter_in *in, struct verr *err)
{
    int r;

    memset(err, 0, sizeof(*err));
    if (in->abattoir[0] && (!utf8_valid(in->abattoir, strlen(in->abattoir), UTF8_TEXT) || strchr(in->abattoir, '\n')))
        return fail(err, VERR_ENCODING, "abattoir", NULL);
    r = village_check(v, in->village, err);
    if (r == 0)
        r = species_count_check(v, in->species, in->n_animals, err);
    if (r == 0)
        r = date_check(in->event_date, "event_date", err);
    if (r == 0)
        r = note_check(in->note, err);
    return r < 0 ? r : reporter_check(v, in->reporter, err);
}
