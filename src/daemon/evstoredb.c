/* The durable copy of the event source's subscriptions
 * (docs/internals/eventlog.md "Persistence"): the SQLite store
 * StateDir/eventsource.db (its schema, opening it, the statements the
 * table runs on it) and StateDir itself, prepared before the privilege
 * split.
 *
 * Apart from evstore.c, which keeps the table in memory, loads it from
 * here at start and decides when a row is written: this file knows the
 * rows and the file, not the subscriptions' life. The table's lock is
 * never held here; the store has its own (evstore_priv.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "colconfig.h"
#include "evstore_priv.h"
#include "sqlvfs.h"

pthread_mutex_t wsmd__evs_db_lock = PTHREAD_MUTEX_INITIALIZER;
sqlite3 *wsmd__evs_db;
char wsmd__evs_db_path[4200];
int wsmd__evs_db_tried;

/* ---- the store ---------------------------------------------------------- */

static const char schema[] = "CREATE TABLE IF NOT EXISTS subs ("
                             " id TEXT PRIMARY KEY,"
                             " ctx TEXT NOT NULL,"
                             " owner TEXT NOT NULL,"
                             " query TEXT NOT NULL,"
                             " rendered INTEGER NOT NULL,"
                             " send_bookmarks INTEGER NOT NULL,"
                             " from_oldest INTEGER NOT NULL,"
                             " expires INTEGER NOT NULL,"
                             " heartbeat_ms INTEGER NOT NULL,"
                             " qflags INTEGER NOT NULL DEFAULT 0,"
                             " bookmark TEXT,"
                             " serial INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID";

