/* web_ops.c - the operators' pages: what they read (fleet_view,
 * node_health_day, job, recipient: schema/central/020_jobs.sql and
 * 021_fleet.sql) and the actions they take, each a fixed statement with
 * its values as parameters. */
#include "web_ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "log.h"

/* The fleet, filtered by area prefix ($1, '' all) and problem ($2, ''
 * any), sorted by one of the whitelisted columns. */
static const char *const fleet_sort[] = { "district", "name", "version", "last_contact",
                                          "last_push", "outbox_depth", "outbox_oldest_s",
                                          "rows_rejected", "clock_skew_s", "cert_not_after",
                                          "disk_free", "problems" };

#define FLEET_SQL \
    "SELECT node_id, name, district, district_name, version, last_contact, last_push, " \
    "  last_health, outbox_depth, outbox_oldest_s, rows_rejected, " \
    "  round(clock_skew_s::numeric, 1) AS clock_skew_s, cert_not_after, bytes_up_7d, " \
    "  bytes_down_7d, last_sms_in, last_sms_out, disk_free, disk_total, " \
    "  array_to_string(problems, ' ') AS problems " \
    "FROM fleet_view WHERE district LIKE $1 || '%%' " \
    "  AND ($2 = '' OR $2 = ANY (problems)) AND ($3 = '' OR node_id = $3) " \
    "ORDER BY %s %s NULLS LAST, district, name LIMIT 2000"

static const char history_sql[] =
    "SELECT day, contacts, outbox_max, outbox_last, bytes_up, bytes_down "
    "FROM node_health_day WHERE node_id = $1 AND day > current_date - $2::int ORDER BY day";

static const char problems_sql[] =
    "SELECT problem, opened_at, closed_at FROM fleet_problem WHERE node_id = $1 "
    "ORDER BY opened_at DESC LIMIT 50";

static const char queue_sql[] =
    "SELECT id, kind, idem_key, state, attempts, max_attempts, run_at, created_at, "
    "  started_at, finished_at, locked_by, last_error "
    "FROM job WHERE ($1 = '' OR state = $1) AND ($2 = '' OR kind = $2) "
    "ORDER BY id DESC LIMIT 500";

static const char counts_sql[] =
    "SELECT s.state, count(j.id) AS jobs, "
    "  extract(epoch FROM now() - min(j.run_at))::bigint AS oldest_s "
    "FROM unnest(ARRAY['pending', 'running', 'failed', 'dead', 'done', 'cancelled']) s(state) "
    "LEFT JOIN job j ON j.state = s.state GROUP BY s.state "
    "ORDER BY array_position(ARRAY['pending', 'running', 'failed', 'dead', 'done', "
    "  'cancelled'], s.state)";

static const char recipients_sql[] =
    "SELECT id, email, name, role, province, active, added_at FROM recipient "
    "ORDER BY province NULLS FIRST, role, email";

/* Streams the rows of sql with params on a connection of pool. */
static void rows(struct web_pool *pool, const char *name, const char *sql, int n,
                 const char *const *params, struct web_out *o)
{
    PGconn *pg = web_pool_get(pool, 10000);

    if (!pg) {
        web_out_error(o, 503, "unavailable", "the database is not reachable");
        return;
    }
    if (!PQsendQueryParams(pg, sql, n, NULL, params, NULL, NULL, 0) || !PQsetSingleRowMode(pg)) {
        log_error("web: ops %s: %s", name, PQerrorMessage(pg));
        web_out_error(o, 503, "unavailable", "the database is not reachable");
    } else {
        (void) web_out_rows(pg, o, FMT_JSON, name);
    }
    web_pool_put(pool, pg);
}

/* A query value into out (cap bytes): "" when absent; -EINVAL when too
 * long or not of the characters allowed. */
static int arg(const char *query, const char *key, const char *allowed, char *out, size_t cap)
{
    int r = http_query_get(query, key, out, cap);

    if (r == -ENOENT)
        out[0] = '\0';
    else if (r < 0)
        return -EINVAL;
    return out[strspn(out, allowed)] ? -EINVAL : 0;
}

#define DIGITS "0123456789"
#define WORD   "abcdefghijklmnopqrstuvwxyz_"
#define NODEID "0123456789abcdef-"

