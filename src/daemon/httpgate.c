/* HTTP front end, the authentication gate: from the headers alone, before
 * any byte of the body is read. Negotiate (NTLM, Kerberos) legs, Basic
 * (inline or on the auth pool), client certificates, the collector's
 * principals, anonymous Identify; throttling and the failure records;
 * then Content-Type, encryption and the body's cap. Also the metrics
 * listener's GET /metrics. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "authq.h"
#include "certauth.h"
#include "collector.h"
#include "fault.h"
#include "http_priv.h"
#include "log.h"
#include "negotiate.h"
#include "privsep.h"
#include "throttle.h"

static int content_type_ok(const char *ct)
{
    if (!ct)
        return 0;
    while (*ct == ' ')
        ct++;
    if (strncasecmp(ct, "application/soap+xml", 20) != 0)
        return 0;
    const char *p = ct + 20;
    while (*p == ' ')
        p++;
    if (*p && *p != ';')
        return 0;
    const char *cs = strcasestr(p, "charset");
    if (!cs)
        return 1;
    cs += 7;
    while (*cs == ' ' || *cs == '=' || *cs == '"')
        cs++;
    return strncasecmp(cs, "utf-8", 5) == 0 || strncasecmp(cs, "utf-16", 6) == 0;
}

/* A 401 while Negotiate is offered: libmicrohttpd closes the connection
 * after a response queued before the request's body is read (even an
 * empty one), and an NTLM handshake must stay on its connection. So the
 * body (at most MaxEnvelopeSize, by Content-Length) is read and dropped
 * first. */
static enum MHD_Result unauthorized(struct MHD_Connection *c, struct req *r, int basic)
{
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
    char *end = NULL;
    unsigned long long n = cl ? strtoull(cl, &end, 10) : ~0ULL;
    /* With Expect: 100-continue, waiting for the body would make
     * libmicrohttpd send "100 Continue" first: an invitation to upload to
     * a peer we just refused. The 401 goes at once (and the connection
     * closes: the client may or may not send the body now). */
    if (!r->nc || !cl || end == cl || *end || n > r->srv->cfg.max_envelope || expect)
        return wsmd__http_reply(c, r, MHD_HTTP_UNAUTHORIZED, NULL, 0, basic);
    r->deferred_401 = 1;
    r->deferred_basic = basic;
    return MHD_YES;
}

int wsmd__http_basic_allowed(const struct req *r)
{
    /* No plaintext passwords across the network: Basic over plain HTTP is
     * only for loopback listeners unless the administrator says so;
     * AuthBasic = false (winrm/config/service/auth) turns it off. */
    if (__atomic_load_n(&r->srv->cfg.basic_off, __ATOMIC_RELAXED))
        return 0;
    return r->lis->loopback || r->lis->https || r->srv->cfg.allow_unencrypted;
}

/* The throttling key of the peer's address (throttle.h). */
static void peer_key(struct MHD_Connection *c, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    wsmd__throttle_addr(ci ? ci->client_addr : NULL, out, n);
}

/* An attempt refused by throttling, unchecked: 503 with Retry-After (see
 * docs/internals/auth-throttle.md for why not 401). */
static enum MHD_Result throttled(struct MHD_Connection *c, struct req *r, unsigned wait)
{
    r->retry_after = wait ? wait : 1;
    return wsmd__http_reply(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, 0, 0);
}

/* A refused attempt: counted by the throttle, and remembered for the
 * request's own log line (the name tried, never the password). */
static void auth_fail(struct req *r, const char *addr, const char *user, const char *scheme,
                      const char *why)
{
    wsmd__throttle_fail(r->srv->throttle, addr, user, scheme, why);
    wsmd__log_escape(r->tried, sizeof(r->tried), user);
    if (scheme && !r->scheme[0])
        snprintf(r->scheme, sizeof(r->scheme), "%s", scheme);
    snprintf(r->reason, sizeof(r->reason), "%s", why ? why : "-");
}

/* The scheme word of an Authorization header, for the failure log. */
static void scheme_of(const char *authz, char *out, size_t n)
{
    char w[32];
    size_t i = 0;
    while (authz[i] && authz[i] != ' ' && authz[i] != '\t' && i < sizeof(w) - 1) {
        w[i] = authz[i];
        i++;
    }
    w[i] = '\0';
    wsmd__log_escape(out, n, w);
}

/* A Negotiate handshake that has just completed as user: root needs
 * AllowRoot, and a held user name gets past only from a trusted address.
 * Either refusal looks like a failed handshake (401), so that a held name
 * does not turn the handshake into an oracle for the right password. */
