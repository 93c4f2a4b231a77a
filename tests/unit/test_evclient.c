/* Unit tests for libwsm's reading of WS-Eventing replies
 * (src/lib/ev_reply.c): SubscribeResponse, PullResponse with events and a
 * header bookmark, Renew/GetStatus expiries, and faults to error codes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "ev_client.h"

#define ENV_OPEN                                                                                   \
    "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\""                              \
    " xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\""                                \
    " xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\""                                  \
    " xmlns:e=\"http://schemas.xmlsoap.org/ws/2004/08/eventing\""                                  \
    " xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\"><s:Header>"                    \
    "<a:Action>x</a:Action><a:MessageID>uuid:1</a:MessageID>"
#define ENV_BODY "</s:Header><s:Body>"
#define ENV_CLOSE "</s:Body></s:Envelope>"

static struct wsm_envelope *parse(const char *xml)
{
    struct wsm_limits lim = {.response = 1};
    struct wsm_envelope *env = NULL;
    assert_int_equal(wsm__envelope_parse(xml, strlen(xml), &lim, &env, NULL, 0), WSM_OK);
    return env;
}

static void test_fault_codes(void **state)
{
    (void)state;
    assert_int_equal(wsm__ev_fault_err("CannotProcessFilter"), WSM_ERR_CANNOT_PROCESS_FILTER);
    assert_int_equal(wsm__ev_fault_err("InvalidBookmark"), WSM_ERR_INVALID_BOOKMARK);
    assert_int_equal(wsm__ev_fault_err("UnableToRenew"), WSM_ERR_UNABLE_TO_RENEW);
    assert_int_equal(wsm__ev_fault_err("InvalidMessage"), WSM_ERR_INVALID_SUBSCRIPTION);
    assert_int_equal(wsm__ev_fault_err("InvalidEnumerationContext"), WSM_ERR_INVALID_SUBSCRIPTION);
    assert_int_equal(wsm__ev_fault_err("DeliveryModeRequestedUnavailable"), WSM_ERR_DELIVERY_MODE);
    assert_int_equal(wsm__ev_fault_err("InvalidExpirationTime"), WSM_ERR_INVALID_EXPIRATION);
    assert_int_equal(wsm__ev_fault_err("FilteringRequestedUnavailable"),
                     WSM_ERR_FILTERING_UNAVAILABLE);
    assert_int_equal(wsm__ev_fault_err("QuotaLimit"), WSM_ERR_QUOTA);
    assert_int_equal(wsm__ev_fault_err("InvalidOptions"), WSM_ERR_INVALID_OPTIONS);
    /* Others keep the generic code; the text is the session's. */
    assert_int_equal(wsm__ev_fault_err("TimedOut"), WSM_ERR_FAULT);
    assert_int_equal(wsm__ev_fault_err("invalidbookmark"), WSM_ERR_FAULT);
    assert_int_equal(wsm__ev_fault_err(""), WSM_ERR_FAULT);
    assert_int_equal(wsm__ev_fault_err(NULL), WSM_ERR_FAULT);
}

