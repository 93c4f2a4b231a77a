/* The privileged monitor (privsep.h, docs/internals/privsep.md): a fixed
 * table of requests from the unprivileged network process, each decoded
 * strictly and checked against what the monitor itself knows (who has
 * authenticated, which processes it started), never against what the
 * request claims. *
 * This file: who has authenticated, the table and its dispatch, the
 * threads; the requests are in monauth.c and monproc.c (monitor_priv.h). */
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

/* The monitor's state (monitor_priv.h). */
struct wsmd_monitor wsmd__mon = {.lock = PTHREAD_MUTEX_INITIALIZER, .epfd = -1};
struct wsmd_lograte wsmd__mon_refusals = WSMD_LOGRATE_INIT;

/* ---- who has authenticated ---------------------------------------------- */

int wsmd__mon_authed_has(const char *user)
{
    for (size_t i = 0; i < MAX_AUTHED; i++)
        if (wsmd__mon.authed[i] && strcmp(wsmd__mon.authed[i], user) == 0)
            return 1;
    return 0;
}

int wsmd__monitor_authed(const char *user)
{
    pthread_mutex_lock(&wsmd__mon.lock);
    int r = wsmd__mon_authed_has(user);
    pthread_mutex_unlock(&wsmd__mon.lock);
    return r;
}

void wsmd__mon_authed_add(const char *user)
{
    if (!user[0])
        return; /* a principal with no local account (collector): no right here */
    pthread_mutex_lock(&wsmd__mon.lock);
    if (!wsmd__mon_authed_has(user)) {
        char *dup = strdup(user);
        if (dup) {
            free(wsmd__mon.authed[wsmd__mon.authed_next]);
            wsmd__mon.authed[wsmd__mon.authed_next] = dup;
            wsmd__mon.authed_next = (wsmd__mon.authed_next + 1) % MAX_AUTHED;
        }
    }
    pthread_mutex_unlock(&wsmd__mon.lock);
}

static void authed_clear(void)
{
    pthread_mutex_lock(&wsmd__mon.lock);
    for (size_t i = 0; i < MAX_AUTHED; i++) {
        free(wsmd__mon.authed[i]);
        wsmd__mon.authed[i] = NULL;
    }
    wsmd__mon.authed_next = 0;
    pthread_mutex_unlock(&wsmd__mon.lock);
}

/* uid 0 only with AllowRoot. -1: no such account. */
int wsmd__mon_account_allowed(const char *user, struct passwd *pw, char *buf, size_t n)
{
    struct passwd *res = NULL;
    if (getpwnam_r(user, pw, buf, n, &res) != 0 || !res)
        return -1;
    return pw->pw_uid != 0 || wsmd__mon.srv->cfg.allow_root;
}

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
    if (!wsmd__mon.srv)
        return WSM_ERR_UNSUPPORTED_FEATURE;
    pthread_mutex_lock(&wsmd__mon.lock);
    int known = wsmd__mon_authed_has(user);
    /* The right itself, decided again here from the monitor's own policy
     * (made on first use: the network process has its own copy). */
    if (known && !wsmd__mon.srv->authz &&
        wsmd__authz_new(&wsmd__mon.srv->cfg, wsmd__mon.srv->is_root, &wsmd__mon.srv->authz) !=
            WSM_OK)
        wsmd__mon.srv->authz = NULL;
    pthread_mutex_unlock(&wsmd__mon.lock);
    if (!known || !wsmd__mon.srv->authz ||
        !(wsmd__authz_rights(wsmd__mon.srv, user) & WSMD_RIGHT_CONFIG_WRITE))
        return WSM_ERR_ACCESS_DENIED;
    return wsmd__cfgset_write(wsmd__mon.srv->cfg.config_path, ed, n);
}

/* winrm/config changes (cfglisten.c): checked and done there, with the
 * monitor's own configuration. */
static enum wsm_err req_cfg_listen(struct ps_msg *q, struct ps_msg *a)
{
    return wsmd__mon.srv ? wsmd__cfgl_monitor_listen(wsmd__mon.srv, q, a)
                         : WSM_ERR_UNSUPPORTED_FEATURE;
}

static enum wsm_err req_cfg_certmap(struct ps_msg *q, struct ps_msg *a)
{
    return wsmd__mon.srv ? wsmd__cfgl_monitor_certmap(wsmd__mon.srv, q, a)
                         : WSM_ERR_UNSUPPORTED_FEATURE;
}

struct request {
    const char *name;
    enum wsm_err (*fn)(struct ps_msg *q, struct ps_msg *a);
};

