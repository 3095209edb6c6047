/* auth.h - officers' web accounts on this node: password hashes
 * (common/password.h), sessions (random tokens, stored only as
 * SHA-256 hashes, with an expiry), and what each role may do. Failed logins
 * are counted in memory by throttle.h (common/), per client address, not
 * here. The tables are node-local (003_web.sql): they are never synced. */
#ifndef SIKHNAS_AUTH_H
#define SIKHNAS_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "password.h"
#include "store.h"

/* Sets (or replaces) the web password of officer_id. Call inside a
 * transaction. */
int auth_set_password(struct store *s, const char *officer_id, const char *hash);

/* Who is logged in, as the pages and the API need it. */
struct auth_who {
    char officer_id[UUID_STR_LEN];
    char name[101];
    char role[16];
    char phone[20];
    char village[11];           /* "" when none */
    char csrf[AUTH_CSRF_LEN + 1];
};

/* The account behind a phone for a login attempt. */
struct auth_account {
    char officer_id[UUID_STR_LEN];
    char hash[AUTH_HASH_MAX];
};

/* Looks up the account of a normalised phone. -ENOENT when the officer does
 * not exist or has no web password. */
int auth_account_get(struct store *s, const char *phone, struct auth_account *a);
/* Opens a session of ttl seconds for officer_id (and drops expired ones):
 * token gets the cookie's value (the store keeps only its hash). Call
 * inside a transaction. */
int auth_login_ok(struct store *s, const char *officer_id, unsigned ttl,
                  char token[AUTH_TOKEN_LEN + 1]);
/* Finds the live session of a cookie token and fills *who (with its CSRF
 * token, derived from the session token). -ENOENT when none. */
int auth_session_find(struct store *s, const char *token, struct auth_who *who);
/* Ends the session of token (logout). */
int auth_session_end(struct store *s, const char *token);

/* What a role may do. */
enum auth_perm {
    PERM_READ,          /* lists, dashboard, map */
    PERM_CASE,          /* the case report endpoint (which village: access.h) */
    PERM_ENTRY,         /* follow-up, vaccination, treatment, movement, slaughter, population */
    PERM_ADMIN,         /* officers' accounts */
};
int auth_role_may(const char *role, enum auth_perm p);

#endif
