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
 *
 * This file: the parser and the query's accessors; wqllex.c has the
 * lexer and LIKE patterns, wqlbind.c binding and matching (wql_priv.h).
 */
#include "wql.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "wql_priv.h"

static const char *const op_text[] = {"=", "<>", "<", ">", "<=", ">="};

/* ---- parser -------------------------------------------------------- */

static struct node *new_node(struct parser *p, enum node_kind k, size_t off)
{
    if (++p->nodes > WQL_MAX_NODES) {
        wql__perr(p, off, "expression too long (more than %d terms)", WQL_MAX_NODES);
        return NULL;
    }
    struct node *n = wql__palloc(p, sizeof(*n));
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
        wql__pnomem(p);
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
        wql__perr(p, op_off, "NULL can only be compared with = or <> (or use IS [NOT] NULL)");
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
        if (!prop || wql__lex(p) < 0)
            return NULL;
        if (p->t.k == K_IS) {
            if (wql__lex(p) < 0)
                return NULL;
            int isnot = 0;
            if (p->t.k == K_NOT) {
                isnot = 1;
                if (wql__lex(p) < 0)
                    return NULL;
            }
            if (p->t.k != K_NULL) {
                wql__perr(p, p->t.off, "expected NULL after IS, found %s",
                          wql__tok_desc(p, d, sizeof(d)));
                return NULL;
            }
            struct node *n = new_node(p, N_NULL, prop_off);
            if (!n || wql__lex(p) < 0)
                return NULL;
            n->prop = prop;
            n->pos = prop_off;
            n->isnot = isnot;
            return n;
        }
        int notlike = 0;
        if (p->t.k == K_NOT) {
            if (wql__lex(p) < 0)
                return NULL;
            if (p->t.k != K_LIKE) {
                wql__perr(p, p->t.off, "expected LIKE after NOT, found %s",
                          wql__tok_desc(p, d, sizeof(d)));
                return NULL;
            }
            notlike = 1;
        }
        if (p->t.k == K_LIKE) {
            if (wql__lex(p) < 0)
                return NULL;
            if (p->t.k != T_STR) {
                wql__perr(p, p->t.off, "LIKE needs a quoted pattern, found %s",
                          wql__tok_desc(p, d, sizeof(d)));
                return NULL;
            }
            struct node *n = new_node(p, N_LIKE, prop_off);
            if (!n)
                return NULL;
            n->prop = prop;
            n->pos = prop_off;
            n->lit = p->t.lit;
            n->lit_pos = p->t.off;
            if (wql__compile_like(p, n, p->t.lit.s, p->t.off) < 0 || wql__lex(p) < 0)
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
            wql__perr(p, p->t.off, "expected an operator after '%s', found %s", prop,
                      wql__tok_desc(p, d, sizeof(d)));
            return NULL;
        }
        enum op op = p->t.op;
        size_t op_off = p->t.off;
        if (wql__lex(p) < 0)
            return NULL;
        if (p->t.k == T_IDENT) {
            wql__perr(p, p->t.off, "comparing two properties is not supported");
            return NULL;
        }
        if (p->t.k == K_NULL) {
            struct node *n = null_cmp(p, op, op_off, prop, prop_off);
            if (!n || wql__lex(p) < 0)
                return NULL;
            return n;
        }
        if (!is_literal(p->t.k)) {
            wql__perr(p, p->t.off, "expected a value after '%s', found %s", op_text[op],
                      wql__tok_desc(p, d, sizeof(d)));
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
        if (wql__lex(p) < 0)
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
        if (wql__lex(p) < 0)
            return NULL;
        if (p->t.k != T_OP) {
            wql__perr(p, p->t.off, "expected an operator after the value, found %s",
                      wql__tok_desc(p, d, sizeof(d)));
            return NULL;
        }
        enum op op = flip(p->t.op);
        size_t op_off = p->t.off;
        if (wql__lex(p) < 0)
            return NULL;
        if (is_literal(p->t.k)) {
            wql__perr(p, p->t.off, "comparing two constants is not supported");
            return NULL;
        }
        if (p->t.k != T_IDENT) {
            wql__perr(p, p->t.off, "expected a property name, found %s",
                      wql__tok_desc(p, d, sizeof(d)));
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
        if (!n || wql__lex(p) < 0)
            return NULL;
        return n;
    }
    wql__perr(p, p->t.off, "expected a condition, found %s", wql__tok_desc(p, d, sizeof(d)));
    return NULL;
}

static int enter(struct parser *p)
{
    if (++p->depth > WQL_MAX_DEPTH) {
        wql__perr(p, p->t.off, "expression nested too deeply (more than %d levels)", WQL_MAX_DEPTH);
        return -1;
    }
    return 0;
}

static struct node *parse_not(struct parser *p)
{
    if (p->t.k == K_NOT) {
        size_t off = p->t.off;
        if (enter(p) < 0 || wql__lex(p) < 0)
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
        if (enter(p) < 0 || wql__lex(p) < 0)
            return NULL;
        struct node *e = parse_or(p);
        if (!e)
            return NULL;
        if (p->t.k != T_RP) {
            char d[40];
            wql__perr(p, p->t.off, "expected ')' to close the '(' at position %zu, found %s",
                      off + 1, wql__tok_desc(p, d, sizeof(d)));
            return NULL;
        }
        if (wql__lex(p) < 0)
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
        if (wql__lex(p) < 0)
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
    if (wql__lex(p) < 0)
        return -1;
    if (p->t.k != K_SELECT) {
        wql__perr(p, p->t.off, "expected SELECT, found %s", wql__tok_desc(p, d, sizeof(d)));
        return -1;
    }
    if (wql__lex(p) < 0)
        return -1;
    if (p->t.k == T_STAR) {
        if (wql__lex(p) < 0)
            return -1;
    } else {
        for (;;) {
            if (p->t.k != T_IDENT) {
                wql__perr(p, p->t.off, "expected a property name or *, found %s",
                          wql__tok_desc(p, d, sizeof(d)));
                return -1;
            }
            if (q->nsel == WQL_MAX_SELECT) {
                wql__perr(p, p->t.off, "too many properties in SELECT (more than %d)",
                          WQL_MAX_SELECT);
                return -1;
            }
            const char *name = take_ident(p);
            if (!name)
                return -1;
            q->sel[q->nsel++] = name;
            if (wql__lex(p) < 0)
                return -1;
            if (p->t.k != T_COMMA)
                break;
            if (wql__lex(p) < 0)
                return -1;
        }
    }
    if (p->t.k != K_FROM) {
        wql__perr(p, p->t.off, "expected FROM, found %s", wql__tok_desc(p, d, sizeof(d)));
        return -1;
    }
    if (wql__lex(p) < 0)
        return -1;
    if (p->t.k != T_IDENT) {
        wql__perr(p, p->t.off, "expected a class name after FROM, found %s",
                  wql__tok_desc(p, d, sizeof(d)));
        return -1;
    }
    q->cls_name = take_ident(p);
    if (!q->cls_name || wql__lex(p) < 0)
        return -1;
    if (p->t.k == K_WHERE) {
        if (wql__lex(p) < 0)
            return -1;
        q->where = parse_or(p);
        if (!q->where)
            return -1;
    }
    if (p->t.k != T_EOF) {
        wql__perr(p, p->t.off, "unexpected %s after the end of the query",
                  wql__tok_desc(p, d, sizeof(d)));
        return -1;
    }
    return 0;
}

enum wsm_err wql_parse(const char *text, struct wql_query **out, char *err, size_t errlen)
{
    if (out)
        *out = NULL;
    wql__set_err(err, errlen, "%s", "");
    if (!text || !out) {
        wql__set_err(err, errlen, "no query");
        return WSM_ERR_INVALID_ARG;
    }
    size_t len = strnlen(text, WQL_MAX_TEXT + 1);
    if (len > WQL_MAX_TEXT) {
        wql__set_err(err, errlen, "query too long (more than %d bytes)", WQL_MAX_TEXT);
        return WSM_ERR_INVALID_ARG;
    }
    struct wql_query *q = calloc(1, sizeof(*q));
    if (!q) {
        wql__set_err(err, errlen, "out of memory");
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
