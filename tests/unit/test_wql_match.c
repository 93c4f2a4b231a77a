/* Unit tests for the WQL matcher (src/providers/wql.c): comparisons of
 * strings, integers, reals, booleans, NULL, arrays, and LIKE, over a fake
 * class's instance (wql_helpers.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wql_helpers.h"

/* ---- matching ------------------------------------------------------- */

static void test_match_strings(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f);
    set(&f, P_NAME, "Beta");
    assert_true(m(&f, "Name = 'beta'"));
    assert_true(m(&f, "Name = 'BETA'"));
    assert_false(m(&f, "Name = 'bet'"));
    assert_true(m(&f, "Name <> 'alpha'"));
    assert_true(m(&f, "Name != 'alpha'"));
    assert_false(m(&f, "Name <> 'BETA'"));
    assert_true(m(&f, "Name > 'ALPHA'"));
    assert_true(m(&f, "Name >= 'beta'"));
    assert_true(m(&f, "Name < 'gamma'"));
    assert_true(m(&f, "Name < 'BETAS'"));
    assert_true(m(&f, "Name <= 'Beta'"));
    assert_false(m(&f, "Name < 'beta'"));
    assert_false(m(&f, "Name > 'c'"));
    /* Datetimes compare as text. */
    set(&f, P_INSTALLED, "2026-11-25T23:45:01.500000Z");
    assert_true(m(&f, "Installed > '2026-01-01'"));
    assert_true(m(&f, "Installed < '2027'"));
    assert_true(m(&f, "Installed >= '2026-11-25T23:45:01.500000Z'"));
    assert_true(m(&f, "Installed = '2026-11-25t23:45:01.500000z'"));
    assert_false(m(&f, "Installed < '2026-11-25T23:45:01'"));
}

static void test_match_integers(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f);
    set(&f, P_COUNT, "10");
    assert_true(m(&f, "Count = 10"));
    assert_true(m(&f, "Count = '10'"));
    assert_true(m(&f, "Count = 010"));
    assert_false(m(&f, "Count = 9"));
    assert_true(m(&f, "Count <> 9"));
    assert_true(m(&f, "Count != 9"));
    assert_false(m(&f, "Count <> 10"));
    assert_true(m(&f, "Count < 11"));
    assert_false(m(&f, "Count < 10"));
    assert_true(m(&f, "Count <= 10"));
    assert_true(m(&f, "Count > 9")); /* numeric, not text: "10" < "9" as text */
    assert_false(m(&f, "Count > 10"));
    assert_true(m(&f, "Count >= 10"));
    assert_true(m(&f, "Count > -1"));
    /* Against a real literal. */
    assert_true(m(&f, "Count > 9.5"));
    assert_true(m(&f, "Count < 10.5"));
    assert_true(m(&f, "Count = 10.0"));
    assert_true(m(&f, "Count = '1e1'"));

    /* uint64 near 2^64. */
    set(&f, P_BIG, "18446744073709551615");
    assert_true(m(&f, "Big = 18446744073709551615"));
    assert_false(m(&f, "Big = 18446744073709551614"));
    assert_true(m(&f, "Big > 18446744073709551614"));
    assert_false(m(&f, "Big < 18446744073709551615"));
    assert_true(m(&f, "Big >= 9223372036854775808"));
    assert_true(m(&f, "Big > -9223372036854775808"));
    assert_true(m(&f, "Big > 18446744073709551614.0"));
    set(&f, P_BIG, "18446744073709551614");
    assert_true(m(&f, "Big < 18446744073709551615"));
    assert_true(m(&f, "Big <> 18446744073709551615"));
    set(&f, P_BIG, "0");
    assert_true(m(&f, "Big = -0"));
    assert_true(m(&f, "Big < 18446744073709551615 AND Big >= 0"));

    /* Negative sint64, down to its minimum. */
    set(&f, P_DELTA, "-9223372036854775808");
    assert_true(m(&f, "Delta = -9223372036854775808"));
    assert_true(m(&f, "Delta < -9223372036854775807"));
    assert_true(m(&f, "Delta > -9223372036854775809"));
    assert_true(m(&f, "Delta < 0"));
    assert_true(m(&f, "Delta < 9223372036854775807"));
    assert_false(m(&f, "Delta > -1"));
    set(&f, P_DELTA, "-3");
    assert_true(m(&f, "Delta > -4 AND Delta < -2 AND Delta <> 3"));
    assert_true(m(&f, "Delta > -3.5"));
    set(&f, P_DELTA, "0");
    assert_true(m(&f, "Delta = 0 AND Delta > -1 AND Delta < 1"));
    set(&f, P_SMALL, "-1");
    assert_true(m(&f, "Small = '-1'"));
    assert_true(m(&f, "Small < 0"));

    /* A value that is not an integer (provider bug) compares false. */
    set(&f, P_COUNT, "ten");
    assert_false(m(&f, "Count = 10"));
    assert_false(m(&f, "Count <> 10"));
    assert_true(m(&f, "NOT Count = 10"));
    set(&f, P_COUNT, "");
    assert_false(m(&f, "Count < 10"));
    set(&f, P_COUNT, "99999999999999999999999");
    assert_false(m(&f, "Count > 1"));
}

