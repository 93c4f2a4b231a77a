/* Xpress LZ77+Huffman ([MS-XCA] 2.1, 2.2) and the block framing of remote
 * shell streams (MS-WSMV 3.2.4.1.19, product note <134>). Written from the
 * specification's description; see xpress.h. */
#include "xpress.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NSYM 512
#define MAXBITS 15
#define TABLE_BYTES 256
#define EOF_SYM 256

/* ---- LZ77 phase ------------------------------------------------------ */

#define HBITS 12
#define CHAIN 2      /* candidates tried per position: speed over ratio */
#define GOOD_LEN 32  /* a match this long ends the search */
#define INSERT_MAX 4 /* positions of a match entered in the hash chains */

struct token {
    uint32_t len; /* 0: literal */
    uint16_t dist;
    uint8_t lit;
};

struct lz {
    int32_t head[1 << HBITS];
    int32_t prev[WSM_XPRESS_BLOCK];
};

static unsigned hash3(const unsigned char *p)
{
    uint32_t v = ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2];
    return (v * 2654435761u) >> (32 - HBITS);
}

static unsigned high_bit(unsigned v) /* v > 0 */
{
    return 31u - (unsigned)__builtin_clz(v);
}

static void lz_insert(struct lz *z, const unsigned char *in, size_t len, size_t i)
{
    if (i + 3 > len)
        return;
    unsigned h = hash3(in + i);
    z->prev[i] = z->head[h];
    z->head[h] = (int32_t)i;
}

/* Greedy LZ77 with hash chains; counts the Huffman symbols on the way. */
static size_t lz77(const unsigned char *in, size_t len, struct lz *z, struct token *t,
                   uint32_t freq[NSYM])
{
    size_t n = 0;
    for (size_t i = 0; i < (1u << HBITS); i++)
        z->head[i] = -1;
    size_t i = 0;
    while (i < len) {
        uint32_t best = 0, bdist = 0;
        if (i + 3 <= len) {
            int32_t c = z->head[hash3(in + i)];
            size_t maxl = len - i;
            for (int k = 0; c >= 0 && k < CHAIN; k++, c = z->prev[c]) {
                size_t d = i - (size_t)c;
                if (d > 65535)
                    break;
                if (in[c + best] != in[i + best] || in[c] != in[i])
                    continue;
                uint32_t l = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                while (l + 8 <= maxl) { /* 8 bytes at a time */
                    uint64_t x, y;
                    memcpy(&x, in + c + l, 8);
                    memcpy(&y, in + i + l, 8);
                    if (x != y) {
                        l += (uint32_t)__builtin_ctzll(x ^ y) / 8; /* little-endian */
                        goto found;
                    }
                    l += 8;
                }
#endif
                while (l < maxl && in[c + l] == in[i + l])
                    l++;
            found:
                if (l > best) {
                    best = l;
                    bdist = (uint32_t)d;
                    if (l >= GOOD_LEN || l == maxl)
                        break;
                }
            }
        }
        if (best >= 3) {
            t[n].len = best;
            t[n].dist = (uint16_t)bdist;
            uint32_t ls = best - 3 < 15 ? best - 3 : 15;
            freq[256 + ls + 16 * high_bit(bdist)]++;
            /* Long runs need not all be findable: the first positions
             * of a match are enough for text, and much faster. */
            for (size_t k = 0; k < best && k < INSERT_MAX; k++)
                lz_insert(z, in, len, i + k);
            i += best;
        } else {
            t[n].len = 0;
            t[n].lit = in[i];
            freq[in[i]]++;
            lz_insert(z, in, len, i);
            i++;
        }
        n++;
    }
    freq[EOF_SYM]++;
    return n;
}

/* ---- Huffman code construction -------------------------------------- */

struct sf {
    uint32_t f;
    uint16_t s;
};

static int sf_cmp(const void *a, const void *b)
{
    const struct sf *x = a, *y = b;
    if (x->f != y->f)
        return x->f < y->f ? -1 : 1;
    return (int)x->s - (int)y->s;
}

/* Bit lengths of a Huffman code for freq, none above MAXBITS (halving the
 * counts until the tree is shallow enough: rare, and always ends). */
