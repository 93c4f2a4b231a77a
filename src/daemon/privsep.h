/* Privilege separation (docs/internals/privsep.md).
 *
 * Run as root, wsmd splits in two at startup, the way OpenSSH's sshd
 * does: a small privileged monitor (the first process, root) and the
 * network process (HTTP, TLS, XML, the WS-Management handlers, the shell
 * engine's buffers, providers that need no privilege), which runs as an
 * unprivileged system user with no capabilities, NO_NEW_PRIVS and a
 * seccomp filter. The monitor answers a fixed table of requests over
 * SOCK_SEQPACKET channels, checks every field, and does nothing it is not
 * asked for in that table. If the network process dies, the monitor ends
 * what it started for it and starts a new one on the same sockets. */
#ifndef WSMD_PRIVSEP_H
#define WSMD_PRIVSEP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wsm/wsm.h"

struct wsmd_server;
struct shell_spawn_req;
struct shell_spawn_res;

/* The monitor's request table (docs/internals/privsep.md). */
enum ps_type {
    PS_REPLY = 0,
    PS_AUTH_PASSWORD = 1, /* user, password, peer -> err */
    PS_NEGO_STEP = 2,     /* conn, tls, header -> err, done, www, context */
    PS_NEGO_FREE = 3,     /* conn -> err */
    PS_CERT_USER = 4,     /* user -> err (a CertMapping target only) */
    PS_SPAWN = 5,         /* user, command, env, dir, limits -> err, pid + 4 fds */
    PS_SIGNAL = 6,        /* pid, signal -> err */
    PS_RELEASE = 7,       /* pid -> err */
    PS_CHECK_DIR = 8,     /* user, directory -> err (can the user enter it?) */
    PS_CREATE = 9,        /* user, command, directory -> err, ReturnValue, pid */
    PS_TERMINATE = 10,    /* user, pid, start time -> err */
    PS_PROC_READ = 11,    /* pid, what (exe, fd count, io) -> err, text */
    PS_CONFIG = 12,       /* -> err, config text, TLS certificate, TLS key (reload.h) */
    PS_NOTIFY = 13,       /* event (1 serving, 2 reloaded), status -> err (sd_notify) */
    PS_CONFIG_SET = 14,   /* user, n x (key, set?, value) -> err (config file rewritten) */
    PS_CFG_LISTEN = 15,   /* user, op, URL -> err, port + the listening fd (cfglisten.c) */
    PS_CFG_CERTMAP = 16,  /* user, op, CertMapping line -> err (cfglisten.c) */
    PS_IPMI_CONNECT = 17, /* -> err + a socket to a new wsmd-ipmi (ipmispawn.c) */
    PS_TYPES
};

/* The default unprivileged account (PrivilegeSeparationUser). */
#define WSMD_PRIVSEP_USER "wsmd"
/* Channels between the two processes: requests on different channels are
 * served at the same time (a slow PAM check does not hold up a spawn). */
#define WSMD_PS_CHANNELS 6

/* As root, before any thread of the network side is started: binds the
 * listeners, forks. Returns WSM_OK with *monitor_rc -1 in the network
 * process, now unprivileged. In the monitor it returns only when wsmd
 * stops, with WSM_OK and the exit status in *monitor_rc (the caller
 * cleans up and exits with it). An error (no such user, a listener that
 * cannot be bound) is said on stderr. */
enum wsm_err wsmd__privsep_start(struct wsmd_server *srv, int *monitor_rc);

/* The network process's exit status when it could not start serving: its
 * monitor then stops too instead of starting it again. */
#define WSMD_EXIT_STARTUP 78

/* 1 in the network process of a separated wsmd. */
int wsmd__privsep_on(void);
/* The monitor's pid, or 0 (tests and logs). */
pid_t wsmd__privsep_monitor_pid(void);

/* Network-side requests. Each blocks for the answer. */
/* Any request built by its owner (cfglisten.c): sent on a free channel, the
 * answer read into a, positioned after the error it carries. */
struct ps_msg;
enum wsm_err wsmd__ps_call(struct ps_msg *q, struct ps_msg *a);
/* *why (may be NULL) as wsmd__auth_verify says it, for the log. */
enum wsm_err wsmd__ps_auth_password(const char *user, const char *pass, const char **why);
/* One Negotiate leg done by the monitor. On done with a context, *ctx
 * (malloc'd) is the established context for wsmd__nego_import. */
enum wsm_err wsmd__ps_nego_step(uint64_t conn, int tls, const char *authz, char **www, int *done,
                                unsigned char **ctx, size_t *ctx_len);
void wsmd__ps_nego_free(uint64_t conn);
enum wsm_err wsmd__ps_cert_user(const char *user);
/* Starts r's command as user (the monitor looks the account up itself).
 * res->pidfd is a pipe that becomes readable, with the wait status (an
 * int), when the command exits; the monitor keeps the exited leader
 * (and so its process group) until wsmd__ps_release. */
enum wsm_err wsmd__ps_spawn(const char *user, const struct shell_spawn_req *r,
                            struct shell_spawn_res *res);
enum wsm_err wsmd__ps_signal(pid_t pid, int sig);
enum wsm_err wsmd__ps_release(pid_t pid);
enum wsm_err wsmd__ps_check_dir(const char *user, const struct shell_spawn_req *r);
/* SIGHUP (reload.c): the configuration the monitor accepted (malloc'd;
 * the key to be zeroed), and telling the service manager through it. */
enum wsm_err wsmd__ps_config(char **text, char **cert_pem, char **key_pem);
enum wsm_err wsmd__ps_notify(unsigned event, const char *status);
struct wsmd_cfgedit;
/* winrm/config writes: the monitor rewrites the config file (cfgfile.h)
 * with n edits for user (who must have authenticated through it). */
enum wsm_err wsmd__ps_config_set(const char *user, const struct wsmd_cfgedit *ed, size_t n);

/* 1 if user authenticated through the monitor since the network process
 * started (monitor side). */
int wsmd__monitor_authed(const char *user);

/* A name left the user file: the monitor forgets that it authenticated
 * and kills what it started for it. How many were killed (0 outside a
 * monitor). */
unsigned wsmd__monitor_user_removed(const char *user);

/* Monitor side, exposed for tests and the fuzz target: serves one request
 * held in (bytes, n) as the monitor would, writing the reply's bytes to
 * *reply (malloc'd). Returns the error the reply carries. Requests that
 * need a live monitor (spawn) are refused here. */
enum wsm_err wsmd__monitor_handle_bytes(const void *bytes, size_t n, unsigned char **reply,
                                        size_t *reply_len);

#endif
