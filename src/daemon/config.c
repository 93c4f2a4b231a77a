#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authz.h"
#include "certauth.h"
#include "cfgtext.h"
#include "colconfig.h"
#include "fwd_priv.h"
#include "envelope.h"
#include "log.h"
#include "negotiate.h"
#include "proxyproto.h"
#include "throttle.h"

void wsmd__config_defaults(struct wsmd_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_envelope = WSM_DEFAULT_MAX_ENVELOPE;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->threads = n < 1 ? 1 : n > 8 ? 8 : (int)n;
    /* MaxConnections: Windows' default is 300; 0 sizes it from the
     * descriptors wsmd may open (wsmd__connguard_size), so that the
     * per-address limit, not the global one, is what a flood meets. */
    cfg->max_connections = 0;
    cfg->privsep = 1;
    cfg->auth_max_per_address = WSMD_THROTTLE_MAX_PER_ADDRESS;
    cfg->auth_max_per_user = WSMD_THROTTLE_MAX_PER_USER;
    cfg->auth_window_sec = WSMD_THROTTLE_WINDOW_SEC;
    cfg->auth_lockout_sec = WSMD_THROTTLE_LOCKOUT_SEC;
}

void wsmd__config_clear(struct wsmd_config *cfg)
{
    wsmd__colconfig_clear(cfg);
    wsmd__fwdconfig_clear(cfg);
    free(cfg->users_path);
    free(cfg->pam_service);
    free(cfg->config_path);
    cfg->config_path = NULL;
    cfg->users_path = cfg->pam_service = NULL;
    free(cfg->tls_cert_path);
    free(cfg->tls_key_path);
    free(cfg->tls_cert_pem);
    cfg->tls_cert_path = cfg->tls_key_path = cfg->tls_cert_pem = NULL;
    free(cfg->client_ca_path);
    cfg->client_ca_path = NULL;
    for (size_t i = 0; i < cfg->ncert_mappings; i++)
        free(cfg->cert_mappings[i]);
    free(cfg->cert_mappings);
    cfg->cert_mappings = NULL;
    cfg->ncert_mappings = 0;
    free(cfg->privsep_user);
    free(cfg->proxy_protocol);
    cfg->proxy_protocol = NULL;
    cfg->privsep_user = NULL;
    free(cfg->journal_dir);
    cfg->journal_dir = NULL;
    free(cfg->ipmi_hosts);
    cfg->ipmi_hosts = NULL;
    for (size_t i = 0; i < cfg->nallow; i++)
        free(cfg->allow[i]);
    free(cfg->allow);
    cfg->allow = NULL;
    cfg->nallow = 0;
    free(cfg->krb5_keytab);
    free(cfg->krb5_realm);
    free(cfg->service_principal);
    cfg->krb5_keytab = cfg->krb5_realm = cfg->service_principal = NULL;
    if (cfg->tls_key_pem) {
        explicit_bzero(cfg->tls_key_pem, strlen(cfg->tls_key_pem));
        free(cfg->tls_key_pem);
        cfg->tls_key_pem = NULL;
    }
}

static int parse_bool(const char *v, int *out)
{
    if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes")) {
        *out = 1;
        return 0;
    }
    if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no")) {
        *out = 0;
        return 0;
    }
    return -1;
}

/* Keytab (a path, FILE:path or another keytab type; enables Kerberos),
 * KerberosRealm (a realm: only user@REALM, mapped to user) and
 * ServicePrincipal ("HTTP@host", or "HTTP/host" as in the keytab). */
static enum wsm_err set_kerberos(struct wsmd_config *cfg, const char *key, const char *value)
{
    size_t n = strlen(value);
    if (n == 0 || n > 1024)
        return WSM_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)value[i] < 0x21 || value[i] == 0x7f)
            return WSM_ERR_INVALID_ARG;
    char *d = strdup(value);
    if (!d)
        return WSM_ERR_NOMEM;
    char **slot = &cfg->krb5_keytab;
    if (!strcasecmp(key, "KerberosRealm")) {
        slot = &cfg->krb5_realm;
        if (strpbrk(d, "@/\\:")) {
            free(d);
            return WSM_ERR_INVALID_ARG;
        }
    } else if (!strcasecmp(key, "ServicePrincipal")) {
        slot = &cfg->service_principal;
        /* "HTTP/host@REALM" (a principal, not a host-based name) is refused. */
        char *sep = strchr(d, '@'), *slash = strchr(d, '/');
        if (!sep && slash)
            *(sep = slash) = '@';
        else if (slash)
            sep = NULL;
        if (!sep || sep == d || !sep[1] || strchr(sep + 1, '@') || strchr(sep + 1, '/')) {
            free(d);
            return WSM_ERR_INVALID_ARG;
        }
    }
    free(*slot);
    *slot = d;
    return WSM_OK;
}

