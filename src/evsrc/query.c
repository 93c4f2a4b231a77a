/* A subscription's Filter compiled into a matcher
 * (docs/internals/evsrc.md, "Queries").
 *
 * The QueryList is XML and is read by libxml2, hardened as the envelope
 * parser is (no DTD, no entity but the five predefined, a depth cap, a cap
 * on the size and on the attributes libxml2 checks quadratically). The
 * XPath inside each Select and Suppress is the small language Windows'
 * Event Viewer and wecutil write; it is read by the hand parser below,
 * which knows exactly that subset and names what it does not know, so a
 * subscriber learns why its query was refused instead of silently getting
 * no events. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

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

void wsmd__evq_free(struct wsmd_evq *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->nnodes; i++)
        free(q->nodes[i].s);
    for (size_t i = 0; i < q->nsel; i++)
        free(q->sel[i].unit);
    free(q->nodes);
    free(q->sel);
    free(q);
}

/* ---- the XPath subset ---------------------------------------------- */

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

static int fail(struct xp *x, enum wsm_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct xp *x, enum wsm_err err, const char *fmt, ...)
{
    if (!x->err) {
        x->err = err;
        if (x->why && x->whylen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(x->why, x->whylen, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

static void skip_ws(struct xp *x)
{
    while (*x->p == ' ' || *x->p == '\t' || *x->p == '\n' || *x->p == '\r')
        x->p++;
}

static int is_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.';
}

/* Consumes the word w if it is next and is a whole word. */
static int word(struct xp *x, const char *w)
{
    skip_ws(x);
    size_t n = strlen(w);
    if (strncmp(x->p, w, n) == 0 && (!is_name_char(x->p[n]) || !is_name_char(w[n - 1]))) {
        x->p += n;
        return 1;
    }
    return 0;
}

/* What is next, for a message: at most 24 printable characters. */
static const char *near(struct xp *x, char buf[32])
{
    size_t i = 0;
    const char *p = x->p;
    while (*p && i < 24) {
        buf[i++] = (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7F ? *p : '?';
        p++;
    }
    buf[i] = '\0';
    return i ? buf : "the end";
}

static int expect(struct xp *x, const char *w)
{
    char b[32];
    if (word(x, w))
        return 0;
    return fail(x, WSM_ERR_INVALID_ARG, "XPath: '%s' expected at '%s'", w, near(x, b));
}

static int new_node(struct xp *x, enum qkind k)
{
    struct wsmd_evq *q = x->q;
    if (q->nnodes >= MAX_NODES)
        return fail(x, WSM_ERR_INVALID_ARG, "XPath: more than %d conditions", MAX_NODES);
    if (q->nnodes == q->anodes) {
        size_t na = q->anodes ? q->anodes * 2 : 16;
        struct qnode *nn = realloc(q->nodes, na * sizeof(*nn));
        if (!nn)
            return fail(x, WSM_ERR_NOMEM, "out of memory");
        q->nodes = nn;
        q->anodes = na;
    }
    struct qnode *n = &q->nodes[q->nnodes];
    memset(n, 0, sizeof(*n));
    n->kind = (unsigned char)k;
    n->l = n->r = -1;
    return (int)q->nnodes++;
}

static int parse_op(struct xp *x, enum qop *op)
{
    char b[32];
    skip_ws(x);
    if (x->p[0] == '!' && x->p[1] == '=')
        *op = OP_NE, x->p += 2;
    else if (x->p[0] == '<' && x->p[1] == '=')
        *op = OP_LE, x->p += 2;
    else if (x->p[0] == '>' && x->p[1] == '=')
        *op = OP_GE, x->p += 2;
    else if (x->p[0] == '=')
        *op = OP_EQ, x->p++;
    else if (x->p[0] == '<')
        *op = OP_LT, x->p++;
    else if (x->p[0] == '>')
        *op = OP_GT, x->p++;
    else
        return fail(x, WSM_ERR_INVALID_ARG, "XPath: a comparison expected at '%s'", near(x, b));
    return 0;
}

static int parse_num(struct xp *x, long long *v)
{
    char b[32];
    skip_ws(x);
    const char *s = x->p;
    long long n = 0;
    int digits = 0;
    while (*x->p >= '0' && *x->p <= '9') {
        if (++digits > 18)
            return fail(x, WSM_ERR_INVALID_ARG, "XPath: number too large at '%s'", near(x, b));
        n = n * 10 + (*x->p++ - '0');
    }
    if (!digits) {
        x->p = s;
        if (*s == '-' || *s == '\'' || *s == '"')
            return fail(x, WSM_ERR_UNSUPPORTED_FEATURE,
                        "XPath: only non-negative integers are supported here, at '%s'",
                        near(x, b));
        return fail(x, WSM_ERR_INVALID_ARG, "XPath: a number expected at '%s'", near(x, b));
    }
    if (*x->p == '.' || is_name_char(*x->p))
        return fail(x, WSM_ERR_UNSUPPORTED_FEATURE, "XPath: only integers are supported, at '%s'",
                    near(x, b));
    *v = n;
    return 0;
}

static int parse_str(struct xp *x, char **out)
{
    char b[32];
    skip_ws(x);
    char quote = *x->p;
    if (quote != '\'' && quote != '"')
        return fail(x, WSM_ERR_INVALID_ARG, "XPath: a quoted string expected at '%s'", near(x, b));
    const char *s = ++x->p;
    const char *e = strchr(s, quote);
    if (!e)
        return fail(x, WSM_ERR_INVALID_ARG, "XPath: unterminated string");
    if ((size_t)(e - s) > MAX_STR)
        return fail(x, WSM_ERR_INVALID_ARG, "XPath: string longer than %d bytes", MAX_STR);
    if (!(*out = strndup(s, (size_t)(e - s))))
        return fail(x, WSM_ERR_NOMEM, "out of memory");
    x->p = e + 1;
    return 0;
}

/* "2026-12-07T10:08:16.498Z" (fraction optional, 'Z' or nothing) in
 * microseconds since 1970, or -1. */
static long long parse_iso(const char *s)
{
    int Y, M, D, h, m, sec, used = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &sec, &used) != 6 || used != 19)
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60 || Y < 1970)
        return -1;
    const char *p = s + used;
    long long frac = 0;
    int fd = 0;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (fd < 6)
                frac = frac * 10 + (*p - '0'), fd++;
            p++;
        }
        while (fd < 6)
            frac *= 10, fd++;
    }
    if (*p == 'Z')
        p++;
    if (*p)
        return -1;
    /* Days from civil (proleptic Gregorian), no time zone involved. */
    int y = Y - (M <= 2);
    long long era = y / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (M + (M > 2 ? -3 : 9)) + 2) / 5 + D - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    long long days = era * 146097 + doe - 719468;
    return ((days * 86400 + h * 3600 + m * 60 + sec) * 1000000LL) + frac;
}

