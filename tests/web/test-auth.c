/* test-auth.c - the web module's small pure parts, in TAP: the PBKDF2
 * wiring against an independent implementation (Python's hashlib), stored
 * hashes and their refusals, constant-time compare, roles, query strings
 * and --listen. */
#include <errno.h>
#include <string.h>

#include "auth.h"
#include "http_server.h"
#include "web.h"
#include "../unit/testlib.h"
#include "hostport.h"

/* web.c reports saves to the daemon; nothing to do here */
void daemon_changed(struct daemon *d)
{
    (void) d;
}

static void test_kdf(void)
{
    /* hashlib.pbkdf2_hmac('sha256', b'rahasia-123', bytes(range(16)), 1000, 32) */
    static const unsigned char want[AUTH_KEY_LEN] = {
        0x8c, 0x8f, 0xdf, 0xeb, 0x50, 0x43, 0x6c, 0xb3, 0xcb, 0x34, 0xca, 0x3d, 0xa4, 0xbd,
        0xfb, 0xaa, 0x78, 0x97, 0x4c, 0x03, 0x57, 0x6e, 0x48, 0x17, 0x6a, 0x34, 0x96, 0x63,
        0x08, 0xb4, 0x5a, 0x54 };
    struct auth_kdf k = { .iterations = 1000 };

    for (int i = 0; i < AUTH_SALT_LEN; i++)
        k.salt[i] = (unsigned char)i;
    CHECK(auth_kdf_derive(&k, "rahasia-123", 11) == 0);
    CHECK(memcmp(k.got, want, sizeof(want)) == 0);
    memcpy(k.key, want, sizeof(want));
    CHECK(auth_kdf_match(&k));
    k.key[31] ^= 1;
    CHECK(!auth_kdf_match(&k));
}

static void test_stored_hash(void)
{
    char h1[AUTH_HASH_MAX], h2[AUTH_HASH_MAX];
    struct auth_kdf k;

    CHECK(auth_hash_password("kata-sandi-1", 2000, h1) == 0);
    CHECK(auth_hash_password("kata-sandi-1", 2000, h2) == 0);
    CHECK(strncmp(h1, "pbkdf2-sha256$2000$", 19) == 0);
    CHECK(strcmp(h1, h2) != 0);                     /* a new salt each time */
    CHECK(auth_hash_parse(h1, &k) == 0 && k.iterations == 2000);
    CHECK(auth_kdf_derive(&k, "kata-sandi-1", 12) == 0 && auth_kdf_match(&k));
    CHECK(auth_kdf_derive(&k, "kata-sandi-2", 12) == 0 && !auth_kdf_match(&k));
    CHECK(auth_hash_parse("", &k) == -EINVAL);
    CHECK(auth_hash_parse("sha1$1000$AAAA$AAAA", &k) == -EINVAL);
    CHECK(auth_hash_parse("pbkdf2-sha256$10$AAECAwQFBgcICQoLDA0ODw==$"
                          "jI/f61BDbLPLNMo9pL37qniXTANXbkgXajSWYwi0WlQ=", &k) == -EINVAL);
    CHECK(auth_hash_parse("pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw==$"
                          "jI/f61BDbLPLNMo9pL37qniXTANXbkgXajSWYwi0WlQ=", &k) == 0);
    CHECK(auth_hash_parse("pbkdf2-sha256$1000$AAECAwQF$"
                          "jI/f61BDbLPLNMo9pL37qniXTANXbkgXajSWYwi0WlQ=", &k) == -EINVAL);
    CHECK(auth_hash_parse("pbkdf2-sha256$1000$!!!!$xxxx", &k) == -EINVAL);
    CHECK(auth_hash_parse("pbkdf2-sha256$1000$AAECAwQFBgcICQoLDA0ODw==", &k) == -EINVAL);
    auth_kdf_dummy(&k);
    CHECK(k.iterations == AUTH_PBKDF2_ITER);
}

static void test_misc(void)
{
    CHECK(auth_equal("abc", "abc"));
    CHECK(!auth_equal("abc", "abd"));
    CHECK(!auth_equal("abc", "abcd"));
    CHECK(!auth_equal("", "a"));
    CHECK(auth_password_ok("delapan8") == 0);
    CHECK(auth_password_ok("tujuh77") == -EINVAL);
    CHECK(auth_password_ok("dua\nbaris-sandi") == -EINVAL);
    CHECK(auth_role_may("vet", PERM_ADMIN));
    CHECK(auth_role_may("clerk", PERM_ENTRY) && !auth_role_may("clerk", PERM_ADMIN));
    CHECK(auth_role_may("reporter", PERM_CASE) && !auth_role_may("reporter", PERM_ENTRY));
    CHECK(auth_role_may("viewer", PERM_READ) && !auth_role_may("viewer", PERM_CASE));
    CHECK(!auth_role_may("admin", PERM_READ));
}

static void test_query(void)
{
    char out[16];
    int port;

    CHECK(http_query_get("q=3201-000001&limit=5", "q", out, sizeof(out)) == 11);
    CHECK_STR(out, "3201-000001");
    CHECK(http_query_get("q=3201-000001&limit=5", "limit", out, sizeof(out)) == 1);
    CHECK_STR(out, "5");
    CHECK(http_query_get("q=1&limit=5", "lim", out, sizeof(out)) == -ENOENT);
    CHECK(http_query_get("", "q", out, sizeof(out)) == -ENOENT);
    CHECK(http_query_get("flag&q=a%20b+c", "flag", out, sizeof(out)) == 0);
    CHECK(http_query_get("flag&q=a%20b+c", "q", out, sizeof(out)) == 5);
    CHECK_STR(out, "a b c");
    CHECK(http_query_get("q=%zz", "q", out, sizeof(out)) == -EINVAL);
    CHECK(http_query_get("q=%2", "q", out, sizeof(out)) == -EINVAL);
    CHECK(http_query_get("q=%00", "q", out, sizeof(out)) == -EINVAL);
    CHECK(http_query_get("q=0123456789abcdefXYZ", "q", out, sizeof(out)) == -EINVAL);

    char host[64];
    CHECK(hostport_parse("127.0.0.1:8080", host, sizeof(host), &port) == 0 && port == 8080);
    CHECK_STR(host, "127.0.0.1");
    CHECK(hostport_parse("[::1]:0", host, sizeof(host), &port) == 0 && port == 0);
    CHECK_STR(host, "::1");
    CHECK(hostport_parse("0.0.0.0:65536", host, sizeof(host), &port) == -EINVAL);
    CHECK(hostport_parse("localhost", host, sizeof(host), &port) == -EINVAL);
    CHECK(hostport_parse(":80", host, sizeof(host), &port) == -EINVAL);
    CHECK(hostport_parse("1.2.3.4:", host, sizeof(host), &port) == -EINVAL);
    CHECK(hostport_parse("[::1:80", host, sizeof(host), &port) == -EINVAL);
}

int main(void)
{
    test_kdf();
    test_stored_hash();
    test_misc();
    test_query();
    return t_done();
}
