/* The remote shell engine (see engine.h and docs/internals/shell.md).
 *
 * One mutex guards everything. One I/O thread waits in epoll on the
 * children's stdout/stderr pipes, the stdin pipes with queued bytes, the
 * pidfds of live children and an eventfd (new timers, stop). It takes the
 * lock only after epoll_wait returns, and then asks epoll again with a
 * zero timeout: the events it handles were fetched under the lock, so no
 * pointer in them can refer to a command freed meanwhile (whoever frees a
 * command first removes its fds from epoll, under the same lock).
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
}

/* ---- small helpers ---- */

static void poke(struct shell_mgr *m)
{
    uint64_t one = 1;
    ssize_t n = write(m->evfd, &one, sizeof(one));
    (void)n;
}

/* A timer at t: the I/O thread must look at its timers by then. */
static void arm(struct shell_mgr *m, long long t)
{
    if (t < m->next_deadline) {
        m->next_deadline = t;
        if (!m->thread_started || !pthread_equal(pthread_self(), m->thr))
            poke(m);
    }
}

static void touch(struct shell_mgr *m, struct shell *sh)
{
    (void)m;
    sh->last_used = shell_now_ms();
}

static void ep_del(struct shell_mgr *m, int fd)
{
    epoll_ctl(m->ep, EPOLL_CTL_DEL, fd, NULL);
}

static int ep_add(struct shell_mgr *m, int fd, uint32_t events, struct cmd *c, int kind)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = events;
    ev.data.u64 = (uint64_t)(uintptr_t)c | (uint64_t)kind;
    return epoll_ctl(m->ep, EPOLL_CTL_ADD, fd, &ev);
}

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ---- rings ---- */

static size_t ring_free_iov(const struct ring *r, size_t cap, struct iovec iov[2])
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

static size_t ring_data_iov(const struct ring *r, size_t cap, struct iovec iov[2])
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
static int ring_alloc(struct shell_mgr *m, struct cmd *c, struct ring *r, int wanted)
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

static void ring_release(struct shell_mgr *m, struct cmd *c, struct ring *r)
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
        poke(m);
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
        ring_release(m, c, r);
}

/* The caller has allocated the storage (ring_alloc). */
static void ring_put(struct ring *r, size_t cap, const void *p, size_t n)
{
    if (n == 0)
        return;
    struct iovec iov[2];
    ring_free_iov(r, cap, iov);
    size_t a = n < iov[0].iov_len ? n : iov[0].iov_len;
    memcpy(iov[0].iov_base, p, a);
    if (n > a)
        memcpy(iov[1].iov_base, (const char *)p + a, n - a);
    r->len += n;
}

/* ---- waiters ---- */

static void waiter_unlink(struct shell_mgr *m, struct waiter *w)
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
static void waiter_detach(struct shell_mgr *m, struct waiter *w)
{
    struct cmd *c = w->c;
    if (!c)
        return;
    w->c = NULL;
    c->nwaiters--;
    if (c->sh) {
        c->sh->nwaiters--;
        /* The idle clock starts again when the last wait ends. */
        touch(m, c->sh);
        if (c->sh->nwaiters == 0 && c->sh->idle_ms > 0)
            arm(m, c->sh->last_used + c->sh->idle_ms);
    }
}

static void fire(struct shell_mgr *m, struct waiter *w)
{
    if (w->fired)
        return;
    waiter_detach(m, w);
    w->fired = 1;
    m->nfired++;
}

static void fire_cmd(struct shell_mgr *m, struct cmd *c)
{
    for (struct waiter *w = m->waiters; w && c->nwaiters; w = w->next)
        if (w->c == c)
            fire(m, w);
}

/* Unlinks every fired waiter; the caller calls them without the lock. */
static struct waiter *collect_fired(struct shell_mgr *m)
{
    struct waiter *list = NULL, *w = m->waiters;
    while (w && m->nfired) {
        struct waiter *nx = w->next;
        if (w->fired) {
            waiter_unlink(m, w);
            m->nfired--;
            w->next = list;
            list = w;
        }
        w = nx;
    }
    return list;
}

static void run_wakes(struct waiter *list)
{
    while (list) {
        struct waiter *nx = list->next;
        list->wake(list->arg);
        free(list);
        list = nx;
    }
}

/* ---- command state ---- */

static int cmd_done(const struct cmd *c)
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
static int cmd_held(const struct cmd *c)
{
    return !c->exited && c->hold_until && shell_now_ms() < c->hold_until;
}

/* Would shell_receive return WSM_OK now? Bytes and ends held for a
 * SequenceId replay (fl_kept) count as told: the next Receive confirms
 * them, so only what lies beyond makes the command ready. */
