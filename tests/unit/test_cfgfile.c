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

static int same_str(const char *a, const char *b)
{
    return !strcmp(a, b);
}

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

/* The one scanner reads a line as config.c's loader does. */
static void test_scanner_as_the_loader(void **state)
{
    (void)state;
    struct wsmd_cfgline l;
    const char *a = "\t Listen\f=  http://0.0.0.0:5985 \r # all";
    assert_true(wsmd__cfgfile_scan(a, strlen(a), &l));
    assert_int_equal(l.ke - l.ks, 6);
    assert_memory_equal(a + l.ks, "Listen", 6);
    assert_int_equal(l.ve - l.vs, strlen("http://0.0.0.0:5985"));
    assert_memory_equal(a + l.vs, "http://0.0.0.0:5985", l.ve - l.vs);
    assert_int_equal(a[l.cmt], '#');
    const char *none[] = {"", "   ", "# Listen = x", "Listen", " = x", "Users # = x"};
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
        assert_false(wsmd__cfgfile_scan(none[i], strlen(none[i]), &l));
    /* A NUL ends the line, as fgets() + strchr() in the loader. */
    assert_false(wsmd__cfgfile_scan("Key\0= v", 7, &l));
    /* A form feed before the key: the loader skips it, so does the editor
     * (the line is changed, not a second one appended). */
    struct wsmd_cfgedit ed = {"IdleTimeout", "5"};
    assert_string_equal(rw("\fIdleTimeout = 1\n", &ed, 1), "\fIdleTimeout = 5\n");
}

/* Any key for the general editor (quickconfig's CertificateFile);
 * repeatable keys added and removed. */
static void test_set_text_and_lines(void **state)
{
    (void)state;
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    struct wsmd_cfgedit ed[] = {{"CertificateFile", "/etc/wsmd/c.pem"}, {"KeyFile", NULL}};
    const char *in = "# c\nKeyFile = /old\nCertificateFile=/old # was\n";
    assert_int_equal(wsmd__cfgfile_set_text(in, strlen(in), ed, 2, &b), WSM_OK);
    assert_string_equal(b.data, "# c\nCertificateFile = /etc/wsmd/c.pem # was\n");
    wsm__buf_reset(&b);
    assert_int_equal(wsmd__cfgfile_rewrite(in, strlen(in), ed, 2, &b), WSM_ERR_INVALID_ARG);
    struct wsmd_cfgedit empty = {"", "x"};
    assert_int_equal(wsmd__cfgfile_set_text(in, strlen(in), &empty, 1, &b), WSM_ERR_INVALID_ARG);
    wsm__buf_free(&b);
    unsigned removed = 9;
    wsm__buf_init(&b, 0);
    const char *t = "A = 1\nListen = x # one\nlisten=y\nListen = x";
    assert_int_equal(
        wsmd__cfgfile_lines_text(t, strlen(t), "Listen", "z", "x", same_str, &b, &removed), WSM_OK);
    assert_string_equal(b.data, "A = 1\nlisten=y\nListen = z\n");
    assert_int_equal(removed, 2);
    wsm__buf_free(&b);
}

/* Nothing to change: the file is not written (quickconfig's second run). */
static void test_write_unchanged_is_not_written(void **state)
{
    (void)state;
    char dir[256], path[300];
    assert_int_equal(test_tmpdir_make(dir, sizeof(dir), "cfgfile"), 0);
    snprintf(path, sizeof(path), "%s/wsmd.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("IdleTimeout = 5\n", f);
    fclose(f);
    struct stat before, after;
    assert_int_equal(stat(path, &before), 0);
    struct wsmd_cfgedit ed = {"IdleTimeout", "5"};
    assert_int_equal(wsmd__cfgfile_edit(path, &ed, 1), WSM_OK);
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino); /* no rename happened */
    ed.value = "6";
    assert_int_equal(wsmd__cfgfile_edit(path, &ed, 1), WSM_OK);
    assert_int_equal(stat(path, &after), 0);
    assert_int_not_equal(before.st_ino, after.st_ino);
    unsigned removed = 0;
    assert_int_equal(
        wsmd__cfgfile_edit_lines(path, "Listen", "http://0.0.0.0:1", NULL, NULL, &removed), WSM_OK);
    f = fopen(path, "r");
    char got[128] = "";
    size_t n = fread(got, 1, sizeof(got) - 1, f);
    got[n] = '\0';
    fclose(f);
    assert_string_equal(got, "IdleTimeout = 6\nListen = http://0.0.0.0:1\n");
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
        cmocka_unit_test(test_scanner_as_the_loader),
        cmocka_unit_test(test_set_text_and_lines),
        cmocka_unit_test(test_write_unchanged_is_not_written),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
