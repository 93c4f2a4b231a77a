/* The collector's writer pool (writer.c): a delivery's durable part runs
 * there while its request waits parked. */
#ifndef WSMD_COL_WRITER_H
#define WSMD_COL_WRITER_H

#include "collector_priv.h"
#include "server.h"

/* One delivery's durable part and, once done, its result. */
struct col_job {
    unsigned long id;
    struct col_job *next;  /* in the table of jobs not yet taken back */
    struct col_job *qnext; /* in the queue */
    int state, cancelled;
    wsmd_wake_fn wake;
    void *wake_arg;
    /* What to write: events and strings live in the request's envelope and
     * req, which stay until the job is done (unpark waits for it). */
    struct col_subs *subs; /* held: sub points into it */
    const struct wsmd_sub *sub;
    unsigned outputs;
    const char *log_file;
    const struct wsmd_event *ev;
    size_t n;
    struct wsmd_event_meta meta;
    struct wsmd_state_update update;
    char *bookmark;
    char addr[64];
    char who[256];
    char received[64];
    char principal[256];
    long long t0_ms;
    int kind; /* enum col_job_kind */
    enum wsm_err out_err, state_err;
    unsigned long long bytes, bad, mismatch;
};

enum col_job_kind { COL_JOB_EVENTS, COL_JOB_HEARTBEAT, COL_JOB_END };

enum wsm_err wsmd__col_writers_start(struct wsmd_collector *col, struct wsmd_col_writers **out);
/* Runs what is queued, then stops. After the listeners stopped. */
void wsmd__col_writers_stop(struct wsmd_col_writers *w);

/* The handler's first run: j is queued once the HTTP layer parks the
 * request, and the handler runs again when it is done. */
void wsmd__col_job_submit(struct wsmd_call *call, struct col_job *j);
/* The handler's second run: its job, done (NULL: cancelled meanwhile). */
struct col_job *wsmd__col_job_resumed(struct wsmd_call *call);
void wsmd__col_job_free(struct col_job *j);

#endif