/* ClientCAFile = FILE; CertMapping = Issuer=.. Subject=.. UserName=..
 * [AllowRoot=true], one line per mapping (certauth.h). */
static enum wsm_err set_certauth(struct wsmd_config *cfg, const char *key, const char *value)
{
    if (!strcasecmp(key, "ClientCAFile")) {
        char *d = *value ? strdup(value) : NULL;
        if (!d)
            return *value ? WSM_ERR_NOMEM : WSM_ERR_INVALID_ARG;
        free(cfg->client_ca_path);
        cfg->client_ca_path = d;
        return WSM_OK;
    }
    struct wsmd_certmap m;
    char why[200];
    if (wsmd__certmap_parse(value, &m, why, sizeof(why)) != WSM_OK) {
        fprintf(stderr, "wsmd: CertMapping: %s\n", why);
        return WSM_ERR_INVALID_ARG;
    }
    char **v = realloc(cfg->cert_mappings, (cfg->ncert_mappings + 1) * sizeof(*v));
    if (!v)
        return WSM_ERR_NOMEM;
    cfg->cert_mappings = v;
    if (!(v[cfg->ncert_mappings] = strdup(value)))
        return WSM_ERR_NOMEM;
    cfg->ncert_mappings++;
    return WSM_OK;
}

/* Allow = RIGHTS PRINCIPAL...: one authorization line (authz.c), kept as
 * written; repeatable. */
static enum wsm_err add_allow(struct wsmd_config *cfg, const char *value)
{
    char why[200];
    if (wsmd__authz_check_rule(value, why, sizeof(why)) != WSM_OK) {
        fprintf(stderr, "wsmd: Allow: %s\n", why);
        return WSM_ERR_INVALID_ARG;
    }
    char **v = realloc(cfg->allow, (cfg->nallow + 1) * sizeof(*v));
    if (!v)
        return WSM_ERR_NOMEM;
    cfg->allow = v;
    if (!(v[cfg->nallow] = strdup(value)))
        return WSM_ERR_NOMEM;
    cfg->nallow++;
    return WSM_OK;
}

