/* CollectorInitiated subscriptions: the thread of one (subscription, event
 * source). In Pull mode it Subscribes to the source's event log resource
 * (libwsm, as `winrm subscribe`), Pulls, and writes each batch to the
 * subscription's outputs and its bookmark to the state database before the
 * next Pull (dialbatch.c): what delivery.c does for a pushed batch before
 * its Ack. In Push mode it Subscribes with NotifyTo = this collector
 * (dialpush.c), and then only renews and watches the source's deliveries.
 * The set of these threads is dialset.c's.
 *
 * Why no event is lost: the source moves its position when it answers a
 * Pull, the collector its bookmark only once the batch is durable. Whenever
 * a batch could not be stored, or the collector restarts, the dialer
 * Subscribes again with the stored bookmark, and the source resumes right
 * after it: what was pulled but not stored comes again (a duplicate when a
 * crash fell between the outputs and the state, never a loss).
 *
 * Threads, not the HTTP workers: a Pull waits at the source; the network
 * process (privsep.md) runs these threads with no more privilege than it
 * has. A Pull waits at most PULL_WAIT_MS, so a stop (reload, shutdown)
 * waits for at most that and one Unsubscribe. */
#include "dialclaim.h"
#include "dialer_priv.h"
#include "dialpush.h"

#include <errno.h>
#include <libxml/tree.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "envelope.h"
#include "events.h"
#include "ns.h"
#include "server.h"
#include "throttle.h" /* wsmd__log_escape */

#define PULL_WAIT_MS 5000L       /* longest Pull; the loop makes longer waits */
#define SESSION_TIMEOUT_MS 20000 /* HTTP: connect + answer */
#define EXPIRES_MS 3600000L      /* a subscription a crash leaves behind ends here */
#define RENEW_BEFORE_MS 1800000L /* Renew when less than this is left */
#define BACKOFF_MIN_MS 1000L
#define BACKOFF_MAX_MS 60000L
#define INACTIVE_AFTER 5            /* failures in a row: Trying -> Inactive */
#define AUTH_RETRY_MS 300000L       /* a refused password: tried again after 5 min */
#define LIVENESS_MS 60000L          /* an idle source's state row touched this often */
#define MAX_EVENTS_PER_PULL 100000u /* MaxElements bounds it; a guard */

/* Standby shows as Inactive: Windows' four values are what gr prints. */
const char *const wsmd__dial_st_names[] = {"Trying", "Active", "Inactive", "Inactive"};

long long wsmd__dial_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- runtime status ------------------------------------------------------ */

static void set_status(struct wsmd_dialers *ds, struct dialer *d, int st, const char *err,
                       long long retry_ms)
{
    pthread_mutex_lock(&ds->lock);
    int was = d->status;
    d->status = st;
    if (err)
        snprintf(d->last_error, sizeof(d->last_error), "%s", err);
    else if (st == ST_ACTIVE)
        snprintf(d->last_error, sizeof(d->last_error), "0"); /* as Windows shows an Active one */
    d->next_try_ms = retry_ms;
    pthread_mutex_unlock(&ds->lock);
    if (was != st || err) {
        /* In quotes: only quotes and control characters need changing. */
        char e[300];
        snprintf(e, sizeof(e), "%s", err ? err : "");
        for (char *q = e; *q; q++)
            if (*q == '"' || (unsigned char)*q < 0x20)
                *q = '\'';
        wsmd__log("event=collector-dial %s status=%s%s%s%s", d->who, wsmd__dial_st_names[st],
                  err ? " error=\"" : "", err ? e : "", err ? "\"" : "");
    }
}

/* Waits ms or until stopped or the claim is lost (dialclaim.c); 1 when stopped. */
static int pause_ms(struct wsmd_dialers *ds, struct dialer *d, long ms)
{
    struct timespec ts = wsmd__dial_after_ms(ms);
    pthread_mutex_lock(&ds->lock);
    while (!d->stop && d->claimed && pthread_cond_timedwait(&ds->cond, &ds->lock, &ts) != ETIMEDOUT)
        ;
    int stop = d->stop;
    pthread_mutex_unlock(&ds->lock);
    return stop;
}

/* With several nodes: while another node holds the source's claim (or this
 * one cannot reach the database to hold it), Standby, until the claimer
 * gives it to this node; 1 when stopped meanwhile. */
