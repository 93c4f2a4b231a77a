/* A small HTTP/1.1 client for http:// and https://: one POST at a time on
 * a persistent connection. Everything the server sends is bounded: the
 * head (WSM_HTTP_MAX_HEAD bytes, WSM_HTTP_MAX_HEADERS lines), the body
 * (the caller's buffer cap), chunk-size lines and trailers. https:// is the
 * same code over a GnuTLS session (tls.c): only the socket reads and
 * writes, the idle check and connecting differ. Why this exists instead
 * of libcurl: docs/internals/client-transport.md.
 *
 * This file: connections (TCP, TLS), sending, and one exchange; URLs
 * and reading a response are in httpread.c.
 */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The most plain text in one TLS record. */
#define TLS_RECORD 16384

void wsm__http_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- connections ------------------------------------------------------- */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on the connection's socket until its deadline. */
static enum wsm_err wait_fd(struct wsm_http_conn *c, short events, long long deadline,
                            const char *what, char *err, size_t errlen)
{
    for (;;) {
        if (__atomic_load_n(&c->aborted, __ATOMIC_ACQUIRE)) {
            wsm__http_seterr(err, errlen, "aborted");
            return WSM_ERR_HTTP;
        }
        long long left = deadline - now_ms();
        if (left <= 0) {
            wsm__http_seterr(err, errlen, "timed out %s", what);
            return WSM_ERR_HTTP;
        }
        struct pollfd p = {.fd = c->fd, .events = events};
        int k = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (k > 0)
            return WSM_OK;
        if (k < 0 && errno != EINTR) {
            wsm__http_seterr(err, errlen, "poll: %s", strerror(errno));
            return WSM_ERR_HTTP;
        }
    }
}

static int aborted(struct wsm_http_conn *c)
{
    return __atomic_load_n(&c->aborted, __ATOMIC_ACQUIRE);
}

/* Waits as a TLS call asked (WSM_TLS_WANT_*), or passes its error on. */
static enum wsm_err tls_wait(struct wsm_http_conn *c, int k, long long deadline, const char *what,
                             char *err, size_t errlen)
{
    if (k != WSM_TLS_WANT_READ && k != WSM_TLS_WANT_WRITE) {
        if (aborted(c)) {
            wsm__http_seterr(err, errlen, "aborted");
            return WSM_ERR_HTTP;
        }
        return (enum wsm_err)k;
    }
    return wait_fd(c, k == WSM_TLS_WANT_WRITE ? POLLOUT : POLLIN, deadline, what, err, errlen);
}

/* The TLS source: records as they come; the end of the stream as for a
 * socket (close_notify or not: the framing tells; r->unclean says which). */
static enum wsm_err tls_src(struct wsm_http_conn *c, char *p, size_t n, size_t *got, char *err,
                            size_t errlen)
{
    for (;;) {
        int unclean = 0;
        int k = wsm__tls_recv(c->tls, p, n, got, &unclean, err, errlen);
        if (k == WSM_OK) {
            if (*got == 0 && aborted(c)) {
                wsm__http_seterr(err, errlen, "aborted");
                return WSM_ERR_HTTP;
            }
            if (*got == 0)
                c->rd.unclean = unclean;
            return WSM_OK;
        }
        enum wsm_err e = tls_wait(c, k, c->deadline_ms, "waiting for the reply", err, errlen);
        if (e)
            return e;
    }
}

/* The socket source: non-blocking recv, poll when there is nothing yet. */
static enum wsm_err sock_src(void *ud, char *p, size_t n, size_t *got, char *err, size_t errlen)
{
    struct wsm_http_conn *c = ud;
    if (c->tls)
        return tls_src(c, p, n, got, err, errlen);
    for (;;) {
        ssize_t k = recv(c->fd, p, n, 0);
        if (k >= 0) {
            *got = (size_t)k;
            if (k == 0 && __atomic_load_n(&c->aborted, __ATOMIC_ACQUIRE)) {
                wsm__http_seterr(err, errlen, "aborted");
                return WSM_ERR_HTTP;
            }
            return WSM_OK;
        }
        if (errno == EINTR)
            continue;
        if (errno == ECONNRESET) {
            *got = 0; /* as the end of the stream: the caller says what it means */
            return WSM_OK;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            wsm__http_seterr(err, errlen, "recv: %s", strerror(errno));
            return WSM_ERR_HTTP;
        }
        enum wsm_err e = wait_fd(c, POLLIN, c->deadline_ms, "waiting for the reply", err, errlen);
        if (e)
            return e;
    }
}

