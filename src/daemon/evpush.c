/* Push deliveries of the event source: Events (batches), PushWithAck and
 * Push (one event a message), heartbeats, ConnectionRetry and
 * SubscriptionEnd (DSP0226 10.2.9, MS-WSMV 3.1.4.1.30; docs/internals/
 * eventlog.md "Push deliveries").
 *
 * A small pool of delivery threads serves every push subscription: a
 * thread takes the one whose next look is due, reads its journal into the
 * batch it is building, and sends the batch when MaxElements is reached or
 * MaxTime has passed since its first event. The subscription is taken
 * (busy) only while its reader is read, never while a message travels:
 * Renew, GetStatus and Unsubscribe are never held up by a slow subscriber.
 *
 * The bookmark moves only when the subscriber acknowledged the batch (its
 * Ack, or for Push an HTTP 200): a batch that was refused or lost is sent
 * again, whole, after the ConnectionRetry interval, and after a restart
 * the reader starts again after the last acknowledged bookmark. A
 * subscriber that stays unreachable past ConnectionRetry's Total is sent
 * one SubscriptionEnd (DeliveryFailure) and its subscription is removed. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <libxml/tree.h>

#include "client_internal.h"
#include "evpush.h"
#include "ns.h"

#define WSMAN_URI "http://schemas.dmtf.org/wbem/wsman/1/wsman/"
#define ACK_ACTION WSMAN_URI "Ack"
#define ANON "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
#define SEP '\x1f' /* between the stored fields: never in XML text */

#define THREADS 2
/* An idle subscription is woken by its reader's descriptor (the journal
 * grew); this look is only the safety net. */
#define POLL_MS 1000
#define DEFAULT_MAX_ELEMENTS 1000  /* Events mode, when the Subscribe says none */
#define DEFAULT_MAX_TIME_MS 30000  /* Windows' "Normal" MaxTime is 15 min; 30 s is kinder */
#define DEFAULT_MAX_ENVELOPE 512000
#define DEFAULT_RETRY_TOTAL 5      /* Windows' defaults: Total=5, PT60S */
#define DEFAULT_RETRY_MS 60000
#define SEND_TIMEOUT_MS 15000

/* ---- the Subscribe's Delivery ------------------------------------------ */

int wsmd__evpush_mode(const char *mode)
{
    return mode && (!strcmp(mode, WSMD_EV_MODE_EVENTS) || !strcmp(mode, WSMD_EV_MODE_PUSHACK) ||
                    !strcmp(mode, WSMD_EV_MODE_PUSH));
}

static xmlNodePtr find_local(xmlNodePtr n, const char *name, int depth)
{
    for (xmlNodePtr c = n ? n->children : NULL; c && depth > 0; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (!strcmp((const char *)c->name, name))
            return c;
        xmlNodePtr f = find_local(c, name, depth - 1);
        if (f)
            return f;
    }
    return NULL;
}

/* The children of an EPR's ReferenceParameters (or ReferenceProperties),
 * each serialised with its own namespace declarations: they are echoed as
 * headers of every message to that EPR (WS-Addressing). */
static char *ref_params(xmlNodePtr epr)
{
    xmlNodePtr rp = wsm__xml_child(epr, WSM_NS_WSA, "ReferenceParameters");
    if (!rp)
        rp = wsm__xml_child(epr, WSM_NS_WSA, "ReferenceProperties");
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    wsm__buf_puts(&b, "");
    xmlDocPtr d = xmlNewDoc((const xmlChar *)"1.0");
    xmlBufferPtr x = xmlBufferCreate();
    int bad = !d || !x;
    for (xmlNodePtr c = rp ? rp->children : NULL; c && !bad; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        xmlNodePtr copy = xmlDocCopyNode(c, d, 1);
        xmlBufferEmpty(x);
        bad = !copy || xmlNodeDump(x, d, copy, 0, 0) < 0 ||
              wsm__buf_add(&b, xmlBufferContent(x), (size_t)xmlBufferLength(x)) != WSM_OK;
        xmlFreeNode(copy);
    }
    if (x)
        xmlBufferFree(x);
    if (d)
        xmlFreeDoc(d);
    char *out = bad ? NULL : wsm__buf_steal(&b, NULL);
    wsm__buf_free(&b);
    return out;
}

