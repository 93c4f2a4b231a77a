/* Unit tests for the Basic authentication gate (src/daemon/auth.c): the
 * Authorization header's reading, and the check with its cache, reloads
 * and threads. AllowRoot, removed users, bad lines and the file's mode are
 * in test_auth_file.c. */
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

/* ---- wsmd__auth_parse_basic ---------------------------------------- */

static enum wsm_err parse(const char *hdr, char *user, char *pass)
{
    return wsmd__auth_parse_basic(hdr, user, WSMD_MAX_USER, pass, WSMD_MAX_PASSWORD);
}

/* "Basic " + base64(raw); caller frees. */
static char *basic_of(const char *raw, size_t n)
{
    char *h = malloc(6 + wsm__base64_enclen(n) + 1);
    assert_non_null(h);
    memcpy(h, "Basic ", 6);
    wsm__base64_encode((const unsigned char *)raw, n, h + 6);
    return h;
}

static void test_parse_valid(void **state)
{
    (void)state;
    char user[WSMD_MAX_USER], pass[WSMD_MAX_PASSWORD];
    /* From the pywinrm capture: tester:secret. */
    assert_int_equal(parse("Basic dGVzdGVyOnNlY3JldA==", user, pass), WSM_OK);
    assert_string_equal(user, "tester");
    assert_string_equal(pass, "secret");

    /* The scheme is case-insensitive, blanks around the token are skipped. */
    memset(user, 0, sizeof(user));
    assert_int_equal(parse("basic dGVzdGVyOnNlY3JldA==", user, pass), WSM_OK);
    assert_string_equal(user, "tester");
    assert_int_equal(parse("BASIC dGVzdGVyOnNlY3JldA==", user, pass), WSM_OK);
    assert_int_equal(parse("Basic \t  dGVzdGVyOnNlY3JldA==  \t", user, pass), WSM_OK);
    assert_string_equal(pass, "secret");
    assert_int_equal(parse("Basic\tdGVzdGVyOnNlY3JldA==", user, pass), WSM_OK);
    /* Padding is optional. */
    assert_int_equal(parse("Basic dGVzdGVyOnNlY3JldA", user, pass), WSM_OK);
    assert_string_equal(pass, "secret");

    /* Only the first colon separates; the password may hold more. */
    char *h = basic_of("user:pa:ss:", 11);
    assert_int_equal(parse(h, user, pass), WSM_OK);
    assert_string_equal(user, "user");
    assert_string_equal(pass, "pa:ss:");
    free(h);

    /* An empty password is the password check's business, not ours. */
    h = basic_of("user:", 5);
    assert_int_equal(parse(h, user, pass), WSM_OK);
    assert_string_equal(user, "user");
    assert_string_equal(pass, "");
    free(h);

    /* UTF-8 passes through. */
    h = basic_of("j\xc3\xbcrgen:p\xc3\xa4ss", 13);
    assert_int_equal(parse(h, user, pass), WSM_OK);
    assert_string_equal(user, "j\xc3\xbcrgen");
    assert_string_equal(pass, "p\xc3\xa4ss");
    free(h);
}

static void test_parse_invalid(void **state)
{
    (void)state;
    char user[WSMD_MAX_USER], pass[WSMD_MAX_PASSWORD];
    static const char *const bad[] = {
        "Negotiate xyz",
        "NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==",
        "Bearer dGVzdGVyOnNlY3JldA==",
        "Basic",
        "Basic ",
        "Basic    ",
        "BasicdGVzdGVyOnNlY3JldA==",
        "Basics dGVzdGVyOnNlY3JldA==",
        " Basic dGVzdGVyOnNlY3JldA==",
        "",
        "Basic dGVzdGVy",     /* "tester": no colon */
        "Basic OnNlY3JldA==", /* ":secret": empty user */
        "Basic Og==",         /* ":" */
        "Basic !!!!",         /* not base64 */
        "Basic dGVzdGVyOnNlY3JldA==x",
        "Basic dGVzdGVy OnNlY3JldA== extra!",
        "Basic dGVzdGVyOnNlY3JldA==\r\nX-Injected: 1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse(bad[i], user, pass) != WSM_ERR_AUTH)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    assert_int_equal(wsmd__auth_parse_basic(NULL, user, sizeof(user), pass, sizeof(pass)),
                     WSM_ERR_AUTH);

    /* A NUL inside the credentials is refused. */
    char *h = basic_of("us\0er:pw", 8);
    assert_int_equal(parse(h, user, pass), WSM_ERR_AUTH);
    free(h);
    h = basic_of("user:p\0w", 8);
    assert_int_equal(parse(h, user, pass), WSM_ERR_AUTH);
    free(h);
}

