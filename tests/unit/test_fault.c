/* Unit tests for the error -> fault table and fault envelopes (src/lib/fault.c, err.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "envelope.h"
#include "fault.h"
#include "ns.h"

/* Client-side errors that never become a fault on the wire; they fall back
 * to the internal-error row. */
static int client_only(enum wsm_err e)
{
    return e == WSM_ERR_HTTP || e == WSM_ERR_FAULT;
}

static void test_every_error_has_a_fault(void **state)
{
    (void)state;
    for (int i = WSM_OK + 1; i < WSM_ERR__COUNT; i++) {
        enum wsm_err e = (enum wsm_err)i;
        const struct wsm_fault_info *fi = wsm__fault_info(e);
        assert_non_null(fi);
        if (!client_only(e) && fi->err != e)
            fail_msg("error %d (%s) has no row of its own", i, wsm_strerror(e));
        assert_non_null(fi->code);
        assert_true(fi->code[0] != '\0');
        assert_true(strcmp(fi->code, "s:Sender") == 0 || strcmp(fi->code, "s:Receiver") == 0 ||
                    strcmp(fi->code, "s:VersionMismatch") == 0 ||
                    strcmp(fi->code, "s:MustUnderstand") == 0);
        if (fi->subcode) {
            assert_true(strncmp(fi->subcode, "a:", 2) == 0 || strncmp(fi->subcode, "w:", 2) == 0 ||
                        strncmp(fi->subcode, "s:", 2) == 0 || strncmp(fi->subcode, "n:", 2) == 0 ||
                        strncmp(fi->subcode, "x:", 2) == 0 || strncmp(fi->subcode, "e:", 2) == 0);
            assert_true(strlen(fi->subcode) > 2);
        }
        assert_non_null(fi->reason);
        assert_true(fi->reason[0] != '\0');
        assert_true(fi->wincode != 0);
        assert_in_range(fi->http_status, 400, 599);
        /* Faults with an a: subcode are WS-Addressing faults and vice versa. */
        if (fi->subcode && strncmp(fi->subcode, "a:", 2) == 0)
            assert_true(fi->addressing);
        if (fi->addressing)
            assert_true(fi->subcode && strncmp(fi->subcode, "a:", 2) == 0);
    }
}

static void test_unknown_errors(void **state)
{
    (void)state;
    const struct wsm_fault_info *internal = wsm__fault_info(WSM_ERR_INTERNAL);
    assert_int_equal(internal->err, WSM_ERR_INTERNAL);
    assert_ptr_equal(wsm__fault_info(WSM_ERR__COUNT), internal);
    assert_ptr_equal(wsm__fault_info((enum wsm_err)1000), internal);
    assert_ptr_equal(wsm__fault_info((enum wsm_err) - 1), internal);
    assert_ptr_equal(wsm__fault_info(WSM_OK), internal);
    assert_ptr_equal(wsm__fault_info(WSM_ERR_HTTP), internal);
}

