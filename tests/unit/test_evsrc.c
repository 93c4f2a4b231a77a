/* Unit tests for the journal as Windows events (src/evsrc): the channel
 * map and the System fields (channel.c), the renderer (render.c, read back
 * by libxml2 and by the collector's own event parser), the QueryList
 * compiler and matcher (query.c), and the reader's refusals that need no
 * journal (reader.c). The reader against a real journald is tested in
 * tests/interop/test_evsrc.py. */
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

/* An entry from "NAME=value" strings (values without NULs here). */
struct entry {
    struct wsmd_evfield f[32];
    struct wsmd_evin ev;
};

static void mk(struct entry *en, const char *const *kv)
{
    memset(en, 0, sizeof(*en));
    size_t n = 0;
    for (; kv[n]; n++) {
        const char *eq = strchr(kv[n], '=');
        assert_non_null(eq);
        en->f[n] = (struct wsmd_evfield){kv[n], (size_t)(eq - kv[n]), eq + 1, strlen(eq + 1)};
    }
    en->ev.f = en->f;
    en->ev.n = n;
    en->ev.realtime_usec = 1796638096661334ULL; /* 2026-12-07T10:08:16.661334Z */
    en->ev.seqnum = 42;
    wsmd__evin_derive(&en->ev);
}

#define ENTRY(en, ...)                                                                             \
    do {                                                                                           \
        static const char *const kv_[] = {__VA_ARGS__, NULL};                                      \
        mk(en, kv_);                                                                               \
    } while (0)

/* ---- channel map and System fields --------------------------------- */

