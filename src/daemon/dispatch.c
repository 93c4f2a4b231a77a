/* Dispatch: one table of resource families and their operations.
 *
 * A family says which requests are its own (match: the resource URI
 * today; an eventing endpoint may match the request path too), the
 * operations it serves (action -> handler), each with the one right
 * (authz.h) it needs, and optionally how to read any other action as a
 * method of the resource (Invoke). New families (eventing, the
 * subscription manager, IPMI) are one more row, not another branch
 * (docs/internals/daemon.md).
 *
 * Faults, in order: an action outside known_actions on a resource no
 * family serves is wsa:ActionNotSupported; a known one
 * wsa:DestinationUnreachable; a served resource asked for an action it
 * does not do is wsa:ActionNotSupported; a right not held is
 * w:AccessDenied (a user holding no right at all gets it for every
 * request but Identify, as Windows' RootSDDL gates the whole service). */
#include <stdio.h>
#include <pwd.h>
#include <string.h>
#include <strings.h>

#ifdef WSMD_HAVE_CIM
#include "cim.h"
#include "cimops.h"
#endif

#include "authz.h"
#include "cfgset.h"
#include "collector.h"
#include "evsub.h"
#include "ns.h"
#include "server.h"
#include "wsmconfig.h"
#include "cfglisten.h"

#define XF "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
#define EN "http://schemas.xmlsoap.org/ws/2004/09/enumeration/"
#define EV "http://schemas.xmlsoap.org/ws/2004/08/eventing/"
#define SH "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"

/* Every action a WS-Management service may be asked for. An action outside
 * this list is wsa:ActionNotSupported whatever the resource; an action in
 * it aimed at a resource nobody serves is wsa:DestinationUnreachable. */
static const char *const known_actions[] = {
    XF "Get",     XF "Put",         XF "Create",    XF "Delete",     EN "Enumerate",
    EN "Pull",    EN "Release",     EN "Renew",     EN "GetStatus",  EV "Subscribe",
    EV "Renew",   EV "Unsubscribe", EV "GetStatus", SH "Command",    SH "Send",
    SH "Receive", SH "Signal",      SH "Connect",   SH "Disconnect", SH "Reconnect",
};

struct op {
    const char *action; /* exact */
    unsigned right;     /* enum wsmd_right; WSMD_RIGHT_OWN: the family decides */
    wsmd_handler fn;
};

/* The family authorizes its operations itself (the event collector: each
 * subscription's allowed principals, who need not be local accounts). */
#define WSMD_RIGHT_OWN 0u

struct family {
    const char *name; /* for logs */
    int (*match)(const struct wsmd_call *call);
    const struct op *ops; /* ends with a NULL action */
    /* Optional: 1 if action names a method of the resource (*name, and
     * the right it needs in *right); it is run by invoke. */
    int (*method)(const struct wsmd_call *call, const char **name, unsigned *right);
    enum wsm_err (*invoke)(struct wsmd_call *call, const char *name);
};

/* ---- winrm/config --------------------------------------------------- */

static int match_config(const struct wsmd_call *call)
{
    return wsmd__wsmconfig_is_section(call->env->resource_uri);
}

/* Any change of winrm/config (Put, Create, Delete, a method) needs
 * config-write, and is then refused as read-only: a user who may not
 * change the configuration learns that first. */
static int config_change(const struct wsmd_call *call, const char **name, unsigned *right)
{
    if (!wsmd__wsmconfig_is_change(call->env->action))
        return 0;
    *name = call->env->action;
    *right = WSMD_RIGHT_CONFIG_WRITE;
    return 1;
}

static enum wsm_err config_read_only(struct wsmd_call *call, const char *name)
{
    (void)name;
    return wsmd__wsmconfig_read_only(call);
}

/* Put of a section and Restore (cfgset.c); Create, Delete and other
 * methods are refused there. */
static enum wsm_err config_write(struct wsmd_call *call, const char *name)
{
    (void)name;
    return wsmd__cfgset_change(call);
}

static const struct op config_ops[] = {
    {XF "Get", WSMD_RIGHT_CONFIG_READ, wsmd__wsmconfig_get},
    {NULL, 0, NULL},
};

#ifdef WSMD_HAVE_CIM
static int match_listener(const struct wsmd_call *call)
{
    return wsmd__wsmconfig_is_listener(call->env->resource_uri);
}

