/* web_account.c - the analysts' accounts (`sikhnas-web account add |
 * disable | enable | reset | list`), their sessions and audit rows, and
 * the upkeep of the report schema's aggregates (`sikhnas-web upkeep`, or
 * `serve --upkeep` on a thread of its own). All of it writes, so it runs
 * against the primary. */
#include "webapp.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static void hex32(const unsigned char h[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

int web_csrf_of(const char *token, char out[AUTH_CSRF_LEN + 1])
{
    char salted[AUTH_TOKEN_LEN + 16];
    unsigned char c[32];

    /* a hash of the session token: needs no storage, cannot be turned
     * back into the cookie */
    snprintf(salted, sizeof(salted), "csrf:%s", token);
    if (auth_sha256(salted, strlen(salted), c) < 0)
        return -EIO;
    auth_b64url(c, sizeof(c), out, AUTH_CSRF_LEN + 1);
    return 0;
}

int web_session_find(PGconn *pg, const char *token, struct web_who *who)
{
    unsigned char h[32];
    char hex[65];
    const char *p[] = { hex };
    PGresult *r;
    int found;

    if (strlen(token) != AUTH_TOKEN_LEN || auth_sha256(token, strlen(token), h) < 0)
        return -ENOENT;
    hex32(h, hex);
    r = web_exec(pg, "web: session", "SELECT a.login, a.name, a.role, a.scope"
                 " FROM analyst.session s JOIN analyst.account a ON a.login = s.login"
                 " WHERE s.token_hash = decode($1, 'hex') AND s.expires_at > now()"
                 " AND a.disabled_at IS NULL", 1, p);
    if (!r)
        return -EIO;
    found = PQntuples(r) == 1;
    if (found) {
        snprintf(who->login, sizeof(who->login), "%s", PQgetvalue(r, 0, 0));
        snprintf(who->name, sizeof(who->name), "%s", PQgetvalue(r, 0, 1));
        snprintf(who->role, sizeof(who->role), "%s", PQgetvalue(r, 0, 2));
        snprintf(who->scope, sizeof(who->scope), "%s", PQgetvalue(r, 0, 3));
    }
    PQclear(r);
    if (!found)
        return -ENOENT;
    return web_csrf_of(token, who->csrf);
}

int web_audit(PGconn *pg, const char *login, const char *event, const char *address,
              const char *detail)
{
    const char *p[] = { login, event, address, detail };
    PGresult *r = web_exec(pg, "web: audit", "INSERT INTO analyst.audit"
                           " (login, event, address, detail) VALUES ($1, $2, $3, left($4, 500))",
                           4, p);

    PQclear(r);
    return r ? 0 : -EIO;
}

/* ------------------------------------------------------------ accounts */

/* The new password: the first line of stdin, or a random one (printed)
 * when stdin gives none. */
static int read_password(char out[AUTH_PASSWORD_MAX + 2], int *generated)
{
    *generated = 0;
    if (!isatty(STDIN_FILENO) && fgets(out, AUTH_PASSWORD_MAX + 2, stdin)) {
        out[strcspn(out, "\r\n")] = '\0';
        if (out[0]) {
            if (auth_password_ok(out) < 0) {
                fprintf(stderr, "sikhnas-web: the password must be %d to %d characters of"
                        " UTF-8 text\n", AUTH_PASSWORD_MIN, AUTH_PASSWORD_MAX);
                return -EINVAL;
            }
            return 0;
        }
    }
    {
        unsigned char raw[15];
        if (auth_random(raw, sizeof(raw)) < 0)
            return -EIO;
        auth_b64url(raw, sizeof(raw), out, AUTH_PASSWORD_MAX + 2);
        *generated = 1;
    }
    return 0;
}

