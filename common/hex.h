/* hex.h - lower-case hex, and the SHA-256 digests the project prints that
 * way (batch digests, enrolment token hashes, SMS message hashes). */
#ifndef SIKHNAS_HEX_H
#define SIKHNAS_HEX_H

#include <stddef.h>

#define SHA256_HEX_LEN 65      /* 64 hex digits and the NUL */

/* Writes the 2n hex digits of data[0..n) and a NUL to out (2n+1 bytes). */
void hex_encode(const void *data, size_t n, char *out);

/* The SHA-256 of the concatenation of parts[0..nparts) (lens[i] bytes
 * each), in hex. */
void sha256_hex_parts(const void *const *parts, const size_t *lens, size_t nparts,
                      char out[SHA256_HEX_LEN]);
/* The SHA-256 of data[0..n), in hex. */
void sha256_hex(const void *data, size_t n, char out[SHA256_HEX_LEN]);

#endif
