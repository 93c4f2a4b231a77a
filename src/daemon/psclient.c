/* The network process's side of privilege separation: its channels to
 * the monitor, one function per request of the table (privsep.h), and the
 * hooks that send privileged work there (docs/internals/privsep.md). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "cfgfile.h"
#include "engine.h"
#include "engine_internal.h"
#ifdef WSMD_HAVE_CIM
#include "cim.h"
#include "ipmi.h"
#endif
#include "negotiate.h"
#include "privsep.h"
#include "privsep_priv.h"
#include "pswire.h"
#include "server.h"

static struct {
    int on;
    pid_t monitor;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int fd[WSMD_PS_CHANNELS];
    int busy[WSMD_PS_CHANNELS];
} net = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

int wsmd__privsep_on(void)
{
    return net.on;
}

pid_t wsmd__privsep_monitor_pid(void)
{
    return net.on ? net.monitor : 0;
}

/* Sends q on a free channel and reads the answer into a: the error it
 * carries, with a positioned after it. */
static enum wsm_err call(struct ps_msg *q, struct ps_msg *a)
{
    int i = -1;
    pthread_mutex_lock(&net.lock);
    for (;;) {
        for (int k = 0; k < WSMD_PS_CHANNELS && i < 0; k++)
            if (!net.busy[k])
                i = k;
        if (i >= 0)
            break;
        pthread_cond_wait(&net.cond, &net.lock);
    }
    net.busy[i] = 1;
    pthread_mutex_unlock(&net.lock);

    enum wsm_err e = WSM_ERR_INTERNAL;
    int sent = ps_send(net.fd[i], q), got = sent == 0 ? ps_recv(net.fd[i], a) : -1;
    if (got == 1) {
        uint32_t t = ps_get_u32(a);
        uint32_t err = ps_get_u32(a);
        if (!a->fail && t == PS_REPLY && err < 1000)
            e = (enum wsm_err)err;
    } else {
        int er = errno;
        /* The channel closed: the monitor is gone (killed; its
         * PR_SET_PDEATHSIG is on its way). Nothing can be authenticated
         * or started without it, and the ports must be free for the next
         * start: this process goes too. */
        int gone = got == 0 || (sent < 0 && (er == EPIPE || er == ECONNRESET || er == ENOTCONN));
        wsmd__log("event=privsep-error message=\"the monitor does not answer: %s\"%s",
                  got == 0 ? "end of channel" : strerror(er), gone ? " action=exit" : "");
        if (gone)
            _exit(70);
    }

    pthread_mutex_lock(&net.lock);
    net.busy[i] = 0;
    pthread_cond_signal(&net.cond);
    pthread_mutex_unlock(&net.lock);
    return e;
}

enum wsm_err wsmd__ps_config(char **text, char **cert_pem, char **key_pem)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, PS_CONFIG);
    *text = *cert_pem = *key_pem = NULL;
    enum wsm_err e = call(&q, &a);
    if (e == WSM_OK) {
        const char *t = ps_get_str(&a, PS_MAX_MSG);
        const char *c = ps_get_str(&a, PS_MAX_MSG);
        const char *k = ps_get_str(&a, PS_MAX_MSG);
        if (!ps_end(&a))
            e = WSM_ERR_INTERNAL;
        else if (!(*text = strdup(t)) || !(*cert_pem = strdup(c)) || !(*key_pem = strdup(k)))
            e = WSM_ERR_NOMEM;
        if (e) {
            free(*text);
            free(*cert_pem);
            free(*key_pem);
            *text = *cert_pem = *key_pem = NULL;
        }
    }
    if (a.data)
        explicit_bzero(a.data, a.len); /* the key */
    ps_clear(&q);
    ps_clear(&a);
    return e;
}

enum wsm_err wsmd__ps_notify(unsigned event, const char *status)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, PS_NOTIFY);
    ps_put_u32(&q, event);
    ps_put_str(&q, status);
    enum wsm_err e = call(&q, &a);
    ps_clear(&q);
    ps_clear(&a);
    return e;
}

enum wsm_err wsmd__ps_call(struct ps_msg *q, struct ps_msg *a)
{
    return call(q, a);
}

/* The reasons of wsmd__auth_verify, by number on the wire. */
static const char *const auth_reasons[] = {"bad-password", "unknown-user", "malformed",
                                           "uid0-without-AllowRoot"};

enum wsm_err wsmd__ps_auth_password(const char *user, const char *pass, const char **why)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, PS_AUTH_PASSWORD);
    ps_put_str(&q, user);
    ps_put_str(&q, pass);
    enum wsm_err e = call(&q, &a);
    if (why) {
        uint32_t r = e == WSM_ERR_AUTH ? ps_get_u32(&a) : 0;
        *why = auth_reasons[r < sizeof(auth_reasons) / sizeof(auth_reasons[0]) ? r : 0];
    }
    ps_clear(&q);
    ps_clear(&a);
    return e;
}

