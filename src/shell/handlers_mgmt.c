/* The WinRS resource beyond one client's session: Disconnect, Reconnect
 * and Connect (MS-WSMV 3.1.4.15-17), and shell management: Enumerate and
 * Get of shells (3.1.4.8.2, 3.1.4.2.1) with Windows' fields, Delete by an
 * administrator, the Create options they show (the client's ShellId,
 * Name, address, locales, BufferMode). docs/internals/shell.md,
 * "Disconnected shells" and "Shell management". */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authz.h"
#include "engine.h"
#include "encoding.h"
#include "handlers.h"
#include "ns.h"
#include "server.h"
#include "uuid.h"
#ifdef WSMD_HAVE_CIM
#include "cimops.h"
#endif

#define SH_ACT "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
#define XF_ACT "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
#define RSP_NS " xmlns:rsp=\"" WSM_NS_SHELL "\""
#define DISCONNECTED_MSG                                                                           \
    "The shell is disconnected: send Reconnect (or Connect) to the shell before using it."

static struct wsm_arena *arena(struct wsmd_call *call)
{
    return &call->env->arena;
}

/* An administrator (every right: Windows' Administrators, "GA" in the
 * RootSDDL, authz.md) sees and deletes every user's shells. */
static int is_admin(struct wsmd_call *call)
{
    return call->user && wsmd__authz_rights(call->srv, call->user) == WSMD_RIGHTS_ALL;
}

/* rsp:BufferMode (OutputBufferingModeEnumeration): Block or Drop. */
static enum wsm_err buffer_mode(struct wsmd_call *call, xmlNodePtr parent,
                                enum shell_buffer_mode *mode)
{
    *mode = SHELL_BUFFER_KEEP;
    xmlNodePtr n = wsm__xml_child(parent, WSM_NS_SHELL, "BufferMode");
    if (!n)
        return WSM_OK;
    const char *t = wsm__xml_text(arena(call), n, 1);
    if (!t)
        return WSM_ERR_NOMEM;
    if (!strcasecmp(t, "Block"))
        *mode = SHELL_BUFFER_BLOCK;
    else if (!strcasecmp(t, "Drop"))
        *mode = SHELL_BUFFER_DROP;
    else {
        call->fault_message = "BufferMode must be Block or Drop.";
        return WSM_ERR_INVALID_ARG;
    }
    return WSM_OK;
}

static void client_ip(struct wsmd_call *call, char *out, size_t n)
{
    out[0] = '\0';
    const union MHD_ConnectionInfo *ci =
        call->conn ? MHD_get_connection_info(call->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS) : NULL;
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)n);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)n);
}

enum wsm_err wsmd__shell_create_opts(struct wsmd_call *call, xmlNodePtr shell, struct shell_opts *o,
                                     char *ip, size_t iplen)
{
    const char *id = wsm__xml_attr(shell, "ShellId");
    if (id) {
        if (!wsm__uuid_valid(id)) {
            call->fault_message = "The ShellId of a Create must be a GUID.";
            return WSM_ERR_INVALID_ARG;
        }
        o->id = id;
    }
    const char *name = wsm__xml_attr(shell, "Name");
    o->name = name && *name ? name : NULL;
    enum shell_buffer_mode mode;
    enum wsm_err e = buffer_mode(call, shell, &mode);
    if (e)
        return e;
    o->buffer_drop = mode == SHELL_BUFFER_DROP;
    client_ip(call, ip, iplen);
    o->client_ip = ip[0] ? ip : NULL;
    o->locale = call->env->locale;
    xmlNodePtr dl = wsm__xml_child(call->env->header, WSM_NS_MSWSMAN, "DataLocale");
    o->data_locale = dl ? wsm__xml_attr(dl, "lang") : NULL;
    return WSM_OK;
}

static enum wsm_err map_err(struct wsmd_call *call, const char *sid, enum wsm_err e)
{
    if (e == WSM_ERR_NOT_FOUND)
        return WSM_ERR_SHELL_NOT_FOUND;
    if (e == WSM_ERR_ACCESS_DENIED)
        call->fault_message = "Access is denied: the shell belongs to another user.";
    if (e == WSM_ERR_INVALID_ARG && shell_is_disconnected(call->srv->shells, call->user, sid))
        call->fault_message = DISCONNECTED_MSG;
    return e;
}

const char *wsmd__shell_disconnected_message(struct wsmd_call *call, const char *sid)
{
    return shell_is_disconnected(call->srv->shells, call->user, sid) ? DISCONNECTED_MSG : NULL;
}

