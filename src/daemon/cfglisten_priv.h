/* Between cfglisten.c (listeners, the file, the monitor's checks) and
 * cfgcertmap.c (certificate mappings). */
#ifndef WSMD_CFGLISTEN_PRIV_H
#define WSMD_CFGLISTEN_PRIV_H

#include "server.h"

#define CFGL_OP_ADD 1u
#define CFGL_OP_REMOVE 2u
/* A listener the accepted config text names, bound for a SIGHUP reload
 * (reloadlisten.c); no user: the root-owned file decides. */
#define CFGL_OP_RELOAD 3u

/* cfglines.c: a Listen URL into a listener's host, port and transport (0:
 * not one); two host names or addresses that are the same. */
int wsmd__cfgl_parse_listen(const char *url, struct wsmd_listener *out);
int wsmd__cfgl_same_host(const char *a, const char *b);

/* The configuration file with one "Key = add" line appended, or the lines
 * whose value same() says is remove taken out (*removed counts them);
 * temp file + fsync + rename, owner and mode kept. No file: WSM_OK, a
 * notice. The caller holds wsmd__cfgl_lock. */
enum wsm_err wsmd__cfgl_file_edit(const char *key, const char *add, const char *remove,
                                  int (*same)(const char *, const char *), unsigned *removed);
/* Monitor side: user authenticated through the monitor and holds
 * config-write by the monitor's own reading of the Allow lines. */
int wsmd__cfgl_monitor_may(struct wsmd_server *srv, const char *user);

/* Replies: CreateResponse with the new resource's EndpointReference (its
 * selectors), an empty DeleteResponse. */
enum wsm_err wsmd__cfgl_reply_created(struct wsmd_call *call, const char *uri,
                                      const char *const *names, const char *const *values,
                                      size_t n);
enum wsm_err wsmd__cfgl_reply_deleted(struct wsmd_call *call);

/* The properties of a Create body (any root element: winrm names it after
 * the resource): text-only children by local name; an unknown or repeated
 * one is x:InvalidRepresentation. */
struct wsmd_cfgl_prop {
    const char *name;
    const char *value;
};
enum wsm_err wsmd__cfgl_body_props(struct wsmd_call *call, struct wsmd_cfgl_prop *p, size_t n);

/* A slot for a new listener (winrm create, a reload's new Listen line): that
 * of a deleted listener whose last connection has ended (its daemon is
 * stopped now), else a free one at the end (*append = 1); NULL when full.
 * Under wsmd__cfgl_lock. */
struct wsmd_server;
struct wsmd_listener;
struct wsmd_listener *wsmd__cfgl_free_slot(struct wsmd_server *srv, int *append);

#endif
