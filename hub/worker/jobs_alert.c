/* jobs_alert.c - the priority-syndrome alert: an email in Bahasa Indonesia
 * to the province's and the national veterinary officers, with the case,
 * its place, its counts and a link to the case page. An update (the
 * syndrome or the counts changed) follows the first message. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "worker.h"

enum { F_ID, F_REF, F_SYN, F_SYN_LABEL, F_DISEASE, F_DATE, F_VILLAGE, F_VILLAGE_NAME,
       F_SUBDISTRICT, F_DISTRICT, F_PROVINCE, F_PROV_CODE, F_REPORTER, F_NOTE, F_LAT, F_LON,
       F_ANIMALS, F_DELETED, F_RECEIVED, F_NODE };

static const char facts_sql[] =
    "SELECT c.id, c.ref, coalesce(c.syndrome, ''), coalesce(s.label_id, c.syndrome, '?'), "
    "  coalesce(dz.label_id, s.parent, ''), c.event_date::text, c.village, "
    "  coalesce(v.name, c.village), coalesce(k.name, ''), coalesce(d.name, left(c.village, 4)), "
    "  coalesce(p.name, left(c.village, 2)), left(c.village, 2), coalesce(c.reporter, ''), "
    "  coalesce(c.note, ''), coalesce(round(ST_Y(c.geom)::numeric, 5)::text, ''), "
    "  coalesce(round(ST_X(c.geom)::numeric, 5)::text, ''), "
    "  coalesce((SELECT string_agg(format('  - %s: sakit %s, mati %s, berisiko %s', "
    "      coalesce(sp.label_id, a ->> 'species'), coalesce(a ->> 'sick', '0'), "
    "      coalesce(a ->> 'dead', '0'), coalesce(a ->> 'at_risk', '-')), E'\\n') "
    "    FROM jsonb_array_elements(c.animals) a "
    "    LEFT JOIN code_list sp ON sp.list = 'species' AND sp.code = a ->> 'species'), ''), "
    "  c.deleted, to_char(c.received_at AT TIME ZONE report.tz(c.village), "
    "    'YYYY-MM-DD HH24:MI'), c.src_node "
    "FROM case_report c "
    "LEFT JOIN code_list s ON s.list = 'syndrome' AND s.code = c.syndrome "
    "LEFT JOIN code_list dz ON dz.list = 'disease' AND dz.code = s.parent "
    "LEFT JOIN area v ON v.code = c.village "
    "LEFT JOIN area k ON k.code = left(c.village, 6) "
    "LEFT JOIN area d ON d.code = left(c.village, 4) "
    "LEFT JOIN area p ON p.code = left(c.village, 2) "
    "WHERE c.id = $1";

static int alert_text(struct strbuf *b, PGresult *f, const char *base_url, int update)
{
#define V(i) PQgetvalue(f, 0, (i))
    int r = strbuf_fmt(b, "%s\n\n",
                       update ? "PEMBARUAN: jumlah hewan atau sindrom kasus prioritas ini berubah."
                              : "Laporan sindrom prioritas telah diterima oleh SIKHNAS pusat.");
    if (r == 0)
        r = strbuf_fmt(b,
            "Kasus:      %s\n"
            "Sindrom:    %s - %s%s%s%s\n"
            "Tanggal:    %s (diterima %s)\n"
            "Lokasi:     Desa %s (%s), Kec. %s, %s, %s\n",
            V(F_REF), V(F_SYN), V(F_SYN_LABEL), V(F_DISEASE)[0] ? " (dugaan: " : "",
            V(F_DISEASE), V(F_DISEASE)[0] ? ")" : "", V(F_DATE), V(F_RECEIVED),
            V(F_VILLAGE_NAME), V(F_VILLAGE), V(F_SUBDISTRICT), V(F_DISTRICT), V(F_PROVINCE));
    if (r == 0 && V(F_LAT)[0])
        r = strbuf_fmt(b, "Koordinat:  %s, %s\n", V(F_LAT), V(F_LON));
    if (r == 0)
        r = strbuf_fmt(b, "Hewan:\n%s\n", V(F_ANIMALS));
    if (r == 0 && V(F_REPORTER)[0])
        r = strbuf_fmt(b, "Pelapor:    %s\n", V(F_REPORTER));
    if (r == 0 && V(F_NOTE)[0])
        r = strbuf_fmt(b, "Catatan:    %s\n", V(F_NOTE));
    if (r == 0)
        r = strbuf_fmt(b, "\nHalaman kasus: %s/cases/%s\n\n"
                          "Segera tindak lanjuti sesuai prosedur investigasi penyakit prioritas.\n"
                          "Email ini dikirim otomatis oleh SIKHNAS (node %s); jangan dibalas.\n",
                       base_url, V(F_ID), V(F_NODE));
    return r;
#undef V
}

int job_alert(struct job_ctx *ctx, const struct job *j)
{
    cJSON *doc = cJSON_Parse(j->payload);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(doc, "case");
    int update = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "update"));
    struct strbuf text = { 0 }, subject = { 0 }, first = { 0 };
    PGresult *f = NULL;
    char **to = NULL;
    int nto = 0, r;

    if (!cJSON_IsString(id)) {
        r = job_fail(ctx, -EINVAL, 1, "payload has no case id");
        goto out;
    }
    r = job_query(ctx, facts_sql, 1, (const char *const *)&id->valuestring, &f);
    if (r < 0)
        goto out;
    if (PQntuples(f) != 1) {
        r = job_fail(ctx, -ENOENT, 1, "case %s not found", id->valuestring);
        goto out;
    }
    if (!strcmp(PQgetvalue(f, 0, F_DELETED), "1")) {
        log_notice("alert for case %s not sent: the case was deleted", id->valuestring);
        goto out;
    }
    r = job_recipients(ctx, "vet", PQgetvalue(f, 0, F_PROV_CODE), 1, &to, &nto);
    if (r < 0)
        goto out;
    if (alert_text(&text, f, ctx->cfg->base_url, update) < 0 ||
        strbuf_fmt(&subject, "[SIKHNAS] %sSindrom prioritas %s (%s) di %s, %s",
                   update ? "Pembaruan: " : "", PQgetvalue(f, 0, F_SYN),
                   PQgetvalue(f, 0, F_SYN_LABEL), PQgetvalue(f, 0, F_VILLAGE_NAME),
                   PQgetvalue(f, 0, F_DISTRICT)) < 0 ||
        strbuf_fmt(&first, "alert:%s", id->valuestring) < 0) {
        r = job_fail(ctx, -ENOMEM, 0, "out of memory");
        goto out;
    }
    r = mail_send(ctx, &(struct mail){ .subject = subject.p, .key = j->key,
                                      .in_reply_to = update ? first.p : NULL,
                                      .to = to, .nto = nto, .text = text.p });
out:
    job_recipients_free(to, nto);
    strbuf_free(&text);
    strbuf_free(&subject);
    strbuf_free(&first);
    PQclear(f);
    cJSON_Delete(doc);
    return r;
}
