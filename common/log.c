/* log.c - one line per message on stderr, written with a single write(2) so
 * lines from concurrent processes sharing a log file do not interleave. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int log_level = LOG_NOTICE;

static const char *log_prog = "sikhnas";
static int log_timestamps;

void log_setup(const char *prog, int timestamps)
{
    log_prog = prog;
    log_timestamps = timestamps;
}

static const char *level_name(int level)
{
    switch (level) {
    case LOG_EMERG: case LOG_ALERT: case LOG_CRIT: case LOG_ERR: return "error";
    case LOG_WARNING: return "warning";
    case LOG_NOTICE: return "notice";
    case LOG_INFO: return "info";
    default: return "debug";
    }
}

static void log_vemit(int level, int err, const char *fmt, va_list ap)
{
    char line[2048];
    size_t n = 0;
    int k;

    if (log_timestamps) {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
        k = snprintf(line + n, sizeof(line) - n, ".%03ldZ ", ts.tv_nsec / 1000000);
        n += k > 0 ? (size_t)k : 0;
    }
    k = snprintf(line + n, sizeof(line) - n, "%s: %s: ", log_prog, level_name(level));
    n += k > 0 ? (size_t)k : 0;
    if (n < sizeof(line)) {
        k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
        n += k > 0 ? (size_t)k : 0;
    }
    if (err && n < sizeof(line)) {
        k = snprintf(line + n, sizeof(line) - n, ": %s", strerror(err < 0 ? -err : err));
        n += k > 0 ? (size_t)k : 0;
    }
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;    /* truncated: still one whole line */
    line[n++] = '\n';
    (void) !write(STDERR_FILENO, line, n);
}

void log_emit(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vemit(level, 0, fmt, ap);
    va_end(ap);
}

int log_errno_emit(int level, int err, const char *fmt, ...)
{
    va_list ap;
    int saved = errno;
    va_start(ap, fmt);
    log_vemit(level, err, fmt, ap);
    va_end(ap);
    errno = saved;
    return err;
}
