/* The remote shell engine: processes, pipes and buffers behind the WinRS
 * resource. It knows nothing of XML or HTTP: handlers (src/shell/
 * handlers.c) turn messages into these calls.
 *
 * One I/O thread (epoll) reads the children's stdout and stderr into
 * per-command buffers with a cap (when a buffer is full the pipe is not
 * read any more, so the child blocks: no output is ever lost), writes
 * pending stdin, reaps children (pidfd), reaps idle shells, and wakes
 * parked Receive requests. All functions are thread-safe.
 *
 * Every shell belongs to the user that created it; an id used by anybody
 * else gets WSM_ERR_NOT_FOUND exactly as an unknown id does (but for
 * Reconnect and Connect, which say WSM_ERR_ACCESS_DENIED; shell_list,
 * for shell management, reads everybody's when asked to).
 */
#ifndef WSMD_SHELL_ENGINE_H
#define WSMD_SHELL_ENGINE_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "wsm/wsm.h"

struct shell_mgr;

/* Windows' defaults (winrm/config/winrs). */
struct shell_limits {
    unsigned max_shells_per_user;     /* 30 */
    unsigned max_processes_per_shell; /* 25: processes of a shell (pids.max of its cgroup);
                                         without cgroups, concurrent commands */
    long idle_timeout_ms;             /* 7200000: default for shells without IdleTimeOut */
    long max_idle_timeout_ms;         /* 2147483647 */
    unsigned max_memory_per_shell_mb; /* 1024: RLIMIT_AS of each command, and the memory
                                         limit of the shell's cgroup */
    size_t stream_cap;                /* bytes buffered per stream (stdout, stderr): 1 MiB */
    /* Ring storage (output and stdin) of all shells, and of one user's
     * shells (0: no cap). Past it, pipes are not read (back-pressure:
     * nothing is lost) and what would allocate more (new shells and
     * commands when not even their few KB are left, stdin buffers) gets
     * WSM_ERR_QUOTA. 128 MiB, 32 MiB. */
    size_t max_buffered_total;
    size_t max_buffered_user;
    /* Windows' other shell quotas (docs/internals/shell.md, "Quotas"):
     * users with shells at once (10; a new user's Create past it is
     * WSM_ERR_QUOTA_USERS), how long a shell may exist (28800000 ms, then
     * it is closed as an idle one is), commands running in one shell
     * (1000; WSM_ERR_QUOTA_COMMANDS). */
    unsigned max_concurrent_users;
    long max_shell_run_time_ms;
    unsigned max_commands_per_shell;
};
void shell_limits_defaults(struct shell_limits *l);

/* Who a shell runs as. switch_user: the daemon is root and the command
 * must run as uid/gid with groups (setresgid, setgroups, setresuid, then
 * check that root cannot be regained); otherwise it runs as the daemon. */
struct shell_owner {
    const char *name; /* the authenticated user name: the owner key */
    int switch_user;
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    int ngroups;
    const char *home;  /* HOME of the child */
    const char *shell; /* SHELL variable of the child (not used to run) */
};

struct shell_opts {
    const char *workdir;    /* NULL: home */
    const char *const *env; /* "NAME=value" strings, NULL-terminated; may be NULL */
    long idle_timeout_ms;   /* <= 0: the limits' default */
    /* The client's ShellId (rsp:Shell/@ShellId, MS-WSMV 2.2.4.37): an id
     * no other shell has, else WSM_ERR_ALREADY_EXISTS. NULL: one is made. */
    const char *id;
    /* Shown by shell_list (Enumerate, Get); all may be NULL. */
    const char *name, *client_ip, *locale, *data_locale;
    int buffer_drop; /* BufferMode Drop (else Block) */
    /* The Create's InputStreams and OutputStreams (SHELL_STREAM_*; 0:
     * all three): a stream not named is not delivered (its bytes are read
     * and dropped) and a Send to an unnamed stdin is refused. */
    unsigned streams;
};
enum {
    SHELL_STREAM_STDIN = 1,
    SHELL_STREAM_STDOUT = 2,
    SHELL_STREAM_STDERR = 4,
    SHELL_STREAM_ALL = 7
};

