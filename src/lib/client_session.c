/* libwsm client: sessions. wsm_session_new reads the URL (http:// or
 * https://, /wsman added when there is no path), chooses the carrier (a
 * proxy in the environment: libcurl), prepares the credentials (Basic's
 * header, GSSAPI's, the TLS settings made at the first connection) and
 * the session's own connection; wsm_session_set and _set_string change
 * its options, and the error accessors read what the last call left.
 * The requests themselves go through client.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "client_internal.h"
#include "gss_client.h"
#include "http.h"
#include "tls.h"
#include "wsm/wsm.h"

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
    if (wsm__auth_is_gss(s->auth)) {
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
    wsm__fault_clear(s);
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
    free(s->extra_headers);
    free(s->body_type);
    free(s->user);
    free(s->url);
    free(s);
}

enum wsm_err wsm__session_set_body_format(wsm_session *s, const char *content_type,
                                          const char *headers)
{
    char *t = content_type ? strdup(content_type) : NULL;
    char *h = headers ? strdup(headers) : NULL;
    if ((content_type && !t) || (headers && !h)) {
        free(t);
        free(h);
        return WSM_ERR_NOMEM;
    }
    free(s->body_type);
    free(s->extra_headers);
    s->body_type = t;
    s->extra_headers = h;
    return WSM_OK;
}

const char *wsm_session_error(const wsm_session *s)
{
    return s ? s->error : "";
}

unsigned long wsm_session_fault_code(const wsm_session *s)
{
    return s ? s->fault_code : 0;
}

void wsm__session_forget_errors(wsm_session *s)
{
    s->error[0] = '\0';
    s->fault_code = 0;
    s->fault_subcode[0] = '\0';
    wsm__fault_clear(s);
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
    if (!strcasecmp(name, "ClientKeytab")) {
        if (!value || !*value)
            return WSM_ERR_INVALID_ARG;
        return s->gss ? wsm__gss_cred_set_keytab(s->gss, value) : WSM_OK;
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
