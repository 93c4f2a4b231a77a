/* One dialer per CollectorInitiated source across the nodes that share a
 * StateDatabase. Every node loads the same subscriptions and runs a dialer
 * thread per source (dialset.c); a dialer dials only while this node holds
 * the source's claim: a PostgreSQL session-level advisory lock on a stable
 * 64-bit key of (subscription, address), taken with pg_try_advisory_lock
 * on a connection of this file's own, not one of state_pg.c's pool (a
 * pooled connection is dropped and remade at will, and a session lock
 * lives exactly as long as its session).
 *
 * Why a session lock: the server frees it by itself when the session ends,
 * which is what failover needs. A node killed (-9, a crash) closes its
 * socket and its locks are free at once; a node cut off from the database
 * or frozen is ended by the server after WSMD_CLAIM_IDLE_MS of silence
 * (idle_session_timeout, set on this session only; TCP keepalives on both
 * sides besides). A node that cannot complete a round (connection broken,
 * no answer within WSMD_CLAIM_QUERY_MS) drops the connection and, with it,
 * every claim: its dialers Unsubscribe and wait. So a node stops dialing
 * before the server lets another one take over, and the new holder
 * Subscribes from the shared bookmark: nothing acked is lost, and what is
 * repeated is at most the batch the old holder had pulled and not yet
 * stored.
 *
 * One thread (the claimer) owns the connection and does a round every
 * period: gives up the claims of sources no longer dialed here, tries the
 * others, and tells the dialers (claimed, under the dialers' lock). A node
 * tries no more than its share (the sources over the nodes that have a
 * claim session on this database), so the sources spread over the nodes
 * that start together, and a survivor's share grows to all of them when
 * the others are gone. */
#include "dialclaim.h"

#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dialer_priv.h"
#include "server.h"
#include "state_pg.h" /* WSMD_PG_LOCK_KEY: a key this one must never be */
#include "throttle.h" /* wsmd__log_escape */

#define APP_PREFIX "wsmd-dial "

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long wsmd__claim_key(const char *sub, const char *address)
{
    unsigned long long h = 14695981039346656037ULL; /* FNV-1a 64 */
    const char *const parts[] = {"wsmd-dial", sub, address};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++) {
            unsigned char ch = *p >= 'A' && *p <= 'Z' ? (unsigned char)(*p + 32) : *p;
            h = (h ^ ch) * 1099511628211ULL;
        }
        h = (h ^ 0xff) * 1099511628211ULL; /* a separator no text has: ("ab","c") != ("a","bc") */
    }
    long long k;
    memcpy(&k, &h, sizeof(k)); /* the bit pattern, as PostgreSQL's bigint */
    if (k == strtoll(WSMD_PG_LOCK_KEY, NULL, 10))
        k ^= 1;
    return k;
}

/* ---- the claim set ------------------------------------------------------- */

struct held {
    long long key;
    char *sub, *address; /* escaped for logs */
};

struct wsmd_claims {
    char *uri;
    char node[128];   /* escaped for logs */
    char appname[64]; /* APP_PREFIX + node: how the nodes count each other */
    PGconn *conn;
    long long connected_at;
    long grace_ms, idle_ms;
    int down; /* the last attempt failed: logged once per outage */
    struct held *held;
    size_t nheld;
};

enum wsm_err wsmd__claims_new(const char *conninfo, const char *node, struct wsmd_claims **out)
{
    *out = NULL;
    struct wsmd_claims *c = calloc(1, sizeof(*c));
    if (!c || !(c->uri = strdup(conninfo))) {
        free(c);
        return WSM_ERR_NOMEM;
    }
    wsmd__log_escape(c->node, sizeof(c->node), node);
    snprintf(c->appname, sizeof(c->appname), APP_PREFIX "%s", node);
    c->grace_ms = WSMD_CLAIM_PERIOD_MS + WSMD_CLAIM_JITTER_MS;
    c->idle_ms = WSMD_CLAIM_IDLE_MS;
    *out = c;
    return WSM_OK;
}

void wsmd__claims_set_timing(struct wsmd_claims *c, long grace_ms, long idle_ms)
{
    c->grace_ms = grace_ms;
    c->idle_ms = idle_ms;
}

