/* Starting one command of the shell engine: pipes, clone, the child's set-up
 * and exec, with exec errors reported back through a close-on-exec pipe.
 *
 * The child is started the way glibc's posix_spawn starts it:
 * clone(CLONE_VM | CLONE_VFORK) on a stack of its own (mmap'd, with a guard
 * page). It shares the daemon's memory until execve, and the calling thread
 * is suspended until then, so the cost of fork() (copying the page tables
 * of a large multi-threaded process) is gone. In exchange the child is
 * strictly limited:
 *  - raw system calls only (syscall(SYS_...)): no libc wrapper that keeps
 *    state or, like setresuid/setgroups, broadcasts to all the threads of
 *    the process (SIGSETXID) -- those threads are the daemon's;
 *  - it writes nothing of the parent's memory: it reads the context the
 *    parent prepared, its locals live on its own stack, and what it has to
 *    say goes through the report pipe. The one exception is errno (the
 *    calling thread's TLS, via syscall()): that thread is blocked until
 *    exec or exit and looks at errno only when clone itself failed;
 *  - no sanitizer instrumentation (its shadow writes would be to shared
 *    memory).
 * All signals are blocked in the parent around clone, so no daemon handler
 * runs in the child; the child gets a copy of the dispositions (no
 * CLONE_SIGHAND), resets all of them and empties its mask last. */
#include "engine_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmdline.h"

#if defined(__has_attribute)
#if __has_attribute(no_sanitize)
#define CHILD_FN __attribute__((no_sanitize("address", "undefined")))
#endif
#endif
#ifndef CHILD_FN
#define CHILD_FN
#endif

/* 32-bit uid/gid calls on the architectures that have both. */
#ifdef SYS_setresgid32
#define NR_SETRESGID SYS_setresgid32
#define NR_SETRESUID SYS_setresuid32
#define NR_SETGROUPS SYS_setgroups32
#define NR_SETUID SYS_setuid32
#define NR_GETRESUID SYS_getresuid32
#else
#define NR_SETRESGID SYS_setresgid
#define NR_SETRESUID SYS_setresuid
#define NR_SETGROUPS SYS_setgroups
#define NR_SETUID SYS_setuid
#define NR_GETRESUID SYS_getresuid
#endif

#define CHILD_STACK (64 * 1024)

enum { STAGE_FDS = 1, STAGE_IDS, STAGE_RLIMIT, STAGE_CHDIR, STAGE_EXEC, STAGE_CGROUP };

struct exec_report {
    int stage;
    int err;
};

/* The kernel's struct sigaction (rt_sigaction). */
struct ksigaction {
    void *handler;
    unsigned long flags;
    void *restorer;
    unsigned long mask;
};

struct rlim64 {
    uint64_t cur, max;
};

/* What the child reads, all prepared before clone. */
struct child_ctx {
    const struct shell_spawn_req *r;
    int in_rd, out_wr, err_wr, report_wr;
    unsigned maxfd;
    int set_rlimit;
    struct rlim64 rl;
    int set_nproc;
    struct rlim64 nproc;
    int check_only; /* shell__check_dir: ids and chdir, then exit 0 */
    char *argv[4];
    /* SHELL_SPAWN_ARGV: the split command line and where to look for its
     * program, tried in order (execvp's rules, without libc). */
    char **xargv, **paths;
    int tty; /* in_rd is a pty slave */
};

/* A failed raw call: the error number (errno of the blocked calling
 * thread, set by syscall() just now; nobody else writes it meanwhile). */
CHILD_FN static int child_errno(void)
{
    return errno ? errno : EPERM;
}

CHILD_FN __attribute__((noreturn)) static void child_fail(const struct child_ctx *c, int stage,
                                                          int err)
{
    struct exec_report e;
    e.stage = stage;
    e.err = err;
    syscall(SYS_write, c->report_wr, &e, sizeof(e));
    for (;;)
        syscall(SYS_exit_group, 127);
}

CHILD_FN static void close_from(unsigned first, unsigned last, unsigned maxfd)
{
    if (first > last)
        return;
    if (syscall(SYS_close_range, first, last, 0) == 0)
        return;
    /* Kernels before 5.9: close what can be open one by one. */
    for (unsigned fd = first; fd <= last && fd < maxfd; fd++)
        syscall(SYS_close, fd);
}

/* s on fd (no libc: this runs between clone and exec). */
CHILD_FN static void child_say(int fd, const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    syscall(SYS_write, fd, s, n);
}

