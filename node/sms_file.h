/* sms_file.h - one message file of the SMS gateway's spool, parsed: an
 * smstools3 file (header lines, a blank line, the text; "Alphabet: UCS2"
 * text is UTF-16BE, "Alphabet: ISO"/"GSM" text that is not UTF-8 is
 * ISO-8859-1) or a gammu-smsd files-backend file (sender and time in the
 * name IN<date>_<time>_<serial>_<sender>_<part>.txt, the text alone, UTF-16
 * with a BOM or UTF-8). No I/O: the caller reads the bytes. */
#ifndef SIKHNAS_SMS_FILE_H
#define SIKHNAS_SMS_FILE_H

#include <stddef.h>

struct sms_file {
    char sender[64];          /* From: or the gammu name's sender, as written */
    char sent[64];            /* Sent: (else Received:), or gammu's "YYYYMMDD_HHMMSS" */
    char *text;               /* valid UTF-8 without NUL, malloc'd */
    size_t len;
    int gammu;                /* 1: a gammu file (answer in gammu's outbox format) */
};

/* Parses len bytes of the file called name. Returns 0 (release with
 * sms_file_clear), -EBADMSG with *why set to a static English reason when
 * the bytes are not a message file or are ambiguous (From:, Sent:,
 * Received: or Alphabet: twice; a gammu name and a From: header), or
 * -ENOMEM. */
int  sms_file_parse(const char *name, const unsigned char *buf, size_t len, struct sms_file *m,
                    const char **why);
void sms_file_clear(struct sms_file *m);

#endif
