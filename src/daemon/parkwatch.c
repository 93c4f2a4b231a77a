/* The client-gone watcher of parked requests (see parkwatch.h).
 *
 * One thread, one epoll set holding the socket of each parked request
 * with EPOLLRDHUP (the peer's FIN) besides the implied EPOLLHUP/EPOLLERR
 * (a reset), but not EPOLLIN: a client may legitimately have sent more
 * (a pipelined request, a TLS record) and that must not end its poll.
 * Edge-triggered, so a socket that stays half-closed reports once. The
 * epoll data is the request's id, not a pointer: the request may be gone
 * by the time an event is handled, and its fd reused by another
 * connection; the callee finds live requests by id. */
#include "parkwatch.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* How often pending drains are looked at. The reader who cares sooner
 * (the command's next Receive) probes at once. */
#define DRAIN_TICK_MS 5

struct wsmd_drain {
    struct wsmd_drain *next;
    int fd; /* our dup of the connection's socket */
    long long deadline;
    int verdict; /* 1 delivered, -1 not */
    void (*settle)(void *arg, int delivered);
    void *arg;
};

struct wsmd_parkwatch {
    int ep, stopfd;
    pthread_t thr;
    void (*gone)(void *ctx, uint64_t id);
    void *ctx;
    pthread_mutex_t lock; /* drains */
    struct wsmd_drain *drains;
    int stopping;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "Acknowledged" is an empty send queue on a connection that is not
 * closed: after a reset the kernel empties the queue, so a closed socket
 * counts as not delivered (at worst the client gets those bytes twice). */
static int fd_drained(int fd)
{
    struct tcp_info ti;
    socklen_t l = sizeof(ti);
    int q = 0;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0 || ti.tcpi_state == TCP_CLOSE)
        return -1;
    if (ioctl(fd, SIOCOUTQ, &q) < 0)
        return -1;
    return q == 0 ? 1 : 0;
}

/* Asked by the command's next Receive: the client that sends it has read
 * the previous reply if all of it left this host (clients send the next
 * Receive once a reply is in; winrs may send it on its other connection
 * before its kernel's delayed ACK of the last segment). Not so if the
 * connection was reset or bytes are still unsent (the client stopped
 * reading): then the output goes again. */
int wsmd__drain_probe(void *d)
{
    int fd = ((struct wsmd_drain *)d)->fd;
    int st = fd_drained(fd);
    if (st != 0)
        return st;
    int unsent = 0;
    if (ioctl(fd, SIOCOUTQNSD, &unsent) < 0)
        return -1;
    return unsent == 0 ? 1 : -1;
}

struct wsmd_drain *wsmd__drain_new(int fd, void (*settle)(void *arg, int delivered), void *arg)
{
    if (fd_drained(fd) != 0)
        return NULL; /* already known: settle now */
    struct wsmd_drain *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (d->fd < 0) {
        free(d);
        return NULL;
    }
    d->deadline = now_ms() + WSMD_DRAIN_MS;
    d->settle = settle;
    d->arg = arg;
    return d;
}

void wsmd__parkwatch_drain(struct wsmd_parkwatch *w, struct wsmd_drain *d)
{
    pthread_mutex_lock(&w->lock);
    int first = !w->drains;
    d->next = w->drains;
    w->drains = d;
    pthread_mutex_unlock(&w->lock);
    if (first) {
        /* The thread may sleep without a timeout: it must start ticking. */
        uint64_t one = 1;
        ssize_t n = write(w->stopfd, &one, sizeof(one));
        (void)n;
    }
}

/* Settles the drains that are decided (all of them when stopping). */
static void drains_tick(struct wsmd_parkwatch *w, int all)
{
    struct wsmd_drain *done = NULL;
    long long now = now_ms();
    pthread_mutex_lock(&w->lock);
    struct wsmd_drain **p = &w->drains;
    while (*p) {
        struct wsmd_drain *d = *p;
        int st = all ? -1 : fd_drained(d->fd);
        if (st == 0 && now >= d->deadline)
            st = -1;
        if (st == 0) {
            p = &d->next;
            continue;
        }
        *p = d->next;
        d->next = done;
        d->verdict = st;
        done = d;
    }
    pthread_mutex_unlock(&w->lock);
    while (done) {
        struct wsmd_drain *d = done;
        done = d->next;
        d->settle(d->arg, d->verdict > 0);
        close(d->fd);
        free(d);
    }
}

#define STOP_ID UINT64_MAX

static void *watch_main(void *arg)
{
    struct wsmd_parkwatch *w = arg;
    struct epoll_event evs[64];
    for (;;) {
        pthread_mutex_lock(&w->lock);
        int timeout = w->drains ? DRAIN_TICK_MS : -1;
        pthread_mutex_unlock(&w->lock);
        int n = epoll_wait(w->ep, evs, 64, timeout);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == STOP_ID) {
                uint64_t v;
                ssize_t r = read(w->stopfd, &v, sizeof(v));
                (void)r;
                if (__atomic_load_n(&w->stopping, __ATOMIC_ACQUIRE))
                    return NULL;
                continue; /* a first drain: tick from now on */
            }
            w->gone(w->ctx, evs[i].data.u64);
        }
        drains_tick(w, 0);
    }
}

enum wsm_err wsmd__parkwatch_start(void (*gone)(void *ctx, uint64_t id), void *ctx,
                                   struct wsmd_parkwatch **out)
{
    *out = NULL;
    struct wsmd_parkwatch *w = calloc(1, sizeof(*w));
    if (!w)
        return WSM_ERR_NOMEM;
    w->gone = gone;
    w->ctx = ctx;
    pthread_mutex_init(&w->lock, NULL);
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    w->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.u64 = STOP_ID;
    if (w->ep < 0 || w->stopfd < 0 || epoll_ctl(w->ep, EPOLL_CTL_ADD, w->stopfd, &ev) < 0)
        goto fail;
    /* No signal lands on this thread (the daemon waits for them in main). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&w->thr, NULL, watch_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        goto fail;
    *out = w;
    return WSM_OK;
fail:
    if (w->ep >= 0)
        close(w->ep);
    if (w->stopfd >= 0)
        close(w->stopfd);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return WSM_ERR_INTERNAL;
}

int wsmd__parkwatch_add(struct wsmd_parkwatch *w, int fd, uint64_t id)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLRDHUP | EPOLLET;
    ev.data.u64 = id;
    return epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev);
}

void wsmd__parkwatch_del(struct wsmd_parkwatch *w, int fd)
{
    epoll_ctl(w->ep, EPOLL_CTL_DEL, fd, NULL);
}

void wsmd__parkwatch_stop(struct wsmd_parkwatch *w)
{
    if (!w)
        return;
    __atomic_store_n(&w->stopping, 1, __ATOMIC_RELEASE);
    uint64_t one = 1;
    ssize_t n = write(w->stopfd, &one, sizeof(one));
    (void)n;
    pthread_join(w->thr, NULL);
    drains_tick(w, 1);
    close(w->ep);
    close(w->stopfd);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
