/* hub_admin.c - `sikhnas-hub node add|revoke|list` (see hub_admin.h). */
#include "hub_admin.h"
#include "hex.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "hub_ca.h"
#include "hub_migrate.h"
#include "log.h"

/* Runs sql with text parameters; *ret (if given) gets the result. */
static int run(PGconn *pg, const char *sql, int n, const char *const *params, PGresult **ret)
{
    PGresult *res = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        log_error("%s", PQresultErrorMessage(res));
        PQclear(res);
        return -EIO;
    }
    if (ret)
        *ret = res;
    else
        PQclear(res);
    return 0;
}

static int name_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 100)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (iscntrl((unsigned char)name[i]))
            return 0;
    return 1;
}

int hub_node_add(const char *conninfo, const char *name, const char *district,
                 unsigned valid_hours)
{
    char token[CA_TOKEN_HEX], hash[65], hours[16];
    PGconn *pg = NULL;
    PGresult *res = NULL;
    int r;

    if (!name_valid(name)) {
        log_error("node add: --name must be 1 to 100 printable characters");
        return -EINVAL;
    }
    if (strlen(district) != 4 || strspn(district, "0123456789") != 4) {
        log_error("node add: --district must be a 4-digit district code (e.g. 3201)");
        return -EINVAL;
    }
    r = ca_random_hex(CA_TOKEN_BYTES, token);
    if (r < 0)
        return r;
    sha256_hex(token, strlen(token), hash);
    snprintf(hours, sizeof(hours), "%u", valid_hours);
    r = hub_admin_connect(conninfo, &pg);
    if (r < 0)
        return r;
    r = run(pg, "BEGIN", 0, NULL, NULL);
    if (r < 0)
        goto out;
    {
        const char *p[] = { name, district };
        r = run(pg, "INSERT INTO node_registration (name, district) VALUES ($1, $2) "
                    "ON CONFLICT (name) DO NOTHING", 2, p, NULL);
        if (r == 0)
            r = run(pg, "SELECT district, revoked_at IS NOT NULL FROM node_registration "
                        "WHERE name = $1 FOR UPDATE", 1, p, &res);
    }
    if (r < 0)
        goto rollback;
    if (strcmp(PQgetvalue(res, 0, 0), district) != 0) {
        log_error("node add: '%s' is registered for district %s; register the board under "
                  "a new name", name, PQgetvalue(res, 0, 0));
        r = -EEXIST;
        goto rollback;
    }
    if (PQgetvalue(res, 0, 1)[0] == 't') {
        log_error("node add: '%s' was revoked; register the board under a new name", name);
        r = -EPERM;
        goto rollback;
    }
    {
        const char *p[] = { hash, name, hours };
        r = run(pg, "INSERT INTO enrol_token (token_sha256, name, expires_at) VALUES "
                    "($1, $2, now() + make_interval(hours => $3::int))", 3, p, NULL);
        if (r == 0)
            r = run(pg, "INSERT INTO security_audit (event, name, district, reason) VALUES "
                        "('register', $1, $2, 'token issued, valid ' || $3 || ' h')",
                    3, (const char *[]){ name, district, hours }, NULL);
    }
    if (r < 0)
        goto rollback;
    r = run(pg, "COMMIT", 0, NULL, NULL);
    if (r < 0)
        goto out;
    printf("%s\n", token);
    fflush(stdout);
    log_notice("node add: '%s' (district %s): enrolment token valid for %u hours; it is "
               "shown only once", name, district, valid_hours);
    goto out;
rollback:
    (void) run(pg, "ROLLBACK", 0, NULL, NULL);
out:
    PQclear(res);
    PQfinish(pg);
    return r;
}

int hub_node_revoke(const char *conninfo, const char *name)
{
    const char *p[] = { name };
    PGresult *res = NULL;
    PGconn *pg = NULL;
    int r;

    r = hub_admin_connect(conninfo, &pg);
    if (r < 0)
        return r;
    r = run(pg, "BEGIN", 0, NULL, NULL);
    if (r == 0)
        r = run(pg, "UPDATE node_registration SET revoked_at = coalesce(revoked_at, now()) "
                    "WHERE name = $1 RETURNING district, coalesce(node_id, '')", 1, p, &res);
    if (r < 0)
        goto rollback;
    if (PQntuples(res) != 1) {
        log_error("node revoke: no node is registered as '%s'", name);
        r = -ENOENT;
        goto rollback;
    }
    {
        const char *q[] = { name, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1) };
        r = run(pg, "UPDATE node_cert SET revoked_at = now() WHERE name = $1 AND "
                    "revoked_at IS NULL", 1, p, NULL);
        if (r == 0)
            r = run(pg, "UPDATE enrol_token SET expires_at = least(expires_at, now()) "
                        "WHERE name = $1 AND used_at IS NULL", 1, p, NULL);
        if (r == 0)
            r = run(pg, "INSERT INTO security_audit (event, name, district, node_id, reason) "
                        "VALUES ('revoke', $1, $2, nullif($3, ''), 'revoked by the operator')",
                    3, q, NULL);
    }
    if (r < 0)
        goto rollback;
    r = run(pg, "COMMIT", 0, NULL, NULL);
    if (r == 0)
        log_notice("node revoke: '%s' is revoked; its next request is refused", name);
    goto out;
rollback:
    (void) run(pg, "ROLLBACK", 0, NULL, NULL);
out:
    PQclear(res);
    PQfinish(pg);
    return r;
}

int hub_node_list(const char *conninfo)
{
    PGresult *res = NULL;
    PGconn *pg = NULL;
    int r;

    r = hub_admin_connect(conninfo, &pg);
    if (r < 0)
        return r;
    r = run(pg, "SELECT r.name, r.district, coalesce(r.node_id, '-'), "
                "CASE WHEN r.revoked_at IS NOT NULL THEN 'revoked' "
                "WHEN r.node_id IS NULL THEN 'registered' ELSE 'enrolled' END, "
                "coalesce((SELECT to_char(max(not_after) AT TIME ZONE 'UTC', "
                "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM node_cert c WHERE c.name = r.name "
                "AND c.revoked_at IS NULL), '-') "
                "FROM node_registration r ORDER BY r.district, r.name", 0, NULL, &res);
    if (r == 0) {
        printf("name\tdistrict\tnode_id\tstate\tcert_not_after\n");
        for (int i = 0; i < PQntuples(res); i++)
            printf("%s\t%s\t%s\t%s\t%s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                   PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 4));
    }
    PQclear(res);
    PQfinish(pg);
    return r;
}