static void one_line(char *s)
{
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '"')
            *p = ' ';
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ')
        s[--n] = '\0';
}

static void claim_log(const struct wsmd_claims *c, const struct held *h, const char *state)
{
    wsmd__log("event=dial_claim subscription=%s source=%s node=%s state=%s", h->sub, h->address,
              c->node, state);
}

static void drop_held(struct held *h)
{
    free(h->sub);
    free(h->address);
}

/* The connection is gone or unusable: every claim with it. */
static void lose(struct wsmd_claims *c, const char *why)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", why ? why : "");
    one_line(msg);
    PQfinish(c->conn);
    c->conn = NULL;
    for (size_t i = 0; i < c->nheld; i++) {
        claim_log(c, &c->held[i], "lost");
        drop_held(&c->held[i]);
    }
    c->nheld = 0;
    if (!c->down)
        wsmd__log("event=dial_claim_connection node=%s state=lost error=\"%s\"", c->node, msg);
    c->down = 1;
}

static int wait_sock(PGconn *pc, short ev, long long deadline)
{
    long long left = deadline - mono_ms();
    if (left <= 0)
        return 0;
    struct pollfd p = {PQsocket(pc), ev, 0};
    int r = poll(&p, 1, (int)left);
    return r < 0 ? 1 : r; /* EINTR: look again */
}

/* One statement against the deadline: its result when it succeeded, else
 * NULL and the connection dropped (a claim session in doubt is no claim). */
static PGresult *run(struct wsmd_claims *c, const char *sql, const char *param)
{
    PGconn *pc = c->conn;
    long long deadline = mono_ms() + WSMD_CLAIM_QUERY_MS;
    const char *const v[1] = {param};
    if (!PQsendQueryParams(pc, sql, param ? 1 : 0, NULL, v, NULL, NULL, 0)) {
        lose(c, PQerrorMessage(pc));
        return NULL;
    }
    int f;
    while ((f = PQflush(pc)) == 1)
        if (!wait_sock(pc, POLLOUT | POLLIN, deadline) || !PQconsumeInput(pc)) {
            lose(c, "timed out sending a query");
            return NULL;
        }
    PGresult *keep = NULL;
    for (;;) {
        while (f == 0 && PQisBusy(pc)) {
            if (!wait_sock(pc, POLLIN, deadline)) {
                PQclear(keep);
                lose(c, "no answer within the deadline");
                return NULL;
            }
            if (!PQconsumeInput(pc)) {
                PQclear(keep);
                lose(c, PQerrorMessage(pc));
                return NULL;
            }
        }
        PGresult *r = PQgetResult(pc);
        if (!r)
            break;
        if (keep)
            PQclear(r);
        else
            keep = r;
    }
    if (f < 0 || PQstatus(pc) == CONNECTION_BAD || !keep ||
        PQresultStatus(keep) != PGRES_TUPLES_OK) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s",
                 keep && PQresultStatus(keep) != PGRES_TUPLES_OK ? PQresultErrorMessage(keep)
                                                                 : PQerrorMessage(pc));
        PQclear(keep);
        lose(c, msg);
        return NULL;
    }
    return keep;
}

static int connect_db(struct wsmd_claims *c)
{
    /* The server side keepalives (in options) end a vanished node's
     * session, and with it its claims, even where idle_session_timeout is
     * unknown (before PostgreSQL 14). */
    PGconn *pc = wsmd__pg_connectdb(c->uri, c->appname, "5", "2",
                                    ("-c statement_timeout=5000 -c tcp_keepalives_idle=5"
                                     " -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3"));
    if (!pc || PQstatus(pc) != CONNECTION_OK || PQsetnonblocking(pc, 1) != 0) {
        c->conn = pc;
        lose(c, pc ? PQerrorMessage(pc) : "out of memory");
        return -1;
    }
    c->conn = pc;
    /* Not in options: a server before 14 would refuse the unknown setting
     * (there the keepalives alone end a vanished node's session). */
    if (PQserverVersion(pc) >= 140000) {
        char ms[32];
        snprintf(ms, sizeof(ms), "%ld", c->idle_ms);
        PGresult *r = run(c, "SELECT set_config('idle_session_timeout', $1, false)", ms);
        if (!r)
            return -1; /* lost, logged */
        PQclear(r);
    }
    c->connected_at = mono_ms();
    if (c->down)
        wsmd__log("event=dial_claim_connection node=%s state=up", c->node);
    c->down = 0;
    return 0;
}

