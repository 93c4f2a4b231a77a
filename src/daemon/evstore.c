/* The event source's subscriptions: the table in memory and its durable
 * copy (docs/internals/eventlog.md "Persistence").
 *
 * The table is a list under one lock: a subscription is found by its
 * identifier (Renew, GetStatus, Unsubscribe) or its enumeration context
 * (Pull, Release), and only by its owner; anyone else is told it does not
 * exist. A caller takes a subscription (busy) for the time of one request
 * and gives it back; one that ends while busy is freed by the giver.
 *
 * The copy is a small SQLite database, StateDir/eventsource.db, one row
 * per subscription: what a restart needs to serve it again (owner, query,
 * options, expiry) and the bookmark of the last reply the subscriber
 * received. SQLite rather than a file per subscription: a bookmark changes
 * with every Pull, and one WAL append and fsync per change is cheaper and
 * as safe as writing, syncing and renaming a file and syncing its folder;
 * the collector's state is kept the same way, with the same VFS (its
 * /proc/self/fd/N paths under privilege separation). Written before the
 * reply that depends on it: a Subscribe is answered once its row is
 * durable, a bookmark is committed once the reply that carried it was
 * acknowledged by the client's TCP (server.h: settle). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "evpush.h"
#include "evsub.h"
#include "sqlvfs.h"

#define DB_NAME "eventsource.db"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct wsmd_evs *subs;
static size_t nsubs;

/* The store: one connection, its own lock (an fsync is not held under
 * the table's). */
static pthread_mutex_t db_lock = PTHREAD_MUTEX_INITIALIZER;
static sqlite3 *db;
static char db_path[4200];
static int db_tried; /* opened (or failed) once */

long long wsmd__evs_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void wsmd__evs_free(struct wsmd_evs *s)
{
    if (!s)
        return;
    wsmd__evr_close(s->r);
    wsmd__evq_free(s->q);
    free(s->query);
    free(s->bookmark);
    if (s->push) /* it holds the subscriber's password */
        explicit_bzero(s->push, strlen(s->push));
    free(s->push);
    free(s->cursor);
    free(s->pending);
    free(s->pending_bm);
    free(s->unsettled_bm);
    free(s);
}

void wsmd__evs_close_reader(struct wsmd_evs *s)
{
    if (!s->r)
        return;
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    free(s->cursor);
    s->cursor = wsmd__evr_bookmark(s->r, &b) == WSM_OK && b.len ? wsm__buf_steal(&b, NULL) : NULL;
    wsm__buf_free(&b);
    wsmd__evr_close(s->r);
    s->r = NULL;
}

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

static int db_exec(const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        wsmd__log("event=eventsource-store-error path=\"%s\" reason=\"%s\"", db_path,
                  msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return rc;
}

/* Opens (creating when create is set) the store; called with db_lock. */
static int db_open(int create)
{
    if (db)
        return 0;
    struct stat st;
    if (!create && stat(db_path, &st) != 0)
        return -1; /* nothing was ever subscribed: nothing to load */
    if (create) {
        /* StateDir itself, as mkdir -p (a user's ~/.local/state/wsmd); not
         * under privilege separation, where the monitor made it. */
        char dir[sizeof(db_path)];
        snprintf(dir, sizeof(dir), "%s", db_path);
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
        int fd = open(db_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0) {
            int dfd = open(last ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
            }
            close(fd);
        } else if (errno != EEXIST) {
            wsmd__log("event=eventsource-store-error path=\"%s\" reason=\"cannot create: %s\"",
                      db_path, strerror(errno));
            return -1;
        }
    }
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        wsmd__sqlite_vfs()) != SQLITE_OK ||
        sqlite3_db_readonly(db, "main") == 1) {
        wsmd__log("event=eventsource-store-error path=\"%s\" reason=\"cannot open: %s\"", db_path,
                  db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        db = NULL;
        return -1;
    }
    sqlite3_busy_timeout(db, 5000);
    if (db_exec("PRAGMA journal_mode = WAL") != SQLITE_OK ||
        db_exec("PRAGMA synchronous = FULL") != SQLITE_OK || db_exec(schema) != SQLITE_OK) {
        sqlite3_close(db);
        db = NULL;
        return -1;
    }
    /* The push delivery (evpush.c), added to stores made before it: an
     * error here is "duplicate column", the store being already current. */
    sqlite3_exec(db, "ALTER TABLE subs ADD COLUMN push TEXT", NULL, NULL, NULL);
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
static int db_run(const char *sql, void (*fill)(sqlite3_stmt *, const void *), const void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        fill(st, arg);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE)
        wsmd__log("event=eventsource-store-error path=\"%s\" reason=\"%s\"", db_path,
                  sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void fill_insert(sqlite3_stmt *st, const void *arg)
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

struct expiry_row {
    const char *id;
    long long expires;
};

static void fill_expiry(sqlite3_stmt *st, const void *arg)
{
    const struct expiry_row *r = arg;
    sqlite3_bind_int64(st, 1, r->expires);
    bind_text(st, 2, r->id);
}

struct bookmark_row {
    const char *id, *bookmark;
    unsigned long serial;
};

static void fill_bookmark(sqlite3_stmt *st, const void *arg)
{
    const struct bookmark_row *r = arg;
    bind_text(st, 1, r->bookmark);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)r->serial);
    bind_text(st, 3, r->id);
}