static void fleet(struct web_app *app, const char *query, struct web_out *o)
{
    char area[12], problem[12], sort[24], desc[4], node[40], sql[sizeof(FLEET_SQL) + 64];
    const char *p[3] = { area, problem, node };
    const char *col = "district";

    if (arg(query, "area", DIGITS, area, sizeof(area)) < 0 ||
        arg(query, "problem", WORD, problem, sizeof(problem)) < 0 ||
        arg(query, "sort", WORD, sort, sizeof(sort)) < 0 ||
        arg(query, "desc", "01", desc, sizeof(desc)) < 0 ||
        arg(query, "node", NODEID, node, sizeof(node)) < 0) {
        web_out_error(o, 400, "bad_request", "bad filter");
        return;
    }
    for (size_t i = 0; i < sizeof(fleet_sort) / sizeof(fleet_sort[0]); i++)
        if (strcmp(sort, fleet_sort[i]) == 0)
            col = fleet_sort[i];
    /* the column is one of the fixed names above, never the caller's text */
    snprintf(sql, sizeof(sql), FLEET_SQL, col, desc[0] == '1' ? "DESC" : "ASC");
    rows(app->replica, "fleet", sql, 3, p, o);
}

static void node_page(struct web_app *app, const char *what, const char *query,
                      struct web_out *o)
{
    char id[40], days[8];
    const char *p[2] = { id, days };

    if (arg(query, "id", NODEID, id, sizeof(id)) < 0 || !id[0] ||
        arg(query, "days", DIGITS, days, sizeof(days)) < 0) {
        web_out_error(o, 400, "bad_request", "give the node's id");
        return;
    }
    if (!days[0] || atoi(days) > 400 || atoi(days) < 1)
        snprintf(days, sizeof(days), "365");
    if (strcmp(what, "node_history") == 0)
        rows(app->replica, what, history_sql, 2, p, o);
    else
        rows(app->replica, what, problems_sql, 1, p, o);
}

static void queue(struct web_app *app, const char *query, struct web_out *o)
{
    char state[12], kind[16];
    const char *p[2] = { state, kind };

    if (arg(query, "state", WORD, state, sizeof(state)) < 0 ||
        arg(query, "kind", WORD, kind, sizeof(kind)) < 0) {
        web_out_error(o, 400, "bad_request", "bad filter");
        return;
    }
    rows(app->primary, "queue", queue_sql, 2, p, o);
}

/* ------------------------------------------------------------ actions */

struct action {
    const char *name;
    const char *sql;            /* returns one row, one boolean column "ok" */
    const char *keys[4];        /* the JSON body's string fields, as $1.. */
};

static const struct action actions[] = {
    { "job_retry", "SELECT sikhnas_job_retry($1::bigint) AS ok", { "id" } },
    { "job_cancel", "SELECT sikhnas_job_cancel($1::bigint) AS ok", { "id" } },
    { "recipient_add",
      "INSERT INTO recipient (email, role, province, name) VALUES ($1, $2, nullif($3, ''), $4) "
      "ON CONFLICT DO NOTHING RETURNING true AS ok", { "email", "role", "province", "name" } },
    { "recipient_remove",
      "WITH d AS (DELETE FROM recipient WHERE id = $1::bigint RETURNING 1) "
      "SELECT EXISTS (SELECT 1 FROM d) AS ok", { "id" } },
    { "node_revoke",
      "WITH u AS (UPDATE node_registration SET revoked_at = now() "
      "  WHERE node_id = $1 AND revoked_at IS NULL RETURNING name, node_id, district), "
      "a AS (INSERT INTO security_audit (event, name, node_id, district, reason) "
      "  SELECT 'revoke', name, node_id, district, 'by operator ' || $2 FROM u) "
      "SELECT EXISTS (SELECT 1 FROM u) AS ok", { "node", "" } },
};

/* Whether v is a well-formed value of the body field key: checked here so
 * that a bad value is the caller's 400, never a database error. */
