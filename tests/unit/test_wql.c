/* Unit tests for the WQL parser and binder (src/providers/wql.c, wqllex.c,
 * wqlbind.c): SELECT lists, precedence, strings and numbers, the parser's
 * errors and limits, binding to a class and the select mask. Matching is
 * in test_wql_match.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wql_helpers.h"

/* ---- parsing -------------------------------------------------------- */

static void test_parse_star(void **state)
{
    (void)state;
    struct wql_query *q = NULL;
    char err[128];
    assert_int_equal(wql_parse("SELECT * FROM Win32_Process", &q, err, sizeof(err)), WSM_OK);
    assert_string_equal(wql_class_name(q), "Win32_Process");
    assert_int_equal(wql_select_count(q), 0);
    assert_null(wql_select_name(q, 0));
    wql_free(q);

    /* Lower case keywords, odd whitespace, no space around '*'. */
    assert_int_equal(wql_parse("\tselect\n*from  cim_os\r\n", &q, err, sizeof(err)), WSM_OK);
    assert_string_equal(wql_class_name(q), "cim_os");
    wql_free(q);
    wql_free(NULL);
}

static void test_parse_list(void **state)
{
    (void)state;
    struct wql_query *q = NULL;
    char err[128];
    assert_int_equal(wql_parse("Select Name, caption ,COUNT From Fake_Thing", &q, err, sizeof(err)),
                     WSM_OK);
    assert_int_equal(wql_select_count(q), 3);
    assert_string_equal(wql_select_name(q, 0), "Name");
    assert_string_equal(wql_select_name(q, 1), "caption");
    assert_string_equal(wql_select_name(q, 2), "COUNT");
    assert_null(wql_select_name(q, 3));
    assert_string_equal(wql_class_name(q), "Fake_Thing");
    wql_free(q);

    /* 64 items are fine. */
    char text[2048] = "SELECT ";
    for (int i = 0; i < 64; i++)
        strcat(text, i ? ", Name" : "Name");
    strcat(text, " FROM Fake_Thing");
    assert_int_equal(wql_parse(text, &q, err, sizeof(err)), WSM_OK);
    assert_int_equal(wql_select_count(q), 64);
    wql_free(q);
}

static void test_parse_precedence(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f);
    /* OR is loosest: Count = 1 OR (Count = 2 AND Big = 3). */
    set(&f, P_COUNT, "1");
    set(&f, P_BIG, "0");
    assert_true(m(&f, "Count = 1 OR Count = 2 AND Big = 3"));
    set(&f, P_COUNT, "2");
    assert_false(m(&f, "Count = 1 OR Count = 2 AND Big = 3"));
    set(&f, P_BIG, "3");
    assert_true(m(&f, "Count = 1 OR Count = 2 AND Big = 3"));
    /* Parentheses override. */
    set(&f, P_COUNT, "1");
    set(&f, P_BIG, "0");
    assert_false(m(&f, "(Count = 1 OR Count = 2) AND Big = 3"));
    assert_true(m(&f, "(Count = 1 OR Count = 2) AND (Big = 3 OR Big = 0)"));
    assert_true(m(&f, "((((Count = 1))))"));
    /* NOT binds tighter than AND: (NOT Count = 1) AND Big = 3. */
    set(&f, P_COUNT, "2");
    set(&f, P_BIG, "4");
    assert_false(m(&f, "NOT Count = 1 AND Big = 3"));
    assert_true(m(&f, "NOT (Count = 1 AND Big = 3)"));
    set(&f, P_BIG, "3");
    assert_true(m(&f, "NOT Count = 1 AND Big = 3"));
    assert_true(m(&f, "not not Count = 2"));
    assert_true(m(&f, "Count = 9 or Count = 8 or Count = 2"));
    assert_false(m(&f, "Count = 2 and Big = 3 and Name = 'x'"));
    assert_true(m(&f, "NOT Count = 9 OR Count = 9"));
}

