/* Unit tests for Win32_Process's methods (src/providers/procmethods.c,
 * process_create.c): real children through Create, Terminate and
 * GetOwner, as the daemon's user and switched to another. */
#include "providers_process.h"

/* ---- Win32_Process: methods ---- */

static void test_create_and_terminate(void **state)
{
    (void)state;
    struct cim_ctx ctx = plain_ctx();
    int fds = count_open_fds();
    pid_t pid;
    assert_int_equal(create(&ctx, "sleep 30", NULL, &pid), 0);
    assert_true(pid > 0);
    assert_int_equal(count_open_fds(), fds); /* nothing leaked here */
    /* The intermediate child was reaped, the command is not our child. */
    assert_no_children(pid);
    assert_int_equal(kill(pid, 0), 0);

    /* The pid is the command's own (run as "exec sleep 30"), not that
     * of a shell waiting for it: Terminate must end the command. */
    char cmd[512];
    for (int i = 0; i < 300; i++) {
        /* Until the exec: the forked copy of us, then the shell about to
         * exec (and an empty cmdline in between). */
        read_cmdline(pid, cmd, sizeof(cmd));
        if (strcmp(cmd, "sleep 30 ") == 0)
            break;
        sleep_ms(10);
    }
    assert_string_equal(cmd, "sleep 30 ");
    assert_true(getsid(pid) == pid); /* a session of its own */
    /* stdio on /dev/null and nothing else open. */
    for (int fd = 0; fd < 3; fd++) {
        char p[64], t[256];
        snprintf(p, sizeof(p), "/proc/%d/fd/%d", (int)pid, fd);
        ssize_t n = readlink(p, t, sizeof(t) - 1);
        assert_true(n > 0);
        t[n] = '\0';
        assert_string_equal(t, "/dev/null");
    }
    /* (The dynamic loader of sh may hold libc open for a moment.) */
    char p[64], t[256];
    snprintf(p, sizeof(p), "/proc/%d/fd/3", (int)pid);
    ssize_t tl = 0;
    for (int i = 0; i < 100 && (tl = readlink(p, t, sizeof(t) - 1)) >= 0; i++)
        sleep_ms(10);
    if (tl >= 0) {
        t[tl] = '\0';
        char cl[512];
        read_cmdline(pid, cl, sizeof(cl));
        fail_msg("fd 3 of %d (%s) is open: %s", (int)pid, cl, t);
    }

    assert_int_equal(terminate(&ctx, pid), 0);
    if (!wait_gone(pid, 5000)) {
        kill_quietly(pid);
        fail_msg("process %d still running after Terminate", (int)pid);
    }
}

/* A list of commands stays a list: run by the shell, whose pid it is. */
static void test_create_compound(void **state)
{
    (void)state;
    struct cim_ctx ctx = plain_ctx();
    pid_t pid;
    assert_int_equal(create(&ctx, "sleep 30; true", NULL, &pid), 0);
    char cmd[512];
    read_cmdline(pid, cmd, sizeof(cmd));
    kill(-pid, SIGKILL); /* the shell and its sleep: its own group */
    assert_string_equal(cmd, "sh -c sleep 30; true ");
}

static void test_create_environment_and_dir(void **state)
{
    (void)state;
    struct cim_ctx ctx = plain_ctx();
    char dir[] = "/tmp/wsmd-proc-XXXXXX";
    assert_non_null(mkdtemp(dir));
    pid_t pid;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "pwd > out; env > env");
    assert_int_equal(create(&ctx, cmd, dir, &pid), 0);
    char out[600], env[600];
    snprintf(out, sizeof(out), "%s/out", dir);
    snprintf(env, sizeof(env), "%s/env", dir);
    /* The command is not ours to wait for: poll for its output. */
    char buf[4096] = "";
    for (int i = 0; i < 250; i++) {
        FILE *f = fopen(env, "re");
        if (f) {
            size_t n = fread(buf, 1, sizeof(buf) - 1, f);
            buf[n] = '\0';
            fclose(f);
            if (strstr(buf, "PATH="))
                break;
        }
        sleep_ms(20);
    }
    assert_non_null(strstr(buf, "HOME=/tmp\n"));
    assert_non_null(strstr(buf, "PATH=/usr/local/bin:/usr/bin:/bin\n"));
    assert_null(strstr(buf, "WSMD_TEST_SECRET"));
    FILE *f = fopen(out, "re");
    assert_non_null(f);
    char line[600] = "";
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    line[strcspn(line, "\n")] = '\0';
    assert_string_equal(line, dir);
    unlink(out);
    unlink(env);
    rmdir(dir);
}

