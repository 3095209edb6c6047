/* worker_main.c - sikhnas-worker: the central job queue's workers and the
 * operator's commands on the queue and the recipients.
 *
 *   sikhnas-worker [-v|-q] [--config FILE] [--pg CONNINFO] run
 *                  [--threads N] [--batch N] [--time-scale F] [--now ISO-8601]
 *   sikhnas-worker ... schedule [--now ISO-8601]
 *   sikhnas-worker ... enqueue KIND KEY [JSON]
 *   sikhnas-worker ... jobs [STATE]
 *   sikhnas-worker ... retry ID | cancel ID
 *   sikhnas-worker ... recipient add EMAIL ROLE [PROVINCE|-] [NAME]
 *   sikhnas-worker ... recipient list | recipient remove ID
 *
 * Exit status: 0 done, 1 failed, 2 usage. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "worker.h"
#include "worker_loop.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: sikhnas-worker [-v|-q] [--config FILE] [--pg CONNINFO] COMMAND\n"
        "\n"
        "commands:\n"
        "  run [--threads N] [--batch N] [--time-scale F] [--now TIME]\n"
        "                         run jobs until SIGTERM (N threads, N jobs taken at once;\n"
        "                         F multiplies every delay, for tests; TIME: the scheduler's\n"
        "                         clock starts there, ISO-8601 UTC)\n"
        "  schedule [--now TIME]  queue the scheduled jobs that are due, once\n"
        "  enqueue KIND KEY [JSON]  queue a job (no-op when KEY is queued already)\n"
        "  jobs [STATE]           counts by state, and the last 50 jobs (of STATE)\n"
        "  retry ID | cancel ID   retry a failed, dead or cancelled job; cancel a waiting one\n"
        "  recipient add EMAIL ROLE [PROVINCE|-] [NAME]\n"
        "                         ROLE vet (alerts, summaries), analyst (summaries) or\n"
        "                         operator (fleet alerts); PROVINCE - : national\n"
        "  recipient list | recipient remove ID\n"
        "\n"
        "settings: the INI file (see deploy/central/sikhnas-worker.ini.example)\n");
}

static int parse_time(const char *s, time_t *ret)
{
    struct tm tm = { 0 };
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);

    if (!end || (*end && strcmp(end, "Z")))
        return -EINVAL;
    *ret = timegm(&tm);
    return 0;
}

static int cmd_run(struct worker_config *cfg)
{
    struct worker *w = calloc((size_t)cfg->threads, sizeof(*w));
    pthread_t *t = calloc((size_t)cfg->threads, sizeof(*t));
    struct sigaction sa = { .sa_handler = on_signal };
    char host[64] = "";
    long long done = 0, failed = 0;
    int n = 0;

    if (!w || !t) {
        free(w);
        free(t);
        return -ENOMEM;
    }
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    gethostname(host, sizeof(host) - 1);
    for (; n < cfg->threads; n++) {
        w[n] = (struct worker){ .cfg = cfg, .index = n, .stop = &stop_flag,
                                .seed = (unsigned)(getpid() * 7919 + n + time(NULL)) };
        snprintf(w[n].id, sizeof(w[n].id), "%s:%d:%d", host, (int)getpid(), n);
        if (pthread_create(&t[n], NULL, worker_thread, &w[n]) != 0)
            break;
    }
    log_notice("running %d worker thread(s), %d job(s) taken at a time, lease %d s%s", n,
               cfg->batch, cfg->lease, cfg->time_scale != 1.0 ? " (time scaled)" : "");
    printf("running\n");
    fflush(stdout);
    for (int i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        done += w[i].done;
        failed += w[i].failed;
    }
    log_notice("stopped: %lld job(s) done, %lld attempt(s) failed", done, failed);
    free(w);
    free(t);
    return n == cfg->threads ? 0 : -EAGAIN;
}

static int admin(PGconn *pg, const char *sql, int n, const char *const *p, int print)
{
    PGresult *res = PQexecParams(pg, sql, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    int r = 0;

    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        log_error("%s", PQerrorMessage(pg));
        r = -EIO;
    } else if (print) {
        for (int i = 0; i < PQntuples(res); i++)
            for (int c = 0; c < PQnfields(res); c++)
                printf("%s%s", PQgetvalue(res, i, c), c + 1 < PQnfields(res) ? "\t" : "\n");
    } else if (st == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
               !strcmp(PQgetvalue(res, 0, 0), "f")) {
        log_error("no such job, or not in a state that allows it");
        r = -ENOENT;
    }
    PQclear(res);
    return r;
}

static int cmd_recipient(PGconn *pg, int argc, char **argv)
{
    if (argc >= 1 && !strcmp(argv[0], "list"))
        return admin(pg, "SELECT id, email, role, coalesce(province, 'national'), name, "
                         "CASE WHEN active THEN 'active' ELSE 'inactive' END "
                         "FROM recipient ORDER BY province NULLS FIRST, role, email", 0, NULL, 1);
    if (argc == 2 && !strcmp(argv[0], "remove"))
        return admin(pg, "SELECT count(*) > 0 FROM (DELETE FROM recipient WHERE id = $1::bigint "
                         "RETURNING 1) d", 1, (const char *const *)&argv[1], 0);
    if (argc >= 3 && argc <= 5 && !strcmp(argv[0], "add")) {
        const char *p[4] = { argv[1], argv[2],
                             argc > 3 && strcmp(argv[3], "-") ? argv[3] : NULL,
                             argc > 4 ? argv[4] : "" };
        return admin(pg, "INSERT INTO recipient (email, role, province, name) "
                         "VALUES ($1, $2, $3, $4) RETURNING id", 4, p, 1);
    }
    usage(stderr);
    return -EINVAL;
}

static int cmd_admin(struct worker_config *cfg, const char *cmd, int argc, char **argv)
{
    PGconn *pg = PQconnectdb(cfg->conninfo);
    int r = -EINVAL;

    if (PQstatus(pg) != CONNECTION_OK) {
        log_error("cannot connect to PostgreSQL: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return -ECONNREFUSED;
    }
    if (!strcmp(cmd, "enqueue") && (argc == 2 || argc == 3)) {
        const char *p[3] = { argv[0], argv[1], argc == 3 ? argv[2] : "{}" };
        r = admin(pg, "SELECT coalesce(sikhnas_job_enqueue($1, $2, $3::jsonb)::text, "
                      "'already queued')", 3, p, 1);
    } else if (!strcmp(cmd, "jobs") && argc <= 1) {
        const char *p[1] = { argc ? argv[0] : NULL };
        r = admin(pg, "SELECT state, count(*) FROM job GROUP BY 1 ORDER BY 1", 0, NULL, 1);
        if (r == 0)
            r = admin(pg, "SELECT id, kind, idem_key, state, attempts, run_at, "
                          "coalesce(last_error, '') FROM job WHERE $1::text IS NULL OR state = $1 "
                          "ORDER BY id DESC LIMIT 50", 1, p, 1);
    } else if ((!strcmp(cmd, "retry") || !strcmp(cmd, "cancel")) && argc == 1) {
        r = admin(pg, !strcmp(cmd, "retry") ? "SELECT sikhnas_job_retry($1::bigint)"
                                            : "SELECT sikhnas_job_cancel($1::bigint)",
                  1, (const char *const *)argv, 0);
    } else if (!strcmp(cmd, "recipient")) {
        r = cmd_recipient(pg, argc, argv);
    } else if (!strcmp(cmd, "schedule") && argc == 0) {
        char now[64];
        time_t t = time(NULL) + cfg->now_offset;
        const char *p[1] = { now };
        strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
        r = admin(pg, "SELECT sikhnas_schedule_summaries($1::timestamptz)", 1, p, 1);
    } else {
        usage(stderr);
    }
    PQfinish(pg);
    return r;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' }, { "pg", required_argument, NULL, 'p' },
        { "threads", required_argument, NULL, 't' }, { "batch", required_argument, NULL, 'b' },
        { "time-scale", required_argument, NULL, 's' }, { "now", required_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
    struct worker_config cfg;
    const char *config = NULL, *pg = NULL, *threads = NULL, *batch = NULL, *now = NULL;
    double scale = 1.0;
    int c, r, verbose = 0;

    while ((c = getopt_long(argc, argv, "vqh", opts, NULL)) != -1) {
        switch (c) {
        case 'v': verbose++; break;
        case 'q': verbose--; break;
        case 'c': config = optarg; break;
        case 'p': pg = optarg; break;
        case 't': threads = optarg; break;
        case 'b': batch = optarg; break;
        case 'n': now = optarg; break;
        case 's':
            scale = strtod(optarg, NULL);
            if (!(scale > 0 && scale <= 1)) {
                fprintf(stderr, "sikhnas-worker: --time-scale must be in (0, 1]\n");
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    log_setup("sikhnas-worker", optind < argc && !strcmp(argv[optind], "run"));
    log_level = LOG_NOTICE + verbose;
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    r = worker_config_load(&cfg, config);
    if (r == 0 && pg)
        r = (free(cfg.conninfo), cfg.conninfo = strdup(pg)) ? 0 : -ENOMEM;
    if (r == 0 && threads)
        r = (cfg.threads = atoi(threads)) >= 1 && cfg.threads <= 64 ? 0 : -EINVAL;
    if (r == 0 && batch)
        r = (cfg.batch = atoi(batch)) >= 1 && cfg.batch <= 1000 ? 0 : -EINVAL;
    cfg.time_scale = scale;
    if (r == 0 && now) {
        time_t t = 0;
        r = parse_time(now, &t);
        cfg.now_offset = t - time(NULL);
    }
    if (r == 0 && !cfg.conninfo) {
        log_error("no database: give --pg or [database] conninfo");
        r = -EINVAL;
    }
    if (r < 0) {
        worker_config_free(&cfg);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!strcmp(argv[optind], "run") && optind + 1 == argc)
        r = cmd_run(&cfg);
    else
        r = cmd_admin(&cfg, argv[optind], argc - optind - 1, argv + optind + 1);
    curl_global_cleanup();
    worker_config_free(&cfg);
    return r == 0 ? 0 : r == -EINVAL ? 2 : 1;
}
