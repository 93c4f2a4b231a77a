#include "envelope.h"

#include <ctype.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/SAX2.h>
#include <stdlib.h>
#include <string.h>

#include "ns.h"
#include "xmlctxt.h"
#include "uuid.h"

/* ---- tree helpers ------------------------------------------------- */

int wsm__xml_is(const xmlNode *n, const char *ns, const char *name)
{
    if (!n || n->type != XML_ELEMENT_NODE)
        return 0;
    if (strcmp((const char *)n->name, name) != 0)
        return 0;
    if (!ns)
        return 1;
    return n->ns && n->ns->href && strcmp((const char *)n->ns->href, ns) == 0;
}

xmlNodePtr wsm__xml_next(const xmlNode *after, const char *ns, const char *name)
{
    for (xmlNodePtr n = after ? after->next : NULL; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && (!name || wsm__xml_is(n, ns, name)))
            return n;
    return NULL;
}

xmlNodePtr wsm__xml_child(const xmlNode *parent, const char *ns, const char *name)
{
    if (!parent)
        return NULL;
    for (xmlNodePtr n = parent->children; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && (!name || wsm__xml_is(n, ns, name)))
            return n;
    return NULL;
}

const char *wsm__xml_text(struct wsm_arena *a, const xmlNode *n, int trim)
{
    size_t len = 0;
    /* Only direct text and CDATA children: headers carry no mixed content. */
    for (xmlNodePtr c = n->children; c; c = c->next)
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
            len += strlen((const char *)c->content);
    char *s = wsm__arena_alloc(a, len + 1);
    if (!s)
        return NULL;
    size_t o = 0;
    for (xmlNodePtr c = n->children; c; c = c->next)
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content) {
            size_t l = strlen((const char *)c->content);
            memcpy(s + o, c->content, l);
            o += l;
        }
    s[o] = '\0';
    if (trim) {
        char *b = s;
        while (*b && isspace((unsigned char)*b))
            b++;
        char *e = b + strlen(b);
        while (e > b && isspace((unsigned char)e[-1]))
            *--e = '\0';
        return b;
    }
    return s;
}

const char *wsm__xml_attr(const xmlNode *n, const char *name)
{
    for (xmlAttrPtr a = n ? n->properties : NULL; a; a = a->next) {
        if (strcmp((const char *)a->name, name) != 0)
            continue;
        if (a->children && a->children->type == XML_TEXT_NODE && !a->children->next)
            return (const char *)a->children->content;
        return "";
    }
    return NULL;
}

/* ---- xs:duration ---------------------------------------------------- */

enum wsm_err wsm__duration_ms(const char *s, long *ms)
{
    /* PnYnMnDTnHnMnS; years and months are refused (no fixed length). */
    const char *p = s;
    double total = 0;
    int in_time = 0, any = 0;
    while (*p && isspace((unsigned char)*p))
        p++;
    if (*p == '-')
        return WSM_ERR_INVALID_TIMEOUT;
    if (*p++ != 'P')
        return WSM_ERR_INVALID_TIMEOUT;
    while (*p && !isspace((unsigned char)*p)) {
        if (*p == 'T') {
            if (in_time)
                return WSM_ERR_INVALID_TIMEOUT;
            in_time = 1;
            p++;
            continue;
        }
        /* Digits, optionally a point and more digits: no signs, exponents,
         * hex or locale-dependent parsing. */
        const char *q = p;
        double v = 0, scale = 1;
        int digits = 0;
        while (isdigit((unsigned char)*q) && digits < 15) {
            v = v * 10 + (*q++ - '0');
            digits++;
        }
        if (!digits || isdigit((unsigned char)*q))
            return WSM_ERR_INVALID_TIMEOUT;
        if (*q == '.') {
            q++;
            if (!isdigit((unsigned char)*q))
                return WSM_ERR_INVALID_TIMEOUT;
            while (isdigit((unsigned char)*q)) {
                scale /= 10;
                v += (*q++ - '0') * scale;
            }
        }
        p = q;
        switch (*p) {
        case 'D':
            if (in_time)
                return WSM_ERR_INVALID_TIMEOUT;
            total += v * 86400000.0;
            break;
        case 'H':
            if (!in_time)
                return WSM_ERR_INVALID_TIMEOUT;
            total += v * 3600000.0;
            break;
        case 'M':
            if (!in_time)
                return WSM_ERR_INVALID_TIMEOUT;
            total += v * 60000.0;
            break;
        case 'S':
            if (!in_time)
                return WSM_ERR_INVALID_TIMEOUT;
            total += v * 1000.0;
            break;
        default:
            return WSM_ERR_INVALID_TIMEOUT;
        }
        any = 1;
        p++;
    }
    while (*p && isspace((unsigned char)*p))
        p++;
    if (!any || *p || total > 1e13)
        return WSM_ERR_INVALID_TIMEOUT;
    *ms = (long)total;
    return WSM_OK;
}

