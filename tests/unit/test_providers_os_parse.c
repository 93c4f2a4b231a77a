/* Unit tests for the host providers: the parsers (os-release, meminfo,
 * cpuinfo, CPU lists, mountinfo, SMBIOS structures, BIOS dates, logind
 * and utmp sessions) against odd input (providers_os.h). */
#define PROVIDERS_OS_INCLUDE_SOURCES
#include "providers_os.h"

/* ---- parsers against odd input ------------------------------------------ */

static void write_tmp(const struct fixture *fx, const char *name, const char *text, char *path,
                      size_t n)
{
    snprintf(path, n, "%s/%s", fx->dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_kv_file(void **state)
{
    struct fixture *fx = *state;
    char path[512], out[64];
    write_tmp(fx, "osr",
              "# comment\n"
              "NAME=\"Debian GNU/Linux\"\n"
              "PRETTY_NAME='Single \"quoted\"'\n"
              "  export ID=debian # trailing comment\n"
              "ESC=\"a\\\"b\\\\c\\$d\"\n"
              "EMPTY=\n"
              "TWICE=one\n"
              "TWICE=two\n"
              "NAMEX=wrong\n"
              "UNTERMINATED=\"abc\n"
              "LONG=\"0123456789012345678901234567890123456789012345678901234567890123456789\"\n",
              path, sizeof(path));
    assert_int_equal(kv_file_get(path, "NAME", out, sizeof(out)), 1);
    assert_string_equal(out, "Debian GNU/Linux");
    assert_int_equal(kv_file_get(path, "PRETTY_NAME", out, sizeof(out)), 1);
    assert_string_equal(out, "Single \"quoted\"");
    assert_int_equal(kv_file_get(path, "ID", out, sizeof(out)), 1);
    assert_string_equal(out, "debian");
    assert_int_equal(kv_file_get(path, "ESC", out, sizeof(out)), 1);
    assert_string_equal(out, "a\"b\\c$d");
    assert_int_equal(kv_file_get(path, "EMPTY", out, sizeof(out)), 1);
    assert_string_equal(out, "");
    assert_int_equal(kv_file_get(path, "TWICE", out, sizeof(out)), 1);
    assert_string_equal(out, "two");
    assert_int_equal(kv_file_get(path, "UNTERMINATED", out, sizeof(out)), 1);
    assert_string_equal(out, "abc");
    assert_int_equal(kv_file_get(path, "LONG", out, sizeof(out)), 1);
    assert_int_equal(strlen(out), sizeof(out) - 1);
    assert_int_equal(kv_file_get(path, "MISSING", out, sizeof(out)), 0);
    assert_int_equal(kv_file_get("/nonexistent/os-release", "NAME", out, sizeof(out)), -1);

    /* A line far longer than the reader's buffer is cut, not overrun. */
    char *big = malloc(20000);
    assert_non_null(big);
    memset(big, 'x', 19998);
    memcpy(big, "NAME=", 5);
    big[19998] = '\n';
    big[19999] = '\0';
    write_tmp(fx, "osr-long", big, path, sizeof(path));
    free(big);
    assert_int_equal(kv_file_get(path, "NAME", out, sizeof(out)), 1);
    assert_int_equal(strlen(out), sizeof(out) - 1);
}

static void test_meminfo(void **state)
{
    struct fixture *fx = *state;
    char path[512];
    struct meminfo m;
    unsigned long long kb;
    write_tmp(fx, "mi",
              "MemTotal:       16318008 kB\nMemFree:  100 kB\nMemAvailable: 2000 kB\n"
              "SwapTotal: 4096 kB\nSwapFree: 1024 kB\n",
              path, sizeof(path));
    assert_int_equal(meminfo_read(path, &m), 0);
    assert_int_equal(m.total, 16318008);
    assert_true(m.have_swap);
    assert_int_equal(mem_free_kb(&m, &kb), 0);
    assert_int_equal(kb, 2000);
    /* An old kernel: no MemAvailable, so MemFree. */
    write_tmp(fx, "mi2", "MemTotal: 10 kB\nMemFree: 7 kB\n", path, sizeof(path));
    assert_int_equal(meminfo_read(path, &m), 0);
    assert_false(m.have_swap);
    assert_int_equal(mem_free_kb(&m, &kb), 0);
    assert_int_equal(kb, 7);
    /* Garbage. */
    write_tmp(fx, "mi3", "no colon\nMemTotal: -5 kB\nMemTotal: abc\n:\n\n", path, sizeof(path));
    assert_int_equal(meminfo_read(path, &m), -1);
    write_tmp(fx, "mi4", "MemTotal: 99999999999999999999999 kB\n", path, sizeof(path));
    assert_int_equal(meminfo_read(path, &m), -1);
    write_tmp(fx, "mi5", "", path, sizeof(path));
    assert_int_equal(meminfo_read(path, &m), -1);
    assert_int_equal(meminfo_read("/nonexistent", &m), -1);
}

static void test_cpuinfo(void **state)
{
    struct fixture *fx = *state;
    char path[512];
    struct cpurec *r, g;
    size_t n;
    write_tmp(fx, "x86",
              "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 158\n"
              "model name\t: Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz\nstepping\t: 10\n"
              "cpu MHz\t\t: 3192.000\nphysical id\t: 0\ncore id\t\t: 3\n"
              "flags\t\t: fpu vmx hypervisor\n\n"
              "processor\t: 1\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vmxx\n",
              path, sizeof(path));
    assert_int_equal(cpuinfo_read(path, &r, &n, &g), 0);
    assert_int_equal(n, 2);
    assert_int_equal(r[0].cpu, 0);
    assert_string_equal(r[0].vendor, "GenuineIntel");
    assert_string_equal(r[0].model_name, "Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz");
    assert_int_equal(r[0].family, 6);
    assert_int_equal(r[0].model, 158);
    assert_int_equal(r[0].stepping, 10);
    assert_int_equal(r[0].phys_id, 0);
    assert_int_equal(r[0].core_id, 3);
    assert_int_equal((int)r[0].mhz, 3192);
    assert_int_equal(r[0].hypervisor, 1);
    assert_int_equal(r[0].virt, 1);
    assert_int_equal(r[1].hypervisor, 0);
    assert_int_equal(r[1].virt, 0); /* "vmxx" is not "vmx" */
    assert_int_equal(r[1].family, -1);
    assert_ptr_equal(os__cpurec_find(r, n, 1), &r[1]);
    assert_null(os__cpurec_find(r, n, 7));
    free(r);

    /* arm64: no model name, an implementer; machine-wide lines first. */
    write_tmp(fx, "arm",
              "Processor\t: AArch64 Processor rev 1\n"
              "processor\t: 4\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n",
              path, sizeof(path));
    assert_int_equal(cpuinfo_read(path, &r, &n, &g), 0);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].cpu, 4);
    assert_int_equal(r[0].implementer, 0x41);
    assert_string_equal(arm_implementer(r[0].implementer), "ARM");
    assert_string_equal(r[0].model_name, "AArch64 Processor rev 1");
    assert_int_equal(r[0].hypervisor, -1);
    free(r);

    /* Garbage: numbers that are not, lines without colons, a huge line. */
    char *big = malloc(100000);
    assert_non_null(big);
    strcpy(big, "processor : abc\nprocessor : -3\nprocessor : 99999999999999\n: :\nno colon\n"
                "processor : 2\ncpu MHz : nan\ncpu family : 1e9\nmodel name : ");
    size_t l = strlen(big);
    memset(big + l, 'A', 90000);
    strcpy(big + l + 90000, "\nmodel : 5\n");
    write_tmp(fx, "bad", big, path, sizeof(path));
    free(big);
    assert_int_equal(cpuinfo_read(path, &r, &n, &g), 0);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].cpu, 2);
    assert_true(r[0].mhz == 0);
    assert_int_equal(r[0].model, 5);
    assert_int_equal(strlen(r[0].model_name), sizeof(r[0].model_name) - 1);
    free(r);

    write_tmp(fx, "empty", "", path, sizeof(path));
    assert_int_equal(cpuinfo_read(path, &r, &n, &g), 0);
    assert_int_equal(n, 0);
    free(r);
    assert_int_equal(cpuinfo_read("/nonexistent", &r, &n, &g), -1);
}

