/* sms_reply.c - the words of the SMS replies, in Bahasa Indonesia as
 * DOMAIN.md §7 shows them: a bounded builder (a reply is at most
 * SMS_REPLY_MAX bytes, five SMS parts, and ends in "..." when cut), the
 * labels of codes and areas, and the refusals a sender gets for a format
 * error, a record the validator refused or one access_check() refused. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sms_int.h"
#include "sms_len.h"

void sms_sb_init(struct sms_sb *b, char *buf, size_t cap)
{
    b->buf = buf;
    b->cap = cap;
    b->len = 0;
    b->full = 0;
    buf[0] = '\0';
}

void sms_sb_add(struct sms_sb *b, const char *fmt, ...)
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


/* The Indonesian label of a code, or the code itself. */
const char *sms_label(struct sms_job *j, const char *list, const char *code, char *buf,
                      size_t cap)
{
    sqlite3_stmt *st = store_stmt(j->s, "SELECT label_id FROM code_list WHERE list = ?1 AND code = ?2");

    snprintf(buf, cap, "%s", code);
    if (!st)
        return buf;
    sqlite3_bind_text(st, 1, list, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, code, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(st, 0));
        sms_clip(buf, j->name_max);
    }
    sqlite3_reset(st);
    return buf;
}


/* "Desa NAME" for a village, "NAME" for other areas, the code when unknown. */
const char *sms_area_name(struct sms_job *j, const char *code, char *buf, size_t cap)
{
    sqlite3_stmt *st = store_stmt(j->s, "SELECT name, level FROM area WHERE code = ?1");
    char name[128];

    snprintf(buf, cap, "%s", code);
    if (!st)
        return buf;
    sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(name, sizeof(name), "%s", (const char *)sqlite3_column_text(st, 0));
        sms_clip(name, j->name_max);
        snprintf(buf, cap, "%s%s", sqlite3_column_int(st, 1) == 4 ? "Desa " : "", name);
    }
    sqlite3_reset(st);
    return buf;
}


const char *sms_person(struct sms_job *j, const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", name);
    sms_clip(buf, j->name_max);
    return buf;
}


const char *sms_local_phone(const char *phone, char *buf, size_t cap)
{
    if (strncmp(phone, "+62", 3) == 0)
        snprintf(buf, cap, "0%s", phone + 3);
    else if (strncmp(phone, "62", 2) == 0)
        snprintf(buf, cap, "0%s", phone + 2);
    else
        snprintf(buf, cap, "%s", phone);
    return buf;
}


void sms_compose_fit(struct sms_job *j, void (*compose)(struct sms_job *j, const void *arg),
                     const void *arg, char *out)
{
    static const size_t steps[] = { 0, 24, 18, 14, 10, 7, 4 };
    size_t saved = j->name_max;

    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        j->name_max = steps[i];
        compose(j, arg);
        if (sms_fits(out))
            break;
    }
    sms_fit_cut(out);
    j->name_max = saved;
}


void sms_ref_string(struct sms_job *j, char out[24])
{
    snprintf(out, 24, "%s-%06llu", j->m.ref.district[0] ? j->m.ref.district
                                                        : store_district(j->s),
             (unsigned long long)j->m.ref.number);
}


void sms_add_herd(struct sms_job *j, struct sms_sb *b, const struct sms_group *g, int n)
{
    char lbl[64];

    for (int i = 0; i < n; i++)
        sms_sb_add(b, "%s%lld %s", i ? ", " : "", (long long)g[i].n[0],
               sms_label(j, "species", g[i].code, lbl, sizeof(lbl)));
}


/* The word for a refused field: its label, or the field itself. */
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


