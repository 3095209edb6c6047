/* hub_identity.h - who is asking. The one place that turns a request into
 * (node id, district). For now it reads the X-Sikhnas-Node and
 * X-Sikhnas-District headers; the client-certificate issue replaces this
 * function with one that reads the peer certificate, and nothing else in the
 * hub changes. */
#ifndef SIKHNAS_HUB_IDENTITY_H
#define SIKHNAS_HUB_IDENTITY_H

#include "hub_http.h"

struct hub_identity {
    char node[37];       /* canonical lower-case UUID */
    char district[5];    /* 4 digits */
};

/* Fills *id from req. Returns 0, or -EACCES when the identity is missing or
 * malformed (*why then says what is wrong). */
int hub_identity_of(const struct http_req *req, struct hub_identity *id, const char **why);

#endif
