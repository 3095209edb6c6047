/* test-sms-len.c - how long a text is as one SMS (node/sms_len.c): GSM-7
 * septets with the extension characters counted twice, UCS-2 units when a
 * character is outside GSM-7, cutting to fit, and clipping names. */
#include <string.h>

#include "sms_len.h"
#include "testlib.h"

int main(void)
{
    char buf[700];
    int ucs2;

    CHECK(sms_units("Terima kasih.", &ucs2) == 13 && !ucs2);
    CHECK(sms_units("[ID]", &ucs2) == 6 && !ucs2);          /* [ and ] take two septets */
    CHECK(sms_units("caf\xc3\xa9 \xe2\x82\xac", &ucs2) == 7 && !ucs2);  /* é one, € two */
    CHECK(sms_units("\xc4\x80gung", &ucs2) == 5 && ucs2);   /* Ā is not GSM-7 */
    CHECK(sms_units("a`b", &ucs2) == 3 && ucs2);            /* nor is the backtick */
    CHECK(sms_units("\xf0\x9f\x90\x84", &ucs2) == 2 && ucs2);  /* a cow: a surrogate pair */
    CHECK(sms_units("\xff", &ucs2) == 1 && ucs2);

    memset(buf, 'a', 160);
    buf[160] = '\0';
    CHECK(sms_fits(buf));
    buf[159] = '[';
    CHECK(!sms_fits(buf));
    sms_fit_cut(buf);
    CHECK(sms_fits(buf) && strlen(buf) == 160 && strcmp(buf + 157, "...") == 0);

    memset(buf, 'b', 650);          /* longer than anything that fits: cut from 320 */
    buf[650] = '\0';
    strcpy(buf + 600, "\xc4\x80");
    sms_fit_cut(buf);
    CHECK(strlen(buf) == 160 && sms_fits(buf));

    strcpy(buf, "\xc4\x80");        /* UCS-2: 70 */
    memset(buf + 2, 'c', 80);
    buf[82] = '\0';
    sms_fit_cut(buf);
    CHECK(sms_units(buf, &ucs2) == 70 && ucs2);

    strcpy(buf, "mati meningkat pada unggas");
    sms_clip(buf, 24);
    CHECK_STR(buf, "mati meningkat pada");      /* at a blank, not inside a word */
    strcpy(buf, "pincang, air liur");
    sms_clip(buf, 10);
    CHECK_STR(buf, "pincang");
    strcpy(buf, "Pondokkaso");
    sms_clip(buf, 4);
    CHECK_STR(buf, "Pond");                     /* one word: cut in it */
    strcpy(buf, "\xc4\x80\xc4\x80\xc4\x80");
    sms_clip(buf, 2);
    CHECK_STR(buf, "\xc4\x80\xc4\x80");         /* characters, not bytes */
    strcpy(buf, "whole");
    sms_clip(buf, 0);
    CHECK_STR(buf, "whole");
    return t_done();
}