/* ---- parsing -------------------------------------------------------- */

struct pstate {
    int depth;
    int max_depth;
    enum wsm_err err;
};

static void on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
                     int nb_namespaces, const xmlChar **namespaces, int nb_attributes,
                     int nb_defaulted, const xmlChar **attributes)
{
    xmlParserCtxtPtr c = ctx;
    struct pstate *st = c->_private;
    if (++st->depth > st->max_depth) {
        st->err = WSM_ERR_XML_DEPTH;
        xmlStopParser(c);
        return;
    }
    xmlSAX2StartElementNs(ctx, localname, prefix, uri, nb_namespaces, namespaces, nb_attributes,
                          nb_defaulted, attributes);
}

static void on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    xmlParserCtxtPtr c = ctx;
    struct pstate *st = c->_private;
    st->depth--;
    xmlSAX2EndElementNs(ctx, localname, prefix, uri);
}

static void on_dtd(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
    (void)name;
    (void)ext;
    (void)sys;
    xmlParserCtxtPtr c = ctx;
    struct pstate *st = c->_private;
    st->err = WSM_ERR_XML_DTD;
    xmlStopParser(c);
}

static int contains(const char *buf, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    if (!buf || len < n)
        return 0;
    return memmem(buf, len, needle, n) != NULL;
}

/* Counts the attributes of each start tag in one linear pass and says
 * whether one has more than max. An attribute is a '=' outside quotes
 * inside a tag; comments, CDATA sections and processing instructions are
 * skipped whole. Runs before libxml2, whose duplicate-attribute check
 * costs the square of an element's attributes: 500 KB of them took
 * seconds. Malformed input may be counted wrong; the parser refuses it
 * anyway. */
static int too_many_attrs(const char *buf, size_t len, int max)
{
    if (!buf || !len)
        return 0;
    const char *p = buf, *end = buf + len;
    while ((p = memchr(p, '<', (size_t)(end - p))) != NULL) {
        p++;
        const char *close = NULL;
        if (end - p >= 3 && !memcmp(p, "!--", 3))
            close = "-->";
        else if (end - p >= 8 && !memcmp(p, "![CDATA[", 8))
            close = "]]>";
        else if (p < end && *p == '?')
            close = "?>";
        if (close) {
            const char *q = memmem(p, (size_t)(end - p), close, strlen(close));
            if (!q)
                return 0;
            p = q + strlen(close);
            continue;
        }
        int n = 0;
        char quote = 0;
        for (; p < end; p++) {
            if (quote) {
                if (*p == quote)
                    quote = 0;
            } else if (*p == '"' || *p == '\'') {
                quote = *p;
            } else if (*p == '=') {
                if (++n > max)
                    return 1;
            } else if (*p == '>') {
                break;
            }
        }
    }
    return 0;
}

