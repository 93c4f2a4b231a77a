/* The host itself as CIM classes: processors, one instance per package,
 * in the WMI form (Win32_Processor) and the DMTF form (CIM_Processor),
 * from /proc/cpuinfo and the sysfs topology (hw.c), cpufreq, the sysfs
 * caches, the SMBIOS processor structures (type 4) and CPUID. os.c lists
 * the class in the family.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "cim.h"
#include "os_priv.h"

static int int_cmp(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return x < y ? -1 : x > y;
}

/* Sum of the distinct caches of one level over a package's CPUs, in KB
 * (sysfs cache/indexN; a cache shared by several CPUs counts once). */
static int package_cache_kb(const struct topo_cpu *c, size_t n, int level, unsigned long long *out)
{
    unsigned long long total = 0;
    int found = 0;
    uint64_t seen[512];
    size_t nseen = 0;
    for (size_t k = 0; k < n; k++) {
        for (int idx = 0; idx < 16; idx++) {
            char path[512], buf[256];
            int lv;
            os__sys_path(path, sizeof(path), SYS_CPU "/cpu%d/cache/index%d/level", c[k].cpu, idx);
            if (os__read_small(path, buf, sizeof(buf)) < 0)
                break;
            if (os__parse_int(buf, 10, &lv) < 0 || lv != level)
                continue;
            os__sys_path(path, sizeof(path), SYS_CPU "/cpu%d/cache/index%d/shared_cpu_list",
                         c[k].cpu, idx);
            if (os__read_small(path, buf, sizeof(buf)) < 0)
                snprintf(buf, sizeof(buf), "cpu%d", c[k].cpu);
            /* One cache instance: its level, type and the CPUs sharing it. */
            char type[32] = "";
            os__sys_path(path, sizeof(path), SYS_CPU "/cpu%d/cache/index%d/type", c[k].cpu, idx);
            os__read_small(path, type, sizeof(type));
            uint64_t h = 1469598103934665603ull;
            for (const char *p = buf; *p; p++)
                h = (h ^ (unsigned char)*p) * 1099511628211ull;
            for (const char *p = type; *p; p++)
                h = (h ^ (unsigned char)*p) * 1099511628211ull;
            size_t s = 0;
            while (s < nseen && seen[s] != h)
                s++;
            if (s < nseen)
                continue;
            if (nseen < sizeof(seen) / sizeof(seen[0]))
                seen[nseen++] = h;
            os__sys_path(path, sizeof(path), SYS_CPU "/cpu%d/cache/index%d/size", c[k].cpu, idx);
            if (os__read_small(path, buf, sizeof(buf)) <= 0)
                continue;
            char *end;
            unsigned long long sz = strtoull(buf, &end, 10);
            if (end == buf)
                continue;
            if (*end == 'M')
                sz *= 1024;
            else if (*end == 'G')
                sz *= 1024 * 1024;
            else if (*end != 'K' && *end != '\0')
                continue;
            if (*end == '\0')
                sz /= 1024; /* plain bytes */
            total += sz;
            found = 1;
        }
    }
    if (!found)
        return -1;
    *out = total;
    return 0;
}

/* ---- Win32_Processor / CIM_Processor: one instance per package ------- */

