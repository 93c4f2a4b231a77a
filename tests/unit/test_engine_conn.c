/* Unit tests for the remote shell engine's disconnected shells and shell
 * management (src/shell/engine_conn.c): Disconnect refuses the client's
 * requests and wakes its waits, Reconnect/Connect (owner only, Connect
 * only when disconnected), BufferMode Block keeps everything and Drop the
 * newest, the Disconnect's IdleTimeOut, the client's ShellId, shell_list. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_helpers.h"

static void small_rings(struct shell_limits *l)
{
    l->stream_cap = 4096;
}

/* The expected output of `seq 1 n`. */
static char *seq_text(int n, size_t *len)
{
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    for (int i = 1; i <= n; i++)
        assert_int_equal(wsm__buf_printf(&b, "%d\n", i), WSM_OK);
    *len = b.len;
    return wsm__buf_steal(&b, NULL);
}

/* Polls shell_list until no command of the shell runs. */
static int wait_idle(struct shell_mgr *m, const char *sid, long timeout_ms)
{
    long long end = shell_now_ms() + timeout_ms;
    while (shell_now_ms() < end) {
        struct shell_info *v;
        size_t n;
        assert_int_equal(shell_list(m, ALICE, sid, &v, &n), WSM_OK);
        assert_int_equal(n, 1);
        pid_t pid = v[0].pid;
        shell_info_free(v, n);
        if (!pid)
            return 1;
        sleep_ms(20);
    }
    return 0;
}

static void test_disconnect_refuses_until_reconnect(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37], c2[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "printf hello; sleep 0.2; printf world", cid),
                     WSM_OK);
    assert_false(shell_is_disconnected(m, ALICE, sid));
    assert_int_equal(shell_disconnect(m, ALICE, sid, 0, SHELL_BUFFER_KEEP), WSM_OK);
    assert_true(shell_is_disconnected(m, ALICE, sid));
    /* Somebody else's shell is not there for a Disconnect. */
    assert_int_equal(shell_disconnect(m, BOB, sid, 0, SHELL_BUFFER_KEEP), WSM_ERR_NOT_FOUND);

    struct shell_output o;
    memset(&o, 0, sizeof(o));
    wsm__buf_init(&o.out, 0);
    wsm__buf_init(&o.err, 0);
    unsigned long tok;
    assert_int_equal(shell_receive_tx(m, ALICE, sid, cid, 100, -1, &o, &tok), WSM_ERR_INVALID_ARG);
    assert_int_equal(shell_receive(m, ALICE, sid, cid, 100, &o), WSM_ERR_INVALID_ARG);
    wsm__buf_free(&o.out);
    wsm__buf_free(&o.err);
    assert_int_equal(shell_send(m, ALICE, sid, cid, "x", 1, 0), WSM_ERR_INVALID_ARG);
    assert_int_equal(shell_signal(m, ALICE, sid, cid, SHELL_SIG_CTRL_C), WSM_ERR_INVALID_ARG);
    assert_int_equal(shell_command(m, ALICE, sid, "true", c2), WSM_ERR_INVALID_ARG);
    struct waitctx w;
    wc_init(&w);
    unsigned long wt;
    assert_int_equal(shell_wait(m, ALICE, sid, cid, shell_now_ms() + 1000, on_wake, &w, &wt),
                     WSM_ERR_INVALID_ARG);
    assert_int_equal(wc_count(&w), 0);
    wc_destroy(&w);

    /* Another user: refused; the owner's Connect takes it up, a second
     * Connect finds it connected, a Reconnect then changes nothing. */
    assert_int_equal(shell_reconnect(m, BOB, sid, SHELL_BUFFER_KEEP, 0), WSM_ERR_ACCESS_DENIED);
    assert_int_equal(shell_reconnect(m, BOB, sid, SHELL_BUFFER_KEEP, 1), WSM_ERR_ACCESS_DENIED);
    assert_int_equal(shell_reconnect(m, ALICE, "nope", SHELL_BUFFER_KEEP, 0), WSM_ERR_NOT_FOUND);
    assert_int_equal(shell_reconnect(m, ALICE, sid, SHELL_BUFFER_KEEP, 1), WSM_OK);
    assert_int_equal(shell_reconnect(m, ALICE, sid, SHELL_BUFFER_KEEP, 1), WSM_ERR_INTERNAL);
    assert_int_equal(shell_reconnect(m, ALICE, sid, SHELL_BUFFER_KEEP, 0), WSM_OK);
    assert_false(shell_is_disconnected(m, ALICE, sid));

    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    int code = -1;
    assert_int_equal(drain(m, ALICE, sid, cid, 3, &out, NULL, &code, 10000), WSM_OK);
    assert_int_equal(code, 0);
    assert_int_equal(out.len, 10);
    assert_memory_equal(out.data, "helloworld", 10);
    wsm__buf_free(&out);
    shell_mgr_free(m);
}

