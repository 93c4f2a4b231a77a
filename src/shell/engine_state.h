/* Private to the shell engine: its state, shared by engine.c (processes,
 * I/O thread) and delivery.c (Receive, delivery tracking). Everything here
 * is guarded by shell_mgr.lock. */
#ifndef WSMD_SHELL_ENGINE_STATE_H
#define WSMD_SHELL_ENGINE_STATE_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "budget.h"
#include "engine.h"

/* epoll data: a command pointer with the fd's kind in the low bits
 * (0 is the eventfd). */
enum { K_OUT = 0, K_ERR = 1, K_IN = 2, K_PID = 3, K_MASK = 3 };

/* A ring of bytes; its storage (the stream cap) exists only while bytes
 * are buffered. */
struct ring {
    char *buf;
    size_t head, len;
    unsigned over; /* charged past the user's budget (budget_user.over) */
};

struct ostream {
    struct ring r;
    int fd;                /* -1 once closed */
    unsigned eof : 1;      /* no more bytes will come */
    unsigned paused : 1;   /* full: fd out of the epoll set */
    unsigned end_told : 1; /* a delivered receive reported the end */
    unsigned starved : 1;  /* paused because the budget had no ring for it */
    unsigned wanted : 1;   /* a Receive waits for it: may use the overdraft */
    unsigned muted : 1;    /* not among the Create's OutputStreams: read and dropped */
};

struct shell;

struct cmd {
    struct cmd *next, *prev; /* in the shell, or in the orphan list */
    struct shell *sh;        /* NULL for an orphan */
    char id[37];
    pid_t pid; /* process group and session too */
    int pidfd;
    struct ostream out[2]; /* stdout, stderr */
    struct ring in;
    int in_fd;
    int exit_code;
    unsigned nwaiters;
    long long exit_at, kill_at;
    /* A stream at EOF before the exit was seen: nothing is told before
     * this, so that the exit comes with the ends (see cmd_held). */
    long long hold_until;
    unsigned in_end : 1;      /* close stdin once the queue is written */
    unsigned in_watched : 1;  /* in_fd is in the epoll set */
    unsigned pid_watched : 1; /* pidfd is in the epoll set */
    unsigned exited : 1;      /* status known; the leader may still be a zombie */
    unsigned reaped : 1;
    unsigned done_told : 1;
    unsigned grace : 1; /* exited GRACE_MS ago: close the pipes once drained */
    unsigned orphan : 1;
    unsigned logged : 1;    /* the end-of-command log hook ran */
    unsigned tty : 1;       /* console mode: in_fd is a pty master (pty.c) */
    int eof_state;          /* shell__tty_eof's */
    long long eof_at;       /* console: tell the end of input then (0: no) */
    struct budget_user *bu; /* the owner's budget (a reference) */
    long long started;
    unsigned long long dropped[2]; /* bytes dropped while disconnected (BufferMode Drop) */
    unsigned long long sent[2];    /* bytes delivered per stream (for the log) */
    /* The output of the last Receive, until the HTTP layer says whether
     * its reply was written (shell_settle): the bytes stay at the head of
     * the rings, so a reply that did not go out is simply sent again. */
    unsigned long fl_token; /* 0: nothing in flight */
    long long fl_seq;       /* the Receive's SequenceId (-1: none) */
    size_t fl_len[2];
    unsigned fl_end[2], fl_done;
    /* Delivered, but the Receive carried a SequenceId: held (still at the
     * head of the rings) until the client's next Receive, which gets it
     * again if it repeats that SequenceId and confirms it otherwise. */
    unsigned fl_kept;
    /* Written but not yet acknowledged by the client's TCP: probe tells
     * (1 yes, 0 not yet, -1 lost) when the next Receive wants to know. */
    int (*fl_probe)(void *);
    void *fl_probe_arg;
};

