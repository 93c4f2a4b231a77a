/* Processes as CIM classes: Win32_Process (WMI names), CIM_Process and
 * CIM_UnixProcess (DMTF names), read from procfs one pid at a time.
 *
 * Win32_Process also has methods: Create (a detached "/bin/sh -c" run as
 * the caller), Terminate (SIGKILL, only where the caller may) and
 * GetOwner. Design notes: docs/internals/providers-process-service.md. */
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
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "cim.h"

#define CMDLINE_MAX 32767 /* Windows' limit for a command line */
#define PF_KTHREAD_FLAG 0x00200000ULL
#define AUDIT_SID_UNSET 4294967295ULL
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* WMI's return codes for Win32_Process methods. */
enum {
    RV_OK = 0,
    RV_ACCESS_DENIED = 2,
    RV_UNKNOWN = 8,
    RV_PATH_NOT_FOUND = 9,
    RV_INVALID_PARAM = 21,
};

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
    {"Name", CIM_STRING, 0},
    {"OSCreationClassName", CIM_STRING, 0},
    {"OSName", CIM_STRING, 0},
    {"PageFaults", CIM_UINT32, 0},
    {"ParentProcessId", CIM_UINT32, 0},
    {"PeakVirtualSize", CIM_UINT64, 0},
    {"PeakWorkingSetSize", CIM_UINT32, 0},
    {"Priority", CIM_UINT32, 0},
    {"ProcessId", CIM_UINT32, 0},
    {"ReadOperationCount", CIM_UINT64, 0},
    {"ReadTransferCount", CIM_UINT64, 0},
    {"SessionId", CIM_UINT32, 0},
    {"Status", CIM_STRING, 0},
    {"TerminationDate", CIM_DATETIME, 0},
    {"ThreadCount", CIM_UINT32, 0},
    {"UserModeTime", CIM_UINT64, 0},
    {"VirtualSize", CIM_UINT64, 0},
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
static enum wsm_err proc_invoke(const struct cim_ctx *ctx, const struct cim_method *m,
                                const struct cim_instance *target, const struct wsm_pair *in,
                                size_t nin, struct cim_val *out, struct wsm_arena *out_arena);

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
    .invoke = proc_invoke,
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

struct host {
    char csname[256];
    char osname[256];
    time_t btime; /* boot time (seconds since the epoch); 0: unknown */
    long tck;     /* clock ticks per second */
    long page;    /* page size in bytes */
    /* A root daemon answering a user who is not root: what the kernel
     * shows only to a process's owner (fd/, io) is left NULL for other
     * users' processes, as a daemon running as that user would see it. */
    int restricted;
    uid_t viewer;
};

static void host_viewer(struct host *h, const struct cim_ctx *ctx)
{
    h->restricted = 0;
    if (!ctx || geteuid() != 0 || (ctx->switch_user && ctx->uid == 0))
        return; /* the kernel decides (not root), or the caller is root */
    h->restricted = 1;
    h->viewer = ctx->switch_user ? ctx->uid : (uid_t)-1; /* no account: owns nothing */
}

/* The "btime" line of /proc/stat: the kernel's own boot time, the same
 * number for every reader (unlike REALTIME - BOOTTIME, which jitters). */
static time_t boot_time(void)
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
    h->btime = boot_time();
    h->tck = sysconf(_SC_CLK_TCK);
    if (h->tck <= 0)
        h->tck = 100;
    h->page = sysconf(_SC_PAGESIZE);
    if (h->page <= 0)
        h->page = 4096;
}

/* ---- reading one process ---------------------------------------------- */

/* Buffers for one process, reused from one process to the next. */
struct scratch {
    char stat[1024];
    char status[8192];
    char io[1024];
    char small[64];
    char exe[PATH_MAX];
    char name[PATH_MAX];
    char cmd[CMDLINE_MAX + 2];
};

/* Numeric fields of /proc/<pid>/stat by their number in proc(5). */
enum {
    F_PPID = 4,
    F_PGRP = 5,
    F_SESSION = 6,
    F_TTY = 7,
    F_FLAGS = 9,
    F_MINFLT = 10,
    F_MAJFLT = 12,
    F_UTIME = 14,
    F_STIME = 15,
    F_PRIORITY = 18,
    F_NICE = 19,
    F_THREADS = 20,
    F_START = 22,
    F_VSIZE = 23,
    F_RSS = 24,
    F_RTPRIO = 40,
    F_POLICY = 41,
    F_COUNT = 53,
};

struct pstat {
    char comm[64];
    char state;
    unsigned long long f[F_COUNT]; /* signed fields are cast back */
};

/* Reads name under directory dfd: at most cap - 1 bytes, NUL-terminated.
 * The length, or -1 with errno set. */
static ssize_t read_at(int dfd, const char *name, char *buf, size_t cap)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -1;
    size_t n = 0;
    while (n < cap - 1) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    return (ssize_t)n;
}

