/* libwsm client, WinRS: Receive ahead, the next replies fetched on
 * connections of their own while the caller consumes the current one. */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "buf.h"
#include "client_internal.h"
#include "envelope.h"
#include "ns.h"
#include "xmlctxt.h"
#include "uuid.h"
#include "wsm/wsm.h"
#include "shell_client_priv.h"

/* ---- Receive ahead -----------------------------------------------------
 *
 * With "ReceiveAhead", once a Receive reply says the command still runs,
 * a thread with a connection of its own sends the next Receive as soon as
 * that reply is in -- and the one after as soon as a slot is free -- while
 * the caller parses, decodes and writes. Each Receive is sent only after
 * the previous reply has fully arrived, so the service sees them in order
 * and the output stays in order. The fetchers stop after a reply that
 * looks final (CommandState Done), after any non-200 reply and after a
 * transport error; the caller consumes every fetched reply in order.
 *
 * When bodies are sealed (Negotiate over http://), unsealing a reply costs
 * about as much as the service's sealing of it, and a context is one
 * connection's: so two fetchers, each with its own connection and its own
 * security context (authenticated by its first request), take turns. The
 * next Receive goes out on the other connection as soon as a reply's
 * sealed bytes are in (a large one: a small one may be the last, and is
 * looked at first), while its own fetcher unseals it. */

struct slot {
    struct wsm_buf body;
    long status;
    enum wsm_err err; /* transport error (error says what) */
    char error[256];
    char msgid[WSM_UUID_STRLEN];
    int filled; /* a reply (or error) waits here for the caller */
};

struct ahead;

struct fetcher {
    struct ahead *a;
    struct wsm_conn *conn;
    pthread_t th;
    int running;   /* th not joined yet */
    int in_flight; /* a Receive is on its way on conn */
    unsigned long seq;
    int passed; /* the next Receive may go (on the other connection) */
};

struct ahead {
    wsm_shell *sh;
    char *cid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int nf;             /* fetchers in use: 1, or 2 when bodies are sealed */
    int stop;           /* the caller wants the threads to end */
    int halt;           /* no more Receives are sent */
    int claimed;        /* a fetcher is sending Receive number next */
    int pending;        /* Receives sent (or being sent) whose slot is not filled yet */
    unsigned long next; /* the number of the next Receive to send */
    unsigned long rd;   /* the number of the reply the caller takes next */
    struct fetcher f[2];
    struct slot slot[AHEAD_SLOTS];
};

/* Whether a reply says the command is done: only a hint (a wrong guess
 * costs a round trip, never correctness). The service writes CommandState
 * after the streams; a quote cannot occur in base64 text. */
static int looks_done(const struct wsm_buf *b)
{
    static const char pat[] = "CommandState/Done\"";
    size_t n = b->len < 4096 ? b->len : 4096;
    return b->data && memmem(b->data + b->len - n, n, pat, sizeof(pat) - 1) != NULL;
}

/* The reply's bytes are in: with two fetchers, a large 200 lets the other
 * send the next Receive now, before this one is unsealed. */
static void ahead_arrived(void *ud, long status, size_t len)
{
    struct fetcher *f = ud;
    struct ahead *a = f->a;
    if (a->nf < 2 || status != 200 || len < AHEAD_MIN(a->sh))
        return;
    pthread_mutex_lock(&a->mu);
    f->passed = 1;
    a->next = f->seq + 1;
    a->claimed = 0;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

static void *ahead_main(void *arg)
{
    struct fetcher *f = arg;
    struct ahead *a = f->a;
    wsm_session *s = a->sh->s;
    struct wsm_buf req;
    wsm__buf_init(&req, 0);
    for (;;) {
        pthread_mutex_lock(&a->mu);
        while (!a->stop && !a->halt && (a->claimed || a->next >= a->rd + AHEAD_SLOTS))
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->stop || a->halt) {
            pthread_mutex_unlock(&a->mu);
            break;
        }
        f->seq = a->next;
        f->passed = 0;
        f->in_flight = 1;
        a->claimed = 1;
        a->pending++;
        pthread_mutex_unlock(&a->mu);
        struct slot *sl = &a->slot[f->seq % AHEAD_SLOTS];
        wsm__uuid_urn(sl->msgid);
        wsm__buf_reset(&req);
        enum wsm_err e;
        wsm__shell_build_receive(&req, s, a->sh->id, a->cid, sl->msgid, &e);
        sl->error[0] = '\0';
        sl->status = 0;
        wsm__buf_reset(&sl->body);
        if (e) {
            snprintf(sl->error, sizeof(sl->error), "cannot build the request: %s", wsm_strerror(e));
        } else {
            struct wsm_arrived ar = {ahead_arrived, f};
            e = wsm__conn_post_notify(s, f->conn, req.data, req.len, 0, &sl->body, &sl->status,
                                      sl->error, sizeof(sl->error), &ar);
        }
        sl->err = e;
        int last = e || sl->status != 200 || looks_done(&sl->body);
        pthread_mutex_lock(&a->mu);
        f->in_flight = 0;
        sl->filled = 1;
        a->pending--;
        if (last)
            a->halt = 1;
        else if (!f->passed) {
            a->next = f->seq + 1;
            a->claimed = 0;
        }
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
        if (last)
            break;
    }
    wsm__buf_free(&req);
    return NULL;
}

