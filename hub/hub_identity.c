/* hub_identity.c - request identity from the client certificate (see
 * hub_identity.h), and the security audit. */
#include "hub.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mbedtls/oid.h>

#include "hub_audit.h"
#include "hub_ca.h"
#include "log.h"
#include "uuid7.h"

struct id_job {
    struct hub         *h;
    const struct http_req *req;
    const char         *endpoint;
    hub_identity_cb     next;
    struct hub_identity id;
};

/* An audit row waiting for a connection: its values, copied (NULL: SQL NULL). */
#define AUDIT_NVALS 8
struct audit_job {
    char *v[AUDIT_NVALS];  /* event, name, node_id, district, serial, address, endpoint,
                            * reason */
};

static void audit_job_free(struct audit_job *j)
{
    for (int i = 0; i < AUDIT_NVALS; i++)
        free(j->v[i]);
    free(j);
}

static void audit_done(struct db_conn *c, PGresult **res, int nres, int err, void *ud)
{
    if (err < 0)
        log_warning("audit: an event was not recorded: %s",
                    nres > 0 ? PQresultErrorMessage(res[nres - 1]) : "connection lost");
    db_release(c);
    audit_job_free(ud);
}

static void audit_conn(struct db_conn *c, void *ud)
{
    struct audit_job *j = ud;
    const struct db_query q = {
        "INSERT INTO security_audit (event, name, node_id, district, serial, address, "
        "endpoint, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        AUDIT_NVALS, (const char *const *)j->v };

    if (!c || db_exec_params(c, &q, 1, audit_done, j) < 0) {
        log_warning("audit: an event was not recorded: the database is unavailable");
        if (c)
            db_release(c);
        audit_job_free(j);
    }
}

void hub_audit(struct hub *h, const char *event, const struct hub_identity *id,
               const char *address, const char *endpoint, const char *reason)
{
    const char *v[AUDIT_NVALS] = {
        event, id && id->name[0] ? id->name : NULL, id && id->node[0] ? id->node : NULL,
        id && id->district[0] ? id->district : NULL, id && id->serial[0] ? id->serial : NULL,
        address, endpoint, reason };
    struct audit_job *j = calloc(1, sizeof(*j));

    if (!j)
        return;
    for (int i = 0; i < AUDIT_NVALS; i++) {
        if (v[i] && !(j->v[i] = strdup(v[i]))) {
            audit_job_free(j);
            return;
        }
    }
    db_acquire(h->db, audit_conn, j);
}

void hub_audit_limited(struct hub *h, const struct hub_identity *id, const char *address,
                       const char *endpoint, const char *code, const char *message)
{
    char key[AUDIT_KEY_MAX], reason[400];
    uint64_t same = 0, others = 0;
    int n;

    snprintf(key, sizeof(key), "%s|%s|%s", code, id && id->node[0] ? id->node : "-",
             address ? address : "-");
    if (!audit_limit(&h->audit, key, uv_now(h->loop), &same, &others))
        return;
    n = snprintf(reason, sizeof(reason), "%s: %s", code, message);
    if ((same || others) && n > 0 && (size_t)n < sizeof(reason))
        snprintf(reason + n, sizeof(reason) - (size_t)n, " (and %llu more from this node and "
                 "address, %llu from others, since the last row: not recorded one by one)",
                 (unsigned long long)same, (unsigned long long)others);
    hub_audit(h, "refuse", id, address, endpoint, reason);
}

/* Answers a refusal and records it. */
static void refuse(struct hub *h, const struct http_req *req, const char *endpoint,
                   const struct hub_identity *id, int status, const char *code,
                   const char *message)
{
    char reason[300];

    snprintf(reason, sizeof(reason), "%s: %s", code, message);
    hub_audit(h, "refuse", id, req->peer, endpoint, reason);
    hub_error(h, req, endpoint, status, code, message);
}

static long long x509_unix(const mbedtls_x509_time *t)
{
    struct tm tm = { .tm_year = t->year - 1900, .tm_mon = t->mon - 1, .tm_mday = t->day,
                     .tm_hour = t->hour, .tm_min = t->min, .tm_sec = t->sec };

    return (long long)timegm(&tm);
}

static int district_valid(const char *d)
{
    if (strlen(d) != 4)
        return 0;
    for (int i = 0; i < 4; i++)
        if (!isdigit((unsigned char)d[i]))
            return 0;
    return 1;
}

static void on_registry(struct db_conn *c, PGresult **res, int nres, int err, void *ud)
{
    struct id_job *j = ud;
    PGresult *r = nres > 0 ? res[nres - 1] : NULL;
    char msg[200];

    if (err < 0 || !r) {
        db_release(c);
        hub_error(j->h, j->req, j->endpoint, 503, "unavailable",
                  "the node registry is unavailable; retry later");
        free(j);
        return;
    }
    if (PQntuples(r) != 1) {
        db_release(c);
        refuse(j->h, j->req, j->endpoint, &j->id, 403, "certificate_unknown",
               "this certificate is not in the hub's registry; enrol again");
        free(j);
        return;
    }
    /* name, node_id, district, cert revoked, registration revoked, registration district */
    snprintf(j->id.name, sizeof(j->id.name), "%s", PQgetvalue(r, 0, 0));
    if (PQgetvalue(r, 0, 3)[0] == 't' || PQgetvalue(r, 0, 4)[0] == 't') {
        db_release(c);
        snprintf(msg, sizeof(msg), "the certificate of node '%s' has been revoked",
                 j->id.name);
        refuse(j->h, j->req, j->endpoint, &j->id, 403, "revoked", msg);
        free(j);
        return;
    }
    if (strcmp(PQgetvalue(r, 0, 1), j->id.node) != 0 ||
        strcmp(PQgetvalue(r, 0, 2), j->id.district) != 0 ||
        strcmp(PQgetvalue(r, 0, 5), j->id.district) != 0) {
        db_release(c);
        refuse(j->h, j->req, j->endpoint, &j->id, 403, "certificate_mismatch",
               "the certificate does not match the registry (node id or district)");
        free(j);
        return;
    }
    db_release(c);
    j->next(j->h, j->req, &j->id);
    free(j);
}

static void on_conn(struct db_conn *c, void *ud)
{
    struct id_job *j = ud;
    const char *const p[] = { j->id.serial };
    const struct db_query q = {
        "SELECT c.name, c.node_id, c.district, c.revoked_at IS NOT NULL, "
        "r.revoked_at IS NOT NULL, r.district FROM node_cert c "
        "JOIN node_registration r ON r.name = c.name WHERE c.serial = $1", 1, p };

    if (!c) {
        hub_error(j->h, j->req, j->endpoint, 503, "unavailable",
                  "the database is unavailable; retry later");
        free(j);
        return;
    }
    if (db_exec_params(c, &q, 1, on_registry, j) < 0) {
        db_release(c);
        hub_error(j->h, j->req, j->endpoint, 503, "unavailable",
                  "database connection lost; retry later");
        free(j);
    }
}

/* Reads the node and district a request claims (X-Sikhnas-Node and
 * -District, "" when absent), after checking that none of the headers the
 * hub reads is longer than it has room for. Returns 0 or -E2BIG. */
static int headers_read(const struct http_req *req, char node[HUB_HDR_NODE],
                        char district[HUB_HDR_DISTRICT])
{
    static const struct { const char *name; size_t cap; } others[] = {
        { "X-Sikhnas-HLC", HUB_HDR_HLC },
        { "Content-Encoding", HUB_HDR_ENCODING },
        { "X-Sikhnas-Digest", HUB_HDR_DIGEST },
        { "Accept-Encoding", HUB_HDR_ACCEPT_ENCODING },
    };
    char tmp[HUB_HDR_ACCEPT_ENCODING];

    if (hub_header(req, "X-Sikhnas-Node", node, HUB_HDR_NODE) < 0 ||
        hub_header(req, "X-Sikhnas-District", district, HUB_HDR_DISTRICT) < 0)
        return -E2BIG;
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        if (hub_header(req, others[i].name, tmp, others[i].cap) < 0)
            return -E2BIG;
    return 0;
}

void hub_identity_check(struct hub *h, const struct http_req *req, const char *endpoint,
                        hub_identity_cb next)
{
    struct hub_identity id;
    const mbedtls_x509_crt *crt;
    struct id_job *j;
    char cn[64], msg[200], claim_node[HUB_HDR_NODE], claim_district[HUB_HDR_DISTRICT];
    uint32_t flags = 0;

    memset(&id, 0, sizeof(id));
    if (headers_read(req, claim_node, claim_district) < 0) {
        hub_error(h, req, endpoint, 400, "bad_request", "an X-Sikhnas-* or encoding header "
                  "is too long");
        return;
    }
    crt = http_peer_cert(req->conn, &flags);
    if (!crt) {
        refuse(h, req, endpoint, NULL, 401, "certificate_required",
               "this endpoint needs the node's client certificate; enrol the node first");
        return;
    }
    ca_serial_hex(&crt->serial, id.serial);
    id.not_before = x509_unix(&crt->valid_from);
    id.not_after = x509_unix(&crt->valid_to);
    if (ca_subject_get(&crt->subject, MBEDTLS_OID_AT_CN, MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN),
                       cn, sizeof(cn)) == 0 && uuid_valid(cn))
        for (int i = 0; i < 37; i++)
            id.node[i] = (char)tolower((unsigned char)cn[i]);
    if (ca_subject_get(&crt->subject, MBEDTLS_OID_AT_ORG_UNIT,
                       MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_ORG_UNIT), id.district,
                       sizeof(id.district)) < 0 || !district_valid(id.district))
        id.district[0] = '\0';
    /* a resumed TLS session keeps the verification result of its first
     * handshake, so the validity period is checked here on every request */
    if ((flags & MBEDTLS_X509_BADCERT_EXPIRED) || mbedtls_x509_time_is_past(&crt->valid_to)) {
        refuse(h, req, endpoint, &id, 401, "certificate_expired",
               "the client certificate has expired; enrol the node again");
        return;
    }
    if ((flags & MBEDTLS_X509_BADCERT_FUTURE) || mbedtls_x509_time_is_future(&crt->valid_from)) {
        refuse(h, req, endpoint, &id, 401, "certificate_not_yet_valid",
               "the client certificate is not valid yet");
        return;
    }
    if (flags != 0) {
        refuse(h, req, endpoint, &id, 401, "certificate_untrusted",
               "the client certificate was not issued by this hub's CA");
        return;
    }
    if (!id.node[0] || !id.district[0]) {
        refuse(h, req, endpoint, &id, 401, "certificate_subject",
               "the client certificate does not name a node (CN) and district (OU)");
        return;
    }
    /* old clients still say who they are; a claim that differs from the
     * certificate is refused before anything is read or written */
    if (claim_node[0] && strcasecmp(claim_node, id.node) != 0) {
        refuse(h, req, endpoint, &id, 403, "node_mismatch",
               "X-Sikhnas-Node differs from the client certificate");
        return;
    }
    if (claim_district[0] && strcmp(claim_district, id.district) != 0) {
        snprintf(msg, sizeof(msg), "this node may write only to district %s (its "
                 "certificate), not %.8s", id.district, claim_district);
        refuse(h, req, endpoint, &id, 403, "district_mismatch", msg);
        return;
    }
    j = calloc(1, sizeof(*j));
    if (!j) {
        hub_error(h, req, endpoint, 503, "unavailable", "out of memory");
        return;
    }
    j->h = h;
    j->req = req;
    j->endpoint = endpoint;
    j->next = next;
    j->id = id;
    db_acquire(h->db, on_conn, j);
}
