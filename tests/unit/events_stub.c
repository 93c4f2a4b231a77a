/* A stand-in for the events slice's wsmd__event_json (src/collector/events.c),
 * linked by the store's tests and bench/collect-disk only while events.c is
 * not in the tree (see the top meson.build). Same shape, minimal: strings
 * escaped as RFC 8259 asks, input assumed to be valid UTF-8. */
#include <stdio.h>
#include <string.h>

#include "events.h"

static enum wsm_err str(struct wsm_buf *b, const char *key, const char *v, int comma)
{
    enum wsm_err err = wsm__buf_printf(b, "%s\"%s\":", comma ? "," : "", key);
    if (err != WSM_OK)
        return err;
    if (!v)
        return wsm__buf_puts(b, "null");
    err = wsm__buf_add(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)v, *run = p;
    for (; err == WSM_OK && *p; p++) {
        if (*p != '"' && *p != '\\' && *p >= 0x20)
            continue;
        err = wsm__buf_add(b, run, (size_t)(p - run));
        if (err == WSM_OK)
            err = *p < 0x20 ? wsm__buf_printf(b, "\\u%04x", *p) : wsm__buf_printf(b, "\\%c", *p);
        run = p + 1;
    }
    if (err == WSM_OK)
        err = wsm__buf_add(b, run, (size_t)(p - run));
    return err == WSM_OK ? wsm__buf_add(b, "\"", 1) : err;
}

static enum wsm_err num(struct wsm_buf *b, const char *key, long long v)
{
    return v < 0 ? wsm__buf_printf(b, ",\"%s\":null", key)
                 : wsm__buf_printf(b, ",\"%s\":%lld", key, v);
}

enum wsm_err wsmd__event_json(struct wsm_buf *out, const struct wsmd_event *ev,
                              const struct wsmd_event_meta *m)
{
    enum wsm_err err = wsm__buf_add(out, "{", 1);
    if (err == WSM_OK)
        err = str(out, "Xml", ev->xml, 0);
    if (err == WSM_OK)
        err = str(out, "Computer", ev->computer, 1);
    if (err == WSM_OK)
        err = str(out, "Channel", ev->channel, 1);
    if (err == WSM_OK)
        err = num(out, "EventID", ev->event_id);
    if (err == WSM_OK)
        err = num(out, "EventRecordID", ev->record_id);
    if (err == WSM_OK)
        err = str(out, "TimeCreated", ev->time_created, 1);
    if (err == WSM_OK)
        err = str(out, "Provider", ev->provider, 1);
    if (err == WSM_OK)
        err = str(out, "Level", ev->level, 1);
    if (err == WSM_OK)
        err = str(out, "Subscription", m->subscription, 1);
    if (err == WSM_OK)
        err = str(out, "Client", m->client, 1);
    if (err == WSM_OK)
        err = str(out, "SourceAddress", m->source_addr, 1);
    if (err == WSM_OK)
        err = str(out, "Received", m->received, 1);
    if (err == WSM_OK)
        err = wsm__buf_puts(out, ",\"ComputerMismatch\":false}");
    return err;
}
