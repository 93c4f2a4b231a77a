/* libwsm client: the HTTP exchange under every request.
 *
 * http:// and https:// go through http.c (sockets, a persistent
 * connection; https over a GnuTLS session of tls.c). Only when the
 * environment names a proxy does libcurl carry the requests
 * (client_curl.c); it is loaded with dlopen() on first use, as GnuTLS is
 * at the first https connection, so that a program that only speaks
 * http:// never maps either. Negotiate, NTLM and Kerberos add a handshake
 * and sealed bodies on top (client_gss.c). This file has the connections,
 * one exchange over either carrier, and wsm__post: a request sent and its
 * reply checked (faults, RelatesTo), with Identify, the one operation
 * that is not about a resource. Sessions and their options are in
 * client_session.c. docs/internals/client-transport.md says why.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "client_internal.h"
#include "client_priv.h"
#include "envelope.h"
#include "gss_client.h"
#include "http.h"
#include "ns.h"
#include "tls.h"
#include "wsm/wsm.h"

/* ---- connections --------------------------------------------------- */

enum wsm_err wsm__conn_new(const wsm_session *s, struct wsm_conn **out)
{
    struct wsm_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return WSM_ERR_NOMEM;
    wsm__http_conn_init(&c->http, &s->target);
    *out = c;
    return WSM_OK;
}

void wsm__conn_free(struct wsm_conn *c)
{
    if (!c)
        return;
    if (c->curl)
        wsm__curl_cleanup(c->curl);
    wsm__http_conn_close(&c->http);
    wsm__gss_ctx_free(c->gss);
    free(c->hdrs);
    free(c);
}

void wsm__session_idle(wsm_session *s)
{
    if (s && s->conn)
        wsm__http_conn_idle(&s->conn->http);
}

void wsm__conn_abort(struct wsm_conn *c)
{
    __atomic_store_n(&c->aborted, 1, __ATOMIC_SEQ_CST);
    wsm__http_conn_abort(&c->http);
}

/* The server may hold a request up to OperationTimeout (Receive): the
 * whole exchange may take that long and a little more. */
long wsm__request_timeout_ms(const wsm_session *s)
{
    long tmo = s->timeout_ms;
    if (s->operation_timeout_ms > tmo)
        tmo = s->operation_timeout_ms;
    return tmo + 5000;
}

/* https through http.c: the session's TLS settings, made once (the first
 * connection of any of its threads), on c's connection. */
enum wsm_err wsm__conn_tls_ready(const wsm_session *s, struct wsm_conn *c, char *err, size_t errlen)
{
    if (c->http.tls_cfg)
        return WSM_OK;
    struct wsm_tls_opts o = {.ca_file = s->ca_file,
                             .skip_ca_check = s->skip_ca_check,
                             .skip_cn_check = s->skip_cn_check,
                             .cert_file = s->cert_file,
                             .key_file = s->key_file,
                             .key_password = s->auth == WSM_AUTH_CERTIFICATE ? s->password : NULL};
    enum wsm_err e = wsm__tls_config_prepare(s->tls, &o, err, errlen);
    if (!e)
        c->http.tls_cfg = s->tls;
    return e;
}

/* One exchange over http.c or libcurl, with the session's Basic or
 * certificate credentials or x's Authorization line. */
enum wsm_err wsm__conn_raw_post(const wsm_session *s, struct wsm_conn *c, const struct xfer *x,
                                struct wsm_buf *resp, long *status, char *err, size_t errlen)
{
    if (s->use_curl)
        return wsm__conn_curl_post(s, c, x, resp, status, err, errlen);
    if (s->https) {
        enum wsm_err e = wsm__conn_tls_ready(s, c, err, errlen);
        if (e)
            return e;
    }
    const char *hdrs = NULL;
    if (x->anonymous)
        hdrs = "WSMANIDENTIFY: unauthenticated\r\n";
    else if (x->authz)
        hdrs = x->authz;
    else if (s->auth == WSM_AUTH_BASIC)
        hdrs = s->auth_header;
    else if (s->auth == WSM_AUTH_CERTIFICATE)
        hdrs = CERT_AUTH_HEADER "\r\n";
    /* The caller's own header lines (wsm__session_set_body_format: an
     * event source's Content-Encoding) after the authentication's. */
    char both[1024];
    if (s->extra_headers && x->len) {
        if ((size_t)snprintf(both, sizeof(both), "%s%s", hdrs ? hdrs : "", s->extra_headers) >=
            sizeof(both)) {
            snprintf(err, errlen, "request headers too long");
            return WSM_ERR_INVALID_ARG;
        }
        hdrs = both;
    }
    const char *ctype = x->content_type ? x->content_type : s->body_type;
    struct wsm_http_request rq = {.headers = hdrs,
                                  .body = x->body,
                                  .len = x->len,
                                  .timeout_ms = wsm__request_timeout_ms(s),
                                  .connect_timeout_ms = s->timeout_ms,
                                  .content_type = ctype,
                                  .bound_gen = x->bound_gen,
                                  .headers_out = x->hdrs};
    return wsm__http_post(&c->http, &rq, resp, status, err, errlen);
}

