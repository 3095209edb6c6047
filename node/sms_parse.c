/* sms_parse.c - the SMS grammar, by recursive descent over a token list.
 * The text is first copied into a bounded buffer with control characters
 * turned into blanks and blanks around commas removed ("KBG, DMM" is the
 * list "KBG,DMM"), then split at blanks. Codes are letters only and counts
 * digits only, so a repeated group "species n" ends at the first word that
 * is not a code followed by a number (DOMAIN.md §7, parsing rules). */
#include "sms_parse.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct tok {
    const char *s;
    size_t len;
};

struct parser {
    struct tok toks[SMS_MAX_TOKENS];
    int n, pos;
    struct sms_msg *m;
    struct sms_error *err;
};

static const struct {
    const char *code;
    enum sms_kind kind;
    const char *format;
} kinds[] = {
    { "",     SMS_EMPTY,   "" },
    { "",     SMS_UNKNOWN, "" },
    { "?",    SMS_HELP,    "?" },
    { "U",    SMS_U,       "U [tanda,...] ([spesies] [jumlah]...) {desa} {diagnosis,...}" },
    { "P",    SMS_P,       "P [sindrom] ([spesies] [jumlah]...) {desa} {diagnosis,...}" },
    { "PK",   SMS_PK,      "PK [ID kasus] [SB|MS|MT]" },
    { "LTL",  SMS_LTL,     "LTL [ID kasus] ([spesies] [sakit] [mati] [dimusnahkan] "
                           "[berisiko]...) {Y|T}" },
    { "VAK",  SMS_VAK,     "VAK [program] {desa} ([spesies] [jumlah] {booster}...)" },
    { "POP",  SMS_POP,     "POP ([spesies] [jumlah]...) {desa}" },
    { "SK",   SMS_SK,      "SK [ID pemilik] [desa asal] [tujuan] ([spesies] [jumlah]...) "
                           "{telepon pemilik}" },
    { "KODE", SMS_KODE,    "KODE {SP|TAN|SIN|PNY|PK}" },
    { "CKL",  SMS_CKL,     "CKL [nama desa]" },
    { "LAPK", SMS_LAPK,    "LAPK [ID kasus]" },
};

const char *sms_kind_code(enum sms_kind k)
{
    return (unsigned)k < SMS_KIND_COUNT ? kinds[k].code : "";
}

const char *sms_kind_format(enum sms_kind k)
{
    return (unsigned)k < SMS_KIND_COUNT ? kinds[k].format : "";
}

int sms_kind_is_report(enum sms_kind k)
{
    return k >= SMS_U && k <= SMS_SK;
}

