/* The privileged monitor (privsep.h, docs/internals/privsep.md): a fixed
 * table of requests from the unprivileged network process, each decoded
 * strictly and checked against what the monitor itself knows (who has
 * authenticated, which processes it started), never against what the
 * request claims. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "authz.h"
#include "certauth.h"
#include "cfgfile.h"
#include "cfgset.h"
#include "cfglisten.h"
#ifdef WSMD_HAVE_CIM
#include "cim.h"
#include "ipmi.h"
#endif
#include "cgroup.h"
#include "engine_internal.h"
#include "monitor_priv.h"
#include "negotiate.h"
#include "privsep.h"
#include "pswire.h"
#include "reload.h"
#include "server.h"
#include "userfile.h"

#define MAX_CHILDREN 4096 /* processes started and not yet released */
#define MAX_NEGO 4096     /* handshakes in progress */
#define MAX_AUTHED 4096   /* names that authenticated (see authed_add) */
#define MAX_ENV 512
#define MAX_CMDLINE (64 * 1024)
#define MAX_HEADER (120 * 1024)
#define MAX_GROUPS 256

struct child {
    pid_t pid; /* 0: free slot */
    int pidfd;
    int status_wr; /* -1 once the status was written */
    int exited;
    uid_t uid;
    char user[WSMD_MAX_USER]; /* started for this authenticated name */
};

struct nego_slot {
    uint64_t id;
    struct wsmd_nego_conn *c;
    unsigned long stamp;
};

struct monitor {
    struct wsmd_server *srv;
    pthread_mutex_t lock;
    struct child children[MAX_CHILDREN];
    size_t nchildren;
    int epfd; /* the pidfds of children that have not exited */
    struct nego_slot nego[MAX_NEGO];
    unsigned long stamp;
    /* Names that authenticated during this network process's life: only
     * they may have commands started as them. A ring: the oldest name is
     * forgotten first. */
    char *authed[MAX_AUTHED];
    size_t authed_next;
    unsigned long refused; /* requests refused as malformed or unknown */
    pid_t network;         /* the network process (not to be terminated) */
};

static struct monitor mon = {.lock = PTHREAD_MUTEX_INITIALIZER, .epfd = -1};

/* Refusals are logged, at most 20 lines a second: a subverted network
 * process could send nothing else. */
static struct wsmd_lograte refusals = WSMD_LOGRATE_INIT;
#define refusal_log(...) wsmd__log_limited(&refusals, 20, __VA_ARGS__)

/* ---- who has authenticated ---------------------------------------------- */

static int authed_has(const char *user)
{
    for (size_t i = 0; i < MAX_AUTHED; i++)
        if (mon.authed[i] && strcmp(mon.authed[i], user) == 0)
            return 1;
    return 0;
}

int wsmd__monitor_authed(const char *user)
{
    pthread_mutex_lock(&mon.lock);
    int r = authed_has(user);
    pthread_mutex_unlock(&mon.lock);
    return r;
}

static void authed_add(const char *user)
{
    if (!user[0])
        return; /* a principal with no local account (collector): no right here */
    pthread_mutex_lock(&mon.lock);
    if (!authed_has(user)) {
        char *dup = strdup(user);
        if (dup) {
            free(mon.authed[mon.authed_next]);
            mon.authed[mon.authed_next] = dup;
            mon.authed_next = (mon.authed_next + 1) % MAX_AUTHED;
        }
    }
    pthread_mutex_unlock(&mon.lock);
}

static void authed_clear(void)
{
    pthread_mutex_lock(&mon.lock);
    for (size_t i = 0; i < MAX_AUTHED; i++) {
        free(mon.authed[i]);
        mon.authed[i] = NULL;
    }
    mon.authed_next = 0;
    pthread_mutex_unlock(&mon.lock);
}

/* uid 0 only with AllowRoot. -1: no such account. */
static int account_allowed(const char *user, struct passwd *pw, char *buf, size_t n)
{
    struct passwd *res = NULL;
    if (getpwnam_r(user, pw, buf, n, &res) != 0 || !res)
        return -1;
    return pw->pw_uid != 0 || mon.srv->cfg.allow_root;
}

