/* libwsm client: libcurl, loaded at run time, carries the requests when
 * the environment names a proxy (client_session.c decides; without one,
 * http.c does). It is dlopen()ed at the first such request so that a
 * program that never goes through a proxy never maps it; the functions
 * in use are resolved with dlsym into a table. Apart from client.c since
 * it is a carrier of its own with its own callbacks.
 * docs/internals/client-transport.md says why.
 */
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "client_internal.h"
#include "client_priv.h"
#include "http.h"
#include "wsm/wsm.h"

/* The libcurl functions we call (resolved with dlsym). */
static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    void (*easy_reset)(CURL *);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} cu;
static pthread_once_t cu_once = PTHREAD_ONCE_INIT;
static int cu_ok;
static char cu_error[300];

static void cu_load(void)
{
    /* The GnuTLS flavour first: what Debian's libcurl4-gnutls-dev (our
     * build dependency) links against; then the default one. */
    static const char *const names[] = {"libcurl-gnutls.so.4", "libcurl.so.4"};
    void *h = NULL;
    for (size_t i = 0; !h && i < sizeof(names) / sizeof(names[0]); i++)
        h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(cu_error, sizeof(cu_error), "https needs libcurl: %s", why ? why : "not found");
        return;
    }
    static const char *const syms[] = {
        "curl_global_init",  "curl_easy_init",     "curl_easy_cleanup", "curl_easy_reset",
        "curl_easy_setopt",  "curl_easy_perform",  "curl_easy_getinfo", "curl_easy_strerror",
        "curl_slist_append", "curl_slist_free_all"};
    void **slots[] = {(void **)&cu.global_init,  (void **)&cu.easy_init,
                      (void **)&cu.easy_cleanup, (void **)&cu.easy_reset,
                      (void **)&cu.easy_setopt,  (void **)&cu.easy_perform,
                      (void **)&cu.easy_getinfo, (void **)&cu.easy_strerror,
                      (void **)&cu.slist_append, (void **)&cu.slist_free_all};
    for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
        void *f = dlsym(h, syms[i]);
        if (!f) {
            snprintf(cu_error, sizeof(cu_error), "libcurl has no %s", syms[i]);
            return; /* (h stays loaded: harmless) */
        }
        /* POSIX guarantees that a function pointer survives this. */
        memcpy(slots[i], &f, sizeof(f));
    }
    if (cu.global_init(CURL_GLOBAL_DEFAULT) != 0) {
        snprintf(cu_error, sizeof(cu_error), "curl_global_init failed");
        return;
    }
    cu_ok = 1;
}

void wsm__curl_cleanup(CURL *h)
{
    cu.easy_cleanup(h);
}

struct sink {
    struct wsm_buf *buf;
    CURL *curl;
    struct wsm_http_headers *hdrs;
};

/* libcurl's header callback: keeps Content-Type and WWW-Authenticate of
 * the last response (a status line starts a new one). */
static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    struct sink *s = ud;
    size_t n = size * nmemb, k = 0;
    struct wsm_http_headers *h = s->hdrs;
    if (!h)
        return n;
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        h->content_type[0] = h->www[0] = '\0';
        return n;
    }
    while (k < n && p[k] != ':')
        k++;
    if (k == n)
        return n;
    size_t a = k + 1, b = n;
    while (a < b && (p[a] == ' ' || p[a] == '\t'))
        a++;
    while (b > a && (p[b - 1] == '\r' || p[b - 1] == '\n' || p[b - 1] == ' ' || p[b - 1] == '\t'))
        b--;
    size_t vn = b - a;
    if (k == 12 && strncasecmp(p, "Content-Type", 12) == 0) {
        if (vn < sizeof(h->content_type)) {
            memcpy(h->content_type, p + a, vn);
            h->content_type[vn] = '\0';
        } else {
            h->content_type[0] = '\0';
        }
    } else if (k == 16 && strncasecmp(p, "WWW-Authenticate", 16) == 0) {
        size_t used = strlen(h->www);
        if (used + vn + 2 <= sizeof(h->www)) {
            memcpy(h->www + used, p + a, vn);
            h->www[used + vn] = '\n';
            h->www[used + vn + 1] = '\0';
        }
    }
    return n;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    struct sink *s = ud;
    size_t n = size * nmemb;
    if (s->buf->len == 0) {
        /* Size the buffer once from Content-Length: a multi-megabyte
         * Receive reply would otherwise be copied a dozen times. */
        curl_off_t cl = -1;
        if (cu.easy_getinfo(s->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK &&
            cl > 0 && (size_t)cl <= s->buf->cap)
            wsm__buf_reserve(s->buf, (size_t)cl);
    }
    return wsm__buf_add(s->buf, p, n) == WSM_OK ? n : 0;
}

