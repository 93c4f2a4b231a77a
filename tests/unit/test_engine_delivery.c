/* Unit tests for the remote shell engine (src/shell/engine.c): output
 * delivered at least once (settle, SequenceId, the TCP probe), the output
 * budget, kill_owner and the command-end hook. */
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

/* ---- delivery, budget, kill_owner, end hook ---- */

/* receive_tx until it returns something (waiting as a Receive does). */
static enum wsm_err recv_tx(struct shell_mgr *m, const char *sid, const char *cid, size_t max,
                            long long seq, struct shell_output *o, unsigned long *tok)
{
    long long end = shell_now_ms() + 10000;
    for (;;) {
        memset(o, 0, sizeof(*o));
        wsm__buf_init(&o->out, 0);
        wsm__buf_init(&o->err, 0);
        enum wsm_err e = shell_receive_tx(m, ALICE, sid, cid, max, seq, o, tok);
        if (e != WSM_ERR_TIMED_OUT || shell_now_ms() > end)
            return e;
        wsm__buf_free(&o->out);
        wsm__buf_free(&o->err);
        struct waitctx w;
        wc_init(&w);
        unsigned long wt;
        assert_int_equal(shell_wait(m, ALICE, sid, cid, shell_now_ms() + 1000, on_wake, &w, &wt),
                         WSM_OK);
        if (!wc_wait(&w, 1, 10000))
            abort();
        wc_destroy(&w);
    }
}

static void out_free(struct shell_output *o)
{
    wsm__buf_free(&o->out);
    wsm__buf_free(&o->err);
}

/* A reply that was not written leaves the output where it was; one that
 * was takes it. While one is in flight, a Receive without SequenceId
 * waits for it to settle. */
static void test_receive_settle(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "printf abcdef", cid), WSM_OK);
    struct shell_output o, o2;
    unsigned long t1, t2;
    assert_int_equal(recv_tx(m, sid, cid, 4, -1, &o, &t1), WSM_OK);
    assert_true(t1 != 0);
    assert_int_equal(o.out.len, 4);
    assert_memory_equal(o.out.data, "abcd", 4);
    out_free(&o);
    /* In flight: another Receive finds nothing yet, and a waiter is woken
     * when the first settles. */
    memset(&o2, 0, sizeof(o2));
    assert_int_equal(shell_receive_tx(m, ALICE, sid, cid, 4, -1, &o2, &t2), WSM_ERR_TIMED_OUT);
    struct waitctx w;
    wc_init(&w);
    unsigned long wt;
    assert_int_equal(shell_wait(m, ALICE, sid, cid, shell_now_ms() + 5000, on_wake, &w, &wt),
                     WSM_OK);
    assert_int_equal(wc_count(&w), 0);
    shell_settle(m, ALICE, sid, cid, t1, 0); /* not delivered */
    assert_true(wc_wait(&w, 1, 2000));
    wc_destroy(&w);
    shell_settle(m, ALICE, sid, cid, t1, 1); /* a second settle is ignored */
    assert_int_equal(recv_tx(m, sid, cid, 4, -1, &o, &t2), WSM_OK);
    assert_memory_equal(o.out.data, "abcd", 4); /* the same bytes again */
    out_free(&o);
    shell_settle(m, ALICE, sid, cid, t2, 1);
    assert_int_equal(recv_tx(m, sid, cid, 64, -1, &o, &t1), WSM_OK);
    assert_int_equal(o.out.len, 2);
    assert_memory_equal(o.out.data, "ef", 2);
    int done = o.done;
    out_free(&o);
    shell_settle(m, ALICE, sid, cid, t1, 1);
    if (!done) {
        assert_int_equal(recv_tx(m, sid, cid, 64, -1, &o, &t1), WSM_OK);
        assert_int_equal(o.out.len, 0);
        done = o.done;
        out_free(&o);
        shell_settle(m, ALICE, sid, cid, t1, 1);
    }
    assert_true(done);
    shell_mgr_free(m);
}

/* A repeated SequenceId gets the previous output again, even after its
 * reply was written; the next one confirms it. */
static void test_receive_sequence_id(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "printf 0123456789", cid), WSM_OK);
    struct shell_output o;
    unsigned long t;
    assert_int_equal(recv_tx(m, sid, cid, 5, 7, &o, &t), WSM_OK);
    assert_memory_equal(o.out.data, "01234", 5);
    out_free(&o);
    shell_settle(m, ALICE, sid, cid, t, 1);
    assert_int_equal(recv_tx(m, sid, cid, 5, 7, &o, &t), WSM_OK);
    assert_int_equal(o.out.len, 5);
    assert_memory_equal(o.out.data, "01234", 5);
    out_free(&o);
    shell_settle(m, ALICE, sid, cid, t, 1);
    assert_int_equal(recv_tx(m, sid, cid, 5, 8, &o, &t), WSM_OK);
    assert_memory_equal(o.out.data, "56789", 5);
    out_free(&o);
    shell_settle(m, ALICE, sid, cid, t, 1);
    assert_true(shell_buffered(m, ALICE) > 64 * 1024); /* kept: its ring stays */
    /* A Signal confirms what was kept (winrs' terminate after Done). */
    assert_int_equal(shell_signal(m, ALICE, sid, cid, SHELL_SIG_TERMINATE), WSM_OK);
    assert_true(shell_buffered(m, ALICE) < 64 * 1024);
    assert_int_equal(recv_tx(m, sid, cid, 5, 8, &o, &t), WSM_OK);
    assert_int_equal(o.out.len, 0);
    out_free(&o);
    shell_settle(m, ALICE, sid, cid, t, 1);
    shell_mgr_free(m);
}

