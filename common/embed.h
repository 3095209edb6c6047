/* embed.h - files compiled into the binary by tools/embed.py (migrations,
 * code lists, web assets). Arrays end with an entry whose name is NULL. */
#ifndef SIKHNAS_EMBED_H
#define SIKHNAS_EMBED_H

#include <stddef.h>

struct embedded_file {
    const char *name;   /* base name, e.g. "001_init.sql" */
    const char *data;   /* NUL-terminated */
    size_t      len;
};

/* Returns the entry called name in files[], or NULL. */
const struct embedded_file *embedded_find(const struct embedded_file *files, const char *name);

#endif