static void test_parse_lengths(void **state)
{
    (void)state;
    char user[WSMD_MAX_USER], pass[WSMD_MAX_PASSWORD];
    char raw[2048];

    /* The longest user and password that fit the buffers. */
    memset(raw, 'u', WSMD_MAX_USER - 1);
    raw[WSMD_MAX_USER - 1] = ':';
    memset(raw + WSMD_MAX_USER, 'p', WSMD_MAX_PASSWORD - 1);
    char *h = basic_of(raw, WSMD_MAX_USER + WSMD_MAX_PASSWORD - 1);
    assert_int_equal(parse(h, user, pass), WSM_OK);
    assert_int_equal(strlen(user), WSMD_MAX_USER - 1);
    assert_int_equal(strlen(pass), WSMD_MAX_PASSWORD - 1);
    free(h);

    /* One more byte of user name. */
    memset(raw, 'u', WSMD_MAX_USER);
    raw[WSMD_MAX_USER] = ':';
    memcpy(raw + WSMD_MAX_USER + 1, "pw", 2);
    h = basic_of(raw, WSMD_MAX_USER + 3);
    assert_int_equal(parse(h, user, pass), WSM_ERR_AUTH);
    free(h);

    /* One more byte of password. */
    memcpy(raw, "u:", 2);
    memset(raw + 2, 'p', WSMD_MAX_PASSWORD);
    h = basic_of(raw, 2 + WSMD_MAX_PASSWORD);
    assert_int_equal(parse(h, user, pass), WSM_ERR_AUTH);
    free(h);

    /* The caller's buffer sizes are honoured, not the maxima. */
    char small_user[4], small_pass[4];
    assert_int_equal(wsmd__auth_parse_basic("Basic dGVzdGVyOnNlY3JldA==", small_user,
                                            sizeof(small_user), pass, sizeof(pass)),
                     WSM_ERR_AUTH);
    assert_int_equal(wsmd__auth_parse_basic("Basic dGVzdGVyOnNlY3JldA==", user, sizeof(user),
                                            small_pass, sizeof(small_pass)),
                     WSM_ERR_AUTH);
    assert_int_equal(wsmd__auth_parse_basic("Basic YWJjOnh5eg==", small_user, sizeof(small_user),
                                            small_pass, sizeof(small_pass)),
                     WSM_OK); /* abc:xyz fits exactly */
    assert_string_equal(small_user, "abc");
    assert_string_equal(small_pass, "xyz");

    /* An overlong header, both as valid base64 and as garbage. */
    memset(raw, 'a', sizeof(raw));
    raw[0] = 'u';
    raw[1] = ':';
    h = basic_of(raw, sizeof(raw));
    assert_int_equal(parse(h, user, pass), WSM_ERR_AUTH);
    free(h);
    size_t big = 1 << 20;
    char *hdr = malloc(big + 1);
    assert_non_null(hdr);
    memcpy(hdr, "Basic ", 6);
    memset(hdr + 6, 'A', big - 6);
    hdr[big] = '\0';
    assert_int_equal(parse(hdr, user, pass), WSM_ERR_AUTH);
    free(hdr);
}

/* ---- wsmd__auth_check ------------------------------------------------ */

static void stats(struct wsmd_auth *a, unsigned long *hits, unsigned long *misses)
{
    *hits = *misses = 12345;
    wsmd__auth_stats(a, hits, misses);
}