static const struct cim_prop win32_cpu_props[] = {
    {"AddressWidth", CIM_UINT16, 0},
    {"Architecture", CIM_UINT16, 0},
    {"AssetTag", CIM_STRING, 0},
    {"Availability", CIM_UINT16, 0},
    {"Caption", CIM_STRING, 0},
    {"Characteristics", CIM_UINT32, 0},
    {"ConfigManagerErrorCode", CIM_UINT32, 0},
    {"ConfigManagerUserConfig", CIM_BOOLEAN, 0},
    {"CpuStatus", CIM_UINT16, 0},
    {"CreationClassName", CIM_STRING, 0},
    {"CurrentClockSpeed", CIM_UINT32, 0},
    {"CurrentVoltage", CIM_UINT16, 0},
    {"DataWidth", CIM_UINT16, 0},
    {"Description", CIM_STRING, 0},
    {"DeviceID", CIM_STRING, CIM_KEY},
    {"ErrorCleared", CIM_BOOLEAN, 0},
    {"ErrorDescription", CIM_STRING, 0},
    {"ExtClock", CIM_UINT32, 0},
    {"Family", CIM_UINT16, 0},
    {"InstallDate", CIM_DATETIME, 0},
    {"L2CacheSize", CIM_UINT32, 0},
    {"L2CacheSpeed", CIM_UINT32, 0},
    {"L3CacheSize", CIM_UINT32, 0},
    {"L3CacheSpeed", CIM_UINT32, 0},
    {"LastErrorCode", CIM_UINT32, 0},
    {"Level", CIM_UINT16, 0},
    {"LoadPercentage", CIM_UINT16, 0},
    {"Manufacturer", CIM_STRING, 0},
    {"MaxClockSpeed", CIM_UINT32, 0},
    {"Name", CIM_STRING, 0},
    {"NumberOfCores", CIM_UINT32, 0},
    {"NumberOfEnabledCore", CIM_UINT32, 0},
    {"NumberOfLogicalProcessors", CIM_UINT32, 0},
    {"OtherFamilyDescription", CIM_STRING, 0},
    {"PartNumber", CIM_STRING, 0},
    {"PNPDeviceID", CIM_STRING, 0},
    {"PowerManagementCapabilities", CIM_UINT16, CIM_ARRAY},
    {"PowerManagementSupported", CIM_BOOLEAN, 0},
    {"ProcessorId", CIM_STRING, 0},
    {"ProcessorType", CIM_UINT16, 0},
    {"Revision", CIM_UINT16, 0},
    {"Role", CIM_STRING, 0},
    {"SecondLevelAddressTranslationExtensions", CIM_BOOLEAN, 0},
    {"SerialNumber", CIM_STRING, 0},
    {"SocketDesignation", CIM_STRING, 0},
    {"Status", CIM_STRING, 0},
    {"StatusInfo", CIM_UINT16, 0},
    {"Stepping", CIM_STRING, 0},
    {"SystemCreationClassName", CIM_STRING, 0},
    {"SystemName", CIM_STRING, 0},
    {"ThreadCount", CIM_UINT32, 0},
    {"UniqueId", CIM_STRING, 0},
    {"UpgradeMethod", CIM_UINT16, 0},
    {"Version", CIM_STRING, 0},
    {"VirtualizationFirmwareEnabled", CIM_BOOLEAN, 0},
    {"VMMonitorModeExtensions", CIM_BOOLEAN, 0},
    {"VoltageCaps", CIM_UINT32, 0},
};

static const struct cim_prop cim_cpu_props[] = {
    {"SystemCreationClassName", CIM_STRING, CIM_KEY},
    {"SystemName", CIM_STRING, CIM_KEY},
    {"CreationClassName", CIM_STRING, CIM_KEY},
    {"DeviceID", CIM_STRING, CIM_KEY},
    {"ElementName", CIM_STRING, 0},
    {"Name", CIM_STRING, 0},
    {"Caption", CIM_STRING, 0},
    {"Role", CIM_STRING, 0},
    {"Family", CIM_UINT16, 0},
    {"UpgradeMethod", CIM_UINT16, 0},
    {"MaxClockSpeed", CIM_UINT32, 0},
    {"CurrentClockSpeed", CIM_UINT32, 0},
    {"ExternalBusClockSpeed", CIM_UINT32, 0},
    {"DataWidth", CIM_UINT16, 0},
    {"AddressWidth", CIM_UINT16, 0},
    {"LoadPercentage", CIM_UINT16, 0},
    {"Stepping", CIM_STRING, 0},
    {"NumberOfEnabledCores", CIM_UINT16, 0},
    {"CPUStatus", CIM_UINT16, 0},
    {"EnabledState", CIM_UINT16, 0},
    {"OperationalStatus", CIM_UINT16, CIM_ARRAY},
    {"Status", CIM_STRING, 0},
};

/* What SMBIOS type 4 says about one populated socket. */
struct dmi_cpu {
    char socket[64], manufacturer[64], version[96], serial[64], part[64];
    int family, upgrade;                  /* -1: unknown */
    unsigned ext_clock, max_mhz, cur_mhz; /* 0: unknown */
};

