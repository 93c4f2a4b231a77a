/* Unit tests for the remote shell engine (src/shell/engine.c): real
 * children through /bin/sh, the I/O thread. This file: commands, exit
 * codes, stdout and stderr, stdin, large output, signals and Terminate.
 * The others: test_engine_wait.c (waiters, owners, quotas, timers, fds),
 * test_engine_proc.c (the child's environment, users, command ends,
 * memory) and test_engine_delivery.c (delivery, budgets, hooks). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine_helpers.h"

/* ---- tests ---- */

static void test_echo(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37];
    new_shell(m, ALICE, NULL, sid);
    char *out, *err;
    assert_int_equal(run(m, ALICE, sid, "echo hello", &out, &err), 0);
    assert_string_equal(out, "hello\n");
    assert_string_equal(err, "");
    free(out);
    free(err);
    /* Upper-case UUIDs. */
    for (const char *p = sid; *p; p++)
        assert_true(!(*p >= 'a' && *p <= 'z'));
    shell_mgr_free(m);
    shell_mgr_free(NULL);
}

static void test_exit_codes(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(run(m, ALICE, sid, "exit 0", NULL, NULL), 0);
    assert_int_equal(run(m, ALICE, sid, "exit 1", NULL, NULL), 1);
    assert_int_equal(run(m, ALICE, sid, "exit 3", NULL, NULL), 3);
    assert_int_equal(run(m, ALICE, sid, "exit 255", NULL, NULL), 255);
    assert_int_equal(run(m, ALICE, sid, "false", NULL, NULL), 1);
    /* Death by a signal: 128 + signal number. */
    assert_int_equal(run(m, ALICE, sid, "kill -9 $$", NULL, NULL), 128 + SIGKILL);
    shell_mgr_free(m);
}

static void test_stderr_separate(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37];
    new_shell(m, ALICE, NULL, sid);
    char *out, *err;
    assert_int_equal(run(m, ALICE, sid, "echo out; echo err >&2; echo out2; exit 2", &out, &err),
                     2);
    assert_string_equal(out, "out\nout2\n");
    assert_string_equal(err, "err\n");
    free(out);
    free(err);
    shell_mgr_free(m);
}

static void test_done_repeats(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "exit 4", cid), WSM_OK);
    int code = -1;
    assert_int_equal(drain(m, ALICE, sid, cid, 65536, NULL, NULL, &code, 10000), WSM_OK);
    assert_int_equal(code, 4);
    struct shell_output o;
    memset(&o, 0, sizeof(o));
    wsm__buf_init(&o.out, 0);
    wsm__buf_init(&o.err, 0);
    assert_int_equal(shell_receive(m, ALICE, sid, cid, 65536, &o), WSM_OK);
    assert_true(o.done);
    assert_int_equal(o.exit_code, 4);
    assert_int_equal(o.out.len + o.err.len, 0);
    wsm__buf_free(&o.out);
    wsm__buf_free(&o.err);
    /* A wait on a finished command wakes at once. */
    struct waitctx w;
    wc_init(&w);
    unsigned long tok;
    assert_int_equal(shell_wait(m, ALICE, sid, cid, shell_now_ms() + 60000, on_wake, &w, &tok),
                     WSM_OK);
    assert_int_equal(wc_count(&w), 1);
    wc_destroy(&w);
    shell_mgr_free(m);
}

static void test_stdin_cat(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "cat; echo rc=$?", cid), WSM_OK);
    assert_int_equal(shell_send(m, ALICE, sid, cid, "hello ", 6, 0), WSM_OK);
    sleep_ms(50);
    assert_int_equal(shell_send(m, ALICE, sid, cid, "world\n", 6, 0), WSM_OK);
    assert_int_equal(shell_send(m, ALICE, sid, cid, "bye", 3, 0), WSM_OK);
    assert_int_equal(shell_send(m, ALICE, sid, cid, NULL, 0, 1), WSM_OK);
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    int code = -1;
    assert_int_equal(drain(m, ALICE, sid, cid, 65536, &out, NULL, &code, 10000), WSM_OK);
    assert_int_equal(code, 0);
    assert_int_equal(out.len, strlen("hello world\nbyerc=0\n"));
    assert_memory_equal(out.data, "hello world\nbyerc=0\n", out.len);
    wsm__buf_free(&out);
    /* Sending to a finished command is tolerated; unknown ids are not. */
    assert_int_equal(shell_send(m, ALICE, sid, cid, "late", 4, 1), WSM_OK);
    assert_int_equal(shell_send(m, ALICE, sid, "00000000-0000-4000-8000-000000000000", "x", 1, 0),
                     WSM_ERR_NOT_FOUND);
    shell_mgr_free(m);
}

