/* Unit tests for the remote shell engine (src/shell/engine.c): the
 * child's environment, working directory, signals, fds and rlimits; the
 * switch to the owner's user; a command's end with its exit, background
 * children holding pipes; memory of idle shells; parallel commands. */
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

static void test_environment(void **state)
{
    (void)state;
    setenv("WSMD_TEST_DAEMON_SECRET", "leak", 1);
    struct shell_mgr *m = mgr_with(NULL);
    const char *env[] = {"WSMD_SHELL_VAR=hello world", "LANG=fr_FR.UTF-8", NULL};
    struct shell_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.env = env;
    char sid[37];
    new_shell(m, ALICE, &opts, sid);
    char *out;
    assert_int_equal(run(m, ALICE, sid, "env", &out, NULL), 0);
    assert_non_null(strstr(out, "WSMD_SHELL_VAR=hello world\n"));
    assert_non_null(strstr(out, "HOME=/tmp\n"));
    assert_non_null(strstr(out, "USER=alice\n"));
    assert_non_null(strstr(out, "LOGNAME=alice\n"));
    assert_non_null(strstr(out, "SHELL=/bin/sh\n"));
    assert_non_null(strstr(out, "PATH=/usr/local/bin:/usr/bin:/bin\n"));
    assert_non_null(strstr(out, "LANG=fr_FR.UTF-8\n"));
    assert_null(strstr(out, "LANG=C.UTF-8"));
    assert_null(strstr(out, "WSMD_TEST_DAEMON_SECRET"));
    free(out);
    /* Without env: LANG defaults. */
    char sid2[37];
    new_shell(m, ALICE, NULL, sid2);
    assert_int_equal(run(m, ALICE, sid2, "echo $LANG", &out, NULL), 0);
    assert_string_equal(out, "C.UTF-8\n");
    free(out);
    /* A malformed entry is refused. */
    const char *bad[] = {"NOEQUALS", NULL};
    opts.env = bad;
    struct shell_owner o = owner_named(ALICE);
    assert_int_equal(shell_create(m, &o, &opts, sid2), WSM_ERR_INVALID_ARG);
    shell_mgr_free(m);
    unsetenv("WSMD_TEST_DAEMON_SECRET");
}

static void test_workdir(void **state)
{
    (void)state;
    char dir[] = "/tmp/wsmd-engine-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct shell_mgr *m = mgr_with(NULL);
    struct shell_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.workdir = dir;
    char sid[37];
    new_shell(m, ALICE, &opts, sid);
    char *out;
    assert_int_equal(run(m, ALICE, sid, "pwd", &out, NULL), 0);
    char want[64];
    snprintf(want, sizeof(want), "%s\n", dir);
    assert_string_equal(out, want);
    free(out);
    /* Default: home. */
    char sid2[37];
    new_shell(m, ALICE, NULL, sid2);
    assert_int_equal(run(m, ALICE, sid2, "pwd", &out, NULL), 0);
    assert_string_equal(out, "/tmp\n");
    free(out);

    /* A directory that went away: the child's chdir fails and the
     * command is refused (no phantom command, no fd, no zombie). */
    int fds = count_fds();
    assert_int_equal(rmdir(dir), 0);
    char cid[37];
    assert_int_equal(shell_command(m, ALICE, sid, "echo phantom", cid), WSM_ERR_INVALID_ARG);
    assert_int_equal(count_fds(), fds);
    assert_int_equal(zombie_children(), 0);
    /* And at create time. */
    struct shell_owner o = owner_named(ALICE);
    assert_int_equal(shell_create(m, &o, &opts, sid2), WSM_ERR_INVALID_ARG);
    opts.workdir = "/etc/passwd";
    assert_int_equal(shell_create(m, &o, &opts, sid2), WSM_ERR_INVALID_ARG);
    shell_mgr_free(m);
}

