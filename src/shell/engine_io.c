/* The remote shell engine, its I/O thread: epoll over the children's
 * pipes and pidfds and an eventfd, stream reads under the budget, stdin
 * writes, exits, timers (idle shells, grace periods) and teardown. */
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

/* ---- the I/O thread's work ---- */

static void stream_read(struct shell_mgr *m, struct cmd *c, int k)
{
    struct ostream *s = &c->out[k];
    size_t cap = m->lim.stream_cap;
    while (s->fd >= 0) {
        if (s->r.len == cap && shell__drop_oldest(m, c, k))
            continue; /* disconnected, BufferMode Drop: the oldest went */
        if (s->r.len == cap) {
            /* Full: stop reading, the child blocks on write. */
            shell__ep_del(m, s->fd);
            s->paused = 1;
            return;
        }
        if (!s->r.buf && shell__ring_alloc(m, c, &s->r, s->wanted) < 0) {
            /* The budget is spent (or memory): stop reading like a full
             * ring does; the stream resumes when storage is given back. */
            shell__ep_del(m, s->fd);
            s->paused = 1;
            s->starved = 1;
            s->wanted = 0;
            m->nstarved++;
            return;
        }
        s->wanted = 0;
        struct iovec iov[2];
        size_t space = shell__ring_free_iov(&s->r, cap, iov);
        ssize_t n = readv(s->fd, iov, iov[1].iov_len ? 2 : 1);
        if (n > 0) {
            if (!s->muted) /* a stream the client did not name is dropped */
                s->r.len += (size_t)n;
            /* Drained (level-triggered epoll brings us back); after the
             * exit, read on to EOF or EAGAIN: the end may be there. */
            if ((size_t)n < space && !c->grace && !c->exited)
                return;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN && !c->grace)
            break;
        /* EOF, an error, or drained after the grace period. */
        shell__stream_close(m, s);
    }
    if (s->r.len == 0)
        shell__ring_release(m, c, &s->r);
}

static void consume_sigpipe(void)
{
    sigset_t set;
    struct timespec zero = {0, 0};
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    while (sigtimedwait(&set, NULL, &zero) > 0)
        ;
}

