/* auth.c - web accounts, sessions and roles (see auth.h). Passwords are
 * PBKDF2-HMAC-SHA256 with a 16-byte random salt; the stored form names the
 * algorithm and the cost, so the cost can rise later without a migration.
 * Session tokens are 32 random bytes; the store keeps SHA-256(token), so a
 * copy of the store does not log anybody in. */
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <mbedtls/base64.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>

#include "log.h"
#include "validate.h"
#include "utf8.h"

#define HASH_PREFIX "pbkdf2-sha256$"

int auth_random(void *buf, size_t n)
{
    unsigned char *p = buf;

    while (n > 0) {
        ssize_t k = getrandom(p, n, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return log_errno(LOG_ERR, -errno, "getrandom");
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* base64url without padding, as cookies and headers like it; n <= 32. */
static void b64url(const unsigned char *in, size_t n, char *out, size_t cap)
{
    char tmp[64];
    size_t olen = 0, k = 0;

    mbedtls_base64_encode((unsigned char *)tmp, sizeof(tmp), &olen, in, n);
    for (size_t i = 0; i < olen && tmp[i] != '=' && k + 1 < cap; i++)
        out[k++] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : tmp[i];
    out[k] = '\0';
}

static int sha256(const void *in, size_t n, unsigned char out[32])
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);

    return mbedtls_md(md, in, n, out) == 0 ? 0 : -EIO;
}

static int pbkdf2(const char *password, size_t len, const unsigned char *salt,
                  unsigned iterations, unsigned char key[AUTH_KEY_LEN])
{
    mbedtls_md_context_t ctx;
    int rc;

    mbedtls_md_init(&ctx);
    rc = mbedtls_md_setup(&ctx, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
    if (rc == 0)
        rc = mbedtls_pkcs5_pbkdf2_hmac(&ctx, (const unsigned char *)password, len, salt,
                                       AUTH_SALT_LEN, iterations, AUTH_KEY_LEN, key);
    mbedtls_md_free(&ctx);
    return rc == 0 ? 0 : -EIO;
}

int auth_password_ok(const char *password)
{
    size_t n = strlen(password);

    if (n < AUTH_PASSWORD_MIN || n > AUTH_PASSWORD_MAX || !utf8_valid(password, n, UTF8_TEXT) ||
        strchr(password, '\n'))
        return -EINVAL;
    return 0;
}

int auth_hash_password(const char *password, unsigned iterations, char out[AUTH_HASH_MAX])
{
    unsigned char salt[AUTH_SALT_LEN], key[AUTH_KEY_LEN];
    size_t ls = 0, lk = 0;
    char s64[32], k64[64];
    int r;

    r = auth_random(salt, sizeof(salt));
    if (r == 0)
        r = pbkdf2(password, strlen(password), salt, iterations, key);
    if (r < 0)
        return r;
    mbedtls_base64_encode((unsigned char *)s64, sizeof(s64), &ls, salt, sizeof(salt));
    mbedtls_base64_encode((unsigned char *)k64, sizeof(k64), &lk, key, sizeof(key));
    s64[ls] = k64[lk] = '\0';
    snprintf(out, AUTH_HASH_MAX, HASH_PREFIX "%u$%s$%s", iterations, s64, k64);
    memset(key, 0, sizeof(key));
    return 0;
}

int auth_hash_parse(const char *stored, struct auth_kdf *k)
{
    char buf[AUTH_HASH_MAX], *salt, *key, *end;
    unsigned long iter;
    size_t n;

    if (strncmp(stored, HASH_PREFIX, strlen(HASH_PREFIX)) != 0 ||
        strlen(stored) >= sizeof(buf))
        return -EINVAL;
    snprintf(buf, sizeof(buf), "%s", stored + strlen(HASH_PREFIX));
    salt = strchr(buf, '$');
    if (!salt)
        return -EINVAL;
    *salt++ = '\0';
    key = strchr(salt, '$');
    if (!key)
        return -EINVAL;
    *key++ = '\0';
    iter = strtoul(buf, &end, 10);
    if (*end || iter < 1000 || iter > 100000000)
        return -EINVAL;
    k->iterations = (unsigned)iter;
    if (mbedtls_base64_decode(k->salt, sizeof(k->salt), &n, (unsigned char *)salt,
                              strlen(salt)) != 0 || n != AUTH_SALT_LEN)
        return -EINVAL;
    if (mbedtls_base64_decode(k->key, sizeof(k->key), &n, (unsigned char *)key,
                              strlen(key)) != 0 || n != AUTH_KEY_LEN)
        return -EINVAL;
    return 0;
}

int auth_kdf_derive(struct auth_kdf *k, const char *password, size_t len)
{
    return pbkdf2(password, len, k->salt, k->iterations, k->got);
}

int auth_kdf_match(const struct auth_kdf *k)
{
    unsigned char d = 0;

    for (size_t i = 0; i < AUTH_KEY_LEN; i++)
        d |= k->key[i] ^ k->got[i];
    return d == 0;
}

void auth_kdf_dummy(struct auth_kdf *k)
{
    memset(k, 0, sizeof(*k));
    k->iterations = AUTH_PBKDF2_ITER;
    k->key[0] = 1;      /* PBKDF2 output is never compared equal by luck: 2^-256 */
    (void) auth_random(k->salt, sizeof(k->salt));
}

int auth_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = la != lb;

    for (size_t i = 0; i < la && i < lb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

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
    return sha256(token, strlen(token), out);
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
    b64url(raw, sizeof(raw), token, AUTH_TOKEN_LEN + 1);
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
    if (sha256(salted, strlen(salted), c) < 0)
        return -EIO;
    b64url(c, sizeof(c), who->csrf, sizeof(who->csrf));
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