enum ctx { CTX_SYSTEM, CTX_PROVIDER, CTX_TIME };

static int parse_or(struct xp *x, enum ctx c);

static int binary(struct xp *x, enum qkind k, int l, int r)
{
    if (l < 0 || r < 0)
        return -1;
    int n = new_node(x, k);
    if (n >= 0) {
        x->q->nodes[n].l = l;
        x->q->nodes[n].r = r;
    }
    return n;
}

static int cmp_node(struct xp *x, enum qkind k)
{
    enum qop op = OP_EQ;
    long long v = 0;
    if (parse_op(x, &op) < 0 || parse_num(x, &v) < 0)
        return -1;
    int n = new_node(x, k);
    if (n >= 0) {
        x->q->nodes[n].op = (unsigned char)op;
        x->q->nodes[n].v = v;
    }
    return n;
}

/* [ or ] of a context. */
static int bracketed(struct xp *x, enum ctx c)
{
    if (expect(x, "[") < 0)
        return -1;
    int n = parse_or(x, c);
    if (n < 0 || expect(x, "]") < 0)
        return -1;
    return n;
}

static int parse_primary(struct xp *x, enum ctx c)
{
    char b[32];
    skip_ws(x);
    if (++x->nest > MAX_NEST)
        return fail(x, WSM_ERR_INVALID_ARG, "XPath: nested deeper than %d", MAX_NEST);
    int n = -1;
    if (word(x, "(")) {
        n = parse_or(x, c);
        if (n >= 0 && expect(x, ")") < 0)
            n = -1;
    } else if (c == CTX_PROVIDER) {
        enum qop op;
        if (!word(x, "@Name")) {
            if (word(x, "@Guid") || word(x, "@EventSourceName"))
                n = fail(x, WSM_ERR_UNSUPPORTED_FEATURE,
                         "XPath: only Provider[@Name=...] is supported");
            else
                n = fail(x, WSM_ERR_INVALID_ARG, "XPath: @Name expected at '%s'", near(x, b));
        } else if (parse_op(x, &op) < 0) {
        } else if (op != OP_EQ && op != OP_NE) {
            n = fail(x, WSM_ERR_UNSUPPORTED_FEATURE,
                     "XPath: @Name can be compared with = or != only");
        } else if ((n = new_node(x, Q_PROVIDER)) >= 0) {
            x->q->nodes[n].op = (unsigned char)op;
            char *s = NULL;
            if (parse_str(x, &s) < 0)
                n = -1;
            else
                x->q->nodes[n].s = s;
        }
    } else if (c == CTX_TIME) {
        enum qop op;
        if (word(x, "timediff")) {
            if (expect(x, "(") < 0 || expect(x, "@SystemTime") < 0 || expect(x, ")") < 0)
                n = -1;
            else
                n = cmp_node(x, Q_TIMEDIFF);
        } else if (word(x, "@SystemTime")) {
            char *s = NULL;
            long long t;
            if (parse_op(x, &op) < 0 || parse_str(x, &s) < 0) {
            } else if ((t = parse_iso(s)) < 0) {
                n = fail(x, WSM_ERR_INVALID_ARG, "XPath: not a UTC time: '%.40s'", s);
            } else if ((n = new_node(x, Q_SYSTEMTIME)) >= 0) {
                x->q->nodes[n].op = (unsigned char)op;
                x->q->nodes[n].v = t;
            }
            free(s);
        } else {
            n = fail(x, WSM_ERR_UNSUPPORTED_FEATURE,
                     "XPath: only timediff(@SystemTime) and @SystemTime are supported in "
                     "TimeCreated, at '%s'",
                     near(x, b));
        }
    } else {
        /* System/Level=2 means System[Level=2]. */
        int sys_slash = 0;
        if (word(x, "System")) {
            skip_ws(x);
            if (*x->p == '/') {
                x->p++;
                sys_slash = 1;
            } else {
                n = bracketed(x, CTX_SYSTEM);
                goto done;
            }
        }
        if (word(x, "Level"))
            n = cmp_node(x, Q_LEVEL);
        else if (word(x, "EventID"))
            n = cmp_node(x, Q_EVENTID);
        else if (word(x, "EventRecordID"))
            n = cmp_node(x, Q_RECORDID);
        else if (word(x, "Task") || word(x, "Opcode") || word(x, "Version"))
            n = cmp_node(x, Q_ZERO);
        else if (!sys_slash && word(x, "Provider"))
            n = bracketed(x, CTX_PROVIDER);
        else if (!sys_slash && word(x, "TimeCreated"))
            n = bracketed(x, CTX_TIME);
        else if (word(x, "EventData") || word(x, "UserData"))
            n = fail(x, WSM_ERR_UNSUPPORTED_FEATURE,
                     "XPath: EventData and UserData filters are "
                     "not supported; System fields only");
        else if (word(x, "band"))
            n = fail(x, WSM_ERR_UNSUPPORTED_FEATURE, "XPath: band() (Keywords) is not supported");
        else if (word(x, "not"))
            n = fail(x, WSM_ERR_UNSUPPORTED_FEATURE, "XPath: not() is not supported");
        else if (is_name_char(*x->p) || *x->p == '@' || *x->p == '*')
            n = fail(x, WSM_ERR_UNSUPPORTED_FEATURE,
                     "XPath: supported are Level, EventID, EventRecordID, Provider[@Name], "
                     "TimeCreated[timediff(@SystemTime)], and, or; not '%s'",
                     near(x, b));
        else
            n = fail(x, WSM_ERR_INVALID_ARG, "XPath: syntax error at '%s'", near(x, b));
    }
done:
    x->nest--;
    return n;
}

