/* import.c - JSON Lines import. Streams the file (memory does not grow with
 * its size), commits in chunks so an officer's save waits at most one chunk,
 * and remembers per file how many lines are committed: a run killed halfway
 * resumes after the last committed line. */
#include "import.h"

#include <assert.h>
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hex.h"
#include "log.h"
#include "records.h"

#define IMPORT_LINE_MAX (64 * 1024)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "import:<size>:<sha256 of the first 64 KiB>" names a file by its content. */
static int file_key(FILE *fp, off_t size, char *key, size_t cap)
{
    unsigned char buf[65536];
    char sum[SHA256_HEX_LEN];
    size_t n = fread(buf, 1, sizeof(buf), fp);

    if (ferror(fp))
        return -EIO;
    sha256_hex(buf, n, sum);
    snprintf(key, cap, "import:%lld:%.32s", (long long)size, sum);   /* 16 bytes of it */
    rewind(fp);
    return 0;
}

static void progress(const struct import_opts *o, const struct import_result *r, off_t pos,
                     off_t size, double t0, int final)
{
    double dt = now_s() - t0;
    fprintf(stderr, "\rimport: %3d%%  %ld lines, %ld imported, %ld rejected, %.0f lines/s%s",
            size > 0 ? (int)(100.0 * (double)pos / (double)size) : 100, r->lines, r->imported,
            r->rejected, dt > 0 ? (double)r->lines / dt : 0.0, final ? "\n" : "  ");
}

static int reject(FILE **rej, const struct import_opts *o, long lineno, const char *line,
                  const char *reason)
{
    char path[4096];
    cJSON *j;
    char *text;

    fprintf(stderr, "%s%s:%ld: %s\n", o->progress ? "\r\033[K" : "", o->path, lineno, reason);
    if (!*rej) {
        if (o->rejects_path)
            snprintf(path, sizeof(path), "%s", o->rejects_path);
        else
            snprintf(path, sizeof(path), "%s.rejects.jsonl", o->path);
        *rej = fopen(path, "w");
        if (!*rej)
            return log_errno(LOG_ERR, -errno, "cannot write rejects file '%s'", path);
    }
    j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "line", (double)lineno);
    cJSON_AddStringToObject(j, "error", reason);
    cJSON_AddStringToObject(j, "input", line);
    text = cJSON_PrintUnformatted(j);
    if (text)
        fprintf(*rej, "%s\n", text);
    free(text);
    cJSON_Delete(j);
    return 0;
}

/* Validates one line and asks whether the importer may write it; on success
 * *in is filled. On refusal reason is set. */
static int check_line(struct validator *v, const struct actor *who, const char *line, size_t len,
                      struct case_report_in *in, char *reason, size_t cap)
{
    struct verr e;
    cJSON *doc;
    int r;

    if (len > IMPORT_LINE_MAX) {
        snprintf(reason, cap, "line is longer than %d bytes", IMPORT_LINE_MAX);
        return -EINVAL;
    }
    r = validate_json_parse(line, len, &doc, &e);
    if (r == 0)
        r = validate_case_report(v, doc, in, &e);
    if (r == 0)
        r = access_check(who, REC_CASE, in, &e);
    cJSON_Delete(doc);
    if (r == -EINVAL || r == -EACCES)
        verr_format(&e, "en", reason, cap);
    else if (r < 0)
        snprintf(reason, cap, "%s", strerror(-r));
    return r;
}

static int blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return 0;
    return 1;
}

int import_jsonl(struct store *s, struct validator *v, const struct import_opts *o,
                 struct import_result *res)
{
    struct case_report_in *in = NULL;
    FILE *fp = NULL, *rej = NULL;
    struct stat st;
    char *line = NULL, key[96], done[64], reason[256];
    char id[UUID_STR_LEN], ref[16];
    size_t cap = 0;
    ssize_t len;
    long lineno = 0, resume_after = 0, in_txn = 0;
    double t0 = now_s(), last_tick = 0;
    int r = 0, open_txn = 0;