static int cmd_ready(const struct cmd *c)
{
    if (cmd_held(c) || c->fl_token)
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

static void check_ready(struct shell_mgr *m, struct cmd *c)
{
    if (c->nwaiters && cmd_ready(c))
        fire_cmd(m, c);
}

/* ---- for delivery.c ---- */

void shell__poke(struct shell_mgr *m)
{
    poke(m);
}

void shell__arm(struct shell_mgr *m, long long t)
{
    arm(m, t);
}

int shell__ep_add(struct shell_mgr *m, int fd, uint32_t events, struct cmd *c, int kind)
{
    return ep_add(m, fd, events, c, kind);
}

void shell__check_ready(struct shell_mgr *m, struct cmd *c)
{
    check_ready(m, c);
}

int shell__cmd_done(const struct cmd *c)
{
    return cmd_done(c);
}

int shell__cmd_held(const struct cmd *c)
{
    return cmd_held(c);
}

size_t shell__ring_data_iov(const struct ring *r, size_t cap, struct iovec iov[2])
{
    return ring_data_iov(r, cap, iov);
}

void shell__log_end(struct shell_mgr *m, struct cmd *c)
{
    if (c->logged || !c->sh)
        return;
    c->logged = 1;
    if (!m->end_hook)
        return;
    struct shell_cmd_end e = {
        .owner = c->sh->owner,
        .shell_id = c->sh->id,
        .cmd_id = c->id,
        .out_bytes = c->sent[0] + (c->fl_kept ? c->fl_len[0] : 0),
        .err_bytes = c->sent[1] + (c->fl_kept ? c->fl_len[1] : 0),
        .exit_code = c->exited ? c->exit_code : -1,
        .duration_ms = (c->exited ? c->exit_at : shell_now_ms()) - c->started,
    };
    m->end_hook(&e);
}

static void stdin_close(struct shell_mgr *m, struct cmd *c)
{
    if (c->in_fd >= 0) {
        if (c->in_watched)
            ep_del(m, c->in_fd);
        close(c->in_fd);
        c->in_fd = -1;
    }
    c->in_watched = 0;
    ring_release(m, c, &c->in);
}

static void stream_close(struct shell_mgr *m, struct ostream *s)
{
    if (s->starved) {
        s->starved = 0;
        m->nstarved--;
    }
    if (s->fd >= 0) {
        if (!s->paused)
            ep_del(m, s->fd);
        close(s->fd);
        s->fd = -1;
    }
    s->paused = 0;
    s->eof = 1;
}

/* The leader stays a zombie while its pipes are open or a SIGKILL is
 * pending: its pid then still names our process group, so kill(-pid) can
 * hit no one else. Reaped as soon as that is over. */
static void maybe_reap(struct cmd *c)
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

static void cmd_free(struct shell_mgr *m, struct cmd *c)
{
    ring_release(m, c, &c->out[0].r);
    ring_release(m, c, &c->out[1].r);
    ring_release(m, c, &c->in);
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

static void shell_free(struct shell_mgr *m, struct shell *sh)
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
    free(sh);
}

/* ---- the I/O thread's work ---- */

static void stream_read(struct shell_mgr *m, struct cmd *c, int k)
{
    struct ostream *s = &c->out[k];
    size_t cap = m->lim.stream_cap;
    while (s->fd >= 0) {
        if (s->r.len == cap) {
            /* Full: stop reading, the child blocks on write. */
            ep_del(m, s->fd);
            s->paused = 1;
            return;
        }
        if (!s->r.buf && ring_alloc(m, c, &s->r, s->wanted) < 0) {
            /* The budget is spent (or memory): stop reading like a full
             * ring does; the stream resumes when storage is given back. */
            ep_del(m, s->fd);
            s->paused = 1;
            s->starved = 1;
            s->wanted = 0;
            m->nstarved++;
            return;
        }
        s->wanted = 0;
        struct iovec iov[2];
        size_t space = ring_free_iov(&s->r, cap, iov);
        ssize_t n = readv(s->fd, iov, iov[1].iov_len ? 2 : 1);
        if (n > 0) {
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
        stream_close(m, s);
    }
    if (s->r.len == 0)
        ring_release(m, c, &s->r);
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
        ring_data_iov(&c->in, cap, iov);
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
        stdin_close(m, c);
        return;
    }
    if (c->in_end) {
        stdin_close(m, c);
    } else if (c->in_watched) {
        ep_del(m, c->in_fd);
        c->in_watched = 0;
    }
}

static void unlink_cmd(struct cmd **head, struct cmd **tail, struct cmd *c)
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
        ep_del(m, c->pidfd);
        unlink_cmd(&m->orphans, NULL, c);
        cmd_free(m, c);
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
        ep_del(m, c->pidfd);
        close(c->pidfd);
        c->pidfd = -1;
    } else {
        c->exit_code = code;
    }
    if (c->pidfd >= 0)
        ep_del(m, c->pidfd);
    c->pid_watched = 0;
    c->exited = 1;
    c->exit_at = now;
    if (c->sh)
        c->sh->running--;
    stdin_close(m, c); /* nobody reads it any more */
    /* The pipes have usually reached EOF by now (they close before the
     * exit is signalled): take it, so the exit and the ends are told
     * together. */
    for (int k = 0; k < 2; k++)
        if (c->out[k].fd >= 0 && !c->out[k].paused)
            stream_read(m, c, k);
    if (c->out[0].fd >= 0 || c->out[1].fd >= 0)
        arm(m, now + GRACE_MS);
    maybe_reap(c);
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
        arm(m, c->hold_until);
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
        maybe_reap(c);
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
    check_ready(m, c);
}

