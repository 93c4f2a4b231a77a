/* The collector's state in SQLite (docs/internals/collector-store.md).
 *
 * Two connections: one writer, fed by a group commit (the updates of every
 * thread that commits while a transaction runs go into the next transaction
 * together, so one WAL fsync covers them all), and one reader for bookmarks
 * and listings, which WAL lets run while the writer commits. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "server.h"
#include "sqlvfs.h"
#include "state.h"
#include "state_pg.h"

/* One caller of wsmd__state_commit waiting for its update to be committed. */
struct pending {
    const struct wsmd_state_update *u;
    enum wsm_err rc;
    int done;
    struct pending *next;
};

struct wsmd_state {
    struct wsmd_pgstate *pg; /* StateDatabase: every call goes there (state_pg.c) */
    char *path;

    pthread_mutex_t mu; /* the queue below */
    pthread_cond_t cv;
    struct pending *head, **tail;
    int leader; /* a thread is running a transaction */

    sqlite3 *wdb; /* used by the leader only */
    sqlite3_stmt *upsert;

    pthread_mutex_t rmu; /* the reader connection */
    sqlite3 *rdb;
    sqlite3_stmt *bookmark, *sources;
};

/* Each step takes the schema from version i to i + 1; a new version is a
 * new entry at the end, never an edit of an old one. */
static const char *const migrations[WSMD_STATE_SCHEMA_VERSION] = {
    /* 0 -> 1 */
    "CREATE TABLE sources ("
    " subscription TEXT NOT NULL,"
    " principal TEXT NOT NULL,"
    " address TEXT,"
    " bookmark TEXT,"
    " first_seen_ms INTEGER NOT NULL,"
    " first_heartbeat_ms INTEGER NOT NULL DEFAULT 0,"
    " last_heartbeat_ms INTEGER NOT NULL DEFAULT 0,"
    " last_event_ms INTEGER NOT NULL DEFAULT 0,"
    " events INTEGER NOT NULL DEFAULT 0,"
    " duplicates INTEGER NOT NULL DEFAULT 0,"
    " ended INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT,"
    " PRIMARY KEY (subscription, principal)) WITHOUT ROWID",
};

/* ?1 sub, ?2 principal, ?3 addr, ?4 bookmark, ?5 now, ?6 heartbeat, ?7 events,
 * ?8 duplicates, ?9 subscription_end, ?10 error. An event batch or a
 * heartbeat after a SubscriptionEnd means the source is back. */
static const char upsert_sql[] =
    "INSERT INTO sources (subscription, principal, address, bookmark, first_seen_ms,"
    " first_heartbeat_ms, last_heartbeat_ms, last_event_ms, events, duplicates, ended,"
    " last_error)"
    " VALUES (?1, ?2, ?3, ?4, ?5, CASE WHEN ?6 THEN ?5 ELSE 0 END,"
    " CASE WHEN ?6 THEN ?5 ELSE 0 END, CASE WHEN ?7 > 0 THEN ?5 ELSE 0 END, ?7, ?8,"
    " ?9 <> 0, ?10)"
    " ON CONFLICT (subscription, principal) DO UPDATE SET"
    " address = coalesce(excluded.address, address),"
    " bookmark = coalesce(excluded.bookmark, bookmark),"
    " first_heartbeat_ms = CASE WHEN ?6 AND first_heartbeat_ms = 0 THEN ?5"
    "   ELSE first_heartbeat_ms END,"
    " last_heartbeat_ms = CASE WHEN ?6 THEN ?5 ELSE last_heartbeat_ms END,"
    " last_event_ms = CASE WHEN ?7 > 0 THEN ?5 ELSE last_event_ms END,"
    " events = events + ?7,"
    " duplicates = duplicates + ?8,"
    " ended = CASE WHEN ?9 THEN 1 WHEN ?6 OR ?7 > 0 THEN 0 ELSE ended END,"
    " last_error = coalesce(excluded.last_error, last_error)";

static const char bookmark_sql[] =
    "SELECT bookmark FROM sources WHERE subscription = ?1 AND principal = ?2";
