/* Unit tests for the host providers: the operating system and computer
 * system classes against a fixture host (/proc, /etc, /run and /sys
 * under one directory), Put of Description, the OS parsers and Windows'
 * property order (providers_os.h). */
#define PROVIDERS_OS_INCLUDE_SOURCES
#include "providers_os.h"
#include "wmiorder.h"

/* ---- the OS and computer system against a fixture host -------------------- */

static const char *array_item(const struct coll *o, const char *prop, size_t k)
{
    int idx = cim_prop_index(o->cls, prop);
    assert_true(idx >= 0);
    const struct cim_val *v = &o->inst[0].v[idx];
    return k < v->n ? v->items[k] : NULL;
}

/* Every value of the OS classes comes from the fixture's /proc, /etc,
 * /run and /sys: each is checked against what the fixture holds. */
static void test_fixture_host(void **state)
{
    struct fixture *fx = *state;
    const char *r = fx->dir;
    puts_(r, "proc/stat", "cpu  1 2 3\nbtime 1700000000\nprocesses 9\n");
    puts_(r, "proc/uptime", "100.00 50.00\n");
    puts_(r, "proc/meminfo",
          "MemTotal:        1000 kB\nMemFree:   100 kB\nMemAvailable:   400 kB\n"
          "SwapTotal:  200 kB\nSwapFree:  50 kB\n");
    puts_(r, "proc/cpuinfo",
          "processor\t: 0\nvendor_id\t: GenuineIntel\n"
          "flags\t\t: fpu pae nx lm hypervisor\n\n");
    puts_(r, "proc/self/mountinfo",
          "21 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
          "22 21 8:2 / /boot rw,relatime shared:2 - ext4 /dev/vda2 rw\n"
          "23 21 0:5 / /boot\\040x rw shared:3 - tmpfs none rw\n");
    puts_(r, "proc/sys/kernel/pid_max", "4194304\n");
    puts_(r, "proc/sys/kernel/threads-max", "63000\n");
    mkdirs(r, "proc/123");
    mkdirs(r, "proc/456");
    mkdirs(r, "proc/sys");
    puts_(r, "etc/os-release", "NAME=\"Test OS\"\nPRETTY_NAME=\"Test OS 1 (fixture)\"\n");
    puts_(r, "etc/locale.conf", "LANG=de_CH.ISO-8859-15@euro\n");
    puts_(r, "etc/machine-id", "0123456789abcdef0123456789abcdef\n");
    puts_(r, "etc/machine-info", "PRETTY_HOSTNAME=\"Lab box 3\"\nICON_NAME=computer\n");
    puts_(r, "etc/samba/smb.conf",
          "[homes]\n workgroup = NOTTHIS\n[global]\n   Workgroup = LABNET\n");
    puts_(r, "run/systemd/sessions/1", "CLASS=user\n");
    puts_(r, "run/systemd/sessions/2", "CLASS=greeter\n");
    puts_(r, "run/systemd/seats/seat0", "ACTIVE=1\nACTIVE_UID=0\n");
    puts_(r, "sys/firmware/acpi/pm_profile", "4\n");
    snprintf(os_test_hostroot, sizeof(os_test_hostroot), "%s", r);
    snprintf(os_test_sysroot, sizeof(os_test_sysroot), "%s", r);

    struct utsname u;
    assert_int_equal(uname(&u), 0);
    struct coll o;
    collect("Win32_OperatingSystem", &o);
    assert_int_equal(o.n, 1);
    assert_val(&o, 0, "Caption", "Test OS 1 (fixture)");
    assert_val(&o, 0, "Name", "Test OS 1 (fixture)|/|/dev/vda1");
    assert_val(&o, 0, "Manufacturer", "Test OS");
    assert_val(&o, 0, "BootDevice", "/dev/vda2");
    assert_val(&o, 0, "SystemDevice", "/dev/vda1");
    assert_val(&o, 0, "SystemDrive", "/");
    assert_val(&o, 0, "SerialNumber", "0123456789abcdef0123456789abcdef");
    assert_val(&o, 0, "Description", "Lab box 3");
    assert_val(&o, 0, "Locale", "de_CH.ISO-8859-15@euro");
    assert_val(&o, 0, "CodeSet", "28605");
    assert_string_equal(array_item(&o, "MUILanguages", 0), "de-CH");
    assert_null(array_item(&o, "MUILanguages", 1));
    assert_val(&o, 0, "LastBootUpTime", "2023-11-14T22:13:20.000000Z");
    assert_val(&o, 0, "TotalVisibleMemorySize", "1000");
    assert_val(&o, 0, "FreePhysicalMemory", "400");
    assert_val(&o, 0, "TotalVirtualMemorySize", "1200");
    assert_val(&o, 0, "FreeVirtualMemory", "450");
    assert_val(&o, 0, "TotalSwapSpaceSize", "200");
    assert_val(&o, 0, "SizeStoredInPagingFiles", "200");
    assert_val(&o, 0, "FreeSpaceInPagingFiles", "50");
    assert_val(&o, 0, "NumberOfProcesses", "2");
    assert_val(&o, 0, "MaxNumberOfProcesses", "63000");
    assert_val(&o, 0, "NumberOfUsers", "1");
    assert_val(&o, 0, "DataExecutionPrevention_Available", "true");
    assert_val(&o, 0, "DataExecutionPrevention_Drivers", "true");
    /* BuildNumber is KERNEL_VERSION of the live kernel's release. */
    unsigned a = 0, b = 0, c = 0;
    assert_true(sscanf(u.release, "%u.%u.%u", &a, &b, &c) >= 2);
    char want[32];
    snprintf(want, sizeof(want), "%u", a << 16 | b << 8 | (c > 255 ? 255 : c));
    assert_val(&o, 0, "BuildNumber", want);
    /* InstallDate: the birth time of the root, where the fs keeps one. */
    struct statx sx;
    assert_int_equal(statx(AT_FDCWD, r, 0, STATX_BTIME, &sx), 0);
    if ((sx.stx_mask & STATX_BTIME) && sx.stx_btime.tv_sec > 0) {
        char t[64];
        time_t bt = (time_t)sx.stx_btime.tv_sec;
        struct tm tm;
        gmtime_r(&bt, &tm);
        strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S.000000Z", &tm);
        assert_val(&o, 0, "InstallDate", t);
    } else {
        assert_val(&o, 0, "InstallDate", NULL);
    }
    /* No fact on Linux: NULL, never a made-up value. */
    static const char *const nil[] = {"CSDVersion",       "CountryCode",
                                      "OSLanguage",       "Organization",
                                      "RegisteredUser",   "ServicePackMajorVersion",
                                      "WindowsDirectory", "PAEEnabled"};
    for (size_t k = 0; k < sizeof(nil) / sizeof(nil[0]); k++)
        assert_val(&o, 0, nil[k], NULL);
    release(&o);

    collect("CIM_OperatingSystem", &o);
    assert_val(&o, 0, "Name", "Test OS 1 (fixture)");
    assert_val(&o, 0, "MaxNumberOfProcesses", "63000");
    release(&o);

    collect("Win32_ComputerSystem", &o);
    char host[256], shortname[256], user[600];
    assert_int_equal(gethostname(host, sizeof(host)), 0);
    copy_str(shortname, sizeof(shortname), host);
    shortname[strcspn(shortname, ".")] = '\0';
    snprintf(user, sizeof(user), "%s\\root", shortname);
    assert_val(&o, 0, "UserName", user);
    assert_val(&o, 0, "Workgroup", "LABNET");
    if (!strchr(host, '.'))
        assert_non_null(val(&o, 0, "Domain"));
    assert_val(&o, 0, "PCSystemType", "4");
    assert_val(&o, 0, "PCSystemTypeEx", "4");
    assert_val(&o, 0, "HypervisorPresent", "true");
    assert_val(&o, 0, "TotalPhysicalMemory", "1024000");
    assert_val(&o, 0, "NameFormat", NULL);
    release(&o);

    /* Other locales and profiles; no seat, no Samba, no /boot. */
    puts_(r, "etc/locale.conf", "LANG=C.UTF-8\n");
    puts_(r, "run/systemd/seats/seat0", "ACTIVE=1\n");
    puts_(r, "etc/samba/smb.conf", "[global]\n");
    puts_(r, "proc/self/mountinfo", "21 1 8:1 / / rw shared:1 - ext4 /dev/vda1 rw\n");
    puts_(r, "sys/firmware/acpi/pm_profile", "8\n");
    puts_(r, "proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu\n\n");
    collect("Win32_OperatingSystem", &o);
    assert_val(&o, 0, "CodeSet", "65001");
    assert_null(array_item(&o, "MUILanguages", 0)); /* C is no language */
    assert_val(&o, 0, "BootDevice", "/dev/vda1");
    assert_val(&o, 0, "DataExecutionPrevention_Available", "false");
    release(&o);
    collect("Win32_ComputerSystem", &o);
    assert_val(&o, 0, "UserName", NULL);
    release(&o);
    /* The processor's flags and x86 numbers from the same cpuinfo. */
    puts_(r, "proc/cpuinfo",
          "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n"
          "model\t\t: 158\nstepping\t: 10\nflags\t\t: fpu vmx ept nx\n\n");
    collect("Win32_Processor", &o);
    assert_true(o.n >= 1);
    assert_val(&o, 0, "SecondLevelAddressTranslationExtensions", "true");
    assert_val(&o, 0, "VMMonitorModeExtensions", "true");
    assert_val(&o, 0, "Availability", "3");
    if (os__wmi_architecture(u.machine) == 9)
        assert_val(&o, 0, "Revision", "40458"); /* 158 << 8 | 10 */
    assert_val(&o, 0, "VoltageCaps", NULL);
    release(&o);
    puts_(r, "proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu svm\n\n");
    collect("Win32_Processor", &o);
    assert_val(&o, 0, "SecondLevelAddressTranslationExtensions", "false");
    assert_val(&o, 0, "Revision", NULL);
    release(&o);
    collect("Win32_ComputerSystem", &o);
    assert_val(&o, 0, "Workgroup", "WORKGROUP");
    assert_val(&o, 0, "PCSystemType", NULL);
    assert_val(&o, 0, "PCSystemTypeEx", "8");
    release(&o);
}

