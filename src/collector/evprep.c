/* wsmd__events_prepare: a delivery body in whatever encoding the source chose
 * -> UTF-8 that libxml2 accepts. It runs over every byte the collector
 * receives, so the common case (UTF-8 or UTF-16 with nothing to fix) is a
 * table lookup per byte or per code unit and a memcpy per run. */
#include "events.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* 1 for the bytes a plain copy must stop at: C0 controls other than tab,
 * LF and CR, '&' (a character reference may name a forbidden character),
 * and every byte of a multi-byte UTF-8 sequence (checked on its own). */
/* clang-format off */
static const unsigned char stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, /* 0x00 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
    0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x50 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x70 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x80 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x90 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xa0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xb0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xc0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xd0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xe0 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0xf0 */
};
/* clang-format on */

/* XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF] */
static int xml_char(uint32_t c)
{
    if (c < 0x20)
        return c == 0x9 || c == 0xA || c == 0xD;
    if (c < 0xD800)
        return 1;
    if (c < 0xE000)
        return 0;
    if (c < 0x10000)
        return c != 0xFFFE && c != 0xFFFF;
    return c <= 0x10FFFF;
}

struct sink {
    struct wsm_buf *b;
    size_t limit; /* b->len may not pass it */
    size_t nfixed;
};

static enum wsm_err put(struct sink *s, const void *p, size_t n)
{
    if (n > s->limit - s->b->len)
        return WSM_ERR_QUOTA;
    enum wsm_err e = wsm__buf_add(s->b, p, n);
    return e == WSM_ERR_ENVELOPE_TOO_LARGE ? WSM_ERR_QUOTA : e;
}

/* The escape for a forbidden code point: \uXXXX (4 hex digits, more when
 * the value needs them). Returns its length (at most 10). */
static size_t fmt_cp(char *o, uint32_t c)
{
    return (size_t)snprintf(o, 12, "\\u%04X", (unsigned)c);
}

static size_t fmt_byte(char *o, unsigned char b)
{
    static const char hex[] = "0123456789ABCDEF";
    o[0] = '\\';
    o[1] = 'x';
    o[2] = hex[b >> 4];
    o[3] = hex[b & 15];
    return 4;
}

/* At p[0] == '&' with get(i) giving the i-th character from there (or -1
 * past the end): a character reference &#N; or &#xH; to a code point that
 * XML forbids? Sets *cp and *units (its length) when so. */
