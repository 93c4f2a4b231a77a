/* SIGHUP: the configuration read again and applied live (reload.h). */
#include "reload.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "authz.h"
#include "cgroup.h"
#include "config.h"
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

/* What the file may hold (CONFIG_TEXT_MAX) and what one PS_CONFIG reply
 * carries: the text and the TLS pair must fit one packet. */
#define CONFIG_TEXT_MAX (64 * 1024)
#define CONFIG_LINE_MAX 1023
#define HANDOVER_MAX (PS_MAX_MSG - 4096)

/* How a changed key takes effect. */
enum kclass {
    K_LIVE,    /* applied by the reload */
    K_RESTART, /* read at startup only */
    K_LISTEN,  /* listeners: winrm create/delete, or a restart */
};

static const struct {
    const char *name;
    enum kclass c;
} keys[] = {
    {"MaxEnvelopeSize", K_LIVE},
    {"MaxEnvelopeSizekb", K_LIVE},
    {"AllowUnencrypted", K_LIVE},
    {"LogReceives", K_LIVE},
    {"Allow", K_LIVE},
    {"AllowRoot", K_LIVE},
    {"MaxAuthFailuresPerAddress", K_LIVE},
    {"MaxAuthFailuresPerUser", K_LIVE},
    {"AuthFailureWindowSec", K_LIVE},
    {"AuthLockoutSec", K_LIVE},
    {"EnumerationTimeoutms", K_LIVE},
    {"MaxEnumerationMemoryPerUserKB", K_LIVE},
    {"MaxEnumerationMemoryKB", K_LIVE},
    {"MaxProcessesPerUser", K_LIVE},
    {"CertificateFile", K_LIVE},
    {"KeyFile", K_LIVE},
    {"Keytab", K_LIVE},
    {"KerberosRealm", K_LIVE},
    {"ServicePrincipal", K_LIVE},
    {"CbtHardeningLevel", K_LIVE},
    {"Listen", K_LISTEN},
    {"Users", K_RESTART},
    {"PamService", K_RESTART},
    {"Threads", K_RESTART},
    {"MaxConnections", K_RESTART},
    {"PrivilegeSeparation", K_RESTART},
    {"PrivilegeSeparationUser", K_RESTART},
    /* The CA list is in libmicrohttpd's credentials, fixed at start; the
     * mappings are checked against it. */
    {"ClientCAFile", K_RESTART},
    {"CertMapping", K_RESTART},
    {"MaxConnectionsPerAddress", K_RESTART},
    {"HeaderTimeoutms", K_RESTART},
    {"BodyTimeoutms", K_RESTART},
    {"MaxAnonymousEnvelopeSize", K_RESTART},
    {"MaxShellsPerUser", K_RESTART},
    {"MaxProcessesPerShell", K_RESTART},
    {"IdleTimeout", K_RESTART},
    {"MaxMemoryPerShellMB", K_RESTART},
    {"MaxBufferedOutputMB", K_RESTART},
    {"MaxBufferedOutputPerUserMB", K_RESTART},
    {"Subscriptions", K_RESTART},
    {"EventLogDir", K_RESTART},
    {"StateDir", K_RESTART},
    {"SyslogTarget", K_RESTART},
    {"MetricsListen", K_RESTART},
};

static int key_class(const char *k)
{
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (!strcasecmp(keys[i].name, k))
            return (int)keys[i].c;
    return -1;
}

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
    int argc;
    char **argv;
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

/* ---- the text ---------------------------------------------------------- */

struct kv {
    char *key, *value;
    unsigned line;
};

struct kvs {
    struct kv *v;
    size_t n;
};

static void kvs_clear(struct kvs *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].key);
        free(s->v[i].value);
    }
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* Lines "Key = value", '#' to the end of the line a comment: what
 * wsmd__config_load reads. On error *bad_line is the line. */
static enum wsm_err tokenize(const char *text, struct kvs *out, unsigned *bad_line,
                             const char **bad_why)
{
    memset(out, 0, sizeof(*out));
    unsigned lineno = 0;
    const char *p = text;
    while (*p) {
        lineno++;
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > CONFIG_LINE_MAX) {
            *bad_line = lineno;
            *bad_why = "line longer than 1023 bytes";
            goto bad;
        }
        char line[CONFIG_LINE_MAX + 1];
        memcpy(line, p, len);
        line[len] = '\0';
        p += len + (eol ? 1 : 0);
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *k = line;
        while (isspace((unsigned char)*k))
            k++;
        if (!*k)
            continue;
        char *eq = strchr(k, '=');
        if (!eq) {
            *bad_line = lineno;
            *bad_why = "not Key = value";
            goto bad;
        }
        char *v = eq + 1, *ke = eq;
        while (ke > k && isspace((unsigned char)ke[-1]))
            ke--;
        *ke = '\0';
        while (isspace((unsigned char)*v))
            v++;
        size_t vl = strlen(v);
        while (vl && isspace((unsigned char)v[vl - 1]))
            v[--vl] = '\0';
        struct kv *nv = realloc(out->v, (out->n + 1) * sizeof(*nv));
        if (!nv)
            goto nomem;
        out->v = nv;
        nv[out->n].key = strdup(k);
        nv[out->n].value = strdup(v);
        nv[out->n].line = lineno;
        out->n++;
        if (!nv[out->n - 1].key || !nv[out->n - 1].value)
            goto nomem;
    }
    return WSM_OK;
