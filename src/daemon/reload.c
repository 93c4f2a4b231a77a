/* SIGHUP: the configuration read again and applied live (reload.h). */
#include "reload.h"
#include "reload_priv.h"
#include "reloadlisten.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth.h"
#include "authz.h"
#include "cgroup.h"
#include "config.h"
#include "log.h"
#ifdef WSMD_HAVE_CIM
#include "cimops.h"
#endif
#include "negotiate.h"
#include "privsep.h"
#include "pswire.h"
#include "sdnotify.h"
#include "server.h"
#include "throttle.h"
#include "tlscert.h"

/* What one PS_CONFIG reply carries: the text and the TLS pair must fit
 * one packet. */
#define HANDOVER_MAX (PS_MAX_MSG - 4096)

/* Something a reload replaced while a request or a connection may still
 * use it: freed at exit only (reload.h). */
struct retired {
    void *p;
    void (*fn)(void *);
    struct retired *next;
};

enum role { R_SINGLE, R_MONITOR, R_NETWORK };

static struct {
    pthread_mutex_t lock; /* one reload at a time; the fields below */
    struct wsmd_server *srv;
    char *path; /* the config file, or NULL */
    char *text; /* the accepted text ("" without a file) */
    struct retired *retired;
    unsigned long reloads;
} rl = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void retire(void *p, void (*fn)(void *))
{
    if (!p)
        return;
    struct retired *r = malloc(sizeof(*r));
    if (!r)
        return; /* kept for good: better a leak than a use after free */
    r->p = p;
    r->fn = fn;
    r->next = rl.retired;
    rl.retired = r;
}

static void free_key_pem(void *p)
{
    wsmd__tlscert_clear_pem(p);
}

static void free_strv(void *p)
{
    char **v = p;
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static void free_authz(void *p)
{
    wsmd__authz_free(p);
}

static void free_nego(void *p)
{
    wsmd__nego_free(p);
}

struct diff {
    int allow, nego, listen;
    char restart[512]; /* the keys a restart needs, for the log */
};

static void note_key(void *arg, const char *k)
{
    struct diff *d = arg;
    int c = wsmd__reload_key_class(k);
    if (!strcasecmp(k, "Allow"))
        d->allow = 1;
    if (!strcasecmp(k, "Keytab") || !strcasecmp(k, "KerberosRealm") ||
        !strcasecmp(k, "ServicePrincipal") || !strcasecmp(k, "CbtHardeningLevel"))
        d->nego = 1;
    if (c == K_LISTEN)
        d->listen = 1;
    if (c == K_RESTART || c < 0) {
        size_t l = strlen(d->restart);
        char ek[64];
        wsmd__log_escape(ek, sizeof(ek), k);
        snprintf(d->restart + l, sizeof(d->restart) - l, "%s%s", l ? "," : "", ek);
    }
}

static int str_differs(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b));
}

/* ---- applying ---------------------------------------------------------- */

