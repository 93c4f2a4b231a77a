/* Unit tests for the subscription writers (src/collector/subwrite.c): the
 * file format back (round trip) and the Subscribe envelope, read back with
 * libxml2 and XPath. */
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "subtest.h"

static void test_write_xml(void **state)
{
    (void)state;
    struct wsmd_sub *s = load("ForwardedSecurity.xml");
    round_trip(s);
    wsmd__sub_free(s);
    s = load("DomainControllers.xml");
    round_trip(s);
    wsmd__sub_free(s);
    /* Text that needs escaping, "]]>" in the query, every optional element. */
    s = parse_q(
        "<SubscriptionType>CollectorInitiated</SubscriptionType>"
        "<Description>a &lt;b&gt; &amp; \"c\" 'd'</Description>"
        "<Delivery Mode=\"Pull\"/><TransportPort>5985</TransportPort>"
        "<Expires>2030-01-01T00:00:00Z</Expires><PublisherName>P&amp;Q"
        "</PublisherName><AllowedSourceNonDomainComputers><AllowedSubjectList>"
        "<Subject>*.example.com</Subject><Subject>ws1.other.org</Subject>"
        "</AllowedSubjectList><DeniedSubjectList>bad.example.com"
        "</DeniedSubjectList></AllowedSourceNonDomainComputers>"
        "<wsmd:Outputs>xml</wsmd:Outputs>",
        "<QueryList><Query Id=\"0\"><Select Path=\"odd]]]]><![CDATA[>name\">*[System[(EventID"
        "&gt;4)]]</Select></Query></QueryList>");
    assert_string_equal(s->description, "a <b> & \"c\" 'd'");
    assert_string_equal(s->allowed_subjects, "*.example.com ws1.other.org");
    assert_string_equal(s->denied_subjects, "bad.example.com");
    assert_non_null(strstr(s->query, "odd]]>name"));
    round_trip(s);
    wsmd__sub_free(s);
}

/* ---- the Subscribe envelope
 * ------------------------------------------------------------------------ */

struct env {
    xmlDocPtr doc;
    xmlXPathContextPtr xp;
    char *text;
};

static void env_open(struct env *e, const struct wsmd_sub *s, const struct wsmd_sub_ctx *ctx)
{
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    assert_int_equal(wsmd__sub_write_subscribe(&b, s, ctx), WSM_OK);
    e->doc = xmlReadMemory(b.data, (int)b.len, NULL, NULL, XML_PARSE_NONET);
    if (!e->doc)
        fprintf(stderr, "%s\n", b.data);
    assert_non_null(e->doc);
    e->text = wsm__buf_steal(&b, NULL);
    e->xp = xmlXPathNewContext(e->doc);
    static const char *const ns[][2] = {
        {"s", "http://www.w3.org/2003/05/soap-envelope"},
        {"a", "http://schemas.xmlsoap.org/ws/2004/08/addressing"},
        {"e", "http://schemas.xmlsoap.org/ws/2004/08/eventing"},
        {"w", "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"},
        {"p", "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"},
        {"c", "http://schemas.xmlsoap.org/ws/2002/12/policy"},
        {"auth", "http://schemas.microsoft.com/wbem/wsman/1/authentication"},
        {"xsi", "http://www.w3.org/2001/XMLSchema-instance"},
    };
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
        xmlXPathRegisterNs(e->xp, (const xmlChar *)ns[i][0], (const xmlChar *)ns[i][1]);
}

static void env_close(struct env *e)
{
    xmlXPathFreeContext(e->xp);
    xmlFreeDoc(e->doc);
    free(e->text);
}

/* The string value of an XPath expression ("" when nothing matches). */
static char *xs(struct env *e, const char *expr)
{
    static char out[4096];
    char q[1024];
    snprintf(q, sizeof(q), "string(%s)", expr);
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)q, e->xp);
    assert_non_null(o);
    snprintf(out, sizeof(out), "%s", o->stringval ? (const char *)o->stringval : "");
    xmlXPathFreeObject(o);
    return out;
}

static int xcount(struct env *e, const char *expr)
{
    char q[1024];
    snprintf(q, sizeof(q), "count(%s)", expr);
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)q, e->xp);
    assert_non_null(o);
    int n = (int)o->floatval;
    xmlXPathFreeObject(o);
    return n;
}

