/* libwsm client, management data: WS-Enumeration (Enumerate, Pull,
 * Release) and the pull iterator that hands out one item at a time. */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "client_internal.h"
#include "envelope.h"
#include "xmlctxt.h"
#include "ns.h"
#include "uuid.h"
#include "wsm/wsm.h"
#include "cim_client_priv.h"

/* ---- Enumerate ---------------------------------------------------- */

static const char *dialect_uri(const char *d)
{
    if (!strcasecmp(d, "wql"))
        return WSM_DIALECT_WQL;
    if (!strcasecmp(d, "selector"))
        return WSM_DIALECT_SELECTOR;
    if (!strcasecmp(d, "association"))
        return WSM_DIALECT_ASSOCIATION;
    return d;
}

/* The request of an Enumerate, Pull or Release of e, with body. */
static enum wsm_err enum_request(wsm_enum *en, const char *action, const char *body,
                                 struct wsm_envelope **env)
{
    char msgid[WSM_UUID_STRLEN];
    struct wsm_buf b;
    enum wsm_err e;
    struct target t = {en->uri, NULL, 0, NULL, 0, NULL, en->headers};

    wsm__uuid_urn(msgid);
    wsm__buf_init(&b, 0);
    e = wsm__cim_begin(&b, en->s, action, msgid, &t);
    PUT(wsm__buf_puts(&b, body));
    PUT(wsm__buf_puts(&b, "</s:Body></s:Envelope>"));
    return wsm__post_built(en->s, &b, e, msgid, env);
}

/* Takes over a reply (EnumerateResponse or PullResponse): context, items
 * and the end of the sequence. */
enum wsm_err wsm__cim_take_batch(wsm_enum *en, struct wsm_envelope *env, const char *op)
{
    xmlNodePtr r = wsm__xml_child(env->body, WSM_NS_WSEN, op);
    if (!r) {
        wsm__session_errorf(en->s, "the reply is not a%s %s", strchr("AEIOU", op[0]) ? "n" : "",
                            op);
        wsm__envelope_free(env);
        return WSM_ERR_NOT_SOAP;
    }
    xmlNodePtr ctx = wsm__xml_child(r, WSM_NS_WSEN, "EnumerationContext");
    const char *id = ctx ? wsm__xml_text(&env->arena, ctx, 1) : NULL;
    if (id && *id) {
        char *copy = strdup(id);
        if (!copy) {
            wsm__envelope_free(env);
            return WSM_ERR_NOMEM;
        }
        free(en->context);
        en->context = copy;
    }
    /* w:Items and w:EndOfSequence in an optimized EnumerateResponse,
     * n:Items and n:EndOfSequence in a PullResponse; either is taken. */
    xmlNodePtr items = wsm__xml_child(r, WSM_NS_WSEN, "Items");
    if (!items)
        items = wsm__xml_child(r, WSM_NS_WSMAN, "Items");
    if (wsm__xml_child(r, WSM_NS_WSEN, "EndOfSequence") ||
        wsm__xml_child(r, WSM_NS_WSMAN, "EndOfSequence"))
        en->end = 1;
    if (!en->end && !en->context) {
        wsm__session_errorf(en->s, "the %s carries no EnumerationContext", op);
        wsm__envelope_free(env);
        return WSM_ERR_NOT_SOAP;
    }
    if (en->end) {
        /* The service has forgotten the context: nothing to Release. */
        free(en->context);
        en->context = NULL;
    }
    wsm__envelope_free(en->batch);
    en->batch = env;
    free(en->raw);
    en->raw = NULL;
    en->nritems = en->rnext = 0;
    en->decl_parent = NULL;
    en->next = wsm__cim_first_element(items);
    return WSM_OK;
}

static enum wsm_err fetch_batch(wsm_enum *en, const char *action, const char *body, const char *op)
{
    wsm_session *s = en->s;
    char msgid[WSM_UUID_STRLEN];
    struct wsm_buf b, resp;
    enum wsm_err e;
    struct target t = {en->uri, NULL, 0, NULL, 0, NULL, en->headers};
    long status = 0;

