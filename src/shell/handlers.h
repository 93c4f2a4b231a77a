/* Between the WinRS handlers: handlers.c (one client's session) and
 * handlers_mgmt.c (Disconnect/Reconnect/Connect, shell management). */
#ifndef WSMD_SHELL_HANDLERS_H
#define WSMD_SHELL_HANDLERS_H

#include <stddef.h>

#include "engine.h"
#include "server.h"

/* What a Create's rsp:Shell and the request add to opts: the client's
 * ShellId attribute (a GUID, else WSM_ERR_INVALID_ARG), Name, BufferMode,
 * the client's address (written into ip), Locale and DataLocale. */
enum wsm_err wsmd__shell_create_opts(struct wsmd_call *call, xmlNodePtr shell, struct shell_opts *o,
                                     char *ip, size_t iplen);
/* The fault text for a command refused because its shell is
 * disconnected, or NULL when it is not. */
const char *wsmd__shell_disconnected_message(struct wsmd_call *call, const char *sid);
/* The owner (malloc'd) of shell sid when the caller is an administrator
 * who may delete it; NULL otherwise. */
char *wsmd__shell_admin_owner(struct wsmd_call *call, const char *sid);

#endif
