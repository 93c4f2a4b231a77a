/* libwsm client: management data. WS-Transfer Get, Put, Create and
 * Delete, custom-action Invoke, and WS-Enumeration with a pull iterator
 * (DSP0226 chapters 7, 8 and 6; the CIM binding of DSP0227 for Invoke and
 * the filter dialects).
 *
 * Requests are written as text with the wsm__buf_ helpers; replies are
 * parsed by wsm__post. What goes back to the caller is one element of the
 * reply, copied into a document of its own so that every namespace it
 * uses is declared on it, then serialized.
 */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "client_internal.h"
#include "envelope.h"
#include "xmlctxt.h"
#include "ns.h"
#include "uuid.h"
#include "wsm/wsm.h"

#define ACTION_GET WSM_NS_WSXF "/Get"
#define ACTION_PUT WSM_NS_WSXF "/Put"
#define ACTION_CREATE WSM_NS_WSXF "/Create"
#define ACTION_DELETE WSM_NS_WSXF "/Delete"
#define ACTION_ENUMERATE WSM_NS_WSEN "/Enumerate"
#define ACTION_PULL WSM_NS_WSEN "/Pull"
#define ACTION_RELEASE WSM_NS_WSEN "/Release"
/* WSManFault code of an unknown or expired enumeration context. */
#define FAULT_INVALID_CONTEXT 2150858779UL
/* Pulls in a row that may bring no item before we give up (a service
 * that never ends the sequence and never sends anything). */
#define MAX_EMPTY_PULLS 1000
#define DEFAULT_MAX_ELEMENTS 100

/* Appends to a buffer; the first error sticks in e and later calls do
 * nothing, so a message is written as a plain sequence of calls. */
#define PUT(x)                                                                                     \
    do {                                                                                           \
        if (!e)                                                                                    \
            e = (x);                                                                               \
    } while (0)

/* ---- resource URIs ------------------------------------------------ */

static const struct {
    const char *alias; /* without the slash */
    const char *uri;   /* without the slash */
} aliases[] = {
    {"wmi", "http://schemas.microsoft.com/wbem/wsman/1/wmi"},
    {"wmicimv2", "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2"},
    {"cimv2", "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2"},
    {"winrm", "http://schemas.microsoft.com/wbem/wsman/1"},
    {"wsman", "http://schemas.microsoft.com/wbem/wsman/1"},
    {"shell", "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"},
};

const char *wsm_resource_expand(const char *in, char *buf, size_t n)
{
    const char *head = "", *tail = in;
    if (!in || !buf)
        return NULL;
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
        size_t l = strlen(aliases[i].alias);
        if (strncasecmp(in, aliases[i].alias, l) == 0 && (in[l] == '/' || in[l] == '\0')) {
            head = aliases[i].uri;
            tail = in + l;
            break;
        }
    }
    int w = snprintf(buf, n, "%s%s", head, tail);
    return w >= 0 && (size_t)w < n ? buf : NULL;
}

/* ---- writing requests --------------------------------------------- */

static int pairs_ok(const struct wsm_selector *p, size_t n, int values_required)
{
    if (n && !p)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!p[i].name || !*p[i].name || (values_required && !p[i].value))
            return 0;
    return 1;
}

