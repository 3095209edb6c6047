/* validate.c - the validator itself: this node's reference data, the
 * refusals and their texts, the checks every record kind shares (codes,
 * villages, dates, points, phones, officers, the counts rule) and the JSON
 * text parser every channel uses. The villages of the district and the code
 * lists are cached in sorted arrays (a district has a few hundred villages,
 * the lists a few hundred codes), so validating one record costs no SQL but
 * the officer look-up. The record kinds are checked in validate_json.c
 * (from JSON) and validate_record.c (from C structs). */
#include "validate.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hlc.h"
#include "refdata.h"
#include "utf8.h"
#include "validate_int.h"

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

int verr_fail(struct verr *e, enum verr_code code, const char *field, const char *detail)
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
    static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y, m, d, len = 0;
    struct tm now_tm;
    time_t now;
    char today[11];

    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &len) != 3 || len != 10 ||
        s[4] != '-' || s[7] != '-' || !isdigit((unsigned char)s[5]) || !isdigit((unsigned char)s[8]))
        return VERR_DATE_FORMAT;
    /* the calendar by arithmetic, not timegm(): a 32-bit time_t (armhf)
     * cannot hold 2999-01-01, and 2026-02-30 must not come back as March */
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] ||
        (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
        return VERR_DATE_FORMAT;
    if (y < 2000)
        return VERR_DATE_OLD;
    /* the trusted clock (common/hlc.h), not a board's that booted in 1970;
     * WIT, UTC+9: it is already "today" there. While the system clock is
     * wrong, the trusted one is only a lower bound of the time (the floor):
     * a month past it is allowed, and the record is flagged (node/clock.h) */
    now = (time_t)(hlc_wall_ms() / 1000) + 9 * 3600;
    if (hlc_clock_behind_ms())
        now += 31 * 86400;
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
    int lvl;

    if (!in[0] || strspn(in, " \t") == strlen(in))
        return VERR_REQUIRED;           /* nothing chosen: say so, not "unknown code" */
    lvl = refdata_area_code(in, code, sizeof(code));
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
            return verr_fail(err, VERR_ENCODING, depth >= 1 && key[0] ? key : "body", "NUL");
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
                return verr_fail(err, VERR_ENCODING, depth >= 1 && key[0] ? key : "body",
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
    return verr_fail(err, VERR_SYNTAX, "body", where);
}

/* Copies an upper-cased code of at most cap-1 characters; 0 or -1. */
int validate_code_copy(const char *in, char *out, size_t cap)
{
    size_t n = strlen(in);

    if (n == 0 || n >= cap)
        return -1;
    for (size_t i = 0; i <= n; i++)
        out[i] = (char)toupper((unsigned char)in[i]);
    return 0;
}

/* 1 when phone is a registered officer's (not deleted). */
int validator_has_officer(struct validator *v, const char *phone)
{
    sqlite3_stmt *st = store_stmt(v->store,
                                  "SELECT 1 FROM officer WHERE phone = ?1 AND deleted = 0");
    int found;

    if (!st)
        return 0;
    sqlite3_bind_text(st, 1, phone, -1, SQLITE_STATIC);
    found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_reset(st);
    return found;
}

struct store *validator_store(struct validator *v)
{
    return v->store;
}

/* The counts rule (docs/data-model.md, "Counts"; the hub checks the same):
 * what is known ill (sick + dead, + culled in a follow-up) is at least one
 * animal in a case report, and never more than the animals at risk when
 * those were counted (at_risk > 0). 1 with *err set when they conflict. */
int validate_counts_conflict(int64_t ill, int64_t at_risk, enum verr_code over, const char *field,
                           struct verr *err)
{
    char d[48];

    if (over == VERR_COUNT_OVER && ill < 1) {
        snprintf(d, sizeof(d), "%lld < 1", (long long)ill);
        verr_fail(err, VERR_COUNT_NONE, field, d);
        return 1;
    }
    if (at_risk > 0 && ill > at_risk) {
        snprintf(d, sizeof(d), "%lld > %lld", (long long)ill, (long long)at_risk);
        verr_fail(err, over, field, d);
        return 1;
    }
    return 0;
}
