/* WS-Transfer, WS-Enumeration and Invoke on CIM classes. */
#ifndef WSMD_CIMOPS_H
#define WSMD_CIMOPS_H

#include "cim.h"
#include "server.h"

#define WQL_DIALECT "http://schemas.microsoft.com/wbem/wsman/1/WQL"
#define SELECTOR_DIALECT "http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter"
#define WMI_ALL_URI "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/*"
#define DMTF_ALL_URI "http://schemas.dmtf.org/wbem/wscim/1/*"

/* The caller as providers see it. Strings point into call or ident. */
struct wsmd_cim_ident {
    struct cim_ctx ctx;
    int has_account; /* root: the user is a local account; not root: always */
    char pwbuf[4096];
    gid_t groups[256];
};
void wsmd__cim_ident(struct wsmd_call *call, struct wsmd_cim_ident *id);

/* The class a request addresses (resource URI, or NULL). Honours the
 * __cimnamespace selector and the synthetic class's switch. */
const struct cim_class *wsmd__cim_class(struct wsmd_call *call);

/* Fills inst with the instance the selectors name. Selectors that are not
 * keys, or missing keys, give WSM_ERR_INVALID_SELECTORS; no such instance
 * WSM_ERR_NOT_FOUND. */
enum wsm_err wsmd__cim_lookup(const struct cim_class *c, const struct cim_ctx *ctx,
                              const struct wsm_envelope *env, struct cim_instance *inst);

/* 1 if inst's key values equal the given selectors (strings compare
 * without case, as WMI does). */
int wsmd__cim_keys_match(const struct cim_instance *inst, const struct wsm_pair *sel, size_t nsel);

enum wsm_err wsmd__cim_get(struct wsmd_call *call);
enum wsm_err wsmd__cim_put(struct wsmd_call *call);
enum wsm_err wsmd__cim_invoke(struct wsmd_call *call, const char *method);
enum wsm_err wsmd__cim_enumerate(struct wsmd_call *call);
enum wsm_err wsmd__cim_pull(struct wsmd_call *call);
enum wsm_err wsmd__cim_release(struct wsmd_call *call);
enum wsm_err wsmd__cim_getstatus(struct wsmd_call *call);

/* Enumeration contexts: expire, free all (at shutdown). */
void wsmd__enum_shutdown(void);
/* EnumerationTimeoutms: contexts unused this long are dropped. */
void wsmd__enum_set_timeout(long ms);
long wsmd__enum_timeout(void);
/* Memory budgets of the contexts, per user and in all, in KB (0: the
 * defaults, 16384 and 131072). */
void wsmd__enum_set_budgets(unsigned long user_kb, unsigned long total_kb);
/* MaxBatchItems: the most items one Enumerate or Pull answers. */
#define WSMD_MAX_BATCH_ITEMS 32000

/* Sequences that are not CIM classes (winrm/config/listener) use the same
 * contexts, Pull, Release and GetStatus. cls gives the properties
 * (selector filters, the keys of EndpointReferences) and next/close; it is
 * an open iterator that the enumeration takes over (closed on failure
 * too); write writes an item's object form. EndpointReferences name
 * uri_prefix + cls->name. Only selector filters are taken. */
struct wsmd_enum_source {
    const struct cim_class *cls;
    void *it;
    const char *uri_prefix;
    enum wsm_err (*write)(struct wsm_buf *o, const struct cim_instance *inst);
};
enum wsm_err wsmd__enum_source(struct wsmd_call *call, const struct wsmd_enum_source *src);

#endif
