/* web_main.c - sikhnas-web: the central analysts' web app (see webapp.h and
 * docs/central-ops.md, "The analysts' web app").
 *
 *   sikhnas-web [-v|-q] --pg CONNINFO [--pg-replica CONNINFO] serve
 *               --listen HOST:PORT --tls-cert FILE --tls-key FILE [--client-ca FILE]
 *               [--assets-dir DIR] [--tile-url URL] [--statement-timeout SECONDS]
 *               [--pg-conns N] [--cache-seconds N] [--upkeep]
 *   sikhnas-web --pg CONNINFO account add LOGIN --name NAME --role ROLE [--scope CODE]
 *   sikhnas-web --pg CONNINFO account reset|disable|enable LOGIN
 *   sikhnas-web --pg CONNINFO account list
 *   sikhnas-web --pg CONNINFO upkeep [--once]
 *
 * Exit status: 0 done, 1 failed, 2 usage. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "hostport.h"
#include "log.h"
#include "throttle.h"
#include "webapp.h"

#define UPKEEP_INTERVAL_MS 1000

static void usage(FILE *f)
{
    fprintf(f,
        "usage: sikhnas-web [-v|-q] --pg CONNINFO [--pg-replica CONNINFO] COMMAND [OPTIONS]\n"
        "\n"
        "commands:\n"
        "  serve --listen HOST:PORT --tls-cert FILE --tls-key FILE [--client-ca FILE]\n"
        "        [--assets-dir DIR] [--tile-url URL] [--statement-timeout SECONDS]\n"
        "        [--pg-conns N] [--cache-seconds N] [--upkeep]\n"
        "                     serve the analysts' pages and API over HTTPS (PORT 0: any\n"
        "                     free port; the bound address is printed on stdout). Pages\n"
        "                     read --pg-replica (default: --pg) with the statement\n"
        "                     timeout (30 s); accounts and sessions live on --pg. The\n"
        "                     operator pages need a certificate from --client-ca when it\n"
        "                     is given. A page's answer is kept --cache-seconds (5; 0:\n"
        "                     none). --upkeep also keeps the aggregates current.\n"
        "  account add LOGIN --name NAME --role ROLE [--scope CODE]\n"
        "                     ROLE national, province (scope: 2 digits), district\n"
        "                     (scope: 4 digits) or operator; the password is the first\n"
        "                     line of stdin, or a random one that is printed\n"
        "  account reset LOGIN      a new password (as for add); ends its sessions\n"
        "  account disable LOGIN    no more logins; ends its sessions\n"
        "  account enable LOGIN\n"
        "  account list\n"
        "  upkeep [--once]    recompute the aggregates that changed, every second\n"
        "                     (--once: until none is left, then exit)\n"
        "\n"
        "CONNINFO is a libpq connection string (the primary; SIKHNAS_WEB_PG when --pg is\n"
        "not given; SIKHNAS_WEB_REPLICA for --pg-replica).\n"
        "sikhnas-web %s\n", SIKHNAS_VERSION);
}

struct cli {
    const char *pg, *replica, *listen, *cert, *key, *client_ca, *assets, *tiles;
    int         timeout_s, conns, upkeep, once, cache_s;
};

static uv_signal_t sig_term, sig_int;

static void on_drained(void *arg)
{
    uv_stop(arg);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct web_app *app = s->data;

    log_notice("web: signal %d: finishing the requests under way", signum);
    uv_signal_stop(&sig_term);
    uv_signal_stop(&sig_int);
    http_server_drain(app->srv, on_drained, app->loop);
}

static int serve(const struct cli *c)
{
    struct web_app app = { 0 };
    struct http_config hc = { 0 };
    char host[64], setup[256], n[16];
    int port, r;

    if (!c->listen || !c->cert || !c->key || hostport_parse(c->listen, host, sizeof(host),
                                                            &port) < 0) {
        usage(stderr);
        return 2;
    }
    snprintf(n, sizeof(n), "%d", c->conns + 4);
    setenv("UV_THREADPOOL_SIZE", n, 0);     /* before the loop's first work */
    app.loop = uv_default_loop();
    app.tile_url = c->tiles ? c->tiles : "";
    app.assets_dir = c->assets;
    app.secure_cookie = 1;
    app.client_cert = c->client_ca != NULL;
    app.cache_ms = (unsigned)c->cache_s * 1000u;
    pthread_mutex_init(&app.throttle_mu, NULL);
    r = throttle_new(&app.throttle);
    if (r < 0)
        return 1;
    /* no JIT: the pages' reads are short; compiling them cost 0.3-0.7 s
     * each on the 20 M bench as soon as a plan's cost crossed jit_above_cost */
    snprintf(setup, sizeof(setup), "SET statement_timeout = '%ds'; SET jit = off;"
             "SET application_name = 'sikhnas-web'; SET default_transaction_read_only = on",
             c->timeout_s);
    r = web_pool_new(c->pg, 4, "SET application_name = 'sikhnas-web'", "web: primary",
                     &app.primary);
    if (r == 0)
        r = web_pool_new(c->replica ? c->replica : c->pg, c->conns, setup, "web: replica",
                         &app.replica);
    if (r == 0 && c->upkeep)
        r = web_upkeep_thread(c->pg, UPKEEP_INTERVAL_MS);
    if (r < 0)
        goto out;
    hc.host = host;
    hc.port = port;
    hc.cert_file = c->cert;
    hc.key_file = c->key;
    hc.client_ca_file = c->client_ca;
    hc.body_max = 16 * 1024;
    hc.max_per_addr = 64;
    hc.request_ms = 60000;
    hc.log_name = "web";
    hc.handler = web_on_request;
    hc.arg = &app;
    r = http_server_start(app.loop, &hc, &app.srv);
    if (r < 0)
        goto out;
    uv_signal_init(app.loop, &sig_term);
    uv_signal_init(app.loop, &sig_int);
    sig_term.data = sig_int.data = &app;
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    signal(SIGPIPE, SIG_IGN);
    printf("listening https://%s:%d\n", host, http_server_port(app.srv));
    fflush(stdout);
    log_notice("web: serving on %s:%d (replica: %s)", host, http_server_port(app.srv),
               c->replica ? "yes" : "the primary");
    uv_run(app.loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
    uv_run(app.loop, UV_RUN_DEFAULT);
    log_notice("web: stopped after %llu requests (%llu exports)",
               (unsigned long long)app.requests, (unsigned long long)app.exports);
out:
    web_upkeep_stop();
    web_pool_free(app.replica);
    web_pool_free(app.primary);
    web_cache_free();
    throttle_free(app.throttle);
    pthread_mutex_destroy(&app.throttle_mu);
    uv_loop_close(app.loop);
    return r < 0 ? 1 : 0;
}

