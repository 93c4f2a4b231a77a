/* The forwarder at run time (docs/internals/forwarder.md): one thread per
 * collector (EventForwarding value) in the unprivileged network process.
 * Each Refresh it enumerates the collector's subscription manager and
 * follows what it is handed: a journal reader per subscription (the
 * subscription's query, from our durable bookmark, else the collector's,
 * else as the Subscribe says), batches in Events mode, one batch in flight
 * per subscription, resent until Acked, the bookmark stored only then. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client_internal.h"
#include "envelope.h"
#include "evsrc.h"
#include "forwarder.h"
#include "fwd_priv.h"
#include "log.h"
#include "server.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 60000
#define MAX_SUBS_PER_COLLECTOR 64
#define DEFAULT_MAX_ENVELOPE 512000

struct fsub {
    struct wsmd_fwdsub s;
    int seen;          /* in the last Enumerate */
    wsm_session *sess; /* to NotifyTo */
    struct wsmd_evq *q;
    struct wsmd_evreader *r;
    char state_name[40]; /* its bookmark file */
    struct wsm_buf cur;  /* events read, not yet in a batch */
    size_t ncur;
    long long first_ms; /* when cur got its first event */
    /* The batch in flight: sent until Acked. */
    struct wsm_buf body; /* encoded for the wire; len 0: none */
    char msgid[64];
    char *bookmark; /* the position after it */
    size_t nbatch;
    int heartbeat;
    long long retry_ms, backoff_ms;
    long long last_sent_ms;
    unsigned long failures; /* sends in a row without an Ack */
    long long first_fail_ms;
    int state; /* enum delivery_state: logged when it changes */
};

/* Where a subscription's deliveries stand, as Windows' Eventlog-
 * ForwardingPlugin reports it (event 105 when the collector cannot be
 * reached, and again when it can): retrying within the Subscribe's
 * ConnectionRetry, then backing off to the Refresh interval. */
enum delivery_state { DELIVERING, RETRYING, BACKOFF };
static const char *const state_names[] = {"delivering", "retrying", "backoff"};

struct fwd_run {
    struct wsmd_forwarder *fw;
    const struct wsmd_fwd_target *t;
    size_t index;
    pthread_t th;
    int started;
    struct fsub *subs[MAX_SUBS_PER_COLLECTOR];
    size_t nsubs;
    wsm_session *mgr;
    long long next_enum_ms;
    long long enum_backoff_ms;
};

/* ---- one subscription --------------------------------------------------- */

static void fsub_free(struct fsub *f)
{
    if (!f)
        return;
    wsmd__evr_close(f->r);
    wsmd__evq_free(f->q);
    wsm_session_free(f->sess);
    wsm__buf_free(&f->cur);
    wsm__buf_free(&f->body);
    free(f->bookmark);
    wsmd__fwdsub_clear(&f->s);
    free(f);
}

static const char *sub_name(const struct wsmd_fwdsub *s)
{
    return s->name ? s->name : s->notify_to;
}

