/* fuzz-node-health.c - the hub's check of a node health block
 * (hub/hub_health.c, health_parse()). Any input is fine, but an accepted
 * block must come out as a JSON object with a version from 1 to
 * HEALTH_VERSION and only the known keys, and checking that output again
 * must accept it and give the same text (it is already normal). */
#undef NDEBUG                   /* the checks below are the point */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "hub_health.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const known[] = { "v", "version", "outbox_depth", "outbox_oldest_s",
                                     "rows_rejected", "bytes_up", "bytes_down", "disk_free",
                                     "disk_total", "clock", "cert_not_after", "last_sms_in",
                                     "last_sms_out" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct strbuf out = { 0 }, again = { 0 };
    const char *why = NULL;
    cJSON *doc, *x;

    if (health_parse((const char *)data, size, &out, &why) < 0) {
        assert(why && why[0]);
        strbuf_free(&out);
        return 0;
    }
    doc = cJSON_Parse(out.p);
    assert(cJSON_IsObject(doc));
    x = cJSON_GetObjectItemCaseSensitive(doc, "v");
    assert(cJSON_IsNumber(x) && x->valueint >= 1 && x->valueint <= HEALTH_VERSION);
    cJSON_ArrayForEach(x, doc) {
        size_t i = 0;
        while (i < sizeof(known) / sizeof(known[0]) && strcmp(known[i], x->string))
            i++;
        assert(i < sizeof(known) / sizeof(known[0]));
    }
    cJSON_Delete(doc);
    assert(health_parse(out.p, out.len, &again, &why) == 0);
    assert(again.len == out.len && memcmp(again.p, out.p, out.len) == 0);
    strbuf_free(&out);
    strbuf_free(&again);
    return 0;
}
