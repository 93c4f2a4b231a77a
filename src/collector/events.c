/* wsmd__events_parse: the events of one w:Events batch. Each event is parsed
 * on its own with libxml2's SAX interface and no tree: the collector's hot
 * path, and the System fields are all it needs. A bad event costs only
 * itself: it is kept as text with well_formed = 0. */
#include "events.h"

#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "ns.h"
#include "xmlctxt.h"

/* w:Event in the namespace Windows writes (wsman.xsd) or the one DSP0226's
 * text uses (without .xsd). */
#define NS_WSMAN_BARE "http://schemas.dmtf.org/wbem/wsman/1/wsman"

enum field {
    F_NONE,
    F_EVENT_ID,
    F_LEVEL,
    F_TASK,
    F_OPCODE,
    F_KEYWORDS,
    F_RECORD_ID,
    F_CHANNEL,
    F_COMPUTER,
    F_MESSAGE,
};

struct pstate {
    struct wsm_arena *a;
    struct wsmd_event *ev;
    int depth;
    int bad; /* a DTD or too deep: not an event we parse */
    int nomem;
    int section;    /* at depth 2: 1 System, 2 RenderingInfo, 0 other */
    enum field cur; /* the field whose text is being collected */
    struct wsm_buf text;
    struct wsm_buf pad; /* the event as parsed (see parse_one) */
    /* raw texts of the numeric fields, parsed once the event is done */
    const char *event_id, *record_id, *qualifiers;
};

static const char *dup_trim(struct wsm_arena *a, const char *s, size_t n, int trim)
{
    if (trim) {
        while (n && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
            s++;
            n--;
        }
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
            n--;
    }
    return wsm__arena_strndup(a, s, n);
}

static const char **slot(struct pstate *st, enum field f)
{
    struct wsmd_event *ev = st->ev;
    switch (f) {
    case F_EVENT_ID:
        return &st->event_id;
    case F_RECORD_ID:
        return &st->record_id;
    case F_LEVEL:
        return &ev->level;
    case F_TASK:
        return &ev->task;
    case F_OPCODE:
        return &ev->opcode;
    case F_KEYWORDS:
        return &ev->keywords;
    case F_CHANNEL:
        return &ev->channel;
    case F_COMPUTER:
        return &ev->computer;
    case F_MESSAGE:
        return &ev->rendered_message;
    default:
        return NULL;
    }
}

/* attributes: (localname, prefix, URI, value, end) per attribute */
static const char *attr(struct pstate *st, int nb, const xmlChar **attrs, const char *name)
{
    for (int i = 0; i < nb; i++) {
        const xmlChar **t = attrs + 5 * i;
        if (strcmp((const char *)t[0], name) == 0 && !t[2]) {
            const char *v = dup_trim(st->a, (const char *)t[3], (size_t)(t[4] - t[3]), 0);
            if (!v)
                st->nomem = 1;
            return v;
        }
    }
    return NULL;
}

