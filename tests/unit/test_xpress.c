/* Unit tests for Xpress LZ77+Huffman and the shell stream framing
 * (src/lib/xpress.c): the two LZ77+Huffman examples of [MS-XCA] 3.2, the
 * framing of MS-WSMV's product note (stored blocks under 266 bytes, the
 * Windows trace of a stored 30-byte block), refusals of malformed input,
 * the output bound, and round trips of many shapes and sizes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xpress.h"

/* [MS-XCA] 3.2: "abcdefghijklmnopqrstuvwxyz" as literals. The table gives
 * 'a'..'v' 5 bits, 'w'..'z' and EOF 4 bits. */
static void alpha_vector(unsigned char v[276])
{
    static const unsigned char tbl[] = {0x50, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55,
                                        0x55, 0x55, 0x55, 0x55, 0x45, 0x44, 0x04};
    static const unsigned char tail[] = {0xd8, 0x52, 0x3e, 0xd7, 0x94, 0x11, 0x5b,
                                         0xe9, 0x19, 0x5f, 0xf9, 0xd6, 0x7c, 0xdf,
                                         0x8d, 0x04, 0x00, 0x00, 0x00, 0x00};
    memset(v, 0, 276);
    memcpy(v + 48, tbl, sizeof(tbl));
    v[128] = 0x04;
    memcpy(v + 256, tail, sizeof(tail));
}

/* [MS-XCA] 3.2: 300 bytes of "abc" repeated = abc[match 3, 297][EOF]. */
static void abc_vector(unsigned char v[263])
{
    static const unsigned char tail[] = {0xa8, 0xdc, 0x00, 0x00, 0xff, 0x26, 0x01};
    memset(v, 0, 263);
    v[48] = 0x30;
    v[49] = 0x23;
    v[128] = 0x02;
    v[143] = 0x20;
    memcpy(v + 256, tail, sizeof(tail));
}

static void test_spec_alpha(void **state)
{
    (void)state;
    unsigned char v[276], out[26];
    alpha_vector(v);
    assert_int_equal(wsm__xpress_huff_decompress(v, sizeof(v), out, 26), WSM_OK);
    assert_memory_equal(out, "abcdefghijklmnopqrstuvwxyz", 26);
}

static void test_spec_abc(void **state)
{
    (void)state;
    unsigned char v[263], out[300];
    abc_vector(v);
    assert_int_equal(wsm__xpress_huff_decompress(v, sizeof(v), out, 300), WSM_OK);
    for (int i = 0; i < 300; i++)
        assert_int_equal(out[i], "abc"[i % 3]);
    /* Asked for more than the block holds: the match runs past... no,
     * the data ends; asked for less: the match would pass out_len. */
    assert_int_equal(wsm__xpress_huff_decompress(v, sizeof(v), out, 299), WSM_ERR_ENCODING);
}

/* Our encoder's output of the same inputs decodes back, and is as small
 * as the specification's (same symbols, lengths may be assigned in
 * another order). */
static void test_encoder_sizes(void **state)
{
    (void)state;
    unsigned char in[300], back[300];
    for (int i = 0; i < 300; i++)
        in[i] = (unsigned char)"abc"[i % 3];
    struct wsm_buf z;
    wsm__buf_init(&z, 0);
    assert_int_equal(wsm__xpress_huff_compress(in, 300, &z), WSM_OK);
    assert_int_equal(z.len, 263);
    assert_int_equal(wsm__xpress_huff_decompress((unsigned char *)z.data, z.len, back, 300),
                     WSM_OK);
    assert_memory_equal(in, back, 300);
    wsm__buf_reset(&z);
    assert_int_equal(
        wsm__xpress_huff_compress((const unsigned char *)"abcdefghijklmnopqrstuvwxyz", 26, &z),
        WSM_OK);
    assert_int_equal(z.len, 276);
    wsm__buf_free(&z);
}