/* Kills, closes and unlinks everything of a shell. Children not reaped
 * yet go to *sync (their pidfds out of epoll: the caller waits for them
 * without the lock), or, without sync, to the orphan list (the I/O thread
 * reaps them). */
static void shell_teardown(struct shell_mgr *m, struct shell *sh, struct cmd **sync)
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
            fire_cmd(m, c);
        shell__log_end(m, c);
        stdin_close(m, c);
        stream_close(m, &c->out[0]);
        stream_close(m, &c->out[1]);
        /* Nobody can read it any more: the budget gets it back now, not
         * when an orphan is reaped. */
        ring_release(m, c, &c->out[0].r);
        ring_release(m, c, &c->out[1].r);
        c->sh = NULL;
        if (!c->reaped) {
            shell__proc_kill(c->pid, SIGKILL);
            c->kill_at = 0;
            if (c->exited) {
                maybe_reap(c); /* a zombie: at once */
            } else if (sync) {
                if (c->pid_watched)
                    ep_del(m, c->pidfd);
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
        cmd_free(m, c);
        c = nx;
    }
    shell_free(m, sh);
}

/* Waits (without the lock) for killed children; what does not die in time
 * goes to the orphan list when adopt, else is left. */
static void reap_sync(struct shell_mgr *m, struct cmd *list, long long deadline, int adopt)
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
            if (ep_add(m, c->pidfd, EPOLLIN, c, K_PID) == 0) {
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
            cmd_free(m, c);
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
            fire(m, w);
        else if (w->deadline < next)
            next = w->deadline;
    }
    struct shell *sh = m->shells;
    while (sh) {
        struct shell *shn = sh->next;
        if (sh->idle_ms > 0 && sh->nwaiters == 0 && sh->spawning == 0) {
            long long t = sh->last_used + sh->idle_ms;
            if (t <= now) {
                shell_teardown(m, sh, NULL);
                sh = shn;
                continue;
            }
            if (t < next)
                next = t;
        }
        for (struct cmd *c = sh->cmds; c; c = c->next) {
            if (c->kill_at) {
                if (c->kill_at <= now) {
                    if (!c->reaped)
                        shell__proc_kill(c->pid, SIGKILL);
                    c->kill_at = 0;
                    maybe_reap(c);
                } else if (c->kill_at < next) {
                    next = c->kill_at;
                }
            }
            if (c->hold_until && !c->exited) {
                if (c->hold_until <= now)
                    check_ready(m, c); /* no exit yet: tell the ends */
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
                    maybe_reap(c);
                    check_ready(m, c);
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
                if (ep_add(m, s->fd, EPOLLIN, c, k) == 0) {
                    s->starved = 0;
                    s->paused = 0;
                    m->nstarved--;
                }
            }
}

/* A Receive is about to wait on c: a stream of it that waits for budget
 * reads on now if there is room, or the account's one overdraft buffer. */
static void want(struct shell_mgr *m, struct cmd *c)
{
    for (int k = 0; k < 2; k++) {
        struct ostream *s = &c->out[k];
        if (!s->starved || s->fd < 0)
            continue;
        if (!shell__budget_room(&m->budget, c->bu, m->lim.stream_cap) &&
            (!c->bu || c->bu->over || !shell__budget_room(&m->budget, NULL, m->lim.stream_cap)))
            continue;
        if (ep_add(m, s->fd, EPOLLIN, c, k) == 0) {
            s->starved = 0;
            s->paused = 0;
            s->wanted = 1;
            m->nstarved--;
        }
    }
}

static void *io_main(void *arg)
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
            struct waiter *wl = collect_fired(m);
            pthread_mutex_unlock(&m->lock);
            run_wakes(wl);
            pthread_mutex_lock(&m->lock);
        }
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

/* ---- manager ---- */

enum wsm_err shell_mgr_new(const struct shell_limits *lim, struct shell_mgr **out)
{
    *out = NULL;
    struct shell_mgr *m = calloc(1, sizeof(*m));
    if (!m)
        return WSM_ERR_NOMEM;
    if (lim)
        m->lim = *lim;
    else
        shell_limits_defaults(&m->lim);
    if (m->lim.stream_cap == 0)
        m->lim.stream_cap = (size_t)1 << 20;
    m->budget.max_total = m->lim.max_buffered_total;
    m->budget.max_user = m->lim.max_buffered_user;
    m->next_deadline = NEVER;
    m->next_token = 0;
    m->ep = m->evfd = -1;
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return WSM_ERR_INTERNAL;
    }
    m->ep = epoll_create1(EPOLL_CLOEXEC);
    m->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (m->ep < 0 || m->evfd < 0 || ep_add(m, m->evfd, EPOLLIN, NULL, 0) < 0)
        goto fail;
    /* The thread takes no signal (SIGPIPE from stdin writes stays pending
     * there and is consumed). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_mutex_lock(&m->lock); /* the thread sees m->thr set */
    int rc = pthread_create(&m->thr, NULL, io_main, m);
    m->thread_started = rc == 0;
    pthread_mutex_unlock(&m->lock);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        goto fail;
    *out = m;
    return WSM_OK;
