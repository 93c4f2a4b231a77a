/* Unit tests for the event source's protocol side (src/daemon/evsub.c,
 * evpull.c, evstore.c) over a fake journal: a test-only implementation of
 * src/evsrc/evsrc.h (an in-memory list of events, a bookmark that is the
 * record number, an eventfd per reader that an append makes readable).
 * The handlers are called as dispatch calls them; a parked Pull is armed
 * and woken as the HTTP layer does. */
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

#include "config.h"
#include "evpush.h"
#include "forwarder.h"
#include "evsub.h"
#include "ns.h"
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

static int open_readers(void)
{
    int n = 0;
    pthread_mutex_lock(&evlock);
    for (int i = 0; i < MAX_READERS; i++)
        n += readers[i] != NULL;
    pthread_mutex_unlock(&evlock);
    return n;
}

static void append_event(const char *provider, int level)
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

#define EV "http://schemas.xmlsoap.org/ws/2004/08/eventing/"
#define EN "http://schemas.xmlsoap.org/ws/2004/09/enumeration/"
#define QUERY                                                                                      \
    "<QueryList><Query Id=\"0\"><Select Path=\"Application\">*</Select></Query></QueryList>"

struct fixture {
    struct wsmd_server srv;
    struct wsmd_listener lis;
    struct wsm_buf out;
    struct wsm_envelope *env;
    const char *fault;
    char dir[256];
    char id[64], ctx[64];
    struct wsmd_call last; /* the last call (park, settle) */
};

static long long mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int setup(void **state)
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

static void settle(struct fixture *f, int delivered);

static int teardown(void **state)
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
static enum wsm_err req(struct fixture *f, const char *user, wsmd_handler h, const char *action,
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

static void between(const char *s, const char *open, const char *close, char *out, size_t n)
{
    const char *a = strstr(s, open);
    assert_non_null(a);
    a += strlen(open);
    const char *b = strstr(a, close);
    assert_non_null(b);
    snprintf(out, n, "%.*s", (int)(b - a), a);
}

static char *reply(struct fixture *f)
{
    wsm__buf_puts(&f->out, ""); /* NUL-terminated */
    return f->out.data;
}

static enum wsm_err subscribe(struct fixture *f, const char *user, const char *delivery,
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
static void settle(struct fixture *f, int delivered)
{
    if (f->last.settle)
        f->last.settle(f->last.settle_arg, delivered);
    f->last.settle = NULL;
}

static enum wsm_err pull(struct fixture *f, const char *user, const char *ctx, int max,
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

static int count_events(const char *s)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, "<Event ")); p++)
        n++;
    return n;
}