static void on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
                     int nb_namespaces, const xmlChar **namespaces, int nb_attributes,
                     int nb_defaulted, const xmlChar **attributes)
{
    (void)prefix;
    (void)uri;
    (void)nb_namespaces;
    (void)namespaces;
    (void)nb_defaulted;
    xmlParserCtxtPtr c = ctx;
    struct pstate *st = c->_private;
    const char *n = (const char *)localname;
    if (++st->depth > WSMD_EVENT_MAX_DEPTH) {
        st->bad = 1;
        xmlStopParser(c);
        return;
    }
    st->cur = F_NONE;
    if (st->depth == 1) {
        if (strcmp(n, "Event") != 0)
            st->section = -1; /* not an event: no fields */
        return;
    }
    if (st->section < 0)
        return;
    if (st->depth == 2) {
        st->section = strcmp(n, "System") == 0 ? 1 : strcmp(n, "RenderingInfo") == 0 ? 2 : 0;
        return;
    }
    if (st->depth != 3 || !st->section)
        return;
    struct wsmd_event *ev = st->ev;
    enum field f = F_NONE;
    if (st->section == 2) {
        if (strcmp(n, "Message") == 0)
            f = F_MESSAGE;
    } else {
        switch (n[0]) {
        case 'C':
            if (strcmp(n, "Channel") == 0)
                f = F_CHANNEL;
            else if (strcmp(n, "Computer") == 0)
                f = F_COMPUTER;
            break;
        case 'E':
            if (strcmp(n, "EventID") == 0) {
                f = F_EVENT_ID;
                if (!st->qualifiers)
                    st->qualifiers = attr(st, nb_attributes, attributes, "Qualifiers");
            } else if (strcmp(n, "EventRecordID") == 0) {
                f = F_RECORD_ID;
            }
            break;
        case 'K':
            if (strcmp(n, "Keywords") == 0)
                f = F_KEYWORDS;
            break;
        case 'L':
            if (strcmp(n, "Level") == 0)
                f = F_LEVEL;
            break;
        case 'O':
            if (strcmp(n, "Opcode") == 0)
                f = F_OPCODE;
            break;
        case 'P':
            if (strcmp(n, "Provider") == 0 && !ev->provider)
                ev->provider = attr(st, nb_attributes, attributes, "Name");
            break;
        case 'T':
            if (strcmp(n, "Task") == 0)
                f = F_TASK;
            else if (strcmp(n, "TimeCreated") == 0 && !ev->time_created)
                ev->time_created = attr(st, nb_attributes, attributes, "SystemTime");
            break;
        }
    }
    /* The first occurrence of a field counts. */
    if (f != F_NONE && !*slot(st, f)) {
        st->cur = f;
        wsm__buf_reset(&st->text);
    }
}

static void on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    (void)localname;
    (void)prefix;
    (void)uri;
    xmlParserCtxtPtr c = ctx;
    struct pstate *st = c->_private;
    if (st->depth == 3 && st->cur != F_NONE) {
        /* The message is kept as written; the others lose surrounding
         * whitespace that a pretty-printer may have added. */
        const char *v =
            dup_trim(st->a, st->text.data ? st->text.data : "", st->text.len, st->cur != F_MESSAGE);
        if (!v)
            st->nomem = 1;
        *slot(st, st->cur) = v;
        st->cur = F_NONE;
    }
    st->depth--;
}

static void on_text(void *ctx, const xmlChar *ch, int len)
{
    xmlParserCtxtPtr c = ctx;
    struct pstate *st = c->_private;
    if (st->cur != F_NONE && st->depth == 3 && wsm__buf_add(&st->text, ch, (size_t)len))
        st->nomem = 1;
}

static void on_dtd(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
    (void)name;
    (void)ext;
    (void)sys;
    xmlParserCtxtPtr c = ctx;
    struct pstate *st = c->_private;
    st->bad = 1;
    xmlStopParser(c);
}

/* The SAX-only callbacks of this thread's context (xmlctxt.h): no document
 * is built, only ours run. */
static void ctxt_setup(xmlParserCtxtPtr c)
{
    wsm__xmlsax_only(c, on_start, on_end, on_text);
    wsm__xmlsax_harden(c, on_dtd);
}

/* The bytes a scan inside a tag stops at: NUL (the end: texts here are
 * NUL-terminated), quotes, '=' and '>'. */
static const unsigned char tagstop[256] = {
    [0] = 1, ['"'] = 1, ['\''] = 1, ['='] = 1, ['>'] = 1,
};

void wsmd__events_thread_cleanup(void)
{
    wsm__xmlctxt_thread_free(WSM_XMLCTXT_EVENTS);
}

/* One linear pass before libxml2 sees the text: no DOCTYPE (or other
 * markup declaration), and no element with more than max attributes
 * (libxml2's duplicate check is quadratic in their number). Comments, CDATA
 * and processing instructions are skipped whole. (s[len] must be NUL.) */
