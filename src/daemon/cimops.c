/* Get, Put (with fragments) and Invoke on CIM classes. */
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cimops.h"
#include "cimxml.h"
#include "ns.h"

#define XF "http://schemas.xmlsoap.org/ws/2004/09/transfer/"

void wsmd__cim_ident(struct wsmd_call *call, struct wsmd_cim_ident *id)
{
    struct passwd pw, *res = NULL;
    memset(&id->ctx, 0, sizeof(id->ctx));
    id->ctx.user = call->user;
    id->ctx.synthetic_count = call->srv->cfg.synthetic;
    id->has_account = 0;
    if (!call->srv->is_root) {
        id->has_account = 1;
        id->ctx.uid = geteuid();
        id->ctx.gid = getegid();
        if (getpwuid_r(geteuid(), &pw, id->pwbuf, sizeof(id->pwbuf), &res) == 0 && res)
            id->ctx.home = res->pw_dir;
        return;
    }
    if (!call->user || getpwnam_r(call->user, &pw, id->pwbuf, sizeof(id->pwbuf), &res) != 0 || !res)
        return;
    int n = (int)(sizeof(id->groups) / sizeof(id->groups[0]));
    if (getgrouplist(res->pw_name, res->pw_gid, id->groups, &n) < 0)
        n = (int)(sizeof(id->groups) / sizeof(id->groups[0]));
    id->has_account = 1;
    id->ctx.switch_user = 1;
    id->ctx.uid = res->pw_uid;
    id->ctx.gid = res->pw_gid;
    id->ctx.groups = id->groups;
    id->ctx.ngroups = n;
    id->ctx.home = res->pw_dir;
}

const struct cim_class *wsmd__cim_class(struct wsmd_call *call)
{
    const struct cim_class *c = cim_class_for_uri_ns(
        call->env->resource_uri, wsm__envelope_selector(call->env, "__cimnamespace"));
    if (!c)
        return NULL;
    if (!strcmp(c->name, "WSMD_Synthetic") && !call->srv->cfg.synthetic)
        return NULL;
    return c;
}

static int is_number_type(enum cim_type t)
{
    return t != CIM_STRING && t != CIM_DATETIME && t != CIM_BOOLEAN;
}

int wsmd__cim_keys_match(const struct cim_instance *inst, const struct wsm_pair *sel, size_t nsel)
{
    for (size_t i = 0; i < nsel; i++) {
        int k = cim_prop_index(inst->cls, sel[i].name);
        if (k < 0)
            continue; /* __cimnamespace and friends */
        const char *v = inst->v[k].s;
        if (!v)
            return 0;
        if (is_number_type(inst->cls->props[k].type)) {
            if (strtold(v, NULL) != strtold(sel[i].value, NULL))
                return 0;
        } else if (strcasecmp(v, sel[i].value) != 0) {
            return 0;
        }
    }
    return 1;
}

static enum wsm_err check_selectors(const struct cim_class *c, const struct wsm_envelope *env)
{
    size_t keys = 0;
    for (size_t i = 0; i < c->nprops; i++) {
        if (!(c->props[i].flags & CIM_KEY))
            continue;
        keys++;
        if (!wsm__envelope_selector(env, c->props[i].name)) {
            /* Case-insensitive second chance, as WMI is. */
            int found = 0;
            for (size_t s = 0; s < env->nselectors; s++)
                if (!strcasecmp(env->selectors[s].name, c->props[i].name))
                    found = 1;
            if (!found)
                return WSM_ERR_INVALID_SELECTORS;
        }
    }
    for (size_t s = 0; s < env->nselectors; s++) {
        const char *n = env->selectors[s].name;
        if (!strcasecmp(n, "__cimnamespace"))
            continue;
        int k = cim_prop_index(c, n);
        if (k < 0 || !(c->props[k].flags & CIM_KEY))
            return WSM_ERR_INVALID_SELECTORS;
    }
    return keys ? WSM_OK : WSM_ERR_INVALID_SELECTORS;
}

/* A Get without selectors names the class's only instance, as WMI allows
 * for singletons (winrm get wmicimv2/Win32_OperatingSystem). */
