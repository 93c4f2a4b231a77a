/* SIGHUP and the service manager (docs/internals/daemon.md, "Signals and
 * the service manager").
 *
 * A reload reads the config file again (with the command line's options
 * over it, as at startup), the TLS certificate and key, the keytab (a
 * new GSSAPI acceptor) and the user file, and applies what can change
 * while connections stay open; a file that does not parse, or a
 * certificate, key or keytab that cannot be used, changes nothing and is
 * logged on one line (event=reload-refused file= line= key= reason=).
 * Keys that only a restart can change are named (event=reload-restart).
 *
 * Separated (privsep.md), the monitor reads what the network process may
 * not (the file, the key, the keytab), applies its own part (user file,
 * AllowRoot, the acceptor, MaxProcessesPerUser) and forwards SIGHUP; the
 * network process then asks it for the accepted text and TLS pair
 * (PS_CONFIG), applies its part (limits, Allow lines, throttle, the
 * certificate) and says so (PS_NOTIFY), on which the monitor tells
 * systemd READY=1 again. */
#ifndef WSMD_RELOAD_H
#define WSMD_RELOAD_H

#include <stddef.h>

#include "wsm/wsm.h"

struct wsmd_server;
struct wsmd_config;
struct ps_msg;

/* main(), once the configuration is read and before any fork: the file
 * (NULL: none) and the command line that the reloads rebuild from. */
void wsmd__reload_setup(struct wsmd_server *srv, const char *cfgfile, int argc, char **argv);

/* SIGHUP in the process that serves (single or network process):
 * everything, or (separated) the network process's part. */
void wsmd__reload_signal(struct wsmd_server *srv);
/* SIGHUP in the monitor, before it forwards the signal. */
void wsmd__reload_monitor(struct wsmd_server *srv);

/* Listening: READY=1 (through the monitor when separated). */
void wsmd__reload_ready(struct wsmd_server *srv);

/* The monitor's two requests (privsep.h): the accepted config text and
 * TLS pair; the network process's "serving"/"reloaded". */
enum wsm_err wsmd__reload_req_config(struct ps_msg *q, struct ps_msg *a);
enum wsm_err wsmd__reload_req_notify(struct ps_msg *q, struct ps_msg *a);

/* At exit, after the listeners stopped: what reloads replaced. */
void wsmd__reload_free(void);

/* Parses config text as the config file (tests): on error why[] holds
 * "file=NAME line=N key=K reason=\"...\"". */
enum wsm_err wsmd__reload_parse(struct wsmd_config *cfg, const char *name, const char *text,
                                char *why, size_t whylen);

#endif
