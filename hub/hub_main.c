/* hub_main.c - sikhnas-hub: command line of the central gateway.
 *
 *   sikhnas-hub [-v|-q] --pg CONNINFO migrate
 *   sikhnas-hub [-v|-q] --pg CONNINFO refdata load [--areas DIR] [--boundaries FILE]
 *   sikhnas-hub [-v|-q] [--pg CONNINFO] ca init --dir DIR
 *   sikhnas-hub [-v|-q] --pg CONNINFO node add --district CODE --name NAME [--token-hours N]
 *   sikhnas-hub [-v|-q] --pg CONNINFO node revoke NAME
 *   sikhnas-hub [-v|-q] --pg CONNINFO node list
 *   sikhnas-hub [-v|-q] --pg CONNINFO run --listen HOST:PORT --tls-cert FILE --tls-key FILE
 *                                         --client-ca FILE [--ca-key FILE]
 *                                         [--cert-lifetime SECONDS] [--enroll-rate N]
 *                                         [--pg-conns N] [--max-conns-per-addr N]
 *                                         [--handshake-timeout SECONDS]
 *                                         [--idle-timeout SECONDS] [--stall-timeout SECONDS]
 *                                         [--admit N] [--admit-queue N] [--admit-mib N]
 *                                         [--body-mib N] [--resume 0|1]
 *                                         [--job-stats SECONDS]
 *
 * Global options come before the command, the command's own after it.
 * Exit status: 0 done, 1 failed, 2 usage (unknown option, missing argument
 * or value out of range).
 */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "hub.h"
#include "hub_admin.h"
#include "hub_boundary.h"
#include "hub_ca.h"
#include "hub_migrate.h"
#include "log.h"
#include "hostport.h"

#define STR_(x) #x
#define STR(x)  STR_(x)

static void usage(FILE *f)
{
    fprintf(f,
        "usage: sikhnas-hub [-v|-q] --pg CONNINFO COMMAND [OPTIONS]\n"
        "\n"
        "commands:\n"
        "  migrate                      apply the central schema migrations (idempotent)\n"
        "  refdata load [--areas DIR] [--boundaries FILE]\n"
        "                               load areas from the idn-area CSVs in DIR and the\n"
        "                               built-in code lists; FILE: a GeoJSON of area\n"
        "                               boundaries keyed by code (the analysts' maps)\n"
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
        "      [--idle-timeout SECONDS] [--stall-timeout SECONDS]\n"
        "      [--admit N] [--admit-queue N] [--admit-mib N] [--body-mib N]\n"
        "      [--resume 0|1] [--job-stats SECONDS]\n"
        "                               serve the sync API (PORT 0: any free port; the\n"
        "                               bound address is printed on stdout). Nodes must\n"
        "                               present a certificate from --client-ca (its key:\n"
        "                               --ca-key, default ca.key beside it), which signs\n"
        "                               enrolments for --cert-lifetime (default 90 days);\n"
        "                               N enrolment attempts a minute per address (6);\n"
        "                               N connections open per address (64), each\n"
        "                               to finish its TLS handshake in SECONDS (5) and\n"
        "                               closed when idle for SECONDS (30; a node told\n"
        "                               to come back later: until then);\n"
        "                               N push batches decoded and applied at once\n"
        "                               (2 x --pg-conns) and of N MiB inflated at once\n"
        "                               (" STR(HUB_ADMIT_MIB) "; 0: no bound), N more waiting (4 x --admit;\n"
        "                               the rest: 429 with Retry-After), N MiB of request\n"
        "                               bodies held at once (" STR(HUB_BODIES_MIB) ")\n"
        "\n"
        "CONNINFO is a libpq connection string or URI; list several hosts with\n"
        "target_session_attrs=read-write to follow a failover. The environment\n"
        "variable SIKHNAS_HUB_PG is used when --pg is not given.\n"
        "sikhnas-hub %s\n", SIKHNAS_VERSION);
}

#define EXIT_USAGE 2