void wsm__http_conn_init(struct wsm_http_conn *c, const struct wsm_http_target *t)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    c->t = t;
    c->fd = -1;
    c->rd.src = sock_src;
    c->rd.ud = c;
}

static void drop(struct wsm_http_conn *c)
{
    /* close_notify if it goes out at once; not after an abort. */
    wsm__tls_free(c->tls, aborted(c));
    c->tls = NULL;
    if (c->fd >= 0) {
        /* Under the lock: wsm__http_conn_abort must never shut down a
         * descriptor number that has meanwhile been reused. */
        pthread_mutex_lock(&c->mu);
        close(c->fd);
        c->fd = -1;
        pthread_mutex_unlock(&c->mu);
    }
    c->served = 0;
    c->rd.off = c->rd.len = 0;
}

void wsm__http_conn_close(struct wsm_http_conn *c)
{
    if (!c)
        return;
    drop(c);
    free(c->rd.buf);
    c->rd.buf = NULL;
    free(c->wbuf);
    c->wbuf = NULL;
    pthread_mutex_destroy(&c->mu);
}

void wsm__http_conn_idle(struct wsm_http_conn *c)
{
    /* Bytes after the last response mark the connection stale (stale()):
     * they stay for that check. */
    if (!c || c->rd.off != c->rd.len)
        return;
    free(c->rd.buf);
    c->rd.buf = NULL;
    c->rd.off = c->rd.len = 0;
    free(c->wbuf);
    c->wbuf = NULL;
}

void wsm__http_conn_abort(struct wsm_http_conn *c)
{
    pthread_mutex_lock(&c->mu);
    __atomic_store_n(&c->aborted, 1, __ATOMIC_SEQ_CST);
    if (c->fd >= 0)
        shutdown(c->fd, SHUT_RDWR);
    pthread_mutex_unlock(&c->mu);
}

static enum wsm_err try_connect(struct wsm_http_conn *c, const struct addrinfo *ai,
                                long long deadline, char *err, size_t errlen)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        wsm__http_seterr(err, errlen, "socket: %s", strerror(errno));
        return WSM_ERR_HTTP;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    pthread_mutex_lock(&c->mu);
    c->fd = fd;
    int aborted = __atomic_load_n(&c->aborted, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&c->mu);
    if (aborted) {
        drop(c);
        wsm__http_seterr(err, errlen, "aborted");
        return WSM_ERR_HTTP;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS && errno != EINTR) {
            wsm__http_seterr(err, errlen, "cannot connect to %s port %s: %s", c->t->host,
                             c->t->port, strerror(errno));
            drop(c);
            return WSM_ERR_HTTP;
        }
        enum wsm_err e = wait_fd(c, POLLOUT, deadline, "connecting", err, errlen);
        int so = 0;
        socklen_t sl = sizeof(so);
        if (!e && getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) == 0 && so != 0) {
            wsm__http_seterr(err, errlen, "cannot connect to %s port %s: %s", c->t->host,
                             c->t->port, strerror(so));
            e = WSM_ERR_HTTP;
        }
        if (e) {
            drop(c);
            return e;
        }
    }
    c->gen++;
    return WSM_OK;
}

