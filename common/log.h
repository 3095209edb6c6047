/* log.h - level-gated logging shared by sikhnas-node and sikhnas-hub.
 * Interactive commands print "prog: level: message"; daemons add a UTC
 * timestamp so an operator can read the journal or a log file as it is. */
#ifndef SIKHNAS_LOG_H
#define SIKHNAS_LOG_H

#include <syslog.h>   /* LOG_ERR .. LOG_DEBUG */

extern int log_level;   /* messages above this level are not even formatted */

/* prog is kept by pointer; timestamps adds an ISO-8601 UTC time to each line. */
void log_setup(const char *prog, int timestamps);
void log_emit(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs fmt plus ": strerror(-err)" and returns err, so a caller can write
 * `return log_errno(LOG_ERR, r, "...")`. */
int log_errno_emit(int level, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_at(lvl, ...) \
    do { if (log_level >= (lvl)) log_emit((lvl), __VA_ARGS__); } while (0)
#define log_error(...)   log_at(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_at(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_at(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_at(LOG_DEBUG, __VA_ARGS__)
#define log_errno(lvl, err, ...) \
    (log_level >= (lvl) ? log_errno_emit((lvl), (err), __VA_ARGS__) : (err))

#endif
