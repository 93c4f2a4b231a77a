/* src/shell/cgroup.c: parsing, the no-cgroup fallback, and (as root where
 * the kernel has a pids cgroup) a process limit, killing a group with a
 * setsid'd member, and the removal of a dead daemon's groups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"

static void test_own_path(void **state)
{
    (void)state;
    const char *hybrid = "9:name=systemd:/\n8:pids:/a/b\n4:memory:/process_api/x\n"
                         "6:freezer:/\n1:cpu,cpuacct:/c\n0::/u\n";
    char out[256];
    assert_int_equal(wsmd__cg_own_path(hybrid, "pids", out, sizeof(out)), 0);
    assert_string_equal(out, "/a/b");
    assert_int_equal(wsmd__cg_own_path(hybrid, "memory", out, sizeof(out)), 0);
    assert_string_equal(out, "/process_api/x");
    assert_int_equal(wsmd__cg_own_path(hybrid, "cpuacct", out, sizeof(out)), 0);
    assert_string_equal(out, "/c");
    assert_int_equal(wsmd__cg_own_path(hybrid, "", out, sizeof(out)), 0);
    assert_string_equal(out, "/u");
    /* "pid" is not "pids"; no such controller. */
    assert_int_equal(wsmd__cg_own_path(hybrid, "pid", out, sizeof(out)), -1);
    const char *v2 = "0::/system.slice/wsmd.service";
    assert_int_equal(wsmd__cg_own_path(v2, "", out, sizeof(out)), 0);
    assert_string_equal(out, "/system.slice/wsmd.service");
    assert_int_equal(wsmd__cg_own_path(v2, "pids", out, sizeof(out)), -1);
    assert_int_equal(wsmd__cg_own_path("0::/x\n", "", out, 2), -1); /* too long */
    assert_int_equal(wsmd__cg_own_path("garbage", "", out, sizeof(out)), -1);
}

/* No cgroup mounted: nothing in use, every call a harmless no-op. */
static void test_none(void **state)
{
    (void)state;
    char dir[] = "/tmp/wsmd-cgtest-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char mi[256], sc[256];
    snprintf(mi, sizeof(mi), "%s/mountinfo", dir);
    snprintf(sc, sizeof(sc), "%s/cgroup", dir);
    FILE *f = fopen(mi, "w");
    fputs("22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
          "30 1 0:26 / /tmp rw - tmpfs tmpfs rw\n",
          f);
    fclose(f);
    f = fopen(sc, "w");
    fputs("0::/\n", f);
    fclose(f);
    char desc[512];
    assert_int_equal(wsmd__cg_init(mi, sc, desc, sizeof(desc)), 0);
    assert_non_null(strstr(desc, "cgroups=none"));
    assert_non_null(strstr(desc, "kill=process-group"));
    assert_false(wsmd__cg_active());
    assert_false(wsmd__cg_has_pids());
    assert_null(wsmd__cg_create("shell-x", 5, 0));
    int fds[WSMD_CG_MAXH];
    assert_int_equal(wsmd__cg_open_procs(NULL, fds), 0);
    assert_int_equal(wsmd__cg_pids_full(NULL), 0);
    assert_int_equal(wsmd__cg_kill(NULL), 0);
    wsmd__cg_release(NULL, 1);
    wsmd__cg_shutdown(10);
    /* Unreadable files: the same. */
    assert_int_equal(wsmd__cg_init("/nonexistent/mi", sc, desc, sizeof(desc)), 0);
    unlink(mi);
    unlink(sc);
    rmdir(dir);
}

/* Real cgroups: root and a pids hierarchy, else skipped. */
static int real_init(char *desc, size_t n)
{
    if (geteuid() != 0)
        return 0;
    return wsmd__cg_init(NULL, NULL, desc, n) && wsmd__cg_has_pids();
}

static void join(const struct wsmd_cg *g)
{
    int fds[WSMD_CG_MAXH];
    int n = wsmd__cg_open_procs(g, fds);
    if (n <= 0)
        _exit(90);
    for (int i = 0; i < n; i++)
        if (write(fds[i], "0", 1) != 1)
            _exit(91);
    wsmd__cg_close_fds(fds, n);
}