static int probe_says;

static int fake_probe(void *arg)
{
    (void)arg;
    return probe_says;
}

/* A reply written but not yet acknowledged: the next Receive asks the
 * probe (1: delivered, 0: not yet, -1: lost, sent again). */
static void test_receive_probe(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "printf abcdefgh", cid), WSM_OK);
    struct shell_output o;
    unsigned long t, t2;
    assert_int_equal(recv_tx(m, sid, cid, 2, -1, &o, &t), WSM_OK);
    assert_memory_equal(o.out.data, "ab", 2);
    out_free(&o);
    probe_says = 0;
    shell_settle_probe(m, ALICE, sid, cid, t, fake_probe, NULL);
    memset(&o, 0, sizeof(o));
    assert_int_equal(shell_receive_tx(m, ALICE, sid, cid, 2, -1, &o, &t2), WSM_ERR_TIMED_OUT);
    probe_says = -1; /* lost: the same bytes again */
    assert_int_equal(recv_tx(m, sid, cid, 2, -1, &o, &t2), WSM_OK);
    assert_memory_equal(o.out.data, "ab", 2);
    out_free(&o);
    shell_settle(m, ALICE, sid, cid, t, 1); /* the old token settles nothing */
    probe_says = 1;
    shell_settle_probe(m, ALICE, sid, cid, t2, fake_probe, NULL);
    assert_int_equal(recv_tx(m, sid, cid, 2, -1, &o, &t), WSM_OK);
    assert_memory_equal(o.out.data, "cd", 2);
    out_free(&o);
    shell_settle(m, ALICE, sid, cid, t2, 0); /* stale: ignored */
    shell_settle(m, ALICE, sid, cid, t, 1);
    assert_int_equal(recv_tx(m, sid, cid, 2, -1, &o, &t), WSM_OK);
    assert_memory_equal(o.out.data, "ef", 2);
    out_free(&o);
    shell_settle(m, ALICE, sid, cid, t, 1);
    shell_mgr_free(m);
}

static void small_budget(struct shell_limits *l)
{
    l->stream_cap = 64 * 1024;
    l->max_buffered_user = 192 * 1024; /* two stream buffers and the small charges */
    l->max_buffered_total = 1024 * 1024;
}

/* Past the user's budget, pipes wait (nothing is lost) and stdin buffers
 * get WSM_ERR_QUOTA, as do new commands once not even their few KB fit;
 * another user is not affected. */
static void test_output_budget(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(small_budget);
    char sid[37], cid[4][37], cat[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "cat >/dev/null", cat), WSM_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(shell_command(m, ALICE, sid, "head -c 100000 /dev/zero", cid[i]), WSM_OK);
    long long end = shell_now_ms() + 5000;
    while (!shell_over_budget(m, ALICE, 1) && shell_now_ms() < end)
        sleep_ms(5);
    assert_true(shell_over_budget(m, ALICE, 1));
    size_t held = shell_buffered(m, ALICE);
    assert_true(held <= 192 * 1024);
    assert_true(held >= 128 * 1024);
    sleep_ms(50); /* the starved streams stay so */
    assert_int_equal(shell_buffered(m, ALICE), held);
    assert_int_equal(shell_buffered(m, NULL), held);
    assert_int_equal(shell_send(m, ALICE, sid, cat, "x", 1, 0), WSM_ERR_QUOTA);
    assert_int_equal(shell_signal(m, ALICE, sid, cat, SHELL_SIG_TERMINATE), WSM_OK);
    /* Commands cost a few KB: they go on until those are spent too. */
    char extra[16][37];
    int n = 0;
    while (n < 16 && shell_command(m, ALICE, sid, "sleep 100", extra[n]) == WSM_OK)
        n++;
    assert_true(n > 0 && n < 16);
    assert_true(shell_over_budget(m, ALICE, 0));
    char xs[37];
    struct shell_owner a = owner_named(ALICE);
    assert_int_equal(shell_create(m, &a, NULL, xs), WSM_ERR_QUOTA);
    for (int i = 0; i < n; i++)
        assert_int_equal(shell_signal(m, ALICE, sid, extra[i], SHELL_SIG_TERMINATE), WSM_OK);
    /* Bob still works. */
    char bsid[37];
    new_shell(m, BOB, NULL, bsid);
    char *out;
    assert_int_equal(run(m, BOB, bsid, "echo bob", &out, NULL), 0);
    assert_string_equal(out, "bob\n");
    free(out);
    /* Every byte of alice's four commands arrives, even read last first
     * (the reader's stream gets the account's one overdraft buffer while
     * the others hold the budget). */
    for (int i = 3; i >= 0; i--) {
        struct wsm_buf b;
        wsm__buf_init(&b, 0);
        assert_int_equal(drain(m, ALICE, sid, cid[i], 64 * 1024, &b, NULL, NULL, 10000), WSM_OK);
        assert_int_equal(b.len, 100000);
        wsm__buf_free(&b);
    }
    assert_false(shell_over_budget(m, ALICE, 1));
    assert_int_equal(shell_command(m, ALICE, sid, "true", xs), WSM_OK);
    shell_mgr_free(m);
}

