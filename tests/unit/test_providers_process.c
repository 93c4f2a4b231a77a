/* Unit tests for the process and service providers
 * (src/providers/process.c, src/providers/service.c): real /proc, real
 * children through Win32_Process.Create, and the service classes on a
 * machine without systemd. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cim.h"

extern const struct cim_class *const cim_family_process[];
extern const struct cim_class *const cim_family_service[];

#define NOBODY 65534

/* ---- helpers ---- */

static const struct cim_class *find_class(const struct cim_class *const *fam, const char *name)
{
    for (; *fam; fam++)
        if (!strcmp((*fam)->name, name))
            return *fam;
    fail_msg("no class %s", name);
    return NULL;
}

static const struct cim_class *cls(const char *name)
{
    return find_class(strncmp(name + strlen(name) - 7, "Service", 7) == 0 ? cim_family_service
                                                                          : cim_family_process,
                      name);
}

static const struct cim_method *method(const struct cim_class *c, const char *name)
{
    for (size_t i = 0; i < c->nmethods; i++)
        if (!strcmp(c->methods[i].name, name))
            return &c->methods[i];
    fail_msg("no method %s.%s", c->name, name);
    return NULL;
}

/* An instance with its own arena. */
struct inst {
    struct wsm_arena a;
    struct cim_instance i;
};

static void inst_init(struct inst *x, const struct cim_class *c)
{
    wsm__arena_init(&x->a);
    x->i.cls = c;
    x->i.arena = &x->a;
    x->i.v = wsm__arena_alloc(&x->a, c->nprops * sizeof(*x->i.v));
    assert_non_null(x->i.v);
    memset(x->i.v, 0, c->nprops * sizeof(*x->i.v));
}

static void inst_free(struct inst *x)
{
    wsm__arena_free(&x->a);
}

static struct cim_ctx plain_ctx(void)
{
    struct cim_ctx c;
    memset(&c, 0, sizeof(c));
    struct passwd *pw = getpwuid(geteuid());
    c.user = pw ? pw->pw_name : "me";
    c.uid = geteuid();
    c.gid = getegid();
    c.home = "/tmp";
    return c;
}

static struct cim_ctx user_ctx(uid_t uid)
{
    struct cim_ctx c;
    memset(&c, 0, sizeof(c));
    c.user = "nobody";
    c.switch_user = 1;
    c.uid = uid;
    c.gid = NOBODY;
    c.home = "/";
    return c;
}

static enum wsm_err get_pid(const char *class_name, const char *handle, struct inst *x)
{
    struct wsm_pair k = {"Handle", handle};
    inst_init(x, cls(class_name));
    return x->i.cls->get(NULL, &k, 1, &x->i);
}

static unsigned long long num(const struct cim_instance *i, const char *prop)
{
    const char *v = cim_get(i, prop);
    assert_non_null(v);
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    assert_true(end != v && *end == '\0');
    return n;
}

/* Output parameters of one invoke. */
struct call {
    struct wsm_arena a;
    struct cim_val out[8];
    const struct cim_method *m;
};

static enum wsm_err invoke(struct call *c, const struct cim_ctx *ctx, const struct cim_class *k,
                           const char *m, const struct cim_instance *target,
                           const struct wsm_pair *in, size_t nin)
{
    wsm__arena_init(&c->a);
    memset(c->out, 0, sizeof(c->out));
    c->m = method(k, m);
    assert_true(c->m->nout <= 8);
    return k->invoke(ctx, c->m, target, in, nin, c->out, &c->a);
}

static const char *out_val(const struct call *c, const char *name)
{
    for (size_t i = 0; i < c->m->nout; i++)
        if (!strcmp(c->m->out[i].name, name))
            return c->out[i].s;
    fail_msg("no output %s", name);
    return NULL;
}

static unsigned rv_of(const struct call *c)
{
    const char *v = out_val(c, "ReturnValue");
    assert_non_null(v);
    return (unsigned)strtoul(v, NULL, 10);
}

static void call_free(struct call *c)
{
    wsm__arena_free(&c->a);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* /proc/<pid>/cmdline with NULs as spaces ("" if unreadable). */
static void read_cmdline(pid_t pid, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0)
        return;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    buf[n] = '\0';
}

