/* The privileged monitor, process requests: accounts looked up (root only
 * with AllowRoot), a working directory checked as the user, commands
 * spawned, signalled and released, Win32_Process Create, Terminate and
 * reads that need root; only for names that authenticated. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "authz.h"
#include "certauth.h"
#include "cfgfile.h"
#include "cfgset.h"
#include "cfglisten.h"
#ifdef WSMD_HAVE_CIM
#include "cim.h"
#endif
#include "cgroup.h"
#include "engine_internal.h"
#include "monitor_priv.h"
#include "negotiate.h"
#include "privsep.h"
#include "pswire.h"
#include "reload.h"
#include "server.h"
#include "userfile.h"

struct child *wsmd__mon_child_find(pid_t pid)
{
    for (size_t i = 0; i < MAX_CHILDREN; i++)
        if (wsmd__mon.children[i].pid == pid && pid > 0)
            return &wsmd__mon.children[i];
    return NULL;
}

/* Who a command may run as: a name that authenticated through the
 * monitor, with a local account (uid 0 only with AllowRoot); the account
 * as the monitor reads it, groups included. */
struct account {
    struct passwd pw;
    char buf[4096];
    gid_t groups[MAX_GROUPS];
    int ngroups;
};

static enum wsm_err account_for(const char *what, const char *user, struct account *acc)
{
    pthread_mutex_lock(&wsmd__mon.lock);
    int known = wsmd__mon_authed_has(user);
    pthread_mutex_unlock(&wsmd__mon.lock);
    if (!known) {
        refusal_log("event=monitor-refused request=%s reason=\"not authenticated\" user=%s", what,
                    user);
        return WSM_ERR_ACCESS_DENIED;
    }
    int ok = wsmd__mon_account_allowed(user, &acc->pw, acc->buf, sizeof(acc->buf));
    if (ok <= 0) {
        refusal_log("event=monitor-refused request=%s reason=\"%s\" user=%s", what,
                    ok < 0 ? "no local account" : "root needs AllowRoot", user);
        return WSM_ERR_ACCESS_DENIED;
    }
    acc->ngroups = MAX_GROUPS;
    if (getgrouplist(acc->pw.pw_name, acc->pw.pw_gid, acc->groups, &acc->ngroups) < 0)
        acc->ngroups = MAX_GROUPS; /* more than fit: the first ones */
    return WSM_OK;
}

enum wsm_err wsmd__mon_req_check_dir(struct ps_msg *q, struct ps_msg *a)
{
    (void)a;
    const char *user = ps_get_str(q, WSMD_MAX_USER - 1);
    const char *dir = ps_get_str(q, 4096);
    if (!ps_end(q) || !*user || !*dir)
        return WSM_ERR_INVALID_ARG;
    if (!wsmd__mon.srv)
        return WSM_ERR_UNSUPPORTED_FEATURE;
    struct account acc;
    enum wsm_err e = account_for("check-dir", user, &acc);
    if (e)
        return e;
    struct shell_spawn_req r;
    memset(&r, 0, sizeof(r));
    r.workdir = dir;
    r.switch_user = 1;
    r.uid = acc.pw.pw_uid;
    r.gid = acc.pw.pw_gid;
    r.groups = acc.groups;
    r.ngroups = acc.ngroups;
    return shell__check_dir(&r);
}

#ifdef WSMD_HAVE_CIM
static void cim_ctx_of(const char *user, const struct account *acc, struct cim_ctx *x)
{
    memset(x, 0, sizeof(*x));
    x->user = user;
    x->switch_user = 1;
    x->uid = acc->pw.pw_uid;
    x->gid = acc->pw.pw_gid;
    x->groups = acc->groups;
    x->ngroups = acc->ngroups;
    x->home = acc->pw.pw_dir;
}

/* Win32_Process.Create: a detached process as the caller's account, in
 * its per-user cgroup (process.c does it all, as root). */
enum wsm_err wsmd__mon_req_create(struct ps_msg *q, struct ps_msg *a)
{
    const char *user = ps_get_str(q, WSMD_MAX_USER - 1);
    const char *cmd = ps_get_str(q, MAX_CMDLINE);
    const char *cwd = ps_get_str(q, 4096);
    if (!ps_end(q) || !*user || !*cmd || (*cwd && *cwd != '/'))
        return WSM_ERR_INVALID_ARG;
    if (!wsmd__mon.srv)
        return WSM_ERR_UNSUPPORTED_FEATURE;
    struct account acc;
    enum wsm_err e = account_for("create", user, &acc);
    if (e)
        return e;
    struct cim_ctx x;
    cim_ctx_of(user, &acc, &x);
    pid_t pid = 0;
    unsigned rv = cim_process_create_as(&x, cmd, cwd, &pid);
    ps_put_u32(a, rv);
    ps_put_i32(a, pid);
    return WSM_OK;
}

