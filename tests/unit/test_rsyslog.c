/* The syslog output (src/collector/syslog.c) into a real rsyslogd over a
 * unix socket, UDP and TCP: the messages must arrive whole, with their
 * structured data. Skipped when rsyslogd is not installed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "output.h"

#define RSYSLOGD "/usr/sbin/rsyslogd"

static char dir[64];
static char outfile[128];
static pid_t rs_pid = -1;
static int udp_port, tcp_port;

static int free_port(int type)
{
    int fd = socket(AF_INET, type, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(sa);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &l) != 0)
        return -1;
    close(fd);
    return ntohs(sa.sin_port);
}

static int start_rsyslogd(void **state)
{
    (void)state;
    if (access(RSYSLOGD, X_OK) != 0)
        return 0; /* each test skips */
    snprintf(dir, sizeof(dir), "/tmp/wsmd-rsyslog-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(outfile, sizeof(outfile), "%s/out.log", dir);
    udp_port = free_port(SOCK_DGRAM);
    tcp_port = free_port(SOCK_STREAM);
    char conf[160], pidfile[160], errlog[160];
    snprintf(conf, sizeof(conf), "%s/rsyslog.conf", dir);
    snprintf(pidfile, sizeof(pidfile), "%s/rsyslogd.pid", dir);
    snprintf(errlog, sizeof(errlog), "%s/rsyslogd.err", dir);
    FILE *f = fopen(conf, "w");
    if (!f)
        return -1;
    /* RFC 5424 parsed on every input (imuxsock's own parser would take the
     * message for a local one), no rate limits, and a template that keeps
     * the fields we send. */
    fprintf(f,
            "global(workDirectory=\"%s\" maxMessageSize=\"64k\")\n"
            "module(load=\"imuxsock\" SysSock.Use=\"off\")\n"
            "module(load=\"imudp\")\n"
            "module(load=\"imtcp\")\n"
            "input(type=\"imuxsock\" Socket=\"%s/log.sock\" UseSpecialParser=\"off\""
            " ParseHostname=\"on\" RateLimit.Interval=\"0\")\n"
            "input(type=\"imudp\" address=\"127.0.0.1\" port=\"%d\")\n"
            "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"%d\")\n"
            "template(name=\"t\" type=\"string\" string=\"%%inputname%% %%hostname%% "
            "%%app-name%% %%msgid%% %%structured-data%% %%msg%%\\n\")\n"
            "if $app-name == 'wsmdtest' then action(type=\"omfile\" file=\"%s\" template=\"t\")\n",
            dir, dir, udp_port, tcp_port, outfile);
    fclose(f);
    rs_pid = fork();
    if (rs_pid == 0) {
        int fd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(RSYSLOGD, RSYSLOGD, "-n", "-f", conf, "-i", pidfile, (char *)NULL);
        _exit(127);
    }
    return rs_pid > 0 ? 0 : -1;
}

