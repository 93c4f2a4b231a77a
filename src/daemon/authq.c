#include "authq.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

#define MAX_THREADS 8

struct wsmd_authq {
    struct wsmd_auth *auth;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct wsmd_authq_job *head, *tail;
    /* Jobs accepted and not yet done, for the limits (queued + running);
     * running ones are listed in busy[] so that their address counts. */
    size_t pending;
    struct wsmd_authq_job *busy[MAX_THREADS];
    int stopping;
    pthread_t threads[MAX_THREADS];
    unsigned nthreads;
};

static void *worker(void *arg)
{
    struct wsmd_authq *q = arg;
    unsigned me = 0;
    pthread_mutex_lock(&q->lock);
    while (me < q->nthreads && !pthread_equal(q->threads[me], pthread_self()))
        me++;
    for (;;) {
        while (!q->head && !q->stopping)
            pthread_cond_wait(&q->cond, &q->lock);
        struct wsmd_authq_job *j = q->head;
        if (!j)
            break; /* stopping, and nothing left */
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
        if (me < MAX_THREADS)
            q->busy[me] = j;
        pthread_mutex_unlock(&q->lock);

        j->result = wsmd__auth_verify(q->auth, j->user, j->pass, &j->why);
        explicit_bzero(j->pass, sizeof(j->pass));

        pthread_mutex_lock(&q->lock);
        if (me < MAX_THREADS)
            q->busy[me] = NULL;
        q->pending--;
        pthread_mutex_unlock(&q->lock);
        j->done(j->arg); /* may free j: not touched after */
        pthread_mutex_lock(&q->lock);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

enum wsm_err wsmd__authq_new(struct wsmd_auth *auth, unsigned threads, struct wsmd_authq **out)
{
    struct wsmd_authq *q = calloc(1, sizeof(*q));
    if (!q)
        return WSM_ERR_NOMEM;
    q->auth = auth;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    if (threads < 1)
        threads = 1;
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    /* Started under the lock: each worker finds its own index once it
     * can take the lock, after every pthread_create has returned. */
    pthread_mutex_lock(&q->lock);
    for (unsigned i = 0; i < threads; i++) {
        if (pthread_create(&q->threads[i], NULL, worker, q) != 0)
            break;
        q->nthreads++;
    }
    pthread_mutex_unlock(&q->lock);
    if (!q->nthreads) {
        wsmd__authq_free(q);
        return WSM_ERR_INTERNAL;
    }
    *out = q;
    return WSM_OK;
}

static size_t from_addr(struct wsmd_authq *q, const char *addr)
{
    size_t n = 0;
    for (struct wsmd_authq_job *j = q->head; j; j = j->next)
        n += strcmp(j->addr, addr) == 0;
    for (unsigned i = 0; i < q->nthreads; i++)
        n += q->busy[i] && strcmp(q->busy[i]->addr, addr) == 0;
    return n;
}

enum wsm_err wsmd__authq_submit(struct wsmd_authq *q, struct wsmd_authq_job *job)
{
    enum wsm_err e = WSM_OK;
    pthread_mutex_lock(&q->lock);
    if (q->stopping)
        e = WSM_ERR_INVALID_ARG;
    else if (q->pending >= WSMD_AUTHQ_MAX_JOBS ||
             from_addr(q, job->addr) >= WSMD_AUTHQ_MAX_PER_ADDRESS)
        e = WSM_ERR_QUOTA;
    if (!e) {
        job->next = NULL;
        if (q->tail)
            q->tail->next = job;
        else
            q->head = job;
        q->tail = job;
        q->pending++;
        pthread_cond_signal(&q->cond);
    }
    pthread_mutex_unlock(&q->lock);
    return e;
}

void wsmd__authq_stop(struct wsmd_authq *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    int was = q->stopping;
    q->stopping = 1;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
    if (was)
        return;
    for (unsigned i = 0; i < q->nthreads; i++)
        pthread_join(q->threads[i], NULL);
    q->nthreads = 0;
}

void wsmd__authq_free(struct wsmd_authq *q)
{
    if (!q)
        return;
    wsmd__authq_stop(q);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
    free(q);
}