static int mu_true(const xmlNode *n)
{
    /* pywinrm writes mustUnderstand without the SOAP prefix; accept both. */
    const char *v = wsm__xml_attr(n, "mustUnderstand");
    return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

static enum wsm_err collect_set(struct wsm_envelope *env, xmlNodePtr set, const char *item,
                                struct wsm_pair *arr, size_t *count, size_t max)
{
    for (xmlNodePtr s = wsm__xml_child(set, WSM_NS_WSMAN, item); s;
         s = wsm__xml_next(s, WSM_NS_WSMAN, item)) {
        const char *name = wsm__xml_attr(s, "Name");
        if (!name)
            return item[0] == 'S' ? WSM_ERR_INVALID_SELECTORS : WSM_ERR_INVALID_OPTIONS;
        if (*count >= max)
            return item[0] == 'S' ? WSM_ERR_INVALID_SELECTORS : WSM_ERR_INVALID_OPTIONS;
        const char *val = wsm__xml_text(&env->arena, s, 1);
        const char *nm = wsm__arena_strdup(&env->arena, name);
        if (!val || !nm)
            return WSM_ERR_NOMEM;
        arr[*count].name = nm;
        arr[*count].value = val;
        (*count)++;
    }
    return WSM_OK;
}

static enum wsm_err read_headers(struct wsm_envelope *env)
{
    for (xmlNodePtr h = wsm__xml_child(env->header, NULL, NULL); h;
         h = wsm__xml_next(h, NULL, NULL)) {
        const char *ns = h->ns && h->ns->href ? (const char *)h->ns->href : "";
        const char *nm = (const char *)h->name;
        const char **slot = NULL;
        int known = 0;
        enum wsm_err e;

        if (strcmp(ns, WSM_NS_WSA) == 0) {
            known = 1;
            if (strcmp(nm, "To") == 0)
                slot = &env->to;
            else if (strcmp(nm, "Action") == 0)
                slot = &env->action;
            else if (strcmp(nm, "MessageID") == 0)
                slot = &env->message_id;
            else if (strcmp(nm, "RelatesTo") == 0)
                slot = &env->relates_to;
            else if (strcmp(nm, "ReplyTo") == 0) {
                xmlNodePtr a = wsm__xml_child(h, WSM_NS_WSA, "Address");
                if (!a)
                    return WSM_ERR_BAD_HEADER;
                if (!(env->reply_to = wsm__xml_text(&env->arena, a, 1)))
                    return WSM_ERR_NOMEM;
            } else if (strcmp(nm, "FaultTo") != 0 && strcmp(nm, "From") != 0)
                known = 0;
        } else if (strcmp(ns, WSM_NS_WSMAN) == 0) {
            known = 1;
            if (strcmp(nm, "ResourceURI") == 0)
                slot = &env->resource_uri;
            else if (strcmp(nm, "SelectorSet") == 0) {
                e = collect_set(env, h, "Selector", env->selectors, &env->nselectors,
                                WSM_MAX_SELECTORS);
                if (e)
                    return e;
            } else if (strcmp(nm, "OptionSet") == 0) {
                e = collect_set(env, h, "Option", env->options, &env->noptions, WSM_MAX_OPTIONS);
                if (e)
                    return e;
            } else if (strcmp(nm, "OperationTimeout") == 0) {
                const char *t = wsm__xml_text(&env->arena, h, 1);
                if (!t)
                    return WSM_ERR_NOMEM;
                if ((e = wsm__duration_ms(t, &env->operation_timeout_ms)))
                    return e;
            } else if (strcmp(nm, "MaxEnvelopeSize") == 0) {
                const char *t = wsm__xml_text(&env->arena, h, 1);
                char *end;
                if (!t)
                    return WSM_ERR_NOMEM;
                long v = strtol(t, &end, 10);
                if (end == t || *end || v <= 0)
                    return WSM_ERR_BAD_HEADER;
                env->max_envelope_size = v;
            } else if (strcmp(nm, "Locale") == 0) {
                const char *l = wsm__xml_attr(h, "lang");
                env->locale = l ? wsm__arena_strdup(&env->arena, l) : "en-US";
            } else if (strcmp(nm, "FragmentTransfer") == 0) {
                slot = &env->fragment;
            } else if (strcmp(nm, "RequestTotalItemsCountEstimate") == 0) {
                /* Answered by Enumerate and Pull (src/daemon/enumopts.c). */
                env->want_count_estimate = 1;
            }
        } else if (strcmp(ns, WSM_NS_WSEV) == 0 && strcmp(nm, "Identifier") == 0) {
            /* A subscription manager's reference parameter (Renew,
             * GetStatus, Unsubscribe): read by the event source. */
            known = 1;
        } else if (strcmp(ns, WSM_NS_SHELL) == 0 && strcmp(nm, "CompressionType") == 0) {
            /* MS-WSMV 3.2.4.1.19: read by the shell's Create (only there
             * does it mean anything; src/shell/encoding.c). */
            known = 1;
        } else if (strcmp(ns, WSM_NS_MSWSMAN) == 0) {
            /* DataLocale, SessionId, OperationID, SequenceId, CompressionType:
             * advisory for us. */
            known = 1;
        }
        if (slot) {
            if (*slot)
                return WSM_ERR_BAD_HEADER; /* duplicated header */
            if (!(*slot = wsm__xml_text(&env->arena, h, 1)))
                return WSM_ERR_NOMEM;
        }
        if (!known && mu_true(h))
            return WSM_ERR_MUST_UNDERSTAND;
    }
    return WSM_OK;
}

#define PARSE_OPTIONS                                                                              \
    (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA)
/* This thread's context (xmlctxt.h) builds a tree: libxml2's own callbacks,
 * with ours counting depth around them. */
static void ctxt_setup(xmlParserCtxtPtr c)
{
    c->sax->startElementNs = on_start;
    c->sax->endElementNs = on_end;
    wsm__xmlsax_harden(c, on_dtd);
}

/* Frees this thread's parser context now (threads that end free theirs). */
void wsm__envelope_thread_cleanup(void)
{
    wsm__xmlctxt_thread_free(WSM_XMLCTXT_ENVELOPE);
}

enum wsm_err wsm__envelope_parse(const char *buf, size_t len, const struct wsm_limits *lim,
                                 struct wsm_envelope **out, char *msgid, size_t msgid_len)
{
    size_t max_size = lim && lim->max_size ? lim->max_size : WSM_DEFAULT_MAX_ENVELOPE;
    int max_depth = lim && lim->max_depth ? lim->max_depth : WSM_DEFAULT_MAX_DEPTH;
    struct pstate st = {0};
    xmlParserCtxtPtr ctxt = NULL;
    struct wsm_envelope *env = NULL;
    enum wsm_err err = WSM_OK;

    if (len > max_size)
        return WSM_ERR_ENVELOPE_TOO_LARGE;
    if (len > INT32_MAX)
        return WSM_ERR_ENVELOPE_TOO_LARGE;
    /* A document type declaration has no place in SOAP (SOAP 1.2 part 1,
     * 5): refuse it before the parser sees a byte of it. */
    if (!(lim && lim->response) &&
        (contains(buf, len, "<!DOCTYPE") || contains(buf, len, "<!ENTITY")))
        return WSM_ERR_XML_DTD; /* (replies: the parser hooks below refuse it too) */
    if (!(lim && lim->response) &&
        too_many_attrs(buf, len, lim && lim->max_attrs ? lim->max_attrs : WSM_DEFAULT_MAX_ATTRS))
        return WSM_ERR_XML_ATTRIBUTES;

    env = calloc(1, sizeof(*env));
    if (!env)
        return WSM_ERR_NOMEM;
    wsm__arena_init(&env->arena);
    env->operation_timeout_ms = -1;
    env->max_envelope_size = -1;

    ctxt = wsm__xmlctxt_thread(WSM_XMLCTXT_ENVELOPE, ctxt_setup);
    if (!ctxt) {
        err = WSM_ERR_NOMEM;
        goto out;
    }
    st.max_depth = max_depth;
    ctxt->_private = &st;
    xmlDocPtr doc = xmlCtxtReadMemory(ctxt, buf, (int)len, NULL, NULL, PARSE_OPTIONS);
    ctxt->_private = NULL;
    if (st.err) {
        if (doc)
            xmlFreeDoc(doc);
        err = st.err;
        goto out;
    }
    if (!doc || !ctxt->wellFormed || !ctxt->nsWellFormed) {
        if (doc)
            xmlFreeDoc(doc);
        err = WSM_ERR_XML_MALFORMED;
        goto out;
    }
    env->doc = doc;

    xmlNodePtr root = xmlDocGetRootElement(env->doc);
    if (!root || strcmp((const char *)root->name, "Envelope") != 0) {
        err = WSM_ERR_NOT_SOAP;
        goto out;
    }
    if (!wsm__xml_is(root, WSM_NS_SOAP, "Envelope")) {
        err = root->ns && root->ns->href && strcmp((const char *)root->ns->href, WSM_NS_SOAP11) == 0
                  ? WSM_ERR_SOAP_VERSION
                  : WSM_ERR_NOT_SOAP;
        goto out;
    }
    env->header = wsm__xml_child(root, WSM_NS_SOAP, "Header");
    env->body = wsm__xml_child(root, WSM_NS_SOAP, "Body");
    if (!env->body) {
        err = WSM_ERR_NOT_SOAP;
        goto out;
    }
    env->payload = wsm__xml_child(env->body, NULL, NULL);
    env->is_identify = wsm__xml_is(env->payload, WSM_NS_IDENTITY, "Identify");
    if (env->header && (err = read_headers(env)))
        goto out;
    if (!env->is_identify && !(lim && lim->response)) {
        if (!env->action || !*env->action || !env->message_id || !*env->message_id) {
            err = WSM_ERR_HEADER_REQUIRED;
            goto out;
        }
    }

out:
    if (ctxt)
        wsm__xmlctxt_done(WSM_XMLCTXT_ENVELOPE, ctxt);
    if (err) {
        /* Keep the MessageID for the fault's RelatesTo when we got that far. */
        if (env && msgid && msgid_len && env->message_id && strlen(env->message_id) < msgid_len)
            strcpy(msgid, env->message_id);
        wsm__envelope_free(env);
        return err;
    }
    *out = env;
    return WSM_OK;
}

void wsm__envelope_free(struct wsm_envelope *env)
{
    if (!env)
        return;
    if (env->doc)
        xmlFreeDoc(env->doc);
    wsm__arena_free(&env->arena);
    free(env);
}

static const char *find_pair(const struct wsm_pair *arr, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(arr[i].name, name) == 0)
            return arr[i].value;
    return NULL;
}

