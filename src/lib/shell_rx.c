/* libwsm client, WinRS Receive replies: one streaming SAX pass that
 * decodes the streams as the text arrives, and the tree path (the
 * envelope reader) for anything out of the ordinary. */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "buf.h"
#include "client_internal.h"
#include "envelope.h"
#include "ns.h"
#include "xmlctxt.h"
#include "uuid.h"
#include "wsm/wsm.h"
#include "shell_client_priv.h"

/* ---- Receive replies: the tree path ---------------------------------- */

/* One rsp:Stream of a ReceiveResponse: decode and hand to the callback. */
static enum wsm_err deliver(wsm_shell *sh, struct wsm_envelope *env, const xmlNode *st,
                            const char *command_id, struct wsm_receive *r)
{
    const char *name = wsm__xml_attr(st, "Name");
    const char *cid = wsm__xml_attr(st, "CommandId");
    void (*cb)(void *, const void *, size_t) = NULL;

    if (cid && strcasecmp(cid, command_id) != 0)
        return WSM_OK; /* another command's output */
    if (name && strcmp(name, "stdout") == 0)
        cb = r->on_stdout;
    else if (name && strcmp(name, "stderr") == 0)
        cb = r->on_stderr;
    const char *t = wsm__xml_text(&env->arena, st, 1);
    if (!t)
        return WSM_ERR_NOMEM;
    size_t tl = strlen(t);
    if (!tl || !cb)
        return WSM_OK;
    size_t cap = tl / 4 * 3 + 3, n = 0;
    unsigned char *p = malloc(cap);
    if (!p)
        return WSM_ERR_NOMEM;
    enum wsm_err e = wsm__base64_decode(t, tl, p, cap, &n);
    if (e) {
        wsm__session_errorf(sh->s, "bad base64 in the %s stream", name);
        free(p);
        return e;
    }
    if (n)
        cb(r->ud, p, n);
    free(p);
    return WSM_OK;
}

/* A parsed ReceiveResponse (the general case; see receive_reply). */
enum wsm_err wsm__shell_receive_tree(wsm_shell *sh, struct wsm_envelope *env,
                                     const char *command_id, struct wsm_receive *r)
{
    enum wsm_err e = WSM_OK;
    xmlNodePtr resp = wsm__xml_child(env->body, WSM_NS_SHELL, "ReceiveResponse");
    if (!resp) {
        wsm__session_errorf(sh->s, "the reply is not a ReceiveResponse");
        return WSM_ERR_NOT_SOAP;
    }
    for (xmlNodePtr n = wsm__xml_child(resp, NULL, NULL); n && !e;
         n = wsm__xml_next(n, NULL, NULL)) {
        if (wsm__xml_is(n, WSM_NS_SHELL, "Stream")) {
            e = deliver(sh, env, n, command_id, r);
        } else if (wsm__xml_is(n, WSM_NS_SHELL, "CommandState")) {
            const char *cid = wsm__xml_attr(n, "CommandId");
            const char *state = wsm__xml_attr(n, "State");
            if ((cid && strcasecmp(cid, command_id) != 0) || !state ||
                !wsm__shell_ends_with(state, "/Done"))
                continue;
            r->done = 1;
            r->exit_code = 0;
            xmlNodePtr x = wsm__xml_child(n, WSM_NS_SHELL, "ExitCode");
            const char *t = x ? wsm__xml_text(&env->arena, x, 1) : NULL;
            if (t && *t) {
                char *end;
                long long v = strtoll(t, &end, 10);
                /* A Windows exit code is a DWORD: keep its low 32 bits. */
                if (!*end)
                    r->exit_code = (int)(unsigned int)(unsigned long long)v;
            }
        }
    }
    return e;
}

/* ---- Receive replies: the streaming path ------------------------------
 *
 * An ordinary ReceiveResponse is read with SAX callbacks and no tree: the
 * base64 text of each rsp:Stream is decoded as the parser hands it over,
 * instead of becoming a text node that is then copied (twice), measured
 * (twice) and decoded. Anything out of the
 * ordinary -- a fault, a header that the envelope reader would check or
 * refuse, malformed XML, bad base64, an attribute with a character
 * reference -- makes the pass give up ("fallback") and the reply goes
 * through wsm__reply_check and receive_tree like any other, so errors and
 * odd cases behave exactly as they always did. */

