/* The XML that winrm sends built from the command line's @{...}: the
 * element for create and invoke, the instance for set (what Get returned
 * with the named properties changed), and the association filter of
 * enumerate -dialect:association (DSP0227). Apart from the operations
 * (winrm_ops.c) because it is the one part of winrm that works on
 * libxml2 documents. */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "format.h"
#include "winrm_priv.h"
#include "wsm/wsm.h"

#define NS_XSI "http://www.w3.org/2001/XMLSchema-instance"
#define NS_WSA "http://schemas.xmlsoap.org/ws/2004/08/addressing"
#define NS_WSMAN "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
#define NS_CIMBINDING "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd"
#define NS_CIMBASE "http://schemas.dmtf.org/wbem/wsman/1/base"
#define ADDR_ANONYMOUS "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

static char *dump(xmlDocPtr d, xmlNodePtr n)
{
    xmlBufferPtr b = xmlBufferCreate();
    char *s = NULL;
    if (b && xmlNodeDump(b, d, n, 0, 0) >= 0)
        s = strdup((const char *)xmlBufferContent(b));
    xmlBufferFree(b);
    return s;
}

static void set_value(xmlDocPtr d, xmlNodePtr el, const char *value)
{
    xmlNodeSetContent(el, NULL);
    if (!value) {
        xmlNsPtr xsi = xmlSearchNsByHref(d, el, (const xmlChar *)NS_XSI);
        if (!xsi)
            xsi =
                xmlNewNs(xmlDocGetRootElement(d), (const xmlChar *)NS_XSI, (const xmlChar *)"xsi");
        xmlSetNsProp(el, xsi, (const xmlChar *)"nil", (const xmlChar *)"true");
        return;
    }
    xmlUnsetNsProp(el, xmlSearchNsByHref(d, el, (const xmlChar *)NS_XSI), (const xmlChar *)"nil");
    xmlAddChild(el, xmlNewDocText(d, (const xmlChar *)value));
}

/* <p:ROOT xmlns:p="URI"><p:KEY>VALUE</p:KEY>...</p:ROOT>: what winrm
 * sends for create and invoke from @{...}. */
char *wsmd__winrm_element_from_hash(const char *uri, const char *root, const struct kv *h)
{
    xmlDocPtr d = xmlNewDoc((const xmlChar *)"1.0");
    xmlNodePtr r = d ? xmlNewDocNode(d, NULL, (const xmlChar *)root, NULL) : NULL;
    char *out = NULL;
    if (r) {
        xmlDocSetRootElement(d, r);
        xmlNsPtr p = xmlNewNs(r, (const xmlChar *)uri, (const xmlChar *)"p");
        xmlSetNs(r, p);
        for (size_t i = 0; i < h->n; i++) {
            xmlNodePtr c = xmlNewChild(r, p, (const xmlChar *)h->v[i].name, NULL);
            if (c)
                set_value(d, c, h->v[i].value);
        }
        out = dump(d, r);
    }
    xmlFreeDoc(d);
    return out;
}

/* winrm set with @{...}: the instance from Get with the named properties
 * changed. Each key must name exactly one text-only child element. */
int wsmd__winrm_apply_hash(const char *xml, const struct kv *h, char **out)
{
    xmlDocPtr d = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNodePtr root = d ? xmlDocGetRootElement(d) : NULL;
    if (!root) {
        fprintf(stderr, "winrm: Error: Unable to parse XML: the resource as Get returned it\n");
        xmlFreeDoc(d);
        return -1;
    }
    for (size_t i = 0; i < h->n; i++) {
        xmlNodePtr match = NULL;
        int count = 0;
        for (xmlNodePtr c = root->children; c; c = c->next) {
            if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, h->v[i].name))
                continue;
            /* cim:Location is not a property (as winrm). */
            if (c->ns && !strcmp((const char *)c->ns->href, NS_CIMBASE))
                continue;
            match = c;
            count++;
        }
        const char *why = NULL;
        if (!count)
            why = "Parameter name does not match any properties on resource: ";
        else if (count > 1)
            why = "Parameter matches more than one property on resource: ";
        for (xmlNodePtr c = match ? match->children : NULL; c && !why; c = c->next)
            if (c->type != XML_TEXT_NODE)
                why = "Parameter matches a non-text property on resource: ";
        if (why) {
            fprintf(stderr, "winrm: Error: %s%s\n", why, h->v[i].name);
            xmlFreeDoc(d);
            return -1;
        }
        set_value(d, match, h->v[i].value);
    }
    *out = dump(d, root);
    xmlFreeDoc(d);
    return *out ? 0 : -1;
}

/* The value of key (without case) in h, or NULL. */
static const char *hash_value(const struct kv *h, const char *key)
{
    for (size_t i = 0; i < h->n; i++)
        if (!strcasecmp(h->v[i].name, key))
            return h->v[i].value;
    return NULL;
}

