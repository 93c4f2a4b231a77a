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
        wsm__session_forget_errors(s);
        wsm__session_errorf(s, "invalid argument: %s", why);
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
static enum wsm_err begin(struct wsm_buf *b, const wsm_session *s, const char *to, const char *uri,
                          const char *action, const char *msgid, const char *id,
                          const char *options)
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
        wsm__session_forget_errors(s);
        wsm__session_errorf(s, "only the Pull delivery mode is supported by this client");
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
