#include "base64.h"

#include <pthread.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#endif

static const char enc_tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t wsm__base64_enclen(size_t n)
{
    return (n + 2) / 3 * 4;
}

static int have_avx2;
static pthread_once_t avx2_once = PTHREAD_ONCE_INIT;

static void detect_avx2(void)
{
#if defined(__x86_64__) || defined(__i386__)
    /* CPUID and XGETBV by hand, on first use: __builtin_cpu_supports
     * would add a constructor to every program that links this. */
    unsigned a, b, c, d, lo, hi;
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_OSXSAVE) && (c & bit_AVX)) {
        __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        if ((lo & 6) == 6 && __get_cpuid_count(7, 0, &a, &b, &c, &d))
            have_avx2 = (b & bit_AVX2) != 0;
    }
#endif
}

int wsm__cpu_has_avx2(void)
{
    pthread_once(&avx2_once, detect_avx2);
    return have_avx2;
}

#if defined(__x86_64__) || defined(__i386__)
/* 24 input bytes to 32 characters a step (W. Mula and D. Lemire, "Faster
 * Base64 Encoding and Decoding Using AVX2 Instructions", 2018): each
 * 128-bit lane takes 12 bytes; a shuffle puts the bytes a b c of each
 * group as b a c b in a 32-bit word, two multiplies move the four sextets
 * to the four bytes, and a 14-entry table of offsets turns sextets into
 * the alphabet. Reads 28 bytes a step (a 16-byte load at +0 and at +12).
 * Returns how many input bytes it encoded (a multiple of 24). */
__attribute__((target("avx2"))) static size_t enc_avx2(const unsigned char *in, size_t n, char *out)
{
    const __m256i shuf = _mm256_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10, 1, 0,
                                          2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
    /* Offsets by class: [0] 26..51 -> 'a', [1..10] 52..61 -> '0', [11]
     * 62 -> '+', [12] 63 -> '/', [13] 0..25 -> 'A'. */
    const __m256i offs =
        _mm256_setr_epi8(71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 65, 0, 0, 71, -4, -4,
                         -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 65, 0, 0);
    size_t i = 0, o = 0;
    while (i + 28 <= n) {
        __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)(in + i));
        __m128i hi = _mm_loadu_si128((const __m128i *)(const void *)(in + i + 12));
        __m256i w =
            _mm256_shuffle_epi8(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1), shuf);
        /* Low half b a: a>>2 and (a&3)<<4|b>>4; high half c b: (b&15)<<2|c>>6
         * and c&63. */
        __m256i t0 = _mm256_mulhi_epu16(_mm256_and_si256(w, _mm256_set1_epi32(0x0fc0fc00)),
                                        _mm256_set1_epi32(0x04000040));
        __m256i t1 = _mm256_mullo_epi16(_mm256_and_si256(w, _mm256_set1_epi32(0x003f03f0)),
                                        _mm256_set1_epi32(0x01000010));
        __m256i idx = _mm256_or_si256(t0, t1);
        __m256i cls = _mm256_subs_epu8(idx, _mm256_set1_epi8(51));
        cls = _mm256_or_si256(cls, _mm256_and_si256(_mm256_cmpgt_epi8(_mm256_set1_epi8(26), idx),
                                                    _mm256_set1_epi8(13)));
        __m256i r = _mm256_add_epi8(idx, _mm256_shuffle_epi8(offs, cls));
        _mm256_storeu_si256((__m256i *)(void *)(out + o), r);
        i += 24;
        o += 32;
    }
    return i;
}
#endif

void wsm__base64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t i = 0, o = 0;
#if defined(__x86_64__) || defined(__i386__)
    if (n >= 64 && wsm__cpu_has_avx2()) {
        i = enc_avx2(in, n, out);
        o = i / 3 * 4;
    }
