/* Unit tests for the journal as Windows events (src/evsrc): the channel
 * map and the System fields (channel.c), and the renderer (render.c, read
 * back by libxml2 and by the collector's own event parser). The QueryList
 * compiler and matcher, and the reader's refusals, are in
 * test_evsrc_query.c; the reader against a real journald is tested in
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
#include "evsrc_helpers.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_channels),         cmocka_unit_test(test_system_fields),
        cmocka_unit_test(test_systemtime),       cmocka_unit_test(test_xml_text),
        cmocka_unit_test(test_render_roundtrip), cmocka_unit_test(test_render_quota),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