static int alive(pid_t pid)
{
    char path[64], st[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t r = read(fd, st, sizeof(st) - 1);
    close(fd);
    if (r <= 0)
        return 0;
    st[r] = '\0';
    const char *p = strrchr(st, ')');
    return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static int wait_dead(pid_t pid, int ms)
{
    for (int i = 0; i < ms; i++) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        if (!alive(pid))
            return 1;
        usleep(1000);
    }
    return 0;
}

/* A group of pids.max 6: a member forking 20 gets fork failures; a
 * setsid'd grandchild dies with the group; the directory goes. */
static void limit_and_kill(int degrade)
{
    char desc[PATH_MAX + 200];
    if (!real_init(desc, sizeof(desc))) {
        skip();
        return;
    }
    wsmd__cg_test_degrade(degrade);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    char rel[64];
    snprintf(rel, sizeof(rel), "shell-test-%d", (int)getpid());
    struct wsmd_cg *g = wsmd__cg_create(rel, 6, 64ULL << 20);
    assert_non_null(g);
    assert_int_equal(wsmd__cg_pids_current(g), 0);
    assert_int_equal(wsmd__cg_pids_full(g), 0);

    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        join(g);
        setsid();
        int ok = 0, fail = 0;
        pid_t first = 0;
        for (int i = 0; i < 20; i++) {
            pid_t k = fork();
            if (k < 0) {
                fail++;
                continue;
            }
            if (k == 0) {
                setsid(); /* leaves the session: not the process group's */
                pause();
                _exit(0);
            }
            if (!first)
                first = k;
            ok++;
        }
        int msg[3] = {ok, fail, (int)first};
        if (write(p[1], msg, sizeof(msg)) != sizeof(msg))
            _exit(92);
        pause();
        _exit(0);
    }
    close(p[1]);
    int msg[3];
    assert_int_equal(read(p[0], msg, sizeof(msg)), (ssize_t)sizeof(msg));
    close(p[0]);
    assert_int_equal(msg[0], 5); /* the member itself is the 6th */
    assert_int_equal(msg[1], 15);
    assert_int_equal(wsmd__cg_pids_current(g), 6);
    assert_int_equal(wsmd__cg_pids_full(g), 1);
    /* Six processes are charged some memory (shell management's
     * MemoryUsed); without the controller, -1. */
    if (wsmd__cg_has_memory())
        assert_true(wsmd__cg_memory_current(g) > 0);
    else
        assert_int_equal(wsmd__cg_memory_current(g), -1);
    assert_int_equal(wsmd__cg_memory_current(NULL), -1);

    assert_int_equal(wsmd__cg_kill(g), 0);
    assert_true(wait_dead(c, 2000));
    assert_true(wait_dead((pid_t)msg[2], 2000));
    wsmd__cg_release(g, 1);
    wsmd__cg_shutdown(2000);
    /* Gone, with this daemon's directory. */
    const char *d = strstr(desc, "dir=");
    assert_non_null(d);
    struct stat st;
    assert_int_not_equal(stat(d + 4, &st), 0);
}

static void test_limit_and_kill(void **state)
{
    (void)state;
    limit_and_kill(0);
}

/* Kernels before 5.14 (no cgroup.kill): frozen, then each member. */
static void test_limit_and_kill_freeze(void **state)
{
    (void)state;
    limit_and_kill(1);
}

/* No freezer either: each member, until the group is empty. */
static void test_limit_and_kill_each(void **state)
{
    (void)state;
    limit_and_kill(2);
}

/* A daemon that died (here: a child that set up, started a member and
 * exited without cleaning up): the next start kills what its shell group
 * held and removes its directory. */
static void test_stale_removed(void **state)
{
    (void)state;
    char desc[PATH_MAX + 200];
    if (!real_init(desc, sizeof(desc))) {
        skip();
        return;
    }
    wsmd__cg_shutdown(0);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t d = fork();
    assert_true(d >= 0);
    if (d == 0) {
        char dd[PATH_MAX + 200];
        if (!wsmd__cg_init(NULL, NULL, dd, sizeof(dd)))
            _exit(93);
        struct wsmd_cg *g = wsmd__cg_create("shell-stale", 10, 0);
        if (!g)
            _exit(94);
        pid_t m = fork();
        if (m == 0) {
            join(g);
            setsid();
            pause();
            _exit(0);
        }
        /* Wait until it is in. */
        for (int i = 0; i < 2000 && wsmd__cg_pids_current(g) < 1; i++)
            usleep(1000);
        char msg[PATH_MAX + 220];
        snprintf(msg, sizeof(msg), "%d %s", (int)m, dd);
        if (write(p[1], msg, strlen(msg) + 1) < 0)
            _exit(95);
        _exit(0); /* "crash": nothing removed */
    }
    close(p[1]);
    char msg[PATH_MAX + 220] = "";
    assert_true(read(p[0], msg, sizeof(msg) - 1) > 0);
    close(p[0]);
    int st;
    assert_int_equal(waitpid(d, &st, 0), d);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    pid_t member = (pid_t)atoi(msg);
    const char *dir = strstr(msg, "dir=");
    assert_non_null(dir);
    dir += 4;
    struct stat sb;
    assert_int_equal(stat(dir, &sb), 0);
    assert_true(alive(member));

    assert_true(real_init(desc, sizeof(desc)));
    assert_true(wait_dead(member, 2000));
    assert_int_not_equal(stat(dir, &sb), 0);
    wsmd__cg_shutdown(2000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_own_path),
        cmocka_unit_test(test_none),
        cmocka_unit_test(test_limit_and_kill),
        cmocka_unit_test(test_limit_and_kill_freeze),
        cmocka_unit_test(test_limit_and_kill_each),
        cmocka_unit_test(test_stale_removed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
