/* Subscription files, the XML underneath: UTF-16 text, a parser that
 * refuses DTDs and says why a document is not well-formed, and the check of
 * the QueryList (shape, channel count). */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sub_priv.h"

#define PARSE_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

void wsmd__sub_seterr(char *err, size_t n, const char *fmt, ...)
{
    if (!err || !n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    /* One line whatever the text quoted from the file holds. */
    for (char *p = err; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
}

/* ---- UTF-16 files (wecutil gs /uni:true) --------------------------------- */

static int put_utf8(struct wsm_buf *b, unsigned long c)
{
    unsigned char o[4];
    size_t n;
    if (c < 0x80) {
        o[0] = (unsigned char)c;
        n = 1;
    } else if (c < 0x800) {
        o[0] = (unsigned char)(0xC0 | (c >> 6));
        o[1] = (unsigned char)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (c >> 12));
        o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        o[0] = (unsigned char)(0xF0 | (c >> 18));
        o[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
        o[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        o[3] = (unsigned char)(0x80 | (c & 0x3F));
        n = 4;
    }
    return wsm__buf_add(b, o, n) ? -1 : 0;
}

/* UTF-16 (after its BOM) to UTF-8; -1 on an odd length or a lone surrogate. */
int wsmd__sub_utf16(const unsigned char *p, size_t len, int le, struct wsm_buf *out)
{
    if (len % 2)
        return -1;
    for (size_t i = 0; i < len; i += 2) {
        unsigned long c =
            le ? (unsigned long)(p[i] | p[i + 1] << 8) : (unsigned long)(p[i] << 8 | p[i + 1]);
        if (c >= 0xDC00 && c <= 0xDFFF)
            return -1;
        if (c >= 0xD800 && c <= 0xDBFF) {
            if (i + 3 >= len)
                return -1;
            unsigned long d = le ? (unsigned long)(p[i + 2] | p[i + 3] << 8)
                                 : (unsigned long)(p[i + 2] << 8 | p[i + 3]);
            if (d < 0xDC00 || d > 0xDFFF)
                return -1;
            c = 0x10000 + ((c - 0xD800) << 10) + (d - 0xDC00);
            i += 2;
        }
        if (put_utf8(out, c))
            return -1;
    }
    return 0;
}

int wsmd__sub_contains(const char *buf, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (buf[i] == needle[0] && memcmp(buf + i, needle, n) == 0)
            return 1;
    return 0;
}

static void silent_error(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

static void silent_structured(void *ctx, xmlErrorPtr e)
{
    (void)ctx;
    (void)e;
}

/* A document type declaration stops the parser where it starts (the text
 * scan in wsmd__sub_parse misses one written in an encoding libxml2 found
 * on its own). */
static void on_dtd(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
    (void)name;
    (void)ext;
    (void)sys;
    xmlParserCtxtPtr c = ctx;
    *(int *)c->_private = 1;
    xmlStopParser(c);
}

/* Reads an XML document; NULL with err set when it is not well-formed or
 * has a DOCTYPE (*dtd then 1). */
xmlDocPtr wsmd__sub_read_doc(const char *buf, size_t len, const char *enc, const char *what,
                             int *dtd, char *err, size_t errlen)
{
    xmlParserCtxtPtr c = xmlNewParserCtxt();
    if (!c) {
        wsmd__sub_seterr(err, errlen, "out of memory");
        return NULL;
    }
    /* The reason goes to err, not to stderr. */
    c->sax->error = silent_error;
    c->sax->warning = silent_error;
    c->sax->serror = silent_structured;
    c->sax->internalSubset = on_dtd;
    c->sax->externalSubset = on_dtd;
    c->_private = dtd;
    *dtd = 0;
    xmlDocPtr doc = xmlCtxtReadMemory(c, buf, (int)len, NULL, enc, PARSE_OPTIONS);
    if (*dtd || (doc && (doc->intSubset || doc->extSubset))) {
        *dtd = 1;
        wsmd__sub_seterr(err, errlen, "%s has a DOCTYPE: refused", what);
        if (doc)
            xmlFreeDoc(doc);
        doc = NULL;
    } else if (!doc || !c->wellFormed || !c->nsWellFormed) {
        const xmlError *e = xmlCtxtGetLastError(c);
        wsmd__sub_seterr(err, errlen, "%s is not well-formed XML (line %d: %s)", what,
                         e ? e->line : 0, e && e->message ? e->message : "unexpected end");
        if (doc)
            xmlFreeDoc(doc);
        doc = NULL;
    }
    c->_private = NULL;
    xmlFreeParserCtxt(c);
    return doc;
}

/* ---- the query ------------------------------------------------------------- */

struct chans {
    const char *name[WSMD_SUB_MAX_CHANNELS + 1];
    size_t n;
};

static int add_channel(struct chans *c, const char *path)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcasecmp(c->name[i], path) == 0)
            return 0;
    if (c->n == WSMD_SUB_MAX_CHANNELS)
        return -1;
    c->name[c->n++] = path;
    return 0;
}

/* Checks the QueryList (well-formed, Query/Select shape, at most 256
 * channels) and keeps it re-serialized for the Filter: whatever the CDATA
 * held around the root (an XML declaration, comments) stays out of the
 * envelope. */
int wsmd__sub_check_query(struct wsmd_sub *s, char *err, size_t errlen)
{
    int rc = -1;
    struct chans ch = {.n = 0};
    xmlBufferPtr xb = NULL;
    int dtd;
    xmlDocPtr doc =
        wsmd__sub_read_doc(s->query, strlen(s->query), "UTF-8", "the QueryList", &dtd, err, errlen);
    if (!doc)
        return -1;
    xmlDictPtr names = xmlDictCreate();
    if (!names) {
        xmlFreeDoc(doc);
        wsmd__sub_seterr(err, errlen, "out of memory");
        return -1;
    }
    xmlNodePtr root = xmlDocGetRootElement(doc);
    if (!root || strcmp((const char *)root->name, "QueryList") != 0) {
        wsmd__sub_seterr(err, errlen, "Query: the root element is not QueryList");
        goto out;
    }
    size_t nselect = 0;
    for (xmlNodePtr q = root->children; q; q = q->next) {
        if (q->type != XML_ELEMENT_NODE)
            continue;
        if (strcmp((const char *)q->name, "Query") != 0) {
            wsmd__sub_seterr(err, errlen, "Query: unexpected element %.64s in QueryList", q->name);
            goto out;
        }
        xmlChar *qpath = xmlGetNoNsProp(q, (const xmlChar *)"Path");
        for (xmlNodePtr e = q->children; e; e = e->next) {
            if (e->type != XML_ELEMENT_NODE)
                continue;
            int sel = strcmp((const char *)e->name, "Select") == 0;
            if (!sel && strcmp((const char *)e->name, "Suppress") != 0) {
                xmlFree(qpath);
                wsmd__sub_seterr(err, errlen, "Query: unexpected element %.64s in Query", e->name);
                goto out;
            }
            nselect += sel;
            xmlChar *p = xmlGetNoNsProp(e, (const xmlChar *)"Path");
            const char *path = p ? (const char *)p : (const char *)qpath;
            if (!path || !*path) {
                xmlFree(p);
                xmlFree(qpath);
                wsmd__sub_seterr(err, errlen, "Query: a %s has no Path (and its Query none)",
                                 e->name);
                goto out;
            }
            /* xmlGetNoNsProp copies: the dictionary keeps one copy per name. */
            const char *keep = (const char *)xmlDictLookup(names, (const xmlChar *)path, -1);
            int over = keep ? add_channel(&ch, keep) : -2;
            xmlFree(p);
            if (over) {
                xmlFree(qpath);
                if (over == -2)
                    wsmd__sub_seterr(err, errlen, "out of memory");
                else
                    wsmd__sub_seterr(err, errlen,
                                     "Query names more than %d channels (Windows refuses it)",
                                     WSMD_SUB_MAX_CHANNELS);
                goto out;
            }
        }
        xmlFree(qpath);
    }
    if (!nselect) {
        wsmd__sub_seterr(err, errlen, "Query: the QueryList has no Select");
        goto out;
    }
    s->nchannels = ch.n;
    if (!(xb = xmlBufferCreate()) || xmlNodeDump(xb, doc, root, 0, 0) < 0 ||
        !(s->query_xml = strdup((const char *)xmlBufferContent(xb)))) {
        wsmd__sub_seterr(err, errlen, "out of memory");
        goto out;
    }
    rc = 0;
out:
    if (xb)
        xmlBufferFree(xb);
    xmlDictFree(names);
    xmlFreeDoc(doc);
    return rc;
}

char *wsmd__sub_dump(xmlDocPtr doc, xmlNodePtr n)
{
    xmlBufferPtr xb = xmlBufferCreate();
    char *r = NULL;
    if (xb && xmlNodeDump(xb, doc, n, 0, 0) >= 0)
        r = strdup((const char *)xmlBufferContent(xb));
    if (xb)
        xmlBufferFree(xb);
    return r;
}