static enum wsm_err lookup_singleton(const struct cim_class *c, const struct cim_ctx *ctx,
                                     struct cim_instance *inst)
{
    void *it = NULL;
    if (!c->open)
        return WSM_ERR_INVALID_SELECTORS;
    enum wsm_err e = c->open(ctx, &it);
    if (e)
        return e;
    inst->cls = c;
    inst->v = wsm__arena_alloc(inst->arena, (c->nprops ? c->nprops : 1) * sizeof(*inst->v));
    struct cim_val *second =
        wsm__arena_alloc(inst->arena, (c->nprops ? c->nprops : 1) * sizeof(*second));
    if (!inst->v || !second) {
        if (c->close)
            c->close(it);
        return WSM_ERR_NOMEM;
    }
    memset(inst->v, 0, c->nprops * sizeof(*inst->v));
    e = it ? c->next(it, inst) : WSM_ERR_NOT_FOUND;
    if (e == WSM_OK) {
        struct cim_instance other = {.cls = c, .arena = inst->arena, .v = second};
        memset(second, 0, c->nprops * sizeof(*second));
        if (c->next(it, &other) != WSM_ERR_NOT_FOUND)
            e = WSM_ERR_INVALID_SELECTORS; /* more than one: selectors needed */
    } else if (e == WSM_ERR_NOT_FOUND) {
        e = WSM_ERR_INVALID_SELECTORS;
    }
    if (c->close)
        c->close(it);
    return e;
}

/* The service classes answer w:UnsupportedFeature when systemd is not
 * what runs the host (a container, another init): the fault says so,
 * rather than leaving the reader to guess what is unsupported. */
static void no_systemd_why(struct wsmd_call *call, const struct cim_class *c, enum wsm_err e)
{
    size_t n = strlen(c->name);
    if (e == WSM_ERR_UNSUPPORTED_FEATURE && !call->fault_message && n >= 8 &&
        !strcasecmp(c->name + n - 8, "_Service"))
        call->fault_message = "Services are managed through systemd, and systemd is not running "
                              "on this host (PID 1 is not systemd): wsmd cannot read or change "
                              "services here.";
}

enum wsm_err wsmd__cim_lookup(const struct cim_class *c, const struct cim_ctx *ctx,
                              const struct wsm_envelope *env, struct cim_instance *inst)
{
    size_t given = 0;
    for (size_t s = 0; s < env->nselectors; s++)
        if (strcasecmp(env->selectors[s].name, "__cimnamespace") != 0)
            given++;
    if (given == 0)
        return lookup_singleton(c, ctx, inst);
    enum wsm_err e = check_selectors(c, env);
    if (e)
        return e;
    struct wsm_pair keys[WSM_MAX_SELECTORS];
    size_t nk = 0;
    for (size_t s = 0; s < env->nselectors; s++) {
        int k = cim_prop_index(c, env->selectors[s].name);
        if (k < 0)
            continue;
        keys[nk].name = c->props[k].name; /* canonical spelling */
        keys[nk].value = env->selectors[s].value;
        nk++;
    }
    inst->cls = c;
    inst->v = wsm__arena_alloc(inst->arena, c->nprops * sizeof(*inst->v));
    if (!inst->v)
        return WSM_ERR_NOMEM;
    memset(inst->v, 0, c->nprops * sizeof(*inst->v));
    if (c->get) {
        e = c->get(ctx, keys, nk, inst);
        if (e == WSM_OK && !wsmd__cim_keys_match(inst, keys, nk))
            e = WSM_ERR_NOT_FOUND;
        return e;
    }
    if (!c->open)
        return WSM_ERR_NOT_FOUND;
    void *it = NULL;
    if ((e = c->open(ctx, &it)))
        return e;
    e = WSM_ERR_NOT_FOUND;
    while (it) {
        memset(inst->v, 0, c->nprops * sizeof(*inst->v));
        enum wsm_err n = c->next(it, inst);
        if (n) {
            if (n != WSM_ERR_NOT_FOUND)
                e = n;
            break;
        }
        if (wsmd__cim_keys_match(inst, keys, nk)) {
            e = WSM_OK;
            break;
        }
    }
    if (c->close)
        c->close(it);
    return e;
}

static enum wsm_err namespace_ok(const struct wsm_envelope *env, const struct cim_class *c)
{
    const char *ns = wsm__envelope_selector(env, "__cimnamespace");
    if (ns && strcasecmp(ns, cim_class_namespace(c)) != 0)
        return WSM_ERR_DESTINATION_UNREACHABLE;
    return WSM_OK;
}

