/* The remote shell engine, commands: start one in a shell (environment,
 * pipes, cgroup), Send, Signal, waits for output, the owner's quotas and
 * output budget, and killing an owner's shells. */
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

/* ---- commands ---- */

/* The child's environment: the defaults, then the shell's entries
 * (replacing a default of the same name). One block. */
static char **build_env(const struct shell *sh)
{
    const char *def[6][2] = {
        {"HOME", sh->home},      {"USER", sh->owner},    {"LOGNAME", sh->owner},
        {"SHELL", sh->shellvar}, {"PATH", DEFAULT_PATH}, {"LANG", "C.UTF-8"},
    };
    size_t n = 6, bytes = 0;
    for (size_t i = 0; i < 6; i++)
        bytes += strlen(def[i][0]) + strlen(def[i][1]) + 2;
    for (size_t i = 0; sh->env && sh->env[i]; i++, n++)
        bytes += strlen(sh->env[i]) + 1;
    char **v = malloc((n + 1) * sizeof(char *) + bytes);
    if (!v)
        return NULL;
    char *p = (char *)(v + n + 1);
    size_t cnt = 0;
    for (size_t i = 0; i < 6; i++) {
        size_t a = strlen(def[i][0]), b = strlen(def[i][1]);
        v[cnt++] = p;
        memcpy(p, def[i][0], a);
        p[a] = '=';
        memcpy(p + a + 1, def[i][1], b + 1);
        p += a + b + 2;
    }
    for (size_t i = 0; sh->env && sh->env[i]; i++) {
        const char *e = sh->env[i];
        size_t l = strlen(e) + 1, nl = shell__env_name_len(e);
        memcpy(p, e, l);
        size_t j = 0;
        while (j < cnt && !(shell__env_name_len(v[j]) == nl && memcmp(v[j], e, nl) == 0))
            j++;
        v[j] = p;
        if (j == cnt)
            cnt++;
        p += l;
    }
    v[cnt] = NULL;
    return v;
}

/* Forgets the oldest finished commands past KEEP_FINISHED. */
static void prune(struct shell_mgr *m, struct shell *sh)
{
    struct cmd *c = sh->cmds;
    while (c && sh->ncmds > KEEP_FINISHED) {
        struct cmd *nx = c->next;
        /* Done, or its Done kept for a replay nobody asked for in 64
         * commands. */
        if ((c->done_told || (c->fl_kept && c->fl_done)) && c->reaped && c->nwaiters == 0 &&
            c->out[0].fd < 0 && c->out[1].fd < 0 && c->in_fd < 0 && !c->fl_token) {
            shell__unlink_cmd(&sh->cmds, &sh->cmds_tail, c);
            sh->ncmds--;
            shell__cmd_free(m, c);
        }
        c = nx;
    }
}

/* Has the shell a command of that id (ids compare in any case)? */
static int cmd_id_taken(const struct shell *sh, const char *id)
{
    for (const struct cmd *c = sh->cmds; c; c = c->next)
        if (strcasecmp(c->id, id) == 0)
            return 1;
    return 0;
}

enum wsm_err shell_command(struct shell_mgr *m, const char *owner, const char *shell_id,
                           const char *cmdline, char cmd_id[37])
{
    return shell_command_ex(m, owner, shell_id, cmdline, NULL, cmd_id);
}