/* A Command's options (MS-WSMV 3.1.4.11). */
struct shell_cmd_opts {
    /* The client's CommandId (rsp:CommandLine/@CommandId,
     * WSManRunShellCommandEx): one no command of the shell has (in any
     * case; else WSM_ERR_ALREADY_EXISTS). NULL: one is made. */
    const char *id;
    int console;    /* WINRS_CONSOLEMODE_STDIN: stdin is a pty (pty.c) */
    int skip_shell; /* WINRS_SKIP_CMD_SHELL: no /bin/sh -c (cmdline.c) */
};

/* What the end-of-command hook is told, once per command: when a
 * delivered Receive reported it done, or when it went with its shell. */
struct shell_cmd_end {
    const char *owner, *shell_id, *cmd_id;
    unsigned long long out_bytes, err_bytes; /* delivered to the client */
    int exit_code;                           /* -1: not finished (killed with its shell) */
    long long duration_ms;
};
typedef void (*shell_end_hook)(const struct shell_cmd_end *e);

enum wsm_err shell_mgr_new(const struct shell_limits *lim, struct shell_mgr **out);
/* Kills every process (each shell's cgroup, SIGKILL to each command's
 * process group), wakes
 * every waiter, stops the thread, frees everything. NULL is a no-op. */
void shell_mgr_free(struct shell_mgr *m);

/* winrm set winrm/config/winrs: MaxShellsPerUser, MaxProcessesPerShell,
 * IdleTimeout and MaxMemoryPerShellMB of lim apply to shells and commands
 * started from now on (the buffer sizes are not changed). */
void shell_mgr_set_quotas(struct shell_mgr *m, const struct shell_limits *lim);

/* Called under the engine's lock: must be quick (a log line). */
void shell_mgr_set_end_hook(struct shell_mgr *m, shell_end_hook hook);

/* id receives an upper-case UUID (36 chars + NUL). WSM_ERR_QUOTA past
 * max_shells_per_user; WSM_ERR_INVALID_ARG if the owner cannot chdir to
 * workdir (checked by a child as the owner: missing and forbidden answer
 * alike). With cgroups (cgroup.h) the shell gets one: all its processes are
 * counted, limited and killed together. */
enum wsm_err shell_create(struct shell_mgr *m, const struct shell_owner *o,
                          const struct shell_opts *opts, char id[37]);
/* Ends whatever still runs in it (its cgroup killed, SIGKILL to the
 * process groups). */
enum wsm_err shell_delete(struct shell_mgr *m, const char *owner, const char *shell_id);

/* Starts /bin/sh -c cmdline in the shell's working directory as the
 * owner, in a new session (setsid), with a clean environment (HOME, USER,
 * LOGNAME, SHELL, PATH=/usr/local/bin:/usr/bin:/bin, LANG=C.UTF-8 when not
 * set, then the shell's env), default signal dispositions and an empty
 * signal mask, no inherited fds beyond 0-2, RLIMIT_AS from the limits.
 * exec errors come back through a close-on-exec pipe. cmd_id as above.
 * WSM_ERR_QUOTA when the shell's cgroup holds max_processes_per_shell
 * processes (without cgroups: running commands). */
enum wsm_err shell_command(struct shell_mgr *m, const char *owner, const char *shell_id,
                           const char *cmdline, char cmd_id[37]);
/* shell_command with options (o may be NULL). With skip_shell a blank
 * line, or a program that is not found or may not be run, is
 * WSM_ERR_INVALID_ARG. */
enum wsm_err shell_command_ex(struct shell_mgr *m, const char *owner, const char *shell_id,
                              const char *cmdline, const struct shell_cmd_opts *o, char cmd_id[37]);

/* Queues stdin bytes for the command (buffered up to stream_cap; beyond
 * that WSM_ERR_QUOTA); end closes stdin once everything queued is written. */
enum wsm_err shell_send(struct shell_mgr *m, const char *owner, const char *shell_id,
                        const char *cmd_id, const void *data, size_t len, int end);