static int parse_stat(const char *s, struct pstat *ps)
{
    /* comm may hold spaces and parentheses: it runs to the last ')'. */
    const char *l = strchr(s, '('), *r = strrchr(s, ')');
    if (!l || !r || r < l)
        return -1;
    size_t n = (size_t)(r - l - 1);
    if (n >= sizeof(ps->comm))
        n = sizeof(ps->comm) - 1;
    memcpy(ps->comm, l + 1, n);
    ps->comm[n] = '\0';
    memset(ps->f, 0, sizeof(ps->f));
    const char *p = r + 1;
    while (*p == ' ')
        p++;
    if (!*p)
        return -1;
    ps->state = *p++;
    for (int k = 4; k < F_COUNT; k++) {
        char *end;
        ps->f[k] = strtoull(p, &end, 10);
        if (end == p)
            break;
        p = end;
    }
    return 0;
}

/* The number after "key:" in a "key: value" file such as status or io. */
static int field_u64(const char *buf, const char *key, unsigned long long *v)
{
    size_t kl = strlen(key);
    for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, kl) == 0 && p[kl] == ':') {
            char *end;
            *v = strtoull(p + kl + 1, &end, 10);
            return end != p + kl + 1 ? 0 : -1;
        }
    }
    return -1;
}

/* Uid: real effective saved fs */
static int status_uids(const char *status, unsigned long long *ruid, unsigned long long *euid)
{
    const char *p = strstr(status, "\nUid:");
    if (!p)
        return -1;
    char *end;
    *ruid = strtoull(p + 5, &end, 10);
    if (end == p + 5)
        return -1;
    const char *q = end;
    *euid = strtoull(q, &end, 10);
    return end == q ? -1 : 0;
}

/* Text from a process is not ours to trust: make it valid UTF-8 without
 * the control characters XML 1.0 forbids, in place, keeping the length
 * (each bad byte becomes '?'). */
static void clean_text(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                *p = '?';
            p++;
            continue;
        }
        /* lead byte: length, first bits, smallest code point allowed */
        size_t len = 0;
        unsigned cp = 0, min = 0;
        if (c >= 0xC2 && c <= 0xDF)
            len = 2, cp = c & 0x1F, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF)
            len = 3, cp = c & 0x0F, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4)
            len = 4, cp = c & 0x07, min = 0x10000;
        size_t k = 1;
        for (; len && k < len && (p[k] & 0xC0) == 0x80; k++)
            cp = (cp << 6) | (p[k] & 0x3F);
        int ok = len && k == len && cp >= min && cp <= 0x10FFFF &&
                 !(cp >= 0xD800 && cp <= 0xDFFF) && cp != 0xFFFE && cp != 0xFFFF;
        if (!ok) {
            *p++ = '?';
            continue;
        }
        p += len;
    }
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* WMI's Name is the image file name ("sshd", not a 15-byte comm cut
 * short). comm is what the kernel shows and what prctl() set; when it
 * filled TASK_COMM_LEN it may be cut, and the executable's or argv[0]'s
 * base name is used if it starts with comm. */
static const char *proc_name(const struct pstat *ps, const char *exe, const char *argv0, char *buf,
                             size_t cap)
{
    size_t cl = strlen(ps->comm);
    const char *cand[2] = {exe, argv0};
    if (cl == 15) {
        for (int i = 0; i < 2; i++) {
            if (!cand[i] || !cand[i][0])
                continue;
            const char *b = base_name(cand[i]);
            size_t bl = strlen(b);
            const char *del = " (deleted)";
            if (i == 0 && bl > strlen(del) && strcmp(b + bl - strlen(del), del) == 0)
                bl -= strlen(del);
            if (bl > cl && bl < cap && strncmp(b, ps->comm, cl) == 0) {
                memcpy(buf, b, bl);
                buf[bl] = '\0';
                return buf;
            }
        }
    }
    return ps->comm;
}

/* Windows base priorities of the priority classes: idle 4, below normal
 * 6, normal 8, above normal 10, high 13, realtime 24. */
static unsigned win_priority(const struct pstat *ps)
{
    unsigned long long policy = ps->f[F_POLICY];
    long long nice = (long long)ps->f[F_NICE];
    if (policy == SCHED_FIFO || policy == SCHED_RR)
        return 24;
    if (policy == SCHED_IDLE || nice >= 15)
        return 4;
    if (nice > 0)
        return 6;
    if (nice == 0)
        return 8;
    return nice >= -10 ? 10 : 13;
}

/* CIM ExecutionState from the state letter of proc(5). */
static unsigned exec_state(char st)
{
    switch (st) {
    case 'R':
        return 3; /* Running */
    case 'S':
    case 'I':
        return 6; /* Suspended Ready: waits for an event */
    case 'D':
        return 4; /* Blocked */
    case 'T':
    case 't':
        return 8; /* Stopped */
    case 'Z':
    case 'X':
        return 7; /* Terminated */
    default:
        return 0; /* Unknown */
    }
}

static void tty_name(unsigned long long tty, char *buf, size_t cap)
{
    unsigned maj = major((dev_t)tty), min = minor((dev_t)tty);
    buf[0] = '\0';
    if (tty == 0)
        return;
    if (maj >= 136 && maj <= 143)
        snprintf(buf, cap, "pts/%u", (maj - 136) * 256 + min);
    else if (maj == 4 && min < 64)
        snprintf(buf, cap, "tty%u", min);
    else if (maj == 4)
        snprintf(buf, cap, "ttyS%u", min - 64);
    else
        snprintf(buf, cap, "%u:%u", maj, min);
}

