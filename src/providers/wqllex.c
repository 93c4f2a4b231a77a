/* WQL, the text: case folding, UTF-8, numbers, the lexer (one token of
 * lookahead, positions for error messages) and LIKE patterns, compiled
 * once and matched without exponential backtracking. */
#include "wql.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "wql_priv.h"

/* ---- small helpers ------------------------------------------------- */

void wql__set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static uint32_t fold_lo(uint32_t c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static uint32_t fold_up(uint32_t c)
{
    return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

/* ASCII case-insensitive comparison, bytes otherwise (locale-free). */
int wql__ci_cmp(const char *a, const char *b)
{
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    for (;; x++, y++) {
        int cx = lower(*x), cy = lower(*y);
        if (cx != cy || cx == 0)
            return cx - cy;
    }
}

static int ci_eqn(const char *a, size_t n, const char *kw)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (kw[i] == '\0' || lower((unsigned char)a[i]) != lower((unsigned char)kw[i]))
            return 0;
    return kw[i] == '\0';
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_ident(int c)
{
    return is_alpha(c) || is_digit(c);
}

/* One UTF-8 code point from s (n > 0 bytes left). Lenient: a byte that does
 * not start a well-formed sequence is one "character", mapped to
 * 0xDC00 + byte (like Python's surrogateescape) so it equals only itself. */
static uint32_t u8_next(const unsigned char *s, size_t n, size_t *adv)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
        *adv = 1;
        return c;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        *adv = 1;
        return 0xDC00u + c;
    }
    if (n < len) {
        *adv = 1;
        return 0xDC00u + c;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *adv = 1;
            return 0xDC00u + c;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    *adv = len;
    return cp;
}

/* Integer text: [+-]digits, magnitude <= UINT64_MAX. 1 ok, 0 not an
 * integer, -1 out of range. */
int wql__parse_int(const char *s, size_t n, int *neg, uint64_t *mag)
{
    size_t i = 0;
    *neg = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        *neg = s[i++] == '-';
    if (i == n)
        return 0;
    uint64_t m = 0;
    int over = 0;
    for (; i < n; i++) {
        if (!is_digit((unsigned char)s[i]))
            return 0;
        unsigned d = (unsigned)(s[i] - '0');
        if (m > (UINT64_MAX - d) / 10)
            over = 1;
        else
            m = m * 10 + d;
    }
    if (over)
        return -1;
    if (m == 0)
        *neg = 0;
    *mag = m;
    return 1;
}

/* Real text: [+-](digits[.digits*] | .digits)[(e|E)[+-]digits]. Returns
 * the length of the longest such prefix of s (n bytes), 0 if none. */
size_t wql__scan_real(const char *s, size_t n)
{
    size_t i = 0, d = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
    while (i < n && is_digit((unsigned char)s[i]))
        i++, d++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && is_digit((unsigned char)s[i]))
            i++, d++;
    }
    if (d == 0)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < n && (s[j] == '-' || s[j] == '+'))
            j++;
        if (j < n && is_digit((unsigned char)s[j])) {
            while (j < n && is_digit((unsigned char)s[j]))
                j++;
            i = j;
        }
    }
    return i;
}

static const struct {
    const char *name;
    enum tok_kind k;
} keywords[] = {
    {"SELECT", K_SELECT}, {"FROM", K_FROM}, {"WHERE", K_WHERE}, {"AND", K_AND},
    {"OR", K_OR},         {"NOT", K_NOT},   {"LIKE", K_LIKE},   {"IS", K_IS},
    {"NULL", K_NULL},     {"TRUE", K_TRUE}, {"FALSE", K_FALSE},
};

/* Records the first error: the reason and " at position N" (1-based). */
void wql__perr(struct parser *p, size_t off, const char *fmt, ...)
{
    if (p->rc != WSM_OK)
        return;
    p->rc = WSM_ERR_INVALID_ARG;
    if (!p->err || p->errlen == 0)
        return;
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    wql__set_err(p->err, p->errlen, "%s at position %zu", msg, off + 1);
}