static void test_cpu_list(void **state)
{
    (void)state;
    int ids[16];
    assert_int_equal(parse_cpu_list("0-3,8,10-11", ids, 16), 7);
    assert_int_equal(ids[4], 8);
    assert_int_equal(ids[6], 11);
    assert_int_equal(parse_cpu_list("5", ids, 16), 1);
    assert_int_equal(parse_cpu_list("", ids, 16), 0);
    assert_int_equal(parse_cpu_list("3-1", ids, 16), -1);
    assert_int_equal(parse_cpu_list("0-", ids, 16), -1);
    assert_int_equal(parse_cpu_list("a", ids, 16), -1);
    assert_int_equal(parse_cpu_list("1,,2", ids, 16), -1);
    assert_int_equal(parse_cpu_list("-1", ids, 16), -1);
    assert_int_equal(parse_cpu_list("0-100", ids, 16), -1); /* more than fit */
    assert_int_equal(parse_cpu_list("99999999999999999999", ids, 16), -1);
}

static void test_mountinfo(void **state)
{
    struct fixture *fx = *state;
    char path[512], out[64];
    write_tmp(fx, "mnt",
              "22 27 0:21 / /proc rw - proc proc rw\n"
              "27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
              "garbage line\n"
              "28 27 0:25 / /mnt\\040x rw - tmpfs tmpfs rw\n"
              "29 1 0:26 / / rw - overlay /dev/my\\040disk rw\n",
              path, sizeof(path));
    assert_int_equal(root_source(path, out, sizeof(out)), 0);
    assert_string_equal(out, "/dev/my disk"); /* the topmost "/" */
    write_tmp(fx, "mnt2", "22 27 0:21 / /proc rw - proc proc rw\n27 1 254:0 / /\n", path,
              sizeof(path));
    assert_int_equal(root_source(path, out, sizeof(out)), -1);
}

