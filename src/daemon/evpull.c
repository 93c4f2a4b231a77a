/* Pull and Release on a Pull-mode subscription's enumeration context
 * (DSP0226 10.2.9.5 and 8.4; docs/internals/eventlog.md "Pull").
 *
 * A Pull answers at once with the events there are (up to MaxElements,
 * within the client's MaxEnvelopeSize), or waits for the first ones until
 * MaxTime (else OperationTimeout, at most MaxTimeoutms) and then answers
 * w:TimedOut, which leaves the context as it was: the client pulls again.
 * A waiting Pull holds no thread (server.h: park): one thread here
 * watches, with epoll, a descriptor of each waiting Pull's journal reader
 * (a dup: the reader may be closed while the Pull waits) and the nearest
 * deadline, and resumes the request when either fires; the HTTP worker
 * that runs it again reads the events. A wait names its subscription by
 * context, never by pointer: what ended meanwhile is simply not found.
 *
 * A reply that hands over events does not move the subscription's
 * bookmark by itself: its settle does, once the client's TCP acknowledged
 * it (evstore.c: wsmd__evs_commit_bookmark), or the next Pull on the
 * context, which the client sends only after reading the reply. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "evsub.h"
#include "ns.h"

#define EN "http://schemas.xmlsoap.org/ws/2004/09/enumeration/"
#define DEFAULT_PULL_MS 60000 /* no MaxTime nor OperationTimeout: Windows' MaxTimeoutms */
#define MAX_ELEMENTS 10000
#define BUSY_RETRY_MS 20 /* another Pull on the context is reading: look again */
#define REAP_MS 10000    /* a fired wait nobody claimed: its request went away */
#define POLL_MS 1000     /* no reader could be opened: try again */
#define SWEEP_MS 1000    /* expired subscriptions are looked for this often */

enum { W_PREPARED, W_WAITING, W_FIRED, W_CANCELLED };

struct pwait {
    unsigned long token;
    int fd; /* a dup of the reader's descriptor, or -1 (a timer only) */
    int state;
    long long deadline; /* CLOCK_MONOTONIC ms */
    long long done;     /* when it fired or was cancelled */
    char ctx[WSM_UUID_STRLEN];
    wsmd_wake_fn wake;
    void *arg;
    struct pwait *next;
};

static pthread_mutex_t wlock = PTHREAD_MUTEX_INITIALIZER;
static struct pwait *waits;
static unsigned long next_token;
static int epfd = -1, evfd = -1;
static pthread_t thread;
static int running, stopping;

static long long mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void poke(void)
{
    uint64_t one = 1;
    if (evfd >= 0 && write(evfd, &one, sizeof(one)) < 0) {
        /* The counter is non-zero already: the thread will look. */
    }
}

/* Called with wlock: the wait leaves epoll and its descriptor is closed. */
static void settle_wait(struct pwait *w, int state, long long now)
{
    if (w->fd >= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, w->fd, NULL);
        close(w->fd);
        w->fd = -1;
    }
    w->state = state;
    w->done = now;
}

static void unlink_wait(struct pwait *w)
{
    for (struct pwait **p = &waits; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            return;
        }
}

/* The woken, to be called outside wlock (MHD_resume_connection). */
struct woken {
    wsmd_wake_fn wake;
    void *arg;
};

static void *waiter(void *unused)
{
    (void)unused;
    struct epoll_event ev[64];
    struct woken wk[64];
    long long sweep = mono_ms() + SWEEP_MS;
    for (;;) {
        long long now = mono_ms(), next = now + REAP_MS;
        if (now >= sweep) {
            wsmd__evs_sweep(); /* not under wlock: it ends waits */
            sweep = now + SWEEP_MS;
        }
        if (sweep < next)
            next = sweep;
        pthread_mutex_lock(&wlock);
        if (stopping) {
            pthread_mutex_unlock(&wlock);
            break;
        }
        for (struct pwait *w = waits; w; w = w->next)
            if (w->state == W_WAITING && w->deadline < next)
                next = w->deadline;
        pthread_mutex_unlock(&wlock);
        int timeout = next > now ? (int)(next - now) : 0;
        int n = epoll_wait(epfd, ev, 64, timeout);
        if (n < 0 && errno != EINTR)
            break;
        now = mono_ms();
        size_t nw = 0;
        pthread_mutex_lock(&wlock);
        for (int i = 0; i < n; i++) {
            if (ev[i].data.u64 == 0) {
                uint64_t v;
                if (read(evfd, &v, sizeof(v)) < 0) {
                    /* Nothing to read: a spurious wake-up. */
                }
                continue;
            }
            for (struct pwait *w = waits; w; w = w->next)
                if (w->token == ev[i].data.u64 && w->state == W_WAITING) {
                    settle_wait(w, W_FIRED, now);
                    if (nw < 64)
                        wk[nw++] = (struct woken){w->wake, w->arg};
                    break;
                }
        }
        for (struct pwait **p = &waits; *p;) {
            struct pwait *w = *p;
            if (w->state == W_WAITING && w->deadline <= now && nw < 64) {
                settle_wait(w, W_FIRED, now);
                wk[nw++] = (struct woken){w->wake, w->arg};
            }
            /* Fired or cancelled and never claimed: its request went away
             * (the HTTP layer closes a hung-up poll without running it). */
            if (w->state != W_WAITING && w->done + REAP_MS <= now) {
                *p = w->next;
                if (w->fd >= 0)
                    close(w->fd);
                free(w);
                continue;
            }
            p = &w->next;
        }
        pthread_mutex_unlock(&wlock);
        for (size_t i = 0; i < nw; i++)
            wk[i].wake(wk[i].arg);
    }
    return NULL;
}

