/* HTTP front end, the replies: the response with its headers (the
 * challenges, Retry-After, Connection: close), a sealed body for a sealed
 * request (Negotiate encryption), faults, and the request's one log line. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "connguard.h"
#include "fault.h"
#include "http_priv.h"
#include "opquota.h"
#include "log.h"
#include "negotiate.h"
#include "throttle.h" /* wsmd__log_escape */

static long elapsed_us(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000000L + (t.tv_nsec - t0->tv_nsec) / 1000;
}

void wsmd__http_peer(struct MHD_Connection *c, char *out, size_t n)
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
void wsmd__http_log_copy(char *dst, const char *s)
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

enum MHD_Result wsmd__http_reply(struct MHD_Connection *c, struct req *r, unsigned status,
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
    if (r && r->op_held) {
        /* The operation is answered: a client that reads the reply may send
         * its next request before libmicrohttpd reports this one completed,
         * and must not find it still counted (MaxConcurrentOperationsPerUser). */
        wsmd__ops_leave(r->user);
        r->op_held = 0;
    }
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
        wsmd__http_peer(c, peer, sizeof(peer));
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

enum MHD_Result wsmd__http_fault(struct MHD_Connection *c, struct req *r, enum wsm_err err,
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
        return wsmd__http_reply(c, r, 500, NULL, 0, 0);
    }
    size_t len;
    char *body = wsm__buf_steal(&out, &len);
    return wsmd__http_reply(c, r, fi->http_status, body, len, 0);
}
