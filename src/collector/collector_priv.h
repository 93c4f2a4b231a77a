/* What the collector's files share (collector.c, ingest.c, subman.c,
 * delivery.c, metrics.c). */
#ifndef WSMD_COLLECTOR_PRIV_H
#define WSMD_COLLECTOR_PRIV_H

#include <pthread.h>
#include <stdatomic.h>

#include "collector.h"
#include "output.h"
#include "state.h"
#include "subscription.h"

/* One loaded set of subscriptions. A request holds a reference for as long
 * as it works with it, so a reload never frees what a request reads. */
struct col_subs {
    atomic_uint refs;
    struct wsmd_sub **v;
    size_t n;
};

#define WSMD_COL_MAX_CN 256

/* Request latency buckets (seconds) of /metrics. */
#define COL_LAT_BUCKETS 8
extern const double wsmd__col_lat_le[COL_LAT_BUCKETS];

struct col_metrics {
    atomic_ullong events, bytes, batches, acks, heartbeats, ends, enumerations;
    atomic_ullong decode_failures, output_failures, state_failures, refused, malformed_events;
    atomic_ullong escaped_chars, mismatches;
    atomic_ullong lat_count, lat_sum_us, lat_bucket[COL_LAT_BUCKETS];
};

struct wsmd_collector {
    struct wsmd_server *srv;
    pthread_mutex_t lock; /* guards cur */
    struct col_subs *cur;
    struct wsmd_state *state;
    struct wsmd_outputs *outputs;
    char *issuer_thumbprints;         /* SHA-1 of the ClientCAFile certificates, or NULL */
    struct wsmd_control *control;     /* wecutil's socket (control.c) */
    struct wsmd_col_writers *writers; /* deliveries' durable part (writer.c) */
    struct wsmd_dialers *dialers;     /* CollectorInitiated: the sources dialed (dialer.c) */
    pthread_mutex_t reload_lock;      /* one load + dialer sync at a time (SIGHUP, wecutil) */
    struct wsmd_col_sync *sync;       /* shared subscriptions' poller (subsync.c), or NULL */
    atomic_llong subs_gen;            /* the database generation cur was read at */
    struct col_metrics m;
};

struct col_subs *wsmd__col_subs_get(struct wsmd_collector *col);
void wsmd__col_subs_put(struct col_subs *s);
/* The subscription whose SubscriptionId is id (ASCII case-insensitive, as
 * Windows names are), or NULL. */
const struct wsmd_sub *wsmd__col_sub_find(const struct col_subs *s, const char *id, size_t idlen);
/* Reads the subscriptions again (the folder, or the shared database) and
 * serves them; msg says how many. */
enum wsm_err wsmd__col_load(struct wsmd_collector *col, char *msg, size_t msglen);

/* subsync.c: subscriptions in the shared database (StateDatabase). */
enum wsm_err wsmd__col_subs_from_db(struct wsmd_collector *col, struct wsmd_sub ***v, size_t *n,
                                    long long *generation);
/* subsecret.c: the passwords of CollectorInitiated rows, from this node's
 * own files of the same SubscriptionId. */
void wsmd__col_subs_secrets(struct wsmd_collector *col, struct wsmd_sub **v, size_t n);
/* A new database gets the folder's subscriptions, once. */
enum wsm_err wsmd__col_subs_seed(struct wsmd_collector *col, const char *dir);
/* The poller that loads what other nodes changed (nothing when not shared). */
struct wsmd_col_sync;
enum wsm_err wsmd__col_sync_start(struct wsmd_collector *col, struct wsmd_col_sync **out);
void wsmd__col_sync_stop(struct wsmd_col_sync *sy);
/* wecutil's verbs for the shared subscriptions (backend, create,
 * setenabled, delete): 1 when verb was one of them (the reply is in out). */
int wsmd__col_db_verb(struct wsmd_collector *col, const char *verb, const char *arg,
                      const char *body, size_t blen, struct wsm_buf *out);

/* The request took us_ elapsed: counted in the latency histogram. */
void wsmd__col_observe(struct wsmd_collector *col, long long us);

#endif
