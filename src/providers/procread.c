/* Processes as CIM classes: one process read from procfs into an
 * instance of Win32_Process, CIM_Process or CIM_UnixProcess (process.c
 * has the classes, the enumeration and get; procmethods.c the methods).
 * Every file is read through the process's /proc directory, so that a
 * reused pid fails the reads instead of mixing two processes. */
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

#define PF_KTHREAD_FLAG 0x00200000ULL
#define AUDIT_SID_UNSET 4294967295ULL

/* ---- reading one process ---------------------------------------------- */

/* Reads name under directory dfd: at most cap - 1 bytes, NUL-terminated.
 * The length, or -1 with errno set. */
ssize_t wsmd__proc_read_at(int dfd, const char *name, char *buf, size_t cap)
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

int wsmd__proc_parse_stat(const char *s, struct pstat *ps)
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
int wsmd__proc_status_uids(const char *status, unsigned long long *ruid, unsigned long long *euid)
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

int wsmd__proc_count_fds(int dfd)
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

static uint64_t clamp32(unsigned long long v)
{
    return v > UINT32_MAX ? UINT32_MAX : v;
}

/* Fills inst with process pid. WSM_ERR_NOT_FOUND if it is not there (or
 * vanished before its stat could be read). */
enum wsm_err wsmd__proc_fill(const struct host *h, struct scratch *sc, pid_t pid,
                             struct cim_instance *inst)
{
    enum kind k = wsmd__proc_kind_of(inst->cls);
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
    if (wsmd__proc_read_at(dfd, "stat", sc->stat, sizeof(sc->stat)) <= 0 ||
        wsmd__proc_parse_stat(sc->stat, &ps) < 0) {
        enum wsm_err short_of = cim_errno_shortage(errno);
        close(dfd);
        return short_of ? short_of : WSM_ERR_NOT_FOUND;
    }
    int kthread = (ps.f[F_FLAGS] & PF_KTHREAD_FLAG) != 0;
    int have_status =
        k != K_CIM && wsmd__proc_read_at(dfd, "status", sc->status, sizeof(sc->status)) > 0;

    /* The kernel lets a process's owner (and root) read its exe link, fd/
     * and io: for a caller who is not root, another user's process has
     * them NULL, as a daemon running as that user would see it. */
    unsigned long long ru, eu;
    int foreign = h->restricted &&
                  !(have_status && wsmd__proc_status_uids(sc->status, &ru, &eu) == 0 &&
                    ru == (unsigned long long)h->viewer && eu == (unsigned long long)h->viewer);

    const char *exe = NULL;
    ssize_t xl = kthread || foreign ? -1 : readlinkat(dfd, "exe", sc->exe, sizeof(sc->exe) - 1);
    if (xl < 0 && !kthread && !foreign && wsmd__proc_ops && (errno == EACCES || errno == EPERM))
        xl = wsmd__proc_ops->proc_read(pid, CIM_PROC_EXE, sc->exe, sizeof(sc->exe)); /* root may */
    if (xl > 0) {
        sc->exe[xl] = '\0';
        clean_text(sc->exe);
        exe = sc->exe;
    }

    /* cmdline: NUL-separated argv, cut at CMDLINE_MAX. */
    ssize_t cl = kthread ? -1 : wsmd__proc_read_at(dfd, "cmdline", sc->cmd, CMDLINE_MAX + 1);
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
        int fds = foreign ? -1 : wsmd__proc_count_fds(dfd);
        if (!foreign && fds < 0 && wsmd__proc_ops && (errno == EACCES || errno == EPERM)) {
            char num[24];
            if (wsmd__proc_ops->proc_read(pid, CIM_PROC_FDS, num, sizeof(num)) > 0)
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
        if (wsmd__proc_read_at(dfd, "sessionid", sc->small, sizeof(sc->small)) > 0) {
            sid = strtoull(sc->small, NULL, 10);
            if (sid >= AUDIT_SID_UNSET)
                sid = 0;
        }
        cim_set_u64(inst, "SessionId", clamp32(sid));
        ssize_t iol = foreign ? -1 : wsmd__proc_read_at(dfd, "io", sc->io, sizeof(sc->io));
        if (!foreign && iol < 0 && wsmd__proc_ops && (errno == EACCES || errno == EPERM))
            iol = wsmd__proc_ops->proc_read(pid, CIM_PROC_IO, sc->io, sizeof(sc->io));
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
            if (have_status && wsmd__proc_status_uids(sc->status, &ruid, &euid) == 0)
                cim_set_u64(inst, "RealUserID", ruid);
        }
    }
    close(dfd);
    return WSM_OK;
}
