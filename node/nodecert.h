/* nodecert.h - the node's own key and certificate (EC P-256, mbedTLS): made
 * at enrolment, renewed over the mutual-TLS channel when two thirds of the
 * certificate's lifetime has passed. They live beside the store:
 * FILE.key (mode 0600), FILE.crt, and the hub's CA as FILE.hub-ca.pem; and
 * the TLS session of the last handshake with the hub, FILE.tls-session
 * (0600, node/sync_tls.c). */
#ifndef SIKHNAS_NODECERT_H
#define SIKHNAS_NODECERT_H

#include <stddef.h>
#include <time.h>

#include <mbedtls/pk.h>

#define NODECERT_PATH_MAX 1100

struct nodecert_paths {
    char key[NODECERT_PATH_MAX];
    char crt[NODECERT_PATH_MAX];
    char hub_ca[NODECERT_PATH_MAX];
    char tls_session[NODECERT_PATH_MAX];   /* the last TLS session with the hub (0600) */
};

/* Fills p from the store's path. Returns 0 or -ENAMETOOLONG. */
int nodecert_paths(const char *db_path, struct nodecert_paths *p);

/* Makes a new P-256 key in key (initialised by the caller). Returns 0 or -EIO. */
int nodecert_make_key(mbedtls_pk_context *key);
/* Loads a key file. Returns 0 or -errno. */
int nodecert_load_key(const char *path, mbedtls_pk_context *key);

/* A PEM CSR for key with subject CN=node (malloc'd into *ret). */
int nodecert_csr(mbedtls_pk_context *key, const char *node, char **ret);

/* Checks that pem is a certificate for key naming node and district (CN,
 * OU). Returns 0, or -EBADMSG with *why set. */
int nodecert_check(const char *pem, mbedtls_pk_context *key, const char *node,
                   const char *district, const char **why);

/* Reads the certificate file: 1 when two thirds of its lifetime have passed
 * at now (renew), 0 when not, -EKEYEXPIRED when it has expired, -ENOENT when
 * there is none, -EBADMSG when unreadable. *not_after gets its end. */
int nodecert_due(const char *crt_path, time_t now, time_t *not_after);

/* The key as PEM (malloc'd into *ret). */
int nodecert_key_pem(mbedtls_pk_context *key, char **ret);

#endif
