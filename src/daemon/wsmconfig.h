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

/* 1 if call's resource URI is one of winrm/config's (config, config/
 * service, config/service/auth, config/service/defaultports, config/winrs,
 * config/listener), with *result the handler's answer. Reads only: any
 * write is wsa:ActionNotSupported naming the configuration file. */
int wsmd__wsmconfig_route(struct wsmd_call *call, enum wsm_err *result);

#endif
