/* WS-Enumeration over CIM classes: Enumerate, Pull, Release, GetStatus.
 *
 * A context holds a provider iterator, so instances are produced while
 * they are pulled and a huge class never sits whole in memory. This file
 * walks a context's classes into items and writes the four replies; the
 * contexts themselves (ids, owners, expiry, quotas) are kept by
 * enumctx.c, and an Enumerate's filter (WQL, selectors, associations) is
 * read by enumfilter.c. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cimops.h"
#include "cimxml.h"
#include "enumopts.h"
#include "ns.h"
#include "uuid.h"
#include "wql.h"

#define EN "http://schemas.xmlsoap.org/ws/2004/09/enumeration/"
#define MAX_BATCH WSMD_MAX_BATCH_ITEMS

static int wql_selected(void *arg, size_t i)
{
    return wql_selects(arg, i);
}
/* Moves to the next class of an association result; WSM_ERR_NOT_FOUND
 * when there is none. */
static enum wsm_err next_class(struct ectx *c)
{
    if (c->it && c->cls->close)
        c->cls->close(c->it);
    c->it = NULL;
    while (c->imore < c->nmore) {
        c->cls = c->more[c->imore++];
        c->prefix = wsmd__class_uri(c->cls, NULL);
        if (!c->cls->open)
            continue;
        enum wsm_err e = c->cls->open(&c->cctx, &c->it);
        if (e)
            return e;
        if (c->it)
            return WSM_OK;
    }
    return WSM_ERR_NOT_FOUND;
}

/* Produces the next matching instance's item XML into item. WSM_ERR_NOT_FOUND
 * at the end. */
static enum wsm_err next_item(struct ectx *c, struct wsm_buf *item)
{
    for (;;) {
        const struct cim_class *cls = c->cls;
        if (!c->it) {
            enum wsm_err e = next_class(c);
            if (e)
                return e;
            continue;
        }
        struct wsm_arena a;
        wsm__arena_init(&a);
        struct cim_instance inst = {.cls = cls, .arena = &a};
        inst.v = wsm__arena_alloc(&a, (cls->nprops ? cls->nprops : 1) * sizeof(*inst.v));
        if (!inst.v) {
            wsm__arena_free(&a);
            return WSM_ERR_NOMEM;
        }
        memset(inst.v, 0, cls->nprops * sizeof(*inst.v));
        enum wsm_err e = cls->next(c->it, &inst);
        if (e == WSM_ERR_NOT_FOUND && c->imore < c->nmore) {
            wsm__arena_free(&a);
            if ((e = next_class(c)))
                return e;
            continue;
        }
        if (e) {
            wsm__arena_free(&a);
            return e;
        }
        if ((c->wql && !wql_match(c->wql, &inst)) ||
            (c->nsel && !wsmd__cim_keys_match(&inst, c->sel, c->nsel))) {
            wsm__arena_free(&a);
            continue;
        }
        wsm__buf_reset(item);
        if (c->assoc_src) {
            e = wsmd__enum_assoc_item(c, item, &inst);
            wsm__arena_free(&a);
            return e;
        }
        if (c->mode == MODE_OBJECT_AND_EPR)
            e = wsm__buf_puts(item, "<w:Item>");
        if (!e && c->mode != MODE_EPR)
            e = c->write ? c->write(item, &inst)
                         : wsmd__write_instance_ns(item, &inst, c->prefix,
                                                   c->wql ? wql_selected : NULL, c->wql, 1);
        if (!e && c->mode != MODE_OBJECT)
            e = wsmd__write_epr(item, &inst, c->prefix);
        if (!e && c->mode == MODE_OBJECT_AND_EPR)
            e = wsm__buf_puts(item, "</w:Item>");
        wsm__arena_free(&a);
        return e;
    }
}

