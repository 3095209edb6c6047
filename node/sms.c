/* sms.c - one incoming SMS from sender to record, reply and alerts.
 *
 * Order of events for a message: BEGIN; the duplicate check (sms_in.hash);
 * the officer look-up; parse; validate; insert the record; insert sms_in and
 * the sms_out rows (reply, and for a P report one alert per district vet);
 * COMMIT (synchronous=FULL). Only then does the spool side write files, so a
 * reply never confirms a record that is not on the card. Replies are in
 * Bahasa Indonesia, as DOMAIN.md §7 shows them (sms_reply.c); the codes are
 * carried out by sms_records.c and sms_query.c (sms_int.h). */
#include "sms.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hex.h"
#include "sms_int.h"
#include "sms_len.h"
#include "tz.h"
#include "utf8.h"

#define MAX_VETS 200                  /* alerts per P report, a bound on the loop */

/* ---------------------------------------------------------------- the sender */

static int officer_by_phone(struct store *s, const char *phone, struct sms_officer *o)
{
    const struct store_col col[] = { { o->name, sizeof(o->name) },
        { o->role, sizeof(o->role) }, { o->village, sizeof(o->village) } };
    int r = store_get(s, "SELECT name, role, village FROM officer"
                         " WHERE phone = ?1 AND deleted = 0", phone, col, 3);

    if (r == 0)
        snprintf(o->phone, sizeof(o->phone), "%s", phone);
    return r;
}


/* The event date: the modem's date when it is a valid past date, else today
 * in the district's time zone (tz.h). */
static void event_date(struct store *s, const char *sent, char out[11])
{
    char d[11] = "";

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
    tz_date(tz_of_area(store_district(s)), time(NULL), out);
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

static void add_code_list(struct sms_sb *b, unsigned mask)
{
    int first = 1;

    for (int k = SMS_U; k < SMS_KIND_COUNT; k++) {
        if (mask & BIT(k)) {
            sms_sb_add(b, "%s%s", first ? "" : ", ", sms_kind_code((enum sms_kind)k));
            first = 0;
        }
    }
    sms_sb_add(b, "%s?", first ? "" : ", ");
}


/* ---------------------------------------------------------------- handling */

/* ?: the codes the sender may send. */
static int do_help(struct sms_job *j)
{
    struct sms_sb b;

    sms_sb_init(&b, j->reply, sizeof(j->reply));
    sms_sb_add(&b, TAG "Kode yang dapat Anda kirim: ");
    add_code_list(&b, role_codes(j->o->role) & ~BIT(SMS_HELP));
    sms_sb_add(&b, ". Kirim kodenya saja (mis. U) untuk melihat formatnya.");
    j->res->status = SMS_ANSWERED;
    return 0;
}

/* The handler of each code that sms_parse() knows. */
static int (*const handlers[SMS_KIND_COUNT])(struct sms_job *j) = {
    [SMS_HELP] = do_help,
    [SMS_U] = sms_do_case_report,
    [SMS_P] = sms_do_case_report,
    [SMS_PK] = sms_do_followup,
    [SMS_LTL] = sms_do_followup,
    [SMS_VAK] = sms_do_vaccination,
    [SMS_POP] = sms_do_population,
    [SMS_SK] = sms_do_permit,
    [SMS_KODE] = sms_do_kode,
    [SMS_CKL] = sms_do_ckl,
    [SMS_LAPK] = sms_do_lapk,
};

/* Parses and carries out the message of a known officer; fills j->reply. */
static int dispatch(struct sms_job *j, const char *text, size_t len)
{
    unsigned allowed = role_codes(j->o->role);
    struct sms_error pe;
    struct sms_sb b;
    int r;

    r = sms_parse(text, len, &j->m, &pe);
    if (j->m.kind == SMS_EMPTY || j->m.kind == SMS_UNKNOWN) {
        sms_sb_init(&b, j->reply, sizeof(j->reply));
        sms_sb_add(&b, TAG "Format SMS tidak dikenali: SMS harus mulai dengan kode berikut: ");
        add_code_list(&b, allowed & ~BIT(SMS_HELP));
        j->res->status = SMS_REFUSED;
        snprintf(j->res->error, sizeof(j->res->error), "unknown code '%s'", j->m.code);
        return 0;
    }
    if (!(allowed & BIT(j->m.kind))) {
        sms_sb_init(&b, j->reply, sizeof(j->reply));
        sms_sb_add(&b, TAG "Maaf, kode %s tidak dapat Anda kirim. Kode Anda: ",
               sms_kind_code(j->m.kind));
        add_code_list(&b, allowed & ~BIT(SMS_HELP));
        j->res->status = SMS_REFUSED;
        snprintf(j->res->error, sizeof(j->res->error), "code %s not allowed for role %s",
                 sms_kind_code(j->m.kind), j->o->role);
        return 0;
    }
    if (r < 0)
        return sms_refuse_format(j, pe.reason, pe.token);
    assert((unsigned)j->m.kind < SMS_KIND_COUNT && handlers[j->m.kind]);
    return handlers[j->m.kind](j);
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

    if (!st)
        return -EIO;
    /* what goes to a phone is valid UTF-8, whatever a reply quoted */
    utf8_clean(text, strnlen(text, sizeof(clean) - 1), clean, sizeof(clean));
    text = clean;
    sqlite3_bind_int64(st, 1, msg);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, phone, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
    return store_step_done(s, st);
}

static int queue_alerts(struct sms_job *j, int64_t msg)
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

static const char *const status_word[] = {
    [SMS_SAVED] = "saved", [SMS_ANSWERED] = "answered", [SMS_REFUSED] = "refused",
    [SMS_UNKNOWN_PHONE] = "unknown_phone",
};

/* A message handled before (the same hash): counts this delivery and fills
 * res as the first handling did. A message read again from the source it
 * was last handled from (a spool file left in incoming/ by a stop between
 * its reply and its move) is the same delivery: not counted, and marked so
 * that its reply is not sent again. Inside the message's transaction.
 * Returns 1 when it is one, 0 when the message is new, or -errno. */
static int seen_before(struct store *s, const char *hash, const char *source,
                       struct sms_result *res)
{
    sqlite3_stmt *st = store_stmt(s, "SELECT id, coalesce(ref, ''), status, source = ?2"
                                     " FROM sms_in WHERE hash = ?1");
    const char *status;
    int rc, r;

    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, source, -1, SQLITE_STATIC);     /* NULL: never the same */
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? 0 : store_error(s, rc);
    }
    status = (const char *)sqlite3_column_text(st, 2);
    res->duplicate = 1;
    res->same_delivery = sqlite3_column_int(st, 3) == 1;
    res->msg_id = sqlite3_column_int64(st, 0);
    snprintf(res->ref, sizeof(res->ref), "%s", (const char *)sqlite3_column_text(st, 1));
    for (int k = 0; k <= SMS_UNKNOWN_PHONE; k++)
        if (strcmp(status, status_word[k]) == 0)
            res->status = (enum sms_status)k;
    sqlite3_reset(st);
    if (res->same_delivery)
        return 1;
    st = store_stmt(s, "UPDATE sms_in SET deliveries = deliveries + 1,"
                       " source = coalesce(?2, source) WHERE id = ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, res->msg_id);
    sqlite3_bind_text(st, 2, source, -1, SQLITE_STATIC);
    r = store_step_done(s, st);
    return r < 0 ? r : 1;
}

