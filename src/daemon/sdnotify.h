/* The service manager's readiness protocol (sd_notify(3)), spoken
 * directly: one datagram to the unix socket named by $NOTIFY_SOCKET.
 * No libsystemd: the protocol is a few lines, and wsmd must run where
 * there is no systemd at all (docs/internals/daemon.md, "Signals and the
 * service manager"). */
#ifndef WSMD_SDNOTIFY_H
#define WSMD_SDNOTIFY_H

/* Sends the lines of fmt ("READY=1\nSTATUS=serving") to $NOTIFY_SOCKET
 * (a path, or "@name" in the abstract namespace). 1 sent, 0 no socket
 * configured, -1 error (logged once). Thread-safe; never blocks for long
 * (the socket is non-blocking). */
int wsmd__sd_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The reload's first line: "RELOADING=1\nMONOTONIC_USEC=<now>" plus
 * STATUS (systemd 253's Type=notify-reload wants the clock). */
int wsmd__sd_notify_reloading(const char *status);

#endif