static void test_channels(void **state)
{
    (void)state;
    struct entry en;
    /* logger -t NAME: facility user, transport syslog. */
    ENTRY(&en, "SYSLOG_FACILITY=1", "SYSLOG_IDENTIFIER=myapp", "_TRANSPORT=syslog", "_PID=77",
          "_COMM=logger", "PRIORITY=3", "MESSAGE=hi");
    assert_int_equal(en.ev.chan, WSMD_EVCHAN_APPLICATION);
    /* systemd-cat -t NAME: a stream, no facility. */
    ENTRY(&en, "SYSLOG_IDENTIFIER=catted", "_TRANSPORT=stdout", "_PID=78", "_COMM=cat");
    assert_int_equal(en.ev.chan, WSMD_EVCHAN_APPLICATION);
    /* local3 and daemon are programs too. */
    ENTRY(&en, "SYSLOG_FACILITY=19", "SYSLOG_IDENTIFIER=x");
    assert_int_equal(en.ev.chan, WSMD_EVCHAN_APPLICATION);
    ENTRY(&en, "SYSLOG_FACILITY=3", "SYSLOG_IDENTIFIER=x");
    assert_int_equal(en.ev.chan, WSMD_EVCHAN_APPLICATION);
    /* auth and authpriv: sshd, sudo. */
    ENTRY(&en, "SYSLOG_FACILITY=4", "SYSLOG_IDENTIFIER=sshd");
    assert_int_equal(en.ev.chan, WSMD_EVCHAN_SECURITY);
    ENTRY(&en, "SYSLOG_FACILITY=10", "SYSLOG_IDENTIFIER=sudo");
    assert_int_equal(en.ev.chan, WSMD_EVCHAN_SECURITY);
    ENTRY(&en, "_TRANSPORT=audit", "MESSAGE=op=login");
    assert_int_equal(en.ev.chan, WSMD_EVCHAN_SECURITY);
    /* wsmd's own authentication lines, not its other lines. */
    ENTRY(&en, "SYSLOG_IDENTIFIER=wsmd", "SYSLOG_FACILITY=3",
          "MESSAGE=event=auth-failure user=bob address=::1 scheme=basic");
    assert_int_equal(en.ev.chan, WSMD_EVCHAN_SECURITY);
    ENTRY(&en, "SYSLOG_IDENTIFIER=wsmd", "SYSLOG_FACILITY=3", "MESSAGE=event=listening port=5985");
    assert_int_equal(en.ev.chan, WSMD_EVCHAN_APPLICATION);
    /* The kernel, journald, pid 1, systemd's daemons. */
    ENTRY(&en, "_TRANSPORT=kernel", "SYSLOG_IDENTIFIER=kernel", "SYSLOG_FACILITY=0");
    assert_int_equal(en.ev.chan, WSMD_EVCHAN_SYSTEM);
    ENTRY(&en, "_TRANSPORT=driver", "SYSLOG_IDENTIFIER=systemd-journald");
    assert_int_equal(en.ev.chan, WSMD_EVCHAN_SYSTEM);
    ENTRY(&en, "_PID=1", "SYSLOG_IDENTIFIER=systemd", "UNIT=ssh.service",
          "MESSAGE=Started ssh.service");
    assert_int_equal(en.ev.chan, WSMD_EVCHAN_SYSTEM);
    ENTRY(&en, "_PID=400", "_UID=0", "SYSLOG_IDENTIFIER=systemd-logind", "_COMM=systemd-logind",
          "SYSLOG_FACILITY=4");
    assert_int_equal(en.ev.chan, WSMD_EVCHAN_SECURITY); /* auth wins */
    ENTRY(&en, "_PID=400", "_UID=0", "SYSLOG_IDENTIFIER=systemd-networkd", "_COMM=systemd-network");
    assert_int_equal(en.ev.chan, WSMD_EVCHAN_SYSTEM);
    /* Anyone can claim an identifier: not systemd without the trusted comm. */
    ENTRY(&en, "_PID=900", "_UID=1000", "SYSLOG_IDENTIFIER=systemd-fake", "_COMM=bash");
    assert_int_equal(en.ev.chan, WSMD_EVCHAN_APPLICATION);
    /* The unit channel comes with _SYSTEMD_UNIT. */
    ENTRY(&en, "_SYSTEMD_UNIT=ssh.service", "SYSLOG_FACILITY=4", "SYSLOG_IDENTIFIER=sshd");
    assert_int_equal(en.ev.chan, WSMD_EVCHAN_SECURITY);
    assert_int_equal(en.ev.unit_len, 11);
    assert_memory_equal(en.ev.unit, "ssh.service", 11);
    /* What journalctl -u shows: pid 1's lines about the unit, root's
     * OBJECT_SYSTEMD_UNIT and COREDUMP_UNIT; nobody else may name a unit. */
    ENTRY(&en, "_PID=1", "_UID=0", "_SYSTEMD_UNIT=init.scope", "UNIT=nginx.service",
          "MESSAGE=Started nginx.service");
    assert_int_equal(en.ev.chan, WSMD_EVCHAN_SYSTEM);
    assert_int_equal(en.ev.unit_len, 13);
    assert_memory_equal(en.ev.unit, "nginx.service", 13);
    ENTRY(&en, "_PID=700", "_UID=0", "_SYSTEMD_UNIT=systemd-coredump@0.service",
          "COREDUMP_UNIT=nginx.service");
    assert_memory_equal(en.ev.unit, "nginx.service", 13);
    ENTRY(&en, "_PID=700", "_UID=0", "_SYSTEMD_UNIT=x.service",
          "OBJECT_SYSTEMD_UNIT=nginx.service");
    assert_memory_equal(en.ev.unit, "nginx.service", 13);
    ENTRY(&en, "_PID=900", "_UID=1000", "_SYSTEMD_UNIT=user@1000.service", "UNIT=nginx.service",
          "OBJECT_SYSTEMD_UNIT=nginx.service", "COREDUMP_UNIT=nginx.service");
    assert_int_equal(en.ev.unit_len, 17);
    assert_memory_equal(en.ev.unit, "user@1000.service", 17);
    ENTRY(&en, "_PID=900", "UNIT=nginx.service");
    assert_null(en.ev.unit);
}

