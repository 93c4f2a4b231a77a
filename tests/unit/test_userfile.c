/* Unit tests for the embedded user file (src/daemon/userfile.c). */
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

#include "userfile.h"
#include "tmpdir.h"

struct fixture {
    char dir[256];
    char path[300];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    if (test_tmpdir_make(f->dir, sizeof(f->dir), "userfile")) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/users", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    test_tmpdir_remove(f->dir);
    free(f);
    return 0;
}

static void write_file(const char *path, const char *content)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(content, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

/* The whole file as a string; caller frees. */
static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char *buf = calloc(1, 65536);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

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
        T(test_load_missing),    T(test_set_save_load),
        T(test_delete_middle),   T(test_load_format),
        T(test_load_malformed),  T(test_load_unreadable),
        T(test_save_errors),     T(test_username_ok),
        T(test_sha512_crypt),    T(test_password_check_garbage),
        T(test_extra_fields),    T(test_name_roundtrip),
        T(test_duplicate_names), T(test_read_skips_bad_lines),
        T(test_read_mode),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
