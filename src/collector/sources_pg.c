/* The rows of wsmd_sources in PostgreSQL (StateDatabase = postgresql://...):
 * the commit of a source's batch, its bookmark, and the list wecutil and
 * /metrics read; docs/internals/collector-store.md, "Several nodes".
 *
 * Apart from state_pg.c (the connections, the queries against their
 * deadline, the schema) as subs_pg.c holds the rows of
 * wsmd_subscriptions: these only run statements on state_pg.c's pool.
 * The upsert is a compare-and-set on the bookmark's position, so that a
 * node committing late never moves a source's bookmark backwards. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "server.h"
#include "state_pg.h"

/* $1 sub, $2 principal, $3 addr, $4 bookmark, $5 now, $6 heartbeat, $7 events,
 * $8 duplicates, $9 subscription_end, $10 error, $11 the bookmark's position.
 * The row lock ON CONFLICT takes makes the CASE a compare-and-set against
 * the latest committed row: a bookmark behind the stored one is not taken,
 * and the times only move forward, whichever node commits last. */
static const char upsert_sql[] =
    "INSERT INTO wsmd_sources AS s (subscription, principal, address, bookmark,"
    " bookmark_position, first_seen_ms, first_heartbeat_ms, last_heartbeat_ms, last_event_ms,"
    " events, duplicates, ended, last_error)"
    " VALUES ($1, $2, $3, $4, CASE WHEN $4::text IS NULL THEN -1 ELSE $11::bigint END,"
    " $5::bigint, CASE WHEN $6::int <> 0 THEN $5::bigint ELSE 0 END,"
    " CASE WHEN $6::int <> 0 THEN $5::bigint ELSE 0 END,"
    " CASE WHEN $7::bigint > 0 THEN $5::bigint ELSE 0 END, $7::bigint, $8::bigint,"
    " CASE WHEN $9::int <> 0 THEN 1 ELSE 0 END, $10)"
    " ON CONFLICT (subscription, principal) DO UPDATE SET"
    " address = coalesce(excluded.address, s.address),"
    " bookmark = CASE WHEN excluded.bookmark IS NOT NULL"
    "   AND excluded.bookmark_position >= s.bookmark_position"
    "   THEN excluded.bookmark ELSE s.bookmark END,"
    " bookmark_position = CASE WHEN excluded.bookmark IS NOT NULL"
    "   AND excluded.bookmark_position >= s.bookmark_position"
    "   THEN excluded.bookmark_position ELSE s.bookmark_position END,"
    " first_seen_ms = least(s.first_seen_ms, excluded.first_seen_ms),"
    " first_heartbeat_ms = CASE WHEN excluded.first_heartbeat_ms <> 0"
    "   AND (s.first_heartbeat_ms = 0 OR excluded.first_heartbeat_ms < s.first_heartbeat_ms)"
    "   THEN excluded.first_heartbeat_ms ELSE s.first_heartbeat_ms END,"
    " last_heartbeat_ms = greatest(s.last_heartbeat_ms, excluded.last_heartbeat_ms),"
    " last_event_ms = greatest(s.last_event_ms, excluded.last_event_ms),"
    " events = s.events + excluded.events,"
    " duplicates = s.duplicates + excluded.duplicates,"
    " ended = CASE WHEN $9::int <> 0 THEN 1 WHEN $6::int <> 0 OR $7::bigint > 0 THEN 0"
    "   ELSE s.ended END,"
    " last_error = coalesce(excluded.last_error, s.last_error)"
    " RETURNING bookmark_position";

static const char sources_sql[] =
    "SELECT subscription, principal, address, bookmark, last_error, first_seen_ms,"
    " first_heartbeat_ms, last_heartbeat_ms, last_event_ms, events, duplicates, ended"
    " FROM wsmd_sources WHERE $1::text IS NULL OR subscription = $1"
    " ORDER BY subscription COLLATE \"C\", principal COLLATE \"C\"";

