/* fuzz-web-record.c - API bodies for every record kind, as POST /api/v1/...
 * reads them: the first byte picks the kind, the rest is the JSON body,
 * which goes through web.c's field reader (types, sizes, offsets into the
 * validators' structs) and the validator. Any input may be refused; none
 * may crash or leak. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "records.h"
#include "refdata.h"
#include "store.h"
#include "validate.h"
#include "web.h"
#include "testtmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* web.c reports saves to the daemon; nothing is saved here */
void daemon_changed(struct daemon *d)
{
    (void) d;
}

static struct daemon daemon_;

static void setup(void)
{
    const char *dir = test_tmp("fuzz-web");
    struct store_opts o = { .create = 1, .sync = STORE_SYNC_NORMAL };
    struct refdata_counts n = {0};
    const char *areas = getenv("SIKHNAS_TEST_AREAS");
    char path[128], id[UUID_STR_LEN], ref[16];
    struct case_report_in in = { .kind = 'P', .village = "3201011006", .syndrome = "MMU",
                                 .n_animals = 1, .event_date = "2026-01-02" };

    if (!areas)
        areas = SIKHNAS_TEST_AREAS;
    snprintf(path, sizeof(path), "%s/node.db", dir);
    snprintf(in.animals[0].species, sizeof(in.animals[0].species), "AY");
    if (store_open(path, &o, &daemon_.store) < 0 || store_begin(daemon_.store) < 0 ||
        refdata_load_lists(daemon_.store, &n) < 0 ||
        refdata_load_areas(daemon_.store, areas, "3201", &n) < 0 ||
        store_new_id(daemon_.store, store_hlc_tick(daemon_.store), id) < 0 ||
        store_meta_set(daemon_.store, "node_id", id) < 0 ||
        store_meta_set(daemon_.store, "district", "3201") < 0 ||
        case_report_insert(daemon_.store, &in, id, ref) < 0 ||    /* for case_ref: 3201-000001 */
        store_commit(daemon_.store) < 0 || validator_new(daemon_.store, &daemon_.validator) < 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const paths[] = { "/api/v1/reports", "/api/v1/followups",
        "/api/v1/vaccinations", "/api/v1/treatments", "/api/v1/movements",
        "/api/v1/slaughters", "/api/v1/populations" };
    struct verr e;
    char msg[256];

    if (!daemon_.store)
        setup();
    if (size < 1)
        return 0;
    if (web_record_check(&daemon_, paths[data[0] % 7], (const char *)data + 1, size - 1,
                         &e) == -EINVAL) {
        verr_format(&e, "id", msg, sizeof(msg));
        verr_format(&e, "en", msg, sizeof(msg));
    }
    return 0;
}
