/* Unit tests for SLDC (src/lib/sldc.c, sldc_enc.c), whole bodies: real
 * bodies captured from Windows sources (sldc_vectors.h) with their
 * prefixes and one-bit corruptions, another encoder's output, and round
 * trips through our encoder of many shapes, the match finder's hard cases
 * among them. Apart from test_sldc.c (streams assembled bit by bit, the
 * output bound) so that each test file stays a readable size. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sldc.h"
#include "sldc_vectors.h"

/* ---- captured bodies */

static void check_capture(const unsigned char *in, size_t n, size_t want_len,
                          const char *ascii_in_it)
{
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    assert_int_equal(wsm__sldc_decompress(in, n, &out, 1 << 20), WSM_OK);
    assert_int_equal(out.len, want_len);
    const unsigned char *p = (const unsigned char *)out.data;
    assert_true(p[0] == 0xFF && p[1] == 0xFE); /* UTF-16LE BOM */
    /* ASCII of the UTF-16LE text, to look for markers. */
    char *a = malloc(out.len / 2 + 1);
    assert_non_null(a);
    for (size_t i = 1; i < out.len / 2; i++) {
        assert_int_equal(p[2 * i + 1], 0);
        a[i - 1] = (char)p[2 * i];
    }
    a[out.len / 2 - 1] = '\0';
    assert_true(strncmp(a, "<s:Envelope ", 12) == 0);
    assert_non_null(strstr(a, "</s:Envelope>"));
    assert_non_null(strstr(a, ascii_in_it));
    free(a);

    /* Our encoder's output of the same text decodes back to it. */
    struct wsm_buf z, back;
    wsm__buf_init(&z, 0);
    wsm__buf_init(&back, 0);
    assert_int_equal(wsm__sldc_compress(p, out.len, &z), WSM_OK);
    assert_true(z.len < out.len / 2);
    assert_int_equal(wsm__sldc_decompress((unsigned char *)z.data, z.len, &back, out.len), WSM_OK);
    assert_int_equal(back.len, out.len);
    assert_memory_equal(back.data, out.data, out.len);
    wsm__buf_free(&z);
    wsm__buf_free(&back);
    wsm__buf_free(&out);
}

static void test_windows_captures(void **state)
{
    (void)state;
    check_capture(openwec_heartbeat, sizeof(openwec_heartbeat), 3042,
                  "<a:MessageID>uuid:EEC04F74-A27D-4C3A-AEF5-BC5BF54359BA</a:MessageID>");
    check_capture(wef_go_events, sizeof(wef_go_events), 3018, "wsman/Heartbeat</a:Action>");
    /* Windows sends no other encoder's framing: without its length, the
     * body is still a complete stream. */
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    assert_int_equal(
        wsm__sldc_decompress(openwec_heartbeat, sizeof(openwec_heartbeat) - 4, &out, 1 << 20),
        WSM_OK);
    assert_int_equal(out.len, 3042);
    wsm__buf_free(&out);
}

static void test_capture_truncated_and_corrupt(void **state)
{
    (void)state;
    const size_t n = sizeof(openwec_heartbeat);
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    /* Every prefix that ends before the End of Record is refused. */
    for (size_t k = 0; k < n - 6; k++) {
        assert_int_equal(wsm__sldc_decompress(openwec_heartbeat, k, &out, 1 << 20),
                         WSM_ERR_ENCODING);
        assert_int_equal(out.len, 0);
    }
    /* A prefix cutting the length in two is not a trailer either. */
    assert_int_equal(wsm__sldc_decompress(openwec_heartbeat, n - 2, &out, 1 << 20),
                     WSM_ERR_ENCODING);
    /* One changed bit: mostly refused (it no longer parses, or the length
     * no longer matches); otherwise another text (SLDC has no checksum: a
     * changed literal is for the XML parser to see) or even the same one
     * (Reset 1 -> Scheme 1 at the start; a displacement moved to an equal
     * string). Refused leaves out as it was. */
    struct wsm_buf orig;
    wsm__buf_init(&orig, 0);
    assert_int_equal(wsm__sldc_decompress(openwec_heartbeat, n, &orig, 1 << 20), WSM_OK);
    unsigned char *c = malloc(n);
    assert_non_null(c);
    size_t nrefused = 0;
    for (size_t bit = 0; bit < n * 8; bit += 3) {
        memcpy(c, openwec_heartbeat, n);
        c[bit / 8] ^= (unsigned char)(0x80 >> (bit % 8));
        enum wsm_err e = wsm__sldc_decompress(c, n, &out, 1 << 20);
        if (e) {
            assert_int_equal(e, WSM_ERR_ENCODING);
            assert_int_equal(out.len, 0);
            nrefused++;
        } else {
            wsm__buf_reset(&out);
        }
    }
    assert_true(nrefused > n * 8 / 3 / 5); /* 763 of 2683 when written */
    free(c);
    wsm__buf_free(&orig);
    wsm__buf_free(&out);
}