#define H "/s:Envelope/s:Header/"
#define SUB "/s:Envelope/s:Body/e:Subscribe/"
#define DEL SUB "e:Delivery/"

static void test_subscribe_http(void **state)
{
    (void)state;
    struct wsmd_sub *s = load("ForwardedSecurity.xml");
    struct wsmd_sub_ctx ctx = {.notify_base = "http://wec.example.com:5985"};
    struct env e;
    env_open(&e, s, &ctx);
    assert_string_equal(xs(&e, H "a:Action"), "http://schemas.xmlsoap.org/ws/2004/08/eventing/"
                                              "Subscribe");
    assert_string_equal(xs(&e, H "a:To"),
                        "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous");
    assert_string_equal(xs(&e, H "w:ResourceURI"),
                        "http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog");
    assert_true(strncmp(xs(&e, H "a:MessageID"), "uuid:", 5) == 0);
    assert_string_equal(xs(&e, H "w:MaxEnvelopeSize"), "512000");
    assert_string_equal(xs(&e, H "w:Locale/@xml:lang"), "en-US");
    assert_string_equal(xs(&e, H "w:OptionSet/w:Option[@Name='SubscriptionName']"),
                        "ForwardedSecurity");
    assert_string_equal(xs(&e, H "w:OptionSet/w:Option[@Name='Compression']"), "SLDC");
    assert_string_equal(xs(&e, H "w:OptionSet/w:Option[@Name='CDATA']/@xsi:nil"), "true");
    assert_string_equal(xs(&e, H "w:OptionSet/w:Option[@Name='ContentFormat']"), "RenderedText");
    assert_string_equal(xs(&e, H "w:OptionSet/w:Option[@Name='IgnoreChannelError']/@xsi:nil"),
                        "true");
    assert_int_equal(xcount(&e, H "w:OptionSet/w:Option[@Name='ReadExistingEvents']"), 0);

    const char *addr = "http://wec.example.com:5985/wsman/subscriptions/ForwardedSecurity";
    assert_string_equal(xs(&e, SUB "e:EndTo/a:Address"), addr);
    assert_string_equal(xs(&e, SUB "e:EndTo/a:ReferenceProperties/e:Identifier"), s->version);
    assert_string_equal(xs(&e, SUB "e:Delivery/@Mode"),
                        "http://schemas.dmtf.org/wbem/wsman/1/wsman/Events");
    assert_string_equal(xs(&e, DEL "w:Heartbeats"), "PT900.000S");
    assert_string_equal(xs(&e, DEL "e:NotifyTo/a:Address"), addr);
    assert_string_equal(xs(&e, DEL "e:NotifyTo/a:ReferenceProperties/e:Identifier"), s->version);
    assert_string_equal(
        xs(&e, DEL "e:NotifyTo/c:Policy/c:ExactlyOne/c:All/auth:Authentication/@Profile"),
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos");
    assert_int_equal(xcount(&e, "//auth:Thumbprint"), 0);
    assert_string_equal(xs(&e, DEL "w:ConnectionRetry/@Total"), "5");
    assert_string_equal(xs(&e, DEL "w:ConnectionRetry"), "PT60.0S");
    assert_string_equal(xs(&e, DEL "w:MaxElements"), "5");
    assert_string_equal(xs(&e, DEL "w:MaxTime"), "PT900.000S");
    assert_string_equal(xs(&e, DEL "w:MaxEnvelopeSize"), "512000");
    assert_string_equal(xs(&e, DEL "w:MaxEnvelopeSize/@Policy"), "Notify");
    assert_string_equal(xs(&e, DEL "w:ContentEncoding"), "UTF-16");
    assert_string_equal(xs(&e, SUB "w:Filter/@Dialect"),
                        "http://schemas.microsoft.com/win/2004/08/events/eventquery");
    assert_int_equal(xcount(&e, SUB "w:Filter/QueryList/Query"), 2);
    assert_string_equal(xs(&e, SUB "w:Filter/QueryList/Query[2]/Select[1]/@Path"), "System");
    assert_int_equal(xcount(&e, SUB "w:Bookmark"), 0);
    assert_int_equal(xcount(&e, SUB "w:SendBookmarks"), 1);
    /* The element order of the Windows capture. */
    assert_string_equal(xs(&e, "name(" DEL "*[1])"), "w:Heartbeats");
    assert_string_equal(xs(&e, "name(" DEL "*[2])"), "e:NotifyTo");
    assert_string_equal(xs(&e, "name(" DEL "*[3])"), "w:ConnectionRetry");
    assert_string_equal(xs(&e, "name(" DEL "*[4])"), "w:MaxElements");
    assert_string_equal(xs(&e, "name(" DEL "*[5])"), "w:MaxTime");
    assert_string_equal(xs(&e, "name(" SUB "*[1])"), "e:EndTo");
    assert_string_equal(xs(&e, "name(" SUB "*[3])"), "w:Filter");
    assert_string_equal(xs(&e, "name(" SUB "*[last()])"), "w:SendBookmarks");
    env_close(&e);

    /* The stored bookmark goes back as a BookmarkList. */
    ctx.bookmark_xml = "<BookmarkList><Bookmark Channel=\"Security\" RecordId=\"149140\" "
                       "IsCurrent=\"true\"/><Bookmark Channel=\"System\" RecordId=\"77\"/>"
                       "</BookmarkList>";
    env_open(&e, s, &ctx);
    assert_string_equal(xs(&e, SUB "w:Bookmark/BookmarkList/Bookmark[1]/@RecordId"), "149140");
    assert_string_equal(xs(&e, SUB "w:Bookmark/BookmarkList/Bookmark[2]/@Channel"), "System");
    assert_string_equal(xs(&e, "name(" SUB "*[4])"), "w:Bookmark");
    env_close(&e);
    /* One that is not a BookmarkList (it came from the network) is dropped,
     * never pasted. */
    ctx.bookmark_xml = "</w:Bookmark><evil/><w:Bookmark>";
    env_open(&e, s, &ctx);
    assert_int_equal(xcount(&e, "//evil"), 0);
    assert_int_equal(xcount(&e, SUB "w:Bookmark"), 0);
    env_close(&e);
    ctx.bookmark_xml = "<Evil/>";
    env_open(&e, s, &ctx);
    assert_int_equal(xcount(&e, "//Evil"), 0);
    env_close(&e);
    wsmd__sub_free(s);
}

static void test_subscribe_https(void **state)
{
    (void)state;
    struct wsmd_sub *s = load("DomainControllers.xml");
    struct wsmd_sub_ctx ctx = {.notify_base = "https://wec.example.com:5986/",
                               .machine_id = "dc1.example.com"};
    struct env e;
    env_open(&e, s, &ctx);
    assert_string_equal(xs(&e, DEL "e:NotifyTo/a:Address"),
                        "https://wec.example.com:5986/wsman/subscriptions/DomainControllers");
    assert_string_equal(xs(&e, H "w:OptionSet/w:Option[@Name='ContentFormat']"), "Raw");
    assert_string_equal(xs(&e, H "w:OptionSet/w:Option[@Name='ReadExistingEvents']/@xsi:nil"),
                        "true");
    assert_string_equal(xs(&e, "//auth:Authentication/@Profile"),
                        "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual");
    /* No thumbprints from the configuration: the file's IssuerCA. */
    assert_string_equal(xs(&e, "//auth:ClientCertificate/auth:Thumbprint"),
                        "3A9F0C1157B244D09E6A1B2C3D4E5F60718293A4");
    assert_string_equal(xs(&e, "//auth:Thumbprint/@Role"), "issuer");
    assert_string_equal(xs(&e, DEL "w:MaxElements"), "50");
    assert_string_equal(xs(&e, DEL "w:MaxTime"), "PT10.000S");
    assert_string_equal(xs(&e, DEL "w:Heartbeats"), "PT300.000S");
    /* ReadExistingEvents and nothing stored: from the earliest event. */
    assert_string_equal(xs(&e, SUB "w:Bookmark"),
                        "http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest");
    assert_int_equal(xcount(&e, SUB "w:Filter/QueryList/Query/Select"), 3);
    env_close(&e);

    /* The configuration's issuers: one alternative each. */
    ctx.issuer_thumbprints = "1111111111111111111111111111111111111111 "
                             "2222222222222222222222222222222222222222";
    env_open(&e, s, &ctx);
    assert_int_equal(xcount(&e, "//c:ExactlyOne/c:All"), 2);
    assert_string_equal(xs(&e, "(//auth:Thumbprint)[2]"),
                        "2222222222222222222222222222222222222222");
    env_close(&e);
    /* A stored bookmark wins over "earliest". */
    ctx.bookmark_xml = "<BookmarkList><Bookmark Channel=\"Security\" RecordId=\"5\"/>"
                       "</BookmarkList>";
    env_open(&e, s, &ctx);
    assert_string_equal(xs(&e, SUB "w:Bookmark/BookmarkList/Bookmark/@RecordId"), "5");
    env_close(&e);
    wsmd__sub_free(s);

    /* HTTPS without any issuer: Kerberos over HTTPS. */
    s = load("ForwardedSecurity.xml");
    ctx = (struct wsmd_sub_ctx){.notify_base = "https://wec.example.com:5986"};
    env_open(&e, s, &ctx);
    assert_string_equal(xs(&e, "//auth:Authentication/@Profile"),
                        "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/"
                        "spnego-kerberos");
    env_close(&e);
    wsmd__sub_free(s);
}

static void test_subscribe_escaping(void **state)
{
    (void)state;
    /* A name with a space and an ampersand, MinLatency (no MaxElements), a
     * query with its own XML declaration and comments around the root. */
    struct wsmd_sub *s =
        parse_q("<SubscriptionType>SourceInitiated</SubscriptionType>"
                "<ConfigurationMode>MinLatency</ConfigurationMode>"
                "<Uri>http://example.com/r?a=1&amp;b=2</Uri>"
                "<Locale Language=\"de-DE\"/>",
                "<?xml version=\"1.0\"?><!-- c --><QueryList><Query Id=\"0\">"
                "<Select Path=\"A&amp;B\">*</Select></Query></QueryList><!-- d -->");
    free(s->id);
    s->id = strdup("Forwarded & Co");
    struct wsmd_sub_ctx ctx = {.notify_base = "http://wec.example.com:5985"};
    struct env e;
    env_open(&e, s, &ctx);
    assert_string_equal(xs(&e, DEL "e:NotifyTo/a:Address"),
                        "http://wec.example.com:5985/wsman/subscriptions/Forwarded%20%26%20Co");
    assert_string_equal(xs(&e, H "w:OptionSet/w:Option[@Name='SubscriptionName']"),
                        "Forwarded & Co");
    assert_string_equal(xs(&e, H "w:ResourceURI"), "http://example.com/r?a=1&b=2");
    assert_string_equal(xs(&e, DEL "w:Locale/@xml:lang"), "de-DE");
    assert_int_equal(xcount(&e, DEL "w:MaxElements"), 0);
    assert_string_equal(xs(&e, DEL "w:MaxTime"), "PT30.000S");
    assert_string_equal(xs(&e, DEL "w:Heartbeats"), "PT3600.000S");
    assert_string_equal(xs(&e, SUB "w:Filter/QueryList/Query/Select/@Path"), "A&B");
    assert_null(strstr(e.text, "<?xml"));
    assert_null(strstr(e.text, "<!--"));
    env_close(&e);

    /* Bad arguments write nothing. */
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    ctx.notify_base = NULL;
    assert_int_equal(wsmd__sub_write_subscribe(&b, s, &ctx), WSM_ERR_INVALID_ARG);
    assert_int_equal(b.len, 0);
    /* A buffer too small keeps what it held before. */
    wsm__buf_init(&b, 600);
    assert_int_equal(wsm__buf_puts(&b, "keep"), WSM_OK);
    ctx.notify_base = "http://wec.example.com:5985";
    assert_int_not_equal(wsmd__sub_write_subscribe(&b, s, &ctx), WSM_OK);
    assert_string_equal(b.data, "keep");
    wsm__buf_free(&b);
    wsmd__sub_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_xml),
        cmocka_unit_test(test_subscribe_http),
        cmocka_unit_test(test_subscribe_https),
        cmocka_unit_test(test_subscribe_escaping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