enum { O_PG = 256, O_REPLICA, O_LISTEN, O_CERT, O_KEY, O_CA, O_ASSETS, O_TILES, O_TIMEOUT,
       O_CONNS, O_UPKEEP, O_ONCE, O_CACHE };

static const struct option longopts[] = {
    { "pg", required_argument, NULL, O_PG },
    { "pg-replica", required_argument, NULL, O_REPLICA },
    { "listen", required_argument, NULL, O_LISTEN },
    { "tls-cert", required_argument, NULL, O_CERT },
    { "tls-key", required_argument, NULL, O_KEY },
    { "client-ca", required_argument, NULL, O_CA },
    { "assets-dir", required_argument, NULL, O_ASSETS },
    { "tile-url", required_argument, NULL, O_TILES },
    { "statement-timeout", required_argument, NULL, O_TIMEOUT },
    { "pg-conns", required_argument, NULL, O_CONNS },
    { "upkeep", no_argument, NULL, O_UPKEEP },
    { "once", no_argument, NULL, O_ONCE },
    { "cache-seconds", required_argument, NULL, O_CACHE },
    { "help", no_argument, NULL, 'h' },
    { 0 },
};

/* A number in [min, max] into *out; 0, or 2 after a message. */
static int set_number(int *out, const char *v, int min, int max, const char *name,
                      const char *unit)
{
    char *end;
    long n = strtol(v, &end, 10);

    if (*v == '\0' || *end || n < min || n > max) {
        fprintf(stderr, "sikhnas-web: --%s must be %d to %d%s\n", name, min, max, unit);
        return 2;
    }
    *out = (int)n;
    return 0;
}

/* Options of the serve and upkeep commands. 0 or 2. */
static int set_option(struct cli *c, int opt, const char *v)
{
    switch (opt) {
    case O_PG: c->pg = v; break;
    case O_REPLICA: c->replica = v; break;
    case O_LISTEN: c->listen = v; break;
    case O_CERT: c->cert = v; break;
    case O_KEY: c->key = v; break;
    case O_CA: c->client_ca = v; break;
    case O_ASSETS: c->assets = v; break;
    case O_TILES: c->tiles = v; break;
    case O_UPKEEP: c->upkeep = 1; break;
    case O_ONCE: c->once = 1; break;
    case O_TIMEOUT:
        return set_number(&c->timeout_s, v, 1, 3600, "statement-timeout", " seconds");
    case O_CONNS:
        return set_number(&c->conns, v, 1, 64, "pg-conns", "");
    case O_CACHE:
        return set_number(&c->cache_s, v, 0, 300, "cache-seconds", " seconds");
    default:
        usage(stderr);
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct cli c = { .timeout_s = 30, .conns = 8, .cache_s = 5 };
    const char *cmd;
    int opt, r;

    log_setup("sikhnas-web", 0);
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+hvq", longopts, NULL)) != -1) {
        if (opt == 'h') {
            usage(stdout);
            return 0;
        } else if (opt == 'v') {
            log_level = LOG_DEBUG;
        } else if (opt == 'q') {
            log_level = LOG_WARNING;
        } else if (opt != O_PG && opt != O_REPLICA) {
            usage(stderr);
            return 2;
        } else if (set_option(&c, opt, optarg) != 0) {
            return 2;
        }
    }
    if (!c.pg)
        c.pg = getenv("SIKHNAS_WEB_PG");
    if (!c.replica)
        c.replica = getenv("SIKHNAS_WEB_REPLICA");
    if (optind >= argc || !c.pg) {
        usage(stderr);
        return 2;
    }
    cmd = argv[optind];
    if (strcmp(cmd, "account") == 0) {
        r = web_cmd_account(c.pg, argc - optind, argv + optind);
        if (r == 2)
            usage(stderr);
        return r;
    }
    argc -= optind;
    argv += optind;
    optind = 0;
    while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1)
        if (set_option(&c, opt, optarg) != 0)
            return 2;
    if (optind < argc) {
        fprintf(stderr, "sikhnas-web: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (strcmp(cmd, "serve") == 0)
        return serve(&c);
    if (strcmp(cmd, "upkeep") == 0)
        return web_cmd_upkeep(c.pg, c.once, UPKEEP_INTERVAL_MS);
    usage(stderr);
    return 2;
}
