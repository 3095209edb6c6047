/* batch_coldec2.c - what version 2 of the columnar batch (columnar-2,
 * docs/protocol.md §4.10) reads differently from version 1: its binary
 * head, without the node (the hub has it from the client certificate),
 * the frame of a packed stream (one byte for a constant stream, small
 * minimums of differences in one or two bytes), and the kind's own column
 * names when the table sends none. The rest is version 1's reader
 * (batch_coldec.c), which calls these. Strict as it: a bad frame or head
 * refuses the whole batch. */
#include "batch.h"
#include "batch_col.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

static int varint(const unsigned char **p, const unsigned char *end, uint64_t *v,
                  const char **why)
{
    uint64_t x = 0;

    for (int shift = 0; shift < 64; shift += 7) {
        unsigned b;
        if (*p >= end) {
            *why = "truncated";
            return -EBADMSG;
        }
        b = *(*p)++;
        if (shift == 63 && b > 1)
            break;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    *why = "a number over 64 bits";
    return -EBADMSG;
}

int col2_frame(const unsigned char **p, const unsigned char *end, uint64_t *lo,
               unsigned *mode, uint64_t *span, const char **why)
{
    unsigned m, sgn;
    int r;

    if (*p >= end) {
        *why = "truncated";
        return -EBADMSG;
    }
    m = *(*p)++;
    sgn = m & COL2_SIGNED;
    m &= ~COL2_SIGNED;
    *lo = 0;
    *span = 0;
    if (m == COL2_ZERO) {
        *mode = 0;
    } else if (m <= 64 || m == COL2_RADIX) {
        *mode = m;
        if ((r = varint(p, end, lo, why)) < 0)
            return r;
        if (m == COL2_RADIX && (r = varint(p, end, span, why)) < 0)
            return r;
    } else {
        *why = "a width over 64 bits";
        return -EBADMSG;
    }
    if (sgn)
        *lo = sx(zz_dec(*lo));
    return 0;
}

int col2_head(const unsigned char **p, const unsigned char *end, const char *node,
              cJSON **ret, const char **why)
{
    uint64_t last, base, hlc;
    char h[24];
    cJSON *doc;
    int r;

    *ret = NULL;
    if (!node) {
        *why = "version 2 needs the node's certificate";
        return -EBADMSG;
    }
    if ((r = varint(p, end, &last, why)) < 0 || (r = varint(p, end, &base, why)) < 0 ||
        (r = varint(p, end, &hlc, why)) < 0)
        return r;
    if (last > (1ull << 53) || base > (1ull << 53) + 1) {
        *why = "a sequence number beyond its range";
        return -EBADMSG;
    }
    snprintf(h, sizeof(h), "%llu", (unsigned long long)hlc);
    doc = cJSON_CreateObject();
    if (!doc || !cJSON_AddNumberToObject(doc, "v", 1) ||
        !cJSON_AddStringToObject(doc, "node", node) ||
        !cJSON_AddNumberToObject(doc, "last_seq", (double)last) ||
        (base && !cJSON_AddNumberToObject(doc, "base_seq", (double)(base - 1))) ||
        !cJSON_AddStringToObject(doc, "hlc", h)) {
        cJSON_Delete(doc);
        return -ENOMEM;
    }
    *ret = doc;
    return 0;
}

int col2_names(const struct record_kind *k, const char **names)
{
    if (k->ncols + 1 > COL_MAX_COLS)
        return -EBADMSG;
    names[0] = "seq";
    for (int i = 0; i < k->ncols; i++)
        names[i + 1] = k->cols[i].name;
    return k->ncols + 1;
}
