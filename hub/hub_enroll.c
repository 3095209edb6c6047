/* hub_enroll.c - POST /v1/enroll (a one-time token and a CSR, no client
 * certificate) and POST /v1/renew (a CSR over the node's current mutual-TLS
 * channel). Both answer a certificate signed by the central CA that binds
 * the node id to the registration's district.
 *
 * Enrolment: rate limit per client address; parse and check the CSR; in one
 * transaction lock the token, check it (known, unused, not expired, for this
 * district, not bound to another node), then sign, spend the token, bind the
 * node id, record the certificate and the audit row, and COMMIT before the
 * answer. A refusal rolls back and records only the audit row. Signing one
 * certificate (one ECDSA signature, a few ms) runs on the loop: enrolments
 * are rare and rate-limited. */
#include "hub.h"
#include "hex.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "hub_ca.h"
#include "log.h"

#define ENROL_MAX_BODY  (16u << 10)
#define LIMIT_SLOTS     512          /* addresses remembered by the rate limiter */
#define ENROL_MAX_HEAD  3            /* statements before the certificate's, in one round trip */

struct limit_slot {
    char   addr[48];
    double tokens;
    double at;                       /* seconds, when tokens was computed */
};

struct enrol_limits {
    double            per_min;
    struct limit_slot slot[LIMIT_SLOTS];
};

struct enrol_job {
    struct hub         *h;
    const struct http_req *req;
    const char         *endpoint;
    struct db_conn     *c;
    struct hub_identity id;          /* renew: the caller's; enrol: what is bound */
    char                token_hash[65];
    char                claimed_district[5];
    char               *csr;
    size_t              csr_len;
    struct ca_issued    cert;
    struct hub_failure  fail;           /* for a ROLLBACK path */
};

int enrol_limits_new(double per_min, struct enrol_limits **ret)
{
    struct enrol_limits *l = calloc(1, sizeof(*l));

    if (!l)
        return -ENOMEM;
    l->per_min = per_min;
    *ret = l;
    return 0;
}

void enrol_limits_free(struct enrol_limits *l) { free(l); }

/* Token bucket per address: per_min attempts a minute, as a burst too. A
 * full table forgets the address seen longest ago. Returns 1 when allowed. */
static int limit_take(struct enrol_limits *l, const char *addr, double now)
{
    struct limit_slot *s = NULL, *oldest = &l->slot[0];

    for (int i = 0; i < LIMIT_SLOTS; i++) {
        if (strcmp(l->slot[i].addr, addr) == 0) {
            s = &l->slot[i];
            break;
        }
        if (l->slot[i].at < oldest->at)
            oldest = &l->slot[i];
    }
    if (!s) {
        s = oldest;
        snprintf(s->addr, sizeof(s->addr), "%s", addr);
        s->tokens = l->per_min;
        s->at = now;
    }
    s->tokens += (now - s->at) * l->per_min / 60.0;
    if (s->tokens > l->per_min)
        s->tokens = l->per_min;
    s->at = now;
    if (s->tokens < 1.0)
        return 0;
    s->tokens -= 1.0;
    return 1;
}

static void job_free(struct enrol_job *j)
{
    if (j->c)
        db_release(j->c);
    free(j->csr);
    free(j->cert.pem);
    free(j);
}

/* Hands j's connection back to the pool, if it holds one. */
static void job_release(struct enrol_job *j)
{
    if (j->c) {
        db_release(j->c);
        j->c = NULL;
    }
}

/* Answers 503 with msg and ends j; nothing was done. */
static void job_unavailable(struct enrol_job *j, const char *msg)
{
    job_release(j);
    hub_error(j->h, j->req, j->endpoint, 503, "unavailable", msg);
    job_free(j);
}

static void job_refuse(struct enrol_job *j, int status, const char *code, const char *msg)
{
    char reason[300];

    snprintf(reason, sizeof(reason), "%s: %s", code, msg);
    job_release(j);
    hub_audit(j->h, "refuse", &j->id, j->req->peer, j->endpoint, reason);
    hub_error(j->h, j->req, j->endpoint, status, code, msg);
    job_free(j);
}

/* job_refuse() for hub_rollback() */
static void answer_failure(void *job, int status, const char *code, const char *msg)
{
    job_refuse(job, status, code, msg);
}

