/* libwsm client: sessions, and the HTTP exchange under every request.
 *
 * http:// and https:// go through http.c (sockets, a persistent
 * connection; https over a GnuTLS session of tls.c). Only when the
 * environment names a proxy does libcurl carry the requests; it is loaded
 * with dlopen() on first use, as GnuTLS is at the first https connection,
 * so that a program that only speaks http:// never maps either.
 * docs/internals/client-transport.md says why.
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
#include "wwwauth.h"

/* What Windows clients send for client certificate authentication over
 * HTTPS (the certificate itself goes in the TLS handshake). */
#define CERT_AUTH_HEADER                                                                           \
    "Authorization: http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"

/* ---- libcurl, loaded at run time ----------------------------------- */

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

/* ---- connections --------------------------------------------------- */

struct wsm_conn {
    int aborted;               /* (curl) checked by the progress callback */
    CURL *curl;                /* libcurl: the easy handle, made on first use */
    struct wsm_http_conn http; /* plain HTTP */
    /* Negotiate: the security context of the connection (http.gen
     * gss_gen), and the headers of the last response. */
    struct wsm_gss_ctx *gss;
    unsigned long gss_gen;
    struct wsm_http_headers *hdrs;
};

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
        cu.easy_cleanup(c->curl);
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

struct sink {
    struct wsm_buf *buf;
    CURL *curl;
    struct wsm_http_headers *hdrs;
};

/* One HTTP exchange, whatever carries it. */
struct xfer {
    const char *body;
    size_t len;
    int anonymous;            /* WSMANIDENTIFY: unauthenticated, no credentials */
    const char *authz;        /* an "Authorization: ...\r\n" line of Negotiate, or NULL */
    const char *content_type; /* NULL: SOAP */
    unsigned long bound_gen;  /* (http.c) only on that connection */
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

/* The server may hold a request up to OperationTimeout (Receive): the
 * whole exchange may take that long and a little more. */
static long request_timeout_ms(const wsm_session *s)
{
    long tmo = s->timeout_ms;
    if (s->operation_timeout_ms > tmo)
        tmo = s->operation_timeout_ms;
    return tmo + 5000;
}

static enum wsm_err curl_add(struct curl_slist **h, const char *line)
{
    struct curl_slist *n = cu.slist_append(*h, line);
    if (!n)
        return WSM_ERR_NOMEM;
    *h = n;
    return WSM_OK;
}

static enum wsm_err curl_post(const wsm_session *s, struct wsm_conn *conn, const struct xfer *x,
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
    cu.easy_setopt(c, CURLOPT_TIMEOUT_MS, request_timeout_ms(s));
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

/* https through http.c: the session's TLS settings, made once (the first
 * connection of any of its threads), on c's connection. */
static enum wsm_err tls_ready(const wsm_session *s, struct wsm_conn *c, char *err, size_t errlen)
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
static enum wsm_err raw_post(const wsm_session *s, struct wsm_conn *c, const struct xfer *x,
                             struct wsm_buf *resp, long *status, char *err, size_t errlen)
{
    if (s->use_curl)
        return curl_post(s, c, x, resp, status, err, errlen);
    if (s->https) {
        enum wsm_err e = tls_ready(s, c, err, errlen);
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
                                  .timeout_ms = request_timeout_ms(s),
                                  .connect_timeout_ms = s->timeout_ms,
                                  .content_type = ctype,
                                  .bound_gen = x->bound_gen,
                                  .headers_out = x->hdrs};
    return wsm__http_post(&c->http, &rq, resp, status, err, errlen);
}

static int is_gss_auth(enum wsm_auth a)
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
        e = tls_ready(s, c, err, errlen);
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
        e = raw_post(s, c, &x, resp, status, err, errlen);
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
static enum wsm_err gss_post(const wsm_session *s, struct wsm_conn *c, const char *body, size_t len,
                             struct wsm_buf *resp, long *status, char *err, size_t errlen,
                             const struct wsm_arrived *arrived)
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
        e = raw_post(s, c, &x, resp, status, err, errlen);
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

int wsm__session_seals(const wsm_session *s)
{
    return is_gss_auth(s->auth) && !s->https && !s->allow_unencrypted;
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
    if (!anonymous && is_gss_auth(s->auth))
        return gss_post(s, c, body, len, resp, status, err, errlen, arrived);
    if (!anonymous && s->auth == WSM_AUTH_CERTIFICATE && (!s->https || !s->cert_file)) {
        snprintf(err, errlen, "certificate authentication needs %s",
                 s->https ? "a certificate (CertificateFile)" : "https");
        return WSM_ERR_INVALID_ARG;
    }
    struct xfer x = {.body = body, .len = len, .anonymous = anonymous};
    enum wsm_err e = raw_post(s, c, &x, resp, status, err, errlen);
    if (!e && arrived)
        arrived->fn(arrived->ud, *status, resp->len);
    return e;
}

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
    if (is_gss_auth(s->auth)) {
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

    s->error[0] = '\0';
    s->fault_code = 0;
    s->fault_subcode[0] = '\0';
    wsm__fault_clear(s);
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
