/* Starting wsmd-ipmi (docs/internals/ipmi.md, "The boundary").
 *
 * The helper is started by whoever read the configuration: the monitor
 * when wsmd is separated (the network process may not run programs: its
 * seccomp filter refuses execve), the single process otherwise. The
 * monitor runs it as the network process's account, since remote BMCs
 * need nothing but the network. Its first frame, CONFIG, carries the
 * BMCs and their passwords, written before the socket is handed to the
 * network process: the passwords never pass through the process that
 * parses what the network sends. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipmi.h"
#include "log.h"
#include "pswire.h"
#include "server.h"

#ifndef WSMD_IPMI_HELPER
#define WSMD_IPMI_HELPER "/usr/libexec/wsmd/wsmd-ipmi"
#endif

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct ipmi_hosts hosts;
static int configured;
static char helper[PATH_MAX];
static char account[64]; /* the separated network process's account, "" when not separated */
static pid_t helper_pid;

/* The build tree's helper sits beside wsmd; an installed one in libexec. */
static int find_helper(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            snprintf(helper, sizeof(helper), "%.*s/wsmd-ipmi", (int)(sizeof(helper) - 16), self);
            if (access(helper, X_OK) == 0)
                return 0;
        }
    }
    snprintf(helper, sizeof(helper), "%s", WSMD_IPMI_HELPER);
    return access(helper, X_OK);
}

/* The local BMC (docs/internals/ipmi.md, "The in-band BMC"): FreeIPMI's
 * OpenIPMI driver through the kernel's device, a system named "local".
 * Looked for once, at start; absent, it is said once and left out. */
#define INBAND_NAME "local"

static int inband; /* the hosts hold the local BMC: the helper opens it as root */

static const char *inband_device(void)
{
    /* Tests only: another path (none here has /dev/ipmi0). */
    const char *d = getenv("WSMD_IPMI_DEVICE");
    return d && *d ? d : "/dev/ipmi0";
}

/* Adds the local BMC to the hosts when its device is there; 1 if added. */
static int add_inband(void)
{
    const char *dev = inband_device();
    struct stat st;
    const char *why = NULL;
    if (stat(dev, &st) != 0)
        why = errno == ENOENT ? "no such device (modprobe ipmi_si ipmi_devintf on a host with a "
                                "BMC)"
                              : strerror(errno);
    else if (!S_ISCHR(st.st_mode))
        why = "not a character device";
    else if (geteuid() != 0)
        why = "wsmd does not run as root (the device is root's)";
    else if (strlen(dev) > IPMI_HOST_MAX)
        why = "its path is too long";
    for (size_t i = 0; !why && i < hosts.n; i++)
        if (!strcmp(hosts.b[i].name, INBAND_NAME))
            why = "IpmiHosts names a BMC \"" INBAND_NAME "\"";
    struct ipmi_bmc *nb = why ? NULL : realloc(hosts.b, (hosts.n + 1) * sizeof(*nb));
    if (!why && !nb)
        why = "out of memory";
    if (why) {
        wsmd__log("event=ipmi-inband-absent device=%s reason=\"%s\"", dev, why);
        return 0;
    }
    hosts.b = nb;
    struct ipmi_bmc *b = &hosts.b[hosts.n++];
    memset(b, 0, sizeof(*b));
    snprintf(b->name, sizeof(b->name), "%s", INBAND_NAME);
    snprintf(b->host, sizeof(b->host), "%s", dev);
    b->port = 623; /* unused: keeps the record valid */
    b->cipher = -1;
    b->inband = 1;
    inband = 1;
    wsmd__log("event=ipmi-inband device=%s bmc=" INBAND_NAME, dev);
    return 1;
}

enum wsm_err wsmd__ipmi_setup(const struct wsmd_config *cfg)
{
    /* The account the helper runs as when separated (the network
     * process's), whether it serves remote BMCs, the local one, or both. */
    uid_t owner = (uid_t)-1;
    account[0] = '\0';
    if (geteuid() == 0 && cfg->privsep) {
        const char *u = cfg->privsep_user ? cfg->privsep_user : "wsmd";
        struct passwd *pw = getpwnam(u);
        if (pw)
            owner = pw->pw_uid;
        snprintf(account, sizeof(account), "%s", u);
    }
    if (!cfg->ipmi_hosts) {
        /* No remote BMC: the local one alone, when its device is there
         * (quietly nothing otherwise: IPMI is not in use). */
        struct stat st;
        if (stat(inband_device(), &st) != 0 || !S_ISCHR(st.st_mode) || find_helper() != 0)
            return WSM_OK;
        if (add_inband())
            configured = 1;
        return WSM_OK;
    }
    char err[300];
    enum wsm_err e = wsmd__ipmi_hosts_load(cfg->ipmi_hosts, owner, &hosts, err, sizeof(err));
    if (e) {
        fprintf(stderr, "wsmd: IpmiHosts %s: %s\n", cfg->ipmi_hosts, err);
        return e;
    }
    if (find_helper() != 0) {
        fprintf(stderr,
                "wsmd: IpmiHosts is set but the IPMI helper %s is not there (wsmd was built "
                "without libfreeipmi, or it is not installed)\n",
                helper);
        wsmd__ipmi_hosts_clear(&hosts);
        return WSM_ERR_NOT_FOUND;
    }
    configured = 1;
    wsmd__log("event=ipmi-config file=\"%s\" bmcs=%zu helper=\"%s\"", cfg->ipmi_hosts, hosts.n,
              helper);
    add_inband();
    return WSM_OK;
}

void wsmd__ipmi_forget(void)
{
    pthread_mutex_lock(&lock);
    wsmd__ipmi_hosts_clear(&hosts);
    pthread_mutex_unlock(&lock);
}

