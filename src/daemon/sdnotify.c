/* sd_notify(3) without libsystemd: a datagram to $NOTIFY_SOCKET. */
#include "sdnotify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

static int send_text(const char *text, size_t len)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 0;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    size_t plen = strlen(path);
    /* A path, or '@' for the abstract namespace (a leading NUL, and the
     * address length then counts exactly the name's bytes). */
    errno = 0;
    if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sa.sun_path))
        goto bad;
    memcpy(sa.sun_path, path, plen);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    socklen_t salen =
        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + (path[0] == '@' ? 0 : 1));
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        goto bad;
    ssize_t w = sendto(fd, text, len, MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
    int err = errno;
    close(fd);
    if (w == (ssize_t)len)
        return 1;
    errno = err;
bad:;
    /* Once: a unit without Type=notify, or a socket gone, would make
     * every reload write the same line. */
    static int said;
    if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
        wsmd__log("event=notify-error socket=\"%s\" message=\"%s\"", path,
                  errno ? strerror(errno) : "want an absolute path or @name");
    return -1;
}

int wsmd__sd_notify(const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    return send_text(text, (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1);
}

int wsmd__sd_notify_reloading(const char *status)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return wsmd__sd_notify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=%s",
                           (unsigned long long)t.tv_sec * 1000000ULL +
                               (unsigned long long)t.tv_nsec / 1000ULL,
                           status);
}
