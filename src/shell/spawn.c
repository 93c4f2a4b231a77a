/* Starting one command of the shell engine: pipes, fork, the child's set-up
 * and exec, with exec errors reported back through a close-on-exec pipe.
 *
 * The daemon is multi-threaded, so between fork() and execve() the child
 * only makes async-signal-safe calls (plain system calls) on data the
 * parent prepared: no malloc, no getpwnam, no stdio. */
#include "engine_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <grp.h>

enum { STAGE_FDS = 1, STAGE_IDS, STAGE_RLIMIT, STAGE_CHDIR, STAGE_EXEC };

struct exec_report {
    int stage;
    int err;
};

/* What the child reads, all prepared before fork. */
struct child_ctx {
    const struct shell_spawn_req *r;
    int in_rd, out_wr, err_wr, report_wr;
    unsigned maxfd;
    int set_rlimit;
    struct rlimit rl;
    struct sigaction dfl;
    sigset_t empty;
    char *argv[4];
};

__attribute__((noreturn)) static void child_fail(const struct child_ctx *c, int stage, int err)
{
    struct exec_report e;
    e.stage = stage;
    e.err = err;
    ssize_t n = write(c->report_wr, &e, sizeof(e));
    (void)n;
    _exit(127);
}

static void close_from(unsigned first, unsigned last, unsigned maxfd)
{
    if (first > last)
        return;
    if (close_range(first, last, 0) == 0)
        return;
    /* Kernels before 5.9: close what can be open one by one. */
    for (unsigned fd = first; fd <= last && fd < maxfd; fd++)
        close((int)fd);
}

