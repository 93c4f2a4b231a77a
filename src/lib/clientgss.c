/* libwsm client, Negotiate (NTLM, Kerberos) on a connection: the
 * handshake, the 401 answers that end it, and sealed bodies. */
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "buf.h"
#include "client_internal.h"
#include "envelope.h"
#include "gss_client.h"
#include "http.h"
#include "ns.h"
#include "tls.h"
#include "wsm/wsm.h"
#include "client_conn.h"
#include "wwwauth.h"

int wsm__is_gss_auth(enum wsm_auth a)
{
    return a == WSM_AUTH_NEGOTIATE || a == WSM_AUTH_NTLM || a == WSM_AUTH_KERBEROS;
}

static void gss_reset(struct wsm_conn *c)
{
    wsm__gss_ctx_free(c->gss);
    c->gss = NULL;
    c->gss_gen = 0;
}

/* Whether the connection authenticated by the handshake is still there:
 * libcurl's reuse (proxies) is not visible, a 401 tells instead. */
static int gss_conn_lost(const wsm_session *s, struct wsm_conn *c)
{
    return !s->use_curl && (c->http.fd < 0 || c->http.gen != c->gss_gen);
}

static enum wsm_err denied(const char *scheme, const struct wsm_http_headers *h, char *err,
                           size_t errlen)
{
    unsigned char *t = NULL;
    size_t tl = 0;
    enum wsm_err f = wsm__www_token(h->www, scheme, &t, &tl);
    free(t);
    if (f == WSM_ERR_NOT_FOUND) {
        char offered[128];
        wsm__www_schemes(h->www, offered, sizeof(offered));
        snprintf(err, errlen, "access denied (HTTP 401): the server does not offer %s%s%s%s",
                 scheme, *offered ? " (it offers " : "", offered, *offered ? ")" : "");
    } else {
        snprintf(err, errlen, "access denied (HTTP 401)");
    }
    return WSM_ERR_AUTH;
}

/* The handshake on c: legs with empty bodies until the server answers
 * 200 (pywinrm's way, which lets the first message be sealed). On WSM_OK,
 * c->gss is established, or *status is a status other than 200/401 the
 * caller passes on (resp holds that body). */
static enum wsm_err gss_handshake(const wsm_session *s, struct wsm_conn *c, struct wsm_buf *resp,
                                  long *status, char *err, size_t errlen)
{
    const char *scheme = wsm__gss_scheme(s->gss);
    gss_reset(c);
    enum wsm_err e = wsm__gss_ctx_new(s->gss, &c->gss, err, errlen);
    if (e)
        return e;
    /* https: the handshake is bound to the TLS connection (RFC 5929
     * tls-server-end-point), so that connection comes first and the first
     * leg may only go on it. */
    unsigned long first_gen = 0;
    if (s->https && !s->use_curl) {
        unsigned char *cb = NULL;
        size_t cbl = 0;
        e = wsm__conn_tls_ready(s, c, err, errlen);
        if (!e)
            e = wsm__http_connect(&c->http, s->timeout_ms, err, errlen);
        if (!e) {
            first_gen = c->http.gen;
            e = wsm__tls_end_point(c->http.tls, &cb, &cbl);
            if (e == WSM_ERR_NOT_FOUND)
                e = WSM_OK; /* no binding defined for the certificate: none sent */
            else if (!e)
                e = wsm__gss_ctx_set_bindings(c->gss, cb, cbl);
            free(cb);
        }
        if (e) {
            gss_reset(c);
            return e;
        }
    }
    unsigned char *in = NULL;
    size_t inlen = 0;
    for (int leg = 0;; leg++) {
        char *authz = NULL;
        int done = 0;
        e = wsm__gss_step(c->gss, in, inlen, &authz, &done, err, errlen);
        free(in);
        in = NULL;
        inlen = 0;
        if (e)
            break;
        if (!authz) {
            if (done)
                return WSM_OK;
            snprintf(err, errlen, "the handshake stalled");
            e = WSM_ERR_AUTH;
            break;
        }
        struct xfer x = {.body = "",
                         .len = 0,
                         .authz = authz,
                         .bound_gen = leg ? c->gss_gen : first_gen,
                         .hdrs = c->hdrs};
        wsm__buf_reset(resp);
        e = wsm__conn_raw_post(s, c, &x, resp, status, err, errlen);
        explicit_bzero(authz, strlen(authz));
        free(authz);
        if (e)
            break;
        if (leg == 0)
            c->gss_gen = c->http.gen;
        if (*status != 401 && *status != 200)
            return WSM_OK; /* the caller reports it */
        e = wsm__www_token(c->hdrs->www, scheme, &in, &inlen);
        if (e == WSM_ERR_NOMEM)
            break;
        if (*status == 401) {
            if (e || !inlen || done) {
                e = denied(scheme, c->hdrs, err, errlen);
                break;
            }
            continue;
        }
        /* 200: authenticated. A final token (SPNEGO's, Kerberos' mutual
         * authentication) completes our side. */
        if (e == WSM_ERR_NOT_FOUND)
            e = WSM_OK; /* no final token */
        if (e) {
            snprintf(err, errlen, "the server's final %s token is malformed", scheme);
            e = WSM_ERR_AUTH;
            break;
        }
        if (inlen) {
            e = wsm__gss_step(c->gss, in, inlen, &authz, &done, err, errlen);
            free(in);
            in = NULL;
            if (!e && authz) {
                free(authz);
                snprintf(err, errlen, "the server accepted before the handshake ended");
                e = WSM_ERR_AUTH;
            }
            if (e)
                break;
        }
        if (!done) {
            snprintf(err, errlen, "the server accepted before the handshake ended");
            e = WSM_ERR_AUTH;
            break;
        }
        return WSM_OK;
    }
    free(in);
    gss_reset(c);
    return e;
}

