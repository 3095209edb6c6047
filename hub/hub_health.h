/* hub_health.h - POST /v1/node-health: the health block a node sends after
 * each sync round (docs/protocol.md, "Node health"): what only the node
 * knows (software version, outbox, rejected rows, clock, certificate,
 * bytes, SMS, disk). Stored in node_health and node_health_day
 * (schema/central/021_fleet.sql) and kept for the fleet metrics. The block
 * is separate from the push, so a node without it (older) syncs as before
 * and a node with it talks to an older hub (404, ignored by the node). */
#ifndef SIKHNAS_HUB_HEALTH_H
#define SIKHNAS_HUB_HEALTH_H

#include "http_server.h"
#include "strbuf.h"

struct hub;
struct hub_identity;

#define HEALTH_BODY_MAX 4096    /* bytes: a block is about 400 */
#define HEALTH_VERSION  1       /* the newest block version this hub knows */

/* Handles an identified POST /v1/node-health. */
void hub_node_health(struct hub *h, const struct http_req *req, const struct hub_identity *id);

/* Checks a health block (JSON text) and writes the normalized block (only
 * the known keys, checked) into out. Returns 0, or -EINVAL with *why set. */
int health_parse(const char *body, size_t len, struct strbuf *out, const char **why);

/* The fleet gauges of the blocks this hub received (loop thread only):
 * per node, bounded by METRICS_MAX_NODES; appended to the /metrics text. */
void health_metrics_render(struct strbuf *o);

#endif
