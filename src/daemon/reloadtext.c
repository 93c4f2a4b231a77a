/* The config text a reload reads (reload_priv.h): the file's lines, the
 * command line's options around them, the one-line reason for a refusal,
 * and which keys differ from the text accepted last. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cfgtext.h"
#include "config.h"
#include "reload.h"
#include "reload_priv.h"
#include "server.h"
#include "throttle.h"

/* The command line main() was given (wsmd__reload_setup). */
static struct {
    int argc;
    char **argv;
} args;

void wsmd__reload_set_args(int argc, char **argv)
{
    args.argc = argc;
    args.argv = argv;
}

static const struct {
    const char *name;
    enum kclass c;
} keys[] = {
    {"MaxEnvelopeSize", K_LIVE},
    {"MaxEnvelopeSizekb", K_LIVE},
    {"AllowUnencrypted", K_LIVE},
    {"AuthBasic", K_LIVE},
    {"MaxTimeoutms", K_LIVE},
    {"LogReceives", K_LIVE},
    {"LogLevel", K_LIVE},
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
    {"MaxSubscriptionsPerUser", K_LIVE},
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
    {"MaxConcurrentUsers", K_RESTART},
    {"MaxShellRunTime", K_RESTART},
    {"MaxConcurrentCommandsPerShell", K_RESTART},
    {"MaxConcurrentOperationsPerUser", K_RESTART},
    {"MaxProcessesPerShell", K_RESTART},
    {"IdleTimeout", K_RESTART},
    {"MaxMemoryPerShellMB", K_RESTART},
    {"MaxBufferedOutputMB", K_RESTART},
    {"MaxBufferedOutputPerUserMB", K_RESTART},
    {"Subscriptions", K_RESTART},
    {"EventLogDir", K_RESTART},
    {"StateDir", K_RESTART},
    {"SyslogTarget", K_RESTART},
    {"NatsOutput", K_RESTART},
    {"ProxyProtocol", K_RESTART},
    {"MetricsListen", K_RESTART},
    {"StateDatabase", K_RESTART},
    {"CollectorAddress", K_RESTART},
    {"JournalDirectory", K_RESTART},
    {"IpmiHosts", K_RESTART},
    {"EventForwarding", K_RESTART},
    {"ForwarderPrincipal", K_RESTART},
    {"ForwarderKeytab", K_RESTART},
    {"ForwarderCertificate", K_RESTART},
    {"ForwarderKey", K_RESTART},
    {"ForwarderCredentials", K_RESTART},
    {"ForwarderCAFile", K_RESTART},
};

int wsmd__reload_key_class(const char *k)
{
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (!strcasecmp(keys[i].name, k))
            return (int)keys[i].c;
    return -1;
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

/* The text's lines (cfgtext.h), all of them, for comparing two texts. */
static enum wsm_err tokenize(const char *text, struct kvs *out)
{
    memset(out, 0, sizeof(*out));
    struct wsmd_cfgline *r = malloc(sizeof(*r));
    if (!r)
        return WSM_ERR_NOMEM;
    wsmd__cfgline_init(r, text);
    enum wsm_err e = WSM_OK;
    int got;
    while (!e && (got = wsmd__cfgline_next(r)) != 0) {
        if (got < 0) {
            e = WSM_ERR_INVALID_ARG;
            break;
        }
        struct kv *nv = realloc(out->v, (out->n + 1) * sizeof(*nv));
        if (!nv) {
            e = WSM_ERR_NOMEM;
            break;
        }
        out->v = nv;
        nv[out->n].key = strdup(r->key);
        nv[out->n].value = strdup(r->value);
        nv[out->n].line = r->line;
        out->n++;
        if (!nv[out->n - 1].key || !nv[out->n - 1].value)
            e = WSM_ERR_NOMEM;
    }
    free(r);
    if (e)
        kvs_clear(out);
    return e;
}

/* The command line's settings, as main() applies them: before the file
 * (after: 1) or after it. Kept in step with main()'s options. */
static void argv_apply(struct wsmd_config *cfg, int after)
{
    for (int i = 1; i < args.argc; i++) {
        const char *a = args.argv[i];
        const char *v = i + 1 < args.argc ? args.argv[i + 1] : NULL;
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
void wsmd__reload_escape(char *dst, size_t n, const char *s)
{
    wsmd__log_pct(dst, n, s, 1);
}

enum wsm_err wsmd__reload_parse(struct wsmd_config *cfg, const char *name, const char *text,
                                char *why, size_t whylen)
{
    struct wsmd_cfgline *r = malloc(sizeof(*r));
    if (!r)
        return WSM_ERR_NOMEM;
    char ename[256], ek[128], ev[200];
    wsmd__reload_escape(ename, sizeof(ename), name);
    argv_apply(cfg, 0);
    enum wsm_err e = wsmd__cfgtext_apply(cfg, text, r);
    if (e == WSM_ERR_NOT_FOUND)
        e = WSM_ERR_INVALID_ARG; /* an unknown key (config.h): refused all the same */
    if (r->fail == CFGT_NOT_KV || r->fail == CFGT_LONG_LINE) {
        snprintf(why, whylen, "file=\"%s\" line=%u reason=\"%s\"", ename, r->line,
                 r->fail == CFGT_NOT_KV ? "not Key = value" : "line longer than 1023 bytes");
    } else if (r->fail) {
        wsmd__reload_escape(ek, sizeof(ek), r->key);
        wsmd__reload_escape(ev, sizeof(ev), r->value);
        if (wsmd__reload_key_class(r->key) < 0)
            snprintf(why, whylen, "file=\"%s\" line=%u key=\"%s\" reason=\"unknown key\"", ename,
                     r->line, ek);
        else
            snprintf(why, whylen, "file=\"%s\" line=%u key=\"%s\" reason=\"bad value: %s\"", ename,
                     r->line, ek, ev);
    }
    free(r);
    if (e)
        return e;
    argv_apply(cfg, 1);
    if (cfg->nlisteners == 0)
        wsmd__config_add_listener(cfg, "http://127.0.0.1:5985");
    return WSM_OK;
}

char *wsmd__reload_read_text(const char *path, char *why, size_t whylen)
{
    const char *w;
    int errnum;
    char *text = wsmd__cfgtext_read(path, &w, &errnum);
    if (!text && errnum)
        snprintf(why, whylen, "file=\"%s\" reason=\"cannot open: %s\"", path, strerror(errnum));
    else if (!text && w)
        snprintf(why, whylen, "file=\"%s\" reason=\"%s\"", path, w);
    return text;
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
int wsmd__reload_changed(const char *old_text, const char *new_text,
                         void (*fn)(void *arg, const char *key), void *arg)
{
    struct kvs a, b;
    tokenize(old_text, &a); /* a text refused reads as empty */
    tokenize(new_text, &b);
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
