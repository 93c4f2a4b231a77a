/* Unit tests for the forwarder's parser and messages (src/forwarder):
 * the Enumerate response as wsmd's own collector writes it (subwrite.c:
 * the two sides checked against each other) and as Windows' collector
 * writes it, the refusals, the messages (CDATA, reference parameters,
 * bookmarks), the encodings (UTF-16 with BOM, SLDC on and off), the Ack
 * check and the EventForwarding value. */
#include <libxml/parser.h>

#include "subtest.h"

#include "forwarder.h"
#include "sldc.h"

static const char *ENUM_HEAD =
    "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
    "xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" "
    "xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" "
    "xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" "
    "xmlns:m=\"http://schemas.microsoft.com/wbem/wsman/1/subscription\"><s:Header>"
    "<a:Action>http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse</a:Action>"
    "</s:Header><s:Body><n:EnumerateResponse><n:EnumerationContext/><w:Items>";
static const char *ENUM_TAIL = "</w:Items><w:EndOfSequence/></n:EnumerateResponse></s:Body>"
                               "</s:Envelope>";

/* An Enumerate response holding the collector's own Subscribe for s. */
static void response_for(struct wsm_buf *b, const struct wsmd_sub *s, const char *bookmark)
{
    struct wsmd_sub_ctx ctx = {.notify_base = "http://collector.example.com:5985",
                               .bookmark_xml = bookmark};
    assert_int_equal(wsm__buf_puts(b, ENUM_HEAD), WSM_OK);
    assert_int_equal(
        wsm__buf_printf(b, "<m:Subscription><m:Version>uuid:%s</m:Version>", s->version), WSM_OK);
    assert_int_equal(wsmd__sub_write_subscribe(b, s, &ctx), WSM_OK);
    assert_int_equal(wsm__buf_puts(b, "</m:Subscription>"), WSM_OK);
    assert_int_equal(wsm__buf_puts(b, ENUM_TAIL), WSM_OK);
}

