/* HTTP(S) front end on libmicrohttpd: POST /wsman only, the authentication
 * gate before any byte of the body is read, bounded bodies, one complete
 * response per request. HTTPS listeners differ only by the TLS layer that
 * libmicrohttpd runs (GnuTLS) and by allowing Basic on any address. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <sys/socket.h>
#include <time.h>

#include "auth.h"
#include "collector.h"
#include "authq.h"
#include "certauth.h"
#include "connguard.h"
#include "fault.h"
#include "log.h"
#include "negotiate.h"
#include "privsep.h"
#include "parkwatch.h"
#include "server.h"
#include "throttle.h"
#include "tlscert.h"
#include "userfile.h"

#define CT_SOAP "application/soap+xml;charset=UTF-8"
/* GnuTLS priorities of HTTPS listeners: TLS 1.2 and 1.3 only, our order.
 * With AES instructions AES-128-GCM goes first, as Mozilla's server guide
 * and Go's TLS order it: it is as safe here and about 1.75 times as fast as
 * AES-256-GCM, which GnuTLS lists first (openssl speed, 16 KB records: 3.5
 * against 2.0 GB/s), and shell output is most of what HTTPS carries.
 * Without them GnuTLS' own order (ChaCha20 before AES) stays. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE"
#define TLS_PRIORITIES_AES                                                                         \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"            \
    "+CHACHA20-POLY1305:+AES-128-CCM:+AES-256-CCM:+AES-128-CBC:+AES-256-CBC:%SERVER_PRECEDENCE"
#define LOG_FIELD 256
#define MHD_LOG_PER_SEC 10
/* libmicrohttpd's per-connection pool holds the request line and headers:
 * 48 KiB takes an Authorization header of some 40 KB (a Kerberos ticket
 * with a large PAC) with room for the rest. Above 32 KiB MHD maps the pool
 * (mmap), but it zeroes the whole pool after each request, so every
 * connection that has made one keeps all of it resident: this is most of
 * what an idle keep-alive connection costs (a connected event source: 48 KB,
 * bench/collect). */
#define WSMD_HTTP_POOL (48 * 1024)

struct req {
    struct wsmd_server *srv;
    const struct wsmd_listener *lis;
    struct timespec t0;
    char user[WSMD_MAX_USER]; /* empty: anonymous, or a principal only */
    /* The authenticated name (collector.h); set with user, or alone for a
     * principal with no local account on the collector's paths. */
    char principal[WSMD_MAX_PRINCIPAL];
    int col;                   /* enum wsmd_col_path of the URL */
    char path[LOG_FIELD];      /* the URL (collector paths name the subscription) */
    int anonymous;             /* WSMANIDENTIFY: unauthenticated */
    struct wsmd_nego_conn *nc; /* the connection's Negotiate state (NULL: not offered) */
    int nego_token;            /* a Negotiate token of this request completed the handshake */
    int sealed;                /* the body was encrypted: so is the reply */
    char *www;                 /* WWW-Authenticate to send (challenge or final token) */
    int deferred_401;          /* answer 401 once the body is read: keeps the connection */
    int deferred_basic;
    int responded;
    unsigned status; /* of the response queued */
    int quiet;       /* a successful Receive: its command's end is logged instead */
    int too_big;
    int close;                       /* the framing is in doubt: answer and close */
    const char *content_type;        /* of the reply; NULL: SOAP */
    unsigned retry_after;            /* a throttled attempt: 503 with Retry-After */
    struct wsmd_authq_job *auth_job; /* a password check on the auth pool (suspended) */
    size_t discarded;
    struct wsm_buf body;
    char action[LOG_FIELD];
    char resource[LOG_FIELD];
    /* For the request's log line: the scheme tried, the name a refused
     * attempt gave, and why it was refused or faulted. */
    char scheme[64];
    char tried[WSMD_MAX_PRINCIPAL];
    char reason[LOG_FIELD];

    /* Long-poll state: the parsed request stays while the connection is
     * suspended. */
    struct MHD_Connection *conn;
    struct wsm_envelope *env;
    long long t0_ms;
    int parked;
    int shutdown; /* woken by wsmd__http_quiesce: answer, do not park again */
    unsigned long token;
    int (*unpark)(struct wsmd_server *srv, unsigned long token);
    void *resume_ctx;        /* the handler's note to its resumed run */
    struct req *prev, *next; /* in the server's parked list */
    uint64_t watch_id;       /* its id in the client-gone watcher */
    int watch_fd;            /* -1: not watched */
    int gone;                /* the client went away while parked: answer nothing */

    /* The reply hands over shell output: told whether it was written. */
    void (*settle)(void *arg, int delivered);
    void *settle_arg;
    void (*settle_probe)(void *arg, int (*probe)(void *), void *probe_arg);
};

/* Requests waiting in a long poll: for shutdown, and for the watcher that
 * ends those whose client went away (parkwatch.c). */
