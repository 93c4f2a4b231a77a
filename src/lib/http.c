/* A small HTTP/1.1 client for http:// and https://: one POST at a time on
 * a persistent connection. Everything the server sends is bounded: the
 * head (WSM_HTTP_MAX_HEAD bytes, WSM_HTTP_MAX_HEADERS lines), the body
 * (the caller's buffer cap), chunk-size lines and trailers. https:// is the
 * same code over a GnuTLS session (tls.c): only the socket reads and
 * writes, the idle check and connecting differ. Why this exists instead
 * of libcurl: docs/internals/client-transport.md.
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

/* Longest chunk-size line (with extensions) of a chunked body. */
#define MAX_CHUNK_LINE 4096
/* The most plain text in one TLS record. */
#define TLS_RECORD 16384

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- URLs ------------------------------------------------------------ */

void wsm__http_target_free(struct wsm_http_target *t)
{
    if (!t)
        return;
    free(t->host);
    free(t->port);
    free(t->hostport);
    free(t->path);
    memset(t, 0, sizeof(*t));
}

static char *dupn(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

enum wsm_err wsm__http_target_parse(const char *url, int *https, struct wsm_http_target *t)
{
    memset(t, 0, sizeof(*t));
    *https = 0;
    for (const unsigned char *q = (const unsigned char *)url; *q; q++)
        if (*q <= ' ' || *q == 0x7f)
            return WSM_ERR_INVALID_ARG;
    const char *p = url;
    const char *sep = strstr(url, "://");
    if (sep) {
        size_t sl = (size_t)(sep - url);
        if (sl == 5 && strncasecmp(url, "https", 5) == 0)
            *https = 1;
        else if (!(sl == 4 && strncasecmp(url, "http", 4) == 0))
            return WSM_ERR_INVALID_ARG;
        p = sep + 3;
    }
    size_t alen = strcspn(p, "/?#");
    const char *auth = p, *rest = p + alen;
    if (alen == 0 || memchr(auth, '@', alen))
        return WSM_ERR_INVALID_ARG;
    const char *host = auth, *hend, *port = NULL;
    size_t plen = 0;
    if (auth[0] == '[') {
        const char *close = memchr(auth, ']', alen);
        if (!close || close == auth + 1)
            return WSM_ERR_INVALID_ARG;
        host = auth + 1;
        hend = close;
        if (close + 1 < auth + alen) {
            if (close[1] != ':')
                return WSM_ERR_INVALID_ARG;
            port = close + 2;
            plen = (size_t)(auth + alen - port);
        }
    } else {
        const char *colon = memchr(auth, ':', alen);
        hend = colon ? colon : auth + alen;
        if (colon) {
            if (memchr(colon + 1, ':', (size_t)(auth + alen - colon - 1)))
                return WSM_ERR_INVALID_ARG; /* a bare IPv6 address */
            port = colon + 1;
            plen = (size_t)(auth + alen - port);
        }
        if (hend == host)
            return WSM_ERR_INVALID_ARG;
    }
    unsigned long pn = *https ? 443 : 80;
    if (port && plen) {
        if (plen > 5 || strspn(port, "0123456789") < plen)
            return WSM_ERR_INVALID_ARG;
        pn = strtoul(port, NULL, 10);
        if (pn == 0 || pn > 65535)
            return WSM_ERR_INVALID_ARG;
    }
    size_t fl = strcspn(rest, "#");
    char portbuf[8];
    snprintf(portbuf, sizeof(portbuf), "%lu", pn);
    int v6 = auth[0] == '[';
    size_t hl = (size_t)(hend - host);
    size_t hpl = hl + 16;
    t->host = dupn(host, hl);
    t->port = strdup(portbuf);
    t->hostport = malloc(hpl);
    t->path = fl == 0 ? strdup("/") : rest[0] == '/' ? dupn(rest, fl) : malloc(fl + 2);
    if (!t->host || !t->port || !t->hostport || !t->path) {
        wsm__http_target_free(t);
        return WSM_ERR_NOMEM;
    }
    if (fl && rest[0] != '/') { /* "host?query": the path is "/" */
        t->path[0] = '/';
        memcpy(t->path + 1, rest, fl);
        t->path[fl + 1] = '\0';
    }
    if (pn == (*https ? 443u : 80u))
        snprintf(t->hostport, hpl, "%s%s%s", v6 ? "[" : "", t->host, v6 ? "]" : "");
    else
        snprintf(t->hostport, hpl, "%s%s%s:%lu", v6 ? "[" : "", t->host, v6 ? "]" : "", pn);
    return WSM_OK;
}

/* ---- reading a response ---------------------------------------------- */

/* More bytes into the read-ahead buffer (moving what is unread to its
 * start first). *got == 0: the end of the stream. */
static enum wsm_err fill(struct wsm_http_reader *r, size_t *got, char *err, size_t errlen)
{
    if (r->off == r->len) {
        r->off = r->len = 0;
    } else if (r->off > 0 && r->len == WSM_HTTP_MAX_HEAD) {
        memmove(r->buf, r->buf + r->off, r->len - r->off);
        r->len -= r->off;
        r->off = 0;
    }
    if (r->len == WSM_HTTP_MAX_HEAD) {
        seterr(err, errlen, "a line of the reply's head is too long");
        return WSM_ERR_HTTP;
    }
    enum wsm_err e = r->src(r->ud, r->buf + r->len, WSM_HTTP_MAX_HEAD - r->len, got, err, errlen);
    if (e)
        return e;
    r->len += *got;
    r->total += *got;
    return WSM_OK;
}

/* The next line (without its CRLF or LF) of at most *budget bytes, which
 * is reduced by what the line takes. The line stays valid until the next
 * read. */
static enum wsm_err next_line(struct wsm_http_reader *r, const char **line, size_t *len,
                              size_t *budget, char *err, size_t errlen)
{
    size_t scanned = 0;
    for (;;) {
        char *p = r->buf + r->off;
        size_t avail = r->len - r->off;
        char *nl = memchr(p + scanned, '\n', avail - scanned);
        if (nl) {
            size_t n = (size_t)(nl - p);
            if (n + 1 > *budget)
                break;
            *budget -= n + 1;
            r->off += n + 1;
            if (n && p[n - 1] == '\r')
                n--;
            /* No NUL or bare CR inside a line (RFC 9112 2.2). */
            if (memchr(p, '\0', n) || memchr(p, '\r', n)) {
                seterr(err, errlen, "a NUL or CR inside a line of the reply's head");
                return WSM_ERR_HTTP;
            }
            *line = p;
            *len = n;
            return WSM_OK;
        }
        scanned = avail;
        if (avail >= *budget)
            break;
        size_t got = 0;
        enum wsm_err e = fill(r, &got, err, errlen);
        if (e)
            return e;
        if (!got) {
            seterr(err, errlen,
                   r->total ? "the server closed the connection in the middle of the reply"
                            : "the server closed the connection without a reply");
            return WSM_ERR_HTTP;
        }
    }
    seterr(err, errlen, "the reply's head is too long");
    return WSM_ERR_HTTP;
}

/* n bytes of body: first what the read-ahead buffer holds, then straight
 * from the source into the body (no copy through the buffer). */
static enum wsm_err read_body_bytes(struct wsm_http_reader *r, struct wsm_buf *body, size_t n,
                                    char *err, size_t errlen)
{
    if (n > body->cap - body->len) {
        seterr(err, errlen, "the reply is larger than %zu bytes", body->cap);
        return WSM_ERR_HTTP;
    }
    enum wsm_err e = wsm__buf_reserve(body, n);
    if (e)
        return e;
    size_t have = r->len - r->off;
    size_t k = have < n ? have : n;
    memcpy(body->data + body->len, r->buf + r->off, k);
    r->off += k;
    body->len += k;
    n -= k;
    while (n > 0) {
        size_t got = 0;
        e = r->src(r->ud, body->data + body->len, n, &got, err, errlen);
        if (e)
            return e;
        if (!got) {
            seterr(err, errlen, "the server closed the connection in the middle of the reply");
            return WSM_ERR_HTTP;
        }
        r->total += got;
        body->len += got;
        n -= got;
    }
    body->data[body->len] = '\0';
    return WSM_OK;
}

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Calls f on each comma-separated, trimmed, non-empty element of v. */
static int each_token(const char *v, size_t n, int (*f)(void *, const char *, size_t), void *ud)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && v[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && is_ows(v[a]))
            a++;
        while (b > a && is_ows(v[b - 1]))
            b--;
        if (b > a && f(ud, v + a, b - a))
            return 1;
        i = j + 1;
    }
    return 0;
}