static int nego_admit(struct req *r, const char *addr, const char *user, const char *scheme)
{
    const char *why = NULL;
    if (!r->srv->cfg.allow_root &&
        wsmd__auth_is_root(user, r->srv->is_root, !r->srv->cfg.users_path))
        why = "uid0-without-AllowRoot";
    else if (wsmd__throttle_check(r->srv->throttle, addr, user))
        why = "user-held";
    if (!why) {
        wsmd__throttle_ok(r->srv->throttle, addr, user);
        return 1;
    }
    auth_fail(r, addr, user, scheme, why);
    wsmd__nego_reset(r->nc);
    return 0;
}

static enum MHD_Result after_auth(struct MHD_Connection *c, struct req *r);

static void auth_job_done(void *arg)
{
    struct req *r = arg;
    MHD_resume_connection(r->conn);
}

/* A Basic check that misses the cache goes to the auth pool and the
 * connection waits suspended (authq.h); 1 if it went. */
static int basic_async(struct MHD_Connection *c, struct req *r, const char *user, const char *pass,
                       const char *addr, enum MHD_Result *ret)
{
    struct wsmd_authq_job *j = calloc(1, sizeof(*j));
    if (!j)
        return 0; /* checked here instead */
    snprintf(j->user, sizeof(j->user), "%s", user);
    snprintf(j->pass, sizeof(j->pass), "%s", pass);
    snprintf(j->addr, sizeof(j->addr), "%s", addr);
    j->done = auth_job_done;
    j->arg = r;
    r->conn = c;
    r->auth_job = j;
    MHD_suspend_connection(c); /* first: done may run at once */
    enum wsm_err e = wsmd__authq_submit(r->srv->authq, j);
    if (e == WSM_OK) {
        *ret = MHD_YES;
        return 1;
    }
    MHD_resume_connection(c);
    r->auth_job = NULL;
    explicit_bzero(j->pass, sizeof(j->pass));
    free(j);
    if (e != WSM_ERR_QUOTA)
        return 0; /* stopping: checked here */
    /* This address has enough checks waiting already. */
    *ret = throttled(c, r, 1);
    return 1;
}

/* The resumed request of a check done on the auth pool. */
enum MHD_Result wsmd__http_basic_resumed(struct MHD_Connection *c, struct req *r)
{
    struct wsmd_authq_job *j = r->auth_job;
    r->auth_job = NULL;
    enum wsm_err e = j->result;
    if (e == WSM_OK) {
        wsmd__throttle_ok(r->srv->throttle, j->addr, j->user);
        memcpy(r->user, j->user, sizeof(r->user));
        snprintf(r->principal, sizeof(r->principal), "%s", r->user);
    } else if (e == WSM_ERR_AUTH) {
        auth_fail(r, j->addr, j->user, "Basic", j->why);
    } else {
        wsmd__log("event=auth-error error=\"%s\"", wsm_strerror(e));
    }
    free(j);
    return e == WSM_OK ? after_auth(c, r) : unauthorized(c, r, 1);
}

/* The MetricsListen listener: GET /metrics, nothing else, no login (it is
 * bound where only the scraper reaches). */
static enum MHD_Result metrics(struct MHD_Connection *c, struct req *r, const char *url,
                               const char *method)
{
    r->close = 1; /* a scrape a connection: nothing to keep */
    if (strcmp(url, "/metrics") != 0 || !r->srv->collector)
        return wsmd__http_reply(c, r, MHD_HTTP_NOT_FOUND, NULL, 0, 0);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
        return wsmd__http_reply(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, NULL, 0, 0);
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    size_t len = 0;
    char *body = NULL;
    if (wsmd__collector_metrics(r->srv->collector, &out) == WSM_OK)
        body = wsm__buf_steal(&out, &len);
    wsm__buf_free(&out);
    if (!body)
        return wsmd__http_reply(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, 0, 0);
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    return wsmd__http_reply(c, r, MHD_HTTP_OK, body, len, 0);
}

