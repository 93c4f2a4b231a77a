/* Sending a push delivery's message and what follows its Ack
 * (docs/internals/eventlog.md "Push deliveries"): the session to the
 * subscriber, authenticated as its Subscribe asked (evpushauth.c); the
 * envelope around a batch, an event or a heartbeat; the bookmark moved to
 * an acknowledged batch's end; the SubscriptionEnd of a subscriber that
 * stayed unreachable. Called by the delivery threads of evpushsend.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evpush_int.h"
#include "forwarder.h"
#include "ns.h"

#define ACK_ACTION WSMAN_URI "Ack"
#define ANON "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
#define SEND_TIMEOUT_MS 15000

/* A session to the subscriber, authenticated as its Subscribe asked
 * (evpushauth.c): Basic with its UsernameToken, Negotiate with the
 * forwarder's keytab (libwsm seals the bodies over http://, MS-WSMV
 * 2.2.9.1), or the forwarder's client certificate. When what the
 * Subscribe matched is no longer configured (wsmd restarted with other
 * settings) the delivery fails, with the reason, rather than going out
 * with less. */
static enum wsm_err open_session(struct pusher *p, const char *to, wsm_session **out)
{
    const struct wsmd_fwd_lent *l = wsmd__fwd_lent(wsmd__evpush_server_cfg());
    int a = p->c.auth;
    struct wsm_session_opts o = {.url = to, .auth = WSM_AUTH_NONE, .timeout_ms = SEND_TIMEOUT_MS};
    p->why[0] = '\0';
    if (a == WSMD_EVPUSH_AUTH_BASIC) {
        o.auth = WSM_AUTH_BASIC;
        o.user = p->c.user;
        o.password = p->c.password;
    } else if (a == WSMD_EVPUSH_AUTH_KERBEROS) {
        if (!l->keytab[0]) {
            snprintf(p->why, sizeof(p->why), "no keytab configured (ForwarderKeytab)");
            return WSM_ERR_INVALID_ARG;
        }
        o.auth = WSM_AUTH_NEGOTIATE;
        o.user = l->principal;
    } else if (a == WSMD_EVPUSH_AUTH_CERT) {
        if (!l->cert[0] || strcmp(l->thumb, p->c.user) != 0) {
            snprintf(p->why, sizeof(p->why),
                     "the client certificate the Subscribe matched is no longer configured");
            return WSM_ERR_INVALID_ARG;
        }
        o.auth = WSM_AUTH_CERTIFICATE;
    }
    wsm_session *s = NULL;
    enum wsm_err e = wsm_session_new(&o, &s);
    if (!e && a == WSMD_EVPUSH_AUTH_KERBEROS)
        e = wsm_session_set_string(s, "ClientKeytab", l->keytab);
    if (!e && a == WSMD_EVPUSH_AUTH_CERT)
        e = wsm_session_set_string(s, "CertificateFile", l->cert);
    if (!e && a == WSMD_EVPUSH_AUTH_CERT && l->key[0])
        e = wsm_session_set_string(s, "KeyFile", l->key);
    if (!e && l->ca[0])
        e = wsm_session_set_string(s, "CAFile", l->ca);
    if (e) {
        snprintf(p->why, sizeof(p->why), "%s",
                 s && *wsm_session_error(s) ? wsm_session_error(s) : wsm_strerror(e));
        wsm_session_free(s);
        return e;
    }
    *out = s;
    return WSM_OK;
}

/* The body is wrap_open, len bytes of body, wrap_close: copied once, into
 * the message (a batch is up to MaxEnvelopeSize; printf's "%s" of it cost
 * a fifth of the delivery's CPU). */
