/* rng.c - the seeded CTR-DRBG (see rng.h). */
#include "rng.h"

#include <errno.h>
#include <string.h>

#include "log.h"

int rng_open(struct rng *g, const char *pers)
{
    mbedtls_entropy_init(&g->entropy);
    mbedtls_ctr_drbg_init(&g->drbg);
    if (mbedtls_ctr_drbg_seed(&g->drbg, mbedtls_entropy_func, &g->entropy,
                              (const unsigned char *)pers, strlen(pers)) != 0) {
        log_error("%s: no randomness from the system", pers);
        return -EIO;
    }
    return 0;
}

void rng_close(struct rng *g)
{
    mbedtls_ctr_drbg_free(&g->drbg);
    mbedtls_entropy_free(&g->entropy);
}