static int count_fds(int dfd)
{
    int fd = openat(dfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    int n = 0;
    errno = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    int failed = errno != 0;
    closedir(d);
    return failed ? -1 : n;
}

enum kind { K_WIN32, K_CIM, K_UNIX };

static enum kind kind_of(const struct cim_class *c)
{
    return c == &win32_process ? K_WIN32 : c == &cim_process ? K_CIM : K_UNIX;
}

static uint64_t clamp32(unsigned long long v)
{
    return v > UINT32_MAX ? UINT32_MAX : v;
}

/* Fills inst with process pid. WSM_ERR_NOT_FOUND if it is not there (or
 * vanished before its stat could be read). */
static enum wsm_err fill(const struct host *h, struct scratch *sc, pid_t pid,
                         struct cim_instance *inst)
{
    enum kind k = kind_of(inst->cls);
    char path[32];
    snprintf(path, sizeof(path), "/proc/%d", (int)pid);
    /* Every file is read through this directory: should the pid be
     * reused meanwhile, reads fail (ESRCH) instead of mixing processes. */
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return WSM_ERR_NOT_FOUND;
    struct pstat ps;
    if (read_at(dfd, "stat", sc->stat, sizeof(sc->stat)) <= 0 || parse_stat(sc->stat, &ps) < 0) {
        close(dfd);
        return WSM_ERR_NOT_FOUND;
    }
    int kthread = (ps.f[F_FLAGS] & PF_KTHREAD_FLAG) != 0;
    int have_status = k != K_CIM && read_at(dfd, "status", sc->status, sizeof(sc->status)) > 0;

    const char *exe = NULL;
    ssize_t xl = kthread ? -1 : readlinkat(dfd, "exe", sc->exe, sizeof(sc->exe) - 1);
    if (xl > 0) {
        sc->exe[xl] = '\0';
        clean_text(sc->exe);
        exe = sc->exe;
    }

    /* cmdline: NUL-separated argv, cut at CMDLINE_MAX. */
    ssize_t cl = kthread ? -1 : read_at(dfd, "cmdline", sc->cmd, CMDLINE_MAX + 1);
    while (cl > 0 && sc->cmd[cl - 1] == '\0')
        cl--;
    size_t nargs = 0;
    const char *argv0 = NULL; /* the first string of cmdline */
    if (cl > 0) {
        argv0 = sc->cmd;
        nargs = 1;
        for (ssize_t i = 0; i < cl; i++)
            if (sc->cmd[i] == '\0')
                nargs++;
        sc->cmd[cl] = '\0';
    }

    clean_text(ps.comm);
    const char *name = proc_name(&ps, exe, argv0, sc->name, sizeof(sc->name));
    if (name == sc->name)
        clean_text(sc->name);

    if (k == K_UNIX && nargs) {
        const char **items = wsm__arena_alloc(inst->arena, nargs * sizeof(*items));
        if (items) {
            const char *a = sc->cmd;
            for (size_t i = 0; i < nargs; i++) {
                items[i] = a;
                a += strlen(a) + 1;
            }
            /* cleaned after the split: clean_text keeps the NULs */
            for (size_t i = 0; i < nargs; i++)
                clean_text((char *)items[i]);
            cim_set_strv(inst, "Parameters", items, nargs);
        }
    }
    const char *cmdline = NULL;
    if (cl > 0) {
        for (ssize_t i = 0; i < cl; i++)
            if (sc->cmd[i] == '\0')
                sc->cmd[i] = ' ';
        clean_text(sc->cmd);
        cmdline = sc->cmd;
    }

    char handle[24];
    snprintf(handle, sizeof(handle), "%d", (int)pid);
    unsigned long long start = ps.f[F_START];
    time_t csec = h->btime + (time_t)(start / (unsigned long long)h->tck);
    long cusec =
        (long)(start % (unsigned long long)h->tck * 1000000ULL / (unsigned long long)h->tck);
    unsigned long long ut = ps.f[F_UTIME], st = ps.f[F_STIME];
    uint64_t rss = ps.f[F_RSS] * (unsigned long long)h->page;

    cim_set_str(inst, "Handle", handle);
    cim_set_str(inst, "Name", name);
    cim_set_str(inst, "Caption", name);
    cim_set_str(inst, "Description", name);
    cim_set_str(inst, "CSName", h->csname);
    cim_set_str(inst, "OSName", h->osname);
    if (h->btime)
        cim_set_time(inst, "CreationDate", csec, cusec);
    cim_set_u64(inst, "ExecutionState", exec_state(ps.state));
    cim_set_u64(inst, "WorkingSetSize", rss);

    if (k == K_WIN32) {
        cim_set_str(inst, "CreationClassName", "Win32_Process");
        cim_set_str(inst, "CSCreationClassName", "Win32_ComputerSystem");
        cim_set_str(inst, "OSCreationClassName", "Win32_OperatingSystem");
        cim_set_str(inst, "CommandLine", cmdline);
        cim_set_str(inst, "ExecutablePath", exe);
        cim_set_u64(inst, "ProcessId", (uint64_t)pid);
        cim_set_u64(inst, "ParentProcessId", ps.f[F_PPID]);
        cim_set_u64(inst, "ThreadCount", ps.f[F_THREADS]);
        cim_set_u64(inst, "Priority", win_priority(&ps));
        cim_set_u64(inst, "VirtualSize", ps.f[F_VSIZE]);
        cim_set_u64(inst, "PageFaults", clamp32(ps.f[F_MINFLT] + ps.f[F_MAJFLT]));
        /* 100 ns units */
        cim_set_u64(inst, "UserModeTime", ut * 10000000ULL / (unsigned long long)h->tck);
        cim_set_u64(inst, "KernelModeTime", st * 10000000ULL / (unsigned long long)h->tck);
        unsigned long long ru, eu;
        int foreign = h->restricted &&
                      !(have_status && status_uids(sc->status, &ru, &eu) == 0 &&
                        ru == (unsigned long long)h->viewer && eu == (unsigned long long)h->viewer);
        int fds = foreign ? -1 : count_fds(dfd);
        if (fds >= 0)
            cim_set_u64(inst, "HandleCount", (uint64_t)fds);
        unsigned long long v;
        if (have_status && field_u64(sc->status, "VmPeak", &v) == 0)
            cim_set_u64(inst, "PeakVirtualSize", v * 1024);
        if (have_status && field_u64(sc->status, "VmHWM", &v) == 0)
            cim_set_u64(inst, "PeakWorkingSetSize", clamp32(v));
        /* Audit session: unset for daemons, like Windows' session 0. */
        unsigned long long sid = 0;
        if (read_at(dfd, "sessionid", sc->small, sizeof(sc->small)) > 0) {
            sid = strtoull(sc->small, NULL, 10);
            if (sid >= AUDIT_SID_UNSET)
                sid = 0;
        }
        cim_set_u64(inst, "SessionId", clamp32(sid));
        if (!foreign && read_at(dfd, "io", sc->io, sizeof(sc->io)) > 0) {
            if (field_u64(sc->io, "syscr", &v) == 0)
                cim_set_u64(inst, "ReadOperationCount", v);
            if (field_u64(sc->io, "syscw", &v) == 0)
                cim_set_u64(inst, "WriteOperationCount", v);
            if (field_u64(sc->io, "rchar", &v) == 0)
                cim_set_u64(inst, "ReadTransferCount", v);
            if (field_u64(sc->io, "wchar", &v) == 0)
                cim_set_u64(inst, "WriteTransferCount", v);
        }
    } else {
        cim_set_str(inst, "CreationClassName", k == K_CIM ? "CIM_Process" : "CIM_UnixProcess");
        cim_set_str(inst, "CSCreationClassName", "CIM_ComputerSystem");
        cim_set_str(inst, "OSCreationClassName", "CIM_OperatingSystem");
        cim_set_str(inst, "ElementName", name);
        /* DMTF: lower is more favourable; real-time (negative) is 0. */
        long long prio = (long long)ps.f[F_PRIORITY];
        cim_set_u64(inst, "Priority", prio < 0 ? 0 : (uint64_t)prio);
        /* milliseconds */
        cim_set_u64(inst, "UserModeTime", ut * 1000ULL / (unsigned long long)h->tck);
        cim_set_u64(inst, "KernelModeTime", st * 1000ULL / (unsigned long long)h->tck);
        if (k == K_UNIX) {
            cim_set_fmt(inst, "ParentProcessID", "%llu", ps.f[F_PPID]);
            cim_set_u64(inst, "ProcessGroupID", ps.f[F_PGRP]);
            cim_set_u64(inst, "ProcessSessionID", ps.f[F_SESSION]);
            char tty[32];
            tty_name(ps.f[F_TTY], tty, sizeof(tty));
            if (tty[0])
                cim_set_str(inst, "ProcessTTY", tty);
            cim_set_str(inst, "ModulePath", exe);
            unsigned long long ruid, euid;
            if (have_status && status_uids(sc->status, &ruid, &euid) == 0)
                cim_set_u64(inst, "RealUserID", ruid);
        }
    }
    close(dfd);
    return WSM_OK;
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
        free(p);
        return WSM_ERR_IO;
    }
    host_init(&p->host);
    host_viewer(&p->host, ctx);
    *it = p;
    return WSM_OK;
}

