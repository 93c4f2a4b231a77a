/* Unit tests for SOAP envelope parsing and reply envelopes (src/lib/envelope.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "envelope.h"
#include "ns.h"

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

#define NS_DECL                                                                                    \
    " xmlns:s=\"" WSM_NS_SOAP "\" xmlns:a=\"" WSM_NS_WSA "\" xmlns:w=\"" WSM_NS_WSMAN "\""
#define ENV(headers, body)                                                                         \
    "<s:Envelope" NS_DECL "><s:Header>" headers "</s:Header><s:Body>" body "</s:Body></"           \
    "s:Envelope>"
#define MSGID "uuid:11111111-2222-3333-4444-555555555555"
#define H_ACTION "<a:Action>http://example.org/Act</a:Action>"
#define H_MSGID "<a:MessageID>" MSGID "</a:MessageID>"
#define IDENTIFY "<wsmid:Identify xmlns:wsmid=\"" WSM_NS_IDENTITY "\"/>"

static enum wsm_err parse_lim(const char *xml, const struct wsm_limits *lim,
                              struct wsm_envelope **env)
{
    *env = NULL;
    enum wsm_err e = wsm__envelope_parse(xml, strlen(xml), lim, env, NULL, 0);
    if (e)
        assert_null(*env);
    else
        assert_non_null(*env);
    return e;
}

static enum wsm_err parse(const char *xml, struct wsm_envelope **env)
{
    return parse_lim(xml, NULL, env);
}

/* Parses xml expecting failure err; returns nothing, frees nothing. */
static void expect_err(const char *xml, const struct wsm_limits *lim, enum wsm_err err)
{
    struct wsm_envelope *env = NULL;
    enum wsm_err e = parse_lim(xml, lim, &env);
    if (e != err) {
        wsm__envelope_free(env);
        fail_msg("expected %d (%s), got %d (%s) for: %s", err, wsm_strerror(err), e,
                 wsm_strerror(e), xml);
    }
}

static void expect_ok(const char *xml, const struct wsm_limits *lim)
{
    struct wsm_envelope *env = NULL;
    enum wsm_err e = parse_lim(xml, lim, &env);
    if (e != WSM_OK)
        fail_msg("expected success, got %d (%s) for: %s", e, wsm_strerror(e), xml);
    wsm__envelope_free(env);
}

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

static void test_dtd_refused(void **state)
{
    (void)state;
    expect_err("<?xml version=\"1.0\"?><!DOCTYPE s:Envelope []>" ENV(H_ACTION H_MSGID, ""), NULL,
               WSM_ERR_XML_DTD);
    expect_err("<!DOCTYPE x SYSTEM \"file:///etc/passwd\">" ENV(H_ACTION H_MSGID, ""), NULL,
               WSM_ERR_XML_DTD);

    static const char lolz[] =
        "<?xml version=\"1.0\"?>\n"
        "<!DOCTYPE lolz [\n"
        " <!ENTITY lol \"lol\">\n"
        " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
        " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
        " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
        " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
        " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
        " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
        " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
        " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
        " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
        "]>\n" ENV("<a:Action>&lol9;</a:Action>" H_MSGID, "<x xmlns=\"urn:x\">&lol9;</x>");
    expect_err(lolz, NULL, WSM_ERR_XML_DTD);
    /* An entity declaration on its own is refused as well. */
    expect_err(ENV(H_ACTION H_MSGID, "<!ENTITY x \"y\">"), NULL, WSM_ERR_XML_DTD);
}

/* The same document type declaration in UTF-16LE: the byte scan cannot see
 * it, so the parser's own hook has to refuse it. */