static enum wsm_err say(struct wsmd_call *call, enum wsm_err e, const char *msg)
{
    call->fault_message = msg;
    return e;
}

static int positive_duration(struct wsmd_call *call, xmlNodePtr n, long *ms)
{
    const char *t = wsm__xml_text(&call->env->arena, n, 1);
    return t && wsm__duration_ms(t, ms) == WSM_OK && *ms > 0;
}

static int count_of(struct wsmd_call *call, xmlNodePtr n, unsigned long max, unsigned long *v)
{
    const char *t = n ? wsm__xml_text(&call->env->arena, n, 1) : NULL;
    if (!t || *t < '0' || *t > '9')
        return 0;
    char *end;
    *v = strtoul(t, &end, 10);
    return !*end && *v > 0 && *v <= max;
}

static int has_sep(const char *s)
{
    return s && strchr(s, SEP) != NULL;
}

enum wsm_err wsmd__evpush_parse(struct wsmd_call *call, const char *mode, xmlNodePtr d,
                                struct wsmd_evs *s)
{
    struct wsmd_evpush_cfg c = {
        .mode = !strcmp(mode, WSMD_EV_MODE_EVENTS) ? 0 : !strcmp(mode, WSMD_EV_MODE_PUSHACK) ? 1 : 2,
        .max_elements = DEFAULT_MAX_ELEMENTS,
        .max_time_ms = DEFAULT_MAX_TIME_MS,
        .max_envelope = DEFAULT_MAX_ENVELOPE,
        .retry_total = DEFAULT_RETRY_TOTAL,
        .retry_ms = DEFAULT_RETRY_MS};
    xmlNodePtr nt = wsm__xml_child(d, WSM_NS_WSEV, "NotifyTo");
    xmlNodePtr addr = wsm__xml_child(nt, WSM_NS_WSA, "Address");
    const char *url = addr ? wsm__xml_text(&call->env->arena, addr, 1) : NULL;
    if (!url || (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0))
        return say(call, WSM_ERR_INVALID_SUBSCRIPTION,
                   "A push delivery needs a NotifyTo with an http:// or https:// Address.");
    xmlNodePtr n;
    if ((n = wsm__xml_child(d, WSM_NS_WSMAN, "MaxElements")) &&
        !count_of(call, n, 10000, &c.max_elements))
        return say(call, WSM_ERR_INVALID_OPTIONS, "MaxElements is not a count from 1 to 10000.");
    if (c.mode != 0)
        c.max_elements = 1; /* one event a message */
    if ((n = wsm__xml_child(d, WSM_NS_WSMAN, "MaxTime")) && !positive_duration(call, n, &c.max_time_ms))
        return say(call, WSM_ERR_INVALID_OPTIONS, "MaxTime is not a positive duration.");
    if ((n = wsm__xml_child(d, WSM_NS_WSMAN, "MaxEnvelopeSize")) &&
        (!count_of(call, n, 64ul << 20, &c.max_envelope) || c.max_envelope < 8192))
        return say(call, WSM_ERR_INVALID_OPTIONS,
                   "MaxEnvelopeSize is not a size from 8192 bytes to 64 MB.");
    if ((n = wsm__xml_child(d, WSM_NS_WSMAN, "ConnectionRetry"))) {
        const char *tot = wsm__xml_attr(n, "Total");
        char *end = NULL;
        c.retry_total = tot ? strtoul(tot, &end, 10) : DEFAULT_RETRY_TOTAL;
        if ((tot && (*end || *tot < '0' || *tot > '9' || c.retry_total > 1000)) ||
            !positive_duration(call, n, &c.retry_ms))
            return say(call, WSM_ERR_INVALID_OPTIONS,
                       "ConnectionRetry needs a positive duration and a Total from 0 to 1000.");
    }
    /* The authentication the subscriber asks of deliveries: w:Auth (DSP0226
     * 10.2.2) or WS-Policy's Authentication (Windows), by its Profile. */
    xmlNodePtr au = find_local(nt, "Auth", 8);
    if (!au)
        au = find_local(nt, "Authentication", 8);
    if (!au)
        au = find_local(d, "Auth", 1);
    const char *profile = au ? wsm__xml_attr(au, "Profile") : NULL;
    const char *user = NULL, *password = NULL;
    if (profile) {
        size_t pl = strlen(profile);
        if (pl >= 6 && !strcmp(profile + pl - 6, "/basic")) {
            /* Credentials for the subscriber: a UsernameToken in the
             * Subscribe's header (wst:IssuedTokens, DSP0226 10.2.2.x). */
            xmlNodePtr tok = find_local(call->env->header, "UsernameToken", 6);
            xmlNodePtr un = find_local(tok, "Username", 1), pw = find_local(tok, "Password", 1);
            user = un ? wsm__xml_text(&call->env->arena, un, 1) : NULL;
            password = pw ? wsm__xml_text(&call->env->arena, pw, 0) : NULL;
            if (!user || !*user || !password || strchr(user, ':'))
                return say(call, WSM_ERR_INVALID_OPTIONS,
                           "The Basic profile needs a UsernameToken (Username, Password) in "
                           "the Subscribe's header.");
            c.auth = 1;
        } else if (pl < 9 || strcmp(profile + pl - 9, "/standard") != 0) {
            return say(call, WSM_ERR_UNSUPPORTED_FEATURE,
                       "This event source authenticates deliveries with Basic or not at all.");
        }
    }
    xmlNodePtr et = wsm__xml_child(wsm__xml_child(call->env->body, WSM_NS_WSEV, "Subscribe"),
                                   WSM_NS_WSEV, "EndTo");
    xmlNodePtr eta = wsm__xml_child(et, WSM_NS_WSA, "Address");
    const char *end_to = eta ? wsm__xml_text(&call->env->arena, eta, 1) : NULL;
    char *refs = ref_params(nt), *end_refs = end_to ? ref_params(et) : NULL;
    if (!refs || (end_to && !end_refs)) {
        free(refs);
        free(end_refs);
        return WSM_ERR_NOMEM;
    }
    if (has_sep(url) || has_sep(end_to) || has_sep(user) || has_sep(password)) {
        free(refs);
        free(end_refs);
        return say(call, WSM_ERR_INVALID_OPTIONS, "A control character in the delivery.");
    }
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    enum wsm_err e = wsm__buf_printf(
        &b, "1%c%d%c%s%c%s%c%s%c%s%c%lu%c%ld%c%lu%c%lu%c%ld%c%d%c%s%c%s", SEP, c.mode, SEP, url,
        SEP, refs, SEP, end_to ? end_to : "", SEP, end_refs ? end_refs : "", SEP, c.max_elements,
        SEP, c.max_time_ms, SEP, c.max_envelope, SEP, c.retry_total, SEP, c.retry_ms, SEP, c.auth,
        SEP, user ? user : "", SEP, password ? password : "");
    free(refs);
    free(end_refs);
    if (!e && !(s->push = wsm__buf_steal(&b, NULL)))
        e = WSM_ERR_NOMEM;
    if (b.data)
        explicit_bzero(b.data, b.len);
    wsm__buf_free(&b);
    return e;
}

