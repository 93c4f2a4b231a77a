/* The daemon's log: one line per event, key=value.
 *
 * Under systemd (JOURNAL_STREAM names our stderr) lines go to journald with
 * a PRIORITY= through sd_journal_send, loaded at run time like the D-Bus
 * calls of sdbus_dl.c, so that wsmd neither links libsystemd nor needs it;
 * otherwise, or when the journal refuses a line, to stderr (the tests read
 * it). LogLevel drops lines below a priority. */
#include "log.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

static volatile int level = WSMD_LOG_INFO;

static int (*journal_send)(const char *format, ...);
static pthread_once_t journal_once = PTHREAD_ONCE_INIT;

/* systemd sets JOURNAL_STREAM=DEV:INODE for the stream it connected to
 * stderr; a child whose stderr was redirected keeps the variable, so the
 * descriptor is compared, not just the variable's presence. */
static void journal_load(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) != 0 ||
        (unsigned long long)st.st_dev != dev || (unsigned long long)st.st_ino != ino)
        return;
    void *h = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return;
    *(void **)&journal_send = dlsym(h, "sd_journal_send");
}

int wsmd__log_level_parse(const char *w)
{
    if (!strcasecmp(w, "error"))
        return WSMD_LOG_ERR;
    if (!strcasecmp(w, "warning"))
        return WSMD_LOG_NOTICE;
    if (!strcasecmp(w, "info"))
        return WSMD_LOG_INFO;
    if (!strcasecmp(w, "debug"))
        return WSMD_LOG_DEBUG;
    return -1;
}

void wsmd__log_set_level(int prio)
{
    level = prio;
}

int wsmd__log_enabled(int prio)
{
    return prio <= level;
}

/* The event name decides: "...error..." is an error; failures, holds and
 * refusals are warnings; "notice" is one; a request answered 500 is an
 * error; everything else (requests, starts, stops) is information. */
int wsmd__log_prio_of(const char *line)
{
    const char *ev = strstr(line, "event=");
    if (ev) {
        ev += 6;
        size_t n = strcspn(ev, " ");
        char name[48];
        if (n >= sizeof(name))
            n = sizeof(name) - 1;
        memcpy(name, ev, n);
        name[n] = '\0';
        if (strstr(name, "error") || !strcmp(name, "fatal"))
            return WSMD_LOG_ERR;
        if (strstr(name, "fail") || strstr(name, "throttle") || strstr(name, "refused") ||
            strstr(name, "denied") || strstr(name, "warning") || !strcmp(name, "bad-framing"))
            return WSMD_LOG_WARNING;
        if (!strcmp(name, "notice"))
            return WSMD_LOG_NOTICE;
        return WSMD_LOG_INFO;
    }
    if (!strncmp(line, "listening on ", 13) || !strncmp(line, "metrics on ", 11))
        return WSMD_LOG_NOTICE; /* what an operator looks for first */
    if (!strncmp(line, "peer=", 5) && strstr(line, " status=500"))
        return WSMD_LOG_ERR;
    return WSMD_LOG_INFO;
}

static void emit(int prio, const char *msg)
{
    pthread_once(&journal_once, journal_load);
    if (journal_send &&
        journal_send("MESSAGE=%s", msg, "PRIORITY=%d", prio, "SYSLOG_IDENTIFIER=wsmd", NULL) >= 0)
        return;
    char line[2100];
    int n = snprintf(line, sizeof(line), "wsmd: %s\n", msg);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    line[len - 1] = '\n';
    /* One write per line, so that lines from several threads never mix. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

static void vlog(int prio, const char *fmt, va_list ap)
{
    char msg[2040];
    if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
        return;
    if (prio < 0)
        prio = wsmd__log_prio_of(msg);
    if (prio <= level)
        emit(prio, msg);
}

void wsmd__log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(-1, fmt, ap);
    va_end(ap);
}

void wsmd__logp(int prio, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(prio, fmt, ap);
    va_end(ap);
}

void wsmd__log_limited(struct wsmd_lograte *lr, unsigned per_sec, const char *fmt, ...)
{
    time_t now = time(NULL);
    pthread_mutex_lock(&lr->lock);
    if (now != lr->second) {
        lr->second = now;
        lr->lines = 0;
    }
    int keep = lr->lines < per_sec;
    unsigned dropped = keep ? lr->dropped : 0;
    if (keep) {
        lr->lines++;
        lr->dropped = 0;
    } else {
        lr->dropped++;
    }
    pthread_mutex_unlock(&lr->lock);
    if (!keep)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (dropped)
        wsmd__log("%s dropped=%u", line, dropped);
    else
        wsmd__log("%s", line);
}
