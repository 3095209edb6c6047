/* sms_gateway.h - which SMS gateway daemon reads the spool (a setting of
 * the installation: sms.gateway / --sms-gateway, never guessed), and the
 * health of its outgoing folder for `status` and the web dashboard: reply
 * files the gateway has not picked up within SMS_STUCK_S. */
#ifndef SIKHNAS_SMS_GATEWAY_H
#define SIKHNAS_SMS_GATEWAY_H

#include <cJSON.h>
#include <stddef.h>
#include <stdio.h>

#include "store.h"

enum sms_gateway {
    SMS_GATEWAY_UNSET = 0,        /* not configured: the spool cannot be used */
    SMS_GATEWAY_GAMMU,            /* gammu-smsd, files backend: OUT*.txt, text only */
    SMS_GATEWAY_SMSTOOLS,         /* smstools3: "To:" header, a blank line, the text */
};

#define SMS_STUCK_S   300         /* an outgoing file older than this is not being sent */

/* "gammu" or "smstools" to the enum (case-insensitive); -EINVAL otherwise. */
int sms_gateway_parse(const char *name, enum sms_gateway *ret);
/* The setting's name of g ("gammu", "smstools", or "" when unset). */
const char *sms_gateway_name(enum sms_gateway g);

struct sms_outgoing_health {
    int files;                    /* regular files in DIR/outgoing (bounded scan) */
    int stuck;                    /* ... older than SMS_STUCK_S */
    long long oldest_s;           /* age of the oldest stuck file, 0 when none */
    char oldest[256];             /* its name */
};

/* Looks at dir/outgoing/ now (at most 10 000 entries). Returns 0 or -errno
 * (the folder cannot be read). */
int sms_outgoing_check(const char *dir, struct sms_outgoing_health *h);

/* Remembers the spool and gateway in the store's meta table (so that
 * `status` can look at the spool); writes only when they changed. A
 * failure (a busy store) is logged, not fatal: the spool works without. */
void sms_gateway_remember(struct store *s, const char *dir, enum sms_gateway g);

/* Adds "sms" (an object, or null when no spool was ever used) to a status
 * object: spool, gateway, outgoing, stuck, oldest_stuck_s, oldest_file,
 * unwritten (sms_out rows committed but not yet in a file) and warning
 * (English text, or null). Returns the warning (static storage of the
 * object: valid while o lives) or NULL. */
const char *sms_status_add(struct store *s, cJSON *o);

/* The text lines of that object for `status`, nothing when it is null. */
void sms_status_print(const cJSON *o, FILE *fp);

#endif
