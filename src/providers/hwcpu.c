/* The host as CIM classes, CPUs: /proc/cpuinfo records and the sysfs
 * topology (packages, cores, caches) behind Win32_Processor (hw.c).
 * Bounded readers: odd content is missing data, never a crash. */
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

int os__int_cmp(const void *a, const void *b)
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
int os__package_cache_kb(const struct topo_cpu *c, size_t n, int level, unsigned long long *out)
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