static void test_dtd_refused_utf16(void **state)
{
    (void)state;
    static const char ascii_dtd[] =
        "<?xml version=\"1.0\" encoding=\"UTF-16\"?>"
        "<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol1 \"&lol;&lol;&lol;&lol;\">]>" ENV(
            "<a:Action>&lol1;</a:Action>" H_MSGID, "");
    static const char ascii_ok[] = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>" ENV("", IDENTIFY);
    /* A DOCTYPE without any entity declaration: only the DOCTYPE hooks see it. */
    static const char ascii_doctype[] =
        "<?xml version=\"1.0\" encoding=\"UTF-16\"?>"
        "<!DOCTYPE s:Envelope SYSTEM \"http://127.0.0.1:9/x.dtd\">" ENV("", IDENTIFY);
    const char *docs[] = {ascii_dtd, ascii_doctype, ascii_ok};
    const enum wsm_err want[] = {WSM_ERR_XML_DTD, WSM_ERR_XML_DTD, WSM_OK};
    for (int d = 0; d < 3; d++) {
        size_t n = strlen(docs[d]);
        char *u16 = malloc(2 + 2 * n);
        assert_non_null(u16);
        u16[0] = (char)0xff;
        u16[1] = (char)0xfe;
        for (size_t i = 0; i < n; i++) {
            u16[2 + 2 * i] = docs[d][i];
            u16[3 + 2 * i] = '\0';
        }
        struct wsm_envelope *env = NULL;
        enum wsm_err e = wsm__envelope_parse(u16, 2 + 2 * n, NULL, &env, NULL, 0);
        free(u16);
        if (e == WSM_OK) {
            assert_true(env->is_identify);
            wsm__envelope_free(env);
        }
        assert_int_equal(e, want[d]);
    }
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "not xml at all",
        "<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\"><s:Body></s:Envelope>",
        "<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\"><s:Body/>",
        "<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\"><s:Body/></s:Envelope><extra/>",
        ENV(H_ACTION H_MSGID, "<x>&undeclared;</x>"),
        ENV(H_ACTION H_MSGID, "<x a=\"1\" a=\"2\"/>"),
        "<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\"><s:Body>\x01</s:Body></s:Envelope>",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        "<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\"><s:Body>\xff\xfe</s:Body></s:Envelope>",
        "<",
        " ",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_err(bad[i], NULL, WSM_ERR_XML_MALFORMED);
}

/* A check for a bug found and fixed: it fails the suite if the bug returns. */
#define KNOWN_BUG(cond, why)                                                                       \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_msg("regression (%s:%d): %s", __FILE__, __LINE__, why);                           \
    } while (0)

static void test_empty_input(void **state)
{
    (void)state;
    /* An empty POST body is malformed XML (a client error, HTTP 400), not an
     * allocation failure (500). */
    struct wsm_envelope *env = NULL;
    enum wsm_err e = wsm__envelope_parse("", 0, NULL, &env, NULL, 0);
    assert_null(env);
    assert_int_equal(e, WSM_ERR_XML_MALFORMED);
    /* The same for a NULL buffer of length 0. */
    e = wsm__envelope_parse(NULL, 0, NULL, &env, NULL, 0);
    assert_null(env);
    assert_int_equal(e, WSM_ERR_XML_MALFORMED);
}

static void test_undeclared_prefix(void **state)
{
    (void)state;
    /* Not namespace-well-formed: libxml2 reports this as a namespace error
     * (nsWellFormed = 0) while wellFormed stays 1. */
    struct wsm_envelope *env = NULL;
    enum wsm_err e = parse(ENV(H_ACTION H_MSGID, "<u:x/>"), &env);
    wsm__envelope_free(env);
    KNOWN_BUG(e == WSM_ERR_XML_MALFORMED,
              "an undeclared namespace prefix is accepted: only ctxt->wellFormed is checked, "
              "not ctxt->nsWellFormed");
    assert_int_equal(e, WSM_ERR_XML_MALFORMED);
}

