/* libwsm client: a request with Negotiate, NTLM or Kerberos on one
 * connection: the handshake (its legs as empty POSTs, bound to the TLS
 * connection over https), then the body sealed over http:// unless
 * AllowUnencrypted, and the reply unsealed; once more after a lost
 * connection or a 401, and once without the tabs OMI refuses. The
 * mechanism itself (GSSAPI, the sealing format) is gss_client.c's; this
 * file drives it over client.c's exchange (wsm__conn_raw_post).
 * docs/internals/client-transport.md, "Authentication".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "client_internal.h"
#include "client_priv.h"
#include "gss_client.h"
#include "http.h"
#include "tls.h"
#include "wsm/wsm.h"
#include "wwwauth.h"

int wsm__auth_is_gss(enum wsm_auth a)
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

static enum wsm_err denied(const char *scheme, enum wsm_auth auth, const struct wsm_http_headers *h,
                           char *err, size_t errlen)
{
    unsigned char *t = NULL;
    size_t tl = 0;
    enum wsm_err f = wsm__www_token(h->www, scheme, &t, &tl);
    free(t);
    if (f == WSM_ERR_NOT_FOUND) {
        char offered[128];
        wsm__www_schemes(h->www, offered, sizeof(offered));
        /* -a:ntlm speaks the Negotiate scheme: both names are said. */
        int ntlm = auth == WSM_AUTH_NTLM;
        snprintf(err, errlen, "the server does not offer %s%s authentication (HTTP 401)%s%s",
                 ntlm ? "NTLM under " : "", scheme, *offered ? "; it offers: " : "", offered);
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
                e = denied(scheme, s->auth, c->hdrs, err, errlen);
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

static const char *gss_name(enum wsm_auth a)
{
    return a == WSM_AUTH_NTLM ? "NTLM" : a == WSM_AUTH_KERBEROS ? "Kerberos" : "Negotiate";
}

/* A request with Negotiate: the connection's handshake first if it has
 * none (or lost it), then the body -- sealed over http:// unless
 * AllowUnencrypted -- without Authorization; the reply unsealed. Once
 * more from the handshake if the authenticated connection went away or
 * the server no longer knows it (401).
 *
 * A server that accepts the handshake and then closes the connection on
 * the first sealed request made on it is OMI 1.9.1 refusing the tab
 * before the MIME part headers: once more without the tabs, and if that
 * is answered the server (host:port) is remembered for the process. If
 * it drops that one too, the error says so and names the ways out. */
enum wsm_err wsm__conn_gss_post(const wsm_session *s, struct wsm_conn *c, const char *body,
                                size_t len, struct wsm_buf *resp, long *status, char *err,
                                size_t errlen, const struct wsm_arrived *arrived)
{
    int seal = !s->https && !s->allow_unencrypted;
    enum wsm_err e = WSM_OK;
    int retried = 0;   /* the one ordinary retry (a lost connection, a 401) */
    int tab_tried = 0; /* the retry without tabs was made */
    int no_tab = seal && wsm__quirk_no_tab(&s->target);
    if (!c->hdrs && !(c->hdrs = calloc(1, sizeof(*c->hdrs))))
        return WSM_ERR_NOMEM;
    for (;;) {
        int fresh = 0; /* authenticated by this call, for this request */
        if (c->gss && gss_conn_lost(s, c))
            gss_reset(c);
        if (!c->gss) {
            e = gss_handshake(s, c, resp, status, err, errlen);
            if (e && !s->use_curl && c->http.lost && !retried) {
                retried = 1;
                continue; /* the connection closed between two legs */
            }
            if (e || *status != 200)
                return e;
            fresh = 1;
        }
        wsm__gss_ctx_set_no_tab(c->gss, no_tab);
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
            int lost = !s->use_curl && c->http.lost;
            gss_reset(c);
            if (lost && fresh && seal && len && !no_tab && !tab_tried) {
                tab_tried = no_tab = 1;
                continue;
            }
            if (lost && !fresh && !retried) {
                retried = 1;
                continue;
            }
            if (lost && fresh && seal && len)
                snprintf(err, errlen,
                         "the server accepted the %s authentication, then closed the connection "
                         "instead of answering: it dropped the encrypted request (WinRM message "
                         "encryption%s). On a trusted network try -unencrypted (the service "
                         "must allow unencrypted messages), or use https",
                         gss_name(s->auth), tab_tried ? ", with and without tabs" : "");
            return e;
        }
        if (*status == 401) {
            gss_reset(c);
            if (!retried) {
                retried = 1;
                continue;
            }
            return denied(wsm__gss_scheme(s->gss), s->auth, c->hdrs, err, errlen);
        }
        if (tab_tried)
            wsm__quirk_set_no_tab(&s->target);
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
}
