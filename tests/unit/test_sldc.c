/* Unit tests for SLDC (src/lib/sldc.c): hand-assembled streams checked bit
 * by bit against the encoding rules of ECMA-321, real bodies captured from
 * Windows sources (sldc_vectors.h), refusals, the output bound, and round
 * trips of many shapes. */
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

/* ---- a stream assembled from bit strings ("0 01000001": spaces ignored) */

struct bits {
    unsigned char b[4096];
    size_t nbits;
};

static void add(struct bits *s, const char *spec)
{
    for (; *spec; spec++) {
        if (*spec == ' ')
            continue;
        assert_true(*spec == '0' || *spec == '1');
        assert_true(s->nbits < sizeof(s->b) * 8);
        if (*spec == '1')
            s->b[s->nbits / 8] |= (unsigned char)(0x80 >> (s->nbits % 8));
        s->nbits++;
    }
}

static void add_byte(struct bits *s, unsigned v, unsigned width)
{
    char tmp[40];
    for (unsigned i = 0; i < width; i++)
        tmp[i] = (char)('0' + ((v >> (width - 1 - i)) & 1));
    tmp[width] = '\0';
    add(s, tmp);
}

/* Zero bits up to a multiple of n bits. */
static void pad(struct bits *s, unsigned n)
{
    while (s->nbits % n)
        add(s, "0");
}

static size_t nbytes(const struct bits *s)
{
    return (s->nbits + 7) / 8;
}

#define RESET1 "1 1111 1111 0101"
#define RESET2 "1 1111 1111 0110"
#define SCHEME1 "1 1111 1111 0001"
#define SCHEME2 "1 1111 1111 0010"
#define FLUSH "1 1111 1111 0000"
#define FILE_MARK "1 1111 1111 0011"
#define EOR "1 1111 1111 0100"
#define END_MARKER "1 1111 1111 1111"

static void lit1(struct bits *s, unsigned char c)
{
    add(s, "0");
    add_byte(s, c, 8);
}

/* The Copy Pointer: a 1, the Match Count Field of ECMA-321 Table 1 (written
 * out here independently of the encoder), the 10-bit displacement. */
static void copy(struct bits *s, unsigned count, unsigned loc)
{
    add(s, "1");
    if (count <= 3) {
        add(s, "0");
        add_byte(s, count - 2, 1);
    } else if (count <= 7) {
        add(s, "10");
        add_byte(s, count - 4, 2);
    } else if (count <= 15) {
        add(s, "110");
        add_byte(s, count - 8, 3);
    } else if (count <= 31) {
        add(s, "1110");
        add_byte(s, count - 16, 4);
    } else {
        add(s, "1111");
        add_byte(s, count - 32, 8);
    }
    add_byte(s, loc, 10);
}

static enum wsm_err dec(const struct bits *s, struct wsm_buf *out)
{
    return wsm__sldc_decompress(s->b, nbytes(s), out, 1 << 20);
}

static void expect(const struct bits *s, const void *want, size_t n)
{
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    assert_int_equal(dec(s, &out), WSM_OK);
    assert_int_equal(out.len, n);
    assert_memory_equal(out.data, want, n);
    wsm__buf_free(&out);
}

static void refused(const struct bits *s)
{
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    assert_int_equal(dec(s, &out), WSM_ERR_ENCODING);
    assert_int_equal(out.len, 0);
    wsm__buf_free(&out);
}

/* ---- hand-assembled streams */

static void test_literals_and_copy(void **state)
{
    (void)state;
    struct bits s = {0};
    add(&s, RESET1);
    lit1(&s, 'A');
    lit1(&s, 'B');
    copy(&s, 4, 0); /* overlaps itself: ABAB from location 0 */
    add(&s, EOR);
    pad(&s, 32);
    expect(&s, "ABABAB", 6);
}

