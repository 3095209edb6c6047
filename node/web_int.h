/* web_int.h - what the web module's files (web.c, web_login.c) share: the
 * module's state, one request being answered, and the answers. Not for
 * other modules: they use web.h. */
#ifndef SIKHNAS_WEB_INT_H
#define SIKHNAS_WEB_INT_H

#include <cJSON.h>
#include <uv.h>

#include "auth.h"
#include "daemon.h"
#include "http_server.h"
#include "web.h"

struct kind_def;

/* A validated record waiting for the next group commit. */
struct pending {
    struct pending *next;
    struct http_conn *c;        /* holds a ref */
    const char *lang;
    const struct kind_def *kind;  /* NULL: a case report */
    void *in;                   /* the validated C struct; owned */
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
};

struct route;

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
};

/* Answers: JSON (o is consumed), {"error": {code, message}} in the
 * officer's language, and the store's failures (503 busy, 500 store). */
void web_send_json(struct wreq *q, int status, cJSON *o, const char *extra);
void web_send_error(struct wreq *q, int status, const char *code, const char *msg_id,
                    const char *msg_en, const char *extra);
void web_send_store_error(struct wreq *q, int r);
/* The session's JSON: the officer, what the role may, the CSRF token. */
cJSON *web_who_json(struct web *w, const struct auth_who *who);
/* Frees the module's memory once its last reference (refs) is gone. */
void web_free(struct web *w);

/* POST /api/v1/login (web_login.c). */
void web_api_login(struct wreq *q, cJSON *doc);

#endif