/* ---- the stored form ---------------------------------------------------- */

void wsmd__evpush_cfg_clear(struct wsmd_evpush_cfg *c)
{
    free(c->notify);
    free(c->notify_refs);
    free(c->end_to);
    free(c->end_refs);
    free(c->user);
    if (c->password) {
        explicit_bzero(c->password, strlen(c->password));
        free(c->password);
    }
    memset(c, 0, sizeof(*c));
}

int wsmd__evpush_cfg_parse(const char *text, struct wsmd_evpush_cfg *c)
{
    memset(c, 0, sizeof(*c));
    const char *f[14];
    size_t fl[14], n = 0;
    const char *p = text;
    for (; n < 14; n++) {
        const char *q = strchr(p, SEP);
        f[n] = p;
        fl[n] = q ? (size_t)(q - p) : strlen(p);
        if (!q) {
            n++;
            break;
        }
        p = q + 1;
    }
    if (n != 14 || fl[0] != 1 || f[0][0] != '1' || strchr(f[13], SEP))
        return -1;
    char num[32];
    unsigned long v[7];
    for (int i = 0; i < 7; i++) {
        size_t k = (size_t)(i == 0 ? 1 : i + 5);
        if (fl[k] == 0 || fl[k] >= sizeof(num))
            return -1;
        memcpy(num, f[k], fl[k]);
        num[fl[k]] = '\0';
        char *end;
        if (num[0] < '0' || num[0] > '9')
            return -1;
        v[i] = strtoul(num, &end, 10);
        if (*end)
            return -1;
    }
    if (v[0] > 2 || v[1] == 0 || v[1] > 10000 || v[2] == 0 || v[2] > 86400000ul * 365 ||
        v[3] < 8192 || v[3] > (64ul << 20) || v[4] > 1000 || v[5] == 0 || v[6] > 1 || fl[2] == 0)
        return -1;
    c->mode = (int)v[0];
    c->max_elements = v[1];
    c->max_time_ms = (long)v[2];
    c->max_envelope = v[3];
    c->retry_total = v[4];
    c->retry_ms = (long)v[5];
    c->auth = (int)v[6];
    c->notify = strndup(f[2], fl[2]);
    c->notify_refs = strndup(f[3], fl[3]);
    c->end_to = fl[4] ? strndup(f[4], fl[4]) : NULL;
    c->end_refs = strndup(f[5], fl[5]);
    c->user = strndup(f[12], fl[12]);
    c->password = strndup(f[13], fl[13]);
    if (!c->notify || !c->notify_refs || (fl[4] && !c->end_to) || !c->end_refs || !c->user ||
        !c->password || (c->auth && !*c->user)) {
        wsmd__evpush_cfg_clear(c);
        return -1;
    }
    return 0;
}