fail:
    if (m->ep >= 0)
        close(m->ep);
    if (m->evfd >= 0)
        close(m->evfd);
    pthread_mutex_destroy(&m->lock);
    free(m);
    return WSM_ERR_INTERNAL;
}

void shell_mgr_free(struct shell_mgr *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->stop = 1;
    pthread_mutex_unlock(&m->lock);
    poke(m);
    pthread_join(m->thr, NULL);
    m->thread_started = 0;

    struct cmd *sync = NULL;
    while (m->shells)
        shell_teardown(m, m->shells, &sync);
    while (m->orphans) {
        struct cmd *c = m->orphans;
        unlink_cmd(&m->orphans, NULL, c);
        if (c->pid_watched)
            ep_del(m, c->pidfd);
        c->next = sync;
        sync = c;
    }
    reap_sync(m, sync, shell_now_ms() + 2 * REAP_SYNC_MS, 0);
    for (struct waiter *w = m->waiters; w; w = w->next)
        fire(m, w);
    run_wakes(collect_fired(m));
    close(m->ep);
    close(m->evfd);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static struct shell *find_shell(struct shell_mgr *m, const char *owner, const char *id)
{
    if (!owner || !id)
        return NULL;
    for (struct shell *sh = m->shells; sh; sh = sh->next)
        if (strcmp(sh->id, id) == 0)
            return strcmp(sh->owner, owner) == 0 ? sh : NULL;
    return NULL;
}

static struct cmd *find_cmd(struct shell *sh, const char *id)
{
    if (!sh || !id)
        return NULL;
    for (struct cmd *c = sh->cmds; c; c = c->next)
        if (strcmp(c->id, id) == 0)
            return c;
    return NULL;
}

unsigned shell_count(struct shell_mgr *m, const char *owner)
{
    unsigned n = 0;
    pthread_mutex_lock(&m->lock);
    for (struct shell *sh = m->shells; sh; sh = sh->next)
        if (!owner || strcmp(sh->owner, owner) == 0)
            n++;
    pthread_mutex_unlock(&m->lock);
    return n;
}

static size_t env_name_len(const char *e)
{
    const char *eq = strchr(e, '=');
    return eq ? (size_t)(eq - e) : 0;
}

/* The shell's env as one block: the pointer array, then the strings. */
static int copy_env(const char *const *env, char ***out)
{
    *out = NULL;
    if (!env || !env[0])
        return 0;
    size_t n = 0, bytes = 0;
    for (; env[n]; n++) {
        if (env_name_len(env[n]) == 0)
            return -1;
        bytes += strlen(env[n]) + 1;
    }
    char **v = malloc((n + 1) * sizeof(char *) + bytes);
    if (!v)
        return -2;
    char *p = (char *)(v + n + 1);
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(env[i]) + 1;
        memcpy(p, env[i], l);
        v[i] = p;
        p += l;
    }
    v[n] = NULL;
    *out = v;
    return 0;
}

