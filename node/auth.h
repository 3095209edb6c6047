/* auth.h - officers' web accounts on this node: password hashes
 * (PBKDF2-HMAC-SHA256, random salt), sessions (random tokens, stored only as
 * SHA-256 hashes, with an expiry), and what each role may do. Failed logins
 * are counted in memory by throttle.h, per client address, not here. The
 * tables are node-local (003_web.sql): they are never synced. The slow
 * part, the KDF, is a pure function so that the daemon can run it on the
 * thread pool. */
#ifndef SIKHNAS_AUTH_H
#define SIKHNAS_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define AUTH_PBKDF2_ITER   120000   /* ~0.3 s with mbedTLS on x86, ~2 s on a Cortex-A53
                                     * board; stored with each hash, so it can rise */
#define AUTH_SALT_LEN      16
#define AUTH_KEY_LEN       32
#define AUTH_HASH_MAX      128      /* "pbkdf2-sha256$ITER$SALT$KEY" (base64) */
#define AUTH_PASSWORD_MIN  8
#define AUTH_PASSWORD_MAX  256
#define AUTH_TOKEN_LEN     43       /* 32 random bytes, base64url without padding */
#define AUTH_CSRF_LEN      43

/* A stored hash, split into what the KDF needs. */
struct auth_kdf {
    unsigned iterations;
    unsigned char salt[AUTH_SALT_LEN];
    unsigned char key[AUTH_KEY_LEN];       /* the stored key */
    unsigned char got[AUTH_KEY_LEN];       /* the key derived from the attempt */
};

/* Fills buf with n bytes from the kernel's CSPRNG (getrandom). 0 or -errno. */
int auth_random(void *buf, size_t n);

/* Hashes password with a new random salt into out ("pbkdf2-sha256$..."). */
int auth_hash_password(const char *password, unsigned iterations, char out[AUTH_HASH_MAX]);
/* Splits a stored hash into k. -EINVAL when it is not one of ours. */
int auth_hash_parse(const char *stored, struct auth_kdf *k);
/* Derives k->got from password with k's salt and iterations (slow: run it
 * off the loop thread). 0 or -errno. */
int auth_kdf_derive(struct auth_kdf *k, const char *password, size_t len);
/* 1 when k->got equals k->key; compares in constant time. */
int auth_kdf_match(const struct auth_kdf *k);
/* A kdf that never matches, with the default cost: logins for unknown
 * phones take as long as the others. */
void auth_kdf_dummy(struct auth_kdf *k);

/* Checks a new password's length and encoding; 0 or -EINVAL. */
int auth_password_ok(const char *password);
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

/* 1 when the two strings are equal; the time does not depend on where
 * they differ. */
int auth_equal(const char *a, const char *b);

/* What a role may do. */
enum auth_perm {
    PERM_READ,          /* lists, dashboard, map */
    PERM_CASE,          /* the case report endpoint (which village: access.h) */
    PERM_ENTRY,         /* follow-up, vaccination, treatment, movement, slaughter, population */
    PERM_ADMIN,         /* officers' accounts */
};
int auth_role_may(const char *role, enum auth_perm p);

#endif
