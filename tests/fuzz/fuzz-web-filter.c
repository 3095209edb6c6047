/* fuzz-web-filter.c - the filters of the analysts' data API
 * (hub/web/web_filter.c) on any query string, for each kind of scope. The
 * first byte picks the scope (national, province 32, district 3201); the
 * rest is the query. Checks what the scope rule promises: an accepted
 * filter's area lies within the scope, and every value is of its shape. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../hub/web/webapp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int only(const char *s, const char *set)
{
    return strspn(s, set) == strlen(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const scopes[] = { "", "32", "3201" };
    struct web_filter f;
    const char *bad, *scope;
    char *q;
    int r;

    if (size == 0 || size > 4096)
        return 0;
    scope = scopes[data[0] % 3];
    q = malloc(size);
    if (!q)
        return 0;
    memcpy(q, data + 1, size - 1);
    q[size - 1] = '\0';
    r = web_filter_parse(q, scope, &f, &bad);
    if (r == 0) {
        if (strncmp(f.area, scope, strlen(scope)) != 0 || !only(f.area, "0123456789") ||
            strlen(f.from) != 10 || strlen(f.to) != 10 || f.limit < 1 || f.limit > 100000 ||
            !only(f.species, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") ||
            !only(f.id, "0123456789abcdefABCDEF-") || !only(f.lon, "-.0123456789") ||
            !only(f.lat, "-.0123456789") || !f.lon[0] != !f.lat[0] ||
            (f.lat[0] && (atof(f.lat) < -90 || atof(f.lat) > 90 ||
                          atof(f.lon) < -180 || atof(f.lon) > 180)))
            abort();
    } else if (r != -EINVAL && r != -EACCES) {
        abort();
    }
    free(q);
    return 0;
}