static void test_depth(void **state)
{
    (void)state;
    struct wsm_limits lim = {.max_depth = 4};
    /* Envelope, Body, Identify and one child: exactly 4 levels. */
    const char *ok = ENV("", "<wsmid:Identify xmlns:wsmid=\"" WSM_NS_IDENTITY "\"><x/>"
                             "</wsmid:Identify>");
    expect_ok(ok, &lim);
    /* Siblings do not add depth. */
    expect_ok(ENV("", "<wsmid:Identify xmlns:wsmid=\"" WSM_NS_IDENTITY "\"><x/><y/><z/>"
                      "</wsmid:Identify>"),
              &lim);
    expect_err(ENV("", "<wsmid:Identify xmlns:wsmid=\"" WSM_NS_IDENTITY "\"><x><y/></x>"
                       "</wsmid:Identify>"),
               &lim, WSM_ERR_XML_DEPTH);
    /* Header children count the same way: Envelope, Header, ReplyTo,
     * Address is 4 levels. */
    const char *reply_to =
        ENV(H_ACTION H_MSGID "<a:ReplyTo><a:Address>x</a:Address></a:ReplyTo>", "");
    expect_ok(reply_to, &lim);
    lim.max_depth = 3;
    expect_err(reply_to, &lim, WSM_ERR_XML_DEPTH);
    lim.max_depth = 1;
    expect_err(ok, &lim, WSM_ERR_XML_DEPTH);

    /* The default cap (64) stops a deep document too. */
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    assert_int_equal(wsm__buf_puts(&b, "<s:Envelope" NS_DECL "><s:Header>" H_ACTION H_MSGID
                                       "</s:Header><s:Body>"),
                     WSM_OK);
    for (int i = 0; i < 100; i++)
        assert_int_equal(wsm__buf_puts(&b, "<d>"), WSM_OK);
    for (int i = 0; i < 100; i++)
        assert_int_equal(wsm__buf_puts(&b, "</d>"), WSM_OK);
    assert_int_equal(wsm__buf_puts(&b, "</s:Body></s:Envelope>"), WSM_OK);
    expect_err(b.data, NULL, WSM_ERR_XML_DEPTH);
    /* ...while a generous explicit cap lets it through. */
    lim.max_depth = 200;
    expect_ok(b.data, &lim);
    wsm__buf_free(&b);
}

/* Attributes per element are capped before libxml2 sees the document
 * (its duplicate check is quadratic); quotes, comments and CDATA do not
 * fool the count. */
static void test_attribute_cap(void **state)
{
    (void)state;
    struct wsm_limits lim = {.max_attrs = 3};
    /* Identify with two attributes (xmlns:wsmid and a): fine at 3. */
    const char *two = ENV("", "<wsmid:Identify xmlns:wsmid=\"" WSM_NS_IDENTITY "\" a=\"1\"/>");
    expect_ok(two, &lim);
    expect_err(ENV("", "<wsmid:Identify xmlns:wsmid=\"" WSM_NS_IDENTITY "\" a=\"1\" b='2' "
                       "c=\"3\"/>"),
               &lim, WSM_ERR_XML_ATTRIBUTES);
    /* '=' inside values, comments and CDATA are no attributes. */
    expect_ok(ENV("", "<!-- a=1 b=2 c=3 d=4 --><wsmid:Identify xmlns:wsmid=\"" WSM_NS_IDENTITY
                      "\" a=\"x=y=z=w\"><![CDATA[ e=1 f=2 g=3 h=4 ]]></wsmid:Identify>"),
              &lim);
    /* The default cap: 5000 attributes on one element are refused, fast. */
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    assert_int_equal(wsm__buf_puts(&b, "<s:Envelope" NS_DECL "><s:Header>" H_ACTION H_MSGID
                                       "</s:Header><s:Body><x"),
                     WSM_OK);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(wsm__buf_printf(&b, " a%d=\"\"", i), WSM_OK);
    assert_int_equal(wsm__buf_puts(&b, "/></s:Body></s:Envelope>"), WSM_OK);
    expect_err(b.data, NULL, WSM_ERR_XML_ATTRIBUTES);
    lim.max_attrs = 6000;
    expect_ok(b.data, &lim);
    wsm__buf_free(&b);
    /* Replies are not capped (a client reads what its server sends). */
    struct wsm_limits reply = {.max_attrs = 1, .response = 1};
    expect_ok(two, &reply);
}

static void test_too_large(void **state)
{
    (void)state;
    const char *xml = ENV(H_ACTION H_MSGID, "");
    size_t n = strlen(xml);
    struct wsm_limits lim = {.max_size = n};
    expect_ok(xml, &lim);
    lim.max_size = n - 1;
    expect_err(xml, &lim, WSM_ERR_ENVELOPE_TOO_LARGE);
    lim.max_size = 100;
    expect_err(xml, &lim, WSM_ERR_ENVELOPE_TOO_LARGE);

    /* The default limit is WSM_DEFAULT_MAX_ENVELOPE bytes; trailing
     * whitespace after the root element is well-formed filler. */
    char *big = malloc(WSM_DEFAULT_MAX_ENVELOPE + 2);
    assert_non_null(big);
    memcpy(big, xml, n);
    memset(big + n, ' ', WSM_DEFAULT_MAX_ENVELOPE + 1 - n);
    big[WSM_DEFAULT_MAX_ENVELOPE + 1] = '\0';
    expect_err(big, NULL, WSM_ERR_ENVELOPE_TOO_LARGE);
    big[WSM_DEFAULT_MAX_ENVELOPE] = '\0';
    expect_ok(big, NULL);
    free(big);
}

