/* TLS for the client's own HTTP/1.1 connections (http.c): GnuTLS,
 * loaded with dlopen at the first https connection, so that a program
 * that only speaks http:// never maps it. Non-blocking: every call that
 * would wait says which way (WSM_TLS_WANT_READ / _WRITE) and http.c polls
 * the socket with its own deadline and abort flag.
 * docs/internals/client-transport.md, "https". */
#ifndef WSM_TLS_H
#define WSM_TLS_H

#include <stddef.h>

#include "wsm/wsm.h"

/* A session's TLS settings and credentials (trust anchors, the client
 * certificate), made once at the first connection and shared, read-only,
 * by the session's connections (and their threads). */
struct wsm_tls_config;
/* One TLS session over one TCP connection; one thread at a time. */
struct wsm_tls;

struct wsm_tls_opts {
    const char *ca_file;              /* NULL: the system's trust store */
    int skip_ca_check;                /* no chain verification */
    int skip_cn_check;                /* no host name check */
    const char *cert_file, *key_file; /* PEM; key_file NULL: in cert_file */
    const char *key_password;         /* for an encrypted key, or NULL */
};

/* Results of the non-blocking calls besides WSM_OK / WSM_ERR_* (which
 * are positive). */
#define WSM_TLS_WANT_READ (-1)
#define WSM_TLS_WANT_WRITE (-2)

enum wsm_err wsm__tls_config_new(struct wsm_tls_config **out);
void wsm__tls_config_free(struct wsm_tls_config *cfg);
/* Loads GnuTLS and makes the credentials from o, once (thread-safe; later
 * calls return the first outcome and ignore o). WSM_ERR_HTTP with err set
 * when GnuTLS cannot be loaded or a file is unusable. */
enum wsm_err wsm__tls_config_prepare(struct wsm_tls_config *cfg, const struct wsm_tls_opts *o,
                                     char *err, size_t errlen);

/* A client session on the connected socket fd (non-blocking) for host
 * (a name gets SNI; names and addresses are checked against the
 * certificate unless skip_cn_check). The config must be prepared. */
enum wsm_err wsm__tls_new(struct wsm_tls_config *cfg, int fd, const char *host,
                          struct wsm_tls **out, char *err, size_t errlen);
/* Sends close_notify if it can without waiting (unless quiet), and frees. */
void wsm__tls_free(struct wsm_tls *t, int quiet);

/* The handshake and the certificate checks: WSM_OK when done, WANT_*
 * to be called again once the socket is ready, WSM_ERR_HTTP (err says
 * what failed: trust, name, expiry, the handshake itself). */
int wsm__tls_handshake(struct wsm_tls *t, char *err, size_t errlen);
/* Up to n bytes. *got == 0 is the end of the stream (close_notify, or the
 * connection ended or was reset: *unclean then). */
int wsm__tls_recv(struct wsm_tls *t, char *p, size_t n, size_t *got, int *unclean, char *err,
                  size_t errlen);
/* Up to n bytes (one record at most); *sent says how many. After a WANT_*
 * the same bytes must be offered again. */
int wsm__tls_send(struct wsm_tls *t, const char *p, size_t n, size_t *sent, char *err,
                  size_t errlen);
/* For an idle kept-alive connection, before a request: consumes what the
 * server sent meanwhile without blocking (TLS 1.3 session tickets, key
 * updates). 1: the connection is still usable; 0: closed, reset, or data
 * we did not ask for. */
int wsm__tls_idle_ok(struct wsm_tls *t);

/* RFC 5929 tls-server-end-point channel binding of the session:
 * "tls-server-end-point:" + the hash of the server's certificate (its
 * signature's hash; SHA-256 for MD5 and SHA-1). WSM_ERR_NOT_FOUND when no
 * binding is defined (no certificate, or a signature without a hash such
 * as Ed25519). *out is malloc'd. */
enum wsm_err wsm__tls_end_point(struct wsm_tls *t, unsigned char **out, size_t *len);

#endif
