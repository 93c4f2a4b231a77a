/* Which node dials a CollectorInitiated source (src/collector/dialclaim.c).
 *
 * The key always runs. The claim rounds need a server: WSMD_TEST_PG=
 * postgresql://... (tests/interop/test_collector_dial_cluster.py starts a
 * throwaway cluster and runs this program against it); without it they
 * are skipped. Each claim set is one session, as each node has one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dialclaim.h"
#include "state_pg.h"

static const char *db_uri(void)
{
    const char *u = getenv("WSMD_TEST_PG");
    return u && *u ? u : NULL;
}

static void test_key(void **state)
{
    (void)state;
    long long k = wsmd__claim_key("Pulled", "web1.example.com");
    /* Every node and every version computes this very value: a change
     * would let an old and a new node both dial a source. */
    assert_true(k == -6842932586962463322LL); /* FNV-1a 64 by hand (Python) */
    /* The collector compares ids and addresses without ASCII case. */
    assert_true(wsmd__claim_key("PULLED", "WEB1.example.COM") == k);
    assert_true(wsmd__claim_key("Pulled", "web2.example.com") != k);
    assert_true(wsmd__claim_key("Pulle", "dweb1.example.com") != k);
    assert_true(wsmd__claim_key("ab", "c") != wsmd__claim_key("a", "bc"));
    assert_true(wsmd__claim_key("", "") != strtoll(WSMD_PG_LOCK_KEY, NULL, 10));
}

struct set {
    struct wsmd_claims *c;
    char name[32];
};

static void open_set(struct set *s, const char *name)
{
    snprintf(s->name, sizeof(s->name), "%s-%d", name, (int)getpid());
    assert_int_equal(wsmd__claims_new(db_uri(), s->name, &s->c), WSM_OK);
    wsmd__claims_set_timing(s->c, 0, WSMD_CLAIM_IDLE_MS);
}

static int round_(struct set *s, const struct wsmd_claim_want *w, size_t n, unsigned char *held)
{
    return wsmd__claims_round(s->c, w, n, held);
}

/* A closed session's locks are freed when its backend has read the
 * Terminate, a moment after PQfinish: rounds again until want comes, 5 s. */
static int round_until(struct set *s, const struct wsmd_claim_want *w, size_t n,
                       unsigned char *held, int want)
{
    int r = -1;
    for (int i = 0; i < 100 && (r = round_(s, w, n, held)) != want; i++)
        usleep(50 * 1000);
    return r;
}

/* Two nodes: a key is held by one of them at a time; given up, or its
 * session closed, the other takes it at its next round. */
static void test_one_holder_and_failover(void **state)
{
    (void)state;
    if (!db_uri())
        skip();
    char sub[64];
    snprintf(sub, sizeof(sub), "Sub%ld-%d", (long)time(NULL), (int)getpid());
    struct wsmd_claim_want w[2] = {{wsmd__claim_key(sub, "s1"), sub, "s1"},
                                   {wsmd__claim_key(sub, "s2"), sub, "s2"}};
    struct set a, b;
    open_set(&a, "unitA");
    unsigned char ha[2], hb[2];
    /* A alone on the database: its share is everything. */
    assert_int_equal(round_(&a, w, 2, ha), 2);
    assert_true(ha[0] && ha[1]);
    open_set(&b, "unitB");
    assert_int_equal(round_(&b, w, 2, hb), 0);
    assert_int_equal(round_(&a, w, 2, ha), 2); /* held still: no change */
    /* A no longer dials s2: it gives it up, B takes it. */
    assert_int_equal(round_(&a, w, 1, ha), 1);
    assert_int_equal(round_(&b, w, 2, hb), 1);
    assert_true(!hb[0] && hb[1]);
    /* A's session ends (a node killed): B takes s1 too. */
    wsmd__claims_free(a.c);
    assert_int_equal(round_until(&b, w, 2, hb, 2), 2);
    /* A node back: nothing to take while B holds both. */
    open_set(&a, "unitA2");
    assert_int_equal(round_(&a, w, 2, ha), 0);
    wsmd__claims_free(b.c);
    assert_int_equal(round_until(&a, w, 2, ha, 2), 2);
    wsmd__claims_free(a.c);
}

