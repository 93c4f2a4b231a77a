/* The collector's event handling: body preparation (encodings, forbidden
 * characters, the declaration, the size quota) and the batch parser (one
 * bad event among good ones, the shapes of a batch, its limits). The JSON
 * object and Computer matching are in test_events_json.c; threads, the
 * fuzz corpus and speed in test_events_load.c. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <libxml/parser.h>

#include "events_helpers.h"
#include "jsoncheck.h"

static char *prep(const void *in, size_t len, size_t *nfixed)
{
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    assert_int_equal(wsmd__events_prepare(in, len, &b, 1 << 24, nfixed), WSM_OK);
    return b.data;
}

static void expect_prep(const char *in, const char *want, size_t want_fixed)
{
    size_t nf = 99;
    char *got = prep(in, strlen(in), &nf);
    assert_string_equal(got, want);
    assert_int_equal(nf, want_fixed);
    free(got);
}

static void check_4624(const struct wsmd_event *e)
{
    assert_true(e->well_formed);
    assert_string_equal(e->provider, "Microsoft-Windows-Security-Auditing");
    assert_int_equal(e->event_id, 4624);
    assert_int_equal(e->qualifiers, -1);
    assert_string_equal(e->level, "0");
    assert_string_equal(e->task, "12544");
    assert_string_equal(e->opcode, "0");
    assert_string_equal(e->keywords, "0x8020000000000000");
    assert_string_equal(e->time_created, "2026-12-07T06:45:00.1234567Z");
    assert_int_equal(e->record_id, 987654);
    assert_string_equal(e->channel, "Security");
    assert_string_equal(e->computer, "WS1.example.com");
    assert_string_equal(e->rendered_message, "An account was successfully logged on.");
    assert_string_equal(e->xml, EV_4624);
    assert_int_equal(e->xml_len, strlen(EV_4624));
}

/* ---- prepare ------------------------------------------------------------- */

static void prepare_utf8_clean(void **state)
{
    (void)state;
    const char *s = "<?xml version=\"1.0\" encoding=\"utf-8\"?><a b='\xc3\xa9'>\t\r\nx &amp; y "
                    "&#65; &#x10000; \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbd</a>";
    expect_prep(s, s, 0);
    /* a UTF-8 BOM is dropped */
    expect_prep("\xef\xbb\xbf<a/>", "<a/>", 0);
    expect_prep("", "", 0);
}

static void prepare_utf8_fixes(void **state)
{
    (void)state;
    expect_prep("<a>x\x05y</a>", "<a>x\\u0005y</a>", 1);
    expect_prep("<a>\x01\x1f\x0b\x0c</a>", "<a>\\u0001\\u001F\\u000B\\u000C</a>", 4);
    expect_prep("<a>\xef\xbf\xbe\xef\xbf\xbf</a>", "<a>\\uFFFE\\uFFFF</a>", 2);
    /* invalid UTF-8: stray continuation, lone lead, overlong, past U+10FFFF, truncated */
    expect_prep("<a>\x80\xff</a>", "<a>\\x80\\xFF</a>", 2);
    expect_prep("<a>\xc3</a>", "<a>\\xC3</a>", 1);
    expect_prep("<a>\xc0\xaf</a>", "<a>\\xC0\\xAF</a>", 2);
    expect_prep("<a>\xf4\x90\x80\x80</a>", "<a>\\xF4\\x90\\x80\\x80</a>", 4);
    expect_prep("<a>\xe2\x82", "<a>\\xE2\\x82", 2);
    /* an encoded surrogate is escaped as the surrogate it names */
    expect_prep("<a>\xed\xa0\xbd\xed\xb8\x80</a>", "<a>\\uD83D\\uDE00</a>", 2);
    /* character references to forbidden characters */
    expect_prep("<a>&#5;&#x1f;&#xD800;&#xfffe;&#x110000;&#0;</a>",
                "<a>\\u0005\\u001F\\uD800\\uFFFE\\u110000\\u0000</a>", 6);
    /* left alone: allowed references, unterminated ones, other entities */
    expect_prep("<a>&#9;&#xA;&#5 &#;&#x;&lt;&</a>", "<a>&#9;&#xA;&#5 &#;&#x;&lt;&</a>", 0);
    /* trailing NULs (a terminated string) are dropped */
    const char z[] = "<a/>\0\0";
    size_t nf;
    char *got = prep(z, sizeof(z), &nf);
    assert_string_equal(got, "<a/>");
    assert_int_equal(nf, 0);
    free(got);
}

