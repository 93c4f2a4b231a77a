/* WQL: parser, binder and matcher (see wql.h for the language and its
 * semantics).
 *
 * The parser is a one-token-lookahead recursive descent over a small
 * lexer; everything a query holds (nodes, decoded strings, compiled LIKE
 * patterns, the bound SELECT mask) lives in one arena freed by wql_free.
 * AND and OR are n-ary nodes, so a long chain of terms is flat and only
 * parentheses and NOT (both capped) make the tree deep: matching recurses
 * at most about WQL_MAX_DEPTH * 2 levels. LIKE patterns are compiled once
 * and matched with the single-backtrack-point wildcard algorithm, which is
 * O(len(value) * len(pattern)) in the worst case, never exponential.
 */
#include "wql.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

/* ---- query representation ------------------------------------------ */

enum op { OP_EQ, OP_NE, OP_LT, OP_GT, OP_LE, OP_GE };

static const char *const op_text[] = {"=", "<>", "<", ">", "<=", ">="};

enum lit_kind { L_STR, L_INT, L_REAL, L_BOOL };

struct lit {
    enum lit_kind kind;
    const char *s; /* L_STR: the decoded string; L_INT / L_REAL: the text */
    int neg;       /* L_INT: sign and magnitude (never -0) */
    uint64_t mag;
    long double ld; /* L_REAL */
    int b;          /* L_BOOL */
};

/* A literal converted to the domain of the property it is compared with. */
enum dom {
    D_INT,  /* integer property, integer literal: sign + magnitude */
    D_LD,   /* integer property, real literal: long double */
    D_REAL, /* real property: double */
    D_BOOL,
    D_STR, /* string or datetime property: case-insensitive text */
};

enum pat_kind { P_ANY, P_ONE, P_CHAR, P_SET };

struct range {
    uint32_t lo, hi;
};

struct pat {
    enum pat_kind k;
    uint32_t c; /* P_CHAR */
    int neg;    /* P_SET: [^...] */
    size_t nr;
    struct range *r;
};

enum node_kind { N_AND, N_OR, N_NOT, N_CMP, N_LIKE, N_NULL };

struct node {
    enum node_kind k;
    struct node *kids; /* AND / OR / NOT */
    struct node *next; /* sibling under AND / OR */

    /* Leaves (CMP, LIKE, NULL). */
    const char *prop;
    size_t pos; /* 1-based position of the property name, for messages */
    enum op op; /* CMP */
    struct lit lit;
    size_t lit_pos;
    int isnot; /* NULL: IS NOT NULL */
    struct pat *pat;
    size_t npat;

    /* Set by wql_bind. */
    size_t pidx;
    int is_array;
    enum dom dom;
    int bneg;
    uint64_t bmag;
    long double bld;
    double bd;
    int bb;
};

struct wql_query {
    struct wsm_arena arena;
    const char *cls_name;
    size_t nsel;
    const char *sel[WQL_MAX_SELECT];
    struct node *where; /* NULL: no WHERE */

    const struct cim_class *cls; /* NULL until bound */
    unsigned char *mask;         /* nprops entries: selected by name */
};

/* ---- small helpers ------------------------------------------------- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
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
static int ci_cmp(const char *a, const char *b)
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
static int parse_int(const char *s, size_t n, int *neg, uint64_t *mag)
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
static size_t scan_real(const char *s, size_t n)
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

/* ---- lexer --------------------------------------------------------- */

enum tok_kind {
    T_EOF,
    T_IDENT,
    T_STR,
    T_INT,
    T_REAL,
    T_OP,
    T_STAR,
    T_COMMA,
    T_LP,
    T_RP,
    /* keywords */
    K_SELECT,
    K_FROM,
    K_WHERE,
    K_AND,
    K_OR,
    K_NOT,
    K_LIKE,
    K_IS,
    K_NULL,
    K_TRUE,
    K_FALSE,
};

