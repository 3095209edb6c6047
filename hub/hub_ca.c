/* hub_ca.c - the central CA (see hub_ca.h). Keys and certificates are made
 * with mbedTLS: EC P-256, ECDSA with SHA-256. Node certificates carry
 * CN=<node id>, OU=<district>, O=Sikhnas Edge, a random 128-bit serial,
 * keyUsage digitalSignature and extendedKeyUsage clientAuth.
 *
 * mbedTLS 2.28 writes the signature algorithm of every certificate as
 * { ecdsa-with-SHA256, NULL }; RFC 5758 §3.2 says the parameters MUST be
 * absent for ECDSA (strict parsers refuse the NULL). 2.28 cannot be told
 * otherwise (mbedtls_asn1_write_algorithm_identifier() always writes a NULL
 * for an empty parameter; 3.x has the _ext variant), so write_crt_pem()
 * takes mbedTLS's DER, drops the NULL from tbsCertificate.signature, signs
 * the corrected TBS again and writes the Certificate around it with an
 * AlgorithmIdentifier of the OID alone. Everything else (names, extensions,
 * key identifiers) stays mbedTLS's own encoding. */
#include "hub_ca.h"
#include "hex.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_csr.h>

#include "log.h"
#include "rng.h"
#include "uuid7.h"
#include "fileio.h"

#define CA_YEARS   10
#define CA_SUBJECT "CN=Sikhnas Edge node CA,O=Sikhnas Edge"
#define PEM_MAX    4096
#define DER_MAX    3072
#define CA_RNG     "sikhnas-ca"     /* the personalisation of its DRBG */

struct hub_ca {
    struct rng               rng;
    mbedtls_x509_crt         crt;       /* every CA in the file (two while rotating) */
    const mbedtls_x509_crt  *signer;    /* the one whose key we hold */
    mbedtls_pk_context       key;
};



int ca_random_hex(size_t nbytes, char *out)
{
    unsigned char b[64];
    struct rng g;
    int r;

    if (nbytes > sizeof(b))
        return -EINVAL;
    r = rng_open(&g, CA_RNG);
    if (r == 0 && mbedtls_ctr_drbg_random(&g.drbg, b, nbytes) != 0)
        r = -EIO;
    if (r == 0)
        hex_encode(b, nbytes, out);
    mbedtls_platform_zeroize(b, sizeof(b));
    rng_close(&g);
    return r;
}


void ca_serial_hex(const mbedtls_x509_buf *serial, char out[CA_SERIAL_HEX])
{
    const unsigned char *p = serial->p;
    size_t n = serial->len;

    while (n > 1 && *p == 0) {
        p++;
        n--;
    }
    if (n > (CA_SERIAL_HEX - 1) / 2) {      /* longer than RFC 5280 allows: never ours */
        p += n - (CA_SERIAL_HEX - 1) / 2;
        n = (CA_SERIAL_HEX - 1) / 2;
    }
    hex_encode(p, n, out);
}

int ca_subject_get(const mbedtls_x509_name *name, const char *oid, size_t oid_len,
                   char *out, size_t cap)
{
    for (; name; name = name->next) {
        if (name->oid.len != oid_len || memcmp(name->oid.p, oid, oid_len) != 0)
            continue;
        if (name->val.len >= cap)
            return -ENOENT;
        memcpy(out, name->val.p, name->val.len);
        out[name->val.len] = '\0';
        return 0;
    }
    return -ENOENT;
}

static void fmt_time(time_t t, char out[16])
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y%m%d%H%M%S", &tm);
}

/* Writes data to path, created with mode (never replacing a file). */
static int write_new(const char *path, const void *data, size_t len, mode_t mode)
{
    int r = file_write_atomic(path, NULL, data, len, mode, FILE_NEW);

    return r < 0 ? log_errno(LOG_ERR, r, "ca: cannot create '%s'", path) : 0;
}

/* Sets a random positive serial of 16 bytes; writes its hex to hex. */
static int set_serial(mbedtls_x509write_cert *w, mbedtls_ctr_drbg_context *drbg,
                      char hex[CA_SERIAL_HEX])
{
    unsigned char b[16];
    mbedtls_mpi m;
    int r;

    if (mbedtls_ctr_drbg_random(drbg, b, sizeof(b)) != 0)
        return -EIO;
    b[0] = (unsigned char)((b[0] & 0x7f) | 0x40);   /* positive, and no leading zero */
    hex_encode(b, sizeof(b), hex);
    mbedtls_mpi_init(&m);
    r = mbedtls_mpi_read_binary(&m, b, sizeof(b));
    if (r == 0)
        r = mbedtls_x509write_crt_set_serial(w, &m);
    mbedtls_mpi_free(&m);
    return r == 0 ? 0 : -EIO;
}