static void test_soap_version(void **state)
{
    (void)state;
    expect_err("<e:Envelope xmlns:e=\"" WSM_NS_SOAP11 "\" xmlns:a=\"" WSM_NS_WSA
               "\"><e:Header>" H_ACTION H_MSGID "</e:Header><e:Body/></e:Envelope>",
               NULL, WSM_ERR_SOAP_VERSION);
    expect_err("<Envelope xmlns=\"" WSM_NS_SOAP11 "\"><Body/></Envelope>", NULL,
               WSM_ERR_SOAP_VERSION);
}

static void test_not_soap(void **state)
{
    (void)state;
    expect_err("<s:Enveloppe xmlns:s=\"" WSM_NS_SOAP "\"><s:Body/></s:Enveloppe>", NULL,
               WSM_ERR_NOT_SOAP);
    expect_err("<s:Body xmlns:s=\"" WSM_NS_SOAP "\"/>", NULL, WSM_ERR_NOT_SOAP);
    expect_err("<html><body>hi</body></html>", NULL, WSM_ERR_NOT_SOAP);
    /* Envelope without a namespace, or in an unrelated one. */
    expect_err("<Envelope><Body/></Envelope>", NULL, WSM_ERR_NOT_SOAP);
    expect_err("<e:Envelope xmlns:e=\"urn:not-soap\"><e:Body/></e:Envelope>", NULL,
               WSM_ERR_NOT_SOAP);
    /* A SOAP 1.2 Envelope without a Body. */
    expect_err("<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\" xmlns:a=\"" WSM_NS_WSA
               "\"><s:Header>" H_ACTION H_MSGID "</s:Header></s:Envelope>",
               NULL, WSM_ERR_NOT_SOAP);
    /* A Body in the wrong namespace is no Body. */
    expect_err("<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\"><Body/></s:Envelope>", NULL,
               WSM_ERR_NOT_SOAP);
}

static void test_required_headers(void **state)
{
    (void)state;
    struct wsm_envelope *env = NULL;
    char msgid[64];

    /* Missing Action: the fault can still relate to the MessageID. */
    const char *no_action = ENV("<a:To>http://h/wsman</a:To>" H_MSGID, "");
    strcpy(msgid, "untouched");
    assert_int_equal(
        wsm__envelope_parse(no_action, strlen(no_action), NULL, &env, msgid, sizeof(msgid)),
        WSM_ERR_HEADER_REQUIRED);
    assert_null(env);
    assert_string_equal(msgid, MSGID);

    /* An empty Action is as good as none. */
    const char *empty_action = ENV("<a:Action/>" H_MSGID, "");
    strcpy(msgid, "untouched");
    assert_int_equal(
        wsm__envelope_parse(empty_action, strlen(empty_action), NULL, &env, msgid, sizeof(msgid)),
        WSM_ERR_HEADER_REQUIRED);
    assert_string_equal(msgid, MSGID);

    /* Missing MessageID: nothing to copy. */
    const char *no_msgid = ENV(H_ACTION, "");
    strcpy(msgid, "untouched");
    assert_int_equal(
        wsm__envelope_parse(no_msgid, strlen(no_msgid), NULL, &env, msgid, sizeof(msgid)),
        WSM_ERR_HEADER_REQUIRED);
    assert_string_equal(msgid, "untouched");
    expect_err(ENV(H_ACTION "<a:MessageID>  </a:MessageID>", ""), NULL, WSM_ERR_HEADER_REQUIRED);

    /* A msgid buffer too small for the id is left alone (no truncation,
     * no overflow). */
    char small[sizeof(MSGID) - 1];
    memset(small, 'Z', sizeof(small));
    assert_int_equal(
        wsm__envelope_parse(no_action, strlen(no_action), NULL, &env, small, sizeof(small)),
        WSM_ERR_HEADER_REQUIRED);
    for (size_t i = 0; i < sizeof(small); i++)
        assert_int_equal(small[i], 'Z');
    char exact[sizeof(MSGID)];
    assert_int_equal(
        wsm__envelope_parse(no_action, strlen(no_action), NULL, &env, exact, sizeof(exact)),
        WSM_ERR_HEADER_REQUIRED);
    assert_string_equal(exact, MSGID);

    /* A failure before the headers were read leaves msgid alone. */
    const char *broken = "<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\">" H_MSGID;
    strcpy(msgid, "untouched");
    assert_int_equal(wsm__envelope_parse(broken, strlen(broken), NULL, &env, msgid, sizeof(msgid)),
                     WSM_ERR_XML_MALFORMED);
    assert_string_equal(msgid, "untouched");

    /* Replies need neither Action nor MessageID. */
    struct wsm_limits lim = {.response = 1};
    expect_ok(ENV("", ""), &lim);
    expect_ok(ENV(H_ACTION, ""), &lim);
}

