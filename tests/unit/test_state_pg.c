/* The collector's shared state in PostgreSQL (src/collector/state_pg.c).
 *
 * The bookmark position always runs. The database tests need a server:
 * WSMD_TEST_PG=postgresql://... (tests/interop/test_collector_pg.py starts a
 * throwaway cluster and runs this program against it); without it they
 * are skipped. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "colconfig.h"
#include "server.h"
#include "state.h"

static void test_position(void **state)
{
    (void)state;
    assert_int_equal(wsmd__bookmark_position(NULL), -1);
    assert_int_equal(wsmd__bookmark_position("<BookmarkList/>"), -1);
    assert_int_equal(wsmd__bookmark_position("<BookmarkList><Bookmark Channel=\"Security\" "
                                             "RecordId=\"42\" IsCurrent=\"true\"/></BookmarkList>"),
                     42);
    /* Several channels: the sum; single quotes and spaces around '='. */
    assert_int_equal(wsmd__bookmark_position("<BookmarkList><Bookmark Channel='A' RecordId='7'/>"
                                             "<Bookmark Channel='B' RecordId = \"100\"/>"
                                             "</BookmarkList>"),
                     107);
    /* Not an attribute named RecordId, or not a number: not counted. */
    assert_int_equal(wsmd__bookmark_position("<X ARecordId=\"5\" RecordId=\"x\" RecordId=\"\"/>"),
                     -1);
    assert_int_equal(wsmd__bookmark_position("<X RecordId=\"5'/>"), -1);
    assert_int_equal(wsmd__bookmark_position("<X RecordId=\"0\"/>"), 0);
    /* Saturates rather than wraps. */
    assert_int_equal(wsmd__bookmark_position("<X RecordId=\"99999999999999999999999\" "
                                             "RecordId=\"9223372036854775807\"/>"),
                     INT64_MAX);
}