/* As main() makes it at startup. NULL and WSM_OK: no Negotiate. */
static enum wsm_err make_nego(const struct wsmd_config *cfg, enum role role, struct wsmd_nego **out,
                              char *why, size_t whylen)
{
    *out = NULL;
    if (!cfg->users_path && !cfg->krb5_keytab)
        return WSM_OK;
    struct wsmd_nego_config nc = {
        .users_path = cfg->users_path,
        .kerberos = cfg->krb5_keytab != NULL,
        /* The network process cannot see the keytab (root's), and needs
         * none: its acceptor sends every handshake to the monitor, which
         * checked the keytab before it handed this text over. A keytab
         * *type* name stands for it there, so that Kerberos is offered. */
        .keytab = role == R_NETWORK && cfg->krb5_keytab ? "MEMORY:wsmd-monitor" : cfg->krb5_keytab,
        .realm = cfg->krb5_realm,
        .service = cfg->service_principal,
        .cbt = cfg->cbt_hardening,
        .allow_unmapped = cfg->subscriptions_dir != NULL,
    };
    struct wsmd_nego *n = NULL;
    enum wsm_err e = wsmd__nego_new(&nc, &n);
    /* The network process cannot always see the keytab: only the
     * monitor, which runs the handshakes, decides whether it is usable. */
    if (role != R_NETWORK && cfg->krb5_keytab && (e || !wsmd__nego_has_kerberos(n))) {
        snprintf(why, whylen, "key=\"Keytab\" reason=\"the keytab %s is missing or empty\"",
                 cfg->krb5_keytab);
        wsmd__nego_free(n);
        return WSM_ERR_INVALID_ARG;
    }
    if (e)
        return WSM_OK; /* NTLM unavailable: as at startup, not offered */
    if (cfg->tls_cert_pem && cfg->cbt_hardening != WSMD_CBT_NONE) {
        e = wsmd__nego_set_tls_cert(n, cfg->tls_cert_pem);
        if (e && cfg->cbt_hardening == WSMD_CBT_STRICT) {
            snprintf(why, whylen,
                     "key=\"CbtHardeningLevel\" reason=\"Strict, but no channel binding can be "
                     "computed for %s\"",
                     cfg->tls_cert_path ? cfg->tls_cert_path : "the certificate");
            wsmd__nego_free(n);
            return WSM_ERR_INVALID_ARG;
        }
    }
    if (role == R_NETWORK)
        wsmd__nego_set_remote(n, wsmd__ps_nego_step, wsmd__ps_nego_free);
    *out = n;
    return WSM_OK;
}

#define STORE(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELEASE)

/* What every process takes from the new configuration n: numbers that
 * are read per request, stored whole. */
static void apply_scalars(struct wsmd_server *srv, const struct wsmd_config *n)
{
    struct wsmd_config *c = &srv->cfg;
    STORE(c->max_envelope, n->max_envelope);
    STORE(c->allow_unencrypted, n->allow_unencrypted);
    STORE(c->basic_off, n->basic_off);
    STORE(c->max_timeout_ms, n->max_timeout_ms);
    STORE(c->log_receives, n->log_receives);
    STORE(c->allow_root, n->allow_root);
    STORE(c->auth_max_per_address, n->auth_max_per_address);
    STORE(c->auth_max_per_user, n->auth_max_per_user);
    STORE(c->auth_window_sec, n->auth_window_sec);
    STORE(c->auth_lockout_sec, n->auth_lockout_sec);
    STORE(c->enum_timeout_ms, n->enum_timeout_ms);
    STORE(c->enum_budget_user_kb, n->enum_budget_user_kb);
    STORE(c->enum_budget_total_kb, n->enum_budget_total_kb);
    STORE(c->max_processes_per_user, n->max_processes_per_user);
    STORE(c->cbt_hardening, n->cbt_hardening);
    STORE(c->log_level, n->log_level);
    wsmd__log_set_level(n->log_level ? n->log_level : WSMD_LOG_INFO); /* LogLevel (log.h) */
    STORE(wsmd__create_limits.max_processes_per_user,
          n->max_processes_per_user ? n->max_processes_per_user : 100);
    if (srv->auth)
        wsmd__auth_set_root_policy(srv->auth, n->allow_root, srv->is_root);
    if (srv->throttle) {
        struct wsmd_throttle_cfg tc = {
            .max_per_address = n->auth_max_per_address,
            .max_per_user = n->auth_max_per_user,
            .window_sec = n->auth_window_sec,
            .lockout_sec = n->auth_lockout_sec,
        };
        wsmd__throttle_set_cfg(srv->throttle, &tc);
    }
#ifdef WSMD_HAVE_CIM
    wsmd__enum_set_timeout(n->enum_timeout_ms);
    wsmd__enum_set_budgets(n->enum_budget_user_kb, n->enum_budget_total_kb);
#endif
}

/* The strings a replaced object may still point to are retired, not
 * freed. Takes n's (n is cleared after). */
