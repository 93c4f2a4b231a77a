/* The remote shell engine, the manager and shells: the manager's start
 * and stop, finding shells and commands by owner and id, shell create
 * (its environment, cgroup, quota) and delete. */
#include "engine.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "engine_internal.h"
#include "uuid.h"

#include "engine_state.h"

/* ---- manager ---- */

enum wsm_err shell_mgr_new(const struct shell_limits *lim, struct shell_mgr **out)
{
    *out = NULL;
    struct shell_mgr *m = calloc(1, sizeof(*m));
    if (!m)
        return WSM_ERR_NOMEM;
    if (lim)
        m->lim = *lim;
    else
        shell_limits_defaults(&m->lim);
    if (m->lim.stream_cap == 0)
        m->lim.stream_cap = (size_t)1 << 20;
    m->budget.max_total = m->lim.max_buffered_total;
    m->budget.max_user = m->lim.max_buffered_user;
    m->next_deadline = NEVER;
    m->next_token = 0;
    m->ep = m->evfd = -1;
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return WSM_ERR_INTERNAL;
    }
    m->ep = epoll_create1(EPOLL_CLOEXEC);
    m->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (m->ep < 0 || m->evfd < 0 || shell__ep_add(m, m->evfd, EPOLLIN, NULL, 0) < 0)
        goto fail;
    /* The thread takes no signal (SIGPIPE from stdin writes stays pending
     * there and is consumed). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_mutex_lock(&m->lock); /* the thread sees m->thr set */
    int rc = pthread_create(&m->thr, NULL, shell__io_main, m);
    m->thread_started = rc == 0;
    pthread_mutex_unlock(&m->lock);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        goto fail;
    *out = m;
    return WSM_OK;
fail:
    if (m->ep >= 0)
        close(m->ep);
    if (m->evfd >= 0)
        close(m->evfd);
    pthread_mutex_destroy(&m->lock);
    free(m);
    return WSM_ERR_INTERNAL;
}

void shell_mgr_free(struct shell_mgr *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->stop = 1;
    pthread_mutex_unlock(&m->lock);
    shell__poke(m);
    pthread_join(m->thr, NULL);
    m->thread_started = 0;

    struct cmd *sync = NULL;
    while (m->shells)
        shell__teardown(m, m->shells, &sync);
    while (m->orphans) {
        struct cmd *c = m->orphans;
        shell__unlink_cmd(&m->orphans, NULL, c);
        if (c->pid_watched)
            shell__ep_del(m, c->pidfd);
        c->next = sync;
        sync = c;
    }
    shell__reap_sync(m, sync, shell_now_ms() + 2 * REAP_SYNC_MS, 0);
    for (struct waiter *w = m->waiters; w; w = w->next)
        shell__fire(m, w);
    shell__run_wakes(shell__collect_fired(m));
    close(m->ep);
    close(m->evfd);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

unsigned shell__count_users(struct shell_mgr *m)
{
    /* Each owner counted at its newest shell (the list is newest first);
     * quadratic in shells, which MaxShellsPerUser x MaxConcurrentUsers
     * keeps small. */
    unsigned n = 0;
    for (struct shell *s = m->shells; s; s = s->next) {
        const struct shell *t = m->shells;
        while (t != s && strcmp(t->owner, s->owner) != 0)
            t = t->next;
        if (t == s)
            n++;
    }
    return n;
}

struct shell *shell__find_shell(struct shell_mgr *m, const char *owner, const char *id)
{
    if (!owner || !id)
        return NULL;
    for (struct shell *sh = m->shells; sh; sh = sh->next)
        if (strcmp(sh->id, id) == 0)
            return strcmp(sh->owner, owner) == 0 ? sh : NULL;
    return NULL;
}

struct cmd *shell__find_cmd(struct shell *sh, const char *id)
{
    if (!sh || !id)
        return NULL;
    for (struct cmd *c = sh->cmds; c; c = c->next)
        if (strcmp(c->id, id) == 0)
            return c;
    return NULL;
}

unsigned shell_count(struct shell_mgr *m, const char *owner)
{
    unsigned n = 0;
    pthread_mutex_lock(&m->lock);
    for (struct shell *sh = m->shells; sh; sh = sh->next)
        if (!owner || strcmp(sh->owner, owner) == 0)
            n++;
    pthread_mutex_unlock(&m->lock);
    return n;
}

size_t shell__env_name_len(const char *e)
{
    const char *eq = strchr(e, '=');
    return eq ? (size_t)(eq - e) : 0;
}

/* The shell's env as one block: the pointer array, then the strings. */
static int copy_env(const char *const *env, char ***out)
{
    *out = NULL;
    if (!env || !env[0])
        return 0;
    size_t n = 0, bytes = 0;
    for (; env[n]; n++) {
        if (shell__env_name_len(env[n]) == 0)
            return -1;
        bytes += strlen(env[n]) + 1;
    }
    char **v = malloc((n + 1) * sizeof(char *) + bytes);
    if (!v)
        return -2;
    char *p = (char *)(v + n + 1);
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(env[i]) + 1;
        memcpy(p, env[i], l);
        v[i] = p;
        p += l;
    }
    v[n] = NULL;
    *out = v;
    return 0;
}