static void test_other_encoder(void **state)
{
    (void)state;
    /* rom1sqr/sldc's encoder (its Makefile test and openwec's
     * decompress_test_string): Reset 2, scheme 2 bytes, End of Record, zero
     * pad to 32 bits, no length. */
    static const unsigned char v[] = {0xff, 0xb3, 0xa3, 0x2b, 0x9b, 0xa1, 0x03, 0x9b,
                                      0xa3, 0x93, 0x4b, 0x73, 0x3f, 0xfd, 0x00, 0x00};
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    assert_int_equal(wsm__sldc_decompress(v, sizeof(v), &out, 100), WSM_OK);
    assert_int_equal(out.len, 11);
    assert_memory_equal(out.data, "test string", 11);
    wsm__buf_free(&out);
}

/* ---- round trips */

static uint32_t rng = 12345;
static unsigned rnd(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

static size_t round_trip(const unsigned char *in, size_t n)
{
    struct wsm_buf z, back;
    wsm__buf_init(&z, 0);
    wsm__buf_init(&back, 0);
    assert_int_equal(wsm__sldc_compress(in, n, &z), WSM_OK);
    assert_true(z.len <= n + n / 8 + 32);
    assert_int_equal(wsm__sldc_decompress((unsigned char *)z.data, z.len, &back, n), WSM_OK);
    assert_int_equal(back.len, n);
    if (n)
        assert_memory_equal(back.data, in, n);
    if (n) /* one byte less room: refused */
        assert_int_equal(wsm__sldc_decompress((unsigned char *)z.data, z.len, &back, n - 1),
                         WSM_ERR_QUOTA);
    size_t zl = z.len;
    wsm__buf_free(&z);
    wsm__buf_free(&back);
    return zl;
}

/* The match finder (docs/internals/sldc.md, "The match finder"): it keeps
 * positions as 16 bits and trusts only candidates whose bytes compare
 * equal, so inputs past 64 KiB whose repeats sit at distances that alias
 * (65536 + d) must still round-trip; and UTF-16 text, its main input, must
 * keep its ratio. */
static void utf16(unsigned char *dst, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dst[2 * i] = (unsigned char)s[i];
        dst[2 * i + 1] = 0;
    }
}

static void test_match_finder(void **state)
{
    (void)state;
    static unsigned char buf[300000];
    /* A block repeated exactly 65536 bytes on (and 65536 +- a few): the
     * 16-bit positions of the earlier copy look 0..4 bytes back. */
    for (size_t shift = 0; shift < 6; shift++) {
        for (size_t i = 0; i < sizeof(buf); i++)
            buf[i] = (unsigned char)rnd();
        memcpy(buf + 65536 + shift, buf, 4000);
        memcpy(buf + 131072 - shift, buf + 1000, 3000);
        round_trip(buf, 140000);
    }
    /* Long runs of one byte and of a 2-byte unit (UTF-16 "AAAA"), then
     * a period of every length 1..40, each past the history size. */
    memset(buf, 0, 70000);
    assert_true(round_trip(buf, 70000) < 70000 / 60); /* 271-byte copies: 23 bits each */
    for (size_t i = 0; i < 70000; i += 2)
        buf[i] = 'A', buf[i + 1] = 0;
    assert_true(round_trip(buf, 70000) < 70000 / 60); /* 271-byte copies: 23 bits each */
    for (unsigned period = 1; period <= 40; period++) {
        for (size_t i = 0; i < period; i++)
            buf[i] = (unsigned char)rnd();
        for (size_t i = period; i < 5000; i++)
            buf[i] = buf[i - period];
        assert_true(round_trip(buf, 5000) < 400);
    }
    /* Many small random inputs over a small alphabet (matches of every
     * length, overlapping copies, the ends of the input). */
    for (unsigned k = 0; k < 3000; k++) {
        size_t n = rnd() % 600;
        unsigned alpha = 1 + rnd() % 4;
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)(rnd() % alpha);
        round_trip(buf, n);
    }
    /* UTF-16LE event XML, 200 KB: structured like what the forwarder sends
     * (templates with varying numbers, names and times). Windows' own
     * encoder gets 1006/3042 = 0.33 on a heartbeat. */
    static const char *users[] = {"alice", "bob", "carol", "svc_backup", "Administrator"};
    char ev[1024];
    size_t n = 0;
    unsigned rid = 1000;
    while (n < 200000) {
        int l = snprintf(ev, sizeof(ev),
                         "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>"
                         "<System><Provider Name='Microsoft-Windows-Security-Auditing'/>"
                         "<EventID>%u</EventID><Level>0</Level><TimeCreated SystemTime="
                         "'2026-12-07T06:%02u:%02u.%07uZ'/><EventRecordID>%u</EventRecordID>"
                         "<Computer>ws1.example.com</Computer></System><EventData>"
                         "<Data Name='TargetUserName'>%s</Data><Data Name='IpAddress'>"
                         "10.%u.%u.%u</Data></EventData></Event>",
                         4624 + rnd() % 3, rnd() % 60, rnd() % 60, rnd() % 10000000, rid++,
                         users[rnd() % 5], rnd() % 256, rnd() % 256, rnd() % 256);
        if (n + 2 * (size_t)l > sizeof(buf))
            break;
        utf16(buf + n, ev, (size_t)l);
        n += 2 * (size_t)l;
    }
    size_t z = round_trip(buf, n);
    assert_true(z < n / 4);
}

