/* Unit tests for the remote shell engine (src/shell/engine.c): waiters
 * woken by output, deadlines, cancels and deletes; other owners; quotas;
 * process groups killed on Delete; idle timeouts; fds over many cycles. */
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

static void test_wait_wakes_on_output(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 0.4; echo hi; sleep 100", cid), WSM_OK);
    struct shell_output o;
    memset(&o, 0, sizeof(o));
    wsm__buf_init(&o.out, 0);
    wsm__buf_init(&o.err, 0);
    assert_int_equal(shell_receive(m, ALICE, sid, cid, 65536, &o), WSM_ERR_TIMED_OUT);
    struct waitctx w;
    wc_init(&w);
    unsigned long tok;
    long long t0 = shell_now_ms();
    assert_int_equal(shell_wait(m, ALICE, sid, cid, t0 + 10000, on_wake, &w, &tok), WSM_OK);
    assert_int_equal(wc_count(&w), 0);
    assert_true(wc_wait(&w, 1, 5000));
    long long dt = w.at - t0;
    assert_true(dt >= 250);
    assert_true(dt < 4000);
    assert_false(pthread_equal(w.who, pthread_self()));
    /* Exactly once; a cancel after the wake reports so. */
    sleep_ms(200);
    assert_int_equal(wc_count(&w), 1);
    assert_int_equal(shell_wait_cancel(m, tok), 0);
    assert_int_equal(shell_receive(m, ALICE, sid, cid, 65536, &o), WSM_OK);
    assert_int_equal(o.out.len, 3);
    assert_memory_equal(o.out.data, "hi\n", 3);
    wsm__buf_free(&o.out);
    wsm__buf_free(&o.err);
    wc_destroy(&w);
    shell_mgr_free(m);
}

static void test_wait_deadline_and_cancel(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 100", cid), WSM_OK);
    struct waitctx w;
    wc_init(&w);
    unsigned long tok;
    long long t0 = shell_now_ms();
    assert_int_equal(shell_wait(m, ALICE, sid, cid, t0 + 300, on_wake, &w, &tok), WSM_OK);
    assert_true(wc_wait(&w, 1, 5000));
    long long dt = w.at - t0;
    assert_true(dt >= 280);
    assert_true(dt < 2000);
    sleep_ms(100);
    assert_int_equal(wc_count(&w), 1);

    /* Cancelled before the deadline: wake never runs. */
    struct waitctx w2;
    wc_init(&w2);
    assert_int_equal(shell_wait(m, ALICE, sid, cid, shell_now_ms() + 200, on_wake, &w2, &tok),
                     WSM_OK);
    assert_int_equal(shell_wait_cancel(m, tok), 1);
    assert_int_equal(shell_wait_cancel(m, tok), 0);
    sleep_ms(400);
    assert_int_equal(wc_count(&w2), 0);

    /* A deadline already past: wake at once, in this thread. */
    struct waitctx w3;
    wc_init(&w3);
    assert_int_equal(shell_wait(m, ALICE, sid, cid, shell_now_ms() - 1, on_wake, &w3, &tok),
                     WSM_OK);
    assert_int_equal(wc_count(&w3), 1);
    assert_true(pthread_equal(w3.who, pthread_self()));
    assert_int_equal(shell_wait_cancel(m, tok), 0);

    /* Unknown ids: no wake. */
    struct waitctx w4;
    wc_init(&w4);
    assert_int_equal(shell_wait(m, ALICE, sid, "nope", shell_now_ms() + 100, on_wake, &w4, &tok),
                     WSM_ERR_NOT_FOUND);
    sleep_ms(200);
    assert_int_equal(wc_count(&w4), 0);

    wc_destroy(&w);
    wc_destroy(&w2);
    wc_destroy(&w3);
    wc_destroy(&w4);
    shell_mgr_free(m);
}