static int is_blank(unsigned char c)
{
    return c <= 0x20 || c == 0x7f;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static char upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

static int fail(struct parser *p, const char *reason, const struct tok *t)
{
    p->err->reason = reason;
    p->err->token[0] = '\0';
    if (t) {
        size_t n = t->len < sizeof(p->err->token) - 1 ? t->len : sizeof(p->err->token) - 1;
        if (n < t->len)                   /* never cut a UTF-8 character in two */
            while (n > 0 && ((unsigned char)t->s[n] & 0xc0) == 0x80)
                n--;
        memcpy(p->err->token, t->s, n);
        p->err->token[n] = '\0';
    }
    return -EINVAL;
}

static const struct tok *peek(struct parser *p, int ahead)
{
    return p->pos + ahead < p->n ? &p->toks[p->pos + ahead] : NULL;
}

static int tok_all(const struct tok *t, int (*cls)(char))
{
    if (!t || t->len == 0)
        return 0;
    for (size_t i = 0; i < t->len; i++)
        if (!cls(t->s[i]))
            return 0;
    return 1;
}

/* A code: 1-7 letters. */
static int tok_is_code(const struct tok *t)
{
    return t && t->len < SMS_CODE_MAX && tok_all(t, is_alpha);
}

/* A count: 1-9 digits. */
static int tok_is_count(const struct tok *t)
{
    return t && t->len <= SMS_COUNT_DIGITS && tok_all(t, is_digit);
}

static void code_copy(const struct tok *t, char out[SMS_CODE_MAX])
{
    size_t i;
    for (i = 0; i < t->len && i < SMS_CODE_MAX - 1; i++)
        out[i] = upper(t->s[i]);
    out[i] = '\0';
}

static int64_t count_value(const struct tok *t)
{
    int64_t v = 0;
    for (size_t i = 0; i < t->len; i++)
        v = v * 10 + (t->s[i] - '0');
    return v;
}

/* An area code of `digits` digits, with or without dots between groups
 * ("3201011001", "32.01.01.1001"); written without dots into out. */
static int tok_area(const struct tok *t, size_t digits, char out[11])
{
    size_t nd = 0;

    if (!t || t->len == 0 || t->s[0] == '.' || t->s[t->len - 1] == '.' || digits > 10)
        return 0;
    for (size_t i = 0; i < t->len; i++) {
        if (t->s[i] == '.') {
            if (t->s[i - 1] == '.')
                return 0;
            continue;
        }
        if (!is_digit(t->s[i]) || nd >= digits)
            return 0;
        out[nd++] = t->s[i];
    }
    if (nd != digits)
        return 0;
    out[nd] = '\0';
    return 1;
}

static int tok_is_village(const struct tok *t)
{
    char tmp[11];
    return tok_area(t, 10, tmp);
}

/* A list of codes "A,B,C" in one token. */
static int parse_code_list(struct parser *p, char out[][SMS_CODE_MAX], int max, int *n,
                           const char *what)
{
    const struct tok *t = peek(p, 0);
    size_t start = 0;
    int k = 0;

    if (!t)
        return fail(p, what, NULL);
    for (size_t i = 0; i <= t->len; i++) {
        if (i < t->len && t->s[i] != ',')
            continue;
        struct tok el = { t->s + start, i - start };
        if (!tok_is_code(&el))
            return fail(p, el.len ? "kode tidak sah" : what, el.len ? &el : t);
        if (k >= max)
            return fail(p, "terlalu banyak kode", t);
        code_copy(&el, out[k]);
        for (int j = 0; j < k; j++)
            if (strcmp(out[j], out[k]) == 0)
                return fail(p, "kode disebut dua kali", &el);
        k++;
        start = i + 1;
    }
    *n = k;
    p->pos++;
    return 0;
}

static int parse_case(struct parser *p)
{
    const struct tok *t = peek(p, 0);
    struct sms_case_ref *ref = &p->m->ref;
    struct tok num;

    if (!t)
        return fail(p, "ID kasus kurang", NULL);
    num = *t;
    if (t->len > 5 && t->s[4] == '-') {
        struct tok d = { t->s, 4 };
        if (!tok_all(&d, is_digit))
            return fail(p, "ID kasus tidak sah", t);
        memcpy(ref->district, t->s, 4);
        ref->district[4] = '\0';
        num.s += 5;
        num.len -= 5;
    }
    if (!tok_is_count(&num))
        return fail(p, "ID kasus tidak sah", t);
    ref->number = (uint64_t)count_value(&num);
    if (ref->number == 0)
        return fail(p, "ID kasus tidak sah", t);
    p->pos++;
    return 0;
}

/* (code n{min..max})+ : groups go on while a code is followed by a count. */
static int parse_groups(struct parser *p, int min, int max)
{
    struct sms_msg *m = p->m;

    while (tok_is_code(peek(p, 0)) && tok_is_count(peek(p, 1))) {
        struct sms_group *g;
        if (m->n_groups >= SMS_MAX_GROUPS)
            return fail(p, "terlalu banyak kelompok hewan", peek(p, 0));
        g = &m->groups[m->n_groups];
        code_copy(peek(p, 0), g->code);
        p->pos++;
        g->n_counts = 0;
        while (g->n_counts < max && tok_is_count(peek(p, 0))) {
            g->n[g->n_counts++] = count_value(peek(p, 0));
            p->pos++;
        }
        if (g->n_counts < min)
            return fail(p, min == 4 ? "perlu 4 angka: sakit, mati, dimusnahkan, berisiko"
                                    : "jumlah harus angka", peek(p, 0));
        m->n_groups++;
    }
    if (m->n_groups == 0) {
        const struct tok *t = peek(p, 0);
        if (tok_is_code(t))
            return fail(p, "jumlah harus angka", peek(p, 1));
        return fail(p, t ? "kode spesies tidak sah" : "spesies dan jumlah kurang", t);
    }
    return 0;
}

static int parse_village_opt(struct parser *p, char out[11])
{
    if (tok_area(peek(p, 0), 10, out))
        p->pos++;
    return 0;
}

static int parse_id(struct parser *p, char out[SMS_ID_MAX], const char *what)
{
    const struct tok *t = peek(p, 0);
    size_t i;

    if (!t)
        return fail(p, what, NULL);
    if (t->len > 20)
        return fail(p, "ID terlalu panjang", t);
    for (i = 0; i < t->len; i++) {
        char c = t->s[i];
        if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '/' && c != '_')
            return fail(p, "ID tidak sah", t);
        out[i] = upper(c);
    }
    out[i] = '\0';
    p->pos++;
    return 0;
}

