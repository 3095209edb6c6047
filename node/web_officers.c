/* web_officers.c - the officers' page in the API (docs/api.md, "Officers"):
 * the district's officers with each one's last SMS; add one; edit, bind a
 * reporter to a village, deactivate or reactivate; set a new web password.
 * A district vet manages everyone; a data clerk manages village reporters
 * and viewers only, so a clerk can neither make a vet nor lock one out; no
 * one deactivates or demotes themselves. Phones are normalised (08...,
 * 628..., +628... are one number, +62...); every refusal names its field,
 * all of a form's at once. An officer change is a synced record: it goes
 * to the hub like any other (records.h officer_insert/officer_update). */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "log.h"
#include "records.h"
#include "store.h"
#include "utf8.h"
#include "validate.h"
#include "web_int.h"

#define OFFICER_ERRS 6

void web_api_officers(struct wreq *q)
{
    sqlite3_stmt *st = store_stmt(q->w->d->store,
        "SELECT o.id, o.name, o.role, o.phone, o.village,"
        " (SELECT name FROM area WHERE code = o.village) AS village_name,"
        " o.deleted = 0 AS active, o.updated_at,"
        " EXISTS (SELECT 1 FROM web_account w WHERE w.officer_id = o.id) AS has_password,"
        " (SELECT json_object('received_at', i.received_at, 'text', i.text, 'status', i.status)"
        "  FROM sms_in i WHERE i.sender = o.phone ORDER BY i.received_at DESC LIMIT 1)"
        " AS last_sms_json"
        " FROM officer o ORDER BY o.deleted, o.role = 'reporter', o.name LIMIT 2000");

    if (!st) {
        web_send_store_error(q, -EIO);
        return;
    }
    web_send_rows(q, st);
}

/* Roles a manager of role `by` may give or take. */
static int may_manage(const char *by, const char *role)
{
    if (strcmp(by, "vet") == 0)
        return 1;
    return strcmp(by, "clerk") == 0 && (strcmp(role, "reporter") == 0 ||
                                        strcmp(role, "viewer") == 0);
}

struct officer_form {
    struct verr e[OFFICER_ERRS];
    int n;
};

static void form_fail(struct officer_form *f, enum verr_code c, const char *field,
                      const char *detail)
{
    struct verr *e;

    if (f->n >= OFFICER_ERRS)
        return;
    e = &f->e[f->n++];
    memset(e, 0, sizeof(*e));
    e->code = c;
    snprintf(e->field, sizeof(e->field), "%s", field);
    snprintf(e->detail, sizeof(e->detail), "%.60s", detail ? detail : "");
}

/* The string member name of doc: NULL when absent; a non-string is a
 * refusal (and NULL). */
static const char *str_of(const cJSON *doc, const char *name, struct officer_form *f)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(doc, name);

    if (!it || cJSON_IsNull(it))
        return NULL;
    if (!cJSON_IsString(it)) {
        form_fail(f, VERR_TYPE, name, "string");
        return NULL;
    }
    return it->valuestring;
}

/* Reads name, phone, role and village of doc over *in (what doc leaves out
 * stays as it is), checking each and collecting every refusal in f. */
static void officer_read(struct wreq *q, const cJSON *doc, struct officer_in *in,
                         struct officer_form *f)
{
    const char *name = str_of(doc, "name", f), *phone = str_of(doc, "phone", f);
    const char *role = str_of(doc, "role", f), *village = str_of(doc, "village", f);
    struct validator *v = q->w->d->validator;

    if (name) {
        if (!name[0] || strlen(name) > V_NAME_MAX || !utf8_valid(name, strlen(name), UTF8_TEXT) ||
            strchr(name, '\n'))
            form_fail(f, name[0] ? VERR_TOO_LONG : VERR_REQUIRED, "name", NULL);
        else
            snprintf(in->name, sizeof(in->name), "%s", name);
    }
    if (phone && phone_normalize(phone, in->phone) < 0)
        form_fail(f, phone[0] ? VERR_PHONE : VERR_REQUIRED, "phone", phone);
    if (role) {
        if (!validator_has_code(v, "role", role))
            form_fail(f, role[0] ? VERR_UNKNOWN_CODE : VERR_REQUIRED, "role", role);
        else
            snprintf(in->role, sizeof(in->role), "%s", role);
    }
    if (village) {
        enum verr_code c = village[0] ? validate_village(v, village, in->village) : VERR_NONE;
        if (c != VERR_NONE)
            form_fail(f, c, "village", village);
        else if (!village[0])
            in->village[0] = '\0';
    }
    if (!in->name[0] && !name)
        form_fail(f, VERR_REQUIRED, "name", NULL);
    if (!in->phone[0] && !phone)
        form_fail(f, VERR_REQUIRED, "phone", NULL);
    if (!in->role[0] && !role)
        form_fail(f, VERR_REQUIRED, "role", NULL);
    if (strcmp(in->role, "reporter") == 0 && !in->village[0] && !(village && village[0]))
        form_fail(f, VERR_REQUIRED, "village", "a village reporter reports for one village");
}

