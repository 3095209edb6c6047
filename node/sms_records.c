/* sms_records.c - the SMS codes that write a record: U and P (case
 * reports), PK and LTL (follow-ups), VAK, POP and SK. Each fills the
 * record from the parsed message, has it checked by the one validator and
 * by access_check() as every channel does, inserts it (records.h) in the
 * message's transaction and words the reply; a P report also words the
 * alert to the district vets. A case report is handed to the validator as
 * the JSON the API takes, so SMS and the web decode it alike. */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "records.h"
#include "sms_int.h"
#include "sms_len.h"

/* The priority syndromes that are reported by their deaths (DOMAIN.md §3:
 * rising poultry deaths, sudden death): "P MMU AY 25" is 25 dead birds,
 * not 25 sick ones. */
static int death_syndrome(const char *code)
{
    return strcmp(code, "MMU") == 0 || strcmp(code, "MMD") == 0;
}

/* "N label[ mati], N label[ mati]" of the message's groups: the counts of
 * a death syndrome are deaths. */
static void add_case_herd(struct sms_job *j, struct sms_sb *b, const struct case_report_in *c)
{
    int dead = c->kind == 'P' && death_syndrome(c->syndrome);

    sms_add_herd(j, b, j->m.groups, j->m.n_groups);
    if (dead)
        sms_sb_add(b, " mati");
}

/* P: one alert per district vet (not the reporter), queued with the reply:
 * "PERINGATAN P: LABEL (suspek DISEASE), Desa X: N species. [ID kasus R]
 * Pelapor NAME 08... Segera tanggapi." in one SMS. */
static void compose_alert(struct sms_job *j, const void *arg)
{
    const struct case_report_in *c = arg;
    char lbl[64], dis[64], place[128], who[V_NAME_MAX + 1], phone[24], code[8] = "";
    const struct store_col parent = { code, sizeof(code) };
    struct sms_sb b;

    sms_sb_init(&b, j->alert, sizeof(j->alert));
    sms_label(j, "syndrome", c->syndrome, lbl, sizeof(lbl));
    sms_sb_add(&b, "PERINGATAN P: %s", lbl);
    (void) store_get(j->s, "SELECT parent FROM code_list WHERE list = 'syndrome' AND code = ?1",
                     c->syndrome, &parent, 1);
    if (code[0])
        sms_sb_add(&b, " (suspek %s)", sms_label(j, "disease", code, dis, sizeof(dis)));
    sms_sb_add(&b, ", %s: ", sms_area_name(j, c->village, place, sizeof(place)));
    add_case_herd(j, &b, c);
    sms_sb_add(&b, ". [ID kasus %s] Pelapor %s %s. Segera tanggapi.", j->res->ref,
               sms_person(j, j->o->name, who, sizeof(who)),
               sms_local_phone(j->o->phone, phone, sizeof(phone)));
}

/* The reply to U and P: "Terima kasih. [ID kasus R] U kembung, demam;
 * 2 sapi; Desa X, DATE." (P: the syndrome, and that the vets know). */
static void compose_case_reply(struct sms_job *j, const void *arg)
{
    const struct case_report_in *in = arg;
    char place[128], lbl[64];
    struct sms_sb b;

    sms_sb_init(&b, j->reply, sizeof(j->reply));
    sms_sb_add(&b, "Terima kasih. [ID kasus %s] %s", j->res->ref,
               in->kind == 'U' ? "Tanda: " : "Sindrom: ");
    if (in->kind == 'U') {
        for (int i = 0; i < in->n_signs; i++)
            sms_sb_add(&b, "%s%s", i ? ", " : "", sms_label(j, "sign", in->signs[i], lbl, sizeof(lbl)));
    } else {
        sms_sb_add(&b, "%s", sms_label(j, "syndrome", in->syndrome, lbl, sizeof(lbl)));
    }
    sms_sb_add(&b, "; ");
    add_case_herd(j, &b, in);
    sms_sb_add(&b, "; %s, %s.", sms_area_name(j, in->village, place, sizeof(place)), in->event_date);
    if (in->kind == 'P')
        sms_sb_add(&b, " Dokter hewan sudah diberi tahu.");
}


int sms_do_case_report(struct sms_job *j)
{
    struct sms_msg *m = &j->m;
    struct case_report_in in;
    struct verr e;
    cJSON *doc = cJSON_CreateObject(), *arr;
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
        int dead = m->kind == SMS_P && death_syndrome(m->codes[0]);
        cJSON_AddStringToObject(a, "species", m->groups[i].code);
        cJSON_AddNumberToObject(a, dead ? "dead" : "sick", (double)m->groups[i].n[0]);
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
        r = sms_refuse_invalid(j, &ve);
        goto out;
    }
    if (validate_case_report(j->v, doc, &in, &e) < 0) {
        r = sms_refuse_invalid(j, &e);
        goto out;
    }
    if (access_check(&j->actor, REC_CASE, &in, &e) < 0) {
        r = sms_refuse_access(j, &e, in.village);
        goto out;
    }
    r = record_insert(j->s, REC_CASE, &in, j->record_id, j->res->ref);
    if (r < 0)
        goto out;
    j->record_tbl = record_table(REC_CASE);
    j->res->status = SMS_SAVED;

    sms_compose_fit(j, compose_case_reply, &in, j->reply);
    if (in.kind == 'P')
        sms_compose_fit(j, compose_alert, &in, j->alert);