static enum wsm_err do_connect(struct wsm_http_conn *c, long long deadline, char *err,
                               size_t errlen)
{
    /* A numeric address needs no resolver: getaddrinfo costs tens of
     * microseconds even then, which a one-command winrs notices. */
    struct sockaddr_in in4 = {.sin_family = AF_INET};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    uint16_t port = htons((uint16_t)strtoul(c->t->port, NULL, 10));
    struct addrinfo num = {.ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP};
    if (inet_pton(AF_INET, c->t->host, &in4.sin_addr) == 1) {
        in4.sin_port = port;
        num.ai_family = AF_INET;
        num.ai_addr = (struct sockaddr *)&in4;
        num.ai_addrlen = sizeof(in4);
        return try_connect(c, &num, deadline, err, errlen);
    }
    if (inet_pton(AF_INET6, c->t->host, &in6.sin6_addr) == 1) {
        in6.sin6_port = port;
        num.ai_family = AF_INET6;
        num.ai_addr = (struct sockaddr *)&in6;
        num.ai_addrlen = sizeof(in6);
        return try_connect(c, &num, deadline, err, errlen);
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(c->t->host, c->t->port, &hints, &res);
    if (rc != 0) {
        wsm__http_seterr(err, errlen, "cannot resolve %s: %s", c->t->host,
                         rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return WSM_ERR_HTTP;
    }
    enum wsm_err e = WSM_ERR_HTTP;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        e = try_connect(c, ai, deadline, err, errlen);
        if (!e || __atomic_load_n(&c->aborted, __ATOMIC_SEQ_CST) || now_ms() >= deadline)
            break;
    }
    freeaddrinfo(res);
    return e;
}

/* Writes all of iov (n entries, modified) through TLS: a record at most
 * per call, the same bytes again after a wait. */
static enum wsm_err tls_send_all(struct wsm_http_conn *c, struct iovec *iov, int n, size_t *sent,
                                 char *err, size_t errlen)
{
    for (; n > 0; iov++, n--) {
        const char *p = iov->iov_base;
        size_t left = iov->iov_len;
        while (left > 0) {
            size_t k = 0;
            int r = wsm__tls_send(c->tls, p, left, &k, err, errlen);
            if (r == WSM_OK) {
                p += k;
                left -= k;
                *sent += k;
                continue;
            }
            enum wsm_err e = tls_wait(c, r, c->deadline_ms, "sending the request", err, errlen);
            if (e)
                return e;
        }
    }
    return WSM_OK;
}

/* Writes all of iov (n entries, modified). *sent counts the bytes. */
static enum wsm_err send_all(struct wsm_http_conn *c, struct iovec *iov, int n, size_t *sent,
                             char *err, size_t errlen)
{
    if (c->tls)
        return tls_send_all(c, iov, n, sent, err, errlen);
    while (n > 0) {
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t k = sendmsg(c->fd, &m, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                enum wsm_err e =
                    wait_fd(c, POLLOUT, c->deadline_ms, "sending the request", err, errlen);
                if (e)
                    return e;
                continue;
            }
            wsm__http_seterr(err, errlen, "send: %s", strerror(errno));
            return WSM_ERR_HTTP;
        }
        *sent += (size_t)k;
        size_t left = (size_t)k;
        while (n > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return WSM_OK;
}

/* A kept-alive connection the server has closed (or written to, which it
 * has no reason to) while idle: readable before we sent anything. */
static int stale(struct wsm_http_conn *c)
{
    if (c->rd.off != c->rd.len)
        return 1;
    /* Over TLS, what arrived may only be handshake messages (a session
     * ticket, a key update): tls.c reads them and looks again. */
    if (c->tls)
        return !wsm__tls_idle_ok(c->tls);
    struct pollfd p = {.fd = c->fd, .events = POLLIN | POLLRDHUP};
    return poll(&p, 1, 0) != 0;
}

/* TCP, then the TLS handshake for https (within the connect deadline). */
static enum wsm_err open_conn(struct wsm_http_conn *c, long long cdeadline, char *err,
                              size_t errlen)
{
    enum wsm_err e = do_connect(c, cdeadline, err, errlen);
    if (e || !c->tls_cfg)
        return e;
    char err2[400];
    e = wsm__tls_new(c->tls_cfg, c->fd, c->t->host, &c->tls, err, errlen);
    while (!e) {
        int k = wsm__tls_handshake(c->tls, err2, sizeof(err2));
        if (k == WSM_OK)
            return WSM_OK;
        e = tls_wait(c, k, cdeadline, "in the TLS handshake", err, errlen);
        if (e == (enum wsm_err)k && !aborted(c))
            wsm__http_seterr(err, errlen, "%s:%s: %s", c->t->host, c->t->port, err2);
    }
    drop(c);
    return e;
}

/* The request with its head built: connect if need be, send, read. */
static enum wsm_err exchange(struct wsm_http_conn *c, const struct wsm_http_request *rq, char *head,
                             size_t headlen, struct wsm_buf *body, long *status, char *err,
                             size_t errlen)
{
    long long t0 = now_ms();
    c->deadline_ms = t0 + (rq->timeout_ms > 0 ? rq->timeout_ms : 60000);
    long ct = rq->connect_timeout_ms > 0 ? rq->connect_timeout_ms : rq->timeout_ms;
    long long cdeadline = ct > 0 && t0 + ct < c->deadline_ms ? t0 + ct : c->deadline_ms;

    for (int attempt = 0;; attempt++) {
        if (__atomic_load_n(&c->aborted, __ATOMIC_SEQ_CST)) {
            wsm__http_seterr(err, errlen, "aborted");
            return WSM_ERR_HTTP;
        }
        if (c->fd >= 0 && stale(c))
            drop(c);
        if (rq->bound_gen && (c->fd < 0 || c->gen != rq->bound_gen)) {
            c->lost = 1;
            wsm__http_seterr(err, errlen, "the authenticated connection was closed");
            return WSM_ERR_HTTP;
        }
        int reused = c->fd >= 0;
        enum wsm_err e = WSM_OK;
        if (!reused && (e = open_conn(c, cdeadline, err, errlen)))
            return e;
        c->rd.off = c->rd.len = c->rd.total = 0;
        c->rd.unclean = 0;
        struct iovec iov[2] = {{head, headlen}, {(void *)rq->body, rq->len}};
        int niov = rq->len ? 2 : 1;
        if (c->tls && niov == 2 && headlen < TLS_RECORD) {
            /* The head and the start of the body in one record. */
            if (!c->wbuf && !(c->wbuf = malloc(TLS_RECORD)))
                return WSM_ERR_NOMEM;
            size_t k = rq->len < TLS_RECORD - headlen ? rq->len : TLS_RECORD - headlen;
            memcpy(c->wbuf, head, headlen);
            memcpy(c->wbuf + headlen, rq->body, k);
            iov[0] = (struct iovec){c->wbuf, headlen + k};
            iov[1] = (struct iovec){(char *)rq->body + k, rq->len - k};
            niov = rq->len > k ? 2 : 1;
        }
        size_t sent = 0;
        e = send_all(c, iov, niov, &sent, err, errlen);
        struct wsm_http_result res = {.hdrs = rq->headers_out};
        if (!e || sent > 0) {
            /* After a failed send the server may still have answered
             * (an early 401 or 413, say): read what it said. */
            char err2[256];
            enum wsm_err e2 = wsm__http_read_response(&c->rd, body, &res, e ? err2 : err,
                                                      e ? sizeof(err2) : errlen);
            if (!e || !e2)
                e = e2;
        }
        if (!e) {
            *status = res.status;
            c->served++;
            if (!res.keep_alive)
                drop(c);
            return WSM_OK;
        }
        /* A reused connection that ends before the first byte of the reply
         * was most likely closed by the server just as we sent: the request
         * was not seen. Once more on a fresh connection (as curl does). */
        int retry = reused && attempt == 0 && c->rd.total == 0 &&
                    !__atomic_load_n(&c->aborted, __ATOMIC_SEQ_CST) && now_ms() < c->deadline_ms;
        drop(c);
        if (retry && rq->bound_gen) {
            /* Not on another connection: the caller authenticates anew. */
            c->lost = 1;
            return e;
        }
        if (!retry)
            return e;
        wsm__buf_reset(body);
    }
}

enum wsm_err wsm__http_connect(struct wsm_http_conn *c, long connect_timeout_ms, char *err,
                               size_t errlen)
{
    if (aborted(c)) {
        wsm__http_seterr(err, errlen, "aborted");
        return WSM_ERR_HTTP;
    }
    if (c->fd >= 0 && stale(c))
        drop(c);
    if (c->fd >= 0)
        return WSM_OK;
    long long t0 = now_ms();
    c->deadline_ms = t0 + (connect_timeout_ms > 0 ? connect_timeout_ms : 60000);
    return open_conn(c, c->deadline_ms, err, errlen);
}

enum wsm_err wsm__http_post(struct wsm_http_conn *c, const struct wsm_http_request *rq,
                            struct wsm_buf *body, long *status, char *err, size_t errlen)
{
    char stack_head[2048];
    *status = 0;
    c->lost = 0;
    if (!c->rd.buf && !(c->rd.buf = malloc(WSM_HTTP_MAX_HEAD)))
        return WSM_ERR_NOMEM;
    const char *extra = rq->headers ? rq->headers : "";
    size_t xn = strlen(extra);
    size_t hcap = strlen(c->t->path) + strlen(c->t->hostport) + xn +
                  (rq->content_type ? strlen(rq->content_type) : 0) + 200;
    char *head = hcap <= sizeof(stack_head) ? stack_head : malloc(hcap);
    if (!head)
        return WSM_ERR_NOMEM;
    int hn = snprintf(head, hcap,
                      "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: Microsoft WinRM Client\r\n"
                      "Content-Type: %s\r\n"
                      "Content-Length: %zu\r\n",
                      c->t->path, c->t->hostport,
                      rq->content_type ? rq->content_type : "application/soap+xml;charset=UTF-8",
                      rq->len);
    enum wsm_err e = WSM_ERR_INTERNAL; /* (hcap always has room) */
    if (hn > 0 && (size_t)hn + xn + 2 < hcap) {
        memcpy(head + hn, extra, xn);
        memcpy(head + (size_t)hn + xn, "\r\n", 2);
        e = exchange(c, rq, head, (size_t)hn + xn + 2, body, status, err, errlen);
    }
    if (head != stack_head)
        free(head);
    return e;
}
