/* WS-Enumeration filters: the WQL dialect, selector filters and CIM
 * association filters (DSP0227 8.2), read into a context. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cimops.h"
#include "cimxml.h"
#include "ns.h"
#include "userfile.h"
#include "uuid.h"
#include "wql.h"
#include "enum_priv.h"

/* ---- associations (DSP0227 8.2) -------------------------------------
 * The host is one system: every device, file system, port, the operating
 * system, belongs to it, and every process runs in the operating system. */
struct assoc {
    const char *name;  /* association class */
    const char *left;  /* class of the antecedent side */
    const char *lrole; /* its role name */
    const char *right;
    const char *rrole;
};

static const struct assoc assocs[] = {
    {"CIM_InstalledOS", "CIM_ComputerSystem", "GroupComponent", "CIM_OperatingSystem",
     "PartComponent"},
    {"CIM_SystemDevice", "CIM_ComputerSystem", "GroupComponent", "CIM_Processor", "PartComponent"},
    {"CIM_SystemDevice", "CIM_ComputerSystem", "GroupComponent", "CIM_LogicalDisk",
     "PartComponent"},
    {"CIM_SystemDevice", "CIM_ComputerSystem", "GroupComponent", "CIM_NetworkPort",
     "PartComponent"},
    {"CIM_HostedFileSystem", "CIM_ComputerSystem", "GroupComponent", "CIM_FileSystem",
     "PartComponent"},
    {"CIM_OSProcess", "CIM_OperatingSystem", "GroupComponent", "CIM_Process", "PartComponent"},
};

static const char *child_text(struct wsm_arena *a, xmlNodePtr parent, const char *name)
{
    xmlNodePtr n =
        wsm__xml_child(parent, "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd", name);
    return n ? wsm__xml_text(a, n, 1) : NULL;
}

static int eq_or_null(const char *want, const char *have)
{
    return !want || !*want || !strcasecmp(want, have);
}

static enum wsm_err read_association(struct wsmd_call *call, xmlNodePtr f, struct ectx *c,
                                     const struct cim_class **cls)
{
    const char *B = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd";
    struct wsm_arena *a = &call->env->arena;
    xmlNodePtr ai = wsm__xml_child(f, B, "AssociatedInstances");
    if (!ai)
        return WSM_ERR_FILTER_DIALECT; /* AssociationInstances: not served */
    xmlNodePtr obj = wsm__xml_child(ai, B, "Object");
    xmlNodePtr refp = wsm__xml_child(obj, WSM_NS_WSA, "ReferenceParameters");
    xmlNodePtr ruri = wsm__xml_child(refp, WSM_NS_WSMAN, "ResourceURI");
    const char *uri = ruri ? wsm__xml_text(a, ruri, 1) : NULL;
    const struct cim_class *src = uri ? cim_class_for_uri(uri) : NULL;
    if (!src)
        return WSM_ERR_CANNOT_PROCESS_FILTER;

    /* The object must exist: look it up by its selectors. */
    struct wsm_envelope fake = *call->env;
    fake.nselectors = 0;
    xmlNodePtr set = wsm__xml_child(refp, WSM_NS_WSMAN, "SelectorSet");
    for (xmlNodePtr s = wsm__xml_child(set, WSM_NS_WSMAN, "Selector"); s;
         s = wsm__xml_next(s, WSM_NS_WSMAN, "Selector")) {
        const char *name = wsm__xml_attr(s, "Name");
        const char *val = wsm__xml_text(a, s, 1);
        if (!name || !val || fake.nselectors == WSM_MAX_SELECTORS)
            return WSM_ERR_INVALID_SELECTORS;
        fake.selectors[fake.nselectors].name = name;
        fake.selectors[fake.nselectors++].value = val;
    }
    struct wsm_arena ia;
    wsm__arena_init(&ia);
    struct cim_instance inst = {.arena = &ia};
    enum wsm_err e = wsmd__cim_lookup(src, &c->cctx, &fake, &inst);
    wsm__arena_free(&ia);
    if (e)
        return e;

    const char *aclass = child_text(a, ai, "AssociationClassName");
    const char *role = child_text(a, ai, "Role");
    const char *rclass = child_text(a, ai, "ResultClassName");
    const char *rrole = child_text(a, ai, "ResultRole");
    for (size_t i = 0; i < sizeof(assocs) / sizeof(assocs[0]); i++) {
        const struct assoc *x = &assocs[i];
        if (!eq_or_null(aclass, x->name))
            continue;
        const char *other = NULL;
        if (!strcasecmp(src->name, x->left) && eq_or_null(role, x->lrole) &&
            eq_or_null(rrole, x->rrole))
            other = x->right;
        else if (!strcasecmp(src->name, x->right) && eq_or_null(role, x->rrole) &&
                 eq_or_null(rrole, x->lrole))
            other = x->left;
        if (!other || !eq_or_null(rclass, other))
            continue;
        const struct cim_class *oc = cim_find_class(other);
        int dup = 0;
        for (size_t k = 0; k < c->nmore; k++)
            dup |= c->more[k] == oc;
        if (oc && !dup && c->nmore < sizeof(c->more) / sizeof(c->more[0]))
            c->more[c->nmore++] = oc;
    }
    /* Iterate the result classes in turn; none is an empty result. */
    *cls = c->nmore ? c->more[0] : src;
    c->imore = c->nmore ? 1 : 0;
    c->assoc_empty = c->nmore == 0;
    return WSM_OK;
}

