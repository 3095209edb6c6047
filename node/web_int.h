/* web_int.h - what the web module's files share: the module's state, the
 * route table's entries, one request being answered, the answers and the
 * handlers. Not for other modules: they use web.h.
 *
 *   web.c          the module, the route table, the security checks, pages
 *   web_answer.c   answers: JSON, errors in the officer's language, refusals
 *   web_session.c  the session cookie, who is logged in, logout
 *   web_login.c    POST /api/v1/login (the KDF on the thread pool)
 *   web_read.c     the reads: codes, areas, the lists of each kind, dashboard
 *   web_map.c      the map's GeoJSON
 *   web_case.c     a case with all that belongs to it; the work queues; resend
 *   web_officers.c the officers: list, add, edit, deactivate, new password
 *   web_trend.c    12 weeks of case reports: epi curves, kecamatan, silent villages
 *   web_cache.c    the counting reads' answers, kept until the store changes
 *   web_record.c   POST of a record: validator, access_check(), queue
 *   web_commit.c   the group commit of the queued records */
#ifndef SIKHNAS_WEB_INT_H
#define SIKHNAS_WEB_INT_H

#include <cJSON.h>
#include <uv.h>

#include "auth.h"
#include "daemon.h"
#include "http_server.h"
#include "validate.h"
#include "web.h"

/* A validated record waiting for the next group commit. */
struct pending {
    struct pending *next;
    struct http_conn *c;        /* holds a ref */
    const char *lang;
    enum rec_kind kind;
    void *in;                   /* the validated C struct; owned */
    char key[65];               /* the Idempotency-Key, "" when none */
    int again;                  /* 1: the key's record existed; -1: key of another kind */
};

struct web {
    struct daemon *d;
    struct http_server *srv;
    uv_idle_t flush;            /* runs the group commit; active while queue is not empty */
    struct pending *queue, **tail;
    unsigned queued;
    int refs;                   /* the idle handle + logins on the thread pool */
    int kdf_jobs;               /* logins on the thread pool */
    struct throttle *throttle;  /* failed logins per (phone, address) and address */
    int stopping;
    unsigned session_ttl;
    int secure;                 /* served over HTTPS: the session cookie is Secure */
    struct web_cached *cache;   /* answers of the counting reads, by path (web_cache.c) */
};

/* One kept answer: valid while the store is as it was (its data_version
 * for other processes' commits, total_changes for ours). */
struct web_cached {
    struct web_cached *next;
    char key[160];              /* path?query */
    int64_t data_version, changes;
    char *json;                 /* the answer's body, or NULL when kept compressed only */
    size_t len;
    unsigned char *gz;          /* the answer gzip-compressed, or NULL */
    size_t gz_len;
};

struct wreq;

enum route_kind {
    R_GET,                      /* GET or HEAD */
    R_POST,                     /* POST of a JSON object, parsed before post() runs */
    R_POST_EMPTY,               /* POST whose body is not read (logout) */
};

/* One endpoint of the API (web.c's route table). */
struct route {
    enum route_kind kind;
    const char *path;
    int perm;                   /* enum auth_perm; -1: no session needed */
    void (*get)(struct wreq *q);                /* R_GET, R_POST_EMPTY */
    void (*post)(struct wreq *q, cJSON *doc);   /* R_POST: doc is a JSON object */
    int rec;                    /* enum rec_kind of a record's list or POST; -1: none */
    int cached;                 /* R_GET whose answers web_cache.c keeps */
};

/* One request being answered. */
struct wreq {
    struct web *w;
    const struct route *rt;
    struct http_conn *c;
    const struct http_req *r;
    const char *lang;           /* "id" or "en" */
    int logged_in;
    char token[AUTH_TOKEN_LEN + 1];
    struct auth_who who;
    int keep;                   /* a counting read: web_send_json keeps a 200 (web_cache.c) */
};

/* The cache of the counting reads (queues, dashboard, trends, map): each
 * answer is kept until the store changes, so ten officers on the
 * dashboard cost one count (web_cache.c). web_cache_send answers q from it
 * and returns 1, or returns 0 and marks q so that its answer is kept;
 * web_cache_put keeps text (len bytes; gz may be NULL); web_cache_free
 * empties it. */
int web_cache_send(struct wreq *q);
void web_cache_put(struct wreq *q, const char *text, size_t len, const unsigned char *gz,
                   size_t gz_len);
void web_cache_free(struct web *w);
/* The store's state for the cache: *dv its PRAGMA data_version (other
 * processes' commits), *ch this connection's total changes; 0 or -1. */
int web_cache_stamp(struct web *w, int64_t *dv, int64_t *ch);

/* Answers (web_answer.c): JSON (o is consumed); any body with the security
 * headers; {"error": {code, message}} in the officer's language; the
 * validator's or access_check()'s refusal (422 or 403, naming the field);
 * the store's failures (503 busy, 500 store). */
