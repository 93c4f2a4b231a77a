/* CollectorInitiated subscriptions in Push mode (`Delivery Mode="Push"`):
 * the collector Subscribes, and the source then delivers batches to the
 * collector's own /wsman/subscriptions/<id> as a source-initiated one does
 * (delivery.c: durable, then Ack). libwsm's subscriber speaks Pull only, so
 * the Subscribe, Renew and Unsubscribe of this mode are written here and
 * sent with its transport (wsm__post).
 *
 * The source authenticates its deliveries with the credentials the
 * collector used towards it (Basic; the UsernameToken of DSP0226 10.2.2 in
 * the Subscribe's header): the account must be valid on the collector too
 * (its Users file or PAM). Which source a delivery comes from is the
 * reference parameter wsmd:Source of NotifyTo, which the source echoes as
 * a header; it must name an enabled source of the subscription whose user
 * is the principal that authenticated, so one source cannot write another's
 * bookmark. */
#include "dialpush.h"

#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "client_internal.h"
#include "dialer_priv.h"
#include "envelope.h"
#include "ev_client.h"
#include "ns.h"
#include "server.h"
#include "sub_priv.h"
#include "uuid.h"

#define NS_WSMAN_URI "http://schemas.dmtf.org/wbem/wsman/1/wsman"
#define MODE_EVENTS NS_WSMAN_URI "/Events"
#define PROFILE_BASIC NS_WSMAN_URI "/secprofile/http/basic"
#define BOOKMARK_EARLIEST NS_WSMAN_URI "/bookmark/earliest"
#define NS_WSSE "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
#define NS_WST "http://schemas.xmlsoap.org/ws/2005/02/trust"

struct wsmd_push_sub {
    char *identifier; /* the SubscriptionManager's e:Identifier */
    char *manager;    /* its address (a:To of Renew/Unsubscribe), or NULL: the session's */
    long long expires_at;
};

#define PUT(x)                                                                                     \
    do {                                                                                           \
        if (!e)                                                                                    \
            e = (x);                                                                               \
    } while (0)

static void dur(struct wsm_buf *b, enum wsm_err *e, long ms)
{
    if (!*e)
        *e = wsm__buf_printf(b, "PT%ld.%03ldS", ms / 1000, ms % 1000);
}

/* The stored BookmarkList came from a source: only a re-serialized
 * BookmarkList element goes out again. */
static char *clean_bookmark(const char *xml)
{
    size_t len = xml ? strlen(xml) : 0;
    if (!len || len > 1024 * 1024 || wsmd__sub_contains(xml, len, "<!DOCTYPE") ||
        wsmd__sub_contains(xml, len, "<!ENTITY"))
        return NULL;
    int dtd;
    xmlDocPtr doc = wsmd__sub_read_doc(xml, len, "UTF-8", "the bookmark", &dtd, NULL, 0);
    if (!doc)
        return NULL;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    char *r = root && !strcmp((const char *)root->name, "BookmarkList") ? wsmd__sub_dump(doc, root)
                                                                        : NULL;
    xmlFreeDoc(doc);
    return r;
}

static enum wsm_err head(struct wsm_buf *b, const char *to, const char *uri, const char *action,
                         const char *msgid, const char *id)
{
    enum wsm_err e = WSM_OK;
    PUT(wsm__buf_puts(b, "<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\" xmlns:a=\"" WSM_NS_WSA
                         "\" xmlns:w=\"" WSM_NS_WSMAN "\" xmlns:e=\"" WSM_NS_WSEV
                         "\" xmlns:xsi=\"" WSM_NS_XSI "\" xmlns:wsmd=\"" WSMD_NS_SUBEXT
                         "\"><s:Header><a:To>"));
    PUT(wsm__buf_xml(b, to));
    PUT(wsm__buf_puts(b, "</a:To><w:ResourceURI s:mustUnderstand=\"true\">"));
    PUT(wsm__buf_xml(b, uri));
    PUT(wsm__buf_puts(b, "</w:ResourceURI><a:ReplyTo><a:Address s:mustUnderstand=\"true\">"
                         "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
                         "</a:Address></a:ReplyTo><a:Action s:mustUnderstand=\"true\">"));
    PUT(wsm__buf_xml(b, action));
    PUT(wsm__buf_puts(b, "</a:Action><w:MaxEnvelopeSize s:mustUnderstand=\"true\">512000"
                         "</w:MaxEnvelopeSize><a:MessageID>"));
    PUT(wsm__buf_xml(b, msgid));
    PUT(wsm__buf_puts(b, "</a:MessageID><w:OperationTimeout>PT60.000S</w:OperationTimeout>"));
    if (id) {
        PUT(wsm__buf_puts(b, "<e:Identifier>"));
        PUT(wsm__buf_xml(b, id));
        PUT(wsm__buf_puts(b, "</e:Identifier>"));
    }
    return e;
}

