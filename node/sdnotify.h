/* sdnotify.h - systemd's service notification (sd_notify(3)) without
 * libsystemd: one datagram to $NOTIFY_SOCKET per state. The protocol is
 * stable and documented; writing it here keeps the board's daemon off a
 * library it would map for these few lines (docs/node.md, "The service").
 * Without $NOTIFY_SOCKET (not under systemd) every call does nothing. */
#ifndef SIKHNAS_SDNOTIFY_H
#define SIKHNAS_SDNOTIFY_H

#include <stdint.h>

/* Sends state ("READY=1", "WATCHDOG=1", "STOPPING=1", "STATUS=...", several
 * separated by newlines). Returns 1 when sent, 0 when there is no
 * notification socket, or -errno. */
int sd_notify_send(const char *state);

/* The watchdog interval the unit asked for ($WATCHDOG_USEC, for this
 * process when $WATCHDOG_PID names it), in ms; 0 when none. */
uint64_t sd_watchdog_ms(void);

#endif
