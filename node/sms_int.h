/* sms_int.h - what the SMS handler's files share: one message being
 * handled (struct sms_job), the sender, the bounded text of replies and the
 * handlers of each code. Not for other modules: they use sms.h.
 *
 *   sms.c          one message's life: duplicates, sender, codes by role,
 *                  the transaction, sms_in and sms_out; sms_flush()
 *   sms_reply.c    the text of replies: the builder, labels, refusals
 *   sms_records.c  the codes that write a record (U, P, PK, LTL, VAK, POP, SK)
 *   sms_query.c    the codes that ask (KODE, CKL, LAPK) */
#ifndef SIKHNAS_SMS_INT_H
#define SIKHNAS_SMS_INT_H

#include <stddef.h>

#include "access.h"
#include "sms.h"
#include "sms_parse.h"
#include "store.h"
#include "validate.h"

#define TAG "[" SMS_PRODUCT "] "

/* A bounded string builder: appends until full, then ends in "..." at a
 * character boundary. */
struct sms_sb {
    char *buf;
    size_t cap, len;
    int full;
};

/* Points b at buf (cap bytes, emptied). */
void sms_sb_init(struct sms_sb *b, char *buf, size_t cap);
/* Appends printf-style; once full, the text ends in "..." at a character
 * boundary and later appends are dropped. */
__attribute__((format(printf, 2, 3)))
void sms_sb_add(struct sms_sb *b, const char *fmt, ...);

/* The sender, as the officer table has them. */
struct sms_officer {
    char name[V_NAME_MAX + 1];
    char role[16];
    char phone[20];
    char village[11];
};

/* One message being handled. */
struct sms_job {
    struct store *s;
    struct validator *v;
    const struct sms_officer *o;
    struct actor actor;               /* the sender, for access_check() */
    struct sms_msg m;
    struct sms_result *res;
    char event_date[11];
    const char *record_tbl;
    char record_id[UUID_STR_LEN];
    char reply[SMS_REPLY_MAX];
    char alert[SMS_REPLY_MAX];        /* "" when none */
    size_t name_max;                  /* labels and names cut to this many characters; 0: whole */
};

/* The Indonesian label of a code of list, or the code itself, in buf; cut
 * to j->name_max characters. */
const char *sms_label(struct sms_job *j, const char *list, const char *code, char *buf,
                      size_t cap);
/* "Desa NAME" for a village, "NAME" for other areas, the code when unknown;
 * the name cut to j->name_max characters. */
const char *sms_area_name(struct sms_job *j, const char *code, char *buf, size_t cap);
/* A person's name cut to j->name_max characters, in buf. */
const char *sms_person(struct sms_job *j, const char *name, char *buf, size_t cap);
/* A phone as people write it at home: "+62812..." or "62812..." as "0812...". */
const char *sms_local_phone(const char *phone, char *buf, size_t cap);

/* Runs compose(j, arg), which writes out, with names whole and then cut
 * shorter and shorter until out fits in one SMS (sms_len.h); as a last
 * resort out is cut to fit, ending in "...". */
void sms_compose_fit(struct sms_job *j, void (*compose)(struct sms_job *j, const void *arg),
                     const void *arg, char *out);
/* An example of a correct message of kind k ("" when none). */
const char *sms_kind_example(enum sms_kind k);
/* "N label, N label" of the message's groups, appended to b. */
void sms_add_herd(struct sms_job *j, struct sms_sb *b, const struct sms_group *g, int n);
/* The message's case reference "DDDD-NNNNNN" (this district when it names none). */
void sms_ref_string(struct sms_job *j, char out[24]);

/* Refusals, each answered (they return 0): a format error with the code's
 * format and why; the validator's refusal in words; access_check()'s
 * refusal (village: the record's village or origin). */
int sms_refuse_format(struct sms_job *j, const char *reason, const char *token);
int sms_refuse_invalid(struct sms_job *j, const struct verr *e);
int sms_refuse_access(struct sms_job *j, const struct verr *e, const char *village);

/* Finds the live case the message names into id; -ENOENT (answered: not
 * found), 0, or -errno. */
int sms_find_case(struct sms_job *j, char id[UUID_STR_LEN]);

/* The codes: each fills j->reply (and j->alert, j->res) and returns 0, or
 * -errno when the store failed (the message is then not handled). */
int sms_do_case_report(struct sms_job *j);     /* U, P */
int sms_do_followup(struct sms_job *j);        /* PK, LTL */
int sms_do_vaccination(struct sms_job *j);     /* VAK */
int sms_do_population(struct sms_job *j);      /* POP */
int sms_do_permit(struct sms_job *j);          /* SK */
int sms_do_kode(struct sms_job *j);            /* KODE */
int sms_do_ckl(struct sms_job *j);             /* CKL */
int sms_do_lapk(struct sms_job *j);            /* LAPK */

#endif
