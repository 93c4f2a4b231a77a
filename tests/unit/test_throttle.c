/* Unit tests for authentication throttling (src/daemon/throttle.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "throttle.h"

static time_t fake_now = 1000000;
static time_t fake_clock(void)
{
    return fake_now;
}

static struct wsmd_throttle *make(unsigned per_addr, unsigned per_user, size_t slots)
{
    struct wsmd_throttle_cfg cfg = {
        .max_per_address = per_addr,
        .max_per_user = per_user,
        .window_sec = 300,
        .lockout_sec = 60,
        .trust_sec = 3600,
    };
    struct wsmd_throttle *t = NULL;
    assert_int_equal(wsmd__throttle_new(&cfg, slots, &t), WSM_OK);
    wsmd__throttle_set_clock(t, fake_clock);
    fake_now = 1000000;
    return t;
}

static void test_address_hold(void **state)
{
    (void)state;
    struct wsmd_throttle *t = make(5, 0, 256);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(wsmd__throttle_check(t, "10.0.0.1", "u"), 0);
        wsmd__throttle_fail(t, "10.0.0.1", "u", "Basic", "bad-password");
    }
    assert_int_equal(wsmd__throttle_check(t, "10.0.0.1", "u"), 0);
    wsmd__throttle_fail(t, "10.0.0.1", "u", "Basic", "bad-password");
    /* The fifth failure holds the address for 60 s, whatever the name or scheme. */
    assert_int_equal(wsmd__throttle_check(t, "10.0.0.1", "u"), 60);
    assert_int_equal(wsmd__throttle_check(t, "10.0.0.1", "other"), 60);
    assert_int_equal(wsmd__throttle_check(t, "10.0.0.1", NULL), 60);
    /* Another address is not affected. */
    assert_int_equal(wsmd__throttle_check(t, "10.0.0.2", "u"), 0);
    fake_now += 59;
    assert_int_equal(wsmd__throttle_check(t, "10.0.0.1", "u"), 1);
    fake_now += 1;
    assert_int_equal(wsmd__throttle_check(t, "10.0.0.1", "u"), 0);
    /* The next hold in a row lasts twice as long. */
    for (int i = 0; i < 5; i++)
        wsmd__throttle_fail(t, "10.0.0.1", "u", "Basic", "bad-password");
    assert_int_equal(wsmd__throttle_check(t, "10.0.0.1", "u"), 120);
    wsmd__throttle_free(t);
}

/* SIGHUP's new limits (reload.c): the counts so far are kept and judged
 * by the new numbers; a 0 window or hold takes the default. */
static void test_set_cfg(void **state)
{
    (void)state;
    struct wsmd_throttle *t = make(5, 0, 256);
    for (int i = 0; i < 3; i++)
        wsmd__throttle_fail(t, "10.0.0.1", "u", "Basic", "bad-password");
    assert_int_equal(wsmd__throttle_check(t, "10.0.0.1", "u"), 0);
    struct wsmd_throttle_cfg c = {.max_per_address = 4, .lockout_sec = 30};
    wsmd__throttle_set_cfg(t, &c);
    wsmd__throttle_fail(t, "10.0.0.1", "u", "Basic", "bad-password");
    assert_int_equal(wsmd__throttle_check(t, "10.0.0.1", "u"), 30);
    /* Off: no new hold. */
    c.max_per_address = 0;
    wsmd__throttle_set_cfg(t, &c);
    for (int i = 0; i < 10; i++)
        wsmd__throttle_fail(t, "10.0.0.2", "v", "Basic", "bad-password");
    assert_int_equal(wsmd__throttle_check(t, "10.0.0.2", "v"), 0);
    wsmd__throttle_free(t);
}

static void test_window(void **state)
{
    (void)state;
    struct wsmd_throttle *t = make(5, 0, 256);
    /* Four failures, then a quiet window: the count starts again. */
    for (int i = 0; i < 4; i++)
        wsmd__throttle_fail(t, "10.0.0.1", NULL, "Negotiate", "bad-token");
    fake_now += 301;
    for (int i = 0; i < 4; i++)
        wsmd__throttle_fail(t, "10.0.0.1", NULL, "Negotiate", "bad-token");
    assert_int_equal(wsmd__throttle_check(t, "10.0.0.1", NULL), 0);
    wsmd__throttle_free(t);
}

