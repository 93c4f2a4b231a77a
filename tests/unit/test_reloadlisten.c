/* Unit tests for the monitor's side of listeners opened by a SIGHUP
 * reload (src/daemon/reloadlisten.c): it binds only what the accepted
 * text names, and closes its copies of the listeners that went. */
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
#include <unistd.h>

#include "config.h"
#include "reload.h"
#include "reloadlisten.h"
#include "server.h"

static struct wsmd_server srv;

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &l), 0);
    close(s);
    return ntohs(a.sin_port);
}

static void parse(struct wsmd_config *c, const char *text)
{
    char why[512];
    wsmd__config_defaults(c);
    assert_int_equal(wsmd__reload_parse(c, "t.conf", text, why, sizeof(why)), WSM_OK);
}

static void test_monitor_binds_only_what_the_text_names(void **state)
{
    (void)state;
    wsmd__config_defaults(&srv.cfg);
    int p1 = free_port(), p2 = free_port();
    char old_text[128], new_text[256], url1[64], url2[64];
    snprintf(url1, sizeof(url1), "http://127.0.0.1:%d/wsman", p1);
    snprintf(url2, sizeof(url2), "http://127.0.0.1:%d/wsman", p2);
    snprintf(old_text, sizeof(old_text), "Listen = %s\n", url1);
    snprintf(new_text, sizeof(new_text), "Listen = %s\n", url2);
    /* Before any reload: nothing is allowed, whatever asks. */
    int fd = -1, port = 0;
    assert_int_equal(wsmd__reloadl_monitor_bind(&srv, url2, &fd, &port), WSM_ERR_ACCESS_DENIED);
    /* The monitor holds the old listener, bound at startup. */
    parse(&srv.cfg, old_text);
    char why[300];
    assert_int_equal(wsmd__bind_listener(&srv.cfg.listeners[0], why, sizeof(why)), 0);
    struct wsmd_config neu;
    parse(&neu, new_text);
    wsmd__reloadl_apply(&srv, WSMD_RELOADL_MONITOR, old_text, &neu);
    /* Its copy of the old one closed (the port is free again). */
    assert_int_equal(srv.cfg.nlisteners, 0);
    struct wsmd_listener probe;
    memset(&probe, 0, sizeof(probe));
    snprintf(probe.host, sizeof(probe.host), "127.0.0.1");
    probe.port = p1;
    assert_int_equal(wsmd__bind_listener(&probe, why, sizeof(why)), 0);
    close(probe.lfd);
    /* The old one is no longer named: refused; the new one bound, kept,
     * and the same socket handed out again. */
    assert_int_equal(wsmd__reloadl_monitor_bind(&srv, url1, &fd, &port), WSM_ERR_ACCESS_DENIED);
    assert_int_equal(wsmd__reloadl_monitor_bind(&srv, "http://0.0.0.0:1/wsman", &fd, &port),
                     WSM_ERR_ACCESS_DENIED);
    assert_int_equal(wsmd__reloadl_monitor_bind(&srv, "not a url", &fd, &port),
                     WSM_ERR_INVALID_ARG);
    assert_int_equal(wsmd__reloadl_monitor_bind(&srv, url2, &fd, &port), WSM_OK);
    assert_true(fd >= 0);
    assert_int_equal(port, p2);
    assert_int_equal(srv.cfg.nlisteners, 1);
    int fd2 = -1;
    assert_int_equal(wsmd__reloadl_monitor_bind(&srv, url2, &fd2, &port), WSM_OK);
    assert_int_equal(srv.cfg.nlisteners, 1);
    struct sockaddr_in a, b;
    socklen_t la = sizeof(a), lb = sizeof(b);
    getsockname(fd, (struct sockaddr *)&a, &la);
    getsockname(fd2, (struct sockaddr *)&b, &lb);
    assert_int_equal(a.sin_port, b.sin_port);
    close(fd);
    close(fd2);
    close(srv.cfg.listeners[0].lfd);
    wsmd__config_clear(&neu);
    wsmd__config_clear(&srv.cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_monitor_binds_only_what_the_text_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