static void test_parse_strings(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f);
    set(&f, P_NAME, "it's");
    assert_true(m(&f, "Name = 'it\\'s'"));
    assert_true(m(&f, "Name = \"it's\""));
    assert_true(m(&f, "Name = \"it\\'s\""));
    set(&f, P_NAME, "a \"b\" \\ c");
    assert_true(m(&f, "Name = \"a \\\"b\\\" \\\\ c\""));
    assert_true(m(&f, "Name = 'a \"b\" \\\\ c'"));
    set(&f, P_NAME, "");
    assert_true(m(&f, "Name = ''"));
    assert_true(m(&f, "Name = \"\""));
    /* Keywords inside strings are just text. */
    set(&f, P_NAME, "SELECT * FROM x WHERE");
    assert_true(m(&f, "Name = 'select * from x where'"));
    /* UTF-8 passes through. */
    set(&f, P_NAME, "caf\xc3\xa9");
    assert_true(m(&f, "Name = 'CAF\xc3\xa9'"));
}

static void test_parse_numbers(void **state)
{
    (void)state;
    struct fixture f;
    fx_init(&f);
    set(&f, P_DELTA, "-5");
    set(&f, P_SMALL, "-128");
    set(&f, P_RATIO, "-25");
    assert_true(m(&f, "Delta = -5"));
    assert_true(m(&f, "Delta>-10"));
    assert_true(m(&f, "Delta<=-5"));
    assert_true(m(&f, "Small = -128 AND Small < -127"));
    assert_true(m(&f, "Ratio = -2.5e1"));
    assert_true(m(&f, "Ratio = -25.0"));
    assert_true(m(&f, "Ratio < -.5"));
    assert_true(m(&f, "Ratio > -1E3"));
    set(&f, P_RATIO, "0.5");
    assert_true(m(&f, "Ratio = .5"));
    assert_true(m(&f, "Ratio = 5e-1"));
    /* The literal on the left: the operator is mirrored. */
    set(&f, P_COUNT, "7");
    assert_true(m(&f, "5 < Count"));
    assert_true(m(&f, "7 = Count"));
    assert_false(m(&f, "7 > Count"));
    assert_true(m(&f, "10 >= Count"));
    assert_true(m(&f, "7 <= Count"));
    assert_false(m(&f, "8 <= Count"));
    assert_true(m(&f, "8 > Count"));
    assert_true(m(&f, "7 <> Count") == 0);
    set(&f, P_NAME, "x");
    assert_true(m(&f, "'X' = Name"));
}