enum wsm_err wsmd__ps_nego_step(uint64_t conn, int tls, const char *authz, char **www, int *done,
                                unsigned char **ctx, size_t *ctx_len)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    *www = NULL;
    *done = 0;
    *ctx = NULL;
    *ctx_len = 0;
    ps_start(&q, PS_NEGO_STEP);
    ps_put_u64(&q, conn);
    ps_put_u32(&q, tls ? 1 : 0);
    ps_put_str(&q, authz);
    enum wsm_err e = call(&q, &a);
    if (e == WSM_OK) {
        uint32_t d = ps_get_u32(&a);
        const char *w = ps_get_str(&a, PS_MAX_MSG);
        size_t n = 0;
        const unsigned char *c = ps_get_blob(&a, PS_MAX_MSG, &n);
        if (!ps_end(&a)) {
            e = WSM_ERR_INTERNAL;
        } else {
            *done = d != 0;
            if (*w && !(*www = strdup(w)))
                e = WSM_ERR_NOMEM;
            if (n && e == WSM_OK) {
                if ((*ctx = malloc(n))) {
                    memcpy(*ctx, c, n);
                    *ctx_len = n;
                } else {
                    e = WSM_ERR_NOMEM;
                }
            }
        }
        if (e) {
            free(*www);
            *www = NULL;
            free(*ctx);
            *ctx = NULL;
            *done = 0;
        }
    }
    ps_clear(&q);
    ps_clear(&a);
    return e;
}

void wsmd__ps_nego_free(uint64_t conn)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, PS_NEGO_FREE);
    ps_put_u64(&q, conn);
    call(&q, &a);
    ps_clear(&q);
    ps_clear(&a);
}

enum wsm_err wsmd__ps_cert_user(const char *user)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, PS_CERT_USER);
    ps_put_str(&q, user);
    enum wsm_err e = call(&q, &a);
    ps_clear(&q);
    ps_clear(&a);
    return e;
}

enum wsm_err wsmd__ps_config_set(const char *user, const struct wsmd_cfgedit *ed, size_t n)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, PS_CONFIG_SET);
    ps_put_str(&q, user);
    ps_put_u32(&q, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        ps_put_str(&q, ed[i].key);
        ps_put_u32(&q, ed[i].value != NULL);
        ps_put_str(&q, ed[i].value);
    }
    enum wsm_err e = call(&q, &a);
    ps_clear(&q);
    ps_clear(&a);
    return e;
}

enum wsm_err wsmd__ps_spawn(const char *user, const struct shell_spawn_req *r,
                            struct shell_spawn_res *res)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, PS_SPAWN);
    ps_put_str(&q, user);
    ps_put_str(&q, r->cmdline);
    ps_put_str(&q, r->workdir);
    ps_put_u64(&q, r->mem_limit);
    ps_put_u32(&q, r->pipe_size > 0 ? (uint32_t)r->pipe_size : 0);
    ps_put_u32(&q, r->flags); /* console mode, no shell */
    uint32_t n = 0;
    while (r->envp && r->envp[n])
        n++;
    ps_put_u32(&q, n);
    for (uint32_t i = 0; i < n; i++)
        ps_put_str(&q, r->envp[i]);
    /* The shell's cgroup, by name: the monitor opens its cgroup.procs
     * files and the child writes itself into them before it changes
     * user (cgroup.c). */
    ps_put_str(&q, r->ncg > 0 && r->cg_name ? r->cg_name : "");
    enum wsm_err e = call(&q, &a);
    if (e == WSM_OK) {
        int32_t pid = ps_get_i32(&a);
        res->in_fd = ps_take_fd(&a);
        res->out_fd = ps_take_fd(&a);
        res->err_fd = ps_take_fd(&a);
        res->pidfd = ps_take_fd(&a);
        res->pid = pid;
        if (!ps_end(&a) || pid <= 0 || res->pidfd < 0) {
            for (int *fd = &res->in_fd; fd <= &res->err_fd; fd++)
                if (*fd >= 0)
                    close(*fd);
            if (res->pidfd >= 0)
                close(res->pidfd);
            e = WSM_ERR_INTERNAL;
        } else {
            fcntl(res->pidfd, F_SETFL, fcntl(res->pidfd, F_GETFL) | O_NONBLOCK);
        }
    }
    ps_clear(&q);
    ps_clear(&a);
    return e;
}