static void test_system_fields(void **state)
{
    (void)state;
    struct entry en;
    static const int want[8] = {1, 1, 1, 2, 3, 4, 4, 5};
    for (int p = 0; p < 8; p++) {
        char prio[16];
        snprintf(prio, sizeof(prio), "PRIORITY=%d", p);
        const char *kv[] = {prio, NULL};
        mk(&en, kv);
        assert_int_equal(en.ev.level, want[p]);
    }
    ENTRY(&en, "PRIORITY=9");
    assert_int_equal(en.ev.level, 4);
    ENTRY(&en, "PRIORITY=3x");
    assert_int_equal(en.ev.level, 4);
    ENTRY(&en, "MESSAGE=no priority");
    assert_int_equal(en.ev.level, 4);

    /* Provider: identifier, else unit, else comm, else "journal". */
    ENTRY(&en, "SYSLOG_IDENTIFIER=id", "_SYSTEMD_UNIT=u.service", "_COMM=c");
    assert_int_equal(en.ev.provider_len, 2);
    assert_memory_equal(en.ev.provider, "id", 2);
    ENTRY(&en, "_SYSTEMD_UNIT=u.service", "_COMM=c");
    assert_memory_equal(en.ev.provider, "u.service", 9);
    ENTRY(&en, "_COMM=c");
    assert_memory_equal(en.ev.provider, "c", 1);
    ENTRY(&en, "MESSAGE=x");
    assert_memory_equal(en.ev.provider, "journal", 7);

    /* EventID: EVENT_ID, else MESSAGE_ID's first 4 hex digits, else 0. */
    ENTRY(&en, "EVENT_ID=100", "MESSAGE_ID=39f53479d3a045ac8e11786248231fbf");
    assert_int_equal(en.ev.eventid, 100);
    ENTRY(&en, "EVENT_ID=65536", "MESSAGE_ID=39f53479d3a045ac8e11786248231fbf");
    assert_int_equal(en.ev.eventid, 0x39f5);
    ENTRY(&en, "EVENT_ID=-1");
    assert_int_equal(en.ev.eventid, 0);
    ENTRY(&en, "MESSAGE_ID=zz");
    assert_int_equal(en.ev.eventid, 0);
    ENTRY(&en, "EVENT_ID=65535");
    assert_int_equal(en.ev.eventid, 65535);

    ENTRY(&en, "_PID=12", "_TID=13", "_UID=1000");
    assert_int_equal(en.ev.pid, 12);
    assert_int_equal(en.ev.tid, 13);
    assert_int_equal(en.ev.uid, 1000);
    ENTRY(&en, "MESSAGE=x");
    assert_int_equal(en.ev.pid, -1);
    assert_int_equal(en.ev.uid, -1);
}

/* ---- rendering ----------------------------------------------------- */

static void test_systemtime(void **state)
{
    (void)state;
    char t[32];
    wsmd__ev_systemtime(1796638096661334ULL, t);
    assert_string_equal(t, "2026-12-07T10:08:16.6613340Z");
    wsmd__ev_systemtime(0, t);
    assert_string_equal(t, "1970-01-01T00:00:00.0000000Z");
    wsmd__ev_systemtime(951782400000001ULL, t); /* a leap day */
    assert_string_equal(t, "2000-02-29T00:00:00.0000010Z");
}

static void test_xml_text(void **state)
{
    (void)state;
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    static const char in[] = "a<b>&'\"\r\n\t\x05\x7f\xc3\xa9\xff\xed\xa0\x80\xef\xbf\xbe"
                             "\xe2\x82\xac\xf0\x9f\x98\x80\xc0\xaf\x00z";
    assert_int_equal(wsmd__ev_xml_text(&b, in, sizeof(in) - 1), WSM_OK);
    assert_string_equal(b.data, "a&lt;b&gt;&amp;&apos;&quot;&#13;&#10;&#9;\\u0005\x7f\xc3\xa9\\xFF"
                                "\\xED\\xA0\\x80\\uFFFE\xe2\x82\xac\xf0\x9f\x98\x80\\xC0\\xAF"
                                "\\u0000z");
    /* Truncated sequences at the end. */
    wsm__buf_reset(&b);
    assert_int_equal(wsmd__ev_xml_text(&b, "x\xe2\x82", 3), WSM_OK);
    assert_string_equal(b.data, "x\\xE2\\x82");
    wsm__buf_free(&b);
}