/* ---- requests ------------------------------------------------------------ */

static enum wsm_err req_auth_password(struct ps_msg *q, struct ps_msg *a)
{
    const char *user = ps_get_str(q, WSMD_MAX_USER - 1);
    const char *pass = ps_get_str(q, WSMD_MAX_PASSWORD - 1);
    if (!ps_end(q))
        return WSM_ERR_INVALID_ARG;
    (void)a;
    if (!mon.srv || !mon.srv->auth)
        return WSM_ERR_UNSUPPORTED_FEATURE;
    const char *why = "bad-password";
    enum wsm_err e = wsmd__auth_verify(mon.srv->auth, user, pass, &why);
    if (e == WSM_OK)
        authed_add(user);
    /* A refusal says why (the network process logs it). */
    static const char *const reasons[] = {"bad-password", "unknown-user", "malformed",
                                          "uid0-without-AllowRoot"};
    uint32_t r = 0;
    for (uint32_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (why && strcmp(why, reasons[i]) == 0)
            r = i;
    ps_put_u32(a, r);
    return e;
}

static struct nego_slot *nego_find(uint64_t id, int create)
{
    struct nego_slot *free_slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < MAX_NEGO; i++) {
        struct nego_slot *s = &mon.nego[i];
        if (s->c && s->id == id)
            return s;
        if (!s->c && !free_slot)
            free_slot = s;
        if (s->c && (!oldest || s->stamp < oldest->stamp))
            oldest = s;
    }
    if (!create)
        return NULL;
    if (!free_slot) {
        /* Full of handshakes that never finished: the oldest goes. */
        wsmd__nego_conn_free(oldest->c);
        oldest->c = NULL;
        free_slot = oldest;
    }
    free_slot->c = wsmd__nego_conn_new(mon.srv->nego);
    if (!free_slot->c)
        return NULL;
    free_slot->id = id;
    return free_slot;
}

static void nego_drop(struct nego_slot *s)
{
    wsmd__nego_conn_free(s->c);
    s->c = NULL;
    s->id = 0;
}

static enum wsm_err req_nego_step(struct ps_msg *q, struct ps_msg *a)
{
    uint64_t id = ps_get_u64(q);
    uint32_t tls = ps_get_u32(q);
    const char *authz = ps_get_str(q, MAX_HEADER);
    if (!ps_end(q) || id == 0 || tls > 1)
        return WSM_ERR_INVALID_ARG;
    if (!mon.srv || !mon.srv->nego)
        return WSM_ERR_UNSUPPORTED_FEATURE;
    /* The handshakes are kept under the lock: gss contexts are used by one
     * thread at a time, and legs of one connection never overlap. */
    pthread_mutex_lock(&mon.lock);
    struct nego_slot *s = nego_find(id, 1);
    if (!s) {
        pthread_mutex_unlock(&mon.lock);
        return WSM_ERR_NOMEM;
    }
    s->stamp = ++mon.stamp;
    struct wsmd_nego_conn *c = s->c;
    /* Taken out of the table while the leg runs (GSSAPI can be slow). */
    s->c = NULL;
    pthread_mutex_unlock(&mon.lock);

    if (tls)
        wsmd__nego_conn_set_tls(c);
    char *www = NULL;
    int done = 0;
    enum wsm_err e = wsmd__nego_step(c, authz, &www, &done);
    unsigned char *ctx = NULL;
    size_t ctx_len = 0;
    if (e == WSM_OK && done) {
        e = wsmd__nego_export(c, &ctx, &ctx_len);
        if (e == WSM_OK)
            authed_add(wsmd__nego_user_of_export(ctx, ctx_len)); /* "" ignored */
    }
    pthread_mutex_lock(&mon.lock);
    struct nego_slot *back = NULL;
    if (e == WSM_OK && !done) {
        for (size_t i = 0; i < MAX_NEGO && !back; i++)
            if (!mon.nego[i].c)
                back = &mon.nego[i];
    }
    if (back) {
        back->c = c;
        back->id = id;
        back->stamp = ++mon.stamp;
        c = NULL;
    }
    pthread_mutex_unlock(&mon.lock);
    wsmd__nego_conn_free(c);
    ps_put_u32(a, (uint32_t)done);
    ps_put_str(a, www);
    ps_put_blob(a, ctx, ctx_len);
    free(www);
    if (ctx) {
        explicit_bzero(ctx, ctx_len);
        free(ctx);
    }
    return e;
}