int wsmd__evs_db_exec(const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(wsmd__evs_db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        wsmd__log("event=eventsource-store-error path=\"%s\" reason=\"%s\"", wsmd__evs_db_path,
                  msg ? msg : sqlite3_errmsg(wsmd__evs_db));
    sqlite3_free(msg);
    return rc;
}

/* Opens (creating when create is set) the store; called with wsmd__evs_db_lock. */
int wsmd__evs_db_open(int create)
{
    if (wsmd__evs_db)
        return 0;
    struct stat st;
    if (!create && stat(wsmd__evs_db_path, &st) != 0)
        return -1; /* nothing was ever subscribed: nothing to load */
    if (create) {
        /* StateDir itself, as mkdir -p (a user's ~/.local/state/wsmd); not
         * under privilege separation, where the monitor made it. */
        char dir[sizeof(wsmd__evs_db_path)];
        snprintf(dir, sizeof(dir), "%s", wsmd__evs_db_path);
        char *last = strrchr(dir, '/');
        if (last)
            *last = '\0';
        if (last && strncmp(dir, "/proc/self/fd/", 14) != 0) {
            for (char *sl = strchr(dir + 1, '/');; sl = strchr(sl + 1, '/')) {
                if (sl)
                    *sl = '\0';
                int bad = mkdir(dir, sl ? 0755 : 0750) != 0 && errno != EEXIST;
                if (!sl)
                    break;
                *sl = '/';
                if (bad)
                    break; /* the open below says why */
            }
        }
        /* Created here, not by SQLite: its mode (owners and queries), and a
         * new name that survives a crash (the folder synced). */
        int fd = open(wsmd__evs_db_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0) {
            int dfd = open(last ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
            }
            close(fd);
        } else if (errno != EEXIST) {
            wsmd__log("event=eventsource-store-error path=\"%s\" reason=\"cannot create: %s\"",
                      wsmd__evs_db_path, strerror(errno));
            return -1;
        }
    }
    if (sqlite3_open_v2(wsmd__evs_db_path, &wsmd__evs_db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        wsmd__sqlite_vfs()) != SQLITE_OK ||
        sqlite3_db_readonly(wsmd__evs_db, "main") == 1) {
        wsmd__log("event=eventsource-store-error path=\"%s\" reason=\"cannot open: %s\"",
                  wsmd__evs_db_path, wsmd__evs_db ? sqlite3_errmsg(wsmd__evs_db) : "out of memory");
        sqlite3_close(wsmd__evs_db);
        wsmd__evs_db = NULL;
        return -1;
    }
    sqlite3_busy_timeout(wsmd__evs_db, 5000);
    if (wsmd__evs_db_exec("PRAGMA journal_mode = WAL") != SQLITE_OK ||
        wsmd__evs_db_exec("PRAGMA synchronous = FULL") != SQLITE_OK ||
        wsmd__evs_db_exec(schema) != SQLITE_OK) {
        sqlite3_close(wsmd__evs_db);
        wsmd__evs_db = NULL;
        return -1;
    }
    /* The push delivery (evpush.c), added to stores made before it: an
     * error here is "duplicate column", the store being already current. */
    sqlite3_exec(wsmd__evs_db, "ALTER TABLE subs ADD COLUMN push TEXT", NULL, NULL, NULL);
    return 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *t)
{
    if (t)
        sqlite3_bind_text(st, i, t, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* One statement with its parameters bound by the caller's fill: 0 done. */
int wsmd__evs_db_run(const char *sql, void (*fill)(sqlite3_stmt *, const void *), const void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(wsmd__evs_db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        fill(st, arg);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE)
        wsmd__log("event=eventsource-store-error path=\"%s\" reason=\"%s\"", wsmd__evs_db_path,
                  sqlite3_errmsg(wsmd__evs_db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

void wsmd__evs_fill_insert(sqlite3_stmt *st, const void *arg)
{
    const struct wsmd_evs *s = arg;
    bind_text(st, 1, s->id);
    bind_text(st, 2, s->ctx);
    bind_text(st, 3, s->owner);
    bind_text(st, 4, s->query);
    sqlite3_bind_int(st, 5, s->rendered);
    sqlite3_bind_int(st, 6, s->send_bookmarks);
    sqlite3_bind_int(st, 7, s->from_oldest);
    sqlite3_bind_int64(st, 8, s->expires);
    sqlite3_bind_int64(st, 9, s->heartbeat_ms);
    bind_text(st, 10, s->bookmark);
    sqlite3_bind_int64(st, 11, s->qflags);
    bind_text(st, 12, s->push);
}

static void fill_id(sqlite3_stmt *st, const void *arg)
{
    bind_text(st, 1, arg);
}

void wsmd__evs_fill_expiry(sqlite3_stmt *st, const void *arg)
{
    const struct wsmd_evs_expiry_row *r = arg;
    sqlite3_bind_int64(st, 1, r->expires);
    bind_text(st, 2, r->id);
}

void wsmd__evs_fill_bookmark(sqlite3_stmt *st, const void *arg)
{
    const struct wsmd_evs_bookmark_row *r = arg;
    bind_text(st, 1, r->bookmark);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)r->serial);
    bind_text(st, 3, r->id);
}

void wsmd__evs_store_delete(const char *id)
{
    pthread_mutex_lock(&wsmd__evs_db_lock);
    if (wsmd__evs_db)
        wsmd__evs_db_run("DELETE FROM subs WHERE id = ?1", fill_id, id);
    pthread_mutex_unlock(&wsmd__evs_db_lock);
}

/* ---- folders ------------------------------------------------------------ */

enum wsm_err wsmd__evs_prepare_dir(struct wsmd_config *cfg, uid_t uid, gid_t gid)
{
    /* The collector's default: one StateDir for both. */
    if (wsmd__colconfig_default_state_dir(cfg) != WSM_OK)
        return WSM_ERR_NOMEM;
    if (uid == (uid_t)-1 || cfg->state_dir_open)
        return WSM_OK; /* not separated, or the collector handed it over */
    /* Separated: the network process reaches the folder through a
     * descriptor of the monitor's (as the collector's, collector.c). A
     * folder that does not exist is made and given to the account; one
     * that exists is used as it is (an administrator's folder is not
     * chowned behind their back: the package makes /var/lib/wsmd the
     * account's). Not fatal: Subscribe says so if it cannot write. */
    struct stat st;
    if (stat(cfg->state_dir, &st) != 0) {
        if (mkdir(cfg->state_dir, 0750) != 0 || chown(cfg->state_dir, uid, gid) != 0) {
            wsmd__log("event=eventsource-store-off path=\"%s\" reason=\"%s\"", cfg->state_dir,
                      strerror(errno));
            return WSM_OK;
        }
    } else if (S_ISDIR(st.st_mode) && st.st_uid != uid) {
        wsmd__log("event=notice message=\"StateDir %s is not the account %u's: event "
                  "subscriptions are stored only if it may write there\"",
                  cfg->state_dir, (unsigned)uid);
    }
    int fd = open(cfg->state_dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return WSM_OK;
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    if (!(cfg->state_dir_open = strdup(path))) {
        close(fd);
        return WSM_ERR_NOMEM;
    }
    return WSM_OK; /* fd stays open for the life of the daemon */
}