static int parse_and(struct xp *x, enum ctx c)
{
    int l = parse_primary(x, c);
    while (l >= 0 && word(x, "and"))
        l = binary(x, Q_AND, l, parse_primary(x, c));
    return l;
}

static int parse_or(struct xp *x, enum ctx c)
{
    int l = parse_and(x, c);
    while (l >= 0 && word(x, "or"))
        l = binary(x, Q_OR, l, parse_and(x, c));
    return l;
}

/* "*", "*[pred]" or "Event[pred]": the root node, -1 for every event, or
 * -2 on error. */
static int parse_select(struct xp *x)
{
    char b[32];
    skip_ws(x);
    if (!word(x, "*") && !word(x, "Event"))
        return fail(x, *x->p ? WSM_ERR_UNSUPPORTED_FEATURE : WSM_ERR_INVALID_ARG,
                    "XPath: a Select must start with '*' or 'Event', not '%s'", near(x, b)),
               -2;
    skip_ws(x);
    int root = -1;
    if (*x->p == '[') {
        root = bracketed(x, CTX_SYSTEM);
        if (root < 0)
            return -2;
    }
    skip_ws(x);
    if (*x->p)
        return fail(x, WSM_ERR_INVALID_ARG, "XPath: unexpected '%s'", near(x, b)), -2;
    return root;
}

