#include "format.h"
#include "jsontype.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlsave.h>
#include <string.h>
#include <strings.h>

#define NS_XSI "http://www.w3.org/2001/XMLSchema-instance"
#define NS_RESULTS "http://schemas.dmtf.org/wbem/wsman/1/wsman/results"
#define NS_FAULT "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"

int cli_parse_format(const char *s, enum cli_format *out)
{
    if (!strcasecmp(s, "text"))
        *out = FMT_TEXT;
    else if (!strcasecmp(s, "xml") || !strcasecmp(s, "#xml"))
        *out = FMT_XML;
    else if (!strcasecmp(s, "pretty") || !strcasecmp(s, "#pretty"))
        *out = FMT_PRETTY;
    else if (!strcasecmp(s, "json"))
        *out = FMT_JSON;
    else
        return -1;
    return 0;
}

static int has_element_children(const xmlNode *n)
{
    for (xmlNode *c = n->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            return 1;
    return 0;
}

static int is_nil(const xmlNode *n)
{
    xmlChar *v = xmlGetNsProp(n, (const xmlChar *)"nil", (const xmlChar *)NS_XSI);
    int nil = v && !strcmp((const char *)v, "true");
    xmlFree(v);
    return nil;
}

/* Attributes worth showing: not xsi:nil, xsi:type and the like. */
static int shown_attr(const xmlAttr *a)
{
    return !(a->ns && a->ns->href && !strcmp((const char *)a->ns->href, NS_XSI));
}

static int same_name(const xmlNode *a, const xmlNode *b)
{
    return a->type == XML_ELEMENT_NODE && b->type == XML_ELEMENT_NODE &&
           !strcmp((const char *)a->name, (const char *)b->name);
}

/* ---- text --------------------------------------------------------- */

static int has_shown_attrs(const xmlNode *n)
{
    for (const xmlAttr *a = n->properties; a; a = a->next)
        if (shown_attr(a))
            return 1;
    return 0;
}

/* The next element sibling of n if it is another value of the same leaf
 * (an array: same name and namespace, not nil, no attribute to show). */
static const xmlNode *same_leaf_next(const xmlNode *n)
{
    const xmlNode *m = n->next;
    while (m && m->type != XML_ELEMENT_NODE)
        m = m->next;
    if (!m || has_element_children(m) || is_nil(m) || has_shown_attrs(m) ||
        strcmp((const char *)m->name, (const char *)n->name) != 0 ||
        (m->ns == NULL) != (n->ns == NULL) ||
        (m->ns && strcmp((const char *)m->ns->href, (const char *)n->ns->href) != 0))
        return NULL;
    return m;
}

/* As winrm.cmd prints: "Name = value", "Name" alone when the value is
 * empty, "Name = null" for xsi:nil, the values of repeated elements
 * (arrays) on one line ("ListeningOn = 127.0.0.1, ::1"), and a selector
 * or option with its key ("Selector: InstanceID = synthetic-7"). */
static void print_text(FILE *f, const xmlNode *n, int depth)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (has_element_children(n)) {
            fprintf(f, "%*s%s\n", depth * 4, "", (const char *)n->name);
            print_text(f, n->children, depth + 1);
            continue;
        }
        const xmlNode *first = n;
        xmlChar *key = xmlGetNoNsProp(n, (const xmlChar *)"Name");
        if (key)
            fprintf(f, "%*s%s: %s", depth * 4, "", (const char *)n->name, (const char *)key);
        else
            fprintf(f, "%*s%s", depth * 4, "", (const char *)n->name);
        if (is_nil(n)) {
            fputs(" = null", f);
        } else {
            const xmlNode *m = has_shown_attrs(n) ? NULL : same_leaf_next(n);
            xmlChar *t = xmlNodeGetContent(n);
            if (key || m || (t && *t))
                fprintf(f, " = %s", t ? (const char *)t : "");
            xmlFree(t);
            for (; m; n = m, m = same_leaf_next(m)) {
                t = xmlNodeGetContent(m);
                fprintf(f, ", %s", t ? (const char *)t : "");
                xmlFree(t);
            }
        }
        xmlFree(key);
        /* Other attributes as Windows shows Source: [Source="GPO"]. */
        for (const xmlAttr *a = first->properties; a; a = a->next) {
            if (!shown_attr(a) || (!a->ns && !strcmp((const char *)a->name, "Name")))
                continue;
            xmlChar *v = xmlNodeGetContent((const xmlNode *)a);
            fprintf(f, " [%s=\"%s\"]", (const char *)a->name, v ? (const char *)v : "");
            xmlFree(v);
        }
        fputc('\n', f);
    }
}

/* ---- json --------------------------------------------------------- */

