/* Pull and Release on a Pull-mode subscription's enumeration context
 * (DSP0226 10.2.9.5 and 8.4; docs/internals/eventlog.md "Pull").
 *
 * A Pull answers at once with the events there are (up to MaxElements,
 * within the client's MaxEnvelopeSize), or waits for the first ones until
 * MaxTime (else OperationTimeout, at most MaxTimeoutms) and then answers
 * w:TimedOut, which leaves the context as it was: the client pulls again.
 * A waiting Pull holds no thread (server.h: park): one thread (evpullwait.c)
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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evpull_priv.h"
#include "evsub.h"
#include "ns.h"

#define EN "http://schemas.xmlsoap.org/ws/2004/09/enumeration/"
#define DEFAULT_PULL_MS 60000 /* no MaxTime nor OperationTimeout: Windows' MaxTimeoutms */
#define MAX_ELEMENTS 10000
#define BUSY_RETRY_MS 20 /* another Pull on the context is reading: look again */
#define POLL_MS 1000     /* no reader could be opened: try again */

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
        wsmd__evpull_claim((unsigned long)(uintptr_t)call->resume_ctx);
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
        long long retry = wsmd__evpull_mono_ms() + BUSY_RETRY_MS;
        if (retry >= deadline)
            return WSM_ERR_TIMED_OUT;
        return wsmd__evpull_park_until(call, ctx, -1, retry);
    }
    wsmd__evs_promote(s); /* pulling again: the last reply arrived */
    enum wsm_err e = s->r ? WSM_OK : reopen(call->srv, s);
    if (e == WSM_ERR_IO && wsmd__evpull_mono_ms() + POLL_MS < deadline) {
        /* No reader now (the inotify instances of the wsmd account are
         * all in use by waiting Pulls): look again in a second. */
        wsmd__evs_give(s);
        return wsmd__evpull_park_until(call, ctx, -1, wsmd__evpull_mono_ms() + POLL_MS);
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
        if (wsmd__evpull_mono_ms() >= deadline)
            return WSM_ERR_TIMED_OUT; /* the context stays: pull again */
        if (fd < 0)
            return wsmd__evpull_park_until(call, ctx, -1,
                                           wsmd__evpull_mono_ms() + POLL_MS < deadline
                                               ? wsmd__evpull_mono_ms() + POLL_MS
                                               : deadline);
        return wsmd__evpull_park_until(call, ctx, fd, deadline);
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
