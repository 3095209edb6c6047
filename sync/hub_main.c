/* hub_main.c - sikhnas-hub: command line of the central gateway.
 *
 *   sikhnas-hub [-v|-q] --pg CONNINFO migrate
 *   sikhnas-hub [-v|-q] --pg CONNINFO refdata load [--areas DIR]
 *   sikhnas-hub [-v|-q] --pg CONNINFO run --listen HOST:PORT --tls-cert FILE --tls-key FILE
 *                                         [--pg-conns N]
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "hub.h"
#include "hub_migrate.h"
#include "log.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: sikhnas-hub [-v|-q] --pg CONNINFO COMMAND [OPTIONS]\n"
        "\n"
        "commands:\n"
        "  migrate                      apply the central schema migrations (idempotent)\n"
        "  refdata load [--areas DIR]   load areas from the idn-area CSVs in DIR and the\n"
        "                               built-in code lists\n"
        "  run --listen HOST:PORT --tls-cert FILE --tls-key FILE [--pg-conns N]\n"
        "                               serve the sync API (PORT 0: any free port; the\n"
        "                               bound address is printed on stdout)\n"
        "\n"
        "CONNINFO is a libpq connection string or URI; list several hosts with\n"
        "target_session_attrs=read-write to follow a failover. The environment\n"
        "variable SIKHNAS_HUB_PG is used when --pg is not given.\n"
        "sikhnas-hub %s\n", SIKHNAS_VERSION);
}

static int parse_listen(const char *s, char *host, size_t size, int *port)
{
    const char *colon = strrchr(s, ':');
    char *end;
    long p;
    size_t n;

    if (!colon)
        return -EINVAL;
    n = (size_t)(colon - s);
    if (n > 0 && s[0] == '[' && s[n - 1] == ']') {
        s++;
        n -= 2;
    }
    if (n == 0 || n >= size)
        return -EINVAL;
    memcpy(host, s, n);
    host[n] = 0;
    p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535)
        return -EINVAL;
    *port = (int)p;
    return 0;
}

int main(int argc, char **argv)
{
    const char *pg = getenv("SIKHNAS_HUB_PG");
    const char *cmd = NULL, *sub = NULL, *areas = NULL, *listen = NULL;
    struct hub_opts o;
    char host[256];
    int i, r, daemon_mode;

    memset(&o, 0, sizeof(o));
    o.pg_conns = 4;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "-v") == 0) {
            log_level = log_level >= LOG_INFO ? LOG_DEBUG : LOG_INFO;
        } else if (strcmp(a, "-q") == 0) {
            log_level = LOG_WARNING;
        } else if (strcmp(a, "--pg") == 0 && v) {
            pg = v;
            i++;
        } else if (strcmp(a, "--areas") == 0 && v) {
            areas = v;
            i++;
        } else if (strcmp(a, "--listen") == 0 && v) {
            listen = v;
            i++;
        } else if (strcmp(a, "--tls-cert") == 0 && v) {
            o.cert_file = v;
            i++;
        } else if (strcmp(a, "--tls-key") == 0 && v) {
            o.key_file = v;
            i++;
        } else if (strcmp(a, "--pg-conns") == 0 && v) {
            o.pg_conns = atoi(v);
            i++;
            if (o.pg_conns < 1 || o.pg_conns > 64) {
                fprintf(stderr, "sikhnas-hub: --pg-conns must be 1 to 64\n");
                return 2;
            }
        } else if (a[0] == '-') {
            fprintf(stderr, "sikhnas-hub: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (!cmd) {
            cmd = a;
        } else if (!sub) {
            sub = a;
        } else {
            fprintf(stderr, "sikhnas-hub: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    daemon_mode = cmd && strcmp(cmd, "run") == 0;
    log_setup("sikhnas-hub", daemon_mode);
    if (!cmd) {
        usage(stderr);
        return 2;
    }
    if (!pg) {
        log_error("--pg CONNINFO is required");
        return 2;
    }
    if (strcmp(cmd, "migrate") == 0 && !sub) {
        r = hub_migrate(pg);
    } else if (strcmp(cmd, "refdata") == 0 && sub && strcmp(sub, "load") == 0) {
        r = hub_refdata_load(pg, areas);
    } else if (daemon_mode && !sub) {
        if (!listen || !o.cert_file || !o.key_file) {
            log_error("run needs --listen HOST:PORT, --tls-cert FILE and --tls-key FILE");
            return 2;
        }
        if (parse_listen(listen, host, sizeof(host), &o.port) < 0) {
            log_error("--listen '%s' is not HOST:PORT", listen);
            return 2;
        }
        o.host = host;
        o.conninfo = pg;
        /* A batch allocates and frees some 10 MB (JSON tree, COPY text) on a
         * worker thread; without these glibc hands the memory back after
         * every batch and page-faults it in again for the next one (measured:
         * most of the decode time). Memory stays bounded by the caps. */
        mallopt(M_TRIM_THRESHOLD, 128 << 20);
        mallopt(M_TOP_PAD, 16 << 20);
        mallopt(M_MMAP_THRESHOLD, 32 << 20);
        r = hub_run(&o);
    } else {
        usage(stderr);
        return 2;
    }
    return r < 0 ? 1 : 0;
}
