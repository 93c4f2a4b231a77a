/* Unit tests for the host providers (src/providers/os.c): every class
 * enumerated from live data and checked against what the test reads
 * itself (os-release, sysconf, meminfo, cpuinfo); lookups by keys as the
 * dispatcher does them; the firmware paths (SMBIOS, DMI, ACPI, CPU
 * topology) against a fixture /sys tree; the parsers against odd input.
 *
 * os.c and its other files are included, not linked, to reach their static parsers
 * and to point their /sys root at a fixture. Their one public symbol is
 * renamed so that the copy in the daemon core, if linked too, does not
 * collide. Nothing pulls the core's os.o or hw.o in (the registry's
 * reference to the family is weak), so their os__ helpers do not collide
 * with the included ones either. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <utmpx.h>

#include "arena.h"
#include "envelope.h"
#include "wsm/wsm.h"

struct cim_class;
static char os_test_sysroot[512];  /* "": the real /sys */
static char os_test_hostroot[512]; /* "": the real /proc, /etc, /run */
static void prop_miss(const struct cim_class *c, const char *p);

#define OS_SYS_ROOT os_test_sysroot
#define OS_HOST_ROOT os_test_hostroot
#define OS_TEST_PROP_MISS(c, p) prop_miss(c, p)
#define cim_family_os test_cim_family_os
#include "../../src/providers/os.c"
#include "../../src/providers/osinfo.c"
#include "../../src/providers/compsys.c"
#include "../../src/providers/hw.c"
#include "../../src/providers/cpu.c"
#include "../../src/providers/membios.c"
#include "tmpdir.h"
#undef cim_family_os

/* The helpers the two halves share carry the os__ prefix (os_priv.h);
 * the tests call them by their short names. */
#define copy_str os__copy_str
#define trim os__trim
#define set_str os__set_str
#define set_u64 os__set_u64
#define machine_is_64 os__machine_is_64
#define meminfo_read os__meminfo_read
#define cpuinfo_read os__cpuinfo_read
#define kv_file_get os__kv_file_get
#define count_sessions os__count_sessions
#define root_source os__root_source
#define mem_free_kb os__mem_free_kb
#define set_s64 os__set_s64

/* ---- helpers ---------------------------------------------------------- */

/* Property names the provider set on a class that lacks them: each must
 * at least exist in some class of the family (else it is a typo). */
static char missed[128][64];
static size_t nmissed;

static void prop_miss(const struct cim_class *c, const char *p)
{
    (void)c;
    for (size_t k = 0; k < nmissed; k++)
        if (!strcmp(missed[k], p))
            return;
    if (nmissed < sizeof(missed) / sizeof(missed[0]))
        copy_str(missed[nmissed++], sizeof(missed[0]), p);
}

static const struct cim_class *cls(const char *name)
{
    for (const struct cim_class *const *c = test_cim_family_os; *c; c++)
        if (!strcmp((*c)->name, name))
            return *c;
    fail_msg("no class %s", name);
    return NULL;
}

/* All instances of a class, enumerated once. */
struct coll {
    const struct cim_class *cls;
    struct wsm_arena arena;
    struct cim_instance inst[64];
    size_t n;
};

static void collect(const char *name, struct coll *o)
{
    memset(o, 0, sizeof(*o));
    o->cls = cls(name);
    wsm__arena_init(&o->arena);
    struct cim_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    void *it = NULL;
    assert_int_equal(o->cls->open(&ctx, &it), WSM_OK);
    while (it) {
        assert_true(o->n < sizeof(o->inst) / sizeof(o->inst[0]));
        struct cim_instance *i = &o->inst[o->n];
        i->cls = o->cls;
        i->arena = &o->arena;
        i->v = wsm__arena_alloc(&o->arena, o->cls->nprops * sizeof(*i->v));
        assert_non_null(i->v);
        memset(i->v, 0, o->cls->nprops * sizeof(*i->v));
        enum wsm_err e = o->cls->next(it, i);
        if (e == WSM_ERR_NOT_FOUND)
            break;
        assert_int_equal(e, WSM_OK);
        o->n++;
    }
    o->cls->close(it);
    o->cls->close(NULL); /* harmless */
}

static void release(struct coll *o)
{
    wsm__arena_free(&o->arena);
}