#endif
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = enc_tab[v >> 18];
        out[o++] = enc_tab[(v >> 12) & 63];
        out[o++] = enc_tab[(v >> 6) & 63];
        out[o++] = enc_tab[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        out[o++] = enc_tab[v >> 18];
        out[o++] = enc_tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? enc_tab[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
}

/* One more than the value: 1..64 for the alphabet, 65 for whitespace,
 * 66 for '='; 0 (the default) for anything else. */
static const unsigned char dec_tab1[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,   ['D'] = 4,   ['E'] = 5,   ['F'] = 6,  ['G'] = 7,
    ['H'] = 8,  ['I'] = 9,  ['J'] = 10,  ['K'] = 11,  ['L'] = 12,  ['M'] = 13, ['N'] = 14,
    ['O'] = 15, ['P'] = 16, ['Q'] = 17,  ['R'] = 18,  ['S'] = 19,  ['T'] = 20, ['U'] = 21,
    ['V'] = 22, ['W'] = 23, ['X'] = 24,  ['Y'] = 25,  ['Z'] = 26,  ['a'] = 27, ['b'] = 28,
    ['c'] = 29, ['d'] = 30, ['e'] = 31,  ['f'] = 32,  ['g'] = 33,  ['h'] = 34, ['i'] = 35,
    ['j'] = 36, ['k'] = 37, ['l'] = 38,  ['m'] = 39,  ['n'] = 40,  ['o'] = 41, ['p'] = 42,
    ['q'] = 43, ['r'] = 44, ['s'] = 45,  ['t'] = 46,  ['u'] = 47,  ['v'] = 48, ['w'] = 49,
    ['x'] = 50, ['y'] = 51, ['z'] = 52,  ['0'] = 53,  ['1'] = 54,  ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59,  ['7'] = 60,  ['8'] = 61,  ['9'] = 62, ['+'] = 63,
    ['/'] = 64, [' '] = 65, ['\t'] = 65, ['\r'] = 65, ['\n'] = 65, ['='] = 66,
};

static unsigned dec(unsigned char c)
{
    return (unsigned)dec_tab1[c] - 1; /* invalid: UINT_MAX */
}

enum wsm_err wsm__base64_decode(const char *in, size_t n, unsigned char *out, size_t outcap,
                                size_t *outlen)
{
    const unsigned char *p = (const unsigned char *)in;
    unsigned acc = 0;
    int bits = 0, pad = 0;
    size_t o = 0, chars = 0, i = 0;

    /* Fast path: whole quanta of four alphabet characters (what encoders
     * write, line breaks aside) become three bytes at once. */
    while (i + 4 <= n && o + 3 <= outcap) {
        unsigned a = dec(p[i]), b = dec(p[i + 1]), c = dec(p[i + 2]), d = dec(p[i + 3]);
        if ((a | b | c | d) & 0xc0)
            break; /* whitespace, padding or a bad character: careful path */
        unsigned v = a << 18 | b << 12 | c << 6 | d;
        out[o] = (unsigned char)(v >> 16);
        out[o + 1] = (unsigned char)(v >> 8);
        out[o + 2] = (unsigned char)v;
        o += 3;
        i += 4;
        chars += 4;
    }
    for (; i < n; i++) {
        unsigned v = dec(p[i]);
        if (v == 64)
            continue;
        if (v == 65) {
            pad++;
            continue;
        }
        if (v > 63 || pad)
            return WSM_ERR_ENCODING; /* bad character, or data after padding */
        chars++;
        acc = (acc << 6 | v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= outcap)
                return WSM_ERR_ENVELOPE_TOO_LARGE;
            out[o++] = (unsigned char)(acc >> bits);
        }
        /* Back to the fast path at a quantum boundary. */
        if (bits == 0 && (chars & 3) == 0) {
            while (i + 5 <= n && o + 3 <= outcap) {
                unsigned a = dec(p[i + 1]), b = dec(p[i + 2]), c = dec(p[i + 3]), d = dec(p[i + 4]);
                if ((a | b | c | d) & 0xc0)
                    break;
                unsigned w = a << 18 | b << 12 | c << 6 | d;
                out[o] = (unsigned char)(w >> 16);
                out[o + 1] = (unsigned char)(w >> 8);
                out[o + 2] = (unsigned char)w;
                o += 3;
                i += 4;
                chars += 4;
            }
        }
    }
    /* 6 leftover bits can never come from a valid encoding; neither can
     * more than two pad characters or nonzero leftover bits. */
    if (bits >= 6 || pad > 2 || (acc & ((1u << bits) - 1)) != 0)
        return WSM_ERR_ENCODING;
    /* Padding, when present, completes the last quantum exactly. */
    if (pad && (chars + (size_t)pad) % 4 != 0)
        return WSM_ERR_ENCODING;
    *outlen = o;
    return WSM_OK;
}
