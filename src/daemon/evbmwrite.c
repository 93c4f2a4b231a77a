/* The push delivery's bookmarks, written durably off the delivery's path
 * (docs/internals/eventlog.md "Push deliveries", "The bookmark's write").
 *
 * An acknowledged batch's bookmark is the subscription's at once, in
 * memory; its row is written (SQLite, an fdatasync) by this one thread, so
 * the delivery thread sends the next batch meanwhile instead of waiting a
 * millisecond a batch for the disk. The durable bookmark may therefore lag
 * the acknowledged one -- a crash resends at most the batches after it
 * (at-least-once, as documented) -- but it can never run ahead: only
 * acknowledged bookmarks are queued, and the row's serial guard (serial <=
 * the new one) keeps an older write from replacing a newer.
 *
 * The queue holds one entry per subscription (a newer bookmark replaces
 * the queued one): bounded by the subscriptions, whatever the disk's
 * speed. wsmd__evbm_stop writes what is queued before the store closes,
 * so a clean stop loses nothing and resends nothing. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "evsub.h"

struct entry {
    char *id, *bm;
    unsigned long serial;
    struct entry *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct entry *queue;
static pthread_t thread;
static int running, stopping;

static void *run(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        if (!queue) {
            if (stopping)
                break;
            pthread_cond_wait(&cv, &mu);
            continue;
        }
        struct entry *batch = queue;
        queue = NULL;
        pthread_mutex_unlock(&mu);
        while (batch) {
            struct entry *n = batch->next;
            wsmd__evs_store_bookmark(batch->id, batch->bm, batch->serial);
            free(batch->id);
            free(batch->bm);
            free(batch);
            batch = n;
        }
        pthread_mutex_lock(&mu);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

/* Written now, on the caller's thread: no writer (not started, or out of
 * threads or memory). Slower, never less safe. */
static void write_now(const char *id, char *bm, unsigned long serial)
{
    wsmd__evs_store_bookmark(id, bm, serial);
    free(bm);
}

void wsmd__evbm_put(const char *id, char *bm, unsigned long serial)
{
    pthread_mutex_lock(&mu);
    if (!running && !stopping)
        running = pthread_create(&thread, NULL, run, NULL) == 0;
    if (!running || stopping) {
        pthread_mutex_unlock(&mu);
        write_now(id, bm, serial);
        return;
    }
    for (struct entry *e = queue; e; e = e->next)
        if (!strcmp(e->id, id)) {
            if (serial > e->serial) {
                free(e->bm);
                e->bm = bm;
                e->serial = serial;
            } else {
                free(bm);
            }
            pthread_mutex_unlock(&mu);
            return;
        }
    struct entry *e = calloc(1, sizeof(*e));
    char *idc = e ? strdup(id) : NULL;
    if (!idc) {
        free(e);
        pthread_mutex_unlock(&mu);
        write_now(id, bm, serial);
        return;
    }
    e->id = idc;
    e->bm = bm;
    e->serial = serial;
    e->next = queue;
    queue = e;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

void wsmd__evbm_stop(void)
{
    pthread_mutex_lock(&mu);
    int was = running;
    stopping = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    if (was)
        pthread_join(thread, NULL); /* it writes the queue out first */
    pthread_mutex_lock(&mu);
    running = stopping = 0;
    pthread_mutex_unlock(&mu);
}