out:
    cJSON_Delete(doc);
    return r;
}

/* Checks the record the message filled (in: kind's struct, not a case
 * report) with the one validator and access_check(), as every channel
 * does, and inserts it in the message's transaction. village is where an
 * access refusal says the record was for; ref gets the record's number
 * (NULL: it has none). Returns 1 when saved (the caller words the reply),
 * 0 when refused (answered), or -errno. */
static int save_record(struct sms_job *j, enum rec_kind kind, void *in, const char *village,
                       char ref[24])
{
    struct verr e;
    char none[24];
    int r;

    if (validate_record(j->v, kind, in, &e) < 0)
        return sms_refuse_invalid(j, &e);
    if (access_check(&j->actor, kind, in, &e) < 0)
        return sms_refuse_access(j, &e, village);
    r = record_insert(j->s, kind, in, j->record_id, ref ? ref : none);
    if (r < 0)
        return r;
    j->record_tbl = record_table(kind);
    j->res->status = SMS_SAVED;
    return 1;
}


int sms_find_case(struct sms_job *j, char id[UUID_STR_LEN])
{
    int r;

    sms_ref_string(j, j->res->ref);
    r = case_report_by_ref(j->s, j->res->ref, id);
    if (r == -ENOENT) {
        snprintf(j->reply, sizeof(j->reply), TAG "ID kasus %s tidak ditemukan. Periksa "
                 "nomornya (contoh: %s-000123).", j->res->ref, store_district(j->s));
        j->res->status = SMS_REFUSED;
        snprintf(j->res->error, sizeof(j->res->error), "case %s not found", j->res->ref);
    }
    return r;
}


/* What PK/LTL, VAK, POP and SK records take from the message alike: its groups as
 * herd counts (a VAK group without a booster: 0), its day and its sender. */
static void herd_from_message(struct sms_job *j, struct herd_count *a, int *n,
                              char date[11], char reporter[20])
{
    const struct sms_msg *m = &j->m;

    for (int i = 0; i < m->n_groups; i++) {
        snprintf(a[i].species, sizeof(a[i].species), "%s", m->groups[i].code);
        memcpy(a[i].n, m->groups[i].n, sizeof(a[i].n));
        if (m->kind == SMS_VAK && m->groups[i].n_counts < 2)
            a[i].n[1] = 0;
    }
    *n = m->n_groups;
    memcpy(date, j->event_date, 11);
    snprintf(reporter, 20, "%s", j->o->phone);
}


/* The reply to PK ("Hasil: sembuh.") and LTL (the counts of each species:
 * in words for one, "sakit/mati/musnah/berisiko" figures for several). */
static void compose_followup(struct sms_job *j, const void *arg)
{
    static const char *const outcome_word[] = { "SB", "sembuh", "MS", "masih sakit", "MT", "mati" };
    const struct followup_in *in = arg;
    char lbl[64];
    struct sms_sb b;

    sms_sb_init(&b, j->reply, sizeof(j->reply));
    if (j->m.kind == SMS_PK) {
        const char *word = in->outcome;
        for (size_t i = 0; i < 6; i += 2)
            if (strcmp(in->outcome, outcome_word[i]) == 0)
                word = outcome_word[i + 1];
        sms_sb_add(&b, "Terima kasih. [ID kasus %s] Hasil: %s.", j->res->ref, word);
        return;
    }
    sms_sb_add(&b, "Terima kasih. Tindak lanjut [ID kasus %s] ", j->res->ref);
    if (in->n_animals > 1)
        sms_sb_add(&b, "(sakit/mati/musnah/berisiko) ");
    for (int i = 0; i < in->n_animals; i++) {
        long long n[4];
        for (int k = 0; k < 4; k++)
            n[k] = (long long)in->animals[i].n[k];
        sms_label(j, "species", in->animals[i].species, lbl, sizeof(lbl));
        if (in->n_animals == 1)
            sms_sb_add(&b, "%s: %lld sakit, %lld mati, %lld dimusnahkan, %lld berisiko", lbl,
                       n[0], n[1], n[2], n[3]);
        else
            sms_sb_add(&b, "%s%s %lld/%lld/%lld/%lld", i ? "; " : "", lbl, n[0], n[1], n[2], n[3]);
    }
    sms_sb_add(&b, ".%s", in->escalate == 1 ? " Ditandai untuk Kepala Dinas." : "");
}


