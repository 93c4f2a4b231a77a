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
    struct budget_user *bu; /* the owner's budget (a reference) */
    long long started;
    unsigned long long sent[2]; /* bytes delivered per stream (for the log) */
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
    char **env; /* NULL-terminated; one block with its strings */
    long idle_ms;
    long long last_used;
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

/* engine.c's helpers for delivery.c. */
void shell__poke(struct shell_mgr *m);
void shell__arm(struct shell_mgr *m, long long t);
int shell__ep_add(struct shell_mgr *m, int fd, uint32_t events, struct cmd *c, int kind);
void shell__check_ready(struct shell_mgr *m, struct cmd *c);
int shell__cmd_done(const struct cmd *c);
int shell__cmd_held(const struct cmd *c);
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

#endif
