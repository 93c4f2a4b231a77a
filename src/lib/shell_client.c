/* libwsm client: the WinRS remote shell ([MS-WSMV] 3.1.4.1.x) on the
 * resource http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd:
 * Transfer Create and Delete of the shell, Command, Send, Receive, Signal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "buf.h"
#include "client_internal.h"
#include "envelope.h"
#include "ns.h"
#include "uuid.h"
#include "wsm/wsm.h"

#define SHELL_RESOURCE WSM_NS_SHELL "/cmd"
#define ACTION_CREATE WSM_NS_WSXF "/Create"
#define ACTION_DELETE WSM_NS_WSXF "/Delete"
#define ACTION_COMMAND WSM_NS_SHELL "/Command"
#define ACTION_SEND WSM_NS_SHELL "/Send"
#define ACTION_RECEIVE WSM_NS_SHELL "/Receive"
#define ACTION_SIGNAL WSM_NS_SHELL "/Signal"
#define SIGNAL_PREFIX WSM_NS_SHELL "/signal/"
/* WSManFault code of a Receive that saw no output within OperationTimeout
 * (ERROR_WSMAN_OPERATION_TIMEDOUT). */
#define FAULT_TIMED_OUT 2150858793UL

struct wsm_shell {
    wsm_session *s;
    char *id;
};

/* Appends to a buffer; the first error sticks in e and later calls do
 * nothing, so a message is written as a plain sequence of calls. */
#define PUT(x)                                                                                     \
    do {                                                                                           \
        if (!e)                                                                                    \
            e = (x);                                                                               \
    } while (0)

static enum wsm_err put_duration(struct wsm_buf *b, long ms)
{
    return wsm__buf_printf(b, "PT%ld.%03ldS", ms / 1000, ms % 1000);
}

/* The envelope up to and including the SelectorSet (when shell_id is not
 * NULL); the caller adds an OptionSet if it wants, then calls body(). */
static enum wsm_err begin(struct wsm_buf *b, const wsm_session *s, const char *action,
                          const char *shell_id, const char *msgid)
{
    enum wsm_err e = WSM_OK;
    PUT(wsm__buf_puts(b, "<s:Envelope xmlns:s=\"" WSM_NS_SOAP "\" xmlns:a=\"" WSM_NS_WSA
                         "\" xmlns:w=\"" WSM_NS_WSMAN "\" xmlns:p=\"" WSM_NS_MSWSMAN
                         "\" xmlns:rsp=\"" WSM_NS_SHELL "\"><s:Header><a:To>"));
    PUT(wsm__buf_xml(b, s->url));
    PUT(wsm__buf_puts(b,
                      "</a:To><a:ReplyTo><a:Address s:mustUnderstand=\"true\">" WSM_ADDR_ANONYMOUS
                      "</a:Address></a:ReplyTo><a:Action s:mustUnderstand=\"true\">"));
    PUT(wsm__buf_xml(b, action));
    PUT(wsm__buf_puts(b, "</a:Action><a:MessageID>"));
    PUT(wsm__buf_xml(b, msgid));
    PUT(wsm__buf_puts(b, "</a:MessageID><w:ResourceURI s:mustUnderstand=\"true\">" SHELL_RESOURCE
                         "</w:ResourceURI><w:MaxEnvelopeSize s:mustUnderstand=\"true\">"));
    PUT(wsm__buf_printf(b, "%zu", s->max_envelope));
    PUT(wsm__buf_puts(b, "</w:MaxEnvelopeSize><w:OperationTimeout>"));
    PUT(put_duration(b, s->operation_timeout_ms));
    PUT(wsm__buf_puts(b, "</w:OperationTimeout>"
                         "<w:Locale xml:lang=\"en-US\" s:mustUnderstand=\"false\"/>"
                         "<p:DataLocale xml:lang=\"en-US\" s:mustUnderstand=\"false\"/>"));
    if (shell_id) {
        PUT(wsm__buf_puts(b, "<w:SelectorSet><w:Selector Name=\"ShellId\">"));
        PUT(wsm__buf_xml(b, shell_id));
        PUT(wsm__buf_puts(b, "</w:Selector></w:SelectorSet>"));
    }
    return e;
}

