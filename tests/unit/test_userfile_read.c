/* Unit tests for the embedded user file (src/daemon/userfile.c): the
 * user names taken, SHA-512 crypt and garbage in the password field, extra
 * fields kept, and the daemon's read (bad lines skipped, the file's mode). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <crypt.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "userfile_helpers.h"

static void test_username_ok(void **state)
{
    (void)state;
    assert_true(wsmd__username_ok("alice"));
    assert_true(wsmd__username_ok("a"));
    assert_true(wsmd__username_ok("DOMAIN\\user"));
    assert_true(wsmd__username_ok("user@example.org"));
    assert_true(wsmd__username_ok("with space"));
    assert_true(wsmd__username_ok("j\xc3\xbcrgen"));
    assert_false(wsmd__username_ok(""));
    assert_false(wsmd__username_ok("a:b"));
    assert_false(wsmd__username_ok(":"));
    assert_false(wsmd__username_ok("a\nb"));
    assert_false(wsmd__username_ok("a\rb"));
    assert_false(wsmd__username_ok("\t"));
    assert_false(wsmd__username_ok("a\x01"));
    assert_false(wsmd__username_ok("\x1f"));
    assert_false(wsmd__username_ok("a\x7f"));

    char name[WSMD_MAX_USER + 1];
    memset(name, 'n', sizeof(name));
    name[WSMD_MAX_USER - 1] = '\0';
    assert_true(wsmd__username_ok(name));
    name[WSMD_MAX_USER - 1] = 'n';
    name[WSMD_MAX_USER] = '\0';
    assert_false(wsmd__username_ok(name));

    /* set refuses the same names. */
    struct wsmd_userfile uf = {0};
    assert_int_equal(wsmd__userfile_set(&uf, "a:b", "pw"), WSM_ERR_INVALID_ARG);
    assert_int_equal(wsmd__userfile_set(&uf, "", "pw"), WSM_ERR_INVALID_ARG);
    assert_int_equal(wsmd__userfile_set(&uf, "a\nb", "pw"), WSM_ERR_INVALID_ARG);
    assert_int_equal(uf.n, 0);
}

static void test_sha512_crypt(void **state)
{
    struct fixture *f = *state;
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    assert_non_null(cd);
    const char *h = crypt_r("s3cret!", "$6$abcdefgh12345678$", cd);
    assert_non_null(h);
    assert_memory_equal(h, "$6$abcdefgh12345678$", 20);
    char line[512];
    snprintf(line, sizeof(line), "carol:%s\n", h);
    free(cd);

    write_file(f->path, line);
    struct wsmd_userfile uf = {0};
    assert_int_equal(wsmd__userfile_load(f->path, &uf), WSM_OK);
    assert_int_equal(uf.n, 1);
    const struct wsmd_user *u = wsmd__userfile_find(&uf, "carol");
    assert_non_null(u);
    assert_memory_equal(u->hash, "$6$", 3);
    assert_true(wsmd__password_check("s3cret!", u->hash));
    assert_false(wsmd__password_check("s3cret", u->hash));
    assert_false(wsmd__password_check("s3cret!!", u->hash));

    /* Re-setting the password upgrades it to yescrypt. */
    assert_int_equal(wsmd__userfile_set(&uf, "carol", "s3cret!"), WSM_OK);
    assert_memory_equal(uf.users[0].hash, "$y$", 3);
    wsmd__userfile_clear(&uf);
}

static void test_password_check_garbage(void **state)
{
    (void)state;
    /* Hashes that cannot match anything. */
    static const char *const hashes[] = {"", "*", "!", "!!", "*LK*", "$y$", "$6$", "x"};
    for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++) {
        if (wsmd__password_check("", hashes[i]) || wsmd__password_check("x", hashes[i]) ||
            wsmd__password_check(hashes[i], hashes[i]))
            fail_msg("hash \"%s\" accepted a password", hashes[i]);
    }
}

