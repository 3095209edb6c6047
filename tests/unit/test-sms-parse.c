/* test-sms-parse.c - the SMS grammar (node/sms_parse.c): every example of
 * DOMAIN.md §7 that we support, case-insensitivity, defaults, and a refusal
 * with the right kind and reason for each way a body can be wrong. */
#include <errno.h>
#include <string.h>

#include "sms_parse.h"
#include "testlib.h"

static struct sms_msg m;
static struct sms_error e;

static int parse(const char *text)
{
    return sms_parse(text, strlen(text), &m, &e);
}

/* Parses text and expects a format error of kind k whose reason contains why. */
static int refused(const char *text, enum sms_kind k, const char *why)
{
    int r = parse(text);
    int ok = r == -EINVAL && m.kind == k && e.reason && strstr(e.reason, why);
    if (!ok)
        printf("# '%s': r=%d kind=%d reason=%s token=%s\n", text, r, m.kind,
               e.reason ? e.reason : "(none)", e.token);
    return ok;
}

static void test_u(void)
{
    CHECK(parse("U KBG SP 2") == 0);
    CHECK(m.kind == SMS_U);
    CHECK(m.n_codes == 1);
    CHECK_STR(m.codes[0], "KBG");
    CHECK(m.n_groups == 1);
    CHECK_STR(m.groups[0].code, "SP");
    CHECK(m.groups[0].n[0] == 2 && m.groups[0].n_counts == 1);
    CHECK_STR(m.loc, "");
    CHECK(m.n_ddx == 0);

    CHECK(parse("  u kbg,dmm sp 2 kb 10 3201011001 ant,kbg\n") == 0);
    CHECK(m.kind == SMS_U && m.n_codes == 2);
    CHECK_STR(m.codes[1], "DMM");
    CHECK(m.n_groups == 2 && m.groups[1].n[0] == 10);
    CHECK_STR(m.groups[1].code, "KB");
    CHECK_STR(m.loc, "3201011001");
    CHECK(m.n_ddx == 2);
    CHECK_STR(m.ddx[0], "ANT");

    CHECK(parse("U KBG , DMM\tSP 2 32.01.01.1001") == 0);
    CHECK(m.n_codes == 2);
    CHECK_STR(m.loc, "3201011001");

    CHECK(parse("U KBG SP 2 ANT") == 0);    /* ddx without a village */
    CHECK(m.n_ddx == 1 && m.loc[0] == '\0');

    CHECK(refused("U", SMS_U, "tanda kurang"));
    CHECK(refused("U KBG", SMS_U, "kurang"));
    CHECK(refused("U KBG SP", SMS_U, "jumlah harus angka"));
    CHECK(refused("U KBG SP X", SMS_U, "jumlah harus angka"));
    CHECK_STR(e.token, "X");
    CHECK(refused("U KBG SP 2 3201011001 ANT 5", SMS_U, "isian berlebih"));
    CHECK(refused("U KBG SP 2 320101100", SMS_U, "isian berlebih"));
    CHECK(refused("U KB1 SP 2", SMS_U, "kode tidak sah"));
    CHECK(refused("U KBG,KBG SP 2", SMS_U, "dua kali"));
    CHECK(refused("U KBG SP 1234567890", SMS_U, "jumlah harus angka"));  /* a village */
    CHECK(refused("U KBG SP 2 A B C", SMS_U, "isian berlebih"));
}

static void test_p(void)
{
    CHECK(parse("P MMD SP 3") == 0);
    CHECK(m.kind == SMS_P && m.n_codes == 1);
    CHECK_STR(m.codes[0], "MMD");
    CHECK(m.groups[0].n[0] == 3);
    CHECK(parse("p ggk aj 1 kc 2 3201011001 ra") == 0);
    CHECK(m.n_groups == 2 && m.n_ddx == 1);
    CHECK_STR(m.ddx[0], "RA");
    CHECK(refused("P", SMS_P, "sindrom kurang"));
    CHECK(refused("P MMD,GGK SP 3", SMS_P, "sindrom tidak sah"));
    CHECK(refused("P MMD", SMS_P, "kurang"));
}