/* A pid in its canonical decimal form ("0" and "007" are not). */
static pid_t parse_pid(const char *s)
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
    while ((e = readdir(p->proc))) {
        pid_t pid = parse_pid(e->d_name);
        if (pid <= 0)
            continue;
        enum wsm_err r = fill(&p->host, &p->sc, pid, inst);
        if (r == WSM_ERR_NOT_FOUND)
            continue; /* exited since readdir */
        return r;
    }
    return WSM_ERR_NOT_FOUND;
}

static void proc_close(void *it)
{
    struct proc_iter *p = it;
    if (!p)
        return;
    closedir(p->proc);
    free(p);
}

static const char *find_pair(const struct wsm_pair *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].name && strcasecmp(v[i].name, name) == 0)
            return v[i].value;
    return NULL;
}

static enum wsm_err proc_get(const struct cim_ctx *ctx, const struct wsm_pair *keys, size_t nkeys,
                             struct cim_instance *inst)
{
    pid_t pid = parse_pid(find_pair(keys, nkeys, "Handle"));
    if (pid <= 0)
        return WSM_ERR_NOT_FOUND;
    struct scratch *sc = malloc(sizeof(*sc));
    if (!sc)
        return WSM_ERR_NOMEM;
    struct host h;
    host_init(&h);
    host_viewer(&h, ctx);
    enum wsm_err e = fill(&h, sc, pid, inst);
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

/* ---- methods ------------------------------------------------------------ */

static enum wsm_err set_out(const struct cim_method *m, struct cim_val *out, struct wsm_arena *a,
                            const char *name, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static enum wsm_err set_out(const struct cim_method *m, struct cim_val *out, struct wsm_arena *a,
                            const char *name, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < m->nout; i++) {
        if (strcmp(m->out[i].name, name) != 0)
            continue;
        out[i].s = wsm__arena_strdup(a, tmp);
        return out[i].s ? WSM_OK : WSM_ERR_NOMEM;
    }
    return WSM_ERR_INTERNAL;
}

static enum wsm_err set_rv(const struct cim_method *m, struct cim_val *out, struct wsm_arena *a,
                           unsigned rv)
{
    return set_out(m, out, a, "ReturnValue", "%u", rv);
}

/* -- Create: a detached /bin/sh -c, double-forked -- */

enum { ST_PID = 1, ST_FDS, ST_IDS, ST_CHDIR, ST_FORK, ST_EXEC, ST_CGROUP, ST_RLIMIT };

struct report {
    int stage;
    int err;
    pid_t pid;
};

/* What the children read: all prepared before fork, so that they make
 * only async-signal-safe calls (the daemon has threads). */
struct child_ctx {
    const struct cim_ctx *ctx;
    const char *cwd;
    char *const *envp;
    int devnull, rep;
    unsigned maxfd;
    struct sigaction dfl;
    sigset_t empty;
    char *argv[4];
    int cg_fds[WSMD_CG_MAXH]; /* cgroup.procs of the process's group */
    int ncg;
    int set_as, set_nproc;
    struct rlimit as, nproc;
};

__attribute__((noreturn)) static void child_fail(const struct child_ctx *c, int stage, int err)
{
    struct report r;
    memset(&r, 0, sizeof(r));
    r.stage = stage;
    r.err = err;
    ssize_t n = write(c->rep, &r, sizeof(r));
    (void)n;
    _exit(127);
}

static void close_from(unsigned first, unsigned last, unsigned maxfd)
{
    if (first > last)
        return;
    if (close_range(first, last, 0) == 0)
        return;
    for (unsigned fd = first; fd <= last && fd < maxfd; fd++)
        close((int)fd);
}

/* The command: its cgroup (joined as root, so that the user cannot have
 * chosen it), limits, the caller's credentials and directory, a session
 * of its own. Only this process joins the group: the intermediate one
 * does not take a slot of the user's process count. */
__attribute__((noreturn)) static void command_main(const struct child_ctx *c)
{
    const struct cim_ctx *x = c->ctx;
    for (int i = 0; i < c->ncg; i++)
        if (write(c->cg_fds[i], "0", 1) != 1)
            child_fail(c, ST_CGROUP, errno);
    for (int i = 0; i < c->ncg; i++)
        close(c->cg_fds[i]);
    if (c->set_as && setrlimit(RLIMIT_AS, &c->as) < 0)
        child_fail(c, ST_RLIMIT, errno);
    if (x->switch_user) {
        if (setresgid(x->gid, x->gid, x->gid) < 0)
            child_fail(c, ST_IDS, errno);
        if (setgroups((size_t)(x->ngroups > 0 ? x->ngroups : 0), x->groups) < 0)
            child_fail(c, ST_IDS, errno);
        if (setresuid(x->uid, x->uid, x->uid) < 0)
            child_fail(c, ST_IDS, errno);
        if (x->uid != 0) {
            if (setuid(0) == 0)
                child_fail(c, ST_IDS, EPERM);
            uid_t ru, eu, su;
            if (getresuid(&ru, &eu, &su) < 0 || ru != x->uid || eu != x->uid || su != x->uid)
                child_fail(c, ST_IDS, EPERM);
        }
    }
    /* No pids cgroup: the per-uid count is what the kernel has. */
    if (c->set_nproc && setrlimit(RLIMIT_NPROC, &c->nproc) < 0)
        child_fail(c, ST_RLIMIT, errno);
    /* After the switch: the directory as the caller sees it. */
    if (chdir(c->cwd) < 0)
        child_fail(c, ST_CHDIR, errno);
    /* A session of its own: no terminal, and -pid is its group. */
    if (setsid() < 0)
        child_fail(c, ST_FDS, errno);
    sigprocmask(SIG_SETMASK, &c->empty, NULL);
    execve("/bin/sh", c->argv, c->envp);
    child_fail(c, ST_EXEC, errno);
}

/* The intermediate child: stdio on /dev/null, no other fd but the report
 * pipe and the cgroup fds; it forks the command and exits at once, so
 * that init (or a subreaper) adopts and reaps it. */
__attribute__((noreturn)) static void child_main(const struct child_ctx *c)
{
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &c->dfl, NULL);
    if (dup2(c->devnull, 0) < 0 || dup2(c->devnull, 1) < 0 || dup2(c->devnull, 2) < 0)
        child_fail(c, ST_FDS, errno);
    /* Everything else goes but the report pipe and the cgroup fds (all
     * close-on-exec). */
    int keep[WSMD_CG_MAXH + 1];
    int nk = 0;
    keep[nk++] = c->rep;
    for (int i = 0; i < c->ncg; i++)
        keep[nk++] = c->cg_fds[i];
    for (int i = 1; i < nk; i++) /* sorted: few, insertion sort */
        for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    unsigned from = 3;
    for (int i = 0; i < nk; i++) {
        if ((unsigned)keep[i] > from)
            close_from(from, (unsigned)keep[i] - 1, c->maxfd);
        from = (unsigned)keep[i] + 1;
    }
    close_from(from, ~0U, c->maxfd);

