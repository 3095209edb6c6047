/* hub_pull.c - GET/POST /v1/pull: one page of the change feed for a node.
 * PostgreSQL builds each table's rows as a JSON array in one statement (one
 * snapshot for the horizon and the rows); the hub only frames and compresses
 * them. See docs/protocol.md §5 for why the cursor never skips a change. */
#include "hub.h"
#include "hex.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "hub_batch.h"
#include "log.h"

#define PULL_DEFAULT_LIMIT 2000
#define PULL_MAX_LIMIT     10000
#define PULL_MAX_BODY      (64u << 10)

struct pull_job {
    struct hub         *h;
    const struct http_req *req;
    struct hub_identity id;
    char                xid[24];
    int64_t             pos;
    int                 limit;
    enum batch_enc      enc;
    struct db_conn     *c;
    struct sql_list     sql;
};

static void job_free(struct pull_job *j)
{
    sql_list_free(&j->sql);
    free(j);
}

/* "" or "<xid>.<pos>", both decimal; returns 0 or -EINVAL. */
static int parse_cursor(const char *s, char xid[24], int64_t *pos)
{
    const char *dot;
    size_t n;
    char *end;

    if (!s || !*s) {
        strcpy(xid, "0");
        *pos = 0;
        return 0;
    }
    dot = strchr(s, '.');
    if (!dot)
        return -EINVAL;
    n = (size_t)(dot - s);
    if (n < 1 || n > 20)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
    memcpy(xid, s, n);
    xid[n] = 0;
    if (strtoull(xid, &end, 10) == UINT64_MAX || dot[1] < '0' || dot[1] > '9')
        return -EINVAL;
    errno = 0;
    *pos = strtoll(dot + 1, &end, 10);
    if (errno || *end || *pos < 0)
        return -EINVAL;
    return 0;
}

/* Reads cursor and limit from the query string (GET) or a JSON body (POST). */
static int read_params(struct pull_job *j, const char **why)
{
    const struct http_req *req = j->req;
    char cursor[64] = "", encoding[HUB_HDR_ENCODING], digest[HUB_HDR_DIGEST];
    long limit = PULL_DEFAULT_LIMIT;

    /* hub_identity_check() refused values too long for these */
    (void) hub_header(req, "Content-Encoding", encoding, sizeof(encoding));
    (void) hub_header(req, "X-Sikhnas-Digest", digest, sizeof(digest));
    if (req->body_len > 0) {
        cJSON *doc;
        const cJSON *c, *l, *v;
        if (req->body_len > PULL_MAX_BODY || encoding[0]) {
            *why = "a pull body is small uncompressed JSON";
            return -EINVAL;
        }
        if (digest[0]) {
            char hex[65];
            sha256_hex(req->body, req->body_len, hex);
            if (strncmp(digest, "sha256=", 7) != 0 || strcasecmp(digest + 7, hex)) {
                *why = "digest_mismatch";
                return -EBADMSG;
            }
        }
        doc = cJSON_ParseWithLength(req->body, req->body_len);
        if (!doc) {
            *why = "the body is not JSON";
            return -EINVAL;
        }
        v = cJSON_GetObjectItemCaseSensitive(doc, "v");
        c = cJSON_GetObjectItemCaseSensitive(doc, "cursor");
        l = cJSON_GetObjectItemCaseSensitive(doc, "limit");
        if ((v && (!cJSON_IsNumber(v) || v->valuedouble != 1)) ||
            (c && !cJSON_IsNull(c) && (!cJSON_IsString(c) || strlen(c->valuestring) >= 64)) ||
            (l && !cJSON_IsNumber(l))) {
            cJSON_Delete(doc);
            *why = "expected {\"v\":1,\"cursor\":\"...\",\"limit\":N}";
            return -EINVAL;
        }
        if (cJSON_IsString(c))
            snprintf(cursor, sizeof(cursor), "%s", c->valuestring);
        if (l)
            limit = l->valuedouble >= 1 && l->valuedouble <= PULL_MAX_LIMIT
                    ? (long)l->valuedouble : -1;
        cJSON_Delete(doc);
    } else {
        for (const char *q = req->query; q && *q;) {
            const char *amp = strchr(q, '&');
            size_t n = amp ? (size_t)(amp - q) : strlen(q);
            if (n > 7 && strncmp(q, "cursor=", 7) == 0 && n - 7 < sizeof(cursor)) {
                memcpy(cursor, q + 7, n - 7);
                cursor[n - 7] = 0;
            } else if (n > 6 && strncmp(q, "limit=", 6) == 0) {
                char tmp[16];
                if (n - 6 >= sizeof(tmp)) {
                    limit = -1;
                } else {
                    memcpy(tmp, q + 6, n - 6);
                    tmp[n - 6] = 0;
                    limit = strtol(tmp, NULL, 10);
                }
            }
            q = amp ? amp + 1 : NULL;
        }
    }
    if (limit < 1 || limit > PULL_MAX_LIMIT) {
        *why = "limit must be 1 to 10000";
        return -EINVAL;
    }
    j->limit = (int)limit;
    if (parse_cursor(cursor, j->xid, &j->pos) < 0) {
        *why = "bad_cursor";
        return -EINVAL;
    }
    return 0;
}

