/* Helpers of the event source's unit tests (test_evsub*.c; evsub_helpers.h).
 * The fake journal is a test-only implementation of src/evsrc/evsrc.h: an
 * in-memory list of events, a bookmark that is the record number, an
 * eventfd per reader that an append makes readable. Linked into each
 * program, it stands in for the real reader of the wsmd core. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "evsub_helpers.h"
#include "tmpdir.h"

/* ---- the fake journal ---------------------------------------------------- */

#define MAX_EV 256
#define MAX_READERS 64
static char *events[MAX_EV];
static int nevents;
static pthread_mutex_t evlock = PTHREAD_MUTEX_INITIALIZER;

struct wsmd_evq {
    int level; /* 0: any */
};
struct wsmd_evreader {
    const struct wsmd_evq *q;
    int pos; /* the next record to look at */
    int fd;
    int slot;
};
static struct wsmd_evreader *readers[MAX_READERS];
/* Every reader's eventfd, kept after the reader closes (as an inotify
 * instance lives on in a dup the event source waits on): an append makes
 * them all readable. */
#define MAX_FDS 4096
static int notify_fds[MAX_FDS];
static int nnotify;

enum wsm_err wsmd__evq_compile(const char *text, size_t len, struct wsmd_evq **out, char *why,
                               size_t whylen)
{
    (void)len;
    if (!strstr(text, "<QueryList")) {
        snprintf(why, whylen, "not a QueryList");
        return WSM_ERR_INVALID_ARG;
    }
    if (strstr(text, "Unsupported")) {
        snprintf(why, whylen, "the function foo() is not supported");
        return WSM_ERR_UNSUPPORTED_FEATURE;
    }
    *out = calloc(1, sizeof(**out));
    (*out)->level = strstr(text, "Level=2") ? 2 : 0;
    return WSM_OK;
}

enum wsm_err wsmd__evq_compile_ex(const char *text, size_t len, unsigned flags,
                                  struct wsmd_evq **out, char *why, size_t whylen)
{
    if (strstr(text, "Path=\"Bogus\"")) {
        snprintf(why, whylen,
                 flags & WSMD_EVQ_IGNORE_CHANNEL_ERROR ? "ignored unknown channel 'Bogus'"
                                                       : "unknown channel 'Bogus'");
        if (!(flags & WSMD_EVQ_IGNORE_CHANNEL_ERROR))
            return WSM_ERR_INVALID_ARG;
        *out = calloc(1, sizeof(**out));
        return WSM_OK;
    }
    why[0] = '\0';
    return wsmd__evq_compile(text, len, out, why, whylen);
}

void wsmd__evq_free(struct wsmd_evq *q)
{
    free(q);
}

enum wsm_err wsmd__evr_open(const struct wsmd_evreader_opts *o, struct wsmd_evreader **out)
{
    struct wsmd_evreader *r = calloc(1, sizeof(*r));
    r->q = o->query;
    pthread_mutex_lock(&evlock);
    if (o->start == WSMD_EV_FROM_NOW)
        r->pos = nevents;
    else if (o->start == WSMD_EV_FROM_BOOKMARK) {
        int n;
        if (!o->bookmark ||
            sscanf(o->bookmark, "<BookmarkList><Bookmark RecordId=\"%d\"", &n) != 1 || n < 0 ||
            n > nevents) {
            pthread_mutex_unlock(&evlock);
            free(r);
            return WSM_ERR_INVALID_ARG;
        }
        r->pos = n;
    }
    r->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (nnotify < MAX_FDS)
        notify_fds[nnotify++] = r->fd;
    r->slot = -1;
    for (int i = 0; i < MAX_READERS; i++)
        if (!readers[i]) {
            readers[i] = r;
            r->slot = i;
            break;
        }
    pthread_mutex_unlock(&evlock);
    *out = r;
    return WSM_OK;
}