/* The command's words (argv[0] is its name) and what the options set. */
struct cli {
    int             argc;
    char          **argv;
    const char     *pg;
    const char     *areas, *boundaries, *dir, *district, *name, *listen;
    unsigned        token_hours;        /* 0: not given */
    struct hub_opts run;                /* numbers 0: not given */
};

/* Every option but --help, -v and -q: the command that takes it after its
 * name (NULL: a global one, before the command), the field it sets, and
 * for a number its range, which the error message states. */
enum opt_type { OPT_TEXT, OPT_INT, OPT_UINT, OPT_SECONDS_MS, OPT_RATE };
#define AT(field) offsetof(struct cli, field)
static const struct opt_def {
    const char   *name;
    const char   *cmd;
    enum opt_type type;
    size_t        at;
    long          min, max;
    const char   *range;
} opt_defs[] = {
    { "pg", NULL, OPT_TEXT, AT(pg), 0, 0, NULL },
    { "areas", "refdata", OPT_TEXT, AT(areas), 0, 0, NULL },
    { "boundaries", "refdata", OPT_TEXT, AT(boundaries), 0, 0, NULL },
    { "dir", "ca", OPT_TEXT, AT(dir), 0, 0, NULL },
    { "district", "node", OPT_TEXT, AT(district), 0, 0, NULL },
    { "name", "node", OPT_TEXT, AT(name), 0, 0, NULL },
    { "token-hours", "node", OPT_UINT, AT(token_hours), 1, 24 * 365, "1 to 8760" },
    { "listen", "run", OPT_TEXT, AT(listen), 0, 0, NULL },
    { "tls-cert", "run", OPT_TEXT, AT(run.cert_file), 0, 0, NULL },
    { "tls-key", "run", OPT_TEXT, AT(run.key_file), 0, 0, NULL },
    { "client-ca", "run", OPT_TEXT, AT(run.client_ca), 0, 0, NULL },
    { "ca-key", "run", OPT_TEXT, AT(run.ca_key), 0, 0, NULL },
    { "cert-lifetime", "run", OPT_UINT, AT(run.cert_lifetime_s), 2, 10L * 365 * 86400,
      "2 s to 10 years" },
    { "enroll-rate", "run", OPT_RATE, AT(run.enroll_per_min), 1, 100000,
      "1 to 100000 a minute" },
    { "pg-conns", "run", OPT_INT, AT(run.pg_conns), 1, 64, "1 to 64" },
    { "max-conns-per-addr", "run", OPT_INT, AT(run.max_conns_per_addr), 1, HUB_MAX_CONNS,
      "1 to " STR(HUB_MAX_CONNS) },
    { "handshake-timeout", "run", OPT_SECONDS_MS, AT(run.handshake_ms), 1, 60,
      "1 to 60 seconds" },
    { "idle-timeout", "run", OPT_SECONDS_MS, AT(run.idle_ms), 1, 600, "1 to 600 seconds" },
    { "stall-timeout", "run", OPT_SECONDS_MS, AT(run.stall_ms), 30, 600,
      "30 to 600 seconds" },
    { "admit", "run", OPT_INT, AT(run.admit), 1, 1024, "1 to 1024" },
    { "admit-queue", "run", OPT_INT, AT(run.admit_queue), 0, 4096, "0 to 4096" },
    { "admit-mib", "run", OPT_INT, AT(run.admit_mib), 0, 4096, "0 to 4096" },
    { "body-mib", "run", OPT_INT, AT(run.body_mib), 8, 4096, "8 to 4096" },
    { "resume", "run", OPT_INT, AT(run.resume), 0, 1, "0 or 1" },
    { "job-stats", "run", OPT_INT, AT(run.job_stats_s), 0, 3600, "0 to 3600 seconds" },
};
#define N_OPTS   (sizeof(opt_defs) / sizeof(opt_defs[0]))
#define OPT_BASE 256                    /* getopt_long() returns OPT_BASE + the index */

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

/* Sets the field of d in c from value; 0, or 2 after a message when a
 * number is out of range. */
