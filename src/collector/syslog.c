/* The syslog output: RFC 5424 messages over a unix datagram socket, UDP
 * (RFC 5426) or TCP with octet-counting framing (RFC 6587)
 * (docs/internals/collector-store.md has the field mapping). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "output.h"
#include "server.h"

/* RFC 5424's facility: user-level messages. */
#define FACILITY 1
/* The SD-ID is ours; 32473 is the enterprise number set aside for
 * examples and documentation (RFC 5612). */
#define SD_ID "wsmd@32473"
/* A datagram above this is cut (UDP over IPv4 carries at most 65507). */
#define MAX_DGRAM 65000
#define CONNECT_TIMEOUT_MS 5000
#define SEND_TIMEOUT_S 10

enum kind { K_UNIX, K_UDP, K_TCP };

struct wsmd_syslog {
    enum kind kind;
    char *target; /* for the logs */
    char *path;   /* unix */
    char *host, *port;
    char *app;
    pthread_mutex_t mu; /* one batch at a time: a batch's frames stay together */
    int fd;
    struct wsmd_lograte lograte;
};

static enum wsm_err parse_target(struct wsmd_syslog *s, const char *t)
{
    if (strncmp(t, "unix:", 5) == 0) {
        const char *p = t + 5;
        if (p[0] != '/' || strlen(p) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            return WSM_ERR_INVALID_ARG;
        s->kind = K_UNIX;
        return (s->path = strdup(p)) ? WSM_OK : WSM_ERR_NOMEM;
    }
    if (strncmp(t, "udp://", 6) == 0)
        s->kind = K_UDP;
    else if (strncmp(t, "tcp://", 6) == 0)
        s->kind = K_TCP;
    else
        return WSM_ERR_INVALID_ARG;
    const char *h = t + 6, *he, *colon;
    if (*h == '[') {
        he = strchr(h, ']');
        if (!he || he[1] != ':')
            return WSM_ERR_INVALID_ARG;
        h++;
        colon = he + 1;
    } else {
        colon = strrchr(h, ':');
        if (!colon || memchr(h, ':', (size_t)(colon - h)))
            return WSM_ERR_INVALID_ARG;
        he = colon;
    }
    const char *port = colon + 1;
    char *end;
    long pn = strtol(port, &end, 10);
    if (he == h || !*port || *end || pn < 1 || pn > 65535 || strchr(port, '-'))
        return WSM_ERR_INVALID_ARG;
    s->host = strndup(h, (size_t)(he - h));
    s->port = strdup(port);
    return s->host && s->port ? WSM_OK : WSM_ERR_NOMEM;
}

static int connect_timeout(int fd, const struct sockaddr *sa, socklen_t len)
{
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    int r = connect(fd, sa, len);
    if (r != 0 && errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int e = 0;
        socklen_t el = sizeof(e);
        r = poll(&p, 1, CONNECT_TIMEOUT_MS);
        if (r == 0)
            errno = ETIMEDOUT;
        if (r == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0)
            errno = e;
        r = r == 1 && e == 0 ? 0 : -1;
    }
    fcntl(fd, F_SETFL, fl);
    return r;
}

/* With s->mu held. */
static int do_connect(struct wsmd_syslog *s)
{
    if (s->fd >= 0)
        return 0;
    if (s->kind == K_UNIX) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        memcpy(sa.sun_path, s->path, strlen(s->path) + 1);
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        s->fd = fd;
        return 0;
    }
    struct addrinfo hints =
                        {
                            .ai_socktype = s->kind == K_TCP ? SOCK_STREAM : SOCK_DGRAM,
                            .ai_flags = AI_ADDRCONFIG,
                        },
                    *res = NULL;
    int g = getaddrinfo(s->host, s->port, &hints, &res);
    if (g != 0) {
        errno = g == EAI_SYSTEM ? errno : EHOSTUNREACH;
        return -1;
    }
    int fd = -1, e = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        if (connect_timeout(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        errno = e;
        return -1;
    }
    /* A receiver that stops reading must not hold a delivery thread for
     * ever: the batch fails and the source sends it again later. */
    struct timeval tv = {.tv_sec = SEND_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    s->fd = fd;
    return 0;
}

static void drop(struct wsmd_syslog *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

enum wsm_err wsmd__syslog_open(const char *target, const char *app, struct wsmd_syslog **out)
{
    struct wsmd_syslog *s = calloc(1, sizeof(*s));
    if (!s)
        return WSM_ERR_NOMEM;
    s->fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->lograte.lock, NULL);
    enum wsm_err err = parse_target(s, target);
    if (err == WSM_OK && (!(s->target = strdup(target)) || !(s->app = strdup(app))))
        err = WSM_ERR_NOMEM;
    if (err != WSM_OK) {
        if (err == WSM_ERR_INVALID_ARG)
            wsmd__log("event=syslog_target_invalid target=\"%s\"", target);
        wsmd__syslog_close(s);
        return err;
    }
    /* Not fatal: the receiver may start after wsmd; each batch tries again. */
    pthread_mutex_lock(&s->mu);
    if (do_connect(s) != 0)
        wsmd__log("event=syslog_unreachable target=%s error=\"%s\"", s->target, strerror(errno));
    pthread_mutex_unlock(&s->mu);
    *out = s;
    return WSM_OK;
}

void wsmd__syslog_close(struct wsmd_syslog *s)
{
    if (!s)
        return;
    drop(s);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->lograte.lock);
    free(s->target);
    free(s->path);
    free(s->host);
    free(s->port);
    free(s->app);
    free(s);
}

void wsmd__syslog_reset(struct wsmd_syslog *s)
{
    pthread_mutex_lock(&s->mu);
    drop(s);
    pthread_mutex_unlock(&s->mu);
}

/* A header field (HOSTNAME, APP-NAME, MSGID): PRINTUSASCII only, at most
 * max characters, "-" (NILVALUE) when empty. */
static enum wsm_err field(struct wsm_buf *b, const char *v, size_t max)
{
    size_t n = 0;
    enum wsm_err err = WSM_OK;
    for (; err == WSM_OK && v && v[n] && n < max; n++) {
        char c = v[n] > 32 && v[n] < 127 ? v[n] : '_';
        err = wsm__buf_add(b, &c, 1);
    }
    if (err == WSM_OK && n == 0)
        err = wsm__buf_add(b, "-", 1);
    return err == WSM_OK ? wsm__buf_add(b, " ", 1) : err;
}

static int digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* An RFC 3339 time as RFC 5424 wants it (at most 6 fraction digits; Windows
 * writes 7 or 9), or NULL in out[0] when t is not one. */
static void timestamp(const char *t, char *out, size_t outlen)
{
    out[0] = '\0';
    if (!t || strlen(t) < 20 || !digits(t, 4) || t[4] != '-' || !digits(t + 5, 2) || t[7] != '-' ||
        !digits(t + 8, 2) || (t[10] != 'T' && t[10] != 't') || !digits(t + 11, 2) || t[13] != ':' ||
        !digits(t + 14, 2) || t[16] != ':' || !digits(t + 17, 2))
        return;
    const char *p = t + 19, *frac = NULL;
    size_t nfrac = 0;
    if (*p == '.') {
        frac = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        nfrac = (size_t)(p - frac);
        if (nfrac == 0)
            return;
    }
    char zone[8];
    if (*p == 'Z' || *p == 'z') {
        if (p[1])
            return;
        strcpy(zone, "Z");
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && digits(p + 1, 2) && p[3] == ':' &&
               digits(p + 4, 2)) {
        memcpy(zone, p, 7);
    } else {
        return;
    }
    snprintf(out, outlen, "%.10sT%.8s%s%.*s%s", t, t + 11, frac ? "." : "",
             (int)(nfrac > 6 ? 6 : nfrac), frac ? frac : "", zone);
}

/* Windows' Level (0 LogAlways, 1 Critical .. 5 Verbose) as a severity. */
static int severity(const char *level)
{
    static const struct {
        const char *name;
        int sev;
    } names[] = {{"0", 6},       {"1", 2},           {"2", 3},        {"3", 4},
                 {"4", 6},       {"5", 7},           {"Critical", 2}, {"Error", 3},
                 {"Warning", 4}, {"Information", 6}, {"Verbose", 7}};
    for (size_t i = 0; level && i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(level, names[i].name) == 0)
            return names[i].sev;
    return 6;
}

static enum wsm_err param(struct wsm_buf *b, const char *name, const char *v)
{
    if (!v)
        return WSM_OK;
    enum wsm_err err = wsm__buf_printf(b, " %s=\"", name);
    for (const char *p = v; err == WSM_OK && *p; p++) {
        /* RFC 5424 6.3.3: '"', '\' and ']' are escaped in PARAM-VALUE. */
        if (*p == '"' || *p == '\\' || *p == ']')
            err = wsm__buf_add(b, "\\", 1);
        if (err == WSM_OK)
            err = wsm__buf_add(b, p, 1);
    }
    return err == WSM_OK ? wsm__buf_add(b, "\"", 1) : err;
}

enum wsm_err wsmd__syslog_format(struct wsm_buf *out, const char *app, const struct wsmd_event *ev,
                                 const struct wsmd_event_meta *m, const char *msg, size_t msg_len)
{
    char ts[48], num[32];
    timestamp(ev->time_created, ts, sizeof(ts));
    if (!ts[0])
        timestamp(m->received, ts, sizeof(ts));
    enum wsm_err err =
        wsm__buf_printf(out, "<%d>1 %s ", FACILITY * 8 + severity(ev->level), ts[0] ? ts : "-");
    if (err == WSM_OK)
        err = field(out, ev->computer, 255);
    if (err == WSM_OK)
        err = field(out, app, 48);
    if (err == WSM_OK)
        err = field(out, NULL, 128); /* PROCID */
    snprintf(num, sizeof(num), "%lld", ev->event_id);
    if (err == WSM_OK)
        err = field(out, ev->event_id >= 0 ? num : NULL, 32);
    if (err == WSM_OK)
        err = wsm__buf_puts(out, "[" SD_ID);
    snprintf(num, sizeof(num), "%lld", ev->record_id);
    if (err == WSM_OK)
        err = param(out, "subscription", m->subscription);
    if (err == WSM_OK)
        err = param(out, "recordId", ev->record_id >= 0 ? num : NULL);
    if (err == WSM_OK)
        err = param(out, "channel", ev->channel);
    if (err == WSM_OK)
        err = param(out, "provider", ev->provider);
    if (err == WSM_OK)
        err = param(out, "client", m->client);
    if (err == WSM_OK)
        err = wsm__buf_puts(out, "] ");
    if (err == WSM_OK)
        err = wsm__buf_add(out, msg, msg_len);
    return err;
}

static int send_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* A syslog receiver never sends: a readable socket means it has closed (or
 * reset) the connection, which a send would only notice a message late. */
static void check_alive(struct wsmd_syslog *s)
{
    struct pollfd p = {.fd = s->fd, .events = POLLIN | POLLRDHUP};
    if (s->fd >= 0 && poll(&p, 1, 0) == 1) {
        char junk[256];
        ssize_t r = recv(s->fd, junk, sizeof(junk), MSG_DONTWAIT);
        if (r <= 0 || (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
            drop(s);
    }
}

/* Cuts a message to max bytes without splitting a UTF-8 sequence. */
static size_t cut_utf8(const char *p, size_t len, size_t max)
{
    if (len <= max)
        return len;
    while (max > 0 && ((unsigned char)p[max] & 0xC0) == 0x80)
        max--;
    return max;
}

enum wsm_err wsmd__syslog_send(struct wsmd_syslog *s, const struct wsmd_event *ev, size_t n,
                               const struct wsmd_event_meta *m, const char *json, const size_t *off)
{
    struct wsm_buf all, one;
    wsm__buf_init(&all, 0);
    wsm__buf_init(&one, 0);
    enum wsm_err err = WSM_OK;
    int e = 0;
    pthread_mutex_lock(&s->mu);
    if (s->kind == K_TCP) {
        for (size_t i = 0; err == WSM_OK && i < n; i++) {
            wsm__buf_reset(&one);
            err = wsmd__syslog_format(&one, s->app, &ev[i], m, json + off[i],
                                      off[i + 1] - off[i] - 1);
            if (err == WSM_OK)
                err = wsm__buf_printf(&all, "%zu ", one.len);
            if (err == WSM_OK)
                err = wsm__buf_add(&all, one.data, one.len);
        }
        check_alive(s);
        /* Once more on a new connection: the receiver may have restarted.
         * The frames that reached the old one come again (a duplicate). */
        for (int attempt = 0; err == WSM_OK && attempt < 2; attempt++) {
            if (do_connect(s) == 0 && send_all(s->fd, all.data, all.len) == 0)
                break;
            e = errno;
            drop(s);
            if (attempt == 1)
                err = WSM_ERR_IO;
        }
    } else {
        for (size_t i = 0; err == WSM_OK && i < n; i++) {
            wsm__buf_reset(&one);
            err = wsmd__syslog_format(&one, s->app, &ev[i], m, json + off[i],
                                      off[i + 1] - off[i] - 1);
            size_t len = err == WSM_OK ? cut_utf8(one.data, one.len, MAX_DGRAM) : 0;
            for (int attempt = 0; err == WSM_OK && attempt < 2; attempt++) {
                if (do_connect(s) == 0 && send_all(s->fd, one.data, len) == 0)
                    break;
                e = errno;
                drop(s);
                if (attempt == 1)
                    err = WSM_ERR_IO;
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (err == WSM_ERR_IO)
        wsmd__log_limited(&s->lograte, 10, "event=syslog_send_failed target=%s error=\"%s\"",
                          s->target, strerror(e));
    wsm__buf_free(&all);
    wsm__buf_free(&one);
    return err;
}