enum wsm_err shell_create(struct shell_mgr *m, const struct shell_owner *o,
                          const struct shell_opts *opts, char id[37])
{
    if (!m || !o || !o->name || !id || o->ngroups < 0 || (o->ngroups > 0 && !o->groups))
        return WSM_ERR_INVALID_ARG;
    const char *home = o->home && o->home[0] ? o->home : "/";
    const char *wd = opts && opts->workdir && opts->workdir[0] ? opts->workdir : home;
    if (opts && opts->workdir && opts->workdir[0]) {
        /* Checked as the owner (a child that switches and tries chdir),
         * not with a stat as root: /root must look exactly like a missing
         * one. The account's own home is not checked here (it costs a
         * clone per Create): a command's chdir reports it alike. */
        struct shell_spawn_req chk;
        memset(&chk, 0, sizeof(chk));
        chk.workdir = wd;
        chk.switch_user = o->switch_user;
        chk.uid = o->uid;
        chk.gid = o->gid;
        chk.groups = o->groups;
        chk.ngroups = o->ngroups;
        enum wsm_err ce = shell__proc_check_dir(o->name, &chk);
        if (ce != WSM_OK)
            return ce;
    }

    struct shell *sh = calloc(1, sizeof(*sh));
    if (!sh)
        return WSM_ERR_NOMEM;
    int er = copy_env(opts ? opts->env : NULL, &sh->env);
    if (er == -1) {
        free(sh);
        return WSM_ERR_INVALID_ARG;
    }
    sh->owner = xstrdup(o->name);
    sh->home = xstrdup(home);
    sh->shellvar = xstrdup(o->shell && o->shell[0] ? o->shell : "/bin/sh");
    sh->workdir = xstrdup(wd);
    sh->switch_user = o->switch_user;
    sh->uid = o->uid;
    sh->gid = o->gid;
    sh->ngroups = o->ngroups;
    if (o->ngroups > 0) {
        sh->groups = malloc((size_t)o->ngroups * sizeof(gid_t));
        if (sh->groups)
            memcpy(sh->groups, o->groups, (size_t)o->ngroups * sizeof(gid_t));
    }
    if (er || !sh->owner || !sh->home || !sh->shellvar || !sh->workdir ||
        (o->ngroups > 0 && !sh->groups)) {
        shell_free(m, sh);
        return WSM_ERR_NOMEM;
    }
    long idle = opts && opts->idle_timeout_ms > 0 ? opts->idle_timeout_ms : m->lim.idle_timeout_ms;
    if (m->lim.max_idle_timeout_ms > 0 && idle > m->lim.max_idle_timeout_ms)
        idle = m->lim.max_idle_timeout_ms;
    sh->idle_ms = idle;
    wsm__uuid_str(sh->id);
    if (wsmd__cg_active()) {
        /* pids.max: MaxProcessesPerShell counts processes, as Windows'
         * does; memory: the whole shell's, as MaxMemoryPerShellMB says. */
        char rel[64];
        snprintf(rel, sizeof(rel), "shell-%s", sh->id);
        sh->cg = wsmd__cg_create(rel, m->lim.max_processes_per_shell,
                                 (unsigned long long)m->lim.max_memory_per_shell_mb << 20);
        if (!sh->cg) {
            shell_free(m, sh);
            return WSM_ERR_INTERNAL;
        }
    }

    enum wsm_err e;
    pthread_mutex_lock(&m->lock);
    unsigned n = 0;
    for (struct shell *s = m->shells; s; s = s->next)
        if (strcmp(s->owner, sh->owner) == 0)
            n++;
    if (n >= m->lim.max_shells_per_user) {
        pthread_mutex_unlock(&m->lock);
        shell_free(m, sh);
        return WSM_ERR_QUOTA;
    }
    struct budget_user *bu = shell__budget_user(&m->budget, sh->owner);
    if (bu && shell__budget_take(&m->budget, bu, SHELL_CHARGE) == 0) {
        sh->bu = bu;
    } else {
        /* Its budget is spent: no new shell before it reads. */
        e = bu ? WSM_ERR_QUOTA : WSM_ERR_NOMEM;
        shell__budget_put(&m->budget, bu);
        shell_free(m, sh);
        pthread_mutex_unlock(&m->lock);
        return e;
    }
    touch(m, sh);
    sh->next = m->shells;
    if (m->shells)
        m->shells->prev = sh;
    m->shells = sh;
    if (sh->idle_ms > 0)
        arm(m, sh->last_used + sh->idle_ms);
    memcpy(id, sh->id, 37);
    pthread_mutex_unlock(&m->lock);
    return WSM_OK;
}

enum wsm_err shell_delete(struct shell_mgr *m, const char *owner, const char *shell_id)
{
    pthread_mutex_lock(&m->lock);
    struct shell *sh = find_shell(m, owner, shell_id);
    if (!sh) {
        pthread_mutex_unlock(&m->lock);
        return WSM_ERR_NOT_FOUND;
    }
    struct cmd *sync = NULL;
    shell_teardown(m, sh, &sync);
    if (m->nfired)
        poke(m); /* the I/O thread calls the wakes */
    pthread_mutex_unlock(&m->lock);
    reap_sync(m, sync, shell_now_ms() + REAP_SYNC_MS, 1);
    return WSM_OK;
}

/* ---- commands ---- */

/* The child's environment: the defaults, then the shell's entries
 * (replacing a default of the same name). One block. */
static char **build_env(const struct shell *sh)
{
    const char *def[6][2] = {
        {"HOME", sh->home},      {"USER", sh->owner},    {"LOGNAME", sh->owner},
        {"SHELL", sh->shellvar}, {"PATH", DEFAULT_PATH}, {"LANG", "C.UTF-8"},
    };
    size_t n = 6, bytes = 0;
    for (size_t i = 0; i < 6; i++)
        bytes += strlen(def[i][0]) + strlen(def[i][1]) + 2;
    for (size_t i = 0; sh->env && sh->env[i]; i++, n++)
        bytes += strlen(sh->env[i]) + 1;
    char **v = malloc((n + 1) * sizeof(char *) + bytes);
    if (!v)
        return NULL;
    char *p = (char *)(v + n + 1);
    size_t cnt = 0;
    for (size_t i = 0; i < 6; i++) {
        size_t a = strlen(def[i][0]), b = strlen(def[i][1]);
        v[cnt++] = p;
        memcpy(p, def[i][0], a);
        p[a] = '=';
        memcpy(p + a + 1, def[i][1], b + 1);
        p += a + b + 2;
    }
    for (size_t i = 0; sh->env && sh->env[i]; i++) {
        const char *e = sh->env[i];
        size_t l = strlen(e) + 1, nl = env_name_len(e);
        memcpy(p, e, l);
        size_t j = 0;
        while (j < cnt && !(env_name_len(v[j]) == nl && memcmp(v[j], e, nl) == 0))
            j++;
        v[j] = p;
        if (j == cnt)
            cnt++;
        p += l;
    }
    v[cnt] = NULL;
    return v;
}

