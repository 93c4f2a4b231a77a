/* Windows-style switches: -name:value, -name value, /name:value. */
#ifndef WSM_CLI_ARGS_H
#define WSM_CLI_ARGS_H

#include "wsm/wsm.h"

/* If arg is switch `name` (or one of its aliases, '|'-separated, matched
 * case-insensitively), sets *value (NULL when the switch has no ":value")
 * and returns 1. */
int cli_switch(const char *arg, const char *names, const char **value);

/* -a:/-auth: values, without case: Basic, Negotiate, NTLM, Kerberos,
 * Certificate (also ClientCert, winrm.cmd's word, and Cert), None.
 * Returns 0, or -1 for an unknown value. */
int cli_parse_auth(const char *v, enum wsm_auth *out);

/* What the chosen authentication lacks on this command line (a message),
 * or NULL when it can go. https: the URL is https://; cert: -certificate:. */
const char *cli_auth_check(enum wsm_auth a, const char *user, const char *pass, int https,
                           const char *cert);

#endif