static int stop_rsyslogd(void **state)
{
    (void)state;
    if (rs_pid > 0) {
        kill(rs_pid, SIGTERM);
        waitpid(rs_pid, NULL, 0);
        rs_pid = -1;
        char cmd[160];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
    }
    return 0;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static const struct wsmd_event_meta meta = {
    .subscription = "Sub \"quoted\" [x]",
    .client = "WS1$@EXAMPLE.COM",
    .source_addr = "192.0.2.7",
    .received = "2026-12-07T06:45:01.123Z",
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What rsyslogd should write for ev: the template's fields. */
static void expected(char *out, size_t outlen, const char *input, const struct wsmd_event *ev)
{
    struct wsm_buf json, msg;
    wsm__buf_init(&json, 0);
    wsm__buf_init(&msg, 0);
    assert_int_equal(wsmd__event_json(&json, ev, &meta), WSM_OK);
    assert_int_equal(wsmd__syslog_format(&msg, "wsmdtest", ev, &meta, json.data, json.len), WSM_OK);
    /* From the HOSTNAME on, with PROCID ("-") left out as the template does. */
    char *host = strchr(strchr(msg.data, ' ') + 1, ' ') + 1;
    char *app = strchr(host, ' ') + 1;
    char *procid = strchr(app, ' ') + 1;
    char *msgid = strchr(procid, ' ') + 1;
    snprintf(out, outlen, "%s %.*s%s", input, (int)(procid - host), host, msgid);
    wsm__buf_free(&json);
    wsm__buf_free(&msg);
}

static void run_transport(const char *target, const char *input)
{
    if (rs_pid <= 0)
        skip();
    struct wsmd_output_cfg cfg = {.syslog_target = target, .syslog_app = "wsmdtest"};
    struct wsmd_outputs *o = NULL;
    assert_int_equal(wsmd__outputs_open(&cfg, &o), WSM_OK);
    /* rsyslogd opens its inputs while starting: send a probe until one is
     * written out. */
    char probe_xml[64];
    snprintf(probe_xml, sizeof(probe_xml), "<Event>probe-%s</Event>", input);
    struct wsmd_event probe = {.xml = probe_xml,
                               .xml_len = strlen(probe_xml),
                               .computer = "probe",
                               .event_id = -1,
                               .record_id = 0};
    double t0 = now_s();
    for (;;) {
        if (wsmd__outputs_write(o, WSMD_OUT_SYSLOG, NULL, &probe, 1, &meta) == WSM_OK) {
            const char *s = slurp(outfile);
            if (s && strstr(s, probe_xml))
                break;
        }
        if (now_s() - t0 > 30)
            fail_msg("rsyslogd did not write the probe over %s", input);
        usleep(50000);
    }

    static char big[12000];
    memset(big, 'b', sizeof(big) - 1);
    memcpy(big, "<Event>", 7);
    struct wsmd_event ev[3] = {
        {.xml = "<Event><Data>caf\xc3\xa9 \"q\" \\ ] [</Data></Event>",
         .computer = "WS1.example.com",
         .channel = "Security",
         .provider = "P]\"\\",
         .time_created = "2026-12-07T06:45:00.1234567Z",
         .level = "4",
         .event_id = 4624,
         .record_id = 1001},
        {.xml = "<Event>line\nbreak\ttab</Event>",
         .computer = "WS2",
         .channel = "System",
         .level = "2",
         .event_id = 7036,
         .record_id = 1002},
        {.xml = big,
         .computer = "WS3.example.com",
         .channel = "Application",
         .level = "3",
         .event_id = 1,
         .record_id = 1003},
    };
    for (int i = 0; i < 3; i++) {
        ev[i].xml_len = strlen(ev[i].xml);
        ev[i].well_formed = 1;
    }
    assert_int_equal(wsmd__outputs_write(o, WSMD_OUT_SYSLOG, NULL, ev, 3, &meta), WSM_OK);
    wsmd__outputs_close(o);
    char want[3][16384];
    for (int i = 0; i < 3; i++)
        expected(want[i], sizeof(want[i]), input, &ev[i]);
    /* Poll until every line is there whole (rsyslogd may write the 12 KB
     * line in pieces: its start alone is not the line), then compare. */
    t0 = now_s();
    const char *s;
    for (;;) {
        int whole = 0;
        if ((s = slurp(outfile)))
            for (int i = 0; i < 3; i++) {
                const char *l = strstr(s, want[i]);
                whole += l && l[strlen(want[i])] == '\n';
            }
        if (whole == 3 || (s && now_s() - t0 > 30))
            break;
        if (now_s() - t0 > 30)
            fail_msg("rsyslogd did not write the events over %s", input);
        usleep(20000);
    }
    for (int i = 0; i < 3; i++) {
        const char *line = strstr(s, want[i]);
        if (!line) {
            char rid[32];
            snprintf(rid, sizeof(rid), "recordId=\"%lld\"", ev[i].record_id);
            const char *got = strstr(s, rid);
            fail_msg("over %s, event %d differs:\nwant: %.300s\ngot near: %.300s", input, i,
                     want[i], got ? got : "(absent)");
        }
        assert_int_equal(line[strlen(want[i])], '\n');
    }
}

static void test_unix(void **state)
{
    (void)state;
    char target[128];
    snprintf(target, sizeof(target), "unix:%s/log.sock", dir);
    run_transport(target, "imuxsock");
}

static void test_udp(void **state)
{
    (void)state;
    char target[64];
    snprintf(target, sizeof(target), "udp://127.0.0.1:%d", udp_port);
    run_transport(target, "imudp");
}

static void test_tcp(void **state)
{
    (void)state;
    char target[64];
    snprintf(target, sizeof(target), "tcp://127.0.0.1:%d", tcp_port);
    run_transport(target, "imtcp");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unix, start_rsyslogd, stop_rsyslogd),
        cmocka_unit_test_setup_teardown(test_udp, start_rsyslogd, stop_rsyslogd),
        cmocka_unit_test_setup_teardown(test_tcp, start_rsyslogd, stop_rsyslogd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
