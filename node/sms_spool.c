/* sms_spool.c - reads message files from the SMS gateway's incoming folder,
 * hands each to sms_handle() and writes what it queued (replies, alerts) as
 * files in the outgoing folder, each written to tmp/, fsync'd and renamed,
 * and only after the record's transaction committed. An incoming file moves
 * to processed/ once its replies are out, or to failed/ with a .reason file
 * when it cannot be read as a message; it never blocks the files after it.
 *
 * Formats (docs/sms.md): smstools3 files ("From:", "Sent:", ... a blank
 * line, the text; "Alphabet: UCS2" text is UTF-16BE) and gammu-smsd's files
 * backend (IN<date>_<time>_<serial>_<sender>_<part>.txt, text only). */
#include "sms_spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmdopts.h"
#include "log.h"
#include "sms.h"
#include "sms_file.h"
#include "fileio.h"

#define STUCK_MAX 128           /* answered files that could not be moved out */

struct sms_spool {
    char dir[1024];
    enum sms_gateway gateway; /* the format of outgoing files: set, never guessed */
    int told_mismatch;        /* logged once: an incoming file of the other gateway */
    unsigned seq;             /* outgoing file names */
    /* incoming files answered but not movable to processed/ (permissions):
     * skipped until a restart, so they are not answered on every pass */
    struct { char name[256]; struct timespec mtime; } stuck[STUCK_MAX];
    int n_stuck;
};

/* ---------------------------------------------------------------- files */

static int path_join(char *out, size_t cap, const char *a, const char *b, const char *c)
{
    int n = snprintf(out, cap, "%s/%s%s%s", a, b, c ? "/" : "", c ? c : "");
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}


/* Writes data to dir/tmp/name, fsyncs it and renames it into dir/sub/name. */
static int write_atomic(const char *dir, const char *sub, const char *name, const char *data,
                        size_t len)
{
    char tmp[1200], dst[1200];

    if (path_join(tmp, sizeof(tmp), dir, "tmp", name) < 0 ||
        path_join(dst, sizeof(dst), dir, sub, name) < 0)
        return -ENAMETOOLONG;
    return file_write_atomic(dst, tmp, data, len, 0644, 0);
}

/* Moves dir/incoming/name into dir/sub/, adding .1, .2 ... if the name is taken. */
static int move_to(const char *dir, const char *name, const char *sub, char *moved, size_t cap)
{
    char from[1200], to[1200], base[1100];
    struct stat st;

    if (path_join(from, sizeof(from), dir, "incoming", name) < 0 ||
        path_join(base, sizeof(base), dir, sub, name) < 0)
        return -ENAMETOOLONG;
    snprintf(to, sizeof(to), "%s", base);
    for (int i = 1; lstat(to, &st) == 0; i++) {
        if (i > 999)
            return -EEXIST;
        snprintf(to, sizeof(to), "%s.%d", base, i);
    }
    if (rename(from, to) < 0)
        return -errno;
    if (moved)
        snprintf(moved, cap, "%s", to);
    return 0;
}

static int fail_file(struct sms_spool *sp, const char *name, const char *reason)
{
    char moved[1200], rpath[1300], text[512];
    const char *base;
    int r, n;

    r = move_to(sp->dir, name, "failed", moved, sizeof(moved));
    if (r < 0)
        return log_errno(LOG_ERR, r, "sms: cannot move %s/incoming/%s to failed/", sp->dir, name);
    log_warning("sms: %s moved to failed/: %s", name, reason);
    base = strrchr(moved, '/') ? strrchr(moved, '/') + 1 : moved;
    n = snprintf(text, sizeof(text), "%s\n", reason);
    snprintf(rpath, sizeof(rpath), "%s.reason", base);
    r = write_atomic(sp->dir, "failed", rpath, text, (size_t)n < sizeof(text) ? (size_t)n
                                                                            : sizeof(text) - 1);
    if (r < 0)
        log_errno(LOG_ERR, r, "sms: cannot write failed/%s", rpath);
    return 0;
}

/* ---------------------------------------------------------------- message files */