static void small_cap(struct shell_limits *l)
{
    l->stream_cap = 256 * 1024;
}

/* Several MB through stdin and back with a small cap: the queue pushes
 * back with WSM_ERR_QUOTA, nothing is lost or reordered. */
static void test_stdin_large_roundtrip(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(small_cap);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    /* cat starts late: the pipe and the queue fill up first. */
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 0.5; cat", cid), WSM_OK);
    const size_t total = 3u << 20, chunk = 100000;
    unsigned char *src = malloc(total);
    assert_non_null(src);
    for (size_t i = 0; i < total; i++)
        src[i] = (unsigned char)(i * 7 + i / 251);
    struct wsm_buf got;
    wsm__buf_init(&got, 0);
    size_t sent = 0, quota_hits = 0;
    int done = 0, code = -1;
    long long end = shell_now_ms() + 60000;
    while (!done) {
        assert_true(shell_now_ms() < end);
        if (sent < total) {
            size_t n = total - sent < chunk ? total - sent : chunk;
            enum wsm_err e = shell_send(m, ALICE, sid, cid, src + sent, n, sent + n == total);
            if (e == WSM_OK)
                sent += n;
            else {
                assert_int_equal(e, WSM_ERR_QUOTA);
                quota_hits++;
            }
        }
        struct shell_output o;
        memset(&o, 0, sizeof(o));
        wsm__buf_init(&o.out, 0);
        wsm__buf_init(&o.err, 0);
        enum wsm_err e = shell_receive(m, ALICE, sid, cid, 65536, &o);
        assert_true(e == WSM_OK || e == WSM_ERR_TIMED_OUT);
        if (o.out.len)
            assert_int_equal(wsm__buf_add(&got, o.out.data, o.out.len), WSM_OK);
        done = o.done;
        code = o.exit_code;
        wsm__buf_free(&o.out);
        wsm__buf_free(&o.err);
        if (e == WSM_ERR_TIMED_OUT)
            sleep_ms(1);
    }
    assert_int_equal(code, 0);
    assert_int_equal(got.len, total);
    assert_memory_equal(got.data, src, total);
    assert_true(quota_hits > 0);
    free(src);
    wsm__buf_free(&got);
    shell_mgr_free(m);
}

static void tiny_cap(struct shell_limits *l)
{
    l->stream_cap = 4096;
}

