/* The delivery endpoint /wsman/subscriptions/<id>: a source's batches of
 * events, its heartbeats and its SubscriptionEnd. A batch is answered with
 * an Ack only once every output holds it and the bookmark is stored
 * (docs/internals/collector.md): a crash before that makes the source send
 * it again, so nothing acknowledged is lost; duplicates are possible. */
#include <arpa/inet.h>
#include <libxml/tree.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "collector_priv.h"
#include "dialpush.h"
#include "envelope.h"
#include "events.h"
#include "ns.h"
#include "server.h"
#include "throttle.h"
#include "writer.h"

/* More than any MaxElements a subscription hands out; the envelope size
 * bounds a batch anyway. */
#define MAX_EVENTS_PER_BATCH 50000
#define MAX_BOOKMARK 65536

struct delivery {
    struct col_subs *subs;
    const struct wsmd_sub *sub;
    char addr[64];
    char who[256];
    const char *key; /* the state row's principal: the principal, or the
                        EventSource's Address of a CollectorInitiated push */
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void rfc3339(long long ms, char *out, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + k, n - k, ".%03dZ", (int)(ms % 1000));
}

static void peer_ip(struct MHD_Connection *c, char *out, size_t n)
{
    snprintf(out, n, "?");
    const union MHD_ConnectionInfo *ci =
        c ? MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS) : NULL;
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)n);
}

/* The subscription the path names, if this principal may use it. Nothing
 * is written for a request refused here. */
static enum wsm_err begin(struct wsmd_call *call, struct delivery *d)
{
    struct wsmd_collector *col = call->srv->collector;
    memset(d, 0, sizeof(*d));
    peer_ip(call->conn, d->addr, sizeof(d->addr));
    wsmd__log_escape(d->who, sizeof(d->who), call->principal ? call->principal : "-");
    const char *id = call->path + strlen(WSMD_COL_DELIVERY_PREFIX);
    size_t idlen = strcspn(id, "/?");
    d->subs = wsmd__col_subs_get(col);
    d->sub = wsmd__col_sub_find(d->subs, id, idlen);
    const char *why = NULL;
    enum wsm_err e = WSM_OK;
    /* A CollectorInitiated subscription in Push mode: the sources it
     * subscribed to deliver here (dialpush.c). */
    int pushed = d->sub && d->sub->enabled && !d->sub->source_initiated &&
                 !strcmp(d->sub->delivery_mode, "Push");
    const struct wsmd_sub_source *src =
        pushed ? wsmd__dial_push_source(d->sub, call->env, call->principal) : NULL;
    d->key = src ? src->address : call->principal;
    if (pushed && !src) {
        why = "not an event source of this subscription";
        e = WSM_ERR_ACCESS_DENIED;
    } else if (pushed) {
        /* the source is known: accepted */
    } else if (!d->sub || !wsmd__sub_served(d->sub)) {
        why = !d->sub            ? "no such subscription"
              : !d->sub->enabled ? "subscription disabled"
                                 : "subscription not SourceInitiated";
        e = WSM_ERR_DESTINATION_UNREACHABLE;
    } else if (!call->principal || !wsmd__sub_allows(d->sub, call->principal)) {
        why = "principal not allowed by the subscription";
        e = WSM_ERR_ACCESS_DENIED;
    }
    if (e) {
        char sid[128];
        wsmd__log_escape(sid, sizeof(sid), id);
        atomic_fetch_add(&col->m.refused, 1);
        wsmd__log("event=collector-refused principal=%s addr=%s path_id=%.64s reason=\"%s\"",
                  d->who, d->addr, sid, why);
        call->fault_message = why;
        wsmd__col_subs_put(d->subs);
        d->subs = NULL;
    }
    return e;
}

static void end(struct delivery *d)
{
    wsmd__col_subs_put(d->subs);
}