static void code_lengths(const uint32_t freq_in[NSYM], uint8_t len[NSYM])
{
    uint32_t freq[NSYM];
    memcpy(freq, freq_in, sizeof(freq));
    memset(len, 0, NSYM);
    for (;;) {
        struct sf l[NSYM];
        size_t n = 0;
        for (unsigned s = 0; s < NSYM; s++)
            if (freq[s])
                l[n++] = (struct sf){freq[s], (uint16_t)s};
        if (n == 1) {
            /* One symbol still needs a complete code: pair it with one
             * that never occurs. */
            len[l[0].s] = 1;
            len[l[0].s == 0 ? 1 : 0] = 1;
            return;
        }
        qsort(l, n, sizeof(l[0]), sf_cmp);
        uint64_t w[2 * NSYM];
        uint16_t parent[2 * NSYM];
        uint8_t depth[2 * NSYM];
        for (size_t i = 0; i < n; i++)
            w[i] = l[i].f;
        size_t li = 0, ii = n, k;
        for (k = n; k < 2 * n - 1; k++) {
            size_t pick[2];
            for (int j = 0; j < 2; j++) {
                if (li < n && (ii >= k || w[li] <= w[ii]))
                    pick[j] = li++;
                else
                    pick[j] = ii++;
            }
            w[k] = w[pick[0]] + w[pick[1]];
            parent[pick[0]] = parent[pick[1]] = (uint16_t)k;
        }
        depth[2 * n - 2] = 0;
        unsigned maxd = 0;
        for (size_t i = 2 * n - 2; i-- > 0;) {
            depth[i] = (uint8_t)(depth[parent[i]] + 1);
            if (i < n && depth[i] > maxd)
                maxd = depth[i];
        }
        if (maxd <= MAXBITS) {
            for (size_t i = 0; i < n; i++)
                len[l[i].s] = depth[i];
            return;
        }
        for (unsigned s = 0; s < NSYM; s++)
            if (freq[s])
                freq[s] = (freq[s] + 1) / 2;
    }
}

/* Canonical codes: by length, then symbol (the decoder's table order). */
static void canonical(const uint8_t len[NSYM], uint16_t code[NSYM])
{
    unsigned c = 0;
    for (unsigned bl = 1; bl <= MAXBITS; bl++) {
        for (unsigned s = 0; s < NSYM; s++)
            if (len[s] == bl)
                code[s] = (uint16_t)c++;
        c <<= 1;
    }
}

/* ---- Final encoding -------------------------------------------------- */

/* The bit writer of [MS-XCA] 2.1.4.3: 16-bit words filled from the top,
 * two word slots reserved ahead so that the bytes of long match lengths
 * land where a decoder reading words finds them. */
struct bw {
    unsigned char *o;
    size_t cap, p1, p2, pos;
    uint32_t next;
    int free;
    int err;
};

static inline void put16(struct bw *b, size_t at, unsigned v)
{
    if (at + 2 > b->cap) {
        b->err = 1;
        return;
    }
    b->o[at] = (unsigned char)(v & 0xff);
    b->o[at + 1] = (unsigned char)((v >> 8) & 0xff);
}

static inline void write_bits(struct bw *b, int n, uint32_t bits)
{
    if (b->free >= n) {
        b->free -= n;
        b->next = (b->next << n) | bits;
        return;
    }
    b->next = (b->next << b->free) | (bits >> (n - b->free));
    put16(b, b->p1, b->next & 0xffff);
    b->p1 = b->p2;
    b->p2 = b->pos;
    b->pos += 2;
    b->free += 16 - n;
    b->next = bits;
}

static void write_byte(struct bw *b, unsigned v)
{
    if (b->pos + 1 > b->cap) {
        b->err = 1;
        return;
    }
    b->o[b->pos++] = (unsigned char)v;
}

enum wsm_err wsm__xpress_huff_compress(const unsigned char *in, size_t len, struct wsm_buf *out)
{
    if (len > WSM_XPRESS_BLOCK)
        return WSM_ERR_INVALID_ARG;
    struct lz *z = malloc(sizeof(*z));
    struct token *t = malloc((len ? len : 1) * sizeof(*t));
    enum wsm_err e = WSM_OK;
    if (!z || !t) {
        e = WSM_ERR_NOMEM;
        goto done;
    }
    uint32_t freq[NSYM] = {0};
    size_t nt = lz77(in, len, z, t, freq);
    uint8_t bl[NSYM];
    uint16_t code[NSYM] = {0};
    code_lengths(freq, bl);
    canonical(bl, code);

    /* A token takes at most 15 + 15 bits and 3 length bytes. */
    size_t cap = TABLE_BYTES + 8 + 8 * nt;
    if ((e = wsm__buf_reserve(out, cap)))
        goto done;
    struct bw b = {(unsigned char *)out->data + out->len, cap, 256, 258, 260, 0, 16, 0};
    for (unsigned s = 0; s < NSYM; s += 2)
        b.o[s / 2] = (unsigned char)(bl[s] | (bl[s + 1] << 4));
    for (size_t i = 0; i < nt; i++) {
        if (!t[i].len) {
            write_bits(&b, bl[t[i].lit], code[t[i].lit]);
            continue;
        }
        uint32_t l = t[i].len - 3, d = t[i].dist;
        unsigned hb = high_bit(d);
        unsigned sym = 256 + (l < 15 ? l : 15) + 16 * hb;
        write_bits(&b, bl[sym], code[sym]);
        if (l >= 15) {
            if (l - 15 < 255) {
                write_byte(&b, l - 15);
            } else {
                write_byte(&b, 255);
                /* l < 65536: blocks are at most 64 KiB */
                write_byte(&b, l & 0xff);
                write_byte(&b, l >> 8);
            }
        }
        if (hb)
            write_bits(&b, (int)hb, d - (1u << hb));
    }
    write_bits(&b, bl[EOF_SYM], code[EOF_SYM]);
    b.next <<= b.free;
    put16(&b, b.p1, b.next & 0xffff);
    put16(&b, b.p2, 0);
    if (b.err) {
        e = WSM_ERR_INTERNAL;
        goto done;
    }
    out->len += b.pos;
    out->data[out->len] = '\0';
done:
    free(z);
    free(t);
    return e;
}

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

