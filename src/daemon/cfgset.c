/* winrm/config writes (cfgset.h, docs/internals/winrm-config.md "Writes").
 *
 * A Put carries the whole section, as winrm's `set` sends it (Get, change
 * the named properties, Put it back): every element is compared with the
 * section as Get shows it now (wsmconfig.c writes both), so that an
 * unchanged read-only element passes and a changed one is refused. The
 * whole request is checked before anything happens; then the file is
 * written (a change that would not survive a restart is not made), then
 * the running service changes. One writer at a time keeps the file and
 * the live values in the same order. */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfgset.h"
#include "config.h"
#include "negotiate.h"
#include "ns.h"
#include "privsep.h"
#include "wsmconfig.h"
#ifdef WSMD_HAVE_CIM
#include "cimops.h"
#endif
#ifdef WSMD_HAVE_SHELL
#include "engine.h"
#endif

#define XF "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
#define URI_RESTORE WSM_NS_CFG "/Restore"

enum kind { K_UINT, K_BOOL, K_CBT };

/* The writable elements: where they are (the parent element's name), the
 * config file key, the values allowed, and whether the running service
 * takes them at once (restart = 0) or at its next start. */
struct field {
    const char *parent, *el, *key;
    enum kind kind;
    unsigned long lo, hi;
    int restart;
};