/* ---- matching ------------------------------------------------------ */

static int cmp(enum qop op, long long a, long long b)
{
    switch (op) {
    case OP_EQ:
        return a == b;
    case OP_NE:
        return a != b;
    case OP_LT:
        return a < b;
    case OP_LE:
        return a <= b;
    case OP_GT:
        return a > b;
    case OP_GE:
        return a >= b;
    }
    return 0;
}

static int eval(const struct wsmd_evq *q, int i, const struct wsmd_evin *e, uint64_t now)
{
    const struct qnode *n = &q->nodes[i];
    switch ((enum qkind)n->kind) {
    case Q_AND:
        return eval(q, n->l, e, now) && eval(q, n->r, e, now);
    case Q_OR:
        return eval(q, n->l, e, now) || eval(q, n->r, e, now);
    case Q_LEVEL:
        return cmp(n->op, e->level, n->v);
    case Q_EVENTID:
        return cmp(n->op, e->eventid, n->v);
    case Q_RECORDID:
        return cmp(n->op, (long long)(e->seqnum & 0x7FFFFFFFFFFFFFFFULL), n->v);
    case Q_ZERO:
        return cmp(n->op, 0, n->v);
    case Q_PROVIDER: {
        size_t len = strlen(n->s);
        int eq = e->provider_len == len && strncasecmp(e->provider, n->s, len) == 0;
        return n->op == OP_EQ ? eq : !eq;
    }
    case Q_TIMEDIFF: {
        /* An entry from the future (a clock step) is 0 ms old. */
        long long age = now > e->realtime_usec ? (long long)((now - e->realtime_usec) / 1000) : 0;
        return cmp(n->op, age, n->v);
    }
    case Q_SYSTEMTIME:
        return cmp(n->op, (long long)e->realtime_usec, n->v);
    }
    return 0;
}

static int path_takes(const struct qsel *s, const struct wsmd_evin *e)
{
    switch (s->pk) {
    case PATH_ALL:
        return 1;
    case PATH_PRIMARY:
        return s->chan == e->chan;
    case PATH_UNIT:
        return e->unit && e->unit_len == strlen(s->unit) &&
               memcmp(e->unit, s->unit, e->unit_len) == 0;
    case PATH_NONE:
        return 0;
    }
    return 0;
}

static void chan_name(const struct qsel *s, const struct wsmd_evin *e, char *chan)
{
    if (s->pk == PATH_UNIT)
        snprintf(chan, WSMD_EVCHAN_NAME_MAX, "%s%s", WSMD_EVCHAN_UNIT_PREFIX, s->unit);
    else
        snprintf(chan, WSMD_EVCHAN_NAME_MAX, "%s",
                 wsmd__evchan_names[s->pk == PATH_PRIMARY ? s->chan : e->chan]);
}

