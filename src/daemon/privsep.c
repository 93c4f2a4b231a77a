/* Privilege separation: the split at startup, the monitor's life (restart
 * of a dead network process), the network process's privileges, and its
 * side of the request table (privsep.h, docs/internals/privsep.md). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef WSMD_HAVE_SECCOMP
#include <seccomp.h>
#endif

#include "auth.h"
#include "engine.h"
#include "cgroup.h"
#include "engine_internal.h"
#ifdef WSMD_HAVE_CIM
#include "cim.h"
#endif
#include "monitor_priv.h"
#include "negotiate.h"
#include "privsep.h"
#include "pswire.h"
#include "server.h"

/* ---- the network process's side ----------------------------------------- */

static struct {
    int on;
    pid_t monitor;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int fd[WSMD_PS_CHANNELS];
    int busy[WSMD_PS_CHANNELS];
} net = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

int wsmd__privsep_on(void)
{
    return net.on;
}

pid_t wsmd__privsep_monitor_pid(void)
{
    return net.on ? net.monitor : 0;
}

/* Sends q on a free channel and reads the answer into a: the error it
 * carries, with a positioned after it. */
static enum wsm_err call(struct ps_msg *q, struct ps_msg *a)
{
    int i = -1;
    pthread_mutex_lock(&net.lock);
    for (;;) {
        for (int k = 0; k < WSMD_PS_CHANNELS && i < 0; k++)
            if (!net.busy[k])
                i = k;
        if (i >= 0)
            break;
        pthread_cond_wait(&net.cond, &net.lock);
    }
    net.busy[i] = 1;
    pthread_mutex_unlock(&net.lock);

    enum wsm_err e = WSM_ERR_INTERNAL;
    if (ps_send(net.fd[i], q) == 0 && ps_recv(net.fd[i], a) == 1) {
        uint32_t t = ps_get_u32(a);
        uint32_t err = ps_get_u32(a);
        if (!a->fail && t == PS_REPLY && err < 1000)
            e = (enum wsm_err)err;
    } else {
        wsmd__log("event=privsep-error message=\"the monitor does not answer: %s\"",
                  strerror(errno));
    }

    pthread_mutex_lock(&net.lock);
    net.busy[i] = 0;
    pthread_cond_signal(&net.cond);
    pthread_mutex_unlock(&net.lock);
    return e;
}

/* The reasons of wsmd__auth_verify, by number on the wire. */
static const char *const auth_reasons[] = {"bad-password", "unknown-user", "malformed",
                                           "uid0-without-AllowRoot"};

enum wsm_err wsmd__ps_auth_password(const char *user, const char *pass, const char **why)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, PS_AUTH_PASSWORD);
    ps_put_str(&q, user);
    ps_put_str(&q, pass);
    enum wsm_err e = call(&q, &a);
    if (why) {
        uint32_t r = e == WSM_ERR_AUTH ? ps_get_u32(&a) : 0;
        *why = auth_reasons[r < sizeof(auth_reasons) / sizeof(auth_reasons[0]) ? r : 0];
    }
    ps_clear(&q);
    ps_clear(&a);
    return e;
}

enum wsm_err wsmd__ps_nego_step(uint64_t conn, int tls, const char *authz, char **www, int *done,
                                unsigned char **ctx, size_t *ctx_len)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    *www = NULL;
    *done = 0;
    *ctx = NULL;
    *ctx_len = 0;
    ps_start(&q, PS_NEGO_STEP);
    ps_put_u64(&q, conn);
    ps_put_u32(&q, tls ? 1 : 0);
    ps_put_str(&q, authz);
    enum wsm_err e = call(&q, &a);
    if (e == WSM_OK) {
        uint32_t d = ps_get_u32(&a);
        const char *w = ps_get_str(&a, PS_MAX_MSG);
        size_t n = 0;
        const unsigned char *c = ps_get_blob(&a, PS_MAX_MSG, &n);
        if (!ps_end(&a)) {
            e = WSM_ERR_INTERNAL;
        } else {
            *done = d != 0;
            if (*w && !(*www = strdup(w)))
                e = WSM_ERR_NOMEM;
            if (n && e == WSM_OK) {
                if ((*ctx = malloc(n))) {
                    memcpy(*ctx, c, n);
                    *ctx_len = n;
                } else {
                    e = WSM_ERR_NOMEM;
                }
            }
        }
        if (e) {
            free(*www);
            *www = NULL;
            free(*ctx);
            *ctx = NULL;
            *done = 0;
        }
    }
    ps_clear(&q);
    ps_clear(&a);
    return e;
}

