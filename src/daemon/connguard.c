/* The connection guard (connguard.h, docs/internals/connections.md).
 *
 * One table of open connections keyed by libmicrohttpd's connection
 * pointer, one of client addresses (IPv4 addresses; IPv6 /64 prefixes,
 * which one host usually owns whole), one lock for both. The reaper wakes
 * a few times a second, shuts down connections past their deadline and
 * writes the per-address summaries (never one line per refused or reaped
 * connection: a flood would become a log flood).
 *
 * fd reuse: the reaper calls shutdown(fd) only under the lock, and only
 * for a connection still in the table. libmicrohttpd removes a connection
 * (NOTIFY_CLOSED, wsmd__connguard_close, which takes the lock) before it
 * closes the socket, so an fd the reaper touches is always the
 * connection's own. */
#include "connguard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define ADDR_BUCKETS 1024
/* Summaries of one address at most this often. */
#define LOG_EVERY_MS 10000
/* Eviction starts when a listener holds this share (/10) of its limit. */
#define EVICT_AT_TENTHS 9
/* Connections of one address in all, authenticated ones included: a
 * client with credentials may keep many sessions (one keep-alive
 * connection each); one without may hold MaxConnectionsPerAddress. */
#define TOTAL_PER_ADDRESS_FACTOR 8

struct gaddr {
    unsigned char key[16];
    unsigned count;  /* open connections */
    unsigned authed; /* of which a request was authenticated on */
    /* since the last summary */
    unsigned long refused, timed_out, evicted;
    long long last_log_ms;
    struct gaddr *next;
};

struct gconn {
    const void *conn;
    int fd;
    unsigned listener;
    struct gaddr *addr;
    long long opened_ms, phase_ms;
    enum wsmd_conn_phase phase;
    int authed;
    int doomed;                /* shut down: waiting for libmicrohttpd to close it */
    struct gconn *hnext;       /* hash chain */
    struct gconn *prev, *next; /* all connections, oldest first */
};

struct wsmd_connguard {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t reaper;
    int running, stop;
    unsigned per_address;
    long header_ms, body_ms;
    unsigned max_connections; /* per listener */
    unsigned open[WSMD_MAX_LISTENERS];
    size_t nbuckets; /* power of two */
    struct gconn **buckets;
    struct gconn *head, *tail;
    struct gaddr *addrs[ADDR_BUCKETS];
};

static int over_limit(const struct wsmd_connguard *g, const struct gaddr *a, unsigned extra)
{
    return a->count + extra - a->authed > g->per_address ||
           a->count + extra > g->per_address * TOTAL_PER_ADDRESS_FACTOR;
}

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- sizing ---------------------------------------------------------- */

void wsmd__connguard_size(struct wsmd_config *cfg)
{
    struct rlimit rl;
    unsigned long nofile = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t want = rl.rlim_max;
        if (want == RLIM_INFINITY || want > (1u << 20))
            want = 1u << 20;
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
            rlim_t old = rl.rlim_cur;
            rl.rlim_cur = want;
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
                rl.rlim_cur = old;
        }
        nofile = rl.rlim_cur == RLIM_INFINITY ? (1u << 20) : (unsigned long)rl.rlim_cur;
    }
    if (!cfg->max_connections) {
        /* Half the descriptors for connections, the rest for shells,
         * processes, files; libmicrohttpd applies the limit per listener. */
        unsigned long n = nofile / 2 / (cfg->nlisteners ? cfg->nlisteners : 1);
        cfg->max_connections = (unsigned)(n < 64 ? 64 : n > 16384 ? 16384 : n);
    }
    if (!cfg->max_conn_per_addr)
        cfg->max_conn_per_addr = WSMD_DEFAULT_PER_ADDRESS;
    if (!cfg->header_timeout_ms)
        cfg->header_timeout_ms = WSMD_DEFAULT_HEADER_TIMEOUT_MS;
    if (!cfg->body_timeout_ms)
        cfg->body_timeout_ms = WSMD_DEFAULT_BODY_TIMEOUT_MS;
    if (!cfg->max_anon_envelope)
        cfg->max_anon_envelope = WSMD_DEFAULT_ANON_ENVELOPE;
    if (cfg->max_anon_envelope > cfg->max_envelope)
        cfg->max_anon_envelope = cfg->max_envelope;
    wsmd__log("event=limits nofile=%lu max_connections=%u per_address=%u header_timeout_ms=%ld "
              "body_timeout_ms=%ld anonymous_envelope=%zu",
              nofile, cfg->max_connections, cfg->max_conn_per_addr, cfg->header_timeout_ms,
              cfg->body_timeout_ms, cfg->max_anon_envelope);
}