static int prescan_ok(const char *s, size_t len, int max)
{
    const char *p = s, *end = s + len;
    while ((p = memchr(p, '<', (size_t)(end - p))) != NULL) {
        p++;
        const char *close = NULL;
        size_t cl = 0;
        if (p < end && *p == '!') {
            if (end - p >= 3 && p[1] == '-' && p[2] == '-') {
                close = "-->";
                cl = 3;
            } else if (end - p >= 8 && !memcmp(p, "![CDATA[", 8)) {
                close = "]]>";
                cl = 3;
            } else {
                return 0;
            }
        } else if (p < end && *p == '?') {
            close = "?>";
            cl = 2;
        }
        if (close) {
            const char *q = memmem(p, (size_t)(end - p), close, cl);
            if (!q)
                return 1; /* unterminated: the parser says so */
            p = q + cl;
            continue;
        }
        /* inside a tag: stop only at a quote, '=' or '>' (a NUL ends the text) */
        int n = 0;
        for (;;) {
            while (!tagstop[(unsigned char)*p])
                p++;
            if (p >= end)
                return 1;
            if (*p == '>')
                break;
            if (*p == '=') {
                if (++n > max)
                    return 0;
                p++;
                continue;
            }
            const char *q = memchr(p + 1, *p, (size_t)(end - p - 1));
            if (!q)
                return 1;
            p = q + 1;
        }
    }
    return 1;
}

static long long to_ll(const char *s)
{
    if (!s || !*s)
        return -1;
    long long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || v > (0x7fffffffffffffffLL - 9) / 10)
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

#define PARSE_OPTIONS                                                                              \
    (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA |               \
     XML_PARSE_NOENT | XML_PARSE_IGNORE_ENC)
/* (NOENT: attribute values come decoded, "P&amp;Q" as "P&Q". Only the five
 * predefined entities exist here: a DTD stops the parse.) */

/* Whitespace appended to each event before parsing (libxml2's INPUT_CHUNK
 * is 250). */
#define PAD 256

/* Parses ev->xml into ev's fields; well_formed says whether that worked. */
static enum wsm_err parse_one(xmlParserCtxtPtr c, struct pstate *st, struct wsmd_event *ev)
{
    struct wsmd_event blank = {
        .xml = ev->xml, .xml_len = ev->xml_len, .event_id = -1, .record_id = -1, .qualifiers = -1};
    *ev = blank;
    if (ev->xml_len > WSMD_EVENT_MAX_SIZE ||
        !prescan_ok(ev->xml, ev->xml_len, WSMD_EVENT_MAX_ATTRS))
        return WSM_OK;
    st->ev = ev;
    st->depth = 0;
    st->bad = 0;
    st->section = 0;
    st->cur = F_NONE;
    st->event_id = st->record_id = st->qualifiers = NULL;
    /* libxml2 2.9 "grows" a memory input (a buffer reallocation and a read
     * callback) at nearly every step of its last 250 bytes: a fifth of the
     * time of a 1.5 KB event. Trailing whitespace is allowed after the root
     * element, so the event is parsed with some appended, which moves that
     * slow path past the end of the event. */
    wsm__buf_reset(&st->pad);
    if (wsm__buf_reserve(&st->pad, ev->xml_len + PAD))
        return WSM_ERR_NOMEM;
    memcpy(st->pad.data, ev->xml, ev->xml_len);
    memset(st->pad.data + ev->xml_len, ' ', PAD);
    st->pad.len = ev->xml_len + PAD;
    c->_private = st;
    xmlDocPtr doc = xmlCtxtReadMemory(c, st->pad.data, (int)st->pad.len, NULL, NULL, PARSE_OPTIONS);
    c->_private = NULL;
    if (doc) /* (no startDocument callback: never built) */
        xmlFreeDoc(doc);
    if (st->nomem)
        return WSM_ERR_NOMEM;
    if (st->bad || !c->wellFormed || !c->nsWellFormed) {
        *ev = blank;
        return WSM_OK;
    }
    ev->well_formed = 1;
    ev->event_id = to_ll(st->event_id);
    ev->record_id = to_ll(st->record_id);
    ev->qualifiers = to_ll(st->qualifiers);
    return WSM_OK;
}