/* The EPR the source delivers to: NotifyTo and EndTo. */
static enum wsm_err epr(struct wsm_buf *b, const char *notify, const char *address, int auth)
{
    enum wsm_err e = WSM_OK;
    PUT(wsm__buf_puts(b, "<a:Address>"));
    PUT(wsm__buf_xml(b, notify));
    PUT(wsm__buf_puts(b, "</a:Address><a:ReferenceParameters><wsmd:Source>"));
    PUT(wsm__buf_xml(b, address));
    PUT(wsm__buf_puts(b, "</wsmd:Source></a:ReferenceParameters>"));
    if (auth)
        PUT(wsm__buf_puts(b, "<w:Auth Profile=\"" PROFILE_BASIC "\"/>"));
    return e;
}

enum wsm_err wsmd__dial_push_subscribe(wsm_session *s, const struct wsmd_dial_push *p,
                                       struct wsmd_push_sub **out, char *err, size_t errlen)
{
    *out = NULL;
    const struct wsmd_sub *sub = p->sub;
    char msgid[WSM_UUID_STRLEN];
    wsm__uuid_urn(msgid);
    char *bookmark = clean_bookmark(p->bookmark);
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    enum wsm_err e = head(&b, p->url, sub->uri, WSM_NS_WSEV "/Subscribe", msgid, NULL);
    PUT(wsm__buf_puts(&b, "<w:OptionSet><w:Option Name=\"ContentFormat\">"));
    PUT(wsm__buf_puts(&b, strcmp(sub->content_format, "Events") ? "RenderedText" : "Raw"));
    PUT(wsm__buf_puts(&b, "</w:Option></w:OptionSet>"));
    /* The credentials for the deliveries (DSP0226 10.2.2: a UsernameToken
     * issued to the event source). */
    PUT(wsm__buf_puts(&b, "<wst:IssuedTokens xmlns:wst=\"" NS_WST "\" xmlns:wsse=\"" NS_WSSE
                          "\"><wst:RequestSecurityTokenResponse>"
                          "<wst:TokenType>" NS_WSSE "#UsernameToken</wst:TokenType>"
                          "<wst:RequestedSecurityToken><wsse:UsernameToken><wsse:Username>"));
    PUT(wsm__buf_xml(&b, p->user));
    PUT(wsm__buf_puts(&b, "</wsse:Username><wsse:Password>"));
    PUT(wsm__buf_xml(&b, p->password));
    PUT(wsm__buf_puts(&b, "</wsse:Password></wsse:UsernameToken></wst:RequestedSecurityToken>"
                          "</wst:RequestSecurityTokenResponse></wst:IssuedTokens>"));
    PUT(wsm__buf_puts(&b, "</s:Header><s:Body><e:Subscribe><e:EndTo>"));
    PUT(epr(&b, p->notify, p->address, 0));
    PUT(wsm__buf_puts(&b, "</e:EndTo><e:Delivery Mode=\"" MODE_EVENTS "\"><e:NotifyTo>"));
    PUT(epr(&b, p->notify, p->address, 1));
    PUT(wsm__buf_puts(&b, "</e:NotifyTo><w:Heartbeats>"));
    dur(&b, &e, sub->heartbeat_ms);
    PUT(wsm__buf_puts(&b, "</w:Heartbeats><w:ConnectionRetry Total=\"5\">PT60.000S"
                          "</w:ConnectionRetry>"));
    if (sub->max_items)
        PUT(wsm__buf_printf(&b, "<w:MaxElements>%u</w:MaxElements>", sub->max_items));
    PUT(wsm__buf_puts(&b, "<w:MaxTime>"));
    dur(&b, &e, sub->max_latency_ms);
    PUT(wsm__buf_puts(&b, "</w:MaxTime></e:Delivery><e:Expires>"));
    dur(&b, &e, p->expires_ms);
    PUT(wsm__buf_puts(&b, "</e:Expires><w:Filter Dialect=\"" WSM_DIALECT_EVENTQUERY "\">"));
    PUT(wsm__buf_puts(&b, sub->query_xml)); /* re-serialized by libxml2 at load */
    PUT(wsm__buf_puts(&b, "</w:Filter>"));
    if (bookmark || sub->read_existing) {
        PUT(wsm__buf_puts(&b, "<w:Bookmark>"));
        PUT(wsm__buf_puts(&b, bookmark ? bookmark : BOOKMARK_EARLIEST));
        PUT(wsm__buf_puts(&b, "</w:Bookmark>"));
    }
    PUT(wsm__buf_puts(&b, "<w:SendBookmarks/></e:Subscribe></s:Body></s:Envelope>"));
    free(bookmark);
    struct wsm_envelope *env = NULL;
    e = wsm__post_built(s, &b, e, msgid, &env);
    if (e == WSM_ERR_FAULT)
        e = wsm__ev_fault_err(s->fault_subcode);
    if (e) {
        snprintf(err, errlen, "Subscribe: %s%s%s", wsm_strerror(e),
                 wsm_session_error(s) && *wsm_session_error(s) ? ": " : "",
                 wsm_session_error(s) ? wsm_session_error(s) : "");
        return e;
    }
    /* A push SubscribeResponse: the SubscriptionManager's Identifier (and
     * address), an Expires; no EnumerationContext (libwsm's reader wants
     * one: it is for Pull). */
    xmlNodePtr resp = wsm__xml_child(env->body, WSM_NS_WSEV, "SubscribeResponse");
    xmlNodePtr mgr = wsm__xml_child(resp, WSM_NS_WSEV, "SubscriptionManager");
    xmlNodePtr id = wsm__xml_child(wsm__xml_child(mgr, WSM_NS_WSA, "ReferenceParameters"),
                                   WSM_NS_WSEV, "Identifier");
    xmlNodePtr ad = wsm__xml_child(mgr, WSM_NS_WSA, "Address");
    xmlNodePtr ex = wsm__xml_child(resp, WSM_NS_WSEV, "Expires");
    const char *idt = id ? wsm__xml_text(&env->arena, id, 1) : NULL;
    const char *adt = ad ? wsm__xml_text(&env->arena, ad, 1) : NULL;
    const char *ext = ex ? wsm__xml_text(&env->arena, ex, 1) : NULL;
    struct wsmd_push_sub *ps = calloc(1, sizeof(*ps));
    e = WSM_OK;
    if (!ps)
        e = WSM_ERR_NOMEM;
    else if (!idt || !*idt)
        e = WSM_ERR_NOT_SOAP;
    else if (ext && wsm__ev_expires_at(ext, wsmd__dial_now_ms(), &ps->expires_at))
        e = WSM_ERR_NOT_SOAP;
    else if (!(ps->identifier = strdup(idt)) || (adt && *adt && !(ps->manager = strdup(adt))))
        e = WSM_ERR_NOMEM;
    wsm__envelope_free(env);
    if (e) {
        snprintf(err, errlen, "Subscribe: %s",
                 e == WSM_ERR_NOT_SOAP ? "the SubscribeResponse has no Identifier "
                                         "or a bad Expires"
                                       : wsm_strerror(e));
        wsmd__dial_push_free(ps);
        return e;
    }
    *out = ps;
    return WSM_OK;
}

