/* Between privsep.c (process life) and monitor.c (the request table). */
#ifndef WSMD_MONITOR_PRIV_H
#define WSMD_MONITOR_PRIV_H

struct wsmd_server;

void wsmd__monitor_init(struct wsmd_server *srv);
/* Thread bodies: one per channel (arg: the fd, as intptr_t), one reaper. */
void *wsmd__monitor_channel(void *arg);
void *wsmd__monitor_reaper(void *arg);
/* Ends and reaps every process started for the network process that died,
 * drops handshakes and the names that authenticated. */
void wsmd__monitor_reset(void);
/* The network process's pid (Terminate may not name it). */
void wsmd__monitor_set_network(pid_t pid);
/* Requests refused as malformed or not in the table so far. */
unsigned long wsmd__monitor_refused(void);

#endif
