/* test-sms-file.c - the text of SMS spool files (node/sms_file.c) in each
 * character set the gateways write: UCS2 (UTF-16BE) and gammu's UTF-16 by
 * BOM, ISO-8859-1, UTF-8 with or without a BOM, and what happens to bytes
 * that are not text in them (U+FFFD, a NUL made a blank, an odd UCS2 byte
 * refused). Pure: no files, no store. */
#include <errno.h>
#include <string.h>

#include "sms_file.h"
#include "testlib.h"

#define SMSTOOLS "GSM1.000001"
#define GAMMU    "IN20261128_100102_00_+6281234567890_00.txt"
#define FFFD     "\xef\xbf\xbd"

/* Parses a file called name (head, then body of blen bytes) and expects
 * the text want (want_len bytes), or with want NULL a refusal whose
 * reason contains why. */
static int text_is(const char *name, const char *head, const char *body, size_t blen,
                   const char *want, size_t want_len, const char *why)
{
    unsigned char buf[512];
    size_t hlen = strlen(head);
    struct sms_file m;
    const char *reason = NULL;
    int r, ok;

    memcpy(buf, head, hlen);
    memcpy(buf + hlen, body, blen);
    r = sms_file_parse(name, buf, hlen + blen, &m, &reason);
    if (!want) {
        ok = r == -EBADMSG && reason && strstr(reason, why);
        if (!ok)
            printf("# want a refusal (%s): r=%d reason=%s\n", why, r, reason ? reason : "-");
        if (r == 0)
            sms_file_clear(&m);
        return ok;
    }
    ok = r == 0 && m.len == want_len && memcmp(m.text, want, want_len) == 0 &&
         m.text[m.len] == '\0';
    if (!ok) {
        printf("# r=%d len=%zu want %zu:", r, r == 0 ? m.len : 0, want_len);
        for (size_t i = 0; r == 0 && i < m.len; i++)
            printf(" %02x", (unsigned char)m.text[i]);
        printf("\n");
    }
    if (r == 0)
        sms_file_clear(&m);
    return ok;
}

#define UCS2(body, want) \
    text_is(SMSTOOLS, "From: 6281234567890\nAlphabet: UCS2\n\n", body, sizeof(body) - 1, \
            want, sizeof(want) - 1, NULL)
#define ISO(body, want) \
    text_is(SMSTOOLS, "From: 6281234567890\nAlphabet: ISO\n\n", body, sizeof(body) - 1, \
            want, sizeof(want) - 1, NULL)
#define PLAIN(body, want) \
    text_is(SMSTOOLS, "From: 6281234567890\n\n", body, sizeof(body) - 1, \
            want, sizeof(want) - 1, NULL)
#define GAMMU_(body, want) \
    text_is(GAMMU, "", body, sizeof(body) - 1, want, sizeof(want) - 1, NULL)

static void test_ucs2(void)
{
    CHECK(UCS2("\0U\0 \0K\0B\0G", "U KBG"));
    CHECK(UCS2("", ""));
    CHECK(UCS2("\0\xe9\x20\xac", "\xc3\xa9\xe2\x82\xac"));               /* é € */
    CHECK(UCS2("\xd8\x3d\xdc\x04", "\xf0\x9f\x90\x84"));                  /* a pair: U+1F404 */
    CHECK(UCS2("\xd8\x00\0A", FFFD "A"));                                 /* high, then no low */
    CHECK(UCS2("\xdc\x00\0A", FFFD "A"));                                 /* a low alone */
    CHECK(UCS2("\0A\xd8\x00", "A" FFFD));                                 /* high at the end */
    CHECK(UCS2("\xd8\x00\xd8\x3d\xdc\x04", FFFD "\xf0\x9f\x90\x84"));     /* high, then a pair */
    CHECK(UCS2("\0A\0\0\0B", "A B"));                                     /* U+0000: a blank */
    CHECK(UCS2("\xfe\xff\0A", "\xef\xbb\xbf" "A"));                       /* no BOM in UCS2 */
    CHECK(text_is(SMSTOOLS, "From: 6281234567890\nAlphabet: UCS2\n\n", "\0U\0", 3, NULL, 0,
                  "odd number of bytes"));
}

static void test_gammu(void)
{
    CHECK(GAMMU_("\xff\xfeU\0 \0K\0", "U K"));                            /* BOM, LE */
    CHECK(GAMMU_("\xfe\xff\0U\0 \0K", "U K"));                            /* BOM, BE */
    CHECK(GAMMU_("\xff\xfe=\xd8\x04\xdc", "\xf0\x9f\x90\x84"));           /* a pair, LE */
    CHECK(GAMMU_("\xff\xfe\x00\xd8" "A\0", FFFD "A"));                    /* lone high, LE */
    CHECK(GAMMU_("\xff\xfeU\0K", "U"));                                   /* odd: last byte dropped */
    CHECK(GAMMU_("\xff\xfe", ""));
    CHECK(GAMMU_("\xef\xbb\xbfU KBG", "U KBG"));                          /* UTF-8 BOM dropped */
    CHECK(GAMMU_("U KBG \xc3\xa9", "U KBG \xc3\xa9"));                    /* UTF-8 */
    CHECK(GAMMU_("U \xff", "U " FFFD));
    /* gammu-smsd 1.42 (InboxFormat = unicode) ends the text with zero units */
    CHECK(GAMMU_("\xff\xfeU\0 \0K\0\0\0", "U K"));
    CHECK(GAMMU_("\xff\xfeU\0 \0K\0\0\0\0\0", "U K"));
    CHECK(GAMMU_("\xff\xfeU\0\0\0K\0\0\0", "U K"));                      /* inside: a blank */
    CHECK(GAMMU_("U K\0\0", "U K"));                                      /* UTF-8 too */
}

static void test_iso_and_utf8(void)
{
    CHECK(ISO("CKL Rajeg\xe9", "CKL Rajeg\xc3\xa9"));                     /* Latin-1 */
    CHECK(ISO("\xa0\xff\x80", "\xc2\xa0\xc3\xbf\xc2\x80"));
    CHECK(ISO("CKL Rajeg\xc3\xa9", "CKL Rajeg\xc3\xa9"));                 /* valid UTF-8 stays */
    CHECK(ISO("A\0B", "A B"));                                            /* NUL: a blank */
    CHECK(text_is(SMSTOOLS, "From: 6281234567890\nAlphabet: GSM\n\n", "\xe9", 1,
                  "\xc3\xa9", 2, NULL));
    CHECK(text_is(SMSTOOLS, "From: 6281234567890\nAlphabet: ISO8859-15\n\n", "\xe9", 1,
                  "\xc3\xa9", 2, NULL));
    CHECK(text_is(SMSTOOLS, "From: 6281234567890\nAlphabet: UTF-8\n\n", "\xc3\xa9", 2,
                  "\xc3\xa9", 2, NULL));                               /* incoming_utf8 */
    CHECK(PLAIN("U KBG\xff SP", "U KBG" FFFD " SP"));                     /* not ISO: replaced */
    CHECK(PLAIN("\xed\xa0\x80", FFFD FFFD FFFD));                         /* a surrogate in UTF-8 */
    CHECK(PLAIN("\xef\xbb\xbfU", "U"));
}

int main(void)
{
    test_ucs2();
    test_gammu();
    test_iso_and_utf8();
    return t_done();
}
