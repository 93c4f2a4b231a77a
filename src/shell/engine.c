/* The remote shell engine (see engine.h and docs/internals/shell.md).
 *
 * One mutex guards everything. One I/O thread waits in epoll on the
 * children's stdout/stderr pipes, the stdin pipes with queued bytes, the
 * pidfds of live children and an eventfd (new timers, stop). It takes the
 * lock only after epoll_wait returns, and then asks epoll again with a
 * zero timeout: the events it handles were fetched under the lock, so no
 * pointer in them can refer to a command freed meanwhile (whoever frees a
 * command first removes its fds from epoll, under the same lock).
 *
 * This file: the small helpers, rings, waiters, a command's state and
 * freeing; engine_io.c is the I/O thread, engine_mgr.c the manager and
 * shells, engine_cmd.c commands (engine_state.h between them).
 */
#include "engine.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "engine_internal.h"
#include "uuid.h"

#include "engine_state.h"

long long shell_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void shell_limits_defaults(struct shell_limits *l)
{
    l->max_shells_per_user = 30;
    l->max_processes_per_shell = 25;
    l->idle_timeout_ms = 7200000;
    l->max_idle_timeout_ms = 2147483647;
    l->max_memory_per_shell_mb = 1024;
    l->stream_cap = (size_t)1 << 20;
    l->max_buffered_total = (size_t)128 << 20;
    l->max_buffered_user = (size_t)32 << 20;
    l->max_concurrent_users = 10;
    l->max_shell_run_time_ms = 28800000;
    l->max_commands_per_shell = 1000;
}

/* ---- small helpers ---- */

void shell__poke(struct shell_mgr *m)
{
    uint64_t one = 1;
    ssize_t n = write(m->evfd, &one, sizeof(one));
    (void)n;
}

/* A timer at t: the I/O thread must look at its timers by then. */
void shell__arm(struct shell_mgr *m, long long t)
{
    if (t < m->next_deadline) {
        m->next_deadline = t;
        if (!m->thread_started || !pthread_equal(pthread_self(), m->thr))
            shell__poke(m);
    }
}

void shell__touch(struct shell_mgr *m, struct shell *sh)
{
    (void)m;
    sh->last_used = shell_now_ms();
}

void shell__ep_del(struct shell_mgr *m, int fd)
{
    epoll_ctl(m->ep, EPOLL_CTL_DEL, fd, NULL);
}

int shell__ep_add(struct shell_mgr *m, int fd, uint32_t events, struct cmd *c, int kind)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = events;
    ev.data.u64 = (uint64_t)(uintptr_t)c | (uint64_t)kind;
    return epoll_ctl(m->ep, EPOLL_CTL_ADD, fd, &ev);
}

char *shell__xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ---- rings ---- */

size_t shell__ring_free_iov(const struct ring *r, size_t cap, struct iovec iov[2])
{
    size_t space = cap - r->len;
    size_t tail = r->head + r->len;
    if (tail >= cap)
        tail -= cap;
    size_t first = cap - tail;
    if (first > space)
        first = space;
    iov[0].iov_base = r->buf + tail;
    iov[0].iov_len = first;
    iov[1].iov_base = r->buf;
    iov[1].iov_len = space - first;
    return space;
}

size_t shell__ring_data_iov(const struct ring *r, size_t cap, struct iovec iov[2])
{
    size_t first = cap - r->head;
    if (first > r->len)
        first = r->len;
    iov[0].iov_base = r->buf + r->head;
    iov[0].iov_len = first;
    iov[1].iov_base = r->buf;
    iov[1].iov_len = r->len - first;
    return r->len;
}

/* Ring storage comes from the budget (the command's owner and the
 * total); ring_alloc fails when either is spent. */
int shell__ring_alloc(struct shell_mgr *m, struct cmd *c, struct ring *r, int wanted)
{
    size_t cap = m->lim.stream_cap;
    r->over = 0;
    if (shell__budget_take(&m->budget, c->bu, cap) < 0) {
        /* The one buffer an account may have past its budget, for the
         * stream a Receive waits on (the total still holds). */
        if (!wanted || !c->bu || c->bu->over || shell__budget_take(&m->budget, NULL, cap) < 0)
            return -1;
        c->bu->used += cap;
        c->bu->over = 1;
        r->over = 1;
    }
    r->buf = malloc(cap);
    if (!r->buf) {
        shell__budget_give(&m->budget, c->bu, cap);
        if (r->over)
            c->bu->over = 0;
        r->over = 0;
        return -1;
    }
    r->head = r->len = 0;
    return 0;
}