static char proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *r = strrchr(buf, ')');
    return r && r[1] == ' ' ? r[2] : 0;
}

/* Gone: no such pid, or a zombie waiting for whoever adopted it (init
 * here is not necessarily a reaper). */
static int wait_gone(pid_t pid, long ms)
{
    for (long t = 0; t <= ms; t += 20) {
        if (kill(pid, 0) < 0 && errno == ESRCH)
            return 1;
        char st = proc_state(pid);
        if (st == 'Z' || st == 'X' || st == 0)
            return 1;
        sleep_ms(20);
    }
    return 0;
}

static unsigned status_uid(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    assert_non_null(f);
    unsigned r = ~0u, e = ~0u, s = ~0u;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "Uid: %u %u %u", &r, &e, &s) == 3)
            break;
    fclose(f);
    assert_int_equal(r, e);
    assert_int_equal(r, s);
    return r;
}

static int count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* The test process has no child left (none running, none to reap). */
static void assert_no_children(pid_t created)
{
    pid_t w = waitpid(-1, NULL, WNOHANG);
    if (w == -1 && errno == ECHILD)
        return;
    char path[64], kids[256] = "";
    snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
    FILE *f = fopen(path, "re");
    if (f) {
        size_t n = fread(kids, 1, sizeof(kids) - 1, f);
        kids[n] = '\0';
        fclose(f);
    }
    fail_msg("waitpid: %d (created %d), children: %s", (int)w, (int)created, kids);
}

/* Win32_Process.Create: the new pid (0 on failure) and the return code. */
static unsigned create(const struct cim_ctx *ctx, const char *cmd, const char *dir, pid_t *pid)
{
    struct wsm_pair in[2];
    size_t n = 0;
    if (cmd)
        in[n++] = (struct wsm_pair){"CommandLine", cmd};
    if (dir)
        in[n++] = (struct wsm_pair){"CurrentDirectory", dir};
    struct call c;
    assert_int_equal(invoke(&c, ctx, cls("Win32_Process"), "Create", NULL, in, n), WSM_OK);
    unsigned rv = rv_of(&c);
    const char *p = out_val(&c, "ProcessId");
    *pid = 0;
    if (rv == 0) {
        assert_non_null(p);
        *pid = (pid_t)strtol(p, NULL, 10);
    } else {
        assert_null(p);
    }
    call_free(&c);
    return rv;
}

/* Win32_Process.Terminate through a get, as the dispatcher does. */
static unsigned terminate(const struct cim_ctx *ctx, pid_t pid)
{
    char h[24];
    snprintf(h, sizeof(h), "%d", (int)pid);
    struct inst x;
    assert_int_equal(get_pid("Win32_Process", h, &x), WSM_OK);
    struct wsm_pair in = {"Reason", "0"};
    struct call c;
    assert_int_equal(invoke(&c, ctx, cls("Win32_Process"), "Terminate", &x.i, &in, 1), WSM_OK);
    unsigned rv = rv_of(&c);
    call_free(&c);
    inst_free(&x);
    return rv;
}

static void kill_quietly(pid_t pid)
{
    if (pid > 1 && pid != getpid())
        kill(pid, SIGKILL);
}

/* ---- Win32_Process: enumeration and get ---- */

/* A "Key:   N kB" line of /proc/self/status, in kB (0 if absent). */
static unsigned long long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    assert_non_null(f);
    char line[256];
    unsigned long long v = 0;
    size_t kl = strlen(key);
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, key, kl) && line[kl] == ':')
            v = strtoull(line + kl + 1, NULL, 10);
    fclose(f);
    return v;
}

