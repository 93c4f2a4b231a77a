/* winrm/config, read-only: what `winrm get winrm/config` and `winrm
 * enumerate winrm/config/listener` show on Windows, from wsmd's running
 * configuration. Elements that mean nothing here (IPv4Filter,
 * MaxConcurrentUsers, ...) are left out rather than given made-up values;
 * RootSDDL renders wsmd's authorization policy (authz.c);
 * the rest keep Windows' names and order (MS-WSMV 2.2.4.10, .36, .37,
 * .43, .19). Changes are made in wsmd's configuration file, never over
 * the wire (docs/internals/winrm-config.md). */
#include <arpa/inet.h>
#include <gnutls/x509.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authz.h"
#include "config.h"
#include "negotiate.h"
#include "ns.h"
#include "thumbprint.h"
#include "wsmconfig.h"
#include "opquota.h"
#ifdef WSMD_HAVE_CIM
#include "cim.h"
#include "cimops.h"
#include "cimxml.h"
#endif

#define XF "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
#define EN "http://schemas.xmlsoap.org/ws/2004/09/enumeration/"
#define EV "http://schemas.xmlsoap.org/ws/2004/08/eventing/"
#define URI_CONFIG WSM_NS_CFG
#define URI_SERVICE WSM_NS_CFG "/service"
#define URI_AUTH WSM_NS_CFG "/service/auth"
#define URI_PORTS WSM_NS_CFG "/service/defaultports"
#define URI_WINRS WSM_NS_CFG "/winrs"
#define URI_LISTENER WSM_NS_CFG "/listener"

#define READ_ONLY_MESSAGE                                                                          \
    "The WS-Management service does not change its configuration over WS-Management: "             \
    "winrm/config is read-only here. Change the setting in wsmd's configuration file "             \
    "(wsmd -c FILE, lines Key = value) and restart wsmd."

#ifdef WSMD_HAVE_SHELL
void wsmd__winrs_limits(const struct wsmd_config *cfg, struct shell_limits *lim)
{
    shell_limits_defaults(lim);
    if (cfg->max_shells_per_user)
        lim->max_shells_per_user = cfg->max_shells_per_user;
    if (cfg->max_processes_per_shell)
        lim->max_processes_per_shell = cfg->max_processes_per_shell;
    if (cfg->idle_timeout_ms)
        lim->idle_timeout_ms = cfg->idle_timeout_ms;
    if (cfg->max_memory_per_shell_mb)
        lim->max_memory_per_shell_mb = cfg->max_memory_per_shell_mb;
    if (cfg->max_concurrent_users)
        lim->max_concurrent_users = cfg->max_concurrent_users;
    if (cfg->max_shell_run_time_ms)
        lim->max_shell_run_time_ms = cfg->max_shell_run_time_ms;
    if (cfg->max_commands_per_shell)
        lim->max_commands_per_shell = cfg->max_commands_per_shell;
    if (cfg->max_buffered_output_mb)
        lim->max_buffered_total = (size_t)cfg->max_buffered_output_mb << 20;
    if (cfg->max_buffered_output_user_mb)
        lim->max_buffered_user = (size_t)cfg->max_buffered_output_user_mb << 20;
}
#endif

/* ---- writing cfg: elements ------------------------------------------
 * A writer that stops at the first error, so that a section reads as the
 * list of its elements. */
struct w {
    struct wsm_buf *o;
    enum wsm_err e;
};

/* <cfg:name xmlns:cfg="ns" xml:lang="en-US"> for a resource's own
 * element, <cfg:name> for one nested in it (ns NULL). */
static void open_el(struct w *w, const char *name, const char *ns)
{
    if (w->e)
        return;
    w->e = ns ? wsm__buf_printf(w->o, "<cfg:%s xmlns:cfg=\"%s\" xml:lang=\"en-US\">", name, ns)
              : wsm__buf_printf(w->o, "<cfg:%s>", name);
}

static void close_el(struct w *w, const char *name)
{
    if (!w->e)
        w->e = wsm__buf_printf(w->o, "</cfg:%s>", name);
}