/* Reads one message file; on a bad file returns -EBADMSG with *why set. */
static int read_message(const char *path, const char *name, struct sms_file *m, const char **why)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    struct stat st;
    int fd, r = 0;

    memset(m, 0, sizeof(*m));
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        *why = "not a regular file";
        return -EBADMSG;
    }
    if (st.st_size > SMS_FILE_MAX) {
        close(fd);
        *why = "larger than 64 KiB";
        return -EBADMSG;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    while (len < (size_t)st.st_size) {
        ssize_t k = read(fd, buf + len, (size_t)st.st_size - len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            r = k < 0 ? -errno : 0;
            break;
        }
        len += (size_t)k;
    }
    close(fd);
    if (r == 0)
        r = sms_file_parse(name, buf, len, m, why);
    free(buf);
    return r;
}

/* ---------------------------------------------------------------- outgoing */

/* sms_send_fn: one reply or alert as a file in outgoing/. */
static int send_file(void *ctx, const char *phone, const char *text, char *name, size_t cap)
{
    struct sms_spool *sp = ctx;
    char fname[160], data[SMS_REPLY_MAX + 128], stamp[32];
    const char *digits = phone[0] == '+' ? phone + 1 : phone;
    int ascii = 1, n;
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d_%H%M%S", &tm);
    for (const char *p = text; *p; p++)
        if ((unsigned char)*p >= 0x80)
            ascii = 0;
    sp->seq++;
    if (sp->gateway == SMS_GATEWAY_GAMMU) {
        /* OUT<priority><date>_<time>_<serial>_<recipient>_<note>.txt, text only */
        snprintf(fname, sizeof(fname), "OUTA%s_%02u_%s_sikhnas%ld.txt", stamp, sp->seq % 100,
                 phone, (long)getpid());
        n = snprintf(data, sizeof(data), "%s", text);
    } else {
        snprintf(fname, sizeof(fname), "sikhnas-%s-%ld-%06u", stamp, (long)getpid(), sp->seq);
        n = snprintf(data, sizeof(data), "To: %s\n%s\n%s", digits,
                     ascii ? "" : "Alphabet: UTF-8\n", text);
    }
    if (n < 0 || (size_t)n >= sizeof(data))
        return -ENOSPC;
    snprintf(name, cap, "%s", fname);
    return write_atomic(sp->dir, "outgoing", fname, data, (size_t)n);
}

/* ---------------------------------------------------------------- passes */

/* Debian's smstools makes the spool's folders sticky: then only the owner
 * of a file (or of the folder) may rename it, and the node could not move
 * the gateway's files out of incoming/. Said once, at the start. */
static void warn_sticky(const char *dir)
{
    char path[1200];
    struct stat st;

    path_join(path, sizeof(path), dir, "incoming", NULL);
    if (stat(path, &st) == 0 && (st.st_mode & S_ISVTX) && st.st_uid != geteuid() &&
        geteuid() != 0)
        log_warning("sms: %s has the sticky bit: this user cannot move the gateway's files "
                    "out of it (chmod -t it; docs/sms.md, Permissions)", path);
}

int sms_spool_open(const char *dir, enum sms_gateway gateway, struct sms_spool **ret)
{
    static const char *const subs[] = { "incoming", "outgoing", "processed", "failed", "tmp" };
    struct sms_spool *sp;
    char path[1200];

    if (gateway == SMS_GATEWAY_UNSET) {
        log_error("sms: which gateway reads %s? set sms.gateway = gammu or smstools in the "
                  "config, or --sms-gateway (run) / --gateway (sms process)", dir);
        return -EDOM;
    }
    if (strlen(dir) >= sizeof(sp->dir) - 16)
        return -ENAMETOOLONG;
    if (mkdir(dir, 0750) < 0 && errno != EEXIST)
        return log_errno(LOG_ERR, -errno, "sms: cannot create spool '%s'", dir);
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        path_join(path, sizeof(path), dir, subs[i], NULL);
        if (mkdir(path, 0750) < 0 && errno != EEXIST)
            return log_errno(LOG_ERR, -errno, "sms: cannot create '%s'", path);
    }
    warn_sticky(dir);
    sp = calloc(1, sizeof(*sp));
    if (!sp)
        return -ENOMEM;
    snprintf(sp->dir, sizeof(sp->dir), "%s", dir);
    sp->gateway = gateway;
    *ret = sp;
    return 0;
}

void sms_spool_free(struct sms_spool *sp)
{
    free(sp);
}

struct entry {
    char name[256];
    struct timespec mtime;
    ino_t ino;
};

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;

    if (x->mtime.tv_sec != y->mtime.tv_sec)
        return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
    if (x->mtime.tv_nsec != y->mtime.tv_nsec)
        return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Lists regular files of incoming/ not starting with '.', oldest first. */