/* Appends up to max items within budget bytes to o. */
static enum wsm_err fill(struct ectx *c, struct wsm_buf *o, unsigned long max, size_t budget,
                         unsigned long *count)
{
    struct wsm_buf item;
    wsm__buf_init(&item, 0);
    enum wsm_err e = WSM_OK;
    size_t start = o->len;
    *count = 0;
    while (*count < max && !c->done) {
        const char *data;
        size_t len;
        if (c->pending) {
            data = c->pending;
            len = c->pending_len;
        } else {
            e = next_item(c, &item);
            if (e == WSM_ERR_NOT_FOUND) {
                c->done = 1;
                e = WSM_OK;
                break;
            }
            if (e)
                break;
            data = item.data;
            len = item.len;
        }
        if (o->len - start + len > budget) {
            if (*count == 0) {
                /* One item alone is too big: fault, but keep the item for a
                 * Pull that allows a bigger envelope. */
                if (!c->pending && !(c->pending = wsm__buf_steal(&item, &c->pending_len)))
                    e = WSM_ERR_NOMEM;
                else
                    e = WSM_ERR_ENVELOPE_TOO_LARGE;
                break;
            }
            if (!c->pending) {
                /* Keep it for the next Pull. */
                c->pending = wsm__buf_steal(&item, &c->pending_len);
                if (!c->pending)
                    e = WSM_ERR_NOMEM;
            }
            break;
        }
        if ((e = wsm__buf_add(o, data, len)))
            break;
        if (c->pending) {
            free(c->pending);
            c->pending = NULL;
        }
        (*count)++;
    }
    /* Full batch: look one item ahead, so that the end of the sequence is
     * told now rather than by one more, empty, Pull. */
    if (!e && !c->done && !c->pending && *count == max) {
        enum wsm_err n = next_item(c, &item);
        if (n == WSM_ERR_NOT_FOUND)
            c->done = 1;
        else if (n)
            e = n;
        else if (!(c->pending = wsm__buf_steal(&item, &c->pending_len)))
            e = WSM_ERR_NOMEM;
    }
    c->sent += *count;
    wsm__buf_free(&item);
    return e;
}

static unsigned long read_max_elements(struct wsm_arena *a, xmlNodePtr n)
{
    if (!n)
        return 1; /* DSP0226: one item when not said */
    const char *t = wsm__xml_text(a, n, 1);
    char *end;
    if (!t || !(*t >= '0' && *t <= '9'))
        return 0; /* no sign: strtoul would wrap "-1" */
    unsigned long v = strtoul(t, &end, 10);
    if (end == t || *end || v == 0)
        return 0;
    return v > MAX_BATCH ? MAX_BATCH : v;
}

/* The largest reply the client takes (its MaxEnvelopeSize), else ours. */
static size_t reply_limit(const struct wsm_envelope *env, size_t server_max)
{
    return env->max_envelope_size > 0 ? (size_t)env->max_envelope_size : server_max;
}

/* Room for items in a reply of at most limit bytes whose head (head
 * bytes, already written) and tail (at most tail bytes) are fixed: 0 when
 * not even those fit, so that fill refuses the first item. */
static size_t items_budget(size_t limit, size_t head, size_t tail)
{
    return limit > head + tail ? limit - head - tail : 0;
}

#define ENVELOPE_END "</s:Body></s:Envelope>"
#define ENUM_OPEN "<n:EnumerateResponse><n:EnumerationContext>"
#define ENUM_OPEN_ITEMS "</n:EnumerationContext><w:Items>"
#define ENUM_CLOSE "</w:Items><w:EndOfSequence/></n:EnumerateResponse>"
#define PULL_OPEN "<n:PullResponse><n:EnumerationContext>"
#define PULL_OPEN_ITEMS "</n:EnumerationContext><n:Items>"
#define PULL_CLOSE "</n:Items><n:EndOfSequence/></n:PullResponse>"
/* The most the reply adds around the items (the context id at its longest). */
#define ENUM_TAIL                                                                                  \
    (sizeof(ENUM_OPEN) + WSM_UUID_STRLEN + sizeof(ENUM_OPEN_ITEMS) + sizeof(ENUM_CLOSE) +          \
     sizeof(ENVELOPE_END))
#define PULL_TAIL                                                                                  \
    (sizeof(PULL_OPEN) + WSM_UUID_STRLEN + sizeof(PULL_OPEN_ITEMS) + sizeof(PULL_CLOSE) +          \
     sizeof(ENVELOPE_END))

/* TotalItemsCountEstimate of a context, counted when first asked for
 * (a sequence that is not a CIM class cannot be counted again: nil). */
static enum wsm_err add_estimate(struct wsmd_call *call, struct ectx *c)
{
    if (c->estimate == -2) {
        enum wsm_err e = WSM_OK;
        if (c->write || !c->first)
            c->estimate = -1;
        else if (c->assoc_empty)
            c->estimate = 0;
        else if (c->nmore)
            c->estimate =
                wsmd__enum_estimate(c->more, c->nmore, &c->cctx, c->wql, c->sel, c->nsel, &e);
        else
            c->estimate = wsmd__enum_estimate(&c->first, 1, &c->cctx, c->wql, c->sel, c->nsel, &e);
        if (e) {
            c->estimate = -2;
            return e;
        }
    }
    return wsmd__reply_add_estimate(call->out, c->estimate);
}