/* The gate: decides from the headers alone, before the body is read. */
enum MHD_Result wsmd__http_gate(struct MHD_Connection *c, struct req *r, const char *url,
                                const char *method)
{
    if (r->lis->metrics)
        return metrics(c, r, url, method);
    r->col = wsmd__collector_path(r->srv, url);
    if (r->col == WSMD_COL_NONE && strcmp(url, "/wsman") != 0)
        return wsmd__http_reply(c, r, MHD_HTTP_NOT_FOUND, NULL, 0, 0);
    /* The collector's delivery handler finds the subscription by this path:
     * kept whole and as MHD decoded it (a SubscriptionId may hold spaces;
     * NotifyTo percent-encodes them). */
    size_t ulen = strlen(url);
    if (ulen >= sizeof(r->path))
        return wsmd__http_reply(c, r, MHD_HTTP_NOT_FOUND, NULL, 0, 0);
    memcpy(r->path, url, ulen + 1);
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return wsmd__http_reply(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, NULL, 0, 0);

    const char *authz =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *nego_user = r->nc ? wsmd__nego_user(r->nc) : NULL;
    const char *nego_principal = r->nc ? wsmd__nego_principal(r->nc) : NULL;
    char addr[INET6_ADDRSTRLEN + 8], scheme[64];
    if (authz) {
        /* Every attempt from a held address is refused unchecked, whatever
         * its scheme, at no cost (a Basic one may still pass below, for a
         * user with a recent login from here). */
        peer_key(c, addr, sizeof(addr));
        scheme_of(authz, scheme, sizeof(scheme));
        snprintf(r->scheme, sizeof(r->scheme), "%s",
                 wsmd__certauth_is_scheme(authz) ? "Certificate" : scheme);
    } else if (nego_user || nego_principal) {
        snprintf(r->scheme, sizeof(r->scheme), "Negotiate");
    }
    if (authz && r->nc && wsmd__nego_is_scheme(authz)) {
        /* One leg of the connection's handshake. */
        int done = 0;
        /* NTLM names the user in its last leg: held names are refused
         * before gss checks the guess, and failures count for the name. */
        char nuser[WSMD_MAX_USER];
        const char *tu = wsmd__nego_ntlm_user(authz, nuser, sizeof(nuser)) ? nuser : NULL;
        unsigned wait = wsmd__throttle_check(r->srv->throttle, addr, tu);
        if (wait)
            return throttled(c, r, wait);
        enum wsm_err e = wsmd__nego_step(r->nc, authz, &r->www, &done);
        if (e != WSM_OK && e != WSM_ERR_AUTH)
            wsmd__log("event=auth-error error=\"%s\"", wsm_strerror(e));
        if (e == WSM_ERR_AUTH)
            auth_fail(r, addr, tu, scheme, "bad-token");
        if (e != WSM_OK || !done)
            return unauthorized(c, r, e && wsmd__http_basic_allowed(r));
        const char *nu = wsmd__nego_user(r->nc), *np = wsmd__nego_principal(r->nc);
        if (!nu && (r->col == WSMD_COL_NONE || !np)) {
            /* A principal with no local account: the collector's paths only. */
            auth_fail(r, addr, np, scheme, "no-local-account");
            wsmd__nego_reset(r->nc);
            free(r->www);
            r->www = NULL;
            return unauthorized(c, r, wsmd__http_basic_allowed(r));
        }
        if (!nego_admit(r, addr, nu ? nu : np, scheme)) {
            free(r->www);
            r->www = NULL;
            return unauthorized(c, r, wsmd__http_basic_allowed(r));
        }
        snprintf(r->user, sizeof(r->user), "%s", nu ? nu : "");
        snprintf(r->principal, sizeof(r->principal), "%s", np ? np : nu);
        r->nego_token = 1;
    } else if (!authz && nego_user) {
        /* Authenticated by an earlier handshake on this connection. */
        snprintf(r->user, sizeof(r->user), "%s", nego_user);
        snprintf(r->principal, sizeof(r->principal), "%s",
                 nego_principal ? nego_principal : nego_user);
    } else if (!authz && nego_principal && r->col != WSMD_COL_NONE) {
        /* The same, for a principal that only the collector accepts. */
        snprintf(r->principal, sizeof(r->principal), "%s", nego_principal);
    } else if (!authz && r->col != WSMD_COL_NONE && r->lis->https &&
               wsmd__collector_cert_principal(r->srv, c, r->principal, sizeof(r->principal))) {
        /* A source's client certificate (HTTPS, ClientCAFile): its
         * identity is the certificate's, mapped to no local account. */
    } else if (!authz) {
        const char *idh = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "WSMANIDENTIFY");
        if (idh && strcasecmp(idh, "unauthenticated") == 0)
            r->anonymous = 1; /* only an Identify may pass: checked after parsing */
        else
            return unauthorized(c, r, wsmd__http_basic_allowed(r));
    } else if (wsmd__certauth_is_scheme(authz)) {
        /* secprofile/https/mutual: the TLS client certificate of this
         * connection, verified and mapped to a local user (certauth.c). */
        unsigned wait = wsmd__throttle_check(r->srv->throttle, addr, NULL);
        if (wait)
            return throttled(c, r, wait);
        if (r->col != WSMD_COL_NONE && r->lis->https &&
            wsmd__collector_cert_principal(r->srv, c, r->principal, sizeof(r->principal))) {
            wsmd__throttle_ok(r->srv->throttle, addr, r->principal);
            return after_auth(c, r);
        }
        if (!r->lis->https || !wsmd__certauth_user(r->srv->certauth, c, r->user, sizeof(r->user))) {
            auth_fail(r, addr, NULL, "certificate",
                      r->lis->https ? "no-valid-mapped-certificate" : "not-https");
            return unauthorized(c, r, wsmd__http_basic_allowed(r));
        }
        /* The monitor checks the name against its own CertMapping lines. */
        if (wsmd__privsep_on() && wsmd__ps_cert_user(r->user) != WSM_OK) {
            r->user[0] = '\0';
            return unauthorized(c, r, wsmd__http_basic_allowed(r));
        }
        wsmd__throttle_ok(r->srv->throttle, addr, r->user);
        snprintf(r->principal, sizeof(r->principal), "%s", r->user);
    } else {
        char user[WSMD_MAX_USER], pass[WSMD_MAX_PASSWORD];
        enum wsm_err e = WSM_ERR_AUTH;
        const char *why = "malformed";
        if (!wsmd__http_basic_allowed(r))
            return unauthorized(c, r, 0); /* no password was checked: not counted */
        if (wsmd__auth_parse_basic(authz, user, sizeof(user), pass, sizeof(pass)) != WSM_OK) {
            unsigned wait = wsmd__throttle_check(r->srv->throttle, addr, NULL);
            if (wait)
                return throttled(c, r, wait);
            auth_fail(r, addr, NULL, scheme, why);
            return unauthorized(c, r, 1);
        }
        unsigned wait = wsmd__throttle_check(r->srv->throttle, addr, user);
        if (wait) {
            explicit_bzero(pass, sizeof(pass));
            return throttled(c, r, wait);
        }
        enum MHD_Result ret;
        if (r->srv->authq && !wsmd__auth_cached(r->srv->auth, user, pass) &&
            basic_async(c, r, user, pass, addr, &ret)) {
            explicit_bzero(pass, sizeof(pass));
            return ret;
        }
        e = wsmd__auth_verify(r->srv->auth, user, pass, &why);
        explicit_bzero(pass, sizeof(pass));
        if (e != WSM_OK) {
            if (e != WSM_ERR_AUTH)
                wsmd__log("event=auth-error error=\"%s\"", wsm_strerror(e));
            else
                auth_fail(r, addr, user, scheme, why);
            return unauthorized(c, r, 1);
        }
        wsmd__throttle_ok(r->srv->throttle, addr, user);
        memcpy(r->user, user, sizeof(user));
        snprintf(r->principal, sizeof(r->principal), "%s", user);
    }
    return after_auth(c, r);
}

