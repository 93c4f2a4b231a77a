/* CDATA sections lifted out of a delivery body before its SOAP parse.
 *
 * A batch of 500 events is some 600 KB of CDATA (the events' XML) around a
 * few hundred bytes of SOAP. libxml2 reads CDATA one character at a time
 * (xmlParseCDSect, xmlCurrentChar): about a third of the collector's CPU
 * went there, to produce text that events.c then parses once more as XML.
 * So before the envelope is parsed, each large CDATA section is taken out
 * and replaced by a short marker text; after the parse, every text node
 * that holds a marker gets its section's text back (wsmd__lift_restore), so
 * the tree is the one the original body would have given: libxml2 still
 * checks the whole envelope's structure, and events.c still parses each
 * event with libxml2.
 *
 * The markers carry a random nonce of this request: no text a source sends
 * can name a section (it cannot guess the nonce). Sections are found by a
 * small lexer that knows where a CDATA section can start (in content, not
 * inside a tag, a comment or a processing instruction); a body it cannot
 * lex is left as it is and the parser judges it. */
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "lift.h"

/* Smaller sections stay where they are: not worth a marker. */
#define LIFT_MIN 128
#define CD_OPEN "<![CDATA["
#define CD_CLOSE "]]>"

struct wsmd_lifted {
    char *text; /* the prepared body the sections point into */
    size_t len;
    size_t n, cap;
    struct {
        size_t off, len;
    } * v;
    char marker[48]; /* "wsmdcd" + 32 hex digits + "_" */
    size_t mlen;
};

void wsmd__lift_free(void *p)
{
    struct wsmd_lifted *l = p;
    if (!l)
        return;
    free(l->text);
    free(l->v);
    free(l);
}

static int add(struct wsmd_lifted *l, size_t off, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        void *v = realloc(l->v, cap * sizeof(*l->v));
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].off = off;
    l->v[l->n].len = len;
    l->n++;
    return 0;
}

static const char *find(const char *p, const char *end, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(end - p) < n)
        return NULL;
    return memmem(p, (size_t)(end - p), s, n);
}

enum wsm_err wsmd__lift(struct wsm_buf *body, struct wsmd_lifted **out)
{
    *out = NULL;
    const char *b = body->data, *end = b + body->len, *p = b;
    if (!b || body->len < LIFT_MIN)
        return WSM_OK;
    struct wsmd_lifted *l = calloc(1, sizeof(*l));
    if (!l)
        return WSM_ERR_NOMEM;
    unsigned char nonce[16];
    if (getrandom(nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce)) {
        free(l);
        return WSM_ERR_INTERNAL;
    }
    memcpy(l->marker, "wsmdcd", 6);
    for (int i = 0; i < 16; i++)
        snprintf(l->marker + 6 + 2 * i, 3, "%02x", nonce[i]);
    l->mlen = 6 + 32;
    l->marker[l->mlen++] = '_';
    l->marker[l->mlen] = '\0';

    /* Lex: content, tags (with quoted values), comments, PIs, CDATA. */
    int ok = 1;
    while (ok && p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (!lt)
            break;
        p = lt;
        if ((size_t)(end - p) >= 4 && !memcmp(p, "<!--", 4)) {
            const char *e = find(p + 4, end, "-->");
            ok = e != NULL;
            p = e ? e + 3 : end;
        } else if ((size_t)(end - p) >= 2 && p[1] == '?') {
            const char *e = find(p + 2, end, "?>");
            ok = e != NULL;
            p = e ? e + 2 : end;
        } else if ((size_t)(end - p) >= 9 && !memcmp(p, CD_OPEN, 9)) {
            const char *e = find(p + 9, end, CD_CLOSE);
            ok = e != NULL;
            if (ok && (size_t)(e - (p + 9)) >= LIFT_MIN)
                ok = add(l, (size_t)(p - b), (size_t)(e + 3 - p)) == 0;
            p = e ? e + 3 : end;
        } else if ((size_t)(end - p) >= 2 && p[1] == '!') {
            ok = 0; /* a DOCTYPE or worse: the parser refuses it as it is */
        } else {
            /* A tag: up to its '>', quotes skipped. */
            p++;
            char q = 0;
            while (p < end && (q || *p != '>')) {
                if (q && *p == q)
                    q = 0;
                else if (!q && (*p == '"' || *p == '\''))
                    q = *p;
                p++;
            }
            ok = p < end;
            p++;
        }
    }
    if (!ok || l->n == 0) {
        wsmd__lift_free(l);
        return WSM_OK; /* nothing to gain, or the parser will say what is wrong */
    }