static int start_thread(void)
{
    /* Called with wlock held. */
    if (running)
        return 0;
    epfd = epoll_create1(EPOLL_CLOEXEC);
    evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = 0};
    if (epfd < 0 || evfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, evfd, &e) != 0 ||
        pthread_create(&thread, NULL, waiter, NULL) != 0) {
        if (epfd >= 0)
            close(epfd);
        if (evfd >= 0)
            close(evfd);
        epfd = evfd = -1;
        return -1;
    }
    running = 1;
    stopping = 0;
    return 0;
}

void wsmd__evpull_start(void)
{
    pthread_mutex_lock(&wlock);
    if (!stopping)
        start_thread();
    pthread_mutex_unlock(&wlock);
}

void wsmd__evpull_stop(void)
{
    pthread_mutex_lock(&wlock);
    int was = running;
    stopping = 1;
    poke();
    pthread_mutex_unlock(&wlock);
    if (was)
        pthread_join(thread, NULL);
    pthread_mutex_lock(&wlock);
    while (waits) {
        struct pwait *w = waits;
        waits = w->next;
        if (w->fd >= 0)
            close(w->fd);
        free(w);
    }
    if (epfd >= 0)
        close(epfd);
    if (evfd >= 0)
        close(evfd);
    epfd = evfd = -1;
    running = 0;
    stopping = 0;
    pthread_mutex_unlock(&wlock);
}

void wsmd__evpull_end(const char *ctx)
{
    struct woken wk[64];
    size_t nw = 0;
    long long now = mono_ms();
    pthread_mutex_lock(&wlock);
    for (struct pwait *w = waits; w; w = w->next)
        if (w->state == W_WAITING && !strcmp(w->ctx, ctx) && nw < 64) {
            settle_wait(w, W_FIRED, now);
            wk[nw++] = (struct woken){w->wake, w->arg};
        }
    pthread_mutex_unlock(&wlock);
    for (size_t i = 0; i < nw; i++)
        wk[i].wake(wk[i].arg);
}

/* A wait for ctx until deadline (and for fd to be readable, fd >= 0; the
 * wait owns it), armed by park: its token, or 0. */
static unsigned long wait_new(const char *ctx, int fd, long long deadline)
{
    struct pwait *w = calloc(1, sizeof(*w));
    pthread_mutex_lock(&wlock);
    if (!w || start_thread() != 0) {
        pthread_mutex_unlock(&wlock);
        free(w);
        if (fd >= 0)
            close(fd);
        return 0;
    }
    w->token = ++next_token;
    w->fd = fd;
    w->deadline = deadline;
    w->state = W_PREPARED;
    w->done = mono_ms();
    snprintf(w->ctx, sizeof(w->ctx), "%s", ctx);
    w->next = waits;
    waits = w;
    pthread_mutex_unlock(&wlock);
    return w->token;
}

static enum wsm_err pull_park(struct wsmd_call *call, wsmd_wake_fn wake, void *arg,
                              unsigned long *token)
{
    unsigned long tok = (unsigned long)(uintptr_t)call->resume_ctx;
    enum wsm_err e = WSM_ERR_NOT_FOUND;
    pthread_mutex_lock(&wlock);
    for (struct pwait *w = waits; w; w = w->next) {
        if (w->token != tok || w->state != W_PREPARED)
            continue;
        w->wake = wake;
        w->arg = arg;
        w->state = W_WAITING;
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tok};
        if (w->fd >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, w->fd, &ev) != 0) {
            close(w->fd); /* the deadline still ends the wait */
            w->fd = -1;
        }
        *token = tok;
        e = WSM_OK;
        break;
    }
    poke(); /* a new deadline */
    pthread_mutex_unlock(&wlock);
    return e;
}

