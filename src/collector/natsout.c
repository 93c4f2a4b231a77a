/* The NATS JetStream output (natsout.h). libnats keeps one connection and
 * reconnects by itself; each batch uses a JetStream context of its own for
 * its duration, so that the acknowledgements a batch waits for are its own
 * whatever the other writer threads publish meanwhile. Contexts are pooled
 * (as many as batches run at once, i.e. writer threads): creating one per
 * batch cost a subscribe and an unsubscribe of its reply inbox each time. */
#include <inttypes.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natsout.h"
#include "server.h"

#define DEFAULT_SUBJECT "wsmd.events.{subscription}.{channel}"
#define DEFAULT_STREAM "WSMD"
#define MAX_SPEC 1024

struct wsmd_nats {
    char url[256];
    char subject[256];
    char stream[64];
    char wild[256]; /* the stream's subject: each placeholder a '*' */
    long window_s;
    long timeout_ms;
    natsConnection *nc;
    natsOptions *opts;
    pthread_mutex_t mu;  /* stream_ok, pool */
    struct pooled *pool; /* idle contexts, every one complete */
    int stream_ok;
    struct wsmd_lograte rate;
};

/* One batch's count of messages JetStream refused or never acknowledged.
 * On the heap: after a timeout libnats may still call the handler. */
struct batch {
    pthread_mutex_t mu;
    unsigned failed;
    natsStatus last;
};

/* A context and the batch record its error handler counts into. Only a
 * context whose last batch completed (every PubAck in) goes back to the
 * pool: a late answer to a timed-out batch must never count in another. */
struct pooled {
    jsCtx *js;
    struct batch *b;
    struct pooled *next;
};

static void pooled_free(struct pooled *p)
{
    jsCtx_Destroy(p->js);
    pthread_mutex_destroy(&p->b->mu);
    free(p->b);
    free(p);
}

static int word_is(const char *w, size_t len, const char *key, const char **val)
{
    size_t k = strlen(key);
    if (len <= k || strncmp(w, key, k))
        return 0;
    *val = w + k;
    return 1;
}

/* Every placeholder must be one whole token of the subject, so that the
 * stream's wildcard subject ('*' per placeholder) covers every subject. */
static int template_ok(const char *t, char *wild, size_t wn)
{
    size_t o = 0;
    if (!*t || strlen(t) >= wn)
        return 0;
    for (const char *p = t; *p;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (len == 0)
            return 0;
        const char *tok = p;
        if (*tok == '{') {
            if (!((len == 14 && !strncmp(tok, "{subscription}", 14)) ||
                  (len == 9 && !strncmp(tok, "{channel}", 9))))
                return 0;
            wild[o++] = '*';
        } else {
            for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)tok[i];
                if (c <= ' ' || c >= 0x7f || c == '*' || c == '>' || c == '{' || c == '}')
                    return 0;
            }
            memcpy(wild + o, tok, len);
            o += len;
        }
        p += len;
        if (*p == '.') {
            wild[o++] = '.';
            p++;
            if (!*p)
                return 0;
        }
    }
    wild[o] = '\0';
    return 1;
}