enum kind {
    K_DOC,
    K_OTHER,
    K_ENVELOPE,
    K_HEADER,
    K_BODY,
    K_RELATES,
    K_RESPONSE,
    K_STREAM,
    K_STATE,      /* a CommandState that tells our command is Done */
    K_STATE_SKIP, /* any other CommandState */
    K_EXITCODE,
    K_FALLBACK, /* (header_kind: the tree path must see this reply) */
};

struct seg {
    int which; /* 1 stdout, 2 stderr */
    size_t off, len;
};

struct rx {
    xmlParserCtxtPtr ctxt;
    struct wsm_buf out; /* the decoded bytes of the reply's streams */
    struct seg *segs;   /* where each stream's bytes are in out */
    size_t nsegs, segcap;
    struct wsm_buf reply; /* the body of a synchronous Receive's reply */
};

struct pass {
    struct rx *rx;
    const char *cid;
    const struct wsm_receive *r;
    int depth;
    int fallback;
    unsigned char kind[WSM_DEFAULT_MAX_DEPTH + 2];
    int seen_header, seen_body, seen_response;
    unsigned header_slots; /* which single-valued headers were seen */
    int which;             /* the current stream's: 0 when it is not decoded */
    size_t stream_start;   /* where its bytes start in rx->out */
    struct b64s b64;
    int state_has_exit; /* the counting CommandState had its ExitCode */
    char relates[128];
    size_t relates_len;
    int relates_seen;
    char exitcode[40];
    size_t exit_len;
    int done, exit_code;
};

static void pass_fallback(xmlParserCtxtPtr c, struct pass *p)
{
    p->fallback = 1;
    xmlStopParser(c);
}

/* The value of attribute name (any namespace) as (v, n); 0 if absent.
 * A value with '&' (a character reference kept undecoded) is -1. */
static int sax_attr(int nb, const xmlChar **attrs, const char *name, const char **v, size_t *n)
{
    *v = "";
    *n = 0;
    for (int i = 0; i < nb; i++) {
        const xmlChar **a = attrs + 5 * i;
        if (strcmp((const char *)a[0], name) != 0)
            continue;
        *v = (const char *)a[3];
        *n = (size_t)(a[4] - a[3]);
        return memchr(*v, '&', *n) ? -1 : 1;
    }
    return 0;
}

static int eqn(const char *v, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(v, s, n) == 0;
}

static int ns_is(const xmlChar *uri, const char *ns)
{
    return uri && strcmp((const char *)uri, ns) == 0;
}

/* A header element: what read_headers in envelope.c would do with it
 * beyond storing it sends the reply to the tree path. */
static enum kind header_kind(struct pass *p, const char *name, const xmlChar *uri, int nb,
                             const xmlChar **attrs)
{
    static const char *const wsa[] = {"To", "Action", "MessageID", "RelatesTo"};
    static const char *const wsman[] = {"ResourceURI", "FragmentTransfer"};
    int known = 0, slot = -1;
    if (ns_is(uri, WSM_NS_WSA)) {
        for (int i = 0; i < 4; i++)
            if (strcmp(name, wsa[i]) == 0)
                slot = i;
        if (strcmp(name, "ReplyTo") == 0)
            return K_FALLBACK;
        known = slot >= 0 || strcmp(name, "FaultTo") == 0 || strcmp(name, "From") == 0;
    } else if (ns_is(uri, WSM_NS_WSMAN)) {
        for (int i = 0; i < 2; i++)
            if (strcmp(name, wsman[i]) == 0)
                slot = 4 + i;
        if (slot < 0 && strcmp(name, "RequestTotalItemsCountEstimate") != 0)
            return K_FALLBACK; /* SelectorSet, OperationTimeout...: checked there */
        known = slot >= 0;
    } else if (ns_is(uri, WSM_NS_MSWSMAN)) {
        known = 1;
    }
    if (slot >= 0) {
        if (p->header_slots & (1u << slot))
            return K_FALLBACK; /* duplicated: BAD_HEADER there */
        p->header_slots |= 1u << slot;
    }
    const char *v = "";
    size_t n = 0;
    int mu = sax_attr(nb, attrs, "mustUnderstand", &v, &n);
    if (mu < 0 || (!known && mu > 0 && (eqn(v, n, "true") || eqn(v, n, "1"))))
        return K_FALLBACK;
    return slot == 3 ? K_RELATES : K_OTHER;
}

