/* libwsm client: sessions over libcurl. */
#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "client_internal.h"
#include "envelope.h"
#include "ns.h"
#include "wsm/wsm.h"

struct sink {
    struct wsm_buf *buf;
    CURL *curl;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    struct sink *s = ud;
    size_t n = size * nmemb;
    if (s->buf->len == 0) {
        /* Size the buffer once from Content-Length: a multi-megabyte
         * Receive reply would otherwise be copied a dozen times. */
        curl_off_t cl = -1;
        if (curl_easy_getinfo(s->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK &&
            cl > 0 && (size_t)cl <= s->buf->cap)
            wsm__buf_reserve(s->buf, (size_t)cl);
    }
    return wsm__buf_add(s->buf, p, n) == WSM_OK ? n : 0;
}

enum wsm_err wsm_session_new(const struct wsm_session_opts *o, wsm_session **out)
{
    static int curl_ready;
    if (!o || !o->url)
        return WSM_ERR_INVALID_ARG;
    if (o->auth == WSM_AUTH_BASIC && (!o->user || !o->password))
        return WSM_ERR_INVALID_ARG;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
            return WSM_ERR_INTERNAL;
        curl_ready = 1;
    }
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
    if (s->url)
        snprintf(s->url, ul + 8, "%s%s", o->url, path ? "" : "/wsman");
    s->user = o->user ? strdup(o->user) : NULL;
    s->password = o->password ? strdup(o->password) : NULL;
    s->curl = curl_easy_init();
    if (!s->url || !s->curl || (o->user && !s->user) || (o->password && !s->password)) {
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
    if (s->curl)
        curl_easy_cleanup(s->curl);
    if (s->password) {
        explicit_bzero(s->password, strlen(s->password));
        free(s->password);
    }
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
    } else {
        return WSM_ERR_INVALID_ARG;
    }
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

enum wsm_err wsm__post(wsm_session *s, const char *body, size_t len, int anonymous,
                       const char *message_id, struct wsm_envelope **env, char **raw)
{
    struct wsm_buf resp;
    struct curl_slist *h = NULL;
    long status = 0;
    enum wsm_err e;

    s->error[0] = '\0';
    s->fault_code = 0;
    s->fault_subcode[0] = '\0';
    if (len > (size_t)0x7fffffff)
        return WSM_ERR_INVALID_ARG;
    /* A reply is at most MaxEnvelopeSize (we allow some slack for HTTP
     * framing quirks); never less than the historical 64 MiB cap. */
    size_t cap = 64u * 1024 * 1024;
    if (s->max_envelope > cap - 65536)
        cap = s->max_envelope + 65536;
    wsm__buf_init(&resp, cap);
    static const char *const hdrs[] = {"Content-Type: application/soap+xml;charset=UTF-8",
                                       "Expect:", "WSMANIDENTIFY: unauthenticated"};
    for (int i = 0; i < (anonymous ? 3 : 2); i++) {
        struct curl_slist *n = curl_slist_append(h, hdrs[i]);
        if (!n) {
            curl_slist_free_all(h);
            return WSM_ERR_NOMEM;
        }
        h = n;
    }
    /* The server may hold a request up to OperationTimeout (Receive). */
    long tmo = s->timeout_ms;
    if (s->operation_timeout_ms > tmo)
        tmo = s->operation_timeout_ms;
    CURL *c = s->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, s->url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    struct sink sink = {&resp, c};
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, tmo + 5000);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "Microsoft WinRM Client");
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    if (s->skip_ca_check)
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    if (s->skip_cn_check)
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    if (!anonymous && s->auth == WSM_AUTH_BASIC) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, s->user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, s->password);
    }
    CURLcode cr = curl_easy_perform(c);
    curl_slist_free_all(h);
    if (cr != CURLE_OK) {
        wsm__session_errorf(s, "%s", curl_easy_strerror(cr));
        wsm__buf_free(&resp);
        return WSM_ERR_HTTP;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status == 401) {
        wsm__session_errorf(s, "access denied (HTTP 401)");
        wsm__buf_free(&resp);
        return WSM_ERR_AUTH;
    }
    struct wsm_limits lim = {.max_size = resp.cap, .response = 1};
    struct wsm_envelope *reply = NULL;
    e = resp.len ? wsm__envelope_parse(resp.data, resp.len, &lim, &reply, NULL, 0)
                 : WSM_ERR_NOT_SOAP;
    if (e) {
        wsm__session_errorf(s, "HTTP %ld with no valid SOAP reply", status);
        wsm__buf_free(&resp);
        return status == 200 ? e : WSM_ERR_HTTP;
    }
    int fault = status != 200 || wsm__xml_child(reply->body, WSM_NS_SOAP, "Fault");
    if (message_id && (reply->relates_to || !fault) && !same_id(reply->relates_to, message_id)) {
        wsm__session_errorf(s, "the reply's RelatesTo (%s) is not the request's MessageID",
                            reply->relates_to ? reply->relates_to : "missing");
        wsm__envelope_free(reply);
        wsm__buf_free(&resp);
        return WSM_ERR_BAD_HEADER;
    }
    if (fault) {
        read_fault(s, reply, status);
        wsm__envelope_free(reply);
        wsm__buf_free(&resp);
        return WSM_ERR_FAULT;
    }
    if (raw)
        *raw = wsm__buf_steal(&resp, NULL);
    wsm__buf_free(&resp);
    *env = reply;
    return WSM_OK;
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