/* A request with Negotiate: the connection's handshake first if it has
 * none (or lost it), then the body -- sealed over http:// unless
 * AllowUnencrypted -- without Authorization; the reply unsealed. Once
 * more from the handshake if the authenticated connection went away or
 * the server no longer knows it (401). */
static enum wsm_err gss_post(const wsm_session *s, struct wsm_conn *c, const char *body, size_t len,
                             struct wsm_buf *resp, long *status, char *err, size_t errlen,
                             const struct wsm_arrived *arrived)
{
    int seal = !s->https && !s->allow_unencrypted;
    enum wsm_err e = WSM_OK;
    if (!c->hdrs && !(c->hdrs = calloc(1, sizeof(*c->hdrs))))
        return WSM_ERR_NOMEM;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (c->gss && gss_conn_lost(s, c))
            gss_reset(c);
        if (!c->gss) {
            e = gss_handshake(s, c, resp, status, err, errlen);
            if (e && !s->use_curl && c->http.lost && attempt == 0)
                continue; /* the connection closed between two legs */
            if (e || *status != 200)
                return e;
        }
        struct wsm_buf sealed;
        wsm__buf_init(&sealed, 0);
        struct xfer x = {.body = body, .len = len, .bound_gen = c->gss_gen, .hdrs = c->hdrs};
        if (seal && len) {
            if (!wsm__gss_can_seal(c->gss)) {
                snprintf(err, errlen,
                         "the security context cannot encrypt messages: use https "
                         "or allow unencrypted messages");
                return WSM_ERR_AUTH;
            }
            e = wsm__gss_seal(c->gss, body, len, &sealed, &x.content_type, err, errlen);
            if (e) {
                wsm__buf_free(&sealed);
                gss_reset(c);
                return e;
            }
            x.body = sealed.data;
            x.len = sealed.len;
        }
        wsm__buf_reset(resp);
        e = wsm__conn_raw_post(s, c, &x, resp, status, err, errlen);
        wsm__buf_free(&sealed);
        if (e) {
            int again = !s->use_curl && c->http.lost && attempt == 0;
            gss_reset(c);
            if (again)
                continue;
            return e;
        }
        if (*status == 401) {
            gss_reset(c);
            if (attempt == 0)
                continue;
            return denied(wsm__gss_scheme(s->gss), c->hdrs, err, errlen);
        }
        if (arrived)
            arrived->fn(arrived->ud, *status, resp->len);
        if (!seal)
            return WSM_OK;
        struct wsm_buf plain;
        wsm__buf_init(&plain, resp->cap);
        e = wsm__gss_unseal(c->gss, c->hdrs->content_type, (const unsigned char *)resp->data,
                            resp->len, &plain, err, errlen);
        if (e == WSM_ERR_NOT_FOUND) {
            /* Not sealed: only an empty or failed reply may be. */
            wsm__buf_free(&plain);
            if (*status == 200 && resp->len) {
                snprintf(err, errlen, "the reply is not encrypted");
                gss_reset(c);
                return WSM_ERR_AUTH;
            }
            return WSM_OK;
        }
        if (e) {
            wsm__buf_free(&plain);
            gss_reset(c); /* its sequence numbers are out of step now */
            return e;
        }
        wsm__buf_free(resp);
        *resp = plain;
        return WSM_OK;
    }
    return e;
}

int wsm__session_seals(const wsm_session *s)
{
    return wsm__is_gss_auth(s->auth) && !s->https && !s->allow_unencrypted;
}

enum wsm_err wsm__conn_post(const wsm_session *s, struct wsm_conn *c, const char *body, size_t len,
                            int anonymous, struct wsm_buf *resp, long *status, char *err,
                            size_t errlen)
{
    return wsm__conn_post_notify(s, c, body, len, anonymous, resp, status, err, errlen, NULL);
}

enum wsm_err wsm__conn_post_notify(const wsm_session *s, struct wsm_conn *c, const char *body,
                                   size_t len, int anonymous, struct wsm_buf *resp, long *status,
                                   char *err, size_t errlen, const struct wsm_arrived *arrived)
{
    *status = 0;
    if (len > (size_t)0x7fffffff)
        return WSM_ERR_INVALID_ARG;
    if (!anonymous && wsm__is_gss_auth(s->auth))
        return gss_post(s, c, body, len, resp, status, err, errlen, arrived);
    if (!anonymous && s->auth == WSM_AUTH_CERTIFICATE && (!s->https || !s->cert_file)) {
        snprintf(err, errlen, "certificate authentication needs %s",
                 s->https ? "a certificate (CertificateFile)" : "https");
        return WSM_ERR_INVALID_ARG;
    }
    struct xfer x = {.body = body, .len = len, .anonymous = anonymous};
    enum wsm_err e = wsm__conn_raw_post(s, c, &x, resp, status, err, errlen);
    if (!e && arrived)
        arrived->fn(arrived->ud, *status, resp->len);
    return e;
}