static void test_pk(void)
{
    CHECK(parse("PK 2238 SB") == 0);
    CHECK(m.kind == SMS_PK && m.ref.number == 2238 && m.ref.district[0] == '\0');
    CHECK_STR(m.outcome, "SB");
    CHECK(parse("pk 3201-000123 mt") == 0);
    CHECK_STR(m.ref.district, "3201");
    CHECK(m.ref.number == 123);
    CHECK_STR(m.outcome, "MT");
    CHECK(refused("PK", SMS_PK, "ID kasus kurang"));
    CHECK(refused("PK 2238", SMS_PK, "hasil kurang"));
    CHECK(refused("PK 2238 XX", SMS_PK, "SB, MS atau MT"));
    CHECK(refused("PK ABC SB", SMS_PK, "ID kasus tidak sah"));
    CHECK(refused("PK 32A1-0001 SB", SMS_PK, "ID kasus tidak sah"));
    CHECK(refused("PK 0 SB", SMS_PK, "ID kasus tidak sah"));
    CHECK(refused("PK 1 SB MS", SMS_PK, "isian berlebih"));
}

static void test_ltl(void)
{
    CHECK(parse("LTL 2238 AY 10 5 0 20 Y") == 0);
    CHECK(m.kind == SMS_LTL && m.ref.number == 2238 && m.escalate == 1);
    CHECK(m.n_groups == 1 && m.groups[0].n_counts == 4);
    CHECK(m.groups[0].n[0] == 10 && m.groups[0].n[1] == 5 && m.groups[0].n[2] == 0 &&
          m.groups[0].n[3] == 20);
    CHECK(parse("ltl 3201-000001 sp 1 0 0 4 kb 2 1 0 3") == 0);
    CHECK(m.n_groups == 2 && m.escalate == -1);
    CHECK(parse("LTL 1 SP 1 0 0 4 t") == 0);
    CHECK(m.escalate == 0);
    CHECK(refused("LTL 2238 AY 10 5", SMS_LTL, "perlu 4 angka"));
    CHECK(refused("LTL 2238", SMS_LTL, "kurang"));
    CHECK(refused("LTL 2238 AY 10 5 0 20 X", SMS_LTL, "isian berlebih"));
}

static void test_vak_pop_sk(void)
{
    CHECK(parse("VAK 18 3201011001 SP 20 5 KB 10") == 0);
    CHECK(m.kind == SMS_VAK);
    CHECK_STR(m.id, "18");
    CHECK_STR(m.loc, "3201011001");
    CHECK(m.n_groups == 2 && m.groups[0].n_counts == 2 && m.groups[0].n[1] == 5);
    CHECK(m.groups[1].n_counts == 1 && m.groups[1].n[0] == 10);
    CHECK(parse("vak rabies-26 aj 40") == 0);
    CHECK_STR(m.id, "RABIES-26");
    CHECK(m.loc[0] == '\0');
    CHECK(refused("VAK", SMS_VAK, "program kurang"));
    CHECK(refused("VAK 18 3201011001", SMS_VAK, "kurang"));
    CHECK(refused("VAK 18 SP 1 2 3", SMS_VAK, "isian berlebih"));

    CHECK(parse("POP SP 120 KB 40 3201011001") == 0);
    CHECK(m.kind == SMS_POP && m.n_groups == 2);
    CHECK_STR(m.loc, "3201011001");
    CHECK(parse("pop ay 500") == 0);
    CHECK(m.groups[0].n[0] == 500 && m.loc[0] == '\0');
    CHECK(refused("POP", SMS_POP, "kurang"));
    CHECK(refused("POP 3201011001", SMS_POP, "spesies tidak sah"));

    CHECK(parse("SK 123456789012345 3201011001 5371 SPAC 10 SPBA 15") == 0);
    CHECK(m.kind == SMS_SK);
    CHECK_STR(m.id, "123456789012345");
    CHECK_STR(m.loc, "3201011001");
    CHECK_STR(m.loc2, "5371");
    CHECK(m.n_groups == 2 && m.phone[0] == '\0');
    CHECK(parse("sk ab12 32.01.01.1001 53.71.01.1001 sp 2 081234567890") == 0);
    CHECK_STR(m.loc2, "5371011001");
    CHECK_STR(m.phone, "081234567890");
    CHECK(refused("SK 1 3201 5371 SP 2", SMS_SK, "desa asal"));
    CHECK(refused("SK 1 3201011001 53710 SP 2", SMS_SK, "4, 6 atau 10"));
    CHECK(refused("SK 1 3201011001 5371 SP 2 12", SMS_SK, "telepon"));
    CHECK(refused("SK", SMS_SK, "pemilik kurang"));
}

