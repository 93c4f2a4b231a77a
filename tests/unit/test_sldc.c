/* Unit tests for SLDC (src/lib/sldc.c): hand-assembled streams checked bit
 * by bit against the encoding rules of ECMA-321, refusals, the encoder's
 * exact bits, and the output bound. Whole bodies (the captures from
 * Windows sources, round trips of many shapes) are in test_sldc_bodies.c. */
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
        cmocka_unit_test(test_max_out),
        cmocka_unit_test(test_adversarial_tails),
        cmocka_unit_test(test_compress_appends),
        cmocka_unit_test(test_is_plain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