/* Reads the filter of an Enumerate into c. */
enum wsm_err wsmd__enum_read_filter(struct wsmd_call *call, xmlNodePtr en, struct ectx *c,
                                    const struct cim_class **cls)
{
    xmlNodePtr f = wsm__xml_child(en, WSM_NS_WSMAN, "Filter");
    if (!f)
        f = wsm__xml_child(en, WSM_NS_WSEN, "Filter");
    if (!f)
        return *cls ? WSM_OK : WSM_ERR_DESTINATION_UNREACHABLE;
    const char *dialect = wsm__xml_attr(f, "Dialect");
    char err[256] = "";
    if (dialect && !strcmp(dialect, WQL_DIALECT)) {
        const char *q = wsm__xml_text(&call->env->arena, f, 1);
        if (!q)
            return WSM_ERR_NOMEM;
        if (wql_parse(q, &c->wql, err, sizeof(err)) != WSM_OK)
            goto bad;
        const struct cim_class *qc = cim_find_class(wql_class_name(c->wql));
        if (qc && !strcmp(qc->name, "WSMD_Synthetic") && !call->srv->cfg.synthetic)
            qc = NULL;
        if (!qc) {
            snprintf(err, sizeof(err), "no class %s", wql_class_name(c->wql));
            goto bad;
        }
        if (*cls && *cls != qc) {
            snprintf(err, sizeof(err), "the query's class is not the resource's");
            goto bad;
        }
        *cls = qc;
        if (wql_bind(c->wql, qc, err, sizeof(err)) != WSM_OK)
            goto bad;
        return WSM_OK;
    }
    if (dialect && !strcmp(dialect, SELECTOR_DIALECT)) {
        if (!*cls)
            return WSM_ERR_DESTINATION_UNREACHABLE;
        xmlNodePtr set = wsm__xml_child(f, WSM_NS_WSMAN, "SelectorSet");
        size_t n = 0;
        for (xmlNodePtr s = wsm__xml_child(set, WSM_NS_WSMAN, "Selector"); s;
             s = wsm__xml_next(s, WSM_NS_WSMAN, "Selector"))
            n++;
        c->sel = wsm__arena_alloc(&c->sel_arena, (n ? n : 1) * sizeof(*c->sel));
        if (!c->sel)
            return WSM_ERR_NOMEM;
        for (xmlNodePtr s = wsm__xml_child(set, WSM_NS_WSMAN, "Selector"); s;
             s = wsm__xml_next(s, WSM_NS_WSMAN, "Selector")) {
            const char *name = wsm__xml_attr(s, "Name");
            const char *val = wsm__xml_text(&c->sel_arena, s, 1);
            if (!name || !val)
                return WSM_ERR_INVALID_SELECTORS;
            if (cim_prop_index(*cls, name) < 0)
                return WSM_ERR_INVALID_SELECTORS;
            c->sel[c->nsel].name = wsm__arena_strdup(&c->sel_arena, name);
            c->sel[c->nsel++].value = val;
        }
        return WSM_OK;
    }
    if (dialect && !strcmp(dialect, ASSOC_DIALECT))
        return read_association(call, f, c, cls);
    return WSM_ERR_FILTER_DIALECT;
bad:
    call->fault_message = NULL;
    if (err[0]) {
        char *m = wsm__arena_alloc(&call->env->arena, strlen(err) + 64);
        if (m) {
            snprintf(m, strlen(err) + 64, "The WS-Management service cannot process the filter: %s",
                     err);
            call->fault_message = m;
        }
    }
    return WSM_ERR_CANNOT_PROCESS_FILTER;
}
