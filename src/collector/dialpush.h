/* CollectorInitiated subscriptions in Push mode (dialpush.c): the
 * Subscribe that makes a source push to this collector, its Renew and
 * Unsubscribe, and which source a delivery comes from. */
#ifndef WSMD_COL_DIALPUSH_H
#define WSMD_COL_DIALPUSH_H

#include <stddef.h>

#include "subscription.h"
#include "wsm/wsm.h"

struct wsmd_server;
struct wsm_envelope;
struct wsmd_push_sub;

struct wsmd_dial_push {
    const struct wsmd_sub *sub;
    const char *url;      /* the source's /wsman */
    const char *address;  /* the EventSource's Address (wsmd:Source) */
    const char *notify;   /* NotifyTo: this collector's .../wsman/subscriptions/<id> */
    const char *user;     /* Basic credentials of the deliveries */
    const char *password; /* (those the collector used towards the source) */
    const char *bookmark; /* stored BookmarkList, or NULL */
    long expires_ms;
};

enum wsm_err wsmd__dial_push_subscribe(wsm_session *s, const struct wsmd_dial_push *p,
                                       struct wsmd_push_sub **out, char *err, size_t errlen);
enum wsm_err wsmd__dial_push_renew(wsm_session *s, const char *url, const char *uri,
                                   struct wsmd_push_sub *ps, long expires_ms);
enum wsm_err wsmd__dial_push_unsubscribe(wsm_session *s, const char *url, const char *uri,
                                         struct wsmd_push_sub *ps);
/* When it expires (ms since the epoch), 0: never. */
long long wsmd__dial_push_expires(const struct wsmd_push_sub *ps);
void wsmd__dial_push_free(struct wsmd_push_sub *ps);

/* "http(s)://host:port" of the first WS-Management listener (a wildcard one
 * by the host name); -1 when there is none yet (the listeners start after
 * the collector: the dialer tries again). */
int wsmd__dial_notify_base(const struct wsmd_server *srv, char *out, size_t n);

/* The source a Push delivery of a CollectorInitiated subscription comes
 * from: its wsmd:Source header names an enabled EventSource whose user is
 * the principal that authenticated. NULL otherwise. */
const struct wsmd_sub_source *wsmd__dial_push_source(const struct wsmd_sub *sub,
                                                     const struct wsm_envelope *env,
                                                     const char *principal);

#endif
