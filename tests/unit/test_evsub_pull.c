/* Unit tests for the event source's Pull over time (src/daemon/evpull.c,
 * evstore.c) over a fake journal (evsub_helpers.c): a parked Pull armed
 * and woken as the HTTP layer does, subscriptions and bookmarks across a
 * restart, the drain probe of the last reply, and an event larger than
 * the client's MaxEnvelopeSize. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_park, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_envelope_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_probe, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