static int cursor_less(const char *a_xid, int64_t a_pos, const char *b_xid, int64_t b_pos)
{
    uint64_t a = strtoull(a_xid, NULL, 10), b = strtoull(b_xid, NULL, 10);

    return a < b || (a == b && a_pos < b_pos);
}

static void on_page(struct db_conn *c, PGresult **res, int nres, int err, void *ud)
{
    struct pull_job *j = ud;
    struct hub *h = j->h;
    struct strbuf s = { 0 };
    PGresult *reg, *page;
    cJSON *meta = NULL;
    char next[64];
    long count = 0;
    int more = 0, first = 1;
    char *z = NULL;
    size_t zlen = 0;

    if (err < 0 || nres < 2) {
        if (err != -ECONNRESET)
            log_error("pull %s: %s", j->id.node,
                      nres > 0 ? PQresultErrorMessage(res[nres - 1]) : "no result");
        db_release(c);
        hub_error(h, j->req, "pull", 503, "unavailable", "the database is unavailable");
        job_free(j);
        return;
    }
    reg = res[0];
    page = res[1];
    if (PQntuples(reg) != 1 || strcmp(PQgetvalue(reg, 0, 0), j->id.district) != 0) {
        db_release(c);
        hub_error(h, j->req, "pull", 403, "district_mismatch",
                  "this node id is registered with another district");
        job_free(j);
        return;
    }
    /* first row: ['meta', [count, last "xid.pos", xmin, district]] */
    if (PQntuples(page) >= 1)
        meta = cJSON_Parse(PQgetvalue(page, 0, 1));
    if (!cJSON_IsArray(meta) || cJSON_GetArraySize(meta) < 3) {
        cJSON_Delete(meta);
        db_release(c);
        hub_error(h, j->req, "pull", 503, "unavailable", "unexpected feed answer");
        job_free(j);
        return;
    }
    count = (long)cJSON_GetArrayItem(meta, 0)->valuedouble;
    if (count >= j->limit && cJSON_IsString(cJSON_GetArrayItem(meta, 1))) {
        snprintf(next, sizeof(next), "%s", cJSON_GetArrayItem(meta, 1)->valuestring);
        more = 1;
    } else {
        const cJSON *xmin = cJSON_GetArrayItem(meta, 2);
        if (cJSON_IsString(xmin) && !cursor_less(xmin->valuestring, 0, j->xid, j->pos))
            snprintf(next, sizeof(next), "%s.0", xmin->valuestring);
        else
            snprintf(next, sizeof(next), "%s.%" PRId64, j->xid, j->pos);
    }
    cJSON_Delete(meta);
    strbuf_add(&s, "{\"v\":1,\"cursor\":", 16);
    strbuf_json_str(&s, next);
    strbuf_fmt(&s, ",\"more\":%s,\"tables\":[", more ? "true" : "false");
    for (int i = 1; i < PQntuples(page); i++) {
        const struct record_kind *k = record_kind_find(PQgetvalue(page, i, 0));
        if (!k)
            continue;
        strbuf_fmt(&s, "%s{\"table\":\"%s\",\"cols\":", first ? "" : ",", k->table);
        batch_pull_cols(&s, k);
        strbuf_str(&s, ",\"rows\":");
        strbuf_add(&s, PQgetvalue(page, i, 1), (size_t)PQgetlength(page, i, 1));
        strbuf_add(&s, "}", 1);
        first = 0;
    }
    db_release(c);
    strbuf_add(&s, "],", 2);
    hub_stamp(h, &s);
    strbuf_add(&s, "}", 1);
    if (s.err) {
        free(s.p);
        hub_error(h, j->req, "pull", 503, "unavailable", "out of memory");
        job_free(j);
        return;
    }
    metrics_pull(h->metrics, (uint64_t)count);
    if (j->enc != ENC_IDENTITY && batch_deflate(s.p, s.len, j->enc, NULL, &z, &zlen) == 0) {
        metrics_bytes(h->metrics, "out", zlen, s.len);
        hub_reply(h, j->req, "pull", 200, "application/json",
                  j->enc == ENC_ZSTD ? "zstd" : "gzip", z, zlen);
    } else {
        metrics_bytes(h->metrics, "out", s.len, s.len);
        hub_reply(h, j->req, "pull", 200, "application/json", NULL, s.p, s.len);
    }
    free(z);
    free(s.p);
    job_free(j);
}