/* The user's credentials, limits and directory. */
CHILD_FN static void child_user(const struct child_ctx *c)
{
    const struct shell_spawn_req *r = c->r;
    if (r->switch_user) {
        /* The raw calls act on this process alone (glibc's wrappers
         * would signal every thread of the daemon). */
        if (syscall(NR_SETRESGID, r->gid, r->gid, r->gid) < 0)
            child_fail(c, STAGE_IDS, child_errno());
        if (syscall(NR_SETGROUPS, (size_t)(r->ngroups > 0 ? r->ngroups : 0), r->groups) < 0)
            child_fail(c, STAGE_IDS, child_errno());
        if (syscall(NR_SETRESUID, r->uid, r->uid, r->uid) < 0)
            child_fail(c, STAGE_IDS, child_errno());
        if (r->uid != 0) {
            /* Root must be gone for good. */
            if (syscall(NR_SETUID, 0) == 0)
                child_fail(c, STAGE_IDS, EPERM);
            uid_t ru = 0, eu = 0, su = 0;
            if (syscall(NR_GETRESUID, &ru, &eu, &su) < 0 || ru != r->uid || eu != r->uid ||
                su != r->uid)
                child_fail(c, STAGE_IDS, EPERM);
        }
    }
    if (c->set_rlimit && syscall(SYS_prlimit64, 0, RLIMIT_AS, &c->rl, NULL) < 0)
        child_fail(c, STAGE_RLIMIT, child_errno());
    /* Without a pids cgroup: the per-uid count is all the kernel has. */
    if (c->set_nproc && syscall(SYS_prlimit64, 0, RLIMIT_NPROC, &c->nproc, NULL) < 0)
        child_fail(c, STAGE_RLIMIT, child_errno());
    /* After the switch: the directory as the owner sees it. The account's
     * home that cannot be entered (an account made without one) is not the
     * client's mistake: as sshd, the command runs in / and says so. */
    if (syscall(SYS_chdir, r->workdir) < 0) {
        int err = child_errno();
        if (c->check_only || !(r->flags & SHELL_SPAWN_HOME) || syscall(SYS_chdir, "/") < 0)
            child_fail(c, STAGE_CHDIR, err);
        child_say(2, "wsmd: could not enter the home directory ");
        child_say(2, r->workdir);
        child_say(2, "; running in /\n");
    }
    if (c->check_only)
        for (;;)
            syscall(SYS_exit_group, 0);
}

CHILD_FN static int child_main(void *arg)
{
    const struct child_ctx *c = arg;
    const struct shell_spawn_req *r = c->r;

    if (c->check_only)
        child_user(c);
    /* The shell's cgroup first, still root: everything this process
     * starts is counted and can be killed with the group. */
    for (int i = 0; i < r->ncg; i++)
        if (syscall(SYS_write, r->cg_fds[i], "0", 1) != 1)
            child_fail(c, STAGE_CGROUP, child_errno());
    /* A new session and process group: signals go to -pid. */
    if (syscall(SYS_setsid) < 0)
        child_fail(c, STAGE_FDS, child_errno());
    /* Default dispositions for every signal, 32 and 33 included (glibc
     * keeps them for itself, but they can arrive ignored from whoever
     * started the daemon; handlers are reset by exec anyway, ignored
     * signals would stay ignored). The mask is emptied last. */
    struct ksigaction k;
    k.handler = (void *)SIG_DFL;
    k.flags = 0;
    k.restorer = NULL;
    k.mask = 0;
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            syscall(SYS_rt_sigaction, s, &k, NULL, sizeof(k.mask));

    /* All pipe ends are >= 3 (the parent saw to it), so dup3 cannot
     * clobber one of them (nor fail on equal fds). The copies are not
     * close-on-exec. */
    if (syscall(SYS_dup3, c->in_rd, 0, 0) < 0 || syscall(SYS_dup3, c->out_wr, 1, 0) < 0 ||
        syscall(SYS_dup3, c->err_wr, 2, 0) < 0)
        child_fail(c, STAGE_FDS, child_errno());
    /* Console mode: the pty is stdin only, not the session's controlling
     * terminal: as its controlling process's exit would hang it up, the
     * command's background processes would get SIGHUP when its shell
     * ends (a Windows command's do not die so). */
    /* Everything else goes, except the report pipe (close-on-exec). */
    unsigned rep = (unsigned)c->report_wr;
    close_from(3, rep - 1, c->maxfd);
    close_from(rep + 1, ~0U, c->maxfd);

    child_user(c);

    unsigned long empty = 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty, NULL, sizeof(empty));
    if (c->paths) {
        /* As execvp: a missing or refused candidate goes on to the next,
         * and EACCES is told if no candidate ran. */
        int err = ENOENT;
        for (size_t i = 0; c->paths[i]; i++) {
            syscall(SYS_execve, c->paths[i], c->xargv, r->envp);
            int e2 = child_errno();
            if (e2 == EACCES)
                err = EACCES;
            else if (e2 != ENOENT && e2 != ENOTDIR) {
                err = e2;
                break;
            }
        }
        child_fail(c, STAGE_EXEC, err);
    }
    syscall(SYS_execve, "/bin/sh", c->argv, r->envp);
    child_fail(c, STAGE_EXEC, child_errno());
    return 127;
}

/* The child's calls into libc (syscall, __errno_location) go through the
 * PLT: with lazy binding the first call would run the dynamic linker's
 * resolver in the child, writing the GOT and the calling thread's TCB,
 * shared memory. Resolve them here, in the parent, before any clone. */
static int bind_volatile_sink;

