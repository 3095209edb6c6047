/* sms_gateway.c - the configured SMS gateway and the health of the spool's
 * outgoing folder (sms_gateway.h). A reply file that stays in outgoing/
 * for minutes was not taken by the gateway: it is stopped, reads another
 * folder, or ignores our file names; `status` and the web dashboard say so. */
#include "sms_gateway.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"

int sms_gateway_parse(const char *name, enum sms_gateway *ret)
{
    if (strcasecmp(name, "gammu") == 0)
        *ret = SMS_GATEWAY_GAMMU;
    else if (strcasecmp(name, "smstools") == 0)
        *ret = SMS_GATEWAY_SMSTOOLS;
    else
        return -EINVAL;
    return 0;
}

const char *sms_gateway_name(enum sms_gateway g)
{
    return g == SMS_GATEWAY_GAMMU ? "gammu" : g == SMS_GATEWAY_SMSTOOLS ? "smstools" : "";
}

int sms_outgoing_check(const char *dir, struct sms_outgoing_health *h)
{
    char path[1200], file[1500];
    struct dirent *de;
    time_t now = time(NULL);
    DIR *d;
    int n = 0;

    memset(h, 0, sizeof(*h));
    if ((size_t)snprintf(path, sizeof(path), "%s/outgoing", dir) >= sizeof(path))
        return -ENAMETOOLONG;
    d = opendir(path);
    if (!d)
        return -errno;
    while ((de = readdir(d)) && n++ < 10000) {
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
        if (lstat(file, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        h->files++;
        long long age = (long long)(now - st.st_mtime);
        if (age < SMS_STUCK_S)
            continue;
        h->stuck++;
        if (age > h->oldest_s) {
            h->oldest_s = age;
            snprintf(h->oldest, sizeof(h->oldest), "%s", de->d_name);
        }
    }
    closedir(d);
    return 0;
}

void sms_gateway_remember(struct store *s, const char *dir, enum sms_gateway g)
{
    char old[1100] = "";
    int r = 0;

    if (store_meta_get(s, "sms_spool", old, sizeof(old)) < 0 || strcmp(old, dir) != 0)
        r = store_meta_set(s, "sms_spool", dir);
    if (r == 0 && (store_meta_get(s, "sms_gateway", old, sizeof(old)) < 0 ||
                   strcmp(old, sms_gateway_name(g)) != 0))
        r = store_meta_set(s, "sms_gateway", sms_gateway_name(g));
    if (r < 0)      /* only `status` reads them: the spool works without */
        log_errno(LOG_WARNING, r, "sms: cannot note the spool in the store for `status`");
}

static long long unwritten(struct store *s)
{
    sqlite3_stmt *st;
    long long n = -1;

    if (sqlite3_prepare_v2(store_db(s), "SELECT count(*) FROM sms_out WHERE written = 0", -1,
                           &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

const char *sms_status_add(struct store *s, cJSON *o)
{
    char dir[1100] = "", gw[32] = "", warn[1800] = "";
    struct sms_outgoing_health h;
    cJSON *sms, *w;
    int r;

    if (store_meta_get(s, "sms_spool", dir, sizeof(dir)) < 0 || !dir[0]) {
        cJSON_AddNullToObject(o, "sms");
        return NULL;
    }
    (void) store_meta_get(s, "sms_gateway", gw, sizeof(gw));
    sms = cJSON_AddObjectToObject(o, "sms");
    if (!sms)
        return NULL;
    cJSON_AddStringToObject(sms, "spool", dir);
    cJSON_AddStringToObject(sms, "gateway", gw);
    cJSON_AddNumberToObject(sms, "unwritten", (double)unwritten(s));
    r = sms_outgoing_check(dir, &h);
    if (r < 0) {
        snprintf(warn, sizeof(warn), "cannot read %s/outgoing: %s", dir, strerror(-r));
    } else {
        cJSON_AddNumberToObject(sms, "outgoing", h.files);
        cJSON_AddNumberToObject(sms, "stuck", h.stuck);
        cJSON_AddNumberToObject(sms, "oldest_stuck_s", (double)h.oldest_s);
        if (h.stuck)
            snprintf(warn, sizeof(warn), "%d SMS file(s) in %s/outgoing not picked up by the "
                     "gateway (%s) within %d s (oldest: %s, %lld s old): is it running, and "
                     "reading this folder?", h.stuck, dir, gw[0] ? gw : "?", SMS_STUCK_S,
                     h.oldest, h.oldest_s);
    }
    w = warn[0] ? cJSON_AddStringToObject(sms, "warning", warn)
                : cJSON_AddNullToObject(sms, "warning");
    return cJSON_IsString(w) ? w->valuestring : NULL;
}

void sms_status_print(const cJSON *o, FILE *fp)
{
    const cJSON *sms = cJSON_GetObjectItemCaseSensitive(o, "sms");
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(sms, "warning");

    if (!cJSON_IsObject(sms))
        return;
    fprintf(fp, "sms spool:       %s (%s)\n",
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sms, "spool")),
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sms, "gateway")));
    if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(sms, "outgoing")))
        fprintf(fp, "sms outgoing:    %.0f file(s), %.0f not picked up\n",
                cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(sms, "outgoing")),
                cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(sms, "stuck")));
    fprintf(fp, "sms unwritten:   %.0f\n",
            cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(sms, "unwritten")));
    if (cJSON_IsString(w))
        fprintf(fp, "WARNING:         %s\n", w->valuestring);
}
