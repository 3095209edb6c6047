/* sms.c - one incoming SMS from sender to record, reply and alerts.
 *
 * Order of events for a message: BEGIN; the duplicate check (sms_in.hash);
 * the officer look-up; parse; validate; insert the record; insert sms_in and
 * the sms_out rows (reply, and for a P report one alert per district vet);
 * COMMIT (synchronous=FULL). Only then does the spool side write files, so a
 * reply never confirms a record that is not on the card. Replies are in
 * Bahasa Indonesia, as DOMAIN.md §7 shows them. */
#include "sms.h"

#include <cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include "access.h"
#include "hex.h"
#include "log.h"
#include "records.h"
#include "sms_parse.h"
#include "utf8.h"

#define TAG "[" SMS_PRODUCT "] "
#define MAX_VETS 200                  /* alerts per P report, a bound on the loop */

/* ---------------------------------------------------------------- text */


/* A bounded string builder: appends until full, then ends in "..." at a
 * character boundary. */
struct sb {
    char *buf;
    size_t cap, len;
    int full;
};

static void sb_init(struct sb *b, char *buf, size_t cap)
{
    b->buf = buf;
    b->cap = cap;
    b->len = 0;
    b->full = 0;
    buf[0] = '\0';
}

__attribute__((format(printf, 2, 3)))
static void sb_add(struct sb *b, const char *fmt, ...)
{
    va_list ap;
    int k;

    if (b->full)
        return;
    va_start(ap, fmt);
    k = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (k < 0) {
        b->buf[b->len] = '\0';
        return;
    }
    if ((size_t)k < b->cap - b->len) {
        b->len += (size_t)k;
        return;
    }
    b->full = 1;
    b->len = b->cap - 4;
    while (b->len > 0 && ((unsigned char)b->buf[b->len] & 0xc0) == 0x80)
        b->len--;
    memcpy(b->buf + b->len, "...", 4);
    b->len += 3;
}

/* ---------------------------------------------------------------- look-ups */

struct officer {
    char name[V_NAME_MAX + 1];
    char role[16];
    char phone[20];
    char village[11];
};

