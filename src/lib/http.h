/* A small HTTP/1.1 client for http:// and https:// endpoints: one POST at
 * a time on a persistent connection, with hard bounds on everything the
 * server sends. https:// runs over a GnuTLS session (tls.c, loaded at run
 * time); only proxies go through libcurl (client_curl.c). See
 * docs/internals/client-transport.md.
 */
#ifndef WSM_HTTP_H
#define WSM_HTTP_H

#include <pthread.h>
#include <stddef.h>

#include "buf.h"
#include "tls.h"
#include "wsm/wsm.h"

/* Longest response head (status line, headers, or the trailer section of
 * a chunked body) we accept; also the size of a connection's read-ahead
 * buffer. */
#define WSM_HTTP_MAX_HEAD 65536
/* Most header lines in one head (interim 1xx heads included). */
#define WSM_HTTP_MAX_HEADERS 200
/* Most interim (1xx) responses before the final one. */
#define WSM_HTTP_MAX_INTERIM 8

/* Where a request goes, from an http:// URL. */
struct wsm_http_target {
    char *host;     /* for getaddrinfo: no brackets around an IPv6 address */
    char *port;     /* decimal */
    char *hostport; /* the Host header's value */
    char *path;     /* the request target: "/wsman", "/wsman?x" */
};

/* Splits an http:// or https:// URL. *https tells which. Userinfo
 * (user@host), a missing host, a bad port, or control characters and
 * spaces anywhere are WSM_ERR_INVALID_ARG. The fragment is dropped. */
enum wsm_err wsm__http_target_parse(const char *url, int *https, struct wsm_http_target *t);
void wsm__http_target_free(struct wsm_http_target *t);

/* The reading side of one connection: a read-ahead buffer over a source
 * of bytes. src() fills up to n bytes at p and sets *got; *got == 0 at the
 * end of the stream. The socket source polls with the request's deadline;
 * the fuzz target serves its input from memory. */
struct wsm_http_reader {
    enum wsm_err (*src)(void *ud, char *p, size_t n, size_t *got, char *err, size_t errlen);
    void *ud;
    char *buf; /* WSM_HTTP_MAX_HEAD bytes */
    size_t off, len;
    size_t total; /* bytes read from the source for this response */
    int unclean;  /* the source ended without TLS close_notify (set by src) */
};

/* Most bytes of WWW-Authenticate values kept from one response. */
#define WSM_HTTP_MAX_WWW 16384

/* Headers of the final response a caller may want. */
struct wsm_http_headers {
    char content_type[256];     /* "" if none, or longer than this */
    char www[WSM_HTTP_MAX_WWW]; /* WWW-Authenticate values, each ended by '\n'
                                   (those that do not fit whole are left out) */
};

struct wsm_http_result {
    long status;
    int keep_alive;                /* the connection can carry the next request */
    struct wsm_http_headers *hdrs; /* if not NULL: filled in */
};

/* Reads one response (skipping interim 1xx responses) into body, which
 * must be empty; body->cap bounds the body. Bodies framed by
 * Content-Length, chunked, or by the end of the connection. On an error
 * err holds a message. */
enum wsm_err wsm__http_read_response(struct wsm_http_reader *r, struct wsm_buf *body,
                                     struct wsm_http_result *res, char *err, size_t errlen);

/* One connection to one target. Not thread-safe, except for
 * wsm__http_abort. */
struct wsm_http_conn {
    const struct wsm_http_target *t;
    int fd;     /* -1: not connected */
    int served; /* responses read on this connection */
    int aborted;
    pthread_mutex_t mu; /* fd against wsm__http_conn_abort */
    unsigned long gen;  /* counts the connections made: tells a new one */
    int lost;           /* the last request failed because its bound connection was gone */
    struct wsm_http_reader rd;
    long long deadline_ms; /* of the request in progress (CLOCK_MONOTONIC) */
    /* https: the session's TLS settings (prepared; set by the caller
     * before a request), and the TLS session of the connection. */
    struct wsm_tls_config *tls_cfg;
    struct wsm_tls *tls;
    char *wbuf; /* https: head and a small body go out as one record */
};

struct wsm_http_request {
    const char *headers; /* extra header lines, each ending in \r\n; may be NULL */
    const char *body;
    size_t len;
    long timeout_ms;          /* the whole exchange, connecting included */
    long connect_timeout_ms;  /* at most this for connecting (<= 0: timeout_ms) */
    const char *content_type; /* NULL: application/soap+xml;charset=UTF-8 */
    /* Nonzero: the request may only go on the connection of that gen (one
     * authenticated by a Negotiate handshake). If it is gone, or ends
     * before the reply starts, the request fails with c->lost set and is
     * not sent again on another connection. */
    unsigned long bound_gen;
    /* If not NULL: the final response's Content-Type and WWW-Authenticate. */
    struct wsm_http_headers *headers_out;
};

void wsm__http_conn_init(struct wsm_http_conn *c, const struct wsm_http_target *t);
/* Closes the connection and frees its buffer. */
void wsm__http_conn_close(struct wsm_http_conn *c);
/* Between requests: the read buffer (64 KB reserved, a few pages touched)
 * and the TLS write buffer are freed, the connection itself kept; the next
 * request allocates them again. For a caller that holds many connections
 * that are mostly idle (the event source's push subscriptions). */
void wsm__http_conn_idle(struct wsm_http_conn *c);
/* From another thread: makes a request in progress on c fail at once
 * (shutdown of the socket); later requests fail too. */
void wsm__http_conn_abort(struct wsm_http_conn *c);

/* Connects (TCP, and TLS if tls_cfg is set) unless a kept-alive
 * connection is still open, within connect_timeout_ms (<= 0: 60 s). For a
 * caller that needs the connection before the request (channel
 * bindings). */
enum wsm_err wsm__http_connect(struct wsm_http_conn *c, long connect_timeout_ms, char *err,
                               size_t errlen);

/* POSTs the request and reads the response into body (empty on entry;
 * body->cap bounds it). Connects if need be, reuses a kept-alive
 * connection, and reconnects once if the server closed a reused one
 * before it saw the request (not for a bound request). WSM_ERR_HTTP (err
 * says why) for transport and protocol errors and timeouts. */
enum wsm_err wsm__http_post(struct wsm_http_conn *c, const struct wsm_http_request *rq,
                            struct wsm_buf *body, long *status, char *err, size_t errlen);

/* http.c and httpread.c: err (errlen bytes; NULL: none) as printf says. */
void wsm__http_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
