/* Between the files of libwsm's client transport: client.c (connections,
 * one exchange over http.c or libcurl, wsm__post), client_curl.c (libcurl,
 * loaded at run time, for proxies) and client_gss.c (Negotiate, NTLM and
 * Kerberos on a connection). Sessions (client_session.c) and the request
 * builders need only client_internal.h. */
#ifndef WSM_CLIENT_PRIV_H
#define WSM_CLIENT_PRIV_H

#include <curl/curl.h>
#include <stddef.h>

#include "buf.h"
#include "client_internal.h"
#include "http.h"
#include "wsm/wsm.h"

/* What Windows clients send for client certificate authentication over
 * HTTPS (the certificate itself goes in the TLS handshake). */
#define CERT_AUTH_HEADER                                                                           \
    "Authorization: http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"

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

/* ---- client.c ---------------------------------------------------------- */

/* How long one exchange may take: the connect timeout or OperationTimeout
 * (the server may hold a Receive that long), and 5 s more. */
long wsm__request_timeout_ms(const wsm_session *s);
/* https through http.c: the session's TLS settings on c, made once. */
enum wsm_err wsm__conn_tls_ready(const wsm_session *s, struct wsm_conn *c, char *err,
                                 size_t errlen);
/* One exchange over http.c or libcurl, with the session's Basic or
 * certificate credentials or x's Authorization line. */
enum wsm_err wsm__conn_raw_post(const wsm_session *s, struct wsm_conn *c, const struct xfer *x,
                                struct wsm_buf *resp, long *status, char *err, size_t errlen);

/* ---- client_curl.c ----------------------------------------------------- */

/* One exchange through libcurl (loaded at the first call; err says why
 * when it cannot be). */
enum wsm_err wsm__conn_curl_post(const wsm_session *s, struct wsm_conn *conn, const struct xfer *x,
                                 struct wsm_buf *resp, long *status, char *err, size_t errlen);
/* Frees a connection's easy handle (curl_easy_cleanup). */
void wsm__curl_cleanup(CURL *h);

/* ---- client_gss.c ------------------------------------------------------ */

/* A request with Negotiate, NTLM or Kerberos on c (handshake, sealing). */
enum wsm_err wsm__conn_gss_post(const wsm_session *s, struct wsm_conn *c, const char *body,
                                size_t len, struct wsm_buf *resp, long *status, char *err,
                                size_t errlen, const struct wsm_arrived *arrived);

#endif