static int field_ok(const char *key, const char *v)
{
    size_t n = strlen(v);

    if (strcmp(key, "id") == 0)
        return n >= 1 && n <= 18 && strspn(v, DIGITS) == n;
    if (strcmp(key, "node") == 0)
        return n >= 1 && n <= 36 && strspn(v, NODEID) == n;
    if (strcmp(key, "role") == 0)
        return strcmp(v, "vet") == 0 || strcmp(v, "analyst") == 0 || strcmp(v, "operator") == 0;
    if (strcmp(key, "province") == 0)
        return n == 0 || (n == 2 && strspn(v, DIGITS) == 2);
    if (strcmp(key, "email") == 0) {
        const char *at = strchr(v, '@');
        return n >= 3 && n <= 254 && at && at > v && at[1] && !strchr(at + 1, '@') &&
               !strpbrk(v, " \t\r\n<>\",;()[]\\");
    }
    if (strcmp(key, "name") == 0)
        return n <= 100 && !strpbrk(v, "\r\n<>\"");
    return 1;
}

static void act(struct web_app *app, const struct action *a, const char *body,
                const struct web_who *who, const char *peer, struct web_out *o)
{
    cJSON *doc = cJSON_Parse(body);
    const char *p[4] = { 0 };
    char ids[4][24], detail[300];
    PGresult *res = NULL;
    PGconn *pg;
    int n = 0, ok;

    for (; n < 4 && a->keys[n]; n++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, a->keys[n]);
        if (!a->keys[n][0]) {
            p[n] = who->login;          /* who did it */
        } else if (cJSON_IsString(v) && strlen(v->valuestring) <= 254) {
            p[n] = v->valuestring;
        } else if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 9e15 &&
                   v->valuedouble == (double)(long long)v->valuedouble) {
            snprintf(ids[n], sizeof(ids[n]), "%.0f", v->valuedouble);
            p[n] = ids[n];
        } else if (!v && strcmp(a->keys[n], "province") == 0) {
            p[n] = "";
        } else if (!v && strcmp(a->keys[n], "name") == 0) {
            p[n] = "";
        } else {
            p[n] = NULL;
        }
        if (a->keys[n][0] && (!p[n] || !field_ok(a->keys[n], p[n]))) {
            char msg[80];
            snprintf(msg, sizeof(msg), "missing or bad field '%s'", a->keys[n]);
            cJSON_Delete(doc);
            web_out_error(o, 400, "bad_request", msg);
            return;
        }
    }
    pg = web_pool_get(app->primary, 10000);
    if (!pg) {
        cJSON_Delete(doc);
        web_out_error(o, 503, "unavailable", "the database is not reachable");
        return;
    }
    res = web_exec(pg, a->name, a->sql, n, p);
    if (!res) {
        web_out_error(o, 400, "refused", "the database refused it (a bad value?)");
    } else {
        ok = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        snprintf(detail, sizeof(detail), "%s %s%s", a->name, p[0] ? p[0] : "", ok ? "" : " (no)");
        (void) web_audit(pg, who->login, "ops", peer, detail);
        log_notice("web: operator %s: %s", who->login, detail);
        if (ok) {
            web_out_head(o, 200, "application/json; charset=utf-8", NULL);
            (void) web_out_put(o, "{\"ok\":true}", 11);
        } else {
            web_out_error(o, 409, "not_allowed",
                          "nothing done: no such item, or not in a state that allows it");
        }
    }
    PQclear(res);
    web_pool_put(app->primary, pg);
    cJSON_Delete(doc);
}

int web_ops(struct web_app *app, int post, const char *path, const char *query,
            const char *body, const struct web_who *who, const char *peer, struct web_out *o)
{
    if (post) {
        for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
            if (strcmp(path, actions[i].name) == 0) {
                act(app, &actions[i], body, who, peer, o);
                return 1;
            }
        return 0;
    }
    if (strcmp(path, "fleet") == 0)
        fleet(app, query, o);
    else if (strcmp(path, "node_history") == 0 || strcmp(path, "node_problems") == 0)
        node_page(app, path, query, o);
    else if (strcmp(path, "queue") == 0)
        queue(app, query, o);
    else if (strcmp(path, "queue_counts") == 0)
        rows(app->primary, path, counts_sql, 0, NULL, o);
    else if (strcmp(path, "recipients") == 0)
        rows(app->primary, path, recipients_sql, 0, NULL, o);
    else
        return 0;
    return 1;
}