/* Finds tbsCertificate.signature in the DER certificate der[0..len): sets
 * the TBS's content, the AlgorithmIdentifier's extent and its OID (as TLV).
 * Returns 0, or -EBADMSG when the shape is not the one mbedTLS writes. */
static int tbs_sig_alg(unsigned char *der, size_t len, unsigned char **tbs, size_t *tbs_len,
                       unsigned char **alg, unsigned char **alg_end, unsigned char **oid_tlv,
                       size_t *oid_tlv_len)
{
    unsigned char *p = der, *end = der + len, *tbs_end, *oid;
    size_t n;

    if (mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) ||
        mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
        return -EBADMSG;
    *tbs = p;
    *tbs_len = n;
    tbs_end = p + n;
    /* version [0], serialNumber, then the signature's AlgorithmIdentifier */
    if (mbedtls_asn1_get_tag(&p, tbs_end, &n, MBEDTLS_ASN1_CONTEXT_SPECIFIC |
                             MBEDTLS_ASN1_CONSTRUCTED | 0))
        return -EBADMSG;
    p += n;
    if (mbedtls_asn1_get_tag(&p, tbs_end, &n, MBEDTLS_ASN1_INTEGER))
        return -EBADMSG;
    p += n;
    *alg = p;
    if (mbedtls_asn1_get_tag(&p, tbs_end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
        return -EBADMSG;
    *alg_end = p + n;
    oid = p;
    if (mbedtls_asn1_get_tag(&p, *alg_end, &n, MBEDTLS_ASN1_OID))
        return -EBADMSG;
    p += n;
    *oid_tlv = oid;
    *oid_tlv_len = (size_t)(p - oid);
    if (p == *alg_end)
        return 0;                                   /* already without parameters */
    if (p + 2 != *alg_end || p[0] != MBEDTLS_ASN1_NULL || p[1] != 0)
        return -EBADMSG;
    return 0;
}

/* Writes, backwards in front of *c (not below start), the TLV of
 * AlgorithmIdentifier ::= SEQUENCE { OID } (no parameters) and data[0..n)
 * before it. Returns the bytes written or a negative mbedTLS error. */
static int write_alg_and(unsigned char **c, unsigned char *start, const unsigned char *oid,
                         size_t oid_len, const unsigned char *data, size_t n)
{
    int k, len = 0;

    if ((k = mbedtls_asn1_write_raw_buffer(c, start, oid, oid_len)) < 0)
        return k;
    len += k;
    if ((k = mbedtls_asn1_write_len(c, start, oid_len)) < 0)
        return k;
    len += k;
    if ((k = mbedtls_asn1_write_tag(c, start, MBEDTLS_ASN1_CONSTRUCTED |
                                              MBEDTLS_ASN1_SEQUENCE)) < 0)
        return k;
    len += k;
    if ((k = mbedtls_asn1_write_raw_buffer(c, start, data, n)) < 0)
        return k;
    return len + k;
}

/* Wraps the len bytes in front of *c into a SEQUENCE; returns the new
 * total length or a negative mbedTLS error. */
static int write_seq(unsigned char **c, unsigned char *start, int len)
{
    int k, m;

    if (len < 0 || (k = mbedtls_asn1_write_len(c, start, (size_t)len)) < 0)
        return len < 0 ? len : k;
    if ((m = mbedtls_asn1_write_tag(c, start, MBEDTLS_ASN1_CONSTRUCTED |
                                              MBEDTLS_ASN1_SEQUENCE)) < 0)
        return m;
    return len + k + m;
}

/* Writes the certificate w describes as PEM into pem (size bytes), signed
 * by key, with both signature AlgorithmIdentifiers holding only the OID
 * (see the top of this file). Returns 0 or -EIO (logged). */
static int write_crt_pem(mbedtls_x509write_cert *w, mbedtls_pk_context *key,
                         mbedtls_ctr_drbg_context *drbg, unsigned char *pem, size_t size)
{
    unsigned char *der = NULL, *tbs_buf = NULL, *crt_buf = NULL;
    unsigned char *tbs, *alg, *alg_end, *oid, *c, *new_tbs;
    unsigned char hash[32], sig[MBEDTLS_ECDSA_MAX_LEN];
    size_t tbs_len, oid_len, sig_len, olen;
    mbedtls_x509_crt check;
    int n, len, k, r = -EIO;

    mbedtls_x509_crt_init(&check);
    der = malloc(DER_MAX);
    tbs_buf = malloc(DER_MAX);
    crt_buf = malloc(DER_MAX);
    if (!der || !tbs_buf || !crt_buf)
        goto out;
    n = mbedtls_x509write_crt_der(w, der, DER_MAX, mbedtls_ctr_drbg_random, drbg);
    if (n <= 0)
        goto out;
    if (tbs_sig_alg(der + DER_MAX - n, (size_t)n, &tbs, &tbs_len, &alg, &alg_end, &oid,
                    &oid_len) < 0) {
        log_error("ca: unexpected certificate layout from mbedTLS");
        goto out;
    }
    /* TBS ::= SEQUENCE { version, serial, SEQUENCE { OID }, the rest as is } */
    c = tbs_buf + DER_MAX;
    len = mbedtls_asn1_write_raw_buffer(&c, tbs_buf, alg_end, (size_t)(tbs + tbs_len - alg_end));
    if (len < 0 || (k = write_alg_and(&c, tbs_buf, oid, oid_len, tbs, (size_t)(alg - tbs))) < 0 ||
        (len = write_seq(&c, tbs_buf, len + k)) < 0)
        goto out;
    new_tbs = c;
    if (mbedtls_sha256_ret(new_tbs, (size_t)len, hash, 0) != 0 ||
        mbedtls_pk_sign(key, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig, &sig_len,
                        mbedtls_ctr_drbg_random, drbg) != 0)
        goto out;
    /* Certificate ::= SEQUENCE { TBS, SEQUENCE { OID }, BIT STRING signature } */
    c = crt_buf + DER_MAX;
    n = mbedtls_asn1_write_bitstring(&c, crt_buf, sig, sig_len * 8);
    if (n < 0 || (k = write_alg_and(&c, crt_buf, oid, oid_len, new_tbs, (size_t)len)) < 0 ||
        (len = write_seq(&c, crt_buf, n + k)) < 0)
        goto out;
    /* what was written by hand must be a certificate mbedTLS reads back */
    if (mbedtls_x509_crt_parse_der(&check, c, (size_t)len) != 0) {
        log_error("ca: the re-encoded certificate does not parse");
        goto out;
    }
    if (mbedtls_pem_write_buffer("-----BEGIN CERTIFICATE-----\n", "-----END CERTIFICATE-----\n",
                                 c, (size_t)len, pem, size, &olen) != 0)
        goto out;
    r = 0;
out:
    mbedtls_x509_crt_free(&check);
    free(der);
    free(tbs_buf);
    free(crt_buf);
    return r;
}

int hub_ca_init(const char *dir)
{
    char crt_path[4096], key_path[4096], nb[16], na[16], serial[CA_SERIAL_HEX];
    unsigned char *pem = NULL, *kpem = NULL;
    mbedtls_x509write_cert w;
    mbedtls_pk_context key;
    struct stat st;
    struct rng g;
    time_t now = time(NULL);
    int r;

    snprintf(crt_path, sizeof(crt_path), "%s/ca.pem", dir);
    snprintf(key_path, sizeof(key_path), "%s/ca.key", dir);
    if (stat(crt_path, &st) == 0)
        return 0;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return log_errno(LOG_ERR, -errno, "ca: cannot create '%s'", dir);
    mbedtls_pk_init(&key);
    mbedtls_x509write_crt_init(&w);
    r = rng_open(&g, CA_RNG);
    if (r < 0)
        goto out;
    pem = malloc(PEM_MAX);
    kpem = malloc(PEM_MAX);
    if (!pem || !kpem) {
        r = -ENOMEM;
        goto out;
    }
    if (mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
        mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key),
                            mbedtls_ctr_drbg_random, &g.drbg) != 0 ||
        mbedtls_pk_write_key_pem(&key, kpem, PEM_MAX) != 0) {
        r = log_errno(LOG_ERR, -EIO, "ca: cannot make a key");
        goto out;
    }
    fmt_time(now - 3600, nb);
    fmt_time(now + (time_t)CA_YEARS * 365 * 86400, na);
    mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&w, &key);
    mbedtls_x509write_crt_set_issuer_key(&w, &key);
    if (set_serial(&w, &g.drbg, serial) < 0 ||
        mbedtls_x509write_crt_set_validity(&w, nb, na) != 0 ||
        mbedtls_x509write_crt_set_subject_name(&w, CA_SUBJECT) != 0 ||
        mbedtls_x509write_crt_set_issuer_name(&w, CA_SUBJECT) != 0 ||
        mbedtls_x509write_crt_set_basic_constraints(&w, 1, 0) != 0 ||
        mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_KEY_CERT_SIGN |
                                                MBEDTLS_X509_KU_CRL_SIGN) != 0 ||
        mbedtls_x509write_crt_set_subject_key_identifier(&w) != 0 ||
        write_crt_pem(&w, &key, &g.drbg, pem, PEM_MAX) < 0) {
        r = log_errno(LOG_ERR, -EIO, "ca: cannot make the CA certificate");
        goto out;
    }
    /* the key first: a ca.pem without its key would look like a finished CA */
    r = write_new(key_path, kpem, strlen((char *)kpem), 0600);
    if (r == 0) {
        r = write_new(crt_path, pem, strlen((char *)pem), 0644);
        if (r < 0)
            unlink(key_path);
    }
    if (r == 0)
        r = 1;