struct head {
    int minor;   /* HTTP/1.x */
    long status; /* 100..599 */
    int has_cl;
    uint64_t cl;
    int chunked;    /* Transfer-Encoding ends in chunked */
    int te_other;   /* some other transfer coding */
    int te_seen;    /* a Transfer-Encoding header */
    int conn_close; /* Connection: close */
    int conn_keep;  /* Connection: keep-alive */
    int bad_cl;
};

static int on_cl(void *ud, const char *v, size_t n)
{
    struct head *h = ud;
    uint64_t x = 0;
    if (n > 18 || strspn(v, "0123456789") < n) {
        h->bad_cl = 1;
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        x = x * 10 + (uint64_t)(v[i] - '0');
    if (h->has_cl && h->cl != x)
        h->bad_cl = 1;
    h->has_cl = 1;
    h->cl = x;
    return h->bad_cl;
}

static int on_te(void *ud, const char *v, size_t n)
{
    struct head *h = ud;
    if (h->chunked) /* chunked must be the last coding, and only once */
        h->te_other = 1;
    if (n == 7 && strncasecmp(v, "chunked", 7) == 0)
        h->chunked = 1;
    else
        h->te_other = 1;
    return 0;
}

static int on_conn(void *ud, const char *v, size_t n)
{
    struct head *h = ud;
    if (n == 5 && strncasecmp(v, "close", 5) == 0)
        h->conn_close = 1;
    else if (n == 10 && strncasecmp(v, "keep-alive", 10) == 0)
        h->conn_keep = 1;
    return 0;
}

static enum wsm_err parse_status(const char *l, size_t n, struct head *h, char *err, size_t errlen)
{
    /* HTTP/1.x SP 3DIGIT [SP reason] */
    if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[7] < '0' || l[7] > '9' || l[8] != ' ' ||
        l[9] < '1' || l[9] > '5' || l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9' ||
        (n > 12 && l[12] != ' ')) {
        seterr(err, errlen, "not an HTTP/1.x reply");
        return WSM_ERR_HTTP;
    }
    h->minor = l[7] - '0';
    h->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
    return WSM_OK;
}

