/* Unit tests for the collector's outputs (src/collector/output.c, syslog.c). */
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

#include "output.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/wsmd-output-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const struct wsmd_event_meta meta = {
    .subscription = "sub-1",
    .client = "WS1$@EXAMPLE.COM",
    .source_addr = "192.0.2.7",
    .received = "2026-12-07T06:45:01.123Z",
};

static struct wsmd_event event(const char *xml, long long rid)
{
    return (struct wsmd_event){
        .xml = xml,
        .xml_len = strlen(xml),
        .well_formed = 1,
        .computer = "WS1.example.com",
        .channel = "Security",
        .provider = "Microsoft-Windows-Security-Auditing",
        .time_created = "2026-12-07T06:45:00.1234567Z",
        .level = "0",
        .event_id = 4624,
        .record_id = rid,
    };
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap && !(buf = realloc(buf, cap = 2 * cap + 8192)))
            abort();
        size_t r = fread(buf + n, 1, 4096, f);
        if (r == 0)
            break;
        n += r;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

static struct wsmd_outputs *open_outputs(const char *target)
{
    struct wsmd_output_cfg cfg = {.event_log_dir = dir, .syslog_target = target};
    struct wsmd_outputs *o = NULL;
    assert_int_equal(wsmd__outputs_open(&cfg, &o), WSM_OK);
    return o;
}

static void test_jsonl(void **state)
{
    (void)state;
    struct wsmd_outputs *o = open_outputs(NULL);
    struct wsmd_event ev[3] = {event("<Event><A>1</A></Event>", 1),
                               event("<Event><A>line\nbreak \"q\"</A></Event>", 2),
                               event("<Event>\t</Event>", 3)};
    assert_int_equal(wsmd__outputs_write(o, WSMD_OUT_JSONL, "ForwardedEvents", ev, 3, &meta),
                     WSM_OK);
    assert_int_equal(wsmd__outputs_write(o, WSMD_OUT_JSONL, "ForwardedEvents", ev, 1, &meta),
                     WSM_OK);
    /* Nothing to write, nothing asked: fine. */
    assert_int_equal(wsmd__outputs_write(o, WSMD_OUT_JSONL, "ForwardedEvents", ev, 0, &meta),
                     WSM_OK);
    wsmd__outputs_close(o);
    char path[128];
    snprintf(path, sizeof(path), "%s/ForwardedEvents.jsonl", dir);
    char *s = slurp(path, NULL);
    assert_non_null(s);
    assert_int_equal(count_char(s, '\n'), 4);
    char *save = NULL;
    int i = 0;
    for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
        assert_int_equal(line[0], '{');
        assert_int_equal(line[strlen(line) - 1], '}');
        assert_non_null(strstr(line, "\"Subscription\":\"sub-1\""));
    }
    assert_int_equal(i, 4);
    free(s);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777 & ~0640, 0);
    /* No .xml when only jsonl was asked. */
    snprintf(path, sizeof(path), "%s/ForwardedEvents.xml", dir);
    assert_int_equal(access(path, F_OK), -1);
}

/* The canonical form (C14N, without comments) of an XML text. */
static char *canon(const char *xml, size_t len)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)len, NULL, NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    xmlChar *out = NULL;
    assert_true(xmlC14NDocDumpMemory(doc, NULL, XML_C14N_1_0, NULL, 0, &out) >= 0);
    xmlFreeDoc(doc);
    return (char *)out;
}

