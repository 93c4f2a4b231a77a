/* Helpers of the collector's event tests (test_events*.c; events_helpers.h):
 * the test's UTF-16 encoder, the two sample events and the delivery
 * envelope around them, and a batch run as the delivery handler runs it. */
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

/* UTF-8 -> UTF-16 (the test's own encoder); lone surrogates can be given
 * as the sequences ED A0..BF xx, which are written as the unit itself. */
size_t to_utf16(const char *s, unsigned char *o, int be, int bom)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
#define UNIT(u)                                                                                    \
    do {                                                                                           \
        unsigned v_ = (u);                                                                         \
        o[n++] = (unsigned char)(be ? v_ >> 8 : v_ & 0xFF);                                        \
        o[n++] = (unsigned char)(be ? v_ & 0xFF : v_ >> 8);                                        \
    } while (0)
    if (bom)
        UNIT(0xFEFF);
    while (*p) {
        uint32_t c;
        if (*p < 0x80)
            c = *p++;
        else if (*p < 0xE0) {
            c = (uint32_t)(*p & 0x1F) << 6 | (p[1] & 0x3F);
            p += 2;
        } else if (*p < 0xF0) {
            c = (uint32_t)(*p & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
            p += 3;
        } else {
            c = (uint32_t)(*p & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 |
                (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
            p += 4;
        }
        if (c >= 0x10000) {
            UNIT(0xD800 + ((c - 0x10000) >> 10));
            UNIT(0xDC00 + ((c - 0x10000) & 0x3FF));
        } else {
            UNIT(c);
        }
    }
#undef UNIT
    return n;
}

static const char *ENV_HEAD =
    "<?xml version=\"1.0\" encoding=\"UTF-16\"?>"
    "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
    "xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" "
    "xmlns:e=\"http://schemas.xmlsoap.org/ws/2004/08/eventing\" "
    "xmlns:w=\"" W "\" xmlns:p=\"http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd\">"
    "<s:Header><a:To>http://wec.example.com:5985/wsman/subscriptions/SUB1</a:To>"
    "<a:Action "
    "s:mustUnderstand=\"true\">http://schemas.dmtf.org/wbem/wsman/1/wsman/Events</a:Action>"
    "<a:MessageID>uuid:8C3B0B67-0C1E-4E3B-9E55-0123456789AB</a:MessageID>"
    "<w:AckRequested/></s:Header><s:Body><w:Events>";
static const char *ENV_TAIL = "</w:Events></s:Body></s:Envelope>";

const char *EV_4624 =
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
    "<Provider Name='Microsoft-Windows-Security-Auditing' "
    "Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/><EventID>4624</EventID><Version>2</Version>"
    "<Level>0</Level><Task>12544</Task><Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords>"
    "<TimeCreated SystemTime='2026-12-07T06:45:00.1234567Z'/><EventRecordID>987654</EventRecordID>"
    "<Correlation ActivityID='{4a5c1a8e-7b1e-0001-5a1b-5c4a1e7bd801}'/>"
    "<Execution ProcessID='724' ThreadID='6012'/><Channel>Security</Channel>"
    "<Computer>WS1.example.com</Computer><Security/></System><EventData>"
    "<Data Name='SubjectUserSid'>S-1-5-18</Data><Data Name='SubjectUserName'>WS1$</Data>"
    "<Data Name='SubjectDomainName'>EXAMPLE</Data><Data Name='SubjectLogonId'>0x3e7</Data>"
    "<Data Name='TargetUserSid'>S-1-5-21-1004336348-1177238915-682003330-1105</Data>"
    "<Data Name='TargetUserName'>alice</Data><Data Name='TargetDomainName'>EXAMPLE</Data>"
    "<Data Name='TargetLogonId'>0x5f3a21</Data><Data Name='LogonType'>2</Data>"
    "<Data Name='LogonProcessName'>User32 </Data><Data Name='AuthenticationPackageName'>"
    "Negotiate</Data><Data Name='WorkstationName'>WS1</Data>"
    "<Data Name='LogonGuid'>{00000000-0000-0000-0000-000000000000}</Data>"
    "<Data Name='ProcessName'>C:\\Windows\\System32\\svchost.exe</Data>"
    "<Data Name='IpAddress'>127.0.0.1</Data><Data Name='IpPort'>0</Data></EventData>"
    "<RenderingInfo Culture='en-US'><Message>An account was successfully logged on.</Message>"
    "<Level>Information</Level><Task>Logon</Task><Opcode>Info</Opcode><Channel>Security</Channel>"
    "<Provider>Microsoft Windows security auditing.</Provider><Keywords>"
    "<Keyword>Audit Success</Keyword></Keywords></RenderingInfo></Event>";

const char *EV_7036 =
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
    "<Provider Name='Service Control Manager' Guid='{555908d1-a6d7-4695-8e1e-26931d2012f4}' "
    "EventSourceName='Service Control Manager'/><EventID Qualifiers='16384'>7036</EventID>"
    "<Version>0</Version><Level>4</Level><Task>0</Task><Opcode>0</Opcode>"
    "<Keywords>0x8080000000000000</Keywords><TimeCreated "
    "SystemTime='2026-12-07T06:44:59.5000000Z'/>"
    "<EventRecordID>4242</EventRecordID><Correlation/><Execution ProcessID='680' ThreadID='7000'/>"
    "<Channel>System</Channel><Computer>ws2.example.com</Computer><Security/></System>"
    "<EventData><Data Name='param1'>Windows Update</Data><Data Name='param2'>running</Data>"
    "<Binary>770075006100750073007600630000000000</Binary></EventData></Event>";

/* A delivery envelope holding the given events as CDATA, UTF-8 (the
 * declaration says UTF-16, as Windows writes it before encoding). */
char *envelope_of(const char **evs, size_t n)
{
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    wsm__buf_puts(&b, ENV_HEAD);
    for (size_t i = 0; i < n; i++) {
        wsm__buf_puts(
            &b, "\n\t\t\t<w:Event Action=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/Event\">"
                "\n\t\t\t\t<![CDATA[");
        wsm__buf_puts(&b, evs[i]);
        wsm__buf_puts(&b, "]]>\n\t\t\t</w:Event>");
    }
    wsm__buf_puts(&b, ENV_TAIL);
    return b.data;
}

/* The envelope's declaration made to say UTF-8 (same length), so that it
 * parses without prepare. */
void as_utf8(char *u8)
{
    memcpy(strstr(u8, "\"UTF-16\""), "\"UTF-8\" ", 8);
}

/* prepare -> envelope parse -> events parse, as the delivery handler does */
void run_batch(const void *body, size_t len, struct batch *b, size_t *nfixed)
{
    struct wsm_buf clean;
    wsm__buf_init(&clean, 0);
    assert_int_equal(wsmd__events_prepare(body, len, &clean, 1 << 22, nfixed), WSM_OK);
    struct wsm_limits lim = {.max_size = 1 << 22};
    char msgid[128];
    assert_int_equal(
        wsm__envelope_parse(clean.data, clean.len, &lim, &b->env, msgid, sizeof(msgid)), WSM_OK);
    wsm__buf_free(&clean);
    assert_true(wsm__xml_is(b->env->payload, W, "Events"));
    wsm__arena_init(&b->arena);
    assert_int_equal(wsmd__events_parse(b->env->payload, &b->arena, 1000, &b->ev, &b->n), WSM_OK);
}

void batch_free(struct batch *b)
{
    wsm__arena_free(&b->arena);
    wsm__envelope_free(b->env);
}

void events_tests_done(void)
{
    wsm__envelope_thread_cleanup();
    wsmd__events_thread_cleanup();
    xmlCleanupParser();
}