static const char *val(const struct coll *o, size_t i, const char *prop)
{
    int k = -1;
    for (size_t j = 0; j < o->cls->nprops; j++)
        if (!strcmp(o->cls->props[j].name, prop))
            k = (int)j;
    if (k < 0)
        fail_msg("%s has no property %s", o->cls->name, prop);
    return o->inst[i].v[k].s;
}

static unsigned long long num(const struct coll *o, size_t i, const char *prop)
{
    const char *s = val(o, i, prop);
    if (!s)
        fail_msg("%s.%s is NULL", o->cls->name, prop);
    return strtoull(s, NULL, 10);
}

static void assert_val(const struct coll *o, size_t i, const char *prop, const char *want)
{
    const char *s = val(o, i, prop);
    if (!want) {
        if (s)
            fail_msg("%s.%s: want NULL, have \"%s\"", o->cls->name, prop, s);
        return;
    }
    if (!s)
        fail_msg("%s.%s: want \"%s\", have NULL", o->cls->name, prop, want);
    if (strcmp(s, want) != 0)
        fail_msg("%s.%s: want \"%s\", have \"%s\"", o->cls->name, prop, want, s);
}

static int digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

static int two(const char *s, int lo, int hi)
{
    if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]))
        return 0;
    int v = (s[0] - '0') * 10 + (s[1] - '0');
    return v >= lo && v <= hi;
}

/* xs:dateTime as DSP0230 wants it, or an xs:duration. */
static int is_datetime(const char *s)
{
    if (s[0] == 'P') {
        if (!s[1])
            return 0;
        for (const char *p = s + 1; *p; p++)
            if (!strchr("0123456789YMDTHS.", *p))
                return 0;
        return 1;
    }
    if (strlen(s) < 20)
        return 0;
    for (int k = 0; k < 4; k++)
        if (!isdigit((unsigned char)s[k]))
            return 0;
    if (s[4] != '-' || !two(s + 5, 1, 12) || s[7] != '-' || !two(s + 8, 1, 31) || s[10] != 'T' ||
        !two(s + 11, 0, 23) || s[13] != ':' || !two(s + 14, 0, 59) || s[16] != ':' ||
        !two(s + 17, 0, 60))
        return 0;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'Z')
        return p[1] == '\0';
    if ((*p == '+' || *p == '-') && two(p + 1, 0, 14) && p[3] == ':' && two(p + 4, 0, 59))
        return p[6] == '\0';
    return 0;
}

/* XML can carry it: UTF-8 without control characters. */
static int is_xml_text(const char *s)
{
    char *copy = strdup(s);
    assert_non_null(copy);
    int changed = clean_text(copy);
    free(copy);
    return !changed;
}

static void check_lexical(const struct cim_class *c, size_t k, const char *s)
{
    const char *name = c->props[k].name;
    static const unsigned long long umax[] = {0xff, 0xffff, 0xffffffff, 0xffffffffffffffffull};
    static const long long smax[] = {0x7f, 0x7fff, 0x7fffffff, 0x7fffffffffffffffll};
    char *end;
    switch (c->props[k].type) {
    case CIM_STRING:
        if (!is_xml_text(s))
            fail_msg("%s.%s: not XML text", c->name, name);
        break;
    case CIM_BOOLEAN:
        if (strcmp(s, "true") && strcmp(s, "false"))
            fail_msg("%s.%s: \"%s\" is not a boolean", c->name, name, s);
        break;
    case CIM_UINT8:
    case CIM_UINT16:
    case CIM_UINT32:
    case CIM_UINT64: {
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (!digits(s) || errno || *end || v > umax[c->props[k].type - CIM_UINT8])
            fail_msg("%s.%s: \"%s\" is not a %d-bit unsigned", c->name, name, s,
                     8 << (c->props[k].type - CIM_UINT8));
        break;
    }
    case CIM_SINT8:
    case CIM_SINT16:
    case CIM_SINT32:
    case CIM_SINT64: {
        errno = 0;
        long long v = strtoll(s, &end, 10);
        long long m = smax[c->props[k].type - CIM_SINT8];
        if (!digits(s[0] == '-' ? s + 1 : s) || errno || *end || v > m || v < -m - 1)
            fail_msg("%s.%s: \"%s\" is not a signed integer of its size", c->name, name, s);
        break;
    }
    case CIM_REAL32:
    case CIM_REAL64:
        strtod(s, &end);
        if (end == s || *end)
            fail_msg("%s.%s: \"%s\" is not a real", c->name, name, s);
        break;
    case CIM_DATETIME:
        if (!is_datetime(s))
            fail_msg("%s.%s: \"%s\" is not a datetime", c->name, name, s);
        break;
    }
}