static void test_specific_rows(void **state)
{
    (void)state;
    const struct wsm_fault_info *fi = wsm__fault_info(WSM_ERR_ACTION_NOT_SUPPORTED);
    assert_string_equal(fi->code, "s:Sender");
    assert_string_equal(fi->subcode, "a:ActionNotSupported");
    assert_int_equal(fi->wincode, 2150858771UL);
    assert_int_equal(fi->http_status, 500);
    assert_true(fi->addressing);

    fi = wsm__fault_info(WSM_ERR_DESTINATION_UNREACHABLE);
    assert_string_equal(fi->subcode, "a:DestinationUnreachable");
    assert_int_equal(fi->wincode, 2150858770UL);
    assert_int_equal(fi->http_status, 500);

    fi = wsm__fault_info(WSM_ERR_TIMED_OUT);
    assert_string_equal(fi->code, "s:Receiver");
    assert_string_equal(fi->subcode, "w:TimedOut");
    assert_int_equal(fi->wincode, 2150858793UL);
    assert_non_null(strstr(fi->reason, "OperationTimeout"));
    assert_false(fi->addressing);

    fi = wsm__fault_info(WSM_ERR_ENVELOPE_TOO_LARGE);
    assert_string_equal(fi->subcode, "w:EncodingLimit");
    assert_non_null(fi->detail_uri);
    assert_non_null(strstr(fi->detail_uri, "MaxEnvelopeSize"));

    assert_int_equal(wsm__fault_info(WSM_ERR_XML_MALFORMED)->http_status, 400);
    assert_int_equal(wsm__fault_info(WSM_ERR_XML_DTD)->http_status, 400);
    assert_int_equal(wsm__fault_info(WSM_ERR_XML_DEPTH)->http_status, 400);
    assert_int_equal(wsm__fault_info(WSM_ERR_AUTH)->http_status, 401);
    assert_string_equal(wsm__fault_info(WSM_ERR_SOAP_VERSION)->code, "s:VersionMismatch");
    assert_string_equal(wsm__fault_info(WSM_ERR_MUST_UNDERSTAND)->code, "s:MustUnderstand");
    assert_string_equal(wsm__fault_info(WSM_ERR_HEADER_REQUIRED)->subcode,
                        "a:MessageInformationHeaderRequired");
    assert_string_equal(wsm__fault_info(WSM_ERR_BAD_HEADER)->subcode,
                        "a:InvalidMessageInformationHeader");
}

/* string(expr) evaluated on doc with our prefixes; caller frees. */
static char *xpath_str(xmlDocPtr doc, const char *expr)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    assert_non_null(ctx);
    xmlXPathRegisterNs(ctx, BAD_CAST "s", BAD_CAST WSM_NS_SOAP);
    xmlXPathRegisterNs(ctx, BAD_CAST "a", BAD_CAST WSM_NS_WSA);
    xmlXPathRegisterNs(ctx, BAD_CAST "w", BAD_CAST WSM_NS_WSMAN);
    xmlXPathRegisterNs(ctx, BAD_CAST "f", BAD_CAST WSM_NS_FAULT);
    char full[512];
    snprintf(full, sizeof(full), "string(%s)", expr);
    xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST full, ctx);
    assert_non_null(o);
    assert_int_equal(o->type, XPATH_STRING);
    char *s = strdup((const char *)o->stringval);
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(ctx);
    assert_non_null(s);
    return s;
}

static double xpath_num(xmlDocPtr doc, const char *expr)
{
    char full[512];
    snprintf(full, sizeof(full), "count(%s)", expr);
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    assert_non_null(ctx);
    xmlXPathRegisterNs(ctx, BAD_CAST "s", BAD_CAST WSM_NS_SOAP);
    xmlXPathRegisterNs(ctx, BAD_CAST "a", BAD_CAST WSM_NS_WSA);
    xmlXPathRegisterNs(ctx, BAD_CAST "w", BAD_CAST WSM_NS_WSMAN);
    xmlXPathRegisterNs(ctx, BAD_CAST "f", BAD_CAST WSM_NS_FAULT);
    xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST full, ctx);
    assert_non_null(o);
    double v = o->floatval;
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(ctx);
    return v;
}

static void expect_xpath(xmlDocPtr doc, const char *expr, const char *want)
{
    char *got = xpath_str(doc, expr);
    if (strcmp(got, want) != 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s: got \"%s\", expected \"%s\"", expr, got, want);
        free(got);
        fail_msg("%s", msg);
    }
    free(got);
}

/* The namespace URI of a QName value such as "a:ActionNotSupported", as
 * declared in the fault envelope we write. */
static const char *prefix_ns(const char *qname)
{
    if (strncmp(qname, "s:", 2) == 0)
        return WSM_NS_SOAP;
    if (strncmp(qname, "a:", 2) == 0)
        return WSM_NS_WSA;
    if (strncmp(qname, "w:", 2) == 0)
        return WSM_NS_WSMAN;
    if (strncmp(qname, "n:", 2) == 0)
        return WSM_NS_WSEN;
    if (strncmp(qname, "x:", 2) == 0)
        return WSM_NS_WSXF;
    if (strncmp(qname, "e:", 2) == 0)
        return WSM_NS_WSEV;
    return NULL;
}