static void test_must_understand(void **state)
{
    (void)state;
    char msgid[64];
    struct wsm_envelope *env = NULL;
    const char *mu_soap =
        ENV(H_ACTION H_MSGID "<x:Ext xmlns:x=\"urn:ext\" s:mustUnderstand=\"true\">1</x:Ext>", "");
    strcpy(msgid, "untouched");
    assert_int_equal(
        wsm__envelope_parse(mu_soap, strlen(mu_soap), NULL, &env, msgid, sizeof(msgid)),
        WSM_ERR_MUST_UNDERSTAND);
    assert_null(env);
    assert_string_equal(msgid, MSGID);

    expect_err(ENV(H_ACTION H_MSGID "<x:Ext xmlns:x=\"urn:ext\" s:mustUnderstand=\"1\"/>", ""),
               NULL, WSM_ERR_MUST_UNDERSTAND);
    /* pywinrm style: the attribute without the SOAP prefix. */
    expect_err(ENV(H_ACTION H_MSGID "<x:Ext xmlns:x=\"urn:ext\" mustUnderstand=\"true\"/>", ""),
               NULL, WSM_ERR_MUST_UNDERSTAND);
    /* Unknown headers in namespaces we do know are no different. */
    expect_err(ENV(H_ACTION H_MSGID "<a:Unheard s:mustUnderstand=\"true\"/>", ""), NULL,
               WSM_ERR_MUST_UNDERSTAND);
    /* RequestTotalItemsCountEstimate is understood: Enumerate and Pull
     * answer it. */
    const char *est =
        ENV(H_ACTION H_MSGID "<w:RequestTotalItemsCountEstimate s:mustUnderstand=\"true\"/>", "");
    assert_int_equal(wsm__envelope_parse(est, strlen(est), NULL, &env, NULL, 0), WSM_OK);
    assert_int_equal(env->want_count_estimate, 1);
    wsm__envelope_free(env);
    const char *noest = ENV(H_ACTION H_MSGID, "");
    assert_int_equal(wsm__envelope_parse(noest, strlen(noest), NULL, &env, NULL, 0), WSM_OK);
    assert_int_equal(env->want_count_estimate, 0);
    wsm__envelope_free(env);
    /* FragmentTransfer is understood (fragment Get and Put). */
    expect_ok(ENV(H_ACTION H_MSGID "<w:FragmentTransfer s:mustUnderstand=\"true\">a/b"
                                   "</w:FragmentTransfer>",
                  ""),
              NULL);

    /* The same headers without mustUnderstand, or with it false, are fine. */
    expect_ok(ENV(H_ACTION H_MSGID "<x:Ext xmlns:x=\"urn:ext\">1</x:Ext>", ""), NULL);
    expect_ok(ENV(H_ACTION H_MSGID "<x:Ext xmlns:x=\"urn:ext\" s:mustUnderstand=\"false\"/>", ""),
              NULL);
    expect_ok(ENV(H_ACTION H_MSGID "<x:Ext xmlns:x=\"urn:ext\" mustUnderstand=\"0\"/>", ""), NULL);
    expect_ok(ENV(H_ACTION H_MSGID "<w:FragmentTransfer>a/b</w:FragmentTransfer>", ""), NULL);
    /* Known headers marked mustUnderstand are understood. */
    expect_ok(ENV("<a:Action s:mustUnderstand=\"true\">http://x</a:Action>"
                  "<a:MessageID s:mustUnderstand=\"1\">uuid:1</a:MessageID>"
                  "<w:ResourceURI mustUnderstand=\"true\">http://r</w:ResourceURI>",
                  ""),
              NULL);
}