static void test_dmi_strings(void **state)
{
    (void)state;
    char out[16];
    static const unsigned char s[] = {1, 4, 0, 0, 'a', 'b', 0, ' ', 'c', ' ', 0, 0};
    assert_string_equal(os__dmi_str(s, sizeof(s), 1, out, sizeof(out)), "ab");
    assert_string_equal(os__dmi_str(s, sizeof(s), 2, out, sizeof(out)), "c");
    assert_null(os__dmi_str(s, sizeof(s), 0, out, sizeof(out)));
    assert_null(os__dmi_str(s, sizeof(s), 3, out, sizeof(out)));
    assert_null(os__dmi_str(s, 6, 1, out, sizeof(out))); /* unterminated */
    static const unsigned char bad_len[] = {1, 40, 0, 0, 'a', 0, 0};
    assert_null(os__dmi_str(bad_len, sizeof(bad_len), 1, out, sizeof(out)));
    static const unsigned char longer[] = {1,   4,   0,   0,   'x', 'x', 'x', 'x',
                                           'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x',
                                           'x', 'x', 'x', 'x', 'x', 0,   0};
    assert_int_equal(strlen(os__dmi_str(longer, sizeof(longer), 1, out, sizeof(out))), 15);
}

static void test_dmi_memory(void **state)
{
    (void)state;
    const struct cim_class *c = cls("Win32_PhysicalMemory");
    struct wsm_arena a;
    wsm__arena_init(&a);
    struct cim_instance i = {.cls = c, .arena = &a};
    i.v = wsm__arena_alloc(&a, c->nprops * sizeof(*i.v));
    memset(i.v, 0, c->nprops * sizeof(*i.v));
    unsigned char raw[512];
    size_t n = dimm_ddr4(raw, sizeof(raw));
    /* Every cut of a valid structure is either refused or filled safely. */
    for (size_t len = 0; len <= n; len++) {
        memset(i.v, 0, c->nprops * sizeof(*i.v));
        int r = dmi_mem_fill(&i, raw, len);
        if (len < 0x5c)
            assert_int_equal(r, -1);
        else
            assert_int_equal(r, 0);
    }
    /* Size in MB and the unknown 0xffff. */
    memset(i.v, 0, c->nprops * sizeof(*i.v));
    le16(raw + 0x0c, 8192);
    assert_int_equal(dmi_mem_fill(&i, raw, n), 0);
    assert_string_equal(cim_get(&i, "Capacity"), "8589934592");
    memset(i.v, 0, c->nprops * sizeof(*i.v));
    le16(raw + 0x0c, 0xffff);
    assert_int_equal(dmi_mem_fill(&i, raw, n), 0);
    assert_null(cim_get(&i, "Capacity"));
    raw[0] = 16;
    assert_int_equal(dmi_mem_fill(&i, raw, n), -1);
    wsm__arena_free(&a);
}

