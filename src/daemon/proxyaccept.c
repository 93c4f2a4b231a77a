/* The acceptor of a listener with ProxyProtocol (proxyproto.h).
 *
 * libmicrohttpd reads its sockets itself, and the PROXY header comes before
 * the request (and before the TLS ClientHello), so such a listener's
 * libmicrohttpd daemon has no listening socket: this thread accepts, reads
 * the header, and hands the connection over with MHD_add_connection and the
 * client's address, which is then what the connection guard, the
 * authentication throttle, the logs and the collector see.
 *
 * The header is read with MSG_PEEK and then consumed to its exact length,
 * so the client's bytes after it stay in the socket for libmicrohttpd (or
 * GnuTLS). Sockets are edge-triggered in epoll: peeked bytes stay readable,
 * and only new bytes wake the thread again. A connection has one absolute
 * deadline for its whole header (no trickle extends it), and at most
 * PENDING_MAX wait at once per listener (the oldest goes first). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cfglisten.h"
#include "cfglisten_priv.h"
#include "proxyproto.h"
#include "server.h"

#define PENDING_MAX 1024
/* The header comes in the proxy's first segment: it has no reason to be
 * slow. Shorter than HeaderTimeoutms when that is shorter. */
#define PROXY_DEADLINE_MS 5000
#define TAG_LISTEN UINT64_MAX
#define TAG_STOP (UINT64_MAX - 1)

struct pending {
    int fd;
    long long deadline;
    long long opened;
};

struct wsmd_proxy_acceptor {
    struct wsmd_listener *l;
    int lfd, ep, stopfd;
    pthread_t th;
    struct pending p[PENDING_MAX];
    size_t np;
    long long timeout_ms;
    unsigned long long bad, timed_out, evicted, handed;
    struct wsmd_lograte rate;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void peer_text(int fd, const struct sockaddr *sa, char *out, size_t n)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (!sa) {
        if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0) {
            snprintf(out, n, "-");
            return;
        }
        sa = (const struct sockaddr *)&ss;
    }
    const void *a = sa->sa_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
    if (!inet_ntop(sa->sa_family, a, out, (socklen_t)n))
        snprintf(out, n, "-");
}

static void drop(struct wsmd_proxy_acceptor *a, size_t i, const char *reason)
{
    char peer[INET6_ADDRSTRLEN];
    peer_text(a->p[i].fd, NULL, peer, sizeof(peer));
    /* Anyone can cause this at will: a few lines a second at most. */
    wsmd__log_limited(&a->rate, 10,
                      "event=proxy-refused listener=%s peer=%s reason=%s after_ms=%lld", a->l->url,
                      peer, reason, now_ms() - a->p[i].opened);
    epoll_ctl(a->ep, EPOLL_CTL_DEL, a->p[i].fd, NULL);
    close(a->p[i].fd);
    a->p[i] = a->p[--a->np];
}

/* Reads what the connection sent so far; 1 when it is done with (handed
 * over or dropped). */
static int try_header(struct wsmd_proxy_acceptor *a, size_t i)
{
    unsigned char buf[WSMD_PROXY_V2_MAX];
    int fd = a->p[i].fd;
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0) {
        a->bad++;
        drop(a, i, n == 0 ? "closed" : "error");
        return 1;
    }
    struct wsmd_proxy_hdr h;
    enum wsmd_proxy_res r = wsmd__proxy_parse(buf, (size_t)n, &h);
    if (r == WSMD_PROXY_MORE)
        return 0;
    if (r == WSMD_PROXY_BAD) {
        a->bad++;
        drop(a, i, "bad-header");
        return 1;
    }
    /* Consume exactly the header: what follows is the client's. */
    if (recv(fd, buf, h.len, 0) != (ssize_t)h.len) {
        a->bad++;
        drop(a, i, "error");
        return 1;
    }
    epoll_ctl(a->ep, EPOLL_CTL_DEL, fd, NULL);
    a->p[i] = a->p[--a->np];
    struct sockaddr_storage peer;
    socklen_t plen = sizeof(peer);
    const struct sockaddr *sa = (const struct sockaddr *)&h.src;
    socklen_t salen = h.src_len;
    if (!h.has_addr) {
        /* LOCAL (the proxy's own health check) or UNKNOWN: the peer's. */
        if (getpeername(fd, (struct sockaddr *)&peer, &plen) != 0) {
            close(fd);
            return 1;
        }
        sa = (const struct sockaddr *)&peer;
        salen = plen;
    }
    a->handed++;
    /* libmicrohttpd owns (and closes) the socket from here, whatever it
     * answers; the connection guard's admission runs there. */
    MHD_add_connection(a->l->mhd, fd, sa, salen);
    return 1;
}

