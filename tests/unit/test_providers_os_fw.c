/* Unit tests for the host providers: the firmware paths (SMBIOS, DMI,
 * ACPI, CPU topology) against a fixture /sys tree (providers_os.h). */
#define PROVIDERS_OS_INCLUDE_SOURCES
#include "providers_os.h"

static void build_sys(const char *root)
{
    unsigned char raw[512];
    size_t n;

    puts_(root, "sys/class/dmi/id/sys_vendor", "Dell Inc.\n");
    puts_(root, "sys/class/dmi/id/product_name", "PowerEdge R750\n");
    puts_(root, "sys/class/dmi/id/bios_vendor", "Dell Inc.\n");
    puts_(root, "sys/class/dmi/id/bios_version", "1.5.4 \n");
    puts_(root, "sys/class/dmi/id/bios_date", "03/14/2023\n");
    puts_(root, "sys/class/dmi/id/product_serial",
          "ABC\x01"
          "1234\n"); /* a control char */

    /* Memory: an installed DIMM, an empty slot, an old 2.3 DIMM sized in
     * KB, a structure cut short. */
    n = dimm_ddr4(raw, sizeof(raw));
    put(root, "sys/firmware/dmi/entries/17-0/raw", raw, n);
    unsigned char f[0x5c];
    memset(f, 0, sizeof(f));
    le16(f + 0x0c, 0);
    f[0x10] = 1;
    static const char *const empty_s[] = {"DIMM_A2"};
    n = smbios(raw, sizeof(raw), 17, 0x28, f, empty_s, 1);
    put(root, "sys/firmware/dmi/entries/17-1/raw", raw, n);
    memset(f, 0, sizeof(f));
    le16(f + 0x08, 0xffff);
    le16(f + 0x0a, 0xffff);
    le16(f + 0x0c, 0x8000 | 512);
    f[0x0e] = 0x0d; /* SODIMM */
    f[0x10] = 1;
    f[0x11] = 9;    /* no such string */
    f[0x12] = 0x22; /* DDR5: no MemoryType equivalent */
    le16(f + 0x15, 0xffff);
    static const char *const old_s[] = {"  SODIMM 1  "};
    n = smbios(raw, sizeof(raw), 17, 0x1b, f, old_s, 1);
    put(root, "sys/firmware/dmi/entries/17-10/raw", raw, n);
    put(root, "sys/firmware/dmi/entries/17-2/raw", "\x11\x5c\x00", 3);

    /* Two populated sockets and an empty one. */
    for (int k = 0; k < 3; k++) {
        memset(f, 0, sizeof(f));
        f[0x04] = 1;
        f[0x06] = 0xfe;
        le16(f + 0x28, 0x6b);
        f[0x07] = 2;
        f[0x10] = 3;
        le16(f + 0x12, 100);
        le16(f + 0x14, 3500);
        le16(f + 0x16, 2450);
        f[0x18] = k == 2 ? 0x00 : 0x41;
        f[0x19] = 0x31;
        f[0x20] = 4;
        f[0x22] = 5;
        char sock[16], ser[16];
        snprintf(sock, sizeof(sock), "CPU%d", k + 1);
        snprintf(ser, sizeof(ser), "SER%d", k + 1);
        const char *const s[] = {sock, "Advanced Micro Devices, Inc.",
                                 "AMD EPYC 7763 64-Core Processor", ser, "PN"};
        n = smbios(raw, sizeof(raw), 4, 0x30, f, s, 5);
        char rel[128];
        snprintf(rel, sizeof(rel), "sys/firmware/dmi/entries/4-%d/raw", k);
        put(root, rel, raw, n);
    }

    /* BIOS: release 5.17 in type 0, no embedded controller. */
    memset(f, 0, sizeof(f));
    f[0x04] = 1;
    f[0x05] = 2;
    f[0x08] = 3;
    f[0x14] = 5;
    f[0x15] = 17;
    f[0x16] = 0xff;
    f[0x17] = 0xff;
    static const char *const bios_s[] = {"Dell Inc.", "1.5.4", "03/14/2023"};
    n = smbios(raw, sizeof(raw), 0, 0x18, f, bios_s, 3);
    put(root, "sys/firmware/dmi/entries/0-0/raw", raw, n);
    unsigned char ep[24] = "_SM3_";
    ep[6] = 24;
    ep[7] = 3;
    ep[8] = 3;
    put(root, "sys/firmware/dmi/tables/smbios_entry_point", ep, sizeof(ep));
    unsigned char xsdt[36];
    memset(xsdt, 0, sizeof(xsdt));
    memcpy(xsdt, "XSDT", 4);
    memcpy(xsdt + 10, "DELL  ", 6);
    memcpy(xsdt + 16, "CBX3    ", 8);
    le32(xsdt + 24, 0x01072009);
    put(root, "sys/firmware/acpi/tables/XSDT", xsdt, sizeof(xsdt));

    /* CPUs 1000-1003 (no cpuinfo record on any real machine): package 0
     * with two cores, package 1 with one core of two threads. */
    puts_(root, "sys/devices/system/cpu/online", "1000-1003\n");
    static const int pkg[] = {0, 0, 1, 1}, core[] = {0, 1, 0, 0};
    for (int k = 0; k < 4; k++) {
        char rel[128], v[16];
        snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu%d/topology/physical_package_id",
                 1000 + k);
        snprintf(v, sizeof(v), "%d\n", pkg[k]);
        puts_(root, rel, v);
        snprintf(rel, sizeof(rel), "sys/devices/system/cpu/cpu%d/topology/core_id", 1000 + k);
        snprintf(v, sizeof(v), "%d\n", core[k]);
        puts_(root, rel, v);
    }
    puts_(root, "sys/devices/system/cpu/cpu1000/cpufreq/cpuinfo_max_freq", "3500000\n");
    puts_(root, "sys/devices/system/cpu/cpu1000/cpufreq/scaling_cur_freq", "2450123\n");
    for (int k = 0; k < 2; k++) {
        char rel[160], v[16];
        const char *base = "sys/devices/system/cpu/cpu%d/cache/index%d/%s";
        static const char *const lv[] = {"1", "2", "3"}, *const ty[] = {"Data", "Unified",
                                                                        "Unified"};
        static const char *const sz[] = {"32K", "512K", "32M"};
        for (int idx = 0; idx < 3; idx++) {
            snprintf(rel, sizeof(rel), base, 1000 + k, idx, "level");
            puts_(root, rel, lv[idx]);
            snprintf(rel, sizeof(rel), base, 1000 + k, idx, "type");
            puts_(root, rel, ty[idx]);
            snprintf(rel, sizeof(rel), base, 1000 + k, idx, "size");
            puts_(root, rel, sz[idx]);
            snprintf(rel, sizeof(rel), base, 1000 + k, idx, "shared_cpu_list");
            snprintf(v, sizeof(v), "%s\n", idx == 2 ? "1000-1001" : k ? "1001" : "1000");
            puts_(root, rel, v);
        }
    }
}

