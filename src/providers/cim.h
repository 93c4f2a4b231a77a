/* Host management data as CIM classes: the provider interface.
 *
 * A provider family (src/providers/<family>.c) reads live data (procfs,
 * sysfs, /etc/os-release, statvfs, getifaddrs, DMI, systemd) and exposes
 * it as one or more classes: the WMI form (Win32_X, Windows property
 * names, reachable as http://schemas.microsoft.com/wbem/wsman/1/wmi/
 * root/cimv2/Win32_X) and the DMTF form (CIM_X, DMTF property names,
 * reachable as http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_X).
 *
 * Values are kept in their DSP0230 lexical form (text), typed by the
 * class's property table: providers format once, the serializer writes
 * them as they are, WQL compares them by type. Everything an instance
 * holds lives in the arena given to the provider.
 *
 * Providers enumerate lazily: open / next / close, one instance at a
 * time, so that a class with a million instances never sits in memory.
 */
#ifndef WSMD_CIM_H
#define WSMD_CIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "arena.h"
#include "envelope.h" /* struct wsm_pair */
#include "wsm/wsm.h"

enum cim_type {
    CIM_STRING,
    CIM_BOOLEAN, /* "true" / "false" */
    CIM_UINT8,
    CIM_UINT16,
    CIM_UINT32,
    CIM_UINT64,
    CIM_SINT8,
    CIM_SINT16,
    CIM_SINT32,
    CIM_SINT64,
    CIM_REAL32,
    CIM_REAL64,
    CIM_DATETIME, /* ISO 8601 "2026-11-25T23:45:01.500000Z", or an interval "P1DT2H3M4.5S" */
};

enum cim_flags {
    CIM_KEY = 1,   /* part of the instance's identity (selectors) */
    CIM_ARRAY = 2, /* an array of the type */
    CIM_WRITE = 4, /* writable with Put */
    /* Read-only, and its value changes by itself (free memory, the clock,
     * a service's state): a Put may bring back an older value, as a
     * client that Gets, changes one property and Puts the whole instance
     * does; it is ignored, where another read-only value must be equal. */
    CIM_VOLATILE = 8,
};

struct cim_prop {
    const char *name;
    enum cim_type type;
    unsigned flags;
};

/* One property value. Scalars: s (NULL means NULL, written xsi:nil).
 * Arrays: n items (an array with n == 0 and items == NULL is NULL). */
struct cim_val {
    const char *s;
    size_t n;
    const char **items;
};

struct cim_class;

struct cim_instance {
    const struct cim_class *cls;
    struct wsm_arena *arena; /* where the values live; owned by the caller */
    struct cim_val *v;       /* v[i] belongs to cls->props[i] */
};

/* Who is asking, for providers whose answers or actions depend on it
 * (Process.Create runs as this user; Terminate needs the right to). */
struct cim_ctx {
    const char *user;
    int switch_user; /* daemon is root: act as uid/gid */
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    int ngroups;
    const char *home;
    /* Test/bench only: the synthetic class's instance count (0: disabled). */
    unsigned long synthetic_count;
    /* Enumerate only: the request's selectors (SelectorSet, without
     * __cimnamespace), which a provider may take as the scope of the
     * enumeration (IPMI: SystemName names one BMC). Valid during open. */
    const struct wsm_pair *scope;
    size_t nscope;
};

struct cim_method {
    const char *name;
    int is_static; /* invoked on the class (no selectors), like Win32_Process.Create */
    const struct cim_prop *in;
    size_t nin;
    const struct cim_prop *out; /* output parameters, ReturnValue included */
    size_t nout;
};

struct cim_class {
    const char *name; /* "Win32_OperatingSystem", "CIM_OperatingSystem" */
    const struct cim_prop *props;
    size_t nprops;
    const struct cim_method *methods;
    size_t nmethods;

    /* Enumeration. open makes an iterator (may be NULL for empty);
     * next fills inst (inst->v is zeroed, nprops long, before each call)
     * and returns WSM_OK, or WSM_ERR_NOT_FOUND after the last instance.
     * close frees the iterator (NULL is a no-op). */
    enum wsm_err (*open)(const struct cim_ctx *ctx, void **it);
    enum wsm_err (*next)(void *it, struct cim_instance *inst);
    void (*close)(void *it);

    /* Optional: get one instance by its keys faster than a scan. NULL:
     * the dispatcher scans with open/next and compares the key values.
     * WSM_ERR_NOT_FOUND when no instance has these keys. */
    enum wsm_err (*get)(const struct cim_ctx *ctx, const struct wsm_pair *keys, size_t nkeys,
                        struct cim_instance *inst);

    /* Optional: run a method. target is the instance (NULL for static
     * methods); in holds the input parameters by name as text; out has
     * m->nout entries to fill (in out_arena). Provider failures that WMI
     * reports through ReturnValue are WSM_OK with ReturnValue set. */
    enum wsm_err (*invoke)(const struct cim_ctx *ctx, const struct cim_method *m,
                           const struct cim_instance *target, const struct wsm_pair *in, size_t nin,
                           struct cim_val *out, struct wsm_arena *out_arena);

    /* Optional: Put. props holds the new values of CIM_WRITE properties,
     * by name as text; after success target is updated. */
    enum wsm_err (*put)(const struct cim_ctx *ctx, struct cim_instance *target,
                        const struct wsm_pair *props, size_t nprops);

    /* Methods that do not act as the caller's local account (IPMI's: the
     * BMC acts for wsmd), so a name of the user file without a local
     * account may call them (with the right to). */
    int no_account;
};

/* ---- registry (src/providers/registry.c) --------------------------- */

