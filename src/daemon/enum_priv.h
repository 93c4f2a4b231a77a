/* Between the files of WS-Enumeration: enum.c (Enumerate, Pull, Release,
 * GetStatus, and the items of a reply), enumctx.c (the contexts: ids,
 * owners, expiry, the count and memory quotas) and enumfilter.c (the
 * filters: WQL, selectors, associations). */
#ifndef WSMD_ENUM_PRIV_H
#define WSMD_ENUM_PRIV_H

#include "cimops.h"
#include "cimxml.h"
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
    int assoc_empty; /* an association filter that matched nothing */
    char *pending;   /* an item produced but not sent: it did not fit */
    size_t pending_len;
    int done;
    int busy;
    unsigned long sent;
    long long expires_ms;
    struct ectx *next;
};

long long wsmd__enum_now_ms(void);
void wsmd__ectx_free(struct ectx *c);
/* Takes the caller's context for exclusive use (busy), or NULL. Another
 * user's context, or one asked for under another ResourceURI than its
 * Enumerate's, is treated exactly as an unknown one: a context only
 * answers for the resource (and so the right) it was made for. */
struct ectx *wsmd__ectx_take(const char *id, const char *user, const char *resource);
void wsmd__ectx_give_back(struct ectx *c);
void wsmd__ectx_drop(struct ectx *c);
/* Before any work (an iterator opened, a filter compiled): a user at
 * the quota is refused for the price of a list walk. */
enum wsm_err wsmd__ectx_quota_precheck(const char *owner);
/* Keeps c, or frees it (quota): either way the caller no longer owns it. */
enum wsm_err wsmd__ectx_store(struct ectx *c);
/* Reads the filter of an Enumerate into c. */
enum wsm_err wsmd__enum_read_filter(struct wsmd_call *call, xmlNodePtr en, struct ectx *c,
                                    const struct cim_class **cls);

#endif
