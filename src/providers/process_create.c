/* Win32_Process.Create: a detached "/bin/sh -c" run as the caller,
 * double-forked, counted and limited by a cgroup per user
 * (docs/internals/providers-process-service.md, docs/internals/cgroups.md). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "cim.h"
#include "process_priv.h"

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

enum { ST_PID = 1, ST_FDS, ST_IDS, ST_CHDIR, ST_FORK, ST_EXEC, ST_CGROUP, ST_RLIMIT };

struct report {
    int stage;
    int err;
    pid_t pid;
};

/* What the children read: all prepared before fork, so that they make
 * only async-signal-safe calls (the daemon has threads). */
struct child_ctx {
    const struct cim_ctx *ctx;
    const char *cwd;
    char *const *envp;
    int devnull, rep;
    unsigned maxfd;
    struct sigaction dfl;
    sigset_t empty;
    char *argv[4];
    int cg_fds[WSMD_CG_MAXH]; /* cgroup.procs of the process's group */
    int ncg;
    int set_as, set_nproc;
    struct rlimit as, nproc;
};

__attribute__((noreturn)) static void child_fail(const struct child_ctx *c, int stage, int err)
{
    struct report r;
    memset(&r, 0, sizeof(r));
    r.stage = stage;
    r.err = err;
    ssize_t n = write(c->rep, &r, sizeof(r));
    (void)n;
    _exit(127);
}

static void close_from(unsigned first, unsigned last, unsigned maxfd)
{
    if (first > last)
        return;
    if (close_range(first, last, 0) == 0)
        return;
    for (unsigned fd = first; fd <= last && fd < maxfd; fd++)
        close((int)fd);
}

/* The command: its cgroup (joined as root, so that the user cannot have
 * chosen it), limits, the caller's credentials and directory, a session
 * of its own. Only this process joins the group: the intermediate one
 * does not take a slot of the user's process count. */
__attribute__((noreturn)) static void command_main(const struct child_ctx *c)
{
    const struct cim_ctx *x = c->ctx;
    for (int i = 0; i < c->ncg; i++)
        if (write(c->cg_fds[i], "0", 1) != 1)
            child_fail(c, ST_CGROUP, errno);
    for (int i = 0; i < c->ncg; i++)
        close(c->cg_fds[i]);
    if (c->set_as && setrlimit(RLIMIT_AS, &c->as) < 0)
        child_fail(c, ST_RLIMIT, errno);
    if (x->switch_user) {
        if (setresgid(x->gid, x->gid, x->gid) < 0)
            child_fail(c, ST_IDS, errno);
        if (setgroups((size_t)(x->ngroups > 0 ? x->ngroups : 0), x->groups) < 0)
            child_fail(c, ST_IDS, errno);
        if (setresuid(x->uid, x->uid, x->uid) < 0)
            child_fail(c, ST_IDS, errno);
        if (x->uid != 0) {
            if (setuid(0) == 0)
                child_fail(c, ST_IDS, EPERM);
            uid_t ru, eu, su;
            if (getresuid(&ru, &eu, &su) < 0 || ru != x->uid || eu != x->uid || su != x->uid)
                child_fail(c, ST_IDS, EPERM);
        }
    }
    /* No pids cgroup: the per-uid count is what the kernel has. */
    if (c->set_nproc && setrlimit(RLIMIT_NPROC, &c->nproc) < 0)
        child_fail(c, ST_RLIMIT, errno);
    /* After the switch: the directory as the caller sees it. */
    if (chdir(c->cwd) < 0)
        child_fail(c, ST_CHDIR, errno);
    /* A session of its own: no terminal, and -pid is its group. */
    if (setsid() < 0)
        child_fail(c, ST_FDS, errno);
    sigprocmask(SIG_SETMASK, &c->empty, NULL);
    execve("/bin/sh", c->argv, c->envp);
    child_fail(c, ST_EXEC, errno);
}

/* The intermediate child: stdio on /dev/null, no other fd but the report
 * pipe and the cgroup fds; it forks the command and exits at once, so
 * that init (or a subreaper) adopts and reaps it. */