void shell__ring_release(struct shell_mgr *m, struct cmd *c, struct ring *r)
{
    if (!r->buf)
        return;
    free(r->buf);
    r->buf = NULL;
    r->head = r->len = 0;
    shell__budget_give(&m->budget, c->bu, m->lim.stream_cap);
    if (r->over && c->bu)
        c->bu->over = 0;
    r->over = 0;
    if (m->nstarved) {
        /* A starved stream may get this storage: the I/O thread looks. */
        m->budget_freed = 1;
        shell__poke(m);
    }
}

void shell__ring_consume(struct shell_mgr *m, struct cmd *c, struct ring *r, size_t n)
{
    size_t cap = m->lim.stream_cap;
    r->head += n;
    if (r->head >= cap)
        r->head -= cap;
    r->len -= n;
    if (r->len == 0)
        shell__ring_release(m, c, r);
}

/* The caller has allocated the storage (ring_alloc). */
void shell__ring_put(struct ring *r, size_t cap, const void *p, size_t n)
{
    if (n == 0)
        return;
    struct iovec iov[2];
    shell__ring_free_iov(r, cap, iov);
    size_t a = n < iov[0].iov_len ? n : iov[0].iov_len;
    memcpy(iov[0].iov_base, p, a);
    if (n > a)
        memcpy(iov[1].iov_base, (const char *)p + a, n - a);
    r->len += n;
}

/* ---- waiters ---- */

void shell__waiter_unlink(struct shell_mgr *m, struct waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        m->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->next = w->prev = NULL;
}

/* Detaches a parked waiter from its command (fired or cancelled). */
void shell__waiter_detach(struct shell_mgr *m, struct waiter *w)
{
    struct cmd *c = w->c;
    if (!c)
        return;
    w->c = NULL;
    c->nwaiters--;
    if (c->sh) {
        c->sh->nwaiters--;
        /* The idle clock starts again when the last wait ends. */
        shell__touch(m, c->sh);
        if (c->sh->nwaiters == 0 && c->sh->idle_ms > 0)
            shell__arm(m, c->sh->last_used + c->sh->idle_ms);
    }
}

void shell__fire(struct shell_mgr *m, struct waiter *w)
{
    if (w->fired)
        return;
    shell__waiter_detach(m, w);
    w->fired = 1;
    m->nfired++;
}

void shell__fire_cmd(struct shell_mgr *m, struct cmd *c)
{
    for (struct waiter *w = m->waiters; w && c->nwaiters; w = w->next)
        if (w->c == c)
            shell__fire(m, w);
}

/* Unlinks every fired waiter; the caller calls them without the lock. */
struct waiter *shell__collect_fired(struct shell_mgr *m)
{
    struct waiter *list = NULL, *w = m->waiters;
    while (w && m->nfired) {
        struct waiter *nx = w->next;
        if (w->fired) {
            shell__waiter_unlink(m, w);
            m->nfired--;
            w->next = list;
            list = w;
        }
        w = nx;
    }
    return list;
}

void shell__run_wakes(struct waiter *list)
{
    while (list) {
        struct waiter *nx = list->next;
        list->wake(list->arg);
        free(list);
        list = nx;
    }
}

/* ---- command state ---- */

int shell__cmd_done(const struct cmd *c)
{
    return c->exited && c->out[0].eof && c->out[1].eof && c->out[0].r.len == 0 &&
           c->out[1].r.len == 0;
}

/* A stream reached EOF but the process has not been seen to exit: the
 * pipes close in the kernel's exit path just before the process becomes a
 * zombie (and its pidfd readable), and epoll may see one pipe before the
 * other, so the exit is usually a moment away. Until hold_until (HOLD_MS
 * after the first EOF) nothing is told, so that the last output, the ends
 * of both streams and the exit code go out in one Receive. */
int shell__cmd_held(const struct cmd *c)
{
    return !c->exited && c->hold_until && shell_now_ms() < c->hold_until;
}

/* Would shell_receive return WSM_OK now? Bytes and ends held for a
 * SequenceId replay (fl_kept) count as told: the next Receive confirms
 * them, so only what lies beyond makes the command ready. */
int shell__cmd_ready(const struct cmd *c)
{
    if (shell__cmd_held(c) || c->fl_token)
        return 0; /* in flight: ready again once settled */
    if (c->done_told || c->fl_done)
        return 1;
    if (c->exited && c->out[0].eof && c->out[1].eof && c->out[0].r.len == c->fl_len[0] &&
        c->out[1].r.len == c->fl_len[1])
        return 1;
    for (int k = 0; k < 2; k++) {
        const struct ostream *s = &c->out[k];
        if (s->r.len > c->fl_len[k] || (s->eof && !s->end_told && !c->fl_end[k]))
            return 1;
    }
    return 0;
}

