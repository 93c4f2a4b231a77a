/* libwsm client: WS-Eventing subscriptions (ev_client.c). What is here
 * reads replies; it is shared with the unit tests and fuzz_evclient. */
#ifndef WSM_EV_CLIENT_H
#define WSM_EV_CLIENT_H

#include <stddef.h>

#include "envelope.h"
#include "wsm/wsm.h"

/* The error code for a fault's subcode (its local name: "InvalidBookmark"),
 * WSM_ERR_FAULT for those without one of their own. */
enum wsm_err wsm__ev_fault_err(const char *subcode);

/* An e:Expires value, an xs:duration or an xs:dateTime, as milliseconds
 * since the epoch (now_ms plus the duration). WSM_ERR_INVALID_EXPIRATION
 * when it is neither. */
enum wsm_err wsm__ev_expires_at(const char *text, long long now_ms, long long *at_ms);

/* What a SubscribeResponse says (strings malloc'd; free with
 * wsm__ev_sub_reply_clear). */
struct wsm__ev_sub_reply {
    char *identifier;     /* e:Identifier of the SubscriptionManager */
    char *address;        /* its a:Address (may be NULL) */
    char *context;        /* n:EnumerationContext (Pull mode) */
    long long expires_at; /* ms since the epoch; 0: never */
};
enum wsm_err wsm__ev_subscribe_reply(const struct wsm_envelope *env, long long now_ms,
                                     struct wsm__ev_sub_reply *r, char *why, size_t whylen);
void wsm__ev_sub_reply_clear(struct wsm__ev_sub_reply *r);

/* A PullResponse: fn for each event (see wsm_event_fn), *bookmark (if
 * the header had a w:Bookmark, malloc'd; else left alone) and *context
 * (a new EnumerationContext, malloc'd, or left alone). *n: events handed
 * out. */
enum wsm_err wsm__ev_pull_reply(const struct wsm_envelope *env, wsm_event_fn fn, void *ud,
                                char **bookmark, char **context, size_t *n, char *why,
                                size_t whylen);

/* The e:Expires of a RenewResponse or GetStatusResponse (op), if any:
 * *at_ms 0 when there is none. */
enum wsm_err wsm__ev_expires_reply(const struct wsm_envelope *env, const char *op, long long now_ms,
                                   long long *at_ms, char *why, size_t whylen);

/* An element as a standalone string: its namespaces declared on it. */
enum wsm_err wsm__ev_node_xml(const xmlNode *n, char **out);

#endif
