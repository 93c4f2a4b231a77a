/* Writers of a subscription: the file format back (wecutil gs /f:xml) and
 * the Subscribe envelope a source finds in the Enumerate response, element
 * for element as a Windows collector writes it (docs/internals/subscriptions.md
 * names the sources). */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ns.h"
#include "sub_priv.h"
#include "uuid.h"

#define TRY(x)                                                                                     \
    do {                                                                                           \
        enum wsm_err e_ = (x);                                                                     \
        if (e_)                                                                                    \
            return e_;                                                                             \
    } while (0)

/* <name>escaped text</name> with an indent. */
static enum wsm_err elem(struct wsm_buf *b, const char *indent, const char *name, const char *v)
{
    TRY(wsm__buf_printf(b, "%s<%s>", indent, name));
    TRY(wsm__buf_xml(b, v));
    return wsm__buf_printf(b, "</%s>\n", name);
}

/* The text in CDATA sections; a "]]>" inside is split across two. */
static enum wsm_err cdata(struct wsm_buf *b, const char *t)
{
    TRY(wsm__buf_puts(b, "<![CDATA["));
    const char *p;
    while ((p = strstr(t, "]]>"))) {
        TRY(wsm__buf_add(b, t, (size_t)(p - t) + 2));
        TRY(wsm__buf_puts(b, "]]><![CDATA["));
        t = p + 2;
    }
    TRY(wsm__buf_puts(b, t));
    return wsm__buf_puts(b, "]]>");
}

/* Space-separated items as <item> children of <list>. */
static enum wsm_err list(struct wsm_buf *b, const char *name, const char *item, const char *v)
{
    TRY(wsm__buf_printf(b, "\t\t<%s>\n", name));
    const char *p = v ? v : "";
    while (*p) {
        while (*p == ' ')
            p++;
        const char *e = strchr(p, ' ');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (!n)
            break;
        TRY(wsm__buf_printf(b, "\t\t\t<%s>", item));
        TRY(wsm__buf_xmln(b, p, n));
        TRY(wsm__buf_printf(b, "</%s>\n", item));
        p += n;
    }
    return wsm__buf_printf(b, "\t\t</%s>\n", name);
}

static enum wsm_err globs(struct wsm_buf *b, const char *name, char *const *v, size_t n)
{
    if (!n)
        return WSM_OK;
    TRY(wsm__buf_printf(b, "\t<wsmd:%s>", name));
    for (size_t i = 0; i < n; i++) {
        if (i)
            TRY(wsm__buf_puts(b, " "));
        TRY(wsm__buf_xml(b, v[i]));
    }
    return wsm__buf_printf(b, "</wsmd:%s>\n", name);
}

enum wsm_err wsmd__sub_write_xml(struct wsm_buf *out, const struct wsmd_sub *s)
{
    struct wsm_buf *b = out;
    int ext = s->nallow || s->ndeny || s->outputs != WSMD_OUT_JSONL;