/* Parses one raw type 4 structure; 0 if it is a populated socket. */
static int dmi_cpu_parse(const unsigned char *r, size_t len, struct dmi_cpu *d)
{
    memset(d, 0, sizeof(*d));
    d->family = d->upgrade = -1;
    if (len < 0x1a || r[0] != 4 || r[1] < 0x1a || r[1] > len)
        return -1;
    if (!(r[0x18] & 0x40))
        return -1; /* socket not populated */
    os__dmi_str(r, len, r[0x04], d->socket, sizeof(d->socket));
    os__dmi_str(r, len, r[0x07], d->manufacturer, sizeof(d->manufacturer));
    os__dmi_str(r, len, r[0x10], d->version, sizeof(d->version));
    unsigned fam = r[0x06];
    if (fam == 0xfe && r[1] >= 0x2a)
        fam = os__dmi_u16(r, 0x28);
    if (fam != 0x02 && fam != 0 && fam != 0xfe) /* 2: Unknown */
        d->family = (int)fam;
    d->ext_clock = os__dmi_u16(r, 0x12);
    d->max_mhz = os__dmi_u16(r, 0x14);
    d->cur_mhz = os__dmi_u16(r, 0x16);
    if (r[0x19] != 0)
        d->upgrade = r[0x19];
    if (r[1] >= 0x23) {
        os__dmi_str(r, len, r[0x20], d->serial, sizeof(d->serial));
        os__dmi_str(r, len, r[0x22], d->part, sizeof(d->part));
    }
    return 0;
}

struct cpu_it {
    struct cpurec *recs, global;
    size_t nrecs;
    struct topo topo;
    struct dmi_cpu *dmi;
    size_t ndmi;
    size_t next;
};

static void cpu_close(void *it)
{
    struct cpu_it *c = it;
    if (!c)
        return;
    free(c->recs);
    os__topo_free(&c->topo);
    free(c->dmi);
    free(c);
}

static enum wsm_err cpu_open(const struct cim_ctx *ctx, void **it)
{
    (void)ctx;
    struct cpu_it *c = calloc(1, sizeof(*c));
    if (!c)
        return WSM_ERR_NOMEM;
    char cpuinfo[512];
    if (os__cpuinfo_read(os__host_path(cpuinfo, sizeof(cpuinfo), "/proc/cpuinfo"), &c->recs,
                         &c->nrecs, &c->global) == -2)
        goto nomem;
    if (os__topo_read(&c->topo, c->recs, c->nrecs) < 0)
        goto nomem;
    unsigned idx[64];
    size_t n = os__dmi_list(4, idx, 64);
    if (n) {
        c->dmi = calloc(n, sizeof(*c->dmi));
        if (!c->dmi)
            goto nomem;
        unsigned char raw[4096];
        for (size_t k = 0; k < n; k++) {
            ssize_t len = os__dmi_raw(4, idx[k], raw, sizeof(raw));
            if (len > 0 && dmi_cpu_parse(raw, (size_t)len, &c->dmi[c->ndmi]) == 0)
                c->ndmi++;
        }
    }
    *it = c;
    return WSM_OK;
nomem:
    cpu_close(c);
    return WSM_ERR_NOMEM;
}

static const char *arm_implementer(int id)
{
    static const struct {
        int id;
        const char *name;
    } t[] = {{0x41, "ARM"},       {0x42, "Broadcom"}, {0x43, "Cavium"}, {0x46, "Fujitsu"},
             {0x48, "HiSilicon"}, {0x4e, "NVIDIA"},   {0x50, "APM"},    {0x51, "Qualcomm"},
             {0x53, "Samsung"},   {0x56, "Marvell"},  {0x61, "Apple"},  {0x69, "Intel"},
             {0xc0, "Ampere"}};
    for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++)
        if (t[k].id == id)
            return t[k].name;
    return NULL;
}

/* cpufreq value of a CPU in MHz (the files hold kHz). */
static int cpufreq_mhz(int cpu, const char *file, unsigned long long *mhz)
{
    char path[512];
    unsigned long long khz;
    os__sys_path(path, sizeof(path), SYS_CPU "/cpu%d/cpufreq/%s", cpu, file);
    if (os__read_ull(path, &khz) < 0 || khz == 0)
        return -1;
    *mhz = (khz + 500) / 1000;
    return 0;
}

/* The 1-minute load average as a percentage of the online CPUs. */
static int load_percent(unsigned *out)
{
    char buf[128];
    if (os__read_small("/proc/loadavg", buf, sizeof(buf)) <= 0)
        return -1;
    char *end;
    double l = strtod(buf, &end);
    long on = sysconf(_SC_NPROCESSORS_ONLN);
    if (end == buf || !(l >= 0) || on <= 0)
        return -1;
    double pct = l * 100.0 / (double)on;
    *out = pct >= 100.0 ? 100u : (unsigned)(pct + 0.5);
    return 0;
}

