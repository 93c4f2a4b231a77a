/* Push deliveries of the event source (docs/internals/eventlog.md "Push
 * deliveries"): the Events, PushWithAck and Push modes of WS-Eventing
 * (DSP0226 10.2.9), sent from a pool of delivery threads to the
 * subscriber's NotifyTo with libwsm's client transport, never from a
 * request thread. */
#ifndef WSMD_EVPUSH_H
#define WSMD_EVPUSH_H

#include <libxml/tree.h>

#include "evsub.h"

#define WSMD_EV_MODE_EVENTS "http://schemas.dmtf.org/wbem/wsman/1/wsman/Events"
#define WSMD_EV_MODE_PUSHACK "http://schemas.dmtf.org/wbem/wsman/1/wsman/PushWithAck"
#define WSMD_EV_MODE_PUSH "http://schemas.xmlsoap.org/ws/2004/08/eventing/DeliveryModes/Push"

/* Whether mode is one of the three push modes. */
int wsmd__evpush_mode(const char *mode);

/* Reads a push Subscribe's Delivery (NotifyTo, EndTo, MaxElements, MaxTime,
 * MaxEnvelopeSize, ConnectionRetry, Auth) and the credentials of its
 * header into s->push (the text kept in the store). WSM_OK, or a fault
 * with call->fault_message set. */
enum wsm_err wsmd__evpush_parse(struct wsmd_call *call, const char *mode, xmlNodePtr delivery,
                                struct wsmd_evs *s);

/* A push subscription was added or loaded (s taken or under the table's
 * lock): the delivery threads start sending it. */
void wsmd__evpush_watch(const struct wsmd_evs *s);
void wsmd__evpush_stop(void);
/* The server whose JournalDirectory readers use (evstore's start). */
void wsmd__evpush_init(struct wsmd_server *srv);

/* How deliveries authenticate to the subscriber (the stored form's number). */
enum {
    WSMD_EVPUSH_AUTH_NONE = 0,
    WSMD_EVPUSH_AUTH_BASIC = 1,
    WSMD_EVPUSH_AUTH_KERBEROS = 2, /* SPNEGO (Negotiate) with the forwarder's keytab */
    WSMD_EVPUSH_AUTH_CERT = 3,     /* the forwarder's client certificate, https:// */
};

/* How the subscriber asks deliveries to authenticate: the w:Auth (DSP0226
 * 10.2.2) or WS-Policy Authentication alternatives (MS-WSMV 2.2.4.1) in
 * the NotifyTo nt (or the Delivery d), read into *auth, the first one this
 * source can honour. Basic's user and password come from the header's
 * UsernameToken (arena strings); for a certificate *user is the configured
 * certificate's thumbprint (static). A profile it cannot honour is a
 * fault, call->fault_message saying why: never a downgrade (evpushauth.c). */
enum wsm_err wsmd__evpush_auth(struct wsmd_call *call, xmlNodePtr nt, xmlNodePtr d, const char *url,
                               int *auth, const char **user, const char **password);

/* The serialised delivery, parsed (tests, fuzzing): 0 when well formed. */
struct wsmd_evpush_cfg {
    int mode; /* 0 Events, 1 PushWithAck, 2 Push */
    char *notify, *notify_refs, *end_to, *end_refs;
    unsigned long max_elements;
    long max_time_ms;
    unsigned long max_envelope;
    unsigned long retry_total;
    long retry_ms;
    int auth;       /* WSMD_EVPUSH_AUTH_* */
    char *user;     /* Basic: the user; certificate: the thumbprint it matched */
    char *password; /* Basic only */
};
int wsmd__evpush_cfg_parse(const char *text, struct wsmd_evpush_cfg *c);
void wsmd__evpush_cfg_clear(struct wsmd_evpush_cfg *c);

#endif