static void store_delete(const char *id)
{
    pthread_mutex_lock(&db_lock);
    if (db)
        db_run("DELETE FROM subs WHERE id = ?1", fill_id, id);
    pthread_mutex_unlock(&db_lock);
}

/* ---- folders ------------------------------------------------------------ */

enum wsm_err wsmd__evs_prepare_dir(struct wsmd_config *cfg, uid_t uid, gid_t gid)
{
    if (!cfg->state_dir) {
        /* The collector's default (colconfig.c): one StateDir for both. */
        char path[4096];
        const char *home = getenv("HOME");
        if (geteuid() == 0)
            snprintf(path, sizeof(path), "/var/lib/wsmd");
        else
            snprintf(path, sizeof(path), "%s/.local/state/wsmd", home && *home ? home : ".");
        if (!(cfg->state_dir = strdup(path)))
            return WSM_ERR_NOMEM;
    }
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

/* ---- load --------------------------------------------------------------- */

static char *dup_col(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

static void load(void)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, ctx, owner, query, rendered, send_bookmarks, from_oldest,"
                           " expires, heartbeat_ms, bookmark, serial, qflags, push FROM subs",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    long long now = wsmd__evs_now();
    size_t n = 0, gone = 0, bad = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        const char *ctx = (const char *)sqlite3_column_text(st, 1);
        const char *owner = (const char *)sqlite3_column_text(st, 2);
        long long expires = sqlite3_column_int64(st, 7);
        if (!id || !ctx || !owner || strlen(id) >= WSM_UUID_STRLEN ||
            strlen(ctx) >= WSM_UUID_STRLEN || strlen(owner) >= WSMD_MAX_USER) {
            bad++;
            continue;
        }
        if (expires && expires <= now) {
            gone++;
            continue; /* deleted below */
        }
        struct wsmd_evs *s = calloc(1, sizeof(*s));
        if (!s)
            break;
        snprintf(s->id, sizeof(s->id), "%s", id);
        snprintf(s->ctx, sizeof(s->ctx), "%s", ctx);
        snprintf(s->owner, sizeof(s->owner), "%s", owner);
        s->query = dup_col(st, 3);
        s->rendered = sqlite3_column_int(st, 4);
        s->send_bookmarks = sqlite3_column_int(st, 5);
        s->from_oldest = sqlite3_column_int(st, 6);
        s->expires = expires;
        s->heartbeat_ms = (long)sqlite3_column_int64(st, 8);
        s->bookmark = dup_col(st, 9);
        s->serial = (unsigned long)sqlite3_column_int64(st, 10);
        s->qflags = (unsigned)sqlite3_column_int64(st, 11) & WSMD_EVQ_IGNORE_CHANNEL_ERROR;
        s->push = dup_col(st, 12);
        char why[256] = "";
        if (!s->query || wsmd__evq_compile_ex(s->query, strlen(s->query), s->qflags, &s->q, why,
                                              sizeof(why)) != WSM_OK) {
            /* A query this build no longer takes: kept on disk, not served. */
            wsmd__log("event=eventsource-load-skipped id=%s reason=\"%s\"", s->id,
                      why[0] ? why : "no query");
            wsmd__evs_free(s);
            bad++;
            continue;
        }
        s->next = subs;
        subs = s;
        nsubs++;
        n++;
        if (s->push)
            wsmd__evpush_watch(s); /* resumes after its last acknowledged bookmark */
    }
    sqlite3_finalize(st);
    if (gone) {
        char sql[96];
        snprintf(sql, sizeof(sql), "DELETE FROM subs WHERE expires > 0 AND expires <= %lld", now);
        db_exec(sql);
    }
    wsmd__log("event=eventsource-loaded path=\"%s\" subscriptions=%zu expired=%zu skipped=%zu",
              db_path, n, gone, bad);
}

