/* The collector's durable state: per (subscription, principal) the source's
 * address, its bookmark and counters, in SQLite (StateDir/collector.db), or
 * in PostgreSQL shared by several nodes (state_pg.c), where the
 * subscriptions live too. See docs/internals/collector-store.md. */
#ifndef WSMD_STATE_H
#define WSMD_STATE_H

#include "wsm/wsm.h"

struct wsmd_state;
/* Opens (creates, with a schema version table) DIR/collector.db: WAL, synchronous=FULL. Safe
 * from many threads. A database that is corrupt, of a newer schema, or not writable is
 * refused (one log line says which and why). */
enum wsm_err wsmd__state_open(const char *dir, struct wsmd_state **out);
/* database NULL: wsmd__state_open(dir). Else a postgresql:// URI: the
 * state (and the subscriptions) in that database, whose tables wsmd
 * creates and upgrades; refused when it cannot be reached at open. */
enum wsm_err wsmd__state_open_db(const char *dir, const char *database, struct wsmd_state **out);
void wsmd__state_close(struct wsmd_state *st);
/* The stored BookmarkList XML of (subscription, principal), malloc'd, or NULL in *xml. */
enum wsm_err wsmd__state_bookmark(struct wsmd_state *st, const char *sub, const char *principal,
                                  char **xml);
struct wsmd_state_update {
    const char *sub, *principal, *addr;
    const char *bookmark_xml; /* NULL: unchanged */
    unsigned long events;     /* in this batch (0 for a heartbeat) */
    unsigned long duplicates; /* events at or below the stored bookmark's record ids (optional) */
    int heartbeat;            /* 1: a heartbeat */
    int subscription_end;     /* 1: SubscriptionEnd */
    const char *error;        /* NULL, or the last error to remember */
    long long now_ms;         /* wall clock, ms since the epoch */
};
/* One transaction, durable when it returns WSM_OK: first/last heartbeat, last event time,
 * counts, address, bookmark, last error. Updates from threads that commit at the same time
 * share one transaction (group commit); each caller still gets its own result. */
enum wsm_err wsmd__state_commit(struct wsmd_state *st, const struct wsmd_state_update *u);
struct wsmd_source_row {
    const char *sub, *principal, *addr, *bookmark_xml, *last_error;
    long long first_seen_ms, last_heartbeat_ms, last_event_ms; /* 0: never */
    unsigned long long events;
    int ended;
    /* Added by the store slice (after the fields collector.md lists). */
    long long first_heartbeat_ms; /* 0: never */
    unsigned long long duplicates;
};
/* Every source of sub (NULL: all), for `wecutil gr` and /metrics, sorted by subscription then
 * principal. The row's strings are valid during the call only; fn must not call back into
 * the state. */
enum wsm_err wsmd__state_sources(struct wsmd_state *st, const char *sub,
                                 void (*fn)(const struct wsmd_source_row *row, void *arg),
                                 void *arg);

/* 0 when the state cannot take a commit now (a database known to be away,
 * still unreachable): the delivery fails before writing its outputs, so a
 * source retrying during an outage does not add a duplicate per retry.
 * SQLite: always 1. */
int wsmd__state_ready(struct wsmd_state *st);

/* ---- shared subscriptions (PostgreSQL only) ----
 * 1 when the state is a database several nodes share: the subscriptions
 * are then its rows, not the files of the Subscriptions folder. */
int wsmd__state_shared(const struct wsmd_state *st);
/* Every stored subscription (its SubscriptionId, its file format text), in
 * id order, and the generation they belong to. Not shared: WSM_ERR_UNSUPPORTED_FEATURE. */
enum wsm_err wsmd__state_subs(struct wsmd_state *st, long long *generation,
                              void (*fn)(const char *id, const char *xml, void *arg), void *arg);
/* The generation: it moves with every change of a subscription (nodes poll it). */
enum wsm_err wsmd__state_subs_generation(struct wsmd_state *st, long long *generation);
/* Stores a subscription: create 1 refuses an existing id (WSM_ERR_ALREADY_EXISTS),
 * create 0 replaces one (WSM_ERR_NOT_FOUND when absent). Ids compare without ASCII case. */
enum wsm_err wsmd__state_sub_put(struct wsmd_state *st, const char *id, const char *xml,
                                 int create);
enum wsm_err wsmd__state_sub_delete(struct wsmd_state *st, const char *id);
/* The first node on a new database imports the folder's subscriptions
 * (*seeded 1); later starts never do (a deleted one stays deleted). */
/* *seeded 1 when that import happened already (on any node). */
enum wsm_err wsmd__state_subs_seeded(struct wsmd_state *st, int *seeded);
enum wsm_err wsmd__state_subs_seed(struct wsmd_state *st, const char *const *ids,
                                   const char *const *xmls, size_t n, int *seeded);

/* The position of a BookmarkList: the sum of its RecordId attributes (-1:
 * none). A source's bookmarks only ever move forward channel by channel, so
 * of two bookmarks it sent the later has the larger or equal position: the
 * shared state's compare-and-set keeps the larger (collector-store.md). */
long long wsmd__bookmark_position(const char *xml);

/* The schema version this wsmd writes (the table schema_version). */
#define WSMD_STATE_SCHEMA_VERSION 1

#endif