static void test_match_count_table(void **state)
{
    (void)state;
    /* Every form of the Match Count Field at both ends of its range. */
    static const unsigned counts[] = {2,  3,  4,  5,  7,   8,   9,   15, 16,
                                      17, 31, 32, 33, 100, 255, 270, 271};
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        struct bits s = {0};
        add(&s, RESET1);
        lit1(&s, 'x');
        lit1(&s, 'y');
        copy(&s, counts[i], 0);
        add(&s, EOR);
        pad(&s, 16);
        char want[300];
        want[0] = 'x';
        want[1] = 'y';
        for (unsigned k = 0; k < counts[i]; k++)
            want[2 + k] = want[k];
        expect(&s, want, 2 + counts[i]);
    }
}

static void test_count_field_bits(void **state)
{
    (void)state;
    /* The field for 271 is 1111 11101111; 1111 1111xxxx is a control
     * symbol, so nine ones after the literals end the record. */
    struct bits s = {0};
    add(&s, RESET1);
    lit1(&s, 'q');
    add(&s, "1 1111 11101111 0000000000");
    add(&s, EOR);
    pad(&s, 8);
    char want[272];
    memset(want, 'q', sizeof(want));
    expect(&s, want, sizeof(want));
}

static void test_scheme2(void **state)
{
    (void)state;
    struct bits s = {0};
    add(&s, RESET2);
    add_byte(&s, 'a', 8);
    add(&s, "1111 1111 0"); /* 0xFF and its 0 bit */
    add_byte(&s, 'b', 8);
    add(&s, SCHEME1); /* the history is shared between the schemes */
    copy(&s, 3, 0);
    add(&s, SCHEME2);
    add_byte(&s, 0xFE, 8);
    add(&s, EOR);
    pad(&s, 8);
    expect(&s,
           "a\xff"
           "ba\xff"
           "b\xfe",
           7);
}

static void test_scheme_switch_keeps_history(void **state)
{
    (void)state;
    struct bits s = {0};
    add(&s, RESET1);
    lit1(&s, 'A');
    lit1(&s, 'B');
    add(&s, SCHEME2);
    add(&s, SCHEME1);
    copy(&s, 2, 0);
    add(&s, EOR);
    pad(&s, 8);
    expect(&s, "ABAB", 4);
}

static void test_flush_and_file_mark_pad(void **state)
{
    (void)state;
    const char *marks[] = {FLUSH, FILE_MARK};
    for (int m = 0; m < 2; m++) {
        struct bits s = {0};
        add(&s, RESET1);
        lit1(&s, 'A');
        add(&s, marks[m]);
        /* 22 + 10 bits of pad: ones, so a decoder that did not skip them
         * to the 32-bit boundary would read a control symbol. */
        while (s.nbits % 32)
            add(&s, "1");
        lit1(&s, 'B');
        add(&s, FLUSH);
        pad(&s, 32);
        lit1(&s, 'C');
        add(&s, EOR);
        pad(&s, 8);
        expect(&s, "ABC", 3);
    }
}

static void test_reset_empties_history(void **state)
{
    (void)state;
    struct bits s = {0};
    add(&s, RESET1);
    lit1(&s, 'A');
    lit1(&s, 'B');
    add(&s, RESET1);
    lit1(&s, 'C'); /* location 0 again */
    copy(&s, 3, 0);
    add(&s, EOR);
    pad(&s, 8);
    expect(&s, "ABCCCC", 6);

    struct bits t = {0};
    add(&t, RESET1);
    lit1(&t, 'A');
    lit1(&t, 'B');
    add(&t, RESET2);
    add(&t, SCHEME1);
    copy(&t, 2, 0); /* nothing written since the Reset */
    add(&t, EOR);
    pad(&t, 8);
    refused(&t);
}

