/* Private to the process provider: Win32_Process.Create's spawn
 * (process_create.c) and the method dispatch (process.c). */
#ifndef WSMD_PROVIDERS_PROCESS_PRIV_H
#define WSMD_PROVIDERS_PROCESS_PRIV_H

#include <sys/types.h>

#include "cim.h"

/* WMI's return codes for Win32_Process methods. */
enum {
    RV_OK = 0,
    RV_ACCESS_DENIED = 2,
    RV_UNKNOWN = 8,
    RV_PATH_NOT_FOUND = 9,
    RV_INVALID_PARAM = 21,
};

/* Not a WMI code: "answer w:QuotaLimit" (MaxProcessesPerUser reached). */
#define RV_QUOTA_FAULT 0x10000u

/* Starts "/bin/sh -c cmd" detached, as the caller, in cwd (NULL or "":
 * the caller's home), in the caller's cgroup with the Create limits
 * (cgroup.h). Returns the WMI return code (or RV_QUOTA_FAULT); *pid_out
 * on success. */
unsigned wsmd__proc_spawn_detached(const struct cim_ctx *ctx, const char *cmd, const char *cwd,
                                   pid_t *pid_out);

#endif