static int account_set(PGconn *pg, int argc, char **argv, int add)
{
    const char *name = NULL, *role = NULL, *scope = "";
    char pw[AUTH_PASSWORD_MAX + 2], hash[AUTH_HASH_MAX];
    int generated, r;
    PGresult *res;

    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--name") == 0)
            name = argv[i + 1];
        else if (strcmp(argv[i], "--role") == 0)
            role = argv[i + 1];
        else if (strcmp(argv[i], "--scope") == 0)
            scope = argv[i + 1];
        else
            return 2;
    }
    if ((argc % 2) != 0 || (add && (!name || !role)))
        return 2;
    r = read_password(pw, &generated);
    if (r < 0)
        return 1;
    if (auth_hash_password(pw, AUTH_PBKDF2_ITER, hash) < 0)
        return 1;
    if (add) {
        const char *p[] = { argv[1], name, role, scope, hash };
        res = web_exec(pg, "account add", "INSERT INTO analyst.account"
                       " (login, name, role, scope, pw_hash) VALUES ($1, $2, $3, $4, $5)", 5, p);
    } else {
        const char *p[] = { argv[1], hash };
        res = web_exec(pg, "account reset", "WITH s AS (DELETE FROM analyst.session"
                       " WHERE login = $1) UPDATE analyst.account SET pw_hash = $2,"
                       " updated_at = now() WHERE login = $1", 2, p);
    }
    if (!res)
        return 1;
    r = atoi(PQcmdTuples(res)) == 1 ? 0 : 1;
    PQclear(res);
    if (r) {
        fprintf(stderr, "sikhnas-web: no account '%s'\n", argv[1]);
        return 1;
    }
    (void) web_audit(pg, argv[1], add ? "add" : "reset", "cli", role);
    if (generated)
        printf("%s\n", pw);
    memset(pw, 0, sizeof(pw));
    return 0;
}

static int account_disable(PGconn *pg, const char *login, int disable)
{
    const char *p[] = { login };
    PGresult *r = web_exec(pg, "account", disable
        ? "WITH s AS (DELETE FROM analyst.session WHERE login = $1)"
          " UPDATE analyst.account SET disabled_at = now(), updated_at = now() WHERE login = $1"
        : "UPDATE analyst.account SET disabled_at = NULL, updated_at = now() WHERE login = $1",
        1, p);
    int ok;

    if (!r)
        return 1;
    ok = atoi(PQcmdTuples(r)) == 1;
    PQclear(r);
    if (!ok) {
        fprintf(stderr, "sikhnas-web: no account '%s'\n", login);
        return 1;
    }
    (void) web_audit(pg, login, disable ? "disable" : "enable", "cli", NULL);
    return 0;
}

static int account_list(PGconn *pg)
{
    PGresult *r = web_exec(pg, "account list", "SELECT login, role, scope, name,"
                           " CASE WHEN disabled_at IS NULL THEN 'active' ELSE 'disabled' END,"
                           " (SELECT max(at)::timestamp(0)::text FROM analyst.audit u"
                           "  WHERE u.login = a.login AND u.event = 'login')"
                           " FROM analyst.account a ORDER BY login", 0, NULL);

    if (!r)
        return 1;
    printf("%-24s %-9s %-6s %-9s %-20s %s\n", "LOGIN", "ROLE", "SCOPE", "STATE", "LAST LOGIN",
           "NAME");
    for (int i = 0; i < PQntuples(r); i++)
        printf("%-24s %-9s %-6s %-9s %-20s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
               PQgetvalue(r, i, 2), PQgetvalue(r, i, 4),
               PQgetisnull(r, i, 5) ? "-" : PQgetvalue(r, i, 5), PQgetvalue(r, i, 3));
    PQclear(r);
    return 0;
}