/* <cfg:name>value</cfg:name>; <cfg:name/> when the value is empty. */
static void str_el(struct w *w, const char *name, const char *value)
{
    if (w->e)
        return;
    if (!*value) {
        w->e = wsm__buf_printf(w->o, "<cfg:%s/>", name);
        return;
    }
    w->e = wsm__buf_printf(w->o, "<cfg:%s>", name);
    if (!w->e)
        w->e = wsm__buf_xml(w->o, value);
    close_el(w, name);
}

static void num_el(struct w *w, const char *name, unsigned long long v)
{
    if (!w->e)
        w->e = wsm__buf_printf(w->o, "<cfg:%s>%llu</cfg:%s>", name, v, name);
}

static void bool_el(struct w *w, const char *name, int v)
{
    str_el(w, name, v ? "true" : "false");
}

/* ---- the sections ------------------------------------------------- */

static const char *cbt_name(int level)
{
    return level == WSMD_CBT_NONE ? "None" : level == WSMD_CBT_STRICT ? "Strict" : "Relaxed";
}

/* Service/Auth: the schemes wsmd accepts now. Basic always (the user
 * file, or PAM); Negotiate when the acceptor came up (NTLM through
 * gss-ntlmssp and the user file's NT hashes, or Kerberos); Kerberos with
 * a keytab; Certificate with ClientCAFile; never CredSSP. */
static void write_auth(struct w *w, const struct wsmd_server *srv, const char *ns)
{
    open_el(w, "Auth", ns);
    bool_el(w, "Basic", 1);
    bool_el(w, "Kerberos", srv->nego && wsmd__nego_has_kerberos(srv->nego));
    bool_el(w, "Negotiate", srv->nego != NULL);
    bool_el(w, "Certificate", srv->certauth != NULL);
    bool_el(w, "CredSSP", 0);
    str_el(w, "CbtHardeningLevel", cbt_name(srv->cfg.cbt_hardening));
    close_el(w, "Auth");
}

static void write_ports(struct w *w, const char *ns)
{
    open_el(w, "DefaultPorts", ns);
    num_el(w, "HTTP", WSMD_DEFAULT_HTTP_PORT);
    num_el(w, "HTTPS", WSMD_DEFAULT_HTTPS_PORT);
    close_el(w, "DefaultPorts");
}

/* RootSDDL: the policy in force, in the shape of Windows' SDDL. */
static void write_sddl(struct w *w, const struct wsmd_server *srv)
{
    if (w->e)
        return;
    struct wsm_buf b;
    wsm__buf_init(&b, 0);
    w->e = wsmd__authz_sddl(srv, &b);
    if (!w->e)
        w->e = wsm__buf_puts(&b, ""); /* NUL-terminated even when empty */
    if (!w->e)
        str_el(w, "RootSDDL", b.data);
    wsm__buf_free(&b);
}

static void write_service(struct w *w, const struct wsmd_server *srv, const char *ns)
{
    open_el(w, "Service", ns);
    write_sddl(w, srv);
    /* Windows' order: RootSDDL, MaxConcurrentOperationsPerUser, EnumerationTimeoutms... */
    num_el(w, "MaxConcurrentOperationsPerUser", wsmd__max_operations_per_user(&srv->cfg));
#ifdef WSMD_HAVE_CIM
    num_el(w, "EnumerationTimeoutms", (unsigned long long)wsmd__enum_timeout());
#endif
    num_el(w, "MaxConnections", srv->cfg.max_connections);
    bool_el(w, "AllowUnencrypted", srv->cfg.allow_unencrypted);
    write_auth(w, srv, NULL);
    write_ports(w, NULL);
    close_el(w, "Service");
}

