/* Process control of the shell engine: local, or through the monitor of a
 * privilege-separated daemon (engine_internal.h). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine.h"
#include "engine_internal.h"

static const struct shell_proc_ops *ops;

void shell_set_proc_ops(const struct shell_proc_ops *o)
{
    ops = o;
}

enum wsm_err shell__proc_spawn(const char *owner, const struct shell_spawn_req *r,
                               struct shell_spawn_res *res)
{
    if (ops)
        return ops->spawn(owner, r, res);
    return shell__spawn(r, res);
}

enum wsm_err shell__proc_check_dir(const char *owner, const struct shell_spawn_req *r)
{
    if (ops)
        return ops->check_dir(owner, r);
    return shell__check_dir(r);
}

void shell__proc_kill(pid_t pid, int sig)
{
    if (ops)
        ops->signal(pid, sig);
    else
        kill(-pid, sig);
}

/* The monitor's status pipe: 1 with the status, 0 nothing yet, -1 closed
 * without one. */
static int read_status(int fd, int *code)
{
    int st = 0;
    ssize_t n;
    do
        n = read(fd, &st, sizeof(st));
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (n != (ssize_t)sizeof(st))
        return -1;
    *code = st;
    return 1;
}

int shell__proc_status(pid_t pid, int fd, int *code)
{
    if (ops)
        return fd < 0 ? -1 : read_status(fd, code);
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    /* WNOWAIT: the status now, the zombie stays. */
    int r = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
    if ((r == 0 && si.si_pid == 0) || (r < 0 && errno == EINTR))
        return 0;
    if (r < 0)
        return -1;
    *code = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
    return 1;
}

int shell__proc_reap(pid_t pid, int fd)
{
    if (ops) {
        int code;
        if (fd >= 0 && read_status(fd, &code) == 0)
            return 0;
        ops->release(pid);
        return 1;
    }
    pid_t r;
    do
        r = waitpid(pid, NULL, WNOHANG);
    while (r < 0 && errno == EINTR);
    return r != 0;
}

void shell__proc_kill_reap(pid_t pid, int fd)
{
    shell__proc_kill(pid, SIGKILL);
    if (!ops) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
    /* The monitor writes the status (or closes the pipe) once it exits. */
    while (fd >= 0 && poll(&p, 1, 5000) < 0 && errno == EINTR)
        ;
    shell__proc_reap(pid, fd);
}