static xmlDocPtr parse(const char *s, size_t n)
{
    xmlDocPtr d = xmlReadMemory(s, (int)n, NULL, "UTF-8", XML_PARSE_NONET | XML_PARSE_NOERROR);
    assert_non_null(d);
    return d;
}

static xmlNodePtr child(xmlNodePtr n, const char *name)
{
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
            return c;
    return NULL;
}

/* Every byte value in a field, and an XML-breaking message: the event is
 * well-formed XML, and the collector's own parser reads it back. */
static void test_render_roundtrip(void **state)
{
    (void)state;
    char binary[300];
    size_t nb = 0;
    memcpy(binary, "BIN=", 4);
    for (int c = 0; c < 256; c++)
        binary[4 + nb++] = (char)c;
    struct wsmd_evfield f[] = {
        {"MESSAGE", 7, "disk <full> & \"x\" ]]> \x01\xff", 24},
        {"PRIORITY", 8, "3", 1},
        {"SYSLOG_IDENTIFIER", 17, "my'app", 6},
        {"SYSLOG_FACILITY", 15, "1", 1},
        {"EVENT_ID", 8, "100", 3},
        {"_PID", 4, "4321", 4},
        {"_UID", 4, "1000", 4},
        {"_HOSTNAME", 9, "web1.example.com", 16},
        {"BIN", 3, binary + 4, nb},
    };
    struct wsmd_evin ev = {.f = f, .n = sizeof(f) / sizeof(f[0])};
    ev.realtime_usec = 1796638096661334ULL;
    ev.seqnum = 9001;
    wsmd__evin_derive(&ev);
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    assert_int_equal(wsmd__ev_render(&ev, "Application", "fallback", 1, &b), WSM_OK);

    xmlDocPtr d = parse(b.data, b.len);
    xmlNodePtr root = xmlDocGetRootElement(d);
    assert_string_equal((const char *)root->name, "Event");
    assert_string_equal((const char *)root->ns->href, WSMD_NS_EVENT);
    xmlNodePtr sys = child(root, "System");
    /* The schema's order. */
    static const char *const order[] = {"Provider",      "EventID",     "Version",   "Level",
                                        "Task",          "Opcode",      "Keywords",  "TimeCreated",
                                        "EventRecordID", "Correlation", "Execution", "Channel",
                                        "Computer",      "Security"};
    size_t i = 0;
    for (xmlNodePtr c = sys->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE) {
            assert_true(i < sizeof(order) / sizeof(order[0]));
            assert_string_equal((const char *)c->name, order[i++]);
        }
    assert_int_equal(i, sizeof(order) / sizeof(order[0]));
    xmlChar *uid = xmlGetProp(child(sys, "Security"), (const xmlChar *)"UserID");
    assert_string_equal((const char *)uid, "S-1-22-1-1000");
    xmlFree(uid);
    xmlChar *pid = xmlGetProp(child(sys, "Execution"), (const xmlChar *)"ProcessID");
    assert_string_equal((const char *)pid, "4321");
    xmlFree(pid);
    /* The binary field: every byte is there in an escaped or plain form. */
    xmlNodePtr data = child(child(root, "EventData"), "Data");
    int found = 0;
    for (; data; data = data->next) {
        xmlChar *name = xmlGetProp(data, (const xmlChar *)"Name");
        if (strcmp((const char *)name, "BIN") == 0) {
            xmlChar *t = xmlNodeGetContent(data);
            assert_non_null(strstr((const char *)t, "\\u0000\\u0001"));
            assert_non_null(strstr((const char *)t, "\t\n\\u000B\\u000C\r\\u000E"));
            assert_non_null(strstr((const char *)t, " !\"#$%&'()*+,-./0123456789:;<=>?@A"));
            assert_non_null(strstr((const char *)t, "\\x80\\x81"));
            assert_non_null(strstr((const char *)t, "\\xFE\\xFF"));
            xmlFree(t);
            found = 1;
        }
        xmlFree(name);
    }
    assert_true(found);
    xmlFreeDoc(d);

    /* The collector's parser (src/collector/events.c), fed as a delivery. */
    struct wsm_buf batch;
    wsm__buf_init(&batch, 0);
    wsm__buf_puts(&batch, "<w:Events xmlns:w='http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd'>"
                          "<w:Event><![CDATA[");
    wsm__buf_add(&batch, b.data, b.len);
    wsm__buf_puts(&batch, "]]></w:Event></w:Events>");
    d = parse(batch.data, batch.len);
    struct wsm_arena a;
    wsm__arena_init(&a);
    struct wsmd_event *evs;
    size_t n;
    assert_int_equal(wsmd__events_parse(xmlDocGetRootElement(d), &a, 10, &evs, &n), WSM_OK);
    assert_int_equal(n, 1);
    assert_true(evs[0].well_formed);
    assert_string_equal(evs[0].provider, "my'app");
    assert_int_equal(evs[0].event_id, 100);
    assert_string_equal(evs[0].level, "2");
    assert_string_equal(evs[0].channel, "Application");
    assert_string_equal(evs[0].computer, "web1.example.com");
    assert_int_equal(evs[0].record_id, 9001);
    assert_string_equal(evs[0].time_created, "2026-12-07T10:08:16.6613340Z");
    assert_string_equal(evs[0].rendered_message, "disk <full> & \"x\" ]]> \\u0001\\xFF");
    assert_string_equal(evs[0].keywords, "0x80000000000000");
    wsm__arena_free(&a);
    xmlFreeDoc(d);
    wsm__buf_free(&batch);

    /* Raw: no RenderingInfo; no _HOSTNAME: the caller's computer name. */
    struct wsmd_evin ev2 = ev;
    ev2.hostname = NULL;
    ev2.uid = -1;
    wsm__buf_reset(&b);
    assert_int_equal(wsmd__ev_render(&ev2, "Unit/x.service", "fallback", 0, &b), WSM_OK);
    assert_null(strstr(b.data, "RenderingInfo"));
    assert_non_null(strstr(b.data, "<Computer>fallback</Computer>"));
    assert_non_null(strstr(b.data, "<Channel>Unit/x.service</Channel>"));
    assert_non_null(strstr(b.data, "<Security/>"));
    wsm__buf_free(&b);
}

/* A buffer at its cap: an error, and nothing half-written left in it. */
static void test_render_quota(void **state)
{
    (void)state;
    struct entry en;
    ENTRY(&en, "MESSAGE=0123456789012345678901234567890123456789", "SYSLOG_IDENTIFIER=a");
    struct wsm_buf b;
    wsm__buf_init(&b, 700);
    wsm__buf_puts(&b, "<batch>");
    assert_int_not_equal(wsmd__ev_render(&en.ev, "Application", "h", 1, &b), WSM_OK);
    assert_int_equal(b.len, 7);
    assert_string_equal(b.data, "<batch>");
    wsm__buf_free(&b);
}

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
        cmocka_unit_test(test_channels),
        cmocka_unit_test(test_system_fields),
        cmocka_unit_test(test_systemtime),
        cmocka_unit_test(test_xml_text),
        cmocka_unit_test(test_render_roundtrip),
        cmocka_unit_test(test_render_quota),
        cmocka_unit_test(test_query_match),
        cmocka_unit_test(test_query_refused),
        cmocka_unit_test(test_reader_bookmark_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
