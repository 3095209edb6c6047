/* sms_query.c - the SMS codes that ask and write nothing: KODE (the code
 * lists), CKL (areas of the district by name) and LAPK (a case's state by
 * its reference). Each answers in one reply. */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sms_int.h"

int sms_do_kode(struct sms_job *j)
{
    static const struct { const char *type, *list, *word; } types[] = {
        { "SP", "species", "spesies" }, { "TAN", "sign", "tanda" },
        { "SIN", "syndrome", "sindrom" }, { "PNY", "disease", "penyakit" },
        { "PK", "outcome", "hasil" },
    };
    struct sms_sb b;
    size_t t;

    sms_sb_init(&b, j->reply, sizeof(j->reply));
    j->res->status = SMS_ANSWERED;
    if (!j->m.query[0]) {
        sms_sb_add(&b, TAG "Daftar kode:");
        for (t = 0; t < sizeof(types) / sizeof(types[0]); t++)
            sms_sb_add(&b, "%s KODE %s (%s)", t ? "," : "", types[t].type, types[t].word);
        return 0;
    }
    for (t = 0; t < sizeof(types) / sizeof(types[0]); t++)
        if (strcmp(j->m.query, types[t].type) == 0)
            break;
    if (t == sizeof(types) / sizeof(types[0]))
        return sms_refuse_format(j, "jenis kode tidak dikenal", j->m.query);
    sqlite3_stmt *st = store_stmt(j->s,
        "SELECT code, label_id FROM code_list WHERE list = ?1 AND active = 1 ORDER BY code");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, types[t].list, -1, SQLITE_STATIC);
    sms_sb_add(&b, TAG "KODE %s:", types[t].type);
    for (int n = 0; n < 200 && sqlite3_step(st) == SQLITE_ROW; n++)
        sms_sb_add(&b, "%s %s %s", n ? "," : "", (const char *)sqlite3_column_text(st, 0),
               (const char *)sqlite3_column_text(st, 1));
    sqlite3_reset(st);
    return 0;
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
           sms_area_name(j->s, (const char *)sqlite3_column_text(st, 1), place, sizeof(place)));
    arr = cJSON_Parse((const char *)sqlite3_column_text(st, 4));
    r = 0;
    cJSON_ArrayForEach(it, arr) {
        const char *sp = cJSON_GetStringValue(cJSON_GetObjectItem(it, "species"));
        sms_sb_add(&b, "%s%.0f %s", r++ ? ", " : "",
               cJSON_GetNumberValue(cJSON_GetObjectItem(it, "sick")),
               sms_label(j->s, "species", sp ? sp : "?", lbl, sizeof(lbl)));
    }
    cJSON_Delete(arr);
    if (((const char *)sqlite3_column_text(st, 2))[0]) {
        sms_sb_add(&b, "; sindrom %s", sms_label(j->s, "syndrome",
                                         (const char *)sqlite3_column_text(st, 2), lbl,
                                         sizeof(lbl)));
    } else {
        arr = cJSON_Parse((const char *)sqlite3_column_text(st, 3));
        r = 0;
        cJSON_ArrayForEach(it, arr) {
            const char *sg = cJSON_GetStringValue(it);
            sms_sb_add(&b, "%s%s", r++ ? ", " : "; tanda ",
                   sms_label(j->s, "sign", sg ? sg : "?", lbl, sizeof(lbl)));
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
        sms_sb_add(&b, ". Hasil: %s (%s).", sms_label(j->s, "outcome",
               (const char *)sqlite3_column_text(st, 0), lbl, sizeof(lbl)),
               (const char *)sqlite3_column_text(st, 1));
    else
        sms_sb_add(&b, ". Hasil: belum dilaporkan.");
    sqlite3_reset(st);
    j->res->status = SMS_ANSWERED;
    return 0;
}