static void fill_cpu(struct cpu_it *c, size_t p, struct cim_instance *i)
{
    int wmi = os__is_wmi(i);
    const struct topo_cpu *cpus = &c->topo.c[c->topo.pkg_start[p]];
    size_t ncpu = c->topo.pkg_start[p + 1] - c->topo.pkg_start[p];
    const struct cpurec *r = os__cpurec_find(c->recs, c->nrecs, cpus[0].cpu);
    const struct dmi_cpu *d = p < c->ndmi ? &c->dmi[p] : NULL;
    char host[256];
    struct utsname u;
    int have_u = uname(&u) == 0;
    cim_system_name(host, sizeof(host));

    os__set_fmt(i, "DeviceID", "CPU%zu", p);
    os__set_str(i, "CreationClassName", wmi ? "Win32_Processor" : "CIM_Processor");
    os__set_str(i, "SystemCreationClassName", wmi ? "Win32_ComputerSystem" : "CIM_ComputerSystem");
    os__set_str(i, "SystemName", host);

    const char *name = r && r->model_name[0] ? r->model_name
                       : d && d->version[0]  ? d->version
                                             : NULL;
    os__set_str(i, "Name", name);
    os__set_str(i, "ElementName", name);
    const char *vendor = r && r->vendor[0] ? r->vendor : NULL;
    if (!vendor && r && r->implementer >= 0)
        vendor = arm_implementer(r->implementer);
    if (!vendor && d && d->manufacturer[0])
        vendor = d->manufacturer;
    os__set_str(i, "Manufacturer", vendor);

    /* x86: "Intel64 Family 6 Model 158 Stepping 10", as Windows writes it. */
    char caption[128] = "";
    int arch = have_u ? os__wmi_architecture(u.machine) : -1;
    if (r && r->family >= 0 && r->model >= 0 && r->stepping >= 0 && (arch == 9 || arch == 0)) {
        const char *prefix = arch == 0                                ? "x86"
                             : strcmp(r->vendor, "GenuineIntel") == 0 ? "Intel64"
                                                                      : "AMD64";
        snprintf(caption, sizeof(caption), "%s Family %d Model %d Stepping %d", prefix, r->family,
                 r->model, r->stepping);
    }
    os__set_str(i, "Caption", caption[0] ? caption : name);
    os__set_str(i, "Description", caption[0] ? caption : name);
    if (r && r->family >= 0)
        os__set_u64(i, "Level", (uint64_t)r->family);
    if (r && r->stepping >= 0)
        os__set_fmt(i, "Stepping", "%d", r->stepping);
    /* x86: the model in the high byte, the stepping in the low one, as
     * Windows packs Revision. */
    if (caption[0] && r->model <= 0xff && r->stepping <= 0xff)
        os__set_u64(i, "Revision", (uint64_t)(r->model << 8 | r->stepping));

    /* Cores: distinct core ids; unknown if any CPU lacks one. */
    int cores_known = 1;
    size_t ncores = 0;
    int *core = malloc(ncpu * sizeof(*core));
    for (size_t k = 0; core && k < ncpu; k++) {
        core[k] = cpus[k].core;
        if (core[k] < 0)
            cores_known = 0;
    }
    if (core && cores_known) {
        qsort(core, ncpu, sizeof(*core), int_cmp);
        for (size_t k = 0; k < ncpu; k++)
            if (k == 0 || core[k] != core[k - 1])
                ncores++;
    }
    if (!core)
        cores_known = 0;
    free(core);
    if (cores_known) {
        os__set_u64(i, "NumberOfCores", ncores);
        os__set_u64(i, "NumberOfEnabledCore", ncores);
        os__set_u64(i, "NumberOfEnabledCores", ncores);
    }
    os__set_u64(i, "NumberOfLogicalProcessors", ncpu);
    os__set_u64(i, "ThreadCount", ncpu);

    /* Clocks: cpufreq; else SMBIOS; else, where no cpufreq driver scales
     * the clock, the fixed frequency cpuinfo reports. */
    unsigned long long mhz;
    char path[512];
    int have_cpufreq =
        access(os__sys_path(path, sizeof(path), SYS_CPU "/cpu%d/cpufreq", cpus[0].cpu), F_OK) == 0;
    if (cpufreq_mhz(cpus[0].cpu, "cpuinfo_max_freq", &mhz) == 0)
        os__set_u64(i, "MaxClockSpeed", mhz);
    else if (d && d->max_mhz)
        os__set_u64(i, "MaxClockSpeed", d->max_mhz);
    else if (!have_cpufreq && r && r->mhz > 0)
        os__set_u64(i, "MaxClockSpeed", (uint64_t)(r->mhz + 0.5));
    if (cpufreq_mhz(cpus[0].cpu, "scaling_cur_freq", &mhz) == 0)
        os__set_u64(i, "CurrentClockSpeed", mhz);
    else if (r && r->mhz > 0)
        os__set_u64(i, "CurrentClockSpeed", (uint64_t)(r->mhz + 0.5));
    else if (d && d->cur_mhz)
        os__set_u64(i, "CurrentClockSpeed", d->cur_mhz);
    if (d && d->ext_clock) {
        os__set_u64(i, "ExtClock", d->ext_clock);
        os__set_u64(i, "ExternalBusClockSpeed", d->ext_clock);
    }

    if (have_u) {
        unsigned w = os__machine_is_64(u.machine) ? 64 : 32;
        os__set_u64(i, "AddressWidth", w);
        os__set_u64(i, "DataWidth", w);
        if (arch >= 0)
            os__set_u64(i, "Architecture", (uint64_t)arch);
    }
    if (d && d->family >= 0)
        os__set_u64(i, "Family", (uint64_t)d->family);
    if (d && d->upgrade >= 0)
        os__set_u64(i, "UpgradeMethod", (uint64_t)d->upgrade);
    if (wmi) {
        unsigned long long kb;
        if (package_cache_kb(cpus, ncpu, 2, &kb) == 0)
            os__set_u64(i, "L2CacheSize", kb);
        if (package_cache_kb(cpus, ncpu, 3, &kb) == 0)
            os__set_u64(i, "L3CacheSize", kb);
    }
    unsigned load;
    if (load_percent(&load) == 0)
        os__set_u64(i, "LoadPercentage", load);

#if defined(__x86_64__) || defined(__i386__)
    /* As Windows shows it: CPUID leaf 1, EDX then EAX. */
    unsigned ea, eb, ec, ed;
    if (wmi && __get_cpuid(1, &ea, &eb, &ec, &ed))
        os__set_fmt(i, "ProcessorId", "%08X%08X", ed, ea);
#endif
    os__set_u64(i, "ProcessorType", 3); /* Central Processor */
    os__set_str(i, "Role", wmi ? "CPU" : "Central Processor");
    if (d) {
        os__set_str(i, "SocketDesignation", d->socket[0] ? d->socket : NULL);
        os__set_str(i, "SerialNumber", d->serial[0] ? d->serial : NULL);
        os__set_str(i, "PartNumber", d->part[0] ? d->part : NULL);
    }
    if (r && r->virt >= 0)
        os__set_bool(i, "VMMonitorModeExtensions", r->virt);
    /* EPT (Intel) or NPT (AMD): the CPU's second-level address translation. */
    if (r && r->slat >= 0)
        os__set_bool(i, "SecondLevelAddressTranslationExtensions", r->slat);
    os__set_u64(i, "Availability", 3); /* Running/Full Power: its CPUs are online */
    /* Every package listed has online CPUs. */
    os__set_u64(i, "CpuStatus", 1); /* CPU Enabled */
    os__set_u64(i, "CPUStatus", 1);
    os__set_u64(i, "StatusInfo", 3); /* Enabled */
    os__set_u64(i, "EnabledState", 2);
    os__set_one(i, "OperationalStatus", "2");
    os__set_str(i, "Status", "OK");
}

static enum wsm_err cpu_next(void *it, struct cim_instance *inst)
{
    struct cpu_it *c = it;
    if (!c || c->next >= c->topo.npkg)
        return WSM_ERR_NOT_FOUND;
    fill_cpu(c, c->next++, inst);
    return WSM_OK;
}

/* ---- the classes (listed in os.c's cim_family_os) ------------------- */

const struct cim_class os__win32_cpu =
    CLASS("Win32_Processor", win32_cpu_props, cpu_open, cpu_next, cpu_close);
const struct cim_class os__cim_cpu =
    CLASS("CIM_Processor", cim_cpu_props, cpu_open, cpu_next, cpu_close);