static void test_history_wraps(void **state)
{
    (void)state;
    /* 1030 bytes: locations 0..5 hold bytes 1024..1029 now. */
    struct bits s = {0};
    char want[1040];
    add(&s, RESET2);
    for (int i = 0; i < 1030; i++) {
        want[i] = (char)('a' + i % 23);
        add_byte(&s, (unsigned char)want[i], 8);
    }
    add(&s, SCHEME1);
    copy(&s, 2, 0);  /* bytes 1024, 1025 */
    copy(&s, 2, 10); /* bytes 10, 11: still there */
    add(&s, EOR);
    pad(&s, 8);
    want[1030] = want[1024];
    want[1031] = want[1025];
    want[1032] = want[10];
    want[1033] = want[11];
    expect(&s, want, 1034);

    /* With exactly 1024 bytes, location 0 is both the oldest byte and the
     * next one written: it holds byte 0. */
    struct bits t = {0};
    add(&t, RESET2);
    for (int i = 0; i < 1024; i++)
        add_byte(&t, (unsigned char)want[i], 8);
    add(&t, SCHEME1);
    copy(&t, 3, 0);
    add(&t, EOR);
    pad(&t, 8);
    memcpy(want + 1024, want, 3);
    expect(&t, want, 1027);
}

static void test_end_marker(void **state)
{
    (void)state;
    struct bits s = {0};
    add(&s, RESET1);
    lit1(&s, 'Z');
    add(&s, END_MARKER);
    while (s.nbits % 32)
        add(&s, "1");
    expect(&s, "Z", 1);

    struct bits e = {0};
    add(&e, END_MARKER);
    pad(&e, 32);
    expect(&e, "", 0);

    /* Data after the End Marker's word is not pad. */
    add(&s, "0101 0101");
    refused(&s);
}

static void test_refusals(void **state)
{
    (void)state;
    for (unsigned code = 7; code <= 14; code++) { /* reserved */
        struct bits s = {0};
        add(&s, RESET1);
        add(&s, "1 1111 1111");
        add_byte(&s, code, 4);
        add(&s, EOR);
        pad(&s, 8);
        refused(&s);
    }
    struct bits s = {0}; /* data before any Reset or Scheme symbol */
    lit1(&s, 'A');
    add(&s, EOR);
    pad(&s, 8);
    refused(&s);

    struct bits t = {0}; /* a location never written */
    add(&t, RESET1);
    lit1(&t, 'A');
    copy(&t, 2, 1);
    add(&t, EOR);
    pad(&t, 8);
    refused(&t);

    struct bits u = {0}; /* no End of Record */
    add(&u, RESET1);
    lit1(&u, 'A');
    pad(&u, 32);
    refused(&u);

    struct bits v = {0}; /* a Flush is not the end of a record */
    add(&v, RESET1);
    lit1(&v, 'A');
    add(&v, FLUSH);
    pad(&v, 32);
    refused(&v);

    struct bits w = {0}; /* 0xFF in scheme 2 without its 0 bit: truncated */
    add(&w, RESET2);
    add(&w, "1111 1111");
    refused(&w);

    struct bits empty = {0};
    refused(&empty);
}

static void test_trailer(void **state)
{
    (void)state;
    struct bits s = {0};
    add(&s, RESET1);
    lit1(&s, 'H');
    lit1(&s, 'i');
    add(&s, EOR);
    pad(&s, 16);
    size_t n = nbytes(&s);
    expect(&s, "Hi", 2);
    memcpy(s.b + n, "\x02\x00\x00\x00", 4); /* Windows: the length */
    s.nbits += 32;
    expect(&s, "Hi", 2);
    s.b[n] = 3; /* a length that disagrees */
    refused(&s);
    s.b[n] = 2;
    s.b[n - 1] |= 1; /* pad that is not zero, then the length */
    refused(&s);
    s.b[n - 1] &= 0xFE;
    memcpy(s.b + n, "\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00", 10);
    s.nbits += 48; /* more zero pad before the length */
    expect(&s, "Hi", 2);

    /* A second record after End of Record is decoded too. */
    struct bits r = {0};
    add(&r, RESET1);
    lit1(&r, 'A');
    add(&r, EOR);
    lit1(&r, 'B');
    add(&r, EOR);
    pad(&r, 8);
    expect(&r, "AB", 2);
}

