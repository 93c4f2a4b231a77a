/* Unit tests for the privilege-separation wire format (pswire.c) and the
 * monitor's request table (monitor.c): malformed and out-of-table
 * requests are refused, answered, counted, and change nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "monitor_priv.h"
#include "privsep.h"
#include "pswire.h"

static enum wsm_err ask(const struct ps_msg *q, uint32_t *type)
{
    unsigned char *reply = NULL;
    size_t n = 0;
    enum wsm_err e = wsmd__monitor_handle_bytes(q->data, q->len, &reply, &n);
    assert_non_null(reply);
    struct ps_msg a;
    ps_init(&a);
    assert_int_equal(ps_load(&a, reply, n), 0);
    *type = ps_get_u32(&a);
    assert_int_equal(ps_get_u32(&a), (uint32_t)e);
    /* A refusal carries nothing else. */
    if (e != WSM_OK)
        assert_true(ps_end(&a));
    ps_clear(&a);
    free(reply);
    return e;
}

static void test_wire_roundtrip(void **state)
{
    (void)state;
    struct ps_msg m;
    ps_init(&m);
    ps_start(&m, 42);
    ps_put_u64(&m, 0x1122334455667788ULL);
    ps_put_str(&m, "héllo");
    ps_put_str(&m, NULL);
    ps_put_blob(&m, "\0\1\2", 3);
    ps_put_i32(&m, -5);
    struct ps_msg r;
    ps_init(&r);
    assert_int_equal(ps_load(&r, m.data, m.len), 0);
    assert_int_equal(ps_get_u32(&r), 42);
    assert_true(ps_get_u64(&r) == 0x1122334455667788ULL);
    assert_string_equal(ps_get_str(&r, 100), "héllo");
    assert_string_equal(ps_get_str(&r, 100), "");
    size_t n;
    const unsigned char *b = ps_get_blob(&r, 10, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(b, "\0\1\2", 3);
    assert_int_equal(ps_get_i32(&r), -5);
    assert_true(ps_end(&r));
    /* Reading past the end fails and stays failed. */
    assert_int_equal(ps_get_u32(&r), 0);
    assert_false(ps_end(&r));
    ps_clear(&r);
    ps_clear(&m);
}

static void test_wire_strict_strings(void **state)
{
    (void)state;
    struct ps_msg r;
    ps_init(&r);
    /* A length past the message. */
    unsigned char a[] = {10, 0, 0, 0, 'a', 'b', 0};
    assert_int_equal(ps_load(&r, a, sizeof(a)), 0);
    ps_get_str(&r, 100);
    assert_true(r.fail);
    /* No closing NUL. */
    unsigned char b[] = {2, 0, 0, 0, 'a', 'b', 'c'};
    assert_int_equal(ps_load(&r, b, sizeof(b)), 0);
    ps_get_str(&r, 100);
    assert_true(r.fail);
    /* A NUL inside. */
    unsigned char c[] = {2, 0, 0, 0, 'a', 0, 0};
    assert_int_equal(ps_load(&r, c, sizeof(c)), 0);
    ps_get_str(&r, 100);
    assert_true(r.fail);
    /* Longer than the field allows. */
    unsigned char d[] = {3, 0, 0, 0, 'a', 'b', 'c', 0};
    assert_int_equal(ps_load(&r, d, sizeof(d)), 0);
    ps_get_str(&r, 2);
    assert_true(r.fail);
    ps_clear(&r);
}

static void test_wire_fds(void **state)
{
    (void)state;
    int sp[2], p[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
    assert_int_equal(pipe(p), 0);
    struct ps_msg m, r;
    ps_init(&m);
    ps_init(&r);
    ps_start(&m, 5);
    ps_put_fd(&m, p[1]);
    assert_int_equal(ps_send(sp[0], &m), 0);
    assert_int_equal(ps_recv(sp[1], &r), 1);
    assert_int_equal(ps_get_u32(&r), 5);
    int fd = ps_take_fd(&r);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(write(fd, "x", 1), 1);
    char c;
    assert_int_equal(read(p[0], &c, 1), 1);
    close(fd);
    ps_clear(&r);
    ps_clear(&m);
    close(p[0]);
    close(p[1]);
    close(sp[0]);
    close(sp[1]);
}

static void test_out_of_table(void **state)
{
    (void)state;
    unsigned long before = wsmd__monitor_refused();
    struct ps_msg q;
    ps_init(&q);
    uint32_t t;
    const uint32_t bad[] = {0 /* a reply is no request */, PS_TYPES, 99, 0xffffffffu};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ps_start(&q, bad[i]);
        assert_int_equal(ask(&q, &t), WSM_ERR_INVALID_ARG);
        assert_int_equal(t, PS_REPLY);
    }
    /* Not even a type. */
    unsigned char two[] = {1, 0};
    unsigned char *reply = NULL;
    size_t n;
    assert_int_equal(wsmd__monitor_handle_bytes(two, sizeof(two), &reply, &n), WSM_ERR_INVALID_ARG);
    free(reply);
    assert_int_equal(wsmd__monitor_refused(), before + 5);
    ps_clear(&q);
}

static void test_malformed_requests(void **state)
{
    (void)state;
    unsigned long before = wsmd__monitor_refused();
    struct ps_msg q;
    ps_init(&q);
    uint32_t t;
    /* A trailing byte after a well-formed release. */
    ps_start(&q, PS_RELEASE);
    ps_put_i32(&q, 1234);
    ps_put_u32(&q, 0);
    assert_int_equal(ask(&q, &t), WSM_ERR_INVALID_ARG);
    /* A signal the monitor never sends for the network process. */
    ps_start(&q, PS_SIGNAL);
    ps_put_i32(&q, 1234);
    ps_put_i32(&q, SIGUSR2);
    assert_int_equal(ask(&q, &t), WSM_ERR_INVALID_ARG);
    /* A negative pid: kill(-pid) would name every process. */
    ps_start(&q, PS_SIGNAL);
    ps_put_i32(&q, -1);
    ps_put_i32(&q, 15);
    assert_int_equal(ask(&q, &t), WSM_ERR_INVALID_ARG);
    /* A user name longer than any. */
    char longname[400];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    ps_start(&q, PS_AUTH_PASSWORD);
    ps_put_str(&q, longname);
    ps_put_str(&q, "pw");
    assert_int_equal(ask(&q, &t), WSM_ERR_INVALID_ARG);
    /* Connection id 0 is nobody's. */
    ps_start(&q, PS_NEGO_FREE);
    ps_put_u64(&q, 0);
    assert_int_equal(ask(&q, &t), WSM_ERR_INVALID_ARG);
    /* An environment entry without '='. */
    ps_start(&q, PS_SPAWN);
    ps_put_str(&q, "alice");
    ps_put_str(&q, "id");
    ps_put_str(&q, "");
    ps_put_u64(&q, 0);
    ps_put_u32(&q, 0);
    ps_put_u32(&q, 1);
    ps_put_str(&q, "NOEQUALS");
    assert_int_equal(ask(&q, &t), WSM_ERR_INVALID_ARG);
    assert_int_equal(wsmd__monitor_refused(), before + 6);
    ps_clear(&q);
}

static void test_unknown_process(void **state)
{
    (void)state;
    /* Signals and releases name only processes the monitor started. */
    struct ps_msg q;
    ps_init(&q);
    uint32_t t;
    ps_start(&q, PS_SIGNAL);
    ps_put_i32(&q, (int32_t)getpid());
    ps_put_i32(&q, 15);
    assert_int_equal(ask(&q, &t), WSM_ERR_NOT_FOUND);
    ps_start(&q, PS_RELEASE);
    ps_put_i32(&q, (int32_t)getppid());
    assert_int_equal(ask(&q, &t), WSM_ERR_NOT_FOUND);
    ps_clear(&q);
}

/* PS_CONFIG_SET: n edits of keys from the fixed list, values on one line;
 * anything else is refused as malformed before the file is looked at.
 * (Here no monitor is running: a well-formed request then gets
 * UNSUPPORTED_FEATURE, and nothing is written.) */
static void put_edits(struct ps_msg *q, uint32_t n, const char *key, uint32_t set, const char *v)
{
    ps_start(q, PS_CONFIG_SET);
    ps_put_str(q, "alice");
    ps_put_u32(q, n);
    for (uint32_t i = 0; i < n; i++) {
        ps_put_str(q, key);
        ps_put_u32(q, set);
        ps_put_str(q, v);
    }
}

static void test_config_set(void **state)
{
    (void)state;
    struct ps_msg q;
    ps_init(&q);
    uint32_t t;
    unsigned long before = wsmd__monitor_refused();
    put_edits(&q, 1, "MaxShellsPerUser", 1, "5");
    assert_int_equal(ask(&q, &t), WSM_ERR_UNSUPPORTED_FEATURE);
    put_edits(&q, 1, "AuthBasic", 0, ""); /* a removal */
    assert_int_equal(ask(&q, &t), WSM_ERR_UNSUPPORTED_FEATURE);
    assert_int_equal(wsmd__monitor_refused(), before);
    put_edits(&q, 1, "Users", 1, "/tmp/users"); /* not in the list */
    assert_int_equal(ask(&q, &t), WSM_ERR_INVALID_ARG);
    put_edits(&q, 1, "MaxShellsPerUser", 1, "5\nAllowRoot = true"); /* a second line */
    assert_int_equal(ask(&q, &t), WSM_ERR_INVALID_ARG);
    put_edits(&q, 1, "MaxShellsPerUser", 1, "5 # x");
    assert_int_equal(ask(&q, &t), WSM_ERR_INVALID_ARG);
    put_edits(&q, 1, "MaxShellsPerUser", 2, "5"); /* set is 0 or 1 */
    assert_int_equal(ask(&q, &t), WSM_ERR_INVALID_ARG);
    put_edits(&q, 0, "MaxShellsPerUser", 1, "5");
    assert_int_equal(ask(&q, &t), WSM_ERR_INVALID_ARG);
    put_edits(&q, 17, "MaxShellsPerUser", 1, "5");
    assert_int_equal(ask(&q, &t), WSM_ERR_INVALID_ARG);
    put_edits(&q, 1, "MaxShellsPerUser", 1, "5");
    ps_put_u32(&q, 0); /* trailing bytes */
    assert_int_equal(ask(&q, &t), WSM_ERR_INVALID_ARG);
    assert_int_equal(wsmd__monitor_refused(), before + 7);
    ps_clear(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_roundtrip),     cmocka_unit_test(test_wire_strict_strings),
        cmocka_unit_test(test_wire_fds),           cmocka_unit_test(test_out_of_table),
        cmocka_unit_test(test_malformed_requests), cmocka_unit_test(test_unknown_process),
        cmocka_unit_test(test_config_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
