/* libwsm client: sessions, and the HTTP exchange under every request.
 *
 * http:// and https:// go through http.c (sockets, a persistent
 * connection; https over a GnuTLS session of tls.c). Only when the
 * environment names a proxy does libcurl carry the requests; it is loaded
 * with dlopen() on first use, as GnuTLS is at the first https connection,
 * so that a program that only speaks http:// never maps either.
 * docs/internals/client-transport.md says why.
 *
 * This file: sessions and the checks of every reply; a connection's
 * exchange is in clientconn.c, Negotiate on it in clientgss.c.
 */
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

/* ---- sessions ------------------------------------------------------ */

/* Whether libcurl would send a request through a proxy named in the
 * environment: then libcurl does it, as before there was http.c. (Only
 * "no_proxy=*" is recognised here; libcurl applies the rest.) */
static int proxy_in_env(int https)
{
    static const char *const vars[] = {"all_proxy", "ALL_PROXY", "http_proxy", "https_proxy",
                                       "HTTPS_PROXY"};
    int any = 0;
    /* http_proxy (lower case only, as libcurl) for http://, https_proxy
     * or HTTPS_PROXY for https://, all_proxy for both. */
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        if (i >= 2 && (i == 2) == https)
            continue;
        const char *v = getenv(vars[i]);
        any |= v && *v;
    }
    const char *np = getenv("no_proxy");
    if (!np || !*np)
        np = getenv("NO_PROXY");
    return any && !(np && strcmp(np, "*") == 0);
}

static char *basic_header(const char *user, const char *password)
{
    size_t ul = strlen(user), pl = strlen(password);
    char *plain = malloc(ul + pl + 2);
    if (!plain)
        return NULL;
    memcpy(plain, user, ul);
    plain[ul] = ':';
    memcpy(plain + ul + 1, password, pl + 1);
    static const char pre[] = "Authorization: Basic ";
    size_t n64 = wsm__base64_enclen(ul + pl + 1);
    char *h = malloc(sizeof(pre) - 1 + n64 + 3);
    if (h) {
        memcpy(h, pre, sizeof(pre) - 1);
        wsm__base64_encode((const unsigned char *)plain, ul + pl + 1, h + sizeof(pre) - 1);
        memcpy(h + sizeof(pre) - 1 + n64, "\r\n", 3);
    }
    explicit_bzero(plain, ul + pl + 1);
    free(plain);
    return h;
}

enum wsm_err wsm_session_new(const struct wsm_session_opts *o, wsm_session **out)
{
    if (!o || !o->url || (int)o->auth < WSM_AUTH_BASIC || o->auth > WSM_AUTH_CERTIFICATE)
        return WSM_ERR_INVALID_ARG;
    if (o->auth == WSM_AUTH_BASIC && (!o->user || !o->password))
        return WSM_ERR_INVALID_ARG;
    wsm_session *s = calloc(1, sizeof(*s));
    if (!s)
        return WSM_ERR_NOMEM;
    s->auth = o->auth;
    s->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 60000;
    s->max_envelope = WSM_DEFAULT_MAX_ENVELOPE;
    s->operation_timeout_ms = WSM_DEFAULT_OPERATION_TIMEOUT_MS;
    /* "http://host:5985" means "http://host:5985/wsman", as in WinRM. */
    const char *scheme_end = strstr(o->url, "://");
    const char *path = scheme_end ? strchr(scheme_end + 3, '/') : NULL;
    size_t ul = strlen(o->url);
    s->url = malloc(ul + 8);
    if (!s->url) {
        free(s);
        return WSM_ERR_NOMEM;
    }
    snprintf(s->url, ul + 8, "%s%s", o->url, path ? "" : "/wsman");
    int https = 0;
    enum wsm_err e = wsm__http_target_parse(s->url, &https, &s->target);
    if (e) {
        wsm_session_free(s);
        return e;
    }
    s->https = https;
    s->use_curl = proxy_in_env(https);
    if (https && !s->use_curl && wsm__tls_config_new(&s->tls)) {
        wsm_session_free(s);
        return WSM_ERR_NOMEM;
    }
    s->user = o->user ? strdup(o->user) : NULL;
    s->password = o->password ? strdup(o->password) : NULL;
    if (s->auth == WSM_AUTH_BASIC && s->user && s->password)
        s->auth_header = basic_header(s->user, s->password);
    if (wsm__is_gss_auth(s->auth)) {
        enum wsm_gss_kind k = s->auth == WSM_AUTH_NTLM       ? WSM_GSS_NTLM
                              : s->auth == WSM_AUTH_KERBEROS ? WSM_GSS_KERBEROS
                                                             : WSM_GSS_SPNEGO;
        e = wsm__gss_cred_new(k, o->user, o->password, s->target.host, NULL, &s->gss);
        if (e) {
            wsm_session_free(s);
            return e;
        }
    }
    if ((o->user && !s->user) || (o->password && !s->password) ||
        (s->auth == WSM_AUTH_BASIC && !s->auth_header) || wsm__conn_new(s, &s->conn)) {
        wsm_session_free(s);
        return WSM_ERR_NOMEM;
    }
    *out = s;
    return WSM_OK;
}