static struct held *find_held(struct wsmd_claims *c, long long key)
{
    for (size_t i = 0; i < c->nheld; i++)
        if (c->held[i].key == key)
            return &c->held[i];
    return NULL;
}

static int wanted(const struct wsmd_claim_want *want, size_t n, long long key)
{
    for (size_t i = 0; i < n; i++)
        if (want[i].key == key)
            return 1;
    return 0;
}

/* "{k1,k2,...}": a bigint[] parameter. */
static int add_key(struct wsm_buf *b, long long key)
{
    return wsm__buf_printf(b, "%s%lld", b->len > 1 ? "," : "", key) != WSM_OK;
}

/* Gives up the claims of keys no longer wanted; -1 when the connection went. */
static int release(struct wsmd_claims *c, const struct wsmd_claim_want *want, size_t n)
{
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    int bad = wsm__buf_puts(&b, "{") != WSM_OK, any = 0;
    for (size_t i = 0; i < c->nheld && !bad; i++)
        if (!wanted(want, n, c->held[i].key)) {
            bad |= add_key(&b, c->held[i].key);
            any = 1;
        }
    bad |= wsm__buf_puts(&b, "}") != WSM_OK;
    int rc = 0;
    if (any && !bad) {
        PGresult *r = run(c, "SELECT pg_advisory_unlock(k) FROM unnest($1::bigint[]) AS k", b.data);
        if (!r) {
            rc = -1;
        } else {
            size_t o = 0;
            for (size_t i = 0; i < c->nheld; i++) {
                if (wanted(want, n, c->held[i].key)) {
                    c->held[o++] = c->held[i];
                    continue;
                }
                claim_log(c, &c->held[i], "released");
                drop_held(&c->held[i]);
            }
            c->nheld = o;
        }
        PQclear(r);
    }
    wsm__buf_free(&b);
    return rc;
}

static int take(struct wsmd_claims *c, const struct wsmd_claim_want *w)
{
    struct held *v = realloc(c->held, (c->nheld + 1) * sizeof(*v));
    if (!v)
        return -1;
    c->held = v;
    char sub[128], addr[128];
    wsmd__log_escape(sub, sizeof(sub), w->sub);
    wsmd__log_escape(addr, sizeof(addr), w->address);
    struct held *h = &v[c->nheld];
    h->key = w->key;
    h->sub = strdup(sub);
    h->address = strdup(addr);
    if (!h->sub || !h->address) {
        drop_held(h);
        return -1;
    }
    c->nheld++;
    claim_log(c, h, "taken");
    return 0;
}

