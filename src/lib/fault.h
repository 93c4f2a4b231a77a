/* The one table that maps every error to its WS-Management fault. */
#ifndef WSM_FAULT_H
#define WSM_FAULT_H

#include "buf.h"
#include "wsm/wsm.h"

struct wsm_fault_info {
    enum wsm_err err;
    const char *code;      /* "s:Sender" or "s:Receiver" */
    const char *subcode;   /* prefixed with a:, w: or s: (see the envelope we write) */
    const char *reason;    /* English text for s:Reason */
    unsigned long wincode; /* WSManFault/@Code, as Windows reports it */
    unsigned http_status;
    int addressing;         /* 1: the action is the WS-Addressing fault action */
    const char *detail_uri; /* optional w:FaultDetail */
};

/* Never NULL: unknown codes map to the internal error. */
const struct wsm_fault_info *wsm__fault_info(enum wsm_err err);

/* Writes a complete SOAP 1.2 fault envelope for err. relates_to (may be
 * NULL) becomes a:RelatesTo; message (may be NULL) replaces the table's
 * reason in f:Message. */
enum wsm_err wsm__fault_build(struct wsm_buf *out, enum wsm_err err, const char *relates_to,
                              const char *message);

#endif