static void write_winrs(struct w *w, const struct wsmd_server *srv, const char *ns)
{
    open_el(w, "Winrs", ns);
#ifdef WSMD_HAVE_SHELL
    struct shell_limits lim;
    wsmd__winrs_limits(&srv->cfg, &lim);
    bool_el(w, "AllowRemoteShellAccess", 1);
    num_el(w, "IdleTimeout", (unsigned long long)lim.idle_timeout_ms);
    num_el(w, "MaxConcurrentUsers", lim.max_concurrent_users);
    num_el(w, "MaxShellRunTime", (unsigned long long)lim.max_shell_run_time_ms);
    num_el(w, "MaxProcessesPerShell", lim.max_processes_per_shell);
    num_el(w, "MaxMemoryPerShellMB", lim.max_memory_per_shell_mb);
    num_el(w, "MaxShellsPerUser", lim.max_shells_per_user);
    /* A plugin quota on Windows (plugin/Quotas), shown here since wsmd's
     * shell has no plugin tree. */
    num_el(w, "MaxConcurrentCommandsPerShell", lim.max_commands_per_shell);
#else
    (void)srv;
    bool_el(w, "AllowRemoteShellAccess", 0);
#endif
    close_el(w, "Winrs");
}

static void write_config(struct w *w, const struct wsmd_server *srv)
{
    open_el(w, "Config", URI_CONFIG);
    num_el(w, "MaxEnvelopeSizekb", srv->cfg.max_envelope / 1024);
#ifdef WSMD_HAVE_SHELL
    num_el(w, "MaxTimeoutms",
           srv->cfg.max_timeout_ms > 0 ? (unsigned long long)srv->cfg.max_timeout_ms
                                       : WSMD_MAX_TIMEOUT_MS);
#endif
#ifdef WSMD_HAVE_CIM
    num_el(w, "MaxBatchItems", WSMD_MAX_BATCH_ITEMS);
#endif
    write_service(w, srv, NULL);
    write_winrs(w, srv, NULL);
    close_el(w, "Config");
}

/* ---- listeners ------------------------------------------------------ */
#ifdef WSMD_HAVE_CIM

/* The listener as a class, so that enumeration (enum.c) and selector
 * filters work as for CIM classes. Its name is the last segment of the
 * resource URI, so that EndpointReferences read URI_LISTENER. */
static const struct cim_prop listener_props[] = {
    {"Address", CIM_STRING, CIM_KEY},
    {"Transport", CIM_STRING, CIM_KEY},
    {"Port", CIM_UINT32, 0},
    {"Hostname", CIM_STRING, 0},
    {"Enabled", CIM_BOOLEAN, 0},
    {"URLPrefix", CIM_STRING, 0},
    {"CertificateThumbprint", CIM_STRING, 0},
    {"ListeningOn", CIM_STRING, CIM_ARRAY},
};

struct listener_it {
    const struct wsmd_server *srv;
    size_t i;
};

static enum wsm_err listener_next(void *it, struct cim_instance *inst);

static void listener_close(void *it)
{
    free(it);
}

static const struct cim_class listener_class = {
    .name = "listener",
    .props = listener_props,
    .nprops = sizeof(listener_props) / sizeof(listener_props[0]),
    .next = listener_next,
    .close = listener_close,
};

static int is_any(const char *host)
{
    return !strcmp(host, "0.0.0.0") || !strcmp(host, "::");
}

/* The addresses a listener accepts on: its own, or for 0.0.0.0 (::) every
 * IPv4 (IPv6) address of the host's interfaces that are up. */
static void listening_on(const struct wsmd_listener *l, struct cim_instance *inst)
{
    if (!is_any(l->host)) {
        const char *one = l->host;
        cim_set_strv(inst, "ListeningOn", &one, 1);
        return;
    }
    int family = strchr(l->host, ':') ? AF_INET6 : AF_INET;
    struct ifaddrs *ifa = NULL;
    const char *addrs[64];
    char text[64][INET6_ADDRSTRLEN];
    size_t n = 0;
    if (getifaddrs(&ifa) == 0) {
        for (struct ifaddrs *p = ifa; p && n < 64; p = p->ifa_next) {
            if (!p->ifa_addr || p->ifa_addr->sa_family != family || !(p->ifa_flags & IFF_UP))
                continue;
            const void *a = family == AF_INET
                                ? (const void *)&((struct sockaddr_in *)p->ifa_addr)->sin_addr
                                : (const void *)&((struct sockaddr_in6 *)p->ifa_addr)->sin6_addr;
            if (inet_ntop(family, a, text[n], sizeof(text[n]))) {
                addrs[n] = text[n];
                n++;
            }
        }
        freeifaddrs(ifa);
    }
    cim_set_strv(inst, "ListeningOn", addrs, n);
}