int wsmd__evq_match(const struct wsmd_evq *q, const struct wsmd_evin *e, uint64_t now_usec,
                    char *chan)
{
    /* Windows' rule: within a Query, an event is selected by any Select of
     * its channel and dropped by any Suppress of its channel; Queries add
     * up. The channel reported is the first Select's that took it. */
    for (int qi = 0; qi < q->nqueries; qi++) {
        const struct qsel *hit = NULL;
        int suppressed = 0;
        for (size_t i = 0; i < q->nsel && !suppressed; i++) {
            const struct qsel *s = &q->sel[i];
            if (s->query != qi || (!s->suppress && hit) || !path_takes(s, e))
                continue;
            if (s->root >= 0 && !eval(q, s->root, e, now_usec))
                continue;
            if (s->suppress)
                suppressed = 1;
            else
                hit = s;
        }
        if (hit && !suppressed) {
            chan_name(hit, e, chan);
            return 1;
        }
    }
    return 0;
}

int wsmd__evq_needs_seqnum(const struct wsmd_evq *q)
{
    for (size_t i = 0; i < q->nnodes; i++)
        if (q->nodes[i].kind == Q_RECORDID)
            return 1;
    return 0;
}

const char *wsmd__evq_first_path(const struct wsmd_evq *q)
{
    for (size_t i = 0; i < q->nsel; i++)
        if (!q->sel[i].suppress && q->sel[i].pk != PATH_NONE)
            return q->sel[i].pk == PATH_PRIMARY ? wsmd__evchan_names[q->sel[i].chan]
                                                : "Application";
    return "Application";
}

/* ---- the QueryList ------------------------------------------------- */

/* A channel name: Application, System, Security (any case, as Windows
 * takes them) or Unit/<unit name>. */
static int parse_path(struct xp *x, const char *path, struct qsel *s)
{
    while (*path == ' ' || *path == '\t' || *path == '\n' || *path == '\r')
        path++;
    size_t n = strlen(path);
    while (n && (path[n - 1] == ' ' || path[n - 1] == '\t' || path[n - 1] == '\n' ||
                 path[n - 1] == '\r'))
        n--;
    for (int c = 0; c < WSMD_EVCHAN__COUNT; c++) {
        if (strlen(wsmd__evchan_names[c]) == n &&
            strncasecmp(path, wsmd__evchan_names[c], n) == 0) {
            s->pk = PATH_PRIMARY;
            s->chan = (enum wsmd_evchan)c;
            return 0;
        }
    }
    if (n > WSMD_EVCHAN_UNIT_PREFIX_LEN &&
        strncasecmp(path, WSMD_EVCHAN_UNIT_PREFIX, WSMD_EVCHAN_UNIT_PREFIX_LEN) == 0) {
        const char *u = path + WSMD_EVCHAN_UNIT_PREFIX_LEN;
        size_t un = n - WSMD_EVCHAN_UNIT_PREFIX_LEN;
        int ok = un <= WSMD_EVUNIT_MAX;
        /* systemd's unit name characters. */
        for (size_t i = 0; ok && i < un; i++)
            ok = isalnum((unsigned char)u[i]) || strchr(":-_.\\@", u[i]);
        if (ok) {
            s->pk = PATH_UNIT;
            s->unit = strndup(u, un);
            return s->unit ? 0 : fail(x, WSM_ERR_NOMEM, "out of memory");
        }
    }
    if (x->flags & WSMD_EVQ_IGNORE_CHANNEL_ERROR) {
        /* Windows' IgnoreChannelError: the Select stays (its XPath is still
         * checked) and takes nothing; the first such channel is named. */
        s->pk = PATH_NONE;
        if (!x->ignored++ && x->why && x->whylen)
            snprintf(x->why, x->whylen, "ignored unknown channel '%.80s'", path);
        return 0;
    }
    return fail(x, WSM_ERR_INVALID_ARG,
                "unknown channel '%.80s' (Application, System, Security, Unit/<unit>)", path);
}

