#include "throttle.h"

#include <arpa/inet.h>
#include <gnutls/crypto.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "server.h"
#include "uuid.h"

/* The table is set-associative: a keyed hash picks a set of WAYS entries
 * and the key lives in one of them. Keys are HMAC-SHA256(per-process
 * secret, kind, key), so an attacker can neither predict which set a name
 * or address falls in (to crowd out a victim's entry) nor make two keys
 * collide. A full set evicts its least useful entry: one that is neither
 * held nor a trusted pair, the least recently seen first. */
#define WAYS 16
#define NAME_MAX_LOG 64

enum kind { K_FREE = 0, K_ADDR, K_USER, K_PAIR };

struct tentry {
    unsigned char id[16];
    enum kind kind;
    unsigned fails;        /* failures since window_start */
    unsigned strikes;      /* holds in a row: each doubles the next one */
    unsigned long refused; /* attempts refused during the current hold */
    time_t window_start;
    time_t last_fail;
    time_t held_until; /* 0: not held (the end has been logged) */
    time_t last_ok;    /* K_PAIR: the last login of the pair */
    time_t last_seen;
    char name[NAME_MAX_LOG]; /* escaped, for the hold's log lines */
};

struct wsmd_throttle {
    struct wsmd_throttle_cfg cfg;
    unsigned char secret[32];
    size_t nsets;
    time_t (*clock)(void);
    time_t next_sweep;
    size_t holds; /* entries whose held_until is set (the end not logged yet) */
    pthread_mutex_t lock;
    struct tentry *e; /* nsets * WAYS */
    size_t bytes;
};

void wsmd__throttle_set_cfg(struct wsmd_throttle *t, const struct wsmd_throttle_cfg *cfg)
{
    pthread_mutex_lock(&t->lock);
    unsigned trust = t->cfg.trust_sec;
    t->cfg = *cfg;
    if (!t->cfg.window_sec)
        t->cfg.window_sec = WSMD_THROTTLE_WINDOW_SEC;
    if (!t->cfg.lockout_sec)
        t->cfg.lockout_sec = WSMD_THROTTLE_LOCKOUT_SEC;
    if (!t->cfg.trust_sec)
        t->cfg.trust_sec = trust;
    pthread_mutex_unlock(&t->lock);
}

static time_t wall(void)
{
    return time(NULL);
}

void wsmd__log_pct(char *dst, size_t n, const char *s, int text)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    if (!n)
        return;
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
        int plain = *p != '"' && *p != '\\' && *p != '%' &&
                    (text ? *p >= 0x20 && *p != 0x7f : *p > 0x20 && *p < 0x7f && *p != '=');
        if (o + (plain ? 1 : 3) >= n)
            break;
        if (plain) {
            dst[o++] = (char)*p;
        } else {
            dst[o++] = '%';
            dst[o++] = hex[*p >> 4];
            dst[o++] = hex[*p & 15];
        }
    }
    dst[o] = '\0';
}

void wsmd__log_escape(char *dst, size_t n, const char *s)
{
    if (n && (!s || !*s))
        snprintf(dst, n, "-");
    else
        wsmd__log_pct(dst, n, s, 0);
}

enum wsm_err wsmd__throttle_new(const struct wsmd_throttle_cfg *cfg, size_t slots,
                                struct wsmd_throttle **out)
{
    struct wsmd_throttle *t = calloc(1, sizeof(*t));
    if (!t)
        return WSM_ERR_NOMEM;
    t->cfg = *cfg;
    if (!t->cfg.window_sec)
        t->cfg.window_sec = WSMD_THROTTLE_WINDOW_SEC;
    if (!t->cfg.lockout_sec)
        t->cfg.lockout_sec = WSMD_THROTTLE_LOCKOUT_SEC;
    if (!t->cfg.trust_sec)
        t->cfg.trust_sec = WSMD_THROTTLE_TRUST_SEC;
    t->nsets = (slots + WAYS - 1) / WAYS;
    if (!t->nsets)
        t->nsets = 1;
    /* Mapped, not calloc'd from the heap (which would zero, and so make
     * resident, all of it): only the pages in use cost memory. */
    t->bytes = t->nsets * WAYS * sizeof(*t->e);
    void *m = mmap(NULL, t->bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        free(t);
        return WSM_ERR_NOMEM;
    }
    t->e = m;
    wsm__random(t->secret, sizeof(t->secret));
    t->clock = wall;
    pthread_mutex_init(&t->lock, NULL);
    *out = t;
    return WSM_OK;
}

void wsmd__throttle_free(struct wsmd_throttle *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->lock);
    munmap(t->e, t->bytes);
    explicit_bzero(t->secret, sizeof(t->secret));
    free(t);
}