static int bad_charref(const void *p, size_t avail, int (*get)(const void *, size_t), uint32_t *cp,
                       size_t *units)
{
    if (avail < 4 || get(p, 1) != '#')
        return 0;
    size_t i = 2;
    int hex = 0;
    if (get(p, 2) == 'x') {
        hex = 1;
        i = 3;
    }
    uint64_t v = 0;
    size_t digits = 0;
    for (; i < avail && digits <= 10; i++, digits++) {
        int c = get(p, i);
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (hex && c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (hex && c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            break;
        v = v * (hex ? 16 : 10) + (uint64_t)d;
    }
    if (!digits || digits > 10 || i >= avail || get(p, i) != ';')
        return 0;
    if (v > 0xFFFFFFFFu)
        v = 0xFFFFFFFFu;
    if (xml_char((uint32_t)v))
        return 0;
    *cp = (uint32_t)v;
    *units = i + 1;
    return 1;
}

static int get8(const void *p, size_t i)
{
    return ((const unsigned char *)p)[i];
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629), 0 if none.
 * An encoded surrogate (ED A0..BF xx) gives -3 with its value in *cp so
 * that it is escaped like a lone UTF-16 surrogate. */
static int utf8_seq(const unsigned char *p, const unsigned char *end, uint32_t *cp)
{
    size_t avail = (size_t)(end - p);
    unsigned c = p[0];
    if (c < 0xC2)
        return 0;
    if (c < 0xE0) {
        if (avail < 2 || (p[1] & 0xC0) != 0x80)
            return 0;
        *cp = ((c & 0x1F) << 6) | (p[1] & 0x3F);
        return 2;
    }
    if (c < 0xF0) {
        if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && p[1] < 0xA0)
            return 0; /* overlong */
        *cp = ((c & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
        return c == 0xED && p[1] >= 0xA0 ? -3 : 3;
    }
    if (c < 0xF5) {
        if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))
            return 0; /* overlong, or past U+10FFFF */
        *cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
              ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
        return 4;
    }
    return 0;
}

static enum wsm_err from_utf8(struct sink *s, const unsigned char *p, const unsigned char *end)
{
    enum wsm_err e;
    char esc[16];
    while (p < end) {
        /* The run of bytes that need nothing: ASCII through the table,
         * well-formed multi-byte characters other than U+FFFE/U+FFFF. */
        const unsigned char *q = p;
        for (;;) {
            while (end - q >= 4 && !stop[q[0]] && !stop[q[1]] && !stop[q[2]] && !stop[q[3]])
                q += 4;
            while (q < end && !stop[*q])
                q++;
            if (q < end && *q >= 0xC2) {
                uint32_t cp;
                int n = utf8_seq(q, end, &cp);
                if (n > 0 && cp != 0xFFFE && cp != 0xFFFF) {
                    q += n;
                    continue;
                }
            }
            break;
        }
        if (q > p && (e = put(s, p, (size_t)(q - p))))
            return e;
        if (q == end)
            break;
        p = q;
        size_t n = 1, el;
        uint32_t cp;
        if (*p == '&') {
            if (!bad_charref(p, (size_t)(end - p), get8, &cp, &n)) {
                if ((e = put(s, "&", 1)))
                    return e;
                p++;
                continue;
            }
            el = fmt_cp(esc, cp);
        } else if (*p < 0x80) {
            el = fmt_cp(esc, *p);
        } else {
            int sn = utf8_seq(p, end, &cp);
            if (sn == -3 || sn == 3) { /* a surrogate, or U+FFFE / U+FFFF */
                el = fmt_cp(esc, cp);
                n = 3;
            } else {
                el = fmt_byte(esc, *p);
            }
        }
        if ((e = put(s, esc, el)))
            return e;
        s->nfixed++;
        p += n;
    }
    return WSM_OK;
}

static int get16le(const void *p, size_t i)
{
    const unsigned char *b = p;
    return b[2 * i] | b[2 * i + 1] << 8;
}

static int get16be(const void *p, size_t i)
{
    const unsigned char *b = p;
    return b[2 * i] << 8 | b[2 * i + 1];
}

/* UTF-16 in units of two bytes: converted through a block on the stack so
 * that the per-unit loop never checks the output's room. */
static enum wsm_err from_utf16(struct sink *s, const unsigned char *p, size_t units, int be)
{
    enum wsm_err e;
    char blk[16384];
    size_t o = 0;
    int (*get)(const void *, size_t) = be ? get16be : get16le;
    const int hi = be ? 0 : 1, lo = be ? 1 : 0;
    for (size_t i = 0; i < units;) {
        if (o > sizeof(blk) - 16) {
            if ((e = put(s, blk, o)))
                return e;
            o = 0;
        }
        const unsigned char *u = p + 2 * i;
        uint32_t c = (uint32_t)u[hi] << 8 | u[lo];
        if (c < 0x80) {
            if (!stop[c]) {
                blk[o++] = (char)c;
                i++;
                continue;
            }
            uint32_t cp;
            size_t n;
            if (c == '&') {
                if (!bad_charref(u, units - i, get, &cp, &n)) {
                    blk[o++] = '&';
                    i++;
                    continue;
                }
            } else {
                cp = c;
                n = 1;
            }
            o += fmt_cp(blk + o, cp);
            s->nfixed++;
            i += n;
            continue;
        }
        if (c < 0x800) {
            blk[o++] = (char)(0xC0 | c >> 6);
            blk[o++] = (char)(0x80 | (c & 0x3F));
            i++;
            continue;
        }
        if (c >= 0xD800 && c < 0xDC00 && i + 1 < units) {
            const unsigned char *v = u + 2;
            uint32_t d = (uint32_t)v[hi] << 8 | v[lo];
            if (d >= 0xDC00 && d < 0xE000) {
                uint32_t cp = 0x10000 + ((c - 0xD800) << 10) + (d - 0xDC00);
                blk[o++] = (char)(0xF0 | cp >> 18);
                blk[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                blk[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                blk[o++] = (char)(0x80 | (cp & 0x3F));
                i += 2;
                continue;
            }
        }
        if ((c >= 0xD800 && c < 0xE000) || c == 0xFFFE || c == 0xFFFF) {
            /* a lone surrogate or a non-character */
            o += fmt_cp(blk + o, c);
            s->nfixed++;
            i++;
            continue;
        }
        blk[o++] = (char)(0xE0 | c >> 12);
        blk[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
        blk[o++] = (char)(0x80 | (c & 0x3F));
        i++;
    }
    return o ? put(s, blk, o) : WSM_OK;
}

static int ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char x = a[i], y = b[i];
        if (x >= 'a' && x <= 'z')
            x = (char)(x - 32);
        if (y >= 'a' && y <= 'z')
            y = (char)(y - 32);
        if (x != y)
            return 0;
    }
    return 1;
}

/* The XML declaration (if any) at d[0..len) names the encoding the body
 * came in; the text is now UTF-8, so the name becomes UTF-8. Done in place:
 * a longer name is overwritten and the rest padded with spaces after the
 * closing quote (whitespace is allowed there); a shorter one is blanked out
 * with the whole pseudo-attribute, since without it XML means UTF-8. */
static void fix_decl(char *d, size_t len)
{
    if (len < 6 || memcmp(d, "<?xml", 5) != 0 ||
        !(d[5] == ' ' || d[5] == '\t' || d[5] == '\r' || d[5] == '\n'))
        return;
    size_t lim = len < 256 ? len : 256;
    char *endp = memmem(d, lim, "?>", 2);
    if (!endp)
        return;
    char *enc = memmem(d, (size_t)(endp - d), "encoding", 8);
    if (!enc)
        return;
    char *q = enc + 8;
    while (q < endp && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
        q++;
    if (q >= endp || *q != '=')
        return;
    q++;
    while (q < endp && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
        q++;
    if (q >= endp || (*q != '"' && *q != '\''))
        return;
    char quote = *q++;
    char *v = q;
    while (q < endp && *q != quote)
        q++;
    if (q >= endp)
        return;
    size_t vlen = (size_t)(q - v);
    if (vlen == 5 && ieq(v, "UTF-8", 5))
        return;
    if (vlen >= 5) {
        memcpy(v, "UTF-8", 5);
        v[5] = quote;
        memset(v + 6, ' ', vlen - 5);
    } else {
        memset(enc, ' ', (size_t)(q + 1 - enc));
    }
}

enum wsm_err wsmd__events_prepare(const void *in, size_t len, struct wsm_buf *out, size_t max_out,
                                  size_t *nfixed)
{
    const unsigned char *p = in;
    struct sink s = {.b = out, .nfixed = 0};
    size_t start = out->len;
    enum wsm_err e;
    int utf16 = 0, be = 0;

    if (!p && len)
        return WSM_ERR_INVALID_ARG;
    s.limit = max_out > SIZE_MAX - start ? SIZE_MAX : start + max_out;
    if (len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) {
        p += 3;
        len -= 3;
    } else if (len >= 2 && p[0] == 0xFF && p[1] == 0xFE) {
        utf16 = 1;
        p += 2;
        len -= 2;
    } else if (len >= 2 && p[0] == 0xFE && p[1] == 0xFF) {
        utf16 = be = 1;
        p += 2;
        len -= 2;
    } else if (len >= 2 && (p[0] == 0) != (p[1] == 0)) {
        /* No BOM: a NUL cannot start an XML document, so a zero byte in
         * the first unit means UTF-16 ('<' is 3C 00 or 00 3C). */
        utf16 = 1;
        be = p[0] == 0;
    }
    /* NULs after the document (some senders terminate the string) would be
     * content after the root element: dropped, not escaped. */
    if (utf16) {
        if (len & 1 && p[len - 1] == 0)
            len--; /* half a NUL */
        if (!(len & 1))
            while (len >= 2 && p[len - 1] == 0 && p[len - 2] == 0)
                len -= 2;
    } else {
        while (len && p[len - 1] == 0)
            len--;
    }

    /* One allocation in the common case: UTF-16 shrinks for ASCII and grows
     * by half at most for the rest of the BMP. */
    size_t guess = utf16 ? len / 2 + len / 8 : len;
    if (guess > max_out)
        guess = max_out;
    (void)wsm__buf_reserve(out, guess); /* a hint: put() checks for itself */

    if (utf16) {
        e = from_utf16(&s, p, len / 2, be);
        if (!e && (len & 1)) { /* half a code unit at the end */
            char esc[8];
            size_t el = fmt_byte(esc, p[len - 1]);
            s.nfixed++;
            e = put(&s, esc, el);
        }
    } else {
        e = from_utf8(&s, p, p + len);
    }
    if (e) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
        return e;
    }
    if (out->data) /* (a wsm_buf always has room for its NUL) */
        out->data[out->len] = '\0';
    else if ((e = wsm__buf_add(out, "", 0))) /* empty: still a string */
        return e == WSM_ERR_ENVELOPE_TOO_LARGE ? WSM_ERR_QUOTA : e;
    fix_decl(out->data + start, out->len - start);
    if (nfixed)
        *nfixed = s.nfixed;
    return WSM_OK;
}
