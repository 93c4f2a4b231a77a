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

/* A sanitizer build (gcc says so one way, clang another). */
#if defined(__SANITIZE_ADDRESS__)
#define WSMD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WSMD_ASAN 1
#endif
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
#include "privsep_priv.h"
#include "pswire.h"
#include "reload.h"
#include "sdnotify.h"
#include "server.h"

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
        "execve",
        "execveat",
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "mount",
        "umount2",
        "pivot_root",
        "chroot",
        "swapon",
        "swapoff",
        "reboot",
        "kexec_load",
        "kexec_file_load",
        "init_module",
        "finit_module",
        "delete_module",
        "bpf",
        "userfaultfd",
        "perf_event_open",
        "unshare",
        "setns",
        "keyctl",
        "add_key",
        "request_key",
        "acct",
        "settimeofday",
        "clock_settime",
        "adjtimex",
        "clock_adjtime",
        "iopl",
        "ioperm",
        "open_by_handle_at",
        "name_to_handle_at",
        "quotactl",
        "syslog",
        "vhangup",
        "fanotify_init",
        "personality",
        "setuid",
        "setgid",
        "setreuid",
        "setregid",
        "setresuid",
        "setresgid",
        "setgroups",
        "setfsuid",
        "setfsgid",
        "capset",
        "mknod",
        "mknodat",
        "fsopen",
        "fsmount",
        "move_mount",
        "open_tree",
    };
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
    if (!f)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < sizeof(deny) / sizeof(deny[0]) && rc == 0; i++) {
#ifdef WSMD_ASAN
        /* LeakSanitizer stops the threads with ptrace at exit (sanitizer
         * builds only). */
        if (!strcmp(deny[i], "ptrace"))
            continue;
#endif
        int nr = seccomp_syscall_resolve_name(deny[i]);
        if (nr == __NR_SCMP_ERROR)
            continue; /* not on this architecture */
        rc = seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), nr, 0);
    }
    /* New namespaces through clone: refused; clone3's flags cannot be
     * inspected, so it is "not implemented" and glibc falls back to clone. */
    static const unsigned long ns[] = {0x10000000UL /* CLONE_NEWUSER */,
                                       0x00020000UL /* NEWNS */,
                                       0x40000000UL /* NEWNET */,
                                       0x20000000UL /* NEWPID */,
                                       0x04000000UL /* NEWUTS */,
                                       0x08000000UL /* NEWIPC */,
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

/* The one supplementary group the network process keeps: systemd-journal,
 * so that event subscriptions can read the journal (docs/internals/evsrc.md,
 * "Access"); it grants reading the journal files and nothing else. Looked
 * up by the monitor before any fork (no NSS in a forked child). */
#define WSMD_JOURNAL_GROUP "systemd-journal"
static gid_t journal_gid = (gid_t)-1;

static int drop_privileges(const struct passwd *pw)
{
    if (chdir("/") < 0)
        return -1;
    gid_t keep[1];
    int nkeep = 0;
    if (journal_gid != (gid_t)-1 && journal_gid != pw->pw_gid)
        keep[nkeep++] = journal_gid;
    if (setgroups((size_t)nkeep, keep) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
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

/* Runs in the new network process: the channels, the privileges, the
 * hooks that send privileged work to the monitor. */
static void become_network(struct wsmd_server *srv, const struct passwd *pw, int sp[][2],
                           const sigset_t *oldmask, pid_t monitor)
{
    int fds[WSMD_PS_CHANNELS];
    for (int i = 0; i < WSMD_PS_CHANNELS; i++) {
        close(sp[i][0]);
        fds[i] = sp[i][1];
    }
    pthread_sigmask(SIG_SETMASK, oldmask, NULL);
    if (drop_privileges(pw) != 0) {
        wsmd__log("event=privsep-error message=\"cannot drop privileges to %s: %s\"", pw->pw_name,
                  strerror(errno));
        _exit(70);
    }
    /* The network process dies with its monitor (set after the uid
     * change, which clears it). monitor is the pid the parent had before
     * the fork: a monitor that died since (getppid() now says init, or a
     * subreaper) is seen here, and the child does not go on alone. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != monitor)
        _exit(70);
#ifdef WSMD_ASAN
    /* LeakSanitizer stops the threads with ptrace at exit; a process that
     * changed uid is not dumpable, so it could not. Sanitizer builds only. */
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
    wsmd__psclient_start(srv, fds, monitor);
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
    pid_t monitor = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        become_network(srv, pw, sp, oldmask, monitor);
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
    const struct group *jg = getgrnam(WSMD_JOURNAL_GROUP);
    journal_gid = jg ? jg->gr_gid : (gid_t)-1;
    static struct passwd pw;
    pw = *found;
    pw.pw_name = strdup(found->pw_name);
    if (!pw.pw_name)
        return WSM_ERR_NOMEM;
    for (size_t i = 0; i < srv->cfg.nlisteners; i++) {
        /* The monitor binds the listeners, so that ports stay the same when
         * a new network process takes over and ports below 1024 need no
         * privilege in it. */
        char why[300];
        if (wsmd__bind_listener(&srv->cfg.listeners[i], why, sizeof(why)) != 0) {
            fprintf(stderr, "wsmd: %s\n", why);
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
    wsmd__auth_start_watcher(srv->auth); /* the first thread of the monitor */
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
                if (!stopping) {
                    wsmd__log("event=stop signal=%d", sig);
                    wsmd__sd_notify("STOPPING=1\nSTATUS=Stopping");
                }
                stopping = 1;
                kill(child, SIGTERM);
            } else if (sig == SIGHUP && !stopping) {
                /* What needs root first (the file, the key, the keytab),
                 * then the network process's part (reload.h). */
                wsmd__reload_monitor(srv);
                kill(child, SIGHUP);
            }
            pid_t r = waitpid(child, &status, WNOHANG);
            if (r == child)
                break;
        }
        for (int i = 0; i < WSMD_PS_CHANNELS; i++)
            pthread_join(th[i], NULL);
        wsmd__monitor_reset();
        /* A stop, a clean exit, or a failure at startup (a listener it
         * cannot start, say: WSMD_EXIT_STARTUP): the monitor ends too.
         * Anything else is a crash: a signal, or (sanitizer builds) the
         * sanitizer's exit. */
        if (stopping || (WIFEXITED(status) &&
                         (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == WSMD_EXIT_STARTUP))) {
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
        wsmd__log("event=privsep-restart reason=\"network process %d %s %d\"", (int)child,
                  WIFSIGNALED(status) ? "died of signal" : "exited with status",
                  WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        wsmd__sd_notify("STATUS=Restarting the network process (it died; see the log)");
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
