/* Unit tests for the collector's own pieces (src/collector): its
 * configuration keys, which URLs are its, a source's state as wecutil gr
 * names it, and the hints for Kerberos set-up mistakes
 * (src/daemon/krb5hint.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <krb5/krb5.h>
#include <string.h>

#include "colconfig.h"
#include "collector.h"
#include "config.h"
#include "control.h"
#include "krb5hint.h"
#include "server.h"

static void test_config_keys(void **state)
{
    (void)state;
    struct wsmd_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(wsmd__colconfig_set(&cfg, "Listen", "x"), WSM_ERR_NOT_FOUND);
    assert_int_equal(wsmd__colconfig_set(&cfg, "subscriptions", "/etc/wsmd/subs"), WSM_OK);
    assert_string_equal(cfg.subscriptions_dir, "/etc/wsmd/subs");
    assert_int_equal(wsmd__colconfig_set(&cfg, "EventLogDir", "/var/log/x"), WSM_OK);
    assert_int_equal(wsmd__colconfig_set(&cfg, "StateDir", ""), WSM_ERR_INVALID_ARG);
    assert_int_equal(wsmd__colconfig_set(&cfg, "StateDir", "a\nb"), WSM_ERR_INVALID_ARG);
    const char *good[] = {"unix:/dev/log", "udp://127.0.0.1:514", "tcp://siem.example.com:6514",
                          "tcp://[::1]:514"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(wsmd__colconfig_set(&cfg, "SyslogTarget", good[i]), WSM_OK);
    const char *bad[] = {"unix:dev/log",    "udp://host", "tcp://host:0", "tcp://host:70000",
                         "http://host:514", "tcp://:514", "udp://h:51x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(wsmd__colconfig_set(&cfg, "SyslogTarget", bad[i]), WSM_ERR_INVALID_ARG);
    assert_int_equal(wsmd__colconfig_set(&cfg, "MetricsListen", "https://127.0.0.1:9599"),
                     WSM_ERR_INVALID_ARG);
    assert_int_equal(wsmd__colconfig_set(&cfg, "MetricsListen", "http://127.0.0.1:9599"), WSM_OK);
    size_t before = cfg.nlisteners;
    assert_int_equal(wsmd__colconfig_finish(&cfg), WSM_OK);
    assert_non_null(cfg.state_dir); /* a default */
    assert_string_equal(cfg.event_log_dir, "/var/log/x");
    assert_int_equal(cfg.nlisteners, before + 1);
    assert_true(cfg.listeners[cfg.nlisteners - 1].metrics);
    assert_int_equal(cfg.listeners[cfg.nlisteners - 1].port, 9599);
    wsmd__colconfig_clear(&cfg);
    assert_null(cfg.subscriptions_dir);
    assert_null(cfg.syslog_target);

    /* Without Subscriptions: no defaults, no metrics listener. */
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(wsmd__colconfig_set(&cfg, "MetricsListen", "http://127.0.0.1:9599"), WSM_OK);
    assert_int_equal(wsmd__colconfig_finish(&cfg), WSM_OK);
    assert_null(cfg.state_dir);
    assert_int_equal(cfg.nlisteners, 0);
    wsmd__colconfig_clear(&cfg);
}

static void test_paths(void **state)
{
    (void)state;
    struct wsmd_server srv;
    memset(&srv, 0, sizeof(srv));
    /* The collector off: nothing is its. */
    assert_int_equal(wsmd__collector_path(&srv, "/wsman/SubscriptionManager/WEC"), WSMD_COL_NONE);
    srv.collector = (struct wsmd_collector *)&srv; /* on (only tested for NULL) */
    assert_int_equal(wsmd__collector_path(&srv, "/wsman/SubscriptionManager/WEC"),
                     WSMD_COL_MANAGER);
    assert_int_equal(wsmd__collector_path(&srv, "/wsman/subscriptionmanager/wec"),
                     WSMD_COL_MANAGER);
    assert_int_equal(wsmd__collector_path(&srv, "/wsman/subscriptions/Sec"), WSMD_COL_DELIVERY);
    assert_int_equal(wsmd__collector_path(&srv, "/wsman/subscriptions/B6BD/1"), WSMD_COL_DELIVERY);
    const char *none[] = {"/wsman",
                          "/wsman/",
                          "/wsman/SubscriptionManager/",
                          "/wsman/subscriptions/",
                          "/wsman/subscriptionsX/a",
                          "/metrics",
                          "",
                          "/wsman/SubscriptionManager"};
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
        assert_int_equal(wsmd__collector_path(&srv, none[i]), WSMD_COL_NONE);
    assert_int_equal(wsmd__collector_path(&srv, NULL), WSMD_COL_NONE);
}

static void test_source_status(void **state)
{
    (void)state;
    const long hb = 60000;
    const long long now = 10000000;
    struct wsmd_source_row r;
    memset(&r, 0, sizeof(r));
    assert_string_equal(wsmd__col_source_status(&r, hb, now), "Dead"); /* never heard */
    r.last_event_ms = now - 1000;
    assert_string_equal(wsmd__col_source_status(&r, hb, now), "Active");
    r.last_event_ms = now - hb - 1;
    assert_string_equal(wsmd__col_source_status(&r, hb, now), "Alive");
    r.last_heartbeat_ms = now - 10;
    assert_string_equal(wsmd__col_source_status(&r, hb, now), "Alive");
    r.last_event_ms = now - 3 * hb;
    r.last_heartbeat_ms = now - 2 * hb - 1;
    assert_string_equal(wsmd__col_source_status(&r, hb, now), "Dead");
    r.ended = 1;
    r.last_event_ms = now;
    assert_string_equal(wsmd__col_source_status(&r, hb, now), "Ended");
    /* No interval known: Windows' Normal mode (15 minutes). */
    memset(&r, 0, sizeof(r));
    r.last_heartbeat_ms = now - 20 * 60000;
    assert_string_equal(wsmd__col_source_status(&r, 0, now), "Alive");
}

static void test_krb5_hints(void **state)
{
    (void)state;
    assert_non_null(strstr(wsmd__krb5_hint((uint32_t)KRB5KRB_AP_ERR_SKEW), "clock skew"));
    assert_non_null(strstr(wsmd__krb5_hint((uint32_t)KRB5_KT_NOTFOUND), "wrong SPN"));
    assert_non_null(strstr(wsmd__krb5_hint((uint32_t)KRB5KRB_AP_ERR_NOT_US), "wrong SPN"));
    assert_non_null(strstr(wsmd__krb5_hint((uint32_t)KRB5_KT_KVNONOTFOUND), "kvno"));
    assert_non_null(strstr(wsmd__krb5_hint((uint32_t)KRB5_BAD_ENCTYPE), "enctype"));
    assert_non_null(strstr(wsmd__krb5_hint((uint32_t)KRB5KRB_AP_ERR_NOKEY), "enctype"));
    assert_null(wsmd__krb5_hint(0));
    assert_null(wsmd__krb5_hint(12345));
    /* A hint is one log field: no quote or newline in it. */
    uint32_t codes[] = {(uint32_t)KRB5KRB_AP_ERR_SKEW, (uint32_t)KRB5_KT_NOTFOUND,
                        (uint32_t)KRB5_KT_KVNONOTFOUND, (uint32_t)KRB5_BAD_ENCTYPE,
                        (uint32_t)KRB5KRB_AP_ERR_MODIFIED};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        assert_null(strpbrk(wsmd__krb5_hint(codes[i]), "\"\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_keys),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_source_status),
        cmocka_unit_test(test_krb5_hints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
