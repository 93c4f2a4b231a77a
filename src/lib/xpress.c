/* Xpress LZ77+Huffman decoding ([MS-XCA] 2.2) and the unframing of remote
 * shell streams (MS-WSMV 3.2.4.1.19, product note <134>); the encoder is in
 * xpress_enc.c. Written from the specification's description; see
 * xpress.h. */
#include "xpress.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NSYM 512
#define MAXBITS 15
#define TABLE_BYTES 256

/* ---- Decoding -------------------------------------------------------- */

struct br {
    const unsigned char *in;
    size_t len, pos;
    size_t over; /* bytes read past the end (as zeros) */
};

static unsigned rd8(struct br *r)
{
    if (r->pos < r->len)
        return r->in[r->pos++];
    r->pos++;
    r->over++;
    return 0;
}

static inline uint32_t rd16(struct br *r)
{
    if (r->pos + 2 <= r->len) {
        uint32_t v = (uint32_t)r->in[r->pos] | ((uint32_t)r->in[r->pos + 1] << 8);
        r->pos += 2;
        return v;
    }
    uint32_t lo = rd8(r);
    return lo | (rd8(r) << 8);
}

/* The decoding table. [MS-XCA] 2.2.4 fills a 2^15-entry table in (length,
 * symbol) order; its first 2^TBITS entries' worth (codes of up to TBITS
 * bits, nearly every symbol of text) are here, 4 KiB that stay in the L1
 * cache, each entry the symbol and its length (0: a longer code). Longer
 * codes are found from the same order: lim[L] is where the codes of L
 * bits end in the 15-bit table, base[L] where they begin, and sorted[]
 * the symbols in table order (first[L]: the first of length L). */
#define TBITS 11
struct dtab {
    uint16_t fast[1 << TBITS];
    uint32_t lim[MAXBITS + 1], base[MAXBITS + 1];
    uint16_t first[MAXBITS + 1];
    uint16_t sorted[NSYM];
    uint8_t bl[NSYM];
};

/* WSM_ERR_ENCODING unless the lengths make a complete code (one that
 * fills the 2^15 table exactly: neither incomplete nor oversubscribed). */
static enum wsm_err build_table(const unsigned char *in, struct dtab *t)
{
    unsigned count[MAXBITS + 1] = {0};
    for (unsigned s = 0; s < NSYM; s += 2) {
        t->bl[s] = in[s / 2] & 15;
        t->bl[s + 1] = in[s / 2] >> 4;
        count[t->bl[s]]++;
        count[t->bl[s + 1]]++;
    }
    uint32_t at = 0;
    unsigned k = 0;
    for (unsigned b = 1; b <= MAXBITS; b++) {
        t->base[b] = at;
        t->first[b] = (uint16_t)k;
        at += count[b] << (MAXBITS - b);
        t->lim[b] = at;
        k += count[b];
    }
    if (at != 1u << MAXBITS)
        return WSM_ERR_ENCODING;
    unsigned next[MAXBITS + 1];
    for (unsigned b = 1; b <= MAXBITS; b++)
        next[b] = t->first[b];
    for (unsigned s = 0; s < NSYM; s++)
        if (t->bl[s])
            t->sorted[next[t->bl[s]]++] = (uint16_t)s;
    size_t f = 0;
    for (unsigned b = 1; b <= TBITS; b++)
        for (unsigned i = t->first[b]; i < t->first[b] + count[b]; i++) {
            uint16_t ent = (uint16_t)(t->sorted[i] << 4 | b);
            for (size_t n = (size_t)1 << (TBITS - b); n--;)
                t->fast[f++] = ent;
        }
    memset(t->fast + f, 0, sizeof(t->fast) - f * sizeof(t->fast[0]));
    return WSM_OK;
}

/* The symbol at the top of next (a code of more than TBITS bits). */
static unsigned slow_sym(const struct dtab *t, uint32_t next, int *n)
{
    uint32_t v = next >> (32 - MAXBITS);
    unsigned b = TBITS + 1;
    while (v >= t->lim[b]) /* lim[MAXBITS] is 2^15: ends */
        b++;
    *n = (int)b;
    return t->sorted[t->first[b] + ((v - t->base[b]) >> (MAXBITS - b))];
}

