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
#include <strings.h>
#include <zlib.h>
#include <malloc.h>
#include <stdint.h>

#include "http_server.h"
#include "validate.h"
#include "web_int.h"

#define WEB_TRIM_FROM (256 * 1024)

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

int web_takes_gzip(struct wreq *q)
{
    const char *ae = http_header(q->c, "Accept-Encoding"), *g;

    if (!ae || !(g = strcasestr(ae, "gzip")))
        return 0;
    g += 4;
    while (*g == ' ')
        g++;
    return strncmp(g, ";q=0", 4) != 0 || strtod(g + 3, NULL) > 0;
}

/* text[0..len) gzip-compressed (fast, level 1) into a new buffer; NULL
 * when out of memory or zlib refuses. */
static unsigned char *gzip_fast(const char *text, size_t len, size_t *out_len)
{
    z_stream z = { 0 };
    size_t cap = len / 2 + 128;
    unsigned char *out = NULL;
    int r;

    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    cap = deflateBound(&z, len);
    out = malloc(cap);
    if (out) {
        z.next_in = (unsigned char *)(uintptr_t)text;
        z.avail_in = (uInt)len;
        z.next_out = out;
        z.avail_out = (uInt)cap;
        r = deflate(&z, Z_FINISH);
        if (r == Z_STREAM_END) {
            *out_len = cap - z.avail_out;
        } else {
            free(out);
            out = NULL;
        }
    }
    deflateEnd(&z);
    return out;
}

void web_send_json(struct wreq *q, int status, cJSON *o, const char *extra)
{
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;

    cJSON_Delete(o);
    web_send_text(q, status, text, text ? strlen(text) : 0, extra);
}

void web_send_text(struct wreq *q, int status, char *text, size_t len, const char *extra)
{
    unsigned char *gz = NULL;
    char headers[512];
    size_t gz_len = 0;

    if (!text) {
        web_send_body(q, 500, "application/json", NULL, "{\"error\":{\"code\":\"nomem\"}}", 26);
        return;
    }
    /* a long answer (a map, a list) goes gzip-compressed to a browser that takes it */
    if (len > WEB_GZIP_FROM && len < (size_t)1 << 30 && web_takes_gzip(q))
        gz = gzip_fast(text, len, &gz_len);
    if (q->keep && status == 200)
        web_cache_put(q, text, len, gz, gz_len);
    if (gz) {
        snprintf(headers, sizeof(headers), "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n%s",
                 extra ? extra : "");
        web_send_body(q, status, "application/json; charset=utf-8", headers, (const char *)gz, gz_len);
    } else {
        web_send_body(q, status, "application/json; charset=utf-8", extra, text, len);
    }
    free(gz);
    free(text);
    if (len > WEB_TRIM_FROM)
        malloc_trim(0);     /* a big answer's many small blocks go back: RSS stays in budget */
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