static void fill_listener(const struct wsmd_server *srv, const struct wsmd_listener *l,
                          struct cim_instance *inst)
{
    char tp[41] = "";
    if (is_any(l->host))
        cim_set_str(inst, "Address", "*");
    else
        cim_set_fmt(inst, "Address", "IP:%s", l->host);
    cim_set_str(inst, "Transport", l->https ? "HTTPS" : "HTTP");
    cim_set_u64(inst, "Port", (uint64_t)l->port);
    cim_set_str(inst, "Hostname", "");
    cim_set_bool(inst, "Enabled", 1);
    cim_set_str(inst, "URLPrefix", "wsman");
    if (l->https)
        wsmd__thumbprint_pem(srv->cfg.tls_cert_pem, tp);
    cim_set_str(inst, "CertificateThumbprint", tp);
    listening_on(l, inst);
}

static enum wsm_err listener_next(void *it, struct cim_instance *inst)
{
    struct listener_it *li = it;
    while (li->i < li->srv->cfg.nlisteners &&
           (li->srv->cfg.listeners[li->i].metrics || li->srv->cfg.listeners[li->i].deleted))
        li->i++; /* the collector's /metrics: no WinRM listener */
    if (li->i >= li->srv->cfg.nlisteners)
        return WSM_ERR_NOT_FOUND;
    fill_listener(li->srv, &li->srv->cfg.listeners[li->i++], inst);
    return WSM_OK;
}

/* <cfg:Listener xmlns:cfg="URI_LISTENER">, one element per property and
 * per ListeningOn address. */
static enum wsm_err write_listener(struct wsm_buf *o, const struct cim_instance *inst)
{
    struct w w = {o, WSM_OK};
    open_el(&w, "Listener", URI_LISTENER);
    for (size_t i = 0; i < inst->cls->nprops; i++) {
        const struct cim_val *v = &inst->v[i];
        if (inst->cls->props[i].flags & CIM_ARRAY)
            for (size_t k = 0; k < v->n; k++)
                str_el(&w, inst->cls->props[i].name, v->items[k]);
        else
            str_el(&w, inst->cls->props[i].name, v->s ? v->s : "");
    }
    close_el(&w, "Listener");
    return w.e;
}

/* Get: the listener the selectors Address and Transport name (the first
 * one, if two listen on the same address with different ports). */
enum wsm_err wsmd__wsmconfig_listener_get(struct wsmd_call *call)
{
    const struct wsm_envelope *env = call->env;
    const char *addr = wsm__envelope_selector(env, "Address");
    const char *transport = wsm__envelope_selector(env, "Transport");
    if (!addr || !transport || env->nselectors != 2)
        return WSM_ERR_INVALID_SELECTORS;
    const struct wsmd_config *cfg = &call->srv->cfg;
    enum wsm_err e = WSM_ERR_NOT_FOUND;
    for (size_t i = 0; i < cfg->nlisteners && e == WSM_ERR_NOT_FOUND; i++) {
        if (cfg->listeners[i].metrics || cfg->listeners[i].deleted)
            continue;
        struct wsm_arena a;
        wsm__arena_init(&a);
        struct cim_val v[sizeof(listener_props) / sizeof(listener_props[0])];
        memset(v, 0, sizeof(v));
        struct cim_instance inst = {.cls = &listener_class, .arena = &a, .v = v};
        fill_listener(call->srv, &cfg->listeners[i], &inst);
        const char *a_addr = cim_get(&inst, "Address"), *a_tr = cim_get(&inst, "Transport");
        if (a_addr && a_tr && !strcasecmp(a_addr, addr) && !strcasecmp(a_tr, transport)) {
            e = wsm__reply_begin(call->out, XF "GetResponse", env->message_id, NULL);
            if (!e)
                e = write_listener(call->out, &inst);
            if (!e)
                e = wsm__reply_end(call->out);
        }
        wsm__arena_free(&a);
    }
    return e;
}

