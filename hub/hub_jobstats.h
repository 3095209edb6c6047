/* hub_jobstats.h - the central job queue's gauges for /metrics
 * (hub_jobstats.c). Loop thread only. */
#ifndef SIKHNAS_HUB_JOBSTATS_H
#define SIKHNAS_HUB_JOBSTATS_H

#include <stdint.h>

struct hub;
struct hub_jobstats;
struct strbuf;

/* Reads the job queue now and every every_s seconds after (0: never; then
 * h->jobstats stays NULL). Sets h->jobstats. Returns 0 or -ENOMEM. */
int  jobstats_start(struct hub *h, unsigned every_s);
/* Appends the gauges of the last reading (nothing when j is NULL). */
void jobstats_render(const struct hub_jobstats *j, uint64_t now_ms, struct strbuf *o);
/* Ends the readings (the hub is stopping); jobstats_free() after the loop. */
void jobstats_stop(struct hub *h);
void jobstats_free(struct hub_jobstats *j);

#endif
