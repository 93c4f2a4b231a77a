#ifndef WSM_CLI_PROMPT_H
#define WSM_CLI_PROMPT_H

#include <stddef.h>

#include "wsm/wsm.h"

/* 1 when this authentication needs a password the command line lacks
 * (Basic and NTLM with -u: and without -p:/WSM_PASSWORD). */
int cli_want_password(enum wsm_auth a, const char *user, const char *pass);

/* Asks for it on the terminal (/dev/tty, else stdin if it is one), without
 * echo: "Password for USER at URL: ". 0 with buf filled; -1 when there is
 * no terminal (nothing printed); -2 when nothing was typed (said on
 * stderr). */
int cli_ask_password(const char *tool, const char *user, const char *url, char *buf, size_t n);

#endif