int wsmd__claims_round(struct wsmd_claims *c, const struct wsmd_claim_want *want, size_t n,
                       unsigned char *held)
{
    if (n)
        memset(held, 0, n);
    if (!n && !c->nheld) {
        /* No collector-initiated source here: no session to keep (and
         * not counted among the nodes that share the sources). */
        PQfinish(c->conn);
        c->conn = NULL;
        return 0;
    }
    if (!c->conn && connect_db(c) != 0)
        return -1;
    if (release(c, want, n) != 0)
        return -1;
    /* What to try: wanted, not held, once (two sources of one key would
     * lock it twice in this session, and one unlock would not free it). */
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    int bad = wsm__buf_puts(&b, "{") != WSM_OK;
    size_t ntry = 0, nwanted = 0;
    for (size_t i = 0; i < n && !bad; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = want[j].key == want[i].key;
        if (seen)
            continue;
        nwanted++;
        if (find_held(c, want[i].key))
            continue;
        bad |= add_key(&b, want[i].key);
        ntry++;
    }
    bad |= wsm__buf_puts(&b, "}") != WSM_OK;
    int claiming = !bad && ntry && mono_ms() - c->connected_at >= c->grace_ms;
    /* The share: the keys over the nodes with a claim session here (this
     * one included), rounded up; the try is limited to it. Without a try
     * the statement still runs: it is the round's proof that the session,
     * and so every claim held, is alive. */
    PGresult *r =
        run(c,
            claiming ? "WITH n AS (SELECT greatest(count(*), 1) AS nodes FROM pg_stat_activity"
                       " WHERE datname = current_database() AND application_name LIKE '" APP_PREFIX
                       "%')"
                       " SELECT k::text, pg_try_advisory_lock(k), n.nodes FROM n,"
                       " unnest($1::bigint[]) AS k"
                     : "SELECT 1",
            claiming ? b.data : NULL);
    wsm__buf_free(&b);
    if (!r)
        return -1;
    if (claiming) {
        /* The try took every key it could; keys beyond the share go back
         * at once (a second statement would cost a round trip each round
         * on every standby node: this one is the only one it needs). */
        long long nodes = PQntuples(r) ? strtoll(PQgetvalue(r, 0, 2), NULL, 10) : 1;
        size_t share = (size_t)((nwanted + (size_t)nodes - 1) / (size_t)(nodes > 0 ? nodes : 1));
        struct wsm_buf back;
        wsm__buf_init(&back, 0);
        int bbad = wsm__buf_puts(&back, "{") != WSM_OK, nback = 0;
        for (int i = 0; i < PQntuples(r); i++) {
            if (strcmp(PQgetvalue(r, i, 1), "t"))
                continue;
            long long key = strtoll(PQgetvalue(r, i, 0), NULL, 10);
            const struct wsmd_claim_want *w = NULL;
            for (size_t j = 0; j < n && !w; j++)
                if (want[j].key == key)
                    w = &want[j];
            if (c->nheld >= share || !w || take(c, w) != 0) {
                bbad |= add_key(&back, key);
                nback++;
            }
        }
        bbad |= wsm__buf_puts(&back, "}") != WSM_OK;
        PQclear(r);
        r = NULL;
        if (nback && !bbad)
            r = run(c, "SELECT pg_advisory_unlock(k) FROM unnest($1::bigint[]) AS k", back.data);
        wsm__buf_free(&back);
        if (nback && (bbad || !r)) {
            /* Locks of this session it cannot name: only a new session is sure. */
            if (c->conn)
                lose(c, "could not give back the claims beyond this node's share");
            return -1;
        }
    }
    PQclear(r);
    int count = 0;
    for (size_t i = 0; i < n; i++)
        count += held[i] = find_held(c, want[i].key) != NULL;
    return count;
}

int wsmd__claims_settling(const struct wsmd_claims *c)
{
    return c->conn && mono_ms() - c->connected_at < c->grace_ms;
}

void wsmd__claims_free(struct wsmd_claims *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nheld; i++) {
        claim_log(c, &c->held[i], "released");
        drop_held(&c->held[i]);
    }
    PQfinish(c->conn); /* the server frees the session's locks */
    free(c->held);
    free(c->uri);
    free(c);
}

/* ---- the claimer thread of the dialers --------------------------------- */

struct wsmd_dial_claimer {
    struct wsmd_dialers *ds;
    struct wsmd_claims *cl;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, wake;
    unsigned seed;
};

/* The dialers' sources now (copied: a load may free a dialer meanwhile). */
static size_t snapshot(struct wsmd_dialers *ds, struct wsmd_claim_want **out)
{
    pthread_mutex_lock(&ds->lock);
    size_t n = 0;
    for (struct dialer *d = ds->list; d; d = d->next)
        n++;
    struct wsmd_claim_want *w = calloc(n ? n : 1, sizeof(*w));
    size_t k = 0;
    for (struct dialer *d = ds->list; w && d; d = d->next) {
        char *sub = strdup(d->sub->id), *addr = strdup(d->src->address);
        if (!sub || !addr) {
            free(sub);
            free(addr);
            continue; /* not wanted this round: not claimed either */
        }
        w[k++] = (struct wsmd_claim_want){d->claim_key, sub, addr};
    }
    pthread_mutex_unlock(&ds->lock);
    *out = w;
    return k;
}

static void snapshot_free(struct wsmd_claim_want *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)w[i].sub);
        free((char *)w[i].address);
    }
    free(w);
}