static void bind_child_calls(void)
{
    bind_volatile_sink = (int)syscall(SYS_getpid) + errno;
}

static pthread_once_t bind_once = PTHREAD_ONCE_INIT;

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

/* Runs child_main on c in a clone(CLONE_VM | CLONE_VFORK) child; returns
 * once it has exec'd or exited: its pid, or -1 (errno set). */
static pid_t clone_child(struct child_ctx *c)
{
    pthread_once(&bind_once, bind_child_calls);

    /* The child's stack, a guard page below it (stacks grow down on every
     * architecture we build for). */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t stack_len = CHILD_STACK + page;
    char *stack = mmap(NULL, stack_len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return -1;
    if (mprotect(stack, page, PROT_NONE) < 0) {
        munmap(stack, stack_len);
        return -1;
    }

    /* No signal handler of the daemon may run in the child. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    /* Returns once the child has exec'd or exited. */
    pid_t pid = clone(child_main, stack + stack_len, CLONE_VM | CLONE_VFORK | SIGCHLD, c);
    int clone_err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    /* Its stack is no longer in use: after exec the child has its own
     * memory, after exit none. */
    munmap(stack, stack_len);
    errno = clone_err;
    return pid;
}

enum wsm_err shell__check_dir(const struct shell_spawn_req *r)
{
    int rep[2] = {-1, -1};
    struct child_ctx c;
    memset(&c, 0, sizeof(c));
    if (make_pipe(rep) < 0)
        return WSM_ERR_INTERNAL;
    c.r = r;
    c.in_rd = c.out_wr = c.err_wr = -1;
    c.report_wr = rep[1];
    c.check_only = 1;
    pid_t pid = clone_child(&c);
    close(rep[1]);
    if (pid < 0) {
        close(rep[0]);
        return WSM_ERR_INTERNAL;
    }
    struct exec_report e;
    ssize_t n;
    do
        n = read(rep[0], &e, sizeof(e));
    while (n < 0 && errno == EINTR);
    close(rep[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (n == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return WSM_OK;
    if (n == (ssize_t)sizeof(e) && e.stage == STAGE_CHDIR)
        return WSM_ERR_INVALID_ARG;
    return WSM_ERR_INTERNAL;
}

enum wsm_err shell__spawn(const struct shell_spawn_req *r, struct shell_spawn_res *res)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, rep[2] = {-1, -1};
    enum wsm_err ret = WSM_ERR_INTERNAL;
    struct child_ctx c;
    memset(&c, 0, sizeof(c)); /* sa_flags and the rest start at zero */

    if (r->flags & SHELL_SPAWN_ARGV) {
        size_t argc = 0;
        c.xargv = shell__split_cmdline(r->cmdline, &argc);
        if (!c.xargv) {
            ret = argc ? WSM_ERR_NOMEM : WSM_ERR_INVALID_ARG; /* a blank line */
            goto fail;
        }
        c.paths = shell__exec_paths(c.xargv[0], r->envp, "/usr/local/bin:/usr/bin:/bin");
        if (!c.paths) {
            ret = WSM_ERR_NOMEM;
            goto fail;
        }
    }
    if (r->flags & SHELL_SPAWN_TTY) {
        if (shell__pty_open(r->switch_user, r->uid, &in[1], &in[0]) < 0)
            goto fail;
        c.tty = 1;
    } else if (make_pipe(in) < 0) {
        goto fail;
    }
    if (make_pipe(out) < 0 || make_pipe(err) < 0 || make_pipe(rep) < 0)
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
        c.rl.cur = c.rl.max = (uint64_t)r->mem_limit;
        /* Never ask for more than the hard limit we have (EPERM). */
        if (getrlimit(RLIMIT_AS, &cur) == 0 && cur.rlim_max != RLIM_INFINITY &&
            (uint64_t)cur.rlim_max < c.rl.max)
            c.rl.cur = c.rl.max = (uint64_t)cur.rlim_max;
    }
    if (r->nproc) {
        struct rlimit cur;
        c.set_nproc = 1;
        c.nproc.cur = c.nproc.max = r->nproc;
        if (getrlimit(RLIMIT_NPROC, &cur) == 0 && cur.rlim_max != RLIM_INFINITY &&
            (uint64_t)cur.rlim_max < c.nproc.max)
            c.nproc.cur = c.nproc.max = (uint64_t)cur.rlim_max;
    }
    c.argv[0] = (char *)"sh";
    c.argv[1] = (char *)"-c";
    c.argv[2] = (char *)r->cmdline;
    c.argv[3] = NULL;

    pid_t pid = clone_child(&c);
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
        /* Without a shell, a program that is not there or may not run is
         * the client's mistake, told as such (a shell would have said so
         * on stderr with exit code 127). */
        if (n == (ssize_t)sizeof(e) && e.stage == STAGE_EXEC && c.paths &&
            (e.err == ENOENT || e.err == EACCES || e.err == ENOEXEC || e.err == ENOTDIR))
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
    free(c.xargv);
    free(c.paths);
    return WSM_OK;

fail:
    free(c.xargv);
    free(c.paths);
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