void wsmd__ps_nego_free(uint64_t conn)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, PS_NEGO_FREE);
    ps_put_u64(&q, conn);
    call(&q, &a);
    ps_clear(&q);
    ps_clear(&a);
}

enum wsm_err wsmd__ps_cert_user(const char *user)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, PS_CERT_USER);
    ps_put_str(&q, user);
    enum wsm_err e = call(&q, &a);
    ps_clear(&q);
    ps_clear(&a);
    return e;
}

enum wsm_err wsmd__ps_spawn(const char *user, const struct shell_spawn_req *r,
                            struct shell_spawn_res *res)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, PS_SPAWN);
    ps_put_str(&q, user);
    ps_put_str(&q, r->cmdline);
    ps_put_str(&q, r->workdir);
    ps_put_u64(&q, r->mem_limit);
    ps_put_u32(&q, r->pipe_size > 0 ? (uint32_t)r->pipe_size : 0);
    uint32_t n = 0;
    while (r->envp && r->envp[n])
        n++;
    ps_put_u32(&q, n);
    for (uint32_t i = 0; i < n; i++)
        ps_put_str(&q, r->envp[i]);
    /* The shell's cgroup, by name: the monitor opens its cgroup.procs
     * files and the child writes itself into them before it changes
     * user (cgroup.c). */
    ps_put_str(&q, r->ncg > 0 && r->cg_name ? r->cg_name : "");
    enum wsm_err e = call(&q, &a);
    if (e == WSM_OK) {
        int32_t pid = ps_get_i32(&a);
        res->in_fd = ps_take_fd(&a);
        res->out_fd = ps_take_fd(&a);
        res->err_fd = ps_take_fd(&a);
        res->pidfd = ps_take_fd(&a);
        res->pid = pid;
        if (!ps_end(&a) || pid <= 0 || res->pidfd < 0) {
            for (int *fd = &res->in_fd; fd <= &res->err_fd; fd++)
                if (*fd >= 0)
                    close(*fd);
            if (res->pidfd >= 0)
                close(res->pidfd);
            e = WSM_ERR_INTERNAL;
        } else {
            fcntl(res->pidfd, F_SETFL, fcntl(res->pidfd, F_GETFL) | O_NONBLOCK);
        }
    }
    ps_clear(&q);
    ps_clear(&a);
    return e;
}

#ifdef WSMD_HAVE_CIM
static unsigned ps_create(const char *user, const char *cmd, const char *cwd, pid_t *pid)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, PS_CREATE);
    ps_put_str(&q, user);
    ps_put_str(&q, cmd);
    ps_put_str(&q, cwd);
    unsigned rv = 8; /* Win32_Process.Create: unknown failure */
    enum wsm_err e = call(&q, &a);
    if (e == WSM_ERR_ACCESS_DENIED) {
        rv = 2; /* access denied */
    } else if (e == WSM_OK) {
        uint32_t v = ps_get_u32(&a);
        int32_t p = ps_get_i32(&a);
        if (ps_end(&a)) {
            rv = v;
            *pid = p;
        }
    }
    ps_clear(&q);
    ps_clear(&a);
    return rv;
}

static enum wsm_err ps_terminate(const char *user, pid_t pid, unsigned long long start)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, PS_TERMINATE);
    ps_put_str(&q, user);
    ps_put_i32(&q, pid);
    ps_put_u64(&q, start);
    enum wsm_err e = call(&q, &a);
    ps_clear(&q);
    ps_clear(&a);
    return e;
}

static long ps_proc_read(pid_t pid, int what, char *buf, size_t n)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, PS_PROC_READ);
    ps_put_i32(&q, pid);
    ps_put_u32(&q, (uint32_t)what);
    long len = -1;
    if (call(&q, &a) == WSM_OK) {
        size_t l = 0;
        const unsigned char *p = ps_get_blob(&a, 4096, &l);
        if (ps_end(&a) && l < n) {
            memcpy(buf, p, l);
            buf[l] = '\0';
            len = (long)l;
        }
    }
    ps_clear(&q);
    ps_clear(&a);
    return len;
}

