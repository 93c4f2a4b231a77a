/* WS-Eventing on the event log resource: Subscribe, Renew, GetStatus,
 * Unsubscribe (DSP0226 10.2-10.5, MS-WSMV 3.1.4.1.30; docs/internals/
 * eventlog.md). Pull-mode subscriptions are served; the other delivery
 * modes are refused with wse:DeliveryModeRequestedUnavailable until the
 * push side exists, rather than accepted and never delivered.
 *
 * A subscription belongs to the user who made it: its identifier and its
 * enumeration context are random, and another user who names them gets
 * exactly what a name nobody made gets. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libxml/tree.h>

#include "evpush.h"
#include "evsub.h"
#include "ns.h"

#define EV "http://schemas.xmlsoap.org/ws/2004/08/eventing/"
#define EARLIEST "http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest"
#define EV_NS " xmlns:e=\"" WSM_NS_WSEV "\" xmlns:n=\"" WSM_NS_WSEN "\""

/* ---- times ----------------------------------------------------------- */

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (*(*p)++ - '0');
    }
    *out = v;
    return 0;
}

enum wsm_err wsmd__evsub_datetime(const char *t, long long *ms)
{
    /* YYYY-MM-DDThh:mm:ss[.fff][Z|(+|-)hh:mm] */
    const char *p = t;
    int Y, M, D, h, m, s, zh = 0, zm = 0, frac = 0, scale = 1000;
    while (isspace((unsigned char)*p))
        p++;
    if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' || digits(&p, 2, &D) ||
        *p++ != 'T' || digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m) || *p++ != ':' ||
        digits(&p, 2, &s))
        return WSM_ERR_INVALID_EXPIRATION;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return WSM_ERR_INVALID_EXPIRATION;
        while (isdigit((unsigned char)*p)) {
            if (scale > 1) {
                scale /= 10;
                frac += (*p - '0') * scale;
            }
            p++;
        }
    }
    int sign = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '+' ? 1 : -1;
        if (digits(&p, 2, &zh) || *p++ != ':' || digits(&p, 2, &zm) || zh > 14 || zm > 59)
            return WSM_ERR_INVALID_EXPIRATION;
    }
    while (isspace((unsigned char)*p))
        p++;
    if (*p || Y < 1970 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || s > 60)
        return WSM_ERR_INVALID_EXPIRATION;
    /* Days from the civil date (proleptic Gregorian), no time zone tables. */
    int y = M <= 2 ? Y - 1 : Y;
    int era = y / 400, yoe = y - era * 400;
    int doy = (153 * (M + (M > 2 ? -3 : 9)) + 2) / 5 + D - 1;
    long long days = (long long)era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
    long long secs = days * 86400 + h * 3600 + m * 60 + s - sign * (zh * 3600 + zm * 60);
    *ms = secs * 1000 + frac;
    return WSM_OK;
}

enum wsm_err wsmd__evsub_expires(const char *text, long long now, long long *abs)
{
    if (!text)
        return WSM_ERR_INVALID_EXPIRATION;
    const char *p = text;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == 'P' || *p == '-') {
        long ms;
        if (wsm__duration_ms(p, &ms) != WSM_OK || ms <= 0)
            return WSM_ERR_INVALID_EXPIRATION;
        *abs = now + ms;
        return WSM_OK;
    }
    long long t;
    if (wsmd__evsub_datetime(p, &t) != WSM_OK || t <= now)
        return WSM_ERR_INVALID_EXPIRATION;
    *abs = t;
    return WSM_OK;
}

void wsmd__evsub_write_expires(struct wsm_buf *o, long long expires, long long now)
{
    long long left = expires > now ? expires - now : 0;
    wsm__buf_printf(o, "<e:Expires>PT%lld.%03lldS</e:Expires>", left / 1000, left % 1000);
}

/* ---- requests ----------------------------------------------------------- */

static const char *who(const struct wsmd_call *call)
{
    return call->user ? call->user : "";
}

/* The wse:Identifier header of a subscription manager request. */
static const char *identifier(struct wsmd_call *call)
{
    xmlNodePtr h = wsm__xml_child(call->env->header, WSM_NS_WSEV, "Identifier");
    return h ? wsm__xml_text(&call->env->arena, h, 1) : NULL;
}

