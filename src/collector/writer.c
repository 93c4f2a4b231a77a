/* The collector's writers: a delivery's durable part (outputs written and
 * synced, then the state committed) runs on a small pool of threads while
 * the request waits parked, holding no HTTP worker (server.h: park). The
 * HTTP workers are as many as the cores, for CPU work; a batch's syncs take
 * milliseconds of waiting each, and with the workers blocked in them, two
 * sources at a time would be all the collector could serve. Parked, every
 * source's batch is in flight at once, and the outputs' and the state's
 * group commits make one sync of many batches.
 *
 * A job lives from the handler's first run to its second (resumed) run,
 * which takes its result and frees it. When the request goes away while
 * the job runs (the client hangs up, shutdown), unpark waits for the job
 * to finish, since it reads the request's parsed envelope, and frees it:
 * events a client no longer waits for may be written (it sends them again:
 * a duplicate, never a loss). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "collector_priv.h"
#include "writer.h"

#define WRITERS 8

enum { JOB_QUEUED, JOB_DONE };

struct wsmd_col_writers {
    struct wsmd_collector *col;
    pthread_mutex_t lock;
    pthread_cond_t work, done;
    struct col_job *head, *tail; /* queued */
    struct col_job *jobs;        /* every job not yet taken back (by id) */
    unsigned long next_id;
    int stop;
    pthread_t threads[WRITERS];
    int nthreads;
};

static void run_job(struct wsmd_collector *col, struct col_job *j)
{
    /* A shared database known to be away: refused before the outputs, so
     * each retry of the source during the outage is not one more copy. */
    if (!wsmd__state_ready(col->state)) {
        j->out_err = WSM_OK;
        j->state_err = WSM_ERR_IO;
        return;
    }
    j->out_err =
        j->n ? wsmd__outputs_write(col->outputs, j->outputs, j->log_file, j->ev, j->n, &j->meta)
             : WSM_OK;
    /* The bookmark only once the events are safe. */
    j->state_err = j->out_err ? WSM_OK : wsmd__state_commit(col->state, &j->update);
}

static void *writer(void *arg)
{
    struct wsmd_col_writers *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->head && !w->stop)
            pthread_cond_wait(&w->work, &w->lock);
        if (!w->head)
            break;
        struct col_job *j = w->head;
        w->head = j->qnext;
        if (!w->head)
            w->tail = NULL;
        pthread_mutex_unlock(&w->lock);
        run_job(w->col, j);
        pthread_mutex_lock(&w->lock);
        j->state = JOB_DONE;
        wsmd_wake_fn wake = j->cancelled ? NULL : j->wake;
        void *warg = j->wake_arg;
        pthread_cond_broadcast(&w->done);
        pthread_mutex_unlock(&w->lock);
        if (wake)
            wake(warg); /* MHD_resume_connection: any thread may */
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

enum wsm_err wsmd__col_writers_start(struct wsmd_collector *col, struct wsmd_col_writers **out)
{
    struct wsmd_col_writers *w = calloc(1, sizeof(*w));
    if (!w)
        return WSM_ERR_NOMEM;
    w->col = col;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->work, NULL);
    pthread_cond_init(&w->done, NULL);
    for (; w->nthreads < WRITERS; w->nthreads++)
        if (pthread_create(&w->threads[w->nthreads], NULL, writer, w) != 0)
            break;
    if (w->nthreads == 0) {
        free(w);
        return WSM_ERR_INTERNAL;
    }
    *out = w;
    return WSM_OK;
}

void wsmd__col_writers_stop(struct wsmd_col_writers *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = 1; /* the queue is drained first: every parked request gets its answer */
    pthread_cond_broadcast(&w->work);
    pthread_mutex_unlock(&w->lock);
    for (int i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    while (w->jobs) {
        struct col_job *j = w->jobs;
        w->jobs = j->next;
        wsmd__col_job_free(j);
    }
    pthread_cond_destroy(&w->work);
    pthread_cond_destroy(&w->done);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

/* The HTTP layer's park: queue the job; wake(arg) resumes the request. */
static enum wsm_err park(struct wsmd_call *call, wsmd_wake_fn wake, void *arg, unsigned long *token)
{
    struct wsmd_col_writers *w = call->srv->collector->writers;
    struct col_job *j = call->resume_ctx;
    pthread_mutex_lock(&w->lock);
    j->id = ++w->next_id;
    j->wake = wake;
    j->wake_arg = arg;
    j->state = JOB_QUEUED;
    j->next = w->jobs;
    w->jobs = j;
    j->qnext = NULL;
    if (w->tail)
        w->tail->qnext = j;
    else
        w->head = j;
    w->tail = j;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->lock);
    *token = j->id;
    call->resume_ctx = (void *)(uintptr_t)j->id; /* by id from now on: unpark may free it */
    return WSM_OK;
}

/* Takes job id out of the table (NULL: gone). */
static struct col_job *take(struct wsmd_col_writers *w, unsigned long id)
{
    for (struct col_job **pp = &w->jobs; *pp; pp = &(*pp)->next)
        if ((*pp)->id == id) {
            struct col_job *j = *pp;
            *pp = j->next;
            return j;
        }
    return NULL;
}

static int unpark(struct wsmd_server *srv, unsigned long token)
{
    struct wsmd_col_writers *w = srv->collector->writers;
    pthread_mutex_lock(&w->lock);
    struct col_job *j = NULL;
    for (j = w->jobs; j && j->id != token; j = j->next)
        ;
    if (!j) {
        pthread_mutex_unlock(&w->lock);
        return 0;
    }
    int cancelled = j->state != JOB_DONE;
    j->cancelled = 1;
    while (j->state != JOB_DONE)
        pthread_cond_wait(&w->done, &w->lock); /* it reads the request's envelope */
    take(w, token);
    pthread_mutex_unlock(&w->lock);
    wsmd__col_job_free(j);
    return cancelled; /* 1: the wake will not come */
}

void wsmd__col_job_submit(struct wsmd_call *call, struct col_job *j)
{
    call->resume_ctx = j;
    call->park = park;
    call->unpark = unpark;
}

struct col_job *wsmd__col_job_resumed(struct wsmd_call *call)
{
    struct wsmd_col_writers *w = call->srv->collector->writers;
    unsigned long id = (unsigned long)(uintptr_t)call->resume_ctx;
    pthread_mutex_lock(&w->lock);
    struct col_job *j = take(w, id);
    if (j && j->state != JOB_DONE) {
        /* Resumed early (shutdown): wait; it will not wake us again. */
        j->cancelled = 1;
        while (j->state != JOB_DONE)
            pthread_cond_wait(&w->done, &w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return j;
}

void wsmd__col_job_free(struct col_job *j)
{
    if (!j)
        return;
    wsmd__col_subs_put(j->subs);
    free(j->bookmark);
    free(j);
}
