/* ECMA-321 SLDC, written from the standard (1st edition, June 2001; the
 * same algorithm is ISO/IEC 22091). The format in short (details and
 * sources in docs/internals/sldc.md):
 *
 *   bits are packed most significant first;
 *   scheme 1:  Literal 1     0 bbbbbbbb
 *              Copy Pointer  1 <match count field> <10-bit displacement>
 *                count 2-3: 0x, 4-7: 10xx, 8-15: 110xxx, 16-31: 1110xxxx,
 *                32-271: 1111xxxxxxxx (xxxxxxxx < 0xF0)
 *              the displacement is an absolute location 0..1023 in the
 *              1024-byte history buffer, which every decoded byte enters in
 *              turn (location 0 first after a Reset)
 *   scheme 2:  Literal 2     bbbbbbbb, and a 0 bit after the byte 0xFF
 *   both:      Control       1 1111 1111 cccc (nine ones: a copy pointer
 *              with count prefix 1111 and xxxxxxxx >= 0xF0 in scheme 1, a
 *              0xFF byte whose extra bit is 1 in scheme 2)
 *                0 Flush, 1 Scheme 1, 2 Scheme 2, 3 File Mark,
 *                4 End of Record, 5 Reset 1, 6 Reset 2, 15 End Marker;
 *                7-14 reserved
 *              Flush and File Mark are followed by pad to the next 32-bit
 *              boundary of the stream.
 *
 * The decoder writes straight into the output buffer and reads history
 * back from it: location d, with the write location w = (bytes since the
 * last Reset) mod 1024, is the byte ((w - d) mod 1024, or 1024 when equal)
 * bytes back, so no separate 1 KiB ring is kept and a copy is a memcpy
 * when it does not overlap itself. */
#include "sldc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HISTORY 1024
#define MIN_MATCH 2
#define MAX_MATCH 271

enum {
    CS_FLUSH = 0,
    CS_SCHEME1 = 1,
    CS_SCHEME2 = 2,
    CS_FILE_MARK = 3,
    CS_EOR = 4,
    CS_RESET1 = 5,
    CS_RESET2 = 6,
    CS_END_MARKER = 15
};

/* ---- decoding ---- */

/* Bits not yet consumed are held left-aligned in acc (n of them); bytes are
 * loaded from in[pos] only while pos < len, so nothing past the input is
 * ever read. */
struct reader {
    const unsigned char *in;
    size_t len, pos;
    uint64_t acc;
    unsigned n;
};

static void refill(struct reader *r)
{
    while (r->n <= 56 && r->pos < r->len) {
        r->acc |= (uint64_t)r->in[r->pos++] << (56 - r->n);
        r->n += 8;
    }
}

static void consume(struct reader *r, unsigned k)
{
    r->acc = k < 64 ? r->acc << k : 0;
    r->n -= k;
}

/* Bits consumed so far, from the start of the stream. */
static size_t bit_pos(const struct reader *r)
{
    return r->pos * 8 - r->n;
}

static int le32_is(const unsigned char *p, size_t v)
{
    uint32_t x = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return x == (uint32_t)v;
}

/* After an End of Record (or End Marker): is the rest of the input only
 * what may follow the last record? Zero bits to the byte boundary, then
 * zero bytes (the pad an encoder writes to its 16- or 32-bit boundary),
 * optionally ending with the decompressed length as 4 bytes little-endian
 * (what Windows appends). The scan stops at the first nonzero byte, and the
 * caller then decodes those same bytes as data, so the checks stay linear
 * overall. */
static int rest_is_trailer(const struct reader *r, size_t produced)
{
    size_t bit = bit_pos(r), b = bit / 8;
    if (bit % 8) {
        if (r->in[b] & (0xFFu >> (bit % 8)))
            return 0;
        b++;
    }
    size_t i = b;
    while (i < r->len && r->in[i] == 0)
        i++;
    if (i == r->len)
        return 1;
    return r->len - b >= 4 && i >= r->len - 4 && le32_is(r->in + r->len - 4, produced);
}

struct dec {
    struct wsm_buf *out;
    size_t start;    /* out->len on entry */
    size_t limit;    /* out->len may not pass this */
    size_t reset_at; /* out->len at the last Reset */
};

static enum wsm_err room(struct dec *d, size_t k)
{
    struct wsm_buf *o = d->out;
    if (k > d->limit - o->len)
        return WSM_ERR_QUOTA;
    if (o->len + k + 1 > o->alloc) {
        /* wsm__buf_reserve doubles the allocation: amortised O(1) a byte.
         * Its own cap is a quota on the output too. */
        enum wsm_err e = wsm__buf_reserve(o, k);
        if (e)
            return e == WSM_ERR_ENVELOPE_TOO_LARGE ? WSM_ERR_QUOTA : e;
    }
    return WSM_OK;
}

static inline enum wsm_err emit_byte(struct dec *d, unsigned char c)
{
    struct wsm_buf *o = d->out;
    if (o->len + 2 > o->alloc || o->len >= d->limit) {
        enum wsm_err e = room(d, 1);
        if (e)
            return e;
    }
    o->data[o->len++] = (char)c;
    return WSM_OK;
}

static enum wsm_err emit_copy(struct dec *d, unsigned loc, unsigned count)
{
    struct wsm_buf *o = d->out;
    size_t since = o->len - d->reset_at;
    unsigned w = (unsigned)(since % HISTORY);
    size_t dist = (w - loc) & (HISTORY - 1);
    if (dist == 0)
        dist = HISTORY;
    if (dist > since) /* a location not written since the last Reset */
        return WSM_ERR_ENCODING;
    enum wsm_err e = room(d, count);
    if (e)
        return e;
    char *dst = o->data + o->len;
    const char *src = dst - dist;
    if (dist >= count) {
        memcpy(dst, src, count);
    } else {
        /* Overlapping: each byte copied is history for the next ones. */
        for (unsigned i = 0; i < count; i++)
            dst[i] = src[i];
    }
    o->len += count;
    return WSM_OK;
}

