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

#include "access.h"
#include "validate.h"
#include "web_int.h"

/* POST of a record of the route's kind: validated, checked against the
 * officer's rights, then queued for the next group commit. */
void web_api_record_add(struct wreq *q, cJSON *doc)
{
    enum rec_kind kind = (enum rec_kind)q->rt->rec;
    size_t size = rec_kind(kind)->size;
    struct actor a;
    struct verr e;
    void *in = calloc(1, size);
    int r;

    if (!in) {
        web_send_store_error(q, -ENOMEM);
        return;
    }
    actor_officer(&a, q->who.role, q->who.phone, q->who.village);
    r = validate_record_json(q->w->d->validator, kind, doc, in, &e);
    if (r == 0)
        r = access_check(&a, kind, in, &e);
    if (r == -EINVAL || r == -EACCES)
        web_send_verr(q, &e);
    else if (r < 0)
        web_send_store_error(q, r);
    else
        web_commit_enqueue(q, kind, in, size);
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