    /* The skeleton: the body with each lifted section as "MARKER<k>_". */
    struct wsm_buf sk;
    wsm__buf_init(&sk, 0);
    enum wsm_err e = wsm__buf_reserve(&sk, body->len / 8 + l->n * (l->mlen + 12) + 16);
    size_t at = 0;
    for (size_t i = 0; !e && i < l->n; i++) {
        e = wsm__buf_add(&sk, b + at, l->v[i].off - at);
        if (!e)
            e = wsm__buf_add(&sk, l->marker, l->mlen);
        if (!e)
            e = wsm__buf_printf(&sk, "%zu_", i);
        at = l->v[i].off + l->v[i].len;
        /* From here on a section is its text, without the CDATA wrapper. */
        l->v[i].off += 9;
        l->v[i].len -= 12;
    }
    if (!e)
        e = wsm__buf_add(&sk, b + at, body->len - at);
    if (e) {
        wsm__buf_free(&sk);
        wsmd__lift_free(l);
        return e;
    }
    l->text = wsm__buf_steal(body, &l->len);
    *body = sk;
    *out = l;
    return WSM_OK;
}

/* A section's text as the parser would have given it: XML 1.0 2.11, every
 * CR LF and lone CR is a LF. */
static enum wsm_err add_section(struct wsm_buf *o, const char *p, size_t n)
{
    const char *end = p + n;
    while (p < end) {
        const char *cr = memchr(p, '\r', (size_t)(end - p));
        if (!cr)
            return wsm__buf_add(o, p, (size_t)(end - p));
        enum wsm_err e = wsm__buf_add(o, p, (size_t)(cr - p));
        if (!e)
            e = wsm__buf_add(o, "\n", 1);
        if (e)
            return e;
        p = cr + 1;
        if (p < end && *p == '\n')
            p++;
    }
    return WSM_OK;
}

/* The content of text node t with every marker replaced by its section. */
static int restore_text(struct wsmd_lifted *l, xmlNodePtr t)
{
    const char *s = (const char *)t->content;
    size_t n = strlen(s);
    if (!memmem(s, n, l->marker, l->mlen))
        return 0;
    struct wsm_buf o;
    wsm__buf_init(&o, 0);
    const char *p = s, *end = s + n;
    int bad = 0;
    for (;;) {
        const char *m = memmem(p, (size_t)(end - p), l->marker, l->mlen);
        if (!m) {
            bad |= wsm__buf_add(&o, p, (size_t)(end - p)) != WSM_OK;
            break;
        }
        bad |= wsm__buf_add(&o, p, (size_t)(m - p)) != WSM_OK;
        char *num_end;
        unsigned long long k = strtoull(m + l->mlen, &num_end, 10);
        if (num_end == m + l->mlen || *num_end != '_' || k >= l->n)
            return -1; /* not a marker of ours after all: cannot be (the nonce) */
        bad |= add_section(&o, l->text + l->v[k].off, l->v[k].len) != WSM_OK;
        p = num_end + 1;
    }
    if (bad || !o.data) {
        wsm__buf_free(&o);
        return -1;
    }
    xmlNodeSetContentLen(t, (const xmlChar *)o.data, (int)o.len);
    wsm__buf_free(&o);
    return 1;
}

static int restore_tree(struct wsmd_lifted *l, xmlNodePtr n)
{
    for (; n; n = n->next) {
        if ((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) && n->content) {
            if (restore_text(l, n) < 0)
                return -1;
        } else if (n->type == XML_ELEMENT_NODE && n->children) {
            if (restore_tree(l, n->children) < 0)
                return -1;
        }
    }
    return 0;
}

enum wsm_err wsmd__lift_restore(struct wsmd_lifted *l, xmlDocPtr doc)
{
    if (!l || !doc)
        return WSM_OK;
    return restore_tree(l, doc->children) == 0 ? WSM_OK : WSM_ERR_NOMEM;
}