struct shell {
    struct shell *next, *prev;
    char id[37];
    char *owner;
    int switch_user;
    uid_t uid;
    gid_t gid;
    int ngroups;
    gid_t *groups;
    char *home, *shellvar, *workdir;
    int workdir_home; /* workdir is home: no WorkingDirectory was asked */
    char **env;       /* NULL-terminated; one block with its strings */
    long idle_ms;
    long long last_used;
    /* MS-WSMV Disconnect/Reconnect (engine_conn.c). While disconnected no
     * Receive, Send, Signal or Command is taken; idle_ms is then the
     * Disconnect's IdleTimeOut, create_idle_ms the Create's (restored at
     * Reconnect). drop: BufferMode Drop (a full ring loses its oldest
     * bytes while disconnected) instead of Block. */
    long create_idle_ms;
    long long created;
    unsigned disconnected : 1;
    unsigned drop : 1;
    unsigned streams; /* SHELL_STREAM_*: the Create's InputStreams and OutputStreams */
    /* For shell management (Enumerate, Get): what the client named. */
    char *name, *client_ip, *locale, *data_locale;
    unsigned nwaiters, running, spawning, ncmds;
    struct cmd *cmds, *cmds_tail;
    struct budget_user *bu;
    struct wsmd_cg *cg; /* every process of the shell (NULL: no cgroups) */
};

struct waiter {
    struct waiter *next, *prev;
    struct cmd *c; /* NULL once fired */
    unsigned long token;
    long long deadline;
    void (*wake)(void *);
    void *arg;
    int fired; /* wake is due: the I/O thread calls it soon */
};

struct shell_mgr {
    pthread_mutex_t lock;
    struct shell_limits lim;
    struct shell *shells;
    struct cmd *orphans; /* killed children of deleted shells, not reaped yet */
    struct waiter *waiters;
    unsigned nfired;
    unsigned long next_token;
    long long next_deadline; /* the earliest timer (may be early, never late) */
    int ep, evfd;
    int stop;
    int thread_started;
    pthread_t thr;
    struct shell_budget budget;
    unsigned nstarved; /* streams waiting for budget */
    int budget_freed;  /* storage was given back: look at starved streams */
    unsigned long next_fl_token;
    shell_end_hook end_hook;
};

/* Between the engine's files: engine.c (helpers, rings, waiters, a
 * command's state, freeing), engine_io.c (the I/O thread), engine_mgr.c
 * (the manager, shells) and engine_cmd.c (commands, Send, Signal, waits,
 * budgets); delivery.c uses some too. All under the manager's mutex. */
#define NEVER LLONG_MAX
#define GRACE_MS 2000     /* EOF wait after exit; SIGTERM -> SIGKILL */
#define REAP_SYNC_MS 1000 /* shell_delete waits this long for killed children */
#define KEEP_FINISHED 64  /* finished commands a shell remembers */
#define HOLD_MS 50        /* both streams at EOF: wait this long for the exit */
#define PIPE_SIZE (1 << 20)
/* What a command or a shell costs the budget besides its stream buffers
 * (its structs, strings, ids: well under this): new ones are refused only
 * when not even this is left. */
#define CMD_CHARGE 4096
#define SHELL_CHARGE 4096
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

void shell__poke(struct shell_mgr *m);
/* A timer at t: the I/O thread must look at its timers by then. */
void shell__arm(struct shell_mgr *m, long long t);
void shell__touch(struct shell_mgr *m, struct shell *sh);
void shell__ep_del(struct shell_mgr *m, int fd);
int shell__ep_add(struct shell_mgr *m, int fd, uint32_t events, struct cmd *c, int kind);
char *shell__xstrdup(const char *s);
size_t shell__ring_free_iov(const struct ring *r, size_t cap, struct iovec iov[2]);
size_t shell__ring_data_iov(const struct ring *r, size_t cap, struct iovec iov[2]);
/* Ring storage comes from the budget (the command's owner and the
 * total); ring_alloc fails when either is spent. */
int shell__ring_alloc(struct shell_mgr *m, struct cmd *c, struct ring *r, int wanted);
void shell__ring_release(struct shell_mgr *m, struct cmd *c, struct ring *r);
/* The caller has allocated the storage (ring_alloc). */
void shell__ring_put(struct ring *r, size_t cap, const void *p, size_t n);
void shell__waiter_unlink(struct shell_mgr *m, struct waiter *w);
/* Detaches a parked waiter from its command (fired or cancelled). */
void shell__waiter_detach(struct shell_mgr *m, struct waiter *w);
void shell__fire(struct shell_mgr *m, struct waiter *w);
void shell__fire_cmd(struct shell_mgr *m, struct cmd *c);
/* Unlinks every fired waiter; the caller calls them without the lock. */
struct waiter *shell__collect_fired(struct shell_mgr *m);
void shell__run_wakes(struct waiter *list);
int shell__cmd_done(const struct cmd *c);
/* A stream reached EOF but the process has not been seen to exit: the
 * pipes close in the kernel's exit path just before the process becomes a
 * zombie (and its pidfd readable), and epoll may see one pipe before the
 * other, so the exit is usually a moment away. Until hold_until (HOLD_MS
 * after the first EOF) nothing is told, so that the last output, the ends
 * of both streams and the exit code go out in one Receive. */