static enum wsm_err manage(wsm_session *s, const char *url, const char *uri,
                           struct wsmd_push_sub *ps, const char *action, const char *body)
{
    char msgid[WSM_UUID_STRLEN];
    wsm__uuid_urn(msgid);
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    enum wsm_err e = head(&b, ps->manager ? ps->manager : url, uri, action, msgid, ps->identifier);
    PUT(wsm__buf_puts(&b, "</s:Header><s:Body>"));
    PUT(wsm__buf_puts(&b, body));
    PUT(wsm__buf_puts(&b, "</s:Body></s:Envelope>"));
    struct wsm_envelope *env = NULL;
    e = wsm__post_built(s, &b, e, msgid, &env);
    if (e == WSM_ERR_FAULT)
        e = wsm__ev_fault_err(s->fault_subcode);
    wsm__envelope_free(env);
    return e;
}

enum wsm_err wsmd__dial_push_renew(wsm_session *s, const char *url, const char *uri,
                                   struct wsmd_push_sub *ps, long expires_ms)
{
    char body[128];
    snprintf(body, sizeof(body), "<e:Renew><e:Expires>PT%ld.%03ldS</e:Expires></e:Renew>",
             expires_ms / 1000, expires_ms % 1000);
    enum wsm_err e = manage(s, url, uri, ps, WSM_NS_WSEV "/Renew", body);
    if (!e)
        ps->expires_at = wsmd__dial_now_ms() + expires_ms;
    return e;
}