/* Follows a subscription: takes s (moved into the new fsub). */
static struct fsub *fsub_open(struct fwd_run *run, struct wsmd_fwdsub *s)
{
    struct wsmd_forwarder *fw = run->fw;
    struct fsub *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->s = *s;
    memset(s, 0, sizeof(*s));
    wsm__buf_init(&f->cur, 0);
    wsm__buf_init(&f->body, 0);
    f->seen = 1;
    f->last_sent_ms = wsmd__fwd_now_ms();
    wsmd__fwd_state_name(run->t->url, sub_name(&f->s), f->state_name);
    char why[256] = "";
    enum wsm_err e = wsmd__evq_compile(f->s.query, strlen(f->s.query), &f->q, why, sizeof(why));
    if (e) {
        wsmd__log("event=forwarder-subscription-refused collector=\"%s\" subscription=\"%s\" "
                  "reason=\"%s\"",
                  run->t->url, sub_name(&f->s), why);
        fsub_free(f);
        return NULL;
    }
    /* Where to start: our own bookmark (what the collector last Acked),
     * else the collector's, else the Subscribe's ReadExistingEvents, else
     * new events only. */
    char *mine = wsmd__fwd_state_load(fw->cfg, f->state_name);
    const char *from = "now";
    struct wsmd_evreader_opts o = {
        .query = f->q, .rendered = f->s.rendered, .journal_dir = fw->srv->cfg.journal_dir};
    e = WSM_ERR_INVALID_ARG;
    if (mine) {
        o.start = WSMD_EV_FROM_BOOKMARK;
        o.bookmark = mine;
        o.bookmark_len = strlen(mine);
        if (!(e = wsmd__evr_open(&o, &f->r)))
            from = "local-bookmark";
    }
    if (e == WSM_ERR_INVALID_ARG && f->s.bookmark) {
        o.start = WSMD_EV_FROM_BOOKMARK;
        o.bookmark = f->s.bookmark;
        o.bookmark_len = strlen(f->s.bookmark);
        if (!(e = wsmd__evr_open(&o, &f->r)))
            from = "collector-bookmark";
    }
    if (e == WSM_ERR_INVALID_ARG) {
        o.start = f->s.from_earliest ? WSMD_EV_FROM_OLDEST : WSMD_EV_FROM_NOW;
        o.bookmark = NULL;
        o.bookmark_len = 0;
        e = wsmd__evr_open(&o, &f->r);
        from = f->s.from_earliest ? "oldest" : "now";
    }
    free(mine);
    char err[512] = "";
    if (!e && !(f->sess = wsmd__fwd_session(fw, f->s.notify_to, err, sizeof(err))))
        e = WSM_ERR_INVALID_ARG;
    if (!e)
        e = wsm__session_set_body_format(f->sess,
                                         f->s.utf16 ? "application/soap+xml;charset=UTF-16" : NULL,
                                         f->s.sldc ? "Content-Encoding: SLDC\r\n" : NULL);
    if (e) {
        wsmd__log("event=forwarder-subscription-refused collector=\"%s\" subscription=\"%s\" "
                  "reason=\"%s\"",
                  run->t->url, sub_name(&f->s), *err ? err : wsm_strerror(e));
        fsub_free(f);
        return NULL;
    }
    wsmd__log("event=forwarder-subscribed collector=\"%s\" subscription=\"%s\" version=%s "
              "from=%s sldc=%d utf16=%d max_elements=%u max_time_ms=%ld heartbeat_ms=%ld",
              run->t->url, sub_name(&f->s), f->s.version, from, f->s.sldc, f->s.utf16,
              f->s.max_elements, f->s.max_time_ms, f->s.heartbeat_ms);
    return f;
}

/* Reads what the journal has into cur, up to the batch's bounds. */
static void fill(struct fsub *f)
{
    unsigned max_n = f->s.max_elements ? f->s.max_elements : 1000;
    size_t env = f->s.max_envelope ? f->s.max_envelope : DEFAULT_MAX_ENVELOPE;
    /* UTF-16 doubles the text; some room for the SOAP around it. */
    size_t max_bytes = (f->s.utf16 ? env / 2 : env) * 3 / 4;
    while (f->ncur < max_n && f->cur.len < max_bytes) {
        if (wsmd__evr_next(f->r, &f->cur) != WSM_OK)
            break;
        if (!f->ncur++)
            f->first_ms = wsmd__fwd_now_ms();
    }
}

