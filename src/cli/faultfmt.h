/* winrm's report of a failed operation, with everything a fault carried. */
#ifndef WSM_CLI_FAULTFMT_H
#define WSM_CLI_FAULTFMT_H

#include <stddef.h>
#include <stdio.h>

#include "format.h"
#include "wsm/wsm.h"

/* The one-line message of a fault: its Reason (else the WSManFault's
 * Message), with the CIM error's message after it when that says more;
 * fallback when the fault has none. */
void cli_fault_message(const struct wsm_fault *flt, const char *fallback, char *out, size_t n);

/* cli_print_fault, and: text and json add the fault's subcode,
 * FaultDetail and CIM error (flt may be NULL); xml and pretty print the
 * reply itself (reply, may be NULL: then the WSManFault element as
 * cli_print_fault writes it); a reply that is not a fault (flt NULL) is
 * shown in text ("Reply = ") and json ("Reply") too. */
void cli_print_failure(FILE *f, enum cli_format fmt, unsigned long code, const char *message,
                       const struct wsm_fault *flt, const char *reply);

#endif