static enum wsm_err req_nego_free(struct ps_msg *q, struct ps_msg *a)
{
    (void)a;
    uint64_t id = ps_get_u64(q);
    if (!ps_end(q) || id == 0)
        return WSM_ERR_INVALID_ARG;
    pthread_mutex_lock(&mon.lock);
    struct nego_slot *s = nego_find(id, 0);
    if (s)
        nego_drop(s);
    pthread_mutex_unlock(&mon.lock);
    return WSM_OK;
}

/* A certificate login: the TLS handshake and the mapping ran in the
 * network process. The monitor only believes it for a name that a
 * CertMapping line of its own configuration maps to (root only where that
 * line says AllowRoot), so a subverted network process can claim no one
 * else. */
static enum wsm_err req_cert_user(struct ps_msg *q, struct ps_msg *a)
{
    (void)a;
    const char *user = ps_get_str(q, WSMD_MAX_USER - 1);
    if (!ps_end(q) || !*user)
        return WSM_ERR_INVALID_ARG;
    if (!mon.srv)
        return WSM_ERR_UNSUPPORTED_FEATURE;
    const struct wsmd_config *cfg = &mon.srv->cfg;
    int found = 0;
    wsmd__cfgl_lock(); /* the lines may change (PS_CFG_CERTMAP) */
    for (size_t i = 0; i < cfg->ncert_mappings && !found; i++) {
        struct wsmd_certmap cm;
        char why[128];
        if (wsmd__certmap_parse(cfg->cert_mappings[i], &cm, why, sizeof(why)) != WSM_OK)
            continue;
        found = strcmp(cm.user, user) == 0;
    }
    wsmd__cfgl_unlock();
    if (!found)
        return WSM_ERR_ACCESS_DENIED;
    authed_add(user);
    return WSM_OK;
}

static struct child *child_find(pid_t pid)
{
    for (size_t i = 0; i < MAX_CHILDREN; i++)
        if (mon.children[i].pid == pid && pid > 0)
            return &mon.children[i];
    return NULL;
}

/* Who a command may run as: a name that authenticated through the
 * monitor, with a local account (uid 0 only with AllowRoot); the account
 * as the monitor reads it, groups included. */
struct account {
    struct passwd pw;
    char buf[4096];
    gid_t groups[MAX_GROUPS];
    int ngroups;
};

static enum wsm_err account_for(const char *what, const char *user, struct account *acc)
{
    pthread_mutex_lock(&mon.lock);
    int known = authed_has(user);
    pthread_mutex_unlock(&mon.lock);
    if (!known) {
        refusal_log("event=monitor-refused request=%s reason=\"not authenticated\" user=%s", what,
                    user);
        return WSM_ERR_ACCESS_DENIED;
    }
    int ok = account_allowed(user, &acc->pw, acc->buf, sizeof(acc->buf));
    if (ok <= 0) {
        refusal_log("event=monitor-refused request=%s reason=\"%s\" user=%s", what,
                    ok < 0 ? "no local account" : "root needs AllowRoot", user);
        return WSM_ERR_ACCESS_DENIED;
    }
    acc->ngroups = MAX_GROUPS;
    if (getgrouplist(acc->pw.pw_name, acc->pw.pw_gid, acc->groups, &acc->ngroups) < 0)
        acc->ngroups = MAX_GROUPS; /* more than fit: the first ones */
    return WSM_OK;
}

