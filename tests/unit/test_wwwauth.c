/* Unit tests for the client's WWW-Authenticate reader (src/lib/wwwauth.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "wwwauth.h"

static void expect_token(const char *www, const char *scheme, const char *want, size_t wantlen)
{
    unsigned char *t = NULL;
    size_t n = 99;
    assert_int_equal(wsm__www_token(www, scheme, &t, &n), WSM_OK);
    if (!want) {
        assert_null(t);
        assert_int_equal(n, 0);
        return;
    }
    assert_non_null(t);
    assert_int_equal(n, wantlen);
    assert_memory_equal(t, want, wantlen);
    free(t);
}

static void expect_err(const char *www, const char *scheme, enum wsm_err want)
{
    unsigned char *t = (unsigned char *)"x";
    size_t n = 5;
    assert_int_equal(wsm__www_token(www, scheme, &t, &n), want);
    assert_null(t);
    assert_int_equal(n, 0);
}

static void test_tokens(void **state)
{
    (void)state;
    expect_token("Negotiate aGVsbG8=\n", "Negotiate", "hello", 5);
    expect_token("negotiate   aGVsbG8=  \n", "Negotiate", "hello", 5);
    /* Several headers, several challenges in one. */
    expect_token("Basic realm=\"WSMAN\"\nNegotiate aGk=\n", "Negotiate", "hi", 2);
    expect_token("Basic realm=\"a, b\", Negotiate aGk=\n", "Negotiate", "hi", 2);
    expect_token("Negotiate, Basic realm=\"WSMAN\"\n", "Negotiate", NULL, 0);
    expect_token("Negotiate\nBasic realm=\"WSMAN\"\n", "Basic", NULL, 0);
    /* auth-params rather than a token: offered, no token. */
    expect_token("Negotiate realm=\"x\"\n", "Negotiate", NULL, 0);
    expect_token("Negotiate aGk=x\n", "Negotiate", NULL, 0);
    expect_token("Kerberos YQ==\n", "Kerberos", "a", 1);
    /* The last line needs no newline. */
    expect_token("Negotiate aGk=", "Negotiate", "hi", 2);
    /* auth-params of another scheme are not challenges. */
    expect_token("Digest realm=\"x\", nonce=\"Negotiate\", Negotiate aGk=\n", "Negotiate", "hi", 2);
}

static void test_refusals(void **state)
{
    (void)state;
    expect_err(NULL, "Negotiate", WSM_ERR_NOT_FOUND);
    expect_err("", "Negotiate", WSM_ERR_NOT_FOUND);
    expect_err("Basic realm=\"WSMAN\"\n", "Negotiate", WSM_ERR_NOT_FOUND);
    expect_err("NegotiateX aGk=\n", "Negotiate", WSM_ERR_NOT_FOUND);
    expect_err("Basic realm=\"Negotiate aGk=\"\n", "Negotiate", WSM_ERR_NOT_FOUND);
    expect_err("Negotiate a!b\n", "Negotiate", WSM_ERR_AUTH);
    expect_err("Negotiate aGk\"=\n", "Negotiate", WSM_ERR_AUTH);
    expect_err("Negotiate =abc\n", "Negotiate", WSM_ERR_NOT_FOUND); /* an auth-param */
    /* Too long a token. */
    size_t big = 4 * (WSM_WWW_MAX_TOKEN / 3 + 8);
    char *s = malloc(big + 16);
    assert_non_null(s);
    memcpy(s, "Negotiate ", 10);
    memset(s + 10, 'A', big);
    s[10 + big] = '\0';
    expect_err(s, "Negotiate", WSM_ERR_AUTH);
    free(s);
}

static void test_schemes(void **state)
{
    (void)state;
    char out[64];
    wsm__www_schemes("Negotiate\nBasic realm=\"WSMAN\", Kerberos\n", out, sizeof(out));
    assert_string_equal(out, "Negotiate, Basic, Kerberos");
    wsm__www_schemes("", out, sizeof(out));
    assert_string_equal(out, "");
    char tiny[12];
    wsm__www_schemes("Negotiate\nBasic realm=\"WSMAN\"\n", tiny, sizeof(tiny));
    assert_string_equal(tiny, "Negotiate");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_schemes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
