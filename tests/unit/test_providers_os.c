/* Unit tests for the host providers (src/providers/os.c and its other
 * files), the family as a whole: every class enumerated from live data and
 * checked against what the test reads itself (os-release, sysconf,
 * meminfo, cpuinfo), and lookups by keys as the dispatcher does them.
 * The fixtures and the other programs: providers_os.h. */
#define PROVIDERS_OS_INCLUDE_SOURCES
#include "providers_os.h"

/* ---- the family -------------------------------------------------------- */

static void test_family_shape(void **state)
{
    (void)state;
    static const char *const want[] = {
        "Win32_OperatingSystem", "CIM_OperatingSystem", "Win32_ComputerSystem",
        "CIM_ComputerSystem",    "Win32_Processor",     "CIM_Processor",
        "Win32_PhysicalMemory",  "CIM_PhysicalMemory",  "Win32_BIOS",
        "CIM_BIOSElement",
    };
    size_t n = 0;
    for (const struct cim_class *const *c = test_cim_family_os; *c; c++, n++) {
        const struct cim_class *k = *c;
        assert_true(n < sizeof(want) / sizeof(want[0]));
        assert_string_equal(k->name, want[n]);
        assert_non_null(k->open);
        assert_non_null(k->next);
        assert_non_null(k->close);
        assert_true(k->nprops > 0);
        size_t keys = 0;
        for (size_t i = 0; i < k->nprops; i++) {
            assert_non_null(k->props[i].name);
            if (k->props[i].flags & CIM_KEY) {
                keys++;
                assert_false(k->props[i].flags & CIM_ARRAY);
            }
            for (size_t j = 0; j < i; j++)
                if (!strcasecmp(k->props[i].name, k->props[j].name))
                    fail_msg("%s: property %s twice", k->name, k->props[i].name);
        }
        assert_true(keys > 0);
    }
    assert_int_equal(n, sizeof(want) / sizeof(want[0]));
}

/* Win32 types as Microsoft documents them, DMTF types as the schema. */
static void test_types(void **state)
{
    (void)state;
    static const struct {
        const char *cls, *prop;
        enum cim_type t;
    } want[] = {
        {"Win32_OperatingSystem", "OSType", CIM_UINT16},
        {"Win32_OperatingSystem", "CurrentTimeZone", CIM_SINT16},
        {"Win32_OperatingSystem", "TotalVisibleMemorySize", CIM_UINT64},
        {"Win32_OperatingSystem", "FreePhysicalMemory", CIM_UINT64},
        {"Win32_OperatingSystem", "NumberOfProcesses", CIM_UINT32},
        {"Win32_OperatingSystem", "NumberOfUsers", CIM_UINT32},
        {"Win32_OperatingSystem", "LastBootUpTime", CIM_DATETIME},
        {"Win32_OperatingSystem", "InstallDate", CIM_DATETIME},
        {"CIM_OperatingSystem", "OSType", CIM_UINT16},
        {"Win32_ComputerSystem", "TotalPhysicalMemory", CIM_UINT64},
        {"Win32_ComputerSystem", "NumberOfLogicalProcessors", CIM_UINT32},
        {"Win32_ComputerSystem", "NumberOfProcessors", CIM_UINT32},
        {"Win32_ComputerSystem", "PartOfDomain", CIM_BOOLEAN},
        {"Win32_Processor", "MaxClockSpeed", CIM_UINT32},
        {"Win32_Processor", "Architecture", CIM_UINT16},
        {"Win32_Processor", "AddressWidth", CIM_UINT16},
        {"Win32_Processor", "LoadPercentage", CIM_UINT16},
        {"Win32_Processor", "NumberOfCores", CIM_UINT32},
        {"Win32_Processor", "L2CacheSize", CIM_UINT32},
        {"CIM_Processor", "Family", CIM_UINT16},
        {"CIM_Processor", "NumberOfEnabledCores", CIM_UINT16},
        {"Win32_PhysicalMemory", "Capacity", CIM_UINT64},
        {"Win32_PhysicalMemory", "Speed", CIM_UINT32},
        {"Win32_PhysicalMemory", "MemoryType", CIM_UINT16},
        {"Win32_PhysicalMemory", "SMBIOSMemoryType", CIM_UINT32},
        {"Win32_BIOS", "ReleaseDate", CIM_DATETIME},
        {"Win32_BIOS", "SoftwareElementState", CIM_UINT16},
        {"Win32_BIOS", "SystemBiosMajorVersion", CIM_UINT8},
        {"CIM_BIOSElement", "TargetOperatingSystem", CIM_UINT16},
    };
    for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
        const struct cim_class *c = cls(want[k].cls);
        size_t i = 0;
        while (i < c->nprops && strcmp(c->props[i].name, want[k].prop))
            i++;
        if (i == c->nprops)
            fail_msg("%s has no %s", want[k].cls, want[k].prop);
        if (c->props[i].type != want[k].t)
            fail_msg("%s.%s has type %d, want %d", want[k].cls, want[k].prop, c->props[i].type,
                     want[k].t);
    }
}

