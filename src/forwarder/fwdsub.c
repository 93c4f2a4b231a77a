/* A collector's Enumerate response, as a Windows source reads it: one
 * m:Subscription per subscription that applies to this host, each a
 * Version and the complete Subscribe envelope the collector would have
 * sent (docs/internals/forwarder.md, "What a collector hands out").
 *
 * Everything here is network input from the collector: parsed with the
 * envelope parser's limits (no DTD, no entities, depth and attribute caps),
 * and every value is copied out of the tree as text; nothing is pasted
 * back into our messages except through XML escaping (fwdsend.c). */
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "envelope.h"
#include "forwarder.h"
#include "ns.h"

#define NS_SUB "http://schemas.microsoft.com/wbem/wsman/1/subscription"
#define MAX_RESPONSE (8u * 1024 * 1024)
#define MAX_SUBS 256
#define MAX_QUERY (256u * 1024)
#define MAX_BOOKMARK (64u * 1024)

void wsmd__fwdsub_clear(struct wsmd_fwdsub *s)
{
    if (!s)
        return;
    free(s->version);
    free(s->name);
    free(s->notify_to);
    free(s->notify_ref);
    free(s->end_to);
    free(s->end_ref);
    free(s->query);
    free(s->bookmark);
    free(s->locale);
    memset(s, 0, sizeof(*s));
}

void wsmd__fwdsub_free(struct wsmd_fwdsub *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        wsmd__fwdsub_clear(&v[i]);
    free(v);
}

/* The element's text, trimmed, malloc'd (NULL: none or no memory). */
static char *text_of(const xmlNode *n)
{
    if (!n)
        return NULL;
    xmlChar *c = xmlNodeGetContent(n);
    if (!c)
        return NULL;
    const char *p = (const char *)c;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    size_t len = strlen(p);
    while (len &&
           (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r' || p[len - 1] == '\n'))
        len--;
    char *r = strndup(p, len);
    xmlFree(c);
    return r;
}

/* The first element child with this local name, whatever its namespace:
 * collectors differ in which WS-Management namespace they use inside the
 * Subscribe (wsman.xsd or wsman), and a source takes both, as Windows. */
static xmlNodePtr child(const xmlNode *parent, const char *name)
{
    for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, name))
            return c;
    return NULL;
}

static xmlNodePtr next_named(const xmlNode *after, const char *name)
{
    for (xmlNodePtr c = after ? after->next : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, name))
            return c;
    return NULL;
}

/* The element serialized on its own (its namespaces declared), or NULL
 * when larger than cap. */
static char *dump(xmlDocPtr doc, xmlNodePtr n, size_t cap)
{
    xmlNodePtr copy = xmlDocCopyNode(n, doc, 1); /* reconciles namespaces */
    if (!copy)
        return NULL;
    xmlBufferPtr b = xmlBufferCreate();
    char *r = NULL;
    if (b && xmlNodeDump(b, doc, copy, 0, 0) > 0 && (size_t)xmlBufferLength(b) < cap)
        r = strdup((const char *)xmlBufferContent(b));
    if (b)
        xmlBufferFree(b);
    xmlFreeNode(copy);
    return r;
}

static int append(char **dst, size_t *len, const char *s, size_t n)
{
    char *p = realloc(*dst, *len + n + 1);
    if (!p)
        return -1;
    memcpy(p + *len, s, n);
    *len += n;
    p[*len] = '\0';
    *dst = p;
    return 0;
}

static int append_xml(char **dst, size_t *len, const char *s)
{
    for (; *s; s++) {
        const char *r = *s == '<'   ? "&lt;"
                        : *s == '>' ? "&gt;"
                        : *s == '&' ? "&amp;"
                        : *s == '"' ? "&quot;"
                                    : NULL;
        if (append(dst, len, r ? r : s, r ? strlen(r) : 1))
            return -1;
    }
    return 0;
}

/* The reference properties/parameters of an endpoint reference, rewritten
 * as the SOAP headers a delivery echoes: each child element becomes
 * <NAME xmlns="NS">TEXT</NAME>, its text escaped. Only text values are
 * kept (the Identifier of Windows' collectors and ours): nothing the
 * collector wrote is pasted as markup. */
static char *ref_headers(const xmlNode *epr)
{
    char *out = NULL;
    size_t len = 0;
    static const char *const holders[] = {"ReferenceProperties", "ReferenceParameters"};
    for (size_t h = 0; h < 2; h++) {
        xmlNodePtr rp = child(epr, holders[h]);
        for (xmlNodePtr c = rp ? rp->children : NULL; c; c = c->next) {
            if (c->type != XML_ELEMENT_NODE)
                continue;
            const char *ns = c->ns && c->ns->href ? (const char *)c->ns->href : "";
            char *t = text_of(c);
            int bad = !t || append(&out, &len, "<", 1) ||
                      append(&out, &len, (const char *)c->name, strlen((const char *)c->name)) ||
                      append(&out, &len, " xmlns=\"", 8) || append_xml(&out, &len, ns) ||
                      append(&out, &len, "\">", 2) || append_xml(&out, &len, t) ||
                      append(&out, &len, "</", 2) ||
                      append(&out, &len, (const char *)c->name, strlen((const char *)c->name)) ||
                      append(&out, &len, ">", 1);
            free(t);
            if (bad || len > 16384) {
                free(out);
                return NULL;
            }
        }
    }
    return out ? out : strdup("");
}

