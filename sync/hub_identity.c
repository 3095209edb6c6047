/* hub_identity.c - request identity from headers (see hub_identity.h). */
#include "hub_identity.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "uuid7.h"

int hub_identity_of(const struct http_req *req, struct hub_identity *id, const char **why)
{
    size_t i;

    if (req->bad_header) {
        *why = "an identity header is too long";
        return -EACCES;
    }
    if (!uuid_valid(req->node)) {
        *why = "X-Sikhnas-Node must be a UUID";
        return -EACCES;
    }
    if (strlen(req->district) != 4) {
        *why = "X-Sikhnas-District must be 4 digits";
        return -EACCES;
    }
    for (i = 0; i < 4; i++)
        if (!isdigit((unsigned char)req->district[i])) {
            *why = "X-Sikhnas-District must be 4 digits";
            return -EACCES;
        }
    for (i = 0; i < 36; i++)
        id->node[i] = (char)tolower((unsigned char)req->node[i]);
    id->node[36] = 0;
    memcpy(id->district, req->district, 5);
    return 0;
}
