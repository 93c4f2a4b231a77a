/* GnuTLS for the client's HTTP/1.1 connections. See tls.h.
 *
 * libgnutls.so.30 is loaded with dlopen at the first https connection and
 * the functions used are resolved with dlsym (the header supplies the
 * types and constants only), as client_curl.c does for libcurl and
 * gss_client.c for GSSAPI: winrs over http:// maps none of them. The
 * loading and the shared configuration (trust anchors, the client
 * certificate) are in tls_config.c; this file holds the sessions.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "tls_priv.h"

#define END_POINT_PREFIX "tls-server-end-point:"
/* Read-ahead of ciphertext: GnuTLS reads a record's header and then its
 * body, two recv calls per record; from this buffer one recv serves
 * several records (a whole small reply). */
#define RBUF_SIZE 65536

/* ---- sessions -------------------------------------------------------------- */

struct wsm_tls {
    struct wsm_tls_config *cfg;
    gnutls_session_t s;
    int fd;
    char *host;
    int done;   /* handshake complete */
    int broken; /* a fatal error: no close_notify */
    char *rbuf; /* RBUF_SIZE bytes of ciphertext read ahead */
    size_t roff, rlen;
};

/* GnuTLS' transport: the socket through the read-ahead buffer. */
static ssize_t t_pull(gnutls_transport_ptr_t p, void *data, size_t n)
{
    struct wsm_tls *t = p;
    if (t->roff == t->rlen) {
        ssize_t k;
        do
            k = recv(t->fd, t->rbuf, RBUF_SIZE, 0);
        while (k < 0 && errno == EINTR);
        if (k <= 0) {
            if (k < 0)
                wsm__gt.transport_set_errno(t->s, errno);
            return k;
        }
        t->roff = 0;
        t->rlen = (size_t)k;
    }
    size_t k = t->rlen - t->roff < n ? t->rlen - t->roff : n;
    memcpy(data, t->rbuf + t->roff, k);
    t->roff += k;
    return (ssize_t)k;
}

