/* Between the WinRS handlers: handlers.c (one client's session),
 * handlers_receive.c (its Receive) and handlers_mgmt.c
 * (Disconnect/Reconnect/Connect, shell management). */
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
/* handlers_opts.c: the Create's InputStreams and OutputStreams
 * (SHELL_STREAM_* bits; WSM_ERR_INVALID_STREAM for another name), and
 * their names for a reply (output 0: InputStreams). */
enum wsm_err wsmd__shell_create_streams(struct wsmd_call *call, xmlNodePtr shell,
                                        unsigned *streams);
const char *wsmd__shell_stream_names(unsigned streams, int output);
/* A Command's options and client CommandId (a GUID, else
 * WSM_ERR_INVALID_ARG; a bad option value WSM_ERR_INVALID_OPTIONS). */
enum wsm_err wsmd__shell_cmd_opts(struct wsmd_call *call, xmlNodePtr cmdline,
                                  struct shell_cmd_opts *o);
/* The fault text for a command refused because its shell is
 * disconnected, or NULL when it is not. */
const char *wsmd__shell_disconnected_message(struct wsmd_call *call, const char *sid);
/* An engine call's result as the handlers answer it (handlers.c):
 * WSM_ERR_NOT_FOUND is an unknown shell, and a disconnected shell's
 * refusal gets its fault text. */
enum wsm_err wsmd__shell_map_engine(struct wsmd_call *call, enum wsm_err e);
/* The owner (malloc'd) of shell sid when the caller is an administrator
 * who may delete it; NULL otherwise. */
char *wsmd__shell_admin_owner(struct wsmd_call *call, const char *sid);

#endif