static const struct cim_proc_ops remote_proc = {
    .create = ps_create,
    .terminate = ps_terminate,
    .proc_read = ps_proc_read,
};
#endif

enum wsm_err wsmd__ps_check_dir(const char *user, const struct shell_spawn_req *r)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, PS_CHECK_DIR);
    ps_put_str(&q, user);
    ps_put_str(&q, r->workdir);
    enum wsm_err e = call(&q, &a);
    ps_clear(&q);
    ps_clear(&a);
    return e;
}

static enum wsm_err simple_pid(uint32_t type, pid_t pid, int sig, int with_sig)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, type);
    ps_put_i32(&q, pid);
    if (with_sig)
        ps_put_i32(&q, sig);
    enum wsm_err e = call(&q, &a);
    ps_clear(&q);
    ps_clear(&a);
    return e;
}

enum wsm_err wsmd__ps_signal(pid_t pid, int sig)
{
    return simple_pid(PS_SIGNAL, pid, sig, 1);
}

enum wsm_err wsmd__ps_release(pid_t pid)
{
    return simple_pid(PS_RELEASE, pid, 0, 0);
}

static const struct shell_proc_ops remote_ops = {
    .spawn = wsmd__ps_spawn,
    .signal = wsmd__ps_signal,
    .release = wsmd__ps_release,
    .check_dir = wsmd__ps_check_dir,
};

static enum wsm_err remote_password(void *arg, const char *user, const char *pass,
                                    const char **why)
{
    (void)arg;
    return wsmd__ps_auth_password(user, pass, why);
}

/* ---- becoming unprivileged ------------------------------------------------- */

#ifdef WSMD_HAVE_SECCOMP
/* A deny list: what the network process never needs and an attacker who
 * took it over would want first (run a program, reach other processes,
 * change the system, escape through new namespaces). An allow list would
 * be tighter; it is left for when the set of calls that libmicrohttpd,
 * GnuTLS, GSSAPI and libxml2 make is pinned down by tests. */
static int install_seccomp(void)
{
    static const char *const deny[] = {
        "execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "mount",
        "umount2", "pivot_root", "chroot", "swapon", "swapoff", "reboot", "kexec_load",
        "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf", "userfaultfd",
        "perf_event_open", "unshare", "setns", "keyctl", "add_key", "request_key", "acct",
        "settimeofday", "clock_settime", "adjtimex", "clock_adjtime", "iopl", "ioperm",
        "open_by_handle_at", "name_to_handle_at", "quotactl", "syslog", "vhangup",
        "fanotify_init", "personality", "setuid", "setgid", "setreuid", "setregid",
        "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid", "capset",
        "mknod", "mknodat", "fsopen", "fsmount", "move_mount", "open_tree",
    };
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
    if (!f)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < sizeof(deny) / sizeof(deny[0]) && rc == 0; i++) {
        int nr = seccomp_syscall_resolve_name(deny[i]);
        if (nr == __NR_SCMP_ERROR)
            continue; /* not on this architecture */
        rc = seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), nr, 0);
    }
    /* New namespaces through clone: refused; clone3's flags cannot be
     * inspected, so it is "not implemented" and glibc falls back to clone. */
    static const unsigned long ns[] = {0x10000000UL /* CLONE_NEWUSER */, 0x00020000UL /* NEWNS */,
                                       0x40000000UL /* NEWNET */,  0x20000000UL /* NEWPID */,
                                       0x04000000UL /* NEWUTS */,  0x08000000UL /* NEWIPC */,
                                       0x02000000UL /* NEWCGROUP */};
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]) && rc == 0; i++)
        rc = seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, ns[i], ns[i]));
    int nr3 = seccomp_syscall_resolve_name("clone3");
    if (rc == 0 && nr3 != __NR_SCMP_ERROR)
        rc = seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), nr3, 0);
    if (rc == 0)
        rc = seccomp_load(f);
    seccomp_release(f);
    return rc;
}
#endif

