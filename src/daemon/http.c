/* HTTP(S) front end on libmicrohttpd: POST /wsman only, the authentication
 * gate before any byte of the body is read (httpgate.c), bounded bodies,
 * one complete response per request (httpreply.c). This file holds a
 * request's path through libmicrohttpd's callbacks: framing checks, the
 * body read under its cap, decryption, parsing, the handler's run (or its
 * parking, httppark.c) and the end of the request. The listeners
 * themselves are started in httplisten.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "collector.h"
#include "connguard.h"
#include "fault.h"
#include "http_priv.h"
#include "log.h"
#include "negotiate.h"
#include "opquota.h"

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
            wsmd__http_park_add(r->srv, r);
            MHD_suspend_connection(c);
            unsigned long token = 0;
            enum wsm_err pe = call.park(&call, wsmd__http_wake, r, &token);
            r->resume_ctx = call.resume_ctx;
            if (pe != WSM_OK)
                /* Nothing to wait for after all: the handler runs again. */
                MHD_resume_connection(c);
            else
                wsmd__http_park_arm(r->srv, r, c, token, call.unpark);
            return MHD_YES;
        }
    }
    enum MHD_Result ret;
    const char *mid = r->env->message_id;
    if (e) {
        wsm__buf_free(&out);
        ret = wsmd__http_fault(c, r, e, mid, call.fault_message);
    } else {
        size_t len;
        char *body = wsm__buf_steal(&out, &len);
        r->quiet = call.quiet && !r->srv->cfg.log_receives;
        if (call.http_status == MHD_HTTP_NO_CONTENT) {
            free(body); /* e.g. the collector's answer to wsman/End */
            ret = wsmd__http_reply(c, r, MHD_HTTP_NO_CONTENT, NULL, 0, 0);
        } else {
            ret = body ? wsmd__http_reply(c, r, MHD_HTTP_OK, body, len, 0)
                       : wsmd__http_fault(c, r, WSM_ERR_NOMEM, mid, NULL);
        }
    }
    if (call.settle) {
        /* Delivered only if the whole reply is written (wsmd__http_on_completed). */
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
        return wsmd__http_fault(c, r, WSM_ERR_ENVELOPE_TOO_LARGE, NULL, NULL);
    if (r->nego_token && r->body.len == 0)
        /* The handshake's last leg with no message (pywinrm's empty POST). */
        return wsmd__http_reply(c, r, MHD_HTTP_OK, NULL, 0, 0);
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
                return wsmd__http_reply(c, r, MHD_HTTP_UNAUTHORIZED, NULL, 0,
                                        wsmd__http_basic_allowed(r));
            return wsmd__http_fault(c, r, ue, NULL, NULL);
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
            return wsmd__http_fault(c, r, be, NULL, NULL);
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
        return wsmd__http_fault(c, r, e, msgid[0] ? msgid : NULL, NULL);
    wsmd__http_log_copy(r->action, r->env->is_identify ? "Identify" : r->env->action);
    wsmd__http_log_copy(r->resource, r->env->resource_uri);
    if (r->anonymous && !r->env->is_identify) {
        wsm__envelope_free(r->env);
        r->env = NULL;
        return wsmd__http_reply(c, r, MHD_HTTP_UNAUTHORIZED, NULL, 0, wsmd__http_basic_allowed(r));
    }
    if (r->user[0]) {
        /* MaxConcurrentOperationsPerUser: held until answered (httpreply.c) or on_completed. */
        enum wsm_err qe = wsmd__ops_enter(&r->srv->cfg, r->user);
        if (qe)
            return wsmd__http_fault(c, r, qe, msgid[0] ? msgid : NULL, NULL);
        r->op_held = 1;
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

enum MHD_Result wsmd__http_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
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
            wsmd__http_peer(c, peer, sizeof(peer));
            wsmd__http_log_copy(u, url);
            wsmd__logp(WSMD_LOG_DEBUG, "event=request-start peer=%s method=%.16s url=%s", peer,
                       method, u);
        }
        wsmd__connguard_phase(r->srv->guard, c, WSMD_CONN_BODY);
        if (!framing_ok(c, r))
            return wsmd__http_reply(
                c, r, r->close == 2 ? MHD_HTTP_NOT_IMPLEMENTED : MHD_HTTP_BAD_REQUEST, NULL, 0, 0);
        enum MHD_Result ret = wsmd__http_gate(c, r, url, method);
        if (r->user[0] || r->principal[0])
            wsmd__connguard_authed(r->srv->guard, c);
        return ret;
    }
    if (r->auth_job) {
        enum MHD_Result ret = wsmd__http_basic_resumed(c, r); /* called again as for the headers */
        if (r->user[0])
            wsmd__connguard_authed(r->srv->guard, c); /* as for a check done inline */
        return ret;
    }
    if (r->parked) {
        /* Resumed after a long poll. */
        r->parked = 0;
        wsmd__http_park_del(r->srv, r);
        if (r->gone || wsmd__http_peer_closed(c)) {
            /* Nobody to answer: close without running the handler (whose
             * wait, over, may hold something to release). */
            wsmd__http_abandoned(c, r);
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
        return wsmd__http_reply(c, r, MHD_HTTP_UNAUTHORIZED, NULL, 0, r->deferred_basic);
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

void wsmd__http_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                             enum MHD_RequestTerminationCode toe)
{
    const struct wsmd_listener *l = cls;
    (void)toe;
    wsmd__connguard_phase(l->srv->guard, c, WSMD_CONN_WAIT_HEADERS); /* the next request's */
    struct req *r = *con_cls;
    if (!r)
        return;
    if (r->op_held)
        wsmd__ops_leave(r->user);
    if (r->settle) {
        wsmd__http_settle(c, r, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
        r->settle = NULL;
    }
    if (r->parked) {
        /* Closed while it waited (libmicrohttpd saw the peer go): as when a
         * resumed poll finds nobody to answer. */
        wsmd__http_abandoned(c, r);
        wsmd__http_park_del(r->srv, r);
    }
    wsm__buf_free(&r->body);
    wsm__envelope_free(r->env);
    free(r->www);
    free(r->auth_job); /* not on the pool: the connection would still be suspended */
    free(r);
    *con_cls = NULL;
}