static void take_strings(struct wsmd_config *c, struct wsmd_config *n, int tls)
{
    char **allow = realloc(c->allow, (c->nallow + 1) * sizeof(*allow));
    if (allow) {
        allow[c->nallow] = NULL;
        retire(allow, free_strv);
    }
    c->allow = n->allow;
    c->nallow = n->nallow;
    n->allow = NULL;
    n->nallow = 0;
    char **s[] = {&c->krb5_keytab, &c->krb5_realm, &c->service_principal, &c->tls_cert_path,
                  &c->tls_key_path};
    char **t[] = {&n->krb5_keytab, &n->krb5_realm, &n->service_principal, &n->tls_cert_path,
                  &n->tls_key_path};
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
        retire(*s[i], free);
        *s[i] = *t[i];
        *t[i] = NULL;
    }
    if (tls) {
        retire(c->tls_cert_pem, free);
        retire(c->tls_key_pem, free_key_pem);
        c->tls_cert_pem = n->tls_cert_pem;
        c->tls_key_pem = n->tls_key_pem;
        n->tls_cert_pem = n->tls_key_pem = NULL;
    }
}

static void log_diff(const struct diff *d)
{
    if (d->restart[0])
        wsmd__log("event=reload-restart keys=%s message=\"changed in the file; they take effect "
                  "at the next restart\"",
                  d->restart);
}

/* The heart of a reload, in any role: text (the file's, or the
 * monitor's) and the TLS pair (read here, or handed over) become the
 * configuration. On refusal nothing changed and why[] says why. */
static enum wsm_err reload_text(struct wsmd_server *srv, enum role role, const char *text,
                                const char *cert_pem, const char *key_pem, char *why, size_t whylen)
{
    struct wsmd_config n;
    wsmd__config_defaults(&n);
    enum wsm_err e =
        wsmd__reload_parse(&n, rl.path ? rl.path : "(command line)", text, why, whylen);
    struct wsmd_nego *nego = NULL;
    struct wsmd_authz *authz = NULL;
    struct diff d;
    memset(&d, 0, sizeof(d));
    if (e)
        goto out;
    int https = 0;
    for (size_t i = 0; i < srv->cfg.nlisteners; i++)
        https |= srv->cfg.listeners[i].https;
    for (size_t i = 0; i < n.nlisteners; i++) /* one the reload opens (reloadlisten.c) */
        https |= n.listeners[i].https;
    if (https && role != R_NETWORK) {
        /* Read again even when the paths are the same: a renewed
         * certificate is the common case. */
        char tw[400];
        if (!n.tls_cert_path || !n.tls_key_path) {
            snprintf(why, whylen,
                     "key=\"CertificateFile\" reason=\"an https listener needs "
                     "CertificateFile and KeyFile\"");
            e = WSM_ERR_INVALID_ARG;
            goto out;
        }
        e = wsmd__tlscert_read(n.tls_cert_path, n.tls_key_path, &n.tls_cert_pem, &n.tls_key_pem, tw,
                               sizeof(tw));
        if (e) {
            char esc[400];
            wsmd__reload_escape(esc, sizeof(esc), tw);
            snprintf(why, whylen, "key=\"CertificateFile\" reason=\"%s\"", esc);
            goto out;
        }
    } else if (https) {
        if (!cert_pem || !key_pem) {
            snprintf(why, whylen, "reason=\"the monitor handed over no certificate\"");
            e = WSM_ERR_INVALID_ARG;
            goto out;
        }
        n.tls_cert_pem = strdup(cert_pem);
        n.tls_key_pem = strdup(key_pem);
        if (!n.tls_cert_pem || !n.tls_key_pem) {
            e = WSM_ERR_NOMEM;
            goto out;
        }
    }
    int tls_changed = https && (str_differs(n.tls_cert_pem, srv->cfg.tls_cert_pem) ||
                                str_differs(n.tls_key_pem, srv->cfg.tls_key_pem));
    if (role == R_MONITOR &&
        strlen(text) + (n.tls_cert_pem ? strlen(n.tls_cert_pem) + strlen(n.tls_key_pem) : 0) >
            HANDOVER_MAX) {
        snprintf(why, whylen,
                 "reason=\"the file and the certificate chain are too large to hand "
                 "to the network process (over 150 KB)\"");
        e = WSM_ERR_INVALID_ARG;
        goto out;
    }
    wsmd__reload_changed(rl.text ? rl.text : "", text, note_key, &d);
    /* The acceptor: a new one whenever it could differ, and always where
     * the handshakes run (the monitor, a single process), so that a
     * replaced keytab or user file is acquired afresh. */
    if (d.nego || tls_changed || (role != R_NETWORK && (n.krb5_keytab || n.users_path))) {
        e = make_nego(&n, role, &nego, why, whylen);
        if (e)
            goto out;
    }
    if (d.allow && role != R_MONITOR) {
        e = wsmd__authz_new(&n, srv->is_root, &authz);
        if (e) {
            snprintf(why, whylen, "key=\"Allow\" reason=\"%s\"", wsm_strerror(e));
            goto out;
        }
    }
    if (tls_changed && role != R_MONITOR && wsmd__tlscert_live()) {
        char tw[300];
        if (wsmd__tlscert_set(n.tls_cert_pem, n.tls_key_pem, tw, sizeof(tw)) != WSM_OK) {
            char esc[300];
            wsmd__reload_escape(esc, sizeof(esc), tw);
            snprintf(why, whylen, "key=\"CertificateFile\" reason=\"%s\"", esc);
            e = WSM_ERR_INVALID_ARG;
            goto out;
        }
    } else if (tls_changed && role != R_MONITOR) {
        size_t l = strlen(d.restart);
        snprintf(d.restart + l, sizeof(d.restart) - l, "%sCertificateFile", l ? "," : "");
    }

    /* Nothing can fail from here on. */
    if (role != R_NETWORK && srv->auth)
        wsmd__auth_reload(srv->auth); /* the user file (the watcher does it too) */
    apply_scalars(srv, &n);
    if (nego || d.nego) {
        retire(srv->nego, free_nego);
        __atomic_store_n(&srv->nego, nego, __ATOMIC_RELEASE);
        nego = NULL;
    }
    if (authz) {
        retire(srv->authz, free_authz);
        __atomic_store_n(&srv->authz, authz, __ATOMIC_RELEASE);
        authz = NULL;
    }
    take_strings(&srv->cfg, &n, tls_changed);
    if (d.listen) {
        /* Listeners that went closed, new ones opened (reloadlisten.c). */
        wsmd__reloadl_apply(srv,
                            role == R_MONITOR   ? WSMD_RELOADL_MONITOR
                            : role == R_NETWORK ? WSMD_RELOADL_NETWORK
                                                : WSMD_RELOADL_SINGLE,
                            rl.text, &n);
    }
    if (tls_changed && role != R_MONITOR) {
        char fp[80];
        wsmd__tlscert_fingerprint(fp, sizeof(fp));
        wsmd__log("event=reload-certificate sha256=%s", fp[0] ? fp : "-");
    }
    char *t = strdup(text);
    if (t) {
        free(rl.text);
        rl.text = t;
    }
    if (role != R_NETWORK)
        log_diff(&d);
out:
    wsmd__nego_free(nego);
    wsmd__authz_free(authz);
    wsmd__config_clear(&n);
    return e;
}