/* Ends the open transaction without effect, then refuses. */
static void job_rollback(struct enrol_job *j, int status, const char *code, const char *msg)
{
    hub_rollback(j->c, &j->fail, status, code, msg);
}

static void answer_cert(struct enrol_job *j)
{
    struct strbuf s = { 0 };

    strbuf_fmt(&s, "{\"v\":1,\"node\":\"%s\",\"district\":\"%s\",\"serial\":\"%s\","
                 "\"not_before\":%lld,\"not_after\":%lld,\"certificate\":",
             j->id.node, j->id.district, j->cert.serial, (long long)j->cert.not_before,
             (long long)j->cert.not_after);
    strbuf_json_str(&s, j->cert.pem);
    strbuf_add(&s, ",", 1);
    hub_stamp(j->h, &s);
    strbuf_add(&s, "}", 1);
    log_notice("%s: node %s (%s, district %s): certificate %s valid until %lld", j->endpoint,
               j->id.node, j->id.name, j->id.district, j->cert.serial,
               (long long)j->cert.not_after);
    if (s.err)
        hub_error(j->h, j->req, j->endpoint, 503, "unavailable", "out of memory");
    else
        hub_reply(j->h, j->req, j->endpoint, 200, "application/json", NULL, s.p, s.len);
    free(s.p);
}

static void on_committed(struct db_conn *c, PGresult **res, int nres, int err, void *ud)
{
    struct enrol_job *j = ud;

    if (err == -ECONNRESET) {
        job_unavailable(j, "database connection lost; retry");
        return;
    }
    if (err < 0) {
        log_error("%s %s: recording the certificate failed: %s", j->endpoint, j->id.node,
                  nres > 0 ? db_error(res, nres) : "?");
        job_rollback(j, 409, "conflict", "the registry changed meanwhile; nothing recorded");
        return;
    }
    job_release(j);
    answer_cert(j);
    job_free(j);
}

/* Signs, then, in one round trip, runs head[0..nhead) (an enrolment's token
 * spend and binding inside its transaction, or a renewal's BEGIN), records
 * the certificate and its audit row, and commits. */
static void sign_and_record(struct enrol_job *j, const struct db_query *head, int nhead,
                            const char *via)
{
    char nb[24], na[24];
    const char *const cert[] = { j->cert.serial, j->id.name, j->id.node, j->id.district,
                                 nb, na, via };
    const char *const audit[] = { via, j->id.name, j->id.node, j->id.district, j->cert.serial,
                                  j->req->peer, j->endpoint };
    struct db_query q[ENROL_MAX_HEAD + 3];
    const char *why = "?";
    int n = 0;

    assert(nhead <= ENROL_MAX_HEAD);
    if (hub_ca_sign(j->h->ca, j->csr, j->csr_len, j->id.node, j->id.district,
                    j->h->cert_lifetime_s, &j->cert, &why) < 0) {
        job_rollback(j, 503, "unavailable", why);
        return;
    }
    snprintf(j->id.serial, sizeof(j->id.serial), "%s", j->cert.serial);
    snprintf(nb, sizeof(nb), "%lld", (long long)j->cert.not_before);
    snprintf(na, sizeof(na), "%lld", (long long)j->cert.not_after);
    while (n < nhead) {
        q[n] = head[n];
        n++;
    }
    q[n++] = (struct db_query){
        "INSERT INTO node_cert (serial, name, node_id, district, not_before, not_after, via) "
        "VALUES ($1, $2, $3, $4, to_timestamp($5::bigint), to_timestamp($6::bigint), $7)",
        7, cert };
    q[n++] = (struct db_query){
        "INSERT INTO security_audit (event, name, node_id, district, serial, address, "
        "endpoint, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)", 7, audit };
    q[n++] = (struct db_query){ "COMMIT", 0, NULL };
    if (db_exec_params(j->c, q, n, on_committed, j) < 0)
        job_unavailable(j, "database connection lost");
}

/* Takes the connection db_acquire() gave j: 0, or -1 once j has ended
 * with a 503 because there is none. */
static int job_take_conn(struct enrol_job *j, struct db_conn *c)
{
    if (!c) {
        job_unavailable(j, "the database is unavailable; retry later");
        return -1;
    }
    j->c = c;
    return 0;
}

/* ------------------------------------------------------------ enrol */