static int standby(struct wsmd_dialers *ds, struct dialer *d)
{
    pthread_mutex_lock(&ds->lock);
    while (!d->stop && !d->claimed) {
        d->status = ST_STANDBY;
        d->failures = 0;
        d->next_try_ms = 0;
        snprintf(d->last_error, sizeof(d->last_error), "%s",
                 ds->claims_down == WSMD_CLAIMS_DOWN
                     ? "standby: this node cannot reach the StateDatabase to claim the source"
                 : ds->claims_down == WSMD_CLAIMS_SETTLING
                     ? "standby: this node is about to claim its sources (just connected)"
                     : "standby: another collector node dials this source");
        pthread_cond_wait(&ds->cond, &ds->lock);
    }
    int stop = d->stop;
    if (!stop) {
        d->status = ST_TRYING;
        snprintf(d->last_error, sizeof(d->last_error), "0");
    }
    pthread_mutex_unlock(&ds->lock);
    return stop;
}

int wsmd__dial_claimed(struct wsmd_dialers *ds, struct dialer *d)
{
    pthread_mutex_lock(&ds->lock);
    int c = d->claimed;
    pthread_mutex_unlock(&ds->lock);
    return c;
}

static int stopping(struct wsmd_dialers *ds, struct dialer *d)
{
    pthread_mutex_lock(&ds->lock);
    int s = d->stop;
    pthread_mutex_unlock(&ds->lock);
    return s;
}

/* ---- one source ---------------------------------------------------------- */

struct conn {
    wsm_session *s;
    wsm_subscription *sub;    /* Pull */
    struct wsmd_push_sub *ps; /* Push */
    const struct dialer *d;
    long long last_touch_ms;
    long long subscribed_ms;
};

static int subscribed(const struct conn *c)
{
    return c->sub || c->ps;
}

static void hang_up(struct conn *c, int unsubscribe)
{
    if (c->sub && unsubscribe)
        (void)wsm_unsubscribe(c->sub); /* best effort: it expires anyway */
    if (c->ps && unsubscribe)
        (void)wsmd__dial_push_unsubscribe(c->s, c->d->url, c->d->sub->uri, c->ps);
    wsm_subscription_free(c->sub);
    wsmd__dial_push_free(c->ps);
    wsm_session_free(c->s);
    c->sub = NULL;
    c->ps = NULL;
    c->s = NULL;
}

static void errtext(const struct conn *c, enum wsm_err e, const char *what, char *out, size_t n)
{
    const char *t = c->s ? wsm_session_error(c->s) : NULL;
    snprintf(out, n, "%s: %s%s%s", what, wsm_strerror(e), t && *t ? ": " : "", t && *t ? t : "");
}

/* The source's row says it was heard from (wecutil gr's LastHeartbeatTime). */
static enum wsm_err touch(struct wsmd_collector *col, struct dialer *d)
{
    struct wsmd_state_update u = {
        .sub = d->sub->id,
        .principal = d->src->address,
        .addr = d->src->address,
        .heartbeat = 1, /* contact; it also clears an old SubscriptionEnd */
        .now_ms = wsmd__dial_now_ms(),
    };
    return wsmd__state_commit(col->state, &u);
}