/* Makes cur the batch in flight (or a heartbeat when n is 0). */
static enum wsm_err seal_batch(struct fwd_run *run, struct fsub *f, int heartbeat)
{
    struct wsm_buf bm, xml;
    wsm__buf_init(&bm, 0);
    wsm__buf_init(&xml, 0); /* (the argument is a cap, not a size) */
    enum wsm_err e = wsm__buf_reserve(&xml, f->cur.len + f->ncur * 128 + 4096);
    if (!e)
        e = wsmd__evr_bookmark(f->r, &bm);
    if (!e)
        e = wsmd__fwd_delivery_msg(&xml, &f->s, heartbeat ? WSMD_FWD_HEARTBEAT : WSMD_FWD_EVENTS,
                                   f->cur.data, f->cur.len, bm.data, f->msgid);
    wsm__buf_reset(&f->body);
    if (!e)
        e = wsmd__fwd_encode(&f->s, xml.data, xml.len, &f->body);
    wsm__buf_free(&xml);
    if (e) {
        wsm__buf_free(&bm);
        wsm__buf_reset(&f->body);
        wsmd__log("event=forwarder-error collector=\"%s\" subscription=\"%s\" error=\"%s\"",
                  run->t->url, sub_name(&f->s), wsm_strerror(e));
        return e;
    }
    free(f->bookmark);
    f->bookmark = heartbeat ? NULL : wsm__buf_steal(&bm, NULL);
    wsm__buf_free(&bm);
    f->nbatch = f->ncur;
    f->heartbeat = heartbeat;
    f->ncur = 0;
    wsm__buf_reset(&f->cur);
    f->retry_ms = 0;
    f->backoff_ms = BACKOFF_MIN_MS;
    return WSM_OK;
}

/* Sends the batch in flight once. */
static void send_batch(struct fwd_run *run, struct fsub *f, long long now)
{
    struct wsm_envelope *env = NULL;
    long long t0 = wsmd__fwd_now_ms();
    char *raw = NULL;
    enum wsm_err e = wsm__post(f->sess, f->body.data, f->body.len, 0, f->msgid, &env, &raw);
    int acked = !e && raw && wsmd__fwd_is_ack(raw, strlen(raw), f->msgid);
    wsm__envelope_free(env);
    free(raw);
    if (!acked) {
        const char *why = e ? wsm_session_error(f->sess) : "no Ack";
        long long delay = f->backoff_ms;
        int st = RETRYING;
        if (f->failures++ == 0)
            f->first_fail_ms = now;
        /* ConnectionRetry spent -- its Total retries, and as long as
         * Windows would have kept at them (Total x interval) -- then, as
         * Windows, wait for the next Refresh. The batch is kept; nothing
         * is skipped. */
        if (f->s.retry_total >= 0 && f->failures > (unsigned long)f->s.retry_total &&
            now - f->first_fail_ms >= (long long)f->s.retry_total * f->s.retry_ms) {
            st = BACKOFF;
            delay = (long long)run->t->refresh_s * 1000;
        } else {
            /* Within ConnectionRetry: sooner than its interval at first (a
             * collector restarting is back in a second), never later. */
            if (f->s.retry_ms > 0 && delay > f->s.retry_ms)
                delay = f->s.retry_ms;
            f->backoff_ms = f->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : f->backoff_ms * 2;
        }
        wsmd__log("event=forwarder-retry collector=\"%s\" subscription=\"%s\" events=%zu "
                  "retry_ms=%lld error=\"%s\"",
                  run->t->url, sub_name(&f->s), f->nbatch, delay, why);
        if (st != f->state)
            wsmd__log("event=forwarder-delivery-state collector=\"%s\" subscription=\"%s\" "
                      "state=%s failures=%lu connection_retry=%d retry_ms=%lld error=\"%s\"",
                      run->t->url, sub_name(&f->s), state_names[st], f->failures, f->s.retry_total,
                      delay, why);
        f->state = st;
        f->retry_ms = now + delay;
        return;
    }
    if (f->state != DELIVERING)
        wsmd__log("event=forwarder-delivery-state collector=\"%s\" subscription=\"%s\" "
                  "state=delivering failures=%lu",
                  run->t->url, sub_name(&f->s), f->failures);
    f->state = DELIVERING;
    f->failures = 0;
    /* Acked: the position is stored before anything else is read past it,
     * so a restart resumes exactly after this batch. */
    if (f->bookmark && wsmd__fwd_state_store(run->fw->cfg, f->state_name, f->bookmark) != 0)
        wsmd__log("event=forwarder-error collector=\"%s\" subscription=\"%s\" "
                  "error=\"cannot store the bookmark: %s\"",
                  run->t->url, sub_name(&f->s), strerror(errno));
    wsmd__logp(WSMD_LOG_DEBUG,
               "event=forwarder-acked collector=\"%s\" subscription=\"%s\" events=%zu "
               "heartbeat=%d bytes=%zu ms=%lld",
               run->t->url, sub_name(&f->s), f->nbatch, f->heartbeat, f->body.len,
               wsmd__fwd_now_ms() - t0);
    wsm__buf_reset(&f->body);
    free(f->bookmark);
    f->bookmark = NULL;
    f->last_sent_ms = wsmd__fwd_now_ms();
}