    /* _Fork: no atfork handlers, async-signal-safe. */
    pid_t g = _Fork();
    if (g < 0)
        child_fail(c, ST_FORK, errno);
    if (g == 0)
        command_main(c);
    struct report r;
    memset(&r, 0, sizeof(r));
    r.stage = ST_PID;
    r.pid = g;
    ssize_t n = write(c->rep, &r, sizeof(r));
    _exit(n == (ssize_t)sizeof(r) ? 0 : 1);
}

/* An fd above 2, close-on-exec (dup2 onto 0-2 must not hit it). */
static int above2(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return n;
}

/* HOME, USER, LOGNAME, SHELL, PATH, LANG, as the shell engine gives. */
static char **build_env(const struct cim_ctx *ctx, const char *home)
{
    const char *user = ctx->user ? ctx->user : "";
    const char *def[6][2] = {
        {"HOME", home},       {"USER", user},         {"LOGNAME", user},
        {"SHELL", "/bin/sh"}, {"PATH", DEFAULT_PATH}, {"LANG", "C.UTF-8"},
    };
    size_t bytes = 0;
    for (size_t i = 0; i < 6; i++)
        bytes += strlen(def[i][0]) + strlen(def[i][1]) + 2;
    char **v = malloc(7 * sizeof(char *) + bytes);
    if (!v)
        return NULL;
    char *p = (char *)(v + 7);
    for (size_t i = 0; i < 6; i++) {
        v[i] = p;
        p += sprintf(p, "%s=%s", def[i][0], def[i][1]) + 1;
    }
    v[6] = NULL;
    return v;
}

