/* The filter of a WS-Enumeration Enumerate (enum.c): WQL, the selector
 * filter, and the CIM binding's association filter (DSP0227 8.2) with the
 * table of the associations wsmd serves.
 *
 * Apart from enum.c because the association filter is a small world of
 * its own: it looks up the filter's object, finds the classes on the
 * other side of each association, and writes association objects. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cimops.h"
#include "cimxml.h"
#include "enumopts.h"
#include "ns.h"
#include "wql.h"

#define ASSOC_DIALECT "http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter"

/* ---- associations (DSP0227 8.2) -------------------------------------
 * The host is one system: every device, file system, port, the operating
 * system, belongs to it, and every process runs in the operating system. */
struct assoc {
    const char *name;  /* association class */
    const char *left;  /* class of the antecedent side */
    const char *lrole; /* its role name */
    const char *right;
    const char *rrole;
    int ipmi; /* between the classes of one BMC (cim_class_is_ipmi), not the host's */
};

static const struct assoc assocs[] = {
    {"CIM_InstalledOS", "CIM_ComputerSystem", "GroupComponent", "CIM_OperatingSystem",
     "PartComponent", 0},
    {"CIM_SystemDevice", "CIM_ComputerSystem", "GroupComponent", "CIM_Processor", "PartComponent",
     0},
    {"CIM_SystemDevice", "CIM_ComputerSystem", "GroupComponent", "CIM_LogicalDisk", "PartComponent",
     0},
    {"CIM_SystemDevice", "CIM_ComputerSystem", "GroupComponent", "CIM_NetworkPort", "PartComponent",
     0},
    {"CIM_HostedFileSystem", "CIM_ComputerSystem", "GroupComponent", "CIM_FileSystem",
     "PartComponent", 0},
    {"CIM_OSProcess", "CIM_OperatingSystem", "GroupComponent", "CIM_Process", "PartComponent", 0},
    /* A BMC's (docs/internals/ipmi.md, "Associations"): its system (root/
     * hardware's CIM_ComputerSystem) holds its sensors and uses its SEL,
     * which holds its entries; its sensors watch its chassis. */
    {"CIM_SystemDevice", "CIM_ComputerSystem", "GroupComponent", "CIM_NumericSensor",
     "PartComponent", 1},
    {"CIM_SystemDevice", "CIM_ComputerSystem", "GroupComponent", "CIM_Sensor", "PartComponent", 1},
    {"CIM_UseOfLog", "CIM_RecordLog", "Antecedent", "CIM_ComputerSystem", "Dependent", 1},
    {"CIM_LogManagesRecord", "CIM_RecordLog", "Log", "CIM_LogRecord", "Record", 1},
    {"CIM_LogManagesRecord", "CIM_RecordLog", "Log", "CIM_LogEntry", "Record", 1},
    /* DSP1033's scoping-class methodology: each profile served conforms on
     * every BMC's system (the central instance); a client finds the
     * systems from the profile, and the profiles from a system. */
    {"CIM_ElementConformsToProfile", "CIM_RegisteredProfile", "ConformantStandard",
     "CIM_ComputerSystem", "ManagedElement", 1},
    {"CIM_AssociatedSensor", "CIM_NumericSensor", "Antecedent", "CIM_Chassis", "Dependent", 1},
    {"CIM_AssociatedSensor", "CIM_Sensor", "Antecedent", "CIM_Chassis", "Dependent", 1},
};

/* A class of the table by name; the BMCs' CIM_ComputerSystem is found
 * only through its namespace. */
