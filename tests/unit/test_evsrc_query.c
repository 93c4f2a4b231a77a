/* Unit tests for the journal as Windows events (src/evsrc): the QueryList
 * compiler and matcher (query.c), what they refuse and why, and the
 * reader's refusals that need no journal (reader.c). */
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

#include "arena.h"
#include "buf.h"
#include "events.h"
#include "evsrc.h"
#include "evsrc_priv.h"
#include "evsrc_helpers.h"

/* ---- queries ------------------------------------------------------- */

static struct wsmd_evq *compile_ok(const char *text)
{
    struct wsmd_evq *q = NULL;
    char why[256];
    enum wsm_err e = wsmd__evq_compile(text, strlen(text), &q, why, sizeof(why));
    if (e)
        fail_msg("%s: %s (%s)", text, wsm_strerror(e), why);
    return q;
}

static void refused(const char *text, enum wsm_err want, const char *why_part)
{
    struct wsmd_evq *q = NULL;
    char why[256];
    enum wsm_err e = wsmd__evq_compile(text, strlen(text), &q, why, sizeof(why));
    if (e != want || !strstr(why, why_part))
        fail_msg("%s: got %s (%s), wanted %s with '%s'", text, wsm_strerror(e), why,
                 wsm_strerror(want), why_part);
    assert_null(q);
}

#define NOW 1796638096661334ULL

static int matches(const struct wsmd_evq *q, const struct entry *en, const char *want_chan)
{
    char chan[WSMD_EVCHAN_NAME_MAX];
    int m = wsmd__evq_match(q, &en->ev, NOW + 1000, chan);
    if (m && want_chan)
        assert_string_equal(chan, want_chan);
    return m;
}

#define QL(...) "<QueryList><Query Id='0'>" __VA_ARGS__ "</Query></QueryList>"

