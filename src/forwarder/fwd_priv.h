/* The forwarder's configuration as config.c fills it (fwdconfig.c) and
 * forwarder.c runs it. */
#ifndef WSMD_FWD_PRIV_H
#define WSMD_FWD_PRIV_H

#include "forwarder.h"

#define FWD_MAX_TARGETS 16

enum { FWD_KEYTAB, FWD_CERT, FWD_KEY, FWD_CREDS, FWD_CA, FWD_NFD };

struct wsmd_fwdcfg {
    struct wsmd_fwd_target targets[FWD_MAX_TARGETS];
    size_t ntargets;
    char *principal;     /* ForwarderPrincipal; NULL: host/<fqdn> */
    char *path[FWD_NFD]; /* the files as configured */
    int fd[FWD_NFD];     /* opened by root before the split; -1: none */
    char *state_dir;     /* StateDir/forwarder */
    int state_fd;        /* that folder, opened by root; -1 before prepare */
    char machine_id[256]; /* this host's FQDN (MachineID, Computer) */
};

enum wsm_err wsmd__fwdconfig_set(struct wsmd_config *cfg, const char *key, const char *value);
void wsmd__fwdconfig_clear(struct wsmd_config *cfg);
const char *wsmd__fwd_key_name(int which);

#endif
