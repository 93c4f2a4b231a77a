/* The pure parts of cfglisten.c: Windows' listener keys to a Listen URL,
 * the port rule, the line editor of the configuration file, and which
 * Listen / CertMapping values name the same thing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cfglisten.h"
#include "pswire.h"
#include "privsep.h"

static void url_ok(const char *addr, const char *tr, long port, const char *want)
{
    char url[256];
    assert_int_equal(wsmd__cfgl_listener_url(addr, tr, port, url, sizeof(url)), WSM_OK);
    assert_string_equal(url, want);
}

static void test_listener_url(void **state)
{
    (void)state;
    url_ok("*", "HTTP", 5985, "http://0.0.0.0:5985/wsman");
    url_ok("*", "https", 5986, "https://0.0.0.0:5986/wsman");
    url_ok("IP:192.0.2.7", "Http", 80, "http://192.0.2.7:80/wsman");
    url_ok("ip:[::1]", "HTTPS", 443, "https://[::1]:443/wsman");
    url_ok("IP:fe80:0:0::1", "HTTP", 8080, "http://[fe80::1]:8080/wsman"); /* canonical */
    char url[64];
    static const char *const bad_addr[] = {
        "",        "0.0.0.0",     "IP:", "IP:[]",      "IP:1.2.3.256",
        "IP:host", "IP:[1.2.3.4", "**",  "IP: 1.2.3.4"};
    for (size_t i = 0; i < sizeof(bad_addr) / sizeof(bad_addr[0]); i++)
        assert_int_equal(wsmd__cfgl_listener_url(bad_addr[i], "HTTP", 5985, url, sizeof(url)),
                         WSM_ERR_INVALID_SELECTORS);
    assert_int_equal(wsmd__cfgl_listener_url("*", "FTP", 5985, url, sizeof(url)),
                     WSM_ERR_INVALID_SELECTORS);
    assert_int_equal(wsmd__cfgl_listener_url("*", NULL, 5985, url, sizeof(url)),
                     WSM_ERR_INVALID_SELECTORS);
    assert_int_equal(wsmd__cfgl_listener_url("*", "HTTP", 0, url, sizeof(url)),
                     WSM_ERR_INVALID_ARG);
    assert_int_equal(wsmd__cfgl_listener_url("*", "HTTP", 65536, url, sizeof(url)),
                     WSM_ERR_INVALID_ARG);
    /* Too small a buffer is an error, never a cut URL. */
    assert_int_equal(wsmd__cfgl_listener_url("*", "HTTP", 5985, url, 10), WSM_ERR_INVALID_ARG);
}

static void test_port_rule(void **state)
{
    (void)state;
    assert_true(wsmd__cfgl_port_allowed(80));
    assert_true(wsmd__cfgl_port_allowed(443));
    assert_true(wsmd__cfgl_port_allowed(1024));
    assert_true(wsmd__cfgl_port_allowed(5985));
    assert_true(wsmd__cfgl_port_allowed(65535));
    assert_false(wsmd__cfgl_port_allowed(0));
    assert_false(wsmd__cfgl_port_allowed(22));
    assert_false(wsmd__cfgl_port_allowed(1023));
    assert_false(wsmd__cfgl_port_allowed(65536));
    assert_false(wsmd__cfgl_port_allowed(-80));
}

static void test_same(void **state)
{
    (void)state;
    assert_true(wsmd__cfgl_same_listen("http://0.0.0.0:5985/wsman", "http://0.0.0.0:5985"));
    assert_true(wsmd__cfgl_same_listen("https://[::1]:5986", "https://[0::1]:5986/wsman"));
    assert_false(wsmd__cfgl_same_listen("http://0.0.0.0:5985", "https://0.0.0.0:5985"));
    assert_false(wsmd__cfgl_same_listen("http://0.0.0.0:5985", "http://0.0.0.0:5986"));
    assert_false(wsmd__cfgl_same_listen("http://127.0.0.1:5985", "http://127.0.0.2:5985"));
    assert_false(wsmd__cfgl_same_listen("http://x y", "http://x y"));
    assert_false(wsmd__cfgl_same_listen("", ""));
    const char *a = "Issuer=AB:CD:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11 "
                    "Subject=alice@x UserName=alice";
    const char *b = "Issuer=abcd00112233445566778899aabbccddeeff0011 Subject=\"ALICE@X\" "
                    "UserName=bob";
    assert_true(wsmd__cfgl_same_certmap(a, b)); /* the keys are Issuer and Subject */
    assert_false(wsmd__cfgl_same_certmap(a, "Issuer=* Subject=alice@x UserName=alice"));
    assert_false(wsmd__cfgl_same_certmap(a, "garbage"));
}

