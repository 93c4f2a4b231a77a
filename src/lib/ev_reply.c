/* libwsm client: reading WS-Eventing replies (SubscribeResponse,
 * PullResponse, RenewResponse, GetStatusResponse) and mapping eventing
 * faults to error codes. Kept apart from ev_client.c, which sends the
 * requests, so that the unit tests (test_evclient) and fuzz_evclient
 * reach it without a network stack. */
#include <ctype.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ev_client.h"
#include "ns.h"

static const struct {
    const char *subcode;
    enum wsm_err err;
} fault_map[] = {
    {"DeliveryModeRequestedUnavailable", WSM_ERR_DELIVERY_MODE},
    {"InvalidExpirationTime", WSM_ERR_INVALID_EXPIRATION},
    {"FilteringRequestedUnavailable", WSM_ERR_FILTERING_UNAVAILABLE},
    {"FilteringNotSupported", WSM_ERR_FILTERING_UNAVAILABLE},
    {"CannotProcessFilter", WSM_ERR_CANNOT_PROCESS_FILTER},
    {"UnableToRenew", WSM_ERR_UNABLE_TO_RENEW},
    /* What GetStatus and Unsubscribe answer for an unknown identifier. */
    {"InvalidMessage", WSM_ERR_INVALID_SUBSCRIPTION},
    /* A Pull on a context the service no longer has: the subscription
     * was unsubscribed or expired. */
    {"InvalidEnumerationContext", WSM_ERR_INVALID_SUBSCRIPTION},
    {"InvalidBookmark", WSM_ERR_INVALID_BOOKMARK},
    {"InvalidOptions", WSM_ERR_INVALID_OPTIONS},
    {"QuotaLimit", WSM_ERR_QUOTA},
    {"AccessDenied", WSM_ERR_ACCESS_DENIED},
    {"EncodingLimit", WSM_ERR_ENVELOPE_TOO_LARGE},
    {"DestinationUnreachable", WSM_ERR_DESTINATION_UNREACHABLE},
    {"ActionNotSupported", WSM_ERR_ACTION_NOT_SUPPORTED},
};

enum wsm_err wsm__ev_fault_err(const char *subcode)
{
    for (size_t i = 0; subcode && i < sizeof(fault_map) / sizeof(fault_map[0]); i++)
        if (!strcmp(fault_map[i].subcode, subcode))
            return fault_map[i].err;
    return WSM_ERR_FAULT;
}

static int digits(const char *p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i]))
            return 0;
        *v = *v * 10 + (p[i] - '0');
    }
    return 1;
}

/* xs:dateTime "YYYY-MM-DDThh:mm:ss[.fff](Z|+hh:mm|-hh:mm)"; no zone is
 * taken as UTC, as Windows writes them. */
static int datetime_ms(const char *t, long long *ms)
{
    int y, mo, d, h, mi, se, frac = 0, fdig = 0;
    if (strlen(t) < 19 || !digits(t, 4, &y) || t[4] != '-' || !digits(t + 5, 2, &mo) ||
        t[7] != '-' || !digits(t + 8, 2, &d) || t[10] != 'T' || !digits(t + 11, 2, &h) ||
        t[13] != ':' || !digits(t + 14, 2, &mi) || t[16] != ':' || !digits(t + 17, 2, &se))
        return 0;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return 0;
    const char *p = t + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        for (; isdigit((unsigned char)*p); p++)
            if (fdig < 3) {
                frac = frac * 10 + (*p - '0');
                fdig++;
            }
        while (fdig < 3) {
            frac *= 10;
            fdig++;
        }
    }
    long off = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 14 || om > 59)
            return 0;
        off = (oh * 60L + om) * 60L * (*p == '-' ? -1 : 1);
        p += 6;
    }
    if (*p)
        return 0;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = se};
    time_t at = timegm(&tm);
    *ms = ((long long)at - off) * 1000 + frac;
    return 1;
}

enum wsm_err wsm__ev_expires_at(const char *text, long long now_ms, long long *at_ms)
{
    long d;
    if (!text)
        return WSM_ERR_INVALID_EXPIRATION;
    if (text[0] == 'P' || (text[0] == '-' && text[1] == 'P')) {
        if (wsm__duration_ms(text, &d) || d < 0)
            return WSM_ERR_INVALID_EXPIRATION;
        *at_ms = now_ms + d;
        return WSM_OK;
    }
    return datetime_ms(text, at_ms) ? WSM_OK : WSM_ERR_INVALID_EXPIRATION;
}

enum wsm_err wsm__ev_node_xml(const xmlNode *n, char **out)
{
    /* A copy into a document of its own: libxml2 declares on the copy
     * every namespace the element and its attributes use from above. */
    enum wsm_err e = WSM_ERR_NOMEM;
    xmlDocPtr d = xmlNewDoc((const xmlChar *)"1.0");
    xmlNodePtr c = d ? xmlDocCopyNode((xmlNodePtr)n, d, 1) : NULL;
    xmlBufferPtr buf = xmlBufferCreate();
    if (c && buf) {
        xmlDocSetRootElement(d, c);
        xmlReconciliateNs(d, c);
        if (xmlNodeDump(buf, d, c, 0, 0) >= 0) {
            char *r = strdup((const char *)xmlBufferContent(buf));
            if (r) {
                *out = r;
                e = WSM_OK;
            }
        }
    } else if (c) {
        xmlFreeNode(c);
    }
    xmlBufferFree(buf);
    xmlFreeDoc(d);
    return e;
}

static void why_set(char *why, size_t whylen, const char *text)
{
    if (why && whylen)
        snprintf(why, whylen, "%s", text);
}