static void check_fault_doc(const char *xml, size_t len, enum wsm_err err, const char *relates_to,
                            const char *message)
{
    const struct wsm_fault_info *fi = wsm__fault_info(err);
    xmlDocPtr doc = xmlReadMemory(xml, (int)len, "fault.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        fail_msg("fault for %d does not parse: %s", err, xml);

    assert_int_equal(xpath_num(doc, "/s:Envelope/s:Header"), 1);
    assert_int_equal(xpath_num(doc, "/s:Envelope/s:Body/s:Fault"), 1);
    expect_xpath(doc, "/s:Envelope/s:Header/a:Action",
                 fi->addressing ? WSM_ACTION_WSA_FAULT : WSM_ACTION_WSMAN_FAULT);
    expect_xpath(doc, "/s:Envelope/s:Header/a:To", WSM_ADDR_ANONYMOUS);
    char *id = xpath_str(doc, "/s:Envelope/s:Header/a:MessageID");
    assert_int_equal(strlen(id), 41);
    assert_memory_equal(id, "uuid:", 5);
    free(id);
    if (relates_to)
        expect_xpath(doc, "/s:Envelope/s:Header/a:RelatesTo", relates_to);
    else
        assert_int_equal(xpath_num(doc, "/s:Envelope/s:Header/a:RelatesTo"), 0);

    const char *F = "/s:Envelope/s:Body/s:Fault";
    char path[256];
    snprintf(path, sizeof(path), "%s/s:Code/s:Value", F);
    expect_xpath(doc, path, fi->code);
    snprintf(path, sizeof(path), "%s/s:Code/s:Subcode/s:Value", F);
    if (fi->subcode) {
        expect_xpath(doc, path, fi->subcode);
        /* The QName's prefix resolves in scope to the namespace it means. */
        xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
        xmlXPathRegisterNs(ctx, BAD_CAST "s", BAD_CAST WSM_NS_SOAP);
        xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST path, ctx);
        assert_non_null(o);
        assert_non_null(o->nodesetval);
        assert_int_equal(o->nodesetval->nodeNr, 1);
        char pfx[8] = {0};
        memcpy(pfx, fi->subcode, 1);
        xmlNsPtr ns = xmlSearchNs(doc, o->nodesetval->nodeTab[0], BAD_CAST pfx);
        assert_non_null(ns);
        assert_string_equal((const char *)ns->href, prefix_ns(fi->subcode));
        xmlXPathFreeObject(o);
        xmlXPathFreeContext(ctx);
    } else {
        assert_int_equal(xpath_num(doc, path), 0);
    }
    snprintf(path, sizeof(path), "%s/s:Reason/s:Text", F);
    expect_xpath(doc, path, message ? message : fi->reason);
    snprintf(path, sizeof(path), "%s/s:Reason/s:Text/@xml:lang", F);
    expect_xpath(doc, path, "en-US");

    char code[32];
    snprintf(code, sizeof(code), "%lu", fi->wincode);
    snprintf(path, sizeof(path), "%s/s:Detail/f:WSManFault/@Code", F);
    expect_xpath(doc, path, code);
    char *c = xpath_str(doc, path);
    for (const char *p = c; *p; p++)
        assert_in_range(*p, '0', '9');
    free(c);
    snprintf(path, sizeof(path), "%s/s:Detail/f:WSManFault/f:Message", F);
    expect_xpath(doc, path, message ? message : fi->reason);
    snprintf(path, sizeof(path), "%s/s:Detail/f:WSManFault/@Machine", F);
    assert_int_equal(xpath_num(doc, path), 1);
    snprintf(path, sizeof(path), "%s/s:Detail/w:FaultDetail", F);
    if (fi->detail_uri)
        expect_xpath(doc, path, fi->detail_uri);
    else
        assert_int_equal(xpath_num(doc, path), 0);
    xmlFreeDoc(doc);

    /* Our own client parses it as a response. */
    struct wsm_limits lim = {.response = 1};
    struct wsm_envelope *env = NULL;
    assert_int_equal(wsm__envelope_parse(xml, len, &lim, &env, NULL, 0), WSM_OK);
    assert_true(wsm__xml_is(env->payload, WSM_NS_SOAP, "Fault"));
    if (relates_to)
        assert_string_equal(env->relates_to, relates_to);
    wsm__envelope_free(env);
}

