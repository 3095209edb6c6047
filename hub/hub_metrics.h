/* hub_metrics.h - counters the hub serves at GET /metrics in the Prometheus
 * text format. Loop thread only. */
#ifndef SIKHNAS_HUB_METRICS_H
#define SIKHNAS_HUB_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_BUCKETS 13
#define METRICS_MAX_NODES 16384   /* per-node gauges kept; more are counted only */

struct hub_metrics;

int  metrics_new(struct hub_metrics **ret);
void metrics_free(struct hub_metrics *m);

void metrics_request(struct hub_metrics *m, const char *endpoint, int status);
/* One committed push batch, counted once: when it is answered, or when the
 * ledger shows that a batch whose answer was lost had committed (seconds
 * < 0: no latency to record). */
void metrics_batch(struct hub_metrics *m, uint64_t rows_applied, uint64_t rows_duplicate,
                   uint64_t rows_refused, uint64_t conflicts, double seconds);
void metrics_bytes(struct hub_metrics *m, const char *direction, uint64_t wire, uint64_t plain);
void metrics_pull(struct hub_metrics *m, uint64_t rows);
void metrics_contact(struct hub_metrics *m, const char *node, const char *district,
                     double unix_time);

/* A committed batch's time waiting for admission and from admission to its
 * answer (hub_admit.h), seconds. */
void metrics_admitted(struct hub_metrics *m, double wait_s, double service_s);
/* A push batch that decoded, by how it came: 0 identity, 1 gzip, 2 zstd,
 * 3 zstd with the batch dictionary, 5 with the columnar one; and 4 for a
 * columnar batch (besides). */
void metrics_push_encoding(struct hub_metrics *m, int which);
/* The admission gauges, set before metrics_render(): batches admitted and
 * waiting now, refused (429) in all, the measured batches a second. */
void metrics_admission(struct hub_metrics *m, unsigned active, unsigned queued,
                       uint64_t refused, double rate);

/* Renders everything; *ret is malloc'd. db_up and conns are gauges. */
int metrics_render(struct hub_metrics *m, int db_up, int conns, int busy,
                   char **ret, size_t *ret_len);

#endif