static const struct op listener_ops[] = {
    {XF "Get", WSMD_RIGHT_CONFIG_READ, wsmd__wsmconfig_listener_get},
    {EN "Enumerate", WSMD_RIGHT_CONFIG_READ, wsmd__wsmconfig_listener_enumerate},
    /* Changed live and persisted (cfglisten.c). */
    {XF "Create", WSMD_RIGHT_CONFIG_WRITE, wsmd__cfgl_listener_create},
    {XF "Delete", WSMD_RIGHT_CONFIG_WRITE, wsmd__cfgl_listener_delete},
    /* Contexts answer only under the URI of their Enumerate (enumctx.c). */
    {EN "Pull", WSMD_RIGHT_CONFIG_READ, wsmd__cim_pull},
    {EN "Release", WSMD_RIGHT_CONFIG_READ, wsmd__cim_release},
    {EN "GetStatus", WSMD_RIGHT_CONFIG_READ, wsmd__cim_getstatus},
    {NULL, 0, NULL},
};

static int match_certmap(const struct wsmd_call *call)
{
    return wsmd__cfgl_is_certmapping(call->env->resource_uri);
}

static const struct op certmap_ops[] = {
    {XF "Get", WSMD_RIGHT_CONFIG_READ, wsmd__cfgl_certmap_get},
    {EN "Enumerate", WSMD_RIGHT_CONFIG_READ, wsmd__cfgl_certmap_enumerate},
    {EN "Pull", WSMD_RIGHT_CONFIG_READ, wsmd__cim_pull},
    {EN "Release", WSMD_RIGHT_CONFIG_READ, wsmd__cim_release},
    {EN "GetStatus", WSMD_RIGHT_CONFIG_READ, wsmd__cim_getstatus},
    {XF "Create", WSMD_RIGHT_CONFIG_WRITE, wsmd__cfgl_certmap_create},
    {XF "Delete", WSMD_RIGHT_CONFIG_WRITE, wsmd__cfgl_certmap_delete},
    {NULL, 0, NULL},
};

/* ---- CIM classes ------------------------------------------------------ */

static int cim_all(const char *res)
{
    return !strcasecmp(res, WMI_ALL_URI) || !strcasecmp(res, DMTF_ALL_URI);
}

static int match_cim(const struct wsmd_call *call)
{
    const char *res = call->env->resource_uri;
    return res && (cim_all(res) || cim_class_for_uri(res));
}

/* Any other action under the class URI ("<class URI>/<Method>") is a
 * method. Creating a process is its own right; GetOwner only reads. */
static int cim_method(const struct wsmd_call *call, const char **name, unsigned *right)
{
    const char *res = call->env->resource_uri, *action = call->env->action;
    size_t n = strlen(res);
    if (cim_all(res) || strncasecmp(action, res, n) != 0 || action[n] != '/' || !action[n + 1] ||
        strchr(action + n + 1, '/'))
        return 0;
    *name = action + n + 1;
    /* Raw IPMI can do anything the BMC can: its own right (ipmiraw.c). */
    static const char raw[] = "/root/wmi/Microsoft_IPMI";
    int is_raw = n >= sizeof(raw) - 1 && !strcasecmp(res + n - (sizeof(raw) - 1), raw);
    *right = is_raw                           ? WSMD_RIGHT_IPMI
             : !strcasecmp(*name, "Create")   ? WSMD_RIGHT_CREATE
             : !strcasecmp(*name, "GetOwner") ? WSMD_RIGHT_READ
                                              : WSMD_RIGHT_INVOKE;
    return 1;
}

static const struct op cim_ops[] = {
    {XF "Get", WSMD_RIGHT_READ, wsmd__cim_get},
    {XF "Put", WSMD_RIGHT_INVOKE, wsmd__cim_put},
    {EN "Enumerate", WSMD_RIGHT_READ, wsmd__cim_enumerate},
    {EN "Pull", WSMD_RIGHT_READ, wsmd__cim_pull},
    {EN "Release", WSMD_RIGHT_READ, wsmd__cim_release},
    {EN "GetStatus", WSMD_RIGHT_READ, wsmd__cim_getstatus},
    {NULL, 0, NULL},
};
#endif

/* ---- remote shells (WinRS) ------------------------------------------- */
#ifdef WSMD_HAVE_SHELL
static int match_shell(const struct wsmd_call *call)
{
    const char *res = call->env->resource_uri;
    return res && !strcmp(res, WSMD_SHELL_URI);
}