static void json_member(FILE *f, int *first, int depth, const char *name)
{
    fprintf(f, "%s\n%*s", *first ? "" : ",", (depth + 1) * 2, "");
    *first = 0;
    cli_json_str(f, name);
    fputs(": ", f);
}

static int json_attrs(const xmlNode *n)
{
    for (const xmlAttr *a = n->properties; a; a = a->next)
        if (shown_attr(a) && !cli_json_hidden_attr(a))
            return 1;
    return 0;
}

/* One value of a property of kind k (jsontype.h): typed, or as before. */
static void print_json(FILE *f, const xmlNode *n, int depth, const struct cli_jtype *jt);
static void print_json_value(FILE *f, const xmlNode *n, int depth, const struct cli_jtype *t,
                             char k)
{
    if (k && k != 's' && !is_nil(n) && cli_json_typed_leaf(f, n, k))
        return;
    print_json(f, n, depth, t && t->config ? t : NULL);
}

/* Elements become objects; repeated names (and array properties) become
 * arrays; leaves strings, or numbers and booleans where t types them;
 * attributes "@name" members (the text then "#text"). */
static void print_json(FILE *f, const xmlNode *n, int depth, const struct cli_jtype *jt)
{
    int attrs = json_attrs(n), children = has_element_children(n);
    if (is_nil(n)) {
        fputs("null", f);
        return;
    }
    if (!children && !attrs) {
        xmlChar *t = xmlNodeGetContent(n);
        cli_json_str(f, t ? (const char *)t : "");
        xmlFree(t);
        return;
    }
    fputs("{", f);
    int first = 1;
    for (const xmlAttr *a = n->properties; a; a = a->next) {
        if (!shown_attr(a) || cli_json_hidden_attr(a))
            continue;
        char name[256];
        snprintf(name, sizeof(name), "@%s", (const char *)a->name);
        json_member(f, &first, depth, name);
        xmlChar *v = xmlNodeGetContent((const xmlNode *)a);
        cli_json_str(f, v ? (const char *)v : "");
        xmlFree(v);
    }
    if (!children) {
        json_member(f, &first, depth, "#text");
        xmlChar *t = xmlNodeGetContent(n);
        cli_json_str(f, t ? (const char *)t : "");
        xmlFree(t);
    }
    for (const xmlNode *c = children ? n->children : NULL; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        /* Skip names printed already as part of an array. */
        int seen = 0;
        for (const xmlNode *p = n->children; p != c && !seen; p = p->next)
            seen = same_name(p, c);
        if (seen)
            continue;
        int count = 0;
        for (const xmlNode *q = c; q; q = q->next)
            count += same_name(q, c);
        json_member(f, &first, depth, (const char *)c->name);
        int array = 0;
        char kind = jt ? cli_jtype_kind(jt, c, &array) : 0;
        if (count == 1 && !(array && !is_nil(c))) {
            print_json_value(f, c, depth + 1, jt, kind);
            continue;
        }
        fputs("[", f);
        int k = 0;
        for (const xmlNode *q = c; q; q = q->next) {
            if (!same_name(q, c))
                continue;
            if (k++)
                fputs(", ", f);
            print_json_value(f, q, depth + 1, jt, kind);
        }
        fputs("]", f);
    }
    fprintf(f, "\n%*s}", depth * 2, "");
}

/* {"Name": ...} for one element, at the given indentation. */
static void print_json_root(FILE *f, const xmlNode *n, int depth)
{
    fprintf(f, "%*s{\n%*s", depth * 2, "", (depth + 1) * 2, "");
    cli_json_str(f, (const char *)n->name);
    fputs(": ", f);
    struct cli_jtype t;
    cli_jtype_init(&t, n);
    print_json(f, n, depth + 1, &t);
    fprintf(f, "\n%*s}", depth * 2, "");
}

/* ---- one element -------------------------------------------------- */

static void print_pretty(FILE *f, xmlDocPtr doc, xmlNodePtr n)
{
    xmlOutputBufferPtr o = xmlOutputBufferCreateFile(f, NULL);
    if (!o)
        return;
    xmlNodeDumpOutput(o, doc, n, 0, 1, NULL);
    xmlOutputBufferClose(o); /* flushes; f stays open */
    fputc('\n', f);
}

static void print_node(FILE *f, xmlDocPtr doc, xmlNodePtr n, enum cli_format fmt)
{
    switch (fmt) {
    case FMT_XML: {
        xmlOutputBufferPtr o = xmlOutputBufferCreateFile(f, NULL);
        if (!o)
            return;
        xmlNodeDumpOutput(o, doc, n, 0, 0, NULL);
        xmlOutputBufferClose(o);
        fputc('\n', f);
        break;
    }
    case FMT_PRETTY:
        print_pretty(f, doc, n);
        break;
    case FMT_TEXT:
        if (has_element_children(n)) {
            fprintf(f, "%s\n", (const char *)n->name);
            print_text(f, n->children, 1);
        } else {
            print_text(f, n, 0); /* text only: "XmlFragment = value" */
        }
        break;
    case FMT_JSON:
        print_json_root(f, n, 0);
        fputc('\n', f);
        break;
    }
}

