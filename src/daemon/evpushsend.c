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
 * and its subscription is removed.
 *
 * This file holds the threads and their schedule; a batch is read from
 * the journal by evpushbatch.c and sent by evpushpost.c. */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "evpush_int.h"

#define THREADS 2
/* An idle subscription is woken by its reader's descriptor (the journal
 * grew); this look is only the safety net. */
#define POLL_MS 1000
/* A subscription found busy (a request thread has it) is looked at again
 * this soon. */
#define BUSY_RETRY_MS 10

/* ---- the delivery threads ----------------------------------------------- */

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

long long wsmd__evpush_now_ms(void)
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
void wsmd__evpush_set_live(struct pusher *p, wsm_session *s)
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

const struct wsmd_config *wsmd__evpush_server_cfg(void)
{
    pthread_mutex_lock(&mu);
    const struct wsmd_config *c = server ? &server->cfg : NULL;
    pthread_mutex_unlock(&mu);
    return c;
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
    p->last_ms = p->due_ms = wsmd__evpush_now_ms();
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
        long long now = wsmd__evpush_now_ms();
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
void wsmd__evpush_arm(struct pusher *p, int rfd)
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
    enum wsm_err e = wsmd__evpush_post(p, p->c.notify, p->c.notify_refs, msg, WSMAN_URI "Events",
                                       "<w:Events>", fb.data ? fb.data : "", fb.len, "</w:Events>",
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
    wsmd__evpush_commit(p, wsm__buf_steal(&fbm, NULL));
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
    long long now = wsmd__evpush_now_ms();
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
        int g = wsmd__evpush_gather(p);
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
        e = wsmd__evpush_post(p, p->c.notify, p->c.notify_refs, msg, WSMAN_URI "Heartbeat", "", "",
                              0, "", NULL, p->c.mode != 2);
    } else if (can_read_ahead(p)) {
        e = send_reading_ahead(p, msg, &sent_ahead);
    } else {
        e = wsmd__evpush_post(p, p->c.notify, p->c.notify_refs, msg,
                              p->c.mode == 0 ? WSMAN_URI "Events" : WSMAN_URI "Event",
                              p->c.mode == 0 ? "<w:Events>" : "",
                              p->batch.data ? p->batch.data : "", p->batch.len,
                              p->c.mode == 0 ? "</w:Events>" : "",
                              p->send_bookmarks && p->bm.len ? p->bm.data : NULL, p->c.mode != 2);
    }
    now = wsmd__evpush_now_ms();
    if (sent_ahead) {
        /* Sent, committed and logged by send_reading_ahead; the batch now
         * is the one read meanwhile. */
        p->busy_sender = 1;
    } else if (!e) {
        if (!beat) {
            /* logged after: the line says the bookmark moved */
            wsmd__evpush_commit(p, wsm__buf_steal(&p->bm, NULL));
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
        wsmd__evpush_end(p, msg, "The subscriber could not be reached (ConnectionRetry).");
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
        long long now = wsmd__evpush_now_ms(), next = now + 1000;
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
            wsmd__evpush_gather(ahead);
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
        if (pick->woken && !pick->gone &&
            pick->retry_ms <= wsmd__evpush_now_ms()) /* the journal grew */
            pick->due_ms = wsmd__evpush_now_ms();
        pick->woken = 0;
    }
    pthread_mutex_unlock(&mu);
    wsm__buf_free(&msg);
    return NULL;
}
