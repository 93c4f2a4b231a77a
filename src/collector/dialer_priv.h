/* Between dialer.c (one source's thread), dialbatch.c (storing what one
 * of its Pulls brought) and dialset.c (the set of dialers a load of the
 * subscription files asks for). */
#ifndef WSMD_COL_DIALER_PRIV_H
#define WSMD_COL_DIALER_PRIV_H

#include <libxml/tree.h>
#include <pthread.h>
#include <time.h>

#include "dialer.h"

/* ms from now on CLOCK_REALTIME (the clock of the dialers' and the
 * claimer's pthread_cond_timedwait). */
static inline struct timespec wsmd__dial_after_ms(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

#define MAX_DIALERS 1000 /* threads of this process */

/* ST_STANDBY: another node holds the claim (dialclaim.c); shown as Inactive. */
enum { ST_TRYING, ST_ACTIVE, ST_INACTIVE, ST_STANDBY };
extern const char *const wsmd__dial_st_names[];

struct dialer {
    struct dialer *next;
    struct wsmd_collector *col;
    struct col_subs *subs; /* held: sub and src point into it */
    const struct wsmd_sub *sub;
    const struct wsmd_sub_source *src;
    char *fp; /* what the source sees and how it is reached: a change restarts it */
    char url[300];
    char who[300]; /* subscription and address, escaped for logs */
    pthread_t thread;
    long long claim_key; /* wsmd__claim_key(sub, address) */
    /* under the dialers' lock */
    int stop, status;
    int claimed; /* this node may dial it: its claim is held, or there is no claimer */
    unsigned failures;
    char last_error[256];
    long long next_try_ms;
};

struct wsmd_dialers {
    struct wsmd_collector *col;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* stop wakes a waiting dialer */
    struct dialer *list;
    size_t n;
    struct wsmd_dial_claimer *claimer; /* shared StateDatabase (dialclaim.c), else NULL */
    int claims_down; /* under lock: WSMD_CLAIMS_UP, _DOWN (no database), _SETTLING (grace) */
};

/* The thread of one dialer (dialer.c). */
void *wsmd__dialer_run(void *arg);
/* ms since the epoch, CLOCK_REALTIME (dialer.c). */
long long wsmd__dial_now_ms(void);
/* Whether this node holds d's claim (dialer.c; takes the dialers' lock). */
int wsmd__dial_claimed(struct wsmd_dialers *ds, struct dialer *d);

/* The events of one Pull, as a w:Events element: the parser of pushed
 * batches (events.c) reads them the same way. */
struct batch {
    xmlDocPtr doc;
    xmlNodePtr events;
    size_t n;
    char *bookmark;
    int nomem;
};

/* wsm_subscription_pull's callback: one event added to the batch ud; 1
 * (stop) when out of memory (dialbatch.c). */
int wsmd__dial_on_event(void *ud, const char *xml, const char *bookmark);
/* The batch written to d's outputs, then its bookmark committed; an error
 * text in err (dialbatch.c). */
enum wsm_err wsmd__dial_store(struct dialer *d, struct batch *b, char *err, size_t errlen);

#endif