static int local_is(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static int only_space(const xmlNode *n)
{
    if (n->type == XML_COMMENT_NODE)
        return 1;
    if (n->type != XML_TEXT_NODE)
        return 0;
    for (const xmlChar *c = n->content; c && *c; c++)
        if (!isspace(*c))
            return 0;
    return 1;
}

static int add_sel(struct xp *x, int query, int suppress, const char *path, const char *xpath)
{
    struct wsmd_evq *q = x->q;
    if (q->nsel >= MAX_SELECTS)
        return fail(x, WSM_ERR_INVALID_ARG, "more than %d Select and Suppress elements",
                    MAX_SELECTS);
    struct qsel *ns = realloc(q->sel, (q->nsel + 1) * sizeof(*ns));
    if (!ns)
        return fail(x, WSM_ERR_NOMEM, "out of memory");
    q->sel = ns;
    struct qsel *s = &q->sel[q->nsel++];
    memset(s, 0, sizeof(*s));
    s->query = query;
    s->suppress = suppress;
    s->root = -1;
    if (path) {
        if (parse_path(x, path, s) < 0)
            return -1;
    } else {
        s->pk = PATH_ALL;
    }
    x->p = x->start = xpath;
    x->nest = 0;
    int root = parse_select(x);
    if (root < -1)
        return -1;
    s->root = root;
    return 0;
}

static int walk_querylist(struct xp *x, xmlNode *root)
{
    if (!local_is(root, "QueryList"))
        return fail(x, WSM_ERR_INVALID_ARG, "the filter is not a QueryList");
    int qi = 0;
    for (xmlNode *qn = root->children; qn; qn = qn->next) {
        if (only_space(qn))
            continue;
        if (!local_is(qn, "Query"))
            return fail(x, WSM_ERR_INVALID_ARG, "QueryList: unexpected '%.40s'",
                        qn->name ? (const char *)qn->name : "text");
        xmlChar *qpath = xmlGetProp(qn, (const xmlChar *)"Path");
        int nselect = 0, r = 0;
        for (xmlNode *s = qn->children; s && r == 0; s = s->next) {
            if (only_space(s))
                continue;
            int sup = local_is(s, "Suppress");
            if (!sup && !local_is(s, "Select")) {
                r = fail(x, WSM_ERR_INVALID_ARG, "Query: unexpected '%.40s'",
                         s->name ? (const char *)s->name : "text");
                break;
            }
            xmlChar *path = xmlGetProp(s, (const xmlChar *)"Path");
            const char *p = path ? (const char *)path : (const char *)qpath;
            if (!p) {
                r = fail(x, WSM_ERR_INVALID_ARG, "%s without a Path", sup ? "Suppress" : "Select");
            } else {
                xmlChar *text = xmlNodeGetContent(s);
                if (!text)
                    r = fail(x, WSM_ERR_NOMEM, "out of memory");
                else
                    r = add_sel(x, qi, sup, p, (const char *)text);
                xmlFree(text);
            }
            xmlFree(path);
            nselect += !sup;
        }
        xmlFree(qpath);
        if (r < 0)
            return -1;
        if (!nselect)
            return fail(x, WSM_ERR_INVALID_ARG, "a Query without a Select");
        qi++;
        if (qi > MAX_SELECTS)
            return fail(x, WSM_ERR_INVALID_ARG, "too many Query elements");
    }
    if (!qi)
        return fail(x, WSM_ERR_INVALID_ARG, "an empty QueryList");
    x->q->nqueries = qi;
    return 0;
}

/* libxml2's hooks: a depth cap, and no DTD or entity declaration. */
struct pstate {
    int depth;
    int refused;
};

static void on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
                     int nb_namespaces, const xmlChar **namespaces, int nb_attributes,
                     int nb_defaulted, const xmlChar **attributes)
{
    xmlParserCtxtPtr c = ctx;
    struct pstate *st = c->_private;
    if (++st->depth > MAX_XML_DEPTH) {
        st->refused = 1;
        xmlStopParser(c);
        return;
    }
    xmlSAX2StartElementNs(ctx, localname, prefix, uri, nb_namespaces, namespaces, nb_attributes,
                          nb_defaulted, attributes);
}

static void on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    xmlParserCtxtPtr c = ctx;
    ((struct pstate *)c->_private)->depth--;
    xmlSAX2EndElementNs(ctx, localname, prefix, uri);
}

static void on_dtd(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
    (void)name, (void)ext, (void)sys;
    xmlParserCtxtPtr c = ctx;
    ((struct pstate *)c->_private)->refused = 1;
    xmlStopParser(c);
}