enum wsm_err wsmd__wsmconfig_listener_enumerate(struct wsmd_call *call)
{
    struct listener_it *it = calloc(1, sizeof(*it));
    if (!it)
        return WSM_ERR_NOMEM;
    it->srv = call->srv;
    struct wsmd_enum_source src = {
        .cls = &listener_class,
        .it = it,
        .uri_prefix = WSM_NS_CFG "/",
        .write = write_listener,
    };
    return wsmd__enum_source(call, &src);
}
#endif /* WSMD_HAVE_CIM */

/* ---- the resources, for the dispatch table (dispatch.c) ------------- */

enum section { S_CONFIG, S_SERVICE, S_AUTH, S_PORTS, S_WINRS, S_LISTENER };

static const struct {
    const char *uri;
    enum section s;
} resources[] = {
    {URI_CONFIG, S_CONFIG},     {URI_SERVICE, S_SERVICE}, {URI_AUTH, S_AUTH},
    {URI_PORTS, S_PORTS},       {URI_WINRS, S_WINRS},
#ifdef WSMD_HAVE_CIM
    {URI_LISTENER, S_LISTENER},
#endif
};

static enum wsm_err get_section(struct wsmd_call *call, enum section s, const char *action)
{
    const struct wsmd_server *srv = call->srv;
    if (call->env->nselectors)
        return WSM_ERR_INVALID_SELECTORS;
    if (call->env->fragment)
        return WSM_ERR_FRAGMENT;
    struct w w = {call->out, wsm__reply_begin(call->out, action, call->env->message_id, NULL)};
    switch (s) {
    case S_CONFIG:
        write_config(&w, srv);
        break;
    case S_SERVICE:
        write_service(&w, srv, URI_SERVICE);
        break;
    case S_AUTH:
        write_auth(&w, srv, URI_AUTH);
        break;
    case S_PORTS:
        write_ports(&w, URI_PORTS);
        break;
    default:
        write_winrs(&w, srv, URI_WINRS);
        break;
    }
    return w.e ? w.e : wsm__reply_end(call->out);
}

/* Finds the section of the resource URI; -1 if it is not one. */
static int section_of(const char *res)
{
    if (!res)
        return -1;
    for (size_t i = 0; i < sizeof(resources) / sizeof(resources[0]); i++)
        if (!strcasecmp(resources[i].uri, res))
            return (int)i;
    return -1;
}

int wsmd__wsmconfig_is_section(const char *res)
{
    int i = section_of(res);
    return i >= 0 && resources[i].s != S_LISTENER;
}

int wsmd__wsmconfig_is_listener(const char *res)
{
    int i = section_of(res);
    return i >= 0 && resources[i].s == S_LISTENER;
}

enum wsm_err wsmd__wsmconfig_get(struct wsmd_call *call)
{
    int i = section_of(call->env->resource_uri);
    if (i < 0 || resources[i].s == S_LISTENER)
        return WSM_ERR_ACTION_NOT_SUPPORTED;
    return get_section(call, resources[i].s, XF "GetResponse");
}

enum wsm_err wsmd__wsmconfig_section_reply(struct wsmd_call *call, const char *action)
{
    int i = section_of(call->env->resource_uri);
    if (i < 0 || resources[i].s == S_LISTENER)
        return WSM_ERR_ACTION_NOT_SUPPORTED;
    return get_section(call, resources[i].s, action);
}

int wsmd__wsmconfig_is_change(const char *action)
{
    /* Put, Create, Delete and methods (any action outside WS-Transfer,
     * WS-Enumeration and WS-Eventing) are changes. */
    if (!strcmp(action, XF "Put") || !strcmp(action, XF "Create") || !strcmp(action, XF "Delete"))
        return 1;
    return strncmp(action, XF, strlen(XF)) != 0 && strncmp(action, EN, strlen(EN)) != 0 &&
           strncmp(action, EV, strlen(EV)) != 0;
}

enum wsm_err wsmd__wsmconfig_read_only(struct wsmd_call *call)
{
    call->fault_message = READ_ONLY_MESSAGE;
    return WSM_ERR_ACTION_NOT_SUPPORTED;
}
