/* winrm/config served read-only from the running configuration
 * (docs/internals/winrm-config.md). */
#ifndef WSMD_WSMCONFIG_H
#define WSMD_WSMCONFIG_H

#include "server.h"

#ifdef WSMD_HAVE_SHELL
#include "engine.h"
/* The winrs quotas in force: Windows' defaults (shell_limits_defaults)
 * with the configuration's MaxShellsPerUser, MaxProcessesPerShell,
 * IdleTimeout and MaxMemoryPerShellMB over them. */
void wsmd__winrs_limits(const struct wsmd_config *cfg, struct shell_limits *lim);
#endif

/* winrm/config's resources, as the dispatch table (dispatch.c) serves
 * them. Sections: config, config/service, config/service/auth,
 * config/service/defaultports, config/winrs (Get only); the listener
 * (Get, Enumerate; its contexts are Pulled under the same URI). Reads
 * only: a change (wsmd__wsmconfig_is_change) is answered by
 * wsmd__wsmconfig_read_only, wsa:ActionNotSupported naming the
 * configuration file. URIs compare without case. */
int wsmd__wsmconfig_is_section(const char *resource_uri);
int wsmd__wsmconfig_is_listener(const char *resource_uri);
int wsmd__wsmconfig_is_change(const char *action);
enum wsm_err wsmd__wsmconfig_get(struct wsmd_call *call);
enum wsm_err wsmd__wsmconfig_read_only(struct wsmd_call *call);
/* The section of call's resource URI as Get shows it, in a reply with
 * the given action (a Put's PutResponse: cfgset.c). */
enum wsm_err wsmd__wsmconfig_section_reply(struct wsmd_call *call, const char *action);
#ifdef WSMD_HAVE_CIM
enum wsm_err wsmd__wsmconfig_listener_get(struct wsmd_call *call);
enum wsm_err wsmd__wsmconfig_listener_enumerate(struct wsmd_call *call);
#endif

#endif
