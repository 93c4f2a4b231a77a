/* The remote shell engine, shells without a client: Disconnect, Reconnect
 * and Connect (MS-WSMV 3.1.4.15-17), BufferMode Drop, and the facts shell
 * management shows (Enumerate and Get of shells, engine.h: shell_list).
 *
 * A disconnected shell is an ordinary shell with a flag: its commands run
 * on and the I/O thread reads their output into the rings as always, so
 * BufferMode Block is the rings' own back-pressure (a full ring leaves
 * the epoll set and the child blocks in write). Drop is the one change in
 * the read path (shell__drop_oldest). What the flag stops is the client's
 * side: a Receive that took output while the client is gone would hand it
 * to nobody, so Receive, Send, Signal, Command and waits are refused until
 * a Reconnect or Connect, and the output waits in the rings for it. */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "cgroup.h"
#include "engine_state.h"

struct cmd *shell__lookup_live(struct shell_mgr *m, const char *owner, const char *shell_id,
                               const char *cmd_id, enum wsm_err *err)
{
    struct shell *sh = shell__find_shell(m, owner, shell_id);
    if (sh && sh->disconnected) {
        /* Not touched: the idle clock runs from the Disconnect. */
        *err = WSM_ERR_INVALID_ARG;
        return NULL;
    }
    struct cmd *c = shell__lookup(m, owner, shell_id, cmd_id);
    if (!c)
        *err = WSM_ERR_NOT_FOUND;
    return c;
}

int shell__drop_oldest(struct shell_mgr *m, struct cmd *c, int k)
{
    const struct shell *sh = c->sh;
    /* Bytes of a Receive in flight (or kept for a SequenceId replay) sit
     * at the head of the rings: dropping under them would make their
     * settle consume other bytes. Such a ring blocks as in Block mode
     * until that Receive is settled or confirmed. */
    if (!sh || !sh->disconnected || !sh->drop || c->fl_token || c->fl_kept)
        return 0;
    struct ring *r = &c->out[k].r;
    size_t cap = m->lim.stream_cap;
    /* A sixteenth at a time: one read's worth of room, not a byte-by-byte
     * shuffle; what stays is always the newest output, contiguous. */
    size_t n = cap / 16 ? cap / 16 : 1;
    if (n > r->len)
        n = r->len;
    r->head += n;
    if (r->head >= cap)
        r->head -= cap;
    r->len -= n;
    c->dropped[k] += n;
    return 1;
}

/* Drop mode reads on past a full ring: streams paused because their ring
 * was full come back into the epoll set (the next read drops). */
static void resume_full(struct shell_mgr *m, struct shell *sh)
{
    for (struct cmd *c = sh->cmds; c; c = c->next)
        for (int k = 0; k < 2; k++) {
            struct ostream *s = &c->out[k];
            if (s->paused && !s->starved && s->fd >= 0 &&
                shell__ep_add(m, s->fd, EPOLLIN, c, k) == 0)
                s->paused = 0;
        }
}

enum wsm_err shell_disconnect(struct shell_mgr *m, const char *owner, const char *shell_id,
                              long idle_ms, enum shell_buffer_mode mode)
{
    pthread_mutex_lock(&m->lock);
    struct shell *sh = shell__find_shell(m, owner, shell_id);
    if (!sh) {
        pthread_mutex_unlock(&m->lock);
        return WSM_ERR_NOT_FOUND;
    }
    if (idle_ms > 0) {
        if (m->lim.max_idle_timeout_ms > 0 && idle_ms > m->lim.max_idle_timeout_ms)
            idle_ms = m->lim.max_idle_timeout_ms;
        sh->idle_ms = idle_ms;
    }
    if (mode != SHELL_BUFFER_KEEP)
        sh->drop = mode == SHELL_BUFFER_DROP;
    if (!sh->disconnected) {
        sh->disconnected = 1;
        /* Receives parked by the old client end now (they are answered
         * that the shell is disconnected; their output stays). They must
         * go for the idle clock to run. */
        for (struct cmd *c = sh->cmds; c; c = c->next)
            if (c->nwaiters)
                shell__fire_cmd(m, c);
    }
    if (sh->drop)
        resume_full(m, sh);
    shell__touch(m, sh);
    if (sh->idle_ms > 0)
        shell__arm(m, sh->last_used + sh->idle_ms);
    if (m->nfired)
        shell__poke(m);
    pthread_mutex_unlock(&m->lock);
    return WSM_OK;
}

