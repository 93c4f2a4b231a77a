/* The messages a source sends to a collector, as Windows writes them (the
 * capture in ../shared/protocol/eventing.md): the Enumerate of the
 * subscription manager, Events batches (w:Events of w:Event, each event in
 * CDATA), Heartbeats, SubscriptionEnd; then the body's encoding on the
 * wire (UTF-16LE with a BOM, SLDC) and the Ack check of the reply. */
#include <libxml/tree.h>
#include <stdio.h>
#include <string.h>

#include "envelope.h"
#include "forwarder.h"
#include "ns.h"
#include "sldc.h"
#include "uuid.h"

#define TRY(x)                                                                                     \
    do {                                                                                           \
        enum wsm_err e_ = (x);                                                                     \
        if (e_)                                                                                    \
            return e_;                                                                             \
    } while (0)

#define ENV_OPEN                                                                                   \
    "<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\" xmlns:a=\"" WSM_NS_WSA "\" xmlns:e=\"" WSM_NS_WSEV    \
    "\" xmlns:n=\"" WSM_NS_WSEN "\" xmlns:w=\"" WSM_NS_WSMAN "\" xmlns:p=\"" WSM_NS_MSWSMAN "\">"
#define WSMAN_URI "http://schemas.dmtf.org/wbem/wsman/1/wsman/"
#define MACHINE_NS "http://schemas.microsoft.com/wbem/wsman/1/machineid"

static enum wsm_err head(struct wsm_buf *b, const char *to, const char *action, const char *rsrc,
                         const char *machine_id, char msgid[64])
{
    wsm__uuid_urn(msgid);
    TRY(wsm__buf_puts(b, ENV_OPEN "<s:Header><a:To>"));
    TRY(wsm__buf_xml(b, to));
    TRY(wsm__buf_puts(b, "</a:To>"));
    if (rsrc)
        TRY(wsm__buf_printf(b, "<w:ResourceURI s:mustUnderstand=\"true\">%s</w:ResourceURI>",
                            rsrc));
    if (machine_id) {
        TRY(wsm__buf_puts(b,
                          "<m:MachineID xmlns:m=\"" MACHINE_NS "\" s:mustUnderstand=\"false\">"));
        TRY(wsm__buf_xml(b, machine_id));
        TRY(wsm__buf_puts(b, "</m:MachineID>"));
    }
    return wsm__buf_printf(b,
                           "<a:ReplyTo><a:Address s:mustUnderstand=\"true\">" WSM_ADDR_ANONYMOUS
                           "</a:Address></a:ReplyTo><a:Action s:mustUnderstand=\"true\">%s"
                           "</a:Action><w:MaxEnvelopeSize s:mustUnderstand=\"true\">512000"
                           "</w:MaxEnvelopeSize><a:MessageID>%s</a:MessageID>"
                           "<w:OperationTimeout>PT60.000S</w:OperationTimeout>",
                           action, msgid);
}

enum wsm_err wsmd__fwd_enumerate_msg(struct wsm_buf *b, const char *to, const char *machine_id,
                                     char msgid[64])
{
    TRY(head(b, to, WSM_NS_WSEN "/Enumerate", WSMD_FWD_RESOURCE, machine_id, msgid));
    return wsm__buf_puts(b, "</s:Header><s:Body><n:Enumerate><w:OptimizeEnumeration/>"
                            "<w:MaxElements>32000</w:MaxElements></n:Enumerate></s:Body>"
                            "</s:Envelope>");
}

enum wsm_err wsmd__fwd_pull_msg(struct wsm_buf *b, const char *to, const char *context,
                                char msgid[64])
{
    TRY(head(b, to, WSM_NS_WSEN "/Pull", WSMD_FWD_RESOURCE, NULL, msgid));
    TRY(wsm__buf_puts(b, "</s:Header><s:Body><n:Pull><n:EnumerationContext>"));
    TRY(wsm__buf_xml(b, context));
    return wsm__buf_puts(b, "</n:EnumerationContext><w:MaxElements>32000</w:MaxElements>"
                            "</n:Pull></s:Body></s:Envelope>");
}

/* Event text in CDATA: "]]>" cannot appear inside one, so it is split
 * across two sections. */
static enum wsm_err cdata(struct wsm_buf *b, const char *p, size_t n)
{
    TRY(wsm__buf_puts(b, "<![CDATA["));
    while (n) {
        const char *m = memmem(p, n, "]]>", 3);
        size_t k = m ? (size_t)(m - p) + 2 : n;
        TRY(wsm__buf_add(b, p, k));
        if (!m)
            break;
        TRY(wsm__buf_puts(b, "]]><![CDATA["));
        p += k;
        n -= k;
    }
    return wsm__buf_puts(b, "]]>");
}

/* Splits a run of <Event> elements as the reader appended them: each
 * starts with "<Event " or "<Event>" at top level (the reader writes no
 * other text between them). */
static const char *next_event(const char *p, const char *end)
{
    for (const char *q = p + 1; q + 7 <= end; q++) {
        q = memchr(q, '<', (size_t)(end - q));
        if (!q || q + 7 > end)
            return end;
        if (!memcmp(q, "<Event", 6) && (q[6] == ' ' || q[6] == '>') && q > p &&
            !memcmp(q - 8, "</Event>", 8))
            return q;
    }
    return end;
}

