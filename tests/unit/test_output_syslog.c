/* Unit tests for the collector's syslog output (src/collector/syslog.c):
 * the message format, refused targets, and delivery over TCP (octet
 * counting) and datagrams to listeners of the test's own. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <libxml/c14n.h>
#include <libxml/parser.h>

#include "output_helpers.h"

/* ---- syslog ---- */

static void test_syslog_format(void **state)
{
    (void)state;
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    struct wsmd_event ev = event("<Event/>", 42);
    ev.channel = "Sec]ur\"ity\\";
    ev.level = "2";
    assert_int_equal(wsmd__syslog_format(&b, "wsmd", &ev, &meta, "{\"a\":1}", 7), WSM_OK);
    assert_string_equal(b.data, "<11>1 2026-12-07T06:45:00.123456Z WS1.example.com wsmd - 4624 "
                                "[wsmd@32473 subscription=\"sub-1\" recordId=\"42\" "
                                "channel=\"Sec\\]ur\\\"ity\\\\\" "
                                "provider=\"Microsoft-Windows-Security-Auditing\" "
                                "client=\"WS1$@EXAMPLE.COM\"] {\"a\":1}");
    /* Missing fields: NILVALUEs; a bad time: the receive time; spaces and
     * control characters in a header field: '_'. */
    struct wsmd_event bare = {.xml = "x",
                              .xml_len = 1,
                              .event_id = -1,
                              .record_id = -1,
                              .time_created = "yesterday",
                              .computer = "bad host\n",
                              .level = "Verbose"};
    struct wsmd_event_meta m2 = meta;
    m2.subscription = NULL;
    wsm__buf_reset(&b);
    assert_int_equal(wsmd__syslog_format(&b, "app name", &bare, &m2, "m", 1), WSM_OK);
    assert_string_equal(b.data, "<15>1 2026-12-07T06:45:01.123Z bad_host_ app_name - - "
                                "[wsmd@32473 client=\"WS1$@EXAMPLE.COM\"] m");
    bare.time_created = "2026-12-07T06:45:01+02:00";
    bare.computer = NULL;
    m2.received = NULL;
    wsm__buf_reset(&b);
    assert_int_equal(wsmd__syslog_format(&b, "w", &bare, &m2, "", 0), WSM_OK);
    assert_string_equal(
        b.data,
        "<15>1 2026-12-07T06:45:01+02:00 - w - - [wsmd@32473 client=\"WS1$@EXAMPLE.COM\"] ");
    bare.time_created = NULL;
    wsm__buf_reset(&b);
    assert_int_equal(wsmd__syslog_format(&b, "w", &bare, &m2, "", 0), WSM_OK);
    assert_memory_equal(b.data, "<15>1 - - w", 11);
    wsm__buf_free(&b);
}

static void test_syslog_bad_targets(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "tcp://host",     "tcp://:514",  "foo://x:1",     "unix:relative/path",
        "udp://[::1]514", "tcp://h:0",   "tcp://h:99999", "tcp://h:-1",
        "udp://h:12x",    "tcp://a:b:c", "unix:",         "tcp://h:",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct wsmd_output_cfg cfg = {.event_log_dir = dir, .syslog_target = bad[i]};
        struct wsmd_outputs *o = NULL;
        assert_int_equal(wsmd__outputs_open(&cfg, &o), WSM_ERR_INVALID_ARG);
        assert_null(o);
    }
}

static int listen_on(int type, int *port)
{
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    if (type == SOCK_STREAM)
        assert_int_equal(listen(fd, 4), 0);
    socklen_t l = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &l);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* Reads octet-counted frames from fd until n are complete. */
static void read_frames(int fd, int n, char frames[][4096])
{
    static char buf[65536];
    size_t len = 0;
    int got = 0;
    while (got < n) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 5000), 1);
        ssize_t r = read(fd, buf + len, sizeof(buf) - len);
        assert_true(r > 0);
        len += (size_t)r;
        for (;;) {
            char *sp = memchr(buf, ' ', len);
            if (!sp)
                break;
            size_t flen = strtoul(buf, NULL, 10), hdr = (size_t)(sp - buf) + 1;
            assert_true(flen > 0 && flen < 4096);
            if (len < hdr + flen)
                break;
            memcpy(frames[got], buf + hdr, flen);
            frames[got][flen] = '\0';
            got++;
            memmove(buf, buf + hdr + flen, len - hdr - flen);
            len -= hdr + flen;
        }
    }
    assert_int_equal(len, 0);
}