static enum wsm_err req_check_dir(struct ps_msg *q, struct ps_msg *a)
{
    (void)a;
    const char *user = ps_get_str(q, WSMD_MAX_USER - 1);
    const char *dir = ps_get_str(q, 4096);
    if (!ps_end(q) || !*user || !*dir)
        return WSM_ERR_INVALID_ARG;
    if (!mon.srv)
        return WSM_ERR_UNSUPPORTED_FEATURE;
    struct account acc;
    enum wsm_err e = account_for("check-dir", user, &acc);
    if (e)
        return e;
    struct shell_spawn_req r;
    memset(&r, 0, sizeof(r));
    r.workdir = dir;
    r.switch_user = 1;
    r.uid = acc.pw.pw_uid;
    r.gid = acc.pw.pw_gid;
    r.groups = acc.groups;
    r.ngroups = acc.ngroups;
    return shell__check_dir(&r);
}

#ifdef WSMD_HAVE_CIM
static void cim_ctx_of(const char *user, const struct account *acc, struct cim_ctx *x)
{
    memset(x, 0, sizeof(*x));
    x->user = user;
    x->switch_user = 1;
    x->uid = acc->pw.pw_uid;
    x->gid = acc->pw.pw_gid;
    x->groups = acc->groups;
    x->ngroups = acc->ngroups;
    x->home = acc->pw.pw_dir;
}

/* Win32_Process.Create: a detached process as the caller's account, in
 * its per-user cgroup (process.c does it all, as root). */
static enum wsm_err req_create(struct ps_msg *q, struct ps_msg *a)
{
    const char *user = ps_get_str(q, WSMD_MAX_USER - 1);
    const char *cmd = ps_get_str(q, MAX_CMDLINE);
    const char *cwd = ps_get_str(q, 4096);
    if (!ps_end(q) || !*user || !*cmd || (*cwd && *cwd != '/'))
        return WSM_ERR_INVALID_ARG;
    if (!mon.srv)
        return WSM_ERR_UNSUPPORTED_FEATURE;
    struct account acc;
    enum wsm_err e = account_for("create", user, &acc);
    if (e)
        return e;
    struct cim_ctx x;
    cim_ctx_of(user, &acc, &x);
    pid_t pid = 0;
    unsigned rv = cim_process_create_as(&x, cmd, cwd, &pid);
    ps_put_u32(a, rv);
    ps_put_i32(a, pid);
    return WSM_OK;
}

/* Win32_Process.Terminate: checked again here, as the caller's account:
 * its own processes only (root: any but wsmd's). */
static enum wsm_err req_terminate(struct ps_msg *q, struct ps_msg *a)
{
    (void)a;
    const char *user = ps_get_str(q, WSMD_MAX_USER - 1);
    int32_t pid = ps_get_i32(q);
    uint64_t start = ps_get_u64(q);
    if (!ps_end(q) || !*user || pid <= 0)
        return WSM_ERR_INVALID_ARG;
    if (!mon.srv)
        return WSM_ERR_UNSUPPORTED_FEATURE;
    struct account acc;
    enum wsm_err e = account_for("terminate", user, &acc);
    if (e)
        return e;
    if (pid == getpid() || pid == mon.network)
        return WSM_ERR_ACCESS_DENIED;
    struct cim_ctx x;
    cim_ctx_of(user, &acc, &x);
    return cim_process_kill_as(&x, pid, start);
}
#endif

#ifdef WSMD_HAVE_CIM
/* Root-only /proc data of one process (Win32_Process ExecutablePath,
 * HandleCount, the I/O counters): the network process decides who may
 * see them, the monitor only reads them. */
static enum wsm_err req_proc_read(struct ps_msg *q, struct ps_msg *a)
{
    int32_t pid = ps_get_i32(q);
    uint32_t what = ps_get_u32(q);
    if (!ps_end(q) || pid <= 0 || what < CIM_PROC_EXE || what > CIM_PROC_IO)
        return WSM_ERR_INVALID_ARG;
    char buf[4096];
    long n = cim_process_read_as_root(pid, (int)what, buf, sizeof(buf));
    if (n < 0)
        return WSM_ERR_NOT_FOUND;
    ps_put_blob(a, buf, (size_t)n);
    return WSM_OK;
}
#endif

