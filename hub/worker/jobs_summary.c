/* jobs_summary.c - the weekly summary of a province: the week's epi table
 * (sikhnas_week_epi(), the one place its figures come from), the priority
 * events and the silent districts, in plain text and HTML, with the table
 * attached as CSV. Queued by sikhnas_schedule_summaries() at Monday 07:00
 * in the province's time zone. The figures are the reporting schema's
 * (010_report.sql), brought up to date first. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "worker.h"

struct summary {
    struct strbuf text, html, csv;
    int silent;
};

/* CSV cell: quoted when it holds a comma, a quote or a line break. */
static int csv_cell(struct strbuf *b, const char *s, int last)
{
    int r = 0;

    if (strpbrk(s, ",\"\r\n")) {
        r = strbuf_str(b, "\"");
        for (; *s && r == 0; s++)
            r = *s == '"' ? strbuf_str(b, "\"\"") : strbuf_add(b, s, 1);
        if (r == 0)
            r = strbuf_str(b, "\"");
    } else {
        r = strbuf_str(b, s);
    }
    return r ? r : strbuf_str(b, last ? "\r\n" : ",");
}

static int epi_table(struct summary *s, PGresult *e)
{
    static const char *const head[] = { "kode", "kabupaten/kota", "laporan", "prioritas",
                                        "sakit", "mati", "minggu laporan terakhir" };
    int r = strbuf_str(&s->text, "Tabel epidemiologi minggu ini\n"
                                 "kode  kabupaten/kota                     lap  prio  sakit   mati\n");

    for (int c = 0; c < 7 && r == 0; c++)
        r = csv_cell(&s->csv, head[c], c == 6);
    if (r == 0)
        r = strbuf_str(&s->html, "<h2>Tabel epidemiologi</h2>\n<table border=\"1\" "
                       "cellpadding=\"3\"><tr><th>kode</th><th>kabupaten/kota</th><th>laporan"
                       "</th><th>prioritas</th><th>sakit</th><th>mati</th></tr>\n");
    for (int i = 0; i < PQntuples(e) && r == 0; i++) {
#define V(c) PQgetvalue(e, i, (c))
        r = strbuf_fmt(&s->text, "%-5s %-34.34s %4s %5s %6s %6s\n", V(0), V(1), V(2), V(3),
                       V(4), V(5));
        for (int c = 0; c < 7 && r == 0; c++)
            r = csv_cell(&s->csv, V(c), c == 6);
        if (r == 0)
            r = strbuf_fmt(&s->html, "<tr><td>%s</td><td>", V(0));
        if (r == 0)
            r = mail_html(&s->html, V(1));
        if (r == 0)
            r = strbuf_fmt(&s->html, "</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
                           V(2), V(3), V(4), V(5));
#undef V
    }
    return r ? r : strbuf_str(&s->html, "</table>\n");
}

static int silent_list(struct summary *s, PGresult *e)
{
    int r = strbuf_str(&s->text, "\nKabupaten/kota tanpa laporan minggu ini (diam):\n");

    if (r == 0)
        r = strbuf_str(&s->html, "<h2>Kabupaten/kota tanpa laporan (diam)</h2>\n<ul>\n");
    for (int i = 0; i < PQntuples(e) && r == 0; i++) {
        const char *last = PQgetvalue(e, i, 6);

        if (strcmp(PQgetvalue(e, i, 2), "0"))
            continue;
        s->silent++;
        r = strbuf_fmt(&s->text, "  - %s %s (laporan terakhir: minggu %s)\n", PQgetvalue(e, i, 0),
                       PQgetvalue(e, i, 1), last[0] ? last : "belum pernah");
        if (r == 0)
            r = strbuf_str(&s->html, "<li>");
        if (r == 0)
            r = mail_html(&s->html, PQgetvalue(e, i, 1));
        if (r == 0)
            r = strbuf_fmt(&s->html, " (%s)</li>\n", last[0] ? last : "belum pernah");
    }
    if (r == 0 && !s->silent)
        r = strbuf_str(&s->text, "  (tidak ada)\n");
    return r ? r : strbuf_str(&s->html, "</ul>\n");
}

static int priority_list(struct summary *s, PGresult *p, const char *base_url)
{
    int r = strbuf_fmt(&s->text, "\nKejadian prioritas (%d):\n", PQntuples(p));

    if (r == 0)
        r = strbuf_fmt(&s->html, "<h2>Kejadian prioritas (%d)</h2>\n<ul>\n", PQntuples(p));
    for (int i = 0; i < PQntuples(p) && r == 0; i++) {
#define V(c) PQgetvalue(p, i, (c))
        r = strbuf_fmt(&s->text, "  - %s %s %s (%s), Desa %s, %s, %s: %s/cases/%s\n", V(1),
                       V(2), V(3), V(4), V(5), V(6), V(7), base_url, V(0));
        if (r == 0)
            r = strbuf_fmt(&s->html, "<li>%s <a href=\"%s/cases/%s\">%s</a> %s (", V(2), base_url,
                           V(0), V(1), V(3));
        if (r == 0)
            r = mail_html(&s->html, V(4));
        if (r == 0)
            r = strbuf_str(&s->html, "), Desa ");
        if (r == 0)
            r = mail_html(&s->html, V(5));
        if (r == 0)
            r = strbuf_fmt(&s->html, ", %s</li>\n", V(7));
#undef V
    }
    if (r == 0 && PQntuples(p) == 0)
        r = strbuf_str(&s->text, "  (tidak ada)\n");
    return r ? r : strbuf_str(&s->html, "</ul>\n");
}