enum wsm_err shell_command_ex(struct shell_mgr *m, const char *owner, const char *shell_id,
                              const char *cmdline, const struct shell_cmd_opts *o, char cmd_id[37])
{
    if (!cmdline || !cmd_id || (o && o->id && strlen(o->id) != 36))
        return WSM_ERR_INVALID_ARG;
    struct cmd *c = calloc(1, sizeof(*c));
    if (!c)
        return WSM_ERR_NOMEM;
    c->pidfd = c->in_fd = c->out[0].fd = c->out[1].fd = -1;
    if (o && o->id)
        memcpy(c->id, o->id, 37);
    else
        wsm__uuid_str(c->id);

    struct shell_spawn_req req;
    memset(&req, 0, sizeof(req));
    char *workdir = NULL;
    gid_t *groups = NULL;

    pthread_mutex_lock(&m->lock);
    struct shell *sh = shell__find_shell(m, owner, shell_id);
    enum wsm_err e = WSM_OK;
    if (!sh)
        e = WSM_ERR_NOT_FOUND;
    else if (sh->disconnected)
        e = WSM_ERR_INVALID_ARG; /* reconnect first */
    else if (o && o->id && cmd_id_taken(sh, o->id))
        e = WSM_ERR_ALREADY_EXISTS;
    else if (sh->running + sh->spawning >= m->lim.max_commands_per_shell)
        e = WSM_ERR_QUOTA_COMMANDS; /* MaxConcurrentCommandsPerShell */
    else if (sh->cg && wsmd__cg_has_pids()
                 ? wsmd__cg_pids_full(sh->cg)
                 : sh->running + sh->spawning >= m->lim.max_processes_per_shell)
        e = WSM_ERR_QUOTA; /* processes with a pids cgroup, else commands */
    else if (shell__budget_take(&m->budget, sh->bu, CMD_CHARGE) < 0)
        e = WSM_ERR_QUOTA; /* its budget is spent: read first */
    else {
        c->bu = sh->bu; /* the charge and a reference, given back by cmd_free */
        c->bu->refs++;
    }
    int cg_fds[WSMD_CG_MAXH];
    int ncg = e ? 0 : wsmd__cg_open_procs(sh->cg, cg_fds);
    if (ncg < 0)
        e = WSM_ERR_INTERNAL;
    if (e) {
        if (sh)
            shell__touch(m, sh);
        pthread_mutex_unlock(&m->lock);
        free(c);
        return e;
    }
    shell__touch(m, sh);
    /* Copies: the shell may go while we spawn without the lock. */
    char **envp = build_env(sh);
    workdir = strdup(sh->workdir);
    if (sh->ngroups > 0) {
        groups = malloc((size_t)sh->ngroups * sizeof(gid_t));
        if (groups)
            memcpy(groups, sh->groups, (size_t)sh->ngroups * sizeof(gid_t));
    }
    if (!envp || !workdir || (sh->ngroups > 0 && !groups)) {
        shell__cmd_free(m, c);
        pthread_mutex_unlock(&m->lock);
        wsmd__cg_close_fds(cg_fds, ncg);
        free(envp);
        free(workdir);
        free(groups);
        return WSM_ERR_NOMEM;
    }
    req.cmdline = cmdline;
    req.envp = envp;
    req.workdir = workdir;
    req.switch_user = sh->switch_user;
    req.uid = sh->uid;
    req.gid = sh->gid;
    req.groups = groups;
    req.ngroups = sh->ngroups;
    req.mem_limit = (unsigned long long)m->lim.max_memory_per_shell_mb << 20;
    req.pipe_size = PIPE_SIZE;
    req.cg_fds = cg_fds;
    req.ncg = ncg;
    req.cg_name = wsmd__cg_name(sh->cg);
    if (o && o->console)
        req.flags |= SHELL_SPAWN_TTY;
    if (o && o->skip_shell)
        req.flags |= SHELL_SPAWN_ARGV;
    if (sh->workdir_home)
        req.flags |= SHELL_SPAWN_HOME;
    unsigned streams = sh->streams;
    /* No pids cgroup: RLIMIT_NPROC is per uid (all the user's processes,
     * in every shell and outside), so only all shells' worth can be set. */
    if (!wsmd__cg_has_pids() && sh->switch_user && sh->uid != 0)
        req.nproc = (unsigned long)m->lim.max_processes_per_shell * m->lim.max_shells_per_user;
    sh->spawning++;
    pthread_mutex_unlock(&m->lock);

    struct shell_spawn_res res;
    e = shell__proc_spawn(owner, &req, &res);
    wsmd__cg_close_fds(cg_fds, ncg);
    free(envp);
    free(workdir);
    free(groups);

    pthread_mutex_lock(&m->lock);
    sh = shell__find_shell(m, owner, shell_id);
    if (sh)
        sh->spawning--;
    if (e != WSM_OK) {
        shell__cmd_free(m, c);
        pthread_mutex_unlock(&m->lock);
        return e;
    }
    c->pid = res.pid;
    c->pidfd = res.pidfd;
    c->in_fd = res.in_fd;
    c->out[0].fd = res.out_fd;
    c->out[1].fd = res.err_fd;
    c->tty = o && o->console;
    c->out[0].muted = !(streams & SHELL_STREAM_STDOUT);
    c->out[1].muted = !(streams & SHELL_STREAM_STDERR);
    if (!sh) {
        e = WSM_ERR_NOT_FOUND; /* deleted meanwhile */
    } else if (o && o->id && cmd_id_taken(sh, o->id)) {
        e = WSM_ERR_ALREADY_EXISTS; /* the same id twice at once */
    } else if (shell__ep_add(m, c->out[0].fd, EPOLLIN, c, K_OUT) < 0 ||
               shell__ep_add(m, c->out[1].fd, EPOLLIN, c, K_ERR) < 0 ||
               shell__ep_add(m, c->pidfd, EPOLLIN, c, K_PID) < 0) {
        shell__ep_del(m, c->out[0].fd);
        shell__ep_del(m, c->out[1].fd);
        shell__ep_del(m, c->pidfd);
        e = WSM_ERR_INTERNAL;
    }
    if (e != WSM_OK) {
        pthread_mutex_unlock(&m->lock);
        shell__proc_kill_reap(c->pid, c->pidfd);
        pthread_mutex_lock(&m->lock); /* cmd_free gives back its budget */
        shell__cmd_free(m, c);
        pthread_mutex_unlock(&m->lock);
        return e;
    }
    c->pid_watched = 1;
    c->sh = sh;
    c->started = shell_now_ms();
    c->fl_seq = -1;
    c->prev = sh->cmds_tail;
    if (sh->cmds_tail)
        sh->cmds_tail->next = c;
    else
        sh->cmds = c;
    sh->cmds_tail = c;
    sh->ncmds++;
    sh->running++;
    shell__touch(m, sh);
    memcpy(cmd_id, c->id, 37);
    prune(m, sh);
    pthread_mutex_unlock(&m->lock);
    return WSM_OK;
}

