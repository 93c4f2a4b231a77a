/* Unit tests for the log's priorities and levels (src/daemon/log.c) and
 * the config file's error lines (src/daemon/config.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "server.h"
#include "tmpdir.h"

/* Runs fn with stderr in a file; returns what it wrote (static). */
static const char *capture(void (*fn)(void *), void *arg)
{
    static char out[8192];
    char path[] = "/tmp/wsm-logtest-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn(arg);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = pread(fd, out, sizeof(out) - 1, 0);
    close(fd);
    out[n > 0 ? n : 0] = '\0';
    return out;
}

static void test_priorities(void **state)
{
    (void)state;
    assert_int_equal(wsmd__log_prio_of("event=auth-error error=\"x\""), WSMD_LOG_ERR);
    assert_int_equal(wsmd__log_prio_of("event=privsep-error message=x"), WSMD_LOG_ERR);
    assert_int_equal(wsmd__log_prio_of("event=auth-failure user=a"), WSMD_LOG_WARNING);
    assert_int_equal(wsmd__log_prio_of("event=auth-throttle-start user=a"), WSMD_LOG_WARNING);
    assert_int_equal(wsmd__log_prio_of("event=access-denied user=a"), WSMD_LOG_WARNING);
    assert_int_equal(wsmd__log_prio_of("event=notice message=\"x\""), WSMD_LOG_NOTICE);
    assert_int_equal(wsmd__log_prio_of("listening on http://127.0.0.1:5985/wsman"),
                     WSMD_LOG_NOTICE);
    assert_int_equal(wsmd__log_prio_of("peer=1.2.3.4:5 user=a action=x status=500 us=1"),
                     WSMD_LOG_ERR);
    assert_int_equal(wsmd__log_prio_of("peer=1.2.3.4:5 user=a action=x status=401 us=1"),
                     WSMD_LOG_INFO);
    assert_int_equal(wsmd__log_prio_of("event=stop signal=15"), WSMD_LOG_INFO);
    /* A name only counts as the event's, not as text elsewhere. */
    assert_int_equal(wsmd__log_prio_of("event=command-end message=\"error\""), WSMD_LOG_INFO);
}

static void test_level_words(void **state)
{
    (void)state;
    assert_int_equal(wsmd__log_level_parse("error"), WSMD_LOG_ERR);
    assert_int_equal(wsmd__log_level_parse("Warning"), WSMD_LOG_NOTICE);
    assert_int_equal(wsmd__log_level_parse("INFO"), WSMD_LOG_INFO);
    assert_int_equal(wsmd__log_level_parse("debug"), WSMD_LOG_DEBUG);
    assert_int_equal(wsmd__log_level_parse("loud"), -1);
    assert_int_equal(wsmd__log_level_parse(""), -1);
}

static void log_some(void *arg)
{
    wsmd__log_set_level(*(int *)arg);
    wsmd__log("event=auth-failure user=a");
    wsmd__log("peer=x user=a action=Identify status=200");
    wsmd__logp(WSMD_LOG_DEBUG, "event=detail n=%d", 1);
    wsmd__log("event=auth-error error=\"e\"");
    wsmd__log_set_level(WSMD_LOG_INFO);
}

static void test_levels_filter(void **state)
{
    (void)state;
    int l = WSMD_LOG_ERR;
    assert_string_equal(capture(log_some, &l), "wsmd: event=auth-error error=\"e\"\n");
    l = WSMD_LOG_NOTICE;
    assert_string_equal(capture(log_some, &l),
                        "wsmd: event=auth-failure user=a\nwsmd: event=auth-error error=\"e\"\n");
    l = WSMD_LOG_DEBUG;
    assert_string_equal(capture(log_some, &l), "wsmd: event=auth-failure user=a\n"
                                               "wsmd: peer=x user=a action=Identify status=200\n"
                                               "wsmd: event=detail n=1\n"
                                               "wsmd: event=auth-error error=\"e\"\n");
}