static void test_query_match(void **state)
{
    (void)state;
    struct entry err, info, sec, unit;
    ENTRY(&err, "SYSLOG_IDENTIFIER=myapp", "SYSLOG_FACILITY=1", "PRIORITY=3", "EVENT_ID=100");
    ENTRY(&info, "SYSLOG_IDENTIFIER=other", "SYSLOG_FACILITY=1", "PRIORITY=6");
    ENTRY(&sec, "SYSLOG_IDENTIFIER=sshd", "SYSLOG_FACILITY=4", "PRIORITY=6",
          "_SYSTEMD_UNIT=ssh.service");
    ENTRY(&unit, "SYSLOG_IDENTIFIER=nginx", "PRIORITY=4", "_SYSTEMD_UNIT=nginx.service");

    /* The brief's example, as Windows escapes it. */
    struct wsmd_evq *q = compile_ok(
        QL("<Select Path='Application'>*[System[(Level=1 or Level=2) and Provider[@Name='MyApp'] "
           "and (EventID=100) and TimeCreated[timediff(@SystemTime) &lt;= 86400000]]]</Select>"));
    assert_true(matches(q, &err, "Application"));
    assert_false(matches(q, &info, NULL));
    assert_false(matches(q, &sec, NULL));
    wsmd__evq_free(q);

    /* The whole channel, and the path's case. */
    q = compile_ok(QL("<Select Path='application'>*</Select>"));
    assert_true(matches(q, &err, "Application"));
    assert_true(matches(q, &info, "Application"));
    assert_true(matches(q, &unit, "Application"));
    assert_false(matches(q, &sec, NULL));
    wsmd__evq_free(q);

    /* Suppress within the Query; a Path on the Query. */
    q = compile_ok("<QueryList><Query Id='0' Path='Application'><Select>*</Select>"
                   "<Suppress>*[System[Level=4]]</Suppress></Query></QueryList>");
    assert_true(matches(q, &err, NULL));
    assert_false(matches(q, &info, NULL));
    assert_true(matches(q, &unit, NULL)); /* Level 3 */
    wsmd__evq_free(q);

    /* A Suppress of another Query does not act; Queries add up. */
    q = compile_ok("<QueryList><Query Id='0'><Select Path='Security'>*</Select></Query>"
                   "<Query Id='1'><Select Path='Application'>*[System[Level&lt;3]]</Select>"
                   "<Suppress Path='Security'>*</Suppress></Query></QueryList>");
    assert_true(matches(q, &sec, "Security"));
    assert_true(matches(q, &err, "Application"));
    assert_false(matches(q, &info, NULL));
    wsmd__evq_free(q);

    /* Unit channels: the entry's own channel is named as selected. */
    q = compile_ok(QL("<Select Path='Unit/ssh.service'>*</Select>"
                      "<Select Path='Unit/nginx.service'>*[System[Level=3]]</Select>"));
    assert_true(matches(q, &sec, "Unit/ssh.service"));
    assert_true(matches(q, &unit, "Unit/nginx.service"));
    assert_false(matches(q, &err, NULL));
    wsmd__evq_free(q);

    /* Provider or, !=, EventID ranges, System/Level, Event[...]. */
    q = compile_ok(QL("<Select Path='Application'>Event[System[Provider[@Name='myapp' or "
                      "@Name='nginx'] and (EventID &gt;= 100 and EventID &lt;= 100)]]</Select>"));
    assert_true(matches(q, &err, NULL));
    assert_false(matches(q, &unit, NULL));
    wsmd__evq_free(q);
    q = compile_ok(QL("<Select Path='Application'>*[System/Level=3]</Select>"));
    assert_true(matches(q, &unit, NULL));
    assert_false(matches(q, &err, NULL));
    wsmd__evq_free(q);
    q = compile_ok(QL("<Select Path='Application'>*[System[Provider[@Name!='myapp']]]</Select>"));
    assert_false(matches(q, &err, NULL));
    assert_true(matches(q, &info, NULL));
    wsmd__evq_free(q);

    /* A bare XPath: every channel, each event in its own. */
    q = compile_ok("*[System[Level=4]]");
    assert_true(matches(q, &sec, "Security"));
    assert_true(matches(q, &info, "Application"));
    assert_false(matches(q, &err, NULL));
    wsmd__evq_free(q);

    /* Time: timediff in ms before now, @SystemTime literals. */
    struct entry old;
    ENTRY(&old, "SYSLOG_IDENTIFIER=a");
    old.ev.realtime_usec = NOW - 5000000; /* 5 s (plus 1 ms) before "now" */
    q = compile_ok("*[System[TimeCreated[timediff(@SystemTime) <= 5000]]]");
    assert_false(matches(q, &old, NULL));
    wsmd__evq_free(q);
    q = compile_ok("*[System[TimeCreated[timediff(@SystemTime) <= 5001]]]");
    assert_true(matches(q, &old, NULL));
    wsmd__evq_free(q);
    q = compile_ok("*[System[TimeCreated[@SystemTime>='2026-12-07T10:08:11.661334Z' and "
                   "@SystemTime<='2026-12-07T10:08:12Z']]]");
    assert_true(matches(q, &old, NULL));
    assert_false(matches(q, &err, NULL));
    wsmd__evq_free(q);

    /* Task/Opcode/Version are 0; EventRecordID is the seqnum (42). */
    q = compile_ok("*[System[Task=0 and Opcode=0 and Version=0 and EventRecordID>41]]");
    assert_true(matches(q, &err, NULL));
    wsmd__evq_free(q);
    q = compile_ok("*[System[EventRecordID=41]]");
    assert_false(matches(q, &err, NULL));
    wsmd__evq_free(q);

    /* IgnoreChannelError: Windows channels this source lacks take nothing,
     * the others work; the first ignored is named. Without it: refused. */
    static const char ign[] = QL("<Select Path='Microsoft-Windows-Sysmon/Operational'>*</Select>"
                                 "<Select Path='ForwardedEvents'>*[System[Level=2]]</Select>"
                                 "<Select Path='Application'>*[System[Level=2]]</Select>");
    char why[256];
    q = NULL;
    assert_int_equal(
        wsmd__evq_compile_ex(ign, strlen(ign), WSMD_EVQ_IGNORE_CHANNEL_ERROR, &q, why, sizeof(why)),
        WSM_OK);
    assert_string_equal(why, "ignored unknown channel 'Microsoft-Windows-Sysmon/Operational'");
    assert_true(matches(q, &err, "Application"));
    assert_false(matches(q, &info, NULL));
    assert_false(matches(q, &sec, NULL));
    wsmd__evq_free(q);
    q = compile_ok(QL("<Select Path='Application'>*</Select>"));
    wsmd__evq_free(q);
    assert_int_equal(wsmd__evq_compile_ex(ign, strlen(ign), 0, &q, why, sizeof(why)),
                     WSM_ERR_INVALID_ARG);
    assert_int_equal(wsmd__evq_compile_ex(QL("<Select Path='Nope'>*[Bad]</Select>"),
                                          strlen(QL("<Select Path='Nope'>*[Bad]</Select>")),
                                          WSMD_EVQ_IGNORE_CHANNEL_ERROR, &q, why, sizeof(why)),
                     WSM_ERR_UNSUPPORTED_FEATURE);
    assert_int_equal(wsmd__evq_compile_ex(QL("<Select Path='Application'>*</Select>"),
                                          strlen(QL("<Select Path='Application'>*</Select>")),
                                          WSMD_EVQ_IGNORE_CHANNEL_ERROR, &q, why, sizeof(why)),
                     WSM_OK);
    assert_string_equal(why, "");
    wsmd__evq_free(q);

    /* Whitespace and newlines as Event Viewer writes them; CDATA. */
    q = compile_ok("\n  <QueryList>\n  <Query Id=\"0\" Path=\"Application\">\n"
                   "    <Select Path=\"Application\"><![CDATA[*[System[(Level=2)]]]]></Select>\n"
                   "  </Query>\n</QueryList>\n");
    assert_true(matches(q, &err, NULL));
    wsmd__evq_free(q);
}