static const struct {
    const char *name;
    enum tok_kind k;
} keywords[] = {
    {"SELECT", K_SELECT}, {"FROM", K_FROM}, {"WHERE", K_WHERE}, {"AND", K_AND},
    {"OR", K_OR},         {"NOT", K_NOT},   {"LIKE", K_LIKE},   {"IS", K_IS},
    {"NULL", K_NULL},     {"TRUE", K_TRUE}, {"FALSE", K_FALSE},
};

struct tok {
    enum tok_kind k;
    size_t off, len; /* source span */
    enum op op;      /* T_OP */
    struct lit lit;  /* T_STR, T_INT, T_REAL */
};

struct parser {
    const char *src;
    size_t len, i;
    struct tok t;
    struct wsm_arena *a;
    char *err;
    size_t errlen;
    enum wsm_err rc; /* first error */
    int depth;
    int nodes;
};

static void perr(struct parser *p, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the first error: the reason and " at position N" (1-based). */
static void perr(struct parser *p, size_t off, const char *fmt, ...)
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
    set_err(p->err, p->errlen, "%s at position %zu", msg, off + 1);
}

static void pnomem(struct parser *p)
{
    if (p->rc != WSM_OK)
        return;
    p->rc = WSM_ERR_NOMEM;
    set_err(p->err, p->errlen, "out of memory");
}

/* Query text quoted in a message: at most 24 bytes, then "...", with
 * anything but printable ASCII shown as '?' so that the reason is safe to
 * put in a fault (no control characters, no split UTF-8). buf: 32 bytes. */
static const char *clip(char *buf, const char *s, size_t n)
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
static const char *tok_desc(const struct parser *p, char *buf, size_t n)
{
    if (p->t.k == T_EOF)
        return "end of query";
    char c[32];
    snprintf(buf, n, "'%s'", clip(c, p->src + p->t.off, p->t.len));
    return buf;
}