static void on_conn(struct db_conn *c, void *ud)
{
    struct pull_job *j = ud;
    const struct db_query *q;

    if (!c) {
        hub_error(j->h, j->req, "pull", 503, "unavailable",
                  "the database is unavailable; retry later");
        job_free(j);
        return;
    }
    sql_begin(&j->sql);
    sql_text(&j->sql, "INSERT INTO node (node_id, district) VALUES (");
    sql_param(&j->sql, j->id.node);
    sql_text(&j->sql, ", ");
    sql_param(&j->sql, j->id.district);
    sql_text(&j->sql, ") ON CONFLICT (node_id) DO UPDATE SET last_contact = now() "
                      "RETURNING district");
    sql_end(&j->sql);
    batch_pull_sql(&j->sql, j->id.node, j->xid, j->pos, j->limit);
    q = sql_queries(&j->sql);
    if (!q) {
        db_release(c);
        hub_error(j->h, j->req, "pull", 503, "unavailable", "out of memory");
        job_free(j);
        return;
    }
    if (db_exec_params(c, q, j->sql.n, on_page, j) < 0) {
        db_release(c);
        hub_error(j->h, j->req, "pull", 503, "unavailable", "database connection lost");
        job_free(j);
    }
}

void hub_pull(struct hub *h, const struct http_req *req, const struct hub_identity *id)
{
    struct pull_job *j = hub_job_new(h, req, "pull", sizeof(*j));
    char accept[HUB_HDR_ACCEPT_ENCODING];
    const char *why = NULL;
    int r;

    if (!j)
        return;
    j->h = h;
    j->req = req;
    j->id = *id;
    r = read_params(j, &why);
    if (r < 0) {
        if (strcmp(why, "bad_cursor") == 0)
            hub_error(h, req, "pull", 400, "bad_cursor", "the cursor is malformed");
        else if (strcmp(why, "digest_mismatch") == 0)
            hub_error(h, req, "pull", 400, "digest_mismatch", "the body's SHA-256 differs");
        else
            hub_error(h, req, "pull", 400, "bad_request", why);
        free(j);
        return;
    }
    (void) hub_header(req, "Accept-Encoding", accept, sizeof(accept));
    if (strstr(accept, "zstd"))
        j->enc = ENC_ZSTD;
    else if (strstr(accept, "gzip"))
        j->enc = ENC_GZIP;
    else
        j->enc = ENC_IDENTITY;
    db_acquire(h->db, on_conn, j);
}