static int list_incoming(struct sms_spool *sp, struct entry **ret, int *n_ret, int *more)
{
    char dir[1200], path[1500];
    struct entry *e = NULL;
    int n = 0, cap = 0;
    struct dirent *de;
    DIR *d;

    *more = 0;
    path_join(dir, sizeof(dir), sp->dir, "incoming", NULL);
    d = opendir(dir);
    if (!d)
        return log_errno(LOG_ERR, -errno, "sms: cannot read '%s'", dir);
    while ((de = readdir(d))) {
        struct stat st;
        if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(e->name))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == 10000) {       /* a bound: the rest waits for the next pass */
            *more = 1;
            break;
        }
        if (n == cap) {
            int ncap = cap ? cap * 2 : 64;
            struct entry *q = realloc(e, (size_t)ncap * sizeof(*e));
            if (!q) {
                free(e);
                closedir(d);
                return -ENOMEM;
            }
            e = q;
            cap = ncap;
        }
        snprintf(e[n].name, sizeof(e[n].name), "%s", de->d_name);
        e[n].mtime = st.st_mtim;
        e[n].ino = st.st_ino;
        n++;
    }
    closedir(d);
    if (n)
        qsort(e, (size_t)n, sizeof(*e), entry_cmp);
    *ret = e;
    *n_ret = n;
    return 0;
}

/* 1 when e was answered already but could not be moved out (same mtime). */
static int is_stuck(const struct sms_spool *sp, const struct entry *e)
{
    for (int k = 0; k < sp->n_stuck; k++)
        if (strcmp(sp->stuck[k].name, e->name) == 0 &&
            sp->stuck[k].mtime.tv_sec == e->mtime.tv_sec &&
            sp->stuck[k].mtime.tv_nsec == e->mtime.tv_nsec)
            return 1;
    return 0;
}