/* An area code for SK: a village (10 digits), kecamatan (6) or district (4). */
static int parse_area(struct parser *p, char out[11], const char *what)
{
    const struct tok *t = peek(p, 0);

    if (!t)
        return fail(p, what, NULL);
    if (!tok_area(t, 10, out) && !tok_area(t, 6, out) && !tok_area(t, 4, out))
        return fail(p, "kode wilayah harus 4, 6 atau 10 angka", t);
    p->pos++;
    return 0;
}

static int parse_report_tail(struct parser *p)
{
    struct sms_msg *m = p->m;
    const struct tok *t;
    int r;

    r = parse_groups(p, 1, 1);
    if (r < 0)
        return r;
    parse_village_opt(p, m->loc);
    t = peek(p, 0);
    if (t && !tok_is_count(t) && !tok_is_village(t) && !tok_all(t, is_digit)) {
        r = parse_code_list(p, m->ddx, SMS_MAX_DDX, &m->n_ddx, "diagnosis kurang");
        if (r < 0)
            return r;
    }
    return 0;
}

static int parse_body(struct parser *p)
{
    struct sms_msg *m = p->m;
    const struct tok *t;
    int r = 0;

    switch (m->kind) {
    case SMS_U:
        r = parse_code_list(p, m->codes, SMS_MAX_CODES, &m->n_codes, "kode tanda kurang");
        if (r == 0)
            r = parse_report_tail(p);
        break;
    case SMS_P:
        t = peek(p, 0);
        if (!t)
            return fail(p, "kode sindrom kurang", NULL);
        if (!tok_is_code(t))
            return fail(p, "kode sindrom tidak sah", t);
        code_copy(t, m->codes[0]);
        m->n_codes = 1;
        p->pos++;
        r = parse_report_tail(p);
        break;
    case SMS_PK:
        r = parse_case(p);
        if (r < 0)
            return r;
        t = peek(p, 0);
        if (!t)
            return fail(p, "hasil kurang (SB, MS atau MT)", NULL);
        if (!tok_is_code(t) || t->len != 2)
            return fail(p, "hasil harus SB, MS atau MT", t);
        m->outcome[0] = upper(t->s[0]);
        m->outcome[1] = upper(t->s[1]);
        m->outcome[2] = '\0';
        if (strcmp(m->outcome, "SB") != 0 && strcmp(m->outcome, "MS") != 0 &&
            strcmp(m->outcome, "MT") != 0)
            return fail(p, "hasil harus SB, MS atau MT", t);
        p->pos++;
        break;
    case SMS_LTL:
        r = parse_case(p);
        if (r == 0)
            r = parse_groups(p, 4, 4);
        if (r < 0)
            return r;
        t = peek(p, 0);
        if (t && t->len == 1 && (upper(t->s[0]) == 'Y' || upper(t->s[0]) == 'T')) {
            m->escalate = upper(t->s[0]) == 'Y';
            p->pos++;
        }
        break;
    case SMS_VAK:
        r = parse_id(p, m->id, "kode program kurang");
        if (r < 0)
            return r;
        parse_village_opt(p, m->loc);
        r = parse_groups(p, 1, 2);
        break;
    case SMS_POP:
        r = parse_groups(p, 1, 1);
        if (r == 0)
            parse_village_opt(p, m->loc);
        break;
    case SMS_SK:
        r = parse_id(p, m->id, "ID pemilik kurang");
        if (r == 0)
            r = parse_area(p, m->loc, "desa asal kurang");
        if (r == 0)
            r = parse_area(p, m->loc2, "tujuan kurang");
        if (r == 0 && strlen(m->loc) != 10)
            return fail(p, "desa asal harus 10 angka", &p->toks[p->pos - 2]);
        if (r == 0)
            r = parse_groups(p, 1, 1);
        if (r < 0)
            return r;
        t = peek(p, 0);
        if (t) {
            size_t i = t->s[0] == '+' ? 1 : 0;
            struct tok d = { t->s + i, t->len - i };
            if (d.len < 9 || d.len > 15 || !tok_all(&d, is_digit))
                return fail(p, "nomor telepon tidak sah", t);
            memcpy(m->phone, t->s, t->len);
            m->phone[t->len] = '\0';
            p->pos++;
        }
        break;
    case SMS_KODE:
        t = peek(p, 0);
        if (t) {
            if (!tok_is_code(t))
                return fail(p, "jenis kode tidak sah", t);
            code_copy(t, m->query);
            p->pos++;
        }
        break;
    case SMS_CKL: {
        size_t len = 0;
        if (!peek(p, 0))
            return fail(p, "nama desa kurang", NULL);
        for (; p->pos < p->n; p->pos++) {
            t = &p->toks[p->pos];
            if (len + t->len + 2 > sizeof(m->query))
                return fail(p, "teks terlalu panjang", t);
            if (len)
                m->query[len++] = ' ';
            memcpy(m->query + len, t->s, t->len);
            len += t->len;
        }
        m->query[len] = '\0';
        break;
    }
    case SMS_LAPK:
        r = parse_case(p);
        break;
    default:
        break;
    }
    if (r < 0)
        return r;
    if (p->pos < p->n)
        return fail(p, "isian berlebih", peek(p, 0));
    return 0;
}

