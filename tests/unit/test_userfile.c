/* Unit tests for the embedded user file (src/daemon/userfile.c): load,
 * set, save and delete, the format, malformed and unreadable files, save
 * errors, names that round-trip and duplicates. User names, the hashes,
 * extra fields and the daemon's read are in test_userfile_read.c. */
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

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* A check for a bug found and fixed: it fails the suite if the bug returns. */
#define KNOWN_BUG(cond, why)                                                                       \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_msg("regression (%s:%d): %s", __FILE__, __LINE__, why);                           \
    } while (0)

static void test_load_missing(void **state)
{
    struct fixture *f = *state;
    struct wsmd_userfile uf = {(struct wsmd_user *)&uf, 99}; /* garbage on purpose */
    assert_int_equal(wsmd__userfile_load(f->path, &uf), WSM_OK);
    assert_int_equal(uf.n, 0);
    assert_null(uf.users);
    assert_null(wsmd__userfile_find(&uf, "alice"));
    wsmd__userfile_clear(&uf);
}

static void test_set_save_load(void **state)
{
    struct fixture *f = *state;
    struct wsmd_userfile uf = {0};
    assert_int_equal(wsmd__userfile_set(&uf, "alice", "wonderland"), WSM_OK);
    assert_int_equal(wsmd__userfile_set(&uf, "bob", "builder"), WSM_OK);
    assert_int_equal(uf.n, 2);
    const struct wsmd_user *a = wsmd__userfile_find(&uf, "alice");
    const struct wsmd_user *b = wsmd__userfile_find(&uf, "bob");
    assert_non_null(a);
    assert_non_null(b);
    assert_null(wsmd__userfile_find(&uf, "Alice"));
    assert_null(wsmd__userfile_find(&uf, "carol"));
    assert_memory_equal(a->hash, "$y$", 3);
    assert_memory_equal(b->hash, "$y$", 3);
    /* What NTLM needs, where gss-ntlmssp reads it (smbpasswd's LM, NT and
     * flags fields): MD4 of the UTF-16LE password. */
    assert_string_equal(
        a->rest,
        "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:3E057CD123205AA168AF5F121716B335:[U          ]:");
    assert_true(wsmd__userfile_has_nthash(a));
    /* Salted: the same password twice gives different hashes. */
    struct wsmd_userfile uf2 = {0};
    assert_int_equal(wsmd__userfile_set(&uf2, "alice", "wonderland"), WSM_OK);
    assert_string_not_equal(uf2.users[0].hash, a->hash);
    wsmd__userfile_clear(&uf2);

    assert_true(wsmd__password_check("wonderland", a->hash));
    assert_false(wsmd__password_check("Wonderland", a->hash));
    assert_false(wsmd__password_check("builder", a->hash));
    assert_false(wsmd__password_check("", a->hash));
    assert_true(wsmd__password_check("builder", b->hash));

    /* A pre-existing world-readable file is replaced by a 0600 one. */
    write_file(f->path, "");
    assert_int_equal(chmod(f->path, 0644), 0);
    assert_int_equal(wsmd__userfile_save(f->path, &uf), WSM_OK);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    /* No temporary file is left behind. */
    assert_int_equal(count_entries(f->dir), 1);

    char *content = read_file(f->path);
    char expect[1024];
    snprintf(expect, sizeof(expect), "alice:%s:%s\nbob:%s:%s\n", a->hash, a->rest, b->hash,
             b->rest);
    assert_string_equal(content, expect);
    assert_memory_equal(content, "alice:$y$", 9);
    assert_non_null(strstr(content, "\nbob:$y$"));
    free(content);

    struct wsmd_userfile back = {0};
    assert_int_equal(wsmd__userfile_load(f->path, &back), WSM_OK);
    assert_int_equal(back.n, 2);
    assert_string_equal(back.users[0].name, "alice");
    assert_string_equal(back.users[1].name, "bob");
    assert_string_equal(back.users[0].hash, a->hash);
    assert_string_equal(back.users[1].hash, b->hash);
    assert_string_equal(back.users[0].rest, a->rest);
    assert_true(wsmd__password_check("wonderland", wsmd__userfile_find(&back, "alice")->hash));
    assert_false(wsmd__password_check("builder", wsmd__userfile_find(&back, "alice")->hash));
    assert_true(wsmd__password_check("builder", wsmd__userfile_find(&back, "bob")->hash));
    wsmd__userfile_clear(&back);
    assert_int_equal(back.n, 0);
    assert_null(back.users);

    /* Setting again replaces the hash in place. */
    char old[256];
    snprintf(old, sizeof(old), "%s", a->hash);
    assert_int_equal(wsmd__userfile_set(&uf, "alice", "looking-glass"), WSM_OK);
    assert_int_equal(uf.n, 2);
    a = wsmd__userfile_find(&uf, "alice");
    assert_string_not_equal(a->hash, old);
    assert_true(wsmd__password_check("looking-glass", a->hash));
    assert_false(wsmd__password_check("wonderland", a->hash));
    assert_string_equal(uf.users[0].name, "alice");

    /* Delete. */
    assert_int_equal(wsmd__userfile_del(&uf, "alice"), WSM_OK);
    assert_int_equal(uf.n, 1);
    assert_null(wsmd__userfile_find(&uf, "alice"));
    assert_non_null(wsmd__userfile_find(&uf, "bob"));
    assert_int_equal(wsmd__userfile_del(&uf, "alice"), WSM_ERR_NOT_FOUND);
    assert_int_equal(wsmd__userfile_del(&uf, "nobody"), WSM_ERR_NOT_FOUND);
    assert_int_equal(uf.n, 1);

    assert_int_equal(wsmd__userfile_save(f->path, &uf), WSM_OK);
    assert_int_equal(wsmd__userfile_load(f->path, &back), WSM_OK);
    assert_int_equal(back.n, 1);
    assert_string_equal(back.users[0].name, "bob");
    wsmd__userfile_clear(&back);

    assert_int_equal(wsmd__userfile_del(&uf, "bob"), WSM_OK);
    assert_int_equal(uf.n, 0);
    assert_int_equal(wsmd__userfile_save(f->path, &uf), WSM_OK);
    content = read_file(f->path);
    assert_string_equal(content, "");
    free(content);
    wsmd__userfile_clear(&uf);
}

