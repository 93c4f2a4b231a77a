#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

void wsmd__log(const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    int n = snprintf(line, sizeof(line), "wsmd: ");
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    /* One write per line, so that lines from several threads never mix. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
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