/* ---- the delivery threads ----------------------------------------------- */

struct pusher {
    char id[WSM_UUID_STRLEN];
    char owner[WSMD_MAX_USER];
    struct wsmd_evpush_cfg c;
    int send_bookmarks;
    long heartbeat_ms;
    wsm_session *sess;
    wsm_session *live; /* the session of the message in flight (under mu) */
    struct wsm_buf batch; /* <w:Event> elements (Events) or the one event */
    unsigned long n;      /* events in batch */
    char *bm;             /* the bookmark after the batch's last event */
    int full;             /* an event waits (s->pending) that did not fit */
    long long first_ms;   /* when the batch's first event was read */
    long long last_ms;    /* the last message the subscriber acknowledged */
    long long due_ms;     /* the next look */
    long long retry_ms;   /* after a failure: no look before (ConnectionRetry) */
    unsigned long failures;
    int running, gone;
    int woken;         /* its descriptor fired while a step ran */
    int wfd;           /* a dup of the reader's descriptor, in the epoll set; -1 */
    uint64_t key;      /* names it in the epoll set (never a pointer) */
    struct pusher *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static pthread_once_t cv_once = PTHREAD_ONCE_INIT;
static struct wsmd_server *server;
static struct pusher *all;
static pthread_t threads[THREADS];
static int nthreads, stopping;
/* The readers' descriptors: one thread waits on them and makes their
 * subscription due when the journal grows. */
static int ep = -1;
static pthread_t ep_thread;
static int ep_running;
static uint64_t next_key;

static long long mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void pusher_free(struct pusher *p)
{
    if (p->wfd >= 0)
        close(p->wfd); /* leaves the epoll set: its only reference */
    wsm_session_free(p->sess);
    wsmd__evpush_cfg_clear(&p->c);
    wsm__buf_free(&p->batch);
    free(p->bm);
    free(p);
}

static void *run(void *);
static void *watch_fds(void *);

/* The message in flight, for wsmd__evpush_stop to cut short: a subscriber
 * that does not answer must not hold a shutdown for the send timeout. */
static void set_live(struct pusher *p, wsm_session *s)
{
    pthread_mutex_lock(&mu);
    p->live = s;
    int cut = stopping && s;
    pthread_mutex_unlock(&mu);
    if (cut)
        wsm__conn_abort(s->conn);
}

/* The threads sleep on the monotonic clock: a clock step must not stall
 * or hurry deliveries. */
static void cv_init(void)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&cv, &a);
    pthread_condattr_destroy(&a);
}