/* Every class enumerates, with keys, well-formed values, unique keys; and
 * the names set on the other form of a class exist in the family. */
static void test_enumerate_all(void **state)
{
    (void)state;
    nmissed = 0;
    for (const struct cim_class *const *c = test_cim_family_os; *c; c++) {
        struct coll o;
        collect((*c)->name, &o);
        if (is_bios(*c) && !have_dmi())
            assert_int_equal(o.n, 0); /* no firmware tables: no BIOS instance */
        else if (o.n == 0)
            fail_msg("%s: no instance", (*c)->name);
        for (size_t i = 0; i < o.n; i++) {
            check_instance(&o.inst[i]);
            for (size_t j = 0; j < i; j++) {
                int same = 1;
                for (size_t k = 0; k < o.cls->nprops; k++)
                    if ((o.cls->props[k].flags & CIM_KEY) &&
                        strcasecmp(o.inst[i].v[k].s, o.inst[j].v[k].s))
                        same = 0;
                if (same)
                    fail_msg("%s: instances %zu and %zu have the same keys", o.cls->name, j, i);
            }
        }
        release(&o);
    }
    for (size_t m = 0; m < nmissed; m++) {
        int found = 0;
        for (const struct cim_class *const *c = test_cim_family_os; *c; c++)
            for (size_t k = 0; k < (*c)->nprops; k++)
                if (!strcmp((*c)->props[k].name, missed[m]))
                    found = 1;
        if (!found)
            fail_msg("property %s is set but no class has it", missed[m]);
    }
}

/* ---- live values -------------------------------------------------------- */

static void test_operating_system(void **state)
{
    (void)state;
    char pretty[256], host[256];
    pretty_name(pretty, sizeof(pretty));
    assert_int_equal(gethostname(host, sizeof(host)), 0);
    struct utsname u;
    assert_int_equal(uname(&u), 0);

    struct coll o;
    collect("Win32_OperatingSystem", &o);
    assert_int_equal(o.n, 1);
    assert_val(&o, 0, "Caption", pretty);
    const char *name = val(&o, 0, "Name");
    assert_non_null(name);
    assert_int_equal(strncmp(name, pretty, strlen(pretty)), 0);
    assert_int_equal(strncmp(name + strlen(pretty), "|/|", 3), 0);
    assert_val(&o, 0, "Version", u.release);
    assert_val(&o, 0, "CSName", host);
    assert_val(&o, 0, "OSType", "36");
    assert_val(&o, 0, "CSCreationClassName", "Win32_ComputerSystem");
    assert_val(&o, 0, "CreationClassName", "Win32_OperatingSystem");
    assert_val(&o, 0, "OSArchitecture", machine_is_64(u.machine) ? "64-bit" : "32-bit");
    assert_val(&o, 0, "Status", "OK");
    assert_val(&o, 0, "InstallDate", NULL);
    /* Boot before now; both in UTC, so they compare as text. */
    const char *boot = val(&o, 0, "LastBootUpTime"), *now = val(&o, 0, "LocalDateTime");
    assert_non_null(boot);
    assert_non_null(now);
    assert_true(strcmp(boot, now) < 0);
    unsigned long long total = num(&o, 0, "TotalVisibleMemorySize"), mt = memtotal_kb();
    assert_true(total * 100 >= mt * 99 && total * 100 <= mt * 101);
    assert_true(num(&o, 0, "FreePhysicalMemory") <= total);
    if (val(&o, 0, "TotalVirtualMemorySize")) {
        assert_true(num(&o, 0, "TotalVirtualMemorySize") >= total);
        assert_true(num(&o, 0, "FreeVirtualMemory") <= num(&o, 0, "TotalVirtualMemorySize"));
    }
    assert_true(num(&o, 0, "NumberOfProcesses") >= 1);
    char *mid = slurp("/etc/machine-id");
    if (mid) {
        mid[strcspn(mid, "\n")] = '\0';
        if (mid[0])
            assert_val(&o, 0, "SerialNumber", mid);
        free(mid);
    }
    release(&o);

    collect("CIM_OperatingSystem", &o);
    assert_int_equal(o.n, 1);
    assert_val(&o, 0, "CSCreationClassName", "CIM_ComputerSystem");
    assert_val(&o, 0, "CreationClassName", "CIM_OperatingSystem");
    assert_val(&o, 0, "CSName", host);
    assert_val(&o, 0, "Name", pretty);
    assert_val(&o, 0, "ElementName", pretty);
    assert_val(&o, 0, "OSType", "36");
    assert_int_equal(o.inst[0].v[cim_prop_index(o.cls, "OperationalStatus")].n, 1);
    release(&o);
}