static int pull_unpark(struct wsmd_server *srv, unsigned long token)
{
    (void)srv;
    int cancelled = 0;
    pthread_mutex_lock(&wlock);
    for (struct pwait *w = waits; w; w = w->next)
        if (w->token == token) {
            if (w->state == W_WAITING) {
                settle_wait(w, W_CANCELLED, mono_ms());
                cancelled = 1;
            }
            break;
        }
    pthread_mutex_unlock(&wlock);
    return cancelled;
}

/* The resumed run takes its wait back (freed). */
static void claim(unsigned long token)
{
    pthread_mutex_lock(&wlock);
    for (struct pwait *w = waits; w; w = w->next)
        if (w->token == token) {
            if (w->state == W_WAITING)
                settle_wait(w, W_CANCELLED, mono_ms());
            unlink_wait(w);
            if (w->fd >= 0)
                close(w->fd);
            free(w);
            break;
        }
    pthread_mutex_unlock(&wlock);
}

/* Parks the request until fd is readable (fd >= 0, which it owns) or
 * until deadline. */
static enum wsm_err park_until(struct wsmd_call *call, const char *ctx, int fd, long long deadline)
{
    unsigned long tok = wait_new(ctx, fd, deadline);
    if (!tok)
        return WSM_ERR_NOMEM;
    call->resume_ctx = (void *)(uintptr_t)tok;
    call->park = pull_park;
    call->unpark = pull_unpark;
    return WSM_OK;
}

/* ---- the reply ---------------------------------------------------------- */

struct settle_tx {
    unsigned long serial;
    char id[WSM_UUID_STRLEN];
};

static void pull_settle(void *arg, int delivered)
{
    struct settle_tx *t = arg;
    wsmd__evs_commit_bookmark(t->id, t->serial, delivered);
    free(t);
}

static void pull_settle_probe(void *arg, int (*probe)(void *), void *probe_arg)
{
    struct settle_tx *t = arg;
    wsmd__evs_set_probe(t->id, t->serial, probe, probe_arg);
}

static const char *pull_ctx(struct wsmd_call *call, const char *op)
{
    xmlNodePtr p = wsm__xml_child(call->env->body, WSM_NS_WSEN, op);
    xmlNodePtr c = wsm__xml_child(p, WSM_NS_WSEN, "EnumerationContext");
    return c ? wsm__xml_text(&call->env->arena, c, 1) : NULL;
}

static unsigned long max_elements(struct wsmd_call *call, xmlNodePtr pull)
{
    xmlNodePtr n = wsm__xml_child(pull, WSM_NS_WSEN, "MaxElements");
    if (!n)
        return 1; /* DSP0226: one item when not said */
    const char *t = wsm__xml_text(&call->env->arena, n, 1);
    if (!t || *t < '0' || *t > '9')
        return 0;
    char *end;
    unsigned long v = strtoul(t, &end, 10);
    if (*end || v == 0)
        return 0;
    return v > MAX_ELEMENTS ? MAX_ELEMENTS : v;
}

/* Opens the reader again after a restart or a lost reply: after the last
 * bookmark delivered. */
static enum wsm_err reopen(const struct wsmd_server *srv, struct wsmd_evs *s)
{
    struct wsmd_evreader_opts o = {
        .query = s->q, .rendered = s->rendered, .journal_dir = srv->cfg.journal_dir};
    const char *at = s->cursor ? s->cursor : s->bookmark;
    if (at) {
        o.start = WSMD_EV_FROM_BOOKMARK;
        o.bookmark = at;
        o.bookmark_len = strlen(at);
    } else {
        o.start = s->from_oldest ? WSMD_EV_FROM_OLDEST : WSMD_EV_FROM_NOW;
    }
    return wsmd__evr_open(&o, &s->r);
}

/* Fills items with up to max events within budget bytes; *bm gets the
 * bookmark after the last one (malloc'd). */
