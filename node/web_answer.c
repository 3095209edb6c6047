/* web_answer.c - how the web module answers: JSON with the security
 * headers every answer carries, errors as {"error": {code, message}} in the
 * officer's language, the validator's and access_check()'s refusals with
 * the field they name (docs/api.md, "Errors"), and the store's failures.
 * One place, so every endpoint answers alike. */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"
#include "validate.h"
#include "web_int.h"

#define SEC_HEADERS \
    "Cache-Control: no-store\r\n" \
    "Referrer-Policy: no-referrer\r\n" \
    "X-Frame-Options: DENY\r\n"

void web_send_body(struct wreq *q, int status, const char *ctype, const char *extra,
                   const char *body, size_t len)
{
    char headers[1024];

    snprintf(headers, sizeof(headers), SEC_HEADERS "%s", extra ? extra : "");
    http_respond(q->c, status, ctype, headers, body, len);
}

void web_send_json(struct wreq *q, int status, cJSON *o, const char *extra)
{
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;

    cJSON_Delete(o);
    if (!text) {
        web_send_body(q, 500, "application/json", NULL, "{\"error\":{\"code\":\"nomem\"}}", 26);
        return;
    }
    web_send_body(q, status, "application/json; charset=utf-8", extra, text, strlen(text));
    free(text);
}

/* {"error": {"code", "message"}} in the officer's language. */
void web_send_error(struct wreq *q, int status, const char *code, const char *msg_id,
                    const char *msg_en, const char *extra)
{
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");

    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", strcmp(q->lang, "en") == 0 ? msg_en : msg_id);
    web_send_json(q, status, o, extra);
}

static const char *const verr_names[] = {
    [VERR_NONE] = "ok", [VERR_REQUIRED] = "required", [VERR_TYPE] = "type",
    [VERR_UNKNOWN_FIELD] = "unknown_field", [VERR_TOO_LONG] = "too_long",
    [VERR_TOO_MANY] = "too_many", [VERR_EMPTY] = "empty", [VERR_UNKNOWN_CODE] = "unknown_code",
    [VERR_OUTSIDE_DISTRICT] = "outside_district", [VERR_COUNT] = "count",
    [VERR_DATE_FORMAT] = "date_format", [VERR_DATE_FUTURE] = "date_future",
    [VERR_DATE_OLD] = "date_old", [VERR_POINT] = "point", [VERR_PHONE] = "phone",
    [VERR_NOT_OFFICER] = "not_officer", [VERR_DUPLICATE] = "duplicate",
    [VERR_CONFLICT] = "conflict", [VERR_SYNTAX] = "syntax", [VERR_ENCODING] = "encoding",
    [VERR_COUNT_NONE] = "count_conflict", [VERR_COUNT_OVER] = "count_conflict",
    [VERR_COUNT_OVER_FU] = "count_conflict", [VERR_FORBIDDEN] = "forbidden",
    [VERR_NOT_OWN_VILLAGE] = "not_own_village", [VERR_NOT_SELF] = "forbidden",
};

/* The validator's refusal (422) or access_check()'s (403): the field, and
 * why in the officer's language, so the page can show it beside the field. */
static cJSON *verr_json(struct wreq *q, const struct verr *e)
{
    cJSON *x = cJSON_CreateObject();
    const char *name = (size_t)e->code < sizeof(verr_names) / sizeof(verr_names[0]) &&
                       verr_names[e->code] ? verr_names[e->code] : "invalid";

    cJSON_AddStringToObject(x, "code", name);
    if (e->field[0])
        cJSON_AddStringToObject(x, "field", e->field);
    cJSON_AddStringToObject(x, "message", verr_reason(e, q->lang));
    if (e->detail[0])
        cJSON_AddStringToObject(x, "detail", e->detail);
    return x;
}

void web_send_verr(struct wreq *q, const struct verr *e)
{
    web_send_verrs(q, e, 1);
}

void web_send_verrs(struct wreq *q, const struct verr *e, int n)
{
    int access = e->code == VERR_FORBIDDEN || e->code == VERR_NOT_OWN_VILLAGE ||
                 e->code == VERR_NOT_SELF;
    cJSON *o = cJSON_CreateObject(), *all;

    cJSON_AddItemToObject(o, "error", verr_json(q, e));
    if (n > 1) {
        all = cJSON_AddArrayToObject(o, "errors");
        for (int i = 0; i < n; i++)
            cJSON_AddItemToArray(all, verr_json(q, &e[i]));
    }
    web_send_json(q, access ? 403 : 422, o, NULL);
}

void web_send_store_error(struct wreq *q, int r)
{
    if (r == -EBUSY)
        web_send_error(q, 503, "busy", "Penyimpanan sedang sibuk; coba lagi.",
                       "The store is busy; try again.", "Retry-After: 2\r\n");
    else
        web_send_error(q, 500, "store", "Gagal menyimpan; beri tahu dokter hewan kabupaten.",
                       "Could not save; tell the district vet.", NULL);
}