static void stdin_write(struct shell_mgr *m, struct cmd *c)
{
    size_t cap = m->lim.stream_cap;
    while (c->in.len > 0) {
        struct iovec iov[2];
        shell__ring_data_iov(&c->in, cap, iov);
        ssize_t n = writev(c->in_fd, iov, iov[1].iov_len ? 2 : 1);
        if (n > 0) {
            shell__ring_consume(m, c, &c->in, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        /* EPIPE: the child closed its stdin; what is queued goes. */
        if (n < 0 && errno == EPIPE)
            consume_sigpipe();
        shell__stdin_close(m, c);
        return;
    }
    if (c->in_end) {
        shell__stdin_end(m, c);
    } else if (c->in_watched) {
        shell__ep_del(m, c->in_fd);
        c->in_watched = 0;
    }
}

void shell__unlink_cmd(struct cmd **head, struct cmd **tail, struct cmd *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        *head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else if (tail)
        *tail = c->prev;
    c->next = c->prev = NULL;
}

static void pid_event(struct shell_mgr *m, struct cmd *c, long long now)
{
    if (c->orphan) {
        if (shell__proc_reap(c->pid, c->pidfd) == 0)
            return;
        shell__ep_del(m, c->pidfd);
        shell__unlink_cmd(&m->orphans, NULL, c);
        shell__cmd_free(m, c);
        return;
    }
    /* The status now, the zombie stays (see maybe_reap). */
    int code = 0;
    int r = shell__proc_status(c->pid, c->pidfd, &code);
    if (r == 0)
        return;
    if (r < 0) {
        /* Someone else reaped it (SIGCHLD ignored?): no status. */
        c->exit_code = 255;
        c->reaped = 1;
        shell__ep_del(m, c->pidfd);
        close(c->pidfd);
        c->pidfd = -1;
    } else {
        c->exit_code = code;
    }
    if (c->pidfd >= 0)
        shell__ep_del(m, c->pidfd);
    c->pid_watched = 0;
    c->exited = 1;
    c->exit_at = now;
    if (c->sh)
        c->sh->running--;
    shell__stdin_close(m, c); /* nobody reads it any more */
    /* The pipes have usually reached EOF by now (they close before the
     * exit is signalled): take it, so the exit and the ends are told
     * together. */
    for (int k = 0; k < 2; k++)
        if (c->out[k].fd >= 0 && !c->out[k].paused)
            stream_read(m, c, k);
    if (c->out[0].fd >= 0 || c->out[1].fd >= 0)
        shell__arm(m, now + GRACE_MS);
    shell__maybe_reap(c);
}

/* A stream just reached EOF: has the process exited too? If it has not
 * yet (see cmd_held), wait a little for its pidfd. */
static void settle(struct shell_mgr *m, struct cmd *c, long long now)
{
    if (c->exited || c->orphan || (!c->out[0].eof && !c->out[1].eof) || c->hold_until)
        return;
    pid_event(m, c, now);
    if (!c->exited) {
        c->hold_until = now + HOLD_MS;
        shell__arm(m, c->hold_until);
    }
}

static void handle_event(struct shell_mgr *m, const struct epoll_event *ev, long long now)
{
    if (ev->data.u64 == 0) {
        uint64_t v;
        ssize_t n = read(m->evfd, &v, sizeof(v));
        (void)n;
        return;
    }
    struct cmd *c = (struct cmd *)(uintptr_t)(ev->data.u64 & ~(uint64_t)K_MASK);
    int kind = (int)(ev->data.u64 & K_MASK);
    switch (kind) {
    case K_OUT:
    case K_ERR:
        stream_read(m, c, kind);
        settle(m, c, now);
        shell__maybe_reap(c);
        break;
    case K_IN:
        stdin_write(m, c);
        return;
    case K_PID:
        if (c->orphan) {
            pid_event(m, c, now); /* may free it */
            return;
        }
        /* settle() may have seen the exit already (same batch). */
        if (!c->exited)
            pid_event(m, c, now);
        break;
    }
    shell__check_ready(m, c);
}

/* Kills, closes and unlinks everything of a shell. Children not reaped
 * yet go to *sync (their pidfds out of epoll: the caller waits for them
 * without the lock), or, without sync, to the orphan list (the I/O thread
 * reaps them). */
void shell__teardown(struct shell_mgr *m, struct shell *sh, struct cmd **sync)
{
    if (sh->prev)
        sh->prev->next = sh->next;
    else
        m->shells = sh->next;
    if (sh->next)
        sh->next->prev = sh->prev;
    struct cmd *c = sh->cmds;
    while (c) {
        struct cmd *nx = c->next;
        c->next = c->prev = NULL;
        if (c->nwaiters)
            shell__fire_cmd(m, c);
        shell__log_end(m, c);
        shell__stdin_close(m, c);
        shell__stream_close(m, &c->out[0]);
        shell__stream_close(m, &c->out[1]);
        /* Nobody can read it any more: the budget gets it back now, not
         * when an orphan is reaped. */
        shell__ring_release(m, c, &c->out[0].r);
        shell__ring_release(m, c, &c->out[1].r);
        c->sh = NULL;
        if (!c->reaped) {
            shell__proc_kill(c->pid, SIGKILL);
            c->kill_at = 0;
            if (c->exited) {
                shell__maybe_reap(c); /* a zombie: at once */
            } else if (sync) {
                if (c->pid_watched)
                    shell__ep_del(m, c->pidfd);
                c->pid_watched = 0;
                c->next = *sync;
                *sync = c;
                c = nx;
                continue;
            } else {
                c->orphan = 1;
                c->next = m->orphans;
                if (m->orphans)
                    m->orphans->prev = c;
                m->orphans = c;
                c = nx;
                continue;
            }
        }
        shell__cmd_free(m, c);
        c = nx;
    }
    shell__free_shell(m, sh);
}

/* Waits (without the lock) for killed children; what does not die in time
 * goes to the orphan list when adopt, else is left. */
void shell__reap_sync(struct shell_mgr *m, struct cmd *list, long long deadline, int adopt)
{
    while (list) {
        struct cmd *c = list;
        list = c->next;
        c->next = NULL;
        for (;;) {
            if (shell__proc_reap(c->pid, c->pidfd)) {
                c->reaped = 1;
                break;
            }
            long long left = deadline - shell_now_ms();
            if (left <= 0)
                break;
            struct pollfd p = {.fd = c->pidfd, .events = POLLIN, .revents = 0};
            poll(&p, 1, (int)(left > 1000 ? 1000 : left));
        }
        if (!c->reaped && adopt) {
            pthread_mutex_lock(&m->lock);
            if (shell__ep_add(m, c->pidfd, EPOLLIN, c, K_PID) == 0) {
                c->pid_watched = 1;
                c->orphan = 1;
                c->next = m->orphans;
                if (m->orphans)
                    m->orphans->prev = c;
                m->orphans = c;
                c = NULL;
            }
            pthread_mutex_unlock(&m->lock);
        }
        if (c) {
            pthread_mutex_lock(&m->lock); /* cmd_free gives back its budget */
            shell__cmd_free(m, c);
            pthread_mutex_unlock(&m->lock);
        }
    }
}

static void scan_timers(struct shell_mgr *m, long long now)
{
    long long next = NEVER;
    for (struct waiter *w = m->waiters; w; w = w->next) {
        if (w->fired)
            continue;
        if (w->deadline <= now)
            shell__fire(m, w);
        else if (w->deadline < next)
            next = w->deadline;
    }
    struct shell *sh = m->shells;
    while (sh) {
        struct shell *shn = sh->next;
        /* MaxShellRunTime: however busy, a shell lives no longer. */
        long long end =
            m->lim.max_shell_run_time_ms > 0 ? sh->created + m->lim.max_shell_run_time_ms : NEVER;
        if (end <= now && sh->spawning == 0) {
            shell__teardown(m, sh, NULL);
            sh = shn;
            continue;
        }
        if (end < next)
            next = end;
        if (sh->idle_ms > 0 && sh->nwaiters == 0 && sh->spawning == 0) {
            long long t = sh->last_used + sh->idle_ms;
            if (t <= now) {
                shell__teardown(m, sh, NULL);
                sh = shn;
                continue;
            }
            if (t < next)
                next = t;
        }
        for (struct cmd *c = sh->cmds; c; c = c->next) {
            if (c->eof_at && (c->in_fd < 0 || c->exited || c->reaped))
                c->eof_at = 0; /* nobody reads it any more */
            if (c->eof_at) {
                if (c->eof_at <= now) {
                    c->eof_at = now + shell__tty_eof(c->in_fd, c->pid, &c->eof_state);
                }
                if (c->eof_at && c->eof_at < next)
                    next = c->eof_at;
            }
            if (c->kill_at) {
                if (c->kill_at <= now) {
                    if (!c->reaped)
                        shell__proc_kill(c->pid, SIGKILL);
                    c->kill_at = 0;
                    shell__maybe_reap(c);
                } else if (c->kill_at < next) {
                    next = c->kill_at;
                }
            }
            if (c->hold_until && !c->exited) {
                if (c->hold_until <= now)
                    shell__check_ready(m, c); /* no exit yet: tell the ends */
                else if (c->hold_until < next)
                    next = c->hold_until;
            }
            if (c->exited && (c->out[0].fd >= 0 || c->out[1].fd >= 0)) {
                long long t = c->exit_at + GRACE_MS;
                if (t <= now) {
                    /* A background process holds the pipes: take what
                     * is there and stop waiting for EOF. A full buffer
                     * waits for the reader (receive re-arms us). */
                    c->grace = 1;
                    for (int k = 0; k < 2; k++)
                        if (c->out[k].fd >= 0 && !c->out[k].paused)
                            stream_read(m, c, k);
                    shell__maybe_reap(c);
                    shell__check_ready(m, c);
                } else if (t < next) {
                    next = t;
                }
            }
        }
        sh = shn;
    }
    m->next_deadline = next;
}

/* Storage was given back: streams stopped for want of budget read on if
 * there is room now (those that still find none stop again). */
static void feed_starved(struct shell_mgr *m)
{
    m->budget_freed = 0;
    for (struct shell *sh = m->shells; sh && m->nstarved; sh = sh->next)
        for (struct cmd *c = sh->cmds; c && m->nstarved; c = c->next)
            for (int k = 0; k < 2; k++) {
                struct ostream *s = &c->out[k];
                if (!s->starved || s->fd < 0 ||
                    !shell__budget_room(&m->budget, c->bu, m->lim.stream_cap))
                    continue;
                if (shell__ep_add(m, s->fd, EPOLLIN, c, k) == 0) {
                    s->starved = 0;
                    s->paused = 0;
                    m->nstarved--;
                }
            }
}

/* A Receive is about to wait on c: a stream of it that waits for budget
 * reads on now if there is room, or the account's one overdraft buffer. */
void shell__want(struct shell_mgr *m, struct cmd *c)
{
    for (int k = 0; k < 2; k++) {
        struct ostream *s = &c->out[k];
        if (!s->starved || s->fd < 0)
            continue;
        if (!shell__budget_room(&m->budget, c->bu, m->lim.stream_cap) &&
            (!c->bu || c->bu->over || !shell__budget_room(&m->budget, NULL, m->lim.stream_cap)))
            continue;
        if (shell__ep_add(m, s->fd, EPOLLIN, c, k) == 0) {
            s->starved = 0;
            s->paused = 0;
            s->wanted = 1;
            m->nstarved--;
        }
    }
}

void *shell__io_main(void *arg)
{
    struct shell_mgr *m = arg;
    struct epoll_event evs[64], one;
    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        long long now = shell_now_ms();
        int timeout = -1;
        if (m->next_deadline != NEVER) {
            long long d = m->next_deadline - now;
            timeout = d <= 0 ? 0 : d > INT_MAX ? INT_MAX : (int)d;
        }
        pthread_mutex_unlock(&m->lock);
        if (timeout != 0)
            epoll_wait(m->ep, &one, 1, timeout);
        pthread_mutex_lock(&m->lock);
        if (m->stop)
            break;
        /* Again, under the lock: see the top of the file. */
        int n = epoll_wait(m->ep, evs, 64, 0);
        now = shell_now_ms();
        for (int i = 0; i < n; i++)
            handle_event(m, &evs[i], now);
        if (now >= m->next_deadline)
            scan_timers(m, now);
        if (m->budget_freed)
            feed_starved(m);
        if (m->nfired) {
            struct waiter *wl = shell__collect_fired(m);
            pthread_mutex_unlock(&m->lock);
            shell__run_wakes(wl);
            pthread_mutex_lock(&m->lock);
        }
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}