/* A Receive parked by the old client ends at the Disconnect. */
static void test_disconnect_wakes_waiters(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 30", cid), WSM_OK);
    struct waitctx w;
    wc_init(&w);
    unsigned long wt;
    assert_int_equal(shell_wait(m, ALICE, sid, cid, shell_now_ms() + 20000, on_wake, &w, &wt),
                     WSM_OK);
    assert_int_equal(wc_count(&w), 0);
    long long t0 = shell_now_ms();
    assert_int_equal(shell_disconnect(m, ALICE, sid, 60000, SHELL_BUFFER_BLOCK), WSM_OK);
    assert_true(wc_wait(&w, 1, 5000));
    assert_true(shell_now_ms() - t0 < 5000);
    wc_destroy(&w);
    assert_int_equal(shell_delete(m, ALICE, sid), WSM_OK);
    shell_mgr_free(m);
}

/* Block: past the ring and the pipe the child blocks, and everything
 * comes after the Reconnect. Drop: the child runs to its end, the newest
 * bytes stay, contiguous, at most a ring's worth. */
static void block_or_drop(int drop)
{
    struct shell_mgr *m = mgr_with(small_rings);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(
        shell_disconnect(m, ALICE, sid, 60000, drop ? SHELL_BUFFER_DROP : SHELL_BUFFER_BLOCK),
        WSM_OK);
    /* Commands cannot start while disconnected: start it, then disconnect. */
    assert_int_equal(shell_reconnect(m, ALICE, sid, SHELL_BUFFER_KEEP, 0), WSM_OK);
    size_t want_len;
    char *want = seq_text(300000, &want_len); /* ~2 MB: past the 1 MiB pipe */
    assert_int_equal(shell_command(m, ALICE, sid, "seq 1 300000", cid), WSM_OK);
    assert_int_equal(shell_disconnect(m, ALICE, sid, 0, SHELL_BUFFER_KEEP), WSM_OK);
    struct shell_info *v;
    size_t n;
    assert_int_equal(shell_list(m, ALICE, sid, &v, &n), WSM_OK);
    assert_int_equal(v[0].drop, drop);
    assert_int_equal(v[0].disconnected, 1);
    shell_info_free(v, n);
    if (drop) {
        assert_true(wait_idle(m, sid, 20000));
    } else {
        /* Still running after a while: it blocks in write. */
        sleep_ms(300);
        assert_false(wait_idle(m, sid, 200));
    }
    assert_int_equal(shell_reconnect(m, ALICE, sid, SHELL_BUFFER_KEEP, 0), WSM_OK);
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    int code = -1;
    assert_int_equal(drain(m, ALICE, sid, cid, 1 << 16, &out, NULL, &code, 30000), WSM_OK);
    assert_int_equal(code, 0);
    if (drop) {
        assert_true(out.len < want_len);
        assert_true(out.len <= 4096);
        assert_true(out.len > 0);
        assert_memory_equal(out.data, want + want_len - out.len, out.len);
    } else {
        assert_int_equal(out.len, want_len);
        assert_memory_equal(out.data, want, want_len);
    }
    wsm__buf_free(&out);
    free(want);
    shell_mgr_free(m);
}

static void test_block(void **state)
{
    (void)state;
    block_or_drop(0);
}

static void test_drop(void **state)
{
    (void)state;
    block_or_drop(1);
}

/* The Disconnect's IdleTimeOut closes a shell nobody reconnects, and
 * kills what runs in it; a Reconnect brings back the Create's. */