void wsmd__evs_start(struct wsmd_server *srv)
{
    const char *dir = srv->cfg.state_dir_open ? srv->cfg.state_dir_open : srv->cfg.state_dir;
    wsmd__evpush_init(srv);
    pthread_mutex_lock(&db_lock);
    db_path[0] = '\0';
    if (dir)
        snprintf(db_path, sizeof(db_path), "%s/%s", dir, DB_NAME);
    db_tried = 0;
    if (db_path[0] && db_open(0) == 0) {
        db_tried = 1;
        pthread_mutex_lock(&lock);
        load();
        int any = nsubs > 0;
        pthread_mutex_unlock(&lock);
        if (any)
            wsmd__evpull_start();
    }
    pthread_mutex_unlock(&db_lock);
}

void wsmd__evs_stop(void)
{
    wsmd__evpush_stop();
    wsmd__evpull_stop();
    wsmd__evbm_stop(); /* the queued bookmarks are written before the store closes */
    pthread_mutex_lock(&lock);
    struct wsmd_evs *all = subs;
    subs = NULL;
    nsubs = 0;
    pthread_mutex_unlock(&lock);
    while (all) {
        struct wsmd_evs *n = all->next;
        wsmd__evs_free(all);
        all = n;
    }
    pthread_mutex_lock(&db_lock);
    sqlite3_close(db);
    db = NULL;
    db_tried = 0;
    pthread_mutex_unlock(&db_lock);
}

/* ---- the table ---------------------------------------------------------- */

/* Called with lock held: unlinks the expired subscriptions that nobody
 * holds into *dead (their rows are deleted by the caller, unlocked). */
static void expire(long long now, struct wsmd_evs **dead)
{
    for (struct wsmd_evs **p = &subs; *p;) {
        struct wsmd_evs *s = *p;
        if (s->expires && s->expires <= now && !s->busy) {
            *p = s->next;
            nsubs--;
            s->next = *dead;
            *dead = s;
        } else {
            p = &s->next;
        }
    }
}

static void bury(struct wsmd_evs *dead)
{
    while (dead) {
        struct wsmd_evs *n = dead->next;
        wsmd__log("event=eventsource-expired id=%s owner=%s", dead->id, dead->owner);
        wsmd__evpull_end(dead->ctx);
        store_delete(dead->id);
        wsmd__evs_free(dead);
        dead = n;
    }
}