static enum wsm_err req_spawn(struct ps_msg *q, struct ps_msg *a)
{
    const char *user = ps_get_str(q, WSMD_MAX_USER - 1);
    const char *cmdline = ps_get_str(q, MAX_CMDLINE);
    const char *workdir = ps_get_str(q, 4096);
    uint64_t mem_limit = ps_get_u64(q);
    uint32_t pipe_size = ps_get_u32(q);
    uint32_t nenv = ps_get_u32(q);
    if (q->fail || nenv > MAX_ENV || pipe_size > (1u << 24))
        return WSM_ERR_INVALID_ARG;
    char *envp[MAX_ENV + 1];
    for (uint32_t i = 0; i < nenv; i++) {
        const char *e = ps_get_str(q, 32768);
        if (q->fail || !strchr(e, '=') || e[0] == '=')
            return WSM_ERR_INVALID_ARG;
        envp[i] = (char *)e;
    }
    envp[nenv] = NULL;
    const char *cg_name = ps_get_str(q, 127);
    if (!ps_end(q) || !*user || !*cmdline || q->nfds)
        return WSM_ERR_INVALID_ARG;
    if (!mon.srv)
        return WSM_ERR_UNSUPPORTED_FEATURE;

    pthread_mutex_lock(&mon.lock);
    int room = mon.nchildren < MAX_CHILDREN;
    pthread_mutex_unlock(&mon.lock);
    if (!room)
        return WSM_ERR_QUOTA;
    struct account acc;
    enum wsm_err ae = account_for("spawn", user, &acc);
    if (ae)
        return ae;
    struct passwd pw = acc.pw;
    /* The shell's group, one of wsmd's by its name (letters, digits, '-'). */
    int cg_fds[WSMD_CG_MAXH];
    int ncg = *cg_name ? wsmd__cg_open_procs_name(cg_name, cg_fds) : 0;
    if (ncg < 0)
        return WSM_ERR_INVALID_ARG;

    struct shell_spawn_req r = {
        .cmdline = cmdline,
        .envp = envp,
        .workdir = *workdir ? workdir : pw.pw_dir,
        .switch_user = 1,
        .uid = pw.pw_uid,
        .gid = pw.pw_gid,
        .groups = acc.groups,
        .ngroups = acc.ngroups,
        .mem_limit = mem_limit,
        .pipe_size = (int)pipe_size,
        .cg_fds = cg_fds,
        .ncg = ncg,
    };
    struct shell_spawn_res res;
    int st[2];
    if (pipe2(st, O_CLOEXEC) < 0) {
        wsmd__cg_close_fds(cg_fds, ncg);
        return WSM_ERR_INTERNAL;
    }
    enum wsm_err e = shell__spawn(&r, &res);
    wsmd__cg_close_fds(cg_fds, ncg);
    if (e) {
        close(st[0]);
        close(st[1]);
        return e;
    }
    pthread_mutex_lock(&mon.lock);
    struct child *c = NULL;
    for (size_t i = 0; !c && i < MAX_CHILDREN; i++)
        if (!mon.children[i].pid)
            c = &mon.children[i];
    c->pid = res.pid;
    c->pidfd = res.pidfd;
    c->status_wr = st[1];
    c->exited = 0;
    c->uid = pw.pw_uid;
    snprintf(c->user, sizeof(c->user), "%s", user);
    mon.nchildren++;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)res.pid};
    epoll_ctl(mon.epfd, EPOLL_CTL_ADD, res.pidfd, &ev);
    pthread_mutex_unlock(&mon.lock);

    ps_put_i32(a, res.pid);
    ps_put_fd(a, res.in_fd);
    ps_put_fd(a, res.out_fd);
    ps_put_fd(a, res.err_fd);
    ps_put_fd(a, st[0]);
    return WSM_OK;
}

static enum wsm_err req_signal(struct ps_msg *q, struct ps_msg *a)
{
    (void)a;
    int32_t pid = ps_get_i32(q);
    int32_t sig = ps_get_i32(q);
    if (!ps_end(q) || pid <= 0)
        return WSM_ERR_INVALID_ARG;
    if (sig != SIGTERM && sig != SIGINT && sig != SIGQUIT && sig != SIGKILL)
        return WSM_ERR_INVALID_ARG;
    enum wsm_err e = WSM_ERR_NOT_FOUND;
    pthread_mutex_lock(&mon.lock);
    /* The leader is not reaped before PS_RELEASE, so -pid is still its
     * process group and nobody else's. */
    if (child_find(pid)) {
        kill(-pid, sig);
        e = WSM_OK;
    }
    pthread_mutex_unlock(&mon.lock);
    return e;
}