static void test_idle_after_disconnect(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    struct shell_opts opts = {.idle_timeout_ms = 600000};
    new_shell(m, ALICE, &opts, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 30", cid), WSM_OK);
    assert_int_equal(shell_disconnect(m, ALICE, sid, 300000, SHELL_BUFFER_KEEP), WSM_OK);
    struct shell_info *v;
    size_t n;
    assert_int_equal(shell_list(m, ALICE, sid, &v, &n), WSM_OK);
    assert_int_equal(v[0].idle_ms, 300000);
    shell_info_free(v, n);
    assert_int_equal(shell_reconnect(m, ALICE, sid, SHELL_BUFFER_KEEP, 0), WSM_OK);
    assert_int_equal(shell_list(m, ALICE, sid, &v, &n), WSM_OK);
    assert_int_equal(v[0].idle_ms, 600000);
    pid_t pid = v[0].pid;
    assert_true(pid > 0);
    shell_info_free(v, n);

    long long t0 = shell_now_ms();
    assert_int_equal(shell_disconnect(m, ALICE, sid, 300, SHELL_BUFFER_KEEP), WSM_OK);
    assert_int_equal(shell_count(m, ALICE), 1);
    while (shell_count(m, ALICE) && shell_now_ms() - t0 < 5000)
        sleep_ms(10);
    assert_int_equal(shell_count(m, ALICE), 0);
    assert_true(shell_now_ms() - t0 >= 290);
    assert_true(wait_dead(pid, 5000));
    shell_mgr_free(m);
}

static void test_client_id_and_list(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    const char *mine = "0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9";
    struct shell_opts opts = {.id = mine,
                              .name = "Runspace1",
                              .client_ip = "192.0.2.7",
                              .locale = "de-DE",
                              .buffer_drop = 1};
    char sid[37], bsid[37];
    new_shell(m, ALICE, &opts, sid);
    assert_string_equal(sid, mine);
    struct shell_owner bo = owner_named(BOB);
    char dup[37];
    /* Unique whoever asks, in any case. */
    assert_int_equal(shell_create(m, &bo, &opts, dup), WSM_ERR_ALREADY_EXISTS);
    struct shell_opts lower = {.id = "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"};
    struct shell_owner ao = owner_named(ALICE);
    assert_int_equal(shell_create(m, &ao, &lower, dup), WSM_ERR_ALREADY_EXISTS);
    struct shell_opts bad = {.id = "short"};
    assert_int_equal(shell_create(m, &ao, &bad, dup), WSM_ERR_INVALID_ARG);
    new_shell(m, BOB, NULL, bsid);

    struct shell_info *v;
    size_t n;
    assert_int_equal(shell_list(m, ALICE, NULL, &v, &n), WSM_OK);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].id, mine);
    assert_string_equal(v[0].owner, ALICE);
    assert_string_equal(v[0].name, "Runspace1");
    assert_string_equal(v[0].client_ip, "192.0.2.7");
    assert_string_equal(v[0].locale, "de-DE");
    assert_null(v[0].data_locale);
    assert_int_equal(v[0].drop, 1);
    assert_int_equal(v[0].disconnected, 0);
    assert_int_equal(v[0].pid, 0);
    assert_int_equal(v[0].processes, 0);
    assert_true(v[0].run_ms >= 0 && v[0].inactive_ms >= 0);
    shell_info_free(v, n);
    /* Everybody's, oldest first; one by id; another's by id: none. */
    assert_int_equal(shell_list(m, NULL, NULL, &v, &n), WSM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].id, mine);
    assert_string_equal(v[1].id, bsid);
    shell_info_free(v, n);
    assert_int_equal(shell_list(m, NULL, bsid, &v, &n), WSM_OK);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].owner, BOB);
    shell_info_free(v, n);
    assert_int_equal(shell_list(m, BOB, mine, &v, &n), WSM_OK);
    assert_int_equal(n, 0);
    assert_null(v);

    /* A running command: its process, counted. */
    char cid[37];
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 30", cid), WSM_OK);
    assert_int_equal(shell_list(m, ALICE, sid, &v, &n), WSM_OK);
    assert_true(v[0].pid > 0);
    assert_true(v[0].processes >= 1);
    assert_true(v[0].memory > 0);
    shell_info_free(v, n);
    assert_int_equal(shell_delete(m, ALICE, mine), WSM_OK);
    shell_mgr_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disconnect_refuses_until_reconnect),
        cmocka_unit_test(test_disconnect_wakes_waiters),
        cmocka_unit_test(test_block),
        cmocka_unit_test(test_drop),
        cmocka_unit_test(test_idle_after_disconnect),
        cmocka_unit_test(test_client_id_and_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
