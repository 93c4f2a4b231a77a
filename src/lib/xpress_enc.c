/* Xpress LZ77+Huffman compression ([MS-XCA] 2.1) and the block framing of
 * remote shell streams that uses it (MS-WSMV 3.2.4.1.19, product note
 * <134>). The decoder and the unframing are in xpress.c. Written from the
 * specification's description; see xpress.h and
 * docs/internals/shell-encoding.md. */
#include "xpress.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define NSYM 512
#define MAXBITS 15
#define TABLE_BYTES 256
#define EOF_SYM 256

/* ---- LZ77 phase ------------------------------------------------------ */

/* One probe of a hash of 4 bytes per position, as LZ4 does: a chain of
 * candidates or 3-byte matches gain a few percent of size on shell text
 * (whose 3-byte matches rarely pay for their distance bits) at more than
 * twice the time, and the time is what a compressed Receive waits for. */
#define HBITS 14
#define MIN_MATCH 4
/* After 2^SKIP misses in a row, every other position is looked at, then
 * every third...: data that does not compress passes quickly. */
#define SKIP 6

struct seq {
    uint32_t lits; /* literals before the match, taken from the input */
    uint32_t len;  /* the match's length; 0 in the last sequence only */
    uint32_t dist;
};

/* The compressor's memory, made once per wsm__xpress_frame call and
 * thread. head holds positions in the block (every candidate is compared
 * before use, so a colliding entry costs a miss, never a wrong match); it
 * is cleared per block so that a block's bytes depend on it alone. */
struct xpress_ws {
    uint16_t head[1 << HBITS];
    struct seq seq[WSM_XPRESS_BLOCK / MIN_MATCH + 1];
};

static inline uint32_t rd32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline unsigned hash4(uint32_t v)
{
    return (v * 2654435761u) >> (32 - HBITS);
}

static inline unsigned high_bit(unsigned v) /* v > 0 */
{
    return 31u - (unsigned)__builtin_clz(v);
}

/* Equal bytes of a and b, at most max. */
static inline size_t match_len(const unsigned char *a, const unsigned char *b, size_t max)
{
    size_t l = 0;
#if defined(__SSE2__)
    /* 32 bytes a step, one branch: most matches of text end within the
     * first step (a loop of 8-byte steps mispredicts its exit once per
     * match, at any length). */
    while (l + 32 <= max) {
        __m128i x0 = _mm_loadu_si128((const __m128i *)(a + l));
        __m128i y0 = _mm_loadu_si128((const __m128i *)(b + l));
        __m128i x1 = _mm_loadu_si128((const __m128i *)(a + l + 16));
        __m128i y1 = _mm_loadu_si128((const __m128i *)(b + l + 16));
        uint32_t eq = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x0, y0)) |
                      (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x1, y1)) << 16;
        if (eq != 0xffffffffu)
            return l + (size_t)__builtin_ctz(~eq);
        l += 32;
    }
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (l + 8 <= max) {
        uint64_t x, y;
        memcpy(&x, a + l, 8);
        memcpy(&y, b + l, 8);
        if (x != y)
            return l + (size_t)__builtin_ctzll(x ^ y) / 8;
        l += 8;
    }
#endif
    while (l < max && a[l] == b[l])
        l++;
    return l;
}

/* What lz77 found: the sequences, the symbol counts, and what the symbols
 * are followed by (distance bits, long-length bytes). */
struct lzres {
    size_t nseq;
    uint64_t xbits;
    size_t xbytes;
};