void wsmd__throttle_set_clock(struct wsmd_throttle *t, time_t (*now)(void))
{
    t->clock = now ? now : wall;
}

void wsmd__throttle_addr(const struct sockaddr *sa, char *out, size_t n)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa && sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip));
    } else if (sa && sa->sa_family == AF_INET6) {
        struct in6_addr a = ((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(&a)) {
            inet_ntop(AF_INET, &a.s6_addr[12], ip, sizeof(ip));
        } else {
            memset(&a.s6_addr[8], 0, 8); /* the /64: one host can use all of it */
            inet_ntop(AF_INET6, &a, ip, sizeof(ip));
            snprintf(out, n, "%s/64", ip);
            return;
        }
    }
    snprintf(out, n, "%s", ip);
}

/* The entry's id and set for (kind, a [NUL b]). */
static size_t key_of(struct wsmd_throttle *t, enum kind k, const char *a, const char *b,
                     unsigned char id[16])
{
    unsigned char md[32];
    gnutls_hmac_hd_t h;
    unsigned char kb = (unsigned char)k;
    if (gnutls_hmac_init(&h, GNUTLS_MAC_SHA256, t->secret, sizeof(t->secret)) != 0) {
        memset(md, 0, sizeof(md)); /* cannot happen with SHA-256; degrade to one set */
    } else {
        gnutls_hmac(h, &kb, 1);
        if (k == K_ADDR) {
            gnutls_hmac(h, a, strlen(a) + 1);
        } else {
            /* User names without regard to ASCII case: NTLM names an
             * account in any case, and guesses at "Alice" and "alice" are
             * guesses at one password there. */
            for (const char *p = a;; p++) {
                char ch = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
                gnutls_hmac(h, &ch, 1);
                if (!*p)
                    break;
            }
        }
        if (b)
            gnutls_hmac(h, b, strlen(b) + 1);
        gnutls_hmac_deinit(h, md);
    }
    memcpy(id, md, 16);
    uint64_t s = 0;
    for (int i = 16; i < 24; i++)
        s = s << 8 | md[i];
    return (size_t)(s % t->nsets);
}

static int is_held(const struct tentry *e, time_t now)
{
    return e->held_until && e->held_until > now;
}

static int is_trusted(const struct wsmd_throttle *t, const struct tentry *e, time_t now)
{
    return e->kind == K_PAIR && e->last_ok && now - e->last_ok < (time_t)t->cfg.trust_sec;
}

static struct tentry *find(struct wsmd_throttle *t, enum kind k, const char *a, const char *b)
{
    unsigned char id[16];
    struct tentry *set = &t->e[key_of(t, k, a, b, id) * WAYS];
    for (int i = 0; i < WAYS; i++)
        if (set[i].kind == k && memcmp(set[i].id, id, 16) == 0)
            return &set[i];
    return NULL;
}

static const char *kind_name(enum kind k)
{
    return k == K_ADDR ? "address" : k == K_USER ? "user" : "pair";
}

static void log_end(const struct tentry *e, const char *why)
{
    wsmd__log("event=auth-throttle-end %s=%s refused=%lu reason=%s", kind_name(e->kind), e->name,
              e->refused, why);
}

/* Finds or makes the entry; never fails (evicts the least useful one). */
static struct tentry *get(struct wsmd_throttle *t, enum kind k, const char *a, const char *b,
                          time_t now)
{
    unsigned char id[16];
    struct tentry *set = &t->e[key_of(t, k, a, b, id) * WAYS];
    struct tentry *victim = NULL;
    int vrank = 99;
    for (int i = 0; i < WAYS; i++) {
        struct tentry *e = &set[i];
        if (e->kind == k && memcmp(e->id, id, 16) == 0) {
            e->last_seen = now;
            return e;
        }
        int rank = e->kind == K_FREE ? 0 : is_held(e, now) ? 3 : is_trusted(t, e, now) ? 2 : 1;
        if (rank < vrank || (rank == vrank && e->last_seen < victim->last_seen)) {
            victim = e;
            vrank = rank;
        }
    }
    if (victim->kind != K_FREE && victim->held_until) {
        if (is_held(victim, now))
            log_end(victim, "evicted");
        t->holds--;
    }
    memset(victim, 0, sizeof(*victim));
    memcpy(victim->id, id, 16);
    victim->kind = k;
    victim->window_start = now;
    victim->last_seen = now;
    if (k != K_PAIR)
        wsmd__log_escape(victim->name, sizeof(victim->name), a);
    return victim;
}

