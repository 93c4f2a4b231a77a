/* libwsm client: the WinRS remote shell ([MS-WSMV] 3.1.4.1.x) on the
 * resource http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd:
 * Transfer Create and Delete of the shell, Command, Send, Receive, Signal.
 *
 * Receive is where the bytes are. Its replies are read in one streaming
 * pass (SAX: the base64 text of rsp:Stream never becomes a tree node),
 * and with the session setting "ReceiveAhead" a shell fetches the next
 * reply on a second connection while the caller consumes the current one.
 * docs/internals/client-transport.md has the design and the numbers.
 *
 * This file: the shell's operations and Receive's entry point; the
 * replies are read in shell_rx.c (base64: shell_b64.c), fetched ahead in
 * shell_ahead.c.
 */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "buf.h"
#include "client_internal.h"
#include "envelope.h"
#include "ns.h"
#include "xmlctxt.h"
#include "uuid.h"
#include "xpress.h"
#include "wsm/wsm.h"
#include "shell_client_priv.h"

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
    /* MS-WSMV 3.2.4.1.19: the header that asks for compressed streams. */
    if (o->xpress)
        PUT(wsm__buf_puts(&b, "<rsp:CompressionType s:mustUnderstand=\"true\">xpress"
                              "</rsp:CompressionType>"));
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
    if ((e = wsm__post_built(s, &b, e, msgid, &env)))
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
    if (!e)
        (*out)->xpress = o->xpress;
    return e;
}

void wsm_shell_set_xpress(wsm_shell *sh, int on)
{
    if (sh)
        sh->xpress = on;
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
    wsm__shell_ahead_free(sh);
    wsm__shell_rx_free(sh->rx);
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
    if ((e = wsm__post_built(sh->s, &b, e, msgid, &env)))
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
    struct wsm_buf z; /* the Xpress blocks of a compressed shell */
    wsm__buf_init(&z, 0);
    if (sh->xpress && len) {
        if ((e = wsm__xpress_frame(data, len, &z))) {
            wsm__buf_free(&z);
            return e;
        }
        data = z.data;
        len = z.len;
    }
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
    wsm__buf_free(&z);
    PUT(wsm__buf_puts(&b, "</rsp:Stream></rsp:Send></s:Body></s:Envelope>"));
    if ((e = wsm__post_built(sh->s, &b, e, msgid, &env)))
        return e;
    wsm__envelope_free(env);
    return WSM_OK;
}

int wsm__shell_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

void wsm__shell_build_receive(struct wsm_buf *b, wsm_session *s, const char *shell_id,
                              const char *command_id, const char *msgid, enum wsm_err *err)
{
    enum wsm_err e = begin(b, s, ACTION_RECEIVE, shell_id, msgid);
    PUT(wsm__buf_puts(b, "</s:Header><s:Body><rsp:Receive><rsp:DesiredStream CommandId=\""));
    PUT(wsm__buf_xml(b, command_id));
    PUT(wsm__buf_puts(b, "\">stdout stderr</rsp:DesiredStream></rsp:Receive></s:Body>"
                         "</s:Envelope>"));
    *err = e;
}

/* The body cap of a Receive reply: it never exceeds the MaxEnvelopeSize
 * we ask for; 64 KiB of slack for what sits around the envelope. */
size_t wsm__shell_receive_cap(const wsm_session *s)
{
    return s->max_envelope + 65536;
}

static enum wsm_err receive_raw(wsm_shell *sh, const char *command_id, struct wsm_receive *r);

/* A compressed shell's streams: every piece handed over is whole Xpress
 * blocks (one rsp:Stream element or several), unpacked here. */
struct unz {
    struct wsm_receive *r;
    struct wsm_buf b;
    enum wsm_err e;
};

static void unz_deliver(struct unz *u, const void *p, size_t n,
                        void (*cb)(void *, const void *, size_t))
{
    if (u->e || !cb)
        return;
    wsm__buf_reset(&u->b);
    /* A block holds 64 KiB at most: a piece cannot unpack to more than
     * 64 KiB per 5 bytes. */
    u->e = wsm__xpress_unframe(p, n, &u->b, (n / 5 + 1) * WSM_XPRESS_BLOCK);
    if (!u->e && u->b.len)
        cb(u->r->ud, u->b.data, u->b.len);
}

static void unz_out(void *ud, const void *p, size_t n)
{
    struct unz *u = ud;
    unz_deliver(u, p, n, u->r->on_stdout);
}

static void unz_err(void *ud, const void *p, size_t n)
{
    struct unz *u = ud;
    unz_deliver(u, p, n, u->r->on_stderr);
}

enum wsm_err wsm_shell_receive(wsm_shell *sh, const char *command_id, struct wsm_receive *r)
{
    if (!sh || !sh->xpress || !r)
        return receive_raw(sh, command_id, r);
    struct unz u = {r, {0}, WSM_OK};
    wsm__buf_init(&u.b, 0);
    struct wsm_receive w = {unz_out, unz_err, &u, 0, 0};
    enum wsm_err e = receive_raw(sh, command_id, &w);
    wsm__buf_free(&u.b);
    r->done = w.done;
    r->exit_code = w.exit_code;
    if (!e && u.e) {
        wsm__session_errorf(sh->s, "the output is not valid xpress data");
        e = WSM_ERR_ENCODING;
    }
    return e;
}

static enum wsm_err receive_raw(wsm_shell *sh, const char *command_id, struct wsm_receive *r)
{
    char msgid[WSM_UUID_STRLEN];
    struct wsm_buf b;
    enum wsm_err e;

    if (!sh || !command_id || !r)
        return WSM_ERR_INVALID_ARG;
    r->done = 0;
    wsm_session *s = sh->s;
    wsm__session_forget_errors(s);
    struct wsm_buf *reply = wsm__shell_rx_reply(sh);
    if (!reply)
        return WSM_ERR_NOMEM;
    if (wsm__shell_ahead_take(sh, command_id, r, &e))
        return e;

    wsm__uuid_urn(msgid);
    wsm__buf_init(&b, 0);
    wsm__shell_build_receive(&b, s, sh->id, command_id, msgid, &e);
    if (e) {
        wsm__session_errorf(s, "cannot build the request: %s", wsm_strerror(e));
        wsm__buf_free(&b);
        return e;
    }
    wsm__buf_reset(reply);
    reply->cap = wsm__shell_receive_cap(s);
    long status = 0;
    e = wsm__conn_post(s, s->conn, b.data, b.len, 0, reply, &status, s->error, sizeof(s->error));
    wsm__buf_free(&b);
    if (!e)
        e = wsm__shell_receive_reply(sh, command_id, r, reply, status, msgid);
    /* Only bulk output is worth a second connection: a reply that only
     * says a stream ended, or a few lines, leaves the next Receive here. */
    if (!e && !r->done && status == 200 && s->receive_ahead && reply->len >= AHEAD_MIN(sh))
        wsm__shell_ahead_start(sh, command_id);
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
    if ((e = wsm__post_built(sh->s, &b, e, msgid, &env)))
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
    wsm__shell_ahead_free(sh); /* a Receive in flight would only get a fault now */
    wsm__uuid_urn(msgid);
    wsm__buf_init(&b, 0);
    e = begin(&b, sh->s, ACTION_DELETE, sh->id, msgid);
    PUT(wsm__buf_puts(&b, "</s:Header><s:Body/></s:Envelope>"));
    e = wsm__post_built(sh->s, &b, e, msgid, &env);
    wsm__envelope_free(env);
    wsm_shell_free(sh);
    return e;
}
