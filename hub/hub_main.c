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
 *
 * Global options come before the command, the command's own after it.
 * Exit status: 0 done, 1 failed, 2 usage (unknown option, missing argument
 * or value out of range).
 */
#include <errno.h>
#include <getopt.h>
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
#include "hostport.h"

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

#define EXIT_USAGE 2

/* The command's words (argv[0] is its name) and the global options. */
struct cli {
    int         argc;
    char      **argv;
    const char *pg;
};

static int usage_error(void)
{
    usage(stderr);
    return EXIT_USAGE;
}

/* After getopt_long() returned '?' or ':' for argv (opterr = 0, and the
 * short options begin with ':'): says which option, then the usage. */
static int bad_option(char *const *argv, int ret)
{
    const char *a = optind > 0 ? argv[optind - 1] : "";
    char shortopt[3] = { '-', (char)optopt, 0 };

    if (strncmp(a, "--", 2) != 0 && optopt)
        a = shortopt;
    if (ret == ':')
        fprintf(stderr, "sikhnas-hub: option '%s' needs an argument\n", a);
    else
        fprintf(stderr, "sikhnas-hub: unknown option '%s'\n", a);
    return usage_error();
}

/* getopt_long over the command's own words. optind = 0, not 1: main()
 * parsed with "+" (stop at the command), and only optind = 0 makes glibc
 * start afresh in its default mode, which permutes, so a subcommand word or
 * NAME may come before or after the options. An unknown option or a
 * missing argument: a message, the usage, and the command returns 2. */
#define CMD_OPTS_BEGIN(c) optind = 0; opterr = 0; int opt_; \
    while ((opt_ = getopt_long((c)->argc, (c)->argv, ":h", longopts, NULL)) != -1) { \
        switch (opt_) { \
        case 'h': usage(stdout); return 0;
#define CMD_OPTS_END default: return bad_option((c)->argv, opt_); } }

/* The n-th word after the options (0: the first), or NULL. */
static const char *word(const struct cli *c, int n)
{
    return optind + n < c->argc ? c->argv[optind + n] : NULL;
}

/* 0 when the words after the options are exactly want of them; otherwise
 * says which is one too many (or gives the usage when words are missing)
 * and returns 2. */
static int words_exactly(const struct cli *c, int want)
{
    if (c->argc - optind > want) {
        fprintf(stderr, "sikhnas-hub: unexpected argument '%s'\n", c->argv[optind + want]);
        return EXIT_USAGE;
    }
    if (c->argc - optind < want)
        return usage_error();
    return 0;
}

static int need_pg(const struct cli *c)
{
    if (!c->pg) {
        log_error("--pg CONNINFO is required");
        return EXIT_USAGE;
    }
    return 0;
}

static int exit_for(int r)
{
    return r < 0 ? 1 : 0;
}

static int cmd_migrate(struct cli *c)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 } };
    int r;

    CMD_OPTS_BEGIN(c)
    CMD_OPTS_END
    if ((r = need_pg(c)) != 0)
        return r;
    if (optind != c->argc)
        return usage_error();
    return exit_for(hub_migrate(c->pg));
}

static int cmd_refdata(struct cli *c)
{
    static const struct option longopts[] = {
        { "areas", required_argument, NULL, 'a' },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 } };
    const char *areas = NULL, *sub;
    int r;

    CMD_OPTS_BEGIN(c)
        case 'a': areas = optarg; break;
    CMD_OPTS_END
    if ((r = need_pg(c)) != 0)
        return r;
    sub = word(c, 0);
    if (!sub || strcmp(sub, "load") != 0)
        return usage_error();
    if ((r = words_exactly(c, 1)) != 0)
        return r;
    return exit_for(hub_refdata_load(c->pg, areas));
}

