/* Between the files of libwsm's HTTP exchange: client.c (sessions, reply
 * checks), clientconn.c (a connection: http.c, or libcurl through a
 * proxy) and clientgss.c (Negotiate on a connection: the handshake and
 * sealed bodies). */
#ifndef WSM_CLIENT_CONN_H
#define WSM_CLIENT_CONN_H

#include <curl/curl.h> /* CURL: the headers only (libcurl is loaded with dlopen) */
#include <stddef.h>

#include "client_internal.h"
#include "gss_client.h"
#include "http.h"
#include "wsm/wsm.h"

struct wsm_conn {
    int aborted;               /* (curl) checked by the progress callback */
    CURL *curl;                /* libcurl: the easy handle, made on first use */
    struct wsm_http_conn http; /* plain HTTP */
    /* Negotiate: the security context of the connection (http.gen
     * gss_gen), and the headers of the last response. */
    struct wsm_gss_ctx *gss;
    unsigned long gss_gen;
    struct wsm_http_headers *hdrs;
};

/* One HTTP exchange, whatever carries it. */
struct xfer {
    const char *body;
    size_t len;
    int anonymous;            /* WSMANIDENTIFY: unauthenticated, no credentials */
    const char *authz;        /* an "Authorization: ...\r\n" line of Negotiate, or NULL */
    const char *content_type; /* NULL: SOAP */
    unsigned long bound_gen;  /* (http.c) only on that connection */
    struct wsm_http_headers *hdrs;
};

/* https through http.c: the session's TLS settings, made once (the first
 * connection of any of its threads), on c's connection. */
enum wsm_err wsm__conn_tls_ready(const wsm_session *s, struct wsm_conn *c, char *err,
                                 size_t errlen);
/* One exchange over http.c or libcurl, with the session's Basic or
 * certificate credentials or x's Authorization line. */
enum wsm_err wsm__conn_raw_post(const wsm_session *s, struct wsm_conn *c, const struct xfer *x,
                                struct wsm_buf *resp, long *status, char *err, size_t errlen);
/* Negotiate, NTLM or Kerberos: the schemes clientgss.c carries. */
int wsm__is_gss_auth(enum wsm_auth a);

#endif
