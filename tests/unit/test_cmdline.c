/* WINRS_SKIP_CMD_SHELL's splitter and PATH lookup (src/shell/cmdline.c):
 * Windows' quoting rules, one case at a time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cmdline.h"

static void expect_split(const char *line, const char *const *want)
{
    size_t argc = 99, n = 0;
    char **v = shell__split_cmdline(line, &argc);
    while (want[n])
        n++;
    assert_int_equal(argc, n);
    if (!n) {
        assert_null(v);
        return;
    }
    assert_non_null(v);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(v[i], want[i]);
    assert_null(v[n]);
    free(v);
}

static void test_blanks_and_quotes(void **state)
{
    (void)state;
    expect_split("  a\tb  c ", (const char *[]){"a", "b", "c", NULL});
    expect_split("\"two words\" x", (const char *[]){"two words", "x", NULL});
    expect_split("a\"b c\"d", (const char *[]){"ab cd", NULL});
    expect_split("\"\"", (const char *[]){"", NULL});
    expect_split("\"a \"\"b\"\" c\"", (const char *[]){"a \"b\" c", NULL});
    expect_split("\"open ended", (const char *[]){"open ended", NULL});
    expect_split("$HOME ;echo *", (const char *[]){"$HOME", ";echo", "*", NULL});
    expect_split(" \t\r\n", (const char *[]){NULL});
}

static void test_backslashes(void **state)
{
    (void)state;
    expect_split("a\\\\b", (const char *[]){"a\\\\b", NULL});       /* not before a quote */
    expect_split("a\\\"b", (const char *[]){"a\"b", NULL});         /* 1: literal quote */
    expect_split("a\\\\\"b c\"", (const char *[]){"a\\b c", NULL}); /* 2: one, quote groups */
    expect_split("a\\\\\\\"b", (const char *[]){"a\\\"b", NULL});   /* 3: one and a quote */
    expect_split("c:\\dir\\ x", (const char *[]){"c:\\dir\\", "x", NULL});
}

static void test_exec_paths(void **state)
{
    (void)state;
    char *const env[] = {(char *)"A=1", (char *)"PATH=/x:/y/z::", NULL};
    char **p = shell__exec_paths("prog", env, "/bin");
    assert_non_null(p);
    assert_string_equal(p[0], "/x/prog");
    assert_string_equal(p[1], "/y/z/prog");
    assert_string_equal(p[2], "./prog"); /* an empty entry: the working directory */
    assert_string_equal(p[3], "./prog");
    assert_null(p[4]);
    free(p);
    p = shell__exec_paths("./sub/prog", env, "/bin");
    assert_string_equal(p[0], "./sub/prog");
    assert_null(p[1]);
    free(p);
    char *const none[] = {NULL};
    p = shell__exec_paths("ls", none, "/usr/bin:/bin");
    assert_string_equal(p[0], "/usr/bin/ls");
    assert_string_equal(p[1], "/bin/ls");
    assert_null(p[2]);
    free(p);
    assert_null(shell__exec_paths("", none, "/bin"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blanks_and_quotes),
        cmocka_unit_test(test_backslashes),
        cmocka_unit_test(test_exec_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