struct wsmd_parked {
    pthread_mutex_t lock;
    struct req *head;
    size_t count;
    struct wsmd_parkwatch *watch; /* NULL: none (then polls end at their deadline) */
    uint64_t next_id;
};

static void parked_add(struct wsmd_server *srv, struct req *r)
{
    struct wsmd_parked *p = srv->parked;
    pthread_mutex_lock(&p->lock);
    r->watch_id = ++p->next_id;
    r->watch_fd = -1;
    r->prev = NULL;
    r->next = p->head;
    if (p->head)
        p->head->prev = r;
    p->head = r;
    p->count++;
    pthread_mutex_unlock(&p->lock);
}

static void parked_del(struct wsmd_server *srv, struct req *r)
{
    struct wsmd_parked *p = srv->parked;
    pthread_mutex_lock(&p->lock);
    if (r->prev)
        r->prev->next = r->next;
    else if (p->head == r)
        p->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    p->count--;
    if (r->watch_fd >= 0 && p->watch)
        wsmd__parkwatch_del(p->watch, r->watch_fd);
    r->watch_fd = -1;
    pthread_mutex_unlock(&p->lock);
}

/* The wait is registered (park returned its token): from now on the wait
 * can be cancelled, by shutdown or by the client going away. Nothing else
 * runs for this connection meanwhile (it is handled by our thread only,
 * which is here), so r is stable; a wake that already fired just makes the
 * cancel below return 0. */
static void parked_arm(struct wsmd_server *srv, struct req *r, struct MHD_Connection *c,
                       unsigned long token, int (*unpark)(struct wsmd_server *, unsigned long))
{
    struct wsmd_parked *p = srv->parked;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    pthread_mutex_lock(&p->lock);
    r->token = token;
    r->unpark = unpark;
    if (p->watch && ci && wsmd__parkwatch_add(p->watch, ci->connect_fd, r->watch_id) == 0)
        r->watch_fd = ci->connect_fd;
    pthread_mutex_unlock(&p->lock);
}

/* The watcher saw the socket of parked request id hang up: cancel its wait
 * and resume it; it is then closed without running its handler (so no
 * output is taken for a client that is not there). */
static void parked_gone(void *ctx, uint64_t id)
{
    struct wsmd_server *srv = ctx;
    struct wsmd_parked *p = srv->parked;
    pthread_mutex_lock(&p->lock);
    struct req *r = p->head;
    while (r && r->watch_id != id)
        r = r->next;
    if (r && !r->gone) {
        r->gone = 1;
        /* 0: the wake has run (or shutdown cancelled it): resumed anyway. */
        if (r->unpark && r->unpark(srv, r->token) == 1)
            MHD_resume_connection(r->conn);
    }
    pthread_mutex_unlock(&p->lock);
}

/* Has the peer closed or reset (checked again when a parked request
 * resumes, for a hang-up the watcher has not handled yet)? */
static int peer_closed(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return 0;
    char b;
    ssize_t n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void wake_request(void *arg)
{
    struct req *r = arg;
    MHD_resume_connection(r->conn);
}

static long elapsed_us(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000000L + (t.tv_nsec - t0->tv_nsec) / 1000;
}

static void peer_of(struct MHD_Connection *c, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET) {
            const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
            inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
            port = ntohs(s4->sin_port);
        } else if (sa->sa_family == AF_INET6) {
            const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
            inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
            port = ntohs(s6->sin6_port);
        }
    }
    snprintf(out, n, "%s:%d", ip, port);
}

