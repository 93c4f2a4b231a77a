/* libwsm client: WS-Eventing subscriptions in Pull mode (DSP0226 chapter
 * 10, MS-WSMV 3.1.4.1.30): Subscribe, Pull on the EnumerationContext the
 * SubscribeResponse gives, Renew, GetStatus and Unsubscribe on the
 * SubscriptionManager's e:Identifier. The service side is
 * docs/internals/eventlog.md.
 *
 * Requests are written as text; replies are parsed by wsm__post and read
 * here with the functions of ev_client.h (kept apart from the network
 * so that the unit tests and fuzz_evclient reach them).
 */
#include <ctype.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "client_internal.h"
#include "ev_client.h"
#include "ns.h"
#include "uuid.h"

#define ACTION_SUBSCRIBE WSM_NS_WSEV "/Subscribe"
#define ACTION_RENEW WSM_NS_WSEV "/Renew"
#define ACTION_GETSTATUS WSM_NS_WSEV "/GetStatus"
#define ACTION_UNSUBSCRIBE WSM_NS_WSEV "/Unsubscribe"
#define ACTION_PULL WSM_NS_WSEN "/Pull"
#define DEFAULT_MAX_ELEMENTS 100
#define DEFAULT_MAX_TIME_MS 10000L

#define PUT(x)                                                                                     \
    do {                                                                                           \
        if (!e)                                                                                    \
            e = (x);                                                                               \
    } while (0)

struct wsm_subscription {
    wsm_session *s;
    char *uri;
    char *identifier;
    char *address; /* the SubscriptionManager's (a:To of later requests) */
    char *context;
    char *bookmark;
    long long expires_at;
    unsigned max_elements;
    long max_time_ms;
};