/* The BookmarkList the source sent (header w:Bookmark), as text, or NULL. */
static char *bookmark_of(const struct wsm_envelope *env)
{
    xmlNodePtr h = env->header ? env->header->children : NULL;
    for (; h; h = h->next) {
        if (h->type != XML_ELEMENT_NODE || strcmp((const char *)h->name, "Bookmark") != 0)
            continue;
        xmlNodePtr list = h->children;
        while (list && list->type != XML_ELEMENT_NODE)
            list = list->next;
        if (!list)
            return NULL;
        xmlBufferPtr b = xmlBufferCreate();
        if (!b)
            return NULL;
        char *s = NULL;
        if (xmlNodeDump(b, env->doc, list, 0, 0) > 0 && xmlBufferLength(b) < MAX_BOOKMARK)
            s = strdup((const char *)xmlBufferContent(b));
        xmlBufferFree(b);
        return s;
    }
    return NULL;
}

/* w:AckRequested among the headers (DSP0226 10.7: answer with an Ack). */
static int ack_requested(const struct wsm_envelope *env)
{
    for (xmlNodePtr h = env->header ? env->header->children : NULL; h; h = h->next)
        if (h->type == XML_ELEMENT_NODE && !strcmp((const char *)h->name, "AckRequested"))
            return 1;
    return 0;
}

static enum wsm_err ack(struct wsmd_call *call)
{
    enum wsm_err e = wsm__reply_begin(call->out, WSMD_ACTION_ACK, call->env->message_id, NULL);
    return e ? e : wsm__reply_end(call->out);
}

/* First run: the job for the writers (writer.c), the request parked. */
static enum wsm_err submit(struct wsmd_call *call, struct delivery *d, int kind,
                           const struct wsmd_event *ev, size_t n)
{
    struct col_job *j = calloc(1, sizeof(*j));
    if (!j) {
        end(d);
        return WSM_ERR_NOMEM;
    }
    j->subs = d->subs; /* the reference passes to the job */
    d->subs = NULL;
    j->sub = d->sub;
    j->kind = kind;
    j->t0_ms = now_ms();
    memcpy(j->addr, d->addr, sizeof(j->addr));
    memcpy(j->who, d->who, sizeof(j->who));
    snprintf(j->principal, sizeof(j->principal), "%s", d->key);
    rfc3339(j->t0_ms, j->received, sizeof(j->received));
    j->outputs = d->sub->outputs;
    j->log_file = d->sub->log_file;
    j->ev = ev;
    j->n = n;
    j->meta = (struct wsmd_event_meta){
        .subscription = d->sub->id,
        .client = j->principal,
        .source_addr = j->addr,
        .received = j->received,
    };
    if (kind != COL_JOB_END)
        j->bookmark = bookmark_of(call->env);
    j->update = (struct wsmd_state_update){
        .sub = d->sub->id,
        .principal = j->principal,
        .addr = j->addr,
        .bookmark_xml = j->bookmark,
        .events = n,
        .heartbeat = kind == COL_JOB_HEARTBEAT,
        .subscription_end = kind == COL_JOB_END,
        .now_ms = j->t0_ms,
    };
    for (size_t i = 0; i < n; i++) {
        j->bytes += ev[i].xml_len;
        j->bad += !ev[i].well_formed;
        j->mismatch +=
            ev[i].well_formed && !wsmd__event_computer_matches(ev[i].computer, call->principal);
    }
    wsmd__col_job_submit(call, j);
    return WSM_OK;
}

