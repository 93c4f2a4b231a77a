/* ECMA-321 SLDC, the encoder (wsm__sldc_compress): the bit writer, the
 * match finder over the 1024-byte history and the parse, framed as a
 * Windows source frames it. Separate from the decoder (sldc.c, where the
 * format is described) as xpress_enc.c is from xpress.c: each file one
 * direction and a readable size; the two share sldc_priv.h.
 * docs/internals/sldc.md, "The encoder". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sldc.h"
#include "sldc_priv.h"

struct writer {
    unsigned char *p; /* room was reserved for the worst case up front */
    size_t len;
    uint64_t acc; /* pending bits, right-aligned */
    unsigned n;
};

static void put(struct writer *w, uint32_t v, unsigned k)
{
    w->acc = (w->acc << k) | (v & ((1u << k) - 1));
    w->n += k;
    while (w->n >= 8) {
        w->n -= 8;
        w->p[w->len++] = (unsigned char)(w->acc >> w->n);
    }
}

static void put_control(struct writer *w, unsigned code)
{
    put(w, 0x1FF, 9);
    put(w, code, 4);
}

static void put_literal1(struct writer *w, unsigned char c)
{
    put(w, c, 9); /* a 0 bit and the byte */
}

/* The leading 1, the match count field, the displacement. */
static void put_copy(struct writer *w, unsigned count, unsigned loc)
{
    if (count < 4)
        put(w, 0x4 | (count - 2), 3); /* 1 0x */
    else if (count < 8)
        put(w, 0x18 | (count - 4), 5); /* 1 10xx */
    else if (count < 16)
        put(w, 0x70 | (count - 8), 7); /* 1 110xxx */
    else if (count < 32)
        put(w, 0x1E0 | (count - 16), 9); /* 1 1110xxxx */
    else
        put(w, 0x1F00 | (count - 32), 13); /* 1 1111xxxxxxxx */
    put(w, loc, 10);
}

/* Literals in[from..to) with the cheaper scheme: 9 bits a byte in scheme 1,
 * or 8 (9 for 0xFF) in scheme 2 plus 13 bits per switch. Random data thus
 * grows by about 1/8 less than with scheme 1 alone. */
static void put_literals(struct writer *w, const unsigned char *in, size_t from, size_t to,
                         int at_end)
{
    size_t n = to - from, ff = 0;
    for (size_t i = from; i < to; i++)
        ff += in[i] == 0xFF;
    if (8 * n + ff + 13 + (at_end ? 0 : 13) < 9 * n) {
        put_control(w, CS_SCHEME2);
        for (size_t i = from; i < to; i++) {
            put(w, in[i], 8);
            if (in[i] == 0xFF)
                put(w, 0, 1);
        }
        if (!at_end)
            put_control(w, CS_SCHEME1);
    } else {
        for (size_t i = from; i < to; i++)
            put_literal1(w, in[i]);
    }
}

/* Match finder (docs/internals/sldc.md, "The match finder"): chains of
 * the earlier positions with the same 4-byte hash, walked at most
 * CHAIN_DEPTH deep, for matches of 4 bytes or more; the last position with
 * the same 3 bytes, then the same 2, for the short ones. Hashing 4 bytes
 * rather than 3 matters for UTF-16 text: 3 bytes at an odd offset are one
 * character between two zeros ("\0e\0"), so a 3-byte chain there held every
 * "e" of the window and was walked in full for nothing.
 *
 * Positions are kept as their low 16 bits, and every candidate's bytes are
 * compared before it is used: a stale or colliding entry (from another
 * hash, or from more than 65535 bytes back) can only be a candidate that
 * fails the comparison or a real match, never a wrong one. So the tables
 * are small (26 KB, cleared per call in a few microseconds: a batch of ten
 * events costs no more per byte than one of a thousand). */
#define CHAIN_DEPTH 16
#define GOOD_MATCH 64
/* A match this long is taken without looking a byte on: past it, the
 * second search cost 4% of the instructions for 0.004% of the output. */
#define LAZY_MAX 16
#define HASH_BITS 12
#define HASH_SIZE (1u << HASH_BITS)
#define MAX_DIST (HISTORY - 1)

