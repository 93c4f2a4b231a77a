/* The collector's state in PostgreSQL (state_pg.c, sources_pg.c): the second
 * implementation behind state.h, chosen by StateDatabase = postgresql://...
 * state.c calls these when its handle was opened on a database; nothing
 * else includes this. See docs/internals/collector-store.md. */
#ifndef WSMD_STATE_PG_H
#define WSMD_STATE_PG_H

#include <libpq-fe.h>

#include "state.h"

struct wsmd_pgstate;

enum wsm_err wsmd__pg_open(const char *uri, struct wsmd_pgstate **out);
void wsmd__pg_close(struct wsmd_pgstate *pg);
enum wsm_err wsmd__pg_bookmark(struct wsmd_pgstate *pg, const char *sub, const char *principal,
                               char **xml);
int wsmd__pg_ready(struct wsmd_pgstate *pg);
enum wsm_err wsmd__pg_commit(struct wsmd_pgstate *pg, const struct wsmd_state_update *u);
enum wsm_err wsmd__pg_sources(struct wsmd_pgstate *pg, const char *sub,
                              void (*fn)(const struct wsmd_source_row *row, void *arg), void *arg);
enum wsm_err wsmd__pg_subs(struct wsmd_pgstate *pg, long long *generation,
                           void (*fn)(const char *id, const char *xml, void *arg), void *arg);
enum wsm_err wsmd__pg_subs_generation(struct wsmd_pgstate *pg, long long *generation);
enum wsm_err wsmd__pg_sub_put(struct wsmd_pgstate *pg, const char *id, const char *xml, int create);
enum wsm_err wsmd__pg_sub_delete(struct wsmd_pgstate *pg, const char *id);
enum wsm_err wsmd__pg_subs_seeded(struct wsmd_pgstate *pg, int *seeded);
enum wsm_err wsmd__pg_subs_seed(struct wsmd_pgstate *pg, const char *const *ids,
                                const char *const *xmls, size_t n, int *seeded);

/* Between state_pg.c and sources_pg.c, subs_pg.c: a connection of the
 * pool (NULL while the database is away), given back with release; a
 * statement against the deadline, NULL (logged) unless it succeeded. */
struct wsmd_pg_conn;
struct wsmd_pg_conn *wsmd__pg_acquire(struct wsmd_pgstate *pg);
void wsmd__pg_release(struct wsmd_pgstate *pg, struct wsmd_pg_conn *pc);
PGresult *wsmd__pg_query(struct wsmd_pgstate *pg, struct wsmd_pg_conn *pc, const char *sql, int n,
                         const char *const *v);
PGresult *wsmd__pg_query1(struct wsmd_pgstate *pg, const char *sql, int n, const char *const *v);
/* PQconnectdbParams to uri with wsmd's settings first (5 s to connect, 10 s
 * of unacknowledged data, TCP keepalives after keepalive_idle seconds, then
 * every keepalive_interval, 3 of them; UTF8; application_name app; the
 * server options given), the URI last so that what the admin wrote wins.
 * Returns what libpq returns: the caller looks at PQstatus. */
PGconn *wsmd__pg_connectdb(const char *uri, const char *app, const char *keepalive_idle,
                           const char *keepalive_interval, const char *options);
void wsmd__pg_rollback(struct wsmd_pgstate *pg, struct wsmd_pg_conn *pc);
/* pg_advisory_xact_lock key: one node at a time migrates or seeds. */
#define WSMD_PG_LOCK_KEY "7305114551237"

#endif