/* Keeps the value of a header the caller wants (res: see wsm_http_result). */
static void keep_header(struct wsm_http_headers *res, const char *l, size_t k, const char *v,
                        size_t vn)
{
    if (!res)
        return;
    while (vn && is_ows(*v)) {
        v++;
        vn--;
    }
    while (vn && is_ows(v[vn - 1]))
        vn--;
    if (k == 12 && strncasecmp(l, "Content-Type", 12) == 0) {
        if (vn < sizeof(res->content_type)) {
            memcpy(res->content_type, v, vn);
            res->content_type[vn] = '\0';
        } else {
            res->content_type[0] = '\0';
        }
    } else if (k == 16 && strncasecmp(l, "WWW-Authenticate", 16) == 0) {
        size_t used = strlen(res->www);
        if (used + vn + 2 <= sizeof(res->www)) {
            memcpy(res->www + used, v, vn);
            res->www[used + vn] = '\n';
            res->www[used + vn + 1] = '\0';
        }
    }
}

static enum wsm_err read_head(struct wsm_http_reader *r, struct head *h, size_t *budget,
                              int *nlines, struct wsm_http_result *res, char *err, size_t errlen)
{
    const char *l;
    size_t n;
    enum wsm_err e;
    memset(h, 0, sizeof(*h));
    if (res->hdrs) {
        res->hdrs->content_type[0] = '\0';
        res->hdrs->www[0] = '\0';
    }
    if ((e = next_line(r, &l, &n, budget, err, errlen)))
        return e;
    if ((e = parse_status(l, n, h, err, errlen)))
        return e;
    for (;;) {
        if ((e = next_line(r, &l, &n, budget, err, errlen)))
            return e;
        if (n == 0)
            return WSM_OK;
        if (++*nlines > WSM_HTTP_MAX_HEADERS) {
            seterr(err, errlen, "too many header lines in the reply");
            return WSM_ERR_HTTP;
        }
        size_t k = 0;
        while (k < n && is_tchar((unsigned char)l[k]))
            k++;
        if (k == 0 || k == n || l[k] != ':') {
            /* Also obsolete line folding, and space before the colon. */
            seterr(err, errlen, "a malformed header line in the reply");
            return WSM_ERR_HTTP;
        }
        const char *v = l + k + 1;
        size_t vn = n - k - 1;
        if (k == 14 && strncasecmp(l, "Content-Length", 14) == 0) {
            if (each_token(v, vn, on_cl, h) || h->bad_cl) {
                seterr(err, errlen, "a bad Content-Length in the reply");
                return WSM_ERR_HTTP;
            }
        } else if (k == 17 && strncasecmp(l, "Transfer-Encoding", 17) == 0) {
            h->te_seen = 1;
            each_token(v, vn, on_te, h);
        } else if (k == 10 && strncasecmp(l, "Connection", 10) == 0) {
            each_token(v, vn, on_conn, h);
        } else {
            keep_header(res->hdrs, l, k, v, vn);
        }
    }
}

