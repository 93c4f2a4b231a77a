/* The host itself as CIM classes: the readers of the hardware classes
 * (cpu.c: processors; membios.c: physical memory and BIOS): small binary
 * and number readers, /proc/cpuinfo, the sysfs CPU topology and the raw
 * SMBIOS structures when they are readable (root). os.c has the other
 * helpers of the family (os_priv.h) and the family's class list.
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

/* ---- small readers -------------------------------------------------- */

/* A sysfs file holding one unsigned decimal number. */
int os__read_ull(const char *path, unsigned long long *out)
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
    r->hypervisor = r->virt = r->nx = r->slat = -1;
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
        r->nx = (signed char)has_word(v, "nx");
        r->slat = (signed char)(has_word(v, "ept") || has_word(v, "npt"));
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

const struct cpurec *os__cpurec_find(const struct cpurec *v, size_t n, int cpu)
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
        const struct cpurec *r = os__cpurec_find(recs, nrecs, ids[k]);
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
/* ---- SMBIOS structures (/sys/firmware/dmi/entries, root only) -------- */

/* String number idx (1-based) of a raw SMBIOS structure, trimmed; NULL
 * if absent, empty, or outside the buffer. */
const char *os__dmi_str(const unsigned char *raw, size_t len, unsigned idx, char *out, size_t n)
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

unsigned os__dmi_u16(const unsigned char *r, size_t off)
{
    return (unsigned)r[off] | (unsigned)r[off + 1] << 8;
}

uint32_t os__dmi_u32(const unsigned char *r, size_t off)
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
size_t os__dmi_list(int type, unsigned *out, size_t max)
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

ssize_t os__dmi_raw(int type, unsigned i, unsigned char *buf, size_t n)
{
    char path[512];
    os__sys_path(path, sizeof(path), DMI_ENTRIES "/%d-%u/raw", type, i);
    ssize_t len = os__read_bin(path, buf, n);
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