/* Win32_Process.Terminate: checked again here, as the caller's account:
 * its own processes only (root: any but wsmd's). */
enum wsm_err wsmd__mon_req_terminate(struct ps_msg *q, struct ps_msg *a)
{
    (void)a;
    const char *user = ps_get_str(q, WSMD_MAX_USER - 1);
    int32_t pid = ps_get_i32(q);
    uint64_t start = ps_get_u64(q);
    if (!ps_end(q) || !*user || pid <= 0)
        return WSM_ERR_INVALID_ARG;
    if (!wsmd__mon.srv)
        return WSM_ERR_UNSUPPORTED_FEATURE;
    struct account acc;
    enum wsm_err e = account_for("terminate", user, &acc);
    if (e)
        return e;
    if (pid == getpid() || pid == wsmd__mon.network)
        return WSM_ERR_ACCESS_DENIED;
    struct cim_ctx x;
    cim_ctx_of(user, &acc, &x);
    return cim_process_kill_as(&x, pid, start);
}
#endif

#ifdef WSMD_HAVE_CIM
/* Root-only /proc data of one process (Win32_Process ExecutablePath,
 * HandleCount, the I/O counters): the network process decides who may
 * see them, the monitor only reads them. */
enum wsm_err wsmd__mon_req_proc_read(struct ps_msg *q, struct ps_msg *a)
{
    int32_t pid = ps_get_i32(q);
    uint32_t what = ps_get_u32(q);
    if (!ps_end(q) || pid <= 0 || what < CIM_PROC_EXE || what > CIM_PROC_IO)
        return WSM_ERR_INVALID_ARG;
    char buf[4096];
    long n = cim_process_read_as_root(pid, (int)what, buf, sizeof(buf));
    if (n < 0)
        return WSM_ERR_NOT_FOUND;
    ps_put_blob(a, buf, (size_t)n);
    return WSM_OK;
}
#endif

enum wsm_err wsmd__mon_req_spawn(struct ps_msg *q, struct ps_msg *a)
{
    const char *user = ps_get_str(q, WSMD_MAX_USER - 1);
    const char *cmdline = ps_get_str(q, MAX_CMDLINE);
    const char *workdir = ps_get_str(q, 4096);
    uint64_t mem_limit = ps_get_u64(q);
    uint32_t pipe_size = ps_get_u32(q);
    uint32_t flags = ps_get_u32(q);
    uint32_t nenv = ps_get_u32(q);
    if (q->fail || nenv > MAX_ENV || pipe_size > (1u << 24) || (flags & ~SHELL_SPAWN_FLAGS))
        return WSM_ERR_INVALID_ARG;
    char *envp[MAX_ENV + 1];
    for (uint32_t i = 0; i < nenv; i++) {
        const char *e = ps_get_str(q, 32768);
        if (q->fail || !strchr(e, '=') || e[0] == '=')
            return WSM_ERR_INVALID_ARG;
        envp[i] = (char *)e;
    }
    envp[nenv] = NULL;
    const char *cg_name = ps_get_str(q, 127);
    if (!ps_end(q) || !*user || !*cmdline || q->nfds)
        return WSM_ERR_INVALID_ARG;
    if (!wsmd__mon.srv)
        return WSM_ERR_UNSUPPORTED_FEATURE;

    pthread_mutex_lock(&wsmd__mon.lock);
    int room = wsmd__mon.nchildren < MAX_CHILDREN;
    pthread_mutex_unlock(&wsmd__mon.lock);
    if (!room)
        return WSM_ERR_QUOTA;
    struct account acc;
    enum wsm_err ae = account_for("spawn", user, &acc);
    if (ae)
        return ae;
    struct passwd pw = acc.pw;
    /* The shell's group, one of wsmd's by its name (letters, digits, '-'). */
    int cg_fds[WSMD_CG_MAXH];
    int ncg = *cg_name ? wsmd__cg_open_procs_name(cg_name, cg_fds) : 0;
    if (ncg < 0)
        return WSM_ERR_INVALID_ARG;

