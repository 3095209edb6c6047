/* main.c - the sikhnas-node command line: one binary for the operator's
 * commands (init, officer, report, import, status) and, in later work, the
 * daemon. Exit status: 0 done, 1 failed, 2 usage, 65 bad input (nothing
 * written), 75 try again later (store busy). */
#include <cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "cmdopts.h"
#include "config.h"
#include "daemon.h"
#include "area_points.h"
#include "auth.h"
#include "import.h"
#include "log.h"
#include "nodeconf.h"
#include "records.h"
#include "refdata.h"
#include "sms_spool.h"
#include "store.h"
#include "validate.h"
#include "utf8.h"
#include "node_usage.h"
#include "uplink_exec.h"

#define EXIT_USAGE   2
#define EXIT_DATAERR 65
#define EXIT_TEMPFAIL 75
#define STDIN_MAX    (256 * 1024)

struct ctx {
    struct node_config cfg;
    int argc;
    char **argv;
    char **all_argv;            /* main()'s, for the commands the uplink program runs */
    const char *config;         /* --config FILE, or NULL */
    int verbose;                /* -v minus -q */
};

static int exit_for(int r)
{
    if (r >= 0)
        return 0;
    if (r == -EINVAL)
        return EXIT_DATAERR;
    if (r == -EBUSY)
        return EXIT_TEMPFAIL;
    return 1;
}

/* The command's options (argv[0] is its name) by its table (cmdopts.h):
 * the index of its first word, or -EDOM. */
#define PARSE_OPTS(c, opts) cmdopts_parse((c)->argc, (c)->argv, opts, CMDOPTS_N(opts))

static int cmd_init(struct ctx *c)
{
    const char *district_arg = NULL, *areas = c->cfg.areas_dir[0] ? c->cfg.areas_dir : NULL;
    const struct cmdopt opts[] = {
        { "district", CMDOPT_TEXT, &district_arg }, { "areas", CMDOPT_TEXT, &areas } };
    struct refdata_counts n = {0};
    struct store *s = NULL;
    char district[5], have[8], id[UUID_STR_LEN];
    int r;

    r = PARSE_OPTS(c, opts);
    if (r < 0)
        return r;
    if (!district_arg || r != c->argc) {
        log_error("init needs --district CODE (e.g. 32.01 or 3201)");
        return -EDOM;
    }
    if (refdata_district_code(district_arg, district) < 0) {
        log_error("'%s' is not a district code: give the 4 digits of a kabupaten/kota, "
                  "e.g. 32.01 or 3201", district_arg);
        return -EINVAL;
    }
    areas = refdata_find_areas(areas);
    if (!areas)
        return -ENOENT;
    r = config_open_store(&c->cfg, 1, &s);
    if (r < 0)
        return r;
    if (store_meta_get(s, "district", have, sizeof(have)) == 0 && strcmp(have, district) != 0) {
        log_error("store '%s' belongs to district %s; a node serves one district "
                  "(use another --db for %s)", c->cfg.db_path, have, district);
        r = -EEXIST;
        goto out;
    }
    r = store_begin(s);
    if (r < 0)
        goto out;
    r = refdata_load_lists(s, &n);
    if (r == 0)
        r = refdata_load_areas(s, areas, district, &n);
    if (r == 0 && !store_node_id(s)[0]) {
        r = store_new_id(s, store_hlc_tick(s), id);
        if (r == 0)
            r = store_meta_set(s, "node_id", id);
    }
    if (r == 0)
        r = store_meta_set(s, "district", district);
    r = store_end(s, r);
    if (r < 0)
        goto out;
    printf("store %s for district %s %s (%s), node %s\n", c->cfg.db_path, district,
           n.district_name, n.province_name, store_node_id(s));
    printf("loaded %d code-list entries, %d province, %d district, %d sub-districts, "
           "%d villages (areas from %s)\n", n.codes, n.provinces, n.districts,
           n.subdistricts, n.villages, areas);
out:
    store_close(s);
    return r;
}

static int read_stdin(char **ret, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);

    if (!buf)
        return -ENOMEM;
    for (;;) {
        size_t k;
        if (n == cap) {
            if (cap >= STDIN_MAX) {
                free(buf);
                log_error("input is larger than %d bytes", STDIN_MAX);
                return -EINVAL;
            }
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                return -ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
        k = fread(buf + n, 1, cap - n, stdin);
        n += k;
        if (k == 0)
            break;
    }
    buf[n] = '\0';
    *ret = buf;
    *len = n;
    return 0;
}