/* Copies s for the log, replacing anything that could forge a log line. */
static void log_copy(char *dst, const char *s)
{
    size_t i = 0;
    if (!s || !*s) {
        strcpy(dst, "-");
        return;
    }
    for (; s[i] && i < LOG_FIELD - 1; i++)
        dst[i] = (s[i] <= ' ' || s[i] == 0x7f) ? '_' : s[i];
    dst[i] = '\0';
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct req *r, unsigned status,
                                  char *body, size_t len, int basic_challenge)
{
    const char *ct = r && r->content_type ? r->content_type : CT_SOAP;
    if (r && r->sealed && body && len > 0 && status != MHD_HTTP_UNAUTHORIZED) {
        /* The reply is sealed like the request (faults too). */
        char *sealed;
        size_t slen;
        if (wsmd__nego_wrap(r->nc, body, len, &sealed, &slen, &ct) == WSM_OK) {
            free(body);
            body = sealed;
            len = slen;
        } else {
            free(body);
            body = NULL;
            len = 0;
            ct = CT_SOAP;
            status = 500;
        }
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, body, body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    if (status != MHD_HTTP_NO_CONTENT)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ct);
    if (r && r->nc && status == MHD_HTTP_UNAUTHORIZED) {
        /* A challenge with the handshake's next token, or a bare offer. */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                r->www ? r->www : "Negotiate");
        if (!r->www && wsmd__nego_has_kerberos(r->srv->nego))
            MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Kerberos");
    } else if (r && r->www)
        /* SPNEGO's or Kerberos' final token, with the answer. */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, r->www);
    if (basic_challenge && !(r && r->www))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic realm=\"WSMAN\"");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "POST");
    if (r && r->close)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (r && r->retry_after) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%u", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    if (r && ret == MHD_YES)
        wsmd__connguard_phase(r->srv->guard, c, WSMD_CONN_REPLY); /* a slow reader has a deadline */
    if (r && !r->responded && r->quiet && status == MHD_HTTP_OK) {
        /* A Receive: one line per command (its end), not one per poll. */
        r->responded = 1;
        r->status = status;
    } else if (r && !r->responded) {
        char peer[80];
        r->responded = 1;
        r->status = status;
        peer_of(c, peer, sizeof(peer));
        char who[WSMD_MAX_PRINCIPAL];
        wsmd__log_escape(who, sizeof(who),
                         r->user[0]        ? r->user
                         : r->principal[0] ? r->principal
                         : r->anonymous    ? "(anonymous)"
                                           : "-");
        if (status == MHD_HTTP_UNAUTHORIZED && r->tried[0] && !r->user[0])
            snprintf(who, sizeof(who), "%s", r->tried); /* escaped already */
        if (status == MHD_HTTP_UNAUTHORIZED && !r->reason[0])
            snprintf(r->reason, sizeof(r->reason), "%s",
                     r->scheme[0] ? "handshake-continues" : "no-credentials");
        char reason[LOG_FIELD + 16] = "";
        if (r->reason[0])
            snprintf(reason, sizeof(reason), " reason=\"%s\"", r->reason);
        wsmd__log("peer=%s user=%s action=%s resource=%s status=%u us=%ld%s scheme=%s%s", peer, who,
                  r->action[0] ? r->action : "-", r->resource[0] ? r->resource : "-", status,
                  elapsed_us(&r->t0), r->sealed ? " sealed=1" : "", r->scheme[0] ? r->scheme : "-",
                  reason);
    }
    return ret;
}

static enum MHD_Result send_fault(struct MHD_Connection *c, struct req *r, enum wsm_err err,
                                  const char *relates_to, const char *msg)
{
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    const struct wsm_fault_info *fi = wsm__fault_info(err);
    if (r) {
        /* The fault's own text, quoted for the log line (no quote or
         * control character can end the field or the line). */
        const char *t = msg ? msg : fi->reason ? fi->reason : "-";
        size_t i = 0;
        for (; t[i] && i < sizeof(r->reason) - 1; i++)
            r->reason[i] = t[i] == '"' ? '\'' : (unsigned char)t[i] < 0x20 ? ' ' : t[i];
        r->reason[i] = '\0';
    }
    if (wsm__fault_build(&out, err, relates_to, msg) != WSM_OK) {
        wsm__buf_free(&out);
        return send_reply(c, r, 500, NULL, 0, 0);
    }
    size_t len;
    char *body = wsm__buf_steal(&out, &len);
    return send_reply(c, r, fi->http_status, body, len, 0);
}

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

static int basic_allowed(const struct req *r);

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
        return send_reply(c, r, MHD_HTTP_UNAUTHORIZED, NULL, 0, basic);
    r->deferred_401 = 1;
    r->deferred_basic = basic;
    return MHD_YES;
}

static int basic_allowed(const struct req *r)
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
    return send_reply(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, 0, 0);
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
static enum MHD_Result basic_resumed(struct MHD_Connection *c, struct req *r)
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
        return send_reply(c, r, MHD_HTTP_NOT_FOUND, NULL, 0, 0);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
        return send_reply(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, NULL, 0, 0);
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    size_t len = 0;
    char *body = NULL;
    if (wsmd__collector_metrics(r->srv->collector, &out) == WSM_OK)
        body = wsm__buf_steal(&out, &len);
    wsm__buf_free(&out);
    if (!body)
        return send_reply(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, 0, 0);
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    return send_reply(c, r, MHD_HTTP_OK, body, len, 0);
}