static void test_create_bad_input(void **state)
{
    (void)state;
    struct cim_ctx ctx = plain_ctx();
    pid_t pid;
    assert_int_equal(create(&ctx, "sleep 30", "/nonexistent", &pid), 9);
    assert_int_equal(create(&ctx, "sleep 30", "/etc/passwd", &pid), 9); /* not a directory */
    assert_int_equal(create(&ctx, "sleep 30", "relative/dir", &pid), 9);
    assert_int_equal(create(&ctx, NULL, NULL, &pid), 21);
    assert_int_equal(create(&ctx, "", NULL, &pid), 21);
    /* A failed start leaves no child behind either. */
    assert_no_children(0);
}

static void test_get_owner(void **state)
{
    (void)state;
    struct cim_ctx ctx = plain_ctx();
    char h[24];
    snprintf(h, sizeof(h), "%d", (int)getpid());
    struct inst x;
    assert_int_equal(get_pid("Win32_Process", h, &x), WSM_OK);
    struct call c;
    assert_int_equal(invoke(&c, &ctx, x.i.cls, "GetOwner", &x.i, NULL, 0), WSM_OK);
    assert_int_equal(rv_of(&c), 0);
    struct passwd *pw = getpwuid(geteuid());
    assert_non_null(pw);
    assert_string_equal(out_val(&c, "User"), pw->pw_name);
    char host[256];
    gethostname(host, sizeof(host));
    assert_string_equal(out_val(&c, "Domain"), host);
    call_free(&c);
    inst_free(&x);
}

static void test_terminate_gone_process(void **state)
{
    (void)state;
    struct cim_ctx ctx = plain_ctx();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pause();
        _exit(0);
    }
    char h[24];
    snprintf(h, sizeof(h), "%d", (int)pid);
    struct inst x;
    assert_int_equal(get_pid("Win32_Process", h, &x), WSM_OK);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    struct call c;
    assert_int_equal(invoke(&c, &ctx, x.i.cls, "Terminate", &x.i, NULL, 0), WSM_ERR_NOT_FOUND);
    call_free(&c);
    inst_free(&x);
}

/* As root: Create runs as the caller; Terminate checks the owner. */
static void test_switch_user(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    struct cim_ctx nobody = user_ctx(NOBODY), other = user_ctx(NOBODY - 1);
    pid_t pid;
    assert_int_equal(create(&nobody, "sleep 30", "/", &pid), 0);
    assert_int_equal(status_uid(pid), NOBODY);
    /* Someone else may not end it; it still runs. */
    assert_int_equal(terminate(&other, pid), 2);
    sleep_ms(50);
    assert_int_equal(kill(pid, 0), 0);
    assert_true(proc_state(pid) != 'Z');
    /* Its owner may. */
    assert_int_equal(terminate(&nobody, pid), 0);
    if (!wait_gone(pid, 5000)) {
        kill_quietly(pid);
        fail_msg("process %d survived", (int)pid);
    }
    /* Root may end anyone's. */
    assert_int_equal(create(&nobody, "sleep 30", "/", &pid), 0);
    struct cim_ctx root = user_ctx(0);
    assert_int_equal(terminate(&root, pid), 0);
    assert_true(wait_gone(pid, 5000));

    /* A directory the caller may not enter: access denied. */
    struct stat st;
    if (stat("/root", &st) == 0 && !(st.st_mode & S_IXOTH) && st.st_uid == 0)
        assert_int_equal(create(&nobody, "true", "/root", &pid), 2);
}

/* Not acting for someone else: kill(2)'s permission decides. */
static void test_terminate_eperm(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    struct cim_ctx ctx = plain_ctx();
    pid_t victim;
    assert_int_equal(create(&ctx, "sleep 30", "/", &victim), 0); /* root's */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        if (setresgid(NOBODY, NOBODY, NOBODY) < 0 || setresuid(NOBODY, NOBODY, NOBODY) < 0)
            _exit(90);
        struct cim_ctx me = plain_ctx();
        char h[24];
        snprintf(h, sizeof(h), "%d", (int)victim);
        struct inst x;
        struct wsm_pair k = {"Handle", h};
        inst_init(&x, cls("Win32_Process"));
        if (x.i.cls->get(NULL, &k, 1, &x.i) != WSM_OK)
            _exit(91);
        struct call c;
        if (invoke(&c, &me, x.i.cls, "Terminate", &x.i, NULL, 0) != WSM_OK)
            _exit(92);
        _exit((int)rv_of(&c));
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    int alive = kill(victim, 0) == 0 && proc_state(victim) != 'Z';
    kill_quietly(victim);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);
    assert_true(alive);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_terminate),
        cmocka_unit_test(test_create_compound),
        cmocka_unit_test(test_create_environment_and_dir),
        cmocka_unit_test(test_create_bad_input),
        cmocka_unit_test(test_get_owner),
        cmocka_unit_test(test_terminate_gone_process),
        cmocka_unit_test(test_switch_user),
        cmocka_unit_test(test_terminate_eperm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
