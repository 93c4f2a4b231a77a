/* Push deliveries of the event source, the sending side: Events
 * (batches), PushWithAck and Push (one event a message), heartbeats,
 * ConnectionRetry and SubscriptionEnd (DSP0226 10.2.9, MS-WSMV 3.1.4.1.30;
 * docs/internals/eventlog.md "Push deliveries").
 *
 * A small pool of delivery threads serves every push subscription: a
 * thread takes the one whose next look is due, reads its journal into the
 * batch it is building, and sends the batch when MaxElements is reached or
 * MaxTime has passed since its first event. The subscription is taken
 * (busy) only while its reader is read, never while a message travels:
 * Renew, GetStatus and Unsubscribe are never held up by a slow subscriber.
 *
 * The bookmark moves only when the subscriber acknowledged the batch (its
 * Ack, or for Push an HTTP 2xx): a batch that was refused or lost is sent
 * again, as it was, after the ConnectionRetry interval, and after a restart
 * the reader starts again after the last durable bookmark (written off
 * the delivery's path, evbmwrite.c: it may lag the Ack, never lead it).
 * While a full batch awaits its Ack the other thread reads the next one
 * (send_reading_ahead). A subscriber that stays unreachable past
 * ConnectionRetry's Total is sent one SubscriptionEnd (DeliveryFailure)
 * and its subscription is removed. */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "client_internal.h"
#include "evpush.h"
#include "forwarder.h"
#include "ns.h"

#define WSMAN_URI "http://schemas.dmtf.org/wbem/wsman/1/wsman/"
#define ACK_ACTION WSMAN_URI "Ack"
#define ANON "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

#define THREADS 2
/* An idle subscription is woken by its reader's descriptor (the journal
 * grew); this look is only the safety net. */
#define POLL_MS 1000
#define SEND_TIMEOUT_MS 15000
/* A subscription found busy (a request thread has it) is looked at again
 * this soon. */
#define BUSY_RETRY_MS 10

/* ---- the delivery threads ----------------------------------------------- */