/* Put of Win32_OperatingSystem.Description writes PRETTY_HOSTNAME of the
 * fixture's /etc/machine-info, keeping its other lines. */
static void test_put_description(void **state)
{
    struct fixture *fx = *state;
    const char *r = fx->dir;
    puts_(r, "etc/machine-info", "ICON_NAME=computer-vm\nPRETTY_HOSTNAME=\"Old\"\nCHASSIS=vm\n");
    snprintf(os_test_hostroot, sizeof(os_test_hostroot), "%s", r);
    const struct cim_class *c = cls("Win32_OperatingSystem");
    assert_non_null(c->put);
    assert_null(cls("CIM_OperatingSystem")->put);
    assert_null(cls("Win32_ComputerSystem")->put);
    for (size_t k = 0; k < c->nprops; k++)
        assert_int_equal((c->props[k].flags & CIM_WRITE) != 0,
                         !strcmp(c->props[k].name, "Description"));
    struct coll o;
    collect("Win32_OperatingSystem", &o);
    assert_val(&o, 0, "Description", "Old");
    struct cim_ctx root, user;
    memset(&root, 0, sizeof(root));
    root.switch_user = 1; /* uid 0 */
    memset(&user, 0, sizeof(user));
    user.switch_user = 1;
    user.uid = 65534;
    struct wsm_pair same = {"Description", "Old"}, v = {"Description", "Lab \"3\" $HOME `x` \\"};
    assert_int_equal(c->put(&user, &o.inst[0], &same, 1), WSM_OK); /* unchanged */
    assert_int_equal(c->put(&user, &o.inst[0], &v, 1), WSM_ERR_ACCESS_DENIED);
    struct wsm_pair bad = {"Description", "two\nlines"};
    assert_int_equal(c->put(&root, &o.inst[0], &bad, 1), WSM_ERR_INVALID_REPRESENTATION);
    if (geteuid() == 0) {
        assert_int_equal(c->put(&root, &o.inst[0], &v, 1), WSM_OK);
        assert_val(&o, 0, "Description", v.value);
        char path[600];
        snprintf(path, sizeof(path), "%s/etc/machine-info", r);
        char *text = slurp(path);
        assert_non_null(text);
        assert_string_equal(text, "ICON_NAME=computer-vm\nCHASSIS=vm\n"
                                  "PRETTY_HOSTNAME=\"Lab \\\"3\\\" \\$HOME \\`x\\` \\\\\"\n");
        free(text);
        release(&o);
        /* Read back through the os-release parser: the same text. */
        collect("Win32_OperatingSystem", &o);
        assert_val(&o, 0, "Description", v.value);
        /* An empty value removes the line. */
        struct wsm_pair empty = {"Description", ""};
        assert_int_equal(c->put(&root, &o.inst[0], &empty, 1), WSM_OK);
        text = slurp(path);
        assert_string_equal(text, "ICON_NAME=computer-vm\nCHASSIS=vm\n");
        free(text);
        assert_val(&o, 0, "Description", NULL);
    }
    release(&o);
}

