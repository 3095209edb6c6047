/* jobs_fleet.c - the fleet alert: a node has new problems (opened by
 * sikhnas_fleet_watch(), one alert per problem until it clears), told to
 * the national operators and the province's, with what to do. */
#include <errno.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "worker.h"

static const struct {
    const char *problem, *what, *todo;
} advice[] = {
    { "silent", "no contact with the hub for more than 72 hours",
      "call the district office: is the board powered, is its uplink (modem, SIM credit, "
      "LAN) working? `sikhnas-node status` on the board shows its last round" },
    { "queue", "its oldest unsent record is more than 24 hours old",
      "the board reaches the hub but its outbox does not drain: look at the board's log "
      "for refused batches and at the hub's push_refusal rows of the node" },
    { "cert", "its certificate expires within 14 days",
      "the board renews by itself from 30 days before expiry; if it cannot, register a new "
      "token (`sikhnas-hub node add`) and enrol it again" },
    { "clock", "its clock is more than 5 minutes off the hub's",
      "set the board's time (NTP, or the RTC battery); wrong clocks put wrong dates on "
      "records and can make TLS fail" },
};

int job_fleet_alert(struct job_ctx *ctx, const struct job *j)
{
    cJSON *doc = cJSON_Parse(j->payload);
    const cJSON *node = cJSON_GetObjectItemCaseSensitive(doc, "node");
    const cJSON *problems = cJSON_GetObjectItemCaseSensitive(doc, "problems"), *pr;
    struct strbuf text = { 0 }, subject = { 0 }, list = { 0 };
    PGresult *f = NULL;
    char **to = NULL;
    int nto = 0, r;

    if (!cJSON_IsString(node) || !cJSON_IsArray(problems)) {
        r = job_fail(ctx, -EINVAL, 1, "payload needs node and problems");
        goto out;
    }
    r = job_query(ctx, "SELECT name, district, coalesce(district_name, district), province, "
                       "coalesce(to_char(last_contact, 'YYYY-MM-DD HH24:MI TZ'), 'never'), "
                       "coalesce(version, '?'), coalesce(outbox_depth::text, '?'), "
                       "coalesce(round(clock_skew_s)::text, '?'), "
                       "coalesce(to_char(cert_not_after, 'YYYY-MM-DD'), '?') "
                       "FROM fleet_view WHERE node_id = $1",
                  1, (const char *const *)&node->valuestring, &f);
    if (r == 0 && PQntuples(f) != 1)
        r = job_fail(ctx, -ENOENT, 1, "node %s is not in the fleet (revoked?)",
                     node->valuestring);
    if (r == 0)
        r = job_recipients(ctx, "operator", PQgetvalue(f, 0, 3), 1, &to, &nto);
    if (r < 0)
        goto out;
#define V(c) PQgetvalue(f, 0, (c))
    r = strbuf_fmt(&text, "Node %s (%s, district %s %s) has a new problem:\n\n", V(0),
                   node->valuestring, V(1), V(2));
    cJSON_ArrayForEach(pr, problems) {
        for (size_t i = 0; r == 0 && cJSON_IsString(pr) &&
                           i < sizeof(advice) / sizeof(advice[0]); i++)
            if (!strcmp(pr->valuestring, advice[i].problem))
                r = strbuf_fmt(&text, "* %s: %s.\n  What to do: %s.\n\n", advice[i].problem,
                               advice[i].what, advice[i].todo);
        if (r == 0 && cJSON_IsString(pr))
            r = strbuf_fmt(&list, "%s%s", list.len ? ", " : "", pr->valuestring);
    }
    if (r == 0)
        r = strbuf_fmt(&text, "Last contact %s; software %s; outbox %s records; clock skew %s s; "
                              "certificate until %s.\n\nFleet view: %s/fleet/%s\n"
                              "One message per problem: the next comes when it clears and "
                              "comes back.\n",
                       V(4), V(5), V(6), V(7), V(8), ctx->cfg->base_url, node->valuestring);
    if (r == 0)
        r = strbuf_fmt(&subject, "[SIKHNAS fleet] %s (%s): %s", V(0), V(2), list.p ? list.p : "?");
#undef V
    if (r < 0) {
        r = job_fail(ctx, -ENOMEM, 0, "out of memory");
        goto out;
    }
    r = mail_send(ctx, &(struct mail){ .subject = subject.p, .key = j->key, .to = to,
                                      .nto = nto, .text = text.p });
out:
    job_recipients_free(to, nto);
    strbuf_free(&text);
    strbuf_free(&subject);
    strbuf_free(&list);
    PQclear(f);
    cJSON_Delete(doc);
    return r;
}