static void test_refusals(void **state)
{
    (void)state;
    unsigned char v[276], out[300];
    alpha_vector(v);
    /* too short for the table */
    assert_int_equal(wsm__xpress_huff_decompress(v, 200, out, 26), WSM_ERR_ENCODING);
    /* an incomplete code (one length removed) */
    v[128] = 0;
    assert_int_equal(wsm__xpress_huff_decompress(v, sizeof(v), out, 26), WSM_ERR_ENCODING);
    /* an oversubscribed code */
    alpha_vector(v);
    v[0] = 0x11;
    assert_int_equal(wsm__xpress_huff_decompress(v, sizeof(v), out, 26), WSM_ERR_ENCODING);
    /* input that runs out: the bits for 26 letters cut short */
    alpha_vector(v);
    assert_int_equal(wsm__xpress_huff_decompress(v, 262, out, 26), WSM_ERR_ENCODING);
    /* a match before the start of the output: "abc" vector whose first
     * symbol becomes the match (swap the lengths of 'a' and the match) */
    unsigned char a[263];
    abc_vector(a);
    a[48] = 0x20;  /* 'a' len 2 */
    a[143] = 0x30; /* match len 3 */
    assert_int_equal(wsm__xpress_huff_decompress(a, sizeof(a), out, 300), WSM_ERR_ENCODING);
    /* a block larger than 64 KiB cannot be asked for */
    assert_int_equal(wsm__xpress_huff_decompress(a, sizeof(a), out, 70000), WSM_ERR_ENCODING);
}

/* The Windows trace (an "ipconfig" stdout element): 1d 00 1d 00 and the
 * 30 bytes as they are. */
static void test_frame_stored(void **state)
{
    (void)state;
    const char *line = "\r\nWindows IP Configuration\r\n\r\n";
    struct wsm_buf f, back;
    wsm__buf_init(&f, 0);
    wsm__buf_init(&back, 0);
    assert_int_equal(wsm__xpress_frame((const unsigned char *)line, 30, &f), WSM_OK);
    assert_int_equal(f.len, 34);
    assert_memory_equal(f.data, "\x1d\x00\x1d\x00", 4);
    assert_memory_equal(f.data + 4, line, 30);
    assert_int_equal(wsm__xpress_unframe((unsigned char *)f.data, f.len, &back, 100), WSM_OK);
    assert_int_equal(back.len, 30);
    assert_memory_equal(back.data, line, 30);
    /* the bound: 29 bytes allowed, nothing appended */
    wsm__buf_reset(&back);
    assert_int_equal(wsm__xpress_unframe((unsigned char *)f.data, f.len, &back, 29), WSM_ERR_QUOTA);
    assert_int_equal(back.len, 0);
    /* truncated header, truncated block, compressed longer than original */
    assert_int_equal(wsm__xpress_unframe((unsigned char *)f.data, 3, &back, 100), WSM_ERR_ENCODING);
    assert_int_equal(wsm__xpress_unframe((unsigned char *)f.data, 33, &back, 100),
                     WSM_ERR_ENCODING);
    f.data[2] = 0x1e;
    assert_int_equal(wsm__xpress_unframe((unsigned char *)f.data, f.len, &back, 100),
                     WSM_ERR_ENCODING);
    assert_int_equal(back.len, 0);
    /* nothing is nothing */
    assert_int_equal(wsm__xpress_unframe((unsigned char *)"", 0, &back, 0), WSM_OK);
    wsm__buf_free(&f);
    wsm__buf_free(&back);
}

static uint32_t rnd = 12345;
static unsigned next_rand(void)
{
    rnd = rnd * 1103515245u + 12345u;
    return rnd >> 16;
}

static void round_trip(const unsigned char *in, size_t len, size_t *zlen)
{
    struct wsm_buf f, back;
    wsm__buf_init(&f, 0);
    wsm__buf_init(&back, 0);
    assert_int_equal(wsm__xpress_frame(in, len, &f), WSM_OK);
    assert_true(f.len <= wsm__xpress_bound(len));
    assert_int_equal(wsm__xpress_unframe((unsigned char *)f.data, f.len, &back, len), WSM_OK);
    assert_int_equal(back.len, len);
    if (len)
        assert_memory_equal(back.data, in, len);
    if (zlen)
        *zlen = f.len;
    wsm__buf_free(&f);
    wsm__buf_free(&back);
}

