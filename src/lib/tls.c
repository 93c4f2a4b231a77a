/* GnuTLS for the client's HTTP/1.1 connections. See tls.h.
 *
 * libgnutls.so.30 is loaded with dlopen at the first https connection and
 * the functions used are resolved with dlsym (the header supplies the
 * types and constants only), as client_curl.c does for libcurl and
 * gss_client.c for GSSAPI: winrs over http:// maps none of them.
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

#define GNUTLS_LIB "libgnutls.so.30"
#define END_POINT_PREFIX "tls-server-end-point:"
/* Read-ahead of ciphertext: GnuTLS reads a record's header and then its
 * body, two recv calls per record; from this buffer one recv serves
 * several records (a whole small reply). */
#define RBUF_SIZE 65536

static struct {
    __typeof__(gnutls_certificate_allocate_credentials) *certificate_allocate_credentials;
    __typeof__(gnutls_certificate_free_credentials) *certificate_free_credentials;
    __typeof__(gnutls_certificate_set_x509_system_trust) *certificate_set_x509_system_trust;
    __typeof__(gnutls_certificate_set_x509_trust_file) *certificate_set_x509_trust_file;
    __typeof__(gnutls_certificate_set_x509_key_file2) *certificate_set_x509_key_file2;
    __typeof__(gnutls_certificate_get_peers) *certificate_get_peers;
    __typeof__(gnutls_certificate_verification_status_print) *certificate_verification_status_print;
    __typeof__(gnutls_init) *init;
    __typeof__(gnutls_deinit) *deinit;
    __typeof__(gnutls_set_default_priority) *set_default_priority;
    __typeof__(gnutls_credentials_set) *credentials_set;
    __typeof__(gnutls_server_name_set) *server_name_set;
    __typeof__(gnutls_session_set_verify_cert) *session_set_verify_cert;
    __typeof__(gnutls_session_get_verify_cert_status) *session_get_verify_cert_status;
    __typeof__(gnutls_transport_set_ptr) *transport_set_ptr;
    __typeof__(gnutls_transport_set_pull_function) *transport_set_pull_function;
    __typeof__(gnutls_transport_set_pull_timeout_function) *transport_set_pull_timeout_function;
    __typeof__(gnutls_transport_set_vec_push_function) *transport_set_vec_push_function;
    __typeof__(gnutls_transport_set_errno) *transport_set_errno;
    __typeof__(gnutls_handshake) *handshake;
    __typeof__(gnutls_record_recv) *record_recv;
    __typeof__(gnutls_record_send) *record_send;
    __typeof__(gnutls_record_get_direction) *record_get_direction;
    __typeof__(gnutls_record_check_pending) *record_check_pending;
    __typeof__(gnutls_bye) *bye;
    __typeof__(gnutls_strerror) *strerror;
    __typeof__(gnutls_error_is_fatal) *error_is_fatal;
    __typeof__(gnutls_alert_get) *alert_get;
    __typeof__(gnutls_alert_get_name) *alert_get_name;
    __typeof__(gnutls_x509_crt_init) *x509_crt_init;
    __typeof__(gnutls_x509_crt_deinit) *x509_crt_deinit;
    __typeof__(gnutls_x509_crt_import) *x509_crt_import;
    __typeof__(gnutls_x509_crt_check_hostname2) *x509_crt_check_hostname2;
    __typeof__(gnutls_x509_crt_get_signature_algorithm) *x509_crt_get_signature_algorithm;
    __typeof__(gnutls_sign_get_hash_algorithm) *sign_get_hash_algorithm;
    __typeof__(gnutls_hash_get_len) *hash_get_len;
    __typeof__(gnutls_hash_fast) *hash_fast;
    gnutls_free_function *free_fn; /* gnutls_free is a variable */
} gt;
static pthread_once_t gt_once = PTHREAD_ONCE_INIT;
static int gt_ok;
static char gt_error[300];

static int gt_sym(void *h, const char *name, void **slot)
{
    void *f = dlsym(h, name);
    if (!f) {
        snprintf(gt_error, sizeof(gt_error), GNUTLS_LIB " has no %s", name);
        return 0;
    }
    memcpy(slot, &f, sizeof(f)); /* POSIX: a function pointer survives this */
    return 1;
}