static void test_xml_lines(void **state)
{
    (void)state;
    static const char *const docs[] = {
        ("<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\">\r\n"
         "  <System>\n    <Provider Name=\"P\"\n      Guid=\"{1}\"/>\n  </System>\r\n"
         "  <EventData><Data Name=\"a\">first\r\nsecond\rthird\n</Data></EventData>\n"
         "</Event>"),
        ("<Event><!-- a\ncomment --><Data><![CDATA[x\r\ny]]></Data>"
         "<?pi some data?><Data a='one\ntwo' b=\"&gt;\n\">t&amp;\n</Data></Event>"),
        "\n<Event\n>\n</Event\n>\n",
    };
    struct wsmd_event ev[4];
    for (int i = 0; i < 3; i++)
        ev[i] = event(docs[i], i);
    /* Not XML at all: still one line. */
    ev[3] = event("<Event><unclosed\n attr='\n", 3);
    ev[3].well_formed = 0;
    struct wsmd_outputs *o = open_outputs(NULL);
    assert_int_equal(wsmd__outputs_write(o, WSMD_OUT_XML | WSMD_OUT_JSONL, "Raw", ev, 4, &meta),
                     WSM_OK);
    wsmd__outputs_close(o);
    char path[128];
    snprintf(path, sizeof(path), "%s/Raw.xml", dir);
    char *s = slurp(path, NULL);
    assert_non_null(s);
    assert_int_equal(count_char(s, '\n'), 4);
    assert_null(strchr(s, '\r'));
    char *save = NULL;
    char *line = strtok_r(s, "\n", &save);
    for (int i = 0; i < 3; i++, line = strtok_r(NULL, "\n", &save)) {
        assert_non_null(line);
        char *a = canon(docs[i], strlen(docs[i])), *b = canon(line, strlen(line));
        assert_string_equal(a, b);
        xmlFree(a);
        xmlFree(b);
    }
    assert_non_null(line);
    assert_string_equal(line, "<Event><unclosed  attr=' ");
    free(s);
    /* A processing instruction's data has no escape: its newline becomes a
     * space (events have none). */
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    const char *pi = "<?pi a\nb?>\n<E a='\r\n'/>";
    assert_int_equal(wsmd__output_xml_line(&b, pi, strlen(pi)), WSM_OK);
    assert_string_equal(b.data, "<?pi a b?> <E a=' '/>");
    /* Around the root element a reference is not allowed: a space. */
    wsm__buf_reset(&b);
    const char *around = "\n<E>\n<F/>\n<G></G>\n</E>\r\n";
    assert_int_equal(wsmd__output_xml_line(&b, around, strlen(around)), WSM_OK);
    assert_string_equal(b.data, " <E>&#10;<F/>&#10;<G></G>&#10;</E> ");
    wsm__buf_free(&b);
    snprintf(path, sizeof(path), "%s/Raw.jsonl", dir);
    s = slurp(path, NULL);
    assert_int_equal(count_char(s, '\n'), 4);
    free(s);
}

