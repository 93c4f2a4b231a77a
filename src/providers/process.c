/* Processes as CIM classes: Win32_Process (WMI names), CIM_Process and
 * CIM_UnixProcess (DMTF names), read from procfs one pid at a time.
 *
 * Win32_Process also has methods: Create (a detached "/bin/sh -c" run as
 * the caller), Terminate (SIGKILL, only where the caller may) and
 * GetOwner (procmethods.c). One process is read by procread.c. Design notes:
 * docs/internals/providers-process-service.md. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "cim.h"
#include "process_priv.h"

/* ---- class tables ---------------------------------------------------- */

static const struct cim_prop win32_props[] = {
    {"Caption", CIM_STRING, 0},
    {"CommandLine", CIM_STRING, 0},
    {"CreationClassName", CIM_STRING, 0},
    {"CreationDate", CIM_DATETIME, 0},
    {"CSCreationClassName", CIM_STRING, 0},
    {"CSName", CIM_STRING, 0},
    {"Description", CIM_STRING, 0},
    {"ExecutablePath", CIM_STRING, 0},
    {"ExecutionState", CIM_UINT16, 0},
    {"Handle", CIM_STRING, CIM_KEY},
    {"HandleCount", CIM_UINT32, 0},
    {"InstallDate", CIM_DATETIME, 0},
    {"KernelModeTime", CIM_UINT64, 0},
    {"MaximumWorkingSetSize", CIM_UINT32, 0},
    {"MinimumWorkingSetSize", CIM_UINT32, 0},
    {"Name", CIM_STRING, 0},
    {"OSCreationClassName", CIM_STRING, 0},
    {"OSName", CIM_STRING, 0},
    {"OtherOperationCount", CIM_UINT64, 0},
    {"OtherTransferCount", CIM_UINT64, 0},
    {"PageFaults", CIM_UINT32, 0},
    {"PageFileUsage", CIM_UINT32, 0},
    {"ParentProcessId", CIM_UINT32, 0},
    {"PeakPageFileUsage", CIM_UINT32, 0},
    {"PeakVirtualSize", CIM_UINT64, 0},
    {"PeakWorkingSetSize", CIM_UINT32, 0},
    {"Priority", CIM_UINT32, 0},
    {"PrivatePageCount", CIM_UINT64, 0},
    {"ProcessId", CIM_UINT32, 0},
    {"QuotaNonPagedPoolUsage", CIM_UINT32, 0},
    {"QuotaPagedPoolUsage", CIM_UINT32, 0},
    {"QuotaPeakNonPagedPoolUsage", CIM_UINT32, 0},
    {"QuotaPeakPagedPoolUsage", CIM_UINT32, 0},
    {"ReadOperationCount", CIM_UINT64, 0},
    {"ReadTransferCount", CIM_UINT64, 0},
    {"SessionId", CIM_UINT32, 0},
    {"Status", CIM_STRING, 0},
    {"TerminationDate", CIM_DATETIME, 0},
    {"ThreadCount", CIM_UINT32, 0},
    {"UserModeTime", CIM_UINT64, 0},
    {"VirtualSize", CIM_UINT64, 0},
    {"WindowsVersion", CIM_STRING, 0},
    {"WorkingSetSize", CIM_UINT64, 0},
    {"WriteOperationCount", CIM_UINT64, 0},
    {"WriteTransferCount", CIM_UINT64, 0},
};

/* CIM_Process (DMTF 2.x). KernelModeTime and UserModeTime are in
 * milliseconds there, not in 100 ns units as in WMI. */
static const struct cim_prop cim_props[] = {
    {"Caption", CIM_STRING, 0},
    {"CreationClassName", CIM_STRING, CIM_KEY},
    {"CreationDate", CIM_DATETIME, 0},
    {"CSCreationClassName", CIM_STRING, CIM_KEY},
    {"CSName", CIM_STRING, CIM_KEY},
    {"Description", CIM_STRING, 0},
    {"ElementName", CIM_STRING, 0},
    {"ExecutionState", CIM_UINT16, 0},
    {"Handle", CIM_STRING, CIM_KEY},
    {"InstallDate", CIM_DATETIME, 0},
    {"KernelModeTime", CIM_UINT64, 0},
    {"Name", CIM_STRING, 0},
    {"OSCreationClassName", CIM_STRING, CIM_KEY},
    {"OSName", CIM_STRING, CIM_KEY},
    {"Priority", CIM_UINT32, 0},
    {"TerminationDate", CIM_DATETIME, 0},
    {"UserModeTime", CIM_UINT64, 0},
    {"WorkingSetSize", CIM_UINT64, 0},
};

/* CIM_UnixProcess: CIM_Process and what a Unix process adds (the parent,
 * ids, argv). */
