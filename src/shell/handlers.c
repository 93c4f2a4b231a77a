/* The WinRS resource (MS-WSMV 3.1.4.1.x): messages to engine calls. */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base64.h"
#include "encoding.h"
#include "engine.h"
#include "handlers.h"
#include "ns.h"
#include "server.h"

#define SH_ACT "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
#define XF_ACT "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
#define STATE "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/"
#define RSP_NS " xmlns:rsp=\"" WSM_NS_SHELL "\""
#define MAX_GROUPS 256
#define BUDGET_MSG                                                                                 \
    "The user's buffered shell output is at its limit: receive the output of running commands "    \
    "first."

/* The account a request's commands run as. */
struct identity {
    struct shell_owner o;
    struct passwd pw;
    char pwbuf[4096];
    gid_t groups[MAX_GROUPS];
};

static enum wsm_err lookup_identity(struct wsmd_call *call, struct identity *id)
{
    struct passwd *res = NULL;
    memset(&id->o, 0, sizeof(id->o));
    id->o.name = call->user;
    if (!call->srv->is_root) {
        /* Not root: every shell runs as the daemon's own account. */
        if (getpwuid_r(geteuid(), &id->pw, id->pwbuf, sizeof(id->pwbuf), &res) != 0 || !res)
            return WSM_ERR_INTERNAL;
        const char *home = getenv("HOME");
        id->o.home = home && *home ? home : id->pw.pw_dir;
        id->o.shell = id->pw.pw_shell;
        id->o.uid = id->pw.pw_uid;
        id->o.gid = id->pw.pw_gid;
        return WSM_OK;
    }
    /* Root: the authenticated name must be a local account. */
    if (getpwnam_r(call->user, &id->pw, id->pwbuf, sizeof(id->pwbuf), &res) != 0 || !res) {
        /* The first hour's trap: say what to do, here and in the log. */
        call->fault_message = "The user has no local account to run commands as: wsmd runs as "
                              "root and runs a user's commands as the local account of the same "
                              "name; create it (useradd -m NAME).";
        wsmd__log("event=shell-refused user=%s reason=\"not a local account\" fix=\"useradd -m "
                  "%s\"",
                  call->user, call->user);
        return WSM_ERR_ACCESS_DENIED;
    }
    int n = MAX_GROUPS;
    if (getgrouplist(res->pw_name, res->pw_gid, id->groups, &n) < 0)
        n = MAX_GROUPS; /* truncated: the first MAX_GROUPS groups */
    id->o.switch_user = 1;
    id->o.uid = res->pw_uid;
    id->o.gid = res->pw_gid;
    id->o.groups = id->groups;
    id->o.ngroups = n;
    id->o.home = res->pw_dir;
    id->o.shell = res->pw_shell;
    return WSM_OK;
}

static const char *shell_id(struct wsmd_call *call)
{
    return wsm__envelope_selector(call->env, "ShellId");
}

enum wsm_err wsmd__shell_map_engine(struct wsmd_call *call, enum wsm_err e)
{
    if (e == WSM_ERR_INVALID_ARG && !call->fault_message)
        /* The engine refuses a disconnected shell's commands so. */
        call->fault_message =
            wsmd__shell_disconnected_message(call, wsm__envelope_selector(call->env, "ShellId"));
    return e == WSM_ERR_NOT_FOUND ? WSM_ERR_SHELL_NOT_FOUND : e;
}
#define map_engine(e) wsmd__shell_map_engine(call, (e))

static struct wsm_arena *arena(struct wsmd_call *call)
{
    /* Strings read from the request live as long as its envelope. */
    return &call->env->arena;
}

/* ---- Create ------------------------------------------------------- */

enum wsm_err wsmd__shell_create(struct wsmd_call *call)
{
    const struct wsm_envelope *env = call->env;
    xmlNodePtr sh = wsm__xml_child(env->body, WSM_NS_SHELL, "Shell");
    struct shell_opts opts = {0};
    const char *envv[65];
    size_t nenv = 0;
    enum wsm_err e;
    char id[37];

