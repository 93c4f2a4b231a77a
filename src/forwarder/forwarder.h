/* The event forwarder: a Linux host pushing its journal into a Windows
 * Event Collector as a Windows source under the GPO does (source-initiated
 * subscriptions; docs/internals/forwarder.md).
 *
 *   fwdsub.c    the collector's Enumerate response: one wsmd_fwdsub per
 *               m:Subscription (its Version and its Subscribe envelope)
 *   fwdsend.c   the messages a source sends (Enumerate, Events, Heartbeat,
 *               SubscriptionEnd) and their bodies (UTF-16, SLDC)
 *   fwdconfig.c the configuration (EventForwarding, Forwarder*) and the
 *               descriptors root opens before the split
 *   fwdstate.c  credentials, sessions, the durable bookmarks
 *   forwarder.c one thread per collector */
#ifndef WSMD_FORWARDER_H
#define WSMD_FORWARDER_H

#include <stddef.h>

#include "buf.h"
#include "wsm/wsm.h"

#define WSMD_FWD_RESOURCE                                                                          \
    "http://schemas.microsoft.com/wbem/wsman/1/SubscriptionManager/Subscription"
#define WSMD_FWD_EVENTS_MODE "http://schemas.dmtf.org/wbem/wsman/1/wsman/Events"
#define WSMD_FWD_EARLIEST "http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest"

/* One subscription as a collector handed it out. Every string is
 * malloc'd and NUL-terminated; NULL when absent. */
struct wsmd_fwdsub {
    char *version;    /* m:Version ("uuid:..."): a change means subscribe again */
    char *name;       /* the SubscriptionName option (for logs and state) */
    char *notify_to;  /* NotifyTo's a:Address */
    char *notify_ref; /* its reference properties/parameters, as SOAP headers */
    char *end_to;     /* EndTo's address (SubscriptionEnd), else notify_to */
    char *end_ref;
    char *query;                /* the w:Filter's QueryList, serialized */
    char *bookmark;             /* the w:Bookmark's BookmarkList, serialized */
    int from_earliest;          /* w:Bookmark .../bookmark/earliest, or ReadExistingEvents */
    int rendered;               /* ContentFormat RenderedText (the default) */
    int sldc;                   /* option Compression = SLDC */
    int utf16;                  /* w:ContentEncoding UTF-16 */
    int send_bookmarks;         /* e:SendBookmarks */
    long heartbeat_ms;          /* w:Heartbeats; 0: none asked */
    long max_time_ms;           /* w:MaxTime; 0: none asked */
    unsigned max_elements;      /* w:MaxElements; 0: none asked */
    unsigned long max_envelope; /* Delivery's w:MaxEnvelopeSize; 0: none asked */
    int retry_total;            /* w:ConnectionRetry's Total; -1: none asked */
    long retry_ms;              /* its interval; 0: none asked */
    char *locale;               /* w:Locale xml:lang */
};

/* Parses a collector's Enumerate (or Pull) response: *subs gets *n
 * subscriptions (an m:Subscription that is not usable -- no Version, no
 * NotifyTo, a delivery mode other than Events, no QueryList -- is skipped
 * and counted in *skipped). *end is set when the response carries
 * w:EndOfSequence; ctx (may be NULL) gets the EnumerationContext to Pull
 * with otherwise. WSM_ERR_XML_MALFORMED and the parser's errors for a body
 * that is not a response envelope. */
enum wsm_err wsmd__fwdsub_parse(const char *xml, size_t len, struct wsmd_fwdsub **subs, size_t *n,
                                size_t *skipped, int *end, char **ctx);
void wsmd__fwdsub_free(struct wsmd_fwdsub *v, size_t n);
void wsmd__fwdsub_clear(struct wsmd_fwdsub *s);

/* ---- messages (fwdsend.c) ---- */

/* The Enumerate a source sends to the subscription manager URL. */
enum wsm_err wsmd__fwd_enumerate_msg(struct wsm_buf *b, const char *to, const char *machine_id,
                                     char msgid[64]);
/* A Pull for the rest of an enumeration. */
enum wsm_err wsmd__fwd_pull_msg(struct wsm_buf *b, const char *to, const char *context,
                                char msgid[64]);

enum wsmd_fwd_kind {
    WSMD_FWD_EVENTS,
    WSMD_FWD_HEARTBEAT,
    WSMD_FWD_END,
};

/* Events (events: n <Event> elements one after another, each put in a
 * w:Event CDATA section), a Heartbeat (no events) or a SubscriptionEnd to
 * the subscription's NotifyTo (EndTo for the end), with the bookmark
 * (a BookmarkList, may be NULL) when SendBookmarks; AckRequested. */
enum wsm_err wsmd__fwd_delivery_msg(struct wsm_buf *b, const struct wsmd_fwdsub *s,
                                    enum wsmd_fwd_kind kind, const char *events, size_t elen,
                                    const char *bookmark, char msgid[64]);

/* The body as the subscription wants it on the wire: UTF-16LE with a BOM
 * when utf16 (Windows' encoding), then SLDC when sldc. */
enum wsm_err wsmd__fwd_encode(const struct wsmd_fwdsub *s, const char *xml, size_t len,
                              struct wsm_buf *out);

/* Whether a reply body (already decoded to UTF-8) is the Ack for msgid. */
int wsmd__fwd_is_ack(const char *xml, size_t len, const char *msgid);

/* ---- the running forwarder (forwarder.c) ---- */
struct wsmd_server;
struct wsmd_config;

/* One EventForwarding value: "Server=URL,Refresh=N[,IssuerCA=THUMB]". */
struct wsmd_fwd_target {
    char *url;
    unsigned refresh_s;
    char *issuer_ca;
};
enum wsm_err wsmd__fwd_target_parse(const char *value, struct wsmd_fwd_target *t, char *why,
                                    size_t whylen);
void wsmd__fwd_target_clear(struct wsmd_fwd_target *t);

/* As root, before the split: opens the credential files and the state
 * folder so that the unprivileged network process reads them through
 * descriptors. */
enum wsm_err wsmd__fwd_prepare(struct wsmd_config *cfg, unsigned uid, unsigned gid);
/* In the process that serves: one thread per collector. */
enum wsm_err wsmd__fwd_start(struct wsmd_server *srv);
void wsmd__fwd_stop(struct wsmd_server *srv);

/* ---- the forwarder's credentials lent to push deliveries (fwdlend.c) ---- */

#include "thumbprint.h"

#define WSMD_FWD_LENT_ISSUERS 8
struct wsmd_fwd_lent {
    /* /proc/self/fd paths of this process's copies; "" when not configured */
    char keytab[64], cert[64], key[64], ca[64];
    char principal[300];             /* ForwarderPrincipal, else host/<fqdn> */
    char thumb[WSMD_THUMBPRINT_LEN]; /* the certificate's; "" without one */
    char issuers[WSMD_FWD_LENT_ISSUERS][WSMD_THUMBPRINT_LEN]; /* its issuers' */
    int nissuers;
};
/* In the network process: made at the first call from the descriptors root
 * opened (wsmd__fwd_prepare), then the same for the process's life. Never
 * NULL; every field empty when nothing is configured (cfg may be NULL). */
const struct wsmd_fwd_lent *wsmd__fwd_lent(const struct wsmd_config *cfg);
/* Whether thumb (hex, any case, spaces allowed) is the lent certificate's
 * (issuer 0) or one of its issuers' (issuer 1). */
int wsmd__fwd_lent_matches(const struct wsmd_fwd_lent *l, const char *thumb, int issuer);

#endif