/* An XML name we are willing to write as an element name. */
static int xml_name_ok(const char *s)
{
    if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

static enum wsm_err put_set(struct wsm_buf *b, const char *set, const char *item,
                            const struct wsm_selector *p, size_t n)
{
    enum wsm_err e = WSM_OK;
    if (!n)
        return WSM_OK;
    PUT(wsm__buf_printf(b, "<w:%s>", set));
    for (size_t i = 0; i < n; i++) {
        PUT(wsm__buf_printf(b, "<w:%s Name=\"", item));
        PUT(wsm__buf_xml(b, p[i].name));
        if (!p[i].value) {
            PUT(wsm__buf_puts(b, "\" xsi:nil=\"true\"/>"));
            continue;
        }
        PUT(wsm__buf_puts(b, "\">"));
        PUT(wsm__buf_xml(b, p[i].value));
        PUT(wsm__buf_printf(b, "</w:%s>", item));
    }
    PUT(wsm__buf_printf(b, "</w:%s>", set));
    return e;
}

struct target {
    const char *uri;
    const struct wsm_selector *sel;
    size_t nsel;
    const struct wsm_selector *opt;
    size_t nopt;
    const char *fragment;
    const char *extra; /* more header XML (may be NULL) */
};

/* The envelope up to and including the opening Body tag. */
static enum wsm_err begin(struct wsm_buf *b, const wsm_session *s, const char *action,
                          const char *msgid, const struct target *t)
{
    enum wsm_err e = WSM_OK;
    long ms = s->operation_timeout_ms;
    PUT(wsm__buf_puts(b, "<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\" xmlns:a=\"" WSM_NS_WSA
                         "\" xmlns:w=\"" WSM_NS_WSMAN "\" xmlns:p=\"" WSM_NS_MSWSMAN
                         "\" xmlns:n=\"" WSM_NS_WSEN "\" xmlns:xsi=\"" WSM_NS_XSI
                         "\"><s:Header><a:To>"));
    PUT(wsm__buf_xml(b, s->url));
    PUT(wsm__buf_puts(b, "</a:To><w:ResourceURI s:mustUnderstand=\"true\">"));
    PUT(wsm__buf_xml(b, t->uri));
    PUT(wsm__buf_puts(
        b, "</w:ResourceURI><a:ReplyTo><a:Address s:mustUnderstand=\"true\">" WSM_ADDR_ANONYMOUS
           "</a:Address></a:ReplyTo><a:Action s:mustUnderstand=\"true\">"));
    PUT(wsm__buf_xml(b, action));
    PUT(wsm__buf_puts(b, "</a:Action><w:MaxEnvelopeSize s:mustUnderstand=\"true\">"));
    PUT(wsm__buf_printf(b, "%zu", s->max_envelope));
    PUT(wsm__buf_puts(b, "</w:MaxEnvelopeSize><a:MessageID>"));
    PUT(wsm__buf_xml(b, msgid));
    PUT(wsm__buf_puts(b, "</a:MessageID>"
                         "<w:Locale xml:lang=\"en-US\" s:mustUnderstand=\"false\"/>"
                         "<p:DataLocale xml:lang=\"en-US\" s:mustUnderstand=\"false\"/>"
                         "<w:OperationTimeout>"));
    PUT(wsm__buf_printf(b, "PT%ld.%03ldS", ms / 1000, ms % 1000));
    PUT(wsm__buf_puts(b, "</w:OperationTimeout>"));
    PUT(put_set(b, "SelectorSet", "Selector", t->sel, t->nsel));
    PUT(put_set(b, "OptionSet", "Option", t->opt, t->nopt));
    if (t->extra)
        PUT(wsm__buf_puts(b, t->extra));
    if (t->fragment) {
        PUT(wsm__buf_puts(b, "<w:FragmentTransfer s:mustUnderstand=\"true\">"));
        PUT(wsm__buf_xml(b, t->fragment));
        PUT(wsm__buf_puts(b, "</w:FragmentTransfer>"));
    }
    PUT(wsm__buf_puts(b, "</s:Header><s:Body>"));
    return e;
}

/* ---- XML in and out ----------------------------------------------- */

/* WSM_ERR_INVALID_ARG, with why in the session's error text. */
static enum wsm_err invalid(wsm_session *s, const char *why)
{
    if (s) {
        wsm__session_errorf(s, "invalid argument: %s", why);
        s->fault_code = 0;
        s->fault_subcode[0] = '\0';
    }
    return WSM_ERR_INVALID_ARG;
}

static int same_prefix(const xmlNs *a, const xmlNs *b)
{
    return (!a->prefix && !b->prefix) ||
           (a->prefix && b->prefix && !strcmp((const char *)a->prefix, (const char *)b->prefix));
}

/* Whether one of the declarations in list gives ns's prefix. */
static int declared_in(const xmlNs *list, const xmlNs *ns)
{
    for (const xmlNs *o = list; o; o = o->next)
        if (same_prefix(o, ns))
            return 1;
    return 0;
}

/* Calls fn for each declaration made above n (on its ancestors) that a
 * nearer ancestor does not override. */
static enum wsm_err for_inherited(const xmlNode *n, enum wsm_err (*fn)(void *, const xmlNs *),
                                  void *arg)
{
    for (const xmlNode *a = n->parent; a && a->type == XML_ELEMENT_NODE; a = a->parent) {
        for (const xmlNs *ns = a->nsDef; ns; ns = ns->next) {
            int shadowed = 0;
            /* A nearer ancestor already gave this prefix. */
            for (const xmlNode *b = n->parent; b != a && !shadowed; b = b->parent)
                shadowed = declared_in(b->nsDef, ns);
            if (shadowed)
                continue;
            enum wsm_err e = fn(arg, ns);
            if (e)
                return e;
        }
    }
    return WSM_OK;
}

/* ns as attribute text (' xmlns:p="..."') appended to decl. */
static enum wsm_err put_decl(struct wsm_buf *decl, const xmlNs *ns)
{
    if (wsm__buf_printf(decl, " xmlns%s%s=\"", ns->prefix ? ":" : "",
                        ns->prefix ? (const char *)ns->prefix : "") ||
        wsm__buf_xml(decl, (const char *)ns->href) || wsm__buf_puts(decl, "\""))
        return WSM_ERR_NOMEM;
    return WSM_OK;
}

struct inherit_arg {
    const xmlNode *n;
    struct wsm_buf *decl;
};

static enum wsm_err put_unless_redeclared(void *arg, const xmlNs *ns)
{
    struct inherit_arg *a = arg;
    return declared_in(a->n->nsDef, ns) ? WSM_OK : put_decl(a->decl, ns);
}

/* The declarations made above n (on its ancestors) that n itself does
 * not redeclare, as attribute text appended to decl. */
static enum wsm_err inherited_ns(const xmlNode *n, struct wsm_buf *decl)
{
    struct inherit_arg a = {n, decl};
    return for_inherited(n, put_unless_redeclared, &a);
}

/* n dumped where it stands with decl (declarations, decl_len bytes) put
 * on its start tag. buf (may be NULL) is a scratch buffer to reuse. */
static enum wsm_err dump_with(const xmlNode *n, const char *decl, size_t decl_len, xmlBufferPtr buf,
                              char **out)
{
    enum wsm_err e = WSM_ERR_NOMEM;
    xmlBufferPtr own = NULL;
    if (!buf && !(buf = own = xmlBufferCreate()))
        return e;
    xmlBufferEmpty(buf);
    if (xmlNodeDump(buf, n->doc, (xmlNodePtr)n, 0, 0) >= 0) {
        const char *x = (const char *)xmlBufferContent(buf);
        size_t xl = (size_t)xmlBufferLength(buf);
        /* After "<prefix:Name": the first space, '/' or '>'. */
        size_t at = strcspn(x, " \t\r\n/>");
        char *r = malloc(xl + decl_len + 1);
        if (r) {
            memcpy(r, x, at);
            if (decl_len)
                memcpy(r + at, decl, decl_len);
            memcpy(r + at + decl_len, x + at, xl - at);
            r[xl + decl_len] = '\0';
            *out = r;
            e = WSM_OK;
        }
    }
    xmlBufferFree(own);
    return e;
}

/* n serialized as a standalone element: dumped where it stands, with the
 * namespaces in scope from its ancestors declared on its start tag (a
 * copy into a document of its own costs several times more per item). */
static enum wsm_err node_xml(const xmlNode *n, char **out)
{
    struct wsm_buf decl;
    wsm__buf_init(&decl, 0);
    enum wsm_err e = inherited_ns(n, &decl);
    if (!e)
        e = dump_with(n, decl.data, decl.len, NULL, out);
    wsm__buf_free(&decl);
    return e;
}

/* The first element child of n (n may be NULL). */
static xmlNodePtr first_element(const xmlNode *n)
{
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            return c;
    return NULL;
}

static xmlNodePtr next_element(const xmlNode *n)
{
    for (xmlNodePtr c = n->next; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            return c;
    return NULL;
}

/* Skips whitespace and an XML declaration at the start of caller XML. */
static const char *skip_prolog(const char *x)
{
    x += strspn(x, " \t\r\n");
    if (strncmp(x, "\xef\xbb\xbf", 3) == 0)
        x += 3;
    if (strncmp(x, "<?xml", 5) == 0 &&
        (x[5] == ' ' || x[5] == '\t' || x[5] == '\r' || x[5] == '\n' || x[5] == '?')) {
        const char *end = strstr(x, "?>");
        if (end)
            x = end + 2;
    }
    return x;
}

/* Parses caller XML (one element) and writes it again, so that only a
 * well-formed element without a DTD ever goes into a request. With
 * fragment set, the text is the content of a w:XmlFragment (unless it is
 * one), which is what comes out. */
static enum wsm_err normalize(wsm_session *s, const char *xml, int fragment, char **out)
{
    static const char wrap_open[] = "<w:XmlFragment xmlns:w=\"" WSM_NS_WSMAN "\">";
    static const char wrap_close[] = "</w:XmlFragment>";
    const char *body = skip_prolog(xml);
    struct wsm_buf b;
    enum wsm_err e = WSM_OK;

    wsm__buf_init(&b, 0);
    if (fragment)
        PUT(wsm__buf_puts(&b, wrap_open));
    PUT(wsm__buf_puts(&b, body));
    if (fragment)
        PUT(wsm__buf_puts(&b, wrap_close));
    if (e) {
        wsm__buf_free(&b);
        return e;
    }
    if (b.len > (size_t)0x7fffffff) {
        wsm__buf_free(&b);
        return invalid(s, "the input is too large");
    }
    xmlDocPtr d = xmlReadMemory(b.data, (int)b.len, NULL, "UTF-8",
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    wsm__buf_free(&b);
    xmlNodePtr root = d ? xmlDocGetRootElement(d) : NULL;
    if (!root || d->intSubset) {
        int dtd = d && d->intSubset;
        xmlFreeDoc(d);
        return invalid(s, dtd ? "the input XML has a DTD"
                              : "the input is not one well-formed XML element");
    }
    if (fragment) {
        /* The caller's own XmlFragment: send that one, not one around it. */
        xmlNodePtr only = first_element(root);
        int alone = only && !next_element(only);
        for (xmlNodePtr c = root->children; alone && c; c = c->next)
            if (c->type == XML_TEXT_NODE && !xmlIsBlankNode(c))
                alone = 0;
        if (alone && wsm__xml_is(only, WSM_NS_WSMAN, "XmlFragment"))
            root = only;
    }
    e = node_xml(root, out);
    xmlFreeDoc(d);
    return e;
}

/* The reply's payload as the caller's string (NULL when the body is
 * empty and empty_ok). */
static enum wsm_err take_payload(wsm_session *s, struct wsm_envelope *env, int empty_ok, char **out)
{
    if (!env->payload) {
        if (empty_ok) {
            *out = NULL;
            return WSM_OK;
        }
        wsm__session_errorf(s, "the reply's body is empty");
        return WSM_ERR_NOT_SOAP;
    }
    return node_xml(env->payload, out);
}

static int target_ok(const char *uri, const struct wsm_selector *sel, size_t nsel,
                     const struct wsm_selector *opt, size_t nopt)
{
    return uri && *uri && pairs_ok(sel, nsel, 1) && pairs_ok(opt, nopt, 0);
}

/* One Transfer round trip: body (may be NULL) as the Body's content. */
static enum wsm_err transfer(wsm_session *s, const char *action, const struct target *t,
                             const char *body, int empty_ok, char **xml_out)
{
    char msgid[WSM_UUID_STRLEN];
    struct wsm_buf b;
    struct wsm_envelope *env = NULL;
    enum wsm_err e;

    wsm__uuid_urn(msgid);
    wsm__buf_init(&b, 0);
    e = begin(&b, s, action, msgid, t);
    if (body)
        PUT(wsm__buf_puts(&b, body));
    PUT(wsm__buf_puts(&b, "</s:Body></s:Envelope>"));
    if ((e = wsm__post_built(s, &b, e, msgid, &env)))
        return e;
    char *x = NULL;
    if (xml_out)
        e = take_payload(s, env, empty_ok, &x);
    wsm__envelope_free(env);
    if (!e && xml_out)
        *xml_out = x;
    return e;
}

/* ---- Transfer ----------------------------------------------------- */

enum wsm_err wsm_get(wsm_session *s, const char *resource_uri, const struct wsm_selector *sel,
                     size_t nsel, const struct wsm_selector *options, size_t noptions,
                     const char *fragment, char **xml_out)
{
    if (!s || !xml_out || !target_ok(resource_uri, sel, nsel, options, noptions) ||
        (fragment && !*fragment))
        return invalid(s, "resource URI, selectors, options or fragment");
    struct target t = {resource_uri, sel, nsel, options, noptions, fragment, NULL};
    return transfer(s, ACTION_GET, &t, NULL, 0, xml_out);
}

enum wsm_err wsm_put(wsm_session *s, const char *resource_uri, const struct wsm_selector *sel,
                     size_t nsel, const struct wsm_selector *options, size_t noptions,
                     const char *fragment, const char *body_xml, char **xml_out)
{
    if (!s || !body_xml || !target_ok(resource_uri, sel, nsel, options, noptions) ||
        (fragment && !*fragment))
        return invalid(s, "resource URI, selectors, options, fragment or body");
    char *body = NULL;
    enum wsm_err e = normalize(s, body_xml, fragment != NULL, &body);
    if (e)
        return e;
    struct target t = {resource_uri, sel, nsel, options, noptions, fragment, NULL};
    e = transfer(s, ACTION_PUT, &t, body, 1, xml_out);
    free(body);
    return e;
}

enum wsm_err wsm_create(wsm_session *s, const char *resource_uri, const struct wsm_selector *sel,
                        size_t nsel, const struct wsm_selector *options, size_t noptions,
                        const char *body_xml, char **xml_out)
{
    if (!s || !body_xml || !target_ok(resource_uri, sel, nsel, options, noptions))
        return invalid(s, "resource URI, selectors, options or body");
    char *body = NULL;
    enum wsm_err e = normalize(s, body_xml, 0, &body);
    if (e)
        return e;
    struct target t = {resource_uri, sel, nsel, options, noptions, NULL, NULL};
    e = transfer(s, ACTION_CREATE, &t, body, 1, xml_out);
    free(body);
    return e;
}

enum wsm_err wsm_delete(wsm_session *s, const char *resource_uri, const struct wsm_selector *sel,
                        size_t nsel, const struct wsm_selector *options, size_t noptions)
{
    if (!s || !target_ok(resource_uri, sel, nsel, options, noptions))
        return invalid(s, "resource URI, selectors or options");
    struct target t = {resource_uri, sel, nsel, options, noptions, NULL, NULL};
    return transfer(s, ACTION_DELETE, &t, NULL, 1, NULL);
}

/* ---- Invoke ------------------------------------------------------- */

/* <p:METHOD_INPUT xmlns:p="URI"> with the parameters, as winrm writes it. */
static enum wsm_err write_input(struct wsm_buf *b, const char *uri, const char *method,
                                const struct wsm_param *p, size_t n)
{
    enum wsm_err e = WSM_OK;
    PUT(wsm__buf_printf(b, "<p:%s_INPUT xmlns:p=\"", method));
    PUT(wsm__buf_xml(b, uri));
    PUT(wsm__buf_puts(b, "\">"));
    for (size_t i = 0; i < n; i++) {
        if (!p[i].value) {
            PUT(wsm__buf_printf(b, "<p:%s xsi:nil=\"true\"/>", p[i].name));
            continue;
        }
        PUT(wsm__buf_printf(b, "<p:%s>", p[i].name));
        PUT(wsm__buf_xml(b, p[i].value));
        PUT(wsm__buf_printf(b, "</p:%s>", p[i].name));
    }
    PUT(wsm__buf_printf(b, "</p:%s_INPUT>", method));
    return e;
}

enum wsm_err wsm_invoke(wsm_session *s, const char *resource_uri, const char *method,
                        const struct wsm_selector *sel, size_t nsel,
                        const struct wsm_selector *options, size_t noptions, const char *input_xml,
                        const struct wsm_param *params, size_t nparams, char **xml_out)
{
    if (!s || !xml_out || !method || !target_ok(resource_uri, sel, nsel, options, noptions) ||
        (input_xml && nparams) || (nparams && !params))
        return invalid(s, "resource URI, method, selectors, options or input");
    /* A full action URI names the method by its last segment. */
    const char *name = strstr(method, "://") ? strrchr(method, '/') + 1 : method;
    if (!xml_name_ok(name))
        return invalid(s, "the method name is not an XML name");
    for (size_t i = 0; i < nparams; i++)
        if (!xml_name_ok(params[i].name))
            return invalid(s, "a parameter name is not an XML name");

    struct wsm_buf action;
    enum wsm_err e = WSM_OK;
    wsm__buf_init(&action, 0);
    if (name == method)
        PUT(wsm__buf_printf(&action, "%s/%s", resource_uri, method));
    else
        PUT(wsm__buf_puts(&action, method));
    char *body = NULL;
    if (!e && input_xml)
        e = normalize(s, input_xml, 0, &body);
    if (e) {
        wsm__buf_free(&action);
        return e;
    }

    char msgid[WSM_UUID_STRLEN];
    struct wsm_buf b;
    struct wsm_envelope *env = NULL;
    struct target t = {resource_uri, sel, nsel, options, noptions, NULL, NULL};
    wsm__uuid_urn(msgid);
    wsm__buf_init(&b, 0);
    e = begin(&b, s, action.data, msgid, &t);
    if (body)
        PUT(wsm__buf_puts(&b, body));
    else
        PUT(write_input(&b, resource_uri, name, params, nparams));
    PUT(wsm__buf_puts(&b, "</s:Body></s:Envelope>"));
    free(body);
    wsm__buf_free(&action);
    if ((e = wsm__post_built(s, &b, e, msgid, &env)))
        return e;
    char *x = NULL;
    e = take_payload(s, env, 1, &x);
    wsm__envelope_free(env);
    if (!e)
        *xml_out = x;
    return e;
}

/* ---- Enumerate ---------------------------------------------------- */

/* An item of a reply read by fast_reply. */
struct raw_item {
    size_t start, end;         /* its text in wsm_enum.raw */
    size_t decl_off, decl_len; /* its inherited declarations in wsm_enum.rdecl */
};

/* One inherited declaration of the items of a reply. */
struct inherited {
    const xmlNs *ns;
    size_t off, len; /* its attribute text in wsm_enum.decl */
};

struct wsm_enum {
    wsm_session *s;
    char *uri;
    char *headers;              /* SelectorSet and OptionSet, written once for every request */
    char *context;              /* the service's EnumerationContext; NULL once gone */
    unsigned max;               /* MaxElements per Pull */
    int end;                    /* EndOfSequence seen: nothing more on the service */
    struct wsm_envelope *batch; /* the last reply; next points into it */
    xmlNodePtr next;            /* the next item to hand out */
    /* The inherited namespace declarations of the items of decl_parent
     * (items that declare no namespace of their own share them). */
    const xmlNode *decl_parent;
    struct wsm_buf decl;   /* all of them, one after the other */
    struct inherited *inh; /* each of them: its namespace and its text in decl */
    size_t ninh, inh_alloc;
    struct wsm_buf item_decl; /* those an item does not redeclare */
    xmlBufferPtr dump;        /* scratch for serializing items */
    /* A reply read without a tree (fast_reply): its text, and each item
     * as a byte range of it with the declarations it inherits. */
    char *raw;
    struct raw_item *ritems;
    size_t nritems, ritems_alloc, rnext;
    struct wsm_buf rdecl; /* the items' inherited declarations */
    xmlParserCtxtPtr sax; /* parser for fast_reply, kept between replies */
};

static const char *dialect_uri(const char *d)
{
    if (!strcasecmp(d, "wql"))
        return WSM_DIALECT_WQL;
    if (!strcasecmp(d, "selector"))
        return WSM_DIALECT_SELECTOR;
    if (!strcasecmp(d, "association"))
        return WSM_DIALECT_ASSOCIATION;
    return d;
}

/* The request of an Enumerate, Pull or Release of e, with body. */
static enum wsm_err enum_request(wsm_enum *en, const char *action, const char *body,
                                 struct wsm_envelope **env)
{
    char msgid[WSM_UUID_STRLEN];
    struct wsm_buf b;
    enum wsm_err e;
    struct target t = {en->uri, NULL, 0, NULL, 0, NULL, en->headers};

    wsm__uuid_urn(msgid);
    wsm__buf_init(&b, 0);
    e = begin(&b, en->s, action, msgid, &t);
    PUT(wsm__buf_puts(&b, body));
    PUT(wsm__buf_puts(&b, "</s:Body></s:Envelope>"));
    return wsm__post_built(en->s, &b, e, msgid, env);
}

/* Takes over a reply (EnumerateResponse or PullResponse): context, items
 * and the end of the sequence. */
static enum wsm_err take_batch(wsm_enum *en, struct wsm_envelope *env, const char *op)
{
    xmlNodePtr r = wsm__xml_child(env->body, WSM_NS_WSEN, op);
    if (!r) {
        wsm__session_errorf(en->s, "the reply is not a%s %s", strchr("AEIOU", op[0]) ? "n" : "",
                            op);
        wsm__envelope_free(env);
        return WSM_ERR_NOT_SOAP;
    }
    xmlNodePtr ctx = wsm__xml_child(r, WSM_NS_WSEN, "EnumerationContext");
    const char *id = ctx ? wsm__xml_text(&env->arena, ctx, 1) : NULL;
    if (id && *id) {
        char *copy = strdup(id);
        if (!copy) {
            wsm__envelope_free(env);
            return WSM_ERR_NOMEM;
        }
        free(en->context);
        en->context = copy;
    }
    /* w:Items and w:EndOfSequence in an optimized EnumerateResponse,
     * n:Items and n:EndOfSequence in a PullResponse; either is taken. */
    xmlNodePtr items = wsm__xml_child(r, WSM_NS_WSEN, "Items");
    if (!items)
        items = wsm__xml_child(r, WSM_NS_WSMAN, "Items");
    if (wsm__xml_child(r, WSM_NS_WSEN, "EndOfSequence") ||
        wsm__xml_child(r, WSM_NS_WSMAN, "EndOfSequence"))
        en->end = 1;
    if (!en->end && !en->context) {
        wsm__session_errorf(en->s, "the %s carries no EnumerationContext", op);
        wsm__envelope_free(env);
        return WSM_ERR_NOT_SOAP;
    }
    if (en->end) {
        /* The service has forgotten the context: nothing to Release. */
        free(en->context);
        en->context = NULL;
    }
    wsm__envelope_free(en->batch);
    en->batch = env;
    free(en->raw);
    en->raw = NULL;
    en->nritems = en->rnext = 0;
    en->decl_parent = NULL;
    en->next = first_element(items);
    return WSM_OK;
}

/* ---- Pull replies without a tree ----------------------------------
 *
 * A Pull reply is read with SAX callbacks only: the context, the end of
 * the sequence and, for each item, where its text starts and ends in the
 * reply, so that an item is handed out as a copy of its own bytes with
 * the namespace declarations it inherits put on its start tag. Anything
 * unusual (a fault, a DTD, another encoding, an unexpected shape) leaves
 * the reply to the general path (wsm__reply_check and take_batch). */

#define FAST_MAX_DEPTH 64
#define FAST_MAX_DECLS 64
#define FAST_MAX_DICT 4096

struct fast_decl {
    int depth;
    const xmlChar *prefix, *uri;
};

struct fast {
    wsm_enum *en;
    xmlParserCtxtPtr ctxt;
    const char *data;
    size_t len;
    const char *op;
    int bad;   /* give the reply to the general path */
    int depth; /* of the element we are in */
    int in_header, in_body, body_children, in_resp, in_items, nitems_el;
    int item_depth; /* > 0 inside an item */
    int text;       /* collecting text: 1 RelatesTo, 2 EnumerationContext */
    int relates_seen, ctx_seen, end;
    struct wsm_buf relates, context;
    size_t ndecl;
    struct fast_decl decl[FAST_MAX_DECLS];
    size_t shared_len; /* the shared inherited declarations: rdecl[0, shared_len) */
    size_t ninh;
    struct fast_decl inh[FAST_MAX_DECLS]; /* what the shared ones are */
};

static void fast_fail(struct fast *f)
{
    f->bad = 1;
    xmlStopParser(f->ctxt);
}

static int ns_is(const xmlChar *uri, const char *ns)
{
    return uri && !strcmp((const char *)uri, ns);
}

static int xstreq(const xmlChar *a, const xmlChar *b)
{
    return (!a && !b) || (a && b && !strcmp((const char *)a, (const char *)b));
}

/* The items' declarations: those made on Envelope .. Items, the nearest
 * for each prefix. */
static void fast_shared_decls(struct fast *f)
{
    struct wsm_buf *d = &f->en->rdecl;
    f->ninh = 0;
    /* Nearest element first, in the order of each one's declarations
     * (as node_xml writes them). */
    for (int depth = f->depth; depth >= 1; depth--) {
        for (size_t i = 0; i < f->ndecl; i++) {
            if (f->decl[i].depth != depth)
                continue;
            int dup = 0;
            for (size_t j = 0; j < f->ninh && !dup; j++)
                dup = xstreq(f->inh[j].prefix, f->decl[i].prefix);
            if (!dup)
                f->inh[f->ninh++] = f->decl[i];
        }
    }
    for (size_t i = 0; i < f->ninh; i++) {
        const char *p = (const char *)f->inh[i].prefix;
        if (wsm__buf_printf(d, " xmlns%s%s=\"", p ? ":" : "", p ? p : "") ||
            wsm__buf_xml(d, (const char *)f->inh[i].uri) || wsm__buf_puts(d, "\"")) {
            fast_fail(f);
            return;
        }
    }
    f->shared_len = d->len;
}

static void fast_item(struct fast *f, int nb_namespaces, const xmlChar **namespaces)
{
    wsm_enum *en = f->en;
    size_t pos = (size_t)xmlByteConsumed(f->ctxt);
    if (pos > f->len || pos == 0) {
        fast_fail(f);
        return;
    }
    const char *lt = memrchr(f->data, '<', pos);
    if (!lt || lt[1] == '/' || lt[1] == '!' || lt[1] == '?') {
        fast_fail(f);
        return;
    }
    if (en->nritems == en->ritems_alloc) {
        size_t na = en->ritems_alloc ? 2 * en->ritems_alloc : 128;
        struct raw_item *p = realloc(en->ritems, na * sizeof(*p));
        if (!p) {
            fast_fail(f);
            return;
        }
        en->ritems = p;
        en->ritems_alloc = na;
    }
    struct raw_item *it = &en->ritems[en->nritems++];
    it->start = (size_t)(lt - f->data);
    it->end = 0;
    it->decl_off = 0;
    it->decl_len = f->shared_len;
    /* Declarations the item makes itself are not repeated. */
    int redeclares = 0;
    for (int k = 0; k < nb_namespaces && !redeclares; k++)
        for (size_t i = 0; i < f->ninh && !redeclares; i++)
            redeclares = xstreq(namespaces[2 * k], f->inh[i].prefix);
    if (!redeclares)
        return;
    struct wsm_buf *d = &en->rdecl;
    it->decl_off = d->len;
    for (size_t i = 0; i < f->ninh; i++) {
        int mine = 0;
        for (int k = 0; k < nb_namespaces && !mine; k++)
            mine = xstreq(namespaces[2 * k], f->inh[i].prefix);
        if (mine)
            continue;
        const char *p = (const char *)f->inh[i].prefix;
        if (wsm__buf_printf(d, " xmlns%s%s=\"", p ? ":" : "", p ? p : "") ||
            wsm__buf_xml(d, (const char *)f->inh[i].uri) || wsm__buf_puts(d, "\"")) {
            fast_fail(f);
            return;
        }
    }
    it->decl_len = d->len - it->decl_off;
}

static void fast_start(void *ud, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri,
                       int nb_namespaces, const xmlChar **namespaces, int nb_attributes,
                       int nb_defaulted, const xmlChar **attributes)
{
    (void)prefix;
    (void)nb_defaulted;
    struct fast *f = ((xmlParserCtxtPtr)ud)->_private;
    if (f->bad)
        return;
    int d = ++f->depth;
    if (d > FAST_MAX_DEPTH) {
        fast_fail(f);
        return;
    }
    if (f->item_depth) {
        f->item_depth++;
        return;
    }
    if (d <= 4) {
        for (int k = 0; k < nb_namespaces; k++) {
            if (f->ndecl == FAST_MAX_DECLS) {
                fast_fail(f);
                return;
            }
            f->decl[f->ndecl++] = (struct fast_decl){d, namespaces[2 * k], namespaces[2 * k + 1]};
        }
    }
    const char *name = (const char *)local;
    f->text = 0;
    switch (d) {
    case 1:
        if (!ns_is(uri, WSM_NS_SOAP) || strcmp(name, "Envelope") != 0)
            fast_fail(f);
        return;
    case 2:
        if (ns_is(uri, WSM_NS_SOAP) && !strcmp(name, "Header") && !f->in_body)
            f->in_header = 1;
        else if (ns_is(uri, WSM_NS_SOAP) && !strcmp(name, "Body") && !f->in_body)
            f->in_body = 1;
        else
            fast_fail(f);
        return;
    case 3:
        if (f->in_header) {
            /* A header we must understand: the general path judges it. */
            for (int a = 0; a < nb_attributes; a++)
                if (ns_is(attributes[5 * a + 2], WSM_NS_SOAP) &&
                    !strcmp((const char *)attributes[5 * a], "mustUnderstand")) {
                    fast_fail(f);
                    return;
                }
            if (ns_is(uri, WSM_NS_WSA) && !strcmp(name, "RelatesTo")) {
                if (f->relates_seen++) {
                    fast_fail(f);
                    return;
                }
                f->text = 1;
            }
        } else if (f->in_body) {
            if (f->body_children++ || !ns_is(uri, WSM_NS_WSEN) || strcmp(name, f->op) != 0)
                fast_fail(f);
            else
                f->in_resp = 1;
        }
        return;
    case 4:
        if (!f->in_resp)
            return;
        if (ns_is(uri, WSM_NS_WSEN) && !strcmp(name, "EnumerationContext")) {
            if (f->ctx_seen++)
                fast_fail(f);
            f->text = 2;
        } else if ((ns_is(uri, WSM_NS_WSEN) || ns_is(uri, WSM_NS_WSMAN)) &&
                   !strcmp(name, "Items")) {
            if (f->nitems_el++) {
                fast_fail(f);
                return;
            }
            f->in_items = 1;
            fast_shared_decls(f);
        } else if ((ns_is(uri, WSM_NS_WSEN) || ns_is(uri, WSM_NS_WSMAN)) &&
                   !strcmp(name, "EndOfSequence")) {
            f->end = 1;
        }
        return;
    case 5:
        if (f->in_items) {
            f->item_depth = 1;
            fast_item(f, nb_namespaces, namespaces);
        }
        return;
    default:
        return;
    }
}

static void fast_end(void *ud, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
    (void)local;
    (void)prefix;
    (void)uri;
    struct fast *f = ((xmlParserCtxtPtr)ud)->_private;
    if (f->bad)
        return;
    int d = f->depth--;
    f->text = 0;
    if (f->item_depth) {
        if (--f->item_depth == 0) {
            size_t pos = (size_t)xmlByteConsumed(f->ctxt);
            if (pos > f->len || pos == 0 || f->data[pos - 1] != '>')
                fast_fail(f);
            else
                f->en->ritems[f->en->nritems - 1].end = pos;
        }
        return;
    }
    while (f->ndecl && f->decl[f->ndecl - 1].depth >= d)
        f->ndecl--;
    if (d == 2)
        f->in_header = 0;
    else if (d == 3 && f->in_resp)
        f->in_resp = 0;
    else if (d == 4 && f->in_items)
        f->in_items = 0;
}

static void fast_chars(void *ud, const xmlChar *ch, int len)
{
    struct fast *f = ((xmlParserCtxtPtr)ud)->_private;
    if (f->bad || !f->text || f->item_depth)
        return;
    if (wsm__buf_add(f->text == 1 ? &f->relates : &f->context, ch, (size_t)len))
        fast_fail(f);
}

static void fast_dtd(void *ud, const xmlChar *name, const xmlChar *eid, const xmlChar *sid)
{
    (void)name;
    (void)eid;
    (void)sid;
    struct fast *f = ((xmlParserCtxtPtr)ud)->_private;
    fast_fail(f);
}

static xmlEntityPtr fast_get_entity(void *ud, const xmlChar *name)
{
    (void)name;
    struct fast *f = ((xmlParserCtxtPtr)ud)->_private;
    fast_fail(f);
    return NULL;
}

static xmlParserCtxtPtr fast_ctxt(wsm_enum *en)
{
    if (en->sax && en->sax->dict && xmlDictSize(en->sax->dict) > FAST_MAX_DICT) {
        xmlFreeParserCtxt(en->sax);
        en->sax = NULL;
    }
    if (en->sax)
        return en->sax;
    xmlParserCtxtPtr c = xmlNewParserCtxt();
    if (!c)
        return NULL;
    xmlSAXHandler *h = c->sax;
    memset(h, 0, sizeof(*h));
    h->initialized = XML_SAX2_MAGIC;
    h->startElementNs = fast_start;
    h->endElementNs = fast_end;
    h->characters = fast_chars;
    h->cdataBlock = fast_chars;
    wsm__xmlsax_harden(c, fast_dtd);
    h->getEntity = fast_get_entity; /* any entity, even &amp;: the tree path takes it */
    en->sax = c;
    return c;
}

/* Whether the reply is UTF-8 text starting with its root element or an
 * XML declaration that names no other encoding. */
static int fast_utf8(const char *data, size_t len)
{
    if (len < 6 || (data[0] != '<'))
        return 0;
    if (strncmp(data, "<?xml", 5) != 0)
        return 1;
    const char *end = memchr(data, '>', len);
    if (!end)
        return 0;
    const char *enc = memmem(data, (size_t)(end - data), "encoding", 8);
    if (!enc)
        return 1;
    const char *q = enc + 8;
    while (q < end && (*q == ' ' || *q == '=' || *q == '\t' || *q == '\r' || *q == '\n'))
        q++;
    if (q >= end || (*q != '"' && *q != '\''))
        return 0;
    q++;
    return end - q > 5 && !strncasecmp(q, "utf-8", 5) && q[5] == q[-1];
}

static int same_msgid(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

/* Trims the text collected in b (NUL-terminated); "" when nothing. */
static const char *trimmed(struct wsm_buf *b)
{
    if (!b->data)
        return "";
    char *p = b->data;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    size_t n = strlen(p);
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' || p[n - 1] == '\n'))
        p[--n] = '\0';
    return p;
}

/* Reads a 200 reply (data, len; taken over on success) to the request
 * msgid as a response op. 1 when it is taken as the current batch, 0
 * when the general path must read it. */
static int fast_reply(wsm_enum *en, struct wsm_buf *resp, const char *msgid, const char *op)
{
    const char *data = resp->data;
    size_t len = resp->len;
    if (!data || len > (size_t)0x7fffffff || !fast_utf8(data, len))
        return 0;
    xmlParserCtxtPtr c = fast_ctxt(en);
    if (!c)
        return 0;
    struct fast *f = calloc(1, sizeof(*f));
    if (!f)
        return 0;
    f->en = en;
    f->ctxt = c;
    f->data = data;
    f->len = len;
    f->op = op;
    wsm__buf_init(&f->relates, 0);
    wsm__buf_init(&f->context, 0);
    en->nritems = 0;
    en->rnext = 0;
    wsm__buf_reset(&en->rdecl);

    c->_private = f;
    xmlDocPtr doc = xmlCtxtReadMemory(c, data, (int)len, NULL, NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    c->_private = NULL;
    if (doc)
        xmlFreeDoc(doc);
    int ok = !f->bad && c->wellFormed && c->nsWellFormed && f->in_body == 1 &&
             f->body_children == 1 && f->depth == 0 && same_msgid(trimmed(&f->relates), msgid);
    const char *id = trimmed(&f->context);
    if (ok && !f->end && !*id && !en->context)
        ok = 0; /* the general path says what is wrong */
    for (size_t i = 0; ok && i < en->nritems; i++)
        ok = en->ritems[i].end > en->ritems[i].start;
    char *copy = NULL;
    if (ok && *id && !(copy = strdup(id)))
        ok = 0;
    wsm__buf_free(&f->relates);
    wsm__buf_free(&f->context);
    int end = f->end;
    free(f);
    if (!ok) {
        en->nritems = 0;
        return 0;
    }
    if (copy) {
        free(en->context);
        en->context = copy;
    }
    if (end)
        en->end = 1;
    if (en->end) {
        free(en->context);
        en->context = NULL;
    }
    wsm__envelope_free(en->batch);
    en->batch = NULL;
    en->next = NULL;
    en->decl_parent = NULL;
    free(en->raw);
    en->raw = wsm__buf_steal(resp, NULL);
    en->rnext = 0;
    return 1;
}

/* Sends an Enumerate or Pull (body) and takes over its reply (a response
 * op), without a tree when it can. */
static enum wsm_err fetch_batch(wsm_enum *en, const char *action, const char *body, const char *op)
{
    wsm_session *s = en->s;
    char msgid[WSM_UUID_STRLEN];
    struct wsm_buf b, resp;
    enum wsm_err e;
    struct target t = {en->uri, NULL, 0, NULL, 0, NULL, en->headers};
    long status = 0;

    wsm__uuid_urn(msgid);
    wsm__buf_init(&b, 0);
    e = begin(&b, s, action, msgid, &t);
    PUT(wsm__buf_puts(&b, body));
    PUT(wsm__buf_puts(&b, "</s:Body></s:Envelope>"));
    if (e) {
        wsm__session_errorf(s, "cannot build the request: %s", wsm_strerror(e));
        wsm__buf_free(&b);
        return e;
    }
    s->error[0] = '\0';
    s->fault_code = 0;
    s->fault_subcode[0] = '\0';
    if (b.len > (size_t)0x7fffffff) {
        wsm__buf_free(&b);
        return WSM_ERR_INVALID_ARG;
    }
    wsm__buf_init(&resp, wsm__reply_cap(s));
    e = wsm__conn_post(s, s->conn, b.data, b.len, 0, &resp, &status, s->error, sizeof(s->error));
    wsm__buf_free(&b);
    if (e) {
        wsm__buf_free(&resp);
        return e;
    }
    if (status == 200 && fast_reply(en, &resp, msgid, op)) {
        wsm__buf_free(&resp);
        return WSM_OK;
    }
    struct wsm_envelope *env = NULL;
    e = wsm__reply_check(s, resp.data, resp.len, status, msgid, &env);
    wsm__buf_free(&resp);
    return e ? e : take_batch(en, env, op);
}

static enum wsm_err write_filter(struct wsm_buf *b, const struct wsm_enum_opts *o,
                                 const char *dialect)
{
    enum wsm_err e = WSM_OK;
    PUT(wsm__buf_puts(b, "<w:Filter Dialect=\""));
    PUT(wsm__buf_xml(b, dialect));
    PUT(wsm__buf_puts(b, "\">"));
    if (o->nfilter_selectors) {
        PUT(put_set(b, "SelectorSet", "Selector", o->filter_selectors, o->nfilter_selectors));
    } else if (strcmp(dialect, WSM_DIALECT_WQL) != 0 && *skip_prolog(o->filter) == '<') {
        PUT(wsm__buf_puts(b, o->filter)); /* checked by the caller */
    } else {
        PUT(wsm__buf_xml(b, o->filter));
    }
    PUT(wsm__buf_puts(b, "</w:Filter>"));
    return e;
}

enum wsm_err wsm_enumerate(wsm_session *s, const char *resource_uri, const struct wsm_enum_opts *o,
                           wsm_enum **out)
{
    static const struct wsm_enum_opts defaults;
    if (!o)
        o = &defaults;
    if (!s || !out ||
        !target_ok(resource_uri, o->selectors, o->nselectors, o->options, o->noptions) ||
        !pairs_ok(o->filter_selectors, o->nfilter_selectors, 1) ||
        (o->filter && o->nfilter_selectors) || o->mode < WSM_ENUM_OBJECT ||
        o->mode > WSM_ENUM_OBJECT_AND_EPR)
        return invalid(s, "resource URI, selectors, options, filter or mode");
    const char *dialect = NULL;
    if (o->nfilter_selectors) {
        dialect = o->dialect ? dialect_uri(o->dialect) : WSM_DIALECT_SELECTOR;
        if (strcmp(dialect, WSM_DIALECT_SELECTOR) != 0)
            return invalid(s, "filter selectors need the selector dialect");
    } else if (o->filter) {
        dialect = o->dialect ? dialect_uri(o->dialect) : WSM_DIALECT_WQL;
    } else if (o->dialect) {
        return invalid(s, "a dialect without a filter");
    }
    /* XML filter content must be one well-formed element. */
    char *filter_xml = NULL;
    enum wsm_err e = WSM_OK;
    if (o->filter && strcmp(dialect, WSM_DIALECT_WQL) != 0 && *skip_prolog(o->filter) == '<') {
        if ((e = normalize(s, o->filter, 0, &filter_xml)))
            return e;
    }
    struct wsm_enum_opts fo = *o;
    if (filter_xml)
        fo.filter = filter_xml;

    wsm_enum *en = calloc(1, sizeof(*en));
    struct wsm_buf h, b;
    wsm__buf_init(&h, 0);
    wsm__buf_init(&b, 0);
    if (!en) {
        free(filter_xml);
        return WSM_ERR_NOMEM;
    }
    en->s = s;
    wsm__buf_init(&en->decl, 0);
    wsm__buf_init(&en->item_decl, 0);
    wsm__buf_init(&en->rdecl, 0);
    en->max = o->max_elements ? o->max_elements : DEFAULT_MAX_ELEMENTS;
    en->uri = strdup(resource_uri);
    if (!en->uri)
        e = WSM_ERR_NOMEM;
    PUT(put_set(&h, "SelectorSet", "Selector", o->selectors, o->nselectors));
    PUT(put_set(&h, "OptionSet", "Option", o->options, o->noptions));
    if (!e)
        en->headers = wsm__buf_steal(&h, NULL);
    if (!e && !en->headers)
        e = WSM_ERR_NOMEM;

    PUT(wsm__buf_puts(&b, "<n:Enumerate>"));
    if (o->optimize >= 0) {
        PUT(wsm__buf_puts(&b, "<w:OptimizeEnumeration/>"));
        PUT(wsm__buf_printf(&b, "<w:MaxElements>%u</w:MaxElements>", en->max));
    }
    if (o->mode == WSM_ENUM_EPR)
        PUT(wsm__buf_puts(&b, "<w:EnumerationMode>EnumerateEPR</w:EnumerationMode>"));
    else if (o->mode == WSM_ENUM_OBJECT_AND_EPR)
        PUT(wsm__buf_puts(&b, "<w:EnumerationMode>EnumerateObjectAndEPR</w:EnumerationMode>"));
    if (dialect)
        PUT(write_filter(&b, &fo, dialect));
    PUT(wsm__buf_puts(&b, "</n:Enumerate>"));
    free(filter_xml);

    struct wsm_envelope *env = NULL;
    if (!e)
        e = enum_request(en, ACTION_ENUMERATE, b.data, &env);
    else
        wsm__session_errorf(s, "cannot build the request: %s", wsm_strerror(e));
    wsm__buf_free(&b);
    wsm__buf_free(&h);
    if (!e)
        e = take_batch(en, env, "EnumerateResponse");
    if (e) {
        wsm_enum_free(en); /* Releases a context we may have been given */
        return e;
    }
    *out = en;
    return WSM_OK;
}

static enum wsm_err pull(wsm_enum *en)
{
    struct wsm_buf b;
    enum wsm_err e = WSM_OK;
    wsm__buf_init(&b, 0);
    PUT(wsm__buf_puts(&b, "<n:Pull><n:EnumerationContext>"));
    PUT(wsm__buf_xml(&b, en->context));
    PUT(wsm__buf_printf(&b, "</n:EnumerationContext><n:MaxElements>%u</n:MaxElements></n:Pull>",
                        en->max));
    if (!e)
        e = fetch_batch(en, ACTION_PULL, b.data, "PullResponse");
    else
        wsm__session_errorf(en->s, "cannot build the request: %s", wsm_strerror(e));
    wsm__buf_free(&b);
    if (e == WSM_ERR_FAULT && en->s->fault_code == FAULT_INVALID_CONTEXT) {
        free(en->context); /* the service no longer has it */
        en->context = NULL;
        en->end = 1;
    }
    return e;
}

static enum wsm_err remember_decl(void *arg, const xmlNs *ns)
{
    wsm_enum *en = arg;
    if (en->ninh == en->inh_alloc) {
        size_t na = en->inh_alloc ? 2 * en->inh_alloc : 16;
        struct inherited *p = realloc(en->inh, na * sizeof(*p));
        if (!p)
            return WSM_ERR_NOMEM;
        en->inh = p;
        en->inh_alloc = na;
    }
    size_t off = en->decl.len;
    if (put_decl(&en->decl, ns))
        return WSM_ERR_NOMEM;
    en->inh[en->ninh++] = (struct inherited){ns, off, en->decl.len - off};
    return WSM_OK;
}

/* An item as the caller's string: node_xml, with the inherited
 * declarations worked out once per parent (the items of a reply share
 * it). */
static enum wsm_err item_xml_of(wsm_enum *en, const xmlNode *n, char **out)
{
    if (!en->dump && !(en->dump = xmlBufferCreate()))
        return WSM_ERR_NOMEM;
    if (en->decl_parent != n->parent) {
        wsm__buf_reset(&en->decl);
        en->ninh = 0;
        en->decl_parent = NULL;
        enum wsm_err e = for_inherited(n, remember_decl, en);
        if (e)
            return e;
        en->decl_parent = n->parent;
    }
    if (!n->nsDef)
        return dump_with(n, en->decl.data, en->decl.len, en->dump, out);
    wsm__buf_reset(&en->item_decl);
    for (size_t i = 0; i < en->ninh; i++)
        if (!declared_in(n->nsDef, en->inh[i].ns) &&
            wsm__buf_add(&en->item_decl, en->decl.data + en->inh[i].off, en->inh[i].len))
            return WSM_ERR_NOMEM;
    return dump_with(n, en->item_decl.data, en->item_decl.len, en->dump, out);
}

enum wsm_err wsm_enum_next(wsm_enum *en, char **item_xml)
{
    if (!en || !item_xml)
        return WSM_ERR_INVALID_ARG;
    for (int empty = 0;;) {
        if (en->raw && en->rnext < en->nritems) {
            const struct raw_item *it = &en->ritems[en->rnext];
            const char *x = en->raw + it->start;
            size_t xl = it->end - it->start;
            const char *decl = en->rdecl.data ? en->rdecl.data + it->decl_off : "";
            /* After "<prefix:Name": the first space, '/' or '>'. */
            size_t at = 1;
            while (at < xl && !strchr(" \t\r\n/>", x[at]))
                at++;
            char *r = malloc(xl + it->decl_len + 1);
            if (!r)
                return WSM_ERR_NOMEM;
            memcpy(r, x, at);
            memcpy(r + at, decl, it->decl_len);
            memcpy(r + at + it->decl_len, x + at, xl - at);
            r[xl + it->decl_len] = '\0';
            en->rnext++;
            *item_xml = r;
            return WSM_OK;
        }
        if (en->next) {
            char *x = NULL;
            enum wsm_err e = item_xml_of(en, en->next, &x);
            if (e)
                return e;
            en->next = next_element(en->next);
            *item_xml = x;
            return WSM_OK;
        }
        /* This batch is used up: hold no more than one. */
        wsm__envelope_free(en->batch);
        en->batch = NULL;
        free(en->raw);
        en->raw = NULL;
        en->nritems = en->rnext = 0;
        en->decl_parent = NULL;
        if (en->end || !en->context)
            return WSM_ERR_NOT_FOUND;
        if (empty++ == MAX_EMPTY_PULLS) {
            wsm__session_errorf(en->s, "%d Pulls in a row brought no item", MAX_EMPTY_PULLS);
            return WSM_ERR_TIMED_OUT;
        }
        enum wsm_err e = pull(en);
        if (e)
            return e;
    }
}

void wsm_enum_free(wsm_enum *en)
{
    if (!en)
        return;
    wsm__envelope_free(en->batch);
    if (en->context && !en->end) {
        /* Release, leaving the session's last error as the caller saw it. */
        wsm_session *s = en->s;
        char error[sizeof(s->error)], subcode[sizeof(s->fault_subcode)];
        unsigned long code = s->fault_code;
        memcpy(error, s->error, sizeof(error));
        memcpy(subcode, s->fault_subcode, sizeof(subcode));
        struct wsm_buf b;
        enum wsm_err e = WSM_OK;
        wsm__buf_init(&b, 0);
        PUT(wsm__buf_puts(&b, "<n:Release><n:EnumerationContext>"));
        PUT(wsm__buf_xml(&b, en->context));
        PUT(wsm__buf_puts(&b, "</n:EnumerationContext></n:Release>"));
        struct wsm_envelope *env = NULL;
        if (!e && enum_request(en, ACTION_RELEASE, b.data, &env) == WSM_OK)
            wsm__envelope_free(env);
        wsm__buf_free(&b);
        memcpy(s->error, error, sizeof(error));
        memcpy(s->fault_subcode, subcode, sizeof(subcode));
        s->fault_code = code;
    }
    free(en->context);
    free(en->headers);
    free(en->uri);
    wsm__buf_free(&en->decl);
    wsm__buf_free(&en->item_decl);
    free(en->inh);
    free(en->raw);
    free(en->ritems);
    wsm__buf_free(&en->rdecl);
    if (en->sax)
        xmlFreeParserCtxt(en->sax);
    if (en->dump)
        xmlBufferFree(en->dump);
    free(en);
}
