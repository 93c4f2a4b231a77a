/* bench/events' subscriber: an HTTP server on 127.0.0.1 that answers every
 * WS-Management message (Events batches, heartbeats) with an Ack whose
 * RelatesTo is its MessageID, and notes, for each event whose message is
 * "evb SEQ NS" (bench/events_writer's), the time it arrived minus NS: the
 * write-to-receipt latency. Python's http.server spent more CPU than wsmd
 * itself on the same batches, on the same 2 cores.
 *
 * Prints "port=P" on stdout, then answers commands on stdin, one a line:
 *   count LO HI   events with LO <= SEQ < HI received (each once)
 *   lat LO HI     "n= p50_ms= p99_ms= max_ms=" over those
 *   stats         "total= batches= first_ns= last_ns=" (total: every event
 *                 received, duplicates and every subscription included)
 * A thread per connection (1,000 subscriptions are 1,000 connections). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXSEQ (8 * 1024 * 1024)

static int64_t *lat; /* per SEQ: latency in ns + 1; 0: not received */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long total, batches;
static long long first_ns, last_ns;

static long long now_ns(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void note(const char *b, size_t n, long long t)
{
    static const char key[] = "evb ";
    unsigned long long got = 0;
    const char *p = b, *end = b + n;
    pthread_mutex_lock(&mu);
    while ((p = memmem(p, (size_t)(end - p), key, 4))) {
        p += 4;
        char *q;
        unsigned long long seq = strtoull(p, &q, 10);
        if (q == p || *q != ' ')
            continue;
        long long w = strtoll(q + 1, &q, 10);
        got++;
        if (seq < MAXSEQ && !lat[seq])
            lat[seq] = t - w + 1;
        p = q;
    }
    total += got;
    if (got) {
        batches++;
        if (!first_ns)
            first_ns = now_ns(CLOCK_MONOTONIC);
        last_ns = now_ns(CLOCK_MONOTONIC);
    }
    pthread_mutex_unlock(&mu);
}

static void *conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        char *eoh;
        while (!(eoh = len ? memmem(buf, len, "\r\n\r\n", 4) : NULL)) {
            if (len == cap)
                goto out;
            ssize_t r = read(fd, buf + len, cap - len);
            if (r <= 0)
                goto out;
            len += (size_t)r;
        }
        size_t hl = (size_t)(eoh + 4 - buf), cl = 0;
        *eoh = '\0';
        for (char *h = buf; (h = strcasestr(h, "\r\ncontent-length:"));) {
            cl = strtoul(h + 17, NULL, 10);
            break;
        }
        if (hl + cl > cap) {
            cap = hl + cl;
            char *nb = realloc(buf, cap);
            if (!nb)
                goto out;
            buf = nb;
        }
        while (len < hl + cl) {
            ssize_t r = read(fd, buf + len, hl + cl - len);
            if (r <= 0)
                goto out;
            len += (size_t)r;
        }
        long long t = now_ns(CLOCK_REALTIME);
        char *body = buf + hl;
        note(body, cl, t);
        char mid[128] = "";
        char *m = memmem(body, cl, "<a:MessageID>", 13);
        if (m) {
            m += 13;
            char *e = memchr(m, '<', (size_t)(body + cl - m));
            if (e && e - m < (long)sizeof(mid))
                memcpy(mid, m, (size_t)(e - m)), mid[e - m] = '\0';
        }
        char ack[1024];
        int al = snprintf(ack, sizeof(ack),
                          "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
                          "xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\">"
                          "<s:Header><a:Action>http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack"
                          "</a:Action><a:MessageID>uuid:%016llx</a:MessageID><a:RelatesTo>%s"
                          "</a:RelatesTo></s:Header><s:Body/></s:Envelope>",
                          (unsigned long long)t, mid);
        char resp[1200];
        int rl = snprintf(resp, sizeof(resp),
                          "HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml;charset=UTF-8"
                          "\r\nContent-Length: %d\r\n\r\n%s",
                          al, ack);
        if (write(fd, resp, (size_t)rl) != rl)
            goto out;
        memmove(buf, buf + hl + cl, len - hl - cl);
        len -= hl + cl;
    }
out:
    free(buf);
    close(fd);
    return NULL;
}

static void *acceptor(void *arg)
{
    int ls = (int)(intptr_t)arg;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 256 * 1024);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        pthread_t t;
        if (pthread_create(&t, &a, conn, (void *)(intptr_t)fd) != 0)
            close(fd);
    }
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    lat = calloc(MAXSEQ, sizeof(*lat));
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    if (!lat || ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(ls, 4096) < 0 || getsockname(ls, (struct sockaddr *)&sa, &sl) < 0) {
        perror("events_sink");
        return 1;
    }
    pthread_t t;
    pthread_create(&t, NULL, acceptor, (void *)(intptr_t)ls);
    printf("port=%d\n", ntohs(sa.sin_port));
    fflush(stdout);
    char line[256];
    while (fgets(line, sizeof(line), stdin)) {
        unsigned long lo = 0, hi = 0;
        if (sscanf(line, "count %lu %lu", &lo, &hi) == 2 ||
            sscanf(line, "lat %lu %lu", &lo, &hi) == 2) {
            if (hi > MAXSEQ)
                hi = MAXSEQ;
            size_t n = 0;
            int64_t *v = line[0] == 'l' && hi > lo ? malloc((hi - lo) * sizeof(*v)) : NULL;
            pthread_mutex_lock(&mu);
            for (unsigned long s = lo; s < hi; s++)
                if (lat[s]) {
                    if (v)
                        v[n] = lat[s] - 1;
                    n++;
                }
            pthread_mutex_unlock(&mu);
            if (line[0] == 'c') {
                printf("%zu\n", n);
            } else if (!v || !n) {
                printf("n=0 p50_ms=0 p99_ms=0 max_ms=0\n");
            } else {
                qsort(v, n, sizeof(*v), cmp);
                size_t i99 = n * 99 / 100 < n ? n * 99 / 100 : n - 1;
                printf("n=%zu p50_ms=%.1f p99_ms=%.1f max_ms=%.1f\n", n, v[n / 2] / 1e6,
                       v[i99] / 1e6, v[n - 1] / 1e6);
            }
            free(v);
        } else if (!strncmp(line, "stats", 5)) {
            pthread_mutex_lock(&mu);
            printf("total=%llu batches=%llu first_ns=%lld last_ns=%lld\n", total, batches, first_ns,
                   last_ns);
            pthread_mutex_unlock(&mu);
        } else {
            printf("?\n");
        }
        fflush(stdout);
    }
    return 0;
}