void wql__pnomem(struct parser *p)
{
    if (p->rc != WSM_OK)
        return;
    p->rc = WSM_ERR_NOMEM;
    wql__set_err(p->err, p->errlen, "out of memory");
}

/* Query text quoted in a message: at most 24 bytes, then "...", with
 * anything but printable ASCII shown as '?' so that the reason is safe to
 * put in a fault (no control characters, no split UTF-8). buf: 32 bytes. */
const char *wql__clip(char *buf, const char *s, size_t n)
{
    size_t l = n > 24 ? 24 : n, o = 0;
    for (size_t i = 0; i < l; i++)
        buf[o++] = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7F ? s[i] : '?';
    if (n > l) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

/* The current token for messages: 'text' or "end of query". */
const char *wql__tok_desc(const struct parser *p, char *buf, size_t n)
{
    if (p->t.k == T_EOF)
        return "end of query";
    char c[32];
    snprintf(buf, n, "'%s'", wql__clip(c, p->src + p->t.off, p->t.len));
    return buf;
}

void *wql__palloc(struct parser *p, size_t n)
{
    void *m = wsm__arena_alloc(p->a, n);
    if (!m)
        wql__pnomem(p);
    else
        memset(m, 0, n);
    return m;
}

static int lex_string(struct parser *p)
{
    const char *s = p->src;
    char q = s[p->i];
    size_t start = p->i, i = p->i + 1, n = 0;
    /* First pass: find the end, check escapes, count bytes. */
    for (;;) {
        if (i >= p->len) {
            wql__perr(p, start, "unterminated string");
            return -1;
        }
        if (s[i] == '\\') {
            if (i + 1 >= p->len) {
                wql__perr(p, start, "unterminated string");
                return -1;
            }
            char e = s[i + 1];
            if (e != '\\' && e != '\'' && e != '"') {
                if ((unsigned char)e <= 0x20 || (unsigned char)e >= 0x7F)
                    wql__perr(p, i, "invalid escape: backslash before byte 0x%02X",
                              (unsigned char)e);
                else
                    wql__perr(p, i, "invalid escape '\\%c' (use \\\\, \\' or \\\")", e);
                return -1;
            }
            i += 2;
            n++;
        } else if (s[i] == q) {
            break;
        } else {
            i++;
            n++;
        }
    }
    char *out = wsm__arena_alloc(p->a, n + 1);
    if (!out) {
        wql__pnomem(p);
        return -1;
    }
    size_t o = 0;
    for (size_t j = start + 1; j < i; j++) {
        if (s[j] == '\\')
            j++;
        out[o++] = s[j];
    }
    out[o] = '\0';
    p->t.k = T_STR;
    p->t.lit.kind = L_STR;
    p->t.lit.s = out;
    p->i = i + 1;
    return 0;
}

static int lex_number(struct parser *p)
{
    const char *s = p->src + p->i;
    size_t left = p->len - p->i;
    size_t n = wql__scan_real(s, left);
    /* The lexer only gets here with a digit (after an optional '-'). */
    if (n < left && (is_ident((unsigned char)s[n]) || s[n] == '.')) {
        wql__perr(p, p->i, "malformed number");
        return -1;
    }
    int neg;
    uint64_t mag;
    int r = wql__parse_int(s, n, &neg, &mag);
    if (r < 0) {
        wql__perr(p, p->i, "integer out of range");
        return -1;
    }
    char *text = wsm__arena_strndup(p->a, s, n);
    if (!text) {
        wql__pnomem(p);
        return -1;
    }
    p->t.lit.s = text;
    if (r > 0) {
        p->t.k = T_INT;
        p->t.lit.kind = L_INT;
        p->t.lit.neg = neg;
        p->t.lit.mag = mag;
    } else {
        double d = strtod(text, NULL);
        if (isinf(d)) {
            wql__perr(p, p->i, "real out of range");
            return -1;
        }
        p->t.k = T_REAL;
        p->t.lit.kind = L_REAL;
        p->t.lit.ld = strtold(text, NULL);
    }
    p->i += n;
    return 0;
}

/* Reads the next token into p->t; -1 on a lexical error (recorded). */
int wql__lex(struct parser *p)
{
    const char *s = p->src;
    while (p->i < p->len && (s[p->i] == ' ' || s[p->i] == '\t' || s[p->i] == '\r' ||
                             s[p->i] == '\n' || s[p->i] == '\f' || s[p->i] == '\v'))
        p->i++;
    memset(&p->t, 0, sizeof(p->t));
    p->t.off = p->i;
    if (p->i >= p->len) {
        p->t.k = T_EOF;
        return 0;
    }
    unsigned char c = (unsigned char)s[p->i];
    unsigned char c1 = p->i + 1 < p->len ? (unsigned char)s[p->i + 1] : 0;
    unsigned char c2 = p->i + 2 < p->len ? (unsigned char)s[p->i + 2] : 0;
    int r = 0;
    if (is_alpha(c)) {
        size_t j = p->i;
        while (j < p->len && is_ident((unsigned char)s[j]))
            j++;
        p->t.k = T_IDENT;
        for (size_t k = 0; k < sizeof(keywords) / sizeof(keywords[0]); k++)
            if (ci_eqn(s + p->i, j - p->i, keywords[k].name)) {
                p->t.k = keywords[k].k;
                break;
            }
        p->i = j;
    } else if (is_digit(c) || (c == '.' && is_digit(c1)) ||
               (c == '-' && (is_digit(c1) || (c1 == '.' && is_digit(c2))))) {
        r = lex_number(p);
    } else if (c == '\'' || c == '"') {
        r = lex_string(p);
    } else {
        p->t.k = T_OP;
        size_t l = 1;
        switch (c) {
        case '=':
            p->t.op = OP_EQ;
            break;
        case '<':
            if (c1 == '>')
                p->t.op = OP_NE, l = 2;
            else if (c1 == '=')
                p->t.op = OP_LE, l = 2;
            else
                p->t.op = OP_LT;
            break;
        case '>':
            if (c1 == '=')
                p->t.op = OP_GE, l = 2;
            else
                p->t.op = OP_GT;
            break;
        case '!':
            if (c1 != '=') {
                wql__perr(p, p->i, "unexpected character '!' (did you mean '!=')");
                return -1;
            }
            p->t.op = OP_NE, l = 2;
            break;
        case '*':
            p->t.k = T_STAR;
            break;
        case ',':
            p->t.k = T_COMMA;
            break;
        case '(':
            p->t.k = T_LP;
            break;
        case ')':
            p->t.k = T_RP;
            break;
        default:
            if (c >= 0x21 && c < 0x7F)
                wql__perr(p, p->i, "unexpected character '%c'", c);
            else
                wql__perr(p, p->i, "unexpected byte 0x%02X", c);
            return -1;
        }
        p->i += l;
    }
    p->t.len = p->i - p->t.off;
    return r;
}

/* ---- LIKE patterns ------------------------------------------------- */

/* Compiles a LIKE pattern (decoded string s); pos is the literal's offset
 * for messages. 0 ok, -1 error (recorded). */
int wql__compile_like(struct parser *p, struct node *n, const char *str, size_t pos)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t len = strlen(str);
    /* Matching costs pattern length x value length: a long pattern run
     * against every instance would let one query hold a thread for
     * seconds. Real patterns are short. */
    if (len > WQL_MAX_LIKE) {
        wql__perr(p, pos, "LIKE pattern longer than %d bytes", WQL_MAX_LIKE);
        return -1;
    }
    /* At most one element per byte. */
    struct pat *pat = wql__palloc(p, (len ? len : 1) * sizeof(*pat));
    if (!pat)
        return -1;
    size_t np = 0, i = 0, adv;
    while (i < len) {
        uint32_t c = u8_next(s + i, len - i, &adv);
        if (c == '%') {
            i += adv;
            if (np == 0 || pat[np - 1].k != P_ANY)
                pat[np++].k = P_ANY;
        } else if (c == '_') {
            i += adv;
            pat[np++].k = P_ONE;
        } else if (c == '[') {
            size_t j = i + 1;
            int neg = 0;
            if (j < len && s[j] == '^')
                neg = 1, j++;
            /* Two passes: count the items, then store them. The first item
             * may be ']' itself ([]] matches ']'). */
            size_t nr = 0, k = j;
            int closed = 0;
            while (k < len) {
                if (s[k] == ']' && k > j) {
                    closed = 1;
                    break;
                }
                u8_next(s + k, len - k, &adv);
                k += adv;
                if (k + 1 < len && s[k] == '-' && s[k + 1] != ']') {
                    k++;
                    u8_next(s + k, len - k, &adv);
                    k += adv;
                }
                nr++;
            }
            if (!closed) {
                wql__perr(p, pos, "unterminated [ in LIKE pattern");
                return -1;
            }
            struct range *r = wql__palloc(p, nr * sizeof(*r));
            if (!r)
                return -1;
            size_t m = 0;
            k = j;
            while (m < nr) {
                uint32_t lo = u8_next(s + k, len - k, &adv), hi = lo;
                k += adv;
                if (k + 1 < len && s[k] == '-' && s[k + 1] != ']') {
                    k++;
                    hi = u8_next(s + k, len - k, &adv);
                    k += adv;
                }
                r[m].lo = lo; /* lo > hi: an empty range, as in SQL Server */
                r[m].hi = hi;
                m++;
            }
            pat[np].k = P_SET;
            pat[np].neg = neg;
            pat[np].nr = nr;
            pat[np].r = r;
            np++;
            i = k + 1; /* past ']' */
        } else {
            i += adv;
            pat[np].k = P_CHAR;
            pat[np].c = c;
            np++;
        }
    }
    n->pat = pat;
    n->npat = np;
    return 0;
}

