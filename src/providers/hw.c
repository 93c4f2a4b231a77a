/* The host itself as CIM classes, part two: processors, physical memory
 * and BIOS, each in its WMI form (Win32_X) and its DMTF form (CIM_X),
 * with the readers they need: /proc/cpuinfo, sysfs CPU topology,
 * cpufreq and caches, DMI, the raw SMBIOS structures when they are
 * readable (root) and the ACPI root table. os.c has the other classes of
 * the family, the helpers both parts share (os_priv.h) and the family's
 * class list.
 *
 * Every reader is bounded (fixed buffers, capped line lengths and record
 * counts) and treats odd content as missing data, never as a crash.
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

#define SYS_CPU "/sys/devices/system/cpu"
#define DMI_ID "/sys/class/dmi/id"
#define DMI_ENTRIES "/sys/firmware/dmi/entries"
#define SMBIOS_EP "/sys/firmware/dmi/tables/smbios_entry_point"

#define MAX_CPUS 65536 /* records read from cpuinfo / the online list */
#define MAX_DMI 1024   /* SMBIOS structures of one type */

/* ---- small readers -------------------------------------------------- */

/* Binary variant: up to n bytes, no terminator. -1 if unreadable. */
static ssize_t read_bin(const char *path, unsigned char *buf, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len < n) {
        ssize_t r = read(fd, buf + len, n - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    return (ssize_t)len;
}

/* A sysfs file holding one unsigned decimal number. */
static int read_ull(const char *path, unsigned long long *out)
{
    char buf[64], *end;
    if (os__read_small(path, buf, sizeof(buf)) <= 0 || !isdigit((unsigned char)buf[0]))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* ---- CPUs: /proc/cpuinfo and sysfs topology -------------------------- */

static void cpurec_init(struct cpurec *r, int cpu)
{
    memset(r, 0, sizeof(*r));
    r->cpu = cpu;
    r->phys_id = r->core_id = r->family = r->model = r->stepping = r->implementer = -1;
    r->hypervisor = r->virt = -1;
}

static int has_word(const char *list, const char *w)
{
    size_t wl = strlen(w);
    for (const char *p = list; (p = strstr(p, w)); p += wl)
        if ((p == list || p[-1] == ' ' || p[-1] == '\t') && (p[wl] == '\0' || p[wl] == ' '))
            return 1;
    return 0;
}

static void cpurec_field(struct cpurec *r, const char *k, const char *v)
{
    if (strcmp(k, "vendor_id") == 0) {
        os__copy_str(r->vendor, sizeof(r->vendor), v);
    } else if (strcmp(k, "model name") == 0 || (strcmp(k, "cpu") == 0 && !r->model_name[0]) ||
               (strcmp(k, "Processor") == 0 && !r->model_name[0])) {
        os__copy_str(r->model_name, sizeof(r->model_name), v);
    } else if (strcmp(k, "cpu MHz") == 0) {
        char *end;
        double mhz = strtod(v, &end);
        if (end != v && mhz > 0 && mhz < 1e6)
            r->mhz = mhz;
    } else if (strcmp(k, "cpu family") == 0) {
        os__parse_int(v, 10, &r->family);
    } else if (strcmp(k, "model") == 0) {
        os__parse_int(v, 10, &r->model);
    } else if (strcmp(k, "stepping") == 0) {
        os__parse_int(v, 10, &r->stepping);
    } else if (strcmp(k, "physical id") == 0) {
        os__parse_int(v, 10, &r->phys_id);
    } else if (strcmp(k, "core id") == 0) {
        os__parse_int(v, 10, &r->core_id);
    } else if (strcmp(k, "CPU implementer") == 0) {
        os__parse_int(v, 0, &r->implementer);
    } else if (strcmp(k, "flags") == 0) {
        r->hypervisor = (signed char)has_word(v, "hypervisor");
        r->virt = (signed char)(has_word(v, "vmx") || has_word(v, "svm"));
    }
}

/* Parses a cpuinfo file: one record per "processor" line (*recs, malloc),
 * and what comes before the first one (machine-wide lines on some
 * architectures) into *global. -1 if unreadable, -2 if out of memory. */
int os__cpuinfo_read(const char *path, struct cpurec **recs, size_t *nrecs, struct cpurec *global)
{
    *recs = NULL;
    *nrecs = 0;
    cpurec_init(global, -1);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    struct cpurec *v = NULL, *cur = global;
    size_t n = 0, alloc = 0;
    char line[8192];
    int rc = 0;
    for (long lines = 0; lines < MAX_LINES && os__read_line(f, line, sizeof(line)); lines++) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        char *k = os__trim(line), *val = os__trim(colon + 1);
        if (strcmp(k, "processor") == 0) {
            int cpu;
            if (os__parse_int(val, 10, &cpu) < 0 || n >= MAX_CPUS) {
                cur = global; /* not a CPU number: not a record */
                continue;
            }
            if (n == alloc) {
                size_t na = alloc ? alloc * 2 : 16;
                struct cpurec *nv = realloc(v, na * sizeof(*nv));
                if (!nv) {
                    rc = -1;
                    break;
                }
                v = nv;
                alloc = na;
            }
            cur = &v[n++];
            cpurec_init(cur, cpu);
            continue;
        }
        cpurec_field(cur, k, val);
    }
    fclose(f);
    if (rc < 0) {
        free(v);
        return -2;
    }
    /* Machine-wide lines fill what the records lack. */
    for (size_t k = 0; k < n; k++) {
        if (!v[k].vendor[0])
            os__copy_str(v[k].vendor, sizeof(v[k].vendor), global->vendor);
        if (!v[k].model_name[0])
            os__copy_str(v[k].model_name, sizeof(v[k].model_name), global->model_name);
        if (v[k].mhz == 0)
            v[k].mhz = global->mhz;
    }
    *recs = v;
    *nrecs = n;
    return 0;
}

static const struct cpurec *cpurec_find(const struct cpurec *v, size_t n, int cpu)
{
    if (cpu >= 0 && (size_t)cpu < n && v[cpu].cpu == cpu)
        return &v[cpu];
    for (size_t k = 0; k < n; k++)
        if (v[k].cpu == cpu)
            return &v[k];
    return NULL;
}

/* A CPU list in the kernel's format ("0-3,8,10-11") into out (at most
 * max ids). Returns the count, or -1 if the syntax is wrong. */
static long parse_cpu_list(const char *s, int *out, size_t max)
{
    size_t n = 0;
    while (*s) {
        int a, b;
        char *end;
        if (!isdigit((unsigned char)*s))
            return -1;
        errno = 0;
        long x = strtol(s, &end, 10);
        if (errno || x > 0x7fffffff)
            return -1;
        a = b = (int)x;
        s = end;
        if (*s == '-') {
            s++;
            if (!isdigit((unsigned char)*s))
                return -1;
            x = strtol(s, &end, 10);
            if (errno || x > 0x7fffffff || x < a)
                return -1;
            b = (int)x;
            s = end;
        }
        for (long c = a; c <= b; c++) {
            if (n >= max)
                return -1;
            out[n++] = (int)c;
        }
        if (*s == ',')
            s++;
        else if (*s)
            return -1;
    }
    return (long)n;
}

void os__topo_free(struct topo *t)
{
    free(t->c);
    free(t->pkg_start);
    memset(t, 0, sizeof(*t));
}

static int int_cmp(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return x < y ? -1 : x > y;
}

static int topo_cmp(const void *a, const void *b)
{
    const struct topo_cpu *x = a, *y = b;
    if (x->pkg != y->pkg)
        return x->pkg < y->pkg ? -1 : 1;
    return x->cpu < y->cpu ? -1 : x->cpu > y->cpu;
}

static int sysfs_cpu_int(int cpu, const char *file, int *out)
{
    char path[512], buf[32];
    if (os__read_small(os__sys_path(path, sizeof(path), SYS_CPU "/cpu%d/%s", cpu, file), buf,
                       sizeof(buf)) <= 0)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(buf, &end, 10);
    if (errno || *end || v < -1 || v > 0x7fffffff)
        return -1;
    *out = (int)v;
    return 0;
}

/* The online CPUs grouped by physical package (socket). The online list
 * comes from sysfs, else from the cpuinfo records, else 0..N-1; package
 * and core ids from sysfs topology, else from cpuinfo. */
int os__topo_read(struct topo *t, const struct cpurec *recs, size_t nrecs)
{
    memset(t, 0, sizeof(*t));
    int *ids = malloc(MAX_CPUS * sizeof(*ids));
    char *list = malloc(65536);
    if (!ids || !list) {
        free(ids);
        free(list);
        return -1;
    }
    long n = -1;
    char path[512];
    if (os__read_small(os__sys_path(path, sizeof(path), SYS_CPU "/online"), list, 65536) > 0)
        n = parse_cpu_list(list, ids, MAX_CPUS);
    free(list);
    if (n <= 0 && nrecs) {
        for (n = 0; (size_t)n < nrecs; n++)
            ids[n] = recs[n].cpu;
    }
    if (n <= 0) {
        long on = sysconf(_SC_NPROCESSORS_ONLN);
        if (on <= 0)
            on = 1;
        for (n = 0; n < on && n < MAX_CPUS; n++)
            ids[n] = (int)n;
    }
    t->c = malloc((size_t)n * sizeof(*t->c));
    t->pkg_start = malloc(((size_t)n + 1) * sizeof(*t->pkg_start));
    if (!t->c || !t->pkg_start) {
        free(ids);
        os__topo_free(t);
        return -1;
    }
    t->n = (size_t)n;
    for (size_t k = 0; k < t->n; k++) {
        struct topo_cpu *c = &t->c[k];
        const struct cpurec *r = cpurec_find(recs, nrecs, ids[k]);
        c->cpu = ids[k];
        if (sysfs_cpu_int(c->cpu, "topology/physical_package_id", &c->pkg) < 0)
            c->pkg = r && r->phys_id >= 0 ? r->phys_id : 0;
        if (c->pkg < 0)
            c->pkg = 0; /* -1: the kernel knows no packages, so there is one */
        if (sysfs_cpu_int(c->cpu, "topology/core_id", &c->core) < 0)
            c->core = r ? r->core_id : -1;
    }
    free(ids);
    qsort(t->c, t->n, sizeof(*t->c), topo_cmp);
    for (size_t k = 0; k < t->n; k++)
        if (k == 0 || t->c[k].pkg != t->c[k - 1].pkg)
            t->pkg_start[t->npkg++] = k;
    t->pkg_start[t->npkg] = t->n;
    return 0;
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

/* ---- SMBIOS structures (/sys/firmware/dmi/entries, root only) -------- */

/* String number idx (1-based) of a raw SMBIOS structure, trimmed; NULL
 * if absent, empty, or outside the buffer. */
static const char *dmi_str(const unsigned char *raw, size_t len, unsigned idx, char *out, size_t n)
{
    if (idx == 0 || len < 2 || raw[1] > len || n == 0)
        return NULL;
    size_t p = raw[1];
    for (unsigned k = 1; p < len; k++) {
        size_t e = p;
        while (e < len && raw[e])
            e++;
        if (e >= len)
            return NULL; /* unterminated */
        if (e == p)
            return NULL; /* the double NUL: no more strings */
        if (k == idx) {
            size_t sl = e - p;
            if (sl >= n)
                sl = n - 1;
            memcpy(out, raw + p, sl);
            out[sl] = '\0';
            char *t = os__trim(out);
            if (t != out)
                memmove(out, t, strlen(t) + 1);
            return out[0] ? out : NULL;
        }
        p = e + 1;
    }
    return NULL;
}

static unsigned dmi_u16(const unsigned char *r, size_t off)
{
    return (unsigned)r[off] | (unsigned)r[off + 1] << 8;
}

static uint32_t dmi_u32(const unsigned char *r, size_t off)
{
    return (uint32_t)r[off] | (uint32_t)r[off + 1] << 8 | (uint32_t)r[off + 2] << 16 |
           (uint32_t)r[off + 3] << 24;
}

static int uint_cmp(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : x > y;
}

/* The instance numbers of the structures of one type, sorted. */
static size_t dmi_list(int type, unsigned *out, size_t max)
{
    char path[512];
    DIR *d = opendir(os__sys_path(path, sizeof(path), DMI_ENTRIES));
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < max) {
        int t, used = 0;
        unsigned i;
        if (sscanf(de->d_name, "%d-%u%n", &t, &i, &used) == 2 && !de->d_name[used] && t == type)
            out[n++] = i;
    }
    closedir(d);
    qsort(out, n, sizeof(*out), uint_cmp);
    return n;
}

static ssize_t dmi_raw(int type, unsigned i, unsigned char *buf, size_t n)
{
    char path[512];
    os__sys_path(path, sizeof(path), DMI_ENTRIES "/%d-%u/raw", type, i);
    ssize_t len = read_bin(path, buf, n);
    if (len < 4 || buf[0] != type || buf[1] < 4 || buf[1] > len)
        return -1;
    return len;
}

/* A file of /sys/class/dmi/id (readable by all), trimmed, into a string
 * property. */
void os__set_dmi_id(struct cim_instance *i, const char *prop, const char *file)
{
    char path[512], buf[256];
    os__sys_path(path, sizeof(path), DMI_ID "/%s", file);
    if (os__read_small(path, buf, sizeof(buf)) > 0)
        os__set_str(i, prop, os__trim(buf));
}

/* ---- Win32_Processor / CIM_Processor: one instance per package ------- */

static const struct cim_prop win32_cpu_props[] = {
    {"DeviceID", CIM_STRING, CIM_KEY},
    {"Name", CIM_STRING, 0},
    {"Caption", CIM_STRING, 0},
    {"Description", CIM_STRING, 0},
    {"Manufacturer", CIM_STRING, 0},
    {"CreationClassName", CIM_STRING, 0},
    {"SystemCreationClassName", CIM_STRING, 0},
    {"SystemName", CIM_STRING, 0},
    {"NumberOfCores", CIM_UINT32, 0},
    {"NumberOfEnabledCore", CIM_UINT32, 0},
    {"NumberOfLogicalProcessors", CIM_UINT32, 0},
    {"ThreadCount", CIM_UINT32, 0},
    {"MaxClockSpeed", CIM_UINT32, 0},
    {"CurrentClockSpeed", CIM_UINT32, 0},
    {"ExtClock", CIM_UINT32, 0},
    {"AddressWidth", CIM_UINT16, 0},
    {"DataWidth", CIM_UINT16, 0},
    {"Architecture", CIM_UINT16, 0},
    {"Family", CIM_UINT16, 0},
    {"Level", CIM_UINT16, 0},
    {"Stepping", CIM_STRING, 0},
    {"UpgradeMethod", CIM_UINT16, 0},
    {"L2CacheSize", CIM_UINT32, 0},
    {"L3CacheSize", CIM_UINT32, 0},
    {"LoadPercentage", CIM_UINT16, 0},
    {"ProcessorId", CIM_STRING, 0},
    {"ProcessorType", CIM_UINT16, 0},
    {"Role", CIM_STRING, 0},
    {"SocketDesignation", CIM_STRING, 0},
    {"SerialNumber", CIM_STRING, 0},
    {"PartNumber", CIM_STRING, 0},
    {"VMMonitorModeExtensions", CIM_BOOLEAN, 0},
    {"CpuStatus", CIM_UINT16, 0},
    {"StatusInfo", CIM_UINT16, 0},
    {"Status", CIM_STRING, 0},
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
    dmi_str(r, len, r[0x04], d->socket, sizeof(d->socket));
    dmi_str(r, len, r[0x07], d->manufacturer, sizeof(d->manufacturer));
    dmi_str(r, len, r[0x10], d->version, sizeof(d->version));
    unsigned fam = r[0x06];
    if (fam == 0xfe && r[1] >= 0x2a)
        fam = dmi_u16(r, 0x28);
    if (fam != 0x02 && fam != 0 && fam != 0xfe) /* 2: Unknown */
        d->family = (int)fam;
    d->ext_clock = dmi_u16(r, 0x12);
    d->max_mhz = dmi_u16(r, 0x14);
    d->cur_mhz = dmi_u16(r, 0x16);
    if (r[0x19] != 0)
        d->upgrade = r[0x19];
    if (r[1] >= 0x23) {
        dmi_str(r, len, r[0x20], d->serial, sizeof(d->serial));
        dmi_str(r, len, r[0x22], d->part, sizeof(d->part));
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
    if (os__cpuinfo_read("/proc/cpuinfo", &c->recs, &c->nrecs, &c->global) == -2)
        goto nomem;
    if (os__topo_read(&c->topo, c->recs, c->nrecs) < 0)
        goto nomem;
    unsigned idx[64];
    size_t n = dmi_list(4, idx, 64);
    if (n) {
        c->dmi = calloc(n, sizeof(*c->dmi));
        if (!c->dmi)
            goto nomem;
        unsigned char raw[4096];
        for (size_t k = 0; k < n; k++) {
            ssize_t len = dmi_raw(4, idx[k], raw, sizeof(raw));
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
    if (read_ull(path, &khz) < 0 || khz == 0)
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
    const struct cpurec *r = cpurec_find(c->recs, c->nrecs, cpus[0].cpu);
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

/* ---- Win32_PhysicalMemory / CIM_PhysicalMemory ----------------------- */

static const struct cim_prop win32_mem_props[] = {
    {"Tag", CIM_STRING, CIM_KEY},
    {"Name", CIM_STRING, 0},
    {"Caption", CIM_STRING, 0},
    {"Description", CIM_STRING, 0},
    {"CreationClassName", CIM_STRING, 0},
    {"Capacity", CIM_UINT64, 0},
    {"BankLabel", CIM_STRING, 0},
    {"DeviceLocator", CIM_STRING, 0},
    {"Manufacturer", CIM_STRING, 0},
    {"PartNumber", CIM_STRING, 0},
    {"SerialNumber", CIM_STRING, 0},
    {"Speed", CIM_UINT32, 0},
    {"ConfiguredClockSpeed", CIM_UINT32, 0},
    {"ConfiguredVoltage", CIM_UINT32, 0},
    {"MinVoltage", CIM_UINT32, 0},
    {"MaxVoltage", CIM_UINT32, 0},
    {"MemoryType", CIM_UINT16, 0},
    {"SMBIOSMemoryType", CIM_UINT32, 0},
    {"TypeDetail", CIM_UINT16, 0},
    {"FormFactor", CIM_UINT16, 0},
    {"DataWidth", CIM_UINT16, 0},
    {"TotalWidth", CIM_UINT16, 0},
    {"Attributes", CIM_UINT32, 0},
};

static const struct cim_prop cim_mem_props[] = {
    {"CreationClassName", CIM_STRING, CIM_KEY},
    {"Tag", CIM_STRING, CIM_KEY},
    {"ElementName", CIM_STRING, 0},
    {"Caption", CIM_STRING, 0},
    {"Capacity", CIM_UINT64, 0},
    {"BankLabel", CIM_STRING, 0},
    {"Manufacturer", CIM_STRING, 0},
    {"PartNumber", CIM_STRING, 0},
    {"SerialNumber", CIM_STRING, 0},
    {"MemoryType", CIM_UINT16, 0},
    {"FormFactor", CIM_UINT16, 0},
    {"DataWidth", CIM_UINT16, 0},
    {"TotalWidth", CIM_UINT16, 0},
    {"MaxMemorySpeed", CIM_UINT32, 0},
    {"ConfiguredMemoryClockSpeed", CIM_UINT32, 0},
};

/* SMBIOS memory type → the MemoryType value map of WMI and CIM (they
 * agree up to 26 = DDR4); -1 where there is no equivalent. */
static int memory_type(unsigned t)
{
    static const signed char map[] = {
        /* 0x00 */ -1, 1,  0,  2,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17,
        /* 0x10 */ 18, 19, 20, 21, -1, -1, -1, -1, 24, 25, 26,
    };
    return t < sizeof(map) ? map[t] : -1;
}

/* SMBIOS form factor → the FormFactor value map of WMI and CIM. */
static int form_factor(unsigned f)
{
    static const signed char map[] = {-1, 1, 0, 7, 2, -1, 3, 4, 6, 8, 9, -1, 11, 12, 13};
    return f < sizeof(map) ? map[f] : -1;
}

/* Fills an instance from one raw type 17 structure. 0 if it describes an
 * installed device, -1 if not (empty slot, malformed). */
static int dmi_mem_fill(struct cim_instance *i, const unsigned char *r, size_t len)
{
    if (len < 0x15 || r[0] != 17 || r[1] < 0x15 || r[1] > len)
        return -1;
    size_t L = r[1];
    unsigned size = dmi_u16(r, 0x0c);
    if (size == 0)
        return -1; /* no device installed */
    if (size == 0x7fff && L >= 0x20)
        os__set_u64(i, "Capacity", (uint64_t)(dmi_u32(r, 0x1c) & 0x7fffffffu) << 20);
    else if (size != 0xffff)
        os__set_u64(i, "Capacity",
                    size & 0x8000 ? (uint64_t)(size & 0x7fff) << 10 : (uint64_t)size << 20);
    unsigned tw = dmi_u16(r, 0x08), dw = dmi_u16(r, 0x0a);
    if (tw != 0xffff && tw != 0)
        os__set_u64(i, "TotalWidth", tw);
    if (dw != 0xffff && dw != 0)
        os__set_u64(i, "DataWidth", dw);
    int ff = form_factor(r[0x0e]);
    if (ff >= 0)
        os__set_u64(i, "FormFactor", (uint64_t)ff);
    char s[128];
    const char *loc = dmi_str(r, len, r[0x10], s, sizeof(s));
    os__set_str(i, "DeviceLocator", loc);
    os__set_str(i, "ElementName", loc ? loc : "Physical Memory");
    os__set_str(i, "BankLabel", dmi_str(r, len, r[0x11], s, sizeof(s)));
    int mt = memory_type(r[0x12]);
    if (mt >= 0)
        os__set_u64(i, "MemoryType", (uint64_t)mt);
    os__set_u64(i, "SMBIOSMemoryType", r[0x12]);
    os__set_u64(i, "TypeDetail", dmi_u16(r, 0x13));
    if (L >= 0x17) {
        uint32_t sp = dmi_u16(r, 0x15);
        if (sp == 0xffff && L >= 0x58)
            sp = dmi_u32(r, 0x54);
        if (sp && sp != 0xffff) {
            os__set_u64(i, "Speed", sp);
            os__set_u64(i, "MaxMemorySpeed", sp);
        }
    }
    if (L >= 0x1b) {
        os__set_str(i, "Manufacturer", dmi_str(r, len, r[0x17], s, sizeof(s)));
        os__set_str(i, "SerialNumber", dmi_str(r, len, r[0x18], s, sizeof(s)));
        os__set_str(i, "PartNumber", dmi_str(r, len, r[0x1a], s, sizeof(s)));
    }
    if (L >= 0x1c && (r[0x1b] & 0x0f))
        os__set_u64(i, "Attributes", r[0x1b] & 0x0fu); /* rank */
    if (L >= 0x22) {
        uint32_t cs = dmi_u16(r, 0x20);
        if (cs == 0xffff && L >= 0x5c)
            cs = dmi_u32(r, 0x58);
        if (cs && cs != 0xffff) {
            os__set_u64(i, "ConfiguredClockSpeed", cs);
            os__set_u64(i, "ConfiguredMemoryClockSpeed", cs);
        }
    }
    if (L >= 0x28) {
        static const char *const volt[] = {"MinVoltage", "MaxVoltage", "ConfiguredVoltage"};
        for (int k = 0; k < 3; k++) {
            unsigned mv = dmi_u16(r, 0x22 + 2 * (size_t)k);
            if (mv)
                os__set_u64(i, volt[k], mv);
        }
    }
    return 0;
}

struct mem_it {
    unsigned idx[MAX_DMI];
    size_t n, next;
    unsigned produced;
    int fallback_done;
};

static enum wsm_err mem_open(const struct cim_ctx *ctx, void **it)
{
    (void)ctx;
    struct mem_it *m = calloc(1, sizeof(*m));
    if (!m)
        return WSM_ERR_NOMEM;
    m->n = dmi_list(17, m->idx, MAX_DMI);
    *it = m;
    return WSM_OK;
}

static void mem_close(void *it)
{
    free(it);
}

static void mem_common(struct cim_instance *i, unsigned tag)
{
    int wmi = os__is_wmi(i);
    os__set_fmt(i, "Tag", "Physical Memory %u", tag);
    os__set_str(i, "CreationClassName", wmi ? "Win32_PhysicalMemory" : "CIM_PhysicalMemory");
    os__set_str(i, "Name", "Physical Memory");
    os__set_str(i, "Caption", "Physical Memory");
    os__set_str(i, "Description", "Physical Memory");
}

static enum wsm_err mem_next(void *it, struct cim_instance *inst)
{
    struct mem_it *m = it;
    if (!m)
        return WSM_ERR_NOT_FOUND;
    unsigned char raw[4096];
    while (m->next < m->n) {
        ssize_t len = dmi_raw(17, m->idx[m->next++], raw, sizeof(raw));
        if (len < 0)
            continue;
        /* Fill first, keep only if installed: reset what a skipped slot set. */
        if (dmi_mem_fill(inst, raw, (size_t)len) < 0) {
            memset(inst->v, 0, inst->cls->nprops * sizeof(*inst->v));
            continue;
        }
        mem_common(inst, m->produced++);
        return WSM_OK;
    }
    if (m->produced || m->fallback_done)
        return WSM_ERR_NOT_FOUND;
    /* No readable SMBIOS: one instance for the memory the kernel sees. */
    m->fallback_done = 1;
    struct meminfo mi;
    if (os__meminfo_read("/proc/meminfo", &mi) < 0)
        return WSM_ERR_NOT_FOUND;
    mem_common(inst, 0);
    os__set_u64(inst, "Capacity", mi.total * 1024);
    os__set_str(inst, "ElementName", "Physical Memory");
    return WSM_OK;
}

/* ---- Win32_BIOS / CIM_BIOSElement ------------------------------------ */

static const struct cim_prop win32_bios_props[] = {
    {"Name", CIM_STRING, CIM_KEY},
    {"SoftwareElementID", CIM_STRING, CIM_KEY},
    {"SoftwareElementState", CIM_UINT16, CIM_KEY},
    {"TargetOperatingSystem", CIM_UINT16, CIM_KEY},
    {"Version", CIM_STRING, CIM_KEY},
    {"Caption", CIM_STRING, 0},
    {"Description", CIM_STRING, 0},
    {"Manufacturer", CIM_STRING, 0},
    {"SMBIOSBIOSVersion", CIM_STRING, 0},
    {"ReleaseDate", CIM_DATETIME, 0},
    {"SerialNumber", CIM_STRING, 0},
    {"PrimaryBIOS", CIM_BOOLEAN, 0},
    {"SMBIOSPresent", CIM_BOOLEAN, 0},
    {"SMBIOSMajorVersion", CIM_UINT16, 0},
    {"SMBIOSMinorVersion", CIM_UINT16, 0},
    {"SystemBiosMajorVersion", CIM_UINT8, 0},
    {"SystemBiosMinorVersion", CIM_UINT8, 0},
    {"EmbeddedControllerMajorVersion", CIM_UINT8, 0},
    {"EmbeddedControllerMinorVersion", CIM_UINT8, 0},
    {"Status", CIM_STRING, 0},
};

static const struct cim_prop cim_bios_props[] = {
    {"Name", CIM_STRING, CIM_KEY},
    {"Version", CIM_STRING, CIM_KEY},
    {"SoftwareElementState", CIM_UINT16, CIM_KEY},
    {"SoftwareElementID", CIM_STRING, CIM_KEY},
    {"TargetOperatingSystem", CIM_UINT16, CIM_KEY},
    {"ElementName", CIM_STRING, 0},
    {"Caption", CIM_STRING, 0},
    {"Manufacturer", CIM_STRING, 0},
    {"ReleaseDate", CIM_DATETIME, 0},
    {"PrimaryBIOS", CIM_BOOLEAN, 0},
};

/* "MM/DD/YYYY" (SMBIOS; "MM/DD/YY" before 2.3) as midnight UTC. */
static int parse_bios_date(const char *s, time_t *out)
{
    size_t len = strlen(s);
    if ((len != 8 && len != 10) || s[2] != '/' || s[5] != '/')
        return -1;
    for (size_t k = 0; k < len; k++)
        if (k != 2 && k != 5 && !isdigit((unsigned char)s[k]))
            return -1;
    int mo = (s[0] - '0') * 10 + (s[1] - '0'), d = (s[3] - '0') * 10 + (s[4] - '0');
    int y = atoi(s + 6);
    if (len == 8)
        y += 1900; /* a two-digit year: 19xx, per SMBIOS 2.3 */
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || y < 1970)
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != d)
        return -1; /* 02/31 and such */
    *out = t;
    return 0;
}

/* "M.m" (sysfs bios_release, ec_firmware_release). */
static int parse_release(const char *s, unsigned *maj, unsigned *min)
{
    int used = 0;
    if (!isdigit((unsigned char)s[0]) || sscanf(s, "%3u.%3u%n", maj, min, &used) != 2 || s[used] ||
        !isdigit((unsigned char)s[used - 1]) || *maj > 255 || *min > 255)
        return -1;
    return 0;
}

/* The OEM id and revision of the ACPI root table, "OEMID  - rev" as
 * Windows writes Win32_BIOS.Version (root only). */
static int acpi_oem_version(char *out, size_t n)
{
    static const char *const tables[] = {"XSDT", "RSDT"};
    for (size_t k = 0; k < 2; k++) {
        unsigned char h[36];
        char path[512];
        os__sys_path(path, sizeof(path), "/sys/firmware/acpi/tables/%s", tables[k]);
        if (read_bin(path, h, sizeof(h)) != (ssize_t)sizeof(h))
            continue;
        char oem[7];
        memcpy(oem, h + 10, 6);
        oem[6] = '\0';
        for (int j = 0; j < 6; j++)
            if (!isprint((unsigned char)oem[j]))
                oem[j] = ' ';
        snprintf(out, n, "%s - %X", oem, (unsigned)dmi_u32(h, 24));
        return 0;
    }
    return -1;
}

static enum wsm_err bios_open(const struct cim_ctx *ctx, void **it)
{
    struct stat st;
    char path[512];
    if (stat(os__sys_path(path, sizeof(path), DMI_ID), &st) != 0 || !S_ISDIR(st.st_mode)) {
        *it = NULL; /* no firmware tables (direct kernel boot): no BIOS */
        return WSM_OK;
    }
    return os__one_open(ctx, it);
}

static void fill_bios(struct cim_instance *i)
{
    int wmi = os__is_wmi(i);
    char ver[256], buf[256], path[512];
    const char *name = "Default System BIOS"; /* what Windows shows without a version */
    if (os__read_small(os__sys_path(path, sizeof(path), DMI_ID "/bios_version"), ver, sizeof(ver)) >
            0 &&
        os__trim(ver)[0])
        name = os__trim(ver);
    os__set_str(i, "Name", name);
    os__set_str(i, "SoftwareElementID", name);
    os__set_str(i, "Caption", name);
    os__set_str(i, "Description", name);
    os__set_str(i, "ElementName", name);
    os__set_u64(i, "SoftwareElementState", 3);  /* Running */
    os__set_u64(i, "TargetOperatingSystem", 0); /* Unknown */
    if (wmi && acpi_oem_version(buf, sizeof(buf)) == 0)
        os__set_str(i, "Version", buf);
    else
        os__set_str(i, "Version", name);
    if (name == ver)
        os__set_str(i, "SMBIOSBIOSVersion", name);
    os__set_dmi_id(i, "Manufacturer", "bios_vendor");
    os__set_dmi_id(i, "SerialNumber", "product_serial");
    time_t rd;
    if (os__read_small(os__sys_path(path, sizeof(path), DMI_ID "/bios_date"), buf, sizeof(buf)) >
            0 &&
        parse_bios_date(os__trim(buf), &rd) == 0)
        os__set_time(i, "ReleaseDate", rd, 0);
    os__set_bool(i, "PrimaryBIOS", 1);
    os__set_bool(i, "SMBIOSPresent", 1);
    os__set_str(i, "Status", "OK");

    unsigned char ep[32];
    ssize_t n = read_bin(os__sys_path(path, sizeof(path), SMBIOS_EP), ep, sizeof(ep));
    if (n >= 24 && memcmp(ep, "_SM3_", 5) == 0) {
        os__set_u64(i, "SMBIOSMajorVersion", ep[7]);
        os__set_u64(i, "SMBIOSMinorVersion", ep[8]);
    } else if (n >= 31 && memcmp(ep, "_SM_", 4) == 0) {
        os__set_u64(i, "SMBIOSMajorVersion", ep[6]);
        os__set_u64(i, "SMBIOSMinorVersion", ep[7]);
    }

    /* Release numbers: sysfs (readable by all), else the type 0 structure. */
    unsigned maj, min;
    unsigned char raw[1024];
    ssize_t rl = dmi_raw(0, 0, raw, sizeof(raw));
    if (os__read_small(os__sys_path(path, sizeof(path), DMI_ID "/bios_release"), buf, sizeof(buf)) >
            0 &&
        parse_release(buf, &maj, &min) == 0) {
        os__set_u64(i, "SystemBiosMajorVersion", maj);
        os__set_u64(i, "SystemBiosMinorVersion", min);
    } else if (rl > 0 && raw[1] >= 0x16 && raw[0x14] != 0xff) {
        os__set_u64(i, "SystemBiosMajorVersion", raw[0x14]);
        os__set_u64(i, "SystemBiosMinorVersion", raw[0x15]);
    }
    if (os__read_small(os__sys_path(path, sizeof(path), DMI_ID "/ec_firmware_release"), buf,
                       sizeof(buf)) > 0 &&
        parse_release(buf, &maj, &min) == 0) {
        os__set_u64(i, "EmbeddedControllerMajorVersion", maj);
        os__set_u64(i, "EmbeddedControllerMinorVersion", min);
    } else if (rl > 0 && raw[1] >= 0x18 && raw[0x16] != 0xff) {
        os__set_u64(i, "EmbeddedControllerMajorVersion", raw[0x16]);
        os__set_u64(i, "EmbeddedControllerMinorVersion", raw[0x17]);
    }
}

static enum wsm_err bios_next(void *it, struct cim_instance *inst)
{
    struct one_it *o = it;
    if (!o || o->done)
        return WSM_ERR_NOT_FOUND;
    o->done = 1;
    fill_bios(inst);
    return WSM_OK;
}

/* ---- the classes (listed in os.c's cim_family_os) ------------------- */

const struct cim_class os__win32_cpu =
    CLASS("Win32_Processor", win32_cpu_props, cpu_open, cpu_next, cpu_close);
const struct cim_class os__cim_cpu =
    CLASS("CIM_Processor", cim_cpu_props, cpu_open, cpu_next, cpu_close);
const struct cim_class os__win32_mem =
    CLASS("Win32_PhysicalMemory", win32_mem_props, mem_open, mem_next, mem_close);
const struct cim_class os__cim_mem =
    CLASS("CIM_PhysicalMemory", cim_mem_props, mem_open, mem_next, mem_close);
const struct cim_class os__win32_bios =
    CLASS("Win32_BIOS", win32_bios_props, bios_open, bios_next, os__one_close);
const struct cim_class os__cim_bios =
    CLASS("CIM_BIOSElement", cim_bios_props, bios_open, bios_next, os__one_close);