nomem:
    kvs_clear(out);
    return WSM_ERR_NOMEM;
bad:
    kvs_clear(out);
    return WSM_ERR_INVALID_ARG;
}

/* The command line's settings, as main() applies them: before the file
 * (after: 1) or after it. Kept in step with main()'s options. */
static void argv_apply(struct wsmd_config *cfg, int after)
{
    for (int i = 1; i < rl.argc; i++) {
        const char *a = rl.argv[i];
        const char *v = i + 1 < rl.argc ? rl.argv[i + 1] : NULL;
        if (!v)
            v = "";
        int takes = 1;
        if (!after && !strcmp(a, "--users")) {
            free(cfg->users_path);
            cfg->users_path = strdup(v);
        } else if (!after && !strcmp(a, "--max-envelope-size")) {
            wsmd__config_set(cfg, "MaxEnvelopeSize", v);
        } else if (!after && !strcmp(a, "--allow")) {
            wsmd__config_set(cfg, "Allow", v);
        } else if (!after && !strcmp(a, "--synthetic")) {
            cfg->synthetic = strtoul(v, NULL, 10);
        } else if (after && !strcmp(a, "--listen")) {
            wsmd__config_add_listener(cfg, v);
        } else if (after && !strcmp(a, "--tls-cert")) {
            wsmd__config_set(cfg, "CertificateFile", v);
        } else if (after && !strcmp(a, "--tls-key")) {
            wsmd__config_set(cfg, "KeyFile", v);
        } else if (!strcmp(a, "--allow-unencrypted")) {
            if (!after)
                cfg->allow_unencrypted = 1;
            takes = 0;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--config") || !strcmp(a, "--users") ||
                   !strcmp(a, "--max-envelope-size") || !strcmp(a, "--allow") ||
                   !strcmp(a, "--synthetic") || !strcmp(a, "--listen") ||
                   !strcmp(a, "--tls-cert") || !strcmp(a, "--tls-key")) {
            /* the other pass's */
        } else {
            takes = 0;
        }
        i += takes;
    }
}

/* For a quoted log field: quotes, backslashes, '%' and control bytes as
 * %XX (spaces kept: these are texts, not names), at most n-1 bytes. */
static void why_escaped(char *dst, size_t n, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; n && *p; p++) {
        int plain = *p >= 0x20 && *p != 0x7f && *p != '"' && *p != '\\' && *p != '%';
        if (o + (plain ? 1 : 3) >= n)
            break;
        if (plain) {
            dst[o++] = (char)*p;
        } else {
            dst[o++] = '%';
            dst[o++] = hex[*p >> 4];
            dst[o++] = hex[*p & 15];
        }
    }
    if (n)
        dst[o] = '\0';
}

enum wsm_err wsmd__reload_parse(struct wsmd_config *cfg, const char *name, const char *text,
                                char *why, size_t whylen)
{
    struct kvs kv;
    unsigned bad_line = 0;
    const char *bad_why = "";
    char ename[256];
    why_escaped(ename, sizeof(ename), name);
    enum wsm_err e = tokenize(text, &kv, &bad_line, &bad_why);
    if (e == WSM_ERR_INVALID_ARG) {
        snprintf(why, whylen, "file=\"%s\" line=%u reason=\"%s\"", ename, bad_line, bad_why);
        return e;
    }
    if (e)
        return e;
    argv_apply(cfg, 0);
    for (size_t i = 0; i < kv.n && !e; i++) {
        e = wsmd__config_set(cfg, kv.v[i].key, kv.v[i].value);
        if (e) {
            char ek[128], ev[200];
            why_escaped(ek, sizeof(ek), kv.v[i].key);
            why_escaped(ev, sizeof(ev), kv.v[i].value);
            if (key_class(kv.v[i].key) < 0)
                snprintf(why, whylen, "file=\"%s\" line=%u key=\"%s\" reason=\"unknown key\"",
                         ename, kv.v[i].line, ek);
            else
                snprintf(why, whylen, "file=\"%s\" line=%u key=\"%s\" reason=\"bad value: %s\"",
                         ename, kv.v[i].line, ek, ev);
        }
    }
    kvs_clear(&kv);
    if (e)
        return e;
    argv_apply(cfg, 1);
    if (cfg->nlisteners == 0)
        wsmd__config_add_listener(cfg, "http://127.0.0.1:5985");
    return WSM_OK;
}