/* ---- addresses ------------------------------------------------------- */

/* The key an address is counted under: IPv4 (also IPv4-mapped IPv6) as
 * ::ffff:a.b.c.d, IPv6 by its /64. 0 for other families. */
static int addr_key(const struct sockaddr *sa, socklen_t len, unsigned char key[16])
{
    memset(key, 0, 16);
    if (sa && sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 1;
    }
    if (sa && sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const unsigned char *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        memcpy(key, a, memcmp(a, mapped, 12) == 0 ? 16 : 8);
        return 1;
    }
    return 0;
}

static void key_text(const unsigned char key[16], char *out, size_t n)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(key, mapped, 12) == 0) {
        inet_ntop(AF_INET, key + 12, out, (socklen_t)n);
        return;
    }
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, key, ip, sizeof(ip));
    snprintf(out, n, "%s/64", ip);
}

static size_t addr_hash(const unsigned char key[16])
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 16777619u;
    return h & (ADDR_BUCKETS - 1);
}

static struct gaddr *addr_find(struct wsmd_connguard *g, const unsigned char key[16], int make)
{
    size_t b = addr_hash(key);
    for (struct gaddr *a = g->addrs[b]; a; a = a->next)
        if (!memcmp(a->key, key, 16))
            return a;
    if (!make)
        return NULL;
    struct gaddr *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    memcpy(a->key, key, 16);
    a->next = g->addrs[b];
    g->addrs[b] = a;
    return a;
}

/* Writes the summary of an address with news and drops entries no longer
 * used. Under the lock. */
static void addrs_sweep(struct wsmd_connguard *g, long long now)
{
    for (size_t b = 0; b < ADDR_BUCKETS; b++) {
        struct gaddr **pp = &g->addrs[b];
        while (*pp) {
            struct gaddr *a = *pp;
            int news = a->refused || a->timed_out || a->evicted;
            if (news && now - a->last_log_ms >= LOG_EVERY_MS) {
                char ip[INET6_ADDRSTRLEN + 4];
                key_text(a->key, ip, sizeof(ip));
                wsmd__log("event=connection-limit peer=%s open=%u refused=%lu timed_out=%lu "
                          "evicted=%lu per_address=%u",
                          ip, a->count, a->refused, a->timed_out, a->evicted, g->per_address);
                a->refused = a->timed_out = a->evicted = 0;
                a->last_log_ms = now;
                news = 0;
            }
            /* Kept a while after its last summary, so that the next one
             * still waits LOG_EVERY_MS. */
            if (!a->count && !news && now - a->last_log_ms >= LOG_EVERY_MS) {
                *pp = a->next;
                free(a);
            } else {
                pp = &a->next;
            }
        }
    }
}

/* ---- connections ----------------------------------------------------- */

static size_t conn_hash(const struct wsmd_connguard *g, const void *conn)
{
    uintptr_t p = (uintptr_t)conn;
    p ^= p >> 17;
    p *= 0x9E3779B97F4A7C15ULL;
    return (size_t)(p >> 20) & (g->nbuckets - 1);
}

static struct gconn *conn_find(struct wsmd_connguard *g, const void *conn)
{
    for (struct gconn *e = g->buckets[conn_hash(g, conn)]; e; e = e->hnext)
        if (e->conn == conn)
            return e;
    return NULL;
}