static enum wsm_err put_option(struct wsm_buf *b, const char *name, const char *value)
{
    enum wsm_err e = WSM_OK;
    PUT(wsm__buf_puts(b, "<w:Option Name=\""));
    PUT(wsm__buf_xml(b, name));
    PUT(wsm__buf_puts(b, "\">"));
    PUT(wsm__buf_xml(b, value));
    PUT(wsm__buf_puts(b, "</w:Option>"));
    return e;
}

/* Sends the finished request and checks that the reply relates to it. */
static enum wsm_err send_request(wsm_session *s, struct wsm_buf *b, enum wsm_err built,
                                 const char *msgid, struct wsm_envelope **env)
{
    enum wsm_err e = built;
    if (e) {
        wsm__session_errorf(s, "cannot build the request: %s", wsm_strerror(e));
        wsm__buf_free(b);
        return e;
    }
    e = wsm__post(s, b->data, b->len, 0, msgid, env, NULL);
    wsm__buf_free(b);
    return e;
}

/* Depth-first search of the first element below n for which match() holds. */
static xmlNodePtr find_element(xmlNodePtr n, int (*match)(const xmlNode *))
{
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (match(c))
            return c;
        xmlNodePtr r = find_element(c, match);
        if (r)
            return r;
    }
    return NULL;
}

static int is_shell_id_selector(const xmlNode *n)
{
    const char *name = wsm__xml_attr(n, "Name");
    return name && strcmp(name, "ShellId") == 0;
}

static int is_shell_id(const xmlNode *n)
{
    return wsm__xml_is(n, WSM_NS_SHELL, "ShellId");
}

static int is_command_id(const xmlNode *n)
{
    return wsm__xml_is(n, WSM_NS_SHELL, "CommandId");
}

/* The trimmed text of n as a malloc'd string; NULL if empty. */
static char *dup_text(struct wsm_envelope *env, const xmlNode *n)
{
    const char *t = n ? wsm__xml_text(&env->arena, n, 1) : NULL;
    return t && *t ? strdup(t) : NULL;
}

static enum wsm_err new_handle(wsm_session *s, const char *id, wsm_shell **out)
{
    wsm_shell *sh = calloc(1, sizeof(*sh));
    if (!sh)
        return WSM_ERR_NOMEM;
    sh->s = s;
    sh->id = strdup(id);
    if (!sh->id) {
        free(sh);
        return WSM_ERR_NOMEM;
    }
    *out = sh;
    return WSM_OK;
}

enum wsm_err wsm_shell_create(wsm_session *s, const struct wsm_shell_opts *o, wsm_shell **out)
{
    static const struct wsm_shell_opts defaults;
    char msgid[WSM_UUID_STRLEN];
    struct wsm_buf b;
    struct wsm_envelope *env = NULL;
    enum wsm_err e;

    if (!s || !out)
        return WSM_ERR_INVALID_ARG;
    *out = NULL;
    if (!o)
        o = &defaults;
    for (const char *const *v = o->env; v && *v; v++)
        if (!strchr(*v, '=') || **v == '=')
            return WSM_ERR_INVALID_ARG;