static void test_stdin_quota(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(tiny_cap);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 5", cid), WSM_OK);
    char big[4097];
    memset(big, 'a', sizeof(big));
    assert_int_equal(shell_send(m, ALICE, sid, cid, big, sizeof(big), 0), WSM_ERR_QUOTA);
    assert_int_equal(shell_send(m, ALICE, sid, cid, big, 4096, 0), WSM_OK);
    assert_int_equal(shell_delete(m, ALICE, sid), WSM_OK);
    shell_mgr_free(m);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* 20 MB through a 256 KiB cap read in 64 KiB bites: byte-exact, and the
 * buffer never holds more than the cap (back-pressure on the pipe). */
static void test_big_output_exact(void **state)
{
    (void)state;
    const unsigned N = 2700000;
    uint64_t want = 1469598103934665603ULL;
    size_t want_len = 0;
    char line[32];
    for (unsigned i = 1; i <= N; i++) {
        int l = snprintf(line, sizeof(line), "%u\n", i);
        want = fnv(want, line, (size_t)l);
        want_len += (size_t)l;
    }
    assert_true(want_len > 20000000);

    struct shell_mgr *m = mgr_with(small_cap);
    char sid[37], cid[37], cmd[64];
    new_shell(m, ALICE, NULL, sid);
    snprintf(cmd, sizeof(cmd), "seq 1 %u", N);
    assert_int_equal(shell_command(m, ALICE, sid, cmd, cid), WSM_OK);

    /* Nobody reads for a while: exactly the cap is buffered, no more. */
    sleep_ms(400);
    struct shell_output o;
    memset(&o, 0, sizeof(o));
    wsm__buf_init(&o.out, 0);
    wsm__buf_init(&o.err, 0);
    assert_int_equal(shell_receive(m, ALICE, sid, cid, 64u << 20, &o), WSM_OK);
    assert_int_equal(o.out.len, 256 * 1024);
    assert_false(o.done);
    uint64_t h = fnv(1469598103934665603ULL, o.out.data, o.out.len);
    size_t len = o.out.len;
    wsm__buf_free(&o.out);
    wsm__buf_free(&o.err);

    int code = -1, rounds = 0;
    long long end = shell_now_ms() + 120000;
    for (;;) {
        assert_true(shell_now_ms() < end);
        memset(&o, 0, sizeof(o));
        wsm__buf_init(&o.out, 0);
        wsm__buf_init(&o.err, 0);
        enum wsm_err e = shell_receive(m, ALICE, sid, cid, 65536, &o);
        assert_true(o.out.len <= 65536);
        h = fnv(h, o.out.data, o.out.len);
        len += o.out.len;
        int done = o.done;
        code = o.exit_code;
        assert_int_equal(o.err.len, 0);
        wsm__buf_free(&o.out);
        wsm__buf_free(&o.err);
        rounds++;
        if (e == WSM_OK && done)
            break;
        if (e == WSM_ERR_TIMED_OUT) {
            struct waitctx w;
            wc_init(&w);
            unsigned long tok;
            assert_int_equal(
                shell_wait(m, ALICE, sid, cid, shell_now_ms() + 2000, on_wake, &w, &tok), WSM_OK);
            if (!wc_wait(&w, 1, 10000))
                abort();
            wc_destroy(&w);
        } else {
            assert_int_equal(e, WSM_OK);
        }
        /* Now and then a big bite: never more than the cap. */
        if (rounds % 50 == 0) {
            memset(&o, 0, sizeof(o));
            wsm__buf_init(&o.out, 0);
            wsm__buf_init(&o.err, 0);
            e = shell_receive(m, ALICE, sid, cid, 64u << 20, &o);
            assert_true(o.out.len <= 256 * 1024);
            h = fnv(h, o.out.data, o.out.len);
            len += o.out.len;
            done = o.done;
            code = o.exit_code;
            wsm__buf_free(&o.out);
            wsm__buf_free(&o.err);
            if (e == WSM_OK && done)
                break;
        }
    }
    assert_int_equal(code, 0);
    assert_int_equal(len, want_len);
    assert_true(h == want);
    shell_mgr_free(m);
}

/* The child writes everything and exits while our buffer is full and
 * nobody reads for longer than the 2 s EOF grace: the bytes still in the
 * pipe must not be dropped. */
static void test_slow_reader_after_exit(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(small_cap);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "seq 1 100000", cid), WSM_OK);
    sleep_ms(2600);
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    int code = -1;
    assert_int_equal(drain(m, ALICE, sid, cid, 65536, &out, NULL, &code, 20000), WSM_OK);
    assert_int_equal(code, 0);
    size_t want = 0;
    char line[16];
    for (int i = 1; i <= 100000; i++)
        want += (size_t)snprintf(line, sizeof(line), "%d\n", i);
    assert_int_equal(out.len, want);
    assert_memory_equal(out.data + out.len - 7, "100000\n", 7);
    wsm__buf_free(&out);
    shell_mgr_free(m);
}

