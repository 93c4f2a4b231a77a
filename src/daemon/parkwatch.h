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
/* Stops the thread and frees w; NULL is a no-op. */
void wsmd__parkwatch_stop(struct wsmd_parkwatch *w);

#endif