static void prepare_utf16(void **state)
{
    (void)state;
    const char *u8 = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><a t='\xc3\xa9t\xc3\xa9'>"
                     "\xe2\x82\xac\xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf x</a>";
    const char *want = "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><a t='\xc3\xa9t\xc3\xa9'>"
                       "\xe2\x82\xac\xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf x</a>";
    unsigned char buf[512];
    for (int be = 0; be < 2; be++)
        for (int bom = 0; bom < 2; bom++) {
            size_t n = to_utf16(u8, buf, be, bom), nf = 9;
            char *got = prep(buf, n, &nf);
            assert_string_equal(got, want);
            assert_int_equal(nf, 0);
            free(got);
        }
    /* lone surrogates (high then ASCII, low alone, high at the end), U+0005, U+FFFF */
    static const unsigned char lone[] = {0xFF, 0xFE, '<',  0,    'a',  0, '>',  0,    0x3D, 0xD8,
                                         'x',  0,    0x00, 0xDE, 0x05, 0, 0xFF, 0xFF, '<',  0,
                                         '/',  0,    'a',  0,    '>',  0, 0x3D, 0xD8};
    size_t nf;
    char *got = prep(lone, sizeof(lone), &nf);
    assert_string_equal(got, "<a>\\uD83Dx\\uDE00\\u0005\\uFFFF</a>\\uD83D");
    assert_int_equal(nf, 5);
    free(got);
    /* half a unit at the end; trailing NUL units dropped */
    static const unsigned char odd[] = {'<', 0, 'a', 0, '/', 0, '>', 0, 0, 0, 0, 0};
    for (size_t len = 8; len <= sizeof(odd); len++) {
        got = prep(odd, len, &nf);
        assert_string_equal(got, "<a/>");
        assert_int_equal(nf, 0);
        free(got);
    }
    static const unsigned char oddz[] = {'<', 0, 'a', 0, '/', 0, '>', 0, 'z'};
    got = prep(oddz, sizeof(oddz), &nf);
    assert_string_equal(got, "<a/>\\x7A");
    assert_int_equal(nf, 1);
    free(got);
    /* a character reference in UTF-16 */
    size_t n = to_utf16("<a>&#x5;&#38;</a>", buf, 0, 1);
    got = prep(buf, n, &nf);
    assert_string_equal(got, "<a>\\u0005&#38;</a>");
    assert_int_equal(nf, 1);
    free(got);
}

static void prepare_declaration(void **state)
{
    (void)state;
    expect_prep("<?xml version='1.0' encoding='utf-16' standalone='yes'?><a/>",
                "<?xml version='1.0' encoding='UTF-8'  standalone='yes'?><a/>", 0);
    expect_prep("<?xml version=\"1.0\" encoding = \"ISO-8859-1\"?><a/>",
                "<?xml version=\"1.0\" encoding = \"UTF-8\"     ?><a/>", 0);
    /* a shorter name is removed whole */
    expect_prep("<?xml version=\"1.0\" encoding=\"UTF8\"?><a/>",
                "<?xml version=\"1.0\"                ?><a/>", 0);
    expect_prep("<?xml version=\"1.0\"?><a/>", "<?xml version=\"1.0\"?><a/>", 0);
    expect_prep("<?xml-stylesheet encoding=\"x\"?><a/>", "<?xml-stylesheet encoding=\"x\"?><a/>",
                0);
    /* what comes out parses */
    const char *u8 = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><a>\xc3\xa9</a>";
    unsigned char buf[256];
    size_t n = to_utf16(u8, buf, 0, 1), nf;
    char *got = prep(buf, n, &nf);
    xmlDocPtr d = xmlReadMemory(got, (int)strlen(got), NULL, NULL, XML_PARSE_NONET);
    assert_non_null(d);
    xmlChar *t = xmlNodeGetContent(xmlDocGetRootElement(d));
    assert_string_equal((char *)t, "\xc3\xa9");
    xmlFree(t);
    xmlFreeDoc(d);
    free(got);
}