    TRY(wsm__buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"));
    TRY(wsm__buf_printf(b, "<Subscription xmlns=\"%s\"", WSMD_NS_SUBFILE));
    /* Our namespace only when the file uses it: a plain Windows file stays one
     * that wecutil cs accepts. */
    if (ext)
        TRY(wsm__buf_printf(b, " xmlns:wsmd=\"%s\"", WSMD_NS_SUBEXT));
    TRY(wsm__buf_puts(b, ">\n"));
    TRY(elem(b, "\t", "SubscriptionId", s->id));
    TRY(elem(b, "\t", "SubscriptionType",
             s->source_initiated ? "SourceInitiated" : "CollectorInitiated"));
    TRY(elem(b, "\t", "Description", s->description));
    TRY(elem(b, "\t", "Enabled", s->enabled ? "true" : "false"));
    TRY(elem(b, "\t", "Uri", s->uri));
    TRY(elem(b, "\t", "ConfigurationMode", s->config_mode));
    TRY(wsm__buf_printf(b, "\t<Delivery Mode=\"%s\">\n\t\t<Batching>\n", s->delivery_mode));
    if (s->max_items)
        TRY(wsm__buf_printf(b, "\t\t\t<MaxItems>%u</MaxItems>\n", s->max_items));
    TRY(wsm__buf_printf(b,
                        "\t\t\t<MaxLatencyTime>%ld</MaxLatencyTime>\n\t\t</Batching>\n"
                        "\t\t<PushSettings>\n\t\t\t<Heartbeat Interval=\"%ld\"/>\n"
                        "\t\t</PushSettings>\n\t</Delivery>\n",
                        s->max_latency_ms, s->heartbeat_ms));
    if (s->expires)
        TRY(elem(b, "\t", "Expires", s->expires));
    TRY(wsm__buf_puts(b, "\t<Query>\n\t\t"));
    TRY(cdata(b, s->query));
    TRY(wsm__buf_puts(b, "\n\t</Query>\n"));
    TRY(elem(b, "\t", "ReadExistingEvents", s->read_existing ? "true" : "false"));
    TRY(elem(b, "\t", "TransportName", s->transport));
    if (s->transport_port)
        TRY(wsm__buf_printf(b, "\t<TransportPort>%u</TransportPort>\n", s->transport_port));
    TRY(elem(b, "\t", "ContentFormat", s->content_format));
    if (s->locale) {
        TRY(wsm__buf_puts(b, "\t<Locale Language=\""));
        TRY(wsm__buf_xml(b, s->locale));
        TRY(wsm__buf_puts(b, "\"/>\n"));
    }
    TRY(elem(b, "\t", "LogFile", s->log_file));
    if (s->publisher_name)
        TRY(elem(b, "\t", "PublisherName", s->publisher_name));
    TRY(wsm__buf_puts(b, "\t<AllowedSourceNonDomainComputers>\n"));
    TRY(list(b, "AllowedIssuerCAList", "IssuerCA", s->issuer_cas));
    TRY(list(b, "AllowedSubjectList", "Subject", s->allowed_subjects));
    TRY(list(b, "DeniedSubjectList", "Subject", s->denied_subjects));
    TRY(wsm__buf_puts(b, "\t</AllowedSourceNonDomainComputers>\n"));
    TRY(elem(b, "\t", "AllowedSourceDomainComputers", s->domain_sddl ? s->domain_sddl : ""));
    TRY(wsmd__sub_write_sources(b, s));
    TRY(globs(b, "AllowedPrincipals", s->allow, s->nallow));
    TRY(globs(b, "DeniedPrincipals", s->deny, s->ndeny));
    if (s->outputs != WSMD_OUT_JSONL) {
        static const char *const names[] = {"jsonl", "xml", "syslog"};
        TRY(wsm__buf_puts(b, "\t<wsmd:Outputs>"));
        for (unsigned i = 0, n = 0; i < 3; i++)
            if (s->outputs & (1u << i))
                TRY(wsm__buf_printf(b, "%s%s", n++ ? " " : "", names[i]));
        TRY(wsm__buf_puts(b, "</wsmd:Outputs>\n"));
    }
    return wsm__buf_puts(b, "</Subscription>\n");
}

enum wsm_err wsmd__sub_path_id(struct wsm_buf *out, const char *id)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        int keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                   (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        TRY(keep ? wsm__buf_add(out, p, 1) : wsm__buf_add(out, e, 3));
    }
    return WSM_OK;
}

/* xs:duration as Windows writes it: PT3600.000S. */
static enum wsm_err duration(struct wsm_buf *b, const char *name, long ms)
{
    return wsm__buf_printf(b, "<w:%s>PT%ld.%03ldS</w:%s>", name, ms / 1000, ms % 1000, name);
}

/* The stored BookmarkList came from a source: it goes back out only as a
 * re-serialized BookmarkList element, never as raw text. NULL when it is not
 * one (the source then starts as if none were stored). */
static char *clean_bookmark(const char *xml)
{
    if (!xml || !*xml)
        return NULL;
    size_t len = strlen(xml);
    if (len > 1024 * 1024 || wsmd__sub_contains(xml, len, "<!DOCTYPE") ||
        wsmd__sub_contains(xml, len, "<!ENTITY"))
        return NULL;
    int dtd;
    xmlDocPtr doc = wsmd__sub_read_doc(xml, len, "UTF-8", "the bookmark", &dtd, NULL, 0);
    if (!doc)
        return NULL;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    char *r = root && strcmp((const char *)root->name, "BookmarkList") == 0
                  ? wsmd__sub_dump(doc, root)
                  : NULL;
    xmlFreeDoc(doc);
    return r;
}