static void test_expires(void **state)
{
    (void)state;
    long long at = 0;
    assert_int_equal(wsm__ev_expires_at("PT3600.000S", 1000, &at), WSM_OK);
    assert_int_equal(at, 3601000);
    assert_int_equal(wsm__ev_expires_at("P1DT1S", 0, &at), WSM_OK);
    assert_int_equal(at, 86401000);
    assert_int_equal(wsm__ev_expires_at("2027-01-01T00:00:00Z", 0, &at), WSM_OK);
    assert_int_equal(at, 1798761600000LL);
    assert_int_equal(wsm__ev_expires_at("2027-01-01T00:00:00.25Z", 0, &at), WSM_OK);
    assert_int_equal(at, 1798761600250LL);
    assert_int_equal(wsm__ev_expires_at("2027-01-01T02:00:00+02:00", 0, &at), WSM_OK);
    assert_int_equal(at, 1798761600000LL);
    assert_int_equal(wsm__ev_expires_at("2026-12-31T23:00:00-01:00", 0, &at), WSM_OK);
    assert_int_equal(at, 1798761600000LL);
    assert_int_equal(wsm__ev_expires_at("2027-01-01T00:00:00", 0, &at), WSM_OK); /* UTC */
    assert_int_equal(at, 1798761600000LL);
    static const char *bad[] = {"",
                                "P",
                                "PT",
                                "-PT5S",
                                "never",
                                "2027-13-01T00:00:00Z",
                                "2027-01-01 00:00:00Z",
                                "2027-01-01T00:00:00.Z",
                                "2027-01-01T00:00:00Zjunk",
                                "2027-01-01T00:00:00+2",
                                "PT1X"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (wsm__ev_expires_at(bad[i], 0, &at) != WSM_ERR_INVALID_EXPIRATION)
            fail_msg("accepted \"%s\"", bad[i]);
    assert_int_equal(wsm__ev_expires_at(NULL, 0, &at), WSM_ERR_INVALID_EXPIRATION);
}

static const char subscribe_ok[] =
    ENV_OPEN ENV_BODY "<e:SubscribeResponse><e:SubscriptionManager>"
                      "<a:Address>http://h:5985/wsman</a:Address><a:ReferenceParameters>"
                      "<w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog"
                      "</w:ResourceURI><e:Identifier> uuid:ID-1 </e:Identifier>"
                      "</a:ReferenceParameters></e:SubscriptionManager>"
                      "<e:Expires>PT60.000S</e:Expires>"
                      "<n:EnumerationContext>uuid:CTX-1</n:EnumerationContext>"
                      "</e:SubscribeResponse>" ENV_CLOSE;

static void test_subscribe_reply(void **state)
{
    (void)state;
    struct wsm_envelope *env = parse(subscribe_ok);
    struct wsm__ev_sub_reply r;
    char why[128] = "";
    assert_int_equal(wsm__ev_subscribe_reply(env, 5000, &r, why, sizeof(why)), WSM_OK);
    assert_string_equal(r.identifier, "uuid:ID-1");
    assert_string_equal(r.context, "uuid:CTX-1");
    assert_string_equal(r.address, "http://h:5985/wsman");
    assert_int_equal(r.expires_at, 65000);
    wsm__ev_sub_reply_clear(&r);
    assert_null(r.identifier);
    wsm__envelope_free(env);
}

static void test_subscribe_reply_bad(void **state)
{
    (void)state;
    static const struct {
        const char *xml, *why;
    } cases[] = {
        {ENV_OPEN ENV_BODY "<e:RenewResponse/>" ENV_CLOSE, "not a SubscribeResponse"},
        {ENV_OPEN ENV_BODY "<e:SubscribeResponse><n:EnumerationContext>uuid:c"
                           "</n:EnumerationContext></e:SubscribeResponse>" ENV_CLOSE,
         "no Identifier"},
        {ENV_OPEN ENV_BODY "<e:SubscribeResponse><e:SubscriptionManager><a:ReferenceParameters>"
                           "<e:Identifier>uuid:i</e:Identifier></a:ReferenceParameters>"
                           "</e:SubscriptionManager><n:EnumerationContext> "
                           "</n:EnumerationContext></e:SubscribeResponse>" ENV_CLOSE,
         "no EnumerationContext"},
        {ENV_OPEN ENV_BODY "<e:SubscribeResponse><e:SubscriptionManager><a:ReferenceParameters>"
                           "<e:Identifier>uuid:i</e:Identifier></a:ReferenceParameters>"
                           "</e:SubscriptionManager><e:Expires>soon</e:Expires>"
                           "<n:EnumerationContext>uuid:c</n:EnumerationContext>"
                           "</e:SubscribeResponse>" ENV_CLOSE,
         "Expires"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wsm_envelope *env = parse(cases[i].xml);
        struct wsm__ev_sub_reply r;
        char why[128] = "";
        assert_int_equal(wsm__ev_subscribe_reply(env, 0, &r, why, sizeof(why)), WSM_ERR_NOT_SOAP);
        if (!strstr(why, cases[i].why))
            fail_msg("case %zu: \"%s\"", i, why);
        assert_null(r.identifier);
        assert_null(r.context);
        wsm__envelope_free(env);
    }
}

struct got {
    int n, stop_after;
    char xml[4][512];
    const char *bm[4];
    char bmcopy[4][256];
};

static int on_event(void *ud, const char *x, const char *bookmark)
{
    struct got *g = ud;
    if (g->n < 4) {
        snprintf(g->xml[g->n], sizeof(g->xml[0]), "%s", x);
        g->bm[g->n] = bookmark;
        if (bookmark)
            snprintf(g->bmcopy[g->n], sizeof(g->bmcopy[0]), "%s", bookmark);
    }
    g->n++;
    return g->stop_after && g->n >= g->stop_after;
}

/* Events whose namespace is declared above them (on the Envelope): each
 * comes out standalone. */
static const char pull_ok[] =
    "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\""
    " xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\""
    " xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\""
    " xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\""
    " xmlns:ev=\"http://schemas.microsoft.com/win/2004/08/events/event\"><s:Header>"
    "<a:Action>x</a:Action><w:Bookmark><BookmarkList><Bookmark Channel=\"Application\""
    " RecordId=\"7\"/></BookmarkList></w:Bookmark></s:Header><s:Body><n:PullResponse>"
    "<n:EnumerationContext>uuid:CTX-2</n:EnumerationContext><n:Items>"
    "<ev:Event><ev:System><ev:EventRecordID>6</ev:EventRecordID></ev:System></ev:Event>\n"
    "<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"><System>"
    "<EventRecordID>7</EventRecordID></System></Event>"
    "</n:Items></n:PullResponse></s:Body></s:Envelope>";

static void test_pull_reply(void **state)
{
    (void)state;
    struct wsm_envelope *env = parse(pull_ok);
    struct got g = {0};
    char *bm = strdup("<old/>"), *ctx = strdup("uuid:CTX-1");
    size_t n = 0;
    assert_int_equal(wsm__ev_pull_reply(env, on_event, &g, &bm, &ctx, &n, NULL, 0), WSM_OK);
    assert_int_equal(n, 2);
    assert_int_equal(g.n, 2);
    assert_non_null(strstr(g.xml[0], "xmlns:ev=\"http://schemas.microsoft.com/win/2004/08/"
                                     "events/event\""));
    assert_non_null(strstr(g.xml[0], "<ev:EventRecordID>6</ev:EventRecordID>"));
    assert_null(strstr(g.xml[0], "soap-envelope")); /* only what it uses */
    assert_non_null(strstr(g.xml[1], "<EventRecordID>7</EventRecordID>"));
    /* The bookmark comes with the last event only. */
    assert_null(g.bm[0]);
    assert_non_null(g.bm[1]);
    assert_string_equal(g.bmcopy[1],
                        "<BookmarkList><Bookmark Channel=\"Application\" RecordId=\"7\"/>"
                        "</BookmarkList>");
    assert_string_equal(bm, g.bmcopy[1]);
    assert_string_equal(ctx, "uuid:CTX-2");
    free(bm);
    free(ctx);
    wsm__envelope_free(env);
}

static void test_pull_reply_stop_and_empty(void **state)
{
    (void)state;
    struct wsm_envelope *env = parse(pull_ok);
    struct got g = {.stop_after = 1};
    char *bm = NULL, *ctx = NULL;
    size_t n = 0;
    assert_int_equal(wsm__ev_pull_reply(env, on_event, &g, &bm, &ctx, &n, NULL, 0), WSM_OK);
    assert_int_equal(g.n, 1);
    assert_int_equal(n, 1);
    free(bm);
    free(ctx);
    wsm__envelope_free(env);

    /* No bookmark, no context, no items: what the caller had stays. */
    env = parse(ENV_OPEN ENV_BODY "<n:PullResponse><n:Items/></n:PullResponse>" ENV_CLOSE);
    bm = strdup("<keep/>");
    ctx = strdup("uuid:keep");
    g = (struct got){0};
    assert_int_equal(wsm__ev_pull_reply(env, on_event, &g, &bm, &ctx, &n, NULL, 0), WSM_OK);
    assert_int_equal(n, 0);
    assert_string_equal(bm, "<keep/>");
    assert_string_equal(ctx, "uuid:keep");
    free(bm);
    free(ctx);
    wsm__envelope_free(env);

    char why[64] = "";
    env = parse(ENV_OPEN ENV_BODY "<n:EnumerateResponse/>" ENV_CLOSE);
    assert_int_equal(wsm__ev_pull_reply(env, on_event, &g, &bm, &ctx, &n, why, sizeof(why)),
                     WSM_ERR_NOT_SOAP);
    assert_string_equal(why, "the reply is not a PullResponse");
    wsm__envelope_free(env);
}

static void test_expires_reply(void **state)
{
    (void)state;
    long long at = -1;
    struct wsm_envelope *env =
        parse(ENV_OPEN ENV_BODY "<e:RenewResponse/>" ENV_CLOSE); /* never expires */
    assert_int_equal(wsm__ev_expires_reply(env, "RenewResponse", 100, &at, NULL, 0), WSM_OK);
    assert_int_equal(at, 0);
    char why[64] = "";
    assert_int_equal(wsm__ev_expires_reply(env, "GetStatusResponse", 100, &at, why, sizeof(why)),
                     WSM_ERR_NOT_SOAP);
    assert_string_equal(why, "the reply is not a GetStatusResponse");
    wsm__envelope_free(env);
    env = parse(ENV_OPEN ENV_BODY "<e:GetStatusResponse><e:Expires>PT1.5S</e:Expires>"
                                  "</e:GetStatusResponse>" ENV_CLOSE);
    assert_int_equal(wsm__ev_expires_reply(env, "GetStatusResponse", 100, &at, NULL, 0), WSM_OK);
    assert_int_equal(at, 1600);
    wsm__envelope_free(env);
    env = parse(ENV_OPEN ENV_BODY "<e:RenewResponse><e:Expires>x</e:Expires>"
                                  "</e:RenewResponse>" ENV_CLOSE);
    assert_int_equal(wsm__ev_expires_reply(env, "RenewResponse", 0, &at, NULL, 0),
                     WSM_ERR_NOT_SOAP);
    wsm__envelope_free(env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fault_codes),     cmocka_unit_test(test_expires),
        cmocka_unit_test(test_subscribe_reply), cmocka_unit_test(test_subscribe_reply_bad),
        cmocka_unit_test(test_pull_reply),      cmocka_unit_test(test_pull_reply_stop_and_empty),
        cmocka_unit_test(test_expires_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