/* Called with lock held. */
static void end_helper(void)
{
    if (helper_pid <= 0)
        return;
    pid_t pid = helper_pid;
    helper_pid = 0;
    /* Its socket is closed already (or about to be): it closes its
     * sessions and exits on its own; SIGTERM is for one stuck in a BMC
     * call after 1 s, SIGKILL after 2 s for one that ignores it. */
    for (int i = 0; i < 200; i++) {
        pid_t r = waitpid(pid, NULL, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            return;
        if (i == 100) { /* 1 s to close its sessions */
            kill(pid, SIGTERM);
            kill(pid, SIGCONT); /* one stopped would not take it */
        }
        struct timespec d = {0, 10 * 1000 * 1000};
        nanosleep(&d, NULL);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

void wsmd__ipmi_stop(void)
{
    pthread_mutex_lock(&lock);
    end_helper();
    pthread_mutex_unlock(&lock);
}

static int config_frame(int fd)
{
    struct ipmi_wbuf w;
    ipmiw_init(&w, IPMI_REQUEST_MAX);
    ipmiw_begin(&w, 0, IPMI_OP_CONFIG, 0);
    for (size_t i = 0; i < hosts.n; i++)
        ipmi_bmc_encode(&w, &hosts.b[i], 1);
    int rc = ipmiw_finish(&w) == 0 ? ipmi_write_all(fd, w.p, w.len) : -1;
    if (w.p)
        memset(w.p, 0, w.len); /* the passwords */
    ipmiw_free(&w);
    return rc;
}

enum wsm_err wsmd__ipmi_spawn(int *fd, int drop, uid_t uid, gid_t gid)
{
    int sv[2];
    pthread_mutex_lock(&lock);
    if (!configured || !hosts.b) {
        pthread_mutex_unlock(&lock);
        return WSM_ERR_NOT_FOUND;
    }
    end_helper();
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        pthread_mutex_unlock(&lock);
        return errno == ENOMEM ? WSM_ERR_NOMEM : WSM_ERR_IO;
    }
    char fdarg[16], uidarg[24], gidarg[24];
    snprintf(fdarg, sizeof(fdarg), "%d", 3);
    snprintf(uidarg, sizeof(uidarg), "%u", (unsigned)uid);
    snprintf(gidarg, sizeof(gidarg), "%u", (unsigned)gid);
    /* The local BMC's device is root's: the helper opens it before it
     * reads anything but the CONFIG frame, then drops to the account
     * itself (--drop); without it, the account is taken here. */
    int self_drop = drop && inband;
    char *const argv_drop[] = {"wsmd-ipmi", fdarg, "--drop", uidarg, gidarg, NULL};
    char *const argv_plain[] = {"wsmd-ipmi", fdarg, NULL};
    char *const *argv = self_drop ? argv_drop : argv_plain;
    char *const envp[] = {"PATH=/usr/bin:/bin", NULL};
    /* Opened here, before the account changes: the build tree's helper may
     * sit below a folder only root may enter (a clone in /root, a mktemp
     * folder), and the account then only needs to execute the file. */
    int exe = open(helper, O_PATH | O_CLOEXEC);
    if (exe < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        pthread_mutex_unlock(&lock);
        return e == ENOMEM ? WSM_ERR_NOMEM : WSM_ERR_IO;
    }
    pid_t pid = fork();
    if (pid == 0) {
        /* Only async-signal-safe calls from here to execve. */
        if (dup2(sv[1], 3) < 0 || dup2(exe, 4) < 0 || fcntl(4, F_SETFD, FD_CLOEXEC) < 0)
            _exit(127);
        /* Nothing else of wsmd's (listeners, channels) goes along. Its
         * lifetime is the socket's: EOF ends it, so no PDEATHSIG (tied to
         * the forking thread, which may be a short-lived worker). */
        syscall(SYS_close_range, 5, ~0U, 0);
        if (drop && !self_drop &&
            (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 ||
             setresuid(uid, uid, uid) != 0 || setuid(0) == 0))
            _exit(126);
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        syscall(SYS_execveat, 4, "", argv, envp, AT_EMPTY_PATH);
        _exit(127);
    }
    int err = errno;
    close(exe);
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        pthread_mutex_unlock(&lock);
        return err == ENOMEM ? WSM_ERR_NOMEM : WSM_ERR_IO;
    }
    helper_pid = pid;
    if (config_frame(sv[0]) != 0) {
        close(sv[0]);
        end_helper();
        pthread_mutex_unlock(&lock);
        return WSM_ERR_INTERNAL;
    }
    pthread_mutex_unlock(&lock);
    wsmd__log("event=ipmi-helper-started pid=%d bmcs=%zu", (int)pid, hosts.n);
    *fd = sv[0];
    return WSM_OK;
}

enum wsm_err wsmd__ipmi_monitor_connect(struct ps_msg *q, struct ps_msg *a)
{
    if (!ps_end(q))
        return WSM_ERR_INVALID_ARG;
    uid_t uid = 0;
    gid_t gid = 0;
    int drop = 0;
    if (account[0]) {
        struct passwd pw, *res = NULL;
        char buf[1024];
        if (getpwnam_r(account, &pw, buf, sizeof(buf), &res) != 0 || !res)
            return WSM_ERR_INTERNAL;
        uid = res->pw_uid;
        gid = res->pw_gid;
        drop = 1;
    }
    int fd = -1;
    enum wsm_err e = wsmd__ipmi_spawn(&fd, drop, uid, gid);
    if (e)
        return e;
    ps_put_fd(a, fd); /* closed by the channel once sent */
    return WSM_OK;
}
