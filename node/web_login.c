/* web_login.c - POST /api/v1/login: the password check (PBKDF2) runs on
 * libuv's thread pool, and failed logins are throttled per (phone, client
 * address) and per address (throttle.h). A wrong password and an unknown
 * phone take the same path: the same KDF, the same 401, the same count. */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "http_server.h"
#include "log.h"
#include "throttle.h"
#include "web_int.h"

struct login_job {
    uv_work_t req;
    struct web *w;
    struct http_conn *c;
    const char *lang;
    int known;
    int r;
    struct auth_kdf k;
    char officer_id[UUID_STR_LEN];
    char phone[THROTTLE_KEY_MAX];   /* as throttled: normalised, or as typed */
    char addr[64];                  /* the client's address */
    char password[AUTH_PASSWORD_MAX + 1];
    size_t len;
};

static int64_t mono_s(struct web *w)
{
    return (int64_t)(uv_now(w->d->loop) / 1000);
}

static void login_work(uv_work_t *req)
{
    struct login_job *j = req->data;

    j->r = auth_kdf_derive(&j->k, j->password, j->len);
}

/* A wrong password and an unknown phone end here alike: one 401, counted
 * by the throttle; nothing is written to the store. */
static void login_failed(struct login_job *j, struct wreq *q)
{
    struct web *w = j->w;

    if (throttle_failed(w->throttle, j->phone, j->addr, mono_s(w)))
        log_notice("web: logins of %.20s from %s paused for %d s after failed attempts",
                   j->phone, j->addr, THROTTLE_PAUSE_S);
    web_send_error(q, 401, "login_failed", "Nomor telepon atau kata sandi salah.",
                   "Wrong phone number or password.", NULL);
}

static void login_done(uv_work_t *req, int status)
{
    struct login_job *j = req->data;
    struct web *w = j->w;
    struct store *s = w->d->store;
    struct wreq q = { .w = w, .c = j->c, .lang = j->lang };
    char token[AUTH_TOKEN_LEN + 1], cookie[256];
    int ok = status == 0 && j->r == 0 && j->known && auth_kdf_match(&j->k);
    int r;

    memset(j->password, 0, sizeof(j->password));
    web_kdf_done(w);
    if (!ok) {
        login_failed(j, &q);
        goto out;
    }
    throttle_ok(w->throttle, j->phone, j->addr);
    r = store_begin(s);
    if (r == 0)
        r = auth_login_ok(s, j->officer_id, w->session_ttl, token);
    r = store_end(s, r);
    if (r < 0) {
        web_send_store_error(&q, r);
    } else if (auth_session_find(s, token, &q.who) < 0) {
        web_send_store_error(&q, -EIO);
    } else {
        log_info("web: %s logged in (%s) from %s", q.who.phone, q.who.role, j->addr);
        snprintf(cookie, sizeof(cookie), "Set-Cookie: sid=%s; Path=/; HttpOnly; "
                 "SameSite=Strict;%s Max-Age=%u\r\n", token, w->secure ? " Secure;" : "",
                 w->session_ttl);
        web_send_json(&q, 200, web_who_json(w, &q.who), cookie);
    }
    memset(token, 0, sizeof(token));
out:
    web_job_end(w, j->c, j);
}

/* Whoever logs in, known phone or not, is throttled the same way, and the
 * KDF runs for an unknown phone too: neither the answer nor its time says
 * whether a phone has an account. */
void web_api_login(struct wreq *q, cJSON *doc)
{
    struct web *w = q->w;
    const cJSON *ph = cJSON_GetObjectItemCaseSensitive(doc, "phone");
    const cJSON *pw = cJSON_GetObjectItemCaseSensitive(doc, "password");
    struct auth_account a;
    struct login_job *j;
    char phone[20], retry[48];
    int64_t wait;
    int r;

    if (!cJSON_IsString(ph) || !cJSON_IsString(pw) ||
        strlen(pw->valuestring) > AUTH_PASSWORD_MAX) {
        web_send_error(q, 400, "bad_request", "Isi nomor telepon dan kata sandi.",
                       "Give a phone number and a password.", NULL);
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
    r = phone_normalize(ph->valuestring, phone);
    snprintf(j->phone, sizeof(j->phone), "%s", r == 0 ? phone : ph->valuestring);
    snprintf(j->addr, sizeof(j->addr), "%s", q->r->peer);
    wait = throttle_wait(w->throttle, j->phone, j->addr, mono_s(w));
    if (wait > 0) {
        free(j);
        snprintf(retry, sizeof(retry), "Retry-After: %lld\r\n", (long long)wait);
        web_send_error(q, 429, "locked",
                       "Terlalu banyak percobaan masuk yang gagal dari komputer ini; coba lagi "
                       "nanti.", "Too many failed logins from this computer; try again later.",
                       retry);
        return;
    }
    if (w->kdf_jobs >= WEB_KDF_JOBS_MAX) {
        free(j);
        web_send_error(q, 503, "busy", "Terlalu banyak login bersamaan; coba lagi.",
                       "Too many logins at once; try again.", "Retry-After: 1\r\n");
        return;
    }
    r = r == 0 ? auth_account_get(w->d->store, phone, &a) : -ENOENT;
    if (r == 0 && auth_hash_parse(a.hash, &j->k) == 0) {
        j->known = 1;
        memcpy(j->officer_id, a.officer_id, sizeof(j->officer_id));
    } else if (r < 0 && r != -ENOENT) {
        free(j);
        web_send_store_error(q, r);
        return;
    } else {
        auth_kdf_dummy(&j->k);      /* as slow as a real check: phones stay private */
    }
    j->len = strlen(pw->valuestring);
    memcpy(j->password, pw->valuestring, j->len);
    j->req.data = j;
    r = web_kdf_start(w, q->c, &j->req, login_work, login_done);
    if (r < 0) {
        memset(j->password, 0, sizeof(j->password));
        free(j);
        web_send_store_error(q, r);
    }
}