static void test_extra_fields(void **state)
{
    struct fixture *f = *state;
    struct wsmd_userfile uf = {0};
    write_file(f->path, "dave:$y$abc:ntlm:0123456789ABCDEF\nerin:$y$def\n");
    assert_int_equal(wsmd__userfile_load(f->path, &uf), WSM_OK);
    assert_int_equal(uf.n, 2);
    assert_string_equal(uf.users[0].hash, "$y$abc");
    assert_string_equal(uf.users[0].rest, "ntlm:0123456789ABCDEF");
    assert_null(uf.users[1].rest);

    assert_int_equal(wsmd__userfile_save(f->path, &uf), WSM_OK);
    char *content = read_file(f->path);
    assert_string_equal(content, "dave:$y$abc:ntlm:0123456789ABCDEF\nerin:$y$def\n");
    free(content);

    /* A new password keeps the extra fields. */
    assert_int_equal(wsmd__userfile_set(&uf, "dave", "newpw"), WSM_OK);
    assert_string_equal(uf.users[0].rest, "ntlm:0123456789ABCDEF");
    assert_int_equal(wsmd__userfile_save(f->path, &uf), WSM_OK);
    wsmd__userfile_clear(&uf);

    assert_int_equal(wsmd__userfile_load(f->path, &uf), WSM_OK);
    assert_string_equal(uf.users[0].rest, "ntlm:0123456789ABCDEF");
    assert_true(wsmd__password_check("newpw", uf.users[0].hash));
    content = read_file(f->path);
    char expect[512];
    snprintf(expect, sizeof(expect), "dave:%s:ntlm:0123456789ABCDEF\nerin:$y$def\n",
             uf.users[0].hash);
    assert_string_equal(content, expect);
    free(content);

    /* An empty extra field is kept as such. */
    write_file(f->path, "fay:$y$abc:\n");
    wsmd__userfile_clear(&uf);
    assert_int_equal(wsmd__userfile_load(f->path, &uf), WSM_OK);
    assert_string_equal(uf.users[0].rest, "");
    assert_int_equal(wsmd__userfile_save(f->path, &uf), WSM_OK);
    content = read_file(f->path);
    assert_string_equal(content, "fay:$y$abc:\n");
    free(content);
    wsmd__userfile_clear(&uf);
}

/* The daemon's read: one bad line is skipped (and named by number), not
 * fatal for every user; the CLI's strict load still refuses it. */
static void test_read_skips_bad_lines(void **state)
{
    struct fixture *f = *state;
    write_file(f->path, "alice:$y$a\n"
                        "no colon here\n"
                        "bob:$y$b:rest\n"
                        "carol:\n"
                        "bad\x01name:$y$c\n"
                        "alice:$y$again\n"
                        "dave:$y$d\n");
    assert_int_equal(chmod(f->path, 0600), 0);
    struct wsmd_userfile uf = {0};
    char why[256];
    assert_int_equal(wsmd__userfile_read(f->path, 0, &uf, why, sizeof(why)), WSM_ERR_INVALID_ARG);
    assert_non_null(strstr(why, "line 2"));
    assert_int_equal(uf.n, 0);
    assert_int_equal(wsmd__userfile_load(f->path, &uf), WSM_ERR_INVALID_ARG);
    assert_int_equal(
        wsmd__userfile_read(f->path, WSMD_UF_SKIP_BAD | WSMD_UF_MODE, &uf, why, sizeof(why)),
        WSM_OK);
    assert_int_equal(uf.n, 3);
    assert_string_equal(uf.users[0].name, "alice");
    assert_string_equal(uf.users[0].hash, "$y$a"); /* the first line of a name wins */
    assert_string_equal(uf.users[1].name, "bob");
    assert_string_equal(uf.users[2].name, "dave");
    wsmd__userfile_clear(&uf);
}

/* The file holds NT hashes (password-equivalent): with WSMD_UF_MODE only
 * a file that only its owner (wsmd's user or root) can write, and nobody
 * else can read, is used. */
static void test_read_mode(void **state)
{
    struct fixture *f = *state;
    write_file(f->path, "alice:$y$a\n");
    static const struct {
        mode_t mode;
        int ok;
    } cases[] = {
        {0600, 1}, {0400, 1}, {0640, 1}, {0660, 0}, {0620, 0},
        {0604, 0}, {0602, 0}, {0666, 0}, {0644, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(chmod(f->path, cases[i].mode), 0);
        struct wsmd_userfile uf = {0};
        char why[256] = "";
        enum wsm_err e = wsmd__userfile_read(f->path, WSMD_UF_MODE, &uf, why, sizeof(why));
        if (cases[i].ok) {
            assert_int_equal(e, WSM_OK);
            assert_int_equal(uf.n, 1);
        } else {
            if (e != WSM_ERR_ACCESS_DENIED)
                fail_msg("mode %o accepted", (unsigned)cases[i].mode);
            assert_non_null(strstr(why, f->path));
            assert_int_equal(uf.n, 0);
        }
        wsmd__userfile_clear(&uf);
        /* Without the flag (the CLI, which rewrites it 0600) it is read. */
        assert_int_equal(wsmd__userfile_read(f->path, 0, &uf, NULL, 0), WSM_OK);
        wsmd__userfile_clear(&uf);
    }
    /* A directory is not a user file. */
    struct wsmd_userfile uf = {0};
    assert_int_not_equal(wsmd__userfile_read(f->dir, WSMD_UF_MODE, &uf, NULL, 0), WSM_OK);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_username_ok),  T(test_sha512_crypt),         T(test_password_check_garbage),
        T(test_extra_fields), T(test_read_skips_bad_lines), T(test_read_mode),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