static struct lzres lz77(const unsigned char *in, size_t len, struct xpress_ws *w,
                         uint32_t freq[NSYM])
{
    struct seq *s = w->seq;
    struct lzres r = {0, 0, 0};
    /* in[lit..i) are literals, already counted in freq: each is counted
     * as the scan passes it (a loop per sequence over its literals
     * mispredicted its exit at nearly every match). */
    size_t i = 0, lit = 0;
    if (len >= 12) {
        size_t end = len - 8; /* 4-byte reads and a match of 4 stay inside */
        unsigned miss = 0;
        while (i < end) {
            uint32_t v = rd32(in + i);
            unsigned h = hash4(v);
            size_t c = w->head[h];
            w->head[h] = (uint16_t)i;
            if (c >= i || rd32(in + c) != v) {
                unsigned step = 1 + (miss++ >> SKIP);
                if (step == 1) {
                    freq[in[i++]]++;
                } else {
                    for (size_t e = i + step < len ? i + step : len; i < e; i++)
                        freq[in[i]]++;
                }
                continue;
            }
            miss = 0;
            size_t l = MIN_MATCH + match_len(in + c + 4, in + i + 4, len - i - 4);
            while (i > lit && c > 0 && in[c - 1] == in[i - 1]) { /* earlier equal bytes */
                i--;
                c--;
                l++;
                freq[in[i]]--; /* not a literal after all */
            }
            uint32_t d = (uint32_t)(i - c), m = (uint32_t)l - 3;
            unsigned hb = high_bit(d);
            freq[256 + (m < 15 ? m : 15) + 16 * hb]++;
            r.xbits += hb;
            r.xbytes += (size_t)(m >= 15) + 2 * (size_t)(m >= 15 + 255);
            s[r.nseq++] = (struct seq){(uint32_t)(i - lit), (uint32_t)l, d};
            i += l;
            lit = i;
            /* Text often goes on as it did after the match's source: the
             * position just before the end is worth finding again. */
            if (i - 2 < end)
                w->head[hash4(rd32(in + i - 2))] = (uint16_t)(i - 2);
        }
    }
    for (size_t k = i; k < len; k++)
        freq[in[k]]++;
    s[r.nseq++] = (struct seq){(uint32_t)(len - lit), 0, 0};
    freq[EOF_SYM]++;
    return r;
}

/* ---- Huffman code construction -------------------------------------- */

/* Sorts keys (count << 9 | symbol), gathered in symbol order, by count and
 * then symbol: a stable radix sort on the count (at most 2^16 + 1, so two
 * passes of 9 bits). A few hundred keys per block; a comparison sort of
 * them took as long as the rest of the code construction. */
static void sort_keys(uint64_t *k, size_t n)
{
    uint64_t tmp[NSYM];
    unsigned h0[512] = {0}, h1[512] = {0};
    for (size_t i = 0; i < n; i++) {
        h0[(k[i] >> 9) & 511]++;
        h1[(k[i] >> 18) & 511]++;
    }
    unsigned a = 0, b = 0;
    for (unsigned i = 0; i < 512; i++) {
        unsigned x = h0[i], y = h1[i];
        h0[i] = a;
        h1[i] = b;
        a += x;
        b += y;
    }
    for (size_t i = 0; i < n; i++)
        tmp[h0[(k[i] >> 9) & 511]++] = k[i];
    for (size_t i = 0; i < n; i++)
        k[h1[(tmp[i] >> 18) & 511]++] = tmp[i];
}

/* Bit lengths of a Huffman code for freq, none above MAXBITS (halving the
 * counts until the tree is shallow enough: rare, and always ends). */