__attribute__((noreturn)) static void child_main(const struct child_ctx *c)
{
    const struct shell_spawn_req *r = c->r;

    /* A new session and process group: signals go to -pid. */
    if (setsid() < 0)
        child_fail(c, STAGE_FDS, errno);
    /* Default dispositions (handlers are reset by exec anyway, but
     * ignored signals would stay ignored). The mask is emptied last. */
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &c->dfl, NULL);
    /* glibc keeps signals 32 and 33 for itself and refuses to change them,
     * but they can arrive ignored from whoever started the daemon: reset
     * them with the system call itself. */
    for (int s = 32; s < SIGRTMIN; s++) {
        struct {
            void *handler;
            unsigned long flags;
            void *restorer;
            unsigned long mask;
        } k = {0};
        k.handler = (void *)SIG_DFL;
        syscall(SYS_rt_sigaction, s, &k, NULL, sizeof(k.mask));
    }

    /* All pipe ends are >= 3 (the parent saw to it), so dup2 cannot
     * clobber one of them. dup2 clears close-on-exec on the copies. */
    if (dup2(c->in_rd, 0) < 0 || dup2(c->out_wr, 1) < 0 || dup2(c->err_wr, 2) < 0)
        child_fail(c, STAGE_FDS, errno);
    /* Everything else goes, except the report pipe (close-on-exec). */
    unsigned rep = (unsigned)c->report_wr;
    close_from(3, rep - 1, c->maxfd);
    close_from(rep + 1, ~0U, c->maxfd);

    if (r->switch_user) {
        if (setresgid(r->gid, r->gid, r->gid) < 0)
            child_fail(c, STAGE_IDS, errno);
        if (setgroups((size_t)(r->ngroups > 0 ? r->ngroups : 0), r->groups) < 0)
            child_fail(c, STAGE_IDS, errno);
        if (setresuid(r->uid, r->uid, r->uid) < 0)
            child_fail(c, STAGE_IDS, errno);
        if (r->uid != 0) {
            /* Root must be gone for good. */
            if (setuid(0) == 0)
                child_fail(c, STAGE_IDS, EPERM);
            uid_t ru, eu, su;
            if (getresuid(&ru, &eu, &su) < 0 || ru != r->uid || eu != r->uid || su != r->uid)
                child_fail(c, STAGE_IDS, EPERM);
        }
    }
    if (c->set_rlimit && setrlimit(RLIMIT_AS, &c->rl) < 0)
        child_fail(c, STAGE_RLIMIT, errno);
    /* After the switch: the directory as the owner sees it. */
    if (chdir(r->workdir) < 0)
        child_fail(c, STAGE_CHDIR, errno);

    sigprocmask(SIG_SETMASK, &c->empty, NULL);
    execve("/bin/sh", c->argv, r->envp);
    child_fail(c, STAGE_EXEC, errno);
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* A close-on-exec pipe whose two ends are both above 2. */
static int make_pipe(int p[2])
{
    if (pipe2(p, O_CLOEXEC) < 0) {
        p[0] = p[1] = -1;
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        if (p[i] > 2)
            continue;
        int n = fcntl(p[i], F_DUPFD_CLOEXEC, 3);
        close(p[i]);
        p[i] = n;
        if (n < 0) {
            close_fd(&p[0]);
            close_fd(&p[1]);
            return -1;
        }
    }
    return 0;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void reap_blocking(pid_t pid)
{
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

enum wsm_err shell__spawn(const struct shell_spawn_req *r, struct shell_spawn_res *res)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, rep[2] = {-1, -1};
    enum wsm_err ret = WSM_ERR_INTERNAL;
    struct child_ctx c;
    memset(&c, 0, sizeof(c)); /* sa_flags and the rest start at zero */

    if (make_pipe(in) < 0 || make_pipe(out) < 0 || make_pipe(err) < 0 || make_pipe(rep) < 0)
        goto fail;
    if (set_nonblock(in[1]) < 0 || set_nonblock(out[0]) < 0 || set_nonblock(err[0]) < 0)
        goto fail;
    if (r->pipe_size > 0) {
        /* Bigger pipes: fewer wake-ups. Refused beyond pipe-max-size for
         * an unprivileged daemon: not an error. */
        (void)fcntl(out[0], F_SETPIPE_SZ, r->pipe_size);
        (void)fcntl(err[0], F_SETPIPE_SZ, r->pipe_size);
    }

    c.r = r;
    c.in_rd = in[0];
    c.out_wr = out[1];
    c.err_wr = err[1];
    c.report_wr = rep[1];
    struct rlimit nofile;
    c.maxfd = 65536;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY &&
        nofile.rlim_cur < (rlim_t)(1u << 30))
        c.maxfd = (unsigned)nofile.rlim_cur;
    if (r->mem_limit) {
        struct rlimit cur;
        c.set_rlimit = 1;
        c.rl.rlim_cur = c.rl.rlim_max = (rlim_t)r->mem_limit;
        /* Never ask for more than the hard limit we have (EPERM). */
        if (getrlimit(RLIMIT_AS, &cur) == 0 && cur.rlim_max != RLIM_INFINITY &&
            cur.rlim_max < c.rl.rlim_max)
            c.rl.rlim_cur = c.rl.rlim_max = cur.rlim_max;
    }
    c.dfl.sa_handler = SIG_DFL;
    sigemptyset(&c.dfl.sa_mask);
    sigemptyset(&c.empty);
    c.argv[0] = (char *)"sh";
    c.argv[1] = (char *)"-c";
    c.argv[2] = (char *)r->cmdline;
    c.argv[3] = NULL;

    /* No signal handler of the daemon may run in the child. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0)
        child_main(&c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0)
        goto fail;

    close_fd(&in[0]);
    close_fd(&out[1]);
    close_fd(&err[1]);
    close_fd(&rep[1]);

    struct exec_report e;
    ssize_t n;
    do
        n = read(rep[0], &e, sizeof(e));
    while (n < 0 && errno == EINTR);
    close_fd(&rep[0]);
    if (n != 0) {
        /* The child said why it failed (or the pipe broke: treat alike). */
        reap_blocking(pid);
        if (n == (ssize_t)sizeof(e) && e.stage == STAGE_CHDIR)
            ret = WSM_ERR_INVALID_ARG;
        goto fail;
    }

    int pidfd = pidfd_open(pid, 0);
    if (pidfd < 0) {
        kill(-pid, SIGKILL);
        reap_blocking(pid);
        goto fail;
    }
    res->pid = pid;
    res->pidfd = pidfd;
    res->in_fd = in[1];
    res->out_fd = out[0];
    res->err_fd = err[0];
    return WSM_OK;

fail:
    close_fd(&in[0]);
    close_fd(&in[1]);
    close_fd(&out[0]);
    close_fd(&out[1]);
    close_fd(&err[0]);
    close_fd(&err[1]);
    close_fd(&rep[0]);
    close_fd(&rep[1]);
    return ret;
}