    if (!sh)
        return WSM_ERR_INVALID_ARG;
    xmlNodePtr n = wsm__xml_child(sh, WSM_NS_SHELL, "WorkingDirectory");
    if (n && !(opts.workdir = wsm__xml_text(arena(call), n, 1)))
        return WSM_ERR_NOMEM;
    if (opts.workdir && !*opts.workdir)
        opts.workdir = NULL;
    n = wsm__xml_child(sh, WSM_NS_SHELL, "IdleTimeOut");
    if (n) {
        const char *t = wsm__xml_text(arena(call), n, 1);
        if (!t)
            return WSM_ERR_NOMEM;
        if (wsm__duration_ms(t, &opts.idle_timeout_ms) != WSM_OK)
            return WSM_ERR_INVALID_ARG;
    }
    xmlNodePtr envn = wsm__xml_child(sh, WSM_NS_SHELL, "Environment");
    for (xmlNodePtr v = wsm__xml_child(envn, WSM_NS_SHELL, "Variable"); v;
         v = wsm__xml_next(v, WSM_NS_SHELL, "Variable")) {
        const char *name = wsm__xml_attr(v, "Name");
        const char *val = wsm__xml_text(arena(call), v, 0);
        if (!name || !*name || strchr(name, '=') || !val)
            return WSM_ERR_INVALID_ARG;
        if (nenv == sizeof(envv) / sizeof(envv[0]) - 1)
            return WSM_ERR_QUOTA;
        size_t l = strlen(name) + strlen(val) + 2;
        char *kv = wsm__arena_alloc(arena(call), l);
        if (!kv)
            return WSM_ERR_NOMEM;
        snprintf(kv, l, "%s=%s", name, val);
        envv[nenv++] = kv;
    }
    envv[nenv] = NULL;
    opts.env = nenv ? envv : NULL;
    char ip[64];
    if ((e = wsmd__shell_create_opts(call, sh, &opts, ip, sizeof(ip))))
        return e;
    if ((e = wsmd__shell_create_streams(call, sh, &opts.streams)))
        return e;
    struct shell_enc enc; /* WINRS_CODEPAGE, CompressionType */
    if ((e = wsmd__shell_enc_parse(call, &enc)))
        return e;

    struct identity *idn = malloc(sizeof(*idn));
    if (!idn)
        return WSM_ERR_NOMEM;
    e = lookup_identity(call, idn);
    if (!e)
        e = shell_create(call->srv->shells, &idn->o, &opts, id);
    free(idn);
    if (e == WSM_ERR_QUOTA) {
        if (!shell_over_budget(call->srv->shells, call->user, 0))
            return WSM_ERR_QUOTA_SHELLS;
        call->fault_message = BUDGET_MSG;
    }
    if (e == WSM_ERR_INVALID_ARG)
        call->fault_message = "The working directory does not exist or is not accessible.";
    if (e == WSM_ERR_ALREADY_EXISTS)
        call->fault_message = "A shell with this ShellId exists already.";
    if (e)
        return e;
    if ((e = wsmd__shell_enc_remember(call->srv->shells, id, &enc))) {
        shell_delete(call->srv->shells, call->user, id);
        return e;
    }

    long idle = opts.idle_timeout_ms > 0 ? opts.idle_timeout_ms : 7200000;
    struct wsm_buf *o = call->out;
    e = wsm__reply_begin(o, XF_ACT "CreateResponse", env->message_id,
                         RSP_NS " xmlns:x=\"" WSM_NS_WSXF "\"");
    if (!e)
        e = wsm__buf_puts(o, "<x:ResourceCreated><a:Address>");
    if (!e)
        e = wsm__buf_xml(o, env->to ? env->to : WSM_ADDR_ANONYMOUS);
    if (!e)
        e = wsm__buf_printf(o,
                            "</a:Address><a:ReferenceParameters><w:ResourceURI>" WSMD_SHELL_URI
                            "</w:ResourceURI><w:SelectorSet><w:Selector Name=\"ShellId\">%s"
                            "</w:Selector></w:SelectorSet></a:ReferenceParameters>"
                            "</x:ResourceCreated><rsp:Shell><rsp:ShellId>%s</rsp:ShellId>"
                            "<rsp:ResourceUri>" WSMD_SHELL_URI "</rsp:ResourceUri><rsp:Owner>",
                            id, id);
    if (!e)
        e = wsm__buf_xml(o, call->user);
    if (!e)
        e = wsm__buf_printf(o,
                            "</rsp:Owner><rsp:IdleTimeOut>PT%ld.%03ldS</rsp:IdleTimeOut>"
                            "<rsp:InputStreams>%s</rsp:InputStreams>"
                            "<rsp:OutputStreams>%s</rsp:OutputStreams></rsp:Shell>",
                            idle / 1000, idle % 1000, wsmd__shell_stream_names(opts.streams, 0),
                            wsmd__shell_stream_names(opts.streams, 1));
    if (!e)
        e = wsm__reply_end(o);
    if (e)
        shell_delete(call->srv->shells, call->user, id);
    return e;
}