/* Forgets the oldest finished commands past KEEP_FINISHED. */
static void prune(struct shell_mgr *m, struct shell *sh)
{
    struct cmd *c = sh->cmds;
    while (c && sh->ncmds > KEEP_FINISHED) {
        struct cmd *nx = c->next;
        /* Done, or its Done kept for a replay nobody asked for in 64
         * commands. */
        if ((c->done_told || (c->fl_kept && c->fl_done)) && c->reaped && c->nwaiters == 0 &&
            c->out[0].fd < 0 && c->out[1].fd < 0 && c->in_fd < 0 && !c->fl_token) {
            unlink_cmd(&sh->cmds, &sh->cmds_tail, c);
            sh->ncmds--;
            cmd_free(m, c);
        }
        c = nx;
    }
}

enum wsm_err shell_command(struct shell_mgr *m, const char *owner, const char *shell_id,
                           const char *cmdline, char cmd_id[37])
{
    if (!cmdline || !cmd_id)
        return WSM_ERR_INVALID_ARG;
    struct cmd *c = calloc(1, sizeof(*c));
    if (!c)
        return WSM_ERR_NOMEM;
    c->pidfd = c->in_fd = c->out[0].fd = c->out[1].fd = -1;
    wsm__uuid_str(c->id);

    struct shell_spawn_req req;
    memset(&req, 0, sizeof(req));
    char *workdir = NULL;
    gid_t *groups = NULL;

    pthread_mutex_lock(&m->lock);
    struct shell *sh = find_shell(m, owner, shell_id);
    enum wsm_err e = WSM_OK;
    if (!sh)
        e = WSM_ERR_NOT_FOUND;
    else if (sh->cg && wsmd__cg_has_pids()
                 ? wsmd__cg_pids_full(sh->cg)
                 : sh->running + sh->spawning >= m->lim.max_processes_per_shell)
        e = WSM_ERR_QUOTA; /* processes with a pids cgroup, else commands */
    else if (shell__budget_take(&m->budget, sh->bu, CMD_CHARGE) < 0)
        e = WSM_ERR_QUOTA; /* its budget is spent: read first */
    else {
        c->bu = sh->bu; /* the charge and a reference, given back by cmd_free */
        c->bu->refs++;
    }
    int cg_fds[WSMD_CG_MAXH];
    int ncg = e ? 0 : wsmd__cg_open_procs(sh->cg, cg_fds);
    if (ncg < 0)
        e = WSM_ERR_INTERNAL;
    if (e) {
        if (sh)
            touch(m, sh);
        pthread_mutex_unlock(&m->lock);
        free(c);
        return e;
    }
    touch(m, sh);
    /* Copies: the shell may go while we spawn without the lock. */
    char **envp = build_env(sh);
    workdir = strdup(sh->workdir);
    if (sh->ngroups > 0) {
        groups = malloc((size_t)sh->ngroups * sizeof(gid_t));
        if (groups)
            memcpy(groups, sh->groups, (size_t)sh->ngroups * sizeof(gid_t));
    }
    if (!envp || !workdir || (sh->ngroups > 0 && !groups)) {
        cmd_free(m, c);
        pthread_mutex_unlock(&m->lock);
        wsmd__cg_close_fds(cg_fds, ncg);
        free(envp);
        free(workdir);
        free(groups);
        return WSM_ERR_NOMEM;
    }
    req.cmdline = cmdline;
    req.envp = envp;
    req.workdir = workdir;
    req.switch_user = sh->switch_user;
    req.uid = sh->uid;
    req.gid = sh->gid;
    req.groups = groups;
    req.ngroups = sh->ngroups;
    req.mem_limit = (unsigned long long)m->lim.max_memory_per_shell_mb << 20;
    req.pipe_size = PIPE_SIZE;
    req.cg_fds = cg_fds;
    req.ncg = ncg;
    req.cg_name = wsmd__cg_name(sh->cg);
    /* No pids cgroup: RLIMIT_NPROC is per uid (all the user's processes,
     * in every shell and outside), so only all shells' worth can be set. */
    if (!wsmd__cg_has_pids() && sh->switch_user && sh->uid != 0)
        req.nproc = (unsigned long)m->lim.max_processes_per_shell * m->lim.max_shells_per_user;
    sh->spawning++;
    pthread_mutex_unlock(&m->lock);

    struct shell_spawn_res res;
    e = shell__proc_spawn(owner, &req, &res);
    wsmd__cg_close_fds(cg_fds, ncg);
    free(envp);
    free(workdir);
    free(groups);

    pthread_mutex_lock(&m->lock);
    sh = find_shell(m, owner, shell_id);
    if (sh)
        sh->spawning--;
    if (e != WSM_OK) {
        cmd_free(m, c);
        pthread_mutex_unlock(&m->lock);
        return e;
    }
    c->pid = res.pid;
    c->pidfd = res.pidfd;
    c->in_fd = res.in_fd;
    c->out[0].fd = res.out_fd;
    c->out[1].fd = res.err_fd;
    if (!sh) {
        e = WSM_ERR_NOT_FOUND; /* deleted meanwhile */
    } else if (ep_add(m, c->out[0].fd, EPOLLIN, c, K_OUT) < 0 ||
               ep_add(m, c->out[1].fd, EPOLLIN, c, K_ERR) < 0 ||
               ep_add(m, c->pidfd, EPOLLIN, c, K_PID) < 0) {
        ep_del(m, c->out[0].fd);
        ep_del(m, c->out[1].fd);
        ep_del(m, c->pidfd);
        e = WSM_ERR_INTERNAL;
    }
    if (e != WSM_OK) {
        pthread_mutex_unlock(&m->lock);
        shell__proc_kill_reap(c->pid, c->pidfd);
        pthread_mutex_lock(&m->lock); /* cmd_free gives back its budget */
        cmd_free(m, c);
        pthread_mutex_unlock(&m->lock);
        return e;
    }
    c->pid_watched = 1;
    c->sh = sh;
    c->started = shell_now_ms();
    c->fl_seq = -1;
    c->prev = sh->cmds_tail;
    if (sh->cmds_tail)
        sh->cmds_tail->next = c;
    else
        sh->cmds = c;
    sh->cmds_tail = c;
    sh->ncmds++;
    sh->running++;
    touch(m, sh);
    memcpy(cmd_id, c->id, 37);
    prune(m, sh);
    pthread_mutex_unlock(&m->lock);
    return WSM_OK;
}