static void end_subscription(struct fwd_run *run, struct fsub *f)
{
    struct wsm_buf xml, body;
    char msgid[64];
    wsm__buf_init(&xml, 0);
    wsm__buf_init(&body, 0);
    if (!wsmd__fwd_delivery_msg(&xml, &f->s, WSMD_FWD_END, NULL, 0, NULL, msgid) &&
        !wsmd__fwd_encode(&f->s, xml.data, xml.len, &body)) {
        struct wsm_envelope *env = NULL;
        /* Best effort: the collector dropped the subscription already. */
        if (!wsm__post(f->sess, body.data, body.len, 0, msgid, &env, NULL))
            wsm__envelope_free(env);
    }
    wsm__buf_free(&xml);
    wsm__buf_free(&body);
    wsmd__log("event=forwarder-unsubscribed collector=\"%s\" subscription=\"%s\"", run->t->url,
              sub_name(&f->s));
}

/* Everything a subscription has to do now; returns when it next needs
 * attention (absolute ms). */
static long long step(struct fwd_run *run, struct fsub *f, long long now)
{
    if (f->body.len) {
        if (now >= f->retry_ms)
            send_batch(run, f, now);
        if (f->body.len)
            return f->retry_ms;
    }
    fill(f);
    unsigned max_n = f->s.max_elements ? f->s.max_elements : 1000;
    size_t env = f->s.max_envelope ? f->s.max_envelope : DEFAULT_MAX_ENVELOPE;
    size_t max_bytes = (f->s.utf16 ? env / 2 : env) * 3 / 4;
    long long due = f->ncur ? f->first_ms + f->s.max_time_ms : 0;
    now = wsmd__fwd_now_ms();
    if (f->ncur && (f->ncur >= max_n || f->cur.len >= max_bytes || now >= due)) {
        if (!seal_batch(run, f, 0)) {
            send_batch(run, f, now);
            if (f->body.len)
                return f->retry_ms;
            return now; /* more may be waiting */
        }
        return now + BACKOFF_MAX_MS;
    }
    if (f->ncur)
        return due;
    if (f->s.heartbeat_ms > 0) {
        long long hb = f->last_sent_ms + f->s.heartbeat_ms;
        if (now >= hb && !seal_batch(run, f, 1)) {
            send_batch(run, f, now);
            return f->body.len ? f->retry_ms : now + f->s.heartbeat_ms;
        }
        return hb;
    }
    return now + 3600000;
}

/* ---- the subscription manager ------------------------------------------- */