static int drop_privileges(const struct passwd *pw)
{
    if (chdir("/") < 0)
        return -1;
    if (setgroups(0, NULL) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
        setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
        return -1;
    /* Root must be gone for good. */
    if (pw->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
        return -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -1;
#ifdef WSMD_HAVE_SECCOMP
    if (install_seccomp() != 0)
        return -1;
#endif
    return 0;
}

/* ---- the split ----------------------------------------------------------- */

/* The monitor binds the listeners, so that ports stay the same when a new
 * network process takes over and ports below 1024 need no privilege in
 * it. */
static int bind_listener(struct wsmd_listener *l)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof(ss));
    int v6 = strchr(l->host, ':') != NULL;
    if (v6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((unsigned short)l->port);
        if (inet_pton(AF_INET6, l->host, &s6->sin6_addr) != 1)
            return -1;
        len = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((unsigned short)l->port);
        if (inet_pton(AF_INET, l->host, &s4->sin_addr) != 1)
            return -1;
        len = sizeof(*s4);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (v6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, SOMAXCONN) < 0) {
        close(fd);
        return -1;
    }
    len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        l->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    l->lfd = fd;
    l->has_lfd = 1;
    return 0;
}

/* Runs in the new network process: the channels, the privileges, the
 * hooks that send privileged work to the monitor. */
static void become_network(struct wsmd_server *srv, const struct passwd *pw, int sp[][2],
                           const sigset_t *oldmask)
{
    for (int i = 0; i < WSMD_PS_CHANNELS; i++) {
        close(sp[i][0]);
        net.fd[i] = sp[i][1];
        net.busy[i] = 0;
    }
    net.monitor = getppid();
    pthread_sigmask(SIG_SETMASK, oldmask, NULL);
    if (drop_privileges(pw) != 0) {
        wsmd__log("event=privsep-error message=\"cannot drop privileges to %s: %s\"",
                  pw->pw_name, strerror(errno));
        _exit(70);
    }
    /* The network process dies with its monitor (set after the uid
     * change, which clears it). */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != net.monitor)
        _exit(70);
#if defined(__SANITIZE_ADDRESS__)
    /* LeakSanitizer stops the threads with ptrace at exit; a process that
     * changed uid is not dumpable, so it could not. Sanitizer builds only. */
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
    net.on = 1;
    shell_set_proc_ops(&remote_ops);
#ifdef WSMD_HAVE_CIM
    cim_process_set_ops(&remote_proc);
#endif
    wsmd__auth_detach_watcher(srv->auth);
    wsmd__auth_set_remote(srv->auth, remote_password, NULL);
    if (srv->nego)
        wsmd__nego_set_remote(srv->nego, wsmd__ps_nego_step, wsmd__ps_nego_free);
    wsmd__log("event=privsep role=network pid=%d user=%s uid=%u", (int)getpid(), pw->pw_name,
              (unsigned)pw->pw_uid);
}

static pid_t start_network(struct wsmd_server *srv, const struct passwd *pw, int mon_fds[],
                           const sigset_t *oldmask)
{
    int sp[WSMD_PS_CHANNELS][2];
    for (int i = 0; i < WSMD_PS_CHANNELS; i++) {
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp[i]) < 0) {
            for (int k = 0; k < i; k++) {
                close(sp[k][0]);
                close(sp[k][1]);
            }
            return -1;
        }
        int sz = 2 * PS_MAX_MSG;
        for (int k = 0; k < 2; k++) {
            setsockopt(sp[i][k], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
            setsockopt(sp[i][k], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
        }
    }
    pid_t pid = fork();
    if (pid == 0) {
        become_network(srv, pw, sp, oldmask);
        return 0;
    }
    for (int i = 0; i < WSMD_PS_CHANNELS; i++) {
        close(sp[i][1]);
        if (pid > 0)
            mon_fds[i] = sp[i][0];
        else
            close(sp[i][0]);
    }
    return pid;
}

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