static void test_enumerate_finds_self(void **state)
{
    (void)state;
    const struct cim_class *c = cls("Win32_Process");
    void *it = NULL;
    assert_int_equal(c->open(NULL, &it), WSM_OK);
    assert_non_null(it);

    char exe[4096];
    ssize_t xl = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    assert_true(xl > 0);
    exe[xl] = '\0';
    const char *base = strrchr(exe, '/') + 1;

    int count = 0, found = 0;
    long last = 0;
    for (;;) {
        struct inst x;
        inst_init(&x, c);
        enum wsm_err e = c->next(it, &x.i);
        if (e == WSM_ERR_NOT_FOUND) {
            inst_free(&x);
            break;
        }
        assert_int_equal(e, WSM_OK);
        count++;
        const char *h = cim_get(&x.i, "Handle");
        assert_non_null(h);
        assert_string_equal(h, cim_get(&x.i, "ProcessId"));
        assert_non_null(cim_get(&x.i, "Name"));
        assert_string_equal(cim_get(&x.i, "CreationClassName"), "Win32_Process");
        assert_null(cim_get(&x.i, "Status"));
        long pid = atol(h);
        assert_true(pid > last); /* one instance per pid */
        last = pid;
        if (pid == (long)getpid()) {
            found = 1;
            assert_int_equal(num(&x.i, "ParentProcessId"), (unsigned long long)getppid());
            assert_string_equal(cim_get(&x.i, "Name"), base);
            assert_string_equal(cim_get(&x.i, "Caption"), base);
            assert_string_equal(cim_get(&x.i, "ExecutablePath"), exe);
            assert_non_null(strstr(cim_get(&x.i, "CommandLine"), base));
            assert_true(num(&x.i, "WorkingSetSize") > 0);
            assert_true(num(&x.i, "VirtualSize") >= num(&x.i, "WorkingSetSize"));
            assert_true(num(&x.i, "ThreadCount") >= 1);
            assert_true(num(&x.i, "HandleCount") >= 1);
            /* Windows' base priority of the class: 8 is normal (nice 0). */
            unsigned long long prio = num(&x.i, "Priority");
            errno = 0;
            int nice_now = getpriority(PRIO_PROCESS, 0);
            if (errno == 0 && nice_now == 0)
                assert_int_equal(prio, 8);
            else
                assert_true(prio == 4 || prio == 6 || prio == 10 || prio == 13 || prio == 24);
            /* Private memory: RssAnon + VmSwap of our status, read after
             * the instance (it can only have grown a little since). */
            unsigned long long priv = num(&x.i, "PrivatePageCount");
            assert_int_equal(num(&x.i, "PageFileUsage") * 1024, priv);
            unsigned long long anon = status_kb("RssAnon"), swap = status_kb("VmSwap");
            assert_true(priv > 0 && priv <= (anon + swap) * 1024 + 4 * 1024 * 1024);
            assert_true(priv + 4 * 1024 * 1024 >= (anon + swap) * 1024);
            struct utsname un;
            assert_int_equal(uname(&un), 0);
            assert_string_equal(cim_get(&x.i, "WindowsVersion"), un.release);
            assert_null(cim_get(&x.i, "QuotaPagedPoolUsage")); /* no such fact */
            num(&x.i, "UserModeTime");
            num(&x.i, "KernelModeTime");
            num(&x.i, "PageFaults");
            num(&x.i, "SessionId");
            const char *cd = cim_get(&x.i, "CreationDate");
            assert_non_null(cd);
            assert_int_equal(strlen(cd), strlen("2026-11-25T23:45:01.500000Z"));
            assert_int_equal(cd[strlen(cd) - 1], 'Z');
        }
        inst_free(&x);
    }
    c->close(it);
    assert_true(found);
    assert_true(count >= 2);
}