enum wsm_err shell_create(struct shell_mgr *m, const struct shell_owner *o,
                          const struct shell_opts *opts, char id[37])
{
    if (!m || !o || !o->name || !id || o->ngroups < 0 || (o->ngroups > 0 && !o->groups))
        return WSM_ERR_INVALID_ARG;
    const char *home = o->home && o->home[0] ? o->home : "/";
    const char *wd = opts && opts->workdir && opts->workdir[0] ? opts->workdir : home;
    if (opts && opts->workdir && opts->workdir[0]) {
        /* Checked as the owner (a child that switches and tries chdir),
         * not with a stat as root: /root must look exactly like a missing
         * one. The account's own home is not checked here (it costs a
         * clone per Create): a command's chdir reports it alike. */
        struct shell_spawn_req chk;
        memset(&chk, 0, sizeof(chk));
        chk.workdir = wd;
        chk.switch_user = o->switch_user;
        chk.uid = o->uid;
        chk.gid = o->gid;
        chk.groups = o->groups;
        chk.ngroups = o->ngroups;
        enum wsm_err ce = shell__proc_check_dir(o->name, &chk);
        if (ce != WSM_OK)
            return ce;
    }

    struct shell *sh = calloc(1, sizeof(*sh));
    if (!sh)
        return WSM_ERR_NOMEM;
    int er = copy_env(opts ? opts->env : NULL, &sh->env);
    if (er == -1) {
        free(sh);
        return WSM_ERR_INVALID_ARG;
    }
    sh->owner = shell__xstrdup(o->name);
    sh->home = shell__xstrdup(home);
    sh->shellvar = shell__xstrdup(o->shell && o->shell[0] ? o->shell : "/bin/sh");
    sh->workdir = shell__xstrdup(wd);
    sh->workdir_home = !(opts && opts->workdir && opts->workdir[0]);
    sh->switch_user = o->switch_user;
    sh->uid = o->uid;
    sh->gid = o->gid;
    sh->ngroups = o->ngroups;
    if (o->ngroups > 0) {
        sh->groups = malloc((size_t)o->ngroups * sizeof(gid_t));
        if (sh->groups)
            memcpy(sh->groups, o->groups, (size_t)o->ngroups * sizeof(gid_t));
    }
    if (er || !sh->owner || !sh->home || !sh->shellvar || !sh->workdir ||
        (o->ngroups > 0 && !sh->groups)) {
        shell__free_shell(m, sh);
        return WSM_ERR_NOMEM;
    }
    long idle = opts && opts->idle_timeout_ms > 0 ? opts->idle_timeout_ms : m->lim.idle_timeout_ms;
    if (m->lim.max_idle_timeout_ms > 0 && idle > m->lim.max_idle_timeout_ms)
        idle = m->lim.max_idle_timeout_ms;
    sh->idle_ms = sh->create_idle_ms = idle;
    sh->drop = opts && opts->buffer_drop;
    sh->streams = opts && opts->streams ? opts->streams : SHELL_STREAM_ALL;
    if (opts && ((opts->name && !(sh->name = strdup(opts->name))) ||
                 (opts->client_ip && !(sh->client_ip = strdup(opts->client_ip))) ||
                 (opts->locale && !(sh->locale = strdup(opts->locale))) ||
                 (opts->data_locale && !(sh->data_locale = strdup(opts->data_locale))))) {
        shell__free_shell(m, sh);
        return WSM_ERR_NOMEM;
    }
    if (opts && opts->id) {
        if (strlen(opts->id) != 36) {
            shell__free_shell(m, sh);
            return WSM_ERR_INVALID_ARG;
        }
        memcpy(sh->id, opts->id, 37);
    } else {
        wsm__uuid_str(sh->id);
    }
    if (wsmd__cg_active()) {
        /* pids.max: MaxProcessesPerShell counts processes, as Windows'
         * does; memory: the whole shell's, as MaxMemoryPerShellMB says. */
        char rel[64], own[37];
        /* A client's id is not known to be unique yet (nor may it name
         * another shell's group): its group gets an id of ours. */
        if (opts && opts->id)
            wsm__uuid_str(own);
        snprintf(rel, sizeof(rel), "shell-%s", opts && opts->id ? own : sh->id);
        sh->cg = wsmd__cg_create(rel, m->lim.max_processes_per_shell,
                                 (unsigned long long)m->lim.max_memory_per_shell_mb << 20);
        if (!sh->cg) {
            shell__free_shell(m, sh);
            return WSM_ERR_INTERNAL;
        }
    }

    enum wsm_err e;
    pthread_mutex_lock(&m->lock);
    unsigned n = 0;
    for (struct shell *s = m->shells; s; s = s->next)
        if (strcmp(s->owner, sh->owner) == 0)
            n++;
    if (opts && opts->id) {
        /* The client's id must be unique, whoever has the other shell. */
        for (struct shell *s = m->shells; s; s = s->next)
            if (strcasecmp(s->id, sh->id) == 0) {
                pthread_mutex_unlock(&m->lock);
                shell__free_shell(m, sh);
                return WSM_ERR_ALREADY_EXISTS;
            }
    }
    if (n >= m->lim.max_shells_per_user) {
        pthread_mutex_unlock(&m->lock);
        shell__free_shell(m, sh);
        return WSM_ERR_QUOTA;
    }
    if (n == 0 && shell__count_users(m) >= m->lim.max_concurrent_users) {
        /* MaxConcurrentUsers: users who have shells; one who has one
         * already is not a new user. */
        pthread_mutex_unlock(&m->lock);
        shell__free_shell(m, sh);
        return WSM_ERR_QUOTA_USERS;
    }
    struct budget_user *bu = shell__budget_user(&m->budget, sh->owner);
    if (bu && shell__budget_take(&m->budget, bu, SHELL_CHARGE) == 0) {
        sh->bu = bu;
    } else {
        /* Its budget is spent: no new shell before it reads. */
        e = bu ? WSM_ERR_QUOTA : WSM_ERR_NOMEM;
        shell__budget_put(&m->budget, bu);
        shell__free_shell(m, sh);
        pthread_mutex_unlock(&m->lock);
        return e;
    }
    shell__touch(m, sh);
    sh->created = sh->last_used;
    sh->next = m->shells;
    if (m->shells)
        m->shells->prev = sh;
    m->shells = sh;
    if (sh->idle_ms > 0)
        shell__arm(m, sh->last_used + sh->idle_ms);
    if (m->lim.max_shell_run_time_ms > 0)
        shell__arm(m, sh->created + m->lim.max_shell_run_time_ms);
    memcpy(id, sh->id, 37);
    pthread_mutex_unlock(&m->lock);
    return WSM_OK;
}

enum wsm_err shell_delete(struct shell_mgr *m, const char *owner, const char *shell_id)
{
    pthread_mutex_lock(&m->lock);
    struct shell *sh = shell__find_shell(m, owner, shell_id);
    if (!sh) {
        pthread_mutex_unlock(&m->lock);
        return WSM_ERR_NOT_FOUND;
    }
    struct cmd *sync = NULL;
    shell__teardown(m, sh, &sync);
    if (m->nfired)
        shell__poke(m); /* the I/O thread calls the wakes */
    pthread_mutex_unlock(&m->lock);
    shell__reap_sync(m, sync, shell_now_ms() + REAP_SYNC_MS, 1);
    return WSM_OK;
}