const char *wsm__envelope_selector(const struct wsm_envelope *env, const char *name)
{
    return find_pair(env->selectors, env->nselectors, name);
}

const char *wsm__envelope_option(const struct wsm_envelope *env, const char *name)
{
    return find_pair(env->options, env->noptions, name);
}

/* ---- replies -------------------------------------------------------- */

enum wsm_err wsm__reply_begin(struct wsm_buf *out, const char *action, const char *relates_to,
                              const char *extra_ns)
{
    char id[WSM_UUID_STRLEN];
    enum wsm_err e;
    wsm__uuid_urn(id);
    e = wsm__buf_puts(out, "<s:Envelope xml:lang=\"en-US\" xmlns:s=\"" WSM_NS_SOAP
                           "\" xmlns:a=\"" WSM_NS_WSA "\" xmlns:w=\"" WSM_NS_WSMAN "\"");
    if (!e && extra_ns)
        e = wsm__buf_puts(out, extra_ns);
    if (!e)
        e = wsm__buf_puts(out, "><s:Header><a:To>" WSM_ADDR_ANONYMOUS "</a:To><a:Action>");
    if (!e)
        e = wsm__buf_xml(out, action);
    if (!e)
        e = wsm__buf_printf(out, "</a:Action><a:MessageID>%s</a:MessageID>", id);
    if (!e && relates_to) {
        e = wsm__buf_puts(out, "<a:RelatesTo>");
        if (!e)
            e = wsm__buf_xml(out, relates_to);
        if (!e)
            e = wsm__buf_puts(out, "</a:RelatesTo>");
    }
    if (!e)
        e = wsm__buf_puts(out, "</s:Header><s:Body>");
    return e;
}

enum wsm_err wsm__reply_end(struct wsm_buf *out)
{
    return wsm__buf_puts(out, "</s:Body></s:Envelope>");
}