__attribute__((noreturn)) static void child_main(const struct child_ctx *c)
{
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &c->dfl, NULL);
    if (dup2(c->devnull, 0) < 0 || dup2(c->devnull, 1) < 0 || dup2(c->devnull, 2) < 0)
        child_fail(c, ST_FDS, errno);
    /* Everything else goes but the report pipe and the cgroup fds (all
     * close-on-exec). */
    int keep[WSMD_CG_MAXH + 1];
    int nk = 0;
    keep[nk++] = c->rep;
    for (int i = 0; i < c->ncg; i++)
        keep[nk++] = c->cg_fds[i];
    for (int i = 1; i < nk; i++) /* sorted: few, insertion sort */
        for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    unsigned from = 3;
    for (int i = 0; i < nk; i++) {
        if ((unsigned)keep[i] > from)
            close_from(from, (unsigned)keep[i] - 1, c->maxfd);
        from = (unsigned)keep[i] + 1;
    }
    close_from(from, ~0U, c->maxfd);

    /* _Fork: no atfork handlers, async-signal-safe. */
    pid_t g = _Fork();
    if (g < 0)
        child_fail(c, ST_FORK, errno);
    if (g == 0)
        command_main(c);
    struct report r;
    memset(&r, 0, sizeof(r));
    r.stage = ST_PID;
    r.pid = g;
    ssize_t n = write(c->rep, &r, sizeof(r));
    _exit(n == (ssize_t)sizeof(r) ? 0 : 1);
}

/* An fd above 2, close-on-exec (dup2 onto 0-2 must not hit it). */
static int above2(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return n;
}

/* HOME, USER, LOGNAME, SHELL, PATH, LANG, as the shell engine gives. */
static char **build_env(const struct cim_ctx *ctx, const char *home)
{
    const char *user = ctx->user ? ctx->user : "";
    const char *def[6][2] = {
        {"HOME", home},       {"USER", user},         {"LOGNAME", user},
        {"SHELL", "/bin/sh"}, {"PATH", DEFAULT_PATH}, {"LANG", "C.UTF-8"},
    };
    size_t bytes = 0;
    for (size_t i = 0; i < 6; i++)
        bytes += strlen(def[i][0]) + strlen(def[i][1]) + 2;
    char **v = malloc(7 * sizeof(char *) + bytes);
    if (!v)
        return NULL;
    char *p = (char *)(v + 7);
    for (size_t i = 0; i < 6; i++) {
        v[i] = p;
        p += sprintf(p, "%s=%s", def[i][0], def[i][1]) + 1;
    }
    v[6] = NULL;
    return v;
}

static unsigned errno_rv(int stage, int err)
{
    if (stage == ST_CHDIR || stage == ST_EXEC) {
        if (err == ENOENT || err == ENOTDIR || err == ELOOP || err == ENAMETOOLONG)
            return RV_PATH_NOT_FOUND;
        if (err == EACCES || err == EPERM)
            return RV_ACCESS_DENIED;
    }
    return RV_UNKNOWN;
}

/* dash does not exec the last command of "sh -c": "sleep 30" would give
 * the pid of a shell waiting for sleep, and Terminate would kill the shell
 * and leave the command running. A command line that is one simple
 * command of an external program runs as "exec CMD", so the pid is the
 * program's. Anything else (lists, pipelines, compound commands,
 * assignments, builtins, quoting in the first word) runs as given. */
static int exec_is_safe(const char *cmd)
{
    if (strpbrk(cmd, ";&|()`\n\r"))
        return 0;
    size_t n =
        strspn(cmd, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./+,:@%-");
    if (n == 0 || n > 255 || (cmd[n] && cmd[n] != ' ' && cmd[n] != '\t'))
        return 0;
    char word[256];
    memcpy(word, cmd, n);
    word[n] = '\0';
    if (strchr(word, '/'))
        return 1; /* a path: the shell runs it, or fails alike either way */
    /* Found on the PATH the command gets: not a builtin-only name. */
    const char *dirs[] = {"/usr/local/bin", "/usr/bin", "/bin"};
    for (size_t i = 0; i < 3; i++) {
        char path[300];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dirs[i], word);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            return 1;
    }
    return 0;
}

/* One Create at a time: the count check and the join are one step. */
static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long create_seq;

/* The caller's group (user-<uid>, pids.max = MaxProcessesPerUser) and,
 * with a memory controller, one below it for this process (memory limit
 * of its own); fds to join them. RV_QUOTA_FAULT when the user already has
 * MaxProcessesPerUser processes there. Without cgroups: RLIMIT_NPROC. */