static void enumerate(struct fwd_run *run)
{
    struct wsmd_forwarder *fw = run->fw;
    char err[512] = "";
    long long now = wsmd__fwd_now_ms();
    if (!run->mgr && !(run->mgr = wsmd__fwd_session(fw, run->t->url, err, sizeof(err)))) {
        wsmd__log("event=forwarder-error collector=\"%s\" error=\"%s\"", run->t->url, err);
        run->next_enum_ms = now + (long long)run->t->refresh_s * 1000;
        return;
    }
    struct wsmd_fwdsub *v = NULL;
    size_t n = 0, skipped = 0;
    struct wsm_buf b;
    char msgid[64];
    wsm__buf_init(&b, 0);
    enum wsm_err e = wsmd__fwd_enumerate_msg(&b, run->t->url, fw->cfg->machine_id, msgid);
    struct wsm_envelope *env = NULL;
    char *raw = NULL;
    if (!e)
        e = wsm__post(run->mgr, b.data, b.len, 0, msgid, &env, &raw);
    wsm__envelope_free(env);
    wsm__buf_free(&b);
    int end = 1;
    if (!e)
        e = wsmd__fwdsub_parse(raw, strlen(raw), &v, &n, &skipped, &end, NULL);
    free(raw);
    if (e) {
        /* The collector is away: keep following what it handed out, and
         * ask again sooner than Refresh. */
        wsmd__log("event=forwarder-enumerate-failed collector=\"%s\" error=\"%s\"", run->t->url,
                  wsm_session_error(run->mgr)[0] ? wsm_session_error(run->mgr) : wsm_strerror(e));
        run->enum_backoff_ms = run->enum_backoff_ms ? run->enum_backoff_ms * 2 : 1000;
        if (run->enum_backoff_ms > (long long)run->t->refresh_s * 1000)
            run->enum_backoff_ms = (long long)run->t->refresh_s * 1000;
        run->next_enum_ms = now + run->enum_backoff_ms;
        return;
    }
    run->enum_backoff_ms = 0;
    run->next_enum_ms = now + (long long)run->t->refresh_s * 1000;
    for (size_t i = 0; i < run->nsubs; i++)
        run->subs[i]->seen = 0;
    for (size_t k = 0; k < n; k++) {
        struct fsub *have = NULL;
        size_t at = 0;
        for (size_t i = 0; i < run->nsubs && !have; i++)
            if (!strcmp(sub_name(&run->subs[i]->s), sub_name(&v[k]))) {
                have = run->subs[i];
                at = i;
            }
        if (have && !strcmp(have->s.version, v[k].version)) {
            have->seen = 1;
            continue;
        }
        if (have) {
            /* A new Version: subscribe again with the new Subscribe. The
             * batch in flight is dropped unacked; the new reader starts at
             * the stored bookmark, so it is read and sent again. */
            wsmd__log("event=forwarder-resubscribe collector=\"%s\" subscription=\"%s\" "
                      "old=%s new=%s",
                      run->t->url, sub_name(&have->s), have->s.version, v[k].version);
            fsub_free(have);
            run->subs[at] = run->subs[--run->nsubs];
        }
        if (run->nsubs == MAX_SUBS_PER_COLLECTOR)
            continue;
        struct fsub *f = fsub_open(run, &v[k]);
        if (f)
            run->subs[run->nsubs++] = f;
    }
    for (size_t i = 0; i < run->nsubs;) {
        if (run->subs[i]->seen) {
            i++;
            continue;
        }
        end_subscription(run, run->subs[i]);
        fsub_free(run->subs[i]);
        run->subs[i] = run->subs[--run->nsubs];
    }
    wsmd__fwdsub_free(v, n);
    wsmd__logp(WSMD_LOG_DEBUG,
               "event=forwarder-enumerated collector=\"%s\" subscriptions=%zu "
               "skipped=%zu",
               run->t->url, run->nsubs, skipped);
}