enum wsm_err wsm__xpress_huff_decompress(const unsigned char *in, size_t len, unsigned char *out,
                                         size_t out_len)
{
    if (out_len > WSM_XPRESS_BLOCK || len < TABLE_BYTES + 4)
        return WSM_ERR_ENCODING;
    struct dtab t;
    enum wsm_err e = build_table(in, &t);
    if (e)
        return e;

    struct br r = {in, len, TABLE_BYTES, 0};
    uint32_t next = rd16(&r) << 16;
    next |= rd16(&r);
    int extra = 16;
    size_t o = 0;
    while (o < out_len) {
        unsigned ent = t.fast[next >> (32 - TBITS)], sym;
        int n;
        if (ent) {
            sym = ent >> 4;
            n = (int)(ent & 15);
        } else {
            sym = slow_sym(&t, next, &n);
        }
        next <<= n;
        extra -= n;
        if (extra < 0) {
            next |= rd16(&r) << (-extra);
            extra += 16;
        }
        if (sym < 256) {
            out[o++] = (unsigned char)sym;
            continue;
        }
        sym -= 256;
        size_t ml = sym & 15;
        unsigned ob = sym >> 4;
        if (ml == 15) {
            ml = rd8(&r);
            if (ml == 255) {
                ml = rd16(&r);
                if (ml < 15) {
                    e = WSM_ERR_ENCODING;
                    break;
                }
                ml -= 15;
            }
            ml += 15;
        }
        ml += 3;
        size_t off = ob ? (next >> (32 - ob)) : 0;
        off += (size_t)1 << ob;
        if (ob) {
            next <<= ob;
            extra -= (int)ob;
            if (extra < 0) {
                next |= rd16(&r) << (-extra);
                extra += 16;
            }
        }
        if (off > o || ml > out_len - o) {
            e = WSM_ERR_ENCODING;
            break;
        }
        unsigned char *d = out + o;
        const unsigned char *src = d - off;
        o += ml;
        if (off >= 16 && out_len - o >= 16) {
            /* 16 bytes at a time, the last copy running past the match
             * (not past out_len): later symbols write over it. */
            for (size_t k = 0; k < ml; k += 16)
                memcpy(d + k, src + k, 16);
        } else if (off >= 8) { /* no overlap within 8 bytes: word copies */
            size_t k = 0;
            for (; k + 8 <= ml; k += 8)
                memcpy(d + k, src + k, 8);
            for (; k < ml; k++)
                d[k] = src[k];
        } else {
            for (size_t k = 0; k < ml; k++)
                d[k] = src[k];
        }
    }
    /* The writer's last two words are always there: a decoder that needs
     * more than them ran out of input. */
    if (!e && r.over > 4)
        e = WSM_ERR_ENCODING;
    return e;
}

/* ---- Stream framing -------------------------------------------------- */

size_t wsm__xpress_bound(size_t len)
{
    return len + 4 * (len / WSM_XPRESS_BLOCK + 1);
}

enum wsm_err wsm__xpress_unframe(const unsigned char *in, size_t len, struct wsm_buf *out,
                                 size_t max_out)
{
    size_t start = out->len, total = 0;
    enum wsm_err e = WSM_OK;
    for (size_t p = 0; p < len && !e;) {
        if (len - p < 4) {
            e = WSM_ERR_ENCODING;
            break;
        }
        size_t orig = ((size_t)in[p] | ((size_t)in[p + 1] << 8)) + 1;
        size_t comp = ((size_t)in[p + 2] | ((size_t)in[p + 3] << 8)) + 1;
        p += 4;
        if (comp > len - p || comp > orig) {
            e = WSM_ERR_ENCODING;
            break;
        }
        if (orig > max_out - total) {
            e = WSM_ERR_QUOTA;
            break;
        }
        if ((e = wsm__buf_reserve(out, orig)))
            break;
        if (comp == orig)
            memcpy(out->data + out->len, in + p, orig);
        else
            e = wsm__xpress_huff_decompress(in + p, comp, (unsigned char *)out->data + out->len,
                                            orig);
        if (e)
            break;
        out->len += orig;
        out->data[out->len] = '\0';
        total += orig;
        p += comp;
    }
    if (e) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return e;
}