#define WEB_GZIP_FROM 4096     /* bytes of JSON from which it goes gzip-compressed */
void web_send_json(struct wreq *q, int status, cJSON *o, const char *extra);
/* The same for JSON already written: text (len bytes, NUL-terminated,
 * malloc'd) is consumed; NULL answers 500 (out of memory). */
void web_send_text(struct wreq *q, int status, char *text, size_t len, const char *extra);
/* 1 when the request's Accept-Encoding takes gzip (named, not q=0). */
int web_takes_gzip(struct wreq *q);
void web_send_body(struct wreq *q, int status, const char *ctype, const char *extra,
                   const char *body, size_t len);
void web_send_error(struct wreq *q, int status, const char *code, const char *msg_id,
                    const char *msg_en, const char *extra);
void web_send_verr(struct wreq *q, const struct verr *e);
/* n (>= 1) refusals at once: "error" is the first, "errors" all of them. */
void web_send_verrs(struct wreq *q, const struct verr *e, int n);
void web_send_store_error(struct wreq *q, int r);

/* Sessions (web_session.c). web_session_load reads the cookie and, when it
 * names a live session, fills q->token and q->who and sets q->logged_in. */
void web_session_load(struct wreq *q);
/* The session's JSON: the officer, what the role may, the CSRF token. */
cJSON *web_who_json(struct web *w, const struct auth_who *who);
void web_api_session(struct wreq *q);                 /* GET /api/v1/session */
void web_api_logout(struct wreq *q);                  /* POST /api/v1/logout */
void web_api_login(struct wreq *q, cJSON *doc);       /* POST /api/v1/login (web_login.c) */

/* Reads (web_read.c, web_map.c, web_case.c). web_rows_json runs st and
 * gives its rows as an array of objects by column name (columns named
 * "*_json" parsed; integers exact), *rc_out the last sqlite3_step() code;
 * web_send_rows answers with them (or the store's error). */
cJSON *web_rows_json(sqlite3_stmt *st, int *rc_out);
void web_send_rows(struct wreq *q, sqlite3_stmt *st);
void web_api_codes(struct wreq *q);
void web_api_areas(struct wreq *q);
void web_api_reports(struct wreq *q);                 /* the case reports' list */
void web_api_kind_list(struct wreq *q);               /* the list of the route's kind */
void web_api_dashboard(struct wreq *q);
void web_api_map(struct wreq *q);
void web_api_case(struct wreq *q);                    /* GET /api/v1/case?ref= */
void web_api_queues(struct wreq *q);                  /* GET /api/v1/queues */
void web_api_trends(struct wreq *q);                  /* GET /api/v1/trends (web_trend.c) */
void web_api_resend(struct wreq *q, cJSON *doc);      /* POST /api/v1/resend */
void web_api_correct(struct wreq *q, cJSON *doc);     /* POST /api/v1/correct */

/* The officers (web_officers.c): the list with each one's last SMS; add;
 * edit or deactivate; set a new web password (KDF on the thread pool). */
void web_api_officers(struct wreq *q);
void web_api_officer_add(struct wreq *q, cJSON *doc);
void web_api_officer_update(struct wreq *q, cJSON *doc);
void web_api_officer_password(struct wreq *q, cJSON *doc);

/* POST of a record of the route's kind (web_record.c). */
void web_api_record_add(struct wreq *q, cJSON *doc);
/* The record kind a POST to path takes, or -1 (web.c, from the routes). */
int web_route_record(const char *path);

/* The group commit (web_commit.c). start sets up w->flush (before any
 * enqueue); enqueue copies in (size bytes) and answers the request after
 * the next commit (201; 200 with "again" when key, the request's
 * Idempotency-Key, made the record before; 409 when it made another kind); flush commits and answers what is queued now; close
 * closes w->flush, whose close callback drops one of w->refs. */
void web_commit_start(struct web *w);
void web_commit_enqueue(struct wreq *q, enum rec_kind kind, const void *in, size_t size,
                        const char *key);
void web_commit_flush(struct web *w);
void web_commit_close(struct web *w);

/* Frees the module's memory once its last reference (refs) is gone. */
void web_free(struct web *w);

/* A password job on the thread pool (login, an officer's new password):
 * web_kdf_start() queues work and done for the request on c, counts the job
 * in w->kdf_jobs and w->refs and holds c; 0, or -EIO when it cannot be
 * queued (nothing held then). done calls web_kdf_done() first, and
 * web_job_end() last, which lets c go (when not NULL), frees job, and frees
 * the module if that was its last reference. */
int web_kdf_start(struct web *w, struct http_conn *c, uv_work_t *req, uv_work_cb work,
                  uv_after_work_cb done);
void web_kdf_done(struct web *w);
void web_job_end(struct web *w, struct http_conn *c, void *job);

#endif