struct finder {
    uint16_t head4[HASH_SIZE];
    uint16_t head3[HASH_SIZE];
    uint16_t head2[HASH_SIZE];
    uint16_t prev[HISTORY]; /* by position mod 1024: the previous one with its hash */
};

static inline uint32_t load32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline unsigned hash4(uint32_t v)
{
    return (v * 2654435761u) >> (32 - HASH_BITS);
}

static inline unsigned hash3(uint32_t v)
{
    return (v * 2246822519u) >> (32 - HASH_BITS);
}

static inline unsigned hash2(uint32_t v)
{
    return (v * 3266489917u) >> (32 - HASH_BITS);
}

/* How far back (1..MAX_DIST) a stored position lies from i; 0 if it
 * cannot be a candidate. Never before the input: the tables are cleared
 * per call (0 stands for position 0) and hold only positions up to i, so
 * the distance mod 65536 is at most i. */
static inline size_t back(size_t i, uint16_t stored)
{
    size_t d = (uint16_t)((uint16_t)i - stored);
    return d - 1 < MAX_DIST ? d : 0;
}

/* Equal bytes at a and b, at most max: 8 at a time where the machine lets
 * the first difference be found from the XOR's trailing zeros. */
static inline unsigned match_len(const unsigned char *a, const unsigned char *b, unsigned max)
{
    unsigned l = 0;
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (l + 8 <= max) {
        uint64_t x, y;
        memcpy(&x, a + l, 8);
        memcpy(&y, b + l, 8);
        if (x != y)
            return l + (unsigned)__builtin_ctzll(x ^ y) / 8;
        l += 8;
    }
#endif
    while (l < max && a[l] == b[l])
        l++;
    return l;
}

static inline void insert(struct finder *f, const unsigned char *in, size_t n, size_t i)
{
    uint16_t p = (uint16_t)i;
    if (i + 3 < n) {
        uint32_t v = load32(in + i);
        unsigned h = hash4(v);
        f->prev[i % HISTORY] = f->head4[h];
        f->head4[h] = p;
        f->head3[hash3(v & 0xFFFFFF)] = p;
        f->head2[hash2(v & 0xFFFF)] = p;
        return;
    }
    if (i + 2 < n)
        f->head3[hash3((uint32_t)in[i] | (uint32_t)in[i + 1] << 8 | (uint32_t)in[i + 2] << 16)] = p;
    if (i + 1 < n)
        f->head2[hash2((uint32_t)in[i] | (uint32_t)in[i + 1] << 8)] = p;
}

/* The positions inside a match just taken, from..to (to + 3 < n). Only the
 * 4-byte chains: the 2- and 3-byte tables keep one position per value, and
 * the match's last ones (inserted in full by the caller) are the nearest. */
static void insert_chain(struct finder *f, const unsigned char *in, size_t from, size_t to)
{
    for (size_t j = from; j < to; j++) {
        unsigned h = hash4(load32(in + j));
        f->prev[j % HISTORY] = f->head4[h];
        f->head4[h] = (uint16_t)j;
    }
}

/* The longest match for in[i..] among earlier positions, at most 1023 back
 * (location i mod 1024 would be the one being written, which some decoders
 * refuse to read); 0 if none of 2 bytes or more. */