static void test_parse_errors(void **state)
{
    (void)state;
    parse_fails("", "expected SELECT", "end of query", "position 1", NULL);
    parse_fails("DELETE * FROM x", "expected SELECT", "'DELETE'", NULL);
    parse_fails("SELECT", "expected a property name or *", NULL);
    parse_fails("SELECT * Fake_Thing", "expected FROM", "position 10", NULL);
    parse_fails("SELECT Name Fake_Thing", "expected FROM", "'Fake_Thing'", NULL);
    parse_fails("SELECT Name, FROM x", "expected a property name", "'FROM'", NULL);
    parse_fails("SELECT *, Name FROM x", "expected FROM", "','", NULL);
    parse_fails("SELECT * FROM", "expected a class name", NULL);
    parse_fails("SELECT * FROM 'x'", "expected a class name", NULL);
    parse_fails("SELECT * FROM x WHERE", "expected a condition", "end of query", NULL);
    parse_fails("SELECT * FROM x WHERE Name = 'abc", "unterminated string", "position 30", NULL);
    parse_fails("SELECT * FROM x WHERE Name = \"abc\\\"", "unterminated string", NULL);
    parse_fails("SELECT * FROM x WHERE Name = 'a\\", "unterminated string", NULL);
    parse_fails("SELECT * FROM x WHERE Name = 'a\\nb'", "invalid escape '\\n'", "position 32",
                NULL);
    parse_fails("SELECT * FROM x WHERE Name = 'a\\\tb'", "backslash before byte 0x09", NULL);
    parse_fails("SELECT * FROM x WHERE Name # 1", "unexpected character '#'", "position 28", NULL);
    parse_fails("SELECT * FROM x WHERE Name = 1;", "unexpected character ';'", NULL);
    parse_fails("SELECT * FROM x WHERE Name ! 1", "unexpected character '!'", NULL);
    parse_fails("SELECT * FROM x WHERE Name = \x01", "unexpected byte 0x01", NULL);
    parse_fails("SELECT * FROM x WHERE Name = 'a' garbage", "unexpected 'garbage'", "after the end",
                "position 34", NULL);
    parse_fails("SELECT * FROM x y", "unexpected 'y'", NULL);
    /* Quoted text in reasons is clipped and made printable ASCII. */
    parse_fails("SELECT * FROM x WHERE Name = 'a' 'b\x01\xc3\xa9"
                "c'",
                "unexpected ''b?"
                "??c''",
                NULL);
    parse_fails("SELECT * FROM x abcdefghijklmnopqrstuvwxyz0123", "'abcdefghijklmnopqrstuvwx...'",
                NULL);
    parse_fails("SELECT * FROM x WHERE Count = 1)", "unexpected ')'", NULL);
    parse_fails("SELECT * FROM x WHERE (Count = 1", "expected ')'", "position 23", NULL);
    parse_fails("SELECT * FROM x WHERE Count =", "expected a value", NULL);
    parse_fails("SELECT * FROM x WHERE Count = AND", "expected a value", "'AND'", NULL);
    parse_fails("SELECT * FROM x WHERE Count", "expected an operator", NULL);
    parse_fails("SELECT * FROM x WHERE Count = Name", "comparing two properties", NULL);
    parse_fails("SELECT * FROM x WHERE 1 = 1", "comparing two constants", NULL);
    parse_fails("SELECT * FROM x WHERE 1 AND Name = 'a'", "expected an operator", NULL);
    parse_fails("SELECT * FROM x WHERE Name LIKE 5", "LIKE needs a quoted pattern", NULL);
    parse_fails("SELECT * FROM x WHERE Name LIKE 'a[bc'", "unterminated [", NULL);
    parse_fails("SELECT * FROM x WHERE Name NOT = 'a'", "expected LIKE after NOT", NULL);
    parse_fails("SELECT * FROM x WHERE Name IS 5", "expected NULL after IS", NULL);
    parse_fails("SELECT * FROM x WHERE Name IS NOT", "expected NULL after IS", NULL);
    parse_fails("SELECT * FROM x WHERE Count < NULL", "NULL can only be compared", NULL);
    parse_fails("SELECT * FROM x WHERE NULL > Count", "NULL can only be compared", NULL);
    parse_fails("SELECT * FROM x WHERE Count = 12abc", "malformed number", NULL);
    parse_fails("SELECT * FROM x WHERE Count = 1.2.3", "malformed number", NULL);
    parse_fails("SELECT * FROM x WHERE Count = - 1", "unexpected character '-'", NULL);
    parse_fails("SELECT * FROM x WHERE Big = 18446744073709551616", "integer out of range", NULL);
    parse_fails("SELECT * FROM x WHERE Ratio = 1e999", "real out of range", NULL);
    parse_fails("SELECT * FROM x WHERE Count = 1 AND", "expected a condition", NULL);
    parse_fails("SELECT * FROM x WHERE NOT", "expected a condition", NULL);
    parse_fails("SELECT * FROM x WHERE ()", "expected a condition", "')'", NULL);

    /* err may be NULL or tiny; out is always reset. */
    struct wql_query *q = NULL;
    assert_int_equal(wql_parse("SELECT", &q, NULL, 0), WSM_ERR_INVALID_ARG);
    assert_null(q);
    char tiny[4];
    assert_int_equal(wql_parse("SELECT", &q, tiny, sizeof(tiny)), WSM_ERR_INVALID_ARG);
    assert_int_equal(strlen(tiny), 3);
    assert_int_equal(wql_parse(NULL, &q, tiny, sizeof(tiny)), WSM_ERR_INVALID_ARG);
}