static void test_clean_signals_and_fds(void **state)
{
    (void)state;
    /* The daemon ignores and blocks things: the child must not inherit. */
    struct sigaction ign, old_usr1;
    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    sigaction(SIGUSR1, &ign, &old_usr1);
    sigset_t blk, old_mask;
    sigemptyset(&blk);
    sigaddset(&blk, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &blk, &old_mask);
    int leak = open("/dev/null", O_RDONLY); /* no O_CLOEXEC */
    if (leak >= 0 && leak <= 2) {
        /* Run with stdin closed (as CI may): move it past the stdio fds. */
        int moved = fcntl(leak, F_DUPFD, 3);
        close(leak);
        leak = moved;
    }
    assert_true(leak > 2);

    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cmd[128];
    new_shell(m, ALICE, NULL, sid);
    char *out;
    assert_int_equal(run(m, ALICE, sid, "grep -E '^Sig(Ign|Blk)' /proc/self/status", &out, NULL),
                     0);
    if (!strstr(out, "SigIgn:\t0000000000000000") || !strstr(out, "SigBlk:\t0000000000000000"))
        fail_msg("the command inherited ignored or blocked signals:\n%s", out);
    free(out);
    snprintf(cmd, sizeof(cmd), "[ -e /proc/$$/fd/%d ] && echo leaked || echo clean; ls /proc/$$/fd",
             leak);
    assert_int_equal(run(m, ALICE, sid, cmd, &out, NULL), 0);
    assert_string_equal(out, "clean\n0\n1\n2\n");
    free(out);
    /* A session and process group of its own. */
    assert_int_equal(
        run(m, ALICE, sid, "awk '$1==$5 && $5==$6 {print \"leader\"}' /proc/$$/stat", &out, NULL),
        0);
    assert_string_equal(out, "leader\n");
    free(out);
    shell_mgr_free(m);

    close(leak);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(SIGUSR1, &old_usr1, NULL);
}

static void mem64(struct shell_limits *l)
{
    l->max_memory_per_shell_mb = 64;
}

static void test_rlimit(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(mem64);
    char sid[37];
    new_shell(m, ALICE, NULL, sid);
    char *out;
    assert_int_equal(run(m, ALICE, sid, "ulimit -v", &out, NULL), 0);
    assert_string_equal(out, "65536\n");
    free(out);
    shell_mgr_free(m);
}

static void test_switch_user(void **state)
{
    (void)state;
    if (getuid() != 0) {
        skip();
        return;
    }
    struct shell_mgr *m = mgr_with(NULL);
    gid_t groups[] = {65534, 4242};
    struct shell_owner o = owner_named("nobody");
    o.switch_user = 1;
    o.uid = 65534;
    o.gid = 65534;
    o.groups = groups;
    o.ngroups = 2;
    char sid[37];
    assert_int_equal(shell_create(m, &o, NULL, sid), WSM_OK);
    char *out;
    assert_int_equal(run(m, "nobody", sid, "id -u; id -ru; id -g; id -rg; id -G", &out, NULL), 0);
    assert_string_equal(out, "65534\n65534\n65534\n65534\n65534 4242\n");
    free(out);
    /* A file only root may read. */
    assert_int_equal(run(m, "nobody", sid, "cat /etc/shadow >/dev/null 2>&1", NULL, NULL), 1);
    shell_mgr_free(m);
}

/* The daemon's own credentials: every thread still root (the child's raw
 * set*id calls must not reach them, as glibc's broadcasting wrappers
 * would with a shared address space). */
static void assert_threads_root(void)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[320], line[256];
        snprintf(path, sizeof(path), "/proc/self/task/%s/status", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* gone meanwhile */
        while (fgets(line, sizeof(line), f)) {
            if (strncmp(line, "Uid:", 4) == 0 || strncmp(line, "Gid:", 4) == 0) {
                unsigned a, b, c2, e;
                assert_int_equal(sscanf(line + 4, "%u %u %u %u", &a, &b, &c2, &e), 4);
                assert_true(a == 0 && b == 0 && c2 == 0 && e == 0);
            }
            if (strncmp(line, "Groups:", 7) == 0)
                assert_null(strstr(line, "4242"));
        }
        fclose(f);
        n++;
    }
    closedir(d);
    assert_true(n >= 2); /* this thread and the I/O thread */
}

/* Spawning as another user from a multi-threaded root process leaves the
 * process's threads as they were; the children are the user. */