static const struct cim_class *assoc_class(const struct assoc *x, const char *name)
{
    if (x->ipmi && !strcasecmp(name, "CIM_ComputerSystem")) {
        char uri[128];
        snprintf(uri, sizeof(uri), "%s%s", cim_uri_prefix_dmtf(), name);
        return cim_class_for_uri_ns(uri, "root/hardware");
    }
    return cim_find_class(name);
}

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
    int instances = 0; /* the association objects, not the associated ones */
    if (!ai && (ai = wsm__xml_child(f, B, "AssociationInstances")))
        instances = 1;
    if (!ai)
        return WSM_ERR_FILTER_DIALECT;
    xmlNodePtr obj = wsm__xml_child(ai, B, "Object");
    xmlNodePtr refp = wsm__xml_child(obj, WSM_NS_WSA, "ReferenceParameters");
    xmlNodePtr ruri = wsm__xml_child(refp, WSM_NS_WSMAN, "ResourceURI");
    const char *uri = ruri ? wsm__xml_text(a, ruri, 1) : NULL;

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
    const struct cim_class *src =
        uri ? cim_class_for_uri_ns(uri, wsm__envelope_selector(&fake, "__cimnamespace")) : NULL;
    if (!src)
        return WSM_ERR_CANNOT_PROCESS_FILTER;
    struct wsm_arena ia;
    wsm__arena_init(&ia);
    struct cim_instance inst = {.arena = &ia};
    enum wsm_err e = wsmd__cim_lookup(src, &c->cctx, &fake, &inst);
    int ipmi = cim_class_is_ipmi(src);
    if (!e && ipmi) {
        const char *sys = cim_get(&inst, "SystemName");
        if (!sys)
            sys = cim_get(&inst, "Name"); /* the system itself */
        snprintf(c->assoc_sys, sizeof(c->assoc_sys), "%s", sys ? sys : "");
        c->assoc_scope.name = "SystemName";
        c->assoc_scope.value = c->assoc_sys;
    }
    if (!e && instances) {
        struct wsm_buf b;
        wsm__buf_init(&b, 0);
        e = wsmd__epr_inner(&b, &inst, wsmd__class_uri(src, uri));
        if (!e && !(c->assoc_src = wsm__buf_steal(&b, NULL)))
            e = WSM_ERR_NOMEM;
        wsm__buf_free(&b);
    }
    wsm__arena_free(&ia);
    if (e)
        return e;

    /* AssociationInstances names the association class in ResultClassName
     * and has no ResultRole (DSP0227 8.2). */
    const char *aclass = child_text(a, ai, instances ? "ResultClassName" : "AssociationClassName");
    const char *role = child_text(a, ai, "Role");
    const char *rclass = instances ? NULL : child_text(a, ai, "ResultClassName");
    const char *rrole = instances ? NULL : child_text(a, ai, "ResultRole");
    for (size_t i = 0; i < sizeof(assocs) / sizeof(assocs[0]); i++) {
        const struct assoc *x = &assocs[i];
        if (!eq_or_null(aclass, x->name) || x->ipmi != ipmi)
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
        const struct cim_class *oc = assoc_class(x, other);
        int dup = 0;
        for (size_t k = 0; k < c->nmore; k++)
            dup |= c->more[k] == oc;
        if (oc && !dup && c->nmore < sizeof(c->more) / sizeof(c->more[0])) {
            c->assoc_of[c->nmore] = (unsigned char)i;
            c->src_left[c->nmore] = other == x->right;
            c->more[c->nmore++] = oc;
        }
    }
    /* Iterate the result classes in turn; none is an empty result. */
    *cls = c->nmore ? c->more[0] : src;
    c->imore = c->nmore ? 1 : 0;
    c->assoc_empty = c->nmore == 0;
    return WSM_OK;
}

/* An association object: the object of the filter on its side, inst on
 * the other, in the class's order. */
enum wsm_err wsmd__enum_assoc_item(struct ectx *c, struct wsm_buf *item,
                                   const struct cim_instance *inst)
{
    size_t k = c->imore ? c->imore - 1 : 0;
    const struct assoc *x = &assocs[c->assoc_of[k]];
    struct wsm_buf other;
    wsm__buf_init(&other, 0);
    enum wsm_err e = wsmd__epr_inner(&other, inst, c->prefix);
    if (!e && !other.data)
        e = WSM_ERR_INTERNAL;
    if (!e)
        e = wsmd__write_assoc_instance(item, x->name, x->lrole,
                                       c->src_left[k] ? c->assoc_src : other.data, x->rrole,
                                       c->src_left[k] ? other.data : c->assoc_src);
    wsm__buf_free(&other);
    return e;
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