/* ---- the entry points -------------------------------------------------- */

void wsmd__reload_setup(struct wsmd_server *srv, const char *cfgfile, int argc, char **argv)
{
    pthread_mutex_lock(&rl.lock);
    rl.srv = srv;
    wsmd__reload_set_args(argc, argv);
    rl.path = cfgfile ? strdup(cfgfile) : NULL;
    char why[512];
    rl.text = cfgfile ? wsmd__reload_read_text(cfgfile, why, sizeof(why)) : NULL;
    if (!rl.text)
        rl.text = strdup("");
    pthread_mutex_unlock(&rl.lock);
}

/* Reads and applies the file in this process (single, or the monitor). */
static void reload_here(struct wsmd_server *srv, enum role role)
{
    char why[1024] = "";
    char *text = rl.path ? wsmd__reload_read_text(rl.path, why, sizeof(why)) : strdup("");
    enum wsm_err e = text ? reload_text(srv, role, text, NULL, NULL, why, sizeof(why)) : WSM_ERR_IO;
    free(text);
    rl.reloads++;
    if (e) {
        char ef[300] = "";
        if (strncmp(why, "file=", 5) != 0 && rl.path)
            wsmd__reload_escape(ef, sizeof(ef), rl.path);
        wsmd__log("event=reload-refused %s%s%s%s message=\"the running configuration is kept\"",
                  ef[0] ? "file=\"" : "", ef, ef[0] ? "\" " : "",
                  why[0] ? why : "reason=\"out of memory\"");
        wsmd__sd_notify("READY=1\nSTATUS=Serving; the last reload was refused (see the log)");
        return;
    }
    wsmd__log("event=reload file=\"%s\"", rl.path ? rl.path : "-");
    if (role == R_SINGLE)
        wsmd__sd_notify("READY=1\nSTATUS=Serving; configuration reloaded");
}