static xmlNodePtr first_element(const xmlNode *n)
{
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            return c;
    return NULL;
}

static char *text_of(const struct wsm_envelope *env, const xmlNode *n)
{
    const char *t = n ? wsm__xml_text((struct wsm_arena *)&env->arena, n, 1) : NULL;
    return t && *t ? strdup(t) : NULL;
}

void wsm__ev_sub_reply_clear(struct wsm__ev_sub_reply *r)
{
    free(r->identifier);
    free(r->address);
    free(r->context);
    memset(r, 0, sizeof(*r));
}

enum wsm_err wsm__ev_subscribe_reply(const struct wsm_envelope *env, long long now_ms,
                                     struct wsm__ev_sub_reply *r, char *why, size_t whylen)
{
    memset(r, 0, sizeof(*r));
    xmlNodePtr resp = wsm__xml_child(env->body, WSM_NS_WSEV, "SubscribeResponse");
    if (!resp) {
        why_set(why, whylen, "the reply is not a SubscribeResponse");
        return WSM_ERR_NOT_SOAP;
    }
    xmlNodePtr mgr = wsm__xml_child(resp, WSM_NS_WSEV, "SubscriptionManager");
    xmlNodePtr refs = wsm__xml_child(mgr, WSM_NS_WSA, "ReferenceParameters");
    xmlNodePtr id = wsm__xml_child(refs, WSM_NS_WSEV, "Identifier");
    xmlNodePtr ctx = wsm__xml_child(resp, WSM_NS_WSEN, "EnumerationContext");
    r->identifier = text_of(env, id);
    r->context = text_of(env, ctx);
    r->address = text_of(env, wsm__xml_child(mgr, WSM_NS_WSA, "Address"));
    if (!r->identifier || !r->context) {
        why_set(why, whylen,
                !r->identifier ? "the SubscribeResponse has no Identifier"
                               : "the SubscribeResponse has no EnumerationContext");
        wsm__ev_sub_reply_clear(r);
        return WSM_ERR_NOT_SOAP;
    }
    xmlNodePtr ex = wsm__xml_child(resp, WSM_NS_WSEV, "Expires");
    if (ex) {
        const char *t = wsm__xml_text((struct wsm_arena *)&env->arena, ex, 1);
        if (wsm__ev_expires_at(t, now_ms, &r->expires_at)) {
            why_set(why, whylen, "the SubscribeResponse's Expires is not a duration or time");
            wsm__ev_sub_reply_clear(r);
            return WSM_ERR_NOT_SOAP;
        }
    }
    return WSM_OK;
}

enum wsm_err wsm__ev_expires_reply(const struct wsm_envelope *env, const char *op, long long now_ms,
                                   long long *at_ms, char *why, size_t whylen)
{
    xmlNodePtr resp = wsm__xml_child(env->body, WSM_NS_WSEV, op);
    *at_ms = 0;
    if (!resp) {
        if (why && whylen)
            snprintf(why, whylen, "the reply is not a %s", op);
        return WSM_ERR_NOT_SOAP;
    }
    xmlNodePtr ex = wsm__xml_child(resp, WSM_NS_WSEV, "Expires");
    if (!ex)
        return WSM_OK;
    const char *t = wsm__xml_text((struct wsm_arena *)&env->arena, ex, 1);
    if (wsm__ev_expires_at(t, now_ms, at_ms)) {
        if (why && whylen)
            snprintf(why, whylen, "the %s's Expires is not a duration or time", op);
        return WSM_ERR_NOT_SOAP;
    }
    return WSM_OK;
}

enum wsm_err wsm__ev_pull_reply(const struct wsm_envelope *env, wsm_event_fn fn, void *ud,
                                char **bookmark, char **context, size_t *n, char *why,
                                size_t whylen)
{
    *n = 0;
    xmlNodePtr resp = wsm__xml_child(env->body, WSM_NS_WSEN, "PullResponse");
    if (!resp) {
        why_set(why, whylen, "the reply is not a PullResponse");
        return WSM_ERR_NOT_SOAP;
    }
    /* The bookmark: in the header, as Windows' deliveries carry it. */
    char *bm = NULL;
    xmlNodePtr b = env->header ? wsm__xml_child(env->header, WSM_NS_WSMAN, "Bookmark") : NULL;
    xmlNodePtr list = first_element(b);
    enum wsm_err e;
    if (list && (e = wsm__ev_node_xml(list, &bm)))
        return e;
    xmlNodePtr ctx = wsm__xml_child(resp, WSM_NS_WSEN, "EnumerationContext");
    char *c = ctx ? text_of(env, ctx) : NULL;
    xmlNodePtr items = wsm__xml_child(resp, WSM_NS_WSEN, "Items");
    xmlNodePtr last = NULL;
    for (xmlNodePtr it = first_element(items); it; it = it->next)
        if (it->type == XML_ELEMENT_NODE)
            last = it;
    e = WSM_OK;
    for (xmlNodePtr it = first_element(items); it && !e; it = it->next) {
        if (it->type != XML_ELEMENT_NODE)
            continue;
        char *x = NULL;
        if ((e = wsm__ev_node_xml(it, &x)))
            break;
        (*n)++;
        int stop = fn ? fn(ud, x, it == last ? bm : NULL) : 0;
        free(x);
        if (stop)
            break;
    }
    if (e) {
        free(bm);
        free(c);
        return e;
    }
    if (bm) {
        free(*bookmark);
        *bookmark = bm;
    }
    if (c) {
        free(*context);
        *context = c;
    }
    return WSM_OK;
}