static int t_pull_timeout(gnutls_transport_ptr_t p, unsigned ms)
{
    struct wsm_tls *t = p;
    if (t->roff < t->rlen)
        return 1;
    struct pollfd pf = {.fd = t->fd, .events = POLLIN};
    int k = poll(&pf, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
    if (k < 0)
        wsm__gt.transport_set_errno(t->s, errno);
    return k < 0 ? -1 : k > 0;
}

static ssize_t t_push(gnutls_transport_ptr_t p, const giovec_t *iov, int n)
{
    struct wsm_tls *t = p;
    struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
    ssize_t k;
    do /* MSG_NOSIGNAL: no SIGPIPE, as http.c's own writes */
        k = sendmsg(t->fd, &m, MSG_NOSIGNAL);
    while (k < 0 && errno == EINTR);
    if (k < 0)
        wsm__gt.transport_set_errno(t->s, errno);
    return k;
}

static int is_address(const char *host)
{
    unsigned char a[16];
    return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

enum wsm_err wsm__tls_new(struct wsm_tls_config *cfg, int fd, const char *host,
                          struct wsm_tls **out, char *err, size_t errlen)
{
    if (!cfg->prepared || cfg->status)
        return WSM_ERR_INTERNAL;
    struct wsm_tls *t = calloc(1, sizeof(*t));
    if (!t || !(t->host = strdup(host)) || !(t->rbuf = malloc(RBUF_SIZE))) {
        if (t)
            free(t->host);
        free(t);
        return WSM_ERR_NOMEM;
    }
    t->cfg = cfg;
    t->fd = fd;
    /* No SIGPIPE (MSG_NOSIGNAL), as http.c's own writes; no tickets: we do
     * not resume, and a server then has none to send while we are idle. */
    int r =
        wsm__gt.init(&t->s, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL | GNUTLS_NO_TICKETS);
    if (r < 0) {
        t->s = NULL;
        wsm__tls_free(t, 1);
        snprintf(err, errlen, "TLS: %s", wsm__gt.strerror(r));
        return WSM_ERR_HTTP;
    }
    if ((r = wsm__gt.set_default_priority(t->s)) >= 0 &&
        (r = wsm__gt.credentials_set(t->s, GNUTLS_CRD_CERTIFICATE, cfg->cred)) >= 0 &&
        !is_address(host))
        r = wsm__gt.server_name_set(t->s, GNUTLS_NAME_DNS, host, strlen(host));
    if (r < 0) {
        snprintf(err, errlen, "TLS: %s", wsm__gt.strerror(r));
        wsm__tls_free(t, 1);
        return WSM_ERR_HTTP;
    }
    /* Checked in the handshake, which then fails with an alert to the
     * server (and before our certificate is sent, in TLS 1.3). */
    if (!cfg->skip_ca_check)
        wsm__gt.session_set_verify_cert(t->s, cfg->skip_cn_check ? NULL : t->host, 0);
    wsm__gt.transport_set_ptr(t->s, t);
    wsm__gt.transport_set_pull_function(t->s, t_pull);
    wsm__gt.transport_set_pull_timeout_function(t->s, t_pull_timeout);
    wsm__gt.transport_set_vec_push_function(t->s, t_push);
    *out = t;
    return WSM_OK;
}

void wsm__tls_free(struct wsm_tls *t, int quiet)
{
    if (!t)
        return;
    if (t->s) {
        if (!quiet && t->done && !t->broken)
            wsm__gt.bye(t->s, GNUTLS_SHUT_WR); /* one try: it does not wait */
        wsm__gt.deinit(t->s);
    }
    free(t->rbuf);
    free(t->host);
    free(t);
}

static int want(struct wsm_tls *t)
{
    return wsm__gt.record_get_direction(t->s) ? WSM_TLS_WANT_WRITE : WSM_TLS_WANT_READ;
}

/* GNUTLS_E_AGAIN does not always mean that the socket had nothing: after
 * a post-handshake message (a TLS 1.3 session ticket) GnuTLS returns it
 * at once, with the next records perhaps already in our read-ahead
 * buffer, where poll() cannot see them. Then the caller goes on at once. */
static int again_now(struct wsm_tls *t)
{
    return !wsm__gt.record_get_direction(t->s) && t->roff < t->rlen;
}

/* Why the certificate was refused, in words. */
static void cert_error(struct wsm_tls *t, unsigned status, char *err, size_t errlen)
{
    const char *what =
        (status & GNUTLS_CERT_SIGNER_NOT_FOUND) ? "is not trusted (its issuer is not a trusted CA)"
        : (status & GNUTLS_CERT_EXPIRED)        ? "has expired"
        : (status & GNUTLS_CERT_NOT_ACTIVATED)  ? "is not yet valid"
        : (status & GNUTLS_CERT_REVOKED)        ? "is revoked"
        : (status & GNUTLS_CERT_UNEXPECTED_OWNER)   ? "does not match the host name"
        : (status & GNUTLS_CERT_INSECURE_ALGORITHM) ? "is signed with an insecure algorithm"
        : (status & GNUTLS_CERT_SIGNER_NOT_CA)      ? "is issued by a non-CA certificate"
                                                    : "failed verification";
    gnutls_datum_t d = {NULL, 0};
    int k = wsm__gt.certificate_verification_status_print(status, GNUTLS_CRT_X509, &d, 0);
    int dl = k >= 0 && d.data ? (int)strnlen((const char *)d.data, d.size) : 0;
    while (dl > 0 && d.data[dl - 1] == ' ')
        dl--;
    /* And what to do about it, in the tools' switches. */
    const char *fix =
        (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA))
            ? "; to trust its CA: -cacert:CA.pem, or to skip this check: -skipCAcheck"
        : (status & GNUTLS_CERT_UNEXPECTED_OWNER)
            ? "; connect by a name the certificate holds, or skip this check: -skipCNcheck"
            : "";
    snprintf(err, errlen, "the server's certificate %s%s%s (%.*s)%s", what,
             (status & GNUTLS_CERT_UNEXPECTED_OWNER) ? " " : "",
             (status & GNUTLS_CERT_UNEXPECTED_OWNER) ? t->host : "", dl ? dl : 3,
             dl ? (const char *)d.data : "...", fix);
    if (d.data)
        (*wsm__gt.free_fn)(d.data);
}

/* SkipCACheck without SkipCNCheck: the name alone, on the leaf. */
static int check_name(struct wsm_tls *t, char *err, size_t errlen)
{
    unsigned n = 0;
    const gnutls_datum_t *peers = wsm__gt.certificate_get_peers(t->s, &n);
    gnutls_x509_crt_t crt;
    if (!peers || !n) {
        snprintf(err, errlen, "the server sent no certificate");
        return 0;
    }
    if (wsm__gt.x509_crt_init(&crt) < 0)
        return 0;
    int ok = wsm__gt.x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) >= 0 &&
             wsm__gt.x509_crt_check_hostname2(crt, t->host, 0);
    wsm__gt.x509_crt_deinit(crt);
    if (!ok)
        snprintf(err, errlen,
                 "the server's certificate does not match the host name %s "
                 "(SkipCNCheck/-skipCNcheck skips this)",
                 t->host);
    return ok;
}

