/* Unit tests for base64 (src/lib/base64.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base64.h"

/* RFC 4648, section 10. */
static const struct {
    const char *plain;
    const char *b64;
} vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static enum wsm_err dec(const char *s, unsigned char *out, size_t cap, size_t *outlen)
{
    return wsm__base64_decode(s, strlen(s), out, cap, outlen);
}

static void test_enclen(void **state)
{
    (void)state;
    assert_int_equal(wsm__base64_enclen(0), 0);
    assert_int_equal(wsm__base64_enclen(1), 4);
    assert_int_equal(wsm__base64_enclen(2), 4);
    assert_int_equal(wsm__base64_enclen(3), 4);
    assert_int_equal(wsm__base64_enclen(4), 8);
    assert_int_equal(wsm__base64_enclen(6), 8);
    assert_int_equal(wsm__base64_enclen(256), 344);
}

static void test_rfc4648_encode(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        char out[16];
        size_t n = strlen(vectors[i].plain);
        memset(out, 'X', sizeof(out));
        assert_int_equal(wsm__base64_enclen(n), strlen(vectors[i].b64));
        wsm__base64_encode((const unsigned char *)vectors[i].plain, n, out);
        assert_string_equal(out, vectors[i].b64);
        /* Exactly enclen characters and the NUL, nothing beyond. */
        assert_int_equal(out[strlen(vectors[i].b64) + 1], 'X');
    }
}

static void test_rfc4648_decode(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        unsigned char out[16];
        size_t outlen = 999;
        size_t n = strlen(vectors[i].plain);
        assert_int_equal(dec(vectors[i].b64, out, sizeof(out), &outlen), WSM_OK);
        assert_int_equal(outlen, n);
        assert_memory_equal(out, vectors[i].plain, n);

        /* Padding is optional. */
        char nopad[16];
        strcpy(nopad, vectors[i].b64);
        char *eq = strchr(nopad, '=');
        if (eq)
            *eq = '\0';
        outlen = 999;
        assert_int_equal(dec(nopad, out, sizeof(out), &outlen), WSM_OK);
        assert_int_equal(outlen, n);
        assert_memory_equal(out, vectors[i].plain, n);

        /* An output buffer of exactly the decoded size suffices. */
        outlen = 999;
        assert_int_equal(dec(vectors[i].b64, out, n, &outlen), WSM_OK);
        assert_int_equal(outlen, n);
    }
}

static void test_binary_roundtrip(void **state)
{
    (void)state;
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    char enc[345];
    unsigned char back[256];

    /* Every length from 0 to 256, so that every tail shape is covered. */
    for (size_t n = 0; n <= 256; n++) {
        size_t outlen = 999;
        wsm__base64_encode(all + (256 - n), n, enc);
        assert_int_equal(strlen(enc), wsm__base64_enclen(n));
        for (const char *p = enc; *p; p++)
            assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                   "0123456789+/=",
                                   *p));
        assert_int_equal(wsm__base64_decode(enc, strlen(enc), back, sizeof(back), &outlen), WSM_OK);
        assert_int_equal(outlen, n);
        assert_memory_equal(back, all + (256 - n), n);
    }

    /* Known encodings that exercise + and /. */
    const unsigned char hi[] = {0xfb, 0xff, 0xbf};
    wsm__base64_encode(hi, 3, enc);
    assert_string_equal(enc, "+/+/");
    const unsigned char zero[] = {0, 0, 0};
    wsm__base64_encode(zero, 3, enc);
    assert_string_equal(enc, "AAAA");
}

static void test_reject_bad_chars(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Zm9v!mFy",                            /* punctuation */
        "Zm9v-_Fy",                            /* the URL-safe alphabet is not standard base64 */
        "Zm9v\x01",                            /* control character */
        "Zm9v\xc3\xa9",                        /* non-ASCII */
        "Zm9v.",        "Zm9v:", "Zm9vYmFy\v", /* vertical tab is not skipped */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned char out[32];
        size_t outlen = 0;
        if (dec(bad[i], out, sizeof(out), &outlen) != WSM_ERR_ENCODING)
            fail_msg("accepted bad input #%zu", i);
    }
    /* An embedded NUL inside the given length is a bad character too. */
    unsigned char out[32];
    size_t outlen;
    assert_int_equal(wsm__base64_decode("Zm\0v", 4, out, sizeof(out), &outlen), WSM_ERR_ENCODING);
}

