/* Password checks off the HTTP workers: a verification that misses the
 * credential cache (yescrypt, or PAM: 50-100 ms of CPU each) runs on a
 * small pool of its own while the connection is suspended, so that a
 * worker thread, and every connection it serves, never waits behind
 * someone's guess. The queue is bounded in total and per client address:
 * beyond it an attempt is refused at once (503, Retry-After). */
#ifndef WSMD_AUTHQ_H
#define WSMD_AUTHQ_H

#include <stddef.h>

#include "userfile.h"
#include "wsm/wsm.h"

struct wsmd_auth;
struct wsmd_authq;

struct wsmd_authq_job {
    char user[WSMD_MAX_USER];
    char pass[WSMD_MAX_PASSWORD]; /* zeroed once checked */
    char addr[64];
    enum wsm_err result;
    const char *why;
    /* Called on a pool thread once result is set; the job is not touched
     * by the pool afterwards. */
    void (*done)(void *arg);
    void *arg;
    struct wsmd_authq_job *next;
};

/* Limits of the queue (jobs waiting or being checked). */
#define WSMD_AUTHQ_MAX_JOBS 64
#define WSMD_AUTHQ_MAX_PER_ADDRESS 16

enum wsm_err wsmd__authq_new(struct wsmd_auth *auth, unsigned threads, struct wsmd_authq **out);
/* WSM_OK: queued (done will be called); WSM_ERR_QUOTA: the queue, or this
 * address's share of it, is full; WSM_ERR_INVALID_ARG: stopping. */
enum wsm_err wsmd__authq_submit(struct wsmd_authq *q, struct wsmd_authq_job *job);
/* Finishes the queued jobs (their done is called), refuses new ones and
 * joins the threads. */
void wsmd__authq_stop(struct wsmd_authq *q);
void wsmd__authq_free(struct wsmd_authq *q);

#endif