struct pusher {
    char id[WSM_UUID_STRLEN];
    char owner[WSMD_MAX_USER];
    struct wsmd_evpush_cfg c;
    int send_bookmarks;
    long heartbeat_ms;
    wsm_session *sess;
    wsm_session *live; /* the session of the message in flight (under mu) */
    /* <w:Event> elements (Events) or the one event. Kept between batches
     * only while the subscription is busy (the last batch went out full):
     * a subscription that trickles holds no buffer between its batches. */
    struct wsm_buf batch;
    unsigned long n;      /* events in batch */
    struct wsm_buf bm;    /* the bookmark after the batch's last event ("": none) */
    struct wsm_buf spare; /* a full batch's buffer, reused for the one read ahead */
    int ahead;            /* reading ahead (under mu): 1 wanted, 2 being read, 3 read */
    int busy_sender;      /* the last batch went out full: more are coming */
    int reopen;           /* the reader read an event the batch lost: reopen after the Ack */
    int full;             /* an event waits (s->pending) that did not fit */
    long long first_ms;   /* when the batch's first event was read */
    long long last_ms;    /* the last message the subscriber acknowledged */
    long long due_ms;     /* the next look */
    long long retry_ms;   /* after a failure: no look before (ConnectionRetry) */
    unsigned long failures;
    char why[160]; /* why the last session could not be made */
    int running, gone;
    int woken;    /* its descriptor fired while a step ran */
    int wfd;      /* a dup of the reader's descriptor, in the epoll set; -1 */
    uint64_t key; /* names it in the epoll set (never a pointer) */
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
    wsm__buf_free(&p->spare);
    wsm__buf_free(&p->bm);
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
    wsm__buf_init(&p->bm, 0);
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

/* Reads what the journal has into the batch; 0, 1 when the subscription
 * was busy (a request thread has it: look again soon), or -1 when the
 * subscription is gone. The subscription is taken only meanwhile. */
static int gather(struct pusher *p)
{
    int busy = 0;
    struct wsmd_evs *s = wsmd__evs_take(p->id, 0, p->owner, &busy);
    if (!s)
        return busy ? 1 : -1;
    if (p->reopen && p->n == 0) {
        /* Everything before the event it lost is acknowledged: read on
         * from there (the subscription's bookmark). */
        wsmd__evr_close(s->r);
        s->r = NULL;
        p->reopen = 0;
        free(s->pending); /* after the bookmark: read again too */
        free(s->pending_bm);
        s->pending = s->pending_bm = NULL;
    }
    if (!s->r) {
        struct wsmd_evreader_opts o = {.query = s->q,
                                       .rendered = s->rendered,
                                       .journal_dir = server ? server->cfg.journal_dir : NULL};
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
    /* Events are rendered straight into the batch (no copy per event); the
     * one that would take it past the budget is cut off again and kept as
     * s->pending with its bookmark, to open the next batch. */
    static const char open_ev[] = "<w:Event Action=\"" WSMAN_URI "Event\">";
    static const char close_ev[] = "</w:Event>";
    int wrap = p->c.mode == 0;
    if (p->n == 0 && p->busy_sender && !p->batch.data)
        wsm__buf_reserve(&p->batch, budget); /* a hint: one allocation, not a dozen */
    struct wsm_buf mark;
    wsm__buf_init(&mark, 0);
    while (p->n < p->c.max_elements && !p->full) {
        size_t at = p->batch.len;
        enum wsm_err e = WSM_OK;
        if (wrap)
            e = wsm__buf_add(&p->batch, open_ev, sizeof(open_ev) - 1);
        size_t ev_at = p->batch.len;
        const char *bm = NULL;
        int fresh = 0; /* read from the reader now (it moved past it) */
        if (e) {
            break;
        } else if (s->pending) {
            e = wsm__buf_add(&p->batch, s->pending, s->pending_len);
            bm = s->pending_bm;
        } else {
            wsm__buf_reset(&mark);
            if (wsmd__evr_next(s->r, &p->batch) != WSM_OK) {
                /* nothing more now (a partial event is never left) */
                p->batch.len = at;
                if (p->batch.data)
                    p->batch.data[at] = '\0';
                break;
            }
            fresh = 1;
            if (wsmd__evr_bookmark(s->r, &mark) != WSM_OK || !mark.data)
                e = WSM_ERR_NOMEM;
            bm = mark.data;
        }
        if (!e && wrap)
            e = wsm__buf_add(&p->batch, close_ev, sizeof(close_ev) - 1);
        if (e) {
            /* Out of memory (or the journal unreadable) after the reader
             * moved past the event: it must not be lost. The batch goes as
             * it is, and after its Ack the reader is reopened at its
             * bookmark, so the event is read again. */
            p->batch.len = at;
            if (p->batch.data)
                p->batch.data[at] = '\0';
            if (fresh) {
                p->reopen = 1;
                p->full = p->n > 0;
            }
            break;
        }
        if (p->n > 0 && p->batch.len > budget) {
            /* It opens the next batch. One alone that is too big still
             * goes: the subscriber said its MaxEnvelopeSize with
             * Policy=Notify, and losing it is worse. */
            size_t evlen = p->batch.len - ev_at - (wrap ? sizeof(close_ev) - 1 : 0);
            char *keep = s->pending ? NULL : malloc(evlen + 1);
            char *keep_bm = s->pending ? NULL : strdup(bm);
            if (!s->pending && (!keep || !keep_bm)) {
                /* Out of memory: it goes in this batch after all (over
                 * the budget) rather than be lost. */
                free(keep);
                free(keep_bm);
                p->full = 1;
                goto accept;
            }
            if (keep) {
                memcpy(keep, p->batch.data + ev_at, evlen);
                keep[evlen] = '\0';
                s->pending = keep;
                s->pending_len = evlen;
                s->pending_bm = keep_bm;
            }
            p->batch.len = at;
            p->batch.data[at] = '\0';
            p->full = 1;
            break;
        }
    accept:
        if (bm == mark.data) {
            /* The fresh bookmark becomes the batch's: a swap, not a copy. */
            struct wsm_buf t = p->bm;
            p->bm = mark;
            mark = t;
        } else if (wsm__buf_reserve(&p->bm, strlen(bm)) == WSM_OK) {
            wsm__buf_reset(&p->bm); /* keeps the room reserved: cannot fail */
            wsm__buf_puts(&p->bm, bm);
        } else {
            /* (only a pending event's: the reader did not move) */
            p->batch.len = at;
            p->batch.data[at] = '\0';
            break;
        }
        if (s->pending) {
            free(s->pending);
            free(s->pending_bm);
            s->pending = s->pending_bm = NULL;
        }
        if (p->n++ == 0)
            p->first_ms = mono_ms();
    }
    wsm__buf_free(&mark);
    int rfd = s->r ? wsmd__evr_fd(s->r) : -1;
    if (!p->full && p->n < p->c.max_elements)
        arm(p, rfd); /* read to the end: wake on the next entry */
    wsmd__evs_give(s);
    return 0;
}

/* A session to the subscriber, authenticated as its Subscribe asked
 * (evpushauth.c): Basic with its UsernameToken, Negotiate with the
 * forwarder's keytab (libwsm seals the bodies over http://, MS-WSMV
 * 2.2.9.1), or the forwarder's client certificate. When what the
 * Subscribe matched is no longer configured (wsmd restarted with other
 * settings) the delivery fails, with the reason, rather than going out
 * with less. */
static enum wsm_err open_session(struct pusher *p, const char *to, wsm_session **out)
{
    const struct wsmd_fwd_lent *l = wsmd__fwd_lent(server ? &server->cfg : NULL);
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
static enum wsm_err post(struct pusher *p, const char *to, const char *refs, struct wsm_buf *b,
                         const char *action, const char *wrap_open, const char *body, size_t len,
                         const char *wrap_close, const char *bm, int ack)
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
    enum wsm_err e = body.data ? post(p, to, refs, b, WSM_NS_WSEV "/SubscriptionEnd", "", body.data,
                                      body.len, "", NULL, 0)
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

/* Reading ahead (docs/internals/eventlog.md "Reading ahead"): while a full
 * Events batch travels and its Ack is awaited, the other delivery thread
 * reads and renders the next batch into a second buffer, so that the next
 * message can go as soon as the Ack is in. One batch ahead, no more: at
 * most two batches' buffers a subscription. Only a full batch (more are
 * waiting) and not when the reader must be reopened first. */
static int can_read_ahead(const struct pusher *p)
{
    return p->c.mode == 0 && (p->n >= p->c.max_elements || p->full) && !p->reopen && nthreads > 1;
}

/* Sends the batch while another thread may read the next (run() picks a
 * pusher whose ahead is 1). On success the batch is committed and the one
 * read ahead becomes the batch, p->ahead left set (step's sign); on
 * failure the sent batch is put back to go again as it was, what was read
 * ahead dropped, and the reader reopened after its Ack at the bookmark:
 * the events read ahead are read again, never skipped. */
static enum wsm_err send_reading_ahead(struct pusher *p, struct wsm_buf *msg, int *sent)
{
    struct wsm_buf fb = p->batch, fbm = p->bm;
    unsigned long fn = p->n;
    int ffull = p->full;
    long long ffirst = p->first_ms;
    if (!p->spare.data)
        wsm__buf_init(&p->spare, 0); /* (a zeroed one has no room at all) */
    p->batch = p->spare;
    wsm__buf_reset(&p->batch);
    wsm__buf_init(&p->spare, 0);
    wsm__buf_init(&p->bm, 0);
    p->n = 0;
    p->full = 0;
    pthread_mutex_lock(&mu);
    p->ahead = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    enum wsm_err e = post(p, p->c.notify, p->c.notify_refs, msg, WSMAN_URI "Events", "<w:Events>",
                          fb.data ? fb.data : "", fb.len, "</w:Events>",
                          p->send_bookmarks && fbm.len ? fbm.data : NULL, 1);
    pthread_mutex_lock(&mu);
    while (p->ahead == 2)
        pthread_cond_wait(&cv, &mu);
    int read = p->ahead == 3;
    p->ahead = 0;
    pthread_mutex_unlock(&mu);
    if (e) {
        if (p->n)
            p->reopen = 1;
        wsm__buf_free(&p->spare);
        p->spare = p->batch;
        wsm__buf_reset(&p->spare);
        wsm__buf_free(&p->bm);
        p->batch = fb;
        p->bm = fbm;
        p->n = fn;
        p->full = ffull;
        p->first_ms = ffirst;
        return e;
    }
    commit(p, wsm__buf_steal(&fbm, NULL));
    wsm__buf_free(&fbm);
    wsmd__log("event=eventsource-push id=%s mode=Events events=%lu bytes=%zu ahead=%lu", p->id, fn,
              fb.len, read ? p->n : 0ul);
    wsm__buf_reset(&fb);
    p->spare = fb;
    *sent = 1;
    return WSM_OK;
}

/* One look at a subscription: the due time of the next. */
static void step(struct pusher *p, struct wsm_buf *msg)
{
    long long now = mono_ms();
    /* A batch that failed goes again as it was (the subscriber may have
     * kept part of it by its bookmark): nothing is added to it. */
    int gone, busy_now = 0;
    if (p->failures && p->n) {
        int busy = 0;
        struct wsmd_evs *s = wsmd__evs_take(p->id, 0, p->owner, &busy);
        if (s)
            wsmd__evs_give(s);
        gone = !s && !busy;
    } else {
        int g = gather(p);
        gone = g < 0;
        busy_now = g > 0;
    }
    if (gone) { /* unsubscribed or expired: the subscriber knows */
        p->gone = 1;
        return;
    }
    int send =
        p->n && (p->n >= p->c.max_elements || p->full || now - p->first_ms >= p->c.max_time_ms);
    int beat = !p->n && p->heartbeat_ms && now - p->last_ms >= p->heartbeat_ms;
    if (!send && !beat) {
        /* Busy: its Subscribe (or a Renew, GetStatus) is being answered;
         * the safety net's second would delay a new subscription's first
         * events by as much. */
        long long due = now + (busy_now ? BUSY_RETRY_MS : POLL_MS);
        if (p->n && p->first_ms + p->c.max_time_ms < due)
            due = p->first_ms + p->c.max_time_ms;
        if (!p->n && p->heartbeat_ms && p->last_ms + p->heartbeat_ms < due)
            due = p->last_ms + p->heartbeat_ms;
        p->due_ms = due;
        return;
    }
    enum wsm_err e;
    int sent_ahead = 0;
    const char *mode = p->c.mode == 0 ? "Events" : p->c.mode == 1 ? "PushWithAck" : "Push";
    if (beat) {
        e = post(p, p->c.notify, p->c.notify_refs, msg, WSMAN_URI "Heartbeat", "", "", 0, "", NULL,
                 p->c.mode != 2);
    } else if (can_read_ahead(p)) {
        e = send_reading_ahead(p, msg, &sent_ahead);
    } else {
        e = post(p, p->c.notify, p->c.notify_refs, msg,
                 p->c.mode == 0 ? WSMAN_URI "Events" : WSMAN_URI "Event",
                 p->c.mode == 0 ? "<w:Events>" : "", p->batch.data ? p->batch.data : "",
                 p->batch.len, p->c.mode == 0 ? "</w:Events>" : "",
                 p->send_bookmarks && p->bm.len ? p->bm.data : NULL, p->c.mode != 2);
    }
    now = mono_ms();
    if (sent_ahead) {
        /* Sent, committed and logged by send_reading_ahead; the batch now
         * is the one read meanwhile. */
        p->busy_sender = 1;
    } else if (!e) {
        if (!beat) {
            /* logged after: the line says the bookmark moved */
            commit(p, wsm__buf_steal(&p->bm, NULL));
            wsmd__log("event=eventsource-push id=%s mode=%s events=%lu bytes=%zu", p->id, mode,
                      p->n, p->batch.len);
            /* Sent full: the next batch is there already, keep the buffer.
             * Sent by MaxTime: the next is at least MaxTime away; holding
             * a batch's worth of buffer meanwhile is what made 1,000 idle
             * subscriptions cost 15 KB each. */
            p->busy_sender = p->n >= p->c.max_elements || p->full;
            if (p->busy_sender) {
                wsm__buf_reset(&p->batch);
            } else {
                wsm__buf_free(&p->batch);
                wsm__buf_free(&p->spare);
            }
            p->n = 0;
            p->full = 0;
        }
    }
    if (!e) {
        if (!p->busy_sender && p->sess)
            wsm__session_idle(p->sess); /* the connection stays, its buffers go */
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
    const char *why = p->sess ? wsm_session_error(p->sess) : p->why[0] ? p->why : wsm_strerror(e);
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
        struct pusher *pick = NULL, *ahead = NULL;
        for (struct pusher **pp = &all; *pp;) {
            struct pusher *p = *pp;
            if (p->running && p->ahead == 1 && !ahead)
                ahead = p; /* its batch travels: read the next meanwhile */
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
        if (ahead) {
            /* The pusher stays running (its sender waits for this): it
             * cannot be freed meanwhile. Gone or busy: nothing read, the
             * sender's next step finds out. */
            ahead->ahead = 2;
            pthread_mutex_unlock(&mu);
            gather(ahead);
            pthread_mutex_lock(&mu);
            ahead->ahead = 3;
            pthread_cond_broadcast(&cv);
            continue;
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