static void test_bad_names(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",     "../etc/passwd", "a/b",       ".hidden", "a..b",
        "x\ny", "tab\t",         "trailing ", " lead",   "..",
        "/",    "a\\b",          "q\"",       "semi;",   "star*",
    };
    struct wsmd_outputs *o = open_outputs(NULL);
    struct wsmd_event ev = event("<Event/>", 1);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(wsmd__output_name_ok(bad[i]));
        assert_int_equal(
            wsmd__outputs_write(o, WSMD_OUT_JSONL | WSMD_OUT_XML, bad[i], &ev, 1, &meta),
            WSM_ERR_INVALID_ARG);
    }
    char longname[200];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_false(wsmd__output_name_ok(longname));
    assert_false(wsmd__output_name_ok(NULL));
    assert_int_equal(wsmd__outputs_write(o, WSMD_OUT_JSONL, NULL, &ev, 1, &meta),
                     WSM_ERR_INVALID_ARG);
    /* Nothing was made anywhere. */
    DIR *d = opendir(dir);
    struct dirent *de;
    int entries = 0;
    while ((de = readdir(d)))
        entries += de->d_name[0] != '.';
    closedir(d);
    assert_int_equal(entries, 0);
    /* Names Windows uses are fine. */
    assert_true(wsmd__output_name_ok("ForwardedEvents"));
    assert_true(wsmd__output_name_ok("Windows PowerShell"));
    assert_true(wsmd__output_name_ok("Microsoft-Windows-Sysmon_Operational"));
    assert_true(wsmd__output_name_ok("v1.2@site+x"));
    /* A symbolic link in place of a log file is not followed. */
    char link[128], target[128];
    snprintf(link, sizeof(link), "%s/Linked.jsonl", dir);
    snprintf(target, sizeof(target), "%s/elsewhere", dir);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(wsmd__outputs_write(o, WSMD_OUT_JSONL, "Linked", &ev, 1, &meta), WSM_ERR_IO);
    assert_int_equal(access(target, F_OK), -1);
    /* Syslog asked, none configured. */
    assert_int_equal(wsmd__outputs_write(o, WSMD_OUT_SYSLOG, "ForwardedEvents", &ev, 1, &meta),
                     WSM_ERR_INVALID_ARG);
    wsmd__outputs_close(o);
    /* EventLogDir is made when missing; one that is a file is refused. */
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/made", dir);
    struct wsmd_output_cfg mk = {.event_log_dir = sub};
    assert_int_equal(wsmd__outputs_open(&mk, &o), WSM_OK);
    assert_int_equal(wsmd__outputs_write(o, WSMD_OUT_JSONL, "ForwardedEvents", &ev, 1, &meta),
                     WSM_OK);
    wsmd__outputs_close(o);
    snprintf(sub, sizeof(sub), "%s/made/ForwardedEvents.jsonl", dir);
    mk.event_log_dir = sub;
    o = NULL;
    assert_int_equal(wsmd__outputs_open(&mk, &o), WSM_ERR_IO);
    assert_null(o);
    /* No EventLogDir. */
    struct wsmd_output_cfg cfg = {0};
    assert_int_equal(wsmd__outputs_open(&cfg, &o), WSM_OK);
    assert_int_equal(wsmd__outputs_write(o, WSMD_OUT_JSONL, "ForwardedEvents", &ev, 1, &meta),
                     WSM_ERR_INVALID_ARG);
    wsmd__outputs_close(o);
}

#define WRITERS 4
#define BATCHES 40
#define PER_BATCH 25

struct writer {
    struct wsmd_outputs *o;
    int id;
    int failures;
};

static void *write_worker(void *arg)
{
    struct writer *w = arg;
    /* Events of different sizes, so that a torn write would show. */
    static char big[WRITERS][PER_BATCH][3000];
    struct wsmd_event ev[PER_BATCH];
    for (int b = 0; b < BATCHES; b++) {
        for (int i = 0; i < PER_BATCH; i++) {
            int pad = (w->id * 977 + b * 131 + i * 61) % 2500;
            snprintf(big[w->id][i], sizeof(big[0][0]),
                     "<Event><W>%d</W><B>%d</B><P>%*s</P></Event>", w->id, b, pad, "");
            ev[i] = event(big[w->id][i], (long long)(w->id * 1000000 + b * 1000 + i));
        }
        if (wsmd__outputs_write(w->o, WSMD_OUT_JSONL | WSMD_OUT_XML, "Concurrent", ev, PER_BATCH,
                                &meta) != WSM_OK)
            w->failures++;
    }
    return NULL;
}

static void check_whole_lines(const char *path, const char *start, const char *end)
{
    size_t len;
    char *s = slurp(path, &len);
    assert_non_null(s);
    assert_int_equal(count_char(s, '\n'), WRITERS * BATCHES * PER_BATCH);
    int seen[WRITERS][BATCHES] = {{0}};
    char *save = NULL;
    for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        assert_memory_equal(line, start, strlen(start));
        assert_string_equal(line + strlen(line) - strlen(end), end);
        const char *p = strstr(line, "<W>");
        assert_non_null(p);
        int w = -1, b = -1;
        assert_int_equal(sscanf(p, "<W>%d</W><B>%d</B>", &w, &b), 2);
        assert_true(w >= 0 && w < WRITERS && b >= 0 && b < BATCHES);
        seen[w][b]++;
    }
    for (int w = 0; w < WRITERS; w++)
        for (int b = 0; b < BATCHES; b++)
            assert_int_equal(seen[w][b], PER_BATCH);
    free(s);
}

