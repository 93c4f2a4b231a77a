/* The collector's event handling: the JSON object written for each event
 * (every field, checked by a validator that must also refuse bad JSON),
 * and the event's Computer against the source's principal. */
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

int main(void)
{
    xmlInitParser();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_event),
        cmocka_unit_test(json_validator_refuses),
        cmocka_unit_test(computer_matching),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    events_tests_done();
    return r;
}