static void test_round_trips(void **state)
{
    (void)state;
    size_t cap = 3 * WSM_XPRESS_BLOCK + 1000;
    unsigned char *b = malloc(cap);
    assert_non_null(b);
    size_t sizes[] = {0, 1, 265, 266, 267, 1000, 65535, 65536, 65537, 3 * 65536 + 1000};
    for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
        size_t n = sizes[si], z;
        /* text: compresses, and well */
        for (size_t i = 0; i < n; i++)
            b[i] =
                (unsigned char)("drwxr-xr-x 2 root root 4096 Dec  7 file"[i % 39] + (i / 997 % 3));
        round_trip(b, n, &z);
        if (n >= 1000)
            assert_true(z < (n >= 65536 ? n / 8 : n / 2));
        /* random bytes: stored as is */
        for (size_t i = 0; i < n; i++)
            b[i] = (unsigned char)next_rand();
        round_trip(b, n, &z);
        assert_true(z <= wsm__xpress_bound(n));
        /* one byte repeated: long matches (the 16-bit length form) */
        memset(b, 'x', n);
        round_trip(b, n, NULL);
        /* skewed: deep Huffman trees (lengths limited to 15) */
        for (size_t i = 0; i < n; i++) {
            unsigned r = next_rand() & 0xffff, s = 0;
            while (s < 40 && (r & (1u << (s % 16))))
                s++;
            b[i] = (unsigned char)(s * 5 + (next_rand() % 2));
        }
        round_trip(b, n, NULL);
        /* runs of 0-20 random literals, each followed by a copy of 4-399
         * earlier bytes from up to 64 KiB back: matches with and without
         * their length bytes (1 and 3 of them) at every alignment of the
         * writer's waiting bits */
        for (size_t i = 0; i < n;) {
            for (size_t k = next_rand() % 21; k-- && i < n;)
                b[i++] = (unsigned char)(next_rand() % 64 + 32);
            size_t len = 4 + next_rand() % 396, d = 1 + next_rand() % 65535;
            for (size_t k = 0; k < len && i < n; k++, i++)
                b[i] = i >= d ? b[i - d] : (unsigned char)'a';
        }
        round_trip(b, n, &z);
        if (n >= 65536)
            assert_true(z < n / 2);
    }
    free(b);
}

/* Blocks of a few distinct bytes with Fibonacci-like counts push a
 * Huffman tree past 15 levels: the lengths are limited. */
static void test_length_limit(void **state)
{
    (void)state;
    unsigned char *b = malloc(65536);
    assert_non_null(b);
    size_t n = 0;
    unsigned long f1 = 1, f2 = 1;
    for (int sym = 0; sym < 24 && n < 65536; sym++) {
        for (unsigned long k = 0; k < f1 && n < 65536; k++)
            b[n++] = (unsigned char)(sym * 7 + 1);
        unsigned long t = f1 + f2;
        f1 = f2;
        f2 = t;
    }
    /* scatter so that LZ77 finds few matches */
    for (size_t i = n; i-- > 1;) {
        size_t j = next_rand() % (i + 1);
        unsigned char t = b[i];
        b[i] = b[j];
        b[j] = t;
    }
    round_trip(b, n, NULL);
    free(b);
}

/* Blocks do not depend on each other: a long input (whose second half
 * a helper thread compresses when another CPU is there) frames to the
 * same bytes as its blocks framed one by one, and decodes back. */
static void test_blocks_independent(void **state)
{
    (void)state;
    size_t n = 5 * WSM_XPRESS_BLOCK + 777;
    unsigned char *b = malloc(n);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)("-rw-r--r-- 1 root root 1234 Jan  1 lib.so\n"[i % 41] +
                               (next_rand() % 16 == 0));
    struct wsm_buf whole, parts;
    wsm__buf_init(&whole, 0);
    wsm__buf_init(&parts, 0);
    assert_int_equal(wsm__xpress_frame(b, n, &whole), WSM_OK);
    for (size_t p = 0; p < n; p += WSM_XPRESS_BLOCK)
        assert_int_equal(
            wsm__xpress_frame(b + p, n - p < WSM_XPRESS_BLOCK ? n - p : WSM_XPRESS_BLOCK, &parts),
            WSM_OK);
    assert_int_equal(whole.len, parts.len);
    assert_memory_equal(whole.data, parts.data, whole.len);
    assert_true(whole.len < n / 4);
    size_t z;
    round_trip(b, n, &z);
    assert_int_equal(z, whole.len);
    wsm__buf_free(&whole);
    wsm__buf_free(&parts);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_alpha),    cmocka_unit_test(test_spec_abc),
        cmocka_unit_test(test_encoder_sizes), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_frame_stored),  cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_length_limit),  cmocka_unit_test(test_blocks_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