static const char sources_sql[] =
    "SELECT subscription, principal, address, bookmark, last_error, first_seen_ms,"
    " first_heartbeat_ms, last_heartbeat_ms, last_event_ms, events, duplicates, ended"
    " FROM sources WHERE ?1 IS NULL OR subscription = ?1 ORDER BY subscription, principal";

static enum wsm_err refuse(const char *path, const char *why, const char *detail)
{
    wsmd__log("event=state_open_failed path=\"%s\" reason=\"%s%s%s\"", path, why,
              detail ? ": " : "", detail ? detail : "");
    return WSM_ERR_IO;
}

static enum wsm_err exec(sqlite3 *db, const char *path, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        enum wsm_err rc = refuse(path, "cannot use the database", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return rc;
    }
    return WSM_OK;
}

/* The first column of the first row of sql as text, into out. */
static int query_text(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const unsigned char *t = sqlite3_column_text(st, 0);
            snprintf(out, outlen, "%s", t ? (const char *)t : "");
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            out[0] = '\0';
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static int schema_version(sqlite3 *db, long *version)
{
    char t[64];
    int rc = query_text(db,
                        "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                        " AND name = 'schema_version'",
                        t, sizeof(t));
    if (rc != SQLITE_OK)
        return rc;
    if (strcmp(t, "0") == 0) {
        *version = 0; /* a new file, or one from before versions existed */
        return SQLITE_OK;
    }
    rc = query_text(db, "SELECT max(version) FROM schema_version", t, sizeof(t));
    if (rc == SQLITE_OK)
        *version = t[0] ? strtol(t, NULL, 10) : 0;
    return rc;
}

/* Creates or upgrades the schema in one transaction: a crash half-way
 * leaves the old version whole. */
static enum wsm_err migrate(sqlite3 *db, const char *path)
{
    long v = 0;
    enum wsm_err err = exec(db, path, "BEGIN IMMEDIATE");
    if (err != WSM_OK)
        return err;
    /* Read inside the transaction: another wsmd may have just upgraded it. */
    if (schema_version(db, &v) != SQLITE_OK) {
        err = refuse(path, "cannot read the schema version", sqlite3_errmsg(db));
        goto fail;
    }
    if (v > WSMD_STATE_SCHEMA_VERSION || v < 0) {
        char d[96];
        snprintf(d, sizeof(d), "schema version %ld, this wsmd knows up to %d", v,
                 WSMD_STATE_SCHEMA_VERSION);
        err = refuse(path, "written by a newer wsmd", d);
        goto fail;
    }
    if (v == WSMD_STATE_SCHEMA_VERSION) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return WSM_OK;
    }
    if ((err = exec(db, path,
                    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")) !=
        WSM_OK)
        goto fail;
    for (long i = v; i < WSMD_STATE_SCHEMA_VERSION; i++)
        if ((err = exec(db, path, migrations[i])) != WSM_OK)
            goto fail;
    char sql[96];
    snprintf(sql, sizeof(sql), "DELETE FROM schema_version; INSERT INTO schema_version VALUES (%d)",
             WSMD_STATE_SCHEMA_VERSION);
    if ((err = exec(db, path, sql)) != WSM_OK || (err = exec(db, path, "COMMIT")) != WSM_OK)
        goto fail;
    if (v != 0)
        wsmd__log("event=state_upgraded path=\"%s\" from=%ld to=%d", path, v,
                  WSMD_STATE_SCHEMA_VERSION);
    return WSM_OK;
fail:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return err;
}

static enum wsm_err open_conn(const char *path, sqlite3 **out)
{
    sqlite3 *db = NULL;
    int rc =
        sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, wsmd__sqlite_vfs());
    if (rc != SQLITE_OK) {
        enum wsm_err err =
            refuse(path, "cannot open", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return err;
    }
    /* SQLite opens a write-protected file read-only without saying so. */
    if (sqlite3_db_readonly(db, "main") == 1) {
        sqlite3_close(db);
        return refuse(path, "not writable", NULL);
    }
    /* Another process (an admin's sqlite3, a second wsmd) may hold the lock
     * for a moment: wait rather than fail a delivery. */
    sqlite3_busy_timeout(db, 5000);
    char mode[16];
    if (query_text(db, "PRAGMA journal_mode = WAL", mode, sizeof(mode)) != SQLITE_OK) {
        /* The first read of the file: "file is not a database" lands here. */
        enum wsm_err err = refuse(path, "corrupt or not a database", sqlite3_errmsg(db));
        sqlite3_close(db);
        return err;
    }
    if (strcmp(mode, "wal") != 0) {
        sqlite3_close(db);
        return refuse(path, "cannot switch to WAL journal mode", mode);
    }
    enum wsm_err err = exec(db, path, "PRAGMA synchronous = FULL");
    if (err != WSM_OK) {
        sqlite3_close(db);
        return err;
    }
    *out = db;
    return WSM_OK;
}

static enum wsm_err prepare(sqlite3 *db, const char *path, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
        return refuse(path, "cannot prepare a statement", sqlite3_errmsg(db));
    return WSM_OK;
}

enum wsm_err wsmd__state_open(const char *dir, struct wsmd_state **out)
{
    if (!dir || !*dir || !out)
        return WSM_ERR_INVALID_ARG;
    struct wsmd_state *st = calloc(1, sizeof(*st));
    if (!st)
        return WSM_ERR_NOMEM;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    pthread_mutex_init(&st->rmu, NULL);
    st->tail = &st->head;
    enum wsm_err err = WSM_ERR_NOMEM;
    if (asprintf(&st->path, "%s/collector.db", dir) < 0) {
        st->path = NULL;
        goto fail;
    }
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        err = refuse(st->path, "cannot create the directory", strerror(errno));
        goto fail;
    }
    /* Created here rather than by SQLite: the mode (bookmarks name the
     * sources; SQLite's WAL and shm files copy it), and an unwritable place
     * is named plainly. */
    int fd = open(st->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd >= 0) {
        /* A new file: its name must survive a crash as well as its pages
         * (SQLite syncs the file, not the directory it was made in). */
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = dfd >= 0 ? fsync(dfd) : -1;
        if (dfd >= 0)
            close(dfd);
        if (r != 0) {
            err = refuse(st->path, "cannot sync the directory", strerror(errno));
            close(fd);
            goto fail;
        }
    } else if (errno == EEXIST) {
        fd = open(st->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0) {
        err = refuse(st->path, "cannot open", strerror(errno));
        goto fail;
    }
    close(fd);
    if ((err = open_conn(st->path, &st->wdb)) != WSM_OK)
        goto fail;
    char check[128];
    if (query_text(st->wdb, "PRAGMA quick_check", check, sizeof(check)) != SQLITE_OK) {
        err = refuse(st->path, "corrupt", sqlite3_errmsg(st->wdb));
        goto fail;
    }
    if (strcmp(check, "ok") != 0) {
        err = refuse(st->path, "corrupt", check);
        goto fail;
    }
    if ((err = migrate(st->wdb, st->path)) != WSM_OK ||
        (err = prepare(st->wdb, st->path, upsert_sql, &st->upsert)) != WSM_OK ||
        (err = open_conn(st->path, &st->rdb)) != WSM_OK ||
        (err = prepare(st->rdb, st->path, bookmark_sql, &st->bookmark)) != WSM_OK ||
        (err = prepare(st->rdb, st->path, sources_sql, &st->sources)) != WSM_OK)
        goto fail;
    *out = st;
    return WSM_OK;
fail:
    wsmd__state_close(st);
    return err;
}

enum wsm_err wsmd__state_open_db(const char *dir, const char *database, struct wsmd_state **out)
{
    if (!database)
        return wsmd__state_open(dir, out);
    if (!out)
        return WSM_ERR_INVALID_ARG;
    struct wsmd_state *st = calloc(1, sizeof(*st));
    if (!st)
        return WSM_ERR_NOMEM;
    enum wsm_err e = wsmd__pg_open(database, &st->pg);
    if (e) {
        free(st);
        return e;
    }
    *out = st;
    return WSM_OK;
}

int wsmd__state_ready(struct wsmd_state *st)
{
    return !st || !st->pg || wsmd__pg_ready(st->pg);
}

int wsmd__state_shared(const struct wsmd_state *st)
{
    return st && st->pg;
}

enum wsm_err wsmd__state_subs(struct wsmd_state *st, long long *generation,
                              void (*fn)(const char *id, const char *xml, void *arg), void *arg)
{
    return st && st->pg ? wsmd__pg_subs(st->pg, generation, fn, arg) : WSM_ERR_UNSUPPORTED_FEATURE;
}

enum wsm_err wsmd__state_subs_generation(struct wsmd_state *st, long long *generation)
{
    return st && st->pg ? wsmd__pg_subs_generation(st->pg, generation)
                        : WSM_ERR_UNSUPPORTED_FEATURE;
}

enum wsm_err wsmd__state_sub_put(struct wsmd_state *st, const char *id, const char *xml, int create)
{
    return st && st->pg ? wsmd__pg_sub_put(st->pg, id, xml, create) : WSM_ERR_UNSUPPORTED_FEATURE;
}

enum wsm_err wsmd__state_sub_delete(struct wsmd_state *st, const char *id)
{
    return st && st->pg ? wsmd__pg_sub_delete(st->pg, id) : WSM_ERR_UNSUPPORTED_FEATURE;
}

enum wsm_err wsmd__state_subs_seeded(struct wsmd_state *st, int *seeded)
{
    return st && st->pg ? wsmd__pg_subs_seeded(st->pg, seeded) : WSM_ERR_UNSUPPORTED_FEATURE;
}

enum wsm_err wsmd__state_subs_seed(struct wsmd_state *st, const char *const *ids,
                                   const char *const *xmls, size_t n, int *seeded)
{
    return st && st->pg ? wsmd__pg_subs_seed(st->pg, ids, xmls, n, seeded)
                        : WSM_ERR_UNSUPPORTED_FEATURE;
}

void wsmd__state_close(struct wsmd_state *st)
{
    if (!st)
        return;
    if (st->pg) {
        wsmd__pg_close(st->pg);
        free(st);
        return;
    }
    sqlite3_finalize(st->upsert);
    sqlite3_finalize(st->bookmark);
    sqlite3_finalize(st->sources);
    sqlite3_close(st->rdb);
    sqlite3_close(st->wdb);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    pthread_mutex_destroy(&st->rmu);
    free(st->path);
    free(st);
}

static void bind_text(sqlite3_stmt *s, int i, const char *t)
{
    if (t)
        sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

/* Clamps to SQLite's signed 64-bit integers. */
static sqlite3_int64 i64(unsigned long v)
{
    return v > (unsigned long)INT64_MAX ? INT64_MAX : (sqlite3_int64)v;
}

static int apply(struct wsmd_state *st, const struct wsmd_state_update *u)
{
    sqlite3_stmt *s = st->upsert;
    bind_text(s, 1, u->sub);
    bind_text(s, 2, u->principal);
    bind_text(s, 3, u->addr);
    bind_text(s, 4, u->bookmark_xml);
    sqlite3_bind_int64(s, 5, u->now_ms);
    sqlite3_bind_int(s, 6, u->heartbeat != 0);
    sqlite3_bind_int64(s, 7, i64(u->events));
    sqlite3_bind_int64(s, 8, i64(u->duplicates));
    sqlite3_bind_int(s, 9, u->subscription_end != 0);
    bind_text(s, 10, u->error);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* One transaction for the updates in list; the leader alone runs this. */
static int run_txn(struct wsmd_state *st, struct pending *list)
{
    int rc = sqlite3_exec(st->wdb, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    for (struct pending *p = list; rc == SQLITE_OK && p; p = p->next)
        rc = apply(st, p->u);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(st->wdb, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        wsmd__log("event=state_commit_failed path=\"%s\" error=\"%s\"", st->path,
                  sqlite3_errmsg(st->wdb));
        if (!sqlite3_get_autocommit(st->wdb))
            sqlite3_exec(st->wdb, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

static void commit_group(struct wsmd_state *st, struct pending *list)
{
    enum wsm_err rc = run_txn(st, list) == SQLITE_OK ? WSM_OK : WSM_ERR_IO;
    if (rc != WSM_OK && list->next) {
        /* One bad update must not fail the others: each on its own. */
        for (struct pending *p = list; p; p = p->next) {
            struct pending *next = p->next;
            p->next = NULL;
            p->rc = run_txn(st, p) == SQLITE_OK ? WSM_OK : WSM_ERR_IO;
            p->next = next;
        }
        return;
    }
    for (struct pending *p = list; p; p = p->next)
        p->rc = rc;
}

enum wsm_err wsmd__state_commit(struct wsmd_state *st, const struct wsmd_state_update *u)
{
    if (!st || !u || !u->sub || !u->principal)
        return WSM_ERR_INVALID_ARG;
    if (st->pg)
        return wsmd__pg_commit(st->pg, u);
    struct pending me = {.u = u, .rc = WSM_ERR_INTERNAL};
    pthread_mutex_lock(&st->mu);
    *st->tail = &me;
    st->tail = &me.next;
    while (!me.done) {
        if (st->leader) {
            pthread_cond_wait(&st->cv, &st->mu);
            continue;
        }
        /* Lead: take everything queued (this thread's update included) and
         * commit it as one transaction while the others wait or queue up
         * for the next one. */
        struct pending *list = st->head;
        st->head = NULL;
        st->tail = &st->head;
        st->leader = 1;
        pthread_mutex_unlock(&st->mu);
        commit_group(st, list);
        pthread_mutex_lock(&st->mu);
        for (struct pending *p = list, *next; p; p = next) {
            next = p->next; /* p may be gone once done is seen */
            p->done = 1;
        }
        st->leader = 0;
        pthread_cond_broadcast(&st->cv);
    }
    pthread_mutex_unlock(&st->mu);
    return me.rc;
}

enum wsm_err wsmd__state_bookmark(struct wsmd_state *st, const char *sub, const char *principal,
                                  char **xml)
{
    if (!st || !sub || !principal || !xml)
        return WSM_ERR_INVALID_ARG;
    if (st->pg)
        return wsmd__pg_bookmark(st->pg, sub, principal, xml);
    enum wsm_err err = WSM_OK;
    char *copy = NULL;
    pthread_mutex_lock(&st->rmu);
    sqlite3_stmt *s = st->bookmark;
    bind_text(s, 1, sub);
    bind_text(s, 2, principal);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        if (t && !(copy = strdup((const char *)t)))
            err = WSM_ERR_NOMEM;
    } else if (rc != SQLITE_DONE) {
        wsmd__log("event=state_read_failed path=\"%s\" error=\"%s\"", st->path,
                  sqlite3_errmsg(st->rdb));
        err = WSM_ERR_IO;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    pthread_mutex_unlock(&st->rmu);
    if (err == WSM_OK)
        *xml = copy;
    return err;
}

static const char *col_text(sqlite3_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(s, i);
}

enum wsm_err wsmd__state_sources(struct wsmd_state *st, const char *sub,
                                 void (*fn)(const struct wsmd_source_row *row, void *arg),
                                 void *arg)
{
    if (!st || !fn)
        return WSM_ERR_INVALID_ARG;
    if (st->pg)
        return wsmd__pg_sources(st->pg, sub, fn, arg);
    enum wsm_err err = WSM_OK;
    pthread_mutex_lock(&st->rmu);
    sqlite3_stmt *s = st->sources;
    bind_text(s, 1, sub);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct wsmd_source_row row = {
            .sub = col_text(s, 0),
            .principal = col_text(s, 1),
            .addr = col_text(s, 2),
            .bookmark_xml = col_text(s, 3),
            .last_error = col_text(s, 4),
            .first_seen_ms = sqlite3_column_int64(s, 5),
            .first_heartbeat_ms = sqlite3_column_int64(s, 6),
            .last_heartbeat_ms = sqlite3_column_int64(s, 7),
            .last_event_ms = sqlite3_column_int64(s, 8),
            .events = (unsigned long long)sqlite3_column_int64(s, 9),
            .duplicates = (unsigned long long)sqlite3_column_int64(s, 10),
            .ended = sqlite3_column_int(s, 11),
        };
        fn(&row, arg);
    }
    if (rc != SQLITE_DONE) {
        wsmd__log("event=state_read_failed path=\"%s\" error=\"%s\"", st->path,
                  sqlite3_errmsg(st->rdb));
        err = WSM_ERR_IO;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    pthread_mutex_unlock(&st->rmu);
    return err;
}
