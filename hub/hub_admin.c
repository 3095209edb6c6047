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

/* A security_audit row of an operator's command (node_id "" or NULL: none). */
static int audit(PGconn *pg, const char *event, const char *name, const char *district,
                 const char *node_id, const char *reason)
{
    const char *const p[] = { event, name, district, node_id, reason };

    return hub_admin_exec(pg, "security_audit", "INSERT INTO security_audit (event, name, "
                          "district, node_id, reason) VALUES ($1, $2, $3, nullif($4, ''), $5)",
                          5, p, NULL);
}

/* What node add writes in its transaction. */
struct node_add {
    const char *name, *district;
    char        hours[16];
    char        hash[65];           /* the token's SHA-256, all that is stored of it */
    char        reason[48];         /* for security_audit */
};

static int node_add_in(PGconn *pg, void *ud)
{
    const struct node_add *a = ud;
    const char *const p[] = { a->name, a->district };
    const char *const t[] = { a->hash, a->name, a->hours };
    PGresult *res = NULL;
    int r;

    r = hub_admin_exec(pg, "node add", "INSERT INTO node_registration (name, district) "
                       "VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", 2, p, NULL);
    if (r == 0)
        r = hub_admin_exec(pg, "node add", "SELECT district, revoked_at IS NOT NULL "
                           "FROM node_registration WHERE name = $1 FOR UPDATE", 1, p, &res);
    if (r < 0)
        return r;
    if (strcmp(PQgetvalue(res, 0, 0), a->district) != 0) {
        log_error("node add: '%s' is registered for district %s; register the board under "
                  "a new name", a->name, PQgetvalue(res, 0, 0));
        r = -EEXIST;
    } else if (PQgetvalue(res, 0, 1)[0] == 't') {
        log_error("node add: '%s' was revoked; register the board under a new name", a->name);
        r = -EPERM;
    } else {
        r = hub_admin_exec(pg, "node add", "INSERT INTO enrol_token (token_sha256, name, "
                           "expires_at) VALUES ($1, $2, now() + make_interval(hours => "
                           "$3::int))", 3, t, NULL);
    }
    if (r == 0)
        r = audit(pg, "register", a->name, a->district, NULL, a->reason);
    PQclear(res);
    return r;
}

int hub_node_add(const char *conninfo, const char *name, const char *district,
                 unsigned valid_hours)
{
    struct node_add a = { .name = name, .district = district };
    char token[CA_TOKEN_HEX];
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
    sha256_hex(token, strlen(token), a.hash);
    snprintf(a.hours, sizeof(a.hours), "%u", valid_hours);
    snprintf(a.reason, sizeof(a.reason), "token issued, valid %u h", valid_hours);
    r = hub_admin_transaction(conninfo, "node add", node_add_in, &a);
    if (r < 0)
        return r;
    printf("%s\n", token);
    fflush(stdout);
    log_notice("node add: '%s' (district %s): enrolment token valid for %u hours; it is "
               "shown only once", name, district, valid_hours);
    return 0;
}

static int node_revoke_in(PGconn *pg, void *ud)
{
    const char *name = ud;
    const char *const p[] = { name };
    PGresult *res = NULL;
    int r;

    r = hub_admin_exec(pg, "node revoke", "UPDATE node_registration SET revoked_at = "
                       "coalesce(revoked_at, now()) WHERE name = $1 "
                       "RETURNING district, coalesce(node_id, '')", 1, p, &res);
    if (r < 0)
        return r;
    if (PQntuples(res) != 1) {
        log_error("node revoke: no node is registered as '%s'", name);
        PQclear(res);
        return -ENOENT;
    }
    r = hub_admin_exec(pg, "node revoke", "UPDATE node_cert SET revoked_at = now() "
                       "WHERE name = $1 AND revoked_at IS NULL", 1, p, NULL);
    if (r == 0)
        r = hub_admin_exec(pg, "node revoke", "UPDATE enrol_token SET expires_at = "
                           "least(expires_at, now()) WHERE name = $1 AND used_at IS NULL",
                           1, p, NULL);
    if (r == 0)
        r = audit(pg, "revoke", name, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
                  "revoked by the operator");
    PQclear(res);
    return r;
}

int hub_node_revoke(const char *conninfo, const char *name)
{
    int r = hub_admin_transaction(conninfo, "node revoke", node_revoke_in, (void *)name);

    if (r == 0)
        log_notice("node revoke: '%s' is revoked; its next request is refused", name);
    return r;
}

int hub_node_list(const char *conninfo)
{
    PGresult *res = NULL;
    PGconn *pg = NULL;
    int r;

    r = hub_admin_connect(conninfo, &pg);
    if (r == 0)
        r = hub_admin_exec(pg, "node list", "SELECT r.name, r.district, "
                           "coalesce(r.node_id, '-'), "
                           "CASE WHEN r.revoked_at IS NOT NULL THEN 'revoked' "
                           "WHEN r.node_id IS NULL THEN 'registered' ELSE 'enrolled' END, "
                           "coalesce((SELECT to_char(max(not_after) AT TIME ZONE 'UTC', "
                           "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM node_cert c "
                           "WHERE c.name = r.name AND c.revoked_at IS NULL), '-') "
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