int sms_spool_process(struct sms_spool *sp, struct store *s, struct validator *v,
                      int min_age_ms, struct sms_spool_stats *stats)
{
    struct entry *e = NULL;
    struct timespec now;
    char path[1500];
    int n = 0, more = 0, r;

    memset(stats, 0, sizeof(*stats));
    r = sms_flush(s, 0, 0, send_file, sp);           /* left over from a crash */
    if (r < 0)
        return log_errno(LOG_ERR, r, "sms: cannot write queued replies to %s/outgoing", sp->dir);
    if (r > 0)
        log_notice("sms: wrote %d reply/alert file(s) committed before a stop or crash (%s "
                   "format)", r, sms_gateway_name(sp->gateway));
    stats->sent += r;
    r = list_incoming(sp, &e, &n, &more);
    if (r < 0)
        return r;
    stats->waiting += more;
    clock_gettime(CLOCK_REALTIME, &now);
    for (int i = 0; i < n; i++) {
        struct sms_file m;
        struct sms_result res;
        const char *why = NULL;
        long long age_ms = (long long)(now.tv_sec - e[i].mtime.tv_sec) * 1000 +
                           (now.tv_nsec - e[i].mtime.tv_nsec) / 1000000;

        if (is_stuck(sp, &e[i]))
            continue;
        if (min_age_ms > 0 && age_ms < min_age_ms) {
            stats->waiting++;
            continue;
        }
        if (stats->handled + stats->failed >= SMS_PASS_MAX) {
            stats->waiting += n - i;
            break;
        }
        snprintf(path, sizeof(path), "%s/incoming/%s", sp->dir, e[i].name);
        r = read_message(path, e[i].name, &m, &why);
        if (r == -ENOENT)
            continue;                   /* taken away meanwhile */
        if (r == -EBADMSG) {
            r = fail_file(sp, e[i].name, why);
            stats->failed++;
            if (r < 0)
                break;
            continue;
        }
        if (r < 0) {
            log_errno(LOG_ERR, r, "sms: cannot read %s", path);
            break;
        }
        /* the file itself, not only its name: gammu names a second delivery of
         * the same message as it named the first (sender and modem time) */
        char source[320];
        snprintf(source, sizeof(source), "%s inode %ju mtime %lld.%09ld", e[i].name,
                 (uintmax_t)e[i].ino, (long long)e[i].mtime.tv_sec, e[i].mtime.tv_nsec);
        struct sms_incoming in = { .sender = m.sender, .sent = m.sent, .text = m.text,
                                   .len = m.len, .source = source };
        r = sms_handle(s, v, &in, &res);
        sms_file_clear(&m);
        if (r == -EBUSY) {
            stats->waiting += n - i;
            r = 0;
            break;                      /* the next pass tries again, in order */
        }
        if (r < 0) {
            char why_buf[128];
            snprintf(why_buf, sizeof(why_buf), "could not be stored: %s", strerror(-r));
            log_errno(LOG_ERR, r, "sms: %s from %s", e[i].name, m.sender);
            r = fail_file(sp, e[i].name, why_buf);
            stats->failed++;
            if (r < 0)
                break;
            continue;
        }
        stats->handled++;
        stats->duplicates += res.duplicate && !res.same_delivery;
        if (res.same_delivery)
            log_notice("sms: %s was handled before a stop or crash (still in incoming/): "
                       "not answered again", e[i].name);
        if (m.gammu != (sp->gateway == SMS_GATEWAY_GAMMU) && !sp->told_mismatch) {
            sp->told_mismatch = 1;
            log_warning("sms: %s is a %s file, but sms.gateway = %s: replies are written for "
                        "%s; check the setting", e[i].name, m.gammu ? "gammu" : "smstools",
                        sms_gateway_name(sp->gateway), sms_gateway_name(sp->gateway));
        }
        log_info("sms: %s from %s: %s%s%s%s", e[i].name, m.sender,
                 res.same_delivery ? "read again, " : res.duplicate ? "duplicate, " : "",
                 res.status == SMS_SAVED ? "saved" : res.status == SMS_ANSWERED ? "answered" :
                 res.status == SMS_REFUSED ? "refused" : "unknown phone",
                 res.ref[0] ? " " : "", res.ref);
        r = sms_flush(s, res.msg_id, res.duplicate && !res.same_delivery, send_file, sp);
        if (r < 0) {
            log_errno(LOG_ERR, r, "sms: cannot write the reply to %s; it stays queued",
                      e[i].name);
            break;                      /* the message is stored; its reply goes next pass */
        }
        stats->sent += r;
        r = move_to(sp->dir, e[i].name, "processed", NULL, 0);
        if (r < 0 && sp->n_stuck < STUCK_MAX) {
            log_errno(LOG_ERR, r, "sms: cannot move %s to processed/ (answered; not read again "
                      "until a restart): can this user rename the gateway's files in "
                      "incoming/? (docs/sms.md, Permissions)", e[i].name);
            snprintf(sp->stuck[sp->n_stuck].name, sizeof(sp->stuck[0].name), "%s", e[i].name);
            sp->stuck[sp->n_stuck++].mtime = e[i].mtime;
            r = 0;
        } else if (r < 0) {
            log_errno(LOG_ERR, r, "sms: cannot move %s to processed/", e[i].name);
            break;
        }
    }
    free(e);
    return r < 0 ? r : 0;
}

/* ---------------------------------------------------------------- command line */

int sms_cmd(struct store *s, const struct node_config *cfg, int argc, char **argv)
{
    const char *dir = NULL, *gw_name = NULL;
    enum sms_gateway gw = cfg->sms_gateway;
    const struct cmdopt opts[] = { { "spool", CMDOPT_TEXT, &dir },
                                   { "gateway", CMDOPT_TEXT, &gw_name } };
    struct sms_spool_stats st, total = {0};
    struct sms_spool *sp = NULL;
    struct validator *v = NULL;
    int r;

    r = cmdopts_parse(argc, argv, opts, CMDOPTS_N(opts));
    if (r < 0)
        return r;
    if (!dir || r != argc - 1 || strcmp(argv[r], "process") != 0) {
        log_error("sms needs a subcommand and a spool: process --spool DIR [--gateway G]");
        return -EDOM;
    }
    if (gw_name && sms_gateway_parse(gw_name, &gw) < 0) {
        log_error("sms: unknown gateway '%s' (gammu or smstools)", gw_name);
        return -EDOM;
    }
    r = sms_spool_open(dir, gw, &sp);
    if (r == 0)
        sms_gateway_remember(s, dir, gw);
    if (r == 0)
        r = validator_new(s, &v);
    /* passes until nothing is left that can be handled now (bounded) */
    for (int pass = 0; r == 0 && pass < 1000; pass++) {
        r = sms_spool_process(sp, s, v, 0, &st);
        total.handled += st.handled;
        total.duplicates += st.duplicates;
        total.failed += st.failed;
        total.sent += st.sent;
        total.waiting = st.waiting;
        if (st.handled + st.failed == 0 || st.waiting == 0)
            break;
    }
    if (r == 0)
        printf("{\"handled\":%d,\"duplicates\":%d,\"failed\":%d,\"sent\":%d,\"waiting\":%d}\n",
               total.handled, total.duplicates, total.failed, total.sent, total.waiting);
    if (r == 0 && total.waiting)
        r = -EBUSY;
    validator_free(v);
    sms_spool_free(sp);
    return r;
}