static unsigned errno_rv(int stage, int err)
{
    if (stage == ST_CHDIR || stage == ST_EXEC) {
        if (err == ENOENT || err == ENOTDIR || err == ELOOP || err == ENAMETOOLONG)
            return RV_PATH_NOT_FOUND;
        if (err == EACCES || err == EPERM)
            return RV_ACCESS_DENIED;
    }
    return RV_UNKNOWN;
}

/* dash does not exec the last command of "sh -c": "sleep 30" would give
 * the pid of a shell waiting for sleep, and Terminate would kill the shell
 * and leave the command running. A command line that is one simple
 * command of an external program runs as "exec CMD", so the pid is the
 * program's. Anything else (lists, pipelines, compound commands,
 * assignments, builtins, quoting in the first word) runs as given. */
static int exec_is_safe(const char *cmd)
{
    if (strpbrk(cmd, ";&|()`\n\r"))
        return 0;
    size_t n =
        strspn(cmd, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./+,:@%-");
    if (n == 0 || n > 255 || (cmd[n] && cmd[n] != ' ' && cmd[n] != '\t'))
        return 0;
    char word[256];
    memcpy(word, cmd, n);
    word[n] = '\0';
    if (strchr(word, '/'))
        return 1; /* a path: the shell runs it, or fails alike either way */
    /* Found on the PATH the command gets: not a builtin-only name. */
    const char *dirs[] = {"/usr/local/bin", "/usr/bin", "/bin"};
    for (size_t i = 0; i < 3; i++) {
        char path[300];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dirs[i], word);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            return 1;
    }
    return 0;
}

/* Not a WMI code: spawn_detached's "answer w:QuotaLimit". */
#define RV_QUOTA_FAULT 0x10000u

/* One Create at a time: the count check and the join are one step. */
static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long create_seq;

/* The caller's group (user-<uid>, pids.max = MaxProcessesPerUser) and,
 * with a memory controller, one below it for this process (memory limit
 * of its own); fds to join them. RV_QUOTA_FAULT when the user already has
 * MaxProcessesPerUser processes there. Without cgroups: RLIMIT_NPROC. */
static unsigned create_limits(const struct cim_ctx *ctx, struct child_ctx *c)
{
    const struct wsmd_create_limits *lim = &wsmd__create_limits;
    uid_t uid = ctx->switch_user ? ctx->uid : geteuid();
    if (lim->max_memory_mb) {
        c->set_as = 1;
        c->as.rlim_cur = c->as.rlim_max = (rlim_t)lim->max_memory_mb << 20;
        struct rlimit cur;
        if (getrlimit(RLIMIT_AS, &cur) == 0 && cur.rlim_max != RLIM_INFINITY &&
            cur.rlim_max < c->as.rlim_max)
            c->as.rlim_cur = c->as.rlim_max = cur.rlim_max;
    }
    if (!wsmd__cg_has_pids() && lim->max_processes_per_user && ctx->switch_user && uid != 0) {
        c->set_nproc = 1;
        c->nproc.rlim_cur = c->nproc.rlim_max = lim->max_processes_per_user;
    }
    if (!wsmd__cg_active())
        return RV_OK;
    char rel[64];
    snprintf(rel, sizeof(rel), "user-%u", (unsigned)uid);
    struct wsmd_cg *ug = wsmd__cg_create(rel, lim->max_processes_per_user, 0);
    if (!ug)
        return RV_UNKNOWN;
    if (wsmd__cg_pids_full(ug)) {
        wsmd__cg_release(ug, 0);
        return RV_QUOTA_FAULT;
    }
    struct wsmd_cg *pg = NULL;
    if (wsmd__cg_has_memory() && lim->max_memory_mb) {
        wsmd__cg_prune(rel); /* groups of processes that ended */
        char prel[96];
        snprintf(prel, sizeof(prel), "%s/p-%lu", rel, ++create_seq);
        pg = wsmd__cg_create(prel, 0, (unsigned long long)lim->max_memory_mb << 20);
        if (!pg) {
            wsmd__cg_release(ug, 0);
            return RV_UNKNOWN;
        }
    }
    c->ncg = wsmd__cg_open_procs(pg ? pg : ug, c->cg_fds);
    /* The directories stay while processes are in them; empty ones go at
     * a later Create (prune) or when the daemon stops. */
    wsmd__cg_release(pg, 0);
    wsmd__cg_release(ug, 0);
    if (c->ncg < 0) {
        c->ncg = 0;
        return RV_UNKNOWN;
    }
    return RV_OK;
}