static void child_forget(struct child *c)
{
    if (c->pidfd >= 0) {
        epoll_ctl(mon.epfd, EPOLL_CTL_DEL, c->pidfd, NULL);
        close(c->pidfd);
    }
    if (c->status_wr >= 0)
        close(c->status_wr);
    memset(c, 0, sizeof(*c));
    c->pidfd = c->status_wr = -1;
    mon.nchildren--;
}

static enum wsm_err req_release(struct ps_msg *q, struct ps_msg *a)
{
    (void)a;
    int32_t pid = ps_get_i32(q);
    if (!ps_end(q) || pid <= 0)
        return WSM_ERR_INVALID_ARG;
    enum wsm_err e = WSM_ERR_NOT_FOUND;
    pthread_mutex_lock(&mon.lock);
    struct child *c = child_find(pid);
    if (c && c->exited) {
        while (waitpid(pid, NULL, WNOHANG) < 0 && errno == EINTR)
            ;
        child_forget(c);
        e = WSM_OK;
    } else if (c) {
        e = WSM_ERR_INVALID_ARG; /* still running: release after the exit */
    }
    pthread_mutex_unlock(&mon.lock);
    return e;
}

/* winrm/config writes (cfgset.c decides who may; the network process
 * asked for the right already): only keys of the fixed list, values that
 * fit on one line and that wsmd's own loader accepts, for a name that
 * authenticated through the monitor. */
static enum wsm_err req_config_set(struct ps_msg *q, struct ps_msg *a)
{
    (void)a;
    const char *user = ps_get_str(q, WSMD_MAX_USER - 1);
    uint32_t n = ps_get_u32(q);
    struct wsmd_cfgedit ed[WSMD_CFGFILE_MAX_EDITS];
    if (q->fail || n == 0 || n > WSMD_CFGFILE_MAX_EDITS)
        return WSM_ERR_INVALID_ARG;
    for (uint32_t i = 0; i < n; i++) {
        ed[i].key = ps_get_str(q, 64);
        uint32_t set = ps_get_u32(q);
        const char *v = ps_get_str(q, WSMD_CFGFILE_MAX_VALUE);
        if (q->fail || set > 1 || !wsmd__cfgfile_key_managed(ed[i].key) ||
            (set && !wsmd__cfgfile_value_ok(v)))
            return WSM_ERR_INVALID_ARG;
        ed[i].value = set ? v : NULL;
    }
    if (!ps_end(q) || !*user)
        return WSM_ERR_INVALID_ARG;
    if (!mon.srv)
        return WSM_ERR_UNSUPPORTED_FEATURE;
    pthread_mutex_lock(&mon.lock);
    int known = authed_has(user);
    /* The right itself, decided again here from the monitor's own policy
     * (made on first use: the network process has its own copy). */
    if (known && !mon.srv->authz &&
        wsmd__authz_new(&mon.srv->cfg, mon.srv->is_root, &mon.srv->authz) != WSM_OK)
        mon.srv->authz = NULL;
    pthread_mutex_unlock(&mon.lock);
    if (!known || !mon.srv->authz || !(wsmd__authz_rights(mon.srv, user) & WSMD_RIGHT_CONFIG_WRITE))
        return WSM_ERR_ACCESS_DENIED;
    return wsmd__cfgset_write(mon.srv->cfg.config_path, ed, n);
}

/* winrm/config changes (cfglisten.c): checked and done there, with the
 * monitor's own configuration. */
static enum wsm_err req_cfg_listen(struct ps_msg *q, struct ps_msg *a)
{
    return mon.srv ? wsmd__cfgl_monitor_listen(mon.srv, q, a) : WSM_ERR_UNSUPPORTED_FEATURE;
}

static enum wsm_err req_cfg_certmap(struct ps_msg *q, struct ps_msg *a)
{
    return mon.srv ? wsmd__cfgl_monitor_certmap(mon.srv, q, a) : WSM_ERR_UNSUPPORTED_FEATURE;
}