static unsigned create_limits(const struct cim_ctx *ctx, struct child_ctx *c)
{
    const struct wsmd_create_limits *lim = &wsmd__create_limits;
    uid_t uid = ctx->switch_user ? ctx->uid : geteuid();
    if (lim->max_memory_mb) {
        c->set_as = 1;
        c->as.rlim_cur = c->as.rlim_max = (rlim_t)lim->max_memory_mb << 20;
        struct rlimit cur;
        if (getrlimit(RLIMIT_AS, &cur) == 0 && cur.rlim_max != RLIM_INFINITY &&
            cur.rlim_max < c->as.rlim_max)
            c->as.rlim_cur = c->as.rlim_max = cur.rlim_max;
    }
    if (!wsmd__cg_has_pids() && lim->max_processes_per_user && ctx->switch_user && uid != 0) {
        c->set_nproc = 1;
        c->nproc.rlim_cur = c->nproc.rlim_max = lim->max_processes_per_user;
    }
    if (!wsmd__cg_active())
        return RV_OK;
    char rel[64];
    snprintf(rel, sizeof(rel), "user-%u", (unsigned)uid);
    struct wsmd_cg *ug = wsmd__cg_create(rel, lim->max_processes_per_user, 0);
    if (!ug)
        return RV_UNKNOWN;
    if (wsmd__cg_pids_full(ug)) {
        wsmd__cg_release(ug, 0);
        return RV_QUOTA_FAULT;
    }
    struct wsmd_cg *pg = NULL;
    if (wsmd__cg_has_memory() && lim->max_memory_mb) {
        wsmd__cg_prune(rel); /* groups of processes that ended */
        char prel[96];
        snprintf(prel, sizeof(prel), "%s/p-%lu", rel, ++create_seq);
        pg = wsmd__cg_create(prel, 0, (unsigned long long)lim->max_memory_mb << 20);
        if (!pg) {
            wsmd__cg_release(ug, 0);
            return RV_UNKNOWN;
        }
    }
    c->ncg = wsmd__cg_open_procs(pg ? pg : ug, c->cg_fds);
    /* The directories stay while processes are in them; empty ones go at
     * a later Create (prune) or when the daemon stops. */
    wsmd__cg_release(pg, 0);
    wsmd__cg_release(ug, 0);
    if (c->ncg < 0) {
        c->ncg = 0;
        return RV_UNKNOWN;
    }
    return RV_OK;
}

unsigned wsmd__proc_spawn_detached(const struct cim_ctx *ctx, const char *cmd, const char *cwd,
                                   pid_t *pid_out)
{
    const char *home = ctx->home && ctx->home[0] ? ctx->home : "/";
    unsigned rv = RV_UNKNOWN;
    int rep[2] = {-1, -1};
    struct child_ctx c;
    memset(&c, 0, sizeof(c));
    char **envp = build_env(ctx, home);
    char *line = NULL;
    if (exec_is_safe(cmd) && asprintf(&line, "exec %s", cmd) < 0)
        line = NULL;
    int devnull = above2(open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!envp || devnull < 0 || pipe2(rep, O_CLOEXEC) < 0)
        goto out;
    rep[0] = above2(rep[0]);
    rep[1] = above2(rep[1]);
    if (rep[0] < 0 || rep[1] < 0)
        goto out;

    c.ctx = ctx;
    c.cwd = cwd && cwd[0] ? cwd : home;
    c.envp = envp;
    c.devnull = devnull;
    c.rep = rep[1];
    c.maxfd = 65536;
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY &&
        nofile.rlim_cur < (rlim_t)(1u << 30))
        c.maxfd = (unsigned)nofile.rlim_cur;
    c.dfl.sa_handler = SIG_DFL;
    sigemptyset(&c.dfl.sa_mask);
    sigemptyset(&c.empty);
    c.argv[0] = (char *)"sh";
    c.argv[1] = (char *)"-c";
    c.argv[2] = line ? line : (char *)cmd;
    c.argv[3] = NULL;

    pthread_mutex_lock(&create_lock);
    rv = create_limits(ctx, &c);
    if (rv != RV_OK) {
        pthread_mutex_unlock(&create_lock);
        goto out;
    }
    rv = RV_UNKNOWN;

    /* No signal handler of the daemon may run in the children. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t mid = fork();
    if (mid == 0)
        child_main(&c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    wsmd__cg_close_fds(c.cg_fds, c.ncg);
    if (mid < 0) {
        pthread_mutex_unlock(&create_lock);
        goto out;
    }
    close(rep[1]);
    rep[1] = -1;

    /* Until EOF: the intermediate child writes the pid and exits; the
     * command's copy of the pipe closes at exec, or it reports why not. */
    pid_t gpid = 0;
    int fail_stage = 0, fail_err = 0;
    for (;;) {
        struct report r;
        ssize_t n = read(rep[0], &r, sizeof(r));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (n != (ssize_t)sizeof(r)) {
            fail_stage = ST_FDS;
            break;
        }
        if (r.stage == ST_PID)
            gpid = r.pid;
        else if (!fail_stage) {
            fail_stage = r.stage;
            fail_err = r.err;
        }
    }
    int status = 0;
    while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
        ;
    pthread_mutex_unlock(&create_lock);
    if (fail_stage)
        rv = errno_rv(fail_stage, fail_err);
    else if (gpid > 0) {
        rv = RV_OK;
        *pid_out = gpid;
    }

out:
    free(envp);
    free(line);
    if (devnull >= 0)
        close(devnull);
    if (rep[0] >= 0)
        close(rep[0]);
    if (rep[1] >= 0)
        close(rep[1]);
    return rv;
}