static enum wsm_err fill(struct wsmd_evs *s, struct wsm_buf *items, unsigned long max,
                         size_t budget, unsigned long *count, char **bm)
{
    struct wsm_buf item, mark;
    wsm__buf_init(&item, 0);
    wsm__buf_init(&mark, 0);
    enum wsm_err e = WSM_OK;
    *count = 0;
    while (*count < max) {
        const char *data;
        size_t len;
        char *after = NULL;
        if (s->pending) {
            data = s->pending;
            len = s->pending_len;
        } else {
            wsm__buf_reset(&item);
            e = wsmd__evr_next(s->r, &item);
            if (e == WSM_ERR_TIMED_OUT) {
                e = WSM_OK;
                break;
            }
            if (e)
                break;
            wsm__buf_reset(&mark);
            if ((e = wsmd__evr_bookmark(s->r, &mark)) != WSM_OK)
                break;
            data = item.data ? item.data : "";
            len = item.len;
        }
        if (items->len + len > budget) {
            if (!s->pending) {
                /* Kept for the next Pull, with the bookmark after it. */
                s->pending = wsm__buf_steal(&item, &s->pending_len);
                s->pending_bm = wsm__buf_steal(&mark, NULL);
                if (!s->pending || !s->pending_bm)
                    e = WSM_ERR_NOMEM;
            }
            if (!e && *count == 0)
                e = WSM_ERR_ENVELOPE_TOO_LARGE; /* this one alone is too big */
            break;
        }
        if ((e = wsm__buf_add(items, data, len)))
            break;
        if (s->pending) {
            after = s->pending_bm;
            s->pending_bm = NULL;
            free(s->pending);
            s->pending = NULL;
        } else {
            after = wsm__buf_steal(&mark, NULL);
            wsm__buf_init(&mark, 0);
        }
        free(*bm);
        *bm = after;
        (*count)++;
    }
    wsm__buf_free(&item);
    wsm__buf_free(&mark);
    return e;
}

#define PULL_TAIL "</n:Items></n:PullResponse></s:Body></s:Envelope>"

enum wsm_err wsmd__evsub_pull(struct wsmd_call *call)
{
    struct wsm_envelope *env = call->env;
    if (call->resumed)
        claim((unsigned long)(uintptr_t)call->resume_ctx);
    call->resume_ctx = NULL;
    const char *ctx = pull_ctx(call, "Pull");
    if (!ctx)
        return WSM_ERR_INVALID_ENUM_CONTEXT;
    xmlNodePtr pull = wsm__xml_child(env->body, WSM_NS_WSEN, "Pull");
    unsigned long max = max_elements(call, pull);
    if (!max)
        return WSM_ERR_INVALID_OPTIONS;
    long wait_ms = env->operation_timeout_ms > 0 ? env->operation_timeout_ms : DEFAULT_PULL_MS;
    xmlNodePtr mt = wsm__xml_child(pull, WSM_NS_WSEN, "MaxTime");
    if (mt) {
        const char *t = wsm__xml_text(&env->arena, mt, 1);
        if (!t || wsm__duration_ms(t, &wait_ms) != WSM_OK)
            return WSM_ERR_INVALID_TIMEOUT;
    }
    long cap =
        call->srv->cfg.max_timeout_ms > 0 ? call->srv->cfg.max_timeout_ms : WSMD_MAX_TIMEOUT_MS;
    if (wait_ms > cap)
        wait_ms = cap;
    long long deadline = call->t0_ms + wait_ms;

    int busy = 0;
    const char *owner = call->user ? call->user : "";
    struct wsmd_evs *s = wsmd__evs_take(ctx, 1, owner, &busy);
    if (!s) {
        if (!busy)
            return WSM_ERR_INVALID_ENUM_CONTEXT;
        /* Two Pulls on one context: this one looks again shortly. */
        long long retry = mono_ms() + BUSY_RETRY_MS;
        if (retry >= deadline)
            return WSM_ERR_TIMED_OUT;
        return park_until(call, ctx, -1, retry);
    }
    wsmd__evs_promote(s); /* pulling again: the last reply arrived */
    enum wsm_err e = s->r ? WSM_OK : reopen(call->srv, s);
    if (e == WSM_ERR_IO && mono_ms() + POLL_MS < deadline) {
        /* No reader now (the inotify instances of the wsmd account are
         * all in use by waiting Pulls): look again in a second. */
        wsmd__evs_give(s);
        return park_until(call, ctx, -1, mono_ms() + POLL_MS);
    }
    if (e) {
        wsmd__evs_give(s);
        call->fault_message = "The event log cannot be read on this host.";
        return e == WSM_ERR_NOMEM ? e : WSM_ERR_IO;
    }

