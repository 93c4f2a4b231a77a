/* The WinRS Receive (rsp:Receive): output to a ReceiveResponse within
 * the client's MaxEnvelopeSize, parking the request while a command has
 * nothing to say, and settling the output once the HTTP layer knows whether
 * the reply reached the client. Separate from handlers.c (the other
 * messages of a session) because it is the one handler with a life past
 * its request: park/unpark and settle are its own protocol with the HTTP
 * layer (docs/internals/shell.md). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "encoding.h"
#include "engine.h"
#include "handlers.h"
#include "ns.h"
#include "server.h"

#define SH_ACT "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
#define STATE "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/"
#define RSP_NS " xmlns:rsp=\"" WSM_NS_SHELL "\""

static long receive_timeout_ms(const struct wsmd_call *call)
{
    /* MaxTimeoutms (winrm set winrm/config @{MaxTimeoutms=...}: live). */
    long max = __atomic_load_n(&call->srv->cfg.max_timeout_ms, __ATOMIC_RELAXED);
    long t = call->env->operation_timeout_ms;
    if (max <= 0)
        max = WSMD_MAX_TIMEOUT_MS;
    if (t < 0)
        t = 60000;
    if (t > max)
        t = max;
    return t;
}

static const char *receive_cmd(struct wsmd_call *call)
{
    xmlNodePtr r = wsm__xml_child(call->env->body, WSM_NS_SHELL, "Receive");
    xmlNodePtr d = wsm__xml_child(r, WSM_NS_SHELL, "DesiredStream");
    return d ? wsm__xml_attr(d, "CommandId") : NULL;
}

/* rsp:Receive/@SequenceId (MS-WSMV: an unsignedLong the client counts up;
 * repeating it asks for the previous output again). -1: absent; -2: bad. */
static long long receive_seq(struct wsmd_call *call)
{
    xmlNodePtr r = wsm__xml_child(call->env->body, WSM_NS_SHELL, "Receive");
    const char *v = r ? wsm__xml_attr(r, "SequenceId") : NULL;
    if (!v)
        return -1;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (end == v || *end || errno || *v == '-' || n > (unsigned long long)LLONG_MAX)
        return -2;
    return (long long)n;
}

static enum wsm_err receive_park(struct wsmd_call *call, wsmd_wake_fn wake, void *arg,
                                 unsigned long *token)
{
    long long deadline = call->t0_ms + receive_timeout_ms(call);
    return wsmd__shell_map_engine(call, shell_wait(call->srv->shells, call->user,
                                                   wsm__envelope_selector(call->env, "ShellId"),
                                                   receive_cmd(call), deadline, wake, arg, token));
}

static int receive_unpark(struct wsmd_server *srv, unsigned long token)
{
    return shell_wait_cancel(srv->shells, token);
}

/* What settles a Receive's output once the HTTP layer knows its fate. */
struct receive_tx {
    struct shell_mgr *m;
    unsigned long token;
    char sid[37], cid[37];
    char owner[]; /* flexible */
};

static void receive_settle(void *arg, int delivered)
{
    struct receive_tx *t = arg;
    shell_settle(t->m, t->owner, t->sid, t->cid, t->token, delivered);
    free(t);
}

static void receive_settle_probe(void *arg, int (*probe)(void *), void *probe_arg)
{
    struct receive_tx *t = arg;
    shell_settle_probe(t->m, t->owner, t->sid, t->cid, t->token, probe, probe_arg);
}

static enum wsm_err put_stream(struct wsm_buf *o, const char *name, const char *cid,
                               const struct wsm_buf *data, int force, int blocks)
{
    if (!data->len && !force)
        return WSM_OK;
    if (blocks && data->len) /* xpress: one element per block */
        return wsmd__shell_enc_put_blocks(o, name, cid, data);
    enum wsm_err e = wsm__buf_printf(o, "<rsp:Stream Name=\"%s\" CommandId=\"%s\">", name, cid);
    if (e)
        return e;
    size_t n = wsm__base64_enclen(data->len);
    if ((e = wsm__buf_reserve(o, n)))
        return e;
    wsm__base64_encode((const unsigned char *)data->data, data->len, o->data + o->len);
    o->len += n;
    return wsm__buf_puts(o, "</rsp:Stream>");
}