/* An element name is only ever written back as the name of a header:
 * it must be a plain XML name (libxml2 already checked it parses as one;
 * this keeps a colon-free NCName). */
static int plain_names(const xmlNode *epr)
{
    static const char *const holders[] = {"ReferenceProperties", "ReferenceParameters"};
    for (size_t h = 0; h < 2; h++) {
        xmlNodePtr rp = child(epr, holders[h]);
        for (xmlNodePtr c = rp ? rp->children : NULL; c; c = c->next)
            if (c->type == XML_ELEMENT_NODE && strchr((const char *)c->name, ':'))
                return 0;
    }
    return 1;
}

static long duration(const xmlNode *n)
{
    char *t = text_of(n);
    long ms = 0;
    if (t && wsm__duration_ms(t, &ms) != WSM_OK)
        ms = 0;
    free(t);
    return ms < 0 ? 0 : ms;
}

static unsigned long number(const xmlNode *n, unsigned long max)
{
    char *t = text_of(n), *end = NULL;
    unsigned long v = 0;
    if (t && *t >= '0' && *t <= '9') {
        v = strtoul(t, &end, 10);
        if (*end || v > max)
            v = 0;
    }
    free(t);
    return v;
}

static const char *lang_of(const xmlNode *n)
{
    for (xmlAttrPtr a = n ? n->properties : NULL; a; a = a->next)
        if (!strcmp((const char *)a->name, "lang") && a->children &&
            a->children->type == XML_TEXT_NODE)
            return (const char *)a->children->content;
    return NULL;
}

/* The options of the Subscribe's header (w:OptionSet/w:Option Name=). */
static void options(const xmlNode *header, struct wsmd_fwdsub *s)
{
    xmlNodePtr set = child(header, "OptionSet");
    for (xmlNodePtr o = child(set, "Option"); o; o = next_named(o, "Option")) {
        const char *name = wsm__xml_attr(o, "Name");
        if (!name)
            continue;
        char *v = text_of(o);
        if (!strcmp(name, "SubscriptionName") && v && !s->name) {
            s->name = v;
            v = NULL;
        } else if (!strcmp(name, "Compression")) {
            s->sldc = v && !strcasecmp(v, "SLDC");
        } else if (!strcmp(name, "ContentFormat")) {
            s->rendered = !(v && !strcasecmp(v, "Raw"));
        } else if (!strcmp(name, "ReadExistingEvents")) {
            /* xsi:nil="true" (Windows' and our collector's form) or "true". */
            s->from_earliest |= !v || !*v || !strcasecmp(v, "true");
        }
        free(v);
    }
}