void wsmd__reload_monitor(struct wsmd_server *srv)
{
    wsmd__sd_notify_reloading("Reloading the configuration");
    pthread_mutex_lock(&rl.lock);
    reload_here(srv, R_MONITOR);
    pthread_mutex_unlock(&rl.lock);
}

void wsmd__reload_signal(struct wsmd_server *srv)
{
    if (!wsmd__privsep_on()) {
        wsmd__sd_notify_reloading("Reloading the configuration");
        pthread_mutex_lock(&rl.lock);
        reload_here(srv, R_SINGLE);
        pthread_mutex_unlock(&rl.lock);
        return;
    }
    char *text = NULL, *cert = NULL, *key = NULL;
    char why[1024] = "";
    enum wsm_err e = wsmd__ps_config(&text, &cert, &key);
    if (e == WSM_OK) {
        pthread_mutex_lock(&rl.lock);
        e = reload_text(srv, R_NETWORK, text, cert && *cert ? cert : NULL, key && *key ? key : NULL,
                        why, sizeof(why));
        pthread_mutex_unlock(&rl.lock);
    }
    if (e)
        /* The monitor accepted it: the network process's part alone. */
        wsmd__log("event=reload-refused role=network %s",
                  why[0] ? why : "reason=\"the monitor did not answer\"");
    free(text);
    free(cert);
    wsmd__tlscert_clear_pem(key);
    wsmd__ps_notify(2, e ? "Serving; the last reload was refused (see the log)"
                         : "Serving; configuration reloaded");
}

void wsmd__reload_ready(struct wsmd_server *srv)
{
    (void)srv;
    if (wsmd__privsep_on())
        wsmd__ps_notify(1, "Serving");
    else
        wsmd__sd_notify("READY=1\nSTATUS=Serving");
}

enum wsm_err wsmd__reload_req_config(struct ps_msg *q, struct ps_msg *a)
{
    if (!ps_end(q))
        return WSM_ERR_INVALID_ARG;
    pthread_mutex_lock(&rl.lock);
    struct wsmd_server *srv = rl.srv;
    if (!srv || !rl.text) {
        pthread_mutex_unlock(&rl.lock);
        return WSM_ERR_UNSUPPORTED_FEATURE;
    }
    ps_put_str(a, rl.text);
    ps_put_str(a, srv->cfg.tls_cert_pem);
    ps_put_str(a, srv->cfg.tls_key_pem);
    pthread_mutex_unlock(&rl.lock);
    return WSM_OK;
}

/* What the network process may say to systemd: one of two fixed events
 * with a short text of its own. */
enum wsm_err wsmd__reload_req_notify(struct ps_msg *q, struct ps_msg *a)
{
    (void)a;
    uint32_t ev = ps_get_u32(q);
    const char *status = ps_get_str(q, 200);
    if (!ps_end(q) || (ev != 1 && ev != 2))
        return WSM_ERR_INVALID_ARG;
    for (const char *p = status; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return WSM_ERR_INVALID_ARG;
    wsmd__sd_notify("READY=1\nSTATUS=%s", status);
    return WSM_OK;
}

void wsmd__reload_free(void)
{
    pthread_mutex_lock(&rl.lock);
    while (rl.retired) {
        struct retired *r = rl.retired;
        rl.retired = r->next;
        r->fn(r->p);
        free(r);
    }
    free(rl.text);
    free(rl.path);
    rl.text = rl.path = NULL;
    rl.srv = NULL;
    pthread_mutex_unlock(&rl.lock);
    wsmd__tlscert_free();
}
