/* sms_parse.h - the SMS grammar of shared/DOMAIN.md §7 for the codes this
 * node understands: reports U, P, PK, LTL, VAK, POP, SK; queries KODE, CKL,
 * LAPK and "?". A pure function from text to a struct: no I/O, no store, no
 * allocation, so that it can be fuzzed. Whether a code exists in a code list,
 * a village lies in the district or a case is known is for the handler and
 * the validator (sms.c, validate.c) to decide. */
#ifndef SIKHNAS_SMS_PARSE_H
#define SIKHNAS_SMS_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define SMS_TEXT_MAX    1600    /* bytes of text parsed: ten concatenated parts */
#define SMS_MAX_TOKENS  200
#define SMS_MAX_GROUPS  16      /* animal groups, as V_MAX_ANIMALS */
#define SMS_MAX_CODES   16      /* signs, as V_MAX_CODES */
#define SMS_MAX_DDX     8       /* diseases, as V_MAX_DDX */
#define SMS_CODE_MAX    8       /* a code is 1-7 letters */
#define SMS_ID_MAX      24      /* a programme or owner id is 1-20 letters/digits */
#define SMS_QUERY_MAX   64      /* CKL text, KODE type */
#define SMS_COUNT_DIGITS 9      /* a count is 1-9 digits; the validator caps the value */

enum sms_kind {
    SMS_EMPTY = 0,      /* nothing but blanks */
    SMS_UNKNOWN,        /* the first word is not a code of ours */
    SMS_HELP,           /* "?" */
    SMS_U, SMS_P, SMS_PK, SMS_LTL, SMS_VAK, SMS_POP, SMS_SK,
    SMS_KODE, SMS_CKL, SMS_LAPK,
    SMS_KIND_COUNT
};

/* One repeated group: a species (or breed) code and its counts in the order
 * of the format: U/P/POP/SK n; LTL sick dead culled at-risk; VAK primary
 * {booster}. */
struct sms_group {
    char code[SMS_CODE_MAX];
    int64_t n[4];
    int n_counts;
};

/* A case reference: "3201-000123" or the bare number "123" (this district). */
struct sms_case_ref {
    char district[5];   /* "" when only the number was given */
    uint64_t number;
};

struct sms_msg {
    enum sms_kind kind;
    char code[SMS_CODE_MAX];                   /* the first word upper-cased, A-Z 0-9 ? only */
    char codes[SMS_MAX_CODES][SMS_CODE_MAX];   /* U: signs; P: the syndrome */
    int n_codes;
    struct sms_group groups[SMS_MAX_GROUPS];
    int n_groups;
    char loc[11];                              /* village (10 digits), SK origin; "" = default */
    char loc2[11];                             /* SK destination */
    char ddx[SMS_MAX_DDX][SMS_CODE_MAX];       /* U, P: suspected diseases */
    int n_ddx;
    struct sms_case_ref ref;                   /* PK, LTL, LAPK */
    char outcome[3];                           /* PK: SB, MS or MT */
    int escalate;                              /* LTL: -1 not given, 0 T, 1 Y */
    char id[SMS_ID_MAX];                       /* VAK programme, SK owner id */
    char phone[20];                            /* SK owner phone as typed ("" = none) */
    char query[SMS_QUERY_MAX];                 /* KODE type ("" = list), CKL text */
};

/* Where and why a message does not fit its format. */
struct sms_error {
    const char *reason;     /* static text in Bahasa Indonesia */
    char token[24];         /* the offending word, shortened; "" at the end of the text */
};

/* Parses len bytes of text (need not be NUL-terminated; any bytes). Returns 0
 * with *out filled (kind SMS_EMPTY and SMS_UNKNOWN included), or -EINVAL when
 * the code is ours but the body does not fit: out->kind names the code, *err
 * says where. Never reads past text + len. */
int sms_parse(const char *text, size_t len, struct sms_msg *out, struct sms_error *err);

/* The start code of a kind ("U", "LTL", "?"), and its valid format for a
 * "Format error. Valid format: ..." reply. "" for SMS_EMPTY/SMS_UNKNOWN. */
const char *sms_kind_code(enum sms_kind k);
const char *sms_kind_format(enum sms_kind k);

/* 1 when kind writes a record (U P PK LTL VAK POP SK), 0 for queries. */
int sms_kind_is_report(enum sms_kind k);

#endif
