/* The waiter thread of parked Pulls (evpull.c's opening comment says
 * why a waiting Pull holds no thread): the waits, one per parked request,
 * named by a token and by their subscription's context; the thread that
 * watches their journal descriptors and deadlines with epoll and resumes
 * the requests, and sweeps expired subscriptions. Separate from evpull.c
 * (what a Pull answers) because it knows nothing of the protocol: only
 * descriptors, deadlines and the HTTP layer's park/unpark. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "evpull_priv.h"
#include "evsub.h"

#define REAP_MS 10000 /* a fired wait nobody claimed: its request went away */
#define SWEEP_MS 1000 /* expired subscriptions are looked for this often */

enum { W_PREPARED, W_WAITING, W_FIRED, W_CANCELLED };

struct pwait {
    unsigned long token;
    int fd; /* a dup of the reader's descriptor, or -1 (a timer only) */
    int state;
    long long deadline; /* CLOCK_MONOTONIC ms */
    long long done;     /* when it fired or was cancelled */
    char ctx[WSM_UUID_STRLEN];
    wsmd_wake_fn wake;
    void *arg;
    struct pwait *next;
};

static pthread_mutex_t wlock = PTHREAD_MUTEX_INITIALIZER;
static struct pwait *waits;
static unsigned long next_token;
static int epfd = -1, evfd = -1;
static pthread_t thread;
static int running, stopping;

long long wsmd__evpull_mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void poke(void)
{
    uint64_t one = 1;
    if (evfd >= 0 && write(evfd, &one, sizeof(one)) < 0) {
        /* The counter is non-zero already: the thread will look. */
    }
}

/* Called with wlock: the wait leaves epoll and its descriptor is closed. */
static void settle_wait(struct pwait *w, int state, long long now)
{
    if (w->fd >= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, w->fd, NULL);
        close(w->fd);
        w->fd = -1;
    }
    w->state = state;
    w->done = now;
}

static void unlink_wait(struct pwait *w)
{
    for (struct pwait **p = &waits; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            return;
        }
}

/* The woken, to be called outside wlock (MHD_resume_connection). */
struct woken {
    wsmd_wake_fn wake;
    void *arg;
};

static void *waiter(void *unused)
{
    (void)unused;
    struct epoll_event ev[64];
    struct woken wk[64];
    long long sweep = wsmd__evpull_mono_ms() + SWEEP_MS;
    for (;;) {
        long long now = wsmd__evpull_mono_ms(), next = now + REAP_MS;
        if (now >= sweep) {
            wsmd__evs_sweep(); /* not under wlock: it ends waits */
            sweep = now + SWEEP_MS;
        }
        if (sweep < next)
            next = sweep;
        pthread_mutex_lock(&wlock);
        if (stopping) {
            pthread_mutex_unlock(&wlock);
            break;
        }
        for (struct pwait *w = waits; w; w = w->next)
            if (w->state == W_WAITING && w->deadline < next)
                next = w->deadline;
        pthread_mutex_unlock(&wlock);
        int timeout = next > now ? (int)(next - now) : 0;
        int n = epoll_wait(epfd, ev, 64, timeout);
        if (n < 0 && errno != EINTR)
            break;
        now = wsmd__evpull_mono_ms();
        size_t nw = 0;
        pthread_mutex_lock(&wlock);
        for (int i = 0; i < n; i++) {
            if (ev[i].data.u64 == 0) {
                uint64_t v;
                if (read(evfd, &v, sizeof(v)) < 0) {
                    /* Nothing to read: a spurious wake-up. */
                }
                continue;
            }
            for (struct pwait *w = waits; w; w = w->next)
                if (w->token == ev[i].data.u64 && w->state == W_WAITING) {
                    settle_wait(w, W_FIRED, now);
                    if (nw < 64)
                        wk[nw++] = (struct woken){w->wake, w->arg};
                    break;
                }
        }
        for (struct pwait **p = &waits; *p;) {
            struct pwait *w = *p;
            if (w->state == W_WAITING && w->deadline <= now && nw < 64) {
                settle_wait(w, W_FIRED, now);
                wk[nw++] = (struct woken){w->wake, w->arg};
            }
            /* Fired or cancelled and never claimed: its request went away
             * (the HTTP layer closes a hung-up poll without running it). */
            if (w->state != W_WAITING && w->done + REAP_MS <= now) {
                *p = w->next;
                if (w->fd >= 0)
                    close(w->fd);
                free(w);
                continue;
            }
            p = &w->next;
        }
        pthread_mutex_unlock(&wlock);
        for (size_t i = 0; i < nw; i++)
            wk[i].wake(wk[i].arg);
    }
    return NULL;
}

static int start_thread(void)
{
    /* Called with wlock held. */
    if (running)
        return 0;
    epfd = epoll_create1(EPOLL_CLOEXEC);
    evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = 0};
    if (epfd < 0 || evfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, evfd, &e) != 0 ||
        pthread_create(&thread, NULL, waiter, NULL) != 0) {
        if (epfd >= 0)
            close(epfd);
        if (evfd >= 0)
            close(evfd);
        epfd = evfd = -1;
        return -1;
    }
    running = 1;
    stopping = 0;
    return 0;
}

