/* The collector's state in PostgreSQL (StateDatabase = postgresql://...),
 * shared by every collector node behind a load balancer
 * (docs/internals/collector-store.md, "Several nodes").
 *
 * A small pool of libpq connections, each used by one thread at a time.
 * Every query runs asynchronously against a deadline, so no thread waits
 * forever on a database that went away or hangs: a connection that fails
 * or times out is dropped, and the next caller connects again, no sooner
 * than a backoff (250 ms doubling to 5 s) after the last failure. Until
 * then the calls fail at once: the delivery answers a fault instead of the
 * Ack, and the source sends the batch again.
 *
 * This file holds the pool, the queries and the schema; the rows are
 * written on its connections by sources_pg.c (wsmd_sources) and
 * subs_pg.c (wsmd_subscriptions). */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "server.h"
#include "state_pg.h"

#define NCONN 4
#define QUERY_MS 15000 /* the client's deadline; the server's statement_timeout is 10 s */
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000

struct wsmd_pg_conn {
    PGconn *c;
    int busy;
};

struct wsmd_pgstate {
    char *uri;
    char where[256]; /* the URI without its password or options, for logs */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct wsmd_pg_conn conns[NCONN];
    long long retry_at; /* CLOCK_MONOTONIC ms: no new connection before */
    int backoff_ms;
    int down; /* the last attempt failed (logged once until it works again) */
};

/* Each step takes the schema from version i to i + 1; a new version is a
 * new entry at the end, never an edit of an old one. */
static const char *const migrations[WSMD_STATE_SCHEMA_VERSION] = {
    /* 0 -> 1 */
    "CREATE TABLE wsmd_sources ("
    " subscription text NOT NULL,"
    " principal text NOT NULL,"
    " address text,"
    " bookmark text,"
    " bookmark_position bigint NOT NULL DEFAULT -1,"
    " first_seen_ms bigint NOT NULL,"
    " first_heartbeat_ms bigint NOT NULL DEFAULT 0,"
    " last_heartbeat_ms bigint NOT NULL DEFAULT 0,"
    " last_event_ms bigint NOT NULL DEFAULT 0,"
    " events bigint NOT NULL DEFAULT 0,"
    " duplicates bigint NOT NULL DEFAULT 0,"
    " ended integer NOT NULL DEFAULT 0,"
    " last_error text,"
    " PRIMARY KEY (subscription, principal));"
    "CREATE TABLE wsmd_subscriptions ("
    " id_key text PRIMARY KEY,"
    " id text NOT NULL,"
    " xml text NOT NULL,"
    " updated_ms bigint NOT NULL);"
    "CREATE TABLE wsmd_meta (key text PRIMARY KEY, value bigint NOT NULL);"
    "INSERT INTO wsmd_meta VALUES ('subs_generation', 0)",
};
static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
/* scheme://user@host:port/db of the URI: no password, no options. */
static void redact(const char *uri, char *out, size_t n)
{
    const char *rest = strstr(uri, "://");
    rest = rest ? rest + 3 : uri;
    size_t scheme = (size_t)(rest - uri);
    size_t auth = strcspn(rest, "/?");
    const char *at = memchr(rest, '@', auth);
    size_t ulen = at ? strcspn(rest, ":@") : 0;
    const char *host = at ? at + 1 : rest;
    size_t hlen = strcspn(host, "?");
    snprintf(out, n, "%.*s%.*s%s%.*s", (int)scheme, uri, (int)ulen, rest, at ? "@" : "", (int)hlen,
             host);
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '"' || *p == '\\')
            *p = '_';
}

PGconn *wsmd__pg_connectdb(const char *uri, const char *app, const char *keepalive_idle,
                           const char *keepalive_interval, const char *options)
{
    /* Ours first, the URI (dbname, expanded) last: what the admin wrote in
     * the URI wins over these defaults. */
    const char *const keys[] = {"connect_timeout",
                                "tcp_user_timeout",
                                "keepalives",
                                "keepalives_idle",
                                "keepalives_interval",
                                "keepalives_count",
                                "application_name",
                                "client_encoding",
                                "options",
                                "dbname",
                                NULL};
    const char *const vals[] = {"5", "10000", "1",    keepalive_idle, keepalive_interval,
                                "3", app,     "UTF8", options,        uri,
                                NULL};
    return PQconnectdbParams(keys, vals, 1);
}