static void on_token(struct db_conn *c, PGresult **res, int nres, int err, void *ud)
{
    struct enrol_job *j = ud;
    PGresult *r = nres > 0 ? res[nres - 1] : NULL;
    const char *bound, *node_district, *node_name;
    char msg[200];

    if (err == -ECONNRESET) {
        job_unavailable(j, "database connection lost");
        return;
    }
    if (err < 0 || !r) {
        log_error("enroll: token look-up failed: %s", nres > 0 ? db_error(res, nres) : "?");
        job_rollback(j, 503, "unavailable", "the node registry is unavailable");
        return;
    }
    if (PQntuples(r) != 1) {
        job_rollback(j, 403, "token_invalid", "unknown enrolment token");
        return;
    }
    /* name, district, bound node id, revoked, used, expired, node's district,
     * the registration the node is bound to */
    snprintf(j->id.name, sizeof(j->id.name), "%s", PQgetvalue(r, 0, 0));
    snprintf(j->id.district, sizeof(j->id.district), "%s", PQgetvalue(r, 0, 1));
    bound = PQgetvalue(r, 0, 2);
    node_district = PQgetvalue(r, 0, 6);
    node_name = PQgetvalue(r, 0, 7);
    if (PQgetvalue(r, 0, 4)[0] == 't') {
        job_rollback(j, 403, "token_used", "this enrolment token has already been used; "
                     "ask the operator for a new one");
        return;
    }
    if (PQgetvalue(r, 0, 5)[0] == 't') {
        job_rollback(j, 403, "token_expired", "this enrolment token has expired; ask the "
                     "operator for a new one");
        return;
    }
    if (PQgetvalue(r, 0, 3)[0] == 't') {
        job_rollback(j, 403, "revoked", "this registration has been revoked");
        return;
    }
    if (strcmp(j->claimed_district, j->id.district) != 0) {
        snprintf(msg, sizeof(msg), "this token is for district %s, but this node is set up "
                 "for district %s", j->id.district, j->claimed_district);
        job_rollback(j, 403, "token_wrong_district", msg);
        return;
    }
    if ((bound[0] && strcmp(bound, j->id.node) != 0) ||
        (node_name[0] && strcmp(node_name, j->id.name) != 0)) {
        job_rollback(j, 403, "token_other_node", "this registration belongs to another "
                     "node, or this node to another registration");
        return;
    }
    if (node_district[0] && strcmp(node_district, j->id.district) != 0) {
        job_rollback(j, 403, "district_mismatch", "this node id is registered with "
                     "another district");
        return;
    }
    {
        const char *const spend[] = { j->token_hash };
        const char *const bind[] = { j->id.node, j->id.name };
        const char *const node[] = { j->id.node, j->id.district, j->id.name };
        const struct db_query head[] = {
            { "UPDATE enrol_token SET used_at = now() WHERE token_sha256 = $1", 1, spend },
            { "UPDATE node_registration SET node_id = $1 WHERE name = $2", 2, bind },
            { "INSERT INTO node (node_id, district, name) VALUES ($1, $2, $3) "
              "ON CONFLICT (node_id) DO UPDATE SET name = EXCLUDED.name", 3, node },
        };
        sign_and_record(j, head, 3, "enrol");
    }
}

static void on_enrol_conn(struct db_conn *c, void *ud)
{
    struct enrol_job *j = ud;
    const char *const p[] = { j->id.node, j->token_hash };
    const struct db_query q[] = {
        { "BEGIN", 0, NULL },
        { "SELECT t.name, r.district, coalesce(r.node_id, ''), "
          "r.revoked_at IS NOT NULL, t.used_at IS NOT NULL, t.expires_at <= now(), "
          "coalesce((SELECT district FROM node WHERE node_id = $1), ''), "
          "coalesce((SELECT name FROM node_registration WHERE node_id = $1), '') "
          "FROM enrol_token t JOIN node_registration r ON r.name = t.name "
          "WHERE t.token_sha256 = $2 FOR UPDATE OF t, r", 2, p },
    };

    if (job_take_conn(j, c) < 0)
        return;
    if (db_exec_params(c, q, 2, on_token, j) < 0)
        job_unavailable(j, "database connection lost");
}