    size_t limit =
        env->max_envelope_size > 0 ? (size_t)env->max_envelope_size : call->srv->cfg.max_envelope;
    struct wsm_buf *o = call->out;
    e = wsm__reply_begin(o, EN "PullResponse", env->message_id, " xmlns:n=\"" WSM_NS_WSEN "\"");
    /* Room for the bookmark header that goes in front of the body. */
    size_t fixed = o->len + sizeof(PULL_TAIL) + 2 * WSM_UUID_STRLEN + 128 +
                   (s->send_bookmarks ? 4096 + 2 * (s->bookmark ? strlen(s->bookmark) : 0) : 0);
    size_t budget = limit > fixed ? limit - fixed : 0;
    struct wsm_buf items;
    wsm__buf_init(&items, 0);
    unsigned long count = 0;
    char *bm = NULL;
    if (!e)
        e = fill(s, &items, max, budget, &count, &bm);
    if (!e && count == 0) {
        /* Nothing yet: wait for the journal or the deadline. */
        /* The reader stays open while the Pull waits: its descriptor is
         * what tells that the journal grew. The wait holds a dup, so a
         * reader closed meanwhile leaves no stale descriptor in epoll. */
        int fd = wsmd__evr_fd(s->r);
        fd = fd >= 0 ? dup(fd) : -1;
        wsmd__evs_give(s);
        wsm__buf_free(&items);
        wsm__buf_reset(o);
        if (mono_ms() >= deadline)
            return WSM_ERR_TIMED_OUT; /* the context stays: pull again */
        if (fd < 0)
            return park_until(call, ctx, -1,
                              mono_ms() + POLL_MS < deadline ? mono_ms() + POLL_MS : deadline);
        return park_until(call, ctx, fd, deadline);
    }
    if (e) {
        wsmd__evs_close_reader(s);
        wsmd__evs_give(s);
        wsm__buf_free(&items);
        free(bm);
        return e;
    }
    /* The reply is built again with the bookmark in its header. */
    wsm__buf_reset(o);
    e = wsm__reply_begin(o, EN "PullResponse", env->message_id, " xmlns:n=\"" WSM_NS_WSEN "\"");
    if (!e && s->send_bookmarks && bm) {
        /* In the header, before the Body wsm__reply_begin opened. */
        static const char body_open[] = "</s:Header><s:Body>";
        o->len -= sizeof(body_open) - 1;
        e = wsm__buf_puts(o, "<w:Bookmark>");
        if (!e)
            e = wsm__buf_puts(o, bm);
        if (!e)
            e = wsm__buf_printf(o, "</w:Bookmark>%s", body_open);
    }
    if (!e)
        e = wsm__buf_printf(o,
                            "<n:PullResponse><n:EnumerationContext>%s</n:EnumerationContext>"
                            "<n:Items>",
                            s->ctx);
    if (!e)
        e = wsm__buf_add(o, items.data, items.len);
    if (!e)
        e = wsm__buf_puts(o, "</n:Items></n:PullResponse>");
    if (!e)
        e = wsm__reply_end(o);
    wsm__buf_free(&items);
    struct settle_tx *t = e ? NULL : calloc(1, sizeof(*t));
    if (t) {
        t->serial = wsmd__evs_hand_over(s, bm); /* takes bm */
        bm = NULL;
        memcpy(t->id, s->id, sizeof(t->id));
        call->settle = pull_settle;
        call->settle_arg = t;
        call->settle_probe = pull_settle_probe;
    } else if (!e) {
        e = WSM_ERR_NOMEM;
    }
    wsmd__evs_close_reader(s);
    wsmd__evs_give(s);
    free(bm);
    return e;
}

enum wsm_err wsmd__evsub_release(struct wsmd_call *call)
{
    const char *ctx = pull_ctx(call, "Release");
    int busy = 0;
    struct wsmd_evs *s = ctx ? wsmd__evs_take(ctx, 1, call->user ? call->user : "", &busy) : NULL;
    if (!s)
        return WSM_ERR_INVALID_ENUM_CONTEXT;
    /* The context is the subscription's only way out in Pull mode:
     * releasing it ends the subscription (as Unsubscribe does). */
    wsmd__log("event=eventsource-release id=%s user=%s", s->id, s->owner);
    wsmd__evs_remove(s);
    enum wsm_err e = wsm__reply_begin(call->out, EN "ReleaseResponse", call->env->message_id,
                                      " xmlns:n=\"" WSM_NS_WSEN "\"");
    return e ? e : wsm__reply_end(call->out);
}