static void test_match_reals(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f);
    set(&f, P_RATIO, "0.1");
    assert_true(m(&f, "Ratio = 0.1"));
    assert_true(m(&f, "Ratio = '0.1'"));
    assert_true(m(&f, "Ratio <> 0.2"));
    assert_true(m(&f, "Ratio < 1"));
    assert_true(m(&f, "Ratio <= 0.1"));
    assert_true(m(&f, "Ratio > -1e3"));
    assert_true(m(&f, "Ratio >= 0"));
    assert_false(m(&f, "Ratio > 0.1"));
    set(&f, P_WEIGHT, "1.5E2");
    assert_true(m(&f, "Weight = 150"));
    assert_true(m(&f, "Weight > 149.9"));
    /* NaN is unordered: only <> holds. INF orders. */
    set(&f, P_RATIO, "NaN");
    assert_false(m(&f, "Ratio = 0"));
    assert_false(m(&f, "Ratio < 0"));
    assert_false(m(&f, "Ratio >= 0"));
    assert_true(m(&f, "Ratio <> 0"));
    set(&f, P_RATIO, "-INF");
    assert_true(m(&f, "Ratio < -1e300"));
    set(&f, P_RATIO, "1.5abc");
    assert_false(m(&f, "Ratio > 0"));
    set(&f, P_RATIO, "");
    assert_false(m(&f, "Ratio <> 0"));
}

static void test_match_booleans(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f);
    set(&f, P_ENABLED, "true");
    assert_true(m(&f, "Enabled = TRUE"));
    assert_true(m(&f, "Enabled = true"));
    assert_true(m(&f, "Enabled = 'True'"));
    assert_true(m(&f, "Enabled = 1"));
    assert_true(m(&f, "TRUE = Enabled"));
    assert_false(m(&f, "Enabled = FALSE"));
    assert_true(m(&f, "Enabled <> FALSE"));
    assert_true(m(&f, "Enabled > FALSE"));
    assert_false(m(&f, "Enabled < TRUE"));
    set(&f, P_ENABLED, "false");
    assert_true(m(&f, "Enabled = FALSE"));
    assert_true(m(&f, "Enabled = 'false'"));
    assert_true(m(&f, "Enabled = 0"));
    assert_true(m(&f, "NOT Enabled = TRUE"));
    set(&f, P_ENABLED, "maybe");
    assert_false(m(&f, "Enabled = TRUE"));
    assert_false(m(&f, "Enabled = FALSE"));
}