static void edit(const char *text, const char *add, const char *remove, const char *want,
                 unsigned want_removed)
{
    char *out = NULL;
    unsigned removed = 99;
    assert_int_equal(wsmd__cfgl_edit_text(text, "Listen", add, remove,
                                          remove ? wsmd__cfgl_same_listen : NULL, &out, &removed),
                     WSM_OK);
    assert_string_equal(out, want);
    assert_int_equal(removed, want_removed);
    free(out);
}

static void test_edit_text(void **state)
{
    (void)state;
    const char *conf = "# wsmd\n"
                       "Listen = http://127.0.0.1:5985  # the local one\n"
                       "  listen=http://0.0.0.0:6000/wsman\n"
                       "Users = /etc/wsmd/users\n"
                       "# Listen = http://0.0.0.0:6000\n"
                       "Unknown = kept as it is";
    /* Appended, with the missing final newline added first. */
    edit(conf, "http://0.0.0.0:7000/wsman", NULL,
         "# wsmd\n"
         "Listen = http://127.0.0.1:5985  # the local one\n"
         "  listen=http://0.0.0.0:6000/wsman\n"
         "Users = /etc/wsmd/users\n"
         "# Listen = http://0.0.0.0:6000\n"
         "Unknown = kept as it is\n"
         "Listen = http://0.0.0.0:7000/wsman\n",
         0);
    /* Removed however it is written (key case, spaces, /wsman); the
     * comment that names it stays. */
    edit(conf, NULL, "http://0.0.0.0:6000",
         "# wsmd\n"
         "Listen = http://127.0.0.1:5985  # the local one\n"
         "Users = /etc/wsmd/users\n"
         "# Listen = http://0.0.0.0:6000\n"
         "Unknown = kept as it is",
         1);
    /* A value after '#' is a comment: not matched. */
    edit(conf, NULL, "http://127.0.0.1:5985",
         "# wsmd\n"
         "  listen=http://0.0.0.0:6000/wsman\n"
         "Users = /etc/wsmd/users\n"
         "# Listen = http://0.0.0.0:6000\n"
         "Unknown = kept as it is",
         1);
    edit(conf, NULL, "http://10.0.0.1:1", conf, 0);
    edit("", "http://0.0.0.0:1", NULL, "Listen = http://0.0.0.0:1\n", 0);
    /* Another key with the same value is not touched. */
    edit("Listener = http://0.0.0.0:6000\n", NULL, "http://0.0.0.0:6000",
         "Listener = http://0.0.0.0:6000\n", 0);
}

/* Outside a live monitor the configuration requests are refused like a
 * spawn (they need the monitor's own state). */
static void test_monitor_refuses_offline(void **state)
{
    (void)state;
    struct ps_msg q;
    ps_init(&q);
    ps_start(&q, PS_CFG_LISTEN);
    ps_put_str(&q, "alice");
    ps_put_u32(&q, 1);
    ps_put_str(&q, "http://0.0.0.0:22/wsman");
    unsigned char *reply = NULL;
    size_t n = 0;
    assert_int_equal(wsmd__monitor_handle_bytes(q.data, q.len, &reply, &n), WSM_ERR_INVALID_ARG);
    free(reply);
    ps_start(&q, PS_CFG_CERTMAP);
    ps_put_str(&q, "alice");
    ps_put_u32(&q, 1);
    ps_put_str(&q, "Issuer=* Subject=* UserName=root AllowRoot=true");
    assert_int_equal(wsmd__monitor_handle_bytes(q.data, q.len, &reply, &n), WSM_ERR_INVALID_ARG);
    free(reply);
    ps_clear(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listener_url),
        cmocka_unit_test(test_port_rule),
        cmocka_unit_test(test_same),
        cmocka_unit_test(test_edit_text),
        cmocka_unit_test(test_monitor_refuses_offline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