static void test_fixture_firmware(void **state)
{
    struct fixture *fx = *state;
    build_sys(fx->dir);
    snprintf(os_test_sysroot, sizeof(os_test_sysroot), "%s", fx->dir);
    struct coll o;

    collect("Win32_BIOS", &o);
    assert_int_equal(o.n, 1);
    check_instance(&o.inst[0]);
    assert_val(&o, 0, "Name", "1.5.4");
    assert_val(&o, 0, "SoftwareElementID", "1.5.4");
    assert_val(&o, 0, "SoftwareElementState", "3");
    assert_val(&o, 0, "TargetOperatingSystem", "0");
    assert_val(&o, 0, "Version", "DELL   - 1072009");
    assert_val(&o, 0, "SMBIOSBIOSVersion", "1.5.4");
    {
        /* The versions Windows lists: ACPI's, then SMBIOS's. */
        const struct cim_val *bv = &o.inst[0].v[cim_prop_index(o.cls, "BIOSVersion")];
        assert_int_equal(bv->n, 2);
        assert_string_equal(bv->items[0], "DELL   - 1072009");
        assert_string_equal(bv->items[1], "1.5.4");
    }
    assert_val(&o, 0, "Manufacturer", "Dell Inc.");
    assert_val(&o, 0, "ReleaseDate", "2023-03-14T00:00:00.000000Z");
    assert_val(&o, 0, "SerialNumber", "ABC?1234");
    assert_val(&o, 0, "SMBIOSMajorVersion", "3");
    assert_val(&o, 0, "SMBIOSMinorVersion", "3");
    assert_val(&o, 0, "SystemBiosMajorVersion", "5");
    assert_val(&o, 0, "SystemBiosMinorVersion", "17");
    assert_val(&o, 0, "EmbeddedControllerMajorVersion", NULL);
    assert_val(&o, 0, "PrimaryBIOS", "true");
    release(&o);
    collect("CIM_BIOSElement", &o);
    assert_int_equal(o.n, 1);
    assert_val(&o, 0, "Version", "1.5.4");
    assert_val(&o, 0, "Name", "1.5.4");
    assert_val(&o, 0, "ReleaseDate", "2023-03-14T00:00:00.000000Z");
    release(&o);

    collect("Win32_PhysicalMemory", &o);
    assert_int_equal(o.n, 2); /* 17-0 and 17-10; 17-1 is empty, 17-2 broken */
    for (size_t i = 0; i < o.n; i++)
        check_instance(&o.inst[i]);
    assert_val(&o, 0, "Tag", "Physical Memory 0");
    assert_val(&o, 0, "Capacity", "34359738368");
    assert_val(&o, 0, "DeviceLocator", "DIMM_A1");
    assert_val(&o, 0, "BankLabel", "BANK 0");
    assert_val(&o, 0, "Manufacturer", "Samsung");
    assert_val(&o, 0, "SerialNumber", "12345678");
    assert_val(&o, 0, "PartNumber", "M393A4K40DB3-CWE");
    assert_val(&o, 0, "Speed", "3200");
    assert_val(&o, 0, "ConfiguredClockSpeed", "2933");
    assert_val(&o, 0, "ConfiguredVoltage", "1200");
    assert_val(&o, 0, "MemoryType", "26");
    assert_val(&o, 0, "SMBIOSMemoryType", "26");
    assert_val(&o, 0, "FormFactor", "8");
    assert_val(&o, 0, "TotalWidth", "72");
    assert_val(&o, 0, "DataWidth", "64");
    assert_val(&o, 0, "TypeDetail", "128");
    assert_val(&o, 0, "Attributes", "2");
    assert_val(&o, 1, "Tag", "Physical Memory 1");
    assert_val(&o, 1, "Capacity", "524288");
    assert_val(&o, 1, "DeviceLocator", "SODIMM 1");
    assert_val(&o, 1, "BankLabel", NULL);
    assert_val(&o, 1, "FormFactor", "12");
    assert_val(&o, 1, "MemoryType", NULL);
    assert_val(&o, 1, "SMBIOSMemoryType", "34");
    assert_val(&o, 1, "Speed", NULL);
    assert_val(&o, 1, "TotalWidth", NULL);
    assert_val(&o, 1, "Manufacturer", NULL);
    release(&o);
    collect("CIM_PhysicalMemory", &o);
    assert_int_equal(o.n, 2);
    assert_val(&o, 0, "ElementName", "DIMM_A1");
    assert_val(&o, 0, "MaxMemorySpeed", "3200");
    assert_val(&o, 0, "ConfiguredMemoryClockSpeed", "2933");
    release(&o);

    collect("Win32_Processor", &o);
    assert_int_equal(o.n, 2);
    for (size_t i = 0; i < o.n; i++) {
        check_instance(&o.inst[i]);
        assert_val(&o, i, "Name", "AMD EPYC 7763 64-Core Processor");
        assert_val(&o, i, "Manufacturer", "Advanced Micro Devices, Inc.");
        assert_val(&o, i, "Family", "107");
        assert_val(&o, i, "UpgradeMethod", "49");
        assert_val(&o, i, "ExtClock", "100");
        assert_val(&o, i, "NumberOfLogicalProcessors", "2");
        assert_val(&o, i, "MaxClockSpeed", "3500");
        assert_val(&o, i, "PartNumber", "PN");
    }
    assert_val(&o, 0, "SocketDesignation", "CPU1");
    assert_val(&o, 1, "SocketDesignation", "CPU2");
    assert_val(&o, 1, "SerialNumber", "SER2");
    assert_val(&o, 0, "NumberOfCores", "2");
    assert_val(&o, 1, "NumberOfCores", "1");
    assert_val(&o, 0, "CurrentClockSpeed", "2450");
    assert_val(&o, 1, "CurrentClockSpeed", "2450"); /* from SMBIOS */
    assert_val(&o, 0, "L2CacheSize", "1024");
    assert_val(&o, 0, "L3CacheSize", "32768");
    assert_val(&o, 1, "L2CacheSize", NULL);
    assert_val(&o, 0, "Stepping", NULL); /* no cpuinfo record for CPU 1000 */
    release(&o);

    collect("Win32_ComputerSystem", &o);
    assert_val(&o, 0, "Manufacturer", "Dell Inc.");
    assert_val(&o, 0, "Model", "PowerEdge R750");
    assert_val(&o, 0, "SystemFamily", NULL);
    assert_val(&o, 0, "NumberOfProcessors", "2");
    release(&o);

    /* Unreadable SMBIOS memory: the meminfo instance again. */
    char p[1024];
    snprintf(p, sizeof(p), "%s/sys/firmware/dmi/entries", fx->dir);
    test_tmpdir_remove(p);
    collect("Win32_PhysicalMemory", &o);
    assert_int_equal(o.n, 1);
    assert_val(&o, 0, "DeviceLocator", NULL);
    release(&o);
    /* No DMI at all: no BIOS. */
    snprintf(p, sizeof(p), "%s/sys/class/dmi", fx->dir);
    test_tmpdir_remove(p);
    collect("Win32_BIOS", &o);
    assert_int_equal(o.n, 0);
    release(&o);
    os_test_sysroot[0] = '\0';
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fixture_firmware, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