/* ---- fragments ------------------------------------------------------ */

/* "Prop" or "Prop/text()": the property index, text_only set for the
 * second form. */
static int fragment_prop(const struct cim_class *c, const char *expr, int *text_only)
{
    char name[128];
    size_t n = strcspn(expr, "/");
    if (n == 0 || n >= sizeof(name))
        return -1;
    memcpy(name, expr, n);
    name[n] = '\0';
    *text_only = 0;
    if (expr[n]) {
        if (strcmp(expr + n, "/text()") != 0)
            return -1;
        *text_only = 1;
    }
    const char *colon = strchr(name, ':'); /* a prefix is tolerated */
    return cim_prop_index(c, colon ? colon + 1 : name);
}

static enum wsm_err write_fragment(struct wsm_buf *o, const struct cim_instance *inst, int k,
                                   int text_only)
{
    const struct cim_prop *p = &inst->cls->props[k];
    const struct cim_val *v = &inst->v[k];
    enum wsm_err e = wsm__buf_puts(o, "<w:XmlFragment>");
    if (text_only) {
        if (!e && v->s)
            e = wsm__buf_xml(o, v->s);
    } else if (p->flags & CIM_ARRAY) {
        for (size_t i = 0; !e && i < v->n; i++) {
            e = wsm__buf_printf(o, "<%s>", p->name);
            if (!e)
                e = wsm__buf_xml(o, v->items[i]);
            if (!e)
                e = wsm__buf_printf(o, "</%s>", p->name);
        }
    } else if (!v->s) {
        e = wsm__buf_printf(o, "<%s xmlns:xsi=\"" WSM_NS_XSI "\" xsi:nil=\"true\"/>", p->name);
    } else if (!e) {
        e = wsm__buf_printf(o, "<%s>", p->name);
        if (!e)
            e = wsm__buf_xml(o, v->s);
        if (!e)
            e = wsm__buf_printf(o, "</%s>", p->name);
    }
    return e ? e : wsm__buf_puts(o, "</w:XmlFragment>");
}

/* ---- Get ---------------------------------------------------------- */

enum wsm_err wsmd__cim_get(struct wsmd_call *call)
{
    const struct cim_class *c = wsmd__cim_class(call);
    if (!c)
        return WSM_ERR_DESTINATION_UNREACHABLE;
    enum wsm_err e = namespace_ok(call->env, c);
    if (e)
        return e;
    struct wsmd_cim_ident *id = malloc(sizeof(*id));
    if (!id)
        return WSM_ERR_NOMEM;
    wsmd__cim_ident(call, id);
    struct wsm_arena a;
    wsm__arena_init(&a);
    struct cim_instance inst = {.arena = &a};
    e = wsmd__cim_lookup(c, &id->ctx, call->env, &inst);
    no_systemd_why(call, c, e);
    int k = -1, text_only = 0;
    if (!e && call->env->fragment) {
        k = fragment_prop(c, call->env->fragment, &text_only);
        if (k < 0)
            e = WSM_ERR_FRAGMENT;
    }
    if (!e)
        e = wsm__reply_begin(call->out, XF "GetResponse", call->env->message_id, NULL);
    if (!e)
        e = k >= 0 ? write_fragment(call->out, &inst, k, text_only)
                   : wsmd__write_instance(call->out, &inst,
                                          wsmd__class_uri(c, call->env->resource_uri), NULL, NULL);
    if (!e)
        e = wsm__reply_end(call->out);
    wsm__arena_free(&a);
    free(id);
    return e;
}

/* ---- Put ---------------------------------------------------------- */

/* Collects the new values from the body: a whole instance, or an
 * XmlFragment for the fragment's property. */