struct request {
    const char *name;
    enum wsm_err (*fn)(struct ps_msg *q, struct ps_msg *a);
};

static const struct request table[PS_TYPES] = {
    [PS_AUTH_PASSWORD] = {"auth-password", req_auth_password},
    [PS_NEGO_STEP] = {"nego-step", req_nego_step},
    [PS_NEGO_FREE] = {"nego-free", req_nego_free},
    [PS_CERT_USER] = {"cert-user", req_cert_user},
    [PS_SPAWN] = {"spawn", req_spawn},
    [PS_SIGNAL] = {"signal", req_signal},
    [PS_RELEASE] = {"release", req_release},
    [PS_CHECK_DIR] = {"check-dir", req_check_dir},
    [PS_CONFIG_SET] = {"config-set", req_config_set},
#ifdef WSMD_HAVE_CIM
    [PS_CREATE] = {"create", req_create},
    [PS_TERMINATE] = {"terminate", req_terminate},
#endif
#ifdef WSMD_HAVE_CIM
    [PS_PROC_READ] = {"proc-read", req_proc_read},
#endif
    [PS_CONFIG] = {"config", wsmd__reload_req_config},
    [PS_NOTIFY] = {"notify", wsmd__reload_req_notify},
    [PS_CFG_LISTEN] = {"cfg-listen", req_cfg_listen},
    [PS_CFG_CERTMAP] = {"cfg-certmap", req_cfg_certmap},
#ifdef WSMD_HAVE_CIM
    [PS_IPMI_CONNECT] = {"ipmi-connect", wsmd__ipmi_monitor_connect},
#endif
};

/* Answers q into a: PS_REPLY, the error, then what the request adds. */
static enum wsm_err handle(struct ps_msg *q, struct ps_msg *a, int live)
{
    uint32_t t = ps_get_u32(q);
    ps_start(a, PS_REPLY);
    size_t err_at = a->len;
    ps_put_u32(a, 0);
    enum wsm_err e;
    if (q->fail || t >= PS_TYPES || !table[t].fn ||
        (!live && (t == PS_SPAWN || t == PS_CREATE || t == PS_TERMINATE || t == PS_CHECK_DIR ||
                   t == PS_CFG_LISTEN || t == PS_CFG_CERTMAP))) {
        e = WSM_ERR_INVALID_ARG;
        __atomic_add_fetch(&mon.refused, 1, __ATOMIC_RELAXED);
        refusal_log("event=monitor-refused request=%u reason=\"not in the table\"", (unsigned)t);
    } else {
        e = table[t].fn(q, a);
        if (e == WSM_ERR_INVALID_ARG) {
            __atomic_add_fetch(&mon.refused, 1, __ATOMIC_RELAXED);
            refusal_log("event=monitor-refused request=%s reason=\"malformed\"", table[t].name);
        }
    }
    if (e != WSM_OK && !(e == WSM_ERR_AUTH && t == PS_AUTH_PASSWORD)) {
        /* A refusal carries nothing else (fds attached are not sent);
         * a refused password carries why (a number), for the log. */
        ps_start(a, PS_REPLY);
        ps_put_u32(a, 0);
    }
    uint32_t ev = (uint32_t)e;
    memcpy(a->data + err_at, &ev, sizeof(ev));
    return e;
}

enum wsm_err wsmd__monitor_handle_bytes(const void *bytes, size_t n, unsigned char **reply,
                                        size_t *reply_len)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    *reply = NULL;
    *reply_len = 0;
    if (ps_load(&q, bytes, n) != 0)
        return WSM_ERR_NOMEM;
    enum wsm_err e = handle(&q, &a, 0);
    if (!a.fail && (*reply = malloc(a.len ? a.len : 1))) {
        memcpy(*reply, a.data, a.len);
        *reply_len = a.len;
    }
    ps_clear(&q);
    ps_clear(&a);
    return e;
}

/* ---- the monitor's threads ------------------------------------------------ */