enum wsm_err wsmd__evs_add(struct wsmd_evs *s, unsigned per_user)
{
    struct wsmd_evs *dead = NULL;
    size_t mine = 0;
    pthread_mutex_lock(&lock);
    expire(wsmd__evs_now(), &dead);
    for (struct wsmd_evs *x = subs; x; x = x->next)
        mine += !strcmp(x->owner, s->owner);
    enum wsm_err e =
        mine >= (per_user ? per_user : WSMD_EV_MAX_PER_USER) || nsubs >= WSMD_EV_MAX_TOTAL
            ? WSM_ERR_QUOTA
            : WSM_OK;
    if (!e) {
        s->busy = 1; /* not served before its row is durable */
        s->next = subs;
        subs = s;
        nsubs++;
    }
    pthread_mutex_unlock(&lock);
    bury(dead);
    if (e) {
        wsmd__evs_free(s);
        return e;
    }
    pthread_mutex_lock(&db_lock);
    int ok = db_path[0] && db_open(1) == 0 &&
             db_run("INSERT INTO subs (id, ctx, owner, query, rendered, send_bookmarks,"
                    " from_oldest, expires, heartbeat_ms, bookmark, qflags, push)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                    fill_insert, s) == 0;
    db_tried = 1;
    pthread_mutex_unlock(&db_lock);
    if (!ok) {
        /* Not promised what cannot be kept across a restart. */
        pthread_mutex_lock(&lock);
        for (struct wsmd_evs **p = &subs; *p; p = &(*p)->next)
            if (*p == s) {
                *p = s->next;
                nsubs--;
                break;
            }
        pthread_mutex_unlock(&lock);
        wsmd__evs_free(s);
        return WSM_ERR_IO;
    }
    if (s->push)
        wsmd__evpush_watch(s);
    wsmd__evs_give(s);
    wsmd__evpull_start(); /* its sweep ends the subscription on time */
    return WSM_OK;
}

struct wsmd_evs *wsmd__evs_take(const char *key, int by_ctx, const char *owner, int *busy)
{
    struct wsmd_evs *dead = NULL, *found = NULL;
    if (busy)
        *busy = 0;
    if (!key || !owner)
        return NULL;
    pthread_mutex_lock(&lock);
    expire(wsmd__evs_now(), &dead);
    for (struct wsmd_evs *s = subs; s; s = s->next) {
        if (strcmp(by_ctx ? s->ctx : s->id, key) != 0 || strcmp(s->owner, owner) != 0)
            continue;
        if (s->busy) {
            if (busy)
                *busy = 1;
        } else {
            s->busy = 1;
            found = s;
        }
        break;
    }
    pthread_mutex_unlock(&lock);
    bury(dead);
    return found;
}

void wsmd__evs_give(struct wsmd_evs *s)
{
    pthread_mutex_lock(&lock);
    s->busy = 0;
    pthread_mutex_unlock(&lock);
}

void wsmd__evs_remove(struct wsmd_evs *s)
{
    pthread_mutex_lock(&lock);
    for (struct wsmd_evs **p = &subs; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            nsubs--;
            break;
        }
    pthread_mutex_unlock(&lock);
    wsmd__evpull_end(s->ctx);
    store_delete(s->id);
    wsmd__evs_free(s);
}

enum wsm_err wsmd__evs_set_expires(struct wsmd_evs *s, long long expires)
{
    struct expiry_row r = {s->id, expires};
    pthread_mutex_lock(&db_lock);
    int ok = db && db_run("UPDATE subs SET expires = ?1 WHERE id = ?2", fill_expiry, &r) == 0;
    pthread_mutex_unlock(&db_lock);
    if (!ok)
        return WSM_ERR_IO;
    pthread_mutex_lock(&lock);
    s->expires = expires;
    pthread_mutex_unlock(&lock);
    return WSM_OK;
}

/* A reply's fate (evpull.c's settle). Delivered: its bookmark becomes the
 * subscription's, in memory and on disk. Lost: the reader is dropped, so
 * that the next Pull starts again after the last bookmark delivered (the
 * events are sent again: a duplicate, never a loss). A subscription taken
 * by a Pull meanwhile was settled by that Pull (evpull.c). */
void wsmd__evs_store_bookmark(const char *id, const char *bm, unsigned long serial)
{
    struct bookmark_row r = {id, bm, serial};
    pthread_mutex_lock(&db_lock);
    if (db)
        db_run("UPDATE subs SET bookmark = ?1, serial = ?2 WHERE id = ?3 AND serial <= ?2",
               fill_bookmark, &r);
    pthread_mutex_unlock(&db_lock);
}

static void settle(const char *id, unsigned long serial, int delivered, int lazy)
{
    char *bm = NULL;
    struct wsmd_evreader *drop = NULL;
    pthread_mutex_lock(&lock);
    for (struct wsmd_evs *s = subs; s; s = s->next) {
        if (strcmp(s->id, id) != 0)
            continue;
        if (s->serial == serial)
            s->probe = NULL; /* its drain is freed once this returns */
        if (s->busy || s->serial != serial || !s->unsettled_bm)
            break;
        if (delivered) {
            free(s->bookmark);
            s->bookmark = s->unsettled_bm;
            s->from_oldest = 0;
            bm = strdup(s->bookmark);
        } else {
            free(s->unsettled_bm);
            drop = s->r;
            s->r = NULL;
            free(s->pending);
            free(s->pending_bm);
            free(s->cursor);
            s->pending = s->pending_bm = s->cursor = NULL;
        }
        s->unsettled_bm = NULL;
        break;
    }
    pthread_mutex_unlock(&lock);
    wsmd__evr_close(drop);
    if (bm && lazy) {
        wsmd__evbm_put(id, bm, serial); /* takes bm */
    } else if (bm) {
        wsmd__evs_store_bookmark(id, bm, serial);
        free(bm);
    }
}

void wsmd__evs_commit_bookmark(const char *id, unsigned long serial, int delivered)
{
    settle(id, serial, delivered, 0);
}

void wsmd__evs_commit_bookmark_lazy(const char *id, unsigned long serial)
{
    settle(id, serial, 1, 1);
}

unsigned long wsmd__evs_hand_over(struct wsmd_evs *s, char *bm)
{
    pthread_mutex_lock(&lock);
    unsigned long serial = ++s->serial;
    free(s->unsettled_bm);
    s->unsettled_bm = bm;
    s->probe = NULL;
    pthread_mutex_unlock(&lock);
    return serial;
}

void wsmd__evs_set_probe(const char *id, unsigned long serial, int (*probe)(void *), void *arg)
{
    pthread_mutex_lock(&lock);
    for (struct wsmd_evs *s = subs; s; s = s->next)
        if (!strcmp(s->id, id)) {
            if (s->serial == serial && s->unsettled_bm) {
                s->probe = probe;
                s->probe_arg = arg;
            }
            break;
        }
    pthread_mutex_unlock(&lock);
}

void wsmd__evs_promote(struct wsmd_evs *s)
{
    if (!s->unsettled_bm)
        return;
    pthread_mutex_lock(&lock);
    /* Asked under the lock: the settle that frees the drain waits for it. */
    int reached = s->probe ? s->probe(s->probe_arg) : 1;
    s->probe = NULL;
    if (reached < 0) {
        /* Written but not received (the client gave up on it): the next
         * reply starts again after the last bookmark delivered. */
        free(s->unsettled_bm);
        free(s->pending);
        free(s->pending_bm);
        free(s->cursor);
        s->unsettled_bm = s->pending = s->pending_bm = s->cursor = NULL;
        struct wsmd_evreader *drop = s->r;
        s->r = NULL;
        pthread_mutex_unlock(&lock);
        wsmd__evr_close(drop);
        return;
    }
    free(s->bookmark);
    s->bookmark = s->unsettled_bm;
    s->unsettled_bm = NULL;
    s->from_oldest = 0;
    pthread_mutex_unlock(&lock);
    struct bookmark_row r = {s->id, s->bookmark, s->serial};
    pthread_mutex_lock(&db_lock);
    if (db)
        db_run("UPDATE subs SET bookmark = ?1, serial = ?2 WHERE id = ?3 AND serial <= ?2",
               fill_bookmark, &r);
    pthread_mutex_unlock(&db_lock);
}

void wsmd__evs_sweep(void)
{
    struct wsmd_evs *dead = NULL;
    pthread_mutex_lock(&lock);
    expire(wsmd__evs_now(), &dead);
    pthread_mutex_unlock(&lock);
    bury(dead);
}

size_t wsmd__evs_count(void)
{
    pthread_mutex_lock(&lock);
    size_t n = nsubs;
    pthread_mutex_unlock(&lock);
    return n;
}