static void doom(struct gconn *e)
{
    if (e->doomed)
        return;
    e->doomed = 1;
    /* libmicrohttpd sees the end of the stream (or an error on its next
     * send) and closes the connection from its own thread. */
    shutdown(e->fd, SHUT_RDWR);
}

/* The deadline of e, or 0 when it has none. */
static long long deadline_of(const struct wsmd_connguard *g, const struct gconn *e)
{
    switch (e->phase) {
    case WSMD_CONN_WAIT_HEADERS:
        /* A client we know may idle between requests; the header deadline
         * still follows, so that trickling its next request does not hold
         * the connection either. */
        return e->phase_ms + g->header_ms + (e->authed ? WSMD_IDLE_TIMEOUT_MS : 0);
    case WSMD_CONN_BODY:
    case WSMD_CONN_REPLY:
        return e->phase_ms + g->body_ms;
    case WSMD_CONN_HANDLING:
        break;
    }
    return 0;
}

/* Near the listener's limit, the oldest connection that never
 * authenticated and is waiting for request headers makes room. */
static void evict_one(struct wsmd_connguard *g, unsigned listener)
{
    for (struct gconn *e = g->head; e; e = e->next) {
        if (e->listener == listener && !e->authed && !e->doomed &&
            e->phase == WSMD_CONN_WAIT_HEADERS) {
            if (e->addr)
                e->addr->evicted++;
            doom(e);
            return;
        }
    }
}

int wsmd__connguard_admit(struct wsmd_connguard *g, const struct sockaddr *sa, socklen_t len)
{
    unsigned char key[16];
    if (!g || !addr_key(sa, len, key))
        return 1;
    pthread_mutex_lock(&g->lock);
    struct gaddr *a = addr_find(g, key, 0);
    int ok = !a || !over_limit(g, a, 1);
    if (!ok)
        a->refused++;
    pthread_mutex_unlock(&g->lock);
    return ok;
}

void wsmd__connguard_open(struct wsmd_connguard *g, const void *conn, int fd,
                          const struct sockaddr *sa, unsigned listener)
{
    if (!g || listener >= WSMD_MAX_LISTENERS)
        return;
    struct gconn *e = calloc(1, sizeof(*e));
    if (!e) {
        shutdown(fd, SHUT_RDWR); /* an untracked connection would escape every limit */
        return;
    }
    unsigned char key[16];
    int keyed = addr_key(
        sa,
        sa ? (sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in))
           : 0,
        key);
    e->conn = conn;
    e->fd = fd;
    e->listener = listener;
    e->opened_ms = e->phase_ms = now_ms();
    e->phase = WSMD_CONN_WAIT_HEADERS;
    pthread_mutex_lock(&g->lock);
    size_t b = conn_hash(g, conn);
    e->hnext = g->buckets[b];
    g->buckets[b] = e;
    e->prev = g->tail;
    if (g->tail)
        g->tail->next = e;
    else
        g->head = e;
    g->tail = e;
    g->open[listener]++;
    e->addr = keyed ? addr_find(g, key, 1) : NULL;
    if (keyed && !e->addr) {
        doom(e);
    } else if (e->addr && (++e->addr->count, over_limit(g, e->addr, 0))) {
        /* Several workers accept at once: the policy check above may let
         * a few more through; this is the exact count. */
        e->addr->refused++;
        doom(e);
    } else if ((unsigned long)g->open[listener] * 10 >=
               (unsigned long)g->max_connections * EVICT_AT_TENTHS) {
        evict_one(g, listener);
    }
    pthread_mutex_unlock(&g->lock);
}

void wsmd__connguard_close(struct wsmd_connguard *g, const void *conn)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    struct gconn **pp = &g->buckets[conn_hash(g, conn)];
    while (*pp && (*pp)->conn != conn)
        pp = &(*pp)->hnext;
    struct gconn *e = *pp;
    if (e) {
        *pp = e->hnext;
        if (e->prev)
            e->prev->next = e->next;
        else
            g->head = e->next;
        if (e->next)
            e->next->prev = e->prev;
        else
            g->tail = e->prev;
        g->open[e->listener]--;
        if (e->addr) {
            e->addr->count--;
            e->addr->authed -= e->authed;
        }
    }
    pthread_mutex_unlock(&g->lock);
    free(e);
}