#ifdef WSMD_HAVE_CIM
static unsigned ps_create(const char *user, const char *cmd, const char *cwd, pid_t *pid)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, PS_CREATE);
    ps_put_str(&q, user);
    ps_put_str(&q, cmd);
    ps_put_str(&q, cwd);
    unsigned rv = 8; /* Win32_Process.Create: unknown failure */
    enum wsm_err e = call(&q, &a);
    if (e == WSM_ERR_ACCESS_DENIED) {
        rv = 2; /* access denied */
    } else if (e == WSM_OK) {
        uint32_t v = ps_get_u32(&a);
        int32_t p = ps_get_i32(&a);
        if (ps_end(&a)) {
            rv = v;
            *pid = p;
        }
    }
    ps_clear(&q);
    ps_clear(&a);
    return rv;
}

static enum wsm_err ps_terminate(const char *user, pid_t pid, unsigned long long start)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, PS_TERMINATE);
    ps_put_str(&q, user);
    ps_put_i32(&q, pid);
    ps_put_u64(&q, start);
    enum wsm_err e = call(&q, &a);
    ps_clear(&q);
    ps_clear(&a);
    return e;
}

static long ps_proc_read(pid_t pid, int what, char *buf, size_t n)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, PS_PROC_READ);
    ps_put_i32(&q, pid);
    ps_put_u32(&q, (uint32_t)what);
    long len = -1;
    if (call(&q, &a) == WSM_OK) {
        size_t l = 0;
        const unsigned char *p = ps_get_blob(&a, 4096, &l);
        if (ps_end(&a) && l < n) {
            memcpy(buf, p, l);
            buf[l] = '\0';
            len = (long)l;
        }
    }
    ps_clear(&q);
    ps_clear(&a);
    return len;
}

/* A socket to a new wsmd-ipmi, which the monitor starts (this process
 * may not run programs) and configures (the passwords stay there). */
static enum wsm_err ps_ipmi_connect(int *fd)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, PS_IPMI_CONNECT);
    enum wsm_err e = call(&q, &a);
    if (!e) {
        *fd = ps_take_fd(&a);
        if (*fd < 0 || !ps_end(&a))
            e = WSM_ERR_INTERNAL;
    }
    if (e && *fd >= 0) {
        close(*fd);
        *fd = -1;
    }
    ps_clear(&q);
    ps_clear(&a);
    return e;
}

static const struct cim_proc_ops remote_proc = {
    .create = ps_create,
    .terminate = ps_terminate,
    .proc_read = ps_proc_read,
};
#endif

enum wsm_err wsmd__ps_check_dir(const char *user, const struct shell_spawn_req *r)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, PS_CHECK_DIR);
    ps_put_str(&q, user);
    ps_put_str(&q, r->workdir);
    enum wsm_err e = call(&q, &a);
    ps_clear(&q);
    ps_clear(&a);
    return e;
}

static enum wsm_err simple_pid(uint32_t type, pid_t pid, int sig, int with_sig)
{
    struct ps_msg q, a;
    ps_init(&q);
    ps_init(&a);
    ps_start(&q, type);
    ps_put_i32(&q, pid);
    if (with_sig)
        ps_put_i32(&q, sig);
    enum wsm_err e = call(&q, &a);
    ps_clear(&q);
    ps_clear(&a);
    return e;
}

enum wsm_err wsmd__ps_signal(pid_t pid, int sig)
{
    return simple_pid(PS_SIGNAL, pid, sig, 1);
}

enum wsm_err wsmd__ps_release(pid_t pid)
{
    return simple_pid(PS_RELEASE, pid, 0, 0);
}

static const struct shell_proc_ops remote_ops = {
    .spawn = wsmd__ps_spawn,
    .signal = wsmd__ps_signal,
    .release = wsmd__ps_release,
    .check_dir = wsmd__ps_check_dir,
};

static enum wsm_err remote_password(void *arg, const char *user, const char *pass, const char **why)
{
    (void)arg;
    return wsmd__ps_auth_password(user, pass, why);
}

void wsmd__psclient_start(struct wsmd_server *srv, const int fds[WSMD_PS_CHANNELS], pid_t monitor)
{
    for (int i = 0; i < WSMD_PS_CHANNELS; i++) {
        net.fd[i] = fds[i];
        net.busy[i] = 0;
    }
    net.monitor = monitor;
    net.on = 1;
    shell_set_proc_ops(&remote_ops);
#ifdef WSMD_HAVE_CIM
    cim_process_set_ops(&remote_proc);
    wsmd__ipmi_set_connector(ps_ipmi_connect);
#endif
    wsmd__auth_detach_watcher(srv->auth);
    wsmd__auth_set_remote(srv->auth, remote_password, NULL);
    if (srv->nego)
        wsmd__nego_set_remote(srv->nego, wsmd__ps_nego_step, wsmd__ps_nego_free);
}