static const struct request table[PS_TYPES] = {
    [PS_AUTH_PASSWORD] = {"auth-password", wsmd__mon_req_auth_password},
    [PS_NEGO_STEP] = {"nego-step", wsmd__mon_req_nego_step},
    [PS_NEGO_FREE] = {"nego-free", wsmd__mon_req_nego_free},
    [PS_CERT_USER] = {"cert-user", wsmd__mon_req_cert_user},
    [PS_SPAWN] = {"spawn", wsmd__mon_req_spawn},
    [PS_SIGNAL] = {"signal", wsmd__mon_req_signal},
    [PS_RELEASE] = {"release", wsmd__mon_req_release},
    [PS_CHECK_DIR] = {"check-dir", wsmd__mon_req_check_dir},
    [PS_CONFIG_SET] = {"config-set", req_config_set},
#ifdef WSMD_HAVE_CIM
    [PS_CREATE] = {"create", wsmd__mon_req_create},
    [PS_TERMINATE] = {"terminate", wsmd__mon_req_terminate},
#endif
#ifdef WSMD_HAVE_CIM
    [PS_PROC_READ] = {"proc-read", wsmd__mon_req_proc_read},
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
        __atomic_add_fetch(&wsmd__mon.refused, 1, __ATOMIC_RELAXED);
        refusal_log("event=monitor-refused request=%u reason=\"not in the table\"", (unsigned)t);
    } else {
        e = table[t].fn(q, a);
        if (e == WSM_ERR_INVALID_ARG) {
            __atomic_add_fetch(&wsmd__mon.refused, 1, __ATOMIC_RELAXED);
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
    wsmd__mon.srv = srv;
    for (size_t i = 0; i < MAX_CHILDREN; i++)
        wsmd__mon.children[i].pidfd = wsmd__mon.children[i].status_wr = -1;
    wsmd__mon.epfd = epoll_create1(EPOLL_CLOEXEC);
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
                __atomic_add_fetch(&wsmd__mon.refused, 1, __ATOMIC_RELAXED);
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
        int n = epoll_wait(wsmd__mon.epfd, evs, 16, -1);
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++) {
            pid_t pid = (pid_t)evs[i].data.u64;
            siginfo_t si;
            memset(&si, 0, sizeof(si));
            if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || !si.si_pid)
                continue;
            int status = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
            pthread_mutex_lock(&wsmd__mon.lock);
            struct child *c = wsmd__mon_child_find(pid);
            if (c && !c->exited) {
                c->exited = 1;
                epoll_ctl(wsmd__mon.epfd, EPOLL_CTL_DEL, c->pidfd, NULL);
                if (c->status_wr >= 0) {
                    ssize_t w = write(c->status_wr, &status, sizeof(status));
                    (void)w;
                    close(c->status_wr);
                    c->status_wr = -1;
                }
            }
            pthread_mutex_unlock(&wsmd__mon.lock);
        }
    }
    return NULL;
}

/* The network process is gone: everything started for it ends, and the
 * next one starts with a clean slate. */
void wsmd__monitor_reset(void)
{
    pthread_mutex_lock(&wsmd__mon.lock);
    for (size_t i = 0; i < MAX_CHILDREN; i++) {
        struct child *c = &wsmd__mon.children[i];
        if (!c->pid)
            continue;
        kill(-c->pid, SIGKILL);
        while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        wsmd__mon_child_forget(c);
    }
    for (size_t i = 0; i < MAX_NEGO; i++)
        if (wsmd__mon.nego[i].c)
            wsmd__mon_nego_drop(&wsmd__mon.nego[i]);
    pthread_mutex_unlock(&wsmd__mon.lock);
    authed_clear();
}

unsigned wsmd__monitor_user_removed(const char *user)
{
    unsigned n = 0;
    pthread_mutex_lock(&wsmd__mon.lock);
    for (size_t i = 0; i < MAX_AUTHED; i++) {
        if (wsmd__mon.authed[i] && strcmp(wsmd__mon.authed[i], user) == 0) {
            free(wsmd__mon.authed[i]);
            wsmd__mon.authed[i] = NULL;
        }
    }
    for (size_t i = 0; i < MAX_CHILDREN; i++) {
        struct child *c = &wsmd__mon.children[i];
        if (c->pid && !c->exited && strcmp(c->user, user) == 0) {
            /* The network process sees the exit on the status pipe and
             * releases it as usual. */
            kill(-c->pid, SIGKILL);
            n++;
        }
    }
    pthread_mutex_unlock(&wsmd__mon.lock);
    return n;
}

void wsmd__monitor_set_network(pid_t pid)
{
    __atomic_store_n(&wsmd__mon.network, pid, __ATOMIC_RELAXED);
}

unsigned long wsmd__monitor_refused(void)
{
    return __atomic_load_n(&wsmd__mon.refused, __ATOMIC_RELAXED);
}