static enum wsm_err empty_reply(struct wsmd_call *call, const char *action)
{
    enum wsm_err e = wsm__reply_begin(call->out, action, call->env->message_id, RSP_NS);
    return e ? e : wsm__reply_end(call->out);
}

/* ---- Disconnect, Reconnect, Connect ---------------------------------- */

enum wsm_err wsmd__shell_disconnect(struct wsmd_call *call)
{
    const char *sid = wsm__envelope_selector(call->env, "ShellId");
    if (!sid)
        return WSM_ERR_INVALID_SELECTORS;
    xmlNodePtr d = wsm__xml_child(call->env->body, WSM_NS_SHELL, "Disconnect");
    if (!d)
        return WSM_ERR_INVALID_ARG;
    long idle = 0;
    xmlNodePtr n = wsm__xml_child(d, WSM_NS_SHELL, "IdleTimeOut");
    if (n) {
        const char *t = wsm__xml_text(arena(call), n, 1);
        if (!t)
            return WSM_ERR_NOMEM;
        /* xs:duration (DisconnectType); MS-PSRP speaks of an integer,
         * taken as milliseconds. */
        char *end;
        long v = strtol(t, &end, 10);
        if (*t >= '0' && *t <= '9' && !*end)
            idle = v;
        else if (wsm__duration_ms(t, &idle) != WSM_OK)
            idle = -1;
        if (idle <= 0) {
            call->fault_message = "IdleTimeOut must be a positive xs:duration.";
            return WSM_ERR_INVALID_ARG;
        }
    }
    enum shell_buffer_mode mode;
    enum wsm_err e = buffer_mode(call, d, &mode);
    if (!e)
        e = shell_disconnect(call->srv->shells, call->user, sid, idle, mode);
    if (e)
        return map_err(call, sid, e);
    return empty_reply(call, SH_ACT "DisconnectResponse");
}

/* Reconnect (empty body, or rsp:Reconnect with a BufferMode) and Connect
 * (rsp:Connect, whatever open content it carries: PowerShell's
 * connectXml). A CommandId on either names a command of the shell: its
 * output resumes with the shell's. */
static enum wsm_err reconnect(struct wsmd_call *call, int connect)
{
    const char *sid = wsm__envelope_selector(call->env, "ShellId");
    if (!sid)
        return WSM_ERR_INVALID_SELECTORS;
    xmlNodePtr b = wsm__xml_child(call->env->body, WSM_NS_SHELL, connect ? "Connect" : "Reconnect");
    if (connect && !b)
        return WSM_ERR_INVALID_ARG;
    enum shell_buffer_mode mode = SHELL_BUFFER_KEEP;
    enum wsm_err e = b ? buffer_mode(call, b, &mode) : WSM_OK;
    if (!e)
        e = shell_reconnect(call->srv->shells, call->user, sid, mode, connect);
    if (e == WSM_ERR_INTERNAL)
        call->fault_message = "The shell is connected: Connect takes up a disconnected shell only "
                              "(MS-WSMV 3.1.4.17).";
    if (e)
        return map_err(call, sid, e);
    if (!connect)
        return empty_reply(call, SH_ACT "ReconnectResponse");
    /* The streams its Create named, as Windows answers a Connect. */
    struct shell_info *v = NULL;
    size_t n = 0;
    unsigned streams = SHELL_STREAM_ALL;
    if (shell_list(call->srv->shells, call->user, sid, &v, &n) == WSM_OK && n == 1)
        streams = v[0].streams;
    shell_info_free(v, n);
    e = wsm__reply_begin(call->out, SH_ACT "ConnectResponse", call->env->message_id, RSP_NS);
    if (!e)
        e = wsm__buf_printf(call->out,
                            "<rsp:ConnectResponse><rsp:InputStreams>%s</rsp:InputStreams>"
                            "<rsp:OutputStreams>%s</rsp:OutputStreams></rsp:ConnectResponse>",
                            wsmd__shell_stream_names(streams, 0),
                            wsmd__shell_stream_names(streams, 1));
    return e ? e : wsm__reply_end(call->out);
}

enum wsm_err wsmd__shell_reconnect(struct wsmd_call *call)
{
    return reconnect(call, 0);
}

enum wsm_err wsmd__shell_connect(struct wsmd_call *call)
{
    return reconnect(call, 1);
}

/* ---- shell management ---------------------------------------------- */

