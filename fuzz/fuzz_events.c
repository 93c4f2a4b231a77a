/* Fuzz target: the collector's event handling. Each input is used twice:
 *  1. as a whole delivery body: prepare, envelope parse, events parse, JSON;
 *  2. as a batch: the pieces between lines "----" become w:Event CDATA
 *     sections of a Windows-like Events envelope, then as in 1; and, when
 *     that body is UTF-8, its UTF-16LE form must prepare to the same bytes.
 * Every JSON object must be valid (tests/unit/jsoncheck.h), and a malformed
 * event must carry no fields. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "../tests/unit/jsoncheck.h"
#include "envelope.h"
#include "events.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_BODY (1 << 20)

static void check_event(const struct wsmd_event *e)
{
    if (!e->xml || e->xml[e->xml_len] != '\0')
        abort();
    if (!e->well_formed &&
        (e->computer || e->channel || e->provider || e->time_created || e->level || e->task ||
         e->opcode || e->keywords || e->rendered_message || e->event_id != -1 ||
         e->record_id != -1 || e->qualifiers != -1))
        abort();
    /* the one rule every principal goes through */
    (void)wsmd__event_computer_matches(e->computer, e->xml);
}

static void run_body(const void *body, size_t len)
{
    struct wsm_buf clean;
    size_t nfixed = 0;
    wsm__buf_init(&clean, 0);
    if (wsmd__events_prepare(body, len, &clean, MAX_BODY, &nfixed) != WSM_OK) {
        wsm__buf_free(&clean);
        return;
    }
    if (!clean.data || clean.data[clean.len] != '\0')
        abort();
    struct wsm_limits lim = {.max_size = MAX_BODY, .max_depth = 32};
    struct wsm_envelope *env = NULL;
    if (wsm__envelope_parse(clean.data, clean.len, &lim, &env, NULL, 0) == WSM_OK) {
        struct wsm_arena a;
        wsm__arena_init(&a);
        struct wsmd_event *v = NULL;
        size_t n = 0;
        if (wsmd__events_parse(env->payload, &a, 64, &v, &n) == WSM_OK) {
            struct wsm_buf j;
            wsm__buf_init(&j, 0);
            struct wsmd_event_meta m = {"SUB", "WS1$@EXAMPLE.COM", "192.0.2.1",
                                        "2026-12-07T06:45:01.123Z"};
            for (size_t i = 0; i < n; i++) {
                check_event(&v[i]);
                wsm__buf_reset(&j);
                if (wsmd__event_json(&j, &v[i], &m) == WSM_OK && !json_valid(j.data, j.len))
                    abort();
            }
            wsm__buf_free(&j);
        }
        wsm__arena_free(&a);
        wsm__envelope_free(env);
    }
    wsm__buf_free(&clean);
}

/* UTF-8 -> UTF-16LE with a BOM; 0 when s is not UTF-8 (RFC 3629). */
static size_t utf16le(const unsigned char *s, size_t len, unsigned char *o)
{
    size_t n = 0, i = 0;
    o[n++] = 0xFF;
    o[n++] = 0xFE;
    while (i < len) {
        uint32_t c = s[i];
        size_t k = c < 0x80                ? 1
                   : c >= 0xC2 && c < 0xE0 ? 2
                   : c >= 0xE0 && c < 0xF0 ? 3
                   : c >= 0xF0 && c < 0xF5 ? 4
                                           : 0;
        if (!k || i + k > len)
            return 0;
        if (k > 1)
            c &= 0x3F >> (k - 1);
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            c = c << 6 | (s[i + j] & 0x3F);
        }
        if ((k == 3 && (c < 0x800 || (c >= 0xD800 && c < 0xE000))) ||
            (k == 4 && (c < 0x10000 || c > 0x10FFFF)))
            return 0;
        i += k;
        if (c >= 0x10000) {
            uint32_t hi = 0xD800 + ((c - 0x10000) >> 10), lo = 0xDC00 + ((c - 0x10000) & 0x3FF);
            o[n++] = (unsigned char)hi;
            o[n++] = (unsigned char)(hi >> 8);
            o[n++] = (unsigned char)lo;
            o[n++] = (unsigned char)(lo >> 8);
        } else {
            o[n++] = (unsigned char)c;
            o[n++] = (unsigned char)(c >> 8);
        }
    }
    return n;
}

static const char HEAD[] = "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
                           "xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" "
                           "xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><s:Header>"
                           "<a:Action>http://schemas.dmtf.org/wbem/wsman/1/wsman/Events</a:Action>"
                           "<a:MessageID>uuid:00000000-0000-0000-0000-000000000001</a:MessageID>"
                           "<w:AckRequested/></s:Header><s:Body><w:Events>";
static const char TAIL[] = "</w:Events></s:Body></s:Envelope>";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        xmlInitParser();
        ready = 1;
    }
    run_body(data, size);

    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    wsm__buf_add(&b, HEAD, sizeof(HEAD) - 1);
    const uint8_t *p = data, *end = data + size;
    while (p <= end) {
        const uint8_t *q = memmem(p, (size_t)(end - p), "\n----\n", 6);
        const uint8_t *e = q ? q : end;
        wsm__buf_puts(&b, "<w:Event Action=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/Event\">"
                          "<![CDATA[");
        wsm__buf_add(&b, p, (size_t)(e - p));
        wsm__buf_puts(&b, "]]></w:Event>");
        if (!q)
            break;
        p = q + 6;
    }
    wsm__buf_add(&b, TAIL, sizeof(TAIL) - 1);
    run_body(b.data, b.len);

    /* the same body in UTF-16LE prepares to the same bytes */
    unsigned char *u16 = malloc(b.len * 2 + 2);
    size_t n16 = u16 ? utf16le((const unsigned char *)b.data, b.len, u16) : 0;
    if (n16) {
        struct wsm_buf x, y;
        size_t fx = 0, fy = 0;
        wsm__buf_init(&x, 0);
        wsm__buf_init(&y, 0);
        enum wsm_err ex = wsmd__events_prepare(b.data, b.len, &x, MAX_BODY, &fx);
        enum wsm_err ey = wsmd__events_prepare(u16, n16, &y, MAX_BODY, &fy);
        if (ex != ey || (!ex && (x.len != y.len || memcmp(x.data, y.data, x.len) || fx != fy)))
            abort();
        wsm__buf_free(&x);
        wsm__buf_free(&y);
    }
    free(u16);
    wsm__buf_free(&b);
    return 0;
}
