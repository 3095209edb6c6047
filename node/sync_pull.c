/* sync_pull.c - the pull half of the sync client: pages of the hub's
 * change feed (docs/protocol.md §5) applied with last-writer-wins by (hlc,
 * origin), each page and the cursor in one transaction, with a row in
 * sync_apply so that the capture triggers do not queue the pulled rows
 * back up. */
#include "sync_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "log.h"

int pull_prepare(struct sync_client *c)
{
    char cursor[CURSOR_MAX + 1] = "";
    struct strbuf b = { .max = 1024 };
    uint64_t hlc = store_hlc_tick(c->store);
    int r;

    if (store_meta_get(c->store, "sync.pull_cursor", cursor, sizeof(cursor)) < 0)
        cursor[0] = '\0';
    r = strbuf_str(&b, "{\"v\":1,\"cursor\":");
    if (r == 0)
        r = strbuf_json(&b, cursor, strlen(cursor));
    if (r == 0)
        r = strbuf_fmt(&b, ",\"limit\":%d}", SYNC_PULL_LIMIT);
    if (r == 0)
        r = identity_headers(c, hlc);
    if (r == 0)
        r = add_header(c, "Accept-Encoding: zstd, gzip");
    return set_body(c, &b, r);
}

static int inflate_body(struct sync_client *c, char **ret, size_t *ret_len)
{
    int enc = batch_enc_parse(c->q->hdr_enc);

    if (enc < 0)
        return -EPROTO;
    return batch_inflate(c->q->resp.p ? c->q->resp.p : "", c->q->resp.len, (enum batch_enc)enc,
                         PULL_MAX_PLAIN, ret, ret_len);
}

/* Binds one pulled cell to parameter idx; -EINVAL when it has the wrong type. */
static int bind_cell(sqlite3_stmt *st, int idx, enum col_type type, const cJSON *v)
{
    if (!v || cJSON_IsNull(v))
        return sqlite3_bind_null(st, idx) == SQLITE_OK ? 0 : -EIO;
    switch (type) {
    case COL_ID: case COL_ORIGIN: case COL_TEXT: case COL_TS: case COL_DATE:
        if (!cJSON_IsString(v) || strlen(v->valuestring) > 65536)
            return -EINVAL;
        sqlite3_bind_text(st, idx, v->valuestring, -1, SQLITE_TRANSIENT);
        return 0;
    case COL_INT: case COL_BIT: {
        int64_t n;
        if (json_int(v, &n) < 0)
            return -EINVAL;
        sqlite3_bind_int64(st, idx, n);
        return 0;
    }
    case COL_HLC: {
        uint64_t h;
        if (json_hlc(v, &h) < 0 || h > INT64_MAX)
            return -EINVAL;
        sqlite3_bind_int64(st, idx, (sqlite3_int64)h);
        return 0;
    }
    case COL_JSON: {
        if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
            return -EINVAL;
        char *t = cJSON_PrintUnformatted(v);
        if (!t)
            return -ENOMEM;
        sqlite3_bind_text(st, idx, t, -1, free);
        return 0;
    }
    case COL_LON:
    case COL_LAT:
        if (!cJSON_IsNumber(v))
            return -EINVAL;
        sqlite3_bind_double(st, idx, v->valuedouble);
        return 0;
    }
    return -EINVAL;
}

