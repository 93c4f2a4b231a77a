/* libwsm client, management data: XML in and out. A reply element is
 * copied into a document of its own with every namespace it uses declared
 * on it; caller XML is normalized before it goes into a request. */
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
#include "cim_client_priv.h"

/* ---- XML in and out ----------------------------------------------- */

/* WSM_ERR_INVALID_ARG, with why in the session's error text. */
enum wsm_err wsm__cim_invalid(wsm_session *s, const char *why)
{
    if (s) {
        wsm__session_forget_errors(s);
        wsm__session_errorf(s, "invalid argument: %s", why);
    }
    return WSM_ERR_INVALID_ARG;
}

static int same_prefix(const xmlNs *a, const xmlNs *b)
{
    return (!a->prefix && !b->prefix) ||
           (a->prefix && b->prefix && !strcmp((const char *)a->prefix, (const char *)b->prefix));
}

/* Whether one of the declarations in list gives ns's prefix. */
int wsm__cim_declared_in(const xmlNs *list, const xmlNs *ns)
{
    for (const xmlNs *o = list; o; o = o->next)
        if (same_prefix(o, ns))
            return 1;
    return 0;
}

/* Calls fn for each declaration made above n (on its ancestors) that a
 * nearer ancestor does not override. */
enum wsm_err wsm__cim_for_inherited(const xmlNode *n, enum wsm_err (*fn)(void *, const xmlNs *),
                                    void *arg)
{
    for (const xmlNode *a = n->parent; a && a->type == XML_ELEMENT_NODE; a = a->parent) {
        for (const xmlNs *ns = a->nsDef; ns; ns = ns->next) {
            int shadowed = 0;
            /* A nearer ancestor already gave this prefix. */
            for (const xmlNode *b = n->parent; b != a && !shadowed; b = b->parent)
                shadowed = wsm__cim_declared_in(b->nsDef, ns);
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
enum wsm_err wsm__cim_put_decl(struct wsm_buf *decl, const xmlNs *ns)
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
    return wsm__cim_declared_in(a->n->nsDef, ns) ? WSM_OK : wsm__cim_put_decl(a->decl, ns);
}

/* The declarations made above n (on its ancestors) that n itself does
 * not redeclare, as attribute text appended to decl. */
static enum wsm_err inherited_ns(const xmlNode *n, struct wsm_buf *decl)
{
    struct inherit_arg a = {n, decl};
    return wsm__cim_for_inherited(n, put_unless_redeclared, &a);
}

/* n dumped where it stands with decl (declarations, decl_len bytes) put
 * on its start tag. buf (may be NULL) is a scratch buffer to reuse. */
enum wsm_err wsm__cim_dump_with(const xmlNode *n, const char *decl, size_t decl_len,
                                xmlBufferPtr buf, char **out)
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
        e = wsm__cim_dump_with(n, decl.data, decl.len, NULL, out);
    wsm__buf_free(&decl);
    return e;
}

/* The first element child of n (n may be NULL). */
xmlNodePtr wsm__cim_first_element(const xmlNode *n)
{
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            return c;
    return NULL;
}

xmlNodePtr wsm__cim_next_element(const xmlNode *n)
{
    for (xmlNodePtr c = n->next; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            return c;
    return NULL;
}

/* Skips whitespace and an XML declaration at the start of caller XML. */
const char *wsm__cim_skip_prolog(const char *x)
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
enum wsm_err wsm__cim_normalize(wsm_session *s, const char *xml, int fragment, char **out)
{
    static const char wrap_open[] = "<w:XmlFragment xmlns:w=\"" WSM_NS_WSMAN "\">";
    static const char wrap_close[] = "</w:XmlFragment>";
    const char *body = wsm__cim_skip_prolog(xml);
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
        return wsm__cim_invalid(s, "the input is too large");
    }
    xmlDocPtr d = xmlReadMemory(b.data, (int)b.len, NULL, "UTF-8",
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    wsm__buf_free(&b);
    xmlNodePtr root = d ? xmlDocGetRootElement(d) : NULL;
    if (!root || d->intSubset) {
        int dtd = d && d->intSubset;
        xmlFreeDoc(d);
        return wsm__cim_invalid(s, dtd ? "the input XML has a DTD"
                                       : "the input is not one well-formed XML element");
    }
    if (fragment) {
        /* The caller's own XmlFragment: send that one, not one around it. */
        xmlNodePtr only = wsm__cim_first_element(root);
        int alone = only && !wsm__cim_next_element(only);
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
enum wsm_err wsm__cim_take_payload(wsm_session *s, struct wsm_envelope *env, int empty_ok,
                                   char **out)
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

int wsm__cim_target_ok(const char *uri, const struct wsm_selector *sel, size_t nsel,
                       const struct wsm_selector *opt, size_t nopt)
{
    return uri && *uri && wsm__cim_pairs_ok(sel, nsel, 1) && wsm__cim_pairs_ok(opt, nopt, 0);
}

/* One Transfer round trip: body (may be NULL) as the Body's content. */
enum wsm_err wsm__cim_transfer(wsm_session *s, const char *action, const struct target *t,
                               const char *body, int empty_ok, char **xml_out)
{
    char msgid[WSM_UUID_STRLEN];
    struct wsm_buf b;
    struct wsm_envelope *env = NULL;
    enum wsm_err e;

    wsm__uuid_urn(msgid);
    wsm__buf_init(&b, 0);
    e = wsm__cim_begin(&b, s, action, msgid, t);
    if (body)
        PUT(wsm__buf_puts(&b, body));
    PUT(wsm__buf_puts(&b, "</s:Body></s:Envelope>"));
    if ((e = wsm__post_built(s, &b, e, msgid, &env)))
        return e;
    char *x = NULL;
    if (xml_out)
        e = wsm__cim_take_payload(s, env, empty_ok, &x);
    wsm__envelope_free(env);
    if (!e && xml_out)
        *xml_out = x;
    return e;
}