static int set_option(struct cli *c, const struct opt_def *d, const char *value)
{
    char *field = (char *)c + d->at;
    double rate;
    long n;

    switch (d->type) {
    case OPT_TEXT:
        *(const char **)field = value;
        return 0;
    case OPT_RATE:
        rate = atof(value);
        if (!(rate >= d->min && rate <= d->max))
            break;
        *(double *)field = rate;
        return 0;
    default:
        n = strtol(value, NULL, 10);
        if (n < d->min || n > d->max)
            break;
        if (d->type == OPT_INT)
            *(int *)field = (int)n;
        else
            *(unsigned *)field = (unsigned)n * (d->type == OPT_SECONDS_MS ? 1000u : 1u);
        return 0;
    }
    fprintf(stderr, "sikhnas-hub: --%s must be %s\n", d->name, d->range);
    return EXIT_USAGE;
}

/* getopt_long() over argv with the options of cmd (NULL: the global ones,
 * up to the command's name) into c. Returns -1 when the options are over,
 * else the exit status: 0 after --help, 2 after a message and the usage
 * for an unknown option, a missing argument or a value out of range.
 * optind = 0, not 1: only that makes glibc start afresh, and for a command
 * in its default mode, which permutes, so a subcommand word or NAME may
 * come before or after the options. */
static int parse_options(struct cli *c, int argc, char **argv, const char *cmd)
{
    struct option longopts[N_OPTS + 2];
    int n = 0, opt, r;

    for (size_t i = 0; i < N_OPTS; i++) {
        const struct opt_def *d = &opt_defs[i];
        if (cmd ? d->cmd && strcmp(d->cmd, cmd) == 0 : !d->cmd)
            longopts[n++] = (struct option){ d->name, required_argument, NULL,
                                             OPT_BASE + (int)i };
    }
    longopts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
    longopts[n] = (struct option){ 0 };
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, cmd ? ":h" : "+:hvq", longopts, NULL)) != -1) {
        if (opt >= OPT_BASE) {
            r = set_option(c, &opt_defs[opt - OPT_BASE], optarg);
            if (r != 0)
                return r;
        } else if (opt == 'h') {
            usage(stdout);
            return 0;
        } else if (opt == 'v') {
            log_level = log_level >= LOG_INFO ? LOG_DEBUG : LOG_INFO;
        } else if (opt == 'q') {
            log_level = LOG_WARNING;
        } else {
            return bad_option(argv, opt);
        }
    }
    return -1;
}

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

/* 0 when the one word after the options is sub; otherwise 2 after the
 * usage or a message. */
static int only_word(const struct cli *c, const char *sub)
{
    const char *w = word(c, 0);

    if (!w || strcmp(w, sub) != 0)
        return usage_error();
    return words_exactly(c, 1);
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
    if (optind != c->argc)
        return usage_error();
    return exit_for(hub_migrate(c->pg));
}

/* refdata load [--areas DIR] [--boundaries FILE] */
static int cmd_refdata(struct cli *c)
{
    int r = only_word(c, "load");

    if (r != 0)
        return r;
    r = hub_refdata_load(c->pg, c->areas);
    if (r == 0 && c->boundaries)
        r = hub_boundaries_load(c->pg, c->boundaries);
    return exit_for(r);
}

/* ca init --dir DIR */
static int cmd_ca(struct cli *c)
{
    int r = only_word(c, "init");

    if (r != 0)
        return r;
    if (!c->dir) {
        log_error("ca init needs --dir DIR");
        return EXIT_USAGE;
    }
    r = hub_ca_init(c->dir);
    if (r >= 0)
        printf("%s/ca.pem%s\n", c->dir, r == 0 ? " (exists; left as it is)" : "");
    return exit_for(r);
}

