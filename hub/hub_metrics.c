/* hub_metrics.c - Prometheus text exposition of the hub's counters. */
#include "hub_metrics.h"
#include "hub_health.h"
#include "strbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prometheus's default buckets, and 2 s: issue 15's goal for admission to
 * answer (p99 within 2 s) */
static const double bucket_le[METRICS_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 5, 10, 30 };

static const char *const endpoints[] = { "push", "pull", "enroll", "renew", "health", "metrics",
                                         "node-health", "other" };
#define NEP 8
static const int status_codes[] = { 200, 400, 401, 403, 404, 405, 408, 409, 411, 413, 415, 429,
                                    431, 500, 503 };
#define NSC ((int)(sizeof(status_codes) / sizeof(status_codes[0])))

struct node_gauge {
    char   node[37];
    char   district[5];
    double last;
};

struct hub_metrics {
    uint64_t requests[NEP][NSC + 1];
    uint64_t batches;
    uint64_t rows_applied, rows_duplicate, rows_refused, conflicts;
    uint64_t bytes_in_wire, bytes_in_plain, bytes_out_wire, bytes_out_plain;
    uint64_t pull_rows;
    uint64_t hist[METRICS_BUCKETS + 1];
    double   hist_sum;
    uint64_t by_enc[8];     /* identity, gzip, zstd, zstd-dict-1, columnar-1, zstd-dict-2,
                             * columnar-2, zstd-dict-3 */
    uint64_t adm_hist[METRICS_BUCKETS + 1];    /* admission to answer */
    double   adm_sum, adm_wait_sum;
    unsigned adm_active, adm_queued;
    uint64_t adm_refused;
    double   adm_rate;
    struct node_gauge *nodes;     /* open addressing on the node id */
    size_t   nnodes;
};

int metrics_new(struct hub_metrics **ret)
{
    struct hub_metrics *m = calloc(1, sizeof(*m));

    if (!m)
        return -ENOMEM;
    m->nodes = calloc(METRICS_MAX_NODES * 2, sizeof(*m->nodes));
    if (!m->nodes) {
        free(m);
        return -ENOMEM;
    }
    *ret = m;
    return 0;
}

void metrics_free(struct hub_metrics *m)
{
    if (!m)
        return;
    free(m->nodes);
    free(m);
}

void metrics_request(struct hub_metrics *m, const char *endpoint, int status)
{
    int e = NEP - 1, s = NSC;

    for (int i = 0; i < NEP; i++)
        if (strcmp(endpoints[i], endpoint) == 0)
            e = i;
    for (int i = 0; i < NSC; i++)
        if (status_codes[i] == status)
            s = i;
    m->requests[e][s]++;
}

void metrics_batch(struct hub_metrics *m, uint64_t rows_applied, uint64_t rows_duplicate,
                   uint64_t rows_refused, uint64_t conflicts, double seconds)
{
    int b = METRICS_BUCKETS;

    m->batches++;
    m->rows_applied += rows_applied;
    m->rows_duplicate += rows_duplicate;
    m->rows_refused += rows_refused;
    m->conflicts += conflicts;
    if (seconds < 0)
        return;                 /* no answer went out: no latency */
    for (int i = 0; i < METRICS_BUCKETS; i++)
        if (seconds <= bucket_le[i]) {
            b = i;
            break;
        }
    m->hist[b]++;
    m->hist_sum += seconds;
}

static int bucket_of(double seconds)
{
    for (int i = 0; i < METRICS_BUCKETS; i++)
        if (seconds <= bucket_le[i])
            return i;
    return METRICS_BUCKETS;
}

void metrics_admitted(struct hub_metrics *m, double wait_s, double service_s)
{
    m->adm_hist[bucket_of(service_s)]++;
    m->adm_sum += service_s;
    m->adm_wait_sum += wait_s;
}

void metrics_push_encoding(struct hub_metrics *m, int which)
{
    if (which >= 0 && which < 8)
        m->by_enc[which]++;
}

void metrics_admission(struct hub_metrics *m, unsigned active, unsigned queued,
                       uint64_t refused, double rate)
{
    m->adm_active = active;
    m->adm_queued = queued;
    m->adm_refused = refused;
    m->adm_rate = rate;
}

