/* Options of an Enumerate (src/daemon/enumopts.c). */
#ifndef WSMD_ENUMOPTS_H
#define WSMD_ENUMOPTS_H

#include <libxml/tree.h>

#include "cim.h"
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

#endif
