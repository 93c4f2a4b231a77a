/* SIGHUP opens and closes listeners (reloadlisten.h): the Listen lines of
 * the old and the new text compared, the listeners that went closed, the
 * new ones opened, the others (and their connections) untouched. This is
 * what makes `winrm quickconfig` (a Listen line written, then a reload)
 * take effect without a restart; winrm create/delete change the running
 * set themselves, which is why both sets are also checked against what
 * runs.
 *
 * Separated (privsep.md), each process does its part in turn: the monitor
 * (first) closes its copies of the listeners that went and remembers the
 * new set; the network process stops serving those, then asks the
 * monitor (PS_CFG_LISTEN, op CFGL_OP_RELOAD) for each new one, which the
 * monitor binds only if it is in that set: the root-owned file decides,
 * never the network process. */
#include "reloadlisten.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfglisten.h"
#include "cfglisten_priv.h"
#include "config.h"
#include "privsep.h"
#include "pswire.h"
#include "reload.h"
#include "server.h"

/* The monitor's: the listeners the accepted text names (URLs). */
static struct {
    pthread_mutex_t lock;
    char url[WSMD_MAX_LISTENERS][256];
    size_t n;
} allowed = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int same(const struct wsmd_listener *a, const struct wsmd_listener *b)
{
    return a->https == b->https && a->port == b->port && !a->metrics && !b->metrics &&
           wsmd__cfgl_same_host(a->host, b->host);
}

/* Which listeners of a have a partner in b, one for one (a line given
 * twice is two listeners: two port-0 lines, two ephemeral ports). */
static void pair(const struct wsmd_config *a, const struct wsmd_config *b,
                 int paired[WSMD_MAX_LISTENERS])
{
    int used[WSMD_MAX_LISTENERS] = {0};
    for (size_t i = 0; i < a->nlisteners; i++) {
        paired[i] = 0;
        for (size_t j = 0; j < b->nlisteners && !paired[i]; j++)
            if (!used[j] && same(&a->listeners[i], &b->listeners[j]))
                paired[i] = used[j] = 1;
    }
}

static int in(const struct wsmd_config *c, const struct wsmd_listener *l)
{
    for (size_t i = 0; i < c->nlisteners; i++)
        if (same(&c->listeners[i], l))
            return 1;
    return 0;
}

/* The running listener l stands for, or NULL. */
static struct wsmd_listener *running(struct wsmd_server *srv, const struct wsmd_listener *l)
{
    for (size_t i = 0; i < srv->cfg.nlisteners; i++) {
        struct wsmd_listener *r = &srv->cfg.listeners[i];
        if (!r->deleted && same(r, l))
            return r;
    }
    return NULL;
}

static void url_of(const struct wsmd_listener *l, char *out, size_t n)
{
    int v6 = strchr(l->host, ':') != NULL;
    snprintf(out, n, "%s://%s%s%s:%d/wsman", l->https ? "https" : "http", v6 ? "[" : "", l->host,
             v6 ? "]" : "", l->port);
}

/* ---- the monitor ----------------------------------------------------------- */

static void monitor_part(struct wsmd_server *srv, const struct wsmd_config *old,
                         const struct wsmd_config *neu)
{
    pthread_mutex_lock(&allowed.lock);
    allowed.n = 0;
    for (size_t i = 0; i < neu->nlisteners && allowed.n < WSMD_MAX_LISTENERS; i++)
        if (!neu->listeners[i].metrics)
            url_of(&neu->listeners[i], allowed.url[allowed.n++], sizeof(allowed.url[0]));
    pthread_mutex_unlock(&allowed.lock);
    /* Its copies of the listeners that went: closed, so that the port is
     * free once the network process has closed its own. */
    wsmd__cfgl_lock();
    struct wsmd_config *c = &srv->cfg;
    for (size_t i = 0; i < c->nlisteners;) {
        struct wsmd_listener *l = &c->listeners[i];
        if (!l->metrics && in(old, l) && !in(neu, l)) {
            if (l->has_lfd)
                close(l->lfd);
            memmove(l, l + 1, (c->nlisteners - i - 1) * sizeof(*l));
            c->nlisteners--;
        } else {
            i++;
        }
    }
    wsmd__cfgl_unlock();
}