static int in_ranges(const struct pat *e, uint32_t c)
{
    for (size_t i = 0; i < e->nr; i++)
        if (c >= e->r[i].lo && c <= e->r[i].hi)
            return 1;
    return 0;
}

static int pat_one(const struct pat *e, uint32_t c)
{
    switch (e->k) {
    case P_ONE:
        return 1;
    case P_CHAR:
        return fold_lo(e->c) == fold_lo(c);
    case P_SET: {
        int in = in_ranges(e, c) || in_ranges(e, fold_lo(c)) || in_ranges(e, fold_up(c));
        return e->neg ? !in : in;
    }
    case P_ANY:
        break;
    }
    return 0;
}

int wql__like_match(const struct pat *pat, size_t np, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t len = strlen(str);
    size_t pi = 0, si = 0, adv;
    size_t star_p = SIZE_MAX, star_s = 0;
    while (si < len) {
        if (pi < np && pat[pi].k == P_ANY) {
            star_p = ++pi;
            star_s = si;
            continue;
        }
        if (pi < np) {
            uint32_t c = u8_next(s + si, len - si, &adv);
            if (pat_one(&pat[pi], c)) {
                pi++;
                si += adv;
                continue;
            }
        }
        if (star_p == SIZE_MAX)
            return 0;
        /* Let the last % absorb one more character and retry. */
        u8_next(s + star_s, len - star_s, &adv);
        star_s += adv;
        si = star_s;
        pi = star_p;
    }
    while (pi < np && pat[pi].k == P_ANY)
        pi++;
    return pi == np;
}
