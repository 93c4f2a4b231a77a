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
 * when it does not overlap itself. The encoder (wsm__sldc_compress) is in
 * sldc_enc.c. */
#include "sldc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sldc_priv.h"

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