/* node add --district CODE --name NAME [--token-hours N] | revoke NAME | list */
static int cmd_node(struct cli *c)
{
    const char *sub = word(c, 0);
    int r;

    if (sub && strcmp(sub, "add") == 0) {
        if ((r = words_exactly(c, 1)) != 0)
            return r;
        if (!c->district || !c->name) {
            log_error("node add needs --district CODE and --name NAME");
            return EXIT_USAGE;
        }
        return exit_for(hub_node_add(c->pg, c->name, c->district,
                                     c->token_hours ? c->token_hours : ADMIN_TOKEN_HOURS));
    }
    if (!sub || c->district || c->name || c->token_hours)   /* add's options only */
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

static int cmd_run(struct cli *c)
{
    struct hub_opts *o = &c->run;
    char ca_key[4096], host[256];

    if (optind != c->argc)
        return usage_error();
    if (!c->listen || !o->cert_file || !o->key_file || !o->client_ca) {
        log_error("run needs --listen HOST:PORT, --tls-cert FILE, --tls-key FILE and "
                  "--client-ca FILE (see `ca init`)");
        return EXIT_USAGE;
    }
    if (!o->ca_key) {
        const char *slash = strrchr(o->client_ca, '/');
        snprintf(ca_key, sizeof(ca_key), "%.*sca.key",
                 slash ? (int)(slash - o->client_ca + 1) : 0, o->client_ca);
        o->ca_key = ca_key;
    }
    if (hostport_parse(c->listen, host, sizeof(host), &o->port) < 0) {
        log_error("--listen '%s' is not HOST:PORT", c->listen);
        return EXIT_USAGE;
    }
    if (!o->pg_conns)
        o->pg_conns = 4;
    if (!o->admit)
        o->admit = 2 * o->pg_conns;
    if (o->admit_queue < 0)
        o->admit_queue = 4 * o->admit;
    if (o->admit_mib < 0)
        o->admit_mib = HUB_ADMIT_MIB;
    if (o->job_stats_s < 0)
        o->job_stats_s = HUB_JOB_STATS_S;
    if (!o->cert_lifetime_s)
        o->cert_lifetime_s = 90u * 86400u;
    if (!o->enroll_per_min)
        o->enroll_per_min = 6;
    o->host = host;
    o->conninfo = c->pg;
    /* A batch allocates and frees some 10 MB (JSON tree, COPY text) on a
     * worker thread; without these glibc hands the memory back after
     * every batch and page-faults it in again for the next one (measured:
     * most of the decode time). Memory stays bounded by the caps. One
     * malloc arena, not glibc's 8 a core: the four worker threads each kept
     * the high-water mark of their batches in an arena of their own
     * (measured, the storm of 514 nodes x 4 JSON batches of 2,500: peak RSS
     * 180 MiB with them, 158 with two, 129 with one); they make few calls
     * to malloc (the batch's JSON tree is in its own arena), so sharing one
     * costs little. MALLOC_ARENA_MAX in the environment wins. */
    if (!getenv("MALLOC_ARENA_MAX"))
        mallopt(M_ARENA_MAX, 1);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
    mallopt(M_TOP_PAD, 16 << 20);
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    return exit_for(hub_run(o));
}

/* The commands; each runs after its options, and after the check for
 * --pg when it needs PostgreSQL. */
static const struct {
    const char *name;
    int       (*fn)(struct cli *c);
    int         needs_pg;
} commands[] = {
    { "migrate", cmd_migrate, 1 },
    { "refdata", cmd_refdata, 1 },
    { "ca", cmd_ca, 0 },
    { "node", cmd_node, 1 },
    { "run", cmd_run, 1 },
};

int main(int argc, char **argv)
{
    struct cli c = { .pg = getenv("SIKHNAS_HUB_PG"), .run.admit_queue = -1,
                  .run.admit_mib = -1, .run.resume = 1, .run.job_stats_s = -1 };
    int r;

    r = parse_options(&c, argc, argv, NULL);
    if (r >= 0)
        return r;
    c.argc = argc - optind;
    c.argv = argv + optind;
    log_setup("sikhnas-hub", c.argc > 0 && strcmp(c.argv[0], "run") == 0);
    if (c.argc == 0)
        return usage_error();
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(commands[i].name, c.argv[0]) != 0)
            continue;
        r = parse_options(&c, c.argc, c.argv, c.argv[0]);
        if (r >= 0)
            return r;
        if (commands[i].needs_pg && (r = need_pg(&c)) != 0)
            return r;
        return commands[i].fn(&c);
    }
    if (need_pg(&c) != 0)
        return EXIT_USAGE;
    return usage_error();
}