static void test_reject_bad_structure(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Zg==Zg==", /* data after padding */
        "Zg=a",     "Zm8=Zm8=", "=Zm9v",
        "Zm=9v",    "Z", /* a single leftover character holds only 6 bits */
        "Zm9vY",         /* ditto after a full group */
        "Zg===",         /* too much padding */
        "Zh==",          /* nonzero bits in the unused part */
        "Zm9=",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned char out[32];
        size_t outlen = 0;
        if (dec(bad[i], out, sizeof(out), &outlen) != WSM_ERR_ENCODING)
            fail_msg("accepted malformed input \"%s\"", bad[i]);
    }
}

static void test_output_too_small(void **state)
{
    (void)state;
    unsigned char out[8];
    size_t outlen = 999;
    memset(out, 0xAA, sizeof(out));
    assert_int_equal(dec("Zm9vYmFy", out, 5, &outlen), WSM_ERR_ENVELOPE_TOO_LARGE);
    /* Nothing was written past the given capacity. */
    assert_int_equal(out[5], 0xAA);
    assert_int_equal(out[6], 0xAA);
    assert_int_equal(dec("Zg==", out, 0, &outlen), WSM_ERR_ENVELOPE_TOO_LARGE);
    assert_int_equal(dec("Zm9vYmFy", out, 6, &outlen), WSM_OK);
    assert_int_equal(outlen, 6);
    assert_memory_equal(out, "foobar", 6);
    /* The empty input fits in an empty buffer. */
    assert_int_equal(dec("", out, 0, &outlen), WSM_OK);
    assert_int_equal(outlen, 0);
}

static void test_whitespace(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "Zm9v\r\nYmFy", " Zm9vYmFy ", "\tZm 9v\nYm\tFy\r\n", "Z m 9 v Y m F y", "Zm9vYmFy\n\n\n",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        unsigned char out[16];
        size_t outlen = 0;
        assert_int_equal(dec(ok[i], out, sizeof(out), &outlen), WSM_OK);
        assert_int_equal(outlen, 6);
        assert_memory_equal(out, "foobar", 6);
    }
    unsigned char out[16];
    size_t outlen = 99;
    assert_int_equal(dec("Zg=\n=", out, sizeof(out), &outlen), WSM_OK);
    assert_int_equal(outlen, 1);
    assert_int_equal(out[0], 'f');
    assert_int_equal(dec(" \r\n\t", out, sizeof(out), &outlen), WSM_OK);
    assert_int_equal(outlen, 0);
}

/* The encoder (AVX2 where the CPU has it, 24 bytes a step, then the
 * scalar tail) against a bit-by-bit reference, for every length up to 600
 * and some large ones, at two alignments, with an exact-size output (ASan
 * catches any write past it). */
static void ref_encode(const unsigned char *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, bits = 0;
    unsigned long acc = 0;
    for (size_t i = 0; i < n; i++) {
        acc = acc << 8 | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = a[(acc >> bits) & 63];
        }
    }
    if (bits)
        out[o++] = a[(acc << (6 - bits)) & 63];
    while (o % 4)
        out[o++] = '=';
    out[o] = '\0';
}

static void check_encode(const unsigned char *in, size_t n)
{
    size_t len = wsm__base64_enclen(n);
    char *got = malloc(len + 1), *want = malloc(len + 1);
    assert_non_null(got);
    assert_non_null(want);
    wsm__base64_encode(in, n, got);
    ref_encode(in, n, want);
    assert_int_equal(strlen(got), len);
    assert_string_equal(got, want);
    free(got);
    free(want);
}

static void test_encode_all_lengths(void **state)
{
    (void)state;
    size_t max = 100003;
    unsigned char *buf = malloc(max + 1);
    assert_non_null(buf);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i <= max; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (unsigned char)x;
    }
    for (size_t n = 0; n <= 600; n++) {
        /* Exact-size input copies: a read past the end is caught too. */
        unsigned char *in = malloc(n ? n : 1);
        assert_non_null(in);
        memcpy(in, buf + 1, n);
        check_encode(in, n);
        free(in);
    }
    check_encode(buf, 4096);
    check_encode(buf + 1, 65535);
    check_encode(buf, max);
    /* Every byte value in every position of a 24-byte step. */
    unsigned char all[256 * 3];
    for (size_t i = 0; i < sizeof(all); i++)
        all[i] = (unsigned char)(i / 3 + (i % 3) * 85);
    check_encode(all, sizeof(all));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enclen),
        cmocka_unit_test(test_rfc4648_encode),
        cmocka_unit_test(test_rfc4648_decode),
        cmocka_unit_test(test_binary_roundtrip),
        cmocka_unit_test(test_reject_bad_chars),
        cmocka_unit_test(test_reject_bad_structure),
        cmocka_unit_test(test_output_too_small),
        cmocka_unit_test(test_whitespace),
        cmocka_unit_test(test_encode_all_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
