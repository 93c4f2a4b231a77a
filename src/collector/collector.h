/* The Windows Event Forwarding collector (docs/collector.md,
 * docs/internals/collector.md): the subscription manager that sources
 * enumerate (the GPO's /wsman/SubscriptionManager/...), the delivery
 * endpoints they push to (/wsman/subscriptions/<id>), and what connects
 * them to the HTTP layer, the subscription files, the state database and
 * the outputs. On when the configuration names a Subscriptions folder. */
#ifndef WSMD_COLLECTOR_H
#define WSMD_COLLECTOR_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "wsm/wsm.h"

struct MHD_Connection;
struct wsmd_server;
struct wsmd_config;
struct wsmd_call;
struct wsm_envelope;
struct wsmd_collector;

/* What a request's URL is to the collector. */
enum wsmd_col_path {
    WSMD_COL_NONE = 0, /* not the collector's (or the collector is off) */
    WSMD_COL_MANAGER,  /* /wsman/SubscriptionManager/... */
    WSMD_COL_DELIVERY, /* /wsman/subscriptions/<id> */
};

#define WSMD_COL_MANAGER_PREFIX "/wsman/SubscriptionManager/"
#define WSMD_COL_DELIVERY_PREFIX "/wsman/subscriptions/"
#define WSMD_SUBSCRIPTION_URI                                                                      \
    "http://schemas.microsoft.com/wbem/wsman/1/SubscriptionManager/Subscription"

enum wsmd_col_path wsmd__collector_path(const struct wsmd_server *srv, const char *url);

/* As root, before the split: StateDir and EventLogDir exist and belong to
 * the account that will write them (uid/gid; -1: leave the owner). */
enum wsm_err wsmd__collector_prepare_dirs(struct wsmd_config *cfg, uid_t uid, gid_t gid);

/* In the process that serves (after the split): loads the subscriptions,
 * opens the state database and the outputs. srv->collector stays NULL
 * when no Subscriptions folder is configured. */
enum wsm_err wsmd__collector_new(struct wsmd_server *srv, struct wsmd_collector **out);
void wsmd__collector_free(struct wsmd_collector *col);
/* SIGHUP, wecutil: reads the subscription files again (a bad file keeps
 * its previous version, said in msg) and reopens the output files. */
enum wsm_err wsmd__collector_reload(struct wsmd_collector *col, char *msg, size_t msglen);

/* A source's request body, as received after the message decryption, made
 * ready for the SOAP parser in place: SLDC decompressed when flagged,
 * UTF-16 turned into UTF-8, characters XML forbids escaped (events.h), the
 * large CDATA sections lifted out of the parser's way (lift.h).
 * *max_parse is raised to what the parser must then accept. */
struct wsmd_lifted;
enum wsm_err wsmd__collector_body(struct wsmd_server *srv, struct MHD_Connection *c,
                                  struct wsm_buf *body, const char *content_encoding,
                                  size_t *max_parse, struct wsmd_lifted **lifted);
/* After the parse: what wsmd__collector_body lifted out goes back into the
 * tree (lift.h), and is freed; env NULL (the parse failed): only freed. */
enum wsm_err wsmd__collector_restore(struct wsmd_lifted *lifted, struct wsm_envelope *env);

/* 1 and the principal (the subject CN) when connection c presented a
 * client certificate that chains to ClientCAFile and may authenticate
 * clients; 0 otherwise. For the collector's paths only: the name is no
 * local account. */
int wsmd__collector_cert_principal(struct wsmd_server *srv, struct MHD_Connection *c, char *out,
                                   size_t n);

/* The Prometheus text of /metrics. */
enum wsm_err wsmd__collector_metrics(struct wsmd_collector *col, struct wsm_buf *out);

/* Handlers (dispatch.c's collector family). */
enum wsm_err wsmd__col_enumerate(struct wsmd_call *call);
enum wsm_err wsmd__col_end(struct wsmd_call *call);
enum wsm_err wsmd__col_events(struct wsmd_call *call);
enum wsm_err wsmd__col_heartbeat(struct wsmd_call *call);
enum wsm_err wsmd__col_subscription_end(struct wsmd_call *call);

#define WSMD_WSMAN_NS "http://schemas.dmtf.org/wbem/wsman/1/wsman/"
#define WSMD_ACTION_END "http://schemas.microsoft.com/wbem/wsman/1/wsman/End"
#define WSMD_ACTION_EVENTS WSMD_WSMAN_NS "Events"
#define WSMD_ACTION_HEARTBEAT WSMD_WSMAN_NS "Heartbeat"
#define WSMD_ACTION_ACK WSMD_WSMAN_NS "Ack"
#define WSMD_ACTION_SUBSCRIPTION_END                                                               \
    "http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscriptionEnd"

#endif
