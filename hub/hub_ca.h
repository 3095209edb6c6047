/* hub_ca.h - the central CA that signs node certificates (EC P-256, mbedTLS).
 * A node certificate binds the node id (subject CN) to its district
 * (subject OU); the hub trusts nothing else about a node. */
#ifndef SIKHNAS_HUB_CA_H
#define SIKHNAS_HUB_CA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <mbedtls/x509_crt.h>

#define CA_CSR_MAX      4096        /* PEM bytes of a CSR the hub will parse */
#define CA_SERIAL_HEX   41          /* 20 bytes as hex, and the NUL */
#define CA_TOKEN_BYTES  24          /* an enrolment token: 192 random bits */
#define CA_TOKEN_HEX    (2 * CA_TOKEN_BYTES + 1)

struct hub_ca;

/* Makes DIR/ca.key (mode 0600) and DIR/ca.pem unless DIR/ca.pem exists.
 * Returns 1 when made, 0 when one was there, or -errno (logged). */
int hub_ca_init(const char *dir);

/* Loads the CA certificate and its key. Returns 0 or -errno (logged). */
int  hub_ca_load(const char *crt_file, const char *key_file, struct hub_ca **ret);
void hub_ca_free(struct hub_ca *ca);        /* NULL is a no-op */

/* What a signed certificate says; filled by hub_ca_sign(). */
struct ca_issued {
    char   serial[CA_SERIAL_HEX];
    time_t not_before, not_after;
    char  *pem;                   /* malloc'd; the caller frees it */
};

/* Checks a PEM CSR from a node: size, syntax, its own signature, a P-256
 * key, and a subject CN that is a UUID. Writes the lower-case CN to
 * node (37 bytes). Returns 0, or -EMSGSIZE / -EBADMSG with *why set. */
int hub_ca_check_csr(const char *pem, size_t len, char node[37], const char **why);

/* Signs the CSR's key into a client certificate for (node, district) valid
 * for lifetime_s seconds from now. The CSR must have passed
 * hub_ca_check_csr(). Returns 0 or -errno with *why set. */
int hub_ca_sign(struct hub_ca *ca, const char *pem, size_t len, const char *node,
                const char *district, unsigned lifetime_s, struct ca_issued *out,
                const char **why);

/* nbytes fresh random bytes (mbedTLS CTR-DRBG over the system entropy) as
 * lower-case hex in out (2 * nbytes + 1). Returns 0 or -EIO. */
int ca_random_hex(size_t nbytes, char *out);

/* Lower-case hex of a certificate serial without leading zero bytes. */
void ca_serial_hex(const mbedtls_x509_buf *serial, char out[CA_SERIAL_HEX]);
/* Copies the value of the subject attribute oid (MBEDTLS_OID_AT_*) to out;
 * returns 0, or -ENOENT when absent or longer than cap - 1. */
int ca_subject_get(const mbedtls_x509_name *name, const char *oid, size_t oid_len,
                   char *out, size_t cap);

#endif
