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

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct wsmd_parkwatch {
    int ep, stopfd;
    pthread_t thr;
    void (*gone)(void *ctx, uint64_t id);
    void *ctx;
};

#define STOP_ID UINT64_MAX

static void *watch_main(void *arg)
{
    struct wsmd_parkwatch *w = arg;
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(w->ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == STOP_ID)
                return NULL;
            w->gone(w->ctx, evs[i].data.u64);
        }
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
    uint64_t one = 1;
    ssize_t n = write(w->stopfd, &one, sizeof(one));
    (void)n;
    pthread_join(w->thr, NULL);
    close(w->ep);
    close(w->stopfd);
    free(w);
}