static void test_check_cache_and_reload(void **state)
{
    struct fixture *f = *state;
    const char *v1[] = {"tester", "secret", "other", "pw2", NULL};
    write_users(f->path, v1);

    struct wsmd_auth *a = NULL;
    assert_int_equal(wsmd__auth_new(f->path, NULL, &a), WSM_OK);
    assert_non_null(a);
    unsigned long hits, misses;
    stats(a, &hits, &misses);
    assert_int_equal(hits, 0);
    assert_int_equal(misses, 0);

    assert_int_equal(wsmd__auth_check(a, "tester", "secret"), WSM_OK);
    stats(a, &hits, &misses);
    assert_int_equal(hits, 0);
    assert_int_equal(misses, 1);

    /* The second right check is served from the cache. */
    assert_int_equal(wsmd__auth_check(a, "tester", "secret"), WSM_OK);
    stats(a, &hits, &misses);
    assert_int_equal(hits, 1);
    assert_int_equal(misses, 1);

    /* Wrong passwords and unknown users fail, and are never cached. */
    assert_int_equal(wsmd__auth_check(a, "tester", "Secret"), WSM_ERR_AUTH);
    assert_int_equal(wsmd__auth_check(a, "tester", "Secret"), WSM_ERR_AUTH);
    assert_int_equal(wsmd__auth_check(a, "tester", ""), WSM_ERR_AUTH);
    assert_int_equal(wsmd__auth_check(a, "tester", "pw2"), WSM_ERR_AUTH);
    assert_int_equal(wsmd__auth_check(a, "nobody", "secret"), WSM_ERR_AUTH);
    assert_int_equal(wsmd__auth_check(a, "nobody", "secret"), WSM_ERR_AUTH);
    assert_int_equal(wsmd__auth_check(a, "Tester", "secret"), WSM_ERR_AUTH);
    stats(a, &hits, &misses);
    assert_int_equal(hits, 1);
    assert_int_equal(misses, 7); /* the empty password is refused before any lookup */

    /* The cache is keyed by user and password together. */
    assert_int_equal(wsmd__auth_check(a, "other", "secret"), WSM_ERR_AUTH);
    assert_int_equal(wsmd__auth_check(a, "other", "pw2"), WSM_OK);
    assert_int_equal(wsmd__auth_check(a, "other", "pw2"), WSM_OK);
    assert_int_equal(wsmd__auth_check(a, "tester", "secret"), WSM_OK);
    stats(a, &hits, &misses);
    assert_int_equal(hits, 3);
    assert_int_equal(misses, 9);

    /* Invalid names and overlong passwords are refused up front. */
    assert_int_equal(wsmd__auth_check(a, "test:er", "secret"), WSM_ERR_AUTH);
    assert_int_equal(wsmd__auth_check(a, "", "secret"), WSM_ERR_AUTH);
    char longpw[WSMD_MAX_PASSWORD + 1];
    memset(longpw, 'x', WSMD_MAX_PASSWORD);
    longpw[WSMD_MAX_PASSWORD] = '\0';
    assert_int_equal(wsmd__auth_check(a, "tester", longpw), WSM_ERR_AUTH);
    assert_int_equal(wsmd__auth_check(a, "tes\ter", "secret"), WSM_ERR_AUTH);
    unsigned long h1, m1;
    stats(a, &h1, &m1);
    assert_int_equal(h1, hits);
    assert_int_equal(m1, misses); /* not even looked up */

    /* The password changes: the cached entry must not outlive it. */
    pause_a_little();
    const char *v2[] = {"tester", "new-secret", "other", "pw2", NULL};
    write_users(f->path, v2);
    noticed();
    assert_int_equal(wsmd__auth_check(a, "tester", "secret"), WSM_ERR_AUTH);
    assert_int_equal(wsmd__auth_check(a, "tester", "new-secret"), WSM_OK);
    stats(a, &hits, &misses);
    unsigned long h0 = hits;
    assert_int_equal(wsmd__auth_check(a, "tester", "new-secret"), WSM_OK);
    stats(a, &hits, &misses);
    assert_int_equal(hits, h0 + 1);
    /* Other users' entries were dropped too (re-verified, then cached). */
    unsigned long m0 = misses;
    assert_int_equal(wsmd__auth_check(a, "other", "pw2"), WSM_OK);
    stats(a, &hits, &misses);
    assert_int_equal(misses, m0 + 1);

    /* The user is deleted. */
    pause_a_little();
    const char *v3[] = {"other", "pw2", NULL};
    write_users(f->path, v3);
    noticed();
    assert_int_equal(wsmd__auth_check(a, "tester", "new-secret"), WSM_ERR_AUTH);
    assert_int_equal(wsmd__auth_check(a, "other", "pw2"), WSM_OK);

    /* The file becomes unreadable garbage: no cached success survives. */
    assert_int_equal(wsmd__auth_check(a, "other", "pw2"), WSM_OK);
    pause_a_little();
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    fputs("this line has no colon\n", fp);
    fclose(fp);
    noticed();
    assert_int_not_equal(wsmd__auth_check(a, "other", "pw2"), WSM_OK);

    /* The file is removed: nobody gets in. */
    unlink(f->path);
    noticed();
    assert_int_equal(wsmd__auth_check(a, "other", "pw2"), WSM_ERR_AUTH);
    wsmd__auth_free(a);
}