static void on_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *pub,
                           const xmlChar *sys, xmlChar *content)
{
    (void)name, (void)type, (void)pub, (void)sys, (void)content;
    xmlParserCtxtPtr c = ctx;
    ((struct pstate *)c->_private)->refused = 1;
    xmlStopParser(c);
}

static xmlEntityPtr on_get_entity(void *ctx, const xmlChar *name)
{
    (void)ctx;
    return xmlGetPredefinedEntity(name);
}

static void silent(void *ctx, const char *msg, ...)
{
    (void)ctx, (void)msg;
}

static void silent_structured(void *ctx, xmlErrorPtr err)
{
    (void)ctx, (void)err;
}

static int compile_xml(struct xp *x, const char *text, size_t len)
{
    if (memmem(text, len, "<!DOCTYPE", 9) || memmem(text, len, "<!ENTITY", 8))
        return fail(x, WSM_ERR_INVALID_ARG, "a DTD in the QueryList");
    xmlParserCtxtPtr c = xmlNewParserCtxt();
    if (!c)
        return fail(x, WSM_ERR_NOMEM, "out of memory");
    struct pstate st = {0};
    c->sax->startElementNs = on_start;
    c->sax->endElementNs = on_end;
    c->sax->internalSubset = on_dtd;
    c->sax->externalSubset = on_dtd;
    c->sax->entityDecl = on_entity_decl;
    c->sax->getEntity = on_get_entity;
    c->sax->resolveEntity = NULL;
    c->sax->error = silent;
    c->sax->warning = silent;
    c->sax->serror = silent_structured;
    c->replaceEntities = 0;
    c->loadsubset = 0;
    c->validate = 0;
    c->_private = &st;
    xmlDocPtr doc = xmlCtxtReadMemory(c, text, (int)len, NULL, "UTF-8",
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                                          XML_PARSE_NOCDATA);
    int ok = doc && !st.refused && c->wellFormed;
    xmlFreeParserCtxt(c);
    int r;
    if (!ok)
        r = fail(x, WSM_ERR_INVALID_ARG,
                 st.refused ? "the QueryList nests too deep or has a DTD"
                            : "the QueryList is not well-formed XML");
    else
        r = walk_querylist(x, xmlDocGetRootElement(doc));
    if (doc)
        xmlFreeDoc(doc);
    return r;
}

enum wsm_err wsmd__evq_compile(const char *text, size_t len, struct wsmd_evq **out, char *why,
                               size_t whylen)
{
    return wsmd__evq_compile_ex(text, len, 0, out, why, whylen);
}

enum wsm_err wsmd__evq_compile_ex(const char *text, size_t len, unsigned flags,
                                  struct wsmd_evq **out, char *why, size_t whylen)
{
    struct xp x = {.why = why, .whylen = whylen, .flags = flags};
    *out = NULL;
    if (why && whylen)
        why[0] = '\0';
    if (!text || len > MAX_TEXT) {
        fail(&x, WSM_ERR_INVALID_ARG, "the filter is empty or larger than %d bytes", MAX_TEXT);
        return x.err;
    }
    size_t eq = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\0') {
            fail(&x, WSM_ERR_INVALID_ARG, "a NUL byte in the filter");
            return x.err;
        }
        eq += text[i] == '=';
    }
    if (eq > MAX_EQUALS) {
        fail(&x, WSM_ERR_INVALID_ARG, "the filter has more than %d comparisons", MAX_EQUALS);
        return x.err;
    }
    if (!(x.q = calloc(1, sizeof(*x.q))))
        return WSM_ERR_NOMEM;
    size_t i = 0;
    while (i < len && isspace((unsigned char)text[i]))
        i++;
    int r;
    if (i < len && text[i] == '<') {
        r = compile_xml(&x, text, len);
    } else {
        /* A bare XPath (wevtutil's /q: form) names no channel: it applies
         * to every channel, each event reported in its own. */
        char *copy = strndup(text, len);
        if (!copy) {
            wsmd__evq_free(x.q);
            return WSM_ERR_NOMEM;
        }
        x.q->nqueries = 1;
        r = add_sel(&x, 0, 0, NULL, copy);
        free(copy);
    }
    if (r < 0 || x.err) {
        wsmd__evq_free(x.q);
        return x.err ? x.err : WSM_ERR_INVALID_ARG;
    }
    *out = x.q;
    return WSM_OK;
}
