/* CollectorInitiated subscriptions in Pull mode: what one Pull brought, as
 * a batch, and the batch made durable before the next Pull (outputs first,
 * then the bookmark in the state database, as delivery.c does for a pushed
 * batch before its Ack).
 *
 * Apart from dialer.c, which owns the thread, the connection to the source
 * and its retries: this file does not talk to the source, only to this
 * collector's outputs and state. A batch that cannot be stored, or whose
 * source's claim was lost meanwhile (dialclaim.c), is refused here, and
 * the dialer Subscribes again from the stored bookmark (dialer.c: why no
 * event is lost). */
#include "dialer_priv.h"

#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "events.h"
#include "server.h"

int wsmd__dial_on_event(void *ud, const char *xml, const char *bookmark)
{
    struct batch *b = ud;
    xmlNodePtr ev = xmlNewChild(b->events, b->events->ns, (const xmlChar *)"Event", NULL);
    xmlNodePtr cd = ev ? xmlNewCDataBlock(b->doc, (const xmlChar *)xml, (int)strlen(xml)) : NULL;
    if (!cd || !xmlAddChild(ev, cd)) {
        xmlFreeNode(cd);
        b->nomem = 1;
        return 1;
    }
    b->n++;
    if (bookmark) {
        free(b->bookmark);
        b->bookmark = strdup(bookmark);
        b->nomem |= !b->bookmark;
    }
    return 0;
}

/* Durable before the next Pull: outputs first, then the bookmark (the
 * order of collector-store.md). */
enum wsm_err wsmd__dial_store(struct dialer *d, struct batch *b, char *err, size_t errlen)
{
    struct wsmd_collector *col = d->col;
    struct wsm_arena a;
    wsm__arena_init(&a);
    struct wsmd_event *ev = NULL;
    size_t n = 0;
    enum wsm_err e = wsmd__events_parse(b->events, &a, b->n + 1, &ev, &n);
    long long t = wsmd__dial_now_ms();
    char received[40];
    time_t sec = (time_t)(t / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t k = strftime(received, sizeof(received), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(received + k, sizeof(received) - k, ".%03dZ", (int)(t % 1000));
    struct wsmd_event_meta m = {.subscription = d->sub->id,
                                .client = d->src->address,
                                .source_addr = d->src->address,
                                .received = received};
    /* Not written when it could not be committed, or when another node
     * takes the source meanwhile (the claim lost during the Pull): it
     * comes again from the stored bookmark, here or at the new holder,
     * and writing it now would be a copy (as writer.c refuses a pushed
     * batch while the database is away). */
    if (!e && !wsmd__dial_claimed(col->dialers, d)) {
        snprintf(err, errlen, "the claim was lost: the batch is left to the next holder");
        wsm__arena_free(&a);
        return WSM_ERR_IO;
    }
    if (!e && !wsmd__state_ready(col->state)) {
        atomic_fetch_add(&col->m.state_failures, 1);
        snprintf(err, errlen, "storing the bookmark: the state database is away");
        wsm__arena_free(&a);
        return WSM_ERR_IO;
    }
    if (!e && (e = wsmd__outputs_write(col->outputs, d->sub->outputs, d->sub->log_file, ev, n,
                                       &m)) != WSM_OK) {
        atomic_fetch_add(&col->m.output_failures, 1);
        snprintf(err, errlen, "writing the events: %s", wsm_strerror(e));
    } else if (e) {
        atomic_fetch_add(&col->m.decode_failures, 1);
        snprintf(err, errlen, "reading the events: %s", wsm_strerror(e));
    }
    unsigned long long bytes = 0, bad = 0;
    for (size_t i = 0; !e && i < n; i++) {
        bytes += ev[i].xml_len;
        bad += !ev[i].well_formed;
    }
    if (!e) {
        struct wsmd_state_update u = {
            .sub = d->sub->id,
            .principal = d->src->address,
            .addr = d->src->address,
            .bookmark_xml = b->bookmark,
            .events = n,
            .now_ms = t,
        };
        if ((e = wsmd__state_commit(col->state, &u)) != WSM_OK) {
            atomic_fetch_add(&col->m.state_failures, 1);
            snprintf(err, errlen, "storing the bookmark: %s", wsm_strerror(e));
        }
    }
    if (!e) {
        atomic_fetch_add(&col->m.events, n);
        atomic_fetch_add(&col->m.bytes, bytes);
        atomic_fetch_add(&col->m.batches, 1);
        atomic_fetch_add(&col->m.malformed_events, bad);
        wsmd__col_observe(col, (wsmd__dial_now_ms() - t) * 1000);
    }
    wsm__arena_free(&a);
    return e;
}