static void test_switch_user_parent_intact(void **state)
{
    (void)state;
    if (getuid() != 0) {
        skip();
        return;
    }
    struct shell_mgr *m = mgr_with(NULL);
    gid_t groups[] = {65534, 4242};
    struct shell_owner o = owner_named("nobody");
    o.switch_user = 1;
    o.uid = 65534;
    o.gid = 65534;
    o.groups = groups;
    o.ngroups = 2;
    char sid[37];
    assert_int_equal(shell_create(m, &o, NULL, sid), WSM_OK);
    for (int i = 0; i < 20; i++) {
        char *out;
        assert_int_equal(run(m, "nobody", sid, "id -u; id -G", &out, NULL), 0);
        assert_string_equal(out, "65534\n65534 4242\n");
        free(out);
        assert_threads_root();
    }
    /* The directory is checked as the user: /root (there, but not for
     * nobody) answers like a missing one, at Create, parent intact. */
    struct shell_opts so = {0};
    so.workdir = "/root";
    char sid2[37];
    assert_int_equal(shell_create(m, &o, &so, sid2), WSM_ERR_INVALID_ARG);
    so.workdir = "/nonexistent-wsmd-dir";
    assert_int_equal(shell_create(m, &o, &so, sid2), WSM_ERR_INVALID_ARG);
    assert_threads_root();
    /* A failing exec path (a directory closed to the user after Create:
     * chdir as the user) is reported, parent intact. */
    char dir[] = "/tmp/wsmd-engine-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chmod(dir, 0755), 0);
    so.workdir = dir;
    assert_int_equal(shell_create(m, &o, &so, sid2), WSM_OK);
    assert_int_equal(chmod(dir, 0700), 0);
    char cid[37];
    assert_int_equal(shell_command(m, "nobody", sid2, "true", cid), WSM_ERR_INVALID_ARG);
    rmdir(dir);
    assert_threads_root();
    assert_int_equal(zombie_children(), 0);
    shell_mgr_free(m);
}

/* The Receive that tells the ends of the streams also tells the exit: no
 * extra round trip for the exit code (the pipes close a moment before the
 * process becomes a zombie). The receive runs in the wake itself, as soon
 * as the daemon would run it. */
struct recv_ctx {
    struct shell_mgr *m;
    const char *sid, *cid;
    enum wsm_err e;
    int out_end, err_end, done, code;
    struct waitctx w;
};

static void recv_now(struct recv_ctx *r)
{
    struct shell_output o;
    memset(&o, 0, sizeof(o));
    wsm__buf_init(&o.out, 0);
    wsm__buf_init(&o.err, 0);
    r->e = shell_receive(r->m, ALICE, r->sid, r->cid, 1 << 20, &o);
    r->out_end = o.out_end;
    r->err_end = o.err_end;
    r->done = o.done;
    r->code = o.exit_code;
    wsm__buf_free(&o.out);
    wsm__buf_free(&o.err);
}

static void on_wake_receive(void *arg)
{
    struct recv_ctx *r = arg;
    recv_now(r);
    on_wake(&r->w);
}

static void test_end_comes_with_exit(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37];
    new_shell(m, ALICE, NULL, sid);
    const char *cmds[] = {"true", "echo hi", "echo oops >&2; exit 3"};
    for (int i = 0; i < 150; i++) {
        char cid[37];
        assert_int_equal(shell_command(m, ALICE, sid, cmds[i % 3], cid), WSM_OK);
        struct recv_ctx r;
        memset(&r, 0, sizeof(r));
        r.m = m;
        r.sid = sid;
        r.cid = cid;
        recv_now(&r);
        while (!(r.e == WSM_OK && (r.out_end || r.err_end))) {
            assert_true(r.e == WSM_OK || r.e == WSM_ERR_TIMED_OUT);
            wc_init(&r.w);
            unsigned long tok;
            assert_int_equal(
                shell_wait(m, ALICE, sid, cid, shell_now_ms() + 5000, on_wake_receive, &r, &tok),
                WSM_OK);
            if (!wc_wait(&r.w, 1, 10000))
                abort();
            wc_destroy(&r.w);
        }
        assert_true(r.done);
        assert_true(r.out_end && r.err_end);
        assert_int_equal(r.code, i % 3 == 2 ? 3 : 0);
    }
    shell_mgr_free(m);
}

/* A command that closes its output and runs on: the ends are told soon,
 * without the exit. */