static const struct field fields[] = {
    {"Config", "MaxEnvelopeSizekb", "MaxEnvelopeSizekb", K_UINT, 32, 65536, 0},
    {"Config", "MaxTimeoutms", "MaxTimeoutms", K_UINT, 500, 2147483647UL, 0},
    {"Service", "EnumerationTimeoutms", "EnumerationTimeoutms", K_UINT, 100, 2147483647UL, 0},
    {"Service", "MaxConnections", "MaxConnections", K_UINT, 1, 100000, 1},
    {"Service", "AllowUnencrypted", "AllowUnencrypted", K_BOOL, 0, 1, 0},
    {"Auth", "Basic", "AuthBasic", K_BOOL, 0, 1, 0},
    {"Auth", "CbtHardeningLevel", "CbtHardeningLevel", K_CBT, 0, 0, 1},
    {"Winrs", "IdleTimeout", "IdleTimeout", K_UINT, 1000, 2147483647UL, 0},
    {"Winrs", "MaxProcessesPerShell", "MaxProcessesPerShell", K_UINT, 1, 100000, 0},
    {"Winrs", "MaxMemoryPerShellMB", "MaxMemoryPerShellMB", K_UINT, 1, 1048576, 0},
    {"Winrs", "MaxShellsPerUser", "MaxShellsPerUser", K_UINT, 1, 100000, 0},
    {"Winrs", "MaxConcurrentUsers", "MaxConcurrentUsers", K_UINT, 1, 100000, 0},
    {"Winrs", "MaxShellRunTime", "MaxShellRunTime", K_UINT, 1000, 2147483647UL, 0},
    {"Winrs", "MaxConcurrentCommandsPerShell", "MaxConcurrentCommandsPerShell", K_UINT, 1, 100000,
     0},
    {"Service", "MaxConcurrentOperationsPerUser", "MaxConcurrentOperationsPerUser", K_UINT, 1,
     1000000, 0},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

/* Why a shown element cannot be changed here: where it comes from. */
static const char *const read_only_why[][2] = {
    {"RootSDDL", "it shows wsmd's Allow lines (docs/internals/authz.md)"},
    {"Kerberos", "it is on when Keytab names a keytab with keys"},
    {"Negotiate", "it is on when NTLM (the user file's NT hashes) or Kerberos is set up"},
    {"Certificate", "it is on when ClientCAFile is set"},
    {"CredSSP", "CredSSP is not implemented"},
    {"MaxBatchItems", "it is fixed in this build"},
    {"HTTP", "the default ports are fixed (give the port in Listen)"},
    {"HTTPS", "the default ports are fixed (give the port in Listen)"},
    {"AllowRemoteShellAccess", "it is on when the shell is built in"},
};

/* writer: one change of the running service at a time (checked, written,
 * applied); file: one rewrite of the file at a time (the monitor's
 * channels serve requests in parallel). */
static pthread_mutex_t writer = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t file = PTHREAD_MUTEX_INITIALIZER;

struct change {
    const struct field *f;
    char value[32]; /* normalized: decimal, true/false, None/Relaxed/Strict */
};

struct put {
    struct wsmd_call *call;
    struct change ch[WSMD_CFGFILE_MAX_EDITS];
    size_t n;
};

/* The fault's text, kept with the request. */
static enum wsm_err refuse(struct wsmd_call *call, enum wsm_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum wsm_err refuse(struct wsmd_call *call, enum wsm_err e, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    call->fault_message = wsm__arena_strdup(&call->env->arena, msg);
    return e;
}

/* The value as the file and Get write it; 0 if it is not allowed. */
static int normalize(const struct field *f, const char *v, char *out, size_t n)
{
    if (f->kind == K_BOOL) {
        if (strcasecmp(v, "true") && strcasecmp(v, "false"))
            return 0;
        snprintf(out, n, "%s", strcasecmp(v, "true") ? "false" : "true");
        return 1;
    }
    if (f->kind == K_CBT) {
        static const char *const levels[] = {"None", "Relaxed", "Strict"};
        for (size_t i = 0; i < 3; i++)
            if (!strcasecmp(v, levels[i])) {
                snprintf(out, n, "%s", levels[i]);
                return 1;
            }
        return 0;
    }
    size_t len = strlen(v);
    if (!len || len > 10 || strspn(v, "0123456789") != len)
        return 0;
    unsigned long x = strtoul(v, NULL, 10);
    if (x < f->lo || x > f->hi)
        return 0;
    snprintf(out, n, "%lu", x);
    return 1;
}

static const char *allowed(const struct field *f, char *buf, size_t n)
{
    if (f->kind == K_BOOL)
        return "true or false";
    if (f->kind == K_CBT)
        return "None, Relaxed or Strict";
    snprintf(buf, n, "an integer from %lu to %lu", f->lo, f->hi);
    return buf;
}

static const struct field *field_of(const char *parent, const char *el)
{
    for (size_t i = 0; i < NFIELDS; i++)
        if (!strcmp(fields[i].parent, parent) && !strcmp(fields[i].el, el))
            return &fields[i];
    return NULL;
}

static xmlNodePtr first_el(xmlNodePtr n)
{
    for (; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE)
            return n;
    return NULL;
}

static xmlNodePtr child_named(xmlNodePtr parent, const xmlChar *name)
{
    for (xmlNodePtr c = first_el(parent->children); c; c = first_el(c->next))
        if (xmlStrEqual(c->name, name))
            return c;
    return NULL;
}

static char *trimmed(xmlNodePtr n)
{
    xmlChar *t = xmlNodeGetContent(n);
    if (!t)
        return NULL;
    char *s = (char *)t, *e = s + strlen(s);
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        e--;
    char *r = strndup(s, (size_t)(e - s));
    xmlFree(t);
    return r;
}

/* Compares the Put's element put with the current one cur, child by
 * child, collecting changes of writable elements into p. */
static enum wsm_err walk(struct put *p, xmlNodePtr put, xmlNodePtr cur)
{
    for (xmlNodePtr c = first_el(put->children); c; c = first_el(c->next)) {
        xmlNodePtr now = child_named(cur, c->name);
        if (!now)
            return refuse(p->call, WSM_ERR_INVALID_REPRESENTATION,
                          "The WS-Management service cannot process the request: %.64s is not a "
                          "setting of %.64s.",
                          (const char *)c->name, (const char *)put->name);
        if (first_el(c->children) || first_el(now->children)) {
            enum wsm_err e = walk(p, c, now);
            if (e)
                return e;
            continue;
        }
        char *v = trimmed(c), *was = trimmed(now);
        enum wsm_err e = v && was ? WSM_OK : WSM_ERR_NOMEM;
        const struct field *f = field_of((const char *)put->name, (const char *)c->name);
        char norm[32], buf[64];
        if (e) {
        } else if (f && !normalize(f, v, norm, sizeof(norm))) {
            for (char *q = v; *q; q++)
                if ((unsigned char)*q < 0x20 || *q == 0x7f)
                    *q = '?'; /* the message is one line, wherever it is shown */
            e = refuse(p->call, WSM_ERR_INVALID_REPRESENTATION,
                       "The WS-Management service cannot process the request: the value of "
                       "%s (\"%.64s\") is invalid: want %s.",
                       f->el, v, allowed(f, buf, sizeof(buf)));
        } else if (f && strcmp(norm, was)) {
            for (size_t i = 0; i < p->n; i++)
                if (p->ch[i].f == f)
                    f = NULL; /* given twice: the first one counts */
            if (f && p->n < WSMD_CFGFILE_MAX_EDITS) {
                p->ch[p->n].f = f;
                snprintf(p->ch[p->n].value, sizeof(p->ch[p->n].value), "%s", norm);
                p->n++;
            }
        } else if (!f && strcasecmp(v, was)) {
            const char *why = "it follows from wsmd's configuration file or build";
            for (size_t i = 0; i < sizeof(read_only_why) / sizeof(read_only_why[0]); i++)
                if (!strcmp(read_only_why[i][0], (const char *)c->name))
                    why = read_only_why[i][1];
            e = refuse(p->call, WSM_ERR_INVALID_REPRESENTATION,
                       "The WS-Management service cannot change %.64s over WS-Management: %s.",
                       (const char *)c->name, why);
        }
        free(v);
        free(was);
        if (e)
            return e;
    }
    return WSM_OK;
}

/* The section as Get shows it now, parsed: its element in *root. */
static enum wsm_err current(struct wsmd_call *call, xmlDocPtr *doc, xmlNodePtr *root)
{
    struct wsm_buf b, *saved = call->out;
    wsm__buf_init(&b, 0);
    call->out = &b;
    enum wsm_err e = wsmd__wsmconfig_section_reply(call, XF "GetResponse");
    call->out = saved;
    *doc = NULL;
    if (!e)
        *doc = xmlReadMemory(b.data, (int)b.len, NULL, NULL,
                             XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    wsm__buf_free(&b);
    if (e)
        return e;
    xmlNodePtr env = *doc ? xmlDocGetRootElement(*doc) : NULL;
    xmlNodePtr body = env ? child_named(env, BAD_CAST "Body") : NULL;
    *root = body ? first_el(body->children) : NULL;
    return *root ? WSM_OK : WSM_ERR_INTERNAL;
}

enum wsm_err wsmd__cfgset_write(const char *path, const struct wsmd_cfgedit *ed, size_t n)
{
    if (!path)
        return WSM_ERR_NOT_FOUND;
    if (n == 0 || n > WSMD_CFGFILE_MAX_EDITS)
        return WSM_ERR_INVALID_ARG;
    struct wsmd_config scratch;
    wsmd__config_defaults(&scratch);
    enum wsm_err e = WSM_OK;
    for (size_t i = 0; i < n && !e; i++) {
        if (!wsmd__cfgfile_key_managed(ed[i].key))
            e = WSM_ERR_INVALID_ARG;
        else if (ed[i].value && (!wsmd__cfgfile_value_ok(ed[i].value) ||
                                 wsmd__config_set(&scratch, ed[i].key, ed[i].value) != WSM_OK))
            e = WSM_ERR_INVALID_ARG;
    }
    wsmd__config_clear(&scratch);
    if (e)
        return e;
    pthread_mutex_lock(&file);
    e = wsmd__cfgfile_edit(path, ed, n);
    pthread_mutex_unlock(&file);
    return e;
}

/* Through the monitor when separated (the network process cannot write
 * /etc/wsmd), else here. */
static enum wsm_err persist(struct wsmd_call *call, const struct wsmd_cfgedit *ed, size_t n)
{
    enum wsm_err e = wsmd__privsep_on() ? wsmd__ps_config_set(call->user, ed, n)
                                        : wsmd__cfgset_write(call->srv->cfg.config_path, ed, n);
    if (e == WSM_ERR_NOT_FOUND)
        return refuse(call, WSM_ERR_ACTION_NOT_SUPPORTED,
                      "The WS-Management service cannot change its configuration: wsmd was "
                      "started without a configuration file (wsmd -c FILE), so the change would "
                      "not survive a restart. Nothing was changed.");
    if (e)
        return refuse(call, WSM_ERR_INTERNAL,
                      "The WS-Management service could not write its configuration file (%s). "
                      "Nothing was changed.",
                      wsm_strerror(e));
    return WSM_OK;
}

/* The running service takes the value (cfg holds what Get shows). */
static void apply(struct wsmd_server *srv, const struct field *f, const char *v)
{
    struct wsmd_config *cfg = &srv->cfg;
    unsigned long x = strtoul(v, NULL, 10);
    int on = !strcmp(v, "true");
    if (!strcmp(f->key, "MaxEnvelopeSizekb")) {
        __atomic_store_n(&cfg->max_envelope, (size_t)x * 1024, __ATOMIC_RELAXED);
    } else if (!strcmp(f->key, "MaxTimeoutms")) {
        __atomic_store_n(&cfg->max_timeout_ms, (long)x, __ATOMIC_RELAXED);
    } else if (!strcmp(f->key, "EnumerationTimeoutms")) {
        cfg->enum_timeout_ms = (long)x;
#ifdef WSMD_HAVE_CIM
        wsmd__enum_set_timeout((long)x);
#endif
    } else if (!strcmp(f->key, "MaxConnections")) {
        cfg->max_connections = (unsigned)x; /* libmicrohttpd's, at the next start */
    } else if (!strcmp(f->key, "AllowUnencrypted")) {
        __atomic_store_n(&cfg->allow_unencrypted, on, __ATOMIC_RELAXED);
    } else if (!strcmp(f->key, "AuthBasic")) {
        __atomic_store_n(&cfg->basic_off, !on, __ATOMIC_RELAXED);
    } else if (!strcmp(f->key, "CbtHardeningLevel")) {
        cfg->cbt_hardening = !strcmp(v, "None")     ? WSMD_CBT_NONE
                             : !strcmp(v, "Strict") ? WSMD_CBT_STRICT
                                                    : WSMD_CBT_RELAXED;
    } else if (!strcmp(f->key, "IdleTimeout")) {
        cfg->idle_timeout_ms = (long)x;
    } else if (!strcmp(f->key, "MaxProcessesPerShell")) {
        cfg->max_processes_per_shell = (unsigned)x;
    } else if (!strcmp(f->key, "MaxMemoryPerShellMB")) {
        cfg->max_memory_per_shell_mb = (unsigned)x;
    } else if (!strcmp(f->key, "MaxShellsPerUser")) {
        cfg->max_shells_per_user = (unsigned)x;
    } else if (!strcmp(f->key, "MaxConcurrentUsers")) {
        cfg->max_concurrent_users = (unsigned)x;
    } else if (!strcmp(f->key, "MaxShellRunTime")) {
        cfg->max_shell_run_time_ms = (long)x;
    } else if (!strcmp(f->key, "MaxConcurrentCommandsPerShell")) {
        cfg->max_commands_per_shell = (unsigned)x;
    } else if (!strcmp(f->key, "MaxConcurrentOperationsPerUser")) {
        __atomic_store_n(&cfg->max_operations_per_user, (unsigned)x, __ATOMIC_RELAXED);
    }
}

static void apply_winrs(struct wsmd_server *srv)
{
#ifdef WSMD_HAVE_SHELL
    if (srv->shells) {
        struct shell_limits lim;
        wsmd__winrs_limits(&srv->cfg, &lim);
        shell_mgr_set_quotas(srv->shells, &lim);
    }
#else
    (void)srv;
#endif
}

static void log_change(const struct wsmd_call *call, const char *what, const char *keys,
                       int restart)
{
    char user[64];
    size_t i = 0;
    for (const char *u = call->user ? call->user : "-"; u[i] && i + 1 < sizeof(user); i++)
        user[i] = (u[i] <= ' ' || u[i] == '"' || u[i] == 0x7f) ? '_' : u[i];
    user[i] = '\0';
    wsmd__log("event=%s user=%s keys=%s restart-needed=%s", what, user, keys,
              restart ? "yes" : "no");
}

static enum wsm_err put_section(struct wsmd_call *call)
{
    const struct wsm_envelope *env = call->env;
    if (env->nselectors)
        return WSM_ERR_INVALID_SELECTORS;
    if (env->fragment)
        return WSM_ERR_FRAGMENT;
    xmlNodePtr body = env->payload;
    xmlDocPtr doc;
    xmlNodePtr cur;
    pthread_mutex_lock(&writer);
    enum wsm_err e = current(call, &doc, &cur);
    struct put p = {.call = call};
    if (!e && (!body || !xmlStrEqual(body->name, cur->name) || !body->ns ||
               strcasecmp((const char *)body->ns->href, env->resource_uri)))
        e = refuse(call, WSM_ERR_INVALID_REPRESENTATION,
                   "The WS-Management service cannot process the request: the body must be the "
                   "%s element of %s, as Get returns it.",
                   (const char *)cur->name, env->resource_uri);
    if (!e)
        e = walk(&p, body, cur);
    xmlFreeDoc(doc);
    struct wsmd_cfgedit ed[WSMD_CFGFILE_MAX_EDITS + 1];
    size_t ne = 0;
    char keys[512] = "";
    int restart = 0;
    for (size_t i = 0; i < p.n && !e; i++) {
        ed[ne++] = (struct wsmd_cfgedit){p.ch[i].f->key, p.ch[i].value};
        if (!strcmp(p.ch[i].f->key, "MaxEnvelopeSizekb"))
            ed[ne++] = (struct wsmd_cfgedit){"MaxEnvelopeSize", NULL}; /* the same limit */
        snprintf(keys + strlen(keys), sizeof(keys) - strlen(keys), "%s%s", i ? "," : "",
                 p.ch[i].f->key);
        restart |= p.ch[i].f->restart;
    }
    if (!e && ne > WSMD_CFGFILE_MAX_EDITS)
        e = WSM_ERR_INVALID_REPRESENTATION;
    if (!e && ne)
        e = persist(call, ed, ne);
    if (!e && ne) {
        for (size_t i = 0; i < p.n; i++)
            apply(call->srv, p.ch[i].f, p.ch[i].value);
        apply_winrs(call->srv);
        log_change(call, "config-set", keys, restart);
    }
    pthread_mutex_unlock(&writer);
    return e ? e : wsmd__wsmconfig_section_reply(call, XF "PutResponse");
}

/* Restore: the keys winrm/config writes manage go from the file, and the
 * running service takes the defaults (wsmd__config_defaults, Windows'). */
static enum wsm_err restore(struct wsmd_call *call)
{
    if (strcasecmp(call->env->resource_uri, WSM_NS_CFG))
        return WSM_ERR_ACTION_NOT_SUPPORTED;
    struct wsmd_cfgedit ed[WSMD_CFGFILE_MAX_EDITS];
    size_t n = 0;
    for (; wsmd__cfgfile_managed[n] && n < WSMD_CFGFILE_MAX_EDITS; n++)
        ed[n] = (struct wsmd_cfgedit){wsmd__cfgfile_managed[n], NULL};
    pthread_mutex_lock(&writer);
    enum wsm_err e = persist(call, ed, n);
    if (!e) {
        struct wsmd_config d;
        wsmd__config_defaults(&d);
        struct wsmd_config *cfg = &call->srv->cfg;
        __atomic_store_n(&cfg->max_envelope, d.max_envelope, __ATOMIC_RELAXED);
        __atomic_store_n(&cfg->allow_unencrypted, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&cfg->basic_off, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&cfg->max_timeout_ms, 0, __ATOMIC_RELAXED);
        cfg->enum_timeout_ms = 0;
#ifdef WSMD_HAVE_CIM
        wsmd__enum_set_timeout(0);
#endif
        /* MaxConnections keeps the value in force: libmicrohttpd's limit
         * changes only at the next start, which sizes it again. */
        cfg->cbt_hardening = WSMD_CBT_RELAXED;
        cfg->idle_timeout_ms = 0;
        cfg->max_processes_per_shell = cfg->max_memory_per_shell_mb = cfg->max_shells_per_user = 0;
        cfg->max_concurrent_users = cfg->max_commands_per_shell = 0;
        cfg->max_shell_run_time_ms = 0;
        __atomic_store_n(&cfg->max_operations_per_user, 0, __ATOMIC_RELAXED);
        apply_winrs(call->srv);
        log_change(call, "config-restore", "all", 1);
    }
    pthread_mutex_unlock(&writer);
    if (e)
        return e;
    e = wsm__reply_begin(call->out, URI_RESTORE "Response", call->env->message_id, NULL);
    if (!e)
        e = wsm__buf_puts(call->out, "<cfg:Restore_OUTPUT xmlns:cfg=\"" WSM_NS_CFG "\"/>");
    return e ? e : wsm__reply_end(call->out);
}

enum wsm_err wsmd__cfgset_change(struct wsmd_call *call)
{
    const char *action = call->env->action;
    if (!strcmp(action, XF "Put"))
        return put_section(call);
    if (!strcasecmp(action, URI_RESTORE))
        return restore(call);
    call->fault_message = "The WS-Management service does not create, delete or invoke methods "
                          "on this winrm/config resource: change its settings with Put (winrm "
                          "set), or Restore winrm/config.";
    return WSM_ERR_ACTION_NOT_SUPPORTED;
}