static enum wsm_err address(struct wsm_buf *b, const struct wsmd_sub *s,
                            const struct wsmd_sub_ctx *ctx)
{
    TRY(wsm__buf_puts(b, "<a:Address>"));
    TRY(wsm__buf_xml(b, ctx->notify_base));
    /* notify_base has no path; tolerate a trailing slash. */
    if (b->len && b->data[b->len - 1] == '/')
        b->data[--b->len] = '\0';
    struct wsm_buf id;
    wsm__buf_init(&id, 4096);
    enum wsm_err e = wsmd__sub_path_id(&id, s->id);
    if (!e)
        e = wsm__buf_printf(b, "/wsman/subscriptions/%s</a:Address>", id.data);
    wsm__buf_free(&id);
    TRY(e);
    return wsm__buf_printf(b,
                           "<a:ReferenceProperties><e:Identifier>%s</e:Identifier>"
                           "</a:ReferenceProperties>",
                           s->version);
}

#define SECPROFILE "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/"

/* The WS-Policy of NotifyTo: how the source authenticates its deliveries.
 * Over HTTPS with issuer thumbprints: a client certificate from one of those
 * CAs (one alternative per CA); otherwise Kerberos (SPNEGO). */
static enum wsm_err policy(struct wsm_buf *b, const struct wsmd_sub *s,
                           const struct wsmd_sub_ctx *ctx)
{
    int https = strncasecmp(ctx->notify_base, "https:", 6) == 0;
    const char *thumbs = ctx->issuer_thumbprints && *ctx->issuer_thumbprints
                             ? ctx->issuer_thumbprints
                             : s->issuer_cas;
    TRY(wsm__buf_puts(b, "<c:Policy xmlns:c=\"http://schemas.xmlsoap.org/ws/2002/12/policy\" "
                         "xmlns:auth=\"http://schemas.microsoft.com/wbem/wsman/1/authentication\">"
                         "<c:ExactlyOne>"));
    int any = 0;
    if (https && thumbs) {
        const char *p = thumbs;
        while (*p) {
            while (*p == ' ' || *p == ',')
                p++;
            size_t n = strcspn(p, " ,");
            if (!n)
                break;
            TRY(wsm__buf_puts(b, "<c:All><auth:Authentication Profile=\"" SECPROFILE
                                 "https/mutual\"><auth:ClientCertificate>"
                                 "<auth:Thumbprint Role=\"issuer\">"));
            TRY(wsm__buf_xmln(b, p, n));
            TRY(wsm__buf_puts(b, "</auth:Thumbprint></auth:ClientCertificate>"
                                 "</auth:Authentication></c:All>"));
            p += n;
            any = 1;
        }
    }
    if (!any)
        TRY(wsm__buf_printf(b,
                            "<c:All><auth:Authentication Profile=\"" SECPROFILE
                            "%s/spnego-kerberos\"></auth:Authentication></c:All>",
                            https ? "https" : "http"));
    return wsm__buf_puts(b, "</c:ExactlyOne></c:Policy>");
}

static enum wsm_err locale(struct wsm_buf *b, const char *lang)
{
    TRY(wsm__buf_puts(b, "<w:Locale xml:lang=\""));
    TRY(wsm__buf_xml(b, lang));
    TRY(wsm__buf_puts(b, "\" s:mustUnderstand=\"false\"/><p:DataLocale xml:lang=\""));
    TRY(wsm__buf_xml(b, lang));
    return wsm__buf_puts(b, "\" s:mustUnderstand=\"false\"/>");
}