void wsmd__connguard_phase(struct wsmd_connguard *g, const void *conn, enum wsmd_conn_phase ph)
{
    if (!g)
        return;
    long long t = now_ms();
    pthread_mutex_lock(&g->lock);
    struct gconn *e = conn_find(g, conn);
    if (e && e->phase != ph) {
        e->phase = ph;
        e->phase_ms = t;
    }
    pthread_mutex_unlock(&g->lock);
}

void wsmd__connguard_authed(struct wsmd_connguard *g, const void *conn)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    struct gconn *e = conn_find(g, conn);
    if (e && !e->authed) {
        e->authed = 1;
        if (e->addr)
            e->addr->authed++;
    }
    pthread_mutex_unlock(&g->lock);
}

/* ---- the reaper ------------------------------------------------------ */

static void *reaper_main(void *arg)
{
    struct wsmd_connguard *g = arg;
    /* A few times per shortest deadline: a deadline is kept to within a
     * quarter of it (at most 250 ms late). */
    long tick = g->header_ms < g->body_ms ? g->header_ms : g->body_ms;
    tick /= 4;
    if (tick > 250)
        tick = 250;
    if (tick < 10)
        tick = 10;
    pthread_mutex_lock(&g->lock);
    while (!g->stop) {
        long long now = now_ms();
        for (struct gconn *e = g->head; e; e = e->next) {
            long long d = deadline_of(g, e);
            if (e->doomed || !d || now < d)
                continue;
            if (e->addr)
                e->addr->timed_out++;
            doom(e);
        }
        addrs_sweep(g, now);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += tick * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&g->cond, &g->lock, &ts);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

enum wsm_err wsmd__connguard_new(const struct wsmd_config *cfg, struct wsmd_connguard **out)
{
    struct wsmd_connguard *g = calloc(1, sizeof(*g));
    if (!g)
        return WSM_ERR_NOMEM;
    g->per_address = cfg->max_conn_per_addr ? cfg->max_conn_per_addr : WSMD_DEFAULT_PER_ADDRESS;
    g->header_ms = cfg->header_timeout_ms ? cfg->header_timeout_ms : WSMD_DEFAULT_HEADER_TIMEOUT_MS;
    g->body_ms = cfg->body_timeout_ms ? cfg->body_timeout_ms : WSMD_DEFAULT_BODY_TIMEOUT_MS;
    g->max_connections = cfg->max_connections ? cfg->max_connections : 300;
    size_t total = (size_t)g->max_connections * (cfg->nlisteners ? cfg->nlisteners : 1);
    g->nbuckets = 256;
    while (g->nbuckets < total && g->nbuckets < 65536)
        g->nbuckets <<= 1;
    g->buckets = calloc(g->nbuckets, sizeof(*g->buckets));
    if (!g->buckets) {
        free(g);
        return WSM_ERR_NOMEM;
    }
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    if (pthread_create(&g->reaper, NULL, reaper_main, g) != 0) {
        wsmd__connguard_free(g);
        return WSM_ERR_NOMEM;
    }
    g->running = 1;
    *out = g;
    return WSM_OK;
}

void wsmd__connguard_free(struct wsmd_connguard *g)
{
    if (!g)
        return;
    if (g->running) {
        pthread_mutex_lock(&g->lock);
        g->stop = 1;
        pthread_cond_signal(&g->cond);
        pthread_mutex_unlock(&g->lock);
        pthread_join(g->reaper, NULL);
    }
    /* The listeners are stopped: every connection was closed (and
     * forgotten) already; whatever is left is freed. */
    for (struct gconn *e = g->head, *n; e; e = n) {
        n = e->next;
        free(e);
    }
    for (size_t b = 0; b < ADDR_BUCKETS; b++)
        for (struct gaddr *a = g->addrs[b], *n; a; a = n) {
            n = a->next;
            free(a);
        }
    free(g->buckets);
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->lock);
    free(g);
}