static int officer_by_phone(struct store *s, const char *phone, struct officer *o)
{
    sqlite3_stmt *st = store_stmt(s,
        "SELECT name, role, coalesce(village, '') FROM officer WHERE phone = ?1 AND deleted = 0");
    int rc;

    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, phone, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        snprintf(o->name, sizeof(o->name), "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(o->role, sizeof(o->role), "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(o->village, sizeof(o->village), "%s", (const char *)sqlite3_column_text(st, 2));
        snprintf(o->phone, sizeof(o->phone), "%s", phone);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? -ENOENT : store_error(s, rc);
}

/* The Indonesian label of a code, or the code itself. */
static const char *label(struct store *s, const char *list, const char *code, char *buf,
                         size_t cap)
{
    sqlite3_stmt *st = store_stmt(s, "SELECT label_id FROM code_list WHERE list = ?1 AND code = ?2");

    snprintf(buf, cap, "%s", code);
    if (!st)
        return buf;
    sqlite3_bind_text(st, 1, list, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, code, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return buf;
}

/* "Desa NAME" for a village, "NAME" for other areas, the code when unknown. */
static const char *area_name(struct store *s, const char *code, char *buf, size_t cap)
{
    sqlite3_stmt *st = store_stmt(s, "SELECT name, level FROM area WHERE code = ?1");

    snprintf(buf, cap, "%s", code);
    if (!st)
        return buf;
    sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(buf, cap, "%s%s", sqlite3_column_int(st, 1) == 4 ? "Desa " : "",
                 (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return buf;
}

/* ---------------------------------------------------------------- codes by role */

#define BIT(k) (1u << (k))
#define ALL_CODES (BIT(SMS_U) | BIT(SMS_P) | BIT(SMS_PK) | BIT(SMS_LTL) | BIT(SMS_VAK) | \
                   BIT(SMS_POP) | BIT(SMS_SK) | BIT(SMS_KODE) | BIT(SMS_CKL) | BIT(SMS_LAPK) | \
                   BIT(SMS_HELP))

/* DOMAIN.md §1: a village reporter (Pelsa) sends U, P, POP and the queries.
 * Only which codes: whether the record may be written (the village, the
 * reporter) is access_check()'s decision, the same on every channel. */
static unsigned role_codes(const char *role)
{
    if (strcmp(role, "vet") == 0 || strcmp(role, "clerk") == 0)
        return ALL_CODES;
    if (strcmp(role, "reporter") == 0)
        return BIT(SMS_U) | BIT(SMS_P) | BIT(SMS_POP) | BIT(SMS_KODE) | BIT(SMS_CKL) |
               BIT(SMS_HELP);
    return BIT(SMS_KODE) | BIT(SMS_CKL) | BIT(SMS_LAPK) | BIT(SMS_HELP);
}

static void add_code_list(struct sb *b, unsigned mask)
{
    int first = 1;

    for (int k = SMS_U; k < SMS_KIND_COUNT; k++) {
        if (mask & BIT(k)) {
            sb_add(b, "%s%s", first ? "" : ", ", sms_kind_code((enum sms_kind)k));
            first = 0;
        }
    }
    sb_add(b, "%s?", first ? "" : ", ");
}

/* ---------------------------------------------------------------- handling */

struct job {
    struct store *s;
    struct validator *v;
    const struct officer *o;
    struct actor actor;               /* the sender, for access_check() */
    struct sms_msg m;
    struct sms_result *res;
    char event_date[11];
    const char *record_tbl;
    char record_id[UUID_STR_LEN];
    char reply[SMS_REPLY_MAX];
    char alert[SMS_REPLY_MAX];        /* "" when none */
};

/* The event date: the modem's date when it is a valid past date, else today
 * in western Indonesia (UTC+7). */
static void event_date(const char *sent, char out[11])
{
    char d[11] = "";
    time_t now = time(NULL) + 7 * 3600;
    struct tm tm;

    if (strlen(sent) >= 8 && sent[2] == '-' && sent[5] == '-')          /* smstools3 yy-mm-dd */
        snprintf(d, sizeof(d), "20%.2s-%.2s-%.2s", sent, sent + 3, sent + 6);
    else if (strlen(sent) >= 10 && sent[4] == '-' && sent[7] == '-')    /* yyyy-mm-dd */
        snprintf(d, sizeof(d), "%.10s", sent);
    else if (strlen(sent) >= 8 && strspn(sent, "0123456789") >= 8)      /* gammu yyyymmdd */
        snprintf(d, sizeof(d), "%.4s-%.2s-%.2s", sent, sent + 4, sent + 6);
    if (d[0] && validate_date(d) == VERR_NONE) {
        memcpy(out, d, 11);
        return;
    }
    gmtime_r(&now, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

static const char *field_label(const char *field)
{
    static const struct { const char *prefix, *label; } labels[] = {
        { "animals", "spesies/jumlah" }, { "signs", "tanda" }, { "syndrome", "sindrom" },
        { "ddx", "diagnosis" }, { "village", "desa" }, { "event_date", "tanggal" },
        { "issue_date", "tanggal" }, { "outcome", "hasil" }, { "from_area", "desa asal" },
        { "to_area", "tujuan" }, { "owner_phone", "telepon pemilik" },
        { "owner_id", "ID pemilik" }, { "program", "program" }, { "reporter", "pelapor" },
    };
    for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
        if (strncmp(field, labels[i].prefix, strlen(labels[i].prefix)) == 0)
            return labels[i].label;
    return field;
}

static int refuse_format(struct job *j, const char *reason, const char *token)
{
    struct sb b;

    sb_init(&b, j->reply, sizeof(j->reply));
    sb_add(&b, TAG "Format error. Valid format: %s", sms_kind_format(j->m.kind));
    if (reason)
        sb_add(&b, token && token[0] ? " (%s: %s)" : " (%s)", reason, token);
    j->res->status = SMS_REFUSED;
    snprintf(j->res->error, sizeof(j->res->error), "%s format: %s%s%s", sms_kind_code(j->m.kind),
             reason ? reason : "", token && token[0] ? ": " : "", token ? token : "");
    return 0;
}

static int refuse_invalid(struct job *j, const struct verr *e)
{
    char why[160];

    snprintf(why, sizeof(why), "%s %s", field_label(e->field), verr_reason(e, "id"));
    refuse_format(j, why, e->detail);
    verr_format(e, "en", j->res->error, sizeof(j->res->error));
    return 0;
}

/* access_check() refused the record: say why in words, not as a format
 * error. village is the record's village (or origin). */
static int refuse_access(struct job *j, const struct verr *e, const char *village)
{
    char own[128], place[128];
    struct sb b;

    sb_init(&b, j->reply, sizeof(j->reply));
    if (e->code == VERR_NOT_OWN_VILLAGE && j->o->village[0])
        sb_add(&b, TAG "Maaf, Anda hanya dapat melapor untuk desa Anda sendiri (%s, %s). "
               "Laporan untuk %s (%s) tidak disimpan.",
               area_name(j->s, j->o->village, own, sizeof(own)), j->o->village,
               area_name(j->s, village, place, sizeof(place)), village);
    else if (e->code == VERR_NOT_OWN_VILLAGE)
        sb_add(&b, TAG "Maaf, nomor Anda belum terdaftar untuk satu desa, jadi laporan tidak "
               "disimpan. Silakan hubungi Dinas Peternakan kabupaten Anda.");
    else
        sb_add(&b, TAG "Maaf, kode %s tidak dapat Anda kirim.", sms_kind_code(j->m.kind));
    j->res->status = SMS_REFUSED;
    verr_format(e, "en", j->res->error, sizeof(j->res->error));
    return 0;
}

static void ref_string(struct job *j, char out[24])
{
    snprintf(out, 24, "%s-%06llu", j->m.ref.district[0] ? j->m.ref.district
                                                        : store_district(j->s),
             (unsigned long long)j->m.ref.number);
}

static void add_herd(struct job *j, struct sb *b, const struct sms_group *g, int n)
{
    char lbl[64];

    for (int i = 0; i < n; i++)
        sb_add(b, "%s%lld %s", i ? ", " : "", (long long)g[i].n[0],
               label(j->s, "species", g[i].code, lbl, sizeof(lbl)));
}

/* P: one alert per district vet (not the reporter), queued with the reply. */
static void compose_alert(struct job *j, const struct case_report_in *c)
{
    char lbl[64], dis[64], place[128], code[8];
    struct sb b;

    sb_init(&b, j->alert, sizeof(j->alert));
    label(j->s, "syndrome", c->syndrome, lbl, sizeof(lbl));
    sb_add(&b, TAG "PERINGATAN sindrom prioritas: %s", lbl);
    {
        sqlite3_stmt *st = store_stmt(j->s,
            "SELECT parent FROM code_list WHERE list = 'syndrome' AND code = ?1");
        code[0] = '\0';
        if (st) {
            sqlite3_bind_text(st, 1, c->syndrome, -1, SQLITE_STATIC);
            if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
                snprintf(code, sizeof(code), "%s", (const char *)sqlite3_column_text(st, 0));
            sqlite3_reset(st);
        }
        if (code[0])
            sb_add(&b, " (suspek %s)", label(j->s, "disease", code, dis, sizeof(dis)));
    }
    sb_add(&b, ", %s: ", area_name(j->s, c->village, place, sizeof(place)));
    add_herd(j, &b, j->m.groups, j->m.n_groups);
    sb_add(&b, ". [ID kasus %s] Pelapor: %s %s. Mohon segera ditanggapi.", j->res->ref,
           j->o->name, j->o->phone);
}

static int do_case_report(struct job *j)
{
    struct sms_msg *m = &j->m;
    struct case_report_in in;
    struct verr e;
    char place[128], lbl[64];
    cJSON *doc = cJSON_CreateObject(), *arr;
    struct sb b;
    int r = -ENOMEM;

    if (!doc)
        return -ENOMEM;
    cJSON_AddStringToObject(doc, "kind", m->kind == SMS_U ? "U" : "P");
    cJSON_AddStringToObject(doc, "village", m->loc[0] ? m->loc : j->o->village);
    if (m->kind == SMS_U) {
        arr = cJSON_AddArrayToObject(doc, "signs");
        for (int i = 0; arr && i < m->n_codes; i++)
            cJSON_AddItemToArray(arr, cJSON_CreateString(m->codes[i]));
    } else {
        cJSON_AddStringToObject(doc, "syndrome", m->codes[0]);
    }
    arr = cJSON_AddArrayToObject(doc, "animals");
    for (int i = 0; arr && i < m->n_groups; i++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "species", m->groups[i].code);
        cJSON_AddNumberToObject(a, "sick", (double)m->groups[i].n[0]);
        cJSON_AddItemToArray(arr, a);
    }
    if (m->n_ddx) {
        arr = cJSON_AddArrayToObject(doc, "ddx");
        for (int i = 0; arr && i < m->n_ddx; i++)
            cJSON_AddItemToArray(arr, cJSON_CreateString(m->ddx[i]));
    }
    cJSON_AddStringToObject(doc, "event_date", j->event_date);
    cJSON_AddStringToObject(doc, "reporter", j->o->phone);
    cJSON_AddStringToObject(doc, "note", "SMS");

    if (!m->loc[0] && !j->o->village[0]) {
        struct verr ve = { .code = VERR_REQUIRED, .field = "village" };
        r = refuse_invalid(j, &ve);
        goto out;
    }
    if (validate_case_report(j->v, doc, &in, &e) < 0) {
        r = refuse_invalid(j, &e);
        goto out;
    }
    if (access_check(&j->actor, REC_CASE, &in, &e) < 0) {
        r = refuse_access(j, &e, in.village);
        goto out;
    }
    r = case_report_insert(j->s, &in, j->record_id, j->res->ref);
    if (r < 0)
        goto out;
    j->record_tbl = "case_report";
    j->res->status = SMS_SAVED;

    sb_init(&b, j->reply, sizeof(j->reply));
    if (in.kind == 'U') {
        sb_add(&b, "Terima kasih. [ID kasus %s] Tanda umum: ", j->res->ref);
        for (int i = 0; i < in.n_signs; i++)
            sb_add(&b, "%s%s", i ? ", " : "", label(j->s, "sign", in.signs[i], lbl, sizeof(lbl)));
    } else {
        sb_add(&b, "Terima kasih. [ID kasus %s] Sindrom prioritas: %s", j->res->ref,
               label(j->s, "syndrome", in.syndrome, lbl, sizeof(lbl)));
    }
    sb_add(&b, "; ");
    add_herd(j, &b, m->groups, m->n_groups);
    sb_add(&b, "; %s, %s.", area_name(j->s, in.village, place, sizeof(place)), in.event_date);
    if (in.kind == 'P') {
        sb_add(&b, " Dokter hewan kabupaten sudah diberi tahu.");
        compose_alert(j, &in);
    }
out:
    cJSON_Delete(doc);
    return r;
}

static int find_case(struct job *j, char id[UUID_STR_LEN])
{
    int r;

    ref_string(j, j->res->ref);
    r = case_report_by_ref(j->s, j->res->ref, id);
    if (r == -ENOENT) {
        snprintf(j->reply, sizeof(j->reply), TAG "ID kasus %s tidak ditemukan. Periksa "
                 "nomornya (contoh: %s-000123).", j->res->ref, store_district(j->s));
        j->res->status = SMS_REFUSED;
        snprintf(j->res->error, sizeof(j->res->error), "case %s not found", j->res->ref);
    }
    return r;
}

static int do_followup(struct job *j)
{
    static const char *const outcome_word[] = { "SB", "sembuh", "MS", "masih sakit", "MT", "mati" };
    struct sms_msg *m = &j->m;
    struct followup_in in;
    struct verr e;
    char lbl[64];
    struct sb b;
    int r;

    memset(&in, 0, sizeof(in));
    r = find_case(j, in.case_id);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    snprintf(in.outcome, sizeof(in.outcome), "%s", m->outcome);
    for (int i = 0; i < m->n_groups; i++) {
        snprintf(in.animals[i].species, sizeof(in.animals[i].species), "%s", m->groups[i].code);
        memcpy(in.animals[i].n, m->groups[i].n, sizeof(in.animals[i].n));
    }
    in.n_animals = m->n_groups;
    in.escalate = m->kind == SMS_LTL ? m->escalate : -1;
    memcpy(in.event_date, j->event_date, sizeof(in.event_date));
    snprintf(in.reporter, sizeof(in.reporter), "%s", j->o->phone);
    if (validate_followup(j->v, &in, &e) < 0)
        return refuse_invalid(j, &e);
    if (access_check(&j->actor, REC_FOLLOWUP, &in, &e) < 0)
        return refuse_access(j, &e, "");
    r = followup_insert(j->s, &in, j->record_id);
    if (r < 0)
        return r;
    j->record_tbl = "case_followup";
    j->res->status = SMS_SAVED;
    sb_init(&b, j->reply, sizeof(j->reply));
    if (m->kind == SMS_PK) {
        const char *word = in.outcome;
        for (size_t i = 0; i < 6; i += 2)
            if (strcmp(in.outcome, outcome_word[i]) == 0)
                word = outcome_word[i + 1];
        sb_add(&b, "Terima kasih. [ID kasus %s] Hasil: %s.", j->res->ref, word);
        return 0;
    }
    sb_add(&b, "Terima kasih. Laporan tindak lanjut [ID kasus %s] ", j->res->ref);
    for (int i = 0; i < in.n_animals; i++)
        sb_add(&b, "%s%s: %lld sakit, %lld mati, %lld dimusnahkan, %lld berisiko", i ? "; " : "",
               label(j->s, "species", in.animals[i].species, lbl, sizeof(lbl)),
               (long long)in.animals[i].n[0], (long long)in.animals[i].n[1],
               (long long)in.animals[i].n[2], (long long)in.animals[i].n[3]);
    sb_add(&b, ".%s", in.escalate == 1 ? " Ditandai untuk Kepala Dinas." : "");
    return 0;
}

static void herd_from_groups(struct herd_count *a, int *n, const struct sms_msg *m)
{
    for (int i = 0; i < m->n_groups; i++) {
        snprintf(a[i].species, sizeof(a[i].species), "%s", m->groups[i].code);
        memcpy(a[i].n, m->groups[i].n, sizeof(a[i].n));
        if (m->kind == SMS_VAK && m->groups[i].n_counts < 2)
            a[i].n[1] = 0;
    }
    *n = m->n_groups;
}

static int do_vaccination(struct job *j)
{
    struct vaccination_in in;
    struct verr e;
    char place[128], lbl[64];
    struct sb b;
    int r;

    memset(&in, 0, sizeof(in));
    snprintf(in.program, sizeof(in.program), "%s", j->m.id);
    snprintf(in.village, sizeof(in.village), "%s", j->m.loc[0] ? j->m.loc : j->o->village);
    herd_from_groups(in.animals, &in.n_animals, &j->m);
    memcpy(in.event_date, j->event_date, sizeof(in.event_date));
    snprintf(in.reporter, sizeof(in.reporter), "%s", j->o->phone);
    if (validate_vaccination(j->v, &in, &e) < 0)
        return refuse_invalid(j, &e);
    if (access_check(&j->actor, REC_VACCINATION, &in, &e) < 0)
        return refuse_access(j, &e, in.village);
    r = vaccination_insert(j->s, &in, j->record_id);
    if (r < 0)
        return r;
    j->record_tbl = "vaccination";
    j->res->status = SMS_SAVED;
    sb_init(&b, j->reply, sizeof(j->reply));
    sb_add(&b, "Terima kasih. Vaksinasi program %s di %s, %s: ", in.program,
           area_name(j->s, in.village, place, sizeof(place)), in.event_date);
    for (int i = 0; i < in.n_animals; i++) {
        sb_add(&b, "%s%s %lld", i ? "; " : "",
               label(j->s, "species", in.animals[i].species, lbl, sizeof(lbl)),
               (long long)in.animals[i].n[0]);
        if (in.animals[i].n[1])
            sb_add(&b, " (booster %lld)", (long long)in.animals[i].n[1]);
    }
    sb_add(&b, ".");
    return 0;
}

static int do_population(struct job *j)
{
    struct population_in in;
    struct verr e;
    char place[128], lbl[64];
    struct sb b;
    int r;

    memset(&in, 0, sizeof(in));
    snprintf(in.village, sizeof(in.village), "%s", j->m.loc[0] ? j->m.loc : j->o->village);
    herd_from_groups(in.animals, &in.n_animals, &j->m);
    memcpy(in.event_date, j->event_date, sizeof(in.event_date));
    snprintf(in.reporter, sizeof(in.reporter), "%s", j->o->phone);
    if (validate_population(j->v, &in, &e) < 0)
        return refuse_invalid(j, &e);
    if (access_check(&j->actor, REC_POPULATION, &in, &e) < 0)
        return refuse_access(j, &e, in.village);
    r = population_insert(j->s, &in, j->record_id);
    if (r < 0)
        return r;
    j->record_tbl = "population_report";
    j->res->status = SMS_SAVED;
    sb_init(&b, j->reply, sizeof(j->reply));
    sb_add(&b, "Terima kasih. Populasi di %s, %s: ",
           area_name(j->s, in.village, place, sizeof(place)), in.event_date);
    for (int i = 0; i < in.n_animals; i++)
        sb_add(&b, "%s%s %lld", i ? "; " : "",
               label(j->s, "species", in.animals[i].species, lbl, sizeof(lbl)),
               (long long)in.animals[i].n[0]);
    sb_add(&b, ".");
    return 0;
}

static int do_permit(struct job *j)
{
    struct permit_in in;
    struct verr e;
    char from[128], to[128];
    struct sb b;
    int r;

    memset(&in, 0, sizeof(in));
    snprintf(in.owner_id, sizeof(in.owner_id), "%s", j->m.id);
    snprintf(in.owner_phone, sizeof(in.owner_phone), "%s", j->m.phone);
    snprintf(in.from_area, sizeof(in.from_area), "%s", j->m.loc);
    snprintf(in.to_area, sizeof(in.to_area), "%s", j->m.loc2);
    herd_from_groups(in.animals, &in.n_animals, &j->m);
    memcpy(in.issue_date, j->event_date, sizeof(in.issue_date));
    snprintf(in.reporter, sizeof(in.reporter), "%s", j->o->phone);
    if (validate_permit(j->v, &in, &e) < 0)
        return refuse_invalid(j, &e);
    if (access_check(&j->actor, REC_MOVEMENT, &in, &e) < 0)
        return refuse_access(j, &e, in.from_area);
    r = permit_insert(j->s, &in, j->record_id, j->res->ref);
    if (r < 0)
        return r;
    j->record_tbl = "movement_permit";
    j->res->status = SMS_SAVED;
    sb_init(&b, j->reply, sizeof(j->reply));
    sb_add(&b, "Terima kasih. SKKH nomor %s untuk pemilik ID %s. Hewan: ", j->res->ref,
           in.owner_id);
    add_herd(j, &b, j->m.groups, j->m.n_groups);
    sb_add(&b, ". Asal: %s. Tujuan: %s.", area_name(j->s, in.from_area, from, sizeof(from)),
           area_name(j->s, in.to_area, to, sizeof(to)));
    return 0;
}

static int do_kode(struct job *j)
{
    static const struct { const char *type, *list, *word; } types[] = {
        { "SP", "species", "spesies" }, { "TAN", "sign", "tanda" },
        { "SIN", "syndrome", "sindrom" }, { "PNY", "disease", "penyakit" },
        { "PK", "outcome", "hasil" },
    };
    struct sb b;
    size_t t;

    sb_init(&b, j->reply, sizeof(j->reply));
    j->res->status = SMS_ANSWERED;
    if (!j->m.query[0]) {
        sb_add(&b, TAG "Daftar kode:");
        for (t = 0; t < sizeof(types) / sizeof(types[0]); t++)
            sb_add(&b, "%s KODE %s (%s)", t ? "," : "", types[t].type, types[t].word);
        return 0;
    }
    for (t = 0; t < sizeof(types) / sizeof(types[0]); t++)
        if (strcmp(j->m.query, types[t].type) == 0)
            break;
    if (t == sizeof(types) / sizeof(types[0]))
        return refuse_format(j, "jenis kode tidak dikenal", j->m.query);
    sqlite3_stmt *st = store_stmt(j->s,
        "SELECT code, label_id FROM code_list WHERE list = ?1 AND active = 1 ORDER BY code");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, types[t].list, -1, SQLITE_STATIC);
    sb_add(&b, TAG "KODE %s:", types[t].type);
    for (int n = 0; n < 200 && sqlite3_step(st) == SQLITE_ROW; n++)
        sb_add(&b, "%s %s %s", n ? "," : "", (const char *)sqlite3_column_text(st, 0),
               (const char *)sqlite3_column_text(st, 1));
    sqlite3_reset(st);
    return 0;
}

static int do_ckl(struct job *j)
{
    char pattern[2 * SMS_QUERY_MAX + 3];
    size_t n = 0;
    struct sb b;
    int found = 0;
    sqlite3_stmt *st = store_stmt(j->s,
        "SELECT code, name, level FROM area WHERE name LIKE ?1 ESCAPE '\\' AND level >= 2"
        " ORDER BY level, name LIMIT 10");

    if (!st)
        return -EIO;
    pattern[n++] = '%';
    for (const char *q = j->m.query; *q; q++) {
        if (*q == '%' || *q == '_' || *q == '\\')
            pattern[n++] = '\\';
        pattern[n++] = *q;
    }
    pattern[n++] = '%';
    pattern[n] = '\0';
    sqlite3_bind_text(st, 1, pattern, -1, SQLITE_STATIC);
    sb_init(&b, j->reply, sizeof(j->reply));
    sb_add(&b, TAG);
    while (sqlite3_step(st) == SQLITE_ROW) {
        static const char *const level_word[] = { "", "provinsi", "kab/kota", "kec.", "desa" };
        int lvl = sqlite3_column_int(st, 2);
        sb_add(&b, "%s%s (%s): %s", found ? "; " : "", (const char *)sqlite3_column_text(st, 1),
               level_word[lvl >= 1 && lvl <= 4 ? lvl : 0],
               (const char *)sqlite3_column_text(st, 0));
        found++;
    }
    sqlite3_reset(st);
    if (!found)
        sb_add(&b, "Tidak ada wilayah bernama '%s' di kabupaten ini.", j->m.query);
    j->res->status = SMS_ANSWERED;
    return 0;
}

static int do_lapk(struct job *j)
{
    char id[UUID_STR_LEN], place[128], lbl[64];
    sqlite3_stmt *st;
    cJSON *arr, *it;
    struct sb b;
    int r;

    r = find_case(j, id);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    st = store_stmt(j->s, "SELECT kind, village, coalesce(syndrome, ''), signs, animals, "
                          "event_date FROM case_report WHERE id = ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return -EIO;
    }
    sb_init(&b, j->reply, sizeof(j->reply));
    sb_add(&b, TAG "[ID kasus %s] %s %s, %s: ", j->res->ref,
           (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 5),
           area_name(j->s, (const char *)sqlite3_column_text(st, 1), place, sizeof(place)));
    arr = cJSON_Parse((const char *)sqlite3_column_text(st, 4));
    r = 0;
    cJSON_ArrayForEach(it, arr) {
        const char *sp = cJSON_GetStringValue(cJSON_GetObjectItem(it, "species"));
        sb_add(&b, "%s%.0f %s", r++ ? ", " : "",
               cJSON_GetNumberValue(cJSON_GetObjectItem(it, "sick")),
               label(j->s, "species", sp ? sp : "?", lbl, sizeof(lbl)));
    }
    cJSON_Delete(arr);
    if (((const char *)sqlite3_column_text(st, 2))[0]) {
        sb_add(&b, "; sindrom %s", label(j->s, "syndrome",
                                         (const char *)sqlite3_column_text(st, 2), lbl,
                                         sizeof(lbl)));
    } else {
        arr = cJSON_Parse((const char *)sqlite3_column_text(st, 3));
        r = 0;
        cJSON_ArrayForEach(it, arr) {
            const char *sg = cJSON_GetStringValue(it);
            sb_add(&b, "%s%s", r++ ? ", " : "; tanda ",
                   label(j->s, "sign", sg ? sg : "?", lbl, sizeof(lbl)));
        }
        cJSON_Delete(arr);
    }
    sqlite3_reset(st);
    st = store_stmt(j->s, "SELECT outcome, event_date FROM case_followup WHERE case_id = ?1"
                          " AND outcome IS NOT NULL AND deleted = 0 ORDER BY hlc DESC LIMIT 1");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        sb_add(&b, ". Hasil: %s (%s).", label(j->s, "outcome",
               (const char *)sqlite3_column_text(st, 0), lbl, sizeof(lbl)),
               (const char *)sqlite3_column_text(st, 1));
    else
        sb_add(&b, ". Hasil: belum dilaporkan.");
    sqlite3_reset(st);
    j->res->status = SMS_ANSWERED;
    return 0;
}

/* Parses and carries out the message of a known officer; fills j->reply. */
static int dispatch(struct job *j, const char *text, size_t len)
{
    unsigned allowed = role_codes(j->o->role);
    struct sms_error pe;
    struct sb b;
    int r;

    r = sms_parse(text, len, &j->m, &pe);
    if (j->m.kind == SMS_EMPTY || j->m.kind == SMS_UNKNOWN) {
        sb_init(&b, j->reply, sizeof(j->reply));
        sb_add(&b, TAG "Format SMS tidak dikenali: SMS harus mulai dengan kode berikut: ");
        add_code_list(&b, allowed & ~BIT(SMS_HELP));
        j->res->status = SMS_REFUSED;
        snprintf(j->res->error, sizeof(j->res->error), "unknown code '%s'", j->m.code);
        return 0;
    }
    if (!(allowed & BIT(j->m.kind))) {
        sb_init(&b, j->reply, sizeof(j->reply));
        sb_add(&b, TAG "Maaf, kode %s tidak dapat Anda kirim. Kode Anda: ",
               sms_kind_code(j->m.kind));
        add_code_list(&b, allowed & ~BIT(SMS_HELP));
        j->res->status = SMS_REFUSED;
        snprintf(j->res->error, sizeof(j->res->error), "code %s not allowed for role %s",
                 sms_kind_code(j->m.kind), j->o->role);
        return 0;
    }
    if (r < 0)
        return refuse_format(j, pe.reason, pe.token);
    switch (j->m.kind) {
    case SMS_HELP:
        sb_init(&b, j->reply, sizeof(j->reply));
        sb_add(&b, TAG "Kode yang dapat Anda kirim: ");
        add_code_list(&b, allowed & ~BIT(SMS_HELP));
        sb_add(&b, ". Kirim kodenya saja (mis. U) untuk melihat formatnya.");
        j->res->status = SMS_ANSWERED;
        return 0;
    case SMS_U:
    case SMS_P:
        return do_case_report(j);
    case SMS_PK:
    case SMS_LTL:
        return do_followup(j);
    case SMS_VAK:
        return do_vaccination(j);
    case SMS_POP:
        return do_population(j);
    case SMS_SK:
        return do_permit(j);
    case SMS_KODE:
        return do_kode(j);
    case SMS_CKL:
        return do_ckl(j);
    case SMS_LAPK:
        return do_lapk(j);
    default:
        return -EINVAL;   /* not reached: every kind is handled above */
    }
}

static void hash_message(const char *sender, const char *sent, const char *text, size_t len,
                         char out[SHA256_HEX_LEN])
{
    const void *parts[] = { sender, "\n", sent, "\n", text };
    const size_t lens[] = { strlen(sender), 1, strlen(sent), 1, len };

    sha256_hex_parts(parts, lens, 5, out);
}

static int bind_opt(sqlite3_stmt *st, int i, const char *v)
{
    return v && v[0] ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

static int queue_out(struct store *s, int64_t msg, const char *kind, const char *phone,
                     const char *text)
{
    sqlite3_stmt *st = store_stmt(s,
        "INSERT INTO sms_out (sms_in, kind, phone, text) VALUES (?1, ?2, ?3, ?4)");
    char clean[SMS_REPLY_MAX];
    int rc;

    if (!st)
        return -EIO;
    /* what goes to a phone is valid UTF-8, whatever a reply quoted */
    utf8_clean(text, strnlen(text, sizeof(clean) - 1), clean, sizeof(clean));
    text = clean;
    sqlite3_bind_int64(st, 1, msg);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, phone, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_error(s, rc);
}

static int queue_alerts(struct job *j, int64_t msg)
{
    sqlite3_stmt *st = store_stmt(j->s,
        "SELECT phone FROM officer WHERE role = 'vet' AND deleted = 0 AND district = ?1"
        " AND phone <> ?2 ORDER BY name LIMIT 200");
    char phones[MAX_VETS][20];
    int n = 0, rc, r = 0;

    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, store_district(j->s), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, j->o->phone, -1, SQLITE_STATIC);
    while (n < MAX_VETS && (rc = sqlite3_step(st)) == SQLITE_ROW)
        snprintf(phones[n++], 20, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    for (int i = 0; i < n && r == 0; i++)
        r = queue_out(j->s, msg, "alert", phones[i], j->alert);
    return r;
}

int sms_handle(struct store *s, struct validator *v, const struct sms_incoming *in,
               struct sms_result *res)
{
    static const char *const status_word[] = {
        [SMS_SAVED] = "saved", [SMS_ANSWERED] = "answered", [SMS_REFUSED] = "refused",
        [SMS_UNKNOWN_PHONE] = "unknown_phone",
    };
    struct officer o = {0};
    struct job *j = NULL;
    char phone[20], hash[65], now[32];
    const char *sender = in->sender;
    sqlite3_stmt *st;
    int has_phone, rc, r;

    memset(res, 0, sizeof(*res));
    has_phone = phone_normalize(in->sender, phone) == 0;
    if (has_phone)
        sender = phone;
    hash_message(sender, in->sent, in->text, in->len, hash);

    j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    j->s = s;
    j->v = v;
    j->o = &o;
    j->res = res;
    r = store_begin(s);
    if (r < 0)
        goto out_free;

    st = store_stmt(s, "SELECT id, coalesce(ref, ''), status FROM sms_in WHERE hash = ?1");
    if (!st) {
        r = -EIO;
        goto out;
    }
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *status = (const char *)sqlite3_column_text(st, 2);
        res->duplicate = 1;
        res->msg_id = sqlite3_column_int64(st, 0);
        snprintf(res->ref, sizeof(res->ref), "%s", (const char *)sqlite3_column_text(st, 1));
        for (int k = 0; k <= SMS_UNKNOWN_PHONE; k++)
            if (strcmp(status, status_word[k]) == 0)
                res->status = (enum sms_status)k;
        sqlite3_reset(st);
        st = store_stmt(s, "UPDATE sms_in SET deliveries = deliveries + 1 WHERE id = ?1");
        if (!st) {
            r = -EIO;
            goto out;
        }
        sqlite3_bind_int64(st, 1, res->msg_id);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        r = rc == SQLITE_DONE ? store_commit(s) : store_error(s, rc);
        goto out;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        r = store_error(s, rc);
        goto out;
    }

    r = has_phone ? officer_by_phone(s, phone, &o) : -ENOENT;
    if (r == -ENOENT) {
        res->status = SMS_UNKNOWN_PHONE;
        snprintf(res->error, sizeof(res->error), "sender %s is not a registered officer",
                 in->sender);
        snprintf(j->reply, sizeof(j->reply), "Maaf, nomor Anda belum terdaftar sebagai "
                 "petugas %s. Silakan hubungi Dinas Peternakan kabupaten Anda untuk "
                 "mendaftar. Terima kasih.", SMS_PRODUCT);
        r = 0;
    } else if (r == 0) {
        actor_officer(&j->actor, o.role, o.phone, o.village);
        event_date(in->sent, j->event_date);
        r = dispatch(j, in->text, in->len);
    }
    if (r < 0)
        goto out;

    store_now_iso(now);
    st = store_stmt(s,
        "INSERT INTO sms_in (hash, sender, sent, received_at, text, code, status, error,"
        " record_tbl, record_id, ref) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    if (!st) {
        r = -EIO;
        goto out;
    }
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, sender, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, in->sent, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, in->text, (int)in->len, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, j->m.code, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, status_word[res->status], -1, SQLITE_STATIC);
    bind_opt(st, 8, res->error);
    bind_opt(st, 9, j->record_tbl);
    bind_opt(st, 10, j->record_tbl ? j->record_id : NULL);
    bind_opt(st, 11, res->ref);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        r = store_error(s, rc);
        goto out;
    }
    res->msg_id = sqlite3_last_insert_rowid(store_db(s));
    if (has_phone)
        r = queue_out(s, res->msg_id, "reply", phone, j->reply);
    if (r == 0 && j->alert[0])
        r = queue_alerts(j, res->msg_id);
    if (r == 0)
        r = store_commit(s);
out:
    if (r < 0)
        store_rollback(s);
out_free:
    free(j);
    return r;
}

int sms_flush(struct store *s, int64_t msg_id, int resend_reply, sms_send_fn send, void *ctx)
{
    sqlite3_stmt *st = NULL, *done;
    char name[256];
    int n = 0, rc, r = 0;

    /* a list first: send() may take a while, and the statement must not stay open */
    struct pending { int64_t id; char phone[20]; char text[SMS_REPLY_MAX]; } *p = NULL;
    int np = 0, cap = 0;

    rc = sqlite3_prepare_v2(store_db(s),
        "SELECT id, phone, text FROM sms_out WHERE (?1 = 0 OR sms_in = ?1)"
        " AND (written = 0 OR (?2 AND kind = 'reply')) ORDER BY id LIMIT 1000", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_error(s, rc);
    sqlite3_bind_int64(st, 1, msg_id);
    sqlite3_bind_int(st, 2, resend_reply ? 1 : 0);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (np == cap) {
            int ncap = cap ? cap * 2 : 8;
            struct pending *q = realloc(p, (size_t)ncap * sizeof(*p));
            if (!q) {
                r = -ENOMEM;
                goto out;
            }
            p = q;
            cap = ncap;
        }
        p[np].id = sqlite3_column_int64(st, 0);
        snprintf(p[np].phone, sizeof(p[np].phone), "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(p[np].text, sizeof(p[np].text), "%s", (const char *)sqlite3_column_text(st, 2));
        np++;
    }
    if (rc != SQLITE_DONE) {
        r = store_error(s, rc);
        goto out;
    }
    for (int i = 0; i < np; i++) {
        name[0] = '\0';
        r = send(ctx, p[i].phone, p[i].text, name, sizeof(name));
        if (r < 0)
            goto out;
        done = store_stmt(s, "UPDATE sms_out SET written = 1, file = ?2 WHERE id = ?1");
        if (!done) {
            r = -EIO;
            goto out;
        }
        sqlite3_bind_int64(done, 1, p[i].id);
        bind_opt(done, 2, name);
        rc = sqlite3_step(done);
        sqlite3_reset(done);
        if (rc != SQLITE_DONE) {
            r = store_error(s, rc);
            goto out;
        }
        n++;
    }
out:
    sqlite3_finalize(st);
    free(p);
    return r < 0 ? r : n;
}
