/* Private to the journal reader: what reader.c (a subscription's position
 * and its reads) and hub.c (the sd_journal all readers of one journal
 * share, and its thread) share. See reader.c's top comment for the
 * positions and the owner of a hub's read pointer. */
#ifndef WSMD_EVSRC_READER_PRIV_H
#define WSMD_EVSRC_READER_PRIV_H

#include <pthread.h>

#include "buf.h"
#include "evsrc_priv.h"
#include "sdj_dl.h"

#define MAX_FIELDS 1024 /* per entry; journald's own limit is 1024 too */

enum pos { POS_NONE, POS_PENDING, POS_DONE };

struct hub {
    pthread_mutex_t mu; /* the journal, the scratch, owner, readers */
    struct hub *next;   /* hubs (under hubs_mu) */
    char *dir;          /* NULL: the system journal */
    int refs;           /* under hubs_mu */
    const struct wsmd_sdj *sd;
    sd_journal *j;
    struct wsmd_evreader *owner;
    struct wsmd_evreader *readers; /* list for wake-ups */
    pthread_t thread;
    int stop_fd; /* eventfd: the thread ends */
    /* the current entry's fields, copied */
    struct wsm_buf data;
    size_t *offs, *lens;
    struct wsmd_evfield *f;
};

struct wsmd_evreader {
    struct hub *h;
    struct wsmd_evreader *prev, *next; /* in h->readers */
    const struct wsmd_evq *q;
    int rendered;
    int seqnum_first; /* the query compares EventRecordID */
    enum pos pos;     /* while owner */
    char *done;       /* while not owner: see the top */
    /* While owner and POS_DONE: the cursor of the entry the read pointer is
     * on, when it was read already (for its sequence number). The bookmark
     * after each event and the owner's saved position reuse it: a cursor
     * is an allocation and several hex formattings, and the push
     * deliveries ask for one per event. NULL: not read yet. */
    char *cur;
    int streak; /* the last call returned an event */
    int efd;
    char computer[256];
    char last_chan[WSMD_EVCHAN_NAME_MAX];
};

/* One count added to an eventfd: its reader, or a hub's thread, wakes
 * (hub.c). */
void wsmd__evr_wake(int fd);
/* The hub of dir (NULL: the system journal), made on first use, with a
 * reference; wsmd__evr_hub_put drops it, the last one ends the hub's
 * thread and closes its journal (hub.c). */
enum wsm_err wsmd__evr_hub_get(const char *dir, struct hub **out);
void wsmd__evr_hub_put(struct hub *h);
/* Hub locked: the owner's position kept as a cursor before another
 * reader, or the hub's thread, moves the read pointer (reader.c). */
enum wsm_err wsmd__evr_save_owner(struct hub *h);

#endif