static void *run_main(void *arg)
{
    struct fwd_run *run = arg;
    struct wsmd_forwarder *fw = run->fw;
    while (!atomic_load(&fw->stop)) {
        long long now = wsmd__fwd_now_ms();
        if (now >= run->next_enum_ms)
            enumerate(run);
        long long next = run->next_enum_ms;
        for (size_t i = 0; i < run->nsubs && !atomic_load(&fw->stop); i++) {
            long long t = step(run, run->subs[i], wsmd__fwd_now_ms());
            if (t < next)
                next = t;
        }
        struct pollfd p[MAX_SUBS_PER_COLLECTOR + 1];
        p[0] = (struct pollfd){.fd = fw->wake, .events = POLLIN};
        nfds_t np = 1;
        for (size_t i = 0; i < run->nsubs; i++)
            if (!run->subs[i]->body.len)
                p[np++] = (struct pollfd){.fd = wsmd__evr_fd(run->subs[i]->r), .events = POLLIN};
        now = wsmd__fwd_now_ms();
        long long wait = next - now;
        if (wait < 0)
            wait = 0;
        if (wait > 60000)
            wait = 60000;
        poll(p, np, (int)wait);
    }
    for (size_t i = 0; i < run->nsubs; i++)
        fsub_free(run->subs[i]);
    run->nsubs = 0;
    wsm_session_free(run->mgr);
    run->mgr = NULL;
    wsm__envelope_thread_cleanup();
    return NULL;
}

enum wsm_err wsmd__fwd_start(struct wsmd_server *srv)
{
    struct wsmd_fwdcfg *c = srv->cfg.fwd;
    if (!c || !c->ntargets)
        return WSM_OK;
    struct wsmd_forwarder *fw = calloc(1, sizeof(*fw));
    if (!fw)
        return WSM_ERR_NOMEM;
    fw->srv = srv;
    fw->cfg = c;
    fw->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int bad = fw->wake < 0 || wsmd__fwd_own_copy(c->fd[FWD_KEYTAB], fw->keytab) ||
              wsmd__fwd_own_copy(c->fd[FWD_CERT], fw->cert) ||
              wsmd__fwd_own_copy(c->fd[FWD_KEY], fw->key) ||
              wsmd__fwd_own_copy(c->fd[FWD_CA], fw->ca) ||
              (c->fd[FWD_CREDS] >= 0 && wsmd__fwd_read_basic(fw, c->fd[FWD_CREDS]));
    if (bad) {
        fprintf(stderr, "wsmd: the forwarder cannot read its credentials\n");
        if (fw->wake >= 0)
            close(fw->wake);
        free(fw);
        return WSM_ERR_IO;
    }
    if (!(fw->runs = calloc(c->ntargets, sizeof(*fw->runs)))) {
        close(fw->wake);
        free(fw);
        return WSM_ERR_NOMEM;
    }
    srv->forwarder = fw;
    for (size_t i = 0; i < c->ntargets; i++) {
        struct fwd_run *r = &fw->runs[i];
        r->fw = fw;
        r->t = &c->targets[i];
        r->index = i;
        if (pthread_create(&r->th, NULL, run_main, r) == 0)
            r->started = 1;
        wsmd__log("event=forwarder-start collector=\"%s\" refresh=%u auth=%s", r->t->url,
                  r->t->refresh_s,
                  fw->user[0]   ? "basic"
                  : fw->cert[0] ? "certificate"
                                : "kerberos");
    }
    return WSM_OK;
}

void wsmd__fwd_stop(struct wsmd_server *srv)
{
    struct wsmd_forwarder *fw = srv->forwarder;
    if (!fw)
        return;
    atomic_store(&fw->stop, 1);
    uint64_t one = 1;
    if (write(fw->wake, &one, sizeof(one)) < 0) {
        /* the threads see stop at their next wake-up anyway */
    }
    for (size_t i = 0; i < fw->cfg->ntargets; i++)
        if (fw->runs[i].started)
            pthread_join(fw->runs[i].th, NULL);
    free(fw->runs);
    close(fw->wake);
    explicit_bzero(fw->password, sizeof(fw->password));
    free(fw);
    srv->forwarder = NULL;
}