/* 1 when col is one of the comma-separated key columns pk. */
static int in_key(const char *pk, const char *col)
{
    size_t n = strlen(col);

    for (const char *p = pk; (p = strstr(p, col)) != NULL; p += n)
        if ((p == pk || p[-1] == ' ' || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
            return 1;
    return 0;
}

/* One table block of a pull page: how its columns map onto the kind's and
 * the upsert that stores a row of it. */
struct block {
    const struct record_kind *k;
    int ncols;
    int map[64];                /* pulled column -> parameter number, 0: ignored */
    int spec[64];               /* pulled column -> the kind's column, -1: unknown */
    int lon, lat;               /* the parameters of the point, or -1 */
    int level_col, parent_col, ref_col;     /* pulled columns, or -1 */
    sqlite3_stmt *st;
};

/* Maps the pulled columns onto k's and appends the column list to q. */
static int block_map(struct sync_client *c, struct block *bk, const cJSON *cols,
                     struct strbuf *q)
{
    const struct record_kind *ts = bk->k;
    int nparam = 0, has_id = 0, has_hlc = 0, has_origin = 0;

    bk->lon = bk->lat = bk->level_col = bk->parent_col = bk->ref_col = -1;
    for (int i = 0; i < bk->ncols; i++) {
        const cJSON *cn = cJSON_GetArrayItem(cols, i);
        const struct kind_col *kc = cJSON_IsString(cn) ? kind_col_find(ts, cn->valuestring)
                                                        : NULL;
        bk->map[i] = kc ? ++nparam : 0;
        bk->spec[i] = kc ? (int)(kc - ts->cols) : -1;
        if (!kc)
            continue;
        if (kc->type == COL_LON) {
            bk->lon = nparam;
        } else if (kc->type == COL_LAT) {
            bk->lat = nparam;
        } else {
            strbuf_fmt(q, "%s%s", q->p[q->len - 1] == '(' ? "" : ", ", kc->name);
            has_id |= strcmp(kc->name, "id") == 0;
            has_hlc |= strcmp(kc->name, "hlc") == 0;
            has_origin |= strcmp(kc->name, "origin") == 0;
            if (strcmp(kc->name, "level") == 0)
                bk->level_col = i;
            if (strcmp(kc->name, "parent_code") == 0)
                bk->parent_col = i;
            if (strcmp(kc->name, "ref") == 0)
                bk->ref_col = i;
        }
    }
    if (ts->synced && (!has_id || !has_hlc || !has_origin))
        return set_error(c, -EPROTO, "a pull page's %s block lacks id, origin or hlc",
                         ts->table);
    return 0;
}

/* Prepares bk->st: an upsert of k's row, last writer wins for synced kinds.
 * Returns 0 (bk->st NULL when the block names no column of ours) or -errno. */
static int block_prepare(struct sync_client *c, struct block *bk, const cJSON *cols)
{
    const struct record_kind *ts = bk->k;
    struct strbuf q = { .max = 8192 };
    int first, geom, rc, r;

    strbuf_fmt(&q, "INSERT INTO %s (", ts->table);
    r = block_map(c, bk, cols, &q);
    if (r < 0) {
        strbuf_free(&q);
        return r;
    }
    geom = bk->lon > 0 && bk->lat > 0;
    if (geom)
        strbuf_str(&q, ", geom");
    strbuf_str(&q, ") VALUES (");
    first = 1;
    for (int i = 0; i < bk->ncols; i++) {
        if (!bk->map[i] || bk->map[i] == bk->lon || bk->map[i] == bk->lat)
            continue;
        strbuf_fmt(&q, "%s?%d", first ? "" : ", ", bk->map[i]);
        first = 0;
    }
    if (geom)
        strbuf_fmt(&q, ", CASE WHEN ?%d IS NULL OR ?%d IS NULL THEN NULL "
                   "ELSE sk_point(?%d, ?%d) END", bk->lon, bk->lat, bk->lon, bk->lat);
    strbuf_fmt(&q, ") ON CONFLICT (%s) DO UPDATE SET ", ts->key);
    first = 1;
    for (int i = 0; i < bk->ncols; i++) {
        const char *name = bk->spec[i] >= 0 ? ts->cols[bk->spec[i]].name : NULL;
        if (!bk->map[i] || bk->map[i] == bk->lon || bk->map[i] == bk->lat)
            continue;
        /* never the key itself: SQLite treats any SET of a parent key as a
         * change of it and checks every child table for orphans (area.code:
         * a scan of case_report per row, seconds per page, with the store
         * locked meanwhile) */
        if (in_key(ts->key, name))
            continue;
        strbuf_fmt(&q, "%s%s = excluded.%s", first ? "" : ", ", name, name);
        first = 0;
    }
    if (geom)
        strbuf_str(&q, ", geom = excluded.geom");
    if (ts->synced)
        strbuf_fmt(&q, " WHERE excluded.hlc > %s.hlc OR (excluded.hlc = %s.hlc AND "
                   "excluded.origin > %s.origin)", ts->table, ts->table, ts->table);
    if (q.err || first) {
        r = q.err;
        strbuf_free(&q);
        return r;
    }
    rc = sqlite3_prepare_v2(store_db(c->store), q.p, -1, &bk->st, NULL);
    strbuf_free(&q);
    if (rc != SQLITE_OK)
        return set_error(c, store_error(c->store, rc), "cannot apply pulled %s rows: %s",
                         ts->table, sqlite3_errmsg(store_db(c->store)));
    return 0;
}

/* The number of a reference of this district ("DDDD-NNNNNN") in row, made
 * elsewhere (say by this district's earlier node), or 0. */
static unsigned long long own_ref(struct sync_client *c, const struct block *bk,
                                  const cJSON *row)
{
    const char *ref = bk->ref_col >= 0 ?
        cJSON_GetStringValue(cJSON_GetArrayItem(row, bk->ref_col)) : NULL;
    const char *d = store_district(c->store);
    size_t n = strlen(d);

    if (!ref || strncmp(ref, d, n) != 0 || ref[n] != '-' || !isdigit((unsigned char)ref[n + 1]))
        return 0;
    return strtoull(ref + n + 1, NULL, 10);
}

/* Stores one pulled row. Returns 1 when stored, 0 when skipped (a bad cell,
 * a constraint: a bad row must not hold the feed back), or -errno. */
static int block_row(struct sync_client *c, struct block *bk, const cJSON *row)
{
    const struct record_kind *ts = bk->k;
    const cJSON *cell;
    int i = 0, bad = 0, rc;

    sqlite3_reset(bk->st);
    sqlite3_clear_bindings(bk->st);
    cJSON_ArrayForEach(cell, row) {
        if (bk->map[i] && bind_cell(bk->st, bk->map[i], ts->cols[bk->spec[i]].type, cell) < 0)
            bad = 1;
        i++;
    }
    if (bad)
        return 0;
    rc = sqlite3_step(bk->st);
    if (rc != SQLITE_DONE && (rc & 0xff) == SQLITE_CONSTRAINT && bk->parent_col >= 0) {
        /* a parent area this node does not have: keep the area without it */
        sqlite3_reset(bk->st);
        sqlite3_bind_null(bk->st, bk->map[bk->parent_col]);
        rc = sqlite3_step(bk->st);
    }
    if (rc == SQLITE_DONE)
        return 1;
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        log_debug("sync: pull: a %s row was not stored: %s", ts->table,
                  sqlite3_errmsg(store_db(c->store)));
        return 0;
    }
    return set_error(c, store_error(c->store, rc), "cannot store a pulled %s row: %s",
                     ts->table, sqlite3_errmsg(store_db(c->store)));
}

/* Never hands out a reference number up to n again (meta ref_seq). */
static int keep_ref_seq(struct sync_client *c, unsigned long long n)
{
    sqlite3_stmt *m = store_stmt(c->store,
        "INSERT INTO meta (key, value) VALUES ('ref_seq', ?1) ON CONFLICT (key) DO UPDATE"
        " SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))");
    int rc;

    if (!m)
        return -EIO;
    sqlite3_bind_int64(m, 1, (sqlite3_int64)n);
    rc = sqlite3_step(m);
    sqlite3_reset(m);
    return rc == SQLITE_DONE ? 0 : set_error(c, store_error(c->store, rc),
                                             "cannot keep the reference counter");
}

/* Applies one table block of a pull page. Areas go parents first:
 * provinces, then districts, sub-districts, villages. */
static int apply_block(struct sync_client *c, const cJSON *blk, long *applied)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(blk, "table");
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(blk, "cols");
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(blk, "rows");
    struct block bk = { 0 };
    unsigned long long max_ref = 0;
    long skipped = 0;
    int passes, r;

    if (!cJSON_IsString(name) || !cJSON_IsArray(cols) || !cJSON_IsArray(rows))
        return set_error(c, -EPROTO, "a pull page has a malformed table block");
    bk.k = record_kind_find(name->valuestring);
    if (!bk.k) {
        log_info("sync: pull: table '%.40s' is unknown here; skipped", name->valuestring);
        return 0;
    }
    bk.ncols = cJSON_GetArraySize(cols);
    if (bk.ncols <= 0 || bk.ncols > 64)
        return set_error(c, -EPROTO, "a pull page's %s block has %d columns", bk.k->table,
                         bk.ncols);
    r = block_prepare(c, &bk, cols);
    if (r < 0 || !bk.st)
        return r;
    passes = strcmp(bk.k->table, "area") == 0 && bk.level_col >= 0 ? 4 : 1;
    for (int pass = 1; pass <= passes && r >= 0; pass++) {
        const cJSON *row;
        cJSON_ArrayForEach(row, rows) {
            if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != bk.ncols) {
                r = set_error(c, -EPROTO, "a pulled %s row has the wrong length", bk.k->table);
                break;
            }
            if (passes > 1) {
                const cJSON *lv = cJSON_GetArrayItem(row, bk.level_col);
                int64_t level;
                if (json_int(lv, &level) < 0 || level < 1 || level > 4)
                    level = 4;
                if (level != pass)
                    continue;
            }
            r = block_row(c, &bk, row);
            if (r < 0)
                break;
            if (r == 0) {
                skipped++;
                continue;
            }
            (*applied)++;
            if (own_ref(c, &bk, row) > max_ref)
                max_ref = own_ref(c, &bk, row);
        }
    }
    sqlite3_finalize(bk.st);
    if (r >= 0 && max_ref > 0)
        r = keep_ref_seq(c, max_ref);
    if (skipped)
        log_warning("sync: pull: %ld %s row(s) skipped (bad cells or constraints)", skipped,
                    bk.k->table);
    if (!bk.k->synced && r >= 0)
        c->refdata_changed = 1;
    return r < 0 ? r : 0;
}

