/* hub_health.c - the node health block: checked here (every field typed
 * and bounded, unknown keys ignored so that newer nodes can add some),
 * stored by sikhnas_node_health_store() in one statement. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "hub.h"
#include "hub_health.h"
#include "log.h"

struct health_job {
    struct hub *h;
    const struct http_req *req;
    struct hub_identity id;
    struct strbuf block;
};

static const char *const int_keys[] = { "outbox_depth", "outbox_oldest_s", "rows_rejected",
                                         "bytes_up", "bytes_down", "disk_free", "disk_total" };
static const char *const time_keys[] = { "clock", "cert_not_after", "last_sms_in",
                                          "last_sms_out" };

/* ISO-8601 UTC, "YYYY-MM-DDTHH:MM:SS[.fff]Z", from 2000 to 2200. */
static int check_time(const char *s)
{
    struct tm tm = { 0 };
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);

    struct tm back;
    time_t t;

    if (!end || tm.tm_year < 100 || tm.tm_year > 300)
        return -EINVAL;
    /* a date that does not exist (31 February) would fail in PostgreSQL */
    back = tm;
    t = timegm(&back);
    if (!gmtime_r(&t, &back) || back.tm_mday != tm.tm_mday || back.tm_mon != tm.tm_mon ||
        back.tm_hour != tm.tm_hour || back.tm_sec != tm.tm_sec)
        return -EINVAL;
    if (*end == '.')
        for (end++; *end >= '0' && *end <= '9' && end - s < 30; end++)
            ;
    return strcmp(end, "Z") == 0 ? 0 : -EINVAL;
}

static int check_version(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 32)
        return -EINVAL;
    for (; *s; s++)
        if (!(*s >= '0' && *s <= '9') && !(*s >= 'a' && *s <= 'z') &&
            !(*s >= 'A' && *s <= 'Z') && !strchr(".-+~_", *s))
            return -EINVAL;
    return 0;
}

int health_parse(const char *body, size_t len, struct strbuf *out, const char **why)
{
    cJSON *doc = len <= HEALTH_BODY_MAX ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "v"), *x;
    int r = -EINVAL;

    *why = "the body is not a JSON object";
    if (!cJSON_IsObject(doc))
        goto out;
    *why = "v must be an integer from 1";
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 1000 ||
        v->valuedouble != floor(v->valuedouble))
        goto out;
    strbuf_fmt(out, "{\"v\":%d", v->valueint > HEALTH_VERSION ? HEALTH_VERSION : v->valueint);
    x = cJSON_GetObjectItemCaseSensitive(doc, "version");
    *why = "version must be a short version string";
    if (x && !cJSON_IsNull(x) && (!cJSON_IsString(x) || check_version(x->valuestring) < 0))
        goto out;
    if (cJSON_IsString(x)) {
        strbuf_str(out, ",\"version\":");
        strbuf_json_str(out, x->valuestring);
    }
    for (size_t i = 0; i < sizeof(int_keys) / sizeof(int_keys[0]); i++) {
        x = cJSON_GetObjectItemCaseSensitive(doc, int_keys[i]);
        *why = "counters must be integers from 0 to 2^53";
        if (!x || cJSON_IsNull(x))
            continue;
        if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble > 9007199254740992.0 ||
            x->valuedouble != floor(x->valuedouble))
            goto out;
        strbuf_fmt(out, ",\"%s\":%.0f", int_keys[i], x->valuedouble);
    }
    for (size_t i = 0; i < sizeof(time_keys) / sizeof(time_keys[0]); i++) {
        x = cJSON_GetObjectItemCaseSensitive(doc, time_keys[i]);
        *why = "times must be ISO-8601 UTC (YYYY-MM-DDTHH:MM:SSZ)";
        if (!x || cJSON_IsNull(x))
            continue;
        if (!cJSON_IsString(x) || check_time(x->valuestring) < 0)
            goto out;
        strbuf_fmt(out, ",\"%s\":", time_keys[i]);
        strbuf_json_str(out, x->valuestring);
    }
    strbuf_str(out, "}");
    *why = "out of memory";
    r = out->err ? out->err : 0;
out:
    cJSON_Delete(doc);
    return r;
}

/* ------------------------------------------------------------ metrics */

struct node_health_gauge {
    char   node[37], district[5];
    double outbox_depth, outbox_oldest_s, clock_skew_s, disk_free_ratio, cert_days;
    double last_sms_in, rows_rejected;
};
static struct node_health_gauge *gauges;
static size_t ngauges;

static double json_num(const cJSON *doc, const char *k, double dflt)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(doc, k);

    return cJSON_IsNumber(x) ? x->valuedouble : dflt;
}

static double json_time(const cJSON *doc, const char *k)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(doc, k);
    struct tm tm = { 0 };

    if (!cJSON_IsString(x) || !strptime(x->valuestring, "%Y-%m-%dT%H:%M:%S", &tm))
        return NAN;
    return (double)timegm(&tm);
}