static PGconn *connect_db(struct wsmd_pgstate *pg, char *err, size_t errlen)
{
    PGconn *c = wsmd__pg_connectdb(pg->uri, "wsmd", "10", "5",
                                   "-c statement_timeout=10000 -c lock_timeout=10000");
    if (!c || PQstatus(c) != CONNECTION_OK || PQsetnonblocking(c, 1) != 0) {
        snprintf(err, errlen, "%s", c ? PQerrorMessage(c) : "out of memory");
        PQfinish(c);
        return NULL;
    }
    return c;
}

static void one_line(char *s)
{
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '"')
            *p = ' ';
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ')
        s[--n] = '\0';
}

/* The connection broke or timed out: it is dropped. A connection that
 * could not be made delays the next attempt (backoff); one that broke in
 * use does not (after a server restart every pooled connection breaks once,
 * and a new one works at once). Logged when the database is first lost. */
static void lost_conn(struct wsmd_pgstate *pg, struct wsmd_pg_conn *pc, const char *why,
                      int connecting)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", why ? why : "");
    one_line(msg);
    PQfinish(pc->c);
    pc->c = NULL;
    pthread_mutex_lock(&pg->mu);
    if (connecting) {
        pg->backoff_ms = pg->backoff_ms ? pg->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (pg->backoff_ms > BACKOFF_MAX_MS)
            pg->backoff_ms = BACKOFF_MAX_MS;
        pg->retry_at = mono_ms() + pg->backoff_ms;
    }
    int first = !pg->down;
    pg->down = 1;
    pthread_mutex_unlock(&pg->mu);
    if (first)
        wsmd__log("event=state_db_lost database=\"%s\" error=\"%s\"", pg->where, msg);
}

/* The database answered: the outage, if any, is over. */
static void recovered(struct wsmd_pgstate *pg)
{
    pthread_mutex_lock(&pg->mu);
    int was_down = pg->down;
    pg->down = 0;
    pg->backoff_ms = 0;
    pthread_mutex_unlock(&pg->mu);
    if (was_down)
        wsmd__log("event=state_db_recovered database=\"%s\"", pg->where);
}

static void lost(struct wsmd_pgstate *pg, struct wsmd_pg_conn *pc, const char *why)
{
    lost_conn(pg, pc, why, 0);
}

void wsmd__pg_release(struct wsmd_pgstate *pg, struct wsmd_pg_conn *pc)
{
    pthread_mutex_lock(&pg->mu);
    pc->busy = 0;
    pthread_cond_signal(&pg->cv);
    pthread_mutex_unlock(&pg->mu);
}

/* A connection of the pool, connected; NULL while the database is away. */
struct wsmd_pg_conn *wsmd__pg_acquire(struct wsmd_pgstate *pg)
{
    struct wsmd_pg_conn *pc = NULL;
    pthread_mutex_lock(&pg->mu);
    for (;;) {
        for (int i = 0; i < NCONN; i++)
            if (!pg->conns[i].busy && (!pc || (pg->conns[i].c && !pc->c)))
                pc = &pg->conns[i];
        if (pc)
            break;
        pthread_cond_wait(&pg->cv, &pg->mu); /* every holder is bounded by QUERY_MS */
    }
    pc->busy = 1;
    int wait = pg->down && mono_ms() < pg->retry_at;
    pthread_mutex_unlock(&pg->mu);
    if (pc->c && PQstatus(pc->c) == CONNECTION_OK)
        return pc;
    PQfinish(pc->c);
    pc->c = NULL;
    if (wait) {
        wsmd__pg_release(pg, pc);
        return NULL;
    }
    char err[256];
    if (!(pc->c = connect_db(pg, err, sizeof(err)))) {
        lost_conn(pg, pc, err, 1);
        wsmd__pg_release(pg, pc);
        return NULL;
    }
    recovered(pg);
    return pc;
}

int wsmd__pg_ready(struct wsmd_pgstate *pg)
{
    pthread_mutex_lock(&pg->mu);
    int down = pg->down;
    pthread_mutex_unlock(&pg->mu);
    if (!down)
        return 1;
    /* Away when last seen: a connection now (or not, during the backoff)
     * says whether it is back. */
    struct wsmd_pg_conn *pc = wsmd__pg_acquire(pg);
    if (!pc)
        return 0;
    wsmd__pg_release(pg, pc);
    return 1;
}

