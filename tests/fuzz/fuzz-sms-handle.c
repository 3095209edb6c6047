/* fuzz-sms-handle.c - whole messages through the SMS handler on a real
 * store: officer look-up, parse, validate, records, replies and alerts.
 * The first byte picks the sender (village reporter, vet, viewer, unknown,
 * not a phone) and the byte after it the modem time; the rest is the text.
 * Every reply and alert must be valid UTF-8 of at most SMS_REPLY_MAX bytes.
 * The store is started afresh every few thousand inputs so it stays small. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "records.h"
#include "refdata.h"
#include "sms.h"
#include "sms_parse.h"
#include "store.h"
#include "testtmp.h"
#include "validate.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RESTART_EVERY 3000

static struct store *store;
static struct validator *validator;
static const char *dir;       /* test_tmp(): removed at exit */
static int used;

static const char *const senders[] = {
    "6281234567890", "+6281298765432", "081377778888", "6289999999999", "Telkomsel",
};

static void setup(void)
{
    static const struct { const char *name, *phone, *role; } officers[] = {
        { "Pelsa", "6281234567890", "reporter" }, { "Vet", "6281298765432", "vet" },
        { "Vet 2", "6281311112222", "vet" }, { "Viewer", "6281377778888", "viewer" },
    };
    struct store_opts o = { .create = 1, .sync = STORE_SYNC_NORMAL };
    struct refdata_counts n = {0};
    const char *areas = getenv("SIKHNAS_TEST_AREAS");
    char path[128], id[UUID_STR_LEN];

    if (!areas)
        areas = SIKHNAS_TEST_AREAS;
    if (store) {
        validator_free(validator);
        store_close(store);
        snprintf(path, sizeof(path), "%s/node.db", dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/node.db-wal", dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/node.db-shm", dir);
        unlink(path);
    } else {
        dir = test_tmp("fuzz-sms");
    }
    snprintf(path, sizeof(path), "%s/node.db", dir);
    if (store_open(path, &o, &store) < 0 || store_begin(store) < 0 ||
        refdata_load_lists(store, &n) < 0 || refdata_load_areas(store, areas, "3201", &n) < 0 ||
        store_new_id(store, store_hlc_tick(store), id) < 0 ||
        store_meta_set(store, "node_id", id) < 0 || store_meta_set(store, "district", "3201") < 0)
        abort();
    for (size_t i = 0; i < sizeof(officers) / sizeof(officers[0]); i++) {
        struct officer_in in = {0};
        snprintf(in.name, sizeof(in.name), "%s", officers[i].name);
        snprintf(in.role, sizeof(in.role), "%s", officers[i].role);
        snprintf(in.village, sizeof(in.village), "3201011001");
        if (phone_normalize(officers[i].phone, in.phone) < 0 || officer_insert(store, &in, id) < 0)
            abort();
    }
    if (store_commit(store) < 0 || validator_new(store, &validator) < 0)
        abort();
    used = 0;
}

static int check_out(void *ctx, const char *phone, const char *text, char *name, size_t cap)
{
    size_t n = strlen(text);
    char *copy = malloc(n * 3 + 1);

    (void) ctx;
    if (!copy || n == 0 || n >= SMS_REPLY_MAX || phone[0] != '+' ||
        utf8_clean(text, n, copy, n * 3 + 1) != n || memcmp(copy, text, n) != 0)
        abort();                          /* empty, too long or not UTF-8 */
    free(copy);
    snprintf(name, cap, "fuzz");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sms_incoming in = {0};
    struct sms_result res;
    char text[SMS_TEXT_MAX * 3 + 1], sent[32];
    int r;

    if (size < 2 || size > SMS_TEXT_MAX + 2)
        return 0;
    if (!store || ++used > RESTART_EVERY)
        setup();
    snprintf(sent, sizeof(sent), "26-11-%02d 10:00:%02d", 1 + data[1] % 28, data[1] % 60);
    in.sender = senders[data[0] % (sizeof(senders) / sizeof(senders[0]))];
    in.sent = sent;
    in.len = utf8_clean((const char *)data + 2, size - 2, text, sizeof(text));
    in.text = text;
    in.source = data[1] & 1 ? "GSM1.000001 inode 1 mtime 0.000000000" : NULL;
    r = sms_handle(store, validator, &in, &res);
    if (r < 0)
        abort();                          /* a message is answered, never an error */
    r = sms_flush(store, res.msg_id, res.duplicate && !res.same_delivery, check_out, NULL);
    if (r < 0 || (r == 0 && in.sender[0] != 'T' && !res.same_delivery))
        abort();                          /* every phone gets a reply, once a delivery */
    if (res.same_delivery && r != 0)
        abort();                          /* the same file read again: no second reply */
    return 0;
}
