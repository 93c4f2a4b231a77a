/* WQL, against a class: binding a parsed query (property names, types,
 * literals converted once) and matching instances with the bound tree. */
#include "wql.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "wql_priv.h"

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
        if (cls->props[i].name && wql__ci_cmp(cls->props[i].name, name) == 0)
            return (long)i;
    return -1;
}

/* A string literal read as a number: 1 integer, 2 real, 0 neither, -1 too large. */
static int str_number(const char *s, int *neg, uint64_t *mag, long double *ld)
{
    size_t n = strlen(s);
    int r = wql__parse_int(s, n, neg, mag);
    if (r != 0)
        return r;
    if (n == 0 || wql__scan_real(s, n) != n)
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
        wql__set_err(err, errlen, "unknown property '%s' in %s at position %zu (class %s)", n->prop,
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
    wql__clip(ls, l->s, strlen(l->s));
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
                wql__set_err(err, errlen,
                             "'%s' at position %zu is out of range for %s property '%s'", ls,
                             n->lit_pos + 1, tn, pr->name);
                return -1;
            }
            if (kind == 0) {
                wql__set_err(err, errlen,
                             "'%s' at position %zu is not a number (property '%s' is %s)", ls,
                             n->lit_pos + 1, pr->name, tn);
                return -1;
            }
        } else {
            wql__set_err(err, errlen, "%s at position %zu compared with %s property '%s'", ls,
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
        if (l->kind == L_STR &&
            (wql__ci_cmp(l->s, "true") == 0 || wql__ci_cmp(l->s, "false") == 0)) {
            n->bb = wql__ci_cmp(l->s, "true") == 0;
            return 0;
        }
        wql__set_err(err, errlen,
                     "'%s' at position %zu is not a boolean (property '%s' takes TRUE or FALSE)",
                     ls, n->lit_pos + 1, pr->name);
        return -1;
    }
    /* string, datetime */
    if (l->kind != L_STR) {
        wql__set_err(err, errlen, "%s at position %zu compared with %s property '%s' (quote it)",
                     ls, n->lit_pos + 1, tn, pr->name);
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
    wql__set_err(err, errlen, "%s", "");
    if (!q || !cls || (cls->nprops && !cls->props)) {
        wql__set_err(err, errlen, "no query or class");
        return WSM_ERR_INVALID_ARG;
    }
    q->cls = NULL;
    unsigned char *mask = wsm__arena_alloc(&q->arena, cls->nprops ? cls->nprops : 1);
    if (!mask) {
        wql__set_err(err, errlen, "out of memory");
        return WSM_ERR_NOMEM;
    }
    memset(mask, 0, cls->nprops ? cls->nprops : 1);
    for (size_t i = 0; i < q->nsel; i++) {
        long idx = find_prop(cls, q->sel[i]);
        if (idx < 0) {
            wql__set_err(err, errlen, "unknown property '%s' in SELECT (class %s)", q->sel[i],
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
        return wql__like_match(n->pat, n->npat, v);
    switch (n->dom) {
    case D_INT: {
        int neg;
        uint64_t mag;
        if (wql__parse_int(v, strlen(v), &neg, &mag) != 1)
            return 0;
        return cmp_ok(sm_cmp(neg, mag, n->bneg, n->bmag), n->op);
    }
    case D_LD: {
        int neg;
        uint64_t mag;
        if (wql__parse_int(v, strlen(v), &neg, &mag) != 1)
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
        if (wql__ci_cmp(v, "true") == 0 || strcmp(v, "1") == 0)
            b = 1;
        else if (wql__ci_cmp(v, "false") == 0 || strcmp(v, "0") == 0)
            b = 0;
        else
            return 0;
        return cmp_ok(b - n->bb, n->op);
    }
    case D_STR:
        return cmp_ok(wql__ci_cmp(v, n->lit.s), n->op);
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