enum wsm_err wsm__http_read_response(struct wsm_http_reader *r, struct wsm_buf *body,
                                     struct wsm_http_result *res, char *err, size_t errlen)
{
    struct head h;
    enum wsm_err e;
    size_t budget = WSM_HTTP_MAX_HEAD;
    int nlines = 0;

    res->status = 0;
    res->keep_alive = 0;
    wsm__buf_reset(body);
    for (int interim = 0;; interim++) {
        if ((e = read_head(r, &h, &budget, &nlines, res, err, errlen)))
            return e;
        if (h.status >= 200)
            break;
        if (h.status == 101 || interim == WSM_HTTP_MAX_INTERIM) {
            seterr(err, errlen, "unexpected HTTP %ld", h.status);
            return WSM_ERR_HTTP;
        }
        /* 100 Continue and friends: the final response follows. */
    }
    res->status = h.status;
    int keep = h.minor >= 1 ? !h.conn_close : h.conn_keep && !h.conn_close;

    if (h.status == 204 || h.status == 304) {
        /* no body */
    } else if (h.te_seen) {
        if (!h.chunked || h.te_other) {
            seterr(err, errlen, "the reply uses a transfer coding other than chunked");
            return WSM_ERR_HTTP;
        }
        if (h.has_cl)
            keep = 0; /* both framings: RFC 9112 6.3 says close afterwards */
        for (;;) {
            const char *l;
            size_t n, lb = MAX_CHUNK_LINE;
            if ((e = next_line(r, &l, &n, &lb, err, errlen)))
                return e;
            size_t i = 0;
            uint64_t size = 0;
            while (i < n && isxdigit((unsigned char)l[i])) {
                unsigned d = (unsigned)(l[i] <= '9' ? l[i] - '0' : (l[i] | 0x20) - 'a' + 10);
                if (size > ((uint64_t)1 << 48)) {
                    i = 0; /* far beyond any cap: refuse below */
                    break;
                }
                size = size * 16 + d;
                i++;
            }
            while (i && i < n && is_ows(l[i]))
                i++;
            if (i == 0 || (i < n && l[i] != ';')) {
                seterr(err, errlen, "a malformed chunk size in the reply");
                return WSM_ERR_HTTP;
            }
            if (size == 0)
                break;
            if (size > body->cap - body->len) {
                seterr(err, errlen, "the reply is larger than %zu bytes", body->cap);
                return WSM_ERR_HTTP;
            }
            if ((e = read_body_bytes(r, body, (size_t)size, err, errlen)))
                return e;
            lb = MAX_CHUNK_LINE;
            if ((e = next_line(r, &l, &n, &lb, err, errlen)))
                return e;
            if (n != 0) {
                seterr(err, errlen, "a chunk of the reply is longer than its size");
                return WSM_ERR_HTTP;
            }
        }
        /* Trailer fields, up to an empty line: read and ignored. */
        for (;;) {
            const char *l;
            size_t n;
            if ((e = next_line(r, &l, &n, &budget, err, errlen)))
                return e;
            if (n == 0)
                break;
            if (++nlines > WSM_HTTP_MAX_HEADERS) {
                seterr(err, errlen, "too many trailer lines in the reply");
                return WSM_ERR_HTTP;
            }
        }
    } else if (h.has_cl) {
        if (h.cl > body->cap) {
            seterr(err, errlen, "the reply is larger than %zu bytes", body->cap);
            return WSM_ERR_HTTP;
        }
        if ((e = read_body_bytes(r, body, (size_t)h.cl, err, errlen)))
            return e;
    } else {
        /* Delimited by the end of the connection. */
        keep = 0;
        for (;;) {
            if (r->off < r->len) {
                if ((e = read_body_bytes(r, body, r->len - r->off, err, errlen)))
                    return e;
            }
            size_t got = 0;
            if ((e = fill(r, &got, err, errlen)))
                return e;
            if (!got && r->unclean) {
                /* Over TLS only close_notify tells a whole body from a
                 * cut one. */
                seterr(err, errlen,
                       "the connection ended without TLS close_notify "
                       "in a reply delimited by the end of the connection");
                return WSM_ERR_HTTP;
            }
            if (!got)
                break;
        }
    }
    if (!body->data && (e = wsm__buf_reserve(body, 0)))
        return e;
    body->data[body->len] = '\0';
    /* Bytes after the response: nothing we asked for. */
    if (r->off != r->len)
        keep = 0;
    res->keep_alive = keep;
    return WSM_OK;
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
            seterr(err, errlen, "aborted");
            return WSM_ERR_HTTP;
        }
        long long left = deadline - now_ms();
        if (left <= 0) {
            seterr(err, errlen, "timed out %s", what);
            return WSM_ERR_HTTP;
        }
        struct pollfd p = {.fd = c->fd, .events = events};
        int k = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (k > 0)
            return WSM_OK;
        if (k < 0 && errno != EINTR) {
            seterr(err, errlen, "poll: %s", strerror(errno));
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
            seterr(err, errlen, "aborted");
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
                seterr(err, errlen, "aborted");
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
                seterr(err, errlen, "aborted");
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
            seterr(err, errlen, "recv: %s", strerror(errno));
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
        seterr(err, errlen, "socket: %s", strerror(errno));
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
        seterr(err, errlen, "aborted");
        return WSM_ERR_HTTP;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS && errno != EINTR) {
            seterr(err, errlen, "cannot connect to %s port %s: %s", c->t->host, c->t->port,
                   strerror(errno));
            drop(c);
            return WSM_ERR_HTTP;
        }
        enum wsm_err e = wait_fd(c, POLLOUT, deadline, "connecting", err, errlen);
        int so = 0;
        socklen_t sl = sizeof(so);
        if (!e && getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) == 0 && so != 0) {
            seterr(err, errlen, "cannot connect to %s port %s: %s", c->t->host, c->t->port,
                   strerror(so));
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
        seterr(err, errlen, "cannot resolve %s: %s", c->t->host,
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
            seterr(err, errlen, "send: %s", strerror(errno));
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
            seterr(err, errlen, "%s:%s: %s", c->t->host, c->t->port, err2);
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
            seterr(err, errlen, "aborted");
            return WSM_ERR_HTTP;
        }
        if (c->fd >= 0 && stale(c))
            drop(c);
        if (rq->bound_gen && (c->fd < 0 || c->gen != rq->bound_gen)) {
            c->lost = 1;
            seterr(err, errlen, "the authenticated connection was closed");
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
        seterr(err, errlen, "aborted");
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
