/* subscribe: a WS-Eventing subscriber (Pull mode) with libwsm.
 *
 *   WSM_PASSWORD=secret subscribe URL USER QUERYLIST [COUNT [BOOKMARK_FILE]]
 *
 * for instance, the errors programs write to a Linux host's journal:
 *
 *   WSM_PASSWORD=secret subscribe http://127.0.0.1:5985 alice \
 *       '<QueryList><Query Id="0"><Select
 * Path="Application">*[System[Level=2]]</Select></Query></QueryList>' 10
 *
 * subscribes to the event log resource, prints the subscription's
 * identifier and status, pulls until COUNT events (0: until interrupted)
 * were printed, one line of XML each, renews once on the way and
 * unsubscribes at the end. With BOOKMARK_FILE it resumes after the
 * bookmark saved there and saves the last one it receives.
 *
 * Only the public header is used: build it with
 *   cc subscribe.c -lwsm
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsm/wsm.h>

#define EVENTLOG "http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog"

struct seen {
    unsigned long n;
    const char *bookmark_file;
};

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = calloc(1, 65536);
    size_t n = buf ? fread(buf, 1, 65535, f) : 0;
    fclose(f);
    if (buf && !n) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Each event; the bookmark comes with the last one of a reply: it is
 * saved once the event was printed, so a crash never skips one. */
static int on_event(void *ud, const char *event_xml, const char *bookmark)
{
    struct seen *seen = ud;
    printf("%s\n", event_xml);
    fflush(stdout);
    seen->n++;
    if (bookmark && seen->bookmark_file) {
        FILE *f = fopen(seen->bookmark_file, "w");
        if (f) {
            fputs(bookmark, f);
            fclose(f);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 6) {
        fprintf(stderr, "usage: WSM_PASSWORD=... %s URL USER QUERYLIST [COUNT [BOOKMARK_FILE]]\n",
                argv[0]);
        return 2;
    }
    const char *password = getenv("WSM_PASSWORD");
    if (!password) {
        fprintf(stderr, "%s: set WSM_PASSWORD\n", argv[0]);
        return 2;
    }
    unsigned long count = argc > 4 ? strtoul(argv[4], NULL, 10) : 0;
    struct seen seen = {0, argc > 5 ? argv[5] : NULL};

    struct wsm_session_opts so = {
        .url = argv[1], .user = argv[2], .password = password, .auth = WSM_AUTH_BASIC};
    wsm_session *s = NULL;
    enum wsm_err e = wsm_session_new(&so, &s);
    if (e) {
        fprintf(stderr, "%s: %s\n", argv[0], wsm_strerror(e));
        return 1;
    }

    /* Pull mode, one hour, a bookmark with every reply. */
    char *bookmark = seen.bookmark_file ? read_file(seen.bookmark_file) : NULL;
    struct wsm_subscribe_opts o = {
        .filter = argv[3], .expires_ms = 3600 * 1000L, .send_bookmarks = 1, .bookmark = bookmark};
    wsm_subscription *sub = NULL;
    e = wsm_subscribe(s, EVENTLOG, &o, &sub);
    free(bookmark);
    if (e) {
        /* A fault has its own code (a bad filter: WSM_ERR_CANNOT_PROCESS_FILTER)
         * and its text in wsm_session_error(). */
        fprintf(stderr, "%s: %s (%s)\n", argv[0], wsm_session_error(s), wsm_strerror(e));
        wsm_session_free(s);
        return 1;
    }
    long long left = 0;
    if (wsm_subscription_status(sub, &left) == WSM_OK)
        fprintf(stderr, "subscription %s, %lld ms left\n", wsm_subscription_id(sub), left);

    int renewed = 0, rc = 0;
    while (count == 0 || seen.n < count) {
        size_t got = 0;
        /* Waits up to 5 s for the first event; none is not an error. */
        e = wsm_subscription_pull(sub, count ? (unsigned)(count - seen.n) : 0, 5000, on_event,
                                  &seen, &got);
        if (e) {
            fprintf(stderr, "%s: %s (%s)\n", argv[0], wsm_session_error(s), wsm_strerror(e));
            rc = 1;
            break;
        }
        if (!renewed && got) {
            /* A subscriber that runs for long renews before the expiry. */
            e = wsm_subscription_renew(sub, 7200 * 1000L);
            fprintf(stderr, "renew: %s\n", e ? wsm_session_error(s) : "ok");
            renewed = 1;
        }
    }
    e = wsm_unsubscribe(sub);
    fprintf(stderr, "unsubscribe: %s\n", e ? wsm_session_error(s) : "ok");
    if (!e) {
        /* The service no longer knows it: each call says so with its own
         * code (the library refuses the Pull itself: the context is gone). */
        if (wsm_subscription_pull(sub, 1, 1000, on_event, &seen, NULL) ==
            WSM_ERR_INVALID_SUBSCRIPTION)
            fprintf(stderr, "pull after unsubscribe: refused\n");
        e = wsm_subscription_renew(sub, 60000);
        fprintf(stderr, "renew after unsubscribe: %s (%s)\n", wsm_session_error(s),
                wsm_strerror(e));
        e = wsm_subscription_status(sub, &left);
        fprintf(stderr, "status after unsubscribe: %s (%s)\n", wsm_session_error(s),
                wsm_strerror(e));
    }
    fprintf(stderr, "%lu event(s)\n", seen.n);
    wsm_subscription_free(sub);
    wsm_session_free(s);
    return rc;
}
