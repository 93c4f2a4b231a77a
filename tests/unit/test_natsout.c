/* The NATS output's pure parts (src/collector/natsout.c): NatsOutput's
 * values, subjects (every value a single subject token), and Nats-Msg-Id
 * (the same event, the same id; different events, different ids; bounded
 * length). The publishing itself is tested against a real nats-server in
 * tests/interop/test_collector_nats.py. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "natsout.h"

static void test_spec(void **state)
{
    (void)state;
    assert_true(wsmd__nats_spec_ok("nats://127.0.0.1:4222"));
    assert_true(wsmd__nats_spec_ok(
        "nats://h:4222 subject=wsmd.events.{subscription}.{channel} stream=WSMD"));
    assert_true(wsmd__nats_spec_ok("nats://h:4222 subject=a.{channel} window=30 timeout=2000"));
    assert_true(wsmd__nats_spec_ok("nats://h:4222 subject=fixed.subject"));
    assert_false(wsmd__nats_spec_ok(""));
    assert_false(wsmd__nats_spec_ok("http://h:4222"));
    assert_false(wsmd__nats_spec_ok("nats://h"));                           /* no port */
    assert_false(wsmd__nats_spec_ok("nats://h:4222 subject=a.x{channel}")); /* half a token */
    assert_false(wsmd__nats_spec_ok("nats://h:4222 subject=a.{computer}"));
    assert_false(wsmd__nats_spec_ok("nats://h:4222 subject=a..b"));
    assert_false(wsmd__nats_spec_ok("nats://h:4222 subject=a.b."));
    assert_false(wsmd__nats_spec_ok("nats://h:4222 subject=a.>"));
    assert_false(wsmd__nats_spec_ok("nats://h:4222 stream=a.b"));
    assert_false(wsmd__nats_spec_ok("nats://h:4222 window=0"));
    assert_false(wsmd__nats_spec_ok("nats://h:4222 timeout=x"));
    assert_false(wsmd__nats_spec_ok("nats://h:4222 colour=blue"));
}

static void test_subject(void **state)
{
    (void)state;
    char s[128];
    assert_int_equal(wsmd__nats_subject("wsmd.events.{subscription}.{channel}", "Sec",
                                        "Microsoft-Windows-Sysmon/Operational", s, sizeof(s)),
                     WSM_OK);
    assert_string_equal(s, "wsmd.events.Sec.Microsoft-Windows-Sysmon/Operational");
    /* What would split or widen the subject becomes '_'. */
    assert_int_equal(
        wsmd__nats_subject("e.{subscription}.{channel}", "a.b c*>", "\xc3\xa9\t", s, sizeof(s)),
        WSM_OK);
    assert_string_equal(s, "e.a_b_c__.___");
    assert_int_equal(wsmd__nats_subject("e.{subscription}.{channel}", "", NULL, s, sizeof(s)),
                     WSM_OK);
    assert_string_equal(s, "e._._");
    char small[8];
    assert_int_equal(
        wsmd__nats_subject("e.{subscription}", "a-long-subscription", "x", small, sizeof(small)),
        WSM_ERR_QUOTA);
}

static void test_msg_id(void **state)
{
    (void)state;
    struct wsmd_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.well_formed = 1;
    ev.computer = "ws1.example.com";
    ev.channel = "Security";
    ev.record_id = 4711;
    ev.xml = "<Event/>";
    ev.xml_len = 8;
    char a[256], b[256];
    wsmd__nats_msg_id(&ev, "Sec", a, sizeof(a));
    assert_string_equal(a, "Sec/ws1.example.com/Security/4711");
    ev.record_id = 4712;
    wsmd__nats_msg_id(&ev, "Sec", b, sizeof(b));
    assert_string_not_equal(a, b);
    wsmd__nats_msg_id(&ev, "Other", b, sizeof(b));
    assert_string_not_equal(a, b);
    /* Without a record id: the hash of the XML, the same for the same XML. */
    ev.record_id = -1;
    wsmd__nats_msg_id(&ev, "Sec", a, sizeof(a));
    wsmd__nats_msg_id(&ev, "Sec", b, sizeof(b));
    assert_string_equal(a, b);
    assert_memory_equal(a, "Sec/x/", 6);
    ev.xml = "<Event>2</Event>";
    ev.xml_len = strlen(ev.xml);
    wsmd__nats_msg_id(&ev, "Sec", b, sizeof(b));
    assert_string_not_equal(a, b);
    /* A long one: a hash of it, bounded, still stable and distinct. */
    char longc[400];
    memset(longc, 'c', sizeof(longc) - 1);
    longc[sizeof(longc) - 1] = '\0';
    ev.computer = longc;
    ev.record_id = 1;
    wsmd__nats_msg_id(&ev, "Sec", a, sizeof(a));
    assert_true(strlen(a) <= 200);
    assert_memory_equal(a, "h/", 2);
    ev.record_id = 2;
    wsmd__nats_msg_id(&ev, "Sec", b, sizeof(b));
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec),
        cmocka_unit_test(test_subject),
        cmocka_unit_test(test_msg_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