static void test_dmi_cpu(void **state)
{
    (void)state;
    unsigned char f[0x30], raw[256];
    struct dmi_cpu d;
    memset(f, 0, sizeof(f));
    f[0x04] = 1;
    f[0x06] = 0x02; /* Unknown */
    f[0x18] = 0x41;
    static const char *const s[] = {"CPU0"};
    size_t n = smbios(raw, sizeof(raw), 4, 0x1a, f, s, 1);
    assert_int_equal(dmi_cpu_parse(raw, n, &d), 0);
    assert_string_equal(d.socket, "CPU0");
    assert_int_equal(d.family, -1);
    assert_int_equal(d.upgrade, -1);
    raw[0x18] = 0x01; /* not populated */
    assert_int_equal(dmi_cpu_parse(raw, n, &d), -1);
    assert_int_equal(dmi_cpu_parse(raw, 0x10, &d), -1);
}

static void test_bios_date_release(void **state)
{
    (void)state;
    time_t t;
    assert_int_equal(parse_bios_date("03/14/2023", &t), 0);
    assert_int_equal(t, 1678752000);
    assert_int_equal(parse_bios_date("12/31/99", &t), 0);
    assert_int_equal(t, 946598400);
    assert_int_equal(parse_bios_date("02/31/2020", &t), -1);
    assert_int_equal(parse_bios_date("13/01/2020", &t), -1);
    assert_int_equal(parse_bios_date("1/1/2020", &t), -1);
    assert_int_equal(parse_bios_date("01/01/2020 ", &t), -1);
    assert_int_equal(parse_bios_date("", &t), -1);
    assert_int_equal(parse_bios_date("2020-01-01", &t), -1);
    unsigned maj, min;
    assert_int_equal(parse_release("5.17", &maj, &min), 0);
    assert_int_equal(maj, 5);
    assert_int_equal(min, 17);
    assert_int_equal(parse_release("-1.2", &maj, &min), -1);
    assert_int_equal(parse_release("1.2x", &maj, &min), -1);
    assert_int_equal(parse_release("256.0", &maj, &min), -1);
    assert_int_equal(parse_release("1.", &maj, &min), -1);
}