static void test_end_before_exit(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    assert_int_equal(shell_command(m, ALICE, sid, "exec >&- 2>&-; sleep 2", cid), WSM_OK);
    long long t0 = shell_now_ms();
    int ended = 0;
    while (!ended && shell_now_ms() - t0 < 1500) {
        struct shell_output o;
        memset(&o, 0, sizeof(o));
        wsm__buf_init(&o.out, 0);
        wsm__buf_init(&o.err, 0);
        enum wsm_err e = shell_receive(m, ALICE, sid, cid, 1 << 20, &o);
        if (e == WSM_OK) {
            assert_false(o.done);
            ended = o.out_end && o.err_end;
        } else {
            assert_int_equal(e, WSM_ERR_TIMED_OUT);
            struct waitctx w;
            wc_init(&w);
            unsigned long tok;
            assert_int_equal(
                shell_wait(m, ALICE, sid, cid, shell_now_ms() + 1000, on_wake, &w, &tok), WSM_OK);
            if (!wc_wait(&w, 1, 10000))
                abort();
            wc_destroy(&w);
        }
        wsm__buf_free(&o.out);
        wsm__buf_free(&o.err);
    }
    assert_true(ended);
    assert_true(shell_now_ms() - t0 < 1000);
    int code = -1;
    assert_int_equal(drain(m, ALICE, sid, cid, 1 << 20, NULL, NULL, &code, 10000), WSM_OK);
    assert_int_equal(code, 0);
    shell_mgr_free(m);
}

static void test_background_holds_pipes(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    char sid[37], cid[37];
    new_shell(m, ALICE, NULL, sid);
    /* The shell exits at once; sleep keeps stdout and stderr open. */
    assert_int_equal(shell_command(m, ALICE, sid, "sleep 30 & echo $!", cid), WSM_OK);
    long long t0 = shell_now_ms();
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    wsm__buf_add(&out, "", 0);
    int code = -1;
    assert_int_equal(drain(m, ALICE, sid, cid, 65536, &out, NULL, &code, 10000), WSM_OK);
    long long dt = shell_now_ms() - t0;
    assert_int_equal(code, 0);
    assert_true(dt >= 1500);
    assert_true(dt < 5000);
    int bg = atoi(out.data);
    assert_true(bg > 0);
    kill(bg, SIGKILL);
    wsm__buf_free(&out);
    sleep_ms(50);
    assert_int_equal(zombie_children(), 0);
    shell_mgr_free(m);
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    assert_non_null(f);
    long size = 0, res = 0;
    assert_int_equal(fscanf(f, "%ld %ld", &size, &res), 2);
    fclose(f);
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static void many_shells(struct shell_limits *l)
{
    l->max_shells_per_user = 1000;
}

/* Idle shells are small: no thread, no buffer until there is output. */
static void test_idle_shell_memory(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(many_shells);
    enum { N = 400 };
    char sid[37];
    long before = rss_kb();
    for (int i = 0; i < N; i++)
        new_shell(m, ALICE, NULL, sid);
    long grown = rss_kb() - before;
    assert_true(grown < N * 256);
    assert_int_equal(shell_count(m, ALICE), N);
    assert_int_equal(shell_count(m, NULL), N);
    shell_mgr_free(m);
}

/* Many commands in parallel shells, all complete with their output. */
static void test_parallel_commands(void **state)
{
    (void)state;
    struct shell_mgr *m = mgr_with(NULL);
    enum { S = 8, C = 5 };
    char sid[S][37], cid[S][C][37];
    for (int s = 0; s < S; s++) {
        new_shell(m, ALICE, NULL, sid[s]);
        for (int c = 0; c < C; c++) {
            char cmd[64];
            snprintf(cmd, sizeof(cmd), "seq 1 %d; exit %d", 1000 * (c + 1), c);
            assert_int_equal(shell_command(m, ALICE, sid[s], cmd, cid[s][c]), WSM_OK);
        }
    }
    for (int s = 0; s < S; s++)
        for (int c = 0; c < C; c++) {
            struct wsm_buf out;
            wsm__buf_init(&out, 0);
            int code = -1;
            assert_int_equal(drain(m, ALICE, sid[s], cid[s][c], 10000, &out, NULL, &code, 20000),
                             WSM_OK);
            assert_int_equal(code, c);
            unsigned n = 0;
            for (size_t i = 0; i < out.len; i++)
                n += out.data[i] == '\n';
            assert_int_equal(n, 1000 * (c + 1));
            wsm__buf_free(&out);
        }
    shell_mgr_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_environment),
        cmocka_unit_test(test_workdir),
        cmocka_unit_test(test_clean_signals_and_fds),
        cmocka_unit_test(test_rlimit),
        cmocka_unit_test(test_switch_user),
        cmocka_unit_test(test_switch_user_parent_intact),
        cmocka_unit_test(test_end_comes_with_exit),
        cmocka_unit_test(test_end_before_exit),
        cmocka_unit_test(test_background_holds_pipes),
        cmocka_unit_test(test_idle_shell_memory),
        cmocka_unit_test(test_parallel_commands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