static void test_check_same_size_rewrite(void **state)
{
    struct fixture *f = *state;
    /* yescrypt hashes of passwords of the same length have the same
     * length, so the file keeps its size: the stamp must still change. */
    const char *v1[] = {"tester", "aaaa", NULL};
    write_users(f->path, v1);
    struct wsmd_auth *a = NULL;
    assert_int_equal(wsmd__auth_new(f->path, "unused", &a), WSM_OK);
    assert_int_equal(wsmd__auth_check(a, "tester", "aaaa"), WSM_OK);
    assert_int_equal(wsmd__auth_check(a, "tester", "aaaa"), WSM_OK);
    for (int round = 0; round < 3; round++) {
        pause_a_little();
        const char *pw = round % 2 ? "aaaa" : "bbbb";
        const char *old = round % 2 ? "bbbb" : "aaaa";
        const char *v[] = {"tester", pw, NULL};
        write_users(f->path, v);
        noticed();
        assert_int_equal(wsmd__auth_check(a, "tester", old), WSM_ERR_AUTH);
        assert_int_equal(wsmd__auth_check(a, "tester", pw), WSM_OK);
    }
    wsmd__auth_free(a);
}

static void test_check_missing_file(void **state)
{
    struct fixture *f = *state;
    struct wsmd_auth *a = NULL;
    /* A missing user file is an empty one... */
    assert_int_equal(wsmd__auth_new(f->path, NULL, &a), WSM_OK);
    assert_int_equal(wsmd__auth_check(a, "tester", "secret"), WSM_ERR_AUTH);
    /* ...until it appears. */
    const char *v1[] = {"tester", "secret", NULL};
    write_users(f->path, v1);
    noticed();
    assert_int_equal(wsmd__auth_check(a, "tester", "secret"), WSM_OK);
    wsmd__auth_free(a);
    wsmd__auth_free(NULL);
}

static void test_check_cache_collisions(void **state)
{
    struct fixture *f = *state;
    /* A cheap sha512-crypt hash, so that thousands of misses stay fast. */
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    assert_non_null(cd);
    const char *h = crypt_r("right", "$6$rounds=1000$saltsaltsalt$", cd);
    assert_non_null(h);
    assert_memory_equal(h, "$6$", 3);
    char line[512];
    snprintf(line, sizeof(line), "cheap:%s\n", h);
    free(cd);
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    fputs(line, fp);
    fclose(fp);
    assert_int_equal(chmod(f->path, 0600), 0); /* it holds hashes: others are refused */

    struct wsmd_auth *a = NULL;
    assert_int_equal(wsmd__auth_new(f->path, NULL, &a), WSM_OK);
    assert_int_equal(wsmd__auth_check(a, "cheap", "right"), WSM_OK);
    assert_int_equal(wsmd__auth_check(a, "cheap", "right"), WSM_OK);
    unsigned long hits, misses;
    stats(a, &hits, &misses);
    assert_int_equal(hits, 1);
    /* The cache has 1024 slots: among 4000 wrong passwords some share the
     * cached entry's slot, and must not be taken for it. */
    for (int i = 0; i < 4000; i++) {
        char pw[32];
        snprintf(pw, sizeof(pw), "wrong%d", i);
        if (wsmd__auth_check(a, "cheap", pw) != WSM_ERR_AUTH)
            fail_msg("wrong password \"%s\" accepted", pw);
    }
    stats(a, &hits, &misses);
    assert_int_equal(hits, 1);
    assert_int_equal(misses, 4001);
    assert_int_equal(wsmd__auth_check(a, "cheap", "right"), WSM_OK);
    wsmd__auth_free(a);
}

struct worker {
    struct wsmd_auth *a;
    int failures;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 50; i++) {
        if (wsmd__auth_check(w->a, "tester", "secret") != WSM_OK)
            w->failures++;
        if (i % 10 == 0 && wsmd__auth_check(w->a, "tester", "wrong") != WSM_ERR_AUTH)
            w->failures++;
    }
    return NULL;
}

static void test_check_threads(void **state)
{
    struct fixture *f = *state;
    const char *v1[] = {"tester", "secret", NULL};
    write_users(f->path, v1);
    struct wsmd_auth *a = NULL;
    assert_int_equal(wsmd__auth_new(f->path, NULL, &a), WSM_OK);
    struct worker w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i].a = a;
        w[i].failures = 0;
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    unsigned long hits, misses;
    stats(a, &hits, &misses);
    assert_int_equal(hits + misses, 4 * (50 + 5));
    assert_true(hits >= 4 * 50 - 4); /* at most one miss per thread for the right password */
    wsmd__auth_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_parse_lengths),
        cmocka_unit_test_setup_teardown(test_check_cache_and_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_same_size_rewrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_cache_collisions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