static void prepare_quota(void **state)
{
    (void)state;
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    wsm__buf_puts(&b, "keep");
    size_t nf = 7;
    assert_int_equal(wsmd__events_prepare("<a>0123456789</a>", 17, &b, 16, &nf), WSM_ERR_QUOTA);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "keep");
    assert_int_equal(nf, 7);
    /* the escapes count against the limit too */
    assert_int_equal(wsmd__events_prepare("\x01\x01\x01", 3, &b, 17, &nf), WSM_ERR_QUOTA);
    assert_int_equal(wsmd__events_prepare("\x01\x01\x01", 3, &b, 18, &nf), WSM_OK);
    assert_string_equal(b.data, "keep\\u0001\\u0001\\u0001");
    assert_int_equal(nf, 3);
    unsigned char u16[64];
    size_t n = to_utf16("<a>0123456789</a>", u16, 0, 1);
    assert_int_equal(wsmd__events_prepare(u16, n, &b, 16, &nf), WSM_ERR_QUOTA);
    assert_int_equal(b.len, 22);
    wsm__buf_free(&b);
}

/* ---- the batch ------------------------------------------------------------ */

static void batch_utf16_control_char(void **state)
{
    (void)state;
    /* U+0005 inside an event's CDATA: libxml2 would refuse the whole
     * envelope; after prepare it parses and the event keeps it readable. */
    const char *bad =
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
        "<Provider Name='App'/><EventID>1000</EventID><Level>2</Level>"
        "<EventRecordID>77</EventRecordID><Channel>Application</Channel>"
        "<Computer>WS1</Computer></System><EventData><Data>a\x05z \xf0\x9f\x98\x80"
        "</Data></EventData><RenderingInfo Culture='en-US'><Message>bad \x05 "
        "char</Message></RenderingInfo></Event>";
    const char *evs[] = {EV_4624, bad};
    char *u8 = envelope_of(evs, 2);
    size_t cap = strlen(u8) * 2 + 4;
    unsigned char *u16 = malloc(cap);
    size_t n = to_utf16(u8, u16, 0, 1);

    /* the raw envelope does not parse */
    struct wsm_envelope *env = NULL;
    struct wsm_limits lim = {.max_size = 1 << 22};
    assert_int_not_equal(wsm__envelope_parse(u8, strlen(u8), &lim, &env, NULL, 0), WSM_OK);

    struct batch b;
    size_t nf;
    run_batch(u16, n, &b, &nf);
    assert_int_equal(nf, 2);
    assert_int_equal(b.n, 2);
    check_4624(&b.ev[0]);
    assert_true(b.ev[1].well_formed);
    assert_int_equal(b.ev[1].event_id, 1000);
    assert_int_equal(b.ev[1].record_id, 77);
    assert_string_equal(b.ev[1].rendered_message, "bad \\u0005 char");
    assert_non_null(strstr(b.ev[1].xml, "<Data>a\\u0005z \xf0\x9f\x98\x80</Data>"));
    batch_free(&b);
    free(u16);
    free(u8);
}

static void batch_malformed_among_good(void **state)
{
    (void)state;
    const char *evs[] = {EV_4624, "<Event xmlns='x'><System><EventID>1</EventID></Syst>", EV_7036,
                         "not xml at all", EV_4624};
    char *u8 = envelope_of(evs, 5);
    struct batch b;
    size_t nf;
    run_batch(u8, strlen(u8), &b, &nf);
    assert_int_equal(nf, 0);
    assert_int_equal(b.n, 5);
    check_4624(&b.ev[0]);
    check_4624(&b.ev[4]);
    for (int i = 1; i <= 3; i += 2) {
        const struct wsmd_event *e = &b.ev[i];
        assert_false(e->well_formed);
        assert_string_equal(e->xml, evs[i]);
        assert_null(e->computer);
        assert_null(e->channel);
        assert_null(e->provider);
        assert_null(e->level);
        assert_null(e->rendered_message);
        assert_int_equal(e->event_id, -1);
        assert_int_equal(e->record_id, -1);
    }
    const struct wsmd_event *e = &b.ev[2];
    assert_true(e->well_formed);
    assert_string_equal(e->provider, "Service Control Manager");
    assert_int_equal(e->event_id, 7036);
    assert_int_equal(e->qualifiers, 16384);
    assert_string_equal(e->level, "4");
    assert_string_equal(e->task, "0");
    assert_string_equal(e->opcode, "0");
    assert_string_equal(e->keywords, "0x8080000000000000");
    assert_string_equal(e->time_created, "2026-12-07T06:44:59.5000000Z");
    assert_int_equal(e->record_id, 4242);
    assert_string_equal(e->channel, "System");
    assert_string_equal(e->computer, "ws2.example.com");
    assert_null(e->rendered_message);
    batch_free(&b);
    free(u8);
}

