/* hub_identity.h - who is asking. The one place that turns a request into
 * (node id, district): both come only from the client certificate verified
 * in the TLS handshake (subject CN and OU), never from headers or the body.
 * Each request is then checked against the registry in PostgreSQL (the
 * certificate was issued by us, neither it nor its registration is revoked),
 * so a revocation takes effect on the next request, on every connection. */
#ifndef SIKHNAS_HUB_IDENTITY_H
#define SIKHNAS_HUB_IDENTITY_H

#include "http_server.h"

struct hub;

struct hub_identity {
    char node[37];       /* canonical lower-case UUID */
    char district[5];    /* 4 digits */
    char name[101];      /* the registration's name */
    char serial[41];     /* the certificate's serial, lower-case hex */
    long long not_before, not_after;   /* the certificate's validity, Unix time */
};

typedef void (*hub_identity_cb)(struct hub *h, const struct http_req *req,
                                const struct hub_identity *id);

/* Establishes the identity of req for endpoint and calls next with it, now
 * or later. When the request may not proceed, answers it itself (401, 403,
 * 503 with a JSON error), records the refusal in security_audit, and never
 * calls next. */
void hub_identity_check(struct hub *h, const struct http_req *req, const char *endpoint,
                        hub_identity_cb next);

/* Records a security event (security_audit) without waiting for it. Any
 * string may be NULL. */
void hub_audit(struct hub *h, const char *event, const struct hub_identity *id,
               const char *address, const char *endpoint, const char *reason);

/* Records a refusal that a peer can repeat at will (event 'refuse', reason
 * "code: message"), at most once a minute per (code, node, address): the
 * ones left out are counted in the next row's reason (hub_audit.h). */
void hub_audit_limited(struct hub *h, const struct hub_identity *id, const char *address,
                       const char *endpoint, const char *code, const char *message);

#endif
