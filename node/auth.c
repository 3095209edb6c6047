/* auth.c - web accounts, sessions and roles (see auth.h). Passwords are
 * hashed by common/password.c. Session tokens are 32 random bytes; the store keeps SHA-256(token), so a
 * copy of the store does not log anybody in. */
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "validate.h"

int auth_set_password(struct store *s, const char *officer_id, const char *hash)
{
    /* web_account.failed and .locked_until are no longer used: failed
     * logins are throttled in memory per client address (throttle.h) */
    sqlite3_stmt *st = store_stmt(s,
        "INSERT INTO web_account (officer_id, pw_hash, updated_at)"
        " VALUES (?1, ?2, ?3) ON CONFLICT (officer_id) DO UPDATE SET"
        " pw_hash = excluded.pw_hash, updated_at = excluded.updated_at");
    char now[32];
    int r;

    if (!st)
        return -EIO;
    store_now_iso(now);
    sqlite3_bind_text(st, 1, officer_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
    r = store_step_done(s, st);
    if (r < 0)
        return r;
    /* a new password ends the sessions opened with the old one */
    return store_run_text(s, "DELETE FROM web_session WHERE officer_id = ?1", officer_id);
}

int auth_account_get(struct store *s, const char *phone, struct auth_account *a)
{
    const struct store_col col[] = {
        { a->officer_id, sizeof(a->officer_id) }, { a->hash, sizeof(a->hash) } };

    return store_get(s, "SELECT o.id, w.pw_hash FROM officer o"
                        " JOIN web_account w ON w.officer_id = o.id"
                        " WHERE o.phone = ?1 AND o.deleted = 0", phone, col, 2);
}

static int token_hash(const char *token, unsigned char out[32])
{
    return auth_sha256(token, strlen(token), out);
}

int auth_login_ok(struct store *s, const char *officer_id, unsigned ttl,
                  char token[AUTH_TOKEN_LEN + 1])
{
    unsigned char raw[32], h[32];
    int64_t now = (int64_t)time(NULL);
    sqlite3_stmt *st;
    int r;

    r = auth_random(raw, sizeof(raw));
    if (r < 0)
        return r;
    auth_b64url(raw, sizeof(raw), token, AUTH_TOKEN_LEN + 1);
    memset(raw, 0, sizeof(raw));
    r = token_hash(token, h);
    if (r < 0)
        return r;
    r = store_run_int(s, "DELETE FROM web_session WHERE expires < ?1", now);
    if (r < 0)
        return r;
    st = store_stmt(s, "INSERT INTO web_session (token_hash, officer_id, created, expires)"
                       " VALUES (?1, ?2, ?3, ?4)");
    if (!st)
        return -EIO;
    sqlite3_bind_blob(st, 1, h, sizeof(h), SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, officer_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, now + ttl);
    return store_step_done(s, st);
}

int auth_session_find(struct store *s, const char *token, struct auth_who *who)
{
    sqlite3_stmt *st;
    unsigned char h[32], c[32];
    char salted[AUTH_TOKEN_LEN + 16];
    int rc;

    if (strlen(token) != AUTH_TOKEN_LEN || token_hash(token, h) < 0)
        return -ENOENT;
    st = store_stmt(s,
        "SELECT o.id, o.name, o.role, o.phone, coalesce(o.village, '') FROM web_session w"
        " JOIN officer o ON o.id = w.officer_id"
        " WHERE w.token_hash = ?1 AND w.expires >= ?2 AND o.deleted = 0");
    if (!st)
        return -EIO;
    sqlite3_bind_blob(st, 1, h, sizeof(h), SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        snprintf(who->officer_id, sizeof(who->officer_id), "%s", sqlite3_column_text(st, 0));
        snprintf(who->name, sizeof(who->name), "%s", sqlite3_column_text(st, 1));
        snprintf(who->role, sizeof(who->role), "%s", sqlite3_column_text(st, 2));
        snprintf(who->phone, sizeof(who->phone), "%s", sqlite3_column_text(st, 3));
        snprintf(who->village, sizeof(who->village), "%s", sqlite3_column_text(st, 4));
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return -ENOENT;
    if (rc != SQLITE_ROW)
        return store_error(s, rc);
    /* the CSRF token: a hash of the session token, so it needs no storage
     * and cannot be turned back into the cookie */
    snprintf(salted, sizeof(salted), "csrf:%s", token);
    if (auth_sha256(salted, strlen(salted), c) < 0)
        return -EIO;
    auth_b64url(c, sizeof(c), who->csrf, sizeof(who->csrf));
    return 0;
}

int auth_session_end(struct store *s, const char *token)
{
    sqlite3_stmt *st;
    unsigned char h[32];

    if (token_hash(token, h) < 0)
        return -EIO;
    st = store_stmt(s, "DELETE FROM web_session WHERE token_hash = ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_blob(st, 1, h, sizeof(h), SQLITE_TRANSIENT);
    return store_step_done(s, st);
}

int auth_role_may(const char *role, enum auth_perm p)
{
    if (strcmp(role, "vet") == 0)
        return 1;
    if (strcmp(role, "clerk") == 0)
        return p != PERM_ADMIN;
    if (strcmp(role, "reporter") == 0)
        return p == PERM_READ || p == PERM_CASE;
    if (strcmp(role, "viewer") == 0)
        return p == PERM_READ;
    return 0;
}
