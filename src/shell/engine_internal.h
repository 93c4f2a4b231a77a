/* Private to the shell engine: starting one command (src/shell/spawn.c). */
#ifndef WSMD_SHELL_ENGINE_INTERNAL_H
#define WSMD_SHELL_ENGINE_INTERNAL_H

#include <stddef.h>
#include <sys/types.h>

#include "wsm/wsm.h"

/* Everything the child needs, computed by the parent: between fork and
 * exec the child only makes async-signal-safe calls on this data. */
struct shell_spawn_req {
    const char *cmdline;
    char *const *envp; /* NULL-terminated "NAME=value" */
    const char *workdir;
    int switch_user;
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    int ngroups;
    unsigned long long mem_limit; /* RLIMIT_AS in bytes; 0: leave it */
    int pipe_size;                /* F_SETPIPE_SZ of stdout and stderr; 0: leave it */
    /* cgroup.procs of the shell's cgroup in each hierarchy (cgroup.h): the
     * child writes "0" into each, as root, before anything else. */
    const int *cg_fds;
    int ncg;
    const char *cg_name; /* the group of cg_fds (a separated daemon's monitor opens it) */
    unsigned long nproc; /* RLIMIT_NPROC when there is no pids cgroup; 0: leave it */
    unsigned flags;      /* SHELL_SPAWN_* */
};

/* WINRS_CONSOLEMODE_STDIN: stdin is a pseudo-terminal (pty.c), the
 * command's controlling terminal; in_fd is then its master. */
#define SHELL_SPAWN_TTY 1u
/* WINRS_SKIP_CMD_SHELL: cmdline is split into argv (cmdline.c) and run
 * without /bin/sh -c. */
#define SHELL_SPAWN_ARGV 2u
/* workdir is the account's home, not a WorkingDirectory the client asked:
 * when it cannot be entered (missing, or not the user's to enter) the
 * command runs in / and its stderr says so, as sshd does, instead of not
 * running at all. */
#define SHELL_SPAWN_HOME 4u
#define SHELL_SPAWN_FLAGS (SHELL_SPAWN_TTY | SHELL_SPAWN_ARGV | SHELL_SPAWN_HOME)

/* pty.c: a pseudo-terminal for a console-mode command: *master
 * (non-blocking) and *slave, both close-on-exec and above 2, the slave
 * owned by uid when chown_to, in the mode of a console's input: canonical
 * lines, no echo (see shell.md). */
int shell__pty_open(int chown_to, uid_t uid, int *master, int *slave);
/* End of input on a console's pty (of the command pid), step by step:
 * once its reader has taken everything written, the terminal goes to
 * canonical mode and gets ^D, repeated further and further apart while
 * the command runs. Returns the milliseconds until the next step (*state,
 * 0 at first, is where it is); a step that failed is tried again. */
int shell__tty_eof(int master, pid_t pid, int *state);

struct shell_spawn_res {
    pid_t pid; /* also the process group and session id */
    int pidfd;
    int in_fd;  /* write end of the child's stdin: non-blocking, close-on-exec */
    int out_fd; /* read ends of stdout and stderr: likewise */
    int err_fd;
};

/* Starts /bin/sh -c cmdline. WSM_ERR_INVALID_ARG if the child could not
 * chdir to workdir, WSM_ERR_INTERNAL for any other failure (pipes, fork,
 * credentials, exec); then nothing is left behind (no fd, no zombie). */
enum wsm_err shell__spawn(const struct shell_spawn_req *r, struct shell_spawn_res *res);

/* Process control (src/shell/proc.c): done here when the daemon is the
 * children's parent, or through the privileged monitor of a separated
 * daemon (shell_set_proc_ops). In the second case res->pidfd is a pipe on
 * which the monitor writes the exit status (an int) when the command
 * exits, and the monitor keeps the exited leader until it is reaped here. */
enum wsm_err shell__proc_spawn(const char *owner, const struct shell_spawn_req *r,
                               struct shell_spawn_res *res);
/* A signal to the command's whole process group. */
void shell__proc_kill(pid_t pid, int sig);
/* Has it exited? 1 with *code (exit status, or 128 + signal), 0 not yet,
 * -1 no status to be had (reaped elsewhere, monitor gone). The process is
 * not reaped. */
int shell__proc_status(pid_t pid, int fd, int *code);
/* Reaps it: 1 done (or nothing left to reap), 0 not exited yet. fd -1:
 * known to have exited (its status was taken). */
int shell__proc_reap(pid_t pid, int fd);
/* shell__check_dir, as the owner (through the monitor when separated). */
enum wsm_err shell__proc_check_dir(const char *owner, const struct shell_spawn_req *r);
/* SIGKILL to the group, then a blocking reap (failure paths). */
void shell__proc_kill_reap(pid_t pid, int fd);

/* Whether the user of r (credentials as for a command) can chdir to
 * r->workdir: a child switches to the user and tries. WSM_ERR_INVALID_ARG
 * when it cannot, whatever the reason (missing, not a directory, no
 * permission: the same answer, so root's view of the file system does not
 * leak), WSM_ERR_INTERNAL when the check itself failed. */
enum wsm_err shell__check_dir(const struct shell_spawn_req *r);

#endif