static const char *db_uri(void)
{
    const char *u = getenv("WSMD_TEST_PG");
    return u && *u ? u : NULL;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void bookmark(char *out, size_t n, long rid)
{
    snprintf(out, n,
             "<BookmarkList><Bookmark Channel=\"Security\" RecordId=\"%ld\" IsCurrent=\"true\"/>"
             "</BookmarkList>",
             rid);
}

#define RACE_N 300
#define RACE_THREADS 4

struct race {
    struct wsmd_state *node[2];
    char principal[64];
    atomic_long next;
    atomic_int done;
    atomic_int failures;
    atomic_int backwards;
    long commits;
};

static void *race_writer(void *arg)
{
    struct race *r = arg;
    static atomic_int ids;
    int me = atomic_fetch_add(&ids, 1);
    struct wsmd_state *st = r->node[me % 2]; /* two threads per node */
    long k;
    while ((k = atomic_fetch_add(&r->next, 1)) <= RACE_N) {
        /* The batch k, then a late answer of an older batch: what a node
         * that was slow to commit writes after the source moved on. */
        long rids[2] = {k, k > 5 ? k - 5 : 1};
        for (int i = 0; i < 2; i++) {
            char bm[160];
            bookmark(bm, sizeof(bm), rids[i]);
            struct wsmd_state_update u = {.sub = "Race",
                                          .principal = r->principal,
                                          .addr = me % 2 ? "node-b" : "node-a",
                                          .bookmark_xml = bm,
                                          .events = 1,
                                          .now_ms = now_ms()};
            if (wsmd__state_commit(st, &u) != WSM_OK)
                atomic_fetch_add(&r->failures, 1);
        }
    }
    return NULL;
}

static void *race_reader(void *arg)
{
    struct race *r = arg;
    long long last = -1;
    while (!atomic_load(&r->done)) {
        char *xml = NULL;
        if (wsmd__state_bookmark(r->node[1], "Race", r->principal, &xml) == WSM_OK) {
            long long p = wsmd__bookmark_position(xml);
            if (p < last)
                atomic_fetch_add(&r->backwards, 1);
            if (p > last)
                last = p;
        }
        free(xml);
    }
    return NULL;
}

struct found {
    const char *principal;
    unsigned long long events;
    long long position;
    int rows;
};

static void find_row(const struct wsmd_source_row *row, void *arg)
{
    struct found *f = arg;
    if (strcmp(row->principal, f->principal) != 0)
        return;
    f->rows++;
    f->events = row->events;
    f->position = wsmd__bookmark_position(row->bookmark_xml);
}

/* Two nodes, two writers each, commit batches of one source in a racing
 * order with late stale answers in between: the stored bookmark never goes
 * back (a reader watches it all along) and ends at the last batch's. */
static void test_race(void **state)
{
    (void)state;
    if (!db_uri())
        skip();
    struct race r = {0};
    snprintf(r.principal, sizeof(r.principal), "RACE%ld-%d$@EXAMPLE.COM", (long)time(NULL),
             (int)getpid());
    atomic_init(&r.next, 1);
    assert_int_equal(wsmd__state_open_db("/nonexistent", db_uri(), &r.node[0]), WSM_OK);
    assert_int_equal(wsmd__state_open_db("/nonexistent", db_uri(), &r.node[1]), WSM_OK);
    assert_true(wsmd__state_shared(r.node[0]));
    pthread_t w[RACE_THREADS], rd;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(pthread_create(&rd, NULL, race_reader, &r), 0);
    for (int i = 0; i < RACE_THREADS; i++)
        assert_int_equal(pthread_create(&w[i], NULL, race_writer, &r), 0);
    for (int i = 0; i < RACE_THREADS; i++)
        pthread_join(w[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    atomic_store(&r.done, 1);
    pthread_join(rd, NULL);
    double sec = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("race: %d commits from %d threads on 2 handles in %.2f s (%.0f commits/s)\n", 2 * RACE_N,
           RACE_THREADS, sec, 2 * RACE_N / sec);
    assert_int_equal(atomic_load(&r.failures), 0);
    assert_int_equal(atomic_load(&r.backwards), 0);
    struct found f = {.principal = r.principal};
    assert_int_equal(wsmd__state_sources(r.node[0], "Race", find_row, &f), WSM_OK);
    assert_int_equal(f.rows, 1);
    assert_int_equal(f.position, RACE_N);
    assert_int_equal(f.events, 2 * RACE_N); /* every commit counted, none lost */
    /* A stale bookmark alone, after the race: still kept out. */
    char bm[160];
    bookmark(bm, sizeof(bm), 3);
    struct wsmd_state_update u = {
        .sub = "Race", .principal = r.principal, .bookmark_xml = bm, .now_ms = now_ms()};
    assert_int_equal(wsmd__state_commit(r.node[1], &u), WSM_OK);
    char *xml = NULL;
    assert_int_equal(wsmd__state_bookmark(r.node[0], "Race", r.principal, &xml), WSM_OK);
    assert_int_equal(wsmd__bookmark_position(xml), RACE_N);
    free(xml);
    wsmd__state_close(r.node[0]);
    wsmd__state_close(r.node[1]);
}

static void count_subs(const char *id, const char *xml, void *arg)
{
    (void)xml;
    if (!strcmp(id, "UnitSub"))
        (*(int *)arg)++;
}

/* The shared subscriptions: create, refuse a second create (any case),
 * replace, delete; every change moves the generation. */
static void test_subs(void **state)
{
    (void)state;
    if (!db_uri())
        skip();
    struct wsmd_state *a = NULL, *b = NULL;
    assert_int_equal(wsmd__state_open_db("/nonexistent", db_uri(), &a), WSM_OK);
    assert_int_equal(wsmd__state_open_db("/nonexistent", db_uri(), &b), WSM_OK);
    wsmd__state_sub_delete(a, "UnitSub"); /* a previous run's */
    long long g0 = 0, g1 = 0;
    assert_int_equal(wsmd__state_subs_generation(b, &g0), WSM_OK);
    assert_int_equal(wsmd__state_sub_put(a, "UnitSub", "<x/>", 1), WSM_OK);
    assert_int_equal(wsmd__state_sub_put(a, "unitsub", "<y/>", 1), WSM_ERR_ALREADY_EXISTS);
    assert_int_equal(wsmd__state_subs_generation(b, &g1), WSM_OK);
    assert_true(g1 > g0);
    int n = 0;
    assert_int_equal(wsmd__state_subs(b, &g0, count_subs, &n), WSM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(wsmd__state_sub_put(b, "UNITSUB", "<z/>", 0), WSM_OK);
    assert_int_equal(wsmd__state_sub_put(b, "NoSuchSub", "<z/>", 0), WSM_ERR_NOT_FOUND);
    assert_int_equal(wsmd__state_sub_delete(b, "UnitSub"), WSM_OK);
    assert_int_equal(wsmd__state_sub_delete(a, "UnitSub"), WSM_ERR_NOT_FOUND);
    assert_int_equal(wsmd__state_subs_generation(a, &g1), WSM_OK);
    assert_true(g1 > g0);
    wsmd__state_close(a);
    wsmd__state_close(b);
}

/* An unreachable server is refused at open, within connect_timeout. */
static void test_unreachable(void **state)
{
    (void)state;
    struct wsmd_state *st = NULL;
    time_t t0 = time(NULL);
    assert_int_equal(wsmd__state_open_db("/nonexistent", "postgresql://wsmd@127.0.0.1:1/none", &st),
                     WSM_ERR_IO);
    assert_null(st);
    assert_true(time(NULL) - t0 <= 6);
}

/* The two keys: StateDatabase takes a postgresql:// URI only;
 * CollectorAddress a host[:port] fit for a URL's authority. */
static void test_config_keys(void **state)
{
    (void)state;
    struct wsmd_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(wsmd__colconfig_set(&cfg, "StateDatabase", "postgresql://wsmd@db:5432/wsmd"),
                     WSM_OK);
    assert_string_equal(cfg.state_database, "postgresql://wsmd@db:5432/wsmd");
    assert_int_equal(wsmd__colconfig_set(&cfg, "statedatabase", "postgres://db/x"), WSM_OK);
    assert_int_equal(wsmd__colconfig_set(&cfg, "StateDatabase", "host=db dbname=x"),
                     WSM_ERR_INVALID_ARG);
    assert_int_equal(wsmd__colconfig_set(&cfg, "StateDatabase", "/var/lib/x.db"),
                     WSM_ERR_INVALID_ARG);
    assert_string_equal(cfg.state_database,
                        "postgres://db/x"); /* a refused value changes nothing */
    static const char *const good[] = {"wec.example.com", "wec.example.com:5985", "10.0.0.1:443",
                                       "[2001:db8::1]", "[2001:db8::1]:5986"};
    for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
        assert_int_equal(wsmd__colconfig_set(&cfg, "CollectorAddress", good[i]), WSM_OK);
    assert_string_equal(cfg.collector_address, "[2001:db8::1]:5986");
    static const char *const bad[] = {"",
                                      "wec.example.com:0",
                                      "wec.example.com:65536",
                                      "wec.example.com:",
                                      "wec:59x",
                                      "2001:db8::1",
                                      "[2001:db8::1",
                                      "http://wec.example.com",
                                      "wec.example.com/path",
                                      "wec@evil",
                                      "wec example"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        assert_int_equal(wsmd__colconfig_set(&cfg, "CollectorAddress", bad[i]),
                         WSM_ERR_INVALID_ARG);
    wsmd__colconfig_clear(&cfg);
    assert_null(cfg.state_database);
    assert_null(cfg.collector_address);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_position),    cmocka_unit_test(test_config_keys),
        cmocka_unit_test(test_unreachable), cmocka_unit_test(test_race),
        cmocka_unit_test(test_subs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