static unsigned longest(const struct finder *f, const unsigned char *in, size_t n, size_t i,
                        size_t *pos)
{
    unsigned best = 0;
    unsigned max = n - i < MAX_MATCH ? (unsigned)(n - i) : MAX_MATCH;
    if (max < MIN_MATCH)
        return 0;
    const unsigned char *b = in + i;
    if (max >= 4) {
        uint32_t v = load32(b);
        size_t d = back(i, f->head4[hash4(v)]);
        for (int depth = CHAIN_DEPTH; d && depth; depth--) {
            const unsigned char *a = b - d;
            /* best < max here: the byte that would make a longer match
             * first, then the four the hash stands for. */
            if (a[best] == b[best] && load32(a) == v) {
                unsigned l = 4 + match_len(a + 4, b + 4, max - 4);
                if (l > best) {
                    best = l;
                    *pos = i - d;
                    if (l >= max || l >= GOOD_MATCH)
                        break;
                }
            }
            /* The chain only goes back: a link that does not (a slot
             * reused, a stale entry) ends it. */
            size_t nd = back(i, f->prev[(i - d) % HISTORY]);
            if (nd <= d)
                break;
            d = nd;
        }
        if (best)
            return best;
    }
    if (max >= 3) {
        size_t d =
            back(i, f->head3[hash3((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16)]);
        const unsigned char *a = b - d;
        if (d && a[0] == b[0] && a[1] == b[1] && a[2] == b[2]) {
            *pos = i - d;
            return 3 + match_len(a + 3, b + 3, max - 3);
        }
    }
    size_t d = back(i, f->head2[hash2((uint32_t)b[0] | (uint32_t)b[1] << 8)]);
    const unsigned char *a = b - d;
    if (d && a[0] == b[0] && a[1] == b[1]) {
        *pos = i - d;
        return 2 + match_len(a + 2, b + 2, max - 2);
    }
    return 0;
}

enum wsm_err wsm__sldc_compress(const unsigned char *in, size_t len, struct wsm_buf *out)
{
    if (!out || (!in && len))
        return WSM_ERR_INVALID_ARG;
    /* Worst case: 9 bits a byte (a literal run switches to scheme 2 only
     * when that is shorter; a copy pointer takes at most 6.5 bits a byte),
     * the leading Reset, End of Record, pad and the length. */
    if (len > (SIZE_MAX - 64) / 2)
        return WSM_ERR_QUOTA;
    size_t worst = len + len / 8 + 32;
    enum wsm_err e = wsm__buf_reserve(out, worst);
    if (e)
        return e == WSM_ERR_ENVELOPE_TOO_LARGE ? WSM_ERR_QUOTA : e;
    struct finder *f = malloc(sizeof(*f));
    if (!f)
        return WSM_ERR_NOMEM;
    memset(f, 0, sizeof(*f));

    struct writer w = {(unsigned char *)out->data + out->len, 0, 0, 0};
    put_control(&w, CS_RESET1);
    size_t i = 0, lit = 0; /* in[lit..i) are literals not yet written */
    size_t pos = 0, next_pos = 0;
    unsigned next_l = 0;
    int have_next = 0;
    while (i < len) {
        unsigned l;
        if (have_next) {
            l = next_l;
            pos = next_pos;
            have_next = 0;
        } else {
            l = longest(f, in, len, i, &pos);
        }
        /* Inside a long literal run (bound for scheme 2), a short match
         * would cost two Scheme symbols (26 bits) to save less. */
        if (l && l < 6 && i - lit >= 16)
            l = 0;
        insert(f, in, len, i);
        if (l && l < LAZY_MAX && i + 2 < len) {
            /* Lazy matching: a longer match one byte on is worth a literal
             * (a short match taken greedily would often hide it). */
            next_l = longest(f, in, len, i + 1, &next_pos);
            have_next = 1;
            if (next_l > l)
                l = 0;
        }
        if (!l) {
            i++;
            continue;
        }
        have_next = 0;
        if (lit < i)
            put_literals(&w, in, lit, i, 0);
        put_copy(&w, l, (unsigned)(pos % HISTORY));
        size_t end = i + l, mid = end - 2 < len - 3 ? end - 2 : len - 3;
        if (mid > i + 1 && len >= 3)
            insert_chain(f, in, i + 1, mid);
        else
            mid = i + 1;
        for (size_t j = mid; j < end; j++)
            insert(f, in, len, j);
        i += l;
        lit = i;
    }
    if (lit < len)
        put_literals(&w, in, lit, len, 1);
    put_control(&w, CS_EOR);
    /* Zero pad to a 16-bit boundary, then the length: what Windows writes
     * (docs/internals/sldc.md). */
    put(&w, 0, (unsigned)((16 - (w.len * 8 + w.n) % 16) % 16));
    uint32_t n32 = (uint32_t)len;
    for (int k = 0; k < 4; k++)
        w.p[w.len++] = (unsigned char)(n32 >> (8 * k));
    free(f);
    out->len += w.len;
    out->data[out->len] = '\0';
    return WSM_OK;
}
