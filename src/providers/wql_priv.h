/* Between the files of WQL (wql.h): wql.c (the parser and the query's
 * accessors), wqllex.c (text helpers, the lexer, LIKE patterns) and
 * wqlbind.c (binding to a class, matching instances). */
#ifndef WSMD_WQL_PRIV_H
#define WSMD_WQL_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "wql.h"

/* ---- query representation ------------------------------------------ */

enum op { OP_EQ, OP_NE, OP_LT, OP_GT, OP_LE, OP_GE };

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

void wql__set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* ASCII case-insensitive comparison, bytes otherwise (locale-free). */
int wql__ci_cmp(const char *a, const char *b);
/* Integer text: [+-]digits, magnitude <= UINT64_MAX. 1 ok, 0 not an
 * integer, -1 out of range. */
int wql__parse_int(const char *s, size_t n, int *neg, uint64_t *mag);
/* Real text: [+-](digits[.digits*] | .digits)[(e|E)[+-]digits]. Returns
 * the length of the longest such prefix of s (n bytes), 0 if none. */
size_t wql__scan_real(const char *s, size_t n);
/* Records the first error: the reason and " at position N" (1-based). */
void wql__perr(struct parser *p, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void wql__pnomem(struct parser *p);
/* Query text quoted in a message: at most 24 bytes, then "...", with
 * anything but printable ASCII shown as '?' so that the reason is safe to
 * put in a fault (no control characters, no split UTF-8). buf: 32 bytes. */
const char *wql__clip(char *buf, const char *s, size_t n);
/* The current token for messages: 'text' or "end of query". */
const char *wql__tok_desc(const struct parser *p, char *buf, size_t n);
void *wql__palloc(struct parser *p, size_t n);
/* Reads the next token into p->t; -1 on a lexical error (recorded). */
int wql__lex(struct parser *p);
/* Compiles a LIKE pattern (decoded string s); pos is the literal's offset
 * for messages. 0 ok, -1 error (recorded). */
int wql__compile_like(struct parser *p, struct node *n, const char *str, size_t pos);
int wql__like_match(const struct pat *pat, size_t np, const char *str);

#endif
