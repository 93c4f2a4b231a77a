/* Unit tests for SOAP envelope parsing and reply envelopes (src/lib/envelope.c):
 * requests as clients send them (pywinrm's Command byte for byte, Identify),
 * the header values read, xs:duration, and replies read back. The SOAP
 * version and the headers' rules are in test_envelope_headers.c, hostile
 * input (DTDs, depth, sizes, threads) in test_envelope_hostile.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "envelope_helpers.h"

/* The body of a pywinrm Command request, byte for byte as captured in
 * /work/shared/captures/pywinrm/Command.txt (Content-Length: 1770). Note the
 * unprefixed mustUnderstand attributes pywinrm writes. */
/* clang-format off */
static const char pywinrm_command[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<env:Envelope"
    " xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\""
    " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""
    " xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\""
    " xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\""
    " xmlns:b=\"http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd\""
    " xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\""
    " xmlns:x=\"http://schemas.xmlsoap.org/ws/2004/09/transfer\""
    " xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\""
    " xmlns:p=\"http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd\""
    " xmlns:rsp=\"http://schemas.microsoft.com/wbem/wsman/1/windows/shell\""
    " xmlns:cfg=\"http://schemas.microsoft.com/wbem/wsman/1/config\">"
    "<env:Header>"
    "<a:To>http://windows-host:5985/wsman</a:To>"
    "<a:ReplyTo>"
    "<a:Address mustUnderstand=\"true\">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address>"
    "</a:ReplyTo>"
    "<w:MaxEnvelopeSize mustUnderstand=\"true\">153600</w:MaxEnvelopeSize>"
    "<a:MessageID>uuid:ab403ecb-6978-472d-a8b4-779fbe0f684a</a:MessageID>"
    "<w:Locale mustUnderstand=\"false\" xml:lang=\"en-US\">"
    "</w:Locale>"
    "<p:DataLocale mustUnderstand=\"false\" xml:lang=\"en-US\">"
    "</p:DataLocale>"
    "<w:OperationTimeout>PT20S</w:OperationTimeout>"
    "<w:ResourceURI mustUnderstand=\"true\">http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</w:ResourceURI>"
    "<a:Action mustUnderstand=\"true\">http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command</a:Action>"
    "<w:SelectorSet>"
    "<w:Selector Name=\"ShellId\">9EF9C442-D47C-40DC-BBB6-E84B21F0C3B8</w:Selector>"
    "</w:SelectorSet>"
    "<w:OptionSet>"
    "<w:Option Name=\"WINRS_CONSOLEMODE_STDIN\">TRUE</w:Option>"
    "<w:Option Name=\"WINRS_SKIP_CMD_SHELL\">FALSE</w:Option>"
    "</w:OptionSet>"
    "</env:Header>"
    "<env:Body>"
    "<rsp:CommandLine>"
    "<rsp:Command>echo hello</rsp:Command>"
    "</rsp:CommandLine>"
    "</env:Body>"
    "</env:Envelope>";
/* clang-format on */

static void test_pywinrm_command(void **state)
{
    (void)state;
    struct wsm_envelope *env = NULL;
    assert_int_equal(strlen(pywinrm_command), 1770);
    assert_int_equal(parse(pywinrm_command, &env), WSM_OK);

    assert_string_equal(env->action,
                        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command");
    assert_string_equal(env->message_id, "uuid:ab403ecb-6978-472d-a8b4-779fbe0f684a");
    assert_string_equal(env->resource_uri,
                        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd");
    assert_string_equal(env->to, "http://windows-host:5985/wsman");
    assert_string_equal(env->reply_to, WSM_ADDR_ANONYMOUS);
    assert_null(env->relates_to);
    assert_int_equal(env->operation_timeout_ms, 20000);
    assert_int_equal(env->max_envelope_size, 153600);
    assert_string_equal(env->locale, "en-US");
    assert_false(env->is_identify);

    assert_int_equal(env->nselectors, 1);
    assert_string_equal(env->selectors[0].name, "ShellId");
    assert_string_equal(env->selectors[0].value, "9EF9C442-D47C-40DC-BBB6-E84B21F0C3B8");
    assert_string_equal(wsm__envelope_selector(env, "ShellId"),
                        "9EF9C442-D47C-40DC-BBB6-E84B21F0C3B8");
    assert_null(wsm__envelope_selector(env, "shellid"));
    assert_null(wsm__envelope_selector(env, "CommandId"));

    assert_int_equal(env->noptions, 2);
    assert_string_equal(wsm__envelope_option(env, "WINRS_CONSOLEMODE_STDIN"), "TRUE");
    assert_string_equal(wsm__envelope_option(env, "WINRS_SKIP_CMD_SHELL"), "FALSE");
    assert_null(wsm__envelope_option(env, "WINRS_NOPROFILE"));
    assert_null(wsm__envelope_option(env, "ShellId"));

    assert_non_null(env->header);
    assert_non_null(env->body);
    assert_true(wsm__xml_is(env->body, WSM_NS_SOAP, "Body"));
    assert_true(wsm__xml_is(env->payload, WSM_NS_SHELL, "CommandLine"));
    xmlNodePtr cmd = wsm__xml_child(env->payload, WSM_NS_SHELL, "Command");
    assert_non_null(cmd);
    assert_string_equal(wsm__xml_text(&env->arena, cmd, 1), "echo hello");
    wsm__envelope_free(env);
}

static void test_header_values(void **state)
{
    (void)state;
    struct wsm_envelope *env = NULL;
    /* Entities and character references decode, CDATA is text, values are
     * trimmed, a Locale without xml:lang defaults to en-US. */
    const char *xml = ENV("<a:Action>\n  http://x/?a=1&amp;b=&lt;2&gt;&#x41;  \n</a:Action>"
                          "<a:MessageID><![CDATA[uuid:cdata]]></a:MessageID>"
                          "<a:RelatesTo>uuid:earlier</a:RelatesTo>"
                          "<w:Locale/>"
                          "<w:SelectorSet><w:Selector Name=\"a&amp;b\"> v&#9; </w:Selector>"
                          "</w:SelectorSet>",
                          "<x:Payload xmlns:x=\"urn:x\"/>");
    assert_int_equal(parse(xml, &env), WSM_OK);
    assert_string_equal(env->action, "http://x/?a=1&b=<2>A");
    assert_string_equal(env->message_id, "uuid:cdata");
    assert_string_equal(env->relates_to, "uuid:earlier");
    assert_string_equal(env->locale, "en-US");
    assert_null(env->to);
    assert_null(env->reply_to);
    assert_null(env->resource_uri);
    assert_int_equal(env->operation_timeout_ms, -1);
    assert_int_equal(env->max_envelope_size, -1);
    assert_string_equal(wsm__envelope_selector(env, "a&b"), "v");
    assert_true(wsm__xml_is(env->payload, "urn:x", "Payload"));
    wsm__envelope_free(env);

    /* The Locale's xml:lang is taken as it is. */
    assert_int_equal(parse(ENV(H_ACTION H_MSGID "<w:Locale xml:lang=\"de-DE\"/>", ""), &env),
                     WSM_OK);
    assert_string_equal(env->locale, "de-DE");
    wsm__envelope_free(env);

    /* Headers in a namespace other than the ones we know are ignored. */
    xml = ENV(H_ACTION H_MSGID "<x:Action xmlns:x=\"urn:other\">nope</x:Action>", "");
    assert_int_equal(parse(xml, &env), WSM_OK);
    assert_string_equal(env->action, "http://example.org/Act");
    assert_null(env->payload);
    wsm__envelope_free(env);
}

static void test_identify(void **state)
{
    (void)state;
    struct wsm_envelope *env = NULL;
    /* Identify needs neither Action nor MessageID, nor even a Header. */
    assert_int_equal(parse(ENV("", IDENTIFY), &env), WSM_OK);
    assert_true(env->is_identify);
    assert_null(env->action);
    assert_null(env->message_id);
    wsm__envelope_free(env);

    assert_int_equal(parse("<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\"><s:Body>" IDENTIFY
                           "</s:Body></s:Envelope>",
                           &env),
                     WSM_OK);
    assert_true(env->is_identify);
    assert_null(env->header);
    wsm__envelope_free(env);

    assert_int_equal(parse(ENV(H_ACTION H_MSGID, IDENTIFY), &env), WSM_OK);
    assert_true(env->is_identify);
    wsm__envelope_free(env);

    /* The same element in another namespace is not Identify. */
    assert_int_equal(
        parse(ENV(H_ACTION H_MSGID, "<i:Identify xmlns:i=\"urn:not-identity\"/>"), &env), WSM_OK);
    assert_false(env->is_identify);
    wsm__envelope_free(env);
    expect_err(ENV("", "<i:Identify xmlns:i=\"urn:not-identity\"/>"), NULL,
               WSM_ERR_HEADER_REQUIRED);
    /* Nor is another element in the identity namespace. */
    expect_err(ENV("", "<wsmid:Other xmlns:wsmid=\"" WSM_NS_IDENTITY "\"/>"), NULL,
               WSM_ERR_HEADER_REQUIRED);
    /* An ordinary request without a Header lacks its required headers. */
    expect_err("<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\"><s:Body/></s:Envelope>", NULL,
               WSM_ERR_HEADER_REQUIRED);
}

static void expect_duration(const char *s, long want)
{
    long ms = -12345;
    enum wsm_err e = wsm__duration_ms(s, &ms);
    if (e != WSM_OK)
        fail_msg("\"%s\" refused: %s", s, wsm_strerror(e));
    if (ms != want)
        fail_msg("\"%s\" gave %ld, expected %ld", s, ms, want);
}

static void test_duration(void **state)
{
    (void)state;
    expect_duration("PT60.000S", 60000);
    expect_duration("PT1M30S", 90000);
    expect_duration("P1DT1H", 90000000L);
    expect_duration("PT0.5S", 500);
    expect_duration("PT20S", 20000);
    expect_duration("PT0S", 0);
    expect_duration("P0D", 0);
    expect_duration("PT1H", 3600000L);
    expect_duration("P2D", 172800000L);
    expect_duration("P1DT2H3M4.5S", 86400000L + 7200000L + 180000L + 4500L);
    expect_duration(" PT5S\n", 5000);

    static const char *const bad[] = {
        "",     "P",     "60",    "PT-1S", "P1Y",   "PTS",   "-PT1S",           "P1M",
        "PT1D", "P1H",   "P1S",   "PT",    "T1S",   "PT1S2", "PT1.5.5S",        "PTT1S",
        "pt1s", "PT1 S", "PT1SX", "P1W",   "PT+1S", " ",     "PT999999999999S",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long ms = -12345;
        enum wsm_err e = wsm__duration_ms(bad[i], &ms);
        if (e != WSM_ERR_INVALID_TIMEOUT)
            fail_msg("\"%s\" accepted (%ld ms)", bad[i], ms);
        assert_int_equal(ms, -12345); /* untouched on failure */
    }
}

static void test_reply_roundtrip(void **state)
{
    (void)state;
    const char *action = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
                         "CommandResponse?x=1&y=<2>";
    const char *relates = "uuid:AB403ECB-6978-472D-A8B4-779FBE0F684A<&>\"'";
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    assert_int_equal(wsm__reply_begin(&b, action, relates, " xmlns:rsp=\"" WSM_NS_SHELL "\""),
                     WSM_OK);
    assert_int_equal(wsm__buf_puts(&b, "<rsp:CommandResponse><rsp:CommandId>C1</rsp:CommandId>"
                                       "</rsp:CommandResponse>"),
                     WSM_OK);
    assert_int_equal(wsm__reply_end(&b), WSM_OK);

    struct wsm_limits lim = {.response = 1};
    struct wsm_envelope *env = NULL;
    assert_int_equal(parse_lim(b.data, &lim, &env), WSM_OK);
    assert_string_equal(env->action, action);
    assert_string_equal(env->relates_to, relates);
    assert_string_equal(env->to, WSM_ADDR_ANONYMOUS);
    assert_non_null(env->message_id);
    assert_int_equal(strlen(env->message_id), 41);
    assert_memory_equal(env->message_id, "uuid:", 5);
    assert_string_not_equal(env->message_id, relates);
    assert_true(wsm__xml_is(env->payload, WSM_NS_SHELL, "CommandResponse"));
    char first_id[64];
    strcpy(first_id, env->message_id);
    wsm__envelope_free(env);

    /* It is also a valid request as far as required headers go. */
    expect_ok(b.data, NULL);

    /* Without RelatesTo or extra namespaces; and a fresh MessageID. */
    wsm__buf_reset(&b);
    assert_int_equal(wsm__reply_begin(&b, "http://x/Act", NULL, NULL), WSM_OK);
    assert_int_equal(wsm__reply_end(&b), WSM_OK);
    assert_int_equal(parse_lim(b.data, &lim, &env), WSM_OK);
    assert_string_equal(env->action, "http://x/Act");
    assert_null(env->relates_to);
    assert_null(env->payload);
    assert_string_not_equal(env->message_id, first_id);
    wsm__envelope_free(env);

    /* A buffer too small for the envelope refuses it. */
    struct wsm_buf small;
    wsm__buf_init(&small, 64);
    assert_int_equal(wsm__reply_begin(&small, action, relates, NULL), WSM_ERR_ENVELOPE_TOO_LARGE);
    wsm__buf_free(&small);
    wsm__buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pywinrm_command), cmocka_unit_test(test_header_values),
        cmocka_unit_test(test_identify),        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_reply_roundtrip),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    wsm__envelope_thread_cleanup(); /* this thread's cached parser context */
    xmlCleanupParser();
    return rc;
}
