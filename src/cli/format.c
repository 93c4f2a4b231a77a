#include "format.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <string.h>
#include <strings.h>

int cli_parse_format(const char *s, enum cli_format *out)
{
    if (!strcasecmp(s, "text"))
        *out = FMT_TEXT;
    else if (!strcasecmp(s, "xml"))
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
    xmlChar *v = xmlGetNsProp(n, (const xmlChar *)"nil",
                              (const xmlChar *)"http://www.w3.org/2001/XMLSchema-instance");
    int nil = v && !strcmp((const char *)v, "true");
    xmlFree(v);
    return nil;
}

static void print_text(FILE *f, const xmlNode *n, int depth)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        fprintf(f, "%*s%s", depth * 4, "", (const char *)n->name);
        if (has_element_children(n)) {
            fputc('\n', f);
            print_text(f, n->children, depth + 1);
        } else if (is_nil(n)) {
            fprintf(f, " = null\n");
        } else {
            xmlChar *t = xmlNodeGetContent(n);
            fprintf(f, " = %s\n", t ? (const char *)t : "");
            xmlFree(t);
        }
    }
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* Elements become objects; repeated names become arrays; leaves strings. */
static void print_json(FILE *f, const xmlNode *n, int depth)
{
    if (!has_element_children(n)) {
        if (is_nil(n)) {
            fputs("null", f);
            return;
        }
        xmlChar *t = xmlNodeGetContent(n);
        json_str(f, t ? (const char *)t : "");
        xmlFree(t);
        return;
    }
    fputs("{", f);
    int first = 1;
    for (const xmlNode *c = n->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        /* Skip names printed already as part of an array. */
        int seen = 0;
        for (const xmlNode *p = n->children; p != c; p = p->next)
            if (p->type == XML_ELEMENT_NODE && !strcmp((const char *)p->name, (const char *)c->name))
                seen = 1;
        if (seen)
            continue;
        int count = 0;
        for (const xmlNode *q = c; q; q = q->next)
            if (q->type == XML_ELEMENT_NODE && !strcmp((const char *)q->name, (const char *)c->name))
                count++;
        fprintf(f, "%s\n%*s", first ? "" : ",", (depth + 1) * 2, "");
        first = 0;
        json_str(f, (const char *)c->name);
        fputs(": ", f);
        if (count == 1) {
            print_json(f, c, depth + 1);
        } else {
            fputs("[", f);
            int k = 0;
            for (const xmlNode *q = c; q; q = q->next) {
                if (q->type != XML_ELEMENT_NODE || strcmp((const char *)q->name, (const char *)c->name))
                    continue;
                if (k++)
                    fputs(", ", f);
                print_json(f, q, depth + 1);
            }
            fputs("]", f);
        }
    }
    fprintf(f, "\n%*s}", depth * 2, "");
}

int cli_print(FILE *f, const char *xml, enum cli_format fmt)
{
    if (fmt == FMT_XML) {
        fprintf(f, "%s\n", xml);
        return 0;
    }
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
                                      XML_PARSE_NOWARNING);
    if (!doc)
        return -1;
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlNode *body = NULL;
    for (xmlNode *c = root ? root->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, "Body"))
            body = c;
    xmlNode *payload = NULL;
    for (xmlNode *c = body ? body->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE) {
            payload = c;
            break;
        }
    if (fmt == FMT_PRETTY) {
        xmlDocFormatDump(f, doc, 1);
    } else if (payload && fmt == FMT_TEXT) {
        print_text(f, payload, 0);
    } else if (payload) {
        fputs("{\n  ", f);
        json_str(f, (const char *)payload->name);
        fputs(": ", f);
        print_json(f, payload, 1);
        fputs("\n}\n", f);
    }
    xmlFreeDoc(doc);
    return 0;
}