int sms_parse(const char *text, size_t len, struct sms_msg *out, struct sms_error *err)
{
    struct sms_error local;
    struct parser p;
    char buf[SMS_TEXT_MAX + 1];
    size_t n = 0, i, k;
    int too_long = len > SMS_TEXT_MAX;

    memset(out, 0, sizeof(*out));
    out->escalate = -1;
    if (!err)
        err = &local;
    err->reason = NULL;
    err->token[0] = '\0';
    if (too_long)
        len = SMS_TEXT_MAX;

    /* blanks for control bytes; no blanks next to a comma */
    for (i = 0; i < len; i++) {
        char c = is_blank((unsigned char)text[i]) ? ' ' : text[i];
        if (c == ' ' && (n == 0 || buf[n - 1] == ' ' || buf[n - 1] == ','))
            continue;
        if (c == ',' && n > 0 && buf[n - 1] == ' ')
            n--;
        buf[n++] = c;
    }
    buf[n] = '\0';

    memset(&p, 0, sizeof(p));
    p.m = out;
    p.err = err;
    for (i = 0; i < n;) {
        for (k = i; k < n && buf[k] != ' '; k++)
            ;
        if (p.n == SMS_MAX_TOKENS) {
            too_long = 1;
            break;
        }
        p.toks[p.n].s = buf + i;
        p.toks[p.n].len = k - i;
        p.n++;
        i = k + 1;
    }
    if (p.n == 0) {
        out->kind = SMS_EMPTY;
        return 0;
    }

    for (i = 0, k = 0; i < p.toks[0].len && k < SMS_CODE_MAX - 1; i++) {
        char c = upper(p.toks[0].s[i]);
        if ((c >= 'A' && c <= 'Z') || is_digit(c) || c == '?')
            out->code[k++] = c;
    }
    out->code[k] = '\0';
    out->kind = SMS_UNKNOWN;
    if (p.toks[0].len == strlen(out->code)) {
        for (int j = SMS_HELP; j < SMS_KIND_COUNT; j++)
            if (strcmp(kinds[j].code, out->code) == 0)
                out->kind = kinds[j].kind;
    }
    if (out->kind == SMS_UNKNOWN)
        return 0;
    if (too_long)
        return fail(&p, "pesan terlalu panjang", NULL);
    p.pos = 1;
    if (out->kind == SMS_HELP)
        return p.n == 1 ? 0 : fail(&p, "isian berlebih", peek(&p, 0));
    return parse_body(&p);
}