static void test_user_hold_and_trusted_pair(void **state)
{
    (void)state;
    struct wsmd_throttle *t = make(0, 3, 256);
    /* alice logged in from her desk. */
    wsmd__throttle_ok(t, "192.0.2.10", "alice");
    /* Someone elsewhere guesses her password, from several addresses. */
    wsmd__throttle_fail(t, "198.51.100.1", "alice", "Basic", "bad-password");
    wsmd__throttle_fail(t, "198.51.100.2", "alice", "Basic", "bad-password");
    wsmd__throttle_fail(t, "198.51.100.3", "alice", "Basic", "bad-password");
    /* The name is held everywhere... */
    assert_int_equal(wsmd__throttle_check(t, "198.51.100.4", "alice"), 60);
    assert_int_equal(wsmd__throttle_check(t, "198.51.100.1", "alice"), 60);
    /* ...but from her desk. Other names are not held. */
    assert_int_equal(wsmd__throttle_check(t, "192.0.2.10", "alice"), 0);
    assert_int_equal(wsmd__throttle_check(t, "198.51.100.1", "bob"), 0);
    /* Guessing at her desk's address revokes the trust. */
    for (int i = 0; i < 3; i++)
        wsmd__throttle_fail(t, "192.0.2.10", "alice", "Basic", "bad-password");
    assert_int_not_equal(wsmd__throttle_check(t, "192.0.2.10", "alice"), 0);
    /* Trust runs out after trust_sec. */
    wsmd__throttle_ok(t, "192.0.2.11", "carol");
    for (int i = 0; i < 3; i++)
        wsmd__throttle_fail(t, "198.51.100.1", "carol", "Basic", "bad-password");
    assert_int_equal(wsmd__throttle_check(t, "192.0.2.11", "carol"), 0);
    fake_now += 3600;
    for (int i = 0; i < 3; i++)
        wsmd__throttle_fail(t, "198.51.100.1", "carol", "Basic", "bad-password");
    assert_int_not_equal(wsmd__throttle_check(t, "192.0.2.11", "carol"), 0);
    wsmd__throttle_free(t);
}

static void test_off(void **state)
{
    (void)state;
    struct wsmd_throttle *t = make(0, 0, 64);
    for (int i = 0; i < 1000; i++)
        wsmd__throttle_fail(t, "10.0.0.1", "u", "Basic", "bad-password");
    assert_int_equal(wsmd__throttle_check(t, "10.0.0.1", "u"), 0);
    wsmd__throttle_free(t);
    /* NULL: no throttling at all. */
    assert_int_equal(wsmd__throttle_check(NULL, "10.0.0.1", "u"), 0);
}

/* An attacker spraying addresses and names cannot grow the table, nor push
 * a held address or a trusted pair out of it. */
static void test_bounded(void **state)
{
    (void)state;
    struct wsmd_throttle *t = make(3, 3, 1024);
    size_t slots = wsmd__throttle_slots(t);
    assert_true(slots >= 1024 && slots < 1024 + 16);
    for (int i = 0; i < 3; i++)
        wsmd__throttle_fail(t, "203.0.113.66", "x", "Basic", "bad-password");
    assert_int_not_equal(wsmd__throttle_check(t, "203.0.113.66", NULL), 0);
    wsmd__throttle_ok(t, "192.0.2.10", "alice");
    for (int i = 0; i < 3; i++)
        wsmd__throttle_fail(t, "198.51.100.1", "alice", "Basic", "bad-password");
    for (unsigned i = 0; i < 50000; i++) {
        char a[64], u[32];
        snprintf(a, sizeof(a), "2001:db8:%x:%x::/64", i >> 16, i & 0xffff);
        snprintf(u, sizeof(u), "spray%u", i);
        wsmd__throttle_fail(t, a, u, "Basic", "bad-password");
        assert_true(wsmd__throttle_used(t) <= slots);
    }
    assert_int_equal(wsmd__throttle_used(t), slots);
    assert_int_not_equal(wsmd__throttle_check(t, "203.0.113.66", NULL), 0);
    assert_int_equal(wsmd__throttle_check(t, "192.0.2.10", "alice"), 0);
    assert_int_not_equal(wsmd__throttle_check(t, "198.51.100.7", "alice"), 0);
    wsmd__throttle_free(t);
}

static void test_addr_key(void **state)
{
    (void)state;
    char out[80];
    struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(1234)};
    inet_pton(AF_INET, "192.0.2.7", &s4.sin_addr);
    wsmd__throttle_addr((struct sockaddr *)&s4, out, sizeof(out));
    assert_string_equal(out, "192.0.2.7"); /* no port: one key per host */
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "2001:db8:1:2:aaaa:bbbb:cccc:dddd", &s6.sin6_addr);
    wsmd__throttle_addr((struct sockaddr *)&s6, out, sizeof(out));
    assert_string_equal(out, "2001:db8:1:2::/64");
    inet_pton(AF_INET6, "::ffff:192.0.2.8", &s6.sin6_addr);
    wsmd__throttle_addr((struct sockaddr *)&s6, out, sizeof(out));
    assert_string_equal(out, "192.0.2.8");
    wsmd__throttle_addr(NULL, out, sizeof(out));
    assert_string_equal(out, "?");
}

static void test_log_escape(void **state)
{
    (void)state;
    char out[64];
    wsmd__log_escape(out, sizeof(out), "al ice\n\"x=1\\%\xc3\xa9");
    assert_string_equal(out, "al%20ice%0A%22x%3D1%5C%25%C3%A9");
    wsmd__log_escape(out, sizeof(out), "");
    assert_string_equal(out, "-");
    wsmd__log_escape(out, sizeof(out), NULL);
    assert_string_equal(out, "-");
    /* Truncated on a whole escape, never past the buffer. */
    wsmd__log_escape(out, 5, "ab\ncd");
    assert_string_equal(out, "ab");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_address_hold),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_user_hold_and_trusted_pair),
        cmocka_unit_test(test_off),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_addr_key),
        cmocka_unit_test(test_log_escape),
        cmocka_unit_test(test_set_cfg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