static int cmd_ca(struct cli *c)
{
    static const struct option longopts[] = {
        { "dir", required_argument, NULL, 'd' },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 } };
    const char *dir = NULL, *sub;
    int r;

    CMD_OPTS_BEGIN(c)
        case 'd': dir = optarg; break;
    CMD_OPTS_END
    sub = word(c, 0);
    if (!sub || strcmp(sub, "init") != 0)
        return usage_error();
    if ((r = words_exactly(c, 1)) != 0)
        return r;
    if (!dir) {
        log_error("ca init needs --dir DIR");
        return EXIT_USAGE;
    }
    r = hub_ca_init(dir);
    if (r >= 0)
        printf("%s/ca.pem%s\n", dir, r == 0 ? " (exists; left as it is)" : "");
    return exit_for(r);
}

/* node add --district CODE --name NAME [--token-hours N] | revoke NAME | list */
static int cmd_node(struct cli *c)
{
    static const struct option longopts[] = {
        { "district", required_argument, NULL, 'd' },
        { "name", required_argument, NULL, 'n' },
        { "token-hours", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 } };
    const char *district = NULL, *name = NULL, *sub;
    unsigned token_hours = ADMIN_TOKEN_HOURS;
    int add_opts = 0, r;

    CMD_OPTS_BEGIN(c)
        case 'd': district = optarg; add_opts = 1; break;
        case 'n': name = optarg; add_opts = 1; break;
        case 't': {
            long n = strtol(optarg, NULL, 10);
            if (n < 1 || n > 24 * 365) {
                fprintf(stderr, "sikhnas-hub: --token-hours must be 1 to 8760\n");
                return EXIT_USAGE;
            }
            token_hours = (unsigned)n;
            add_opts = 1;
            break;
        }
    CMD_OPTS_END
    if ((r = need_pg(c)) != 0)
        return r;
    sub = word(c, 0);
    if (sub && strcmp(sub, "add") == 0) {
        if ((r = words_exactly(c, 1)) != 0)
            return r;
        if (!district || !name) {
            log_error("node add needs --district CODE and --name NAME");
            return EXIT_USAGE;
        }
        return exit_for(hub_node_add(c->pg, name, district, token_hours));
    }
    if (!sub || add_opts)               /* --district, --name, --token-hours: add's only */
        return usage_error();
    if (strcmp(sub, "revoke") == 0) {
        if ((r = words_exactly(c, 2)) != 0)
            return r;
        return exit_for(hub_node_revoke(c->pg, word(c, 1)));
    }
    if (strcmp(sub, "list") == 0) {
        if ((r = words_exactly(c, 1)) != 0)
            return r;
        return exit_for(hub_node_list(c->pg));
    }
    return usage_error();
}

/* The options of `run` into o (and listen); returns 0, or the exit status
 * after a message: -h, a bad option or a value out of range. done says
 * which: 1 when the command is over. */
static int run_options(struct cli *c, struct hub_opts *o, const char **listen, int *done)
{
    static const struct option longopts[] = {
        { "listen", required_argument, NULL, 'l' },
        { "tls-cert", required_argument, NULL, 'c' },
        { "tls-key", required_argument, NULL, 'k' },
        { "client-ca", required_argument, NULL, 'C' },
        { "ca-key", required_argument, NULL, 'K' },
        { "cert-lifetime", required_argument, NULL, 'L' },
        { "enroll-rate", required_argument, NULL, 'r' },
        { "pg-conns", required_argument, NULL, 'p' },
        { "max-conns-per-addr", required_argument, NULL, 'm' },
        { "handshake-timeout", required_argument, NULL, 'H' },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 } };

    *done = 1;
    CMD_OPTS_BEGIN(c)
        case 'l': *listen = optarg; break;
        case 'c': o->cert_file = optarg; break;
        case 'k': o->key_file = optarg; break;
        case 'C': o->client_ca = optarg; break;
        case 'K': o->ca_key = optarg; break;
        case 'L': {
            long n = strtol(optarg, NULL, 10);
            if (n < 2 || n > 10L * 365 * 86400) {
                fprintf(stderr, "sikhnas-hub: --cert-lifetime must be 2 s to 10 years\n");
                return EXIT_USAGE;
            }
            o->cert_lifetime_s = (unsigned)n;
            break;
        }
        case 'r':
            o->enroll_per_min = atof(optarg);
            if (!(o->enroll_per_min >= 1 && o->enroll_per_min <= 100000)) {
                fprintf(stderr, "sikhnas-hub: --enroll-rate must be 1 to 100000 a minute\n");
                return EXIT_USAGE;
            }
            break;
        case 'p':
            o->pg_conns = atoi(optarg);
            if (o->pg_conns < 1 || o->pg_conns > 64) {
                fprintf(stderr, "sikhnas-hub: --pg-conns must be 1 to 64\n");
                return EXIT_USAGE;
            }
            break;
        case 'm':
            o->max_conns_per_addr = atoi(optarg);
            if (o->max_conns_per_addr < 1 || o->max_conns_per_addr > HUB_MAX_CONNS) {
                fprintf(stderr, "sikhnas-hub: --max-conns-per-addr must be 1 to %d\n",
                        HUB_MAX_CONNS);
                return EXIT_USAGE;
            }
            break;
        case 'H':
            o->handshake_ms = (unsigned)atoi(optarg) * 1000u;
            if (o->handshake_ms < 1000 || o->handshake_ms > 60000) {
                fprintf(stderr, "sikhnas-hub: --handshake-timeout must be 1 to 60 seconds\n");
                return EXIT_USAGE;
            }
            break;
    CMD_OPTS_END
    *done = 0;
    return 0;
}

