/* The privileged monitor, authentication requests: a password checked
 * (PAM or the user file), a Negotiate leg run here with the keytab and NT
 * hashes, a certificate's user checked against the monitor's own
 * CertMapping lines; each name that passes is remembered. */
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

/* ---- requests ------------------------------------------------------------ */

enum wsm_err wsmd__mon_req_auth_password(struct ps_msg *q, struct ps_msg *a)
{
    const char *user = ps_get_str(q, WSMD_MAX_USER - 1);
    const char *pass = ps_get_str(q, WSMD_MAX_PASSWORD - 1);
    if (!ps_end(q))
        return WSM_ERR_INVALID_ARG;
    (void)a;
    if (!wsmd__mon.srv || !wsmd__mon.srv->auth)
        return WSM_ERR_UNSUPPORTED_FEATURE;
    const char *why = "bad-password";
    enum wsm_err e = wsmd__auth_verify(wsmd__mon.srv->auth, user, pass, &why);
    if (e == WSM_OK)
        wsmd__mon_authed_add(user);
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
        struct nego_slot *s = &wsmd__mon.nego[i];
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
    free_slot->c = wsmd__nego_conn_new(wsmd__mon.srv->nego);
    if (!free_slot->c)
        return NULL;
    free_slot->id = id;
    return free_slot;
}

void wsmd__mon_nego_drop(struct nego_slot *s)
{
    wsmd__nego_conn_free(s->c);
    s->c = NULL;
    s->id = 0;
}

enum wsm_err wsmd__mon_req_nego_step(struct ps_msg *q, struct ps_msg *a)
{
    uint64_t id = ps_get_u64(q);
    uint32_t tls = ps_get_u32(q);
    const char *authz = ps_get_str(q, MAX_HEADER);
    if (!ps_end(q) || id == 0 || tls > 1)
        return WSM_ERR_INVALID_ARG;
    if (!wsmd__mon.srv || !wsmd__mon.srv->nego)
        return WSM_ERR_UNSUPPORTED_FEATURE;
    /* The handshakes are kept under the lock: gss contexts are used by one
     * thread at a time, and legs of one connection never overlap. */
    pthread_mutex_lock(&wsmd__mon.lock);
    struct nego_slot *s = nego_find(id, 1);
    if (!s) {
        pthread_mutex_unlock(&wsmd__mon.lock);
        return WSM_ERR_NOMEM;
    }
    s->stamp = ++wsmd__mon.stamp;
    struct wsmd_nego_conn *c = s->c;
    /* Taken out of the table while the leg runs (GSSAPI can be slow). */
    s->c = NULL;
    pthread_mutex_unlock(&wsmd__mon.lock);

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
            wsmd__mon_authed_add(wsmd__nego_user_of_export(ctx, ctx_len)); /* "" ignored */
    }
    pthread_mutex_lock(&wsmd__mon.lock);
    struct nego_slot *back = NULL;
    if (e == WSM_OK && !done) {
        for (size_t i = 0; i < MAX_NEGO && !back; i++)
            if (!wsmd__mon.nego[i].c)
                back = &wsmd__mon.nego[i];
    }
    if (back) {
        back->c = c;
        back->id = id;
        back->stamp = ++wsmd__mon.stamp;
        c = NULL;
    }
    pthread_mutex_unlock(&wsmd__mon.lock);
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

enum wsm_err wsmd__mon_req_nego_free(struct ps_msg *q, struct ps_msg *a)
{
    (void)a;
    uint64_t id = ps_get_u64(q);
    if (!ps_end(q) || id == 0)
        return WSM_ERR_INVALID_ARG;
    pthread_mutex_lock(&wsmd__mon.lock);
    struct nego_slot *s = nego_find(id, 0);
    if (s)
        wsmd__mon_nego_drop(s);
    pthread_mutex_unlock(&wsmd__mon.lock);
    return WSM_OK;
}

/* A certificate login: the TLS handshake and the mapping ran in the
 * network process. The monitor only believes it for a name that a
 * CertMapping line of its own configuration maps to (root only where that
 * line says AllowRoot), so a subverted network process can claim no one
 * else. */
enum wsm_err wsmd__mon_req_cert_user(struct ps_msg *q, struct ps_msg *a)
{
    (void)a;
    const char *user = ps_get_str(q, WSMD_MAX_USER - 1);
    if (!ps_end(q) || !*user)
        return WSM_ERR_INVALID_ARG;
    if (!wsmd__mon.srv)
        return WSM_ERR_UNSUPPORTED_FEATURE;
    const struct wsmd_config *cfg = &wsmd__mon.srv->cfg;
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
    wsmd__mon_authed_add(user);
    return WSM_OK;
}