#define GT_SYM(f) gt_sym(h, "gnutls_" #f, (void **)&gt.f)

static void gt_load(void)
{
    void *h = dlopen(GNUTLS_LIB, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(gt_error, sizeof(gt_error), "https needs " GNUTLS_LIB ": %s",
                 why ? why : "not found");
        return;
    }
    gt_ok =
        GT_SYM(certificate_allocate_credentials) && GT_SYM(certificate_free_credentials) &&
        GT_SYM(certificate_set_x509_system_trust) && GT_SYM(certificate_set_x509_trust_file) &&
        GT_SYM(certificate_set_x509_key_file2) && GT_SYM(certificate_get_peers) &&
        GT_SYM(certificate_verification_status_print) && GT_SYM(init) && GT_SYM(deinit) &&
        GT_SYM(set_default_priority) && GT_SYM(credentials_set) && GT_SYM(server_name_set) &&
        GT_SYM(session_set_verify_cert) && GT_SYM(session_get_verify_cert_status) &&
        GT_SYM(transport_set_ptr) && GT_SYM(transport_set_pull_function) &&
        GT_SYM(transport_set_pull_timeout_function) && GT_SYM(transport_set_vec_push_function) &&
        GT_SYM(transport_set_errno) && GT_SYM(handshake) && GT_SYM(record_recv) &&
        GT_SYM(record_send) && GT_SYM(record_get_direction) && GT_SYM(record_check_pending) &&
        GT_SYM(bye) && GT_SYM(strerror) && GT_SYM(error_is_fatal) && GT_SYM(alert_get) &&
        GT_SYM(alert_get_name) && GT_SYM(x509_crt_init) && GT_SYM(x509_crt_deinit) &&
        GT_SYM(x509_crt_import) && GT_SYM(x509_crt_check_hostname2) &&
        GT_SYM(x509_crt_get_signature_algorithm) && GT_SYM(sign_get_hash_algorithm) &&
        GT_SYM(hash_get_len) && GT_SYM(hash_fast) && gt_sym(h, "gnutls_free", (void **)&gt.free_fn);
    /* (h stays loaded: GnuTLS deinitialises itself at exit) */
}

/* ---- configuration ------------------------------------------------------ */

struct wsm_tls_config {
    pthread_mutex_t mu;
    int prepared; /* tried: status and error hold the outcome */
    enum wsm_err status;
    char error[400];
    int skip_ca_check, skip_cn_check;
    gnutls_certificate_credentials_t cred;
};

enum wsm_err wsm__tls_config_new(struct wsm_tls_config **out)
{
    struct wsm_tls_config *c = calloc(1, sizeof(*c));
    if (!c)
        return WSM_ERR_NOMEM;
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return WSM_OK;
}