/* The gate: decides from the headers alone, before the body is read. */
static enum MHD_Result on_headers(struct MHD_Connection *c, struct req *r, const char *url,
                                  const char *method)
{
    if (r->lis->metrics)
        return metrics(c, r, url, method);
    r->col = wsmd__collector_path(r->srv, url);
    if (r->col == WSMD_COL_NONE && strcmp(url, "/wsman") != 0)
        return send_reply(c, r, MHD_HTTP_NOT_FOUND, NULL, 0, 0);
    /* The collector's delivery handler finds the subscription by this path:
     * kept whole and as MHD decoded it (a SubscriptionId may hold spaces;
     * NotifyTo percent-encodes them). */
    size_t ulen = strlen(url);
    if (ulen >= sizeof(r->path))
        return send_reply(c, r, MHD_HTTP_NOT_FOUND, NULL, 0, 0);
    memcpy(r->path, url, ulen + 1);
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return send_reply(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, NULL, 0, 0);

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
            return unauthorized(c, r, e && basic_allowed(r));
        const char *nu = wsmd__nego_user(r->nc), *np = wsmd__nego_principal(r->nc);
        if (!nu && (r->col == WSMD_COL_NONE || !np)) {
            /* A principal with no local account: the collector's paths only. */
            auth_fail(r, addr, np, scheme, "no-local-account");
            wsmd__nego_reset(r->nc);
            free(r->www);
            r->www = NULL;
            return unauthorized(c, r, basic_allowed(r));
        }
        if (!nego_admit(r, addr, nu ? nu : np, scheme)) {
            free(r->www);
            r->www = NULL;
            return unauthorized(c, r, basic_allowed(r));
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
            return unauthorized(c, r, basic_allowed(r));
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
            return unauthorized(c, r, basic_allowed(r));
        }
        /* The monitor checks the name against its own CertMapping lines. */
        if (wsmd__privsep_on() && wsmd__ps_cert_user(r->user) != WSM_OK) {
            r->user[0] = '\0';
            return unauthorized(c, r, basic_allowed(r));
        }
        wsmd__throttle_ok(r->srv->throttle, addr, r->user);
        snprintf(r->principal, sizeof(r->principal), "%s", r->user);
    } else {
        char user[WSMD_MAX_USER], pass[WSMD_MAX_PASSWORD];
        enum wsm_err e = WSM_ERR_AUTH;
        const char *why = "malformed";
        if (!basic_allowed(r))
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
            return unauthorized(c, r, basic_allowed(r));
        r->sealed = 1;
        cap = wsmd__nego_max_body(r->srv->cfg.max_envelope);
        r->body.cap = cap;
    } else if (!content_type_ok(ct)) {
        return send_fault(c, r, WSM_ERR_UNSUPPORTED_MEDIA, NULL, NULL);
    } else if (r->nc && (wsmd__nego_user(r->nc) || wsmd__nego_principal(r->nc)) &&
               !basic_allowed(r) && !(r->nego_token && cl && !strcmp(cl, "0"))) {
        /* Plain bodies after NTLM: loopback, HTTPS or AllowUnencrypted
         * only. The handshake's last leg is an empty POST (pywinrm, our
         * clients): nothing in clear, answered 200. */
        return send_fault(c, r, WSM_ERR_ACCESS_DENIED, NULL, "Unencrypted traffic is disabled");
    }

    if (cl) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (end == cl || n > cap)
            return send_fault(c, r, WSM_ERR_ENVELOPE_TOO_LARGE, NULL, NULL);
        if (n > 0 && wsm__buf_reserve(&r->body, (size_t)n) != WSM_OK)
            return send_fault(c, r, WSM_ERR_NOMEM, NULL, NULL);
    }
    return MHD_YES;
}

/* Runs the handler for r->env; answers, or parks the request. */
static enum MHD_Result run(struct MHD_Connection *c, struct req *r, int resumed)
{
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    wsm__buf_reserve(&out, 2048); /* most replies fit: one allocation */
    struct wsmd_call call = {
        .srv = r->srv,
        .lis = r->lis,
        .env = r->env,
        .user = r->user[0] ? r->user : NULL,
        .principal = r->principal[0] ? r->principal : NULL,
        .path = r->path,
        .col = r->col,
        .conn = c,
        .resume_ctx = r->resume_ctx,
        .out = &out,
        .t0_ms = r->t0_ms,
        .resumed = resumed,
    };
    enum wsm_err e = wsmd__dispatch(&call);
    r->resume_ctx = call.resume_ctx;
    if (!e && call.park) {
        if (r->shutdown) {
            e = WSM_ERR_TIMED_OUT;
        } else {
            /* Suspend first: wake may run before park returns. */
            wsm__buf_free(&out);
            r->conn = c;
            r->parked = 1;
            r->unpark = NULL;
            parked_add(r->srv, r);
            MHD_suspend_connection(c);
            unsigned long token = 0;
            enum wsm_err pe = call.park(&call, wake_request, r, &token);
            r->resume_ctx = call.resume_ctx;
            if (pe != WSM_OK)
                /* Nothing to wait for after all: the handler runs again. */
                MHD_resume_connection(c);
            else
                parked_arm(r->srv, r, c, token, call.unpark);
            return MHD_YES;
        }
    }
    enum MHD_Result ret;
    const char *mid = r->env->message_id;
    if (e) {
        wsm__buf_free(&out);
        ret = send_fault(c, r, e, mid, call.fault_message);
    } else {
        size_t len;
        char *body = wsm__buf_steal(&out, &len);
        r->quiet = call.quiet && !r->srv->cfg.log_receives;
        if (call.http_status == MHD_HTTP_NO_CONTENT) {
            free(body); /* e.g. the collector's answer to wsman/End */
            ret = send_reply(c, r, MHD_HTTP_NO_CONTENT, NULL, 0, 0);
        } else {
            ret = body ? send_reply(c, r, MHD_HTTP_OK, body, len, 0)
                       : send_fault(c, r, WSM_ERR_NOMEM, mid, NULL);
        }
    }
    if (call.settle) {
        /* Delivered only if the whole reply is written (on_completed). */
        if (ret == MHD_YES && r->status == MHD_HTTP_OK) {
            r->settle = call.settle;
            r->settle_arg = call.settle_arg;
            r->settle_probe = call.settle_probe;
        } else {
            call.settle(call.settle_arg, 0);
        }
    }
    wsm__envelope_free(r->env);
    r->env = NULL;
    return ret;
}