/* Answers the outcome of an officer write: 200/201 with the officer's id,
 * 409 for a phone that is taken, else the store's failure. */
static void answer_write(struct wreq *q, int r, int status, const char *id, const char *phone)
{
    cJSON *o;

    if (r == -EEXIST) {
        web_send_error(q, 409, "phone_taken",
                       "Nomor ini sudah terdaftar untuk petugas lain (mungkin nonaktif: aktifkan "
                       "lagi petugas itu).",
                       "This number is another officer's (perhaps deactivated: reactivate "
                       "that officer).", NULL);
        return;
    }
    if (r < 0) {
        web_send_store_error(q, r);
        return;
    }
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "phone", phone);
    web_send_json(q, status, o, NULL);
}

static void refuse_role(struct wreq *q)
{
    web_send_error(q, 403, "forbidden", "Peran Anda tidak boleh mengelola petugas dengan peran ini.",
                   "Your role may not manage officers of this role.", NULL);
}

/* Answers the form's refusals, or a role the officer may not give; 0 when
 * neither, else -1 (answered). */
static int form_refused(struct wreq *q, const struct officer_form *f, const char *role)
{
    if (f->n) {
        web_send_verrs(q, f->e, f->n);
        return -1;
    }
    if (!may_manage(q->who.role, role)) {
        refuse_role(q);
        return -1;
    }
    return 0;
}

void web_api_officer_add(struct wreq *q, cJSON *doc)
{
    struct store *s = q->w->d->store;
    struct officer_in in;
    struct officer_form f = { .n = 0 };
    char id[UUID_STR_LEN];
    int r;

    memset(&in, 0, sizeof(in));
    officer_read(q, doc, &in, &f);
    if (form_refused(q, &f, in.role) < 0)
        return;
    r = store_begin(s);
    if (r == 0) {
        r = officer_insert(s, &in, id);
        r = store_end(s, r);
    }
    if (r == 0)
        log_notice("web: %s registered %s (%s)", q->who.phone, in.phone, in.role);
    answer_write(q, r, 201, id, in.phone);
}

/* The officer id as it is now into *in and *active; 0, -ENOENT or -errno. */
static int officer_get(struct store *s, const char *id, struct officer_in *in, int *active)
{
    char act[4] = "";
    const struct store_col col[] = { { in->name, sizeof(in->name) }, { in->role, sizeof(in->role) },
        { in->phone, sizeof(in->phone) }, { in->village, sizeof(in->village) }, { act, sizeof(act) } };
    int r = store_get(s, "SELECT name, role, phone, coalesce(village, ''), 1 - deleted"
                         " FROM officer WHERE id = ?1", id, col, 5);

    *active = strcmp(act, "1") == 0;
    return r;
}

/* The officer doc names by "id", which the caller may manage, into *in and
 * *active; 0, or -1 when the request was answered. */
static int officer_target(struct wreq *q, const cJSON *doc, char id[UUID_STR_LEN],
                          struct officer_in *in, int *active)
{
    const char *want = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "id"));
    int r;

    if (!want || !want[0] || strlen(want) >= UUID_STR_LEN) {
        web_send_error(q, 422, "required", "id petugas wajib diisi.", "The officer's id is required.",
                       NULL);
        return -1;
    }
    snprintf(id, UUID_STR_LEN, "%s", want);
    memset(in, 0, sizeof(*in));
    r = officer_get(q->w->d->store, id, in, active);
    if (r == -ENOENT) {
        web_send_error(q, 404, "not_found", "Petugas tidak ditemukan.", "No such officer.", NULL);
        return -1;
    }
    if (r < 0) {
        web_send_store_error(q, r);
        return -1;
    }
    if (!may_manage(q->who.role, in->role)) {
        refuse_role(q);
        return -1;
    }
    return 0;
}