enum wsm_err wsmd__dial_push_unsubscribe(wsm_session *s, const char *url, const char *uri,
                                         struct wsmd_push_sub *ps)
{
    return manage(s, url, uri, ps, WSM_NS_WSEV "/Unsubscribe", "<e:Unsubscribe/>");
}

long long wsmd__dial_push_expires(const struct wsmd_push_sub *ps)
{
    return ps ? ps->expires_at : 0;
}

void wsmd__dial_push_free(struct wsmd_push_sub *ps)
{
    if (!ps)
        return;
    free(ps->identifier);
    free(ps->manager);
    free(ps);
}

int wsmd__dial_notify_base(const struct wsmd_server *srv, char *out, size_t n)
{
    for (size_t i = 0; i < srv->cfg.nlisteners; i++) {
        const struct wsmd_listener *l = &srv->cfg.listeners[i];
        if (l->metrics || l->deleted || l->port <= 0)
            continue;
        char host[256];
        const char *h = l->host;
        if (!*h || !strcmp(h, "0.0.0.0") || !strcmp(h, "::") || !strcmp(h, "*")) {
            /* A wildcard listener: the name a source can reach us by. */
            if (gethostname(host, sizeof(host)) != 0)
                continue;
            host[sizeof(host) - 1] = '\0';
            h = host;
        }
        int v6 = strchr(h, ':') != NULL;
        int k = snprintf(out, n, "%s://%s%s%s:%d", l->https ? "https" : "http", v6 ? "[" : "", h,
                         v6 ? "]" : "", l->port);
        return k > 0 && (size_t)k < n ? 0 : -1;
    }
    return -1;
}

const struct wsmd_sub_source *wsmd__dial_push_source(const struct wsmd_sub *sub,
                                                     const struct wsm_envelope *env,
                                                     const char *principal)
{
    if (!sub || !env || !principal || sub->source_initiated)
        return NULL;
    for (xmlNodePtr h = env->header ? env->header->children : NULL; h; h = h->next) {
        if (h->type != XML_ELEMENT_NODE || !h->ns || !h->ns->href ||
            strcmp((const char *)h->ns->href, WSMD_NS_SUBEXT) ||
            strcmp((const char *)h->name, "Source"))
            continue;
        xmlChar *t = xmlNodeGetContent(h);
        const struct wsmd_sub_source *found = NULL;
        for (size_t i = 0; t && i < sub->nsources && !found; i++) {
            const struct wsmd_sub_source *src = &sub->sources[i];
            const char *user = src->user ? src->user : sub->common_user;
            if (src->enabled && !strcasecmp(src->address, (const char *)t) && user &&
                !strcasecmp(user, principal))
                found = src;
        }
        xmlFree(t);
        return found;
    }
    return NULL;
}