    wsm__uuid_urn(msgid);
    wsm__buf_init(&b, 0);
    e = begin(&b, s, ACTION_CREATE, NULL, msgid);
    PUT(wsm__buf_puts(&b, "<w:OptionSet>"));
    PUT(put_option(&b, "WINRS_NOPROFILE", o->noprofile ? "TRUE" : "FALSE"));
    PUT(put_option(&b, "WINRS_CODEPAGE", o->codepage ? o->codepage : "437"));
    PUT(wsm__buf_puts(&b, "</w:OptionSet></s:Header><s:Body><rsp:Shell>"));
    /* The order of the Shell type's sequence ([MS-WSMV] 2.2.4.37). */
    if (o->env && o->env[0]) {
        PUT(wsm__buf_puts(&b, "<rsp:Environment>"));
        for (const char *const *v = o->env; *v; v++) {
            const char *eq = strchr(*v, '=');
            PUT(wsm__buf_puts(&b, "<rsp:Variable Name=\""));
            PUT(wsm__buf_xmln(&b, *v, (size_t)(eq - *v)));
            PUT(wsm__buf_puts(&b, "\">"));
            PUT(wsm__buf_xml(&b, eq + 1));
            PUT(wsm__buf_puts(&b, "</rsp:Variable>"));
        }
        PUT(wsm__buf_puts(&b, "</rsp:Environment>"));
    }
    if (o->workdir) {
        PUT(wsm__buf_puts(&b, "<rsp:WorkingDirectory>"));
        PUT(wsm__buf_xml(&b, o->workdir));
        PUT(wsm__buf_puts(&b, "</rsp:WorkingDirectory>"));
    }
    if (o->idle_timeout_ms > 0) {
        PUT(wsm__buf_puts(&b, "<rsp:IdleTimeOut>"));
        PUT(put_duration(&b, o->idle_timeout_ms));
        PUT(wsm__buf_puts(&b, "</rsp:IdleTimeOut>"));
    }
    PUT(wsm__buf_puts(&b, "<rsp:InputStreams>stdin</rsp:InputStreams>"
                          "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams>"
                          "</rsp:Shell></s:Body></s:Envelope>"));
    if ((e = send_request(s, &b, e, msgid, &env)))
        return e;

    /* As pywinrm: the first element anywhere with Name="ShellId" (the
     * Selector in x:ResourceCreated), else rsp:ShellId in the body. */
    xmlNodePtr root = xmlDocGetRootElement(env->doc);
    xmlNodePtr n = find_element(root, is_shell_id_selector);
    if (!n)
        n = find_element(env->body, is_shell_id);
    char *id = dup_text(env, n);
    wsm__envelope_free(env);
    if (!id) {
        wsm__session_errorf(s, "the Create reply carries no ShellId");
        return WSM_ERR_NOT_SOAP;
    }
    e = new_handle(s, id, out);
    free(id);
    return e;
}

enum wsm_err wsm_shell_open(wsm_session *s, const char *shell_id, wsm_shell **out)
{
    if (!s || !shell_id || !*shell_id || !out)
        return WSM_ERR_INVALID_ARG;
    return new_handle(s, shell_id, out);
}

void wsm_shell_free(wsm_shell *sh)
{
    if (!sh)
        return;
    free(sh->id);
    free(sh);
}

const char *wsm_shell_id(const wsm_shell *sh)
{
    return sh ? sh->id : NULL;
}

enum wsm_err wsm_shell_run(wsm_shell *sh, const char *command, const char *const *args,
                           char **command_id)
{
    char msgid[WSM_UUID_STRLEN];
    struct wsm_buf b;
    struct wsm_envelope *env = NULL;
    enum wsm_err e;

    if (!sh || !command || !command_id)
        return WSM_ERR_INVALID_ARG;
    *command_id = NULL;
    wsm__uuid_urn(msgid);
    wsm__buf_init(&b, 0);
    e = begin(&b, sh->s, ACTION_COMMAND, sh->id, msgid);
    PUT(wsm__buf_puts(&b, "<w:OptionSet>"));
    PUT(put_option(&b, "WINRS_CONSOLEMODE_STDIN", "TRUE"));
    PUT(put_option(&b, "WINRS_SKIP_CMD_SHELL", "FALSE"));
    PUT(wsm__buf_puts(&b, "</w:OptionSet></s:Header><s:Body><rsp:CommandLine><rsp:Command>"));
    PUT(wsm__buf_xml(&b, command));
    PUT(wsm__buf_puts(&b, "</rsp:Command>"));
    for (const char *const *a = args; a && *a; a++) {
        PUT(wsm__buf_puts(&b, "<rsp:Arguments>"));
        PUT(wsm__buf_xml(&b, *a));
        PUT(wsm__buf_puts(&b, "</rsp:Arguments>"));
    }
    PUT(wsm__buf_puts(&b, "</rsp:CommandLine></s:Body></s:Envelope>"));
    if ((e = send_request(sh->s, &b, e, msgid, &env)))
        return e;

    xmlNodePtr r = wsm__xml_child(env->body, WSM_NS_SHELL, "CommandResponse");
    xmlNodePtr n = wsm__xml_child(r, WSM_NS_SHELL, "CommandId");
    if (!n)
        n = find_element(env->body, is_command_id);
    *command_id = dup_text(env, n);
    wsm__envelope_free(env);
    if (!*command_id) {
        wsm__session_errorf(sh->s, "the Command reply carries no CommandId");
        return WSM_ERR_NOT_SOAP;
    }
    return WSM_OK;
}