static void sax_start(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                      const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
                      int nb_attributes, int nb_defaulted, const xmlChar **attributes)
{
    (void)prefix;
    (void)nb_namespaces;
    (void)namespaces;
    (void)nb_defaulted;
    xmlParserCtxtPtr c = ctx;
    struct pass *p = c->_private;
    const char *name = (const char *)localname;
    if (p->fallback)
        return;
    if (++p->depth > WSM_DEFAULT_MAX_DEPTH) {
        pass_fallback(c, p);
        return;
    }
    enum kind parent = (enum kind)p->kind[p->depth - 1], k = K_OTHER;
    const char *v = "";
    size_t n = 0;
    switch (parent) {
    case K_DOC:
        if (!ns_is(uri, WSM_NS_SOAP) || strcmp(name, "Envelope") != 0) {
            pass_fallback(c, p);
            return;
        }
        k = K_ENVELOPE;
        break;
    case K_ENVELOPE:
        if (ns_is(uri, WSM_NS_SOAP) && !p->seen_header && strcmp(name, "Header") == 0) {
            p->seen_header = 1;
            k = K_HEADER;
        } else if (ns_is(uri, WSM_NS_SOAP) && !p->seen_body && strcmp(name, "Body") == 0) {
            p->seen_body = 1;
            k = K_BODY;
        }
        break;
    case K_HEADER:
        k = header_kind(p, name, uri, nb_attributes, attributes);
        if (k == K_FALLBACK) {
            pass_fallback(c, p);
            return;
        }
        if (k == K_RELATES)
            p->relates_seen = 1;
        break;
    case K_BODY:
        if (ns_is(uri, WSM_NS_SOAP) && strcmp(name, "Fault") == 0) {
            pass_fallback(c, p);
            return;
        }
        if (ns_is(uri, WSM_NS_SHELL) && !p->seen_response && strcmp(name, "ReceiveResponse") == 0) {
            p->seen_response = 1;
            k = K_RESPONSE;
        }
        break;
    case K_RESPONSE:
        if (!ns_is(uri, WSM_NS_SHELL))
            break;
        if (strcmp(name, "Stream") == 0) {
            int an = sax_attr(nb_attributes, attributes, "CommandId", &v, &n);
            const char *nv = "";
            size_t nn = 0;
            int nm = sax_attr(nb_attributes, attributes, "Name", &nv, &nn);
            if (an < 0 || nm < 0) {
                pass_fallback(c, p);
                return;
            }
            p->which = 0;
            if (!an || (strlen(p->cid) == n && strncasecmp(v, p->cid, n) == 0)) {
                if (nm && eqn(nv, nn, "stdout") && p->r->on_stdout)
                    p->which = 1;
                else if (nm && eqn(nv, nn, "stderr") && p->r->on_stderr)
                    p->which = 2;
            }
            p->stream_start = p->rx->out.len;
            memset(&p->b64, 0, sizeof(p->b64));
            k = K_STREAM;
        } else if (strcmp(name, "CommandState") == 0) {
            int an = sax_attr(nb_attributes, attributes, "CommandId", &v, &n);
            const char *sv = "";
            size_t sn = 0;
            int st = sax_attr(nb_attributes, attributes, "State", &sv, &sn);
            if (an < 0 || st < 0) {
                pass_fallback(c, p);
                return;
            }
            int ours = !an || (strlen(p->cid) == n && strncasecmp(v, p->cid, n) == 0);
            if (ours && st && sn >= 5 && memcmp(sv + sn - 5, "/Done", 5) == 0) {
                p->done = 1;
                p->exit_code = 0;
                p->state_has_exit = 0;
                k = K_STATE;
            } else {
                k = K_STATE_SKIP;
            }
        }
        break;
    case K_STATE:
        if (ns_is(uri, WSM_NS_SHELL) && !p->state_has_exit && strcmp(name, "ExitCode") == 0) {
            p->state_has_exit = 1;
            p->exit_len = 0;
            k = K_EXITCODE;
        }
        break;
    default:
        break;
    }
    p->kind[p->depth] = (unsigned char)k;
}