enum wsm_err wsmd__evpush_post(struct pusher *p, const char *to, const char *refs,
                               struct wsm_buf *b, const char *action, const char *wrap_open,
                               const char *body, size_t len, const char *wrap_close, const char *bm,
                               int ack)
{
    char mid[WSM_UUID_STRLEN];
    wsm__uuid_urn(mid);
    wsm__buf_reset(b);
    enum wsm_err e = wsm__buf_puts(b, "<s:Envelope xmlns:s=\"" WSM_NS_SOAP
                                      "\" xmlns:a=\"" WSM_NS_WSA "\" xmlns:w=\"" WSM_NS_WSMAN
                                      "\" xmlns:e=\"" WSM_NS_WSEV "\"><s:Header><a:To>");
    if (!e)
        e = wsm__buf_xml(b, to);
    if (!e)
        e = wsm__buf_printf(b,
                            "</a:To><a:Action s:mustUnderstand=\"true\">%s</a:Action>"
                            "<a:MessageID>%s</a:MessageID><a:ReplyTo><a:Address>" ANON
                            "</a:Address></a:ReplyTo><w:MaxEnvelopeSize>%lu</w:MaxEnvelopeSize>"
                            "<w:OperationTimeout>PT60.000S</w:OperationTimeout>%s",
                            action, mid, p->c.max_envelope, refs ? refs : "");
    if (!e && bm)
        e = wsm__buf_printf(b, "<w:Bookmark>%s</w:Bookmark>", bm);
    if (!e && ack)
        e = wsm__buf_puts(b, "<w:AckRequested/>");
    if (!e)
        e = wsm__buf_puts(b, "</s:Header><s:Body>");
    if (!e)
        e = wsm__buf_puts(b, wrap_open);
    if (!e)
        e = wsm__buf_add(b, body, len);
    if (!e)
        e = wsm__buf_puts(b, wrap_close);
    if (!e)
        e = wsm__buf_puts(b, "</s:Body></s:Envelope>");
    if (e)
        return e;
    wsm_session *one = NULL, *sess = p->sess;
    if (!sess || strcmp(to, p->c.notify) != 0) {
        if ((e = open_session(p, to, &sess)))
            return e;
        if (strcmp(to, p->c.notify) != 0)
            one = sess; /* EndTo: one message, its own session */
        else
            p->sess = sess;
    }
    if (!ack) {
        /* Push and SubscriptionEnd: no Ack is asked; a 2xx status is the
         * subscriber's receipt (WS-Eventing's one-way messages). */
        struct wsm_buf resp;
        long status = 0;
        wsm__buf_init(&resp, 0);
        wsmd__evpush_set_live(p, sess);
        e = wsm__conn_post(sess, sess->conn, b->data, b->len, !p->c.auth, &resp, &status,
                           sess->error, sizeof(sess->error));
        wsmd__evpush_set_live(p, NULL);
        wsm__buf_free(&resp);
        if (!e && (status < 200 || status > 299)) {
            snprintf(sess->error, sizeof(sess->error), "HTTP %ld", status);
            e = WSM_ERR_HTTP;
        }
        wsm_session_free(one);
        return e;
    }
    struct wsm_envelope *env = NULL;
    wsmd__evpush_set_live(p, sess);
    e = wsm__post(sess, b->data, b->len, !p->c.auth, mid, &env, NULL);
    wsmd__evpush_set_live(p, NULL);
    /* Acknowledged: an Ack answering this message (DSP0226 10.7). */
    if (!e && (!env->action || strcmp(env->action, ACK_ACTION) != 0)) {
        snprintf(sess->error, sizeof(sess->error), "the reply is not an Ack");
        e = WSM_ERR_ACTION_NOT_SUPPORTED;
    }
    wsm__envelope_free(env);
    wsm_session_free(one);
    return e;
}

/* Moves the subscription's bookmark to the acknowledged batch's end. */
void wsmd__evpush_commit(struct pusher *p, char *bm)
{
    for (int tries = 0; tries < 200; tries++) {
        int busy = 0;
        struct wsmd_evs *s = wsmd__evs_take(p->id, 0, p->owner, &busy);
        if (s) {
            unsigned long serial = wsmd__evs_hand_over(s, bm);
            wsmd__evs_give(s);
            wsmd__evs_commit_bookmark_lazy(p->id, serial); /* evbmwrite.c */
            return;
        }
        if (!busy)
            break;
        struct timespec t = {0, 10 * 1000000};
        nanosleep(&t, NULL);
    }
    free(bm);
}

void wsmd__evpush_end(struct pusher *p, struct wsm_buf *b, const char *why)
{
    const char *to = p->c.end_to ? p->c.end_to : p->c.notify;
    const char *refs = p->c.end_to ? p->c.end_refs : p->c.notify_refs;
    struct wsm_buf body;
    wsm__buf_init(&body, 0);
    wsm__buf_printf(&body,
                    "<e:SubscriptionEnd><e:SubscriptionManager><a:Address>" ANON
                    "</a:Address><a:ReferenceParameters><w:ResourceURI>" WSMD_EVENTLOG_URI
                    "</w:ResourceURI><e:Identifier>%s</e:Identifier></a:ReferenceParameters>"
                    "</e:SubscriptionManager><e:Status>" WSM_NS_WSEV "/DeliveryFailure</e:Status>"
                    "<e:Reason xml:lang=\"en-US\">%s</e:Reason></e:SubscriptionEnd>",
                    p->id, why);
    enum wsm_err e = body.data ? wsmd__evpush_post(p, to, refs, b, WSM_NS_WSEV "/SubscriptionEnd",
                                                   "", body.data, body.len, "", NULL, 0)
                               : WSM_ERR_NOMEM;
    wsm__buf_free(&body);
    wsmd__log("event=eventsource-push-end id=%s owner=%s status=DeliveryFailure sent=%s", p->id,
              p->owner, e ? "no" : "yes");
    struct wsmd_evs *s = NULL;
    for (int tries = 0; tries < 200 && !s; tries++) {
        int busy = 0;
        s = wsmd__evs_take(p->id, 0, p->owner, &busy);
        if (!s && !busy)
            break;
        if (!s) {
            struct timespec t = {0, 10 * 1000000};
            nanosleep(&t, NULL);
        }
    }
    if (s)
        wsmd__evs_remove(s);
}