void wsmd__evpush_init(struct wsmd_server *srv)
{
    pthread_once(&cv_once, cv_init);
    pthread_mutex_lock(&mu);
    server = srv;
    pthread_mutex_unlock(&mu);
}

void wsmd__evpush_watch(const struct wsmd_evs *s)
{
    struct pusher *p = calloc(1, sizeof(*p));
    if (!p || !s->push || wsmd__evpush_cfg_parse(s->push, &p->c) != 0) {
        wsmd__log("event=eventsource-push-skipped id=%s reason=\"%s\"", s->id,
                  p ? "bad delivery" : "out of memory");
        free(p);
        return;
    }
    memcpy(p->id, s->id, sizeof(p->id));
    memcpy(p->owner, s->owner, sizeof(p->owner));
    p->send_bookmarks = s->send_bookmarks;
    p->heartbeat_ms = s->heartbeat_ms;
    wsm__buf_init(&p->batch, 0);
    p->wfd = -1;
    p->last_ms = p->due_ms = mono_ms();
    pthread_once(&cv_once, cv_init);
    pthread_mutex_lock(&mu);
    p->key = ++next_key;
    p->next = all;
    all = p;
    stopping = 0;
    if (ep < 0)
        ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep >= 0 && !ep_running && pthread_create(&ep_thread, NULL, watch_fds, NULL) == 0)
        ep_running = 1;
    while (nthreads < THREADS && pthread_create(&threads[nthreads], NULL, run, NULL) == 0)
        nthreads++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

void wsmd__evpush_stop(void)
{
    pthread_mutex_lock(&mu);
    stopping = 1;
    pthread_cond_broadcast(&cv);
    for (struct pusher *p = all; p; p = p->next)
        if (p->live)
            wsm__conn_abort(p->live->conn);
    int n = nthreads, epr = ep_running;
    nthreads = 0;
    ep_running = 0;
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    if (epr)
        pthread_join(ep_thread, NULL);
    pthread_mutex_lock(&mu);
    while (all) {
        struct pusher *x = all->next;
        pusher_free(all);
        all = x;
    }
    if (ep >= 0)
        close(ep);
    ep = -1;
    pthread_mutex_unlock(&mu);
}

static void *watch_fds(void *arg)
{
    (void)arg;
    struct epoll_event evs[64];
    for (;;) {
        pthread_mutex_lock(&mu);
        int stop = stopping, fd = ep;
        pthread_mutex_unlock(&mu);
        if (stop || fd < 0)
            break;
        /* 200 ms: how long a shutdown waits for this thread. */
        int n = epoll_wait(fd, evs, 64, 200);
        if (n <= 0)
            continue;
        long long now = mono_ms();
        pthread_mutex_lock(&mu);
        for (int i = 0; i < n; i++)
            for (struct pusher *p = all; p; p = p->next)
                if (p->key == evs[i].data.u64) {
                    /* One shot: armed again once its reader was read. */
                    p->woken = 1;
                    if (!p->running && p->due_ms > now && p->retry_ms <= now)
                        p->due_ms = now;
                    break;
                }
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

/* (Re)arms the reader's descriptor after the reader was read: level and
 * one shot, so entries the reader has not consumed wake it again. */
static void arm(struct pusher *p, int rfd)
{
    if (ep < 0 || rfd < 0)
        return;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = p->key};
    if (p->wfd < 0) {
        p->wfd = fcntl(rfd, F_DUPFD_CLOEXEC, 0);
        if (p->wfd >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, p->wfd, &ev) != 0) {
            close(p->wfd);
            p->wfd = -1;
        }
    } else {
        epoll_ctl(ep, EPOLL_CTL_MOD, p->wfd, &ev);
    }
}

