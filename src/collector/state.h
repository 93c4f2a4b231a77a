/* The collector's durable state: per (subscription, principal) the source's
 * address, its bookmark and counters, in SQLite (StateDir/collector.db).
 * See docs/internals/collector-store.md. */
#ifndef WSMD_STATE_H
#define WSMD_STATE_H

#include "wsm/wsm.h"

struct wsmd_state;
/* Opens (creates, with a schema version table) DIR/collector.db: WAL, synchronous=FULL. Safe
 * from many threads. A database that is corrupt, of a newer schema, or not writable is
 * refused (one log line says which and why). */
enum wsm_err wsmd__state_open(const char *dir, struct wsmd_state **out);
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

/* The schema version this wsmd writes (the table schema_version). */
#define WSMD_STATE_SCHEMA_VERSION 1

#endif
