/* The CIM enumeration's internal header: options of an Enumerate
 * (enumopts.c), and what enum.c shares with the context store
 * (enumctx.c) and the filter reader (enumfilter.c). */
#ifndef WSMD_ENUMOPTS_H
#define WSMD_ENUMOPTS_H

#include <libxml/tree.h>

#include "cim.h"
#include "server.h"
#include "userfile.h"
#include "uuid.h"
#include "wql.h"

#define WSMD_NS_CIMBINDING "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd"

/* How many instances the classes give that pass the filter (WQL, or the
 * selectors): w:TotalItemsCountEstimate. -1 with *err set if a provider
 * fails. */
long wsmd__enum_estimate(const struct cim_class *const *classes, size_t n,
                         const struct cim_ctx *ctx, struct wql_query *wql,
                         const struct wsm_pair *sel, size_t nsel, enum wsm_err *err);
/* Adds w:TotalItemsCountEstimate (count < 0: nil) to the header of a
 * reply that wsm__reply_begin has just begun. */
enum wsm_err wsmd__reply_add_estimate(struct wsm_buf *out, long count);
/* Checks the Enumerate's wsmb:PolymorphismMode: WSM_OK, or
 * WSM_ERR_INVALID_OPTIONS for a value DSP0227 does not define. */
enum wsm_err wsmd__enum_polymorphism(struct wsm_arena *a, xmlNodePtr enumerate);

/* What a reference property holds: the content of inst's
 * a:EndpointReference (a:Address and a:ReferenceParameters). */
enum wsm_err wsmd__epr_inner(struct wsm_buf *o, const struct cim_instance *inst,
                             const char *uri_prefix);
/* An instance of the association class assoc (DMTF schema) whose
 * references are left and right (from wsmd__epr_inner). */
enum wsm_err wsmd__write_assoc_instance(struct wsm_buf *o, const char *assoc, const char *lrole,
                                        const char *left, const char *rrole, const char *right);

/* ---- enumeration contexts (enumctx.c) ---- */

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

/* CLOCK_MONOTONIC in ms: contexts' expiry. */
long long wsmd__enum_now_ms(void);
/* Frees c and closes its iterator; NULL is a no-op. */
void wsmd__ectx_free(struct ectx *c);
/* Takes the caller's context for exclusive use (busy), or NULL. Another
 * user's context, or one asked for under another ResourceURI than its
 * Enumerate's, is treated exactly as an unknown one. */
struct ectx *wsmd__ectx_take(const char *id, const char *user, const char *resource);
/* Ends a wsmd__ectx_take: c is stored again, its timeout restarted. */
void wsmd__ectx_give_back(struct ectx *c);
/* Ends a wsmd__ectx_take for good: c leaves the list and is freed. */
void wsmd__ectx_drop(struct ectx *c);
/* WSM_ERR_QUOTA if owner cannot have one more context: checked before
 * any work. */
enum wsm_err wsmd__ectx_quota_precheck(const char *owner);
/* Keeps c, or frees it (quota): either way the caller no longer owns it. */
enum wsm_err wsmd__ectx_store(struct ectx *c);

/* ---- the Enumerate's filter (enumfilter.c) ---- */

/* Reads the filter of the Enumerate en into c; *cls is the resource's
 * class (NULL for "*"), and becomes the class to iterate first. */
enum wsm_err wsmd__enum_read_filter(struct wsmd_call *call, xmlNodePtr en, struct ectx *c,
                                    const struct cim_class **cls);
/* An association object (AssociationInstances) for inst, the instance on
 * the other side of the filter's object. */
enum wsm_err wsmd__enum_assoc_item(struct ectx *c, struct wsm_buf *item,
                                   const struct cim_instance *inst);

#endif