static char *repeat(const char *head, const char *unit, size_t n, const char *mid,
                    const char *unit2, size_t n2)
{
    size_t len = strlen(head) + strlen(unit) * n + strlen(mid) + strlen(unit2) * n2 + 1;
    char *s = malloc(len);
    assert_non_null(s);
    strcpy(s, head);
    for (size_t i = 0; i < n; i++)
        strcat(s, unit);
    strcat(s, mid);
    for (size_t i = 0; i < n2; i++)
        strcat(s, unit2);
    return s;
}

static void test_parse_limits(void **state)
{
    (void)state;
    struct wql_query *q = NULL;
    char err[256];
    const char *w = "SELECT * FROM Fake_Thing WHERE ";

    /* 32 levels of parentheses parse; 33 do not. */
    char *s = repeat(w, "(", 32, "Count = 1", ")", 32);
    assert_int_equal(wql_parse(s, &q, err, sizeof(err)), WSM_OK);
    wql_free(q);
    free(s);
    s = repeat(w, "(", 33, "Count = 1", ")", 33);
    parse_fails(s, "nested too deeply", "more than 32", "position 64", NULL);
    free(s);
    /* Same for NOT, and for a mix. */
    s = repeat(w, "NOT ", 32, "Count = 1", "", 0);
    assert_int_equal(wql_parse(s, &q, err, sizeof(err)), WSM_OK);
    wql_free(q);
    free(s);
    s = repeat(w, "NOT ", 33, "Count = 1", "", 0);
    parse_fails(s, "nested too deeply", NULL);
    free(s);
    s = repeat(w, "NOT (", 17, "Count = 1", ")", 17);
    parse_fails(s, "nested too deeply", NULL);
    free(s);
    /* Deep nesting of unbalanced input fails on depth, not on the stack. */
    s = repeat(w, "(", 4000, "", "", 0);
    parse_fails(s, "nested too deeply", NULL);
    free(s);

    /* 255 comparisons under one OR are 256 nodes; 256 are too many. */
    s = repeat(w, "Count = 1 OR ", 254, "Count = 1", "", 0);
    assert_int_equal(wql_parse(s, &q, err, sizeof(err)), WSM_OK);
    wql_free(q);
    free(s);
    s = repeat(w, "Count = 1 OR ", 255, "Count = 1", "", 0);
    parse_fails(s, "expression too long", "more than 256", NULL);
    free(s);

    /* 65 select items. */
    s = repeat("SELECT Name", ", Name", 64, " FROM Fake_Thing", "", 0);
    parse_fails(s, "too many properties in SELECT", "more than 64", NULL);
    free(s);

    /* 8192 bytes parse; 8193 do not. */
    s = malloc(8194);
    assert_non_null(s);
    memset(s, ' ', 8193);
    s[8193] = '\0';
    memcpy(s, "SELECT * FROM Fake_Thing", 24);
    parse_fails(s, "query too long", "more than 8192", NULL);
    s[8192] = '\0';
    assert_int_equal(wql_parse(s, &q, err, sizeof(err)), WSM_OK);
    wql_free(q);
    free(s);
}

/* ---- binding -------------------------------------------------------- */