    wsm__uuid_urn(msgid);
    wsm__buf_init(&b, 0);
    e = wsm__cim_begin(&b, s, action, msgid, &t);
    PUT(wsm__buf_puts(&b, body));
    PUT(wsm__buf_puts(&b, "</s:Body></s:Envelope>"));
    if (e) {
        wsm__session_errorf(s, "cannot build the request: %s", wsm_strerror(e));
        wsm__buf_free(&b);
        return e;
    }
    wsm__session_forget_errors(s);
    if (b.len > (size_t)0x7fffffff) {
        wsm__buf_free(&b);
        return WSM_ERR_INVALID_ARG;
    }
    wsm__buf_init(&resp, wsm__reply_cap(s));
    e = wsm__conn_post(s, s->conn, b.data, b.len, 0, &resp, &status, s->error, sizeof(s->error));
    wsm__buf_free(&b);
    if (e) {
        wsm__buf_free(&resp);
        return e;
    }
    if (status == 200 && wsm__cim_fast_reply(en, &resp, msgid, op)) {
        wsm__buf_free(&resp);
        return WSM_OK;
    }
    struct wsm_envelope *env = NULL;
    e = wsm__reply_check(s, resp.data, resp.len, status, msgid, &env);
    wsm__buf_free(&resp);
    return e ? e : wsm__cim_take_batch(en, env, op);
}

static enum wsm_err write_filter(struct wsm_buf *b, const struct wsm_enum_opts *o,
                                 const char *dialect)
{
    enum wsm_err e = WSM_OK;
    PUT(wsm__buf_puts(b, "<w:Filter Dialect=\""));
    PUT(wsm__buf_xml(b, dialect));
    PUT(wsm__buf_puts(b, "\">"));
    if (o->nfilter_selectors) {
        PUT(wsm__cim_put_set(b, "SelectorSet", "Selector", o->filter_selectors,
                             o->nfilter_selectors));
    } else if (strcmp(dialect, WSM_DIALECT_WQL) != 0 && *wsm__cim_skip_prolog(o->filter) == '<') {
        PUT(wsm__buf_puts(b, o->filter)); /* checked by the caller */
    } else {
        PUT(wsm__buf_xml(b, o->filter));
    }
    PUT(wsm__buf_puts(b, "</w:Filter>"));
    return e;
}

wsm_enum *wsm__cim_enum_alloc(wsm_session *s)
{
    wsm_enum *en = calloc(1, sizeof(*en));
    if (!en)
        return NULL;
    en->s = s;
    wsm__buf_init(&en->decl, 0);
    wsm__buf_init(&en->item_decl, 0);
    wsm__buf_init(&en->rdecl, 0);
    en->max = DEFAULT_MAX_ELEMENTS;
    return en;
}

enum wsm_err wsm_enumerate(wsm_session *s, const char *resource_uri, const struct wsm_enum_opts *o,
                           wsm_enum **out)
{
    static const struct wsm_enum_opts defaults;
    if (!o)
        o = &defaults;
    if (!s || !out ||
        !wsm__cim_target_ok(resource_uri, o->selectors, o->nselectors, o->options, o->noptions) ||
        !wsm__cim_pairs_ok(o->filter_selectors, o->nfilter_selectors, 1) ||
        (o->filter && o->nfilter_selectors) || o->mode < WSM_ENUM_OBJECT ||
        o->mode > WSM_ENUM_OBJECT_AND_EPR)
        return wsm__cim_invalid(s, "resource URI, selectors, options, filter or mode");
    const char *dialect = NULL;
    if (o->nfilter_selectors) {
        dialect = o->dialect ? dialect_uri(o->dialect) : WSM_DIALECT_SELECTOR;
        if (strcmp(dialect, WSM_DIALECT_SELECTOR) != 0)
            return wsm__cim_invalid(s, "filter selectors need the selector dialect");
    } else if (o->filter) {
        dialect = o->dialect ? dialect_uri(o->dialect) : WSM_DIALECT_WQL;
    } else if (o->dialect) {
        return wsm__cim_invalid(s, "a dialect without a filter");
    }
    /* XML filter content must be one well-formed element. */
    char *filter_xml = NULL;
    enum wsm_err e = WSM_OK;
    if (o->filter && strcmp(dialect, WSM_DIALECT_WQL) != 0 &&
        *wsm__cim_skip_prolog(o->filter) == '<') {
        if ((e = wsm__cim_normalize(s, o->filter, 0, &filter_xml)))
            return e;
    }
    struct wsm_enum_opts fo = *o;
    if (filter_xml)
        fo.filter = filter_xml;

    wsm_enum *en = wsm__cim_enum_alloc(s);
    struct wsm_buf h, b;
    wsm__buf_init(&h, 0);
    wsm__buf_init(&b, 0);
    if (!en) {
        free(filter_xml);
        return WSM_ERR_NOMEM;
    }
    en->max = o->max_elements ? o->max_elements : DEFAULT_MAX_ELEMENTS;
    en->uri = strdup(resource_uri);
    if (!en->uri)
        e = WSM_ERR_NOMEM;
    PUT(wsm__cim_put_set(&h, "SelectorSet", "Selector", o->selectors, o->nselectors));
    PUT(wsm__cim_put_set(&h, "OptionSet", "Option", o->options, o->noptions));
    if (!e)
        en->headers = wsm__buf_steal(&h, NULL);
    if (!e && !en->headers)
        e = WSM_ERR_NOMEM;

    PUT(wsm__buf_puts(&b, "<n:Enumerate>"));
    if (o->optimize >= 0) {
        PUT(wsm__buf_puts(&b, "<w:OptimizeEnumeration/>"));
        PUT(wsm__buf_printf(&b, "<w:MaxElements>%u</w:MaxElements>", en->max));
    }
    if (o->mode == WSM_ENUM_EPR)
        PUT(wsm__buf_puts(&b, "<w:EnumerationMode>EnumerateEPR</w:EnumerationMode>"));
    else if (o->mode == WSM_ENUM_OBJECT_AND_EPR)
        PUT(wsm__buf_puts(&b, "<w:EnumerationMode>EnumerateObjectAndEPR</w:EnumerationMode>"));
    if (dialect)
        PUT(write_filter(&b, &fo, dialect));
    PUT(wsm__buf_puts(&b, "</n:Enumerate>"));
    free(filter_xml);

    struct wsm_envelope *env = NULL;
    if (!e)
        e = enum_request(en, ACTION_ENUMERATE, b.data, &env);
    else
        wsm__session_errorf(s, "cannot build the request: %s", wsm_strerror(e));
    wsm__buf_free(&b);
    wsm__buf_free(&h);
    if (!e)
        e = wsm__cim_take_batch(en, env, "EnumerateResponse");
    if (e) {
        wsm_enum_free(en); /* Releases a context we may have been given */
        return e;
    }
    *out = en;
    return WSM_OK;
}