int shell__cmd_held(const struct cmd *c);
/* Would shell_receive return WSM_OK now? Bytes and ends held for a
 * SequenceId replay (fl_kept) count as told: the next Receive confirms
 * them, so only what lies beyond makes the command ready. */
int shell__cmd_ready(const struct cmd *c);
void shell__check_ready(struct shell_mgr *m, struct cmd *c);
void shell__stdin_close(struct shell_mgr *m, struct cmd *c);
/* Everything queued is written and the client ended stdin: a pipe is
 * closed; a console's pty gets ^D instead (closing it would hang the
 * terminal up: SIGHUP to the command), and is closed at the exit. */
void shell__stdin_end(struct shell_mgr *m, struct cmd *c);
void shell__stream_close(struct shell_mgr *m, struct ostream *s);
/* The leader stays a zombie while its pipes are open or a SIGKILL is
 * pending: its pid then still names our process group, so kill(-pid) can
 * hit no one else. Reaped as soon as that is over. */
void shell__maybe_reap(struct cmd *c);
void shell__cmd_free(struct shell_mgr *m, struct cmd *c);
void shell__free_shell(struct shell_mgr *m, struct shell *sh);
void shell__unlink_cmd(struct cmd **head, struct cmd **tail, struct cmd *c);
/* Kills, closes and unlinks everything of a shell. Children not reaped
 * yet go to *sync (their pidfds out of epoll: the caller waits for them
 * without the lock), or, without sync, to the orphan list (the I/O thread
 * reaps them). */
void shell__teardown(struct shell_mgr *m, struct shell *sh, struct cmd **sync);
/* Waits (without the lock) for killed children; what does not die in time
 * goes to the orphan list when adopt, else is left. */
void shell__reap_sync(struct shell_mgr *m, struct cmd *list, long long deadline, int adopt);
/* A Receive is about to wait on c: a stream of it that waits for budget
 * reads on now if there is room, or the account's one overdraft buffer. */
void shell__want(struct shell_mgr *m, struct cmd *c);
void *shell__io_main(void *arg);
/* engine_mgr.c: how many users have shells (MaxConcurrentUsers). */
unsigned shell__count_users(struct shell_mgr *m);
struct shell *shell__find_shell(struct shell_mgr *m, const char *owner, const char *id);
struct cmd *shell__find_cmd(struct shell *sh, const char *id);
size_t shell__env_name_len(const char *e);

struct cmd *shell__lookup(struct shell_mgr *m, const char *owner, const char *shell_id,
                          const char *cmd_id);
size_t shell__ring_data_iov(const struct ring *r, size_t cap, struct iovec iov[2]);
/* n bytes leave the front of an output or input ring of c; its storage
 * (and budget) goes once it is empty. */
void shell__ring_consume(struct shell_mgr *m, struct cmd *c, struct ring *r, size_t n);
/* delivery.c: a reply kept for a SequenceId replay is confirmed (the
 * client acted on the command: a Signal). */
void shell__confirm_kept(struct shell_mgr *m, struct cmd *c);
/* The end-of-command log line, once per command. */
void shell__log_end(struct shell_mgr *m, struct cmd *c);
/* engine_conn.c: the shell's command is looked up for a client's request
 * (Receive, Send, Signal, a wait): NULL with *err set (WSM_ERR_NOT_FOUND,
 * or WSM_ERR_INVALID_ARG while the shell is disconnected). */
struct cmd *shell__lookup_live(struct shell_mgr *m, const char *owner, const char *shell_id,
                               const char *cmd_id, enum wsm_err *err);
/* engine_io.c: a full ring of a disconnected BufferMode Drop shell: its
 * oldest bytes go (1), or it must block as usual (0: bytes of a Receive
 * in flight or kept for a replay are at its head). */
int shell__drop_oldest(struct shell_mgr *m, struct cmd *c, int k);

#endif
