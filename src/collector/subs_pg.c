/* The shared subscriptions in PostgreSQL (docs/internals/collector-store.md,
 * "Several nodes"): the rows of wsmd_subscriptions and the generation every
 * node polls, on state_pg.c's connections. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "state_pg.h"

/* SubscriptionIds compare without ASCII case (as Windows names do): the
 * key is the id lowered here, not by the database's collation. */
static void id_key(const char *id, char *out, size_t n)
{
    snprintf(out, n, "%s", id);
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
}

static enum wsm_err generation_of(PGresult *r, long long *generation)
{
    if (!r || PQntuples(r) != 1) {
        PQclear(r);
        return WSM_ERR_IO;
    }
    *generation = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return WSM_OK;
}

enum wsm_err wsmd__pg_subs_generation(struct wsmd_pgstate *pg, long long *generation)
{
    return generation_of(
        wsmd__pg_query1(pg, "SELECT value FROM wsmd_meta WHERE key = 'subs_generation'", 0, NULL),
        generation);
}

enum wsm_err wsmd__pg_subs(struct wsmd_pgstate *pg, long long *generation,
                           void (*fn)(const char *id, const char *xml, void *arg), void *arg)
{
    /* The generation first: a change between the two reads gives a newer
     * generation than the one reported, so the next poll reads again. */
    enum wsm_err e = wsmd__pg_subs_generation(pg, generation);
    if (e)
        return e;
    PGresult *r = wsmd__pg_query1(
        pg, "SELECT id, xml FROM wsmd_subscriptions ORDER BY id_key COLLATE \"C\"", 0, NULL);
    if (!r)
        return WSM_ERR_IO;
    for (int i = 0; i < PQntuples(r); i++)
        fn(PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), arg);
    PQclear(r);
    return WSM_OK;
}

/* The change and the generation's step in one statement (one transaction):
 * a node that sees the new generation sees the change. */
enum wsm_err wsmd__pg_sub_put(struct wsmd_pgstate *pg, const char *id, const char *xml, int create)
{
    char key[512], now[24];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(now, sizeof(now), "%lld", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    id_key(id, key, sizeof(key));
    const char *const v[4] = {key, id, xml, now};
    PGresult *r =
        wsmd__pg_query1(pg,
                        create ? "WITH c AS (INSERT INTO wsmd_subscriptions VALUES ($1, $2, $3,"
                                 " $4::bigint) ON CONFLICT (id_key) DO NOTHING RETURNING 1)"
                                 " UPDATE wsmd_meta SET value = value + 1"
                                 " WHERE key = 'subs_generation' AND EXISTS (SELECT 1 FROM c)"
                               : "WITH c AS (UPDATE wsmd_subscriptions SET id = $2, xml = $3,"
                                 " updated_ms = $4::bigint WHERE id_key = $1 RETURNING 1)"
                                 " UPDATE wsmd_meta SET value = value + 1"
                                 " WHERE key = 'subs_generation' AND EXISTS (SELECT 1 FROM c)",
                        4, v);
    if (!r)
        return WSM_ERR_IO;
    int changed = !strcmp(PQcmdTuples(r), "1");
    PQclear(r);
    return changed ? WSM_OK : create ? WSM_ERR_ALREADY_EXISTS : WSM_ERR_NOT_FOUND;
}

enum wsm_err wsmd__pg_sub_delete(struct wsmd_pgstate *pg, const char *id)
{
    char key[512];
    id_key(id, key, sizeof(key));
    const char *const v[1] = {key};
    PGresult *r =
        wsmd__pg_query1(pg,
                        "WITH c AS (DELETE FROM wsmd_subscriptions WHERE id_key = $1 RETURNING 1)"
                        " UPDATE wsmd_meta SET value = value + 1"
                        " WHERE key = 'subs_generation' AND EXISTS (SELECT 1 FROM c)",
                        1, v);
    if (!r)
        return WSM_ERR_IO;
    int changed = !strcmp(PQcmdTuples(r), "1");
    PQclear(r);
    return changed ? WSM_OK : WSM_ERR_NOT_FOUND;
}

enum wsm_err wsmd__pg_subs_seeded(struct wsmd_pgstate *pg, int *seeded)
{
    PGresult *r = wsmd__pg_query1(pg, "SELECT 1 FROM wsmd_meta WHERE key = 'subs_seeded'", 0, NULL);
    if (!r)
        return WSM_ERR_IO;
    *seeded = PQntuples(r) > 0;
    PQclear(r);
    return WSM_OK;
}

enum wsm_err wsmd__pg_subs_seed(struct wsmd_pgstate *pg, const char *const *ids,
                                const char *const *xmls, size_t n, int *seeded)
{
    *seeded = 0;
    struct wsmd_pg_conn *pc = wsmd__pg_acquire(pg);
    if (!pc)
        return WSM_ERR_IO;
    enum wsm_err e = WSM_ERR_IO;
    PGresult *r =
        wsmd__pg_query(pg, pc,
                       "BEGIN; SELECT pg_advisory_xact_lock(" WSMD_PG_LOCK_KEY ");"
                       " INSERT INTO wsmd_meta VALUES ('subs_seeded', 1) ON CONFLICT DO NOTHING",
                       0, NULL);
    if (!r)
        goto out;
    int first = !strcmp(PQcmdTuples(r), "1");
    PQclear(r);
    char now[24];
    snprintf(now, sizeof(now), "%lld", (long long)time(NULL) * 1000);
    for (size_t i = 0; first && i < n; i++) {
        char key[512];
        id_key(ids[i], key, sizeof(key));
        const char *const v[4] = {key, ids[i], xmls[i], now};
        if (!(r = wsmd__pg_query(pg, pc,
                                 "INSERT INTO wsmd_subscriptions VALUES ($1, $2, $3, $4::bigint)"
                                 " ON CONFLICT (id_key) DO NOTHING",
                                 4, v)))
            goto out;
        PQclear(r);
    }
    if (!(r = wsmd__pg_query(
              pg, pc,
              first ? "UPDATE wsmd_meta SET value = value + 1 WHERE key = 'subs_generation';"
                      " COMMIT"
                    : "COMMIT",
              0, NULL)))
        goto out;
    PQclear(r);
    *seeded = first;
    e = WSM_OK;
out:
    if (e)
        wsmd__pg_rollback(pg, pc);
    wsmd__pg_release(pg, pc);
    return e;
}
