/* fuzz-sync-answer.c - what the hub sends back, as the node's sync client
 * applies it: push acks (acked_seq, refusals, the hub's clock) and pull
 * pages (gzip, zstd or plain; tables of reference data and field rows).
 * Input: byte 0 bit 0 = pull, bits 1-2 = encoding (identity, gzip, zstd);
 * bytes 1-2 = the batch's last_seq (big-endian); the rest is the body.
 * Any answer may be refused; none may crash, leak, or leave a transaction
 * open or a row in sync_apply. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "sync_client.h"
#include "store.h"
#include "testtmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *store;
static struct sync_client *client;

static void setup(void)
{
    const char *dir = test_tmp("fuzz-sync");
    struct store_opts o = { .create = 1, .sync = STORE_SYNC_NORMAL };
    struct sync_client_opts co = { .hub_url = "https://127.0.0.1:1" };
    char path[128], id[UUID_STR_LEN];

    snprintf(path, sizeof(path), "%s/node.db", dir);
    if (store_open(path, &o, &store) < 0 || store_begin(store) < 0 ||
        store_new_id(store, store_hlc_tick(store), id) < 0 ||
        store_meta_set(store, "node_id", id) < 0 || store_meta_set(store, "district", "3201") < 0 ||
        store_exec(store, "INSERT INTO outbox (tbl, row_id, hlc) VALUES "
                          "('case_report', 'x', 1), ('officer', 'y', 2), ('case_report', 'x', 3)") < 0 ||
        store_commit(store) < 0 || sync_client_new(store, &co, &client) < 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const enc[] = { NULL, "gzip", "zstd", "br" };
    sqlite3_stmt *st;

    if (!store)
        setup();
    if (size < 3)
        return 0;
    (void) sync_client_apply_answer(client, data[0] & 1, data + 3, size - 3,
                                    enc[(data[0] >> 1) & 3], (int64_t)data[1] << 8 | data[2]);
    if (!sqlite3_get_autocommit(store_db(store)))
        abort();                    /* a transaction left open */
    st = store_stmt(store, "SELECT count(*) FROM sync_apply");
    if (!st || sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 0) != 0)
        abort();                    /* capture would stay off */
    sqlite3_reset(st);
    return 0;
}
