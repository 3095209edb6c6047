/* web_record.c - POST of a record of any kind (docs/api.md): the one
 * validator decodes and checks the JSON (validate_record_json), then
 * access_check() decides whether this officer may write it (kind, village,
 * reporter); what passes waits for the group commit (web_commit.c), which
 * answers 201 once it is on disk. web_record_check() runs the same checks
 * without saving, for tests and the fuzz target. */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "http_server.h"
#include "records.h"
#include "validate.h"
#include "web_int.h"

/* The request's Idempotency-Key into key (RECORD_KEY_MAX + 1 bytes): ""
 * when none; -1 when it is not 8 to 64 letters, digits, '-' or '_'. */
static int idempotency_key(struct wreq *q, char *key)
{
    const char *h = http_header(q->c, "Idempotency-Key");
    size_t n;

    key[0] = '\0';
    if (!h)
        return 0;
    n = strlen(h);
    if (n < 8 || n > RECORD_KEY_MAX || strspn(h, "abcdefghijklmnopqrstuvwxyz"
                                           "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != n)
        return -1;
    memcpy(key, h, n + 1);
    return 0;
}

/* POST of a record of the route's kind: validated, checked against the
 * officer's rights, then queued for the next group commit, once per
 * Idempotency-Key (a tablet's draft sent again after a lost answer). */
void web_api_record_add(struct wreq *q, cJSON *doc)
{
    enum rec_kind kind = (enum rec_kind)q->rt->rec;
    size_t size = rec_kind(kind)->size;
    struct actor a;
    struct verr e, errs[VERR_ALL_MAX];
    char key[RECORD_KEY_MAX + 1];
    void *in;
    int r;

    if (idempotency_key(q, key) < 0) {
        web_send_error(q, 400, "idempotency_key", "Kunci draf (Idempotency-Key) tidak sah.",
                       "The Idempotency-Key is not valid (8-64 letters, digits, - or _).", NULL);
        return;
    }
    in = calloc(1, size);
    if (!in) {
        web_send_store_error(q, -ENOMEM);
        return;
    }
    actor_officer(&a, q->who.role, q->who.phone, q->who.village);
    r = validate_record_json_all(q->w->d->validator, kind, doc, in, errs, VERR_ALL_MAX);
    if (r > 0) {                    /* every refusal at once, each at its field */
        web_send_verrs(q, errs, r);
        free(in);
        return;
    }
    if (r == 0)
        r = access_check(&a, kind, in, &e);
    if (r == -EACCES)
        web_send_verr(q, &e);
    else if (r < 0)
        web_send_store_error(q, r);
    else
        web_commit_enqueue(q, kind, in, size, key);
    free(in);
}

int web_record_check(struct daemon *d, const char *path, const char *body, size_t len,
                     struct verr *e)
{
    int kind = web_route_record(path);
    cJSON *doc;
    void *in;
    int r;

    if (kind < 0)
        return -ENOENT;
    r = validate_json_parse(body, len, &doc, e);
    if (r < 0)
        return r;
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        e->code = VERR_SYNTAX;
        snprintf(e->field, sizeof(e->field), "body");
        return -EINVAL;
    }
    in = calloc(1, rec_kind((enum rec_kind)kind)->size);
    r = in ? validate_record_json(d->validator, (enum rec_kind)kind, doc, in, e) : -ENOMEM;
    free(in);
    cJSON_Delete(doc);
    return r;
}