static void test_syslog_tcp(void **state)
{
    (void)state;
    int port, lfd = listen_on(SOCK_STREAM, &port);
    char target[64];
    snprintf(target, sizeof(target), "tcp://127.0.0.1:%d", port);
    struct wsmd_outputs *o = open_outputs(target);
    struct wsmd_event ev[3] = {event("<Event>1</Event>", 1), event("<Event>a\nb</Event>", 2),
                               event("<Event>3</Event>", 3)};
    assert_int_equal(wsmd__outputs_write(o, WSMD_OUT_SYSLOG, "ForwardedEvents", ev, 3, &meta),
                     WSM_OK);
    int c = accept(lfd, NULL, NULL);
    assert_true(c >= 0);
    char frames[3][4096];
    read_frames(c, 3, frames);
    for (int i = 0; i < 3; i++) {
        char want[64];
        snprintf(want, sizeof(want), "recordId=\"%d\"", i + 1);
        assert_non_null(strstr(frames[i], want));
        assert_memory_equal(frames[i], "<14>1 2026-12-07T06:45:00.123456Z WS1.example.com wsmd",
                            54);
        assert_non_null(strstr(frames[i], "] {"));
        assert_int_equal(frames[i][strlen(frames[i]) - 1], '}');
    }
    /* The receiver goes away and comes back: the next batch reconnects. */
    close(c);
    assert_int_equal(wsmd__outputs_write(o, WSMD_OUT_SYSLOG, "ForwardedEvents", ev, 2, &meta),
                     WSM_OK);
    c = accept(lfd, NULL, NULL);
    assert_true(c >= 0);
    read_frames(c, 2, frames);
    assert_non_null(strstr(frames[1], "recordId=\"2\""));
    close(c);
    /* No receiver at all: the batch fails. */
    close(lfd);
    assert_int_equal(wsmd__outputs_write(o, WSMD_OUT_SYSLOG, "ForwardedEvents", ev, 1, &meta),
                     WSM_ERR_IO);
    wsmd__outputs_close(o);
}

static void recv_datagrams(int fd, int n, const char *first)
{
    for (int i = 0; i < n; i++) {
        char buf[8192];
        struct pollfd p = {.fd = fd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 5000), 1);
        ssize_t r = recv(fd, buf, sizeof(buf) - 1, 0);
        assert_true(r > 0);
        buf[r] = '\0';
        assert_memory_equal(buf, first, strlen(first));
        char want[64];
        snprintf(want, sizeof(want), "recordId=\"%d\"", i + 1);
        assert_non_null(strstr(buf, want));
        assert_int_equal(buf[r - 1], '}');
    }
}

static void test_syslog_datagram(void **state)
{
    (void)state;
    struct wsmd_event ev[2] = {event("<Event>1</Event>", 1), event("<Event>2</Event>", 2)};
    int port, ufd = listen_on(SOCK_DGRAM, &port);
    char target[160];
    snprintf(target, sizeof(target), "udp://127.0.0.1:%d", port);
    struct wsmd_outputs *o = open_outputs(target);
    assert_int_equal(wsmd__outputs_write(o, WSMD_OUT_SYSLOG, "ForwardedEvents", ev, 2, &meta),
                     WSM_OK);
    recv_datagrams(ufd, 2, "<14>1 2026-12-07T06:45:00.123456Z WS1.example.com wsmd - 4624 [");
    wsmd__outputs_close(o);
    close(ufd);

    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/log.sock", dir);
    int xfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(xfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    snprintf(target, sizeof(target), "unix:%s", sa.sun_path);
    struct wsmd_output_cfg cfg = {.syslog_target = target, .syslog_app = "collector"};
    assert_int_equal(wsmd__outputs_open(&cfg, &o), WSM_OK);
    assert_int_equal(wsmd__outputs_write(o, WSMD_OUT_SYSLOG, NULL, ev, 2, &meta), WSM_OK);
    recv_datagrams(xfd, 2, "<14>1 2026-12-07T06:45:00.123456Z WS1.example.com collector - 4624");
    /* The receiver restarts (a new socket at the same path): reconnected. */
    close(xfd);
    unlink(sa.sun_path);
    xfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_int_equal(bind(xfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(wsmd__outputs_write(o, WSMD_OUT_SYSLOG, NULL, ev, 2, &meta), WSM_OK);
    recv_datagrams(xfd, 2, "<14>1 ");
    /* Gone: an error. */
    close(xfd);
    unlink(sa.sun_path);
    assert_int_equal(wsmd__outputs_write(o, WSMD_OUT_SYSLOG, NULL, ev, 1, &meta), WSM_ERR_IO);
    wsmd__outputs_close(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_syslog_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syslog_bad_targets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syslog_tcp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syslog_datagram, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