int sms_do_followup(struct sms_job *j)
{
    struct sms_msg *m = &j->m;
    struct followup_in in;
    int r;

    memset(&in, 0, sizeof(in));
    r = sms_find_case(j, in.case_id);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    snprintf(in.outcome, sizeof(in.outcome), "%s", m->outcome);
    herd_from_message(j, in.animals, &in.n_animals, in.event_date, in.reporter);
    in.escalate = m->kind == SMS_LTL ? m->escalate : -1;
    r = save_record(j, REC_FOLLOWUP, &in, "", NULL);
    if (r <= 0)
        return r;
    sms_compose_fit(j, compose_followup, &in, j->reply);
    return 0;
}


/* The reply to VAK and POP: "Terima kasih. WHAT di PLACE, DATE: LABEL N;
 * LABEL N." with the first count of each species (and a vaccination's
 * booster in brackets, where there is one). */
struct herd_reply {
    const char *what, *village, *date;
    const struct herd_count *a;
    int n;
};

static void compose_herd(struct sms_job *j, const void *arg)
{
    const struct herd_reply *h = arg;
    char place[128], lbl[64];
    struct sms_sb b;

    sms_sb_init(&b, j->reply, sizeof(j->reply));
    sms_sb_add(&b, "Terima kasih. %s di %s, %s: ", h->what,
           sms_area_name(j, h->village, place, sizeof(place)), h->date);
    for (int i = 0; i < h->n; i++) {
        sms_sb_add(&b, "%s%s %lld", i ? "; " : "",
               sms_label(j, "species", h->a[i].species, lbl, sizeof(lbl)), (long long)h->a[i].n[0]);
        if (j->m.kind == SMS_VAK && h->a[i].n[1])
            sms_sb_add(&b, " (ulangan %lld)", (long long)h->a[i].n[1]);
    }
    sms_sb_add(&b, ".");
}

static void reply_herd(struct sms_job *j, const char *what, const char *village,
                       const char *date, const struct herd_count *a, int n)
{
    struct herd_reply h = { what, village, date, a, n };

    sms_compose_fit(j, compose_herd, &h, j->reply);
}


int sms_do_vaccination(struct sms_job *j)
{
    struct vaccination_in in;
    char what[64];
    int r;

    memset(&in, 0, sizeof(in));
    snprintf(in.program, sizeof(in.program), "%s", j->m.id);
    snprintf(in.village, sizeof(in.village), "%s", j->m.loc[0] ? j->m.loc : j->o->village);
    herd_from_message(j, in.animals, &in.n_animals, in.event_date, in.reporter);
    r = save_record(j, REC_VACCINATION, &in, in.village, NULL);
    if (r <= 0)
        return r;
    snprintf(what, sizeof(what), "Vaksinasi program %s", in.program);
    reply_herd(j, what, in.village, in.event_date, in.animals, in.n_animals);
    return 0;
}


int sms_do_population(struct sms_job *j)
{
    struct population_in in;
    int r;

    memset(&in, 0, sizeof(in));
    snprintf(in.village, sizeof(in.village), "%s", j->m.loc[0] ? j->m.loc : j->o->village);
    herd_from_message(j, in.animals, &in.n_animals, in.event_date, in.reporter);
    r = save_record(j, REC_POPULATION, &in, in.village, NULL);
    if (r <= 0)
        return r;
    reply_herd(j, "Populasi", in.village, in.event_date, in.animals, in.n_animals);
    return 0;
}


/* The reply to SK: the permit's number, owner, animals, origin, destination. */
static void compose_permit(struct sms_job *j, const void *arg)
{
    const struct permit_in *in = arg;
    char from[128], to[128];
    struct sms_sb b;

    sms_sb_init(&b, j->reply, sizeof(j->reply));
    sms_sb_add(&b, "Terima kasih. SKKH %s, pemilik ID %s: ", j->res->ref, in->owner_id);
    sms_add_herd(j, &b, j->m.groups, j->m.n_groups);
    sms_sb_add(&b, ". Asal: %s. Tujuan: %s.", sms_area_name(j, in->from_area, from, sizeof(from)),
           sms_area_name(j, in->to_area, to, sizeof(to)));
}


int sms_do_permit(struct sms_job *j)
{
    struct permit_in in;
    int r;

    memset(&in, 0, sizeof(in));
    snprintf(in.owner_id, sizeof(in.owner_id), "%s", j->m.id);
    snprintf(in.owner_phone, sizeof(in.owner_phone), "%s", j->m.phone);
    snprintf(in.from_area, sizeof(in.from_area), "%s", j->m.loc);
    snprintf(in.to_area, sizeof(in.to_area), "%s", j->m.loc2);
    herd_from_message(j, in.animals, &in.n_animals, in.issue_date, in.reporter);
    r = save_record(j, REC_MOVEMENT, &in, in.from_area, j->res->ref);
    if (r <= 0)
        return r;
    sms_compose_fit(j, compose_permit, &in, j->reply);
    return 0;
}