static int cmd_report_add(struct ctx *c, struct store *s)
{
    struct case_report_in in;
    struct validator *v = NULL;
    struct actor op;
    struct verr e;
    char *text = NULL, msg[256], id[UUID_STR_LEN], ref[16];
    cJSON *doc = NULL;
    size_t len;
    int r;

    r = read_stdin(&text, &len);
    if (r < 0)
        return r;
    r = validate_json_parse(text, len, &doc, &e);
    if (r == -EINVAL) {
        verr_format(&e, "en", msg, sizeof(msg));
        log_error("report refused: %s", msg);
    }
    if (r < 0)
        goto out;
    r = validator_new(s, &v);
    if (r < 0)
        goto out;
    actor_operator(&op);            /* the board's operator: see access.h */
    r = validate_case_report(v, doc, &in, &e);
    if (r == 0)
        r = access_check(&op, REC_CASE, &in, &e);
    if (r < 0) {
        verr_format(&e, "en", msg, sizeof(msg));
        log_error("report refused: %s", msg);
        r = -EINVAL;
        goto out;
    }
    r = store_begin(s);
    if (r < 0)
        goto out;
    r = case_report_insert(s, &in, id, ref);
    r = store_end(s, r);
    if (r < 0)
        goto out;
    /* committed with synchronous=FULL: now it may be acknowledged */
    printf("{\"id\":\"%s\",\"ref\":\"%s\"}\n", id, ref);
out:
    cJSON_Delete(doc);
    validator_free(v);
    free(text);
    return r;
}

static int cmd_report(struct ctx *c)
{
    int json = 0, limit = 0, r;
    const struct cmdopt opts[] = {
        { "json", CMDOPT_SET, &json }, { "limit", CMDOPT_INT, &limit } };
    struct store *s = NULL;
    const char *sub;

    r = PARSE_OPTS(c, opts);
    if (r < 0)
        return r;
    sub = r == c->argc - 1 ? c->argv[r] : "";
    if (strcmp(sub, "add") != 0 && strcmp(sub, "list") != 0) {
        log_error("report needs one subcommand: add or list");
        return -EDOM;
    }
    r = config_open_store(&c->cfg, 0, &s);
    if (r < 0)
        return r;
    if (strcmp(sub, "add") == 0)
        r = cmd_report_add(c, s);
    else
        r = case_report_list(s, stdout, json, limit);
    store_close(s);
    return r;
}

/* Reads one line from stdin as a new web password and hashes it. */
static int read_password(char hash[AUTH_HASH_MAX])
{
    char pw[AUTH_PASSWORD_MAX + 3];
    size_t n;
    int r;

    if (!fgets(pw, sizeof(pw), stdin)) {
        log_error("--password-stdin: no password on stdin");
        return -EINVAL;
    }
    n = strcspn(pw, "\r\n");
    pw[n] = '\0';
    if (auth_password_ok(pw) < 0) {
        log_error("officer refused: password: must be %d to %d characters of text",
                  AUTH_PASSWORD_MIN, AUTH_PASSWORD_MAX);
        r = -EINVAL;
    } else {
        r = auth_hash_password(pw, AUTH_PBKDF2_ITER, hash);
    }
    memset(pw, 0, sizeof(pw));
    return r;
}

/* Sets the web password of the officer with this phone. */
static int officer_password(struct store *s, const char *phone, const char *hash)
{
    char norm[20], id[UUID_STR_LEN];
    const struct store_col id_col = { id, sizeof(id) };
    int r;

    if (phone_normalize(phone, norm) < 0) {
        log_error("officer refused: phone: '%s' is not an Indonesian mobile number", phone);
        return -EINVAL;
    }
    r = store_get(s, "SELECT id FROM officer WHERE phone = ?1 AND deleted = 0", norm, &id_col, 1);
    if (r == -ENOENT) {
        log_error("officer refused: phone: %s is not a registered officer", norm);
        return -EINVAL;
    }
    if (r < 0)
        return r;
    r = store_begin(s);
    if (r == 0)
        r = auth_set_password(s, id, hash);
    r = store_end(s, r);
    if (r < 0)
        return r;
    printf("{\"id\":\"%s\",\"phone\":\"%s\",\"password\":\"set\"}\n", id, norm);
    return 0;
}