static void test_our_collectors_subscribe(void **state)
{
    (void)state;
    struct wsmd_sub *s =
        parse_q("<SubscriptionType>SourceInitiated</SubscriptionType>"
                "<ConfigurationMode>Custom</ConfigurationMode><Delivery Mode=\"Push\"><Batching>"
                "<MaxItems>7</MaxItems><MaxLatencyTime>1500</MaxLatencyTime></Batching>"
                "<PushSettings><Heartbeat Interval=\"60000\"/></PushSettings></Delivery>"
                "<ReadExistingEvents>true</ReadExistingEvents><ContentFormat>Events</ContentFormat>"
                "<Locale Language=\"de-DE\"/>",
                "<QueryList><Query Id=\"0\"><Select Path=\"Application\">*[System[(Level=2)]]"
                "</Select></Query></QueryList>");
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    response_for(&b, s, NULL);
    struct wsmd_fwdsub *v = NULL;
    size_t n = 0, skipped = 9;
    int end = 0;
    assert_int_equal(wsmd__fwdsub_parse(b.data, b.len, &v, &n, &skipped, &end, NULL), WSM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(skipped, 0);
    assert_true(end);
    char ver[64];
    snprintf(ver, sizeof(ver), "uuid:%s", s->version);
    assert_string_equal(v[0].version, ver);
    assert_string_equal(v[0].name, s->id);
    assert_non_null(
        strstr(v[0].notify_to, "http://collector.example.com:5985/wsman/subscriptions/"));
    assert_non_null(strstr(v[0].notify_ref, s->version)); /* the Identifier, echoed */
    assert_non_null(strstr(v[0].notify_ref, "<Identifier xmlns=\"http://schemas.xmlsoap.org/ws/"
                                            "2004/08/eventing\">"));
    assert_non_null(v[0].end_to);
    assert_non_null(strstr(v[0].query, "*[System[(Level=2)]]"));
    assert_int_equal(v[0].max_elements, 7);
    assert_int_equal(v[0].max_time_ms, 1500);
    assert_int_equal(v[0].heartbeat_ms, 60000);
    assert_int_equal(v[0].max_envelope, 512000);
    /* ConnectionRetry as the collector writes it (Windows' Total=5 PT60S). */
    assert_int_equal(v[0].retry_total, 5);
    assert_int_equal(v[0].retry_ms, 60000);
    assert_true(v[0].sldc);
    assert_true(v[0].utf16);
    assert_false(v[0].rendered); /* ContentFormat Events = option Raw */
    assert_true(v[0].from_earliest);
    assert_true(v[0].send_bookmarks);
    assert_null(v[0].bookmark);
    assert_string_equal(v[0].locale, "de-DE");
    wsmd__fwdsub_free(v, n);

    /* With a stored bookmark: handed back as a BookmarkList. */
    wsm__buf_reset(&b);
    response_for(&b, s,
                 "<BookmarkList><Bookmark Channel=\"Application\" RecordId=\"9\" "
                 "IsCurrent=\"true\" Cursor=\"s=1;i=2\"/></BookmarkList>");
    assert_int_equal(wsmd__fwdsub_parse(b.data, b.len, &v, &n, NULL, NULL, NULL), WSM_OK);
    assert_int_equal(n, 1);
    assert_non_null(v[0].bookmark);
    assert_non_null(strstr(v[0].bookmark, "Cursor=\"s=1;i=2\""));
    wsmd__fwdsub_free(v, n);
    wsm__buf_free(&b);
    wsmd__sub_free(s);
}

/* A Subscribe as Windows' collector hands it out (the capture's form:
 * ReferenceParameters, RenderedText, no MaxElements, xsi:nil options). */
static const char *WIN_SUB =
    "<m:Subscription><m:Version>uuid:8D6B9A2B-0000-4000-8000-000000000001</m:Version>"
    "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
    "xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" "
    "xmlns:e=\"http://schemas.xmlsoap.org/ws/2004/08/eventing\" "
    "xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" "
    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><s:Header>"
    "<w:OptionSet><w:Option Name=\"SubscriptionName\">Win &amp; Co</w:Option>"
    "<w:Option Name=\"ContentFormat\">RenderedText</w:Option>"
    "<w:Option Name=\"ReadExistingEvents\" xsi:nil=\"true\"/></w:OptionSet></s:Header>"
    "<s:Body><e:Subscribe><e:Delivery Mode=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/Events\">"
    "<w:Heartbeats>PT3600.000S</w:Heartbeats><e:NotifyTo><a:Address>"
    "https://wec.example.com:5986/wsman/subscriptions/ABC</a:Address>"
    "<a:ReferenceParameters><e:Identifier>8D6B&lt;x&gt;</e:Identifier></a:ReferenceParameters>"
    "</e:NotifyTo><w:MaxTime>PT30.000S</w:MaxTime><w:ContentEncoding>UTF-16</w:ContentEncoding>"
    "</e:Delivery><w:Filter><QueryList><Query Id=\"0\"><Select Path=\"System\">*</Select>"
    "</Query></QueryList></w:Filter><w:Bookmark>"
    "http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest</w:Bookmark>"
    "</e:Subscribe></s:Body></s:Envelope></m:Subscription>";

static void parse_items(const char *items, struct wsmd_fwdsub **v, size_t *n, size_t *skipped)
{
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    wsm__buf_puts(&b, ENUM_HEAD);
    wsm__buf_puts(&b, items);
    wsm__buf_puts(&b, ENUM_TAIL);
    assert_int_equal(wsmd__fwdsub_parse(b.data, b.len, v, n, skipped, NULL, NULL), WSM_OK);
    wsm__buf_free(&b);
}

static void test_windows_collectors_subscribe(void **state)
{
    (void)state;
    struct wsmd_fwdsub *v;
    size_t n, skipped;
    parse_items(WIN_SUB, &v, &n, &skipped);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].name, "Win & Co");
    assert_true(v[0].rendered);
    assert_false(v[0].sldc); /* not asked: not compressed */
    assert_true(v[0].utf16);
    assert_true(v[0].from_earliest);
    assert_false(v[0].send_bookmarks);
    assert_int_equal(v[0].max_elements, 0);
    assert_int_equal(v[0].max_time_ms, 30000);
    assert_int_equal(v[0].heartbeat_ms, 3600000);
    assert_int_equal(v[0].retry_total, -1); /* none asked */
    assert_int_equal(v[0].retry_ms, 0);
    assert_null(v[0].end_to);
    /* The reference parameter comes back as escaped text. */
    assert_string_equal(v[0].notify_ref, "<Identifier xmlns=\"http://schemas.xmlsoap.org/ws/"
                                         "2004/08/eventing\">8D6B&lt;x&gt;</Identifier>");

    /* Messages from it: CDATA split at "]]>", no bookmark without
     * SendBookmarks, the Identifier header, well-formed. */
    struct wsm_buf m;
    char msgid[64];
    wsm__buf_init(&m, 0);
    const char ev[] = "<Event><Data>a]]>b</Data></Event><Event><Data>c</Data></Event>";
    assert_int_equal(wsmd__fwd_delivery_msg(&m, &v[0], WSMD_FWD_EVENTS, ev, sizeof(ev) - 1,
                                            "<BookmarkList/>", msgid),
                     WSM_OK);
    assert_non_null(strstr(m.data, "<![CDATA[<Event><Data>a]]]]><![CDATA[>b</Data></Event>]]>"
                                   "</w:Event><w:Event"));
    assert_null(strstr(m.data, "BookmarkList"));
    assert_non_null(strstr(m.data, "<a:Action s:mustUnderstand=\"true\">http://schemas.dmtf.org/"
                                   "wbem/wsman/1/wsman/Events</a:Action>"));
    assert_non_null(strstr(m.data, msgid));
    xmlDocPtr d = xmlReadMemory(m.data, (int)m.len, NULL, "UTF-8", XML_PARSE_NONET);
    assert_non_null(d);
    xmlFreeDoc(d);
    v[0].send_bookmarks = 1;
    wsm__buf_reset(&m);
    assert_int_equal(
        wsmd__fwd_delivery_msg(&m, &v[0], WSMD_FWD_HEARTBEAT, NULL, 0, "<BookmarkList/>", msgid),
        WSM_OK);
    assert_non_null(strstr(m.data, "wsman/Heartbeat</a:Action>"));
    assert_non_null(strstr(m.data, "<w:Bookmark><BookmarkList/></w:Bookmark>"));
    assert_non_null(strstr(m.data, "<w:Events></w:Events>"));
    wsm__buf_reset(&m);
    assert_int_equal(wsmd__fwd_delivery_msg(&m, &v[0], WSMD_FWD_END, NULL, 0, NULL, msgid), WSM_OK);
    assert_non_null(strstr(m.data, "/SourceCancelling</e:Status>"));
    wsm__buf_free(&m);
    wsmd__fwdsub_free(v, n);
}