static void test_round_trips(void **state)
{
    (void)state;
    static unsigned char buf[200000];
    round_trip(buf, 0);
    for (unsigned c = 0; c < 256; c++) {
        buf[0] = (unsigned char)c;
        round_trip(buf, 1);
        buf[1] = (unsigned char)c;
        round_trip(buf, 2);
    }
    /* Runs: one long copy pointer after another. */
    memset(buf, 'a', 5000);
    assert_true(round_trip(buf, 5000) < 200);
    memset(buf, 0xFF, 3000);
    round_trip(buf, 3000);
    /* Random: incompressible, goes to scheme 2 (8 bits a byte, 9 for 0xFF). */
    for (size_t i = 0; i < 100000; i++)
        buf[i] = (unsigned char)rnd();
    size_t zr = round_trip(buf, 100000);
    assert_true(zr < 100000 + 100000 / 64);
    /* All 0xFF bytes but scattered: the 0xFF escape of scheme 2. */
    for (size_t i = 0; i < 20000; i++)
        buf[i] = (rnd() & 3) ? 0xFF : (unsigned char)rnd();
    round_trip(buf, 20000);
    /* Text longer than the history buffer, many times over. */
    static const char *words[] = {"<Event ",
                                  "xmlns=",
                                  "\"http://schemas.microsoft.com/",
                                  "win/2004/08/events/event\"",
                                  "><System>",
                                  "<Provider ",
                                  "Name=",
                                  "'Microsoft-Windows-Security-Auditing' ",
                                  "EventID>4624</EventID>",
                                  "Computer>ws1.example.com<",
                                  "\r\n",
                                  " ",
                                  "TimeCreated SystemTime='2026-12-07T06:45:01Z'"};
    size_t n = 0;
    while (n < 150000) {
        const char *w = words[rnd() % 13];
        size_t l = strlen(w);
        memcpy(buf + n, w, l);
        n += l;
        if (rnd() % 5 == 0)
            buf[n++] = (unsigned char)('0' + rnd() % 10);
    }
    size_t zt = round_trip(buf, n);
    assert_true(zt < n / 3);
    /* A repeated segment of every length around the count field's bounds. */
    for (unsigned l = 1; l <= 290; l++) {
        size_t k = 0;
        for (unsigned i = 0; i < l; i++)
            buf[k++] = (unsigned char)rnd();
        buf[k++] = '|';
        memcpy(buf + k, buf, l);
        k += l;
        buf[k++] = '#';
        memcpy(buf + k, buf, l);
        k += l;
        round_trip(buf, k);
    }
    /* Repeats at distances around the history size. */
    for (size_t dist = 1018; dist <= 1030; dist++) {
        for (size_t i = 0; i < dist; i++)
            buf[i] = (unsigned char)rnd();
        memcpy(buf + dist, buf, 300);
        round_trip(buf, dist + 300);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_windows_captures),
        cmocka_unit_test(test_capture_truncated_and_corrupt),
        cmocka_unit_test(test_other_encoder),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_match_finder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
