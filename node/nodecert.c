/* nodecert.c - the node's key and certificate (see nodecert.h). */
#include "nodecert.h"
#include "rng.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#define PEM_MAX 4096

int nodecert_paths(const char *db_path, struct nodecert_paths *p)
{
    if ((size_t)snprintf(p->key, sizeof(p->key), "%s.key", db_path) >= sizeof(p->key) ||
        (size_t)snprintf(p->crt, sizeof(p->crt), "%s.crt", db_path) >= sizeof(p->crt) ||
        (size_t)snprintf(p->hub_ca, sizeof(p->hub_ca), "%s.hub-ca.pem", db_path) >=
            sizeof(p->hub_ca) ||
        (size_t)snprintf(p->tls_session, sizeof(p->tls_session), "%s.tls-session", db_path) >=
            sizeof(p->tls_session))
        return -ENAMETOOLONG;
    return 0;
}

/* Runs fn with a freshly seeded CTR-DRBG. */
static int with_rng(int (*fn)(mbedtls_ctr_drbg_context *, void *), void *arg)
{
    struct rng g;
    int r = rng_open(&g, "sikhnas-node");

    if (r == 0)
        r = fn(&g.drbg, arg);
    rng_close(&g);
    return r;
}

static int gen_key(mbedtls_ctr_drbg_context *drbg, void *arg)
{
    mbedtls_pk_context *key = arg;

    if (mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
        mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*key),
                            mbedtls_ctr_drbg_random, drbg) != 0)
        return -EIO;
    return 0;
}

int nodecert_make_key(mbedtls_pk_context *key)
{
    return with_rng(gen_key, key);
}

int nodecert_load_key(const char *path, mbedtls_pk_context *key)
{
    if (access(path, R_OK) < 0)
        return -errno;
    return mbedtls_pk_parse_keyfile(key, path, NULL) == 0 ? 0 : -EBADMSG;
}

struct csr_arg {
    mbedtls_pk_context *key;
    const char         *node;
    char               *pem;
};

static int make_csr(mbedtls_ctr_drbg_context *drbg, void *arg)
{
    struct csr_arg *a = arg;
    mbedtls_x509write_csr w;
    char subject[64];
    int r = -EIO;

    a->pem = malloc(PEM_MAX);
    if (!a->pem)
        return -ENOMEM;
    snprintf(subject, sizeof(subject), "CN=%s", a->node);
    mbedtls_x509write_csr_init(&w);
    mbedtls_x509write_csr_set_key(&w, a->key);
    mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
    if (mbedtls_x509write_csr_set_subject_name(&w, subject) == 0 &&
        mbedtls_x509write_csr_pem(&w, (unsigned char *)a->pem, PEM_MAX, mbedtls_ctr_drbg_random,
                                  drbg) == 0)
        r = 0;
    mbedtls_x509write_csr_free(&w);
    if (r < 0) {
        free(a->pem);
        a->pem = NULL;
    }
    return r;
}

int nodecert_csr(mbedtls_pk_context *key, const char *node, char **ret)
{
    struct csr_arg a = { key, node, NULL };
    int r = with_rng(make_csr, &a);

    if (r == 0)
        *ret = a.pem;
    return r;
}

int nodecert_key_pem(mbedtls_pk_context *key, char **ret)
{
    unsigned char *p = malloc(PEM_MAX);

    if (!p)
        return -ENOMEM;
    if (mbedtls_pk_write_key_pem(key, p, PEM_MAX) != 0) {
        free(p);
        return -EIO;
    }
    *ret = (char *)p;
    return 0;
}

static int subject_is(const mbedtls_x509_name *n, const char *oid, size_t oid_len,
                      const char *want)
{
    size_t len = strlen(want);

    for (; n; n = n->next)
        if (n->oid.len == oid_len && memcmp(n->oid.p, oid, oid_len) == 0)
            return n->val.len == len && strncasecmp((const char *)n->val.p, want, len) == 0;
    return 0;
}

int nodecert_check(const char *pem, mbedtls_pk_context *key, const char *node,
                   const char *district, const char **why)
{
    mbedtls_x509_crt crt;
    int r = -EBADMSG;

    mbedtls_x509_crt_init(&crt);
    if (mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem, strlen(pem) + 1) != 0)
        *why = "the hub's answer holds no certificate";
    else if (mbedtls_pk_check_pair(&crt.pk, key) != 0)
        *why = "the certificate is not for this node's key";
    else if (!subject_is(&crt.subject, MBEDTLS_OID_AT_CN, MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN),
                         node) ||
             !subject_is(&crt.subject, MBEDTLS_OID_AT_ORG_UNIT,
                         MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_ORG_UNIT), district))
        *why = "the certificate names another node or district";
    else
        r = 0;
    mbedtls_x509_crt_free(&crt);
    return r;
}

static time_t x509_unix(const mbedtls_x509_time *t)
{
    struct tm tm = { .tm_year = t->year - 1900, .tm_mon = t->mon - 1, .tm_mday = t->day,
                     .tm_hour = t->hour, .tm_min = t->min, .tm_sec = t->sec };

    return timegm(&tm);
}

int nodecert_due(const char *crt_path, time_t now, time_t *not_after)
{
    mbedtls_x509_crt crt;
    time_t nb, na;
    int r;

    if (access(crt_path, F_OK) < 0)
        return -ENOENT;
    mbedtls_x509_crt_init(&crt);
    r = mbedtls_x509_crt_parse_file(&crt, crt_path);
    if (r != 0) {
        mbedtls_x509_crt_free(&crt);
        return -EBADMSG;
    }
    nb = x509_unix(&crt.valid_from);
    na = x509_unix(&crt.valid_to);
    mbedtls_x509_crt_free(&crt);
    *not_after = na;
    if (now >= na)
        return -EKEYEXPIRED;
    return now >= nb + (na - nb) * 2 / 3;
}