static void check_instance(const struct cim_instance *i)
{
    const struct cim_class *c = i->cls;
    for (size_t k = 0; k < c->nprops; k++) {
        const struct cim_val *v = &i->v[k];
        if (c->props[k].flags & CIM_KEY) {
            if (!v->s || !v->s[0])
                fail_msg("%s: key %s is NULL or empty", c->name, c->props[k].name);
        }
        if (c->props[k].flags & CIM_ARRAY) {
            if (v->s)
                fail_msg("%s.%s: an array with a scalar value", c->name, c->props[k].name);
            assert_true((v->n == 0) == (v->items == NULL));
            for (size_t j = 0; j < v->n; j++) {
                assert_non_null(v->items[j]);
                check_lexical(c, k, v->items[j]);
            }
        } else {
            if (v->n || v->items)
                fail_msg("%s.%s: a scalar with items", c->name, c->props[k].name);
            if (v->s)
                check_lexical(c, k, v->s);
        }
    }
}

/* The dispatcher's comparison (src/daemon/cimops.c): strings without
 * case, numbers by value. */
static int keys_match(const struct cim_instance *i, const struct wsm_pair *keys, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        size_t k = 0;
        while (k < i->cls->nprops && strcasecmp(i->cls->props[k].name, keys[j].name))
            k++;
        if (k == i->cls->nprops || !i->v[k].s)
            return 0;
        enum cim_type t = i->cls->props[k].type;
        if (t != CIM_STRING && t != CIM_DATETIME && t != CIM_BOOLEAN) {
            if (strtold(i->v[k].s, NULL) != strtold(keys[j].value, NULL))
                return 0;
        } else if (strcasecmp(i->v[k].s, keys[j].value)) {
            return 0;
        }
    }
    return 1;
}

/* A Get: the class's get() if it has one, else a scan, as the dispatcher. */
static enum wsm_err lookup(const struct cim_class *c, const struct wsm_pair *keys, size_t n,
                           struct cim_instance *inst)
{
    struct cim_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    inst->cls = c;
    memset(inst->v, 0, c->nprops * sizeof(*inst->v));
    if (c->get) {
        enum wsm_err e = c->get(&ctx, keys, n, inst);
        return e == WSM_OK && !keys_match(inst, keys, n) ? WSM_ERR_NOT_FOUND : e;
    }
    void *it = NULL;
    enum wsm_err e = c->open(&ctx, &it);
    if (e)
        return e;
    e = WSM_ERR_NOT_FOUND;
    while (it) {
        memset(inst->v, 0, c->nprops * sizeof(*inst->v));
        enum wsm_err r = c->next(it, inst);
        if (r) {
            if (r != WSM_ERR_NOT_FOUND)
                e = r;
            break;
        }
        if (keys_match(inst, keys, n)) {
            e = WSM_OK;
            break;
        }
    }
    c->close(it);
    return e;
}

static int is_bios(const struct cim_class *c)
{
    return !strcmp(c->name, "Win32_BIOS") || !strcmp(c->name, "CIM_BIOSElement");
}

static int have_dmi(void)
{
    struct stat st;
    return stat("/sys/class/dmi/id", &st) == 0 && S_ISDIR(st.st_mode);
}

/* The whole of a small file, or NULL. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 20);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* PRETTY_NAME as the test reads it itself: the same os-release(5) rules,
 * written without the provider's parser. */
static void pretty_name(char *out, size_t n)
{
    char *text = slurp("/etc/os-release");
    if (!text)
        text = slurp("/usr/lib/os-release");
    snprintf(out, n, "Linux");
    if (!text)
        return;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "PRETTY_NAME=", 12) != 0)
            continue;
        char *v = line + 12;
        size_t len = strlen(v);
        if (len >= 2 && (v[0] == '"' || v[0] == '\'') && v[len - 1] == v[0]) {
            v[len - 1] = '\0';
            v++;
        }
        if (*v)
            snprintf(out, n, "%s", v);
    }
    free(text);
}

static unsigned long long memtotal_kb(void)
{
    char *text = slurp("/proc/meminfo");
    assert_non_null(text);
    char *p = strstr(text, "MemTotal:");
    assert_non_null(p);
    unsigned long long kb = strtoull(p + 9, NULL, 10);
    free(text);
    return kb;
}

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