/* With both streams full, a small receive gives each a share. */
static void test_receive_shares(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "echo o; echo e >&2; sleep 0.5", cid), WSM_OK);
    sleep_ms(300);
    struct shell_output o;
    memset(&o, 0, sizeof(o));
    wsm__buf_init(&o.out, 0);
    wsm__buf_init(&o.err, 0);
    assert_int_equal(shell_receive(m, ALICE, sid, cid, 2, &o), WSM_OK);
    assert_int_equal(o.out.len, 1);
    assert_int_equal(o.err.len, 1);
    assert_false(o.out_end);
    assert_int_equal(shell_receive(m, ALICE, sid, cid, 100, &o), WSM_OK);
    assert_string_equal(o.out.data, "o\n");
    assert_string_equal(o.err.data, "e\n");
    wsm__buf_free(&o.out);
    wsm__buf_free(&o.err);
    int code = -1;
    assert_int_equal(drain(m, ALICE, sid, cid, 100, NULL, NULL, &code, 10000), WSM_OK);
    assert_int_equal(code, 0);
    shell_mgr_free(m);
}

static void test_terminate(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 100", cid), WSM_OK);
    sleep_ms(100);
    long long t0 = shell_now_ms();
    assert_int_equal(shell_signal(m, ALICE, sid, cid, SHELL_SIG_TERMINATE), WSM_OK);
    int code = -1;
    assert_int_equal(drain(m, ALICE, sid, cid, 65536, NULL, NULL, &code, 10000), WSM_OK);
    assert_true(shell_now_ms() - t0 < 1500);
    assert_int_equal(code, 128 + SIGTERM);
    /* Signals to a finished command are harmless. */
    assert_int_equal(shell_signal(m, ALICE, sid, cid, SHELL_SIG_CTRL_C), WSM_OK);
    shell_mgr_free(m);
}

static void test_terminate_escalates(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    /* TERM ignored by the shell and (inherited) by sleep. */
    assert_int_equal(shell_command(m, ALICE, sid, "trap '' TERM; echo ready; sleep 100", cid),
                     WSM_OK);
    char line[64];
    first_line(m, sid, cid, line, sizeof(line));
    assert_string_equal(line, "ready");
    long long t0 = shell_now_ms();
    assert_int_equal(shell_signal(m, ALICE, sid, cid, SHELL_SIG_TERMINATE), WSM_OK);
    int code = -1;
    assert_int_equal(drain(m, ALICE, sid, cid, 65536, NULL, NULL, &code, 10000), WSM_OK);
    long long dt = shell_now_ms() - t0;
    assert_true(dt >= 1800);
    assert_true(dt < 5000);
    assert_int_equal(code, 128 + SIGKILL);
    shell_mgr_free(m);
}

static void test_ctrl_c(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid,
                                   "trap 'exit 7' INT; echo ready; while :; do sleep 0.1; done",
                                   cid),
                     WSM_OK);
    char line[64];
    first_line(m, sid, cid, line, sizeof(line));
    assert_string_equal(line, "ready");
    assert_int_equal(shell_signal(m, ALICE, sid, cid, SHELL_SIG_CTRL_C), WSM_OK);
    int code = -1;
    assert_int_equal(drain(m, ALICE, sid, cid, 65536, NULL, NULL, &code, 10000), WSM_OK);
    assert_int_equal(code, 7);
    /* ctrl_break: SIGQUIT. */
    assert_int_equal(shell_command(m, ALICE, sid, "echo ready; exec sleep 100", cid), WSM_OK);
    first_line(m, sid, cid, line, sizeof(line));
    assert_int_equal(shell_signal(m, ALICE, sid, cid, SHELL_SIG_CTRL_BREAK), WSM_OK);
    assert_int_equal(drain(m, ALICE, sid, cid, 65536, NULL, NULL, &code, 10000), WSM_OK);
    assert_int_equal(code, 128 + SIGQUIT);
    shell_mgr_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo),
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_stderr_separate),
        cmocka_unit_test(test_done_repeats),
        cmocka_unit_test(test_stdin_cat),
        cmocka_unit_test(test_stdin_large_roundtrip),
        cmocka_unit_test(test_stdin_quota),
        cmocka_unit_test(test_big_output_exact),
        cmocka_unit_test(test_slow_reader_after_exit),
        cmocka_unit_test(test_receive_shares),
        cmocka_unit_test(test_terminate),
        cmocka_unit_test(test_terminate_escalates),
        cmocka_unit_test(test_ctrl_c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
