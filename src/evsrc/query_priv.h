/* The query compiler's insides, shared by query.c (the QueryList, the
 * matcher) and xpath.c (the XPath subset inside each Select). */
#ifndef WSMD_QUERY_PRIV_H
#define WSMD_QUERY_PRIV_H

#include "evsrc_priv.h"

#define MAX_TEXT (512 * 1024) /* the whole QueryList */
#define MAX_EQUALS 8192       /* '=' signs: bounds libxml2's attribute check too */
#define MAX_SELECTS 256       /* Windows refuses more than 256 channels */
#define MAX_NODES 8192        /* predicate nodes of the whole query */
#define MAX_NEST 32           /* parentheses and brackets */
#define MAX_XML_DEPTH 16      /* QueryList/Query/Select is 3 */
#define MAX_STR 1024          /* a provider name or time literal */

enum qkind {
    Q_AND,
    Q_OR,
    Q_LEVEL,
    Q_EVENTID,
    Q_RECORDID,
    Q_ZERO, /* Task, Opcode, Version: always 0 in our events */
    Q_PROVIDER,
    Q_TIMEDIFF,   /* timediff(@SystemTime), milliseconds */
    Q_SYSTEMTIME, /* @SystemTime against a literal, microseconds */
};

enum qop { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };

struct qnode {
    unsigned char kind, op;
    int l, r;    /* children of AND / OR */
    long long v; /* the number compared with */
    char *s;     /* the provider name */
};

enum pathkind { PATH_ALL, PATH_PRIMARY, PATH_UNIT, PATH_NONE /* an ignored channel */ };

struct qsel {
    int suppress;
    int query; /* the Query's index: a Suppress acts within its Query */
    enum pathkind pk;
    enum wsmd_evchan chan;
    char *unit; /* PATH_UNIT */
    int root;   /* -1: every event ("*") */
};

struct wsmd_evq {
    struct qsel *sel;
    size_t nsel;
    int nqueries;
    struct qnode *nodes;
    size_t nnodes, anodes;
};

struct xp {
    struct wsmd_evq *q;
    const char *p, *start;
    int nest;
    unsigned flags;
    int ignored; /* channels ignored (WSMD_EVQ_IGNORE_CHANNEL_ERROR) */
    enum wsm_err err;
    char *why;
    size_t whylen;
};

/* Records the first error and its reason (printf); returns -1. */
int wsmd__xp_fail(struct xp *x, enum wsm_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The Select/Suppress text at x->p: "*", "*[pred]" or "Event[pred]". The
 * root node, -1 for every event, or -2 on error (x->err, x->why). */
int wsmd__xp_select(struct xp *x);

#endif