enum shell_signal { SHELL_SIG_TERMINATE, SHELL_SIG_CTRL_C, SHELL_SIG_CTRL_BREAK };
/* terminate: SIGTERM to the process group, SIGKILL 2 s later if still
 * alive; the command is then Done. ctrl_c: SIGINT; ctrl_break: SIGQUIT. */
enum wsm_err shell_signal(struct shell_mgr *m, const char *owner, const char *shell_id,
                          const char *cmd_id, enum shell_signal sig);

struct shell_output {
    struct wsm_buf out; /* stdout bytes taken (caller inits/frees) */
    struct wsm_buf err; /* stderr bytes taken */
    int out_end;        /* stdout reached EOF and out holds its last bytes */
    int err_end;
    int done;      /* the command finished: exit_code valid; both ends set */
    int exit_code; /* WEXITSTATUS, or 128 + signal number */
};

/* Takes up to max_bytes (stdout and stderr together) of buffered output.
 * WSM_OK when something is returned (data, an end, or done), including
 * for a command that finished earlier (then done again, no data);
 * WSM_ERR_TIMED_OUT when there is nothing yet (the caller may wait). */
enum wsm_err shell_receive(struct shell_mgr *m, const char *owner, const char *shell_id,
                           const char *cmd_id, size_t max_bytes, struct shell_output *out);

/* shell_receive for a reply that may not reach the client. What it takes
 * stays buffered, "in flight", until shell_settle(token) says whether the
 * reply was written: delivered, it is gone; not delivered, the next
 * Receive gets it again. *token is 0 when nothing needs settling.
 * seq is the Receive's SequenceId (-1: none): the SequenceId of the
 * Receive in flight gets the same output again (the client did not see
 * the reply); another one means the client has it. While a Receive is in
 * flight, one without a SequenceId gets WSM_ERR_TIMED_OUT (its waiter
 * fires once the first settles). */
enum wsm_err shell_receive_tx(struct shell_mgr *m, const char *owner, const char *shell_id,
                              const char *cmd_id, size_t max_bytes, long long seq,
                              struct shell_output *out, unsigned long *token);
/* Once per token; a token of a command or shell that is gone, or of a
 * Receive replayed since, is ignored. */
void shell_settle(struct shell_mgr *m, const char *owner, const char *shell_id, const char *cmd_id,
                  unsigned long token, int delivered);

/* The reply of token is written, not yet acknowledged by the client's
 * TCP: until shell_settle comes, a Receive of the command asks
 * probe(probe_arg) (1: acknowledged, 0: not yet, -1: lost) instead of
 * waiting. probe is called under the engine's lock and must be quick. */
void shell_settle_probe(struct shell_mgr *m, const char *owner, const char *shell_id,
                        const char *cmd_id, unsigned long token, int (*probe)(void *),
                        void *probe_arg);

/* Calls wake(arg) exactly once, from the I/O thread (or at once from this
 * thread if the condition already holds): when the command has output or
 * has finished, when the shell or command is deleted, or at deadline_ms
 * (CLOCK_MONOTONIC milliseconds), whichever is first. wake must be quick
 * and must not call back into the engine. Returns a token for
 * shell_wait_cancel; WSM_ERR_NOT_FOUND for unknown ids (wake not called). */
enum wsm_err shell_wait(struct shell_mgr *m, const char *owner, const char *shell_id,
                        const char *cmd_id, long long deadline_ms, void (*wake)(void *), void *arg,
                        unsigned long *token);
/* Cancels a wait; returns 1 if it was cancelled before wake ran, 0 if wake
 * has run or is running. */
int shell_wait_cancel(struct shell_mgr *m, unsigned long token);

long long shell_now_ms(void); /* CLOCK_MONOTONIC in ms */

/* A privilege-separated daemon starts, signals and reaps commands through
 * its monitor (docs/internals/privsep.md). spawn gets the shell's owner
 * name; the monitor looks the account up itself. NULL: all local. */