static void test_creation_date_is_now(void **state)
{
    (void)state;
    /* A child started just now must carry a CreationDate within seconds
     * of the clock: boot time + start ticks is right. */
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
    const char *cd = cim_get(&x.i, "CreationDate");
    assert_non_null(cd);
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    assert_non_null(strptime(cd, "%Y-%m-%dT%H:%M:%S", &tm));
    time_t t = timegm(&tm);
    time_t now = time(NULL);
    assert_true(t <= now + 2 && t >= now - 5);
    inst_free(&x);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void test_get_self(void **state)
{
    (void)state;
    char h[24];
    snprintf(h, sizeof(h), "%d", (int)getpid());
    struct inst x;
    assert_int_equal(get_pid("Win32_Process", h, &x), WSM_OK);
    assert_string_equal(cim_get(&x.i, "Handle"), h);
    assert_int_equal(num(&x.i, "ProcessId"), (unsigned long long)getpid());
    assert_int_equal(num(&x.i, "ParentProcessId"), (unsigned long long)getppid());
    inst_free(&x);
}

static void test_get_bad_handle(void **state)
{
    (void)state;
    const char *bad[] = {"999999999", "0", "-1", "abc", "", "12x", "0012", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct inst x;
        assert_int_equal(get_pid("Win32_Process", bad[i], &x), WSM_ERR_NOT_FOUND);
        inst_free(&x);
    }
    /* A process that has just been reaped. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    char h[24];
    snprintf(h, sizeof(h), "%d", (int)pid);
    struct inst x;
    assert_int_equal(get_pid("Win32_Process", h, &x), WSM_ERR_NOT_FOUND);
    inst_free(&x);
    /* No Handle at all. */
    inst_init(&x, cls("Win32_Process"));
    assert_int_equal(x.i.cls->get(NULL, NULL, 0, &x.i), WSM_ERR_NOT_FOUND);
    inst_free(&x);
}

static void test_cim_process_keys(void **state)
{
    (void)state;
    char h[24];
    snprintf(h, sizeof(h), "%d", (int)getpid());
    struct inst x;
    assert_int_equal(get_pid("CIM_Process", h, &x), WSM_OK);
    const char *keys[] = {"CSCreationClassName", "CSName", "OSCreationClassName", "OSName",
                          "CreationClassName",   "Handle"};
    struct wsm_pair sel[6];
    for (int i = 0; i < 6; i++) {
        sel[i].name = keys[i];
        sel[i].value = cim_get(&x.i, keys[i]);
        assert_non_null(sel[i].value);
    }
    assert_string_equal(cim_get(&x.i, "CreationClassName"), "CIM_Process");
    assert_string_equal(cim_get(&x.i, "CSCreationClassName"), "CIM_ComputerSystem");
    assert_true(num(&x.i, "WorkingSetSize") > 0);
    num(&x.i, "ExecutionState");
    num(&x.i, "Priority");

    /* All six keys find it; a wrong CSName or class name does not. */
    struct inst y;
    inst_init(&y, x.i.cls);
    assert_int_equal(y.i.cls->get(NULL, sel, 6, &y.i), WSM_OK);
    assert_string_equal(cim_get(&y.i, "Handle"), h);
    inst_free(&y);
    sel[1].value = "no-such-host";
    inst_init(&y, x.i.cls);
    assert_int_equal(y.i.cls->get(NULL, sel, 6, &y.i), WSM_ERR_NOT_FOUND);
    inst_free(&y);
    sel[1].value = cim_get(&x.i, "CSName");
    sel[4].value = "Win32_Process";
    inst_init(&y, x.i.cls);
    assert_int_equal(y.i.cls->get(NULL, sel, 6, &y.i), WSM_ERR_NOT_FOUND);
    inst_free(&y);
    inst_free(&x);
}

static void test_unix_process(void **state)
{
    (void)state;
    char h[24], pp[24];
    snprintf(h, sizeof(h), "%d", (int)getpid());
    snprintf(pp, sizeof(pp), "%d", (int)getppid());
    struct inst x;
    assert_int_equal(get_pid("CIM_UnixProcess", h, &x), WSM_OK);
    assert_string_equal(cim_get(&x.i, "ParentProcessID"), pp);
    assert_int_equal(num(&x.i, "RealUserID"), (unsigned long long)getuid());
    assert_int_equal(num(&x.i, "ProcessGroupID"), (unsigned long long)getpgrp());
    assert_int_equal(num(&x.i, "ProcessSessionID"), (unsigned long long)getsid(0));
    int k = cim_prop_index(x.i.cls, "Parameters");
    assert_true(k >= 0);
    assert_true(x.i.v[k].n >= 1);
    char exe[4096];
    ssize_t xl = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    assert_true(xl > 0);
    exe[xl] = '\0';
    assert_non_null(strstr(x.i.v[k].items[0], strrchr(exe, '/') + 1));
    assert_string_equal(cim_get(&x.i, "ModulePath"), exe);
    inst_free(&x);
}

/* Kernel threads (children of kthreadd, pid 2) have no command line and
 * no executable: NULL, not "". */
static void test_kernel_thread(void **state)
{
    (void)state;
    struct inst x;
    if (get_pid("Win32_Process", "2", &x) != WSM_OK ||
        strcmp(cim_get(&x.i, "Name"), "kthreadd") != 0) {
        inst_free(&x);
        skip();
    }
    assert_null(cim_get(&x.i, "CommandLine"));
    assert_null(cim_get(&x.i, "ExecutablePath"));
    assert_null(cim_get(&x.i, "PrivatePageCount")); /* no RssAnon line */
    inst_free(&x);
}

/* What a process says of itself is not trusted: control characters and
 * bytes that are not UTF-8 would make the XML invalid. */
static void test_untrusted_text(void **state)
{
    (void)state;
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_NAME,
              "a\x01"
              "b\xff"
              "\xc3\xa9<",
              0, 0, 0);
        char c = 1;
        if (write(go[1], &c, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    char c;
    assert_int_equal(read(go[0], &c, 1), 1);
    close(go[0]);
    close(go[1]);
    char h[24];
    snprintf(h, sizeof(h), "%d", (int)pid);
    struct inst x;
    enum wsm_err e = get_pid("Win32_Process", h, &x);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    assert_int_equal(e, WSM_OK);
    /* \x01 and \xff become '?', the valid "\xc3\xa9" (e acute) stays. */
    assert_string_equal(cim_get(&x.i, "Name"), "a?b?"
                                               "\xc3\xa9<");
    inst_free(&x);
}

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

/* ---- services without systemd ---- */

static void test_service_without_systemd(void **state)
{
    (void)state;
    if (access("/run/systemd/system", F_OK) == 0)
        skip();
    const char *names[] = {"Win32_Service", "CIM_Service"};
    for (int n = 0; n < 2; n++) {
        const struct cim_class *c = cls(names[n]);
        void *it = (void *)1;
        assert_int_equal(c->open(NULL, &it), WSM_OK);
        assert_null(it);
        struct inst x;
        inst_init(&x, c);
        assert_int_equal(c->next(it, &x.i), WSM_ERR_NOT_FOUND);
        c->close(it);
        struct wsm_pair k = {"Name", "ssh"};
        assert_int_equal(c->get(NULL, &k, 1, &x.i), WSM_ERR_UNSUPPORTED_FEATURE);
        cim_set_str(&x.i, "Name", "ssh");
        struct cim_ctx ctx = plain_ctx();
        for (size_t m = 0; m < c->nmethods; m++) {
            struct call call;
            struct wsm_pair in = {"StartMode", "Manual"};
            assert_int_equal(
                invoke(&call, &ctx, c, c->methods[m].name, &x.i, &in, c->methods[m].nin ? 1 : 0),
                WSM_ERR_UNSUPPORTED_FEATURE);
            call_free(&call);
        }
        inst_free(&x);
    }
}

/* Put of Win32_Service.StartMode: the checks that come before systemd. */
static void test_service_put(void **state)
{
    (void)state;
    const struct cim_class *c = cls("Win32_Service");
    assert_non_null(c->put);
    assert_null(cls("CIM_Service")->put);
    int k = cim_prop_index(c, "StartMode");
    assert_true(k >= 0 && (c->props[k].flags & CIM_WRITE));
    for (size_t i = 0; i < c->nprops; i++)
        if ((int)i != k)
            assert_false(c->props[i].flags & CIM_WRITE);
    struct inst x;
    inst_init(&x, c);
    cim_set_str(&x.i, "Name", "ssh");
    cim_set_str(&x.i, "StartMode", "Manual");
    struct cim_ctx ctx = plain_ctx();
    struct wsm_pair boot = {"StartMode", "Boot"}, junk = {"StartMode", "Sometimes"};
    assert_int_equal(c->put(&ctx, &x.i, &boot, 1), WSM_ERR_INVALID_REPRESENTATION);
    assert_int_equal(c->put(&ctx, &x.i, &junk, 1), WSM_ERR_INVALID_REPRESENTATION);
    /* The same mode: nothing to do, no right needed. */
    struct wsm_pair same = {"StartMode", "manual"};
    struct cim_ctx other = user_ctx(65534);
    other.switch_user = 1;
    assert_int_equal(c->put(&other, &x.i, &same, 1), WSM_OK);
    assert_int_equal(c->put(&other, &x.i, NULL, 0), WSM_OK);
    /* Another mode needs root. */
    struct wsm_pair autom = {"StartMode", "Automatic"};
    assert_int_equal(c->put(&other, &x.i, &autom, 1), WSM_ERR_ACCESS_DENIED);
    if (geteuid() == 0 && access("/run/systemd/system", F_OK) != 0)
        assert_int_equal(c->put(&ctx, &x.i, &autom, 1), WSM_ERR_UNSUPPORTED_FEATURE);
    assert_string_equal(cim_get(&x.i, "StartMode"), "Manual"); /* unchanged */
    inst_free(&x);
}

static void test_service_tables(void **state)
{
    (void)state;
    /* The names scripts use, with their WMI types. */
    const struct cim_class *w = cls("Win32_Service");
    assert_true(w->props[cim_prop_index(w, "Name")].flags & CIM_KEY);
    assert_int_equal(w->props[cim_prop_index(w, "Started")].type, CIM_BOOLEAN);
    assert_int_equal(w->props[cim_prop_index(w, "ProcessId")].type, CIM_UINT32);
    const char *wm[] = {"StartService", "StopService", "PauseService", "ResumeService",
                        "ChangeStartMode"};
    for (int i = 0; i < 5; i++)
        method(w, wm[i]);
    const struct cim_class *c = cls("CIM_Service");
    const char *keys[] = {"SystemCreationClassName", "SystemName", "CreationClassName", "Name"};
    size_t nkeys = 0;
    for (size_t i = 0; i < c->nprops; i++)
        nkeys += (c->props[i].flags & CIM_KEY) != 0;
    assert_int_equal(nkeys, 4);
    for (int i = 0; i < 4; i++)
        assert_true(c->props[cim_prop_index(c, keys[i])].flags & CIM_KEY);
    method(c, "StartService");
    method(c, "StopService");
}

/* Windows' order: WMI gives an instance's properties sorted by name,
 * case ignored; the Win32 tables list them so. */
static void check_wmi_order(const struct cim_class *const *family)
{
    for (const struct cim_class *const *c = family; *c; c++) {
        if (strncmp((*c)->name, "Win32_", 6))
            continue;
        for (size_t k = 1; k < (*c)->nprops; k++)
            if (strcasecmp((*c)->props[k - 1].name, (*c)->props[k].name) >= 0)
                fail_msg("%s: %s before %s", (*c)->name, (*c)->props[k - 1].name,
                         (*c)->props[k].name);
    }
}

static void test_windows_order(void **state)
{
    (void)state;
    check_wmi_order(cim_family_process);
    check_wmi_order(cim_family_service);
}

int main(void)
{
    /* Nothing of the test's environment may reach created processes. */
    setenv("WSMD_TEST_SECRET", "1", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enumerate_finds_self),
        cmocka_unit_test(test_creation_date_is_now),
        cmocka_unit_test(test_get_self),
        cmocka_unit_test(test_get_bad_handle),
        cmocka_unit_test(test_cim_process_keys),
        cmocka_unit_test(test_unix_process),
        cmocka_unit_test(test_kernel_thread),
        cmocka_unit_test(test_untrusted_text),
        cmocka_unit_test(test_create_and_terminate),
        cmocka_unit_test(test_create_compound),
        cmocka_unit_test(test_create_environment_and_dir),
        cmocka_unit_test(test_create_bad_input),
        cmocka_unit_test(test_get_owner),
        cmocka_unit_test(test_terminate_gone_process),
        cmocka_unit_test(test_switch_user),
        cmocka_unit_test(test_terminate_eperm),
        cmocka_unit_test(test_service_without_systemd),
        cmocka_unit_test(test_service_tables),
        cmocka_unit_test(test_service_put),
        cmocka_unit_test(test_windows_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
