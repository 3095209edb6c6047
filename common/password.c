/* password.c - password hashing and the small constant-time and random
 * helpers of web accounts (see password.h). Moved here from node/auth.c so
 * that the node's web UI and the central analysts' app (hub/web/) hash
 * passwords the same way. Passwords are PBKDF2-HMAC-SHA256 with a 16-byte
 * random salt; the stored form names the algorithm and the cost, so the
 * cost can rise later without a migration. */
#include "password.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <mbedtls/base64.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>

#include "log.h"
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
void auth_b64url(const unsigned char *in, size_t n, char *out, size_t cap)
{
    char tmp[64];
    size_t olen = 0, k = 0;

    mbedtls_base64_encode((unsigned char *)tmp, sizeof(tmp), &olen, in, n);
    for (size_t i = 0; i < olen && tmp[i] != '=' && k + 1 < cap; i++)
        out[k++] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : tmp[i];
    out[k] = '\0';
}

int auth_sha256(const void *in, size_t n, unsigned char out[32])
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
