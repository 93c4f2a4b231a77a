/* winrm subscribe: a WS-Eventing subscriber in Pull mode (libwsm's
 * wsm_subscribe), a Linux addition in winrm.cmd's style. Windows has
 * wecutil and Event Viewer for this; a script on Linux wants one command
 * that prints events as they come, as `winrm enumerate` prints instances.
 *
 * Without -follow it prints what matches and stops at the first Pull that
 * waited in vain (or after -count events); with -follow it runs until
 * -count events or SIGINT/SIGTERM, and unsubscribes either way. With
 * -bookmark:FILE it resumes after the bookmark kept in FILE and keeps the
 * last one there (written to FILE.tmp and renamed, after the events it
 * covers were printed, so that a crash repeats events but never loses
 * one).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "winrm_sub.h"

#define MAX_BOOKMARK (64 * 1024)

static volatile sig_atomic_t stop;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
    stop = 1;
    signal(sig, SIG_DFL); /* a second Ctrl-C ends it at once */
}

struct out {
    const struct winrm_sub_args *a;
    size_t index;
    int failed;
};

static int save_bookmark(const char *path, const char *bm)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return -1;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int bad = fputs(bm, f) < 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        remove(tmp);
        return -1;
    }
    return 0;
}

static int on_event(void *ud, const char *xml, const char *bookmark)
{
    struct out *o = ud;
    if (cli_results_item(stdout, xml, o->a->fmt, o->index++) != 0) {
        fprintf(stderr, "winrm: Unable to reformat message. Raw, unformatted, message:\n%s\n", xml);
        o->failed = 1;
    }
    fflush(stdout);
    if (bookmark && o->a->bookmark_file && save_bookmark(o->a->bookmark_file, bookmark) != 0) {
        fprintf(stderr, "winrm: cannot write the bookmark to %s: %s\n", o->a->bookmark_file,
                strerror(errno));
        o->failed = 1;
    }
    return o->a->count && o->index >= o->a->count;
}

/* The bookmark kept in path: NULL (and *err 0) when there is none yet. */
static char *load_bookmark(const char *path, int *err)
{
    *err = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno != ENOENT) {
            fprintf(stderr, "winrm: cannot read %s: %s\n", path, strerror(errno));
            *err = 1;
        }
        return NULL;
    }
    char *buf = malloc(MAX_BOOKMARK + 1);
    size_t n = buf ? fread(buf, 1, MAX_BOOKMARK + 1, f) : 0;
    fclose(f);
    if (!buf || n > MAX_BOOKMARK) {
        fprintf(stderr, "winrm: %s is not a bookmark (over %d bytes)\n", path, MAX_BOOKMARK);
        free(buf);
        *err = 1;
        return NULL;
    }
    buf[n] = '\0';
    if (!buf[strspn(buf, " \t\r\n")]) { /* empty: start as without one */
        free(buf);
        return NULL;
    }
    return buf;
}

/* A bare channel name ("System", "Application") stands for every event of
 * that channel, as Event Viewer's "Filter Current Log" writes it. */
static char *query_of(const char *filter)
{
    const char *f = filter + strspn(filter, " \t\r\n");
    if (*f == '<')
        return strdup(filter);
    if (strpbrk(f, "<>&\"'"))
        return NULL;
    size_t n = strlen(f) + 96;
    char *q = malloc(n);
    if (q)
        snprintf(q, n,
                 "<QueryList><Query Id=\"0\"><Select Path=\"%s\">*</Select></Query></QueryList>",
                 f);
    return q;
}

static int report(const struct winrm_sub_args *a, wsm_session *s, enum wsm_err e)
{
    /* Eventing faults come back as their own codes; winrm prints every
     * fault the same way: its Windows code and text. */
    if (e != WSM_ERR_INVALID_ARG && wsm_session_fault_code(s))
        e = WSM_ERR_FAULT;
    if (e == WSM_ERR_INVALID_ARG) {
        fprintf(stderr, "winrm: %s\n", wsm_session_error(s));
        return 2;
    }
    return a->report(s, e, a->fmt);
}

int winrm_subscribe(wsm_session *s, const struct winrm_sub_args *a)
{
    char *query = query_of(a->filter);
    if (!query) {
        fprintf(stderr, "winrm: -filter: a QueryList or a channel name expected\n");
        return 2;
    }
    int err = 0;
    char *bm = a->bookmark_file ? load_bookmark(a->bookmark_file, &err) : NULL;
    if (err) {
        free(query);
        return 1;
    }
    struct wsm_subscribe_opts o = {
        .filter = query,
        .bookmark = bm,
        .send_bookmarks = a->bookmark_file != NULL,
        .read_existing = a->read_existing && !bm,
        .content_format = a->content_format,
        .max_elements = a->max_elements,
        .max_time_ms = a->wait_ms,
        /* A subscriber that dies leaves nothing behind for long. */
        .expires_ms = 3600 * 1000L,
    };
    wsm_subscription *sub = NULL;
    enum wsm_err e = wsm_subscribe(s, a->uri, &o, &sub);
    free(query);
    free(bm);
    if (e)
        return report(a, s, e);

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct out out = {a, 0, 0};
    int rc = 0;
    cli_results_begin(stdout, a->fmt);
    while (!stop && !(a->count && out.index >= a->count)) {
        size_t got = 0;
        unsigned want = a->max_elements;
        if (a->count && (!want || a->count - out.index < want))
            want = (unsigned)(a->count - out.index);
        e = wsm_subscription_pull(sub, want, 0, on_event, &out, &got);
        if (e && stop) { /* the interrupt cut the Pull short */
            e = WSM_OK;
            break;
        }
        if (e) {
            cli_results_end(stdout, a->fmt);
            rc = report(a, s, e);
            break;
        }
        if (!got && !a->follow)
            break; /* nothing more within the wait */
        /* Keep an hour ahead: renew when ten minutes are left (by the
         * expiry the service last answered). */
        long long ex = wsm_subscription_expires(sub);
        if (a->follow && ex && ex - now_ms() < 600 * 1000LL)
            (void)wsm_subscription_renew(sub, 3600 * 1000L);
    }
    if (!e)
        cli_results_end(stdout, a->fmt);
    if (out.failed && !rc)
        rc = 1;
    /* The session's error text belongs to the error reported above. */
    if (wsm_unsubscribe(sub) != WSM_OK && !rc && !stop)
        rc = report(a, s, WSM_ERR_FAULT);
    wsm_subscription_free(sub);
    return rc;
}