static void batch_shapes(void **state)
{
    (void)state;
    /* an event given as an element (no CDATA), with a prefix declared on
     * the envelope; pretty-printed fields; a heartbeat's empty Events */
    const char *body =
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
        "xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" xmlns:w=\"" W "\" "
        "xmlns:ev=\"http://schemas.microsoft.com/win/2004/08/events/event\">"
        "<s:Header><a:Action>http://schemas.dmtf.org/wbem/wsman/1/wsman/Events</a:Action>"
        "<a:MessageID>uuid:1</a:MessageID></s:Header><s:Body><w:Events>"
        "<w:Event><ev:Event><ev:System><ev:Provider Name=\"P&amp;Q\"/>\n"
        "  <ev:EventID>\n 4688 \n</ev:EventID><ev:Computer> WS1 </ev:Computer>"
        "<ev:EventRecordID>18446744073709551615</ev:EventRecordID></ev:System>"
        "<ev:RenderingInfo><ev:Message> two\nlines </ev:Message></ev:RenderingInfo>"
        "</ev:Event></w:Event>"
        "<w:Event>  </w:Event>"
        "<w:Event><![CDATA[<Other><System><EventID>5</EventID></System></Other>]]></w:Event>"
        "</w:Events></s:Body></s:Envelope>";
    struct batch b;
    size_t nf;
    run_batch(body, strlen(body), &b, &nf);
    assert_int_equal(b.n, 3);
    const struct wsmd_event *e = &b.ev[0];
    assert_true(e->well_formed);
    assert_string_equal(e->provider, "P&Q");
    assert_int_equal(e->event_id, 4688);
    assert_string_equal(e->computer, "WS1");
    assert_int_equal(e->record_id, -1); /* past the range of a long long */
    assert_string_equal(e->rendered_message, " two\nlines ");
    assert_non_null(
        strstr(e->xml, "xmlns:ev=\"http://schemas.microsoft.com/win/2004/08/events/event\""));
    assert_false(b.ev[1].well_formed);
    assert_int_equal(b.ev[1].xml_len, 0);
    assert_string_equal(b.ev[1].xml, "");
    /* well-formed but not an Event: no fields */
    assert_true(b.ev[2].well_formed);
    assert_int_equal(b.ev[2].event_id, -1);
    batch_free(&b);

    struct wsm_arena a;
    wsm__arena_init(&a);
    struct wsmd_event *v = (void *)1;
    size_t n = 9;
    assert_int_equal(wsmd__events_parse(NULL, &a, 10, &v, &n), WSM_OK);
    assert_int_equal(n, 0);
    assert_null(v);
    wsm__arena_free(&a);
}