enum wsm_err wsm__xpress_huff_decompress(const unsigned char *in, size_t len, unsigned char *out,
                                         size_t out_len)
{
    if (out_len > WSM_XPRESS_BLOCK || len < TABLE_BYTES + 4)
        return WSM_ERR_ENCODING;
    uint8_t bl[NSYM];
    for (unsigned s = 0; s < NSYM; s += 2) {
        bl[s] = in[s / 2] & 15;
        bl[s + 1] = in[s / 2] >> 4;
    }
    uint16_t *table = malloc(sizeof(uint16_t) << MAXBITS);
    if (!table)
        return WSM_ERR_NOMEM;
    /* The table of [MS-XCA] 2.2.4: a complete code fills it exactly. */
    size_t at = 0;
    enum wsm_err e = WSM_OK;
    for (unsigned b = 1; b <= MAXBITS && !e; b++)
        for (unsigned s = 0; s < NSYM && !e; s++) {
            if (bl[s] != b)
                continue;
            size_t cnt = (size_t)1 << (MAXBITS - b);
            if (at + cnt > ((size_t)1 << MAXBITS)) {
                e = WSM_ERR_ENCODING;
                break;
            }
            for (size_t k = 0; k < cnt; k++)
                table[at++] = (uint16_t)s;
        }
    if (!e && at != ((size_t)1 << MAXBITS))
        e = WSM_ERR_ENCODING;

    struct br r = {in, len, TABLE_BYTES, 0};
    uint32_t next = rd16(&r) << 16;
    next |= rd16(&r);
    int extra = 16;
    size_t o = 0;
    while (!e && o < out_len) {
        unsigned sym = table[next >> (32 - MAXBITS)];
        int n = bl[sym];
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
        if (off >= 8) { /* no overlap within 8 bytes: word copies */
            size_t k = 0;
            for (; k + 8 <= ml; k += 8)
                memcpy(out + o + k, out + o + k - off, 8);
            for (; k < ml; k++)
                out[o + k] = out[o + k - off];
            o += ml;
        } else {
            for (size_t k = 0; k < ml; k++, o++)
                out[o] = out[o - off];
        }
    }
    /* The writer's last two words are always there: a decoder that needs
     * more than them ran out of input. */
    if (!e && r.over > 4)
        e = WSM_ERR_ENCODING;
    free(table);
    return e;
}

/* ---- Stream framing -------------------------------------------------- */

size_t wsm__xpress_bound(size_t len)
{
    return len + 4 * (len / WSM_XPRESS_BLOCK + 1);
}

static enum wsm_err put_hdr(struct wsm_buf *out, size_t orig, size_t comp)
{
    unsigned char h[4] = {(unsigned char)((orig - 1) & 0xff), (unsigned char)((orig - 1) >> 8),
                          (unsigned char)((comp - 1) & 0xff), (unsigned char)((comp - 1) >> 8)};
    return wsm__buf_add(out, h, 4);
}

enum wsm_err wsm__xpress_frame(const unsigned char *in, size_t len, struct wsm_buf *out)
{
    size_t start = out->len;
    enum wsm_err e = WSM_OK;
    for (size_t p = 0; p < len && !e;) {
        size_t n = len - p < WSM_XPRESS_BLOCK ? len - p : WSM_XPRESS_BLOCK;
        size_t h = out->len;
        if (n >= WSM_XPRESS_MIN) {
            if (!(e = put_hdr(out, n, n)) && !(e = wsm__xpress_huff_compress(in + p, n, out))) {
                size_t c = out->len - h - 4;
                if (c < n) {
                    out->data[h + 2] = (char)((c - 1) & 0xff);
                    out->data[h + 3] = (char)((c - 1) >> 8);
                    p += n;
                    continue;
                }
                out->len = h; /* did not shrink: stored as is */
            }
        }
        if (!e && !(e = put_hdr(out, n, n)))
            e = wsm__buf_add(out, in + p, n);
        p += n;
    }
    if (e)
        out->len = start;
    return e;
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
