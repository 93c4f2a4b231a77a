/* The HTTP/1.1 client's parsing (http.h): URLs, and a response read from
 * any byte source (a socket, a TLS session, a fuzzer's buffer) under the
 * bounds of http.h: the status line, the headers it needs
 * (Content-Length, Transfer-Encoding, Connection, Content-Type,
 * WWW-Authenticate), and a body by length, chunks or close. */
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
        wsm__http_seterr(err, errlen, "a line of the reply's head is too long");
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
                wsm__http_seterr(err, errlen, "a NUL or CR inside a line of the reply's head");
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
            wsm__http_seterr(err, errlen,
                             r->total
                                 ? "the server closed the connection in the middle of the reply"
                                 : "the server closed the connection without a reply");
            return WSM_ERR_HTTP;
        }
    }
    wsm__http_seterr(err, errlen, "the reply's head is too long");
    return WSM_ERR_HTTP;
}

/* n bytes of body: first what the read-ahead buffer holds, then straight
 * from the source into the body (no copy through the buffer). */
static enum wsm_err read_body_bytes(struct wsm_http_reader *r, struct wsm_buf *body, size_t n,
                                    char *err, size_t errlen)
{
    if (n > body->cap - body->len) {
        wsm__http_seterr(err, errlen, "the reply is larger than %zu bytes", body->cap);
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
            wsm__http_seterr(err, errlen,
                             "the server closed the connection in the middle of the reply");
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
        wsm__http_seterr(err, errlen, "not an HTTP/1.x reply");
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
            wsm__http_seterr(err, errlen, "too many header lines in the reply");
            return WSM_ERR_HTTP;
        }
        size_t k = 0;
        while (k < n && is_tchar((unsigned char)l[k]))
            k++;
        if (k == 0 || k == n || l[k] != ':') {
            /* Also obsolete line folding, and space before the colon. */
            wsm__http_seterr(err, errlen, "a malformed header line in the reply");
            return WSM_ERR_HTTP;
        }
        const char *v = l + k + 1;
        size_t vn = n - k - 1;
        if (k == 14 && strncasecmp(l, "Content-Length", 14) == 0) {
            if (each_token(v, vn, on_cl, h) || h->bad_cl) {
                wsm__http_seterr(err, errlen, "a bad Content-Length in the reply");
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
            wsm__http_seterr(err, errlen, "unexpected HTTP %ld", h.status);
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
            wsm__http_seterr(err, errlen, "the reply uses a transfer coding other than chunked");
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
                wsm__http_seterr(err, errlen, "a malformed chunk size in the reply");
                return WSM_ERR_HTTP;
            }
            if (size == 0)
                break;
            if (size > body->cap - body->len) {
                wsm__http_seterr(err, errlen, "the reply is larger than %zu bytes", body->cap);
                return WSM_ERR_HTTP;
            }
            if ((e = read_body_bytes(r, body, (size_t)size, err, errlen)))
                return e;
            lb = MAX_CHUNK_LINE;
            if ((e = next_line(r, &l, &n, &lb, err, errlen)))
                return e;
            if (n != 0) {
                wsm__http_seterr(err, errlen, "a chunk of the reply is longer than its size");
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
                wsm__http_seterr(err, errlen, "too many trailer lines in the reply");
                return WSM_ERR_HTTP;
            }
        }
    } else if (h.has_cl) {
        if (h.cl > body->cap) {
            wsm__http_seterr(err, errlen, "the reply is larger than %zu bytes", body->cap);
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
                wsm__http_seterr(err, errlen,
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
