/* hex.c - hex encoding and SHA-256 in hex (see hex.h), with mbedTLS. */
#include "hex.h"

#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

void hex_encode(const void *data, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *d = data;

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

void sha256_hex_parts(const void *const *parts, const size_t *lens, size_t nparts,
                      char out[SHA256_HEX_LEN])
{
    mbedtls_sha256_context c;
    unsigned char sum[32];

    mbedtls_sha256_init(&c);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    mbedtls_sha256_starts(&c, 0);
    for (size_t i = 0; i < nparts; i++)
        mbedtls_sha256_update(&c, parts[i], lens[i]);
    mbedtls_sha256_finish(&c, sum);
#else
    mbedtls_sha256_starts_ret(&c, 0);
    for (size_t i = 0; i < nparts; i++)
        mbedtls_sha256_update_ret(&c, parts[i], lens[i]);
    mbedtls_sha256_finish_ret(&c, sum);
#endif
    mbedtls_sha256_free(&c);
    hex_encode(sum, sizeof(sum), out);
}

void sha256_hex(const void *data, size_t n, char out[SHA256_HEX_LEN])
{
    sha256_hex_parts(&data, &n, 1, out);
}