/* Tells the dialers: a dialer that lost its claim stops dialing (its pause
 * ends, dialer.c), one that got it dials. */
static void publish(struct wsmd_dialers *ds, const struct wsmd_claim_want *w, size_t n,
                    const unsigned char *held, int how)
{
    pthread_mutex_lock(&ds->lock);
    int changed = ds->claims_down != how;
    ds->claims_down = how;
    for (struct dialer *d = ds->list; d; d = d->next) {
        int h = 0;
        for (size_t i = 0; i < n && !h; i++)
            h = held[i] && w[i].key == d->claim_key;
        changed |= d->claimed != h;
        d->claimed = h;
    }
    if (changed)
        pthread_cond_broadcast(&ds->cond);
    pthread_mutex_unlock(&ds->lock);
}

static void *claimer_run(void *arg)
{
    struct wsmd_dial_claimer *cl = arg;
    pthread_mutex_lock(&cl->mu);
    while (!cl->stop) {
        cl->wake = 0;
        pthread_mutex_unlock(&cl->mu);
        struct wsmd_claim_want *w = NULL;
        size_t n = snapshot(cl->ds, &w);
        unsigned char *held = calloc(n ? n : 1, 1);
        int r = w && held ? wsmd__claims_round(cl->cl, w, n, held) : -1;
        if (held)
            publish(cl->ds, w, n, held,
                    r < 0                                ? WSMD_CLAIMS_DOWN
                    : wsmd__claims_settling(cl->cl) && n ? WSMD_CLAIMS_SETTLING
                                                         : WSMD_CLAIMS_UP);
        free(held);
        snapshot_free(w, n);
        long ms = WSMD_CLAIM_PERIOD_MS + (long)(rand_r(&cl->seed) % (WSMD_CLAIM_JITTER_MS + 1));
        struct timespec until = wsmd__dial_after_ms(ms);
        pthread_mutex_lock(&cl->mu);
        while (!cl->stop && !cl->wake && pthread_cond_timedwait(&cl->cv, &cl->mu, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&cl->mu);
    return NULL;
}

enum wsm_err wsmd__claimer_start(struct wsmd_dialers *ds, const char *conninfo,
                                 struct wsmd_dial_claimer **out)
{
    *out = NULL;
    if (!conninfo)
        return WSM_OK;
    char host[64] = "", node[128];
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "?");
    host[sizeof(host) - 1] = '\0';
    /* Host and pid: two nodes on one host differ, and a restarted node is
     * a new holder in the logs. */
    snprintf(node, sizeof(node), "%s:%ld", host, (long)getpid());
    struct wsmd_dial_claimer *cl = calloc(1, sizeof(*cl));
    if (!cl)
        return WSM_ERR_NOMEM;
    enum wsm_err e = wsmd__claims_new(conninfo, node, &cl->cl);
    if (e) {
        free(cl);
        return e;
    }
    cl->ds = ds;
    cl->seed = (unsigned)getpid() ^ (unsigned)mono_ms();
    pthread_mutex_init(&cl->mu, NULL);
    pthread_cond_init(&cl->cv, NULL);
    if (pthread_create(&cl->thread, NULL, claimer_run, cl) != 0) {
        pthread_cond_destroy(&cl->cv);
        pthread_mutex_destroy(&cl->mu);
        wsmd__claims_free(cl->cl);
        free(cl);
        return WSM_ERR_INTERNAL;
    }
    *out = cl;
    return WSM_OK;
}

void wsmd__claimer_wake(struct wsmd_dial_claimer *cl)
{
    if (!cl)
        return;
    pthread_mutex_lock(&cl->mu);
    cl->wake = 1;
    pthread_cond_signal(&cl->cv);
    pthread_mutex_unlock(&cl->mu);
}

void wsmd__claimer_stop(struct wsmd_dial_claimer *cl)
{
    if (!cl)
        return;
    pthread_mutex_lock(&cl->mu);
    cl->stop = 1;
    pthread_cond_signal(&cl->cv);
    pthread_mutex_unlock(&cl->mu);
    pthread_join(cl->thread, NULL);
    wsmd__claims_free(cl->cl);
    pthread_cond_destroy(&cl->cv);
    pthread_mutex_destroy(&cl->mu);
    free(cl);
}