static enum wsm_err add_seg(struct rx *rx, int which, size_t off, size_t len)
{
    if (rx->nsegs == rx->segcap) {
        size_t n = rx->segcap ? rx->segcap * 2 : 8;
        struct seg *g = realloc(rx->segs, n * sizeof(*g));
        if (!g)
            return WSM_ERR_NOMEM;
        rx->segs = g;
        rx->segcap = n;
    }
    rx->segs[rx->nsegs++] = (struct seg){which, off, len};
    return WSM_OK;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void trim(const char **s, size_t *n)
{
    while (*n && is_space(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && is_space((*s)[*n - 1]))
        (*n)--;
}

static void sax_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    (void)localname;
    (void)prefix;
    (void)uri;
    xmlParserCtxtPtr c = ctx;
    struct pass *p = c->_private;
    if (p->fallback)
        return;
    enum kind k = (enum kind)p->kind[p->depth];
    p->depth--;
    if (k == K_STREAM && p->which) {
        struct rx *rx = p->rx;
        size_t n = rx->out.len - p->stream_start;
        if (p->b64.ncarry || (n && add_seg(rx, p->which, p->stream_start, n))) {
            pass_fallback(c, p); /* the tree path says what is wrong */
            return;
        }
    } else if (k == K_EXITCODE) {
        const char *t = p->exitcode;
        size_t n = p->exit_len;
        trim(&t, &n);
        if (n) {
            char num[sizeof(p->exitcode) + 1], *end;
            memcpy(num, t, n);
            num[n] = '\0';
            long long v = strtoll(num, &end, 10);
            if (!*end)
                p->exit_code = (int)(unsigned int)(unsigned long long)v;
        }
    }
}

static void sax_text(void *ctx, const xmlChar *ch, int len)
{
    xmlParserCtxtPtr c = ctx;
    struct pass *p = c->_private;
    if (p->fallback || len <= 0)
        return;
    size_t n = (size_t)len;
    switch ((enum kind)p->kind[p->depth]) {
    case K_STREAM:
        if (p->which && wsm__shell_b64_feed(&p->b64, ch, n, &p->rx->out) < 0)
            pass_fallback(c, p);
        break;
    case K_RELATES:
        if (n > sizeof(p->relates) - p->relates_len) {
            pass_fallback(c, p); /* too long to be ours: the tree path says so */
            return;
        }
        memcpy(p->relates + p->relates_len, ch, n);
        p->relates_len += n;
        break;
    case K_EXITCODE:
        if (n > sizeof(p->exitcode) - p->exit_len) {
            pass_fallback(c, p);
            return;
        }
        memcpy(p->exitcode + p->exit_len, ch, n);
        p->exit_len += n;
        break;
    default:
        break;
    }
}

static void sax_refuse_dtd(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
    (void)name;
    (void)ext;
    (void)sys;
    xmlParserCtxtPtr c = ctx;
    pass_fallback(c, c->_private);
}

static xmlParserCtxtPtr rx_ctxt(struct rx *rx)
{
    if (rx->ctxt)
        return rx->ctxt;
    xmlInitParser();
    xmlParserCtxtPtr c = xmlNewParserCtxt();
    if (!c)
        return NULL;
    xmlSAXHandlerPtr h = c->sax;
    h->startElementNs = sax_start;
    h->endElementNs = sax_end;
    h->characters = sax_text;
    h->ignorableWhitespace = sax_text;
    h->cdataBlock = NULL;
    h->comment = NULL;
    h->processingInstruction = NULL;
    wsm__xmlsax_harden(c, sax_refuse_dtd);
    rx->ctxt = c;
    return c;
}

/* The buffer of a synchronous Receive's reply, in sh's parsing state (made
 * on its first Receive); NULL: out of memory. */
struct wsm_buf *wsm__shell_rx_reply(wsm_shell *sh)
{
    if (!sh->rx) {
        if (!(sh->rx = calloc(1, sizeof(*sh->rx))))
            return NULL;
        wsm__buf_init(&sh->rx->out, 0);
        wsm__buf_init(&sh->rx->reply, 0);
    }
    return &sh->rx->reply;
}

void wsm__shell_rx_free(struct rx *rx)
{
    if (!rx)
        return;
    if (rx->ctxt)
        xmlFreeParserCtxt(rx->ctxt);
    wsm__buf_free(&rx->out);
    wsm__buf_free(&rx->reply);
    free(rx->segs);
    free(rx);
}

#define RX_PARSE_OPTIONS                                                                           \
    (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA)

/* One pass over a 200 reply. *fallback set: hand it to the tree path
 * (nothing was delivered). Otherwise the output went to the callbacks. */
static enum wsm_err rx_pass(wsm_shell *sh, const char *data, size_t len, const char *command_id,
                            const char *msgid, struct wsm_receive *r, int *fallback)
{
    struct rx *rx = sh->rx;
    *fallback = 1;
    if (len > INT32_MAX)
        return WSM_OK;
    xmlParserCtxtPtr c = rx_ctxt(rx);
    if (!c)
        return WSM_OK;
    struct pass pass, *p = &pass;
    memset(p, 0, sizeof(*p));
    p->rx = rx;
    p->cid = command_id;
    p->r = r;
    p->kind[0] = K_DOC;
    wsm__buf_reset(&rx->out);
    rx->nsegs = 0;
    /* One allocation for the decoded bytes, kept for the next reply. */
    if (rx->out.alloc < len / 4 * 3 + 64 && wsm__buf_reserve(&rx->out, len / 4 * 3 + 64) != WSM_OK)
        return WSM_OK;
    wsm__shell_b64_init();
    c->_private = p;
    xmlDocPtr doc = xmlCtxtReadMemory(c, data, (int)len, NULL, NULL, RX_PARSE_OPTIONS);
    c->_private = NULL;
    if (doc)
        xmlFreeDoc(doc);
    int ok = !p->fallback && c->wellFormed && c->nsWellFormed && p->seen_body && p->seen_response &&
             p->depth == 0;
    if (ok && msgid) {
        const char *t = p->relates;
        size_t n = p->relates_len;
        trim(&t, &n);
        ok = p->relates_seen && strlen(msgid) == n && strncasecmp(t, msgid, n) == 0;
    }
    /* A context whose dictionary of names has grown is renewed. */
    if (c->dict && xmlDictSize(c->dict) > 4096) {
        xmlFreeParserCtxt(c);
        rx->ctxt = NULL;
    }
    if (!ok)
        return WSM_OK;
    *fallback = 0;
    for (size_t i = 0; i < rx->nsegs; i++) {
        const struct seg *g = &rx->segs[i];
        void (*cb)(void *, const void *, size_t) = g->which == 1 ? r->on_stdout : r->on_stderr;
        cb(r->ud, rx->out.data + g->off, g->len);
    }
    if (p->done) {
        r->done = 1;
        r->exit_code = p->exit_code;
    }
    return WSM_OK;
}

/* What a Receive reply (body, HTTP status) says, for the request msgid. */
enum wsm_err wsm__shell_receive_reply(wsm_shell *sh, const char *command_id, struct wsm_receive *r,
                                      const struct wsm_buf *body, long status, const char *msgid)
{
    wsm_session *s = sh->s;
    enum wsm_err e;
    if (status == 200) {
        int fallback = 1;
        e = rx_pass(sh, body->data, body->len, command_id, msgid, r, &fallback);
        if (!fallback)
            return e;
    }
    struct wsm_envelope *env = NULL;
    e = wsm__reply_check(s, body->data, body->len, status, msgid, &env);
    if (e == WSM_ERR_FAULT &&
        (s->fault_code == FAULT_TIMED_OUT || strcmp(s->fault_subcode, "TimedOut") == 0)) {
        s->error[0] = '\0';
        return WSM_OK; /* nothing yet: the caller asks again */
    }
    if (e)
        return e;
    e = wsm__shell_receive_tree(sh, env, command_id, r);
    wsm__envelope_free(env);
    return e;
}
