/* The connection guard: who may hold a connection, and for how long
 * (docs/internals/connections.md). libmicrohttpd's own timeout is re-armed
 * by every byte and its connection limit is global; the guard adds a
 * per-address limit, deadlines a trickle cannot extend (request headers,
 * body, reply), and eviction of unauthenticated idle connections near the
 * global limit. It never closes a socket itself: a reaper thread calls
 * shutdown(2) and libmicrohttpd closes the connection as for any peer that
 * went away. */
#ifndef WSMD_CONNGUARD_H
#define WSMD_CONNGUARD_H

#include <sys/socket.h>

#include "server.h"

/* Where a connection is in its request cycle; each has its own deadline. */
enum wsmd_conn_phase {
    WSMD_CONN_WAIT_HEADERS, /* opened or between requests: HeaderTimeoutms */
    WSMD_CONN_BODY,         /* headers in, body coming: BodyTimeoutms */
    WSMD_CONN_HANDLING,     /* ours to answer (long polls too): no deadline */
    WSMD_CONN_REPLY,        /* reply queued: BodyTimeoutms to take it */
};

/* Defaults of the configuration keys (0 in struct wsmd_config). */
#define WSMD_DEFAULT_PER_ADDRESS 32
#define WSMD_DEFAULT_HEADER_TIMEOUT_MS 10000
#define WSMD_DEFAULT_BODY_TIMEOUT_MS 60000
#define WSMD_DEFAULT_ANON_ENVELOPE 16384
/* Idle keep-alive connection of an authenticated client (libmicrohttpd's
 * CONNECTION_TIMEOUT too). */
#define WSMD_IDLE_TIMEOUT_MS 120000

struct wsmd_connguard;

/* Raises RLIMIT_NOFILE's soft limit to the hard one and, when
 * MaxConnections is not configured, sizes it from the descriptors there
 * are (half of them, shared by the listeners). Fills in the defaults of
 * the other keys. Logs the limits in force. */
void wsmd__connguard_size(struct wsmd_config *cfg);

/* Starts the reaper thread. */
enum wsm_err wsmd__connguard_new(const struct wsmd_config *cfg, struct wsmd_connguard **out);
/* Stops it; call after the listeners stopped. NULL is fine. */
void wsmd__connguard_free(struct wsmd_connguard *g);

/* libmicrohttpd's accept policy: 0 when the address holds its share:
 * MaxConnectionsPerAddress connections on which nothing authenticated
 * yet, or 8 times that in all. */
int wsmd__connguard_admit(struct wsmd_connguard *g, const struct sockaddr *sa, socklen_t len);
/* A connection was opened on listener number `listener` (fd is its
 * socket). Over the per-address limit it is shut down at once. */
void wsmd__connguard_open(struct wsmd_connguard *g, const void *conn, int fd,
                          const struct sockaddr *sa, unsigned listener);
/* Before libmicrohttpd closes the socket: the guard forgets the fd. */
void wsmd__connguard_close(struct wsmd_connguard *g, const void *conn);
void wsmd__connguard_phase(struct wsmd_connguard *g, const void *conn, enum wsmd_conn_phase ph);
/* A request on the connection was authenticated: it may idle between
 * requests for WSMD_IDLE_TIMEOUT_MS and is never evicted. */
void wsmd__connguard_authed(struct wsmd_connguard *g, const void *conn);

#endif