/* Finds the shell and command under the lock and marks the shell used. */
static struct cmd *lookup(struct shell_mgr *m, const char *owner, const char *shell_id,
                          const char *cmd_id)
{
    struct shell *sh = shell__find_shell(m, owner, shell_id);
    if (!sh)
        return NULL;
    shell__touch(m, sh);
    return shell__find_cmd(sh, cmd_id);
}

struct cmd *shell__lookup(struct shell_mgr *m, const char *owner, const char *shell_id,
                          const char *cmd_id)
{
    return lookup(m, owner, shell_id, cmd_id);
}

enum wsm_err shell_send(struct shell_mgr *m, const char *owner, const char *shell_id,
                        const char *cmd_id, const void *data, size_t len, int end)
{
    if (len && !data)
        return WSM_ERR_INVALID_ARG;
    pthread_mutex_lock(&m->lock);
    enum wsm_err e = WSM_OK;
    struct cmd *c = shell__lookup_live(m, owner, shell_id, cmd_id, &e);
    if (!c) {
        /* e says why */
    } else if (c->sh && !(c->sh->streams & SHELL_STREAM_STDIN)) {
        e = WSM_ERR_INVALID_ARG; /* the Create named no stdin */
    } else if (c->in_fd < 0 || c->in_end || c->exited) {
        /* The process is gone or its stdin is closed: discarded, as
         * Windows does. */
    } else if (len > m->lim.stream_cap - c->in.len) {
        e = WSM_ERR_QUOTA;
    } else if (len && !c->in.buf && shell__ring_alloc(m, c, &c->in, 0) < 0) {
        e = WSM_ERR_QUOTA; /* the output budget is spent */
    } else {
        shell__ring_put(&c->in, m->lim.stream_cap, data, len);
        if (end)
            c->in_end = 1;
        if (c->in.len == 0 && c->in_end) {
            shell__stdin_end(m, c);
        } else if (c->in.len > 0 && !c->in_watched) {
            /* The I/O thread writes when the pipe takes it. */
            if (shell__ep_add(m, c->in_fd, EPOLLOUT, c, K_IN) == 0)
                c->in_watched = 1;
            else
                e = WSM_ERR_INTERNAL;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return e;
}

enum wsm_err shell_signal(struct shell_mgr *m, const char *owner, const char *shell_id,
                          const char *cmd_id, enum shell_signal sig)
{
    pthread_mutex_lock(&m->lock);
    enum wsm_err e = WSM_OK;
    struct cmd *c = shell__lookup_live(m, owner, shell_id, cmd_id, &e);
    if (!c) {
        /* e says why */
    } else if (sig != SHELL_SIG_TERMINATE && sig != SHELL_SIG_CTRL_C &&
               sig != SHELL_SIG_CTRL_BREAK) {
        e = WSM_ERR_INVALID_ARG;
    } else {
        /* A client that signals the command has seen the output it
         * wanted (winrs sends terminate after Done): a reply kept for a
         * replay is confirmed, its bytes leave the budget. */
        shell__confirm_kept(m, c);
    }
    if (!e && !c->reaped) {
        /* Not reaped: the pid still names our process group. */
        switch (sig) {
        case SHELL_SIG_TERMINATE:
            shell__proc_kill(c->pid, SIGTERM);
            shell__stdin_close(m, c);
            if (!c->kill_at) {
                c->kill_at = shell_now_ms() + GRACE_MS;
                shell__arm(m, c->kill_at);
            }
            break;
        case SHELL_SIG_CTRL_C:
            shell__proc_kill(c->pid, SIGINT);
            break;
        case SHELL_SIG_CTRL_BREAK:
            shell__proc_kill(c->pid, SIGQUIT);
            break;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return e;
}

enum wsm_err shell_wait(struct shell_mgr *m, const char *owner, const char *shell_id,
                        const char *cmd_id, long long deadline_ms, void (*wake)(void *), void *arg,
                        unsigned long *token)
{
    if (!wake)
        return WSM_ERR_INVALID_ARG;
    struct waiter *w = calloc(1, sizeof(*w));
    if (!w)
        return WSM_ERR_NOMEM;
    pthread_mutex_lock(&m->lock);
    enum wsm_err le = WSM_OK;
    struct cmd *c = shell__lookup_live(m, owner, shell_id, cmd_id, &le);
    if (!c) {
        pthread_mutex_unlock(&m->lock);
        free(w);
        return le;
    }
    unsigned long tok = ++m->next_token;
    if (token)
        *token = tok;
    if (shell__cmd_ready(c) || deadline_ms <= shell_now_ms()) {
        /* Already true: wake now, here (the token cancels nothing). */
        pthread_mutex_unlock(&m->lock);
        free(w);
        wake(arg);
        return WSM_OK;
    }
    shell__want(m, c);
    w->c = c;
    w->token = tok;
    w->deadline = deadline_ms;
    w->wake = wake;
    w->arg = arg;
    w->next = m->waiters;
    if (m->waiters)
        m->waiters->prev = w;
    m->waiters = w;
    c->nwaiters++;
    c->sh->nwaiters++;
    shell__arm(m, deadline_ms);
    pthread_mutex_unlock(&m->lock);
    return WSM_OK;
}

int shell_wait_cancel(struct shell_mgr *m, unsigned long token)
{
    int r = 0;
    pthread_mutex_lock(&m->lock);
    for (struct waiter *w = m->waiters; w; w = w->next) {
        if (w->token != token)
            continue;
        /* Fired but not yet called still counts as before wake ran. */
        if (w->fired)
            m->nfired--;
        else
            shell__waiter_detach(m, w);
        shell__waiter_unlink(m, w);
        free(w);
        r = 1;
        break;
    }
    pthread_mutex_unlock(&m->lock);
    return r;
}

void shell_mgr_set_end_hook(struct shell_mgr *m, shell_end_hook hook)
{
    pthread_mutex_lock(&m->lock);
    m->end_hook = hook;
    pthread_mutex_unlock(&m->lock);
}

void shell_mgr_set_quotas(struct shell_mgr *m, const struct shell_limits *lim)
{
    /* The quotas a new shell or command is checked against; what runs
     * keeps the limits it started with (its cgroup, its RLIMIT_AS). */
    pthread_mutex_lock(&m->lock);
    m->lim.max_shells_per_user = lim->max_shells_per_user;
    m->lim.max_processes_per_shell = lim->max_processes_per_shell;
    m->lim.idle_timeout_ms = lim->idle_timeout_ms;
    m->lim.max_memory_per_shell_mb = lim->max_memory_per_shell_mb;
    m->lim.max_concurrent_users = lim->max_concurrent_users;
    m->lim.max_commands_per_shell = lim->max_commands_per_shell;
    if (lim->max_shell_run_time_ms != m->lim.max_shell_run_time_ms) {
        m->lim.max_shell_run_time_ms = lim->max_shell_run_time_ms;
        shell__arm(m, shell_now_ms()); /* shorter: shells past it go now */
    }
    pthread_mutex_unlock(&m->lock);
}

static struct budget_user *budget_of(struct shell_mgr *m, const char *owner)
{
    for (struct budget_user *u = m->budget.users; u; u = u->next)
        if (strcmp(u->name, owner) == 0)
            return u;
    return NULL;
}

int shell_over_budget(struct shell_mgr *m, const char *owner, int stream)
{
    pthread_mutex_lock(&m->lock);
    int r = !shell__budget_room(&m->budget, owner ? budget_of(m, owner) : NULL,
                                stream ? m->lim.stream_cap : CMD_CHARGE);
    pthread_mutex_unlock(&m->lock);
    return r;
}

size_t shell_buffered(struct shell_mgr *m, const char *owner)
{
    pthread_mutex_lock(&m->lock);
    struct budget_user *u = owner ? budget_of(m, owner) : NULL;
    size_t n = owner ? (u ? u->used : 0) : m->budget.used;
    pthread_mutex_unlock(&m->lock);
    return n;
}

enum wsm_err shell_kill_owner(struct shell_mgr *m, const char *owner, unsigned *count)
{
    if (count)
        *count = 0;
    if (!m || !owner)
        return WSM_ERR_INVALID_ARG;
    unsigned n = 0;
    struct cmd *sync = NULL;
    pthread_mutex_lock(&m->lock);
    struct shell *sh = m->shells;
    while (sh) {
        struct shell *nx = sh->next;
        if (strcmp(sh->owner, owner) == 0) {
            shell__teardown(m, sh, &sync);
            n++;
        }
        sh = nx;
    }
    if (m->nfired)
        shell__poke(m);
    pthread_mutex_unlock(&m->lock);
    /* As shell_delete: the killed children are reaped before we return. */
    shell__reap_sync(m, sync, shell_now_ms() + REAP_SYNC_MS, 1);
    if (count)
        *count = n;
    return WSM_OK;
}