static char *idhdr(struct fixture *f)
{
    static char h[128];
    snprintf(h, sizeof(h), "<e:Identifier>%s</e:Identifier>", f->id);
    return h;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_times(void **state)
{
    (void)state;
    long long t;
    assert_int_equal(wsmd__evsub_datetime("1970-01-01T00:00:01Z", &t), WSM_OK);
    assert_int_equal(t, 1000);
    assert_int_equal(wsmd__evsub_datetime("2026-12-07T10:00:00.250+01:00", &t), WSM_OK);
    assert_int_equal(t, 1796637600000LL - 3600000 + 250);
    const char *bad[] = {"",
                         "2026-13-01T00:00:00Z",
                         "2026-12-07 10:00:00Z",
                         "2026-12-07T10:00",
                         "2026-12-07T10:00:00+1",
                         "2026-12-07T10:00:00Zjunk",
                         "1969-12-31T00:00:00Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(wsmd__evsub_datetime(bad[i], &t), WSM_ERR_INVALID_EXPIRATION);
    long long now = 1796634000000LL;
    assert_int_equal(wsmd__evsub_expires("PT10M", now, &t), WSM_OK);
    assert_int_equal(t, now + 600000);
    assert_int_equal(wsmd__evsub_expires("2027-01-01T00:00:00Z", now, &t), WSM_OK);
    const char *badx[] = {"PT0S", "-PT5S", "P", "soon", "2020-01-01T00:00:00Z", "PT-1S"};
    for (size_t i = 0; i < sizeof(badx) / sizeof(badx[0]); i++)
        assert_int_equal(wsmd__evsub_expires(badx[i], now, &t), WSM_ERR_INVALID_EXPIRATION);
}

static void test_subscribe_pull(void **state)
{
    struct fixture *f = *state;
    append_event("old", 4); /* before the subscription: not read */
    assert_int_equal(
        subscribe(f, "alice", NULL, "<e:Expires>PT1H</e:Expires><w:SendBookmarks/>", NULL), WSM_OK);
    char *r = reply(f);
    assert_non_null(strstr(r, "<a:Address>http://127.0.0.1:5985/wsman</a:Address>"));
    assert_non_null(strstr(r, "<e:Expires>PT3"));
    assert_int_equal(strncmp(f->ctx, "uuid:", 5), 0);
    assert_string_not_equal(f->ctx, f->id);
    append_event("app1", 2);
    append_event("app2", 3);
    append_event("app3", 4);
    assert_int_equal(pull(f, "alice", f->ctx, 2, NULL), WSM_OK);
    r = reply(f);
    assert_int_equal(count_events(r), 2);
    assert_non_null(strstr(r, "Name=\"app1\""));
    assert_null(strstr(r, "Name=\"old\""));
    /* The bookmark after app2 in the header. */
    assert_non_null(strstr(r, "<w:Bookmark><BookmarkList><Bookmark RecordId=\"3\"/>"));
    assert_true(strstr(r, "<w:Bookmark>") < strstr(r, "<s:Body>"));
    settle(f, 1);
    /* Readers are open only while a Pull runs. */
    assert_int_equal(open_readers(), 0);
    assert_int_equal(pull(f, "alice", f->ctx, 5, NULL), WSM_OK);
    r = reply(f);
    assert_int_equal(count_events(r), 1);
    assert_non_null(strstr(r, "Name=\"app3\""));
    assert_int_equal(open_readers(), 0);
    assert_null(strstr(r, "EndOfSequence"));
}

static void test_faults(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(subscribe(f, "alice",
                               "<e:Delivery Mode=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/"
                               "Events\"/>",
                               NULL, NULL),
                     WSM_ERR_INVALID_SUBSCRIPTION);
    assert_non_null(strstr(f->fault, "NotifyTo"));
    /* No mode is WS-Eventing's Push: it needs its NotifyTo too. */
    assert_int_equal(subscribe(f, "alice", "<e:Delivery/>", NULL, NULL),
                     WSM_ERR_INVALID_SUBSCRIPTION);
    assert_int_equal(subscribe(f, "alice", "<e:Delivery Mode=\"urn:nothing\"/>", NULL, NULL),
                     WSM_ERR_DELIVERY_MODE);
    assert_int_equal(subscribe(f, "alice",
                               "<e:Delivery Mode=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/"
                               "Events\"><e:NotifyTo><a:Address>http://127.0.0.1:1/x</a:Address>"
                               "</e:NotifyTo><w:MaxElements>0</w:MaxElements></e:Delivery>",
                               NULL, NULL),
                     WSM_ERR_INVALID_OPTIONS);
    assert_int_equal(subscribe(f, "alice",
                               "<e:Delivery Mode=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/"
                               "Events\"><e:NotifyTo><a:Address>http://127.0.0.1:1/x</a:Address>"
                               "</e:NotifyTo><w:ConnectionRetry Total=\"x\">PT1S"
                               "</w:ConnectionRetry></e:Delivery>",
                               NULL, NULL),
                     WSM_ERR_INVALID_OPTIONS);
    assert_int_equal(subscribe(f, "alice", NULL, "<e:Expires>PT0S</e:Expires>", NULL),
                     WSM_ERR_INVALID_EXPIRATION);
    assert_int_equal(
        subscribe(f, "alice", NULL, "<e:Expires>2001-01-01T00:00:00Z</e:Expires>", NULL),
        WSM_ERR_INVALID_EXPIRATION);
    assert_int_equal(req(f, "alice", wsmd__evsub_subscribe, EV "Subscribe", NULL,
                         "<e:Subscribe><e:Delivery Mode=\"" WSMD_EV_PULL_MODE "\"/>"
                         "<w:Filter Dialect=\"http://schemas.microsoft.com/wbem/wsman/1/WQL\">"
                         "select * from x</w:Filter></e:Subscribe>",
                         0, NULL),
                     WSM_ERR_FILTERING_UNAVAILABLE);
    assert_int_equal(req(f, "alice", wsmd__evsub_subscribe, EV "Subscribe", NULL,
                         "<e:Subscribe><e:Delivery Mode=\"" WSMD_EV_PULL_MODE "\"/>"
                         "<w:Filter Dialect=\"" WSMD_EVQUERY_DIALECT "\">nonsense</w:Filter>"
                         "</e:Subscribe>",
                         0, NULL),
                     WSM_ERR_CANNOT_PROCESS_FILTER);
    assert_non_null(strstr(f->fault, "not a QueryList"));
    assert_int_equal(req(f, "alice", wsmd__evsub_subscribe, EV "Subscribe", NULL,
                         "<e:Subscribe><e:Delivery Mode=\"" WSMD_EV_PULL_MODE "\"/>"
                         "<w:Filter Dialect=\"" WSMD_EVQUERY_DIALECT "\"><QueryList>Unsupported"
                         "</QueryList></w:Filter></e:Subscribe>",
                         0, NULL),
                     WSM_ERR_CANNOT_PROCESS_FILTER);
    assert_non_null(strstr(f->fault, "foo()"));
    assert_int_equal(subscribe(f, "alice", NULL,
                               "<w:Bookmark><BookmarkList><Bookmark "
                               "RecordId=\"999\"/></BookmarkList></w:Bookmark>",
                               NULL),
                     WSM_ERR_INVALID_BOOKMARK);
    assert_int_equal(subscribe(f, "alice", NULL, NULL,
                               "<w:OptionSet><w:Option Name=\"ContentFormat\">Html</w:Option>"
                               "</w:OptionSet>"),
                     WSM_ERR_INVALID_OPTIONS);
    assert_int_equal(wsmd__evs_count(), 0);
    assert_int_equal(pull(f, "alice", "uuid:nonexistent", 1, NULL), WSM_ERR_INVALID_ENUM_CONTEXT);
    assert_int_equal(pull(f, "alice", "uuid:x", 0, NULL), WSM_ERR_INVALID_OPTIONS);
}

/* Another user's ids are answered exactly as unknown ones. */
static void test_owner(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(subscribe(f, "alice", NULL, NULL, NULL), WSM_OK);
    assert_int_equal(pull(f, "bob", f->ctx, 1, "PT0.1S"), WSM_ERR_INVALID_ENUM_CONTEXT);
    assert_int_equal(
        req(f, "bob", wsmd__evsub_getstatus, EV "GetStatus", idhdr(f), "<e:GetStatus/>", 0, NULL),
        WSM_ERR_INVALID_SUBSCRIPTION);
    assert_int_equal(req(f, "bob", wsmd__evsub_unsubscribe, EV "Unsubscribe", idhdr(f),
                         "<e:Unsubscribe/>", 0, NULL),
                     WSM_ERR_INVALID_SUBSCRIPTION);
    assert_int_equal(req(f, "bob", wsmd__evsub_renew, EV "Renew", idhdr(f),
                         "<e:Renew><e:Expires>PT1H</e:Expires></e:Renew>", 0, NULL),
                     WSM_ERR_UNABLE_TO_RENEW);
    char rel[256];
    snprintf(rel, sizeof(rel),
             "<n:Release><n:EnumerationContext>%s</n:EnumerationContext>"
             "</n:Release>",
             f->ctx);
    assert_int_equal(req(f, "bob", wsmd__evsub_release, EN "Release", NULL, rel, 0, NULL),
                     WSM_ERR_INVALID_ENUM_CONTEXT);
    assert_int_equal(wsmd__evs_count(), 1);
    /* The owner's own. */
    assert_int_equal(req(f, "alice", wsmd__evsub_unsubscribe, EV "Unsubscribe", idhdr(f),
                         "<e:Unsubscribe/>", 0, NULL),
                     WSM_OK);
    assert_non_null(strstr(reply(f), EV "UnsubscribeResponse"));
    assert_int_equal(wsmd__evs_count(), 0);
    assert_int_equal(pull(f, "alice", f->ctx, 1, NULL), WSM_ERR_INVALID_ENUM_CONTEXT);
}

/* A StateDir that does not exist yet is made (mkdir -p) at the first
 * Subscribe; its database is private to wsmd's account. */
static void test_statedir_made(void **state)
{
    struct fixture *f = *state;
    wsmd__evs_stop();
    char sub[400], db[450];
    snprintf(sub, sizeof(sub), "%s/a/b/state", f->dir);
    free(f->srv.cfg.state_dir);
    f->srv.cfg.state_dir = strdup(sub);
    wsmd__evs_start(&f->srv);
    assert_int_equal(subscribe(f, "alice", NULL, NULL, NULL), WSM_OK);
    snprintf(db, sizeof(db), "%s/eventsource.db", sub);
    struct stat st;
    assert_int_equal(stat(db, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_quota(void **state)
{
    struct fixture *f = *state;
    /* The key: 1..10000. */
    const char *bad[] = {"0", "-1", "10001", "x", "", "3k"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(wsmd__config_set(&f->srv.cfg, "MaxSubscriptionsPerUser", bad[i]),
                         WSM_ERR_INVALID_ARG);
    assert_int_equal(f->srv.cfg.max_subscriptions_per_user, 0); /* unset: 100 */
    assert_int_equal(wsmd__config_set(&f->srv.cfg, "maxsubscriptionsperuser", "3"), WSM_OK);
    assert_int_equal(f->srv.cfg.max_subscriptions_per_user, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(subscribe(f, "alice", NULL, NULL, NULL), WSM_OK);
    assert_int_equal(subscribe(f, "alice", NULL, NULL, NULL), WSM_ERR_QUOTA);
    assert_non_null(strstr(f->fault, "MaxSubscriptionsPerUser"));
    assert_int_equal(subscribe(f, "bob", NULL, NULL, NULL), WSM_OK); /* per user */
    assert_int_equal(wsmd__evs_count(), 4);
}

static void test_renew_status_expiry(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(subscribe(f, "alice", NULL, "<e:Expires>PT0.3S</e:Expires>", NULL), WSM_OK);
    assert_int_equal(req(f, "alice", wsmd__evsub_renew, EV "Renew", idhdr(f),
                         "<e:Renew><e:Expires>PT2H</e:Expires></e:Renew>", 0, NULL),
                     WSM_OK);
    assert_non_null(strstr(reply(f), "<e:Expires>PT7"));
    assert_int_equal(
        req(f, "alice", wsmd__evsub_getstatus, EV "GetStatus", idhdr(f), "<e:GetStatus/>", 0, NULL),
        WSM_OK);
    assert_non_null(strstr(reply(f), "<e:GetStatusResponse><e:Expires>PT7"));
    assert_int_equal(req(f, "alice", wsmd__evsub_renew, EV "Renew", idhdr(f),
                         "<e:Renew><e:Expires>PT0.2S</e:Expires></e:Renew>", 0, NULL),
                     WSM_OK);
    /* Expired: gone for every operation (polled, not slept). */
    long long until = mono() + 5000;
    enum wsm_err e;
    while ((e = req(f, "alice", wsmd__evsub_getstatus, EV "GetStatus", idhdr(f), "<e:GetStatus/>",
                    0, NULL)) == WSM_OK &&
           mono() < until) {
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(e, WSM_ERR_INVALID_SUBSCRIPTION);
    assert_int_equal(pull(f, "alice", f->ctx, 1, NULL), WSM_ERR_INVALID_ENUM_CONTEXT);
    assert_int_equal(wsmd__evs_count(), 0);
}

/* One nobody looks at goes too (the waiter thread's sweep), and its row. */
static void test_sweep(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(subscribe(f, "alice", NULL, "<e:Expires>PT0.2S</e:Expires>", NULL), WSM_OK);
    assert_int_equal(wsmd__evs_count(), 1);
    long long until = mono() + 5000;
    while (wsmd__evs_count() && mono() < until) {
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(wsmd__evs_count(), 0);
    wsmd__evs_stop();
    wsmd__evs_start(&f->srv);
    assert_int_equal(wsmd__evs_count(), 0);
}

static int woken;
static pthread_mutex_t wk = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wkc = PTHREAD_COND_INITIALIZER;

static void wake(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&wk);
    woken++;
    pthread_cond_signal(&wkc);
    pthread_mutex_unlock(&wk);
}

static int wait_woken(int n, int ms)
{
    struct timespec d;
    clock_gettime(CLOCK_REALTIME, &d);
    d.tv_sec += ms / 1000;
    d.tv_nsec += (ms % 1000) * 1000000L;
    if (d.tv_nsec >= 1000000000L) {
        d.tv_sec++;
        d.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&wk);
    while (woken < n)
        if (pthread_cond_timedwait(&wkc, &wk, &d) != 0)
            break;
    int got = woken;
    pthread_mutex_unlock(&wk);
    return got >= n;
}

/* A Pull with nothing parks; an event wakes it; the resumed run reads it.
 * One with nothing until its MaxTime answers w:TimedOut. */
static void test_park(void **state)
{
    struct fixture *f = *state;
    woken = 0;
    assert_int_equal(subscribe(f, "alice", NULL, NULL, NULL), WSM_OK);
    assert_int_equal(pull(f, "alice", f->ctx, 10, "PT30S"), WSM_OK);
    assert_non_null(f->last.park);
    unsigned long token = 0;
    assert_int_equal(f->last.park(&f->last, wake, NULL, &token), WSM_OK);
    assert_false(wait_woken(1, 100)); /* nothing yet */
    append_event("late", 2);
    assert_true(wait_woken(1, 5000));
    char body[512];
    snprintf(body, sizeof(body),
             "<n:Pull><n:EnumerationContext>%s</n:EnumerationContext>"
             "<n:MaxElements>10</n:MaxElements></n:Pull>",
             f->ctx);
    assert_int_equal(
        req(f, "alice", wsmd__evsub_pull, EN "Pull", NULL, body, 1, f->last.resume_ctx), WSM_OK);
    assert_int_equal(count_events(reply(f)), 1);
    settle(f, 1);

    /* Cancelled (the client went away): unpark says so, nothing wakes. */
    assert_int_equal(pull(f, "alice", f->ctx, 10, "PT30S"), WSM_OK);
    assert_int_equal(f->last.park(&f->last, wake, NULL, &token), WSM_OK);
    assert_int_equal(f->last.unpark(&f->srv, token), 1);
    assert_int_equal(f->last.unpark(&f->srv, token), 0);

    /* MaxTime passes: the wait ends, and the run after it times out. */
    assert_int_equal(pull(f, "alice", f->ctx, 10, "PT0.2S"), WSM_OK);
    assert_int_equal(f->last.park(&f->last, wake, NULL, &token), WSM_OK);
    assert_true(wait_woken(2, 5000));
    void *rc = f->last.resume_ctx;
    long long t0 = f->last.t0_ms;
    snprintf(body, sizeof(body),
             "<n:Pull><n:EnumerationContext>%s</n:EnumerationContext>"
             "<n:MaxTime>PT0.2S</n:MaxTime></n:Pull>",
             f->ctx);
    wsm__envelope_free(f->env);
    f->env = NULL;
    /* As resumed: the same request, its arrival time kept. */
    static char text[4096];
    snprintf(text, sizeof(text),
             "<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\" xmlns:a=\"" WSM_NS_WSA
             "\" xmlns:w=\"" WSM_NS_WSMAN "\" xmlns:n=\"" WSM_NS_WSEN "\"><s:Header>"
             "<a:MessageID>uuid:1</a:MessageID><w:ResourceURI>" WSMD_EVENTLOG_URI
             "</w:ResourceURI><a:Action>" EN "Pull</a:Action></s:Header><s:Body>%s</s:Body>"
             "</s:Envelope>",
             body);
    assert_int_equal(wsm__envelope_parse(text, strlen(text), NULL, &f->env, NULL, 0), WSM_OK);
    struct wsmd_call c = {.srv = &f->srv,
                          .lis = &f->lis,
                          .env = f->env,
                          .user = "alice",
                          .out = &f->out,
                          .t0_ms = t0,
                          .resumed = 1,
                          .resume_ctx = rc};
    assert_int_equal(wsmd__evsub_pull(&c), WSM_ERR_TIMED_OUT);
    /* The context stays. */
    assert_int_equal(wsmd__evs_count(), 1);
}

/* Subscriptions survive a restart; a Pull goes on after the last bookmark
 * delivered; a lost reply is sent again. */
static void test_restart(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(subscribe(f, "alice", NULL, "<e:Expires>PT1H</e:Expires>", NULL), WSM_OK);
    char id[64], ctx[64];
    strcpy(id, f->id);
    strcpy(ctx, f->ctx);
    assert_int_equal(subscribe(f, "alice", NULL, NULL, NULL), WSM_OK); /* unsubscribed below */
    assert_int_equal(req(f, "alice", wsmd__evsub_unsubscribe, EV "Unsubscribe", idhdr(f),
                         "<e:Unsubscribe/>", 0, NULL),
                     WSM_OK);
    append_event("e0", 4);
    append_event("e1", 4);
    append_event("e2", 4);
    assert_int_equal(pull(f, "alice", ctx, 1, NULL), WSM_OK);
    assert_non_null(strstr(reply(f), "Name=\"e0\""));
    settle(f, 1);
    assert_int_equal(pull(f, "alice", ctx, 1, NULL), WSM_OK);
    assert_non_null(strstr(reply(f), "Name=\"e1\""));
    settle(f, 0); /* lost on the way: e1 again */
    assert_int_equal(pull(f, "alice", ctx, 1, NULL), WSM_OK);
    assert_non_null(strstr(reply(f), "Name=\"e1\""));
    settle(f, 1);

    wsmd__evs_stop();
    assert_int_equal(wsmd__evs_count(), 0);
    wsmd__evs_start(&f->srv);
    assert_int_equal(wsmd__evs_count(), 1);
    assert_int_equal(pull(f, "bob", ctx, 1, NULL), WSM_ERR_INVALID_ENUM_CONTEXT);
    assert_int_equal(pull(f, "alice", ctx, 5, NULL), WSM_OK);
    char *r = reply(f);
    assert_int_equal(count_events(r), 1);
    assert_non_null(strstr(r, "Name=\"e2\""));
    strcpy(f->id, id);
    assert_int_equal(
        req(f, "alice", wsmd__evsub_getstatus, EV "GetStatus", idhdr(f), "<e:GetStatus/>", 0, NULL),
        WSM_OK);
    assert_non_null(strstr(reply(f), "<e:Expires>PT3"));
}

/* IgnoreChannelError: a Windows-only channel takes nothing instead of
 * refusing the filter, and so again after a restart (the flag is kept). */
static void test_ignore_channel(void **state)
{
    struct fixture *f = *state;
    const char *body = "<e:Subscribe><e:Delivery Mode=\"" WSMD_EV_PULL_MODE "\"/>"
                       "<w:Filter Dialect=\"" WSMD_EVQUERY_DIALECT "\"><QueryList><Query>"
                       "<Select Path=\"Bogus\">*</Select></Query></QueryList></w:Filter>"
                       "</e:Subscribe>";
    assert_int_equal(req(f, "alice", wsmd__evsub_subscribe, EV "Subscribe", NULL, body, 0, NULL),
                     WSM_ERR_CANNOT_PROCESS_FILTER);
    assert_non_null(strstr(f->fault, "unknown channel 'Bogus'"));
    assert_int_equal(req(f, "alice", wsmd__evsub_subscribe, EV "Subscribe",
                         "<w:OptionSet><w:Option Name=\"IgnoreChannelError\"/></w:OptionSet>", body,
                         0, NULL),
                     WSM_OK);
    wsmd__evs_stop();
    wsmd__evs_start(&f->srv);
    assert_int_equal(wsmd__evs_count(), 1);
}

static int probe_answer;
static int fake_probe(void *arg)
{
    (void)arg;
    return probe_answer;
}

/* The next Pull asks the last reply's drain whether it reached the client:
 * not (-1): its events are sent again; yes (1): they are not. A late settle
 * of the superseded reply changes nothing. */
static void test_probe(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(subscribe(f, "alice", NULL, NULL, NULL), WSM_OK);
    append_event("p0", 4);
    append_event("p1", 4);
    assert_int_equal(pull(f, "alice", f->ctx, 1, NULL), WSM_OK);
    assert_non_null(strstr(reply(f), "Name=\"p0\""));
    assert_non_null(f->last.settle_probe);
    probe_answer = -1;
    f->last.settle_probe(f->last.settle_arg, fake_probe, NULL);
    struct wsmd_call stale = f->last;
    f->last.settle = NULL; /* settled late, below */
    assert_int_equal(pull(f, "alice", f->ctx, 1, NULL), WSM_OK);
    assert_non_null(strstr(reply(f), "Name=\"p0\"")); /* again */
    stale.settle(stale.settle_arg, 1);                /* too late: ignored */
    probe_answer = 1;
    f->last.settle_probe(f->last.settle_arg, fake_probe, NULL);
    struct wsmd_call second = f->last;
    f->last.settle = NULL;
    assert_int_equal(pull(f, "alice", f->ctx, 1, NULL), WSM_OK);
    assert_non_null(strstr(reply(f), "Name=\"p1\""));
    second.settle(second.settle_arg, 1);
}

/* An event too big for the client's MaxEnvelopeSize: EncodingLimit, kept. */
static void test_envelope_limit(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(subscribe(f, "alice", NULL, NULL, NULL), WSM_OK);
    append_event("a", 4);
    append_event("b", 4);
    char body[512];
    snprintf(body, sizeof(body),
             "<n:Pull><n:EnumerationContext>%s</n:EnumerationContext>"
             "<n:MaxElements>5</n:MaxElements></n:Pull>",
             f->ctx);
    assert_int_equal(req(f, "alice", wsmd__evsub_pull, EN "Pull",
                         "<w:MaxEnvelopeSize>900</w:MaxEnvelopeSize>", body, 0, NULL),
                     WSM_ERR_ENVELOPE_TOO_LARGE);
    assert_int_equal(req(f, "alice", wsmd__evsub_pull, EN "Pull",
                         "<w:MaxEnvelopeSize>1050</w:MaxEnvelopeSize>", body, 0, NULL),
                     WSM_OK);
    assert_int_equal(count_events(reply(f)), 1);
    assert_non_null(strstr(reply(f), "Name=\"a\""));
    assert_int_equal(pull(f, "alice", f->ctx, 5, NULL), WSM_OK);
    assert_int_equal(count_events(reply(f)), 1);
    assert_non_null(strstr(reply(f), "Name=\"b\""));
}

/* A push Subscribe: no EnumerationContext in the answer, and the delivery
 * kept in the stored form that a restart reads back. */
static void test_push_delivery(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        subscribe(f, "alice",
                  "<e:Delivery Mode=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/Events\">"
                  "<e:NotifyTo><a:Address>http://127.0.0.1:9/sub</a:Address>"
                  "<a:ReferenceParameters><w:Ref>r1</w:Ref></a:ReferenceParameters>"
                  "<w:Auth Profile=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/"
                  "basic\"/></e:NotifyTo><w:MaxElements>7</w:MaxElements>"
                  "<w:MaxTime>PT2S</w:MaxTime>"
                  "<w:ConnectionRetry Total=\"4\">PT3S</w:ConnectionRetry></e:Delivery>",
                  NULL,
                  "<t:UsernameToken xmlns:t=\"urn:t\"><t:Username>col</t:Username>"
                  "<t:Password>pw</t:Password></t:UsernameToken>"),
        WSM_OK);
    assert_null(strstr(reply(f), "EnumerationContext"));
    int busy = 0;
    struct wsmd_evs *s = NULL;
    /* A delivery thread may hold it for a moment (reading its journal). */
    for (int i = 0; i < 500 && !s; i++) {
        s = wsmd__evs_take(f->id, 0, "alice", &busy);
        if (!s)
            usleep(2000);
    }
    assert_non_null(s);
    assert_non_null(s->push);
    struct wsmd_evpush_cfg c;
    assert_int_equal(wsmd__evpush_cfg_parse(s->push, &c), 0);
    wsmd__evs_give(s);
    assert_int_equal(c.mode, 0);
    assert_string_equal(c.notify, "http://127.0.0.1:9/sub");
    assert_non_null(strstr(c.notify_refs, ">r1</w:Ref>"));
    assert_non_null(strstr(c.notify_refs, "xmlns:w=")); /* its namespace travels with it */
    assert_int_equal(c.max_elements, 7);
    assert_int_equal(c.max_time_ms, 2000);
    assert_int_equal(c.retry_total, 4);
    assert_int_equal(c.retry_ms, 3000);
    assert_int_equal(c.auth, 1);
    assert_string_equal(c.user, "col");
    assert_string_equal(c.password, "pw");
    assert_null(c.end_to);
    wsmd__evpush_cfg_clear(&c);
    /* Basic without the UsernameToken is refused. */
    assert_int_equal(
        subscribe(f, "alice",
                  "<e:Delivery Mode=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/Events\">"
                  "<e:NotifyTo><a:Address>http://127.0.0.1:9/sub</a:Address>"
                  "<w:Auth Profile=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/"
                  "basic\"/></e:NotifyTo></e:Delivery>",
                  NULL, NULL),
        WSM_ERR_INVALID_OPTIONS);
    /* Stored forms that are not well made. */
    static const char *const bad[] = {
        "",
        "1",
        "2\x1f"
        "0\x1fhttp://x\x1f\x1f\x1f\x1f"
        "1\x1f"
        "1\x1f"
        "8192\x1f"
        "0\x1f"
        "1\x1f"
        "0\x1f\x1f",
        "1\x1f"
        "3\x1fhttp://x\x1f\x1f\x1f\x1f"
        "1\x1f"
        "1\x1f"
        "8192\x1f"
        "0\x1f"
        "1\x1f"
        "0\x1f\x1f",
        "1\x1f"
        "0\x1fhttp://x\x1f\x1f\x1f\x1f"
        "0\x1f"
        "1\x1f"
        "8192\x1f"
        "0\x1f"
        "1\x1f"
        "0\x1f\x1f",
        "1\x1f"
        "0\x1f\x1f\x1f\x1f\x1f"
        "1\x1f"
        "1\x1f"
        "8192\x1f"
        "0\x1f"
        "1\x1f"
        "0\x1f\x1f",
        "1\x1f"
        "0\x1fhttp://x\x1f\x1f\x1f\x1f"
        "1\x1f"
        "1\x1f"
        "8192\x1f"
        "0\x1f"
        "1\x1f"
        "1\x1f\x1f",
        "1\x1f"
        "0\x1fhttp://x\x1f\x1f\x1f\x1f"
        "1\x1f"
        "1\x1f"
        "8192\x1f"
        "0\x1f"
        "1\x1f"
        "0\x1f\x1f\x1f",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(wsmd__evpush_cfg_parse(bad[i], &c), -1);
    assert_int_equal(wsmd__evpush_cfg_parse("1\x1f"
                                            "0\x1fhttp://x\x1f\x1f\x1f\x1f"
                                            "1\x1f"
                                            "1\x1f"
                                            "8192\x1f"
                                            "0\x1f"
                                            "1\x1f"
                                            "0\x1f\x1f",
                                            &c),
                     0);
    wsmd__evpush_cfg_clear(&c);
}

/* How deliveries authenticate (evpushauth.c): this fixture configures no
 * keytab or certificate, so Kerberos and https/mutual are refused at
 * Subscribe with the reason, never downgraded; among WS-Policy
 * alternatives the first honourable one is taken; the stored form keeps
 * the kind. */
#define PUSH_HEAD                                                                                  \
    "<e:Delivery Mode=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/Events\"><e:NotifyTo>"          \
    "<a:Address>%s</a:Address>%s</e:NotifyTo></e:Delivery>"
#define SECP "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/"
#define POLICY(alts)                                                                               \
    "<c:Policy xmlns:c=\"http://schemas.xmlsoap.org/ws/2002/12/policy\" "                          \
    "xmlns:au=\"http://schemas.microsoft.com/wbem/wsman/1/authentication\"><c:ExactlyOne>" alts    \
    "</c:ExactlyOne></c:Policy>"

static enum wsm_err push_with(struct fixture *f, const char *url, const char *auth, const char *hdr)
{
    char d[2048];
    snprintf(d, sizeof(d), PUSH_HEAD, url, auth);
    return subscribe(f, "alice", d, NULL, hdr);
}

static void test_push_auth(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *url, *auth;
        enum wsm_err e;
        const char *word;
    } refused[] = {
        {"http://127.0.0.1:9/s", "<w:Auth Profile=\"" SECP "http/spnego-kerberos\"/>",
         WSM_ERR_UNSUPPORTED_FEATURE, "ForwarderKeytab"},
        {"https://127.0.0.1:9/s",
         "<w:Auth Profile=\"" SECP "https/mutual\"><w:ClientCertificate><w:Thumbprint>"
         "0123456789012345678901234567890123456789</w:Thumbprint></w:ClientCertificate>"
         "</w:Auth>",
         WSM_ERR_UNSUPPORTED_FEATURE, "ForwarderCertificate"},
        {"http://127.0.0.1:9/s", "<w:Auth Profile=\"" SECP "https/mutual\"/>",
         WSM_ERR_INVALID_OPTIONS, "https://"},
        {"http://127.0.0.1:9/s", "<w:Auth Profile=\"" SECP "http/digest\"/>",
         WSM_ERR_UNSUPPORTED_FEATURE, "spnego-kerberos"},
        {"https://127.0.0.1:9/s", "<w:Auth Profile=\"" SECP "https/mutual/basic\"/>",
         WSM_ERR_UNSUPPORTED_FEATURE, "client certificate"},
        /* Both alternatives unhonourable: the first one's reason. */
        {"http://127.0.0.1:9/s",
         POLICY("<c:All><au:Authentication Profile=\"" SECP "http/spnego-kerberos\"/></c:All>"
                "<c:All><au:Authentication Profile=\"" SECP "http/digest\"/></c:All>"),
         WSM_ERR_UNSUPPORTED_FEATURE, "ForwarderKeytab"},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        assert_int_equal(push_with(f, refused[i].url, refused[i].auth, NULL), refused[i].e);
        assert_non_null(f->fault);
        assert_non_null(strstr(f->fault, refused[i].word));
    }
    /* Kerberos or Basic: Basic (its UsernameToken is there). */
    assert_int_equal(
        push_with(f, "http://127.0.0.1:9/s",
                  POLICY("<c:All><au:Authentication Profile=\"" SECP
                         "http/spnego-kerberos\"/></c:All><c:All><au:Authentication Profile=\"" SECP
                         "http/basic\"/></c:All>"),
                  "<t:UsernameToken xmlns:t=\"urn:t\"><t:Username>col</t:Username>"
                  "<t:Password>pw</t:Password></t:UsernameToken>"),
        WSM_OK);
    int busy = 0;
    struct wsmd_evs *s = NULL;
    for (int i = 0; i < 500 && !s; i++) {
        s = wsmd__evs_take(f->id, 0, "alice", &busy);
        if (!s)
            usleep(2000);
    }
    assert_non_null(s);
    struct wsmd_evpush_cfg c;
    assert_int_equal(wsmd__evpush_cfg_parse(s->push, &c), 0);
    wsmd__evs_give(s);
    assert_int_equal(c.auth, WSMD_EVPUSH_AUTH_BASIC);
    assert_string_equal(c.user, "col");
    wsmd__evpush_cfg_clear(&c);
    /* Stored forms: Kerberos needs nothing more; a certificate its
     * thumbprint; nothing past 3. */
    /* (\x1f followed by a hex digit would be read as one escape) */
    static const char *const stored[] = {"2\x1f\x1f",
                                         ("3\x1f"
                                          "ABCD\x1f"),
                                         "3\x1f\x1f", "4\x1f\x1f"};
    static const int ok[] = {0, 0, -1, -1};
    for (size_t i = 0; i < 4; i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "1\x1f"
                 "0\x1fhttp://x\x1f\x1f\x1f\x1f"
                 "1\x1f"
                 "1\x1f"
                 "8192\x1f"
                 "0\x1f"
                 "1\x1f%s",
                 stored[i]);
        assert_int_equal(wsmd__evpush_cfg_parse(text, &c), ok[i]);
        if (!ok[i]) {
            assert_int_equal(c.auth, i == 0 ? WSMD_EVPUSH_AUTH_KERBEROS : WSMD_EVPUSH_AUTH_CERT);
            wsmd__evpush_cfg_clear(&c);
        }
    }
}

/* Thumbprints as Windows writes them: any case, spaces between bytes; the
 * certificate's own or (Role="issuer") one of its issuers'. */
static void test_lent_thumbprints(void **state)
{
    (void)state;
    struct wsmd_fwd_lent l;
    memset(&l, 0, sizeof(l));
    assert_false(wsmd__fwd_lent_matches(&l, "AB", 0)); /* no certificate */
    strcpy(l.cert, "/proc/self/fd/9");
    strcpy(l.thumb, "0123456789ABCDEF0123456789ABCDEF01234567");
    strcpy(l.issuers[0], "FEDCBA9876543210FEDCBA9876543210FEDCBA98");
    l.nissuers = 1;
    assert_true(wsmd__fwd_lent_matches(&l, "0123456789abcdef0123456789abcdef01234567", 0));
    assert_true(wsmd__fwd_lent_matches(
        &l, " 01 23 45 67 89 ab cd ef 01 23 45 67 89 ab cd ef 01 23 45 67 ", 0));
    assert_false(wsmd__fwd_lent_matches(&l, "0123456789abcdef0123456789abcdef01234567", 1));
    assert_true(wsmd__fwd_lent_matches(&l, "fedcba9876543210fedcba9876543210fedcba98", 1));
    assert_false(wsmd__fwd_lent_matches(&l, "fedcba9876543210fedcba9876543210fedcba98", 0));
    assert_false(wsmd__fwd_lent_matches(&l, "0123456789ABCDEF0123456789ABCDEF0123456", 0));
    assert_false(wsmd__fwd_lent_matches(&l, "0123456789ABCDEF0123456789ABCDEF012345678", 0));
    assert_false(wsmd__fwd_lent_matches(&l, "0123456789ABCDEF0123456789ABCDEF0123456G", 0));
    assert_false(wsmd__fwd_lent_matches(&l, NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_times),
        cmocka_unit_test_setup_teardown(test_subscribe_pull, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quota, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statedir_made, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renew_status_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_park, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_envelope_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_probe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ignore_channel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_push_delivery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_push_auth, setup, teardown),
        cmocka_unit_test(test_lent_thumbprints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