/* Starts cmd detached; the WMI return code, *pid on success. */
static unsigned spawn_detached(const struct cim_ctx *ctx, const char *cmd, const char *cwd,
                               pid_t *pid_out)
{
    const char *home = ctx->home && ctx->home[0] ? ctx->home : "/";
    unsigned rv = RV_UNKNOWN;
    int rep[2] = {-1, -1};
    struct child_ctx c;
    memset(&c, 0, sizeof(c));
    char **envp = build_env(ctx, home);
    char *line = NULL;
    if (exec_is_safe(cmd) && asprintf(&line, "exec %s", cmd) < 0)
        line = NULL;
    int devnull = above2(open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!envp || devnull < 0 || pipe2(rep, O_CLOEXEC) < 0)
        goto out;
    rep[0] = above2(rep[0]);
    rep[1] = above2(rep[1]);
    if (rep[0] < 0 || rep[1] < 0)
        goto out;

    c.ctx = ctx;
    c.cwd = cwd && cwd[0] ? cwd : home;
    c.envp = envp;
    c.devnull = devnull;
    c.rep = rep[1];
    c.maxfd = 65536;
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY &&
        nofile.rlim_cur < (rlim_t)(1u << 30))
        c.maxfd = (unsigned)nofile.rlim_cur;
    c.dfl.sa_handler = SIG_DFL;
    sigemptyset(&c.dfl.sa_mask);
    sigemptyset(&c.empty);
    c.argv[0] = (char *)"sh";
    c.argv[1] = (char *)"-c";
    c.argv[2] = line ? line : (char *)cmd;
    c.argv[3] = NULL;

    pthread_mutex_lock(&create_lock);
    rv = create_limits(ctx, &c);
    if (rv != RV_OK) {
        pthread_mutex_unlock(&create_lock);
        goto out;
    }
    rv = RV_UNKNOWN;

    /* No signal handler of the daemon may run in the children. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t mid = fork();
    if (mid == 0)
        child_main(&c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    wsmd__cg_close_fds(c.cg_fds, c.ncg);
    if (mid < 0) {
        pthread_mutex_unlock(&create_lock);
        goto out;
    }
    close(rep[1]);
    rep[1] = -1;

    /* Until EOF: the intermediate child writes the pid and exits; the
     * command's copy of the pipe closes at exec, or it reports why not. */
    pid_t gpid = 0;
    int fail_stage = 0, fail_err = 0;
    for (;;) {
        struct report r;
        ssize_t n = read(rep[0], &r, sizeof(r));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (n != (ssize_t)sizeof(r)) {
            fail_stage = ST_FDS;
            break;
        }
        if (r.stage == ST_PID)
            gpid = r.pid;
        else if (!fail_stage) {
            fail_stage = r.stage;
            fail_err = r.err;
        }
    }
    int status = 0;
    while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
        ;
    pthread_mutex_unlock(&create_lock);
    if (fail_stage)
        rv = errno_rv(fail_stage, fail_err);
    else if (gpid > 0) {
        rv = RV_OK;
        *pid_out = gpid;
    }

out:
    free(envp);
    free(line);
    if (devnull >= 0)
        close(devnull);
    if (rep[0] >= 0)
        close(rep[0]);
    if (rep[1] >= 0)
        close(rep[1]);
    return rv;
}

static enum wsm_err do_create(const struct cim_ctx *ctx, const struct cim_method *m,
                              const struct wsm_pair *in, size_t nin, struct cim_val *out,
                              struct wsm_arena *a)
{
    const char *cmd = find_pair(in, nin, "CommandLine");
    const char *cwd = find_pair(in, nin, "CurrentDirectory");
    if (!cmd || !cmd[0])
        return set_rv(m, out, a, RV_INVALID_PARAM);
    /* Windows wants a fully qualified directory; a relative one would
     * be relative to the daemon's. */
    if (cwd && cwd[0] && cwd[0] != '/')
        return set_rv(m, out, a, RV_PATH_NOT_FOUND);
    pid_t pid = 0;
    unsigned rv = spawn_detached(ctx, cmd, cwd, &pid);
    if (rv == RV_QUOTA_FAULT)
        return WSM_ERR_QUOTA; /* MaxProcessesPerUser */
    enum wsm_err e = WSM_OK;
    if (rv == RV_OK)
        e = set_out(m, out, a, "ProcessId", "%d", (int)pid);
    return e ? e : set_rv(m, out, a, rv);
}