    assert(o->actor);
    memset(res, 0, sizeof(*res));
    fp = fopen(o->path, "r");
    if (!fp)
        return log_errno(LOG_ERR, -errno, "cannot read '%s'", o->path);
    if (fstat(fileno(fp), &st) < 0 || file_key(fp, st.st_size, key, sizeof(key)) < 0) {
        r = log_errno(LOG_ERR, -EIO, "cannot read '%s'", o->path);
        goto out;
    }
    in = malloc(sizeof(*in));
    if (!in) {
        r = -ENOMEM;
        goto out;
    }
    if (store_meta_get(s, key, done, sizeof(done)) == 0) {
        if (strncmp(done, "done:", 5) == 0 && !o->again) {
            log_error("'%s' was imported before (%s lines); pass --again to import it again",
                      o->path, done + 5);
            r = -EALREADY;
            goto out;
        }
        if (!o->again) {
            resume_after = strtol(done, NULL, 10);
            log_notice("resuming '%s' after line %ld (an earlier import was interrupted)",
                       o->path, resume_after);
        }
    }

    if (o->strict) {
        long bad = 0;
        while ((len = getline(&line, &cap, fp)) > 0) {
            lineno++;
            if (lineno <= resume_after || blank(line))
                continue;
            if (check_line(v, o->actor, line, (size_t)len, in, reason, sizeof(reason)) < 0) {
                fprintf(stderr, "%s:%ld: %s\n", o->path, lineno, reason);
                bad++;
            }
        }
        if (bad) {
            log_error("'%s': %ld bad line(s); nothing imported (--strict)", o->path, bad);
            res->rejected = bad;
            r = -EINVAL;
            goto out;
        }
        rewind(fp);
        lineno = 0;
    }

    while ((len = getline(&line, &cap, fp)) > 0) {
        lineno++;
        if (lineno <= resume_after) {
            res->skipped++;
            continue;
        }
        if (blank(line))
            continue;
        res->lines++;
        if (line[len - 1] == '\n')
            line[--len] = '\0';
        if (check_line(v, o->actor, line, (size_t)len, in, reason, sizeof(reason)) < 0) {
            res->rejected++;
            r = reject(&rej, o, lineno, line, reason);
            if (r < 0)
                goto out;
            continue;
        }
        if (!open_txn) {
            r = store_begin_bg(s);
            if (r < 0)
                goto out;
            open_txn = 1;
        }
        r = case_report_insert(s, in, id, ref);
        if (r < 0)
            goto out;
        res->imported++;
        if (++in_txn >= (long)o->chunk) {
            snprintf(done, sizeof(done), "%ld", lineno);
            r = store_meta_set(s, key, done);
            if (r == 0)
                r = store_commit(s);
            if (r < 0)
                goto out;
            open_txn = 0;
            in_txn = 0;
        }
        if (o->progress && now_s() - last_tick > 0.25) {
            last_tick = now_s();
            progress(o, res, ftello(fp), st.st_size, t0, 0);
        }
    }
    if (ferror(fp)) {
        r = log_errno(LOG_ERR, -EIO, "error reading '%s'", o->path);
        goto out;
    }
    if (!open_txn) {
        r = store_begin_bg(s);
        if (r < 0)
            goto out;
        open_txn = 1;
    }
    snprintf(done, sizeof(done), "done:%ld", lineno);
    r = store_meta_set(s, key, done);
    if (r == 0)
        r = store_commit(s);
    if (r == 0)
        open_txn = 0;
out:
    if (open_txn)
        store_rollback(s);
    res->seconds = now_s() - t0;
    if (o->progress && r == 0)
        progress(o, res, st.st_size, st.st_size, t0, 1);
    if (rej && fclose(rej) != 0 && r == 0)
        r = log_errno(LOG_ERR, -errno, "cannot write the rejects file");
    free(line);
    free(in);
    if (fp)
        fclose(fp);
    return r;
}
