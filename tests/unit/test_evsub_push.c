/* Unit tests for the event source's push deliveries (src/daemon/evpush.c,
 * evpushauth.c) over a fake journal (evsub_helpers.c): Subscribe in push
 * modes, how deliveries authenticate, and thumbprints lent by the
 * forwarder's settings. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "evsub_helpers.h"
#include "tmpdir.h"

/* A push Subscribe: no EnumerationContext in the answer, and the delivery
 * kept in the stored form that a restart reads back. */
static void test_push_delivery(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        subscribe(f, "alice",
                  "<e:Delivery Mode=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/Events\">"
                  "<e:NotifyTo><a:Address>http://127.0.0.1:9/sub</a:Address>"
                  "<a:ReferenceParameters><w:Ref>r1</w:Ref></a:ReferenceParameters>"
                  "<w:Auth Profile=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/"
                  "basic\"/></e:NotifyTo><w:MaxElements>7</w:MaxElements>"
                  "<w:MaxTime>PT2S</w:MaxTime>"
                  "<w:ConnectionRetry Total=\"4\">PT3S</w:ConnectionRetry></e:Delivery>",
                  NULL,
                  "<t:UsernameToken xmlns:t=\"urn:t\"><t:Username>col</t:Username>"
                  "<t:Password>pw</t:Password></t:UsernameToken>"),
        WSM_OK);
    assert_null(strstr(reply(f), "EnumerationContext"));
    int busy = 0;
    struct wsmd_evs *s = NULL;
    /* A delivery thread may hold it for a moment (reading its journal). */
    for (int i = 0; i < 500 && !s; i++) {
        s = wsmd__evs_take(f->id, 0, "alice", &busy);
        if (!s)
            usleep(2000);
    }
    assert_non_null(s);
    assert_non_null(s->push);
    struct wsmd_evpush_cfg c;
    assert_int_equal(wsmd__evpush_cfg_parse(s->push, &c), 0);
    wsmd__evs_give(s);
    assert_int_equal(c.mode, 0);
    assert_string_equal(c.notify, "http://127.0.0.1:9/sub");
    assert_non_null(strstr(c.notify_refs, ">r1</w:Ref>"));
    assert_non_null(strstr(c.notify_refs, "xmlns:w=")); /* its namespace travels with it */
    assert_int_equal(c.max_elements, 7);
    assert_int_equal(c.max_time_ms, 2000);
    assert_int_equal(c.retry_total, 4);
    assert_int_equal(c.retry_ms, 3000);
    assert_int_equal(c.auth, 1);
    assert_string_equal(c.user, "col");
    assert_string_equal(c.password, "pw");
    assert_null(c.end_to);
    wsmd__evpush_cfg_clear(&c);
    /* Basic without the UsernameToken is refused. */
    assert_int_equal(
        subscribe(f, "alice",
                  "<e:Delivery Mode=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/Events\">"
                  "<e:NotifyTo><a:Address>http://127.0.0.1:9/sub</a:Address>"
                  "<w:Auth Profile=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/"
                  "basic\"/></e:NotifyTo></e:Delivery>",
                  NULL, NULL),
        WSM_ERR_INVALID_OPTIONS);
    /* Stored forms that are not well made. */
    static const char *const bad[] = {
        "",
        "1",
        "2\x1f"
        "0\x1fhttp://x\x1f\x1f\x1f\x1f"
        "1\x1f"
        "1\x1f"
        "8192\x1f"
        "0\x1f"
        "1\x1f"
        "0\x1f\x1f",
        "1\x1f"
        "3\x1fhttp://x\x1f\x1f\x1f\x1f"
        "1\x1f"
        "1\x1f"
        "8192\x1f"
        "0\x1f"
        "1\x1f"
        "0\x1f\x1f",
        "1\x1f"
        "0\x1fhttp://x\x1f\x1f\x1f\x1f"
        "0\x1f"
        "1\x1f"
        "8192\x1f"
        "0\x1f"
        "1\x1f"
        "0\x1f\x1f",
        "1\x1f"
        "0\x1f\x1f\x1f\x1f\x1f"
        "1\x1f"
        "1\x1f"
        "8192\x1f"
        "0\x1f"
        "1\x1f"
        "0\x1f\x1f",
        "1\x1f"
        "0\x1fhttp://x\x1f\x1f\x1f\x1f"
        "1\x1f"
        "1\x1f"
        "8192\x1f"
        "0\x1f"
        "1\x1f"
        "1\x1f\x1f",
        "1\x1f"
        "0\x1fhttp://x\x1f\x1f\x1f\x1f"
        "1\x1f"
        "1\x1f"
        "8192\x1f"
        "0\x1f"
        "1\x1f"
        "0\x1f\x1f\x1f",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(wsmd__evpush_cfg_parse(bad[i], &c), -1);
    assert_int_equal(wsmd__evpush_cfg_parse("1\x1f"
                                            "0\x1fhttp://x\x1f\x1f\x1f\x1f"
                                            "1\x1f"
                                            "1\x1f"
                                            "8192\x1f"
                                            "0\x1f"
                                            "1\x1f"
                                            "0\x1f\x1f",
                                            &c),
                     0);
    wsmd__evpush_cfg_clear(&c);
}