static int wait_sock(PGconn *c, short ev, long long deadline)
{
    long long left = deadline - mono_ms();
    if (left <= 0)
        return 0;
    struct pollfd p = {PQsocket(c), ev, 0};
    int r = poll(&p, 1, (int)left);
    return r < 0 ? 1 : r; /* EINTR: look again */
}

/* One statement (or, without parameters, a script) against the deadline.
 * The first failed result, else the last; NULL when the connection was
 * lost (it is then dropped). */
static PGresult *run(struct wsmd_pgstate *pg, struct wsmd_pg_conn *pc, const char *sql, int n,
                     const char *const *v)
{
    PGconn *c = pc->c;
    long long deadline = mono_ms() + QUERY_MS;
    int sent = n ? PQsendQueryParams(c, sql, n, NULL, v, NULL, NULL, 0) : PQsendQuery(c, sql);
    if (!sent) {
        lost(pg, pc, PQerrorMessage(c));
        return NULL;
    }
    int f;
    while ((f = PQflush(c)) == 1)
        if (!wait_sock(c, POLLOUT | POLLIN, deadline) || !PQconsumeInput(c)) {
            lost(pg, pc, "timed out sending a query");
            return NULL;
        }
    PGresult *keep = NULL;
    for (;;) {
        while (f == 0 && PQisBusy(c)) {
            if (!wait_sock(c, POLLIN, deadline)) {
                PQclear(keep);
                lost(pg, pc, "no answer within the deadline");
                return NULL;
            }
            if (!PQconsumeInput(c)) {
                /* Not PQgetResult: with the answer unread it would wait. */
                PQclear(keep);
                lost(pg, pc, PQerrorMessage(c));
                return NULL;
            }
        }
        PGresult *r = PQgetResult(c);
        if (!r)
            break;
        int keep_ok = keep && (PQresultStatus(keep) == PGRES_COMMAND_OK ||
                               PQresultStatus(keep) == PGRES_TUPLES_OK);
        if (!keep || keep_ok) {
            PQclear(keep);
            keep = r;
        } else {
            PQclear(r);
        }
        if (PQstatus(c) == CONNECTION_BAD)
            break;
    }
    if (f < 0 || PQstatus(c) == CONNECTION_BAD) {
        PQclear(keep);
        lost(pg, pc, PQerrorMessage(c));
        return NULL;
    }
    return keep;
}

/* run and check: NULL (logged) unless the statement succeeded. */
PGresult *wsmd__pg_query(struct wsmd_pgstate *pg, struct wsmd_pg_conn *pc, const char *sql, int n,
                         const char *const *v)
{
    PGresult *r = run(pg, pc, sql, n, v);
    if (!r)
        return NULL;
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
        one_line(msg);
        wsmd__log("event=state_query_failed database=\"%s\" error=\"%s\"", pg->where, msg);
        PQclear(r);
        return NULL;
    }
    recovered(pg); /* a pooled connection that outlived the outage */
    return r;
}

/* One statement on a connection of the pool. */
PGresult *wsmd__pg_query1(struct wsmd_pgstate *pg, const char *sql, int n, const char *const *v)
{
    struct wsmd_pg_conn *pc = wsmd__pg_acquire(pg);
    if (!pc)
        return NULL;
    PGresult *r = wsmd__pg_query(pg, pc, sql, n, v);
    wsmd__pg_release(pg, pc);
    return r;
}

void wsmd__pg_rollback(struct wsmd_pgstate *pg, struct wsmd_pg_conn *pc)
{
    if (pc->c)
        PQclear(run(pg, pc, "ROLLBACK", 0, NULL));
}

/* Creates or upgrades the schema in one transaction, under an advisory
 * lock: two nodes starting together do not both migrate, and a failure
 * leaves the old version whole. */
