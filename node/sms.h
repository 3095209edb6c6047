/* sms.h - handling one incoming SMS: the sender is looked up among the
 * officers, the text parsed (sms_parse.h), the record validated by the one
 * validator (validate.h) and written (records.h), and the reply and alerts
 * queued in sms_out, all in one transaction with the message's sms_in row.
 * The spool side (sms_spool.c) turns queued sms_out rows into files only
 * after that transaction committed. No file I/O here. */
#ifndef SIKHNAS_SMS_H
#define SIKHNAS_SMS_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "validate.h"

#define SMS_PRODUCT    "Sikhnas Edge"
#define SMS_REPLY_MAX  640        /* bytes of a reply or alert (up to 5 SMS parts) */

struct sms_incoming {
    const char *sender;           /* as received: 6281..., +6281... or 0812... */
    const char *sent;             /* the modem's timestamp as text, "" when unknown */
    const char *text;             /* valid UTF-8 (see utf8_clean) */
    size_t len;
    const char *source;           /* the delivery's name (a spool file), or NULL */
};

enum sms_status {
    SMS_SAVED,                    /* a record was written */
    SMS_ANSWERED,                 /* a query or "?" was answered */
    SMS_REFUSED,                  /* format or validation error, refused code */
    SMS_UNKNOWN_PHONE,            /* the sender is not a registered officer */
};

struct sms_result {
    enum sms_status status;
    int duplicate;                /* 1: seen before; nothing new was written */
    int same_delivery;            /* 1: seen before from the same source (read again
                                     after a stop): not a new delivery, not answered again */
    int64_t msg_id;               /* sms_in.id */
    char ref[24];                 /* case reference or permit number, or "" */
    char error[128];              /* why it was refused (English, for the log) */
};

/* Handles one message. Returns 0 with *res filled (refusals included: they
 * are answered, not failures), -EBUSY when the store stayed busy (nothing
 * was written; try again later), or another -errno. */
int sms_handle(struct store *s, struct validator *v, const struct sms_incoming *in,
               struct sms_result *res);

/* Writes one outgoing message somewhere (a spool file); returns 0 or -errno
 * and may name the file in name (cap bytes) for the log. */
typedef int (*sms_send_fn)(void *ctx, const char *phone, const char *text, char *name,
                           size_t cap);

/* Hands the queued sms_out rows of message msg_id (0: of every message) to
 * send, oldest first, and marks each one written after send returned 0.
 * With resend_reply, msg_id's reply is sent again even if it was written
 * before (a duplicate delivery is answered again; alerts are not repeated).
 * Returns the number sent or -errno (stops at the first failure). */
int sms_flush(struct store *s, int64_t msg_id, int resend_reply, sms_send_fn send, void *ctx);

#endif