    struct shell_spawn_req r = {
        .cmdline = cmdline,
        .envp = envp,
        .workdir = *workdir ? workdir : pw.pw_dir,
        .switch_user = 1,
        .uid = pw.pw_uid,
        .gid = pw.pw_gid,
        .groups = acc.groups,
        .ngroups = acc.ngroups,
        .mem_limit = mem_limit,
        .pipe_size = (int)pipe_size,
        .flags = flags,
        .cg_fds = cg_fds,
        .ncg = ncg,
    };
    struct shell_spawn_res res;
    int st[2];
    if (pipe2(st, O_CLOEXEC) < 0) {
        wsmd__cg_close_fds(cg_fds, ncg);
        return WSM_ERR_INTERNAL;
    }
    enum wsm_err e = shell__spawn(&r, &res);
    wsmd__cg_close_fds(cg_fds, ncg);
    if (e) {
        close(st[0]);
        close(st[1]);
        return e;
    }
    pthread_mutex_lock(&wsmd__mon.lock);
    struct child *c = NULL;
    for (size_t i = 0; !c && i < MAX_CHILDREN; i++)
        if (!wsmd__mon.children[i].pid)
            c = &wsmd__mon.children[i];
    c->pid = res.pid;
    c->pidfd = res.pidfd;
    c->status_wr = st[1];
    c->exited = 0;
    c->uid = pw.pw_uid;
    snprintf(c->user, sizeof(c->user), "%s", user);
    wsmd__mon.nchildren++;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)res.pid};
    epoll_ctl(wsmd__mon.epfd, EPOLL_CTL_ADD, res.pidfd, &ev);
    pthread_mutex_unlock(&wsmd__mon.lock);

    ps_put_i32(a, res.pid);
    ps_put_fd(a, res.in_fd);
    ps_put_fd(a, res.out_fd);
    ps_put_fd(a, res.err_fd);
    ps_put_fd(a, st[0]);
    return WSM_OK;
}

enum wsm_err wsmd__mon_req_signal(struct ps_msg *q, struct ps_msg *a)
{
    (void)a;
    int32_t pid = ps_get_i32(q);
    int32_t sig = ps_get_i32(q);
    if (!ps_end(q) || pid <= 0)
        return WSM_ERR_INVALID_ARG;
    /* SIGSTOP and SIGCONT: a console's end of input (pty.c). */
    if (sig != SIGTERM && sig != SIGINT && sig != SIGQUIT && sig != SIGKILL && sig != SIGSTOP &&
        sig != SIGCONT)
        return WSM_ERR_INVALID_ARG;
    enum wsm_err e = WSM_ERR_NOT_FOUND;
    pthread_mutex_lock(&wsmd__mon.lock);
    /* The leader is not reaped before PS_RELEASE, so -pid is still its
     * process group and nobody else's. */
    if (wsmd__mon_child_find(pid)) {
        kill(-pid, sig);
        e = WSM_OK;
    }
    pthread_mutex_unlock(&wsmd__mon.lock);
    return e;
}

void wsmd__mon_child_forget(struct child *c)
{
    if (c->pidfd >= 0) {
        epoll_ctl(wsmd__mon.epfd, EPOLL_CTL_DEL, c->pidfd, NULL);
        close(c->pidfd);
    }
    if (c->status_wr >= 0)
        close(c->status_wr);
    memset(c, 0, sizeof(*c));
    c->pidfd = c->status_wr = -1;
    wsmd__mon.nchildren--;
}

enum wsm_err wsmd__mon_req_release(struct ps_msg *q, struct ps_msg *a)
{
    (void)a;
    int32_t pid = ps_get_i32(q);
    if (!ps_end(q) || pid <= 0)
        return WSM_ERR_INVALID_ARG;
    enum wsm_err e = WSM_ERR_NOT_FOUND;
    pthread_mutex_lock(&wsmd__mon.lock);
    struct child *c = wsmd__mon_child_find(pid);
    if (c && c->exited) {
        while (waitpid(pid, NULL, WNOHANG) < 0 && errno == EINTR)
            ;
        wsmd__mon_child_forget(c);
        e = WSM_OK;
    } else if (c) {
        e = WSM_ERR_INVALID_ARG; /* still running: release after the exit */
    }
    pthread_mutex_unlock(&wsmd__mon.lock);
    return e;
}

/* winrm/config writes (cfgset.c decides who may; the network process
 * asked for the right already): only keys of the fixed list, values that
 * fit on one line and that wsmd's own loader accepts, for a name that
 * authenticated through the monitor. */
