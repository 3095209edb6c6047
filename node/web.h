/* web.h - the daemon's web module: the officers' pages (node/web/, compiled
 * in) and the JSON API under /api/v1/ (docs/api.md), served on --listen. */
#ifndef SIKHNAS_WEB_H
#define SIKHNAS_WEB_H

#include "daemon.h"

#define WEB_BODY_MAX       (64 * 1024)   /* a form or API request body */
#define WEB_HEAD_MAX       8192          /* request target + header names and values */
#define WEB_HEADERS_MAX    48            /* header lines */
#define WEB_REQUEST_MS     15000         /* a whole request, from its first byte */
#define WEB_KDF_JOBS_MAX   8             /* logins being checked at once */

/* Started when d->listen is set: binds it (port 0: any) and logs
 * "listening on http://HOST:PORT". */
extern const struct daemon_module web_module;

/* Checks an API body for a record, as a POST to path ("/api/v1/reports",
 * "/api/v1/vaccinations", ...) would, without saving it: JSON, each field's
 * type and size, then the validator. Uses d->store and d->validator only
 * (tests and the fuzz target). Returns 0, -EINVAL with *e set, -ENOENT for
 * a path that takes no record, or -errno. */
struct verr;
int web_record_check(struct daemon *d, const char *path, const char *body, size_t len,
                     struct verr *e);

#endif