/* The ReceiveResponse. skeleton: every element a reply can have, with no
 * data (its length is what the stream bytes must fit beside). */
static enum wsm_err receive_reply(struct wsm_buf *o, const struct wsm_envelope *env,
                                  const char *cid, const struct shell_output *out, int skeleton,
                                  int blocks)
{
    enum wsm_err e = wsm__buf_reserve(o, wsm__base64_enclen(out->out.len) +
                                             wsm__base64_enclen(out->err.len) + 2048);
    if (!e)
        e = wsm__reply_begin(o, SH_ACT "ReceiveResponse", env->message_id, RSP_NS);
    if (!e)
        e = wsm__buf_puts(o, "<rsp:ReceiveResponse>");
    if (!e)
        e = put_stream(o, "stdout", cid, &out->out, skeleton, blocks);
    if (!e)
        e = put_stream(o, "stderr", cid, &out->err, skeleton, blocks);
    /* End markers go in empty elements of their own: some clients drop the
     * data of a Stream that carries End="true". */
    if (!e && (out->out_end || skeleton))
        e = wsm__buf_printf(o, "<rsp:Stream Name=\"stdout\" CommandId=\"%s\" End=\"true\"/>", cid);
    if (!e && (out->err_end || skeleton))
        e = wsm__buf_printf(o, "<rsp:Stream Name=\"stderr\" CommandId=\"%s\" End=\"true\"/>", cid);
    if (!e && (out->done || skeleton))
        e = wsm__buf_printf(o,
                            "<rsp:CommandState CommandId=\"%s\" State=\"" STATE
                            "Done\"><rsp:ExitCode>%d</rsp:ExitCode></rsp:CommandState>",
                            cid, skeleton ? INT_MIN : out->exit_code);
    else if (!e)
        e = wsm__buf_printf(o, "<rsp:CommandState CommandId=\"%s\" State=\"" STATE "Running\"/>",
                            cid);
    if (!e)
        e = wsm__buf_puts(o, "</rsp:ReceiveResponse>");
    if (!e)
        e = wsm__reply_end(o);
    return e;
}

/* How many stream bytes a reply within the client's MaxEnvelopeSize can
 * carry; 0 when not even one base64 quantum fits. */
static enum wsm_err receive_room(const struct wsm_envelope *env, const char *cid, size_t *max)
{
    long maxenv = env->max_envelope_size > 0 ? env->max_envelope_size : 153600;
    if (maxenv > 64L * 1024 * 1024)
        maxenv = 64L * 1024 * 1024;
    struct shell_output none;
    memset(&none, 0, sizeof(none));
    struct wsm_buf sk;
    wsm__buf_init(&sk, 0);
    enum wsm_err e = receive_reply(&sk, env, cid, &none, 1, 0);
    size_t fixed = sk.len + 8; /* + the padding of two base64 runs */
    wsm__buf_free(&sk);
    if (e)
        return e;
    *max = (size_t)maxenv > fixed ? ((size_t)maxenv - fixed) / 4 * 3 : 0;
    return WSM_OK;
}

enum wsm_err wsmd__shell_receive(struct wsmd_call *call)
{
    const struct wsm_envelope *env = call->env;
    const char *sid = wsm__envelope_selector(call->env, "ShellId");
    const char *cid = receive_cmd(call);
    long long seq = receive_seq(call);
    if (!sid)
        return WSM_ERR_INVALID_SELECTORS;
    if (!cid || seq == -2)
        return WSM_ERR_INVALID_ARG;