out:
    if (kpem)
        mbedtls_platform_zeroize(kpem, PEM_MAX);
    free(kpem);
    free(pem);
    mbedtls_x509write_crt_free(&w);
    mbedtls_pk_free(&key);
    rng_close(&g);
    return r;
}

void hub_ca_free(struct hub_ca *ca)
{
    if (!ca)
        return;
    mbedtls_pk_free(&ca->key);
    mbedtls_x509_crt_free(&ca->crt);
    rng_close(&ca->rng);
    free(ca);
}

int hub_ca_load(const char *crt_file, const char *key_file, struct hub_ca **ret)
{
    struct hub_ca *ca = calloc(1, sizeof(*ca));
    char e[128];
    int r;

    if (!ca)
        return -ENOMEM;
    mbedtls_x509_crt_init(&ca->crt);
    mbedtls_pk_init(&ca->key);
    if (rng_open(&ca->rng, CA_RNG) < 0) {
        hub_ca_free(ca);
        return -EIO;
    }
    if ((r = mbedtls_x509_crt_parse_file(&ca->crt, crt_file)) != 0)
        log_error("ca: cannot load the CA certificate '%s'", crt_file);
    else if ((r = mbedtls_pk_parse_keyfile(&ca->key, key_file, NULL)) != 0)
        log_error("ca: cannot load the CA key '%s'", key_file);
    for (const mbedtls_x509_crt *c = &ca->crt; r == 0 && c && !ca->signer; c = c->next)
        if (mbedtls_pk_check_pair(&c->pk, &ca->key) == 0)
            ca->signer = c;
    if (r == 0 && !ca->signer) {
        log_error("ca: '%s' is not the key of a certificate in '%s'", key_file, crt_file);
        r = MBEDTLS_ERR_PK_BAD_INPUT_DATA;
    }
    if (r != 0) {
        mbedtls_strerror(r, e, sizeof(e));
        log_error("ca: %s", e);
        hub_ca_free(ca);
        return -EINVAL;
    }
    *ret = ca;
    return 0;
}