/* ---- Delete ------------------------------------------------------- */

enum wsm_err wsmd__shell_delete(struct wsmd_call *call)
{
    const char *sid = shell_id(call);
    if (!sid)
        return WSM_ERR_INVALID_SELECTORS;
    enum wsm_err e = shell_delete(call->srv->shells, call->user, sid);
    if (e == WSM_ERR_NOT_FOUND && call->env->resource_uri &&
        !strcmp(call->env->resource_uri, WSMD_SHELL_MGMT_URI)) {
        /* An administrator deletes anybody's shell through shell
         * management (.../windows/shell); .../shell/cmd, the session's
         * own resource, stays its owner's alone. */
        char *owner = wsmd__shell_admin_owner(call, sid);
        if (owner)
            e = shell_delete(call->srv->shells, owner, sid);
        free(owner);
    }
    if (e)
        return map_engine(e);
    wsmd__shell_enc_forget(sid);
    e = wsm__reply_begin(call->out, XF_ACT "DeleteResponse", call->env->message_id, NULL);
    return e ? e : wsm__reply_end(call->out);
}

/* ---- Command ------------------------------------------------------ */

enum wsm_err wsmd__shell_command(struct wsmd_call *call)
{
    const char *sid = shell_id(call);
    if (!sid)
        return WSM_ERR_INVALID_SELECTORS;
    xmlNodePtr cl = wsm__xml_child(call->env->body, WSM_NS_SHELL, "CommandLine");
    xmlNodePtr cmd = wsm__xml_child(cl, WSM_NS_SHELL, "Command");
    if (!cmd)
        return WSM_ERR_INVALID_ARG;
    struct wsm_buf line;
    wsm__buf_init(&line, 64 * 1024);
    const char *t = wsm__xml_text(arena(call), cmd, 1);
    enum wsm_err e = t ? wsm__buf_puts(&line, t) : WSM_ERR_NOMEM;
    /* cmd.exe semantics: the command and its arguments make one line. */
    for (xmlNodePtr a = wsm__xml_child(cl, WSM_NS_SHELL, "Arguments"); !e && a;
         a = wsm__xml_next(a, WSM_NS_SHELL, "Arguments")) {
        const char *arg = wsm__xml_text(arena(call), a, 0);
        e = arg ? wsm__buf_puts(&line, " ") : WSM_ERR_NOMEM;
        if (!e)
            e = wsm__buf_puts(&line, arg);
    }
    if (e) {
        wsm__buf_free(&line);
        return e == WSM_ERR_ENVELOPE_TOO_LARGE ? WSM_ERR_INVALID_ARG : e;
    }
    char cid[37];
    struct shell_cmd_opts copts;
    e = wsmd__shell_cmd_opts(call, cl, &copts);
    if (!e)
        e = shell_command_ex(call->srv->shells, call->user, sid, line.data ? line.data : "", &copts,
                             cid);
    wsm__buf_free(&line);
    if (e == WSM_ERR_INVALID_ARG && copts.skip_shell && !call->fault_message &&
        !wsmd__shell_disconnected_message(call, sid))
        call->fault_message = "The command could not be started: without a shell "
                              "(WINRS_SKIP_CMD_SHELL) the program must exist and be executable.";
    if (e == WSM_ERR_ALREADY_EXISTS)
        call->fault_message = "A command with this CommandId exists already in the shell.";
    if (e == WSM_ERR_QUOTA) {
        if (!shell_over_budget(call->srv->shells, call->user, 0))
            return WSM_ERR_QUOTA_PROCESSES;
        call->fault_message = BUDGET_MSG;
    }
    if (e)
        return map_engine(e);
    e = wsm__reply_begin(call->out, SH_ACT "CommandResponse", call->env->message_id, RSP_NS);
    if (!e)
        e = wsm__buf_printf(call->out,
                            "<rsp:CommandResponse><rsp:CommandId>%s</rsp:CommandId>"
                            "</rsp:CommandResponse>",
                            cid);
    return e ? e : wsm__reply_end(call->out);
}

/* ---- Send --------------------------------------------------------- */

static int attr_true(const xmlNode *n, const char *name)
{
    const char *v = wsm__xml_attr(n, name);
    return v && (!strcasecmp(v, "true") || !strcmp(v, "1"));
}

