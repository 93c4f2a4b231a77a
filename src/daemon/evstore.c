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
 * acknowledged by the client's TCP (server.h: settle).
 *
 * The store itself (schema, opening, the statements, StateDir) is
 * evstoredb.c; this file decides when a row is written or read. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "evpush.h"
#include "evstore_priv.h"
#include "evsub.h"

#define DB_NAME "eventsource.db"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct wsmd_evs *subs;
static size_t nsubs;

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

/* ---- load --------------------------------------------------------------- */

static char *dup_col(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

static void load(void)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(wsmd__evs_db,
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
        wsmd__evs_db_exec(sql);
    }
    wsmd__log("event=eventsource-loaded path=\"%s\" subscriptions=%zu expired=%zu skipped=%zu",
              wsmd__evs_db_path, n, gone, bad);
}

void wsmd__evs_start(struct wsmd_server *srv)
{
    const char *dir = srv->cfg.state_dir_open ? srv->cfg.state_dir_open : srv->cfg.state_dir;
    wsmd__evpush_init(srv);
    pthread_mutex_lock(&wsmd__evs_db_lock);
    wsmd__evs_db_path[0] = '\0';
    if (dir)
        snprintf(wsmd__evs_db_path, sizeof(wsmd__evs_db_path), "%s/%s", dir, DB_NAME);
    wsmd__evs_db_tried = 0;
    if (wsmd__evs_db_path[0] && wsmd__evs_db_open(0) == 0) {
        wsmd__evs_db_tried = 1;
        pthread_mutex_lock(&lock);
        load();
        int any = nsubs > 0;
        pthread_mutex_unlock(&lock);
        if (any)
            wsmd__evpull_start();
    }
    pthread_mutex_unlock(&wsmd__evs_db_lock);
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
    pthread_mutex_lock(&wsmd__evs_db_lock);
    sqlite3_close(wsmd__evs_db);
    wsmd__evs_db = NULL;
    wsmd__evs_db_tried = 0;
    pthread_mutex_unlock(&wsmd__evs_db_lock);
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
        wsmd__evs_store_delete(dead->id);
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
    pthread_mutex_lock(&wsmd__evs_db_lock);
    int ok = wsmd__evs_db_path[0] && wsmd__evs_db_open(1) == 0 &&
             wsmd__evs_db_run("INSERT INTO subs (id, ctx, owner, query, rendered, send_bookmarks,"
                              " from_oldest, expires, heartbeat_ms, bookmark, qflags, push)"
                              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                              wsmd__evs_fill_insert, s) == 0;
    wsmd__evs_db_tried = 1;
    pthread_mutex_unlock(&wsmd__evs_db_lock);
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
    wsmd__evs_store_delete(s->id);
    wsmd__evs_free(s);
}

enum wsm_err wsmd__evs_set_expires(struct wsmd_evs *s, long long expires)
{
    struct wsmd_evs_expiry_row r = {s->id, expires};
    pthread_mutex_lock(&wsmd__evs_db_lock);
    int ok = wsmd__evs_db && wsmd__evs_db_run("UPDATE subs SET expires = ?1 WHERE id = ?2",
                                              wsmd__evs_fill_expiry, &r) == 0;
    pthread_mutex_unlock(&wsmd__evs_db_lock);
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
    struct wsmd_evs_bookmark_row r = {id, bm, serial};
    pthread_mutex_lock(&wsmd__evs_db_lock);
    if (wsmd__evs_db)
        wsmd__evs_db_run(
            "UPDATE subs SET bookmark = ?1, serial = ?2 WHERE id = ?3 AND serial <= ?2",
            wsmd__evs_fill_bookmark, &r);
    pthread_mutex_unlock(&wsmd__evs_db_lock);
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
    wsmd__evs_store_bookmark(s->id, s->bookmark, s->serial);
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
