/* Watches the sockets of parked (suspended) requests for the client going
 * away (src/daemon/parkwatch.c). libmicrohttpd does not look at a
 * suspended connection at all, so without this a long poll whose client
 * reset keeps its connection slot until OperationTimeout. */
#ifndef WSMD_PARKWATCH_H
#define WSMD_PARKWATCH_H

#include <stdint.h>

#include "wsm/wsm.h"

struct wsmd_parkwatch;

/* gone(ctx, id) runs on the watcher's thread for each watched id whose
 * socket reports hang-up, peer shutdown or an error. It may run for an id
 * already unwatched (the event was on its way): ids are never reused, so
 * the callee looks the id up and ignores it then. */
enum wsm_err wsmd__parkwatch_start(void (*gone)(void *ctx, uint64_t id), void *ctx,
                                   struct wsmd_parkwatch **out);
/* fd stays open until wsmd__parkwatch_del (the caller owns it). */
int wsmd__parkwatch_add(struct wsmd_parkwatch *w, int fd, uint64_t id);
void wsmd__parkwatch_del(struct wsmd_parkwatch *w, int fd);
/* A reply written to a socket but not yet acknowledged by the peer's TCP
 * (a "drain"): settle(arg, 1) once the socket's send queue is empty,
 * settle(arg, 0) if the connection is reset or closes first, or after
 * WSMD_DRAIN_MS. The drain holds a dup of fd, so it outlives the
 * connection. wsmd__drain_new returns NULL when fd's queue is already
 * empty or on any failure (the caller settles at once then); the caller
 * may hand wsmd__drain_probe/d to someone who wants to know sooner, then
 * must call wsmd__parkwatch_drain(w, d), after which d belongs to the
 * watcher (freed after settle returned). */
#define WSMD_DRAIN_MS 30000
struct wsmd_drain;
struct wsmd_drain *wsmd__drain_new(int fd, void (*settle)(void *arg, int delivered), void *arg);
/* For the command's next Receive: 1 the reply reached the client (all
 * acknowledged, or all sent and the client asks for more); -1 not (reset,
 * or still unsent); never 0. Any thread. */
int wsmd__drain_probe(void *d);
void wsmd__parkwatch_drain(struct wsmd_parkwatch *w, struct wsmd_drain *d);

/* Stops the thread and frees w (settling the drains it holds with 0);
 * NULL is a no-op. */
void wsmd__parkwatch_stop(struct wsmd_parkwatch *w);

#endif
