/* fuzz-report.c - JSON case reports as they arrive from `report add`,
 * `import` and the web API: parse, validate, and for the ones that pass,
 * insert and roll back. Any input may be refused; none may crash or leak. */
#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "records.h"
#include "refdata.h"
#include "store.h"
#include "testtmp.h"
#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *store;
static struct validator *validator;


static void setup(void)
{
    const char *dir = test_tmp("fuzz-report");    /* removed at exit */
    struct store_opts o = { .create = 1, .sync = STORE_SYNC_NORMAL };
    struct refdata_counts n = {0};
    const char *areas = getenv("SIKHNAS_TEST_AREAS");
    char path[128], id[UUID_STR_LEN];

    if (!areas)
        areas = SIKHNAS_TEST_AREAS;
    snprintf(path, sizeof(path), "%s/node.db", dir);
    if (store_open(path, &o, &store) < 0 || store_begin(store) < 0 ||
        refdata_load_lists(store, &n) < 0 || refdata_load_areas(store, areas, "3201", &n) < 0 ||
        store_new_id(store, store_hlc_tick(store), id) < 0 ||
        store_meta_set(store, "node_id", id) < 0 || store_meta_set(store, "district", "3201") < 0 ||
        store_commit(store) < 0 || validator_new(store, &validator) < 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct case_report_in in;
    struct verr e;
    char id[UUID_STR_LEN], ref[16], msg[256];
    cJSON *doc;

    if (!store)
        setup();
    if (validate_json_parse((const char *)data, size, &doc, &e) < 0) {
        if (doc || (e.code != VERR_SYNTAX && e.code != VERR_ENCODING && e.code != VERR_NONE))
            abort();
        return 0;
    }
    if (validate_case_report(validator, doc, &in, &e) == 0) {
        if (store_begin(store) == 0) {
            (void) case_report_insert(store, &in, id, ref);
            store_rollback(store);
        }
    } else {
        verr_format(&e, "id", msg, sizeof(msg));
        verr_format(&e, "en", msg, sizeof(msg));
    }
    cJSON_Delete(doc);
    return 0;
}
