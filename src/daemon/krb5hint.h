/* A hint for the log when Kerberos refuses a client (krb5hint.c). */
#ifndef WSMD_KRB5HINT_H
#define WSMD_KRB5HINT_H

#include <stdint.h>

/* What the usual cause of GSSAPI minor status `minor` (a krb5 error code)
 * is, and its fix, or NULL when there is nothing to add. */
const char *wsmd__krb5_hint(uint32_t minor);

#endif
