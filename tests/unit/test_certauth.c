/* Unit tests for client-certificate mapping (src/daemon/certauth.c): the
 * CertMapping parser, the Subject matcher and the mutual scheme. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "certauth.h"

static enum wsm_err parse(const char *v, struct wsmd_certmap *m, char *why)
{
    return wsmd__certmap_parse(v, m, why, 200);
}

static void test_parse_valid(void **state)
{
    (void)state;
    struct wsmd_certmap m;
    char why[200];
    assert_int_equal(parse("Issuer=* Subject=* UserName=alice", &m, why), WSM_OK);
    assert_int_equal(m.issuer_len, 0);
    assert_string_equal(m.subject, "*");
    assert_string_equal(m.user, "alice");
    assert_int_equal(m.allow_root, 0);

    assert_int_equal(parse("  issuer=0123456789abcdef0123456789ABCDEF01234567\t"
                           "subject=*@example.com   username=bob ",
                           &m, why),
                     WSM_OK);
    assert_int_equal(m.issuer_len, 20);
    assert_int_equal(m.issuer[0], 0x01);
    assert_int_equal(m.issuer[19], 0x67);
    assert_string_equal(m.subject, "*@example.com");

    /* SHA-256 with colons, a quoted Subject with a space, root allowed. */
    char v[400];
    strcpy(v, "Issuer=");
    for (int i = 0; i < 32; i++)
        strcat(v, i ? ":AB" : "AB");
    strcat(v, " Subject=\"Alice Smith\" UserName=root AllowRoot=true");
    assert_int_equal(parse(v, &m, why), WSM_OK);
    assert_int_equal(m.issuer_len, 32);
    assert_int_equal(m.issuer[31], 0xAB);
    assert_string_equal(m.subject, "Alice Smith");
    assert_string_equal(m.user, "root");
    assert_int_equal(m.allow_root, 1);
}

static void test_parse_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "Subject=* UserName=a",             /* no Issuer */
        "Issuer=* UserName=a",              /* no Subject */
        "Issuer=* Subject=*",               /* no UserName */
        "Issuer=* Subject=* UserName=root", /* root without AllowRoot */
        "Issuer=* Subject=* UserName=root AllowRoot=0",
        "Issuer=* Subject=* UserName=a AllowRoot=maybe",
        "Issuer=* Subject=a*b UserName=a", /* '*' inside */
        "Issuer=* Subject=** UserName=a",
        "Issuer=12AB Subject=* UserName=a", /* short thumbprint */
        "Issuer=0123456789ABCDEF0123456789ABCDEF0123456G Subject=* UserName=a",
        "Issuer=* Subject=* UserName=a Issuer=*", /* twice */
        "Issuer=* Subject=* UserName=a URI=*",    /* unknown key */
        "Issuer=* Subject= UserName=a",           /* empty value */
        "Issuer=* Subject=\"a b UserName=a",      /* unterminated quote */
        "Issuer=* Subject=\"a\"b UserName=a",
        "Issuer=* Subject=a\"b UserName=a",
        "Issuer=* Subject=* UserName=\"a b\"", /* space in a user name */
        "Issuer=* Subject=* UserName=a:b",
        "Issuer=* Subject=\xc3\xa9 UserName=a", /* not ASCII */
        "Issuer=* Subject=* UserName",
        "=* Subject=* UserName=a",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct wsmd_certmap m;
        char why[200] = "";
        if (parse(bad[i], &m, why) == WSM_OK)
            fail_msg("accepted: %s", bad[i]);
        assert_true(why[0] != '\0');
    }
}

static int match(const char *pattern, const char *name)
{
    return wsmd__certmap_match(pattern, name, strlen(name));
}

static void test_match(void **state)
{
    (void)state;
    assert_true(match("*", "anything"));
    assert_false(match("*", ""));
    assert_true(match("alice@example.com", "Alice@Example.COM"));
    assert_false(match("alice@example.com", "alice@example.com.evil"));
    assert_false(match("alice@example.com", "xalice@example.com"));
    assert_true(match("*@example.com", "bob@EXAMPLE.com"));
    assert_false(match("*@example.com", "@example.com"));
    assert_false(match("*@example.com", "bob@example.co"));
    assert_false(match("*@example.com", "bob@example.com.evil"));
    /* Control characters and NULs never match. */
    assert_false(wsmd__certmap_match("*", "a\0b", 3));
    assert_false(wsmd__certmap_match("alice", "alice\0", 6));
    assert_false(match("*", "a\nb"));
}

static void test_scheme(void **state)
{
    (void)state;
    assert_true(wsmd__certauth_is_scheme(WSMD_CERT_SCHEME));
    assert_true(wsmd__certauth_is_scheme(" " WSMD_CERT_SCHEME " "));
    assert_true(wsmd__certauth_is_scheme(
        "HTTP://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/MUTUAL"));
    assert_false(wsmd__certauth_is_scheme(NULL));
    assert_false(wsmd__certauth_is_scheme(""));
    assert_false(wsmd__certauth_is_scheme(WSMD_CERT_SCHEME "/basic"));
    assert_false(wsmd__certauth_is_scheme(WSMD_CERT_SCHEME "x"));
    assert_false(wsmd__certauth_is_scheme("Basic YTpi"));
    assert_false(
        wsmd__certauth_is_scheme("http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https"));
}

static int count_name(void *arg, const char *name, size_t len)
{
    (void)name;
    (void)len;
    ++*(int *)arg;
    return 0;
}

static void test_names_garbage(void **state)
{
    (void)state;
    int n = 0;
    const unsigned char junk[] = {0x30, 0x03, 0x02, 0x01, 0x00};
    assert_int_equal(wsmd__cert_names(junk, sizeof(junk), count_name, &n), -1);
    assert_int_equal(wsmd__cert_names(junk, 0, count_name, &n), -1);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),   cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_match),         cmocka_unit_test(test_scheme),
        cmocka_unit_test(test_names_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