static void test_concurrent_writers(void **state)
{
    (void)state;
    struct wsmd_outputs *o = open_outputs(NULL);
    pthread_t th[WRITERS];
    struct writer w[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (struct writer){.o = o, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, write_worker, &w[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    wsmd__outputs_close(o);
    char path[128];
    snprintf(path, sizeof(path), "%s/Concurrent.jsonl", dir);
    check_whole_lines(path, "{", "}");
    snprintf(path, sizeof(path), "%s/Concurrent.xml", dir);
    check_whole_lines(path, "<Event>", "</Event>");
}

static void test_reopen(void **state)
{
    (void)state;
    struct wsmd_outputs *o = open_outputs(NULL);
    struct wsmd_event a = event("<Event>before</Event>", 1), b = event("<Event>after</Event>", 2);
    assert_int_equal(wsmd__outputs_write(o, WSMD_OUT_JSONL, "Rot", &a, 1, &meta), WSM_OK);
    char path[128], rotated[128];
    snprintf(path, sizeof(path), "%s/Rot.jsonl", dir);
    snprintf(rotated, sizeof(rotated), "%s/Rot.jsonl.1", dir);
    assert_int_equal(rename(path, rotated), 0);
    /* Before the reopen, writes still go to the renamed file. */
    assert_int_equal(wsmd__outputs_write(o, WSMD_OUT_JSONL, "Rot", &a, 1, &meta), WSM_OK);
    wsmd__outputs_reopen(o);
    assert_int_equal(wsmd__outputs_write(o, WSMD_OUT_JSONL, "Rot", &b, 1, &meta), WSM_OK);
    wsmd__outputs_close(o);
    char *old = slurp(rotated, NULL), *cur = slurp(path, NULL);
    assert_non_null(old);
    assert_non_null(cur);
    assert_int_equal(count_char(old, '\n'), 2);
    assert_null(strstr(old, "after"));
    assert_int_equal(count_char(cur, '\n'), 1);
    assert_non_null(strstr(cur, "after"));
    free(old);
    free(cur);
}

/* A full disk, played by RLIMIT_FSIZE: the batch that does not fit is cut
 * off whole, and the next one starts on a fresh line. */
static void test_truncate_on_error(void **state)
{
    (void)state;
    struct wsmd_outputs *o = open_outputs(NULL);
    struct wsmd_event small = event("<Event>first</Event>", 1);
    assert_int_equal(wsmd__outputs_write(o, WSMD_OUT_JSONL, "Full", &small, 1, &meta), WSM_OK);
    char path[128];
    snprintf(path, sizeof(path), "%s/Full.jsonl", dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    off_t before = sb.st_size;

    static char big[8000];
    memset(big, 'x', sizeof(big) - 1);
    memcpy(big, "<Event>", 7);
    struct wsmd_event ev[4];
    for (int i = 0; i < 4; i++)
        ev[i] = event(big, 10 + i);
    struct rlimit saved, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    lim = saved;
    lim.rlim_cur = (rlim_t)before + 10000; /* room for one event and a bit */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    enum wsm_err rc = wsmd__outputs_write(o, WSMD_OUT_JSONL, "Full", ev, 4, &meta);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    assert_int_equal(rc, WSM_ERR_IO);
    assert_int_equal(sb.st_size, before);

    struct wsmd_event last = event("<Event>third</Event>", 3);
    assert_int_equal(wsmd__outputs_write(o, WSMD_OUT_JSONL, "Full", &last, 1, &meta), WSM_OK);
    wsmd__outputs_close(o);
    char *s = slurp(path, NULL);
    assert_int_equal(count_char(s, '\n'), 2);
    assert_non_null(strstr(s, "first"));
    assert_non_null(strstr(s, "third"));
    assert_null(strstr(s, "xxxx"));
    free(s);
}

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
        cmocka_unit_test_setup_teardown(test_jsonl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xml_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_on_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syslog_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syslog_bad_targets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syslog_tcp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syslog_datagram, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