/* The rest of the gate, once the request is authenticated (or is an
 * anonymous Identify): Content-Type and Content-Length. */
static enum MHD_Result after_auth(struct MHD_Connection *c, struct req *r)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    size_t cap = r->srv->cfg.max_envelope;
    if (r->anonymous) {
        /* Whoever sent it, an anonymous Identify is under 1 KB: the parse
         * an unauthenticated peer can make us do stays small (libxml2 is
         * quadratic in some inputs). */
        cap = r->srv->cfg.max_anon_envelope ? r->srv->cfg.max_anon_envelope : cap;
        r->body.cap = cap;
    }
    if (wsmd__nego_body_encrypted(ct)) {
        /* Sealed by the connection's context: there must be one. */
        if (!r->nc || !wsmd__nego_can_seal(r->nc))
            return unauthorized(c, r, wsmd__http_basic_allowed(r));
        r->sealed = 1;
        cap = wsmd__nego_max_body(r->srv->cfg.max_envelope);
        r->body.cap = cap;
    } else if (!content_type_ok(ct)) {
        return wsmd__http_fault(c, r, WSM_ERR_UNSUPPORTED_MEDIA, NULL, NULL);
    } else if (r->nc && (wsmd__nego_user(r->nc) || wsmd__nego_principal(r->nc)) &&
               !wsmd__http_basic_allowed(r) && !(r->nego_token && cl && !strcmp(cl, "0"))) {
        /* Plain bodies after NTLM: loopback, HTTPS or AllowUnencrypted
         * only. The handshake's last leg is an empty POST (pywinrm, our
         * clients): nothing in clear, answered 200. */
        return wsmd__http_fault(c, r, WSM_ERR_ACCESS_DENIED, NULL,
                                "Unencrypted traffic is disabled");
    }

    if (cl) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (end == cl || n > cap)
            return wsmd__http_fault(c, r, WSM_ERR_ENVELOPE_TOO_LARGE, NULL, NULL);
        if (n > 0 && wsm__buf_reserve(&r->body, (size_t)n) != WSM_OK)
            return wsmd__http_fault(c, r, WSM_ERR_NOMEM, NULL, NULL);
    }
    return MHD_YES;
}