int wsm__session_seals(const wsm_session *s)
{
    return wsm__auth_is_gss(s->auth) && !s->https && !s->allow_unencrypted;
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
    if (!anonymous && wsm__auth_is_gss(s->auth))
        return wsm__conn_gss_post(s, c, body, len, resp, status, err, errlen, arrived);
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

/* ---- requests and replies ------------------------------------------ */

/* WS-Addressing compares URIs as strings; UUIDs are case-insensitive. */
static int same_id(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

size_t wsm__reply_cap(const wsm_session *s)
{
    /* A reply is at most MaxEnvelopeSize (we allow some slack for HTTP
     * framing quirks); never less than the historical 64 MiB cap. */
    size_t cap = 64u * 1024 * 1024;
    if (s->max_envelope > cap - 65536)
        cap = s->max_envelope + 65536;
    return cap;
}

enum wsm_err wsm__reply_check(wsm_session *s, const char *data, size_t len, long status,
                              const char *message_id, struct wsm_envelope **env)
{
    if (status == 401) {
        wsm__session_errorf(s, "access denied (HTTP 401)");
        return WSM_ERR_AUTH;
    }
    struct wsm_limits lim = {.max_size = len > wsm__reply_cap(s) ? len : wsm__reply_cap(s),
                             .response = 1};
    struct wsm_envelope *reply = NULL;
    enum wsm_err e = len ? wsm__envelope_parse(data, len, &lim, &reply, NULL, 0) : WSM_ERR_NOT_SOAP;
    if (e) {
        wsm__session_keep_reply(s, data, len);
        wsm__session_errorf(s, "HTTP %ld with no valid SOAP reply", status);
        return status == 200 ? e : WSM_ERR_HTTP;
    }
    int fault = status != 200 || wsm__xml_child(reply->body, WSM_NS_SOAP, "Fault");
    if (message_id && (reply->relates_to || !fault) && !same_id(reply->relates_to, message_id)) {
        wsm__session_errorf(s, "the reply's RelatesTo (%s) is not the request's MessageID",
                            reply->relates_to ? reply->relates_to : "missing");
        wsm__session_keep_reply(s, data, len);
        wsm__envelope_free(reply);
        return WSM_ERR_BAD_HEADER;
    }
    if (fault) {
        wsm__session_keep_reply(s, data, len);
        wsm__fault_read(s, reply, status);
        wsm__envelope_free(reply);
        return WSM_ERR_FAULT;
    }
    *env = reply;
    return WSM_OK;
}

enum wsm_err wsm__post(wsm_session *s, const char *body, size_t len, int anonymous,
                       const char *message_id, struct wsm_envelope **env, char **raw)
{
    struct wsm_buf resp;
    long status = 0;

    wsm__session_forget_errors(s);
    if (len > (size_t)0x7fffffff)
        return WSM_ERR_INVALID_ARG;
    wsm__buf_init(&resp, wsm__reply_cap(s));
    enum wsm_err e = wsm__conn_post(s, s->conn, body, len, anonymous, &resp, &status, s->error,
                                    sizeof(s->error));
    if (!e)
        e = wsm__reply_check(s, resp.data, resp.len, status, message_id, env);
    if (!e && raw) {
        *raw = wsm__buf_steal(&resp, NULL);
    } else if (!e) {
        /* Kept, not copied, until the next call: a caller that finds the
         * reply's content unusable can still show it (wsm_session_reply). */
        s->last_reply = wsm__buf_steal(&resp, &s->last_reply_len);
    }
    wsm__buf_free(&resp);
    return e;
}

enum wsm_err wsm__post_built(wsm_session *s, struct wsm_buf *b, enum wsm_err built,
                             const char *message_id, struct wsm_envelope **env)
{
    enum wsm_err e = built;
    if (e)
        wsm__session_errorf(s, "cannot build the request: %s", wsm_strerror(e));
    else
        e = wsm__post(s, b->data, b->len, 0, message_id, env, NULL);
    wsm__buf_free(b);
    return e;
}

enum wsm_err wsm_identify(wsm_session *s, struct wsm_identity *out, char **xml)
{
    static const char req[] =
        "<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\" xmlns:wsmid=\"" WSM_NS_IDENTITY
        "\"><s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>";
    struct wsm_envelope *env = NULL;
    if (!s || !out)
        return WSM_ERR_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    enum wsm_err e = wsm__post(s, req, sizeof(req) - 1, s->auth == WSM_AUTH_NONE, NULL, &env, xml);
    if (e)
        return e;
    /* DSP0226 puts IdentifyResponse in wsmid:, OMI in the SOAP envelope's
     * namespace (its children in wsmid:): the element is read by its
     * local name, the first one in the Body. */
    xmlNodePtr r = env->body ? env->body->children : NULL;
    while (r && r->type != XML_ELEMENT_NODE)
        r = r->next;
    if (r && strcmp((const char *)r->name, "IdentifyResponse"))
        r = NULL;
    if (!r) {
        if (xml && *xml)
            wsm__session_keep_reply(s, *xml, strlen(*xml));
        wsm__session_errorf(s, "the reply is not an IdentifyResponse");
        wsm__envelope_free(env);
        if (xml) {
            free(*xml);
            *xml = NULL;
        }
        return WSM_ERR_NOT_SOAP;
    }
    static const char *const names[] = {"ProtocolVersion", "ProductVendor", "ProductVersion"};
    char **slots[] = {&out->protocol_version, &out->product_vendor, &out->product_version};
    for (int i = 0; i < 3; i++) {
        xmlNodePtr n = wsm__xml_child(r, WSM_NS_IDENTITY, names[i]);
        for (xmlNodePtr c = r->children; !n && c; c = c->next)
            if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, names[i]))
                n = c; /* in another namespace */
        const char *t = n ? wsm__xml_text(&env->arena, n, 1) : NULL;
        *slots[i] = t ? strdup(t) : NULL;
    }
    wsm__envelope_free(env);
    return WSM_OK;
}

void wsm_identity_clear(struct wsm_identity *id)
{
    if (!id)
        return;
    free(id->protocol_version);
    free(id->product_vendor);
    free(id->product_version);
    memset(id, 0, sizeof(*id));
}