/* How deliveries authenticate (evpushauth.c): this fixture configures no
 * keytab or certificate, so Kerberos and https/mutual are refused at
 * Subscribe with the reason, never downgraded; among WS-Policy
 * alternatives the first honourable one is taken; the stored form keeps
 * the kind. */
#define PUSH_HEAD                                                                                  \
    "<e:Delivery Mode=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/Events\"><e:NotifyTo>"          \
    "<a:Address>%s</a:Address>%s</e:NotifyTo></e:Delivery>"
#define SECP "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/"
#define POLICY(alts)                                                                               \
    "<c:Policy xmlns:c=\"http://schemas.xmlsoap.org/ws/2002/12/policy\" "                          \
    "xmlns:au=\"http://schemas.microsoft.com/wbem/wsman/1/authentication\"><c:ExactlyOne>" alts    \
    "</c:ExactlyOne></c:Policy>"

static enum wsm_err push_with(struct fixture *f, const char *url, const char *auth, const char *hdr)
{
    char d[2048];
    snprintf(d, sizeof(d), PUSH_HEAD, url, auth);
    return subscribe(f, "alice", d, NULL, hdr);
}

static void test_push_auth(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *url, *auth;
        enum wsm_err e;
        const char *word;
    } refused[] = {
        {"http://127.0.0.1:9/s", "<w:Auth Profile=\"" SECP "http/spnego-kerberos\"/>",
         WSM_ERR_UNSUPPORTED_FEATURE, "ForwarderKeytab"},
        {"https://127.0.0.1:9/s",
         "<w:Auth Profile=\"" SECP "https/mutual\"><w:ClientCertificate><w:Thumbprint>"
         "0123456789012345678901234567890123456789</w:Thumbprint></w:ClientCertificate>"
         "</w:Auth>",
         WSM_ERR_UNSUPPORTED_FEATURE, "ForwarderCertificate"},
        {"http://127.0.0.1:9/s", "<w:Auth Profile=\"" SECP "https/mutual\"/>",
         WSM_ERR_INVALID_OPTIONS, "https://"},
        {"http://127.0.0.1:9/s", "<w:Auth Profile=\"" SECP "http/digest\"/>",
         WSM_ERR_UNSUPPORTED_FEATURE, "spnego-kerberos"},
        {"https://127.0.0.1:9/s", "<w:Auth Profile=\"" SECP "https/mutual/basic\"/>",
         WSM_ERR_UNSUPPORTED_FEATURE, "client certificate"},
        /* Both alternatives unhonourable: the first one's reason. */
        {"http://127.0.0.1:9/s",
         POLICY("<c:All><au:Authentication Profile=\"" SECP "http/spnego-kerberos\"/></c:All>"
                "<c:All><au:Authentication Profile=\"" SECP "http/digest\"/></c:All>"),
         WSM_ERR_UNSUPPORTED_FEATURE, "ForwarderKeytab"},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        assert_int_equal(push_with(f, refused[i].url, refused[i].auth, NULL), refused[i].e);
        assert_non_null(f->fault);
        assert_non_null(strstr(f->fault, refused[i].word));
    }
    /* Kerberos or Basic: Basic (its UsernameToken is there). */
    assert_int_equal(
        push_with(f, "http://127.0.0.1:9/s",
                  POLICY("<c:All><au:Authentication Profile=\"" SECP
                         "http/spnego-kerberos\"/></c:All><c:All><au:Authentication Profile=\"" SECP
                         "http/basic\"/></c:All>"),
                  "<t:UsernameToken xmlns:t=\"urn:t\"><t:Username>col</t:Username>"
                  "<t:Password>pw</t:Password></t:UsernameToken>"),
        WSM_OK);
    int busy = 0;
    struct wsmd_evs *s = NULL;
    for (int i = 0; i < 500 && !s; i++) {
        s = wsmd__evs_take(f->id, 0, "alice", &busy);
        if (!s)
            usleep(2000);
    }
    assert_non_null(s);
    struct wsmd_evpush_cfg c;
    assert_int_equal(wsmd__evpush_cfg_parse(s->push, &c), 0);
    wsmd__evs_give(s);
    assert_int_equal(c.auth, WSMD_EVPUSH_AUTH_BASIC);
    assert_string_equal(c.user, "col");
    wsmd__evpush_cfg_clear(&c);
    /* Stored forms: Kerberos needs nothing more; a certificate its
     * thumbprint; nothing past 3. */
    /* (\x1f followed by a hex digit would be read as one escape) */
    static const char *const stored[] = {"2\x1f\x1f",
                                         ("3\x1f"
                                          "ABCD\x1f"),
                                         "3\x1f\x1f", "4\x1f\x1f"};
    static const int ok[] = {0, 0, -1, -1};
    for (size_t i = 0; i < 4; i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "1\x1f"
                 "0\x1fhttp://x\x1f\x1f\x1f\x1f"
                 "1\x1f"
                 "1\x1f"
                 "8192\x1f"
                 "0\x1f"
                 "1\x1f%s",
                 stored[i]);
        assert_int_equal(wsmd__evpush_cfg_parse(text, &c), ok[i]);
        if (!ok[i]) {
            assert_int_equal(c.auth, i == 0 ? WSMD_EVPUSH_AUTH_KERBEROS : WSMD_EVPUSH_AUTH_CERT);
            wsmd__evpush_cfg_clear(&c);
        }
    }
}