/* One m:Subscription: 0 when usable, -1 when skipped. */
static int one(xmlDocPtr doc, const xmlNode *item, struct wsmd_fwdsub *s)
{
    memset(s, 0, sizeof(*s));
    s->rendered = 1;
    s->version = text_of(child(item, "Version"));
    xmlNodePtr env = child(item, "Envelope");
    if (!s->version || !*s->version || strlen(s->version) > 200 || !env ||
        !wsm__xml_is(env, WSM_NS_SOAP, "Envelope"))
        return -1;
    xmlNodePtr header = child(env, "Header");
    xmlNodePtr body = child(env, "Body");
    xmlNodePtr sub = body ? wsm__xml_child(body, WSM_NS_WSEV, "Subscribe") : NULL;
    if (!sub)
        return -1;
    options(header, s);
    const char *lang = lang_of(child(header, "Locale"));

    xmlNodePtr del = wsm__xml_child(sub, WSM_NS_WSEV, "Delivery");
    const char *mode = del ? wsm__xml_attr(del, "Mode") : NULL;
    if (!mode || strcmp(mode, WSMD_FWD_EVENTS_MODE) != 0)
        return -1; /* Windows sources push in Events mode; nothing else is served */
    xmlNodePtr nt = wsm__xml_child(del, WSM_NS_WSEV, "NotifyTo");
    s->notify_to = text_of(nt ? child(nt, "Address") : NULL);
    if (!s->notify_to || strncasecmp(s->notify_to, "http", 4) || !plain_names(nt) ||
        strlen(s->notify_to) > 2048 || !(s->notify_ref = ref_headers(nt)))
        return -1;
    xmlNodePtr et = wsm__xml_child(sub, WSM_NS_WSEV, "EndTo");
    s->end_to = text_of(et ? child(et, "Address") : NULL);
    if (s->end_to && (strncasecmp(s->end_to, "http", 4) || !plain_names(et) ||
                      strlen(s->end_to) > 2048 || !(s->end_ref = ref_headers(et)))) {
        free(s->end_to);
        s->end_to = NULL;
    }
    s->heartbeat_ms = duration(child(del, "Heartbeats"));
    s->max_time_ms = duration(child(del, "MaxTime"));
    /* ConnectionRetry Total="N" PTxS: N retries that far apart, then the
     * source waits for the next Refresh (forwarder.c). A Total that is not
     * a count up to 1000 is taken as none asked. */
    xmlNodePtr cr = child(del, "ConnectionRetry");
    xmlChar *tv = cr ? xmlGetProp(cr, (const xmlChar *)"Total") : NULL;
    char *tend = NULL;
    unsigned long total = tv && *tv >= '0' && *tv <= '9' ? strtoul((char *)tv, &tend, 10) : 0;
    s->retry_ms = duration(cr);
    s->retry_total = tv && tend && !*tend && total <= 1000 && s->retry_ms > 0 ? (int)total : -1;
    if (s->retry_total < 0)
        s->retry_ms = 0;
    xmlFree(tv);
    s->max_elements = (unsigned)number(child(del, "MaxElements"), 0xffffffffUL);
    s->max_envelope = number(child(del, "MaxEnvelopeSize"), 0x7fffffffUL);
    char *enc = text_of(child(del, "ContentEncoding"));
    s->utf16 = enc && !strcasecmp(enc, "UTF-16");
    free(enc);
    const char *dl = lang_of(child(del, "Locale"));
    if (dl)
        lang = dl;
    if (lang && strlen(lang) < 64)
        s->locale = strdup(lang);

    xmlNodePtr f = child(sub, "Filter");
    xmlNodePtr ql = child(f, "QueryList");
    if (!ql || !(s->query = dump(doc, ql, MAX_QUERY)))
        return -1;
    xmlNodePtr bm = child(sub, "Bookmark");
    if (bm) {
        xmlNodePtr list = child(bm, "BookmarkList");
        if (list) {
            s->bookmark = dump(doc, list, MAX_BOOKMARK);
        } else {
            char *t = text_of(bm);
            s->from_earliest |= t && !strcmp(t, WSMD_FWD_EARLIEST);
            free(t);
        }
    }
    s->send_bookmarks = child(sub, "SendBookmarks") != NULL;
    return 0;
}

enum wsm_err wsmd__fwdsub_parse(const char *xml, size_t len, struct wsmd_fwdsub **subs, size_t *n,
                                size_t *skipped, int *end, char **ctx)
{
    *subs = NULL;
    *n = 0;
    if (skipped)
        *skipped = 0;
    if (end)
        *end = 0;
    if (ctx)
        *ctx = NULL;
    struct wsm_limits lim = {.max_size = MAX_RESPONSE, .response = 1};
    struct wsm_envelope *env = NULL;
    enum wsm_err e = wsm__envelope_parse(xml, len, &lim, &env, NULL, 0);
    if (e)
        return e;
    xmlNodePtr resp = env->payload;
    if (!resp || (!wsm__xml_is(resp, WSM_NS_WSEN, "EnumerateResponse") &&
                  !wsm__xml_is(resp, WSM_NS_WSEN, "PullResponse"))) {
        wsm__envelope_free(env);
        return WSM_ERR_NOT_FOUND;
    }
    if (end)
        *end = child(resp, "EndOfSequence") != NULL;
    if (ctx) {
        char *c = text_of(child(resp, "EnumerationContext"));
        if (c && *c && strlen(c) < 512)
            *ctx = c;
        else
            free(c);
    }
    xmlNodePtr items = child(resp, "Items");
    struct wsmd_fwdsub *v = NULL;
    size_t cnt = 0;
    for (xmlNodePtr it = items ? items->children : NULL; it && !e; it = it->next) {
        if (it->type != XML_ELEMENT_NODE || strcmp((const char *)it->name, "Subscription") ||
            !it->ns || strcmp((const char *)it->ns->href, NS_SUB))
            continue;
        if (cnt == MAX_SUBS) {
            if (skipped)
                (*skipped)++;
            continue;
        }
        if (!(cnt % 8)) {
            struct wsmd_fwdsub *nv = realloc(v, (cnt + 8) * sizeof(*v));
            if (!nv) {
                e = WSM_ERR_NOMEM;
                break;
            }
            v = nv;
        }
        if (one(env->doc, it, &v[cnt]) == 0) {
            cnt++;
        } else {
            wsmd__fwdsub_clear(&v[cnt]);
            if (skipped)
                (*skipped)++;
        }
    }
    wsm__envelope_free(env);
    if (e) {
        wsmd__fwdsub_free(v, cnt);
        if (ctx) {
            free(*ctx);
            *ctx = NULL;
        }
        return e;
    }
    *subs = v;
    *n = cnt;
    return WSM_OK;
}
