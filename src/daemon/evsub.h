/* The event source: WS-Eventing subscriptions to the event log resource
 * (docs/internals/eventlog.md). Three files share this header:
 *   evstore.c  the subscription table (owners, quotas, expiry) and its
 *              durable copy (StateDir/eventsource.db; the SQLite side
 *              and StateDir in evstoredb.c, evstore_priv.h);
 *   evsub.c    Subscribe, Renew, GetStatus, Unsubscribe;
 *   evpull.c   Pull and Release on a Pull-mode subscription's context,
 *              and (evpullwait.c) the waiter thread that parks a Pull
 *              without a thread.
 * The journal itself is reached only through src/evsrc/evsrc.h. */
#ifndef WSMD_EVSUB_H
#define WSMD_EVSUB_H

#include <stddef.h>
#include <sys/types.h>

#include "evsrc.h"
#include "server.h"
#include "userfile.h"
#include "uuid.h"

#define WSMD_EVENTLOG_URI "http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog"
#define WSMD_EV_PULL_MODE "http://schemas.dmtf.org/wbem/wsman/1/wsman/Pull"
/* MaxSubscriptionsPerUser's default, and the service-wide cap. */
#define WSMD_EV_MAX_PER_USER 100
#define WSMD_EV_MAX_TOTAL 10000
/* The longest Filter text kept (a QueryList of 256 channels is ~20 KB). */
#define WSMD_EV_MAX_QUERY (64 * 1024)
/* The longest bookmark kept (a BookmarkList of 256 channels). */
#define WSMD_EV_MAX_BOOKMARK (32 * 1024)

/* One subscription. Owned by the table; a caller works on it only between
 * wsmd__evs_take and wsmd__evs_give (busy), or holds its ids: a parked
 * Pull holds only the context id, never the subscription. */
struct wsmd_evs {
    char id[WSM_UUID_STRLEN];  /* wse:Identifier */
    char ctx[WSM_UUID_STRLEN]; /* the EnumerationContext of its Pulls */
    char owner[WSMD_MAX_USER];
    char *query; /* the Filter as given: compiled again after a restart */
    struct wsmd_evq *q;
    unsigned qflags;    /* wsmd__evq_compile_ex's (IgnoreChannelError) */
    int rendered;       /* ContentFormat RenderedText */
    int send_bookmarks; /* w:SendBookmarks: each PullResponse carries w:Bookmark */
    int from_oldest;    /* ReadExistingEvents / bookmark "earliest", no bookmark yet */
    long long expires;  /* CLOCK_REALTIME ms; 0: never */
    long heartbeat_ms;  /* w:Heartbeats (a hint in Pull mode); 0: none */
    char *bookmark;     /* the last one delivered (settled), or NULL */
    char *push;         /* a push mode's delivery (evpush.c's stored form); NULL: Pull */
    /* In memory only. A reader is open only while a Pull runs or waits
     * (it holds a descriptor): between Pulls its position is kept as a
     * bookmark, so an idle subscription costs memory only. */
    struct wsmd_evreader *r; /* NULL: opened at the next Pull */
    char *cursor;            /* where the closed reader was (after pending) */
    char *pending;           /* an event rendered that did not fit the last reply */
    size_t pending_len;
    char *pending_bm;     /* the bookmark after it */
    unsigned long serial; /* of the last reply handed over, for its settle */
    char *unsettled_bm;   /* that reply's bookmark, until settled */
    /* While that reply drains (server.h: settle_probe): whether it reached
     * the client, asked by the next Pull. Valid until its settle. */
    int (*probe)(void *);
    void *probe_arg;
    int busy;
    struct wsmd_evs *next;
};

/* ---- evstore.c ---------------------------------------------------------- */

/* Before the privilege split (root): StateDir made and handed to uid
 * (evstoredb.c). */
enum wsm_err wsmd__evs_prepare_dir(struct wsmd_config *cfg, uid_t uid, gid_t gid);
/* Opens the table: the subscriptions of StateDir/eventsource.db, if the
 * file exists, are loaded (their queries compiled again). Never fatal:
 * a store that cannot be opened is logged and Subscribe then faults. */
void wsmd__evs_start(struct wsmd_server *srv);
void wsmd__evs_stop(void);

/* Adds s (the table owns it from now on, or frees it on failure):
 * WSM_ERR_QUOTA past MaxSubscriptionsPerUser or the service's cap,
 * WSM_ERR_IO when it could not be written durably. */