/* A correct message of each code, for the refusals. */
const char *sms_kind_example(enum sms_kind k)
{
    static const char *const examples[SMS_KIND_COUNT] = {
        [SMS_HELP] = "?", [SMS_U] = "U KBG,DMM SP 2", [SMS_P] = "P MMD SP 3",
        [SMS_PK] = "PK 123 SB", [SMS_LTL] = "LTL 123 AY 10 5 0 20 Y",
        [SMS_VAK] = "VAK 18 SP 20 5", [SMS_POP] = "POP SP 120 KB 40",
        [SMS_SK] = "SK 1234 3201011001 5371 SP 15", [SMS_KODE] = "KODE SP",
        [SMS_CKL] = "CKL cibinong", [SMS_LAPK] = "LAPK 123",
    };
    return (unsigned)k < SMS_KIND_COUNT && examples[k] ? examples[k] : "";
}


struct format_refusal {
    const char *reason, *token;
};

/* "[Sikhnas Edge] Format salah (WHY: TOKEN). Contoh: EXAMPLE", then the
 * code's format when it still fits in one SMS; the token is cut first. */
static void compose_format(struct sms_job *j, const void *arg)
{
    const struct format_refusal *f = arg;
    char token[64] = "";
    struct sms_sb b;
    size_t len;

    if (f->token)
        snprintf(token, sizeof(token), "%s", f->token);
    sms_clip(token, j->name_max);
    sms_sb_init(&b, j->reply, sizeof(j->reply));
    sms_sb_add(&b, TAG "Format salah");
    if (f->reason)
        sms_sb_add(&b, token[0] ? " (%s: %s)" : " (%s)", f->reason, token);
    sms_sb_add(&b, ". Contoh: %s", sms_kind_example(j->m.kind));
    len = b.len;
    sms_sb_add(&b, ". Format: %s", sms_kind_format(j->m.kind));
    if (!sms_fits(j->reply))
        j->reply[len] = '\0';
}


int sms_refuse_format(struct sms_job *j, const char *reason, const char *token)
{
    struct format_refusal f = { reason, token };

    sms_compose_fit(j, compose_format, &f, j->reply);
    j->res->status = SMS_REFUSED;
    snprintf(j->res->error, sizeof(j->res->error), "%s format: %s%s%s", sms_kind_code(j->m.kind),
             reason ? reason : "", token && token[0] ? ": " : "", token ? token : "");
    return 0;
}


int sms_refuse_invalid(struct sms_job *j, const struct verr *e)
{
    char why[160];

    snprintf(why, sizeof(why), "%s %s", field_label(e->field), verr_reason(e, "id"));
    sms_refuse_format(j, why, e->detail);
    verr_format(e, "en", j->res->error, sizeof(j->res->error));
    return 0;
}


struct access_refusal {
    const struct verr *e;
    const char *village;
};

static void compose_access(struct sms_job *j, const void *arg)
{
    const struct access_refusal *a = arg;
    char own[128], place[128];
    struct sms_sb b;

    sms_sb_init(&b, j->reply, sizeof(j->reply));
    if (a->e->code == VERR_NOT_OWN_VILLAGE && j->o->village[0])
        sms_sb_add(&b, TAG "Maaf, Anda hanya boleh melapor untuk %s (%s). Laporan untuk %s (%s) "
               "tidak disimpan.",
               sms_area_name(j, j->o->village, own, sizeof(own)), j->o->village,
               sms_area_name(j, a->village, place, sizeof(place)), a->village);
    else if (a->e->code == VERR_NOT_OWN_VILLAGE)
        sms_sb_add(&b, TAG "Maaf, nomor Anda belum terdaftar untuk satu desa, jadi laporan tidak "
               "disimpan. Hubungi Dinas Peternakan kabupaten.");
    else
        sms_sb_add(&b, TAG "Maaf, kode %s tidak dapat Anda kirim.", sms_kind_code(j->m.kind));
}


/* access_check() refused the record: say why in words, not as a format
 * error. village is the record's village (or origin). */
int sms_refuse_access(struct sms_job *j, const struct verr *e, const char *village)
{
    struct access_refusal a = { e, village };

    sms_compose_fit(j, compose_access, &a, j->reply);
    j->res->status = SMS_REFUSED;
    verr_format(e, "en", j->res->error, sizeof(j->res->error));
    return 0;
}
