/* web_ops.h - the operators' pages of sikhnas-web (issue 12): the fleet
 * of district nodes, a node's history, the job queue of sikhnas-worker and
 * its recipients, with the actions retry, cancel, revoke and the recipient
 * list's changes. Under /api/v1/ops/: the operator role, and a client
 * certificate from the operators' CA when one is configured (web_http.c);
 * every action needs the CSRF token and is written to analyst.audit. */
#ifndef SIKHNAS_WEB_OPS_H
#define SIKHNAS_WEB_OPS_H

#include "webapp.h"

/* On a worker: answers the request for path (after "/api/v1/ops/") on o
 * and returns 1, or returns 0 when path is not one of these pages. post:
 * the request is a POST (an action; body is its JSON). */
int web_ops(struct web_app *app, int post, const char *path, const char *query,
            const char *body, const struct web_who *who, const char *peer, struct web_out *o);

#endif