static enum wsm_err put_values(struct wsmd_call *call, const struct cim_instance *cur,
                               struct wsm_pair *out, size_t *n, size_t max)
{
    const struct cim_class *c = cur->cls;
    xmlNodePtr body = call->env->payload;
    *n = 0;
    if (!body)
        return WSM_ERR_INVALID_REPRESENTATION;
    if (call->env->fragment) {
        int text_only, k = fragment_prop(c, call->env->fragment, &text_only);
        if (k < 0)
            return WSM_ERR_FRAGMENT;
        if (!wsm__xml_is(body, WSM_NS_WSMAN, "XmlFragment"))
            return WSM_ERR_INVALID_REPRESENTATION;
        xmlNodePtr el = text_only ? NULL : wsm__xml_child(body, NULL, NULL);
        const char *v = wsm__xml_text(&call->env->arena, el ? el : body, 1);
        if (!v)
            return WSM_ERR_NOMEM;
        if (!(c->props[k].flags & CIM_WRITE))
            return WSM_ERR_ACCESS_DENIED;
        out[0].name = c->props[k].name;
        out[0].value = v;
        *n = 1;
        return WSM_OK;
    }
    if (strcasecmp((const char *)body->name, c->name) != 0)
        return WSM_ERR_INVALID_REPRESENTATION;
    for (xmlNodePtr p = wsm__xml_child(body, NULL, NULL); p; p = wsm__xml_next(p, NULL, NULL)) {
        int k = cim_prop_index(c, (const char *)p->name);
        if (k < 0)
            return WSM_ERR_INVALID_REPRESENTATION;
        /* A datetime's text is in its cim:Datetime / cim:Interval child. */
        xmlNodePtr vn = c->props[k].type == CIM_DATETIME && wsm__xml_child(p, NULL, NULL)
                            ? wsm__xml_child(p, NULL, NULL)
                            : p;
        const char *v = wsm__xml_text(&call->env->arena, vn, 1);
        if (!v)
            return WSM_ERR_NOMEM;
        const char *nil = wsm__xml_attr(p, "nil");
        int is_nil = nil && (!strcmp(nil, "true") || !strcmp(nil, "1"));
        if (is_nil) {
            /* Read-only: nil must match; writable: nil leaves it as it is. */
            if (cur->v[k].s && !(c->props[k].flags & (CIM_WRITE | CIM_VOLATILE)))
                return WSM_ERR_INVALID_REPRESENTATION;
            continue;
        }
        if (c->props[k].flags & CIM_WRITE) {
            if (*n == max)
                return WSM_ERR_INVALID_REPRESENTATION;
            out[*n].name = c->props[k].name;
            out[(*n)++].value = v;
        } else if (!(c->props[k].flags & (CIM_ARRAY | CIM_VOLATILE)) && cur->v[k].s &&
                   strcmp(cur->v[k].s, v) != 0) {
            /* A read-only property may be echoed back, not changed. */
            return WSM_ERR_INVALID_REPRESENTATION;
        }
    }
    return WSM_OK;
}

enum wsm_err wsmd__cim_put(struct wsmd_call *call)
{
    const struct cim_class *c = wsmd__cim_class(call);
    if (!c)
        return WSM_ERR_DESTINATION_UNREACHABLE;
    if (!c->put)
        return WSM_ERR_ACTION_NOT_SUPPORTED;
    enum wsm_err e = namespace_ok(call->env, c);
    if (e)
        return e;
    struct wsmd_cim_ident *id = malloc(sizeof(*id));
    if (!id)
        return WSM_ERR_NOMEM;
    wsmd__cim_ident(call, id);
    struct wsm_arena a;
    wsm__arena_init(&a);
    struct cim_instance inst = {.arena = &a};
    struct wsm_pair vals[64];
    size_t n = 0;
    e = wsmd__cim_lookup(c, &id->ctx, call->env, &inst);
    if (!e)
        e = put_values(call, &inst, vals, &n, 64);
    if (!e)
        e = c->put(&id->ctx, &inst, vals, n);
    if (!e)
        e = wsm__reply_begin(call->out, XF "PutResponse", call->env->message_id, NULL);
    if (!e && call->env->fragment) {
        int text_only, k = fragment_prop(c, call->env->fragment, &text_only);
        e = write_fragment(call->out, &inst, k, text_only);
    } else if (!e) {
        e = wsmd__write_instance(call->out, &inst, wsmd__class_uri(c, call->env->resource_uri),
                                 NULL, NULL);
    }
    if (!e)
        e = wsm__reply_end(call->out);
    wsm__arena_free(&a);
    free(id);
    return e;
}

/* ---- Invoke ------------------------------------------------------- */