static int option_true(const struct wsm_envelope *env, const char *name)
{
    const char *v = wsm__envelope_option(env, name);
    /* Windows sends some as xsi:nil="true" (an empty value): present is on. */
    return v && (!*v || !strcasecmp(v, "true") || !strcmp(v, "1"));
}

/* The XML of the first element child of n (QueryList, BookmarkList), or n's
 * trimmed text when it has none, copied into the arena. */
static const char *inner_xml(struct wsm_envelope *env, xmlNodePtr n, size_t *len)
{
    xmlNodePtr el = NULL;
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE) {
            el = c;
            break;
        }
    if (!el) {
        const char *t = wsm__xml_text(&env->arena, n, 1);
        *len = t ? strlen(t) : 0;
        return t;
    }
    xmlBufferPtr b = xmlBufferCreate();
    if (!b)
        return NULL;
    const char *out = NULL;
    if (xmlNodeDump(b, env->doc, el, 0, 0) >= 0) {
        *len = (size_t)xmlBufferLength(b);
        char *c = wsm__arena_alloc(&env->arena, *len + 1);
        if (c) {
            memcpy(c, xmlBufferContent(b), *len);
            c[*len] = '\0';
            out = c;
        }
    }
    xmlBufferFree(b);
    return out;
}

static enum wsm_err say(struct wsmd_call *call, enum wsm_err e, const char *fmt, const char *arg)
{
    size_t n = strlen(fmt) + (arg ? strlen(arg) : 0) + 1;
    if (n > 1024)
        n = 1024;
    char *m = wsm__arena_alloc(&call->env->arena, n);
    if (m) {
        snprintf(m, n, fmt, arg ? arg : "");
        /* What the client sent, quoted: one line still (the text goes into
         * the log line too). fuzz_evsub found a ContentFormat with a newline. */
        for (char *c = m; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = ' ';
        call->fault_message = m;
    }
    return e;
}

/* Delivery/@Mode: Pull, or a push mode (evpush.c reads its NotifyTo...
 * into s->push). */
static enum wsm_err read_delivery(struct wsmd_call *call, xmlNodePtr sub, long *heartbeat,
                                  struct wsmd_evs *s)
{
    xmlNodePtr d = wsm__xml_child(sub, WSM_NS_WSEV, "Delivery");
    const char *mode = d ? wsm__xml_attr(d, "Mode") : NULL;
    if (!mode) /* WS-Eventing's default */
        mode = EV "DeliveryModes/Push";
    if (wsmd__evpush_mode(mode)) {
        enum wsm_err e = d ? wsmd__evpush_parse(call, mode, d, s)
                           : say(call, WSM_ERR_INVALID_SUBSCRIPTION,
                                 "A push delivery needs a Delivery with a NotifyTo.%s", NULL);
        if (e)
            return e;
    } else if (strcmp(mode, WSMD_EV_PULL_MODE) != 0) {
        return say(call, WSM_ERR_DELIVERY_MODE,
                   "The delivery mode %s is not a WS-Management delivery mode.", mode);
    }
    xmlNodePtr hb = wsm__xml_child(d, WSM_NS_WSMAN, "Heartbeats");
    *heartbeat = 0;
    if (hb) {
        const char *t = wsm__xml_text(&call->env->arena, hb, 1);
        if (!t || wsm__duration_ms(t, heartbeat) != WSM_OK || *heartbeat <= 0)
            return say(call, WSM_ERR_INVALID_OPTIONS, "Heartbeats is not a positive duration.",
                       NULL);
    }
    return WSM_OK;
}

static enum wsm_err read_filter(struct wsmd_call *call, xmlNodePtr sub, struct wsmd_evs *s)
{
    xmlNodePtr f = wsm__xml_child(sub, WSM_NS_WSMAN, "Filter");
    if (!f)
        f = wsm__xml_child(sub, WSM_NS_WSEV, "Filter");
    if (!f)
        return say(call, WSM_ERR_CANNOT_PROCESS_FILTER,
                   "The event log needs a Filter of dialect " WSMD_EVQUERY_DIALECT
                   " with a QueryList.%s",
                   NULL);
    const char *dialect = wsm__xml_attr(f, "Dialect");
    if (!dialect || strcmp(dialect, WSMD_EVQUERY_DIALECT) != 0)
        return say(call, WSM_ERR_FILTERING_UNAVAILABLE,
                   "The filter dialect %s is not supported for events: use " WSMD_EVQUERY_DIALECT
                   ".",
                   dialect ? dialect : "(none)");
    size_t len = 0;
    const char *text = inner_xml(call->env, f, &len);
    if (!text)
        return WSM_ERR_NOMEM;
    if (len == 0 || len > WSMD_EV_MAX_QUERY)
        return say(call, WSM_ERR_CANNOT_PROCESS_FILTER,
                   "The filter is empty or longer than 64 KB.%s", NULL);
    char why[256] = "";
    /* IgnoreChannelError (MS-WSMV 3.1.4.1.30.1): a Select on a channel this
     * host does not have (a Windows-only one) takes nothing instead of
     * refusing the whole filter. */
    s->qflags = option_true(call->env, "IgnoreChannelError") ? WSMD_EVQ_IGNORE_CHANNEL_ERROR : 0;
    enum wsm_err e = wsmd__evq_compile_ex(text, len, s->qflags, &s->q, why, sizeof(why));
    if (e == WSM_ERR_NOMEM)
        return e;
    if (e)
        return say(call, WSM_ERR_CANNOT_PROCESS_FILTER,
                   e == WSM_ERR_UNSUPPORTED_FEATURE
                       ? "The filter uses what this event source does not support: %s"
                       : "The WS-Management service cannot process the filter: %s",
                   why[0] ? why : "invalid query");
    if (!(s->query = strndup(text, len)))
        return WSM_ERR_NOMEM;
    if (why[0]) {                    /* a channel ignored: said once, as a notice */
        for (char *c = why; *c; c++) /* the channel's name is the client's */
            if (*c == '"' || (unsigned char)*c < 0x20 || *c == 0x7f)
                *c = '\'';
        wsmd__log("event=notice user=%s message=\"event subscription: %s\"", who(call), why);
    }
    return WSM_OK;
}

static enum wsm_err write_manager(struct wsmd_call *call, struct wsm_buf *o,
                                  const struct wsmd_evs *s)
{
    enum wsm_err e = wsm__buf_puts(o, "<e:SubscriptionManager><a:Address>");
    const char *to = call->env->to;
    if (!e)
        e = wsm__buf_xml(o, to && *to ? to : call->lis ? call->lis->url : "/wsman");
    if (!e)
        e = wsm__buf_printf(o,
                            "</a:Address><a:ReferenceParameters><w:ResourceURI>" WSMD_EVENTLOG_URI
                            "</w:ResourceURI><e:Identifier>%s</e:Identifier>"
                            "</a:ReferenceParameters></e:SubscriptionManager>",
                            s->id);
    return e;
}

enum wsm_err wsmd__evsub_subscribe(struct wsmd_call *call)
{
    struct wsm_envelope *env = call->env;
    xmlNodePtr sub = wsm__xml_child(env->body, WSM_NS_WSEV, "Subscribe");
    if (!sub)
        return say(call, WSM_ERR_INVALID_SUBSCRIPTION, "The body holds no wse:Subscribe.%s", NULL);
    long heartbeat = 0;
    struct wsmd_evs *s = calloc(1, sizeof(*s));
    if (!s)
        return WSM_ERR_NOMEM;
    enum wsm_err e = read_delivery(call, sub, &heartbeat, s);
    long long now = wsmd__evs_now(), expires = 0;
    xmlNodePtr ex = wsm__xml_child(sub, WSM_NS_WSEV, "Expires");
    if (!e && ex && wsmd__evsub_expires(wsm__xml_text(&env->arena, ex, 1), now, &expires) != WSM_OK)
        e = WSM_ERR_INVALID_EXPIRATION;
    const char *cf = wsm__envelope_option(env, "ContentFormat");
    if (!e && cf && strcasecmp(cf, "Raw") != 0 && strcasecmp(cf, "RenderedText") != 0)
        e = say(call, WSM_ERR_INVALID_OPTIONS, "ContentFormat %s is neither Raw nor RenderedText.",
                cf);
    if (e)
        goto fail;
    int push = s->push != NULL;
    char pushmode = push ? s->push[2] : 0; /* evpush.c's stored form: "1", US, mode */
    snprintf(s->owner, sizeof(s->owner), "%s", who(call));
    s->rendered = cf && !strcasecmp(cf, "RenderedText");
    s->send_bookmarks = wsm__xml_child(sub, WSM_NS_WSMAN, "SendBookmarks") != NULL;
    s->expires = expires;
    s->heartbeat_ms = heartbeat;
    if ((e = read_filter(call, sub, s)))
        goto fail;

