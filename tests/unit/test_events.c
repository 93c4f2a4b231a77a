/* The collector's event handling: body preparation (encodings, forbidden
 * characters), the batch parser, the JSON object, Computer matching. */
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

#include "envelope.h"
#include "events.h"
#include "jsoncheck.h"

/* ---- helpers ------------------------------------------------------------ */

/* UTF-8 -> UTF-16 (the test's own encoder); lone surrogates can be given
 * as the sequences ED A0..BF xx, which are written as the unit itself. */
static size_t to_utf16(const char *s, unsigned char *o, int be, int bom)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
#define UNIT(u)                                                                                    \
    do {                                                                                           \
        unsigned v_ = (u);                                                                         \
        o[n++] = (unsigned char)(be ? v_ >> 8 : v_ & 0xFF);                                        \
        o[n++] = (unsigned char)(be ? v_ & 0xFF : v_ >> 8);                                        \
    } while (0)
    if (bom)
        UNIT(0xFEFF);
    while (*p) {
        uint32_t c;
        if (*p < 0x80)
            c = *p++;
        else if (*p < 0xE0) {
            c = (uint32_t)(*p & 0x1F) << 6 | (p[1] & 0x3F);
            p += 2;
        } else if (*p < 0xF0) {
            c = (uint32_t)(*p & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
            p += 3;
        } else {
            c = (uint32_t)(*p & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 |
                (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
            p += 4;
        }
        if (c >= 0x10000) {
            UNIT(0xD800 + ((c - 0x10000) >> 10));
            UNIT(0xDC00 + ((c - 0x10000) & 0x3FF));
        } else {
            UNIT(c);
        }
    }
#undef UNIT
    return n;
}

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

#define W "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"

static const char *ENV_HEAD =
    "<?xml version=\"1.0\" encoding=\"UTF-16\"?>"
    "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
    "xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" "
    "xmlns:e=\"http://schemas.xmlsoap.org/ws/2004/08/eventing\" "
    "xmlns:w=\"" W "\" xmlns:p=\"http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd\">"
    "<s:Header><a:To>http://wec.example.com:5985/wsman/subscriptions/SUB1</a:To>"
    "<a:Action "
    "s:mustUnderstand=\"true\">http://schemas.dmtf.org/wbem/wsman/1/wsman/Events</a:Action>"
    "<a:MessageID>uuid:8C3B0B67-0C1E-4E3B-9E55-0123456789AB</a:MessageID>"
    "<w:AckRequested/></s:Header><s:Body><w:Events>";
static const char *ENV_TAIL = "</w:Events></s:Body></s:Envelope>";

static const char *EV_4624 =
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
    "<Provider Name='Microsoft-Windows-Security-Auditing' "
    "Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/><EventID>4624</EventID><Version>2</Version>"
    "<Level>0</Level><Task>12544</Task><Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords>"
    "<TimeCreated SystemTime='2026-12-07T06:45:00.1234567Z'/><EventRecordID>987654</EventRecordID>"
    "<Correlation ActivityID='{4a5c1a8e-7b1e-0001-5a1b-5c4a1e7bd801}'/>"
    "<Execution ProcessID='724' ThreadID='6012'/><Channel>Security</Channel>"
    "<Computer>WS1.example.com</Computer><Security/></System><EventData>"
    "<Data Name='SubjectUserSid'>S-1-5-18</Data><Data Name='SubjectUserName'>WS1$</Data>"
    "<Data Name='SubjectDomainName'>EXAMPLE</Data><Data Name='SubjectLogonId'>0x3e7</Data>"
    "<Data Name='TargetUserSid'>S-1-5-21-1004336348-1177238915-682003330-1105</Data>"
    "<Data Name='TargetUserName'>alice</Data><Data Name='TargetDomainName'>EXAMPLE</Data>"
    "<Data Name='TargetLogonId'>0x5f3a21</Data><Data Name='LogonType'>2</Data>"
    "<Data Name='LogonProcessName'>User32 </Data><Data Name='AuthenticationPackageName'>"
    "Negotiate</Data><Data Name='WorkstationName'>WS1</Data>"
    "<Data Name='LogonGuid'>{00000000-0000-0000-0000-000000000000}</Data>"
    "<Data Name='ProcessName'>C:\\Windows\\System32\\svchost.exe</Data>"
    "<Data Name='IpAddress'>127.0.0.1</Data><Data Name='IpPort'>0</Data></EventData>"
    "<RenderingInfo Culture='en-US'><Message>An account was successfully logged on.</Message>"
    "<Level>Information</Level><Task>Logon</Task><Opcode>Info</Opcode><Channel>Security</Channel>"
    "<Provider>Microsoft Windows security auditing.</Provider><Keywords>"
    "<Keyword>Audit Success</Keyword></Keywords></RenderingInfo></Event>";

static const char *EV_7036 =
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
    "<Provider Name='Service Control Manager' Guid='{555908d1-a6d7-4695-8e1e-26931d2012f4}' "
    "EventSourceName='Service Control Manager'/><EventID Qualifiers='16384'>7036</EventID>"
    "<Version>0</Version><Level>4</Level><Task>0</Task><Opcode>0</Opcode>"
    "<Keywords>0x8080000000000000</Keywords><TimeCreated "
    "SystemTime='2026-12-07T06:44:59.5000000Z'/>"
    "<EventRecordID>4242</EventRecordID><Correlation/><Execution ProcessID='680' ThreadID='7000'/>"
    "<Channel>System</Channel><Computer>ws2.example.com</Computer><Security/></System>"
    "<EventData><Data Name='param1'>Windows Update</Data><Data Name='param2'>running</Data>"
    "<Binary>770075006100750073007600630000000000</Binary></EventData></Event>";

/* A delivery envelope holding the given events as CDATA, UTF-8 (the
 * declaration says UTF-16, as Windows writes it before encoding). */
static char *envelope_of(const char **evs, size_t n)
{
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    wsm__buf_puts(&b, ENV_HEAD);
    for (size_t i = 0; i < n; i++) {
        wsm__buf_puts(
            &b, "\n\t\t\t<w:Event Action=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/Event\">"
                "\n\t\t\t\t<![CDATA[");
        wsm__buf_puts(&b, evs[i]);
        wsm__buf_puts(&b, "]]>\n\t\t\t</w:Event>");
    }
    wsm__buf_puts(&b, ENV_TAIL);
    return b.data;
}

/* The envelope's declaration made to say UTF-8 (same length), so that it
 * parses without prepare. */
static void as_utf8(char *u8)
{
    memcpy(strstr(u8, "\"UTF-16\""), "\"UTF-8\" ", 8);
}

struct batch {
    struct wsm_envelope *env;
    struct wsm_arena arena;
    struct wsmd_event *ev;
    size_t n;
};

/* prepare -> envelope parse -> events parse, as the delivery handler does */
static void run_batch(const void *body, size_t len, struct batch *b, size_t *nfixed)
{
    struct wsm_buf clean;
    wsm__buf_init(&clean, 0);
    assert_int_equal(wsmd__events_prepare(body, len, &clean, 1 << 22, nfixed), WSM_OK);
    struct wsm_limits lim = {.max_size = 1 << 22};
    char msgid[128];
    assert_int_equal(
        wsm__envelope_parse(clean.data, clean.len, &lim, &b->env, msgid, sizeof(msgid)), WSM_OK);
    wsm__buf_free(&clean);
    assert_true(wsm__xml_is(b->env->payload, W, "Events"));
    wsm__arena_init(&b->arena);
    assert_int_equal(wsmd__events_parse(b->env->payload, &b->arena, 1000, &b->ev, &b->n), WSM_OK);
}

static void batch_free(struct batch *b)
{
    wsm__arena_free(&b->arena);
    wsm__envelope_free(b->env);
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

/* ---- JSON ------------------------------------------------------------------ */

static void json_event(void **state)
{
    (void)state;
    const char *evs[] = {EV_7036};
    char *u8 = envelope_of(evs, 1);
    struct batch b;
    size_t nf;
    run_batch(u8, strlen(u8), &b, &nf);
    struct wsmd_event_meta m = {"SUB-1", "WS2$@EXAMPLE.COM", "192.0.2.7",
                                "2026-12-07T06:45:01.123Z"};
    struct wsm_buf j;
    wsm__buf_init(&j, 0);
    assert_int_equal(wsmd__event_json(&j, &b.ev[0], &m), WSM_OK);
    assert_true(json_valid(j.data, j.len));
    const char *want_tail =
        "\",\"Computer\":\"ws2.example.com\",\"Channel\":\"System\",\"EventID\":7036,"
        "\"Qualifiers\":16384,\"EventRecordID\":4242,\"TimeCreated\":\"2026-12-07T06:44:59."
        "5000000Z\","
        "\"Provider\":\"Service Control Manager\",\"Level\":4,\"Task\":0,\"Opcode\":0,"
        "\"Keywords\":\"0x8080000000000000\",\"Subscription\":\"SUB-1\","
        "\"Client\":\"WS2$@EXAMPLE.COM\",\"SourceAddress\":\"192.0.2.7\","
        "\"Received\":\"2026-12-07T06:45:01.123Z\",\"ComputerMismatch\":false,\"WellFormed\":true}";
    assert_true(strncmp(j.data, "{\"Xml\":\"<Event xmlns='http", 26) == 0);
    assert_string_equal(j.data + j.len - strlen(want_tail), want_tail);
    assert_null(strchr(j.data, '\n'));

    /* another machine's principal: flagged */
    wsm__buf_reset(&j);
    m.client = "WS1$@EXAMPLE.COM";
    assert_int_equal(wsmd__event_json(&j, &b.ev[0], &m), WSM_OK);
    assert_non_null(strstr(j.data, "\"ComputerMismatch\":true,"));
    batch_free(&b);

    /* every byte value, invalid UTF-8 included, in every string */
    char all[300];
    for (int i = 0; i < 255; i++)
        all[i] = (char)(i + 1);
    memcpy(all + 255, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xed\xa0\x80\"\\", 14);
    all[269] = '\0';
    struct wsmd_event e = {.xml = all,
                           .xml_len = 269,
                           .computer = all,
                           .channel = all,
                           .provider = all,
                           .time_created = all,
                           .level = all,
                           .task = "-1",
                           .opcode = "007",
                           .keywords = all,
                           .event_id = -1,
                           .record_id = 5,
                           .rendered_message = all,
                           .qualifiers = -1};
    struct wsmd_event_meta mm = {all, all, all, all};
    wsm__buf_reset(&j);
    assert_int_equal(wsmd__event_json(&j, &e, &mm), WSM_OK);
    assert_true(json_valid(j.data, j.len));
    assert_non_null(strstr(j.data, "\\u0001\\u0002"));
    assert_non_null(strstr(j.data, "\\b\\t\\n\\u000b\\f\\r"));
    assert_non_null(strstr(j.data, "\\ufffd\\ufffd\\ufffd\\\"\\\\\"")); /* ED A0 80, then the end */
    assert_non_null(strstr(j.data, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
    assert_non_null(strstr(j.data, "\"Task\":\"-1\",\"Opcode\":\"007\""));
    assert_non_null(strstr(j.data, "\"EventID\":null,\"EventRecordID\":5,"));
    assert_non_null(strstr(j.data, "\"WellFormed\":false}"));

    /* Qualifiers='0' (Application Error 1000 has it) is left out */
    e.qualifiers = 0;
    wsm__buf_reset(&j);
    assert_int_equal(wsmd__event_json(&j, &e, &mm), WSM_OK);
    assert_null(strstr(j.data, "Qualifiers"));
    e.qualifiers = 1;
    wsm__buf_reset(&j);
    assert_int_equal(wsmd__event_json(&j, &e, &mm), WSM_OK);
    assert_non_null(strstr(j.data, "\"EventID\":null,\"Qualifiers\":1,\"EventRecordID\":5,"));

    /* a malformed event with nothing known */
    struct wsmd_event bare = {
        .xml = "<x", .xml_len = 2, .event_id = -1, .record_id = -1, .qualifiers = -1};
    wsm__buf_reset(&j);
    assert_int_equal(wsmd__event_json(&j, &bare, NULL), WSM_OK);
    assert_string_equal(
        j.data, "{\"Xml\":\"<x\",\"Computer\":null,\"Channel\":null,\"EventID\":null,"
                "\"EventRecordID\":null,\"TimeCreated\":null,\"Provider\":null,\"Level\":null,"
                "\"Task\":null,\"Opcode\":null,\"Keywords\":null,\"Subscription\":null,"
                "\"Client\":null,\"SourceAddress\":null,\"Received\":null,"
                "\"ComputerMismatch\":false,\"WellFormed\":false}");
    assert_true(json_valid(j.data, j.len));

    /* the cap: nothing half-written; an exact fit is enough */
    size_t need = j.len;
    struct wsm_buf small;
    wsm__buf_init(&small, need);
    wsm__buf_puts(&small, "x");
    assert_int_not_equal(wsmd__event_json(&small, &bare, NULL), WSM_OK);
    assert_string_equal(small.data, "x");
    wsm__buf_reset(&small);
    assert_int_equal(wsmd__event_json(&small, &bare, NULL), WSM_OK);
    assert_int_equal(small.len, need);
    wsm__buf_free(&small);
    wsm__buf_free(&j);
    free(u8);
}

static void json_validator_refuses(void **state)
{
    (void)state;
    /* the checker itself must be able to fail */
    const char *bad[] = {"{",          "{\"a\":}", "\"\x01\"",         "\"\xff\"", "\"\\x\"", "01",
                         "{\"a\":1,}", "[1 2]",    "\"\xed\xa0\x80\"", "tru",      "{} {}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(json_valid(bad[i], strlen(bad[i])));
    assert_true(json_valid(" {\"a\":[1,-2.5e3,true,null,\"\\u00e9\"]} ", 36));
}

/* ---- Computer vs principal ------------------------------------------------ */

static void computer_matching(void **state)
{
    (void)state;
    static const struct {
        const char *computer, *principal;
        int want;
    } t[] = {
        {"WS1.example.com", "WS1$@EXAMPLE.COM", 1},
        {"WS1", "WS1$@EXAMPLE.COM", 1},
        {"ws1.EXAMPLE.com.", "WS1$@EXAMPLE.COM", 1},
        {"WS2.example.com", "WS1$@EXAMPLE.COM", 0},
        {"WS1.other.example.com", "WS1$@EXAMPLE.COM", 0},
        {"WS10.example.com", "WS1$@EXAMPLE.COM", 0},
        {"WS.example.com", "WS1$@EXAMPLE.COM", 0},
        {"ws1.example.com", "ws1.example.com", 1},
        {"WS1", "ws1.example.com", 1},
        {"WS1.example.org", "ws1.example.com", 0},
        {"ws1.example.com", "ws1", 1},
        {"WS1.example.com", "EXAMPLE\\WS1$", 1},
        {"WS1", "EXAMPLE\\ws1$", 1},
        {"WS2", "EXAMPLE\\WS1$", 0},
        {"WS1.example.com", "WS1$", 1},
        /* machine accounts are the host name cut to 15 characters */
        {"buildserver-0042.example.com", "BUILDSERVER-004$@EXAMPLE.COM", 1},
        {"buildserver-0042.example.com", "BUILDSERVER-004@EXAMPLE.COM", 0},
        {"buildserver-004.example.com", "BUILDSERVER-004$@EXAMPLE.COM", 1},
        {"WS1.example.com", "host/ws1.example.com@EXAMPLE.COM", 1},
        {"WS1.example.com", "HTTP/ws1.other.com@EXAMPLE.COM", 0},
        {"WS1", "host/ws1@EXAMPLE.COM", 1},
        {NULL, "WS1$@EXAMPLE.COM", 0},
        {"WS1", NULL, 0},
        {"", "WS1$@EXAMPLE.COM", 0},
        {"WS1", "", 0},
        {".example.com", "$@EXAMPLE.COM", 0},
        {"WS1", "@", 0},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        int got = wsmd__event_computer_matches(t[i].computer, t[i].principal);
        if (got != t[i].want)
            fail_msg("%s vs %s: %d", t[i].computer ? t[i].computer : "(null)",
                     t[i].principal ? t[i].principal : "(null)", got);
    }
}

/* ---- threads: each has its own parser context ----------------------------- */

struct thr {
    const xmlNode *events;
    size_t n, good;
};

static void *thr_main(void *arg)
{
    struct thr *t = arg;
    for (int k = 0; k < 50; k++) {
        struct wsm_arena a;
        wsm__arena_init(&a);
        struct wsmd_event *v;
        size_t n;
        if (wsmd__events_parse(t->events, &a, 100, &v, &n) == WSM_OK) {
            t->n += n;
            for (size_t i = 0; i < n; i++)
                t->good += v[i].well_formed && v[i].event_id == (i % 2 ? 7036 : 4624);
        }
        wsm__arena_free(&a);
    }
    wsmd__events_thread_cleanup();
    return NULL;
}

static void threads(void **state)
{
    (void)state;
    const char *evs[] = {EV_4624, EV_7036, EV_4624, EV_7036};
    char *u8 = envelope_of(evs, 4);
    struct batch b;
    size_t nf;
    run_batch(u8, strlen(u8), &b, &nf);
    pthread_t th[4];
    struct thr t[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (struct thr){.events = b.env->payload};
        assert_int_equal(pthread_create(&th[i], NULL, thr_main, &t[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(t[i].n, 200);
        assert_int_equal(t[i].good, 200);
    }
    batch_free(&b);
    free(u8);
}

/* ---- the fuzz seed corpus: realistic bodies parse into events --------------- */

static void corpus_bodies(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        size_t events, fixed;
        const char *computer;
    } t[] = {
        {"body_utf16le_bom.bin", 3, 4, "WS1.example.com"},
        {"body_utf8.xml", 3, 4, "WS1.example.com"},
        {"body_utf16be_nobom.bin", 1, 0, "ws2.example.com"},
        {"body_element_event.xml", 1, 0, "ws2.example.com"},
        {"body_heartbeat.bin", 0, 0, NULL},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", EVENTS_CORPUS, t[i].file);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static char body[1 << 16];
        size_t len = fread(body, 1, sizeof(body), f);
        fclose(f);
        struct batch b;
        size_t nf;
        run_batch(body, len, &b, &nf);
        assert_int_equal(b.n, t[i].events);
        assert_int_equal(nf, t[i].fixed);
        for (size_t k = 0; k < b.n; k++) {
            assert_true(b.ev[k].well_formed);
            assert_string_equal(b.ev[k].computer, t[i].computer);
            assert_true(b.ev[k].event_id > 0 && b.ev[k].record_id > 0);
        }
        batch_free(&b);
    }
}

/* ---- speed (printed, and a floor far below the targets so that a slow CI
 * machine does not fail, while a quadratic mistake does) ------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID,
                  &ts); /* CPU time: a busy CI machine slows the clock, not the figures */
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void speed(void **state)
{
    (void)state;
    const char *evs[64];
    for (int i = 0; i < 64; i++)
        evs[i] = EV_4624;
    char *u8 = envelope_of(evs, 64);
    as_utf8(u8);
    size_t len = strlen(u8);
    unsigned char *u16 = malloc(len * 2 + 2);
    size_t n16 = to_utf16(u8, u16, 0, 1);
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    size_t nf, bytes = 0;
    double t0 = now_s();
    while (now_s() - t0 < 0.2) {
        for (int i = 0; i < 20; i++) {
            wsm__buf_reset(&b);
            assert_int_equal(wsmd__events_prepare(u8, len, &b, 1 << 24, &nf), WSM_OK);
            bytes += len;
        }
    }
    double utf8 = (double)bytes / (now_s() - t0) / 1e6;
    bytes = 0;
    t0 = now_s();
    while (now_s() - t0 < 0.2) {
        for (int i = 0; i < 20; i++) {
            wsm__buf_reset(&b);
            assert_int_equal(wsmd__events_prepare(u16, n16, &b, 1 << 24, &nf), WSM_OK);
            bytes += n16;
        }
    }
    double utf16 = (double)bytes / (now_s() - t0) / 1e6;
    wsm__buf_free(&b);

    struct wsm_envelope *env;
    struct wsm_limits lim = {.max_size = 1 << 22};
    assert_int_equal(wsm__envelope_parse(u8, len, &lim, &env, NULL, 0), WSM_OK);
    size_t events = 0;
    t0 = now_s();
    while (now_s() - t0 < 0.3) {
        struct wsm_arena a;
        wsm__arena_init(&a);
        struct wsmd_event *v;
        size_t n;
        assert_int_equal(wsmd__events_parse(env->payload, &a, 100, &v, &n), WSM_OK);
        assert_true(v[63].well_formed);
        events += n;
        wsm__arena_free(&a);
    }
    double eps = (double)events / (now_s() - t0);
    wsm__envelope_free(env);
    printf("# prepare: %.0f MB/s UTF-8, %.0f MB/s UTF-16LE (of input); parse: %.0f events/s "
           "(%zu-byte Security events)\n",
           utf8, utf16, eps, strlen(EV_4624));
#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__)
    /* (floors only for an optimized build without sanitizers) */
    assert_true(utf8 > 50);
    assert_true(utf16 > 25);
    assert_true(eps > 5000);
#endif
    free(u16);
    free(u8);
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
        cmocka_unit_test(json_event),
        cmocka_unit_test(json_validator_refuses),
        cmocka_unit_test(computer_matching),
        cmocka_unit_test(corpus_bodies),
        cmocka_unit_test(threads),
        cmocka_unit_test(speed),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    wsm__envelope_thread_cleanup();
    wsmd__events_thread_cleanup();
    xmlCleanupParser();
    return r;
}