static void test_delete_middle(void **state)
{
    (void)state;
    struct wsmd_userfile uf = {0};
    assert_int_equal(wsmd__userfile_set(&uf, "u1", "p1"), WSM_OK);
    assert_int_equal(wsmd__userfile_set(&uf, "u2", "p2"), WSM_OK);
    assert_int_equal(wsmd__userfile_set(&uf, "u3", "p3"), WSM_OK);
    assert_int_equal(wsmd__userfile_del(&uf, "u2"), WSM_OK);
    assert_int_equal(uf.n, 2);
    assert_string_equal(uf.users[0].name, "u1");
    assert_string_equal(uf.users[1].name, "u3");
    assert_true(wsmd__password_check("p3", wsmd__userfile_find(&uf, "u3")->hash));
    wsmd__userfile_clear(&uf);
}

static void test_load_format(void **state)
{
    struct fixture *f = *state;
    struct wsmd_userfile uf = {0};
    /* Comments, blank lines and CRLF line ends; the last line without a
     * newline. */
    write_file(f->path, "# users\n\nalice:$y$abc\r\n#bob:$y$x\nbob:$6$def");
    assert_int_equal(wsmd__userfile_load(f->path, &uf), WSM_OK);
    assert_int_equal(uf.n, 2);
    assert_string_equal(uf.users[0].name, "alice");
    assert_string_equal(uf.users[0].hash, "$y$abc");
    assert_string_equal(uf.users[1].name, "bob");
    assert_string_equal(uf.users[1].hash, "$6$def");
    wsmd__userfile_clear(&uf);
}

static void test_load_malformed(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {
        "nocolon\n",          "alice:$y$ok\nnocolon\n", "alice:\n", /* empty hash */
        ":$y$abc\n",                                                /* empty name */
        "al\x01ice:$y$abc\n", "al\x7fice:$y$abc\n",     "alice::extra\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_file(f->path, bad[i]);
        struct wsmd_userfile uf = {0};
        enum wsm_err e = wsmd__userfile_load(f->path, &uf);
        if (e == WSM_OK) {
            wsmd__userfile_clear(&uf);
            fail_msg("malformed file #%zu accepted", i);
        }
        assert_int_equal(uf.n, 0);
        assert_null(uf.users);
    }
}