void wsmd__monitor_init(struct wsmd_server *srv)
{
    mon.srv = srv;
    for (size_t i = 0; i < MAX_CHILDREN; i++)
        mon.children[i].pidfd = mon.children[i].status_wr = -1;
    mon.epfd = epoll_create1(EPOLL_CLOEXEC);
}

/* One channel: requests in, answers out, until the network process closes
 * it (or dies). */
void *wsmd__monitor_channel(void *arg)
{
    int fd = (int)(intptr_t)arg;
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    for (;;) {
        int r = ps_recv(fd, &q);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EMSGSIZE) {
                /* Too long to be one of ours: say so and go on. */
                ps_start(&a, PS_REPLY);
                ps_put_u32(&a, WSM_ERR_INVALID_ARG);
                __atomic_add_fetch(&mon.refused, 1, __ATOMIC_RELAXED);
                refusal_log("event=monitor-refused reason=\"message too long\"");
                if (ps_send(fd, &a) < 0)
                    break;
                continue;
            }
            break;
        }
        handle(&q, &a, 1);
        int sent = ps_send(fd, &a);
        /* The fds handed over are the network process's now. */
        for (int i = 0; i < a.nfds; i++)
            close(a.fds[i]);
        ps_start(&a, PS_REPLY);
        if (sent < 0)
            break;
    }
    ps_clear(&q);
    ps_clear(&a);
    close(fd);
    return NULL;
}

/* Writes the exit status of each child that exits to its status pipe; the
 * zombie stays until PS_RELEASE. */
void *wsmd__monitor_reaper(void *arg)
{
    (void)arg;
    for (;;) {
        struct epoll_event evs[16];
        int n = epoll_wait(mon.epfd, evs, 16, -1);
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++) {
            pid_t pid = (pid_t)evs[i].data.u64;
            siginfo_t si;
            memset(&si, 0, sizeof(si));
            if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || !si.si_pid)
                continue;
            int status = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
            pthread_mutex_lock(&mon.lock);
            struct child *c = child_find(pid);
            if (c && !c->exited) {
                c->exited = 1;
                epoll_ctl(mon.epfd, EPOLL_CTL_DEL, c->pidfd, NULL);
                if (c->status_wr >= 0) {
                    ssize_t w = write(c->status_wr, &status, sizeof(status));
                    (void)w;
                    close(c->status_wr);
                    c->status_wr = -1;
                }
            }
            pthread_mutex_unlock(&mon.lock);
        }
    }
    return NULL;
}

/* The network process is gone: everything started for it ends, and the
 * next one starts with a clean slate. */
void wsmd__monitor_reset(void)
{
    pthread_mutex_lock(&mon.lock);
    for (size_t i = 0; i < MAX_CHILDREN; i++) {
        struct child *c = &mon.children[i];
        if (!c->pid)
            continue;
        kill(-c->pid, SIGKILL);
        while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        child_forget(c);
    }
    for (size_t i = 0; i < MAX_NEGO; i++)
        if (mon.nego[i].c)
            nego_drop(&mon.nego[i]);
    pthread_mutex_unlock(&mon.lock);
    authed_clear();
}

unsigned wsmd__monitor_user_removed(const char *user)
{
    unsigned n = 0;
    pthread_mutex_lock(&mon.lock);
    for (size_t i = 0; i < MAX_AUTHED; i++) {
        if (mon.authed[i] && strcmp(mon.authed[i], user) == 0) {
            free(mon.authed[i]);
            mon.authed[i] = NULL;
        }
    }
    for (size_t i = 0; i < MAX_CHILDREN; i++) {
        struct child *c = &mon.children[i];
        if (c->pid && !c->exited && strcmp(c->user, user) == 0) {
            /* The network process sees the exit on the status pipe and
             * releases it as usual. */
            kill(-c->pid, SIGKILL);
            n++;
        }
    }
    pthread_mutex_unlock(&mon.lock);
    return n;
}

void wsmd__monitor_set_network(pid_t pid)
{
    __atomic_store_n(&mon.network, pid, __ATOMIC_RELAXED);
}

unsigned long wsmd__monitor_refused(void)
{
    return __atomic_load_n(&mon.refused, __ATOMIC_RELAXED);
}
