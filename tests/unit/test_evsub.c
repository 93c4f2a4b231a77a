/* Unit tests for the event source's protocol side (src/daemon/evsub.c,
 * evpull.c, evstore.c) over a fake journal (evsub_helpers.c): times,
 * Subscribe and Pull, faults, other users, quotas, Renew, GetStatus and
 * expiry, the sweep, channels Windows has and the journal not. The
 * handlers are called as dispatch calls them. Parked Pulls and restarts
 * are in test_evsub_pull.c, push deliveries in test_evsub_push.c. */
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
    /* The value quoted in the fault, on one line (fuzz_evsub's find). */
    assert_int_equal(subscribe(f, "alice", NULL, NULL,
                               "<w:OptionSet><w:Option Name=\"ContentFormat\">Re\n\tnd"
                               "</w:Option></w:OptionSet>"),
                     WSM_ERR_INVALID_OPTIONS);
    assert_non_null(strstr(f->fault, "Re  nd"));
    assert_null(strchr(f->fault, '\n'));
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
        cmocka_unit_test_setup_teardown(test_ignore_channel, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