/* Leading ones in a 4-bit value: selects the match count field's form. */
static const unsigned char ones4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 4};
static const unsigned char count_width[5] = {1, 2, 3, 4, 8};
static const unsigned short count_base[5] = {2, 4, 8, 16, 32};

static enum wsm_err decode(struct reader *r, struct dec *d)
{
    int scheme = 0;     /* 0 until the first Reset or Scheme symbol */
    int terminated = 0; /* the last symbol ended a record */
    enum wsm_err e;

    for (;;) {
        if (terminated && rest_is_trailer(r, d->out->len - d->start))
            return WSM_OK;
        refill(r);
        if (r->n == 0)
            return WSM_ERR_ENCODING; /* ran out before End of Record */
        int code = -1;
        if (scheme == 2) {
            if (r->n >= 9 && (r->acc >> 55) == 0x1FF) {
                if (r->n < 13)
                    return WSM_ERR_ENCODING;
                code = (int)((r->acc >> 51) & 0xF);
                consume(r, 13);
            } else {
                if (r->n < 8)
                    return WSM_ERR_ENCODING;
                unsigned c = (unsigned)(r->acc >> 56);
                if (c == 0xFF && r->n < 9)
                    return WSM_ERR_ENCODING;
                consume(r, c == 0xFF ? 9 : 8);
                if ((e = emit_byte(d, (unsigned char)c)))
                    return e;
                terminated = 0;
                continue;
            }
        } else if (!(r->acc >> 63)) {
            if (r->n < 9)
                return WSM_ERR_ENCODING;
            if (!scheme)
                return WSM_ERR_ENCODING;
            unsigned c = (unsigned)(r->acc >> 55) & 0xFF;
            consume(r, 9);
            if ((e = emit_byte(d, (unsigned char)c)))
                return e;
            terminated = 0;
            continue;
        } else {
            /* A copy pointer, or (nine ones) a control symbol: both take
             * at least 13 bits. */
            if (r->n < 13)
                return WSM_ERR_ENCODING;
            unsigned k = ones4[(r->acc >> 59) & 0xF];
            unsigned prefix = 1 + k + (k < 4), width = count_width[k];
            unsigned v = (unsigned)(r->acc >> (64 - prefix - width)) & ((1u << width) - 1);
            if (k == 4 && v >= 0xF0) {
                code = (int)(v & 0xF);
                consume(r, 13);
            } else {
                if (r->n < prefix + width + 10)
                    return WSM_ERR_ENCODING;
                if (!scheme)
                    return WSM_ERR_ENCODING;
                unsigned loc = (unsigned)(r->acc >> (54 - prefix - width)) & 0x3FF;
                consume(r, prefix + width + 10);
                if ((e = emit_copy(d, loc, count_base[k] + v)))
                    return e;
                terminated = 0;
                continue;
            }
        }

        switch (code) {
        case CS_FLUSH:
        case CS_FILE_MARK: {
            /* Pad to the next 32-bit boundary (or the end of the input:
             * the loop then decides whether ending here is allowed). */
            size_t bit = bit_pos(r), total = r->len * 8;
            size_t to = (bit + 31) & ~(size_t)31;
            size_t skip = (to < total ? to : total) - bit;
            while (skip) {
                refill(r);
                unsigned k = skip < r->n ? (unsigned)skip : r->n;
                consume(r, k);
                skip -= k;
            }
            break;
        }
        case CS_SCHEME1:
        case CS_SCHEME2:
            scheme = code == CS_SCHEME1 ? 1 : 2;
            break;
        case CS_RESET1:
        case CS_RESET2:
            scheme = code == CS_RESET1 ? 1 : 2;
            d->reset_at = d->out->len;
            break;
        case CS_EOR:
            terminated = 1;
            break;
        case CS_END_MARKER: {
            /* The end of the stream: nothing may follow but pad to the next
             * 32-bit boundary, or a trailer as after End of Record. */
            size_t to = (bit_pos(r) + 31) & ~(size_t)31;
            if (r->len * 8 <= to || rest_is_trailer(r, d->out->len - d->start))
                return WSM_OK;
            return WSM_ERR_ENCODING;
        }
        default:
            return WSM_ERR_ENCODING; /* reserved */
        }
    }
}

enum wsm_err wsm__sldc_decompress(const unsigned char *in, size_t len, struct wsm_buf *out,
                                  size_t max_out)
{
    if (!out || (!in && len))
        return WSM_ERR_INVALID_ARG;
    struct reader r = {in, len, 0, 0, 0};
    struct dec d = {out, out->len, 0, out->len};
    d.limit = max_out > SIZE_MAX - out->len ? SIZE_MAX : out->len + max_out;
    enum wsm_err e = decode(&r, &d);
    if (e) {
        out->len = d.start;
        if (out->data)
            out->data[out->len] = '\0';
        return e;
    }
    if (!out->data && (e = wsm__buf_reserve(out, 0)))
        return e;
    out->data[out->len] = '\0';
    return WSM_OK;
}

int wsm__sldc_is_plain(const unsigned char *in, size_t len)
{
    if (len == 0)
        return 1;
    if (in[0] == '<')
        return 1;
    if (len >= 2 && ((in[0] == 0xFF && in[1] == 0xFE) || (in[0] == 0xFE && in[1] == 0xFF)))
        return 1;
    return len >= 3 && in[0] == 0xEF && in[1] == 0xBB && in[2] == 0xBF;
}

/* ---- encoding ---- */

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
