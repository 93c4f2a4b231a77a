/* CollectorInitiated subscriptions: the set of dialers (dialer.c runs
 * one), kept in step with the subscription files at every load, and what
 * `wecutil gr` reads of them. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dialclaim.h"
#include "dialer_priv.h"
#include "server.h"
#include "throttle.h" /* wsmd__log_escape */

int wsmd__dial_url(const char *address, const char *transport, unsigned port, char *out, size_t n)
{
    int k;
    if (strstr(address, "://")) {
        k = snprintf(out, n, "%s", address);
    } else {
        int https = transport && !strcasecmp(transport, "HTTPS");
        unsigned p = port ? port : https ? 5986 : 5985;
        const char *colon = strchr(address, ':');
        int has_port = address[0] == '['
                           ? strstr(address, "]:") != NULL
                           : colon && !strchr(colon + 1, ':'); /* one ':' -> host:port */
        int bare_v6 = address[0] != '[' && colon && strchr(colon + 1, ':');
        if (has_port)
            k = snprintf(out, n, "%s://%s/wsman", https ? "https" : "http", address);
        else
            k = snprintf(out, n, "%s://%s%s%s:%u/wsman", https ? "https" : "http",
                         bare_v6 ? "[" : "", address, bare_v6 ? "]" : "", p);
    }
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

static char *fingerprint(const struct wsmd_sub *s, const struct wsmd_sub_source *src,
                         const char *url)
{
    const char *user = src->user ? src->user : s->common_user;
    const char *pw = src->password ? src->password : s->common_password;
    char *fp = NULL;
    if (asprintf(&fp, "%s\n%s\n%s\n%s\n%s\n%s\n%u\n%s\n%s", s->version, url, user ? user : "",
                 pw ? pw : "", s->credentials_type ? s->credentials_type : "", s->delivery_mode,
                 s->outputs, s->log_file, s->file ? s->file : "") < 0)
        return NULL;
    return fp;
}

static void fp_free(char *fp)
{
    if (!fp)
        return;
    for (volatile char *p = fp; *p; p++) /* it holds a password */
        *p = 0;
    free(fp);
}

/* ---- the set ---------------------------------------------------------------- */

enum wsm_err wsmd__dialers_new(struct wsmd_collector *col, struct wsmd_dialers **out)
{
    struct wsmd_dialers *ds = calloc(1, sizeof(*ds));
    if (!ds)
        return WSM_ERR_NOMEM;
    ds->col = col;
    pthread_mutex_init(&ds->lock, NULL);
    pthread_cond_init(&ds->cond, NULL);
    /* Several nodes on one database: a source is dialed by the node that
     * holds its claim (dialclaim.c); one node alone dials every source. */
    ds->claims_down = WSMD_CLAIMS_SETTLING; /* until the first round */
    enum wsm_err e = wsmd__claimer_start(
        ds, wsmd__state_shared(col->state) ? col->srv->cfg.state_database : NULL, &ds->claimer);
    if (e) {
        pthread_cond_destroy(&ds->cond);
        pthread_mutex_destroy(&ds->lock);
        free(ds);
        return e;
    }
    *out = ds;
    return WSM_OK;
}

static void dialer_free(struct dialer *d)
{
    wsmd__col_subs_put(d->subs);
    fp_free(d->fp);
    free(d);
}

/* Stops the dialers of list (each Unsubscribes), all at once, then frees them. */
static void stop_all(struct wsmd_dialers *ds, struct dialer *list)
{
    pthread_mutex_lock(&ds->lock);
    for (struct dialer *d = list; d; d = d->next)
        d->stop = 1;
    pthread_cond_broadcast(&ds->cond);
    pthread_mutex_unlock(&ds->lock);
    while (list) {
        struct dialer *n = list->next;
        pthread_join(list->thread, NULL);
        wsmd__log("event=collector-dial-stopped %s", list->who);
        dialer_free(list);
        list = n;
    }
}

static int wanted(const struct wsmd_sub *s, const struct wsmd_sub_source *src)
{
    return s->enabled && !s->source_initiated && src->enabled;
}

void wsmd__dialers_sync(struct wsmd_dialers *ds, struct col_subs *subs)
{
    if (!ds)
        return;
    struct dialer *keep = NULL, *gone = NULL;
    size_t nkeep = 0;
    /* Which running dialers still match a wanted source, unchanged. Under
     * the lock, so that `wecutil gr` never sees a kept source missing; only
     * this function (serialized by the collector's reload_lock) changes the
     * list, and the dialers' threads never read its links. */
    pthread_mutex_lock(&ds->lock);
    struct dialer *list = ds->list;
    while (list) {
        struct dialer *d = list, *next = d->next;
        const struct wsmd_sub *s = wsmd__col_sub_find(subs, d->sub->id, strlen(d->sub->id));
        int same = 0;
        for (size_t i = 0; s && i < s->nsources && !same; i++) {
            char url[300];
            if (strcasecmp(s->sources[i].address, d->src->address) || !wanted(s, &s->sources[i]) ||
                wsmd__dial_url(s->sources[i].address, s->transport, s->transport_port, url,
                               sizeof(url)))
                continue;
            char *fp = fingerprint(s, &s->sources[i], url);
            same = fp && !strcmp(fp, d->fp);
            fp_free(fp);
        }
        d->next = same ? keep : gone;
        if (same) {
            keep = d;
            nkeep++;
        } else {
            gone = d;
        }
        list = next;
    }
    ds->list = keep;
    ds->n = nkeep;
    pthread_mutex_unlock(&ds->lock);
    stop_all(ds, gone);
    /* New ones for every wanted source without a dialer. */
    for (size_t i = 0; i < subs->n; i++) {
        const struct wsmd_sub *s = subs->v[i];
        for (size_t j = 0; j < s->nsources; j++) {
            const struct wsmd_sub_source *src = &s->sources[j];
            int have = 0;
            for (struct dialer *d = keep; d && !have; d = d->next)
                have = !strcasecmp(d->sub->id, s->id) && !strcasecmp(d->src->address, src->address);
            if (have || !wanted(s, src))
                continue;
            char lid[128], laddr[128];
            wsmd__log_escape(lid, sizeof(lid), s->id);
            wsmd__log_escape(laddr, sizeof(laddr), src->address);
            struct dialer *d = calloc(1, sizeof(*d));
            if (!d || nkeep >= MAX_DIALERS ||
                wsmd__dial_url(src->address, s->transport, s->transport_port, d->url,
                               sizeof(d->url)) ||
                !(d->fp = fingerprint(s, src, d->url))) {
                wsmd__log("event=collector-dial-error subscription=%s address=%s error=\"%s\"", lid,
                          laddr, nkeep >= MAX_DIALERS ? "too many event sources" : "no room");
                free(d);
                continue;
            }
            d->col = ds->col;
            d->sub = s;
            d->src = src;
            d->subs = subs;
            atomic_fetch_add(&subs->refs, 1);
            snprintf(d->who, sizeof(d->who), "subscription=%s address=%s", lid, laddr);
            d->status = ST_TRYING;
            snprintf(d->last_error, sizeof(d->last_error), "0");
            d->claim_key = wsmd__claim_key(s->id, src->address);
            d->claimed = !ds->claimer; /* set by the claimer's rounds */
            if (pthread_create(&d->thread, NULL, wsmd__dialer_run, d) != 0) {
                wsmd__log("event=collector-dial-error %s error=\"no thread\"", d->who);
                dialer_free(d);
                continue;
            }
            wsmd__log("event=collector-dial-start %s url=%s", d->who, d->url);
            d->next = keep;
            keep = d;
            nkeep++;
        }
    }
    pthread_mutex_lock(&ds->lock);
    ds->list = keep;
    ds->n = nkeep;
    pthread_mutex_unlock(&ds->lock);
    wsmd__claimer_wake(ds->claimer); /* new dialers get their claim now, not a period later */
}

void wsmd__dialers_free(struct wsmd_dialers *ds)
{
    if (!ds)
        return;
    pthread_mutex_lock(&ds->lock);
    struct dialer *list = ds->list;
    ds->list = NULL;
    pthread_mutex_unlock(&ds->lock);
    stop_all(ds, list);
    /* After the dialers' Unsubscribes: then the claims go with the session. */
    wsmd__claimer_stop(ds->claimer);
    pthread_cond_destroy(&ds->cond);
    pthread_mutex_destroy(&ds->lock);
    free(ds);
}

int wsmd__dialers_status(struct wsmd_dialers *ds, const char *sub, const char *address,
                         struct wsmd_dial_status *st)
{
    int found = 0;
    if (!ds)
        return 0;
    pthread_mutex_lock(&ds->lock);
    for (struct dialer *d = ds->list; d && !found; d = d->next) {
        if (strcasecmp(d->sub->id, sub) || strcasecmp(d->src->address, address))
            continue;
        found = 1;
        snprintf(st->status, sizeof(st->status), "%s", wsmd__dial_st_names[d->status]);
        snprintf(st->last_error, sizeof(st->last_error), "%s",
                 d->last_error[0] ? d->last_error : "0");
        snprintf(st->url, sizeof(st->url), "%s", d->url);
        st->failures = d->failures;
        st->next_try_ms = d->status == ST_ACTIVE ? 0 : d->next_try_ms;
    }
    pthread_mutex_unlock(&ds->lock);
    return found;
}