enum wsm_err wsmd__config_set(struct wsmd_config *cfg, const char *key, const char *value)
{
    enum wsm_err ce = wsmd__colconfig_set(cfg, key, value);
    if (ce != WSM_ERR_NOT_FOUND)
        return ce; /* the event collector's (colconfig.c) */
    if ((ce = wsmd__fwdconfig_set(cfg, key, value)) != WSM_ERR_NOT_FOUND)
        return ce; /* the forwarder's (src/forwarder/fwdconfig.c) */
    if (!strcasecmp(key, "Allow"))
        return add_allow(cfg, value);
    if (!strcasecmp(key, "ClientCAFile") || !strcasecmp(key, "CertMapping"))
        return set_certauth(cfg, key, value);
    char *end;
    if (!strcasecmp(key, "MaxEnvelopeSize") || !strcasecmp(key, "MaxEnvelopeSizekb")) {
        unsigned long v = strtoul(value, &end, 10);
        if (end == value || *end || v == 0 || v > 64UL * 1024 * 1024)
            return WSM_ERR_INVALID_ARG;
        cfg->max_envelope = !strcasecmp(key, "MaxEnvelopeSizekb") ? v * 1024 : v;
        return WSM_OK;
    }
    if (!strcasecmp(key, "AllowRoot"))
        return parse_bool(value, &cfg->allow_root) ? WSM_ERR_INVALID_ARG : WSM_OK;
    if (!strcasecmp(key, "LogLevel")) {
        int l = wsmd__log_level_parse(value);
        if (l < 0)
            return WSM_ERR_INVALID_ARG;
        cfg->log_level = l;
        return WSM_OK;
    }
    if (!strcasecmp(key, "AuthBasic")) {
        /* winrm/config/service/auth/Basic (default true). */
        int on;
        if (parse_bool(value, &on))
            return WSM_ERR_INVALID_ARG;
        cfg->basic_off = !on;
        return WSM_OK;
    }
    if (!strcasecmp(key, "MaxAuthFailuresPerAddress") ||
        !strcasecmp(key, "MaxAuthFailuresPerUser") || !strcasecmp(key, "AuthFailureWindowSec") ||
        !strcasecmp(key, "AuthLockoutSec")) {
        /* 0 turns a limit off; a window or a hold is at least a second. */
        long v = strtol(value, &end, 10);
        int is_max = !strncasecmp(key, "Max", 3);
        if (end == value || *end || v < (is_max ? 0 : 1) || v > 86400 * 7)
            return WSM_ERR_INVALID_ARG;
        unsigned *slot = !strcasecmp(key, "MaxAuthFailuresPerAddress") ? &cfg->auth_max_per_address
                         : !strcasecmp(key, "MaxAuthFailuresPerUser")  ? &cfg->auth_max_per_user
                         : !strcasecmp(key, "AuthFailureWindowSec")    ? &cfg->auth_window_sec
                                                                       : &cfg->auth_lockout_sec;
        *slot = (unsigned)v;
        return WSM_OK;
    }
    if (!strcasecmp(key, "AllowUnencrypted"))
        return parse_bool(value, &cfg->allow_unencrypted) ? WSM_ERR_INVALID_ARG : WSM_OK;
    if (!strcasecmp(key, "LogReceives"))
        return parse_bool(value, &cfg->log_receives) ? WSM_ERR_INVALID_ARG : WSM_OK;
    if (!strcasecmp(key, "PrivilegeSeparation"))
        return parse_bool(value, &cfg->privsep) ? WSM_ERR_INVALID_ARG : WSM_OK;
    if (!strcasecmp(key, "PrivilegeSeparationUser")) {
        if (!*value || !wsmd__username_ok(value))
            return WSM_ERR_INVALID_ARG;
        free(cfg->privsep_user);
        cfg->privsep_user = strdup(value);
        return cfg->privsep_user ? WSM_OK : WSM_ERR_NOMEM;
    }
    if (!strcasecmp(key, "Listen"))
        return wsmd__config_add_listener(cfg, value);
    if (!strcasecmp(key, "ProxyProtocol")) {
        /* true: every Listen listener; or the URLs of those that take it. */
        if (!wsmd__proxy_value_ok(value))
            return WSM_ERR_INVALID_ARG;
        char *d = strdup(value);
        if (!d)
            return WSM_ERR_NOMEM;
        free(cfg->proxy_protocol);
        cfg->proxy_protocol = d;
        return WSM_OK;
    }
    if (!strcasecmp(key, "JournalDirectory")) {
        /* The event source's journal (evsrc.md): absolute, or empty for
         * the system journal. */
        if (*value && *value != '/')
            return WSM_ERR_INVALID_ARG;
        char *d = *value ? strdup(value) : NULL;
        if (*value && !d)
            return WSM_ERR_NOMEM;
        free(cfg->journal_dir);
        cfg->journal_dir = d;
        return WSM_OK;
    }
    if (!strcasecmp(key, "IpmiHosts")) {
        /* An absolute path: the monitor and a restarted network process
         * must name the same file whatever their directory. The file
         * itself is checked at start (ipmihosts.c). */
        if (value[0] != '/')
            return WSM_ERR_INVALID_ARG;
        char *d = strdup(value);
        if (!d)
            return WSM_ERR_NOMEM;
        free(cfg->ipmi_hosts);
        cfg->ipmi_hosts = d;
        return WSM_OK;
    }
    if (!strcasecmp(key, "Users") || !strcasecmp(key, "PamService") ||
        !strcasecmp(key, "CertificateFile") || !strcasecmp(key, "KeyFile")) {
        if (!*value && (!strcasecmp(key, "CertificateFile") || !strcasecmp(key, "KeyFile")))
            return WSM_ERR_INVALID_ARG;
        char *d = strdup(value);
        if (!d)
            return WSM_ERR_NOMEM;
        char **slot = !strcasecmp(key, "Users")             ? &cfg->users_path
                      : !strcasecmp(key, "PamService")      ? &cfg->pam_service
                      : !strcasecmp(key, "CertificateFile") ? &cfg->tls_cert_path
                                                            : &cfg->tls_key_path;
        free(*slot);
        *slot = d;
        return WSM_OK;
    }
    if (!strcasecmp(key, "Keytab") || !strcasecmp(key, "KerberosRealm") ||
        !strcasecmp(key, "ServicePrincipal"))
        return set_kerberos(cfg, key, value);
    if (!strcasecmp(key, "CbtHardeningLevel")) {
        /* winrm/config/service/auth/CbtHardeningLevel */
        if (!strcasecmp(value, "None"))
            cfg->cbt_hardening = WSMD_CBT_NONE;
        else if (!strcasecmp(value, "Relaxed"))
            cfg->cbt_hardening = WSMD_CBT_RELAXED;
        else if (!strcasecmp(value, "Strict"))
            cfg->cbt_hardening = WSMD_CBT_STRICT;
        else
            return WSM_ERR_INVALID_ARG;
        return WSM_OK;
    }
    if (!strcasecmp(key, "MaxEnumerationMemoryPerUserKB") ||
        !strcasecmp(key, "MaxEnumerationMemoryKB")) {
        /* Budgets of enumeration contexts (enumctx.c), 64 KB to 16 GB. */
        unsigned long v = strtoul(value, &end, 10);
        if (end == value || *end || *value == '-' || v < 64 || v > 16UL * 1024 * 1024)
            return WSM_ERR_INVALID_ARG;
        if (!strcasecmp(key, "MaxEnumerationMemoryKB"))
            cfg->enum_budget_total_kb = v;
        else
            cfg->enum_budget_user_kb = v;
        return WSM_OK;
    }
    if (!strcasecmp(key, "MaxTimeoutms")) {
        /* winrm/config/MaxTimeoutms: the longest OperationTimeout a
         * Receive waits (longer ones are cut to it). */
        long v = strtol(value, &end, 10);
        if (end == value || *end || v < 500 || v > 2147483647L)
            return WSM_ERR_INVALID_ARG;
        cfg->max_timeout_ms = v;
        return WSM_OK;
    }
    if (!strcasecmp(key, "EnumerationTimeoutms")) {
        long v = strtol(value, &end, 10);
        if (end == value || *end || v < 100 || v > 2147483647L)
            return WSM_ERR_INVALID_ARG;
        cfg->enum_timeout_ms = v;
        return WSM_OK;
    }
    if (!strcasecmp(key, "MaxProcessesPerUser")) {
        /* Win32_Process.Create: processes per user (docs/internals/cgroups.md). */
        long v = strtol(value, &end, 10);
        if (end == value || *end || v < 1 || v > 100000)
            return WSM_ERR_INVALID_ARG;
        cfg->max_processes_per_user = (unsigned)v;
        return WSM_OK;
    }
    if (!strcasecmp(key, "MaxSubscriptionsPerUser")) {
        /* The event source's subscriptions of one user (evstore.c). */
        long v = strtol(value, &end, 10);
        if (end == value || *end || v < 1 || v > 10000)
            return WSM_ERR_INVALID_ARG;
        cfg->max_subscriptions_per_user = (unsigned)v;
        return WSM_OK;
    }
    if (!strcasecmp(key, "MaxConcurrentUsers") || !strcasecmp(key, "MaxShellRunTime") ||
        !strcasecmp(key, "MaxConcurrentCommandsPerShell") ||
        !strcasecmp(key, "MaxConcurrentOperationsPerUser")) {
        /* Windows' remaining quotas (docs/internals/shell.md "Quotas"). */
        long v = strtol(value, &end, 10);
        if (end == value || *end || v < 1 || v > 2147483647L)
            return WSM_ERR_INVALID_ARG;
        if (!strcasecmp(key, "MaxConcurrentUsers"))
            cfg->max_concurrent_users = (unsigned)(v > 100000 ? 100000 : v);
        else if (!strcasecmp(key, "MaxShellRunTime"))
            cfg->max_shell_run_time_ms = v < 1000 ? 1000 : v; /* ms */
        else if (!strcasecmp(key, "MaxConcurrentCommandsPerShell"))
            cfg->max_commands_per_shell = (unsigned)(v > 100000 ? 100000 : v);
        else
            cfg->max_operations_per_user = (unsigned)(v > 1000000 ? 1000000 : v);
        return WSM_OK;
    }
    if (!strcasecmp(key, "MaxShellsPerUser") || !strcasecmp(key, "MaxProcessesPerShell") ||
        !strcasecmp(key, "IdleTimeout") || !strcasecmp(key, "MaxMemoryPerShellMB")) {
        long v = strtol(value, &end, 10);
        if (end == value || *end || v < 1 || v > 2147483647L)
            return WSM_ERR_INVALID_ARG;
        if (!strcasecmp(key, "MaxShellsPerUser"))
            cfg->max_shells_per_user = (unsigned)(v > 100000 ? 100000 : v);
        else if (!strcasecmp(key, "MaxProcessesPerShell"))
            cfg->max_processes_per_shell = (unsigned)(v > 100000 ? 100000 : v);
        else if (!strcasecmp(key, "IdleTimeout"))
            cfg->idle_timeout_ms = v < 1000 ? 1000 : v; /* ms, as winrs config */
        else
            cfg->max_memory_per_shell_mb = (unsigned)v;
        return WSM_OK;
    }
    if (!strcasecmp(key, "MaxConnectionsPerAddress") || !strcasecmp(key, "HeaderTimeoutms") ||
        !strcasecmp(key, "BodyTimeoutms") || !strcasecmp(key, "MaxAnonymousEnvelopeSize")) {
        /* The connection guard (docs/internals/connections.md). */
        long v = strtol(value, &end, 10);
        if (end == value || *end || v < 1 || v > 100000000L)
            return WSM_ERR_INVALID_ARG;
        if (!strcasecmp(key, "MaxConnectionsPerAddress"))
            cfg->max_conn_per_addr = (unsigned)v;
        else if (!strcasecmp(key, "HeaderTimeoutms"))
            cfg->header_timeout_ms = v < 100 ? 100 : v;
        else if (!strcasecmp(key, "BodyTimeoutms"))
            cfg->body_timeout_ms = v < 100 ? 100 : v;
        else
            cfg->max_anon_envelope = (size_t)v;
        return WSM_OK;
    }
    if (!strcasecmp(key, "MaxBufferedOutputMB") || !strcasecmp(key, "MaxBufferedOutputPerUserMB")) {
        /* The memory shell output may hold (engine.h, struct shell_limits). */
        long v = strtol(value, &end, 10);
        if (end == value || *end || v < 1 || v > 1048576)
            return WSM_ERR_INVALID_ARG;
        if (!strcasecmp(key, "MaxBufferedOutputMB"))
            cfg->max_buffered_output_mb = (unsigned)v;
        else
            cfg->max_buffered_output_user_mb = (unsigned)v;
        return WSM_OK;
    }
    if (!strcasecmp(key, "Threads") || !strcasecmp(key, "MaxConnections")) {
        long v = strtol(value, &end, 10);
        if (end == value || *end || v < 1 || v > 100000)
            return WSM_ERR_INVALID_ARG;
        if (!strcasecmp(key, "Threads"))
            cfg->threads = (int)(v > 64 ? 64 : v);
        else
            cfg->max_connections = (unsigned)v;
        return WSM_OK;
    }
    return WSM_ERR_NOT_FOUND; /* an unknown key: config_load says which */
}