static char *read_text(const char *path, char *why, size_t whylen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(why, whylen, "file=\"%s\" reason=\"cannot open: %s\"", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(CONFIG_TEXT_MAX + 1);
    size_t got = 0;
    while (buf && got <= CONFIG_TEXT_MAX) {
        ssize_t r = read(fd, buf + got, CONFIG_TEXT_MAX + 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == CONFIG_TEXT_MAX + 1)
            break;
    }
    close(fd);
    if (!buf)
        return NULL;
    if (got > CONFIG_TEXT_MAX || memchr(buf, '\0', got)) {
        snprintf(why, whylen, "file=\"%s\" reason=\"%s\"", path,
                 got > CONFIG_TEXT_MAX ? "larger than 64 KB" : "a NUL byte: not a text file");
        free(buf);
        return NULL;
    }
    buf[got] = '\0';
    return buf;
}

/* ---- what changed ------------------------------------------------------ */

/* 1 if key has the same values, in the same order, in both texts. */
static int same_values(const struct kvs *a, const struct kvs *b, const char *key)
{
    size_t i = 0, j = 0;
    for (;;) {
        while (i < a->n && strcasecmp(a->v[i].key, key))
            i++;
        while (j < b->n && strcasecmp(b->v[j].key, key))
            j++;
        if (i == a->n || j == b->n)
            return i == a->n && j == b->n;
        if (strcmp(a->v[i].value, b->v[j].value))
            return 0;
        i++;
        j++;
    }
}

/* Keys whose values differ between the accepted text and the new one:
 * calls fn for each (once per key). */
static int changed(const char *old_text, const char *new_text,
                   void (*fn)(void *arg, const char *key), void *arg)
{
    struct kvs a, b;
    unsigned l;
    const char *w;
    if (tokenize(old_text, &a, &l, &w) != WSM_OK)
        memset(&a, 0, sizeof(a));
    if (tokenize(new_text, &b, &l, &w) != WSM_OK)
        memset(&b, 0, sizeof(b));
    int n = 0;
    for (int pass = 0; pass < 2; pass++) {
        const struct kvs *s = pass ? &b : &a;
        for (size_t i = 0; i < s->n; i++) {
            const char *k = s->v[i].key;
            int seen = 0;
            /* Once per key: its first line in a, or in b when a lacks it. */
            for (size_t j = 0; j < i && !seen; j++)
                seen = !strcasecmp(s->v[j].key, k);
            for (size_t j = 0; pass && j < a.n && !seen; j++)
                seen = !strcasecmp(a.v[j].key, k);
            if (seen || same_values(&a, &b, k))
                continue;
            fn(arg, k);
            n++;
        }
    }
    kvs_clear(&a);
    kvs_clear(&b);
    return n;
}

struct diff {
    int allow, nego, listen;
    char restart[512]; /* the keys a restart needs, for the log */
};

static void note_key(void *arg, const char *k)
{
    struct diff *d = arg;
    int c = key_class(k);
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
        .keytab = cfg->krb5_keytab,
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
    if (d->listen)
        wsmd__log("event=reload-restart keys=Listen message=\"listeners change with winrm "
                  "create/delete winrm/config/listener, or at the next restart\"");
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
            why_escaped(esc, sizeof(esc), tw);
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
    changed(rl.text ? rl.text : "", text, note_key, &d);
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
            why_escaped(esc, sizeof(esc), tw);
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
    rl.argc = argc;
    rl.argv = argv;
    rl.path = cfgfile ? strdup(cfgfile) : NULL;
    char why[512];
    rl.text = cfgfile ? read_text(cfgfile, why, sizeof(why)) : NULL;
    if (!rl.text)
        rl.text = strdup("");
    pthread_mutex_unlock(&rl.lock);
}

/* Reads and applies the file in this process (single, or the monitor). */
static void reload_here(struct wsmd_server *srv, enum role role)
{
    char why[1024] = "";
    char *text = rl.path ? read_text(rl.path, why, sizeof(why)) : strdup("");
    enum wsm_err e = text ? reload_text(srv, role, text, NULL, NULL, why, sizeof(why)) : WSM_ERR_IO;
    free(text);
    rl.reloads++;
    if (e) {
        char ef[300] = "";
        if (strncmp(why, "file=", 5) != 0 && rl.path)
            why_escaped(ef, sizeof(ef), rl.path);
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