void wsmd__evpull_start(void)
{
    pthread_mutex_lock(&wlock);
    if (!stopping)
        start_thread();
    pthread_mutex_unlock(&wlock);
}

void wsmd__evpull_stop(void)
{
    pthread_mutex_lock(&wlock);
    int was = running;
    stopping = 1;
    poke();
    pthread_mutex_unlock(&wlock);
    if (was)
        pthread_join(thread, NULL);
    pthread_mutex_lock(&wlock);
    while (waits) {
        struct pwait *w = waits;
        waits = w->next;
        if (w->fd >= 0)
            close(w->fd);
        free(w);
    }
    if (epfd >= 0)
        close(epfd);
    if (evfd >= 0)
        close(evfd);
    epfd = evfd = -1;
    running = 0;
    stopping = 0;
    pthread_mutex_unlock(&wlock);
}

void wsmd__evpull_end(const char *ctx)
{
    struct woken wk[64];
    size_t nw = 0;
    long long now = wsmd__evpull_mono_ms();
    pthread_mutex_lock(&wlock);
    for (struct pwait *w = waits; w; w = w->next)
        if (w->state == W_WAITING && !strcmp(w->ctx, ctx) && nw < 64) {
            settle_wait(w, W_FIRED, now);
            wk[nw++] = (struct woken){w->wake, w->arg};
        }
    pthread_mutex_unlock(&wlock);
    for (size_t i = 0; i < nw; i++)
        wk[i].wake(wk[i].arg);
}

/* A wait for ctx until deadline (and for fd to be readable, fd >= 0; the
 * wait owns it), armed by park: its token, or 0. */
static unsigned long wait_new(const char *ctx, int fd, long long deadline)
{
    struct pwait *w = calloc(1, sizeof(*w));
    pthread_mutex_lock(&wlock);
    if (!w || start_thread() != 0) {
        pthread_mutex_unlock(&wlock);
        free(w);
        if (fd >= 0)
            close(fd);
        return 0;
    }
    w->token = ++next_token;
    w->fd = fd;
    w->deadline = deadline;
    w->state = W_PREPARED;
    w->done = wsmd__evpull_mono_ms();
    snprintf(w->ctx, sizeof(w->ctx), "%s", ctx);
    w->next = waits;
    waits = w;
    pthread_mutex_unlock(&wlock);
    return w->token;
}

static enum wsm_err pull_park(struct wsmd_call *call, wsmd_wake_fn wake, void *arg,
                              unsigned long *token)
{
    unsigned long tok = (unsigned long)(uintptr_t)call->resume_ctx;
    enum wsm_err e = WSM_ERR_NOT_FOUND;
    pthread_mutex_lock(&wlock);
    for (struct pwait *w = waits; w; w = w->next) {
        if (w->token != tok || w->state != W_PREPARED)
            continue;
        w->wake = wake;
        w->arg = arg;
        w->state = W_WAITING;
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tok};
        if (w->fd >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, w->fd, &ev) != 0) {
            close(w->fd); /* the deadline still ends the wait */
            w->fd = -1;
        }
        *token = tok;
        e = WSM_OK;
        break;
    }
    poke(); /* a new deadline */
    pthread_mutex_unlock(&wlock);
    return e;
}

static int pull_unpark(struct wsmd_server *srv, unsigned long token)
{
    (void)srv;
    int cancelled = 0;
    pthread_mutex_lock(&wlock);
    for (struct pwait *w = waits; w; w = w->next)
        if (w->token == token) {
            if (w->state == W_WAITING) {
                settle_wait(w, W_CANCELLED, wsmd__evpull_mono_ms());
                cancelled = 1;
            }
            break;
        }
    pthread_mutex_unlock(&wlock);
    return cancelled;
}

/* The resumed run takes its wait back (freed). */
void wsmd__evpull_claim(unsigned long token)
{
    pthread_mutex_lock(&wlock);
    for (struct pwait *w = waits; w; w = w->next)
        if (w->token == token) {
            if (w->state == W_WAITING)
                settle_wait(w, W_CANCELLED, wsmd__evpull_mono_ms());
            unlink_wait(w);
            if (w->fd >= 0)
                close(w->fd);
            free(w);
            break;
        }
    pthread_mutex_unlock(&wlock);
}

/* Parks the request until fd is readable (fd >= 0, which it owns) or
 * until deadline. */
enum wsm_err wsmd__evpull_park_until(struct wsmd_call *call, const char *ctx, int fd,
                                     long long deadline)
{
    unsigned long tok = wait_new(ctx, fd, deadline);
    if (!tok)
        return WSM_ERR_NOMEM;
    call->resume_ctx = (void *)(uintptr_t)tok;
    call->park = pull_park;
    call->unpark = pull_unpark;
    return WSM_OK;
}