static void batch_limits(void **state)
{
    (void)state;
    /* more events than allowed: refused whole */
    const char *evs[] = {EV_4624, EV_4624, EV_4624};
    char *u8 = envelope_of(evs, 3);
    as_utf8(u8);
    struct wsm_envelope *env;
    struct wsm_limits lim = {.max_size = 1 << 22};
    assert_int_equal(wsm__envelope_parse(u8, strlen(u8), &lim, &env, NULL, 0), WSM_OK);
    struct wsm_arena a;
    wsm__arena_init(&a);
    struct wsmd_event *v;
    size_t n;
    assert_int_equal(wsmd__events_parse(env->payload, &a, 2, &v, &n), WSM_ERR_QUOTA);
    assert_int_equal(wsmd__events_parse(env->payload, &a, 3, &v, &n), WSM_OK);
    assert_int_equal(n, 3);
    wsm__arena_free(&a);
    wsm__envelope_free(env);
    free(u8);

    /* past the size cap: kept as text, not parsed */
    struct wsm_buf big;
    wsm__buf_init(&big, 0);
    wsm__buf_puts(&big, "<Event><System><EventID>9</EventID></System><EventData><Data>");
    while (big.len <= WSMD_EVENT_MAX_SIZE)
        wsm__buf_puts(&big, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    wsm__buf_puts(&big, "</Data></EventData></Event>");
    xmlDocPtr bd = xmlNewDoc((const xmlChar *)"1.0");
    xmlNodePtr root = xmlNewDocNode(bd, NULL, (const xmlChar *)"Events", NULL);
    xmlDocSetRootElement(bd, root);
    xmlSetNs(root, xmlNewNs(root, (const xmlChar *)W, (const xmlChar *)"w"));
    xmlNodePtr we = xmlNewChild(root, root->ns, (const xmlChar *)"Event", NULL);
    xmlAddChild(we, xmlNewCDataBlock(bd, (const xmlChar *)big.data, (int)big.len));
    wsm__arena_init(&a);
    assert_int_equal(wsmd__events_parse(root, &a, 1, &v, &n), WSM_OK);
    assert_int_equal(n, 1);
    assert_false(v[0].well_formed);
    assert_int_equal(v[0].xml_len, big.len);
    big.len -= big.len - WSMD_EVENT_MAX_SIZE + 100; /* just under: parses */
    memcpy(big.data + big.len - 27, "</Data></EventData></Event>", 27);
    big.data[big.len] = '\0';
    xmlNodeSetContent(we->children, (const xmlChar *)big.data);
    assert_int_equal(wsmd__events_parse(root, &a, 1, &v, &n), WSM_OK);
    assert_true(v[0].well_formed);
    assert_int_equal(v[0].event_id, 9);
    wsm__arena_free(&a);
    xmlFreeDoc(bd);
    wsm__buf_free(&big);

    /* hostile events: each is kept as text, the next one still parses */
    struct wsm_buf deep, attrs;
    wsm__buf_init(&deep, 0);
    wsm__buf_init(&attrs, 0);
    wsm__buf_puts(&deep, "<Event>");
    for (int i = 0; i < 70; i++)
        wsm__buf_puts(&deep, "<x>");
    for (int i = 0; i < 70; i++)
        wsm__buf_puts(&deep, "</x>");
    wsm__buf_puts(&deep, "</Event>");
    wsm__buf_puts(&attrs, "<Event");
    for (int i = 0; i < 65; i++)
        wsm__buf_printf(&attrs, " a%d='1'", i);
    wsm__buf_puts(&attrs, "/>");
    const char *bad[] = {
        "<!DOCTYPE Event [<!ENTITY x 'y'>]><Event>&x;</Event>",
        "<Event>&undefined;</Event>",
        "<Event><System><EventID>1</EventID></System></Event><Event/>",
        "<Event xmlns:p='u'><q:x/></Event>",
        deep.data,
        attrs.data,
        "<Event><System><EventID>1</EventID></System></Event>",
    };
    /* (wsm__envelope_parse refuses "<!DOCTYPE" anywhere, CDATA included: the
     * Events element comes from a plain libxml2 parse here) */
    struct wsm_buf doc;
    wsm__buf_init(&doc, 0);
    wsm__buf_puts(&doc, "<w:Events xmlns:w='" W "'>");
    for (int i = 0; i < 7; i++)
        wsm__buf_printf(&doc, "<w:Event><![CDATA[%s]]></w:Event>", bad[i]);
    wsm__buf_puts(&doc, "</w:Events>");
    xmlDocPtr d = xmlReadMemory(doc.data, (int)doc.len, NULL, NULL, XML_PARSE_NONET);
    assert_non_null(d);
    wsm__arena_init(&a);
    assert_int_equal(wsmd__events_parse(xmlDocGetRootElement(d), &a, 7, &v, &n), WSM_OK);
    assert_int_equal(n, 7);
    for (int i = 0; i < 6; i++) {
        assert_false(v[i].well_formed);
        assert_string_equal(v[i].xml, bad[i]);
    }
    assert_true(v[6].well_formed);
    assert_int_equal(v[6].event_id, 1);
    wsm__arena_free(&a);
    xmlFreeDoc(d);
    wsm__buf_free(&doc);
    wsm__buf_free(&deep);
    wsm__buf_free(&attrs);
}

int main(void)
{
    xmlInitParser();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(prepare_utf8_clean),
        cmocka_unit_test(prepare_utf8_fixes),
        cmocka_unit_test(prepare_utf16),
        cmocka_unit_test(prepare_declaration),
        cmocka_unit_test(prepare_quota),
        cmocka_unit_test(batch_utf16_control_char),
        cmocka_unit_test(batch_malformed_among_good),
        cmocka_unit_test(batch_shapes),
        cmocka_unit_test(batch_limits),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    events_tests_done();
    return r;
}