/* The admission figures, appended to o. */
static void render_admission(const struct hub_metrics *m, struct strbuf *o)
{
    uint64_t cum = 0;

    strbuf_fmt(o, "# HELP sikhnas_hub_admitted_seconds Push batch latency, admission to ack.\n"
               "# TYPE sikhnas_hub_admitted_seconds histogram\n");
    for (int i = 0; i <= METRICS_BUCKETS; i++) {
        cum += m->adm_hist[i];
        if (i < METRICS_BUCKETS)
            strbuf_fmt(o, "sikhnas_hub_admitted_seconds_bucket{le=\"%g\"} %llu\n",
                       bucket_le[i], (unsigned long long)cum);
    }
    strbuf_fmt(o, "sikhnas_hub_admitted_seconds_bucket{le=\"+Inf\"} %llu\n"
               "sikhnas_hub_admitted_seconds_sum %.6f\nsikhnas_hub_admitted_seconds_count %llu\n",
               (unsigned long long)cum, m->adm_sum, (unsigned long long)cum);
    strbuf_fmt(o, "# HELP sikhnas_hub_admission_wait_seconds_total Time committed batches "
               "waited for admission.\n# TYPE sikhnas_hub_admission_wait_seconds_total counter\n"
               "sikhnas_hub_admission_wait_seconds_total %.6f\n", m->adm_wait_sum);
    strbuf_fmt(o, "# HELP sikhnas_hub_push_encoding_total Push batches decoded, by encoding "
               "(zstd-dict-1, zstd-dict-2, zstd-dict-3: with the batch dictionary of JSON, of "
               "columnar, of columnar-2 batches; columnar-1, columnar-2: columnar batches, "
               "counted by their compression too).\n"
               "# TYPE sikhnas_hub_push_encoding_total counter\n");
    for (int i = 0; i < 8; i++)
        strbuf_fmt(o, "sikhnas_hub_push_encoding_total{encoding=\"%s\"} %llu\n",
                   (const char *[]){ "identity", "gzip", "zstd", "zstd-dict-1", "columnar-1",
                                     "zstd-dict-2", "columnar-2", "zstd-dict-3" }[i],
                   (unsigned long long)m->by_enc[i]);
    strbuf_fmt(o, "# HELP sikhnas_hub_admission Push batches admitted and waiting now.\n"
               "# TYPE sikhnas_hub_admission gauge\n"
               "sikhnas_hub_admission{state=\"admitted\"} %u\n"
               "sikhnas_hub_admission{state=\"waiting\"} %u\n", m->adm_active, m->adm_queued);
    strbuf_fmt(o, "# HELP sikhnas_hub_admission_refused_total Push batches answered 429 busy.\n"
               "# TYPE sikhnas_hub_admission_refused_total counter\n"
               "sikhnas_hub_admission_refused_total %llu\n", (unsigned long long)m->adm_refused);
    strbuf_fmt(o, "# HELP sikhnas_hub_admission_rate Batches a second the hub finishes under "
               "load (its Retry-After schedule).\n# TYPE sikhnas_hub_admission_rate gauge\n"
               "sikhnas_hub_admission_rate %.2f\n", m->adm_rate);
}

void metrics_bytes(struct hub_metrics *m, const char *direction, uint64_t wire, uint64_t plain)
{
    if (strcmp(direction, "in") == 0) {
        m->bytes_in_wire += wire;
        m->bytes_in_plain += plain;
    } else {
        m->bytes_out_wire += wire;
        m->bytes_out_plain += plain;
    }
}

void metrics_pull(struct hub_metrics *m, uint64_t rows)
{
    m->pull_rows += rows;
}

void metrics_contact(struct hub_metrics *m, const char *node, const char *district,
                     double unix_time)
{
    size_t cap = METRICS_MAX_NODES * 2, h = 5381;

    for (const char *s = node; *s; s++)
        h = h * 33 + (unsigned char)*s;
    h &= cap - 1;
    while (m->nodes[h].node[0] && strcmp(m->nodes[h].node, node) != 0)
        h = (h + 1) & (cap - 1);
    if (!m->nodes[h].node[0]) {
        if (m->nnodes >= METRICS_MAX_NODES)
            return;
        snprintf(m->nodes[h].node, sizeof(m->nodes[h].node), "%s", node);
        m->nnodes++;
    }
    snprintf(m->nodes[h].district, sizeof(m->nodes[h].district), "%s", district);
    m->nodes[h].last = unix_time;
}