static void test_kill_owner(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char s1[37], s2[37], s3[37], c1[37], c2[37], c3[37];
    new_shell(m, ALICE, NULL, s1);
    new_shell(m, ALICE, NULL, s2);
    new_shell(m, BOB, NULL, s3);
    assert_int_equal(shell_command(m, ALICE, s1, "echo $$; exec sleep 100", c1), WSM_OK);
    assert_int_equal(shell_command(m, ALICE, s2, "sleep 100", c2), WSM_OK);
    assert_int_equal(shell_command(m, BOB, s3, "sleep 100", c3), WSM_OK);
    char line[64];
    first_line(m, s1, c1, line, sizeof(line));
    pid_t pid = (pid_t)atoi(line);
    assert_true(pid > 1);
    unsigned n = 99;
    assert_int_equal(shell_kill_owner(m, ALICE, &n), WSM_OK);
    assert_int_equal(n, 2);
    assert_int_equal(shell_count(m, ALICE), 0);
    assert_int_equal(shell_count(m, BOB), 1);
    assert_true(dead(pid)); /* killed and reaped before it returned */
    assert_int_equal(shell_kill_owner(m, "nobody", &n), WSM_OK);
    assert_int_equal(n, 0);
    assert_int_equal(shell_kill_owner(m, NULL, NULL), WSM_ERR_INVALID_ARG);
    shell_mgr_free(m);
}

static int ends_seen;
static struct shell_cmd_end last_end;

static void on_end(const struct shell_cmd_end *e)
{
    ends_seen++;
    last_end = *e;
    last_end.owner = last_end.shell_id = last_end.cmd_id = NULL; /* not kept */
}

static void test_end_hook(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    shell_mgr_set_end_hook(m, on_end);
    ends_seen = 0;
    char sid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(run(m, ALICE, sid, "printf hello; printf xy >&2; exit 3", NULL, NULL), 3);
    assert_int_equal(ends_seen, 1);
    assert_int_equal(last_end.out_bytes, 5);
    assert_int_equal(last_end.err_bytes, 2);
    assert_int_equal(last_end.exit_code, 3);
    assert_true(last_end.duration_ms >= 0);
    /* A command that goes with its shell is told once too. */
    char cid[37];
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 100", cid), WSM_OK);
    assert_int_equal(shell_delete(m, ALICE, sid), WSM_OK);
    assert_int_equal(ends_seen, 2);
    assert_int_equal(last_end.exit_code, -1);
    shell_mgr_free(m);
    assert_int_equal(ends_seen, 2);
}

/* The shell deleted while its last reply is in flight (the client reads
 * it and deletes on another connection): the end's out_bytes count that
 * reply's bytes once the client's TCP has them, not before. */
static void test_end_counts_reply_in_flight(void **state)
{
    (void)state;
    for (int acked = 0; acked < 2; acked++) {
        struct shell_mgr *m = mgr_with(NULL);
        shell_mgr_set_end_hook(m, on_end);
        ends_seen = 0;
        char sid[37], cid[37];
        new_shell(m, ALICE, NULL, sid);
        assert_int_equal(shell_command(m, ALICE, sid, "printf hello", cid), WSM_OK);
        struct shell_output o;
        unsigned long t;
        size_t got = 0;
        for (;;) { /* until the reply that says done, left in flight */
            assert_int_equal(recv_tx(m, sid, cid, 64, -1, &o, &t), WSM_OK);
            got += o.out.len;
            int done = o.done;
            out_free(&o);
            if (done)
                break;
            shell_settle(m, ALICE, sid, cid, t, 1);
        }
        assert_int_equal(got, 5);
        probe_says = acked;
        shell_settle_probe(m, ALICE, sid, cid, t, fake_probe, NULL);
        assert_int_equal(shell_delete(m, ALICE, sid), WSM_OK);
        assert_int_equal(ends_seen, 1);
        /* All 5 in one reply, or some delivered before: the last reply's
         * bytes count only when acknowledged. */
        if (acked)
            assert_int_equal(last_end.out_bytes, 5);
        else
            assert_true(last_end.out_bytes < 5);
        shell_mgr_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_receive_settle),
        cmocka_unit_test(test_receive_sequence_id),
        cmocka_unit_test(test_receive_probe),
        cmocka_unit_test(test_output_budget),
        cmocka_unit_test(test_kill_owner),
        cmocka_unit_test(test_end_hook),
        cmocka_unit_test(test_end_counts_reply_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