void wsm_session_free(wsm_session *s)
{
    if (!s)
        return;
    wsm__conn_free(s->conn);
    wsm__tls_config_free(s->tls);
    if (s->password) {
        explicit_bzero(s->password, strlen(s->password));
        free(s->password);
    }
    if (s->auth_header) {
        explicit_bzero(s->auth_header, strlen(s->auth_header));
        free(s->auth_header);
    }
    wsm__http_target_free(&s->target);
    wsm__gss_cred_free(s->gss);
    free(s->cert_file);
    free(s->key_file);
    free(s->ca_file);
    free(s->user);
    free(s->url);
    free(s);
}

const char *wsm_session_error(const wsm_session *s)
{
    return s ? s->error : "";
}

unsigned long wsm_session_fault_code(const wsm_session *s)
{
    return s ? s->fault_code : 0;
}

void wsm__session_errorf(wsm_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error, sizeof(s->error), fmt, ap);
    va_end(ap);
}

enum wsm_err wsm_session_set(wsm_session *s, const char *name, long value)
{
    if (!s || !name)
        return WSM_ERR_INVALID_ARG;
    if (!strcasecmp(name, "MaxEnvelopeSize")) {
        /* At least what any envelope of ours needs; Windows' minimum is 8192. */
        if (value < 8192)
            return WSM_ERR_INVALID_ARG;
        s->max_envelope = (size_t)value;
    } else if (!strcasecmp(name, "OperationTimeout")) {
        if (value <= 0 || value > 2147483647L)
            return WSM_ERR_INVALID_ARG;
        s->operation_timeout_ms = value;
    } else if (!strcasecmp(name, "SkipCACheck")) {
        s->skip_ca_check = value != 0;
    } else if (!strcasecmp(name, "SkipCNCheck")) {
        s->skip_cn_check = value != 0;
    } else if (!strcasecmp(name, "ReceiveAhead")) {
        s->receive_ahead = value != 0;
    } else if (!strcasecmp(name, "AllowUnencrypted")) {
        s->allow_unencrypted = value != 0;
    } else {
        return WSM_ERR_INVALID_ARG;
    }
    return WSM_OK;
}

enum wsm_err wsm_session_set_string(wsm_session *s, const char *name, const char *value)
{
    if (!s || !name)
        return WSM_ERR_INVALID_ARG;
    if (!strcasecmp(name, "SPN")) {
        if (!value || !*value)
            return WSM_ERR_INVALID_ARG;
        /* Only Negotiate, NTLM and Kerberos have a target name: for other
         * sessions it is accepted and has no effect. */
        return s->gss ? wsm__gss_cred_set_spn(s->gss, value) : WSM_OK;
    }
    char **slot = !strcasecmp(name, "CertificateFile") ? &s->cert_file
                  : !strcasecmp(name, "KeyFile")       ? &s->key_file
                  : !strcasecmp(name, "CAFile")        ? &s->ca_file
                                                       : NULL;
    if (!slot || (value && !*value))
        return WSM_ERR_INVALID_ARG;
    char *v = value ? strdup(value) : NULL;
    if (value && !v)
        return WSM_ERR_NOMEM;
    free(*slot);
    *slot = v;
    return WSM_OK;
}

