/* Which node dials a CollectorInitiated source (dialclaim.c): with a shared
 * StateDatabase every node loads the same subscriptions, and each
 * (subscription, source) is dialed only by the node that holds its claim,
 * a PostgreSQL session-level advisory lock on a connection of the node's
 * own. docs/internals/subscriptions.md, "Several nodes: one dialer per
 * source". */
#ifndef WSMD_COL_DIALCLAIM_H
#define WSMD_COL_DIALCLAIM_H

#include <stddef.h>

#include "wsm/wsm.h"

/* The claimer's rhythm: a round every CLAIM_PERIOD_MS plus up to
 * CLAIM_JITTER_MS (so nodes started together do not race in step), each
 * statement against CLAIM_QUERY_MS. A node claims nothing before a whole
 * period plus jitter has passed since its connection was made: a holder
 * whose session a database restart ended has noticed by then (its own
 * round fails at once on the reset connection) and stopped dialing. */
#define WSMD_CLAIM_PERIOD_MS 2000
#define WSMD_CLAIM_JITTER_MS 1000
#define WSMD_CLAIM_QUERY_MS 5000
/* The server ends a claim session idle this long (idle_session_timeout):
 * a node cut off from the database, or frozen, loses its claims then,
 * after it has given them up itself (it fails a round within a period
 * plus the query deadline). */
#define WSMD_CLAIM_IDLE_MS 15000

/* The advisory lock key of (subscription, address): FNV-1a 64 of both,
 * ASCII case-folded as the collector compares them. Every node and every
 * version must compute the same: never change it. */
long long wsmd__claim_key(const char *sub, const char *address);

/* ---- the claim set on one connection (the unit test drives it) ---------- */

struct wsmd_claims;
struct wsmd_claim_want {
    long long key;
    const char *sub, *address; /* for the log lines */
};

/* conninfo: the StateDatabase URI; node: this node's name in the log lines
 * and the connection's application_name. No connection yet. */
enum wsm_err wsmd__claims_new(const char *conninfo, const char *node, struct wsmd_claims **out);
/* One round: claims given up for keys no longer in want, a try for each
 * wanted key not held (once the grace after connecting is over); held[i]
 * says whether want[i] is held now. -1 when the connection is down (every
 * held[i] 0: whatever was held is lost), else the number held. */
int wsmd__claims_round(struct wsmd_claims *c, const struct wsmd_claim_want *want, size_t n,
                       unsigned char *held);
/* 1 while the grace after connecting runs (nothing claimed yet). */
int wsmd__claims_settling(const struct wsmd_claims *c);
/* Closes the connection (the server frees its locks), then frees. */
void wsmd__claims_free(struct wsmd_claims *c);
/* For the test: the grace after connecting (default a period plus the
 * jitter) and the server's idle_session_timeout (WSMD_CLAIM_IDLE_MS), in
 * ms, before the first round. */
void wsmd__claims_set_timing(struct wsmd_claims *c, long grace_ms, long idle_ms);

/* ---- the claimer thread of the dialers (dialset.c) --------------------- */

struct wsmd_dialers;
struct wsmd_dial_claimer;
/* What the claimer tells the standing-by dialers (wsmd_dialers.claims_down). */
enum { WSMD_CLAIMS_UP, WSMD_CLAIMS_DOWN, WSMD_CLAIMS_SETTLING };
/* Starts the thread that keeps the claims of ds's dialers; conninfo NULL:
 * *out NULL, every dialer dials (one node, SQLite). */
enum wsm_err wsmd__claimer_start(struct wsmd_dialers *ds, const char *conninfo,
                                 struct wsmd_dial_claimer **out);
/* A round now (new dialers after a load). NULL: no-op. */
void wsmd__claimer_wake(struct wsmd_dial_claimer *cl);
/* Stops the thread and drops the connection (every claim with it). */
void wsmd__claimer_stop(struct wsmd_dial_claimer *cl);

#endif