static void code_lengths(const uint32_t freq_in[NSYM], uint8_t len[NSYM])
{
    uint32_t freq[NSYM];
    memcpy(freq, freq_in, sizeof(freq));
    memset(len, 0, NSYM);
    for (;;) {
        uint64_t l[NSYM];
        size_t n = 0;
        for (unsigned s = 0; s < NSYM; s++)
            if (freq[s])
                l[n++] = (uint64_t)freq[s] << 9 | s;
        if (n == 1) {
            /* One symbol still needs a complete code: pair it with one
             * that never occurs. */
            unsigned s = (unsigned)(l[0] & 511);
            len[s] = 1;
            len[s == 0 ? 1 : 0] = 1;
            return;
        }
        sort_keys(l, n); /* by count, then symbol */
        uint64_t w[2 * NSYM];
        uint16_t parent[2 * NSYM];
        uint8_t depth[2 * NSYM];
        for (size_t i = 0; i < n; i++)
            w[i] = l[i] >> 9;
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
                len[l[i] & 511] = depth[i];
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
    unsigned count[MAXBITS + 1] = {0}, next[MAXBITS + 1];
    for (unsigned s = 0; s < NSYM; s++)
        count[len[s]]++;
    count[0] = 0;
    unsigned c = 0;
    for (unsigned bl = 1; bl <= MAXBITS; bl++) {
        c = (c + count[bl - 1]) << 1; /* the first code of bl bits */
        next[bl] = c;
    }
    for (unsigned s = 0; s < NSYM; s++)
        if (len[s])
            code[s] = (uint16_t)next[len[s]]++;
}

/* ---- Final encoding -------------------------------------------------- */

/* The bit writer of [MS-XCA] 2.1.4.3: 16-bit words filled from the top,
 * two word slots reserved ahead so that the bytes of long match lengths
 * land where a decoder reading words finds them. The specification's
 * writer puts a word in its slot whenever more than 16 bits wait; this
 * one lets up to 48 wait and then writes three words at once (a third of
 * the tests, the same bytes), and before a byte it writes the words the
 * specification's would have by then (catch_up), since that moves the
 * slots and so the byte's place. The caller reserved room for everything
 * and 16 bytes beyond, so nothing here checks it. */
struct bw {
    unsigned char *o;
    size_t p1, p2, pos;
    uint64_t acc;  /* the waiting bits, from the top */
    unsigned bits; /* <= 48 between calls */
};

static inline void put16(unsigned char *o, size_t at, uint64_t w)
{
    o[at] = (unsigned char)(w & 0xff);
    o[at + 1] = (unsigned char)((w >> 8) & 0xff);
}

static inline void put_bits(struct bw *b, unsigned n, uint32_t v) /* n <= 15 */
{
    b->acc |= ((uint64_t)v << (63 - b->bits - n)) << 1; /* n = 0 and bits = 0 too */
    b->bits += n;
    if (b->bits > 48) { /* words for p1, p2 and the slot after: all reserved */
        put16(b->o, b->p1, b->acc >> 48);
        put16(b->o, b->p2, b->acc >> 32);
        put16(b->o, b->pos, b->acc >> 16);
        b->p1 = b->pos + 2;
        b->p2 = b->pos + 4;
        b->pos += 6;
        b->acc <<= 48;
        b->bits -= 48;
    }
}

/* Down to at most 16 waiting bits, without a branch: the two words go
 * to p1 and p2 whether complete or not (an incomplete one is written
 * again when it is), and the slots move on by the complete ones. */
static inline void catch_up(struct bw *b)
{
    unsigned nf = (unsigned)(b->bits > 16) + (unsigned)(b->bits > 32);
    put16(b->o, b->p1, b->acc >> 48);
    put16(b->o, b->p2, b->acc >> 32);
    size_t slot[4] = {b->p1, b->p2, b->pos, b->pos + 2};
    b->p1 = slot[nf];
    b->p2 = slot[nf + 1];
    b->pos += 2 * nf;
    b->acc <<= 16 * nf;
    b->bits -= 16 * nf;
}

/* One LZ77+Huffman block of in[0..len) appended to out, or nothing (and
 * *stored set) when it would take limit bytes or more. */
static enum wsm_err huff_block(const unsigned char *in, size_t len, struct xpress_ws *w,
                               struct wsm_buf *out, size_t limit, int *stored)
{
    uint32_t freq[NSYM] = {0};
    struct lzres r = lz77(in, len, w, freq);
    uint8_t bl[NSYM];
    uint16_t code[NSYM] = {0};
    code_lengths(freq, bl);
    uint64_t bits = r.xbits;
    for (unsigned s = 0; s < NSYM; s++)
        bits += (uint64_t)freq[s] * bl[s];
    /* The table, the words, the bytes: within 4 bytes of the size (the
     * two slots ahead, the final flush), 16 reserved beyond (the writer
     * may write 3 bytes past its end, to be written over). */
    size_t size = TABLE_BYTES + 2 * (size_t)(bits / 16) + r.xbytes;
    *stored = size >= limit;
    if (*stored)
        return WSM_OK;
    size += 16;
    enum wsm_err e = wsm__buf_reserve(out, size);
    if (e)
        return e;
    canonical(bl, code);
    uint32_t ct[NSYM]; /* code << 4 | length: one load per symbol */
    for (unsigned s = 0; s < NSYM; s++)
        ct[s] = (uint32_t)code[s] << 4 | bl[s];
    unsigned char *o = (unsigned char *)out->data + out->len;
    struct bw b = {o, 256, 258, 260, 0, 0};
    for (unsigned s = 0; s < NSYM; s += 2)
        o[s / 2] = (unsigned char)(bl[s] | (bl[s + 1] << 4));
    const unsigned char *p = in;
    for (size_t q = 0; q < r.nseq; q++) {
        const struct seq *sq = &w->seq[q];
        for (const unsigned char *pe = p + sq->lits; p < pe; p++)
            put_bits(&b, ct[*p] & 15, ct[*p] >> 4);
        if (!sq->len)
            break;
        uint32_t l = sq->len - 3, d = sq->dist;
        unsigned hb = high_bit(d);
        unsigned sym = 256 + (l < 15 ? l : 15) + 16 * hb;
        put_bits(&b, ct[sym] & 15, ct[sym] >> 4);
        /* The length's bytes, 0, 1 or 3 (l < 65536: blocks are at most
         * 64 KiB), without a branch (four matches in ten of shell text have
         * them, at random): three written always, pos moved past those
         * that count; the rest is written over later. */
        catch_up(&b);
        unsigned big = l >= 15 + 255;
        o[b.pos] = (unsigned char)(big ? 255 : l - 15);
        o[b.pos + 1] = (unsigned char)(l & 0xff);
        o[b.pos + 2] = (unsigned char)(l >> 8);
        b.pos += (size_t)(l >= 15) + 2 * (size_t)big;
        put_bits(&b, hb, d - (1u << hb));
        p += sq->len;
    }
    put_bits(&b, bl[EOF_SYM], code[EOF_SYM]);
    catch_up(&b);
    put16(o, b.p1, b.acc >> 48); /* the last bits, zeros after them */
    o[b.p2] = o[b.p2 + 1] = 0;
    out->len += b.pos;
    out->data[out->len] = '\0';
    return WSM_OK;
}

enum wsm_err wsm__xpress_huff_compress(const unsigned char *in, size_t len, struct wsm_buf *out)
{
    if (len > WSM_XPRESS_BLOCK)
        return WSM_ERR_INVALID_ARG;
    struct xpress_ws *w = calloc(1, sizeof(*w));
    if (!w)
        return WSM_ERR_NOMEM;
    int stored;
    enum wsm_err e = huff_block(in, len, w, out, SIZE_MAX, &stored);
    free(w);
    return e;
}

/* ---- Stream framing -------------------------------------------------- */

static enum wsm_err put_hdr(struct wsm_buf *out, size_t orig, size_t comp)
{
    unsigned char h[4] = {(unsigned char)((orig - 1) & 0xff), (unsigned char)((orig - 1) >> 8),
                          (unsigned char)((comp - 1) & 0xff), (unsigned char)((comp - 1) >> 8)};
    return wsm__buf_add(out, h, 4);
}

/* One block (n <= WSM_XPRESS_BLOCK) with its header appended to out; w
 * may be NULL when n < WSM_XPRESS_MIN. */
static enum wsm_err frame_block(const unsigned char *in, size_t n, struct xpress_ws *w,
                                struct wsm_buf *out)
{
    size_t h = out->len;
    int stored = 1;
    enum wsm_err e = put_hdr(out, n, n);
    if (!e && n >= WSM_XPRESS_MIN) {
        /* Whoever compresses it, after whatever else: 32 KiB to clear. */
        memset(w->head, 0, sizeof(w->head));
        if (!(e = huff_block(in, n, w, out, n, &stored)) && !stored &&
            !(stored = out->len - h - 4 >= n)) { /* equal lengths would mean stored */
            size_t c = out->len - h - 4;
            out->data[h + 2] = (char)((c - 1) & 0xff);
            out->data[h + 3] = (char)((c - 1) >> 8);
        }
    }
    if (!e && stored) { /* short, or did not shrink: as is */
        out->len = h + 4;
        e = wsm__buf_add(out, in, n);
    }
    if (e)
        out->len = h;
    return e;
}

static size_t block_len(size_t len, size_t i)
{
    size_t p = i * WSM_XPRESS_BLOCK;
    return len - p < WSM_XPRESS_BLOCK ? len - p : WSM_XPRESS_BLOCK;
}

/* ---- A second thread ---------------------------------------------------
 *
 * A compressed Receive's reply waits for its compression: with another CPU
 * free, a helper thread compresses blocks meanwhile. The caller takes the
 * blocks from the first one up, appending them to out as it goes; the
 * helper takes them from the last one down, each into a buffer of its own;
 * one counter of blocks taken keeps them apart. So when the helper gets
 * less CPU than hoped (a loaded machine), the caller simply does more of
 * the blocks and waits only for the one the helper is on. Blocks do not
 * depend on each other: the bytes are the same as one thread's. At most
 * one helper per other CPU runs at a time, whoever asks. */

#define PAR_MIN (2 * WSM_XPRESS_BLOCK) /* less is not worth a thread */

static pthread_once_t ncpu_once = PTHREAD_ONCE_INIT;
static int helpers_max;
static atomic_int helpers;

static void ncpu_init(void)
{
    cpu_set_t set;
    int n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
    helpers_max = n > 1 ? n - 1 : 0;
}

struct shared {
    const unsigned char *in;
    size_t len, nb;
    atomic_size_t taken;  /* blocks claimed, by either */
    struct wsm_buf *back; /* back[i]: block i, when the helper did it */
    size_t nback;         /* the helper did blocks nb - nback .. nb - 1 */
    enum wsm_err e;       /* the helper's */
};

static void *helper_main(void *arg)
{
    struct shared *sh = arg;
    struct xpress_ws *w = malloc(sizeof(*w));
    if (!w)
        return NULL; /* it takes nothing: the caller does every block */
    while (atomic_fetch_add(&sh->taken, 1) < sh->nb) {
        size_t i = sh->nb - 1 - sh->nback;
        wsm__buf_init(&sh->back[i], 0);
        sh->nback++;
        if ((sh->e = frame_block(sh->in + i * WSM_XPRESS_BLOCK, block_len(sh->len, i), w,
                                 &sh->back[i])))
            break;
    }
    free(w);
    return NULL;
}

/* Starts a helper on sh; 0 when none may run or it cannot be made. */
static int helper_start(pthread_t *th, struct shared *sh)
{
    pthread_once(&ncpu_once, ncpu_init);
    if (atomic_fetch_add(&helpers, 1) >= helpers_max) {
        atomic_fetch_sub(&helpers, 1);
        return 0;
    }
    /* No signal for it: the daemon's threads choose theirs. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(th, NULL, helper_main, sh);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        atomic_fetch_sub(&helpers, 1);
        return 0;
    }
    return 1;
}

enum wsm_err wsm__xpress_frame(const unsigned char *in, size_t len, struct wsm_buf *out)
{
    size_t start = out->len, nb = (len + WSM_XPRESS_BLOCK - 1) / WSM_XPRESS_BLOCK;
    struct xpress_ws *w = NULL;
    if (len >= WSM_XPRESS_MIN && !(w = malloc(sizeof(*w))))
        return WSM_ERR_NOMEM;
    struct shared sh = {in, len, nb, 0, NULL, 0, WSM_OK};
    pthread_t th;
    int par = len >= PAR_MIN && (sh.back = calloc(nb, sizeof(*sh.back))) && helper_start(&th, &sh);
    enum wsm_err e = WSM_OK;
    for (size_t i = 0; !e && (par ? atomic_fetch_add(&sh.taken, 1) < nb : i < nb); i++)
        e = frame_block(in + i * WSM_XPRESS_BLOCK, block_len(len, i), w, out);
    if (par) {
        if (e) /* the helper takes nothing more */
            atomic_store(&sh.taken, nb);
        pthread_join(th, NULL);
        atomic_fetch_sub(&helpers, 1);
        if (!e)
            e = sh.e;
        for (size_t i = nb - sh.nback; i < nb; i++) {
            if (!e)
                e = wsm__buf_add(out, sh.back[i].data, sh.back[i].len);
            wsm__buf_free(&sh.back[i]);
        }
    }
    free(sh.back);
    free(w);
    if (e)
        out->len = start;
    return e;
}