/* the week's priority events (report.priority_event, a table kept by the upkeep since
 * 013_report_rollups.sql) */
static const char priority_sql[] =
    "SELECT p.id, p.ref, p.event_date::text, coalesce(p.syndrome, ''), "
    "  coalesce(s.label_id, p.syndrome, ''), coalesce(v.name, p.village), "
    "  coalesce(d.name, p.district), CASE WHEN p.open THEN 'terbuka' ELSE 'selesai' END "
    "FROM report.priority_event p "
    "LEFT JOIN code_list s ON s.list = 'syndrome' AND s.code = p.syndrome "
    "LEFT JOIN area v ON v.code = p.village LEFT JOIN area d ON d.code = p.district "
    "WHERE p.province = $1 AND p.event_date >= $2::date AND p.event_date < $3::date "
    "ORDER BY p.event_date, p.ref LIMIT 200";

/* Brings the province's weekly aggregates up to date before they are read:
 * upkeep, then no dirty key of the province's weeks may be left (one that
 * another session's upkeep holds is done when it commits). Waits up to 10 s
 * for that; then fails, to be retried, rather than send stale figures. */
static int aggregates_current(struct job_ctx *ctx, const char *const p[3])
{
    PGresult *res = NULL;
    int r = 0;

    for (int i = 0; i < 50 && r == 0; i++) {
        r = job_query(ctx, "SELECT sikhnas_aggregate_upkeep()", 0, NULL, NULL);
        if (r == 0)
            r = job_query(ctx, "SELECT count(*) FROM report.dirty WHERE kind IN ('case', 'prio') "
                               "AND left(district, 2) = $1 AND week >= $2::date "
                               "AND week < $3::date", 3, p, &res);
        if (r == 0 && strcmp(PQgetvalue(res, 0, 0), "0") == 0) {
            PQclear(res);
            return 0;
        }
        PQclear(res);
        res = NULL;
        nanosleep(&(struct timespec){ 0, 200000000L }, NULL);
    }
    return r < 0 ? r : job_fail(ctx, -EAGAIN, 0, "the weekly aggregates of province %s are "
                                "still being recomputed", p[0]);
}

static const char *str(const cJSON *doc, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, k);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int job_summary(struct job_ctx *ctx, const struct job *j)
{
    cJSON *doc = cJSON_Parse(j->payload);
    const char *p[3] = { str(doc, "province"), str(doc, "from"), str(doc, "to") };
    struct summary s = { 0 };
    struct strbuf subject = { 0 }, fname = { 0 };
    PGresult *e = NULL, *pr = NULL, *name = NULL;
    char **to = NULL;
    int nto = 0, r;

    if (!p[0] || !p[1] || !p[2]) {
        r = job_fail(ctx, -EINVAL, 1, "payload needs province, from and to");
        goto out;
    }
    r = job_recipients(ctx, "vet,analyst", p[0], 0, &to, &nto);
    if (r == 0)
        r = aggregates_current(ctx, p);
    if (r == 0)
        r = job_query(ctx, "SELECT coalesce((SELECT name FROM area WHERE code = $1), $1), "
                           "to_char($2::date, 'DD-MM-YYYY'), to_char($3::date - 1, 'DD-MM-YYYY')",
                      3, p, &name);
    if (r == 0)
        r = job_query(ctx, "SELECT * FROM sikhnas_week_epi($1, $2::date, $3::date)", 3, p, &e);
    if (r == 0)
        r = job_query(ctx, priority_sql, 3, p, &pr);
    if (r < 0)
        goto out;
#define N(c) PQgetvalue(name, 0, (c))
    if (strbuf_fmt(&s.text, "Ringkasan mingguan SIKHNAS, Provinsi %s\nMinggu %s s.d. %s\n\n",
                   N(0), N(1), N(2)) < 0 ||
        strbuf_str(&s.html, "<html><body><h1>Ringkasan mingguan SIKHNAS, Provinsi ") < 0 ||
        mail_html(&s.html, N(0)) < 0 ||
        strbuf_fmt(&s.html, "</h1><p>Minggu %s s.d. %s</p>\n", N(1), N(2)) < 0 ||
        epi_table(&s, e) < 0 || priority_list(&s, pr, ctx->cfg->base_url) < 0 ||
        silent_list(&s, e) < 0 ||
        strbuf_str(&s.text, "\nTabel lengkap terlampir (CSV). Email ini dikirim otomatis; "
                            "jangan dibalas.\n") < 0 ||
        strbuf_str(&s.html, "<p>Tabel lengkap terlampir (CSV).</p></body></html>\n") < 0 ||
        strbuf_fmt(&subject, "[SIKHNAS] Ringkasan mingguan %s, %s s.d. %s", N(0), N(1),
                   N(2)) < 0 ||
        strbuf_fmt(&fname, "sikhnas-%s-%s.csv", p[0], p[1]) < 0) {
        r = job_fail(ctx, -ENOMEM, 0, "out of memory");
        goto out;
    }
#undef N
    r = mail_send(ctx, &(struct mail){
        .subject = subject.p, .key = j->key, .to = to, .nto = nto, .text = s.text.p,
        .html = s.html.p,
        .attach = &(struct mail_part){ .type = "text/csv; charset=UTF-8", .data = s.csv.p,
                                       .len = s.csv.len, .filename = fname.p } });
out:
    job_recipients_free(to, nto);
    strbuf_free(&s.text);
    strbuf_free(&s.html);
    strbuf_free(&s.csv);
    strbuf_free(&subject);
    strbuf_free(&fname);
    PQclear(e);
    PQclear(pr);
    PQclear(name);
    cJSON_Delete(doc);
    return r;
}