void shell__check_ready(struct shell_mgr *m, struct cmd *c)
{
    if (c->nwaiters && shell__cmd_ready(c))
        shell__fire_cmd(m, c);
}

/* ---- the end-of-command log line ---- */

void shell__log_end(struct shell_mgr *m, struct cmd *c)
{
    if (c->logged || !c->sh)
        return;
    c->logged = 1;
    if (!m->end_hook)
        return;
    /* Logged at a Delete, the last reply may still be in flight (the
     * client deletes once it has read it): its bytes count when the
     * client's TCP has them. */
    int got = c->fl_kept || (c->fl_token && c->fl_probe && c->fl_probe(c->fl_probe_arg) > 0);
    struct shell_cmd_end e = {
        .owner = c->sh->owner,
        .shell_id = c->sh->id,
        .cmd_id = c->id,
        .out_bytes = c->sent[0] + (got ? c->fl_len[0] : 0),
        .err_bytes = c->sent[1] + (got ? c->fl_len[1] : 0),
        .exit_code = c->exited ? c->exit_code : -1,
        .duration_ms = (c->exited ? c->exit_at : shell_now_ms()) - c->started,
    };
    m->end_hook(&e);
}

void shell__stdin_close(struct shell_mgr *m, struct cmd *c)
{
    if (c->in_fd >= 0) {
        if (c->in_watched)
            shell__ep_del(m, c->in_fd);
        close(c->in_fd);
        c->in_fd = -1;
    }
    c->in_watched = 0;
    shell__ring_release(m, c, &c->in);
}

void shell__stdin_end(struct shell_mgr *m, struct cmd *c)
{
    if (!c->tty || c->in_fd < 0) {
        shell__stdin_close(m, c);
        return;
    }
    /* The I/O thread's timers tell the end once the reader has taken
     * everything (shell__tty_eof): before that, the bytes still in the
     * terminal would be read in canonical mode. */
    if (c->in_watched)
        shell__ep_del(m, c->in_fd);
    c->in_watched = 0;
    shell__ring_release(m, c, &c->in);
    if (!c->eof_at) {
        c->eof_state = 0;
        c->eof_at = shell_now_ms() + 1;
        shell__arm(m, c->eof_at);
    }
}

void shell__stream_close(struct shell_mgr *m, struct ostream *s)
{
    if (s->starved) {
        s->starved = 0;
        m->nstarved--;
    }
    if (s->fd >= 0) {
        if (!s->paused)
            shell__ep_del(m, s->fd);
        close(s->fd);
        s->fd = -1;
    }
    s->paused = 0;
    s->eof = 1;
}

/* The leader stays a zombie while its pipes are open or a SIGKILL is
 * pending: its pid then still names our process group, so kill(-pid) can
 * hit no one else. Reaped as soon as that is over. */
void shell__maybe_reap(struct cmd *c)
{
    if (!c->exited || c->reaped || c->out[0].fd >= 0 || c->out[1].fd >= 0 || c->kill_at)
        return;
    if (shell__proc_reap(c->pid, -1) == 0)
        return; /* cannot be: it exited */
    c->reaped = 1;
    if (c->pidfd >= 0) {
        close(c->pidfd);
        c->pidfd = -1;
    }
}

void shell__cmd_free(struct shell_mgr *m, struct cmd *c)
{
    shell__ring_release(m, c, &c->out[0].r);
    shell__ring_release(m, c, &c->out[1].r);
    shell__ring_release(m, c, &c->in);
    if (c->out[0].starved)
        m->nstarved--;
    if (c->out[1].starved)
        m->nstarved--;
    if (c->bu)
        shell__budget_give(&m->budget, c->bu, CMD_CHARGE);
    shell__budget_put(&m->budget, c->bu);
    if (c->out[0].fd >= 0)
        close(c->out[0].fd);
    if (c->out[1].fd >= 0)
        close(c->out[1].fd);
    if (c->in_fd >= 0)
        close(c->in_fd);
    if (c->pidfd >= 0)
        close(c->pidfd);
    free(c);
}

void shell__free_shell(struct shell_mgr *m, struct shell *sh)
{
    if (sh->bu)
        shell__budget_give(&m->budget, sh->bu, SHELL_CHARGE);
    shell__budget_put(&m->budget, sh->bu);
    /* Kills whatever is left of it, setsid'd daemons included. */
    wsmd__cg_release(sh->cg, 1);
    free(sh->owner);
    free(sh->groups);
    free(sh->home);
    free(sh->shellvar);
    free(sh->workdir);
    free(sh->env);
    free(sh->name);
    free(sh->client_ip);
    free(sh->locale);
    free(sh->data_locale);
    free(sh);
}
