/* rng.h - a CTR-DRBG seeded from the system's entropy: the one source of
 * randomness for TLS, keys, certificate serials and tokens. */
#ifndef SIKHNAS_RNG_H
#define SIKHNAS_RNG_H

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>

struct rng {
    mbedtls_entropy_context  entropy;
    mbedtls_ctr_drbg_context drbg;      /* for mbedtls_ctr_drbg_random() */
};

/* Seeds g, with pers ("sikhnas-ca", ...) as the personalisation string.
 * Returns 0, or -EIO (logged) when the system gives no entropy; call
 * rng_close() in either case. */
int  rng_open(struct rng *g, const char *pers);
void rng_close(struct rng *g);

#endif