int wsm__tls_handshake(struct wsm_tls *t, char *err, size_t errlen)
{
    int r;
    do
        r = wsm__gt.handshake(t->s);
    while (r == GNUTLS_E_INTERRUPTED || (r == GNUTLS_E_AGAIN && again_now(t)) ||
           (r < 0 && !wsm__gt.error_is_fatal(r) && r != GNUTLS_E_AGAIN));
    if (r == GNUTLS_E_AGAIN)
        return want(t);
    if (r < 0) {
        t->broken = 1;
        if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
            cert_error(t, wsm__gt.session_get_verify_cert_status(t->s), err, errlen);
        } else if (r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
            const char *a = wsm__gt.alert_get_name(wsm__gt.alert_get(t->s));
            snprintf(err, errlen, "the TLS handshake failed: the server sent the alert \"%s\"",
                     a ? a : "unknown");
        } else if (r == GNUTLS_E_PREMATURE_TERMINATION || r == GNUTLS_E_PULL_ERROR ||
                   r == GNUTLS_E_PUSH_ERROR) {
            snprintf(err, errlen, "the TLS handshake failed: the server closed the connection (%s)",
                     wsm__gt.strerror(r));
        } else {
            snprintf(err, errlen, "the TLS handshake failed: %s", wsm__gt.strerror(r));
        }
        return WSM_ERR_HTTP;
    }
    if (t->cfg->skip_ca_check && !t->cfg->skip_cn_check && !check_name(t, err, errlen)) {
        t->broken = 1;
        return WSM_ERR_HTTP;
    }
    t->done = 1;
    return WSM_OK;
}

int wsm__tls_recv(struct wsm_tls *t, char *p, size_t n, size_t *got, int *unclean, char *err,
                  size_t errlen)
{
    *got = 0;
    for (;;) {
        ssize_t k = wsm__gt.record_recv(t->s, p, n);
        if (k >= 0) {
            *got = (size_t)k;
            return WSM_OK;
        }
        switch (k) {
        case GNUTLS_E_AGAIN:
            if (again_now(t))
                continue;
            return want(t);
        case GNUTLS_E_INTERRUPTED:
        case GNUTLS_E_REHANDSHAKE: /* refused: we go on reading */
            continue;
        case GNUTLS_E_PREMATURE_TERMINATION:
        case GNUTLS_E_PULL_ERROR: /* reset */
            t->broken = 1;
            *unclean = 1;
            return WSM_OK;
        default:
            if (!wsm__gt.error_is_fatal((int)k))
                continue;
            t->broken = 1;
            snprintf(err, errlen, "TLS: %s", wsm__gt.strerror((int)k));
            return WSM_ERR_HTTP;
        }
    }
}