enum wsm_err shell_reconnect(struct shell_mgr *m, const char *owner, const char *shell_id,
                             enum shell_buffer_mode mode, int connect)
{
    if (!owner || !shell_id)
        return WSM_ERR_NOT_FOUND;
    pthread_mutex_lock(&m->lock);
    struct shell *sh = m->shells;
    while (sh && strcmp(sh->id, shell_id) != 0)
        sh = sh->next;
    enum wsm_err e = WSM_OK;
    if (!sh)
        e = WSM_ERR_NOT_FOUND;
    else if (strcmp(sh->owner, owner) != 0)
        e = WSM_ERR_ACCESS_DENIED; /* a shell is its owner's only */
    else if (!sh->disconnected && connect)
        e = WSM_ERR_INTERNAL; /* MS-WSMV 3.1.4.17: already connected */
    if (e) {
        pthread_mutex_unlock(&m->lock);
        return e;
    }
    if (mode != SHELL_BUFFER_KEEP)
        sh->drop = mode == SHELL_BUFFER_DROP;
    sh->disconnected = 0;
    sh->idle_ms = sh->create_idle_ms;
    shell__touch(m, sh);
    if (sh->idle_ms > 0)
        shell__arm(m, sh->last_used + sh->idle_ms);
    pthread_mutex_unlock(&m->lock);
    return WSM_OK;
}

int shell_is_disconnected(struct shell_mgr *m, const char *owner, const char *shell_id)
{
    pthread_mutex_lock(&m->lock);
    const struct shell *sh = shell__find_shell(m, owner, shell_id);
    int r = sh && sh->disconnected;
    pthread_mutex_unlock(&m->lock);
    return r;
}

/* ---- shell management ---- */

/* Resident bytes of a process (/proc/PID/statm is world-readable). */
static unsigned long long rss_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    unsigned long size = 0, res = 0;
    int n = fscanf(f, "%lu %lu", &size, &res);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return n == 2 && page > 0 ? (unsigned long long)res * (unsigned long long)page : 0;
}

static int fill_info(struct shell_mgr *m, const struct shell *sh, long long now,
                     struct shell_info *i)
{
    memcpy(i->id, sh->id, sizeof(i->id));
    i->owner = shell__xstrdup(sh->owner);
    i->name = shell__xstrdup(sh->name);
    i->client_ip = shell__xstrdup(sh->client_ip);
    i->locale = shell__xstrdup(sh->locale);
    i->data_locale = shell__xstrdup(sh->data_locale);
    if (!i->owner || (sh->name && !i->name) || (sh->client_ip && !i->client_ip) ||
        (sh->locale && !i->locale) || (sh->data_locale && !i->data_locale))
        return -1;
    i->idle_ms = sh->idle_ms;
    i->max_idle_ms = m->lim.max_idle_timeout_ms;
    i->disconnected = sh->disconnected;
    i->drop = sh->drop;
    i->streams = sh->streams;
    i->run_ms = now - sh->created;
    /* A Receive waiting on the shell is activity. */
    i->inactive_ms = sh->nwaiters ? 0 : now - sh->last_used;
    long running = 0;
    for (const struct cmd *c = sh->cmds; c; c = c->next) {
        if (c->exited || c->reaped)
            continue;
        if (!i->pid)
            i->pid = c->pid;
        running++;
        /* Under the lock, but a few small reads, and only for an
         * Enumerate or Get: no command can exit and be reaped (its pid
         * reused) meanwhile. */
        i->memory += rss_of(c->pid);
    }
    long cg = sh->cg && wsmd__cg_has_pids() ? wsmd__cg_pids_current(sh->cg) : -1;
    i->processes = cg >= 0 ? cg : running;
    /* The shell's cgroup counts every process of it (and the page cache
     * they use, as Windows' job object counts committed memory). */
    long long mem = sh->cg && wsmd__cg_has_memory() ? wsmd__cg_memory_current(sh->cg) : -1;
    if (mem >= 0)
        i->memory = (unsigned long long)mem;
    return 0;
}

void shell_info_free(struct shell_info *v, size_t n)
{
    for (size_t k = 0; v && k < n; k++) {
        free(v[k].owner);
        free(v[k].name);
        free(v[k].client_ip);
        free(v[k].locale);
        free(v[k].data_locale);
    }
    free(v);
}

enum wsm_err shell_list(struct shell_mgr *m, const char *owner, const char *shell_id,
                        struct shell_info **v, size_t *n)
{
    *v = NULL;
    *n = 0;
    pthread_mutex_lock(&m->lock);
    size_t cnt = 0;
    for (const struct shell *sh = m->shells; sh; sh = sh->next)
        if ((!owner || !strcmp(sh->owner, owner)) && (!shell_id || !strcmp(sh->id, shell_id)))
            cnt++;
    struct shell_info *out = cnt ? calloc(cnt, sizeof(*out)) : NULL;
    if (cnt && !out) {
        pthread_mutex_unlock(&m->lock);
        return WSM_ERR_NOMEM;
    }
    long long now = shell_now_ms();
    size_t k = 0;
    int bad = 0;
    /* Oldest first (the list holds the newest first), as a user reads it. */
    const struct shell *last = m->shells;
    while (last && last->next)
        last = last->next;
    for (const struct shell *sh = last; sh && k < cnt; sh = sh->prev)
        if ((!owner || !strcmp(sh->owner, owner)) && (!shell_id || !strcmp(sh->id, shell_id)))
            bad |= fill_info(m, sh, now, &out[k++]);
    pthread_mutex_unlock(&m->lock);
    if (bad) {
        shell_info_free(out, k);
        return WSM_ERR_NOMEM;
    }
    *v = out;
    *n = k;
    return WSM_OK;
}