enum wsm_err wsmd__reloadl_monitor_bind(struct wsmd_server *srv, const char *url, int *fd,
                                        int *port)
{
    struct wsmd_listener nl;
    if (!wsmd__cfgl_parse_listen(url, &nl))
        return WSM_ERR_INVALID_ARG;
    int ok = 0;
    pthread_mutex_lock(&allowed.lock);
    for (size_t i = 0; i < allowed.n && !ok; i++)
        ok = wsmd__cfgl_same_listen(allowed.url[i], url);
    pthread_mutex_unlock(&allowed.lock);
    if (!ok)
        return WSM_ERR_ACCESS_DENIED;
    enum wsm_err e = WSM_OK;
    wsmd__cfgl_lock();
    struct wsmd_config *c = &srv->cfg;
    struct wsmd_listener *have = NULL;
    for (size_t i = 0; i < c->nlisteners && !have; i++)
        if (same(&c->listeners[i], &nl) && c->listeners[i].has_lfd)
            have = &c->listeners[i];
    if (!have) {
        char why[300];
        if (c->nlisteners >= WSMD_MAX_LISTENERS) {
            e = WSM_ERR_QUOTA;
        } else if (wsmd__bind_listener(&nl, why, sizeof(why)) != 0) {
            wsmd__log("event=listener-error url=%s error=\"%s\"", url, why);
            e = WSM_ERR_IO;
        } else {
            c->listeners[c->nlisteners] = nl; /* kept for a restarted network process */
            have = &c->listeners[c->nlisteners++];
        }
    }
    if (have) {
        *fd = dup(have->lfd);
        *port = have->port;
        if (*fd < 0)
            e = WSM_ERR_IO;
    }
    wsmd__cfgl_unlock();
    return e;
}

static enum wsm_err ask_monitor(const char *url, int *fd)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, PS_CFG_LISTEN);
    ps_put_str(&q, "");
    ps_put_u32(&q, CFGL_OP_RELOAD);
    ps_put_str(&q, url);
    enum wsm_err e = wsmd__ps_call(&q, &a);
    if (!e) {
        (void)ps_get_i32(&a);
        *fd = ps_take_fd(&a);
        if (!ps_end(&a) || *fd < 0) {
            if (*fd >= 0)
                close(*fd);
            e = WSM_ERR_INTERNAL;
        }
    }
    ps_clear(&q);
    ps_clear(&a);
    return e;
}

/* ---- the process that serves ----------------------------------------------- */

static void serving_part(struct wsmd_server *srv, const struct wsmd_config *old,
                         const struct wsmd_config *neu, int network)
{
    char url[256];
    int kept[WSMD_MAX_LISTENERS], had[WSMD_MAX_LISTENERS];
    pair(old, neu, kept);
    pair(neu, old, had);
    wsmd__cfgl_lock();
    /* First the listeners that went: their ports may be the new ones'. */
    for (size_t i = 0; i < old->nlisteners; i++) {
        const struct wsmd_listener *o = &old->listeners[i];
        struct wsmd_listener *r;
        if (o->metrics || kept[i] || !(r = running(srv, o)))
            continue;
        int lfd = wsmd__http_listener_quiesce(r);
        if (lfd >= 0)
            close(lfd);
        __atomic_store_n(&r->deleted, 1, __ATOMIC_RELEASE);
        url_of(r, url, sizeof(url));
        wsmd__log("event=listener-deleted url=%s by=reload", url);
    }
    for (size_t i = 0; i < neu->nlisteners; i++) {
        const struct wsmd_listener *n = &neu->listeners[i];
        if (n->metrics || had[i] || running(srv, n))
            continue;
        url_of(n, url, sizeof(url));
        int append = 0;
        struct wsmd_listener *slot = wsmd__cfgl_free_slot(srv, &append);
        if (!slot) {
            wsmd__log("event=listener-error url=%s error=\"at most %d listeners\"", url,
                      WSMD_MAX_LISTENERS);
            continue;
        }
        struct wsmd_listener nl = *n;
        nl.has_lfd = 0;
        nl.mhd = NULL;
        if (network) {
            enum wsm_err e = ask_monitor(url, &nl.lfd);
            if (e) {
                wsmd__log("event=listener-error url=%s error=\"the monitor did not bind it: "
                          "%s\"",
                          url, wsm_strerror(e));
                continue;
            }
            nl.has_lfd = 1;
        }
        nl.deleted = 1; /* not listed until it serves */
        *slot = nl;
        if (wsmd__http_listener_start(srv, slot) != WSM_OK) {
            if (slot->mhd)
                MHD_stop_daemon(slot->mhd);
            slot->mhd = NULL;
            wsmd__log("event=listener-error url=%s error=\"cannot start it\"", url);
            continue;
        }
        __atomic_store_n(&slot->deleted, 0, __ATOMIC_RELEASE);
        if (append)
            __atomic_store_n(&srv->cfg.nlisteners, srv->cfg.nlisteners + 1, __ATOMIC_RELEASE);
        wsmd__log("event=listener-created url=%s port=%d by=reload", url, slot->port);
    }
    wsmd__cfgl_unlock();
}

void wsmd__reloadl_apply(struct wsmd_server *srv, int role, const char *old_text,
                         const struct wsmd_config *neu)
{
    struct wsmd_config old;
    wsmd__config_defaults(&old);
    char why[512];
    /* The old text was accepted once: it parses again. */
    if (wsmd__reload_parse(&old, "(previous)", old_text ? old_text : "", why, sizeof(why)) ==
        WSM_OK) {
        if (role == WSMD_RELOADL_MONITOR)
            monitor_part(srv, &old, neu);
        else
            serving_part(srv, &old, neu, role == WSMD_RELOADL_NETWORK);
    }
    wsmd__config_clear(&old);
}