/* Ends the fetchers (aborting a Receive in flight) and waits for them. */
static void ahead_stop(wsm_shell *sh)
{
    struct ahead *a = sh->ahead;
    if (!a)
        return;
    int abort[2] = {0, 0};
    pthread_mutex_lock(&a->mu);
    a->stop = 1;
    for (int i = 0; i < a->nf; i++)
        abort[i] = a->f[i].running && a->f[i].in_flight;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    for (int i = 0; i < a->nf; i++)
        if (abort[i])
            wsm__conn_abort(a->f[i].conn);
    for (int i = 0; i < a->nf; i++) {
        struct fetcher *f = &a->f[i];
        if (f->running)
            pthread_join(f->th, NULL);
        f->running = 0;
        if (abort[i]) { /* an aborted connection is not used again */
            wsm__conn_free(f->conn);
            f->conn = NULL;
        }
    }
    free(a->cid);
    a->cid = NULL;
}

static int ahead_running(const struct ahead *a)
{
    return a && a->cid;
}

void wsm__shell_ahead_free(wsm_shell *sh)
{
    struct ahead *a = sh->ahead;
    if (!a)
        return;
    ahead_stop(sh);
    for (int i = 0; i < 2; i++)
        wsm__conn_free(a->f[i].conn);
    for (int i = 0; i < AHEAD_SLOTS; i++)
        wsm__buf_free(&a->slot[i].body);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a);
    sh->ahead = NULL;
}

/* Starts fetching ahead for command_id; on any failure the caller simply
 * goes on with one Receive at a time. */
void wsm__shell_ahead_start(wsm_shell *sh, const char *command_id)
{
    struct ahead *a = sh->ahead;
    if (!a) {
        if (!(a = calloc(1, sizeof(*a))))
            return;
        if (pthread_mutex_init(&a->mu, NULL) != 0) {
            free(a);
            return;
        }
        if (pthread_cond_init(&a->cv, NULL) != 0) {
            pthread_mutex_destroy(&a->mu);
            free(a);
            return;
        }
        a->sh = sh;
        a->f[0].a = a->f[1].a = a;
        sh->ahead = a;
    }
    int nf = wsm__session_seals(sh->s) ? 2 : 1;
    for (int i = 0; i < nf; i++)
        if (!a->f[i].conn && wsm__conn_new(sh->s, &a->f[i].conn) != WSM_OK)
            return;
    if (!(a->cid = strdup(command_id)))
        return;
    for (int i = 0; i < AHEAD_SLOTS; i++) {
        wsm__buf_reset(&a->slot[i].body);
        a->slot[i].body.cap = wsm__shell_receive_cap(sh->s);
        a->slot[i].filled = 0;
    }
    a->nf = nf;
    a->stop = a->halt = a->claimed = a->pending = 0;
    a->next = a->rd = 0;
    for (int i = 0; i < nf; i++) {
        a->f[i].in_flight = 0;
        if (pthread_create(&a->f[i].th, NULL, ahead_main, &a->f[i]) != 0)
            break;
        a->f[i].running = 1;
    }
    if (!a->f[0].running) {
        free(a->cid);
        a->cid = NULL;
    }
}

/* The next reply fetched ahead for command_id, if the fetchers run for it:
 * 1 with *e its result (the fetchers stop after the last), 0 when the
 * caller sends the Receive itself. */
int wsm__shell_ahead_take(wsm_shell *sh, const char *command_id, struct wsm_receive *r,
                          enum wsm_err *e)
{
    wsm_session *s = sh->s;
    struct ahead *a = sh->ahead;
    if (ahead_running(a) && strcasecmp(a->cid, command_id) != 0)
        ahead_stop(sh);
    if (!ahead_running(a))
        return 0;
    struct slot *sl = &a->slot[a->rd % AHEAD_SLOTS];
    pthread_mutex_lock(&a->mu);
    while (!sl->filled && !(a->halt && a->pending == 0))
        pthread_cond_wait(&a->cv, &a->mu);
    int have = sl->filled;
    pthread_mutex_unlock(&a->mu);
    if (!have) {
        ahead_stop(sh); /* it ended with nothing more: one at a time again */
        return 0;
    }
    if (sl->err) {
        wsm__session_errorf(s, "%s", sl->error);
        *e = sl->err;
    } else {
        *e = wsm__shell_receive_reply(sh, command_id, r, &sl->body, sl->status, sl->msgid);
    }
    pthread_mutex_lock(&a->mu);
    sl->filled = 0;
    a->rd++;
    int drained = a->halt && a->pending == 0 && !a->slot[a->rd % AHEAD_SLOTS].filled;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    if (*e || r->done || drained)
        ahead_stop(sh);
    return 1;
}