long long wsmd__bookmark_position(const char *xml)
{
    if (!xml)
        return -1;
    long long sum = -1;
    for (const char *p = xml; (p = strstr(p, "RecordId")) != NULL; p += 8) {
        /* An attribute name: after white space, then = and a quoted number. */
        if (p == xml || !isspace((unsigned char)p[-1]))
            continue;
        const char *q = p + 8;
        while (isspace((unsigned char)*q))
            q++;
        if (*q++ != '=')
            continue;
        while (isspace((unsigned char)*q))
            q++;
        char quote = *q++;
        if (quote != '"' && quote != '\'')
            continue;
        const char *d = q;
        long long v = 0;
        for (; *q >= '0' && *q <= '9'; q++)
            v = v > (INT64_MAX - 9) / 10 ? INT64_MAX : v * 10 + (*q - '0');
        if (q == d || *q != quote)
            continue;
        if (sum < 0)
            sum = 0;
        sum = sum > INT64_MAX - v ? INT64_MAX : sum + v;
    }
    return sum;
}

enum wsm_err wsmd__pg_commit(struct wsmd_pgstate *pg, const struct wsmd_state_update *u)
{
    char now[24], ev[24], dup[24], pos[24];
    long long position = wsmd__bookmark_position(u->bookmark_xml);
    snprintf(now, sizeof(now), "%lld", u->now_ms);
    snprintf(ev, sizeof(ev), "%lu", u->events);
    snprintf(dup, sizeof(dup), "%lu", u->duplicates);
    snprintf(pos, sizeof(pos), "%lld", position);
    const char *const v[11] = {u->sub,
                               u->principal,
                               u->addr,
                               u->bookmark_xml,
                               now,
                               u->heartbeat ? "1" : "0",
                               ev,
                               dup,
                               u->subscription_end ? "1" : "0",
                               u->error,
                               pos};
    PGresult *r = wsmd__pg_query1(pg, upsert_sql, 11, v);
    if (!r)
        return WSM_ERR_IO;
    long long stored = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : position;
    PQclear(r);
    if (u->bookmark_xml && stored > position)
        /* Another node stored a later bookmark first (the source moved, and
         * this node's answer came late): the stored one stays. */
        wsmd__log("event=state_bookmark_kept subscription=\"%s\" position=%lld stored=%lld", u->sub,
                  position, stored);
    return WSM_OK;
}

enum wsm_err wsmd__pg_bookmark(struct wsmd_pgstate *pg, const char *sub, const char *principal,
                               char **xml)
{
    const char *const v[2] = {sub, principal};
    PGresult *r = wsmd__pg_query1(pg,
                                  "SELECT bookmark FROM wsmd_sources WHERE subscription = $1"
                                  " AND principal = $2",
                                  2, v);
    if (!r)
        return WSM_ERR_IO;
    char *copy = NULL;
    enum wsm_err e = WSM_OK;
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) && !(copy = strdup(PQgetvalue(r, 0, 0))))
        e = WSM_ERR_NOMEM;
    PQclear(r);
    *xml = copy;
    return e;
}

static const char *col(const PGresult *r, int row, int i)
{
    return PQgetisnull(r, row, i) ? NULL : PQgetvalue(r, row, i);
}

enum wsm_err wsmd__pg_sources(struct wsmd_pgstate *pg, const char *sub,
                              void (*fn)(const struct wsmd_source_row *row, void *arg), void *arg)
{
    const char *const v[1] = {sub};
    PGresult *r = wsmd__pg_query1(pg, sources_sql, 1, v);
    if (!r)
        return WSM_ERR_IO;
    for (int i = 0; i < PQntuples(r); i++) {
        struct wsmd_source_row row = {
            .sub = col(r, i, 0),
            .principal = col(r, i, 1),
            .addr = col(r, i, 2),
            .bookmark_xml = col(r, i, 3),
            .last_error = col(r, i, 4),
            .first_seen_ms = strtoll(PQgetvalue(r, i, 5), NULL, 10),
            .first_heartbeat_ms = strtoll(PQgetvalue(r, i, 6), NULL, 10),
            .last_heartbeat_ms = strtoll(PQgetvalue(r, i, 7), NULL, 10),
            .last_event_ms = strtoll(PQgetvalue(r, i, 8), NULL, 10),
            .events = strtoull(PQgetvalue(r, i, 9), NULL, 10),
            .duplicates = strtoull(PQgetvalue(r, i, 10), NULL, 10),
            .ended = atoi(PQgetvalue(r, i, 11)),
        };
        fn(&row, arg);
    }
    PQclear(r);
    return WSM_OK;
}