static enum wsm_err begin_reply(struct wsmd_call *call, const char *action)
{
    /* xsi: and cim: once for all the items of the reply. */
    return wsm__reply_begin(call->out, action, call->env->message_id,
                            " xmlns:n=\"" WSM_NS_WSEN "\" xmlns:xsi=\"" WSM_NS_XSI
                            "\" xmlns:cim=\"" WSMD_NS_CIM_COMMON "\"");
}

/* Only a selector filter, or none, for a struct wsmd_enum_source. */
static enum wsm_err source_filter_ok(xmlNodePtr en)
{
    xmlNodePtr f = wsm__xml_child(en, WSM_NS_WSMAN, "Filter");
    if (!f)
        f = wsm__xml_child(en, WSM_NS_WSEN, "Filter");
    const char *dialect = f ? wsm__xml_attr(f, "Dialect") : NULL;
    return !f || (dialect && !strcmp(dialect, SELECTOR_DIALECT)) ? WSM_OK : WSM_ERR_FILTER_DIALECT;
}

/* Enumerate over a CIM class (src NULL) or over src. */
static enum wsm_err enumerate(struct wsmd_call *call, const struct wsmd_enum_source *src)
{
    struct wsm_envelope *env = call->env;
    xmlNodePtr en = wsm__xml_child(env->body, WSM_NS_WSEN, "Enumerate");
    enum wsm_err e = WSM_OK;
    if (!en)
        e = WSM_ERR_INVALID_REPRESENTATION;
    else if (src)
        e = source_filter_ok(en);
    if (e) {
        if (src)
            src->cls->close(src->it);
        return e;
    }
    const struct cim_class *cls = src ? src->cls : NULL;
    int all = !src && env->resource_uri &&
              (!strcasecmp(env->resource_uri, WMI_ALL_URI) ||
               !strcasecmp(env->resource_uri, DMTF_ALL_URI));
    if (!src && !all && !(cls = wsmd__cim_class(call)))
        return WSM_ERR_DESTINATION_UNREACHABLE;
    const char *ns = wsm__envelope_selector(env, "__cimnamespace");
    if (!src && ns && strcasecmp(ns, cls ? cim_class_namespace(cls) : "root/cimv2") != 0)
        return WSM_ERR_DESTINATION_UNREACHABLE;
    const char *owner = call->user ? call->user : "";
    e = wsmd__ectx_quota_precheck(owner);
    struct ectx *c = e ? NULL : calloc(1, sizeof(*c));
    if (c && !(c->resource = strdup(env->resource_uri ? env->resource_uri : ""))) {
        free(c);
        c = NULL;
    }
    if (!c) {
        if (src)
            src->cls->close(src->it);
        return e ? e : WSM_ERR_NOMEM;
    }
    wsm__arena_init(&c->sel_arena);
    c->estimate = -2;
    if (src) {
        /* From here on wsmd__ectx_free closes the iterator. */
        c->cls = src->cls;
        c->it = src->it;
        c->write = src->write;
    }
    snprintf(c->owner, sizeof(c->owner), "%s", owner);
    c->cctx.user = c->owner;
    c->cctx.synthetic_count = call->srv->cfg.synthetic;
    /* The SelectorSet as the enumeration's scope, for providers that
     * take one (IPMI's SystemName); __cimnamespace is checked above. */
    struct wsm_pair scope[WSM_MAX_SELECTORS];
    for (size_t s = 0; s < env->nselectors && c->cctx.nscope < WSM_MAX_SELECTORS; s++)
        if (strcasecmp(env->selectors[s].name, "__cimnamespace") != 0)
            scope[c->cctx.nscope++] = env->selectors[s];
    c->cctx.scope = c->cctx.nscope ? scope : NULL;
    e = wsmd__enum_read_filter(call, en, c, &cls);
    if (e) {
        wsmd__ectx_free(c);
        return e;
    }
    if (c->assoc_sys[0]) {
        c->cctx.scope = &c->assoc_scope;
        c->cctx.nscope = 1;
    }
    if (!cls) {
        wsmd__ectx_free(c);
        return WSM_ERR_CANNOT_PROCESS_FILTER; /* "*" needs a WQL query */
    }
    xmlNodePtr mode = wsm__xml_child(en, WSM_NS_WSMAN, "EnumerationMode");
    if (mode) {
        const char *m = wsm__xml_text(&env->arena, mode, 1);
        if (m && !strcmp(m, "EnumerateEPR"))
            c->mode = MODE_EPR;
        else if (m && !strcmp(m, "EnumerateObjectAndEPR"))
            c->mode = MODE_OBJECT_AND_EPR;
        else {
            wsmd__ectx_free(c);
            return WSM_ERR_INVALID_OPTIONS;
        }
    }
    /* An association object has no key of its own to address it by. */
    if (c->assoc_src && c->mode != MODE_OBJECT) {
        wsmd__ectx_free(c);
        return WSM_ERR_UNSUPPORTED_FEATURE;
    }
    if ((e = wsmd__enum_polymorphism(&env->arena, en))) {
        wsmd__ectx_free(c);
        return e;
    }
    c->cls = cls;
    c->first = cls;
    if (src)
        c->prefix = src->uri_prefix;
    else
        c->prefix = c->nmore ? wsmd__class_uri(cls, NULL) : wsmd__class_uri(cls, env->resource_uri);
    wsm__uuid_urn(c->id);
    c->expires_ms = wsmd__enum_now_ms() + wsmd__enum_timeout();
    if (c->assoc_empty) {
        c->it = NULL; /* nothing is associated: an empty sequence */
    } else if (!src && cls->open && (e = cls->open(&c->cctx, &c->it))) {
        wsmd__ectx_free(c);
        return e;
    }
    if (!c->assoc_sys[0]) {
        c->cctx.scope = NULL; /* it pointed at this frame */
        c->cctx.nscope = 0;
    }