/* -- Terminate and GetOwner -- */

/* The target process, pinned by a pidfd, with its stat and status read
 * while it is known to be the same process. */
struct target {
    pid_t pid;
    int pidfd;
    struct pstat ps;
    unsigned long long ruid, euid;
};

/* WSM_ERR_NOT_FOUND when the process is gone, or when the pid now names
 * another process than the instance (its CreationDate differs). */
static enum wsm_err pin_target(const struct cim_instance *inst, struct target *t)
{
    t->pidfd = -1;
    t->pid = parse_pid(inst ? cim_get(inst, "Handle") : NULL);
    if (t->pid <= 0)
        return WSM_ERR_NOT_FOUND;
    t->pidfd = pidfd_open(t->pid, 0);
    if (t->pidfd < 0)
        return errno == ESRCH ? WSM_ERR_NOT_FOUND : WSM_ERR_INTERNAL;
    char path[32], stat[1024], status[8192];
    snprintf(path, sizeof(path), "/proc/%d", (int)t->pid);
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int ok = dfd >= 0 && read_at(dfd, "stat", stat, sizeof(stat)) > 0 &&
             parse_stat(stat, &t->ps) == 0 && read_at(dfd, "status", status, sizeof(status)) > 0 &&
             status_uids(status, &t->ruid, &t->euid) == 0;
    if (dfd >= 0)
        close(dfd);
    /* Still alive after the reads: they were of the pidfd's process. */
    if (!ok || pidfd_send_signal(t->pidfd, 0, NULL, 0) < 0) {
        if (!ok || errno == ESRCH) {
            close(t->pidfd);
            t->pidfd = -1;
            return WSM_ERR_NOT_FOUND;
        }
    }
    /* The instance came from a get a moment ago: if its CreationDate
     * is not this process's, the pid was reused since. */
    const char *cd = cim_get(inst, "CreationDate");
    time_t bt = boot_time();
    long tck = sysconf(_SC_CLK_TCK);
    if (cd && bt && tck > 0) {
        time_t sec = bt + (time_t)(t->ps.f[F_START] / (unsigned long long)tck);
        struct tm tm;
        char now[32];
        if (gmtime_r(&sec, &tm) && strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%S", &tm) &&
            strncmp(cd, now, strlen(now)) != 0) {
            close(t->pidfd);
            t->pidfd = -1;
            return WSM_ERR_NOT_FOUND;
        }
    }
    return WSM_OK;
}

static enum wsm_err do_terminate(const struct cim_ctx *ctx, const struct cim_method *m,
                                 const struct cim_instance *target, struct cim_val *out,
                                 struct wsm_arena *a)
{
    struct target t;
    enum wsm_err e = pin_target(target, &t);
    if (e)
        return e;
    unsigned rv = RV_OK;
    /* The daemon acts for the caller: as root it must check for itself
     * what kill(2) would check for the caller (the real uid, as the brief
     * of WMI's "owner" goes); root callers may end anything. */
    if (ctx->switch_user && ctx->uid != 0 && t.ruid != (unsigned long long)ctx->uid)
        rv = RV_ACCESS_DENIED;
    else if (t.pid == getpid())
        rv = RV_ACCESS_DENIED; /* not the daemon itself */
    else if (pidfd_send_signal(t.pidfd, SIGKILL, NULL, 0) < 0) {
        if (errno == ESRCH)
            e = WSM_ERR_NOT_FOUND;
        else
            rv = errno == EPERM ? RV_ACCESS_DENIED : RV_UNKNOWN;
    }
    close(t.pidfd);
    return e ? e : set_rv(m, out, a, rv);
}

static enum wsm_err do_get_owner(const struct cim_method *m, const struct cim_instance *target,
                                 struct cim_val *out, struct wsm_arena *a)
{
    struct target t;
    enum wsm_err e = pin_target(target, &t);
    if (e)
        return e;
    close(t.pidfd);
    char host[256];
    cim_system_name(host, sizeof(host));
    struct passwd pw, *res = NULL;
    size_t cap = 16384;
    char *buf = malloc(cap);
    if (!buf)
        return WSM_ERR_NOMEM;
    if (getpwuid_r((uid_t)t.euid, &pw, buf, cap, &res) == 0 && res)
        e = set_out(m, out, a, "User", "%s", res->pw_name);
    else
        e = set_out(m, out, a, "User", "%llu", t.euid);
    free(buf);
    if (!e)
        e = set_out(m, out, a, "Domain", "%s", host);
    return e ? e : set_rv(m, out, a, RV_OK);
}

static enum wsm_err proc_invoke(const struct cim_ctx *ctx, const struct cim_method *m,
                                const struct cim_instance *target, const struct wsm_pair *in,
                                size_t nin, struct cim_val *out, struct wsm_arena *out_arena)
{
    if (!strcmp(m->name, "Create"))
        return do_create(ctx, m, in, nin, out, out_arena);
    if (!strcmp(m->name, "Terminate"))
        return do_terminate(ctx, m, target, out, out_arena);
    if (!strcmp(m->name, "GetOwner"))
        return do_get_owner(m, target, out, out_arena);
    return WSM_ERR_ACTION_NOT_SUPPORTED;
}