static const struct op shell_ops[] = {
    {XF "Create", WSMD_RIGHT_SHELL, wsmd__shell_create},
    {XF "Delete", WSMD_RIGHT_SHELL, wsmd__shell_delete},
    {SH "Command", WSMD_RIGHT_SHELL, wsmd__shell_command},
    {SH "Send", WSMD_RIGHT_SHELL, wsmd__shell_send},
    {SH "Receive", WSMD_RIGHT_SHELL, wsmd__shell_receive},
    {SH "Signal", WSMD_RIGHT_SHELL, wsmd__shell_signal},
    {SH "Disconnect", WSMD_RIGHT_SHELL, wsmd__shell_disconnect},
    {SH "Reconnect", WSMD_RIGHT_SHELL, wsmd__shell_reconnect},
    {SH "Connect", WSMD_RIGHT_SHELL, wsmd__shell_connect},
    /* Shell management (handlers_mgmt.c): a user's own shells, an
     * administrator's all. */
    {XF "Get", WSMD_RIGHT_SHELL, wsmd__shell_get},
#ifdef WSMD_HAVE_CIM
    {EN "Enumerate", WSMD_RIGHT_SHELL, wsmd__shell_enumerate},
    {EN "Pull", WSMD_RIGHT_SHELL, wsmd__cim_pull},
    {EN "Release", WSMD_RIGHT_SHELL, wsmd__cim_release},
    {EN "GetStatus", WSMD_RIGHT_SHELL, wsmd__cim_getstatus},
#endif
    {NULL, 0, NULL},
};

/* .../windows/shell: every kind of shell, for management only. */
static int match_shell_mgmt(const struct wsmd_call *call)
{
    const char *res = call->env->resource_uri;
    return res && !strcmp(res, WSMD_SHELL_MGMT_URI);
}

static const struct op shell_mgmt_ops[] = {
    {XF "Get", WSMD_RIGHT_SHELL, wsmd__shell_get},
    {XF "Delete", WSMD_RIGHT_SHELL, wsmd__shell_delete},
#ifdef WSMD_HAVE_CIM
    {EN "Enumerate", WSMD_RIGHT_SHELL, wsmd__shell_enumerate},
    {EN "Pull", WSMD_RIGHT_SHELL, wsmd__cim_pull},
    {EN "Release", WSMD_RIGHT_SHELL, wsmd__cim_release},
    {EN "GetStatus", WSMD_RIGHT_SHELL, wsmd__cim_getstatus},
#endif
    {NULL, 0, NULL},
};
#endif

/* ---- the event collector (src/collector) -------------------------------- */

/* Its own paths (the GPO's subscription manager, the delivery endpoints):
 * matched by the URL, not the resource URI. */
static int match_collector(const struct wsmd_call *call)
{
    return call->col != WSMD_COL_NONE;
}

static const struct op collector_ops[] = {
    {EN "Enumerate", WSMD_RIGHT_OWN, wsmd__col_enumerate},
    {WSMD_ACTION_END, WSMD_RIGHT_OWN, wsmd__col_end},
    {WSMD_ACTION_EVENTS, WSMD_RIGHT_OWN, wsmd__col_events},
    {WSMD_ACTION_HEARTBEAT, WSMD_RIGHT_OWN, wsmd__col_heartbeat},
    {WSMD_ACTION_SUBSCRIPTION_END, WSMD_RIGHT_OWN, wsmd__col_subscription_end},
    {NULL, 0, NULL},
};

/* ---- the event log as an event source (evsub.c, evpull.c) ---------------- */

static int match_eventlog(const struct wsmd_call *call)
{
    const char *res = call->env->resource_uri;
    return res && !strcasecmp(res, WSMD_EVENTLOG_URI);
}

static const struct op eventlog_ops[] = {
    {EV "Subscribe", WSMD_RIGHT_EVENTING, wsmd__evsub_subscribe},
    {EV "Renew", WSMD_RIGHT_EVENTING, wsmd__evsub_renew},
    {EV "GetStatus", WSMD_RIGHT_EVENTING, wsmd__evsub_getstatus},
    {EV "Unsubscribe", WSMD_RIGHT_EVENTING, wsmd__evsub_unsubscribe},
    {EN "Pull", WSMD_RIGHT_EVENTING, wsmd__evsub_pull},
    {EN "Release", WSMD_RIGHT_EVENTING, wsmd__evsub_release},
    {NULL, 0, NULL},
};

/* ---- the table -------------------------------------------------------- */

static const struct family families[] = {
    {"collector", match_collector, collector_ops, NULL, NULL},
    {"winrm-config", match_config, config_ops, config_change, config_write},
    {"eventlog", match_eventlog, eventlog_ops, NULL, NULL},
#ifdef WSMD_HAVE_CIM
    {"winrm-config-listener", match_listener, listener_ops, config_change, config_read_only},
    {"winrm-config-certmapping", match_certmap, certmap_ops, config_change, config_read_only},
    {"cim", match_cim, cim_ops, cim_method, wsmd__cim_invoke},
#endif
#ifdef WSMD_HAVE_SHELL
    {"shell", match_shell, shell_ops, NULL, NULL},
    {"shell", match_shell_mgmt, shell_mgmt_ops, NULL, NULL},
#endif
};

