/* Private to the host provider family (cim_family_os): what its two
 * files share. os.c has host facts and the family's class list, and
 * defines the readers and setters below; osinfo.c and compsys.c have the
 * OperatingSystem and ComputerSystem classes; hw.c has the CPU topology
 * and SMBIOS readers, cpu.c the Processor classes, membios.c the
 * PhysicalMemory and BIOS classes.
 *
 * The unit tests include the .c files in one translation unit, with
 * OS_SYS_ROOT defined first, to reach the static parsers and to point
 * every /sys path at a fixture tree. */
#ifndef WSMD_PROVIDERS_OS_PRIV_H
#define WSMD_PROVIDERS_OS_PRIV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "cim.h"

/* Prefix of every /sys path (os__sys_path is the only user). */
#ifndef OS_SYS_ROOT
#define OS_SYS_ROOT ""
#endif

/* Prefix of the /proc, /etc and /run paths of the OS and computer system
 * classes (os__host_path is their only user). */
#ifndef OS_HOST_ROOT
#define OS_HOST_ROOT ""
#endif

#define MAX_LINES 4000000 /* lines read from one procfs file */

/* ---- small readers (os.c) -------------------------------------------- */

/* OS_SYS_ROOT + the formatted path, into buf; returns buf. */
const char *os__sys_path(char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* OS_HOST_ROOT + the formatted path, into buf; returns buf. */
const char *os__host_path(char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Up to n bytes of a file, no terminator; -1 if unreadable. */
ssize_t os__read_bin(const char *path, unsigned char *buf, size_t n);
/* A small file, at most n-1 bytes, trailing whitespace removed: length,
 * or -1 if unreadable. */
ssize_t os__read_small(const char *path, char *buf, size_t n);
/* One line without its newline, cut to n-1 bytes; 0 at end of file. */
int os__read_line(FILE *f, char *buf, size_t n);
/* s without leading and trailing whitespace (trailing cut in place). */
char *os__trim(char *s);
/* src into dst, cut to n-1 bytes and NUL-terminated. */
void os__copy_str(char *dst, size_t n, const char *src);
/* The number s begins with, if it is a non-negative int; else -1. */
int os__parse_int(const char *s, int base, int *out);

/* ---- setters that skip what the class does not have (os.c) ---------- */

/* Whether the instance is of a WMI class (Win32_X). */
int os__is_wmi(const struct cim_instance *i);
void os__set_str(struct cim_instance *i, const char *p, const char *s);
void os__set_fmt(struct cim_instance *i, const char *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void os__set_u64(struct cim_instance *i, const char *p, uint64_t v);
void os__set_bool(struct cim_instance *i, const char *p, int v);
void os__set_time(struct cim_instance *i, const char *p, time_t sec, long usec);
void os__set_one(struct cim_instance *i, const char *p, const char *item);
void os__set_s64(struct cim_instance *i, const char *p, int64_t v);

/* ---- host facts (os.c) ---------------------------------------------- */

struct meminfo {
    unsigned long long total, free, avail, swap_total, swap_free; /* kB */
    int have_total, have_free, have_avail, have_swap;
};

/* /proc/meminfo's format; -1 if unreadable or without MemTotal. */
int os__meminfo_read(const char *path, struct meminfo *m);
/* A value of a KEY=VALUE file in os-release(5) syntax: 1 found, 0 not,
 * -1 unreadable. */
int os__kv_file_get(const char *path, const char *key, char *out, size_t n);
/* A key of os-release (under OS_HOST_ROOT); 1 if set and not empty. */
int os__os_release(const char *key, char *out, size_t n);
/* MemAvailable, else MemFree; -1 if neither. */
int os__mem_free_kb(const struct meminfo *m, unsigned long long *out);
/* btime of /proc/stat, else now - /proc/uptime. */
int os__boot_time(time_t *sec, long *usec);
/* Entries of /proc that are processes; -1 if /proc cannot be read. */
long os__count_processes(void);
/* Sessions of logind, else utmp; -1 if neither exists. */
long os__count_sessions(const char *logind_dir, const char *utmp_path);
/* The source of the topmost mount on mnt (or "/") in a mountinfo file. */
int os__mount_source(const char *path, const char *mnt, char *out, size_t n);
int os__root_source(const char *path, char *out, size_t n);
/* The DNS domain as `hostname -d` gives it ("" if none; cached 10 min). */
void os__dns_domain(const char *host, char *out, size_t n);
/* Win32_ComputerSystem.SystemType of a machine name, or NULL. */
const char *os__wmi_system_type(const char *m);
/* Whether a uname(2) machine name is a 64-bit one. */
int os__machine_is_64(const char *m);
/* Win32_Processor.Architecture of a uname(2) machine name; -1 if none. */
int os__wmi_architecture(const char *m);

/* Single-instance classes share a trivial iterator. */
struct one_it {
    int done;
};

enum wsm_err os__one_open(const struct cim_ctx *ctx, void **it);
void os__one_close(void *it);

/* ---- CPUs and firmware (hw.c; used by cpu.c and membios.c) ----------- */

struct cpurec {
    int cpu;                                       /* "processor" */
    int phys_id, core_id, family, model, stepping; /* -1: unknown */
    double mhz;                                    /* 0: unknown */
    int implementer;                               /* ARM "CPU implementer", -1 */
    signed char hypervisor, virt, nx, slat;        /* flags: -1 no flags line */
    char vendor[16];
    char model_name[96];
};

struct topo_cpu {
    int cpu, pkg, core; /* core -1: unknown */
};

struct topo {
    struct topo_cpu *c; /* sorted by package, then CPU */
    size_t n;
    size_t *pkg_start; /* npkg + 1 entries */
    size_t npkg;
};

/* A cpuinfo file: its records (*recs, malloc) and its machine-wide
 * lines (*global). -1 if unreadable, -2 if out of memory. */
int os__cpuinfo_read(const char *path, struct cpurec **recs, size_t *nrecs, struct cpurec *global);
/* The online CPUs grouped by package; -1 if out of memory. */
int os__topo_read(struct topo *t, const struct cpurec *recs, size_t nrecs);
void os__topo_free(struct topo *t);
/* A file of /sys/class/dmi/id, trimmed, into a string property. */
void os__set_dmi_id(struct cim_instance *i, const char *prop, const char *file);

#define SYS_CPU "/sys/devices/system/cpu"
#define DMI_ID "/sys/class/dmi/id"
#define DMI_ENTRIES "/sys/firmware/dmi/entries"
#define SMBIOS_EP "/sys/firmware/dmi/tables/smbios_entry_point"

#define MAX_CPUS 65536 /* records read from cpuinfo / the online list */
#define MAX_DMI 1024   /* SMBIOS structures of one type */

/* A sysfs file holding one unsigned decimal number. */
int os__read_ull(const char *path, unsigned long long *out);
/* The record of CPU number cpu, or NULL. */
const struct cpurec *os__cpurec_find(const struct cpurec *v, size_t n, int cpu);
/* String number idx (1-based) of a raw SMBIOS structure, trimmed; NULL
 * if absent, empty, or outside the buffer. */
const char *os__dmi_str(const unsigned char *raw, size_t len, unsigned idx, char *out, size_t n);
/* Little-endian words of a raw SMBIOS structure (off within bounds). */
unsigned os__dmi_u16(const unsigned char *r, size_t off);
uint32_t os__dmi_u32(const unsigned char *r, size_t off);
/* The instance numbers of the SMBIOS structures of one type, sorted. */
size_t os__dmi_list(int type, unsigned *out, size_t max);
/* Structure i of a type, raw, into buf; its length, or -1 if unreadable
 * or malformed. */
ssize_t os__dmi_raw(int type, unsigned i, unsigned char *buf, size_t n);

/* The classes of osinfo.c, compsys.c, cpu.c and membios.c, in the
 * family's order. */
extern const struct cim_class os__win32_os, os__cim_os;
extern const struct cim_class os__win32_cs, os__cim_cs;
extern const struct cim_class os__win32_cpu, os__cim_cpu;
extern const struct cim_class os__win32_mem, os__cim_mem;
extern const struct cim_class os__win32_bios, os__cim_bios;

/* ---- the classes' initializer (both halves) --------------------------- */

#define CLASS(nm, tbl, op, nx, cl)                                                                 \
    {                                                                                              \
        .name = nm, .props = tbl, .nprops = sizeof(tbl) / sizeof(tbl[0]), .open = op, .next = nx,  \
        .close = cl,                                                                               \
    }

#endif