/* -dialect:association -filter:{Object=RESOURCE?k=v;ResultClassName=...}
 * as DSP0227's b:AssociatedInstances (or b:AssociationInstances with
 * -associations). */
char *wsmd__winrm_association_filter(const char *filter, int association_instances,
                                     const char *main_uri)
{
    static const char *const names[] = {"AssociationClassName", "Role", "ResultClassName",
                                        "ResultRole", "IncludeResultProperty"};
    struct kv h, osel;
    char uri[MAX_URI];
    const char *object = NULL;
    if (wsmd__winrm_parse_hash(filter, &h) != 0)
        return NULL;
    for (size_t i = 0; i < h.n; i++) {
        int known = !strcasecmp(h.v[i].name, "Object");
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
            known |= !strcasecmp(h.v[i].name, names[k]);
        if (!known || !h.v[i].value) {
            wsmd__winrm_usage_error("unknown or null key in the association filter: %s",
                                    h.v[i].name);
            wsmd__winrm_kv_free(&h);
            return NULL;
        }
        if (!strcasecmp(h.v[i].name, "Object"))
            object = h.v[i].value;
    }
    if (!object) {
        wsmd__winrm_usage_error("%s", "the association filter needs Object=RESOURCE_URI?KEY=VALUE");
        wsmd__winrm_kv_free(&h);
        return NULL;
    }
    if (wsmd__winrm_parse_resource(object, uri, sizeof(uri), &osel) != 0) {
        wsmd__winrm_kv_free(&h);
        return NULL;
    }
    if (!strchr(uri, ':')) {
        /* A bare class (Object=CLASS?k=v) would go out as a relative
         * ResourceURI no server resolves: it is taken in the main resource
         * URI's namespace (that of cimv2/X, of wmicimv2/STAR), as its
         * aliases were expanded; DMTF's all-classes URI (wscim/1/STAR) is
         * cimv2's. Else refused. */
        static const char all_dmtf[] = "http://schemas.dmtf.org/wbem/wscim/1/*";
        char cimv2[MAX_URI];
        const char *base = main_uri;
        if (!strcasecmp(main_uri, all_dmtf) && wsm_resource_expand("cimv2/", cimv2, sizeof(cimv2)))
            base = cimv2;
        const char *slash = strrchr(base, '/');
        char full[MAX_URI];
        if (!slash || strchr(uri, '/') ||
            (size_t)snprintf(full, sizeof(full), "%.*s/%s", (int)(slash - base), base, uri) >=
                sizeof(full)) {
            wsmd__winrm_usage_error(
                "the association filter's Object is not a resource URI: %s (write it as "
                "the resource URI is written: cimv2/CLASS?KEY=VALUE, or a full URI)",
                object);
            wsmd__winrm_kv_free(&h);
            wsmd__winrm_kv_free(&osel);
            return NULL;
        }
        memcpy(uri, full, strlen(full) + 1);
    }
    const char *el = association_instances ? "AssociationInstances" : "AssociatedInstances";
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    if (!f) {
        wsmd__winrm_kv_free(&h);
        wsmd__winrm_kv_free(&osel);
        return NULL;
    }
    fprintf(f,
            "<b:%s xmlns:b=\"" NS_CIMBINDING "\" xmlns:a=\"" NS_WSA "\" xmlns:w=\"" NS_WSMAN
            "\"><b:Object><a:Address>" ADDR_ANONYMOUS
            "</a:Address><a:ReferenceParameters><w:ResourceURI>",
            el);
    cli_xml_text(f, uri);
    fputs("</w:ResourceURI><w:SelectorSet>", f);
    for (size_t i = 0; i < osel.n; i++) {
        fputs("<w:Selector Name=\"", f);
        cli_xml_text(f, osel.v[i].name);
        fputs("\">", f);
        cli_xml_text(f, osel.v[i].value);
        fputs("</w:Selector>", f);
    }
    fputs("</w:SelectorSet></a:ReferenceParameters></b:Object>", f);
    /* DSP0227's order. AssociationInstances has no AssociationClassName
     * or ResultRole: its ResultClassName is the association's class, which
     * AssociationClassName gives when ResultClassName is not there. */
    static const char *const associated[] = {"AssociationClassName", "Role", "ResultClassName",
                                             "ResultRole", "IncludeResultProperty"};
    static const char *const association[] = {"ResultClassName", "Role", "IncludeResultProperty"};
    const char *const *order = association_instances ? association : associated;
    size_t norder = association_instances ? 3 : 5;
    for (size_t k = 0; k < norder; k++) {
        const char *v = hash_value(&h, order[k]);
        if (!v && association_instances && k == 0)
            v = hash_value(&h, "AssociationClassName");
        if (!v)
            continue;
        fprintf(f, "<b:%s>", order[k]);
        cli_xml_text(f, v);
        fprintf(f, "</b:%s>", order[k]);
    }
    fprintf(f, "</b:%s>", el);
    fclose(f);
    wsmd__winrm_kv_free(&h);
    wsmd__winrm_kv_free(&osel);
    return out;
}