const struct cim_class *cim_find_class(const char *name); /* case-insensitive */
size_t cim_class_count(void);
const struct cim_class *cim_class_at(size_t i);
/* Index of a property by name (case-insensitive), or -1. */
int cim_prop_index(const struct cim_class *c, const char *name);

/* Maps a resource URI to a class: the DMTF and WMI forms, with the
 * namespace in the path (root/cimv2 only). NULL if not ours. */
const struct cim_class *cim_class_for_uri(const char *uri);
/* The same, with the request's __cimnamespace (NULL: none): a DMTF URI
 * in root/hardware may name the BMCs' form of a class the host also has
 * (CIM_ComputerSystem). */
const struct cim_class *cim_class_for_uri_ns(const char *uri, const char *ns);
/* The resource URI of a class in the form that reached it. */
const char *cim_uri_prefix_dmtf(void); /* "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/" */
const char *
cim_uri_prefix_wmi(void); /* "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/" */

/* The IPMI classes of Windows' root/hardware namespace (NumericSensor,
 * Sensor): reached only as .../wmi/root/hardware/<Class>. */
int cim_class_is_hardware(const struct cim_class *c);
/* A class of the BMCs (IPMI), in either form: associations of those
 * classes stay within one BMC. */
int cim_class_is_ipmi(const struct cim_class *c);
/* "root/hardware", "root/wmi" or "root/cimv2": what __cimnamespace must say. */
const char *cim_class_namespace(const struct cim_class *c);
/* The WMI-form URI prefix of a class (its namespace's). */
const char *cim_uri_prefix_wmi_for(const struct cim_class *c);

/* Frees what the synthetic class keeps (notes set by Put); at exit. */
void cim_synthetic_cleanup(void);

/* ---- helpers for providers (src/providers/cim.c) ------------------- */

/* Set by property name; an unknown name is a programming error (abort in
 * debug builds, ignored otherwise). Strings are copied into the arena. */
void cim_set_str(struct cim_instance *i, const char *prop, const char *s);
void cim_set_fmt(struct cim_instance *i, const char *prop, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cim_set_u64(struct cim_instance *i, const char *prop, uint64_t v);
void cim_set_s64(struct cim_instance *i, const char *prop, int64_t v);
void cim_set_bool(struct cim_instance *i, const char *prop, int v);
/* UTC time with microseconds (tv may come from clock_gettime(CLOCK_REALTIME)). */
void cim_set_time(struct cim_instance *i, const char *prop, time_t sec, long usec);
/* An array of strings (copied). */
void cim_set_strv(struct cim_instance *i, const char *prop, const char *const *items, size_t n);
/* Value of a property (NULL if NULL or unknown). */
const char *cim_get(const struct cim_instance *i, const char *prop);

/* The host's name as the CIM classes give it (CSName, SystemName, the
 * Name of Win32_ComputerSystem): gethostname(2), cut to n-1 bytes;
 * "localhost" if it cannot be read or is empty. Always NUL-terminated
 * (n > 0). */
void cim_system_name(char *buf, size_t n);

/* A provider that fails to open or read something because the daemon is
 * out of file descriptors or memory must say so, not skip the item (an
 * empty or short answer would be wrong data): the fault for errno err
 * when it is such a shortage (EMFILE, ENFILE, ENOMEM, ENOBUFS), else
 * WSM_OK (an ordinary failure: the item is gone, say). */
enum wsm_err cim_errno_shortage(int err);

/* A provider that fails in a way the fault's standard text cannot say
 * (a BMC that does not answer) sets the fault's message here, on the
 * thread that runs the request; the dispatcher takes it (and clears it)
 * when the handler returns an error. A NULL arena just forgets it. */
void cim_fault_message(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *cim_fault_message_take(struct wsm_arena *a);

/* Privilege separation (docs/internals/privsep.md): a process of
 * Win32_Process.Create is started, and Terminate's SIGKILL sent, by the
 * monitor; what root alone may read of another account's process (its
 * executable) comes from it too. NULL: done here. */
struct cim_proc_ops {
    /* ReturnValue of Create (CIM_PROC_QUOTA: MaxProcessesPerUser reached). */
    unsigned (*create)(const char *user, const char *cmd, const char *cwd, pid_t *pid);
    /* WSM_OK, WSM_ERR_NOT_FOUND (gone, or start differs), WSM_ERR_ACCESS_DENIED. */
    enum wsm_err (*terminate)(const char *user, pid_t pid, unsigned long long start);
    /* Root-only /proc data of a process: CIM_PROC_EXE (the target of
     * /proc/pid/exe), CIM_PROC_FDS (the number of its descriptors, as
     * decimal text), CIM_PROC_IO (/proc/pid/io). The length, or -1. */
    long (*proc_read)(pid_t pid, int what, char *buf, size_t n);
};
enum { CIM_PROC_EXE = 1, CIM_PROC_FDS, CIM_PROC_IO };
/* The monitor's side of proc_read. */
long cim_process_read_as_root(pid_t pid, int what, char *buf, size_t n);
#define CIM_PROC_QUOTA 0x10000u
void cim_process_set_ops(const struct cim_proc_ops *ops);
/* The monitor's side of create and terminate, for ctx's account. */
unsigned cim_process_create_as(const struct cim_ctx *ctx, const char *cmd, const char *cwd,
                               pid_t *pid);
enum wsm_err cim_process_kill_as(const struct cim_ctx *ctx, pid_t pid, unsigned long long start);

/* Reads a small text file whole (trailing newline removed) into the
 * arena; NULL if it cannot be read. For procfs and sysfs. */
const char *cim_read_file(struct wsm_arena *a, const char *path);

#endif
