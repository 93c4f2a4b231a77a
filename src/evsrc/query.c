/* A subscription's Filter compiled into a matcher
 * (docs/internals/evsrc.md, "Queries").
 *
 * The QueryList is XML and is read by libxml2, hardened as the envelope
 * parser is (no DTD, no entity but the five predefined, a depth cap, a cap
 * on the size and on the attributes libxml2 checks quadratically). The
 * XPath inside each Select and Suppress is read by xpath.c. Matching walks
 * the compiled tree per entry, without allocating. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "query_priv.h"

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
            return s->unit ? 0 : wsmd__xp_fail(x, WSM_ERR_NOMEM, "out of memory");
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
    return wsmd__xp_fail(x, WSM_ERR_INVALID_ARG,
                         "unknown channel '%.80s' (Application, System, Security, Unit/<unit>)",
                         path);
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
        return wsmd__xp_fail(x, WSM_ERR_INVALID_ARG, "more than %d Select and Suppress elements",
                             MAX_SELECTS);
    struct qsel *ns = realloc(q->sel, (q->nsel + 1) * sizeof(*ns));
    if (!ns)
        return wsmd__xp_fail(x, WSM_ERR_NOMEM, "out of memory");
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
    int root = wsmd__xp_select(x);
    if (root < -1)
        return -1;
    s->root = root;
    return 0;
}

static int walk_querylist(struct xp *x, xmlNode *root)
{
    if (!local_is(root, "QueryList"))
        return wsmd__xp_fail(x, WSM_ERR_INVALID_ARG, "the filter is not a QueryList");
    int qi = 0;
    for (xmlNode *qn = root->children; qn; qn = qn->next) {
        if (only_space(qn))
            continue;
        if (!local_is(qn, "Query"))
            return wsmd__xp_fail(x, WSM_ERR_INVALID_ARG, "QueryList: unexpected '%.40s'",
                                 qn->name ? (const char *)qn->name : "text");
        xmlChar *qpath = xmlGetProp(qn, (const xmlChar *)"Path");
        int nselect = 0, r = 0;
        for (xmlNode *s = qn->children; s && r == 0; s = s->next) {
            if (only_space(s))
                continue;
            int sup = local_is(s, "Suppress");
            if (!sup && !local_is(s, "Select")) {
                r = wsmd__xp_fail(x, WSM_ERR_INVALID_ARG, "Query: unexpected '%.40s'",
                                  s->name ? (const char *)s->name : "text");
                break;
            }
            xmlChar *path = xmlGetProp(s, (const xmlChar *)"Path");
            const char *p = path ? (const char *)path : (const char *)qpath;
            if (!p) {
                r = wsmd__xp_fail(x, WSM_ERR_INVALID_ARG, "%s without a Path",
                                  sup ? "Suppress" : "Select");
            } else {
                xmlChar *text = xmlNodeGetContent(s);
                if (!text)
                    r = wsmd__xp_fail(x, WSM_ERR_NOMEM, "out of memory");
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
            return wsmd__xp_fail(x, WSM_ERR_INVALID_ARG, "a Query without a Select");
        qi++;
        if (qi > MAX_SELECTS)
            return wsmd__xp_fail(x, WSM_ERR_INVALID_ARG, "too many Query elements");
    }
    if (!qi)
        return wsmd__xp_fail(x, WSM_ERR_INVALID_ARG, "an empty QueryList");
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
        return wsmd__xp_fail(x, WSM_ERR_INVALID_ARG, "a DTD in the QueryList");
    xmlParserCtxtPtr c = xmlNewParserCtxt();
    if (!c)
        return wsmd__xp_fail(x, WSM_ERR_NOMEM, "out of memory");
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
        r = wsmd__xp_fail(x, WSM_ERR_INVALID_ARG,
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
        wsmd__xp_fail(&x, WSM_ERR_INVALID_ARG, "the filter is empty or larger than %d bytes",
                      MAX_TEXT);
        return x.err;
    }
    size_t eq = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\0') {
            wsmd__xp_fail(&x, WSM_ERR_INVALID_ARG, "a NUL byte in the filter");
            return x.err;
        }
        eq += text[i] == '=';
    }
    if (eq > MAX_EQUALS) {
        wsmd__xp_fail(&x, WSM_ERR_INVALID_ARG, "the filter has more than %d comparisons",
                      MAX_EQUALS);
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