static void test_computer_system(void **state)
{
    (void)state;
    char host[256];
    assert_int_equal(gethostname(host, sizeof(host)), 0);
    struct coll o, p;
    collect("Win32_ComputerSystem", &o);
    assert_int_equal(o.n, 1);
    assert_val(&o, 0, "Name", host);
    char lp[32];
    snprintf(lp, sizeof(lp), "%ld", sysconf(_SC_NPROCESSORS_ONLN));
    assert_val(&o, 0, "NumberOfLogicalProcessors", lp);
    unsigned long long bytes = num(&o, 0, "TotalPhysicalMemory");
    unsigned long long want = memtotal_kb() * 1024;
    assert_true(bytes * 100 >= want * 99 && bytes * 100 <= want * 101);
    assert_val(&o, 0, "PartOfDomain", "false");
    assert_non_null(val(&o, 0, "Domain"));
    assert_val(&o, 0, "Status", "OK");
    collect("Win32_Processor", &p);
    assert_int_equal(num(&o, 0, "NumberOfProcessors"), p.n);
    if (!have_dmi()) {
        assert_val(&o, 0, "Manufacturer", NULL);
        assert_val(&o, 0, "Model", NULL);
    }
    release(&p);
    release(&o);

    collect("CIM_ComputerSystem", &o);
    assert_int_equal(o.n, 1);
    assert_val(&o, 0, "CreationClassName", "CIM_ComputerSystem");
    assert_val(&o, 0, "Name", host);
    release(&o);
}

static void test_processor(void **state)
{
    (void)state;
    struct coll o;
    collect("Win32_Processor", &o);
    assert_true(o.n >= 1);
    /* The first model name of cpuinfo, where there is one. */
    char model[256] = "";
    char *text = slurp("/proc/cpuinfo");
    if (text) {
        char *p = strstr(text, "model name");
        if (p && (p = strchr(p, ':'))) {
            p++;
            while (*p == ' ' || *p == '\t')
                p++;
            snprintf(model, sizeof(model), "%.*s", (int)strcspn(p, "\n"), p);
        }
        free(text);
    }
    unsigned long long logical = 0;
    for (size_t i = 0; i < o.n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "CPU%zu", i);
        assert_val(&o, i, "DeviceID", id);
        logical += num(&o, i, "NumberOfLogicalProcessors");
        if (val(&o, i, "NumberOfCores"))
            assert_true(num(&o, i, "NumberOfCores") <= num(&o, i, "NumberOfLogicalProcessors"));
        assert_true(num(&o, i, "LoadPercentage") <= 100);
        if (model[0] && i == 0)
            assert_val(&o, i, "Name", trim(model));
#if defined(__x86_64__)
        assert_val(&o, i, "Architecture", "9");
        assert_val(&o, i, "AddressWidth", "64");
        assert_non_null(val(&o, i, "ProcessorId"));
#endif
    }
    assert_int_equal(logical, sysconf(_SC_NPROCESSORS_ONLN));
    release(&o);

    collect("CIM_Processor", &o);
    assert_true(o.n >= 1);
    assert_val(&o, 0, "SystemCreationClassName", "CIM_ComputerSystem");
    assert_val(&o, 0, "CreationClassName", "CIM_Processor");
    assert_val(&o, 0, "DeviceID", "CPU0");
    release(&o);
}