int metrics_render(struct hub_metrics *m, int db_up, int conns, int busy,
                   char **ret, size_t *ret_len)
{
    struct strbuf o = { 0 };
    uint64_t cum = 0;

    strbuf_reserve(&o, 65536);
    strbuf_fmt(&o, "# HELP sikhnas_hub_requests_total HTTP requests answered, by endpoint and status.\n"
             "# TYPE sikhnas_hub_requests_total counter\n");
    for (int e = 0; e < NEP; e++)
        for (int s = 0; s <= NSC; s++)
            if (m->requests[e][s])
                strbuf_fmt(&o, "sikhnas_hub_requests_total{endpoint=\"%s\",status=\"%s%d\"} %llu\n",
                     endpoints[e], s == NSC ? "other" : "", s == NSC ? 0 : status_codes[s],
                     (unsigned long long)m->requests[e][s]);
    strbuf_fmt(&o, "# HELP sikhnas_hub_refusals_total HTTP requests refused (4xx).\n"
             "# TYPE sikhnas_hub_refusals_total counter\n");
    {
        uint64_t ref = 0;
        for (int e = 0; e < NEP; e++)
            for (int s = 0; s < NSC; s++)
                if (status_codes[s] >= 400 && status_codes[s] < 500)
                    ref += m->requests[e][s];
        strbuf_fmt(&o, "sikhnas_hub_refusals_total %llu\n", (unsigned long long)ref);
    }
    strbuf_fmt(&o, "# HELP sikhnas_hub_batches_total Push batches committed (or answered).\n"
             "# TYPE sikhnas_hub_batches_total counter\nsikhnas_hub_batches_total %llu\n",
         (unsigned long long)m->batches);
    strbuf_fmt(&o, "# HELP sikhnas_hub_rows_total Pushed rows by outcome, as committed.\n"
             "# TYPE sikhnas_hub_rows_total counter\n"
             "sikhnas_hub_rows_total{outcome=\"applied\"} %llu\n"
             "sikhnas_hub_rows_total{outcome=\"duplicate\"} %llu\n"
             "sikhnas_hub_rows_total{outcome=\"refused\"} %llu\n",
         (unsigned long long)m->rows_applied, (unsigned long long)m->rows_duplicate,
         (unsigned long long)m->rows_refused);
    strbuf_fmt(&o, "# HELP sikhnas_hub_conflicts_total Rows that met a version by another writer.\n"
             "# TYPE sikhnas_hub_conflicts_total counter\nsikhnas_hub_conflicts_total %llu\n",
         (unsigned long long)m->conflicts);
    strbuf_fmt(&o, "# HELP sikhnas_hub_bytes_total Body bytes, on the wire and uncompressed.\n"
             "# TYPE sikhnas_hub_bytes_total counter\n"
             "sikhnas_hub_bytes_total{direction=\"in\",form=\"wire\"} %llu\n"
             "sikhnas_hub_bytes_total{direction=\"in\",form=\"plain\"} %llu\n"
             "sikhnas_hub_bytes_total{direction=\"out\",form=\"wire\"} %llu\n"
             "sikhnas_hub_bytes_total{direction=\"out\",form=\"plain\"} %llu\n",
         (unsigned long long)m->bytes_in_wire, (unsigned long long)m->bytes_in_plain,
         (unsigned long long)m->bytes_out_wire, (unsigned long long)m->bytes_out_plain);
    strbuf_fmt(&o, "# HELP sikhnas_hub_pull_rows_total Rows sent down.\n"
             "# TYPE sikhnas_hub_pull_rows_total counter\nsikhnas_hub_pull_rows_total %llu\n",
         (unsigned long long)m->pull_rows);
    strbuf_fmt(&o, "# HELP sikhnas_hub_batch_seconds Push batch latency, request complete to ack.\n"
             "# TYPE sikhnas_hub_batch_seconds histogram\n");
    for (int i = 0; i < METRICS_BUCKETS; i++) {
        cum += m->hist[i];
        strbuf_fmt(&o, "sikhnas_hub_batch_seconds_bucket{le=\"%g\"} %llu\n", bucket_le[i],
             (unsigned long long)cum);
    }
    cum += m->hist[METRICS_BUCKETS];
    strbuf_fmt(&o, "sikhnas_hub_batch_seconds_bucket{le=\"+Inf\"} %llu\n"
             "sikhnas_hub_batch_seconds_sum %.6f\nsikhnas_hub_batch_seconds_count %llu\n",
         (unsigned long long)cum, m->hist_sum, (unsigned long long)cum);
    render_admission(m, &o);
    strbuf_fmt(&o, "# HELP sikhnas_hub_db_up Database connections ready.\n"
             "# TYPE sikhnas_hub_db_up gauge\nsikhnas_hub_db_up %d\n", db_up);
    strbuf_fmt(&o, "# HELP sikhnas_hub_connections Open client connections.\n"
             "# TYPE sikhnas_hub_connections gauge\nsikhnas_hub_connections %d\n", conns);
    strbuf_fmt(&o, "# HELP sikhnas_hub_requests_in_flight Requests being handled.\n"
             "# TYPE sikhnas_hub_requests_in_flight gauge\nsikhnas_hub_requests_in_flight %d\n",
         busy);
    strbuf_fmt(&o, "# HELP sikhnas_hub_node_last_contact_seconds Unix time of each node's last "
             "request.\n# TYPE sikhnas_hub_node_last_contact_seconds gauge\n");
    for (size_t i = 0; i < METRICS_MAX_NODES * 2; i++)
        if (m->nodes[i].node[0])
            strbuf_fmt(&o, "sikhnas_hub_node_last_contact_seconds{node=\"%s\",district=\"%s\"} %.3f\n",
                 m->nodes[i].node, m->nodes[i].district, m->nodes[i].last);
    health_metrics_render(&o);      /* hub_health.c: the nodes' health blocks */
    if (o.err) {
        free(o.p);
        return -ENOMEM;
    }
    *ret = o.p;
    *ret_len = o.len;
    return 0;
}
