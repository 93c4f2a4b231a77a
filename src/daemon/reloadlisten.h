/* Listeners opened and closed by a SIGHUP reload (reloadlisten.c;
 * docs/internals/daemon.md "Signals and the service manager"). */
#ifndef WSMD_RELOADLISTEN_H
#define WSMD_RELOADLISTEN_H

#include "wsm/wsm.h"

struct wsmd_server;
struct wsmd_config;

/* The process doing its part: an unseparated wsmd, the monitor, the
 * network process (reload.c's roles). */
#define WSMD_RELOADL_SINGLE 0
#define WSMD_RELOADL_MONITOR 1
#define WSMD_RELOADL_NETWORK 2

/* After a reload was accepted: the Listen set of old_text (the accepted
 * text before) against neu's, applied. Failures are logged; the reload
 * stands. */
void wsmd__reloadl_apply(struct wsmd_server *srv, int role, const char *old_text,
                         const struct wsmd_config *neu);

/* The monitor's side of CFGL_OP_RELOAD: a descriptor bound on url, which
 * the accepted text must name (WSM_ERR_ACCESS_DENIED otherwise). */
enum wsm_err wsmd__reloadl_monitor_bind(struct wsmd_server *srv, const char *url, int *fd,
                                        int *port);

#endif