enum wsm_err wsmd__cim_invoke(struct wsmd_call *call, const char *method)
{
    const struct cim_class *c = wsmd__cim_class(call);
    if (!c)
        return WSM_ERR_DESTINATION_UNREACHABLE;
    const struct cim_method *m = NULL;
    for (size_t i = 0; i < c->nmethods; i++)
        if (!strcasecmp(c->methods[i].name, method))
            m = &c->methods[i];
    if (!m || !c->invoke)
        return WSM_ERR_ACTION_NOT_SUPPORTED;
    enum wsm_err e = namespace_ok(call->env, c);
    if (e)
        return e;

    /* Input parameters: <p:Method_INPUT><p:Name>value</p:Name>... */
    struct wsm_pair in[64];
    size_t nin = 0;
    xmlNodePtr body = call->env->payload;
    if (body) {
        char want[160];
        snprintf(want, sizeof(want), "%s_INPUT", m->name);
        if (strcasecmp((const char *)body->name, want) != 0)
            return WSM_ERR_INVALID_REPRESENTATION;
        for (xmlNodePtr p = wsm__xml_child(body, NULL, NULL); p; p = wsm__xml_next(p, NULL, NULL)) {
            size_t k = 0;
            while (k < m->nin && strcasecmp(m->in[k].name, (const char *)p->name) != 0)
                k++;
            if (k == m->nin || nin == 64)
                return WSM_ERR_INVALID_REPRESENTATION;
            in[nin].name = m->in[k].name;
            if (!(in[nin].value = wsm__xml_text(&call->env->arena, p, 0)))
                return WSM_ERR_NOMEM;
            nin++;
        }
    }

    struct wsmd_cim_ident *id = malloc(sizeof(*id));
    if (!id)
        return WSM_ERR_NOMEM;
    wsmd__cim_ident(call, id);
    if (!id->has_account && !c->no_account) {
        free(id);
        call->fault_message = "The user has no local account to act as: wsmd runs as root and "
                              "acts as the local account of the same name; create it (useradd -m "
                              "NAME).";
        return WSM_ERR_ACCESS_DENIED;
    }
    struct wsm_arena a;
    wsm__arena_init(&a);
    struct cim_instance target = {.arena = &a};
    struct cim_val *out = wsm__arena_alloc(&a, (m->nout ? m->nout : 1) * sizeof(*out));
    e = out ? WSM_OK : WSM_ERR_NOMEM;
    if (!e) {
        memset(out, 0, (m->nout ? m->nout : 1) * sizeof(*out));
        if (!m->is_static)
            e = wsmd__cim_lookup(c, &id->ctx, call->env, &target);
    }
    if (!e)
        e = c->invoke(&id->ctx, m, m->is_static ? NULL : &target, in, nin, out, &a);
    no_systemd_why(call, c, e);

    const char *prefix = wsmd__class_uri(c, call->env->resource_uri);
    char action[512];
    snprintf(action, sizeof(action), "%s%s/%sResponse", prefix, c->name, m->name);
    if (!e)
        e = wsm__reply_begin(call->out, action, call->env->message_id, NULL);
    if (!e)
        e = wsm__buf_printf(call->out,
                            "<p:%s_OUTPUT xmlns:p=\"%s%s\" xmlns:xsi=\"" WSM_NS_XSI "\">", m->name,
                            prefix, c->name);
    for (size_t i = 0; !e && i < m->nout; i++) {
        const char *v = out[i].s;
        if (m->out[i].flags & CIM_ARRAY) {
            /* An array: its items as repeated elements (none: absent). */
            for (size_t k = 0; !e && k < out[i].n; k++)
                e = wsm__buf_printf(call->out, "<p:%s>%s</p:%s>", m->out[i].name, out[i].items[k],
                                    m->out[i].name);
            continue;
        }
        if (!v) {
            e = wsm__buf_printf(call->out, "<p:%s xsi:nil=\"true\"/>", m->out[i].name);
            continue;
        }
        e = wsm__buf_printf(call->out, "<p:%s>", m->out[i].name);
        if (!e)
            e = wsm__buf_xml(call->out, v);
        if (!e)
            e = wsm__buf_printf(call->out, "</p:%s>", m->out[i].name);
    }
    if (!e)
        e = wsm__buf_printf(call->out, "</p:%s_OUTPUT>", m->name);
    if (!e)
        e = wsm__reply_end(call->out);
    wsm__arena_free(&a);
    free(id);
    return e;
}
