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
#include <sys/utsname.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "cim.h"
#include "process_priv.h"

#define CMDLINE_MAX 32767 /* Windows' limit for a command line */
#define PF_KTHREAD_FLAG 0x00200000ULL
#define AUDIT_SID_UNSET 4294967295ULL

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

/* Set by a privilege-separated daemon (cim.h). */
static const struct cim_proc_ops *proc_ops;

struct host {
    char csname[256];
    char osname[256];
    char release[65]; /* uname -r: WindowsVersion, as Windows gives its version */
    time_t btime;     /* boot time (seconds since the epoch); 0: unknown */
    long tck;         /* clock ticks per second */
    long page;        /* page size in bytes */
    /* A root daemon answering a user who is not root: what the kernel
     * shows only to a process's owner (fd/, io) is left NULL for other
     * users' processes, as a daemon running as that user would see it. */
    int restricted;
    uid_t viewer;
};

static void host_viewer(struct host *h, const struct cim_ctx *ctx)
{
    h->restricted = 0;
    /* A separated daemon (proc_ops) is root through its monitor. */
    if (!ctx || (geteuid() != 0 && !proc_ops) || (ctx->switch_user && ctx->uid == 0))
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
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(h->release, sizeof(h->release), "%s", u.release);
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
    if (dfd < 0) {
        enum wsm_err short_of = cim_errno_shortage(errno);
        return short_of ? short_of : WSM_ERR_NOT_FOUND; /* out of fds: not "exited" */
    }
    struct pstat ps;
    errno = 0;
    if (read_at(dfd, "stat", sc->stat, sizeof(sc->stat)) <= 0 || parse_stat(sc->stat, &ps) < 0) {
        enum wsm_err short_of = cim_errno_shortage(errno);
        close(dfd);
        return short_of ? short_of : WSM_ERR_NOT_FOUND;
    }
    int kthread = (ps.f[F_FLAGS] & PF_KTHREAD_FLAG) != 0;
    int have_status = k != K_CIM && read_at(dfd, "status", sc->status, sizeof(sc->status)) > 0;

    /* The kernel lets a process's owner (and root) read its exe link, fd/
     * and io: for a caller who is not root, another user's process has
     * them NULL, as a daemon running as that user would see it. */
    unsigned long long ru, eu;
    int foreign = h->restricted &&
                  !(have_status && status_uids(sc->status, &ru, &eu) == 0 &&
                    ru == (unsigned long long)h->viewer && eu == (unsigned long long)h->viewer);

    const char *exe = NULL;
    ssize_t xl = kthread || foreign ? -1 : readlinkat(dfd, "exe", sc->exe, sizeof(sc->exe) - 1);
    if (xl < 0 && !kthread && !foreign && proc_ops && (errno == EACCES || errno == EPERM))
        xl = proc_ops->proc_read(pid, CIM_PROC_EXE, sc->exe, sizeof(sc->exe)); /* root may */
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
        int fds = foreign ? -1 : count_fds(dfd);
        if (!foreign && fds < 0 && proc_ops && (errno == EACCES || errno == EPERM)) {
            char num[24];
            if (proc_ops->proc_read(pid, CIM_PROC_FDS, num, sizeof(num)) > 0)
                fds = atoi(num);
        }
        if (fds >= 0)
            cim_set_u64(inst, "HandleCount", (uint64_t)fds);
        unsigned long long v;
        if (have_status && field_u64(sc->status, "VmPeak", &v) == 0)
            cim_set_u64(inst, "PeakVirtualSize", v * 1024);
        if (have_status && field_u64(sc->status, "VmHWM", &v) == 0)
            cim_set_u64(inst, "PeakWorkingSetSize", clamp32(v));
        /* Private memory, resident (RssAnon) or swapped out (VmSwap): what
         * Windows counts as private bytes and as the process's commit
         * (PageFileUsage, KB). Kernel threads have neither line. */
        unsigned long long anon, swap;
        if (have_status && field_u64(sc->status, "RssAnon", &anon) == 0 &&
            field_u64(sc->status, "VmSwap", &swap) == 0) {
            cim_set_u64(inst, "PrivatePageCount", (anon + swap) * 1024);
            cim_set_u64(inst, "PageFileUsage", clamp32(anon + swap));
        }
        if (h->release[0])
            cim_set_str(inst, "WindowsVersion", h->release);
        /* Audit session: unset for daemons, like Windows' session 0. */
        unsigned long long sid = 0;
        if (read_at(dfd, "sessionid", sc->small, sizeof(sc->small)) > 0) {
            sid = strtoull(sc->small, NULL, 10);
            if (sid >= AUDIT_SID_UNSET)
                sid = 0;
        }
        cim_set_u64(inst, "SessionId", clamp32(sid));
        ssize_t iol = foreign ? -1 : read_at(dfd, "io", sc->io, sizeof(sc->io));
        if (!foreign && iol < 0 && proc_ops && (errno == EACCES || errno == EPERM))
            iol = proc_ops->proc_read(pid, CIM_PROC_IO, sc->io, sizeof(sc->io));
        if (iol > 0) {
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
    for (errno = 0; (e = readdir(p->proc)); errno = 0) {
        pid_t pid = parse_pid(e->d_name);
        if (pid <= 0)
            continue;
        enum wsm_err r = fill(&p->host, &p->sc, pid, inst);
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

void cim_process_set_ops(const struct cim_proc_ops *ops)
{
    proc_ops = ops;
}

unsigned cim_process_create_as(const struct cim_ctx *ctx, const char *cmd, const char *cwd,
                               pid_t *pid)
{
    return wsmd__proc_spawn_detached(ctx, cmd, cwd, pid);
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
    unsigned rv = proc_ops ? proc_ops->create(ctx->user ? ctx->user : "", cmd, cwd, &pid)
                           : wsmd__proc_spawn_detached(ctx, cmd, cwd, &pid);
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
    else if (t.pid == getpid() || t.pid == getppid())
        rv = RV_ACCESS_DENIED; /* not the daemon itself (nor its monitor) */
    else if (proc_ops) {
        /* The monitor checks again, as the caller's account. */
        enum wsm_err ke = proc_ops->terminate(ctx->user ? ctx->user : "", t.pid, t.ps.f[F_START]);
        if (ke == WSM_ERR_NOT_FOUND)
            e = WSM_ERR_NOT_FOUND;
        else if (ke)
            rv = RV_ACCESS_DENIED;
    } else if (pidfd_send_signal(t.pidfd, SIGKILL, NULL, 0) < 0) {
        if (errno == ESRCH)
            e = WSM_ERR_NOT_FOUND;
        else
            rv = errno == EPERM ? RV_ACCESS_DENIED : RV_UNKNOWN;
    }
    close(t.pidfd);
    return e ? e : set_rv(m, out, a, rv);
}

long cim_process_read_as_root(pid_t pid, int what, char *buf, size_t n)
{
    char path[32];
    snprintf(path, sizeof(path), "/proc/%d", (int)pid);
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || n == 0)
        return dfd < 0 ? -1 : (close(dfd), -1);
    long len = -1;
    if (what == CIM_PROC_EXE) {
        ssize_t l = readlinkat(dfd, "exe", buf, n - 1);
        if (l >= 0) {
            buf[l] = '\0';
            len = (long)l;
        }
    } else if (what == CIM_PROC_FDS) {
        int c = count_fds(dfd);
        if (c >= 0)
            len = snprintf(buf, n, "%d", c);
    } else if (what == CIM_PROC_IO) {
        len = (long)read_at(dfd, "io", buf, n);
    }
    close(dfd);
    return len;
}

enum wsm_err cim_process_kill_as(const struct cim_ctx *ctx, pid_t pid, unsigned long long start)
{
    if (pid <= 0 || pid == getpid())
        return WSM_ERR_ACCESS_DENIED;
    int pidfd = pidfd_open(pid, 0);
    if (pidfd < 0)
        return WSM_ERR_NOT_FOUND;
    char path[32], stat[1024], status[8192];
    snprintf(path, sizeof(path), "/proc/%d", (int)pid);
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct pstat ps;
    unsigned long long ruid = 0, euid = 0;
    int ok = dfd >= 0 && read_at(dfd, "stat", stat, sizeof(stat)) > 0 &&
             parse_stat(stat, &ps) == 0 && read_at(dfd, "status", status, sizeof(status)) > 0 &&
             status_uids(status, &ruid, &euid) == 0;
    if (dfd >= 0)
        close(dfd);
    enum wsm_err e = WSM_OK;
    if (!ok || ps.f[F_START] != start)
        e = WSM_ERR_NOT_FOUND; /* gone, or the pid names another process now */
    else if (ctx->uid != 0 && ruid != (unsigned long long)ctx->uid)
        e = WSM_ERR_ACCESS_DENIED;
    else if (pidfd_send_signal(pidfd, SIGKILL, NULL, 0) < 0)
        e = errno == ESRCH ? WSM_ERR_NOT_FOUND : WSM_ERR_ACCESS_DENIED;
    close(pidfd);
    return e;
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
