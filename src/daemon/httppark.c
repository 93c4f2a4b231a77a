/* HTTP front end, long polls: requests parked (suspended) while their
 * handler waits, the watcher that ends those whose client hung up
 * (parkwatch.c), shutdown's wake-up of every parked request, and the
 * settling of a reply that handed over shell output (delivered only once
 * the client's TCP acknowledged it). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "http_priv.h"
#include "log.h"
#include "parkwatch.h"

void wsmd__http_park_add(struct wsmd_server *srv, struct req *r)
{
    struct wsmd_parked *p = srv->parked;
    pthread_mutex_lock(&p->lock);
    r->watch_id = ++p->next_id;
    r->watch_fd = -1;
    r->prev = NULL;
    r->next = p->head;
    if (p->head)
        p->head->prev = r;
    p->head = r;
    p->count++;
    pthread_mutex_unlock(&p->lock);
}

void wsmd__http_park_del(struct wsmd_server *srv, struct req *r)
{
    struct wsmd_parked *p = srv->parked;
    pthread_mutex_lock(&p->lock);
    if (r->prev)
        r->prev->next = r->next;
    else if (p->head == r)
        p->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    p->count--;
    if (r->watch_fd >= 0 && p->watch)
        wsmd__parkwatch_del(p->watch, r->watch_fd);
    r->watch_fd = -1;
    pthread_mutex_unlock(&p->lock);
}

/* The wait is registered (park returned its token): from now on the wait
 * can be cancelled, by shutdown or by the client going away. Nothing else
 * runs for this connection meanwhile (it is handled by our thread only,
 * which is here), so r is stable; a wake that already fired just makes the
 * cancel below return 0. */
void wsmd__http_park_arm(struct wsmd_server *srv, struct req *r, struct MHD_Connection *c,
                         unsigned long token, int (*unpark)(struct wsmd_server *, unsigned long))
{
    struct wsmd_parked *p = srv->parked;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    pthread_mutex_lock(&p->lock);
    r->token = token;
    r->unpark = unpark;
    if (p->quiescing) {
        /* A request that came (a client polling in a loop) after shutdown
         * woke the parked ones: suspended, it would outlive the listeners
         * (libmicrohttpd aborts on that). Answered now, as they were. */
        r->shutdown = 1;
        if (unpark && unpark(srv, token) == 1)
            MHD_resume_connection(c);
    } else if (p->watch && ci && wsmd__parkwatch_add(p->watch, ci->connect_fd, r->watch_id) == 0) {
        r->watch_fd = ci->connect_fd;
    }
    pthread_mutex_unlock(&p->lock);
}

/* The watcher saw the socket of parked request id hang up: cancel its wait
 * and resume it; it is then closed without running its handler (so no
 * output is taken for a client that is not there). */
void wsmd__http_park_gone(void *ctx, uint64_t id)
{
    struct wsmd_server *srv = ctx;
    struct wsmd_parked *p = srv->parked;
    pthread_mutex_lock(&p->lock);
    struct req *r = p->head;
    while (r && r->watch_id != id)
        r = r->next;
    if (r && !r->gone) {
        r->gone = 1;
        /* 0: the wake has run (or shutdown cancelled it): resumed anyway. */
        if (r->unpark && r->unpark(srv, r->token) == 1)
            MHD_resume_connection(r->conn);
    }
    pthread_mutex_unlock(&p->lock);
}

/* Has the peer closed or reset (checked again when a parked request
 * resumes, for a hang-up the watcher has not handled yet)? */
int wsmd__http_peer_closed(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return 0;
    char b;
    ssize_t n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

void wsmd__http_wake(void *arg)
{
    struct req *r = arg;
    MHD_resume_connection(r->conn);
}

/* A parked request whose client went away: its wait is released (it may
 * hold something the handler took while it waited) and nothing answers. */
void wsmd__http_abandoned(struct MHD_Connection *c, struct req *r)
{
    if (r->unpark)
        r->unpark(r->srv, r->token);
    char peer[80];
    wsmd__http_peer(c, peer, sizeof(peer));
    wsmd__log("event=poll-abandoned peer=%s user=%s action=%s", peer, r->user[0] ? r->user : "-",
              r->action[0] ? r->action : "-");
}

void wsmd__http_settle(struct MHD_Connection *c, struct req *r, int ok)
{
    /* Written whole is not received: delivered once the client's TCP
     * has acknowledged it all (parkwatch.c, drains). */
    struct wsmd_parked *p = r->srv->parked;
    struct wsmd_drain *d = NULL;
    pthread_mutex_lock(&p->lock); /* p->watch goes at shutdown */
    if (ok && p->watch) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        d = ci ? wsmd__drain_new(ci->connect_fd, r->settle, r->settle_arg) : NULL;
        if (d) {
            if (r->settle_probe)
                r->settle_probe(r->settle_arg, wsmd__drain_probe, d);
            wsmd__parkwatch_drain(p->watch, d);
        }
    }
    pthread_mutex_unlock(&p->lock);
    if (!d)
        r->settle(r->settle_arg, ok);
}

/* Shutdown: every parked request is woken and answered (a fault) rather
 * than left to its deadline. */
void wsmd__http_quiesce(struct wsmd_server *srv)
{
    struct wsmd_parked *p = srv->parked;
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->quiescing = 1;
    for (struct req *r = p->head; r; r = r->next) {
        r->shutdown = 1;
        if (r->unpark && r->unpark(srv, r->token) == 1)
            MHD_resume_connection(r->conn); /* cancelled: resume it ourselves */
    }
    pthread_mutex_unlock(&p->lock);
    /* Give the resumed requests a moment to answer. */
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&p->lock);
        size_t n = p->count;
        pthread_mutex_unlock(&p->lock);
        if (!n)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}