void wsm__tls_config_free(struct wsm_tls_config *c)
{
    if (!c)
        return;
    if (c->cred)
        gt.certificate_free_credentials(c->cred);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Under c->mu, once. */
static void prepare(struct wsm_tls_config *c, const struct wsm_tls_opts *o)
{
    char *err = c->error;
    size_t errlen = sizeof(c->error);
    c->prepared = 1;
    c->status = WSM_ERR_HTTP;
    pthread_once(&gt_once, gt_load);
    if (!gt_ok) {
        snprintf(err, errlen, "%s", gt_error);
        return;
    }
    c->skip_ca_check = o->skip_ca_check;
    c->skip_cn_check = o->skip_cn_check;
    int r = gt.certificate_allocate_credentials(&c->cred);
    if (r < 0) {
        c->cred = NULL;
        snprintf(err, errlen, "TLS credentials: %s", gt.strerror(r));
        return;
    }
    /* Trust anchors only when they are used: the system store is about
     * 150 certificates to parse. */
    if (!o->skip_ca_check) {
        if (o->ca_file) {
            r = gt.certificate_set_x509_trust_file(c->cred, o->ca_file, GNUTLS_X509_FMT_PEM);
            if (r <= 0) {
                snprintf(err, errlen, "cannot use the CA file %s: %s", o->ca_file,
                         r < 0 ? gt.strerror(r) : "no PEM certificate in it");
                return;
            }
        } else {
            r = gt.certificate_set_x509_system_trust(c->cred);
            if (r < 0) {
                snprintf(err, errlen, "cannot load the system's trusted CAs: %s", gt.strerror(r));
                return;
            }
        }
    }
    if (o->cert_file) {
        const char *key = o->key_file ? o->key_file : o->cert_file;
        r = gt.certificate_set_x509_key_file2(c->cred, o->cert_file, key, GNUTLS_X509_FMT_PEM,
                                              o->key_password, 0);
        if (r < 0) {
            snprintf(err, errlen, "cannot use the client certificate %s with the key %s: %s",
                     o->cert_file, key, gt.strerror(r));
            return;
        }
    }
    c->status = WSM_OK;
    err[0] = '\0';
}

enum wsm_err wsm__tls_config_prepare(struct wsm_tls_config *c, const struct wsm_tls_opts *o,
                                     char *err, size_t errlen)
{
    pthread_mutex_lock(&c->mu);
    if (!c->prepared)
        prepare(c, o);
    enum wsm_err e = c->status;
    if (e && err && errlen)
        snprintf(err, errlen, "%s", c->error);
    pthread_mutex_unlock(&c->mu);
    return e;
}

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
                gt.transport_set_errno(t->s, errno);
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
        gt.transport_set_errno(t->s, errno);
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
        gt.transport_set_errno(t->s, errno);
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
    int r = gt.init(&t->s, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL | GNUTLS_NO_TICKETS);
    if (r < 0) {
        t->s = NULL;
        wsm__tls_free(t, 1);
        snprintf(err, errlen, "TLS: %s", gt.strerror(r));
        return WSM_ERR_HTTP;
    }
    if ((r = gt.set_default_priority(t->s)) >= 0 &&
        (r = gt.credentials_set(t->s, GNUTLS_CRD_CERTIFICATE, cfg->cred)) >= 0 && !is_address(host))
        r = gt.server_name_set(t->s, GNUTLS_NAME_DNS, host, strlen(host));
    if (r < 0) {
        snprintf(err, errlen, "TLS: %s", gt.strerror(r));
        wsm__tls_free(t, 1);
        return WSM_ERR_HTTP;
    }
    /* Checked in the handshake, which then fails with an alert to the
     * server (and before our certificate is sent, in TLS 1.3). */
    if (!cfg->skip_ca_check)
        gt.session_set_verify_cert(t->s, cfg->skip_cn_check ? NULL : t->host, 0);
    gt.transport_set_ptr(t->s, t);
    gt.transport_set_pull_function(t->s, t_pull);
    gt.transport_set_pull_timeout_function(t->s, t_pull_timeout);
    gt.transport_set_vec_push_function(t->s, t_push);
    *out = t;
    return WSM_OK;
}

void wsm__tls_free(struct wsm_tls *t, int quiet)
{
    if (!t)
        return;
    if (t->s) {
        if (!quiet && t->done && !t->broken)
            gt.bye(t->s, GNUTLS_SHUT_WR); /* one try: it does not wait */
        gt.deinit(t->s);
    }
    free(t->rbuf);
    free(t->host);
    free(t);
}

static int want(struct wsm_tls *t)
{
    return gt.record_get_direction(t->s) ? WSM_TLS_WANT_WRITE : WSM_TLS_WANT_READ;
}

/* GNUTLS_E_AGAIN does not always mean that the socket had nothing: after
 * a post-handshake message (a TLS 1.3 session ticket) GnuTLS returns it
 * at once, with the next records perhaps already in our read-ahead
 * buffer, where poll() cannot see them. Then the caller goes on at once. */
static int again_now(struct wsm_tls *t)
{
    return !gt.record_get_direction(t->s) && t->roff < t->rlen;
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
    int k = gt.certificate_verification_status_print(status, GNUTLS_CRT_X509, &d, 0);
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
        (*gt.free_fn)(d.data);
}