static void test_queries(void)
{
    CHECK(parse("?") == 0 && m.kind == SMS_HELP);
    CHECK(parse(" ? \n") == 0 && m.kind == SMS_HELP);
    CHECK(refused("? U", SMS_HELP, "isian berlebih"));
    CHECK(parse("KODE") == 0 && m.kind == SMS_KODE && m.query[0] == '\0');
    CHECK(parse("kode sp") == 0);
    CHECK_STR(m.query, "SP");
    CHECK(refused("KODE 12", SMS_KODE, "tidak sah"));
    CHECK(parse("CKL  Cibinong   raya") == 0 && m.kind == SMS_CKL);
    CHECK_STR(m.query, "Cibinong raya");
    CHECK(refused("CKL", SMS_CKL, "nama desa kurang"));
    CHECK(parse("LAPK 3201-000002") == 0 && m.kind == SMS_LAPK && m.ref.number == 2);
    CHECK(refused("LAPK", SMS_LAPK, "kurang"));
}

static void test_other(void)
{
    CHECK(parse("") == 0 && m.kind == SMS_EMPTY);
    CHECK(parse(" \r\n\t ") == 0 && m.kind == SMS_EMPTY);
    CHECK(parse("LAB 2055 FES SG PAR 2 730801") == 0 && m.kind == SMS_UNKNOWN);
    CHECK_STR(m.code, "LAB");
    CHECK(parse("Halo pak") == 0 && m.kind == SMS_UNKNOWN);
    CHECK(parse("U2 KBG SP 2") == 0 && m.kind == SMS_UNKNOWN);
    CHECK(parse("\xff\xfe U") == 0 && m.kind == SMS_UNKNOWN);
    CHECK(m.code[0] == '\0');

    /* NUL bytes are blanks; len is obeyed */
    CHECK(sms_parse("U KBG\0SP 2", 10, &m, &e) == 0 && m.kind == SMS_U && m.n_groups == 1);
    CHECK(sms_parse("PK 12 SBXXXX", 8, &m, &e) == 0 && m.kind == SMS_PK);

    /* over-long text: refused as its kind, never read past the cap */
    {
        static char big[SMS_TEXT_MAX + 100];
        memset(big, 'A', sizeof(big));
        memcpy(big, "U KBG SP 2 ", 11);
        CHECK(sms_parse(big, sizeof(big), &m, &e) == -EINVAL && m.kind == SMS_U);
        CHECK(strstr(e.reason, "terlalu panjang") != NULL);
        memset(big, ' ', sizeof(big));
        for (size_t i = 0; i + 1 < sizeof(big); i += 4)
            memcpy(big + i, "S 1", 3);
        memcpy(big, "POP", 3);
        CHECK(sms_parse(big, sizeof(big), &m, &e) == -EINVAL && m.kind == SMS_POP);
    }

    /* 16 groups are fine, 17 are too many */
    CHECK(parse("POP A 1 B 1 C 1 D 1 E 1 F 1 G 1 H 1 I 1 J 1 K 1 L 1 M 1 N 1 O 1 P 1") == 0);
    CHECK(m.n_groups == 16);
    CHECK(refused("POP A 1 B 1 C 1 D 1 E 1 F 1 G 1 H 1 I 1 J 1 K 1 L 1 M 1 N 1 O 1 P 1 Q 1",
                  SMS_POP, "terlalu banyak"));
    CHECK(refused("U KBG SP 1234567890123", SMS_U, "jumlah harus angka"));
    /* a quoted word is cut at a character boundary, never inside one */
    CHECK(refused("U MM,\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd SP 2", SMS_U, "kode tidak sah"));
    CHECK(strlen(e.token) == 21);

    CHECK_STR(sms_kind_code(SMS_LTL), "LTL");
    CHECK(strncmp(sms_kind_format(SMS_PK), "PK [ID kasus]", 13) == 0);
    CHECK(sms_kind_is_report(SMS_SK) && !sms_kind_is_report(SMS_LAPK));
    CHECK_STR(sms_kind_code((enum sms_kind)99), "");
}

int main(void)
{
    test_u();
    test_p();
    test_pk();
    test_ltl();
    test_vak_pop_sk();
    test_queries();
    test_other();
    return t_done();
}