static xmlDocPtr parse(const char *xml)
{
    size_t len = strlen(xml);
    if (len > 0x7fffffff)
        return NULL;
    return xmlReadMemory(xml, (int)len, NULL, NULL,
                         XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
                             XML_PARSE_NOWARNING);
}

int cli_print_item(FILE *f, const char *xml, enum cli_format fmt)
{
    if (fmt == FMT_XML) {
        fprintf(f, "%s\n", xml); /* the service's bytes, as they came */
        return 0;
    }
    xmlDocPtr doc = parse(xml);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root) {
        xmlFreeDoc(doc);
        return -1;
    }
    print_node(f, doc, root, fmt);
    xmlFreeDoc(doc);
    return 0;
}

int cli_print(FILE *f, const char *xml, enum cli_format fmt)
{
    xmlDocPtr doc = parse(xml);
    if (!doc)
        return -1;
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlNode *body = NULL;
    for (xmlNode *c = root ? root->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, "Body"))
            body = c;
    xmlNode *payload = NULL;
    for (xmlNode *c = body ? body->children : NULL; c && !payload; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            payload = c;
    /* A copy in a document of its own declares the namespaces the payload
     * uses from the envelope. */
    xmlDocPtr own = payload ? xmlNewDoc((const xmlChar *)"1.0") : NULL;
    xmlNodePtr copy = own ? xmlDocCopyNode(payload, own, 1) : NULL;
    if (copy) {
        xmlDocSetRootElement(own, copy);
        print_node(f, own, copy, fmt);
    }
    xmlFreeDoc(own);
    xmlFreeDoc(doc);
    return copy ? 0 : -1;
}

/* ---- sequences ---------------------------------------------------- */

void cli_results_begin(FILE *f, enum cli_format fmt)
{
    if (fmt == FMT_XML || fmt == FMT_PRETTY)
        fputs("<wsman:Results xmlns:wsman=\"" NS_RESULTS "\">\n", f);
    else if (fmt == FMT_JSON)
        fputs("[", f);
}

int cli_results_item(FILE *f, const char *xml, enum cli_format fmt, size_t index)
{
    if (fmt == FMT_XML)
        return cli_print_item(f, xml, fmt);
    xmlDocPtr doc = parse(xml);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root) {
        xmlFreeDoc(doc);
        return -1;
    }
    if (fmt == FMT_JSON) {
        fputs(index ? ",\n" : "\n", f);
        print_json_root(f, root, 1);
    } else {
        if (fmt == FMT_TEXT && index)
            fputc('\n', f);
        print_node(f, doc, root, fmt);
    }
    xmlFreeDoc(doc);
    return 0;
}

void cli_results_end(FILE *f, enum cli_format fmt)
{
    if (fmt == FMT_XML || fmt == FMT_PRETTY)
        fputs("</wsman:Results>\n", f);
    else if (fmt == FMT_JSON)
        fputs("\n]\n", f);
}

/* ---- faults ------------------------------------------------------- */

void cli_xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else
            fputc(*s, f);
    }
}

void cli_print_fault(FILE *f, enum cli_format fmt, unsigned long code, const char *message)
{
    /* COM reports a Win32 error as its HRESULT (0x8007xxxx). */
    unsigned long hr = code < 0x10000 ? 0x80070000UL | code : code & 0xffffffffUL;
    long number = hr >= 0x80000000UL ? (long)hr - 0x100000000L : (long)hr;
    switch (fmt) {
    case FMT_TEXT:
        fprintf(f, "WSManFault\n    Message = %s\n", message);
        break;
    case FMT_XML:
    case FMT_PRETTY:
        fprintf(f, "<f:WSManFault xmlns:f=\"" NS_FAULT "\" Code=\"%lu\">%s<f:Message>", code,
                fmt == FMT_PRETTY ? "\n  " : "");
        cli_xml_text(f, message);
        fprintf(f, "</f:Message>%s</f:WSManFault>\n", fmt == FMT_PRETTY ? "\n" : "");
        break;
    case FMT_JSON:
        fprintf(f, "{\n  \"WSManFault\": {\n    \"@Code\": \"%lu\",\n    \"Message\": ", code);
        cli_json_str(f, message);
        fputs("\n  }\n}\n", f);
        break;
    }
    fprintf(f, "\nError number:  %ld 0x%08lX\n%s\n", number, hr, message);
}