static const struct cim_prop unix_props[] = {
    {"Caption", CIM_STRING, 0},
    {"CreationClassName", CIM_STRING, CIM_KEY},
    {"CreationDate", CIM_DATETIME, 0},
    {"CSCreationClassName", CIM_STRING, CIM_KEY},
    {"CSName", CIM_STRING, CIM_KEY},
    {"Description", CIM_STRING, 0},
    {"ElementName", CIM_STRING, 0},
    {"ExecutionState", CIM_UINT16, 0},
    {"Handle", CIM_STRING, CIM_KEY},
    {"InstallDate", CIM_DATETIME, 0},
    {"KernelModeTime", CIM_UINT64, 0},
    {"Name", CIM_STRING, 0},
    {"OSCreationClassName", CIM_STRING, CIM_KEY},
    {"OSName", CIM_STRING, CIM_KEY},
    {"Priority", CIM_UINT32, 0},
    {"TerminationDate", CIM_DATETIME, 0},
    {"UserModeTime", CIM_UINT64, 0},
    {"WorkingSetSize", CIM_UINT64, 0},
    {"ModulePath", CIM_STRING, 0},
    {"Parameters", CIM_STRING, CIM_ARRAY},
    {"ParentProcessID", CIM_STRING, 0},
    {"ProcessGroupID", CIM_UINT64, 0},
    {"ProcessSessionID", CIM_UINT64, 0},
    {"ProcessTTY", CIM_STRING, 0},
    {"RealUserID", CIM_UINT64, 0},
};

static const struct cim_prop create_in[] = {
    {"CommandLine", CIM_STRING, 0},
    {"CurrentDirectory", CIM_STRING, 0},
};
static const struct cim_prop create_out[] = {
    {"ProcessId", CIM_UINT32, 0},
    {"ReturnValue", CIM_UINT32, 0},
};
static const struct cim_prop terminate_in[] = {{"Reason", CIM_UINT32, 0}};
static const struct cim_prop rv_out[] = {{"ReturnValue", CIM_UINT32, 0}};
static const struct cim_prop owner_out[] = {
    {"Domain", CIM_STRING, 0},
    {"User", CIM_STRING, 0},
    {"ReturnValue", CIM_UINT32, 0},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct cim_method win32_methods[] = {
    {"Create", 1, create_in, N(create_in), create_out, N(create_out)},
    {"Terminate", 0, terminate_in, N(terminate_in), rv_out, N(rv_out)},
    {"GetOwner", 0, NULL, 0, owner_out, N(owner_out)},
};

static enum wsm_err proc_open(const struct cim_ctx *ctx, void **it);
static enum wsm_err proc_next(void *it, struct cim_instance *inst);
static void proc_close(void *it);
static enum wsm_err proc_get(const struct cim_ctx *ctx, const struct wsm_pair *keys, size_t nkeys,
                             struct cim_instance *inst);

static const struct cim_class win32_process = {
    .name = "Win32_Process",
    .props = win32_props,
    .nprops = N(win32_props),
    .methods = win32_methods,
    .nmethods = N(win32_methods),
    .open = proc_open,
    .next = proc_next,
    .close = proc_close,
    .get = proc_get,
    .invoke = wsmd__proc_invoke,
};

static const struct cim_class cim_process = {
    .name = "CIM_Process",
    .props = cim_props,
    .nprops = N(cim_props),
    .open = proc_open,
    .next = proc_next,
    .close = proc_close,
    .get = proc_get,
};

static const struct cim_class cim_unix_process = {
    .name = "CIM_UnixProcess",
    .props = unix_props,
    .nprops = N(unix_props),
    .open = proc_open,
    .next = proc_next,
    .close = proc_close,
    .get = proc_get,
};

const struct cim_class *const cim_family_process[] = {
    &win32_process,
    &cim_process,
    &cim_unix_process,
    NULL,
};

/* ---- host facts (once per enumeration or call) ------------------------ */

/* Set by a privilege-separated daemon (cim.h). */
const struct cim_proc_ops *wsmd__proc_ops;

static void host_viewer(struct host *h, const struct cim_ctx *ctx)
{
    h->restricted = 0;
    /* A separated daemon (wsmd__proc_ops) is root through its monitor. */
    if (!ctx || (geteuid() != 0 && !wsmd__proc_ops) || (ctx->switch_user && ctx->uid == 0))
        return; /* the kernel decides (not root), or the caller is root */
    h->restricted = 1;
    h->viewer = ctx->switch_user ? ctx->uid : (uid_t)-1; /* no account: owns nothing */
}

/* The "btime" line of /proc/stat: the kernel's own boot time, the same
 * number for every reader (unlike REALTIME - BOOTTIME, which jitters). */
time_t wsmd__proc_boot_time(void)
{
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return 0;
    char line[256];
    long long bt = 0;
    int at_start = 1;
    while (fgets(line, sizeof(line), f)) {
        if (at_start && sscanf(line, "btime %lld", &bt) == 1)
            break;
        /* Long lines (intr) come in pieces: only a piece after a
         * newline starts a line. */
        at_start = strchr(line, '\n') != NULL;
    }
    fclose(f);
    return (time_t)bt;
}

/* PRETTY_NAME of os-release(5), else "Linux". */
static void os_name(char *out, size_t cap)
{
    snprintf(out, cap, "Linux");
    FILE *f = fopen("/etc/os-release", "re");
    if (!f)
        f = fopen("/usr/lib/os-release", "re");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "PRETTY_NAME=", 12) != 0)
            continue;
        char *v = line + 12;
        size_t n = strcspn(v, "\r\n");
        v[n] = '\0';
        if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
            v[n - 1] = '\0';
            v++;
        }
        size_t vl = strlen(v);
        if (vl && vl < cap)
            memcpy(out, v, vl + 1);
        break;
    }
    fclose(f);
}