/* Windows' fields in Windows' order (winrm enumerate windows/shell). */
enum {
    F_ID,
    F_NAME,
    F_URI,
    F_OWNER,
    F_IP,
    F_PID,
    F_IDLE,
    F_IN,
    F_OUT,
    F_MAXIDLE,
    F_LOCALE,
    F_DATALOCALE,
    F_COMPRESSION,
    F_PROFILE,
    F_ENCODING,
    F_BUFFER,
    F_STATE,
    F_RUNTIME,
    F_INACTIVITY,
    F_MEMORY,
    F_CHILDREN,
    F_COUNT
};
static const char *const field_names[F_COUNT] = {
    "ShellId",        "Name",        "ResourceUri",     "Owner",           "ClientIP",
    "ProcessId",      "IdleTimeOut", "InputStreams",    "OutputStreams",   "MaxIdleTimeOut",
    "Locale",         "DataLocale",  "CompressionMode", "ProfileLoaded",   "Encoding",
    "BufferMode",     "State",       "ShellRunTime",    "ShellInactivity", "MemoryUsed",
    "ChildProcesses",
};

struct fields {
    const char *v[F_COUNT]; /* NULL: not shown */
    char pid[24], idle[32], maxidle[32], run[48], inact[48], mem[32], children[24];
};

static void ms_duration(char *out, size_t n, long ms)
{
    snprintf(out, n, "PT%ld.%03ldS", ms / 1000, ms % 1000);
}