static enum wsm_err migrate(struct wsmd_pgstate *pg, struct wsmd_pg_conn *pc, char *why,
                            size_t wlen)
{
    PGresult *r = wsmd__pg_query(pg, pc,
                                 "BEGIN; SELECT pg_advisory_xact_lock(" WSMD_PG_LOCK_KEY ");"
                                 " SELECT to_regclass('wsmd_schema_version') IS NOT NULL",
                                 0, NULL);
    if (!r) {
        snprintf(why, wlen, "cannot begin the schema transaction");
        wsmd__pg_rollback(pg, pc);
        return WSM_ERR_IO;
    }
    int exists = PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    long v = 0;
    if (exists) {
        r = wsmd__pg_query(pg, pc, "SELECT coalesce(max(version), 0) FROM wsmd_schema_version", 0,
                           NULL);
        if (!r || PQntuples(r) != 1) {
            PQclear(r);
            snprintf(why, wlen, "cannot read the schema version");
            wsmd__pg_rollback(pg, pc);
            return WSM_ERR_IO;
        }
        v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
    }
    if (v < 0 || v > WSMD_STATE_SCHEMA_VERSION) {
        snprintf(why, wlen, "written by a newer wsmd: schema version %ld, this wsmd knows up to %d",
                 v, WSMD_STATE_SCHEMA_VERSION);
        wsmd__pg_rollback(pg, pc);
        return WSM_ERR_IO;
    }
    if (!exists &&
        !(r = wsmd__pg_query(pg, pc, "CREATE TABLE wsmd_schema_version (version integer NOT NULL)",
                             0, NULL))) {
        snprintf(why, wlen, "cannot create the version table");
        wsmd__pg_rollback(pg, pc);
        return WSM_ERR_IO;
    }
    if (!exists)
        PQclear(r);
    for (long i = v; i < WSMD_STATE_SCHEMA_VERSION; i++) {
        if (!(r = wsmd__pg_query(pg, pc, migrations[i], 0, NULL))) {
            snprintf(why, wlen, "schema step %ld to %ld failed", i, i + 1);
            wsmd__pg_rollback(pg, pc);
            return WSM_ERR_IO;
        }
        PQclear(r);
    }
    char sql[128];
    snprintf(sql, sizeof(sql),
             "DELETE FROM wsmd_schema_version; INSERT INTO wsmd_schema_version VALUES (%d); COMMIT",
             WSMD_STATE_SCHEMA_VERSION);
    if (!(r = wsmd__pg_query(pg, pc, sql, 0, NULL))) {
        snprintf(why, wlen, "cannot commit the schema");
        wsmd__pg_rollback(pg, pc);
        return WSM_ERR_IO;
    }
    PQclear(r);
    if (v != WSMD_STATE_SCHEMA_VERSION)
        wsmd__log("event=state_upgraded database=\"%s\" from=%ld to=%d", pg->where, v,
                  WSMD_STATE_SCHEMA_VERSION);
    return WSM_OK;
}

enum wsm_err wsmd__pg_open(const char *uri, struct wsmd_pgstate **out)
{
    struct wsmd_pgstate *pg = calloc(1, sizeof(*pg));
    if (!pg || !(pg->uri = strdup(uri))) {
        free(pg);
        return WSM_ERR_NOMEM;
    }
    pthread_mutex_init(&pg->mu, NULL);
    pthread_cond_init(&pg->cv, NULL);
    redact(uri, pg->where, sizeof(pg->where));
    char why[512] = "";
    struct wsmd_pg_conn *pc = &pg->conns[0];
    pc->busy = 1;
    enum wsm_err e = WSM_ERR_IO;
    if (!(pc->c = connect_db(pg, why, sizeof(why))))
        one_line(why);
    else
        e = migrate(pg, pc, why, sizeof(why));
    pc->busy = 0;
    if (e) {
        wsmd__log("event=state_open_failed database=\"%s\" reason=\"%s\"", pg->where, why);
        wsmd__pg_close(pg);
        return e;
    }
    pg->down = 0;
    wsmd__log("event=state_open database=\"%s\" schema=%d", pg->where, WSMD_STATE_SCHEMA_VERSION);
    *out = pg;
    return WSM_OK;
}

void wsmd__pg_close(struct wsmd_pgstate *pg)
{
    if (!pg)
        return;
    for (int i = 0; i < NCONN; i++)
        PQfinish(pg->conns[i].c);
    pthread_mutex_destroy(&pg->mu);
    pthread_cond_destroy(&pg->cv);
    free(pg->uri);
    free(pg);
}
