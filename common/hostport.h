/* hostport.h - "HOST:PORT" as the programs take it (--listen, web.listen). */
#ifndef SIKHNAS_HOSTPORT_H
#define SIKHNAS_HOSTPORT_H

#include <stddef.h>

/* Splits "HOST:PORT" or "[V6]:PORT" into host (cap bytes, without the
 * brackets) and port, 0 to 65535 (0: any free port). Returns 0, or -EINVAL
 * for no colon, an empty host, a port that is missing, not all digits or
 * out of range ("1.2.3.4:" is refused, never read as port 0). */
int hostport_parse(const char *s, char *host, size_t cap, int *port);

#endif