enum wsm_err wsm_shell_send(wsm_shell *sh, const char *command_id, const void *data, size_t len,
                            int end)
{
    char msgid[WSM_UUID_STRLEN];
    struct wsm_buf b;
    struct wsm_envelope *env = NULL;
    enum wsm_err e;

    if (!sh || !command_id || (len && !data))
        return WSM_ERR_INVALID_ARG;
    wsm__uuid_urn(msgid);
    wsm__buf_init(&b, 0);
    e = begin(&b, sh->s, ACTION_SEND, sh->id, msgid);
    PUT(wsm__buf_puts(&b, "</s:Header><s:Body><rsp:Send><rsp:Stream Name=\"stdin\" CommandId=\""));
    PUT(wsm__buf_xml(&b, command_id));
    PUT(wsm__buf_puts(&b, end ? "\" End=\"true\">" : "\">"));
    size_t n64 = wsm__base64_enclen(len);
    PUT(wsm__buf_reserve(&b, n64));
    if (!e) {
        wsm__base64_encode(data, len, b.data + b.len);
        b.len += n64;
    }
    PUT(wsm__buf_puts(&b, "</rsp:Stream></rsp:Send></s:Body></s:Envelope>"));
    if ((e = send_request(sh->s, &b, e, msgid, &env)))
        return e;
    wsm__envelope_free(env);
    return WSM_OK;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* One rsp:Stream of a ReceiveResponse: decode and hand to the callback. */
static enum wsm_err deliver(wsm_shell *sh, struct wsm_envelope *env, const xmlNode *st,
                            const char *command_id, struct wsm_receive *r)
{
    const char *name = wsm__xml_attr(st, "Name");
    const char *cid = wsm__xml_attr(st, "CommandId");
    void (*cb)(void *, const void *, size_t) = NULL;

    if (cid && strcasecmp(cid, command_id) != 0)
        return WSM_OK; /* another command's output */
    if (name && strcmp(name, "stdout") == 0)
        cb = r->on_stdout;
    else if (name && strcmp(name, "stderr") == 0)
        cb = r->on_stderr;
    const char *t = wsm__xml_text(&env->arena, st, 1);
    if (!t)
        return WSM_ERR_NOMEM;
    size_t tl = strlen(t);
    if (!tl || !cb)
        return WSM_OK;
    size_t cap = tl / 4 * 3 + 3, n = 0;
    unsigned char *p = malloc(cap);
    if (!p)
        return WSM_ERR_NOMEM;
    enum wsm_err e = wsm__base64_decode(t, tl, p, cap, &n);
    if (e) {
        wsm__session_errorf(sh->s, "bad base64 in the %s stream", name);
        free(p);
        return e;
    }
    if (n)
        cb(r->ud, p, n);
    free(p);
    return WSM_OK;
}

enum wsm_err wsm_shell_receive(wsm_shell *sh, const char *command_id, struct wsm_receive *r)
{
    char msgid[WSM_UUID_STRLEN];
    struct wsm_buf b;
    struct wsm_envelope *env = NULL;
    enum wsm_err e;

    if (!sh || !command_id || !r)
        return WSM_ERR_INVALID_ARG;
    r->done = 0;
    wsm__uuid_urn(msgid);
    wsm__buf_init(&b, 0);
    e = begin(&b, sh->s, ACTION_RECEIVE, sh->id, msgid);
    PUT(wsm__buf_puts(&b, "</s:Header><s:Body><rsp:Receive><rsp:DesiredStream CommandId=\""));
    PUT(wsm__buf_xml(&b, command_id));
    PUT(wsm__buf_puts(&b, "\">stdout stderr</rsp:DesiredStream></rsp:Receive></s:Body>"
                          "</s:Envelope>"));
    e = send_request(sh->s, &b, e, msgid, &env);
    if (e == WSM_ERR_FAULT &&
        (sh->s->fault_code == FAULT_TIMED_OUT || strcmp(sh->s->fault_subcode, "TimedOut") == 0)) {
        sh->s->error[0] = '\0';
        return WSM_OK; /* nothing yet: the caller asks again */
    }
    if (e)
        return e;

    xmlNodePtr resp = wsm__xml_child(env->body, WSM_NS_SHELL, "ReceiveResponse");
    if (!resp) {
        wsm__session_errorf(sh->s, "the reply is not a ReceiveResponse");
        wsm__envelope_free(env);
        return WSM_ERR_NOT_SOAP;
    }
    for (xmlNodePtr n = wsm__xml_child(resp, NULL, NULL); n && !e;
         n = wsm__xml_next(n, NULL, NULL)) {
        if (wsm__xml_is(n, WSM_NS_SHELL, "Stream")) {
            e = deliver(sh, env, n, command_id, r);
        } else if (wsm__xml_is(n, WSM_NS_SHELL, "CommandState")) {
            const char *cid = wsm__xml_attr(n, "CommandId");
            const char *state = wsm__xml_attr(n, "State");
            if ((cid && strcasecmp(cid, command_id) != 0) || !state || !ends_with(state, "/Done"))
                continue;
            r->done = 1;
            r->exit_code = 0;
            xmlNodePtr x = wsm__xml_child(n, WSM_NS_SHELL, "ExitCode");
            const char *t = x ? wsm__xml_text(&env->arena, x, 1) : NULL;
            if (t && *t) {
                char *end;
                long long v = strtoll(t, &end, 10);
                /* A Windows exit code is a DWORD: keep its low 32 bits. */
                if (!*end)
                    r->exit_code = (int)(unsigned int)(unsigned long long)v;
            }
        }
    }
    wsm__envelope_free(env);
    return e;
}

enum wsm_err wsm_shell_signal(wsm_shell *sh, const char *command_id, const char *signal)
{
    char msgid[WSM_UUID_STRLEN];
    struct wsm_buf b;
    struct wsm_envelope *env = NULL;
    enum wsm_err e;

    if (!sh || !command_id || !signal || !*signal)
        return WSM_ERR_INVALID_ARG;
    int uri = strchr(signal, ':') != NULL;
    if (!uri && strcmp(signal, "terminate") != 0 && strcmp(signal, "ctrl_c") != 0 &&
        strcmp(signal, "ctrl_break") != 0)
        return WSM_ERR_INVALID_ARG;
    wsm__uuid_urn(msgid);
    wsm__buf_init(&b, 0);
    e = begin(&b, sh->s, ACTION_SIGNAL, sh->id, msgid);
    PUT(wsm__buf_puts(&b, "</s:Header><s:Body><rsp:Signal CommandId=\""));
    PUT(wsm__buf_xml(&b, command_id));
    PUT(wsm__buf_puts(&b, "\"><rsp:Code>"));
    if (!uri)
        PUT(wsm__buf_puts(&b, SIGNAL_PREFIX));
    PUT(wsm__buf_xml(&b, signal));
    PUT(wsm__buf_puts(&b, "</rsp:Code></rsp:Signal></s:Body></s:Envelope>"));
    if ((e = send_request(sh->s, &b, e, msgid, &env)))
        return e;
    wsm__envelope_free(env);
    return WSM_OK;
}

enum wsm_err wsm_shell_delete(wsm_shell *sh)
{
    char msgid[WSM_UUID_STRLEN];
    struct wsm_buf b;
    struct wsm_envelope *env = NULL;
    enum wsm_err e;

    if (!sh)
        return WSM_ERR_INVALID_ARG;
    wsm__uuid_urn(msgid);
    wsm__buf_init(&b, 0);
    e = begin(&b, sh->s, ACTION_DELETE, sh->id, msgid);
    PUT(wsm__buf_puts(&b, "</s:Header><s:Body/></s:Envelope>"));
    e = send_request(sh->s, &b, e, msgid, &env);
    wsm__envelope_free(env);
    wsm_shell_free(sh);
    return e;
}
