/* libwsm client, management data: Pull replies read without a tree (SAX),
 * each item's XML cut from the reply text with its namespaces; anything
 * unusual falls back to the tree path. */
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
    wsm__xmlsax_only(c, fast_start, fast_end, fast_chars);
    wsm__xmlsax_harden(c, fast_dtd);
    c->sax->getEntity = fast_get_entity; /* any entity, even &amp;: the tree path takes it */
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
int wsm__cim_fast_reply(wsm_enum *en, struct wsm_buf *resp, const char *msgid, const char *op)
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
