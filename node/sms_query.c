/* sms_query.c - the SMS codes that ask and write nothing: KODE (the code
 * lists), CKL (areas of the district by name) and LAPK (a case's state by
 * its reference). Each answers in one reply. */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sms_int.h"
#include "sms_len.h"

static const struct { const char *type, *list, *word; } kode_types[] = {
    { "SP", "species", "spesies" }, { "TAN", "sign", "tanda" },
    { "SIN", "syndrome", "sindrom" }, { "PNY", "disease", "penyakit" },
    { "PK", "outcome", "hasil" },
};

/* "KODE SIN: MMU label, MMD label, ..." in one SMS: labels of up to 10
 * characters; the codes that do not fit are counted ("+12 lagi"). */
static int kode_list(struct sms_job *j, size_t t)
{
    sqlite3_stmt *st = store_stmt(j->s,
        "SELECT code, label_id FROM code_list WHERE list = ?1 AND active = 1 ORDER BY code");
    char item[80];
    struct sms_sb b;
    size_t kept;
    int n = 0, left = 0;

    if (!st)
        return -EIO;
    sms_sb_init(&b, j->reply, sizeof(j->reply));
    sms_sb_add(&b, TAG "KODE %s:", kode_types[t].type);
    sqlite3_bind_text(st, 1, kode_types[t].list, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        char lbl[64];
        snprintf(lbl, sizeof(lbl), "%s", (const char *)sqlite3_column_text(st, 1));
        sms_clip(lbl, 10);
        snprintf(item, sizeof(item), "%s %s %s", n ? "," : "",
                 (const char *)sqlite3_column_text(st, 0), lbl);
        kept = b.len;
        if (!left) {
            int fits;
            sms_sb_add(&b, "%s +99 lagi", item);      /* room for the count of the rest */
            fits = !b.full && sms_fits(j->reply);
            j->reply[kept] = '\0';
            b.len = kept;
            b.full = 0;
            if (fits) {
                sms_sb_add(&b, "%s", item);
                n++;
                continue;
            }
        }
        left++;
    }
    sqlite3_reset(st);
    if (left)
        sms_sb_add(&b, " +%d lagi", left);
    return 0;
}

int sms_do_kode(struct sms_job *j)
{
    size_t t, n_types = sizeof(kode_types) / sizeof(kode_types[0]);
    struct sms_sb b;

    j->res->status = SMS_ANSWERED;
    if (!j->m.query[0]) {
        sms_sb_init(&b, j->reply, sizeof(j->reply));
        sms_sb_add(&b, TAG "Daftar kode:");
        for (t = 0; t < n_types; t++)
            sms_sb_add(&b, "%s KODE %s (%s)", t ? "," : "", kode_types[t].type, kode_types[t].word);
        return 0;
    }
    for (t = 0; t < n_types; t++)
        if (strcmp(j->m.query, kode_types[t].type) == 0)
            break;
    if (t == n_types)
        return sms_refuse_format(j, "jenis kode tidak dikenal", j->m.query);
    return kode_list(j, t);
}


int sms_do_ckl(struct sms_job *j)
{
    char pattern[2 * SMS_QUERY_MAX + 3];
    size_t n = 0;
    struct sms_sb b;
    int found = 0;
    sqlite3_stmt *st = store_stmt(j->s,
        "SELECT code, name, level FROM area WHERE name LIKE ?1 ESCAPE '\\' AND level >= 2"
        " ORDER BY level, name LIMIT 10");

    if (!st)
        return -EIO;
    pattern[n++] = '%';
    for (const char *q = j->m.query; *q; q++) {
        if (*q == '%' || *q == '_' || *q == '\\')
            pattern[n++] = '\\';
        pattern[n++] = *q;
    }
    pattern[n++] = '%';
    pattern[n] = '\0';
    sqlite3_bind_text(st, 1, pattern, -1, SQLITE_STATIC);
    sms_sb_init(&b, j->reply, sizeof(j->reply));
    sms_sb_add(&b, TAG);
    while (sqlite3_step(st) == SQLITE_ROW) {
        static const char *const level_word[] = { "", "provinsi", "kab/kota", "kec.", "desa" };
        int lvl = sqlite3_column_int(st, 2);
        sms_sb_add(&b, "%s%s (%s): %s", found ? "; " : "", (const char *)sqlite3_column_text(st, 1),
               level_word[lvl >= 1 && lvl <= 4 ? lvl : 0],
               (const char *)sqlite3_column_text(st, 0));
        found++;
    }
    sqlite3_reset(st);
    if (!found)
        sms_sb_add(&b, "Tidak ada wilayah bernama '%s' di kabupaten ini.", j->m.query);
    j->res->status = SMS_ANSWERED;
    return 0;
}


int sms_do_lapk(struct sms_job *j)
{
    char id[UUID_STR_LEN], place[128], lbl[64];
    sqlite3_stmt *st;
    cJSON *arr, *it;
    struct sms_sb b;
    int r;

    r = sms_find_case(j, id);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    st = store_stmt(j->s, "SELECT kind, village, coalesce(syndrome, ''), signs, animals, "
                          "event_date FROM case_report WHERE id = ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return -EIO;
    }
    sms_sb_init(&b, j->reply, sizeof(j->reply));
    sms_sb_add(&b, TAG "[ID kasus %s] %s %s, %s: ", j->res->ref,
           (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 5),
           sms_area_name(j, (const char *)sqlite3_column_text(st, 1), place, sizeof(place)));
    arr = cJSON_Parse((const char *)sqlite3_column_text(st, 4));
    r = 0;
    cJSON_ArrayForEach(it, arr) {
        const char *sp = cJSON_GetStringValue(cJSON_GetObjectItem(it, "species"));
        sms_sb_add(&b, "%s%.0f %s", r++ ? ", " : "",
               cJSON_GetNumberValue(cJSON_GetObjectItem(it, "sick")),
               sms_label(j, "species", sp ? sp : "?", lbl, sizeof(lbl)));
    }
    cJSON_Delete(arr);
    if (((const char *)sqlite3_column_text(st, 2))[0]) {
        sms_sb_add(&b, "; sindrom %s", sms_label(j, "syndrome",
                                         (const char *)sqlite3_column_text(st, 2), lbl,
                                         sizeof(lbl)));
    } else {
        arr = cJSON_Parse((const char *)sqlite3_column_text(st, 3));
        r = 0;
        cJSON_ArrayForEach(it, arr) {
            const char *sg = cJSON_GetStringValue(it);
            sms_sb_add(&b, "%s%s", r++ ? ", " : "; tanda ",
                   sms_label(j, "sign", sg ? sg : "?", lbl, sizeof(lbl)));
        }
        cJSON_Delete(arr);
    }
    sqlite3_reset(st);
    st = store_stmt(j->s, "SELECT outcome, event_date FROM case_followup WHERE case_id = ?1"
                          " AND outcome IS NOT NULL AND deleted = 0 ORDER BY hlc DESC LIMIT 1");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        sms_sb_add(&b, ". Hasil: %s (%s).", sms_label(j, "outcome",
               (const char *)sqlite3_column_text(st, 0), lbl, sizeof(lbl)),
               (const char *)sqlite3_column_text(st, 1));
    else
        sms_sb_add(&b, ". Hasil: belum dilaporkan.");
    sqlite3_reset(st);
    j->res->status = SMS_ANSWERED;
    return 0;
}