static enum MHD_Result on_body_complete(struct MHD_Connection *c, struct req *r)
{
    struct wsm_limits lim = {.max_size = r->srv->cfg.max_envelope};
    char msgid[256] = "";

    wsmd__connguard_phase(r->srv->guard, c, WSMD_CONN_HANDLING);
    if (r->too_big)
        return send_fault(c, r, WSM_ERR_ENVELOPE_TOO_LARGE, NULL, NULL);
    if (r->nego_token && r->body.len == 0)
        /* The handshake's last leg with no message (pywinrm's empty POST). */
        return send_reply(c, r, MHD_HTTP_OK, NULL, 0, 0);
    if (r->sealed) {
        char *plain = NULL;
        size_t plen = 0;
        enum wsm_err ue = wsmd__nego_unwrap(
            r->nc, MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
            (const unsigned char *)(r->body.data ? r->body.data : ""), r->body.len,
            r->srv->cfg.max_envelope, &plain, &plen);
        wsm__buf_free(&r->body);
        if (ue) {
            r->sealed = 0; /* nothing to seal with any more (WSM_ERR_AUTH) */
            if (ue == WSM_ERR_AUTH)
                return send_reply(c, r, MHD_HTTP_UNAUTHORIZED, NULL, 0, basic_allowed(r));
            return send_fault(c, r, ue, NULL, NULL);
        }
        r->body.data = plain;
        r->body.len = plen;
        r->body.alloc = plen + 1;
    }
    struct wsmd_lifted *lifted = NULL;
    if (r->col != WSMD_COL_NONE) {
        /* A source's body: SLDC, UTF-16, characters XML forbids (collector.h). */
        enum wsm_err be = wsmd__collector_body(
            r->srv, c, &r->body,
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Encoding"), &lim.max_size,
            &lifted);
        if (be)
            return send_fault(c, r, be, NULL, NULL);
    }
    enum wsm_err e = wsm__envelope_parse(r->body.data ? r->body.data : "", r->body.len, &lim,
                                         &r->env, msgid, sizeof(msgid));
    if (lifted) {
        enum wsm_err le = wsmd__collector_restore(lifted, e ? NULL : r->env);
        if (!e && le) {
            wsm__envelope_free(r->env);
            r->env = NULL;
            e = le;
        }
    }
    if (r->body.data)
        explicit_bzero(r->body.data, r->body.len);
    wsm__buf_free(&r->body);
    if (e)
        return send_fault(c, r, e, msgid[0] ? msgid : NULL, NULL);
    log_copy(r->action, r->env->is_identify ? "Identify" : r->env->action);
    log_copy(r->resource, r->env->resource_uri);
    if (r->anonymous && !r->env->is_identify) {
        wsm__envelope_free(r->env);
        r->env = NULL;
        return send_reply(c, r, MHD_HTTP_UNAUTHORIZED, NULL, 0, basic_allowed(r));
    }
    return run(c, r, 0);
}

struct framing {
    int content_length, transfer_encoding, chunked;
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    struct framing *f = cls;
    if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
        f->content_length++;
    } else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
        f->transfer_encoding++;
        while (value && (*value == ' ' || *value == '\t'))
            value++;
        size_t n = value ? strlen(value) : 0;
        while (n && (value[n - 1] == ' ' || value[n - 1] == '\t'))
            n--;
        f->chunked = n == 7 && !strncasecmp(value, "chunked", 7);
    }
    return MHD_YES;
}

/* One way only to tell where the body ends (RFC 9112 6.3): libmicrohttpd
 * takes the first of two Content-Lengths and lets chunked win over
 * Content-Length, where a proxy in front may decide otherwise (request
 * smuggling). Conflicts are 400, codings other than chunked 501; both
 * close the connection (r->close: 1 or 2). */
static int framing_ok(struct MHD_Connection *c, struct req *r)
{
    struct framing f = {0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_framing, &f);
    if (f.content_length > 1 || f.transfer_encoding > 1 ||
        (f.content_length && f.transfer_encoding))
        r->close = 1;
    else if (f.transfer_encoding && !f.chunked)
        r->close = 2;
    if (r->close)
        wsmd__log("event=bad-framing content_length=%d transfer_encoding=%d", f.content_length,
                  f.transfer_encoding);
    return !r->close;
}

