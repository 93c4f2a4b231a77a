/* The XPath subset of Windows event queries (docs/internals/evsrc.md,
 * "Queries"): the text of one Select or Suppress, compiled into the
 * query's node array. A hand parser that knows exactly the subset Event
 * Viewer and wecutil write and names what it does not know, so a
 * subscriber learns why its query was refused instead of silently getting
 * no events. Recursion is bounded by MAX_NEST, nodes by MAX_NODES. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_priv.h"

int wsmd__xp_fail(struct xp *x, enum wsm_err err, const char *fmt, ...)
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
    return wsmd__xp_fail(x, WSM_ERR_INVALID_ARG, "XPath: '%s' expected at '%s'", w, near(x, b));
}

static int new_node(struct xp *x, enum qkind k)
{
    struct wsmd_evq *q = x->q;
    if (q->nnodes >= MAX_NODES)
        return wsmd__xp_fail(x, WSM_ERR_INVALID_ARG, "XPath: more than %d conditions", MAX_NODES);
    if (q->nnodes == q->anodes) {
        size_t na = q->anodes ? q->anodes * 2 : 16;
        struct qnode *nn = realloc(q->nodes, na * sizeof(*nn));
        if (!nn)
            return wsmd__xp_fail(x, WSM_ERR_NOMEM, "out of memory");
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
        return wsmd__xp_fail(x, WSM_ERR_INVALID_ARG, "XPath: a comparison expected at '%s'",
                             near(x, b));
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
            return wsmd__xp_fail(x, WSM_ERR_INVALID_ARG, "XPath: number too large at '%s'",
                                 near(x, b));
        n = n * 10 + (*x->p++ - '0');
    }
    if (!digits) {
        x->p = s;
        if (*s == '-' || *s == '\'' || *s == '"')
            return wsmd__xp_fail(x, WSM_ERR_UNSUPPORTED_FEATURE,
                                 "XPath: only non-negative integers are supported here, at '%s'",
                                 near(x, b));
        return wsmd__xp_fail(x, WSM_ERR_INVALID_ARG, "XPath: a number expected at '%s'",
                             near(x, b));
    }
    if (*x->p == '.' || is_name_char(*x->p))
        return wsmd__xp_fail(x, WSM_ERR_UNSUPPORTED_FEATURE,
                             "XPath: only integers are supported, at '%s'", near(x, b));
    *v = n;
    return 0;
}

static int parse_str(struct xp *x, char **out)
{
    char b[32];
    skip_ws(x);
    char quote = *x->p;
    if (quote != '\'' && quote != '"')
        return wsmd__xp_fail(x, WSM_ERR_INVALID_ARG, "XPath: a quoted string expected at '%s'",
                             near(x, b));
    const char *s = ++x->p;
    const char *e = strchr(s, quote);
    if (!e)
        return wsmd__xp_fail(x, WSM_ERR_INVALID_ARG, "XPath: unterminated string");
    if ((size_t)(e - s) > MAX_STR)
        return wsmd__xp_fail(x, WSM_ERR_INVALID_ARG, "XPath: string longer than %d bytes", MAX_STR);
    if (!(*out = strndup(s, (size_t)(e - s))))
        return wsmd__xp_fail(x, WSM_ERR_NOMEM, "out of memory");
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
        return wsmd__xp_fail(x, WSM_ERR_INVALID_ARG, "XPath: nested deeper than %d", MAX_NEST);
    int n = -1;
    if (word(x, "(")) {
        n = parse_or(x, c);
        if (n >= 0 && expect(x, ")") < 0)
            n = -1;
    } else if (c == CTX_PROVIDER) {
        enum qop op;
        if (!word(x, "@Name")) {
            if (word(x, "@Guid") || word(x, "@EventSourceName"))
                n = wsmd__xp_fail(x, WSM_ERR_UNSUPPORTED_FEATURE,
                                  "XPath: only Provider[@Name=...] is supported");
            else
                n = wsmd__xp_fail(x, WSM_ERR_INVALID_ARG, "XPath: @Name expected at '%s'",
                                  near(x, b));
        } else if (parse_op(x, &op) < 0) {
        } else if (op != OP_EQ && op != OP_NE) {
            n = wsmd__xp_fail(x, WSM_ERR_UNSUPPORTED_FEATURE,
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
                n = wsmd__xp_fail(x, WSM_ERR_INVALID_ARG, "XPath: not a UTC time: '%.40s'", s);
            } else if ((n = new_node(x, Q_SYSTEMTIME)) >= 0) {
                x->q->nodes[n].op = (unsigned char)op;
                x->q->nodes[n].v = t;
            }
            free(s);
        } else {
            n = wsmd__xp_fail(x, WSM_ERR_UNSUPPORTED_FEATURE,
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
            n = wsmd__xp_fail(x, WSM_ERR_UNSUPPORTED_FEATURE,
                              "XPath: EventData and UserData filters are "
                              "not supported; System fields only");
        else if (word(x, "band"))
            n = wsmd__xp_fail(x, WSM_ERR_UNSUPPORTED_FEATURE,
                              "XPath: band() (Keywords) is not supported");
        else if (word(x, "not"))
            n = wsmd__xp_fail(x, WSM_ERR_UNSUPPORTED_FEATURE, "XPath: not() is not supported");
        else if (is_name_char(*x->p) || *x->p == '@' || *x->p == '*')
            n = wsmd__xp_fail(
                x, WSM_ERR_UNSUPPORTED_FEATURE,
                "XPath: supported are Level, EventID, EventRecordID, Provider[@Name], "
                "TimeCreated[timediff(@SystemTime)], and, or; not '%s'",
                near(x, b));
        else
            n = wsmd__xp_fail(x, WSM_ERR_INVALID_ARG, "XPath: syntax error at '%s'", near(x, b));
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
int wsmd__xp_select(struct xp *x)
{
    char b[32];
    skip_ws(x);
    if (!word(x, "*") && !word(x, "Event"))
        return wsmd__xp_fail(x, *x->p ? WSM_ERR_UNSUPPORTED_FEATURE : WSM_ERR_INVALID_ARG,
                             "XPath: a Select must start with '*' or 'Event', not '%s'",
                             near(x, b)),
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
        return wsmd__xp_fail(x, WSM_ERR_INVALID_ARG, "XPath: unexpected '%s'", near(x, b)), -2;
    return root;
}
