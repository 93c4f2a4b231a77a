/* libwsm client: sessions over libcurl. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "envelope.h"
#include "ns.h"
#include "wsm/wsm.h"

struct wsm_session {
    CURL *curl;
    char *url;
    char *user;
    char *password;
    enum wsm_auth auth;
    long timeout_ms;
    char error[512];
    unsigned long fault_code;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    struct wsm_buf *b = ud;
    size_t n = size * nmemb;
    return wsm__buf_add(b, p, n) == WSM_OK ? n : 0;
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

/* Reads the fault's text and code into the session. */
static void read_fault(wsm_session *s, struct wsm_envelope *env)
{
    xmlNodePtr f = wsm__xml_child(env->body, WSM_NS_SOAP, "Fault");
    if (!f)
        return;
    xmlNodePtr reason = wsm__xml_child(f, WSM_NS_SOAP, "Reason");
    xmlNodePtr text = wsm__xml_child(reason, WSM_NS_SOAP, "Text");
    xmlNodePtr detail = wsm__xml_child(f, WSM_NS_SOAP, "Detail");
    xmlNodePtr wf = wsm__xml_child(detail, WSM_NS_FAULT, "WSManFault");
    const char *code = wf ? wsm__xml_attr(wf, "Code") : NULL;
    if (code)
        s->fault_code = strtoul(code, NULL, 10);
    const char *msg = text ? wsm__xml_text(&env->arena, text, 1) : NULL;
    snprintf(s->error, sizeof(s->error), "fault %lu: %s", s->fault_code, msg ? msg : "");
}

/* Sends body; on success *env holds the parsed reply (200) and *raw the
 * bytes if asked for. */
static enum wsm_err post(wsm_session *s, const char *body, int anonymous,
                         struct wsm_envelope **env, char **raw)
{
    struct wsm_buf resp;
    struct curl_slist *h = NULL;
    long status = 0;
    enum wsm_err e;

    s->error[0] = '\0';
    s->fault_code = 0;
    wsm__buf_init(&resp, 64u * 1024 * 1024);
    h = curl_slist_append(h, "Content-Type: application/soap+xml;charset=UTF-8");
    if (anonymous)
        h = curl_slist_append(h, "WSMANIDENTIFY: unauthenticated");
    h = curl_slist_append(h, "Expect:");
    if (!h)
        return WSM_ERR_NOMEM;
    CURL *c = s->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, s->url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->timeout_ms + 5000);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "Microsoft WinRM Client");
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    if (!anonymous && s->auth == WSM_AUTH_BASIC) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, s->user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, s->password);
    }
    CURLcode cr = curl_easy_perform(c);
    curl_slist_free_all(h);
    if (cr != CURLE_OK) {
        snprintf(s->error, sizeof(s->error), "%s", curl_easy_strerror(cr));
        wsm__buf_free(&resp);
        return WSM_ERR_HTTP;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status == 401) {
        snprintf(s->error, sizeof(s->error), "access denied (HTTP 401)");
        wsm__buf_free(&resp);
        return WSM_ERR_AUTH;
    }
    struct wsm_limits lim = {.max_size = resp.cap, .response = 1};
    struct wsm_envelope *reply = NULL;
    e = resp.len ? wsm__envelope_parse(resp.data, resp.len, &lim, &reply, NULL, 0)
                 : WSM_ERR_NOT_SOAP;
    if (e) {
        snprintf(s->error, sizeof(s->error), "HTTP %ld with no valid SOAP reply", status);
        wsm__buf_free(&resp);
        return status == 200 ? e : WSM_ERR_HTTP;
    }
    if (status != 200 || wsm__xml_child(reply->body, WSM_NS_SOAP, "Fault")) {
        read_fault(s, reply);
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
    enum wsm_err e = post(s, req, s->auth == WSM_AUTH_NONE, &env, xml);
    if (e)
        return e;
    xmlNodePtr r = wsm__xml_child(env->body, WSM_NS_IDENTITY, "IdentifyResponse");
    if (!r) {
        snprintf(s->error, sizeof(s->error), "the reply is not an IdentifyResponse");
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
