/* WS-Enumeration over CIM classes: Enumerate, Pull, Release, GetStatus.
 *
 * A context holds a provider iterator, so instances are produced while
 * they are pulled and a huge class never sits whole in memory. Contexts
 * have random ids, belong to the user that made them, and expire after
 * EnumerationTimeoutms without use. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cimops.h"
#include "cimxml.h"
#include "enumopts.h"
#include "ns.h"
#include "userfile.h"
#include "uuid.h"
#include "wql.h"

#define EN "http://schemas.xmlsoap.org/ws/2004/09/enumeration/"
#define ASSOC_DIALECT "http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter"
#define ENUM_TIMEOUT_MS 240000 /* Windows' EnumerationTimeoutms */
#define MAX_CONTEXTS 2000
#define MAX_CONTEXTS_PER_USER 200
#define MAX_BATCH WSMD_MAX_BATCH_ITEMS
/* Memory a context is charged: a fixed estimate of what it holds (the
 * struct, its filter, the provider's iterator: Win32_Process keeps ~37 KB
 * of read buffers) plus the item it keeps for the next Pull. The budgets
 * bound what one user, and all users, can pin with contexts they never
 * pull: the count quota alone lets an item of MaxEnvelopeSize sit in each. */
#define CTX_BASE_BYTES (48u * 1024)
#define CTX_BUDGET_PER_USER_KB 16384UL /* MaxEnumerationMemoryPerUserKB */
#define CTX_BUDGET_TOTAL_KB 131072UL   /* MaxEnumerationMemoryKB */

enum mode { MODE_OBJECT, MODE_EPR, MODE_OBJECT_AND_EPR };

