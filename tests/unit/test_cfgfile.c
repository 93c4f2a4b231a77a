/* Unit tests for the configuration file editor (src/daemon/cfgfile.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfgfile.h"
#include "tmpdir.h"

/* Rewrites text with the edits; returns the new text (static). */
static const char *rw(const char *text, const struct wsmd_cfgedit *ed, size_t n)
{
    static char res[4096];
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    assert_int_equal(wsmd__cfgfile_rewrite(text, strlen(text), ed, n, &b), WSM_OK);
    snprintf(res, sizeof(res), "%.*s", (int)b.len, b.data ? b.data : "");
    wsm__buf_free(&b);
    return res;
}

static void test_in_place_keeps_the_rest(void **state)
{
    (void)state;
    const char *in = "# wsmd.conf\n"
                     "\n"
                     "Listen = http://127.0.0.1:5985\n"
                     "  maxshellsperuser=30   # the Windows default\n"
                     "Unknown = kept\n";
    struct wsmd_cfgedit ed = {"MaxShellsPerUser", "5"};
    assert_string_equal(rw(in, &ed, 1), "# wsmd.conf\n"
                                        "\n"
                                        "Listen = http://127.0.0.1:5985\n"
                                        "  maxshellsperuser = 5 # the Windows default\n"
                                        "Unknown = kept\n");
}

static void test_append_and_missing_newline(void **state)
{
    (void)state;
    struct wsmd_cfgedit ed[] = {{"AllowUnencrypted", "true"}, {"IdleTimeout", "60000"}};
    assert_string_equal(rw("Listen = http://127.0.0.1:1", ed, 2),
                        "Listen = http://127.0.0.1:1\nAllowUnencrypted = true\n"
                        "IdleTimeout = 60000\n");
    assert_string_equal(rw("", ed, 1), "AllowUnencrypted = true\n");
}

static void test_duplicates_and_removal(void **state)
{
    (void)state;
    const char *in = "MaxEnvelopeSize = 153600\n"
                     "MaxEnvelopeSizekb = 100\n"
                     "# MaxEnvelopeSizekb = 7 (a comment is not a setting)\n"
                     "MaxEnvelopeSizekb = 200\n";
    struct wsmd_cfgedit ed[] = {{"MaxEnvelopeSizekb", "1000"}, {"MaxEnvelopeSize", NULL}};
    assert_string_equal(rw(in, ed, 2), "MaxEnvelopeSizekb = 1000\n"
                                       "# MaxEnvelopeSizekb = 7 (a comment is not a setting)\n");
    /* Removing a key that is not there changes nothing. */
    struct wsmd_cfgedit rm = {"AuthBasic", NULL};
    assert_string_equal(rw("# only\n", &rm, 1), "# only\n");
}

static void test_prefix_is_not_the_key(void **state)
{
    (void)state;
    /* MaxEnvelopeSize must not match MaxEnvelopeSizekb's line, nor the
     * other way round. */
    struct wsmd_cfgedit ed = {"MaxEnvelopeSize", "65536"};
    assert_string_equal(rw("MaxEnvelopeSizekb = 100\n", &ed, 1),
                        "MaxEnvelopeSizekb = 100\nMaxEnvelopeSize = 65536\n");
}

static void test_refusals(void **state)
{
    (void)state;
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    const char *bad[] = {"1\nListen = http://0.0.0.0:80", "1 # x", " 1", "1 ", "a\rb", NULL};
    for (size_t i = 0; bad[i]; i++) {
        struct wsmd_cfgedit ed = {"MaxShellsPerUser", bad[i]};
        assert_int_equal(wsmd__cfgfile_rewrite("", 0, &ed, 1, &b), WSM_ERR_INVALID_ARG);
    }
    struct wsmd_cfgedit other = {"Users", "/tmp/x"};
    assert_int_equal(wsmd__cfgfile_rewrite("", 0, &other, 1, &b), WSM_ERR_INVALID_ARG);
    assert_int_equal(b.len, 0);
    wsm__buf_free(&b);
    assert_true(wsmd__cfgfile_key_managed("allowunencrypted"));
    assert_false(wsmd__cfgfile_key_managed("Listen"));
    assert_false(wsmd__cfgfile_key_managed(NULL));
}

static void test_edit_file(void **state)
{
    (void)state;
    char dir[256], path[300], link[300];
    assert_int_equal(test_tmpdir_make(dir, sizeof(dir), "cfgfile"), 0);
    snprintf(path, sizeof(path), "%s/wsmd.conf", dir);
    snprintf(link, sizeof(link), "%s/link.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("# keep me\nAllowUnencrypted = false\n", f);
    fclose(f);
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(symlink("wsmd.conf", link), 0);
    struct wsmd_cfgedit ed = {"AllowUnencrypted", "true"};
    assert_int_equal(wsmd__cfgfile_edit(link, &ed, 1), WSM_OK);
    char got[256] = "";
    f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(got, 1, sizeof(got) - 1, f);
    got[n] = '\0';
    fclose(f);
    assert_string_equal(got, "# keep me\nAllowUnencrypted = true\n");
    struct stat st, lst;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(lstat(link, &lst), 0);
    assert_true(S_ISLNK(lst.st_mode)); /* the target was replaced, not the link */
    /* A refused edit leaves the file as it was, and no temporary file. */
    struct wsmd_cfgedit bad = {"AllowUnencrypted", "x\ny"};
    assert_int_equal(wsmd__cfgfile_edit(path, &bad, 1), WSM_ERR_INVALID_ARG);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "test $(ls -A %s | wc -l) -eq 2", dir);
    assert_int_equal(system(cmd), 0);
    /* A missing file is not created. */
    snprintf(path, sizeof(path), "%s/none.conf", dir);
    assert_int_equal(wsmd__cfgfile_edit(path, &ed, 1), WSM_ERR_NOT_FOUND);
    assert_int_not_equal(access(path, F_OK), 0);
    test_tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_place_keeps_the_rest),
        cmocka_unit_test(test_append_and_missing_newline),
        cmocka_unit_test(test_duplicates_and_removal),
        cmocka_unit_test(test_prefix_is_not_the_key),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_edit_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
