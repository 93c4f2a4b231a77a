/* Private to the event source's subscription table: what evstore.c (the
 * table in memory, loading and settling) and evstoredb.c (the SQLite copy
 * and its folder) share. The store's connection, path and lock live in
 * evstoredb.c; the table calls its statements with its lock held. */
#ifndef WSMD_EVSTORE_PRIV_H
#define WSMD_EVSTORE_PRIV_H

#include <pthread.h>

#include <sqlite3.h>

#include "evsub.h"

/* The store: one connection, its own lock (an fsync is not held under
 * the table's). */
extern pthread_mutex_t wsmd__evs_db_lock;
extern sqlite3 *wsmd__evs_db;
extern char wsmd__evs_db_path[4200];
extern int wsmd__evs_db_tried; /* opened (or failed) once */

/* One statement run on the store, logged on error (SQLite's result). */
int wsmd__evs_db_exec(const char *sql);
/* Opens (creating when create is set) the store; called with
 * wsmd__evs_db_lock. 0 open. */
int wsmd__evs_db_open(int create);
/* One statement with its parameters bound by the caller's fill: 0 done. */
int wsmd__evs_db_run(const char *sql, void (*fill)(sqlite3_stmt *, const void *), const void *arg);

/* The fills of wsmd__evs_db_run for an INSERT of a whole subscription
 * (arg: struct wsmd_evs), an expiry and a bookmark (the rows below). */
void wsmd__evs_fill_insert(sqlite3_stmt *st, const void *arg);
void wsmd__evs_fill_expiry(sqlite3_stmt *st, const void *arg);
void wsmd__evs_fill_bookmark(sqlite3_stmt *st, const void *arg);

struct wsmd_evs_expiry_row {
    const char *id;
    long long expires;
};

struct wsmd_evs_bookmark_row {
    const char *id, *bookmark;
    unsigned long serial;
};

/* Deletes the row of id, if the store is open (takes wsmd__evs_db_lock). */
void wsmd__evs_store_delete(const char *id);

#endif
