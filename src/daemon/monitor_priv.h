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

/* ---- between monitor.c (the table, the threads), monauth.c (password,
 * Negotiate and certificate requests) and monproc.c (accounts, processes,
 * the CIM requests that need root) ---- */

#include <pthread.h>
#include <pwd.h>
#include <stdint.h>
#include <sys/types.h>

#include "log.h"
#include "pswire.h"
#include "server.h"
#include "userfile.h"

#define MAX_CHILDREN 4096 /* processes started and not yet released */
#define MAX_NEGO 4096     /* handshakes in progress */
#define MAX_AUTHED 4096   /* names that authenticated (see authed_add) */
#define MAX_ENV 512
#define MAX_CMDLINE (64 * 1024)
#define MAX_HEADER (120 * 1024)
#define MAX_GROUPS 256

struct child {
    pid_t pid; /* 0: free slot */
    int pidfd;
    int status_wr; /* -1 once the status was written */
    int exited;
    uid_t uid;
    char user[WSMD_MAX_USER]; /* started for this authenticated name */
};

struct nego_slot {
    uint64_t id;
    struct wsmd_nego_conn *c;
    unsigned long stamp;
};

struct wsmd_monitor {
    struct wsmd_server *srv;
    pthread_mutex_t lock;
    struct child children[MAX_CHILDREN];
    size_t nchildren;
    int epfd; /* the pidfds of children that have not exited */
    struct nego_slot nego[MAX_NEGO];
    unsigned long stamp;
    /* Names that authenticated during this network process's life: only
     * they may have commands started as them. A ring: the oldest name is
     * forgotten first. */
    char *authed[MAX_AUTHED];
    size_t authed_next;
    unsigned long refused; /* requests refused as malformed or unknown */
    pid_t network;         /* the network process (not to be terminated) */
};

/* All of it under wsmd__mon.lock. */
extern struct wsmd_monitor wsmd__mon;

/* Refusals are logged, at most 20 lines a second: a subverted network
 * process could send nothing else. */
extern struct wsmd_lograte wsmd__mon_refusals;
#define refusal_log(...) wsmd__log_limited(&wsmd__mon_refusals, 20, __VA_ARGS__)

int wsmd__mon_authed_has(const char *user);
void wsmd__mon_authed_add(const char *user);
/* uid 0 only with AllowRoot. -1: no such account. */
int wsmd__mon_account_allowed(const char *user, struct passwd *pw, char *buf, size_t n);
enum wsm_err wsmd__mon_req_auth_password(struct ps_msg *q, struct ps_msg *a);
void wsmd__mon_nego_drop(struct nego_slot *s);
enum wsm_err wsmd__mon_req_nego_step(struct ps_msg *q, struct ps_msg *a);
enum wsm_err wsmd__mon_req_nego_free(struct ps_msg *q, struct ps_msg *a);
/* A certificate login: the TLS handshake and the mapping ran in the
 * network process. The monitor only believes it for a name that a
 * CertMapping line of its own configuration maps to (root only where that
 * line says AllowRoot), so a subverted network process can claim no one
 * else. */
enum wsm_err wsmd__mon_req_cert_user(struct ps_msg *q, struct ps_msg *a);
struct child *wsmd__mon_child_find(pid_t pid);
enum wsm_err wsmd__mon_req_check_dir(struct ps_msg *q, struct ps_msg *a);
/* Win32_Process.Create: a detached process as the caller's account, in
 * its per-user cgroup (process.c does it all, as root). */
enum wsm_err wsmd__mon_req_create(struct ps_msg *q, struct ps_msg *a);
/* Win32_Process.Terminate: checked again here, as the caller's account:
 * its own processes only (root: any but wsmd's). */
enum wsm_err wsmd__mon_req_terminate(struct ps_msg *q, struct ps_msg *a);
/* Root-only /proc data of one process (Win32_Process ExecutablePath,
 * HandleCount, the I/O counters): the network process decides who may
 * see them, the monitor only reads them. */
enum wsm_err wsmd__mon_req_proc_read(struct ps_msg *q, struct ps_msg *a);
enum wsm_err wsmd__mon_req_spawn(struct ps_msg *q, struct ps_msg *a);
enum wsm_err wsmd__mon_req_signal(struct ps_msg *q, struct ps_msg *a);
void wsmd__mon_child_forget(struct child *c);
enum wsm_err wsmd__mon_req_release(struct ps_msg *q, struct ps_msg *a);

#endif