int pull_apply(struct sync_client *c)
{
    char *plain = NULL;
    size_t plain_len = 0;
    cJSON *doc = NULL;
    const cJSON *cursor, *more, *tbls, *blk;
    long applied = 0;
    int r;

    r = inflate_body(c, &plain, &plain_len);
    if (r < 0) {
        set_error(c, r == -EMSGSIZE ? -EPROTO : r, "the hub's pull answer does not "
                  "decompress (%s)", c->q->hdr_enc);
        return r == -EMSGSIZE ? -EPROTO : -EIO;
    }
    doc = cJSON_ParseWithLength(plain, plain_len);
    free(plain);
    cursor = cJSON_GetObjectItemCaseSensitive(doc, "cursor");
    more = cJSON_GetObjectItemCaseSensitive(doc, "more");
    tbls = cJSON_GetObjectItemCaseSensitive(doc, "tables");
    if (!doc || !cJSON_IsString(cursor) || strlen(cursor->valuestring) > CURSOR_MAX ||
        (tbls && !cJSON_IsArray(tbls))) {
        r = set_error(c, -EPROTO, "the hub's pull answer is not valid");
        goto out;
    }
    for (const char *p = cursor->valuestring; *p; p++)
        if (!isgraph((unsigned char)*p)) {
            r = set_error(c, -EPROTO, "the hub's pull cursor is not printable");
            goto out;
        }
    r = store_begin_bg(c->store);
    if (r < 0) {
        set_error(c, r, "the store is busy; the page will be fetched again");
        goto out;
    }
    observe_hub_clock(c, doc);
    r = store_exec(c->store, "INSERT INTO sync_apply (active) VALUES (1)");
    cJSON_ArrayForEach(blk, tbls) {
        if (r < 0)
            break;
        r = apply_block(c, blk, &applied);
    }
    if (r == 0)
        r = store_exec(c->store, "DELETE FROM sync_apply");
    if (r == 0)
        r = store_meta_set(c->store, "sync.pull_cursor", cursor->valuestring);
    r = store_end(c->store, r);
    if (r < 0) {
        if (!c->error[0])
            set_error(c, r, "cannot apply a pulled page: %s", strerror(-r));
        goto out;
    }
    c->stats.rows_pulled += applied;
    if (!cJSON_IsTrue(more))
        c->phase = PH_DONE;
out:
    cJSON_Delete(doc);
    return r;
}