static void test_query_refused(void **state)
{
    (void)state;
    /* Beyond the subset: UNSUPPORTED_FEATURE with a reason. */
    refused(QL("<Select Path='Application'>*[EventData[Data[@Name='x']='y']]</Select>"),
            WSM_ERR_UNSUPPORTED_FEATURE, "EventData");
    refused(QL("<Select Path='Application'>*[System[band(Keywords,4503599627370496)]]</Select>"),
            WSM_ERR_UNSUPPORTED_FEATURE, "band()");
    refused(QL("<Select Path='Application'>*[System[Keywords=1]]</Select>"),
            WSM_ERR_UNSUPPORTED_FEATURE, "not 'Keywords=1");
    refused(QL("<Select Path='Application'>*[System[Security[@UserID='S-1-5-18']]]</Select>"),
            WSM_ERR_UNSUPPORTED_FEATURE, "Security");
    refused(QL("<Select Path='Application'>*[System[not(Level=2)]]</Select>"),
            WSM_ERR_UNSUPPORTED_FEATURE, "not()");
    refused(QL("<Select Path='Application'>*[System[Level=2.5]]</Select>"),
            WSM_ERR_UNSUPPORTED_FEATURE, "integers");
    refused(QL("<Select Path='Application'>*[System[Provider[@Guid='{x}']]]</Select>"),
            WSM_ERR_UNSUPPORTED_FEATURE, "@Name");
    refused(QL("<Select Path='Application'>*[System[TimeCreated[@SystemTime]]]</Select>"),
            WSM_ERR_INVALID_ARG, "comparison");
    refused(QL("<Select Path='Application'>Event/System</Select>"), WSM_ERR_INVALID_ARG,
            "unexpected");
    refused(QL("<Select Path='Application'>//Event</Select>"), WSM_ERR_UNSUPPORTED_FEATURE,
            "must start");
    /* Malformed. */
    refused(QL("<Select Path='Nope'>*</Select>"), WSM_ERR_INVALID_ARG, "unknown channel 'Nope'");
    refused(QL("<Select Path='Unit/a b'>*</Select>"), WSM_ERR_INVALID_ARG, "unknown channel");
    refused(QL("<Select>*</Select>"), WSM_ERR_INVALID_ARG, "without a Path");
    refused(QL("<Suppress Path='Application'>*</Suppress>"), WSM_ERR_INVALID_ARG,
            "without a Select");
    refused("<QueryList></QueryList>", WSM_ERR_INVALID_ARG, "empty");
    refused("<QueryList><Query>", WSM_ERR_INVALID_ARG, "well-formed");
    refused("<Other/>", WSM_ERR_INVALID_ARG, "not a QueryList");
    refused(QL("<Select Path='Application'>*[System[Level=]]</Select>"), WSM_ERR_INVALID_ARG,
            "number expected");
    refused(QL("<Select Path='Application'>*[System[Level=2]</Select>"), WSM_ERR_INVALID_ARG,
            "']' expected");
    refused(QL("<Select Path='Application'>*[System[Provider[@Name='x]]]</Select>"),
            WSM_ERR_INVALID_ARG, "unterminated");
    refused(QL("<Select Path='Application'>*[System[Level=1234567890123456789]]</Select>"),
            WSM_ERR_INVALID_ARG, "too large");
    refused("<!DOCTYPE x [<!ENTITY a 'b'>]><QueryList/>", WSM_ERR_INVALID_ARG, "DTD");
    refused("<QueryList><Query><Select Path='Application'>&xx;</Select></Query></QueryList>",
            WSM_ERR_INVALID_ARG, "");
    refused("", WSM_ERR_INVALID_ARG, "must start");
    refused("*[System[Level=1]] junk", WSM_ERR_INVALID_ARG, "unexpected");

    /* Caps: nesting, XML depth, comparisons, Selects. */
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    wsm__buf_puts(&b, "*[System[");
    for (int i = 0; i < 40; i++)
        wsm__buf_puts(&b, "(");
    wsm__buf_puts(&b, "Level=1");
    for (int i = 0; i < 40; i++)
        wsm__buf_puts(&b, ")");
    wsm__buf_puts(&b, "]]");
    refused(b.data, WSM_ERR_INVALID_ARG, "nested deeper");
    wsm__buf_reset(&b);
    for (int i = 0; i < 20; i++)
        wsm__buf_puts(&b, "<a>");
    refused(b.data, WSM_ERR_INVALID_ARG, "too deep");
    wsm__buf_reset(&b);
    wsm__buf_puts(&b, "*[System[Level=1");
    for (int i = 0; i < 9000; i++)
        wsm__buf_puts(&b, " or Level=1");
    wsm__buf_puts(&b, "]]");
    refused(b.data, WSM_ERR_INVALID_ARG, "comparisons");
    wsm__buf_reset(&b);
    wsm__buf_puts(&b, "<QueryList><Query Id='0'>");
    for (int i = 0; i < 257; i++)
        wsm__buf_puts(&b, "<Select Path='System'>*</Select>");
    wsm__buf_puts(&b, "</Query></QueryList>");
    refused(b.data, WSM_ERR_INVALID_ARG, "more than 256");
    /* NUL inside. */
    struct wsmd_evq *q = NULL;
    assert_int_equal(wsmd__evq_compile("*\0x", 3, &q, NULL, 0), WSM_ERR_INVALID_ARG);
    assert_null(q);
    wsm__buf_free(&b);
}

/* Refusals of the reader that come before the journal is opened. */
static void test_reader_bookmark_refused(void **state)
{
    (void)state;
    struct wsmd_evq *q = compile_ok("*");
    static const char *const bad[] = {
        "",
        ("<BookmarkList><Bookmark Channel='Application' RecordId='5' IsCurrent='true'/>"
         "</BookmarkList>"), /* a Windows bookmark: no cursor */
        "<BookmarkList><Bookmark Cursor='s=1;i=2;../../x'/></BookmarkList>",
        "<BookmarkList><Bookmark Cursor='s=1;i=2/></BookmarkList>",
        "Cursor='s=1'",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct wsmd_evreader_opts o = {.query = q,
                                       .start = WSMD_EV_FROM_BOOKMARK,
                                       .bookmark = bad[i],
                                       .bookmark_len = strlen(bad[i]),
                                       .journal_dir = "/nonexistent"};
        struct wsmd_evreader *r = (void *)1;
        assert_int_equal(wsmd__evr_open(&o, &r), WSM_ERR_INVALID_ARG);
        assert_null(r);
    }
    wsmd__evq_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_match),
        cmocka_unit_test(test_query_refused),
        cmocka_unit_test(test_reader_bookmark_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