/* Logs the ends of holds that have run out, once a second at most. */
static void sweep(struct wsmd_throttle *t, time_t now)
{
    if (!t->holds || now < t->next_sweep)
        return;
    t->next_sweep = now + 1;
    for (size_t i = 0; i < t->nsets * WAYS; i++) {
        struct tentry *e = &t->e[i];
        if (e->kind != K_FREE && e->held_until && e->held_until <= now) {
            log_end(e, "expired");
            e->held_until = 0;
            e->refused = 0;
            t->holds--;
        }
    }
}

unsigned wsmd__throttle_check(struct wsmd_throttle *t, const char *addr, const char *user)
{
    if (!t)
        return 0;
    pthread_mutex_lock(&t->lock);
    time_t now = t->clock();
    sweep(t, now);
    unsigned wait = 0;
    struct tentry *p = user ? find(t, K_PAIR, user, addr) : NULL;
    if (!(p && is_trusted(t, p, now))) {
        /* A pair with a recent login gets past both holds: the attacker who
         * set them off is elsewhere (or shares the address, and then the
         * pair's own count of failures revokes the trust). */
        struct tentry *held = NULL;
        struct tentry *e = find(t, K_ADDR, addr, NULL);
        if (e && is_held(e, now))
            held = e;
        if (!held && user && (e = find(t, K_USER, user, NULL)) && is_held(e, now))
            held = e;
        if (held) {
            held->refused++;
            wait = (unsigned)(held->held_until - now);
        }
    }
    pthread_mutex_unlock(&t->lock);
    return wait;
}

/* Counts a failure on e; starts a hold at max (0: never). */
static void bump(struct wsmd_throttle *t, struct tentry *e, unsigned max, time_t now)
{
    if (e->last_fail && now - e->last_fail >= (time_t)(t->cfg.window_sec + t->cfg.lockout_sec))
        e->strikes = 0; /* quiet for a while: forgive earlier holds */
    e->last_fail = now;
    if (now - e->window_start >= (time_t)t->cfg.window_sec) {
        e->window_start = now;
        e->fails = 0;
    }
    e->fails++;
    if (!max || e->fails < max || is_held(e, now))
        return;
    /* Each hold in a row is twice as long as the last, up to 64 times. */
    unsigned s = e->strikes < 6 ? e->strikes : 6;
    time_t len = (time_t)t->cfg.lockout_sec << s;
    e->strikes++;
    if (!e->held_until)
        t->holds++;
    e->held_until = now + len;
    e->refused = 0;
    e->fails = 0;
    e->window_start = now;
    wsmd__log("event=auth-throttle-start %s=%s failures=%u for_sec=%ld", kind_name(e->kind),
              e->name, max, (long)len);
}

void wsmd__throttle_fail(struct wsmd_throttle *t, const char *addr, const char *user,
                         const char *scheme, const char *reason)
{
    char u[NAME_MAX_LOG * 3];
    wsmd__log_escape(u, sizeof(u), user);
    wsmd__log("event=auth-failure user=%s address=%s scheme=%s reason=%s", u, addr,
              scheme ? scheme : "-", reason ? reason : "-");
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    time_t now = t->clock();
    sweep(t, now);
    bump(t, get(t, K_ADDR, addr, NULL, now), t->cfg.max_per_address, now);
    if (user && *user) {
        bump(t, get(t, K_USER, user, NULL, now), t->cfg.max_per_user, now);
        struct tentry *p = find(t, K_PAIR, user, addr);
        if (p && p->last_ok && ++p->fails >= (t->cfg.max_per_user ? t->cfg.max_per_user : 10)) {
            /* Someone at a trusted address guesses that user's password:
             * the pair is no longer trusted. */
            p->last_ok = 0;
            wsmd__log("event=auth-throttle-untrust user=%s address=%s", u, addr);
        }
    }
    pthread_mutex_unlock(&t->lock);
}

void wsmd__throttle_ok(struct wsmd_throttle *t, const char *addr, const char *user)
{
    if (!t || !user || !*user)
        return;
    pthread_mutex_lock(&t->lock);
    time_t now = t->clock();
    struct tentry *p = get(t, K_PAIR, user, addr, now);
    p->last_ok = now;
    p->fails = 0;
    pthread_mutex_unlock(&t->lock);
}

size_t wsmd__throttle_used(struct wsmd_throttle *t)
{
    size_t n = 0;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->nsets * WAYS; i++)
        n += t->e[i].kind != K_FREE;
    pthread_mutex_unlock(&t->lock);
    return n;
}

size_t wsmd__throttle_slots(const struct wsmd_throttle *t)
{
    return t->nsets * WAYS;
}