static void test_bad_headers(void **state)
{
    (void)state;
    char msgid[64];
    struct wsm_envelope *env = NULL;
    const char *dup = ENV(H_MSGID H_ACTION "<a:Action>http://example.org/Other</a:Action>", "");
    strcpy(msgid, "untouched");
    assert_int_equal(wsm__envelope_parse(dup, strlen(dup), NULL, &env, msgid, sizeof(msgid)),
                     WSM_ERR_BAD_HEADER);
    assert_null(env);
    assert_string_equal(msgid, MSGID);

    expect_err(ENV(H_ACTION H_MSGID H_MSGID, ""), NULL, WSM_ERR_BAD_HEADER);
    expect_err(ENV(H_ACTION H_MSGID "<a:To>a</a:To><a:To>b</a:To>", ""), NULL, WSM_ERR_BAD_HEADER);
    expect_err(ENV(H_ACTION H_MSGID "<w:ResourceURI>a</w:ResourceURI><w:ResourceURI>b"
                                    "</w:ResourceURI>",
                   ""),
               NULL, WSM_ERR_BAD_HEADER);
    /* ReplyTo needs an Address. */
    expect_err(ENV(H_ACTION H_MSGID "<a:ReplyTo/>", ""), NULL, WSM_ERR_BAD_HEADER);
    /* MaxEnvelopeSize must be a positive integer. */
    expect_err(ENV(H_ACTION H_MSGID "<w:MaxEnvelopeSize>abc</w:MaxEnvelopeSize>", ""), NULL,
               WSM_ERR_BAD_HEADER);
    expect_err(ENV(H_ACTION H_MSGID "<w:MaxEnvelopeSize>0</w:MaxEnvelopeSize>", ""), NULL,
               WSM_ERR_BAD_HEADER);
    expect_err(ENV(H_ACTION H_MSGID "<w:MaxEnvelopeSize>-5</w:MaxEnvelopeSize>", ""), NULL,
               WSM_ERR_BAD_HEADER);
    expect_err(ENV(H_ACTION H_MSGID "<w:MaxEnvelopeSize>12k</w:MaxEnvelopeSize>", ""), NULL,
               WSM_ERR_BAD_HEADER);
    expect_err(ENV(H_ACTION H_MSGID "<w:MaxEnvelopeSize></w:MaxEnvelopeSize>", ""), NULL,
               WSM_ERR_BAD_HEADER);
    /* An OperationTimeout that is no duration. */
    expect_err(ENV(H_ACTION H_MSGID "<w:OperationTimeout>60</w:OperationTimeout>", ""), NULL,
               WSM_ERR_INVALID_TIMEOUT);
    /* Selectors and options need a Name, and there is a cap on them. */
    expect_err(
        ENV(H_ACTION H_MSGID "<w:SelectorSet><w:Selector>x</w:Selector></w:SelectorSet>", ""), NULL,
        WSM_ERR_INVALID_SELECTORS);
    expect_err(ENV(H_ACTION H_MSGID "<w:OptionSet><w:Option>x</w:Option></w:OptionSet>", ""), NULL,
               WSM_ERR_INVALID_OPTIONS);

    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    for (int n = WSM_MAX_SELECTORS; n <= WSM_MAX_SELECTORS + 1; n++) {
        wsm__buf_reset(&b);
        assert_int_equal(wsm__buf_puts(&b, "<s:Envelope" NS_DECL "><s:Header>" H_ACTION H_MSGID
                                           "<w:SelectorSet>"),
                         WSM_OK);
        for (int i = 0; i < n; i++)
            assert_int_equal(wsm__buf_printf(&b, "<w:Selector Name=\"k%d\">v%d</w:Selector>", i, i),
                             WSM_OK);
        assert_int_equal(wsm__buf_puts(&b, "</w:SelectorSet></s:Header><s:Body/></s:Envelope>"),
                         WSM_OK);
        if (n == WSM_MAX_SELECTORS) {
            assert_int_equal(parse(b.data, &env), WSM_OK);
            assert_int_equal(env->nselectors, WSM_MAX_SELECTORS);
            assert_string_equal(wsm__envelope_selector(env, "k31"), "v31");
            wsm__envelope_free(env);
        } else {
            expect_err(b.data, NULL, WSM_ERR_INVALID_SELECTORS);
        }
    }
    wsm__buf_free(&b);
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

/* The parser context is reused per thread: a document that stopped the
 * parser (DTD, depth) or failed must not affect the next one. */
static void test_parser_reuse(void **state)
{
    (void)state;
    struct wsm_limits deep = {.max_depth = 3};
    const char *good = ENV(H_ACTION H_MSGID, "<x:P xmlns:x=\"urn:x\">t</x:P>");
    for (int round = 0; round < 3; round++) {
        expect_err("<!DOCTYPE x []>" ENV(H_ACTION H_MSGID, ""), NULL, WSM_ERR_XML_DTD);
        expect_ok(good, NULL);
        expect_err(ENV(H_ACTION H_MSGID, "<a><b/></a>"), &deep, WSM_ERR_XML_DEPTH);
        expect_ok(good, NULL);
        expect_err("<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\"><s:Body>", NULL, WSM_ERR_XML_MALFORMED);
        expect_ok(good, NULL);
        expect_err(ENV(H_ACTION H_MSGID H_MSGID, ""), NULL, WSM_ERR_BAD_HEADER);
        expect_ok(good, NULL);
    }

    /* A document outlives the context that parsed it, even when many new
     * names make the context be replaced. */
    struct wsm_envelope *keep = NULL;
    assert_int_equal(parse(good, &keep), WSM_OK);
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    for (int doc = 0; doc < 4; doc++) {
        wsm__buf_reset(&b);
        assert_int_equal(wsm__buf_puts(&b, "<s:Envelope" NS_DECL "><s:Header>" H_ACTION H_MSGID
                                           "</s:Header><s:Body><x:L xmlns:x=\"urn:x\">"),
                         WSM_OK);
        for (int i = 0; i < 3000; i++)
            assert_int_equal(wsm__buf_printf(&b, "<n%d_%d a%d=\"v\"/>", doc, i, i), WSM_OK);
        assert_int_equal(wsm__buf_puts(&b, "</x:L></s:Body></s:Envelope>"), WSM_OK);
        struct wsm_envelope *env = NULL;
        assert_int_equal(parse(b.data, &env), WSM_OK);
        assert_true(wsm__xml_is(env->payload, "urn:x", "L"));
        wsm__envelope_free(env);
    }
    wsm__buf_free(&b);
    assert_string_equal(keep->action, "http://example.org/Act");
    assert_true(wsm__xml_is(keep->payload, "urn:x", "P"));
    assert_string_equal((const char *)keep->payload->name, "P");
    assert_string_equal(wsm__xml_text(&keep->arena, keep->payload, 0), "t");
    wsm__envelope_free(keep);
}

struct parse_worker {
    int failures;
};

static void *parse_worker_main(void *arg)
{
    struct parse_worker *w = arg;
    struct wsm_limits deep = {.max_depth = 3};
    for (int i = 0; i < 200; i++) {
        struct wsm_envelope *env = NULL;
        const char *xml = ENV(H_ACTION H_MSGID, "<x:P xmlns:x=\"urn:x\"/>");
        if (wsm__envelope_parse(xml, strlen(xml), NULL, &env, NULL, 0) != WSM_OK ||
            strcmp(env->message_id, MSGID) != 0)
            w->failures++;
        wsm__envelope_free(env);
        const char *bad = ENV(H_ACTION H_MSGID, "<a><b/></a>");
        env = NULL;
        if (wsm__envelope_parse(bad, strlen(bad), &deep, &env, NULL, 0) != WSM_ERR_XML_DEPTH)
            w->failures++;
        wsm__envelope_free(env);
    }
    wsm__envelope_thread_cleanup();
    return NULL;
}

static void test_parse_threads(void **state)
{
    (void)state;
    pthread_t t[4];
    struct parse_worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i].failures = 0;
        assert_int_equal(pthread_create(&t[i], NULL, parse_worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
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
        cmocka_unit_test(test_pywinrm_command),
        cmocka_unit_test(test_header_values),
        cmocka_unit_test(test_identify),
        cmocka_unit_test(test_dtd_refused),
        cmocka_unit_test(test_dtd_refused_utf16),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_undeclared_prefix),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_soap_version),
        cmocka_unit_test(test_not_soap),
        cmocka_unit_test(test_required_headers),
        cmocka_unit_test(test_must_understand),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_attribute_cap),
        cmocka_unit_test(test_parser_reuse),
        cmocka_unit_test(test_parse_threads),
        cmocka_unit_test(test_reply_roundtrip),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    wsm__envelope_thread_cleanup(); /* this thread's cached parser context */
    xmlCleanupParser();
    return rc;
}
