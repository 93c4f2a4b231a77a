/* Between privsep.c (the split) and psclient.c (the network process's
 * requests). */
#ifndef WSMD_PRIVSEP_PRIV_H
#define WSMD_PRIVSEP_PRIV_H

#include <sys/types.h>

#include "privsep.h"

struct wsmd_server;

/* In the new network process, privileges dropped: the channels (its ends)
 * and every hook that sends privileged work to the monitor. */
void wsmd__psclient_start(struct wsmd_server *srv, const int fds[WSMD_PS_CHANNELS], pid_t monitor);

#endif
