/* password.h - password hashing (PBKDF2-HMAC-SHA256, random salt, the
 * cost stored with each hash) and the small helpers of web accounts:
 * random bytes, base64url, SHA-256, constant-time comparison. Used by the
 * node's web accounts (node/auth.c) and the central analysts' app
 * (hub/web/). The slow part, the KDF, is a pure function so that a daemon
 * can run it on the thread pool. */
#ifndef SIKHNAS_PASSWORD_H
#define SIKHNAS_PASSWORD_H

#include <stddef.h>

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
/* base64url without padding of n <= 32 bytes into out (cap bytes). */
void auth_b64url(const unsigned char *in, size_t n, char *out, size_t cap);
/* SHA-256 of n bytes. 0 or -EIO. */
int auth_sha256(const void *in, size_t n, unsigned char out[32]);

/* 1 when the two strings are equal; the time does not depend on where
 * they differ. */
int auth_equal(const char *a, const char *b);

#endif