enum wsm_err wsmd__shell_send(struct wsmd_call *call)
{
    const char *sid = shell_id(call);
    if (!sid)
        return WSM_ERR_INVALID_SELECTORS;
    xmlNodePtr send = wsm__xml_child(call->env->body, WSM_NS_SHELL, "Send");
    if (!send)
        return WSM_ERR_INVALID_ARG;
    enum wsm_err e = WSM_OK;
    struct shell_enc enc = wsmd__shell_enc_get(sid);
    for (xmlNodePtr s = wsm__xml_child(send, WSM_NS_SHELL, "Stream"); !e && s;
         s = wsm__xml_next(s, WSM_NS_SHELL, "Stream")) {
        const char *name = wsm__xml_attr(s, "Name");
        const char *cid = wsm__xml_attr(s, "CommandId");
        if (!name || !cid)
            return WSM_ERR_INVALID_ARG;
        if (strcmp(name, "stdin") != 0)
            return WSM_ERR_INVALID_STREAM;
        const char *b64 = wsm__xml_text(arena(call), s, 1);
        if (!b64)
            return WSM_ERR_NOMEM;
        size_t cap = strlen(b64) / 4 * 3 + 3, n = 0;
        unsigned char *data = malloc(cap ? cap : 1);
        if (!data)
            return WSM_ERR_NOMEM;
        e = wsm__base64_decode(b64, strlen(b64), data, cap, &n);
        struct wsm_buf plain; /* stdin as the command gets it */
        wsm__buf_init(&plain, 0);
        int conv = enc.xpress || enc.codepage != 65001;
        if (!e && conv) {
            e = wsmd__shell_enc_input(&enc, data, n, &plain, SHELL_SEND_MAX);
            if (e == WSM_ERR_ENCODING || e == WSM_ERR_QUOTA)
                call->fault_message = "The stdin stream is not valid xpress data, or unpacks to "
                                      "more than a Send may carry.";
            if (e == WSM_ERR_QUOTA)
                e = WSM_ERR_ENCODING;
        }
        if (!e)
            e = map_engine(shell_send(call->srv->shells, call->user, sid, cid,
                                      conv ? (void *)plain.data : (void *)data,
                                      conv ? plain.len : n, attr_true(s, "End")));
        wsm__buf_free(&plain);
        if (e == WSM_ERR_QUOTA && shell_over_budget(call->srv->shells, call->user, 1))
            call->fault_message = BUDGET_MSG;
        free(data);
    }
    if (e)
        return e == WSM_ERR_ENVELOPE_TOO_LARGE ? WSM_ERR_ENCODING : e;
    e = wsm__reply_begin(call->out, SH_ACT "SendResponse", call->env->message_id, RSP_NS);
    if (!e)
        e = wsm__buf_puts(call->out, "<rsp:SendResponse/>");
    return e ? e : wsm__reply_end(call->out);
}

void wsmd__shell_log_end(const struct shell_cmd_end *e)
{
    wsmd__log("event=command-end user=%s shell=%s command=%s out_bytes=%llu err_bytes=%llu "
              "exit=%d ms=%lld",
              e->owner, e->shell_id, e->cmd_id, e->out_bytes, e->err_bytes, e->exit_code,
              e->duration_ms);
}

/* ---- Signal ------------------------------------------------------- */

enum wsm_err wsmd__shell_signal(struct wsmd_call *call)
{
    const char *sid = shell_id(call);
    if (!sid)
        return WSM_ERR_INVALID_SELECTORS;
    xmlNodePtr sig = wsm__xml_child(call->env->body, WSM_NS_SHELL, "Signal");
    xmlNodePtr code = wsm__xml_child(sig, WSM_NS_SHELL, "Code");
    const char *cid = sig ? wsm__xml_attr(sig, "CommandId") : NULL;
    const char *c = code ? wsm__xml_text(arena(call), code, 1) : NULL;
    if (!cid || !c)
        return WSM_ERR_INVALID_ARG;
    const char *last = strrchr(c, '/');
    last = last ? last + 1 : c;
    enum shell_signal s;
    if (!strcmp(last, "terminate"))
        s = SHELL_SIG_TERMINATE;
    else if (!strcmp(last, "ctrl_c"))
        s = SHELL_SIG_CTRL_C;
    else if (!strcmp(last, "ctrl_break"))
        s = SHELL_SIG_CTRL_BREAK;
    else
        return WSM_ERR_INVALID_ARG;
    enum wsm_err e = shell_signal(call->srv->shells, call->user, shell_id(call), cid, s);
    if (e)
        return map_engine(e);
    e = wsm__reply_begin(call->out, SH_ACT "SignalResponse", call->env->message_id, RSP_NS);
    if (!e)
        e = wsm__buf_puts(call->out, "<rsp:SignalResponse/>");
    return e ? e : wsm__reply_end(call->out);
}
