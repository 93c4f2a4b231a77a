/* Unit tests for the collector's file outputs (src/collector/output.c):
 * JSON lines, XML lines in canonical form, refused names, concurrent
 * writers, reopening, a full disk. Syslog is in test_output_syslog.c. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_jsonl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xml_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_on_error, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