static int cmd_officer(struct ctx *c)
{
    const char *name = NULL, *phone = NULL, *role = NULL, *village = NULL;
    int json = 0, pw_stdin = 0, r;
    const struct cmdopt opts[] = {
        { "name", CMDOPT_TEXT, &name }, { "phone", CMDOPT_TEXT, &phone },
        { "role", CMDOPT_TEXT, &role }, { "village", CMDOPT_TEXT, &village },
        { "json", CMDOPT_SET, &json }, { "password-stdin", CMDOPT_SET, &pw_stdin } };
    char pw_hash[AUTH_HASH_MAX] = "";
    const char *sub;
    struct officer_in in = {0};
    struct validator *v = NULL;
    struct store *s = NULL;
    char id[UUID_STR_LEN];

    r = PARSE_OPTS(c, opts);
    if (r < 0)
        return r;
    sub = r == c->argc - 1 ? c->argv[r] : "";
    if (strcmp(sub, "add") != 0 && strcmp(sub, "list") != 0 && strcmp(sub, "password") != 0) {
        log_error("officer needs one subcommand: add, list or password");
        return -EDOM;
    }
    if (strcmp(sub, "password") == 0 && (!phone || !pw_stdin)) {
        log_error("officer password needs --phone and --password-stdin");
        return -EDOM;
    }
    if (pw_stdin) {
        r = read_password(pw_hash);
        if (r < 0)
            return r;
    }
    r = config_open_store(&c->cfg, 0, &s);
    if (r < 0)
        return r;
    if (strcmp(sub, "list") == 0) {
        r = officer_list(s, stdout, json);
        goto out;
    }
    if (strcmp(sub, "password") == 0) {
        r = officer_password(s, phone, pw_hash);
        goto out;
    }
    if (!name || !phone || !role) {
        log_error("officer add needs --name, --phone and --role");
        r = -EDOM;
        goto out;
    }
    r = -EINVAL;
    if (!name[0] || strlen(name) > V_NAME_MAX || strchr(name, '\n') ||
        !utf8_valid(name, strlen(name), UTF8_TEXT)) {
        log_error("officer refused: name: must be 1 to %d characters of text", V_NAME_MAX);
        goto out;
    }
    if (phone_normalize(phone, in.phone) < 0) {
        log_error("officer refused: phone: '%s' is not an Indonesian mobile number "
                  "(+62…, 62… or 08…)", phone);
        goto out;
    }
    r = validator_new(s, &v);
    if (r < 0)
        goto out;
    r = -EINVAL;
    if (!validator_has_code(v, "role", role)) {
        log_error("officer refused: role: '%s' is not one of vet, clerk, reporter, viewer", role);
        goto out;
    }
    if (village) {
        enum verr_code e = validate_village(v, village, in.village);
        if (e != VERR_NONE) {
            struct verr ve = { .code = e };
            log_error("officer refused: village: '%s' %s", village, verr_reason(&ve, "en"));
            goto out;
        }
    }
    snprintf(in.name, sizeof(in.name), "%s", name);
    snprintf(in.role, sizeof(in.role), "%s", role);
    r = store_begin(s);
    if (r < 0)
        goto out;
    r = officer_insert(s, &in, id);
    if (r == 0 && pw_hash[0])
        r = auth_set_password(s, id, pw_hash);
    r = store_end(s, r);
    if (r < 0) {
        if (r == -EEXIST) {
            log_error("officer refused: phone: %s is already registered", in.phone);
            r = -EINVAL;
        }
        goto out;
    }
    printf("{\"id\":\"%s\",\"phone\":\"%s\"}\n", id, in.phone);
out:
    validator_free(v);
    store_close(s);
    return r;
}

static int cmd_import(struct ctx *c)
{
    struct import_opts o = { .chunk = c->cfg.import_chunk, .progress = isatty(STDERR_FILENO) };
    const struct cmdopt opts[] = {
        { "strict", CMDOPT_SET, &o.strict }, { "again", CMDOPT_SET, &o.again },
        { "rejects", CMDOPT_TEXT, &o.rejects_path },
        { "no-progress", CMDOPT_CLEAR, &o.progress } };
    struct import_result res;
    struct actor op;
    struct validator *v = NULL;
    struct store *s = NULL;
    int r;

    r = PARSE_OPTS(c, opts);
    if (r < 0)
        return r;
    if (r != c->argc - 1) {
        log_error("import needs one FILE.jsonl");
        return -EDOM;
    }
    o.path = c->argv[r];
    actor_operator(&op);
    o.actor = &op;
    r = config_open_store(&c->cfg, 0, &s);
    if (r < 0)
        return r;
    r = validator_new(s, &v);
    if (r == 0)
        r = import_jsonl(s, v, &o, &res);
    if (r == 0 || r == -EINVAL) {
        printf("{\"lines\":%ld,\"imported\":%ld,\"rejected\":%ld,\"resumed_after\":%ld,"
               "\"seconds\":%.3f}\n", res.lines, res.imported, res.rejected, res.skipped,
               res.seconds);
        if (r == 0 && res.rejected) {
            log_warning("%ld line(s) rejected, kept in %s%s", res.rejected,
                        o.rejects_path ? o.rejects_path : o.path,
                        o.rejects_path ? "" : ".rejects.jsonl");
            r = -EINVAL;    /* the good lines are in; exit 65 tells a script to look */
        }
    }
    validator_free(v);
    store_close(s);
    return r;
}