/* Reads what the journal has into the batch; 0, or -1 when the
 * subscription is gone. The subscription is taken only meanwhile. */
static int gather(struct pusher *p)
{
    int busy = 0;
    struct wsmd_evs *s = wsmd__evs_take(p->id, 0, p->owner, &busy);
    if (!s)
        return busy ? 0 : -1;
    if (!s->r) {
        struct wsmd_evreader_opts o = {
            .query = s->q, .rendered = s->rendered, .journal_dir = server ? server->cfg.journal_dir : NULL};
        const char *at = s->bookmark;
        if (at) {
            o.start = WSMD_EV_FROM_BOOKMARK;
            o.bookmark = at;
            o.bookmark_len = strlen(at);
        } else {
            o.start = s->from_oldest ? WSMD_EV_FROM_OLDEST : WSMD_EV_FROM_NOW;
        }
        enum wsm_err e = wsmd__evr_open(&o, &s->r);
        if (e) {
            wsmd__log("event=eventsource-push-error id=%s reason=\"journal: %s\"", p->id,
                      wsm_strerror(e));
            s->r = NULL;
            wsmd__evs_give(s);
            return 0;
        }
    }
    /* Room for the envelope around the events and the bookmark header. */
    size_t budget = p->c.max_envelope > 4096 + 2048 ? p->c.max_envelope - 4096 : 2048;
    struct wsm_buf item, mark;
    wsm__buf_init(&item, 0);
    wsm__buf_init(&mark, 0);
    while (p->n < p->c.max_elements && !p->full) {
        if (!s->pending) {
            wsm__buf_reset(&item);
            if (wsmd__evr_next(s->r, &item) != WSM_OK)
                break;
            wsm__buf_reset(&mark);
            if (wsmd__evr_bookmark(s->r, &mark) != WSM_OK)
                break;
            s->pending = wsm__buf_steal(&item, &s->pending_len);
            s->pending_bm = wsm__buf_steal(&mark, NULL);
            wsm__buf_init(&item, 0);
            wsm__buf_init(&mark, 0);
            if (!s->pending || !s->pending_bm)
                break;
        }
        size_t wrap = p->c.mode == 0 ? 80 : 0;
        if (p->n > 0 && p->batch.len + s->pending_len + wrap > budget) {
            p->full = 1; /* it opens the next batch */
            break;
        }
        /* One alone that is too big still goes: the subscriber said its
         * MaxEnvelopeSize with Policy=Notify, and losing it is worse. */
        if (p->c.mode == 0)
            wsm__buf_puts(&p->batch, "<w:Event Action=\"" WSMAN_URI "Event\">");
        wsm__buf_add(&p->batch, s->pending, s->pending_len);
        if (p->c.mode == 0)
            wsm__buf_puts(&p->batch, "</w:Event>");
        free(p->bm);
        p->bm = s->pending_bm;
        free(s->pending);
        s->pending = s->pending_bm = NULL;
        if (p->n++ == 0)
            p->first_ms = mono_ms();
    }
    wsm__buf_free(&item);
    wsm__buf_free(&mark);
    int rfd = s->r ? wsmd__evr_fd(s->r) : -1;
    if (!p->full && p->n < p->c.max_elements)
        arm(p, rfd); /* read to the end: wake on the next entry */
    wsmd__evs_give(s);
    return 0;
}