static void test_wait_woken_by_delete(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 100", cid), WSM_OK);
    struct waitctx w;
    wc_init(&w);
    unsigned long tok;
    assert_int_equal(shell_wait(m, ALICE, sid, cid, shell_now_ms() + 30000, on_wake, &w, &tok),
                     WSM_OK);
    sleep_ms(50);
    assert_int_equal(wc_count(&w), 0);
    assert_int_equal(shell_delete(m, ALICE, sid), WSM_OK);
    assert_true(wc_wait(&w, 1, 2000));
    struct shell_output o;
    memset(&o, 0, sizeof(o));
    wsm__buf_init(&o.out, 0);
    wsm__buf_init(&o.err, 0);
    assert_int_equal(shell_receive(m, ALICE, sid, cid, 65536, &o), WSM_ERR_NOT_FOUND);
    assert_int_equal(shell_delete(m, ALICE, sid), WSM_ERR_NOT_FOUND);

    /* shell_mgr_free wakes what is still parked. */
    struct waitctx w2;
    wc_init(&w2);
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 100", cid), WSM_OK);
    assert_int_equal(shell_wait(m, ALICE, sid, cid, shell_now_ms() + 30000, on_wake, &w2, &tok),
                     WSM_OK);
    shell_mgr_free(m);
    assert_int_equal(wc_count(&w2), 1);
    sleep_ms(100);
    assert_int_equal(wc_count(&w), 1);
    wc_destroy(&w);
    wc_destroy(&w2);
}

static void test_other_owner(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37], cid2[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "echo mine", cid), WSM_OK);
    assert_int_equal(shell_command(m, BOB, sid, "echo theirs", cid2), WSM_ERR_NOT_FOUND);
    assert_int_equal(shell_send(m, BOB, sid, cid, "x", 1, 1), WSM_ERR_NOT_FOUND);
    assert_int_equal(shell_signal(m, BOB, sid, cid, SHELL_SIG_TERMINATE), WSM_ERR_NOT_FOUND);
    struct shell_output o;
    memset(&o, 0, sizeof(o));
    wsm__buf_init(&o.out, 0);
    wsm__buf_init(&o.err, 0);
    assert_int_equal(shell_receive(m, BOB, sid, cid, 65536, &o), WSM_ERR_NOT_FOUND);
    struct waitctx w;
    wc_init(&w);
    unsigned long tok;
    assert_int_equal(shell_wait(m, BOB, sid, cid, shell_now_ms() + 100, on_wake, &w, &tok),
                     WSM_ERR_NOT_FOUND);
    assert_int_equal(shell_delete(m, BOB, sid), WSM_ERR_NOT_FOUND);
    assert_int_equal(shell_count(m, BOB), 0);
    assert_int_equal(shell_count(m, ALICE), 1);
    /* Same answers as for ids nobody has. */
    assert_int_equal(shell_receive(m, ALICE, "11111111-1111-4111-8111-111111111111", cid, 10, &o),
                     WSM_ERR_NOT_FOUND);
    assert_int_equal(shell_receive(m, ALICE, sid, "11111111-1111-4111-8111-111111111111", 10, &o),
                     WSM_ERR_NOT_FOUND);
    /* Alice still gets her output. */
    int code = -1;
    assert_int_equal(drain(m, ALICE, sid, cid, 65536, &o.out, NULL, &code, 10000), WSM_OK);
    assert_int_equal(o.out.len, 5);
    wsm__buf_free(&o.out);
    wsm__buf_free(&o.err);
    sleep_ms(150);
    assert_int_equal(wc_count(&w), 0);
    wc_destroy(&w);
    shell_mgr_free(m);
}

static void two_shells(struct shell_limits *l)
{
    l->max_shells_per_user = 2;
    l->max_processes_per_shell = 2;
}

static void test_quotas(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(two_shells);
    char a[37], b[37], c[37], cid[37];
    new_shell(m, ALICE, NULL, a);
    new_shell(m, ALICE, NULL, b);
    struct shell_owner al = owner_named(ALICE);
    assert_int_equal(shell_create(m, &al, NULL, c), WSM_ERR_QUOTA);
    new_shell(m, BOB, NULL, c); /* per user */
    assert_int_equal(shell_count(m, ALICE), 2);
    assert_int_equal(shell_delete(m, ALICE, b), WSM_OK);
    new_shell(m, ALICE, NULL, b);

    /* Processes: two running at once, a third is refused. */
    char c1[37], c2[37];
    assert_int_equal(shell_command(m, ALICE, a, "sleep 100", c1), WSM_OK);
    assert_int_equal(shell_command(m, ALICE, a, "sleep 100", c2), WSM_OK);
    assert_int_equal(shell_command(m, ALICE, a, "echo x", cid), WSM_ERR_QUOTA);
    assert_int_equal(shell_command(m, ALICE, b, "echo other shell", cid), WSM_OK);
    assert_int_equal(shell_signal(m, ALICE, a, c1, SHELL_SIG_TERMINATE), WSM_OK);
    assert_int_equal(drain(m, ALICE, a, c1, 65536, NULL, NULL, NULL, 10000), WSM_OK);
    assert_int_equal(shell_command(m, ALICE, a, "echo x", cid), WSM_OK);
    shell_mgr_free(m);
}

