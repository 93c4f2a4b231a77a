/* A push subscription's next batch, read from its journal (the delivery
 * threads of evpushsend.c call it; docs/internals/eventlog.md "Push
 * deliveries"): events are rendered straight into the batch, and the one
 * that would take the message past MaxEnvelopeSize is cut off and kept
 * with the subscription (s->pending) to open the next batch. The
 * subscription is taken only while its reader is read. */
#include <stdlib.h>
#include <string.h>

#include "evpush_int.h"

/* Reads what the journal has into the batch; 0, 1 when the subscription
 * was busy (a request thread has it: look again soon), or -1 when the
 * subscription is gone. The subscription is taken only meanwhile. */
int wsmd__evpush_gather(struct pusher *p)
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
                                       .journal_dir = wsmd__evpush_server_cfg()
                                                          ? wsmd__evpush_server_cfg()->journal_dir
                                                          : NULL};
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
            p->first_ms = wsmd__evpush_now_ms();
    }
    wsm__buf_free(&mark);
    int rfd = s->r ? wsmd__evr_fd(s->r) : -1;
    if (!p->full && p->n < p->c.max_elements)
        wsmd__evpush_arm(p, rfd); /* read to the end: wake on the next entry */
    wsmd__evs_give(s);
    return 0;
}