/* Subscribe from the stored bookmark (else ReadExistingEvents' oldest, else now). */
static enum wsm_err dial(struct dialer *d, struct conn *c, char *err, size_t errlen)
{
    const struct wsmd_sub *s = d->sub;
    const char *ct = s->credentials_type ? s->credentials_type : "Default";
    int push = !strcmp(s->delivery_mode, "Push");
    c->d = d;
    if (!strcmp(ct, "Digest") || !strcmp(ct, "Local")) {
        snprintf(err, errlen, "CredentialsType %s is not supported (Basic, Negotiate, Default)",
                 ct);
        return WSM_ERR_UNSUPPORTED_FEATURE;
    }
    struct wsm_session_opts o = {
        .url = d->url,
        .user = d->src->user ? d->src->user : s->common_user,
        .password = d->src->password ? d->src->password : s->common_password,
        .auth = !strcmp(ct, "Basic") ? WSM_AUTH_BASIC : WSM_AUTH_NEGOTIATE,
        .timeout_ms = SESSION_TIMEOUT_MS,
    };
    if ((o.auth == WSM_AUTH_BASIC || push) && (!o.user || !o.password)) {
        snprintf(err, errlen, "%s needs a UserName and a Password",
                 push ? "Delivery Mode Push" : "CredentialsType Basic");
        return WSM_ERR_INVALID_ARG;
    }
    /* Push: the source delivers to this collector's listener. */
    char notify[600];
    if (push) {
        struct wsm_buf nb;
        wsm__buf_init(&nb, sizeof(notify) - 1);
        if (wsmd__dial_notify_base(d->col->srv, notify, 300) != 0) {
            snprintf(err, errlen, "no WS-Management listener to name in NotifyTo yet");
            return WSM_ERR_HTTP; /* (the listeners start after the collector) */
        }
        enum wsm_err pe = wsm__buf_puts(&nb, notify);
        if (!pe)
            pe = wsm__buf_puts(&nb, WSMD_COL_DELIVERY_PREFIX);
        if (!pe)
            pe = wsmd__sub_path_id(&nb, s->id);
        if (!pe && nb.len < sizeof(notify))
            memcpy(notify, nb.data, nb.len + 1);
        wsm__buf_free(&nb);
        if (pe) {
            snprintf(err, errlen, "NotifyTo: %s", wsm_strerror(pe));
            return pe;
        }
    }
    enum wsm_err e = wsm_session_new(&o, &c->s);
    if (e) {
        snprintf(err, errlen, "session for %.200s: %s", d->url, wsm_strerror(e));
        return e;
    }
    char *bookmark = NULL;
    if ((e = wsmd__state_bookmark(d->col->state, s->id, d->src->address, &bookmark)) != WSM_OK) {
        snprintf(err, errlen, "the state database: %s", wsm_strerror(e));
        hang_up(c, 0);
        return e;
    }
    if (push) {
        struct wsmd_dial_push p = {.sub = s,
                                   .url = d->url,
                                   .address = d->src->address,
                                   .notify = notify,
                                   .user = o.user,
                                   .password = o.password,
                                   .bookmark = bookmark,
                                   .expires_ms = EXPIRES_MS};
        e = wsmd__dial_push_subscribe(c->s, &p, &c->ps, err, errlen);
        if (e)
            hang_up(c, 0);
        else
            wsmd__log("event=collector-dial-subscribed %s url=%s mode=Push notify_to=%s from=%s",
                      d->who, d->url, notify,
                      bookmark           ? "bookmark"
                      : s->read_existing ? "oldest"
                                         : "now");
        free(bookmark);
        c->subscribed_ms = wsmd__dial_now_ms();
        return e;
    }
    unsigned max = s->max_items ? s->max_items : 100;
    struct wsm_subscribe_opts so = {
        .mode = WSM_DELIVERY_MODE_PULL,
        .filter = s->query_xml ? s->query_xml : s->query,
        .expires_ms = EXPIRES_MS,
        .bookmark = bookmark,
        .send_bookmarks = 1,
        .read_existing = !bookmark && s->read_existing,
        .content_format = strcmp(s->content_format, "Events") ? "RenderedText" : "Raw",
        .max_elements = max > MAX_EVENTS_PER_PULL ? MAX_EVENTS_PER_PULL : max,
        .max_time_ms = s->max_latency_ms < PULL_WAIT_MS ? s->max_latency_ms : PULL_WAIT_MS,
    };
    e = wsm_subscribe(c->s, s->uri, &so, &c->sub);
    free(bookmark);
    if (e) {
        errtext(c, e, "Subscribe", err, errlen);
        hang_up(c, 0);
        return e;
    }
    wsmd__log("event=collector-dial-subscribed %s url=%s mode=Pull from=%s", d->who, d->url,
              so.bookmark        ? "bookmark"
              : so.read_existing ? "oldest"
                                 : "now");
    return WSM_OK;
}

/* One Pull and what it brought stored; an error text in err. */
static enum wsm_err pull_once(struct dialer *d, struct conn *c, char *err, size_t errlen)
{
    long long left = wsm_subscription_expires(c->sub) - wsmd__dial_now_ms();
    if (wsm_subscription_expires(c->sub) && left < RENEW_BEFORE_MS) {
        enum wsm_err e = wsm_subscription_renew(c->sub, EXPIRES_MS);
        if (e) {
            errtext(c, e, "Renew", err, errlen);
            return e;
        }
    }
    struct batch b = {0};
    b.doc = xmlNewDoc((const xmlChar *)"1.0");
    b.events = b.doc ? xmlNewDocNode(b.doc, NULL, (const xmlChar *)"Events", NULL) : NULL;
    if (!b.events) {
        xmlFreeDoc(b.doc);
        return WSM_ERR_NOMEM;
    }
    xmlDocSetRootElement(b.doc, b.events);
    xmlSetNs(b.events, xmlNewNs(b.events, (const xmlChar *)WSM_NS_WSMAN, (const xmlChar *)"w"));
    size_t n = 0;
    enum wsm_err e = wsm_subscription_pull(c->sub, 0, PULL_WAIT_MS, wsmd__dial_on_event, &b, &n);
    if (e)
        errtext(c, e, "Pull", err, errlen);
    else if (b.nomem)
        e = WSM_ERR_NOMEM;
    else if (b.n)
        e = wsmd__dial_store(d, &b, err, errlen);
    else if (wsmd__dial_now_ms() - c->last_touch_ms >= LIVENESS_MS && !touch(d->col, d))
        c->last_touch_ms = wsmd__dial_now_ms();
    if (!e && b.n)
        c->last_touch_ms = wsmd__dial_now_ms();
    free(b.bookmark);
    xmlFreeDoc(b.doc);
    return e;
}