/* ---- reading replies ---------------------------------------------- */

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
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                    .tm_hour = h, .tm_min = mi, .tm_sec = se};
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
        why_set(why, whylen, !r->identifier ? "the SubscribeResponse has no Identifier"
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

enum wsm_err wsm__ev_expires_reply(const struct wsm_envelope *env, const char *op,
                                   long long now_ms, long long *at_ms, char *why, size_t whylen)
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

/* ---- requests ------------------------------------------------------ */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum wsm_err invalid(wsm_session *s, const char *why)
{
    if (s) {
        wsm__session_errorf(s, "invalid argument: %s", why);
        s->fault_code = 0;
        s->fault_subcode[0] = '\0';
    }
    return WSM_ERR_INVALID_ARG;
}

/* Caller XML (a QueryList, a BookmarkList) parsed and written again, so
 * that only one well-formed element without a DTD goes into a request. */
static enum wsm_err normalize(wsm_session *s, const char *what, const char *xml, char **out)
{
    size_t len = strlen(xml);
    if (len > (size_t)0x7fffffff)
        return invalid(s, what);
    xmlDocPtr d = xmlReadMemory(xml, (int)len, NULL, "UTF-8",
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNodePtr root = d ? xmlDocGetRootElement(d) : NULL;
    if (!root || d->intSubset) {
        xmlFreeDoc(d);
        char m[96];
        snprintf(m, sizeof(m), "the %s is not one well-formed XML element without a DTD", what);
        return invalid(s, m);
    }
    enum wsm_err e = wsm__ev_node_xml(root, out);
    xmlFreeDoc(d);
    return e;
}

static void put_ms(struct wsm_buf *b, enum wsm_err *e, long ms)
{
    if (!*e)
        *e = wsm__buf_printf(b, "PT%ld.%03ldS", ms / 1000, ms % 1000);
}

/* The envelope up to the opening Body tag; id: the e:Identifier header
 * (NULL for Subscribe); options: w:OptionSet content (may be NULL). */
static enum wsm_err begin(struct wsm_buf *b, const wsm_session *s, const char *to,
                          const char *uri, const char *action, const char *msgid,
                          const char *id, const char *options)
{
    enum wsm_err e = WSM_OK;
    PUT(wsm__buf_puts(b, "<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\" xmlns:a=\"" WSM_NS_WSA
                         "\" xmlns:w=\"" WSM_NS_WSMAN "\" xmlns:e=\"" WSM_NS_WSEV
                         "\" xmlns:n=\"" WSM_NS_WSEN "\" xmlns:xsi=\"" WSM_NS_XSI
                         "\"><s:Header><a:To>"));
    PUT(wsm__buf_xml(b, to));
    PUT(wsm__buf_puts(b, "</a:To><w:ResourceURI s:mustUnderstand=\"true\">"));
    PUT(wsm__buf_xml(b, uri));
    PUT(wsm__buf_puts(
        b, "</w:ResourceURI><a:ReplyTo><a:Address s:mustUnderstand=\"true\">" WSM_ADDR_ANONYMOUS
           "</a:Address></a:ReplyTo><a:Action s:mustUnderstand=\"true\">"));
    PUT(wsm__buf_xml(b, action));
    PUT(wsm__buf_puts(b, "</a:Action><w:MaxEnvelopeSize s:mustUnderstand=\"true\">"));
    PUT(wsm__buf_printf(b, "%zu", s->max_envelope));
    PUT(wsm__buf_puts(b, "</w:MaxEnvelopeSize><a:MessageID>"));
    PUT(wsm__buf_xml(b, msgid));
    PUT(wsm__buf_puts(b, "</a:MessageID><w:Locale xml:lang=\"en-US\" s:mustUnderstand=\"false\"/>"
                         "<w:OperationTimeout>"));
    put_ms(b, &e, s->operation_timeout_ms);
    PUT(wsm__buf_puts(b, "</w:OperationTimeout>"));
    if (id) {
        PUT(wsm__buf_puts(b, "<e:Identifier>"));
        PUT(wsm__buf_xml(b, id));
        PUT(wsm__buf_puts(b, "</e:Identifier>"));
    }
    if (options && *options) {
        PUT(wsm__buf_puts(b, "<w:OptionSet>"));
        PUT(wsm__buf_puts(b, options));
        PUT(wsm__buf_puts(b, "</w:OptionSet>"));
    }
    PUT(wsm__buf_puts(b, "</s:Header><s:Body>"));
    return e;
}

/* Sends a request whose body is body; a fault becomes its own code. */
static enum wsm_err request(wsm_session *s, const char *to, const char *uri, const char *action,
                            const char *id, const char *options, const char *body,
                            struct wsm_envelope **env)
{
    char msgid[WSM_UUID_STRLEN];
    struct wsm_buf b;
    wsm__uuid_urn(msgid);
    wsm__buf_init(&b, 0);
    enum wsm_err e = begin(&b, s, to, uri, action, msgid, id, options);
    PUT(wsm__buf_puts(&b, body));
    PUT(wsm__buf_puts(&b, "</s:Body></s:Envelope>"));
    e = wsm__post_built(s, &b, e, msgid, env);
    if (e == WSM_ERR_FAULT)
        e = wsm__ev_fault_err(s->fault_subcode);
    return e;
}

static enum wsm_err write_subscribe(wsm_session *s, const struct wsm_subscribe_opts *o,
                                    struct wsm_buf *b, struct wsm_buf *opt)
{
    enum wsm_err e = WSM_OK;
    char *filter = NULL, *bookmark = NULL;
    const char *f = o->filter ? o->filter + strspn(o->filter, " \t\r\n") : NULL;
    if (f && *f == '<' && (e = normalize(s, "filter", f, &filter)))
        return e;
    if (o->bookmark && (e = normalize(s, "bookmark", o->bookmark, &bookmark))) {
        free(filter);
        return e;
    }
    PUT(wsm__buf_puts(b, "<e:Subscribe><e:Delivery Mode=\"" WSM_DELIVERY_PULL "\">"));
    if (o->heartbeat_ms > 0) {
        PUT(wsm__buf_puts(b, "<w:Heartbeats>"));
        put_ms(b, &e, o->heartbeat_ms);
        PUT(wsm__buf_puts(b, "</w:Heartbeats>"));
    }
    PUT(wsm__buf_puts(b, "</e:Delivery>"));
    if (o->expires_ms > 0) {
        PUT(wsm__buf_puts(b, "<e:Expires>"));
        put_ms(b, &e, o->expires_ms);
        PUT(wsm__buf_puts(b, "</e:Expires>"));
    }
    if (o->filter) {
        PUT(wsm__buf_puts(b, "<w:Filter Dialect=\""));
        PUT(wsm__buf_xml(b, o->dialect ? o->dialect : WSM_DIALECT_EVENTQUERY));
        PUT(wsm__buf_puts(b, "\">"));
        if (filter)
            PUT(wsm__buf_puts(b, filter));
        else
            PUT(wsm__buf_xml(b, o->filter));
        PUT(wsm__buf_puts(b, "</w:Filter>"));
    }
    if (bookmark) {
        PUT(wsm__buf_puts(b, "<w:Bookmark>"));
        PUT(wsm__buf_puts(b, bookmark));
        PUT(wsm__buf_puts(b, "</w:Bookmark>"));
    }
    if (o->send_bookmarks)
        PUT(wsm__buf_puts(b, "<w:SendBookmarks/>"));
    PUT(wsm__buf_puts(b, "</e:Subscribe>"));
    if (o->content_format) {
        PUT(wsm__buf_puts(opt, "<w:Option Name=\"ContentFormat\">"));
        PUT(wsm__buf_xml(opt, o->content_format));
        PUT(wsm__buf_puts(opt, "</w:Option>"));
    }
    if (o->read_existing)
        PUT(wsm__buf_puts(opt, "<w:Option Name=\"ReadExistingEvents\" xsi:nil=\"true\"/>"));
    free(filter);
    free(bookmark);
    if (e)
        wsm__session_errorf(s, "cannot build the request: %s", wsm_strerror(e));
    return e;
}

enum wsm_err wsm_subscribe(wsm_session *s, const char *resource_uri,
                           const struct wsm_subscribe_opts *o, wsm_subscription **out)
{
    static const struct wsm_subscribe_opts defaults;
    if (!o)
        o = &defaults;
    if (!s || !out || !resource_uri || !*resource_uri)
        return invalid(s, "session, resource URI or result");
    if (o->mode != WSM_DELIVERY_MODE_PULL) {
        wsm__session_errorf(s, "only the Pull delivery mode is supported by this client");
        s->fault_code = 0;
        s->fault_subcode[0] = '\0';
        return WSM_ERR_UNSUPPORTED_FEATURE;
    }
    if (o->expires_ms < 0 || o->heartbeat_ms < 0 || o->max_time_ms < 0)
        return invalid(s, "a negative expiry, heartbeat or time");
    struct wsm_buf b, opt;
    wsm__buf_init(&b, 0);
    wsm__buf_init(&opt, 0);
    enum wsm_err e = write_subscribe(s, o, &b, &opt);
    struct wsm_envelope *env = NULL;
    if (!e)
        e = request(s, s->url, resource_uri, ACTION_SUBSCRIBE, NULL, opt.data, b.data, &env);
    wsm__buf_free(&b);
    wsm__buf_free(&opt);
    if (e)
        return e;
    struct wsm__ev_sub_reply r;
    char why[128];
    e = wsm__ev_subscribe_reply(env, now_ms(), &r, why, sizeof(why));
    wsm__envelope_free(env);
    if (e) {
        wsm__session_errorf(s, "%s", why);
        return e;
    }
    wsm_subscription *sub = calloc(1, sizeof(*sub));
    if (!sub || !(sub->uri = strdup(resource_uri))) {
        free(sub);
        wsm__ev_sub_reply_clear(&r);
        return WSM_ERR_NOMEM;
    }
    sub->s = s;
    sub->identifier = r.identifier;
    sub->address = r.address;
    sub->context = r.context;
    sub->expires_at = r.expires_at;
    sub->max_elements = o->max_elements ? o->max_elements : DEFAULT_MAX_ELEMENTS;
    sub->max_time_ms = o->max_time_ms ? o->max_time_ms : DEFAULT_MAX_TIME_MS;
    *out = sub;
    return WSM_OK;
}

/* The SubscriptionManager's address, else the session's URL. */
static const char *manager(const wsm_subscription *sub)
{
    return sub->address ? sub->address : sub->s->url;
}

enum wsm_err wsm_subscription_pull(wsm_subscription *sub, unsigned max_elements, long timeout_ms,
                                   wsm_event_fn fn, void *ud, size_t *nevents)
{
    if (nevents)
        *nevents = 0;
    if (!sub)
        return WSM_ERR_INVALID_ARG;
    if (timeout_ms < 0)
        return invalid(sub->s, "a negative timeout");
    if (!sub->context) {
        wsm__session_errorf(sub->s, "the subscription has ended");
        return WSM_ERR_INVALID_SUBSCRIPTION;
    }
    struct wsm_buf b;
    enum wsm_err e = WSM_OK;
    wsm__buf_init(&b, 0);
    PUT(wsm__buf_puts(&b, "<n:Pull><n:EnumerationContext>"));
    PUT(wsm__buf_xml(&b, sub->context));
    PUT(wsm__buf_puts(&b, "</n:EnumerationContext><n:MaxTime>"));
    put_ms(&b, &e, timeout_ms ? timeout_ms : sub->max_time_ms);
    PUT(wsm__buf_printf(&b, "</n:MaxTime><n:MaxElements>%u</n:MaxElements></n:Pull>",
                        max_elements ? max_elements : sub->max_elements));
    struct wsm_envelope *env = NULL;
    if (!e)
        e = request(sub->s, manager(sub), sub->uri, ACTION_PULL, NULL, NULL, b.data, &env);
    wsm__buf_free(&b);
    if (e == WSM_ERR_FAULT && !strcmp(sub->s->fault_subcode, "TimedOut"))
        return WSM_OK; /* nothing within the time: not an error */
    if (e)
        return e;
    char why[128];
    size_t n = 0;
    e = wsm__ev_pull_reply(env, fn, ud, &sub->bookmark, &sub->context, &n, why, sizeof(why));
    wsm__envelope_free(env);
    if (e == WSM_ERR_NOT_SOAP)
        wsm__session_errorf(sub->s, "%s", why);
    if (nevents)
        *nevents = n;
    return e;
}

enum wsm_err wsm_subscription_renew(wsm_subscription *sub, long expires_ms)
{
    if (!sub)
        return WSM_ERR_INVALID_ARG;
    if (expires_ms < 0)
        return invalid(sub->s, "a negative expiry");
    struct wsm_buf b;
    enum wsm_err e = WSM_OK;
    wsm__buf_init(&b, 0);
    PUT(wsm__buf_puts(&b, "<e:Renew>"));
    if (expires_ms > 0) {
        PUT(wsm__buf_puts(&b, "<e:Expires>"));
        put_ms(&b, &e, expires_ms);
        PUT(wsm__buf_puts(&b, "</e:Expires>"));
    }
    PUT(wsm__buf_puts(&b, "</e:Renew>"));
    struct wsm_envelope *env = NULL;
    if (!e)
        e = request(sub->s, manager(sub), sub->uri, ACTION_RENEW, sub->identifier, NULL, b.data,
                    &env);
    wsm__buf_free(&b);
    if (e)
        return e;
    char why[128];
    long long at = 0;
    e = wsm__ev_expires_reply(env, "RenewResponse", now_ms(), &at, why, sizeof(why));
    wsm__envelope_free(env);
    if (e)
        wsm__session_errorf(sub->s, "%s", why);
    else
        sub->expires_at = at;
    return e;
}

enum wsm_err wsm_subscription_status(wsm_subscription *sub, long long *remaining_ms)
{
    if (!sub || !remaining_ms)
        return WSM_ERR_INVALID_ARG;
    struct wsm_envelope *env = NULL;
    enum wsm_err e = request(sub->s, manager(sub), sub->uri, ACTION_GETSTATUS, sub->identifier,
                             NULL, "<e:GetStatus/>", &env);
    if (e)
        return e;
    char why[128];
    long long now = now_ms(), at = 0;
    e = wsm__ev_expires_reply(env, "GetStatusResponse", now, &at, why, sizeof(why));
    wsm__envelope_free(env);
    if (e) {
        wsm__session_errorf(sub->s, "%s", why);
        return e;
    }
    sub->expires_at = at;
    *remaining_ms = at ? (at > now ? at - now : 0) : -1;
    return WSM_OK;
}

enum wsm_err wsm_unsubscribe(wsm_subscription *sub)
{
    if (!sub)
        return WSM_ERR_INVALID_ARG;
    struct wsm_envelope *env = NULL;
    enum wsm_err e = request(sub->s, manager(sub), sub->uri, ACTION_UNSUBSCRIBE, sub->identifier,
                             NULL, "<e:Unsubscribe/>", &env);
    wsm__envelope_free(env);
    if (!e) {
        free(sub->context); /* Pulls would be refused from now on */
        sub->context = NULL;
    }
    return e;
}

void wsm_subscription_free(wsm_subscription *sub)
{
    if (!sub)
        return;
    free(sub->uri);
    free(sub->identifier);
    free(sub->address);
    free(sub->context);
    free(sub->bookmark);
    free(sub);
}

const char *wsm_subscription_id(const wsm_subscription *sub)
{
    return sub ? sub->identifier : NULL;
}

long long wsm_subscription_expires(const wsm_subscription *sub)
{
    return sub ? sub->expires_at : 0;
}

const char *wsm_subscription_bookmark(const wsm_subscription *sub)
{
    return sub ? sub->bookmark : NULL;
}