static void host_init(struct host *h)
{
    memset(h, 0, sizeof(*h));
    cim_system_name(h->csname, sizeof(h->csname));
    os_name(h->osname, sizeof(h->osname));
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(h->release, sizeof(h->release), "%s", u.release);
    h->btime = wsmd__proc_boot_time();
    h->tck = sysconf(_SC_CLK_TCK);
    if (h->tck <= 0)
        h->tck = 100;
    h->page = sysconf(_SC_PAGESIZE);
    if (h->page <= 0)
        h->page = 4096;
}

enum kind wsmd__proc_kind_of(const struct cim_class *c)
{
    return c == &win32_process ? K_WIN32 : c == &cim_process ? K_CIM : K_UNIX;
}

/* ---- enumeration and get ---------------------------------------------- */

struct proc_iter {
    DIR *proc;
    struct host host;
    struct scratch sc;
};

static enum wsm_err proc_open(const struct cim_ctx *ctx, void **it)
{
    struct proc_iter *p = malloc(sizeof(*p));
    if (!p)
        return WSM_ERR_NOMEM;
    p->proc = opendir("/proc");
    if (!p->proc) {
        enum wsm_err short_of = cim_errno_shortage(errno);
        free(p);
        return short_of ? short_of : WSM_ERR_IO;
    }
    host_init(&p->host);
    host_viewer(&p->host, ctx);
    *it = p;
    return WSM_OK;
}

/* A pid in its canonical decimal form ("0" and "007" are not). */
pid_t wsmd__proc_parse_pid(const char *s)
{
    if (!s || s[0] < '1' || s[0] > '9')
        return -1;
    long long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
        if (v > INT_MAX)
            return -1;
    }
    return (pid_t)v;
}

static enum wsm_err proc_next(void *it, struct cim_instance *inst)
{
    struct proc_iter *p = it;
    if (!p)
        return WSM_ERR_NOT_FOUND;
    struct dirent *e;
    for (errno = 0; (e = readdir(p->proc)); errno = 0) {
        pid_t pid = wsmd__proc_parse_pid(e->d_name);
        if (pid <= 0)
            continue;
        enum wsm_err r = wsmd__proc_fill(&p->host, &p->sc, pid, inst);
        if (r == WSM_ERR_NOT_FOUND)
            continue; /* exited since readdir */
        return r;
    }
    /* readdir's own failure is not the end of the list. */
    return errno ? WSM_ERR_IO : WSM_ERR_NOT_FOUND;
}

static void proc_close(void *it)
{
    struct proc_iter *p = it;
    if (!p)
        return;
    closedir(p->proc);
    free(p);
}

const char *wsmd__proc_find_pair(const struct wsm_pair *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].name && strcasecmp(v[i].name, name) == 0)
            return v[i].value;
    return NULL;
}

static enum wsm_err proc_get(const struct cim_ctx *ctx, const struct wsm_pair *keys, size_t nkeys,
                             struct cim_instance *inst)
{
    pid_t pid = wsmd__proc_parse_pid(wsmd__proc_find_pair(keys, nkeys, "Handle"));
    if (pid <= 0)
        return WSM_ERR_NOT_FOUND;
    struct scratch *sc = malloc(sizeof(*sc));
    if (!sc)
        return WSM_ERR_NOMEM;
    struct host h;
    host_init(&h);
    host_viewer(&h, ctx);
    enum wsm_err e = wsmd__proc_fill(&h, sc, pid, inst);
    free(sc);
    /* The other keys (CSName, OSName, class names) must match too. */
    for (size_t i = 0; !e && i < nkeys; i++) {
        int k = cim_prop_index(inst->cls, keys[i].name);
        if (k < 0 || !(inst->cls->props[k].flags & CIM_KEY))
            continue;
        const char *v = inst->v[k].s;
        if (!v || !keys[i].value || strcasecmp(v, keys[i].value) != 0)
            e = WSM_ERR_NOT_FOUND;
    }
    return e;
}