enum wsm_err wsmd__fwd_delivery_msg(struct wsm_buf *b, const struct wsmd_fwdsub *s,
                                    enum wsmd_fwd_kind kind, const char *events, size_t elen,
                                    const char *bookmark, char msgid[64])
{
    const char *to = kind == WSMD_FWD_END && s->end_to ? s->end_to : s->notify_to;
    const char *ref = kind == WSMD_FWD_END && s->end_to ? s->end_ref : s->notify_ref;
    const char *action = kind == WSMD_FWD_EVENTS      ? WSMAN_URI "Events"
                         : kind == WSMD_FWD_HEARTBEAT ? WSMAN_URI "Heartbeat"
                                                      : WSM_NS_WSEV "/SubscriptionEnd";
    TRY(head(b, to, action, NULL, NULL, msgid));
    const char *lang = s->locale ? s->locale : "en-US";
    TRY(wsm__buf_puts(b, "<w:Locale xml:lang=\""));
    TRY(wsm__buf_xml(b, lang));
    TRY(wsm__buf_puts(b, "\" s:mustUnderstand=\"false\"/>"));
    if (ref)
        TRY(wsm__buf_puts(b, ref)); /* rebuilt and escaped by fwdsub.c */
    if (bookmark && *bookmark && kind != WSMD_FWD_END && s->send_bookmarks) {
        TRY(wsm__buf_puts(b, "<w:Bookmark>"));
        TRY(wsm__buf_puts(b, bookmark)); /* our reader's own BookmarkList */
        TRY(wsm__buf_puts(b, "</w:Bookmark>"));
    }
    TRY(wsm__buf_puts(b, "<w:AckRequested/></s:Header><s:Body>"));
    if (kind == WSMD_FWD_END) {
        TRY(wsm__buf_puts(b, "<e:SubscriptionEnd><e:SubscriptionManager><a:Address>"));
        TRY(wsm__buf_xml(b, to));
        TRY(wsm__buf_puts(b, "</a:Address></e:SubscriptionManager><e:Status>" WSM_NS_WSEV
                             "/SourceCancelling</e:Status></e:SubscriptionEnd>"));
    } else {
        TRY(wsm__buf_puts(b, "<w:Events>"));
        const char *p = events, *end = events ? events + elen : NULL;
        while (p && p < end) {
            const char *q = next_event(p, end);
            TRY(wsm__buf_puts(b, "<w:Event Action=\"" WSMAN_URI "Event\">"));
            TRY(cdata(b, p, (size_t)(q - p)));
            TRY(wsm__buf_puts(b, "</w:Event>"));
            p = q;
        }
        TRY(wsm__buf_puts(b, "</w:Events>"));
    }
    return wsm__buf_puts(b, "</s:Body></s:Envelope>");
}

/* UTF-8 to UTF-16LE. The reader writes valid UTF-8; a byte that is not
 * becomes U+FFFD rather than failing the batch. */
static enum wsm_err utf16(const unsigned char *p, size_t n, struct wsm_buf *out)
{
    TRY(wsm__buf_reserve(out, 2 * n + 2));
    unsigned char *o = (unsigned char *)out->data + out->len;
    *o++ = 0xFF;
    *o++ = 0xFE;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i], need = 0;
        if (c < 0x80) {
            need = 0;
        } else if ((c & 0xE0) == 0xC0 && c >= 0xC2) {
            c &= 0x1F, need = 1;
        } else if ((c & 0xF0) == 0xE0) {
            c &= 0x0F, need = 2;
        } else if ((c & 0xF8) == 0xF0 && c <= 0xF4) {
            c &= 0x07, need = 3;
        } else {
            c = 0xFFFD, need = 0;
        }
        size_t j = 1;
        for (; j <= need && i + j < n && (p[i + j] & 0xC0) == 0x80; j++)
            c = (c << 6) | (p[i + j] & 0x3F);
        if (j <= need || (need == 2 && (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF))) ||
            (need == 3 && (c < 0x10000 || c > 0x10FFFF))) {
            c = 0xFFFD;
            j = j > 1 ? j : 1;
        }
        i += j;
        if (c >= 0x10000) {
            c -= 0x10000;
            unsigned hi = 0xD800 | (c >> 10), lo = 0xDC00 | (c & 0x3FF);
            *o++ = (unsigned char)hi, *o++ = (unsigned char)(hi >> 8);
            *o++ = (unsigned char)lo, *o++ = (unsigned char)(lo >> 8);
        } else {
            *o++ = (unsigned char)c, *o++ = (unsigned char)(c >> 8);
        }
    }
    out->len = (size_t)(o - (unsigned char *)out->data);
    return WSM_OK;
}

enum wsm_err wsmd__fwd_encode(const struct wsmd_fwdsub *s, const char *xml, size_t len,
                              struct wsm_buf *out)
{
    struct wsm_buf u;
    wsm__buf_init(&u, 0);
    const unsigned char *p = (const unsigned char *)xml;
    size_t n = len;
    enum wsm_err e = WSM_OK;
    if (s->utf16) {
        /* 4 bytes per UTF-8 byte at most (surrogate pairs come from 4). */
        wsm__buf_init(&u, 2 * len + 16);
        if ((e = utf16(p, len, &u)))
            goto out;
        p = (const unsigned char *)u.data;
        n = u.len;
    }
    if (s->sldc)
        e = wsm__sldc_compress(p, n, out);
    else
        e = wsm__buf_add(out, p, n);
out:
    wsm__buf_free(&u);
    return e;
}

int wsmd__fwd_is_ack(const char *xml, size_t len, const char *msgid)
{
    struct wsm_limits lim = {.max_size = 1u << 20, .response = 1};
    struct wsm_envelope *env = NULL;
    if (wsm__envelope_parse(xml, len, &lim, &env, NULL, 0) != WSM_OK)
        return 0;
    int ok = env->action && !strcmp(env->action, WSMAN_URI "Ack") && env->relates_to &&
             !strcmp(env->relates_to, msgid);
    wsm__envelope_free(env);
    return ok;
}