static enum wsm_err pull(wsm_enum *en)
{
    struct wsm_buf b;
    enum wsm_err e = WSM_OK;
    wsm__buf_init(&b, 0);
    PUT(wsm__buf_puts(&b, "<n:Pull><n:EnumerationContext>"));
    PUT(wsm__buf_xml(&b, en->context));
    PUT(wsm__buf_printf(&b, "</n:EnumerationContext><n:MaxElements>%u</n:MaxElements></n:Pull>",
                        en->max));
    if (!e)
        e = fetch_batch(en, ACTION_PULL, b.data, "PullResponse");
    else
        wsm__session_errorf(en->s, "cannot build the request: %s", wsm_strerror(e));
    wsm__buf_free(&b);
    if (e == WSM_ERR_FAULT && en->s->fault_code == FAULT_INVALID_CONTEXT) {
        free(en->context); /* the service no longer has it */
        en->context = NULL;
        en->end = 1;
    }
    return e;
}

static enum wsm_err remember_decl(void *arg, const xmlNs *ns)
{
    wsm_enum *en = arg;
    if (en->ninh == en->inh_alloc) {
        size_t na = en->inh_alloc ? 2 * en->inh_alloc : 16;
        struct inherited *p = realloc(en->inh, na * sizeof(*p));
        if (!p)
            return WSM_ERR_NOMEM;
        en->inh = p;
        en->inh_alloc = na;
    }
    size_t off = en->decl.len;
    if (wsm__cim_put_decl(&en->decl, ns))
        return WSM_ERR_NOMEM;
    en->inh[en->ninh++] = (struct inherited){ns, off, en->decl.len - off};
    return WSM_OK;
}

/* An item as the caller's string: node_xml, with the inherited
 * declarations worked out once per parent (the items of a reply share
 * it). */
static enum wsm_err item_xml_of(wsm_enum *en, const xmlNode *n, char **out)
{
    if (!en->dump && !(en->dump = xmlBufferCreate()))
        return WSM_ERR_NOMEM;
    if (en->decl_parent != n->parent) {
        wsm__buf_reset(&en->decl);
        en->ninh = 0;
        en->decl_parent = NULL;
        enum wsm_err e = wsm__cim_for_inherited(n, remember_decl, en);
        if (e)
            return e;
        en->decl_parent = n->parent;
    }
    if (!n->nsDef)
        return wsm__cim_dump_with(n, en->decl.data, en->decl.len, en->dump, out);
    wsm__buf_reset(&en->item_decl);
    for (size_t i = 0; i < en->ninh; i++)
        if (!wsm__cim_declared_in(n->nsDef, en->inh[i].ns) &&
            wsm__buf_add(&en->item_decl, en->decl.data + en->inh[i].off, en->inh[i].len))
            return WSM_ERR_NOMEM;
    return wsm__cim_dump_with(n, en->item_decl.data, en->item_decl.len, en->dump, out);
}