enum wsm_err wsmd__privsep_start(struct wsmd_server *srv, int *monitor_rc)
{
    *monitor_rc = -1;
    const char *uname = srv->cfg.privsep_user ? srv->cfg.privsep_user : WSMD_PRIVSEP_USER;
    struct passwd *found = getpwnam(uname);
    if (!found || found->pw_uid == 0) {
        fprintf(stderr,
                "wsmd: privilege separation needs the unprivileged account \"%s\" (create it: "
                "useradd --system --no-create-home --shell /usr/sbin/nologin %s), or "
                "PrivilegeSeparation = no in the config file\n",
                uname, uname);
        return WSM_ERR_INVALID_ARG;
    }
    static struct passwd pw;
    pw = *found;
    pw.pw_name = strdup(found->pw_name);
    if (!pw.pw_name)
        return WSM_ERR_NOMEM;
    for (size_t i = 0; i < srv->cfg.nlisteners; i++) {
        if (bind_listener(&srv->cfg.listeners[i]) != 0) {
            fprintf(stderr, "wsmd: cannot listen on %s: %s\n", srv->cfg.listeners[i].url,
                    strerror(errno));
            return WSM_ERR_IO;
        }
    }

    sigset_t mask, oldmask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &mask, &oldmask);
    signal(SIGPIPE, SIG_IGN);

    wsmd__monitor_init(srv);
    if (wsmd__auth_share_changes(srv->auth) != WSM_OK)
        return WSM_ERR_NOMEM;
    if (wsmd__cg_active() && wsmd__cg_delegate(pw.pw_uid, pw.pw_gid) != 0)
        wsmd__log("event=privsep-error message=\"cannot hand the cgroups to %s: %s\"", pw.pw_name,
                  strerror(errno));
    int fds[WSMD_PS_CHANNELS];
    pid_t child = start_network(srv, &pw, fds, &oldmask);
    if (child == 0)
        return WSM_OK; /* the network process goes on with main() */
    if (child < 0) {
        fprintf(stderr, "wsmd: cannot start the network process: %s\n", strerror(errno));
        return WSM_ERR_INTERNAL;
    }
    wsmd__log("event=privsep role=monitor pid=%d network=%d", (int)getpid(), (int)child);
    wsmd__monitor_set_network(child);
    pthread_t reaper;
    pthread_create(&reaper, NULL, wsmd__monitor_reaper, NULL);
    pthread_detach(reaper);

    int crashes = 0;
    for (;;) {
        pthread_t th[WSMD_PS_CHANNELS];
        for (int i = 0; i < WSMD_PS_CHANNELS; i++)
            pthread_create(&th[i], NULL, wsmd__monitor_channel, (void *)(intptr_t)fds[i]);
        long long started = now_ms();
        int stopping = 0, status = 0;
        for (;;) {
            siginfo_t si;
            struct timespec ts = {1, 0};
            int sig = sigtimedwait(&mask, &si, &ts);
            if (sig == SIGTERM || sig == SIGINT) {
                if (!stopping)
                    wsmd__log("event=stop signal=%d", sig);
                stopping = 1;
                kill(child, SIGTERM);
            } else if (sig == SIGHUP) {
                kill(child, SIGHUP);
            }
            pid_t r = waitpid(child, &status, WNOHANG);
            if (r == child)
                break;
        }
        for (int i = 0; i < WSMD_PS_CHANNELS; i++)
            pthread_join(th[i], NULL);
        wsmd__monitor_reset();
        if (stopping || !WIFSIGNALED(status)) {
            *monitor_rc = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
            if (*monitor_rc)
                wsmd__log("event=privsep-exit network=%d status=%d signal=%d", (int)child,
                          WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                          WIFSIGNALED(status) ? WTERMSIG(status) : 0);
            return WSM_OK;
        }
        /* A crash of the network process (a bug in a parser, say): it had
         * no privilege to lose. Start a new one; back off if it keeps
         * dying at once. */
        wsmd__log("event=privsep-restart reason=\"network process %d died of signal %d\"",
                  (int)child, WTERMSIG(status));
        crashes = now_ms() - started < 2000 ? crashes + 1 : 0;
        if (crashes > 3) {
            struct timespec d = {crashes > 10 ? 10 : crashes - 3, 0};
            nanosleep(&d, NULL);
        }
        child = start_network(srv, &pw, fds, &oldmask);
        if (child == 0)
            return WSM_OK;
        wsmd__monitor_set_network(child);
        if (child < 0) {
            wsmd__log("event=privsep-error message=\"cannot start the network process: %s\"",
                      strerror(errno));
            *monitor_rc = 1;
            return WSM_OK;
        }
    }
}
