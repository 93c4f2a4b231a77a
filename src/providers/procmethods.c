/* Processes as CIM classes: the methods of Win32_Process: Create (a
 * detached "/bin/sh -c" run as the caller; process_create.c spawns it),
 * Terminate (SIGKILL, only where the caller may) and GetOwner. process.c
 * has the classes and dispatches here (wsmd__proc_invoke). */
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
    wsmd__proc_ops = ops;
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
    const char *cmd = wsmd__proc_find_pair(in, nin, "CommandLine");
    const char *cwd = wsmd__proc_find_pair(in, nin, "CurrentDirectory");
    if (!cmd || !cmd[0])
        return set_rv(m, out, a, RV_INVALID_PARAM);
    /* Windows wants a fully qualified directory; a relative one would
     * be relative to the daemon's. */
    if (cwd && cwd[0] && cwd[0] != '/')
        return set_rv(m, out, a, RV_PATH_NOT_FOUND);
    pid_t pid = 0;
    unsigned rv = wsmd__proc_ops
                      ? wsmd__proc_ops->create(ctx->user ? ctx->user : "", cmd, cwd, &pid)
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
    t->pid = wsmd__proc_parse_pid(inst ? cim_get(inst, "Handle") : NULL);
    if (t->pid <= 0)
        return WSM_ERR_NOT_FOUND;
    t->pidfd = pidfd_open(t->pid, 0);
    if (t->pidfd < 0)
        return errno == ESRCH ? WSM_ERR_NOT_FOUND : WSM_ERR_INTERNAL;
    char path[32], stat[1024], status[8192];
    snprintf(path, sizeof(path), "/proc/%d", (int)t->pid);
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int ok = dfd >= 0 && wsmd__proc_read_at(dfd, "stat", stat, sizeof(stat)) > 0 &&
             wsmd__proc_parse_stat(stat, &t->ps) == 0 &&
             wsmd__proc_read_at(dfd, "status", status, sizeof(status)) > 0 &&
             wsmd__proc_status_uids(status, &t->ruid, &t->euid) == 0;
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
    time_t bt = wsmd__proc_boot_time();
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
    else if (wsmd__proc_ops) {
        /* The monitor checks again, as the caller's account. */
        enum wsm_err ke =
            wsmd__proc_ops->terminate(ctx->user ? ctx->user : "", t.pid, t.ps.f[F_START]);
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
        int c = wsmd__proc_count_fds(dfd);
        if (c >= 0)
            len = snprintf(buf, n, "%d", c);
    } else if (what == CIM_PROC_IO) {
        len = (long)wsmd__proc_read_at(dfd, "io", buf, n);
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
    int ok = dfd >= 0 && wsmd__proc_read_at(dfd, "stat", stat, sizeof(stat)) > 0 &&
             wsmd__proc_parse_stat(stat, &ps) == 0 &&
             wsmd__proc_read_at(dfd, "status", status, sizeof(status)) > 0 &&
             wsmd__proc_status_uids(status, &ruid, &euid) == 0;
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

enum wsm_err wsmd__proc_invoke(const struct cim_ctx *ctx, const struct cim_method *m,
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