static void test_config_set_results(void **state)
{
    (void)state;
    struct wsmd_config cfg;
    wsmd__config_defaults(&cfg);
    assert_int_equal(wsmd__config_set(&cfg, "NoSuchKey", "1"), WSM_ERR_NOT_FOUND);
    assert_int_equal(wsmd__config_set(&cfg, "MaxShellsPerUser", "x"), WSM_ERR_INVALID_ARG);
    assert_int_equal(wsmd__config_set(&cfg, "LogLevel", "verbose"), WSM_ERR_INVALID_ARG);
    assert_int_equal(wsmd__config_set(&cfg, "loglevel", "debug"), WSM_OK);
    assert_int_equal(cfg.log_level, WSMD_LOG_DEBUG);
    wsmd__config_clear(&cfg);
}

struct load {
    const char *path;
    enum wsm_err e;
};

static void load_it(void *arg)
{
    struct load *l = arg;
    struct wsmd_config cfg;
    wsmd__config_defaults(&cfg);
    l->e = wsmd__config_load(&cfg, l->path);
    wsmd__config_clear(&cfg);
}

static const char *load_text(const char *text, enum wsm_err *e, char *path, size_t n)
{
    char dir[256];
    assert_int_equal(test_tmpdir_make(dir, sizeof(dir), "logcfg"), 0);
    snprintf(path, n, "%s/wsmd.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    struct load l = {path, WSM_OK};
    const char *out = capture(load_it, &l);
    *e = l.e;
    test_tmpdir_remove(dir);
    return out;
}

static void test_config_load_lines(void **state)
{
    (void)state;
    char path[300], want[600];
    enum wsm_err e;
    const char *out = load_text("# c\n\nThreads = 2\nThredas = 2\n", &e, path, sizeof(path));
    assert_int_equal(e, WSM_ERR_NOT_FOUND);
    snprintf(want, sizeof(want), "wsmd: %s:4: unknown key \"Thredas\"\n", path);
    assert_string_equal(out, want);
    out = load_text("Threads = many # comment\n", &e, path, sizeof(path));
    assert_int_equal(e, WSM_ERR_INVALID_ARG);
    snprintf(want, sizeof(want), "wsmd: %s:1: bad value for Threads: \"many\"\n", path);
    assert_string_equal(out, want);
    out = load_text("Threads 2\n", &e, path, sizeof(path));
    assert_int_equal(e, WSM_ERR_INVALID_ARG);
    snprintf(want, sizeof(want), "wsmd: %s:1: expected \"Key = value\", not \"Threads 2\"\n", path);
    assert_string_equal(out, want);
    /* The reader reloads use too (cfgtext.c): a line past 1023 bytes is
     * refused, named, rather than read as two. */
    char longer[1200];
    memset(longer, 'x', sizeof(longer));
    memcpy(longer, "# ok\nThreads = 2 #", 18);
    memcpy(longer + sizeof(longer) - 2, "\n", 2);
    out = load_text(longer, &e, path, sizeof(path));
    assert_int_equal(e, WSM_ERR_INVALID_ARG);
    snprintf(want, sizeof(want), "wsmd: %s:2: line longer than 1023 bytes\n", path);
    assert_string_equal(out, want);
    out = load_text("  Threads = 2\r\n\tbogus line  \r\n", &e, path, sizeof(path));
    assert_int_equal(e, WSM_ERR_INVALID_ARG);
    snprintf(want, sizeof(want), "wsmd: %s:2: expected \"Key = value\", not \"bogus line  \"\n",
             path);
    assert_string_equal(out, want);
    out = load_text("LogLevel = error\n", &e, path, sizeof(path));
    assert_int_equal(e, WSM_OK);
    assert_string_equal(out, "");
    assert_false(wsmd__log_enabled(WSMD_LOG_WARNING)); /* applied once loaded */
    wsmd__log_set_level(WSMD_LOG_INFO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_priorities),        cmocka_unit_test(test_level_words),
        cmocka_unit_test(test_levels_filter),     cmocka_unit_test(test_config_set_results),
        cmocka_unit_test(test_config_load_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
