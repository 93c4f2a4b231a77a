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
    char *principal;      /* ForwarderPrincipal; NULL: host/<fqdn> */
    char *path[FWD_NFD];  /* the files as configured */
    int fd[FWD_NFD];      /* opened by root before the split; -1: none */
    char *state_dir;      /* StateDir/forwarder */
    int state_fd;         /* that folder, opened by root; -1 before prepare */
    char machine_id[256]; /* this host's FQDN (MachineID, Computer) */
};

enum wsm_err wsmd__fwdconfig_set(struct wsmd_config *cfg, const char *key, const char *value);
void wsmd__fwdconfig_clear(struct wsmd_config *cfg);
const char *wsmd__fwd_key_name(int which);

/* Credentials and durable bookmarks (fwdstate.c). */
#include <stdatomic.h>

#include "wsm/wsm.h"

struct wsmd_server;
struct fwd_run;

struct wsmd_forwarder {
    struct wsmd_server *srv;
    struct wsmd_fwdcfg *cfg;
    atomic_int stop;
    int wake; /* eventfd */
    char keytab[64], cert[64], key[64], ca[64];
    char user[256], password[256];
    struct fwd_run *runs; /* ntargets of them (forwarder.c) */
};

long long wsmd__fwd_now_ms(void);
/* A memfd copy of a descriptor the monitor opened; path gets its
 * /proc/self/fd name ("" when fd < 0). -1 on failure. */
int wsmd__fwd_own_copy(int fd, char path[64]);
/* "user:password" from the credentials file. */
int wsmd__fwd_read_basic(struct wsmd_forwarder *fw, int fd);
/* A libwsm session to url with the configured credentials; NULL with err set. */
wsm_session *wsmd__fwd_session(struct wsmd_forwarder *fw, const char *url, char *err,
                               size_t errlen);
void wsmd__fwd_state_name(const char *url, const char *sub, char out[40]);
char *wsmd__fwd_state_load(struct wsmd_fwdcfg *c, const char *name);
int wsmd__fwd_state_store(struct wsmd_fwdcfg *c, const char *name, const char *bm);

#endif
