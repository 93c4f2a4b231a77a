/* The collector's per-byte and per-event costs, on one core:
 *   events_prepare over a 64-event batch, UTF-8 and UTF-16LE (MB/s of input),
 *   events_parse of the same batch (events/s),
 *   event_json of each event (events/s).
 * Times are the thread's CPU time, so a busy machine slows the run but not
 * the figures much. Usage: [RAW=1] build/events_bench [seconds-per-figure [figure]] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>

#include "envelope.h"
#include "events.h"

/* A typical Security 4624 (about 1.5 KB as Windows writes it, RenderedText). */
static const char *EV =
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
    "<Provider Name='Microsoft-Windows-Security-Auditing' "
    "Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/><EventID>4624</EventID><Version>2</Version>"
    "<Level>0</Level><Task>12544</Task><Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords>"
    "<TimeCreated SystemTime='2026-12-07T06:45:00.1234567Z'/><EventRecordID>%d</EventRecordID>"
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

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t utf16le(const char *s, unsigned char *o)
{
    size_t n = 0; /* ASCII-only input here */
    o[n++] = 0xFF;
    o[n++] = 0xFE;
    for (; *s; s++) {
        o[n++] = (unsigned char)*s;
        o[n++] = 0;
    }
    return n;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    /* a second argument runs one figure only (for perf): prepare8, prepare16, parse, json */
    const char *only = argc > 2 ? argv[2] : NULL;
#define RUN(name) (!only || strcmp(only, name) == 0)
    /* RAW=1: events as ContentFormat "Events" sends them (no RenderingInfo) */
    int raw = getenv("RAW") && *getenv("RAW") == '1';
    size_t evlen = 0;
    enum { N = 64 };
    xmlInitParser();
    struct wsm_buf body;
    wsm__buf_init(&body, 0);
    wsm__buf_puts(&body, "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
                         "xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" "
                         "xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><s:Header>"
                         "<a:Action>http://schemas.dmtf.org/wbem/wsman/1/wsman/Events</a:Action>"
                         "<a:MessageID>uuid:1</a:MessageID></s:Header><s:Body><w:Events>");
    for (int i = 0; i < N; i++) {
        wsm__buf_puts(&body, "<w:Event Action=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/Event\">"
                             "<![CDATA[");
        char ev[4096];
        snprintf(ev, sizeof(ev), EV, 1000 + i);
        char *ri = strstr(ev, "<RenderingInfo");
        if (raw && ri) /* ContentFormat Events: no RenderingInfo */
            strcpy(ri, "</Event>");
        evlen = strlen(ev);
        wsm__buf_puts(&body, ev);
        wsm__buf_puts(&body, "]]></w:Event>");
    }
    wsm__buf_puts(&body, "</w:Events></s:Body></s:Envelope>");
    unsigned char *u16 = malloc(body.len * 2 + 2);
    size_t n16 = utf16le(body.data, u16);

    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    size_t nf, bytes = 0;
    double t0 = cpu_s(), t;
    while (RUN("prepare8") && (t = cpu_s() - t0) < secs)
        for (int i = 0; i < 50; i++) {
            wsm__buf_reset(&out);
            if (wsmd__events_prepare(body.data, body.len, &out, 1 << 24, &nf))
                return 1;
            bytes += body.len;
        }
    if (RUN("prepare8"))
        printf("prepare UTF-8:    %8.0f MB/s  (%zu-byte body, 0 fixes)\n", (double)bytes / t / 1e6,
               body.len);
    bytes = 0;
    t0 = cpu_s();
    while (RUN("prepare16") && (t = cpu_s() - t0) < secs)
        for (int i = 0; i < 50; i++) {
            wsm__buf_reset(&out);
            if (wsmd__events_prepare(u16, n16, &out, 1 << 24, &nf))
                return 1;
            bytes += n16;
        }
    if (RUN("prepare16"))
        printf("prepare UTF-16LE: %8.0f MB/s  of input (%zu bytes)\n", (double)bytes / t / 1e6,
               n16);

    wsm__buf_reset(&out);
    wsmd__events_prepare(body.data, body.len, &out, 1 << 24, &nf);
    struct wsm_envelope *env;
    struct wsm_limits lim = {.max_size = 1 << 24};
    if (wsm__envelope_parse(out.data, out.len, &lim, &env, NULL, 0))
        return 1;
    size_t events = 0;
    t0 = cpu_s();
    while (RUN("parse") && (t = cpu_s() - t0) < secs) {
        struct wsm_arena a;
        wsm__arena_init(&a);
        struct wsmd_event *v;
        size_t n;
        if (wsmd__events_parse(env->payload, &a, N, &v, &n) || n != N || !v[N - 1].well_formed)
            return 1;
        events += n;
        wsm__arena_free(&a);
    }
    if (RUN("parse"))
        printf("events_parse:     %8.0f events/s (%zu-byte events)\n", (double)events / t, evlen);

    struct wsm_arena a;
    wsm__arena_init(&a);
    struct wsmd_event *v;
    size_t n;
    if (wsmd__events_parse(env->payload, &a, N, &v, &n))
        return 1;
    struct wsmd_event_meta m = {"SUB", "WS1$@EXAMPLE.COM", "192.0.2.1", "2026-12-07T06:45:01.123Z"};
    events = 0;
    t0 = cpu_s();
    while (RUN("json") && (t = cpu_s() - t0) < secs) {
        for (size_t i = 0; i < n; i++) {
            wsm__buf_reset(&out);
            if (wsmd__event_json(&out, &v[i], &m))
                return 1;
        }
        events += n;
    }
    if (RUN("json"))
        printf("event_json:       %8.0f events/s\n", (double)events / t);

    /* the envelope parse itself, for scale */
    wsm__buf_reset(&out);
    wsmd__events_prepare(body.data, body.len, &out, 1 << 24, &nf);
    events = 0;
    t0 = cpu_s();
    while (RUN("envelope") && (t = cpu_s() - t0) < secs) {
        struct wsm_envelope *e2;
        if (wsm__envelope_parse(out.data, out.len, &lim, &e2, NULL, 0))
            return 1;
        wsm__envelope_free(e2);
        events += N;
    }
    if (RUN("envelope"))
        printf("envelope_parse:   %8.0f events/s (whole %d-event batch)\n", (double)events / t, N);
    wsm__arena_free(&a);
    wsm__envelope_free(env);
    wsm__buf_free(&out);
    wsm__buf_free(&body);
    free(u16);
    wsm__envelope_thread_cleanup();
    wsmd__events_thread_cleanup();
    xmlCleanupParser();
    return 0;
}