static int cmd_run(struct cli *c)
{
    const char *listen = NULL;
    char ca_key[4096], host[256];
    struct hub_opts o;
    int done, r;

    memset(&o, 0, sizeof(o));
    o.pg_conns = 4;
    o.cert_lifetime_s = 90u * 86400u;
    o.enroll_per_min = 6;
    r = run_options(c, &o, &listen, &done);
    if (done)
        return r;
    if ((r = need_pg(c)) != 0)
        return r;
    if (optind != c->argc)
        return usage_error();
    if (!listen || !o.cert_file || !o.key_file || !o.client_ca) {
        log_error("run needs --listen HOST:PORT, --tls-cert FILE, --tls-key FILE and "
                  "--client-ca FILE (see `ca init`)");
        return EXIT_USAGE;
    }
    if (!o.ca_key) {
        const char *slash = strrchr(o.client_ca, '/');
        snprintf(ca_key, sizeof(ca_key), "%.*sca.key",
                 slash ? (int)(slash - o.client_ca + 1) : 0, o.client_ca);
        o.ca_key = ca_key;
    }
    if (hostport_parse(listen, host, sizeof(host), &o.port) < 0) {
        log_error("--listen '%s' is not HOST:PORT", listen);
        return EXIT_USAGE;
    }
    o.host = host;
    o.conninfo = c->pg;
    /* A batch allocates and frees some 10 MB (JSON tree, COPY text) on a
     * worker thread; without these glibc hands the memory back after
     * every batch and page-faults it in again for the next one (measured:
     * most of the decode time). Memory stays bounded by the caps. */
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
    mallopt(M_TOP_PAD, 16 << 20);
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    return exit_for(hub_run(&o));
}

static const struct {
    const char *name;
    int       (*fn)(struct cli *c);
} commands[] = {
    { "migrate", cmd_migrate },
    { "refdata", cmd_refdata },
    { "ca", cmd_ca },
    { "node", cmd_node },
    { "run", cmd_run },
};

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "pg", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 } };
    struct cli c = { .pg = getenv("SIKHNAS_HUB_PG") };
    int opt;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+:hvq", longopts, NULL)) != -1) {
        switch (opt) {
        case 'p': c.pg = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'v': log_level = log_level >= LOG_INFO ? LOG_DEBUG : LOG_INFO; break;
        case 'q': log_level = LOG_WARNING; break;
        default: return bad_option(argv, opt);
        }
    }
    c.argc = argc - optind;
    c.argv = argv + optind;
    log_setup("sikhnas-hub", c.argc > 0 && strcmp(c.argv[0], "run") == 0);
    if (c.argc == 0)
        return usage_error();
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, c.argv[0]) == 0)
            return commands[i].fn(&c);
    if (need_pg(&c) != 0)
        return EXIT_USAGE;
    return usage_error();
}
