/* Unit tests for the process provider (src/providers/process.c,
 * procread.c): Win32_Process, CIM_Process and CIM_UnixProcess enumerated
 * and got from the real /proc, and Windows' property order of both
 * families. Methods: test_providers_procmethods.c; services:
 * test_providers_service.c. */
#include "providers_process.h"
#include "wmiorder.h"

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

/* Windows' order (wmiorder.h) in both families. */
static void test_windows_order(void **state)
{
    (void)state;
    check_wmi_order(cim_family_process);
    check_wmi_order(cim_family_service);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enumerate_finds_self),
        cmocka_unit_test(test_creation_date_is_now),
        cmocka_unit_test(test_get_self),
        cmocka_unit_test(test_get_bad_handle),
        cmocka_unit_test(test_cim_process_keys),
        cmocka_unit_test(test_unix_process),
        cmocka_unit_test(test_kernel_thread),
        cmocka_unit_test(test_untrusted_text),
        cmocka_unit_test(test_windows_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