    int optimize = wsm__xml_child(en, WSM_NS_WSMAN, "OptimizeEnumeration") != NULL;
    unsigned long max = 0, count = 0;
    size_t limit = reply_limit(env, call->srv->cfg.max_envelope);
    struct wsm_buf items;
    wsm__buf_init(&items, 0);
    if (optimize) {
        max = read_max_elements(&env->arena, wsm__xml_child(en, WSM_NS_WSMAN, "MaxElements"));
        if (!max)
            e = WSM_ERR_INVALID_OPTIONS;
    }
    /* The head first: the items get what MaxEnvelopeSize leaves. */
    if (!e)
        e = begin_reply(call, EN "EnumerateResponse");
    if (!e && env->want_count_estimate)
        e = add_estimate(call, c);
    if (!e && optimize)
        e = fill(c, &items, max, items_budget(limit, call->out->len, ENUM_TAIL), &count);
    /* A sequence that ended at once leaves no context to come back to. */
    if (!e && optimize && c->done)
        e = wsm__buf_puts(call->out, "<n:EnumerateResponse><n:EnumerationContext/>");
    else if (!e)
        e = wsm__buf_printf(call->out, ENUM_OPEN "%s</n:EnumerationContext>", c->id);
    if (!e && optimize) {
        e = wsm__buf_puts(call->out, "<w:Items>");
        if (!e)
            e = wsm__buf_add(call->out, items.data ? items.data : "", items.len);
        if (!e)
            e = wsm__buf_puts(call->out, c->done ? "</w:Items><w:EndOfSequence/>" : "</w:Items>");
    }
    if (!e)
        e = wsm__buf_puts(call->out, "</n:EnumerateResponse>");
    if (!e)
        e = wsm__reply_end(call->out);
    /* Not even an empty reply fits. */
    if (!e && call->out->len > limit)
        e = WSM_ERR_ENVELOPE_TOO_LARGE;
    wsm__buf_free(&items);
    /* Kept (wsmd__ectx_store frees it when refused), or finished at once (or failed):
     * nothing to keep. */
    if (!e && !(optimize && c->done))
        return wsmd__ectx_store(c);
    wsmd__ectx_free(c);
    return e;
}

enum wsm_err wsmd__cim_enumerate(struct wsmd_call *call)
{
    return enumerate(call, NULL);
}

enum wsm_err wsmd__enum_source(struct wsmd_call *call, const struct wsmd_enum_source *src)
{
    return enumerate(call, src);
}

static const char *context_id(struct wsmd_call *call, const char *op)
{
    xmlNodePtr p = wsm__xml_child(call->env->body, WSM_NS_WSEN, op);
    xmlNodePtr ctx = wsm__xml_child(p, WSM_NS_WSEN, "EnumerationContext");
    return ctx ? wsm__xml_text(&call->env->arena, ctx, 1) : NULL;
}