static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    const struct wsmd_listener *l = cls;
    return wsmd__connguard_admit(l->srv->guard, addr, addrlen) ? MHD_YES : MHD_NO;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    const struct wsmd_listener *lis = cls;
    struct req *r = *con_cls;

    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &r->t0);
        r->t0_ms = (long long)r->t0.tv_sec * 1000 + r->t0.tv_nsec / 1000000;
        r->lis = lis;
        r->srv = lis->srv;
        /* The cap leaves room for the closing NUL the parser does not need. */
        wsm__buf_init(&r->body, r->srv->cfg.max_envelope);
        if (r->srv->nego) {
            const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
            r->nc = ci ? ci->socket_context : NULL;
        }
        *con_cls = r;
        if (wsmd__log_enabled(WSMD_LOG_DEBUG)) {
            /* LogLevel = debug: when a request began, for one that never ends. */
            char peer[80], u[LOG_FIELD];
            peer_of(c, peer, sizeof(peer));
            log_copy(u, url);
            wsmd__logp(WSMD_LOG_DEBUG, "event=request-start peer=%s method=%.16s url=%s", peer,
                       method, u);
        }
        wsmd__connguard_phase(r->srv->guard, c, WSMD_CONN_BODY);
        if (!framing_ok(c, r))
            return send_reply(c, r, r->close == 2 ? MHD_HTTP_NOT_IMPLEMENTED : MHD_HTTP_BAD_REQUEST,
                              NULL, 0, 0);
        enum MHD_Result ret = on_headers(c, r, url, method);
        if (r->user[0] || r->principal[0])
            wsmd__connguard_authed(r->srv->guard, c);
        return ret;
    }
    if (r->auth_job) {
        enum MHD_Result ret = basic_resumed(c, r); /* called again as for the headers */
        if (r->user[0])
            wsmd__connguard_authed(r->srv->guard, c); /* as for a check done inline */
        return ret;
    }
    if (r->parked) {
        /* Resumed after a long poll. */
        r->parked = 0;
        parked_del(r->srv, r);
        if (r->gone || peer_closed(c)) {
            /* Nobody to answer: close without running the handler (whose
             * wait, over, may hold something to release). */
            if (r->unpark)
                r->unpark(r->srv, r->token);
            char peer[80];
            peer_of(c, peer, sizeof(peer));
            wsmd__log("event=poll-abandoned peer=%s user=%s action=%s", peer,
                      r->user[0] ? r->user : "-", r->action[0] ? r->action : "-");
            r->responded = 1;
            return MHD_NO;
        }
        return run(c, r, 1);
    }
    if (r->deferred_401) {
        if (*upload_data_size) {
            r->discarded += *upload_data_size;
            *upload_data_size = 0;
            return r->discarded > r->srv->cfg.max_envelope ? MHD_NO : MHD_YES;
        }
        r->deferred_401 = 0;
        return send_reply(c, r, MHD_HTTP_UNAUTHORIZED, NULL, 0, r->deferred_basic);
    }
    if (r->responded) {
        /* A response was queued from the headers: the body is discarded. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (!r->too_big && wsm__buf_add(&r->body, upload_data, n) != WSM_OK) {
            r->too_big = 1;
            wsm__buf_free(&r->body);
        }
        if (r->too_big) {
            r->discarded += n;
            /* A chunked body far past the cap is not worth reading. */
            if (r->discarded > 4 * (r->body.cap ? r->body.cap : r->srv->cfg.max_envelope))
                return MHD_NO;
        }
        return MHD_YES;
    }
    return on_body_complete(c, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    const struct wsmd_listener *l = cls;
    (void)toe;
    wsmd__connguard_phase(l->srv->guard, c, WSMD_CONN_WAIT_HEADERS); /* the next request's */
    struct req *r = *con_cls;
    if (!r)
        return;
    if (r->settle) {
        /* Written whole is not received: delivered once the client's TCP
         * has acknowledged it all (parkwatch.c, drains). */
        int ok = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK;
        struct wsmd_parked *p = r->srv->parked;
        struct wsmd_drain *d = NULL;
        pthread_mutex_lock(&p->lock); /* p->watch goes at shutdown */
        if (ok && p->watch) {
            const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
            d = ci ? wsmd__drain_new(ci->connect_fd, r->settle, r->settle_arg) : NULL;
            if (d) {
                if (r->settle_probe)
                    r->settle_probe(r->settle_arg, wsmd__drain_probe, d);
                wsmd__parkwatch_drain(p->watch, d);
            }
        }
        pthread_mutex_unlock(&p->lock);
        if (!d)
            r->settle(r->settle_arg, ok);
        r->settle = NULL;
    }
    if (r->parked) {
        /* Closed while it waited (libmicrohttpd saw the peer go): as when a
         * resumed poll finds nobody to answer. */
        if (r->unpark)
            r->unpark(r->srv, r->token);
        parked_del(r->srv, r);
        char peer[80];
        peer_of(c, peer, sizeof(peer));
        wsmd__log("event=poll-abandoned peer=%s user=%s action=%s", peer,
                  r->user[0] ? r->user : "-", r->action[0] ? r->action : "-");
    }
    wsm__buf_free(&r->body);
    wsm__envelope_free(r->env);
    free(r->www);
    free(r->auth_job); /* not on the pool: the connection would still be suspended */
    free(r);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    const struct wsmd_listener *l = cls;
    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        /* Before libmicrohttpd closes the fd: the reaper must not touch it. */
        wsmd__connguard_close(l->srv->guard, c);
        if (l->https)
            wsmd__certauth_forget(l->srv->certauth, c); /* the certificate's verdict */
        /* The handshake and the keys die with the TCP connection. */
        wsmd__nego_conn_free(*socket_context);
        *socket_context = NULL;
        return;
    }
    if (toe != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    if (l->srv->nego) {
        *socket_context = wsmd__nego_conn_new(l->srv->nego); /* NULL: no Negotiate here */
        if (l->https)
            wsmd__nego_conn_set_tls(*socket_context); /* channel binding */
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) {
        int one = 1;
        /* Replies go out in one write; never wait for an ACK to send. */
        setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        const union MHD_ConnectionInfo *ai =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        wsmd__connguard_open(l->srv->guard, c, ci->connect_fd, ai ? ai->client_addr : NULL,
                             (unsigned)(l - l->srv->cfg.listeners));
    }
}