static int parse_spec(const char *spec, struct wsmd_nats *nt)
{
    if (!spec || strlen(spec) >= MAX_SPEC)
        return 0;
    snprintf(nt->subject, sizeof(nt->subject), "%s", DEFAULT_SUBJECT);
    snprintf(nt->stream, sizeof(nt->stream), "%s", DEFAULT_STREAM);
    nt->window_s = 120;
    nt->timeout_ms = 5000;
    int nw = 0;
    for (const char *p = spec; *p;) {
        p += strspn(p, " \t");
        size_t len = strcspn(p, " \t");
        if (!len)
            break;
        const char *v;
        char tmp[MAX_SPEC];
        memcpy(tmp, p, len);
        tmp[len] = '\0';
        if (nw++ == 0) {
            if ((strncmp(tmp, "nats://", 7) && strncmp(tmp, "tls://", 6)) ||
                len >= sizeof(nt->url) || !strchr(tmp + 6, ':'))
                return 0;
            memcpy(nt->url, tmp, len + 1);
        } else if (word_is(tmp, len, "subject=", &v)) {
            if (strlen(v) >= sizeof(nt->subject))
                return 0;
            snprintf(nt->subject, sizeof(nt->subject), "%s", v);
        } else if (word_is(tmp, len, "stream=", &v)) {
            /* A stream name: no '.', '*', '>', space, at most 63 bytes. */
            if (strlen(v) >= sizeof(nt->stream) || strpbrk(v, ".*>/\\"))
                return 0;
            snprintf(nt->stream, sizeof(nt->stream), "%s", v);
        } else if (word_is(tmp, len, "window=", &v) || word_is(tmp, len, "timeout=", &v)) {
            char *end;
            long x = strtol(v, &end, 10);
            int win = tmp[0] == 'w';
            if (*end || end == v || x < 1 || x > (win ? 86400 : 600000))
                return 0;
            *(win ? &nt->window_s : &nt->timeout_ms) = x;
        } else {
            return 0;
        }
        p += len;
    }
    return nw > 0 && template_ok(nt->subject, nt->wild, sizeof(nt->wild));
}

int wsmd__nats_spec_ok(const char *spec)
{
    struct wsmd_nats nt;
    memset(&nt, 0, sizeof(nt));
    return parse_spec(spec, &nt);
}

static void put_token(const char *v, char *out, size_t n, size_t *o)
{
    if (!v || !*v)
        v = "_";
    for (; *v && *o + 1 < n; v++) {
        unsigned char c = (unsigned char)*v;
        out[(*o)++] = (c <= ' ' || c >= 0x7f || c == '.' || c == '*' || c == '>') ? '_' : (char)c;
    }
}

enum wsm_err wsmd__nats_subject(const char *tmpl, const char *subscription, const char *channel,
                                char *out, size_t n)
{
    size_t o = 0;
    for (const char *p = tmpl; *p;) {
        if (!strncmp(p, "{subscription}", 14)) {
            put_token(subscription, out, n, &o);
            p += 14;
        } else if (!strncmp(p, "{channel}", 9)) {
            put_token(channel, out, n, &o);
            p += 9;
        } else {
            if (o + 1 < n)
                out[o++] = *p;
            p++;
        }
        if (o + 1 >= n)
            return WSM_ERR_QUOTA;
    }
    out[o] = '\0';
    return WSM_OK;
}

static uint64_t fnv1a(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

void wsmd__nats_msg_id(const struct wsmd_event *ev, const char *subscription, char *out, size_t n)
{
    const char *s = subscription ? subscription : "";
    int w;
    if (ev->well_formed && ev->computer && ev->channel && ev->record_id >= 0)
        w = snprintf(out, n, "%s/%s/%s/%lld", s, ev->computer, ev->channel, ev->record_id);
    else
        w = snprintf(out, n, "%s/x/%016" PRIx64, s,
                     fnv1a(ev->xml ? ev->xml : "", ev->xml ? ev->xml_len : 0));
    if (w < 0 || (size_t)w >= n || w > 200) {
        /* Too long for a header kept per message in the window: the hash
         * of the whole id (recomputed, as the buffer may hold a part). */
        char full[1024];
        if (ev->well_formed && ev->computer && ev->channel && ev->record_id >= 0)
            w = snprintf(full, sizeof(full), "%s/%s/%s/%lld", s, ev->computer, ev->channel,
                         ev->record_id);
        else
            w = snprintf(full, sizeof(full), "%s/x/%016" PRIx64, s,
                         fnv1a(ev->xml ? ev->xml : "", ev->xml ? ev->xml_len : 0));
        size_t len = w < 0 ? 0 : (size_t)w < sizeof(full) ? (size_t)w : sizeof(full) - 1;
        snprintf(out, n, "h/%016" PRIx64, fnv1a(full, len));
    }
}

static void connected(natsConnection *nc, void *closure)
{
    (void)nc;
    struct wsmd_nats *nt = closure;
    wsmd__log("event=nats-connected url=%s", nt->url);
}

static void disconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    struct wsmd_nats *nt = closure;
    wsmd__log_limited(&nt->rate, 5, "event=nats-disconnected url=%s", nt->url);
}