    /* Where the subscription starts: after the subscriber's bookmark, at
     * the oldest entry (ReadExistingEvents, or the "earliest" bookmark),
     * or at what is written from now on. */
    struct wsmd_evreader_opts ro = {.query = s->q,
                                    .start = WSMD_EV_FROM_NOW,
                                    .rendered = s->rendered,
                                    .journal_dir = call->srv->cfg.journal_dir};
    xmlNodePtr bmn = wsm__xml_child(sub, WSM_NS_WSMAN, "Bookmark");
    size_t bmlen = 0;
    const char *bm = bmn ? inner_xml(env, bmn, &bmlen) : NULL;
    if (bmn && !bm) {
        e = WSM_ERR_NOMEM;
        goto fail;
    }
    if (bm && !strcmp(bm, EARLIEST)) {
        ro.start = WSMD_EV_FROM_OLDEST;
    } else if (bm) {
        if (bmlen == 0 || bmlen > WSMD_EV_MAX_BOOKMARK) {
            e = WSM_ERR_INVALID_BOOKMARK;
            goto fail;
        }
        ro.start = WSMD_EV_FROM_BOOKMARK;
        ro.bookmark = bm;
        ro.bookmark_len = bmlen;
        if (!(s->bookmark = strndup(bm, bmlen))) {
            e = WSM_ERR_NOMEM;
            goto fail;
        }
    } else if (option_true(env, "ReadExistingEvents")) {
        ro.start = WSMD_EV_FROM_OLDEST;
    }
    s->from_oldest = ro.start == WSMD_EV_FROM_OLDEST;
    e = wsmd__evr_open(&ro, &s->r);
    if (e == WSM_ERR_INVALID_ARG) {
        e = WSM_ERR_INVALID_BOOKMARK;
        goto fail;
    }
    if (e) {
        e = say(call, e == WSM_ERR_NOMEM ? e : WSM_ERR_IO,
                "The event log cannot be read on this host (%s).", wsm_strerror(e));
        goto fail;
    }
    if (ro.start != WSMD_EV_FROM_BOOKMARK) {
        /* Where the reader stands, as a bookmark: "now" is the last entry
         * there is (or, in an empty journal, the head), so that the next
         * Pull, after a restart too, starts here and not at a later "now". */
        struct wsm_buf b;
        wsm__buf_init(&b, 0);
        if (wsmd__evr_bookmark(s->r, &b) == WSM_OK && b.len && b.len <= WSMD_EV_MAX_BOOKMARK)
            s->bookmark = wsm__buf_steal(&b, NULL);
        wsm__buf_free(&b);
    }
    /* Readers are open only while a Pull runs (evsub.h). */
    wsmd__evr_close(s->r);
    s->r = NULL;
    wsm__uuid_urn(s->id);
    wsm__uuid_urn(s->ctx);
    char id[WSM_UUID_STRLEN], ctx[WSM_UUID_STRLEN];
    memcpy(id, s->id, sizeof(id));
    memcpy(ctx, s->ctx, sizeof(ctx));
    e = wsmd__evs_add(s, __atomic_load_n(&call->srv->cfg.max_subscriptions_per_user,
                                         __ATOMIC_RELAXED)); /* takes s */
    s = NULL;
    if (e == WSM_ERR_QUOTA)
        return say(call, e,
                   "The user has reached the maximum number of event subscriptions "
                   "(MaxSubscriptionsPerUser).%s",
                   NULL);
    if (e)
        return say(call, e,
                   "The subscription cannot be stored durably (StateDir): see wsmd's log.%s", NULL);
    wsmd__log("event=eventsource-subscribe id=%s user=%s mode=%s expires_ms=%lld", id, who(call),
              !push             ? "Pull"
              : pushmode == '0' ? "Events"
              : pushmode == '1' ? "PushWithAck"
                                : "Push",
              expires ? expires - now : 0LL);

