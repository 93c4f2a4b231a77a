/* libwsm client, WinRS: the strict streaming base64 decoder of Receive
 * replies' streams (AVX2 where the CPU has it). */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "buf.h"
#include "client_internal.h"
#include "envelope.h"
#include "ns.h"
#include "xmlctxt.h"
#include "uuid.h"
#include "wsm/wsm.h"
#include "shell_client_priv.h"

/* ---- base64 of the streams: strict, streaming, fast ------------------
 *
 * What Receive replies carry is canonical base64: the alphabet in whole
 * quanta, '=' only in the last one, no line breaks. This decoder takes
 * exactly that, as the text arrives in pieces (no copy of the text), with
 * AVX2 where the CPU has it (about ten times wsm__base64_decode's speed).
 * Anything else -- whitespace, a missing '=', a bad character, nonzero pad
 * bits -- it refuses, and the reply goes to the tree path, where
 * wsm__base64_decode has the last word, as it always had. */

static unsigned char b64_dec[256]; /* 0..63, 0xff: not in the alphabet */
static int b64_have_avx2;
static pthread_once_t b64_once = PTHREAD_ONCE_INIT;

static void b64_init(void)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    memset(b64_dec, 0xff, sizeof(b64_dec));
    for (int i = 0; i < 64; i++)
        b64_dec[(unsigned char)alphabet[i]] = (unsigned char)i;
    b64_have_avx2 = wsm__cpu_has_avx2(); /* detected on first use (base64.c) */
}

void wsm__shell_b64_init(void)
{
    pthread_once(&b64_once, b64_init);
}

#if defined(__x86_64__) || defined(__i386__)
/* Whole 32-character blocks of the alphabet (W. Mula and D. Lemire,
 * "Faster Base64 Encoding and Decoding Using AVX2 Instructions", 2018:
 * validation by nibble lookup, then pack with multiply-adds). Stops before
 * the first block with any other character; *used says how far it got.
 * Stores 32 bytes for each 24 it decodes: out needs 8 bytes of slack. */
__attribute__((target("avx2"))) static size_t b64_avx2(const unsigned char *s, size_t n,
                                                       unsigned char *out, size_t *used)
{
    const __m256i shift_lut =
        _mm256_setr_epi8(0, 0, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 19, 4, -65,
                         -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
    /* For each low nibble, the high nibbles that make an alphabet character. */
    const __m256i mask_lut = _mm256_setr_epi8(
        (char)0xa8, (char)0xf8, (char)0xf8, (char)0xf8, (char)0xf8, (char)0xf8, (char)0xf8,
        (char)0xf8, (char)0xf8, (char)0xf8, (char)0xf0, 0x54, 0x50, 0x50, 0x50, 0x54, (char)0xa8,
        (char)0xf8, (char)0xf8, (char)0xf8, (char)0xf8, (char)0xf8, (char)0xf8, (char)0xf8,
        (char)0xf8, (char)0xf8, (char)0xf0, 0x54, 0x50, 0x50, 0x50, 0x54);
    const __m256i bit_lut =
        _mm256_setr_epi8(1, 2, 4, 8, 16, 32, 64, (char)128, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 8, 16,
                         32, 64, (char)128, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    const __m256i slash = _mm256_set1_epi8(0x2f);
    const __m256i shuf = _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1, 2,
                                          1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
    const __m256i perm = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7);
    size_t i = 0, o = 0;
    while (i + 32 <= n) {
        __m256i in = _mm256_loadu_si256((const __m256i *)(const void *)(s + i));
        __m256i hi = _mm256_and_si256(_mm256_srli_epi32(in, 4), nibble);
        __m256i lo = _mm256_and_si256(in, nibble);
        __m256i ok =
            _mm256_and_si256(_mm256_shuffle_epi8(mask_lut, lo), _mm256_shuffle_epi8(bit_lut, hi));
        if (_mm256_movemask_epi8(_mm256_cmpeq_epi8(ok, _mm256_setzero_si256())))
            break;
        __m256i sh = _mm256_shuffle_epi8(shift_lut, hi);
        sh = _mm256_blendv_epi8(sh, _mm256_set1_epi8(16), _mm256_cmpeq_epi8(in, slash));
        __m256i v = _mm256_add_epi8(in, sh);
        v = _mm256_maddubs_epi16(v, _mm256_set1_epi32(0x01400140));
        v = _mm256_madd_epi16(v, _mm256_set1_epi32(0x00011000));
        v = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(v, shuf), perm);
        _mm256_storeu_si256((__m256i *)(void *)(out + o), v);
        i += 32;
        o += 24;
    }
    *used = i;
    return o;
}
#endif

