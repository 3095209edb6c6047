/* fuzz-sms.c - the SMS parsers: the grammar (sms_parse) on raw bytes, and a
 * spool file (sms_file_parse, smstools3 or gammu by the first byte) whose
 * decoded text then goes through the grammar too. No store: the handler
 * below the parser is covered by tests/sms. Any input may be refused; none
 * may crash, leak, read out of bounds or break the struct's invariants. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sms.h"
#include "sms_file.h"
#include "sms_parse.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct sms_msg *m, int r, const struct sms_error *e)
{
    if (m->kind < SMS_EMPTY || m->kind >= SMS_KIND_COUNT)
        abort();
    if (r != 0 && (r != -22 || !e->reason || !sms_kind_format(m->kind)[0]))
        abort();
    if (m->n_codes < 0 || m->n_codes > SMS_MAX_CODES || m->n_groups < 0 ||
        m->n_groups > SMS_MAX_GROUPS || m->n_ddx < 0 || m->n_ddx > SMS_MAX_DDX)
        abort();
    for (int i = 0; i < m->n_groups; i++)
        if (strlen(m->groups[i].code) >= SMS_CODE_MAX || m->groups[i].n_counts > 4 ||
            m->groups[i].n[0] < 0)
            abort();
    if (strlen(m->code) >= SMS_CODE_MAX || strlen(m->loc) > 10 || strlen(m->loc2) > 10 ||
        strlen(m->query) >= SMS_QUERY_MAX || strlen(m->id) >= SMS_ID_MAX ||
        strlen(m->phone) >= sizeof(m->phone) || strlen(e->token) >= sizeof(e->token))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sms_msg m;
    struct sms_error e;
    struct sms_file f;
    const char *why = NULL;
    char clean[SMS_TEXT_MAX * 3 + 1];
    size_t n;
    int r;

    /* the grammar on raw bytes, and on the same bytes made valid UTF-8 */
    r = sms_parse((const char *)data, size, &m, &e);
    check(&m, r, &e);
    n = utf8_clean((const char *)data, size < SMS_TEXT_MAX ? size : SMS_TEXT_MAX, clean,
                       sizeof(clean));
    if (n >= sizeof(clean) || strlen(clean) != n)
        abort();
    r = sms_parse(clean, n, &m, &e);
    check(&m, r, &e);
    {
        char again[sizeof(e.token) * 3];         /* a quoted word of valid text stays valid */
        size_t k = strlen(e.token);
        if (utf8_clean(e.token, k, again, sizeof(again)) != k || memcmp(again, e.token, k))
            abort();
    }

    /* a spool file: the first byte picks the name, so both formats are reached */
    if (size == 0)
        return 0;
    r = sms_file_parse(data[0] & 1 ? "IN20261128_100102_00_+6281234567890_00.txt" : "GSM1.fuzz",
                       data + 1, size - 1, &f, &why);
    if (r == 0) {
        if (!f.text || strlen(f.text) != f.len)
            abort();
        r = sms_parse(f.text, f.len, &m, &e);
        check(&m, r, &e);
        sms_file_clear(&f);
    } else if (!why && r != -12) {
        abort();
    }
    return 0;
}