static void test_match_null(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f); /* everything NULL */
    assert_false(m(&f, "Name = 'x'"));
    assert_false(m(&f, "Name <> 'x'"));
    assert_false(m(&f, "Name < 'x'"));
    assert_false(m(&f, "Name LIKE '%'"));
    assert_false(m(&f, "Count = 0"));
    assert_false(m(&f, "Count <> 0"));
    assert_false(m(&f, "Enabled = FALSE"));
    /* Two-valued logic: NOT of a comparison with NULL is true. */
    assert_true(m(&f, "NOT Name = 'x'"));
    assert_true(m(&f, "Name NOT LIKE 'x%'"));
    assert_true(m(&f, "Name IS NULL"));
    assert_false(m(&f, "Name IS NOT NULL"));
    assert_true(m(&f, "Name = NULL"));
    assert_true(m(&f, "NULL = Name"));
    assert_false(m(&f, "Name <> NULL"));
    assert_false(m(&f, "Name != NULL"));
    assert_true(m(&f, "Count IS NULL AND Ratio IS NULL AND Enabled is null"));
    set(&f, P_NAME, "x");
    assert_false(m(&f, "Name IS NULL"));
    assert_true(m(&f, "name is not null"));
    assert_true(m(&f, "Name <> NULL"));
    assert_true(m(&f, "NULL <> Name"));
    assert_false(m(&f, "Name = NULL"));
    /* The empty string is not NULL. */
    set(&f, P_NAME, "");
    assert_true(m(&f, "Name IS NOT NULL"));
    assert_true(m(&f, "Name = ''"));
}

static void test_match_arrays(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f);
    /* NULL array. */
    assert_true(m(&f, "Tags IS NULL"));
    assert_false(m(&f, "Tags = 'a'"));
    assert_false(m(&f, "Tags <> 'a'"));
    /* Empty array: not NULL, matches nothing. */
    const char *empty[1] = {NULL};
    set_arr(&f, P_TAGS, empty, 0);
    assert_false(m(&f, "Tags IS NULL"));
    assert_true(m(&f, "Tags IS NOT NULL"));
    assert_false(m(&f, "Tags = 'a'"));
    assert_false(m(&f, "Tags LIKE '%'"));
    /* Any element. */
    const char *tags[] = {"alpha", NULL, "Beta", "gamma"};
    set_arr(&f, P_TAGS, tags, 4);
    assert_true(m(&f, "Tags = 'beta'"));
    assert_true(m(&f, "'GAMMA' = Tags"));
    assert_false(m(&f, "Tags = 'delta'"));
    assert_true(m(&f, "Tags LIKE 'g%'"));
    assert_false(m(&f, "Tags LIKE 'd%'"));
    assert_true(m(&f, "Tags < 'b'"));
    assert_true(m(&f, "Tags <> 'alpha'"));
    assert_true(m(&f, "NOT Tags = 'delta'"));
    assert_false(m(&f, "Tags IS NULL"));
    const char *one[] = {"alpha"};
    set_arr(&f, P_TAGS, one, 1);
    assert_false(m(&f, "Tags <> 'alpha'"));
    /* Numeric arrays. */
    const char *ports[] = {"22", "8080"};
    set_arr(&f, P_PORTS, ports, 2);
    assert_true(m(&f, "Ports = 22"));
    assert_true(m(&f, "Ports > 1000"));
    assert_false(m(&f, "Ports < 10"));
    assert_true(m(&f, "Ports < 100 AND Ports > 8000"));
    assert_true(m(&f, "Ports LIKE '80%'"));
}