/* Second run: the job's result, and the answer. */
static enum wsm_err finish(struct wsmd_call *call)
{
    struct wsmd_collector *col = call->srv->collector;
    struct col_job *j = wsmd__col_job_resumed(call);
    if (!j) {
        call->fault_message = "The collector is stopping; send again.";
        return WSM_ERR_INTERNAL;
    }
    enum wsm_err e = WSM_OK;
    if (j->out_err) {
        atomic_fetch_add(&col->m.output_failures, 1);
        wsmd__log("event=collector-output-error principal=%s subscription=%s events=%zu "
                  "error=\"%s\"",
                  j->who, j->sub->id, j->n, wsm_strerror(j->out_err));
        call->fault_message = "The collector could not write the events; send them again.";
        e = WSM_ERR_INTERNAL;
    } else if (j->state_err) {
        atomic_fetch_add(&col->m.state_failures, 1);
        wsmd__log("event=collector-state-error principal=%s subscription=%s error=\"%s\"", j->who,
                  j->sub->id, wsm_strerror(j->state_err));
        call->fault_message = "The collector could not store the source's state; send again.";
        e = WSM_ERR_INTERNAL;
    } else if (j->kind == COL_JOB_END && !ack_requested(call->env)) {
        atomic_fetch_add(&col->m.ends, 1);
        wsmd__log("event=collector-subscription-end principal=%s subscription=%s", j->who,
                  j->sub->id);
        call->http_status = MHD_HTTP_NO_CONTENT; /* a notification: nothing to answer */
    } else {
        if (j->kind == COL_JOB_END) {
            atomic_fetch_add(&col->m.ends, 1);
            wsmd__log("event=collector-subscription-end principal=%s subscription=%s", j->who,
                      j->sub->id);
        }
        if (j->kind == COL_JOB_EVENTS) {
            atomic_fetch_add(&col->m.events, j->n);
            atomic_fetch_add(&col->m.bytes, j->bytes);
            atomic_fetch_add(&col->m.batches, 1);
            atomic_fetch_add(&col->m.malformed_events, j->bad);
            atomic_fetch_add(&col->m.mismatches, j->mismatch);
            call->quiet = !col->srv->cfg.log_receives; /* one line per batch is too many */
        } else if (j->kind == COL_JOB_HEARTBEAT) {
            atomic_fetch_add(&col->m.heartbeats, 1);
        }
        e = ack(call);
        if (!e)
            atomic_fetch_add(&col->m.acks, 1);
    }
    if (j->kind == COL_JOB_EVENTS)
        wsmd__col_observe(col, (now_ms() - j->t0_ms) * 1000);
    wsmd__col_job_free(j);
    return e;
}

enum wsm_err wsmd__col_events(struct wsmd_call *call)
{
    if (call->resumed)
        return finish(call);
    struct wsmd_collector *col = call->srv->collector;
    struct delivery d;
    enum wsm_err e = begin(call, &d);
    if (e)
        return e;
    const xmlNode *events = call->env->payload;
    if (!events || !wsm__xml_is(events, WSM_NS_WSMAN, "Events")) {
        end(&d);
        atomic_fetch_add(&col->m.decode_failures, 1);
        call->fault_message = "The body of an Events message must be w:Events.";
        return WSM_ERR_INVALID_REPRESENTATION;
    }
    struct wsmd_event *ev = NULL;
    size_t n = 0;
    e = wsmd__events_parse(events, &call->env->arena, MAX_EVENTS_PER_BATCH, &ev, &n);
    if (e) {
        end(&d);
        atomic_fetch_add(&col->m.decode_failures, 1);
        return e == WSM_ERR_QUOTA ? WSM_ERR_ENVELOPE_TOO_LARGE : e;
    }
    return submit(call, &d, COL_JOB_EVENTS, ev, n);
}

enum wsm_err wsmd__col_heartbeat(struct wsmd_call *call)
{
    if (call->resumed)
        return finish(call);
    struct delivery d;
    enum wsm_err e = begin(call, &d);
    return e ? e : submit(call, &d, COL_JOB_HEARTBEAT, NULL, 0);
}

enum wsm_err wsmd__col_subscription_end(struct wsmd_call *call)
{
    if (call->resumed)
        return finish(call);
    struct delivery d;
    enum wsm_err e = begin(call, &d);
    return e ? e : submit(call, &d, COL_JOB_END, NULL, 0);
}
