/* Unit tests for the Basic authentication gate (src/daemon/auth.c) and
 * its user file: root needs AllowRoot, users removed from the file, a bad
 * line skipped at reload, a file others can write refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <crypt.h>
#include <dirent.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth_helpers.h"
#include "base64.h"

/* ---- AllowRoot, removed users, bad lines, file mode -------------------- */

static void append(const char *path, const char *text)
{
    FILE *fp = fopen(path, "a");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_root_needs_allow_root(void **state)
{
    struct fixture *f = *state;
    const char *v[] = {"root", "root-pw", "alice", "alice-pw", NULL};
    write_users(f->path, v);
    struct wsmd_auth *a = NULL;
    assert_int_equal(wsmd__auth_new(f->path, NULL, &a), WSM_OK);
    const char *why = NULL;
    /* Refused by default, with the right password, before it is checked. */
    assert_int_equal(wsmd__auth_verify(a, "root", "root-pw", &why), WSM_ERR_AUTH);
    assert_non_null(why);
    assert_string_equal(why, "uid0-without-AllowRoot");
    assert_int_equal(wsmd__auth_verify(a, "alice", "alice-pw", &why), WSM_OK);
    /* Not root: an account of uid 0 of another name is not root here. */
    assert_int_equal(wsmd__auth_is_root("root", 0, 0), 1);
    assert_int_equal(wsmd__auth_is_root("alice", 0, 1), 0);
    /* As root, any account of uid 0 counts (the test runs with a root
     * account in /etc/passwd: its name is "root"). */
    assert_int_equal(wsmd__auth_is_root("root", 1, 0), 1);
    /* uid 0 under another name, from /etc/passwd, with and without NSS. */
    FILE *pf = fopen("/etc/passwd", "re");
    assert_non_null(pf);
    struct passwd *pw;
    while ((pw = fgetpwent(pf)))
        if (pw->pw_uid != 0)
            break;
    assert_non_null(pw);
    assert_int_equal(wsmd__auth_is_root(pw->pw_name, 1, 0), 0);
    assert_int_equal(wsmd__auth_is_root(pw->pw_name, 1, 1), 0);
    fclose(pf);
    assert_int_equal(wsmd__auth_is_root("wsmd-no-such-account", 1, 1), 0);
    /* AllowRoot = true. */
    wsmd__auth_set_root_policy(a, 1, 0);
    assert_int_equal(wsmd__auth_verify(a, "root", "root-pw", &why), WSM_OK);
    assert_int_equal(wsmd__auth_verify(a, "root", "bad", &why), WSM_ERR_AUTH);
    assert_string_equal(why, "bad-password");
    wsmd__auth_free(a);
}

struct removed {
    char names[8][32];
    int n;
};

static void on_removed(void *arg, const char *user)
{
    struct removed *r = arg;
    if (r->n < 8)
        snprintf(r->names[r->n++], sizeof(r->names[0]), "%s", user);
}

static int removed_has(const struct removed *r, const char *name)
{
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->names[i], name))
            return 1;
    return 0;
}

static void test_removed_callback(void **state)
{
    struct fixture *f = *state;
    const char *v1[] = {"alice", "a-pw", "bob", "b-pw", "carol", "c-pw", NULL};
    write_users(f->path, v1);
    struct wsmd_auth *a = NULL;
    assert_int_equal(wsmd__auth_new(f->path, NULL, &a), WSM_OK);
    struct removed r = {0};
    wsmd__auth_set_removed_cb(a, on_removed, &r);
    assert_int_equal(wsmd__auth_check(a, "bob", "b-pw"), WSM_OK);
    assert_int_equal(wsmd__auth_check(a, "bob", "b-pw"), WSM_OK); /* cached */
    assert_int_equal(r.n, 0);

    pause_a_little();
    const char *v2[] = {"alice", "a-pw", NULL};
    write_users(f->path, v2);
    noticed();
    wsmd__auth_reload(a); /* the watcher did it already, or does it now */
    assert_int_equal(r.n, 2);
    assert_true(removed_has(&r, "bob"));
    assert_true(removed_has(&r, "carol"));
    /* The removed user's cached credential is gone with it. */
    assert_int_equal(wsmd__auth_check(a, "bob", "b-pw"), WSM_ERR_AUTH);
    assert_int_equal(wsmd__auth_check(a, "alice", "a-pw"), WSM_OK);
    /* No change, no callback. */
    wsmd__auth_reload(a);
    assert_int_equal(r.n, 2);
    wsmd__auth_free(a);
}

static void test_bad_line_skipped_at_reload(void **state)
{
    struct fixture *f = *state;
    const char *v[] = {"alice", "a-pw", "bob", "b-pw", NULL};
    write_users(f->path, v);
    struct wsmd_auth *a = NULL;
    assert_int_equal(wsmd__auth_new(f->path, NULL, &a), WSM_OK);
    assert_int_equal(wsmd__auth_check(a, "alice", "a-pw"), WSM_OK);
    pause_a_little();
    append(f->path, "garbage without a colon\n:emptyname\nalice:$y$other\n");
    noticed();
    wsmd__auth_reload(a);
    /* Every good user still logs in (re-verified: the cache was dropped). */
    assert_int_equal(wsmd__auth_check(a, "alice", "a-pw"), WSM_OK);
    assert_int_equal(wsmd__auth_check(a, "bob", "b-pw"), WSM_OK);
    wsmd__auth_free(a);
}

static void test_insecure_file_refused(void **state)
{
    struct fixture *f = *state;
    const char *v[] = {"alice", "a-pw", NULL};
    write_users(f->path, v);
    struct wsmd_auth *a = NULL;
    /* At start: refused. */
    assert_int_equal(chmod(f->path, 0666), 0);
    assert_int_not_equal(wsmd__auth_new(f->path, NULL, &a), WSM_OK);
    assert_null(a);
    assert_int_equal(chmod(f->path, 0644), 0);
    assert_int_not_equal(wsmd__auth_new(f->path, NULL, &a), WSM_OK);
    assert_int_equal(chmod(f->path, 0620), 0);
    assert_int_not_equal(wsmd__auth_new(f->path, NULL, &a), WSM_OK);
    assert_int_equal(chmod(f->path, 0640), 0); /* group-readable is allowed */
    assert_int_equal(wsmd__auth_new(f->path, NULL, &a), WSM_OK);

    /* At reload: the last good users stay, what others could write is not used. */
    pause_a_little();
    const char *v2[] = {"alice", "a-pw", "mallory", "m-pw", NULL};
    char other[400];
    snprintf(other, sizeof(other), "%s.new", f->path);
    write_users(other, v2);
    assert_int_equal(chmod(other, 0666), 0);
    assert_int_equal(rename(other, f->path), 0); /* in place at once, as others could write it */
    noticed();
    wsmd__auth_reload(a);
    assert_int_equal(wsmd__auth_check(a, "mallory", "m-pw"), WSM_ERR_AUTH);
    assert_int_equal(wsmd__auth_check(a, "alice", "a-pw"), WSM_OK);
    /* Made safe again: used. */
    assert_int_equal(chmod(f->path, 0600), 0);
    noticed();
    wsmd__auth_reload(a);
    assert_int_equal(wsmd__auth_check(a, "mallory", "m-pw"), WSM_OK);
    wsmd__auth_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_root_needs_allow_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_line_skipped_at_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insecure_file_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