int wsm__tls_send(struct wsm_tls *t, const char *p, size_t n, size_t *sent, char *err,
                  size_t errlen)
{
    *sent = 0;
    for (;;) {
        ssize_t k = wsm__gt.record_send(t->s, p, n);
        if (k >= 0) {
            *sent = (size_t)k;
            return WSM_OK;
        }
        if (k == GNUTLS_E_AGAIN)
            return want(t);
        if (k == GNUTLS_E_INTERRUPTED)
            continue;
        t->broken = 1;
        snprintf(err, errlen, "send: %s", wsm__gt.strerror((int)k));
        return WSM_ERR_HTTP;
    }
}

int wsm__tls_idle_ok(struct wsm_tls *t)
{
    char b[64];
    if (wsm__gt.record_check_pending(t->s))
        return 0;
    for (int i = 0; i < 8; i++) {
        if (t->roff == t->rlen) {
            struct pollfd p = {.fd = t->fd, .events = POLLIN | POLLRDHUP};
            int k = poll(&p, 1, 0);
            if (k == 0)
                return 1; /* nothing came */
            if (k < 0 || p.revents != POLLIN)
                return 0; /* closed, reset */
        }
        ssize_t k = wsm__gt.record_recv(t->s, b, sizeof(b));
        if (k == GNUTLS_E_AGAIN || k == GNUTLS_E_INTERRUPTED)
            continue; /* only handshake messages were there: look again */
        if (k < 0)
            t->broken = 1;
        return 0; /* the end, an error, or bytes nobody asked for */
    }
    return 0;
}

enum wsm_err wsm__tls_end_point(struct wsm_tls *t, unsigned char **out, size_t *len)
{
    unsigned n = 0;
    const gnutls_datum_t *peers = wsm__gt.certificate_get_peers(t->s, &n);
    gnutls_x509_crt_t crt;
    *out = NULL;
    *len = 0;
    if (!peers || !n)
        return WSM_ERR_NOT_FOUND;
    if (wsm__gt.x509_crt_init(&crt) < 0)
        return WSM_ERR_NOMEM;
    enum wsm_err e = WSM_ERR_NOT_FOUND;
    if (wsm__gt.x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) >= 0) {
        /* As wsmd computes it (src/daemon/negotiate.c). */
        int sign = wsm__gt.x509_crt_get_signature_algorithm(crt);
        gnutls_digest_algorithm_t dig =
            sign < 0 ? GNUTLS_DIG_UNKNOWN
                     : wsm__gt.sign_get_hash_algorithm((gnutls_sign_algorithm_t)sign);
        if (dig == GNUTLS_DIG_MD5 || dig == GNUTLS_DIG_SHA1)
            dig = GNUTLS_DIG_SHA256;
        size_t hl = dig == GNUTLS_DIG_UNKNOWN ? 0 : wsm__gt.hash_get_len(dig);
        size_t pl = sizeof(END_POINT_PREFIX) - 1;
        unsigned char *b = hl && hl <= 64 ? malloc(pl + hl) : NULL;
        if (hl && hl <= 64 && !b) {
            e = WSM_ERR_NOMEM;
        } else if (b) {
            memcpy(b, END_POINT_PREFIX, pl);
            if (wsm__gt.hash_fast(dig, peers[0].data, peers[0].size, b + pl) < 0) {
                free(b);
            } else {
                *out = b;
                *len = pl + hl;
                e = WSM_OK;
            }
        }
    }
    wsm__gt.x509_crt_deinit(crt);
    return e;
}