static enum wsm_err subscribe(struct wsm_buf *b, const struct wsmd_sub *s,
                              const struct wsmd_sub_ctx *ctx, const char *bookmark)
{
    char msgid[WSM_UUID_STRLEN], opid[WSM_UUID_STRLEN];
    const char *lang = s->locale ? s->locale : "en-US";
    wsm__uuid_urn(msgid);
    wsm__uuid_urn(opid);

    TRY(wsm__buf_puts(b, "<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\" xmlns:a=\"" WSM_NS_WSA
                         "\" xmlns:e=\"" WSM_NS_WSEV "\" xmlns:n=\"" WSM_NS_WSEN
                         "\" xmlns:w=\"" WSM_NS_WSMAN "\" xmlns:p=\"" WSM_NS_MSWSMAN "\">"
                         "<s:Header><a:To>" WSM_ADDR_ANONYMOUS "</a:To>"
                         "<w:ResourceURI s:mustUnderstand=\"true\">"));
    TRY(wsm__buf_xml(b, s->uri));
    TRY(wsm__buf_printf(
        b,
        "</w:ResourceURI><a:ReplyTo><a:Address s:mustUnderstand=\"true\">" WSM_ADDR_ANONYMOUS
        "</a:Address></a:ReplyTo>"
        "<a:Action s:mustUnderstand=\"true\">" WSM_NS_WSEV "/Subscribe</a:Action>"
        "<w:MaxEnvelopeSize s:mustUnderstand=\"true\">512000</w:MaxEnvelopeSize>"
        "<a:MessageID>%s</a:MessageID>",
        msgid));
    TRY(locale(b, lang));
    TRY(wsm__buf_printf(b,
                        "<p:OperationID s:mustUnderstand=\"false\">%s</p:OperationID>"
                        "<p:SequenceId s:mustUnderstand=\"false\">1</p:SequenceId>"
                        "<w:OptionSet xmlns:xsi=\"" WSM_NS_XSI "\">"
                        "<w:Option Name=\"SubscriptionName\">",
                        opid));
    TRY(wsm__buf_xml(b, s->id));
    TRY(wsm__buf_printf(
        b,
        "</w:Option><w:Option Name=\"Compression\">SLDC</w:Option>"
        "<w:Option Name=\"CDATA\" xsi:nil=\"true\"/>"
        "<w:Option Name=\"ContentFormat\">%s</w:Option>"
        "<w:Option Name=\"IgnoreChannelError\" xsi:nil=\"true\"/>%s"
        "</w:OptionSet></s:Header>",
        strcmp(s->content_format, "Events") == 0 ? "Raw" : "RenderedText",
        s->read_existing ? "<w:Option Name=\"ReadExistingEvents\" xsi:nil=\"true\"/>" : ""));

    TRY(wsm__buf_puts(b, "<s:Body><e:Subscribe><e:EndTo>"));
    TRY(address(b, s, ctx));
    TRY(wsm__buf_puts(b, "</e:EndTo><e:Delivery Mode=\"http://schemas.dmtf.org/wbem/wsman/1/"
                         "wsman/Events\">"));
    TRY(duration(b, "Heartbeats", s->heartbeat_ms));
    TRY(wsm__buf_puts(b, "<e:NotifyTo>"));
    TRY(address(b, s, ctx));
    TRY(policy(b, s, ctx));
    TRY(wsm__buf_puts(b,
                      "</e:NotifyTo><w:ConnectionRetry Total=\"5\">PT60.0S</w:ConnectionRetry>"));
    if (s->max_items)
        TRY(wsm__buf_printf(b, "<w:MaxElements>%u</w:MaxElements>", s->max_items));
    TRY(duration(b, "MaxTime", s->max_latency_ms));
    TRY(wsm__buf_puts(b, "<w:MaxEnvelopeSize Policy=\"Notify\">512000</w:MaxEnvelopeSize>"));
    TRY(locale(b, lang));
    TRY(wsm__buf_puts(b, "<w:ContentEncoding>UTF-16</w:ContentEncoding></e:Delivery>"
                         "<w:Filter Dialect=\"http://schemas.microsoft.com/win/2004/08/events/"
                         "eventquery\">"));
    TRY(wsm__buf_puts(b, s->query_xml));
    TRY(wsm__buf_puts(b, "</w:Filter>"));
    if (bookmark) {
        TRY(wsm__buf_puts(b, "<w:Bookmark>"));
        TRY(wsm__buf_puts(b, bookmark));
        TRY(wsm__buf_puts(b, "</w:Bookmark>"));
    } else if (s->read_existing) {
        TRY(wsm__buf_puts(b, "<w:Bookmark>http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/"
                             "earliest</w:Bookmark>"));
    }
    return wsm__buf_puts(b, "<w:SendBookmarks/></e:Subscribe></s:Body></s:Envelope>");
}

enum wsm_err wsmd__sub_write_subscribe(struct wsm_buf *out, const struct wsmd_sub *s,
                                       const struct wsmd_sub_ctx *ctx)
{
    if (!out || !s || !ctx || !ctx->notify_base || !*ctx->notify_base || !s->query_xml)
        return WSM_ERR_INVALID_ARG;
    char *bm = clean_bookmark(ctx->bookmark_xml);
    size_t mark = out->len;
    enum wsm_err e = subscribe(out, s, ctx, bm);
    free(bm);
    if (e) {
        /* Nothing half-written stays in the caller's buffer. */
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
    }
    return e;
}