/* ---- a fixture /sys: SMBIOS, DMI, ACPI, CPU topology --------------------- */

struct fixture {
    char dir[256];
};

static void mkdirs(const char *root, const char *rel)
{
    char path[1024];
    if (!root || !rel) /* (keeps gcc's format-truncation analysis quiet) */
        return;
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    mkdir(path, 0755);
}

static void put(const char *root, const char *rel, const void *data, size_t n)
{
    char path[1024];
    assert_non_null(root);
    assert_non_null(rel);
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    mkdirs(root, path + strlen(root) + 1);
    *slash = '/';
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void puts_(const char *root, const char *rel, const char *text)
{
    put(root, rel, text, strlen(text));
}

static int fx_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    if (test_tmpdir_make(f->dir, sizeof(f->dir), "os")) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fixture *f = *state;
    os_test_sysroot[0] = '\0';
    os_test_hostroot[0] = '\0';
    test_tmpdir_remove(f->dir);
    free(f);
    return 0;
}

/* A structure: formatted area of len bytes (type, len, handle set here),
 * then the strings, then the double NUL. */
static size_t smbios(unsigned char *out, size_t cap, unsigned type, size_t len,
                     const unsigned char *fmt, const char *const *strs, size_t nstr)
{
    assert_true(len <= cap);
    memcpy(out, fmt, len);
    out[0] = (unsigned char)type;
    out[1] = (unsigned char)len;
    size_t n = len;
    for (size_t k = 0; k < nstr; k++) {
        size_t sl = strlen(strs[k]) + 1;
        assert_true(n + sl < cap);
        memcpy(out + n, strs[k], sl);
        n += sl;
    }
    if (nstr == 0)
        out[n++] = '\0';
    out[n++] = '\0';
    return n;
}

static void le16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void le32(unsigned char *p, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        p[k] = (unsigned char)(v >> (8 * k));
}

/* A DDR4 DIMM as SMBIOS 3.3 describes it: 32 GiB through Extended Size. */
static size_t dimm_ddr4(unsigned char *out, size_t cap)
{
    unsigned char f[0x5c];
    memset(f, 0, sizeof(f));
    le16(f + 0x08, 72);
    le16(f + 0x0a, 64);
    le16(f + 0x0c, 0x7fff);
    f[0x0e] = 0x09; /* DIMM */
    f[0x10] = 1;
    f[0x11] = 2;
    f[0x12] = 0x1a; /* DDR4 */
    le16(f + 0x13, 0x0080);
    le16(f + 0x15, 3200);
    f[0x17] = 3;
    f[0x18] = 4;
    f[0x1a] = 5;
    f[0x1b] = 0x02;
    le32(f + 0x1c, 32768);
    le16(f + 0x20, 2933);
    le16(f + 0x22, 1200);
    le16(f + 0x24, 1200);
    le16(f + 0x26, 1200);
    static const char *const s[] = {"DIMM_A1", "BANK 0", "Samsung", "12345678",
                                    "M393A4K40DB3-CWE    "};
    return smbios(out, cap, 17, sizeof(f), f, s, 5);
}

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
    for (const struct cim_class *const *c = test_cim_family_os; *c; c++) {
        if (strncmp((*c)->name, "Win32_", 6))
            continue;
        for (size_t k = 1; k < (*c)->nprops; k++)
            if (strcasecmp((*c)->props[k - 1].name, (*c)->props[k].name) >= 0)
                fail_msg("%s: %s before %s", (*c)->name, (*c)->props[k - 1].name,
                         (*c)->props[k].name);
    }
    /* Every property the Windows class documents (the ones of 2024). */
    assert_int_equal(cls("Win32_OperatingSystem")->nprops, 66);
    assert_int_equal(cls("Win32_ComputerSystem")->nprops, 64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_family_shape),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_enumerate_all),
        cmocka_unit_test(test_operating_system),
        cmocka_unit_test(test_computer_system),
        cmocka_unit_test(test_processor),
        cmocka_unit_test(test_physical_memory),
        cmocka_unit_test(test_lookup_by_keys),
        cmocka_unit_test_setup_teardown(test_fixture_firmware, fx_setup, fx_teardown),
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
        cmocka_unit_test_setup_teardown(test_fixture_host, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_put_description, fx_setup, fx_teardown),
        cmocka_unit_test(test_os_parsers),
        cmocka_unit_test(test_windows_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