static void accept_all(struct wsmd_proxy_acceptor *a)
{
    for (;;) {
        int fd = accept4(a->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return; /* EAGAIN, or out of descriptors: the next wake tries again */
        }
        if (a->np == PENDING_MAX) {
            size_t oldest = 0;
            for (size_t i = 1; i < a->np; i++)
                if (a->p[i].opened < a->p[oldest].opened)
                    oldest = i;
            a->evicted++;
            drop(a, oldest, "evicted");
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        long long t = now_ms();
        a->p[a->np] = (struct pending){fd, t + a->timeout_ms, t};
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET,
                                 .data.u64 = (uint64_t)fd};
        if (epoll_ctl(a->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            continue;
        }
        a->np++;
    }
}

static void *run(void *arg)
{
    struct wsmd_proxy_acceptor *a = arg;
    struct epoll_event evs[64];
    for (;;) {
        long long t = now_ms(), next = -1;
        for (size_t i = 0; i < a->np;) {
            if (a->p[i].deadline <= t) {
                a->timed_out++;
                drop(a, i, "timeout");
                continue;
            }
            if (next < 0 || a->p[i].deadline < next)
                next = a->p[i].deadline;
            i++;
        }
        int wait = next < 0 ? -1 : (int)(next - t);
        int n = epoll_wait(a->ep, evs, 64, wait);
        for (int k = 0; k < n; k++) {
            uint64_t tag = evs[k].data.u64;
            if (tag == TAG_STOP)
                return NULL;
            if (tag == TAG_LISTEN) {
                accept_all(a);
                continue;
            }
            for (size_t i = 0; i < a->np; i++)
                if (a->p[i].fd == (int)tag) {
                    try_header(a, i);
                    break;
                }
        }
    }
}

enum wsm_err wsmd__proxy_acceptor_start(struct wsmd_server *srv, struct wsmd_listener *l,
                                        struct wsmd_proxy_acceptor **out)
{
    struct wsmd_proxy_acceptor *a = calloc(1, sizeof(*a));
    if (!a)
        return WSM_ERR_NOMEM;
    a->l = l;
    a->lfd = l->lfd;
    a->timeout_ms = srv->cfg.header_timeout_ms > 0 && srv->cfg.header_timeout_ms < PROXY_DEADLINE_MS
                        ? srv->cfg.header_timeout_ms
                        : PROXY_DEADLINE_MS;
    pthread_mutex_init(&a->rate.lock, NULL);
    a->ep = epoll_create1(EPOLL_CLOEXEC);
    a->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int fl = fcntl(a->lfd, F_GETFL);
    struct epoll_event le = {.events = EPOLLIN, .data.u64 = TAG_LISTEN};
    struct epoll_event se = {.events = EPOLLIN, .data.u64 = TAG_STOP};
    if (a->ep < 0 || a->stopfd < 0 || fl < 0 || fcntl(a->lfd, F_SETFL, fl | O_NONBLOCK) != 0 ||
        epoll_ctl(a->ep, EPOLL_CTL_ADD, a->lfd, &le) != 0 ||
        epoll_ctl(a->ep, EPOLL_CTL_ADD, a->stopfd, &se) != 0 ||
        pthread_create(&a->th, NULL, run, a) != 0) {
        if (a->ep >= 0)
            close(a->ep);
        if (a->stopfd >= 0)
            close(a->stopfd);
        pthread_mutex_destroy(&a->rate.lock);
        free(a);
        return WSM_ERR_IO;
    }
    *out = a;
    return WSM_OK;
}

int wsmd__proxy_acceptor_stop(struct wsmd_proxy_acceptor *a)
{
    if (!a)
        return -1;
    uint64_t one = 1;
    if (write(a->stopfd, &one, sizeof(one)) != sizeof(one))
        return -1; /* cannot happen with a fresh eventfd */
    pthread_join(a->th, NULL);
    while (a->np)
        drop(a, a->np - 1, "stopping");
    int lfd = a->lfd;
    epoll_ctl(a->ep, EPOLL_CTL_DEL, lfd, NULL);
    close(a->ep);
    close(a->stopfd);
    pthread_mutex_destroy(&a->rate.lock);
    free(a);
    return lfd;
}

/* ---- the ProxyProtocol key ------------------------------------------------ */

static int bool_word(const char *v, int *out)
{
    if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1"))
        return *out = 1, 1;
    if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcmp(v, "0"))
        return *out = 0, 1;
    return 0;
}

/* Calls fn on each word of value (split on spaces and commas); stops at the
 * first 0 it returns. Returns the number of words, or -1 when one is too
 * long or fn refused one. */
static int each_word(const char *value, int (*fn)(const char *, const void *), const void *arg)
{
    int nw = 0;
    for (const char *p = value; *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, " \t,");
        if (!len)
            break;
        char w[256];
        if (len >= sizeof(w))
            return -1;
        memcpy(w, p, len);
        w[len] = '\0';
        nw++;
        if (!fn(w, arg))
            return -1;
        p += len;
    }
    return nw;
}

static int word_ok(const char *w, const void *arg)
{
    (void)arg;
    struct wsmd_listener l;
    return wsmd__cfgl_parse_listen(w, &l);
}

static int word_differs(const char *w, const void *arg)
{
    const struct wsmd_listener *l = arg;
    return !wsmd__cfgl_same_listen(w, l->url);
}

int wsmd__proxy_value_ok(const char *value)
{
    int b;
    return bool_word(value, &b) || each_word(value, word_ok, NULL) > 0;
}

int wsmd__proxy_enabled(const char *value, const struct wsmd_listener *l)
{
    int b;
    if (!value || l->metrics)
        return 0;
    if (bool_word(value, &b))
        return b;
    /* A word that names l stops the walk: -1. */
    return each_word(value, word_differs, l) < 0;
}