static enum wsm_err post(struct pusher *p, const char *to, const char *refs, struct wsm_buf *b,
                         const char *action, const char *body, const char *bm, int ack)
{
    char mid[WSM_UUID_STRLEN];
    wsm__uuid_urn(mid);
    wsm__buf_reset(b);
    enum wsm_err e = wsm__buf_puts(
        b, "<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\" xmlns:a=\"" WSM_NS_WSA "\" xmlns:w=\"" WSM_NS_WSMAN
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
        e = wsm__buf_printf(b, "</s:Header><s:Body>%s</s:Body></s:Envelope>", body);
    if (e)
        return e;
    wsm_session *one = NULL, *sess = p->sess;
    if (!sess || strcmp(to, p->c.notify) != 0) {
        struct wsm_session_opts o = {.url = to,
                                     .auth = p->c.auth ? WSM_AUTH_BASIC : WSM_AUTH_NONE,
                                     .user = p->c.auth ? p->c.user : NULL,
                                     .password = p->c.auth ? p->c.password : NULL,
                                     .timeout_ms = SEND_TIMEOUT_MS};
        if ((e = wsm_session_new(&o, &sess)))
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
        set_live(p, sess);
        e = wsm__conn_post(sess, sess->conn, b->data, b->len, !p->c.auth, &resp, &status,
                           sess->error, sizeof(sess->error));
        set_live(p, NULL);
        wsm__buf_free(&resp);
        if (!e && (status < 200 || status > 299)) {
            snprintf(sess->error, sizeof(sess->error), "HTTP %ld", status);
            e = WSM_ERR_HTTP;
        }
        wsm_session_free(one);
        return e;
    }
    struct wsm_envelope *env = NULL;
    set_live(p, sess);
    e = wsm__post(sess, b->data, b->len, !p->c.auth, mid, &env, NULL);
    set_live(p, NULL);
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
static void commit(struct pusher *p, char *bm)
{
    for (int tries = 0; tries < 200; tries++) {
        int busy = 0;
        struct wsmd_evs *s = wsmd__evs_take(p->id, 0, p->owner, &busy);
        if (s) {
            unsigned long serial = wsmd__evs_hand_over(s, bm);
            wsmd__evs_give(s);
            wsmd__evs_commit_bookmark(p->id, serial, 1);
            return;
        }
        if (!busy)
            break;
        struct timespec t = {0, 10 * 1000000};
        nanosleep(&t, NULL);
    }
    free(bm);
}

static void end_subscription(struct pusher *p, struct wsm_buf *b, const char *why)
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
    enum wsm_err e = body.data ? post(p, to, refs, b, WSM_NS_WSEV "/SubscriptionEnd", body.data,
                                      NULL, 0)
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

/* One look at a subscription: the due time of the next. */
static void step(struct pusher *p, struct wsm_buf *msg)
{
    long long now = mono_ms();
    /* A batch that failed goes again as it was (the subscriber may have
     * kept part of it by its bookmark): nothing is added to it. */
    int gone;
    if (p->failures && p->n) {
        int busy = 0;
        struct wsmd_evs *s = wsmd__evs_take(p->id, 0, p->owner, &busy);
        if (s)
            wsmd__evs_give(s);
        gone = !s && !busy;
    } else {
        gone = gather(p) != 0;
    }
    if (gone) { /* unsubscribed or expired: the subscriber knows */
        p->gone = 1;
        return;
    }
    int send = p->n && (p->n >= p->c.max_elements || p->full ||
                        now - p->first_ms >= p->c.max_time_ms);
    int beat = !p->n && p->heartbeat_ms && now - p->last_ms >= p->heartbeat_ms;
    if (!send && !beat) {
        long long due = now + POLL_MS;
        if (p->n && p->first_ms + p->c.max_time_ms < due)
            due = p->first_ms + p->c.max_time_ms;
        if (!p->n && p->heartbeat_ms && p->last_ms + p->heartbeat_ms < due)
            due = p->last_ms + p->heartbeat_ms;
        p->due_ms = due;
        return;
    }
    enum wsm_err e;
    const char *mode = p->c.mode == 0 ? "Events" : p->c.mode == 1 ? "PushWithAck" : "Push";
    if (beat) {
        e = post(p, p->c.notify, p->c.notify_refs, msg, WSMAN_URI "Heartbeat", "", NULL,
                 p->c.mode != 2);
    } else {
        struct wsm_buf body;
        wsm__buf_init(&body, 0);
        if (p->c.mode == 0)
            e = wsm__buf_puts(&body, "<w:Events>");
        else
            e = WSM_OK;
        if (!e)
            e = wsm__buf_add(&body, p->batch.data, p->batch.len);
        if (!e && p->c.mode == 0)
            e = wsm__buf_puts(&body, "</w:Events>");
        if (!e)
            e = post(p, p->c.notify, p->c.notify_refs, msg,
                     p->c.mode == 0 ? WSMAN_URI "Events" : WSMAN_URI "Event", body.data,
                     p->send_bookmarks ? p->bm : NULL, p->c.mode != 2);
        wsm__buf_free(&body);
    }
    now = mono_ms();
    if (!e) {
        if (!beat) {
            commit(p, p->bm); /* logged after: the line says the bookmark moved */
            wsmd__log("event=eventsource-push id=%s mode=%s events=%lu bytes=%zu", p->id, mode,
                      p->n, p->batch.len);
            p->bm = NULL;
            wsm__buf_reset(&p->batch);
            p->n = 0;
            p->full = 0;
        }
        p->failures = 0;
        p->retry_ms = 0;
        p->last_ms = now;
        p->due_ms = now; /* more may be there */
        return;
    }
    pthread_mutex_lock(&mu);
    int stop = stopping;
    pthread_mutex_unlock(&mu);
    if (stop)
        return; /* cut short by the shutdown: not the subscriber's failure */
    p->failures++;
    const char *why = p->sess ? wsm_session_error(p->sess) : wsm_strerror(e);
    char reason[160];
    snprintf(reason, sizeof(reason), "%s", why && *why ? why : wsm_strerror(e));
    for (char *c = reason; *c; c++)
        if (*c == '"' || *c == '<' || *c == '&' || (unsigned char)*c < 0x20)
            *c = '\'';
    wsmd__log("event=eventsource-push-failed id=%s mode=%s %s=%lu failures=%lu reason=\"%s\"",
              p->id, mode, beat ? "heartbeat" : "events", beat ? 0ul : p->n, p->failures, reason);
    /* The session's connection may be half dead: a new one next time. */
    wsm_session_free(p->sess);
    p->sess = NULL;
    if (p->failures > p->c.retry_total) {
        end_subscription(p, msg, "The subscriber could not be reached (ConnectionRetry).");
        p->gone = 1;
        return;
    }
    p->due_ms = p->retry_ms = now + p->c.retry_ms;
}

static void *run(void *arg)
{
    (void)arg;
    struct wsm_buf msg;
    wsm__buf_init(&msg, 0);
    pthread_mutex_lock(&mu);
    while (!stopping) {
        long long now = mono_ms(), next = now + 1000;
        struct pusher *pick = NULL;
        for (struct pusher **pp = &all; *pp;) {
            struct pusher *p = *pp;
            if (p->gone && !p->running) {
                *pp = p->next;
                pusher_free(p);
                continue;
            }
            if (!p->running && !p->gone) {
                if (p->due_ms <= now && (!pick || p->due_ms < pick->due_ms))
                    pick = p;
                else if (p->due_ms < next)
                    next = p->due_ms;
            }
            pp = &p->next;
        }
        if (!pick) {
            struct timespec t;
            clock_gettime(CLOCK_MONOTONIC, &t);
            long long wait = next - now;
            t.tv_sec += wait / 1000;
            t.tv_nsec += (wait % 1000) * 1000000;
            if (t.tv_nsec >= 1000000000) {
                t.tv_sec++;
                t.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&cv, &mu, &t);
            continue;
        }
        pick->running = 1;
        pick->woken = 0;
        pthread_mutex_unlock(&mu);
        step(pick, &msg);
        pthread_mutex_lock(&mu);
        pick->running = 0;
        if (pick->woken && !pick->gone && pick->retry_ms <= mono_ms()) /* the journal grew */
            pick->due_ms = mono_ms();
        pick->woken = 0;
    }
    pthread_mutex_unlock(&mu);
    wsm__buf_free(&msg);
    return NULL;
}