/* Finds the shell and command under the lock and marks the shell used. */
static struct cmd *lookup(struct shell_mgr *m, const char *owner, const char *shell_id,
                          const char *cmd_id)
{
    struct shell *sh = find_shell(m, owner, shell_id);
    if (!sh)
        return NULL;
    touch(m, sh);
    return find_cmd(sh, cmd_id);
}

struct cmd *shell__lookup(struct shell_mgr *m, const char *owner, const char *shell_id,
                          const char *cmd_id)
{
    return lookup(m, owner, shell_id, cmd_id);
}

enum wsm_err shell_send(struct shell_mgr *m, const char *owner, const char *shell_id,
                        const char *cmd_id, const void *data, size_t len, int end)
{
    if (len && !data)
        return WSM_ERR_INVALID_ARG;
    pthread_mutex_lock(&m->lock);
    struct cmd *c = lookup(m, owner, shell_id, cmd_id);
    enum wsm_err e = WSM_OK;
    if (!c) {
        e = WSM_ERR_NOT_FOUND;
    } else if (c->in_fd < 0 || c->in_end || c->exited) {
        /* The process is gone or its stdin is closed: discarded, as
         * Windows does. */
    } else if (len > m->lim.stream_cap - c->in.len) {
        e = WSM_ERR_QUOTA;
    } else if (len && !c->in.buf && ring_alloc(m, c, &c->in, 0) < 0) {
        e = WSM_ERR_QUOTA; /* the output budget is spent */
    } else {
        ring_put(&c->in, m->lim.stream_cap, data, len);
        if (end)
            c->in_end = 1;
        if (c->in.len == 0 && c->in_end) {
            stdin_close(m, c);
        } else if (c->in.len > 0 && !c->in_watched) {
            /* The I/O thread writes when the pipe takes it. */
            if (ep_add(m, c->in_fd, EPOLLOUT, c, K_IN) == 0)
                c->in_watched = 1;
            else
                e = WSM_ERR_INTERNAL;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return e;
}

enum wsm_err shell_signal(struct shell_mgr *m, const char *owner, const char *shell_id,
                          const char *cmd_id, enum shell_signal sig)
{
    pthread_mutex_lock(&m->lock);
    struct cmd *c = lookup(m, owner, shell_id, cmd_id);
    enum wsm_err e = WSM_OK;
    if (!c) {
        e = WSM_ERR_NOT_FOUND;
    } else if (sig != SHELL_SIG_TERMINATE && sig != SHELL_SIG_CTRL_C &&
               sig != SHELL_SIG_CTRL_BREAK) {
        e = WSM_ERR_INVALID_ARG;
    } else {
        /* A client that signals the command has seen the output it
         * wanted (winrs sends terminate after Done): a reply kept for a
         * replay is confirmed, its bytes leave the budget. */
        shell__confirm_kept(m, c);
    }
    if (!e && !c->reaped) {
        /* Not reaped: the pid still names our process group. */
        switch (sig) {
        case SHELL_SIG_TERMINATE:
            shell__proc_kill(c->pid, SIGTERM);
            stdin_close(m, c);
            if (!c->kill_at) {
                c->kill_at = shell_now_ms() + GRACE_MS;
                arm(m, c->kill_at);
            }
            break;
        case SHELL_SIG_CTRL_C:
            shell__proc_kill(c->pid, SIGINT);
            break;
        case SHELL_SIG_CTRL_BREAK:
            shell__proc_kill(c->pid, SIGQUIT);
            break;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return e;
}

enum wsm_err shell_wait(struct shell_mgr *m, const char *owner, const char *shell_id,
                        const char *cmd_id, long long deadline_ms, void (*wake)(void *), void *arg,
                        unsigned long *token)
{
    if (!wake)
        return WSM_ERR_INVALID_ARG;
    struct waiter *w = calloc(1, sizeof(*w));
    if (!w)
        return WSM_ERR_NOMEM;
    pthread_mutex_lock(&m->lock);
    struct cmd *c = lookup(m, owner, shell_id, cmd_id);
    if (!c) {
        pthread_mutex_unlock(&m->lock);
        free(w);
        return WSM_ERR_NOT_FOUND;
    }
    unsigned long tok = ++m->next_token;
    if (token)
        *token = tok;
    if (cmd_ready(c) || deadline_ms <= shell_now_ms()) {
        /* Already true: wake now, here (the token cancels nothing). */
        pthread_mutex_unlock(&m->lock);
        free(w);
        wake(arg);
        return WSM_OK;
    }
    want(m, c);
    w->c = c;
    w->token = tok;
    w->deadline = deadline_ms;
    w->wake = wake;
    w->arg = arg;
    w->next = m->waiters;
    if (m->waiters)
        m->waiters->prev = w;
    m->waiters = w;
    c->nwaiters++;
    c->sh->nwaiters++;
    arm(m, deadline_ms);
    pthread_mutex_unlock(&m->lock);
    return WSM_OK;
}

int shell_wait_cancel(struct shell_mgr *m, unsigned long token)
{
    int r = 0;
    pthread_mutex_lock(&m->lock);
    for (struct waiter *w = m->waiters; w; w = w->next) {
        if (w->token != token)
            continue;
        /* Fired but not yet called still counts as before wake ran. */
        if (w->fired)
            m->nfired--;
        else
            waiter_detach(m, w);
        waiter_unlink(m, w);
        free(w);
        r = 1;
        break;
    }
    pthread_mutex_unlock(&m->lock);
    return r;
}

void shell_mgr_set_end_hook(struct shell_mgr *m, shell_end_hook hook)
{
    pthread_mutex_lock(&m->lock);
    m->end_hook = hook;
    pthread_mutex_unlock(&m->lock);
}

void shell_mgr_set_quotas(struct shell_mgr *m, const struct shell_limits *lim)
{
    /* The quotas a new shell or command is checked against; what runs
     * keeps the limits it started with (its cgroup, its RLIMIT_AS). */
    pthread_mutex_lock(&m->lock);
    m->lim.max_shells_per_user = lim->max_shells_per_user;
    m->lim.max_processes_per_shell = lim->max_processes_per_shell;
    m->lim.idle_timeout_ms = lim->idle_timeout_ms;
    m->lim.max_memory_per_shell_mb = lim->max_memory_per_shell_mb;
    pthread_mutex_unlock(&m->lock);
}

static struct budget_user *budget_of(struct shell_mgr *m, const char *owner)
{
    for (struct budget_user *u = m->budget.users; u; u = u->next)
        if (strcmp(u->name, owner) == 0)
            return u;
    return NULL;
}

int shell_over_budget(struct shell_mgr *m, const char *owner, int stream)
{
    pthread_mutex_lock(&m->lock);
    int r = !shell__budget_room(&m->budget, owner ? budget_of(m, owner) : NULL,
                                stream ? m->lim.stream_cap : CMD_CHARGE);
    pthread_mutex_unlock(&m->lock);
    return r;
}

size_t shell_buffered(struct shell_mgr *m, const char *owner)
{
    pthread_mutex_lock(&m->lock);
    struct budget_user *u = owner ? budget_of(m, owner) : NULL;
    size_t n = owner ? (u ? u->used : 0) : m->budget.used;
    pthread_mutex_unlock(&m->lock);
    return n;
}

enum wsm_err shell_kill_owner(struct shell_mgr *m, const char *owner, unsigned *count)
{
    if (count)
        *count = 0;
    if (!m || !owner)
        return WSM_ERR_INVALID_ARG;
    unsigned n = 0;
    struct cmd *sync = NULL;
    pthread_mutex_lock(&m->lock);
    struct shell *sh = m->shells;
    while (sh) {
        struct shell *nx = sh->next;
        if (strcmp(sh->owner, owner) == 0) {
            shell_teardown(m, sh, &sync);
            n++;
        }
        sh = nx;
    }
    if (m->nfired)
        poke(m);
    pthread_mutex_unlock(&m->lock);
    /* As shell_delete: the killed children are reaped before we return. */
    reap_sync(m, sync, shell_now_ms() + REAP_SYNC_MS, 1);
    if (count)
        *count = n;
    return WSM_OK;
}