static void test_delete_kills_group(void **state)
{
    (void)state;
    int fds0 = count_fds();
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37], line[64];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 100 & echo $$ $!; wait", cid), WSM_OK);
    first_line(m, sid, cid, line, sizeof(line));
    int pid = 0, bg = 0;
    assert_int_equal(sscanf(line, "%d %d", &pid, &bg), 2);
    assert_true(pid > 0 && bg > 0);
    assert_int_equal(kill(pid, 0), 0);
    assert_int_equal(getpgid(bg), pid); /* one group, led by the shell */
    assert_int_equal(shell_delete(m, ALICE, sid), WSM_OK);
    /* Reaped by the time delete returns: the pid is gone, not a zombie. */
    errno = 0;
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    assert_true(wait_dead(bg, 2000));
    assert_int_equal(zombie_children(), 0);
    shell_mgr_free(m);
    assert_int_equal(count_fds(), fds0);
}

static void test_idle_timeout(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    struct shell_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.idle_timeout_ms = 200;
    char sid[37], cid[37], line[64];
    new_shell(m, ALICE, &opts, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "echo $$; exec sleep 100", cid), WSM_OK);
    first_line(m, sid, cid, line, sizeof(line));
    int pid = atoi(line);
    assert_true(pid > 0);
    /* Calls keep it alive. */
    for (int i = 0; i < 5; i++) {
        sleep_ms(100);
        struct shell_output t;
        memset(&t, 0, sizeof(t));
        wsm__buf_init(&t.out, 0);
        wsm__buf_init(&t.err, 0);
        assert_int_equal(shell_receive(m, ALICE, sid, cid, 10, &t), WSM_ERR_TIMED_OUT);
    }
    assert_int_equal(shell_count(m, ALICE), 1);
    sleep_ms(700);
    assert_int_equal(shell_count(m, ALICE), 0);
    struct shell_output o;
    memset(&o, 0, sizeof(o));
    wsm__buf_init(&o.out, 0);
    wsm__buf_init(&o.err, 0);
    assert_int_equal(shell_receive(m, ALICE, sid, cid, 65536, &o), WSM_ERR_NOT_FOUND);
    assert_true(wait_dead(pid, 2000));
    /* The I/O thread reaps the killed child soon after. */
    long long end = shell_now_ms() + 2000;
    while (zombie_children() && shell_now_ms() < end)
        sleep_ms(20);
    assert_int_equal(zombie_children(), 0);

    /* A parked wait keeps a shell alive past its idle timeout. */
    new_shell(m, ALICE, &opts, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 100", cid), WSM_OK);
    struct waitctx w;
    wc_init(&w);
    unsigned long tok;
    assert_int_equal(shell_wait(m, ALICE, sid, cid, shell_now_ms() + 800, on_wake, &w, &tok),
                     WSM_OK);
    sleep_ms(600);
    assert_int_equal(shell_count(m, ALICE), 1);
    assert_true(wc_wait(&w, 1, 3000));
    sleep_ms(600);
    assert_int_equal(shell_count(m, ALICE), 0);
    wc_destroy(&w);
    shell_mgr_free(m);
}

static void test_fd_count_cycles(void **state)
{
    (void)state;
    int fds0 = count_fds();
    struct shell_mgr *m = mgr_with(NULL);
    int fds1 = count_fds();
    for (int i = 0; i < 6; i++) {
        char sid[37], c1[37], c2[37];
        new_shell(m, ALICE, NULL, sid);
        char *out;
        assert_int_equal(run(m, ALICE, sid, "echo x; echo y >&2", &out, NULL), 0);
        free(out);
        assert_int_equal(shell_command(m, ALICE, sid, "sleep 100", c1), WSM_OK);
        assert_int_equal(shell_command(m, ALICE, sid, "cat", c2), WSM_OK);
        assert_int_equal(shell_send(m, ALICE, sid, c2, "abc", 3, 0), WSM_OK);
        assert_int_equal(shell_delete(m, ALICE, sid), WSM_OK);
    }
    assert_int_equal(count_fds(), fds1);
    assert_int_equal(zombie_children(), 0);
    shell_mgr_free(m);
    assert_int_equal(count_fds(), fds0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wait_wakes_on_output),
        cmocka_unit_test(test_wait_deadline_and_cancel),
        cmocka_unit_test(test_wait_woken_by_delete),
        cmocka_unit_test(test_other_owner),
        cmocka_unit_test(test_quotas),
        cmocka_unit_test(test_delete_kills_group),
        cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_fd_count_cycles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