/* Push: the source delivers by itself (delivery.c); this keeps the
 * subscription renewed and notices a source that stopped: no delivery nor
 * heartbeat for two heartbeat intervals and a minute, or a SubscriptionEnd,
 * and the dialer Subscribes again from the stored bookmark. */
struct contact {
    const char *address;
    long long last;
    int ended, found;
};

static void contact_row(const struct wsmd_source_row *r, void *arg)
{
    struct contact *k = arg;
    if (strcasecmp(r->principal, k->address))
        return;
    k->found = 1;
    k->ended = r->ended;
    k->last = r->last_event_ms > r->last_heartbeat_ms ? r->last_event_ms : r->last_heartbeat_ms;
}

static enum wsm_err push_once(struct wsmd_dialers *ds, struct dialer *d, struct conn *c, char *err,
                              size_t errlen)
{
    long long exp = wsmd__dial_push_expires(c->ps);
    if (exp && exp - wsmd__dial_now_ms() < RENEW_BEFORE_MS) {
        enum wsm_err e = wsmd__dial_push_renew(c->s, d->url, d->sub->uri, c->ps, EXPIRES_MS);
        if (e) {
            errtext(c, e, "Renew", err, errlen);
            return e;
        }
    }
    struct contact k = {.address = d->src->address};
    long long quiet = 2LL * d->sub->heartbeat_ms + 60000;
    if (wsmd__state_sources(d->col->state, d->sub->id, contact_row, &k) == WSM_OK) {
        long long since = k.last > c->subscribed_ms ? k.last : c->subscribed_ms;
        if (k.found && k.ended) {
            snprintf(err, errlen, "the source ended the subscription (SubscriptionEnd)");
            return WSM_ERR_INVALID_SUBSCRIPTION;
        }
        if (wsmd__dial_now_ms() - since > quiet) {
            snprintf(err, errlen, "no delivery nor heartbeat for %lld s", quiet / 1000);
            return WSM_ERR_TIMED_OUT;
        }
    }
    pause_ms(ds, d, 1000);
    return WSM_OK;
}

void *wsmd__dialer_run(void *arg)
{
    struct dialer *d = arg;
    struct wsmd_dialers *ds = d->col->dialers;
    struct conn c = {0};
    long backoff = BACKOFF_MIN_MS;
    char err[256];
    while (!stopping(ds, d)) {
        enum wsm_err e = WSM_OK;
        err[0] = '\0';
        if (!wsmd__dial_claimed(ds, d)) {
            /* Another node dials it now (from the shared bookmark): this
             * one's subscription ends at the source, where it can. */
            hang_up(&c, 1);
            if (standby(ds, d))
                break;
            backoff = BACKOFF_MIN_MS;
            continue;
        }
        if (!subscribed(&c)) {
            if ((e = dial(d, &c, err, sizeof(err))) == WSM_OK) {
                touch(d->col, d);
                c.last_touch_ms = wsmd__dial_now_ms();
            }
        } else if (c.ps) {
            e = push_once(ds, d, &c, err, sizeof(err));
        } else {
            e = pull_once(d, &c, err, sizeof(err));
        }
        if (!e) {
            pthread_mutex_lock(&ds->lock);
            int change = d->failures || d->status != ST_ACTIVE;
            d->failures = 0;
            pthread_mutex_unlock(&ds->lock);
            if (change)
                set_status(ds, d, ST_ACTIVE, NULL, 0);
            backoff = BACKOFF_MIN_MS;
            continue;
        }
        /* Start over from the stored bookmark: whatever the Pull in error
         * brought and was not stored comes again. */
        hang_up(&c, e != WSM_ERR_HTTP);
        pthread_mutex_lock(&ds->lock);
        unsigned f = ++d->failures;
        pthread_mutex_unlock(&ds->lock);
        /* A refused password or an unusable setting does not mend itself
         * in a second: Inactive, tried again later or at wecutil rs. */
        int hopeless = e == WSM_ERR_AUTH || e == WSM_ERR_ACCESS_DENIED ||
                       e == WSM_ERR_UNSUPPORTED_FEATURE || e == WSM_ERR_INVALID_ARG ||
                       e == WSM_ERR_CANNOT_PROCESS_FILTER;
        long wait = hopeless ? AUTH_RETRY_MS : backoff;
        if (!err[0])
            snprintf(err, sizeof(err), "%s", wsm_strerror(e));
        set_status(ds, d, hopeless || f >= INACTIVE_AFTER ? ST_INACTIVE : ST_TRYING, err,
                   wsmd__dial_now_ms() + wait);
        if (!hopeless)
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
        pause_ms(ds, d, wait);
    }
    hang_up(&c, 1);
    wsm__envelope_thread_cleanup();
    wsmd__events_thread_cleanup();
    return NULL;
}