enum wsm_err wsmd__config_load(struct wsmd_config *cfg, const char *path)
{
    const char *why;
    int errnum;
    char *text = wsmd__cfgtext_read(path, &why, &errnum);
    if (!text) {
        if (errnum)
            fprintf(stderr, "wsmd: cannot open %s\n", path);
        else
            fprintf(stderr, "wsmd: %s: %s\n", path, why ? why : "out of memory");
        return errnum ? WSM_ERR_IO : why ? WSM_ERR_INVALID_ARG : WSM_ERR_NOMEM;
    }
    struct wsmd_cfgline *r = malloc(sizeof(*r));
    enum wsm_err e = r ? wsmd__cfgtext_apply(cfg, text, r) : WSM_ERR_NOMEM;
    /* The line, the key, and which of the two is wrong. */
    if (!r)
        fprintf(stderr, "wsmd: %s: out of memory\n", path);
    else if (r->fail == CFGT_NOT_KV)
        fprintf(stderr, "wsmd: %s:%u: expected \"Key = value\", not \"%.*s\"\n", path, r->line,
                (int)(strcspn(r->key, "\r") > 80 ? 80 : strcspn(r->key, "\r")), r->key);
    else if (r->fail == CFGT_LONG_LINE)
        fprintf(stderr, "wsmd: %s:%u: line longer than %d bytes\n", path, r->line, CONFIG_LINE_MAX);
    else if (r->fail == CFGT_UNKNOWN)
        fprintf(stderr, "wsmd: %s:%u: unknown key \"%.80s\"\n", path, r->line, r->key);
    else if (r->fail == CFGT_BAD_VALUE)
        fprintf(stderr, "wsmd: %s:%u: bad value for %.80s: \"%.200s\"\n", path, r->line, r->key,
                r->value);
    free(r);
    free(text);
    if (!e && cfg->log_level)
        wsmd__log_set_level(cfg->log_level);
    return e;
}