static void test_fault_build_all(void **state)
{
    (void)state;
    const char *rel = "uuid:AB403ECB-6978-472D-A8B4-779FBE0F684A";
    for (int i = WSM_OK + 1; i < WSM_ERR__COUNT; i++) {
        struct wsm_buf b;
        wsm__buf_init(&b, 0);
        assert_int_equal(wsm__fault_build(&b, (enum wsm_err)i, rel, NULL), WSM_OK);
        check_fault_doc(b.data, b.len, (enum wsm_err)i, rel, NULL);
        wsm__buf_free(&b);
    }
}

static void test_fault_build_specific(void **state)
{
    (void)state;
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    assert_int_equal(wsm__fault_build(&b, WSM_ERR_ACTION_NOT_SUPPORTED, "uuid:1", NULL), WSM_OK);
    check_fault_doc(b.data, b.len, WSM_ERR_ACTION_NOT_SUPPORTED, "uuid:1", NULL);
    assert_non_null(strstr(b.data, "Code=\"2150858771\""));
    assert_non_null(strstr(b.data, "<s:Value>a:ActionNotSupported</s:Value>"));
    wsm__buf_reset(&b);

    /* No RelatesTo; a message that needs escaping replaces the reason. */
    const char *msg = "bad <input> & \"quotes\" 'too'\r\n";
    assert_int_equal(wsm__fault_build(&b, WSM_ERR_TIMED_OUT, NULL, msg), WSM_OK);
    check_fault_doc(b.data, b.len, WSM_ERR_TIMED_OUT, NULL, msg);
    wsm__buf_reset(&b);

    /* A RelatesTo that needs escaping comes back intact. */
    const char *rel = "uuid:<&>\"'";
    assert_int_equal(wsm__fault_build(&b, WSM_ERR_BAD_HEADER, rel, NULL), WSM_OK);
    check_fault_doc(b.data, b.len, WSM_ERR_BAD_HEADER, rel, NULL);
    wsm__buf_reset(&b);

    /* Unknown errors produce the internal error's fault. */
    assert_int_equal(wsm__fault_build(&b, (enum wsm_err)777, NULL, NULL), WSM_OK);
    check_fault_doc(b.data, b.len, WSM_ERR_INTERNAL, NULL, NULL);
    wsm__buf_free(&b);

    /* A capped buffer refuses instead of truncating silently. */
    wsm__buf_init(&b, 200);
    assert_int_equal(wsm__fault_build(&b, WSM_ERR_INTERNAL, NULL, NULL),
                     WSM_ERR_ENVELOPE_TOO_LARGE);
    wsm__buf_free(&b);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(wsm_strerror(WSM_OK), "success");
    for (int i = 0; i < WSM_ERR__COUNT; i++) {
        const char *s = wsm_strerror((enum wsm_err)i);
        assert_non_null(s);
        assert_true(s[0] != '\0');
        if (strcmp(s, "unknown error") == 0)
            fail_msg("error %d has no message", i);
        /* Distinct errors have distinct messages. */
        for (int j = 0; j < i; j++)
            if (strcmp(s, wsm_strerror((enum wsm_err)j)) == 0)
                fail_msg("errors %d and %d share the message \"%s\"", j, i, s);
    }
    const int out[] = {WSM_ERR__COUNT, WSM_ERR__COUNT + 1, 1000, -1, -1000, INT32_MAX, INT32_MIN};
    for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++) {
        const char *s = wsm_strerror((enum wsm_err)out[i]);
        assert_non_null(s);
        assert_true(s[0] != '\0');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_error_has_a_fault), cmocka_unit_test(test_unknown_errors),
        cmocka_unit_test(test_specific_rows),           cmocka_unit_test(test_fault_build_all),
        cmocka_unit_test(test_fault_build_specific),    cmocka_unit_test(test_strerror),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    wsm__envelope_thread_cleanup(); /* this thread's cached parser context */
    xmlCleanupParser();
    return rc;
}