struct ectx {
    char id[WSM_UUID_STRLEN];
    char owner[WSMD_MAX_USER];
    char *resource; /* the Enumerate's ResourceURI: Pull, Release, GetStatus must name it */
    size_t charge;  /* bytes counted against the budgets while stored */
    const struct cim_class *cls;
    const char *prefix; /* resource URI prefix of the answers */
    /* Not a CIM class (struct wsmd_enum_source): writes an item. */
    enum wsm_err (*write)(struct wsm_buf *o, const struct cim_instance *inst);
    struct cim_ctx cctx;
    void *it;
    struct wql_query *wql;
    struct wsm_pair *sel; /* selector filter (strings in sel_arena) */
    size_t nsel;
    struct wsm_arena sel_arena;
    enum mode mode;
    /* Association results: further classes to iterate after cls. */
    const struct cim_class *more[8];
    size_t nmore, imore;
    int assoc_empty;               /* an association filter that matched nothing */
    const struct cim_class *first; /* the class the sequence began with */
    /* AssociationInstances: the object's reference (its EPR's content),
     * and for each class of more[] the association that leads to it and
     * whether the object is its left side. */
    char *assoc_src;
    unsigned char assoc_of[8], src_left[8];
    /* An IPMI object's associations stay on its BMC: the result classes
     * are enumerated with SystemName=<its BMC> as their scope. */
    char assoc_sys[72];
    struct wsm_pair assoc_scope;
    long estimate; /* TotalItemsCountEstimate; -2 not counted yet */
    char *pending; /* an item produced but not sent: it did not fit */
    size_t pending_len;
    int done;
    int busy;
    unsigned long sent;
    long long expires_ms;
    struct ectx *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long enum_timeout_ms = ENUM_TIMEOUT_MS;

void wsmd__enum_set_timeout(long ms)
{
    enum_timeout_ms = ms > 0 ? ms : ENUM_TIMEOUT_MS;
}

long wsmd__enum_timeout(void)
{
    return enum_timeout_ms;
}

static size_t budget_user = CTX_BUDGET_PER_USER_KB * 1024;
static size_t budget_total = CTX_BUDGET_TOTAL_KB * 1024;

void wsmd__enum_set_budgets(unsigned long user_kb, unsigned long total_kb)
{
    budget_user = (size_t)(user_kb ? user_kb : CTX_BUDGET_PER_USER_KB) * 1024;
    budget_total = (size_t)(total_kb ? total_kb : CTX_BUDGET_TOTAL_KB) * 1024;
}

static struct ectx *contexts;
static size_t ncontexts;
static size_t total_charge; /* sum of the stored contexts' charges */

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void ectx_free(struct ectx *c)
{
    if (!c)
        return;
    if (c->it && c->cls->close)
        c->cls->close(c->it);
    wql_free(c->wql);
    wsm__arena_free(&c->sel_arena);
    free(c->pending);
    free(c->resource);
    free(c->assoc_src);
    free(c);
}

static size_t charge_of(const struct ectx *c)
{
    return CTX_BASE_BYTES + (c->pending ? c->pending_len : 0);
}

/* Called with lock held: c leaves the list. */
static void unlinked(struct ectx *c)
{
    ncontexts--;
    total_charge -= c->charge;
    c->charge = 0;
}

/* Called with lock held: unlinks expired contexts into *dead. */
static void expire(long long now, struct ectx **dead)
{
    for (struct ectx **p = &contexts; *p;) {
        struct ectx *c = *p;
        if (!c->busy && c->expires_ms <= now) {
            *p = c->next;
            unlinked(c);
            c->next = *dead;
            *dead = c;
        } else {
            p = &c->next;
        }
    }
}

static void free_list(struct ectx *c)
{
    while (c) {
        struct ectx *n = c->next;
        ectx_free(c);
        c = n;
    }
}

void wsmd__enum_shutdown(void)
{
    pthread_mutex_lock(&lock);
    struct ectx *all = contexts;
    contexts = NULL;
    ncontexts = 0;
    total_charge = 0;
    pthread_mutex_unlock(&lock);
    free_list(all);
}

/* Takes the caller's context for exclusive use (busy), or NULL. Another
 * user's context, or one asked for under another ResourceURI than its
 * Enumerate's, is treated exactly as an unknown one: a context only
 * answers for the resource (and so the right) it was made for. */
static struct ectx *take(const char *id, const char *user, const char *resource)
{
    struct ectx *dead = NULL, *found = NULL;
    long long now = now_ms();
    pthread_mutex_lock(&lock);
    expire(now, &dead);
    for (struct ectx *c = contexts; c; c = c->next) {
        if (!strcmp(c->id, id) && !strcmp(c->owner, user) && !c->busy &&
            !strcasecmp(c->resource, resource ? resource : "")) {
            c->busy = 1;
            found = c;
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    free_list(dead);
    return found;
}

static void give_back(struct ectx *c)
{
    pthread_mutex_lock(&lock);
    /* The kept item may have changed: the charge follows it. */
    total_charge -= c->charge;
    c->charge = charge_of(c);
    total_charge += c->charge;
    c->busy = 0;
    c->expires_ms = now_ms() + enum_timeout_ms;
    pthread_mutex_unlock(&lock);
}

static void drop(struct ectx *c)
{
    pthread_mutex_lock(&lock);
    for (struct ectx **p = &contexts; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            unlinked(c);
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    ectx_free(c);
}

/* Called with lock held: WSM_ERR_QUOTA if one more context of owner,
 * charged bytes, is past the count quotas or the memory budgets. */
static enum wsm_err over_quota(const char *owner, size_t bytes)
{
    size_t mine = 0, mine_bytes = 0;
    for (struct ectx *x = contexts; x; x = x->next)
        if (!strcmp(x->owner, owner)) {
            mine++;
            mine_bytes += x->charge;
        }
    if (ncontexts >= MAX_CONTEXTS || mine >= MAX_CONTEXTS_PER_USER ||
        mine_bytes + bytes > budget_user || total_charge + bytes > budget_total)
        return WSM_ERR_QUOTA;
    return WSM_OK;
}

/* Before any work (an iterator opened, a filter compiled): a user at
 * the quota is refused for the price of a list walk. */
static enum wsm_err quota_precheck(const char *owner)
{
    struct ectx *dead = NULL;
    pthread_mutex_lock(&lock);
    expire(now_ms(), &dead);
    enum wsm_err e = over_quota(owner, CTX_BASE_BYTES);
    pthread_mutex_unlock(&lock);
    free_list(dead);
    return e;
}

/* Keeps c, or frees it (quota): either way the caller no longer owns it. */
static enum wsm_err store(struct ectx *c)
{
    struct ectx *dead = NULL;
    size_t bytes = charge_of(c);
    pthread_mutex_lock(&lock);
    expire(now_ms(), &dead);
    enum wsm_err e = over_quota(c->owner, bytes);
    if (!e) {
        c->charge = bytes;
        total_charge += bytes;
        c->next = contexts;
        contexts = c;
        ncontexts++;
    }
    pthread_mutex_unlock(&lock);
    free_list(dead);
    if (e)
        ectx_free(c);
    return e;
}

static int wql_selected(void *arg, size_t i)
{
    return wql_selects(arg, i);
}

/* Produces the next matching instance's item XML into item. WSM_ERR_NOT_FOUND
 * at the end. */
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

static enum wsm_err assoc_item(struct ectx *c, struct wsm_buf *item,
                               const struct cim_instance *inst);

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
            e = assoc_item(c, item, &inst);
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
static enum wsm_err assoc_item(struct ectx *c, struct wsm_buf *item,
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
static enum wsm_err read_filter(struct wsmd_call *call, xmlNodePtr en, struct ectx *c,
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
    e = quota_precheck(owner);
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
        /* From here on ectx_free closes the iterator. */
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
    e = read_filter(call, en, c, &cls);
    if (e) {
        ectx_free(c);
        return e;
    }
    if (c->assoc_sys[0]) {
        c->cctx.scope = &c->assoc_scope;
        c->cctx.nscope = 1;
    }
    if (!cls) {
        ectx_free(c);
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
            ectx_free(c);
            return WSM_ERR_INVALID_OPTIONS;
        }
    }
    /* An association object has no key of its own to address it by. */
    if (c->assoc_src && c->mode != MODE_OBJECT) {
        ectx_free(c);
        return WSM_ERR_UNSUPPORTED_FEATURE;
    }
    if ((e = wsmd__enum_polymorphism(&env->arena, en))) {
        ectx_free(c);
        return e;
    }
    c->cls = cls;
    c->first = cls;
    if (src)
        c->prefix = src->uri_prefix;
    else
        c->prefix = c->nmore ? wsmd__class_uri(cls, NULL) : wsmd__class_uri(cls, env->resource_uri);
    wsm__uuid_urn(c->id);
    c->expires_ms = now_ms() + enum_timeout_ms;
    if (c->assoc_empty) {
        c->it = NULL; /* nothing is associated: an empty sequence */
    } else if (!src && cls->open && (e = cls->open(&c->cctx, &c->it))) {
        ectx_free(c);
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
    /* Kept (store frees it when refused), or finished at once (or failed):
     * nothing to keep. */
    if (!e && !(optimize && c->done))
        return store(c);
    ectx_free(c);
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
    struct ectx *c = take(id, call->user ? call->user : "", call->env->resource_uri);
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
        drop(c); /* the sequence ended: the context is gone */
    else
        give_back(c);
    return e;
}

enum wsm_err wsmd__cim_release(struct wsmd_call *call)
{
    const char *id = context_id(call, "Release");
    struct ectx *c = id ? take(id, call->user ? call->user : "", call->env->resource_uri) : NULL;
    if (!c)
        return WSM_ERR_INVALID_ENUM_CONTEXT;
    drop(c);
    enum wsm_err e = begin_reply(call, EN "ReleaseResponse");
    return e ? e : wsm__reply_end(call->out);
}

enum wsm_err wsmd__cim_getstatus(struct wsmd_call *call)
{
    const char *id = context_id(call, "GetStatus");
    struct ectx *c = id ? take(id, call->user ? call->user : "", call->env->resource_uri) : NULL;
    if (!c)
        return WSM_ERR_INVALID_ENUM_CONTEXT;
    long long left = c->expires_ms - now_ms();
    give_back(c);
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