int web_cmd_account(const char *conninfo, int argc, char **argv)
{
    PGconn *pg;
    int r = 2;

    if (argc < 2)
        return 2;
    pg = PQconnectdb(conninfo);
    if (PQstatus(pg) != CONNECTION_OK) {
        log_error("account: cannot connect: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return 1;
    }
    PQsetClientEncoding(pg, "UTF8");
    if (strcmp(argv[1], "list") == 0 && argc == 2)
        r = account_list(pg);
    else if (argc < 3)
        r = 2;
    else if (strcmp(argv[1], "add") == 0)
        r = account_set(pg, argc - 1, argv + 1, 1);
    else if (strcmp(argv[1], "reset") == 0)
        r = account_set(pg, argc - 1, argv + 1, 0);
    else if (strcmp(argv[1], "disable") == 0 && argc == 3)
        r = account_disable(pg, argv[2], 1);
    else if (strcmp(argv[1], "enable") == 0 && argc == 3)
        r = account_disable(pg, argv[2], 0);
    PQfinish(pg);
    return r;
}

/* ------------------------------------------------------------ upkeep */

/* Recomputes dirty keys until none is left. Returns the number done, or
 * -EIO when the connection failed. */
static long upkeep_round(PGconn *pg)
{
    long total = 0;

    for (;;) {
        PGresult *r = web_exec(pg, "upkeep", "SELECT report.upkeep(200)", 0, NULL);
        long n;
        if (!r)
            return -EIO;
        n = atol(PQgetvalue(r, 0, 0));
        PQclear(r);
        total += n;
        if (n == 0)
            return total;
    }
}

/* serve --upkeep: set when the server stops, so that its thread ends (and
 * is joined) before the process exits: libpq, and the Kerberos library it
 * loads, must not be in use while the libraries' destructors run. */
static atomic_int upkeep_stopping;
static pthread_t upkeep_tid;
static int upkeep_running;

int web_cmd_upkeep(const char *conninfo, int once, unsigned interval_ms)
{
    PGconn *pg = NULL;
    time_t logged = time(NULL);
    long done = 0;
    unsigned backoff = 1;

    while (!atomic_load(&upkeep_stopping)) {
        long n;
        if (!pg || PQstatus(pg) != CONNECTION_OK) {
            PQfinish(pg);
            pg = PQconnectdb(conninfo);
            if (PQstatus(pg) != CONNECTION_OK) {
                log_error("upkeep: cannot connect: %s", PQerrorMessage(pg));
                if (once)
                    break;
                sleep(backoff);
                backoff = backoff < 30 ? backoff * 2 : 30;
                continue;
            }
            backoff = 1;
        }
        n = upkeep_round(pg);
        if (n < 0 && once)
            break;
        if (n > 0)
            done += n;
        if (once) {
            log_notice("upkeep: %ld key%s recomputed; the aggregates are current", done,
                       done == 1 ? "" : "s");
            PQfinish(pg);
            return 0;
        }
        if (time(NULL) - logged >= 60) {
            if (done)
                log_info("upkeep: %ld keys recomputed in the last minute", done);
            done = 0;
            logged = time(NULL);
        }
        for (unsigned t = 0; t < interval_ms && !atomic_load(&upkeep_stopping); t += 100)
            usleep(100000);
    }
    PQfinish(pg);
    return atomic_load(&upkeep_stopping) ? 0 : 1;
}

struct upkeep_arg {
    char    *conninfo;
    unsigned interval_ms;
};

static void *upkeep_main(void *arg)
{
    struct upkeep_arg *a = arg;

    (void) web_cmd_upkeep(a->conninfo, 0, a->interval_ms);
    return NULL;
}

int web_upkeep_thread(const char *conninfo, unsigned interval_ms)
{
    static struct upkeep_arg a;
    int r;

    a.conninfo = strdup(conninfo);
    a.interval_ms = interval_ms;
    if (!a.conninfo)
        return -ENOMEM;
    r = pthread_create(&upkeep_tid, NULL, upkeep_main, &a);
    if (r != 0)
        return -r;
    upkeep_running = 1;
    return 0;
}

void web_upkeep_stop(void)
{
    if (!upkeep_running)
        return;
    atomic_store(&upkeep_stopping, 1);
    pthread_join(upkeep_tid, NULL);
    upkeep_running = 0;
}