enum wsm_err wsmd__nats_open(const char *spec, struct wsmd_nats **out)
{
    struct wsmd_nats *nt = calloc(1, sizeof(*nt));
    if (!nt)
        return WSM_ERR_NOMEM;
    if (!parse_spec(spec, nt)) {
        free(nt);
        return WSM_ERR_INVALID_ARG;
    }
    pthread_mutex_init(&nt->mu, NULL);
    pthread_mutex_init(&nt->rate.lock, NULL);
    /* Reconnect for ever, quickly: while it is away the collector refuses
     * Acks, and the sources retry. */
    natsStatus s = natsOptions_Create(&nt->opts);
    if (s == NATS_OK)
        s = natsOptions_SetURL(nt->opts, nt->url);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(nt->opts, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(nt->opts, 250);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(nt->opts, 2000);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(nt->opts, disconnected, nt);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(nt->opts, connected, nt);
    if (s == NATS_OK)
        s = natsOptions_SetRetryOnFailedConnect(nt->opts, true, connected, nt);
    if (s == NATS_OK) {
        s = natsConnection_Connect(&nt->nc, nt->opts);
        if (s == NATS_NOT_YET_CONNECTED)
            s = NATS_OK; /* it goes on connecting in the background */
    }
    if (s != NATS_OK) {
        wsmd__log("event=nats-error url=%s error=\"%s\"", nt->url, natsStatus_GetText(s));
        wsmd__nats_close(nt);
        return WSM_ERR_IO;
    }
    *out = nt;
    return WSM_OK;
}

void wsmd__nats_close(struct wsmd_nats *nt)
{
    if (!nt)
        return;
    /* libnats: every context goes before its connection. */
    for (struct pooled *p = nt->pool, *next; p; p = next) {
        next = p->next;
        pooled_free(p);
    }
    if (nt->nc) {
        natsConnection_Close(nt->nc);
        natsConnection_Destroy(nt->nc);
    }
    natsOptions_Destroy(nt->opts);
    pthread_mutex_destroy(&nt->mu);
    pthread_mutex_destroy(&nt->rate.lock);
    free(nt);
}

/* The stream, created when missing: file storage, the subjects of the
 * template, the duplicate window. Called with nt->mu held. */
static natsStatus ensure_stream(struct wsmd_nats *nt, jsCtx *js)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, js, nt->stream, NULL, &jerr);
    if (s == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return NATS_OK;
    }
    if (s != NATS_NOT_FOUND)
        return s;
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char *subjects[] = {nt->wild};
    sc.Name = nt->stream;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Duplicates = (int64_t)nt->window_s * 1000000000LL;
    s = js_AddStream(&si, js, &sc, NULL, &jerr);
    if (s == NATS_OK) {
        wsmd__log("event=nats-stream-created stream=%s subjects=%s duplicate_window_s=%ld",
                  nt->stream, nt->wild, nt->window_s);
        jsStreamInfo_Destroy(si);
    }
    return s;
}

static void on_pub_err(jsCtx *js, jsPubAckErr *pae, void *closure)
{
    (void)js;
    struct batch *b = closure;
    pthread_mutex_lock(&b->mu);
    b->failed++;
    b->last = pae->Err;
    pthread_mutex_unlock(&b->mu);
}