    struct wsm_buf *o = call->out;
    e = wsm__reply_begin(o, EV "SubscribeResponse", env->message_id, EV_NS);
    struct wsmd_evs view;
    memcpy(view.id, id, sizeof(id));
    if (!e)
        e = wsm__buf_puts(o, "<e:SubscribeResponse>");
    if (!e)
        e = write_manager(call, o, &view);
    if (!e && expires)
        wsmd__evsub_write_expires(o, expires, now);
    if (!e && !push) /* a push subscription has no context to Pull on */
        e = wsm__buf_printf(o, "<n:EnumerationContext>%s</n:EnumerationContext>", ctx);
    if (!e)
        e = wsm__buf_puts(o, "</e:SubscribeResponse>");
    return e ? e : wsm__reply_end(o);
fail:
    wsmd__evs_free(s);
    return e;
}

/* The caller's subscription named by the wse:Identifier header, taken. */
static struct wsmd_evs *take_by_id(struct wsmd_call *call, enum wsm_err *e, enum wsm_err unknown)
{
    int busy = 0;
    const char *id = identifier(call);
    struct wsmd_evs *s = id ? wsmd__evs_take(id, 0, who(call), &busy) : NULL;
    /* A push subscription is held for a moment while a delivery thread
     * reads its journal (evpushsend.c): worth a short wait, not a fault. */
    for (int i = 0; !s && busy && i < 50; i++) {
        struct timespec t = {0, 2 * 1000000};
        nanosleep(&t, NULL);
        s = wsmd__evs_take(id, 0, who(call), &busy);
    }
    if (!s)
        *e = busy ? say(call, WSM_ERR_QUOTA,
                        "A Pull on this subscription is in progress: try again.%s", NULL)
                  : unknown;
    return s;
}

enum wsm_err wsmd__evsub_renew(struct wsmd_call *call)
{
    enum wsm_err e = WSM_OK;
    long long now = wsmd__evs_now(), expires = 0;
    xmlNodePtr r = wsm__xml_child(call->env->body, WSM_NS_WSEV, "Renew");
    xmlNodePtr ex = wsm__xml_child(r, WSM_NS_WSEV, "Expires");
    /* A bad time is told before whether the subscription exists. */
    if (ex && wsmd__evsub_expires(wsm__xml_text(&call->env->arena, ex, 1), now, &expires) != WSM_OK)
        return WSM_ERR_INVALID_EXPIRATION;
    struct wsmd_evs *s = take_by_id(call, &e, WSM_ERR_UNABLE_TO_RENEW);
    if (!s)
        return e;
    e = wsmd__evs_set_expires(s, expires);
    wsmd__evs_give(s);
    if (e)
        return e;
    struct wsm_buf *o = call->out;
    e = wsm__reply_begin(o, EV "RenewResponse", call->env->message_id, EV_NS);
    if (!e)
        e = wsm__buf_puts(o, "<e:RenewResponse>");
    if (!e && expires)
        wsmd__evsub_write_expires(o, expires, now);
    if (!e)
        e = wsm__buf_puts(o, "</e:RenewResponse>");
    return e ? e : wsm__reply_end(o);
}

enum wsm_err wsmd__evsub_getstatus(struct wsmd_call *call)
{
    enum wsm_err e = WSM_OK;
    struct wsmd_evs *s = take_by_id(call, &e, WSM_ERR_INVALID_SUBSCRIPTION);
    if (!s)
        return e;
    long long expires = s->expires, now = wsmd__evs_now();
    wsmd__evs_give(s);
    struct wsm_buf *o = call->out;
    e = wsm__reply_begin(o, EV "GetStatusResponse", call->env->message_id, EV_NS);
    if (!e)
        e = wsm__buf_puts(o, "<e:GetStatusResponse>");
    if (!e && expires)
        wsmd__evsub_write_expires(o, expires, now);
    if (!e)
        e = wsm__buf_puts(o, "</e:GetStatusResponse>");
    return e ? e : wsm__reply_end(o);
}

enum wsm_err wsmd__evsub_unsubscribe(struct wsmd_call *call)
{
    enum wsm_err e = WSM_OK;
    struct wsmd_evs *s = take_by_id(call, &e, WSM_ERR_INVALID_SUBSCRIPTION);
    if (!s)
        return e;
    wsmd__log("event=eventsource-unsubscribe id=%s user=%s", s->id, who(call));
    wsmd__evs_remove(s);
    e = wsm__reply_begin(call->out, EV "UnsubscribeResponse", call->env->message_id, EV_NS);
    return e ? e : wsm__reply_end(call->out);
}