static const char *tls_priorities(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("aes") || !__builtin_cpu_supports("pclmul"))
        return TLS_PRIORITIES;
#endif
    return TLS_PRIORITIES_AES;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    /* A peer that goes away, or that the connection guard shut down, is
     * no error of ours; one line per such connection would let anyone
     * write the log at the rate they open connections. */
    if (!strncmp(msg, "Connection socket is closed", 27) ||
        !strncmp(msg, "Connection was closed by remote side", 36))
        return;
    /* Whatever else libmicrohttpd says (a full connection table: one line
     * per refused connection) is kept to MHD_LOG_PER_SEC lines a second. */
    static struct wsmd_lograte rate = WSMD_LOGRATE_INIT;
    wsmd__log_limited(&rate, MHD_LOG_PER_SEC, "event=http-error message=\"%s\"", msg);
}

/* Starts one listener: on its address, or on the socket the privsep monitor
 * bound (l->has_lfd). Also for a listener created over WS-Management
 * (cfglisten.c), while the others serve. */
enum wsm_err wsmd__http_listener_start(struct wsmd_server *srv, struct wsmd_listener *l)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     MHD_USE_ITC; /* MHD_quiesce_daemon: a listener deleted live */
    if (strchr(l->host, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((unsigned short)l->port);
        if (inet_pton(AF_INET6, l->host, &s6->sin6_addr) != 1)
            return WSM_ERR_INVALID_ARG;
        flags |= MHD_USE_IPv6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((unsigned short)l->port);
        if (inet_pton(AF_INET, l->host, &s4->sin_addr) != 1)
            return WSM_ERR_INVALID_ARG;
    }
    /* TLS through libmicrohttpd's GnuTLS; only TLS 1.2 and 1.3. The
     * request path after the handshake is the same as for HTTP. */
    /* The certificate through a callback where libmicrohttpd has one,
     * so that SIGHUP can replace it (tlscert.h). */
    int live = l->https && wsmd__tlscert_live();
    struct MHD_OptionItem tls[] = {
        {live ? MHD_OPTION_HTTPS_CERT_CALLBACK : MHD_OPTION_HTTPS_MEM_CERT, 0,
         live ? wsmd__tlscert_callback() : srv->cfg.tls_cert_pem},
        {live ? MHD_OPTION_HTTPS_PRIORITIES : MHD_OPTION_HTTPS_MEM_KEY, 0,
         live ? (void *)tls_priorities() : srv->cfg.tls_key_pem},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)tls_priorities()},
        /* ClientCAFile: ask for (not require) a client certificate. */
        {srv->certauth ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0,
         (void *)wsmd__certauth_ca_pem(srv->certauth)},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_OptionItem plain[] = {{MHD_OPTION_END, 0, NULL}};
    /* The address, or the socket the privsep monitor bound. */
    struct MHD_OptionItem bind[] = {
        {l->has_lfd ? MHD_OPTION_LISTEN_SOCKET : MHD_OPTION_SOCK_ADDR, l->has_lfd ? l->lfd : 0,
         l->has_lfd ? NULL : (void *)&ss},
        {MHD_OPTION_END, 0, NULL},
    };
    if (l->https) {
        if (!srv->cfg.tls_cert_pem || !srv->cfg.tls_key_pem)
            return WSM_ERR_INVALID_ARG; /* wsmd__config_load_tls was not called */
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            wsmd__log("event=error message=\"libmicrohttpd was built without TLS\"");
            return WSM_ERR_UNSUPPORTED_FEATURE;
        }
        flags |= MHD_USE_TLS;
        char why[300];
        if (live && !wsmd__tlscert_ready() &&
            wsmd__tlscert_set(srv->cfg.tls_cert_pem, srv->cfg.tls_key_pem, why, sizeof(why)) !=
                WSM_OK) {
            wsmd__log("event=error message=\"%s\"", why);
            return WSM_ERR_INVALID_ARG;
        }
    }
    if (!l->has_lfd) {
        /* Bound here rather than by libmicrohttpd: its error does not say
         * which address failed, ours does. */
        char why[300];
        if (wsmd__bind_listener(l, why, sizeof(why)) != 0) {
            fprintf(stderr, "wsmd: %s\n", why);
            return WSM_ERR_IO;
        }
        bind[0].option = MHD_OPTION_LISTEN_SOCKET;
        bind[0].value = l->lfd;
        bind[0].ptr_value = NULL;
    }
    l->srv = srv;
    l->mhd = MHD_start_daemon(
        flags, 0, accept_policy, l, on_request, l, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_ARRAY, l->https ? tls : plain, MHD_OPTION_ARRAY, bind,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, l, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        l, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)srv->cfg.threads, MHD_OPTION_CONNECTION_LIMIT,
        srv->cfg.max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)(WSMD_IDLE_TIMEOUT_MS / 1000),
        /* Headers of WinRM clients take a few KB, Kerberos tickets with a
         * PAC tens of KB (WSMD_HTTP_POOL); MHD clears the pool per request. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)WSMD_HTTP_POOL, MHD_OPTION_END);
    if (!l->mhd) {
        if (l->has_lfd)
            close(l->lfd); /* this process's copy (the privsep monitor keeps its own) */
        l->has_lfd = 0;
        return WSM_ERR_IO;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_BIND_PORT);
    if (di && di->port)
        l->port = di->port;
    wsmd__log("%s on %s://%s%s%s:%d%s", l->metrics ? "metrics" : "listening",
              l->https ? "https" : "http", strchr(l->host, ':') ? "[" : "", l->host,
              strchr(l->host, ':') ? "]" : "", l->port, l->metrics ? "/metrics" : "/wsman");
    if (!l->metrics && !l->loopback && !l->https && !srv->cfg.allow_unencrypted)
        wsmd__log("event=notice message=\"Basic authentication is refused on %s: plain "
                  "HTTP on a non-loopback address\"",
                  l->url);
    return WSM_OK;
}