static void test_match_like(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f);
    set(&f, P_NAME, "svchost.exe");
    /* % */
    assert_true(m(&f, "Name LIKE 'svc%'"));
    assert_true(m(&f, "Name LIKE '%.exe'"));
    assert_true(m(&f, "Name LIKE '%host%'"));
    assert_true(m(&f, "Name LIKE '%'"));
    assert_true(m(&f, "Name LIKE '%%'"));
    assert_true(m(&f, "Name LIKE 's%h%t%e'"));
    assert_false(m(&f, "Name LIKE '%.dll'"));
    assert_false(m(&f, "Name LIKE 'host%'"));
    assert_false(m(&f, "Name LIKE 'svchost'"));
    assert_true(m(&f, "Name LIKE 'svchost.exe'"));
    /* Case-insensitive. */
    assert_true(m(&f, "Name LIKE 'SVCHOST.EXE'"));
    assert_true(m(&f, "Name LIKE 'S%E'"));
    /* _ */
    assert_true(m(&f, "Name LIKE 'svchos_.exe'"));
    assert_true(m(&f, "Name LIKE '___host.___'"));
    assert_false(m(&f, "Name LIKE '__host.exe'"));
    assert_false(m(&f, "Name LIKE 'svchost.exe_'"));
    assert_true(m(&f, "Name LIKE '_%_'"));
    /* Sets and ranges. */
    assert_true(m(&f, "Name LIKE '[rst]vchost.exe'"));
    assert_false(m(&f, "Name LIKE '[abc]vchost.exe'"));
    assert_true(m(&f, "Name LIKE '[a-z]vchost%'"));
    assert_true(m(&f, "Name LIKE '[A-Z]vchost%'")); /* case-insensitive sets too */
    assert_true(m(&f, "Name LIKE '[S]%'"));
    assert_false(m(&f, "Name LIKE '[0-9]%'"));
    assert_true(m(&f, "Name LIKE '[^0-9]%'"));
    assert_false(m(&f, "Name LIKE '[^s]%'"));
    assert_false(m(&f, "Name LIKE '[^a-z]%'"));
    assert_true(m(&f, "Name LIKE '[^a]%'"));
    assert_true(m(&f, "Name LIKE '%[.]exe'"));
    assert_true(m(&f, "Name LIKE '[a-cr-t]vchost.exe'"));
    assert_true(m(&f, "Name LIKE '[q-]%'") == 0);
    /* Literal wildcards through sets. */
    set(&f, P_NAME, "100%_done]");
    assert_true(m(&f, "Name LIKE '100[%][_]done[]]'"));
    assert_false(m(&f, "Name LIKE '100[%][_]doneX'"));
    set(&f, P_NAME, "a-b");
    assert_true(m(&f, "Name LIKE 'a[-]b'"));
    assert_true(m(&f, "Name LIKE 'a[x-]b'"));
    /* NOT LIKE. */
    set(&f, P_NAME, "svchost.exe");
    assert_true(m(&f, "Name NOT LIKE '%.dll'"));
    assert_false(m(&f, "Name NOT LIKE '%.exe'"));
    assert_true(m(&f, "NOT Name LIKE '%.dll'"));
    /* Empty value and pattern. */
    set(&f, P_NAME, "");
    assert_true(m(&f, "Name LIKE ''"));
    assert_true(m(&f, "Name LIKE '%'"));
    assert_false(m(&f, "Name LIKE '_'"));
    /* _ is one UTF-8 character, not one byte. */
    set(&f, P_NAME, "caf\xc3\xa9");
    assert_true(m(&f, "Name LIKE 'caf_'"));
    assert_false(m(&f, "Name LIKE 'caf__'"));
    assert_true(m(&f, "Name LIKE 'caf[\xc3\xa9\xc3\xa8]'"));
    set(&f, P_NAME, "\xe2\x82\xac"); /* 3 bytes */
    assert_true(m(&f, "Name LIKE '_'"));
    set(&f, P_NAME, "\xf0\x9f\x98\x80x"); /* 4 bytes, then x */
    assert_true(m(&f, "Name LIKE '_X'"));
    assert_true(m(&f, "Name LIKE '[\xf0\x9f\x98\x80]%'"));
    /* Bytes that are not UTF-8 are one character each. */
    set(&f, P_NAME, "\xff\xfe");
    assert_false(m(&f, "Name LIKE '_'"));
    assert_true(m(&f, "Name LIKE '__'"));
    set(&f, P_NAME, "\xe2\x82"); /* truncated sequence */
    assert_true(m(&f, "Name LIKE '__'"));
    set(&f, P_NAME, "\xc3(");
    assert_true(m(&f, "Name LIKE '_('"));
    /* LIKE on a number's text. */
    set(&f, P_COUNT, "1234");
    assert_true(m(&f, "Count LIKE '12%'"));
    /* Pathological backtracking stays fast. */
    char val[4001];
    memset(val, 'a', 4000);
    val[4000] = '\0';
    set(&f, P_NAME, val);
    assert_false(m(&f, "Name LIKE '%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%b'"));
    assert_true(m(&f, "Name LIKE '%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_strings), cmocka_unit_test(test_match_integers),
        cmocka_unit_test(test_match_reals),   cmocka_unit_test(test_match_booleans),
        cmocka_unit_test(test_match_null),    cmocka_unit_test(test_match_arrays),
        cmocka_unit_test(test_match_like),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