static void gauge_update(const struct hub_identity *id, const char *block)
{
    cJSON *doc = cJSON_Parse(block);
    struct node_health_gauge *g = NULL;
    double now = (double)time(NULL), total, t;

    for (size_t i = 0; i < ngauges && !g; i++)
        if (strcmp(gauges[i].node, id->node) == 0)
            g = &gauges[i];
    if (!g && ngauges < METRICS_MAX_NODES) {
        if (!gauges)
            gauges = calloc(METRICS_MAX_NODES, sizeof(*gauges));
        if (gauges)
            g = &gauges[ngauges++];
    }
    if (g && doc) {
        snprintf(g->node, sizeof(g->node), "%s", id->node);
        snprintf(g->district, sizeof(g->district), "%s", id->district);
        g->outbox_depth = json_num(doc, "outbox_depth", NAN);
        g->outbox_oldest_s = json_num(doc, "outbox_oldest_s", NAN);
        g->rows_rejected = json_num(doc, "rows_rejected", NAN);
        total = json_num(doc, "disk_total", NAN);
        g->disk_free_ratio = total > 0 ? json_num(doc, "disk_free", NAN) / total : NAN;
        t = json_time(doc, "clock");
        g->clock_skew_s = t - now;
        g->cert_days = (json_time(doc, "cert_not_after") - now) / 86400.0;
        g->last_sms_in = json_time(doc, "last_sms_in");
    }
    cJSON_Delete(doc);
}

void health_metrics_render(struct strbuf *o)
{
    static const struct {
        const char *name, *help;
        size_t off;
    } m[] = {
        { "outbox_depth", "Records in the node's outbox (its last health block).",
          offsetof(struct node_health_gauge, outbox_depth) },
        { "outbox_oldest_seconds", "Age of the node's oldest unsent record.",
          offsetof(struct node_health_gauge, outbox_oldest_s) },
        { "rows_rejected", "Outbox rows the hub refused, kept on the node.",
          offsetof(struct node_health_gauge, rows_rejected) },
        { "clock_skew_seconds", "Node clock minus the hub's, when the block arrived.",
          offsetof(struct node_health_gauge, clock_skew_s) },
        { "disk_free_ratio", "Free space on the node's data disk, 0 to 1.",
          offsetof(struct node_health_gauge, disk_free_ratio) },
        { "cert_days_left", "Days until the node's certificate expires (as it reports).",
          offsetof(struct node_health_gauge, cert_days) },
        { "last_sms_in_seconds", "Unix time of the last SMS the node received.",
          offsetof(struct node_health_gauge, last_sms_in) },
    };

    for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
        strbuf_fmt(o, "# HELP sikhnas_node_%s %s\n# TYPE sikhnas_node_%s gauge\n", m[k].name,
                   m[k].help, m[k].name);
        for (size_t i = 0; i < ngauges; i++) {
            double v = *(const double *)((const char *)&gauges[i] + m[k].off);
            if (!isnan(v))
                strbuf_fmt(o, "sikhnas_node_%s{node=\"%s\",district=\"%s\"} %.3f\n", m[k].name,
                           gauges[i].node, gauges[i].district, v);
        }
    }
    strbuf_fmt(o, "# HELP sikhnas_node_health_nodes Nodes whose health block this hub holds.\n"
                  "# TYPE sikhnas_node_health_nodes gauge\nsikhnas_node_health_nodes %zu\n",
               ngauges);
}

/* ------------------------------------------------------------ request */

static void job_free(struct health_job *j)
{
    strbuf_free(&j->block);
    free(j);
}

static void on_stored(struct db_conn *c, PGresult **res, int nres, int err, void *ud)
{
    struct health_job *j = ud;
    struct strbuf s = { 0 };

    db_release(c);
    if (err < 0) {
        log_error("node-health %s: %s", j->id.node, db_error(res, nres));
        hub_error(j->h, j->req, "node-health", 503, "unavailable", "the database is unavailable");
        job_free(j);
        return;
    }
    gauge_update(&j->id, j->block.p);
    strbuf_fmt(&s, "{\"v\":1,\"health_v\":%d,", HEALTH_VERSION);
    hub_stamp(j->h, &s);
    strbuf_str(&s, "}");
    hub_reply(j->h, j->req, "node-health", 200, "application/json", NULL, s.p, s.len);
    strbuf_free(&s);
    job_free(j);
}

static void on_conn(struct db_conn *c, void *ud)
{
    struct health_job *j = ud;
    const char *p[3] = { j->id.node, j->id.district, j->block.p };
    struct db_query q = { "SELECT sikhnas_node_health_store($1, $2, $3::jsonb)", 3, p };

    if (!c) {
        hub_error(j->h, j->req, "node-health", 503, "unavailable",
                  "the database is unavailable; retry later");
        job_free(j);
        return;
    }
    if (db_exec_params(c, &q, 1, on_stored, j) < 0) {
        db_release(c);
        hub_error(j->h, j->req, "node-health", 503, "unavailable", "database connection lost");
        job_free(j);
    }
}

void hub_node_health(struct hub *h, const struct http_req *req, const struct hub_identity *id)
{
    struct health_job *j;
    const char *why = NULL;

    if (req->body_len > HEALTH_BODY_MAX) {
        hub_error(h, req, "node-health", 413, "payload_too_large", "a health block is 4 KiB at most");
        return;
    }
    j = hub_job_new(h, req, "node-health", sizeof(*j));
    if (!j)
        return;
    j->h = h;
    j->req = req;
    j->id = *id;
    if (health_parse(req->body, req->body_len, &j->block, &why) < 0) {
        hub_error(h, req, "node-health", 400, "bad_health", why);
        job_free(j);
        return;
    }
    db_acquire(h->db, on_conn, j);
}