static void test_os_parsers(void **state)
{
    (void)state;
    assert_int_equal(kernel_version_code("6.1.0-28-amd64"), 6 << 16 | 1 << 8);
    assert_int_equal(kernel_version_code("5.15.167"), 5 << 16 | 15 << 8 | 167);
    assert_int_equal(kernel_version_code("4.9.337"), 4 << 16 | 9 << 8 | 255);
    assert_int_equal(kernel_version_code("6.8"), 6 << 16 | 8 << 8);
    assert_int_equal(kernel_version_code("6"), -1);
    assert_int_equal(kernel_version_code("x.1"), -1);
    assert_int_equal(kernel_version_code("300.1.1"), -1);
    char out[64];
    build_type("#1 SMP PREEMPT_DYNAMIC Debian 6.1.123-1 (2025-01-02)", out, sizeof(out));
    assert_string_equal(out, "SMP PREEMPT_DYNAMIC");
    build_type("#45~22.04.1-Ubuntu SMP PREEMPT_RT Tue", out, sizeof(out));
    assert_string_equal(out, "SMP PREEMPT_RT");
    build_type("#3 Mon Jan 1 00:00:00 UTC 2024", out, sizeof(out));
    assert_string_equal(out, "");
    build_type("#1 SMP PREEMPT", out, 6);
    assert_string_equal(out, "SMP");
    char cp[16];
    assert_string_equal(lang_code_page("en_US.UTF-8", cp, sizeof(cp)), "65001");
    assert_string_equal(lang_code_page("en_US.utf8", cp, sizeof(cp)), "65001");
    assert_string_equal(lang_code_page("fr_FR.ISO-8859-1", cp, sizeof(cp)), "28591");
    assert_string_equal(lang_code_page("POSIX", cp, sizeof(cp)), "20127");
    assert_null(lang_code_page("ja_JP.EUC-JP", cp, sizeof(cp)));
    assert_null(lang_code_page("en_US", cp, sizeof(cp)));
    assert_true(lang_tag("en_US.UTF-8", out, sizeof(out)));
    assert_string_equal(out, "en-US");
    assert_true(lang_tag("fr", out, sizeof(out)));
    assert_string_equal(out, "fr");
    assert_false(lang_tag("C.UTF-8", out, sizeof(out)));
    assert_false(lang_tag("POSIX", out, sizeof(out)));
    assert_false(lang_tag("e1_US", out, sizeof(out)));
}

/* Windows' order: WMI gives an instance's properties sorted by name,
 * case ignored; every Win32 class of the family does the same. */
static void test_windows_order(void **state)
{
    (void)state;
    check_wmi_order(test_cim_family_os);
    /* Every property the Windows class documents (the ones of 2024). */
    assert_int_equal(cls("Win32_OperatingSystem")->nprops, 66);
    assert_int_equal(cls("Win32_ComputerSystem")->nprops, 64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fixture_host, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_put_description, fx_setup, fx_teardown),
        cmocka_unit_test(test_os_parsers),
        cmocka_unit_test(test_windows_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