static int is_known_action(const char *a)
{
    for (size_t i = 0; i < sizeof(known_actions) / sizeof(known_actions[0]); i++)
        if (strcmp(known_actions[i], a) == 0)
            return 1;
    return 0;
}

/* A log-safe copy of a user name (it came through authentication, but a
 * log line must stay one line whatever it holds). */
static void safe_name(const char *s, char *out, size_t cap)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < cap; i++)
        out[i] = (s[i] <= ' ' || s[i] == '"' || s[i] == 0x7f) ? '_' : s[i];
    out[i] = '\0';
}

#define NO_ACCOUNT_FIX                                                                             \
    "wsmd runs as root and acts as the local account of the same name: create it (useradd -m "     \
    "NAME) or use an existing account's name in the user file"

/* As root, a user-file name with no local account of that name can do
 * nothing (the first hour's trap): the fault and the log say so. */
static int no_account(const struct wsmd_call *call)
{
    if (!call->srv->is_root || !call->user)
        return 0;
    struct passwd pw, *res = NULL;
    char buf[4096];
    return getpwnam_r(call->user, &pw, buf, sizeof(buf), &res) != 0 || !res;
}

static enum wsm_err deny(struct wsmd_call *call, const char *family, unsigned right)
{
    char user[64];
    safe_name(call->user, user, sizeof(user));
    if (no_account(call)) {
        wsmd__log("event=access-denied user=%s family=%s right=%s reason=\"not a local account\" "
                  "fix=\"useradd -m %s\"",
                  user, family ? family : "-", right ? wsmd__authz_right_name(right) : "any", user);
        call->fault_message =
            "Access is denied: the user is not a local account. " NO_ACCOUNT_FIX ".";
        return WSM_ERR_ACCESS_DENIED;
    }
    wsmd__log("event=access-denied user=%s family=%s right=%s", user[0] ? user : "-",
              family ? family : "-", right ? wsmd__authz_right_name(right) : "any");
    call->fault_message =
        right == WSMD_RIGHT_SHELL    ? "Access is denied: the user may not open remote shells "
                                       "here (wsmd's Allow lines; winrm/config/service RootSDDL)."
        : right == WSMD_RIGHT_CREATE ? "Access is denied: the user may not create processes "
                                       "here (wsmd's Allow lines; winrm/config/service RootSDDL)."
        : right ? "Access is denied: the user does not hold the right this operation needs "
                  "(wsmd's Allow lines; winrm/config/service RootSDDL)."
                : "Access is denied: the user holds no right on this service (wsmd's Allow "
                  "lines; winrm/config/service RootSDDL).";
    return WSM_ERR_ACCESS_DENIED;
}

/* A provider's own words for its fault (cim_fault_message), if it left
 * some and the handler did not say more. */
static enum wsm_err with_message(struct wsmd_call *call, enum wsm_err e)
{
#ifdef WSMD_HAVE_CIM
    const char *m = cim_fault_message_take(&call->env->arena);
    if (e != WSM_OK && m && !call->fault_message)
        call->fault_message = m;
#endif
    return e;
}

enum wsm_err wsmd__dispatch(struct wsmd_call *call)
{
    const struct wsm_envelope *env = call->env;
    if (env->is_identify)
        return wsmd__identify(call); /* needs no right, like Windows' */
    /* A principal with no local account holds no local right. */
    unsigned held = call->user ? wsmd__authz_rights(call->srv, call->user) : 0;
    const char *action = env->action;
    if (!held && !match_collector(call))
        return deny(call, NULL, 0);

    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        const struct family *f = &families[i];
        if (!f->match(call))
            continue;
        for (const struct op *o = f->ops; o->action; o++)
            if (!strcmp(o->action, action))
                return o->right == WSMD_RIGHT_OWN || (held & o->right)
                           ? with_message(call, o->fn(call))
                           : deny(call, f->name, o->right);
        const char *name;
        unsigned right;
        if (f->method && f->method(call, &name, &right))
            return (held & right) ? with_message(call, f->invoke(call, name))
                                  : deny(call, f->name, right);
        return WSM_ERR_ACTION_NOT_SUPPORTED; /* a served resource, an action it does not do */
    }
    return is_known_action(action) ? WSM_ERR_DESTINATION_UNREACHABLE : WSM_ERR_ACTION_NOT_SUPPORTED;
}
