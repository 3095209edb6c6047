/* hostport.c - "HOST:PORT" (see hostport.h). */
#include "hostport.h"

#include <errno.h>
#include <string.h>

int hostport_parse(const char *s, char *host, size_t cap, int *port)
{
    const char *colon = strrchr(s, ':'), *h = s;
    size_t hl;
    long p = 0;

    if (!colon)
        return -EINVAL;
    hl = (size_t)(colon - s);
    if (s[0] == '[') {
        if (hl < 2 || s[hl - 1] != ']')
            return -EINVAL;
        h = s + 1;
        hl -= 2;
    }
    if (hl == 0 || hl >= cap || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1)
        || strlen(colon + 1) > 5)
        return -EINVAL;
    for (const char *d = colon + 1; *d; d++)
        p = p * 10 + (*d - '0');
    if (p > 65535)
        return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}