/* ConnectionRetry forms: read when it is a count and a positive duration,
 * else taken as none asked (the forwarder's own back-off then). */
static void test_connection_retry(void **state)
{
    (void)state;
    static const struct {
        const char *el;
        int total;
        long ms;
    } cases[] = {
        {"<w:ConnectionRetry Total=\"3\">PT2.5S</w:ConnectionRetry>", 3, 2500},
        {"<w:ConnectionRetry Total=\"0\">PT1S</w:ConnectionRetry>", 0, 1000},
        {"<w:ConnectionRetry>PT1S</w:ConnectionRetry>", -1, 0},
        {"<w:ConnectionRetry Total=\"-1\">PT1S</w:ConnectionRetry>", -1, 0},
        {"<w:ConnectionRetry Total=\"1001\">PT1S</w:ConnectionRetry>", -1, 0},
        {"<w:ConnectionRetry Total=\"2x\">PT1S</w:ConnectionRetry>", -1, 0},
        {"<w:ConnectionRetry Total=\"2\">soon</w:ConnectionRetry>", -1, 0},
        {"<w:ConnectionRetry Total=\"2\">PT0S</w:ConnectionRetry>", -1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wsm_buf b;
        wsm__buf_init(&b, 0);
        const char *at = strstr(WIN_SUB, "<w:MaxTime>");
        wsm__buf_add(&b, WIN_SUB, (size_t)(at - WIN_SUB));
        wsm__buf_puts(&b, cases[i].el);
        wsm__buf_puts(&b, at);
        struct wsmd_fwdsub *v;
        size_t n, skipped;
        parse_items(b.data, &v, &n, &skipped);
        assert_int_equal(n, 1);
        assert_int_equal(v[0].retry_total, cases[i].total);
        assert_int_equal(v[0].retry_ms, cases[i].ms);
        wsmd__fwdsub_free(v, n);
        wsm__buf_free(&b);
    }
}

static void test_unusable_subscriptions_are_skipped(void **state)
{
    (void)state;
    struct wsmd_fwdsub *v;
    size_t n, skipped;
    char *push = strdup(WIN_SUB), *p = strstr(push, "wsman/Events\"");
    memcpy(p, "wsman/Pushhh", 12); /* another delivery mode */
    char *nover = strdup(WIN_SUB);
    p = strstr(nover, "<m:Version>");
    memcpy(p + 3, "Versiox", 7), memcpy(strstr(p, "</m:Version>") + 4, "Versiox", 7);
    char *noq = strdup(WIN_SUB);
    p = strstr(noq, "<QueryList>");
    memcpy(p + 1, "QueryLisx", 9), memcpy(strstr(p, "</QueryList>") + 2, "QueryLisx", 9);
    char *ftp = strdup(WIN_SUB);
    p = strstr(ftp, "https://wec");
    memcpy(p, "ftp:/", 5);
    struct wsm_buf all;
    wsm__buf_init(&all, 0);
    wsm__buf_puts(&all, push);
    wsm__buf_puts(&all, nover);
    wsm__buf_puts(&all, noq);
    wsm__buf_puts(&all, ftp);
    wsm__buf_puts(&all, WIN_SUB);
    parse_items(all.data, &v, &n, &skipped);
    assert_int_equal(n, 1);
    assert_int_equal(skipped, 4);
    wsmd__fwdsub_free(v, n);
    wsm__buf_free(&all);
    free(push), free(nover), free(noq), free(ftp);

    /* Not a response, a DTD, not XML: errors, nothing handed out. */
    const char *bad[] = {
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body><x/></s:Body>"
        "</s:Envelope>",
        "<!DOCTYPE x [<!ENTITY a \"b\">]><s:Envelope xmlns:s=\"http://www.w3.org/2003/05/"
        "soap-envelope\"><s:Body/></s:Envelope>",
        "not xml",
    };
    for (size_t i = 0; i < 3; i++) {
        v = (void *)1;
        n = 5;
        assert_int_not_equal(wsmd__fwdsub_parse(bad[i], strlen(bad[i]), &v, &n, NULL, NULL, NULL),
                             WSM_OK);
        assert_null(v);
        assert_int_equal(n, 0);
    }
}

static void test_encodings(void **state)
{
    (void)state;
    struct wsmd_fwdsub s = {0};
    const char *xml = "<a>\xC3\xA9\xF0\x9D\x84\x9E\xFF</a>"; /* é, U+1D11E, a stray byte */
    const unsigned char want[] = {0xFF, 0xFE, '<',  0,    'a', 0, '>', 0, 0xE9, 0, 0x34, 0xD8,
                                  0x1E, 0xDD, 0xFD, 0xFF, '<', 0, '/', 0, 'a',  0, '>',  0};
    struct wsm_buf out, plain;
    /* Neither: the bytes as they are. */
    wsm__buf_init(&out, 0);
    assert_int_equal(wsmd__fwd_encode(&s, xml, strlen(xml), &out), WSM_OK);
    assert_int_equal(out.len, strlen(xml));
    assert_memory_equal(out.data, xml, out.len);
    /* UTF-16LE with a BOM, as Windows sends. */
    s.utf16 = 1;
    wsm__buf_reset(&out);
    assert_int_equal(wsmd__fwd_encode(&s, xml, strlen(xml), &out), WSM_OK);
    assert_int_equal(out.len, sizeof(want));
    assert_memory_equal(out.data, want, sizeof(want));
    /* Then SLDC: decompresses to the same. */
    s.sldc = 1;
    wsm__buf_reset(&out);
    assert_int_equal(wsmd__fwd_encode(&s, xml, strlen(xml), &out), WSM_OK);
    assert_false(wsm__sldc_is_plain((const unsigned char *)out.data, out.len));
    wsm__buf_init(&plain, 0);
    assert_int_equal(wsm__sldc_decompress((const unsigned char *)out.data, out.len, &plain, 1024),
                     WSM_OK);
    assert_int_equal(plain.len, sizeof(want));
    assert_memory_equal(plain.data, want, sizeof(want));
    wsm__buf_free(&plain);
    wsm__buf_free(&out);
}

static void test_ack(void **state)
{
    (void)state;
    const char *ack = "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
                      "xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\"><s:Header>"
                      "<a:Action>http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack</a:Action>"
                      "<a:RelatesTo>uuid:1</a:RelatesTo></s:Header><s:Body/></s:Envelope>";
    assert_true(wsmd__fwd_is_ack(ack, strlen(ack), "uuid:1"));
    assert_false(wsmd__fwd_is_ack(ack, strlen(ack), "uuid:2"));
    assert_false(wsmd__fwd_is_ack("junk", 4, "uuid:1"));
}

static void test_target(void **state)
{
    (void)state;
    struct wsmd_fwd_target t;
    char why[160];
    assert_int_equal(wsmd__fwd_target_parse("Server=http://c:5985/wsman/SubscriptionManager/WEC,"
                                            "Refresh=60",
                                            &t, why, sizeof(why)),
                     WSM_OK);
    assert_string_equal(t.url, "http://c:5985/wsman/SubscriptionManager/WEC");
    assert_int_equal(t.refresh_s, 60);
    assert_null(t.issuer_ca);
    wsmd__fwd_target_clear(&t);
    assert_int_equal(wsmd__fwd_target_parse(" refresh = 5 , SERVER=https://c/x, IssuerCA=AB12 ", &t,
                                            why, sizeof(why)),
                     WSM_OK);
    assert_int_equal(t.refresh_s, 5);
    assert_string_equal(t.issuer_ca, "AB12");
    wsmd__fwd_target_clear(&t);
    assert_int_equal(wsmd__fwd_target_parse("Server=http://c/x", &t, why, sizeof(why)), WSM_OK);
    assert_int_equal(t.refresh_s, 900);
    wsmd__fwd_target_clear(&t);
    const char *bad[] = {"",
                         "Refresh=60",
                         "Server=ftp://c/x",
                         "Server=http://c/x,Refresh=0",
                         "Server=http://c/x,Refresh=x",
                         "Server=http://c/x,Refresh=86401",
                         "Server=http://c/x,IssuerCA=AB",
                         "Server=http://c/x,Other=1",
                         "Server=http://c/x y",
                         "Server"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        assert_int_equal(wsmd__fwd_target_parse(bad[i], &t, why, sizeof(why)), WSM_ERR_INVALID_ARG);
        assert_true(why[0] != '\0');
        assert_null(t.url);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_our_collectors_subscribe),
        cmocka_unit_test(test_windows_collectors_subscribe),
        cmocka_unit_test(test_connection_retry),
        cmocka_unit_test(test_unusable_subscriptions_are_skipped),
        cmocka_unit_test(test_encodings),
        cmocka_unit_test(test_ack),
        cmocka_unit_test(test_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