int wsmd__evr_fd(struct wsmd_evreader *r)
{
    return r->fd;
}

static int matches(const struct wsmd_evreader *r, const char *ev)
{
    return !r->q || !r->q->level || strstr(ev, "<Level>2<");
}

enum wsm_err wsmd__evr_next(struct wsmd_evreader *r, struct wsm_buf *out)
{
    pthread_mutex_lock(&evlock);
    while (r->pos < nevents && !matches(r, events[r->pos]))
        r->pos++;
    if (r->pos >= nevents) {
        uint64_t v;
        if (read(r->fd, &v, sizeof(v)) < 0) {
            /* not readable: nothing new */
        }
        pthread_mutex_unlock(&evlock);
        return WSM_ERR_TIMED_OUT;
    }
    enum wsm_err e = wsm__buf_puts(out, events[r->pos++]);
    pthread_mutex_unlock(&evlock);
    return e;
}

enum wsm_err wsmd__evr_bookmark(struct wsmd_evreader *r, struct wsm_buf *out)
{
    return wsm__buf_printf(out, "<BookmarkList><Bookmark RecordId=\"%d\"/></BookmarkList>", r->pos);
}

void wsmd__evr_close(struct wsmd_evreader *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&evlock);
    if (r->slot >= 0)
        readers[r->slot] = NULL;
    pthread_mutex_unlock(&evlock);
    free(r); /* its eventfd stays in notify_fds */
}

int open_readers(void)
{
    int n = 0;
    pthread_mutex_lock(&evlock);
    for (int i = 0; i < MAX_READERS; i++)
        n += readers[i] != NULL;
    pthread_mutex_unlock(&evlock);
    return n;
}

void append_event(const char *provider, int level)
{
    char b[512];
    snprintf(b, sizeof(b),
             "<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"><System>"
             "<Provider Name=\"%s\"/><Level>%d</Level><EventRecordID>%d</EventRecordID>"
             "</System></Event>",
             provider, level, nevents);
    pthread_mutex_lock(&evlock);
    events[nevents++] = strdup(b);
    uint64_t one = 1;
    for (int i = 0; i < nnotify; i++)
        if (write(notify_fds[i], &one, sizeof(one)) < 0)
            fail();
    pthread_mutex_unlock(&evlock);
}

/* ---- fixture -------------------------------------------------------------- */

long long mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    assert_int_equal(test_tmpdir_make(f.dir, sizeof(f.dir), "evsub"), 0);
    wsmd__config_defaults(&f.srv.cfg);
    f.srv.cfg.state_dir = strdup(f.dir);
    snprintf(f.lis.url, sizeof(f.lis.url), "http://127.0.0.1:5985/wsman");
    wsm__buf_init(&f.out, 0);
    for (int i = 0; i < nevents; i++)
        free(events[i]);
    nevents = 0;
    wsmd__evs_start(&f.srv);
    *state = &f;
    return 0;
}

int teardown(void **state)
{
    struct fixture *f = *state;
    settle(f, 0); /* the last reply's, as the HTTP layer always does */
    wsmd__evs_stop();
    for (int i = 0; i < nnotify; i++)
        close(notify_fds[i]);
    nnotify = 0;
    wsm__buf_free(&f->out);
    wsm__envelope_free(f->env);
    wsmd__config_clear(&f->srv.cfg);
    test_tmpdir_remove(f->dir);
    return 0;
}