static void *palloc(struct parser *p, size_t n)
{
    void *m = wsm__arena_alloc(p->a, n);
    if (!m)
        pnomem(p);
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
            perr(p, start, "unterminated string");
            return -1;
        }
        if (s[i] == '\\') {
            if (i + 1 >= p->len) {
                perr(p, start, "unterminated string");
                return -1;
            }
            char e = s[i + 1];
            if (e != '\\' && e != '\'' && e != '"') {
                if ((unsigned char)e <= 0x20 || (unsigned char)e >= 0x7F)
                    perr(p, i, "invalid escape: backslash before byte 0x%02X", (unsigned char)e);
                else
                    perr(p, i, "invalid escape '\\%c' (use \\\\, \\' or \\\")", e);
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
        pnomem(p);
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
    size_t n = scan_real(s, left);
    /* The lexer only gets here with a digit (after an optional '-'). */
    if (n < left && (is_ident((unsigned char)s[n]) || s[n] == '.')) {
        perr(p, p->i, "malformed number");
        return -1;
    }
    int neg;
    uint64_t mag;
    int r = parse_int(s, n, &neg, &mag);
    if (r < 0) {
        perr(p, p->i, "integer out of range");
        return -1;
    }
    char *text = wsm__arena_strndup(p->a, s, n);
    if (!text) {
        pnomem(p);
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
            perr(p, p->i, "real out of range");
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
static int lex(struct parser *p)
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
                perr(p, p->i, "unexpected character '!' (did you mean '!=')");
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
                perr(p, p->i, "unexpected character '%c'", c);
            else
                perr(p, p->i, "unexpected byte 0x%02X", c);
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
static int compile_like(struct parser *p, struct node *n, const char *str, size_t pos)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t len = strlen(str);
    /* Matching costs pattern length x value length: a long pattern run
     * against every instance would let one query hold a thread for
     * seconds. Real patterns are short. */
    if (len > WQL_MAX_LIKE) {
        perr(p, pos, "LIKE pattern longer than %d bytes", WQL_MAX_LIKE);
        return -1;
    }
    /* At most one element per byte. */
    struct pat *pat = palloc(p, (len ? len : 1) * sizeof(*pat));
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
                perr(p, pos, "unterminated [ in LIKE pattern");
                return -1;
            }
            struct range *r = palloc(p, nr * sizeof(*r));
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

static int like_match(const struct pat *pat, size_t np, const char *str)
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

/* ---- parser -------------------------------------------------------- */

static struct node *new_node(struct parser *p, enum node_kind k, size_t off)
{
    if (++p->nodes > WQL_MAX_NODES) {
        perr(p, off, "expression too long (more than %d terms)", WQL_MAX_NODES);
        return NULL;
    }
    struct node *n = palloc(p, sizeof(*n));
    if (n)
        n->k = k;
    return n;
}

static int is_literal(enum tok_kind k)
{
    return k == T_STR || k == T_INT || k == T_REAL || k == K_TRUE || k == K_FALSE || k == K_NULL;
}

static enum op flip(enum op o)
{
    switch (o) {
    case OP_LT:
        return OP_GT;
    case OP_GT:
        return OP_LT;
    case OP_LE:
        return OP_GE;
    case OP_GE:
        return OP_LE;
    default:
        return o;
    }
}

static const char *take_ident(struct parser *p)
{
    char *s = wsm__arena_strndup(p->a, p->src + p->t.off, p->t.len);
    if (!s)
        pnomem(p);
    return s;
}

/* The current literal token (is_literal) into l; K_NULL is the caller's. */
static void take_literal(struct parser *p, struct lit *l)
{
    if (p->t.k == K_TRUE || p->t.k == K_FALSE) {
        memset(l, 0, sizeof(*l));
        l->kind = L_BOOL;
        l->b = p->t.k == K_TRUE;
        l->s = p->t.k == K_TRUE ? "TRUE" : "FALSE";
    } else {
        *l = p->t.lit;
    }
}

/* A comparison with NULL: = NULL is IS NULL, <> NULL is IS NOT NULL. */
static struct node *null_cmp(struct parser *p, enum op op, size_t op_off, const char *prop,
                             size_t prop_off)
{
    if (op != OP_EQ && op != OP_NE) {
        perr(p, op_off, "NULL can only be compared with = or <> (or use IS [NOT] NULL)");
        return NULL;
    }
    struct node *n = new_node(p, N_NULL, prop_off);
    if (!n)
        return NULL;
    n->prop = prop;
    n->pos = prop_off;
    n->isnot = op == OP_NE;
    return n;
}

static struct node *parse_or(struct parser *p);

static struct node *parse_pred(struct parser *p)
{
    char d[40];
    if (p->t.k == T_IDENT) {
        size_t prop_off = p->t.off;
        const char *prop = take_ident(p);
        if (!prop || lex(p) < 0)
            return NULL;
        if (p->t.k == K_IS) {
            if (lex(p) < 0)
                return NULL;
            int isnot = 0;
            if (p->t.k == K_NOT) {
                isnot = 1;
                if (lex(p) < 0)
                    return NULL;
            }
            if (p->t.k != K_NULL) {
                perr(p, p->t.off, "expected NULL after IS, found %s", tok_desc(p, d, sizeof(d)));
                return NULL;
            }
            struct node *n = new_node(p, N_NULL, prop_off);
            if (!n || lex(p) < 0)
                return NULL;
            n->prop = prop;
            n->pos = prop_off;
            n->isnot = isnot;
            return n;
        }
        int notlike = 0;
        if (p->t.k == K_NOT) {
            if (lex(p) < 0)
                return NULL;
            if (p->t.k != K_LIKE) {
                perr(p, p->t.off, "expected LIKE after NOT, found %s", tok_desc(p, d, sizeof(d)));
                return NULL;
            }
            notlike = 1;
        }
        if (p->t.k == K_LIKE) {
            if (lex(p) < 0)
                return NULL;
            if (p->t.k != T_STR) {
                perr(p, p->t.off, "LIKE needs a quoted pattern, found %s",
                     tok_desc(p, d, sizeof(d)));
                return NULL;
            }
            struct node *n = new_node(p, N_LIKE, prop_off);
            if (!n)
                return NULL;
            n->prop = prop;
            n->pos = prop_off;
            n->lit = p->t.lit;
            n->lit_pos = p->t.off;
            if (compile_like(p, n, p->t.lit.s, p->t.off) < 0 || lex(p) < 0)
                return NULL;
            if (notlike) {
                struct node *x = new_node(p, N_NOT, prop_off);
                if (!x)
                    return NULL;
                x->kids = n;
                return x;
            }
            return n;
        }
        if (p->t.k != T_OP) {
            perr(p, p->t.off, "expected an operator after '%s', found %s", prop,
                 tok_desc(p, d, sizeof(d)));
            return NULL;
        }
        enum op op = p->t.op;
        size_t op_off = p->t.off;
        if (lex(p) < 0)
            return NULL;
        if (p->t.k == T_IDENT) {
            perr(p, p->t.off, "comparing two properties is not supported");
            return NULL;
        }
        if (p->t.k == K_NULL) {
            struct node *n = null_cmp(p, op, op_off, prop, prop_off);
            if (!n || lex(p) < 0)
                return NULL;
            return n;
        }
        if (!is_literal(p->t.k)) {
            perr(p, p->t.off, "expected a value after '%s', found %s", op_text[op],
                 tok_desc(p, d, sizeof(d)));
            return NULL;
        }
        struct node *n = new_node(p, N_CMP, prop_off);
        if (!n)
            return NULL;
        n->prop = prop;
        n->pos = prop_off;
        n->op = op;
        take_literal(p, &n->lit);
        n->lit_pos = p->t.off;
        if (lex(p) < 0)
            return NULL;
        return n;
    }
    if (is_literal(p->t.k)) {
        /* literal op prop */
        struct lit l;
        int is_null = p->t.k == K_NULL;
        size_t lit_off = p->t.off;
        if (!is_null)
            take_literal(p, &l);
        if (lex(p) < 0)
            return NULL;
        if (p->t.k != T_OP) {
            perr(p, p->t.off, "expected an operator after the value, found %s",
                 tok_desc(p, d, sizeof(d)));
            return NULL;
        }
        enum op op = flip(p->t.op);
        size_t op_off = p->t.off;
        if (lex(p) < 0)
            return NULL;
        if (is_literal(p->t.k)) {
            perr(p, p->t.off, "comparing two constants is not supported");
            return NULL;
        }
        if (p->t.k != T_IDENT) {
            perr(p, p->t.off, "expected a property name, found %s", tok_desc(p, d, sizeof(d)));
            return NULL;
        }
        size_t prop_off = p->t.off;
        const char *prop = take_ident(p);
        if (!prop)
            return NULL;
        struct node *n;
        if (is_null) {
            n = null_cmp(p, op, op_off, prop, prop_off);
        } else {
            n = new_node(p, N_CMP, prop_off);
            if (n) {
                n->prop = prop;
                n->pos = prop_off;
                n->op = op;
                n->lit = l;
                n->lit_pos = lit_off;
            }
        }
        if (!n || lex(p) < 0)
            return NULL;
        return n;
    }
    perr(p, p->t.off, "expected a condition, found %s", tok_desc(p, d, sizeof(d)));
    return NULL;
}

static int enter(struct parser *p)
{
    if (++p->depth > WQL_MAX_DEPTH) {
        perr(p, p->t.off, "expression nested too deeply (more than %d levels)", WQL_MAX_DEPTH);
        return -1;
    }
    return 0;
}

static struct node *parse_not(struct parser *p)
{
    if (p->t.k == K_NOT) {
        size_t off = p->t.off;
        if (enter(p) < 0 || lex(p) < 0)
            return NULL;
        struct node *kid = parse_not(p);
        if (!kid)
            return NULL;
        struct node *n = new_node(p, N_NOT, off);
        if (!n)
            return NULL;
        n->kids = kid;
        p->depth--;
        return n;
    }
    if (p->t.k == T_LP) {
        size_t off = p->t.off;
        if (enter(p) < 0 || lex(p) < 0)
            return NULL;
        struct node *e = parse_or(p);
        if (!e)
            return NULL;
        if (p->t.k != T_RP) {
            char d[40];
            perr(p, p->t.off, "expected ')' to close the '(' at position %zu, found %s", off + 1,
                 tok_desc(p, d, sizeof(d)));
            return NULL;
        }
        if (lex(p) < 0)
            return NULL;
        p->depth--;
        return e;
    }
    return parse_pred(p);
}

/* AND / OR: one n-ary node for a chain of the same operator. */
static struct node *parse_chain(struct parser *p, enum tok_kind kw, enum node_kind k,
                                struct node *(*sub)(struct parser *))
{
    struct node *first = sub(p);
    if (!first || p->t.k != kw)
        return first;
    struct node *n = new_node(p, k, p->t.off);
    if (!n)
        return NULL;
    n->kids = first;
    struct node *tail = first;
    while (p->t.k == kw) {
        if (lex(p) < 0)
            return NULL;
        struct node *c = sub(p);
        if (!c)
            return NULL;
        tail->next = c;
        tail = c;
    }
    return n;
}

static struct node *parse_and(struct parser *p)
{
    return parse_chain(p, K_AND, N_AND, parse_not);
}

static struct node *parse_or(struct parser *p)
{
    return parse_chain(p, K_OR, N_OR, parse_and);
}

static int parse_query(struct parser *p, struct wql_query *q)
{
    char d[40];
    if (lex(p) < 0)
        return -1;
    if (p->t.k != K_SELECT) {
        perr(p, p->t.off, "expected SELECT, found %s", tok_desc(p, d, sizeof(d)));
        return -1;
    }
    if (lex(p) < 0)
        return -1;
    if (p->t.k == T_STAR) {
        if (lex(p) < 0)
            return -1;
    } else {
        for (;;) {
            if (p->t.k != T_IDENT) {
                perr(p, p->t.off, "expected a property name or *, found %s",
                     tok_desc(p, d, sizeof(d)));
                return -1;
            }
            if (q->nsel == WQL_MAX_SELECT) {
                perr(p, p->t.off, "too many properties in SELECT (more than %d)", WQL_MAX_SELECT);
                return -1;
            }
            const char *name = take_ident(p);
            if (!name)
                return -1;
            q->sel[q->nsel++] = name;
            if (lex(p) < 0)
                return -1;
            if (p->t.k != T_COMMA)
                break;
            if (lex(p) < 0)
                return -1;
        }
    }
    if (p->t.k != K_FROM) {
        perr(p, p->t.off, "expected FROM, found %s", tok_desc(p, d, sizeof(d)));
        return -1;
    }
    if (lex(p) < 0)
        return -1;
    if (p->t.k != T_IDENT) {
        perr(p, p->t.off, "expected a class name after FROM, found %s", tok_desc(p, d, sizeof(d)));
        return -1;
    }
    q->cls_name = take_ident(p);
    if (!q->cls_name || lex(p) < 0)
        return -1;
    if (p->t.k == K_WHERE) {
        if (lex(p) < 0)
            return -1;
        q->where = parse_or(p);
        if (!q->where)
            return -1;
    }
    if (p->t.k != T_EOF) {
        perr(p, p->t.off, "unexpected %s after the end of the query", tok_desc(p, d, sizeof(d)));
        return -1;
    }
    return 0;
}

enum wsm_err wql_parse(const char *text, struct wql_query **out, char *err, size_t errlen)
{
    if (out)
        *out = NULL;
    set_err(err, errlen, "%s", "");
    if (!text || !out) {
        set_err(err, errlen, "no query");
        return WSM_ERR_INVALID_ARG;
    }
    size_t len = strnlen(text, WQL_MAX_TEXT + 1);
    if (len > WQL_MAX_TEXT) {
        set_err(err, errlen, "query too long (more than %d bytes)", WQL_MAX_TEXT);
        return WSM_ERR_INVALID_ARG;
    }
    struct wql_query *q = calloc(1, sizeof(*q));
    if (!q) {
        set_err(err, errlen, "out of memory");
        return WSM_ERR_NOMEM;
    }
    wsm__arena_init(&q->arena);
    struct parser p = {
        .src = text, .len = len, .a = &q->arena, .err = err, .errlen = errlen, .rc = WSM_OK};
    if (parse_query(&p, q) < 0 || p.rc != WSM_OK) {
        enum wsm_err rc = p.rc != WSM_OK ? p.rc : WSM_ERR_INTERNAL;
        wql_free(q);
        return rc;
    }
    *out = q;
    return WSM_OK;
}

void wql_free(struct wql_query *q)
{
    if (!q)
        return;
    wsm__arena_free(&q->arena);
    free(q);
}

const char *wql_class_name(const struct wql_query *q)
{
    return q ? q->cls_name : NULL;
}

size_t wql_select_count(const struct wql_query *q)
{
    return q ? q->nsel : 0;
}

const char *wql_select_name(const struct wql_query *q, size_t i)
{
    return q && i < q->nsel ? q->sel[i] : NULL;
}

/* ---- binding ------------------------------------------------------- */

static const char *type_name(enum cim_type t)
{
    switch (t) {
    case CIM_STRING:
        return "string";
    case CIM_BOOLEAN:
        return "boolean";
    case CIM_UINT8:
        return "uint8";
    case CIM_UINT16:
        return "uint16";
    case CIM_UINT32:
        return "uint32";
    case CIM_UINT64:
        return "uint64";
    case CIM_SINT8:
        return "sint8";
    case CIM_SINT16:
        return "sint16";
    case CIM_SINT32:
        return "sint32";
    case CIM_SINT64:
        return "sint64";
    case CIM_REAL32:
        return "real32";
    case CIM_REAL64:
        return "real64";
    case CIM_DATETIME:
        return "datetime";
    }
    return "unknown";
}

static int is_int_type(enum cim_type t)
{
    return t >= CIM_UINT8 && t <= CIM_SINT64;
}

static int is_real_type(enum cim_type t)
{
    return t == CIM_REAL32 || t == CIM_REAL64;
}

static long double sm_to_ld(int neg, uint64_t mag)
{
    long double v = (long double)mag;
    return neg ? -v : v;
}

/* Index of prop in cls->props (ASCII case-insensitive), or -1. */
static long find_prop(const struct cim_class *cls, const char *name)
{
    for (size_t i = 0; i < cls->nprops; i++)
        if (cls->props[i].name && ci_cmp(cls->props[i].name, name) == 0)
            return (long)i;
    return -1;
}

/* A string literal read as a number: 1 integer, 2 real, 0 neither, -1 too large. */
static int str_number(const char *s, int *neg, uint64_t *mag, long double *ld)
{
    size_t n = strlen(s);
    int r = parse_int(s, n, neg, mag);
    if (r != 0)
        return r;
    if (n == 0 || scan_real(s, n) != n)
        return 0;
    *ld = strtold(s, NULL);
    if (isinf(*ld) || isinf((double)*ld))
        return -1;
    return 2;
}

static int bind_leaf(struct node *n, const struct cim_class *cls, const char *where, char *err,
                     size_t errlen)
{
    long idx = find_prop(cls, n->prop);
    if (idx < 0) {
        set_err(err, errlen, "unknown property '%s' in %s at position %zu (class %s)", n->prop,
                where, n->pos + 1, cls->name ? cls->name : "?");
        return -1;
    }
    const struct cim_prop *pr = &cls->props[idx];
    n->pidx = (size_t)idx;
    n->is_array = (pr->flags & CIM_ARRAY) != 0;
    if (n->k != N_CMP)
        return 0;

    const struct lit *l = &n->lit;
    enum cim_type t = pr->type;
    char ls[32];
    clip(ls, l->s, strlen(l->s));
    const char *tn = type_name(t);
    if (is_int_type(t) || is_real_type(t)) {
        int neg = l->neg;
        uint64_t mag = l->mag;
        long double ld = l->ld;
        int kind; /* 1 integer, 2 real */
        if (l->kind == L_INT) {
            kind = 1;
        } else if (l->kind == L_REAL) {
            kind = 2;
        } else if (l->kind == L_STR) {
            kind = str_number(l->s, &neg, &mag, &ld);
            if (kind < 0) {
                set_err(err, errlen, "'%s' at position %zu is out of range for %s property '%s'",
                        ls, n->lit_pos + 1, tn, pr->name);
                return -1;
            }
            if (kind == 0) {
                set_err(err, errlen, "'%s' at position %zu is not a number (property '%s' is %s)",
                        ls, n->lit_pos + 1, pr->name, tn);
                return -1;
            }
        } else {
            set_err(err, errlen, "%s at position %zu compared with %s property '%s'", ls,
                    n->lit_pos + 1, tn, pr->name);
            return -1;
        }
        if (is_real_type(t)) {
            n->dom = D_REAL;
            n->bd = kind == 1 ? (double)sm_to_ld(neg, mag) : (double)ld;
        } else if (kind == 1) {
            n->dom = D_INT;
            n->bneg = neg;
            n->bmag = mag;
        } else {
            n->dom = D_LD;
            n->bld = ld;
        }
        return 0;
    }
    if (t == CIM_BOOLEAN) {
        n->dom = D_BOOL;
        if (l->kind == L_BOOL) {
            n->bb = l->b;
            return 0;
        }
        if (l->kind == L_INT && !l->neg && l->mag <= 1) {
            n->bb = l->mag == 1;
            return 0;
        }
        if (l->kind == L_STR && (ci_cmp(l->s, "true") == 0 || ci_cmp(l->s, "false") == 0)) {
            n->bb = ci_cmp(l->s, "true") == 0;
            return 0;
        }
        set_err(err, errlen,
                "'%s' at position %zu is not a boolean (property '%s' takes TRUE or FALSE)", ls,
                n->lit_pos + 1, pr->name);
        return -1;
    }
    /* string, datetime */
    if (l->kind != L_STR) {
        set_err(err, errlen, "%s at position %zu compared with %s property '%s' (quote it)", ls,
                n->lit_pos + 1, tn, pr->name);
        return -1;
    }
    n->dom = D_STR;
    return 0;
}

static int bind_tree(struct node *n, const struct cim_class *cls, char *err, size_t errlen)
{
    switch (n->k) {
    case N_AND:
    case N_OR:
    case N_NOT:
        for (struct node *c = n->kids; c; c = c->next)
            if (bind_tree(c, cls, err, errlen) < 0)
                return -1;
        return 0;
    case N_CMP:
    case N_LIKE:
    case N_NULL:
        return bind_leaf(n, cls, "WHERE", err, errlen);
    }
    return -1;
}

enum wsm_err wql_bind(struct wql_query *q, const struct cim_class *cls, char *err, size_t errlen)
{
    set_err(err, errlen, "%s", "");
    if (!q || !cls || (cls->nprops && !cls->props)) {
        set_err(err, errlen, "no query or class");
        return WSM_ERR_INVALID_ARG;
    }
    q->cls = NULL;
    unsigned char *mask = wsm__arena_alloc(&q->arena, cls->nprops ? cls->nprops : 1);
    if (!mask) {
        set_err(err, errlen, "out of memory");
        return WSM_ERR_NOMEM;
    }
    memset(mask, 0, cls->nprops ? cls->nprops : 1);
    for (size_t i = 0; i < q->nsel; i++) {
        long idx = find_prop(cls, q->sel[i]);
        if (idx < 0) {
            set_err(err, errlen, "unknown property '%s' in SELECT (class %s)", q->sel[i],
                    cls->name ? cls->name : "?");
            return WSM_ERR_INVALID_ARG;
        }
        mask[idx] = 1;
    }
    if (q->where && bind_tree(q->where, cls, err, errlen) < 0)
        return WSM_ERR_INVALID_ARG;
    q->mask = mask;
    q->cls = cls;
    return WSM_OK;
}

/* ---- matching ------------------------------------------------------ */

static int cmp_ok(int c, enum op op)
{
    switch (op) {
    case OP_EQ:
        return c == 0;
    case OP_NE:
        return c != 0;
    case OP_LT:
        return c < 0;
    case OP_GT:
        return c > 0;
    case OP_LE:
        return c <= 0;
    case OP_GE:
        return c >= 0;
    }
    return 0;
}

/* Sign-magnitude comparison. */
static int sm_cmp(int an, uint64_t am, int bn, uint64_t bm)
{
    if (an != bn)
        return an ? -1 : 1;
    int c = am < bm ? -1 : am > bm;
    return an ? -c : c;
}

/* Compares two floating values under op; NaN is unordered (only <> holds). */
static int fp_ok(long double a, long double b, enum op op)
{
    if (isnan(a) || isnan(b))
        return op == OP_NE;
    return cmp_ok(a < b ? -1 : a > b, op);
}

/* One value (non-NULL text) against a bound CMP or LIKE leaf. */
static int leaf_match(const struct node *n, const char *v)
{
    if (n->k == N_LIKE)
        return like_match(n->pat, n->npat, v);
    switch (n->dom) {
    case D_INT: {
        int neg;
        uint64_t mag;
        if (parse_int(v, strlen(v), &neg, &mag) != 1)
            return 0;
        return cmp_ok(sm_cmp(neg, mag, n->bneg, n->bmag), n->op);
    }
    case D_LD: {
        int neg;
        uint64_t mag;
        if (parse_int(v, strlen(v), &neg, &mag) != 1)
            return 0;
        return fp_ok(sm_to_ld(neg, mag), n->bld, n->op);
    }
    case D_REAL: {
        char *end;
        if (!*v)
            return 0;
        double d = strtod(v, &end);
        if (*end)
            return 0;
        return fp_ok(d, n->bd, n->op);
    }
    case D_BOOL: {
        int b;
        if (ci_cmp(v, "true") == 0 || strcmp(v, "1") == 0)
            b = 1;
        else if (ci_cmp(v, "false") == 0 || strcmp(v, "0") == 0)
            b = 0;
        else
            return 0;
        return cmp_ok(b - n->bb, n->op);
    }
    case D_STR:
        return cmp_ok(ci_cmp(v, n->lit.s), n->op);
    }
    return 0;
}

static int eval(const struct node *n, const struct cim_instance *inst)
{
    switch (n->k) {
    case N_AND:
        for (const struct node *c = n->kids; c; c = c->next)
            if (!eval(c, inst))
                return 0;
        return 1;
    case N_OR:
        for (const struct node *c = n->kids; c; c = c->next)
            if (eval(c, inst))
                return 1;
        return 0;
    case N_NOT:
        return !eval(n->kids, inst);
    case N_NULL: {
        const struct cim_val *v = &inst->v[n->pidx];
        int isnull = n->is_array ? (v->n == 0 && v->items == NULL) : v->s == NULL;
        return n->isnot ? !isnull : isnull;
    }
    case N_CMP:
    case N_LIKE: {
        const struct cim_val *v = &inst->v[n->pidx];
        if (!n->is_array)
            return v->s && leaf_match(n, v->s);
        if (!v->items)
            return 0;
        for (size_t i = 0; i < v->n; i++)
            if (v->items[i] && leaf_match(n, v->items[i]))
                return 1;
        return 0;
    }
    }
    return 0;
}

int wql_match(const struct wql_query *q, const struct cim_instance *inst)
{
    if (!q || !q->cls)
        return 0;
    if (!q->where)
        return 1;
    if (!inst || !inst->v)
        return 0;
    return eval(q->where, inst);
}

int wql_selects(const struct wql_query *q, size_t prop_index)
{
    if (!q || !q->cls || prop_index >= q->cls->nprops)
        return 0;
    if (q->nsel == 0 || (q->cls->props[prop_index].flags & CIM_KEY))
        return 1;
    return q->mask[prop_index];
}