/* SkipCACheck without SkipCNCheck: the name alone, on the leaf. */
static int check_name(struct wsm_tls *t, char *err, size_t errlen)
{
    unsigned n = 0;
    const gnutls_datum_t *peers = gt.certificate_get_peers(t->s, &n);
    gnutls_x509_crt_t crt;
    if (!peers || !n) {
        snprintf(err, errlen, "the server sent no certificate");
        return 0;
    }
    if (gt.x509_crt_init(&crt) < 0)
        return 0;
    int ok = gt.x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) >= 0 &&
             gt.x509_crt_check_hostname2(crt, t->host, 0);
    gt.x509_crt_deinit(crt);
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
        r = gt.handshake(t->s);
    while (r == GNUTLS_E_INTERRUPTED || (r == GNUTLS_E_AGAIN && again_now(t)) ||
           (r < 0 && !gt.error_is_fatal(r) && r != GNUTLS_E_AGAIN));
    if (r == GNUTLS_E_AGAIN)
        return want(t);
    if (r < 0) {
        t->broken = 1;
        if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
            cert_error(t, gt.session_get_verify_cert_status(t->s), err, errlen);
        } else if (r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
            const char *a = gt.alert_get_name(gt.alert_get(t->s));
            snprintf(err, errlen, "the TLS handshake failed: the server sent the alert \"%s\"",
                     a ? a : "unknown");
        } else if (r == GNUTLS_E_PREMATURE_TERMINATION || r == GNUTLS_E_PULL_ERROR ||
                   r == GNUTLS_E_PUSH_ERROR) {
            snprintf(err, errlen, "the TLS handshake failed: the server closed the connection (%s)",
                     gt.strerror(r));
        } else {
            snprintf(err, errlen, "the TLS handshake failed: %s", gt.strerror(r));
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
        ssize_t k = gt.record_recv(t->s, p, n);
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
            if (!gt.error_is_fatal((int)k))
                continue;
            t->broken = 1;
            snprintf(err, errlen, "TLS: %s", gt.strerror((int)k));
            return WSM_ERR_HTTP;
        }
    }
}

int wsm__tls_send(struct wsm_tls *t, const char *p, size_t n, size_t *sent, char *err,
                  size_t errlen)
{
    *sent = 0;
    for (;;) {
        ssize_t k = gt.record_send(t->s, p, n);
        if (k >= 0) {
            *sent = (size_t)k;
            return WSM_OK;
        }
        if (k == GNUTLS_E_AGAIN)
            return want(t);
        if (k == GNUTLS_E_INTERRUPTED)
            continue;
        t->broken = 1;
        snprintf(err, errlen, "send: %s", gt.strerror((int)k));
        return WSM_ERR_HTTP;
    }
}

int wsm__tls_idle_ok(struct wsm_tls *t)
{
    char b[64];
    if (gt.record_check_pending(t->s))
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
        ssize_t k = gt.record_recv(t->s, b, sizeof(b));
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
    const gnutls_datum_t *peers = gt.certificate_get_peers(t->s, &n);
    gnutls_x509_crt_t crt;
    *out = NULL;
    *len = 0;
    if (!peers || !n)
        return WSM_ERR_NOT_FOUND;
    if (gt.x509_crt_init(&crt) < 0)
        return WSM_ERR_NOMEM;
    enum wsm_err e = WSM_ERR_NOT_FOUND;
    if (gt.x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) >= 0) {
        /* As wsmd computes it (src/daemon/negotiate.c). */
        int sign = gt.x509_crt_get_signature_algorithm(crt);
        gnutls_digest_algorithm_t dig =
            sign < 0 ? GNUTLS_DIG_UNKNOWN
                     : gt.sign_get_hash_algorithm((gnutls_sign_algorithm_t)sign);
        if (dig == GNUTLS_DIG_MD5 || dig == GNUTLS_DIG_SHA1)
            dig = GNUTLS_DIG_SHA256;
        size_t hl = dig == GNUTLS_DIG_UNKNOWN ? 0 : gt.hash_get_len(dig);
        size_t pl = sizeof(END_POINT_PREFIX) - 1;
        unsigned char *b = hl && hl <= 64 ? malloc(pl + hl) : NULL;
        if (hl && hl <= 64 && !b) {
            e = WSM_ERR_NOMEM;
        } else if (b) {
            memcpy(b, END_POINT_PREFIX, pl);
            if (gt.hash_fast(dig, peers[0].data, peers[0].size, b + pl) < 0) {
                free(b);
            } else {
                *out = b;
                *len = pl + hl;
                e = WSM_OK;
            }
        }
    }
    gt.x509_crt_deinit(crt);
    return e;
}
