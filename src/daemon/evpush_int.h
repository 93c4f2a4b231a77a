/* What the push delivery's files share (evpushsend.c: the threads and
 * their schedule; evpushbatch.c: building a batch from the journal;
 * evpushpost.c: sending it and the subscription's bookmark): one pusher a
 * push subscription, owned by the delivery threads. Private to those
 * three files; the rest of the daemon sees evpush.h. */
#ifndef WSMD_EVPUSH_INT_H
#define WSMD_EVPUSH_INT_H

#include <stdint.h>

#include "client_internal.h"
#include "evpush.h"

#define WSMAN_URI "http://schemas.dmtf.org/wbem/wsman/1/wsman/"

struct pusher {
    char id[WSM_UUID_STRLEN];
    char owner[WSMD_MAX_USER];
    struct wsmd_evpush_cfg c;
    int send_bookmarks;
    long heartbeat_ms;
    wsm_session *sess;
    wsm_session *live; /* the session of the message in flight (under mu) */
    /* <w:Event> elements (Events) or the one event. Kept between batches
     * only while the subscription is busy (the last batch went out full):
     * a subscription that trickles holds no buffer between its batches. */
    struct wsm_buf batch;
    unsigned long n;      /* events in batch */
    struct wsm_buf bm;    /* the bookmark after the batch's last event ("": none) */
    struct wsm_buf spare; /* a full batch's buffer, reused for the one read ahead */
    int ahead;            /* reading ahead (under mu): 1 wanted, 2 being read, 3 read */
    int busy_sender;      /* the last batch went out full: more are coming */
    int reopen;           /* the reader read an event the batch lost: reopen after the Ack */
    int full;             /* an event waits (s->pending) that did not fit */
    long long first_ms;   /* when the batch's first event was read */
    long long last_ms;    /* the last message the subscriber acknowledged */
    long long due_ms;     /* the next look */
    long long retry_ms;   /* after a failure: no look before (ConnectionRetry) */
    unsigned long failures;
    char why[160]; /* why the last session could not be made */
    int running, gone;
    int woken;    /* its descriptor fired while a step ran */
    int wfd;      /* a dup of the reader's descriptor, in the epoll set; -1 */
    uint64_t key; /* names it in the epoll set (never a pointer) */
    struct pusher *next;
};

/* evpushsend.c */
long long wsmd__evpush_now_ms(void);
const struct wsmd_config *wsmd__evpush_server_cfg(void); /* NULL before init */
void wsmd__evpush_arm(struct pusher *p, int rfd);
void wsmd__evpush_set_live(struct pusher *p, wsm_session *s);

/* evpushbatch.c */
int wsmd__evpush_gather(struct pusher *p);

/* evpushpost.c */
enum wsm_err wsmd__evpush_post(struct pusher *p, const char *to, const char *refs,
                               struct wsm_buf *b, const char *action, const char *wrap_open,
                               const char *body, size_t len, const char *wrap_close, const char *bm,
                               int ack);
void wsmd__evpush_commit(struct pusher *p, char *bm);
void wsmd__evpush_end(struct pusher *p, struct wsm_buf *b, const char *why);

#endif