enum wsm_err wsmd__cim_pull(struct wsmd_call *call)
{
    const char *id = context_id(call, "Pull");
    if (!id)
        return WSM_ERR_INVALID_ENUM_CONTEXT;
    struct ectx *c = wsmd__ectx_take(id, call->user ? call->user : "", call->env->resource_uri);
    if (!c)
        return WSM_ERR_INVALID_ENUM_CONTEXT;
    xmlNodePtr pull = wsm__xml_child(call->env->body, WSM_NS_WSEN, "Pull");
    unsigned long max =
        read_max_elements(&call->env->arena, wsm__xml_child(pull, WSM_NS_WSEN, "MaxElements"));
    xmlNodePtr mt = wsm__xml_child(pull, WSM_NS_WSEN, "MaxTime");
    enum wsm_err e = max ? WSM_OK : WSM_ERR_INVALID_OPTIONS;
    if (!e && mt) {
        long ms;
        const char *t = wsm__xml_text(&call->env->arena, mt, 1);
        if (!t || wsm__duration_ms(t, &ms) != WSM_OK)
            e = WSM_ERR_INVALID_TIMEOUT;
    }
    size_t limit = reply_limit(call->env, call->srv->cfg.max_envelope);
    if (!e)
        e = begin_reply(call, EN "PullResponse");
    if (!e && call->env->want_count_estimate)
        e = add_estimate(call, c);
    size_t budget = items_budget(limit, call->out->len, PULL_TAIL);
    xmlNodePtr mc = wsm__xml_child(pull, WSM_NS_WSEN, "MaxCharacters");
    if (!e && mc) {
        const char *t = wsm__xml_text(&call->env->arena, mc, 1);
        unsigned long v = t ? strtoul(t, NULL, 10) : 0;
        if (v > 0 && v < budget)
            budget = v;
    }
    unsigned long count = 0;
    struct wsm_buf items;
    wsm__buf_init(&items, 0);
    if (!e)
        e = fill(c, &items, max, budget, &count);
    if (!e && c->done)
        e = wsm__buf_puts(call->out, "<n:PullResponse><n:Items>"); /* context dropped */
    else if (!e)
        e = wsm__buf_printf(call->out, PULL_OPEN "%s" PULL_OPEN_ITEMS, c->id);
    if (!e)
        e = wsm__buf_add(call->out, items.data ? items.data : "", items.len);
    if (!e)
        e = wsm__buf_puts(call->out, c->done ? PULL_CLOSE : "</n:Items></n:PullResponse>");
    if (!e)
        e = wsm__reply_end(call->out);
    /* Not even an empty reply fits (no item was taken: none is lost). */
    if (!e && count == 0 && call->out->len > limit)
        e = WSM_ERR_ENVELOPE_TOO_LARGE;
    wsm__buf_free(&items);
    if (c->done && !e)
        wsmd__ectx_drop(c); /* the sequence ended: the context is gone */
    else
        wsmd__ectx_give_back(c);
    return e;
}

enum wsm_err wsmd__cim_release(struct wsmd_call *call)
{
    const char *id = context_id(call, "Release");
    struct ectx *c =
        id ? wsmd__ectx_take(id, call->user ? call->user : "", call->env->resource_uri) : NULL;
    if (!c)
        return WSM_ERR_INVALID_ENUM_CONTEXT;
    wsmd__ectx_drop(c);
    enum wsm_err e = begin_reply(call, EN "ReleaseResponse");
    return e ? e : wsm__reply_end(call->out);
}

enum wsm_err wsmd__cim_getstatus(struct wsmd_call *call)
{
    const char *id = context_id(call, "GetStatus");
    struct ectx *c =
        id ? wsmd__ectx_take(id, call->user ? call->user : "", call->env->resource_uri) : NULL;
    if (!c)
        return WSM_ERR_INVALID_ENUM_CONTEXT;
    long long left = c->expires_ms - wsmd__enum_now_ms();
    wsmd__ectx_give_back(c);
    if (left < 0)
        left = 0;
    enum wsm_err e = begin_reply(call, EN "GetStatusResponse");
    if (!e)
        e = wsm__buf_printf(call->out,
                            "<n:GetStatusResponse><n:Expires>PT%lld.%03lldS</n:Expires>"
                            "</n:GetStatusResponse>",
                            left / 1000, left % 1000);
    return e ? e : wsm__reply_end(call->out);
}