void web_api_officer_update(struct wreq *q, cJSON *doc)
{
    struct store *s = q->w->d->store;
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(doc, "active");
    struct officer_form f = { .n = 0 };
    struct officer_in in;
    char id[UUID_STR_LEN], role_was[16];
    int active, r, self;

    if (officer_target(q, doc, id, &in, &active) < 0)
        return;
    snprintf(role_was, sizeof(role_was), "%s", in.role);
    officer_read(q, doc, &in, &f);
    if (act && !cJSON_IsBool(act))
        form_fail(&f, VERR_TYPE, "active", "true or false");
    if (form_refused(q, &f, in.role) < 0)
        return;
    self = strcmp(id, q->who.officer_id) == 0;
    if (act)
        active = cJSON_IsTrue(act);
    if (self && (!active || strcmp(role_was, in.role) != 0)) {
        web_send_error(q, 403, "self", "Anda tidak dapat menonaktifkan atau mengubah peran diri "
                       "sendiri.", "You cannot deactivate yourself or change your own role.", NULL);
        return;
    }
    r = store_begin(s);
    if (r == 0) {
        r = officer_update(s, id, &in, active);
        if (r == 0 && !active)          /* a deactivated officer's sessions end now */
            r = store_run_text(s, "DELETE FROM web_session WHERE officer_id = ?1", id);
        r = store_end(s, r);
    }
    if (r == 0)
        log_notice("web: %s changed officer %s (%s, %s)", q->who.phone, in.phone, in.role,
                   active ? "active" : "deactivated");
    answer_write(q, r, 200, id, in.phone);
}

/* ------------------------------------------------------------------ password */

struct pw_job {
    uv_work_t req;
    struct web *w;
    struct http_conn *c;
    const char *lang;
    char id[UUID_STR_LEN];
    char password[AUTH_PASSWORD_MAX + 1];
    char hash[AUTH_HASH_MAX];
    char by[20];
    int r;
};

static void pw_work(uv_work_t *req)
{
    struct pw_job *j = req->data;

    j->r = auth_hash_password(j->password, AUTH_PBKDF2_ITER, j->hash);
}

static void pw_done(uv_work_t *req, int status)
{
    struct pw_job *j = req->data;
    struct web *w = j->w;
    struct store *s = w->d->store;
    struct wreq q = { .w = w, .c = j->c, .lang = j->lang };
    int r = status < 0 ? -ECANCELED : j->r;

    memset(j->password, 0, sizeof(j->password));
    web_kdf_done(w);
    if (r == 0)
        r = store_begin(s);
    if (r == 0) {
        r = auth_set_password(s, j->id, j->hash);       /* ends the officer's sessions too */
        r = store_end(s, r);
    }
    memset(j->hash, 0, sizeof(j->hash));
    if (r < 0) {
        web_send_store_error(&q, r);
    } else {
        log_notice("web: %s set a new web password for officer %s", j->by, j->id);
        web_send_body(&q, 204, "text/plain", NULL, "", 0);
    }
    web_job_end(w, j->c, j);
}

void web_api_officer_password(struct wreq *q, cJSON *doc)
{
    struct web *w = q->w;
    const char *pw = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "password"));
    struct officer_in in;
    struct pw_job *j;
    char id[UUID_STR_LEN];
    int active;

    if (officer_target(q, doc, id, &in, &active) < 0)
        return;
    if (!pw || auth_password_ok(pw) < 0) {
        web_send_error(q, 422, "password", "Kata sandi harus 8 sampai 256 karakter.",
                       "A password is 8 to 256 characters.", NULL);
        return;
    }
    if (w->kdf_jobs >= WEB_KDF_JOBS_MAX) {
        web_send_error(q, 503, "busy", "Server sibuk; coba lagi.", "Busy; try again.",
                       "Retry-After: 1\r\n");
        return;
    }
    j = calloc(1, sizeof(*j));
    if (!j) {
        web_send_store_error(q, -ENOMEM);
        return;
    }
    j->w = w;
    j->c = q->c;
    j->lang = q->lang;
    memcpy(j->id, id, sizeof(j->id));
    snprintf(j->by, sizeof(j->by), "%s", q->who.phone);
    snprintf(j->password, sizeof(j->password), "%s", pw);
    j->req.data = j;
    if (web_kdf_start(w, q->c, &j->req, pw_work, pw_done) < 0) {
        memset(j->password, 0, sizeof(j->password));
        free(j);
        web_send_store_error(q, -EIO);
    }
}