/* Parses a NUL-terminated PEM CSR of len bytes (len excludes the NUL). */
static int parse_csr(mbedtls_x509_csr *csr, const char *pem, size_t len, const char **why)
{
    if (len == 0 || len > CA_CSR_MAX) {
        *why = len ? "the CSR exceeds 4096 bytes" : "the CSR is empty";
        return len ? -EMSGSIZE : -EBADMSG;
    }
    if (mbedtls_x509_csr_parse(csr, (const unsigned char *)pem, len + 1) != 0) {
        *why = "the CSR is not a PEM certificate request";
        return -EBADMSG;
    }
    return 0;
}

int hub_ca_check_csr(const char *pem, size_t len, char node[37], const char **why)
{
    unsigned char hash[MBEDTLS_MD_MAX_SIZE];
    const mbedtls_md_info_t *md;
    mbedtls_x509_csr csr;
    char cn[64];
    int r;

    mbedtls_x509_csr_init(&csr);
    r = parse_csr(&csr, pem, len, why);
    if (r < 0)
        goto out;
    r = -EBADMSG;
    md = mbedtls_md_info_from_type(csr.sig_md);
    if (!md || mbedtls_md(md, csr.cri.p, csr.cri.len, hash) != 0 ||
        mbedtls_pk_verify_ext(csr.sig_pk, csr.sig_opts, &csr.pk, csr.sig_md, hash,
                              mbedtls_md_get_size(md), csr.sig.p, csr.sig.len) != 0) {
        *why = "the CSR's signature does not verify";
        goto out;
    }
    if (mbedtls_pk_get_type(&csr.pk) != MBEDTLS_PK_ECKEY ||
        mbedtls_pk_ec(csr.pk)->grp.id != MBEDTLS_ECP_DP_SECP256R1) {
        *why = "the CSR's key must be EC P-256";
        goto out;
    }
    if (ca_subject_get(&csr.subject, MBEDTLS_OID_AT_CN, MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN),
                       cn, sizeof(cn)) < 0 || !uuid_valid(cn)) {
        *why = "the CSR's subject CN must be the node id (a UUID)";
        goto out;
    }
    for (int i = 0; i < 36; i++)
        node[i] = (char)(cn[i] >= 'A' && cn[i] <= 'F' ? cn[i] + 32 : cn[i]);
    node[36] = '\0';
    r = 0;
