/* The collector's event handling under load: threads that each parse with
 * their own parser context, the fuzz seed corpus (realistic bodies parse
 * into events), and speed (printed, with a floor far below the targets so
 * that a slow CI machine does not fail it). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <libxml/parser.h>

#include "events_helpers.h"
#include "jsoncheck.h"

/* ---- threads: each has its own parser context ----------------------------- */

struct thr {
    const xmlNode *events;
    size_t n, good;
};

static void *thr_main(void *arg)
{
    struct thr *t = arg;
    for (int k = 0; k < 50; k++) {
        struct wsm_arena a;
        wsm__arena_init(&a);
        struct wsmd_event *v;
        size_t n;
        if (wsmd__events_parse(t->events, &a, 100, &v, &n) == WSM_OK) {
            t->n += n;
            for (size_t i = 0; i < n; i++)
                t->good += v[i].well_formed && v[i].event_id == (i % 2 ? 7036 : 4624);
        }
        wsm__arena_free(&a);
    }
    wsmd__events_thread_cleanup();
    return NULL;
}

static void threads(void **state)
{
    (void)state;
    const char *evs[] = {EV_4624, EV_7036, EV_4624, EV_7036};
    char *u8 = envelope_of(evs, 4);
    struct batch b;
    size_t nf;
    run_batch(u8, strlen(u8), &b, &nf);
    pthread_t th[4];
    struct thr t[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (struct thr){.events = b.env->payload};
        assert_int_equal(pthread_create(&th[i], NULL, thr_main, &t[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(t[i].n, 200);
        assert_int_equal(t[i].good, 200);
    }
    batch_free(&b);
    free(u8);
}

/* ---- the fuzz seed corpus: realistic bodies parse into events --------------- */

static void corpus_bodies(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        size_t events, fixed;
        const char *computer;
    } t[] = {
        {"body_utf16le_bom.bin", 3, 4, "WS1.example.com"},
        {"body_utf8.xml", 3, 4, "WS1.example.com"},
        {"body_utf16be_nobom.bin", 1, 0, "ws2.example.com"},
        {"body_element_event.xml", 1, 0, "ws2.example.com"},
        {"body_heartbeat.bin", 0, 0, NULL},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", EVENTS_CORPUS, t[i].file);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static char body[1 << 16];
        size_t len = fread(body, 1, sizeof(body), f);
        fclose(f);
        struct batch b;
        size_t nf;
        run_batch(body, len, &b, &nf);
        assert_int_equal(b.n, t[i].events);
        assert_int_equal(nf, t[i].fixed);
        for (size_t k = 0; k < b.n; k++) {
            assert_true(b.ev[k].well_formed);
            assert_string_equal(b.ev[k].computer, t[i].computer);
            assert_true(b.ev[k].event_id > 0 && b.ev[k].record_id > 0);
        }
        batch_free(&b);
    }
}

/* ---- speed (printed, and a floor far below the targets so that a slow CI
 * machine does not fail, while a quadratic mistake does) ------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID,
                  &ts); /* CPU time: a busy CI machine slows the clock, not the figures */
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void speed(void **state)
{
    (void)state;
    const char *evs[64];
    for (int i = 0; i < 64; i++)
        evs[i] = EV_4624;
    char *u8 = envelope_of(evs, 64);
    as_utf8(u8);
    size_t len = strlen(u8);
    unsigned char *u16 = malloc(len * 2 + 2);
    size_t n16 = to_utf16(u8, u16, 0, 1);
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    size_t nf, bytes = 0;
    double t0 = now_s();
    while (now_s() - t0 < 0.2) {
        for (int i = 0; i < 20; i++) {
            wsm__buf_reset(&b);
            assert_int_equal(wsmd__events_prepare(u8, len, &b, 1 << 24, &nf), WSM_OK);
            bytes += len;
        }
    }
    double utf8 = (double)bytes / (now_s() - t0) / 1e6;
    bytes = 0;
    t0 = now_s();
    while (now_s() - t0 < 0.2) {
        for (int i = 0; i < 20; i++) {
            wsm__buf_reset(&b);
            assert_int_equal(wsmd__events_prepare(u16, n16, &b, 1 << 24, &nf), WSM_OK);
            bytes += n16;
        }
    }
    double utf16 = (double)bytes / (now_s() - t0) / 1e6;
    wsm__buf_free(&b);

    struct wsm_envelope *env;
    struct wsm_limits lim = {.max_size = 1 << 22};
    assert_int_equal(wsm__envelope_parse(u8, len, &lim, &env, NULL, 0), WSM_OK);
    size_t events = 0;
    t0 = now_s();
    while (now_s() - t0 < 0.3) {
        struct wsm_arena a;
        wsm__arena_init(&a);
        struct wsmd_event *v;
        size_t n;
        assert_int_equal(wsmd__events_parse(env->payload, &a, 100, &v, &n), WSM_OK);
        assert_true(v[63].well_formed);
        events += n;
        wsm__arena_free(&a);
    }
    double eps = (double)events / (now_s() - t0);
    wsm__envelope_free(env);
    printf("# prepare: %.0f MB/s UTF-8, %.0f MB/s UTF-16LE (of input); parse: %.0f events/s "
           "(%zu-byte Security events)\n",
           utf8, utf16, eps, strlen(EV_4624));
#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__)
    /* (floors only for an optimized build without sanitizers) */
    assert_true(utf8 > 50);
    assert_true(utf16 > 25);
    assert_true(eps > 5000);
#endif
    free(u16);
    free(u8);
}

int main(void)
{
    xmlInitParser();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(corpus_bodies),
        cmocka_unit_test(threads),
        cmocka_unit_test(speed),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    events_tests_done();
    return r;
}