    /* The reply must fit the client's MaxEnvelopeSize: base64 takes 4/3.
     * If not even 3 bytes of output fit beside the rest, no Receive could
     * ever deliver anything: w:EncodingLimit. */
    size_t max_bytes;
    enum wsm_err e = receive_room(env, cid, &max_bytes);
    if (e)
        return e;
    struct shell_enc enc = wsmd__shell_enc_get(sid);
    size_t wire_room = max_bytes; /* stream bytes as sent, before base64 */
    max_bytes = wsmd__shell_enc_room(&enc, max_bytes);
    if (max_bytes == 0) {
        call->fault_message = "MaxEnvelopeSize is too small for a Receive reply.";
        return WSM_ERR_ENVELOPE_TOO_LARGE;
    }

    struct shell_output out;
    memset(&out, 0, sizeof(out));
    /* Compressed output takes a fraction of the room: ask for more, and
     * if it does not shrink enough, give it back and take what surely fits. */
    size_t ask = enc.xpress ? max_bytes * XPRESS_ASK : max_bytes;
    wsm__buf_init(&out.out, ask + 1);
    wsm__buf_init(&out.err, ask + 1);
    unsigned long token = 0;
    e = shell_receive_tx(call->srv->shells, call->user, sid, cid, ask, seq, &out, &token);
    if (!e && ask > max_bytes) {
        e = wsmd__shell_enc_output(&enc, &out);
        if (!e && wsmd__shell_enc_wire(&out) <= wire_room) {
            enc.codepage = 65001; /* done: not again below */
            enc.xpress = 2;
        } else {
            shell_settle(call->srv->shells, call->user, sid, cid, token, 0);
            wsm__buf_reset(&out.out);
            wsm__buf_reset(&out.err);
            out.out_end = out.err_end = out.done = out.exit_code = 0;
            token = 0;
            e = shell_receive_tx(call->srv->shells, call->user, sid, cid, max_bytes, seq, &out,
                                 &token);
            if (e == WSM_ERR_TIMED_OUT)
                e = WSM_ERR_INTERNAL; /* cannot be: the bytes were there */
        }
    }
    if (e == WSM_ERR_TIMED_OUT) {
        wsm__buf_free(&out.out);
        wsm__buf_free(&out.err);
        if (shell_now_ms() >= call->t0_ms + receive_timeout_ms(call))
            return WSM_ERR_TIMED_OUT;
        call->park = receive_park;
        call->unpark = receive_unpark;
        return WSM_OK;
    }
    if (e) {
        wsm__buf_free(&out.out);
        wsm__buf_free(&out.err);
        return wsmd__shell_map_engine(call, e);
    }
    struct receive_tx *t = NULL;
    if (token) {
        size_t ul = strlen(call->user);
        t = malloc(sizeof(*t) + ul + 1);
        if (t) {
            t->m = call->srv->shells;
            t->token = token;
            snprintf(t->sid, sizeof(t->sid), "%s", sid);
            snprintf(t->cid, sizeof(t->cid), "%s", cid);
            memcpy(t->owner, call->user, ul + 1);
        }
    }
    if (token && !t)
        e = WSM_ERR_NOMEM;
    if (!e && enc.xpress != 2)
        e = wsmd__shell_enc_output(&enc, &out);
    if (!e)
        e = receive_reply(call->out, env, cid, &out, 0, enc.xpress != 0);
    wsm__buf_free(&out.out);
    wsm__buf_free(&out.err);
    if (e) {
        /* Nothing goes out: the output stays for the next Receive. */
        shell_settle(call->srv->shells, call->user, sid, cid, token, 0);
        free(t);
        return e;
    }
    if (t) {
        call->settle = receive_settle;
        call->settle_arg = t;
        call->settle_probe = receive_settle_probe;
    }
    call->quiet = 1; /* the command's end is logged instead */
    return WSM_OK;
}