/* The text of one w:Event: its text and CDATA, trimmed; or, when the event
 * came as an element child, that element serialized (with the namespace
 * declarations it borrowed from the envelope). */
static enum wsm_err event_text(const xmlNode *w, struct wsm_arena *a, struct wsmd_event *ev)
{
    const xmlNode *el = NULL;
    size_t len = 0;
    for (const xmlNode *c = w->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) {
            el = c;
            break;
        }
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
            len += strlen((const char *)c->content);
    }
    if (el) {
        xmlDocPtr d = xmlNewDoc((const xmlChar *)"1.0");
        xmlBufferPtr b = xmlBufferCreate();
        xmlNodePtr copy = d ? xmlDocCopyNode((xmlNodePtr)el, d, 1) : NULL;
        enum wsm_err e = WSM_ERR_NOMEM;
        if (copy && b) {
            xmlDocSetRootElement(d, copy);
            if (xmlNodeDump(b, d, copy, 0, 0) >= 0) {
                ev->xml_len = (size_t)xmlBufferLength(b);
                ev->xml = wsm__arena_strndup(a, (const char *)xmlBufferContent(b), ev->xml_len);
                if (ev->xml)
                    e = WSM_OK;
            }
        } else if (copy) {
            xmlFreeNode(copy);
        }
        if (b)
            xmlBufferFree(b);
        if (d)
            xmlFreeDoc(d);
        return e;
    }
    char *s = wsm__arena_alloc(a, len + 1);
    if (!s)
        return WSM_ERR_NOMEM;
    size_t o = 0;
    for (const xmlNode *c = w->children; c; c = c->next)
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content) {
            size_t l = strlen((const char *)c->content);
            memcpy(s + o, c->content, l);
            o += l;
        }
    s[o] = '\0';
    size_t b = 0;
    while (b < o && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r' || s[b] == '\n'))
        b++;
    while (o > b && (s[o - 1] == ' ' || s[o - 1] == '\t' || s[o - 1] == '\r' || s[o - 1] == '\n'))
        s[--o] = '\0';
    ev->xml = s + b;
    ev->xml_len = o - b;
    return WSM_OK;
}

static int is_event(const xmlNode *n)
{
    return wsm__xml_is(n, WSM_NS_WSMAN, "Event") || wsm__xml_is(n, NS_WSMAN_BARE, "Event");
}

enum wsm_err wsmd__events_parse(const xmlNode *events, struct wsm_arena *a, size_t max_events,
                                struct wsmd_event **out, size_t *n)
{
    size_t count = 0;
    if (!a || !out || !n)
        return WSM_ERR_INVALID_ARG;
    if (events)
        for (const xmlNode *c = events->children; c; c = c->next)
            if (is_event(c) && ++count > max_events)
                return WSM_ERR_QUOTA;
    if (!count) {
        *out = NULL;
        *n = 0;
        return WSM_OK;
    }
    struct wsmd_event *v = wsm__arena_alloc(a, count * sizeof(*v));
    if (!v)
        return WSM_ERR_NOMEM;
    xmlParserCtxtPtr ctxt = wsm__xmlctxt_thread(WSM_XMLCTXT_EVENTS, ctxt_setup);
    if (!ctxt)
        return WSM_ERR_NOMEM;
    struct pstate st = {.a = a};
    wsm__buf_init(&st.text, 0);
    wsm__buf_init(&st.pad, 0);
    enum wsm_err e = WSM_OK;
    size_t i = 0;
    for (const xmlNode *c = events->children; c && !e; c = c->next) {
        if (!is_event(c))
            continue;
        v[i] = (struct wsmd_event){.event_id = -1, .record_id = -1, .qualifiers = -1};
        if (!(e = event_text(c, a, &v[i])))
            e = parse_one(ctxt, &st, &v[i]);
        i++;
    }
    wsm__buf_free(&st.text);
    wsm__buf_free(&st.pad);
    wsm__xmlctxt_done(WSM_XMLCTXT_EVENTS, ctxt);
    if (e)
        return e;
    *out = v;
    *n = count;
    return WSM_OK;
}