enum wsm_err wsmd__evs_add(struct wsmd_evs *s, unsigned per_user);
/* The caller's subscription by identifier (by_ctx 0) or enumeration
 * context (1), marked busy; NULL if unknown, expired, another user's, or
 * busy (*busy set then). */
struct wsmd_evs *wsmd__evs_take(const char *key, int by_ctx, const char *owner, int *busy);
void wsmd__evs_give(struct wsmd_evs *s);
/* Ends a taken subscription: removed from the table and the store, freed. */
void wsmd__evs_remove(struct wsmd_evs *s);
/* Durable updates of a taken subscription (or by id: a settle that comes
 * when the subscription is no longer taken). */
enum wsm_err wsmd__evs_set_expires(struct wsmd_evs *s, long long expires);
void wsmd__evs_commit_bookmark(const char *id, unsigned long serial, int delivered);
/* Delivered, as above, its row written by the bookmark writer (evbmwrite.c)
 * rather than before this returns: the durable bookmark may lag, never
 * lead. */
void wsmd__evs_commit_bookmark_lazy(const char *id, unsigned long serial);
/* The row's bookmark, written now (only if serial is not older). */
void wsmd__evs_store_bookmark(const char *id, const char *bm, unsigned long serial);
/* evbmwrite.c: queue bm (taken) for the writer thread (started on the
 * first); write what is queued and end the thread (stop). */
void wsmd__evbm_put(const char *id, char *bm, unsigned long serial);
void wsmd__evbm_stop(void);
/* A taken subscription whose last reply is not settled yet: the client
 * pulls again, so it has it (its bookmark committed) -- unless the reply's
 * drain says it did not reach it (a client that gave up and pulls anew),
 * then it is sent again. */
void wsmd__evs_promote(struct wsmd_evs *s);
void wsmd__evs_set_probe(const char *id, unsigned long serial, int (*probe)(void *), void *arg);
/* A taken subscription's reply is handed over with bookmark bm (taken):
 * its serial, for the settle. Under the lock a settle reads them with. */
unsigned long wsmd__evs_hand_over(struct wsmd_evs *s, char *bm);
void wsmd__evs_free(struct wsmd_evs *s);
/* Closes a taken subscription's reader, keeping its position. */
void wsmd__evs_close_reader(struct wsmd_evs *s);
long long wsmd__evs_now(void); /* CLOCK_REALTIME ms */
/* Removes the expired subscriptions (the waiter thread, every few
 * seconds: one nobody looks at goes too). */
void wsmd__evs_sweep(void);
/* The number of subscriptions (tests, logs). */
size_t wsmd__evs_count(void);

/* ---- evpull.c ----------------------------------------------------------- */

/* Cancels the waits of Pulls parked on subscription ctx (it ended): they
 * resume and answer that the context is gone. */
void wsmd__evpull_end(const char *ctx);
/* Starts the waiter thread if it is not running (it also sweeps). */
void wsmd__evpull_start(void);
void wsmd__evpull_stop(void);

/* ---- handlers (dispatch.c's eventlog row) ------------------------------- */

enum wsm_err wsmd__evsub_subscribe(struct wsmd_call *call);
enum wsm_err wsmd__evsub_renew(struct wsmd_call *call);
enum wsm_err wsmd__evsub_getstatus(struct wsmd_call *call);
enum wsm_err wsmd__evsub_unsubscribe(struct wsmd_call *call);
enum wsm_err wsmd__evsub_pull(struct wsmd_call *call);
enum wsm_err wsmd__evsub_release(struct wsmd_call *call);

/* Parsing that the unit tests and the fuzzer reach. */
/* Expires: an xs:duration or xs:dateTime; *abs = CLOCK_REALTIME ms.
 * WSM_ERR_INVALID_EXPIRATION for a malformed, zero or past time. */
enum wsm_err wsmd__evsub_expires(const char *text, long long now, long long *abs);
/* An xs:dateTime (Z, +hh:mm or no zone: UTC) in ms since the epoch. */
enum wsm_err wsmd__evsub_datetime(const char *text, long long *ms);
/* An expiry written as the xs:duration left from now (at least PT0S). */
void wsmd__evsub_write_expires(struct wsm_buf *o, long long expires, long long now);

#endif