/* Runs one request as user; header_extra goes into the Header. */
enum wsm_err req(struct fixture *f, const char *user, wsmd_handler h, const char *action,
                 const char *header_extra, const char *body, int resumed, void *resume)
{
    static char text[16384];
    snprintf(text, sizeof(text),
             "<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\" xmlns:a=\"" WSM_NS_WSA
             "\" xmlns:w=\"" WSM_NS_WSMAN "\" xmlns:e=\"" WSM_NS_WSEV "\" xmlns:n=\"" WSM_NS_WSEN
             "\"><s:Header><a:To>http://127.0.0.1:5985/wsman</a:To>"
             "<a:MessageID>uuid:1</a:MessageID><w:ResourceURI>" WSMD_EVENTLOG_URI
             "</w:ResourceURI><a:Action>%s</a:Action>%s</s:Header><s:Body>%s</s:Body>"
             "</s:Envelope>",
             action, header_extra ? header_extra : "", body ? body : "");
    wsm__envelope_free(f->env);
    f->env = NULL;
    wsm__buf_reset(&f->out);
    assert_int_equal(wsm__envelope_parse(text, strlen(text), NULL, &f->env, NULL, 0), WSM_OK);
    if (f->last.settle) /* the reply before was written (every reply is settled) */
        f->last.settle(f->last.settle_arg, 1);
    memset(&f->last, 0, sizeof(f->last));
    f->last.srv = &f->srv;
    f->last.lis = &f->lis;
    f->last.env = f->env;
    f->last.user = user;
    f->last.out = &f->out;
    f->last.t0_ms = mono();
    f->last.resumed = resumed;
    f->last.resume_ctx = resume;
    enum wsm_err e = h(&f->last);
    f->fault = f->last.fault_message;
    return e;
}

void between(const char *s, const char *open, const char *close, char *out, size_t n)
{
    const char *a = strstr(s, open);
    assert_non_null(a);
    a += strlen(open);
    const char *b = strstr(a, close);
    assert_non_null(b);
    snprintf(out, n, "%.*s", (int)(b - a), a);
}

char *reply(struct fixture *f)
{
    wsm__buf_puts(&f->out, ""); /* NUL-terminated */
    return f->out.data;
}

enum wsm_err subscribe(struct fixture *f, const char *user, const char *delivery,
                       const char *extra_body, const char *header_extra)
{
    char body[4096];
    snprintf(body, sizeof(body),
             "<e:Subscribe>%s<w:Filter Dialect=\"" WSMD_EVQUERY_DIALECT "\">" QUERY
             "</w:Filter>%s</e:Subscribe>",
             delivery ? delivery : "<e:Delivery Mode=\"" WSMD_EV_PULL_MODE "\"/>",
             extra_body ? extra_body : "");
    enum wsm_err e =
        req(f, user, wsmd__evsub_subscribe, EV "Subscribe", header_extra, body, 0, NULL);
    if (!e) {
        between(reply(f), "<e:Identifier>", "</e:Identifier>", f->id, sizeof(f->id));
        f->ctx[0] = '\0';
        if (strstr(reply(f), "<n:EnumerationContext>")) /* none in push modes */
            between(reply(f), "<n:EnumerationContext>", "</n:EnumerationContext>", f->ctx,
                    sizeof(f->ctx));
    }
    return e;
}

/* Settles the last reply as the HTTP layer would. */
void settle(struct fixture *f, int delivered)
{
    if (f->last.settle)
        f->last.settle(f->last.settle_arg, delivered);
    f->last.settle = NULL;
}

enum wsm_err pull(struct fixture *f, const char *user, const char *ctx, int max,
                  const char *maxtime)
{
    char body[512];
    snprintf(body, sizeof(body),
             "<n:Pull><n:EnumerationContext>%s</n:EnumerationContext>%s%s%s"
             "<n:MaxElements>%d</n:MaxElements></n:Pull>",
             ctx, maxtime ? "<n:MaxTime>" : "", maxtime ? maxtime : "",
             maxtime ? "</n:MaxTime>" : "", max);
    return req(f, user, wsmd__evsub_pull, EN "Pull", NULL, body, 0, NULL);
}

int count_events(const char *s)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, "<Event ")); p++)
        n++;
    return n;
}

char *idhdr(struct fixture *f)
{
    static char h[128];
    snprintf(h, sizeof(h), "<e:Identifier>%s</e:Identifier>", f->id);
    return h;
}