enum wsm_err wsmd__nats_publish(struct wsmd_nats *nt, const struct wsmd_event *ev, size_t n,
                                const struct wsmd_event_meta *m, const char *json,
                                const size_t *off)
{
    if (n == 0)
        return WSM_OK;
    if (natsConnection_Status(nt->nc) != NATS_CONN_STATUS_CONNECTED) {
        /* Fail now rather than fill libnats' reconnect buffer. */
        wsmd__log_limited(&nt->rate, 5, "event=output_refused output=nats url=%s reason=%s",
                          nt->url, "not-connected");
        return WSM_ERR_IO;
    }
    natsStatus s = NATS_OK;
    pthread_mutex_lock(&nt->mu);
    struct pooled *p = nt->pool;
    if (p)
        nt->pool = p->next;
    pthread_mutex_unlock(&nt->mu);
    if (p) {
        p->b->failed = 0; /* complete: the handler runs no more */
        p->b->last = NATS_OK;
    } else {
        if (!(p = calloc(1, sizeof(*p))) || !(p->b = calloc(1, sizeof(*p->b)))) {
            free(p);
            return WSM_ERR_NOMEM;
        }
        pthread_mutex_init(&p->b->mu, NULL);
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = nt->timeout_ms;
        jo.PublishAsync.ErrHandler = on_pub_err;
        jo.PublishAsync.ErrHandlerClosure = p->b;
        /* No stall: a batch is bounded by MaxItems and the envelope size,
         * and a context is reused only once its batch completed. */
        jo.PublishAsync.MaxPending = 1 << 30;
        s = natsConnection_JetStream(&p->js, nt->nc, &jo);
        if (s != NATS_OK) {
            pthread_mutex_destroy(&p->b->mu);
            free(p->b);
            free(p);
            p = NULL;
        }
    }
    jsCtx *js = p ? p->js : NULL;
    struct batch *b = p ? p->b : NULL;
    if (s == NATS_OK) {
        pthread_mutex_lock(&nt->mu);
        if (!nt->stream_ok && (s = ensure_stream(nt, js)) == NATS_OK)
            nt->stream_ok = 1;
        pthread_mutex_unlock(&nt->mu);
    }
    char subject[512], id[256];
    for (size_t i = 0; s == NATS_OK && i < n; i++) {
        natsMsg *msg = NULL;
        if (wsmd__nats_subject(nt->subject, m->subscription, ev[i].channel, subject,
                               sizeof(subject)) != WSM_OK) {
            s = NATS_INVALID_SUBJECT;
            break;
        }
        wsmd__nats_msg_id(&ev[i], m->subscription, id, sizeof(id));
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MsgId = id;
        po.ExpectStream = nt->stream;
        po.MaxWait = nt->timeout_ms;
        size_t len = off[i + 1] - off[i] - 1; /* without the newline */
        s = natsMsg_Create(&msg, subject, NULL, json + off[i], (int)len);
        if (s == NATS_OK)
            s = js_PublishMsgAsync(js, &msg, &po);
        natsMsg_Destroy(msg); /* NULL once libnats took it */
    }
    int complete = 0;
    if (js) {
        jsPubOptions co;
        jsPubOptions_Init(&co);
        co.MaxWait = nt->timeout_ms + 1000;
        natsStatus cs = js_PublishAsyncComplete(js, &co);
        complete = cs == NATS_OK;
        if (s == NATS_OK)
            s = cs;
    }
    unsigned failed = 0;
    if (b) {
        pthread_mutex_lock(&b->mu);
        failed = b->failed;
        if (s == NATS_OK && failed)
            s = b->last;
        pthread_mutex_unlock(&b->mu);
    }
    if (s != NATS_OK) {
        /* A stream deleted meanwhile answers "no responders": look again. */
        if (s == NATS_NO_RESPONDERS || s == NATS_NOT_FOUND) {
            pthread_mutex_lock(&nt->mu);
            nt->stream_ok = 0;
            pthread_mutex_unlock(&nt->mu);
        }
        wsmd__log_limited(&nt->rate, 5,
                          "event=output_refused output=nats url=%s events=%zu failed=%u "
                          "error=\"%s\"",
                          nt->url, n, failed, natsStatus_GetText(s));
    }
    /* Every acknowledgement in: the context goes back to the pool.
     * Otherwise the handler may still run (a late timeout): the context
     * goes and b stays, a few bytes per failed batch. */
    if (p && complete) {
        pthread_mutex_lock(&nt->mu);
        p->next = nt->pool;
        nt->pool = p;
        pthread_mutex_unlock(&nt->mu);
    } else if (p) {
        jsCtx_Destroy(js);
        free(p);
    }
    return s == NATS_OK ? WSM_OK : WSM_ERR_IO;
}