/* Whole quanta of the alphabet; stops before anything else. */
static size_t b64_scalar(const unsigned char *s, size_t n, unsigned char *out, size_t *used)
{
    size_t i = 0, o = 0;
    while (i + 4 <= n) {
        unsigned a = b64_dec[s[i]], b = b64_dec[s[i + 1]], c = b64_dec[s[i + 2]],
                 d = b64_dec[s[i + 3]];
        if ((a | b | c | d) > 63)
            break;
        unsigned v = a << 18 | b << 12 | c << 6 | d;
        out[o] = (unsigned char)(v >> 16);
        out[o + 1] = (unsigned char)(v >> 8);
        out[o + 2] = (unsigned char)v;
        i += 4;
        o += 3;
    }
    *used = i;
    return o;
}

/* One quantum: 3 bytes, or 1 or 2 for a padded last one; -1 if it is
 * neither. */
static int b64_quantum(const unsigned char *q, unsigned char *out, int *ended)
{
    unsigned a = b64_dec[q[0]], b = b64_dec[q[1]], c = b64_dec[q[2]], d = b64_dec[q[3]];
    if ((a | b | c | d) <= 63) {
        unsigned v = a << 18 | b << 12 | c << 6 | d;
        out[0] = (unsigned char)(v >> 16);
        out[1] = (unsigned char)(v >> 8);
        out[2] = (unsigned char)v;
        return 3;
    }
    if (a > 63 || b > 63 || q[3] != '=')
        return -1;
    *ended = 1;
    if (q[2] == '=') {
        if (b & 15)
            return -1;
        out[0] = (unsigned char)(a << 2 | b >> 4);
        return 1;
    }
    if (c > 63 || (c & 3))
        return -1;
    out[0] = (unsigned char)(a << 2 | b >> 4);
    out[1] = (unsigned char)((b & 15) << 4 | c >> 2);
    return 2;
}

/* Decodes the next n characters onto out; -1: not canonical base64. */
int wsm__shell_b64_feed(struct b64s *st, const unsigned char *s, size_t n, struct wsm_buf *out)
{
    if (!n)
        return 0;
    if (st->ended || wsm__buf_reserve(out, n / 4 * 3 + 3 + 32) != WSM_OK)
        return -1;
    unsigned char *o = (unsigned char *)out->data + out->len;
    size_t i = 0, used = 0;
    int k;
    if (st->ncarry) {
        while (st->ncarry < 4 && i < n)
            st->carry[st->ncarry++] = s[i++];
        if (st->ncarry < 4)
            return 0;
        if ((k = b64_quantum(st->carry, o, &st->ended)) < 0 || (st->ended && i < n))
            return -1;
        o += k;
        st->ncarry = 0;
    }
#if defined(__x86_64__) || defined(__i386__)
    if (b64_have_avx2 && n - i >= 32) {
        o += b64_avx2(s + i, n - i, o, &used);
        i += used;
    }
#endif
    o += b64_scalar(s + i, n - i, o, &used);
    i += used;
    if (n - i >= 4) {
        /* Not a whole quantum of the alphabet: the padded last one, or
         * not canonical. */
        if ((k = b64_quantum(s + i, o, &st->ended)) < 0 || !st->ended || i + 4 < n)
            return -1;
        o += k;
        i += 4;
    }
    if (i < n) {
        memcpy(st->carry, s + i, n - i);
        st->ncarry = (int)(n - i);
    }
    out->len = (size_t)(o - (unsigned char *)out->data);
    out->data[out->len] = '\0';
    return 0;
}
