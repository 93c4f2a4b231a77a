/* Binding a listener's socket, with an error that names the address: what
 * an administrator needs when the port is taken is which one. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server.h"

static const char *why_text(int err)
{
    switch (err) {
    case EADDRINUSE:
        return "address in use";
    case EACCES:
        return "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)";
    case EADDRNOTAVAIL:
        return "no such address on this machine";
    default:
        return strerror(err);
    }
}

int wsmd__bind_listener(struct wsmd_listener *l, char *why, size_t whylen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof(ss));
    int v6 = strchr(l->host, ':') != NULL;
    int err = EINVAL;
    if (v6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((unsigned short)l->port);
        if (inet_pton(AF_INET6, l->host, &s6->sin6_addr) != 1)
            goto fail;
        len = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((unsigned short)l->port);
        if (inet_pton(AF_INET, l->host, &s4->sin_addr) != 1)
            goto fail;
        len = sizeof(*s4);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err = errno;
        goto fail;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (v6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, SOMAXCONN) < 0) {
        err = errno;
        close(fd);
        goto fail;
    }
    len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        l->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    l->lfd = fd;
    l->has_lfd = 1;
    return 0;
fail:
    snprintf(why, whylen, "cannot listen on %s%s%s:%d: %s", v6 ? "[" : "", l->host, v6 ? "]" : "",
             l->port, why_text(err));
    errno = err;
    return -1;
}