static void test_load_unreadable(void **state)
{
    struct fixture *f = *state;
    struct wsmd_userfile uf = {0};
    /* A path that exists but cannot be read as a file is an error, not an
     * empty user list. */
    if (geteuid() != 0) {
        write_file(f->path, "alice:$y$abc\n");
        assert_int_equal(chmod(f->path, 0), 0);
        assert_int_equal(wsmd__userfile_load(f->path, &uf), WSM_ERR_IO);
        assert_int_equal(chmod(f->path, 0600), 0);
    }
    enum wsm_err e = wsmd__userfile_load(f->dir, &uf);
    if (e == WSM_OK)
        wsmd__userfile_clear(&uf);
    KNOWN_BUG(e == WSM_ERR_IO, "a read error (here EISDIR) ends the getline() loop like EOF: "
                               "ferror() is never checked, so the load succeeds with no users");
    assert_int_equal(e, WSM_ERR_IO);
}

static void test_save_errors(void **state)
{
    struct fixture *f = *state;
    struct wsmd_userfile uf = {0};
    assert_int_equal(wsmd__userfile_set(&uf, "alice", "pw"), WSM_OK);
    char path[400];
    snprintf(path, sizeof(path), "%s/no/such/dir/users", f->dir);
    assert_int_equal(wsmd__userfile_save(path, &uf), WSM_ERR_IO);
    /* Renaming over a directory fails, and the temporary file is removed. */
    snprintf(path, sizeof(path), "%s/sub", f->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    char inner[450];
    snprintf(inner, sizeof(inner), "%s/x", path);
    assert_int_equal(mkdir(inner, 0700), 0);
    assert_int_equal(wsmd__userfile_save(path, &uf), WSM_ERR_IO);
    assert_int_equal(count_entries(f->dir), 1);
    rmdir(inner);
    rmdir(path);
    wsmd__userfile_clear(&uf);
}

static void test_name_roundtrip(void **state)
{
    struct fixture *f = *state;
    struct wsmd_userfile uf = {0};
    /* Whatever set accepts must survive save and load. */
    static const char *const names[] = {"with space", "j\xc3\xbcrgen", "DOMAIN\\user"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_int_equal(wsmd__userfile_set(&uf, names[i], "pw"), WSM_OK);
    /* A name that would read back as a comment line is refused. */
    assert_int_equal(wsmd__userfile_set(&uf, "#hash", "pw"), WSM_ERR_INVALID_ARG);
    assert_int_equal(wsmd__userfile_save(f->path, &uf), WSM_OK);
    wsmd__userfile_clear(&uf);
    assert_int_equal(wsmd__userfile_load(f->path, &uf), WSM_OK);
    for (size_t i = 0; i < 3; i++)
        assert_non_null(wsmd__userfile_find(&uf, names[i]));
    wsmd__userfile_clear(&uf);
}

static void test_duplicate_names(void **state)
{
    struct fixture *f = *state;
    struct wsmd_userfile uf = {0};
    /* A hand-edited file naming a user twice: either the load refuses it,
     * or deleting the user removes every line of it. */
    write_file(f->path, "alice:$y$first\nalice:$y$second\n");
    enum wsm_err e = wsmd__userfile_load(f->path, &uf);
    if (e != WSM_OK)
        return;
    assert_int_equal(wsmd__userfile_del(&uf, "alice"), WSM_OK);
    int still = wsmd__userfile_find(&uf, "alice") != NULL;
    wsmd__userfile_clear(&uf);
    KNOWN_BUG(!still, "duplicate names load fine; find/set/del act on the first line only, so "
                      "after del the second hash still lets the user in");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_load_missing), T(test_set_save_load),  T(test_delete_middle),
        T(test_load_format),  T(test_load_malformed), T(test_load_unreadable),
        T(test_save_errors),  T(test_name_roundtrip), T(test_duplicate_names),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