/* ---- the encoder, bit by bit */

static void test_encoder_bits(void **state)
{
    (void)state;
    struct wsm_buf z;
    wsm__buf_init(&z, 0);
    assert_int_equal(wsm__sldc_compress((const unsigned char *)"ABABAB", 6, &z), WSM_OK);
    struct bits s = {0};
    add(&s, RESET1);
    lit1(&s, 'A');
    lit1(&s, 'B');
    copy(&s, 4, 0);
    add(&s, EOR);
    pad(&s, 16);
    add(&s, "00000110 00000000 00000000 00000000");
    assert_int_equal(z.len, nbytes(&s));
    assert_memory_equal(z.data, s.b, z.len);

    /* Nothing to compress: Reset 1, End of Record, pad, length 0. */
    wsm__buf_reset(&z);
    assert_int_equal(wsm__sldc_compress(NULL, 0, &z), WSM_OK);
    assert_int_equal(z.len, 8);
    assert_memory_equal(z.data, "\xff\xaf\xfd\x00\x00\x00\x00\x00", 8);
    wsm__buf_free(&z);
}

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

/* ---- the output bound, appending */

static void test_max_out(void **state)
{
    (void)state;
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    assert_int_equal(wsm__buf_add(&out, "keep", 4), WSM_OK);
    assert_int_equal(wsm__sldc_decompress(openwec_heartbeat, sizeof(openwec_heartbeat), &out, 3041),
                     WSM_ERR_QUOTA);
    assert_int_equal(out.len, 4);
    assert_string_equal(out.data, "keep");
    assert_int_equal(wsm__sldc_decompress(openwec_heartbeat, sizeof(openwec_heartbeat), &out, 3042),
                     WSM_OK);
    assert_int_equal(out.len, 3046);
    assert_memory_equal(out.data, "keep\xff\xfe<", 7);
    assert_int_equal(out.data[out.len], '\0');

    /* A bomb: 271 bytes out per 23 bits in stops at the bound, in time. */
    struct bits s = {0};
    add(&s, RESET1);
    lit1(&s, 0);
    while (s.nbits < 4000 * 8)
        copy(&s, 271, 0);
    add(&s, EOR);
    pad(&s, 8);
    wsm__buf_reset(&out);
    assert_int_equal(wsm__sldc_decompress(s.b, nbytes(&s), &out, 100000), WSM_ERR_QUOTA);
    assert_int_equal(out.len, 0);

    /* The buffer's own cap is a bound too. */
    struct wsm_buf small;
    wsm__buf_init(&small, 1000);
    assert_int_equal(
        wsm__sldc_decompress(openwec_heartbeat, sizeof(openwec_heartbeat), &small, 1 << 20),
        WSM_ERR_QUOTA);
    wsm__buf_free(&small);
    wsm__buf_free(&out);
}

static void test_adversarial_tails(void **state)
{
    (void)state;
    /* After End of Record, a long zero run that ends in a byte which is
     * not a trailer: the zeros are then data (literal 0s) and the stream
     * must still end with End of Record. Each byte is looked at a bounded
     * number of times; a rescan per symbol would take minutes here. */
    size_t n = 4 << 20;
    unsigned char *in = calloc(1, n);
    assert_non_null(in);
    memcpy(in, "\xff\xaf\xfd", 3); /* Reset 1, End of Record */
    in[n - 1] = 0x01;
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    assert_int_equal(wsm__sldc_decompress(in, n, &out, n * 2), WSM_ERR_ENCODING);
    assert_int_equal(out.len, 0);
    /* End of Record, then Flush after Flush: each skips to the next 32-bit
     * word, each time the rest is looked at as a possible trailer. */
    struct bits head = {0};
    add(&head, RESET1);
    add(&head, EOR);
    add(&head, FLUSH);
    pad(&head, 32);
    memset(in, 0, n);
    memcpy(in, head.b, nbytes(&head));
    for (size_t k = nbytes(&head); k + 4 <= n; k += 4)
        memcpy(in + k, "\xff\x80\x00\x00", 4); /* Flush, pad */
    assert_int_equal(wsm__sldc_decompress(in, n, &out, n * 2), WSM_OK);
    assert_int_equal(out.len, 0);
    free(in);
    wsm__buf_free(&out);
}