/* A listener deleted live: it accepts no new connection from now on; those
 * it has go on until they close. Returns the listening socket (the caller
 * closes it), or -1. */
int wsmd__http_listener_quiesce(struct wsmd_listener *l)
{
    return l->mhd ? (int)MHD_quiesce_daemon(l->mhd) : -1;
}

/* Connections still open on a quiesced listener (0: it may be stopped). */
unsigned wsmd__http_listener_connections(struct wsmd_listener *l)
{
    const union MHD_DaemonInfo *di =
        l->mhd ? MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS) : NULL;
    return di ? di->num_connections : 0;
}

enum wsm_err wsmd__http_start(struct wsmd_server *srv)
{
    srv->parked = calloc(1, sizeof(*srv->parked));
    if (!srv->parked)
        return WSM_ERR_NOMEM;
    pthread_mutex_init(&srv->parked->lock, NULL);
    wsmd__connguard_size(&srv->cfg);
    if (wsmd__connguard_new(&srv->cfg, &srv->guard) != WSM_OK)
        return WSM_ERR_NOMEM;
    if (wsmd__parkwatch_start(parked_gone, srv, &srv->parked->watch) != WSM_OK)
        return WSM_ERR_INTERNAL;
    for (size_t i = 0; i < srv->cfg.nlisteners; i++) {
        enum wsm_err e = wsmd__http_listener_start(srv, &srv->cfg.listeners[i]);
        if (e)
            return e;
    }
    return WSM_OK;
}

void wsmd__http_quiesce(struct wsmd_server *srv)
{
    struct wsmd_parked *p = srv->parked;
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    for (struct req *r = p->head; r; r = r->next) {
        r->shutdown = 1;
        if (r->unpark && r->unpark(srv, r->token) == 1)
            MHD_resume_connection(r->conn); /* cancelled: resume it ourselves */
    }
    pthread_mutex_unlock(&p->lock);
    /* Give the resumed requests a moment to answer. */
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&p->lock);
        size_t n = p->count;
        pthread_mutex_unlock(&p->lock);
        if (!n)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

void wsmd__http_stop(struct wsmd_server *srv)
{
    if (srv->parked) {
        /* First: it must not resume connections of a stopping daemon. */
        pthread_mutex_lock(&srv->parked->lock);
        struct wsmd_parkwatch *w = srv->parked->watch;
        srv->parked->watch = NULL;
        pthread_mutex_unlock(&srv->parked->lock);
        wsmd__parkwatch_stop(w);
    }
    for (size_t i = 0; i < srv->cfg.nlisteners; i++) {
        if (srv->cfg.listeners[i].mhd) {
            MHD_stop_daemon(srv->cfg.listeners[i].mhd);
            srv->cfg.listeners[i].mhd = NULL;
        }
    }
    wsmd__connguard_free(srv->guard); /* every connection is closed now */
    srv->guard = NULL;
    if (srv->parked) {
        pthread_mutex_destroy(&srv->parked->lock);
        free(srv->parked);
        srv->parked = NULL;
    }
}
