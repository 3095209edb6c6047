/* sms_len.h - how long a text is as an SMS: one message holds 160 GSM-7
 * characters (GSM 03.38; the extension characters ^ { } \ [ ~ ] | and the
 * euro sign count two), or 70 UCS-2 characters when any character is not
 * in GSM-7. Replies and alerts are kept to one message (docs/sms.md). */
#ifndef SIKHNAS_SMS_LEN_H
#define SIKHNAS_SMS_LEN_H

#include <stddef.h>

#define SMS_GSM7_MAX 160
#define SMS_UCS2_MAX 70

/* The length of UTF-8 text s in its encoding's units: GSM-7 septets, or,
 * when *ucs2 is set (s needs UCS-2), UTF-16 code units. An invalid byte
 * counts as one non-GSM character. */
size_t sms_units(const char *s, int *ucs2);

/* 1 when s fits in one SMS, else 0. */
int sms_fits(const char *s);

#define SMS_CUT_FROM 320      /* bytes: no longer UTF-8 text fits in one SMS */

/* Cuts s (valid UTF-8, NUL-terminated, in a buffer of at least
 * min(strlen(s), SMS_CUT_FROM) + 4 bytes) at a character boundary so that
 * it fits in one SMS, ending in "..."; nothing when it fits. */
void sms_fit_cut(char *s);

/* Cuts s (UTF-8) after at most max characters, at a character boundary;
 * trailing blanks are dropped. max 0: no limit. */
void sms_clip(char *s, size_t max);

#endif