static int is_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Reads {"csr": PEM, ...} into j; returns 0 or refuses the request. */
static int read_body(struct enrol_job *j, cJSON **ret)
{
    const struct http_req *req = j->req;
    const cJSON *csr;
    const char *why = NULL;
    cJSON *doc;
    int r;

    if (req->body_len > ENROL_MAX_BODY) {
        job_refuse(j, 413, "payload_too_large", "an enrolment request is at most 16384 bytes");
        return -EMSGSIZE;
    }
    doc = cJSON_ParseWithLength(req->body, req->body_len);
    csr = cJSON_GetObjectItemCaseSensitive(doc, "csr");
    if (!cJSON_IsString(csr)) {
        cJSON_Delete(doc);
        job_refuse(j, 400, "bad_request", "the body must be JSON with a \"csr\" (PEM)");
        return -EBADMSG;
    }
    j->csr_len = strlen(csr->valuestring);
    r = hub_ca_check_csr(csr->valuestring, j->csr_len, j->id.node, &why);
    if (r < 0) {
        cJSON_Delete(doc);
        job_refuse(j, r == -EMSGSIZE ? 413 : 400, r == -EMSGSIZE ? "csr_too_large" : "bad_csr",
                   why);
        return r;
    }
    j->csr = strdup(csr->valuestring);
    if (!j->csr) {
        cJSON_Delete(doc);
        job_unavailable(j, "out of memory");
        return -ENOMEM;
    }
    *ret = doc;
    return 0;
}

/* A job for one enroll or renew request; NULL (after answering 503) when
 * memory is short. */
static struct enrol_job *job_new(struct hub *h, const struct http_req *req, const char *endpoint)
{
    struct enrol_job *j = hub_job_new(h, req, endpoint, sizeof(*j));

    if (!j)
        return NULL;
    j->h = h;
    j->req = req;
    j->endpoint = endpoint;
    j->fail = (struct hub_failure){ .answer = answer_failure, .job = j };
    return j;
}

void hub_enroll(struct hub *h, const struct http_req *req)
{
    struct enrol_job *j = job_new(h, req, "enroll");
    const cJSON *token, *district;
    cJSON *doc = NULL;

    if (!j)
        return;
    if (!limit_take(h->limits, req->peer, (double)uv_now(h->loop) / 1000.0)) {
        job_refuse(j, 429, "rate_limited", "too many enrolment attempts from this address; "
                   "wait a minute");
        return;
    }
    if (read_body(j, &doc) < 0)
        return;
    token = cJSON_GetObjectItemCaseSensitive(doc, "token");
    district = cJSON_GetObjectItemCaseSensitive(doc, "district");
    if (!cJSON_IsString(token) || !is_hex(token->valuestring, CA_TOKEN_HEX - 1)) {
        cJSON_Delete(doc);
        job_refuse(j, 403, "token_invalid", "the enrolment token is malformed");
        return;
    }
    if (!cJSON_IsString(district) || strlen(district->valuestring) != 4 ||
        strspn(district->valuestring, "0123456789") != 4) {
        cJSON_Delete(doc);
        job_refuse(j, 400, "bad_request", "\"district\" must be the node's 4-digit district");
        return;
    }
    memcpy(j->claimed_district, district->valuestring, 5);
    for (char *p = token->valuestring; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    sha256_hex(token->valuestring, strlen(token->valuestring), j->token_hash);
    cJSON_Delete(doc);
    db_acquire(h->db, on_enrol_conn, j);
}

/* ------------------------------------------------------------ renew */

static void on_renew_conn(struct db_conn *c, void *ud)
{
    static const struct db_query begin = { "BEGIN", 0, NULL };
    struct enrol_job *j = ud;

    if (job_take_conn(j, c) == 0)
        sign_and_record(j, &begin, 1, "renew");
}

void hub_renew(struct hub *h, const struct http_req *req, const struct hub_identity *id)
{
    struct enrol_job *j = job_new(h, req, "renew");
    cJSON *doc = NULL;

    if (!j)
        return;
    j->id = *id;
    if (read_body(j, &doc) < 0)
        return;
    cJSON_Delete(doc);
    /* read_body() put the CSR's CN in j->id.node: it must be the caller */
    if (strcmp(j->id.node, id->node) != 0) {
        j->id = *id;
        job_refuse(j, 403, "csr_other_node", "the CSR names another node than the "
                   "client certificate");
        return;
    }
    db_acquire(h->db, on_renew_conn, j);
}
