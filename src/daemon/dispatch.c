#include <string.h>
#include <strings.h>

#ifdef WSMD_HAVE_CIM
#include "cim.h"
#include "cimops.h"
#endif

#include "ns.h"
#include "server.h"
#include "wsmconfig.h"

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

struct route {
    const char *action;   /* exact */
    const char *resource; /* exact */
    wsmd_handler fn;
};

/* Resources register here as they are implemented. */
static const struct route routes[] = {
#ifdef WSMD_HAVE_SHELL
    {XF "Create", WSMD_SHELL_URI, wsmd__shell_create},
    {XF "Delete", WSMD_SHELL_URI, wsmd__shell_delete},
    {SH "Command", WSMD_SHELL_URI, wsmd__shell_command},
    {SH "Send", WSMD_SHELL_URI, wsmd__shell_send},
    {SH "Receive", WSMD_SHELL_URI, wsmd__shell_receive},
    {SH "Signal", WSMD_SHELL_URI, wsmd__shell_signal},
#endif
    {NULL, NULL, NULL},
};

static int is_known_action(const char *a)
{
    for (size_t i = 0; i < sizeof(known_actions) / sizeof(known_actions[0]); i++)
        if (strcmp(known_actions[i], a) == 0)
            return 1;
    return 0;
}

#ifdef WSMD_HAVE_CIM
/* CIM classes: the action set is fixed, the resources are the classes;
 * any other action under the class URI is a method (Invoke). */
static int cim_route(struct wsmd_call *call, enum wsm_err *result)
{
    const char *res = call->env->resource_uri;
    const char *action = call->env->action;
    int all = res && (!strcasecmp(res, WMI_ALL_URI) || !strcasecmp(res, DMTF_ALL_URI));
    if (!res || (!all && !cim_class_for_uri(res)))
        return 0;
    if (!strcmp(action, XF "Get"))
        *result = wsmd__cim_get(call);
    else if (!strcmp(action, XF "Put"))
        *result = wsmd__cim_put(call);
    else if (!strcmp(action, EN "Enumerate"))
        *result = wsmd__cim_enumerate(call);
    else if (!strcmp(action, EN "Pull"))
        *result = wsmd__cim_pull(call);
    else if (!strcmp(action, EN "Release"))
        *result = wsmd__cim_release(call);
    else if (!strcmp(action, EN "GetStatus"))
        *result = wsmd__cim_getstatus(call);
    else if (!all && !strncasecmp(action, res, strlen(res)) && action[strlen(res)] == '/' &&
             action[strlen(res) + 1] && !strchr(action + strlen(res) + 1, '/'))
        *result = wsmd__cim_invoke(call, action + strlen(res) + 1);
    else
        *result = WSM_ERR_ACTION_NOT_SUPPORTED;
    return 1;
}
#endif

enum wsm_err wsmd__dispatch(struct wsmd_call *call)
{
    const struct wsm_envelope *env = call->env;
    if (env->is_identify)
        return wsmd__identify(call);
    enum wsm_err cfg_result;
    if (wsmd__wsmconfig_route(call, &cfg_result))
        return cfg_result;
#ifdef WSMD_HAVE_CIM
    enum wsm_err cim_result;
    if (cim_route(call, &cim_result))
        return cim_result;
#endif

    const char *action = env->action;
    const char *res = env->resource_uri;
    int action_served = 0;
    for (const struct route *r = routes; r->action; r++) {
        if (strcmp(r->action, action) != 0)
            continue;
        action_served = 1;
        if (res && strcmp(r->resource, res) == 0)
            return r->fn(call);
    }
    if (!action_served && !is_known_action(action))
        return WSM_ERR_ACTION_NOT_SUPPORTED;
    if (!res)
        return WSM_ERR_DESTINATION_UNREACHABLE;
    /* A served resource asked for an action it does not do. */
    for (const struct route *r = routes; r->action; r++)
        if (strcmp(r->resource, res) == 0)
            return WSM_ERR_ACTION_NOT_SUPPORTED;
    return WSM_ERR_DESTINATION_UNREACHABLE;
}
