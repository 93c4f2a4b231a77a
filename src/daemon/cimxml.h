#ifndef WSMD_CIMXML_H
#define WSMD_CIMXML_H

#include "buf.h"
#include "cim.h"

/* The resource URI prefix to answer with for class c when the request
 * came as `requested` (WMI or DMTF form). */
const char *wsmd__class_uri(const struct cim_class *c, const char *requested);

/* <p:Class xmlns:p="PREFIX+Class" ...>properties</p:Class>. selected (may
 * be NULL: all) says which non-key properties to write. */
enum wsm_err wsmd__write_instance(struct wsm_buf *o, const struct cim_instance *inst,
                                  const char *uri_prefix, int (*selected)(void *, size_t),
                                  void *sel_arg);
/* The same; with xsi_cim_in_scope the xsi: and cim: prefixes are left to
 * a declaration further up (an enumeration reply declares them once). */
enum wsm_err wsmd__write_instance_ns(struct wsm_buf *o, const struct cim_instance *inst,
                                     const char *uri_prefix, int (*selected)(void *, size_t),
                                     void *sel_arg, int xsi_cim_in_scope);
#define WSMD_NS_CIM_COMMON "http://schemas.dmtf.org/wbem/wscim/1/common"
/* a:EndpointReference with the resource URI and the key selectors. */
enum wsm_err wsmd__write_epr(struct wsm_buf *o, const struct cim_instance *inst,
                             const char *uri_prefix);

#endif