/* P0DT0H5M12S, as Windows writes ShellRunTime and ShellInactivity. */
static void dhms(char *out, size_t n, long long ms)
{
    long long s = ms < 0 ? 0 : ms / 1000;
    snprintf(out, n, "P%lldDT%lldH%lldM%lldS", s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
}

static void shell_fields(const struct shell_info *i, struct fields *f)
{
    memset(f->v, 0, sizeof(f->v));
    f->v[F_ID] = i->id;
    f->v[F_NAME] = i->name;
    f->v[F_URI] = WSMD_SHELL_URI;
    f->v[F_OWNER] = i->owner;
    f->v[F_IP] = i->client_ip;
    if (i->pid > 0) {
        snprintf(f->pid, sizeof(f->pid), "%d", (int)i->pid);
        f->v[F_PID] = f->pid;
    }
    ms_duration(f->idle, sizeof(f->idle), i->idle_ms);
    f->v[F_IDLE] = f->idle;
    f->v[F_IN] = wsmd__shell_stream_names(i->streams, 0);
    f->v[F_OUT] = wsmd__shell_stream_names(i->streams, 1);
    if (i->max_idle_ms > 0) {
        ms_duration(f->maxidle, sizeof(f->maxidle), i->max_idle_ms);
        f->v[F_MAXIDLE] = f->maxidle;
    }
    f->v[F_LOCALE] = i->locale;
    f->v[F_DATALOCALE] = i->data_locale;
    /* Streams go as the command wrote them (UTF-8 on Linux); no profile
     * is loaded for a command (nothing like a Windows profile exists). */
    f->v[F_COMPRESSION] = wsmd__shell_enc_get(i->id).xpress ? "XpressCompression" : "NoCompression";
    f->v[F_PROFILE] = "No";
    f->v[F_ENCODING] = "UTF8";
    f->v[F_BUFFER] = i->drop ? "Drop" : "Block";
    f->v[F_STATE] = i->disconnected ? "Disconnected" : "Connected";
    dhms(f->run, sizeof(f->run), i->run_ms);
    f->v[F_RUNTIME] = f->run;
    dhms(f->inact, sizeof(f->inact), i->inactive_ms);
    f->v[F_INACTIVITY] = f->inact;
    snprintf(f->mem, sizeof(f->mem), "%lluMB", (i->memory + (1ull << 20) - 1) >> 20);
    f->v[F_MEMORY] = f->mem;
    snprintf(f->children, sizeof(f->children), "%ld", i->processes);
    f->v[F_CHILDREN] = f->children;
}

/* <rsp:Shell>, one element per known field. */
static enum wsm_err write_shell(struct wsm_buf *o, const char *const *v)
{
    enum wsm_err e = wsm__buf_puts(o, "<rsp:Shell" RSP_NS ">");
    for (int k = 0; !e && k < F_COUNT; k++) {
        if (!v[k])
            continue;
        e = wsm__buf_printf(o, "<rsp:%s>", field_names[k]);
        if (!e)
            e = wsm__buf_xml(o, v[k]);
        if (!e)
            e = wsm__buf_printf(o, "</rsp:%s>", field_names[k]);
    }
    return e ? e : wsm__buf_puts(o, "</rsp:Shell>");
}

/* The shells the caller may see: its own, an administrator's all. */
static enum wsm_err visible(struct wsmd_call *call, const char *sid, struct shell_info **v,
                            size_t *n)
{
    return shell_list(call->srv->shells, is_admin(call) ? NULL : call->user, sid, v, n);
}

enum wsm_err wsmd__shell_get(struct wsmd_call *call)
{
    const char *sid = wsm__envelope_selector(call->env, "ShellId");
    if (!sid || call->env->nselectors != 1)
        return WSM_ERR_INVALID_SELECTORS;
    struct shell_info *v;
    size_t n;
    enum wsm_err e = visible(call, sid, &v, &n);
    if (e)
        return e;
    if (n == 0)
        return WSM_ERR_SHELL_NOT_FOUND;
    struct fields f;
    shell_fields(&v[0], &f);
    e = wsm__reply_begin(call->out, XF_ACT "GetResponse", call->env->message_id, NULL);
    if (!e)
        e = write_shell(call->out, f.v);
    if (!e)
        e = wsm__reply_end(call->out);
    shell_info_free(v, n);
    return e;
}

/* Delete of another user's shell by an administrator (through
 * .../windows/shell): its owner (freed by the caller); NULL when the
 * caller is no administrator or the shell does not exist. */
char *wsmd__shell_admin_owner(struct wsmd_call *call, const char *sid)
{
    if (!is_admin(call))
        return NULL;
    struct shell_info *v;
    size_t n;
    if (shell_list(call->srv->shells, NULL, sid, &v, &n) != WSM_OK || n == 0)
        return NULL;
    char *owner = strdup(v[0].owner);
    shell_info_free(v, n);
    return owner;
}

#ifdef WSMD_HAVE_CIM
/* Enumerate through the CIM enumeration contexts (Pull, Release,
 * GetStatus, EPRs, selector filters: enum.c): every field a string. */
static const struct cim_prop shell_props[F_COUNT] = {
    {"ShellId", CIM_STRING, CIM_KEY},   {"Name", CIM_STRING, 0},
    {"ResourceUri", CIM_STRING, 0},     {"Owner", CIM_STRING, 0},
    {"ClientIP", CIM_STRING, 0},        {"ProcessId", CIM_STRING, 0},
    {"IdleTimeOut", CIM_STRING, 0},     {"InputStreams", CIM_STRING, 0},
    {"OutputStreams", CIM_STRING, 0},   {"MaxIdleTimeOut", CIM_STRING, 0},
    {"Locale", CIM_STRING, 0},          {"DataLocale", CIM_STRING, 0},
    {"CompressionMode", CIM_STRING, 0}, {"ProfileLoaded", CIM_STRING, 0},
    {"Encoding", CIM_STRING, 0},        {"BufferMode", CIM_STRING, 0},
    {"State", CIM_STRING, 0},           {"ShellRunTime", CIM_STRING, 0},
    {"ShellInactivity", CIM_STRING, 0}, {"MemoryUsed", CIM_STRING, 0},
    {"ChildProcesses", CIM_STRING, 0},
};

struct shell_it {
    struct shell_info *v;
    size_t n, i;
};

static enum wsm_err shell_next(void *it, struct cim_instance *inst)
{
    struct shell_it *s = it;
    if (s->i >= s->n)
        return WSM_ERR_NOT_FOUND;
    struct fields f;
    shell_fields(&s->v[s->i++], &f);
    for (int k = 0; k < F_COUNT; k++)
        cim_set_str(inst, field_names[k], f.v[k]);
    return WSM_OK;
}

static void shell_close(void *it)
{
    struct shell_it *s = it;
    if (s)
        shell_info_free(s->v, s->n);
    free(s);
}

/* The EPR's resource URI is uri_prefix + name: .../windows/shell/cmd. */
static const struct cim_class shell_class = {
    .name = "cmd",
    .props = shell_props,
    .nprops = F_COUNT,
    .next = shell_next,
    .close = shell_close,
};

static enum wsm_err write_inst(struct wsm_buf *o, const struct cim_instance *inst)
{
    const char *v[F_COUNT];
    for (int k = 0; k < F_COUNT; k++)
        v[k] = inst->v[k].s;
    return write_shell(o, v);
}

enum wsm_err wsmd__shell_enumerate(struct wsmd_call *call)
{
    struct shell_it *it = calloc(1, sizeof(*it));
    if (!it)
        return WSM_ERR_NOMEM;
    enum wsm_err e = visible(call, NULL, &it->v, &it->n);
    if (e) {
        free(it);
        return e;
    }
    struct wsmd_enum_source src = {
        .cls = &shell_class,
        .it = it,
        .uri_prefix = WSM_NS_SHELL "/",
        .write = write_inst,
    };
    return wsmd__enum_source(call, &src);
}
#endif