/* Nodes that start together split the sources: each tries its share. */
static void test_share(void **state)
{
    (void)state;
    if (!db_uri())
        skip();
    char sub[64], addr[4][8];
    snprintf(sub, sizeof(sub), "Share%ld-%d", (long)time(NULL), (int)getpid());
    struct wsmd_claim_want w[4];
    for (int i = 0; i < 4; i++) {
        snprintf(addr[i], sizeof(addr[i]), "h%d", i);
        w[i] = (struct wsmd_claim_want){wsmd__claim_key(sub, addr[i]), sub, addr[i]};
    }
    struct set a, b;
    open_set(&a, "shareA");
    open_set(&b, "shareB");
    unsigned char ha[4], hb[4];
    /* Both connected (a first round claims nothing for the grace), then
     * both claim. */
    wsmd__claims_set_timing(a.c, 300, WSMD_CLAIM_IDLE_MS);
    wsmd__claims_set_timing(b.c, 300, WSMD_CLAIM_IDLE_MS);
    assert_int_equal(round_(&a, w, 4, ha), 0);
    assert_int_equal(round_(&b, w, 4, hb), 0);
    usleep(350 * 1000);
    assert_int_equal(round_(&a, w, 4, ha), 2);
    assert_int_equal(round_(&b, w, 4, hb), 2);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ha[i] + hb[i], 1);
    /* B gone: A's share grows to all four. */
    wsmd__claims_free(b.c);
    assert_int_equal(round_until(&a, w, 4, ha, 4), 4);
    wsmd__claims_free(a.c);
}

/* Right after connecting a node claims nothing for the grace: a holder
 * whose session a database restart ended has stopped dialing by then. */
static void test_grace(void **state)
{
    (void)state;
    if (!db_uri())
        skip();
    char sub[64];
    snprintf(sub, sizeof(sub), "Grace%ld-%d", (long)time(NULL), (int)getpid());
    struct wsmd_claim_want w[1] = {{wsmd__claim_key(sub, "g"), sub, "g"}};
    struct set a;
    open_set(&a, "graceA");
    wsmd__claims_set_timing(a.c, 400, WSMD_CLAIM_IDLE_MS);
    unsigned char h[1];
    assert_int_equal(round_(&a, w, 1, h), 0);
    usleep(500 * 1000);
    assert_int_equal(round_(&a, w, 1, h), 1);
    wsmd__claims_free(a.c);
}

/* A node that goes silent (frozen, or cut off from the database) keeps
 * nothing: the server ends its idle session, and the other node takes the
 * key; the silent one learns it at its next round. */
static void test_silent_node_loses_its_claims(void **state)
{
    (void)state;
    if (!db_uri())
        skip();
    char sub[64];
    snprintf(sub, sizeof(sub), "Idle%ld-%d", (long)time(NULL), (int)getpid());
    struct wsmd_claim_want w[1] = {{wsmd__claim_key(sub, "i"), sub, "i"}};
    struct set a, b;
    open_set(&a, "idleA");
    wsmd__claims_set_timing(a.c, 0, 800);
    open_set(&b, "idleB");
    unsigned char ha[1], hb[1];
    assert_int_equal(round_(&a, w, 1, ha), 1);
    assert_int_equal(round_(&b, w, 1, hb), 0);
    /* A is silent from now on: B takes the key once the server ended A. */
    assert_int_equal(round_until(&b, w, 1, hb, 1), 1);
    assert_int_equal(round_(&a, w, 1, ha), -1);
    assert_int_equal(ha[0], 0);
    wsmd__claims_free(a.c);
    wsmd__claims_free(b.c);
}

/* No server there: the round fails at once, nothing held. */
static void test_unreachable(void **state)
{
    (void)state;
    struct wsmd_claims *c = NULL;
    assert_int_equal(
        wsmd__claims_new("postgresql://wsmd@127.0.0.1:1/none?connect_timeout=2", "x", &c), WSM_OK);
    struct wsmd_claim_want w[1] = {{wsmd__claim_key("S", "a"), "S", "a"}};
    unsigned char h[1] = {1};
    assert_int_equal(wsmd__claims_round(c, w, 1, h), -1);
    assert_int_equal(h[0], 0);
    wsmd__claims_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key),
        cmocka_unit_test(test_one_holder_and_failover),
        cmocka_unit_test(test_share),
        cmocka_unit_test(test_grace),
        cmocka_unit_test(test_silent_node_loses_its_claims),
        cmocka_unit_test(test_unreachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