/* Reads the fault's text, code and subcode into the session. */
static void read_fault(wsm_session *s, struct wsm_envelope *env, long status)
{
    xmlNodePtr f = wsm__xml_child(env->body, WSM_NS_SOAP, "Fault");
    if (!f) {
        wsm__session_errorf(s, "HTTP %ld", status);
        return;
    }
    xmlNodePtr code = wsm__xml_child(f, WSM_NS_SOAP, "Code");
    xmlNodePtr sub = wsm__xml_child(code, WSM_NS_SOAP, "Subcode");
    xmlNodePtr subval = wsm__xml_child(sub, WSM_NS_SOAP, "Value");
    const char *sv = subval ? wsm__xml_text(&env->arena, subval, 1) : NULL;
    if (sv) {
        const char *colon = strrchr(sv, ':');
        snprintf(s->fault_subcode, sizeof(s->fault_subcode), "%s", colon ? colon + 1 : sv);
    }
    xmlNodePtr reason = wsm__xml_child(f, WSM_NS_SOAP, "Reason");
    xmlNodePtr text = wsm__xml_child(reason, WSM_NS_SOAP, "Text");
    xmlNodePtr detail = wsm__xml_child(f, WSM_NS_SOAP, "Detail");
    xmlNodePtr wf = wsm__xml_child(detail, WSM_NS_FAULT, "WSManFault");
    const char *wcode = wf ? wsm__xml_attr(wf, "Code") : NULL;
    if (wcode)
        s->fault_code = strtoul(wcode, NULL, 10);
    const char *msg = text ? wsm__xml_text(&env->arena, text, 1) : NULL;
    if (!msg || !*msg) {
        /* Windows also puts the text in f:WSManFault/f:Message. */
        xmlNodePtr m = wsm__xml_child(wf, WSM_NS_FAULT, "Message");
        msg = m ? wsm__xml_text(&env->arena, m, 1) : NULL;
    }
    wsm__session_errorf(s, "fault %lu: %s", s->fault_code, msg ? msg : "");
}

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
        wsm__session_errorf(s, "HTTP %ld with no valid SOAP reply", status);
        return status == 200 ? e : WSM_ERR_HTTP;
    }
    int fault = status != 200 || wsm__xml_child(reply->body, WSM_NS_SOAP, "Fault");
    if (message_id && (reply->relates_to || !fault) && !same_id(reply->relates_to, message_id)) {
        wsm__session_errorf(s, "the reply's RelatesTo (%s) is not the request's MessageID",
                            reply->relates_to ? reply->relates_to : "missing");
        wsm__envelope_free(reply);
        return WSM_ERR_BAD_HEADER;
    }
    if (fault) {
        read_fault(s, reply, status);
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

    s->error[0] = '\0';
    s->fault_code = 0;
    s->fault_subcode[0] = '\0';
    if (len > (size_t)0x7fffffff)
        return WSM_ERR_INVALID_ARG;
    wsm__buf_init(&resp, wsm__reply_cap(s));
    enum wsm_err e = wsm__conn_post(s, s->conn, body, len, anonymous, &resp, &status, s->error,
                                    sizeof(s->error));
    if (!e)
        e = wsm__reply_check(s, resp.data, resp.len, status, message_id, env);
    if (!e && raw)
        *raw = wsm__buf_steal(&resp, NULL);
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
    xmlNodePtr r = wsm__xml_child(env->body, WSM_NS_IDENTITY, "IdentifyResponse");
    if (!r) {
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