/* ---------------------------------------------------------------- daemon module */

#define RESCAN_MS   10000     /* the safety net: a missed event waits at most this */
#define SETTLE_MS   300       /* a file younger than this may still be being written */

struct sms_daemon {
    struct daemon *d;
    struct sms_spool *sp;
    uv_fs_event_t watch;
    uv_timer_t rescan, soon;
    int open_handles;
};

static void sms_closed(uv_handle_t *h)
{
    struct sms_daemon *sd = h->data;

    if (--sd->open_handles == 0) {
        sms_spool_free(sd->sp);
        free(sd);
    }
}

static void on_soon(uv_timer_t *t);

static void sms_pass(struct sms_daemon *sd)
{
    struct sms_spool_stats st;
    int r;

    if (sd->d->stopping)
        return;
    r = sms_spool_process(sd->sp, sd->d->store, sd->d->validator, SETTLE_MS, &st);
    if (r < 0)
        log_errno(LOG_ERR, r, "sms: pass over %s failed; retrying in %d s",
                  sd->sp->dir, RESCAN_MS / 1000);
    if (st.handled)
        daemon_changed(sd->d);
    if (r == 0 && st.waiting)
        uv_timer_start(&sd->soon, on_soon, SETTLE_MS + 50, 0);   /* the rest, later */
}

static void on_soon(uv_timer_t *t)
{
    sms_pass(t->data);
}

static void on_rescan(uv_timer_t *t)
{
    sms_pass(t->data);
}

static void on_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    struct sms_daemon *sd = h->data;

    if (status < 0)
        log_warning("sms: watching %s/incoming: %s", sd->sp->dir, uv_strerror(status));
    /* let the writer finish: one pass after things settle (restarts the timer) */
    uv_timer_start(&sd->soon, on_soon, SETTLE_MS + 50, 0);
}

static int sms_start(struct daemon *d)
{
    struct sms_daemon *sd;
    char incoming[1200];
    int r;

    if (!d->sms_spool)
        return 0;
    sd = calloc(1, sizeof(*sd));
    if (!sd)
        return -ENOMEM;
    sd->d = d;
    r = sms_spool_open(d->sms_spool, d->cfg->sms_gateway, &sd->sp);
    if (r == 0)
        sms_gateway_remember(d->store, d->sms_spool, d->cfg->sms_gateway);
    if (r < 0) {
        sms_spool_free(sd->sp);
        free(sd);
        return r;
    }
    path_join(incoming, sizeof(incoming), d->sms_spool, "incoming", NULL);
    uv_fs_event_init(d->loop, &sd->watch);
    uv_timer_init(d->loop, &sd->rescan);
    uv_timer_init(d->loop, &sd->soon);
    sd->watch.data = sd->rescan.data = sd->soon.data = sd;
    sd->open_handles = 3;
    d->sms = sd;
    r = uv_fs_event_start(&sd->watch, on_event, incoming, 0);
    if (r < 0)
        log_warning("sms: cannot watch %s (%s); scanning every %d s instead", incoming,
                    uv_strerror(r), RESCAN_MS / 1000);
    uv_timer_start(&sd->rescan, on_rescan, RESCAN_MS, RESCAN_MS);
    uv_timer_start(&sd->soon, on_soon, 0, 0);          /* what arrived while we were down */
    log_notice("sms: reading %s, writing replies for %s", d->sms_spool,
               sms_gateway_name(d->cfg->sms_gateway));
    return 0;
}

static void sms_stop(struct daemon *d)
{
    struct sms_daemon *sd = d->sms;

    if (!sd)
        return;
    d->sms = NULL;
    uv_close((uv_handle_t *)&sd->watch, sms_closed);
    uv_close((uv_handle_t *)&sd->rescan, sms_closed);
    uv_close((uv_handle_t *)&sd->soon, sms_closed);
}

const struct daemon_module sms_module = { "sms", sms_start, sms_stop };