static void test_physical_memory(void **state)
{
    (void)state;
    struct coll o;
    collect("Win32_PhysicalMemory", &o);
    assert_true(o.n >= 1);
    unsigned long long sum = 0;
    for (size_t i = 0; i < o.n; i++) {
        char tag[64];
        snprintf(tag, sizeof(tag), "Physical Memory %zu", i);
        assert_val(&o, i, "Tag", tag);
        if (val(&o, i, "Capacity"))
            sum += num(&o, i, "Capacity");
    }
    /* Without SMBIOS: one instance, the memory the kernel sees. */
    if (access("/sys/firmware/dmi/entries", R_OK) != 0) {
        assert_int_equal(o.n, 1);
        unsigned long long want = memtotal_kb() * 1024;
        assert_true(sum * 100 >= want * 99 && sum * 100 <= want * 101);
        assert_val(&o, 0, "MemoryType", NULL);
        assert_val(&o, 0, "Speed", NULL);
    }
    release(&o);
    collect("CIM_PhysicalMemory", &o);
    assert_true(o.n >= 1);
    assert_val(&o, 0, "CreationClassName", "CIM_PhysicalMemory");
    assert_val(&o, 0, "Tag", "Physical Memory 0");
    release(&o);
}

/* Get by the keys of each instance finds that instance; any key changed
 * finds nothing. */
static void test_lookup_by_keys(void **state)
{
    (void)state;
    for (const struct cim_class *const *c = test_cim_family_os; *c; c++) {
        struct coll o;
        collect((*c)->name, &o);
        struct wsm_arena a;
        wsm__arena_init(&a);
        struct cim_instance got = {.cls = *c, .arena = &a};
        got.v = wsm__arena_alloc(&a, (*c)->nprops * sizeof(*got.v));
        assert_non_null(got.v);
        for (size_t i = 0; i < o.n; i++) {
            struct wsm_pair keys[16];
            char changed[16][300];
            size_t nk = 0;
            for (size_t k = 0; k < (*c)->nprops; k++)
                if ((*c)->props[k].flags & CIM_KEY) {
                    keys[nk].name = (*c)->props[k].name;
                    keys[nk].value = o.inst[i].v[k].s;
                    nk++;
                }
            assert_int_equal(lookup(*c, keys, nk, &got), WSM_OK);
            for (size_t k = 0; k < (*c)->nprops; k++) {
                if (!((*c)->props[k].flags & CIM_KEY) && (*c)->props[k].type != CIM_STRING)
                    continue;
                /* Keys and the fixed strings come back the same. */
                const char *a1 = o.inst[i].v[k].s, *a2 = got.v[k].s;
                if (!strcmp((*c)->props[k].name, "Caption") || ((*c)->props[k].flags & CIM_KEY)) {
                    assert_true((a1 == NULL) == (a2 == NULL));
                    if (a1)
                        assert_string_equal(a1, a2);
                }
            }
            /* Case does not matter for string keys, as in WMI. */
            for (size_t j = 0; j < nk; j++) {
                snprintf(changed[j], sizeof(changed[j]), "%s", keys[j].value);
                for (char *p = changed[j]; *p; p++)
                    *p = (char)toupper((unsigned char)*p);
            }
            struct wsm_pair upper[16];
            for (size_t j = 0; j < nk; j++)
                upper[j] = (struct wsm_pair){keys[j].name, changed[j]};
            assert_int_equal(lookup(*c, upper, nk, &got), WSM_OK);
            /* One wrong key: not found. */
            for (size_t j = 0; j < nk; j++) {
                struct wsm_pair wrong[16];
                memcpy(wrong, keys, nk * sizeof(*keys));
                int k = cim_prop_index(*c, keys[j].name);
                if ((*c)->props[k].type == CIM_STRING)
                    snprintf(changed[j], sizeof(changed[j]), "%s-nope", keys[j].value);
                else
                    snprintf(changed[j], sizeof(changed[j]), "%llu",
                             strtoull(keys[j].value, NULL, 10) + 1);
                wrong[j].value = changed[j];
                assert_int_equal(lookup(*c, wrong, nk, &got), WSM_ERR_NOT_FOUND);
            }
        }
        wsm__arena_free(&a);
        release(&o);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_family_shape),    cmocka_unit_test(test_types),
        cmocka_unit_test(test_enumerate_all),   cmocka_unit_test(test_operating_system),
        cmocka_unit_test(test_computer_system), cmocka_unit_test(test_processor),
        cmocka_unit_test(test_physical_memory), cmocka_unit_test(test_lookup_by_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
