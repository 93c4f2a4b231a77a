/* Unit tests for SOAP envelope parsing (src/lib/envelope.c): the SOAP
 * version, documents that are not SOAP, the headers every request needs,
 * mustUnderstand, and headers with bad values. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_soap_version),     cmocka_unit_test(test_not_soap),
        cmocka_unit_test(test_required_headers), cmocka_unit_test(test_must_understand),
        cmocka_unit_test(test_bad_headers),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    wsm__envelope_thread_cleanup(); /* this thread's cached parser context */
    xmlCleanupParser();
    return rc;
}
