/* Large CDATA sections taken out of a delivery body before its SOAP parse
 * and given back to the tree after it (lift.c). */
#ifndef WSMD_LIFT_H
#define WSMD_LIFT_H

#include <libxml/tree.h>

#include "buf.h"
#include "wsm/wsm.h"

struct wsmd_lifted;

/* Replaces the large CDATA sections of body by markers; *out NULL when
 * nothing was taken (body unchanged). */
enum wsm_err wsmd__lift(struct wsm_buf *body, struct wsmd_lifted **out);
/* Puts the sections back into the parsed tree: every text holding a marker. */
enum wsm_err wsmd__lift_restore(struct wsmd_lifted *l, xmlDocPtr doc);
void wsmd__lift_free(void *l);

#endif
