/* Unit tests for SOAP envelope parsing (src/lib/envelope.c) against
 * hostile or broken input: document type declarations (UTF-8 and UTF-16),
 * malformed and empty documents, undeclared prefixes, depth, attribute and
 * size caps; and the per-thread parser context, reused after a failure and
 * used by many threads at once. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtd_refused),       cmocka_unit_test(test_dtd_refused_utf16),
        cmocka_unit_test(test_malformed),         cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_undeclared_prefix), cmocka_unit_test(test_depth),
        cmocka_unit_test(test_too_large),         cmocka_unit_test(test_attribute_cap),
        cmocka_unit_test(test_parser_reuse),      cmocka_unit_test(test_parse_threads),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    wsm__envelope_thread_cleanup(); /* this thread's cached parser context */
    xmlCleanupParser();
    return rc;
}