out:
    mbedtls_x509_csr_free(&csr);
    return r;
}

int hub_ca_sign(struct hub_ca *ca, const char *pem, size_t len, const char *node,
                const char *district, unsigned lifetime_s, struct ca_issued *out,
                const char **why)
{
    /* extendedKeyUsage = SEQUENCE { id-kp-clientAuth } */
    static const unsigned char eku[] = { 0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05,
                                         0x05, 0x07, 0x03, 0x02 };
    char subject[128], issuer[256], nb[16], na[16];
    mbedtls_x509write_cert w;
    mbedtls_x509_csr csr;
    unsigned char *buf = NULL;
    time_t now = time(NULL);
    int r;

    mbedtls_x509_csr_init(&csr);
    mbedtls_x509write_crt_init(&w);
    memset(out, 0, sizeof(*out));
    r = parse_csr(&csr, pem, len, why);
    if (r < 0)
        goto out;
    r = -EIO;
    *why = "the CA could not sign the certificate";
    buf = malloc(PEM_MAX);
    if (!buf || mbedtls_x509_dn_gets(issuer, sizeof(issuer), &ca->signer->subject) < 0)
        goto out;
    snprintf(subject, sizeof(subject), "CN=%s,OU=%s,O=Sikhnas Edge", node, district);
    /* a little slack for a node whose clock is slightly behind the hub's;
     * small against the lifetime, so that renewal at 2/3 stays on time */
    out->not_before = now - (lifetime_s / 16 < 60 ? (time_t)(lifetime_s / 16) : 60);
    out->not_after = now + (time_t)lifetime_s;
    fmt_time(out->not_before, nb);
    fmt_time(out->not_after, na);
    mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&w, &csr.pk);
    mbedtls_x509write_crt_set_issuer_key(&w, &ca->key);
    if (set_serial(&w, &ca->rng.drbg, out->serial) < 0 ||
        mbedtls_x509write_crt_set_validity(&w, nb, na) != 0 ||
        mbedtls_x509write_crt_set_subject_name(&w, subject) != 0 ||
        mbedtls_x509write_crt_set_issuer_name(&w, issuer) != 0 ||
        mbedtls_x509write_crt_set_basic_constraints(&w, 0, -1) != 0 ||
        mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_DIGITAL_SIGNATURE) != 0 ||
        mbedtls_x509write_crt_set_extension(&w, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                            MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE),
                                            0, eku, sizeof(eku)) != 0 ||
        mbedtls_x509write_crt_set_authority_key_identifier(&w) != 0 ||
        write_crt_pem(&w, &ca->key, &ca->rng.drbg, buf, PEM_MAX) < 0)
        goto out;
    out->pem = (char *)buf;
    buf = NULL;
    r = 0;
out:
    free(buf);
    mbedtls_x509write_crt_free(&w);
    mbedtls_x509_csr_free(&csr);
    return r;
}