/* A number outside its property's type is left NULL, not written. */
static void test_range_guard(void **state)
{
    (void)state;
    struct wsm_arena a;
    wsm__arena_init(&a);
    const struct cim_class *c = cls("Win32_OperatingSystem");
    struct cim_instance i = {.cls = c, .arena = &a};
    i.v = wsm__arena_alloc(&a, c->nprops * sizeof(*i.v));
    memset(i.v, 0, c->nprops * sizeof(*i.v));
    set_u64(&i, "OSType", 65536);
    assert_null(cim_get(&i, "OSType"));
    set_u64(&i, "OSType", 65535);
    assert_string_equal(cim_get(&i, "OSType"), "65535");
    set_u64(&i, "NumberOfProcesses", 0x100000000ull);
    assert_null(cim_get(&i, "NumberOfProcesses"));
    set_s64(&i, "CurrentTimeZone", -32769);
    assert_null(cim_get(&i, "CurrentTimeZone"));
    set_s64(&i, "CurrentTimeZone", -32768);
    assert_string_equal(cim_get(&i, "CurrentTimeZone"), "-32768");
    set_u64(&i, "TotalVisibleMemorySize", UINT64_MAX);
    assert_string_equal(cim_get(&i, "TotalVisibleMemorySize"), "18446744073709551615");
    set_str(&i, "Caption", NULL); /* NULL stays NULL */
    assert_null(cim_get(&i, "Caption"));
    wsm__arena_free(&a);
}

static void test_clean_text(void **state)
{
    (void)state;
    char s1[] = "plain ASCII";
    assert_int_equal(clean_text(s1), 0);
    char s2[] = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
    assert_int_equal(clean_text(s2), 0);
    char s3[] = "a\x01"
                "b\x7f"
                "c";
    assert_int_equal(clean_text(s3), 1);
    assert_string_equal(s3, "a?b?c");
    char s4[] = "\xc3(\xff\xed\xa0\x80\xc0\xaf\xe2\x82";
    assert_int_equal(clean_text(s4), 1);
    for (const char *p = s4; *p; p++)
        assert_true((unsigned char)*p < 0x80);
}

static void test_sessions(void **state)
{
    struct fixture *fx = *state;
    char dir[512], path[600];
    snprintf(dir, sizeof(dir), "%s/sessions", fx->dir);
    mkdir(dir, 0755);
    snprintf(path, sizeof(path), "%s/1", dir);
    FILE *f = fopen(path, "w");
    fputs("UID=1000\nCLASS=user\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/2", dir);
    f = fopen(path, "w");
    fputs("UID=0\nCLASS=manager\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/1.ref", dir);
    assert_int_equal(mkfifo(path, 0600), 0); /* must not be opened */
    assert_int_equal(count_sessions(dir, "/nonexistent"), 1);

    /* utmp: a live USER_PROCESS (ours), a dead one, a LOGIN_PROCESS. */
    snprintf(path, sizeof(path), "%s/utmp", fx->dir);
    f = fopen(path, "wb");
    struct utmpx u;
    memset(&u, 0, sizeof(u));
    u.ut_type = USER_PROCESS;
    u.ut_pid = getpid();
    fwrite(&u, sizeof(u), 1, f);
    u.ut_pid = 0x7ffffff0;
    fwrite(&u, sizeof(u), 1, f);
    u.ut_type = LOGIN_PROCESS;
    u.ut_pid = getpid();
    fwrite(&u, sizeof(u), 1, f);
    fwrite(&u, 3, 1, f); /* a torn record */
    fclose(f);
    assert_int_equal(count_sessions("/nonexistent", path), 1);
    assert_int_equal(count_sessions("/nonexistent", "/nonexistent"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kv_file, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_meminfo, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cpuinfo, fx_setup, fx_teardown),
        cmocka_unit_test(test_cpu_list),
        cmocka_unit_test_setup_teardown(test_mountinfo, fx_setup, fx_teardown),
        cmocka_unit_test(test_dmi_strings),
        cmocka_unit_test(test_dmi_memory),
        cmocka_unit_test(test_dmi_cpu),
        cmocka_unit_test(test_bios_date_release),
        cmocka_unit_test(test_range_guard),
        cmocka_unit_test(test_clean_text),
        cmocka_unit_test_setup_teardown(test_sessions, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