static int on_progress(void *ud, curl_off_t dlt, curl_off_t dln, curl_off_t ult, curl_off_t uln)
{
    (void)dlt;
    (void)dln;
    (void)ult;
    (void)uln;
    struct wsm_conn *c = ud;
    return __atomic_load_n(&c->aborted, __ATOMIC_SEQ_CST); /* nonzero: abort */
}

static enum wsm_err curl_add(struct curl_slist **h, const char *line)
{
    struct curl_slist *n = cu.slist_append(*h, line);
    if (!n)
        return WSM_ERR_NOMEM;
    *h = n;
    return WSM_OK;
}

enum wsm_err wsm__conn_curl_post(const wsm_session *s, struct wsm_conn *conn, const struct xfer *x,
                                 struct wsm_buf *resp, long *status, char *err, size_t errlen)
{
    const char *body = x->body;
    size_t len = x->len;
    int anonymous = x->anonymous;
    pthread_once(&cu_once, cu_load);
    if (!cu_ok) {
        snprintf(err, errlen, "%s", cu_error);
        return WSM_ERR_HTTP;
    }
    if (!conn->curl && !(conn->curl = cu.easy_init()))
        return WSM_ERR_NOMEM;
    struct curl_slist *h = NULL;
    char ctline[300], *authz = NULL;
    snprintf(ctline, sizeof(ctline), "Content-Type: %s",
             x->content_type ? x->content_type
             : s->body_type  ? s->body_type
                             : "application/soap+xml;charset=UTF-8");
    enum wsm_err e = curl_add(&h, ctline);
    /* wsm__session_set_body_format's lines, one by one without CRLF. */
    for (const char *p = s->extra_headers; !e && p && *p && len;) {
        size_t n = strcspn(p, "\r\n");
        char *line = n ? strndup(p, n) : NULL;
        if (n && !line)
            e = WSM_ERR_NOMEM;
        else if (n)
            e = curl_add(&h, line);
        free(line);
        p += n;
        p += strspn(p, "\r\n");
    }
    if (!e)
        e = curl_add(&h, "Expect:");
    if (!e && anonymous)
        e = curl_add(&h, "WSMANIDENTIFY: unauthenticated");
    if (!e && !anonymous && s->auth == WSM_AUTH_CERTIFICATE)
        e = curl_add(&h, CERT_AUTH_HEADER);
    if (!e && x->authz) {
        /* Our line without its CRLF. */
        size_t al = strcspn(x->authz, "\r\n");
        if (!(authz = strndup(x->authz, al)))
            e = WSM_ERR_NOMEM;
        else
            e = curl_add(&h, authz);
    }
    free(authz);
    if (e) {
        cu.slist_free_all(h);
        return e;
    }
    CURL *c = conn->curl;
    cu.easy_reset(c);
    cu.easy_setopt(c, CURLOPT_URL, s->url);
    cu.easy_setopt(c, CURLOPT_POST, 1L);
    cu.easy_setopt(c, CURLOPT_POSTFIELDS, body);
    cu.easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    cu.easy_setopt(c, CURLOPT_HTTPHEADER, h);
    cu.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    struct sink sink = {resp, c, x->hdrs};
    cu.easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    if (x->hdrs) {
        x->hdrs->content_type[0] = x->hdrs->www[0] = '\0';
        cu.easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        cu.easy_setopt(c, CURLOPT_HEADERDATA, &sink);
    }
    cu.easy_setopt(c, CURLOPT_TIMEOUT_MS, wsm__request_timeout_ms(s));
    cu.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, s->timeout_ms);
    cu.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    cu.easy_setopt(c, CURLOPT_USERAGENT, "Microsoft WinRM Client");
    cu.easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    cu.easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    cu.easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    cu.easy_setopt(c, CURLOPT_XFERINFODATA, conn);
    if (s->skip_ca_check)
        cu.easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    if (s->skip_cn_check)
        cu.easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    if (s->ca_file)
        cu.easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
    if (!anonymous && s->auth == WSM_AUTH_BASIC) {
        cu.easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        cu.easy_setopt(c, CURLOPT_USERNAME, s->user);
        cu.easy_setopt(c, CURLOPT_PASSWORD, s->password);
    }
    if (s->cert_file) {
        /* Offered in every TLS handshake when given (the server asks). */
        cu.easy_setopt(c, CURLOPT_SSLCERT, s->cert_file);
        cu.easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
        if (s->key_file)
            cu.easy_setopt(c, CURLOPT_SSLKEY, s->key_file);
        if (s->password && s->auth == WSM_AUTH_CERTIFICATE)
            cu.easy_setopt(c, CURLOPT_KEYPASSWD, s->password);
    }
    CURLcode cr = cu.easy_perform(c);
    cu.slist_free_all(h);
    if (cr != CURLE_OK) {
        snprintf(err, errlen, "%s", cu.easy_strerror(cr));
        return WSM_ERR_HTTP;
    }
    cu.easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    return WSM_OK;
}