static int cmd_status(struct ctx *c)
{
    int json = 0, r;
    const struct cmdopt opts[] = { { "json", CMDOPT_SET, &json } };
    struct store *s = NULL;

    r = PARSE_OPTS(c, opts);
    if (r < 0)
        return r;
    r = config_open_store(&c->cfg, 0, &s);
    if (r < 0)
        return r;
    r = node_status(s, stdout, json);
    store_close(s);
    return r;
}

/* `sync` and `enroll` talk to the hub: sikhnas-node-uplink does, with the
 * same arguments (uplink_main.c), so that this program maps no libcurl. */
static int cmd_sync(struct ctx *c)
{
    return uplink_exec(c->all_argv);
}

static int cmd_enroll(struct ctx *c)
{
    return uplink_exec(c->all_argv);
}

static int cmd_sms(struct ctx *c)
{
    struct store *s = NULL;
    int r = config_open_store(&c->cfg, 0, &s);

    if (r == 0)
        r = sms_cmd(s, &c->cfg, c->argc, c->argv);
    store_close(s);
    return r;
}

static int cmd_run(struct ctx *c)
{
    return daemon_main(&c->cfg, c->config, c->verbose, c->argc, c->argv);
}

/* points FILE.csv: a gazetteer's points of villages and kecamatan (the map). */
static int cmd_points(struct ctx *c)
{
    struct area_points_counts n;
    struct store *s = NULL;
    const struct cmdopt none[] = { { "", CMDOPT_SET, NULL } };
    int r = cmdopts_parse(c->argc, c->argv, none, 0);

    if (r < 0)
        return r;
    if (r != c->argc - 1) {
        log_error("points needs one CSV file of code,lat,lon");
        return -EDOM;
    }
    r = config_open_store(&c->cfg, 0, &s);
    if (r == 0)
        r = area_points_load(s, c->argv[c->argc - 1], &n);
    if (r == 0)
        printf("{\"loaded\":%ld,\"refused\":%ld}\n", n.loaded, n.refused);
    store_close(s);
    return r;
}

static const struct {
    const char *name;
    int (*fn)(struct ctx *c);
} commands[] = {
    { "run", cmd_run },
    { "init", cmd_init },
    { "report", cmd_report },
    { "officer", cmd_officer },
    { "import", cmd_import },
    { "points", cmd_points },
    { "status", cmd_status },
    { "sms", cmd_sms },
    { "sync", cmd_sync },
    { "enroll", cmd_enroll },
};

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "db", required_argument, NULL, 'd' },
        { "config", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { "help-config", no_argument, NULL, 'H' },
        { "verbose", no_argument, NULL, 'v' },
        { "quiet", no_argument, NULL, 'q' },
        { 0, 0, 0, 0 } };
    struct ctx c;
    const char *db = NULL, *config = NULL;
    int opt, verbose = 0, r;

    log_setup("sikhnas-node", 0);
    config_defaults(&c.cfg);
    if (getenv("SIKHNAS_DB"))
        snprintf(c.cfg.db_path, sizeof(c.cfg.db_path), "%s", getenv("SIKHNAS_DB"));
    while ((opt = getopt_long(argc, argv, "+hvq", longopts, NULL)) != -1) {
        switch (opt) {
        case 'd': db = optarg; break;
        case 'c': config = optarg; break;
        case 'h': node_usage(stdout); return 0;
        case 'H': config_help(stdout); return 0;
        case 'v': verbose++; break;
        case 'q': verbose--; break;
        default: node_usage(stderr); return EXIT_USAGE;
        }
    }
    if (config && config_load(&c.cfg, config) < 0)
        return 1;
    if (db)
        snprintf(c.cfg.db_path, sizeof(c.cfg.db_path), "%s", db);
    log_level = c.cfg.log_level + verbose;
    if (optind >= argc) {
        node_usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[optind], "version") == 0) {
        printf("sikhnas-node %s (SQLite %s)\n", SIKHNAS_VERSION, sqlite3_libversion());
        return 0;
    }
    c.argc = argc - optind;
    c.argv = argv + optind;
    c.all_argv = argv;
    c.config = config;
    c.verbose = verbose;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(commands[i].name, c.argv[0]) == 0) {
            r = commands[i].fn(&c);
            if (r == -EDOM) {
                node_usage(stderr);
                return EXIT_USAGE;
            }
            return exit_for(r);
        }
    }
    log_error("unknown command '%s'", c.argv[0]);
    node_usage(stderr);
    return EXIT_USAGE;
}