struct shell_spawn_req;
struct shell_spawn_res;
struct shell_proc_ops {
    enum wsm_err (*spawn)(const char *owner, const struct shell_spawn_req *r,
                          struct shell_spawn_res *res);
    enum wsm_err (*signal)(pid_t pid, int sig);
    enum wsm_err (*release)(pid_t pid);
    enum wsm_err (*check_dir)(const char *owner, const struct shell_spawn_req *r);
};
void shell_set_proc_ops(const struct shell_proc_ops *ops);

/* ---- Disconnect, Reconnect, Connect (MS-WSMV 3.1.4.15-17; engine_conn.c) ----
 *
 * A disconnected shell runs on: its commands keep running, their output
 * is buffered up to the stream cap and the budget; with BufferMode Block
 * the child then blocks in write (as always), with Drop the oldest bytes
 * go. No Receive, Send, Signal, Command or wait is taken meanwhile
 * (WSM_ERR_INVALID_ARG; parked Receives are woken and get it). The shell
 * lives idle_ms (its IdleTimeOut from the Disconnect) and is then closed
 * as an idle shell is. */
enum shell_buffer_mode { SHELL_BUFFER_KEEP = -1, SHELL_BUFFER_BLOCK = 0, SHELL_BUFFER_DROP = 1 };
/* idle_ms <= 0: the shell's IdleTimeOut stays; capped at max_idle_timeout_ms.
 * Disconnecting a disconnected shell only updates them. */
enum wsm_err shell_disconnect(struct shell_mgr *m, const char *owner, const char *shell_id,
                              long idle_ms, enum shell_buffer_mode mode);
/* Reconnect (connect 0): the owner takes the shell up again, where its
 * output stopped; a connected shell is left as it is. Connect (1): the
 * same from a client without state, for a disconnected shell only
 * (WSM_ERR_INTERNAL for a connected one, as MS-WSMV says). Another
 * user's shell: WSM_ERR_ACCESS_DENIED. The Create's IdleTimeOut applies
 * again. */
enum wsm_err shell_reconnect(struct shell_mgr *m, const char *owner, const char *shell_id,
                             enum shell_buffer_mode mode, int connect);
/* 1 when owner's shell shell_id exists and is disconnected. */
int shell_is_disconnected(struct shell_mgr *m, const char *owner, const char *shell_id);

/* ---- shell management (Enumerate, Get: MS-WSMV 3.1.4.2.1, 3.1.4.8.2) ---- */
struct shell_info {
    char id[37];
    char *owner, *name, *client_ip, *locale, *data_locale; /* NULL: not known */
    long idle_ms, max_idle_ms;
    int disconnected, drop;
    unsigned streams;              /* SHELL_STREAM_*: what its Create named */
    long long run_ms, inactive_ms; /* since Create, since last used */
    pid_t pid;                     /* the oldest running command's process; 0: none */
    long processes;                /* processes of the shell (its cgroup, else commands) */
    unsigned long long memory;     /* its cgroup's memory.current, without one the
                                      resident bytes of its running commands */
};
/* The shells of owner (NULL: everybody's), or only shell_id (NULL: all);
 * *v (free with shell_info_free) may be NULL when *n is 0. */
enum wsm_err shell_list(struct shell_mgr *m, const char *owner, const char *shell_id,
                        struct shell_info **v, size_t *n);
void shell_info_free(struct shell_info *v, size_t n);

/* For tests and quotas. */
unsigned shell_count(struct shell_mgr *m, const char *owner);
/* Has owner no room left for a new shell or command (stream: for a
 * stream buffer, as a Send needs)? Tells a WSM_ERR_QUOTA of the budget
 * from one of the other quotas. */
int shell_over_budget(struct shell_mgr *m, const char *owner, int stream);
/* Ring storage charged to owner (NULL: everyone), in bytes. */
size_t shell_buffered(struct shell_mgr *m, const char *owner);

/* Deletes every shell of owner as shell_delete does (its processes are
 * killed); *count (may be NULL) receives how many. For an account that
 * lost its right to run commands. */
enum wsm_err shell_kill_owner(struct shell_mgr *m, const char *owner, unsigned *count);

#endif