static void test_bind(void **state)
{
    (void)state;
    /* Names are case-insensitive. */
    binds("select NAME, count from FAKE_THING where ENABLED = true and tags = 'a'");
    /* Strings that parse as the numeric or boolean type are accepted. */
    binds("SELECT * FROM Fake_Thing WHERE Count = '42' AND Ratio > '1.5' AND Big < '-3'");
    binds("SELECT * FROM Fake_Thing WHERE Enabled = 'TRUE' OR Enabled = 0 OR Enabled = 1");
    binds("SELECT * FROM Fake_Thing WHERE Count > 4.5 AND Ratio = 3 AND Weight < 2");
    binds("SELECT * FROM Fake_Thing WHERE Installed > '2026' AND Name LIKE '%'");
    binds("SELECT * FROM Fake_Thing WHERE Count LIKE '1%' AND Ports IS NULL AND Id = NULL");

    bind_fails("SELECT Name, Nope FROM Fake_Thing", "unknown property 'Nope' in SELECT",
               "Fake_Thing", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Count = 1 AND Nope = 2",
               "unknown property 'Nope' in WHERE", "position 46", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Nope IS NULL", "unknown property 'Nope'", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE NOT Nope LIKE 'a'", "unknown property 'Nope'", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Count = 'abc'", "'abc'", "not a number", "uint32",
               "position 40", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Ratio = '1.5x'", "not a number", "real64", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Count = ''", "not a number", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Big = '18446744073709551616'", "out of range", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Count = TRUE", "TRUE", "uint32", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Name = 5", "5", "string property 'Name'", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Installed = 2026", "datetime", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Tags = FALSE", "string", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Enabled = 'yes'", "not a boolean", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Count = 'x\ty\xc3\xa9'",
               "'x?y?"
               "?'",
               NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Enabled = 2", "not a boolean", NULL);
    bind_fails("SELECT * FROM Fake_Thing WHERE Enabled = 1.0", "not a boolean", NULL);
}

static void test_bind_select_mask(void **state)
{
    (void)state;
    struct wql_query *q = NULL;
    char err[128];
    assert_int_equal(wql_parse("SELECT caption, COUNT FROM Fake_Thing", &q, err, sizeof(err)),
                     WSM_OK);
    assert_int_equal(wql_selects(q, P_CAPTION), 0); /* not bound yet */
    assert_int_equal(wql_match(q, NULL), 0);
    assert_int_equal(wql_bind(q, &fake, err, sizeof(err)), WSM_OK);
    for (size_t i = 0; i < NP; i++) {
        int want = i == P_CAPTION || i == P_COUNT || i == P_NAME || i == P_ID;
        assert_int_equal(wql_selects(q, i), want);
    }
    assert_int_equal(wql_selects(q, NP), 0);
    assert_int_equal(wql_match(q, NULL), 1); /* no WHERE */

    /* Rebinding to a class without Count fails and unbinds. */
    static const struct cim_prop other_props[] = {{"Caption", CIM_STRING, 0}};
    static const struct cim_class other = {.name = "Other", .props = other_props, .nprops = 1};
    assert_int_equal(wql_bind(q, &other, err, sizeof(err)), WSM_ERR_INVALID_ARG);
    assert_non_null(strstr(err, "'COUNT'"));
    assert_int_equal(wql_selects(q, 0), 0);
    assert_int_equal(wql_bind(q, &fake, err, sizeof(err)), WSM_OK);
    assert_int_equal(wql_selects(q, P_COUNT), 1);
    wql_free(q);

    assert_int_equal(wql_parse("SELECT * FROM Fake_Thing", &q, err, sizeof(err)), WSM_OK);
    assert_int_equal(wql_bind(q, &fake, err, sizeof(err)), WSM_OK);
    for (size_t i = 0; i < NP; i++)
        assert_int_equal(wql_selects(q, i), 1);
    wql_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_star),       cmocka_unit_test(test_parse_list),
        cmocka_unit_test(test_parse_precedence), cmocka_unit_test(test_parse_strings),
        cmocka_unit_test(test_parse_numbers),    cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_limits),     cmocka_unit_test(test_bind),
        cmocka_unit_test(test_bind_select_mask),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