static void test_compress_appends(void **state)
{
    (void)state;
    struct wsm_buf z, back;
    wsm__buf_init(&z, 0);
    wsm__buf_init(&back, 0);
    assert_int_equal(wsm__buf_add(&z, "head", 4), WSM_OK);
    static const char text[] = "<Event><EventID>4624</EventID><EventID>4625</EventID></Event>";
    assert_int_equal(wsm__sldc_compress((const unsigned char *)text, sizeof(text) - 1, &z), WSM_OK);
    assert_memory_equal(z.data, "head", 4);
    assert_int_equal(z.data[z.len], '\0');
    assert_int_equal(wsm__sldc_decompress((unsigned char *)z.data + 4, z.len - 4, &back, 100),
                     WSM_OK);
    assert_string_equal(back.data, text);
    /* A buffer whose cap cannot hold the worst case is refused, untouched. */
    struct wsm_buf small;
    wsm__buf_init(&small, 16);
    assert_int_equal(wsm__sldc_compress((const unsigned char *)text, sizeof(text) - 1, &small),
                     WSM_ERR_QUOTA);
    assert_int_equal(small.len, 0);
    wsm__buf_free(&small);
    wsm__buf_free(&z);
    wsm__buf_free(&back);
}

static void test_is_plain(void **state)
{
    (void)state;
    assert_true(wsm__sldc_is_plain((const unsigned char *)"", 0));
    assert_true(wsm__sldc_is_plain((const unsigned char *)"\xff\xfe<\0", 4));
    assert_true(wsm__sldc_is_plain((const unsigned char *)"\xfe\xff\0<", 4));
    assert_true(wsm__sldc_is_plain((const unsigned char *)"\xef\xbb\xbf<", 4));
    assert_true(wsm__sldc_is_plain((const unsigned char *)"<s:Envelope", 11));
    assert_false(wsm__sldc_is_plain(openwec_heartbeat, sizeof(openwec_heartbeat)));
    assert_false(wsm__sldc_is_plain(wef_go_events, sizeof(wef_go_events)));
    /* And a plain UTF-16 body is indeed refused by the decoder. */
    struct wsm_buf out;
    wsm__buf_init(&out, 0);
    assert_int_equal(
        wsm__sldc_decompress((const unsigned char *)"\xff\xfe<\0s\0:\0E\0", 10, &out, 100),
        WSM_ERR_ENCODING);
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
        cmocka_unit_test(test_literals_and_copy),
        cmocka_unit_test(test_match_count_table),
        cmocka_unit_test(test_count_field_bits),
        cmocka_unit_test(test_scheme2),
        cmocka_unit_test(test_scheme_switch_keeps_history),
        cmocka_unit_test(test_flush_and_file_mark_pad),
        cmocka_unit_test(test_reset_empties_history),
        cmocka_unit_test(test_history_wraps),
        cmocka_unit_test(test_end_marker),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_trailer),
        cmocka_unit_test(test_encoder_bits),
        cmocka_unit_test(test_windows_captures),
        cmocka_unit_test(test_capture_truncated_and_corrupt),
        cmocka_unit_test(test_other_encoder),
        cmocka_unit_test(test_max_out),
        cmocka_unit_test(test_adversarial_tails),
        cmocka_unit_test(test_compress_appends),
        cmocka_unit_test(test_is_plain),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_match_finder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
