/* hub_main.c - sikhnas-hub: command line of the central gateway.
 *
 *   sikhnas-hub [-v|-q] --pg CONNINFO migrate
 *   sikhnas-hub [-v|-q] --pg CONNINFO refdata load [--areas DIR]
 *   sikhnas-hub [-v|-q] [--pg CONNINFO] ca init --dir DIR
 *   sikhnas-hub [-v|-q] --pg CONNINFO node add --district CODE --name NAME [--token-hours N]
 *   sikhnas-hub [-v|-q] --pg CONNINFO node revoke NAME
 *   sikhnas-hub [-v|-q] --pg CONNINFO node list
 *   sikhnas-hub [-v|-q] --pg CONNINFO run --listen HOST:PORT --tls-cert FILE --tls-key FILE
 *                                         --client-ca FILE [--ca-key FILE]
 *                                         [--cert-lifetime SECONDS] [--enroll-rate N]
 *                                         [--pg-conns N] [--max-conns-per-addr N]
 *                                         [--handshake-timeout SECONDS]
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "hub.h"
#include "hub_admin.h"
#include "hub_ca.h"
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
        "  ca init --dir DIR            make the node CA, DIR/ca.pem and DIR/ca.key (0600),\n"
        "                               unless DIR/ca.pem exists (needs no --pg)\n"
        "  node add --district CODE --name NAME [--token-hours N]\n"
        "                               register a board; prints its one-time enrolment\n"
        "                               token (valid 72 h unless --token-hours)\n"
        "  node revoke NAME             revoke a board: its next request is refused\n"
        "  node list                    the registry\n"
        "  run --listen HOST:PORT --tls-cert FILE --tls-key FILE --client-ca FILE\n"
        "      [--ca-key FILE] [--cert-lifetime SECONDS] [--enroll-rate N] [--pg-conns N]\n"
        "      [--max-conns-per-addr N] [--handshake-timeout SECONDS]\n"
        "                               serve the sync API (PORT 0: any free port; the\n"
        "                               bound address is printed on stdout). Nodes must\n"
        "                               present a certificate from --client-ca (its key:\n"
        "                               --ca-key, default ca.key beside it), which signs\n"
        "                               enrolments for --cert-lifetime (default 90 days);\n"
        "                               N enrolment attempts a minute per address (6);\n"
        "                               N connections open per address (64), each\n"
        "                               to finish its TLS handshake in SECONDS (5)\n"
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
    const char *cmd = NULL, *sub = NULL, *arg = NULL, *areas = NULL, *listen = NULL;
    const char *dir = NULL, *district = NULL, *name = NULL;
    char ca_key[4096];
    unsigned token_hours = ADMIN_TOKEN_HOURS;
    struct hub_opts o;
    char host[256];
    int i, r, daemon_mode;

    memset(&o, 0, sizeof(o));
    o.pg_conns = 4;
    o.cert_lifetime_s = 90u * 86400u;
    o.enroll_per_min = 6;
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
        } else if (strcmp(a, "--client-ca") == 0 && v) {
            o.client_ca = v;
            i++;
        } else if (strcmp(a, "--ca-key") == 0 && v) {
            o.ca_key = v;
            i++;
        } else if (strcmp(a, "--cert-lifetime") == 0 && v) {
            long n = strtol(v, NULL, 10);
            i++;
            if (n < 2 || n > 10L * 365 * 86400) {
                fprintf(stderr, "sikhnas-hub: --cert-lifetime must be 2 s to 10 years\n");
                return 2;
            }
            o.cert_lifetime_s = (unsigned)n;
        } else if (strcmp(a, "--enroll-rate") == 0 && v) {
            o.enroll_per_min = atof(v);
            i++;
            if (!(o.enroll_per_min >= 1 && o.enroll_per_min <= 100000)) {
                fprintf(stderr, "sikhnas-hub: --enroll-rate must be 1 to 100000 a minute\n");
                return 2;
            }
        } else if (strcmp(a, "--dir") == 0 && v) {
            dir = v;
            i++;
        } else if (strcmp(a, "--district") == 0 && v) {
            district = v;
            i++;
        } else if (strcmp(a, "--name") == 0 && v) {
            name = v;
            i++;
        } else if (strcmp(a, "--token-hours") == 0 && v) {
            long n = strtol(v, NULL, 10);
            i++;
            if (n < 1 || n > 24 * 365) {
                fprintf(stderr, "sikhnas-hub: --token-hours must be 1 to 8760\n");
                return 2;
            }
            token_hours = (unsigned)n;
        } else if (strcmp(a, "--pg-conns") == 0 && v) {
            o.pg_conns = atoi(v);
            i++;
            if (o.pg_conns < 1 || o.pg_conns > 64) {
                fprintf(stderr, "sikhnas-hub: --pg-conns must be 1 to 64\n");
                return 2;
            }
        } else if (strcmp(a, "--max-conns-per-addr") == 0 && v) {
            o.max_conns_per_addr = atoi(v);
            i++;
            if (o.max_conns_per_addr < 1 || o.max_conns_per_addr > HUB_MAX_CONNS) {
                fprintf(stderr, "sikhnas-hub: --max-conns-per-addr must be 1 to %d\n",
                        HUB_MAX_CONNS);
                return 2;
            }
        } else if (strcmp(a, "--handshake-timeout") == 0 && v) {
            o.handshake_ms = (unsigned)atoi(v) * 1000u;
            i++;
            if (o.handshake_ms < 1000 || o.handshake_ms > 60000) {
                fprintf(stderr, "sikhnas-hub: --handshake-timeout must be 1 to 60 seconds\n");
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
        } else if (!arg) {
            arg = a;
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
    if (strcmp(cmd, "ca") == 0 && sub && strcmp(sub, "init") == 0 && !arg) {
        if (!dir) {
            log_error("ca init needs --dir DIR");
            return 2;
        }
        r = hub_ca_init(dir);
        if (r >= 0)
            printf("%s/ca.pem%s\n", dir, r == 0 ? " (exists; left as it is)" : "");
        return r < 0 ? 1 : 0;
    }
    if (!pg) {
        log_error("--pg CONNINFO is required");
        return 2;
    }
    if (arg && strcmp(cmd, "node") != 0) {
        fprintf(stderr, "sikhnas-hub: unexpected argument '%s'\n", arg);
        return 2;
    }
    if (strcmp(cmd, "node") == 0 && sub && strcmp(sub, "add") == 0 && !arg) {
        if (!district || !name) {
            log_error("node add needs --district CODE and --name NAME");
            return 2;
        }
        r = hub_node_add(pg, name, district, token_hours);
    } else if (strcmp(cmd, "node") == 0 && sub && strcmp(sub, "revoke") == 0 && arg) {
        r = hub_node_revoke(pg, arg);
    } else if (strcmp(cmd, "node") == 0 && sub && strcmp(sub, "list") == 0 && !arg) {
        r = hub_node_list(pg);
    } else if (strcmp(cmd, "migrate") == 0 && !sub) {
        r = hub_migrate(pg);
    } else if (strcmp(cmd, "refdata") == 0 && sub && strcmp(sub, "load") == 0) {
        r = hub_refdata_load(pg, areas);
    } else if (daemon_mode && !sub) {
        if (!listen || !o.cert_file || !o.key_file || !o.client_ca) {
            log_error("run needs --listen HOST:PORT, --tls-cert FILE, --tls-key FILE and "
                      "--client-ca FILE (see `ca init`)");
            return 2;
        }
        if (!o.ca_key) {
            const char *slash = strrchr(o.client_ca, '/');
            snprintf(ca_key, sizeof(ca_key), "%.*sca.key",
                     slash ? (int)(slash - o.client_ca + 1) : 0, o.client_ca);
            o.ca_key = ca_key;
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