enum wsm_err wsm_enum_next(wsm_enum *en, char **item_xml)
{
    if (!en || !item_xml)
        return WSM_ERR_INVALID_ARG;
    for (int empty = 0;;) {
        if (en->raw && en->rnext < en->nritems) {
            const struct raw_item *it = &en->ritems[en->rnext];
            const char *x = en->raw + it->start;
            size_t xl = it->end - it->start;
            const char *decl = en->rdecl.data ? en->rdecl.data + it->decl_off : "";
            /* After "<prefix:Name": the first space, '/' or '>'. */
            size_t at = 1;
            while (at < xl && !strchr(" \t\r\n/>", x[at]))
                at++;
            char *r = malloc(xl + it->decl_len + 1);
            if (!r)
                return WSM_ERR_NOMEM;
            memcpy(r, x, at);
            memcpy(r + at, decl, it->decl_len);
            memcpy(r + at + it->decl_len, x + at, xl - at);
            r[xl + it->decl_len] = '\0';
            en->rnext++;
            *item_xml = r;
            return WSM_OK;
        }
        if (en->next) {
            char *x = NULL;
            enum wsm_err e = item_xml_of(en, en->next, &x);
            if (e)
                return e;
            en->next = wsm__cim_next_element(en->next);
            *item_xml = x;
            return WSM_OK;
        }
        /* This batch is used up: hold no more than one. */
        wsm__envelope_free(en->batch);
        en->batch = NULL;
        free(en->raw);
        en->raw = NULL;
        en->nritems = en->rnext = 0;
        en->decl_parent = NULL;
        if (en->end || !en->context)
            return WSM_ERR_NOT_FOUND;
        if (empty++ == MAX_EMPTY_PULLS) {
            wsm__session_errorf(en->s, "%d Pulls in a row brought no item", MAX_EMPTY_PULLS);
            return WSM_ERR_TIMED_OUT;
        }
        enum wsm_err e = pull(en);
        if (e)
            return e;
    }
}

void wsm_enum_free(wsm_enum *en)
{
    if (!en)
        return;
    wsm__envelope_free(en->batch);
    if (en->context && !en->end) {
        /* Release, leaving the session's last error as the caller saw it. */
        wsm_session *s = en->s;
        char error[sizeof(s->error)], subcode[sizeof(s->fault_subcode)];
        unsigned long code = s->fault_code;
        memcpy(error, s->error, sizeof(error));
        memcpy(subcode, s->fault_subcode, sizeof(subcode));
        struct wsm__fault_rec *rec = s->fault;
        char *reply = s->last_reply;
        size_t reply_len = s->last_reply_len;
        s->fault = NULL;
        s->last_reply = NULL;
        struct wsm_buf b;
        enum wsm_err e = WSM_OK;
        wsm__buf_init(&b, 0);
        PUT(wsm__buf_puts(&b, "<n:Release><n:EnumerationContext>"));
        PUT(wsm__buf_xml(&b, en->context));
        PUT(wsm__buf_puts(&b, "</n:EnumerationContext></n:Release>"));
        struct wsm_envelope *env = NULL;
        if (!e && enum_request(en, ACTION_RELEASE, b.data, &env) == WSM_OK)
            wsm__envelope_free(env);
        wsm__buf_free(&b);
        memcpy(s->error, error, sizeof(error));
        memcpy(s->fault_subcode, subcode, sizeof(subcode));
        s->fault_code = code;
        wsm__fault_clear(s);
        s->fault = rec;
        s->last_reply = reply;
        s->last_reply_len = reply_len;
    }
    free(en->context);
    free(en->headers);
    free(en->uri);
    wsm__buf_free(&en->decl);
    wsm__buf_free(&en->item_decl);
    free(en->inh);
    free(en->raw);
    free(en->ritems);
    wsm__buf_free(&en->rdecl);
    if (en->sax)
        xmlFreeParserCtxt(en->sax);
    if (en->dump)
        xmlBufferFree(en->dump);
    free(en);
}