int sms_handle(struct store *s, struct validator *v, const struct sms_incoming *in,
               struct sms_result *res)
{
    struct sms_officer o = {0};
    struct sms_job *j = NULL;
    char phone[20], hash[65], now[32];
    const char *sender = in->sender;
    sqlite3_stmt *st;
    int has_phone, r;

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

    r = seen_before(s, hash, in->source, res);
    if (r != 0) {
        if (r > 0)
            r = store_commit(s);
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
        event_date(s, in->sent, j->event_date);
        r = dispatch(j, in->text, in->len);
        sms_fit_cut(j->reply);          /* one SMS each, whatever the handler wrote */
        sms_fit_cut(j->alert);
    }
    if (r < 0)
        goto out;

    store_now_iso(now);
    st = store_stmt(s,
        "INSERT INTO sms_in (hash, sender, sent, received_at, text, code, status, error,"
        " record_tbl, record_id, ref, source)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
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
    sqlite3_bind_text(st, 12, in->source, -1, SQLITE_STATIC);
    r = store_step_done(s, st);
    if (r < 0)
        goto out;
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

/* Marks the outgoing message id written, to the file name ("": none). */
static int mark_written(struct store *s, int64_t id, const char *name)
{
    sqlite3_stmt *st = store_stmt(s, "UPDATE sms_out SET written = 1, file = ?2 WHERE id = ?1");

    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    bind_opt(st, 2, name);
    return store_step_done(s, st);
}

int sms_flush(struct store *s, int64_t msg_id, int resend_reply, sms_send_fn send, void *ctx)
{
    sqlite3_stmt *st = NULL;
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
        if (r == 0)
            r = mark_written(s, p[i].id, name);
        if (r < 0)
            goto out;
        n++;
    }
out:
    sqlite3_finalize(st);
    free(p);
    return r < 0 ? r : n;
}