/* Thumbprints as Windows writes them: any case, spaces between bytes; the
 * certificate's own or (Role="issuer") one of its issuers'. */
static void test_lent_thumbprints(void **state)
{
    (void)state;
    struct wsmd_fwd_lent l;
    memset(&l, 0, sizeof(l));
    assert_false(wsmd__fwd_lent_matches(&l, "AB", 0)); /* no certificate */
    strcpy(l.cert, "/proc/self/fd/9");
    strcpy(l.thumb, "0123456789ABCDEF0123456789ABCDEF01234567");
    strcpy(l.issuers[0], "FEDCBA9876543210FEDCBA9876543210FEDCBA98");
    l.nissuers = 1;
    assert_true(wsmd__fwd_lent_matches(&l, "0123456789abcdef0123456789abcdef01234567", 0));
    assert_true(wsmd__fwd_lent_matches(
        &l, " 01 23 45 67 89 ab cd ef 01 23 45 67 89 ab cd ef 01 23 45 67 ", 0));
    assert_false(wsmd__fwd_lent_matches(&l, "0123456789abcdef0123456789abcdef01234567", 1));
    assert_true(wsmd__fwd_lent_matches(&l, "fedcba9876543210fedcba9876543210fedcba98", 1));
    assert_false(wsmd__fwd_lent_matches(&l, "fedcba9876543210fedcba9876543210fedcba98", 0));
    assert_false(wsmd__fwd_lent_matches(&l, "0123456789ABCDEF0123456789ABCDEF0123456", 0));
    assert_false(wsmd__fwd_lent_matches(&l, "0123456789ABCDEF0123456789ABCDEF012345678", 0));
    assert_false(wsmd__fwd_lent_matches(&l, "0123456789ABCDEF0123456789ABCDEF0123456G", 0));
    assert_false(wsmd__fwd_lent_matches(&l, NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_push_delivery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_push_auth, setup, teardown),
        cmocka_unit_test(test_lent_thumbprints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
